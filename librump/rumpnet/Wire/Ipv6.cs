using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// IPv6 (RFC 8200): the 40-byte fixed header (version, traffic class, flow label, payload
/// length, next header, hop limit, addresses) and the walk over extension headers to the
/// upper-layer header. The walk knows hop-by-hop options, routing, fragment and destination
/// options headers (RFC 8200 4.3-4.6, lengths in 8-byte units past the first 8, the fragment
/// header a fixed 8) and AH (RFC 4302, 4-byte units past the first 8), and stops at any other
/// next-header value (an upper layer, ESP, or 59 "no next header"). It takes at most
/// <see cref="MaxExtensionHeaders"/> steps, so a chain of headers crafted to be long costs a
/// bounded walk; a longer chain is <see cref="WireError.Unsupported"/>. Hop-by-hop options
/// anywhere but first are malformed (RFC 8200 4.3). The walk stops after a fragment header.
/// </summary>
public readonly ref struct Ipv6Packet
{
    public const int HeaderSize = 40;
    public const byte NextHopByHop = 0, NextTcp = 6, NextUdp = 17, NextRouting = 43, NextFragment = 44, NextEsp = 50, NextAh = 51,
        NextIcmpv6 = 58, NextNone = 59, NextDestOpts = 60;
    public const int MaxExtensionHeaders = 8;

    private readonly ReadOnlySpan<byte> _b;
    private Ipv6Packet(ReadOnlySpan<byte> b) { _b = b; }

    /// <param name="b">From the IPv6 header on; may extend past the packet (link padding).</param>
    public static WireError Parse(ReadOnlySpan<byte> b, out Ipv6Packet p)
    {
        p = default;
        if (b.Length < HeaderSize) return WireError.Truncated;
        if (b[0] >> 4 != 6) return WireError.Malformed;
        int plen = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(4));
        // A zero payload length with a hop-by-hop header is a jumbogram (RFC 2675), which no link here carries.
        if (plen == 0 && b[6] == NextHopByHop) return WireError.Unsupported;
        if (HeaderSize + plen > b.Length) return WireError.Truncated;
        p = new Ipv6Packet(b.Slice(0, HeaderSize + plen));
        return WireError.Ok;
    }

    public byte TrafficClass => (byte)(BinaryPrimitives.ReadUInt16BigEndian(_b) >> 4);
    public uint FlowLabel => BinaryPrimitives.ReadUInt32BigEndian(_b) & 0xfffff;
    public int PayloadLength => _b.Length - HeaderSize;
    public byte NextHeader => _b[6];
    public byte HopLimit => _b[7];
    public Ipv6Addr Source => Ipv6Addr.Read(_b.Slice(8));
    public Ipv6Addr Destination => Ipv6Addr.Read(_b.Slice(24));
    public ReadOnlySpan<byte> Payload => _b.Slice(HeaderSize);
    public ReadOnlySpan<byte> Bytes => _b;

    /// <summary>
    /// Walks the extension headers. On success <paramref name="r"/> says where the upper layer
    /// starts (an offset into <see cref="Bytes"/>), its protocol, and the fragment header's
    /// fields if there was one.
    /// </summary>
    public WireError WalkExtensions(out Ipv6Extensions r)
    {
        r = default;
        byte next = NextHeader;
        int off = HeaderSize;
        for (int n = 0; ; n++)
        {
            if (next is not (NextHopByHop or NextRouting or NextFragment or NextDestOpts or NextAh))
            {
                r.UpperProtocol = next;
                r.UpperOffset = off;
                return WireError.Ok;
            }
            if (n == MaxExtensionHeaders) return WireError.Unsupported;
            if (next == NextHopByHop && n != 0) return WireError.Malformed;
            if (off + 8 > _b.Length) return WireError.Truncated;
            int len = next switch
            {
                NextFragment => 8,
                NextAh => (_b[off + 1] + 2) * 4,
                _ => (_b[off + 1] + 1) * 8,
            };
            if (off + len > _b.Length) return WireError.Truncated;
            if (next == NextFragment)
            {
                // The walk ends here: what follows is a piece of the datagram, whose headers are
                // walked once it is reassembled (the first piece's bytes are not a header in the others).
                ushort fo = BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(off + 2));
                r.HasFragment = true;
                r.FragmentHeaderOffset = off;
                r.FragmentOffset = fo & 0xfff8;
                r.MoreFragments = (fo & 1) != 0;
                r.FragmentId = BinaryPrimitives.ReadUInt32BigEndian(_b.Slice(off + 4));
                r.Count++;
                r.UpperProtocol = _b[off];
                r.UpperOffset = off + 8;
                return WireError.Ok;
            }
            r.Count++;
            next = _b[off];
            off += len;
        }
    }

    /// <summary>
    /// Writes the fixed header for <paramref name="payloadLength"/> bytes after it. Returns 40, or
    /// -1 if <paramref name="d"/> is too small or the payload exceeds 65535 bytes.
    /// </summary>
    public static int Emit(Span<byte> d, in Ipv6Header h, int payloadLength)
    {
        if (d.Length < HeaderSize || payloadLength is < 0 or > 0xffff) return -1;
        BinaryPrimitives.WriteUInt32BigEndian(d, 6u << 28 | (uint)h.TrafficClass << 20 | h.FlowLabel & 0xfffff);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(4), (ushort)payloadLength);
        d[6] = h.NextHeader;
        d[7] = h.HopLimit;
        h.Source.Write(d.Slice(8));
        h.Destination.Write(d.Slice(24));
        return HeaderSize;
    }
}

/// <summary>What a sender chooses for an IPv6 header (<see cref="Ipv6Packet.Emit"/>).</summary>
public struct Ipv6Header
{
    public Ipv6Addr Source, Destination;
    public byte NextHeader, HopLimit, TrafficClass;
    public uint FlowLabel;
}

/// <summary>The result of <see cref="Ipv6Packet.WalkExtensions"/>.</summary>
public struct Ipv6Extensions
{
    /// <summary>The upper-layer protocol (or 59, or ESP) and where it starts in the packet.</summary>
    public byte UpperProtocol;
    public int UpperOffset;
    /// <summary>Extension headers passed.</summary>
    public int Count;
    /// <summary>
    /// A fragment header ends the walk: then <see cref="UpperProtocol"/> and <see cref="UpperOffset"/>
    /// are its next header and what follows it, a piece of the datagram.
    /// </summary>
    public bool HasFragment, MoreFragments;
    /// <summary>Where the fragment header starts in the packet.</summary>
    public int FragmentHeaderOffset;
    /// <summary>In bytes (a multiple of 8).</summary>
    public int FragmentOffset;
    public uint FragmentId;
}
