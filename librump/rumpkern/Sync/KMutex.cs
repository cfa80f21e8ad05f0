using System.Threading;

namespace Rump.Kern;

/// <summary>
/// A kernel mutex (NetBSD kmutex_t, adaptive). Uncontended enter and exit are one interlocked
/// operation each and make no hypercall. Contended: spin briefly, then give up the virtual CPU and
/// sleep on the kernel's turnstile for this mutex; the CPU is taken back after the mutex is acquired.
/// The mutex owns no host objects: sleepers wait on their own lwp's condition variable.
///
/// State: 0 free, 1 held, 2 held and someone may be sleeping (Drepper, "Futexes are tricky"). The
/// turnstile queue's lock makes "see the mutex held, then sleep" atomic with respect to the
/// releaser's wake-up, which takes the same lock.
/// </summary>
public sealed class KMutex
{
    private int _state;
    private readonly Kernel _k;

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

    private void EnterSlow()
    {
        for (int spin = 0; spin < 32; spin++)
        {
            CpuPause.Pause(4);
            if (Volatile.Read(ref _state) == 0 && Interlocked.CompareExchange(ref _state, 1, 0) == 0)
                return;
        }
        var sl = new Sleeper(_k);
        SleepQueue q = _k.Turnstiles.For(this);
        q.Lock();
        while (Interlocked.Exchange(ref _state, 2) != 0)
            sl.Block(q, this, interruptible: false, timeoutNs: -1);
        q.Unlock();
        sl.Done();
    }

    private void WakeOne()
    {
        SleepQueue q = _k.Turnstiles.For(this);
        q.Lock();
        q.WakeOneLocked(this);
        q.Unlock();
    }
}
