using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Kern;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Net.Netinet6;

/// <summary>
/// UDP over IPv6: what <see cref="UdpEngine"/> leaves to the family (RFC 8200 8.1: the checksum
/// is mandatory, a zero one is dropped; NetBSD udp6_usrreq.c, in6_pcb.c). A multicast datagram
/// goes to every PCB bound to its port. A link-local address carries its interface
/// (<see cref="UdpPcb.ScopeIf"/>, from sin6_scope_id or the address's own), and a datagram to a
/// link-local or multicast address leaves by it. PCBs exist for sockets only (<see cref="Udp6Proto"/>).
/// A dual-stack PCB (IPV6_V6ONLY off) binds, connects and sends to v4-mapped addresses through
/// IPv4's engine (<see cref="_v4"/>, which also hands it IPv4 datagrams: <see cref="UdpEngine"/>).
/// Locks: the engine's, which is IPv4's (see there); binding looks up the address's interface under it.
/// </summary>
public sealed class Udp6 : UdpEngine
{
    public const int MaxPayload = 0xffff - UdpPacket.HeaderSize;

    private readonly Inet6 _in;
    /// <summary>IPv4's UDP (null in a kernel without IPv4: then dual-stack PCBs reach IPv6 only).</summary>
    private readonly Udp? _v4;

    internal Udp6(Inet6 inet, Udp? v4) : base(inet.Kernel, inet.Net, v4)
    {
        _in = inet;
        _v4 = v4;
    }

    private Inet6Stats S => _in.Stats;
    internal Inet6 Stack => _in;

    public override int Family => Abi.AF_INET6;
    private protected override TcpAddr Any => TcpAddr.AnyV6;
    private protected override int MaxData => MaxPayload;
    private protected override int Headroom => UdpPacket.HeaderSize + Ipv6Packet.HeaderSize + EthernetFrame.HeaderSize;
    private protected override ref long NoPortCount => ref S.Udp6NoPort;
    private protected override ref long FullSockCount => ref S.Udp6FullSock;
    public override int SockaddrLen => Udp6Proto.Sin6Len;
    private protected override bool NewDualStack => !_in.V6OnlyDefault;

    private protected override int CheckLocal(TcpAddr a, Ifnet? scope)
    {
        if (a.IsV4) return _v4 == null ? Abi.EADDRNOTAVAIL : _v4.CheckLocalMapped(a);
        Ipv6Addr v = a.V6;
        return !In6.IsUnspecified(v) && !v.IsMulticast && _in.FindAddress(v, scope) == null ? Abi.EADDRNOTAVAIL : 0;
    }

    private protected override void BoundLocked(UdpPcb p, TcpAddr a, Ifnet? scope)
    {
        if (a.V6.IsLinkLocal) p.ScopeIf = scope ?? _in.FindAddress(a.V6)?.Ifp;
    }

    /// <summary>A PCB bound to (or connected from) an address of one family reaches only that family (NetBSD's in6_pcbconnect); :: reaches both.</summary>
    private protected override int CheckForeign(UdpPcb p, TcpAddr a, ref Ifnet? scope)
    {
        if (p.LocalAddr != TcpAddr.AnyV6 && p.LocalAddr.IsV4 != a.IsV4) return Abi.EINVAL;
        if (a.V6.IsLinkLocal) scope ??= p.ScopeIf;
        return 0;
    }

    private protected override void ConnectedLocked(UdpPcb p, TcpAddr a, Ifnet? scope)
    {
        if (a.V6.IsLinkLocal || p.LocalAddr.V6.IsLinkLocal) p.ScopeIf = scope ?? p.ScopeIf;
    }

    private protected override int SelectSource(TcpAddr dst, Ifnet? ifp, out TcpAddr src)
    {
        if (dst.IsV4)
        {
            src = default;
            return _v4 == null ? Abi.ENETUNREACH : _v4.SelectSourceMapped(dst, out src);
        }
        int e = _in.SelectSource(dst.V6, ifp, out Ipv6Addr s);
        src = s;
        return e;
    }

    private protected override Ifnet? OutIfLocked(UdpPcb p, TcpAddr faddr, Ifnet? scope) => scope ?? p.ScopeIf;

    private protected override int RouteOut(ref UdpRoute r, Ifnet? scope)
    {
        Ipv6Addr faddr = r.FAddr.V6;
        if (r.FAddr.IsV4)
        {
            // A v4-mapped destination goes over IPv4, from :: or an IPv4 address (NetBSD's udp6_output).
            if (!r.DualStack || _v4 == null) return Abi.EINVAL; // IPV6_V6ONLY
            if (r.LAddr != TcpAddr.AnyV6 && !r.LAddr.IsV4) return Abi.EINVAL;
            if (r.LAddr == TcpAddr.AnyV6) r.LAddr = TcpAddr.AnyV4;
            r.Ifp = null;
            return _v4.RouteOutMapped(ref r);
        }
        if (r.LAddr.IsV4) return Abi.EINVAL; // bound to an IPv4 address: IPv4 only
        if (!faddr.IsLinkLocal && !faddr.IsMulticast && scope == null) r.Ifp = null;
        if (In6.IsUnspecified(r.LAddr.V6) || r.LAddr.V6.IsMulticast) return SelectSource(r.FAddr, r.Ifp, out r.LAddr);
        return 0;
    }

    private protected override int Output(Mbuf m, in UdpRoute r, int len)
    {
        if (r.FAddr.IsV4)
        {
            if (len <= Udp.MaxPayload) return _v4!.OutputMapped(m, r, len);
            m.Free();
            return Abi.EMSGSIZE;
        }
        Ipv6Addr laddr = r.LAddr.V6, faddr = r.FAddr.V6;
        UdpPacket.EmitV6(m.Bytes, laddr, faddr, r.LPort, r.FPort, len);
        Interlocked.Increment(ref S.Udp6Out);
        return _in.Ip6.Output(m, laddr, faddr, Ipv6Packet.NextUdp, r.HopLimit < 0 ? Inet6.DefaultHopLimit : (byte)r.HopLimit, r.Ifp);
    }

    private protected override void PortUnreachable(Mbuf m, bool multi)
        => _in.Icmp6.Error(m, Icmpv6Packet.TypeUnreachable, 4, 0);

    internal override void WriteSockaddr(Span<byte> d, TcpAddr a, ushort port, Ifnet? ifp)
    {
        Ipv6Addr v = a.V6;
        Udp6Proto.WriteSin6(d, v, port, v.IsLinkLocal && ifp != null ? (uint)ifp.Index : 0);
    }

    /// <summary>A sockaddr_in6 from the caller: EINVAL unless 28 bytes, EAFNOSUPPORT for another family, ENXIO for a scope id naming no interface.</summary>
    internal override int ReadSockaddr(ReadOnlySpan<byte> nam, UdpPcb p, out TcpAddr a, out ushort port, out Ifnet? scope)
    {
        a = TcpAddr.AnyV6;
        port = 0;
        scope = null;
        if (nam.Length != Udp6Proto.Sin6Len) return Abi.EINVAL;
        if (nam[1] != Abi.AF_INET6) return Abi.EAFNOSUPPORT;
        port = BinaryPrimitives.ReadUInt16BigEndian(nam.Slice(2));
        Ipv6Addr v = Ipv6Addr.Read(nam.Slice(8));
        a = v;
        uint sid = MemoryMarshal.Read<uint>(nam.Slice(24));
        if (In6.IsV4Mapped(v) && !p.DualStack) return Abi.EINVAL; // IPV6_V6ONLY
        if (sid != 0 && (v.IsLinkLocal || v.IsMulticast))
        {
            foreach (Ifnet i in Net.Interfaces())
                if (i.Index == sid) { scope = i; break; }
            if (scope == null) return Abi.ENXIO;
        }
        return 0;
    }

    internal void Input(Lwp l, Mbuf m, in Ip6In ip)
    {
        Interlocked.Increment(ref S.Udp6In);
        WireError e = UdpPacket.ParseV6(m.Bytes.Slice(ip.Offset), ip.Src, ip.Dst, out UdpPacket u);
        if (e != WireError.Ok)
        {
            Interlocked.Increment(ref S.Udp6Bad);
            m.Free();
            return;
        }
        Deliver(m, ip.Src, u.SourcePort, ip.Dst, u.DestinationPort, ip.Offset, u.Length, ip.Multicast);
    }

    internal void CtlInput(int error, Ipv6Addr src, Ipv6Addr dst, ReadOnlySpan<byte> quoted) => CtlInput(error, (TcpAddr)src, dst, quoted);
}

/// <summary>
/// (AF_INET6, SOCK_DGRAM, IPPROTO_UDP) sockets over <see cref="Udp6"/>: <see cref="UdpProto"/>
/// and what only IPv6 has. Addresses are NetBSD's struct sockaddr_in6 (28 bytes: sin6_len,
/// sin6_family, port, flow info, address, scope id, which names the interface of a link-local
/// address). Options at level IPPROTO_IPV6: IPV6_V6ONLY (net.inet6.ip6.v6only's default, 1; 0
/// makes the socket dual-stack, see <see cref="UdpEngine"/>; before bind only, EINVAL after, as
/// NetBSD) and IPV6_UNICAST_HOPS (-1 for the default, 0-255). SIOCAIFADDR_IN6
/// configures addresses, as NetBSD's in6_control does on any AF_INET6 socket. Every method runs
/// with the socket's lock held.
/// </summary>
public sealed class Udp6Proto : UdpProto
{
    public const int Sin6Len = 28;

    private readonly Udp6 _udp;
    internal Udp6Proto(Udp6 udp) : base(udp) { _udp = udp; }

    private static UdpPcb Pcb(Socket so) => (UdpPcb)so.Pcb!;

    public static void WriteSin6(Span<byte> d, Ipv6Addr a, ushort port, uint scope)
    {
        d.Slice(0, Sin6Len).Clear();
        d[0] = Sin6Len;
        d[1] = (byte)Abi.AF_INET6;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), port);
        a.Write(d.Slice(8));
        MemoryMarshal.Write(d.Slice(24), scope);
    }

    /// <summary>
    /// SIOCAIFADDR_IN6 (NetBSD in6_control): adds ifra_addr to the interface ifra_name with the
    /// prefix length of ifra_prefixmask (contiguous, or absent: 128). EPERM unless root, ENXIO
    /// for no such interface, EINVAL for a bad address or mask. Other ioctls: EOPNOTSUPP.
    /// </summary>
    public override unsafe int Ioctl(Socket so, ulong cmd, UserPtr data, Lwp l)
    {
        if (cmd != Abi.SIOCAIFADDR_IN6) return Abi.EOPNOTSUPP;
        if (!l.Proc.Cred.IsRoot) return Abi.EPERM;
        int e = l.Proc.Vmspace.CopyIn(data, out RumpIn6Aliasreq r);
        if (e != 0) return e;
        var name = new ReadOnlySpan<byte>(r.ifra_name, 16);
        int nul = name.IndexOf((byte)0);
        if (nul <= 0) return Abi.EINVAL;
        Ifnet? ifp = _udp.Net.Find(System.Text.Encoding.ASCII.GetString(name.Slice(0, nul)));
        if (ifp == null) return Abi.ENXIO;
        ReadOnlySpan<byte> sa = new(&r.ifra_addr, Sin6Len), sm = new(&r.ifra_prefixmask, Sin6Len);
        if (sa[0] != Sin6Len || sa[1] != Abi.AF_INET6) return Abi.EINVAL;
        int plen = 128;
        if (sm[0] != 0)
        {
            Ipv6Addr m = Ipv6Addr.Read(sm.Slice(8));
            plen = System.Numerics.BitOperations.PopCount(m.Hi) + System.Numerics.BitOperations.PopCount(m.Lo);
            if (In6.Mask(m, plen) != m || (plen < 128 && In6.Mask(new Ipv6Addr(ulong.MaxValue, ulong.MaxValue), plen) != m)) return Abi.EINVAL;
        }
        return _udp.Stack.AddAddress(ifp, Ipv6Addr.Read(sa.Slice(8)), plen);
    }

    public override int Ctloutput(Socket so, bool set, int level, int name, Span<byte> val, ref int len)
    {
        if (level != Abi.IPPROTO_IPV6) return level == Abi.SOL_SOCKET ? 0 : Abi.ENOPROTOOPT;
        UdpPcb p = Pcb(so);
        switch (name)
        {
            case Abi.IPV6_V6ONLY:
                if (set) return val.Length != 4 ? Abi.EINVAL : _udp.SetV6Only(p, MemoryMarshal.Read<int>(val) != 0);
                if (val.Length < 4) return Abi.EINVAL;
                MemoryMarshal.Write(val, p.DualStack ? 0 : 1);
                len = 4;
                return 0;
            case Abi.IPV6_UNICAST_HOPS:
                if (set)
                {
                    if (val.Length != 4) return Abi.EINVAL;
                    int h = MemoryMarshal.Read<int>(val);
                    if (h is < -1 or > 255) return Abi.EINVAL;
                    p.HopLimit = h;
                    return 0;
                }
                if (val.Length < 4) return Abi.EINVAL;
                MemoryMarshal.Write(val, p.HopLimit < 0 ? (int)Inet6.DefaultHopLimit : p.HopLimit);
                len = 4;
                return 0;
            default:
                return Abi.ENOPROTOOPT;
        }
    }
}
