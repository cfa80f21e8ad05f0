using System;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Virtif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The DHCP client (rump_pub_netconfig_dhcp_ipv4_oneshot). The wire format against byte
/// fixtures; the exchange against a hand-made fixture responder over an <see cref="EtherTestIf"/>
/// (it is a fixture, not a DHCP server: it answers the frames the kernel sends with OFFER and ACK
/// messages built here, preceded by hostile ones the client must ignore and count); no server at
/// all (ETIMEDOUT after its retransmissions); and Linux's busybox udhcpd on the host end of a TAP
/// as the real server (root).
/// </summary>
[NonParallelizable]
public class DhcpTests : KernelTest
{
    private const ulong OurMac = 0x02_00_00_00_44_02, ServerMac = 0x02_00_00_00_44_01;
    private static readonly Ipv4Addr Server = new(10, 44, 0, 1), Leased = new(10, 44, 0, 50), Router = new(10, 44, 0, 254), Dns = new(10, 44, 0, 53);

    // ---- wire ----

    [Test]
    public void Emit_Discover_FixedFieldsCookieOptions_And300Bytes()
    {
        byte[] d = new byte[400];
        int n = DhcpMessage.Emit(d, DhcpMessage.Discover, 0x11223344, 3, new EtherAddr(OurMac));
        Assert.That(n, Is.EqualTo(300), "padded to BOOTP's 300 bytes");
        byte[] head = { 1, 1, 6, 0, 0x11, 0x22, 0x33, 0x44, 0, 3, 0x80, 0 };
        Assert.That(d.AsSpan(0, 12).ToArray(), Is.EqualTo(head), "op, htype, hlen, hops, xid, secs, flags (B)");
        Assert.That(d.AsSpan(12, 16).ToArray(), Is.EqualTo(new byte[16]), "ciaddr, yiaddr, siaddr, giaddr all zero");
        Assert.That(d.AsSpan(28, 6).ToArray(), Is.EqualTo(new byte[] { 2, 0, 0, 0, 0x44, 2 }), "chaddr");
        Assert.That(d.AsSpan(236, 4).ToArray(), Is.EqualTo(new byte[] { 99, 130, 83, 99 }), "magic cookie");
        Assert.That(d.AsSpan(240, 9).ToArray(), Is.EqualTo(new byte[] { 53, 1, 1, 55, 3, 1, 3, 6, 255 }), "type DISCOVER, parameters 1 3 6, end");

        n = DhcpMessage.Emit(d, DhcpMessage.Request, 7, 0, new EtherAddr(OurMac), Leased, Server);
        Assert.That(d.AsSpan(240, 21).ToArray(), Is.EqualTo(new byte[] { 53, 1, 3, 50, 4, 10, 44, 0, 50, 54, 4, 10, 44, 0, 1, 55, 3, 1, 3, 6, 255 }),
            "REQUEST with the requested address and the chosen server (RFC 2131 4.3.2, SELECTING)");
        Assert.That(DhcpMessage.Emit(new byte[299], DhcpMessage.Discover, 1, 0, default), Is.EqualTo(-1), "too small a buffer");
    }

    /// <summary>A server's reply: op 2, our xid and MAC, yiaddr, and the options given (already coded), then End.</summary>
    internal static byte[] Reply(uint xid, ulong chaddr, Ipv4Addr yiaddr, params byte[][] options)
    {
        int len = 240;
        foreach (byte[] o in options) len += o.Length;
        byte[] b = new byte[Math.Max(300, len + 1)];
        b[0] = 2; b[1] = 1; b[2] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), xid);
        yiaddr.Write(b.AsSpan(16));
        Server.Write(b.AsSpan(20));
        new EtherAddr(chaddr).Write(b.AsSpan(28));
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(236), DhcpMessage.Cookie);
        int i = 240;
        foreach (byte[] o in options) { o.CopyTo(b, i); i += o.Length; }
        b[i] = 255;
        return b;
    }

    internal static byte[] Opt(byte code, params byte[] v) { var o = new byte[2 + v.Length]; o[0] = code; o[1] = (byte)v.Length; v.CopyTo(o, 2); return o; }
    internal static byte[] Addr(Ipv4Addr a) { var b = new byte[4]; a.Write(b); return b; }

    private static byte[][] OfferOptions(byte type) => new[]
    {
        Opt(53, type), Opt(54, Addr(Server)), Opt(51, 0, 0, 0x0e, 0x10), Opt(1, 255, 255, 255, 0),
        Opt(3, 10, 44, 0, 254, 10, 44, 0, 253), Opt(6, 10, 44, 0, 53, 8, 8, 8, 8),
    };

    [Test]
    public void Parse_Offer_AllFieldsAndOptions_PadSkipped_UnknownOptionsSkipped()
    {
        byte[][] o = OfferOptions(DhcpMessage.Offer);
        byte[] b = Reply(0xabcdef01, OurMac, Leased, o[0], new byte[] { 0, 0 }, Opt(200, 1, 2, 3), o[1], o[2], o[3], o[4], o[5]);
        Assert.That(DhcpMessage.Parse(b, out DhcpReply r), Is.EqualTo(WireError.Ok));
        Assert.That((r.Op, r.Xid, r.Chaddr, r.Yiaddr, r.Siaddr), Is.EqualTo(((byte)2, 0xabcdef01u, new EtherAddr(OurMac), Leased, Server)));
        Assert.That((r.MessageType, r.ServerId, r.LeaseTime), Is.EqualTo((DhcpMessage.Offer, Server, 3600u)));
        Assert.That((r.HasSubnetMask, r.SubnetMask), Is.EqualTo((true, new Ipv4Addr(255, 255, 255, 0))));
        Assert.That((r.RouterCount, r.Router0), Is.EqualTo((2, Router)));
        Assert.That((r.DnsCount, r.Dns(0), r.Dns(1)), Is.EqualTo((2, Dns, new Ipv4Addr(8, 8, 8, 8))));
        Assert.That(r.HasEnd, Is.True);
    }

    [Test]
    public void Parse_Malformed_TruncatedBadCookieOverlongOptionsWrongLengths_Refused_NoTypeParses()
    {
        byte[] good = Reply(1, OurMac, Leased, Opt(53, 2), Opt(54, Addr(Server)));
        Assert.That(DhcpMessage.Parse(good.AsSpan(0, 239), out _), Is.EqualTo(WireError.Truncated), "shorter than header and cookie");
        byte[] bad = (byte[])good.Clone(); bad[236] = 98;
        Assert.That(DhcpMessage.Parse(bad, out _), Is.EqualTo(WireError.Malformed), "not the magic cookie");
        Assert.That(DhcpMessage.Parse(good.AsSpan(0, 246), out _), Is.EqualTo(WireError.Malformed), "server id cut off inside its value");
        Assert.That(DhcpMessage.Parse(good.AsSpan(0, 244), out _), Is.EqualTo(WireError.Malformed), "an option code without its length byte");
        byte[] overlong = (byte[])good.Clone(); overlong[244] = 255; // server id claims 255 bytes
        Assert.That(DhcpMessage.Parse(overlong, out _), Is.EqualTo(WireError.Malformed), "a length past the message");
        Assert.That(DhcpMessage.Parse(Reply(1, OurMac, Leased, Opt(53, 2, 2)), out _), Is.EqualTo(WireError.Malformed), "message type of two bytes");
        Assert.That(DhcpMessage.Parse(Reply(1, OurMac, Leased, Opt(1, 255, 255, 0)), out _), Is.EqualTo(WireError.Malformed), "a 3-byte mask");
        Assert.That(DhcpMessage.Parse(Reply(1, OurMac, Leased, Opt(3, 10, 0, 0, 1, 10)), out _), Is.EqualTo(WireError.Malformed), "routers not a multiple of 4");
        Assert.That(DhcpMessage.Parse(Reply(1, OurMac, Leased, Opt(6)), out _), Is.EqualTo(WireError.Malformed), "no name servers in option 6");
        Assert.That(DhcpMessage.Parse(Reply(1, OurMac, Leased, Opt(54, Addr(Server))), out DhcpReply nt), Is.EqualTo(WireError.Ok));
        Assert.That(nt.MessageType, Is.EqualTo(0), "BOOTP (no type) parses; the client ignores it");
        // Options running to the end without End: everything read is kept.
        byte[] noEnd = good.AsSpan(0, 249).ToArray();
        Assert.That(DhcpMessage.Parse(noEnd, out DhcpReply ne), Is.EqualTo(WireError.Ok));
        Assert.That((ne.HasEnd, ne.ServerId), Is.EqualTo((false, Server)));
    }

    // ---- the exchange against a fixture responder ----

    private static (Ipv4Addr src, Ipv4Addr dst, ushort sport, byte[] dhcp)? DhcpFrom(byte[] frame)
    {
        if (EthernetFrame.Parse(frame, out EthernetFrame eth) != WireError.Ok || eth.EtherType != EthernetFrame.TypeIpv4) return null;
        if (Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip) != WireError.Ok || ip.Protocol != 17) return null;
        if (UdpPacket.ParseV4(ip.Payload, ip.Source, ip.Destination, out UdpPacket u) != WireError.Ok || u.DestinationPort != 67) return null;
        return (ip.Source, ip.Destination, u.SourcePort, u.Payload.ToArray());
    }

    /// <summary>A broadcast frame from the fixture server (port 67) to 255.255.255.255:68.</summary>
    private static byte[] ServerFrame(byte[] dhcp)
    {
        byte[] f = new byte[14 + 20 + 8 + dhcp.Length];
        EthernetFrame.Emit(f, EtherAddr.Broadcast, new EtherAddr(ServerMac), EthernetFrame.TypeIpv4);
        Ipv4Packet.Emit(f.AsSpan(14), new Ipv4Header { Source = Server, Destination = Ipv4Addr.Broadcast, Protocol = 17, Ttl = 64, Identification = 9 }, 8 + dhcp.Length);
        dhcp.CopyTo(f, 42);
        UdpPacket.EmitV4(f.AsSpan(34), Server, Ipv4Addr.Broadcast, 67, 68, dhcp.Length);
        return f;
    }

    /// <summary>Waits for the kernel's next DHCP message past frame <paramref name="from"/>; returns it and its index.</summary>
    private static (int at, DhcpReply msg, Ipv4Addr src, Ipv4Addr dst, ushort sport) NextRequest(EtherTestIf ifp, int from, Func<bool> gaveUp)
    {
        (int, DhcpReply, Ipv4Addr, Ipv4Addr, ushort)? found = null;
        Assert.That(Eventually(() =>
        {
            byte[][] fr = ifp.Frames();
            for (int i = from; i < fr.Length; i++)
                if (DhcpFrom(fr[i]) is var (src, dst, sport, d))
                {
                    // Requests parse with the same parser (op 1); their fields sit in the same places.
                    Assert.That(DhcpMessage.Parse(d, out DhcpReply m), Is.EqualTo(WireError.Ok));
                    found = (i, m, src, dst, sport);
                    return true;
                }
            return gaveUp();
        }), Is.True, "a DHCP message from the kernel");
        if (found == null) Assert.Fail("the client gave up before sending");
        return found!.Value;
    }

    [Test]
    public void Oneshot_FixtureResponder_IgnoresAndCountsHostileReplies_ThenLeasesAddressMaskRouteAndLogsDns()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        var ifp = new EtherTestIf(k.Kernel, "eth0", OurMac);
        Assert.That(inet.Net.Attach(ifp), Is.EqualTo(0));
        int result = -1;
        var t = new Thread(() => result = RumpKernel.InKernel(k.Kernel, "dhcp", _ => DhcpClient.Oneshot(k.Kernel, "eth0",
            new DhcpTiming(2_000_000_000L, 4_000_000_000L, 60_000_000_000L))));
        t.Start();
        bool Done() => !t.IsAlive;

        var (at, disc, dsrc, ddst, sport) = NextRequest(ifp, 0, Done);
        Assert.That((dsrc, ddst, sport, disc.Op, disc.MessageType), Is.EqualTo((Ipv4Addr.Any, Ipv4Addr.Broadcast, (ushort)68, (byte)1, DhcpMessage.Discover)),
            "DISCOVER from 0.0.0.0:68 to 255.255.255.255:67");
        Assert.That((disc.Flags, disc.Chaddr), Is.EqualTo((DhcpMessage.FlagBroadcast, new EtherAddr(OurMac))));
        uint xid = disc.Xid;
        byte[][] o = OfferOptions(DhcpMessage.Offer);
        InetStats s = inet.Stats;
        // The hostile ones first, each ignored and counted; then the good OFFER.
        byte[] truncated = Reply(xid, OurMac, Leased, o).AsSpan(0, 200).ToArray();
        byte[] overlong = Reply(xid, OurMac, Leased, Opt(53, 2), Opt(54, Addr(Server)));
        overlong[244] = 250; // the server id's length runs far past the message
        byte[] wrongXid = Reply(xid + 1, OurMac, Leased, o);
        byte[] otherMac = Reply(xid, ServerMac, Leased, o);
        byte[] noType = Reply(xid, OurMac, Leased, o[1], o[3]);
        byte[] ack = Reply(xid, OurMac, Leased, OfferOptions(DhcpMessage.Ack));   // an ACK while selecting
        byte[] zeroAddr = Reply(xid, OurMac, Ipv4Addr.Any, o);
        EtherTestIf.Inject(k, ifp, ServerFrame(truncated), ServerFrame(overlong), ServerFrame(wrongXid), ServerFrame(otherMac),
            ServerFrame(noType), ServerFrame(ack), ServerFrame(zeroAddr), ServerFrame(Reply(xid, OurMac, Leased, o)));

        var (at2, req, rsrc, rdst, _) = NextRequest(ifp, at + 1, Done);
        Assert.That((req.MessageType, req.Xid), Is.EqualTo((DhcpMessage.Request, xid)), "REQUEST with the DISCOVER's xid");
        Assert.That((rsrc, rdst), Is.EqualTo((Ipv4Addr.Any, Ipv4Addr.Broadcast)));
        byte[] reqBytes = DhcpFrom(ifp.Frames()[at2])!.Value.dhcp;
        Assert.That(reqBytes.AsSpan(240, 15).ToArray(), Is.EqualTo(new byte[] { 53, 1, 3, 50, 4, 10, 44, 0, 50, 54, 4, 10, 44, 0, 1 }), "requested address and server id");
        Assert.That((s.DhcpBadFormat, s.DhcpNotOurs, s.DhcpNoType, s.DhcpUnexpected), Is.EqualTo((2L, 2L, 1L, 2L)),
            "ignored: truncated and overlong (format), wrong xid and MAC (not ours), no type, ACK while selecting and 0.0.0.0 (unexpected)");
        // A NAK from a server we did not choose is not ours to obey, nor an OFFER now; the ACK is.
        EtherTestIf.Inject(k, ifp, ServerFrame(Reply(xid, OurMac, Leased, Opt(53, DhcpMessage.Nak), Opt(54, 10, 44, 0, 9))),
            ServerFrame(Reply(xid, OurMac, Leased, Opt(53, DhcpMessage.Offer), Opt(54, Addr(Server)))),
            ServerFrame(Reply(xid, OurMac, Leased, OfferOptions(DhcpMessage.Ack))));
        Assert.That(t.Join(TimeSpan.FromSeconds(30)), Is.True, "the client returned after the ACK");
        Assert.That(result, Is.EqualTo(0));
        Assert.That((s.DhcpUnexpected, s.DhcpNak), Is.EqualTo((4L, 0L)), "another server's NAK and an OFFER while requesting ignored");
        InIfaddr? ia = inet.AddressOf(ifp);
        Assert.That(ia, Is.Not.Null, "eth0 has an address");
        Assert.That((ia!.Addr, ia.Mask), Is.EqualTo((Leased, new Ipv4Addr(255, 255, 255, 0))));
        Assert.That(inet.Lookup(new Ipv4Addr(1, 2, 3, 4))?.Gateway, Is.EqualTo(Router), "default route via option 3's first router");
        Assert.That(k.Dmesg(), Does.Contain("eth0: DHCP lease 10.44.0.50/24 from 10.44.0.1, 3600 s, router 10.44.0.254, dns 10.44.0.53 8.8.8.8"));
        Assert.That(k.Panicked, Is.False);
    }

    [Test]
    public void Oneshot_NoServer_RetransmitsWithBackoff_ThenEtimedout_AndPort68IsFreeAgain()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        var ifp = new EtherTestIf(k.Kernel, "eth0", OurMac);
        Assert.That(inet.Net.Attach(ifp), Is.EqualTo(0));
        var sw = Stopwatch.StartNew();
        int e = RumpKernel.InKernel(k.Kernel, "dhcp", _ => DhcpClient.Oneshot(k.Kernel, "eth0", new DhcpTiming(100_000_000L, 400_000_000L, 1_500_000_000L)));
        sw.Stop();
        Assert.That(e, Is.EqualTo(Abi.ETIMEDOUT));
        Assert.That(sw.Elapsed.TotalSeconds, Is.InRange(1.4, 15), "gave up after the total time");
        int discovers = 0;
        foreach (byte[] f in ifp.Frames()) if (DhcpFrom(f) != null) discovers++;
        // 0, 0.1, 0.3, 0.7, 1.1 s: timeouts of 100, 200, 400, 400 ms (at most 5 in 1.5 s; fewer if the machine is slow).
        Assert.That(discovers, Is.InRange(2, 5), "DISCOVERs sent with doubling timeouts");
        Assert.That(inet.AddressOf(ifp), Is.Null, "no address configured");
        UdpPcb p = inet.Udp.Attach();
        Assert.That(inet.Udp.Bind(p, Ipv4Addr.Any, 68), Is.EqualTo(0), "the client's PCB is gone");
        Assert.That(RumpKernel.InKernel(k.Kernel, "dhcp", _ => DhcpClient.Oneshot(k.Kernel, "eth0")), Is.EqualTo(Abi.EADDRINUSE), "port 68 taken");
        Assert.That(RumpKernel.InKernel(k.Kernel, "dhcp", _ => DhcpClient.Oneshot(k.Kernel, "lo0")), Is.EqualTo(Abi.EINVAL), "lo0 has no hardware address");
        Assert.That(RumpKernel.InKernel(k.Kernel, "dhcp", _ => DhcpClient.Oneshot(k.Kernel, "nosuch0")), Is.EqualTo(Abi.ENXIO));
    }

    // ---- Linux's busybox udhcpd as the server (root) ----

    [Test]
    public void Root_BusyboxUdhcpdOnTap_KernelLeasesAddress_HostPingsIt()
    {
        HostNet.Require("busybox");
        using var tn = new TapNs("rumpdhcp-", "rdh");
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        Assert.That(Virtif.Create(k.Kernel, 0, tn.Tap, out Ifnet? ifp), Is.EqualTo(0), "virt0 on the host TAP " + tn.Tap);
        tn.MoveIn("10.79.0.1/24");
        string dir = Path.Combine(HostWork, "udhcpd");
        Directory.CreateDirectory(dir);
        string conf = Path.Combine(dir, "udhcpd.conf");
        System.IO.File.WriteAllText(conf,
            $"start 10.79.0.100\nend 10.79.0.110\ninterface {tn.Tap}\nlease_file {dir}/leases\npidfile {dir}/pid\n" +
            "opt subnet 255.255.255.0\nopt router 10.79.0.1\nopt dns 10.79.0.53\nopt lease 600\n");
        System.IO.File.WriteAllText(Path.Combine(dir, "leases"), "");
        // -f foreground; -a 100: its ARP probe of the address before offering waits 100 ms, not 2 s.
        Process d = tn.Start($"busybox udhcpd -f -a 100 {conf}");
        try
        {
            int e = RumpKernel.InKernel(k.Kernel, "dhcp", _ => Netconfig.DhcpIpv4Oneshot(k.Kernel, "virt0"));
            Assert.That(e, Is.EqualTo(0), "the lease from udhcpd; dmesg: " + k.Dmesg());
            InIfaddr? ia = inet.AddressOf(ifp!);
            Assert.That(ia, Is.Not.Null);
            string leased = ia!.Addr.ToString();
            Assert.That(ia.Addr.Value, Is.InRange(new Ipv4Addr(10, 79, 0, 100).Value, new Ipv4Addr(10, 79, 0, 110).Value), "an address of the pool: " + leased);
            Assert.That(ia.Mask, Is.EqualTo(new Ipv4Addr(255, 255, 255, 0)));
            Assert.That(inet.Lookup(new Ipv4Addr(1, 1, 1, 1))?.Gateway, Is.EqualTo(new Ipv4Addr(10, 79, 0, 1)), "default route via udhcpd's router");
            Assert.That(k.Dmesg(), Does.Contain("dns 10.79.0.53"));
            var (st, so, se) = tn.Run($"ping -c 2 -i 0.2 -W 5 {leased}");
            Assert.That(st, Is.EqualTo(0), $"the host pings the leased {leased}: {so}{se}");
            Assert.That(so, Does.Contain("2 received"));
        }
        finally
        {
            if (!d.HasExited) d.Kill();
            d.WaitForExit();
        }
    }
}
