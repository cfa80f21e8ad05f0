using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Rump.Bench;

/// <summary>
/// Host (baseline) against rump for each single-threaded operation; a pair shares a category,
/// so BenchmarkDotNet's Ratio column is rump / host. Methods are named Op_Host and Op_Rump:
/// the report pairs them by that name. Tiny calls repeat N times per invocation.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class SyscallBenchmarks
{
    private const int N = 16;
    private Kern _h = null!, _r = null!;

    [GlobalSetup]
    public void Setup()
    {
        _h = Kern.Host;
        _r = Kern.Rump;
    }

    [BenchmarkCategory("NullCall"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void NullCall_Host() => Ops.NullCall(_h, N);
    [BenchmarkCategory("NullCall"), Benchmark(OperationsPerInvoke = N)] public void NullCall_Rump() => Ops.NullCall(_r, N);

    [BenchmarkCategory("Getpid"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void Getpid_Host() => Ops.Getpid(_h, N);
    [BenchmarkCategory("Getpid"), Benchmark(OperationsPerInvoke = N)] public void Getpid_Rump() => Ops.Getpid(_r, N);

    [BenchmarkCategory("OpenClose"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void OpenClose_Host() => Ops.OpenClose(_h, N);
    [BenchmarkCategory("OpenClose"), Benchmark(OperationsPerInvoke = N)] public void OpenClose_Rump() => Ops.OpenClose(_r, N);

    [BenchmarkCategory("Stat"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void Stat_Host() => Ops.Stat(_h, N);
    [BenchmarkCategory("Stat"), Benchmark(OperationsPerInvoke = N)] public void Stat_Rump() => Ops.Stat(_r, N);

    [BenchmarkCategory("Fstat"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void Fstat_Host() => Ops.Fstat(_h, N);
    [BenchmarkCategory("Fstat"), Benchmark(OperationsPerInvoke = N)] public void Fstat_Rump() => Ops.Fstat(_r, N);

    [BenchmarkCategory("Pread4K"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void Pread4K_Host() => Ops.Pread(_h, _h.Fd4K, Kern.Size4K, N);
    [BenchmarkCategory("Pread4K"), Benchmark(OperationsPerInvoke = N)] public void Pread4K_Rump() => Ops.Pread(_r, _r.Fd4K, Kern.Size4K, N);

    [BenchmarkCategory("Pwrite4K"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void Pwrite4K_Host() => Ops.Pwrite(_h, _h.Fd4K, Kern.Size4K, N);
    [BenchmarkCategory("Pwrite4K"), Benchmark(OperationsPerInvoke = N)] public void Pwrite4K_Rump() => Ops.Pwrite(_r, _r.Fd4K, Kern.Size4K, N);

    [BenchmarkCategory("Pread1M"), Benchmark(Baseline = true)] public void Pread1M_Host() => Ops.Pread(_h, _h.Fd1M, Kern.Size1M, 1);
    [BenchmarkCategory("Pread1M"), Benchmark] public void Pread1M_Rump() => Ops.Pread(_r, _r.Fd1M, Kern.Size1M, 1);

    [BenchmarkCategory("Pwrite1M"), Benchmark(Baseline = true)] public void Pwrite1M_Host() => Ops.Pwrite(_h, _h.Fd1M, Kern.Size1M, 1);
    [BenchmarkCategory("Pwrite1M"), Benchmark] public void Pwrite1M_Rump() => Ops.Pwrite(_r, _r.Fd1M, Kern.Size1M, 1);

    [BenchmarkCategory("CreateUnlink"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void CreateUnlink_Host() => Ops.CreateUnlink(_h, N);
    [BenchmarkCategory("CreateUnlink"), Benchmark(OperationsPerInvoke = N)] public void CreateUnlink_Rump() => Ops.CreateUnlink(_r, N);

    [BenchmarkCategory("MkdirRmdir"), Benchmark(Baseline = true, OperationsPerInvoke = N)] public void MkdirRmdir_Host() => Ops.MkdirRmdir(_h, N);
    [BenchmarkCategory("MkdirRmdir"), Benchmark(OperationsPerInvoke = N)] public void MkdirRmdir_Rump() => Ops.MkdirRmdir(_r, N);

    [BenchmarkCategory("Getdents1000"), Benchmark(Baseline = true)] public int Getdents1000_Host() => Ops.Getdents(_h);
    [BenchmarkCategory("Getdents1000"), Benchmark] public int Getdents1000_Rump() => Ops.Getdents(_r);
}

/// <summary>256 MiB written then read back sequentially: a few hundred milliseconds an operation, so few iterations.</summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class SequentialBenchmarks
{
    private Kern _h = null!, _r = null!;

    [GlobalSetup]
    public void Setup()
    {
        _h = Kern.Host;
        _r = Kern.Rump;
    }

    [BenchmarkCategory("Seq256M"), Benchmark(Baseline = true)] public void Seq256M_Host() => Ops.Sequential256M(_h);
    [BenchmarkCategory("Seq256M"), Benchmark] public void Seq256M_Rump() => Ops.Sequential256M(_r);

    /// <summary>Frees the 256 MiB on both sides for the benchmarks that follow.</summary>
    [GlobalCleanup]
    public unsafe void Cleanup()
    {
        _h.Unlink(_h.Big);
        _r.Unlink(_r.Big);
    }
}
