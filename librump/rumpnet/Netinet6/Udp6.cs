using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet6;

/// <summary>
/// A UDP-over-IPv6 protocol control block (NetBSD's in6pcb for UDP). The addresses and ports are
/// protected by <see cref="Udp6"/>'s lock; <see cref="Options"/> and <see cref="HopLimit"/> by the socket's. <see cref="ScopeIf"/> is the interface a link-local local or
/// foreign address belongs to (from sin6_scope_id).
/// </summary>
public sealed class Udp6Pcb
{
    public Ipv6Addr LocalAddr { get; internal set; }
    public ushort LocalPort { get; internal set; }
    public Ipv6Addr ForeignAddr { get; internal set; }
    public ushort ForeignPort { get; internal set; }
    public Ifnet? ScopeIf { get; internal set; }
    public bool IsConnected => ForeignPort != 0;
    public int Options;
    /// <summary>IPV6_UNICAST_HOPS: -1 is the kernel's default.</summary>
    public int HopLimit = -1;
    public readonly Socket So;
    internal bool Detached;

    internal Udp6Pcb(Socket so) { So = so; }
}

/// <summary>
/// UDP over IPv6 (RFC 768 with RFC 8200 8.1: the checksum is mandatory, a zero one is dropped;
/// NetBSD udp6_usrreq.c, in6_pcb.c). A sibling of the IPv4 <c>Udp</c>, not a generalisation
/// of it: the two share the wire code and the socket layer, and keep their own PCB lists
/// and port spaces, because sockets are IPV6_V6ONLY always (NetBSD's default,
/// net.inet6.ip6.v6only=1): an AF_INET6 socket never sees IPv4 traffic, so nothing has to
/// match a v4 datagram against a v6 PCB or the reverse. Bind, connect, anonymous ports and
/// SO_REUSEADDR/SO_REUSEPORT follow the IPv4 side's rules; a unicast datagram goes to the
/// best-matching PCB, a multicast one to every PCB bound to the port; nobody listening gets
/// ICMPv6 port unreachable; ICMPv6 errors reach connected PCBs as so_error.
/// PCBs exist for sockets only (<see cref="Udp6Proto"/>).
///
/// Locks: <see cref="_lock"/> protects the PCB list and every PCB's fields; it is taken with the
/// socket's lock held (the socket layer's calls) and released before a socket's lock is taken
/// from input, and before packets are sent.
/// </summary>
public sealed class Udp6
{
    public const ushort AnonPortMin = 49152, AnonPortMax = 65535;
    public const int MaxPayload = 0xffff - UdpPacket.HeaderSize;

    private readonly Inet6 _in;
    private readonly KMutex _lock;
    private readonly List<Udp6Pcb> _pcbs = new();
    private ushort _nextAnon = AnonPortMin;

    internal Udp6(Inet6 inet)
    {
        _in = inet;
        _lock = new KMutex(inet.Kernel);
    }

    private Inet6Stats S => _in.Stats;
    internal Net Net => _in.Net;
    internal Inet6 Stack => _in;

    internal Udp6Pcb Attach(Socket so)
    {
        var p = new Udp6Pcb(so);
        _lock.Enter();
        _pcbs.Add(p);
        _lock.Exit();
        return p;
    }

    internal void Detach(Udp6Pcb p)
    {
        _lock.Enter();
        _pcbs.Remove(p);
        p.Detached = true;
        _lock.Exit();
    }

    /// <summary>Binds (port 0: anonymous). EINVAL if bound, EADDRNOTAVAIL for an address not ours, EADDRINUSE for a taken port.</summary>
    public int Bind(Udp6Pcb p, Ipv6Addr addr, ushort port, Ifnet? scope)
    {
        if (!In6.IsUnspecified(addr) && !addr.IsMulticast && _in.FindAddress(addr, scope) == null) return Abi.EADDRNOTAVAIL;
        _lock.Enter();
        try
        {
            int e = BindLocked(p, addr, port);
            if (e == 0 && addr.IsLinkLocal) p.ScopeIf = scope ?? _in.FindAddress(addr)?.Ifp;
            return e;
        }
        finally { _lock.Exit(); }
    }

    private int BindLocked(Udp6Pcb p, Ipv6Addr addr, ushort port)
    {
        if (p.Detached || p.LocalPort != 0) return Abi.EINVAL;
        if (port == 0)
        {
            for (int n = 0; n <= AnonPortMax - AnonPortMin; n++)
            {
                ushort cand = _nextAnon;
                _nextAnon = cand == AnonPortMax ? AnonPortMin : (ushort)(cand + 1);
                if (!PortTakenLocked(null, addr, cand, 0)) { port = cand; break; }
            }
            if (port == 0) return Abi.EAGAIN;
        }
        else if (PortTakenLocked(p, addr, port, p.Options)) return Abi.EADDRINUSE;
        p.LocalAddr = addr;
        p.LocalPort = port;
        return 0;
    }

    // The IPv4 side's rule (NetBSD in6_pcbbind_port): shared with SO_REUSEPORT on both, or with
    // different specific addresses, or with SO_REUSEADDR between a wildcard and a specific one.
    private bool PortTakenLocked(Udp6Pcb? self, Ipv6Addr addr, ushort port, int opts)
    {
        bool any = In6.IsUnspecified(addr);
        foreach (Udp6Pcb o in _pcbs)
        {
            if (o == self || o.LocalPort != port) continue;
            if ((opts & o.Options & Abi.SO_REUSEPORT) != 0) continue;
            if (addr == o.LocalAddr) return true;
            bool oany = In6.IsUnspecified(o.LocalAddr);
            if (!any && !oany) continue;
            if ((opts & (Abi.SO_REUSEADDR | Abi.SO_REUSEPORT)) != 0 && any != oany) continue;
            return true;
        }
        return false;
    }

    /// <summary>Connects (binds an anonymous port first; fixes the local address); the unspecified address disconnects.</summary>
    public int Connect(Udp6Pcb p, Ipv6Addr addr, ushort port, Ifnet? scope)
    {
        if (In6.IsUnspecified(addr))
        {
            _lock.Enter();
            p.ForeignAddr = default;
            p.ForeignPort = 0;
            _lock.Exit();
            return 0;
        }
        if (port == 0) return Abi.EADDRNOTAVAIL;
        if (addr.IsLinkLocal) scope ??= p.ScopeIf;
        int e = _in.SelectSource(addr, scope, out Ipv6Addr src);
        if (e != 0) return e;
        _lock.Enter();
        try
        {
            if (p.LocalPort == 0 && (e = BindLocked(p, Ipv6Addr.Unspecified, 0)) != 0) return e;
            if (In6.IsUnspecified(p.LocalAddr)) p.LocalAddr = src;
            p.ForeignAddr = addr;
            p.ForeignPort = port;
            if (addr.IsLinkLocal || p.LocalAddr.IsLinkLocal) p.ScopeIf = scope ?? p.ScopeIf;
            return 0;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>
    /// Sends the socket layer's mbuf (null: an empty datagram) to <paramref name="dst"/>:<paramref name="dstPort"/>
    /// (null: the connected peer), the UDP header prepended in its headroom when there is room. Consumes m.
    /// </summary>
    public int Send(Udp6Pcb p, Mbuf? m, Ipv6Addr? dst, ushort dstPort, Ifnet? scope)
    {
        int len = m?.Length ?? 0;
        if (len > MaxPayload) { m?.Free(); return Abi.EMSGSIZE; }
        if (m == null || m.LeadingSpace < UdpPacket.HeaderSize + Ipv6Packet.HeaderSize + EthernetFrame.HeaderSize)
        {
            Mbuf? c = _in.Net.Mbufs.Get(len);
            if (c == null) { m?.Free(); return Abi.ENOBUFS; }
            if (m != null) { c.Append(m.Bytes); m.Free(); }
            m = c;
        }
        Ipv6Addr laddr, faddr;
        ushort lport, fport;
        int hops;
        Ifnet? oif;
        _lock.Enter();
        try
        {
            int e = 0;
            if (dst != null && p.IsConnected) e = Abi.EISCONN;
            else if (dst == null && !p.IsConnected) e = Abi.ENOTCONN;
            else if (p.LocalPort == 0) e = BindLocked(p, Ipv6Addr.Unspecified, 0);
            if (e != 0) { m.Free(); return e; }
            faddr = dst ?? p.ForeignAddr;
            fport = dst != null ? dstPort : p.ForeignPort;
            laddr = p.LocalAddr;
            lport = p.LocalPort;
            hops = p.HopLimit;
            oif = scope ?? p.ScopeIf;
        }
        finally { _lock.Exit(); }
        if (fport == 0) { m.Free(); return Abi.EADDRNOTAVAIL; }
        if (In6.IsV4Mapped(faddr)) { m.Free(); return Abi.EINVAL; } // IPV6_V6ONLY
        if (!faddr.IsLinkLocal && !faddr.IsMulticast && scope == null) oif = null;
        if (In6.IsUnspecified(laddr) || laddr.IsMulticast)
        {
            int e = _in.SelectSource(faddr, oif, out laddr);
            if (e != 0) { m.Free(); return e; }
        }
        m.Prepend(UdpPacket.HeaderSize);
        UdpPacket.EmitV6(m.Bytes, laddr, faddr, lport, fport, len);
        Interlocked.Increment(ref S.Udp6Out);
        return _in.Ip6.Output(m, laddr, faddr, Ipv6Packet.NextUdp, hops < 0 ? Inet6.DefaultHopLimit : (byte)hops, oif);
    }

    private static int MatchScore(Udp6Pcb p, Ipv6Addr src, ushort sport, Ipv6Addr dst, ushort dport, bool mcast)
    {
        if (p.LocalPort != dport) return -1;
        int score = 0;
        if (!In6.IsUnspecified(p.LocalAddr))
        {
            if (p.LocalAddr != dst) return -1;
            score += 2;
        }
        if (p.IsConnected)
        {
            if (p.ForeignAddr != src || p.ForeignPort != sport) return -1;
            score += 4;
        }
        return score;
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
        ushort sport = u.SourcePort, dport = u.DestinationPort;
        int ulen = u.Length;
        List<(Udp6Pcb, Mbuf)>? to = null;
        bool delivered = false;
        _lock.Enter();
        if (!ip.Multicast)
        {
            Udp6Pcb? best = null;
            int bs = -1;
            foreach (Udp6Pcb p in _pcbs)
            {
                int s = MatchScore(p, ip.Src, sport, ip.Dst, dport, false);
                if (s > bs) { bs = s; best = p; }
            }
            if (best != null)
            {
                delivered = true;
                m.TrimFront(ip.Offset + UdpPacket.HeaderSize);
                m.TrimTo(ulen - UdpPacket.HeaderSize);
                (to ??= new()).Add((best, m));
                m = null!;
            }
        }
        else
        {
            foreach (Udp6Pcb p in _pcbs)
            {
                if (p.LocalPort != dport || (p.IsConnected && (p.ForeignAddr != ip.Src || p.ForeignPort != sport))) continue;
                if (!In6.IsUnspecified(p.LocalAddr) && p.LocalAddr != ip.Dst) continue;
                delivered = true;
                Mbuf? c = _in.Net.Mbufs.Get(ulen - UdpPacket.HeaderSize);
                if (c == null) { Interlocked.Increment(ref S.Udp6FullSock); continue; }
                c.Append(m.Bytes.Slice(ip.Offset + UdpPacket.HeaderSize, ulen - UdpPacket.HeaderSize));
                (to ??= new()).Add((p, c));
            }
        }
        _lock.Exit();
        if (!delivered)
        {
            Interlocked.Increment(ref S.Udp6NoPort);
            _in.Icmp6.Error(m, Icmpv6Packet.TypeUnreachable, 4, 0);
        }
        Ifnet? rcvif = m?.RcvIf;
        m?.Free();
        if (to == null) return;
        foreach (var (p, d) in to) ToSocket(p, ip.Src, sport, d.RcvIf ?? rcvif, d);
    }

    /// <summary>A datagram to the PCB's socket under the socket's lock (taken after ours is released). Consumes d.</summary>
    private void ToSocket(Udp6Pcb p, Ipv6Addr src, ushort sport, Ifnet? rcvif, Mbuf d)
    {
        Socket so = p.So;
        Span<byte> sin6 = stackalloc byte[Udp6Proto.Sin6Len];
        Udp6Proto.WriteSin6(sin6, src, sport, src.IsLinkLocal && rcvif != null ? (uint)rcvif.Index : 0);
        so.Lock.Enter();
        try
        {
            if (so.Pcb != p || (so.State & Socket.SS_CANTRCVMORE) != 0 || !so.Rcv.AppendAddr(sin6, d, null))
            {
                so.Overflowed++;
                Interlocked.Increment(ref S.Udp6FullSock);
                d.Free();
                return;
            }
            so.SoRWakeup();
        }
        finally { so.Lock.Exit(); }
    }

    /// <summary>An ICMPv6 error about a datagram we sent: the connected PCBs it came from get it as so_error.</summary>
    internal void CtlInput(int error, Ipv6Addr src, Ipv6Addr dst, ReadOnlySpan<byte> quoted)
    {
        if (quoted.Length < 4) return;
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(quoted);
        ushort dport = BinaryPrimitives.ReadUInt16BigEndian(quoted.Slice(2));
        List<Udp6Pcb>? hit = null;
        _lock.Enter();
        foreach (Udp6Pcb p in _pcbs)
        {
            if (!p.IsConnected || p.LocalPort != sport || p.ForeignPort != dport || p.ForeignAddr != dst) continue;
            if (!In6.IsUnspecified(p.LocalAddr) && p.LocalAddr != src) continue;
            (hit ??= new()).Add(p);
        }
        _lock.Exit();
        if (hit == null) return;
        foreach (Udp6Pcb p in hit)
        {
            Socket so = p.So;
            so.Lock.Enter();
            if (so.Pcb == p) so.SetError(error);
            so.Lock.Exit();
        }
    }
}

/// <summary>
/// (AF_INET6, SOCK_DGRAM, IPPROTO_UDP) sockets over <see cref="Udp6"/>. Addresses are NetBSD's
/// struct sockaddr_in6 (28 bytes: sin6_len, sin6_family, port, flow info, address, scope id,
/// which names the interface of a link-local address). Options at level IPPROTO_IPV6:
/// IPV6_V6ONLY (always 1: setting 0 is EINVAL, see <see cref="Udp6"/>) and IPV6_UNICAST_HOPS
/// (-1 for the default, 0-255). SIOCAIFADDR_IN6 configures addresses, as NetBSD's in6_control
/// does on any AF_INET6 socket. Every method runs with the socket's lock held.
/// </summary>
public sealed class Udp6Proto : Protosw
{
    public const int Sin6Len = 28;
    public const int SendSpace = 9216, RecvSpace = 40 * (1024 + Sin6Len);

    private readonly Udp6 _udp;
    internal Udp6Proto(Udp6 udp) { _udp = udp; }

    public override int Family => Abi.AF_INET6;
    public override int Type => Abi.SOCK_DGRAM;
    public override int Protocol => Ipv6Packet.NextUdp;
    public override int Flags => PR_ATOMIC | PR_ADDR;

    private static Udp6Pcb Pcb(Socket so) => (Udp6Pcb)so.Pcb!;

    public static void WriteSin6(Span<byte> d, Ipv6Addr a, ushort port, uint scope)
    {
        d.Slice(0, Sin6Len).Clear();
        d[0] = Sin6Len;
        d[1] = (byte)Abi.AF_INET6;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), port);
        a.Write(d.Slice(8));
        MemoryMarshal.Write(d.Slice(24), scope);
    }

    /// <summary>A sockaddr_in6 from the caller: EINVAL unless 28 bytes, EAFNOSUPPORT for another family, ENXIO for a scope id naming no interface.</summary>
    private int ReadSin6(Socket so, ReadOnlySpan<byte> nam, out Ipv6Addr a, out ushort port, out Ifnet? scope)
    {
        a = default;
        port = 0;
        scope = null;
        if (nam.Length != Sin6Len) return Abi.EINVAL;
        if (nam[1] != Abi.AF_INET6) return Abi.EAFNOSUPPORT;
        port = BinaryPrimitives.ReadUInt16BigEndian(nam.Slice(2));
        a = Ipv6Addr.Read(nam.Slice(8));
        uint sid = MemoryMarshal.Read<uint>(nam.Slice(24));
        if (In6.IsV4Mapped(a)) return Abi.EINVAL; // IPV6_V6ONLY
        if (sid != 0 && (a.IsLinkLocal || a.IsMulticast))
        {
            foreach (Ifnet i in _udp.Net.Interfaces())
                if (i.Index == sid) { scope = i; break; }
            if (scope == null) return Abi.ENXIO;
        }
        return 0;
    }

    public override int Attach(Socket so, int proto)
    {
        if (so.Pcb != null) return Abi.EISCONN;
        int e = so.Snd.Reserve(SendSpace);
        if (e == 0) e = so.Rcv.Reserve(RecvSpace);
        if (e != 0) return e;
        so.Pcb = _udp.Attach(so);
        return 0;
    }

    public override void Detach(Socket so)
    {
        if (so.Pcb is Udp6Pcb p) _udp.Detach(p);
        so.Pcb = null;
    }

    public override int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        int e = ReadSin6(so, nam, out Ipv6Addr a, out ushort port, out Ifnet? scope);
        if (e != 0) return e;
        Udp6Pcb p = Pcb(so);
        p.Options = so.Options;
        return _udp.Bind(p, a, port, scope);
    }

    public override int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        int e = ReadSin6(so, nam, out Ipv6Addr a, out ushort port, out Ifnet? scope);
        if (e != 0) return e;
        if (In6.IsUnspecified(a)) return Abi.EADDRNOTAVAIL;
        Udp6Pcb p = Pcb(so);
        p.Options = so.Options;
        e = _udp.Connect(p, a, port, scope);
        if (e == 0) so.IsConnected();
        return e;
    }

    public override int Disconnect(Socket so)
    {
        Udp6Pcb p = Pcb(so);
        if (!p.IsConnected) return Abi.ENOTCONN;
        _udp.Connect(p, Ipv6Addr.Unspecified, 0, null);
        so.State &= ~Socket.SS_ISCONNECTED;
        return 0;
    }

    public override int Shutdown(Socket so) => 0;
    public override int Abort(Socket so) => 0;

    public override int SockAddr(Socket so, Span<byte> nam, out int len)
    {
        Udp6Pcb p = Pcb(so);
        Span<byte> s = stackalloc byte[Sin6Len];
        WriteSin6(s, p.LocalAddr, p.LocalPort, p.LocalAddr.IsLinkLocal && p.ScopeIf != null ? (uint)p.ScopeIf.Index : 0);
        len = Math.Min(nam.Length, Sin6Len);
        s.Slice(0, len).CopyTo(nam);
        return 0;
    }

    public override int PeerAddr(Socket so, Span<byte> nam, out int len)
    {
        Udp6Pcb p = Pcb(so);
        len = 0;
        if (!p.IsConnected) return Abi.ENOTCONN;
        Span<byte> s = stackalloc byte[Sin6Len];
        WriteSin6(s, p.ForeignAddr, p.ForeignPort, p.ForeignAddr.IsLinkLocal && p.ScopeIf != null ? (uint)p.ScopeIf.Index : 0);
        len = Math.Min(nam.Length, Sin6Len);
        s.Slice(0, len).CopyTo(nam);
        return 0;
    }

    public override int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l)
    {
        Udp6Pcb p = Pcb(so);
        p.Options = so.Options;
        Ipv6Addr? dst = null;
        ushort port = 0;
        Ifnet? scope = null;
        if (!nam.IsEmpty)
        {
            int e = ReadSin6(so, nam, out Ipv6Addr a, out port, out scope);
            if (e != 0) { m?.Free(); return e; }
            dst = a;
        }
        int r = _udp.Send(p, m, dst, port, scope);
        if (r == 0) control?.Dispose(l);
        return r;
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
        Udp6Pcb p = Pcb(so);
        switch (name)
        {
            case Abi.IPV6_V6ONLY:
                if (set)
                {
                    if (val.Length != 4) return Abi.EINVAL;
                    return MemoryMarshal.Read<int>(val) != 0 ? 0 : Abi.EINVAL;
                }
                if (val.Length < 4) return Abi.EINVAL;
                MemoryMarshal.Write(val, 1);
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
