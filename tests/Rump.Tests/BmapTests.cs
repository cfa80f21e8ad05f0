using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.Win32.SafeHandles;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// VOP_BMAP for readers that move the bytes themselves (<see cref="VnodeOps.Bmap"/>, what
/// rumpfuse's spliced read replies use): on images made by mke2fs, mkfs.fat + mtools and xorriso,
/// the runs it hands over hold the file's bytes (read from the image's host descriptor, as the
/// host's splice reads them), are the blocks debugfs and mshowfat name, and are refused
/// (EOPNOTSUPP, nothing moved) for holes, for blocks the buffer cache holds dirty, and past the
/// end of the file; after fsync the new bytes come from the device.
/// </summary>
public sealed class BmapTests : KernelTest
{
    private const string Dev = "/dev/img0";

    /// <summary>A sink that records the runs and reads them from the device's host descriptor.</summary>
    private sealed class Recorder : DeviceRunSink
    {
        public readonly List<(long off, int len)> Runs = new();
        public readonly MemoryStream Bytes = new();
        public int Transfers;
        private readonly List<(int fd, long pos, int len)> _host = new();

        public override bool Add(BlockDevice dev, long offset, int length)
        {
            if (!dev.HostRange(offset, length, out int fd, out long pos)) return false;
            Runs.Add((offset, length));
            _host.Add((fd, pos, length));
            return true;
        }

        public override int Transfer(Lwp l)
        {
            Transfers++;
            foreach (var (fd, pos, len) in _host)
            {
                using var h = new SafeFileHandle(fd, ownsHandle: false);
                byte[] b = new byte[len];
                int got = RandomAccess.Read(h, b, pos);
                Bytes.Write(b, 0, got);
            }
            return 0;
        }
    }

    /// <summary>Vop.Bmap of <paramref name="path"/>'s [off, off + len) into a new recorder.</summary>
    private static int Bmap(RumpKernel k, string path, long off, int len, out Recorder r)
    {
        r = new Recorder();
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "bmap");
        Span<char> buf = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(buf);
        Assert.That(pb.Set(path), Is.EqualTo(0));
        Assert.That(Namei.Lookup(ctx.Lwp, ctx.Lwp.Cred, Abi.AT_FDCWD, pb, true, out Vnode? vp), Is.EqualTo(0), "lookup " + path);
        try { return Vop.Bmap(ctx.Lwp, vp!, off, len, IoFlag.NoAtime, r); }
        finally { vp!.Rele(); }
    }

    /// <summary>Bmap succeeds and hands over exactly the file's bytes of the range (cut at its end).</summary>
    private static Recorder AssertMaps(RumpKernel k, string path, byte[] file, long off, int len)
    {
        int e = Bmap(k, path, off, len, out Recorder r);
        Assert.That(e, Is.EqualTo(0), $"Bmap({path}, {off}, {len}): expected 0, got errno {e}");
        Assert.That(r.Transfers, Is.EqualTo(1), "one transfer per Bmap");
        int want = (int)Math.Min(len, file.Length - off);
        byte[] got = r.Bytes.ToArray();
        Assert.That(got.Length, Is.EqualTo(want), $"bytes handed over for [{off}, +{len}) of a {file.Length}-byte file");
        int diff = got.AsSpan().CommonPrefixLength(file.AsSpan((int)off, want));
        Assert.That(diff, Is.EqualTo(want), $"the device's bytes of [{off}, +{len}) differ from the file's at +{diff}");
        return r;
    }

    private static void AssertRefused(RumpKernel k, string path, long off, int len, string why)
    {
        int e = Bmap(k, path, off, len, out Recorder r);
        Assert.That(e, Is.EqualTo(Abi.EOPNOTSUPP), $"Bmap({path}, {off}, {len}) {why}: expected EOPNOTSUPP, got {e}");
        Assert.That(r.Transfers, Is.EqualTo(0), "nothing moves when Bmap refuses (" + why + ")");
    }

    private static byte[] Random(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Overwrites <paramref name="data"/> at <paramref name="at"/> of <paramref name="path"/> in the kernel (a delayed write: dirty in the cache); the open descriptor.</summary>
    private static int WriteDirty(RumpKernel k, string path, byte[] file, byte[] data, long at)
    {
        int fd = k.Open(path, Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open " + path);
        Assert.That(k.Pwrite(fd, data, at), Is.EqualTo(data.Length), "pwrite");
        data.CopyTo(file, at);
        return fd;
    }

    [Test]
    public void Mkfs_Ext2_RunsAreTheBlocksDebugfsLists_HolesAndDirtyBlocksAreRefused_AndFsyncedBytesComeFromTheDevice()
    {
        string src = Path.Combine(HostWork, "src");
        Directory.CreateDirectory(src);
        byte[] big = Random(5 << 20, 1), tail = Random(300_001, 2);
        File.WriteAllBytes(Path.Combine(src, "big"), big);
        File.WriteAllBytes(Path.Combine(src, "tail"), tail);
        // 64 KiB of data, a 1 MiB hole (mke2fs -d keeps holes), 64 KiB of data.
        byte[] sparse = new byte[(64 << 10) * 2 + (1 << 20)];
        Random(64 << 10, 3).CopyTo(sparse, 0);
        Random(64 << 10, 4).CopyTo(sparse, (64 << 10) + (1 << 20));
        using (var f = new FileStream(Path.Combine(src, "sparse"), FileMode.CreateNew))
        {
            f.Write(sparse, 0, 64 << 10);
            f.Seek(1 << 20, SeekOrigin.Current);
            f.Write(sparse, (64 << 10) + (1 << 20), 64 << 10);
        }
        // 1 KiB blocks: an indirect block every 256 data blocks, so large ranges have several runs.
        string img = Ext2fsTests.Mkfs(HostWork, "ext2", src, 16 << 10, 1024);
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        Assert.That(k.EtfsRegister(Dev, img), Is.EqualTo(0));
        Assert.That(k.MountAs("ext2fs", Dev, "/mnt", 0), Is.EqualTo(0), "mount ext2fs");

        // The oracle: the file's data blocks in file order, from debugfs's map ("(0-11):1234-1245,
        // (IND):1246, (12-267):1247-1502, ..."; the indirect blocks are left out).
        var blocks = new long[big.Length / 1024];
        foreach (Match m in Regex.Matches(Ext2fsTests.Debugfs(img, "stat /big"), @"\((\d+)(?:-(\d+))?\):(\d+)"))
        {
            long l0 = long.Parse(m.Groups[1].Value), l1 = m.Groups[2].Success ? long.Parse(m.Groups[2].Value) : l0, p0 = long.Parse(m.Groups[3].Value);
            for (long lb = l0; lb <= l1 && lb < blocks.Length; lb++) blocks[lb] = p0 + (lb - l0);
        }
        Assert.That(Array.IndexOf(blocks, 0L), Is.EqualTo(-1), "debugfs's map of /big names a block for every KiB");
        foreach (var (off, len) in new (long, int)[] { (0, 1 << 20), (777, 1 << 20), (3 << 20, 1 << 20), ((5 << 20) - 4000, 1 << 20) })
        {
            Recorder r = AssertMaps(k, "/mnt/big", big, off, len);
            if (off + len <= big.Length)
                Assert.That(r.Runs.Count, Is.GreaterThan(1), $"[{off}, +{len}) spans an indirect block: more than one run");
            var got = new List<long>();
            foreach (var (doff, dlen) in r.Runs)
                for (long b = doff / 1024; b <= (doff + dlen - 1) / 1024; b++) got.Add(b);
            long first = off / 1024, last = (Math.Min(off + len, big.Length) - 1) / 1024;
            Assert.That(got, Is.EqualTo(blocks[(int)first..(int)(last + 1)]), $"the runs of [{off}, +{len}) are the blocks debugfs lists");
        }
        AssertMaps(k, "/mnt/tail", tail, 290_000, 1 << 20);
        AssertMaps(k, "/mnt/sparse", sparse, 0, 64 << 10);
        AssertRefused(k, "/mnt/sparse", 32 << 10, 64 << 10, "over a hole");
        AssertRefused(k, "/mnt/big", big.Length, 4096, "at the end of the file");

        // Dirty blocks: refused until fsync writes them; elsewhere the file still maps.
        int fd = WriteDirty(k, "/mnt/big", big, Random(10_000, 5), (2 << 20) + 100);
        AssertRefused(k, "/mnt/big", 2 << 20, 1 << 20, "over blocks dirty in the cache");
        AssertMaps(k, "/mnt/big", big, 0, 1 << 20);
        Assert.That(k.Fsync(fd), Is.EqualTo(0), "fsync");
        AssertMaps(k, "/mnt/big", big, 2 << 20, 1 << 20);
        Assert.That(k.Close(fd), Is.EqualTo(0));

        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        Ext2fsTests.AssertFsckClean(img);
        Assert.That(Ext2fsTests.DebugfsCat(img, "/big"), Is.EqualTo(big), "debugfs reads the written bytes");
    }

    [Test]
    public void Mkfs_Fat_AFragmentedFileMapsToTheClusterRunsMshowfatLists_AndDirtyClustersAreRefused()
    {
        string img = Path.Combine(HostWork, "fat.img");
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "16", "-s", "4", img, "16384"), "mkfs.fat");
        byte[] a = Random(64 << 10, 11), b = Random(64 << 10, 12), big = Random((3 << 20) + 777, 13);
        foreach (var (name, data) in new[] { ("a", a), ("b", b), ("big", big) }) File.WriteAllBytes(Path.Combine(HostWork, name), data);
        // a, then b after it; a removed; big fills a's clusters first and goes on after b: two runs.
        FsImages.Ok(FsImages.Run("mcopy", "-i", img, Path.Combine(HostWork, "a"), Path.Combine(HostWork, "b"), "::/"), "mcopy a b");
        FsImages.Ok(FsImages.Run("mdel", "-i", img, "::/a"), "mdel a");
        FsImages.Ok(FsImages.Run("mcopy", "-i", img, Path.Combine(HostWork, "big"), "::/"), "mcopy big");
        string fat = FsImages.Run("mshowfat", "-i", img, "::/big").output;
        int fragments = Regex.Matches(fat, @"<\d+(-\d+)?>").Count;
        Assert.That(fragments, Is.EqualTo(2), "mtools made /big of two cluster runs: " + fat);

        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        Assert.That(k.EtfsRegister(Dev, img), Is.EqualTo(0));
        Assert.That(k.MountAs("msdos", Dev, "/mnt", 0), Is.EqualTo(0), "mount msdos");

        Recorder whole = AssertMaps(k, "/mnt/big", big, 0, big.Length);
        Assert.That(whole.Runs.Count, Is.EqualTo(fragments), "one run per fragment mshowfat lists (" + fat.Trim() + ")");
        AssertMaps(k, "/mnt/big", big, 1000, 1 << 20);
        AssertMaps(k, "/mnt/big", big, big.Length - 5000, 1 << 20);
        AssertMaps(k, "/mnt/b", b, 100, 64 << 10);
        AssertRefused(k, "/mnt/big", big.Length, 4096, "at the end of the file");

        int fd = WriteDirty(k, "/mnt/big", big, Random(3000, 14), 1 << 20);
        AssertRefused(k, "/mnt/big", (1 << 20) - 8192, 64 << 10, "over clusters dirty in the cache");
        AssertMaps(k, "/mnt/big", big, 2 << 20, 64 << 10);
        Assert.That(k.Fsync(fd), Is.EqualTo(0), "fsync");
        AssertMaps(k, "/mnt/big", big, 0, big.Length);
        Assert.That(k.Close(fd), Is.EqualTo(0));

        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        FsImages.AssertClean("msdos", img);
        string back = Path.Combine(HostWork, "back");
        FsImages.Ok(FsImages.Run("mcopy", "-n", "-i", img, "::/big", back), "mcopy out");
        Assert.That(File.ReadAllBytes(back), Is.EqualTo(big), "mtools reads the written bytes");
    }

    [Test]
    public void Xorriso_Iso9660_FileMapsToItsExtent()
    {
        string src = Path.Combine(HostWork, "src");
        Directory.CreateDirectory(src);
        byte[] big = Random((2 << 20) + 333, 21), small = Random(5000, 22);
        File.WriteAllBytes(Path.Combine(src, "big"), big);
        File.WriteAllBytes(Path.Combine(src, "small"), small);
        string img = Path.Combine(HostWork, "cd.iso");
        FsImages.Ok(FsImages.Run("xorriso", "-as", "mkisofs", "-R", "-o", img, src), "xorriso");
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        Assert.That(k.EtfsRegister(Dev, img), Is.EqualTo(0));
        Assert.That(k.MountAs("cd9660", Dev, "/mnt", Abi.MNT_RDONLY), Is.EqualTo(0), "mount cd9660");
        Assert.That(AssertMaps(k, "/mnt/big", big, 0, big.Length).Runs.Count, Is.EqualTo(1), "one extent, one run");
        AssertMaps(k, "/mnt/big", big, 12345, 1 << 20);
        AssertMaps(k, "/mnt/big", big, big.Length - 100, 1 << 20);
        AssertMaps(k, "/mnt/small", small, 0, 1 << 20);
        AssertRefused(k, "/mnt/small", small.Length, 4096, "at the end of the file");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }
}
