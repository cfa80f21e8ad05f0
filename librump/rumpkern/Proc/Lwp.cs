using System.Runtime.InteropServices;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// A light-weight process: the kernel's thread context. A host thread runs kernel code as the lwp
/// that the hypercall layer's <c>rumpuser_curlwp()</c> names, on the virtual CPU it holds.
/// References: the process holds its lwps; the host thread holds its current lwp through the
/// hypercall layer's thread-local pointer (a GC handle), released in <see cref="Kernel.LwpFree"/>.
/// Fields written only by the host thread running the lwp need no lock; the others say theirs.
/// </summary>
/// <summary>See <see cref="Lwp.Backend"/>.</summary>
internal enum BackendState : byte
{
    /// <summary>No hyp_backend_unschedule outstanding.</summary>
    None,
    /// <summary>It gave up the CPU: its partner takes one back.</summary>
    GaveCpu,
    /// <summary>It found no CPU (a hypercall made without one): its partner takes none.</summary>
    HadNone,
}

public sealed class Lwp
{
    public readonly Kernel Kernel;
    public Proc Proc { get; internal set; }
    public readonly int Lid;
    /// <summary>Index of the virtual CPU while scheduled, else -1. Written only by the owning host thread.
    /// An index rather than a reference: the scheduler's fast path then stores no object references
    /// (each would cost a GC write barrier on every system call).</summary>
    internal int CpuIdx = -1;
    internal int LastCpuIdx;
    /// <summary>The virtual CPU while scheduled, else null.</summary>
    public Cpu? Cpu => CpuIdx < 0 ? null : Kernel.Sched.CpuAt(CpuIdx);
    /// <summary>An lwp of the default process made for a host thread that entered without a context
    /// (NetBSD's implicit lwp): either lent for calls (<see cref="Lent"/>) or bound by the lwproc API.</summary>
    public readonly bool Implicit;
    /// <summary>
    /// Lent to bare threads one call at a time (Kernel.SyscallBare): between calls it waits in a
    /// CPU's spare slot or the stash, and a thread's context pointer naming it is only a hint (see
    /// Kernel.SyscallSlow). Its handle is weak and never freed, so that a stale hint stays harmless.
    /// A lent lwp cannot make a nested call (an upcall into the syscall table during a hypercall):
    /// only hypervisor threads with lwps of their own do that.
    /// </summary>
    public readonly bool Lent;
    /// <summary>The weak-free GC handle the hypercall layer stores as <c>struct lwp *</c>.</summary>
    internal nint Handle;
    /// <summary>What the last hyp_backend_unschedule did, for its partner hyp_backend_schedule
    /// (blocking hypercalls do not nest, so one level is enough).</summary>
    internal BackendState Backend;
    /// <summary>Free this lwp when it next gives up its CPU through the hyp_unschedule upcall
    /// (a bare thread's temporary lwp, or one released while scheduled: NetBSD's LW_WEXIT).</summary>
    internal bool FreeOnUnschedule;
    /// <summary>Clear the thread's context when the lwp next gives up its CPU (lwproc_switch(NULL)
    /// while scheduled: NetBSD's LW_RUMP_CLEAR).</summary>
    internal bool ClearOnUnschedule;
    /// <summary>False once released; a released lwp must not run again.</summary>
    internal bool Alive = true;
    public readonly string Name;
    /// <summary>How this lwp sleeps (its host condition variable and sleep-queue links).</summary>
    internal readonly Waiter Waiter;
    /// <summary>
    /// Non-zero once something asked this lwp to stop sleeping (a signal, a remote client going
    /// away): its interruptible sleeps end with EINTR until it leaves the kernel.
    /// </summary>
    internal int IntrPending;
    /// <summary>This lwp's poll/select waiter, made on its first poll (Descrip/Poll.cs).</summary>
    internal PollWaiter? PollWaiter;
    /// <summary>Set while a poll or select scans: objects that are not ready record it (SelInfo.Record).</summary>
    internal PollWaiter? PollScan;
    /// <summary>Signals this lwp blocks (sigprocmask): signal n is bit n - 1. Its own thread changes it.</summary>
    internal ulong SigMask;
#if LOCKDEBUG
    /// <summary>The kernel locks this lwp holds, with their classes (LockDebug).</summary>
    internal readonly System.Collections.Generic.List<(object Lock, string Class)> HeldLocks = new();
#endif

    internal Lwp(Kernel k, Proc p, int lid, bool isImplicit, bool lent, string name)
    {
        Kernel = k; Proc = p; Lid = lid; Implicit = isImplicit || lent; Lent = lent; Name = name;
        // Spread new lwps over the CPUs so that threads do not all start by colliding on CPU 0.
        LastCpuIdx = (int)((uint)(p.Pid * 31 + lid) % (uint)k.Sched.Ncpu);
        Waiter = new Waiter(this);
        // A weak handle reads back as null once the lwp is collected: what a stale hint to a lent
        // lwp of a kernel long gone must find. Both kinds are read the same way (FromHandle).
        Handle = lent ? WeakGCHandle<Lwp>.ToIntPtr(new WeakGCHandle<Lwp>(this)) : GCHandle<Lwp>.ToIntPtr(new GCHandle<Lwp>(this));
    }

    /// <summary>Resolves the hypercall layer's opaque lwp pointer (null for 0, or for a lent lwp since collected).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static Lwp? FromHandle(nint h) => h == 0 ? null : GCHandle<Lwp>.FromIntPtr(h).Target;

    internal void FreeHandle()
    {
        // A lent lwp's handle may still be named by some thread's stale hint: it is never freed.
        if (Handle != 0 && !Lent) { GCHandle<Lwp>.FromIntPtr(Handle).Dispose(); Handle = 0; }
    }

    /// <summary>Is an interruptible sleep of this lwp to end with EINTR? When it was interrupted, or a signal it does not block is pending.</summary>
    internal bool Interrupted => Volatile.Read(ref IntrPending) != 0 || (Volatile.Read(ref Proc.SigPending) & ~SigMask) != 0;

    /// <summary>
    /// Asks the lwp to stop sleeping: its current or next interruptible sleep ends with EINTR (and
    /// so does every later one until it leaves the kernel). Any context; takes the lwp's sleep queue.
    /// </summary>
    public void Interrupt()
    {
        // A full fence, then read the queue: the sleeper publishes its queue, then reads the flag.
        Interlocked.Exchange(ref IntrPending, 1);
        SleepQueue? q = Volatile.Read(ref Waiter.Queue);
        if (q == null) return;
        q.Lock();
        if (Waiter.Queue == q && Waiter.Interruptible) q.WakeLocked(Waiter, WakeReason.Interrupt);
        q.Unlock();
    }

    public Cred Cred => Proc.Cred;
    public override string ToString() => "lwp " + Proc.Pid + "." + Lid + " (" + Name + ")";
}
