using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// Ethernet II frames (IEEE 802.3 with an EtherType, RFC 894 for IPv4): destination, source,
/// EtherType, payload; the FCS is the hardware's and never reaches us. One IEEE 802.1Q tag is
/// skipped (its VLAN id kept for the interface to judge). Stacked tags (QinQ, 0x88a8 or a second
/// 0x8100) and 802.3 length frames (type below 0x0600) are <see cref="WireError.Unsupported"/>.
/// </summary>
public readonly ref struct EthernetFrame
{
    public const int HeaderSize = 14, VlanTagSize = 4;
    public const ushort TypeIpv4 = 0x0800, TypeArp = 0x0806, TypeIpv6 = 0x86dd, TypeVlan = 0x8100, TypeQinQ = 0x88a8;
    /// <summary>Smallest value that is an EtherType rather than an 802.3 length.</summary>
    public const ushort MinEtherType = 0x0600;

    private readonly ReadOnlySpan<byte> _b;
    /// <summary>Where the payload starts: 14, or 18 after a VLAN tag.</summary>
    public readonly int HeaderLength;

    private EthernetFrame(ReadOnlySpan<byte> b, int hlen) { _b = b; HeaderLength = hlen; }

    public static WireError Parse(ReadOnlySpan<byte> b, out EthernetFrame f)
    {
        f = default;
        if (b.Length < HeaderSize) return WireError.Truncated;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(12));
        int hlen = HeaderSize;
        if (type == TypeVlan)
        {
            if (b.Length < HeaderSize + VlanTagSize) return WireError.Truncated;
            type = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(16));
            if (type is TypeVlan or TypeQinQ) return WireError.Unsupported;
            hlen += VlanTagSize;
        }
        else if (type == TypeQinQ) return WireError.Unsupported;
        if (type < MinEtherType) return WireError.Unsupported;
        f = new EthernetFrame(b, hlen);
        return WireError.Ok;
    }

    public EtherAddr Destination => EtherAddr.Read(_b);
    public EtherAddr Source => EtherAddr.Read(_b.Slice(6));
    /// <summary>The payload's EtherType (the inner one behind a VLAN tag).</summary>
    public ushort EtherType => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(HeaderLength - 2));
    public bool HasVlanTag => HeaderLength != HeaderSize;
    /// <summary>The 12-bit VLAN id of the tag (0 without one).</summary>
    public ushort VlanId => HasVlanTag ? (ushort)(BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(14)) & 0x0fff) : (ushort)0;
    public ReadOnlySpan<byte> Payload => _b.Slice(HeaderLength);

    /// <summary>Writes an untagged header; the payload follows at offset 14. Returns 14, or -1 if <paramref name="d"/> is too small.</summary>
    public static int Emit(Span<byte> d, EtherAddr dst, EtherAddr src, ushort etherType)
    {
        if (d.Length < HeaderSize) return -1;
        dst.Write(d);
        src.Write(d.Slice(6));
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(12), etherType);
        return HeaderSize;
    }
}
