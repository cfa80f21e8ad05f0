using System;
using System.Threading;
using Rump.Kern;
using Rump.Net.Route;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// IPv4 input and output (RFC 791, RFC 1122 3.2.1 and 3.3; NetBSD ip_input.c, ip_output.c).
///
/// Input (<see cref="Input"/>, in the interface's soft interrupt): the header is checked by the
/// wire parser (version, header length, checksum, total length against the frame: each failure
/// counted), link padding is cut, packets not for one of our addresses or a broadcast address
/// are dropped (this host does not forward), options are skipped (the header length covers
/// them), fragments go to <see cref="IpReass"/>, and the whole datagram goes to its protocol;
/// an unknown protocol gets ICMP protocol-unreachable. Packets claiming a loopback source or
/// destination from a wire are martians (RFC 1122 3.2.1.3) and dropped.
///
/// Output (<see cref="Output"/>, in thread context): the route gives the interface and next hop;
/// our own addresses go through lo0; the header is prepended in the mbuf's headroom; a datagram
/// larger than the route's path MTU (<see cref="Route.RtEntry.PathMtu"/>: the interface's, or
/// less where path-MTU discovery learned less) is cut into fragments (or refused with EMSGSIZE
/// if it must not be). On Ethernet the next hop is resolved through the interface's <see cref="ArpCache"/>.
/// </summary>
public sealed class Ip
{
    /// <summary>
    /// Output flags: NetBSD's IP_ALLOWBROADCAST; DF as the caller's choice; and NetBSD's
    /// IP_MTUDISC (TCP, RFC 1191): DF unless the route has path-MTU discovery off (<see cref="Route.RtEntry.MtuLocked"/>).
    /// </summary>
    public const int AllowBroadcast = 0x20, DontFragment = 0x400, MtuDiscovery = 0x800;

    private readonly Inet _in;
    private int _nextId;

    internal Ip(Inet inet)
    {
        _in = inet;
        _nextId = (int)(Clock.MonotonicNs() & 0xffff);
    }

    private InetStats S => _in.Stats;

    internal void Input(Lwp l, Mbuf m)
    {
        Interlocked.Increment(ref S.IpTotal);
        Ifnet ifp = m.RcvIf!;
        WireError e = Ipv4Packet.Parse(m.Bytes, out Ipv4Packet p);
        if (e != WireError.Ok)
        {
            if (e == WireError.BadChecksum) Interlocked.Increment(ref S.IpBadChecksum);
            else if (e == WireError.Truncated) Interlocked.Increment(ref S.IpTooShort);
            else Interlocked.Increment(ref S.IpBadHeader);
            m.Free();
            return;
        }
        Ipv4Addr src = p.Source, dst = p.Destination;
        int hlen = p.HeaderLength, total = p.TotalLength;
        bool isFrag = p.IsFragment;
        byte proto = p.Protocol, ttl = p.Ttl, tos = p.Tos;
        bool fromWire = (ifp.Flags & Ifnet.IFF_LOOPBACK) == 0;
        if (fromWire && (src.IsLoopback || dst.IsLoopback) || src.IsMulticast || src == Ipv4Addr.Broadcast)
        {
            Interlocked.Increment(ref S.IpMartian);
            m.Free();
            return;
        }
        if (total < m.Length) m.TrimTo(total);
        bool bcast = (m.Flags & (Mbuf.FlagBroadcast | Mbuf.FlagMulticast)) != 0;
        if (_in.FindAddress(dst) == null && !(dst.IsLoopback && !fromWire))
        {
            if (!_in.IsBroadcast(dst, ifp))
            {
                // Multicast groups are not joined yet; everything else is another host's (no forwarding).
                Interlocked.Increment(ref S.IpNotOurs);
                m.Free();
                return;
            }
            bcast = true;
        }
        if (isFrag)
        {
            Interlocked.Increment(ref S.IpFragments);
            Mbuf? whole = _in.Reass.Insert(m);
            if (whole == null) return;
            m = whole;
            Interlocked.Increment(ref S.IpReassembled);
            hlen = (m.Bytes[0] & 0xf) * 4;
        }
        IpProtoInput? input = _in.Protocol(proto);
        if (input == null)
        {
            Interlocked.Increment(ref S.IpNoProto);
            if (!bcast) _in.Icmp.Error(m, Icmpv4Packet.TypeUnreachable, Icmpv4Packet.CodeProtoUnreachable, 0, bcast);
            m.Free();
            return;
        }
        Interlocked.Increment(ref S.IpDelivered);
        input(l, m, new IpIn(src, dst, hlen, proto, ttl, tos, bcast));
    }

    /// <summary>
    /// Sends the transport segment in <paramref name="m"/> (its first byte is the transport
    /// header) from <paramref name="src"/> (0.0.0.0: chosen by route) to <paramref name="dst"/>.
    /// Flags: <see cref="AllowBroadcast"/> (the socket has SO_BROADCAST; else EACCES for a
    /// broadcast destination), <see cref="DontFragment"/> (EMSGSIZE past the MTU). Consumes m.
    /// <paramref name="outIf"/>: a limited broadcast (255.255.255.255) leaves through this
    /// interface, whether or not it has an address, from <paramref name="src"/> as given (a DHCP
    /// client's 0.0.0.0; NetBSD's IP_PKTINFO with an interface index).
    /// Returns 0 (sent, or held while ARP resolves) or an errno.
    /// </summary>
    public int Output(Mbuf m, Ipv4Addr src, Ipv4Addr dst, byte proto, int flags = 0, byte ttl = Inet.DefaultTtl, byte tos = 0, Ifnet? outIf = null)
    {
        Interlocked.Increment(ref S.IpOutRequests);
        Ifnet ifp;
        Ipv4Addr nextHop = dst;
        bool bcast = false;
        int mtu = 0;
        if (dst.IsLoopback || _in.FindAddress(dst) != null)
        {
            // Our own address: looped back through lo0, as NetBSD's local routes do.
            ifp = _in.Net.Lo0;
            if (src == Ipv4Addr.Any) src = dst.IsLoopback ? Inet.Loopback : dst;
        }
        else if (dst == Ipv4Addr.Broadcast && outIf != null)
        {
            if ((outIf.Flags & Ifnet.IFF_BROADCAST) == 0 || !outIf.IsUp || outIf.Owner != _in.Net) return Fail(m, Abi.ENETUNREACH, ref S.IpNoRoute);
            ifp = outIf;
            bcast = true;
        }
        else if (dst == Ipv4Addr.Broadcast)
        {
            InIfaddr? ia = src != Ipv4Addr.Any ? _in.FindAddress(src) : null;
            if (ia == null)
                foreach (InIfaddr a in _in.Addresses())
                    if ((a.Ifp.Flags & (Ifnet.IFF_LOOPBACK | Ifnet.IFF_BROADCAST)) == Ifnet.IFF_BROADCAST && a.Ifp.IsUp) { ia = a; break; }
            if (ia == null) return Fail(m, Abi.ENETUNREACH, ref S.IpNoRoute);
            ifp = ia.Ifp;
            if (src == Ipv4Addr.Any) src = ia.Addr;
            bcast = true;
        }
        else
        {
            RtEntry? rt = _in.Lookup(dst);
            if (rt == null) return Fail(m, Abi.EHOSTUNREACH, ref S.IpNoRoute);
            ifp = rt.Ifp;
            nextHop = rt.NextHop(dst);
            if (src == Ipv4Addr.Any) src = rt.IfAddr;
            bcast = !rt.IsGateway && _in.IsBroadcast(dst, ifp);
            mtu = rt.PathMtu;
            if ((flags & MtuDiscovery) != 0 && !rt.MtuLocked) flags |= DontFragment;
        }
        if (mtu == 0) mtu = ifp.Mtu;
        if (bcast && (flags & AllowBroadcast) == 0) return Fail(m, Abi.EACCES, ref S.IpOutDiscard);
        var h = new Ipv4Header
        {
            Source = src, Destination = dst, Protocol = proto, Ttl = ttl, Tos = tos,
            Identification = (ushort)Interlocked.Increment(ref _nextId),
            DontFragment = (flags & DontFragment) != 0,
        };
        int payload = m.Length;
        if (payload > 0xffff - Ipv4Packet.MinHeaderSize) return Fail(m, Abi.EMSGSIZE, ref S.IpCantFrag);
        // A TSO segment goes whole to an interface that cuts it; on another (the route changed
        // under TCP) it is dropped, and TCP resends its bytes a segment at a time.
        bool tso = (m.CsumFlags & Mbuf.CsumTsoV4) != 0;
        if (tso && !ifp.TsoFits(m)) return Fail(m, Abi.EMSGSIZE, ref S.IpOutDiscard);
        if ((m.CsumFlags & Mbuf.CsumTcpPartial) != 0 && (ifp.Capabilities & Ifnet.IFCAP_CSUM_TCPv4_Tx) == 0) CompleteTcpChecksum(m);
        if (Ipv4Packet.MinHeaderSize + payload <= mtu || tso)
        {
            Span<byte> hdr = m.Prepend(Ipv4Packet.MinHeaderSize);
            if (hdr.IsEmpty) return Fail(m, Abi.ENOBUFS, ref S.IpOutDiscard);
            Ipv4Packet.Emit(hdr, h, payload);
            return LinkOutput(ifp, m, nextHop, bcast);
        }
        if (h.DontFragment) return Fail(m, Abi.EMSGSIZE, ref S.IpCantFrag);
        CompleteTcpChecksum(m);
        return Fragment(ifp, mtu, m, h, nextHop, bcast);
    }

    /// <summary>
    /// A TCP segment whose checksum was left to the interface (<see cref="Mbuf.CsumTcpPartial"/>)
    /// gets it computed here: for an interface that cannot, and before fragmenting (the fragments
    /// are new buffers the interface knows nothing about).
    /// </summary>
    internal static void CompleteTcpChecksum(Mbuf m)
    {
        if ((m.CsumFlags & Mbuf.CsumTcpPartial) == 0) return;
        TcpPacket.CompletePartialChecksum(m.Bytes.Slice(m.L4Offset));
        m.CsumFlags &= unchecked((byte)~Mbuf.CsumTcpPartial);
    }

    private static int Fail(Mbuf m, int error, ref long counter)
    {
        Interlocked.Increment(ref counter);
        m.Free();
        return error;
    }

    /// <summary>
    /// Cuts the payload of <paramref name="m"/> into fragments of the largest multiple of 8 that
    /// fits <paramref name="mtu"/> (RFC 791 3.2), each a fresh mbuf with its own header, sent in order. Consumes m.
    /// </summary>
    private int Fragment(Ifnet ifp, int mtu, Mbuf m, Ipv4Header h, Ipv4Addr nextHop, bool bcast)
    {
        int chunk = (mtu - Ipv4Packet.MinHeaderSize) & ~7;
        if (chunk < 8) return Fail(m, Abi.EMSGSIZE, ref S.IpCantFrag);
        Interlocked.Increment(ref S.IpFragmented);
        int error = 0;
        int total = m.Length;
        for (int off = 0; off < total && error == 0; off += chunk)
        {
            int len = Math.Min(chunk, total - off);
            Mbuf? f = _in.Net.Mbufs.Get(Ipv4Packet.MinHeaderSize + len);
            if (f == null) { error = Abi.ENOBUFS; break; }
            f.Append(m.Bytes.Slice(off, len));
            h.FragmentOffset = off;
            h.MoreFragments = off + len < total;
            Ipv4Packet.Emit(f.Prepend(Ipv4Packet.MinHeaderSize), h, len);
            Interlocked.Increment(ref S.IpFragsCreated);
            error = LinkOutput(ifp, f, nextHop, bcast);
        }
        m.Free();
        return error;
    }

    /// <summary>A whole IPv4 packet to the link: lo0 loops it, Ethernet resolves the next hop with ARP (or holds the packet meanwhile). Consumes m.</summary>
    internal int LinkOutput(Ifnet ifp, Mbuf m, Ipv4Addr nextHop, bool bcast)
    {
        m.Protocol = EthernetFrame.TypeIpv4;
        if (ifp.Type != Ifnet.IFT_ETHER) return ifp.Output(m);
        if (bcast) return Ether.EtherOutput(ifp, m, EtherAddr.Broadcast);
        ArpCache? arp = _in.ArpOf(ifp);
        if (arp == null) return Fail(m, Abi.EHOSTUNREACH, ref S.IpNoRoute);
        return arp.Resolve(m, nextHop);
    }
}
