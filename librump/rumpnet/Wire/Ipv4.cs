using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// IPv4 headers (RFC 791 3.1): version and header length, type of service, total length,
/// identification, flags and fragment offset, TTL, protocol, header checksum, addresses, options.
/// <see cref="Ipv4Packet.Parse"/> checks, in order: a 20-byte header, version 4, a header length
/// of at least 5 words that the buffer holds, a total length between the header length and the
/// buffer (bytes past it are link padding and not payload), a fragment that does not reach past
/// 65535 bytes (RFC 791: offset*8 + length), and the header checksum.
/// </summary>
public readonly ref struct Ipv4Packet
{
    public const int MinHeaderSize = 20, MaxHeaderSize = 60;
    public const byte ProtoIcmp = 1, ProtoTcp = 6, ProtoUdp = 17;
    private const ushort FlagReserved = 0x8000, FlagDontFragment = 0x4000, FlagMoreFragments = 0x2000, OffsetMask = 0x1fff;

    private readonly ReadOnlySpan<byte> _b;
    private Ipv4Packet(ReadOnlySpan<byte> b) { _b = b; }

    /// <param name="b">From the IPv4 header on; may extend past the packet (Ethernet padding).</param>
    public static WireError Parse(ReadOnlySpan<byte> b, out Ipv4Packet p)
    {
        p = default;
        if (b.Length < MinHeaderSize) return WireError.Truncated;
        if (b[0] >> 4 != 4) return WireError.Malformed;
        int hlen = (b[0] & 0xf) * 4;
        if (hlen < MinHeaderSize) return WireError.Malformed;
        if (b.Length < hlen) return WireError.Truncated;
        int total = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(2));
        if (total < hlen) return WireError.Malformed;
        if (total > b.Length) return WireError.Truncated;
        int frag = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(6));
        if ((frag & OffsetMask) * 8 + (total - hlen) > 0xffff) return WireError.Malformed;
        if (Checksum.Compute(b.Slice(0, hlen)) != 0) return WireError.BadChecksum;
        p = new Ipv4Packet(b.Slice(0, total));
        return WireError.Ok;
    }

    public int HeaderLength => (_b[0] & 0xf) * 4;
    public int TotalLength => _b.Length;
    public byte Tos => _b[1];
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(4));
    private ushort FlagsOffset => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(6));
    /// <summary>The reserved flag bit, which RFC 791 says must be zero (reported, not judged).</summary>
    public bool ReservedFlag => (FlagsOffset & FlagReserved) != 0;
    public bool DontFragment => (FlagsOffset & FlagDontFragment) != 0;
    public bool MoreFragments => (FlagsOffset & FlagMoreFragments) != 0;
    /// <summary>The fragment's offset in bytes (the field counts 8-byte units).</summary>
    public int FragmentOffset => (FlagsOffset & OffsetMask) * 8;
    public bool IsFragment => MoreFragments || FragmentOffset != 0;
    public byte Ttl => _b[8];
    public byte Protocol => _b[9];
    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(10));
    public Ipv4Addr Source => Ipv4Addr.Read(_b.Slice(12));
    public Ipv4Addr Destination => Ipv4Addr.Read(_b.Slice(16));
    public int OptionsLength => HeaderLength - MinHeaderSize;
    public ReadOnlySpan<byte> Options => _b.Slice(MinHeaderSize, OptionsLength);
    /// <summary>The header and payload, without link padding.</summary>
    public ReadOnlySpan<byte> Bytes => _b;
    public ReadOnlySpan<byte> Payload => _b.Slice(HeaderLength);

    /// <summary>
    /// Writes a 20-byte header (no options) with its checksum for a payload of
    /// <paramref name="payloadLength"/> bytes. Returns 20, or -1 if <paramref name="d"/> is too
    /// small or the packet would exceed 65535 bytes or the offset is not a multiple of 8.
    /// </summary>
    public static int Emit(Span<byte> d, in Ipv4Header h, int payloadLength)
    {
        if (d.Length < MinHeaderSize || payloadLength < 0 || payloadLength > 0xffff - MinHeaderSize
            || h.FragmentOffset < 0 || h.FragmentOffset % 8 != 0 || h.FragmentOffset / 8 > OffsetMask)
            return -1;
        d[0] = 0x45;
        d[1] = h.Tos;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), (ushort)(MinHeaderSize + payloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(4), h.Identification);
        int fo = h.FragmentOffset / 8 | (h.DontFragment ? FlagDontFragment : 0) | (h.MoreFragments ? FlagMoreFragments : 0);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(6), (ushort)fo);
        d[8] = h.Ttl;
        d[9] = h.Protocol;
        d[10] = d[11] = 0;
        h.Source.Write(d.Slice(12));
        h.Destination.Write(d.Slice(16));
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(10), Checksum.Compute(d.Slice(0, MinHeaderSize)));
        return MinHeaderSize;
    }
}

/// <summary>What a sender chooses for an IPv4 header (<see cref="Ipv4Packet.Emit"/>).</summary>
public struct Ipv4Header
{
    public Ipv4Addr Source, Destination;
    public byte Protocol, Ttl, Tos;
    public ushort Identification;
    public bool DontFragment, MoreFragments;
    /// <summary>In bytes, a multiple of 8.</summary>
    public int FragmentOffset;
}
