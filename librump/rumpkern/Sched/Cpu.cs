using System.Runtime.InteropServices;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// The per-CPU words the system-call path touches, one 128-byte slot per virtual CPU so that two
/// CPUs never share a cache line (false sharing made two threads slower than one). The words sit
/// in the second half of the slot: the array's header (read by every bounds check) shares the
/// first cache line with slot 0's first half.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct CpuSlot
{
    /// <summary>0 when free, 1 when some lwp runs on it. Taken with a compare-and-swap.</summary>
    [FieldOffset(64)] public int Busy;
    /// <summary>The running lwp's handle (0 when idle); written only by the holder.</summary>
    [FieldOffset(72)] public nint CurlwpHandle;
    [FieldOffset(80)] public long Nsyscall;
    [FieldOffset(88)] public long NcHits;
    [FieldOffset(96)] public long NcMisses;
    /// <summary>An idle implicit lwp kept for the next bare thread that takes this CPU (its handle; 0: none).
    /// Only the CPU's holder reads or writes it.</summary>
    [FieldOffset(104)] public nint SpareImplicit;
}

/// <summary>
/// A virtual CPU. A host thread runs kernel code only while it holds one; the number of virtual
/// CPUs bounds how many threads execute in the kernel at once, exactly as NetBSD's rump scheduler.
/// Its counters are written only by the lwp holding it, so they need no atomics.
/// </summary>
public sealed class Cpu
{
    public readonly int Index;
    private readonly Scheduler _sched;

    internal Cpu(Scheduler s, int index) { _sched = s; Index = index; }

    internal ref CpuSlot Slot => ref _sched.Slots[Index];

    /// <summary>The lwp running here.</summary>
    public Lwp? Curlwp => Lwp.FromHandle(Volatile.Read(ref Slot.CurlwpHandle));
    /// <summary>System calls entered on this CPU.</summary>
    public long Nsyscall => Volatile.Read(ref Slot.Nsyscall);
    /// <summary>Name-cache hits and misses counted here (NetBSD's per-CPU nchstats).</summary>
    public long NcHits => Volatile.Read(ref Slot.NcHits);
    public long NcMisses => Volatile.Read(ref Slot.NcMisses);
}
