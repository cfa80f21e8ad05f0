using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Route;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// IPv4 inside one kernel: the routing table (pure), reassembly (in order, out of order, and
/// hostile: overlaps, floods, bad lengths), UDP PCBs over lo0 (bind rules, delivery, port
/// unreachable reaching a connected PCB as ECONNREFUSED), and ARP and IP on an Ethernet test
/// interface whose frames the test sees and injects (resolution with a held packet, replies to
/// requests for our address, hostile frames counted and dropped).
/// </summary>
public class InetTests : KernelTest
{
    private static readonly Ipv4Addr A = new(10, 9, 0, 2), Peer = new(10, 9, 0, 1), Mask24 = new(255, 255, 255, 0);
    private const ulong OurMac = 0x02_00_00_00_09_02, PeerMac = 0x02_00_00_00_09_01;

    private static Inet InetOf(RumpKernel k) => k.Kernel.GetService<Inet>() ?? throw new AssertionException("the net component published Inet");


    // ---- routing table (pure) ----

    private sealed class NullIf : Ifnet
    {
        public NullIf(Kernel k, string n) : base(k, n, IFT_ETHER, 1500, IFF_UP, default) { }
        protected override int Transmit(Mbuf m) { m.Free(); return 0; }
    }

    [Test]
    public void RouteTable_LongestPrefixWins_DownInterfacesAreSkipped_DuplicatesAndBadMasksRefused()
    {
        RumpKernel k = Boot();
        var e0 = new NullIf(k.Kernel, "e0");
        var e1 = new NullIf(k.Kernel, "e1");
        var t = new RouteTable();
        var def = new RtEntry(Ipv4Addr.Any, Ipv4Addr.Any, new Ipv4Addr(10, 0, 0, 1), RtEntry.RTF_GATEWAY, e0, new Ipv4Addr(10, 0, 0, 2));
        var net8 = new RtEntry(new Ipv4Addr(10, 0, 0, 0), new Ipv4Addr(255, 0, 0, 0), default, 0, e0, new Ipv4Addr(10, 0, 0, 2));
        var net24 = new RtEntry(new Ipv4Addr(10, 1, 2, 77), Mask24, default, 0, e1, new Ipv4Addr(10, 1, 2, 3));
        var host = new RtEntry(new Ipv4Addr(10, 1, 2, 9), Ipv4Addr.Broadcast, new Ipv4Addr(10, 0, 0, 5), RtEntry.RTF_GATEWAY, e0, new Ipv4Addr(10, 0, 0, 2));
        Assert.That(t.Add(def), Is.EqualTo(0));
        Assert.That(t.Add(net24), Is.EqualTo(0));
        Assert.That(t.Add(host), Is.EqualTo(0));
        Assert.That(t.Add(net8), Is.EqualTo(0));
        Assert.That(net24.Dst, Is.EqualTo(new Ipv4Addr(10, 1, 2, 0)), "the destination is masked");
        Assert.That(host.Flags & RtEntry.RTF_HOST, Is.Not.Zero, "a /32 is a host route");
        Assert.That(t.Add(new RtEntry(new Ipv4Addr(10, 1, 2, 0), Mask24, default, 0, e0, default)), Is.EqualTo(Abi.EEXIST));
        Assert.That(t.Add(new RtEntry(new Ipv4Addr(10, 1, 2, 0), new Ipv4Addr(255, 0, 255, 0), default, 0, e0, default)), Is.EqualTo(Abi.EINVAL));

        Assert.That(t.Lookup(new Ipv4Addr(10, 1, 2, 9)), Is.SameAs(host));
        Assert.That(t.Lookup(new Ipv4Addr(10, 1, 2, 10)), Is.SameAs(net24));
        Assert.That(t.Lookup(new Ipv4Addr(10, 7, 7, 7)), Is.SameAs(net8));
        Assert.That(t.Lookup(new Ipv4Addr(192, 168, 1, 1)), Is.SameAs(def));
        Assert.That(def.NextHop(new Ipv4Addr(192, 168, 1, 1)), Is.EqualTo(new Ipv4Addr(10, 0, 0, 1)));
        Assert.That(net24.NextHop(new Ipv4Addr(10, 1, 2, 10)), Is.EqualTo(new Ipv4Addr(10, 1, 2, 10)));

        e1.SetFlags(0, Ifnet.IFF_UP);
        Assert.That(t.Lookup(new Ipv4Addr(10, 1, 2, 10)), Is.SameAs(net8), "a route over a down interface is not used");
        Assert.That(t.Delete(Ipv4Addr.Any, Ipv4Addr.Any), Is.EqualTo(0));
        Assert.That(t.Lookup(new Ipv4Addr(192, 168, 1, 1)), Is.Null);
        Assert.That(t.Delete(Ipv4Addr.Any, Ipv4Addr.Any), Is.EqualTo(Abi.ESRCH));
        t.DeleteInterface(e0);
        Assert.That(t.Count, Is.EqualTo(1));
    }

    [Test]
    public void Netconfig_ParsesDottedQuadsStrictly()
    {
        Assert.That(Netconfig.TryParse("10.0.0.1", out Ipv4Addr a) && a == new Ipv4Addr(10, 0, 0, 1));
        Assert.That(Netconfig.TryParse("255.255.255.255", out a) && a == Ipv4Addr.Broadcast);
        foreach (string bad in new[] { "", "10", "10.0.0", "10.0.0.1.", "10.0.0.256", "1.2.3.04", "a.b.c.d", "10..0.1", "10.0.0.1 " })
            Assert.That(Netconfig.TryParse(bad, out _), Is.False, bad);
    }

    // ---- reassembly ----

    /// <summary>A fragment of a UDP-less protocol-253 datagram: <paramref name="len"/> bytes of payload at <paramref name="off"/>, the byte values being their offset's low byte.</summary>
    private static Mbuf Fragment(Rump.Net.Net n, ushort id, int off, int len, bool more, Ipv4Addr? src = null, byte fill = 0)
    {
        Mbuf m = n.Mbufs.Get(20 + len)!;
        Span<byte> p = m.Append(len);
        for (int i = 0; i < len; i++) p[i] = fill != 0 ? fill : (byte)(off + i);
        var h = new Ipv4Header { Source = src ?? Peer, Destination = Inet.Loopback, Protocol = 253, Ttl = 64, Identification = id, FragmentOffset = off, MoreFragments = more };
        Ipv4Packet.Emit(m.Prepend(20), h, len);
        m.RcvIf = n.Lo0;
        return m;
    }

    [Test]
    public void Reassembly_OutOfOrderFragmentsMakeTheDatagram_RepeatsAreHarmless()
    {
        RumpKernel k = Boot();
        Inet inet = InetOf(k);
        Rump.Net.Net n = inet.Net;
        Assert.That(inet.Reass.Insert(Fragment(n, 7, 1480, 1480, true)), Is.Null);
        Assert.That(inet.Reass.Insert(Fragment(n, 7, 2960, 100, false)), Is.Null);
        Assert.That(inet.Reass.Insert(Fragment(n, 7, 1480, 1480, true)), Is.Null, "an exact repeat");
        Assert.That(inet.Reass.Insert(Fragment(n, 7, 1600, 800, true)), Is.Null, "a repeat of part of what came (the same bytes)");
        Assert.That(inet.Reass.Pending, Is.EqualTo(1), "repeats do not discard the datagram");
        Mbuf? whole = inet.Reass.Insert(Fragment(n, 7, 0, 1480, true));
        Assert.That(whole, Is.Not.Null, "the last missing piece completes it");
        Assert.That(Ipv4Packet.Parse(whole!.Bytes, out Ipv4Packet p), Is.EqualTo(WireError.Ok), "the rebuilt header verifies");
        Assert.That((p.TotalLength, p.IsFragment, p.Protocol, p.Identification), Is.EqualTo((20 + 3060, false, (byte)253, (ushort)7)));
        ReadOnlySpan<byte> pl = p.Payload;
        for (int i = 0; i < pl.Length; i++) if (pl[i] != (byte)i) Assert.Fail($"payload byte {i} is {pl[i]}, expected {(byte)i}");
        whole.Free();
        Assert.That(inet.Reass.Pending, Is.Zero);
    }

    [Test]
    public void Reassembly_OverlapsAndBadPiecesDiscardTheDatagram_FloodsStayBounded()
    {
        RumpKernel k = Boot();
        Inet inet = InetOf(k);
        Rump.Net.Net n = inet.Net;
        int free0 = n.Mbufs.FreeCount;
        long overlaps = inet.Stats.IpFragOverlap, dropped = inet.Stats.IpFragDropped;
        // Overlap with different bounds (the Teardrop shape): the whole datagram goes.
        Assert.That(inet.Reass.Insert(Fragment(n, 1, 0, 800, true)), Is.Null);
        Assert.That(inet.Reass.Insert(Fragment(n, 1, 400, 800, false, fill: 0xee)), Is.Null);
        Assert.That(inet.Stats.IpFragOverlap, Is.EqualTo(overlaps + 1));
        Assert.That(inet.Reass.Pending, Is.Zero, "the overlapped datagram is discarded");
        Assert.That(inet.Reass.Insert(Fragment(n, 1, 800, 800, false)), Is.Null, "a later piece starts a fresh datagram that never completes from old data");
        // A middle fragment whose length is not a multiple of 8.
        Assert.That(inet.Reass.Insert(Fragment(n, 2, 0, 100, true)), Is.Null);
        Assert.That(inet.Reass.Insert(Fragment(n, 2, 104, 13, true)), Is.Null);
        // Data past the end that a last fragment fixed.
        Assert.That(inet.Reass.Insert(Fragment(n, 3, 800, 80, false)), Is.Null);
        Assert.That(inet.Reass.Insert(Fragment(n, 3, 880, 80, true)), Is.Null);
        // A flood of first fragments of distinct datagrams: at most MaxDatagrams are kept.
        for (int i = 0; i < 200; i++) Assert.That(inet.Reass.Insert(Fragment(n, (ushort)(1000 + i), 0, 64, true)), Is.Null);
        Assert.That(inet.Reass.Pending, Is.EqualTo(IpReass.MaxDatagrams));
        Assert.That(inet.Stats.IpFragDropped, Is.GreaterThanOrEqualTo(dropped + 200 - IpReass.MaxDatagrams));
        // A datagram with too many pieces.
        for (int i = 0; i <= IpReass.MaxFragments; i++) inet.Reass.Insert(Fragment(n, 5000, 8 + i * 16, 8, true));
        Assert.That(inet.Reass.Insert(Fragment(n, 5000, 0, 8, true)), Is.Null);
        // Everything still queued holds one large buffer per datagram and nothing else leaked.
        Assert.That(n.Mbufs.FreeCount + inet.Reass.Pending, Is.GreaterThanOrEqualTo(free0), "fragments were freed");
    }

    // ---- UDP over lo0 ----

    [Test]
    public void Udp_DatagramOverLoopback_BindRules_AndPortUnreachableReachesAConnectedPcb()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = InetOf(k);
        Udp udp = inet.Udp;
        UdpPcb srv = udp.Attach(), cli = udp.Attach(), dup = udp.Attach();
        Assert.That(udp.Bind(srv, Inet.Loopback, 5300), Is.EqualTo(0));
        Assert.That(udp.Bind(dup, Ipv4Addr.Any, 5300), Is.EqualTo(Abi.EADDRINUSE), "a wildcard over a specific address needs SO_REUSEADDR");
        dup.Options = UdpPcb.SO_REUSEADDR;
        Assert.That(udp.Bind(dup, Ipv4Addr.Any, 5300), Is.EqualTo(0), "with SO_REUSEADDR");
        Assert.That(udp.Bind(udp.Attach(), new Ipv4Addr(10, 200, 0, 1), 1), Is.EqualTo(Abi.EADDRNOTAVAIL));
        UdpPcb r1 = udp.Attach(), r2 = udp.Attach();
        r1.Options = r2.Options = UdpPcb.SO_REUSEPORT;
        Assert.That(udp.Bind(r1, Inet.Loopback, 5301), Is.EqualTo(0));
        Assert.That(udp.Bind(r2, Inet.Loopback, 5301), Is.EqualTo(0), "both SO_REUSEPORT");

        Assert.That(udp.Send(cli, "hello"u8, Inet.Loopback, 5300), Is.EqualTo(0));
        Assert.That(cli.LocalPort, Is.InRange(Udp.AnonPortMin, Udp.AnonPortMax), "an anonymous port");
        WaitFor(() => udp.State(srv).Datagrams == 1, "the datagram at the most specific PCB");
        Assert.That(udp.State(dup).Datagrams, Is.Zero, "the wildcard PCB does not get it too");
        byte[] buf = new byte[64];
        Assert.That(udp.Receive(srv, buf, out int got, out int len, out Ipv4Addr src, out ushort sport), Is.EqualTo(0));
        Assert.That((got, len, src, sport), Is.EqualTo((5, 5, Inet.Loopback, cli.LocalPort)));
        Assert.That(System.Text.Encoding.ASCII.GetString(buf, 0, got), Is.EqualTo("hello"));
        Assert.That(udp.Receive(srv, buf, out _, out _, out _, out _), Is.EqualTo(Abi.EWOULDBLOCK));

        // Nobody on 5399: ICMP port unreachable comes back through lo0 and the connected PCB hears ECONNREFUSED.
        UdpPcb c2 = udp.Attach();
        Assert.That(udp.Connect(c2, Inet.Loopback, 5399), Is.EqualTo(0));
        long unreach = inet.Stats.UdpNoPort;
        Assert.That(udp.Send(c2, "x"u8), Is.EqualTo(0));
        WaitFor(() => udp.State(c2).Error != 0, "the ICMP error at the connected PCB");
        Assert.That(udp.Receive(c2, buf, out _, out _, out _, out _), Is.EqualTo(Abi.ECONNREFUSED));
        Assert.That(inet.Stats.UdpNoPort, Is.EqualTo(unreach + 1));
        Assert.That(inet.Stats.IcmpErrorsSent, Is.EqualTo(1));
        Assert.That(udp.Send(c2, "y"u8, Inet.Loopback, 1), Is.EqualTo(Abi.EISCONN));
        Assert.That(udp.Send(udp.Attach(), "z"u8), Is.EqualTo(Abi.ENOTCONN));
        Assert.That(udp.Send(cli, new byte[Udp.MaxPayload + 1], Inet.Loopback, 5300), Is.EqualTo(Abi.EMSGSIZE));
    }

    [Test]
    public void Udp_LargeDatagramOverLoopbackIsFragmentedAndReassembled()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = InetOf(k);
        Udp udp = inet.Udp;
        UdpPcb srv = udp.Attach(), cli = udp.Attach();
        srv.RecvSpace = 1 << 17;
        Assert.That(udp.Bind(srv, Ipv4Addr.Any, 5400), Is.EqualTo(0));
        byte[] big = new byte[60000];
        new Random(5).NextBytes(big);
        Assert.That(udp.Send(cli, big, Inet.Loopback, 5400), Is.EqualTo(0));
        WaitFor(() => udp.State(srv).Datagrams == 1, "the 60000-byte datagram");
        Assert.That(inet.Stats.IpFragmented, Is.EqualTo(1), "lo0's MTU (33184) makes it two fragments");
        Assert.That(inet.Stats.IpReassembled, Is.EqualTo(1));
        byte[] got = new byte[70000];
        Assert.That(udp.Receive(srv, got, out int n, out _, out _, out _), Is.EqualTo(0));
        Assert.That(got.AsSpan(0, n).SequenceEqual(big), Is.True, "the datagram arrived intact");
    }

    // ---- ARP and IP on Ethernet ----

    private static void Inject(RumpKernel k, Ifnet ifp, byte[] frame) => EtherTestIf.Inject(k, ifp, frame);

    private static byte[] ArpFrame(ushort op, EtherAddr dst, EtherAddr sha, Ipv4Addr spa, EtherAddr tha, Ipv4Addr tpa)
    {
        byte[] f = new byte[14 + 28];
        EthernetFrame.Emit(f, dst, sha, EthernetFrame.TypeArp);
        ArpPacket.Emit(f.AsSpan(14), op, sha, spa, tha, tpa);
        return f;
    }

    private static (EtherTestIf ifp, Inet inet) EtherSetup(RumpKernel k)
    {
        Inet inet = InetOf(k);
        var ifp = new EtherTestIf(k.Kernel, "eth0", OurMac);
        Assert.That(inet.Net.Attach(ifp), Is.EqualTo(0));
        Assert.That(inet.AddAddress(ifp, A, Mask24, default), Is.EqualTo(0));
        return (ifp, inet);
    }

    /// <summary>An IPv4 UDP datagram from the peer, broadcast on the link (255.255.255.255), to <paramref name="port"/>.</summary>
    private static byte[] UdpBroadcast(ushort port, byte payload)
    {
        byte[] f = new byte[14 + 20 + 8 + 1];
        EthernetFrame.Emit(f, EtherAddr.Broadcast, new EtherAddr(PeerMac), EthernetFrame.TypeIpv4);
        Ipv4Packet.Emit(f.AsSpan(14), new Ipv4Header { Source = Peer, Destination = Ipv4Addr.Broadcast, Protocol = 17, Ttl = 64, Identification = port }, 9);
        f[42] = payload;
        UdpPacket.EmitV4(f.AsSpan(34), Peer, Ipv4Addr.Broadcast, 5555, port, 1);
        return f;
    }

    /// <summary>
    /// An IPv4 broadcast reaches IPv6's dual-stack PCBs only when no IPv4 PCB takes it (NetBSD's
    /// udp_input): with an IPv4 PCB and a dual-stack one on the port, only the IPv4 one gets it;
    /// on a port only a dual-stack PCB has, that one does. The frames are input in order, so once
    /// the second is in, the first was delivered wherever it went.
    /// </summary>
    [Test]
    public void Udp_ABroadcastReachesDualStackPcbsOnlyWhenNoIpv4PcbTakesIt()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (ifp, inet) = EtherSetup(k);
        Udp6 udp6 = k.Kernel.GetService<Inet6>()!.Udp6;
        UdpPcb v4 = inet.Udp.Attach(), both = udp6.AttachPcb(null), alone = udp6.AttachPcb(null);
        v4.Options = both.Options = UdpPcb.SO_REUSEADDR;
        Assert.That(udp6.SetV6Only(both, false), Is.EqualTo(0));
        Assert.That(udp6.SetV6Only(alone, false), Is.EqualTo(0));
        Assert.That(inet.Udp.Bind(v4, Ipv4Addr.Any, 5700), Is.EqualTo(0));
        Assert.That(udp6.Bind(both, TcpAddr.AnyV6, 5700, null), Is.EqualTo(0), "a dual-stack PCB on the IPv4 PCB's port (SO_REUSEADDR)");
        Assert.That(udp6.Bind(alone, TcpAddr.AnyV6, 5701, null), Is.EqualTo(0));

        Inject(k, ifp, UdpBroadcast(5700, 1));
        Inject(k, ifp, UdpBroadcast(5701, 2));
        WaitFor(() => udp6.State(alone).Datagrams == 1, "the broadcast to the port only a dual-stack PCB has");
        Assert.That(inet.Udp.State(v4).Datagrams, Is.EqualTo(1), "the IPv4 PCB's broadcast");
        Assert.That(udp6.State(both).Datagrams, Is.Zero, "a dual-stack PCB got a broadcast an IPv4 PCB took");
    }

    [Test]
    public void Arp_GratuitousOnAddress_HoldsAPacketWhileResolving_AnswersRequestsForUs()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (ifp, inet) = EtherSetup(k);
        byte[][] f = ifp.Frames();
        Assert.That(f, Has.Length.EqualTo(1), "a gratuitous ARP when the address was set");
        EthernetFrame.Parse(f[0], out EthernetFrame eth);
        ArpPacket.Parse(eth.Payload, out ArpPacket g);
        Assert.That((eth.Destination, g.Operation, g.SenderIp, g.TargetIp), Is.EqualTo((EtherAddr.Broadcast, ArpPacket.OpRequest, A, A)));
        Assert.That(inet.Lookup(Peer)?.Ifp, Is.SameAs(ifp), "the connected route came with the address");
        Assert.That(inet.Lookup(new Ipv4Addr(8, 8, 8, 8)), Is.Null, "no default route yet");
        Assert.That(inet.AddRoute(Ipv4Addr.Any, Ipv4Addr.Any, new Ipv4Addr(10, 50, 0, 1)), Is.EqualTo(Abi.ENETUNREACH), "a gateway off every subnet");
        Assert.That(inet.AddRoute(Ipv4Addr.Any, Ipv4Addr.Any, Peer), Is.EqualTo(0));

        // A datagram to the gateway's far side: held while the gateway is asked for.
        UdpPcb p = inet.Udp.Attach();
        Assert.That(inet.Udp.Send(p, "via gw"u8, new Ipv4Addr(192, 0, 2, 1), 9), Is.EqualTo(0));
        f = ifp.Frames();
        Assert.That(f, Has.Length.EqualTo(2), "an ARP request and no IP yet");
        EthernetFrame.Parse(f[1], out eth);
        ArpPacket.Parse(eth.Payload, out ArpPacket req);
        Assert.That((eth.EtherType, req.Operation, req.SenderIp, req.TargetIp, req.SenderHw), Is.EqualTo((EthernetFrame.TypeArp, ArpPacket.OpRequest, A, Peer, new EtherAddr(OurMac))));

        Inject(k, ifp, ArpFrame(ArpPacket.OpReply, new EtherAddr(OurMac), new EtherAddr(PeerMac), Peer, new EtherAddr(OurMac), A));
        WaitFor(() => ifp.Frames().Length == 3, "the held datagram sent once the gateway answered");
        EthernetFrame.Parse(ifp.Frames()[2], out eth);
        Assert.That((eth.Destination, eth.EtherType), Is.EqualTo((new EtherAddr(PeerMac), EthernetFrame.TypeIpv4)));
        Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip);
        Assert.That((ip.Source, ip.Destination, ip.Protocol), Is.EqualTo((A, new Ipv4Addr(192, 0, 2, 1), Ipv4Packet.ProtoUdp)));
        Assert.That(inet.ArpOf(ifp)!.TryGet(Peer, out EtherAddr learned) && learned == new EtherAddr(PeerMac));

        // A request for our address from a new neighbour: answered, and the neighbour learned.
        var other = new Ipv4Addr(10, 9, 0, 77);
        Inject(k, ifp, ArpFrame(ArpPacket.OpRequest, EtherAddr.Broadcast, new EtherAddr(0x02_00_00_00_09_77), other, default, A));
        WaitFor(() => ifp.Frames().Length == 4, "our ARP reply");
        EthernetFrame.Parse(ifp.Frames()[3], out eth);
        ArpPacket.Parse(eth.Payload, out ArpPacket rep);
        Assert.That((eth.Destination, rep.Operation, rep.SenderIp, rep.SenderHw, rep.TargetIp), Is.EqualTo((new EtherAddr(0x02_00_00_00_09_77), ArpPacket.OpReply, A, new EtherAddr(OurMac), other)));
        Assert.That(inet.ArpOf(ifp)!.TryGet(other, out _), Is.True);
        // A request for someone else's address teaches nothing new (RFC 826: only existing entries are updated).
        var third = new Ipv4Addr(10, 9, 0, 78);
        Inject(k, ifp, ArpFrame(ArpPacket.OpRequest, EtherAddr.Broadcast, new EtherAddr(0x02_00_00_00_09_78), third, default, Peer));
        WaitFor(() => Interlocked.Read(ref inet.Stats.ArpIn) >= 3, "the third ARP packet processed");
        Assert.That(inet.ArpOf(ifp)!.TryGet(third, out _), Is.False);
        Assert.That(ifp.Frames(), Has.Length.EqualTo(4), "no reply for another host's address");
    }

    [Test]
    public void Ip_HostileFramesAreCountedAndDropped_EchoIsAnswered()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (ifp, inet) = EtherSetup(k);
        Inject(k, ifp, ArpFrame(ArpPacket.OpReply, new EtherAddr(OurMac), new EtherAddr(PeerMac), Peer, new EtherAddr(OurMac), A));
        WaitFor(() => inet.ArpOf(ifp)!.TryGet(Peer, out _), "the peer learned");
        int sent0 = ifp.Frames().Length;

        byte[] Echo(Action<byte[]>? spoil = null, int dataLen = 32)
        {
            byte[] icmp = new byte[8 + dataLen];
            Icmpv4Packet.EmitEcho(icmp, false, 0x77, 1, new byte[dataLen]);
            byte[] f = new byte[14 + 20 + icmp.Length];
            EthernetFrame.Emit(f, new EtherAddr(OurMac), new EtherAddr(PeerMac), EthernetFrame.TypeIpv4);
            Ipv4Packet.Emit(f.AsSpan(14), new Ipv4Header { Source = Peer, Destination = A, Protocol = 1, Ttl = 64, Identification = 9 }, icmp.Length);
            icmp.CopyTo(f, 34);
            spoil?.Invoke(f);
            return f;
        }
        var s = inet.Stats;
        Inject(k, ifp, Echo(f => f[24] ^= 0xff));                  // IP header checksum
        Inject(k, ifp, Echo(f => f[14] = 0x44));                   // a header length under 20 bytes
        Inject(k, ifp, Echo(f => f[14] = 0x65));                   // version 6 in an IPv4 frame
        Inject(k, ifp, Echo().AsSpan(0, 14 + 12).ToArray());       // a short header
        Inject(k, ifp, Echo(f => { f[16] = 0x0f; f[17] = 0xff; f[24] = f[25] = 0; BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(24), Checksum.Compute(f.AsSpan(14, 20))); })); // total length past the frame
        Inject(k, ifp, Echo(f => f[36] ^= 0x55));                  // ICMP checksum
        Inject(k, ifp, Echo(f => { f[26] = 127; f[24] = f[25] = 0; BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(24), Checksum.Compute(f.AsSpan(14, 20))); })); // loopback source from a wire
        WaitFor(() => Interlocked.Read(ref s.IpTotal) == 7, "seven bad packets seen by IP");
        WaitFor(() => Interlocked.Read(ref s.IcmpBad) == 1, "the bad ICMP checksum counted");
        Assert.That((s.IpBadChecksum, s.IpBadHeader + s.IpTooShort, s.IpMartian), Is.EqualTo((1L, 4L, 1L)));
        Assert.That(ifp.Frames(), Has.Length.EqualTo(sent0), "nothing answered");

        Inject(k, ifp, Echo(dataLen: 100));
        WaitFor(() => ifp.Frames().Length == sent0 + 1, "the echo reply");
        byte[] r = ifp.Frames()[^1];
        EthernetFrame.Parse(r, out EthernetFrame eth);
        Assert.That(Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That((ip.Source, ip.Destination), Is.EqualTo((A, Peer)));
        Assert.That(Icmpv4Packet.Parse(ip.Payload, out Icmpv4Packet reply), Is.EqualTo(WireError.Ok), "the reply's checksum verifies");
        Assert.That((reply.Type, reply.Identifier, reply.Data.Length), Is.EqualTo((Icmpv4Packet.TypeEchoReply, (ushort)0x77, 100)));
    }
}
