using System;
using Rump.Net.Netinet6;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// An address of either family as the TCP engine keeps it (TCBs, the PCB table's keys, the ISN
/// hash), and as UDP's PCBs do (<see cref="UdpEngine"/>): 16 bytes, an IPv6 address as it is and
/// an IPv4 one as the v4-mapped ::ffff:a.b.c.d (RFC 4291 2.5.5.2). Why mapped rather than a
/// family field: one fixed-size value keys both families' connections in one table, hashing and
/// comparing are two 64-bit words whatever the family (no branch, no allocation), and the family
/// is the prefix (<see cref="IsV4"/>). The two
/// wildcards differ (0.0.0.0 is ::ffff:0.0.0.0, IPv6's is ::), so v4 and v6 listeners on one
/// port are different keys. Nothing is ambiguous: IPv6 input drops packets that carry a
/// v4-mapped address, so every mapped address here is IPv4's, whether an AF_INET socket or a
/// dual-stack AF_INET6 one (IPV6_V6ONLY off, binding or connecting to ::ffff:a.b.c.d, or
/// accepting IPv4 on ::) uses it; the socket alone decides how it is named.
/// </summary>
public readonly struct TcpAddr : IEquatable<TcpAddr>
{
    private const ulong MappedPrefix = 0xffffUL << 32;
    public readonly ulong Hi, Lo;

    public TcpAddr(ulong hi, ulong lo) { Hi = hi; Lo = lo; }

    public static implicit operator TcpAddr(Ipv4Addr a) => new(0, MappedPrefix | a.Value);
    public static implicit operator TcpAddr(Ipv6Addr a) => new(a.Hi, a.Lo);

    /// <summary>0.0.0.0 and ::, the two families' wildcards.</summary>
    public static readonly TcpAddr AnyV4 = new(0, MappedPrefix), AnyV6 = default;

    public bool IsV4 => Hi == 0 && Lo >> 32 == 0xffff;
    public Ipv4Addr V4 => new((uint)Lo);
    public Ipv6Addr V6 => new(Hi, Lo);
    public bool IsUnspecified => IsV4 ? (uint)Lo == 0 : (Hi | Lo) == 0;
    /// <summary>The wildcard of this address's family.</summary>
    public TcpAddr AnyOfFamily => IsV4 ? AnyV4 : AnyV6;
    public bool SameFamily(TcpAddr o) => IsV4 == o.IsV4;
    /// <summary>Never a TCP endpoint (RFC 1122 4.2.3.10, RFC 9293 3.9.1.1): multicast, and IPv4's limited broadcast.</summary>
    public bool IsMulticast => IsV4 ? V4.IsMulticast || (uint)Lo == uint.MaxValue : Hi >> 56 == 0xff;

    public bool Equals(TcpAddr o) => Hi == o.Hi && Lo == o.Lo;
    public override bool Equals(object? o) => o is TcpAddr a && Equals(a);
    public override int GetHashCode() => (Hi ^ Lo).GetHashCode();
    public static bool operator ==(TcpAddr a, TcpAddr b) => a.Hi == b.Hi && a.Lo == b.Lo;
    public static bool operator !=(TcpAddr a, TcpAddr b) => a.Hi != b.Hi || a.Lo != b.Lo;
    public override string ToString() => IsV4 ? V4.ToString() : In6.Format(V6);
}
