using System;
using System.IO;
using System.Linq;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Csv;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace Rump.Bench;

/// <summary>
///   Rump.Bench [--quick] [--artifacts DIR] [BenchmarkDotNet args, e.g. --filter *Getpid*]
///       runs the benchmarks in this process (the in-process toolchain: librump.so is loaded
///       once and rump_init'ed once) and exports JSON, CSV and Markdown into DIR.
///   Rump.Bench report --bdn DIR --boot FILE --instances FILE --machine FILE --out DIR [--readme FILE]
///       writes results.md and ratios.svg from those exports (see Report).
///   Rump.Bench remote --latency FILE --read FILE --out DIR [--machine FILE]
///       writes remote.md and remote.svg from bench_remote's and bench_remote_read's key=value lines.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "report") return Report.Run(args[1..]);
        if (args.Length > 0 && args[0] == "remote") return Report.RunRemote(args[1..]);

        bool quick = args.Contains("--quick");
        string artifacts = Path.GetFullPath("results/bdn");
        int a = Array.IndexOf(args, "--artifacts");
        if (a >= 0 && a + 1 < args.Length) artifacts = Path.GetFullPath(args[a + 1]);
        string[] rest = args.Where((s, i) => s != "--quick" && !(a >= 0 && (i == a || i == a + 1))).ToArray();

        // Few, short iterations: the whole run must fit in about ten minutes on two cores.
        Job job = Job.Default
            .WithToolchain(new InProcessEmitToolchain(TimeSpan.FromMinutes(10), logOutput: true))
            .WithLaunchCount(1)
            .WithWarmupCount(quick ? 1 : 3)
            .WithIterationCount(quick ? 3 : 10)
            .WithIterationTime(TimeInterval.FromMilliseconds(quick ? 100 : 250))
            .WithId(quick ? "quick" : "bench");

        IConfig config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddColumn(StatisticColumn.Median)
            .AddLogger(ConsoleLogger.Default)
            .AddExporter(JsonExporter.Full, CsvExporter.Default, MarkdownExporter.GitHub)
            .WithArtifactsPath(artifacts)
            .WithOptions(ConfigOptions.JoinSummary);

        var summaries = BenchmarkSwitcher
            .FromTypes([typeof(SyscallBenchmarks), typeof(SequentialBenchmarks), typeof(ScalingBenchmarks)])
            .Run(rest.Length == 0 ? ["--filter", "*"] : rest, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
