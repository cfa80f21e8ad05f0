using System.Runtime.CompilerServices;
using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// Why a sleep ended: woken by its waker, timed out, interrupted (EINTR), or the kernel panicked.
/// </summary>
internal enum WakeReason { None, Woken, Timeout, Interrupt, Panic }

/// <summary>
/// What an lwp needs to sleep (NetBSD keeps these fields in struct lwp): its own host condition
/// variable, made on its first sleep and destroyed with the lwp, and its place in a sleep queue.
/// Waking an lwp signals only its own condition variable, so a wake-up never goes to the wrong
/// sleeper however sleep queues are shared, and a lock object owns no host resources at all.
/// Fields other than <see cref="Cv"/> are protected by the lock of the queue the waiter is on.
/// </summary>
internal sealed class Waiter
{
    internal nint Cv;
    /// <summary>The object slept on (a lock, a condition variable, the scheduler); null when not queued.</summary>
    internal object? Wchan;
    internal Waiter? Next, Prev;
    /// <summary>The queue this waiter is on (read without its lock by an interrupter, then checked under it).</summary>
    internal SleepQueue? Queue;
    internal WakeReason Reason;
    internal bool Interruptible;
    /// <summary>The lwp this waiter belongs to (null for the temporary waiter of a context-less caller).</summary>
    internal readonly Lwp? Lwp;

    internal Waiter(Lwp? l) { Lwp = l; }

    internal void EnsureCv()
    {
        if (Cv == 0) Cv = HostSync.NewCondvar();
    }

    internal void Destroy()
    {
        if (Cv != 0) { HostSync.DestroyCondvar(Cv); Cv = 0; }
    }
}

/// <summary>
/// One sleep queue: a host spin mutex and a FIFO of waiters, each on some wait channel. Several
/// wait channels hash to one queue; wake-ups pick the waiters of their own channel.
/// </summary>
internal sealed class SleepQueue
{
    internal readonly nint Mtx;
    private Waiter? _head, _tail;
    /// <summary>The table whose sleeper count this queue keeps (none for the scheduler's own queue).</summary>
    private readonly SleepTab? _tab;

    internal SleepQueue(SleepTab? tab) { _tab = tab; Mtx = HostSync.NewMutex(); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Lock() => RumpUser.rumpuser_mutex_enter_nowrap(Mtx);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Unlock() => RumpUser.rumpuser_mutex_exit(Mtx);

    /// <summary>Queues <paramref name="w"/> on <paramref name="wchan"/>. Precondition: locked.</summary>
    internal void EnqueueLocked(Waiter w, object wchan, bool interruptible)
    {
        w.EnsureCv();
        w.Wchan = wchan;
        w.Reason = WakeReason.None;
        w.Interruptible = interruptible;
        w.Next = null;
        w.Prev = _tail;
        if (_tail != null) _tail.Next = w; else _head = w;
        _tail = w;
        // A full fence: an interrupter publishes its request, then reads Queue (see Lwp.Interrupt).
        Interlocked.Exchange(ref w.Queue, this);
        if (_tab != null)
        {
            Interlocked.Increment(ref _tab.Sleeping);
            Interlocked.Increment(ref _tab.Blocks);
            if (w.Lwp?.Proc.Pid != 0) Interlocked.Increment(ref _tab.SleepingClients);
        }
    }

    private void Unlink(Waiter w)
    {
        if (w.Prev != null) w.Prev.Next = w.Next; else _head = w.Next;
        if (w.Next != null) w.Next.Prev = w.Prev; else _tail = w.Prev;
        w.Next = w.Prev = null;
        w.Wchan = null;
        Volatile.Write(ref w.Queue, null);
        if (_tab != null)
        {
            Interlocked.Decrement(ref _tab.Sleeping);
            if (w.Lwp?.Proc.Pid != 0) Interlocked.Decrement(ref _tab.SleepingClients);
        }
    }

    /// <summary>Takes <paramref name="w"/> off the queue and wakes it with <paramref name="why"/>. Precondition: locked, w queued here.</summary>
    internal void WakeLocked(Waiter w, WakeReason why)
    {
        Unlink(w);
        w.Reason = why;
        RumpUser.rumpuser_cv_signal(w.Cv);
    }

    /// <summary>Wakes the oldest waiter on <paramref name="wchan"/>; false if there is none. Precondition: locked.</summary>
    internal bool WakeOneLocked(object wchan)
    {
        for (Waiter? w = _head; w != null; w = w.Next)
            if (ReferenceEquals(w.Wchan, wchan)) { WakeLocked(w, WakeReason.Woken); return true; }
        return false;
    }

    /// <summary>Wakes every waiter on <paramref name="wchan"/>; returns how many. Precondition: locked.</summary>
    internal int WakeAllLocked(object wchan)
    {
        int n = 0;
        Waiter? w = _head;
        while (w != null)
        {
            Waiter? next = w.Next;
            if (ReferenceEquals(w.Wchan, wchan)) { WakeLocked(w, WakeReason.Woken); n++; }
            w = next;
        }
        return n;
    }

    /// <summary>Wakes every waiter with <paramref name="why"/> (a panic). Precondition: locked.</summary>
    internal void WakeEveryoneLocked(WakeReason why)
    {
        while (_head != null) WakeLocked(_head, why);
    }

    /// <summary>
    /// Sleeps until woken, timed out (<paramref name="timeoutNs"/> ≥ 0) or, if interruptible,
    /// interrupted. Precondition: locked and <paramref name="w"/> queued here; returns locked and
    /// dequeued. The caller holds no virtual CPU (it gave it up before), so that the wait cannot
    /// starve the thread that would wake it.
    /// </summary>
    internal WakeReason BlockLocked(Waiter w, long timeoutNs)
    {
        if (timeoutNs < 0)
        {
            while (w.Reason == WakeReason.None)
                RumpUser.rumpuser_cv_wait_nowrap(w.Cv, Mtx);
            return w.Reason;
        }
        long deadline = Clock.MonotonicNs() + timeoutNs;
        while (w.Reason == WakeReason.None)
        {
            long left = deadline - Clock.MonotonicNs();
            if (left <= 0) { Unlink(w); w.Reason = WakeReason.Timeout; break; }
            // The host wait gives the CPU up through the backend upcall on some hypervisors; this
            // thread holds none here, so that is a no-op.
            RumpUser.rumpuser_cv_timedwait(w.Cv, Mtx, left / 1_000_000_000, left % 1_000_000_000);
        }
        return w.Reason;
    }
}

/// <summary>
/// A kernel's sleep queues (NetBSD's sleeptab and turnstile chains): wait channels hash to a
/// fixed set of queues, so a lock or condition variable object needs no host objects of its own,
/// and the kernel owns a bounded number of host mutexes whatever the number of locks.
///
/// There are two tables (as NetBSD's sleep queues and turnstiles): <see cref="Turnstiles"/> for
/// threads waiting for a mutex or rwlock, <see cref="Sleep"/> for condition variables and other
/// sleeps. Lock order: a <see cref="Sleep"/> queue → a <see cref="Turnstiles"/> queue → the
/// scheduler's queue. A condition-variable waiter releases its mutex while holding its sleep
/// queue (so that no signal is missed), which is why the two tables are distinct: a hash
/// collision between the condvar and the mutex could otherwise lock one host mutex twice.
/// </summary>
internal sealed class SleepTab
{
    private const int NQueues = 64;
    private readonly SleepQueue[] _q;
    /// <summary>Threads asleep in this table (diagnostics and tests: "the other thread has blocked").</summary>
    internal int Sleeping;
    /// <summary>Of those, the ones that are not kernel threads (lwps outside proc0).</summary>
    internal int SleepingClients;
    /// <summary>Sleeps so far (diagnostics and tests: "the threads really contended").</summary>
    internal long Blocks;

    internal SleepTab()
    {
        _q = new SleepQueue[NQueues];
        for (int i = 0; i < NQueues; i++) _q[i] = new SleepQueue(this);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal SleepQueue For(object wchan)
    {
        // Object identity, not a virtual GetHashCode: wait channels are kernel objects.
        uint h = (uint)RuntimeHelpers.GetHashCode(wchan);
        return _q[(h ^ (h >> 7)) & (NQueues - 1)];
    }

    internal void WakeEveryone(WakeReason why)
    {
        foreach (SleepQueue q in _q)
        {
            q.Lock();
            q.WakeEveryoneLocked(why);
            q.Unlock();
        }
    }

    internal void Destroy()
    {
        foreach (SleepQueue q in _q) HostSync.DestroyMutex(q.Mtx);
    }
}

/// <summary>
/// One thread's sleep on a queue, from the first block to the end of the wait: which waiter it
/// uses (its lwp's, or a temporary one for a caller with no context in this kernel), and whether
/// it gave up its virtual CPU, which <see cref="Done"/> takes back. A sleep in a panicked kernel
/// never returns: it unwinds to the entry point with <see cref="KernelPanicException"/>.
/// </summary>
internal struct Sleeper
{
    private readonly Kernel _k;
    private readonly Lwp? _l;
    private readonly Waiter _w;
    private bool _gaveCpu;

    public Sleeper(Kernel k)
    {
        _k = k;
        _l = k.CurlwpOrNull();
        _w = _l?.Waiter ?? new Waiter(null);
        _gaveCpu = false;
    }

    /// <summary>
    /// Queues the caller on <paramref name="wchan"/> and sleeps, giving up its CPU first if it holds
    /// one. Precondition: <paramref name="q"/> locked; it is locked again on return (but not after a panic).
    /// </summary>
    public WakeReason Block(SleepQueue q, object wchan, bool interruptible, long timeoutNs)
        => BlockReleasing(q, wchan, null, interruptible, timeoutNs);

    /// <summary>
    /// As <see cref="Block"/>, for a condition variable: the caller is queued before
    /// <paramref name="m"/> is released, so a signaller holding it finds the caller queued.
    /// </summary>
    public WakeReason BlockReleasing(SleepQueue q, object wchan, KMutex? m, bool interruptible, long timeoutNs)
    {
        if (_k.SleepersAbort) Abandon(q);
        q.EnqueueLocked(_w, wchan, interruptible);
        m?.Exit();
        if (interruptible && _l != null && _l.Interrupted)
        {
            q.WakeLocked(_w, WakeReason.Interrupt);
            return WakeReason.Interrupt;
        }
        if (!_gaveCpu && _l != null && _l.CpuIdx >= 0)
        {
            _k.Sched.Unschedule(_l);
            _gaveCpu = true;
        }
        WakeReason why = q.BlockLocked(_w, timeoutNs);
        if (why == WakeReason.Panic) Abandon(q);
        return why;
    }

    /// <summary>The sleep is over: free a temporary waiter and take the CPU back. Call with no queue locked.</summary>
    public void Done()
    {
        if (_l == null) _w.Destroy();
        if (_gaveCpu)
        {
            _gaveCpu = false;
            _k.Sched.Schedule(_l!);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Abandon(SleepQueue q)
    {
        q.Unlock();
        if (_l == null) _w.Destroy();
        _k.PanicUnwind();
    }
}
