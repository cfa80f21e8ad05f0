using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// A kernel mutex (NetBSD kmutex_t, adaptive). Uncontended enter and exit are one interlocked
/// operation each and make no hypercall. Contended: spin briefly, then give up the virtual CPU and
/// sleep on a host condition variable; the CPU is taken back after the mutex is acquired.
///
/// State: 0 free, 1 held, 2 held and someone may be sleeping (Drepper, "Futexes are tricky").
/// The host mutex <see cref="_ilock"/> only makes sleep and wake-up atomic with respect to each other.
/// </summary>
public sealed class KMutex
{
    private int _state;
    private readonly Kernel _k;
    private nint _ilock;
    private nint _cv;

    public KMutex(Kernel k) { _k = k; }

    public bool IsHeld => Volatile.Read(ref _state) != 0;

    public void Enter()
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            EnterSlow();
    }

    public bool TryEnter() => Interlocked.CompareExchange(ref _state, 1, 0) == 0;

    public void Exit()
    {
        if (Interlocked.Exchange(ref _state, 0) == 2)
            WakeOne();
    }

    private void EnsureHostObjects()
    {
        // Host objects are made on first contention: most kernel mutexes never see any.
        if (Volatile.Read(ref _cv) != 0) return;
        HostSync.LazyInit(ref _ilock, ref _cv);
    }

    private void EnterSlow()
    {
        for (int spin = 0; spin < 64; spin++)
        {
            CpuPause.Pause(8);
            if (Volatile.Read(ref _state) == 0 && Interlocked.CompareExchange(ref _state, 1, 0) == 0)
                return;
        }
        EnsureHostObjects();
        Lwp? l = _k.CurlwpOrNull();
        bool unscheduled = false;
        RumpUser.rumpuser_mutex_enter_nowrap(_ilock);
        while (Interlocked.Exchange(ref _state, 2) != 0)
        {
            if (!unscheduled && l?.Cpu != null)
            {
                // Sleeping with a virtual CPU would starve the holder of one.
                _k.Sched.Unschedule(l);
                unscheduled = true;
            }
            RumpUser.rumpuser_cv_wait_nowrap(_cv, _ilock);
        }
        RumpUser.rumpuser_mutex_exit(_ilock);
        if (unscheduled)
            _k.Sched.Schedule(l!);
    }

    private void WakeOne()
    {
        RumpUser.rumpuser_mutex_enter_nowrap(_ilock);
        RumpUser.rumpuser_cv_signal(_cv);
        RumpUser.rumpuser_mutex_exit(_ilock);
    }

    internal void Destroy()
    {
        if (_cv != 0) { HostSync.DestroyCondvar(_cv); HostSync.DestroyMutex(_ilock); _cv = 0; }
    }
}
