using System;
using System.IO;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Tests;

/// <summary>
/// Character devices: a test-only driver in the character switch, nodes made with mknod(2) in
/// tmpfs, opened, read, written and ioctl'd through the system calls (specfs); NetBSD's mem
/// driver (/dev/null, /dev/zero); rumpblk's raw side on an etfs character node; mknod's errors;
/// ENXIO without a driver, after it detached, and on a MNT_NODEV mount.
/// </summary>
public unsafe class CharDeviceTests : KernelTest
{
    // _IOWR('e', 1, int), _IOR('e', 2, int), _IO('e', 3), _IOW('e', 4, int)
    private const ulong EchoDouble = 0xC0000000UL | (4UL << 16) | ('e' << 8) | 1;
    private const ulong EchoCount = 0x40000000UL | (4UL << 16) | ('e' << 8) | 2;
    private const ulong EchoVoid = 0x20000000UL | ('e' << 8) | 3;
    private const ulong EchoSet = 0x80000000UL | (4UL << 16) | ('e' << 8) | 4;

    /// <summary>Test-only driver: what is written to a minor is read back from it, first in first out; minors 0..3.</summary>
    private sealed class EchoDev : CharDevice
    {
        public int Opens, Closes;
        public long LastVoidArg = -1;
        public int LastSet;
        private readonly System.Collections.Generic.List<byte>[] _data = { new(), new(), new(), new() };

        public override int Open(ulong dev, int fflag, Lwp l)
        {
            if (Cdevsw.Minor(dev) > 3) return Abi.ENXIO;
            Opens++;
            return 0;
        }

        public override int Close(ulong dev, int fflag, Lwp l) { Closes++; return 0; }

        public override int Read(ulong dev, ref Uio uio, int ioflag, Lwp l)
        {
            var q = _data[Cdevsw.Minor(dev)];
            int n = (int)Math.Min(q.Count, uio.Resid);
            byte[] b = q.GetRange(0, n).ToArray();
            q.RemoveRange(0, n);
            return uio.Move((ReadOnlySpan<byte>)b);
        }

        public override int Write(ulong dev, ref Uio uio, int ioflag, Lwp l)
        {
            byte[] b = new byte[uio.Resid];
            int e = uio.Move(b.AsSpan());
            _data[Cdevsw.Minor(dev)].AddRange(b);
            return e;
        }

        public override int Ioctl(ulong dev, ulong cmd, Span<byte> data, int fflag, Lwp l)
        {
            switch (cmd)
            {
                case EchoDouble: BitConverter.TryWriteBytes(data, BitConverter.ToInt32(data) * 2); return 0;
                case EchoCount: BitConverter.TryWriteBytes(data, _data[Cdevsw.Minor(dev)].Count); return 0;
                case EchoVoid: LastVoidArg = BitConverter.ToInt64(data); return 0;
                case EchoSet: LastSet = BitConverter.ToInt32(data); return Abi.EINVAL;
                default: return Abi.ENOTTY;
            }
        }
    }

    private static byte[] Z(string s) => Encoding.UTF8.GetBytes(s + "\0");

    private static long Mknod(RumpKernel k, string path, uint mode, ulong dev)
    {
        fixed (byte* p = Z(path)) return k.Syscall(SysNum.mknod, [(long)p, mode, (long)dev]);
    }

    private static long Ioctl(RumpKernel k, int fd, ulong cmd, long arg) => k.Syscall(SysNum.ioctl, [fd, (long)cmd, arg]);

    private static Cdevsw Switch(RumpKernel k) => k.Kernel.GetService<Rump.Vfs.Vfs>()!.CharDevices;

    private (RumpKernel k, EchoDev drv, uint major) WithEcho()
    {
        RumpKernel k = Boot();
        var drv = new EchoDev();
        uint major = Cdevsw.NoMajor;
        Assert.That(Switch(k).Attach("echo", drv, ref major), Is.EqualTo(0));
        Assert.That(major, Is.GreaterThanOrEqualTo(Cdevsw.FirstDynamicMajor), "a name NetBSD does not know gets a dynamic major");
        Assert.That(k.Mkdir("/dev", 0x1ed), Is.EqualTo(0));
        k.Umask(0);
        return (k, drv, major);
    }

    [Test]
    public void NodeOpensReadsWritesAndIoctlsTheDriver()
    {
        var (k, drv, major) = WithEcho();
        ulong dev = Devsw.MakeDev(major, 1);
        Assert.That(Mknod(k, "/dev/echo1", (uint)Abi.S_IFCHR | 0x1b6, dev), Is.EqualTo(0));
        RumpStat st = StatOk(k, "/dev/echo1");
        Assert.That(st.st_mode, Is.EqualTo((uint)Abi.S_IFCHR | 0x1b6));
        Assert.That(st.st_rdev, Is.EqualTo(dev));

        int fd = k.Open("/dev/echo1", Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open");
        Assert.That(drv.Opens, Is.EqualTo(1));
        Assert.That(k.Write(fd, "hello device"u8), Is.EqualTo(12));
        int count = -1;
        Assert.That(Ioctl(k, fd, EchoCount, (long)&count), Is.EqualTo(0));
        Assert.That(count, Is.EqualTo(12), "IOC_OUT: the driver's answer copied out");
        var buf = new byte[64];
        Assert.That(k.Read(fd, buf), Is.EqualTo(12));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 12), Is.EqualTo("hello device"));
        Assert.That(k.Lseek(fd, 0, Abi.SEEK_CUR), Is.EqualTo(24), "the offset moved by both transfers");
        int v = 21;
        Assert.That(Ioctl(k, fd, EchoDouble, (long)&v), Is.EqualTo(0));
        Assert.That(v, Is.EqualTo(42), "IOC_IN|IOC_OUT: in, doubled, out");
        Assert.That(Ioctl(k, fd, EchoVoid, 1234), Is.EqualTo(0));
        Assert.That(drv.LastVoidArg, Is.EqualTo(1234), "IOC_VOID: the argument itself");
        v = 7;
        Assert.That(Ioctl(k, fd, EchoSet, (long)&v), Is.EqualTo(-Abi.EINVAL), "the driver's error");
        Assert.That(drv.LastSet, Is.EqualTo(7), "IOC_IN: copied in");
        Assert.That(Ioctl(k, fd, 0x2000651f, 0), Is.EqualTo(-Abi.ENOTTY));
        Assert.That(Ioctl(k, fd, 0xC0000000UL | (8000UL << 16) | ('e' << 8) | 1, 0), Is.EqualTo(-Abi.ENOTTY), "an argument over IOCPARM_MAX");

        Assert.That(k.Fstat(fd, out RumpStat fst), Is.EqualTo(0));
        Assert.That(fst.st_rdev, Is.EqualTo(dev), "fstat of the open device");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(drv.Closes, Is.EqualTo(1));
    }

    [Test]
    public void DriverCloseRunsOnTheLastClose()
    {
        var (k, drv, major) = WithEcho();
        Assert.That(Mknod(k, "/dev/echo0", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(major, 0)), Is.EqualTo(0));
        Assert.That(Mknod(k, "/dev/alias0", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(major, 0)), Is.EqualTo(0));
        int a = k.Open("/dev/echo0", Abi.O_RDWR), b = k.Open("/dev/alias0", Abi.O_RDONLY);
        int c = k.Dup(a);
        Assert.That(drv.Opens, Is.EqualTo(2), "the driver's open runs on every open");
        Assert.That(k.Close(a), Is.EqualTo(0));
        Assert.That(k.Close(c), Is.EqualTo(0));
        Assert.That(drv.Closes, Is.EqualTo(0), "another node of the same device is still open");
        Assert.That(k.Close(b), Is.EqualTo(0));
        Assert.That(drv.Closes, Is.EqualTo(1), "close runs once, on the device's last close");
    }

    [Test]
    public void NoDriverIsEnxio()
    {
        var (k, drv, major) = WithEcho();
        Assert.That(Mknod(k, "/dev/nothing", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(480, 0)), Is.EqualTo(0));
        Assert.That(k.Open("/dev/nothing", Abi.O_RDONLY), Is.EqualTo(-Abi.ENXIO), "a major without a driver");
        Assert.That(k.Stat("/dev/nothing", out _), Is.EqualTo(0), "the node itself is fine");
        Assert.That(Mknod(k, "/dev/echo9", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(major, 9)), Is.EqualTo(0));
        Assert.That(k.Open("/dev/echo9", Abi.O_RDONLY), Is.EqualTo(-Abi.ENXIO), "a minor the driver refuses");
        Assert.That(drv.Closes, Is.EqualTo(0), "a failed open does not close");
    }

    [Test]
    public void DetachedDriverIsEnxio()
    {
        var (k, drv, major) = WithEcho();
        Assert.That(Mknod(k, "/dev/echo0", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(major, 0)), Is.EqualTo(0));
        int fd = k.Open("/dev/echo0", Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        Assert.That(Switch(k).Detach(drv), Is.EqualTo(0));
        Assert.That(Switch(k).Detach(drv), Is.EqualTo(Abi.ENOENT));
        Assert.That(k.Write(fd, "x"u8), Is.EqualTo(-Abi.ENXIO), "I/O on a file open before the detach");
        Assert.That(Ioctl(k, fd, EchoVoid, 1), Is.EqualTo(-Abi.ENXIO));
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(drv.Closes, Is.EqualTo(0), "a detached driver is not called");
        Assert.That(k.Open("/dev/echo0", Abi.O_RDONLY), Is.EqualTo(-Abi.ENXIO));
        Assert.That(Switch(k).MajorOf("echo"), Is.EqualTo(Cdevsw.NoMajor));
    }

    [Test]
    public void SwitchAttachRules()
    {
        RumpKernel k = Boot();
        Cdevsw sw = Switch(k);
        Assert.That(sw.MajorOf("mem"), Is.EqualTo(2u), "NetBSD's mem driver at its major");
        Assert.That(sw.MajorOf("rumpblk"), Is.EqualTo(197u));
        uint m = 2;
        Assert.That(sw.Attach("other", new EchoDev(), ref m), Is.EqualTo(Abi.EEXIST), "a major in use");
        m = Cdevsw.NoMajor;
        Assert.That(sw.Attach("mem", new EchoDev(), ref m), Is.EqualTo(Abi.EEXIST), "a name in use");
        m = Cdevsw.MaxMajor;
        Assert.That(sw.Attach("big", new EchoDev(), ref m), Is.EqualTo(Abi.EINVAL));
        m = Cdevsw.NoMajor;
        Assert.That(sw.Attach("tap", new EchoDev(), ref m), Is.EqualTo(0));
        Assert.That(m, Is.EqualTo(169u), "a name in NetBSD's majors list gets its major");
        m = Cdevsw.NoMajor;
        Assert.That(sw.Attach("first", new EchoDev(), ref m), Is.EqualTo(0));
        uint m2 = Cdevsw.NoMajor;
        Assert.That(sw.Attach("second", new EchoDev(), ref m2), Is.EqualTo(0));
        Assert.That((m, m2), Is.EqualTo((Cdevsw.FirstDynamicMajor, Cdevsw.FirstDynamicMajor + 1)));
    }

    [Test]
    public void DeviceNumbersUseNetBSDsAmd64Encoding()
    {
        Assert.That(Devsw.MakeDev(2, 12), Is.EqualTo(0x20cUL), "/dev/zero");
        ulong d = Devsw.MakeDev(197, 0x12345);
        Assert.That(d, Is.EqualTo(0x1230c545UL));
        Assert.That(Cdevsw.Major(d), Is.EqualTo(197u));
        Assert.That(Cdevsw.Minor(d), Is.EqualTo(0x12345u));
        Assert.That(Cdevsw.Major(Devsw.MakeDev(0xfff, 0)), Is.EqualTo(0xfffu));
    }

    [Test]
    public void DefaultPollIsSeltrue()
    {
        // A driver without a poll routine is always ready for reading and writing (NetBSD's seltrue).
        var drv = new EchoDev();
        Assert.That(drv.Poll(0, Abi.POLLIN | Abi.POLLPRI, null!), Is.EqualTo(Abi.POLLIN));
        Assert.That(drv.Poll(0, Abi.POLLOUT | Abi.POLLRDNORM, null!), Is.EqualTo(Abi.POLLOUT | Abi.POLLRDNORM));
    }

    [Test]
    public void NullAndZero()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/dev", 0x1ed), Is.EqualTo(0));
        Assert.That(Mknod(k, "/dev/null", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(2, 2)), Is.EqualTo(0));
        Assert.That(Mknod(k, "/dev/zero", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(2, 12)), Is.EqualTo(0));
        Assert.That(Mknod(k, "/dev/mem", (uint)Abi.S_IFCHR | 0x1a0, Devsw.MakeDev(2, 0)), Is.EqualTo(0));
        int z = k.Open("/dev/zero", Abi.O_RDWR);
        var buf = new byte[10000];
        Array.Fill(buf, (byte)0xee);
        Assert.That(k.Read(z, buf), Is.EqualTo(buf.Length));
        Assert.That(Array.TrueForAll(buf, b => b == 0), Is.True, "/dev/zero reads zeros");
        Assert.That(k.Pread(z, buf.AsSpan(0, 100), 1 << 40), Is.EqualTo(100), "at any offset");
        Assert.That(k.Write(z, buf), Is.EqualTo(buf.Length));
        int n = k.Open("/dev/null", Abi.O_RDWR);
        Assert.That(k.Read(n, buf), Is.EqualTo(0), "/dev/null is at its end");
        Assert.That(k.Write(n, buf), Is.EqualTo(buf.Length), "and swallows writes");
        // mm_ioctl's answers.
        Assert.That(Ioctl(k, n, Abi.FIONBIO, (long)&n), Is.EqualTo(0));
        int zero = 0, one = 1;
        Assert.That(Ioctl(k, n, Abi.FIOASYNC, (long)&zero), Is.EqualTo(0));
        Assert.That(Ioctl(k, n, Abi.FIOASYNC, (long)&one), Is.EqualTo(-Abi.EOPNOTSUPP));
        int owner;
        Assert.That(Ioctl(k, n, (ulong)Abi.FIOGETOWN, (long)&owner), Is.EqualTo(-Abi.ENOTTY));
        Assert.That(Ioctl(k, n, Abi.FIONREAD, (long)&owner), Is.EqualTo(-Abi.EOPNOTSUPP));
        Assert.That(k.Open("/dev/mem", Abi.O_RDONLY), Is.EqualTo(-Abi.ENXIO), "no /dev/mem in a rump kernel");
        k.Close(z);
        k.Close(n);
    }

    [Test]
    public void MknodRules()
    {
        RumpKernel k = Boot();
        k.Umask(0x12);
        Assert.That(Mknod(k, "/c", (uint)Abi.S_IFCHR | 0x1ff, Devsw.MakeDev(2, 2)), Is.EqualTo(0));
        Assert.That(StatOk(k, "/c").st_mode, Is.EqualTo((uint)Abi.S_IFCHR | 0x1ed), "the umask applies");
        Assert.That(Mknod(k, "/c", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(2, 2)), Is.EqualTo(-Abi.EEXIST));
        Assert.That(Mknod(k, "/b", (uint)Abi.S_IFBLK | 0x180, Devsw.MakeDev(197, 5)), Is.EqualTo(0));
        RumpStat bst = StatOk(k, "/b");
        Assert.That((bst.st_mode & (uint)Abi.S_IFMT, bst.st_rdev), Is.EqualTo(((uint)Abi.S_IFBLK, Devsw.MakeDev(197, 5))));
        Assert.That(Mknod(k, "/r", (uint)Abi.S_IFREG | 0x1a4, 99), Is.EqualTo(0), "NetBSD's mknod makes regular files too");
        RumpStat rst = StatOk(k, "/r");
        Assert.That((rst.st_mode & (uint)Abi.S_IFMT, rst.st_rdev), Is.EqualTo(((uint)Abi.S_IFREG, 0UL)));
        WriteFile(k, "/r", "plain");
        Assert.That(ReadFile(k, "/r"), Is.EqualTo("plain"));

        Assert.That(Mknod(k, "/f", (uint)Abi.S_IFIFO | 0x1a4, 0), Is.EqualTo(-Abi.EINVAL), "FIFOs are mkfifo's");
        Assert.That(Mknod(k, "/d", (uint)Abi.S_IFDIR | 0x1ed, 0), Is.EqualTo(-Abi.EINVAL));
        Assert.That(Mknod(k, "/t", 0x1a4, 0), Is.EqualTo(-Abi.EINVAL), "no type");
        Assert.That(Mknod(k, "/nodev", (uint)Abi.S_IFCHR | 0x1a4, ulong.MaxValue), Is.EqualTo(-Abi.EINVAL), "VNOVAL");
        Assert.That(Mknod(k, "/w", (uint)Abi.S_IFWHT | 0x1a4, 0), Is.EqualTo(-Abi.EOPNOTSUPP), "whiteouts");
        Assert.That(Mknod(k, "/bad", (uint)Abi.S_IFMT | 0x1a4, 0), Is.EqualTo(-Abi.EINVAL), "badsect's VBAD: tmpfs refuses it");
        Assert.That(Mknod(k, "/no/such", (uint)Abi.S_IFCHR | 0x1a4, 0), Is.EqualTo(-Abi.ENOENT));
        Assert.That(Mknod(k, "/slash/", (uint)Abi.S_IFCHR | 0x1a4, 0), Is.EqualTo(-Abi.ENOENT));
        Assert.That(Mknod(k, "/", (uint)Abi.S_IFCHR | 0x1a4, 0), Is.EqualTo(-Abi.EEXIST));
        fixed (byte* p = Z("/at"))
            Assert.That(k.Syscall(SysNum.mknodat, [Abi.AT_FDCWD, (long)p, Abi.S_IFCHR | 0x1a4, (long)Devsw.MakeDev(2, 12)]), Is.EqualTo(0), "mknodat");
        Assert.That(StatOk(k, "/at").st_rdev, Is.EqualTo(Devsw.MakeDev(2, 12)));
    }

    [Test]
    public void MknodIsRootOnly()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/tmp", 0x1ff), Is.EqualTo(0));
        Assert.That(k.Chmod("/tmp", 0x1ff), Is.EqualTo(0));
        BecomeUser(k, 1000, 1000);
        Assert.That(Mknod(k, "/tmp/c", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(2, 2)), Is.EqualTo(-Abi.EPERM));
        Assert.That(Mknod(k, "/tmp/r", (uint)Abi.S_IFREG | 0x1b6, 0), Is.EqualTo(-Abi.EPERM), "any mknod (KAUTH_SYSTEM_MKNOD)");
        Assert.That(Mknod(k, "/no/such/dir", (uint)Abi.S_IFCHR | 0x1b6, 0), Is.EqualTo(-Abi.EPERM), "refused before the lookup");
        Assert.That(k.Stat("/tmp/c", out _), Is.EqualTo(-Abi.ENOENT));
        BecomeRoot(k);
        Assert.That(Mknod(k, "/tmp/c", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(2, 2)), Is.EqualTo(0));
        Assert.That(k.Chmod("/tmp/c", 0x1b6), Is.EqualTo(0));
        BecomeUser(k, 1000, 1000);
        int fd = k.Open("/tmp/c", Abi.O_WRONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "a user may open a device node its mode allows");
        Assert.That(k.Write(fd, "x"u8), Is.EqualTo(1));
        k.Close(fd);
    }

    [Test]
    public void NodevMountRefusesDevices()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/nd", 0x1ed), Is.EqualTo(0));
        var args = new RumpTmpfsArgs { ta_version = Abi.TMPFS_ARGS_VERSION, ta_root_mode = 0x1ed };
        Assert.That(k.Mount("tmpfs", "/nd", Abi.MNT_NODEV, args), Is.EqualTo(0));
        Assert.That(Mknod(k, "/nd/null", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(2, 2)), Is.EqualTo(0));
        Assert.That(k.Open("/nd/null", Abi.O_RDWR), Is.EqualTo(-Abi.ENXIO), "MNT_NODEV");
    }

    [Test]
    public void EtfsCharacterNodeIsTheRawDevice()
    {
        RumpKernel k = Boot();
        string img = Path.Combine(Path.GetTempPath(), "rump-raw-" + Guid.NewGuid().ToString("N") + ".img");
        var data = new byte[64 * 1024];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 7 + i / 512);
        System.IO.File.WriteAllBytes(img, data);
        try
        {
            Assert.That(k.EtfsRegister("/dev/rimg", img, Abi.ETFS_CHR), Is.EqualTo(0));
            RumpStat st = StatOk(k, "/dev/rimg");
            Assert.That(st.st_mode & (uint)Abi.S_IFMT, Is.EqualTo((uint)Abi.S_IFCHR));
            Assert.That(Cdevsw.Major(st.st_rdev), Is.EqualTo(197u));
            int fd = k.Open("/dev/rimg", Abi.O_RDWR);
            Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open the raw device");
            var buf = new byte[1024];
            Assert.That(k.Pread(fd, buf, 4096), Is.EqualTo(1024));
            Assert.That(buf, Is.EqualTo(data.AsSpan(4096, 1024).ToArray()), "the image's bytes");
            Assert.That(k.Pread(fd, buf.AsSpan(0, 100), 0), Is.EqualTo(-Abi.EINVAL), "not a whole sector");
            Assert.That(k.Pread(fd, buf.AsSpan(0, 512), 100), Is.EqualTo(-Abi.EINVAL), "not at a sector boundary");
            Assert.That(k.Pread(fd, buf, data.Length), Is.EqualTo(0), "at the end");
            Assert.That(k.Pread(fd, buf, data.Length + 512), Is.EqualTo(-Abi.EINVAL), "beyond the end");
            var sector = new byte[512];
            Array.Fill(sector, (byte)0x5a);
            Assert.That(k.Pwrite(fd, sector, 8192), Is.EqualTo(512));
            Assert.That(k.Close(fd), Is.EqualTo(0));
            Assert.That(k.EtfsRemove("/dev/rimg"), Is.EqualTo(0));
            byte[] after = System.IO.File.ReadAllBytes(img);
            Assert.That(after.AsSpan(8192, 512).ToArray(), Is.EqualTo(sector), "the raw write reached the host file");
            Assert.That(after.AsSpan(0, 8192).ToArray(), Is.EqualTo(data.AsSpan(0, 8192).ToArray()), "nothing else changed");
        }
        finally { System.IO.File.Delete(img); }
    }
}
