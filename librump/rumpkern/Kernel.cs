using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>How to boot a kernel instance. Unset values come from the hypercall layer's parameters.</summary>
public sealed class KernelConfig
{
    /// <summary>Virtual CPUs; 0 means the RUMP_NCPU parameter (default: host CPUs).</summary>
    public int Ncpu;
    /// <summary>kern.hostname; null means the RUMP_HOSTNAME parameter.</summary>
    public string? Hostname;
    /// <summary>Kernel memory limit in bytes for data buffers; 0 means RUMP_MEMLIMIT or unlimited.</summary>
    public long MemLimit;
    /// <summary>The components linked in, in any order.</summary>
    public IComponent[] Components = Array.Empty<IComponent>();
    /// <summary>What the kernel does with signals (RUMP_SIGMODEL_*; NetBSD's default is RAISE).</summary>
    public int SigModel = Abi.SIGMODEL_RAISE;
}

/// <summary>
/// One rump kernel instance. All kernel state hangs off this object — there is no static mutable
/// kernel state — so several kernels can live in one process, each with its own processes, file
/// namespace and descriptors.
///
/// Locks, in the order they are taken: <see cref="_procLock"/> (process table, pid allocation) →
/// a process's <see cref="Proc.Lock"/> → subsystem locks → the sleep queues (<see cref="Sleep"/>,
/// then <see cref="Turnstiles"/>, then the scheduler's), which are host spin mutexes held only
/// for a few instructions.
///
/// A kernel is running, halted (reboot) or panicked. A panic stops only this instance: the
/// panicking call unwinds to its entry point with <see cref="KernelPanicException"/>, every sleeper
/// is woken to unwind the same way, and every later call fails with ENXIO. Other instances in the
/// process go on.
/// </summary>
public sealed partial class Kernel
{
    public const int MaxProcSpecific = 8;
    /// <summary>pid of the process implicit threads belong to (NetBSD's rump gives them proc1 semantics).</summary>
    public const int DefaultPid = 1;

    // Halting: entries are refused while the components shut down; Panicked and Halted: sleeps end too.
    private const int Running = 0, HaltingState = 1, PanickedState = 2, HaltedState = 3;

    public readonly Scheduler Sched;
    public readonly SyscallTable Syscalls = new();
    public readonly Kmem Kmem;
    public readonly Sysctl Sysctl;
    public readonly CalloutQueue Callouts;
    public readonly SoftintQueue Softints;
    /// <summary>Sleep queues for condition variables and other sleeps.</summary>
    internal readonly SleepTab Sleep = new();
    /// <summary>Sleep queues for lock waiters (NetBSD's turnstiles).</summary>
    internal readonly SleepTab Turnstiles = new();
#if LOCKDEBUG
    /// <summary>Lock order and ownership checking (LOCKDEBUG builds only).</summary>
    internal readonly LockDebug LockDebug = new();
#endif
    /// <summary>The kernel's own process (pid 0): kernel threads run in it.</summary>
    public readonly Proc Proc0;
    /// <summary>The process implicit threads use (pid 1).</summary>
    public readonly Proc DefaultProc;

    private readonly KMutex _procLock;
    private readonly Dictionary<int, Proc> _procs = new();
    /// <summary>Opaque lwp pointers handed to clients, for validating the ones they hand back.</summary>
    private readonly HashSet<nint> _lwpHandles = new();
    private int _nextPid = DefaultPid + 1;
    private int _nProcSpecific;
    private readonly List<IProcHooks> _procHooks = new();
    private readonly List<IComponent> _components = new();
    private readonly List<Action<Lwp>> _booted = new();
    /// <summary>Services by <see cref="ServiceSlot{T}"/> index: GetService runs on every VFS call.</summary>
    private object?[] _services = new object?[4];
    /// <summary>Running, halting, halted or panicked; read on every kernel entry.</summary>
    private int _state;
    private string? _panicMessage;

    /// <summary>Halted (or halting) by reboot(2).</summary>
    public bool Halted => Volatile.Read(ref _state) is HaltingState or HaltedState;
    /// <summary>Stopped by a panic; <see cref="PanicMessage"/> says why.</summary>
    public bool IsPanicked => Volatile.Read(ref _state) == PanickedState;
    /// <summary>Halted or panicked: entries fail with ENXIO.</summary>
    public bool IsDead => Volatile.Read(ref _state) != Running;
    public string? PanicMessage => Volatile.Read(ref _panicMessage);
    /// <summary>
    /// Client threads (lwps outside proc0, so not the kernel's own threads) asleep in this kernel
    /// right now, on locks or condition variables (not those waiting for a CPU).
    /// </summary>
    public int SleepingLwps => Volatile.Read(ref Sleep.SleepingClients) + Volatile.Read(ref Turnstiles.SleepingClients);
    public long BootTimeNs { get; }

    private Kernel(KernelConfig cfg)
    {
        // The hypercall layer answers the host's CPU count unless RUMP_NCPU says otherwise; 1 if it cannot.
        int ncpu = cfg.Ncpu > 0 ? cfg.Ncpu : Param.Int(RumpUserConst.RUMPUSER_PARAM_NCPU, 1);
        Sched = new Scheduler(this, ncpu);
        long memlimit = cfg.MemLimit > 0 ? cfg.MemLimit : Param.Long("RUMP_MEMLIMIT", 0);
        Kmem = new Kmem(memlimit);
        _procLock = new KMutex(this);
        // The instance's name is the kernel's business (RUMP_HOSTNAME); the hypervisor's mandatory
        // parameter is the fallback, as rumpuser(3) defines it.
        Sysctl = new Sysctl(this, cfg.Hostname ?? Param.Get("RUMP_HOSTNAME") ?? Param.String(RumpUserConst.RUMPUSER_PARAM_HOSTNAME, "rump"));
        Callouts = new CalloutQueue(this);
        Softints = new SoftintQueue(this);
        _sigmodel = cfg.SigModel;
        AttachCrashme();
        var vm = new LocalVmspace();
        Proc0 = new Proc(this, 0, null, Cred.Root, new Filedesc(), vm) { Comm = "swapper" };
        DefaultProc = new Proc(this, DefaultPid, Proc0, Cred.Root, new Filedesc(), vm) { Comm = "init" };
        KernSyscalls.Attach(this);
        _procs[0] = Proc0;
        _procs[DefaultPid] = DefaultProc;
        ProcSysctl.Attach(this);
        BootTimeNs = Clock.MonotonicNs();
    }

    /// <summary>
    /// Host objects (the sleep queues' and scheduler's host mutexes) go with the kernel object.
    /// Nothing can be inside a kernel nobody references: every thread in it holds it through its lwp.
    /// </summary>
    ~Kernel()
    {
        Sleep.Destroy();
        Turnstiles.Destroy();
        Sched.Destroy();
    }

    /// <summary>
    /// Boots a kernel: creates the base, then initialises the components in dependency order, with
    /// the booting thread running as a kernel lwp. Returns 0 or an errno with a message in <paramref name="why"/>.
    /// </summary>
    public static int Boot(KernelConfig cfg, out Kernel? kernel, out string? why)
    {
        kernel = null;
        why = null;
        int rv = Hyperup.Init();
        if (rv != 0) { why = "rumpuser_init failed: hypercall interface version mismatch"; return rv; }
        var k = new Kernel(cfg);
        IComponent[]? order = OrderComponents(cfg.Components, out why);
        if (order == null) return Abi.EINVAL;
        // Components initialise in a kernel context of their own (a lwp in proc0).
        try
        {
            using (var ctx = k.EnterTemporary(k.Proc0, "boot"))
            {
                foreach (IComponent c in order)
                {
                    c.Init(k);
                    k._components.Add(c);
                }
                foreach (Action<Lwp> a in k._booted) a(ctx.Lwp);
                k._booted.Clear();
            }
        }
        catch (Exception e)
        {
            // A component that panics (or fails unexpectedly) at boot leaves no kernel behind.
            k.RecordPanic(e);
            why = "boot: " + k.PanicMessage;
            return Abi.EIO;
        }
        Hyperup.Register(k);
        kernel = k;
        return 0;
    }

    /// <summary>Topological order of the components by <see cref="IComponent.Requires"/>; null with a reason on a missing or circular dependency.</summary>
    internal static IComponent[]? OrderComponents(IComponent[] comps, out string? why)
    {
        why = null;
        var byName = new Dictionary<string, IComponent>();
        foreach (IComponent c in comps) byName[c.Name] = c;
        var order = new List<IComponent>();
        var state = new Dictionary<string, int>(); // 1 visiting, 2 done
        foreach (IComponent c in comps)
            if (!Visit(c, byName, state, order, ref why)) return null;
        return order.ToArray();
    }

    private static bool Visit(IComponent c, Dictionary<string, IComponent> byName, Dictionary<string, int> state, List<IComponent> order, ref string? why)
    {
        state.TryGetValue(c.Name, out int s);
        if (s == 2) return true;
        if (s == 1) { why = "component dependency cycle through " + c.Name; return false; }
        state[c.Name] = 1;
        foreach (string r in c.Requires)
        {
            if (!byName.TryGetValue(r, out IComponent? dep)) { why = "component " + c.Name + " requires " + r + ", which is not linked in"; return false; }
            if (!Visit(dep, byName, state, order, ref why)) return false;
        }
        state[c.Name] = 2;
        order.Add(c);
        return true;
    }

    public bool HasComponent(string name)
    {
        foreach (IComponent c in _components) if (c.Name == name) return true;
        return false;
    }

    /// <summary>A faction publishes an object (its VFS, say) for drivers and the API layer above it.</summary>
    public void SetService<T>(T service) where T : class
    {
        int i = ServiceSlot<T>.Index;
        if (i >= _services.Length) Array.Resize(ref _services, Math.Max(i + 1, _services.Length * 2));
        _services[i] = service;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T? GetService<T>() where T : class
    {
        int i = ServiceSlot<T>.Index;
        object?[] s = _services;
        return i < s.Length ? Unsafe.As<T>(s[i]) : null;
    }

    public ProcSpecificKey CreateProcSpecificKey()
    {
        if (_nProcSpecific >= MaxProcSpecific) Panic("out of proc-specific keys");
        return new ProcSpecificKey(_nProcSpecific++);
    }

    public void AddProcHooks(IProcHooks h) => _procHooks.Add(h);

    /// <summary>Runs <paramref name="a"/> after every component has initialised (e.g. mounting root once all file systems registered).</summary>
    public void OnBooted(Action<Lwp> a) => _booted.Add(a);

    // ---- Current lwp and kernel entry -------------------------------------------------------

    /// <summary>The lwp the calling host thread runs as, if it belongs to this kernel.</summary>
    public Lwp? CurlwpOrNull()
    {
        Lwp? l = Lwp.FromHandle(RumpUser.rumpuser_curlwp());
        return l != null && l.Kernel == this ? l : null;
    }

    /// <summary>
    /// The system-call path. Finds the caller's lwp (lending an implicit one to a thread that has
    /// none), takes a virtual CPU, dispatches through the table and gives the CPU back. Returns the
    /// result or -1 with a NetBSD errno in <paramref name="error"/>. An exception in a handler is a
    /// kernel bug: it panics this kernel, and the call fails with ENXIO.
    /// </summary>
    public long Syscall(int num, ref SyscallArgs args, out int error)
    {
        nint h = RumpUser.rumpuser_curlwp();
        Lwp? l = Lwp.FromHandle(h);
        if (l == null || l.Kernel != this || Volatile.Read(ref _state) != Running)
            return SyscallSlow(h, l, -1, num, ref args, out error);
        // The fast paths: the thread's own lwp here, or the lent lwp its last call used (see
        // SyscallSlow), found idle again on the CPU it ran on.
        bool nested = false;
        if (l.Lent)
        {
            int i = l.LastCpuIdx;
            if (!Sched.TryTake(i)) return SyscallSlow(h, null, -1, num, ref args, out error);
            ref CpuSlot slot = ref Sched.Slot(i);
            if (slot.SpareImplicit != h) return SyscallSlow(h, null, i, num, ref args, out error);
            slot.SpareImplicit = 0;
            Sched.Bind(l, i);
        }
        else
        {
            // A call made from inside the kernel (an upcall on a thread already running here) keeps its CPU.
            nested = l.CpuIdx >= 0;
        }
        long rv;
        try
        {
            if (!nested && !l.Lent) Sched.Schedule(l);
            rv = Dispatch(l, num, ref args, out error);
        }
        catch (Exception e) { error = EntryFailed(e, num); rv = -1; }
        // A call that ran through a panic without sleeping (the panic woke nobody it had to) still fails.
        int state = Volatile.Read(ref _state);
        if (state == PanickedState) error = Abi.ENXIO;
        if (l.Lent) ReturnLent(l, state);
        else if (!nested) Leave(l);
        return error == 0 ? rv : -1;
    }

    /// <summary>Runs the handler; the caller holds a CPU.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe long Dispatch(Lwp l, int num, ref SyscallArgs args, out int error)
    {
        Sched.Slot(l.CpuIdx).Nsyscall++;
        var call = Syscalls.Lookup(num);
        long rv = 0;
        error = call != null ? call(l, ref args, out rv) : Abi.ENOSYS;
        return rv;
    }

    /// <summary>The end of a call: the lwp gives up its CPU (if an unwinding panic left it one) and forgets interrupts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Leave(Lwp l)
    {
        if (l.CpuIdx >= 0) Sched.Unschedule(l);
        if (l.IntrPending != 0) l.IntrPending = 0;
    }

    /// <summary>An exception reached a kernel entry: the kernel panics (if this is not already the unwinding of a panic).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int EntryFailed(Exception e, int num)
    {
        if (e is not KernelPanicException) RecordPanic(e, "system call " + SyscallInfo.Name(num) + ": ");
        return Abi.ENXIO;
    }

    /// <summary>
    /// Every entry that is not a fast path (see <see cref="Syscall"/>): a thread with no context, a
    /// context in another kernel, a dead kernel, or a stale hint. A thread may name a lent lwp
    /// (<see cref="Lwp.Lent"/>): the one its last call here used, kept as a hint. The fast path uses
    /// it again if it still waits in the spare slot of the CPU it ran on and that CPU is free; only
    /// the holder of a CPU takes or puts back its spare, so that check, made after taking the CPU,
    /// is final. Otherwise someone else has the lwp now (or it belongs to another or a dead kernel):
    /// the hint is dropped here and the call enters as a bare thread. <paramref name="held"/> is a
    /// CPU the fast path took already, or -1.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private long SyscallSlow(nint h, Lwp? l, int held, int num, ref SyscallArgs args, out int error)
    {
        if (h == 0) return SyscallBare(held, num, ref args, out error);
        if (l == null || l.Lent)
        {
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, h);
            return SyscallBare(held, num, ref args, out error);
        }
        if (l.Kernel != this) return SyscallForeign(h, num, ref args, out error);
        error = Abi.ENXIO; // this kernel is halted or panicked
        return -1;
    }

    /// <summary>
    /// A host thread with no kernel context (NetBSD's implicit thread): it takes a CPU and borrows
    /// that CPU's idle lent lwp (in the default process) for the call, and gives both back when it
    /// leaves (see <see cref="ReturnLent"/>), so a thread that enters once and exits leaves nothing
    /// behind. The CPU is chosen from the caller's stack address: distinct threads start on
    /// different CPUs without shared state. <paramref name="held"/> is a CPU the caller has taken
    /// already, or -1.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe long SyscallBare(int held, int num, ref SyscallArgs args, out int error)
    {
        if (Volatile.Read(ref _state) != Running)
        {
            if (held >= 0) Sched.Release(held);
            error = Abi.ENXIO;
            return -1;
        }
        int i = held;
        if (i < 0)
        {
            byte probe;
            ulong sp = (ulong)&probe;
            i = (int)((((sp >> 16) * 0x9E3779B97F4A7C15UL) >> 32) * (ulong)(uint)Sched.Ncpu >> 32);
            if (!Sched.TryTake(i)) i = -1;
        }
        Lwp l;
        nint spare = i >= 0 ? Sched.Slots[i].SpareImplicit : 0;
        if (spare != 0)
        {
            Sched.Slots[i].SpareImplicit = 0;
            l = Lwp.FromHandle(spare)!;
            Sched.Bind(l, i);
        }
        else
        {
            // No CPU, or one without a spare lwp: an lwp from the stash (or a new one) first, then a CPU.
            if (i >= 0) Sched.Release(i);
            try { l = BareScheduleSlow(); }
            catch (Exception e) { error = EntryFailed(e, num); return -1; }
        }
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, l.Handle);
        return RunLent(l, num, ref args, out error);
    }

    /// <summary>Runs the call on the lent lwp <paramref name="l"/>, which holds a CPU and is the thread's context, and gives both back.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long RunLent(Lwp l, int num, ref SyscallArgs args, out int error)
    {
        long rv;
        try { rv = Dispatch(l, num, ref args, out error); }
        catch (Exception e) { error = EntryFailed(e, num); rv = -1; }
        int state = Volatile.Read(ref _state);
        if (state == PanickedState) error = Abi.ENXIO;
        ReturnLent(l, state);
        return error == 0 ? rv : -1;
    }

    /// <summary>The bare entry's slow path: an implicit lwp from the stash (or a new one), then a CPU the normal way.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Lwp BareScheduleSlow()
    {
        Lwp l = TakeImplicit();
        try { Sched.Schedule(l); }
        catch { StashImplicit(l); throw; }
        return l;
    }

    /// <summary>
    /// The thread has a context in another kernel instance: keep it, and run this call as a bare
    /// thread here.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private long SyscallForeign(nint prev, int num, ref SyscallArgs args, out int error)
    {
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, prev);
        long rv = SyscallBare(-1, num, ref args, out error);
        // The call left its lent lwp as the thread's hint: the thread's own context comes back instead.
        nint hint = RumpUser.rumpuser_curlwp();
        if (hint != 0) RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, hint);
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, prev);
        return rv;
    }

    /// <summary>
    /// A system call with its arguments in NetBSD's layout: one 64-bit slot per member of the call's
    /// syscallarg structure, PAD slots included (rump_syscall(), the syscall proxy).
    /// <paramref name="dlen"/> is the block's size in bytes, or -1 when the caller vouches for it.
    /// Returns 0 or a NetBSD errno; the result goes to <paramref name="rv"/>.
    /// </summary>
    public unsafe int SyscallNetbsdArgs(int num, long* block, long dlen, out long rv)
    {
        rv = 0;
        int nargs = SyscallInfo.ArgCount(num);
        if (nargs < 0) return Abi.ENOSYS;
        int pad = SyscallInfo.PadSlot(num);
        int slots = nargs + (pad >= 0 ? 1 : 0);
        if (dlen >= 0 && dlen < slots * 8L) return Abi.EINVAL;
        if (block == null && slots > 0) return Abi.EFAULT;
        SyscallArgs a = default;
        for (int s = 0, i = 0; s < slots; s++)
            if (s != pad) a[i++] = block[s];
        rv = Syscall(num, ref a, out int error);
        return error;
    }

    /// <summary>
    /// Binds a new implicit lwp to the calling thread for good (the lwproc API asked for the
    /// thread's lwp): it stays until the thread switches away or releases it, as in NetBSD.
    /// </summary>
    internal Lwp BindImplicit()
    {
        DropLentHint();
        LeaveForeignKernel();
        Lwp l = NewLwp(DefaultProc, true, "implicit");
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, l.Handle);
        return l;
    }

    /// <summary>
    /// The calling thread is about to take a context in this kernel while its current lwp belongs
    /// to another instance: clear it there (releasing it if it was implicit) so that the hypercall
    /// layer's thread-local slot is free and nothing leaks.
    /// </summary>
    internal static void LeaveForeignKernelOf(Kernel k)
    {
        nint h = RumpUser.rumpuser_curlwp();
        if (h == 0) return;
        Lwp? other = Lwp.FromHandle(h);
        if (other != null && other.Kernel == k) return;
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, h);
        if (other != null && other.Implicit && !other.Lent) other.Kernel.LwpFree(other);
    }

    private void LeaveForeignKernel() => LeaveForeignKernelOf(this);

    /// <summary>
    /// Entries from outside the kernel other than system calls (the lwproc API, the managed API's
    /// kernel contexts, interrupt context) start here: a lent lwp the thread still names is only a
    /// hint left by its last system call (someone else may be running it now), never its context.
    /// </summary>
    public static void DropLentHint()
    {
        nint h = RumpUser.rumpuser_curlwp();
        if (h == 0) return;
        Lwp? l = Lwp.FromHandle(h);
        if (l == null || l.Lent) RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, h);
    }

    /// <summary>
    /// Runs kernel code outside a system call (boot, component init, the managed API's helpers) as a
    /// temporary lwp of <paramref name="p"/>, on a virtual CPU. Dispose restores the previous context.
    /// </summary>
    public TempContext EnterTemporary(Proc p, string name) => new TempContext(this, p, name);

    public readonly struct TempContext : IDisposable
    {
        private readonly Kernel _k;
        private readonly nint _prev;
        /// <summary>The previous context held a CPU of this kernel: the temporary lwp runs on it.</summary>
        private readonly bool _borrowed;
        public readonly Lwp Lwp;

        internal TempContext(Kernel k, Proc p, string name)
        {
            _k = k;
            _prev = RumpUser.rumpuser_curlwp();
            Lwp = k.NewLwp(p, true, name);
            Lwp? prev = Lwp.FromHandle(_prev);
            // Taking a second CPU while holding one could wait for ever on a one-CPU kernel.
            _borrowed = prev != null && !prev.Lent && prev.Kernel == k && prev.CpuIdx >= 0;
            if (_prev != 0) RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, _prev);
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, Lwp.Handle);
            try
            {
                if (_borrowed) k.Sched.Transfer(prev!, Lwp);
                else k.Sched.Schedule(Lwp);
            }
            catch
            {
                Restore();
                throw;
            }
        }

        public void Dispose()
        {
            if (Lwp.CpuIdx >= 0)
            {
                if (_borrowed) _k.Sched.Transfer(Lwp, Lwp.FromHandle(_prev)!);
                else _k.Sched.Unschedule(Lwp);
            }
            Restore();
        }

        private void Restore()
        {
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, Lwp.Handle);
            if (_prev != 0) RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, _prev);
            _k.LwpFree(Lwp);
        }
    }

    // ---- Panic -----------------------------------------------------------------------------

    /// <summary>
    /// A kernel bug. In a kernel context this kernel instance panics: the message is printed and
    /// kept (<see cref="PanicMessage"/>), every sleeper is woken to unwind, and this call unwinds to
    /// its entry point with <see cref="KernelPanicException"/>, which turns it into ENXIO. With no
    /// kernel context there is no instance to stop, and the process ends as NetBSD's would.
    /// </summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Panic(string msg)
    {
        Lwp? l = Lwp.FromHandle(RumpUser.rumpuser_curlwp());
        if (l != null) l.Kernel.PanicHere(msg);
        PrintPanic(msg);
        RumpUser.rumpuser_exit(RumpUserConst.RUMPUSER_PANIC);
    }

    /// <summary>This kernel panics with <paramref name="msg"/> (see <see cref="Panic"/>), whatever the calling thread's context.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void PanicHere(string msg) => throw new KernelPanicException(PanicWith(msg));

    /// <summary>Records the panic (the first message wins) and returns the kernel's panic message.</summary>
    private string PanicWith(string msg)
    {
        RecordPanicMessage(msg);
        return PanicMessage!;
    }

    /// <summary>An exception escaped kernel code to an entry point: this kernel panics (unless the exception is a panic's own unwinding).</summary>
    internal void RecordPanic(Exception e, string context = "")
    {
        if (e is KernelPanicException) return;
        RecordPanicMessage(context + e);
    }

    private void RecordPanicMessage(string msg)
    {
        if (Interlocked.CompareExchange(ref _panicMessage, msg, null) != null) return; // the first panic tells the story
        Console_.Panic(this, msg);
        Volatile.Write(ref _state, PanickedState);
        Hyperup.Unregister(this);
        WakeEverySleeper();
    }

    /// <summary>Every sleeping lwp wakes and unwinds (panic, or the end of a halt).</summary>
    private void WakeEverySleeper()
    {
        Sleep.WakeEveryone(WakeReason.Panic);
        Turnstiles.WakeEveryone(WakeReason.Panic);
        Sched.WakeEveryone(WakeReason.Panic);
    }

    /// <summary>Sleeping in this kernel is over: it panicked, or finished halting.</summary>
    internal bool SleepersAbort => Volatile.Read(ref _state) >= PanickedState;

    /// <summary>A sleep found the kernel dead: unwind to the entry point.</summary>
    [DoesNotReturn]
    internal void PanicUnwind() => throw new KernelPanicException(PanicMessage ?? "kernel halted");

    private static unsafe void PrintPanic(string msg)
    {
        byte[] text = System.Text.Encoding.UTF8.GetBytes("panic: " + msg + "\n\0");
        fixed (byte* fmt = "%s\0"u8) fixed (byte* p = text)
            RumpUser.rumpuser_dprintf(fmt, p);
    }

    // ---- Halt ------------------------------------------------------------------------------

    /// <summary>
    /// reboot(2): sync the file systems unless RB_NOSYNC, stop the kernel's threads, and halt.
    /// New calls fail with ENXIO from the start; once the components have shut down, threads still
    /// asleep inside are woken and leave with ENXIO too.
    /// </summary>
    public int Reboot(Lwp l, int howto)
    {
        int e = Kauth.Privileged(l.Cred);
        if (e != 0) return e;
        bool sync = (howto & Abi.RB_NOSYNC) == 0;
        if (Interlocked.CompareExchange(ref _state, HaltingState, Running) != Running) return 0;
        for (int i = _components.Count - 1; i >= 0; i--)
            _components[i].Shutdown(this, sync);
        Callouts.Stop(l);
        Softints.Stop(l);
        Hyperup.Unregister(this);
        Console_.Print(sync ? "rump kernel halted (file systems synced)\n" : "rump kernel halted\n");
        // The syscall proxy stops (NetBSD's cpu_reboot): a remote caller gets its answer first.
        RumpUser.rumpuser_sp_fini(l.Proc.Vmspace is RemoteVmspace r ? r.Client : 0);
        Volatile.Write(ref _state, HaltedState);
        WakeEverySleeper();
        FreeIdleLwps();
        return 0;
    }
}

/// <summary>
/// Each service type's slot in <see cref="Kernel"/>'s service table: a number given once per type
/// (the same in every kernel instance; it describes the type, not any kernel's state).
/// </summary>
internal static class ServiceSlot<T>
{
    public static readonly int Index = ServiceSlots.Next();
}

internal static class ServiceSlots
{
    private static int s_next = -1;
    public static int Next() => Interlocked.Increment(ref s_next);
}

/// <summary>
/// The unwinding of a kernel panic (or of a sleep in a halted kernel) from where it happened to
/// the kernel entry point, which turns it into ENXIO. Kernel code never catches it.
/// </summary>
public sealed class KernelPanicException : Exception
{
    public KernelPanicException(string message) : base(message) { }
}
