using System;
using System.Threading;
using NUnit.Framework;
using Rump.Hypercall;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// The upcalls (struct rumpuser_hyperup) as any rumpuser(3) v17 hypervisor makes them, NetBSD's
/// included: called here through the very table the kernel gave the hypervisor. A thread with no
/// context gets one from hyp_schedule; NetBSD's block I/O thread (hyp_schedule, newlwp(0),
/// hyp_unschedule, then backend_schedule around each completion) and its syscall-proxy server
/// (rfork, syscalls with NetBSD's argument blocks, release) work; and an exception inside any
/// upcall panics that kernel instead of ending the process.
/// </summary>
public unsafe class UpcallTests : KernelTest
{
    private static RumpUserHyperup* T => Hyperup.Table;

    /// <summary>Runs <paramref name="body"/> on a fresh host thread (no kernel context), rethrowing its failures here.</summary>
    private static void OnBareThread(Action body)
    {
        bool done = RunWithin(Generous, body, out Exception? e);
        Assert.That(done, Is.True, "the bare thread did not finish");
        if (e != null) throw new AssertionException("on the bare thread: " + e.Message, e);
    }

    private static Lwp? Current => Lwp.FromHandle(RumpUser.rumpuser_curlwp());

    [Test]
    public void NetbsdBlockIoThreadProtocol()
    {
        Boot();
        OnBareThread(() =>
        {
            Kernel bk = Hyperup.BareKernel()!;
            Assert.That(bk, Is.Not.Null, "a running kernel for bare-thread upcalls");
            // The thread start of NetBSD's biothread.
            T->hyp_schedule();
            Assert.That(Current, Is.Not.Null, "hyp_schedule on a bare thread lends it an lwp");
            Assert.That(Current!.CpuIdx, Is.GreaterThanOrEqualTo(0), "... on a CPU");
            Assert.That(T->hyp_lwproc_newlwp(0), Is.EqualTo(0), "hyp_lwproc_newlwp(0) from a bare thread");
            T->hyp_unschedule();
            Lwp? l = Current;
            Assert.That(l, Is.Not.Null, "the thread keeps the lwp newlwp made");
            Assert.That(l!.Proc.Pid, Is.EqualTo(0), "newlwp(0) puts it in proc0");
            Assert.That(l.Kernel, Is.SameAs(bk));
            Assert.That(l.CpuIdx, Is.EqualTo(-1), "no CPU after hyp_unschedule");
            // Around each completion: rumpkern_sched(0, NULL), biodone, rumpkern_unsched.
            for (int i = 0; i < 3; i++)
            {
                int count;
                T->hyp_backend_schedule(0, 0);
                Assert.That(l.CpuIdx, Is.GreaterThanOrEqualTo(0), "hyp_backend_schedule with no partner takes a CPU (completion " + i + ")");
                Assert.That(T->hyp_getpid(), Is.EqualTo(0));
                T->hyp_backend_unschedule(0, &count, 0);
                Assert.That(l.CpuIdx, Is.EqualTo(-1), "hyp_backend_unschedule gives it back");
            }
            // A blocking hypercall made without a CPU: its backend pair takes none.
            int c2;
            T->hyp_backend_unschedule(0, &c2, 0);
            T->hyp_backend_schedule(0, 0);
            Assert.That(l.CpuIdx, Is.EqualTo(-1), "a backend pair around a hypercall made without a CPU takes none");
            bk.LwprocSwitch(null);
            Assert.That(Current, Is.Null);
        });
    }

    [Test]
    public void NetbsdSyscallProxyProtocol()
    {
        Boot();
        OnBareThread(() =>
        {
            Kernel bk = Hyperup.BareKernel()!;
            int procs = bk.ProcCount;
            // A new client: rfork from a bare thread, then a system call with NetBSD's argument block.
            T->hyp_schedule();
            fixed (byte* comm = "client\0"u8)
                Assert.That(T->hyp_lwproc_rfork(0, Kernel.RFCFDG, comm), Is.EqualTo(0), "hyp_lwproc_rfork from a bare thread");
            int pid = T->hyp_getpid();
            Assert.That(pid, Is.GreaterThan(Kernel.DefaultPid), "the client's pid");
            nint rv = -1;
            Assert.That(T->hyp_syscall(SysNum.getpid, 0, &rv), Is.EqualTo(0));
            Assert.That((int)rv, Is.EqualTo(pid), "getpid through hyp_syscall");
            // lseek(fd, PAD, offset, whence): NetBSD's block has the PAD slot.
            long* args = stackalloc long[4];
            args[0] = 12345; args[1] = 0x5a5a; args[2] = 7; args[3] = Abi.SEEK_SET;
            Assert.That(T->hyp_syscall(SysNum.lseek, (nint)args, &rv), Is.EqualTo(Abi.EBADF), "lseek on a descriptor the client does not have");
            T->hyp_unschedule();
            Assert.That(bk.ProcCount, Is.EqualTo(procs + 1));
            // The client goes: release while scheduled, freed when the CPU is given up.
            T->hyp_schedule();
            T->hyp_lwproc_release();
            T->hyp_unschedule();
            Assert.That(Current, Is.Null, "no context after release and unschedule");
            Assert.That(bk.FindProc(pid), Is.Null, "the client's process ended with its last lwp");
            Assert.That(bk.ProcCount, Is.EqualTo(procs));
        });
    }

    [Test]
    public void SwitchToNoneWhileScheduledTakesEffectAtUnschedule()
    {
        RumpKernel k = Boot(ncpu: 1);
        OnBareThread(() =>
        {
            Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
            Lwp l = Current!;
            T->hyp_schedule();
            T->hyp_lwproc_switch(0);
            Assert.That(Current, Is.SameAs(l), "switch(NULL) while scheduled keeps the context until the CPU goes");
            T->hyp_unschedule();
            Assert.That(Current, Is.Null, "cleared at hyp_unschedule");
            Assert.That(k.Kernel.Sched.CpuAt(0).Curlwp, Is.Null, "the CPU is free");
            k.LwprocSwitch(l);
            Assert.That(k.LwprocReleaselwp(), Is.EqualTo(0));
        });
    }

    /// <summary>Each upcall, called on a thread with a context in a fresh kernel armed to fault there.</summary>
    private static readonly (string Name, Action<RumpKernel> Call)[] Upcalls =
    {
        ("hyp_schedule", _ => T->hyp_schedule()),
        ("hyp_unschedule", _ => T->hyp_unschedule()),
        ("hyp_backend_unschedule", _ => { int c; T->hyp_backend_unschedule(0, &c, 0); }),
        ("hyp_backend_schedule", _ => T->hyp_backend_schedule(0, 0)),
        ("hyp_lwproc_switch", k => T->hyp_lwproc_switch(k.Kernel.CurlwpHandle())),
        ("hyp_lwproc_release", _ => T->hyp_lwproc_release()),
        ("hyp_lwproc_rfork", _ => Assert.That(T->hyp_lwproc_rfork(0, Kernel.RFCFDG, null), Is.EqualTo(Abi.ENXIO))),
        ("hyp_lwproc_newlwp", _ => Assert.That(T->hyp_lwproc_newlwp(1), Is.EqualTo(Abi.ENXIO))),
        ("hyp_lwproc_curlwp", _ => Assert.That(T->hyp_lwproc_curlwp(), Is.EqualTo((nint)0))),
        ("hyp_syscall", _ => { nint rv; Assert.That(T->hyp_syscall(SysNum.getpid, 0, &rv), Is.EqualTo(Abi.ENXIO)); }),
        ("hyp_lwpexit", _ => T->hyp_lwpexit()),
        ("hyp_execnotify", _ => T->hyp_execnotify(null)),
        ("hyp_getpid", _ => Assert.That(T->hyp_getpid(), Is.EqualTo(-1))),
    };

    [Test]
    public void AnExceptionInAnyUpcallPanicsTheKernelNotTheProcess()
    {
        foreach (var (name, call) in Upcalls)
        {
            RumpKernel k = Boot(ncpu: 1);
            OnBareThread(() =>
            {
                Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0));
                k.Kernel.ArmFault(FaultPoint.Upcall);
                call(k);
                Assert.That(k.Panicked, Is.True, name + ": the kernel did not panic on the injected fault");
                Assert.That(k.PanicMessage, Does.Contain(name).And.Contain("fault injected"), name + ": panic message");
                k.LwprocSwitch(null);
            });
        }
    }

    [Test]
    public void AnExceptionStartingAKernelThreadPanicsTheKernel()
    {
        RumpKernel k = Boot(ncpu: 1);
        // No kernel thread is starting (the callout thread starts with the first callout, and
        // autoconf's with the first driver): only the thread made here can take the fault.
        k.Kernel.ArmFault(FaultPoint.Kthread);
        bool ran = false;
        Assert.That(Kthread.Create(k.Kernel, "doomed", _ => ran = true, out Kthread? t), Is.EqualTo(0));
        t!.Join();
        Assert.That(ran, Is.False, "the body ran despite the fault before it");
        Assert.That(k.Panicked, Is.True);
        Assert.That(k.PanicMessage, Does.Contain("kernel thread doomed"));
    }
}
