using System.Diagnostics;
using System.IO;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using NUnit.Framework;

namespace Rump.Tests;

/// <summary>
/// What the host asks rumpfuse, counted from libfuse's debug log (-d): requests the server has
/// nothing to do for cost a round trip each, and tar x of many small files makes one per close
/// (FLUSH) and one or two per write (GETXATTR of security.capability) unless the server tells the
/// host once that it has none (ENOSYS).
/// </summary>
public partial class RumpfuseTests
{
    [Test]
    public void Ext2_TarXfOfManyFiles_AsksFlushAndGetxattrAtMostOnce()
    {
        string src = FsImages.MakeTree(HostWork, 4, 25);   // 100 files
        string tar = Path.Combine(HostWork, "src.tar");
        Sh($"tar cf {Q(tar)} -C {Q(HostWork)} src", "tar cf of the host tree");
        string img = Path.Combine(HostWork, "ext2.img");
        FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", img, "8192k"), "mke2fs");
        string mnt = Mnt();
        Process p = Start(img, mnt, "-d");
        // Read the debug log while it is written: a full pipe would stop rumpfuse.
        Task<string> log = p.StandardError.ReadToEndAsync();
        Task<string> outp = p.StandardOutput.ReadToEndAsync();
        Sh($"tar xf {Q(tar)} -C {Q(mnt)} --no-same-owner && cat {Q(mnt)}/src/d3/f024 > /dev/null", "tar xf onto the mount");
        FsImages.Ok(FsImages.Run("fusermount3", "-u", mnt), "fusermount3 -u " + mnt);
        if (!p.WaitForExit(120_000)) { p.Kill(); Assert.Fail("rumpfuse did not exit within 120 s after fusermount3 -u"); }
        string err = log.Result + outp.Result;
        Assert.That(p.ExitCode, Is.EqualTo(0), "rumpfuse's exit status after fusermount3 -u");

        int Count(string op) => Regex.Matches(err, @"opcode: " + op + @" \(").Count;
        Assert.That(Count("CREATE"), Is.EqualTo(100), "the log counts one CREATE per file extracted (is -d's format what this test reads?)");
        Assert.That(Count("FLUSH"), Is.LessThanOrEqualTo(1), "FLUSH requests for 101 closes: the host should stop asking after the first ENOSYS");
        Assert.That(Count("GETXATTR"), Is.LessThanOrEqualTo(1), "GETXATTR requests for 100 written files: the host should stop asking after the first ENOSYS");
        FsImages.AssertClean("ext2fs", img);
        Assert.That(FsImages.Run("debugfs", "-R", "cat /src/d3/f024", img).output, Does.Contain(System.Text.Encoding.ASCII.GetString(FsImages.Content(3, 24))),
            "debugfs reads back a file tar wrote");
    }

    /// <summary>
    /// Directory listings: plain READDIR by default (find needs no attributes, and READDIRPLUS
    /// would cost a kernel lookup and a host inode per entry), READDIRPLUS with -o readdirplus;
    /// ls -lR shows the same tree either way.
    /// </summary>
    [Test]
    public void Ext2_ListingsArePlainReaddirUnlessAskedForReaddirplus_AndLookTheSame()
    {
        string src = FsImages.MakeTree(HostWork, 3, 20);   // 60 files in 3 directories
        string img = Path.Combine(HostWork, "ext2.img");
        FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", "-d", src, img, "8192k"), "mke2fs -d");
        (string listing, int plain, int plus) Walk(params string[] opts)
        {
            string mnt = Mnt();
            Process p = Start(img, mnt, ["-o", "ro", "-d", .. opts]);
            Task<string> log = p.StandardError.ReadToEndAsync();
            Task<string> outp = p.StandardOutput.ReadToEndAsync();
            string found = Sh($"cd {Q(mnt)} && find . | sort && ls -lRn --time-style=+%s .", "find and ls -lR on the mount");
            FsImages.Ok(FsImages.Run("fusermount3", "-u", mnt), "fusermount3 -u " + mnt);
            if (!p.WaitForExit(120_000)) { p.Kill(); Assert.Fail("rumpfuse did not exit within 120 s after fusermount3 -u"); }
            string err = log.Result + outp.Result;
            Assert.That(p.ExitCode, Is.EqualTo(0), "rumpfuse's exit status after fusermount3 -u");
            return (found, Regex.Matches(err, @"opcode: READDIR \(").Count, Regex.Matches(err, @"opcode: READDIRPLUS \(").Count);
        }
        var plainWalk = Walk();
        Assert.That((plainWalk.plain > 0, plainWalk.plus), Is.EqualTo((true, 0)), "by default: READDIR requests and no READDIRPLUS");
        var plusWalk = Walk("-o", "readdirplus");
        Assert.That(plusWalk.plus, Is.GreaterThan(0), "with -o readdirplus: READDIRPLUS requests");
        Assert.That(plusWalk.listing, Is.EqualTo(plainWalk.listing), "find and ls -lR see the same tree either way");
        Assert.That(plainWalk.listing, Does.Contain("f019"), "the listing has the files");
    }
}
