using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using NUnit.Framework;
using Rump.Fsu;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// tools/fsu run in-process (Fsu.Run) against images made by the real tools (mkfs.fat + mtools,
/// mke2fs -d + debugfs + e2fsck, xorriso, sfdisk); every test that needs one says so in its name
/// and fails, naming the tool and its package, when it is missing.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class FsuTests
{
    private string _dir = null!;
    private string _tree = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rump-fsu-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _tree = Path.Combine(_dir, "tree");
        MakeTree(_tree);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static readonly DateTime Mtime = new(2021, 6, 15, 10, 20, 30, DateTimeKind.Utc);

    /// <summary>Files, directories, a long and a non-ASCII name, an empty and a 1 MiB file (symbolic links added per test).</summary>
    private static void MakeTree(string t)
    {
        var rnd = new Random(42);
        void F(string rel, int size)
        {
            string p = Path.Combine(t, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            byte[] b = new byte[size];
            rnd.NextBytes(b);
            File.WriteAllBytes(p, b);
            File.SetLastWriteTimeUtc(p, Mtime);
        }
        F("hello.txt", 13);
        F("empty", 0);
        F("big.bin", 1 << 20);
        F("docs/a long file name with spaces.txt", 5000);
        F("docs/ünïcödé.txt", 77);
        F("docs/deep/er/est.dat", 4097);
        File.SetUnixFileMode(Path.Combine(t, "hello.txt"), (UnixFileMode)Convert.ToInt32("750", 8));
        Directory.SetLastWriteTimeUtc(Path.Combine(t, "docs"), Mtime);
    }

    private void AddLinks()
    {
        File.CreateSymbolicLink(Path.Combine(_tree, "link"), "hello.txt");
        File.CreateSymbolicLink(Path.Combine(_tree, "docs/up"), "../docs/deep");
        Directory.SetLastWriteTimeUtc(Path.Combine(_tree, "docs"), Mtime);
    }

    // ---- running tools ----

    private static (int rc, string stdout, string stderr) Fsu(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = Rump.Fsu.Fsu.Run(args, o, e);
        return (rc, o.ToString(), e.ToString());
    }

    private static byte[] Cat(string image, string path)
    {
        var ms = new MemoryStream();
        var w = new StreamWriter(ms);
        var e = new StringWriter();
        int rc = Rump.Fsu.Fsu.Run(new[] { "cat", image, path }, w, e);
        Assert.That(rc, Is.EqualTo(0), "fsu cat " + path + ": " + e);
        w.Flush();
        return ms.ToArray();
    }

    private static void Ok((int rc, string stdout, string stderr) r, string what) =>
        Assert.That(r.rc, Is.EqualTo(0), what + " failed: " + r.stderr);

    /// <summary>Runs a host tool; ignores the test when it is not installed.</summary>
    private static (int rc, string stdout, string stderr) Tool(string name, params string[] args)
    {
        var psi = new ProcessStartInfo(name) { RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = Encoding.UTF8 };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["MTOOLS_SKIP_CHECK"] = "1";
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { Oracle.Missing(name); throw; }
        string o = p.StandardOutput.ReadToEnd(), e = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, o, e);
    }

    /// <summary>
    /// A driver bug (an exception injected into the first block I/O completion, through the
    /// test-only RUMP_CRASHME parameters) panics the image's kernel: the real fsu binary reports
    /// the panic and exits with status 1 instead of aborting, and prints nothing as if it worked.
    /// </summary>
    [Test]
    public void ADriverPanicEndsFsuWithStatusOneAndThePanicMessage()
    {
        string fsu = Environment.GetEnvironmentVariable("RUMP_FSU_BIN") ?? "";
        if (!File.Exists(fsu)) Assert.Fail("RUMP_FSU_BIN does not name the built fsu (ctest sets it to build/bin/fsu): '" + fsu + "'");
        string img = FatImage();
        var psi = new ProcessStartInfo(fsu) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("ls");
        psi.ArgumentList.Add(img);
        psi.ArgumentList.Add("/");
        psi.Environment["RUMP_CRASHME"] = "1";
        psi.Environment["RUMP_CRASHME_FAULT"] = "Biodone";
        using Process p = Process.Start(psi)!;
        string o = p.StandardOutput.ReadToEnd(), e = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(1), "fsu's exit status after the kernel panicked (stderr: " + e + ")");
        Assert.That(e, Does.Contain("the kernel panicked").And.Contain("fault injected at Biodone"), "fsu's report");
        Assert.That(o, Does.Not.Contain("hello.txt"), "fsu listed the image although its kernel had panicked");
    }

    private string FatImage(string name = "fat.img", int kb = 8192)
    {
        string img = Path.Combine(_dir, name);
        Assert.That(Tool("mkfs.fat", "-C", img, kb.ToString()).rc, Is.EqualTo(0), "mkfs.fat");
        var args = new List<string> { "-s", "-p", "-m", "-i", img };
        args.AddRange(Directory.GetFileSystemEntries(_tree).Where(p => new FileInfo(p).LinkTarget == null));
        args.Add("::/");
        var r = Tool("mcopy", args.ToArray());
        Assert.That(r.rc, Is.EqualTo(0), "mcopy: " + r.stderr);
        return img;
    }

    private string Ext2Image(string name = "ext2.img")
    {
        string img = Path.Combine(_dir, name);
        var r = Tool("mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-d", _tree, img, "8M");
        Assert.That(r.rc, Is.EqualTo(0), "mke2fs: " + r.stderr);
        return img;
    }

    private string IsoImage()
    {
        string img = Path.Combine(_dir, "cd.iso");
        var r = Tool("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", img, _tree);
        Assert.That(r.rc, Is.EqualTo(0), "xorriso: " + r.stderr);
        return img;
    }

    private static List<string> Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();

    /// <summary>Every path under a host directory, relative, '/'-separated, sorted.</summary>
    private static List<string> HostPaths(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => "/" + Path.GetRelativePath(root, p).Replace('\\', '/')).OrderBy(p => p, StringComparer.Ordinal).ToList();

    /// <summary>Asserts two host trees are the same: names, types, bytes, link targets.</summary>
    private static void AssertSameTree(string expected, string actual, bool ignoreLostFound = false)
    {
        var a = HostPaths(expected);
        var b = HostPaths(actual).Where(p => !(ignoreLostFound && p == "/lost+found")).ToList();
        Assert.That(b, Is.EqualTo(a), "names");
        foreach (string rel in a)
        {
            string pe = expected + rel, pa = actual + rel;
            var fe = new FileInfo(pe);
            var fa = new FileInfo(pa);
            if (fe.LinkTarget != null) { Assert.That(fa.LinkTarget, Is.EqualTo(fe.LinkTarget), rel); continue; }
            if (Directory.Exists(pe)) { Assert.That(Directory.Exists(pa), rel + " is a directory"); continue; }
            Assert.That(File.ReadAllBytes(pa), Is.EqualTo(File.ReadAllBytes(pe)), rel + " bytes");
        }
    }

    // ---- listing and reading ----

    [Test]
    public void Mtools_LsRecursive_MatchesMdir()
    {
        string img = FatImage();
        var r = Fsu("find", img, "/");
        Ok(r, "fsu find");
        var mdir = Tool("mdir", "-b", "-/", "-i", img, "::/");
        Assert.That(mdir.rc, Is.EqualTo(0), mdir.stderr);
        var expected = Lines(mdir.stdout).Select(l => l.Substring(2).TrimEnd('/')).OrderBy(p => p, StringComparer.Ordinal).ToList();
        var got = Lines(r.stdout).Where(p => p != "/").OrderBy(p => p, StringComparer.Ordinal).ToList();
        Assert.That(got, Is.EqualTo(expected));
        var ls = Fsu("ls", img);
        Ok(ls, "fsu ls");
        Assert.That(Lines(ls.stdout), Is.EqualTo(new[] { "big.bin", "docs", "empty", "hello.txt" }));
    }

    [Test]
    public void Debugfs_Ls_MatchesDebugfsListing()
    {
        AddLinks();
        string img = Ext2Image();
        foreach (string dir in new[] { "/", "/docs", "/docs/deep/er" })
        {
            var d = Tool("debugfs", "-R", "ls -p " + dir, img);
            Assert.That(d.rc, Is.EqualTo(0), d.stderr);
            // /ino/mode/uid/gid/name/size/
            var expected = Lines(d.stdout).Select(l => l.Split('/')).Where(f => f.Length > 5 && f[5] != "." && f[5] != "..")
                .Select(f => f[5]).OrderBy(n => n, StringComparer.Ordinal).ToList();
            var r = Fsu("ls", "-a", img, dir);
            Ok(r, "fsu ls -a " + dir);
            Assert.That(Lines(r.stdout).Where(n => n != "." && n != "..").ToList(), Is.EqualTo(expected), dir);
        }
        var l = Fsu("ls", "-l", img, "/link", "/hello.txt");
        Ok(l, "fsu ls -l");
        Assert.That(l.stdout, Does.Contain("-rwxr-x--- ").And.Contain("/link -> hello.txt"));
        Assert.That(l.stdout, Does.Contain(Mtime.ToLocalTime().ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Test]
    public void Mkfs_Cat_BytesMatchOnEveryFileSystem()
    {
        string fat = FatImage(), ext2 = Ext2Image(), iso = IsoImage();
        foreach (string img in new[] { fat, ext2, iso })
            foreach (string rel in new[] { "/hello.txt", "/big.bin", "/empty", "/docs/deep/er/est.dat", "/docs/ünïcödé.txt" })
                Assert.That(Cat(img, rel), Is.EqualTo(File.ReadAllBytes(_tree + rel)), Path.GetFileName(img) + rel);
    }

    [Test]
    public void Mkfs_Probe_NamesEachType()
    {
        Assert.That(Fsu("probe", FatImage()).stdout.Trim(), Is.EqualTo("msdos"));
        Assert.That(Fsu("probe", Ext2Image()).stdout.Trim(), Is.EqualTo("ext2fs"));
        Assert.That(Fsu("probe", IsoImage()).stdout.Trim(), Is.EqualTo("cd9660"));
    }

    // ---- copying out ----

    [Test]
    public void Mke2fs_CpRecursiveOut_EqualsTheSourceTree_WithModesAndTimes()
    {
        AddLinks();
        string img = Ext2Image();
        string outDir = Path.Combine(_dir, "out");
        Ok(Fsu("cp", "-rp", img, "/", outDir), "fsu cp -rp");
        AssertSameTree(_tree, outDir, ignoreLostFound: true);
        Assert.That(File.GetUnixFileMode(Path.Combine(outDir, "hello.txt")), Is.EqualTo((UnixFileMode)Convert.ToInt32("750", 8)));
        Assert.That(File.GetLastWriteTimeUtc(Path.Combine(outDir, "big.bin")), Is.EqualTo(Mtime));
        Assert.That(Directory.GetLastWriteTimeUtc(Path.Combine(outDir, "docs")), Is.EqualTo(Mtime));
        Assert.That(Fsu("diff", img, "/docs", Path.Combine(_tree, "docs")).rc, Is.EqualTo(0), "diff of equal trees");
    }

    [Test]
    public void Xorriso_CpOut_IntoExistingDirectory()
    {
        string img = IsoImage();
        string outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(outDir);
        Ok(Fsu("cp", img, "/hello.txt", "/big.bin", outDir), "fsu cp two files into a directory");
        Assert.That(File.ReadAllBytes(Path.Combine(outDir, "big.bin")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_tree, "big.bin"))));
        Ok(Fsu("cp", "-r", img, "/docs", outDir), "fsu cp -r /docs");
        AssertSameTree(Path.Combine(_tree, "docs"), Path.Combine(outDir, "docs"));
        var r = Fsu("cp", img, "/docs", Path.Combine(_dir, "x"));
        Assert.That(r.rc, Is.EqualTo(1), "a directory without -r");
        Assert.That(r.stderr, Does.Contain("/docs: Is a directory"));
    }

    // ---- writing ----

    [Test]
    public void Mtools_Put_VerifiedByMtypeAndFsckFat()
    {
        string img = FatImage("put.img");
        Ok(Fsu("mkdir", "-p", img, "/new/sub"), "fsu mkdir -p");
        Ok(Fsu("put", "-r", img, Path.Combine(_tree, "docs"), Path.Combine(_tree, "big.bin"), "/new/sub"), "fsu put -r");
        foreach (string rel in new[] { "/big.bin", "/docs/a long file name with spaces.txt", "/docs/deep/er/est.dat" })
        {
            var m = Tool("mtype", "-i", img, "::/new/sub" + rel);
            Assert.That(m.rc, Is.EqualTo(0), "mtype " + rel + ": " + m.stderr);
            var psi = new ProcessStartInfo("mtype") { RedirectStandardOutput = true };
            foreach (string a in new[] { "-i", img, "::/new/sub" + rel }) psi.ArgumentList.Add(a);
            psi.Environment["MTOOLS_SKIP_CHECK"] = "1";
            using var p = Process.Start(psi)!;
            var ms = new MemoryStream();
            p.StandardOutput.BaseStream.CopyTo(ms);
            p.WaitForExit();
            Assert.That(ms.ToArray(), Is.EqualTo(File.ReadAllBytes(_tree + rel)), "mtype " + rel);
        }
        var fsck = Tool("fsck.fat", "-n", img);
        Assert.That(fsck.rc, Is.EqualTo(0), "fsck.fat: " + fsck.stdout + fsck.stderr);
    }

    [Test]
    public void Debugfs_PutPreserving_VerifiedByDebugfsAndE2fsck()
    {
        AddLinks();
        string img = Ext2Image();
        File.WriteAllText(Path.Combine(_dir, "extra.txt"), "extra bytes\n");
        Ok(Fsu("put", "-rp", img, _tree, "/copy"), "fsu put -rp");
        Ok(Fsu("put", img, Path.Combine(_dir, "extra.txt"), "/"), "fsu put one file into /");
        var cat = Tool("debugfs", "-R", "cat /copy/docs/deep/er/est.dat", img);
        Assert.That(Encoding.UTF8.GetBytes(cat.stdout).Length, Is.GreaterThan(0));
        Assert.That(Cat(img, "/extra.txt"), Is.EqualTo(Encoding.UTF8.GetBytes("extra bytes\n")));
        var st = Tool("debugfs", "-R", "stat /copy/hello.txt", img).stdout;
        Assert.That(st, Does.Contain("Mode:  0750"));
        long epoch = new DateTimeOffset(Mtime).ToUnixTimeSeconds();
        Assert.That(st, Does.Contain("mtime: 0x" + epoch.ToString("x8")));
        var link = Tool("debugfs", "-R", "stat /copy/link", img).stdout;
        Assert.That(link, Does.Contain("Fast link dest: \"hello.txt\""));
        var fsck = Tool("e2fsck", "-fn", img);
        Assert.That(fsck.rc, Is.EqualTo(0), "e2fsck: " + fsck.stdout + fsck.stderr);
        string outDir = Path.Combine(_dir, "back");
        Ok(Fsu("cp", "-r", img, "/copy", outDir), "fsu cp -r back out");
        AssertSameTree(_tree, outDir);
    }

    [Test]
    public void Debugfs_RmMvMkdir_ThenE2fsckClean()
    {
        string img = Ext2Image();
        Ok(Fsu("mv", img, "/hello.txt", "/docs"), "fsu mv into a directory");
        Ok(Fsu("mv", img, "/big.bin", "/renamed.bin"), "fsu mv rename");
        Ok(Fsu("rm", "-r", img, "/docs/deep"), "fsu rm -r");
        Ok(Fsu("mkdir", img, "/made"), "fsu mkdir");
        var r = Fsu("rm", img, "/docs");
        Assert.That(r.rc, Is.EqualTo(1));
        Assert.That(r.stderr, Does.EndWith("/docs: Is a directory" + Environment.NewLine));
        Assert.That(Fsu("rm", "-f", img, "/not-there").rc, Is.EqualTo(0), "rm -f of a missing name");
        var d = Tool("debugfs", "-R", "ls -p /docs", img).stdout;
        Assert.That(d, Does.Contain("/hello.txt/").And.Not.Contain("/deep/"));
        Assert.That(Tool("debugfs", "-R", "ls -p /", img).stdout, Does.Contain("/renamed.bin/").And.Contain("/made/").And.Not.Contain("/big.bin/"));
        var fsck = Tool("e2fsck", "-fn", img);
        Assert.That(fsck.rc, Is.EqualTo(0), "e2fsck: " + fsck.stdout + fsck.stderr);
    }

    [Test]
    public void Mke2fs_Find_NameAndType()
    {
        AddLinks();
        string img = Ext2Image();
        var r = Fsu("find", img, "/docs", "-name", "*.txt");
        Ok(r, "fsu find -name");
        Assert.That(Lines(r.stdout), Is.EqualTo(new[] { "/docs/a long file name with spaces.txt", "/docs/ünïcödé.txt" }));
        Assert.That(Lines(Fsu("find", img, "-type", "l").stdout), Is.EqualTo(new[] { "/docs/up", "/link" }));
        Assert.That(Lines(Fsu("find", img, "/docs", "-type", "d").stdout), Is.EqualTo(new[] { "/docs", "/docs/deep", "/docs/deep/er" }));
        Assert.That(Lines(Fsu("find", img, "-name", "e[ms]?*", "-type", "f").stdout), Is.EqualTo(new[] { "/docs/deep/er/est.dat", "/empty" }));
    }

    [Test]
    public void Mke2fs_StatDfDiff()
    {
        string img = Ext2Image();
        var s = Fsu("stat", img, "/hello.txt");
        Ok(s, "fsu stat");
        Assert.That(s.stdout, Does.Contain("Size: 13").And.Contain("(0750/-rwxr-x---)").And.Contain("Modify: 2021-06-15 10:20:30"));
        var df = Fsu("df", img);
        Ok(df, "fsu df");
        Assert.That(df.stdout, Does.Contain("ext2fs"));
        File.WriteAllText(Path.Combine(_tree, "docs/deep/er/est.dat"), "changed");
        File.WriteAllText(Path.Combine(_tree, "docs/new.txt"), "new");
        var d = Fsu("diff", img, "/docs", Path.Combine(_tree, "docs"));
        Assert.That(d.rc, Is.EqualTo(1));
        Assert.That(d.stdout, Does.Contain("est.dat and").And.Contain("differ").And.Contain("Only in " + Path.Combine(_tree, "docs") + ": new.txt"));
    }

    // ---- partitions ----

    [Test]
    public void Sfdisk_FatPartition_AtPart()
    {
        string img = Path.Combine(_dir, "disk.img");
        using (var f = new FileStream(img, FileMode.Create)) f.SetLength(24 << 20);
        var psi = new ProcessStartInfo("sfdisk", "-q " + img) { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true };
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { Oracle.Missing("sfdisk"); return; }
        p.StandardInput.Write("label: dos\n,8M,c\n,,83\n");
        p.StandardInput.Close();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0), "sfdisk");
        // The first partition starts at 1 MiB (sector 2048).
        Assert.That(Tool("mkfs.fat", "--offset", "2048", img, "8192").rc, Is.EqualTo(0), "mkfs.fat --offset");
        Assert.That(Tool("mcopy", "-i", img + "@@1M", Path.Combine(_tree, "hello.txt"), "::/").rc, Is.EqualTo(0), "mcopy @@1M");
        Ok(Fsu("put", img + "@a", Path.Combine(_tree, "big.bin"), "/"), "fsu put into partition a");
        Assert.That(Lines(Fsu("ls", img + "@a").stdout), Is.EqualTo(new[] { "big.bin", "hello.txt" }));
        Assert.That(Cat(img + "@a", "/big.bin"), Is.EqualTo(File.ReadAllBytes(Path.Combine(_tree, "big.bin"))));
        var probe = Fsu("probe", img);
        Assert.That(probe.stdout, Does.StartWith("a: msdos"));
        var none = Fsu("ls", img + "@c");
        Assert.That(none.rc, Is.EqualTo(1));
        Assert.That(none.stderr, Does.Contain("no partition 'c'"));
        var whole = Fsu("ls", img);
        Assert.That(whole.rc, Is.EqualTo(1));
        Assert.That(whole.stderr, Does.Contain("unknown file system"));
    }

    // ---- errors and usage ----

    [Test]
    public void Errors_AndExitCodes()
    {
        string img = Ext2Image();
        var r = Fsu("ls", Path.Combine(_dir, "missing.img"));
        Assert.That(r.rc, Is.EqualTo(1));
        Assert.That(r.stderr, Is.EqualTo("fsu: " + Path.Combine(_dir, "missing.img") + ": No such file or directory" + Environment.NewLine));
        r = Fsu("cat", img, "/nope");
        Assert.That(r.rc, Is.EqualTo(1));
        Assert.That(r.stderr, Is.EqualTo("fsu: " + img + ": /nope: No such file or directory" + Environment.NewLine));
        r = Fsu("cat", img, "/docs");
        Assert.That(r.stderr, Does.Contain("/docs: Is a directory"));
        r = Fsu("mkdir", img, "/docs");
        Assert.That((r.rc, r.stderr.Contains("/docs: File exists")), Is.EqualTo((1, true)));
        string zero = Path.Combine(_dir, "zero.img");
        using (var f = new FileStream(zero, FileMode.Create)) f.SetLength(1 << 20);
        r = Fsu("ls", zero);
        Assert.That(r.rc, Is.EqualTo(1));
        Assert.That(r.stderr, Does.Contain("unknown file system: only zeros"));
        string iso = IsoImage();
        r = Fsu("put", iso, Path.Combine(_tree, "hello.txt"), "/");
        Assert.That(r.rc, Is.EqualTo(1));
        Assert.That(r.stderr, Does.Contain("Read-only file system"));

        Assert.That(Fsu().rc, Is.EqualTo(2));
        Assert.That(Fsu("frobnicate", img).rc, Is.EqualTo(2));
        Assert.That(Fsu("ls", "-z", img).rc, Is.EqualTo(2));
        Assert.That(Fsu("cat", img).rc, Is.EqualTo(2), "cat without a path");
        Assert.That(Fsu("find", img, "-type", "x").rc, Is.EqualTo(2));
        var help = Fsu("--help");
        Assert.That(help.rc, Is.EqualTo(0));
        Assert.That(help.stdout, Does.Contain("fsu put [-r] [-p]"));
        var ch = Fsu("cp", "--help");
        Assert.That((ch.rc, ch.stdout.StartsWith("usage: fsu cp")), Is.EqualTo((0, true)));
    }

    // ---- damaged images: directory cycles ----

    /// <summary>fsu on its own thread; fails the test if it does not finish (a cycle walked forever).</summary>
    private static (int rc, string stdout, string stderr) FsuWithin(TimeSpan limit, params string[] args)
    {
        (int, string, string) r = default;
        Exception? failed = null;
        var t = new System.Threading.Thread(() => { try { r = Fsu(args); } catch (Exception e) { failed = e; } }) { IsBackground = true };
        t.Start();
        Assert.That(t.Join(limit), Is.True, "fsu " + string.Join(' ', args) + ": expected to finish within " + limit.TotalSeconds + " s, still running");
        Assert.That(failed, Is.Null, "fsu " + string.Join(' ', args) + " threw");
        return r;
    }

    private static readonly TimeSpan CycleLimit = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Asserts a recursive command on a damaged image finished with status 1, reported each bad
    /// entry (as a cycle, or as the driver's refusal of it) and showed nothing below it.
    /// </summary>
    private static void AssertCycleReported((int rc, string stdout, string stderr) r, string what, params string[] badPaths)
    {
        Assert.That(r.rc, Is.EqualTo(1), what + ": exit status; stderr: " + r.stderr);
        foreach (string bad in badPaths)
        {
            bool reported = r.stderr.Contains(": " + bad + ": directory causes a cycle") || r.stderr.Contains(": " + bad + ": Input/output error");
            Assert.That(reported, Is.True, what + ": expected \"" + bad + ": directory causes a cycle\" (or the driver's EIO) on stderr, got: " + r.stderr);
            Assert.That(r.stdout, Does.Not.Contain(bad + "/"), what + ": nothing below " + bad + " may be listed");
        }
    }

    /// <summary>The inode's blocks as debugfs lists them.</summary>
    private static List<long> DebugfsBlocks(string img, string path)
    {
        var b = Tool("debugfs", "-R", "blocks " + path, img);
        Assert.That(b.rc, Is.EqualTo(0), "debugfs blocks: " + b.stderr);
        return b.stdout.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToList();
    }

    /// <summary>
    /// An ext2 image (1 KiB blocks) made by mke2fs with two cycles: the root's ".." record renamed
    /// to "xx" (two bytes: an entry of the root naming the root), and debugfs's link of /docs into
    /// /docs/deep as "up" (an entry naming its grandparent).
    /// </summary>
    private string Ext2CycleImage()
    {
        string img = Ext2Image("cycle.img");
        long root = DebugfsBlocks(img, "/")[0];
        using (var f = new FileStream(img, FileMode.Open, FileAccess.ReadWrite))
        {
            // "." is 12 bytes at 0; ".." starts at 12, its name at 12 + 8.
            f.Position = root * 1024 + 12 + 8;
            Assert.That(f.ReadByte() == '.' && f.ReadByte() == '.', "the root block's second record is \"..\"");
            f.Position = root * 1024 + 12 + 8;
            f.Write("xx"u8);
        }
        var l = Tool("debugfs", "-w", "-R", "link /docs /docs/deep/up", img);
        Assert.That(l.rc, Is.EqualTo(0), "debugfs link: " + l.stderr);
        var ls = Tool("debugfs", "-R", "ls -p /docs/deep", img);
        Assert.That(ls.stdout, Does.Contain("/up/"), "debugfs must show the new entry: " + ls.stdout + ls.stderr);
        return img;
    }

    [Test]
    public void Mke2fs_Debugfs_DirectoryEntriesNamingAncestors_RecursiveCommandsReportTheCycleAndGoOn()
    {
        string img = Ext2CycleImage();
        var find = FsuWithin(CycleLimit, "find", img, "/");
        AssertCycleReported(find, "find", "/xx", "/docs/deep/up");
        Assert.That(Lines(find.stdout), Does.Contain("/docs/deep/er/est.dat").And.Contain("/hello.txt"), "find goes on after the cycles");

        var ls = FsuWithin(CycleLimit, "ls", "-R", img, "/");
        AssertCycleReported(ls, "ls -R", "/xx", "/docs/deep/up");
        Assert.That(ls.stdout, Does.Contain("/docs/deep/er:"), "ls -R goes on after the cycles");

        string outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(outDir);
        var cp = FsuWithin(CycleLimit, "cp", "-r", img, "/docs", outDir);
        AssertCycleReported(cp, "cp -r", "/docs/deep/up");
        Assert.That(File.ReadAllBytes(Path.Combine(outDir, "docs/deep/er/est.dat")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_tree, "docs/deep/er/est.dat"))),
            "cp -r copies what is not in the cycle");
        Assert.That(Directory.Exists(Path.Combine(outDir, "docs/deep/up/deep")), Is.False, "cp -r must not copy through the cycle");

        // diff enters only names both sides have.
        Directory.CreateDirectory(Path.Combine(_tree, "docs/deep/up"));
        var diff = FsuWithin(CycleLimit, "diff", img, "/docs", Path.Combine(_tree, "docs"));
        AssertCycleReported(diff, "diff", "/docs/deep/up");

        var rm = FsuWithin(CycleLimit, "rm", "-r", img, "/docs");
        AssertCycleReported(rm, "rm -r", "/docs/deep/up");
        var after = Fsu("find", img, "/docs");
        Assert.That(Lines(after.stdout), Does.Not.Contain("/docs/deep/er/est.dat"), "rm -r removes what is not in the cycle");
    }

    /// <summary>Offset of the record named <paramref name="name"/> (ISO identifier without ";1", any case) in a directory extent.</summary>
    private static int IsoRecord(byte[] img, uint extent, uint size, string name)
    {
        for (long p = extent * 2048L, end = p + size; p < end;)
        {
            int len = img[p];
            if (len == 0) { p = (p / 2048 + 1) * 2048; continue; }
            string id = Encoding.ASCII.GetString(img, (int)p + 33, img[p + 32]);
            int semi = id.IndexOf(';');
            if (string.Equals(semi < 0 ? id : id[..semi], name, StringComparison.OrdinalIgnoreCase)) return (int)p;
            p += len;
        }
        Assert.Fail("no record " + name + " in the directory at extent " + extent);
        return -1;
    }

    private static (uint extent, uint size) IsoExtent(byte[] img, int rec) =>
        (BitConverter.ToUInt32(img, rec + 2), BitConverter.ToUInt32(img, rec + 10));

    private static void IsoBoth32(byte[] img, int at, uint v)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(at), v);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(img.AsSpan(at + 4), v);
    }

    [Test]
    public void Xorriso_DirectoryRecordNamingAnAncestor_RecursiveCommandsReportTheCycleAndGoOn()
    {
        // Rock Ridge only, so that there is one directory tree to damage.
        string img = Path.Combine(_dir, "cycle.iso");
        var x = Tool("xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", img, _tree);
        Assert.That(x.rc, Is.EqualTo(0), "xorriso: " + x.stderr);
        byte[] b = File.ReadAllBytes(img);
        var root = IsoExtent(b, 16 * 2048 + 156);
        var docs = IsoExtent(b, IsoRecord(b, root.extent, root.size, "docs"));
        var deep = IsoExtent(b, IsoRecord(b, docs.extent, docs.size, "deep"));
        int er = IsoRecord(b, deep.extent, deep.size, "er");
        // /docs/deep/er now names /docs.
        IsoBoth32(b, er + 2, docs.extent);
        IsoBoth32(b, er + 10, docs.size);
        File.WriteAllBytes(img, b);

        var find = FsuWithin(CycleLimit, "find", img, "/");
        AssertCycleReported(find, "find", "/docs/deep/er");
        Assert.That(Lines(find.stdout), Does.Contain("/docs/ünïcödé.txt").And.Contain("/hello.txt"), "find goes on after the cycle");
        var ls = FsuWithin(CycleLimit, "ls", "-R", img, "/");
        AssertCycleReported(ls, "ls -R", "/docs/deep/er");
        string outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(outDir);
        var cp = FsuWithin(CycleLimit, "cp", "-r", img, "/", outDir);
        AssertCycleReported(cp, "cp -r", "/docs/deep/er");
        Assert.That(File.ReadAllBytes(Path.Combine(outDir, "big.bin")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_tree, "big.bin"))));
        var diff = FsuWithin(CycleLimit, "diff", img, "/docs", Path.Combine(_tree, "docs"));
        AssertCycleReported(diff, "diff", "/docs/deep/er");
    }

    // ---- damaged images: what the kernel returns must never end a tool ----

    /// <summary>Renames entry <paramref name="name"/> of an ext2 directory (1 KiB blocks) in place to bytes of the same length.</summary>
    private static void RenameExt2Entry(string img, string dir, string name, byte[] to)
    {
        Assert.That(to.Length, Is.EqualTo(name.Length));
        long blk = DebugfsBlocks(img, dir)[0];
        byte[] b = new byte[1024];
        using var f = new FileStream(img, FileMode.Open, FileAccess.ReadWrite);
        f.Position = blk * 1024;
        f.ReadExactly(b);
        for (int off = 0; off + 8 <= 1024;)
        {
            int rec = BitConverter.ToUInt16(b, off + 4), nl = b[off + 6];
            if (rec < 8) break;
            if (nl == name.Length && Encoding.ASCII.GetString(b, off + 8, nl) == name)
            {
                f.Position = blk * 1024 + off + 8;
                f.Write(to);
                return;
            }
            off += rec;
        }
        Assert.Fail("no entry " + name + " in " + dir);
    }

    /// <summary>
    /// A NUL byte in a symbolic link's target (ext2: in the inode; Rock Ridge: in an SL component),
    /// and a name that holds '/' ("../..", which would lead out of the destination): cp -r reports
    /// each, copies everything else, and ends with status 1 instead of an unhandled exception.
    /// </summary>
    [Test]
    public void Mke2fs_Xorriso_NulInLinkTargetAndSlashInName_CpReportsAndGoesOn()
    {
        AddLinks();
        string img = Ext2Image();
        // "hell" of the fast symlink's "hello.txt" becomes "he\0l".
        var sif = Tool("debugfs", "-w", "-R", "sif /link block[0] 0x6c006568", img);
        Assert.That(sif.rc, Is.EqualTo(0), "debugfs sif: " + sif.stderr);
        RenameExt2Entry(img, "/", "empty", "../.."u8.ToArray());

        string dest = Path.Combine(_dir, "out", "in");
        Directory.CreateDirectory(dest);
        var cp = FsuWithin(CycleLimit, "cp", "-r", img, "/", dest);
        Assert.That(cp.rc, Is.EqualTo(1), "cp -r: exit status; stderr: " + cp.stderr);
        Assert.That(cp.stderr, Does.Contain(": /link: ").And.Contain("NUL"), "the bad link is reported");
        Assert.That(cp.stderr, Does.Contain(": /../..: ").And.Contain("'/'"), "the bad name is reported");
        Assert.That(Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal),
            Is.EqualTo(new[] { "ext2.img", "out", "tree" }), "nothing may be written outside the destination");
        Assert.That(File.ReadAllBytes(Path.Combine(dest, "docs/deep/er/est.dat")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_tree, "docs/deep/er/est.dat"))));
        Assert.That(new FileInfo(Path.Combine(dest, "docs/up")).LinkTarget, Is.EqualTo("../docs/deep"), "good links are copied");
        var ls = FsuWithin(CycleLimit, "ls", "-laR", img, "/");
        Assert.That(ls.rc, Is.EqualTo(1), "ls -laR: the bad name is an error; stderr: " + ls.stderr);
        Assert.That(ls.stdout, Does.Contain("link -> he\\x00lo.txt"), "ls -l shows the NUL of a link target escaped");
        var diff = FsuWithin(CycleLimit, "diff", img, "/", _tree);
        Assert.That(diff.rc, Is.EqualTo(1), "diff: " + diff.stderr);

        // Rock Ridge: the same NUL in the SL component of "link".
        string iso = IsoImage();
        byte[] b = File.ReadAllBytes(iso);
        var root = IsoExtent(b, 16 * 2048 + 156);
        int at = -1;
        for (long p = root.extent * 2048L; p + 16 < root.extent * 2048L + root.size && at < 0; p++)
            if (b[p] == 'S' && b[p + 1] == 'L' && b[p + 3] == 1 && Encoding.ASCII.GetString(b, (int)p + 7, 9) == "hello.txt") at = (int)p + 7 + 2;
        Assert.That(at, Is.GreaterThan(0), "the SL entry of /link");
        b[at] = 0;
        File.WriteAllBytes(iso, b);
        string dest2 = Path.Combine(_dir, "out2");
        Directory.CreateDirectory(dest2);
        var cp2 = FsuWithin(CycleLimit, "cp", "-r", iso, "/", dest2);
        Assert.That(cp2.rc, Is.EqualTo(1), "cp -r (ISO): exit status; stderr: " + cp2.stderr);
        Assert.That(cp2.stderr, Does.Contain(": /link: ").And.Contain("NUL"));
        Assert.That(File.ReadAllBytes(Path.Combine(dest2, "big.bin")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_tree, "big.bin"))));
    }

    [Test]
    public void Glob_Matches()
    {
        Assert.That(Glob.Match("*.txt", "a.txt"), Is.True);
        Assert.That(Glob.Match("*.txt", "a.txt.gz"), Is.False);
        Assert.That(Glob.Match("?b*", "abc"), Is.True);
        Assert.That(Glob.Match("[!a]*", "abc"), Is.False);
        Assert.That(Glob.Match("[a-c]x", "bx"), Is.True);
        Assert.That(Glob.Match("a*b*c", "aXXbYYc"), Is.True);
        Assert.That(Glob.Match("a\\*", "a*"), Is.True);
    }
}
