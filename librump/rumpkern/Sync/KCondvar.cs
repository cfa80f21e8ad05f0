using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// A kernel condition variable (NetBSD kcondvar_t) used with a <see cref="KMutex"/>. As in NetBSD,
/// wake-ups may be spurious: callers re-check their condition in a loop. Signal and broadcast must
/// be called with the associated mutex held, which is what makes the waiter count exact.
/// A waiter gives up its virtual CPU while it sleeps.
/// </summary>
public sealed class KCondvar
{
    private readonly Kernel _k;
    private nint _ilock;
    private nint _cv;
    private int _waiters;

    public KCondvar(Kernel k) { _k = k; }

    public bool HasWaiters => Volatile.Read(ref _waiters) != 0;

    public void Wait(KMutex m) => WaitCore(m, -1);

    /// <summary>Waits at most <paramref name="timeoutNs"/> nanoseconds; returns 0 or EWOULDBLOCK on timeout.</summary>
    public int TimedWait(KMutex m, long timeoutNs) => WaitCore(m, timeoutNs < 0 ? 0 : timeoutNs);

    private unsafe int WaitCore(KMutex m, long timeoutNs)
    {
        if (Volatile.Read(ref _cv) == 0) HostSync.LazyInit(ref _ilock, ref _cv);
        Lwp? l = _k.CurlwpOrNull();
        int error = 0;
        RumpUser.rumpuser_mutex_enter_nowrap(_ilock);
        _waiters++;
        m.Exit();
        bool unscheduled = l?.Cpu != null;
        if (unscheduled) _k.Sched.Unschedule(l!);
        if (timeoutNs < 0)
        {
            RumpUser.rumpuser_cv_wait_nowrap(_cv, _ilock);
        }
        else
        {
            int rv = RumpUser.rumpuser_cv_timedwait(_cv, _ilock, timeoutNs / 1_000_000_000, timeoutNs % 1_000_000_000);
            if (rv != 0) error = Abi.EWOULDBLOCK;
        }
        _waiters--;
        RumpUser.rumpuser_mutex_exit(_ilock);
        if (unscheduled) _k.Sched.Schedule(l!);
        m.Enter();
        return error;
    }

    public void Signal()
    {
        if (Volatile.Read(ref _waiters) == 0) return;
        RumpUser.rumpuser_mutex_enter_nowrap(_ilock);
        RumpUser.rumpuser_cv_signal(_cv);
        RumpUser.rumpuser_mutex_exit(_ilock);
    }

    public void Broadcast()
    {
        if (Volatile.Read(ref _waiters) == 0) return;
        RumpUser.rumpuser_mutex_enter_nowrap(_ilock);
        RumpUser.rumpuser_cv_broadcast(_cv);
        RumpUser.rumpuser_mutex_exit(_ilock);
    }

    internal void Destroy()
    {
        if (_cv != 0) { HostSync.DestroyCondvar(_cv); HostSync.DestroyMutex(_ilock); _cv = 0; }
    }
}
