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
/// </summary>
public sealed partial class Kernel
{
    private int _fault;

    /// <summary>Arms a one-shot fault at <paramref name="p"/> (None disarms).</summary>
    public void ArmFault(FaultPoint p) => Volatile.Write(ref _fault, (int)p);

    internal void MaybeFault(FaultPoint p)
    {
        if (Volatile.Read(ref _fault) == (int)p && Interlocked.CompareExchange(ref _fault, 0, (int)p) == (int)p)
            throw new InvalidOperationException("fault injected at " + p);
    }
}
