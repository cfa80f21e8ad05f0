namespace Rump.Kern;

/// <summary>
/// A virtual CPU. A host thread runs kernel code only while it holds one; the number of virtual
/// CPUs bounds how many threads execute in the kernel at once, exactly as NetBSD's rump scheduler.
/// </summary>
public sealed class Cpu
{
    public readonly int Index;
    /// <summary>0 when free, 1 when some lwp runs on it. Changed only with interlocked operations.</summary>
    internal int Busy;
    /// <summary>The lwp running here; written only by the holder.</summary>
    public Lwp? Curlwp { get; internal set; }
    /// <summary>System calls entered on this CPU (a per-CPU counter, no atomics: only the holder writes).</summary>
    public long Nsyscall;

    internal Cpu(int index) { Index = index; }
}
