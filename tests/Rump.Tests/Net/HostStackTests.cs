using System;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The wire layer against the Linux host's own network stack (root: network namespaces and a
/// veth pair, see <see cref="HostNet"/>). The host makes the frames we parse (ping, ping -6,
/// socat's UDP and TCP), and the host checks the frames we build: it answers them only if their
/// checksums and fields are right (ping exits 0 on our echo reply, socat prints our datagram,
/// Linux ACKs our SYN-ACK). Every captured frame is also cut at every length: each cut that
/// loses meaningful bytes must parse to an error, never throw.
/// </summary>
[NonParallelizable]
public class HostStackTests
{
    private static readonly EtherAddr PeerMac = new(HostNet.PeerMac), OurMac = new(HostNet.OurMac);
    private static readonly Ipv4Addr PeerIp = new(10, 77, 0, 1), OurIp = new(10, 77, 0, 2);
    private static readonly Ipv6Addr PeerIp6 = new(0xfd77UL << 48, 1), OurIp6 = new(0xfd77UL << 48, 2);

    private static bool IsFromPeer(byte[] f, ushort type, out EthernetFrame eth)
        => EthernetFrame.Parse(f, out eth) == WireError.Ok && eth.Source == PeerMac && eth.EtherType == type;

    private static void AssertEveryTruncationFails(byte[] frame, string what)
    {
        Assert.That(Dissect.Frame(frame, out int meaningful), Is.EqualTo(WireError.Ok), what + ": the whole frame parses");
        for (int n = 0; n < frame.Length; n++)
        {
            WireError e = Dissect.Frame(frame.AsSpan(0, n), out _);
            if (n < meaningful) Assert.That(e, Is.Not.EqualTo(WireError.Ok), $"{what} cut to {n} of {meaningful} meaningful bytes parsed without error");
            else Assert.That(e, Is.EqualTo(WireError.Ok), $"{what} cut to {n} bytes (only link padding lost) gave {e}");
        }
    }

    private static byte[] Frame(EtherAddr dst, ushort type, ReadOnlySpan<byte> payload)
    {
        byte[] f = new byte[EthernetFrame.HeaderSize + payload.Length];
        EthernetFrame.Emit(f, dst, OurMac, type);
        payload.CopyTo(f.AsSpan(EthernetFrame.HeaderSize));
        return f;
    }

    private static byte[] Ipv4Frame(byte proto, ReadOnlySpan<byte> l4)
    {
        byte[] p = new byte[Ipv4Packet.MinHeaderSize + l4.Length];
        var h = new Ipv4Header { Source = OurIp, Destination = PeerIp, Protocol = proto, Ttl = 64, DontFragment = true, Identification = 0x1234 };
        Assert.That(Ipv4Packet.Emit(p, h, l4.Length), Is.EqualTo(20));
        l4.CopyTo(p.AsSpan(20));
        return Frame(PeerMac, EthernetFrame.TypeIpv4, p);
    }

    private static byte[] Ipv6Frame(Ipv6Addr dstIp, byte next, ReadOnlySpan<byte> l4)
    {
        byte[] p = new byte[Ipv6Packet.HeaderSize + l4.Length];
        var h = new Ipv6Header { Source = OurIp6, Destination = dstIp, NextHeader = next, HopLimit = 255 };
        Assert.That(Ipv6Packet.Emit(p, h, l4.Length), Is.EqualTo(40));
        l4.CopyTo(p.AsSpan(40));
        return Frame(PeerMac, EthernetFrame.TypeIpv6, p);
    }

    [Test]
    public void Root_HostPingsUs_ArpRequestAndEchoParse_OurArpReplyAndEchoReplySatisfyPing()
    {
        using var net = new HostNet();
        Process ping = net.StartInPeer($"ping -c1 -W10 -s 56 -p 5a {HostNet.OurIp}");

        // The host asks who has our address.
        byte[] arpFrame = net.Receive(f => IsFromPeer(f, EthernetFrame.TypeArp, out _), "ARP request");
        EthernetFrame.Parse(arpFrame, out EthernetFrame eth);
        Assert.That(eth.Destination, Is.EqualTo(EtherAddr.Broadcast), "an ARP request is broadcast");
        Assert.That(ArpPacket.Parse(eth.Payload, out ArpPacket arp), Is.EqualTo(WireError.Ok));
        Assert.That(arp.Operation, Is.EqualTo(ArpPacket.OpRequest));
        Assert.That(arp.SenderHw, Is.EqualTo(PeerMac));
        Assert.That(arp.SenderIp, Is.EqualTo(PeerIp));
        Assert.That(arp.TargetIp, Is.EqualTo(OurIp));
        AssertEveryTruncationFails(arpFrame, "the host's ARP request");

        // Our ARP reply: the host learns our address only if it reads it.
        byte[] reply = new byte[ArpPacket.Size];
        ArpPacket.Emit(reply, ArpPacket.OpReply, OurMac, OurIp, PeerMac, PeerIp);
        net.Send(Frame(PeerMac, EthernetFrame.TypeArp, reply));

        byte[] echoFrame = net.Receive(f => IsFromPeer(f, EthernetFrame.TypeIpv4, out _), "ICMP echo request (the host took our ARP reply)");
        EthernetFrame.Parse(echoFrame, out eth);
        Assert.That(eth.Destination, Is.EqualTo(OurMac), "sent to the address our ARP reply gave");
        Assert.That(Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip), Is.EqualTo(WireError.Ok), "IPv4 header and checksum");
        Assert.That(ip.Source, Is.EqualTo(PeerIp));
        Assert.That(ip.Destination, Is.EqualTo(OurIp));
        Assert.That(ip.Protocol, Is.EqualTo(Ipv4Packet.ProtoIcmp));
        Assert.That(ip.Ttl, Is.EqualTo(64), "Linux's default TTL");
        Assert.That(ip.TotalLength, Is.EqualTo(20 + 8 + 56), "ping -s 56");
        Assert.That(Icmpv4Packet.Parse(ip.Payload, out Icmpv4Packet icmp), Is.EqualTo(WireError.Ok), "ICMP checksum");
        Assert.That(icmp.Type, Is.EqualTo(Icmpv4Packet.TypeEcho));
        Assert.That(icmp.Sequence, Is.EqualTo(1));
        // ping -p 5a fills the data after its 16-byte timestamp with the pattern.
        Assert.That(icmp.Data.Length, Is.EqualTo(56));
        Assert.That(icmp.Data.Slice(16).IndexOfAnyExcept((byte)0x5a), Is.EqualTo(-1), "the pattern ping was asked for");
        AssertEveryTruncationFails(echoFrame, "the host's echo request");

        // Our echo reply, with the request's identifier, sequence and data: ping accepts it only if it verifies.
        byte[] icmpReply = new byte[8 + icmp.Data.Length];
        Assert.That(Icmpv4Packet.EmitEcho(icmpReply, true, icmp.Identifier, icmp.Sequence, icmp.Data), Is.EqualTo(icmpReply.Length));
        net.Send(Ipv4Frame(Ipv4Packet.ProtoIcmp, icmpReply));

        var (status, stdout, stderr) = HostNet.Finish(ping);
        Assert.That(status, Is.EqualTo(0), "ping should have taken our echo reply; it said: " + stdout + stderr);
        Assert.That(stdout, Does.Contain("1 received"));
    }

    [Test]
    public void Root_OurEchoRequest_GetsTheHostsEchoReply()
    {
        using var net = new HostNet();
        HostNet.Ip($"-n {net.PeerNs} neigh replace {HostNet.OurIp} lladdr 02:00:5e:77:00:02 dev {net.PeerIf} nud permanent");
        byte[] data = Encoding.ASCII.GetBytes("rump echo, odd length!");
        byte[] req = new byte[8 + data.Length];
        Icmpv4Packet.EmitEcho(req, false, 0xbeef, 7, data);
        byte[] sent = Ipv4Frame(Ipv4Packet.ProtoIcmp, req);
        net.Send(sent);

        byte[] f = net.Receive(f => IsFromPeer(f, EthernetFrame.TypeIpv4, out _), "the host's echo reply");
        EthernetFrame.Parse(f, out EthernetFrame eth);
        Assert.That(Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That(ip.Destination, Is.EqualTo(OurIp));
        Assert.That(Icmpv4Packet.Parse(ip.Payload, out Icmpv4Packet icmp), Is.EqualTo(WireError.Ok));
        Assert.That(icmp.Type, Is.EqualTo(Icmpv4Packet.TypeEchoReply), "Linux answers a valid echo request");
        Assert.That(icmp.Identifier, Is.EqualTo(0xbeef));
        Assert.That(icmp.Sequence, Is.EqualTo(7));
        Assert.That(icmp.Data.ToArray(), Is.EqualTo(data));
        AssertEveryTruncationFails(f, "the host's echo reply");
        AssertEveryTruncationFails(sent, "our echo request");
    }

    [Test]
    public void Root_HostPings6Us_NeighborSolicitationAndEchoParse_OurAdvertAndReplySatisfyPing()
    {
        using var net = new HostNet();
        Process ping = net.StartInPeer($"ping -6 -c1 -W10 {HostNet.OurIp6}");

        byte[] nsFrame = net.Receive(f => IsFromPeer(f, EthernetFrame.TypeIpv6, out EthernetFrame e)
            && Ipv6Packet.Parse(e.Payload, out Ipv6Packet p) == WireError.Ok && p.NextHeader == Ipv6Packet.NextIcmpv6
            && p.Payload.Length >= 24 && p.Payload[0] == Icmpv6Packet.TypeNeighborSolicit
            && Ipv6Addr.Read(p.Payload.Slice(8)) == OurIp6, "neighbour solicitation for our address");
        EthernetFrame.Parse(nsFrame, out EthernetFrame eth);
        Assert.That(Ipv6Packet.Parse(eth.Payload, out Ipv6Packet ip6), Is.EqualTo(WireError.Ok));
        Assert.That(ip6.HopLimit, Is.EqualTo(255), "ND messages go with hop limit 255 (RFC 4861)");
        Assert.That(ip6.Destination, Is.EqualTo(OurIp6.SolicitedNode), "sent to our solicited-node group");
        Assert.That(eth.Destination, Is.EqualTo(new EtherAddr(0x3333_ff00_0002UL)), "Ethernet multicast for that group (RFC 2464 7)");
        Assert.That(ip6.WalkExtensions(out Ipv6Extensions x), Is.EqualTo(WireError.Ok));
        Assert.That(x.UpperProtocol, Is.EqualTo(Ipv6Packet.NextIcmpv6));
        Assert.That(Icmpv6Packet.Parse(ip6.Bytes.Slice(x.UpperOffset), ip6.Source, ip6.Destination, out Icmpv6Packet ns), Is.EqualTo(WireError.Ok), "ICMPv6 checksum");
        Assert.That(ns.Target, Is.EqualTo(OurIp6));
        Assert.That(NdOptions.Parse(ns.NdOptionBytes, out NdOptions nso), Is.EqualTo(WireError.Ok));
        Assert.That(nso.HasSourceLinkAddr, Is.True, "a solicitation from an address carries the source link-layer address");
        Assert.That(nso.SourceLinkAddr, Is.EqualTo(PeerMac));
        AssertEveryTruncationFails(nsFrame, "the host's neighbour solicitation");

        byte[] na = new byte[32];
        Assert.That(Icmpv6Packet.EmitNeighbor(na, OurIp6, ip6.Source, true, Icmpv6Packet.NaFlagSolicited | Icmpv6Packet.NaFlagOverride, OurIp6, OurMac), Is.EqualTo(32));
        net.Send(Ipv6Frame(ip6.Source, Ipv6Packet.NextIcmpv6, na));

        byte[] echoFrame = net.Receive(f => IsFromPeer(f, EthernetFrame.TypeIpv6, out EthernetFrame e)
            && Ipv6Packet.Parse(e.Payload, out Ipv6Packet p) == WireError.Ok && p.NextHeader == Ipv6Packet.NextIcmpv6
            && p.Payload.Length > 0 && p.Payload[0] == Icmpv6Packet.TypeEchoRequest, "ICMPv6 echo request (the host took our advertisement)");
        EthernetFrame.Parse(echoFrame, out eth);
        Assert.That(eth.Destination, Is.EqualTo(OurMac));
        Ipv6Packet.Parse(eth.Payload, out ip6);
        Assert.That(ip6.Source, Is.EqualTo(PeerIp6));
        Assert.That(Icmpv6Packet.Parse(ip6.Payload, ip6.Source, ip6.Destination, out Icmpv6Packet echo), Is.EqualTo(WireError.Ok));
        AssertEveryTruncationFails(echoFrame, "the host's ICMPv6 echo request");

        byte[] rep = new byte[8 + echo.Data.Length];
        Icmpv6Packet.EmitEcho(rep, OurIp6, PeerIp6, true, echo.Identifier, echo.Sequence, echo.Data);
        net.Send(Ipv6Frame(PeerIp6, Ipv6Packet.NextIcmpv6, rep));

        var (status, stdout, stderr) = HostNet.Finish(ping);
        Assert.That(status, Is.EqualTo(0), "ping -6 should have taken our echo reply; it said: " + stdout + stderr);
    }

    [Test]
    public void Root_HostsUdpDatagramParses_AndOursReachesTheHostsSocket()
    {
        using var net = new HostNet();
        HostNet.Ip($"-n {net.PeerNs} neigh replace {HostNet.OurIp} lladdr 02:00:5e:77:00:02 dev {net.PeerIf} nud permanent");
        net.StartInPeer($"socat -u STDIN UDP-SENDTO:{HostNet.OurIp}:7777,sourceport=5353", "hello from linux\n");
        byte[] f = net.Receive(f => IsFromPeer(f, EthernetFrame.TypeIpv4, out EthernetFrame e)
            && Ipv4Packet.Parse(e.Payload, out Ipv4Packet p) == WireError.Ok && p.Protocol == Ipv4Packet.ProtoUdp, "UDP datagram");
        EthernetFrame.Parse(f, out EthernetFrame eth);
        Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip);
        Assert.That(UdpPacket.ParseV4(ip.Payload, ip.Source, ip.Destination, out UdpPacket udp), Is.EqualTo(WireError.Ok), "UDP checksum over the pseudo-header");
        Assert.That(udp.StoredChecksum, Is.Not.EqualTo(0), "Linux computes UDP checksums");
        Assert.That(udp.SourcePort, Is.EqualTo(5353));
        Assert.That(udp.DestinationPort, Is.EqualTo(7777));
        Assert.That(Encoding.ASCII.GetString(udp.Payload), Is.EqualTo("hello from linux\n"));
        AssertEveryTruncationFails(f, "the host's UDP datagram");

        // The other way: socat prints our datagram only if Linux's UDP accepted its checksum.
        Process recv = net.StartInPeer("socat -u UDP-RECVFROM:7778 STDOUT");
        WaitForUdpListener(net, 7778);
        byte[] payload = Encoding.ASCII.GetBytes("hello from rump");
        byte[] dgram = new byte[8 + payload.Length];
        payload.CopyTo(dgram, 8);
        Assert.That(UdpPacket.EmitV4(dgram, OurIp, PeerIp, 4242, 7778, payload.Length), Is.EqualTo(dgram.Length));
        net.Send(Ipv4Frame(Ipv4Packet.ProtoUdp, dgram));
        var (status, stdout, stderr) = HostNet.Finish(recv);
        Assert.That(status, Is.EqualTo(0), stderr);
        Assert.That(stdout, Is.EqualTo("hello from rump"));
    }

    private static void WaitForUdpListener(HostNet net, int port) => WaitForListener(net, port, "u");

    /// <summary>Polls ss(8) until the host has a socket listening on <paramref name="port"/> (the real condition, not a sleep).</summary>
    private static void WaitForListener(HostNet net, int port, string proto)
    {
        var sw = Stopwatch.StartNew();
        while (!HostNet.Run("ip", $"netns exec {net.PeerNs} ss -Hl{proto}n sport = :{port}").Contains(":" + port))
        {
            if (sw.Elapsed.TotalSeconds > 20) Assert.Fail($"socat never listened on port {port} ({proto})");
            System.Threading.Thread.Sleep(20);
        }
    }

    [TestCase(false, TestName = "Root_OurSynGetsLinuxsSynAckWithTheOptionsWeOffered(IPv4)")]
    [TestCase(true, TestName = "Root_OurSynGetsLinuxsSynAckWithTheOptionsWeOffered(IPv6)")]
    public void Root_OurSynGetsLinuxsSynAck(bool v6)
    {
        using var net = new HostNet();
        HostNet.Ip($"-n {net.PeerNs} neigh replace {(v6 ? HostNet.OurIp6 : HostNet.OurIp)} lladdr 02:00:5e:77:00:02 dev {net.PeerIf} nud permanent");
        net.StartInPeer(v6 ? "socat -u TCP6-LISTEN:8090 STDOUT" : "socat -u TCP4-LISTEN:8090 STDOUT");
        WaitForListener(net, 8090, "t");

        const uint isn = 0x0102_0304, ts = 0xcafe_f00d;
        var opts = new TcpOptions { HasMss = true, Mss = 1000, SackPermitted = true, HasTimestamp = true, TsVal = ts, HasWindowScale = true, WindowScale = 3 };
        var h = new TcpHeader { SourcePort = 40001, DestinationPort = 8090, Sequence = isn, Flags = TcpPacket.FlagSyn, Window = 8192 };
        byte[] seg = new byte[TcpPacket.HeaderLengthFor(opts)];
        int n = v6 ? TcpPacket.EmitV6(seg, OurIp6, PeerIp6, h, opts, 0) : TcpPacket.EmitV4(seg, OurIp, PeerIp, h, opts, 0);
        Assert.That(n, Is.EqualTo(seg.Length));
        net.Send(v6 ? Ipv6Frame(PeerIp6, Ipv6Packet.NextTcp, seg) : Ipv4Frame(Ipv4Packet.ProtoTcp, seg));

        byte[] f = net.Receive(f => IsFromPeer(f, v6 ? EthernetFrame.TypeIpv6 : EthernetFrame.TypeIpv4, out EthernetFrame e)
            && (v6 ? Ipv6Packet.Parse(e.Payload, out Ipv6Packet p6) == WireError.Ok && p6.NextHeader == Ipv6Packet.NextTcp
                   : Ipv4Packet.Parse(e.Payload, out Ipv4Packet p4) == WireError.Ok && p4.Protocol == Ipv4Packet.ProtoTcp), "Linux's SYN-ACK");
        EthernetFrame.Parse(f, out EthernetFrame eth);
        TcpPacket t;
        if (v6)
        {
            Assert.That(Ipv6Packet.Parse(eth.Payload, out Ipv6Packet ip6), Is.EqualTo(WireError.Ok));
            Assert.That(TcpPacket.ParseV6(ip6.Payload, ip6.Source, ip6.Destination, out t), Is.EqualTo(WireError.Ok), "TCP checksum over the IPv6 pseudo-header");
        }
        else
        {
            Assert.That(Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip4), Is.EqualTo(WireError.Ok));
            Assert.That(TcpPacket.ParseV4(ip4.Payload, ip4.Source, ip4.Destination, out t), Is.EqualTo(WireError.Ok), "TCP checksum over the IPv4 pseudo-header");
        }
        Assert.That(t.Flags, Is.EqualTo(TcpPacket.FlagSyn | TcpPacket.FlagAck), "Linux accepted our SYN (a RST would mean it did not)");
        Assert.That(t.Acknowledgment, Is.EqualTo(isn + 1));
        Assert.That((t.SourcePort, t.DestinationPort), Is.EqualTo(((ushort)8090, (ushort)40001)));
        Assert.That(TcpOptions.Parse(t.Options, out TcpOptions o), Is.EqualTo(WireError.Ok));
        Assert.That(o.HasMss && o.Mss == (v6 ? 1440 : 1460), Is.True, $"MSS for a 1500-byte link: has={o.HasMss} mss={o.Mss}");
        Assert.That(o.SackPermitted, Is.True, "SACK, since we offered it");
        Assert.That(o.HasTimestamp && o.TsEcr == ts && o.TsVal != 0, Is.True, $"our TSval echoed: has={o.HasTimestamp} ecr={o.TsEcr:x}");
        Assert.That(o.HasWindowScale, Is.True, "window scaling, since we offered it");
        AssertEveryTruncationFails(f, "Linux's SYN-ACK");

        // A reset ends it cleanly (Linux checks the RST's sequence number is in its window).
        byte[] rst = new byte[20];
        var r = new TcpHeader { SourcePort = 40001, DestinationPort = 8090, Sequence = isn + 1, Flags = TcpPacket.FlagRst };
        if (v6) TcpPacket.EmitV6(rst, OurIp6, PeerIp6, r, default, 0); else TcpPacket.EmitV4(rst, OurIp, PeerIp, r, default, 0);
        net.Send(v6 ? Ipv6Frame(PeerIp6, Ipv6Packet.NextTcp, rst) : Ipv4Frame(Ipv4Packet.ProtoTcp, rst));
    }

    [Test]
    public void Root_LinuxSynCarriesItsOptions_AndLinuxAcksOurSynAck()
    {
        using var net = new HostNet();
        HostNet.Ip($"-n {net.PeerNs} neigh replace {HostNet.OurIp} lladdr 02:00:5e:77:00:02 dev {net.PeerIf} nud permanent");
        net.StartInPeer($"socat -u STDIN TCP:{HostNet.OurIp}:8080,connect-timeout=20", "");
        byte[] syn = net.Receive(f => IsTcpFromPeer(f), "TCP SYN");
        TcpPacket tcp = ParseTcp(syn, out _);
        Assert.That(tcp.Flags, Is.EqualTo(TcpPacket.FlagSyn), "a bare SYN");
        Assert.That(tcp.DestinationPort, Is.EqualTo(8080));
        Assert.That(TcpOptions.Parse(tcp.Options, out TcpOptions o), Is.EqualTo(WireError.Ok));
        Assert.That(o.HasMss && o.Mss == 1460, Is.True, $"MSS 1460 on a 1500-byte link, got has={o.HasMss} mss={o.Mss}");
        Assert.That(o.SackPermitted, Is.True, "Linux offers SACK (net.ipv4.tcp_sack)");
        Assert.That(o.HasTimestamp && o.TsVal != 0 && o.TsEcr == 0, Is.True, $"timestamps: has={o.HasTimestamp} val={o.TsVal} ecr={o.TsEcr}");
        Assert.That(o.HasWindowScale && o.WindowScale is > 0 and <= 14, Is.True, $"window scaling: has={o.HasWindowScale} shift={o.WindowScale}");
        Assert.That(o.SackCount, Is.EqualTo(0));
        AssertEveryTruncationFails(syn, "the host's SYN");

        // Our SYN-ACK with all four options; Linux ACKs it (seq+1, our ISN+1, our TSval echoed) only if it verifies.
        const uint ourIsn = 0x8000_0001, ourTs = 0x1234_5678;
        var opts = new TcpOptions { HasMss = true, Mss = 1400, SackPermitted = true, HasWindowScale = true, WindowScale = 2, HasTimestamp = true, TsVal = ourTs, TsEcr = o.TsVal };
        var h = new TcpHeader { SourcePort = 8080, DestinationPort = tcp.SourcePort, Sequence = ourIsn, Acknowledgment = tcp.Sequence + 1, Flags = TcpPacket.FlagSyn | TcpPacket.FlagAck, Window = 65535 };
        byte[] seg = new byte[TcpPacket.HeaderLengthFor(opts)];
        Assert.That(TcpPacket.EmitV4(seg, OurIp, PeerIp, h, opts, 0), Is.EqualTo(40));
        byte[] synAck = Ipv4Frame(Ipv4Packet.ProtoTcp, seg);
        AssertEveryTruncationFails(synAck, "our SYN-ACK");
        net.Send(synAck);

        uint theirIsn = tcp.Sequence;
        byte[] ack = net.Receive(f => IsTcpFromPeer(f) && (ParseTcp(f, out _).Flags & TcpPacket.FlagSyn) == 0, "the host's ACK of our SYN-ACK");
        TcpPacket a = ParseTcp(ack, out _);
        Assert.That(a.Ack, Is.True);
        Assert.That(a.Sequence, Is.EqualTo(theirIsn + 1));
        Assert.That(a.Acknowledgment, Is.EqualTo(ourIsn + 1), "Linux acknowledges our SYN");
        Assert.That(TcpOptions.Parse(a.Options, out TcpOptions ao), Is.EqualTo(WireError.Ok));
        Assert.That(ao.HasTimestamp && ao.TsEcr == ourTs, Is.True, $"our TSval echoed (RFC 7323 3.2): has={ao.HasTimestamp} ecr={ao.TsEcr:x}");
        AssertEveryTruncationFails(ack, "the host's ACK");
    }

    private static bool IsTcpFromPeer(byte[] f)
        => IsFromPeer(f, EthernetFrame.TypeIpv4, out EthernetFrame e) && Ipv4Packet.Parse(e.Payload, out Ipv4Packet p) == WireError.Ok && p.Protocol == Ipv4Packet.ProtoTcp;

    private static TcpPacket ParseTcp(byte[] f, out Ipv4Packet ip)
    {
        Assert.That(EthernetFrame.Parse(f, out EthernetFrame eth), Is.EqualTo(WireError.Ok));
        Assert.That(Ipv4Packet.Parse(eth.Payload, out ip), Is.EqualTo(WireError.Ok));
        Assert.That(TcpPacket.ParseV4(ip.Payload, ip.Source, ip.Destination, out TcpPacket t), Is.EqualTo(WireError.Ok), "TCP checksum over the pseudo-header");
        return t;
    }
}
