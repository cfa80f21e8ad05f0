using System;
using System.IO;
using System.Linq;
using NUnit.Framework;

namespace Rump.Tests.Qemu;

/// <summary>
/// The USB hypercalls (librumpuser_usb.so) on QEMU's emulated devices, driven from the host through
/// the monitor: tests/qemu/usbguest runs in the guest as uid 1000. One guest boot per test (about
/// 5-10 s each), so they are few. Category Qemu: run in the Release suite only (ctest's nunit).
/// </summary>
[TestFixture, Category("Qemu")]
public class UsbGuestTests
{
    private static string UsbGuest()
    {
        string? p = Environment.GetEnvironmentVariable("RUMP_USBGUEST_BIN");
        if (p == null || !File.Exists(p))
            Assert.Fail("RUMP_USBGUEST_BIN does not name the built usbguest (ctest sets it to build/bin/usbguest): '" + p + "'");
        return p!;
    }

    /// <summary>Keys typed with sendkey arrive as interrupt-transfer reports; unplugging the keyboard
    /// ends the pending transfer with ENXIO and comes as a hotplug upcall, the departed device cannot
    /// be opened again (ENXIO); plugging one in comes as an arrival with a new devid that opens.
    /// Without udevd in the guest (as in a container) libusb hears of no hot-plug, so the library
    /// polls: the same changes show in rumpusb_devices instead of upcalls.</summary>
    [TestCase(true, TestName = "KeyboardReportsAndHotplug(udevd: hotplug upcalls)")]
    [TestCase(false, TestName = "KeyboardReportsAndHotplug(no udevd: polling)")]
    public void KeyboardReportsAndHotplug(bool udevd)
    {
        var o = new QemuGuest.Options { NoUdevd = !udevd };
        o.Devices.Add("usb-kbd,id=kbd");
        o.Copies.Add(UsbGuest());
        using QemuGuest g = QemuGuest.Start(o, "./usbguest", "kbd", "2");
        g.WaitForConsoleLine("^guest: ready at");     // /init saw the keyboard configured
        g.WaitForLine("^MODE " + (udevd ? "hotplug" : "polling") + "$");
        g.WaitForLine("^READY$");
        g.Monitor("sendkey a");
        g.WaitForLine("^KEY 04$");              // HID usage of 'a'
        g.Monitor("sendkey b");
        g.WaitForLine("^KEY 05$");
        g.WaitForLine("^WAITING-LEFT$");
        g.Monitor("sendkey c");                 // a report completes the transfer that waits for the unplug:
        g.WaitForLine("^REPORT 06$");           // the guest reads on (it used to take it for the unplug)
        g.Monitor("device_del kbd");
        g.WaitForLine("^LEFT 0627:0001$");
        g.WaitForLine("^WAITING-ARRIVED$");
        g.Monitor("device_add usb-kbd,bus=xhci.0,id=kbd2");
        g.WaitForLine("^DONE$");
        g.AssertExit(0);
        string[] bad = g.Lines.Where(l => l.StartsWith("not ok")).ToArray();
        Assert.That(bad, Is.Empty, "checks in the guest that failed");
        Assert.That(g.Lines.Count(l => l.StartsWith("ok - ")), Is.GreaterThanOrEqualTo(12), string.Join("\n", g.Lines));
    }
}
