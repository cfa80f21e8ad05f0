using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// The block layer: etfs registration of host files, partition tables made by the real sfdisk,
/// hostile partition tables, and the buffer cache (delayed writes, flush, read-ahead, the memory bound).
/// </summary>
public class BlockLayerTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rump-blk-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string Image(string name, long size)
    {
        string p = Path.Combine(_dir, name);
        using (var f = new FileStream(p, FileMode.Create)) f.SetLength(size);
        return p;
    }

    private static void Sfdisk(string image, string script)
    {
        var psi = new ProcessStartInfo("sfdisk", "-q " + image) { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true };
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { Oracle.Missing("sfdisk"); return; }
        p.StandardInput.Write(script);
        p.StandardInput.Close();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0), "sfdisk failed: " + p.StandardError.ReadToEnd());
    }

    private static List<string> Names(RumpKernel k, string dir)
    {
        var l = new List<(string name, byte type, ulong ino)>();
        Assert.That(k.ReadDir(dir, l), Is.EqualTo(0));
        var n = new List<string>();
        foreach (var e in l) if (e.name != "." && e.name != "..") n.Add(e.name);
        n.Sort(StringComparer.Ordinal);
        return n;
    }

    [Test]
    public void Sfdisk_MbrWithLogicalPartitions_EachPartitionIsADevice()
    {
        string img = Image("mbr.img", 64 << 20);
        Sfdisk(img, "label: dos\n,16M,c\n,16M,83\n,,5\n,8M,83\n,,83\n");
        var k = RumpKernel.Boot();
        Assert.That(k.EtfsRegister("/dev/disk0", img), Is.EqualTo(0));
        Assert.That(Names(k, "/dev"), Is.EqualTo(new[] { "disk0", "disk0a", "disk0b", "disk0c", "disk0d" }));
        Assert.That(k.Stat("/dev/disk0b", out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFBLK));
        var vfs = k.Kernel.GetService<Vfs.Vfs>()!;
        BlockDevice? b = vfs.Devices.Lookup(st.st_rdev);
        Assert.That(b, Is.Not.Null);
        Assert.That(b!.Size, Is.EqualTo(16L << 20), "second primary partition size");
        Assert.That(((PartitionDevice)b).Start, Is.EqualTo((1L << 20) + (16L << 20)), "sfdisk aligns the first partition at 1 MiB");
    }

    [Test]
    public void Sfdisk_Gpt_PartitionsFoundThroughTheProtectiveMbr()
    {
        string img = Image("gpt.img", 32 << 20);
        Sfdisk(img, "label: gpt\n,8M\n,8M\n");
        var k = RumpKernel.Boot();
        Assert.That(k.EtfsRegister("/dev/g0", img), Is.EqualTo(0));
        Assert.That(Names(k, "/dev"), Is.EqualTo(new[] { "g0", "g0a", "g0b" }));
    }

    [Test]
    public void HostileMbr_LoopingExtendedChain_Ends()
    {
        string img = Image("loop.img", 4 << 20);
        byte[] s0 = new byte[512];
        Mbr.Emit(s0, new[] { new Mbr.Entry(0x83, 2048, 2048, false), new Mbr.Entry(Mbr.TypeExtendedLba, 4096, 4096, false) });
        byte[] ebr = new byte[512];
        // A logical partition, then a "next" link that points back at this same EBR.
        Mbr.Emit(ebr, new[] { new Mbr.Entry(0x83, 1, 100, false), new Mbr.Entry(Mbr.TypeExtendedLba, 0, 4096, false) });
        using (var f = new FileStream(img, FileMode.Open))
        {
            f.Write(s0);
            f.Position = 4096L * 512;
            f.Write(ebr);
        }
        var k = RumpKernel.Boot();
        Assert.That(k.EtfsRegister("/dev/l0", img), Is.EqualTo(0));
        Assert.That(Names(k, "/dev"), Is.EqualTo(new[] { "l0", "l0a", "l0b" }));
    }

    [Test]
    public void HostileGpt_BadCrc_NoPartitions()
    {
        string img = Image("badgpt.img", 32 << 20);
        Sfdisk(img, "label: gpt\n,8M\n");
        using (var f = new FileStream(img, FileMode.Open)) { f.Position = 512 + 40; f.WriteByte(0x7f); }
        var k = RumpKernel.Boot();
        Assert.That(k.EtfsRegister("/dev/b0", img), Is.EqualTo(0));
        Assert.That(Names(k, "/dev"), Is.EqualTo(new[] { "b0" }), "a header with a wrong CRC must be ignored");
    }

    [Test]
    public void Etfs_Errors()
    {
        var k = RumpKernel.Boot();
        string img = Image("e.img", 1 << 20);
        Assert.That(k.EtfsRegister("/dev/e0", Path.Combine(_dir, "missing.img")), Is.EqualTo(-Abi.ENOENT));
        Assert.That(k.EtfsRegister("relative", img), Is.EqualTo(-Abi.EINVAL));
        Assert.That(k.EtfsRegister("/dev/e0", _dir), Is.EqualTo(-Abi.EFTYPE), "a directory is not a disk");
        Assert.That(k.EtfsRegister("/dev/e0", img, Abi.ETFS_REG), Is.EqualTo(-Abi.EOPNOTSUPP));
        Assert.That(k.EtfsRegister("/dev/e0", img), Is.EqualTo(0));
        Assert.That(k.EtfsRegister("/dev/e0", img), Is.EqualTo(-Abi.EEXIST));
        Assert.That(k.EtfsRemove("/dev/e0"), Is.EqualTo(0));
        Assert.That(k.Stat("/dev/e0", out _), Is.EqualTo(-Abi.ENOENT));
        Assert.That(k.EtfsRemove("/dev/e0"), Is.EqualTo(-Abi.ENOENT));
    }

    [Test]
    public void Etfs_WithSize_ExposesAWindow()
    {
        string img = Image("w.img", 4 << 20);
        var k = RumpKernel.Boot();
        Assert.That(k.EtfsRegister("/dev/w0", img, Abi.ETFS_BLK, 1 << 20, 1 << 20), Is.EqualTo(0));
        k.Stat("/dev/w0", out RumpStat st);
        BlockDevice d = k.Kernel.GetService<Vfs.Vfs>()!.Devices.Lookup(st.st_rdev)!;
        Assert.That(d.Size, Is.EqualTo(1 << 20));
    }

    /// <summary>A kernel context and the device behind an etfs key, for driving the cache directly.</summary>
    private static (RumpKernel k, Vfs.Vfs vfs, BlockDevice dev) Disk(string img)
    {
        var k = RumpKernel.Boot();
        Assert.That(k.EtfsRegister("/dev/c0", img), Is.EqualTo(0));
        k.Stat("/dev/c0", out RumpStat st);
        var vfs = k.Kernel.GetService<Vfs.Vfs>()!;
        return (k, vfs, vfs.Devices.Lookup(st.st_rdev)!);
    }

    [Test]
    public void BufCache_DelayedWriteReachesTheHostFileOnlyAtFlush()
    {
        string img = Image("c.img", 1 << 20);
        var (k, vfs, dev) = Disk(img);
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        BufCache bc = vfs.BufCache;
        Assert.That(bc.Bread(dev, 8, 4096, out Buf bp), Is.EqualTo(0));
        bp.Data.AsSpan().Fill(0xab);
        bc.Bdwrite(bp);
        byte[] host = File.ReadAllBytes(img);
        Assert.That(host[8 * 512], Is.EqualTo(0), "a delayed write must not reach the disk before a flush");
        Assert.That(bc.Flush(dev), Is.EqualTo(0));
        host = File.ReadAllBytes(img);
        Assert.That(host[8 * 512], Is.EqualTo(0xab));
        Assert.That(host[8 * 512 + 4095], Is.EqualTo(0xab));
        Assert.That(host[8 * 512 + 4096], Is.EqualTo(0), "the write must cover exactly the buffer");
    }

    [Test]
    public void BufCache_SequentialReadsReadAhead_AndHitTheCache()
    {
        string img = Image("ra.img", 4 << 20);
        byte[] data = new byte[4 << 20];
        new Random(7).NextBytes(data);
        File.WriteAllBytes(img, data);
        var (k, vfs, dev) = Disk(img);
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        BufCache bc = vfs.BufCache;
        for (int i = 0; i < 64; i++)
        {
            Assert.That(bc.Bread(dev, i * 8, 4096, out Buf bp), Is.EqualTo(0));
            Assert.That(bp.Data.AsSpan().SequenceEqual(data.AsSpan(i * 4096, 4096)), Is.True, "block " + i + " contents");
            bc.Brelse(bp);
        }
        Assert.That(bc.ReadAheads, Is.GreaterThan(0), "sequential reads must start read-ahead");
        Assert.That(bc.Hits, Is.GreaterThan(32), "read-ahead blocks must be found in the cache");
    }

    [Test]
    public void BufCache_StaysWithinItsBound_WritingBackDirtyVictims()
    {
        string img = Image("big.img", 64 << 20);
        var (k, vfs, dev) = Disk(img);
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        var bc = new BufCache(k.Kernel, 1 << 20) { ReadAhead = 0 };
        for (int i = 0; i < 1024; i++)
        {
            Assert.That(bc.Getblk(dev, i * 8L, 4096, out Buf bp), Is.EqualTo(0));
            bp.Data[0] = (byte)(i + 1);
            bc.Bdwrite(bp);
            Assert.That(bc.CachedBytes, Is.LessThanOrEqualTo(1 << 20), "cache size after " + i + " writes");
        }
        Assert.That(bc.Flush(dev), Is.EqualTo(0));
        byte[] host = File.ReadAllBytes(img);
        for (int i = 0; i < 1024; i++)
            Assert.That(host[i * 4096], Is.EqualTo((byte)(i + 1)), "block " + i + " written back");
    }

    [Test]
    public void BufCache_SequentialDirtyBlocks_AreWrittenInClusteredTransfers()
    {
        // A large file write used to cost one host transfer (and one wait for the I/O thread)
        // per block: each dirty victim was written alone, and so was each block at a flush.
        string img = Image("cluster.img", 64 << 20);
        var (k, vfs, dev) = Disk(img);
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        var bc = new BufCache(k.Kernel, 1 << 20) { ReadAhead = 0 };
        const int blocks = 1024;
        for (int i = 0; i < blocks; i++)
        {
            Assert.That(bc.Getblk(dev, i * 8L, 4096, out Buf bp), Is.EqualTo(0));
            bp.Data.AsSpan().Fill((byte)(i * 7 + 1));
            bc.Bdwrite(bp);
            Assert.That(bc.CachedBytes, Is.LessThanOrEqualTo(1 << 20), "cache size after " + i + " writes");
        }
        Assert.That(bc.Flush(dev), Is.EqualTo(0));
        int perCluster = bc.ClusterBytes / 4096;
        // Eviction writes a cluster per perCluster blocks, the flush what is left: allow twice that.
        long bound = 2L * blocks / perCluster;
        Assert.That(bc.Writes, Is.LessThanOrEqualTo(bound), $"write transfers for {blocks} sequential dirty blocks (clusters of {perCluster})");
        byte[] host = File.ReadAllBytes(img);
        for (int i = 0; i < blocks; i++)
            Assert.That(host.AsSpan(i * 4096, 4096).IndexOfAnyExcept((byte)(i * 7 + 1)), Is.EqualTo(-1), "block " + i + " written back whole");
    }

    [Test]
    public void BufCache_ScatteredAndBackwardDirtyBlocks_AreWrittenBackExactly()
    {
        // Clusters are built from neighbours on both sides of a victim: blocks written backwards,
        // with gaps, and of two sizes must each land where they belong, and nothing else be written.
        string img = Image("scatter.img", 16 << 20);
        byte[] before = new byte[16 << 20];
        new Random(5).NextBytes(before);
        File.WriteAllBytes(img, before);
        var (k, vfs, dev) = Disk(img);
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        var bc = new BufCache(k.Kernel, 256 << 10) { ReadAhead = 0 };
        byte[] expect = (byte[])before.Clone();
        void Put(long blk, int size, byte v)
        {
            Assert.That(bc.Getblk(dev, blk, size, out Buf bp), Is.EqualTo(0));
            bp.Data.AsSpan().Fill(v);
            bc.Bdwrite(bp);
            expect.AsSpan((int)(blk * 512), size).Fill(v);
        }
        for (int i = 300; i >= 0; i--)
            if (i % 37 != 5) Put(i * 8L, 4096, (byte)(i | 1));      // backwards, a gap every 37 blocks
        for (int i = 0; i < 200; i++)
            Put(8192 + i * 2L, 1024, (byte)(i ^ 0x5a));               // another size, another region
        Assert.That(bc.Flush(dev), Is.EqualTo(0));
        Assert.That(bc.BlocksWritten, Is.GreaterThanOrEqualTo(300 - 8 + 200), "every dirty block written at least once");
        byte[] host = File.ReadAllBytes(img);
        int diff = host.AsSpan().CommonPrefixLength(expect);
        Assert.That(diff, Is.EqualTo(host.Length), $"image differs from the expected bytes at offset {diff}");
    }

    /// <summary>A device in memory that completes each transfer at once, and fails writes while <see cref="FailWrites"/> is set.</summary>
    private sealed unsafe class MemDisk : BlockDevice
    {
        public readonly byte[] Bytes;
        public volatile bool FailWrites;
        public int WriteTransfers;

        public MemDisk(int size) : base("memdisk", size, DevBSize, readOnly: false) { Bytes = new byte[size]; }

        public override void Strategy(bool write, byte* data, int length, long offset, BioDone done)
        {
            int e = Check(write, length, offset);
            if (e == 0 && write && FailWrites) e = Abi.EIO;
            if (e == 0 && write) new ReadOnlySpan<byte>(data, length).CopyTo(Bytes.AsSpan((int)offset));
            else if (e == 0) Bytes.AsSpan((int)offset, length).CopyTo(new Span<byte>(data, length));
            if (write) System.Threading.Interlocked.Increment(ref WriteTransfers);
            done.Done(e == 0 ? length : 0, e);
        }

        public override int Flush() => 0;
    }

    [Test]
    public void BufCache_WriteBehind_WritesFullClustersBeforeAFlush_AndAFailedOneAtTheNextFlush()
    {
        var k = RumpKernel.Boot();
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        var disk = new MemDisk(8 << 20) { FailWrites = true };
        var bc = new BufCache(k.Kernel, 4 << 20) { ReadAhead = 0 };
        int perCluster = bc.ClusterBytes / 4096;
        int blocks = 2 * perCluster + 5;
        for (int i = 0; i < blocks; i++)
        {
            Assert.That(bc.Getblk(disk, i * 8L, 4096, out Buf bp), Is.EqualTo(0));
            bp.Data.AsSpan().Fill((byte)(i + 1));
            bc.Bdwrite(bp);
        }
        // Two full aligned clusters, each one transfer, before anything asked for a flush (the
        // partial third waits). Their writes failed: the buffers must still be dirty.
        Assert.That(bc.Writes, Is.EqualTo(2), "write-behind transfers of the two full clusters");
        Assert.That(disk.WriteTransfers, Is.EqualTo(2));
        Assert.That(bc.Flush(disk), Is.EqualTo(Abi.EIO), "a flush while the device fails writes");
        disk.FailWrites = false;
        Assert.That(bc.Flush(disk), Is.EqualTo(0), "the flush after the device recovered");
        for (int i = 0; i < blocks; i++)
            Assert.That(disk.Bytes.AsSpan(i * 4096, 4096).IndexOfAnyExcept((byte)(i + 1)), Is.EqualTo(-1), "block " + i + " on the device");
        // Written now: a further flush has nothing to write.
        int before = disk.WriteTransfers;
        Assert.That(bc.Flush(disk), Is.EqualTo(0));
        Assert.That(disk.WriteTransfers, Is.EqualTo(before), "transfers by a flush with nothing dirty");
    }

    [Test]
    public void BufCache_ReadAheadUnderAFullDirtyCache_LooksAtABoundedNumberOfBuffers()
    {
        // A large write fills the cache with dirty buffers; reads that start read-ahead then
        // (msdosfs reading FAT sectors while it allocates) used to walk every dirty buffer per
        // block, which made writing a file cost time in proportion to the cache.
        string img = Image("dirty.img", 64 << 20);
        var (k, vfs, dev) = Disk(img);
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        var bc = new BufCache(k.Kernel, 1 << 20);
        const int dirty = 250, reads = 64;
        for (int i = 0; i < dirty; i++)
        {
            Assert.That(bc.Getblk(dev, i * 8L, 4096, out Buf bp), Is.EqualTo(0));
            bp.Data[0] = (byte)(i + 1);
            bc.Bdwrite(bp);
        }
        long before = bc.CleanEvictSteps;
        for (int i = 0; i < reads; i++)
        {
            Assert.That(bc.Bread(dev, (4096 + i) * 8L, 4096, out Buf bp), Is.EqualTo(0));
            bc.Brelse(bp);
        }
        long steps = bc.CleanEvictSteps - before;
        // Two reservations per read at most (the read's own cluster, and read-ahead), each giving up
        // after CleanEvictScan buffers.
        long bound = 2L * reads * BufCache.CleanEvictScan;
        Assert.That(steps, Is.LessThanOrEqualTo(bound), $"buffers looked at by clean eviction for {reads} reads (at most {BufCache.CleanEvictScan} per reservation)");
        Assert.That(bc.Flush(dev), Is.EqualTo(0));
        byte[] host = File.ReadAllBytes(img);
        for (int i = 0; i < dirty; i++)
            Assert.That(host[i * 4096], Is.EqualTo((byte)(i + 1)), "block " + i + " written back");
    }

    [Test]
    public void BufCache_BlockBeyondTheDevice_IsEio()
    {
        string img = Image("s.img", 1 << 20);
        var (k, vfs, dev) = Disk(img);
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        Assert.That(vfs.BufCache.Bread(dev, (1 << 20) / 512, 4096, out _), Is.EqualTo(Abi.EIO));
        Assert.That(vfs.BufCache.Bread(dev, 0, 1000, out _), Is.EqualTo(Abi.EINVAL), "size not a sector multiple");
    }
}
