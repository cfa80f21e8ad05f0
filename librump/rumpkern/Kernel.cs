using System;
using System.Collections.Generic;
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
}

/// <summary>
/// One rump kernel instance. All kernel state hangs off this object — there is no static mutable
/// kernel state — so several kernels can live in one process, each with its own processes, file
/// namespace and descriptors.
///
/// Locks, in the order they are taken: <see cref="_procLock"/> (process table, pid allocation) →
/// a process's <see cref="Proc.Lock"/> → subsystem locks → the scheduler's host mutex (always last).
/// </summary>
public sealed partial class Kernel
{
    public const int MaxProcSpecific = 8;
    /// <summary>pid of the process implicit threads belong to (NetBSD's rump gives them proc1 semantics).</summary>
    public const int DefaultPid = 1;

    public readonly Scheduler Sched;
    public readonly SyscallTable Syscalls = new();
    public readonly Kmem Kmem;
    public readonly Sysctl Sysctl;
    public readonly CalloutQueue Callouts;
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
    private readonly Dictionary<Type, object> _services = new();
    private volatile bool _halted;
    private int _haltFlag;

    public bool Halted => _halted;
    public long BootTimeNs { get; }

    private Kernel(KernelConfig cfg)
    {
        // The hypercall layer answers the host's CPU count unless RUMP_NCPU says otherwise; 1 if it cannot.
        int ncpu = cfg.Ncpu > 0 ? cfg.Ncpu : Param.Int(RumpUserConst.RUMPUSER_PARAM_NCPU, 1);
        Sched = new Scheduler(ncpu);
        long memlimit = cfg.MemLimit > 0 ? cfg.MemLimit : Param.Long("RUMP_MEMLIMIT", 0);
        Kmem = new Kmem(memlimit);
        _procLock = new KMutex(this);
        Sysctl = new Sysctl(this, cfg.Hostname ?? Param.String(RumpUserConst.RUMPUSER_PARAM_HOSTNAME, "rump"));
        Callouts = new CalloutQueue(this);
        var vm = new LocalVmspace();
        Proc0 = new Proc(this, 0, null, Cred.Root, new Filedesc(), vm);
        DefaultProc = new Proc(this, DefaultPid, Proc0, Cred.Root, new Filedesc(), vm);
        KernSyscalls.Attach(this);
        _procs[0] = Proc0;
        _procs[DefaultPid] = DefaultProc;
        BootTimeNs = Clock.MonotonicNs();
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
        using (var ctx = k.EnterTemporary(k.Proc0, "boot"))
        {
            foreach (IComponent c in order)
            {
                c.Init(k);
                k._components.Add(c);
            }
            foreach (Action<Lwp> a in k._booted) a(ctx.Lwp);
            k._booted.Clear();
            k.Callouts.Start();
        }
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
    public void SetService<T>(T service) where T : class => _services[typeof(T)] = service;
    public T? GetService<T>() where T : class => _services.TryGetValue(typeof(T), out object? o) ? (T)o : null;

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
    /// The system-call path. Finds the caller's lwp (binding an implicit one on first entry), takes a
    /// virtual CPU, dispatches through the table and gives the CPU back. Returns the result or -1 with
    /// a NetBSD errno in <paramref name="error"/>. A kernel bug in a handler panics the kernel.
    /// </summary>
    public unsafe long Syscall(int num, ref SyscallArgs args, out int error)
    {
        nint h = RumpUser.rumpuser_curlwp();
        Lwp? l = h != 0 ? Lwp.FromHandle(h) : null;
        if (l == null || l.Kernel != this)
            return SyscallOtherContext(num, ref args, out error);
        if (_halted) { error = Abi.ENXIO; return -1; }
        // A call made from inside the kernel (an upcall on a thread already running here) keeps its CPU.
        bool nested = l.CpuIdx >= 0;
        if (!nested) Sched.Schedule(l);
        Sched.Slots[l.CpuIdx].Nsyscall++;
        long rv = 0;
        var call = Syscalls.Lookup(num);
        try
        {
            error = call != null ? call(l, ref args, out rv) : Abi.ENOSYS;
        }
        catch (Exception e)
        {
            Panic("system call " + SyscallInfo.Name(num) + " failed: " + e);
            error = Abi.EIO;
        }
        if (!nested) Sched.Unschedule(l);
        return error == 0 ? rv : -1;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private long SyscallOtherContext(int num, ref SyscallArgs args, out int error)
    {
        if (_halted) { error = Abi.ENXIO; return -1; }
        nint prev = RumpUser.rumpuser_curlwp();
        if (prev == 0)
        {
            // NetBSD's implicit thread: a host thread with no context runs in the default process.
            // It stays bound to the thread so the next call takes the fast path.
            BindImplicit();
            return Syscall(num, ref args, out error);
        }
        // The thread has a context in another kernel instance: keep it, and run this call on a
        // temporary lwp here.
        Lwp t = NewLwp(DefaultProc, true, "implicit");
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, prev);
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, t.Handle);
        long rv = Syscall(num, ref args, out error);
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, t.Handle);
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, prev);
        LwpFree(t);
        return rv;
    }

    internal Lwp BindImplicit()
    {
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
        if (other == null || other.Kernel == k) return;
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, h);
        if (other.Implicit) other.Kernel.LwpFree(other);
    }

    private void LeaveForeignKernel() => LeaveForeignKernelOf(this);

    /// <summary>
    /// Runs kernel code outside a system call (boot, component init, the managed API's helpers) as a
    /// temporary lwp of <paramref name="p"/>, on a virtual CPU. Dispose restores the previous context.
    /// </summary>
    public TempContext EnterTemporary(Proc p, string name) => new TempContext(this, p, name);

    public readonly struct TempContext : IDisposable
    {
        private readonly Kernel _k;
        private readonly nint _prev;
        public readonly Lwp Lwp;

        internal TempContext(Kernel k, Proc p, string name)
        {
            _k = k;
            _prev = RumpUser.rumpuser_curlwp();
            Lwp = k.NewLwp(p, true, name);
            if (_prev != 0) RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, _prev);
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, Lwp.Handle);
            k.Sched.Schedule(Lwp);
        }

        public void Dispose()
        {
            _k.Sched.Unschedule(Lwp);
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, Lwp.Handle);
            if (_prev != 0) RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, _prev);
            _k.LwpFree(Lwp);
        }
    }

    // ---- Panic -----------------------------------------------------------------------------

    /// <summary>A kernel bug: print the message through the hypercall layer and end the host process.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static unsafe void Panic(string msg)
    {
        byte[] text = System.Text.Encoding.UTF8.GetBytes("panic: " + msg + "\n\0");
        fixed (byte* fmt = "%s\0"u8) fixed (byte* p = text)
            RumpUser.rumpuser_dprintf(fmt, p);
        RumpUser.rumpuser_exit(RumpUserConst.RUMPUSER_PANIC);
    }

    // ---- Halt ------------------------------------------------------------------------------

    /// <summary>
    /// reboot(2): sync the file systems unless RB_NOSYNC, stop the kernel's threads, and halt.
    /// Later system calls on this instance fail with ENXIO.
    /// </summary>
    public int Reboot(Lwp l, int howto)
    {
        int e = Kauth.Privileged(l.Cred);
        if (e != 0) return e;
        bool sync = (howto & Abi.RB_NOSYNC) == 0;
        if (Interlocked.Exchange(ref _haltFlag, 1) != 0) return 0;
        _halted = true;
        for (int i = _components.Count - 1; i >= 0; i--)
            _components[i].Shutdown(this, sync);
        Callouts.Stop(l);
        Console_.Print(sync ? "rump kernel halted (file systems synced)\n" : "rump kernel halted\n");
        return 0;
    }
}
