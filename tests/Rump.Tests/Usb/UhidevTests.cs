using System;
using System.Collections.Generic;
using NUnit.Framework;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb;
using Rump.Usb.Wire;

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
                     "ukbd0 at uhidev0 reportid 1\n",
                     "uhid0 at uhidev0 reportid 2: input=2, output=0, feature=0",
                     "uhid1 at uhidev0 reportid 3: input=1, output=0, feature=0",
                 })
            Assert.That(dmesg, Does.Contain(line), "dmesg line missing");
        Assert.That(dmesg, Does.Not.Contain("uhid2"), "the keyboard's report ID went to ukbd, not uhid");
        Assert.That(dev.ReportDescRequests, Is.EqualTo(1), "the report descriptor was read once");

        int kb = k.Open("/dev/ukbd0", Abi.O_RDONLY | Abi.O_NONBLOCK);
        int media = k.Open("/dev/uhid0", Abi.O_RDONLY | Abi.O_NONBLOCK);
        int sys = k.Open("/dev/uhid1", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(kb >= 0 && media >= 0 && sys >= 0, Is.True, "open /dev/ukbd0, /dev/uhid0..1: got " + kb + ", " + media + ", " + sys);

        // Interleaved reports of the three IDs, one of an ID the descriptor does not have, and a
        // short keyboard report: each node gets its own, without the ID byte, at its size.
        dev.Report(0x02, 0xe9, 0x00);                                   // volume up
        dev.Report(0x01, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0);              // shift + a
        dev.Report(0x07, 0x55);                                         // no such ID: dropped
        dev.Report(0x03, 0x02);                                         // system sleep
        dev.Report(0x01, 0x00, 0x00, 0x05);                             // short: b, padded
        hc.Kick(dev);

        // The keyboard's reports become key events: shift and a down; then shift and a up, b down
        // (the short report: its missing bytes are released keys).
        var keys = new List<(uint, int)>();
        Assert.That(Eventually(() =>
        {
            byte[] ev = new byte[Ukbd.EventSize * 8];
            long n = k.Read(kb, ev);
            for (int i = 0; i + Ukbd.EventSize <= n; i += Ukbd.EventSize)
                keys.Add((BitConverter.ToUInt32(ev, i), BitConverter.ToInt32(ev, i + 4)));
            return keys.Count >= 5;
        }), Is.True, "five key events from ukbd0; got " + keys.Count);
        Assert.That(keys, Is.EqualTo(new List<(uint, int)> { (Ukbd.KeyDown, 0xE1), (Ukbd.KeyDown, 4), (Ukbd.KeyUp, 0xE1), (Ukbd.KeyUp, 4), (Ukbd.KeyDown, 5) }),
            "ukbd0: the keyboard's reports as key events");
        Assert.That(ReadEntry(k, media, 2), Is.EqualTo(new byte[] { 0xe9, 0x00 }), "uhid0: the consumer report");
        Assert.That(ReadEntry(k, sys, 1), Is.EqualTo(new byte[] { 0x02 }), "uhid1: the system-control report");
        byte[] buf = new byte[64];
        Assert.That(k.Read(media, buf), Is.EqualTo(-Abi.EAGAIN), "uhid0 got nothing else");
        Assert.That(k.Read(sys, buf), Is.EqualTo(-Abi.EAGAIN), "uhid1 got nothing else");
        Assert.That(k.Read(kb, buf), Is.EqualTo(-Abi.EAGAIN), "ukbd0 got nothing else");
        var sc = (UhidevSoftc)k.Kernel.GetService<Autoconf>()!.Lookup("uhidev0")!.Softc!;
        Assert.That(sc.Dropped, Is.EqualTo(1), "the report of an unknown ID was dropped");
        k.Close(kb); k.Close(media); k.Close(sys);

        // Unplugging detaches the children, then uhidev.
        hc.Plug(1, null);
        Autoconf ac = k.Kernel.GetService<Autoconf>()!;
        Assert.That(Eventually(() => ac.Lookup("uhidev0") == null && ac.Lookup("ukbd0") == null && ac.Lookup("uhid1") == null), Is.True,
            "uhidev0 and its children detached; dmesg:\n" + k.Dmesg());
    }

    [Test]
    public void WithoutReportIdsOneUhidTakesEveryReport()
    {
        var dev = new EmuHid(HidWireTests.MouseReportDescriptor);
        (RumpKernel k, TestHc hc) = Plug(dev);
        string dmesg = k.Dmesg();
        Assert.That(dmesg, Does.Contain("uhid0 at uhidev0: input=3, output=0, feature=0"));
        Assert.That(dmesg, Does.Not.Contain("uhid1"));
        Assert.That(dmesg, Does.Not.Contain("ukbd"), "a mouse is no keyboard");
        int fd = k.Open("/dev/uhid0", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        dev.Report(0x01, 0x05, 0xfb);
        hc.Kick(dev);
        Assert.That(ReadEntry(k, fd, 3), Is.EqualTo(new byte[] { 0x01, 0x05, 0xfb }), "the whole report, first byte included");
        k.Close(fd);
    }

    private static unsafe long Ioctl(RumpKernel k, int fd, ulong cmd, void* arg) => k.Syscall(SysNum.ioctl, [fd, (long)cmd, (long)arg]);

    [Test]
    public unsafe void UhidIoctlsAsNetBSDs()
    {
        var dev = new EmuHid(HidWireTests.KeyboardWithMediaKeysDescriptor);
        // The consumer-control report (ID 2) as GET_REPORT returns it: the ID byte first.
        dev.Reports[(Abi.UHID_INPUT_REPORT, 2)] = new byte[] { 0x02, 0xcd, 0x00 };
        (RumpKernel k, TestHc hc) = Plug(dev);
        int media = k.Open("/dev/uhid0", Abi.O_RDWR | Abi.O_NONBLOCK);
        int kbd = k.Open("/dev/ukbd0", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(media >= 0 && kbd >= 0, Is.True, "open /dev/uhid0 and /dev/ukbd0: got " + media + ", " + kbd);

        var rd = new RumpUsbCtlReportDesc();
        Assert.That(Ioctl(k, media, Abi.USB_GET_REPORT_DESC, &rd), Is.EqualTo(0), "USB_GET_REPORT_DESC");
        Assert.That(rd.ucrd_size, Is.EqualTo(HidWireTests.KeyboardWithMediaKeysDescriptor.Length), "ucrd_size");
        Assert.That(new ReadOnlySpan<byte>(rd.ucrd_data, rd.ucrd_size).ToArray(), Is.EqualTo(HidWireTests.KeyboardWithMediaKeysDescriptor),
            "the descriptor as the device gave it");

        int id = -1;
        Assert.That(Ioctl(k, media, Abi.USB_GET_REPORT_ID, &id), Is.EqualTo(0));
        Assert.That(id, Is.EqualTo(2), "uhid0 is report ID 2");

        var r = new RumpUsbCtlReport { ucr_report = Abi.UHID_INPUT_REPORT };
        Assert.That(Ioctl(k, media, Abi.USB_GET_REPORT, &r), Is.EqualTo(0), "USB_GET_REPORT(input)");
        Assert.That((r.ucr_data[0], r.ucr_data[1], r.ucr_data[2]), Is.EqualTo(((byte)0xcd, (byte)0x00, (byte)0)), "the report without its ID byte, 2 bytes");
        r.ucr_report = Abi.UHID_FEATURE_REPORT;
        Assert.That(Ioctl(k, media, Abi.USB_GET_REPORT, &r), Is.EqualTo(-Abi.EINVAL), "ID 2 has no feature report");
        r.ucr_report = 7;
        Assert.That(Ioctl(k, media, Abi.USB_GET_REPORT, &r), Is.EqualTo(-Abi.EINVAL), "no such report type");

        // The keyboard's report ID is ukbd's, which (a wskbd on NetBSD) has no uhid ioctls.
        Assert.That(Ioctl(k, kbd, Abi.USB_GET_REPORT_ID, &id), Is.EqualTo(-Abi.ENOTTY), "ukbd is not uhid: no HID ioctls");
        r.ucr_report = Abi.UHID_INPUT_REPORT;
        r.ucr_data[0] = 0xe9; r.ucr_data[1] = 0x00;
        Assert.That(Ioctl(k, media, Abi.USB_SET_REPORT, &r), Is.EqualTo(0), "USB_SET_REPORT(input)");
        Assert.That(dev.SetReports, Has.Count.EqualTo(1));
        Assert.That(dev.SetReports[0].type, Is.EqualTo(Abi.UHID_INPUT_REPORT));
        Assert.That(dev.SetReports[0].id, Is.EqualTo(2));
        Assert.That(dev.SetReports[0].data, Is.EqualTo(new byte[] { 0x02, 0xe9, 0x00 }), "the ID byte in front of the report");
        int ro = k.Open("/dev/uhid0", Abi.O_RDONLY);
        Assert.That(Ioctl(k, ro, Abi.USB_SET_REPORT, &r), Is.EqualTo(-Abi.EPERM), "SET_REPORT needs the node open for writing");
        k.Close(ro);

        // Immediate mode: a read asks the device instead of waiting for the interrupt pipe.
        int on = 1;
        Assert.That(Ioctl(k, media, Abi.USB_SET_IMMED, &on), Is.EqualTo(0), "USB_SET_IMMED on");
        byte[] buf = new byte[2];
        Assert.That(k.Read(media, buf), Is.EqualTo(2), "an immediate read");
        Assert.That(buf, Is.EqualTo(new byte[] { 0xcd, 0x00 }), "the input report from GET_REPORT");
        int off = 0;
        Assert.That(Ioctl(k, media, Abi.USB_SET_IMMED, &off), Is.EqualTo(0), "USB_SET_IMMED off");
        Assert.That(k.Read(media, buf), Is.EqualTo(-Abi.EAGAIN), "queued reads again: nothing queued");
        int sys = k.Open("/dev/uhid1", Abi.O_RDONLY | Abi.O_NONBLOCK);
        Assert.That(Ioctl(k, sys, Abi.USB_SET_IMMED, &on), Is.EqualTo(-Abi.EOPNOTSUPP), "a report the device will not give on request");

        var di = new Rump.Usb.Wire.RumpUsbDeviceInfo();
        Assert.That(Ioctl(k, media, Abi.USB_GET_DEVICEINFO, &di), Is.EqualTo(0), "USB_GET_DEVICEINFO");
        Assert.That((di.udi_vendorNo, di.udi_productNo), Is.EqualTo(((ushort)0x1209, (ushort)0x0003)));
        Assert.That(System.Text.Encoding.ASCII.GetString(new ReadOnlySpan<byte>(di.udi_devnames, 16)).TrimEnd('\0'), Is.EqualTo("uhidev0"));
        k.Close(media); k.Close(kbd); k.Close(sys);
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
