using System;
using System.Diagnostics;
using NUnit.Framework;
using Rump.FsFuzz;

namespace Rump.Tests;

/// <summary>
/// A bounded, seeded sample of the file-system fuzz harness (tools/fsfuzz/FuzzCore.cs, compiled in):
/// images made by the real tools, mutated in their metadata, mounted and walked. Any exception in a
/// driver panics the kernel and ends the run; a hang or a touched host file fails here with the seed
/// and iteration to reproduce with the harness. Each run starts with the target's known cases
/// (negative iterations: the mutations that once found bugs), which also run every fsu command.
/// The long run is in tools/fsfuzz/README.md.
/// </summary>
public class FuzzSampleTests
{
    private const long Seed = 20240601;
    private const int Iterations = 150;

    [TestCase("msdos")]
    [TestCase("fat16")]
    [TestCase("ext2fs")]
    [TestCase("ext4")]
    [TestCase("cd9660")]
    public void Mkfs_HostileImages_OnlyErrnos(string name)
    {
        FuzzTarget t = FuzzTarget.Find(name)!;
        if (!ImageMaker.ToolExists(ImageMaker.ToolFor(t))) Oracle.Missing(ImageMaker.ToolFor(t));
        if (t.FsType == "msdos" && !ImageMaker.ToolExists("mcopy")) Oracle.Missing("mcopy");
        using var run = new FuzzRun(t);
        var sw = Stopwatch.StartNew();
        int known = FuzzRun.KnownCases(t);
        Assert.That(known, Is.GreaterThan(0), "every target has known cases");
        FuzzSummary s = run.Run(Seed, -known, known + Iterations, TimeSpan.FromSeconds(10));
        TestContext.Out.WriteLine(name + ": " + s + " in " + sw.Elapsed.TotalSeconds.ToString("0.0") + " s");
        foreach (string n in s.Notes) TestContext.Out.WriteLine("note: " + n);
        Assert.That(s.Failures, Is.Empty, string.Join(Environment.NewLine, s.Failures));
        Assert.That(s.Iterations, Is.EqualTo(known + Iterations));
        Assert.That(s.Mounted, Is.GreaterThan(Iterations / 5), "most mutations should still mount, or the walk is not exercised");
    }
}
