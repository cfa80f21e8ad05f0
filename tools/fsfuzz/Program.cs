using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Threading;

namespace Rump.FsFuzz;

/// <summary>
/// The command line (README.md). With --fs all (or several targets) each target runs in a child
/// process of its own: a kernel panic aborts only that child, the parent names the iteration from
/// the child's "@iter N" lines, keeps the mutated image and the panic message, and starts a new
/// child at the next iteration.
/// </summary>
internal static class Program
{
    private static int Main(string[] argv)
    {
        string fs = "all";
        long seed = 1;
        int iterations = 1000, timeout = 10;
        int? start = null;
        int? only = null;
        bool child = false;
        string? save = null, crashDir = null;
        for (int i = 0; i < argv.Length; i++)
        {
            string a = argv[i];
            string Next() => i + 1 < argv.Length ? argv[++i] : throw new ArgumentException(a + " needs a value");
            try
            {
                switch (a)
                {
                    case "--fs": fs = Next(); break;
                    case "--seed": seed = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--iterations": iterations = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--start": start = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--only": only = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--timeout": timeout = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--save": save = Next(); break;
                    case "--crash-dir": crashDir = Next(); break;
                    case "--child": child = true; break;
                    case "-h": case "--help": Usage(Console.Out); return 0;
                    default: throw new ArgumentException("unknown argument " + a);
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                Console.Error.WriteLine("fsfuzz: " + e.Message);
                Usage(Console.Error);
                return 2;
            }
        }
        var targets = new List<FuzzTarget>();
        foreach (string n in (fs == "all" ? string.Join(",", Array.ConvertAll(FuzzTarget.All, t => t.Name)) : fs).Split(','))
        {
            FuzzTarget? t = FuzzTarget.Find(n);
            if (t == null) { Console.Error.WriteLine("fsfuzz: unknown file system '" + n + "'"); Usage(Console.Error); return 2; }
            targets.Add(t);
        }
        if (only != null) { start = only.Value; iterations = 1; }
        if (save != null)
        {
            using var run = new FuzzRun(targets[0]);
            int at = start ?? 0;
            File.WriteAllBytes(save, run.MutatedImage(seed, at, out string what));
            Console.WriteLine(targets[0].Name + " seed " + seed + " iteration " + at + ": " + what + " -> " + save);
            return 0;
        }
        // Without --start a run begins with the target's known cases (iterations -N..-1).
        int First(FuzzTarget t) => start ?? -FuzzRun.KnownCases(t);
        int Count(FuzzTarget t) => start == null ? iterations + FuzzRun.KnownCases(t) : iterations;
        if (child || targets.Count == 1 && only != null) return RunInProcess(targets[0], seed, First(targets[0]), Count(targets[0]), timeout, child);
        crashDir ??= Path.Combine(Directory.GetCurrentDirectory(), "fsfuzz-crashes");
        int rc = 0;
        foreach (FuzzTarget t in targets)
            if (Supervise(t, seed, First(t), Count(t), timeout, crashDir) != 0) rc = 1;
        return rc;
    }

    private static void Usage(TextWriter w)
    {
        w.WriteLine("usage: Rump.FsFuzz [--fs all|NAME[,NAME...]] [--iterations N] [--seed S] [--start I] [--timeout SECONDS]");
        w.WriteLine("       (without --start the known cases, iterations -N..-1, run first)");
        w.WriteLine("       Rump.FsFuzz --fs NAME --seed S --only I        rerun one iteration in this process");
        w.WriteLine("       Rump.FsFuzz --fs NAME --seed S --only I --save FILE   write that iteration's image");
        w.Write("targets:");
        foreach (FuzzTarget t in FuzzTarget.All) w.Write(" " + t.Name);
        w.WriteLine();
    }

    /// <summary>Runs iterations here; exit 0 clean, 1 failures, 3 hang.</summary>
    private static int RunInProcess(FuzzTarget t, long seed, int start, int count, int timeout, bool child)
    {
        using var run = new FuzzRun(t);
        if (child) run.Log = line => { Console.Out.WriteLine(line); Console.Out.Flush(); };
        else Console.WriteLine(t.Name + ": " + t.Description + "; image " + run.ImageSize + " bytes, " + run.MetadataSectors + " metadata sectors");
        if (!child && count == 1) { run.MutatedImage(seed, start, out string what); Console.WriteLine("iteration " + start + ": " + what); }
        var sw = Stopwatch.StartNew();
        FuzzSummary s = run.Run(seed, start, count, TimeSpan.FromSeconds(timeout));
        foreach (string n in s.Notes) Console.WriteLine("NOTE " + n);
        foreach (FuzzFailure f in s.Failures) Console.WriteLine("FAIL " + f);
        Console.WriteLine("DONE " + t.Name + ": " + s + " in " + sw.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s");
        Console.Out.Flush();
        bool hang = s.Failures.Exists(f => f.Kind == "HANG");
        // A hung kernel thread cannot be joined: leave without waiting for it.
        if (hang) Environment.Exit(3);
        return s.Failures.Count == 0 ? 0 : 1;
    }

    /// <summary>Runs a target in child processes until its iterations are done, restarting after each crash or hang.</summary>
    private static int Supervise(FuzzTarget t, long seed, int start, int count, int timeout, string crashDir)
    {
        int end = start + count, next = start, crashes = 0;
        var sw = Stopwatch.StartNew();
        Console.WriteLine("== " + t.Name + " (" + t.Description + "): iterations " + start + ".." + (end - 1) + ", seed " + seed);
        while (next < end)
        {
            var psi = new ProcessStartInfo(Environment.ProcessPath!)
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { "--child", "--fs", t.Name, "--seed", seed.ToString(CultureInfo.InvariantCulture),
                                         "--start", next.ToString(CultureInfo.InvariantCulture), "--iterations", (end - next).ToString(CultureInfo.InvariantCulture),
                                         "--timeout", timeout.ToString(CultureInfo.InvariantCulture) })
                psi.ArgumentList.Add(a);
            if (Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal)) psi.ArgumentList.Insert(0, typeof(Program).Assembly.Location);
            using Process p = Process.Start(psi)!;
            var err = new System.Text.StringBuilder();
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (err) err.AppendLine(e.Data); };
            p.BeginErrorReadLine();
            int last = next - 1;
            string? line;
            while ((line = p.StandardOutput.ReadLine()) != null)
            {
                if (line.StartsWith("@iter ", StringComparison.Ordinal))
                {
                    last = int.Parse(line.AsSpan(6), CultureInfo.InvariantCulture);
                    if (last % 1000 == 0 && last != next) Console.WriteLine("   " + t.Name + ": iteration " + last + " (" + sw.Elapsed.TotalSeconds.ToString("0", CultureInfo.InvariantCulture) + " s)");
                }
                else Console.WriteLine("   " + line);
            }
            p.WaitForExit();
            if (p.ExitCode is 0 or 1) { if (p.ExitCode == 1) crashes++; break; }
            crashes++;
            if (last < next)
            {
                lock (err) Console.WriteLine("FAIL " + t.Name + ": the child failed before its first iteration (exit " + p.ExitCode + "): " + Tail(err.ToString(), 6));
                break;
            }
            string kind = p.ExitCode == 3 ? "HANG" : "CRASH (exit " + p.ExitCode + ")";
            string saved = SaveCrash(t, seed, last, crashDir);
            string tail;
            lock (err) tail = Tail(err.ToString(), 6);
            Console.WriteLine("FAIL " + kind + " in " + t.Name + " at seed " + seed + " iteration " + last + "; image: " + saved);
            if (tail.Length > 0) Console.WriteLine("   stderr: " + tail.Replace("\n", "\n           "));
            Console.WriteLine("   reproduce: --fs " + t.Name + " --seed " + seed + " --only " + last);
            next = last + 1;
        }
        Console.WriteLine("== " + t.Name + ": " + (crashes == 0 ? "no failures" : crashes + " failing run(s)") + " in " + sw.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s");
        return crashes == 0 ? 0 : 1;
    }

    private static string SaveCrash(FuzzTarget t, long seed, int iteration, string crashDir)
    {
        Directory.CreateDirectory(crashDir);
        string path = Path.Combine(crashDir, t.Name + "-seed" + seed + "-iter" + iteration + ".img");
        using var run = new FuzzRun(t);
        File.WriteAllBytes(path, run.MutatedImage(seed, iteration, out _));
        return path;
    }

    private static string Tail(string s, int lines)
    {
        string[] l = s.TrimEnd().Split('\n');
        return string.Join("\n", l, Math.Max(0, l.Length - lines), Math.Min(lines, l.Length)).Trim();
    }
}
