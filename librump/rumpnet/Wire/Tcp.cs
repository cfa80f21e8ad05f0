using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Rump.Net.Wire;

/// <summary>
/// TCP segments (RFC 9293 3.1): ports, sequence and acknowledgment numbers, data offset, flags,
/// window, checksum over the IPv4 or IPv6 pseudo-header, urgent pointer, options, data. Parsing
/// checks a 20-byte header, a data offset of 5 to 15 words inside the segment, and the checksum;
/// options are parsed on request by <see cref="TcpOptions.Parse"/>, since most segments of an
/// established connection carry only a timestamp. What the flags mean in each state is the TCP
/// state machine's business, not this file's.
/// </summary>
public readonly ref struct TcpPacket
{
    public const int MinHeaderSize = 20, MaxHeaderSize = 60, MaxOptionsSize = 40;
    public const byte FlagFin = 0x01, FlagSyn = 0x02, FlagRst = 0x04, FlagPsh = 0x08, FlagAck = 0x10, FlagUrg = 0x20, FlagEce = 0x40, FlagCwr = 0x80;

    private readonly ReadOnlySpan<byte> _b;
    private TcpPacket(ReadOnlySpan<byte> b) { _b = b; }

    /// <param name="b">The IP payload, exactly.</param>
    public static WireError ParseV4(ReadOnlySpan<byte> b, Ipv4Addr src, Ipv4Addr dst, out TcpPacket p)
    {
        WireError e = ParseHeader(b, out p);
        if (e == WireError.Ok && Checksum.Finish(Checksum.Add(b, Checksum.PseudoHeaderV4(src, dst, Ipv4Packet.ProtoTcp, b.Length))) != 0)
        {
            p = default;
            return WireError.BadChecksum;
        }
        return e;
    }

    public static WireError ParseV6(ReadOnlySpan<byte> b, Ipv6Addr src, Ipv6Addr dst, out TcpPacket p)
    {
        WireError e = ParseHeader(b, out p);
        if (e == WireError.Ok && Checksum.Finish(Checksum.Add(b, Checksum.PseudoHeaderV6(src, dst, Ipv6Packet.NextTcp, b.Length))) != 0)
        {
            p = default;
            return WireError.BadChecksum;
        }
        return e;
    }

    /// <summary>
    /// A segment whose checksum the interface has verified, or whose host vouched for it (a
    /// partial checksum from the host's own stack over a TAP): the header checks of
    /// <see cref="ParseV4"/> without the checksum.
    /// </summary>
    public static WireError ParseVerified(ReadOnlySpan<byte> b, out TcpPacket p) => ParseHeader(b, out p);

    private static WireError ParseHeader(ReadOnlySpan<byte> b, out TcpPacket p)
    {
        p = default;
        if (b.Length < MinHeaderSize) return WireError.Truncated;
        int hlen = (b[12] >> 4) * 4;
        if (hlen < MinHeaderSize) return WireError.Malformed;
        if (hlen > b.Length) return WireError.Truncated;
        p = new TcpPacket(b);
        return WireError.Ok;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_b);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(2));
    public uint Sequence => BinaryPrimitives.ReadUInt32BigEndian(_b.Slice(4));
    public uint Acknowledgment => BinaryPrimitives.ReadUInt32BigEndian(_b.Slice(8));
    public int HeaderLength => (_b[12] >> 4) * 4;
    public byte Flags => _b[13];
    public bool Syn => (_b[13] & FlagSyn) != 0;
    public bool Ack => (_b[13] & FlagAck) != 0;
    public bool Fin => (_b[13] & FlagFin) != 0;
    public bool Rst => (_b[13] & FlagRst) != 0;
    /// <summary>The window as sent (unscaled).</summary>
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(14));
    public ushort StoredChecksum => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(16));
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(18));
    public ReadOnlySpan<byte> Options => _b.Slice(MinHeaderSize, HeaderLength - MinHeaderSize);
    public ReadOnlySpan<byte> Payload => _b.Slice(HeaderLength);
    /// <summary>Sequence space the segment occupies: its data, plus one each for SYN and FIN.</summary>
    public int SegmentLength => Payload.Length + (Syn ? 1 : 0) + (Fin ? 1 : 0);

    /// <summary>The header length <see cref="EmitV4"/> will write for these options (20 + padded options).</summary>
    public static int HeaderLengthFor(in TcpOptions o) => MinHeaderSize + TcpOptions.EmittedLength(o);

    /// <summary>
    /// Writes the header (with options) in front of <paramref name="payloadLength"/> bytes already
    /// placed at <c>d[HeaderLengthFor(o)..]</c>, and the IPv4 checksum. Returns the segment's
    /// length, or -1 if it does not fit or the options exceed 40 bytes.
    /// </summary>
    public static int EmitV4(Span<byte> d, Ipv4Addr src, Ipv4Addr dst, in TcpHeader h, in TcpOptions o, int payloadLength)
    {
        int len = Header(d, h, o, payloadLength);
        if (len < 0) return -1;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(16), Checksum.Finish(Checksum.Add(d.Slice(0, len), Checksum.PseudoHeaderV4(src, dst, Ipv4Packet.ProtoTcp, len))));
        return len;
    }

    /// <summary>
    /// As <see cref="EmitV4"/>, but the checksum field gets only the pseudo-header's sum, folded
    /// and not complemented, for an interface that completes it over the segment (checksum
    /// offload: virtio-net's NEEDS_CSUM, Linux's CHECKSUM_PARTIAL). The pseudo-header's length is
    /// the whole segment's, also for one the interface cuts into pieces (TSO adjusts it per piece).
    /// </summary>
    public static int EmitV4Partial(Span<byte> d, Ipv4Addr src, Ipv4Addr dst, in TcpHeader h, in TcpOptions o, int payloadLength)
    {
        int len = Header(d, h, o, payloadLength);
        if (len < 0) return -1;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(16), (ushort)~Checksum.Finish(Checksum.PseudoHeaderV4(src, dst, Ipv4Packet.ProtoTcp, len)));
        return len;
    }

    /// <summary>As <see cref="EmitV4Partial"/>, with the IPv6 pseudo-header.</summary>
    public static int EmitV6Partial(Span<byte> d, Ipv6Addr src, Ipv6Addr dst, in TcpHeader h, in TcpOptions o, int payloadLength)
    {
        int len = Header(d, h, o, payloadLength);
        if (len < 0) return -1;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(16), (ushort)~Checksum.Finish(Checksum.PseudoHeaderV6(src, dst, Ipv6Packet.NextTcp, len)));
        return len;
    }

    /// <summary>
    /// Completes a partial checksum (<see cref="EmitV4Partial"/>) over <paramref name="segment"/>
    /// (the TCP header and data): what the interface would have done, for one that cannot.
    /// </summary>
    public static void CompletePartialChecksum(Span<byte> segment)
        => BinaryPrimitives.WriteUInt16BigEndian(segment.Slice(16), Checksum.Finish(Checksum.Add(segment)));

    /// <summary>As <see cref="EmitV4"/>, with the IPv6 pseudo-header.</summary>
    public static int EmitV6(Span<byte> d, Ipv6Addr src, Ipv6Addr dst, in TcpHeader h, in TcpOptions o, int payloadLength)
    {
        int len = Header(d, h, o, payloadLength);
        if (len < 0) return -1;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(16), Checksum.Finish(Checksum.Add(d.Slice(0, len), Checksum.PseudoHeaderV6(src, dst, Ipv6Packet.NextTcp, len))));
        return len;
    }

    private static int Header(Span<byte> d, in TcpHeader h, in TcpOptions o, int payloadLength)
    {
        int olen = TcpOptions.EmittedLength(o);
        if (olen < 0) return -1;
        int hlen = MinHeaderSize + olen;
        if (payloadLength < 0 || d.Length < hlen + payloadLength) return -1;
        BinaryPrimitives.WriteUInt16BigEndian(d, h.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), h.DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(4), h.Sequence);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(8), h.Acknowledgment);
        d[12] = (byte)(hlen / 4 << 4);
        d[13] = h.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(14), h.Window);
        d[16] = d[17] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(18), h.UrgentPointer);
        TcpOptions.Emit(d.Slice(MinHeaderSize, olen), o);
        return hlen + payloadLength;
    }
}

/// <summary>What a sender chooses for a TCP header (<see cref="TcpPacket.EmitV4"/>).</summary>
public struct TcpHeader
{
    public ushort SourcePort, DestinationPort;
    public uint Sequence, Acknowledgment;
    public byte Flags;
    public ushort Window, UrgentPointer;
}

/// <summary>A SACK block (RFC 2018 3): the left edge and the sequence number just past the right edge.</summary>
public struct SackBlock
{
    public uint Left, Right;
    public SackBlock(uint left, uint right) { Left = left; Right = right; }
}

[InlineArray(TcpOptions.MaxSackBlocks)]
public struct SackBlocks4
{
    private SackBlock _first;
}

/// <summary>
/// The TCP options this stack speaks: MSS (RFC 9293 3.2, kind 2), window scale (RFC 7323 2,
/// kind 3), SACK-permitted and SACK (RFC 2018, kinds 4 and 5) and timestamps (RFC 7323 3,
/// kind 8). Unknown kinds with a sane length are skipped (RFC 9293 3.1 says they must be);
/// a known kind with the wrong length, a length below 2 or one past the option space is
/// <see cref="WireError.Malformed"/>. A window scale above 14 is kept as received: RFC 7323
/// 2.3 has the receiver use 14, which is the state machine's decision.
/// </summary>
public struct TcpOptions
{
    public const byte KindEnd = 0, KindNop = 1, KindMss = 2, KindWindowScale = 3, KindSackPermitted = 4, KindSack = 5, KindTimestamp = 8;
    public const int MaxSackBlocks = 4;

    public bool HasMss;
    public ushort Mss;
    public bool HasWindowScale;
    public byte WindowScale;
    public bool SackPermitted;
    public bool HasTimestamp;
    public uint TsVal, TsEcr;
    public int SackCount;
    public SackBlocks4 Sack;

    public static WireError Parse(ReadOnlySpan<byte> b, out TcpOptions o)
    {
        o = default;
        int i = 0;
        while (i < b.Length)
        {
            byte kind = b[i];
            if (kind == KindEnd) break;
            if (kind == KindNop) { i++; continue; }
            if (i + 1 >= b.Length) return WireError.Malformed;
            int len = b[i + 1];
            if (len < 2 || i + len > b.Length) return WireError.Malformed;
            ReadOnlySpan<byte> v = b.Slice(i + 2, len - 2);
            switch (kind)
            {
                case KindMss:
                    if (len != 4) return WireError.Malformed;
                    o.HasMss = true;
                    o.Mss = BinaryPrimitives.ReadUInt16BigEndian(v);
                    break;
                case KindWindowScale:
                    if (len != 3) return WireError.Malformed;
                    o.HasWindowScale = true;
                    o.WindowScale = v[0];
                    break;
                case KindSackPermitted:
                    if (len != 2) return WireError.Malformed;
                    o.SackPermitted = true;
                    break;
                case KindSack:
                    if ((len - 2) % 8 != 0 || len == 2 || len > 2 + 8 * MaxSackBlocks) return WireError.Malformed;
                    o.SackCount = (len - 2) / 8;
                    for (int k = 0; k < o.SackCount; k++)
                        o.Sack[k] = new SackBlock(BinaryPrimitives.ReadUInt32BigEndian(v.Slice(8 * k)), BinaryPrimitives.ReadUInt32BigEndian(v.Slice(8 * k + 4)));
                    break;
                case KindTimestamp:
                    if (len != 10) return WireError.Malformed;
                    o.HasTimestamp = true;
                    o.TsVal = BinaryPrimitives.ReadUInt32BigEndian(v);
                    o.TsEcr = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(4));
                    break;
            }
            i += len;
        }
        return WireError.Ok;
    }

    /// <summary>Bytes <see cref="Emit"/> writes (a multiple of 4), or -1 past the 40-byte option space.</summary>
    public static int EmittedLength(in TcpOptions o)
    {
        if (o.SackCount is < 0 or > MaxSackBlocks) return -1;
        int n = (o.HasMss ? 4 : 0) + (o.HasTimestamp || o.SackPermitted ? (o.HasTimestamp ? 12 : 4) : 0)
            + (o.HasWindowScale ? 4 : 0) + (o.SackCount > 0 ? 4 + 8 * o.SackCount : 0);
        return n > TcpPacket.MaxOptionsSize ? -1 : n;
    }

    /// <summary>
    /// Writes the options in the 4-byte-aligned layout Linux and NetBSD use (MSS; SACK-permitted
    /// with the timestamp, or NOPs; NOP and window scale; NOPs and SACK blocks). <paramref name="d"/>
    /// has room for <see cref="EmittedLength"/> bytes.
    /// </summary>
    public static void Emit(Span<byte> d, in TcpOptions o)
    {
        int i = 0;
        if (o.HasMss)
        {
            d[0] = KindMss; d[1] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), o.Mss);
            i = 4;
        }
        if (o.HasTimestamp)
        {
            if (o.SackPermitted) { d[i] = KindSackPermitted; d[i + 1] = 2; }
            else { d[i] = KindNop; d[i + 1] = KindNop; }
            d[i + 2] = KindTimestamp; d[i + 3] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(d.Slice(i + 4), o.TsVal);
            BinaryPrimitives.WriteUInt32BigEndian(d.Slice(i + 8), o.TsEcr);
            i += 12;
        }
        else if (o.SackPermitted)
        {
            d[i] = KindNop; d[i + 1] = KindNop; d[i + 2] = KindSackPermitted; d[i + 3] = 2;
            i += 4;
        }
        if (o.HasWindowScale)
        {
            d[i] = KindNop; d[i + 1] = KindWindowScale; d[i + 2] = 3; d[i + 3] = o.WindowScale;
            i += 4;
        }
        if (o.SackCount > 0)
        {
            d[i] = KindNop; d[i + 1] = KindNop; d[i + 2] = KindSack; d[i + 3] = (byte)(2 + 8 * o.SackCount);
            i += 4;
            for (int k = 0; k < o.SackCount; k++, i += 8)
            {
                BinaryPrimitives.WriteUInt32BigEndian(d.Slice(i), o.Sack[k].Left);
                BinaryPrimitives.WriteUInt32BigEndian(d.Slice(i + 4), o.Sack[k].Right);
            }
        }
    }
}
