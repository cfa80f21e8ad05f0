using System.Threading;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Rump.Bench;

/// <summary>
/// The open/read(4 KiB)/close loop from 1, 2 and 4 threads. Every invocation does Total
/// operations split evenly over the threads (each on its own file), so the time per operation
/// is the inverse of the aggregate throughput. Threads are made once per case and released by
/// a barrier each invocation; the benchmark thread is thread 0.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ScalingBenchmarks
{
    private const int Total = 4096;

    [Params(1, 2, 4)] public int Threads;

    private Kern _k = null!;
    private Barrier _barrier = null!;
    private Thread[] _workers = [];
    private volatile bool _stop;

    [GlobalSetup(Targets = [nameof(OpenReadClose_Host)])] public void SetupHost() => Start(Kern.Host);
    [GlobalSetup(Targets = [nameof(OpenReadClose_Rump)])] public void SetupRump() { _ = Kern.Host; Start(Kern.Rump); }

    private void Start(Kern k)
    {
        _k = k;
        _stop = false;
        _barrier = new Barrier(Threads);
        _workers = new Thread[Threads - 1];
        for (int t = 1; t < Threads; t++)
        {
            int id = t;
            _workers[t - 1] = new Thread(() => Worker(id)) { IsBackground = true, Name = "bench-" + id };
            _workers[t - 1].Start();
        }
    }

    private void Worker(int t)
    {
        while (true)
        {
            _barrier.SignalAndWait();
            if (_stop) return;
            Ops.OpenReadClose(_k, t, Total / Threads);
            _barrier.SignalAndWait();
        }
    }

    private void Run()
    {
        _barrier.SignalAndWait();
        Ops.OpenReadClose(_k, 0, Total / Threads);
        _barrier.SignalAndWait();
    }

    [BenchmarkCategory("OpenReadClose"), Benchmark(Baseline = true, OperationsPerInvoke = Total)] public void OpenReadClose_Host() => Run();
    [BenchmarkCategory("OpenReadClose"), Benchmark(OperationsPerInvoke = Total)] public void OpenReadClose_Rump() => Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop = true;
        _barrier.SignalAndWait();
        foreach (Thread w in _workers) w.Join();
        _barrier.Dispose();
    }
}
