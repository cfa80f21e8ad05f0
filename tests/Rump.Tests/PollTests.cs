using System;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Tests;

/// <summary>
/// poll and select sleep until what they wait for changes: a poller asleep on a pipe wakes on the
/// write; one asleep on a device wakes when the driver notifies from interrupt context (the way a
/// USB or network driver will); an interrupt ends the sleep with EINTR; a timeout with 0; and a
/// finished poll leaves no record behind on the objects it watched.
/// </summary>
public unsafe class PollTests : KernelTest
{
    /// <summary>A device that becomes readable when <see cref="Arrive"/> is called (from any context).</summary>
    private sealed class Doorbell : CharDevice
    {
        public readonly SelInfo Sel = new();
        private int _ready;

        public override int Poll(ulong dev, int events, Lwp l)
        {
            if (Volatile.Read(ref _ready) != 0) return events & (Abi.POLLIN | Abi.POLLRDNORM);
            Sel.Record(l);
            // Checked again after recording: an arrival between the two is not missed.
            return Volatile.Read(ref _ready) != 0 ? events & (Abi.POLLIN | Abi.POLLRDNORM) : 0;
        }

        public void Arrive()
        {
            Volatile.Write(ref _ready, 1);
            Sel.Notify();
        }
    }

    private static long Poll(RumpKernel k, RumpPollfd[] fds, int timeoutMs)
    {
        fixed (RumpPollfd* p = fds) return k.Syscall(SysNum.poll, [(long)p, fds.Length, timeoutMs]);
    }

    private static long Mknod(RumpKernel k, string path, uint mode, ulong dev)
    {
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0")) return k.Syscall(SysNum.mknod, [(long)p, mode, (long)dev]);
    }

    [Test]
    public void APollerAsleepOnAPipeWakesOnTheWrite()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(k.Pipe(out int r, out int w), Is.EqualTo(0));
        var fds = new[] { new RumpPollfd { fd = r, events = Abi.POLLIN } };
        long result = 0;
        var t = new Thread(() => result = Poll(k, fds, -1)) { IsBackground = true };
        t.Start();
        WaitForSleepers(k.Kernel, 1, "the poller");
        Assert.That(k.Write(w, "x"u8), Is.EqualTo(1));
        Assert.That(t.Join(Generous), Is.True, "the poller did not wake on the write");
        Assert.That(result, Is.EqualTo(1));
        Assert.That(fds[0].revents, Is.EqualTo(Abi.POLLIN));
    }

    [Test]
    public void APollerAsleepOnADeviceWakesWhenItsInterruptNotifies()
    {
        RumpKernel k = Boot(ncpu: 2);
        var bell = new Doorbell();
        uint major = Cdevsw.NoMajor;
        Assert.That(k.Kernel.GetService<Vfs.Vfs>()!.CharDevices.Attach("doorbell", bell, ref major), Is.EqualTo(0));
        Assert.That(Mknod(k, "/bell", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(major, 0)), Is.EqualTo(0));
        int fd = k.Open("/bell", Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        var fds = new[] { new RumpPollfd { fd = fd, events = Abi.POLLIN } };
        Assert.That(Poll(k, fds, 0), Is.EqualTo(0), "nothing has arrived yet");
        long result = 0;
        var t = new Thread(() => result = Poll(k, fds, -1)) { IsBackground = true };
        t.Start();
        WaitForSleepers(k.Kernel, 1, "the poller");
        // The arrival comes in as a hypervisor completion would: on a host thread, in interrupt context.
        var irq = new Thread(() => { using (k.Kernel.EnterInterrupt()) bell.Arrive(); }) { IsBackground = true };
        irq.Start();
        Assert.That(irq.Join(Generous), Is.True);
        Assert.That(t.Join(Generous), Is.True, "the poller did not wake on the device's notify");
        Assert.That(result, Is.EqualTo(1));
        Assert.That(fds[0].revents, Is.EqualTo(Abi.POLLIN));
    }

    [Test]
    public void AnInterruptedPollEndsWithEintrAndATimeoutWithZero()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(k.Pipe(out int r, out _), Is.EqualTo(0));
        var fds = new[] { new RumpPollfd { fd = r, events = Abi.POLLIN } };
        Assert.That(Poll(k, fds, 30), Is.EqualTo(0), "poll(30 ms) on an empty pipe");
        Assert.That(k.LwprocRfork(Kernel.RFFDG), Is.EqualTo(0));
        Lwp poller = k.Curlwp();
        k.LwprocSwitch(null);
        long result = 0;
        var t = new Thread(() => { k.LwprocSwitch(poller); result = Poll(k, fds, -1); k.LwprocSwitch(null); }) { IsBackground = true };
        t.Start();
        WaitForSleepers(k.Kernel, 1, "the poller");
        poller.Interrupt();
        Assert.That(t.Join(Generous), Is.True, "an interrupted poll did not end");
        Assert.That(result, Is.EqualTo(-Abi.EINTR));
    }

    [Test]
    public void AFinishedPollLeavesNoRecordBehind()
    {
        RumpKernel k = Boot(ncpu: 1);
        var bell = new Doorbell();
        uint major = Cdevsw.NoMajor;
        Assert.That(k.Kernel.GetService<Vfs.Vfs>()!.CharDevices.Attach("doorbell", bell, ref major), Is.EqualTo(0));
        Assert.That(Mknod(k, "/bell", (uint)Abi.S_IFCHR | 0x1b6, Devsw.MakeDev(major, 0)), Is.EqualTo(0));
        int fd = k.Open("/bell", Abi.O_RDONLY);
        var fds = new[] { new RumpPollfd { fd = fd, events = Abi.POLLIN } };
        for (int i = 0; i < 100; i++) Assert.That(Poll(k, fds, 1), Is.EqualTo(0));
        // Every poll recorded itself on the device and took itself off again: a notify finds nobody.
        Assert.That(bell.Sel.Pollers, Is.EqualTo(0), "pollers still recorded on the device after every poll ended");
    }
}
