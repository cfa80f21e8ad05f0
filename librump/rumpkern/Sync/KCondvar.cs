using System.Threading;

namespace Rump.Kern;

/// <summary>
/// A kernel condition variable (NetBSD kcondvar_t) used with a <see cref="KMutex"/>. As in NetBSD,
/// wake-ups may be spurious: callers re-check their condition in a loop. Signal and broadcast must
/// be called with the associated mutex held. A waiter gives up its virtual CPU while it sleeps.
///
/// A waiter queues itself on the kernel's sleep queue for this condition variable before it
/// releases the mutex, so a signaller (who holds the mutex) always finds it. The variable owns
/// no host objects. <see cref="_waiters"/> counts queued waiters so that signalling nobody costs
/// no lock.
/// </summary>
public sealed class KCondvar
{
    private readonly Kernel _k;
    private int _waiters;

    public KCondvar(Kernel k) { _k = k; }

    public bool HasWaiters => Volatile.Read(ref _waiters) != 0;
    /// <summary>Waiters between queueing themselves and returning (tests: "both are asleep").</summary>
    public int Waiters => Volatile.Read(ref _waiters);

    public void Wait(KMutex m) => WaitCore(m, -1, interruptible: false);

    /// <summary>Waits at most <paramref name="timeoutNs"/> nanoseconds; returns 0 or EWOULDBLOCK on timeout.</summary>
    public int TimedWait(KMutex m, long timeoutNs) => WaitCore(m, timeoutNs < 0 ? 0 : timeoutNs, interruptible: false);

    /// <summary>
    /// An interruptible wait (NetBSD cv_wait_sig): 0 when woken, EINTR when the lwp is interrupted
    /// (a signal, <see cref="Lwp.Interrupt"/>). The mutex is held again either way.
    /// </summary>
    public int WaitSig(KMutex m) => WaitCore(m, -1, interruptible: true);

    /// <summary>Interruptible and timed (NetBSD cv_timedwait_sig): 0, EWOULDBLOCK or EINTR.</summary>
    public int TimedWaitSig(KMutex m, long timeoutNs) => WaitCore(m, timeoutNs < 0 ? 0 : timeoutNs, interruptible: true);

    private int WaitCore(KMutex m, long timeoutNs, bool interruptible)
    {
        var sl = new Sleeper(_k);
        SleepQueue q = _k.Sleep.For(this);
        q.Lock();
        Interlocked.Increment(ref _waiters);
        WakeReason why;
        try
        {
            // Queued before the mutex goes: a signal from now on finds this waiter. Order: the sleep
            // queue, then the mutex's turnstile (if Exit has to wake someone), then the scheduler.
            why = sl.BlockReleasing(q, this, m, interruptible, timeoutNs);
        }
        finally { Interlocked.Decrement(ref _waiters); }
        q.Unlock();
        sl.Done();
        m.Enter();
        return why switch
        {
            WakeReason.Timeout => Abi.EWOULDBLOCK,
            WakeReason.Interrupt => Abi.EINTR,
            _ => 0,
        };
    }

    public void Signal()
    {
        if (Volatile.Read(ref _waiters) == 0) return;
        SleepQueue q = _k.Sleep.For(this);
        q.Lock();
        q.WakeOneLocked(this);
        q.Unlock();
    }

    public void Broadcast()
    {
        if (Volatile.Read(ref _waiters) == 0) return;
        SleepQueue q = _k.Sleep.For(this);
        q.Lock();
        q.WakeAllLocked(this);
        q.Unlock();
    }
}
