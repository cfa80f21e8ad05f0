using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// A kernel reader/writer lock (NetBSD krwlock_t). <see cref="_state"/> is the number of readers,
/// or -1 while a writer holds it. Uncontended paths are one compare-and-swap; contended ones sleep
/// on a host condition variable without a virtual CPU. Waiting writers block new readers
/// (<see cref="_writersWaiting"/>) so that writers are not starved.
/// </summary>
public sealed class KRwLock
{
    private int _state;
    private int _writersWaiting;
    private int _sleepers;
    private readonly Kernel _k;
    private nint _ilock;
    private nint _cv;

    public KRwLock(Kernel k) { _k = k; }

    public bool WriteHeld => Volatile.Read(ref _state) == -1;
    public bool ReadHeld => Volatile.Read(ref _state) > 0;

    private bool TryRead()
    {
        int s = Volatile.Read(ref _state);
        return s >= 0 && Volatile.Read(ref _writersWaiting) == 0 && Interlocked.CompareExchange(ref _state, s + 1, s) == s;
    }

    private bool TryWrite() => Interlocked.CompareExchange(ref _state, -1, 0) == 0;

    public void EnterRead()
    {
        if (!TryRead()) Sleep(write: false);
    }

    public void EnterWrite()
    {
        if (!TryWrite()) Sleep(write: true);
    }

    public bool TryEnterWrite() => TryWrite();

    public void Exit()
    {
        int s = Volatile.Read(ref _state);
        if (s == -1)
            Interlocked.Exchange(ref _state, 0);
        else
            Interlocked.Decrement(ref _state);
        // Interlocked operations are full fences: the sleeper count read below is not stale with
        // respect to a sleeper that incremented it before re-trying.
        if (Volatile.Read(ref _sleepers) != 0)
        {
            RumpUser.rumpuser_mutex_enter_nowrap(_ilock);
            RumpUser.rumpuser_cv_broadcast(_cv);
            RumpUser.rumpuser_mutex_exit(_ilock);
        }
    }

    private void Sleep(bool write)
    {
        if (Volatile.Read(ref _cv) == 0) HostSync.LazyInit(ref _ilock, ref _cv);
        Lwp? l = _k.CurlwpOrNull();
        bool unscheduled = false;
        RumpUser.rumpuser_mutex_enter_nowrap(_ilock);
        Interlocked.Increment(ref _sleepers);
        if (write) Interlocked.Increment(ref _writersWaiting);
        while (!(write ? TryWrite() : TryRead()))
        {
            if (!unscheduled && l?.Cpu != null) { _k.Sched.Unschedule(l); unscheduled = true; }
            RumpUser.rumpuser_cv_wait_nowrap(_cv, _ilock);
        }
        if (write) Interlocked.Decrement(ref _writersWaiting);
        Interlocked.Decrement(ref _sleepers);
        RumpUser.rumpuser_mutex_exit(_ilock);
        if (unscheduled) _k.Sched.Schedule(l!);
    }

    internal void Destroy()
    {
        if (_cv != 0) { HostSync.DestroyCondvar(_cv); HostSync.DestroyMutex(_ilock); _cv = 0; }
    }
}
