using System.Runtime.InteropServices;
using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// The upcalls the hypercall layer makes into the kernel (struct rumpuser_hyperup). They find the
/// kernel through the calling thread's current lwp, so one table serves every kernel instance in
/// the process. Each boot hands the hypercall layer a table in unmanaged memory; the layer keeps
/// a pointer to the latest one, so tables are never freed (a few hundred bytes per boot).
/// </summary>
internal static unsafe class Hyperup
{
    /// <summary>Registers the upcalls with the hypercall layer (idempotent). Returns rumpuser_init's result.</summary>
    public static int Init()
    {
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
        return RumpUser.rumpuser_init(RumpUserConst.RUMPUSER_VERSION, h);
    }

    private static Lwp? Cur() => Lwp.FromHandle(RumpUser.rumpuser_curlwp());

    [UnmanagedCallersOnly]
    private static void Schedule()
    {
        Lwp? l = Cur();
        if (l != null && l.Cpu == null) l.Kernel.Sched.Schedule(l);
    }

    [UnmanagedCallersOnly]
    private static void Unschedule()
    {
        Lwp? l = Cur();
        if (l?.Cpu != null) l.Kernel.Sched.Unschedule(l);
    }

    /// <summary>A blocking hypercall is about to sleep: release the CPU if the thread holds one.</summary>
    [UnmanagedCallersOnly]
    private static void BackendUnschedule(int nlocks, int* countp, nint interlock)
    {
        if (countp != null) *countp = 0;
        Lwp? l = Cur();
        if (l?.Cpu == null) return;
        l.Kernel.Sched.Unschedule(l);
        l.UpcallUnscheduled = true;
    }

    [UnmanagedCallersOnly]
    private static void BackendSchedule(int nlocks, nint interlock)
    {
        Lwp? l = Cur();
        if (l == null || !l.UpcallUnscheduled) return;
        l.UpcallUnscheduled = false;
        l.Kernel.Sched.Schedule(l);
    }

    [UnmanagedCallersOnly]
    private static void LwprocSwitch(nint lp)
    {
        Lwp? l = Lwp.FromHandle(lp);
        if (l != null) l.Kernel.LwprocSwitch(l);
        else Cur()?.Kernel.LwprocSwitch(null);
    }

    [UnmanagedCallersOnly]
    private static void LwprocRelease() => Cur()?.Kernel.LwprocReleaselwp();

    [UnmanagedCallersOnly]
    private static int LwprocRfork(nint priv, int flags, byte* comm)
    {
        Lwp? l = Cur();
        return l == null ? Abi.EINVAL : l.Kernel.LwprocRfork(flags, comm == null ? "rfork" : new string((sbyte*)comm));
    }

    [UnmanagedCallersOnly]
    private static int LwprocNewlwp(int pid)
    {
        Lwp? l = Cur();
        return l == null ? Abi.EINVAL : l.Kernel.LwprocNewlwp(pid);
    }

    [UnmanagedCallersOnly]
    private static nint LwprocCurlwp() => RumpUser.rumpuser_curlwp();

    [UnmanagedCallersOnly]
    private static int Syscall(int num, nint arg, nint* retval)
    {
        Lwp? l = Cur();
        if (l == null) return Abi.EINVAL;
        SyscallArgs a = default;
        // The block holds exactly the call's register-sized arguments: copy no more than that.
        if (arg != 0)
            new System.ReadOnlySpan<long>((void*)arg, System.Math.Min(SyscallInfo.ArgCount(num), SyscallArgs.Max)).CopyTo(a);
        long rv = l.Kernel.Syscall(num, ref a, out int error);
        if (retval != null) *retval = (nint)rv;
        return error;
    }

    [UnmanagedCallersOnly]
    private static void Lwpexit() => Cur()?.Kernel.LwprocReleaselwp();

    [UnmanagedCallersOnly]
    private static void Execnotify(byte* comm) { }

    [UnmanagedCallersOnly]
    private static int Getpid() => Cur()?.Proc.Pid ?? -1;
}
