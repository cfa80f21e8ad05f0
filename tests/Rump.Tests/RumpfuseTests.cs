using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using NUnit.Framework;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// rumpfuse end to end: images made by mke2fs and mkfs.fat are served through FUSE by the built
/// build/bin/rumpfuse (RUMP_RUMPFUSE_BIN) and used by ordinary programs; after fusermount3 -u
/// the image's own checker finds it clean and debugfs/mtools read back the same bytes. They run
/// as the test's user (root on CI: fusermount3 is setuid for others), and fail when /dev/fuse or
/// fusermount3 is missing. They run in the Release suite only (Category Rumpfuse): they test a
/// separate program, not the library the LockDebug suite builds.
/// </summary>
[Category("Rumpfuse")]
public partial class RumpfuseTests : KernelTest
{
    private static string Bin()
    {
        string bin = Environment.GetEnvironmentVariable("RUMP_RUMPFUSE_BIN") ?? "";
        if (!File.Exists(bin)) Assert.Fail("RUMP_RUMPFUSE_BIN does not name the built rumpfuse (ctest sets it to build/bin/rumpfuse): '" + bin + "'");
        if (!File.Exists("/dev/fuse")) Assert.Fail("/dev/fuse is missing: rumpfuse cannot be tested without the host's FUSE driver");
        FsImages.RequireTool("fusermount3");
        return bin;
    }

    /// <summary>The mount table line for <paramref name="mnt"/>, or null.</summary>
    private static string? MountLine(string mnt)
    {
        foreach (string line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            string[] f = line.Split(' ');
            if (f.Length > 4 && f[4] == mnt) return line;
        }
        return null;
    }

    /// <summary>A foreground rumpfuse serving <paramref name="img"/> at <paramref name="mnt"/>, returned once the mount is in the mount table.</summary>
    private static Process Start(string img, string mnt, params string[] opts) => Start(img, mnt, Array.Empty<(string, string)>(), opts);

    private static Process Start(string img, string mnt, (string name, string value)[] env, params string[] opts)
    {
        Process? p = TryStart(img, mnt, env, Array.Empty<string>(), opts, out string why);
        if (p == null) Assert.Fail(why);
        return p!;
    }

    /// <summary>
    /// As <see cref="Start(string, string, string[])"/>, run through <paramref name="prefix"/> (e.g. setpriv
    /// and its arguments); null and why when rumpfuse exits before mounting.
    /// </summary>
    private static Process? TryStart(string img, string mnt, (string name, string value)[] env, string[] prefix, string[] opts, out string why)
    {
        why = "";
        var psi = new ProcessStartInfo(prefix.Length > 0 ? FsImages.RequireTool(prefix[0]) : Bin()) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        for (int i = 1; i < prefix.Length; i++) psi.ArgumentList.Add(prefix[i]);
        if (prefix.Length > 0) psi.ArgumentList.Add(Bin());
        foreach (var (n, v) in env) psi.Environment[n] = v;
        psi.ArgumentList.Add("-f");
        foreach (string o in opts) psi.ArgumentList.Add(o);
        psi.ArgumentList.Add(img);
        psi.ArgumentList.Add(mnt);
        Process p = Process.Start(psi)!;
        // The mount appears in the table when fuse_session_mount returns; the process has
        // nothing else to wait for. Bounded so that a rumpfuse that never mounts fails the test.
        var sw = Stopwatch.StartNew();
        while (MountLine(mnt) == null)
        {
            if (p.HasExited) { why = "rumpfuse exited with " + p.ExitCode + " before mounting: " + p.StandardError.ReadToEnd(); return null; }
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) { p.Kill(); Assert.Fail("rumpfuse did not mount " + mnt + " within 60 s"); }
            Thread.Sleep(20);
        }
        return p;
    }

    /// <summary>fusermount3 -u, then rumpfuse writes the image back and exits 0.</summary>
    private static void Unmount(Process p, string mnt)
    {
        FsImages.Ok(FsImages.Run("fusermount3", "-u", mnt), "fusermount3 -u " + mnt);
        WaitExit(p, "after fusermount3 -u");
    }

    private static void WaitExit(Process p, string when)
    {
        if (!p.WaitForExit(120_000)) { p.Kill(); Assert.Fail("rumpfuse did not exit within 120 s " + when); }
        string err = p.StandardError.ReadToEnd();
        Assert.That(p.ExitCode, Is.EqualTo(0), "rumpfuse's exit status " + when + " (stderr: " + err + ")");
    }

    /// <summary>A shell command line; fails the test with its output unless it exits 0.</summary>
    private static string Sh(string script, string what)
    {
        var r = FsImages.Run("sh", "-c", "set -e; " + script);
        Assert.That(r.code, Is.EqualTo(0), what + " failed (exit " + r.code + "):\n" + r.output);
        return r.output;
    }

    private static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";

    private string Mnt()
    {
        string m = Path.Combine(HostWork, "mnt");
        Directory.CreateDirectory(m);
        return m;
    }

    [TearDown]
    public void NoMountLeft()
    {
        // A failed test must not leave a mount behind (later tests and other engineers' runs).
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Passed) return;
        foreach (string line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            string[] f = line.Split(' ');
            if (f.Length > 4 && f[4].Contains("rump-RumpfuseTests-")) FsImages.Run("fusermount3", "-u", "-z", f[4]);
        }
    }

    /// <summary>A host tree with subdirectories, a larger file, an empty file and a symbolic link.</summary>
    private string SourceTree(bool symlink)
    {
        string src = FsImages.MakeTree(HostWork, 3, 20);
        byte[] big = new byte[300_000];
        new Random(7).NextBytes(big);
        File.WriteAllBytes(Path.Combine(src, "d1", "big.bin"), big);
        File.WriteAllBytes(Path.Combine(src, "d2", "empty"), Array.Empty<byte>());
        Directory.CreateDirectory(Path.Combine(src, "d0", "deeper", "still"));
        File.WriteAllText(Path.Combine(src, "d0", "deeper", "still", "leaf.txt"), "leaf\n");
        if (symlink) File.CreateSymbolicLink(Path.Combine(src, "d2", "link"), "../d1/f001");
        return src;
    }

    [Test]
    public void Ext2_OrdinaryToolsOnTheMount_ThenE2fsckIsCleanAndDebugfsReadsTheSameBytes()
    {
        string src = SourceTree(symlink: true);
        string img = Path.Combine(HostWork, "ext2.img");
        FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-N", "8192", "-d", src, img, "65536k"), "mke2fs");
        string mnt = Mnt(), w = HostWork;
        Process p = Start(img, mnt);
        Assert.That(MountLine(mnt), Does.Contain("fuse.rumpfs.ext2fs"), "the mount's type names the probed file system");

        Sh($"diff -r {Q(src)} {Q(mnt)} -x lost+found", "diff -r of the tree mke2fs wrote");
        Sh($"cp -a {Q(src)} {Q(mnt + "/copy")} && diff -r {Q(src)} {Q(mnt + "/copy")}", "cp -a into the mount");
        Sh($"tar -C {Q(mnt)} -cf {Q(w + "/t.tar")} copy && mkdir {Q(w + "/x")} && tar -C {Q(w + "/x")} -xf {Q(w + "/t.tar")} && diff -r {Q(src)} {Q(w + "/x/copy")}", "tar c from the mount");
        Sh($"mkdir {Q(mnt + "/untar")} && tar -C {Q(mnt + "/untar")} -xf {Q(w + "/t.tar")} && diff -r {Q(src)} {Q(mnt + "/untar/copy")}", "tar x onto the mount");
        Sh($"cp -a {Q(mnt + "/copy")} {Q(w + "/out")} && diff -r {Q(src)} {Q(w + "/out")}", "cp -a out of the mount");
        string n = Sh($"find {Q(mnt + "/copy")} | wc -l", "find").Trim();
        string nsrc = Sh($"find {Q(src)} | wc -l", "find on the host").Trim();
        Assert.That(n, Is.EqualTo(nsrc), "find lists as many names on the mount as in the source");
        Sh($"du -s {Q(mnt)}", "du");
        Sh($"mv {Q(mnt + "/copy/d0")} {Q(mnt + "/untar/moved")} && test ! -e {Q(mnt + "/copy/d0")} && test -f {Q(mnt + "/untar/moved/deeper/still/leaf.txt")}", "mv across directories");
        Sh($"dd if=/dev/urandom of={Q(w + "/big")} bs=1M count=24 2>/dev/null && dd if={Q(w + "/big")} of={Q(mnt + "/big")} bs=1M 2>/dev/null && cmp {Q(w + "/big")} {Q(mnt + "/big")}", "dd of 24 MiB");
        Sh($"ln -s some/target {Q(mnt + "/lnk")} && test \"$(readlink {Q(mnt + "/lnk")})\" = some/target", "ln -s");
        Sh($"chmod 600 {Q(mnt + "/big")} && test \"$(stat -c %a {Q(mnt + "/big")})\" = 600", "chmod");
        Sh($"rm -r {Q(mnt + "/untar/copy/d2")} && test ! -e {Q(mnt + "/untar/copy/d2")}", "rm -r");
        Unmount(p, mnt);

        FsImages.AssertClean("ext2fs", img);
        string back = Path.Combine(w, "back");
        FsImages.Ok(FsImages.Run("debugfs", "-R", "dump /big " + back, img), "debugfs dump");
        Assert.That(File.ReadAllBytes(back), Is.EqualTo(File.ReadAllBytes(Path.Combine(w, "big"))), "debugfs reads the bytes dd wrote");
        FsImages.Ok(FsImages.Run("debugfs", "-R", "dump /copy/d1/big.bin " + back, img), "debugfs dump");
        Assert.That(File.ReadAllBytes(back), Is.EqualTo(File.ReadAllBytes(Path.Combine(src, "d1", "big.bin"))), "debugfs reads the bytes cp -a wrote");
        string st = FsImages.Run("debugfs", "-R", "stat /big", img).output;
        Assert.That(st, Does.Contain("Mode:  0600"), "debugfs sees the chmod");
        st = FsImages.Run("debugfs", "-R", "stat /lnk", img).output;
        Assert.That(st, Does.Contain("some/target"), "debugfs sees the symbolic link");
    }

    [Test]
    public void Fat_OrdinaryToolsOnTheMount_ThenFsckFatIsCleanAndMtoolsReadTheSameBytes()
    {
        string src = SourceTree(symlink: false);
        string img = Path.Combine(HostWork, "fat.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "32", "-n", "RUMPFUSE", img, "65536"), "mkfs.fat");
        string mnt = Mnt(), w = HostWork;
        Process p = Start(img, mnt);
        Assert.That(MountLine(mnt), Does.Contain("fuse.rumpfs.msdos"));

        // FAT keeps no owners: cp keeps modes and times only.
        Sh($"cp -r --preserve=timestamps {Q(src)} {Q(mnt + "/copy")} && diff -r {Q(src)} {Q(mnt + "/copy")}", "cp -r into the mount");
        Sh($"tar -C {Q(mnt)} -cf {Q(w + "/t.tar")} copy && mkdir {Q(w + "/x")} && tar -C {Q(w + "/x")} -xf {Q(w + "/t.tar")} && diff -r {Q(src)} {Q(w + "/x/copy")}", "tar c from the mount");
        Sh($"mkdir {Q(mnt + "/untar")} && tar -C {Q(mnt + "/untar")} --no-same-owner -xf {Q(w + "/t.tar")} && diff -r {Q(src)} {Q(mnt + "/untar/copy")}", "tar x onto the mount");
        Sh($"cp -a {Q(mnt + "/copy")} {Q(w + "/out")} && diff -r {Q(src)} {Q(w + "/out")}", "cp -a out of the mount");
        string n = Sh($"find {Q(mnt + "/copy")} | wc -l", "find").Trim();
        Assert.That(n, Is.EqualTo(Sh($"find {Q(src)} | wc -l", "find on the host").Trim()), "find lists as many names on the mount as in the source");
        Sh($"du -s {Q(mnt)}", "du");
        Sh($"mv {Q(mnt + "/copy/d0")} {Q(mnt + "/untar/moved")} && test ! -e {Q(mnt + "/copy/d0")} && test -f {Q(mnt + "/untar/moved/deeper/still/leaf.txt")}", "mv across directories");
        Sh($"dd if=/dev/urandom of={Q(w + "/big")} bs=1M count=24 2>/dev/null && dd if={Q(w + "/big")} of={Q(mnt + "/big")} bs=1M 2>/dev/null && cmp {Q(w + "/big")} {Q(mnt + "/big")}", "dd of 24 MiB");
        Sh($"rm -r {Q(mnt + "/untar/copy/d2")} && test ! -e {Q(mnt + "/untar/copy/d2")}", "rm -r");
        Unmount(p, mnt);

        FsImages.AssertClean("msdos", img);
        string back = Path.Combine(w, "back");
        FsImages.Ok(FsImages.Run("mcopy", "-n", "-i", img, "::/big", back), "mcopy out");
        Assert.That(File.ReadAllBytes(back), Is.EqualTo(File.ReadAllBytes(Path.Combine(w, "big"))), "mtools reads the bytes dd wrote");
        File.Delete(back);
        FsImages.Ok(FsImages.Run("mcopy", "-n", "-i", img, "::/untar/moved/deeper/still/leaf.txt", back), "mcopy out");
        Assert.That(File.ReadAllText(back), Is.EqualTo("leaf\n"), "mtools finds the moved tree");
    }

    /// <summary>An ISO 9660 image made by xorriso (Rock Ridge) is served read-only without -o ro.</summary>
    [Test]
    public void Iso9660_IsServedReadOnly_AndReadsTheTreeXorrisoWrote()
    {
        string src = SourceTree(symlink: true);
        string img = Path.Combine(HostWork, "cd.iso");
        FsImages.Ok(FsImages.Run("xorriso", "-as", "mkisofs", "-R", "-o", img, src), "xorriso");
        string mnt = Mnt();
        Process p = Start(img, mnt);
        Assert.That(MountLine(mnt), Does.Contain("fuse.rumpfs.cd9660").And.Contain(" ro,"), "a read-only mount");
        Sh($"diff -r {Q(src)} {Q(mnt)}", "diff -r of the tree xorriso wrote");
        Assert.That(Sh($"readlink {Q(mnt + "/d2/link")}", "readlink").Trim(), Is.EqualTo("../d1/f001"));
        var r = FsImages.Run("sh", "-c", "touch " + Q(mnt + "/new"));
        Assert.That(r.output, Does.Contain("Read-only file system"), "creating a file on the ISO");
        Unmount(p, mnt);
    }

    /// <summary>Each request runs with the requester's credentials: the kernel's own checks refuse another user.</summary>
    [Test]
    public void Ext2_EachRequestRunsAsItsRequester()
    {
        FsImages.RequireTool("setpriv");
        if (Environment.UserName != "root") Assert.Fail("this test switches users with setpriv and needs root (it runs as " + Environment.UserName + ")");
        string src = Path.Combine(HostWork, "src");
        Directory.CreateDirectory(Path.Combine(src, "pub"));
        File.WriteAllText(Path.Combine(src, "secret"), "s\n");
        string img = Path.Combine(HostWork, "ext2.img");
        FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", "-d", src, img, "8192k"), "mke2fs");
        string mnt = Mnt();
        // The image root is made world-searchable, pub world-writable, secret private, via the mount itself (as root).
        Process p = Start(img, mnt, "-o", "allow_other");
        Sh($"chmod 755 {Q(mnt)} && chmod 1777 {Q(mnt + "/pub")} && chmod 600 {Q(mnt + "/secret")}", "chmod as root");
        string As(string cmd) => $"setpriv --reuid=1000 --regid=1000 --clear-groups sh -c {Q(cmd)}";
        var r = FsImages.Run("sh", "-c", As("cat " + Q(mnt + "/secret")));
        Assert.That(r.code, Is.Not.EqualTo(0), "uid 1000 read root's 0600 file: " + r.output);
        Assert.That(r.output, Does.Contain("Permission denied"));
        r = FsImages.Run("sh", "-c", As("touch " + Q(mnt + "/mine")));
        Assert.That(r.output, Does.Contain("Permission denied"), "uid 1000 created a file in root's 0755 directory");
        Sh(As("echo hi > " + Q(mnt + "/pub/mine")), "uid 1000 creating a file in a 1777 directory");
        // Its owner is the requester; its group the directory's, as on BSD (Linux would give the requester's group).
        Assert.That(Sh($"stat -c %u:%g {Q(mnt + "/pub/mine")}", "stat").Trim(), Is.EqualTo("1000:0"), "the new file belongs to its requester");
        Sh($"touch {Q(mnt + "/pub/roots")}", "root creating a file in the sticky directory");
        r = FsImages.Run("sh", "-c", As("rm -f " + Q(mnt + "/pub/roots")));
        Assert.That(r.code, Is.Not.EqualTo(0), "uid 1000 removed root's file from a sticky directory");
        Unmount(p, mnt);
        FsImages.AssertClean("ext2fs", img);
    }

    [Test]
    public void Sigterm_UnmountsFlushesAndExitsZero()
    {
        string img = Path.Combine(HostWork, "fat.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "16", img, "16384"), "mkfs.fat");
        string mnt = Mnt();
        Process p = Start(img, mnt);
        Sh($"echo written before SIGTERM > {Q(mnt + "/note.txt")}", "write");
        Sh($"kill -TERM {p.Id}", "kill -TERM");
        WaitExit(p, "after SIGTERM");
        Assert.That(MountLine(mnt), Is.Null, "the mount is gone after SIGTERM");
        FsImages.AssertClean("msdos", img);
        string back = Path.Combine(HostWork, "back");
        FsImages.Ok(FsImages.Run("mcopy", "-n", "-i", img, "::/note.txt", back), "mcopy out");
        Assert.That(File.ReadAllText(back), Is.EqualTo("written before SIGTERM\n"));
    }

    [Test]
    public void Kill9_LeavesTheMountNotConnected()
    {
        string img = Path.Combine(HostWork, "fat.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "16", img, "16384"), "mkfs.fat");
        string mnt = Mnt();
        Process p = Start(img, mnt);
        p.Kill();
        p.WaitForExit();
        var r = FsImages.Run("stat", mnt);
        Assert.That(r.output, Does.Contain("Transport endpoint is not connected"), "stat of a mount whose server died");
        FsImages.Ok(FsImages.Run("fusermount3", "-u", mnt), "fusermount3 -u of the dead mount");
    }

    /// <summary>
    /// A kernel panic while serving (a fault injected into the next block I/O completion, through
    /// the test-only RUMP_CRASHME switch): the request fails with EIO, and rumpfuse removes the
    /// mount and exits 1 naming the panic.
    /// </summary>
    [Test]
    public void APanicWhileServing_FailsTheRequestWithEio_AndRumpfuseUnmountsAndExitsOne()
    {
        string img = Path.Combine(HostWork, "fat.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "16", img, "16384"), "mkfs.fat");
        string data = Path.Combine(HostWork, "data.bin");
        File.WriteAllBytes(data, new byte[200_000]);
        FsImages.Ok(FsImages.Run("mcopy", "-i", img, data, "::/data.bin"), "mcopy");
        string mnt = Mnt();
        // The fault is in the kernel's block I/O: reads answered by splicing from the image would
        // not reach it, so they are copied (RUMPFUSE_SPLICE=0).
        Process p = Start(img, mnt, new[] { ("RUMP_CRASHME", "1"), ("RUMPFUSE_CRASHME_FAULT", "Biodone"), ("RUMPFUSE_SPLICE", "0") });
        var r = FsImages.Run("sh", "-c", "timeout -s KILL 60 cat " + Q(mnt + "/data.bin") + " > /dev/null");
        Assert.That(r.code, Is.Not.EqualTo(0), "reading through a kernel that panicked");
        Assert.That(r.output, Does.Contain("Input/output error"), "the error cat reports");
        if (!p.WaitForExit(60_000)) { p.Kill(); Assert.Fail("rumpfuse did not exit after the panic"); }
        string err = p.StandardError.ReadToEnd();
        Assert.That(p.ExitCode, Is.EqualTo(1), "rumpfuse's status after a panic (stderr: " + err + ")");
        Assert.That(err, Does.Contain("the kernel panicked").And.Contain("fault injected at Biodone"));
        Assert.That(MountLine(mnt), Is.Null, "the mount is removed after the panic");
    }

    /// <summary>Without -f, rumpfuse returns once the mount is ready and serves it in the background.</summary>
    [Test]
    public void Daemon_ReturnsOnceMounted_AndUnmountEndsIt()
    {
        string img = Path.Combine(HostWork, "fat.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "16", img, "16384"), "mkfs.fat");
        string mnt = Mnt();
        var r = FsImages.Run(Bin(), img, mnt);
        Assert.That(r.code, Is.EqualTo(0), "rumpfuse's status: " + r.output);
        Assert.That(MountLine(mnt), Is.Not.Null, "mounted when rumpfuse returned");
        // The daemon, found by its command line (the mount point is this test's own).
        int pid = 0;
        foreach (string d in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out int id)) continue;
            string cmd;
            try { cmd = File.ReadAllText(Path.Combine(d, "cmdline")); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
            if (cmd.Contains(mnt) && cmd.Contains("rumpfuse")) pid = id;
        }
        Assert.That(pid, Is.Not.Zero, "the rumpfuse daemon is running");
        Sh($"echo daemon > {Q(mnt + "/d.txt")} && test \"$(cat {Q(mnt + "/d.txt")})\" = daemon", "write and read through the daemon");
        // Enough work for the serving process to collect garbage: a forked .NET runtime hung in
        // its first collection (the records of the parent's threads), so the daemon re-executes.
        string w = HostWork;
        Sh($"dd if=/dev/urandom of={Q(w + "/big")} bs=1M count=12 2>/dev/null && timeout -s KILL 120 dd if={Q(w + "/big")} of={Q(mnt + "/big")} bs=1M 2>/dev/null && timeout -s KILL 120 cmp {Q(w + "/big")} {Q(mnt + "/big")}", "dd of 12 MiB through the daemon");
        FsImages.Ok(FsImages.Run("fusermount3", "-u", mnt), "fusermount3 -u");
        // Its exit is the end of the write-back: wait for the process itself.
        var sw = Stopwatch.StartNew();
        while (Directory.Exists("/proc/" + pid) && !File.ReadAllText("/proc/" + pid + "/stat").Contains(") Z"))
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(120)) Assert.Fail("the daemon did not exit within 120 s of the unmount");
            Thread.Sleep(20);
        }
        FsImages.AssertClean("msdos", img);
    }

    [Test]
    public void Usage_HelpAndErrors()
    {
        var r = FsImages.Run(Bin(), "--help");
        Assert.That(r.code, Is.EqualTo(0));
        Assert.That(r.output, Does.Contain("SYNOPSIS").And.Contain("allow_other").And.Contain("fusermount3 -u"));
        r = FsImages.Run(Bin(), "only-one-argument");
        Assert.That(r.code, Is.EqualTo(1));
        Assert.That(r.output, Does.Contain("usage: rumpfuse"));
        r = FsImages.Run(Bin(), "-o", "bogus", "a", "b");
        Assert.That(r.code, Is.EqualTo(1));
        Assert.That(r.output, Does.Contain("unknown mount option 'bogus'"));
        string notimg = Path.Combine(HostWork, "zeros.img");
        File.WriteAllBytes(notimg, new byte[1 << 20]);
        r = FsImages.Run(Bin(), notimg, Mnt());
        Assert.That(r.code, Is.EqualTo(1), "an image with no file system: " + r.output);
        Assert.That(r.output, Does.Contain("unknown file system"));
        Assert.That(MountLine(Mnt()), Is.Null, "nothing was mounted");
    }
}
