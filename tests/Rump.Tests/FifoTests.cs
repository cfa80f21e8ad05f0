using System;
using System.IO;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Tests;

/// <summary>
/// Named pipes (mkfifo(2), fifofs): made by anyone with mkfifo and refused by mknod as NetBSD
/// does; every opener of the name shares one pipe; opens block for the other side as POSIX says
/// (the tests wait for the opener to be asleep in the pipe, never for a time); O_NONBLOCK opens;
/// EOF, EPIPE, ESPIPE and poll; nothing kept once the last file closes. On ext2fs the node is
/// checked by e2fsck and debugfs, and a FIFO that mke2fs (or xorriso's Rock Ridge) put in an image
/// works as one.
/// </summary>
public unsafe class FifoTests : KernelTest
{
    private const uint Rw = 0x1a4; // 0644

    private RumpKernel Tmpfs()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        var a = new RumpTmpfsArgs { ta_version = Abi.TMPFS_ARGS_VERSION, ta_root_mode = 0x1ff };
        Assert.That(k.Mount("tmpfs", "/mnt", 0, a), Is.EqualTo(0), "mount tmpfs");
        return k;
    }

    /// <summary>
    /// The FIFO's pipe (null while no file is open on it), its open ends and the threads asleep in
    /// it, read in a kernel context of the test thread's own (kernel locks are taken only by lwps:
    /// a bare host thread would share whatever lwp its last system call was lent).
    /// </summary>
    private static (Pipe pipe, (int readers, int writers) ends, int sleepers)? PipeState(RumpKernel k, string path)
    {
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        Span<char> buf = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(buf);
        Assert.That(pb.Set(path), Is.EqualTo(0));
        Assert.That(Namei.Lookup(ctx.Lwp, ctx.Lwp.Cred, Abi.AT_FDCWD, pb, true, out Vnode? vp), Is.EqualTo(0), "lookup of " + path);
        Pipe? p = vp!.Fifo;
        vp.Rele();
        return p == null ? null : (p, p.Ends, p.Waiters);
    }

    /// <summary>The open ends of the FIFO's pipe, or null while no file is open on it.</summary>
    private static (int readers, int writers)? Ends(RumpKernel k, string path) => PipeState(k, path)?.ends;

    /// <summary>Waits until a thread is asleep in the FIFO's pipe (an open waiting for the other side).</summary>
    private static void WaitForSleeper(RumpKernel k, string path, Thread t)
    {
        while (PipeState(k, path) is not { sleepers: > 0 })
        {
            Assert.That(t.IsAlive, Is.True, "the opener finished instead of waiting");
            Thread.Yield();
        }
    }

    private static long Ioctl(RumpKernel k, int fd, ulong cmd, int* arg) => k.Syscall(SysNum.ioctl, [fd, (long)cmd, (long)arg]);

    [Test]
    public void Mkfifo_MakesAFifoForAnyone_MknodRefusesOne_AndAnExistingNameIsEexist()
    {
        RumpKernel k = Tmpfs();
        Assert.That(k.Mkfifo("/mnt/p", 0x1b6), Is.EqualTo(0), "mkfifo as root");
        Assert.That(k.Stat("/mnt/p", out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFIFO), "stat says FIFO");
        Assert.That(st.st_mode & 0xfff, Is.EqualTo(0x1b6 & ~0x12), "mode 0666 less the umask 022");
        Assert.That(st.st_size, Is.EqualTo(0));
        Assert.That(k.Mkfifo("/mnt/p", 0x1b6), Is.EqualTo(-Abi.EEXIST), "mkfifo of an existing name");

        fixed (byte* q = "/mnt/q\0"u8)
            Assert.That(k.Syscall(SysNum.mknod, [(long)q, Abi.S_IFIFO | 0x1a4, 0]), Is.EqualTo(-Abi.EINVAL), "mknod(S_IFIFO): FIFOs are mkfifo's (NetBSD)");

        BecomeUser(k, 1000, 1000);
        Assert.That(k.Mkfifo("/mnt/user", Rw), Is.EqualTo(0), "mkfifo needs no privilege (mknod does)");
        Assert.That(k.Stat("/mnt/user", out st), Is.EqualTo(0));
        Assert.That((st.st_uid, st.st_mode & Abi.S_IFMT), Is.EqualTo((1000u, (uint)Abi.S_IFIFO)));
        BecomeRoot(k);
        Assert.That(k.Mkfifo("/mnt/nodir/p", Rw), Is.EqualTo(-Abi.ENOENT));
    }

    [Test]
    public void AReaderWaitsForAWriter_AndBothShareOnePipe()
    {
        RumpKernel k = Tmpfs();
        Assert.That(k.Mkfifo("/mnt/p", Rw), Is.EqualTo(0));
        int rfd = -1;
        var reader = new Thread(() => rfd = k.Open("/mnt/p", Abi.O_RDONLY));
        reader.Start();
        WaitForSleeper(k, "/mnt/p", reader);
        Assert.That(Ends(k, "/mnt/p"), Is.EqualTo(((int, int)?)(1, 0)), "the reader's end is open, waiting for a writer");

        int wfd = k.Open("/mnt/p", Abi.O_WRONLY);
        Assert.That(wfd, Is.GreaterThanOrEqualTo(0), "a writer's open (a reader is there: no wait)");
        Assert.That(reader.Join(TimeSpan.FromMinutes(1)), Is.True, "the writer's open woke the reader");
        Assert.That(rfd, Is.GreaterThanOrEqualTo(0), "the reader's open");

        Assert.That(k.Write(wfd, "through the fifo"u8), Is.EqualTo(16));
        int n;
        Assert.That(Ioctl(k, rfd, Abi.FIONREAD, &n), Is.EqualTo(0));
        Assert.That(n, Is.EqualTo(16), "FIONREAD of the reader");
        var buf = new byte[64];
        Assert.That(k.Read(rfd, buf), Is.EqualTo(16));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 16), Is.EqualTo("through the fifo"));
        Assert.That(k.Lseek(rfd, 0, Abi.SEEK_SET), Is.EqualTo(-Abi.ESPIPE), "a FIFO does not seek");
        Assert.That(k.Read(wfd, buf), Is.EqualTo(-Abi.EBADF), "read on the write-only file");

        Assert.That(k.Close(wfd), Is.EqualTo(0));
        Assert.That(k.Read(rfd, buf), Is.EqualTo(0), "EOF once the writer is gone");
        Assert.That(k.Close(rfd), Is.EqualTo(0));
        Assert.That(Ends(k, "/mnt/p"), Is.Null, "the last close lets the pipe go");
    }

    [Test]
    public void AWriterWaitsForAReader()
    {
        RumpKernel k = Tmpfs();
        Assert.That(k.Mkfifo("/mnt/p", Rw), Is.EqualTo(0));
        int wfd = -1;
        var writer = new Thread(() => wfd = k.Open("/mnt/p", Abi.O_WRONLY));
        writer.Start();
        WaitForSleeper(k, "/mnt/p", writer);
        Assert.That(Ends(k, "/mnt/p"), Is.EqualTo(((int, int)?)(0, 1)), "the writer's end is open, waiting for a reader");
        int rfd = k.Open("/mnt/p", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(rfd, Is.GreaterThanOrEqualTo(0));
        Assert.That(writer.Join(TimeSpan.FromMinutes(1)), Is.True, "the reader's open woke the writer");
        Assert.That(wfd, Is.GreaterThanOrEqualTo(0));
        k.Close(wfd);
        k.Close(rfd);
    }

    [Test]
    public void NonblockingOpens_ReaderAtOnce_WriterWithoutReaderIsEnxio_AndEpipeWhenTheReaderLeaves()
    {
        RumpKernel k = Tmpfs();
        Assert.That(k.Mkfifo("/mnt/p", Rw), Is.EqualTo(0));
        Assert.That(k.Open("/mnt/p", Abi.O_WRONLY | Abi.O_NONBLOCK), Is.EqualTo(-Abi.ENXIO), "a non-blocking writer with no reader");
        Assert.That(Ends(k, "/mnt/p"), Is.Null, "the failed open left nothing open");

        int rfd = k.Open("/mnt/p", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(rfd, Is.GreaterThanOrEqualTo(0), "a non-blocking reader opens at once");
        var buf = new byte[8];
        Assert.That(k.Read(rfd, buf), Is.EqualTo(0), "no writer: EOF");
        int wfd = k.Open("/mnt/p", Abi.O_WRONLY | Abi.O_NONBLOCK);
        Assert.That(wfd, Is.GreaterThanOrEqualTo(0), "a non-blocking writer with a reader");
        Assert.That(k.Read(rfd, buf), Is.EqualTo(-Abi.EAGAIN), "a writer, no data, O_NONBLOCK");

        var fds = new[] { new RumpPollfd { fd = rfd, events = Abi.POLLIN }, new RumpPollfd { fd = wfd, events = Abi.POLLOUT } };
        fixed (RumpPollfd* f = fds) Assert.That(k.Syscall(SysNum.poll, [(long)f, 2, 0]), Is.EqualTo(1), "only the writer is ready");
        Assert.That(fds[1].revents, Is.EqualTo(Abi.POLLOUT));
        Assert.That(k.Write(wfd, "x"u8), Is.EqualTo(1));
        fixed (RumpPollfd* f = fds) Assert.That(k.Syscall(SysNum.poll, [(long)f, 2, 0]), Is.EqualTo(2), "data: the reader is ready too");
        Assert.That(fds[0].revents, Is.EqualTo(Abi.POLLIN));

        Assert.That(k.Close(rfd), Is.EqualTo(0));
        k.Kernel.SigModel = Abi.SIGMODEL_RECORD;
        Assert.That(k.Write(wfd, "y"u8), Is.EqualTo(-Abi.EPIPE), "the reader is gone");
        Assert.That(k.Kernel.Curlwp().Proc.SigPending & (1UL << (Abi.SIGPIPE - 1)), Is.Not.EqualTo(0UL), "EPIPE raised SIGPIPE (NetBSD's dofilewrite)");
        Assert.That(k.Close(wfd), Is.EqualTo(0));
    }

    [Test]
    public void AFileOpenForBoth_WaitsForNobody_AndWhatIsUnreadAtTheLastCloseIsGone()
    {
        RumpKernel k = Tmpfs();
        Assert.That(k.Mkfifo("/mnt/p", Rw), Is.EqualTo(0));
        int fd = k.Open("/mnt/p", Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "O_RDWR opens without waiting");
        Assert.That(k.Write(fd, "left behind"u8), Is.EqualTo(11));
        int fd2 = k.Open("/mnt/p", Abi.O_RDONLY);
        Assert.That(fd2, Is.GreaterThanOrEqualTo(0), "a reader with a writer there does not wait");
        var buf = new byte[4];
        Assert.That(k.Read(fd2, buf), Is.EqualTo(4), "a second opener reads the same pipe");
        Assert.That(Encoding.ASCII.GetString(buf), Is.EqualTo("left"));
        k.Close(fd2);
        k.Close(fd);

        fd = k.Open("/mnt/p", Abi.O_RDWR);
        int n = -1;
        Assert.That(Ioctl(k, fd, Abi.FIONREAD, &n), Is.EqualTo(0));
        Assert.That(n, Is.EqualTo(0), "the unread bytes went with the last close");
        Assert.That(k.Stat("/mnt/p", out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_size, Is.EqualTo(0), "the file system's node holds no data");
        k.Close(fd);
    }

    /// <summary>An open waiting for a writer ends with EINTR when its lwp is interrupted, and leaves no end open behind it.</summary>
    [Test]
    public void AnInterruptedOpenEndsWithEintr_AndOpensNothing()
    {
        RumpKernel k = Tmpfs();
        Assert.That(k.Mkfifo("/mnt/p", Rw), Is.EqualTo(0));
        Lwp? opener = null;
        int got = 0;
        var t = new Thread(() =>
        {
            Volatile.Write(ref opener, k.Kernel.Curlwp());
            got = k.Open("/mnt/p", Abi.O_RDONLY);
        });
        t.Start();
        WaitForSleeper(k, "/mnt/p", t);
        Pipe p = PipeState(k, "/mnt/p")!.Value.pipe;
        Volatile.Read(ref opener)!.Interrupt();
        Assert.That(t.Join(TimeSpan.FromMinutes(1)), Is.True, "the interrupted open did not return");
        Assert.That(got, Is.EqualTo(-Abi.EINTR));
        using (k.Kernel.EnterTemporary(k.Kernel.Proc0, "test"))
            Assert.That(p.Ends, Is.EqualTo((0, 0)), "the interrupted reader's end was closed again");
        Assert.That(Ends(k, "/mnt/p"), Is.Null, "and the vnode let the pipe go");
        Assert.That(k.Open("/mnt/p", Abi.O_WRONLY | Abi.O_NONBLOCK), Is.EqualTo(-Abi.ENXIO), "no reader is left for a writer to find");
    }

    /// <summary>mkfifo on ext2fs: e2fsck finds the image clean and debugfs sees a FIFO inode.</summary>
    [Test]
    public void Ext2fs_MkfifoMakesAFifoInodeThatE2fsckAndDebugfsAccept()
    {
        string src = FsImages.MakeTree(HostWork, 1, 1);
        RumpKernel k = Boot(ncpu: 2);
        string img = FsImages.MountTree(k, "ext2fs", src, HostWork)!;
        Assert.That(k.Mkfifo("/mnt/fifo", Rw), Is.EqualTo(0));
        int fd = k.Open("/mnt/fifo", Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        Assert.That(k.Write(fd, "not on disk"u8), Is.EqualTo(11));
        k.Close(fd);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        FsImages.AssertClean("ext2fs", img);
        var (code, output) = FsImages.Run("debugfs", "-R", "stat /fifo", img);
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("Type: FIFO"), "debugfs's view of the inode");
        Assert.That(output, Does.Contain("Size: 0"), "the bytes written went through the pipe, not to the inode");
    }

    /// <summary>A FIFO the host's mkfifo made, put in an image by mke2fs -d (ext2) or xorriso -R (Rock Ridge): a working FIFO in the kernel.</summary>
    [TestCase("ext2fs")]
    [TestCase("cd9660")]
    public void AFifoInAnImageMadeOnTheHost_WorksAsOne(string fstype)
    {
        string src = FsImages.MakeTree(HostWork, 1, 1);
        string host = Path.Combine(src, "d0", "hostfifo");
        FsImages.Ok(FsImages.Run("mkfifo", host), "mkfifo on the host");
        RumpKernel k = Boot(ncpu: 2);
        FsImages.MountTree(k, fstype, src, HostWork);
        Assert.That(k.Stat("/mnt/d0/hostfifo", out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFIFO), "the image's node is a FIFO");
        int fd = k.Open("/mnt/d0/hostfifo", Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open (a FIFO opens for writing even on a read-only mount)");
        Assert.That(k.Write(fd, "hello"u8), Is.EqualTo(5));
        var buf = new byte[5];
        Assert.That(k.Read(fd, buf), Is.EqualTo(5));
        Assert.That(Encoding.ASCII.GetString(buf), Is.EqualTo("hello"));
        k.Close(fd);
    }

    /// <summary>NetBSD's rule for a pipe's write with no reader: EPIPE and SIGPIPE, no signal for a pipe2(O_NOSIGPIPE) one.</summary>
    [TestCase(0, true)]
    [TestCase(Abi.O_NOSIGPIPE, false)]
    public void APipeWriteWithNoReader_IsEpipe_AndRaisesSigpipeUnlessONosigpipe(int flags, bool signal)
    {
        RumpKernel k = Boot(ncpu: 1);
        k.Kernel.SigModel = Abi.SIGMODEL_RECORD;
        int* fds = stackalloc int[2];
        Assert.That(k.Syscall(SysNum.pipe2, [(long)fds, flags]), Is.EqualTo(0), "pipe2");
        Assert.That(k.Close(fds[0]), Is.EqualTo(0));
        Assert.That(k.Write(fds[1], "x"u8), Is.EqualTo(-Abi.EPIPE));
        ulong pending = k.Kernel.Curlwp().Proc.SigPending & (1UL << (Abi.SIGPIPE - 1));
        Assert.That(pending != 0, Is.EqualTo(signal), signal ? "SIGPIPE raised" : "no SIGPIPE with O_NOSIGPIPE");
        k.Close(fds[1]);
    }
}
