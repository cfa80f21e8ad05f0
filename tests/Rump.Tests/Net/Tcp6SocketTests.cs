using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Shmif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// TCP over IPv6 (AF_INET6, SOCK_STREAM) through the system-call table: over lo0 ([::1] echo with
/// sockaddr_in6 names, IPV6_V6ONLY, 16 MiB with SHA-256 both ways at once, refused, EINPROGRESS,
/// the half-close, v4 and v6 listeners sharing a port number, net.inet6.tcp6.pcblist), and
/// between two kernels of this process over one shmif bus with IPv6 addresses (neighbour
/// discovery first), also with the bus dropping, duplicating and reordering frames.
/// </summary>
public unsafe class Tcp6SocketTests : KernelTest
{
    private static readonly Ipv6Addr Lo6 = In6.Loopback;
    private const int IPPROTO_TCP = 6, TCP_MAXSEG = 2;

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);
    private static byte[] Sin6(Ipv6Addr a, ushort port) => Inet6Tests.Sin6(a, port);
    private static Ipv6Addr A6(string s) => Inet6Tests.A6(s);

    private static int Tcp6Socket(RumpKernel k, int flags = 0)
    {
        int s = (int)Sys(k, SysNum.socket, Abi.AF_INET6, Abi.SOCK_STREAM | flags, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "socket(AF_INET6, SOCK_STREAM)");
        return s;
    }

    private static long Bind(RumpKernel k, int s, byte[] sa) => Inet6Tests.Bind(k, s, sa);
    private static long Connect(RumpKernel k, int s, byte[] sa) => Inet6Tests.Connect(k, s, sa);
    private static long Listen(RumpKernel k, int s, int backlog) => Sys(k, SysNum.listen, s, backlog);

    /// <summary>A sockaddr_in6 as the kernel wrote it: length and family checked, then address and port.</summary>
    private static (Ipv6Addr, ushort) FromSin6(byte[] sa, int len)
    {
        Assert.That((len, (int)sa[0], (int)sa[1]), Is.EqualTo((28, 28, Abi.AF_INET6)), "a sockaddr_in6 (length, sin6_len, sin6_family)");
        return (Ipv6Addr.Read(sa.AsSpan(8)), BinaryPrimitives.ReadUInt16BigEndian(sa.AsSpan(2)));
    }

    private static int Accept(RumpKernel k, int s, out Ipv6Addr peer, out ushort port, int flags = -1)
    {
        byte[] sa = new byte[28];
        int len = 28;
        long r;
        fixed (byte* p = sa)
            r = flags < 0 ? Sys(k, SysNum.accept, s, (long)p, (long)&len) : Sys(k, SysNum.paccept, s, (long)p, (long)&len, 0, flags);
        peer = default;
        port = 0;
        if (r >= 0) (peer, port) = FromSin6(sa, len);
        return (int)r;
    }

    private static (Ipv6Addr, ushort) Name(RumpKernel k, int s, bool peer = false)
    {
        byte[] sa = new byte[28];
        int len = 28;
        fixed (byte* f = sa) Assert.That(Sys(k, peer ? SysNum.getpeername : SysNum.getsockname, s, (long)f, (long)&len), Is.EqualTo(0));
        return FromSin6(sa, len);
    }

    private static long SetInt(RumpKernel k, int s, int level, int name, int v) => Sys(k, SysNum.setsockopt, s, level, name, (long)&v, 4);

    private static int GetInt(RumpKernel k, int s, int level, int name)
    {
        int v = -1, len = 4;
        long r = Sys(k, SysNum.getsockopt, s, level, name, (long)&v, (long)&len);
        Assert.That(r, Is.EqualTo(0), $"getsockopt({level}, {name})");
        return v;
    }

    private static short Poll(RumpKernel k, int fd, short events, int timeoutMs)
    {
        var p = new RumpPollfd { fd = fd, events = events };
        long r = Sys(k, SysNum.poll, (long)&p, 1, timeoutMs);
        Assert.That(r, Is.GreaterThanOrEqualTo(0), "poll failed: " + r);
        return p.revents;
    }

    private static void ReadAll(RumpKernel k, int s, Span<byte> buf)
    {
        int got = 0;
        while (got < buf.Length)
        {
            long r = k.Read(s, buf.Slice(got));
            if (r <= 0) Assert.Fail($"read after {got} of {buf.Length} bytes returned {r}");
            got += (int)r;
        }
    }

    /// <summary>A listener at an ephemeral port of <paramref name="a"/>, and a connected pair (client, accepted server side).</summary>
    private static (int L, int C, int S, ushort Port) Pair(RumpKernel k, Ipv6Addr a)
    {
        int l = Tcp6Socket(k);
        Assert.That(Bind(k, l, Sin6(a, 0)), Is.EqualTo(0), "bind to an ephemeral port");
        Assert.That(Listen(k, l, 16), Is.EqualTo(0), "listen");
        ushort port = Name(k, l).Item2;
        Assert.That(port, Is.GreaterThanOrEqualTo((ushort)49152));
        int c = Tcp6Socket(k);
        Assert.That(Connect(k, c, Sin6(a, port)), Is.EqualTo(0), "a blocking connect");
        int s = Accept(k, l, out Ipv6Addr peer, out ushort pport);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "accept");
        Assert.That((peer, pport), Is.EqualTo(Name(k, c)), "accept's address is the client's name");
        return (l, c, s, port);
    }

    private static byte[] ReadPcbList6(RumpKernel k)
    {
        TcpProto tcp = k.Kernel.GetService<TcpProto>()!;
        int len = TcpPcbList.Read(tcp.Stack, Span<byte>.Empty, v6: true);
        var b = new byte[len + 64 * TcpPcbList.EntrySize6];
        int full = TcpPcbList.Read(tcp.Stack, b, v6: true);
        return b.AsSpan(0, Math.Min(full, b.Length)).ToArray();
    }

    [Test]
    public void Loopback_EchoWithSin6Names_V6Only_MaxSeg_AndOrderlyClose()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (l, c, s, port) = Pair(k, Lo6);
        Assert.That(Name(k, c, peer: true), Is.EqualTo((Lo6, port)), "getpeername");
        Assert.That(Name(k, s), Is.EqualTo((Lo6, port)), "the accepted socket's name");
        Assert.That(Name(k, c).Item1, Is.EqualTo(Lo6), "the client's source is ::1");
        Assert.That(GetInt(k, c, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY), Is.EqualTo(1), "IPV6_V6ONLY is on");
        Assert.That(SetInt(k, c, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 0), Is.EqualTo(-Abi.EINVAL), "and cannot be cleared");
        Assert.That(SetInt(k, c, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 1), Is.EqualTo(0));
        // lo0's MTU less 60 (the IPv6 and TCP headers), less 12 for the timestamp option.
        int mtu = k.Kernel.GetService<Rump.Net.Net>()!.Lo0.Mtu;
        Assert.That(GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(mtu - 60 - 12), "TCP_MAXSEG over ::1");

        Assert.That(k.Write(c, "hello, tcp6"u8), Is.EqualTo(11));
        var buf = new byte[64];
        ReadAll(k, s, buf.AsSpan(0, 11));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 11), Is.EqualTo("hello, tcp6"));
        Assert.That(k.Write(s, "echo: hello"u8), Is.EqualTo(11));
        ReadAll(k, c, buf.AsSpan(0, 11));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 11), Is.EqualTo("echo: hello"));

        // The v6 pcblist shows the listener and both ends; the v4 one shows none of them.
        byte[] list = ReadPcbList6(k);
        int est = 0, listen = 0;
        for (int o = 0; o + TcpPcbList.EntrySize6 <= list.Length; o += TcpPcbList.EntrySize6)
        {
            int st = BinaryPrimitives.ReadInt32LittleEndian(list.AsSpan(o));
            var la = Ipv6Addr.Read(list.AsSpan(o + 4));
            ushort lp = BinaryPrimitives.ReadUInt16LittleEndian(list.AsSpan(o + 36));
            if (st == 4) { est++; Assert.That(la, Is.EqualTo(Lo6)); }
            if (st == 1) { listen++; Assert.That((la, lp), Is.EqualTo((Lo6, port)), "the listener's entry"); }
        }
        Assert.That((listen, est), Is.EqualTo((1, 2)), "net.inet6.tcp6.pcblist: one LISTEN, two ESTABLISHED");
        TcpProto tcp = k.Kernel.GetService<TcpProto>()!;
        Assert.That(TcpPcbList.Read(tcp.Stack, Span<byte>.Empty), Is.EqualTo(0), "net.inet.tcp.pcblist lists no IPv6 TCB");

        Assert.That(k.Close(c), Is.EqualTo(0));
        Assert.That(k.Read(s, buf), Is.EqualTo(0), "end of file after the peer's close");
        Assert.That(k.Close(s), Is.EqualTo(0));
        Assert.That(k.Close(l), Is.EqualTo(0));
    }

    [Test]
    public void Loopback_SixteenMiBEachWayAtOnce_Sha256Matches()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (l, c, s, _) = Pair(k, Lo6);
        TcpSocketTests.Transfer(k, c, k, s, 16 << 20, 3);
        k.Close(c); k.Close(s); k.Close(l);
    }

    [Test]
    public void Loopback_Refused_EINPROGRESS_HalfClose_AndBadAddresses()
    {
        RumpKernel k = Boot(ncpu: 2);
        int c = Tcp6Socket(k);
        Assert.That(Connect(k, c, Sin6(Lo6, 7200)), Is.EqualTo(-Abi.ECONNREFUSED), "nobody on [::1]:7200: a RST");
        int m = Tcp6Socket(k);
        Assert.That(Connect(k, m, Sin6(A6("::ffff:127.0.0.1"), 7200)), Is.EqualTo(-Abi.EINVAL), "v4-mapped: the socket is IPV6_V6ONLY");
        Assert.That(Bind(k, m, Sin6(A6("fd00::77"), 0)), Is.EqualTo(-Abi.EADDRNOTAVAIL), "an address not ours");
        Assert.That(Connect(k, m, UdpSocketTests.Sin(new Ipv4Addr(127, 0, 0, 1), 7200)), Is.EqualTo(-Abi.EINVAL), "a sockaddr_in on an AF_INET6 socket");
        Assert.That(Connect(k, m, Sin6(A6("fd00:1234::1"), 7200)), Is.EqualTo(-Abi.ENETUNREACH), "no route");

        // Non-blocking: EINPROGRESS, then POLLOUT once connected; and to a closed port, SO_ERROR.
        int l = Tcp6Socket(k);
        Assert.That(Bind(k, l, Sin6(In6Any, 7100)), Is.EqualTo(0));
        Assert.That(Listen(k, l, 4), Is.EqualTo(0));
        int nb = Tcp6Socket(k, Abi.SOCK_NONBLOCK);
        Assert.That(Connect(k, nb, Sin6(Lo6, 7100)), Is.EqualTo(-Abi.EINPROGRESS));
        Assert.That(Poll(k, nb, Abi.POLLOUT, 10_000) & Abi.POLLOUT, Is.Not.EqualTo(0), "writable once connected");
        Assert.That(GetInt(k, nb, Abi.SOL_SOCKET, Abi.SO_ERROR), Is.EqualTo(0));
        int s = Accept(k, l, out Ipv6Addr peer, out _);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        Assert.That(peer, Is.EqualTo(Lo6));
        Assert.That(Name(k, s).Item1, Is.EqualTo(Lo6), "a wildcard listener's child has the address it was reached at");
        int r = Tcp6Socket(k, Abi.SOCK_NONBLOCK);
        Assert.That(Connect(k, r, Sin6(Lo6, 7101)), Is.EqualTo(-Abi.EINPROGRESS));
        Assert.That(Poll(k, r, Abi.POLLOUT, 10_000) & (Abi.POLLOUT | Abi.POLLERR), Is.Not.EqualTo(0), "ready after the refusal");
        Assert.That(GetInt(k, r, Abi.SOL_SOCKET, Abi.SO_ERROR), Is.EqualTo(Abi.ECONNREFUSED));

        // Half-close: the client's FIN is end of file at the server, which still answers.
        Assert.That(k.Write(nb, "request"u8), Is.EqualTo(7));
        Assert.That(Sys(k, SysNum.shutdown, nb, Abi.SHUT_WR), Is.EqualTo(0));
        var buf = new byte[64];
        ReadAll(k, s, buf.AsSpan(0, 7));
        Assert.That(k.Read(s, buf), Is.EqualTo(0), "the FIN: end of file at the server");
        Assert.That(k.Write(s, "response after the FIN"u8), Is.EqualTo(22));
        Assert.That(Poll(k, nb, Abi.POLLIN, 10_000) & Abi.POLLIN, Is.Not.EqualTo(0));
        ReadAll(k, nb, buf.AsSpan(0, 22));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 22), Is.EqualTo("response after the FIN"));
        k.Close(s);
        Assert.That(Poll(k, nb, Abi.POLLIN, 10_000) & Abi.POLLIN, Is.Not.EqualTo(0));
        Assert.That(k.Read(nb, buf), Is.EqualTo(0));
        k.Close(nb); k.Close(l);
    }

    private static readonly Ipv6Addr In6Any = default;

    [Test]
    public void V4AndV6ListenersShareAPortNumber_EachGetsItsOwnFamily()
    {
        RumpKernel k = Boot(ncpu: 2);
        int l4 = (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_STREAM, 0);
        Assert.That(UdpSocketTests.Bind(k, l4, UdpSocketTests.Sin(Ipv4Addr.Any, 7400)), Is.EqualTo(0), "0.0.0.0:7400");
        Assert.That(Listen(k, l4, 4), Is.EqualTo(0));
        int l6 = Tcp6Socket(k);
        Assert.That(Bind(k, l6, Sin6(In6Any, 7400)), Is.EqualTo(0), "[::]:7400 beside 0.0.0.0:7400 (IPV6_V6ONLY)");
        Assert.That(Listen(k, l6, 4), Is.EqualTo(0));
        Assert.That(Bind(k, Tcp6Socket(k), Sin6(Lo6, 7400)), Is.EqualTo(-Abi.EADDRINUSE), "[::1]:7400 overlaps [::]:7400");

        int c6 = Tcp6Socket(k);
        Assert.That(Connect(k, c6, Sin6(Lo6, 7400)), Is.EqualTo(0));
        int c4 = (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_STREAM, 0);
        Assert.That(UdpSocketTests.Connect(k, c4, UdpSocketTests.Sin(new Ipv4Addr(127, 0, 0, 1), 7400)), Is.EqualTo(0));
        Assert.That(k.Write(c6, "six"u8), Is.EqualTo(3));
        Assert.That(k.Write(c4, "four"u8), Is.EqualTo(4));
        int s6 = Accept(k, l6, out Ipv6Addr p6, out _);
        Assert.That((s6 >= 0, p6), Is.EqualTo((true, Lo6)), "the v6 listener gets the v6 connection");
        byte[] sin = new byte[16];
        int len = 16;
        int s4;
        fixed (byte* p = sin) s4 = (int)Sys(k, SysNum.accept, l4, (long)p, (long)&len);
        Assert.That((s4 >= 0, len, (int)sin[1]), Is.EqualTo((true, 16, Abi.AF_INET)), "the v4 listener gets the v4 one");
        var buf = new byte[8];
        ReadAll(k, s6, buf.AsSpan(0, 3));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 3), Is.EqualTo("six"));
        ReadAll(k, s4, buf.AsSpan(0, 4));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 4), Is.EqualTo("four"));
        foreach (int fd in new[] { c6, c4, s6, s4, l6, l4 }) k.Close(fd);
    }

    // ---- Two kernels in this process over one shmif bus, with IPv6 addresses ----

    private RumpKernel Station6(string bus, string addr, ShmifLoss? loss = null)
    {
        RumpKernel k = Boot(ncpu: 2);
        int e = TcpSocketTests.InKernel(k, () =>
        {
            int r = ShmifDriver.Of(k.Kernel)!.Create(bus, out _, out ShmifIf? ifp);
            if (r != 0) return r;
            if (loss != null) ifp!.SetLoss(loss);
            r = Netconfig.IfUp(k.Kernel, ifp!.Name);
            return r != 0 ? r : Netconfig6.Ipv6Ifaddr(k.Kernel, ifp.Name, addr, 64);
        });
        Assert.That(e, Is.EqualTo(0), $"shmif with {addr}/64 on {bus}");
        return k;
    }

    [Test]
    public void TwoKernelsOverShmif6_ConnectAndFourMiBEachWay()
    {
        string bus = Path.Combine(HostWork, "bus6");
        RumpKernel a = Station6(bus, "fd00:9::1");
        RumpKernel b = Station6(bus, "fd00:9::2");
        Ipv6Addr ipA = A6("fd00:9::1"), ipB = A6("fd00:9::2");
        int l = Tcp6Socket(b);
        Assert.That(Bind(b, l, Sin6(In6Any, 8080)), Is.EqualTo(0));
        Assert.That(Listen(b, l, 4), Is.EqualTo(0));
        int c = Tcp6Socket(a);
        Assert.That(Connect(a, c, Sin6(ipB, 8080)), Is.EqualTo(0), "connect across the bus (neighbour discovery first)");
        int s = Accept(b, l, out Ipv6Addr peer, out _);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        Assert.That(peer, Is.EqualTo(ipA), "the peer is the other kernel, by its global address (source selection)");
        Assert.That(Name(b, s).Item1, Is.EqualTo(ipB));
        // shmif's MTU 1500: the MSS is 1440, less the timestamp option.
        Assert.That(GetInt(a, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(1500 - 60 - 12), "TCP_MAXSEG across the bus");
        TcpSocketTests.Transfer(a, c, b, s, 4 << 20, 7);
        a.Close(c);
        var buf = new byte[4];
        Assert.That(b.Read(s, buf), Is.EqualTo(0), "end of file across the bus");
        b.Close(s);
        b.Close(l);
    }

    [Test]
    public void TwoKernelsOverALossyShmif6_TheTransferCompletesIntact()
    {
        string bus = Path.Combine(HostWork, "bus6");
        RumpKernel a = Station6(bus, "fd00:9:1::1", new ShmifLoss(seed: 13, drop: 0.05, duplicate: 0.02, reorder: 0.02));
        RumpKernel b = Station6(bus, "fd00:9:1::2", new ShmifLoss(seed: 14, drop: 0.05, duplicate: 0.02, reorder: 0.02));
        int l = Tcp6Socket(b);
        Assert.That(Bind(b, l, Sin6(In6Any, 8081)), Is.EqualTo(0));
        Assert.That(Listen(b, l, 4), Is.EqualTo(0));
        int c = Tcp6Socket(a);
        Assert.That(Connect(a, c, Sin6(A6("fd00:9:1::2"), 8081)), Is.EqualTo(0));
        int s = Accept(b, l, out _, out _);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        TcpSocketTests.Transfer(a, c, b, s, 1 << 20, 23);
        a.Close(c); b.Close(s); b.Close(l);
    }

    // ---- ICMPv6 errors to connections, with the test as the peer on an Ethernet test interface ----

    private const ulong OurMac = 0x02_00_00_00_06_12, PeerMac = 0x02_00_00_00_06_11;

    private static byte[] Frame6(Ipv6Addr src, Ipv6Addr dst, byte nh, ReadOnlySpan<byte> payload, byte hlim = 64)
    {
        byte[] f = new byte[14 + 40 + payload.Length];
        EthernetFrame.Emit(f, new EtherAddr(OurMac), new EtherAddr(PeerMac), EthernetFrame.TypeIpv6);
        Ipv6Packet.Emit(f.AsSpan(14), new Ipv6Header { Source = src, Destination = dst, NextHeader = nh, HopLimit = hlim }, payload.Length);
        payload.CopyTo(f.AsSpan(54));
        return f;
    }

    /// <summary>The TCP segments the kernel sent, in order: (the IPv6 packet, sequence number, flags, payload length, destination port).</summary>
    private static System.Collections.Generic.List<(byte[] Ip, uint Seq, byte Flags, int Len, ushort DPort)> Segments(EtherTestIf ifp)
    {
        var r = new System.Collections.Generic.List<(byte[], uint, byte, int, ushort)>();
        foreach (byte[] f in ifp.Frames())
        {
            if (EthernetFrame.Parse(f, out EthernetFrame eth) != WireError.Ok || eth.EtherType != EthernetFrame.TypeIpv6) continue;
            if (Ipv6Packet.Parse(eth.Payload, out Ipv6Packet ip) != WireError.Ok || ip.NextHeader != Ipv6Packet.NextTcp) continue;
            Assert.That(TcpPacket.ParseV6(ip.Payload, ip.Source, ip.Destination, out TcpPacket t), Is.EqualTo(WireError.Ok), "our segment's checksum (the IPv6 pseudo-header)");
            r.Add((eth.Payload.ToArray(), t.Sequence, t.Flags, t.Payload.Length, t.DestinationPort));
        }
        return r;
    }

    private static byte[] IcmpError(Ipv6Addr from, Ipv6Addr to, byte type, byte code, uint param, byte[] quotedPacket)
    {
        byte[] m = new byte[8 + quotedPacket.Length];
        int n = Icmpv6Packet.EmitError(m, from, to, type, code, param, quotedPacket);
        return Frame6(from, to, Ipv6Packet.NextIcmpv6, m.AsSpan(0, n));
    }

    [Test]
    public void Icmp6PacketTooBigShrinksSegments_UnreachableRefusesAnOpeningConnection()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;
        var ifp = new EtherTestIf(k.Kernel, "eth6", OurMac, multicast: true);
        Assert.That(in6.Net.Attach(ifp), Is.EqualTo(0));
        Ipv6Addr us = A6("fd00:16::2"), peer = A6("fd00:16::1");
        Assert.That(in6.AddAddress(ifp, us, 64), Is.EqualTo(0));
        // The peer's NS with its link-layer address: we know its MAC, so our segments go at once.
        byte[] ns = new byte[32];
        int nl = Icmpv6Packet.EmitNeighbor(ns, peer, us, false, 0, us, new EtherAddr(PeerMac));
        EtherTestIf.Inject(k, ifp, Frame6(peer, us, Ipv6Packet.NextIcmpv6, ns.AsSpan(0, nl), 255)); // hop limit 255: from the link (RFC 4861 7.1.1)
        Assert.That(Eventually(() => in6.NdOf(ifp)!.TryGet(peer, out _, out _)), Is.True, "the peer in the neighbour cache");

        int c = Tcp6Socket(k, Abi.SOCK_NONBLOCK);
        Assert.That(Connect(k, c, Sin6(peer, 80)), Is.EqualTo(-Abi.EINPROGRESS));
        Assert.That(Eventually(() => Segments(ifp).Exists(x => x.Flags == TcpPacket.FlagSyn)), Is.True, "our SYN on the wire");
        var syn = Segments(ifp).Find(x => x.Flags == TcpPacket.FlagSyn);
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(syn.Ip.AsSpan(40));
        // The peer's SYN-ACK: MSS 1440 (an Ethernet MTU), no timestamps.
        var o = new TcpOptions { HasMss = true, Mss = 1440 };
        var h = new TcpHeader { SourcePort = 80, DestinationPort = sport, Sequence = 7000, Acknowledgment = syn.Seq + 1, Flags = TcpPacket.FlagSyn | TcpPacket.FlagAck, Window = 65535 };
        byte[] sa = new byte[TcpPacket.HeaderLengthFor(o)];
        TcpPacket.EmitV6(sa, peer, us, h, o, 0);
        EtherTestIf.Inject(k, ifp, Frame6(peer, us, Ipv6Packet.NextTcp, sa));
        Assert.That(Poll(k, c, Abi.POLLOUT, 10_000) & Abi.POLLOUT, Is.Not.EqualTo(0), "established");
        Assert.That(GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(1440), "the peer's MSS");

        // Data: full 1440-byte segments, unacknowledged (the peer says nothing).
        Assert.That(k.Write(c, new byte[4000]), Is.EqualTo(4000));
        Assert.That(Eventually(() => Segments(ifp).FindAll(x => x.Len == 1440).Count >= 2), Is.True, "two full segments sent");
        var first = Segments(ifp).Find(x => x.Len == 1440);
        Assert.That(first.Seq, Is.EqualTo(syn.Seq + 1));
        int before = Segments(ifp).Count;

        // A packet too big quoting a sequence number that is not in flight is ignored (RFC 5927 4.1).
        byte[] stale = (byte[])first.Ip.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(stale.AsSpan(44), first.Seq - 100_000);
        EtherTestIf.Inject(k, ifp, IcmpError(peer, us, Icmpv6Packet.TypePacketTooBig, 0, 1280, stale.AsSpan(0, 1232).ToArray()));
        // One reporting an MTU no smaller than ours is ignored too.
        EtherTestIf.Inject(k, ifp, IcmpError(peer, us, Icmpv6Packet.TypePacketTooBig, 0, 1500, first.Ip.AsSpan(0, 1232).ToArray()));
        Assert.That(Eventually(() => Interlocked.Read(ref in6.Stats.Icmp6ErrorsIn) == 2), Is.True, "two errors in");
        Assert.That((stack.PmtuUpdates, GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG)), Is.EqualTo((0L, 1440)), "neither shrinks the segments");

        // A router's packet too big for the first segment, MTU 1280: it goes again from SND.UNA in segments of 1280 - 60.
        EtherTestIf.Inject(k, ifp, IcmpError(peer, us, Icmpv6Packet.TypePacketTooBig, 0, 1280, first.Ip.AsSpan(0, 1232).ToArray()));
        Assert.That(Eventually(() => Interlocked.Read(ref stack.PmtuUpdates) == 1), Is.True, "the packet too big reached the connection");
        Assert.That(GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(1220), "TCP_MAXSEG after it");
        Assert.That(Eventually(() => Segments(ifp).Skip(before).Any(x => x.Seq == first.Seq && x.Len > 0)), Is.True, "the first segment resent");
        var resent = Segments(ifp).Skip(before).Where(x => x.Len > 0).ToList();
        Assert.That(resent[0].Seq, Is.EqualTo(first.Seq), "from SND.UNA");
        Assert.That(resent.Max(x => x.Len), Is.EqualTo(1220), "no segment above the new MSS: " + string.Join(",", resent.Select(x => x.Len)));

        // An opening connection hears a port unreachable as ECONNREFUSED, an address unreachable as EHOSTUNREACH.
        foreach (var (port, code, errno) in new[] { ((ushort)81, (byte)4, Abi.ECONNREFUSED), ((ushort)82, (byte)3, Abi.EHOSTUNREACH) })
        {
            int r = Tcp6Socket(k, Abi.SOCK_NONBLOCK);
            Assert.That(Connect(k, r, Sin6(peer, port)), Is.EqualTo(-Abi.EINPROGRESS));
            Assert.That(Eventually(() => Segments(ifp).Exists(x => x.DPort == port)), Is.True, "the SYN to port " + port);
            var s2 = Segments(ifp).Find(x => x.DPort == port);
            EtherTestIf.Inject(k, ifp, IcmpError(peer, us, Icmpv6Packet.TypeUnreachable, code, 0, s2.Ip));
            Assert.That(Poll(k, r, Abi.POLLOUT, 10_000) & (Abi.POLLOUT | Abi.POLLERR), Is.Not.EqualTo(0), "ready after the error");
            Assert.That(GetInt(k, r, Abi.SOL_SOCKET, Abi.SO_ERROR), Is.EqualTo(errno), "unreachable code " + code);
            k.Close(r);
        }
        k.Close(c);
    }
}
