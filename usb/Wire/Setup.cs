using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Usb.Wire;

/// <summary>
/// The 8-byte SETUP packet of a control transfer (USB 2.0 9.3) and the standard, hub and class
/// requests built from it. bmRequestType: bit 7 direction (1 = device to host), bits 5–6 type
/// (standard, class, vendor), bits 0–4 recipient (device, interface, endpoint, other).
/// </summary>
public struct SetupPacket
{
    public const int Size = 8;

    public const byte DirIn = 0x80, DirOut = 0x00;
    public const byte TypeStandard = 0x00, TypeClass = 0x20, TypeVendor = 0x40, TypeMask = 0x60;
    public const byte RecipDevice = 0, RecipInterface = 1, RecipEndpoint = 2, RecipOther = 3, RecipMask = 0x1f;

    // Standard requests (USB 2.0 table 9-4).
    public const byte GetStatus = 0, ClearFeature = 1, SetFeature = 3, SetAddress = 5, GetDescriptor = 6;
    public const byte SetDescriptor = 7, GetConfiguration = 8, SetConfiguration = 9, GetInterface = 10;
    public const byte SetInterface = 11, SynchFrame = 12;
    // Standard feature selectors (table 9-6).
    public const ushort FeatureEndpointHalt = 0, FeatureRemoteWakeup = 1;

    public byte RequestType;
    public byte Request;
    public ushort Value;
    public ushort Index;
    public ushort Length;

    public readonly bool IsIn => (RequestType & DirIn) != 0;
    public readonly int Type => RequestType & TypeMask;
    public readonly int Recipient => RequestType & RecipMask;

    public SetupPacket(byte type, byte req, ushort value, ushort index, ushort length)
    {
        RequestType = type; Request = req; Value = value; Index = index; Length = length;
    }

    /// <summary>Reads the first 8 bytes; false for a shorter span.</summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out SetupPacket p)
    {
        p = default;
        if (s.Length < Size) return false;
        p = new SetupPacket(s[0], s[1], BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(2)),
            BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(4)), BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(6)));
        return true;
    }

    public readonly void Emit(Span<byte> s)
    {
        s[0] = RequestType; s[1] = Request;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(2), Value);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(4), Index);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(6), Length);
    }

    // ---- standard requests ----------------------------------------------------------------------

    public static SetupPacket GetDesc(byte type, byte index, ushort length, ushort langId = 0)
        => new(DirIn | TypeStandard | RecipDevice, GetDescriptor, (ushort)(type << 8 | index), langId, length);
    public static SetupPacket SetConfig(byte value) => new(DirOut | TypeStandard | RecipDevice, SetConfiguration, value, 0, 0);
    public static SetupPacket GetConfig() => new(DirIn | TypeStandard | RecipDevice, GetConfiguration, 0, 0, 1);
    public static SetupPacket SetAddr(byte addr) => new(DirOut | TypeStandard | RecipDevice, SetAddress, addr, 0, 0);
    public static SetupPacket SetIface(byte iface, byte alt) => new(DirOut | TypeStandard | RecipInterface, SetInterface, alt, iface, 0);
    public static SetupPacket ClearHalt(byte ep) => new(DirOut | TypeStandard | RecipEndpoint, ClearFeature, FeatureEndpointHalt, ep, 0);
    public static SetupPacket GetDevStatus() => new(DirIn | TypeStandard | RecipDevice, GetStatus, 0, 0, 2);

    /// <summary>GET_DESCRIPTOR for a descriptor of an interface (HID report descriptors are fetched this way).</summary>
    public static SetupPacket GetIfaceDesc(byte type, byte index, byte iface, ushort length)
        => new(DirIn | TypeStandard | RecipInterface, GetDescriptor, (ushort)(type << 8 | index), iface, length);

    public readonly bool Is(byte type, byte req) => RequestType == type && Request == req;
    /// <summary>The descriptor type a GET_DESCRIPTOR asks for.</summary>
    public readonly byte DescType => (byte)(Value >> 8);
    public readonly byte DescIndex => (byte)Value;
}

/// <summary>Hub class requests and port status (USB 2.0 11.24, 11.24.2.7).</summary>
public static class HubWire
{
    public const byte ReqTypeHubIn = 0xA0, ReqTypeHubOut = 0x20, ReqTypePortIn = 0xA3, ReqTypePortOut = 0x23;

    // Port feature selectors (table 11-17).
    public const ushort PortConnection = 0, PortEnable = 1, PortSuspend = 2, PortOverCurrent = 3, PortReset = 4;
    public const ushort PortPower = 8, PortLowSpeed = 9;
    public const ushort CPortConnection = 16, CPortEnable = 17, CPortSuspend = 18, CPortOverCurrent = 19, CPortReset = 20;
    public const ushort PortTest = 21, PortIndicator = 22;

    // wPortStatus bits (table 11-21).
    public const ushort StatConnection = 0x0001, StatEnable = 0x0002, StatSuspend = 0x0004, StatOverCurrent = 0x0008;
    public const ushort StatReset = 0x0010, StatPower = 0x0100, StatLowSpeed = 0x0200, StatHighSpeed = 0x0400;
    public const ushort StatTest = 0x0800, StatIndicator = 0x1000;
    // wPortChange bits (table 11-22).
    public const ushort ChgConnection = 0x0001, ChgEnable = 0x0002, ChgSuspend = 0x0004, ChgOverCurrent = 0x0008, ChgReset = 0x0010;

    /// <summary>Hubs have at most 255 ports (bNbrPorts is a byte); USB 2 allows 1..255.</summary>
    public const int MaxPorts = 255;

    public static SetupPacket GetHubDesc(ushort length, bool superSpeed = false)
        => new(ReqTypeHubIn, SetupPacket.GetDescriptor, (ushort)((superSpeed ? UDesc.SsHub : UDesc.Hub) << 8), 0, length);
    public static SetupPacket GetPortStatus(int port) => new(ReqTypePortIn, SetupPacket.GetStatus, 0, (ushort)port, 4);
    public static SetupPacket GetHubStatus() => new(ReqTypeHubIn, SetupPacket.GetStatus, 0, 0, 4);
    public static SetupPacket SetPortFeature(int port, ushort feature) => new(ReqTypePortOut, SetupPacket.SetFeature, feature, (ushort)port, 0);
    public static SetupPacket ClearPortFeature(int port, ushort feature) => new(ReqTypePortOut, SetupPacket.ClearFeature, feature, (ushort)port, 0);

    /// <summary>The 4 bytes of GET_STATUS(port): wPortStatus then wPortChange.</summary>
    public static int ParsePortStatus(ReadOnlySpan<byte> s, out ushort status, out ushort change)
    {
        status = change = 0;
        if (s.Length < 4) return Abi.EINVAL;
        status = BinaryPrimitives.ReadUInt16LittleEndian(s);
        change = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(2));
        return 0;
    }

    public static void EmitPortStatus(Span<byte> s, ushort status, ushort change)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(s, status);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(2), change);
    }

    /// <summary>The speed a USB 2 hub reports for an attached device.</summary>
    public static UsbSpeed PortSpeed(ushort status)
        => (status & StatLowSpeed) != 0 ? UsbSpeed.Low : (status & StatHighSpeed) != 0 ? UsbSpeed.High : UsbSpeed.Full;
}

/// <summary>The hub descriptor (USB 2.0 11.23.2.1; USB 3 10.15.2.1 for the SuperSpeed form).</summary>
public struct HubDescriptor
{
    public byte NumPorts;
    public ushort Characteristics;
    /// <summary>Time from power-on to power-good, in 2 ms units.</summary>
    public byte PwrOn2PwrGood;
    public byte ContrCurrent;
    /// <summary>Bit n set: the device on port n is not removable (bit 0 reserved). 256 bits.</summary>
    public UInt128 NotRemovableLow;

    public readonly int PowerOnDelayMs => PwrOn2PwrGood * 2;

    public static int Parse(ReadOnlySpan<byte> s, out HubDescriptor h)
    {
        h = default;
        if (s.Length < 7 || s[0] < 7 || (s[1] != UDesc.Hub && s[1] != UDesc.SsHub)) return Abi.EINVAL;
        h.NumPorts = s[2];
        h.Characteristics = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(3));
        h.PwrOn2PwrGood = s[5];
        h.ContrCurrent = s[6];
        if (h.NumPorts == 0) return Abi.EINVAL;
        if (s[1] == UDesc.SsHub && h.NumPorts > 15) return Abi.EINVAL;
        int len = Math.Min(s[0], s.Length);
        if (s[1] == UDesc.Hub)
        {
            // DeviceRemovable: one bit per port and bit 0, rounded up to bytes.
            int nb = (h.NumPorts + 1 + 7) / 8;
            for (int i = 0; i < nb && 7 + i < len && i < 16; i++) h.NotRemovableLow |= (UInt128)s[7 + i] << (8 * i);
        }
        else if (len >= 12)
            h.NotRemovableLow = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(10));
        return 0;
    }

    /// <summary>A USB 2 hub descriptor for <paramref name="ports"/> ports, all removable; returns its length.</summary>
    public static int Emit(Span<byte> s, int ports, ushort characteristics, byte pwrOn2PwrGood)
    {
        int nb = (ports + 1 + 7) / 8;
        int len = 7 + 2 * nb;
        s.Slice(0, len).Clear();
        s[0] = (byte)len; s[1] = UDesc.Hub; s[2] = (byte)ports;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(3), characteristics);
        s[5] = pwrOn2PwrGood;
        for (int i = 0; i < nb; i++) s[7 + nb + i] = 0xff; // PortPwrCtrlMask: all ones, as USB 2 requires
        return len;
    }
}
