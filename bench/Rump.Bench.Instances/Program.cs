using System;
using System.Collections.Generic;
using System.IO;
using Rump;

namespace Rump.Bench.Instances;

/// <summary>
///   Rump.Bench.Instances [count]
/// Boots one kernel (which also brings in the JIT'd code and the runtime's first-use costs),
/// then `count` more (default 100) kept alive in one process; after a full, compacting GC it
/// prints, per additional instance, the growth of the resident set and of the managed heap as
/// key=value lines.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        int count = args.Length > 0 ? int.Parse(args[0]) : 100;
        var kernels = new List<RumpKernel>(count + 1);

        (long rss0, long heap0) = Measure();
        kernels.Add(Ready(RumpKernel.Boot()));
        (long rss1, long heap1) = Measure();
        for (int i = 0; i < count; i++) kernels.Add(Ready(RumpKernel.Boot()));
        (long rss2, long heap2) = Measure();

        Console.WriteLine("instances.count=" + count);
        Console.WriteLine("instances.first_rss_kib=" + (rss1 - rss0) / 1024);
        Console.WriteLine("instances.first_heap_kib=" + (heap1 - heap0) / 1024);
        Console.WriteLine("instances.rss_per_instance_kib=" + ((rss2 - rss1) / 1024.0 / count).ToString("F1"));
        Console.WriteLine("instances.heap_per_instance_kib=" + ((heap2 - heap1) / 1024.0 / count).ToString("F1"));
        Console.WriteLine("instances.rss_total_kib=" + rss2 / 1024);
        GC.KeepAlive(kernels);
        return 0;
    }

    /// <summary>A booted kernel that has served a system call (so it is ready, not just allocated).</summary>
    private static RumpKernel Ready(RumpKernel k)
    {
        if (k.Getpid() <= 0) throw new InvalidOperationException("getpid failed on a new kernel");
        return k;
    }

    /// <summary>Resident bytes (VmRSS) and live managed bytes, after a full blocking, compacting GC.</summary>
    private static (long rss, long heap) Measure()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        long rss = 0;
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim()) * 1024;
        return (rss, heap);
    }
}
