using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Route;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>An IPv4 address on an interface (NetBSD's in_ifaddr).</summary>
public sealed class InIfaddr
{
    public readonly Ifnet Ifp;
    public readonly Ipv4Addr Addr, Mask, Broadcast;

    public InIfaddr(Ifnet ifp, Ipv4Addr addr, Ipv4Addr mask, Ipv4Addr broadcast)
    {
        Ifp = ifp;
        Addr = addr;
        Mask = mask;
        Broadcast = broadcast;
    }

    public Ipv4Addr Network => new(Addr.Value & Mask.Value);
    public override string ToString() => $"{Addr}/{System.Numerics.BitOperations.PopCount(Mask.Value)} brd {Broadcast} dev {Ifp.Name}";
}

/// <summary>What IPv4 input tells a protocol about the datagram it hands it (NetBSD passes the header in the mbuf; this is it parsed).</summary>
public readonly struct IpIn
{
    public readonly Ipv4Addr Src, Dst;
    public readonly int HeaderLength;
    public readonly byte Protocol, Ttl, Tos;
    /// <summary>Sent to a broadcast address (link or IP): no errors go back, only broadcast-listening PCBs get it.</summary>
    public readonly bool Broadcast;

    public IpIn(Ipv4Addr src, Ipv4Addr dst, int hlen, byte proto, byte ttl, byte tos, bool bcast)
    { Src = src; Dst = dst; HeaderLength = hlen; Protocol = proto; Ttl = ttl; Tos = tos; Broadcast = bcast; }
}

/// <summary>
/// A protocol's input (NetBSD pr_input): <paramref name="m"/> starts at the IPv4 header (kept so
/// that an ICMP error can quote it) and <paramref name="ip"/> describes it. The protocol owns m.
/// </summary>
public delegate void IpProtoInput(Lwp l, Mbuf m, in IpIn ip);

/// <summary>
/// An ICMP error about a datagram this host sent (NetBSD pr_ctlinput): <paramref name="error"/>
/// is the errno it means, <paramref name="src"/>/<paramref name="dst"/> the offending datagram's
/// addresses (ours, theirs), <paramref name="quoted"/> the start of its transport header (at
/// least 8 bytes: the ports).
/// </summary>
public delegate void IpCtlInput(int error, Ipv4Addr src, Ipv4Addr dst, ReadOnlySpan<byte> quoted);

/// <summary>
/// ICMP "fragmentation needed and DF set" about a datagram this host sent (NetBSD's
/// PRC_MSGSIZE with the ICMP message): as <see cref="IpCtlInput"/>, with the router's next-hop
/// MTU (<paramref name="nextMtu"/>, 0 from an RFC 792 router) and the quoted datagram's total
/// and header lengths, for <see cref="Inet.MtuDisc"/> once the protocol has vouched for it.
/// </summary>
public delegate void IpMtuInput(Ipv4Addr src, Ipv4Addr dst, ReadOnlySpan<byte> quoted, int nextMtu, int quotedLen, int quotedHlen);

/// <summary>IPv4 counters (NetBSD's ipstat, icmpstat, udpstat, arpstat: what netstat -s shows).</summary>
public sealed class InetStats : IReassStats
{
    public long IpTotal, IpBadHeader, IpBadChecksum, IpTooShort, IpBadOptions, IpNotOurs, IpNoProto, IpDelivered,
        IpFragments, IpFragDropped, IpFragTimeout, IpFragOverlap, IpReassembled, IpOutRequests, IpFragmented, IpFragsCreated, IpNoRoute, IpCantFrag, IpOutDiscard, IpMartian;
    public long IcmpIn, IcmpBad, IcmpEchoReplies, IcmpErrorsSent, IcmpErrorsIn;
    /// <summary>Path-MTU discovery: a route's MTU lowered (NetBSD's icmp pmtuchg), and discovery stopped for a route by an MTU not believed.</summary>
    public long IcmpPmtuChanged, IcmpPmtuLocked;
    public long UdpIn, UdpBadChecksum, UdpBadLength, UdpNoPort, UdpFullSock, UdpOut;
    public long ArpIn, ArpBad, ArpRequestsSent, ArpRepliesSent, ArpDropHeld, ArpTimeouts, ArpDuplicate;
    /// <summary>The DHCP client's (<see cref="DhcpClient"/>): requests sent, replies seen, and those ignored by reason.</summary>
    public long DhcpSent, DhcpReplies, DhcpBadFormat, DhcpNotOurs, DhcpNoType, DhcpUnexpected, DhcpNak;

    ref long IReassStats.FragDropped => ref IpFragDropped;
    ref long IReassStats.FragOverlap => ref IpFragOverlap;
    ref long IReassStats.FragTimeout => ref IpFragTimeout;
}

/// <summary>
/// One kernel's IPv4 (NetBSD's netinet: in.c, in_proto.c, ip_input.c, ip_output.c, and the
/// route table for AF_INET). Read RFC 791, RFC 1122 section 3, RFC 826, RFC 792, RFC 768.
///
/// Parts: interface addresses and the routing table here; <see cref="Ip"/> (input and output,
/// fragmentation), <see cref="IpReass"/> (reassembly), <see cref="ArpCache"/> (one per Ethernet
/// interface), <see cref="Icmp"/> and <see cref="Udp"/>. Protocols register in a table by
/// protocol number (<see cref="SetProtocol"/>; ICMP and UDP at init, TCP later).
///
/// Locks, in the order they are taken: <see cref="_cfgLock"/> (the address list's writers, the
/// route table, the ARP-cache list's writers), then an <see cref="ArpCache"/>'s lock; the
/// reassembly lock and UDP's PCB lock are leaves taken alone. No lock is held while a packet goes
/// to an interface's output (drivers may sleep) or up to a protocol. The address and ARP-cache
/// lists are copy-on-write arrays, read on the data path without a lock.
/// </summary>
public sealed class Inet
{
    public const byte DefaultTtl = 64; // NetBSD's IPDEFTTL
    public static readonly Ipv4Addr Loopback = new(127, 0, 0, 1);

    internal readonly Kernel Kernel;
    public readonly Net Net;
    public readonly InetStats Stats = new();
    public readonly Ip Ip;
    public readonly IpReass Reass;
    public readonly Icmp Icmp;
    public readonly Udp Udp;

    private readonly KMutex _cfgLock;
    /// <summary>Protected by <see cref="_cfgLock"/>.</summary>
    private readonly RouteTable _routes = new();
    private InIfaddr[] _addrs = Array.Empty<InIfaddr>();
    private ArpCache[] _arps = Array.Empty<ArpCache>();
    private readonly IpProtoInput?[] _protos = new IpProtoInput?[256];
    private readonly IpCtlInput?[] _ctls = new IpCtlInput?[256];
    private readonly IpMtuInput?[] _mtus = new IpMtuInput?[256];

    internal Inet(Net net)
    {
        Net = net;
        Kernel = net.Kernel;
        _cfgLock = new KMutex(Kernel);
        Ip = new Ip(this);
        Reass = new IpReass(this);
        Icmp = new Icmp(this);
        Udp = new Udp(this);
        SetProtocol(Ipv4Packet.ProtoIcmp, Icmp.Input, null);
        SetProtocol(Ipv4Packet.ProtoUdp, Udp.Input, Udp.CtlInput);
        net.SetProtocolInput(EthernetFrame.TypeIpv4, Ip.Input);
        net.SetProtocolInput(EthernetFrame.TypeArp, ArpInput);
        net.Domains.Register(new UdpProto(Udp));
        // NetBSD's rump kernels come up with lo0 at 127.0.0.1/8.
        if (AddAddress(net.Lo0, Loopback, new Ipv4Addr(255, 0, 0, 0), default) != 0) Kernel.Panic("cannot configure lo0");
    }

    /// <summary>Registers the input (and ICMP-error) routine of IP protocol <paramref name="proto"/>; while components initialise (TCP: 6).</summary>
    public void SetProtocol(byte proto, IpProtoInput input, IpCtlInput? ctl)
    {
        Volatile.Write(ref _protos[proto], input);
        Volatile.Write(ref _ctls[proto], ctl);
    }

    /// <summary>Registers protocol <paramref name="proto"/>'s path-MTU routine (TCP's); fragmentation needed goes there instead of to its ctlinput.</summary>
    public void SetMtuInput(byte proto, IpMtuInput mtu) => Volatile.Write(ref _mtus[proto], mtu);
    internal IpMtuInput? MtuInput(byte proto) => Volatile.Read(ref _mtus[proto]);

    internal IpProtoInput? Protocol(byte proto) => Volatile.Read(ref _protos[proto]);
    internal IpCtlInput? CtlInput(byte proto) => Volatile.Read(ref _ctls[proto]);

    // ---- addresses (SIOCAIFADDR / SIOCDIFADDR) -------------------------------------------------

    /// <summary>
    /// Adds <paramref name="addr"/>/<paramref name="mask"/> to <paramref name="ifp"/> (NetBSD
    /// in_control SIOCAIFADDR): replaces the interface's entry for the same address, adds the
    /// connected route of the subnet, and announces the address with a gratuitous ARP on
    /// Ethernet. A broadcast of 0.0.0.0 means the subnet's. EINVAL for a bad mask, an unattached interface or 0.0.0.0.
    /// </summary>
    public int AddAddress(Ifnet ifp, Ipv4Addr addr, Ipv4Addr mask, Ipv4Addr broadcast)
    {
        if (ifp.Owner != Net || addr == Ipv4Addr.Any || addr.IsMulticast || addr == Ipv4Addr.Broadcast || !RouteTable.IsContiguous(mask))
            return Abi.EINVAL;
        if (broadcast == Ipv4Addr.Any && (ifp.Flags & Ifnet.IFF_BROADCAST) != 0 && mask.Value != 0xffffffff)
            broadcast = new Ipv4Addr(addr.Value | ~mask.Value);
        var ia = new InIfaddr(ifp, addr, mask, broadcast);
        ArpCache? arp = null;
        _cfgLock.Enter();
        try
        {
            var list = new List<InIfaddr>(_addrs.Length + 1);
            foreach (InIfaddr o in _addrs)
            {
                if (o.Addr == addr && o.Ifp != ifp) return Abi.EADDRINUSE;
                if (o.Addr == addr) _routes.DeleteAddress(ifp, addr);
                else list.Add(o);
            }
            list.Add(ia);
            // The subnet's connected route (a host route for a /32), unless another address already brought it.
            var rt = new RtEntry(addr, mask, default, RtEntry.RTF_CONNECTED, ifp, addr);
            if (_routes.Get(addr, mask) == null) _routes.Add(rt);
            Volatile.Write(ref _addrs, list.ToArray());
            if (ifp.Type == Ifnet.IFT_ETHER) arp = ArpOfLocked(ifp, create: true);
        }
        finally { _cfgLock.Exit(); }
        arp?.SendRequest(addr, addr); // gratuitous ARP (RFC 5227 announcement)
        return 0;
    }

    /// <summary>Removes <paramref name="addr"/> from <paramref name="ifp"/> with its connected route (SIOCDIFADDR); EADDRNOTAVAIL if it has no such address.</summary>
    public int DeleteAddress(Ifnet ifp, Ipv4Addr addr)
    {
        _cfgLock.Enter();
        try
        {
            var list = new List<InIfaddr>(_addrs);
            int i = list.FindIndex(a => a.Ifp == ifp && a.Addr == addr);
            if (i < 0) return Abi.EADDRNOTAVAIL;
            InIfaddr gone = list[i];
            list.RemoveAt(i);
            _routes.DeleteAddress(ifp, addr);
            // Another address of the same subnet keeps the subnet reachable.
            foreach (InIfaddr o in list)
                if (o.Ifp == ifp && o.Mask == gone.Mask && o.Network == gone.Network && _routes.Get(o.Addr, o.Mask) == null)
                    _routes.Add(new RtEntry(o.Addr, o.Mask, default, RtEntry.RTF_CONNECTED, ifp, o.Addr));
            Volatile.Write(ref _addrs, list.ToArray());
            return 0;
        }
        finally { _cfgLock.Exit(); }
    }

    /// <summary>Forgets everything about <paramref name="ifp"/> (it is being destroyed): addresses, routes, ARP entries and held packets.</summary>
    public void InterfaceGone(Ifnet ifp)
    {
        ArpCache? arp;
        _cfgLock.Enter();
        var list = new List<InIfaddr>();
        foreach (InIfaddr o in _addrs) if (o.Ifp != ifp) list.Add(o);
        Volatile.Write(ref _addrs, list.ToArray());
        _routes.DeleteInterface(ifp);
        arp = ArpOfLocked(ifp, create: false);
        if (arp != null)
        {
            var arps = new List<ArpCache>(_arps);
            arps.Remove(arp);
            Volatile.Write(ref _arps, arps.ToArray());
        }
        _cfgLock.Exit();
        arp?.Flush();
    }

    /// <summary>The addresses, in the order they were added (a copy-on-write snapshot: do not modify).</summary>
    public InIfaddr[] Addresses() => Volatile.Read(ref _addrs);

    /// <summary>The address entry holding <paramref name="a"/>, on any interface (the weak host model of RFC 1122 3.3.4.2), or null.</summary>
    public InIfaddr? FindAddress(Ipv4Addr a)
    {
        foreach (InIfaddr ia in Volatile.Read(ref _addrs)) if (ia.Addr == a) return ia;
        return null;
    }

    /// <summary>The first address of <paramref name="ifp"/>, or null.</summary>
    public InIfaddr? AddressOf(Ifnet ifp)
    {
        foreach (InIfaddr ia in Volatile.Read(ref _addrs)) if (ia.Ifp == ifp) return ia;
        return null;
    }

    /// <summary>Whether <paramref name="a"/> is a broadcast address of <paramref name="ifp"/> (NetBSD in_broadcast): all ones, all zeros, or a subnet's broadcast or network address there.</summary>
    public bool IsBroadcast(Ipv4Addr a, Ifnet? ifp)
    {
        if (a == Ipv4Addr.Broadcast || a == Ipv4Addr.Any) return true;
        if (ifp == null || (ifp.Flags & Ifnet.IFF_BROADCAST) == 0) return false;
        foreach (InIfaddr ia in Volatile.Read(ref _addrs))
            if (ia.Ifp == ifp && ia.Mask.Value != 0xffffffff && (a == ia.Broadcast || a == ia.Network)) return true;
        return false;
    }

    // ---- routes (RTM_ADD / RTM_DELETE / RTM_GET) ----------------------------------------------

    /// <summary>
    /// Adds a route to <paramref name="dst"/>/<paramref name="mask"/> via <paramref name="gateway"/>
    /// (RTF_GATEWAY), which must be reachable on a connected subnet (ENETUNREACH otherwise, as
    /// NetBSD's route add says). The interface and source address come from that subnet.
    /// </summary>
    public int AddRoute(Ipv4Addr dst, Ipv4Addr mask, Ipv4Addr gateway)
    {
        _cfgLock.Enter();
        try
        {
            RtEntry? via = null;
            foreach (RtEntry r in _routes.ToArray())
                if (!r.IsGateway && r.Matches(gateway)) { via = r; break; }
            if (via == null) return Abi.ENETUNREACH;
            return _routes.Add(new RtEntry(dst, mask, gateway, RtEntry.RTF_GATEWAY | RtEntry.RTF_STATIC, via.Ifp, via.IfAddr));
        }
        finally { _cfgLock.Exit(); }
    }

    public int DeleteRoute(Ipv4Addr dst, Ipv4Addr mask)
    {
        _cfgLock.Enter();
        try { return _routes.Delete(dst, mask); }
        finally { _cfgLock.Exit(); }
    }

    /// <summary>The route a packet to <paramref name="dst"/> takes (RTM_GET), or null.</summary>
    public RtEntry? Lookup(Ipv4Addr dst)
    {
        _cfgLock.Enter();
        RtEntry? r = _routes.Lookup(dst, _routes.HasExpiring ? NowMs : 0);
        _cfgLock.Exit();
        return r;
    }

    private static long NowMs => Math.Max(1, Clock.MonotonicNs() / 1_000_000);

    /// <summary>How long a learned path MTU lasts (NetBSD's net.inet.ip.mtudisc_timeout, 10 minutes), then the interface's MTU is tried again (RFC 1191 6.3).</summary>
    public const long MtuDiscTimeoutMs = 600_000;
    /// <summary>RFC 1191's plateau table (section 7), as NetBSD's ip_icmp.c has it, for routers that report no MTU.</summary>
    private static ReadOnlySpan<ushort> MtuPlateaus => new ushort[] { 65535, 65280, 32000, 17914, 9180, 8166, 4352, 2002, 1492, 1006, 508, 296, 68 };
    /// <summary>Below this a reported MTU is not believed (NetBSD's icmp_mtudisc): discovery stops for the route instead.</summary>
    public const int MinPathMtu = 296;

    /// <summary>
    /// ICMP "fragmentation needed" about a packet to <paramref name="dst"/> that a protocol has
    /// vouched for (NetBSD icmp_mtudisc; TCP checks the quoted sequence number first). The MTU is
    /// stored in a host route: the route to dst if it is one, else a dynamic host route cloned
    /// from it (RTF_HOST | RTF_DYNAMIC, the parent's gateway, interface and source), which goes
    /// away <see cref="MtuDiscTimeoutMs"/> after the last report. <paramref name="nextMtu"/> 0 (an
    /// RFC 792 router) is guessed from the quoted datagram's length <paramref name="quotedLen"/>
    /// (header length <paramref name="quotedHlen"/>) by the plateau table. An MTU below 296 or above
    /// the interface's stops discovery for the route (NetBSD's RTV_MTU: DF no longer set); one not
    /// below the path MTU in force changes nothing. Returns the path MTU now in force (0: no route, or
    /// discovery off for it).
    /// </summary>
    public int MtuDisc(Ipv4Addr dst, int nextMtu, int quotedLen, int quotedHlen)
    {
        _cfgLock.Enter();
        try
        {
            long now = NowMs;
            RtEntry? rt = _routes.Lookup(dst, _routes.HasExpiring ? now : 0);
            if (rt == null) return 0;
            if ((rt.Flags & RtEntry.RTF_HOST) == 0)
            {
                var h = new RtEntry(dst, new Ipv4Addr(0xffffffff), rt.Gateway, (rt.Flags & RtEntry.RTF_GATEWAY) | RtEntry.RTF_HOST | RtEntry.RTF_DYNAMIC, rt.Ifp, rt.IfAddr)
                {
                    Mtu = rt.Mtu, MtuLocked = rt.MtuLocked,
                };
                if (_routes.Add(h) != 0) return 0;
                rt = h;
            }
            _routes.HasExpiring = true;
            rt.ExpireMs = now + MtuDiscTimeoutMs;
            int mtu = nextMtu;
            if (mtu == 0)
            {
                mtu = quotedLen;
                // Some 4.2BSD-derived routers report the length less the header.
                if (rt.Mtu != 0 && mtu > rt.Mtu) mtu -= quotedHlen;
                if (mtu == 0) mtu = rt.Ifp.Mtu;
                int guess = 0;
                foreach (ushort p in MtuPlateaus) if (mtu > p) { guess = p; break; }
                mtu = guess;
            }
            if (rt.MtuLocked) return 0;
            if (mtu < MinPathMtu || mtu > rt.Ifp.Mtu)
            {
                rt.MtuLocked = true;
                Interlocked.Increment(ref Stats.IcmpPmtuLocked);
                return 0;
            }
            if (mtu < rt.PathMtu)
            {
                Volatile.Write(ref rt.Mtu, mtu);
                Interlocked.Increment(ref Stats.IcmpPmtuChanged);
            }
            return rt.PathMtu;
        }
        finally { _cfgLock.Exit(); }
    }

    public RtEntry[] Routes()
    {
        _cfgLock.Enter();
        RtEntry[] r = _routes.ToArray();
        _cfgLock.Exit();
        return r;
    }

    /// <summary>
    /// The source address a packet to <paramref name="dst"/> gets (NetBSD in_selectsrc): the
    /// destination itself if it is ours, else the address of its route's interface; EHOSTUNREACH without a route.
    /// </summary>
    public int SelectSource(Ipv4Addr dst, out Ipv4Addr src)
    {
        src = default;
        if (dst.IsLoopback) { src = Loopback; return 0; }
        if (FindAddress(dst) is InIfaddr own) { src = own.Addr; return 0; }
        if (dst == Ipv4Addr.Broadcast)
        {
            foreach (InIfaddr ia in Volatile.Read(ref _addrs))
                if ((ia.Ifp.Flags & Ifnet.IFF_LOOPBACK) == 0 && ia.Ifp.IsUp) { src = ia.Addr; return 0; }
            return Abi.ENETUNREACH;
        }
        RtEntry? r = Lookup(dst);
        if (r == null) return Abi.EHOSTUNREACH;
        src = r.IfAddr;
        return 0;
    }

    // ---- ARP ------------------------------------------------------------------------------------

    /// <summary>The ARP cache of <paramref name="ifp"/>, or null if it has none (not Ethernet, or no address yet).</summary>
    public ArpCache? ArpOf(Ifnet ifp)
    {
        foreach (ArpCache c in Volatile.Read(ref _arps)) if (c.Ifp == ifp) return c;
        return null;
    }

    private ArpCache? ArpOfLocked(Ifnet ifp, bool create)
    {
        ArpCache? c = ArpOf(ifp);
        if (c != null || !create) return c;
        c = new ArpCache(this, ifp);
        var n = new ArpCache[_arps.Length + 1];
        _arps.CopyTo(n, 0);
        n[^1] = c;
        Volatile.Write(ref _arps, n);
        return c;
    }

    private void ArpInput(Lwp l, Mbuf m)
    {
        ArpCache? c = m.RcvIf == null ? null : ArpOf(m.RcvIf);
        if (c == null)
        {
            // An interface without an IPv4 address: nobody to answer for, nothing to learn.
            Interlocked.Increment(ref Stats.ArpIn);
            m.Free();
            return;
        }
        c.Input(m);
    }
}
