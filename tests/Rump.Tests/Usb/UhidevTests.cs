using System;
using NUnit.Framework;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb;

namespace Rump.Tests.Usb;

/// <summary>
/// uhidev and its uhid children over the test-double controller: a HID interface whose report
/// descriptor has report IDs gets one uhid per ID, as NetBSD attaches them, each reading only
/// its own reports at the descriptor's sizes; a device without IDs gets one; a device with a
/// broken report descriptor gets a message and no children.
/// </summary>
public class UhidevTests : KernelTest
{
    private (RumpKernel k, TestHc hc) Plug(EmuDevice dev)
    {
        RumpKernel k = Boot();
        Autoconf ac = k.Kernel.GetService<Autoconf>()!;
        UsbComponent.RegisterDrivers(ac);
        ac.AddDriver(new TestHcDriver());
        var hc = new TestHc(k.Kernel, 1);
        hc.PlugNow(1, dev);
        Assert.That(ac.ConfigFound(ac.Root, hc), Is.Not.Null);
        return (k, hc);
    }

    /// <summary>Reads one whole entry of <paramref name="size"/> bytes from <paramref name="fd"/> (non-blocking), waiting until it comes.</summary>
    private byte[] ReadEntry(RumpKernel k, int fd, int size)
    {
        byte[] buf = new byte[size];   // reads return as many whole entries as fit: room for one
        long n = 0;
        Assert.That(Eventually(() => (n = k.Read(fd, buf)) != -Abi.EAGAIN), Is.True, "an entry arrived");
        Assert.That(n, Is.EqualTo(size), "one entry of the report's size");
        byte[] more = new byte[size - 1];
        Assert.That(size == 1 || k.Read(fd, more) != size - 1, Is.True, "no partial entries");
        return buf.AsSpan(0, (int)n).ToArray();
    }

    [Test]
    public void OneUhidPerReportIdEachReadingItsOwnReports()
    {
        var dev = new EmuHid(HidWireTests.KeyboardWithMediaKeysDescriptor);
        (RumpKernel k, TestHc hc) = Plug(dev);
        string dmesg = k.Dmesg();
        foreach (string line in new[]
                 {
                     "uhidev0 at uhub0 port 1 configuration 1 interface 0: rump Keyboard with media keys",
                     "uhidev0: 3 report ids",
                     "uhid0 at uhidev0 reportid 1: input=8, output=1, feature=0",
                     "uhid1 at uhidev0 reportid 2: input=2, output=0, feature=0",
                     "uhid2 at uhidev0 reportid 3: input=1, output=0, feature=0",
                 })
            Assert.That(dmesg, Does.Contain(line), "dmesg line missing");
        Assert.That(dev.ReportDescRequests, Is.EqualTo(1), "the report descriptor was read once");

        int kb = k.Open("/dev/uhid0", Abi.O_RDONLY | Abi.O_NONBLOCK);
        int media = k.Open("/dev/uhid1", Abi.O_RDONLY | Abi.O_NONBLOCK);
        int sys = k.Open("/dev/uhid2", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(kb >= 0 && media >= 0 && sys >= 0, Is.True, "open /dev/uhid0..2: got " + kb + ", " + media + ", " + sys);

        // Interleaved reports of the three IDs, one of an ID the descriptor does not have, and a
        // short keyboard report: each node gets its own, without the ID byte, at its size.
        dev.Report(0x02, 0xe9, 0x00);                                   // volume up
        dev.Report(0x01, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0);              // shift + a
        dev.Report(0x07, 0x55);                                         // no such ID: dropped
        dev.Report(0x03, 0x02);                                         // system sleep
        dev.Report(0x01, 0x00, 0x00, 0x05);                             // short: b, padded
        hc.Kick(dev);

        Assert.That(ReadEntry(k, kb, 8), Is.EqualTo(new byte[] { 0x02, 0x00, 0x04, 0, 0, 0, 0, 0 }), "uhid0: the keyboard report");
        Assert.That(ReadEntry(k, kb, 8), Is.EqualTo(new byte[] { 0x00, 0x00, 0x05, 0, 0, 0, 0, 0 }), "uhid0: the short report padded to 8 bytes");
        Assert.That(ReadEntry(k, media, 2), Is.EqualTo(new byte[] { 0xe9, 0x00 }), "uhid1: the consumer report");
        Assert.That(ReadEntry(k, sys, 1), Is.EqualTo(new byte[] { 0x02 }), "uhid2: the system-control report");
        byte[] buf = new byte[64];
        Assert.That(k.Read(media, buf), Is.EqualTo(-Abi.EAGAIN), "uhid1 got nothing else");
        Assert.That(k.Read(sys, buf), Is.EqualTo(-Abi.EAGAIN), "uhid2 got nothing else");
        Assert.That(k.Read(kb, buf), Is.EqualTo(-Abi.EAGAIN), "uhid0 got nothing else");
        var sc = (UhidevSoftc)k.Kernel.GetService<Autoconf>()!.Lookup("uhidev0")!.Softc!;
        Assert.That(sc.Dropped, Is.EqualTo(1), "the report of an unknown ID was dropped");
        k.Close(kb); k.Close(media); k.Close(sys);

        // Unplugging detaches the children, then uhidev.
        hc.Plug(1, null);
        Autoconf ac = k.Kernel.GetService<Autoconf>()!;
        Assert.That(Eventually(() => ac.Lookup("uhidev0") == null && ac.Lookup("uhid0") == null && ac.Lookup("uhid2") == null), Is.True,
            "uhidev0 and its children detached; dmesg:\n" + k.Dmesg());
    }

    [Test]
    public void WithoutReportIdsOneUhidTakesEveryReport()
    {
        var dev = new EmuHid(HidWireTests.BootKeyboardReportDescriptor);
        (RumpKernel k, TestHc hc) = Plug(dev);
        string dmesg = k.Dmesg();
        Assert.That(dmesg, Does.Contain("uhid0 at uhidev0: input=8, output=1, feature=0"));
        Assert.That(dmesg, Does.Not.Contain("uhid1"));
        int fd = k.Open("/dev/uhid0", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        dev.Report(0x02, 0x00, 0x04, 0, 0, 0, 0, 0);
        hc.Kick(dev);
        Assert.That(ReadEntry(k, fd, 8), Is.EqualTo(new byte[] { 0x02, 0x00, 0x04, 0, 0, 0, 0, 0 }), "the whole report, first byte included");
        k.Close(fd);
    }

    [Test]
    public void BrokenReportDescriptorAttachesNoChildren()
    {
        // A collection that never ends and an item that runs past the end.
        var dev = new EmuHid(new byte[] { 0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x75, 0x01, 0x96, 0xff });
        (RumpKernel k, _) = Plug(dev);
        string dmesg = k.Dmesg();
        Assert.That(dmesg, Does.Contain("uhidev0: bad report descriptor (error " + Abi.EINVAL + ")"));
        Assert.That(dmesg, Does.Not.Contain("uhid0"));
        Assert.That(k.Stat("/dev/uhid0", out _), Is.Not.EqualTo(0), "no node");
    }
}
