using System;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;
using Rump.FsFuzz;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// rumpfuse under random operations in lockstep with the host's tmpfs (tests/fuse/fsx.c), under
/// hostile images (the fsfuzz corpus walked by find and cat), under ordinary tools not covered
/// elsewhere (git, rsync), and run by an unprivileged user through Debian's setuid fusermount3.
/// </summary>
public partial class RumpfuseTests
{
    /// <summary>Runs fsx on a host tmpfs directory and on <paramref name="dir"/>; its summary line.</summary>
    private string Fsx(string dir, long seed, int steps, int check, params string[] flags)
    {
        string bin = CBin("RUMP_FUSE_FSX_BIN", "tests/fuse/fsx.c");
        string reference = ShmDir("fsx");
        var args = new System.Collections.Generic.List<string>(flags) { reference, dir, seed.ToString(), steps.ToString(), check.ToString() };
        var r = FsImages.Run(bin, args.ToArray());
        Assert.That(r.code, Is.EqualTo(0), "fsx (reproduce: fsx " + string.Join(' ', args) + "):\n" + r.output);
        TestContext.Out.WriteLine(r.output.Trim());
        return r.output;
    }

    [Test]
    public void Lockstep_Ext2_RandomOperationsMatchHostTmpfs_ThenE2fsckIsClean()
    {
        string img = Ext2Image("ext2.img"), mnt = Mnt();
        Process p = Start(img, mnt);
        Directory.CreateDirectory(Path.Combine(mnt, "t"));
        Fsx(Path.Combine(mnt, "t"), 20261129, 4000, 500);
        Unmount(p, mnt);
        FsImages.AssertClean("ext2fs", img);
    }

    /// <summary>FAT: no hard links (-L) and no modes (-M); fewer steps (a write far past the end fills the gap with zeros: FAT has no holes).</summary>
    [Test]
    public void Lockstep_Fat_RandomOperationsMatchHostTmpfs_ThenFsckFatIsClean()
    {
        string img = Path.Combine(HostWork, "fat16.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "16", img, "65536"), "mkfs.fat");
        string mnt = Mnt();
        Process p = Start(img, mnt);
        Directory.CreateDirectory(Path.Combine(mnt, "t"));
        Fsx(Path.Combine(mnt, "t"), 20261129, 1500, 300, "-L", "-M");
        Unmount(p, mnt);
        FsImages.AssertClean("msdos", img);
    }

    /// <summary>
    /// The fsfuzz corpus (its known cases, then seeded mutations) mounted through rumpfuse and
    /// walked by find and cat under a process-level deadline: the host programs must end in
    /// bounded time whatever rumpfuse does. rumpfuse may refuse the image, fail requests, or die
    /// (a contained panic); the mount is then removed lazily.
    /// </summary>
    [TestCase("msdos")]
    [TestCase("ext2fs")]
    [TestCase("ext4")]
    [TestCase("cd9660")]
    public void HostileImages_WalkedThroughTheMount_NeverHangTheHostProgram(string target)
    {
        FuzzTarget t = FuzzTarget.Find(target)!;
        FsImages.RequireTool(ImageMaker.ToolFor(t));
        if (t.FsType == "msdos") FsImages.RequireTool("mcopy");
        using var run = new FuzzRun(t, HostWork);
        int known = FuzzRun.KnownCases(t);
        const int Random = 20;
        const long Seed = 20261129;
        string mnt = Mnt();
        int mounted = 0, died = 0;
        for (int i = -known; i < Random; i++)
        {
            byte[] bytes = run.MutatedImage(Seed, i, out string what);
            string img = Path.Combine(HostWork, "hostile.img");
            File.WriteAllBytes(img, bytes);
            string id = target + " iteration " + i + " (" + what + ")";
            Process? p = TryStart(img, mnt, Array.Empty<(string, string)>(), Array.Empty<string>(), Array.Empty<string>(), out string why);
            if (p == null)
            {
                Assert.That(why, Does.Not.Contain("Unhandled exception").And.Not.Contain("   at "), id + ": rumpfuse crashed instead of refusing the image");
                continue;
            }
            mounted++;
            // The bound: find lists everything, cat reads every file; SIGKILL after 60 s.
            var w = FsImages.Run("timeout", "-s", "KILL", "60", "sh", "-c",
                "find " + Q(mnt) + " > /dev/null 2>&1; find " + Q(mnt) + " -type f -exec cat {} + > /dev/null 2>&1; ls -lR " + Q(mnt) + " > /dev/null 2>&1; exit 0");
            Assert.That(w.code, Is.EqualTo(0), id + ": the walk through the mount did not end within 60 s (status " + w.code + ")");
            if (p.HasExited)
            {
                died++;
                string err = p.StandardError.ReadToEnd();
                Assert.That(err, Does.Not.Contain("Unhandled exception"), id + ": rumpfuse died outside the kernel's panic path:\n" + err);
                FsImages.Run("fusermount3", "-u", "-z", mnt);
                continue;
            }
            FsImages.Ok(FsImages.Run("fusermount3", "-u", mnt), id + ": fusermount3 -u");
            if (!p.WaitForExit(120_000)) { p.Kill(); Assert.Fail(id + ": rumpfuse did not exit within 120 s of the unmount"); }
            string e2 = p.StandardError.ReadToEnd();
            Assert.That(p.ExitCode, Is.EqualTo(0).Or.EqualTo(1), id + ": rumpfuse's status after the unmount (stderr: " + e2 + ")");
            if (p.ExitCode == 1) died++;
        }
        TestContext.Out.WriteLine($"{target}: {known + Random} images, {mounted} mounted, {died} ended rumpfuse with an error");
        Assert.That(MountLine(mnt), Is.Null, "no mount is left behind");
    }

    /// <summary>git init/add/commit of a tree on the mount, and the repository checks out and fscks; rsync -a in and out.</summary>
    [Test]
    public void Ext2_GitAndRsyncOnTheMount_ThenE2fsckIsClean()
    {
        FsImages.RequireTool("git");
        FsImages.RequireTool("rsync");
        string src = SourceTree(symlink: true);
        string img = Ext2Image("ext2.img", "131072k"), mnt = Mnt(), w = HostWork;
        Process p = Start(img, mnt);
        Sh($"rsync -a {Q(src + "/")} {Q(mnt + "/tree/")} && diff -r {Q(src)} {Q(mnt + "/tree")}", "rsync -a into the mount");
        Sh($"rsync -a {Q(mnt + "/tree/")} {Q(w + "/back/")} && diff -r {Q(src)} {Q(w + "/back")}", "rsync -a out of the mount");
        Sh($"rsync -a --delete {Q(w + "/back/")} {Q(mnt + "/tree/")}", "rsync -a --delete onto the same tree (nothing to do)");
        string git = "git -c user.name=t -c user.email=t@example.org -c init.defaultBranch=main -c safe.directory='*'";
        Sh($"cd {Q(mnt + "/tree")} && {git} init -q && {git} add -A && {git} commit -q -m tree && echo more >> d1/f001 && {git} commit -q -am change"
           + $" && {git} fsck --strict && test \"$({git} rev-list --count HEAD)\" = 2 && {git} status --porcelain | wc -l | grep -qx 0", "git on the mount");
        Sh($"{git} clone -q {Q(mnt + "/tree")} {Q(w + "/clone")} && cd {Q(w + "/clone")} && {git} log --oneline | wc -l | grep -qx 2 && cmp d1/f001 {Q(mnt + "/tree/d1/f001")}", "git clone from the mount");
        Unmount(p, mnt);
        FsImages.AssertClean("ext2fs", img);
    }

    /// <summary>
    /// Unprivileged: rumpfuse runs as uid 1000 and mounts through Debian's setuid fusermount3, the
    /// conformance checks run as uid 1000 on the mount and on a tmpfs directory of that user, and
    /// that user unmounts. Root only starts it (setpriv), as a login would.
    /// </summary>
    [Test]
    public void Unprivileged_Ext2_RumpfuseAndConformanceAsUid1000_ThroughSetuidFusermount3()
    {
        RequireRoot("the test switches to uid 1000 with setpriv");
        FsImages.RequireTool("setpriv");
        string[] asUser = { "setpriv", "--reuid=1000", "--regid=1000", "--clear-groups" };
        string reference = ShmDir("uref"), otherFs = ShmDir("ux"), otherHost = Path.Combine(HostWork, "ux");
        Directory.CreateDirectory(otherHost);
        // The image's root belongs to the user, as on a stick the user formatted.
        string img = Ext2Image("ext2.img", rootOwner: "1000:1000"), mnt = Mnt();
        foreach (string f in new[] { reference, otherFs, otherHost, img, mnt }) Sh($"chown 1000:1000 {Q(f)}", "chown " + f);
        var tmpfs = Conform(reference, otherHost, asUser: true);
        Process? p = TryStart(img, mnt, Array.Empty<(string, string)>(), asUser, Array.Empty<string>(), out string why);
        if (p == null) Assert.Fail("rumpfuse as uid 1000: " + why);
        Assert.That(MountLine(mnt), Does.Contain("user_id=1000"), "fusermount3 mounted it for uid 1000");
        // Without allow_other only the mount's owner reaches it (root included): the user makes its own directory.
        FsImages.Ok(FsImages.Run("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "mkdir", mnt + "/u"), "mkdir on the mount as uid 1000");
        var ext2 = Conform(mnt + "/u", otherFs, asUser: true);
        var un = FsImages.Run("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", FsImages.RequireTool("fusermount3"), "-u", mnt);
        FsImages.Ok(un, "fusermount3 -u as uid 1000");
        WaitExit(p!, "after fusermount3 -u as uid 1000");
        FsImages.AssertClean("ext2fs", img);
        // As a user, a device node is EPERM on tmpfs too, and the other-user checks say needs-root on both.
        var table = Array.FindAll(RumpfuseDiffers, d => d.Check != "mknod.chardev_as_root");
        Compare(tmpfs, ext2, "ext2 (unprivileged)", table);
    }
}
