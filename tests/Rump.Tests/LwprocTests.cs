using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// rump_lwproc_*: rfork with each descriptor-table flag, newlwp, switch, releaselwp ending the
/// process (closing its files, dropping its directories), getppid, and the argument errors.
/// </summary>
public class LwprocTests : KernelTest
{
    [Test]
    public void RforkMakesAChildOfTheCaller()
    {
        RumpKernel k = Boot();
        Assert.That(k.Getpid(), Is.EqualTo(1), "implicit threads run in the default process");
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        int child = k.Getpid();
        Assert.That(child, Is.GreaterThan(1));
        Assert.That(k.Getppid(), Is.EqualTo(1));
        Assert.That(k.Kernel.FindProc(child), Is.Not.Null);
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        int grandchild = k.Getpid();
        Assert.That(grandchild, Is.Not.EqualTo(child));
        Assert.That(k.Getppid(), Is.EqualTo(child), "getppid of the grandchild");
    }

    [Test]
    public void RfcfdgGivesAnEmptyTable()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/f", "x");
        int fd = k.Open("/f", Abi.O_RDONLY);
        Assert.That(fd, Is.EqualTo(0));
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Assert.That(k.Fstat(fd, out _), Is.EqualTo(-Abi.EBADF), "the parent's descriptor in an RFCFDG child");
        Assert.That(k.Kernel.FindProc(k.Getpid())!.Fd.Count, Is.EqualTo(0));
        Assert.That(k.Open("/f", Abi.O_RDONLY), Is.EqualTo(0), "the child's first descriptor is 0");
    }

    [Test]
    public void RffdgCopiesTheTable()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/f", "hello");
        // The parent must be a real process: an implicit lwp is freed when the thread leaves it.
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Lwp parent = k.Curlwp();
        int fd = k.Open("/f", Abi.O_RDONLY);
        Assert.That(k.LwprocRfork(Kernel.RFFDG), Is.EqualTo(0));
        var buf = new byte[2];
        Assert.That(k.Read(fd, buf), Is.EqualTo(2), "the inherited descriptor works in the child");
        int own = k.Open("/f", Abi.O_RDONLY);
        Assert.That(own, Is.EqualTo(fd + 1));
        Assert.That(k.Close(fd), Is.EqualTo(0), "close in the child");
        Lwp child = k.Curlwp();

        k.LwprocSwitch(parent);
        Assert.That(k.Getpid(), Is.EqualTo(parent.Proc.Pid));
        Assert.That(k.Read(fd, buf), Is.EqualTo(2), "the parent's copy stays open and shares the offset");
        Assert.That(System.Text.Encoding.ASCII.GetString(buf), Is.EqualTo("ll"));
        Assert.That(k.Fstat(own, out _), Is.EqualTo(-Abi.EBADF), "a descriptor the child opened, in the parent");
        k.LwprocSwitch(child);
        Assert.That(k.LwprocReleaselwp(), Is.EqualTo(0));
    }

    [Test]
    public void NoFlagsSharesTheTable()
    {
        RumpKernel k = Boot();
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Lwp parent = k.Curlwp();
        Assert.That(k.LwprocRfork(0), Is.EqualTo(0));
        Lwp child = k.Curlwp();
        Assert.That(child.Proc, Is.Not.SameAs(parent.Proc));
        Assert.That(child.Proc.Fd, Is.SameAs(parent.Proc.Fd), "rfork(0) shares the descriptor table");
        WriteFile(k, "/f", "x");
        int fd = k.Open("/f", Abi.O_RDONLY);
        k.LwprocSwitch(parent);
        Assert.That(k.Fstat(fd, out _), Is.EqualTo(0), "a descriptor the child opened, seen by the parent");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        k.LwprocSwitch(child);
        Assert.That(k.Fstat(fd, out _), Is.EqualTo(-Abi.EBADF), "closed by the parent, gone in the child");
        // The shared table outlives the child.
        int fd2 = k.Open("/f", Abi.O_RDONLY);
        Assert.That(k.LwprocReleaselwp(), Is.EqualTo(0));
        k.LwprocSwitch(parent);
        Assert.That(k.Fstat(fd2, out _), Is.EqualTo(0), "the table a released child shared stays open for the parent");
    }

    [Test]
    public void NewlwpAddsAThreadToAProcess()
    {
        RumpKernel k = Boot();
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        int pid = k.Getpid();
        Lwp first = k.Curlwp();
        Assert.That(k.LwprocNewlwp(pid), Is.EqualTo(0));
        Lwp second = k.Curlwp();
        Assert.That(second, Is.Not.SameAs(first));
        Assert.That(second.Proc, Is.SameAs(first.Proc));
        Assert.That(second.Lid, Is.Not.EqualTo(first.Lid));
        Assert.That(k.Getpid(), Is.EqualTo(pid));
        Assert.That(first.Proc.LwpCount, Is.EqualTo(2));
        Assert.That(k.LwprocReleaselwp(), Is.EqualTo(0));
        Assert.That(k.Kernel.FindProc(pid), Is.Not.Null, "the process lives while one lwp remains");
        Assert.That(first.Proc.LwpCount, Is.EqualTo(1));
        k.LwprocSwitch(first);
        Assert.That(k.Getpid(), Is.EqualTo(pid));
        Assert.That(k.LwprocNewlwp(99999), Is.EqualTo(-Abi.ESRCH), "newlwp in a process that does not exist");
    }

    [Test]
    public void SwitchMovesTheThreadBetweenProcesses()
    {
        RumpKernel k = Boot();
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Lwp l1 = k.Curlwp();
        k.LwprocSwitch(null);
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Lwp l2 = k.Curlwp();
        for (int i = 0; i < 3; i++)
        {
            k.LwprocSwitch(l1);
            Assert.That(k.Getpid(), Is.EqualTo(l1.Proc.Pid));
            k.LwprocSwitch(l2);
            Assert.That(k.Getpid(), Is.EqualTo(l2.Proc.Pid));
        }
        k.LwprocSwitch(null);
        Assert.That(k.Kernel.CurlwpOrNull(), Is.Null, "switch(null) leaves the thread without an lwp");
        Assert.That(k.Getpid(), Is.EqualTo(1), "a thread without an lwp gets an implicit one in the default process");
    }

    [Test]
    public void ReleaselwpEndsTheProcess()
    {
        RumpKernel k = Boot();
        int before = k.Kernel.ProcCount;
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        int pid = k.Getpid();
        Assert.That(k.Kernel.ProcCount, Is.EqualTo(before + 1));
        Assert.That(k.LwprocReleaselwp(), Is.EqualTo(0));
        Assert.That(k.Kernel.FindProc(pid), Is.Null, "FindProc after the last lwp was released");
        Assert.That(k.Kernel.ProcCount, Is.EqualTo(before));
        Assert.That(k.Kernel.CurlwpOrNull(), Is.Null, "the thread has no lwp after releaselwp");
        Assert.That(k.LwprocNewlwp(pid), Is.EqualTo(-Abi.ESRCH));
        Assert.That(k.LwprocReleaselwp(), Is.EqualTo(-Abi.EINVAL), "releaselwp with no current lwp");
    }

    [Test]
    public void ExitClosesTheProcessFiles()
    {
        RumpKernel k = Boot();
        Assert.That(k.Pipe(out int r, out int w), Is.EqualTo(0));
        Assert.That(k.LwprocRfork(Kernel.RFFDG), Is.EqualTo(0));
        Lwp child = k.Curlwp();
        k.LwprocSwitch(null);
        Assert.That(k.Close(w), Is.EqualTo(0), "the parent closes its write end; the child still holds one");
        var buf = new byte[1];
        Assert.That(k.Fcntl(r, Abi.F_SETFL, Abi.O_NONBLOCK), Is.EqualTo(0));
        Assert.That(k.Read(r, buf), Is.EqualTo(-Abi.EAGAIN), "no EOF while the child holds a write end");
        k.LwprocSwitch(child);
        Assert.That(k.LwprocReleaselwp(), Is.EqualTo(0));
        Assert.That(k.Read(r, buf), Is.EqualTo(0), "EOF once the child exited and its descriptors closed");
    }

    [Test]
    public void ExitDropsTheProcessDirectories()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0));
        var args = new RumpTmpfsArgs { ta_version = Abi.TMPFS_ARGS_VERSION, ta_size_max = 64 * 1024, ta_root_mode = 0x1ed };
        Assert.That(k.Mount("tmpfs", "/mnt", 0, args), Is.EqualTo(0));
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Assert.That(k.Chdir("/mnt"), Is.EqualTo(0));
        Lwp child = k.Curlwp();
        k.LwprocSwitch(null);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(-Abi.EBUSY), "unmount while a process has its cwd there");
        k.LwprocSwitch(child);
        Assert.That(k.LwprocReleaselwp(), Is.EqualTo(0));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0), "unmount after that process exited");
    }

    [Test]
    public void ChildrenOfAnExitedProcessAreReparentedToTheDefaultProcess()
    {
        RumpKernel k = Boot();
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Lwp parent = k.Curlwp();
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Lwp child = k.Curlwp();
        Assert.That(k.Getppid(), Is.EqualTo(parent.Proc.Pid));
        k.LwprocSwitch(parent);
        Assert.That(k.LwprocReleaselwp(), Is.EqualTo(0));
        k.LwprocSwitch(child);
        Assert.That(k.Getppid(), Is.EqualTo(1), "getppid after the parent exited");
    }

    [TestCase(Kernel.RFFDG | Kernel.RFCFDG)]
    [TestCase(0x100)]
    [TestCase(-1)]
    public void InvalidRforkFlagsAreEinval(int flags)
    {
        RumpKernel k = Boot();
        int procs = k.Kernel.ProcCount;
        Assert.That(k.LwprocRfork(flags), Is.EqualTo(-Abi.EINVAL), "rfork(0x" + flags.ToString("x") + ")");
        Assert.That(k.Kernel.ProcCount, Is.EqualTo(procs), "no process made by a failed rfork");
        Assert.That(k.Getpid(), Is.EqualTo(1));
    }
}
