using System;
using System.Threading;
using Rump.Kern;
using Rump.Net.Route;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// A one-shot DHCP client (NetBSD's rump_netconfig_dhcp_ipv4_oneshot; RFC 2131 3.1 and 4.4,
/// options of RFC 2132): DISCOVER, the first acceptable OFFER, REQUEST for it, ACK; then the
/// interface gets the leased address and mask (option 1; without it the address's classful mask),
/// the default route goes via the first router (option 3), and the name servers (option 6) and
/// the lease are printed to the console (kern.msgbuf): a rump kernel has no resolver to hand them
/// to. The lease is not renewed (one shot, as NetBSD's).
///
/// The exchange runs over a kernel UDP PCB bound to port 68 with SO_BROADCAST, before the
/// interface has an address: the PCB's <see cref="UdpPcb.OutIf"/> sends its 255.255.255.255
/// datagrams from 0.0.0.0 out of this interface (the one change in Udp and Ip: NetBSD's
/// IP_PKTINFO-style output interface), and the requests set the BROADCAST flag so the server
/// answers to 255.255.255.255, which IP input takes on any interface without an address.
///
/// Each request is sent again after 1, 2, 4, 8, 8... seconds (RFC 2131 4.1's doubling, shorter
/// first steps so that a lost first frame costs little) until <see cref="DhcpTiming.TotalNs"/>
/// has passed: then ETIMEDOUT. A NAK to the REQUEST starts over with a new xid. Replies that do
/// not parse, are not for our xid and MAC, carry no message type or the wrong one, or offer an
/// unusable address are ignored and counted (<see cref="InetStats"/>.Dhcp*), never fatal.
///
/// Locks: one <see cref="KMutex"/> per exchange guards its "a datagram arrived" flag; the PCB's
/// upcall (soft interrupt, no other lock held) takes it to wake the waiting thread. It is a leaf.
/// </summary>
public static class DhcpClient
{
    public static readonly DhcpTiming DefaultTiming = new(1_000_000_000L, 8_000_000_000L, 30_000_000_000L);

    /// <summary>Runs the exchange on <paramref name="ifname"/> and configures the lease; 0 or an errno (ENXIO no such interface, EINVAL not Ethernet, EADDRINUSE port 68 taken, ETIMEDOUT no lease in time, EINTR).</summary>
    public static int Oneshot(Kernel k, string ifname) => Oneshot(k, ifname, DefaultTiming);

    public static int Oneshot(Kernel k, string ifname, DhcpTiming timing)
    {
        Net? net = k.GetService<Net>();
        Inet? inet = k.GetService<Inet>();
        if (net == null || inet == null) return Abi.ENXIO;
        Ifnet? ifp = net.Find(ifname);
        if (ifp == null) return Abi.ENXIO;
        if (ifp.Type != Ifnet.IFT_ETHER || (ifp.Flags & Ifnet.IFF_BROADCAST) == 0) return Abi.EINVAL;
        if (!ifp.IsUp) ifp.SetFlags(Ifnet.IFF_UP | Ifnet.IFF_RUNNING, 0);

        var x = new Exchange(k, inet, ifp, timing);
        try
        {
            int e = x.Open();
            if (e != 0) return e;
            e = x.Run(out DhcpReply ack);
            if (e != 0) return e;
            return Configure(k, inet, ifp, ack);
        }
        finally { x.Close(); }
    }

    private static int Configure(Kernel k, Inet inet, Ifnet ifp, in DhcpReply ack)
    {
        Ipv4Addr mask = ack.HasSubnetMask ? ack.SubnetMask : ClassfulMask(ack.Yiaddr);
        int e = inet.AddAddress(ifp, ack.Yiaddr, mask, default);
        if (e != 0) return e;
        string msg = $"{ifp.Name}: DHCP lease {ack.Yiaddr}/{System.Numerics.BitOperations.PopCount(mask.Value)} from {ack.ServerId}, {ack.LeaseTime} s";
        if (ack.RouterCount > 0)
        {
            inet.DeleteRoute(Ipv4Addr.Any, Ipv4Addr.Any);
            int re = inet.AddRoute(Ipv4Addr.Any, Ipv4Addr.Any, ack.Router0);
            msg += re == 0 ? $", router {ack.Router0}" : $", router {ack.Router0} not on the subnet (errno {re}): no default route";
        }
        for (int i = 0; i < ack.DnsCount; i++) msg += (i == 0 ? ", dns " : " ") + ack.Dns(i);
        k.Printf(msg + "\n");
        return 0;
    }

    private static Ipv4Addr ClassfulMask(Ipv4Addr a)
        => new(a.Value >> 31 == 0 ? 0xff000000u : a.Value >> 30 == 2 ? 0xffff0000u : 0xffffff00u);

    /// <summary>One run of the protocol: its PCB, xid, clock and wake-up.</summary>
    private sealed class Exchange
    {
        private readonly Kernel _k;
        private readonly Inet _in;
        private readonly Ifnet _ifp;
        private readonly DhcpTiming _t;
        private readonly KMutex _lock;
        private readonly KCondvar _cv;
        private readonly Random _rnd = new();
        /// <summary>Protected by <see cref="_lock"/>: a datagram was queued on the PCB since the thread last looked.</summary>
        private bool _arrived;
        private UdpPcb? _pcb;
        private uint _xid;
        private readonly long _start, _deadline;
        private readonly byte[] _tx = new byte[DhcpMessage.MinSize], _rx = new byte[DhcpMessage.MaxSize];

        public Exchange(Kernel k, Inet inet, Ifnet ifp, DhcpTiming t)
        {
            _k = k;
            _in = inet;
            _ifp = ifp;
            _t = t;
            _lock = new KMutex(k);
            _cv = new KCondvar(k);
            _start = Clock.MonotonicNs();
            _deadline = _start + t.TotalNs;
        }

        private InetStats S => _in.Stats;

        public int Open()
        {
            Udp udp = _in.Udp;
            _pcb = udp.Attach();
            _pcb.Options |= UdpPcb.SO_BROADCAST;
            int e = udp.Bind(_pcb, Ipv4Addr.Any, DhcpMessage.ClientPort);
            if (e != 0) return e;
            _pcb.OutIf = _ifp;
            _pcb.Upcall = Wake;
            return 0;
        }

        public void Close()
        {
            if (_pcb == null) return;
            _pcb.Upcall = null;
            _in.Udp.Detach(_pcb);
        }

        private void Wake(UdpPcb p)
        {
            _lock.Enter();
            _arrived = true;
            _cv.Broadcast();
            _lock.Exit();
        }

        /// <summary>SELECTING then REQUESTING (RFC 2131 figure 5); a NAK goes back to SELECTING.</summary>
        public int Run(out DhcpReply ack)
        {
            ack = default;
            while (true)
            {
                _xid = (uint)_rnd.Next() ^ (uint)_rnd.Next() << 1;
                int e = Transact(DhcpMessage.Discover, default, default, out DhcpReply offer);
                if (e != 0) return e;
                e = Transact(DhcpMessage.Request, offer.Yiaddr, offer.ServerId, out ack);
                if (e == Abi.ECONNREFUSED) continue; // NAK
                return e;
            }
        }

        /// <summary>
        /// Sends a <paramref name="type"/> message until the answer comes (OFFER to DISCOVER, ACK
        /// to REQUEST) or time runs out. ECONNREFUSED: the chosen server sent a NAK.
        /// </summary>
        private int Transact(byte type, Ipv4Addr requested, Ipv4Addr server, out DhcpReply reply)
        {
            reply = default;
            long rto = _t.FirstNs;
            while (true)
            {
                long now = Clock.MonotonicNs();
                if (now >= _deadline) return Abi.ETIMEDOUT;
                ushort secs = (ushort)Math.Min(ushort.MaxValue, (now - _start) / 1_000_000_000L);
                int len = DhcpMessage.Emit(_tx, type, _xid, secs, _ifp.LinkAddr, requested, server);
                Interlocked.Increment(ref S.DhcpSent);
                int e = _in.Udp.Send(_pcb!, _tx.AsSpan(0, len), Ipv4Addr.Broadcast, DhcpMessage.ServerPort);
                // A send that fails (no buffers, link down) is retried as a lost one would be.
                long until = Math.Min(now + rto, _deadline);
                while (true)
                {
                    int r = Take(type, requested, server, out reply);
                    if (r != Abi.EWOULDBLOCK) return r;
                    long left = until - Clock.MonotonicNs();
                    if (left <= 0) break;
                    _lock.Enter();
                    int w = 0;
                    if (!_arrived) w = _cv.TimedWaitSig(_lock, left);
                    _arrived = false;
                    _lock.Exit();
                    if (w == Abi.EINTR) return Abi.EINTR;
                }
                rto = Math.Min(rto * 2, _t.MaxNs);
            }
        }

        /// <summary>The first acceptable reply among the queued datagrams (0), a NAK (ECONNREFUSED), or EWOULDBLOCK when none is.</summary>
        private int Take(byte sent, Ipv4Addr requested, Ipv4Addr server, out DhcpReply reply)
        {
            reply = default;
            while (_in.Udp.Receive(_pcb!, _rx, out int n, out int length, out Ipv4Addr src, out _) == 0)
            {
                Interlocked.Increment(ref S.DhcpReplies);
                if (length > n || DhcpMessage.Parse(_rx.AsSpan(0, n), out DhcpReply r) != WireError.Ok)
                {
                    Interlocked.Increment(ref S.DhcpBadFormat);
                    continue;
                }
                if (r.Op != DhcpMessage.OpReply || r.Xid != _xid || r.Htype != DhcpMessage.HtypeEthernet || r.Hlen != EtherAddr.Size || r.Chaddr != _ifp.LinkAddr)
                {
                    Interlocked.Increment(ref S.DhcpNotOurs);
                    continue;
                }
                if (r.MessageType == 0)
                {
                    Interlocked.Increment(ref S.DhcpNoType);
                    continue;
                }
                if (sent == DhcpMessage.Request && r.MessageType == DhcpMessage.Nak && (r.ServerId == server || r.ServerId == Ipv4Addr.Any))
                {
                    Interlocked.Increment(ref S.DhcpNak);
                    _k.Printf($"{_ifp.Name}: DHCP NAK from {src}, starting over\n");
                    return Abi.ECONNREFUSED;
                }
                byte want = sent == DhcpMessage.Discover ? DhcpMessage.Offer : DhcpMessage.Ack;
                if (r.MessageType != want || !Usable(r) || (sent == DhcpMessage.Request && (r.Yiaddr != requested || r.ServerId != server)))
                {
                    Interlocked.Increment(ref S.DhcpUnexpected);
                    continue;
                }
                reply = r;
                return 0;
            }
            return Abi.EWOULDBLOCK;
        }

        /// <summary>An address a host can have (NetBSD's bootpcheck refuses 0.0.0.0 and 255.255.255.255), a server to answer, a contiguous mask.</summary>
        private static bool Usable(in DhcpReply r)
        {
            Ipv4Addr a = r.Yiaddr;
            if (a == Ipv4Addr.Any || a == Ipv4Addr.Broadcast || a.IsMulticast || a.IsLoopback || a.Value >> 28 == 0xf) return false;
            if (r.ServerId == Ipv4Addr.Any) return false;
            return !r.HasSubnetMask || (RouteTable.IsContiguous(r.SubnetMask) && r.SubnetMask.Value != 0);
        }
    }
}

/// <summary>The client's clock: the first retransmission timeout, its cap as it doubles, and the total time allowed (all in ns).</summary>
public readonly record struct DhcpTiming(long FirstNs, long MaxNs, long TotalNs);
