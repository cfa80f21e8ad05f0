using System;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// tmpfs metadata counts (NetBSD tmpfs_mem.c): nodes, directory entries and their names are
/// charged to the mount's size and to the kernel's memory limit, a mount's node limit derives
/// from its size when none is given (3 + size/1024), statvfs reports what can still be made, and
/// a full file system says ENOSPC instead of growing the process without bound.
/// </summary>
public class TmpfsLimitTests : KernelTest
{
    private static void MountTmpfs(RumpKernel k, string at, long size, ulong nodes = 0)
    {
        Assert.That(k.Mkdir(at, 0x1ed), Is.EqualTo(0));
        var a = new RumpTmpfsArgs { ta_version = Abi.TMPFS_ARGS_VERSION, ta_size_max = size, ta_nodes_max = nodes, ta_root_mode = 0x1ed };
        Assert.That(k.Mount("tmpfs", at, 0, a), Is.EqualTo(0), "mount tmpfs");
    }

    /// <summary>A 200-byte name, distinct for each <paramref name="i"/>.</summary>
    private static string LongName(int i) => i.ToString("D8") + new string('n', 192);

    /// <summary>Creates empty files until one fails (at most <paramref name="cap"/>); returns how many were made and the error.</summary>
    private static int FillWithFiles(RumpKernel k, string dir, Func<int, string> name, int cap, out int error)
    {
        error = 0;
        for (int i = 0; i < cap; i++)
        {
            int fd = k.Open(dir + "/" + name(i), Abi.O_WRONLY | Abi.O_CREAT | Abi.O_EXCL, 0x1a4);
            if (fd < 0) { error = fd; return i; }
            k.Close(fd);
        }
        return cap;
    }

    [Test]
    public void AOneMiBTmpfs_GetsNetBSDsNodeLimit_AndMakesExactlyTheNodesStatvfsReports()
    {
        RumpKernel k = Boot();
        MountTmpfs(k, "/mnt", 1 << 20);
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs sv), Is.EqualTo(0));
        Assert.That(sv.f_files, Is.EqualTo(3 + (1 << 20) / 1024), "f_files: NetBSD's default node limit for 1 MiB (3 + size/1024)");
        Assert.That(sv.f_ffree, Is.EqualTo(sv.f_files - 1), "f_ffree: all but the root");

        int made = FillWithFiles(k, "/mnt", i => "f" + i, 5000, out int e);
        Assert.That(e, Is.EqualTo(-Abi.ENOSPC), "creating files on a full tmpfs: expected ENOSPC after " + sv.f_ffree + " files, got " + e + " after " + made);
        Assert.That((ulong)made, Is.EqualTo(sv.f_ffree), "files made, against the free nodes statvfs reported");
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs full), Is.EqualTo(0));
        Assert.That(full.f_ffree, Is.EqualTo(0), "free nodes when full");
        Assert.That(full.f_files, Is.EqualTo(sv.f_files), "total nodes stay the limit");

        Assert.That(k.Unlink("/mnt/f7"), Is.EqualTo(0));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs one), Is.EqualTo(0));
        Assert.That(one.f_ffree, Is.EqualTo(1), "a removed file gives its node back");
        WriteFile(k, "/mnt/again", "x");
    }

    [Test]
    public void LongNames_AreChargedToTheMountsSize()
    {
        RumpKernel k = Boot();
        // Nodes are not what runs out: names and entries fill the megabyte.
        MountTmpfs(k, "/mnt", 1 << 20, nodes: 1_000_000);
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs sv), Is.EqualTo(0));
        int made = FillWithFiles(k, "/mnt", LongName, 10_000, out int e);
        Assert.That(e, Is.EqualTo(-Abi.ENOSPC), "creating 200-byte names in a 1 MiB tmpfs: expected ENOSPC, got " + e + " after " + made + " files");
        // A node, an entry and a 200-char name are some 900 bytes.
        Assert.That(made, Is.InRange(800, 1300), "files with 200-byte names a megabyte holds");
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs full), Is.EqualTo(0));
        Assert.That(full.f_bfree, Is.EqualTo(0), "free blocks when full of names");
        Assert.That(full.f_ffree, Is.LessThanOrEqualTo(10), "free nodes are bounded by the space left");
        Assert.That(full.f_files, Is.EqualTo((ulong)made + 1 + full.f_ffree), "f_files: used + free");

        for (int i = 0; i < made; i += 2) Assert.That(k.Unlink("/mnt/" + LongName(i)), Is.EqualTo(0));
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs half), Is.EqualTo(0));
        Assert.That(half.f_bfree, Is.GreaterThan(sv.f_bfree / 3), "removing half the names frees their space");
        int again = FillWithFiles(k, "/mnt", i => "x" + LongName(i), 10_000, out e);
        Assert.That(e, Is.EqualTo(-Abi.ENOSPC));
        Assert.That(again, Is.InRange(made / 2 - 20, made / 2 + 20), "the freed space holds as many names again");
    }

    [Test]
    public void TheKernelMemoryLimit_StopsTheRootFileSystem()
    {
        const long Limit = 2_000_000;
        // The root tmpfs has no size of its own: only the kernel's limit (RUMP_MEMLIMIT) bounds it.
        RumpKernel k = RumpKernel.Boot(memLimit: Limit);
        try
        {
            var vfs = k.Kernel.GetService<Rump.Vfs.Vfs>()!;
            Assert.That(k.Mkdir("/d", 0x1ed), Is.EqualTo(0));
            long charged0 = vfs.ChargedMemory;
            int made = FillWithFiles(k, "/d", LongName, 100_000, out int e);
            Assert.That(e, Is.EqualTo(-Abi.ENOSPC), "creating files with 200-byte names under a 2 MB kernel limit: expected ENOSPC, got " + e + " after " + made);
            Assert.That(made, Is.InRange(1000, 2300), "files a 2 MB kernel holds");
            Assert.That(k.Kernel.Kmem.InUse, Is.LessThanOrEqualTo(Limit), "metadata and buffers (one account) stay under the limit");
            Assert.That(k.Kernel.Kmem.Charged, Is.GreaterThanOrEqualTo(vfs.ChargedMemory), "the metadata is in the kernel's account");
            Assert.That(k.Statvfs("/", out RumpStatvfs sv), Is.EqualTo(0));
            Assert.That(sv.f_bfree, Is.LessThanOrEqualTo(1), "statvfs of the full root: free blocks");
            Assert.That(sv.f_ffree, Is.LessThanOrEqualTo(10), "statvfs of the full root: free nodes");
            // Data needs kernel memory too: no page can be had now.
            int fd = k.Open("/d/" + LongName(0), Abi.O_WRONLY);
            Assert.That(k.Write(fd, new byte[4096]), Is.EqualTo(-Abi.ENOSPC), "a data page when metadata has taken the kernel's memory");
            k.Close(fd);

            for (int i = 0; i < made; i++) Assert.That(k.Unlink("/d/" + LongName(i)), Is.EqualTo(0));
            Assert.That(vfs.ChargedMemory, Is.EqualTo(charged0), "everything charged is given back");
            Assert.That(FillWithFiles(k, "/d", i => "y" + i, 100, out _), Is.EqualTo(100), "room again after the removals");
        }
        finally { k.LwprocSwitch(null); }
    }
}
