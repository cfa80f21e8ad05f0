using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// UDP (RFC 768): ports, length, and a checksum over a pseudo-header (addresses, protocol 17,
/// length) and the datagram. Over IPv4 a zero checksum means the sender computed none, and a
/// computed zero is sent as 0xffff; over IPv6 the checksum is mandatory (RFC 8200 8.1), so zero
/// is refused. A length field below 8 is malformed, one past the IP payload truncated; IP
/// payload past the length is ignored.
/// </summary>
public readonly ref struct UdpPacket
{
    public const int HeaderSize = 8;

    private readonly ReadOnlySpan<byte> _b;
    private UdpPacket(ReadOnlySpan<byte> b) { _b = b; }

    public static WireError ParseV4(ReadOnlySpan<byte> b, Ipv4Addr src, Ipv4Addr dst, out UdpPacket p)
    {
        WireError e = ParseLength(b, out p);
        if (e != WireError.Ok) return e;
        if (p.StoredChecksum != 0 && Checksum.Finish(Checksum.Add(p._b, Checksum.PseudoHeaderV4(src, dst, Ipv4Packet.ProtoUdp, p._b.Length))) != 0)
        {
            p = default;
            return WireError.BadChecksum;
        }
        return WireError.Ok;
    }

    public static WireError ParseV6(ReadOnlySpan<byte> b, Ipv6Addr src, Ipv6Addr dst, out UdpPacket p)
    {
        WireError e = ParseLength(b, out p);
        if (e != WireError.Ok) return e;
        if (p.StoredChecksum == 0 || Checksum.Finish(Checksum.Add(p._b, Checksum.PseudoHeaderV6(src, dst, Ipv6Packet.NextUdp, p._b.Length))) != 0)
        {
            p = default;
            return WireError.BadChecksum;
        }
        return WireError.Ok;
    }

    private static WireError ParseLength(ReadOnlySpan<byte> b, out UdpPacket p)
    {
        p = default;
        if (b.Length < HeaderSize) return WireError.Truncated;
        int len = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(4));
        if (len < HeaderSize) return WireError.Malformed;
        if (len > b.Length) return WireError.Truncated;
        p = new UdpPacket(b.Slice(0, len));
        return WireError.Ok;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_b);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(2));
    public int Length => _b.Length;
    public ushort StoredChecksum => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(6));
    public ReadOnlySpan<byte> Payload => _b.Slice(HeaderSize);

    /// <summary>
    /// Writes the header in front of <paramref name="payloadLength"/> bytes already placed at
    /// <c>d[8..]</c>, with the IPv4 checksum. Returns the datagram's length, or -1 if it does not fit.
    /// </summary>
    public static int EmitV4(Span<byte> d, Ipv4Addr src, Ipv4Addr dst, ushort srcPort, ushort dstPort, int payloadLength)
    {
        int len = HeaderSize + payloadLength;
        if (!Header(d, srcPort, dstPort, payloadLength)) return -1;
        SetChecksum(d, Checksum.Finish(Checksum.Add(d.Slice(0, len), Checksum.PseudoHeaderV4(src, dst, Ipv4Packet.ProtoUdp, len))));
        return len;
    }

    /// <summary>As <see cref="EmitV4"/>, with the IPv6 pseudo-header.</summary>
    public static int EmitV6(Span<byte> d, Ipv6Addr src, Ipv6Addr dst, ushort srcPort, ushort dstPort, int payloadLength)
    {
        int len = HeaderSize + payloadLength;
        if (!Header(d, srcPort, dstPort, payloadLength)) return -1;
        SetChecksum(d, Checksum.Finish(Checksum.Add(d.Slice(0, len), Checksum.PseudoHeaderV6(src, dst, Ipv6Packet.NextUdp, len))));
        return len;
    }

    private static bool Header(Span<byte> d, ushort srcPort, ushort dstPort, int payloadLength)
    {
        if (payloadLength < 0 || payloadLength > 0xffff - HeaderSize || d.Length < HeaderSize + payloadLength) return false;
        BinaryPrimitives.WriteUInt16BigEndian(d, srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), dstPort);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(4), (ushort)(HeaderSize + payloadLength));
        d[6] = d[7] = 0;
        return true;
    }

    // A computed 0 goes out as its one's-complement twin 0xffff: 0 means "no checksum".
    private static void SetChecksum(Span<byte> d, ushort c) => BinaryPrimitives.WriteUInt16BigEndian(d.Slice(6), c == 0 ? (ushort)0xffff : c);
}
