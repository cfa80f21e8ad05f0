using System;
using System.Threading;

namespace Rump.Kern;

/// <summary>Where a test can make kernel code throw, to prove that the entry point contains it.</summary>
public enum FaultPoint
{
    None = 0,
    /// <summary>The next hypervisor upcall (struct rumpuser_hyperup) into this kernel.</summary>
    Upcall,
    /// <summary>The next kernel thread to start, before its body.</summary>
    Kthread,
    /// <summary>The next block I/O completion, in interrupt context.</summary>
    Biodone,
    /// <summary>The next C ABI entry other than a system call (rump_pub_*, rump_syscall).</summary>
    Export,
    /// <summary>The next soft interrupt handler.</summary>
    Softint,
}

/// <summary>
/// Test-only fault injection (in the spirit of NetBSD's debug.crashme): a one-shot fault armed at
/// a point throws there, inside kernel code, the next time that point is reached. Each point costs
/// one read of <see cref="_fault"/>; the system-call path has none (a test handler throws there).
///
/// A kernel booted with the parameter RUMP_CRASHME=1 (tests only) also has sysctl nodes for C
/// callers: writing debug.crashme.panic panics the kernel, writing a <see cref="FaultPoint"/>
/// number to debug.crashme.fault arms that fault. RUMP_CRASHME_FAULT=&lt;point name&gt; arms one at
/// boot, for tools that cannot reach sysctl (fsu).
/// </summary>
public sealed partial class Kernel
{
    private int _fault;

    /// <summary>Arms a one-shot fault at <paramref name="p"/> (None disarms).</summary>
    public void ArmFault(FaultPoint p) => Volatile.Write(ref _fault, (int)p);

    /// <summary>The crashme nodes and the boot-time fault (see the type's comment); nothing without RUMP_CRASHME=1.</summary>
    private void AttachCrashme()
    {
        if (Param.Get("RUMP_CRASHME") != "1") return;
        Sysctl.Node? debug = Sysctl.FindByName("debug");
        if (debug == null && Sysctl.CreateNode(null, "debug", out debug, Abi.CTL_DEBUG) != 0) return;
        if (Sysctl.CreateNode(debug, "crashme", out Sysctl.Node? cm) != 0) return;
        Sysctl.CreateInt(cm, "panic", 0, out _, flags: Abi.CTLFLAG_READWRITE,
            write: v => v == 0 ? 0 : PanicCrashme());
        Sysctl.CreateInt(cm, "fault", 0, out _, flags: Abi.CTLFLAG_READWRITE,
            write: v => { if (v < 0 || v > (int)FaultPoint.Softint) return Abi.EINVAL; ArmFault((FaultPoint)v); return 0; });
        if (System.Enum.TryParse(Param.Get("RUMP_CRASHME_FAULT"), ignoreCase: true, out FaultPoint at)) ArmFault(at);
    }

    private int PanicCrashme() => throw new KernelPanicException(PanicWith("crashme: debug.crashme.panic written"));

    /// <summary>A fault is armed at <paramref name="p"/> (a path that would skip that point takes the one that has it).</summary>
    internal bool FaultArmed(FaultPoint p) => Volatile.Read(ref _fault) == (int)p;

    internal void MaybeFault(FaultPoint p)
    {
        if (Volatile.Read(ref _fault) == (int)p && Interlocked.CompareExchange(ref _fault, 0, (int)p) == (int)p)
            throw new InvalidOperationException("fault injected at " + p);
    }
}
