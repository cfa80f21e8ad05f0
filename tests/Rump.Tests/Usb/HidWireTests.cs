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

    /// <summary>
    /// A keyboard with media keys in one interface, as many sold are: the boot keyboard of HID 1.11
    /// E.6 as report 1, a Consumer Control array (HID Usage Tables 15) as report 2, and System
    /// Control power/sleep/wake bits (Usage Tables 4.5) as report 3, each in its own application
    /// collection.
    /// </summary>
    internal static readonly byte[] KeyboardWithMediaKeysDescriptor =
    {
        0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x85, 0x01,                   // Keyboard, Report ID 1
        0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02,
        0x95, 0x01, 0x75, 0x08, 0x81, 0x01,
        0x95, 0x05, 0x75, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01,
        0x95, 0x06, 0x75, 0x08, 0x15, 0x00, 0x25, 0xff, 0x05, 0x07, 0x19, 0x00, 0x29, 0xff, 0x81, 0x00,
        0xc0,
        0x05, 0x0c, 0x09, 0x01, 0xa1, 0x01, 0x85, 0x02,                   // Consumer Control, Report ID 2
        0x15, 0x00, 0x26, 0xff, 0x03, 0x19, 0x00, 0x2a, 0xff, 0x03, 0x75, 0x10, 0x95, 0x01, 0x81, 0x00,
        0xc0,
        0x05, 0x01, 0x09, 0x80, 0xa1, 0x01, 0x85, 0x03,                   // System Control, Report ID 3
        0x19, 0x81, 0x29, 0x83, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x03, 0x81, 0x02,
        0x95, 0x05, 0x81, 0x01,
        0xc0,
    };

    [Test]
    public void ReportIdsDispatchToTheirCollections()
    {
        Assert.That(HidReportDescriptor.Parse(KeyboardWithMediaKeysDescriptor, out HidReportDescriptor? d), Is.EqualTo(0));
        Assert.That(d!.HasReportIds, Is.True);
        Assert.That(d.ReportIds(HidKind.Input), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(d.ReportIds(HidKind.Output), Is.EqualTo(new byte[] { 1 }), "only the keyboard has LEDs");
        Assert.That((d.ReportBytes(HidKind.Input, 1), d.ReportBytes(HidKind.Input, 2), d.ReportBytes(HidKind.Input, 3)), Is.EqualTo((8, 2, 1)));
        Assert.That(d.MaxReportBytes(HidKind.Input), Is.EqualTo(9), "the keyboard's 8 bytes and the ID byte");
        uint keyboard = HidUsage.Make(HidUsage.PageGenericDesktop, HidUsage.Keyboard);
        uint consumer = HidUsage.Make(HidUsage.PageConsumer, 0x01), system = HidUsage.Make(HidUsage.PageGenericDesktop, 0x80);
        Assert.That(d.Applications, Is.EqualTo(new[] { keyboard, consumer, system }));
        Assert.That((d.ApplicationOf(HidKind.Input, 1), d.ApplicationOf(HidKind.Input, 2), d.ApplicationOf(HidKind.Input, 3)), Is.EqualTo((keyboard, consumer, system)));
        Assert.That(d.ApplicationOf(HidKind.Input, 9), Is.EqualTo(0u));

        // Report 1: left shift and 'a', after the ID byte, read with the keyboard's own fields.
        byte[] raw = { 0x01, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0 };
        Assert.That(d.SplitInput(raw, out byte id, out ReadOnlySpan<byte> rep), Is.EqualTo(0));
        Assert.That((id, rep.Length), Is.EqualTo(((byte)1, 8)));
        System.Collections.Generic.List<HidField> kf = d.FieldsOf(HidKind.Input, 1);
        Assert.That(kf.Count, Is.EqualTo(3), "modifiers, reserved byte, key array");
        Assert.That(kf[0].TryGet(rep, 1, out int v) && v == 1, Is.True, "left shift");
        Assert.That(kf[2].TryGet(rep, 0, out v) && v == 4, Is.True, "'a'");

        // Report 2: Volume Increment (0xE9) as a 16-bit array value.
        Assert.That(d.SplitInput(new byte[] { 0x02, 0xe9, 0x00 }, out id, out rep), Is.EqualTo(0));
        HidField cf = d.FieldsOf(HidKind.Input, id)[0];
        Assert.That(id, Is.EqualTo(2));
        Assert.That(cf.CanReport(HidUsage.Make(HidUsage.PageConsumer, 0xE9)), Is.True);
        Assert.That(cf.TryGet(rep, 0, out v) && v == 0xE9, Is.True);

        // Report 3: System Sleep is the second bit.
        Assert.That(d.SplitInput(new byte[] { 0x03, 0x02 }, out id, out rep), Is.EqualTo(0));
        HidField sf = d.FieldsOf(HidKind.Input, id)[0];
        Assert.That(sf.UsageOf(1), Is.EqualTo(HidUsage.Make(HidUsage.PageGenericDesktop, 0x82)));
        Assert.That(sf.TryGet(rep, 1, out v) && v == 1 && sf.TryGet(rep, 0, out int pw) && pw == 0, Is.True);

        // What a device must not send: an ID with no input report, an output-only ID, nothing at all.
        Assert.That(d.SplitInput(new byte[] { 0x07, 0x00 }, out _, out _), Is.EqualTo(Abi.EINVAL));
        Assert.That(d.SplitInput(ReadOnlySpan<byte>.Empty, out _, out _), Is.EqualTo(Abi.EINVAL));
        // A short report is passed on; its missing fields read as absent.
        Assert.That(d.SplitInput(new byte[] { 0x01, 0x02 }, out id, out rep), Is.EqualTo(0));
        Assert.That(kf[2].TryGet(rep, 0, out _), Is.False);

        // Without report IDs the whole report is report 0.
        Assert.That(HidReportDescriptor.Parse(BootKeyboardReportDescriptor, out HidReportDescriptor? boot), Is.EqualTo(0));
        Assert.That(boot!.SplitInput(raw.AsSpan(1), out id, out rep), Is.EqualTo(0));
        Assert.That((id, rep.Length), Is.EqualTo(((byte)0, 8)));
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

    /// <summary>An NKRO keyboard: eight modifier bits, then one bit per key usage 0x00–0x67 (no key array).</summary>
    internal static readonly byte[] NkroKeyboardDescriptor =
    {
        0x05, 0x01, 0x09, 0x06, 0xa1, 0x01,
        0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02,
        0x19, 0x00, 0x29, 0x67, 0x95, 0x68, 0x81, 0x02,
        0xc0,
    };

    [Test]
    public void KeyboardLayout_BootKeyboardFromItsDescriptor()
    {
        Assert.That(HidReportDescriptor.Parse(BootKeyboardReportDescriptor, out HidReportDescriptor? d), Is.EqualTo(0));
        Assert.That(KeyboardLayout.IsKeyboard(d!, 0), Is.True);
        KeyboardLayout l = KeyboardLayout.From(d!, 0)!;
        Assert.That(l.Parse(new byte[] { 0x22, 0x00, 0x04, 0x05, 0, 0, 0, 0 }, out KeyboardState st), Is.EqualTo(0));
        Assert.That(st.Modifiers, Is.EqualTo(0x22), "left and right shift");
        Assert.That((st.Count, st.Key(0), st.Key(1)), Is.EqualTo((2, (byte)0x04, (byte)0x05)), "a and b held");
        // Rollover: every slot ErrorRollOver. The report says nothing about the keys.
        Assert.That(l.Parse(new byte[] { 0x02, 0x00, 1, 1, 1, 1, 1, 1 }, out _), Is.EqualTo(Abi.EAGAIN), "a rollover report");
        // A short report: the missing slots are empty.
        Assert.That(l.Parse(new byte[] { 0x00, 0x00, 0x06 }, out st), Is.EqualTo(0));
        Assert.That((st.Count, st.Key(0)), Is.EqualTo((1, (byte)0x06)));
    }

    [Test]
    public void KeyboardLayout_NkroBitmapHoldsMoreThanSixKeys()
    {
        Assert.That(HidReportDescriptor.Parse(NkroKeyboardDescriptor, out HidReportDescriptor? d), Is.EqualTo(0));
        Assert.That(d!.ReportBytes(HidKind.Input, 0), Is.EqualTo(14));
        Assert.That(KeyboardLayout.IsKeyboard(d, 0), Is.True);
        KeyboardLayout l = KeyboardLayout.From(d, 0)!;
        byte[] r = new byte[14];
        r[0] = 0x01;                                            // left control
        for (int u = 0x04; u <= 0x0b; u++) r[1 + u / 8] |= (byte)(1 << (u % 8)); // a..h: eight keys
        r[1 + 0x2c / 8] |= (byte)(1 << (0x2c % 8));             // space
        r[1 + 0x01 / 8] |= 1 << 1;                              // usage 1 (ErrorRollOver) as a bit: not a key
        Assert.That(l.Parse(r, out KeyboardState st), Is.EqualTo(0));
        Assert.That(st.Modifiers, Is.EqualTo(0x01));
        Assert.That(st.Count, Is.EqualTo(9), "nine keys held at once");
        for (int u = 0x04; u <= 0x0b; u++) Assert.That(st.Holds((byte)u), Is.True, "usage " + u);
        Assert.That(st.Holds(0x2c), Is.True, "space");
        var ev = new KeyEvent[80];
        int n = KeyboardState.Diff(default, st, ev);
        Assert.That(n, Is.EqualTo(10), "control and nine keys go down");
    }

    [Test]
    public void KeyboardLayout_NotForAMouseOrKeylessReport()
    {
        Assert.That(HidReportDescriptor.Parse(MouseReportDescriptor, out HidReportDescriptor? m), Is.EqualTo(0));
        Assert.That(KeyboardLayout.IsKeyboard(m!, 0), Is.False, "a mouse");
        Assert.That(HidReportDescriptor.Parse(KeyboardWithMediaKeysDescriptor, out HidReportDescriptor? c), Is.EqualTo(0));
        Assert.That(KeyboardLayout.IsKeyboard(c!, 1), Is.True, "report 1: the keyboard");
        Assert.That(KeyboardLayout.IsKeyboard(c!, 2), Is.False, "report 2: consumer control");
        // A Keyboard collection with no key fields (only LEDs): nothing for ukbd.
        byte[] ledsOnly = { 0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x15, 0x00, 0x25, 0x01,
                            0x75, 0x01, 0x95, 0x05, 0x81, 0x02, 0x95, 0x03, 0x81, 0x01, 0xc0 };
        Assert.That(HidReportDescriptor.Parse(ledsOnly, out HidReportDescriptor? o), Is.EqualTo(0));
        Assert.That(KeyboardLayout.IsKeyboard(o!, 0), Is.False, "no keys");
    }
}
