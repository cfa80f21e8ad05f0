using System;
using NUnit.Framework;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Tests.Usb;

/// <summary>
/// HID report descriptors (HID 1.11 appendix E: the boot keyboard E.6, which QEMU's usb-kbd sends
/// byte for byte, and the mouse E.10), report layout and field extraction, report IDs, push/pop,
/// and boot keyboard reports with the events between them.
/// </summary>
public class HidWireTests
{
    internal static readonly byte[] BootKeyboardReportDescriptor =
    {
        0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x75, 0x01, 0x95, 0x08, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7,
        0x15, 0x00, 0x25, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08, 0x81, 0x01, 0x95, 0x05, 0x75, 0x01,
        0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01, 0x95, 0x06,
        0x75, 0x08, 0x15, 0x00, 0x25, 0xff, 0x05, 0x07, 0x19, 0x00, 0x29, 0xff, 0x81, 0x00, 0xc0,
    };

    internal static readonly byte[] MouseReportDescriptor =
    {
        0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0x09, 0x01, 0xa1, 0x00, 0x05, 0x09, 0x19, 0x01, 0x29, 0x03,
        0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x05, 0x81, 0x01,
        0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x15, 0x81, 0x25, 0x7f, 0x75, 0x08, 0x95, 0x02, 0x81, 0x06,
        0xc0, 0xc0,
    };

    [Test]
    public void BootKeyboardLayout()
    {
        Assert.That(BootKeyboardReportDescriptor, Has.Length.EqualTo(63), "the length QEMU's HID descriptor announces");
        Assert.That(HidReportDescriptor.Parse(BootKeyboardReportDescriptor, out HidReportDescriptor? d), Is.EqualTo(0));
        Assert.That(d!.HasReportIds, Is.False);
        Assert.That(d.Applications, Is.EqualTo(new[] { HidUsage.Make(HidUsage.PageGenericDesktop, HidUsage.Keyboard) }));
        Assert.That(d.ReportBytes(HidKind.Input, 0), Is.EqualTo(8));
        Assert.That(d.ReportBytes(HidKind.Output, 0), Is.EqualTo(1));
        Assert.That(d.MaxReportBytes(HidKind.Input), Is.EqualTo(8));

        HidField? lshift = d.FindVariable(HidKind.Input, HidUsage.Make(HidUsage.PageKeyboard, 0xE1), out int idx);
        Assert.That(lshift, Is.Not.Null);
        Assert.That((lshift!.BitPos, lshift.BitSize, idx), Is.EqualTo((0, 1, 1)));
        HidField? keys = d.FindArray(HidKind.Input, HidUsage.Make(HidUsage.PageKeyboard, 0x04));
        Assert.That(keys, Is.Not.Null);
        Assert.That((keys!.BitPos, keys.BitSize, keys.Count, keys.LogicalMax), Is.EqualTo((16, 8, 6, 255)), "0xFF as one byte with minimum 0 is 255");
        Assert.That(keys.IsSigned, Is.False);

        byte[] report = { 0x02, 0x00, 0x04, 0x05, 0, 0, 0, 0 }; // left shift, 'a', 'b'
        Assert.That(lshift.TryGet(report, idx, out int v) && v == 1, Is.True);
        Assert.That(keys.TryGet(report, 0, out v) && v == 4, Is.True);
        Assert.That(keys.TryGet(report, 1, out v) && v == 5, Is.True);
        Assert.That(keys.TryGet(report.AsSpan(0, 3), 1, out _), Is.False, "a short report holds no second key");
        HidField? led = d.FindVariable(HidKind.Output, HidUsage.Make(HidUsage.PageLeds, 2), out idx);
        Assert.That((led!.BitPos, idx), Is.EqualTo((0, 1)), "Caps Lock is the second LED bit");
    }

    [Test]
    public void MouseLayoutHasSignedAxes()
    {
        Assert.That(HidReportDescriptor.Parse(MouseReportDescriptor, out HidReportDescriptor? d), Is.EqualTo(0));
        HidField? x = d!.FindVariable(HidKind.Input, HidUsage.Make(HidUsage.PageGenericDesktop, HidUsage.X), out int xi);
        HidField? y = d.FindVariable(HidKind.Input, HidUsage.Make(HidUsage.PageGenericDesktop, HidUsage.Y), out int yi);
        Assert.That((x!.BitPos, xi, yi, x.LogicalMin, x.LogicalMax, x.IsSigned), Is.EqualTo((8, 0, 1, -127, 127, true)));
        Assert.That((x.Flags & HidField.FlagRelative) != 0, Is.True);
        byte[] r = { 0x01, 0xfe, 0x03 };
        Assert.That(x.TryGet(r, xi, out int dx) && dx == -2, Is.True, "0xFE is -2");
        Assert.That(y!.TryGet(r, yi, out int dy) && dy == 3, Is.True);
        HidField? b2 = d.FindVariable(HidKind.Input, HidUsage.Make(HidUsage.PageButton, 2), out int bi);
        Assert.That((b2!.BitPos, bi), Is.EqualTo((0, 1)));
        Assert.That(d.Applications[0], Is.EqualTo(HidUsage.Make(HidUsage.PageGenericDesktop, HidUsage.Mouse)));
        Assert.That(x.Application, Is.EqualTo(d.Applications[0]), "a field inside a physical collection still knows its application");
    }

    [Test]
    public void ReportIdsAndPushPop()
    {
        byte[] desc =
        {
            0x05, 0x0c, 0x09, 0x01, 0xa1, 0x01,       // Consumer Control application
            0x85, 0x02, 0xa4,                         // Report ID 2, Push
            0x75, 0x10, 0x95, 0x01, 0x15, 0x00, 0x26, 0xff, 0x03, 0x19, 0x00, 0x2a, 0xff, 0x03, 0x81, 0x00, // 16-bit array
            0xb4,                                     // Pop (report size back to 0)
            0x85, 0x03, 0x75, 0x08, 0x95, 0x03, 0x81, 0x03, // report 3: 3 constant bytes
            0xc0,
        };
        Assert.That(HidReportDescriptor.Parse(desc, out HidReportDescriptor? d), Is.EqualTo(0));
        Assert.That(d!.HasReportIds, Is.True);
        Assert.That(d.ReportIds(HidKind.Input), Is.EqualTo(new byte[] { 2, 3 }));
        Assert.That(d.ReportBytes(HidKind.Input, 2), Is.EqualTo(2));
        Assert.That(d.ReportBytes(HidKind.Input, 3), Is.EqualTo(3));
        Assert.That(d.MaxReportBytes(HidKind.Input), Is.EqualTo(4), "3 bytes and the ID byte");
        Assert.That(d.Fields[0].LogicalMax, Is.EqualTo(1023));
    }

    [Test]
    public void HostileDescriptorsAreRejected()
    {
        Assert.That(HidReportDescriptor.Parse(new byte[] { 0xc0 }, out _), Is.EqualTo(Abi.EINVAL), "End Collection without a collection");
        Assert.That(HidReportDescriptor.Parse(new byte[] { 0xa1, 0x01 }, out _), Is.EqualTo(Abi.EINVAL), "collection never closed");
        Assert.That(HidReportDescriptor.Parse(new byte[] { 0x26, 0xff }, out _), Is.EqualTo(Abi.EINVAL), "item data past the end");
        Assert.That(HidReportDescriptor.Parse(new byte[] { 0xb4 }, out _), Is.EqualTo(Abi.EINVAL), "Pop on an empty stack");
        Assert.That(HidReportDescriptor.Parse(new byte[] { 0x85, 0x00 }, out _), Is.EqualTo(Abi.EINVAL), "report ID 0");
        Assert.That(HidReportDescriptor.Parse(new byte[] { 0xfe, 0x05, 0x01 }, out _), Is.EqualTo(Abi.EINVAL), "long item past the end");
        var deep = new byte[2 * (HidReportDescriptor.MaxDepth + 1)];
        for (int i = 0; i < deep.Length; i += 2) { deep[i] = 0xa1; deep[i + 1] = 0x00; }
        Assert.That(HidReportDescriptor.Parse(deep, out _), Is.EqualTo(Abi.EINVAL), "collections nested too deep");
        // 8192 bytes of report in one field are allowed; one bit more is not.
        byte[] huge = { 0x75, 0x08, 0x96, 0x00, 0x20, 0x81, 0x02, 0x75, 0x01, 0x95, 0x01, 0x81, 0x02 };
        Assert.That(HidReportDescriptor.Parse(huge, out _), Is.EqualTo(Abi.EINVAL), "a report beyond the bound");
        Assert.That(HidReportDescriptor.Parse(new byte[] { 0x75, 0x40, 0x95, 0x01, 0x81, 0x02 }, out _), Is.EqualTo(Abi.EINVAL), "a 64-bit data field");
        Assert.That(HidReportDescriptor.Parse(new byte[] { 0x75, 0x40, 0x95, 0x01, 0x81, 0x01 }, out _), Is.EqualTo(0), "64 bits of constant padding are fine");
    }

    [Test]
    public void BootReportsAndKeyEvents()
    {
        Assert.That(KeyboardState.ParseBoot(new byte[] { 0x02, 0, 0x04, 0, 0, 0, 0, 0 }, out KeyboardState a), Is.EqualTo(0));
        Assert.That(KeyboardState.ParseBoot(new byte[] { 0x00, 0, 0x05, 0x04, 0, 0, 0, 0 }, out KeyboardState b), Is.EqualTo(0));
        Span<KeyEvent> ev = stackalloc KeyEvent[16];
        int n = KeyboardState.Diff(a, b, ev);
        Assert.That(ev.Slice(0, n).ToArray(), Is.EqualTo(new[] { new KeyEvent(false, 0xE1), new KeyEvent(true, 0x05) }),
            "shift released, 'b' pressed, 'a' still held");
        n = KeyboardState.Diff(default, a, ev);
        Assert.That(ev.Slice(0, n).ToArray(), Is.EqualTo(new[] { new KeyEvent(true, 0xE1), new KeyEvent(true, 0x04) }));
        Assert.That(KeyboardState.ParseBoot(new byte[] { 0, 0, 1, 1, 1, 1, 1, 1 }, out _), Is.EqualTo(Abi.EAGAIN), "rollover says nothing");
        Assert.That(KeyboardState.ParseBoot(new byte[7], out _), Is.EqualTo(Abi.EINVAL));
        Span<byte> r = stackalloc byte[8];
        b.EmitBoot(r);
        Assert.That(r.ToArray(), Is.EqualTo(new byte[] { 0, 0, 0x05, 0x04, 0, 0, 0, 0 }));
        Assert.That(KeyboardState.UsageOf('a'), Is.EqualTo(0x04));
        Assert.That(KeyboardState.UsageOf('0'), Is.EqualTo(0x27));
    }

    [Test]
    public void BitFields()
    {
        byte[] r = new byte[4];
        Assert.That(HidBits.TryInsert(r, 3, 10, 0x2a5), Is.True);
        Assert.That(HidBits.TryExtract(r, 3, 10, out uint v) && v == 0x2a5, Is.True);
        Assert.That(HidBits.TryExtract(r, 0, 32, out _), Is.True);
        Assert.That(HidBits.TryExtract(r, 1, 32, out _), Is.False, "past the end");
        Assert.That(HidBits.TryExtract(r, 0, 33, out _), Is.False);
    }
}
