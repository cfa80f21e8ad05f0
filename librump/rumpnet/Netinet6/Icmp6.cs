using System;
using System.Buffers.Binary;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet6;

/// <summary>
/// ICMPv6 (RFC 4443; NetBSD icmp6.c): the checksum over the pseudo-header is checked by the
/// wire parser; echo requests are answered (to a multicast group too, from the address
/// source selection gives); echo replies go to <see cref="EchoReply"/> (the kernel's ping6
/// entry, <see cref="SendEcho"/>); errors about packets we sent reach the protocol that sent
/// them (its <see cref="Ip6CtlInput"/>); neighbour discovery messages go to the interface's
/// <see cref="Nd6Cache"/>. <see cref="Error"/> sends errors about received packets, never about
/// an ICMPv6 error, a packet to a multicast group (except packet too big), or one from the
/// unspecified or a multicast source (RFC 4443 2.4 e), and at most <see cref="ErrorRateLimit"/>
/// a second (NetBSD's icmp6errppslim, 100; 2.4 f asks for a limit). The IPv4 side has no such
/// limit yet.
///
/// Locks: none; the rate limit is a per-second counter updated with interlocked operations.
/// </summary>
public sealed class Icmp6
{
    /// <summary>The largest error: the IPv6 minimum MTU (RFC 4443 2.4 c).</summary>
    public const int MinMtu = 1280;

    /// <summary>Errors sent per second at most (NetBSD's net.inet6.icmp6.errppslimit).</summary>
    public int ErrorRateLimit = 100;
    /// <summary>Echo replies to this kernel's own echo requests: source, identifier, sequence number, data.</summary>
    public delegate void EchoReplyHandler(Ipv6Addr src, ushort id, ushort seq, ReadOnlySpan<byte> data);
    public EchoReplyHandler? EchoReply;

    private readonly Inet6 _in;
    private long _rateSecond;
    private int _rateCount;

    internal Icmp6(Inet6 inet) { _in = inet; }
    private Inet6Stats S => _in.Stats;

    internal void Input(Lwp l, Mbuf m, in Ip6In ip)
    {
        Interlocked.Increment(ref S.Icmp6In);
        ReadOnlySpan<byte> msg = m.Bytes.Slice(ip.Offset);
        if (Icmpv6Packet.Parse(msg, ip.Src, ip.Dst, out Icmpv6Packet p) != WireError.Ok)
        {
            Interlocked.Increment(ref S.Icmp6Bad);
            m.Free();
            return;
        }
        switch (p.Type)
        {
            case Icmpv6Packet.TypeEchoRequest:
                if (p.Code != 0) break;
                m.TrimFront(ip.Offset);
                Ipv6Addr from = ip.Dst;
                if (ip.Multicast && _in.SelectSource(ip.Src, m.RcvIf, out from) != 0) break;
                Span<byte> b = m.Bytes;
                b[0] = Icmpv6Packet.TypeEchoReply;
                b[2] = b[3] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(b.Slice(2), Checksum.Finish(Checksum.Add(b, Checksum.PseudoHeaderV6(from, ip.Src, Ipv6Packet.NextIcmpv6, b.Length))));
                Interlocked.Increment(ref S.Icmp6EchoReplies);
                _in.Ip6.Output(m, from, ip.Src, Ipv6Packet.NextIcmpv6, Inet6.DefaultHopLimit, m.RcvIf);
                return;
            case Icmpv6Packet.TypeEchoReply:
                Interlocked.Increment(ref S.Icmp6EchoRepliesIn);
                EchoReply?.Invoke(ip.Src, p.Identifier, p.Sequence, p.Data);
                break;
            case Icmpv6Packet.TypeUnreachable:
            case Icmpv6Packet.TypePacketTooBig:
            case Icmpv6Packet.TypeTimeExceeded:
            case Icmpv6Packet.TypeParamProblem:
                Interlocked.Increment(ref S.Icmp6ErrorsIn);
                Notify(p);
                break;
            case >= Icmpv6Packet.TypeRouterSolicit and <= Icmpv6Packet.TypeRedirect:
                Nd6Cache? nd = m.RcvIf == null ? null : _in.NdOf(m.RcvIf);
                if (nd != null) nd.Input(p, ip);
                break;
            case Icmpv6Packet.TypeMldQuery:
                if (m.RcvIf != null && _in.NdOf(m.RcvIf) is Nd6Cache c) c.Mld.Query(p, ip);
                break;
        }
        m.Free();
    }

    /// <summary>An error about a packet of ours: the quoted header says which protocol sent it, and that protocol hears the errno it means (NetBSD's icmp6_notify and inet6ctlerrmap).</summary>
    private void Notify(in Icmpv6Packet p)
    {
        ReadOnlySpan<byte> q = p.Data;
        if (q.Length < Ipv6Packet.HeaderSize + 8 || q[0] >> 4 != 6) return;
        Ipv6Addr src = Ipv6Addr.Read(q.Slice(8)), dst = Ipv6Addr.Read(q.Slice(24));
        if (_in.FindAddress(src) == null) return;
        byte nh = q[6]; // extension headers in what we sent: none (we send none but fragments)
        int error = p.Type switch
        {
            Icmpv6Packet.TypeUnreachable => p.Code == 4 ? Abi.ECONNREFUSED : Abi.EHOSTUNREACH,
            Icmpv6Packet.TypePacketTooBig => Abi.EMSGSIZE,
            Icmpv6Packet.TypeTimeExceeded => Abi.EHOSTUNREACH,
            _ => Abi.ENOPROTOOPT,
        };
        if (p.Type == Icmpv6Packet.TypePacketTooBig && _in.MtuInput(nh) is Ip6MtuInput mi)
        {
            mi(src, dst, q.Slice(Ipv6Packet.HeaderSize), p.Parameter);
            return;
        }
        _in.CtlInput(nh)?.Invoke(error, src, dst, q.Slice(Ipv6Packet.HeaderSize));
    }

    /// <summary>
    /// Sends ICMPv6 <paramref name="type"/>/<paramref name="code"/> with <paramref name="param"/>
    /// (MTU, pointer or 0) about the received packet <paramref name="offending"/> (whole, IPv6
    /// header first) back to its source, quoting as much as fits <see cref="MinMtu"/>. Does not consume it.
    /// </summary>
    public void Error(Mbuf offending, byte type, byte code, uint param)
    {
        ReadOnlySpan<byte> b = offending.Bytes;
        if (b.Length < Ipv6Packet.HeaderSize) return;
        Ipv6Addr src = Ipv6Addr.Read(b.Slice(8)), dst = Ipv6Addr.Read(b.Slice(24));
        if (In6.IsUnspecified(src) || src.IsMulticast) return;
        if (dst.IsMulticast && type != Icmpv6Packet.TypePacketTooBig && !(type == Icmpv6Packet.TypeParamProblem && code == 2)) return;
        if ((offending.Flags & (Mbuf.FlagBroadcast | Mbuf.FlagMulticast)) != 0 && type != Icmpv6Packet.TypePacketTooBig) return;
        if (b[6] == Ipv6Packet.NextIcmpv6 && b.Length > Ipv6Packet.HeaderSize && (b[Ipv6Packet.HeaderSize] < 128 || b[Ipv6Packet.HeaderSize] == Icmpv6Packet.TypeRedirect)) return;
        if (!RateOk())
        {
            Interlocked.Increment(ref S.Icmp6ErrorsRateLimited);
            return;
        }
        int quoted = Math.Min(b.Length, MinMtu - Ipv6Packet.HeaderSize - Icmpv6Packet.HeaderSize);
        Ipv6Addr from = dst.IsMulticast || _in.FindAddress(dst) == null ? Ipv6Addr.Unspecified : dst;
        if (In6.IsUnspecified(from) && _in.SelectSource(src, offending.RcvIf, out from) != 0) return;
        Mbuf? m = _in.Net.Mbufs.Get(Icmpv6Packet.HeaderSize + quoted);
        if (m == null) return;
        Icmpv6Packet.EmitError(m.Append(Icmpv6Packet.HeaderSize + quoted), from, src, type, code, param, b.Slice(0, quoted));
        Interlocked.Increment(ref S.Icmp6ErrorsSent);
        _in.Ip6.Output(m, from, src, Ipv6Packet.NextIcmpv6, Inet6.DefaultHopLimit, offending.RcvIf);
    }

    private bool RateOk()
    {
        long sec = Clock.MonotonicNs() / 1_000_000_000;
        if (Interlocked.Exchange(ref _rateSecond, sec) != sec) Volatile.Write(ref _rateCount, 0);
        return Interlocked.Increment(ref _rateCount) <= ErrorRateLimit;
    }

    /// <summary>
    /// Sends an echo request (the kernel's ping6: tests and tools use it; replies come to
    /// <see cref="EchoReply"/>). <paramref name="oif"/> is needed for link-local and multicast destinations.
    /// </summary>
    public int SendEcho(Ipv6Addr dst, ushort id, ushort seq, ReadOnlySpan<byte> data, Ifnet? oif = null)
    {
        Ifnet? scope = oif;
        int e = _in.SelectSource(dst, scope, out Ipv6Addr src);
        if (e != 0) return e;
        Mbuf? m = _in.Net.Mbufs.Get(Icmpv6Packet.HeaderSize + data.Length);
        if (m == null) return Abi.ENOBUFS;
        Icmpv6Packet.EmitEcho(m.Append(Icmpv6Packet.HeaderSize + data.Length), src, dst, false, id, seq, data);
        return _in.Ip6.Output(m, src, dst, Ipv6Packet.NextIcmpv6, Inet6.DefaultHopLimit, oif);
    }
}
