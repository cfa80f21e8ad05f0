using System;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet6;
using Rump.Net.Shmif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// IPv6: UDP6 sockets over lo0 (::1, sockaddr_in6, IPV6_V6ONLY, IPV6_UNICAST_HOPS, port
/// unreachable as ECONNREFUSED); two kernels over shmif (link-local addresses from EUI-64,
/// neighbour discovery, ping6 through the kernel's echo entry, UDP6 sockets both ways, global
/// and link-local); hostile IPv6, extension-header and ND input on an Ethernet test interface,
/// counted and dropped, with the answers to good NS and echo requests checked byte by byte.
/// </summary>
public unsafe class Inet6Tests : KernelTest
{
    internal const int MSG_DONTWAIT = 0x80;

    internal static Ipv6Addr A6(string s)
    {
        Assert.That(In6.TryParse(s, out Ipv6Addr a), Is.True, "an IPv6 address: " + s);
        return a;
    }

    internal static byte[] Sin6(Ipv6Addr a, ushort port, uint scope = 0)
    {
        byte[] b = new byte[28];
        Udp6Proto.WriteSin6(b, a, port, scope);
        return b;
    }

    internal static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);
    internal static int Udp6Socket(RumpKernel k) => (int)Sys(k, SysNum.socket, Abi.AF_INET6, Abi.SOCK_DGRAM, 0);
    internal static long Bind(RumpKernel k, int s, byte[] sin) { fixed (byte* p = sin) return Sys(k, SysNum.bind, s, (long)p, sin.Length); }
    internal static long Connect(RumpKernel k, int s, byte[] sin) { fixed (byte* p = sin) return Sys(k, SysNum.connect, s, (long)p, sin.Length); }

    internal static long SendTo(RumpKernel k, int s, ReadOnlySpan<byte> data, byte[]? to)
    {
        fixed (byte* d = data)
        fixed (byte* t = to)
            return Sys(k, SysNum.sendto, s, (long)d, data.Length, 0, (long)t, to?.Length ?? 0);
    }

    internal static long RecvFrom(RumpKernel k, int s, Span<byte> buf, out Ipv6Addr from, out ushort port, out uint scope, int flags = 0)
    {
        byte[] sin = new byte[28];
        int len = 28;
        long r;
        fixed (byte* b = buf)
        fixed (byte* f = sin)
            r = Sys(k, SysNum.recvfrom, s, (long)b, buf.Length, flags, (long)f, (long)&len);
        from = Ipv6Addr.Read(sin.AsSpan(8));
        port = BinaryPrimitives.ReadUInt16BigEndian(sin.AsSpan(2));
        scope = BinaryPrimitives.ReadUInt32LittleEndian(sin.AsSpan(24));
        if (r >= 0) Assert.That((len, sin[0], sin[1]), Is.EqualTo((28, (byte)28, (byte)Abi.AF_INET6)), "a whole sockaddr_in6 from recvfrom");
        return r;
    }

    /// <summary>recvfrom without blocking, polled until a datagram is there (a lost one fails the test instead of hanging it).</summary>
    internal static long RecvWait(RumpKernel k, int s, Span<byte> buf, out Ipv6Addr from, out ushort port, out uint scope)
    {
        byte[] tmp = new byte[buf.Length];
        long r = -Abi.EWOULDBLOCK;
        Ipv6Addr f = default;
        ushort p = 0;
        uint sc = 0;
        Eventually(() => (r = RecvFrom(k, s, tmp, out f, out p, out sc, MSG_DONTWAIT)) != -Abi.EWOULDBLOCK);
        tmp.AsSpan(0, (int)Math.Max(0, Math.Min(r, buf.Length))).CopyTo(buf);
        from = f;
        port = p;
        scope = sc;
        return r;
    }

    internal static int GetInt(RumpKernel k, int s, int level, int name, out int v)
    {
        int val = 0, len = 4;
        long r = Sys(k, SysNum.getsockopt, s, level, name, (long)&val, (long)&len);
        v = val;
        return (int)r;
    }

    internal static int SetInt(RumpKernel k, int s, int level, int name, int v)
        => (int)Sys(k, SysNum.setsockopt, s, level, name, (long)&v, 4);


    private static Inet6 In6Of(RumpKernel k) => k.Kernel.GetService<Inet6>() ?? throw new AssertionException("the net component published Inet6");

    // ---- lo0 -------------------------------------------------------------------------------

    [Test]
    public void Loopback_Udp6Sockets_Sin6Addresses_V6Only_UnicastHops_PortUnreachable()
    {
        RumpKernel k = Boot(ncpu: 2);
        Ipv6Addr lo = In6.Loopback;
        int srv = Udp6Socket(k), cli = Udp6Socket(k);
        Assert.That(srv, Is.GreaterThanOrEqualTo(0), "socket(AF_INET6, SOCK_DGRAM)");
        Assert.That(cli, Is.GreaterThanOrEqualTo(0));
        Assert.That(Bind(k, srv, Sin6(lo, 6200)), Is.EqualTo(0), "bind [::1]:6200");
        Assert.That(Bind(k, Udp6Socket(k), Sin6(lo, 6200)), Is.EqualTo(-Abi.EADDRINUSE));
        Assert.That(Bind(k, Udp6Socket(k), Sin6(A6("fd00::77"), 6201)), Is.EqualTo(-Abi.EADDRNOTAVAIL), "an address not ours");
        Assert.That(Bind(k, Udp6Socket(k), UdpSocketTests.Sin(new Ipv4Addr(127, 0, 0, 1), 6202)), Is.EqualTo(-Abi.EINVAL), "a sockaddr_in on an AF_INET6 socket");
        Assert.That(Bind(k, Udp6Socket(k), Sin6(A6("::ffff:127.0.0.1"), 6203)), Is.EqualTo(-Abi.EINVAL), "v4-mapped: the socket is IPV6_V6ONLY");

        Assert.That(GetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, out int v6only), Is.EqualTo(0));
        Assert.That(v6only, Is.EqualTo(1), "IPV6_V6ONLY is on (NetBSD's default, net.inet6.ip6.v6only=1)");
        Assert.That(SetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 0), Is.EqualTo(0), "an unbound socket may go dual-stack");
        Assert.That(GetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, out v6only), Is.EqualTo(0));
        Assert.That(v6only, Is.EqualTo(0), "getsockopt reports it off");
        Assert.That(SetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 1), Is.EqualTo(0), "and back");
        Assert.That(GetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, out v6only), Is.EqualTo(0));
        Assert.That(v6only, Is.EqualTo(1));
        Assert.That(GetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_UNICAST_HOPS, out int hops), Is.EqualTo(0));
        Assert.That(hops, Is.EqualTo(64));
        Assert.That(SetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_UNICAST_HOPS, 7), Is.EqualTo(0));
        Assert.That(GetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_UNICAST_HOPS, out hops), Is.EqualTo(0));
        Assert.That(hops, Is.EqualTo(7));
        Assert.That(SetInt(k, cli, Abi.IPPROTO_IPV6, Abi.IPV6_UNICAST_HOPS, 256), Is.EqualTo(-Abi.EINVAL));

        Assert.That(SendTo(k, cli, "ping over ::1"u8, Sin6(lo, 6200)), Is.EqualTo(13));
        byte[] buf = new byte[100];
        Assert.That(RecvFrom(k, srv, buf, out Ipv6Addr from, out ushort fport, out _), Is.EqualTo(13), "recvfrom blocks until the soft interrupt delivers");
        Assert.That(Encoding.ASCII.GetString(buf, 0, 13), Is.EqualTo("ping over ::1"));
        Assert.That(from, Is.EqualTo(lo));
        Assert.That(fport, Is.GreaterThanOrEqualTo((ushort)49152), "an anonymous port bound by the send");
        Assert.That(SendTo(k, srv, "pong"u8, Sin6(from, fport)), Is.EqualTo(4));
        Assert.That(RecvFrom(k, cli, buf, out from, out fport, out _), Is.EqualTo(4));
        Assert.That((from, fport), Is.EqualTo((lo, (ushort)6200)));

        byte[] name = new byte[28];
        int nlen = 28;
        fixed (byte* p = name) Assert.That(Sys(k, SysNum.getsockname, srv, (long)p, (long)&nlen), Is.EqualTo(0));
        Assert.That((nlen, name[0], name[1], BinaryPrimitives.ReadUInt16BigEndian(name.AsSpan(2)), Ipv6Addr.Read(name.AsSpan(8))),
            Is.EqualTo((28, (byte)28, (byte)Abi.AF_INET6, (ushort)6200, lo)));

        // A connected socket to a port nobody has: ICMPv6 port unreachable comes back as ECONNREFUSED.
        int c2 = Udp6Socket(k);
        Assert.That(Connect(k, c2, Sin6(lo, 6299)), Is.EqualTo(0));
        Assert.That(SendTo(k, c2, "anyone?"u8, null), Is.EqualTo(7));
        Assert.That(RecvFrom(k, c2, buf, out _, out _, out _), Is.EqualTo(-Abi.ECONNREFUSED), "the pending error ends the blocked receive");
        Assert.That(In6Of(k).Stats.Udp6NoPort, Is.EqualTo(1));
    }

    private static long AddAlias(RumpKernel k, int s, string ifname, byte[] addr, byte[]? mask)
    {
        var r = new RumpIn6Aliasreq();
        byte* p = (byte*)&r;
        Encoding.ASCII.GetBytes(ifname).CopyTo(new Span<byte>(p, 16));
        addr.CopyTo(new Span<byte>(&r.ifra_addr, 28));
        mask?.CopyTo(new Span<byte>(&r.ifra_prefixmask, 28));
        r.ifra_lifetime.ia6t_vltime = r.ifra_lifetime.ia6t_pltime = 0xffffffff;
        return Sys(k, SysNum.ioctl, s, (long)Abi.SIOCAIFADDR_IN6, (long)&r);
    }

    [Test]
    public void SiocaifaddrIn6_AddsAnAddressWithItsPrefix_BadRequestsGiveErrnos()
    {
        RumpKernel k = Boot();
        Inet6 in6 = In6Of(k);
        int s = Udp6Socket(k);
        byte[] mask64 = Sin6(A6("ffff:ffff:ffff:ffff::"), 0);
        Assert.That(AddAlias(k, s, "lo0", Sin6(A6("fd00:9::1"), 0), mask64), Is.EqualTo(0), "SIOCAIFADDR_IN6 on lo0");
        In6Ifaddr? ia = in6.FindAddress(A6("fd00:9::1"));
        Assert.That(ia, Is.Not.Null);
        Assert.That((ia!.Ifp.Name, ia.PrefixLength), Is.EqualTo(("lo0", 64)));
        Assert.That(in6.Lookup(A6("fd00:9::77"))?.Ifp.Name, Is.EqualTo("lo0"), "the prefix's connected route");
        Assert.That(Bind(k, Udp6Socket(k), Sin6(A6("fd00:9::1"), 6400)), Is.EqualTo(0), "the new address can be bound");
        Assert.That(AddAlias(k, s, "lo0", Sin6(A6("fd00:9::2"), 0), null), Is.EqualTo(0), "no mask: a /128");
        Assert.That(in6.FindAddress(A6("fd00:9::2"))!.PrefixLength, Is.EqualTo(128));
        Assert.That(AddAlias(k, s, "nosuch0", Sin6(A6("fd00:9::3"), 0), mask64), Is.EqualTo(-Abi.ENXIO));
        Assert.That(AddAlias(k, s, "lo0", Sin6(A6("fd00:9::3"), 0), Sin6(A6("ffff:0:ffff::"), 0)), Is.EqualTo(-Abi.EINVAL), "a non-contiguous mask");
        Assert.That(AddAlias(k, s, "lo0", UdpSocketTests.Sin(new Ipv4Addr(10, 0, 0, 1), 0).Concat8(new byte[12]), mask64), Is.EqualTo(-Abi.EINVAL), "an AF_INET address");
        Assert.That(AddAlias(k, s, "lo0", Sin6(A6("ff02::1"), 0), mask64), Is.EqualTo(-Abi.EINVAL), "a multicast address");
    }

    // ---- two kernels over shmif --------------------------------------------------------------

    private sealed record Station(RumpKernel K, ShmifIf If, Inet6 In6, Ipv6Addr LinkLocal);

    private Station Up(string bus, string global)
    {
        RumpKernel k = Boot(ncpu: 2);
        ShmifIf ifp = ShmifTests.Up(k, bus);
        Inet6 in6 = In6Of(k);
        Ipv6Addr ll = in6.LinkLocalOf(ifp)!.Addr;
        Assert.That(ll, Is.EqualTo(In6.LinkLocalOf(ifp.LinkAddr)));
        Assert.That(In(k, () => Netconfig6.Ipv6Ifaddr(k.Kernel, ifp.Name, global, 64)), Is.EqualTo(0));
        return new Station(k, ifp, in6, ll);
    }

    [Test]
    public void TwoKernelsOverShmif_NeighbourDiscovery_Ping6_Udp6BothWays()
    {
        string bus = Path.Combine(HostWork, "bus6");
        Station a = Up(bus, "fd00:5::1"), b = Up(bus, "fd00:5::2");
        Ipv6Addr ga = A6("fd00:5::1"), gb = A6("fd00:5::2");
        // The modified EUI-64 (RFC 4291 appendix A): the MAC's U/L bit flipped, ff:fe in the middle.
        ulong mac = a.If.LinkAddr.Value;
        Assert.That(a.LinkLocal.Lo, Is.EqualTo(((mac >> 24) ^ 0x020000) << 40 | 0xfffeUL << 24 | (mac & 0xffffff)));
        Assert.That(a.LinkLocal.Hi, Is.EqualTo(0xfe80UL << 48));

        var replies = new ConcurrentQueue<(Ipv6Addr Src, ushort Id, ushort Seq, byte[] Data)>();
        a.In6.Icmp6.EchoReply = (src, id, seq, data) => replies.Enqueue((src, id, seq, data.ToArray()));
        byte[] payload = Encoding.ASCII.GetBytes("ping6 over shmif");
        Assert.That(In(a.K, () => a.In6.Icmp6.SendEcho(gb, 0x66, 1, payload)), Is.EqualTo(0), "echo request held while ND resolves");
        WaitFor(() => replies.Count == 1, () => $"the echo reply from fd00:5::2 (replies {replies.Count}, NS out {a.In6.Stats.NdNsOut}, NA in {a.In6.Stats.NdNaIn}, b's echo replies {b.In6.Stats.Icmp6EchoReplies})");
        replies.TryDequeue(out var r1);
        Assert.That((r1.Src, r1.Id, r1.Seq, Encoding.ASCII.GetString(r1.Data)), Is.EqualTo((gb, (ushort)0x66, (ushort)1, "ping6 over shmif")));
        Assert.That(a.In6.NdOf(a.If)!.TryGet(gb, out EtherAddr bmac, out Nd6Cache.State st), Is.True, "a learned b from its solicited NA");
        Assert.That((bmac, st), Is.EqualTo((b.If.LinkAddr, Nd6Cache.State.Reachable)));
        Assert.That(b.In6.NdOf(b.If)!.TryGet(ga, out EtherAddr amac, out st), Is.True, "b learned a from the NS's source link-layer option");
        Assert.That(amac, Is.EqualTo(a.If.LinkAddr));
        Assert.That(st, Is.AnyOf(Nd6Cache.State.Stale, Nd6Cache.State.Delay, Nd6Cache.State.Probe, Nd6Cache.State.Reachable));

        // Link-local: the interface is named; the source is a's link-local address.
        Assert.That(In(a.K, () => a.In6.Icmp6.SendEcho(b.LinkLocal, 0x66, 2, payload, a.If)), Is.EqualTo(0));
        WaitFor(() => replies.Count == 1, () => "the echo reply from b's link-local address");
        replies.TryDequeue(out var r2);
        Assert.That((r2.Src, r2.Seq), Is.EqualTo((b.LinkLocal, (ushort)2)));
        Assert.That(a.In6.Stats.NdDadDuplicate + b.In6.Stats.NdDadDuplicate, Is.EqualTo(0), "no address found duplicated");

        // UDP6 through the socket calls, both ways, global then link-local with the scope id.
        int sb = Udp6Socket(b.K), sa = Udp6Socket(a.K);
        Assert.That(Bind(b.K, sb, Sin6(Ipv6Addr.Unspecified, 7000)), Is.EqualTo(0));
        Assert.That(SendTo(a.K, sa, "from a"u8, Sin6(gb, 7000)), Is.EqualTo(6));
        byte[] buf = new byte[64];
        Assert.That(RecvWait(b.K, sb, buf, out Ipv6Addr from, out ushort fport, out _), Is.EqualTo(6), "a's datagram at b");
        Assert.That((Encoding.ASCII.GetString(buf, 0, 6), from), Is.EqualTo(("from a", ga)));
        Assert.That(SendTo(b.K, sb, "from b"u8, Sin6(from, fport)), Is.EqualTo(6));
        Assert.That(RecvWait(a.K, sa, buf, out from, out ushort bport, out _), Is.EqualTo(6), "b's answer at a");
        Assert.That((Encoding.ASCII.GetString(buf, 0, 6), from, bport), Is.EqualTo(("from b", gb, (ushort)7000)));

        Assert.That(SendTo(a.K, sa, "ll"u8, Sin6(b.LinkLocal, 7000, (uint)a.If.Index)), Is.EqualTo(2));
        Assert.That(RecvWait(b.K, sb, buf, out from, out fport, out uint scope), Is.EqualTo(2), "a's link-local datagram at b");
        Assert.That((from, scope), Is.EqualTo((a.LinkLocal, (uint)b.If.Index)), "the sender's link-local address with b's interface as its scope");
        Assert.That(SendTo(b.K, sb, "ll back"u8, Sin6(from, fport, scope)), Is.EqualTo(7));
        Assert.That(RecvWait(a.K, sa, buf, out from, out _, out _), Is.EqualTo(7));
        Assert.That(from, Is.EqualTo(b.LinkLocal));
        Assert.That(SendTo(a.K, sa, "x"u8, Sin6(b.LinkLocal, 7000, 99)), Is.EqualTo(-Abi.ENXIO), "a scope id naming no interface");

        // Destroying the interface takes its addresses, routes and neighbours with it.
        Assert.That(In(a.K, () => ShmifDriver.Of(a.K.Kernel)!.Destroy(a.If)), Is.EqualTo(0));
        Assert.That(a.In6.LinkLocalOf(a.If), Is.Null);
        Assert.That(a.In6.Lookup(gb), Is.Null);
        Assert.That(a.In6.NdOf(a.If), Is.Null);
    }

    // ---- hostile input on an Ethernet test interface ------------------------------------------

    internal const ulong OurMac = 0x02_00_00_00_06_02, PeerMac = 0x02_00_00_00_06_01;

    private static void Inject(RumpKernel k, Ifnet ifp, byte[] frame) => EtherTestIf.Inject(k, ifp, frame);

    internal static byte[] Frame(Ipv6Addr src, Ipv6Addr dst, byte nh, byte hlim, byte[] payload, EtherAddr? edst = null)
    {
        byte[] f = new byte[14 + 40 + payload.Length];
        EthernetFrame.Emit(f, edst ?? (dst.IsMulticast ? In6.EtherMulticast(dst) : new EtherAddr(OurMac)), new EtherAddr(PeerMac), EthernetFrame.TypeIpv6);
        Ipv6Packet.Emit(f.AsSpan(14), new Ipv6Header { Source = src, Destination = dst, NextHeader = nh, HopLimit = hlim }, payload.Length);
        payload.CopyTo(f, 54);
        return f;
    }

    internal static byte[] Ns(Ipv6Addr src, Ipv6Addr dst, Ipv6Addr target, EtherAddr? sll)
    {
        byte[] p = new byte[32];
        int n = Icmpv6Packet.EmitNeighbor(p, src, dst, false, 0, target, sll);
        return p.AsSpan(0, n).ToArray();
    }

    private static byte[] Echo(Ipv6Addr src, Ipv6Addr dst, int len, ushort seq)
    {
        byte[] p = new byte[8 + len];
        Icmpv6Packet.EmitEcho(p, src, dst, false, 0x99, seq, new byte[len]);
        return p;
    }

    // A chain of n destination-options headers (8 bytes each: PadN) ending in "no next header".
    private static byte[] DestOpts(int n, byte last = Ipv6Packet.NextNone)
    {
        byte[] p = new byte[8 * n];
        for (int i = 0; i < n; i++)
        {
            p[8 * i] = i == n - 1 ? last : Ipv6Packet.NextDestOpts;
            p[8 * i + 2] = 1; // PadN
            p[8 * i + 3] = 4;
        }
        return p;
    }

    [Test]
    public void HostileIpv6AndNdInput_IsCountedAndDropped_GoodNsAndEchoAreAnswered_ErrorsAreRateLimited()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = In6Of(k);
        var ifp = new EtherTestIf(k.Kernel, "eth6", OurMac, multicast: true);
        Assert.That(in6.Net.Attach(ifp), Is.EqualTo(0));
        Ipv6Addr us = A6("fd00:6::2"), peer = A6("fd00:6::1");
        Assert.That(in6.AddAddress(ifp, us, 64), Is.EqualTo(0));
        // The address's solicited-node group is reported (MLDv2) before the probe; the report is
        // repeated a second later, so the counts below leave reports out (Mld6Tests checks them).
        byte[][] all = ifp.Frames();
        Assert.That(all, Has.Length.EqualTo(2), "an MLD report and one DAD probe");
        Assert.That(Mld6Tests.IsMldReport(all[0]), Is.True, "first the MLD report");
        byte[][] Sent() => Array.FindAll(ifp.Frames(), f => !Mld6Tests.IsMldReport(f));
        byte[][] f0 = Sent();
        Assert.That(f0, Has.Length.EqualTo(1), "one DAD probe");
        EthernetFrame.Parse(f0[0], out EthernetFrame eth);
        Assert.That(Ipv6Packet.Parse(eth.Payload, out Ipv6Packet dad), Is.EqualTo(WireError.Ok));
        Assert.That((eth.Destination, dad.Source, dad.Destination, dad.HopLimit), Is.EqualTo((In6.EtherMulticast(us.SolicitedNode), Ipv6Addr.Unspecified, us.SolicitedNode, (byte)255)));
        Assert.That(Icmpv6Packet.Parse(dad.Payload, dad.Source, dad.Destination, out Icmpv6Packet dadNs), Is.EqualTo(WireError.Ok));
        Assert.That((dadNs.Type, dadNs.Target, dadNs.NdOptionBytes.Length), Is.EqualTo((Icmpv6Packet.TypeNeighborSolicit, us, 0)), "an NS from :: carries no link-layer option");
        int sent = Sent().Length;

        Inet6Stats s = in6.Stats;
        byte[] echo = Echo(peer, us, 16, 1);
        byte[] good = Frame(peer, us, Ipv6Packet.NextIcmpv6, 64, echo);
        Inject(k, ifp, good.AsSpan(0, 14 + 30).ToArray());                                    // 1 a truncated header
        Inject(k, ifp, Spoil(good, f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(18), 1000))); // 2 payload length past the frame
        Inject(k, ifp, Spoil(good, f => f[14] = 0x45));                                       // 3 version 4
        Inject(k, ifp, Frame(peer, us, Ipv6Packet.NextDestOpts, 64, DestOpts(9)));             // 4 a chain longer than the walk's bound
        Inject(k, ifp, Frame(peer, us, Ipv6Packet.NextDestOpts, 64, DestOpts(2, Ipv6Packet.NextHopByHop).AsSpan().ToArray().Concat8(DestOpts(1)))); // 5 hop-by-hop after another header
        Inject(k, ifp, Frame(peer, us, Ipv6Packet.NextDestOpts, 64, DestOpts(1, Ipv6Packet.NextDestOpts))); // 6 a header cut short
        byte[] frag = new byte[8 + 16];
        frag[0] = Ipv6Packet.NextUdp;
        BinaryPrimitives.WriteUInt16BigEndian(frag.AsSpan(2), 1); // offset 0, more fragments
        Inject(k, ifp, Frame(peer, us, Ipv6Packet.NextFragment, 64, frag));                      // 7 a first fragment, held for the rest
        Inject(k, ifp, Frame(A6("ff02::1"), us, Ipv6Packet.NextIcmpv6, 64, echo));              // 8 multicast source
        Inject(k, ifp, Frame(In6.Loopback, us, Ipv6Packet.NextIcmpv6, 64, echo));               // 9 ::1 from a wire
        Inject(k, ifp, Frame(peer, A6("fd00:6::99"), Ipv6Packet.NextIcmpv6, 64, echo));         // 10 another host's
        Inject(k, ifp, Frame(peer, us, Ipv6Packet.NextIcmpv6, 64, Spoil(echo, e => e[9] ^= 1))); // 11 ICMPv6 checksum
        byte[] udp = new byte[8 + 4];
        UdpPacket.EmitV6(udp, peer, us, 5000, 5001, 4);
        udp[6] = udp[7] = 0;
        Inject(k, ifp, Frame(peer, us, Ipv6Packet.NextUdp, 64, udp));                           // 12 UDP without a checksum
        WaitFor(() => Interlocked.Read(ref s.Ip6Total) == 12, () => $"twelve bad packets seen by IPv6 (got {s.Ip6Total})");
        WaitFor(() => Interlocked.Read(ref s.Udp6Bad) == 1, () => "the UDP checksum counted");
        Assert.That((s.Ip6TooShort, s.Ip6BadHeader, s.Ip6BadExtension, s.Ip6Fragments, s.Ip6Martian, s.Ip6NotOurs, s.Icmp6Bad),
            Is.EqualTo((2L, 1L, 3L, 1L, 2L, 1L, 1L)), "(too short, bad header, bad extension headers, fragments, martians, not ours, ICMPv6 checksum)");
        Assert.That(in6.Reass.Pending, Is.EqualTo(1), "the first fragment waits for the rest");

        // Neighbour discovery that RFC 4861 7.1 says to drop.
        EtherAddr pm = new(PeerMac);
        byte[] ns = Ns(peer, us.SolicitedNode, us, pm);
        Inject(k, ifp, Frame(peer, us.SolicitedNode, Ipv6Packet.NextIcmpv6, 64, ns));            // hop limit not 255
        byte[] zeroOpt = Ns(peer, us.SolicitedNode, us, pm);
        zeroOpt[25] = 0;
        FixIcmp6(zeroOpt, peer, us.SolicitedNode);
        Inject(k, ifp, Frame(peer, us.SolicitedNode, Ipv6Packet.NextIcmpv6, 255, zeroOpt));      // an option of length 0
        Inject(k, ifp, Frame(Ipv6Addr.Unspecified, us.SolicitedNode, Ipv6Packet.NextIcmpv6, 255, Ns(Ipv6Addr.Unspecified, us.SolicitedNode, us, pm))); // DAD probe with a link-layer option
        Inject(k, ifp, Frame(peer, us.SolicitedNode, Ipv6Packet.NextIcmpv6, 255, Ns(peer, us.SolicitedNode, Ipv6Addr.AllNodes, pm))); // a multicast target
        byte[] na = new byte[32];
        Icmpv6Packet.EmitNeighbor(na, peer, Ipv6Addr.AllNodes, true, Icmpv6Packet.NaFlagSolicited, peer, pm);
        Inject(k, ifp, Frame(peer, Ipv6Addr.AllNodes, Ipv6Packet.NextIcmpv6, 255, na));          // solicited NA to a group
        byte[] shortNs = Ns(peer, us.SolicitedNode, us, pm).AsSpan(0, 20).ToArray();
        FixIcmp6(shortNs, peer, us.SolicitedNode);
        Inject(k, ifp, Frame(peer, us.SolicitedNode, Ipv6Packet.NextIcmpv6, 255, shortNs));      // shorter than an NS
        WaitFor(() => Interlocked.Read(ref s.Ip6Total) == 18, () => "six bad ND messages seen");
        WaitFor(() => Interlocked.Read(ref s.NdBad) + Interlocked.Read(ref s.Icmp6Bad) == 7, () => $"the ND messages counted bad (nd {s.NdBad}, icmp6 {s.Icmp6Bad})");
        Assert.That(Sent(), Has.Length.EqualTo(sent), "nothing answered, nothing sent");
        Assert.That(in6.NdOf(ifp)!.Count, Is.EqualTo(0), "nothing learned");

        // A good NS: a solicited NA to the asker's MAC, and the asker learned (STALE, RFC 4861 7.2.3).
        Inject(k, ifp, Frame(peer, us.SolicitedNode, Ipv6Packet.NextIcmpv6, 255, ns));
        WaitFor(() => Sent().Length == sent + 1, () => "our NA");
        EthernetFrame.Parse(Sent()[^1], out eth);
        Assert.That(Ipv6Packet.Parse(eth.Payload, out Ipv6Packet nap), Is.EqualTo(WireError.Ok));
        Assert.That(Icmpv6Packet.Parse(nap.Payload, nap.Source, nap.Destination, out Icmpv6Packet naMsg), Is.EqualTo(WireError.Ok), "the NA's checksum verifies");
        Assert.That(NdOptions.Parse(naMsg.NdOptionBytes, out NdOptions nao), Is.EqualTo(WireError.Ok));
        Assert.That((eth.Destination, nap.Source, nap.Destination, nap.HopLimit, naMsg.Type, naMsg.Target, naMsg.NdFlags, nao.TargetLinkAddr),
            Is.EqualTo((pm, us, peer, (byte)255, Icmpv6Packet.TypeNeighborAdvert, us, (byte)(Icmpv6Packet.NaFlagSolicited | Icmpv6Packet.NaFlagOverride), new EtherAddr(OurMac))));
        Assert.That(in6.NdOf(ifp)!.TryGet(peer, out EtherAddr learned, out Nd6Cache.State st), Is.True);
        Assert.That((learned, st), Is.EqualTo((pm, Nd6Cache.State.Stale)));

        // An echo request: the reply goes straight to the learned MAC.
        Inject(k, ifp, good);
        WaitFor(() => Sent().Length == sent + 2, () => "the echo reply");
        EthernetFrame.Parse(Sent()[^1], out eth);
        Ipv6Packet.Parse(eth.Payload, out Ipv6Packet rp);
        Assert.That(Icmpv6Packet.Parse(rp.Payload, rp.Source, rp.Destination, out Icmpv6Packet reply), Is.EqualTo(WireError.Ok), "the reply's checksum verifies");
        Assert.That((eth.Destination, rp.Source, rp.Destination, reply.Type, reply.Identifier, reply.Sequence), Is.EqualTo((pm, us, peer, Icmpv6Packet.TypeEchoReply, (ushort)0x99, (ushort)1)));

        // An unknown next header: parameter problem pointing at it. Then errors past the rate limit are not sent.
        Inject(k, ifp, Frame(peer, us, 253, 64, new byte[8]));
        WaitFor(() => Sent().Length == sent + 3, () => "the parameter problem");
        EthernetFrame.Parse(Sent()[^1], out eth);
        Ipv6Packet.Parse(eth.Payload, out Ipv6Packet pp);
        Assert.That(Icmpv6Packet.Parse(pp.Payload, pp.Source, pp.Destination, out Icmpv6Packet ppm), Is.EqualTo(WireError.Ok));
        Assert.That((ppm.Type, ppm.Code, ppm.Parameter, ppm.Data.Length), Is.EqualTo((Icmpv6Packet.TypeParamProblem, (byte)1, 6u, 48)), "code 1 (unrecognised next header), pointer 6, the whole packet quoted");
        in6.Icmp6.ErrorRateLimit = 2;
        long errs = s.Icmp6ErrorsSent, limited = s.Icmp6ErrorsRateLimited;
        byte[] toClosed = new byte[8 + 4];
        UdpPacket.EmitV6(toClosed, peer, us, 5000, 5999, 4);
        for (int i = 0; i < 5; i++) Inject(k, ifp, Frame(peer, us, Ipv6Packet.NextUdp, 64, toClosed));
        WaitFor(() => s.Udp6NoPort == 5, () => "five datagrams to a closed port");
        Assert.That(s.Icmp6ErrorsSent - errs + s.Icmp6ErrorsRateLimited - limited, Is.EqualTo(5));
        Assert.That(s.Icmp6ErrorsRateLimited - limited, Is.GreaterThanOrEqualTo(1), "at most 2 errors a second: some were held back");
    }

    private static byte[] Spoil(byte[] b, Action<byte[]> f)
    {
        byte[] c = (byte[])b.Clone();
        f(c);
        return c;
    }

    private static void FixIcmp6(byte[] msg, Ipv6Addr src, Ipv6Addr dst)
    {
        msg[2] = msg[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(2), Checksum.Finish(Checksum.Add(msg, Checksum.PseudoHeaderV6(src, dst, Ipv6Packet.NextIcmpv6, msg.Length))));
    }

    [Test]
    public void SourceSelectionAndRoutes_PreferScopeThenInterfaceThenLongestPrefix()
    {
        RumpKernel k = Boot();
        Inet6 in6 = In6Of(k);
        var e0 = new EtherTestIf(k.Kernel, "eth6", OurMac, multicast: true);
        Assert.That(in6.Net.Attach(e0), Is.EqualTo(0));
        Ipv6Addr ll = In6.LinkLocalOf(e0.LinkAddr);
        Assert.That(in6.AddAddress(e0, ll, 64), Is.EqualTo(0));
        Assert.That(in6.AddAddress(e0, A6("fd00:1::2"), 64), Is.EqualTo(0));
        Assert.That(in6.AddAddress(e0, A6("2001:db8:1::2"), 48), Is.EqualTo(0));
        Assert.That(in6.AddAddress(e0, A6("ff02::5"), 64), Is.EqualTo(Abi.EINVAL));
        Assert.That(in6.AddAddress(e0, In6.Loopback, 128), Is.EqualTo(Abi.EINVAL), "::1 belongs to lo0");
        Assert.That(in6.AddAddress(e0, A6("fd00:1::3"), 129), Is.EqualTo(Abi.EINVAL));

        // Text forms (RFC 4291 2.2 in, RFC 5952 out), parsed without the host's System.Net.
        Assert.That(In6.Format(A6("fd00:78:0:0:0:0:0:1")), Is.EqualTo("fd00:78::1"));
        Assert.That(In6.Format(A6("::")), Is.EqualTo("::"));
        Assert.That(In6.Format(A6("1:0:0:2:0:0:0:3")), Is.EqualTo("1:0:0:2::3"));
        Assert.That(In6.Format(A6("::ffff:10.1.2.3")), Is.EqualTo("::ffff:a01:203"));
        Assert.That(A6("FE80::1"), Is.EqualTo(new Ipv6Addr(0xfe80UL << 48, 1)));
        Assert.That(A6("1:2:3:4:5:6:7::"), Is.EqualTo(new Ipv6Addr(0x0001_0002_0003_0004UL, 0x0005_0006_0007_0000UL)));
        foreach (string bad in new[] { "bogus", "fd00:1::zz", "10.0.0.1", "1::2::3", ":1::", "1:2:3:4:5:6:7:8:9", "12345::", "fe80::1%eth0", "1:", "" })
            Assert.That(In6.TryParse(bad, out _), Is.False, "not an IPv6 address: '" + bad + "'");

        Assert.That(in6.SelectSource(A6("fe80::1234"), e0, out Ipv6Addr src), Is.EqualTo(0));
        Assert.That(src, Is.EqualTo(ll), "a link-local destination gets the link-local source");
        Assert.That(in6.SelectSource(A6("fd00:1::77"), null, out src), Is.EqualTo(0));
        Assert.That(src, Is.EqualTo(A6("fd00:1::2")), "the longest common prefix");
        Assert.That(in6.SelectSource(A6("2001:db8:1:5::9"), null, out src), Is.EqualTo(0));
        Assert.That(src, Is.EqualTo(A6("2001:db8:1::2")));
        Assert.That(in6.SelectSource(In6.Loopback, null, out src), Is.EqualTo(0));
        Assert.That(src, Is.EqualTo(In6.Loopback));

        Assert.That(in6.Lookup(A6("fd00:1::9"))?.Ifp, Is.SameAs(e0), "the connected prefix");
        Assert.That(in6.Lookup(A6("2001:db9::1")), Is.Null, "no default route yet");
        Assert.That(in6.AddRoute(Ipv6Addr.Unspecified, 0, A6("fd00:9::1")), Is.EqualTo(Abi.ENETUNREACH), "a gateway off every prefix");
        Assert.That(in6.AddRoute(Ipv6Addr.Unspecified, 0, A6("fd00:1::1")), Is.EqualTo(0));
        Assert.That(in6.AddRoute(A6("2001:db9::"), 32, A6("fd00:1::5")), Is.EqualTo(0));
        Assert.That(in6.Lookup(A6("2001:db9::1"))!.Gateway, Is.EqualTo(A6("fd00:1::5")), "the longer prefix wins over the default");
        Assert.That(in6.Lookup(A6("2a00::1"))!.Gateway, Is.EqualTo(A6("fd00:1::1")));
        e0.SetFlags(0, Ifnet.IFF_UP);
        Assert.That(in6.Lookup(A6("2a00::1")), Is.Null, "routes through a down interface are skipped");
        Assert.That(in6.DeleteAddress(e0, A6("fd00:1::2")), Is.EqualTo(0));
        Assert.That(in6.DeleteAddress(e0, A6("fd00:1::2")), Is.EqualTo(Abi.EADDRNOTAVAIL));
    }
}

internal static class ByteConcat
{
    public static byte[] Concat8(this byte[] a, byte[] b)
    {
        byte[] r = new byte[a.Length + b.Length];
        a.CopyTo(r, 0);
        b.CopyTo(r, a.Length);
        return r;
    }
}
