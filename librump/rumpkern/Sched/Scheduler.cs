using System.Runtime.CompilerServices;
using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// Schedules lwps onto virtual CPUs.
///
/// Fast path: an lwp first tries the CPU it last ran on with one compare-and-swap, and releases it
/// with a plain release store followed by a read of <see cref="_waiting"/>. No hypercall is made
/// unless every CPU is taken.
///
/// Slow path: a thread that finds no free CPU spins briefly, then registers in
/// <see cref="_waiting"/>, scans again and sleeps on <see cref="_q"/> until a releaser wakes it.
/// The release is a store and a load, not an interlocked exchange (which costs a quarter of a null
/// system call), so on its own it could miss a waiter: store-to-load reordering lets a releaser
/// read the count before its store of "free" is visible, while the waiter reads "busy". The
/// waiter closes that window itself with a process-wide memory barrier after registering
/// (<see cref="Interlocked.MemoryBarrierProcessWide"/>, the asymmetric half of Dekker's protocol):
/// every CPU executes a full fence during the barrier, so each releaser either made its store
/// visible before it (the waiter's scan sees the free CPU) or reads the count after it (and wakes
/// the waiter). The barrier costs microseconds, on a path where the thread was about to sleep.
/// Nothing here waits with a timeout; <see cref="WatchdogNs"/> exists only so that a test can
/// count a wake-up that never came.
///
/// Locks: the queue's host spin mutex protects the queue of CPU waiters; it is last in every
/// lock order (see <see cref="SleepTab"/>).
/// </summary>
public sealed class Scheduler
{
    private readonly Kernel _k;
    private readonly Cpu[] _cpus;
    /// <summary>The CPUs' hot words, padded apart (see <see cref="CpuSlot"/>).</summary>
    internal readonly CpuSlot[] Slots;
    private readonly SleepQueue _q;
    /// <summary>Threads that registered to wait for a CPU; read without the lock by releasers.</summary>
    private int _waiting;
    /// <summary>
    /// 0 (the default): a CPU waiter sleeps until woken. Otherwise a test's watchdog: the waiter also
    /// wakes after this many nanoseconds and counts in <see cref="MissedWakeups"/> if it then finds
    /// a CPU free, i.e. a CPU was released without the waiter being told.
    /// </summary>
    public long WatchdogNs;
    private long _missedWakeups;
    private long _sleeps;

    internal Scheduler(Kernel k, int ncpu)
    {
        _k = k;
        if (ncpu < 1) ncpu = 1;
        _cpus = new Cpu[ncpu];
        Slots = new CpuSlot[ncpu];
        for (int i = 0; i < ncpu; i++) _cpus[i] = new Cpu(this, i);
        _q = new SleepQueue(null);
    }

    public int Ncpu => _cpus.Length;
    public Cpu CpuAt(int i) => _cpus[i];
    /// <summary>Watchdog wake-ups that found a free CPU (see <see cref="WatchdogNs"/>): must stay 0.</summary>
    public long MissedWakeups => Volatile.Read(ref _missedWakeups);
    /// <summary>Times a thread slept waiting for a CPU (the slow path really ran).</summary>
    public long Sleeps => Volatile.Read(ref _sleeps);
    /// <summary>Threads waiting for a CPU right now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// CPU <paramref name="i"/>'s slot without a bounds check: on the system-call path every index
    /// comes from an lwp's CPU fields or the bare entry's hash, all below <see cref="Ncpu"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref CpuSlot Slot(int i)
    {
        System.Diagnostics.Debug.Assert((uint)i < (uint)Slots.Length);
        return ref Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Slots), i);
    }

    /// <summary>Puts <paramref name="l"/> on a virtual CPU, blocking the host thread if none is free.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Schedule(Lwp l)
    {
        int i = l.LastCpuIdx;
        if (Interlocked.CompareExchange(ref Slot(i).Busy, 1, 0) != 0)
            i = ScheduleSlow(l);
        Bind(l, i);
    }

    /// <summary>Takes CPU <paramref name="i"/> if it is free (no waiting).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryTake(int i) => Interlocked.CompareExchange(ref Slot(i).Busy, 1, 0) == 0;

    /// <summary>Records that <paramref name="l"/> runs on CPU <paramref name="i"/>, which the caller has taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Bind(Lwp l, int i)
    {
        Slot(i).CurlwpHandle = l.Handle;
        l.CpuIdx = i;
        l.LastCpuIdx = i;
    }

    /// <summary>Hands the CPU <paramref name="from"/> holds to <paramref name="to"/> (lwproc switch while scheduled).</summary>
    internal void Transfer(Lwp from, Lwp to)
    {
        int i = from.CpuIdx;
        from.CpuIdx = -1;
        Bind(to, i);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int ScheduleSlow(Lwp? l)
    {
        int c;
        for (int spin = 0; spin < 32; spin++)
        {
            if ((c = TryAny()) >= 0) return c;
            CpuPause.Pause(4);
        }
        Interlocked.Increment(ref _waiting);
        try
        {
            Interlocked.MemoryBarrierProcessWide();
            while ((c = TryAny()) < 0)
                Sleep(l);
        }
        finally { Interlocked.Decrement(ref _waiting); }
        return c;
    }

    /// <summary>One sleep of a registered CPU waiter, or none if a CPU is free once the queue is locked.</summary>
    private void Sleep(Lwp? l)
    {
        Waiter w = l?.Waiter ?? new Waiter(null);
        _q.Lock();
        if (_k.SleepersAbort) { _q.Unlock(); _k.PanicUnwind(); }
        // A releaser that stored "free" before we took the lock is seen here; one after it wakes us.
        if (AnyFree()) { _q.Unlock(); return; }
        _q.EnqueueLocked(w, this, interruptible: false);
        _sleeps++;
        long wd = Volatile.Read(ref WatchdogNs);
        WakeReason why = _q.BlockLocked(w, wd > 0 ? wd : -1);
        _q.Unlock();
        if (l == null) w.Destroy();
        if (why == WakeReason.Panic) _k.PanicUnwind();
        if (why == WakeReason.Timeout && AnyFree()) Interlocked.Increment(ref _missedWakeups);
    }

    private bool AnyFree()
    {
        CpuSlot[] s = Slots;
        for (int i = 0; i < s.Length; i++)
            if (Volatile.Read(ref s[i].Busy) == 0) return true;
        return false;
    }

    private int TryAny()
    {
        CpuSlot[] s = Slots;
        for (int i = 0; i < s.Length; i++)
            if (Volatile.Read(ref s[i].Busy) == 0 && Interlocked.CompareExchange(ref s[i].Busy, 1, 0) == 0)
                return i;
        return -1;
    }

    /// <summary>Takes <paramref name="l"/> off its CPU.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Unschedule(Lwp l)
    {
        int i = l.CpuIdx;
        l.CpuIdx = -1;
        Slot(i).CurlwpHandle = 0;
        Release(i);
    }

    /// <summary>Frees CPU <paramref name="i"/>, which the caller holds with no lwp bound to it (or has just unbound).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Release(int i)
    {
        Volatile.Write(ref Slot(i).Busy, 0);
        // A waiter that registered before this load is woken; one that registers after it sees the
        // store above once its process-wide barrier has run (see the type's comment).
        if (Volatile.Read(ref _waiting) != 0)
            WakeOne();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WakeOne()
    {
        _q.Lock();
        _q.WakeOneLocked(this);
        _q.Unlock();
    }

    /// <summary>Wakes every CPU waiter (a panic: they unwind instead of running).</summary>
    internal void WakeEveryone(WakeReason why)
    {
        _q.Lock();
        _q.WakeEveryoneLocked(why);
        _q.Unlock();
    }

    internal void Destroy() => HostSync.DestroyMutex(_q.Mtx);
}
