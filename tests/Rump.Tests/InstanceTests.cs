using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Several kernels in one process: each has its own namespace, processes and descriptors; halting
/// one leaves the others running; a host thread calling into both reaches the right one each time.
/// </summary>
public class InstanceTests : KernelTest
{
    [Test]
    public void NamespacesAreSeparate()
    {
        RumpKernel a = Boot(), b = Boot();
        WriteFile(a, "/only-in-a", "A");
        Assert.That(a.Stat("/only-in-a", out _), Is.EqualTo(0));
        Assert.That(b.Stat("/only-in-a", out _), Is.EqualTo(-Abi.ENOENT), "a file made in kernel A, looked up in kernel B");
        Assert.That(b.Mkdir("/d", 0x1ed), Is.EqualTo(0));
        Assert.That(a.Stat("/d", out _), Is.EqualTo(-Abi.ENOENT));
        Assert.That(a.Mkdir("/d", 0x1ed), Is.EqualTo(0), "the same name is free in A");
        Assert.That(a.Kernel.GetService<Rump.Vfs.Vfs>(), Is.Not.SameAs(b.Kernel.GetService<Rump.Vfs.Vfs>()));
    }

    [Test]
    public void ProcessesAndPidsAreSeparate()
    {
        RumpKernel a = Boot(), b = Boot();
        Assert.That(a.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        int pa = a.Getpid();
        Lwp la = a.Curlwp();
        // Calls into B from a thread that is in one of A's processes run in B's default process...
        Assert.That(b.Getpid(), Is.EqualTo(1), "getpid in B from a thread in A's process " + pa);
        Assert.That(b.Kernel.FindProc(pa), Is.Null, "A's new pid exists in B");
        // ...and leave the thread where it was in A.
        Assert.That(a.Getpid(), Is.EqualTo(pa), "A's context after a call into B");
        Assert.That(a.Curlwp(), Is.SameAs(la));

        a.LwprocSwitch(null);
        Assert.That(b.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        int pb = b.Getpid();
        Assert.That(pb, Is.EqualTo(pa), "pids are allocated per kernel: the first rfork in each gets the same pid");
        Assert.That(b.Kernel.FindProc(pb)!.Kernel, Is.SameAs(b.Kernel));
        Assert.That(a.Kernel.FindProc(pa), Is.Not.SameAs(b.Kernel.FindProc(pb)));
    }

    [Test]
    public void DescriptorsAreSeparate()
    {
        RumpKernel a = Boot(), b = Boot();
        WriteFile(a, "/f", "from A");
        WriteFile(b, "/f", "from B");
        int fa = a.Open("/f", Abi.O_RDONLY);
        int fb = b.Open("/f", Abi.O_RDONLY);
        Assert.That(fa, Is.GreaterThanOrEqualTo(0));
        Assert.That(fb, Is.EqualTo(fa), "descriptor numbers are allocated per kernel (both lowest free)");
        var buf = new byte[16];
        Assert.That(a.Read(fa, buf), Is.EqualTo(6));
        Assert.That(System.Text.Encoding.ASCII.GetString(buf, 0, 6), Is.EqualTo("from A"));
        Assert.That(b.Read(fb, buf), Is.EqualTo(6));
        Assert.That(System.Text.Encoding.ASCII.GetString(buf, 0, 6), Is.EqualTo("from B"));
        Assert.That(a.Close(fa), Is.EqualTo(0));
        Assert.That(b.Read(fb, buf), Is.EqualTo(0), "B's descriptor still open (at EOF) after A closed its own");
        Assert.That(a.Close(fa), Is.EqualTo(-Abi.EBADF));
        Assert.That(b.Close(fb), Is.EqualTo(0));
    }

    [Test]
    public void HaltingOneKernelLeavesTheOtherWorking()
    {
        RumpKernel a = Boot(), b = Boot();
        WriteFile(a, "/f", "a");
        WriteFile(b, "/f", "b");
        Assert.That(a.Reboot(Abi.RB_NOSYNC), Is.EqualTo(0), "reboot A");
        Assert.That(a.Kernel.Halted, Is.True);
        Assert.That(a.Getpid(), Is.EqualTo(-Abi.ENXIO), "a call into a halted kernel");
        Assert.That(a.Stat("/f", out _), Is.EqualTo(-Abi.ENXIO));
        Assert.That(b.Kernel.Halted, Is.False);
        Assert.That(ReadFile(b, "/f"), Is.EqualTo("b"));
        Assert.That(b.Mkdir("/after", 0x1ed), Is.EqualTo(0));
        Assert.That(b.Pipe(out int r, out int w), Is.EqualTo(0));
        Assert.That(b.Write(w, "x"u8), Is.EqualTo(1));
        // B's callout thread still runs.
        int fired = 0;
        b.Kernel.Callouts.Schedule(new Callout(_ => Interlocked.Increment(ref fired)), 1_000_000);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref fired) == 0 && sw.Elapsed < Generous) Thread.Sleep(2);
        Assert.That(fired, Is.EqualTo(1), "a callout in B after A halted");
    }

    [Test]
    public void ThreadAlternatingBetweenKernelsReachesTheRightOne()
    {
        RumpKernel a = Boot(), b = Boot();
        WriteFile(a, "/a", "");
        WriteFile(b, "/b", "");
        for (int i = 0; i < 200; i++)
        {
            Assert.That(a.Stat("/a", out _), Is.EqualTo(0), "A sees /a (iteration " + i + ")");
            Assert.That(b.Stat("/a", out _), Is.EqualTo(-Abi.ENOENT), "B does not see /a (iteration " + i + ")");
            Assert.That(b.Stat("/b", out _), Is.EqualTo(0), "B sees /b (iteration " + i + ")");
            Assert.That(a.Stat("/b", out _), Is.EqualTo(-Abi.ENOENT), "A does not see /b (iteration " + i + ")");
        }
        // Switching the thread's context between processes of both kernels.
        a.LwprocSwitch(null);
        Assert.That(a.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Lwp la = a.Curlwp();
        Assert.That(a.Chdir("/"), Is.EqualTo(0));
        Assert.That(b.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
        Lwp lb = b.Curlwp();
        Assert.That(lb.Kernel, Is.SameAs(b.Kernel));
        for (int i = 0; i < 20; i++)
        {
            a.LwprocSwitch(la);
            Assert.That(a.Getpid(), Is.EqualTo(la.Proc.Pid), "A's process after switching to it (iteration " + i + ")");
            Assert.That(a.Stat("/a", out _), Is.EqualTo(0));
            b.LwprocSwitch(lb);
            Assert.That(b.Getpid(), Is.EqualTo(lb.Proc.Pid), "B's process after switching to it (iteration " + i + ")");
            Assert.That(b.Stat("/b", out _), Is.EqualTo(0));
        }
    }

    [Test]
    public void ThreadsOfTwoKernelsRunConcurrently()
    {
        RumpKernel a = Boot(ncpu: 1), b = Boot(ncpu: 1);
        // A reader blocked in A must not hold anything B needs.
        Assert.That(a.Pipe(out int r, out int w), Is.EqualTo(0));
        long got = 0;
        var reader = new Thread(() => { var buf = new byte[4]; got = a.Read(r, buf); }) { IsBackground = true };
        reader.Start();
        WaitForSleepers(a.Kernel, 1, "the reader of an empty pipe in A");
        bool done = RunWithin(Generous, () => { for (int i = 0; i < 100; i++) b.Getpid(); }, out var err);
        Assert.That(done, Is.True, "B's calls did not complete while a thread was blocked in A");
        Assert.That(err, Is.Null);
        Assert.That(a.Write(w, "z"u8), Is.EqualTo(1));
        Assert.That(reader.Join(Generous), Is.True);
        Assert.That(got, Is.EqualTo(1));
    }
}
