using System.Runtime.CompilerServices;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// A kernel reader/writer lock (NetBSD krwlock_t). <see cref="_state"/> is the number of readers,
/// or -1 while a writer holds it. Uncontended paths are one compare-and-swap; contended ones sleep
/// on the kernel's turnstile for this lock without a virtual CPU. Waiting writers block new
/// readers (<see cref="_writersWaiting"/>) so that writers are not starved.
///
/// Lost wake-ups: a sleeper counts itself in <see cref="_sleepers"/> (an interlocked write) and then
/// tries the lock; a releaser changes the state (interlocked) and then reads the count. Each is a
/// full fence, so at least one of them sees the other's write; the turnstile lock, held by the
/// sleeper from before it counts itself until it sleeps, orders the wake-up after its queueing.
/// </summary>
public sealed class KRwLock
{
    private int _state;
    private int _writersWaiting;
    private int _sleepers;
    private readonly Kernel _k;
#if LOCKDEBUG
    private readonly string _class;
#endif

    /// <summary>A reader/writer lock of <paramref name="k"/>; the caller's file and line name its class for lock debugging.</summary>
    public KRwLock(Kernel k, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        _k = k;
#if LOCKDEBUG
        _class = LockDebug.Class(file, line);
#endif
    }

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
#if LOCKDEBUG
        _k.LockDebug.Acquiring(_k, this, _class, tryOnly: false);
#endif
        if (!TryRead()) Sleep(write: false);
#if LOCKDEBUG
        _k.LockDebug.Acquired(_k, this, _class);
#endif
    }

    public void EnterWrite()
    {
#if LOCKDEBUG
        _k.LockDebug.Acquiring(_k, this, _class, tryOnly: false);
#endif
        if (!TryWrite()) Sleep(write: true);
#if LOCKDEBUG
        _k.LockDebug.Acquired(_k, this, _class);
#endif
    }

    public bool TryEnterWrite()
    {
#if LOCKDEBUG
        _k.LockDebug.Acquiring(_k, this, _class, tryOnly: true);
        if (!TryWrite()) return false;
        _k.LockDebug.Acquired(_k, this, _class);
        return true;
#else
        return TryWrite();
#endif
    }

    public void Exit()
    {
#if LOCKDEBUG
        _k.LockDebug.Releasing(_k, this, _class);
#endif
        if (Volatile.Read(ref _state) == -1)
            Interlocked.Exchange(ref _state, 0);
        else
            Interlocked.Decrement(ref _state);
        if (Volatile.Read(ref _sleepers) != 0)
        {
            SleepQueue q = _k.Turnstiles.For(this);
            q.Lock();
            q.WakeAllLocked(this);
            q.Unlock();
        }
    }

    private void Sleep(bool write)
    {
        for (int spin = 0; spin < 16; spin++)
        {
            CpuPause.Pause(4);
            if (write ? TryWrite() : TryRead()) return;
        }
        var sl = new Sleeper(_k);
        SleepQueue q = _k.Turnstiles.For(this);
        q.Lock();
        Interlocked.Increment(ref _sleepers);
        if (write) Interlocked.Increment(ref _writersWaiting);
        try
        {
            while (!(write ? TryWrite() : TryRead()))
                sl.Block(q, this, interruptible: false, timeoutNs: -1);
        }
        finally
        {
            // Also on a panic's unwind: a dead kernel's counts don't matter, but keep them honest.
            if (write) Interlocked.Decrement(ref _writersWaiting);
            Interlocked.Decrement(ref _sleepers);
        }
        q.Unlock();
        sl.Done();
    }
}
