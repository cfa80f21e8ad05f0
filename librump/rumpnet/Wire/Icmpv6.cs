using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// ICMPv6 (RFC 4443): type, code, a checksum over the IPv6 pseudo-header (next header 58) and
/// the message, then the type's fields. Errors: destination unreachable (1), packet too big (2,
/// with the MTU), time exceeded (3), parameter problem (4, with a pointer), each quoting as much
/// of the invoking packet as fits the minimum MTU. Echo request/reply (128/129). Neighbour
/// discovery (RFC 4861 4.1-4.5): router solicitation (133) and advertisement (134), neighbour
/// solicitation (135) and advertisement (136), redirect (137), whose fixed parts are checked
/// here (code 0 and the minimum lengths of 7.1.1, 6.1.1/6.1.2 and 8.1); the IP hop limit of
/// 255 is the ND layer's check. Their options are walked by <see cref="NdOptions.Parse"/>.
/// </summary>
public readonly ref struct Icmpv6Packet
{
    public const int HeaderSize = 8;
    public const byte TypeUnreachable = 1, TypePacketTooBig = 2, TypeTimeExceeded = 3, TypeParamProblem = 4,
        TypeEchoRequest = 128, TypeEchoReply = 129,
        TypeRouterSolicit = 133, TypeRouterAdvert = 134, TypeNeighborSolicit = 135, TypeNeighborAdvert = 136, TypeRedirect = 137,
        TypeMldQuery = 130, TypeMldV2Report = 143;
    /// <summary>MLDv2 multicast address record types (RFC 3810 5.2.12).</summary>
    public const byte MldModeIsExclude = 2, MldChangeToInclude = 3, MldChangeToExclude = 4;
    /// <summary>An MLDv1 query is 24 bytes, an MLDv2 query at least 28 (RFC 3810 8.1).</summary>
    public const int MldV1QueryLength = 24, MldV2QueryMinLength = 28;
    /// <summary>Time exceeded's codes (RFC 4443 3.3): the hop limit ran out in transit, or a datagram's reassembly timed out.</summary>
    public const byte CodeHopLimitExceeded = 0, CodeReassemblyTimeExceeded = 1;
    public const byte NaFlagRouter = 0x80, NaFlagSolicited = 0x40, NaFlagOverride = 0x20;
    public const byte RaFlagManaged = 0x80, RaFlagOther = 0x40;

    private readonly ReadOnlySpan<byte> _b;
    private Icmpv6Packet(ReadOnlySpan<byte> b) { _b = b; }

    /// <param name="b">The upper-layer part of the IPv6 packet, exactly.</param>
    public static WireError Parse(ReadOnlySpan<byte> b, Ipv6Addr src, Ipv6Addr dst, out Icmpv6Packet p)
    {
        p = default;
        if (b.Length < HeaderSize) return WireError.Truncated;
        if (Checksum.Finish(Checksum.Add(b, Checksum.PseudoHeaderV6(src, dst, Ipv6Packet.NextIcmpv6, b.Length))) != 0) return WireError.BadChecksum;
        if (b[0] is >= TypeRouterSolicit and <= TypeRedirect)
        {
            if (b[1] != 0) return WireError.Malformed;
            if (b.Length < FixedLength(b[0])) return WireError.Truncated;
        }
        p = new Icmpv6Packet(b);
        return WireError.Ok;
    }

    /// <summary>The fixed part of an ND message before its options (8 for any other type).</summary>
    public static int FixedLength(byte type) => type switch
    {
        TypeRouterSolicit => 8,
        TypeRouterAdvert => 16,
        TypeNeighborSolicit or TypeNeighborAdvert => 24,
        TypeRedirect => 40,
        _ => HeaderSize,
    };

    public byte Type => _b[0];
    public byte Code => _b[1];
    public ushort StoredChecksum => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(2));
    public bool IsError => Type < 128;
    public bool IsNeighborDiscovery => Type is >= TypeRouterSolicit and <= TypeRedirect;
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(4));
    public ushort Sequence => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(6));
    /// <summary>Packet too big: the MTU; parameter problem: the pointer.</summary>
    public uint Parameter => BinaryPrimitives.ReadUInt32BigEndian(_b.Slice(4));
    /// <summary>Echo data or the quoted packet of an error.</summary>
    public ReadOnlySpan<byte> Data => _b.Slice(HeaderSize);

    /// <summary>NS, NA and redirect: the target address.</summary>
    public Ipv6Addr Target => Ipv6Addr.Read(_b.Slice(8));
    /// <summary>Redirect: the destination address.</summary>
    public Ipv6Addr RedirectDestination => Ipv6Addr.Read(_b.Slice(24));
    /// <summary>NA: router, solicited, override; RA: managed, other.</summary>
    public byte NdFlags => _b[Type == TypeRouterAdvert ? 5 : 4];
    public byte RaCurHopLimit => _b[4];
    public ushort RaRouterLifetime => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(6));
    public uint RaReachableTime => BinaryPrimitives.ReadUInt32BigEndian(_b.Slice(8));
    public uint RaRetransTimer => BinaryPrimitives.ReadUInt32BigEndian(_b.Slice(12));
    /// <summary>MLD query: the group asked about (:: for a general query).</summary>
    public Ipv6Addr MldGroup => Ipv6Addr.Read(_b.Slice(8));
    /// <summary>MLD query: the longest a reply may be delayed, in milliseconds (RFC 3810 5.1.3; MLDv1's field is milliseconds already).</summary>
    public uint MldMaxResponseMs
    {
        get
        {
            ushort code = BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(4));
            if (code < 32768 || _b.Length < MldV2QueryMinLength) return code;
            // 1 | exp (3 bits) | mant (12 bits): (mant | 0x1000) << (exp + 3).
            return (uint)((code & 0xfff) | 0x1000) << (((code >> 12) & 7) + 3);
        }
    }

    /// <summary>The options after an ND message's fixed part.</summary>
    public ReadOnlySpan<byte> NdOptionBytes => _b.Slice(FixedLength(Type));

    public static int EmitEcho(Span<byte> d, Ipv6Addr src, Ipv6Addr dst, bool reply, ushort id, ushort seq, ReadOnlySpan<byte> data)
    {
        int len = HeaderSize + data.Length;
        if (d.Length < len) return -1;
        d[0] = reply ? TypeEchoReply : TypeEchoRequest;
        d[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(6), seq);
        data.CopyTo(d.Slice(HeaderSize));
        return Finish(d.Slice(0, len), src, dst);
    }

    /// <summary>An error with its 32-bit parameter (MTU, pointer, or 0) quoting <paramref name="quoted"/>.</summary>
    public static int EmitError(Span<byte> d, Ipv6Addr src, Ipv6Addr dst, byte type, byte code, uint parameter, ReadOnlySpan<byte> quoted)
    {
        int len = HeaderSize + quoted.Length;
        if (d.Length < len || type >= 128) return -1;
        d[0] = type;
        d[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(4), parameter);
        quoted.CopyTo(d.Slice(HeaderSize));
        return Finish(d.Slice(0, len), src, dst);
    }

    /// <summary>
    /// A neighbour solicitation (<paramref name="advert"/> false) or advertisement for
    /// <paramref name="target"/>, with a source (NS) or target (NA) link-layer address option
    /// unless <paramref name="linkAddr"/> is null (an NS from the unspecified address has none).
    /// </summary>
    public static int EmitNeighbor(Span<byte> d, Ipv6Addr src, Ipv6Addr dst, bool advert, byte naFlags, Ipv6Addr target, EtherAddr? linkAddr)
    {
        int len = 24 + (linkAddr.HasValue ? 8 : 0);
        if (d.Length < len) return -1;
        d[0] = advert ? TypeNeighborAdvert : TypeNeighborSolicit;
        d[1] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(4), advert ? (uint)naFlags << 24 : 0);
        target.Write(d.Slice(8));
        if (linkAddr.HasValue)
        {
            d[24] = advert ? NdOptions.TypeTargetLinkAddr : NdOptions.TypeSourceLinkAddr;
            d[25] = 1;
            linkAddr.Value.Write(d.Slice(26));
        }
        return Finish(d.Slice(0, len), src, dst);
    }

    /// <summary>A router solicitation (RFC 4861 4.1) with a source link-layer address option unless <paramref name="linkAddr"/> is null (one sent from the unspecified address has none).</summary>
    public static int EmitRouterSolicit(Span<byte> d, Ipv6Addr src, Ipv6Addr dst, EtherAddr? linkAddr)
    {
        int len = 8 + (linkAddr.HasValue ? 8 : 0);
        if (d.Length < len) return -1;
        d[0] = TypeRouterSolicit;
        d[1] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(4), 0);
        if (linkAddr.HasValue)
        {
            d[8] = NdOptions.TypeSourceLinkAddr;
            d[9] = 1;
            linkAddr.Value.Write(d.Slice(10));
        }
        return Finish(d.Slice(0, len), src, dst);
    }

    /// <summary>The bytes of an MLDv2 report with <paramref name="groups"/> records.</summary>
    public static int MldV2ReportLength(int groups) => 8 + 20 * groups;

    /// <summary>An MLDv2 report (RFC 3810 5.2): one record of <paramref name="recordType"/> with no sources for each group.</summary>
    public static int EmitMldV2Report(Span<byte> d, Ipv6Addr src, Ipv6Addr dst, byte recordType, ReadOnlySpan<Ipv6Addr> groups)
    {
        int len = MldV2ReportLength(groups.Length);
        if (d.Length < len || groups.Length > 0xffff) return -1;
        d[0] = TypeMldV2Report;
        d[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(4), 0);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(6), (ushort)groups.Length);
        for (int i = 0; i < groups.Length; i++)
        {
            Span<byte> r = d.Slice(8 + 20 * i, 20);
            r[0] = recordType;
            r[1] = 0; // no auxiliary data
            BinaryPrimitives.WriteUInt16BigEndian(r.Slice(2), 0); // no sources: any-source
            groups[i].Write(r.Slice(4));
        }
        return Finish(d.Slice(0, len), src, dst);
    }

    private static int Finish(Span<byte> m, Ipv6Addr src, Ipv6Addr dst)
    {
        m[2] = m[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(m.Slice(2), Checksum.Finish(Checksum.Add(m, Checksum.PseudoHeaderV6(src, dst, Ipv6Packet.NextIcmpv6, m.Length))));
        return m.Length;
    }
}

/// <summary>
/// Neighbour discovery options (RFC 4861 4.6): type, length in 8-byte units (0 is invalid and
/// the whole message is dropped), value. Kept: source and target link-layer addresses (Ethernet,
/// length 1) and the MTU (length 1); others skipped. Prefix information options (length 4), of
/// which an RA may carry several, are checked here and walked by <see cref="Prefixes"/>.
/// </summary>
public struct NdOptions
{
    public const byte TypeSourceLinkAddr = 1, TypeTargetLinkAddr = 2, TypePrefixInfo = 3, TypeRedirected = 4, TypeMtu = 5;
    public const byte PrefixFlagOnLink = 0x80, PrefixFlagAutonomous = 0x40;

    public bool HasSourceLinkAddr, HasTargetLinkAddr, HasMtu;
    public EtherAddr SourceLinkAddr, TargetLinkAddr;
    public uint Mtu;

    /// <summary>The prefix information options of options that <see cref="Parse"/> accepted, in order.</summary>
    public static NdPrefixEnumerator Prefixes(ReadOnlySpan<byte> options) => new(options);

    public static WireError Parse(ReadOnlySpan<byte> b, out NdOptions o)
    {
        o = default;
        int i = 0;
        while (i < b.Length)
        {
            if (i + 2 > b.Length) return WireError.Truncated;
            int len = b[i + 1] * 8;
            if (len == 0) return WireError.Malformed;
            if (i + len > b.Length) return WireError.Truncated;
            ReadOnlySpan<byte> v = b.Slice(i, len);
            switch (b[i])
            {
                case TypeSourceLinkAddr:
                case TypeTargetLinkAddr:
                    if (len != 8) break; // another link type's address: not ours
                    if (b[i] == TypeSourceLinkAddr) { o.HasSourceLinkAddr = true; o.SourceLinkAddr = EtherAddr.Read(v.Slice(2)); }
                    else { o.HasTargetLinkAddr = true; o.TargetLinkAddr = EtherAddr.Read(v.Slice(2)); }
                    break;
                case TypeMtu:
                    if (len != 8) return WireError.Malformed;
                    o.HasMtu = true;
                    o.Mtu = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(4));
                    break;
                case TypePrefixInfo:
                    if (len != NdPrefixInfo.Size) return WireError.Malformed;
                    break;
            }
            i += len;
        }
        return WireError.Ok;
    }
}

/// <summary>A prefix information option (RFC 4861 4.6.2). Lifetimes are in seconds; <see cref="Infinite"/> is forever.</summary>
public readonly struct NdPrefixInfo
{
    public const int Size = 32;
    public const uint Infinite = 0xffffffff;
    public readonly byte Length, Flags;
    public readonly uint ValidLifetime, PreferredLifetime;
    public readonly Ipv6Addr Prefix;

    public NdPrefixInfo(ReadOnlySpan<byte> v)
    {
        Length = v[2];
        Flags = v[3];
        ValidLifetime = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(4));
        PreferredLifetime = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(8));
        Prefix = Ipv6Addr.Read(v.Slice(16));
    }

    public bool OnLink => (Flags & NdOptions.PrefixFlagOnLink) != 0;
    public bool Autonomous => (Flags & NdOptions.PrefixFlagAutonomous) != 0;
}

/// <summary>Walks the prefix information options of ND options (foreach); stops at anything malformed.</summary>
public ref struct NdPrefixEnumerator
{
    private readonly ReadOnlySpan<byte> _b;
    private int _i;
    private NdPrefixInfo _cur;

    internal NdPrefixEnumerator(ReadOnlySpan<byte> b) { _b = b; _i = 0; _cur = default; }

    public readonly NdPrefixEnumerator GetEnumerator() => this;
    public readonly NdPrefixInfo Current => _cur;

    public bool MoveNext()
    {
        while (_i + 2 <= _b.Length)
        {
            int len = _b[_i + 1] * 8;
            if (len == 0 || _i + len > _b.Length) break;
            int at = _i;
            _i += len;
            if (_b[at] == NdOptions.TypePrefixInfo && len == NdPrefixInfo.Size)
            {
                _cur = new NdPrefixInfo(_b.Slice(at, len));
                return true;
            }
        }
        _i = _b.Length;
        return false;
    }
}
