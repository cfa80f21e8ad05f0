using System;
using System.IO;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// A host file as a block device: transfers the kernel waits for (a cache miss, a write-through,
/// a flush's writes, ReadSync) are done on the caller's thread, not handed to rumpuser_bio's
/// worker; asynchronous ones (read-ahead, write-behind) still are.
/// </summary>
public class HostBlockDeviceTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rump-hostblk-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void WaitedForTransfers_RunOnTheCallersThread_NotThroughTheBioWorker()
    {
        string img = Path.Combine(_dir, "d.img");
        byte[] data = new byte[1 << 20];
        new Random(11).NextBytes(data);
        File.WriteAllBytes(img, data);
        var k = RumpKernel.Boot();
        Assert.That(k.EtfsRegister("/dev/hb0", img), Is.EqualTo(0));
        Assert.That(k.Stat("/dev/hb0", out RumpStat st), Is.EqualTo(0));
        var vfs = k.Kernel.GetService<Vfs.Vfs>()!;
        var dev = vfs.Devices.Lookup(st.st_rdev) as HostBlockDevice;
        Assert.That(dev, Is.Not.Null, "an etfs-registered host file is a HostBlockDevice");
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        var bc = new BufCache(k.Kernel, 1 << 20) { ReadAhead = 0 };
        long before = dev!.Handoffs;

        // Misses read and a write-through, on scattered blocks (no read-ahead).
        foreach (int blk in new[] { 40, 8, 200 })
        {
            Assert.That(bc.Bread(dev, blk * 8, 4096, out Buf bp), Is.EqualTo(0));
            Assert.That(bp.Data.AsSpan(0, 4096).SequenceEqual(data.AsSpan(blk * 4096, 4096)), Is.True, "block " + blk + " read back");
            bc.Brelse(bp);
        }
        Assert.That(bc.Bread(dev, 16 * 8, 4096, out Buf w), Is.EqualTo(0));
        w.Data.AsSpan(0, 4096).Fill(0xcd);
        Assert.That(bc.Bwrite(w), Is.EqualTo(0));
        byte[] back = new byte[4096];
        Assert.That(dev.ReadSync(k.Kernel, 16 * 4096, back), Is.EqualTo(0));
        Assert.That(Array.TrueForAll(back, b => b == 0xcd), Is.True, "ReadSync sees the block Bwrite wrote");
        // Past the end: an error, and nothing handed off.
        Assert.That(dev.ReadSync(k.Kernel, (1 << 20) - 512, new byte[1024]), Is.EqualTo(Abi.EINVAL));

        Assert.That(dev.Handoffs - before, Is.EqualTo(0), "transfers handed to rumpuser_bio's worker for waited-for I/O");
        byte[] host = File.ReadAllBytes(img);
        Assert.That(host[16 * 4096] == 0xcd && host[17 * 4096 - 1] == 0xcd && host[17 * 4096] == data[17 * 4096], Is.True,
            "the host file holds exactly the written block");
    }
}
