using System.Runtime.CompilerServices;
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
#if LOCKDEBUG
    /// <summary>The lock's class for LockDebug: where it was made.</summary>
    private readonly string _class;
#endif

    /// <summary>A mutex of <paramref name="k"/>; the caller's file and line name its class for lock debugging.</summary>
    public KMutex(Kernel k, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        _k = k;
#if LOCKDEBUG
        _class = LockDebug.Class(file, line);
#endif
    }

    public bool IsHeld => Volatile.Read(ref _state) != 0;

    /// <summary>Someone may be waiting for the mutex (for tests that wait until a thread has arrived).</summary>
    internal bool MayHaveWaiters => Volatile.Read(ref _state) == 2;

    public void Enter()
    {
#if LOCKDEBUG
        _k.LockDebug.Acquiring(_k, this, _class, tryOnly: false);
#endif
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            EnterSlow();
#if LOCKDEBUG
        _k.LockDebug.Acquired(_k, this, _class);
#endif
    }

    /// <summary>
    /// Enter on a path that also runs in a dead kernel after its entry point's catch (an lwp freed
    /// as its call leaves), where a wait must not unwind. A dead kernel's sleeps end at once, so
    /// there the wait spins instead. Only for locks whose holders never sleep or throw while
    /// holding them: a panic cannot leave such a lock held, and its holder leaves it in a few
    /// instructions.
    /// </summary>
    public void EnterNoUnwind()
    {
#if LOCKDEBUG
        _k.LockDebug.Acquiring(_k, this, _class, tryOnly: false);
#endif
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            bool got = false;
            if (!_k.SleepersAbort)
            {
                try { EnterSlow(); got = true; }
                catch (KernelPanicException) { } // the kernel died while this thread slept for the lock
            }
            // State 2 says someone waits, so the holder's exit looks for sleepers (there are none
            // left to wake in a dead kernel, which costs only that look).
            if (!got)
                while (Interlocked.Exchange(ref _state, 2) != 0) CpuPause.Pause(64);
        }
#if LOCKDEBUG
        _k.LockDebug.Acquired(_k, this, _class);
#endif
    }

    public bool TryEnter()
    {
#if LOCKDEBUG
        _k.LockDebug.Acquiring(_k, this, _class, tryOnly: true);
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0) return false;
        _k.LockDebug.Acquired(_k, this, _class);
        return true;
#else
        return Interlocked.CompareExchange(ref _state, 1, 0) == 0;
#endif
    }

    public void Exit()
    {
#if LOCKDEBUG
        _k.LockDebug.Releasing(_k, this, _class);
#endif
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
