using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// Unmount against operations in progress (NetBSD vfs_busy): a lookup or operation running on a
/// mount holds it busy, an unmount waits for those and holds new ones off, a plain unmount is EBUSY
/// while anything references the file system, and a forced one leaves still-open files dead
/// (EIO/EBADF) instead of reading a torn-down file system. Concurrency is tested with real threads
/// looking up under a mount while it is unmounted and mounted again.
/// </summary>
public class UnmountTests : KernelTest
{
    private static void MountTmpfs(RumpKernel k, string at)
    {
        var a = new RumpTmpfsArgs { ta_version = Abi.TMPFS_ARGS_VERSION, ta_root_mode = 0x1ed };
        Assert.That(k.Mount("tmpfs", at, 0, a), Is.EqualTo(0), "mount tmpfs on " + at);
    }

    [Test]
    public void AVnodeHeldByALookupInProgress_MakesAPlainUnmountBusy()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        MountTmpfs(k, "/mnt");
        Assert.That(k.Mkdir("/mnt/d", 0x1ed), Is.EqualTo(0));
        // What a lookup holds between its steps: a reference on a directory of the mount.
        Vnode d = VnodeCacheTests.Lookup(k, "/mnt/d");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(-Abi.EBUSY), "unmount while a lookup holds /mnt/d");
        Assert.That(k.Stat("/mnt/d", out _), Is.EqualTo(0), "the mount is still there");
        VnodeCacheTests.Release(k, d);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0), "unmount once it is let go");
        Assert.That(k.Stat("/mnt/d", out _), Is.EqualTo(-Abi.ENOENT), "the covered directory shows again");
    }

    [Test]
    public void AnUnmount_WaitsForTheOperationsInProgress_AndHoldsNewOnesOff()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        MountTmpfs(k, "/mnt");
        WriteFile(k, "/mnt/inner", "inner");
        Vnode root = VnodeCacheTests.Lookup(k, "/mnt");
        Mount mp = root.Mount;
        VnodeCacheTests.Release(k, root);

        // An operation in progress on the mount (what Vop and namei take).
        using (var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "op"))
            Assert.That(mp.Busy(ctx.Lwp), Is.EqualTo(0));
        int unmounted = int.MinValue;
        var u = new Thread(() => { unmounted = k.Unmount("/mnt"); k.LwprocSwitch(null); });
        u.Start();
        // The unmount has started and is waiting for the operation.
        while (!mp.Unmounting && u.IsAlive) Thread.Yield();
        Assert.That(mp.Unmounting, Is.True, "unmount must wait while an operation is in progress");
        Assert.That(Volatile.Read(ref unmounted), Is.EqualTo(int.MinValue), "unmount returned with an operation in progress");

        // A lookup that starts now waits for the outcome, then finds the covered directory.
        int looked = int.MinValue;
        var s = new Thread(() => { looked = k.Stat("/mnt/inner", out _); k.LwprocSwitch(null); });
        s.Start();
        using (var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "op"))
            mp.Unbusy(ctx.Lwp);
        Assert.That(u.Join(Generous), Is.True, "unmount hung after the operation ended");
        Assert.That(s.Join(Generous), Is.True, "lookup hung");
        Assert.That(unmounted, Is.EqualTo(0), "unmount");
        Assert.That(looked, Is.EqualTo(-Abi.ENOENT), "a lookup during the unmount must not reach the unmounted file system");
        Assert.That(mp.BusyCount, Is.EqualTo(0));
    }

    /// <summary>
    /// A lookup that read the mount point before an unmount finished and asks for the mount after:
    /// it must find it gone (ENOENT), not cross into a file system whose root has been let go.
    /// </summary>
    [Test]
    public void BusyOnAMountAlreadyUnmounted_Fails()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        MountTmpfs(k, "/mnt");
        Vnode root = VnodeCacheTests.Lookup(k, "/mnt");
        Mount mp = root.Mount;
        VnodeCacheTests.Release(k, root);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "late lookup");
        Assert.That(mp.Busy(ctx.Lwp), Is.EqualTo(Abi.ENOENT), "busy on an unmounted file system");
        Assert.That(mp.BusyCount, Is.EqualTo(0), "a refused busy leaves no count behind");
    }

    [TestCase("tmpfs")]
    [TestCase("ext2fs")]
    [TestCase("msdos")]
    [TestCase("cd9660")]
    public void AForcedUnmount_LeavesOpenFilesDead(string fstype)
    {
        string src = FsImages.MakeTree(HostWork, 2, 3);
        RumpKernel k = Boot();
        string? img = FsImages.MountTree(k, fstype, src, HostWork);
        int fd = k.Open("/mnt/d0/f001", Abi.O_RDONLY);
        int dfd = k.Open("/mnt/d1", Abi.O_RDONLY | Abi.O_DIRECTORY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        Assert.That(dfd, Is.GreaterThanOrEqualTo(0));
        int wfd = -1;
        if (fstype != "cd9660")
        {
            // Removed while open: its space must be freed by the unmount.
            wfd = k.Open("/mnt/d0/gone", Abi.O_RDWR | Abi.O_CREAT, 0x1a4);
            Assert.That(k.Write(wfd, new byte[20000]), Is.EqualTo(20000));
            Assert.That(k.Unlink("/mnt/d0/gone"), Is.EqualTo(0));
        }
        var buf = new byte[100];
        Assert.That(k.Read(fd, buf), Is.GreaterThan(0), "read before");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(-Abi.EBUSY), "plain unmount with open files");
        Assert.That(k.Unmount("/mnt", Abi.MNT_FORCE), Is.EqualTo(0), "forced unmount");

        Assert.That(k.Pread(fd, buf, 0), Is.EqualTo(-Abi.EIO), "read of a file of an unmounted file system");
        Assert.That(k.Fstat(fd, out _), Is.EqualTo(-Abi.EBADF), "fstat of a file of an unmounted file system");
        Assert.That(Getdents(k, dfd, 4096, new List<(string, ulong, byte)>()), Is.EqualTo(-Abi.EBADF), "getdents of a directory of an unmounted file system");
        if (wfd >= 0) Assert.That(k.Write(wfd, buf), Is.EqualTo(-Abi.EIO), "write to a file of an unmounted file system");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Close(dfd), Is.EqualTo(0));
        if (wfd >= 0) Assert.That(k.Close(wfd), Is.EqualTo(0));
        Assert.That(k.Stat("/mnt/d0", out _), Is.EqualTo(-Abi.ENOENT), "the covered directory shows again");
        FsImages.AssertClean(fstype, img);
    }

    /// <summary>
    /// Readers stat and read /mnt/d/f over and over while the main thread mounts a file system
    /// there (its d/f says "inner") and unmounts it again, plainly or by force. Under it, the root
    /// file system's own /mnt/d/f says "outer". Every answer must be one of the two whole files,
    /// matching the device it came from; and a lookup that starts after an unmount has returned
    /// must never reach the unmounted file system (mount ids only grow, so "unmounted" is every
    /// id up to the last one unmounted).
    /// </summary>
    [TestCase("tmpfs")]
    [TestCase("ext2fs")]
    public void LookupsRacingUnmounts_NeverSeeAStaleOrTornFile(string fstype)
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/d", 0x1ed), Is.EqualTo(0));
        WriteFile(k, "/mnt/d/f", "outer");
        Assert.That(k.Stat("/mnt/d/f", out RumpStat ost), Is.EqualTo(0));
        ulong outerDev = ost.st_dev;
        string? img = null;
        if (fstype == "ext2fs")
        {
            string src = Path.Combine(HostWork, "src");
            Directory.CreateDirectory(Path.Combine(src, "d"));
            File.WriteAllText(Path.Combine(src, "d", "f"), "inner");
            img = Path.Combine(HostWork, "img.ext2");
            FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-d", src, img, "2048k"), "mke2fs");
            Assert.That(k.EtfsRegister(FsImages.Dev, img), Is.EqualTo(0));
        }

        const int Rounds = 30;
        bool stop = false;
        long lastUnmounted = 0, ops = 0;
        var errors = new List<string>();
        void Fail(string s) { lock (errors) if (errors.Count < 20) errors.Add(s); }
        void Check(string what, ulong dev, long goneBefore, string? data)
        {
            if (dev != outerDev && dev <= (ulong)goneBefore) Fail(what + ": device " + dev + ", unmounted before the lookup started");
            if (data != null && data != (dev == outerDev ? "outer" : "inner")) Fail(what + ": [" + data + "] from device " + dev);
        }
        var readers = new Thread[2];
        for (int t = 0; t < readers.Length; t++)
        {
            readers[t] = new Thread(() =>
            {
                var buf = new byte[16];
                try
                {
                    while (!Volatile.Read(ref stop))
                    {
                        long gone = Volatile.Read(ref lastUnmounted);
                        int e = k.Stat("/mnt/d/f", out RumpStat st);
                        if (e == 0)
                        {
                            if (st.st_size != 5 || st.st_nlink != 1) Fail("stat: size " + st.st_size + ", nlink " + st.st_nlink);
                            Check("stat", st.st_dev, gone, null);
                        }
                        else if (e != -Abi.ENOENT && e != -Abi.EBADF) Fail("stat: " + e);
                        int fd = k.Open("/mnt/d/f", Abi.O_RDONLY);
                        if (fd >= 0)
                        {
                            // A forced unmount may kill the file at any point: then EBADF and EIO.
                            int fe = k.Fstat(fd, out RumpStat fst);
                            long n = k.Pread(fd, buf, 0);
                            if (fe == 0 && n >= 0) Check("read", fst.st_dev, gone, Encoding.ASCII.GetString(buf, 0, (int)n));
                            else if ((fe != 0 && fe != -Abi.EBADF) || (n < 0 && n != -Abi.EIO)) Fail("fstat " + fe + ", read " + n);
                            k.Close(fd);
                        }
                        else if (fd != -Abi.ENOENT && fd != -Abi.ENXIO && fd != -Abi.EBADF) Fail("open: " + fd);
                        Interlocked.Increment(ref ops);
                    }
                }
                catch (Exception ex) { Fail(ex.ToString()); }
                finally { k.LwprocSwitch(null); }
            });
            readers[t].Start();
        }

        void WaitForReaders(long more)
        {
            long target = Interlocked.Read(ref ops) + more;
            while (Interlocked.Read(ref ops) < target && errors.Count == 0) Thread.Yield();
        }

        try
        {
            for (int r = 0; r < Rounds && errors.Count == 0; r++)
            {
                if (fstype == "tmpfs")
                {
                    MountTmpfs(k, "/mnt");
                    Assert.That(k.Mkdir("/mnt/d", 0x1ed), Is.EqualTo(0));
                    // Whole at once, as readers may look at any moment.
                    WriteFile(k, "/mnt/d/t", "inner");
                    Assert.That(k.Rename("/mnt/d/t", "/mnt/d/f"), Is.EqualTo(0));
                }
                else Assert.That(k.MountAs("ext2fs", FsImages.Dev, "/mnt", 0), Is.EqualTo(0), "mount ext2fs");
                Assert.That(k.Statvfs("/mnt", out RumpStatvfs sv), Is.EqualTo(0));
                WaitForReaders(50);
                int e;
                if (r % 2 == 0) e = k.Unmount("/mnt", Abi.MNT_FORCE);
                else
                {
                    // Lookups hold the mount for a moment at a time: a plain unmount gets through between them.
                    int tries = 0;
                    while ((e = k.Unmount("/mnt")) == -Abi.EBUSY && ++tries < 100_000) Thread.Yield();
                }
                Assert.That(e, Is.EqualTo(0), "unmount in round " + r);
                Volatile.Write(ref lastUnmounted, (long)sv.f_fsid);
                WaitForReaders(50);
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            foreach (Thread t in readers) Assert.That(t.Join(Generous), Is.True, "reader hung");
        }
        Assert.That(errors, Is.Empty, string.Join("\n", errors));
        if (img != null) FsImages.AssertClean(fstype, img);
    }
}
