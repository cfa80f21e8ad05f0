using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Rump.Kern;
using Rump.Net.Netinet6;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// TCP's socket interface (NetBSD tcp_usrreq.c over in_pcb.c and in6_pcb.c): (AF_INET,
/// SOCK_STREAM, IPPROTO_TCP) sockets over the engine (<see cref="TcpStack"/>, run by
/// <see cref="TcpKernel"/>), and (AF_INET6, SOCK_STREAM) ones: a second instance over the same
/// engine and lock (<see cref="AttachInet6"/>) that differs only in its socket addresses, source
/// selection and IPV6_V6ONLY. With IPV6_V6ONLY off (net.inet6.ip6.v6only's default is 1, as
/// NetBSD's; a socket may clear it before it binds) an AF_INET6 socket is dual-stack: on :: it
/// also takes IPv4 connections, and it binds and connects to v4-mapped addresses (::ffff:a.b.c.d),
/// which make it an IPv4 TCB in the engine (<see cref="TcpCb.DualStack"/>); its names are still
/// sockaddr_in6, v4-mapped. IPv4 and IPv6 input hand protocol 6 to the engine, its
/// output goes to IPv4 or IPv6 output by the connection's family, and ICMP and ICMPv6 errors
/// reach <see cref="TcpStack.CtlInput"/>, <see cref="TcpStack.CtlInput6"/>, and for path-MTU
/// discovery (IPv4 segments go with DF) <see cref="TcpStack.MtuInput4"/> and <see cref="TcpStack.MtuInput6"/>.
///
/// Data is held once, in the engine's rings: the send ring (what retransmissions read) and the
/// receive ring (where out-of-order data is reassembled). The socket layer passes send, receive,
/// poll and FIONREAD here (<see cref="IStreamProtocol"/>), and the caller's bytes are copied
/// straight between its buffers and the rings; the socket's <see cref="SockBuf"/>s serve for
/// their limits (SO_SNDBUF/SO_RCVBUF size the rings when a connection starts), timeouts,
/// sleepers and pollers. The copies run with the lock dropped, under the buffer's
/// <see cref="SockBuf.SbLock"/>: one sender writes past the send ring's data and one receiver
/// reads the receive ring's front, which the engine does not touch meanwhile.
///
/// Locks: one, the stack's lock (NetBSD's softnet_lock), which is also every TCP socket's
/// <see cref="Socket.Lock"/> (<see cref="NewLock"/>): the socket layer calls in with it held,
/// engine input and timers take it and report through the upcalls (<see cref="TcpSockPcb"/>)
/// with it held, so socket state and TCB change together and no second lock is nested. Order:
/// this lock, then the callout queue's (timer arming), then IPv4's configuration lock (route
/// lookups, and path-MTU discovery's host routes from <see cref="TcpStack.MtuInput4"/>), then
/// IPv4 output's (ARP caches, interface queues, the mbuf pool) or IPv6 output's (the route table's lock, a neighbour cache's, the
/// same queues). Output never calls back into TCP: lo0 and drivers queue, and input runs later
/// in the soft interrupt; ICMP and ICMPv6 errors reach TCP from IP input with none of those held.
///
/// References: the socket holds its <see cref="TcpSockPcb"/> (<see cref="Socket.Pcb"/>), the pcb
/// its current TCB and the TCB the pcb (as its upcall) until the socket detaches; from then on
/// the engine's table alone holds the TCB (FIN_WAIT, TIME_WAIT) and it reports to nobody.
/// </summary>
public sealed class TcpProto : Protosw, IStreamProtocol
{
    /// <summary>NetBSD's netinet/tcp.h socket options (level IPPROTO_TCP).</summary>
    public const int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_KEEPIDLE = 3, TCP_KEEPINTVL = 5, TCP_KEEPCNT = 6, TCP_INFO = 9;
    /// <summary>NetBSD's struct tcp_info (netinet/tcp.h): 8 bytes of state and options, 57 32-bit words.</summary>
    public const int TcpInfoSize = 236;
    /// <summary>tcpi_options bits (NetBSD's TCPI_OPT_*).</summary>
    public const byte TCPI_OPT_TIMESTAMPS = 1, TCPI_OPT_SACK = 2, TCPI_OPT_WSCALE = 4;
    public const int IPPROTO_TCP = 6;
    /// <summary>Default SO_SNDBUF and SO_RCVBUF: the ring sizes, large enough for a fast LAN's window.</summary>
    public const int DefaultSpace = 128 * 1024;

    private readonly Inet _in;
    /// <summary>IPv6, on the AF_INET6 instance only (null on the AF_INET one).</summary>
    private readonly Inet6? _in6;
    public readonly TcpKernel Kernel;
    public TcpStack Stack => Kernel.Stack;
    private readonly KMutex _softnet;
    /// <summary>The engine's connection that the next <see cref="Attach"/> adopts (a listener's child; set under the lock around SoNewConn).</summary>
    private TcpCb? _adopt;

    private TcpProto(Kernel k, Inet inet)
    {
        _in = inet;
        _softnet = new KMutex(k);
        // With DF: path-MTU discovery (RFC 1191), as NetBSD's tcp_output passes IP_MTUDISC.
        Kernel = new TcpKernel(k, inet.Net.Mbufs, (m, src, dst) => inet.Ip.Output(m, src, dst, Ipv4Packet.ProtoTcp, Ip.MtuDiscovery), _softnet);
        Kernel.Stack.RouteMss = MssTo;
        Kernel.Stack.RouteCaps = CapsTo;
        Kernel.Stack.RouteMtuDisc = inet.MtuDisc;
    }

    /// <summary>The AF_INET6 sockets' protocol: the same engine, lock and sockets' data path as <paramref name="v4"/>, with IPv6 addresses.</summary>
    private TcpProto(TcpProto v4, Inet6 inet6)
    {
        _in = v4._in;
        _in6 = inet6;
        _softnet = v4._softnet;
        Kernel = v4.Kernel;
    }

    /// <summary>
    /// The MSS towards <paramref name="dst"/>: the MTU of the interface its packets leave by (over
    /// IPv4 the path MTU if discovery learned a smaller one, NetBSD tcp_mss_from_peer's
    /// rmx_mtu), less the IP and TCP headers (NetBSD tcp_mss_to_advertise): 40 bytes over IPv4,
    /// 60 over IPv6, where it is never under 1220 (IPv6's minimum MTU, RFC 8200 5).
    /// </summary>
    private ushort MssTo(TcpAddr dst, uint scope)
    {
        if (!dst.IsV4) return MssTo6(dst.V6, scope);
        Ipv4Addr d = dst.V4;
        int mtu;
        if (d.IsLoopback || _in.FindAddress(d) != null) mtu = _in.Net.Lo0.Mtu;
        else if (_in.Lookup(d) is Route.RtEntry rt) mtu = rt.PathMtu;
        else return Stack.LocalMss;
        return (ushort)Math.Clamp(mtu - 40, 256, 65495);
    }

    private ushort MssTo6(Ipv6Addr d, uint scope)
    {
        Inet6? in6 = _in.Net.Kernel.GetService<Inet6>();
        if (in6 == null) return (ushort)(Stack.LocalMss - 20);
        Ifnet? ifp = IfTo6(in6, d, scope);
        int mtu = ifp != null ? in6.LinkMtu(ifp) : Stack.LocalMss + 40;
        return (ushort)Math.Clamp(mtu - (int)TcpStack.Ipv6HeaderBytes, (int)(TcpStack.Ipv6MinMtu - TcpStack.Ipv6HeaderBytes), 65475);
    }

    /// <summary>The interface a zone (<see cref="TcpCb.ScopeId"/>) names; null for none (0).</summary>
    private static Ifnet? Zone(Net net, uint scope) => scope != 0 ? net.ByIndex((int)scope) : null;

    /// <summary>The interface IPv6 output sends to <paramref name="d"/> in zone <paramref name="scope"/> by (null: no route).</summary>
    private Ifnet? IfTo6(Inet6 in6, Ipv6Addr d, uint scope)
    {
        Ifnet? zone = d.IsLinkLocal ? Zone(_in.Net, scope) : null;
        if (In6.IsLoopback(d) || in6.FindAddress(d, zone) != null) return _in.Net.Lo0;
        if (d.IsLinkLocal)
        {
            if (zone != null) return zone;
            // As IPv6 output picks it for an unscoped link-local destination.
            foreach (In6Ifaddr ia in in6.Addresses())
                if (ia.Addr.IsLinkLocal && ia.Ifp.Type == Ifnet.IFT_ETHER && ia.Ifp.IsUp) return ia.Ifp;
            return null;
        }
        return in6.Lookup(d)?.Ifp;
    }

    /// <summary>The offloads of the interface segments to <paramref name="dst"/> leave by, as IP output picks it (lo0 has none).</summary>
    private int CapsTo(TcpAddr dst, uint scope)
    {
        Ifnet? ifp;
        if (dst.IsV4)
        {
            Ipv4Addr d = dst.V4;
            ifp = d.IsLoopback || _in.FindAddress(d) != null ? _in.Net.Lo0 : _in.Lookup(d)?.Ifp;
        }
        else
        {
            Inet6? in6 = _in.Net.Kernel.GetService<Inet6>();
            ifp = in6 == null ? null : IfTo6(in6, dst.V6, scope);
        }
        return ifp?.Capabilities ?? 0;
    }

    /// <summary>Registers TCP with IPv4 (input and ICMP errors), the socket layer, and net.inet.tcp sysctls.</summary>
    public static TcpProto Attach(Kernel k, Inet inet)
    {
        var p = new TcpProto(k, inet);
        inet.SetProtocol(Ipv4Packet.ProtoTcp, p.Input, p.Stack.CtlInput);
        inet.SetMtuInput(Ipv4Packet.ProtoTcp, p.Stack.MtuInput4);
        inet.Net.Domains.Register(p);
        // The sysctl nodes are for looking and tuning; a kernel whose tree refuses them still does TCP.
        if (TcpKernel.AttachSysctl(k, p.Stack) == 0) TcpPcbList.AttachSysctl(k, p.Stack);
        k.SetService(p);
        return p;
    }

    /// <summary>
    /// TCP over IPv6 (NetBSD's tcp6 in in6_proto.c): next header 6 from IPv6 input to the same
    /// engine, ICMPv6 errors (packet too big with its MTU), engine output for IPv6 connections to
    /// IPv6 output, (AF_INET6, SOCK_STREAM) sockets, and net.inet6.tcp6.pcblist. After
    /// <see cref="Attach"/> and IPv6's own init, while components initialise.
    /// </summary>
    public static void AttachInet6(Kernel k, TcpProto v4, Inet6 inet6)
    {
        var p = new TcpProto(v4, inet6);
        v4.Kernel.Output6Routine = (m, src, dst, scope) =>
            inet6.Ip6.Output(m, src, dst, Ipv6Packet.NextTcp, Inet6.DefaultHopLimit, Zone(inet6.Net, scope));
        inet6.SetProtocol(Ipv6Packet.NextTcp, p.Input6, p.Stack.CtlInput6);
        inet6.SetMtuInput(Ipv6Packet.NextTcp, p.Stack.MtuInput6);
        inet6.Net.Domains.Register(p);
        TcpPcbList.AttachSysctl6(k, p.Stack);
    }

    /// <summary>Halt: the timer stops.</summary>
    public void Stop() => Kernel.Stop();

    private void Input(Lwp l, Mbuf m, in IpIn ip)
    {
        // RFC 1122 4.2.3.10: no connection is opened by or for a broadcast or multicast.
        if (ip.Broadcast || ip.Dst.IsMulticast)
        {
            m.Free();
            return;
        }
        m.TrimFront(ip.HeaderLength);
        Stack.Input(m, ip.Src, ip.Dst);
    }

    private void Input6(Lwp l, Mbuf m, in Ip6In ip)
    {
        // No connection for multicast (RFC 1122 4.2.3.10), and none between v4-mapped addresses:
        // on the wire they are an attack (RFC 4942 2.2), and in the engine they would be IPv4's.
        if (ip.Multicast || ip.Dst.IsMulticast || In6.IsUnspecified(ip.Src) || In6.IsV4Mapped(ip.Src) || In6.IsV4Mapped(ip.Dst))
        {
            m.Free();
            return;
        }
        m.TrimFront(ip.Offset);
        Stack.Input6(m, ip.Src, ip.Dst);
    }

    private bool V6 => _in6 != null;
    public override int Family => V6 ? Abi.AF_INET6 : Abi.AF_INET;
    public override int Type => Abi.SOCK_STREAM;
    public override int Protocol => IPPROTO_TCP;
    public override int Flags => PR_CONNREQUIRED | PR_WANTRCVD | PR_LISTEN;
    public override KMutex NewLock(Kernel k) => _softnet;

    private static TcpSockPcb Pcb(Socket so) => (TcpSockPcb)so.Pcb!;

    /// <summary>
    /// The caller's sockaddr_in or sockaddr_in6 (by the socket's family): EINVAL for a wrong
    /// length or a v4-mapped address on an IPV6_V6ONLY socket (<paramref name="tp"/>'s),
    /// EAFNOSUPPORT for another family. A v4-mapped address comes back as the IPv4 address it
    /// maps (the same <see cref="TcpAddr"/>). A link-local address's sin6_scope_id is its zone
    /// (<see cref="TcpCb.ScopeId"/>; ENXIO if no interface has that index; 0: none given).
    /// </summary>
    private int ReadSa(ReadOnlySpan<byte> nam, TcpCb tp, out TcpAddr a, out ushort port, out uint scope)
    {
        a = default;
        port = 0;
        scope = 0;
        if (!V6)
        {
            if (nam.Length != UdpProto.SinLen) return Abi.EINVAL;
            if (nam[1] != Abi.AF_INET) return Abi.EAFNOSUPPORT;
            port = BinaryPrimitives.ReadUInt16BigEndian(nam.Slice(2));
            a = Ipv4Addr.Read(nam.Slice(4));
            return 0;
        }
        if (nam.Length != Udp6Proto.Sin6Len) return Abi.EINVAL;
        if (nam[1] != Abi.AF_INET6) return Abi.EAFNOSUPPORT;
        port = BinaryPrimitives.ReadUInt16BigEndian(nam.Slice(2));
        Ipv6Addr a6 = Ipv6Addr.Read(nam.Slice(8));
        if (In6.IsV4Mapped(a6) && !tp.DualStack) return Abi.EINVAL;
        a = a6;
        uint sid = MemoryMarshal.Read<uint>(nam.Slice(24));
        if (sid != 0 && a6.IsLinkLocal)
        {
            if (Zone(_in.Net, sid) == null) return Abi.ENXIO;
            scope = sid;
        }
        return 0;
    }

    private int WriteSa(Span<byte> nam, TcpAddr a, ushort port, uint scope, out int len)
    {
        int size = V6 ? Udp6Proto.Sin6Len : UdpProto.SinLen;
        Span<byte> sa = stackalloc byte[Udp6Proto.Sin6Len];
        // A TCB with no address yet holds its family's wildcard (V4 of ::ffff:0.0.0.0 is zero).
        // An AF_INET6 socket's IPv4 addresses (dual-stack) show v4-mapped, as they are kept.
        // A link-local address carries its zone in sin6_scope_id (RFC 3493 3.3, as NetBSD's sa6_recoverscope).
        if (V6) Udp6Proto.WriteSin6(sa, a.V6, port, a.V6.IsLinkLocal ? scope : 0);
        else UdpProto.WriteSin(sa, a.IsV4 ? a.V4 : Ipv4Addr.Any, port);
        len = Math.Min(nam.Length, size);
        sa.Slice(0, len).CopyTo(nam);
        return 0;
    }

    public override int Attach(Socket so, int proto)
    {
        if (so.Pcb != null) return Abi.EISCONN;
        TcpCb? tp = _adopt;
        _adopt = null;
        if (tp == null)
        {
            int e = so.Snd.Reserve(DefaultSpace);
            if (e == 0) e = so.Rcv.Reserve(DefaultSpace);
            if (e != 0) return e;
            so.Snd.AutoSize = true;
            tp = NewSocketCb();
        }
        var p = new TcpSockPcb(this, so, tp);
        tp.Upcall = p;
        so.Pcb = p;
        return 0;
    }

    public override void Detach(Socket so)
    {
        if (so.Pcb is TcpSockPcb p) Stack.DetachLocked(p.Tp);
        so.Pcb = null;
    }

    /// <summary>A new socket's TCB: an AF_INET6 one is dual-stack when net.inet6.ip6.v6only is 0.</summary>
    private TcpCb NewSocketCb()
    {
        TcpCb tp = Stack.NewSocketCb(V6);
        tp.DualStack = V6 && !_in6!.V6OnlyDefault;
        return tp;
    }

    public override int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        TcpCb tp = Pcb(so).Tp;
        int e = ReadSa(nam, tp, out TcpAddr a, out ushort port, out uint scope);
        if (e != 0) return e;
        if (a.IsMulticast) return Abi.EADDRNOTAVAIL;
        In6Ifaddr? ia6 = null;
        if (!a.IsUnspecified && (a.IsV4 ? _in.FindAddress(a.V4) == null : (ia6 = _in6!.FindAddress(a.V6, Zone(_in.Net, scope))) == null))
            return Abi.EADDRNOTAVAIL;
        e = Stack.BindLocked(tp, a, port, so.Options & (Abi.SO_REUSEADDR | Abi.SO_REUSEPORT));
        // A link-local address's zone is where it is (the one named, as FindAddress matched it there): connections from it run there.
        if (e == 0 && ia6 != null && a.V6.IsLinkLocal) tp.ScopeId = (uint)ia6.Ifp.Index;
        return e;
    }

    public override int Listen(Socket so, Lwp l)
    {
        TcpSockPcb p = Pcb(so);
        if (p.Tp.State == TcpState.Listen) return 0; // listen(2) again: the socket layer updates the backlog
        p.Tp.Reuse = so.Options & (Abi.SO_REUSEADDR | Abi.SO_REUSEPORT);
        int e = Stack.ListenLocked(p.Tp, so.Snd.Hiwat, so.Rcv.Hiwat, out TcpCb? lt);
        if (e != 0) return e;
        p.Tp.Upcall = null;
        p.Tp = lt!;
        lt!.Upcall = p;
        return 0;
    }

    public override int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        TcpSockPcb p = Pcb(so);
        TcpCb tp = p.Tp;
        int e = ReadSa(nam, tp, out TcpAddr a, out ushort port, out uint scope);
        if (e != 0) return e;
        if (a.IsUnspecified || port == 0 || a.IsMulticast) return Abi.EADDRNOTAVAIL;
        if (tp.State == TcpState.Listen) return Abi.EOPNOTSUPP;
        if (tp.State != TcpState.Closed || tp.RemotePort != 0)
        {
            // A connection that already ran (failed, reset): a new attempt gets a new TCB with the same options.
            TcpCb n = Stack.NewSocketCb(V6);
            n.NoDelay = tp.NoDelay;
            n.KeepAlive = tp.KeepAlive;
            n.OurMss = tp.OurMss;
            n.DualStack = tp.DualStack;
            tp.Upcall = null;
            p.Tp = tp = n;
            p.Reported = false;
            so.State &= ~(Socket.SS_CANTRCVMORE | Socket.SS_CANTSENDMORE | Socket.SS_ISDISCONNECTED);
        }
        // A dual-stack socket bound to an address of one family (::ffff:0.0.0.0 is IPv4's) reaches only that family (NetBSD's in6_pcbconnect).
        if (V6 && tp.LocalAddr != TcpAddr.AnyV6 && !tp.LocalAddr.SameFamily(a)) return Abi.EINVAL;
        if (!a.IsV4 && a.V6.IsLinkLocal)
        {
            // The peer's zone: the one named, else the bound address's; two that differ cannot meet.
            if (scope != 0 && tp.ScopeId != 0 && scope != tp.ScopeId) return Abi.EADDRNOTAVAIL;
            if (scope != 0) tp.ScopeId = scope;
        }
        else tp.ScopeId = 0;
        e = SelectSource(a, tp.ScopeId, out TcpAddr src);
        if (e != 0) return e;
        ushort mss = tp.OurMss;
        Stack.SizeBuffers(tp, so.Snd.Hiwat, so.Rcv.Hiwat);
        tp.OurMss = MssTo(a, tp.ScopeId);
        if (mss != 0) tp.OurMss = Math.Min(mss, tp.OurMss);
        tp.Upcall = p;
        so.IsConnecting();
        e = Stack.ConnectLocked(tp, src, a, port);
        if (e != 0) so.State &= ~Socket.SS_ISCONNECTING;
        return e;
    }

    /// <summary>The source address towards <paramref name="dst"/>: IPv4's by the route (a dual-stack socket's v4-mapped peer too), IPv6's by RFC 6724 (simplified) on the route's interface.</summary>
    private int SelectSource(TcpAddr dst, uint scope, out TcpAddr src)
    {
        src = default;
        int e;
        if (dst.IsV4)
        {
            e = _in.SelectSource(dst.V4, out Ipv4Addr s4);
            src = s4;
            return e;
        }
        Ipv6Addr d = dst.V6;
        Ifnet? ifp = d.IsLinkLocal ? Zone(_in.Net, scope) : null;
        if (!In6.IsLoopback(d) && !d.IsLinkLocal && _in6!.FindAddress(d) == null)
        {
            Rt6Entry? rt = _in6.Lookup(d);
            if (rt == null) return Abi.ENETUNREACH;
            ifp = rt.Ifp;
        }
        e = _in6!.SelectSource(d, ifp, out Ipv6Addr s6);
        src = s6;
        return e;
    }

    /// <summary>
    /// close(2) of a connected socket (NetBSD tcp_disconnect): SO_LINGER with 0 seconds resets;
    /// unread data also resets, telling the peer it was lost (RFC 2525 2.17, as Linux); otherwise
    /// a FIN follows what is queued.
    /// </summary>
    public override int Disconnect(Socket so)
    {
        TcpCb tp = Pcb(so).Tp;
        if (((so.Options & Abi.SO_LINGER) != 0 && so.Linger == 0) || (tp.Rcv != null && tp.Rcv.Count > 0))
        {
            Stack.AbortLocked(tp);
            return 0;
        }
        so.IsDisconnecting();
        Stack.ShutdownLocked(tp);
        return 0;
    }

    public override int Shutdown(Socket so)
    {
        Stack.ShutdownLocked(Pcb(so).Tp);
        return 0;
    }

    public override int Abort(Socket so)
    {
        if (so.Pcb is TcpSockPcb p)
        {
            p.Tp.Upcall = null;
            Stack.AbortLocked(p.Tp);
        }
        so.Pcb = null;
        return 0;
    }

    public override int Accept(Socket so, Span<byte> nam, out int len)
    {
        TcpCb tp = Pcb(so).Tp;
        return WriteSa(nam, tp.RemoteAddr, tp.RemotePort, tp.ScopeId, out len);
    }

    public override int SockAddr(Socket so, Span<byte> nam, out int len)
    {
        TcpCb tp = Pcb(so).Tp;
        return WriteSa(nam, tp.LocalAddr, tp.LocalPort, tp.ScopeId, out len);
    }

    public override int PeerAddr(Socket so, Span<byte> nam, out int len)
    {
        TcpCb tp = Pcb(so).Tp;
        return WriteSa(nam, tp.RemoteAddr, tp.RemotePort, tp.ScopeId, out len);
    }

    /// <summary>Control messages on a TCP socket: EINVAL, as NetBSD's PRU_SEND (the data path is <see cref="StreamSend"/>).</summary>
    public override int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l)
    {
        m?.Free();
        return Abi.EINVAL;
    }

    public override int Ctloutput(Socket so, bool set, int level, int name, Span<byte> val, ref int len)
    {
        TcpCb tp = Pcb(so).Tp;
        if (level == Abi.SOL_SOCKET)
        {
            // Shown after the socket layer stored it: SO_KEEPALIVE starts or stops the idle timer.
            if (set && name == Abi.SO_KEEPALIVE) Stack.SetKeepAliveLocked(tp, (so.Options & Abi.SO_KEEPALIVE) != 0);
            return set ? 0 : Abi.ENOPROTOOPT;
        }
        if (level == Abi.IPPROTO_IPV6 && V6 && name == Abi.IPV6_V6ONLY)
        {
            if (set)
            {
                if (val.Length != sizeof(int)) return Abi.EINVAL;
                // Before bind only (NetBSD's ip6_ctloutput): a bound TCB's table entry was chosen by it.
                if (tp.InTable || tp.LocalPort != 0 || !tp.LocalAddr.IsUnspecified) return Abi.EINVAL;
                tp.DualStack = MemoryMarshal.Read<int>(val) == 0;
                return 0;
            }
            if (val.Length < sizeof(int)) return Abi.EINVAL;
            MemoryMarshal.Write(val, tp.DualStack ? 0 : 1);
            len = sizeof(int);
            return 0;
        }
        if (level != IPPROTO_TCP) return Abi.ENOPROTOOPT;
        if (set)
        {
            if (val.Length != sizeof(int)) return Abi.EINVAL;
            int x = MemoryMarshal.Read<int>(val);
            switch (name)
            {
                case TCP_NODELAY:
                    tp.NoDelay = x != 0;
                    // Nagle held back a small segment: it may go now.
                    if (tp.NoDelay && tp.Snd != null && tp.InTable) Stack.SendQueuedLocked(tp);
                    return 0;
                case TCP_MAXSEG:
                    // Before the handshake only, and never above what the interface allows (NetBSD's rule).
                    if (x < 64 || x > ushort.MaxValue) return Abi.EINVAL;
                    if (tp.State != TcpState.Closed) return Abi.EINVAL;
                    tp.OurMss = (ushort)x;
                    return 0;
                case TCP_KEEPIDLE: case TCP_KEEPINTVL: case TCP_KEEPCNT:
                    if (x < 1 || x > 32767) return Abi.EINVAL;
                    if (name == TCP_KEEPIDLE) tp.KeepIdleMs = x * 1000L;
                    else if (name == TCP_KEEPINTVL) tp.KeepIntvlMs = x * 1000L;
                    else tp.KeepCount = x;
                    if (tp.KeepAlive) Stack.SetKeepAliveLocked(tp, true);
                    return 0;
                default:
                    return Abi.ENOPROTOOPT;
            }
        }
        if (name == TCP_INFO) return FillInfo(tp, val, out len);
        int v;
        switch (name)
        {
            case TCP_NODELAY: v = tp.NoDelay ? 1 : 0; break;
            case TCP_MAXSEG: v = tp.State >= TcpState.Established ? (int)tp.Mss : (tp.OurMss != 0 ? tp.OurMss : Stack.LocalMss); break;
            case TCP_KEEPIDLE: v = (int)(tp.KeepIdleMs / 1000); break;
            case TCP_KEEPINTVL: v = (int)(tp.KeepIntvlMs / 1000); break;
            case TCP_KEEPCNT: v = tp.KeepCount; break;
            default: return Abi.ENOPROTOOPT;
        }
        if (val.Length < sizeof(int)) return Abi.EINVAL;
        MemoryMarshal.Write(val, v);
        len = sizeof(int);
        return 0;
    }

    /// <summary>
    /// TCP_INFO (NetBSD tcp_fill_info): the connection's state, options, timers in microseconds,
    /// and windows, the congestion window and the peer's window in segments as NetBSD (and Linux)
    /// report them. Fields NetBSD leaves out (its __tcpi_*) stay 0, except the retransmission
    /// count, which NetBSD also puts in __tcpi_retransmits and __tcpi_retrans. A short buffer
    /// gets the first bytes (getsockopt truncates, as for NetBSD's sockopt copy-out). Lock held.
    /// </summary>
    private int FillInfo(TcpCb tp, Span<byte> val, out int len)
    {
        Span<byte> ti = stackalloc byte[TcpInfoSize];
        ti.Clear();
        ti[0] = (byte)TcpPcbList.NetBsdState(tp.State);
        uint seg = Math.Max(tp.Mss, 1u);
        uint rexmit = (uint)Math.Min(tp.Retransmits, uint.MaxValue);
        ti[2] = (byte)Math.Min(rexmit, 255u);
        byte opts = 0;
        if (tp.Synchronized)
        {
            if (tp.TsOk) opts |= TCPI_OPT_TIMESTAMPS;
            if (tp.SackOk) opts |= TCPI_OPT_SACK;
            if (tp.WsOk) { opts |= TCPI_OPT_WSCALE; ti[6] = (byte)((tp.SndScale & 0xf) | (tp.RcvScale << 4)); }
        }
        ti[5] = opts;
        static void Put(Span<byte> b, int word, long v) => BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(8 + 4 * word), (uint)Math.Clamp(v, 0, uint.MaxValue));
        Put(ti, 0, tp.RtoMs * 1000);                         // tcpi_rto
        Put(ti, 2, tp.Mss);                                  // tcpi_snd_mss
        Put(ti, 3, tp.Mss);                                  // tcpi_rcv_mss
        Put(ti, 7, rexmit);                                  // __tcpi_retrans
        Put(ti, 11, tp.LastRecvMs == 0 ? 0 : (Stack.Now - tp.LastRecvMs) * 1000); // tcpi_last_data_recv
        Put(ti, 15, tp.HaveRtt ? tp.SrttMs * 1000 : 0);      // tcpi_rtt
        Put(ti, 16, tp.HaveRtt ? tp.RttvarMs * 1000 : 0);    // tcpi_rttvar
        Put(ti, 17, tp.Ssthresh);                            // tcpi_snd_ssthresh
        Put(ti, 18, tp.Cwnd / seg);                          // tcpi_snd_cwnd
        Put(ti, 22, tp.Rcv == null ? 0 : tp.Rcv.Free);       // tcpi_rcv_space
        Put(ti, 23, tp.SndWnd / seg);                        // tcpi_snd_wnd
        Put(ti, 25, tp.SndNxt);                              // tcpi_snd_nxt
        Put(ti, 26, tp.RcvNxt);                              // tcpi_rcv_nxt
        Put(ti, 28, rexmit);                                 // tcpi_snd_rexmitpack
        len = Math.Min(val.Length, TcpInfoSize);
        ti.Slice(0, len).CopyTo(val);
        return 0;
    }

    /// <summary>
    /// A listener's engine has completed connections: each becomes a child socket on the
    /// listener's ready queue (NetBSD sonewconn at the handshake's end), or is reset when the
    /// queue is full. Lock held.
    /// </summary>
    internal void AcceptReady(TcpSockPcb lp)
    {
        TcpCb l = lp.Tp;
        while (l.AcceptQueue!.Count > 0)
        {
            TcpCb c = l.AcceptQueue.Dequeue();
            c.Listener = null;
            _adopt = c;
            Socket? child = lp.So.SoNewConn(connected: true);
            _adopt = null;
            if (child == null)
            {
                c.Upcall = null;
                Stack.AbortLocked(c);
            }
        }
    }

    // ---- The data path (IStreamProtocol): one copy between the caller and the rings. ----

    public int StreamSend(Socket so, Lwp l, ref Uio uio, int flags, bool nbio)
    {
        bool dontwait = nbio || (flags & (Abi.MSG_DONTWAIT | Abi.MSG_NBIO)) != 0;
        so.Lock.Enter();
        int e = so.Snd.SbLock(!dontwait);
        if (e != 0)
        {
            so.Lock.Exit();
            return e;
        }
        long moved = 0;
        bool sbHeld = true;
        try
        {
            while (true)
            {
                if ((so.State & Socket.SS_CANTSENDMORE) != 0) return Abi.EPIPE;
                if (so.Error != 0)
                {
                    if (moved > 0) return 0;
                    e = so.Error;
                    so.Error = 0;
                    return e;
                }
                if ((so.State & Socket.SS_ISCONNECTED) == 0 || so.Pcb is not TcpSockPcb p) return Abi.ENOTCONN;
                if (uio.Resid == 0) return 0;
                TcpCb tp = p.Tp;
                int space = tp.Snd.Free;
                if (space < Math.Min(uio.Resid, Math.Max(so.Snd.Lowat, 1)))
                {
                    // The buffer, not the peer, holds the sender back: a larger one instead of a sleep.
                    if (so.Snd.AutoSize && Stack.GrowSendBufferLocked(tp))
                    {
                        so.Snd.Hiwat = tp.Snd.Capacity;
                        continue;
                    }
                    if (dontwait) return moved > 0 ? 0 : Abi.EWOULDBLOCK;
                    // Other senders may go while this one sleeps (as sosend drops sblock).
                    so.Snd.SbUnlock();
                    sbHeld = false;
                    if ((e = so.Snd.Wait()) != 0) return moved > 0 ? 0 : e;
                    if ((e = so.Snd.SbLock(true)) != 0) return moved > 0 ? 0 : e;
                    sbHeld = true;
                    continue;
                }
                Span<byte> seg = tp.Snd.Segment(tp.Snd.Count, (int)Math.Min(space, uio.Resid));
                long before = uio.Resid;
                // The copy may fault or (a remote client) wait for the network: not under the lock.
                so.Lock.Exit();
                e = uio.Move(seg);
                so.Lock.Enter();
                int n = (int)(before - uio.Resid);
                if (e != 0) return moved > 0 ? 0 : e;
                // Shut or dead meanwhile: what was copied goes nowhere.
                if ((so.State & Socket.SS_CANTSENDMORE) != 0 || p.Tp != tp || tp.FinQueued) return Abi.EPIPE;
                if (tp.InTable)
                {
                    tp.Snd.Commit(n);
                    moved += n;
                    Stack.SendQueuedLocked(tp);
                }
            }
        }
        finally
        {
            if (sbHeld) so.Snd.SbUnlock();
            so.Lock.Exit();
        }
    }

    public int StreamReceive(Socket so, Lwp l, ref Uio uio, ref int flags, bool nbio)
    {
        int inFlags = flags;
        flags = 0;
        bool peek = (inFlags & Abi.MSG_PEEK) != 0;
        bool waitall = (inFlags & Abi.MSG_WAITALL) != 0 && !peek;
        bool dontwait = nbio || (inFlags & (Abi.MSG_DONTWAIT | Abi.MSG_NBIO)) != 0;
        so.Lock.Enter();
        int e = so.Rcv.SbLock(!dontwait);
        if (e != 0)
        {
            so.Lock.Exit();
            return e;
        }
        long moved = 0;
        try
        {
            while (true)
            {
                if (uio.Resid == 0) return 0;
                TcpCb? tp = (so.Pcb as TcpSockPcb)?.Tp;
                ByteRing? ring = tp?.AcceptQueue == null ? tp?.Rcv : null;
                int have = ring?.Count ?? 0;
                bool end = (so.State & Socket.SS_CANTRCVMORE) != 0 || so.Error != 0;
                if (have > 0 && (dontwait || end || moved > 0 || have >= Math.Min(uio.Resid, Math.Max(so.Rcv.Lowat, 1))))
                {
                    int n = (int)Math.Min(have, uio.Resid);
                    long before = uio.Resid;
                    if (peek)
                    {
                        for (int off = 0; off < n && e == 0; off += ring!.Segment(off, n - off).Length)
                            e = uio.Move((ReadOnlySpan<byte>)ring!.Segment(off, n - off));
                        return e;
                    }
                    // Only this receiver consumes the ring's front, and the engine writes only past it: copy unlocked.
                    so.Lock.Exit();
                    for (int off = 0; off < n && e == 0;)
                    {
                        ReadOnlySpan<byte> seg = ring!.Segment(off, n - off);
                        e = uio.Move(seg);
                        off += seg.Length;
                    }
                    so.Lock.Enter();
                    int got = (int)(before - uio.Resid);
                    if (got > 0) Stack.ConsumeLocked(tp!, got);
                    moved += got;
                    if (e != 0) return moved > 0 ? 0 : e;
                    if (!waitall || uio.Resid == 0) return 0;
                    continue;
                }
                if (so.Error != 0)
                {
                    if (moved > 0) return 0;
                    e = so.Error;
                    so.Error = 0;
                    return e;
                }
                if ((so.State & Socket.SS_CANTRCVMORE) != 0) return 0;
                if ((so.State & (Socket.SS_ISCONNECTED | Socket.SS_ISCONNECTING)) == 0) return moved > 0 ? 0 : Abi.ENOTCONN;
                if (dontwait) return moved > 0 ? 0 : Abi.EWOULDBLOCK;
                e = so.Rcv.Wait();
                if (e != 0) return moved > 0 ? 0 : e;
            }
        }
        finally
        {
            so.Rcv.SbUnlock();
            so.Lock.Exit();
        }
    }

    public int StreamPoll(Socket so, Lwp l, int events)
    {
        int r = 0;
        so.Lock.Enter();
        TcpCb? tp = (so.Pcb as TcpSockPcb)?.Tp;
        bool listening = (so.Options & Abi.SO_ACCEPTCONN) != 0;
        int rc = !listening && tp?.Rcv != null ? tp.Rcv.Count : 0;
        int free = !listening && tp?.Snd != null ? tp.Snd.Free : 0;
        bool readable = rc >= Math.Max(so.Rcv.Lowat, 1) || (so.State & Socket.SS_CANTRCVMORE) != 0 || so.QLen > 0 || so.Error != 0;
        bool writable = ((so.State & Socket.SS_ISCONNECTED) != 0 && free >= Math.Max(so.Snd.Lowat, 1))
                        || (so.State & Socket.SS_CANTSENDMORE) != 0 || so.Error != 0;
        if (readable) r |= events & (Abi.POLLIN | Abi.POLLRDNORM);
        if (writable) r |= events & (Abi.POLLOUT | Abi.POLLWRNORM);
        if (so.Error != 0) r |= Abi.POLLERR;
        if ((so.State & (Socket.SS_CANTRCVMORE | Socket.SS_CANTSENDMORE)) == (Socket.SS_CANTRCVMORE | Socket.SS_CANTSENDMORE) && !listening)
            r |= Abi.POLLHUP;
        if (r == 0)
        {
            if ((events & (Abi.POLLIN | Abi.POLLRDNORM | Abi.POLLPRI | Abi.POLLRDBAND)) != 0) so.Rcv.Sel.Record(l);
            if ((events & (Abi.POLLOUT | Abi.POLLWRNORM)) != 0) so.Snd.Sel.Record(l);
        }
        so.Lock.Exit();
        return r;
    }

    public int StreamReadable(Socket so)
    {
        so.Lock.Enter();
        TcpCb? tp = (so.Pcb as TcpSockPcb)?.Tp;
        int n = tp?.AcceptQueue == null && tp?.Rcv != null ? tp.Rcv.Count : 0;
        so.Lock.Exit();
        return n;
    }
}

/// <summary>
/// A TCP socket's protocol control block: the socket and its current TCB (a bound one, then the
/// listener or the connection), and the upcall through which the engine reports to the socket
/// (NetBSD's soisconnected, socantrcvmore, soisdisconnected ... calls in tcp_input). Everything
/// here runs with the stack's lock, which is the socket's.
/// </summary>
internal sealed class TcpSockPcb : ITcpUpcall, ITcpListenUpcall
{
    private readonly TcpProto _proto;
    public readonly Socket So;
    public TcpCb Tp;
    /// <summary>The TCB's error went to the socket (once: both upcalls come when it closes).</summary>
    public bool Reported;

    public TcpSockPcb(TcpProto proto, Socket so, TcpCb tp)
    {
        _proto = proto;
        So = so;
        Tp = tp;
    }

    public void Readable(TcpCb tp)
    {
        if (tp != Tp) return;
        if (tp.AcceptQueue != null && tp.InTable) _proto.AcceptReady(this);
        else Update(tp);
    }

    public void Writable(TcpCb tp)
    {
        if (tp == Tp) Update(tp);
    }

    /// <summary>The backlog as listen(2) set it: embryonic and ready connections within 1.5 times it, as sonewconn allows.</summary>
    public bool CanQueue(TcpCb listener) => So.QLen + listener.Embryonic <= 3 * So.QLimit / 2;

    private void Update(TcpCb tp)
    {
        Socket so = So;
        if (!tp.InTable)
        {
            // The connection is gone (reset, refused, timed out, or closed after the FIN exchange).
            if (!Reported)
            {
                Reported = true;
                if (tp.Error != 0) so.Error = tp.Error;
                so.IsDisconnected();
            }
            return;
        }
        if ((so.State & Socket.SS_ISCONNECTING) != 0 && tp.State >= TcpState.Established) so.IsConnected();
        if (tp.RecvClosed && (so.State & Socket.SS_CANTRCVMORE) == 0) so.CantRcvMore();
        if ((so.State & Socket.SS_ISDISCONNECTING) != 0 && tp.State is TcpState.FinWait2 or TcpState.TimeWait)
            so.IsDisconnected();
        so.SoRWakeup();
        so.SoWWakeup();
    }
}
