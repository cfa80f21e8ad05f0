using System;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// The upcalls the hypercall layer makes into the kernel (struct rumpuser_hyperup), for any
/// correct rumpuser(3) v17 hypervisor, NetBSD's own included.
///
/// Finding the kernel. The upcalls carry no kernel argument, and one hypervisor serves every
/// kernel instance in the process. An upcall from a thread with a current lwp goes to that lwp's
/// kernel. An upcall from a thread with no context (NetBSD's hypervisor does this from its block
/// I/O thread and its syscall-proxy server: hyp_schedule, then hyp_lwproc_newlwp or _rfork) goes
/// to the oldest kernel instance that is still running — the only one, for a C program and in
/// NetBSD. Work the hypervisor hands back for another instance (a block I/O completion) finds its
/// own kernel through its argument and enters that kernel's interrupt context (Intr.cs).
///
/// Contexts made for bare threads follow NetBSD's rump_schedule: hyp_schedule lends the thread a
/// temporary lwp of the default process, freed when the thread gives the CPU up again unless an
/// lwproc upcall replaced it meanwhile (the new lwp then keeps the CPU).
///
/// Every upcall catches every exception: an exception here would end the process (NativeAOT's
/// fail-fast) with no panic message. An exception in a kernel panics that kernel.
///
/// The registry of instances is process-wide glue, not kernel state: a copy-on-write array of weak
/// references, so that it holds no kernel alive.
/// </summary>
internal static unsafe class Hyperup
{
    private static int s_inited;
    private static RumpUserHyperup* s_table;
    private static WeakReference<Kernel>[] s_kernels = Array.Empty<WeakReference<Kernel>>();
    private static int s_registryLock;

    /// <summary>Registers the upcalls with the hypercall layer, once per process. Returns rumpuser_init's result.</summary>
    public static int Init()
    {
        if (Volatile.Read(ref s_inited) == 1) return 0;
        LockRegistry();
        try
        {
            if (s_inited == 1) return 0;
            // Never freed: the hypervisor keeps the pointer for the life of the process.
            RumpUserHyperup* h = (RumpUserHyperup*)NativeMemory.AllocZeroed((nuint)sizeof(RumpUserHyperup));
            h->hyp_schedule = &Schedule;
            h->hyp_unschedule = &Unschedule;
            h->hyp_backend_unschedule = &BackendUnschedule;
            h->hyp_backend_schedule = &BackendSchedule;
            h->hyp_lwproc_switch = &LwprocSwitch;
            h->hyp_lwproc_release = &LwprocRelease;
            h->hyp_lwproc_rfork = &LwprocRfork;
            h->hyp_lwproc_newlwp = &LwprocNewlwp;
            h->hyp_lwproc_curlwp = &LwprocCurlwp;
            h->hyp_syscall = &Syscall;
            h->hyp_lwpexit = &Lwpexit;
            h->hyp_execnotify = &Execnotify;
            h->hyp_getpid = &Getpid;
            int rv = RumpUser.rumpuser_init(RumpUserConst.RUMPUSER_VERSION, h);
            s_table = h;
            if (rv == 0) Volatile.Write(ref s_inited, 1);
            return rv;
        }
        finally { Volatile.Write(ref s_registryLock, 0); }
    }

    private static void LockRegistry()
    {
        while (Interlocked.CompareExchange(ref s_registryLock, 1, 0) != 0) CpuPause.Pause(4);
    }

    internal static void Register(Kernel k)
    {
        LockRegistry();
        var n = new WeakReference<Kernel>[s_kernels.Length + 1];
        s_kernels.CopyTo(n, 0);
        n[^1] = new WeakReference<Kernel>(k);
        Volatile.Write(ref s_kernels, n);
        Volatile.Write(ref s_registryLock, 0);
    }

    internal static void Unregister(Kernel k)
    {
        LockRegistry();
        var n = new System.Collections.Generic.List<WeakReference<Kernel>>(s_kernels.Length);
        foreach (WeakReference<Kernel> w in s_kernels)
            if (w.TryGetTarget(out Kernel? o) && o != k) n.Add(w);
        Volatile.Write(ref s_kernels, n.ToArray());
        Volatile.Write(ref s_registryLock, 0);
    }

    /// <summary>The kernel an upcall from a thread with no context goes to: the oldest running one.</summary>
    internal static Kernel? BareKernel()
    {
        foreach (WeakReference<Kernel> w in Volatile.Read(ref s_kernels))
            if (w.TryGetTarget(out Kernel? k) && !k.IsDead) return k;
        return null;
    }

    private static Lwp? Cur() => Lwp.FromHandle(RumpUser.rumpuser_curlwp());

    /// <summary>The kernel of the calling thread's lwp, or the bare-thread kernel.</summary>
    private static Kernel? CurKernel() => Cur()?.Kernel ?? BareKernel();

    /// <summary>An upcall caught an exception: its kernel panics; the hypervisor gets an error where it expects one.</summary>
    private static int Failed(Exception e, string upcall)
    {
        Kernel? k = Cur()?.Kernel;
        if (k != null) k.RecordPanic(e, upcall + ": ");
        return Abi.ENXIO;
    }

    [UnmanagedCallersOnly]
    private static void Schedule()
    {
        try
        {
            Lwp? l = Cur();
            if (l != null)
            {
                l.Kernel.MaybeFault(FaultPoint.Upcall);
                if (l.CpuIdx < 0 && !l.Kernel.IsDead) l.Kernel.Sched.Schedule(l);
                return;
            }
            Kernel? k = BareKernel();
            if (k == null) return;
            k.MaybeFault(FaultPoint.Upcall);
            Lwp t = k.NewLwp(k.DefaultProc, true, "hyp");
            t.FreeOnUnschedule = true;
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, t.Handle);
            k.Sched.Schedule(t);
        }
        catch (Exception e) { Failed(e, "hyp_schedule"); }
    }

    [UnmanagedCallersOnly]
    private static void Unschedule()
    {
        try
        {
            Lwp? l = Cur();
            if (l == null) return;
            l.Kernel.MaybeFault(FaultPoint.Upcall);
            l.Kernel.UnscheduleUpcall(l);
        }
        catch (Exception e) { Failed(e, "hyp_unschedule"); }
    }

    /// <summary>
    /// A blocking hypercall is about to sleep: the thread gives up its CPU. The two backend upcalls
    /// pair up: one that finds no CPU (the kernel made the hypercall without one) makes its partner
    /// take none. A hyp_backend_schedule with no partner before it is a hypervisor thread asking
    /// for a CPU (NetBSD's block I/O thread before a completion) and gets one.
    /// </summary>
    [UnmanagedCallersOnly]
    private static void BackendUnschedule(int nlocks, int* countp, nint interlock)
    {
        try
        {
            if (countp != null) *countp = 0;
            Lwp? l = Cur();
            if (l == null) return;
            l.Kernel.MaybeFault(FaultPoint.Upcall);
            if (l.CpuIdx < 0) { l.Backend = BackendState.HadNone; return; }
            l.Kernel.Sched.Unschedule(l);
            l.Backend = BackendState.GaveCpu;
        }
        catch (Exception e) { Failed(e, "hyp_backend_unschedule"); }
    }

    [UnmanagedCallersOnly]
    private static void BackendSchedule(int nlocks, nint interlock)
    {
        try
        {
            Lwp? l = Cur();
            if (l == null) return;
            l.Kernel.MaybeFault(FaultPoint.Upcall);
            BackendState was = l.Backend;
            l.Backend = BackendState.None;
            if (was == BackendState.HadNone || l.CpuIdx >= 0) return;
            // A kernel that died while the thread slept in the host keeps no CPUs for anyone.
            if (!l.Kernel.IsDead) l.Kernel.Sched.Schedule(l);
        }
        catch (Exception e) { Failed(e, "hyp_backend_schedule"); }
    }

    [UnmanagedCallersOnly]
    private static void LwprocSwitch(nint lp)
    {
        try
        {
            Lwp? l = Lwp.FromHandle(lp);
            Kernel? k = l?.Kernel ?? Cur()?.Kernel;
            if (k == null) return;
            k.MaybeFault(FaultPoint.Upcall);
            k.LwprocSwitch(l);
        }
        catch (Exception e) { Failed(e, "hyp_lwproc_switch"); }
    }

    [UnmanagedCallersOnly]
    private static void LwprocRelease()
    {
        try
        {
            Kernel? k = Cur()?.Kernel;
            if (k == null) return;
            k.MaybeFault(FaultPoint.Upcall);
            k.LwprocReleaselwp();
        }
        catch (Exception e) { Failed(e, "hyp_lwproc_release"); }
    }

    [UnmanagedCallersOnly]
    private static int LwprocRfork(nint priv, int flags, byte* comm)
    {
        try
        {
            Kernel? k = CurKernel();
            if (k == null) return Abi.ENXIO;
            k.MaybeFault(FaultPoint.Upcall);
            // priv is the syscall proxy's client: its process copies through the client's connection.
            return k.LwprocRfork(flags, comm == null ? null : new string((sbyte*)comm),
                priv == 0 ? null : new RemoteVmspace(priv));
        }
        catch (Exception e) { return Failed(e, "hyp_lwproc_rfork"); }
    }

    [UnmanagedCallersOnly]
    private static int LwprocNewlwp(int pid)
    {
        try
        {
            Kernel? k = CurKernel();
            if (k == null) return Abi.ENXIO;
            k.MaybeFault(FaultPoint.Upcall);
            return k.LwprocNewlwp(pid);
        }
        catch (Exception e) { return Failed(e, "hyp_lwproc_newlwp"); }
    }

    [UnmanagedCallersOnly]
    private static nint LwprocCurlwp()
    {
        try
        {
            Cur()?.Kernel.MaybeFault(FaultPoint.Upcall);
            return RumpUser.rumpuser_curlwp();
        }
        catch (Exception e) { Failed(e, "hyp_lwproc_curlwp"); return 0; }
    }

    /// <summary>A system call from the hypervisor (the syscall proxy): the argument block is NetBSD's, PAD slots included.</summary>
    [UnmanagedCallersOnly]
    private static int Syscall(int num, nint arg, nint* retval)
    {
        try
        {
            Kernel? k = CurKernel();
            if (k == null) return Abi.ENXIO;
            k.MaybeFault(FaultPoint.Upcall);
            int e = k.SyscallNetbsdArgs(num, (long*)arg, -1, out long rv);
            if (retval != null) *retval = (nint)rv;
            return e;
        }
        catch (Exception e) { return Failed(e, "hyp_syscall"); }
    }

    /// <summary>The client behind the calling lwp's process is gone (NetBSD's hyp_lwpexit): its other lwps are told to leave.</summary>
    [UnmanagedCallersOnly]
    private static void Lwpexit()
    {
        try
        {
            Lwp? l = Cur();
            if (l == null) return;
            l.Kernel.MaybeFault(FaultPoint.Upcall);
            l.Kernel.ProcInterruptOthers(l);
        }
        catch (Exception e) { Failed(e, "hyp_lwpexit"); }
    }

    /// <summary>A remote client exec'd: its process takes the new command name, as NetBSD's.</summary>
    [UnmanagedCallersOnly]
    private static void Execnotify(byte* comm)
    {
        try
        {
            Lwp? l = Cur();
            if (l == null) return;
            l.Kernel.MaybeFault(FaultPoint.Upcall);
            if (comm != null) l.Proc.Comm = new string((sbyte*)comm);
        }
        catch (Exception e) { Failed(e, "hyp_execnotify"); }
    }

    [UnmanagedCallersOnly]
    private static int Getpid()
    {
        try
        {
            Lwp? l = Cur();
            if (l == null) return -1;
            l.Kernel.MaybeFault(FaultPoint.Upcall);
            return l.Proc.Pid;
        }
        catch (Exception e) { Failed(e, "hyp_getpid"); return -1; }
    }

    /// <summary>The table given to the hypervisor (tests call the upcalls through it, as a hypervisor would).</summary>
    internal static RumpUserHyperup* Table => s_table;
}
