using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace Rump.Bench;

/// <summary>
/// Turns one run's outputs into bench/results: results.md (operation, host, rump, ratio, target)
/// and ratios.svg (a bar chart of the ratios drawn here, no tools needed), and puts results.md
/// into the README between its results markers. Inputs: BenchmarkDotNet's full JSON export,
/// boot_mem's and Rump.Bench.Instances' key=value lines, and run.sh's machine description.
/// Times are the median of the measured iterations (the machine is shared: medians resist
/// another engineer's build better than means).
/// </summary>
internal static class Report
{
    private const string Begin = "<!-- results:begin -->", End = "<!-- results:end -->";

    /// <summary>The pairs in table order: benchmark method prefix, parameters, label, target (max rump/host ratio).</summary>
    private static readonly (string Key, string Params, string Label, double? Target)[] Rows =
    [
        ("NullCall", "", "null C call, no kernel entered (reference: call overhead)", null),
        ("Getpid", "", "null system call (getpid)", 0.15),
        ("OpenClose", "", "open + close", 0.5),
        ("Stat", "", "stat", 0.5),
        ("Fstat", "", "fstat", null),
        ("Pread4K", "", "pread 4 KiB", 0.5),
        ("Pwrite4K", "", "pwrite 4 KiB", 0.5),
        ("Pread1M", "", "pread 1 MiB", null),
        ("Pwrite1M", "", "pwrite 1 MiB", null),
        ("CreateUnlink", "", "create + unlink", 0.5),
        ("MkdirRmdir", "", "mkdir + rmdir", null),
        ("Getdents1000", "", "getdents, 1,000 entries (open, read all, close)", null),
        ("Seq256M", "", "256 MiB sequential write, then read", null),
        ("OpenReadClose", "Threads=1", "open/read 4 KiB/close, 1 thread (time per op)", null),
        ("OpenReadClose", "Threads=2", "open/read 4 KiB/close, 2 threads (time per op)", null),
        ("OpenReadClose", "Threads=4", "open/read 4 KiB/close, 4 threads (time per op)", null),
    ];

    public static int Run(string[] args)
    {
        var opt = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2) opt[args[i].TrimStart('-')] = args[i + 1];
        string outDir = opt.GetValueOrDefault("out", "results");
        Directory.CreateDirectory(outDir);

        Dictionary<string, double> median = ReadBdn(opt.GetValueOrDefault("bdn", "results/bdn"), out string env, out DateTime when);
        Dictionary<string, string> kv = new();
        foreach (string key in new[] { "boot", "instances" })
            if (opt.TryGetValue(key, out string? f) && File.Exists(f)) ReadKv(f, kv);
        string machine = opt.TryGetValue("machine", out string? m) && File.Exists(m) ? File.ReadAllText(m).Trim() : "";

        var rows = new List<(string Label, double Host, double Rump, double? Target)>();
        foreach (var r in Rows)
            if (median.TryGetValue(r.Key + "_Host|" + r.Params, out double h) && median.TryGetValue(r.Key + "_Rump|" + r.Params, out double u))
                rows.Add((r.Label, h, u, r.Target));

        string md = Markdown(rows, median, kv, machine, env, when);
        File.WriteAllText(Path.Combine(outDir, "results.md"), md);
        File.WriteAllText(Path.Combine(outDir, "ratios.svg"), Svg(rows, "rump / host time per operation (log scale; left of 1× rump is faster; | = target)"));
        if (opt.TryGetValue("readme", out string? readme) && File.Exists(readme)) UpdateReadme(readme, md);
        Console.Write(md);
        return 0;
    }

    /// <summary>
    /// The remote configuration: bench_remote (latency of a call through rump_server against a unix
    /// ping-pong of the same sizes) and bench_remote_read (read of 1 GiB through librumpclient against
    /// host cat through a pipe), as remote.md and remote.svg (the same chart as ratios.svg).
    /// </summary>
    public static int RunRemote(string[] args)
    {
        var opt = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2) opt[args[i].TrimStart('-')] = args[i + 1];
        string outDir = opt.GetValueOrDefault("out", "results");
        Directory.CreateDirectory(outDir);
        Dictionary<string, string> kv = new();
        foreach (string key in new[] { "latency", "read" })
            if (opt.TryGetValue(key, out string? f) && File.Exists(f)) ReadKv(f, kv);
        double D(string k) => kv.TryGetValue(k, out string? v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : double.NaN;

        var rows = new List<(string Label, double Host, double Rump, double? Target)>();
        if (!double.IsNaN(D("getpid_remote_ns")))
            rows.Add(("null system call (getpid) against a unix ping-pong", D("getpid_pingpong_ns"), D("getpid_remote_ns"), 1.3));
        if (!double.IsNaN(D("pread4k_remote_ns")))
            rows.Add(("pread 4 KiB against a unix ping-pong of its sizes", D("pread4k_pingpong_ns"), D("pread4k_remote_ns"), null));
        double bytes = D("bytes");
        if (!double.IsNaN(D("remote_read_s")))
        {
            double blk = D("block");
            string bs = blk >= 1 << 20 ? F(blk / (1 << 20), 0) + " MiB" : F(blk / 1024, 0) + " KiB";
            rows.Add(($"read {F(bytes / (1 << 30), 0)} GiB in {bs} blocks against host cat through a pipe", D("host_cat_pipe_s") * 1e9, D("remote_read_s") * 1e9, null));
        }

        var sb = new StringBuilder();
        sb.AppendLine("### Remote clients (sysproxy): rump_server against the host");
        sb.AppendLine();
        if (opt.TryGetValue("machine", out string? m) && File.Exists(m)) { sb.AppendLine(File.ReadAllText(m).Trim()); sb.AppendLine(); }
        sb.AppendLine("Each pair measured in the same run (`bench/README.md`, \"Remote clients\"). Latency: `bench_remote`, a raw");
        sb.AppendLine("sysproxy client against a ping-pong of the same message sizes between two threads over a host unix");
        sb.AppendLine("socket, median of 5 runs. Throughput: `bench_remote_read`, a librumpclient program reading a file in");
        sb.AppendLine("the server's tmpfs against `cat` of the same bytes in a host file (page cache) read through a pipe,");
        sb.AppendLine("median of 3 runs. Ratio = remote / host: below 1 the remote side is faster.");
        sb.AppendLine();
        sb.AppendLine("| operation | host | remote | ratio | target |");
        sb.AppendLine("|---|---:|---:|---:|---|");
        foreach (var r in rows)
        {
            double ratio = r.Rump / r.Host;
            string t = r.Target is double lim ? $"≤ {F(lim, 2)}: " + (ratio <= lim ? "**met**" : "**missed**") : "";
            sb.AppendLine($"| {r.Label} | {Time(r.Host)} | {Time(r.Rump)} | {F(ratio, 2)} | {t} |");
        }
        if (!double.IsNaN(D("remote_read_mibs")))
        {
            sb.AppendLine();
            sb.AppendLine($"Throughput: remote read {F(D("remote_read_mibs"), 0)} MiB/s, host cat through a pipe {F(D("host_cat_pipe_mibs"), 0)} MiB/s " +
                          $"(writing the file remotely first: {F(bytes / (1 << 20) / D("remote_write_s"), 0)} MiB/s).");
        }
        sb.AppendLine();
        sb.AppendLine("![remote/host ratios](remote.svg)");
        File.WriteAllText(Path.Combine(outDir, "remote.md"), sb.ToString());
        File.WriteAllText(Path.Combine(outDir, "remote.svg"),
            Svg(rows, "remote / host time (log scale; left of 1× remote is faster; | = target)"));
        Console.Write(sb.ToString());
        return 0;
    }

    /// <summary>Median ns per operation by "Method|Parameters", newest export last so it wins.</summary>
    private static Dictionary<string, double> ReadBdn(string dir, out string env, out DateTime when)
    {
        var result = new Dictionary<string, double>();
        env = "";
        when = DateTime.UtcNow;
        string results = Directory.Exists(Path.Combine(dir, "results")) ? Path.Combine(dir, "results") : dir;
        foreach (string f in Directory.GetFiles(results, "*-report-full.json").OrderBy(File.GetLastWriteTimeUtc))
        {
            when = File.GetLastWriteTimeUtc(f);
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(f));
            JsonElement root = doc.RootElement;
            if (root.TryGetProperty("HostEnvironmentInfo", out JsonElement hi))
                env = $"{Str(hi, "ProcessorName")}, {Str(hi, "LogicalCoreCount")} logical cores, {Str(hi, "OsVersion")}, " +
                      $"{Str(hi, "RuntimeVersion")}, BenchmarkDotNet {Str(hi, "BenchmarkDotNetVersion")}";
            foreach (JsonElement b in root.GetProperty("Benchmarks").EnumerateArray())
            {
                if (!b.TryGetProperty("Statistics", out JsonElement st) || st.ValueKind != JsonValueKind.Object) continue;
                result[b.GetProperty("Method").GetString() + "|" + b.GetProperty("Parameters").GetString()] = st.GetProperty("Median").GetDouble();
            }
        }
        return result;
    }

    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) ? v.ToString() : "?";

    private static void ReadKv(string file, Dictionary<string, string> kv)
    {
        foreach (string line in File.ReadLines(file))
        {
            int eq = line.IndexOf('=');
            if (eq > 0) kv[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
    }

    private static double? Num(Dictionary<string, string> kv, string key) =>
        kv.TryGetValue(key, out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : null;

    private static string Time(double ns) =>
        ns < 1e3 ? F(ns, ns < 100 ? 1 : 0) + " ns" : ns < 1e6 ? F(ns / 1e3, ns < 1e4 ? 2 : 1) + " µs" : F(ns / 1e6, ns < 1e7 ? 2 : 1) + " ms";

    private static string F(double v, int digits) => v.ToString("F" + digits, CultureInfo.InvariantCulture);

    /// <summary>"met" or "missed: N× the target" for a measure that must stay at or below a limit.</summary>
    private static string Verdict(double value, double limit) =>
        value <= limit ? "**met**" : $"**missed** by {F((value / limit - 1) * 100, 1)} % ({F(value, value < 10 ? 3 : 0)} vs ≤ {F(limit, 2)})";

    private static string Markdown(List<(string Label, double Host, double Rump, double? Target)> rows,
        Dictionary<string, double> median, Dictionary<string, string> kv, string machine, string env, DateTime when)
    {
        var sb = new StringBuilder();
        sb.AppendLine("### Results: rump (C ABI) against the host kernel (libc)");
        sb.AppendLine();
        sb.AppendLine($"Run {when:yyyy-MM-dd HH:mm} UTC on {env}.");
        if (machine.Length > 0) sb.AppendLine(machine);
        sb.AppendLine();
        sb.AppendLine("Median time per operation. Both sides use the same paths, /dev/shm/rump-bench-PID/...: four components, crossing into the mounts on /dev and /dev/shm (the host's devtmpfs and tmpfs; two tmpfs mounted there in rump); " +
                      "both sides are called through function pointers from the same .NET process. Ratio = rump / host: below 1 rump is faster.");
        sb.AppendLine();
        sb.AppendLine("| operation | host | rump | ratio | target |");
        sb.AppendLine("|---|---:|---:|---:|---|");
        foreach (var r in rows)
        {
            double ratio = r.Rump / r.Host;
            string t = r.Target is double lim ? "≤ " + F(lim, 2) + ": " + Verdict(ratio, lim) : "";
            sb.AppendLine($"| {r.Label} | {Time(r.Host)} | {Time(r.Rump)} | {F(ratio, 3)} | {t} |");
        }
        sb.AppendLine();
        sb.AppendLine("![rump/host ratios](ratios.svg)");
        sb.AppendLine();

        // Scaling: throughput is the inverse of the time per operation over all threads.
        if (median.TryGetValue("OpenReadClose_Host|Threads=1", out double h1) && median.TryGetValue("OpenReadClose_Rump|Threads=1", out double r1))
        {
            sb.AppendLine("#### Scaling of the open/read/close loop");
            sb.AppendLine();
            sb.AppendLine("| threads | host ops/s | rump ops/s | host speed-up vs 1 thread | rump speed-up vs 1 thread |");
            sb.AppendLine("|---:|---:|---:|---:|---:|");
            foreach (int t in new[] { 1, 2, 4 })
                if (median.TryGetValue("OpenReadClose_Host|Threads=" + t, out double h) && median.TryGetValue("OpenReadClose_Rump|Threads=" + t, out double r))
                    sb.AppendLine($"| {t} | {F(1e9 / h / 1e3, 0)} k | {F(1e9 / r / 1e3, 0)} k | {F(h1 / h, 2)}× | {F(r1 / r, 2)}× |");
            sb.AppendLine();
        }

        sb.AppendLine("#### Bootstrap and memory");
        sb.AppendLine();
        sb.AppendLine("From `bench/c/boot_mem.c` (median of fresh processes; `linked`: librump.so linked as programs do, " +
                      "`dlopen`: loaded after the first measurement, so \"before\" has no trace of rump) and `Rump.Bench.Instances` " +
                      "(managed API, instances booted in one process, measured after a full compacting GC).");
        sb.AppendLine();
        sb.AppendLine("| kernel | measure | value | target |");
        sb.AppendLine("|---|---|---:|---|");
        // The targets are stated for base + vfs + tmpfs ("vt."); the default build is shown beside it.
        bool haveVt = kv.ContainsKey("vt.linked.rump_init_us");
        foreach ((string p, string name, bool judged) in new[] { ("vt.", "base + vfs + tmpfs", true), ("", "default: " + kv.GetValueOrDefault("components", "?"), !haveVt) })
        {
            string J(double v, double lim, string unit) => judged ? $"≤ {lim:F0} {unit}: {Verdict(v, lim)}" : $"(≤ {lim:F0} {unit})";
            if (Num(kv, p + "linked.rump_init_us") is double init)
                sb.AppendLine($"| {name} | rump_init() until it returns | {F(init, 0)} µs | {J(init, 1000, "µs")} |");
            if (Num(kv, p + "linked.spawn_to_main_us") is double s2m && Num(kv, p + "linked.rump_init_us") is double i2)
                sb.AppendLine($"| {name} | process start (posix_spawn) to kernel ready | {F(s2m + i2, 0)} µs (spawn, exec, load to main: {F(s2m, 0)} µs) | |");
            if (Num(kv, p + "linked.rss_before_kib") is double lb && Num(kv, p + "linked.rss_after_kib") is double la)
                sb.AppendLine($"| {name} | RSS before → after rump_init (linked) | {lb:F0} → {la:F0} KiB (+{la - lb:F0} KiB) | {J(la - lb, 2048, "KiB")} |");
            if (Num(kv, p + "dlopen.rss_before_kib") is double db && Num(kv, p + "dlopen.rss_loaded_kib") is double dl && Num(kv, p + "dlopen.rss_after_kib") is double da)
                sb.AppendLine($"| {name} | RSS without rump → dlopen → rump_init | {db:F0} → {dl:F0} → {da:F0} KiB (+{da - db:F0} KiB in all) | {J(da - db, 2048, "KiB")} |");
            if (Num(kv, p + "dlopen.dlopen_us") is double dlt)
                sb.AppendLine($"| {name} | dlopen(librump.so) | {F(dlt, 0)} µs | |");
        }
        if (Num(kv, "instances.rss_per_instance_kib") is double ri && Num(kv, "instances.heap_per_instance_kib") is double hi)
            sb.AppendLine($"| managed API, default components | each additional instance ({kv["instances.count"]} booted): RSS / managed heap | {F(ri, 1)} / {F(hi, 1)} KiB | ≤ 256 KiB: {Verdict(ri, 256)} |");
        sb.AppendLine();

        sb.AppendLine("#### Targets");
        sb.AppendLine();
        foreach (var r in rows.Where(r => r.Target != null))
            sb.AppendLine($"- {r.Label}: ratio ≤ {F(r.Target!.Value, 2)}: {Verdict(r.Rump / r.Host, r.Target.Value)}");
        if (median.TryGetValue("OpenReadClose_Host|Threads=2", out double h2) && median.TryGetValue("OpenReadClose_Rump|Threads=2", out double r2)
            && median.TryGetValue("OpenReadClose_Host|Threads=1", out double hh1) && median.TryGetValue("OpenReadClose_Rump|Threads=1", out double rr1))
        {
            double hs = hh1 / h2, rs = rr1 / r2;
            sb.AppendLine($"- 1 → 2 threads, rump's throughput grows at least as much as the host's: host {F(hs, 2)}×, rump {F(rs, 2)}×: " +
                          (rs >= hs ? "**met**" : $"**missed** (rump's gain is {F(rs / hs, 2)} of the host's)"));
        }
        sb.AppendLine();
        return sb.ToString();
    }

    /// <summary>Horizontal bars of rump/host on a log scale, with the host (1×) line and each target marked.</summary>
    private static string Svg(List<(string Label, double Host, double Rump, double? Target)> rows, string title)
    {
        const int labelW = 380, plotW = 440, rowH = 26, top = 40, bottom = 40;
        const double lo = 1.0 / 32, hi = 8;
        int h = top + rows.Count * rowH + bottom, w = labelW + plotW + 70;
        double X(double v) => labelW + plotW * (Math.Log2(Math.Clamp(v, lo, hi)) - Math.Log2(lo)) / (Math.Log2(hi) - Math.Log2(lo));
        var sb = new StringBuilder();
        sb.AppendLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">");
        sb.AppendLine($"<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>");
        sb.AppendLine($"<text x=\"{w / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>");
        for (double v = lo; v <= hi * 1.001; v *= 2)
        {
            double x = X(v);
            string label = v >= 1 ? F(v, 0) + "×" : "1/" + F(1 / v, 0);
            sb.AppendLine($"<line x1=\"{x:F1}\" y1=\"{top - 5}\" x2=\"{x:F1}\" y2=\"{h - bottom + 5}\" stroke=\"{(v == 1 ? "#000" : "#ddd")}\" stroke-width=\"{(v == 1 ? 1.5 : 1)}\"/>");
            sb.AppendLine($"<text x=\"{x:F1}\" y=\"{h - bottom + 20}\" text-anchor=\"middle\">{label}</text>");
        }
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            double ratio = r.Rump / r.Host, y = top + i * rowH;
            bool ok = r.Target is double lim ? ratio <= lim : ratio <= 1;
            string color = r.Target == null ? (ok ? "#7fa7d9" : "#d99a7f") : ok ? "#3a9d4a" : "#c9402f";
            double x0 = X(lo), x1 = X(ratio);
            sb.AppendLine($"<text x=\"{labelW - 8}\" y=\"{y + 16}\" text-anchor=\"end\">{Escape(r.Label)}</text>");
            sb.AppendLine($"<rect x=\"{x0:F1}\" y=\"{y + 5}\" width=\"{x1 - x0:F1}\" height=\"{rowH - 10}\" fill=\"{color}\"/>");
            sb.AppendLine($"<text x=\"{x1 + 4:F1}\" y=\"{y + 17}\">{F(ratio, ratio < 0.1 ? 3 : 2)}</text>");
            if (r.Target is double t)
                sb.AppendLine($"<line x1=\"{X(t):F1}\" y1=\"{y + 1}\" x2=\"{X(t):F1}\" y2=\"{y + rowH - 1}\" stroke=\"#000\" stroke-width=\"2\"/>");
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    private static void UpdateReadme(string readme, string md)
    {
        string text = File.ReadAllText(readme);
        int b = text.IndexOf(Begin, StringComparison.Ordinal), e = text.IndexOf(End, StringComparison.Ordinal);
        if (b < 0 || e < b) return;
        // The README lives in bench/, the results in bench/results/: re-point the chart.
        md = md.Replace("](ratios.svg)", "](results/ratios.svg)");
        File.WriteAllText(readme, text[..(b + Begin.Length)] + "\n" + md + text[e..]);
    }
}
