using System;
using NUnit.Framework;
using Rump.Hypercall;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// The syscall proxy's process: hyp_lwproc_rfork with a client pointer (what the hypervisor's
/// sysproxy server passes for a connection) gives the new process a remote address space naming
/// that client, and only that process; without one the process shares its parent's. The copies
/// themselves go over a real connection in the C tests (tests/c/sp_server_test.c).
/// </summary>
public unsafe class RemoteVmspaceTests : KernelTest
{
    private static RumpUserHyperup* T => Hyperup.Table;

    private static void OnBareThread(Action body)
    {
        bool done = RunWithin(Generous, body, out Exception? e);
        Assert.That(done, Is.True, "the bare thread did not finish");
        if (e != null) throw new AssertionException("on the bare thread: " + e.Message, e);
    }

    [Test]
    public void RforkWithAClientPointerGivesARemoteVmspace()
    {
        Boot();
        OnBareThread(() =>
        {
            Kernel k = Hyperup.BareKernel()!;
            nint client = 0x5a5a5a0;
            T->hyp_schedule();
            fixed (byte* comm = "remote\0"u8)
                Assert.That(T->hyp_lwproc_rfork(client, Kernel.RFCFDG, comm), Is.EqualTo(0));
            int pid = T->hyp_getpid();
            nint l = T->hyp_lwproc_curlwp();
            T->hyp_lwproc_switch(0);
            T->hyp_unschedule();
            Proc p = k.FindProc(pid)!;
            Assert.That(p.Vmspace, Is.InstanceOf<RemoteVmspace>(), "a client's process copies through its connection");
            Assert.That(((RemoteVmspace)p.Vmspace).Client, Is.EqualTo(client), "the client pointer the hypervisor gave");
            Assert.That(k.DefaultProc.Vmspace, Is.InstanceOf<LocalVmspace>(), "the parent keeps its own");

            // A plain rfork from the client's process (a prefork's) shares its address space.
            T->hyp_schedule();
            T->hyp_lwproc_switch(l);
            Assert.That(T->hyp_lwproc_rfork(0, Kernel.RFFDG, null), Is.EqualTo(0));
            int child = T->hyp_getpid();
            T->hyp_lwproc_release();
            T->hyp_lwproc_switch(l);
            T->hyp_lwproc_release();
            T->hyp_unschedule();
            Assert.That(k.FindProc(pid), Is.Null, "released");
        });
    }

    [Test]
    public void NullUserPointersFailWithoutARoundTrip()
    {
        // No hypervisor connection exists for this pointer: a call that reached the hypervisor would fault the test.
        var vm = new RemoteVmspace(0);
        Span<byte> b = stackalloc byte[8];
        Assert.That(vm.CopyIn(default, b), Is.EqualTo(Abi.EFAULT));
        Assert.That(vm.CopyOut(b, default), Is.EqualTo(Abi.EFAULT));
        Assert.That(vm.CopyInStr(default, b, out _), Is.EqualTo(Abi.EFAULT));
        Assert.That(vm.CopyIn(new UserPtr(0x1000), Span<byte>.Empty), Is.EqualTo(0), "nothing to copy");
    }
}
