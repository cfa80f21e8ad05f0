using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Tests;

/// <summary>
/// Interrupt context, soft interrupts and interruptible sleeps: a block I/O completion runs as an
/// lwp of proc0 on a virtual CPU of its own kernel whatever thread the hypervisor calls it on; a
/// soft interrupt runs once per burst of scheduling, on a kernel thread; an interruptible sleep
/// ends with EINTR when its lwp is interrupted, and a fault in a completion or a soft interrupt
/// panics the kernel only.
/// </summary>
public unsafe class InterruptTests : KernelTest
{
    private string _dir = null!;

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rump-intr-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    /// <summary>Records the context the completion ran in.</summary>
    private sealed class Probe : BioDone
    {
        public Kernel? RanIn;
        public int Pid = -1;
        public bool HadCpu;
        public long Bytes = -1;
        public readonly ManualResetEventSlim Finished = new();
        private readonly Kernel _k;

        public Probe(Kernel k) { _k = k; }

        public override void Done(long bytes, int error)
        {
            Lwp? l = _k.CurlwpOrNull();
            RanIn = l?.Kernel;
            Pid = l?.Proc.Pid ?? -1;
            HadCpu = l?.Cpu != null;
            Bytes = bytes;
            Finished.Set();
        }
    }

    private BlockDevice Disk(RumpKernel k, string key)
    {
        string img = Path.Combine(_dir, key.Replace('/', '_') + ".img");
        System.IO.File.WriteAllBytes(img, new byte[64 * 1024]);
        Assert.That(k.EtfsRegister(key, img), Is.EqualTo(0));
        Assert.That(k.Stat(key, out RumpStat st), Is.EqualTo(0));
        BlockDevice? d = k.Kernel.GetService<Vfs.Vfs>()!.Devices.Lookup(st.st_rdev);
        Assert.That(d, Is.Not.Null);
        return d!;
    }

    [Test]
    public void BlockCompletionRunsInItsKernelsInterruptContext()
    {
        // Two kernels, so that "its own" means something.
        RumpKernel a = Boot(ncpu: 1), b = Boot(ncpu: 2);
        foreach (RumpKernel k in new[] { a, b })
        {
            BlockDevice d = Disk(k, "/dev/intr0");
            var p = new Probe(k.Kernel);
            byte[] buf = GC.AllocateArray<byte>(512, pinned: true);
            fixed (byte* bp = buf) d.Strategy(write: false, bp, 512, 0, p);
            Assert.That(p.Finished.Wait(Generous), Is.True, "the completion never ran");
            Assert.That(p.Bytes, Is.EqualTo(512));
            Assert.That(p.RanIn, Is.SameAs(k.Kernel), "the completion ran in a context of its own kernel");
            Assert.That(p.Pid, Is.EqualTo(0), "as an lwp of proc0");
            Assert.That(p.HadCpu, Is.True, "on a virtual CPU");
        }
    }

    [Test]
    public void AFaultInACompletionPanicsTheKernelAndWakesTheWaiter()
    {
        RumpKernel k = Boot(ncpu: 1);
        BlockDevice d = Disk(k, "/dev/intr1");
        k.Kernel.ArmFault(FaultPoint.Biodone);
        byte[] buf = new byte[512];
        int e = RumpKernel.InKernel(k.Kernel, "read", _ => d.ReadSync(k.Kernel, 0, buf));
        Assert.That(e, Is.EqualTo(Abi.ENXIO), "the read whose completion faulted");
        Assert.That(k.Panicked, Is.True);
        Assert.That(k.PanicMessage, Does.Contain("biodone"));
    }

    [Test]
    public void SoftintRunsOncePerBurstOnAKernelThread()
    {
        Kernel k = Boot(ncpu: 2).Kernel;
        int runs = 0, pid = -1;
        var gate = new ManualResetEventSlim();
        Softint si = k.Softints.Establish("test", l => { pid = l.Proc.Pid; gate.Wait(); Interlocked.Increment(ref runs); });
        k.Softints.Schedule(si);
        // While the first run is held at the gate, a burst of schedules queues it once more.
        Assert.That(Eventually(() => Volatile.Read(ref si.Pending) == 0), Is.True, "the soft interrupt never started");
        for (int i = 0; i < 1000; i++) k.Softints.Schedule(si);
        gate.Set();
        Assert.That(Eventually(() => Volatile.Read(ref runs) == 2), Is.True, "runs after one schedule and one burst: " + runs);
        Assert.That(pid, Is.EqualTo(0), "soft interrupts run on a kernel thread (proc0)");
        // Disestablished: it runs no more.
        k.Softints.Disestablish(si);
        k.Softints.Schedule(si);
        Softint sentinel = k.Softints.Establish("sentinel", _ => Interlocked.Increment(ref runs));
        k.Softints.Schedule(sentinel);
        Assert.That(Eventually(() => Volatile.Read(ref runs) == 3), Is.True, "the sentinel never ran");
        Assert.That(runs, Is.EqualTo(3), "a disestablished soft interrupt ran");
    }

    /// <summary>
    /// RunHere (a driver's receive thread running the soft interrupt it raised): it runs on the
    /// caller's lwp when the soft interrupt is idle, without the soft-interrupt thread; a schedule
    /// during that run gets one more run on the thread; and while the thread runs it, RunHere does
    /// not run it beside that run but asks for one more after it.
    /// </summary>
    [Test]
    public void RunHere_RunsOnTheCaller_NeverBesideAnotherRun_AndARequestDuringARunGetsAnother()
    {
        Kernel k = Boot(ncpu: 2).Kernel;
        int runs = 0, inside = 0, overlaps = 0;
        bool again = false;
        Lwp? ranOn = null;
        var gate = new ManualResetEventSlim(true);
        Softint? si = null;
        si = k.Softints.Establish("here", l =>
        {
            if (Interlocked.Increment(ref inside) != 1) Interlocked.Increment(ref overlaps);
            ranOn = l;
            gate.Wait();
            if (again) { again = false; k.Softints.Schedule(si!); }
            Interlocked.Decrement(ref inside);
            Interlocked.Increment(ref runs);
        });

        Lwp? caller = null;
        RumpKernel.InKernel(k, "caller", l => { caller = l; k.Softints.RunHere(si, l); return 0; });
        Assert.That(runs, Is.EqualTo(1), "runs once RunHere returned");
        Assert.That(ranOn, Is.SameAs(caller), "the lwp it ran on");
        Assert.That(k.Softints.RunsHere, Is.EqualTo(1), "runs done by RunHere's caller");

        again = true;
        RumpKernel.InKernel(k, "caller", l => { k.Softints.RunHere(si, l); return 0; });
        WaitFor(() => Volatile.Read(ref runs) == 3, "the run asked for during RunHere's");
        Assert.That(ranOn, Is.Not.SameAs(caller), "the run asked for during RunHere's ran on the soft-interrupt thread");
        Assert.That(k.Softints.RunsHere, Is.EqualTo(2));

        gate.Reset();
        k.Softints.Schedule(si);
        WaitFor(() => Volatile.Read(ref inside) == 1, "the soft-interrupt thread's run to start");
        var here = Task.Run(() => RumpKernel.InKernel(k, "caller", l => { k.Softints.RunHere(si, l); return 0; }));
        Assert.That(here.Wait(TimeSpan.FromSeconds(30)), Is.True, "RunHere waited for (or joined) the run under way instead of returning");
        Assert.That(k.Softints.RunsHere, Is.EqualTo(2), "RunHere ran it while it was running elsewhere");
        gate.Set();
        WaitFor(() => Volatile.Read(ref runs) == 5, "the run under way and the one RunHere asked for");
        Assert.That(overlaps, Is.EqualTo(0), "runs that overlapped another");
        k.Softints.Disestablish(si);
        RumpKernel.InKernel(k, "caller", l => { k.Softints.RunHere(si, l); return 0; });
        Assert.That(runs, Is.EqualTo(5), "RunHere ran a disestablished soft interrupt");
    }

    [Test]
    public void AFaultInASoftintPanicsTheKernel()
    {
        Kernel k = Boot(ncpu: 1).Kernel;
        Softint si = k.Softints.Establish("doomed", _ => { });
        k.ArmFault(FaultPoint.Softint);
        k.Softints.Schedule(si);
        Assert.That(Eventually(() => k.IsPanicked), Is.True, "the fault in the soft interrupt did not panic the kernel");
        Assert.That(k.PanicMessage, Does.Contain("softint"));
    }

    [Test]
    public void InterruptibleSleepEndsWithEintr()
    {
        Kernel k = Boot(ncpu: 1).Kernel;
        var m = new KMutex(k);
        var cv = new KCondvar(k);
        Lwp? sleeper = null;
        int result = -1, early = -1;
        var t = new Thread(() =>
        {
            using var ctx = k.EnterTemporary(k.DefaultProc, "sleeper");
            Volatile.Write(ref sleeper, ctx.Lwp);
            m.Enter();
            result = cv.WaitSig(m);
            // Still interrupted: the next interruptible sleep ends at once.
            early = cv.TimedWaitSig(m, 60_000_000_000);
            m.Exit();
        }) { IsBackground = true };
        t.Start();
        Assert.That(Eventually(() => cv.Waiters == 1), Is.True, "the sleeper never slept");
        Volatile.Read(ref sleeper)!.Interrupt();
        Assert.That(t.Join(Generous), Is.True, "an interrupted sleep did not end");
        Assert.That(result, Is.EqualTo(Abi.EINTR));
        Assert.That(early, Is.EqualTo(Abi.EINTR));
        // An uninterruptible sleep is not ended by an interrupt.
        bool woken = false;
        var u = new Thread(() =>
        {
            using var ctx = k.EnterTemporary(k.DefaultProc, "u");
            Volatile.Write(ref sleeper, ctx.Lwp);
            m.Enter();
            while (!woken) cv.Wait(m);
            m.Exit();
        }) { IsBackground = true };
        u.Start();
        Assert.That(Eventually(() => cv.Waiters == 1), Is.True);
        Volatile.Read(ref sleeper)!.Interrupt();
        Assert.That(cv.Waiters, Is.EqualTo(1), "an uninterruptible waiter left its queue on an interrupt");
        using (k.EnterTemporary(k.DefaultProc, "waker")) { m.Enter(); woken = true; cv.Broadcast(); m.Exit(); }
        Assert.That(u.Join(Generous), Is.True);
    }
}
