using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;
using Rump.Kern;

namespace Rump.Usb.Wire;

/// <summary>Descriptor types (USB 2.0 table 9-5, USB 3.2 table 9-6, class specifications).</summary>
public static class UDesc
{
    public const byte Device = 1, Config = 2, String = 3, Interface = 4, Endpoint = 5;
    public const byte DeviceQualifier = 6, OtherSpeedConfig = 7, InterfacePower = 8, Otg = 9;
    public const byte InterfaceAssoc = 11, Bos = 15;
    public const byte Hid = 0x21, Report = 0x22;
    public const byte CsInterface = 0x24, CsEndpoint = 0x25;
    public const byte Hub = 0x29, SsHub = 0x2A;
    public const byte SsEndpointComp = 0x30;
}

/// <summary>Device and interface class codes (usb.org "Defined Class Codes").</summary>
public static class UClass
{
    public const byte PerInterface = 0x00, Audio = 0x01, Comm = 0x02, Hid = 0x03, Printer = 0x07;
    public const byte MassStorage = 0x08, Hub = 0x09, CdcData = 0x0A, SmartCard = 0x0B, Video = 0x0E;
    public const byte Wireless = 0xE0, Misc = 0xEF, AppSpecific = 0xFE, VendorSpecific = 0xFF;
}

/// <summary>Transfer types as in an endpoint's bmAttributes bits 0–1 (and the hypercall's type argument).</summary>
public enum UsbXferType : byte { Control = 0, Isochronous = 1, Bulk = 2, Interrupt = 3 }

/// <summary>Device speeds (NetBSD USB_SPEED_*; libusb's enum differs and is translated in the host controller).</summary>
public enum UsbSpeed : byte { Unknown = 0, Low = 1, Full = 2, High = 3, Super = 4, SuperPlus = 5 }

/// <summary>The 18-byte device descriptor (USB 2.0 9.6.1).</summary>
public struct DeviceDescriptor
{
    public const int Size = 18;
    public ushort BcdUsb;
    public byte Class, SubClass, Protocol;
    public byte MaxPacketSize0;
    public ushort Vendor, Product, BcdDevice;
    public byte IManufacturer, IProduct, ISerial;
    public byte NumConfigurations;

    /// <summary>
    /// Parses a device descriptor. The first 8 bytes are enough for <see cref="MaxPacketSize0"/>
    /// (enumeration reads those first); <paramref name="partial"/> allows that. EINVAL for a wrong
    /// type, a length field under 18 or too few bytes, or a maximum packet size USB does not allow.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> s, out DeviceDescriptor d, bool partial = false)
    {
        d = default;
        if (s.Length < 8) return Abi.EINVAL;
        if (s[1] != UDesc.Device || s[0] < (partial ? 8 : Size)) return Abi.EINVAL;
        d.BcdUsb = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(2));
        d.Class = s[4]; d.SubClass = s[5]; d.Protocol = s[6];
        d.MaxPacketSize0 = s[7];
        // 8, 16, 32 or 64 for USB 2; USB 3 devices give the exponent 9 (512 bytes).
        if (d.MaxPacketSize0 is not (8 or 16 or 32 or 64 or 9)) return Abi.EINVAL;
        if (partial && s.Length < Size) return 0;
        if (s.Length < Size || s[0] < Size) return Abi.EINVAL;
        d.Vendor = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(8));
        d.Product = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(10));
        d.BcdDevice = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(12));
        d.IManufacturer = s[14]; d.IProduct = s[15]; d.ISerial = s[16];
        d.NumConfigurations = s[17];
        return 0;
    }

    /// <summary>The packet size of endpoint 0 in bytes (USB 3's exponent expanded).</summary>
    public readonly int MaxPacket0Bytes => MaxPacketSize0 == 9 ? 512 : MaxPacketSize0;

    public readonly void Emit(Span<byte> s)
    {
        s[0] = Size; s[1] = UDesc.Device;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(2), BcdUsb);
        s[4] = Class; s[5] = SubClass; s[6] = Protocol; s[7] = MaxPacketSize0;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(8), Vendor);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(10), Product);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(12), BcdDevice);
        s[14] = IManufacturer; s[15] = IProduct; s[16] = ISerial; s[17] = NumConfigurations;
    }
}

/// <summary>The 9-byte configuration descriptor header (USB 2.0 9.6.3).</summary>
public struct ConfigDescriptor
{
    public const int Size = 9;
    public ushort TotalLength;
    public byte NumInterfaces, ConfigValue, IConfig, Attributes, MaxPower;

    public readonly bool SelfPowered => (Attributes & 0x40) != 0;

    public static int Parse(ReadOnlySpan<byte> s, out ConfigDescriptor c)
    {
        c = default;
        if (s.Length < Size || s[0] < Size || s[1] != UDesc.Config) return Abi.EINVAL;
        c.TotalLength = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(2));
        c.NumInterfaces = s[4]; c.ConfigValue = s[5]; c.IConfig = s[6]; c.Attributes = s[7]; c.MaxPower = s[8];
        if (c.TotalLength < Size) return Abi.EINVAL;
        return 0;
    }

    public readonly void Emit(Span<byte> s)
    {
        s[0] = Size; s[1] = UDesc.Config;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(2), TotalLength);
        s[4] = NumInterfaces; s[5] = ConfigValue; s[6] = IConfig; s[7] = Attributes; s[8] = MaxPower;
    }
}

/// <summary>The 9-byte interface descriptor (USB 2.0 9.6.5).</summary>
public struct InterfaceDescriptor
{
    public const int Size = 9;
    public byte Number, AltSetting, NumEndpoints, Class, SubClass, Protocol, IInterface;

    public static int Parse(ReadOnlySpan<byte> s, out InterfaceDescriptor d)
    {
        d = default;
        if (s.Length < Size || s[0] < Size || s[1] != UDesc.Interface) return Abi.EINVAL;
        d.Number = s[2]; d.AltSetting = s[3]; d.NumEndpoints = s[4];
        d.Class = s[5]; d.SubClass = s[6]; d.Protocol = s[7]; d.IInterface = s[8];
        return 0;
    }

    public readonly void Emit(Span<byte> s)
    {
        s[0] = Size; s[1] = UDesc.Interface;
        s[2] = Number; s[3] = AltSetting; s[4] = NumEndpoints; s[5] = Class; s[6] = SubClass; s[7] = Protocol; s[8] = IInterface;
    }
}

/// <summary>The 7-byte endpoint descriptor (USB 2.0 9.6.6).</summary>
public struct EndpointDescriptor
{
    public const int Size = 7;
    public const byte DirIn = 0x80;
    public byte Address, Attributes, Interval;
    public ushort MaxPacketSize;

    public readonly bool IsIn => (Address & DirIn) != 0;
    public readonly int Number => Address & 0x0f;
    public readonly UsbXferType Type => (UsbXferType)(Attributes & 3);
    /// <summary>Bytes per packet (bits 0–10; bits 11–12 are extra high-bandwidth transactions).</summary>
    public readonly int PacketBytes => MaxPacketSize & 0x7ff;

    public static int Parse(ReadOnlySpan<byte> s, out EndpointDescriptor d)
    {
        d = default;
        if (s.Length < Size || s[0] < Size || s[1] != UDesc.Endpoint) return Abi.EINVAL;
        d.Address = s[2]; d.Attributes = s[3];
        d.MaxPacketSize = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(4));
        d.Interval = s[6];
        // Endpoint 0 is the default pipe, never described; bits 4–6 of the address are reserved.
        if ((d.Address & 0x0f) == 0 || (d.Address & 0x70) != 0) return Abi.EINVAL;
        return 0;
    }

    public readonly void Emit(Span<byte> s)
    {
        s[0] = Size; s[1] = UDesc.Endpoint; s[2] = Address; s[3] = Attributes;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(4), MaxPacketSize);
        s[6] = Interval;
    }
}

/// <summary>String descriptors (USB 2.0 9.6.7): UTF-16LE text, and string 0's language ids.</summary>
public static class StringDescriptor
{
    /// <summary>Longest descriptor: bLength is one byte.</summary>
    public const int MaxSize = 255;
    public const ushort LangEnUs = 0x0409;

    /// <summary>
    /// The text of a string descriptor. Unpaired surrogates and control characters become '?', an
    /// odd trailing byte is dropped, and trailing NULs and spaces go (devices pad with either).
    /// EINVAL if it is not a string descriptor.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> s, out string text)
    {
        text = "";
        if (s.Length < 2 || s[1] != UDesc.String || s[0] < 2) return Abi.EINVAL;
        int len = Math.Min(s[0], s.Length);
        int n = (len - 2) / 2;
        Span<char> c = stackalloc char[n];
        for (int i = 0; i < n; i++)
        {
            char ch = (char)BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(2 + 2 * i));
            c[i] = ch;
        }
        for (int i = 0; i < n; i++)
        {
            if (char.IsHighSurrogate(c[i]) && i + 1 < n && char.IsLowSurrogate(c[i + 1])) { i++; continue; }
            if (char.IsSurrogate(c[i]) || (char.IsControl(c[i]) && c[i] != 0)) c[i] = '?';
        }
        int end = n;
        while (end > 0 && (c[end - 1] == '\0' || c[end - 1] == ' ')) end--;
        int nul = c.Slice(0, end).IndexOf('\0');
        if (nul >= 0) end = nul;
        text = new string(c.Slice(0, end));
        return 0;
    }

    /// <summary>The language ids in string descriptor 0; EINVAL if it is not one or lists none.</summary>
    public static int ParseLangIds(ReadOnlySpan<byte> s, List<ushort> ids)
    {
        if (s.Length < 4 || s[1] != UDesc.String || s[0] < 4) return Abi.EINVAL;
        int len = Math.Min(s[0], s.Length);
        for (int i = 2; i + 1 < len; i += 2) ids.Add(BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(i)));
        return 0;
    }

    /// <summary>Writes <paramref name="text"/> as a descriptor (truncated to fit 255 bytes); returns its length.</summary>
    public static int Emit(Span<byte> s, string text)
    {
        int n = Math.Min(text.Length, (MaxSize - 2) / 2);
        int len = 2 + 2 * n;
        if (s.Length < len) return -1;
        s[0] = (byte)len; s[1] = UDesc.String;
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(2 + 2 * i), text[i]);
        return len;
    }
}

/// <summary>One endpoint of an interface setting, with any descriptors that follow it (companions, class-specific).</summary>
public sealed class EndpointInfo
{
    public EndpointDescriptor Desc;
    /// <summary>Offset and length in the configuration blob of the descriptors after this endpoint's own, up to the next endpoint or interface.</summary>
    public int ExtraOffset, ExtraLength;
}

/// <summary>One alternate setting of one interface: its descriptor, endpoints, and class-specific descriptors.</summary>
public sealed class InterfaceAlt
{
    public InterfaceDescriptor Desc;
    public readonly List<EndpointInfo> Endpoints = new();
    /// <summary>Offset and length in the configuration blob of the descriptors between the interface descriptor and its first endpoint (a HID descriptor, CDC functional descriptors).</summary>
    public int ExtraOffset, ExtraLength;
}

/// <summary>
/// A whole configuration (the blob GET_DESCRIPTOR(CONFIG) returns with wTotalLength bytes) parsed
/// into interfaces, their alternate settings and endpoints (USB 2.0 9.6.3–9.6.6, NetBSD
/// usbd_fill_iface_data's walk). Unknown descriptors are kept as extra bytes; a descriptor that
/// runs past the end, a length under 2, an endpoint before any interface or a setting with fewer
/// endpoints than it announces is an error.
/// </summary>
public sealed class ConfigInfo
{
    /// <summary>More interfaces than this is hostile (USB allows 32 endpoints per device, a few dozen interfaces at most).</summary>
    public const int MaxInterfaces = 32;
    public const int MaxAltSettings = 64;

    public ConfigDescriptor Desc;
    public byte[] Raw = Array.Empty<byte>();
    /// <summary>Interfaces in order of first appearance; each with its alternate settings in order.</summary>
    public readonly List<List<InterfaceAlt>> Interfaces = new();

    public static int Parse(ReadOnlySpan<byte> blob, out ConfigInfo? info)
    {
        info = null;
        int e = ConfigDescriptor.Parse(blob, out ConfigDescriptor cd);
        if (e != 0) return e;
        if (blob.Length < cd.TotalLength) return Abi.EINVAL;
        blob = blob.Slice(0, cd.TotalLength);
        var ci = new ConfigInfo { Desc = cd, Raw = blob.ToArray() };
        InterfaceAlt? cur = null;
        EndpointInfo? lastEp = null;
        int alts = 0;
        int pos = blob[0];
        while (pos < blob.Length)
        {
            if (blob.Length - pos < 2) return Abi.EINVAL;
            int len = blob[pos];
            byte type = blob[pos + 1];
            if (len < 2 || pos + len > blob.Length) return Abi.EINVAL;
            ReadOnlySpan<byte> d = blob.Slice(pos, len);
            if (type == UDesc.Interface)
            {
                if (cur != null && cur.Endpoints.Count < cur.Desc.NumEndpoints) return Abi.EINVAL;
                e = InterfaceDescriptor.Parse(d, out InterfaceDescriptor id);
                if (e != 0) return e;
                if (++alts > MaxAltSettings * MaxInterfaces) return Abi.EINVAL;
                List<InterfaceAlt>? list = null;
                foreach (List<InterfaceAlt> l in ci.Interfaces)
                    if (l[0].Desc.Number == id.Number) { list = l; break; }
                if (list == null)
                {
                    if (ci.Interfaces.Count >= MaxInterfaces) return Abi.EINVAL;
                    list = new List<InterfaceAlt>();
                    ci.Interfaces.Add(list);
                }
                if (list.Count >= MaxAltSettings) return Abi.EINVAL;
                foreach (InterfaceAlt a in list) if (a.Desc.AltSetting == id.AltSetting) return Abi.EINVAL;
                cur = new InterfaceAlt { Desc = id, ExtraOffset = pos + len };
                list.Add(cur);
                lastEp = null;
            }
            else if (type == UDesc.Endpoint)
            {
                if (cur == null) return Abi.EINVAL;
                e = EndpointDescriptor.Parse(d, out EndpointDescriptor ed);
                if (e != 0) return e;
                // Extra endpoints beyond bNumEndpoints are ignored, as NetBSD does.
                if (cur.Endpoints.Count < cur.Desc.NumEndpoints)
                {
                    foreach (EndpointInfo x in cur.Endpoints) if (x.Desc.Address == ed.Address) return Abi.EINVAL;
                    lastEp = new EndpointInfo { Desc = ed, ExtraOffset = pos + len };
                    cur.Endpoints.Add(lastEp);
                }
                else lastEp = null;
            }
            else if (type is UDesc.Config or UDesc.Device) return Abi.EINVAL;
            else if (lastEp != null) lastEp.ExtraLength = pos + len - lastEp.ExtraOffset;
            else if (cur != null) cur.ExtraLength = pos + len - cur.ExtraOffset;
            pos += len;
        }
        if (cur != null && cur.Endpoints.Count < cur.Desc.NumEndpoints) return Abi.EINVAL;
        foreach (List<InterfaceAlt> l in ci.Interfaces) l.Sort((a, b) => a.Desc.AltSetting.CompareTo(b.Desc.AltSetting));
        info = ci;
        return 0;
    }

    /// <summary>The interface with number <paramref name="number"/>, or null.</summary>
    public List<InterfaceAlt>? Interface(int number)
    {
        foreach (List<InterfaceAlt> l in Interfaces) if (l[0].Desc.Number == number) return l;
        return null;
    }

    /// <summary>The extra (class-specific) descriptor bytes of a setting.</summary>
    public ReadOnlySpan<byte> Extra(InterfaceAlt a) => Raw.AsSpan(a.ExtraOffset, a.ExtraLength);

    /// <summary>The first descriptor of <paramref name="type"/> among a setting's extra descriptors, or an empty span.</summary>
    public ReadOnlySpan<byte> FindExtra(InterfaceAlt a, byte type)
    {
        ReadOnlySpan<byte> x = Extra(a);
        for (int p = 0; p + 2 <= x.Length; p += x[p])
        {
            if (x[p] < 2 || p + x[p] > x.Length) break;
            if (x[p + 1] == type) return x.Slice(p, x[p]);
        }
        return ReadOnlySpan<byte>.Empty;
    }
}

/// <summary>The HID class descriptor (HID 1.11, 6.2.1): which report descriptor to fetch and its length.</summary>
public struct HidDescriptor
{
    public ushort BcdHid;
    public byte Country;
    /// <summary>The length of the report descriptor (type 0x22), 0 if none is listed.</summary>
    public ushort ReportLength;

    public static int Parse(ReadOnlySpan<byte> s, out HidDescriptor h)
    {
        h = default;
        if (s.Length < 6 || s[0] < 6 || s[1] != UDesc.Hid) return Abi.EINVAL;
        int len = Math.Min(s[0], s.Length);
        h.BcdHid = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(2));
        h.Country = s[4];
        int n = s[5];
        for (int i = 0; i < n && 6 + 3 * i + 3 <= len; i++)
            if (s[6 + 3 * i] == UDesc.Report) { h.ReportLength = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(7 + 3 * i)); break; }
        return 0;
    }
}

/// <summary>Readable names for class codes, for attach messages and rumpusb list.</summary>
public static class UsbNames
{
    public static string Speed(UsbSpeed s) => s switch
    {
        UsbSpeed.Low => "low speed", UsbSpeed.Full => "full speed", UsbSpeed.High => "high speed",
        UsbSpeed.Super => "super speed", UsbSpeed.SuperPlus => "super speed plus", _ => "unknown speed",
    };

    public static string Class(byte c) => c switch
    {
        UClass.PerInterface => "per-interface", UClass.Audio => "audio", UClass.Comm => "communications",
        UClass.Hid => "HID", UClass.Printer => "printer", UClass.MassStorage => "mass storage", UClass.Hub => "hub",
        UClass.CdcData => "CDC data", UClass.SmartCard => "smart card", UClass.Video => "video",
        UClass.Wireless => "wireless", UClass.Misc => "miscellaneous", UClass.AppSpecific => "application specific",
        UClass.VendorSpecific => "vendor specific", _ => "class 0x" + c.ToString("x2", System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>"vvvv:pppp" in lower-case hex.</summary>
    public static string VidPid(ushort v, ushort p)
    {
        var sb = new StringBuilder(9);
        sb.Append(v.ToString("x4", System.Globalization.CultureInfo.InvariantCulture)).Append(':');
        sb.Append(p.ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
        return sb.ToString();
    }
}
