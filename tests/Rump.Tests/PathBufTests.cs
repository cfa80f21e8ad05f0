using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// Caller memory is read once (NetBSD pathbuf): a path that the system call both records and looks
/// up is copied in one time, so another thread rewriting the caller's buffer between two reads can
/// no longer make the name recorded and the node used differ; and kernel callers (etfs) hand namei
/// kernel paths, not kernel addresses disguised as caller pointers.
/// </summary>
public class PathBufTests : KernelTest
{
    /// <summary>
    /// A caller whose strings change under the kernel: the second and later reads of the string
    /// <see cref="From"/> return <see cref="To"/>, as if another thread rewrote the buffer right
    /// after the first read. Everything else is the local address space.
    /// </summary>
    private sealed class ChangingVmspace : Vmspace
    {
        private readonly LocalVmspace _local = new();
        public readonly Dictionary<string, int> Reads = new();
        public readonly string From, To;

        public ChangingVmspace(string from, string to) { From = from; To = to; }

        public override int CopyIn(UserPtr src, Span<byte> dst) => _local.CopyIn(src, dst);
        public override int CopyOut(ReadOnlySpan<byte> src, UserPtr dst) => _local.CopyOut(src, dst);

        public override int CopyInStr(UserPtr src, Span<byte> dst, out int len)
        {
            int e = _local.CopyInStr(src, dst, out len);
            if (e != 0) return e;
            string s = Encoding.Latin1.GetString(dst.Slice(0, len));
            int n;
            lock (Reads) Reads[s] = n = Reads.GetValueOrDefault(s) + 1;
            if (s == From && n >= 2)
            {
                len = Encoding.Latin1.GetBytes(To, dst);
                dst[len] = 0;
            }
            return 0;
        }
    }

    /// <summary>A process of its own on this thread whose address space is <paramref name="vm"/>.</summary>
    private static void BecomeCallerWith(RumpKernel k, Vmspace vm)
    {
        Assert.That(k.LwprocRfork(Kernel.RFFDG), Is.EqualTo(0));
        // The address space of a process is fixed when it is made; a test sets it by reflection.
        typeof(Proc).GetField(nameof(Proc.Vmspace))!.SetValue(k.Curlwp().Proc, vm);
    }

    [Test]
    public void TheMountPointLookedUp_IsTheOneTheMountRecords()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/a", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/b", 0x1ed), Is.EqualTo(0));
        ulong rootDev = StatOk(k, "/").st_dev;
        var vm = new ChangingVmspace("/mnt/a", "/mnt/b");
        BecomeCallerWith(k, vm);
        var args = new RumpTmpfsArgs { ta_version = Abi.TMPFS_ARGS_VERSION, ta_root_mode = 0x1ed };
        Assert.That(k.Mount("tmpfs", "/mnt/a", 0, args), Is.EqualTo(0), "mount");
        BecomeRoot(k);

        Assert.That(k.Statvfs("/mnt/a", out RumpStatvfs sv), Is.EqualTo(0));
        Assert.That(MountedOn(sv), Is.EqualTo("/mnt/a"), "recorded mount point");
        Assert.That(StatOk(k, "/mnt/a").st_dev, Is.Not.EqualTo(rootDev), "the file system must be mounted where the mount says (/mnt/a)");
        Assert.That(StatOk(k, "/mnt/b").st_dev, Is.EqualTo(rootDev), "/mnt/b, which a second read would have named, must not be covered");
        Assert.That(vm.Reads.GetValueOrDefault("/mnt/a"), Is.EqualTo(1), "the mount point's path must be read from the caller once");
    }

    [Test]
    public void TheDeviceLookedUp_IsTheOneTheMountRecords()
    {
        RumpKernel k = Boot();
        for (int i = 0; i < 2; i++)
        {
            string src = Path.Combine(HostWork, "src" + i);
            Directory.CreateDirectory(src);
            File.WriteAllText(Path.Combine(src, "image" + i), "image " + i);
            string img = Path.Combine(HostWork, "img" + i);
            FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-d", src, img, "1024k"), "mke2fs");
            Assert.That(k.EtfsRegister("/dev/img" + i, img), Is.EqualTo(0));
        }
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        var vm = new ChangingVmspace("/dev/img0", "/dev/img1");
        BecomeCallerWith(k, vm);
        Assert.That(k.MountAs("ext2fs", "/dev/img0", "/mnt", Abi.MNT_RDONLY), Is.EqualTo(0), "mount");
        BecomeRoot(k);

        Assert.That(k.Statvfs("/mnt", out RumpStatvfs sv), Is.EqualTo(0));
        Assert.That(MountedFrom(sv), Is.EqualTo("/dev/img0"), "recorded source");
        Assert.That(k.Stat("/mnt/image0", out _), Is.EqualTo(0), "the device mounted must be /dev/img0, the one recorded");
        Assert.That(vm.Reads.GetValueOrDefault("/dev/img0"), Is.EqualTo(1), "fspec must be read from the caller once");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }

    /// <summary>An address space that gives nothing: every copy faults.</summary>
    private sealed class FaultingVmspace : Vmspace
    {
        public override int CopyIn(UserPtr src, Span<byte> dst) => Abi.EFAULT;
        public override int CopyOut(ReadOnlySpan<byte> src, UserPtr dst) => Abi.EFAULT;
        public override int CopyInStr(UserPtr src, Span<byte> dst, out int len) { len = 0; return Abi.EFAULT; }
    }

    [Test]
    public void Etfs_LooksUpKernelPaths_WithoutTheCallersAddressSpace()
    {
        RumpKernel k = Boot();
        string img = Path.Combine(HostWork, "disk");
        File.WriteAllBytes(img, new byte[64 * 1024]);
        var field = typeof(Proc).GetField(nameof(Proc.Vmspace))!;
        object saved = field.GetValue(k.Kernel.Proc0)!;
        // etfs runs as the kernel's own process; its paths must never be read as if a caller gave them.
        field.SetValue(k.Kernel.Proc0, new FaultingVmspace());
        int e;
        try { e = k.EtfsRegister("/dev/sub/disk0", img); }
        finally { field.SetValue(k.Kernel.Proc0, saved); }
        Assert.That(e, Is.EqualTo(0), "etfs register with kernel paths");
        Assert.That(k.Stat("/dev/sub/disk0", out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo((uint)Abi.S_IFBLK), "a block device node");
        field.SetValue(k.Kernel.Proc0, new FaultingVmspace());
        try { e = k.EtfsRemove("/dev/sub/disk0"); }
        finally { field.SetValue(k.Kernel.Proc0, saved); }
        Assert.That(e, Is.EqualTo(0), "etfs remove with kernel paths");
        Assert.That(k.Stat("/dev/sub/disk0", out _), Is.EqualTo(-Abi.ENOENT), "the node is gone");
    }

    private static unsafe string MountedOn(in RumpStatvfs sv) { fixed (byte* p = sv.f_mntonname) return new string((sbyte*)p); }
    private static unsafe string MountedFrom(in RumpStatvfs sv) { fixed (byte* p = sv.f_mntfromname) return new string((sbyte*)p); }
}
