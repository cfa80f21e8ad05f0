using System;
using System.Buffers.Binary;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet6;

/// <summary>
/// IPv6 input and output (RFC 8200; NetBSD ip6_input.c, ip6_output.c).
///
/// Input (<see cref="Input"/>, in the interface's soft interrupt): the fixed header is checked
/// by the wire parser (version, payload length against the frame: each failure counted), link
/// padding is cut; a multicast source, or ::1 from a wire, is a martian; the destination must
/// be one of our usable addresses or a group the interface has joined (<see cref="Inet6.IsJoined"/>),
/// as this host does not forward. The extension headers are walked with the wire's bound
/// (at most 8; a longer chain, a truncated one or a misplaced hop-by-hop header is counted in
/// <see cref="Inet6Stats.Ip6BadExtension"/> and dropped). Options inside hop-by-hop and
/// destination-options headers are skipped, not interpreted. A fragment goes to
/// <see cref="Ip6Reass"/>, and the datagram it completes continues here with its headers walked
/// again. An unknown next header gets ICMPv6 parameter problem.
///
/// Output (<see cref="Output"/>, in thread context): ::1 and our own addresses go through lo0;
/// multicast goes out of the interface the caller names; a link-local destination goes out of
/// the named interface or, without one, the first Ethernet interface that is up and has a
/// link-local address; others follow the route. The source is chosen by
/// <see cref="Inet6.SelectSource"/> when unspecified. A packet larger than the MTU is cut into
/// fragments with a fragment header (RFC 8200 4.5), each a fresh mbuf. On Ethernet the next hop
/// is resolved by the interface's <see cref="Nd6Cache"/>.
/// No locks of its own.
/// </summary>
public sealed class Ip6
{
    public const int FragmentHeaderSize = 8;

    private readonly Inet6 _in;
    private int _nextId;

    internal Ip6(Inet6 inet)
    {
        _in = inet;
        _nextId = (int)(Clock.MonotonicNs() & 0x7fffffff);
    }

    private Inet6Stats S => _in.Stats;

    internal void Input(Lwp l, Mbuf m)
    {
        Interlocked.Increment(ref S.Ip6Total);
        Ifnet ifp = m.RcvIf!;
        WireError e = Ipv6Packet.Parse(m.Bytes, out Ipv6Packet p);
        if (e != WireError.Ok)
        {
            Interlocked.Increment(ref e == WireError.Truncated ? ref S.Ip6TooShort : ref S.Ip6BadHeader);
            m.Free();
            return;
        }
        Ipv6Addr src = p.Source, dst = p.Destination;
        byte hlim = p.HopLimit;
        bool fromWire = (ifp.Flags & Ifnet.IFF_LOOPBACK) == 0;
        if (src.IsMulticast || (fromWire && (In6.IsLoopback(src) || In6.IsLoopback(dst))) || In6.IsV4Mapped(src) || In6.IsV4Mapped(dst))
        {
            Interlocked.Increment(ref S.Ip6Martian);
            m.Free();
            return;
        }
        WireError we = p.WalkExtensions(out Ipv6Extensions x);
        int total = Ipv6Packet.HeaderSize + p.PayloadLength;
        if (total < m.Length) m.TrimTo(total);
        bool mcast = dst.IsMulticast;
        if (mcast ? !_in.IsJoined(dst, ifp) : _in.FindAddress(dst, fromWire ? ifp : null) == null && !(!fromWire && In6.IsLoopback(dst)))
        {
            Interlocked.Increment(ref S.Ip6NotOurs);
            m.Free();
            return;
        }
        if (we != WireError.Ok)
        {
            Interlocked.Increment(ref S.Ip6BadExtension);
            m.Free();
            return;
        }
        if (x.HasFragment)
        {
            Mbuf? whole = _in.Reass.Insert(m, x);
            if (whole == null) return;
            // The whole datagram's own headers, walked as any packet's; a fragment header among
            // them is a fragment inside a fragment, which no sender makes.
            m = whole;
            if (Ipv6Packet.Parse(m.Bytes, out p) != WireError.Ok || p.WalkExtensions(out x) != WireError.Ok || x.HasFragment)
            {
                Interlocked.Increment(ref S.Ip6BadExtension);
                m.Free();
                return;
            }
        }
        byte nh = x.UpperProtocol;
        if (nh == Ipv6Packet.NextNone) { Interlocked.Increment(ref S.Ip6Delivered); m.Free(); return; }
        Ip6ProtoInput? input = _in.Protocol(nh);
        if (input == null)
        {
            Interlocked.Increment(ref S.Ip6NoProto);
            // Parameter problem, unrecognised next header (RFC 8200 4): the pointer is the fixed header's field when no extension came before.
            if (x.Count == 0) _in.Icmp6.Error(m, Icmpv6Packet.TypeParamProblem, 1, 6);
            m.Free();
            return;
        }
        Interlocked.Increment(ref S.Ip6Delivered);
        input(l, m, new Ip6In(src, dst, x.UpperOffset, nh, hlim, mcast));
    }

    /// <summary>
    /// Sends the upper-layer message in <paramref name="m"/> (its first byte is that header)
    /// from <paramref name="src"/> (unspecified: chosen) to <paramref name="dst"/> with
    /// <paramref name="nh"/> and <paramref name="hlim"/>; <paramref name="oif"/> is the outgoing
    /// interface for multicast and scoped (link-local) destinations. Consumes m. Returns 0 (sent,
    /// or held while ND resolves) or an errno.
    /// </summary>
    public int Output(Mbuf m, Ipv6Addr src, Ipv6Addr dst, byte nh, byte hlim = Inet6.DefaultHopLimit, Ifnet? oif = null)
    {
        Interlocked.Increment(ref S.Ip6OutRequests);
        Ifnet? ifp;
        Ipv6Addr nextHop = dst;
        if (In6.IsLoopback(dst) || (!dst.IsMulticast && _in.FindAddress(dst, dst.IsLinkLocal ? oif : null) != null))
        {
            ifp = _in.Net.Lo0;
            if (In6.IsUnspecified(src)) src = dst;
        }
        else if (dst.IsMulticast)
        {
            ifp = oif;
            if (ifp == null) return Fail(m, Abi.ENETUNREACH, ref S.Ip6NoRoute);
        }
        else if (dst.IsLinkLocal)
        {
            ifp = oif;
            if (ifp == null)
                foreach (In6Ifaddr ia in _in.Addresses())
                    if (ia.Addr.IsLinkLocal && ia.Ifp.Type == Ifnet.IFT_ETHER && ia.Ifp.IsUp) { ifp = ia.Ifp; break; }
            if (ifp == null) return Fail(m, Abi.EHOSTUNREACH, ref S.Ip6NoRoute);
        }
        else
        {
            Rt6Entry? rt = _in.Lookup(dst, oif);
            if (rt == null) return Fail(m, Abi.EHOSTUNREACH, ref S.Ip6NoRoute);
            ifp = rt.Ifp;
            if (rt.IsGateway) nextHop = rt.Gateway;
        }
        if (In6.IsUnspecified(src))
        {
            int se = _in.SelectSource(dst, ifp == _in.Net.Lo0 ? null : ifp, out src);
            if (se != 0) return Fail(m, se, ref S.Ip6NoRoute);
        }
        var h = new Ipv6Header { Source = src, Destination = dst, NextHeader = nh, HopLimit = hlim };
        int payload = m.Length;
        if (payload > 0xffff) return Fail(m, Abi.EMSGSIZE, ref S.Ip6OutDiscard);
        // TCP's offloads, as IPv4 output (Ip.Output): a TSO segment whole to an interface that
        // cuts it, else dropped; a partial checksum completed unless the interface completes it.
        bool tso = (m.CsumFlags & Mbuf.CsumTsoV6) != 0;
        if (tso && !ifp.TsoFits(m)) return Fail(m, Abi.EMSGSIZE, ref S.Ip6OutDiscard);
        if ((m.CsumFlags & Mbuf.CsumTcpPartial) != 0 && (ifp.Capabilities & Ifnet.IFCAP_CSUM_TCPv6_Tx) == 0) Netinet.Ip.CompleteTcpChecksum(m);
        if (Ipv6Packet.HeaderSize + payload <= _in.LinkMtu(ifp) || tso)
        {
            Span<byte> hdr = m.Prepend(Ipv6Packet.HeaderSize);
            if (hdr.IsEmpty) return Fail(m, Abi.ENOBUFS, ref S.Ip6OutDiscard);
            Ipv6Packet.Emit(hdr, h, payload);
            return LinkOutput(ifp, m, nextHop);
        }
        Netinet.Ip.CompleteTcpChecksum(m);
        return Fragment(ifp, m, h, nextHop);
    }

    private static int Fail(Mbuf m, int error, ref long counter)
    {
        Interlocked.Increment(ref counter);
        m.Free();
        return error;
    }

    /// <summary>Cuts m's payload into fragments of the largest multiple of 8 that fits the MTU with the two headers, sent in order (RFC 8200 4.5). Consumes m.</summary>
    private int Fragment(Ifnet ifp, Mbuf m, Ipv6Header h, Ipv6Addr nextHop)
    {
        int chunk = (_in.LinkMtu(ifp) - Ipv6Packet.HeaderSize - FragmentHeaderSize) & ~7;
        if (chunk < 8) return Fail(m, Abi.EMSGSIZE, ref S.Ip6OutDiscard);
        Interlocked.Increment(ref S.Ip6Fragmented);
        uint id = (uint)Interlocked.Increment(ref _nextId);
        byte upper = h.NextHeader;
        h.NextHeader = Ipv6Packet.NextFragment;
        int error = 0, total = m.Length;
        for (int off = 0; off < total && error == 0; off += chunk)
        {
            int len = Math.Min(chunk, total - off);
            Mbuf? f = _in.Net.Mbufs.Get(Ipv6Packet.HeaderSize + FragmentHeaderSize + len);
            if (f == null) { error = Abi.ENOBUFS; break; }
            f.Append(m.Bytes.Slice(off, len));
            Span<byte> fh = f.Prepend(FragmentHeaderSize);
            fh[0] = upper;
            fh[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(fh.Slice(2), (ushort)(off | (off + len < total ? 1 : 0)));
            BinaryPrimitives.WriteUInt32BigEndian(fh.Slice(4), id);
            Ipv6Packet.Emit(f.Prepend(Ipv6Packet.HeaderSize), h, FragmentHeaderSize + len);
            Interlocked.Increment(ref S.Ip6FragsCreated);
            error = LinkOutput(ifp, f, nextHop);
        }
        m.Free();
        return error;
    }

    /// <summary>A whole IPv6 packet to the link: lo0 loops it; on Ethernet multicast maps to 33:33:xx, unicast goes through ND. Consumes m.</summary>
    internal int LinkOutput(Ifnet ifp, Mbuf m, Ipv6Addr nextHop)
    {
        m.Protocol = EthernetFrame.TypeIpv6;
        if (ifp.Type != Ifnet.IFT_ETHER) return ifp.Output(m);
        if (nextHop.IsMulticast) return Ether.EtherOutput(ifp, m, In6.EtherMulticast(nextHop));
        Nd6Cache? nd = _in.NdOf(ifp);
        if (nd == null) return Fail(m, Abi.EHOSTUNREACH, ref S.Ip6NoRoute);
        return nd.Resolve(m, nextHop);
    }
}
