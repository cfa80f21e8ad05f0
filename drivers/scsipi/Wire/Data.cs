using System;
using System.Buffers.Binary;
using System.Text;
using Rump.Kern;

namespace Rump.Dev.Scsipi.Wire;

/// <summary>Peripheral device types (SPC-4 table 49).</summary>
public static class ScsiDeviceType
{
    public const byte DirectAccess = 0x00, Sequential = 0x01, Cdrom = 0x05, Optical = 0x07, Rbc = 0x0E, Unknown = 0x1F;
}

/// <summary>Standard INQUIRY data (SPC-4 6.4.2).</summary>
public struct InquiryData
{
    /// <summary>The standard data's size through the product revision.</summary>
    public const int StandardSize = 36;
    public byte Qualifier, DeviceType;
    public bool Removable;
    public byte Version;
    public string Vendor, Product, Revision;

    /// <summary>
    /// Parses standard INQUIRY data. Devices that return fewer than 36 bytes are common (old
    /// sticks give 31 or fewer): the strings are then cut short, but at least the 5-byte header
    /// must be there (EINVAL otherwise).
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> s, out InquiryData d)
    {
        d = default;
        d.Vendor = d.Product = d.Revision = "";
        if (s.Length < 5) return Abi.EINVAL;
        d.Qualifier = (byte)(s[0] >> 5);
        d.DeviceType = (byte)(s[0] & 0x1f);
        d.Removable = (s[1] & 0x80) != 0;
        d.Version = s[2];
        int avail = Math.Min(s.Length, 5 + s[4]);
        d.Vendor = Text(s, 8, 8, avail);
        d.Product = Text(s, 16, 16, avail);
        d.Revision = Text(s, 32, 4, avail);
        return 0;
    }

    /// <summary>Printable ASCII of a fixed-width field, trailing spaces removed; bytes outside 0x20–0x7E become '?'.</summary>
    private static string Text(ReadOnlySpan<byte> s, int off, int len, int avail)
    {
        int end = Math.Min(off + len, avail);
        if (end <= off) return "";
        var sb = new StringBuilder(len);
        for (int i = off; i < end; i++) sb.Append(s[i] is >= 0x20 and <= 0x7e ? (char)s[i] : s[i] == 0 ? ' ' : '?');
        return sb.ToString().TrimEnd();
    }

    /// <summary>Standard data for an emulated device (tests).</summary>
    public static void Emit(Span<byte> s, byte type, bool removable, string vendor, string product, string rev)
    {
        s.Slice(0, StandardSize).Clear();
        s[0] = type; s[1] = removable ? (byte)0x80 : (byte)0; s[2] = 0x06; s[3] = 0x02; s[4] = StandardSize - 5;
        Pad(s.Slice(8, 8), vendor); Pad(s.Slice(16, 16), product); Pad(s.Slice(32, 4), rev);
    }

    private static void Pad(Span<byte> d, string t)
    {
        d.Fill((byte)' ');
        for (int i = 0; i < d.Length && i < t.Length; i++) d[i] = (byte)t[i];
    }
}

/// <summary>READ CAPACITY parameter data (SBC-3 5.16.2, 5.17.2).</summary>
public static class ReadCapacity
{
    public const int Data10Size = 8, Data16Size = 32;

    /// <summary>
    /// READ CAPACITY(10): the last block's address and the block length. <paramref name="needs16"/>
    /// when the device says the capacity does not fit (last LBA 0xFFFFFFFF). EINVAL for short data
    /// or a block length that is not a power of two between 512 and 64 KiB.
    /// </summary>
    public static int Parse10(ReadOnlySpan<byte> s, out ulong blocks, out uint blockLen, out bool needs16)
    {
        blocks = 0; blockLen = 0; needs16 = false;
        if (s.Length < Data10Size) return Abi.EINVAL;
        uint last = BinaryPrimitives.ReadUInt32BigEndian(s);
        blockLen = BinaryPrimitives.ReadUInt32BigEndian(s.Slice(4));
        if (last == uint.MaxValue) { needs16 = true; return 0; }
        if (!GoodBlockLength(blockLen)) return Abi.EINVAL;
        blocks = (ulong)last + 1;
        return 0;
    }

    /// <summary>READ CAPACITY(16): block count and length; EINVAL as for (10), or for a count whose byte size overflows 63 bits.</summary>
    public static int Parse16(ReadOnlySpan<byte> s, out ulong blocks, out uint blockLen)
    {
        blocks = 0; blockLen = 0;
        if (s.Length < 12) return Abi.EINVAL;
        ulong last = BinaryPrimitives.ReadUInt64BigEndian(s);
        blockLen = BinaryPrimitives.ReadUInt32BigEndian(s.Slice(8));
        if (!GoodBlockLength(blockLen) || last >= (ulong)(long.MaxValue / blockLen)) return Abi.EINVAL;
        blocks = last + 1;
        return 0;
    }

    public static bool GoodBlockLength(uint b) => b is >= 512 and <= 65536 && (b & (b - 1)) == 0;

    public static void Emit10(Span<byte> s, ulong blocks, uint blockLen)
    {
        BinaryPrimitives.WriteUInt32BigEndian(s, blocks - 1 > uint.MaxValue ? uint.MaxValue : (uint)(blocks - 1));
        BinaryPrimitives.WriteUInt32BigEndian(s.Slice(4), blockLen);
    }

    public static void Emit16(Span<byte> s, ulong blocks, uint blockLen)
    {
        s.Slice(0, Data16Size).Clear();
        BinaryPrimitives.WriteUInt64BigEndian(s, blocks - 1);
        BinaryPrimitives.WriteUInt32BigEndian(s.Slice(8), blockLen);
    }
}

/// <summary>The mode parameter header of MODE SENSE data (SPC-4 7.5.5): only what the disk driver needs.</summary>
public static class ModeHeader
{
    public const int Size6 = 4, Size10 = 8;
    /// <summary>Write protect, bit 7 of the device-specific parameter of a direct-access device (SBC-3 6.5.1).</summary>
    public const byte DeviceSpecificWp = 0x80;

    /// <summary>The header of MODE SENSE(6) data; <paramref name="writeProtected"/> from the device-specific parameter.</summary>
    public static int Parse6(ReadOnlySpan<byte> s, out bool writeProtected, out int dataLength)
    {
        writeProtected = false; dataLength = 0;
        if (s.Length < Size6) return Abi.EINVAL;
        dataLength = s[0] + 1;
        writeProtected = (s[2] & DeviceSpecificWp) != 0;
        return 0;
    }

    public static int Parse10(ReadOnlySpan<byte> s, out bool writeProtected, out int dataLength)
    {
        writeProtected = false; dataLength = 0;
        if (s.Length < Size10) return Abi.EINVAL;
        dataLength = BinaryPrimitives.ReadUInt16BigEndian(s) + 2;
        writeProtected = (s[3] & DeviceSpecificWp) != 0;
        return 0;
    }

    public static void Emit6(Span<byte> s, bool wp)
    {
        s.Slice(0, Size6).Clear();
        s[0] = Size6 - 1; s[2] = wp ? DeviceSpecificWp : (byte)0;
    }

    public static void Emit10(Span<byte> s, bool wp)
    {
        s.Slice(0, Size10).Clear();
        BinaryPrimitives.WriteUInt16BigEndian(s, Size10 - 2);
        s[3] = wp ? DeviceSpecificWp : (byte)0;
    }
}

/// <summary>Sense keys (SPC-4 table 28).</summary>
public static class SenseKey
{
    public const byte NoSense = 0x0, RecoveredError = 0x1, NotReady = 0x2, MediumError = 0x3, HardwareError = 0x4;
    public const byte IllegalRequest = 0x5, UnitAttention = 0x6, DataProtect = 0x7, BlankCheck = 0x8;
    public const byte AbortedCommand = 0xB, VolumeOverflow = 0xD, Miscompare = 0xE;

    public static string Name(byte k) => k switch
    {
        NoSense => "no sense", RecoveredError => "recovered error", NotReady => "not ready", MediumError => "medium error",
        HardwareError => "hardware error", IllegalRequest => "illegal request", UnitAttention => "unit attention",
        DataProtect => "data protect", BlankCheck => "blank check", AbortedCommand => "aborted command",
        VolumeOverflow => "volume overflow", Miscompare => "miscompare", _ => "sense key " + k,
    };
}

/// <summary>Sense data in either format (SPC-4 4.5.2 descriptor, 4.5.3 fixed), reduced to what drivers act on.</summary>
public struct SenseData
{
    public const byte FixedCurrent = 0x70, FixedDeferred = 0x71, DescCurrent = 0x72, DescDeferred = 0x73;
    public const int FixedSize = 18;

    public byte ResponseCode;
    public byte Key;
    public byte Asc, Ascq;
    public bool InfoValid;
    public ulong Information;
    /// <summary>Fixed format: incorrect length indicator.</summary>
    public bool Ili;

    public readonly bool Deferred => ResponseCode is FixedDeferred or DescDeferred;

    /// <summary>
    /// Parses sense data. EINVAL for fewer than 2 bytes or an unknown response code; fields the
    /// device did not send (a short fixed-format buffer) stay 0, as SPC-4 allows the additional
    /// length to cut the data short.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> s, out SenseData d)
    {
        d = default;
        if (s.Length < 2) return Abi.EINVAL;
        d.ResponseCode = (byte)(s[0] & 0x7f);
        switch (d.ResponseCode)
        {
            case FixedCurrent: case FixedDeferred:
            {
                if (s.Length < 3) return Abi.EINVAL;
                d.Key = (byte)(s[2] & 0x0f);
                d.Ili = (s[2] & 0x20) != 0;
                int avail = s.Length >= 8 ? Math.Min(s.Length, 8 + s[7]) : s.Length;
                if (avail >= 7 && (s[0] & 0x80) != 0) { d.InfoValid = true; d.Information = BinaryPrimitives.ReadUInt32BigEndian(s.Slice(3)); }
                if (avail >= 13) d.Asc = s[12];
                if (avail >= 14) d.Ascq = s[13];
                return 0;
            }
            case DescCurrent: case DescDeferred:
            {
                if (s.Length < 4) return Abi.EINVAL;
                d.Key = (byte)(s[1] & 0x0f);
                d.Asc = s[2]; d.Ascq = s[3];
                if (s.Length < 8) return 0;
                int end = Math.Min(s.Length, 8 + s[7]);
                // Descriptors: type, additional length, body. The information descriptor is type 0.
                for (int p = 8; p + 2 <= end;)
                {
                    int len = s[p + 1];
                    if (p + 2 + len > end) break;
                    if (s[p] == 0x00 && len >= 0x0A)
                    {
                        d.InfoValid = (s[p + 2] & 0x80) != 0;
                        d.Information = BinaryPrimitives.ReadUInt64BigEndian(s.Slice(p + 4));
                    }
                    p += 2 + len;
                }
                return 0;
            }
            default:
                return Abi.EINVAL;
        }
    }

    /// <summary>Fixed-format sense for an emulated device (tests).</summary>
    public static void EmitFixed(Span<byte> s, byte key, byte asc, byte ascq)
    {
        s.Slice(0, FixedSize).Clear();
        s[0] = FixedCurrent; s[2] = key; s[7] = FixedSize - 8; s[12] = asc; s[13] = ascq;
    }

    public override readonly string ToString()
        => SenseKey.Name(Key) + ", ASC/ASCQ 0x" + Asc.ToString("x2", System.Globalization.CultureInfo.InvariantCulture) + "/0x" + Ascq.ToString("x2", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Status bytes (SAM-5 table 37) the transport reports.</summary>
public static class ScsiStatus
{
    public const byte Good = 0x00, CheckCondition = 0x02, Busy = 0x08, ReservationConflict = 0x18, TaskSetFull = 0x28;
}
