using System;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;
using File = System.IO.File;

namespace Rump.Tests;

public partial class RumpfuseTests
{
    private static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>RUMPFUSE_STATS as written at exit: (reads spliced, reads copied).</summary>
    private static (long spliced, long copied) ReadStats(string path)
    {
        Assert.That(File.Exists(path), Is.True, "rumpfuse wrote no read statistics to RUMPFUSE_STATS (" + path + ")");
        string text = File.ReadAllText(path);
        string[] f = text.Split(' ', StringSplitOptions.TrimEntries);
        Assert.That(f.Length >= 6 && f[0] == "spliced" && f[3] == "copied", Is.True, "RUMPFUSE_STATS: " + text);
        return (long.Parse(f[1]), long.Parse(f[4]));
    }

    /// <summary>
    /// Large reads are answered by splicing from the image (issue 10: one copy fewer), and stay
    /// right: files with a partial last block, holes (ext2) and several runs on the device (an ext2
    /// file's indirect blocks, a FAT file whose clusters mtools split in two) read back as their
    /// source; bytes written through the mount read back before fsync (the kernel holds them dirty:
    /// those reads are copied), after fsync (from the image), and after an unmount, through a new
    /// rumpfuse; the checker finds the image clean and debugfs/mtools read the new bytes. O_DIRECT
    /// reads (dd iflag=direct) bypass the host's page cache, so each one reaches rumpfuse.
    /// </summary>
    [TestCase("ext2")]
    [TestCase("fat")]
    public void LargeReads_AreSplicedFromTheImage_AndReturnTheWrittenBytes_BeforeAndAfterFsyncAndUnmount(string fs)
    {
        string w = HostWork, src = Path.Combine(w, "src");
        Directory.CreateDirectory(src);
        byte[] big = RandomBytes(8 << 20, 1), tail = RandomBytes((3 << 20) + 1234, 2), pad = RandomBytes(256 << 10, 3);
        File.WriteAllBytes(Path.Combine(src, "tail"), tail);
        // 1 MiB of data, a 3 MiB hole, 1 MiB of data (mke2fs -d keeps the hole; FAT stores the zeros).
        byte[] sparse = new byte[5 << 20];
        RandomBytes(1 << 20, 4).CopyTo(sparse, 0);
        RandomBytes(1 << 20, 5).CopyTo(sparse, 4 << 20);
        using (var f = new FileStream(Path.Combine(src, "sparse"), FileMode.CreateNew))
        {
            f.Write(sparse, 0, 1 << 20);
            f.Seek(3 << 20, SeekOrigin.Current);
            f.Write(sparse, 4 << 20, 1 << 20);
        }
        string img = Path.Combine(w, fs + ".img");
        string bigSrc = Path.Combine(w, "big"), padSrc = Path.Combine(w, "pad");
        File.WriteAllBytes(bigSrc, big);
        File.WriteAllBytes(padSrc, pad);
        if (fs == "ext2")
        {
            File.Copy(bigSrc, Path.Combine(src, "big"));
            FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", "-b", "4096", "-d", src, img, "65536k"), "mke2fs");
        }
        else
        {
            // FAT16: mtools fills the first free clusters (on FAT32 it goes on from the FSInfo hint).
            FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "16", "-n", "RUMPFUSE", img, "65536"), "mkfs.fat");
            // pad, tail after it; pad removed; big fills pad's clusters and goes on after tail.
            FsImages.Ok(FsImages.Run("mcopy", "-i", img, padSrc, Path.Combine(src, "tail"), Path.Combine(src, "sparse"), "::/"), "mcopy");
            FsImages.Ok(FsImages.Run("mdel", "-i", img, "::/pad"), "mdel");
            FsImages.Ok(FsImages.Run("mcopy", "-i", img, bigSrc, "::/"), "mcopy big");
            Assert.That(FsImages.Run("mshowfat", "-i", img, "::/big").output, Does.Match(@"<\d+-\d+>\s*<\d+-\d+>"), "mtools split /big in two cluster runs");
            File.Copy(bigSrc, Path.Combine(src, "big"));
        }
        string mnt = Mnt(), stats = Path.Combine(w, "stats");
        var env = new[] { ("RUMPFUSE_STATS", stats) };
        Process p = Start(img, mnt, env);
        foreach (string f in new[] { "big", "tail", "sparse" })
            Sh($"cmp {Q(Path.Combine(src, f))} {Q(mnt + "/" + f)}", "cmp of " + f + " read through the mount");

        // 256 KiB at 3 MiB + 100 (not block aligned), no fsync: the kernel's cache holds it dirty.
        string patch = Path.Combine(w, "patch"), expect = Path.Combine(w, "expect");
        byte[] pb = RandomBytes(256 << 10, 6);
        File.WriteAllBytes(patch, pb);
        pb.CopyTo(big, (3 << 20) + 100);
        File.WriteAllBytes(expect, big);
        Sh($"dd if={Q(patch)} of={Q(mnt + "/big")} bs=256k seek={(3 << 20) + 100} oflag=seek_bytes conv=notrunc status=none", "dd into /big");
        Sh($"dd if={Q(mnt + "/big")} iflag=direct bs=1M status=none | cmp - {Q(expect)}", "an O_DIRECT read after the write, before fsync");
        Sh($"sync {Q(mnt + "/big")} && dd if={Q(mnt + "/big")} iflag=direct bs=1M status=none | cmp - {Q(expect)}", "an O_DIRECT read after fsync");
        Unmount(p, mnt);
        var (spliced, copied) = ReadStats(stats);
        Assert.That(spliced, Is.GreaterThan(0), "reads answered by splicing from the image");
        Assert.That(copied, Is.GreaterThan(0), "reads copied (the dirty range before fsync)");
        FsImages.AssertClean(fs == "ext2" ? "ext2fs" : "msdos", img);

        File.Delete(stats);
        p = Start(img, mnt, env);
        Sh($"cmp {Q(expect)} {Q(mnt + "/big")} && cmp {Q(Path.Combine(src, "sparse"))} {Q(mnt + "/sparse")} && cmp {Q(Path.Combine(src, "tail"))} {Q(mnt + "/tail")}",
            "reads after an unmount and a new mount");
        Unmount(p, mnt);
        Assert.That(ReadStats(stats).spliced, Is.GreaterThan(0), "reads after the new mount answered by splicing");
        string back = Path.Combine(w, "back");
        if (fs == "ext2") FsImages.Ok(FsImages.Run("debugfs", "-R", "dump /big " + back, img), "debugfs dump");
        else FsImages.Ok(FsImages.Run("mcopy", "-n", "-i", img, "::/big", back), "mcopy out");
        Assert.That(File.ReadAllBytes(back), Is.EqualTo(big), "the image holds the written bytes");
    }
}
