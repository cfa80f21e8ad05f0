using System;
using System.Collections.Generic;
using NUnit.Framework;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Tests.Usb;

/// <summary>
/// Byte fixtures of the USB wire formats: descriptors as QEMU's usb-storage, usb-kbd and usb-hub
/// present them (hw/usb/dev-storage.c, dev-hid.c, dev-hub.c), setup packets as the specification
/// lays them out, hub port status and the Bulk-Only wrappers; and hostile bytes (every truncation,
/// every byte changed) give an error, never an exception or a hang.
/// </summary>
public class UsbWireTests
{
    /// <summary>QEMU usb-storage's device descriptor (full speed).</summary>
    internal static readonly byte[] StorageDevice =
    {
        0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0xf4, 0x46, 0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x01,
    };

    /// <summary>QEMU usb-storage's high-speed configuration: one Bulk-Only SCSI interface, bulk in 0x81 and out 0x02 of 512 bytes.</summary>
    internal static readonly byte[] StorageConfig =
    {
        0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0xc0, 0x32,
        0x09, 0x04, 0x00, 0x00, 0x02, 0x08, 0x06, 0x50, 0x00,
        0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00,
        0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00,
    };

    /// <summary>QEMU usb-kbd's configuration: a boot keyboard with a HID descriptor (report descriptor of 63 bytes) and interrupt in 0x81.</summary>
    internal static readonly byte[] KeyboardConfig =
    {
        0x09, 0x02, 0x22, 0x00, 0x01, 0x01, 0x04, 0xa0, 0x32,
        0x09, 0x04, 0x00, 0x00, 0x01, 0x03, 0x01, 0x01, 0x00,
        0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x3f, 0x00,
        0x07, 0x05, 0x81, 0x03, 0x08, 0x00, 0x07,
    };

    [Test]
    public void DeviceDescriptorOfQemuStorage()
    {
        Assert.That(DeviceDescriptor.Parse(StorageDevice, out DeviceDescriptor d), Is.EqualTo(0));
        Assert.That((d.Vendor, d.Product, d.BcdUsb, d.MaxPacket0Bytes), Is.EqualTo(((ushort)0x46f4, (ushort)0x0001, (ushort)0x0200, 64)));
        Assert.That((d.IManufacturer, d.IProduct, d.ISerial, d.NumConfigurations), Is.EqualTo(((byte)1, (byte)2, (byte)3, (byte)1)));
        Span<byte> back = stackalloc byte[18];
        d.Emit(back);
        Assert.That(back.ToArray(), Is.EqualTo(StorageDevice), "emit gives the same bytes");
        // Enumeration reads 8 bytes first: enough for the packet size.
        Assert.That(DeviceDescriptor.Parse(StorageDevice.AsSpan(0, 8), out DeviceDescriptor p8, partial: true), Is.EqualTo(0));
        Assert.That(p8.MaxPacketSize0, Is.EqualTo(64));
        Assert.That(DeviceDescriptor.Parse(StorageDevice.AsSpan(0, 8), out _), Is.EqualTo(Abi.EINVAL), "8 bytes are not a whole descriptor");
        byte[] bad = (byte[])StorageDevice.Clone();
        bad[7] = 7;
        Assert.That(DeviceDescriptor.Parse(bad, out _), Is.EqualTo(Abi.EINVAL), "a packet size USB does not allow");
    }

    [Test]
    public void ConfigurationOfQemuStorage()
    {
        Assert.That(ConfigInfo.Parse(StorageConfig, out ConfigInfo? ci), Is.EqualTo(0));
        Assert.That(ci!.Desc.ConfigValue, Is.EqualTo(1));
        Assert.That(ci.Desc.SelfPowered, Is.True);
        Assert.That(ci.Interfaces, Has.Count.EqualTo(1));
        InterfaceAlt a = ci.Interfaces[0][0];
        Assert.That((a.Desc.Class, a.Desc.SubClass, a.Desc.Protocol), Is.EqualTo((UClass.MassStorage, (byte)6, (byte)0x50)));
        Assert.That(a.Endpoints, Has.Count.EqualTo(2));
        Assert.That((a.Endpoints[0].Desc.Address, a.Endpoints[0].Desc.IsIn, a.Endpoints[0].Desc.Type, a.Endpoints[0].Desc.PacketBytes),
            Is.EqualTo(((byte)0x81, true, UsbXferType.Bulk, 512)));
        Assert.That((a.Endpoints[1].Desc.Address, a.Endpoints[1].Desc.IsIn), Is.EqualTo(((byte)0x02, false)));
    }

    [Test]
    public void ConfigurationOfQemuKeyboardKeepsTheHidDescriptor()
    {
        Assert.That(ConfigInfo.Parse(KeyboardConfig, out ConfigInfo? ci), Is.EqualTo(0));
        InterfaceAlt a = ci!.Interfaces[0][0];
        Assert.That(a.Endpoints[0].Desc.Type, Is.EqualTo(UsbXferType.Interrupt));
        ReadOnlySpan<byte> hid = ci.FindExtra(a, UDesc.Hid);
        Assert.That(hid.Length, Is.EqualTo(9), "the HID descriptor sits between the interface and its endpoint");
        Assert.That(HidDescriptor.Parse(hid, out HidDescriptor h), Is.EqualTo(0));
        Assert.That((h.BcdHid, h.ReportLength), Is.EqualTo(((ushort)0x0111, (ushort)63)));
    }

    [Test]
    public void AlternateSettingsAreGroupedByInterface()
    {
        // Interface 0 alt 0 with no endpoints, interface 1 alt 1 then alt 0 (out of order), an unknown descriptor in between.
        byte[] cfg =
        {
            0x09, 0x02, 0x00, 0x00, 0x02, 0x01, 0x00, 0x80, 0x32,
            0x09, 0x04, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00,
            0x09, 0x04, 0x01, 0x01, 0x01, 0xff, 0x00, 0x00, 0x00,
            0x07, 0x05, 0x83, 0x01, 0x00, 0x01, 0x01,
            0x05, 0x99, 0x01, 0x02, 0x03,
            0x09, 0x04, 0x01, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00,
        };
        cfg[2] = (byte)cfg.Length;
        Assert.That(ConfigInfo.Parse(cfg, out ConfigInfo? ci), Is.EqualTo(0));
        Assert.That(ci!.Interfaces, Has.Count.EqualTo(2));
        List<InterfaceAlt> i1 = ci.Interface(1)!;
        Assert.That(i1, Has.Count.EqualTo(2));
        Assert.That(i1[0].Desc.AltSetting, Is.EqualTo(0), "settings sorted by number");
        Assert.That(i1[1].Endpoints[0].Desc.Type, Is.EqualTo(UsbXferType.Isochronous));
        Assert.That(i1[1].Endpoints[0].ExtraLength, Is.EqualTo(5), "the unknown descriptor belongs to the endpoint before it");
    }

    [Test]
    public void BadConfigurationsAreRejected()
    {
        byte[] c = (byte[])StorageConfig.Clone();
        c[2] = 0x40; // wTotalLength beyond the bytes
        Assert.That(ConfigInfo.Parse(c, out _), Is.EqualTo(Abi.EINVAL), "total length beyond the data");
        c = (byte[])StorageConfig.Clone();
        c[25] = 0; // an endpoint descriptor of length 0 would loop for ever
        Assert.That(ConfigInfo.Parse(c, out _), Is.EqualTo(Abi.EINVAL), "descriptor of length 0");
        c = (byte[])StorageConfig.Clone();
        c[13] = 3; // three endpoints announced, two present
        Assert.That(ConfigInfo.Parse(c, out _), Is.EqualTo(Abi.EINVAL), "missing endpoints");
        c = (byte[])StorageConfig.Clone();
        c[27] = 0x81; // the same endpoint twice
        Assert.That(ConfigInfo.Parse(c, out _), Is.EqualTo(Abi.EINVAL), "duplicate endpoint");
        c = (byte[])StorageConfig.Clone();
        c[20] = 0x80; // endpoint 0 described
        Assert.That(ConfigInfo.Parse(c, out _), Is.EqualTo(Abi.EINVAL), "endpoint 0");
    }

    [Test]
    public void StringDescriptors()
    {
        byte[] s = { 0x0a, 0x03, (byte)'Q', 0, (byte)'E', 0, (byte)'M', 0, (byte)'U', 0 };
        Assert.That(StringDescriptor.Parse(s, out string t), Is.EqualTo(0));
        Assert.That(t, Is.EqualTo("QEMU"));
        byte[] padded = { 0x0c, 0x03, (byte)'A', 0, (byte)'B', 0, 0x20, 0, 0, 0, 0, 0 };
        Assert.That(StringDescriptor.Parse(padded, out t), Is.EqualTo(0));
        Assert.That(t, Is.EqualTo("AB"), "trailing spaces and NULs dropped");
        byte[] lone = { 0x06, 0x03, 0x00, 0xd8, 0x07, 0x00 };
        Assert.That(StringDescriptor.Parse(lone, out t), Is.EqualTo(0));
        Assert.That(t, Is.EqualTo("??"), "unpaired surrogate and control character replaced");
        var langs = new List<ushort>();
        Assert.That(StringDescriptor.ParseLangIds(new byte[] { 0x04, 0x03, 0x09, 0x04 }, langs), Is.EqualTo(0));
        Assert.That(langs, Is.EqualTo(new ushort[] { 0x0409 }));
        Span<byte> buf = stackalloc byte[255];
        int n = StringDescriptor.Emit(buf, "QEMU");
        Assert.That(buf.Slice(0, n).ToArray(), Is.EqualTo(s));
        Assert.That(StringDescriptor.Parse(new byte[] { 0x0a, 0x02 }, out _), Is.EqualTo(Abi.EINVAL), "not a string descriptor");
    }

    [Test]
    public void SetupPacketsOfStandardRequests()
    {
        Span<byte> b = stackalloc byte[8];
        SetupPacket.GetDesc(UDesc.Device, 0, 18).Emit(b);
        Assert.That(b.ToArray(), Is.EqualTo(new byte[] { 0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00 }));
        SetupPacket.GetDesc(UDesc.String, 2, 255, StringDescriptor.LangEnUs).Emit(b);
        Assert.That(b.ToArray(), Is.EqualTo(new byte[] { 0x80, 0x06, 0x02, 0x03, 0x09, 0x04, 0xff, 0x00 }));
        SetupPacket.SetConfig(1).Emit(b);
        Assert.That(b.ToArray(), Is.EqualTo(new byte[] { 0x00, 0x09, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00 }));
        SetupPacket.SetIface(1, 2).Emit(b);
        Assert.That(b.ToArray(), Is.EqualTo(new byte[] { 0x01, 0x0b, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00 }));
        SetupPacket.ClearHalt(0x81).Emit(b);
        Assert.That(b.ToArray(), Is.EqualTo(new byte[] { 0x02, 0x01, 0x00, 0x00, 0x81, 0x00, 0x00, 0x00 }));
        HubWire.SetPortFeature(3, HubWire.PortReset).Emit(b);
        Assert.That(b.ToArray(), Is.EqualTo(new byte[] { 0x23, 0x03, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00 }));
        HubWire.GetPortStatus(2).Emit(b);
        Assert.That(b.ToArray(), Is.EqualTo(new byte[] { 0xa3, 0x00, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00 }));
        BulkOnly.GetMaxLunRequest(0).Emit(b);
        Assert.That(b.ToArray(), Is.EqualTo(new byte[] { 0xa1, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00 }));
        Assert.That(SetupPacket.TryParse(b, out SetupPacket p), Is.True);
        Assert.That((p.IsIn, p.Type, p.Recipient, p.Request, p.Length), Is.EqualTo((true, (int)SetupPacket.TypeClass, (int)SetupPacket.RecipInterface, BulkOnly.ReqGetMaxLun, (ushort)1)));
        Assert.That(SetupPacket.TryParse(b.Slice(0, 7), out _), Is.False);
    }

    [Test]
    public void HubDescriptorAndPortStatus()
    {
        // QEMU usb-hub: 8 ports, per-port power switching and overcurrent (0x000a), 256 ms? no: bPwrOn2PwrGood 1.
        byte[] hd = { 0x09, 0x29, 0x08, 0x0a, 0x00, 0x01, 0x00, 0x00, 0xff };
        Assert.That(HubDescriptor.Parse(hd, out HubDescriptor h), Is.EqualTo(0));
        Assert.That((h.NumPorts, h.Characteristics, h.PowerOnDelayMs), Is.EqualTo(((byte)8, (ushort)0x000a, 2)));
        Span<byte> buf = stackalloc byte[64];
        int n = HubDescriptor.Emit(buf, 8, 0x000a, 1);
        Assert.That(HubDescriptor.Parse(buf.Slice(0, n), out HubDescriptor h2), Is.EqualTo(0));
        Assert.That(h2.NumPorts, Is.EqualTo(8));
        Assert.That(HubDescriptor.Parse(new byte[] { 0x09, 0x29, 0x00, 0, 0, 0, 0, 0, 0 }, out _), Is.EqualTo(Abi.EINVAL), "a hub of no ports");

        byte[] ps = { 0x03, 0x05, 0x01, 0x00 }; // connected, enabled, powered, high speed; connection changed
        Assert.That(HubWire.ParsePortStatus(ps, out ushort st, out ushort ch), Is.EqualTo(0));
        Assert.That(st & HubWire.StatConnection, Is.Not.Zero);
        Assert.That(st & HubWire.StatPower, Is.Not.Zero);
        Assert.That(HubWire.PortSpeed(st), Is.EqualTo(UsbSpeed.High));
        Assert.That(ch, Is.EqualTo(HubWire.ChgConnection));
        HubWire.EmitPortStatus(buf, st, ch);
        Assert.That(buf.Slice(0, 4).ToArray(), Is.EqualTo(ps));
        Assert.That(HubWire.ParsePortStatus(ps.AsSpan(0, 3), out _, out _), Is.EqualTo(Abi.EINVAL));
    }

    [Test]
    public void BulkOnlyWrappers()
    {
        // The CBW of READ(10) of 8 blocks at LBA 0x20 from LUN 0, tag 7 (BOT 5.1).
        byte[] cdb = { 0x28, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x08, 0x00 };
        Span<byte> cbw = stackalloc byte[BulkOnly.CbwSize];
        Assert.That(BulkOnly.EmitCbw(cbw, 7, 4096, true, 0, cdb), Is.EqualTo(0));
        byte[] expect =
        {
            0x55, 0x53, 0x42, 0x43, 0x07, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x80, 0x00, 0x0a,
            0x28, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        };
        Assert.That(cbw.ToArray(), Is.EqualTo(expect));
        Assert.That(BulkOnly.ParseCbw(cbw, out uint tag, out uint len, out bool din, out byte lun, out int cl), Is.EqualTo(0));
        Assert.That((tag, len, din, lun, cl), Is.EqualTo((7u, 4096u, true, (byte)0, 10)));
        Assert.That(BulkOnly.EmitCbw(cbw, 1, 0, false, 16, cdb), Is.EqualTo(Abi.EINVAL), "LUN above 15");
        Assert.That(BulkOnly.EmitCbw(cbw, 1, 0, false, 0, new byte[17]), Is.EqualTo(Abi.EINVAL), "CDB above 16 bytes");

        byte[] csw = { 0x55, 0x53, 0x42, 0x53, 0x07, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01 };
        Assert.That(BulkOnly.ParseCsw(csw, 7, 4096, out uint res, out byte status), Is.EqualTo(BulkOnly.CswCheck.Good));
        Assert.That((res, status), Is.EqualTo((512u, BulkOnly.StatusFailed)));
        Assert.That(BulkOnly.ParseCsw(csw, 8, 4096, out _, out _), Is.EqualTo(BulkOnly.CswCheck.Invalid), "wrong tag");
        Assert.That(BulkOnly.ParseCsw(csw.AsSpan(0, 12), 7, 4096, out _, out _), Is.EqualTo(BulkOnly.CswCheck.Invalid), "12 bytes");
        Assert.That(BulkOnly.ParseCsw(csw, 7, 256, out _, out _), Is.EqualTo(BulkOnly.CswCheck.NotMeaningful), "residue above the length");
        csw[12] = 3;
        Assert.That(BulkOnly.ParseCsw(csw, 7, 4096, out _, out _), Is.EqualTo(BulkOnly.CswCheck.NotMeaningful), "status 3");
    }

    /// <summary>Every parser over every truncation and every single-byte change of every fixture: errors, never exceptions.</summary>
    [Test]
    public void HostileBytesNeverThrow()
    {
        var fixtures = new List<byte[]> { StorageDevice, StorageConfig, KeyboardConfig, HidWireTests.BootKeyboardReportDescriptor, HidWireTests.MouseReportDescriptor,
            new byte[] { 0x09, 0x29, 0x08, 0x0a, 0x00, 0x01, 0x00, 0x00, 0xff } };
        byte[] values = { 0x00, 0x01, 0x02, 0x03, 0x07, 0x7f, 0x80, 0xfe, 0xff };
        long runs = 0;
        foreach (byte[] f in fixtures)
        {
            for (int cut = 0; cut <= f.Length; cut++) { ParseAll(f.AsSpan(0, cut)); runs++; }
            for (int i = 0; i < f.Length; i++)
                foreach (byte v in values)
                {
                    byte[] m = (byte[])f.Clone();
                    m[i] = v;
                    ParseAll(m);
                    runs++;
                }
        }
        var rnd = new Random(8);
        for (int i = 0; i < 3000; i++)
        {
            byte[] r = new byte[rnd.Next(0, 300)];
            rnd.NextBytes(r);
            if (r.Length > 1 && i % 2 == 0) r[1] = (byte)(i % 4 == 0 ? UDesc.Config : UDesc.Interface);
            ParseAll(r);
            runs++;
        }
        Assert.That(runs, Is.GreaterThan(3000));
    }

    private static void ParseAll(ReadOnlySpan<byte> b)
    {
        DeviceDescriptor.Parse(b, out _);
        DeviceDescriptor.Parse(b, out _, partial: true);
        ConfigInfo.Parse(b, out ConfigInfo? ci);
        if (ci != null) foreach (var l in ci.Interfaces) foreach (var a in l) { ci.FindExtra(a, UDesc.Hid); }
        InterfaceDescriptor.Parse(b, out _);
        EndpointDescriptor.Parse(b, out _);
        StringDescriptor.Parse(b, out _);
        StringDescriptor.ParseLangIds(b, new List<ushort>());
        HubDescriptor.Parse(b, out _);
        HidDescriptor.Parse(b, out _);
        HubWire.ParsePortStatus(b, out _, out _);
        BulkOnly.ParseCsw(b, 0, 0, out _, out _);
        BulkOnly.ParseCbw(b, out _, out _, out _, out _, out _);
        SetupPacket.TryParse(b, out _);
        if (HidReportDescriptor.Parse(b, out HidReportDescriptor? rd) == 0)
        {
            foreach (HidField f in rd!.Fields)
                for (int i = 0; i < f.Count && i < 64; i++) { f.TryGet(b, i, out _); f.UsageOf(i); }
            rd.MaxReportBytes(HidKind.Input);
        }
        KeyboardState.ParseBoot(b, out _);
    }
}
