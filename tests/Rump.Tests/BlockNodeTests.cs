using System;
using System.IO;
using File = System.IO.File;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Block-device nodes opened with open(2) (NetBSD's spec_read and spec_write for VBLK): an etfs
/// key over a host file is read and written at any offset and length, and the host file (the
/// oracle) holds exactly the bytes written and nothing else changed; the device ends at its last
/// whole sector; a mounted device cannot be opened, nor an open one mounted; the partitions
/// etfs finds get nodes that work the same.
/// </summary>
public class BlockNodeTests : KernelTest
{
    private const string Key = "/dev/blk0";

    /// <summary>A host file of <paramref name="size"/> bytes, each byte a function of its offset.</summary>
    private string HostImage(int size)
    {
        string path = Path.Combine(HostWork, "disk.img");
        var b = new byte[size];
        for (int i = 0; i < size; i++) b[i] = (byte)(i * 7 + i / 256);
        File.WriteAllBytes(path, b);
        return path;
    }

    [Test]
    public void ReadsAndWritesAtAnyOffset_AreTheHostFilesBytes()
    {
        string img = HostImage(64 * 1024 + 300); // a partial sector at the end
        byte[] host = File.ReadAllBytes(img);
        RumpKernel k = Boot();
        Assert.That(k.EtfsRegister(Key, img), Is.EqualTo(0));
        int fd = k.Open(Key, Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open of the block-device node");

        var buf = new byte[3000];
        Assert.That(k.Pread(fd, buf, 1001), Is.EqualTo(3000), "an unaligned read");
        Assert.That(buf, Is.EqualTo(host.AsSpan(1001, 3000).ToArray()), "the host file's bytes at 1001");
        Assert.That(k.Lseek(fd, 511, Abi.SEEK_SET), Is.EqualTo(511));
        Assert.That(k.Read(fd, buf.AsSpan(0, 2)), Is.EqualTo(2), "read(2) at the file's offset");
        Assert.That(buf.AsSpan(0, 2).ToArray(), Is.EqualTo(host.AsSpan(511, 2).ToArray()));
        Assert.That(k.Lseek(fd, 0, Abi.SEEK_CUR), Is.EqualTo(513), "the offset moved by what was read");

        byte[] data = new byte[1500];
        Array.Fill(data, (byte)0xa5);
        Assert.That(k.Pwrite(fd, data, 777), Is.EqualTo(1500), "an unaligned write");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        byte[] after = File.ReadAllBytes(img);
        data.CopyTo(host, 777);
        Assert.That(after, Is.EqualTo(host), "the host file: the 1500 bytes at 777 changed, every other byte as it was");

        // The end is the last whole sector: 65536 bytes here.
        fd = k.Open(Key, Abi.O_RDWR);
        Assert.That(k.Pread(fd, buf, 65536 - 100), Is.EqualTo(100), "a read across the end stops there");
        Assert.That(k.Pread(fd, buf, 65536), Is.EqualTo(0), "a read at the end: end of file");
        Assert.That(k.Pwrite(fd, data, 65536 - 10), Is.EqualTo(10), "a write across the end: the bytes before it");
        Assert.That(k.Pwrite(fd, data, 65536), Is.EqualTo(-Abi.ENOSPC), "a write at the end");
        Assert.That(k.Pread(fd, buf, -1), Is.EqualTo(-Abi.EINVAL), "a negative offset");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(File.ReadAllBytes(img).AsSpan(65536).ToArray(), Is.EqualTo(host.AsSpan(65536).ToArray()), "the partial sector past the end untouched");
    }

    [Test]
    public void AMountedDeviceDoesNotOpen_AndAnOpenOneDoesNotMount()
    {
        string src = FsImages.MakeTree(HostWork, 1, 2);
        string img = Path.Combine(HostWork, "fs.img");
        FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", "-d", src, img, "4096k"), "mke2fs");
        RumpKernel k = Boot();
        Assert.That(k.EtfsRegister(Key, img), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));

        int fd = k.Open(Key, Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        var sb = new byte[2];
        Assert.That(k.Pread(fd, sb, 1024 + 56), Is.EqualTo(2), "the ext2 superblock's magic");
        Assert.That(sb[0] | sb[1] << 8, Is.EqualTo(0xef53));
        Assert.That(k.MountAs("ext2fs", Key, "/mnt", 0), Is.EqualTo(-Abi.EBUSY), "mount of a device open through its node");
        Assert.That(k.Close(fd), Is.EqualTo(0));

        Assert.That(k.MountAs("ext2fs", Key, "/mnt", 0), Is.EqualTo(0), "mount once it is closed");
        Assert.That(k.Open(Key, Abi.O_RDONLY), Is.EqualTo(-Abi.EBUSY), "open of a mounted device");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        fd = k.Open(Key, Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open once it is unmounted");
        k.Close(fd);
        FsImages.AssertClean("ext2fs", img);
    }

    /// <summary>An MBR partition etfs found gets a node of its own: its bytes are the partition's, its end the partition's.</summary>
    [Test]
    public void APartitionsNode_ReadsThePartitionOnly()
    {
        string img = Path.Combine(HostWork, "mbr.img");
        using (var fs = new FileStream(img, FileMode.Create)) fs.SetLength(4 << 20);
        // One partition from sector 2048 to the end, made by sfdisk (util-linux), the oracle of the layout.
        FsImages.RequireTool("sfdisk");
        FsImages.Ok(FsImages.Run("sh", "-c", "echo 'start=2048, type=83' | sfdisk -q " + img), "sfdisk");
        byte[] mark = new byte[512];
        Array.Fill(mark, (byte)0x5a);
        using (var fs = new FileStream(img, FileMode.Open)) { fs.Position = 2048L * 512; fs.Write(mark); }
        RumpKernel k = Boot();
        Assert.That(k.EtfsRegister(Key, img), Is.EqualTo(0));
        int fd = k.Open(Key + "a", Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open of the partition's node " + Key + "a");
        var buf = new byte[512];
        Assert.That(k.Pread(fd, buf, 0), Is.EqualTo(512));
        Assert.That(buf, Is.EqualTo(mark), "the partition's first sector");
        long partBytes = (4L << 20) - 2048L * 512;
        Assert.That(k.Pread(fd, buf, partBytes), Is.EqualTo(0), "the partition's end");
        k.Close(fd);
    }
}
