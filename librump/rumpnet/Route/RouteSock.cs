using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using Rump.Kern;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Net.Route;

/// <summary>
/// The routing socket (NetBSD's rtsock.c: PF_ROUTE, SOCK_RAW). A process writes a routing message
/// (struct rt_msghdr and the sockaddrs its rtm_addrs names, <see cref="RtMsg"/>): RTM_ADD,
/// RTM_DELETE, RTM_CHANGE (root only: EPERM) and RTM_GET. The kernel answers by sending the
/// message back, completed (RTM_GET: the route's destination, gateway, mask, interface and its
/// address) and with rtm_errno set on failure, to every routing socket listening for the
/// family, the writer's own included unless it cleared SO_USELOOPBACK; the write itself returns
/// the error too. Interface changes made through the ioctls (<see cref="IfIoctl"/>) are announced
/// the same way: RTM_IFINFO, RTM_NEWADDR/RTM_DELADDR, RTM_IFANNOUNCE.
///
/// Listing: sysctl nodes (read-only structures) that hold the same messages NetBSD's
/// net.route.0.inet.NET_RT_DUMP and NET_RT_FLAGS(RTF_LLINFO) give: <c>net.route.inet.dump</c>,
/// one RTM_GET message per route, and <c>net.route.inet.llinfo</c>, one per ARP entry (RTA_DST
/// the IPv4 address, RTA_GATEWAY a sockaddr_dl with the Ethernet address; RTF_LLINFO, and
/// RTF_STATIC clear: every entry here was learned). NetBSD's MIB has the family and the
/// operation as further name levels; these are plain leaves, found by name.
///
/// Locks: <see cref="_lock"/> is every routing socket's lock (NetBSD's softnet_lock for them):
/// it protects the socket list and the sockets' buffers, so a message is delivered to all of
/// them under one lock, never two socket locks nested. It is taken after any other socket's
/// lock (an ioctl on a UDP socket announces a change) and before Inet's configuration lock
/// (RTM_ADD under it changes the table).
/// </summary>
public sealed class RouteSock : Protosw
{
    /// <summary>NetBSD's route_sendspace and route_recvspace.</summary>
    public const int SendSpace = 8192, RecvSpace = 8192;

    private readonly Kernel _k;
    private readonly Net _net;
    private readonly KMutex _lock;
    private readonly List<Socket> _socks = new();
    /// <summary>Messages dropped because a listener's buffer was full (NetBSD's rts_drops... counted per kernel).</summary>
    public long Drops;

    /// <summary>The control block: the address family a socket listens for (socket(2)'s protocol; 0: all).</summary>
    private sealed class RouteCb
    {
        public int Family;
    }

    private RouteSock(Kernel k, Net net)
    {
        _k = k;
        _net = net;
        _lock = new KMutex(k);
    }

    /// <summary>Registers the routing socket and its sysctl listings; while the net component initialises.</summary>
    public static void Attach(Kernel k, Net net)
    {
        var rs = new RouteSock(k, net);
        k.SetService(rs);
        net.Domains.Register(rs);
        Sysctl s = k.Sysctl;
        int e;
        Sysctl.Node? n = s.FindByName("net");
        if (n == null && (e = s.CreateNode(null, "net", out n, Abi.CTL_NET)) != 0) Kernel.Panic("sysctl net: error " + e);
        if ((e = s.CreateNode(n, "route", out Sysctl.Node? route, Abi.PF_ROUTE)) != 0) Kernel.Panic("sysctl net.route: error " + e);
        if ((e = s.CreateNode(route, "inet", out Sysctl.Node? inet, Abi.AF_INET)) != 0) Kernel.Panic("sysctl net.route.inet: error " + e);
        e = s.CreateStruct(inet, "dump", dst => Copy(rs.DumpRoutes(), dst), out _, 1, desc: "IPv4 routes as RTM_GET messages");
        if (e == 0) e = s.CreateStruct(inet, "llinfo", dst => Copy(rs.DumpArp(), dst), out _, 2, desc: "ARP entries as RTM_GET messages");
        if (e != 0) Kernel.Panic("sysctl net.route.inet: error " + e);
    }

    private static int Copy(byte[] all, Span<byte> dst)
    {
        all.AsSpan(0, Math.Min(all.Length, dst.Length)).CopyTo(dst);
        return all.Length;
    }

    public override int Family => Abi.AF_ROUTE;
    public override int Type => Abi.SOCK_RAW;
    public override int Protocol => 0;
    public override int Flags => PR_ATOMIC | PR_ADDR;

    public override KMutex NewLock(Kernel k) => _lock;

    public override int Attach(Socket so, int proto)
    {
        if (so.Pcb != null) return Abi.EISCONN;
        int e = so.Snd.Reserve(SendSpace);
        if (e == 0) e = so.Rcv.Reserve(RecvSpace);
        if (e != 0) return e;
        so.Pcb = new RouteCb { Family = proto };
        // NetBSD route_attach: a routing socket hears its own messages unless told not to.
        so.Options |= Abi.SO_USELOOPBACK;
        so.IsConnected();
        _socks.Add(so);
        return 0;
    }

    public override void Detach(Socket so)
    {
        _socks.Remove(so);
        so.Pcb = null;
    }

    public override int Disconnect(Socket so) => 0;
    public override int Shutdown(Socket so) => 0;
    public override int Abort(Socket so) => 0;

    public override int SockAddr(Socket so, Span<byte> nam, out int len)
    {
        len = Math.Min(nam.Length, 2);
        if (len > 0) nam[0] = 2;
        if (len > 1) nam[1] = (byte)Abi.AF_ROUTE;
        return 0;
    }

    public override int PeerAddr(Socket so, Span<byte> nam, out int len) => SockAddr(so, nam, out len);

    /// <summary>A message written to the socket (NetBSD route_output). With the routing sockets' lock held.</summary>
    public override int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l)
    {
        if (m == null) return Abi.EINVAL;
        Span<byte> reply = stackalloc byte[RtMsgBuilder.MaxSize];
        int e = RtMsg.Parse(m.Bytes, out RtMsg msg);
        int len = 0;
        if (e == 0)
        {
            e = Request(l, msg, reply, out len);
            if (e != 0)
            {
                // The request as written goes back with the error (NetBSD: rtm_errno, RTF_DONE clear).
                len = Math.Min(msg.Length, reply.Length);
                m.Bytes.Slice(0, len).CopyTo(reply);
                BinaryPrimitives.WriteUInt16LittleEndian(reply.Slice(NetcfgWire.RtmMsglen), (ushort)len);
                BinaryPrimitives.WriteInt32LittleEndian(reply.Slice(NetcfgWire.RtmErrno), e);
                int f = BinaryPrimitives.ReadInt32LittleEndian(reply.Slice(NetcfgWire.RtmFlags));
                BinaryPrimitives.WriteInt32LittleEndian(reply.Slice(NetcfgWire.RtmFlags), f & ~Abi.RTF_DONE);
            }
        }
        m.Free();
        if (len > 0) DeliverLocked(reply.Slice(0, len), Abi.AF_INET, so);
        if (e == 0) control?.Dispose(l);
        return e;
    }

    /// <summary>Carries out one request and writes the answer into <paramref name="reply"/>; 0 or the errno for rtm_errno.</summary>
    private int Request(Lwp l, in RtMsg msg, Span<byte> reply, out int len)
    {
        len = 0;
        Inet? inet = _k.GetService<Inet>();
        if (inet == null) return Abi.EAFNOSUPPORT;
        if (msg.Type != Abi.RTM_GET && msg.Type != Abi.RTM_ADD && msg.Type != Abi.RTM_DELETE && msg.Type != Abi.RTM_CHANGE)
            return Abi.EOPNOTSUPP;
        if (msg.Type != Abi.RTM_GET && Kauth.Privileged(l.Cred) != 0) return Abi.EPERM;
        if (msg.Dst.IsEmpty) return Abi.EINVAL;
        int e = NetcfgWire.ReadSin(msg.Dst, out Ipv4Addr dst);
        if (e != 0) return e;
        bool hasMask = !msg.Netmask.IsEmpty && (msg.Flags & Abi.RTF_HOST) == 0;
        Ipv4Addr mask = hasMask ? RtMsg.ReadMask(msg.Netmask) : Ipv4Addr.Broadcast;
        if (!RouteTable.IsContiguous(mask)) return Abi.EINVAL;
        Ipv4Addr gw = default;
        bool hasGw = !msg.Gateway.IsEmpty && msg.Gateway[1] == Abi.AF_INET;
        if (hasGw && (e = NetcfgWire.ReadSin(msg.Gateway, out gw)) != 0) return e;

        RtEntry? rt;
        switch (msg.Type)
        {
            case Abi.RTM_ADD:
                // Only gateway routes can be added: a connected route comes with its interface's address.
                if (!hasGw) return msg.Gateway.IsEmpty ? Abi.EINVAL : Abi.EAFNOSUPPORT;
                if ((e = inet.AddRoute(dst, mask, gw)) != 0) return e;
                rt = Exact(inet, dst, mask);
                break;
            case Abi.RTM_DELETE:
                rt = Exact(inet, dst, mask);
                if (rt == null) return Abi.ESRCH;
                if ((e = inet.DeleteRoute(dst, mask)) != 0) return e;
                break;
            case Abi.RTM_CHANGE:
            {
                RtEntry? old = Exact(inet, dst, mask);
                if (old == null) return Abi.ESRCH;
                if (!hasGw) return Abi.EINVAL;
                inet.DeleteRoute(dst, mask);
                if ((e = inet.AddRoute(dst, mask, gw)) != 0)
                {
                    if (old.IsGateway) inet.AddRoute(old.Dst, old.Mask, old.Gateway);
                    return e;
                }
                rt = Exact(inet, dst, mask);
                break;
            }
            default: // RTM_GET: the exact route if a mask was given, else the one a packet to dst takes
                rt = hasMask ? Exact(inet, dst, mask) : inet.Lookup(dst);
                if (rt == null) return Abi.ESRCH;
                break;
        }
        if (rt == null) return Abi.ESRCH;
        len = Emit(reply, msg.Type, rt, l.Proc.Pid, msg.Seq, 0, inet);
        return 0;
    }

    private static RtEntry? Exact(Inet inet, Ipv4Addr dst, Ipv4Addr mask)
    {
        foreach (RtEntry r in inet.Routes())
            if (r.Dst.Value == (dst.Value & mask.Value) && r.Mask == mask) return r;
        return null;
    }

    /// <summary>A route as a message: DST, GATEWAY (its interface's link address for a connected route), NETMASK, IFP, IFA.</summary>
    private static int Emit(Span<byte> b, int type, RtEntry rt, int pid, int seq, int errno, Inet inet)
    {
        var w = new RtMsgBuilder(b, type, rt.Ifp.Index, rt.Flags | Abi.RTF_DONE, pid, seq, errno);
        w.SetMtu(rt.PathMtu); // what path-MTU discovery learned for a host route, else the interface's
        w.AddSin(Abi.RTA_DST, rt.Dst);
        if (rt.IsGateway) w.AddSin(Abi.RTA_GATEWAY, rt.Gateway);
        else w.AddSdl(Abi.RTA_GATEWAY, rt.Ifp.Index, rt.Ifp.Type, rt.Ifp.Name, null);
        w.AddSin(Abi.RTA_NETMASK, rt.Mask);
        w.AddSdl(Abi.RTA_IFP, rt.Ifp.Index, rt.Ifp.Type, rt.Ifp.Name, rt.Ifp.Type == Ifnet.IFT_ETHER ? rt.Ifp.LinkAddr : null);
        w.AddSin(Abi.RTA_IFA, rt.IfAddr);
        return w.Finish();
    }

    /// <summary>Appends one message to every routing socket listening for <paramref name="family"/> (NetBSD raw_input). With <see cref="_lock"/> held.</summary>
    private void DeliverLocked(ReadOnlySpan<byte> msg, int family, Socket? from)
    {
        ReadOnlySpan<byte> src = stackalloc byte[] { 2, (byte)Abi.AF_ROUTE };
        foreach (Socket so in _socks)
        {
            if (so == from && (so.Options & Abi.SO_USELOOPBACK) == 0) continue;
            if (so.Pcb is not RouteCb cb || (cb.Family != 0 && cb.Family != family)) continue;
            if ((so.State & Socket.SS_CANTRCVMORE) != 0) continue;
            Mbuf? m = _net.Mbufs.Get(msg.Length, 0);
            if (m == null) { System.Threading.Interlocked.Increment(ref Drops); continue; }
            m.Append(msg);
            if (!so.Rcv.AppendAddr(src, m, null))
            {
                so.Overflowed++;
                System.Threading.Interlocked.Increment(ref Drops);
                m.Free();
                continue;
            }
            so.SoRWakeup();
        }
    }

    private void Deliver(ReadOnlySpan<byte> msg, int family)
    {
        _lock.Enter();
        DeliverLocked(msg, family, null);
        _lock.Exit();
    }

    // ---- announcements (NetBSD rt_ifmsg, rt_newaddrmsg, rt_ifannouncemsg) --------------------
    // These use struct rt_msghdr's first fields as NetBSD's if_msghdr/ifa_msghdr do (msglen,
    // version, type), then their own: if_msghdr and ifa_msghdr are summarised as an rt_msghdr
    // whose rtm_index is the interface and rtm_flags its IFF_* flags (RTM_IFINFO), or whose
    // sockaddrs are the address (RTA_IFA), its mask and the interface (RTM_NEWADDR/RTM_DELADDR).

    /// <summary>RTM_IFINFO: the interface's flags or MTU changed.</summary>
    public void IfInfo(Ifnet ifp)
    {
        Span<byte> b = stackalloc byte[RtMsgBuilder.MaxSize];
        var w = new RtMsgBuilder(b, Abi.RTM_IFINFO, ifp.Index, ifp.Flags, 0, 0, 0);
        w.SetMtu(ifp.Mtu);
        w.AddSdl(Abi.RTA_IFP, ifp.Index, ifp.Type, ifp.Name, ifp.Type == Ifnet.IFT_ETHER ? ifp.LinkAddr : null);
        Deliver(b.Slice(0, w.Finish()), 0);
    }

    /// <summary>RTM_NEWADDR / RTM_DELADDR: an IPv4 address was added to or removed from the interface.</summary>
    public void NewAddr(Ifnet ifp, Ipv4Addr addr, Ipv4Addr mask, bool add)
    {
        Span<byte> b = stackalloc byte[RtMsgBuilder.MaxSize];
        var w = new RtMsgBuilder(b, add ? Abi.RTM_NEWADDR : Abi.RTM_DELADDR, ifp.Index, 0, 0, 0, 0);
        w.AddSin(Abi.RTA_NETMASK, mask);
        w.AddSdl(Abi.RTA_IFP, ifp.Index, ifp.Type, ifp.Name, ifp.Type == Ifnet.IFT_ETHER ? ifp.LinkAddr : null);
        w.AddSin(Abi.RTA_IFA, addr);
        Deliver(b.Slice(0, w.Finish()), Abi.AF_INET);
    }

    /// <summary>RTM_IFANNOUNCE: an interface was made or destroyed (rtm_flags 0 arrival, 1 departure, NetBSD's IFAN_*).</summary>
    public void IfAnnounce(Ifnet ifp, bool arrival)
    {
        Span<byte> b = stackalloc byte[RtMsgBuilder.MaxSize];
        var w = new RtMsgBuilder(b, Abi.RTM_IFANNOUNCE, ifp.Index, arrival ? 0 : 1, 0, 0, 0);
        w.AddSdl(Abi.RTA_IFP, ifp.Index, ifp.Type, ifp.Name, null);
        Deliver(b.Slice(0, w.Finish()), 0);
    }

    // ---- listings ---------------------------------------------------------------------------

    private byte[] DumpRoutes()
    {
        Inet? inet = _k.GetService<Inet>();
        if (inet == null) return Array.Empty<byte>();
        RtEntry[] all = inet.Routes();
        var outb = new byte[all.Length * RtMsgBuilder.MaxSize];
        int off = 0;
        foreach (RtEntry r in all) off += Emit(outb.AsSpan(off), Abi.RTM_GET, r, 0, 0, 0, inet);
        return outb.AsSpan(0, off).ToArray();
    }

    private byte[] DumpArp()
    {
        Inet? inet = _k.GetService<Inet>();
        if (inet == null) return Array.Empty<byte>();
        var list = new List<byte>();
        Span<byte> b = stackalloc byte[RtMsgBuilder.MaxSize];
        foreach (Ifnet ifp in _net.Interfaces())
        {
            ArpCache? c = inet.ArpOf(ifp);
            if (c == null) continue;
            foreach ((Ipv4Addr ip, EtherAddr mac, bool resolved) in c.Entries())
            {
                var w = new RtMsgBuilder(b, Abi.RTM_GET, ifp.Index, Abi.RTF_UP | Abi.RTF_HOST | Abi.RTF_LLINFO | Abi.RTF_DONE, 0, 0, 0);
                w.AddSin(Abi.RTA_DST, ip);
                w.AddSdl(Abi.RTA_GATEWAY, ifp.Index, ifp.Type, ifp.Name, resolved ? mac : null);
                int n = w.Finish();
                foreach (byte x in b.Slice(0, n)) list.Add(x);
            }
        }
        return list.ToArray();
    }
}
