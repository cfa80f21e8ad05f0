using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Wire;
using IPAddress = System.Net.IPAddress;

namespace Rump.Tests.Net;

/// <summary>
/// Dual-stack AF_INET6 sockets (IPV6_V6ONLY cleared before bind, NetBSD's semantics): over lo0 in
/// one kernel (TCP and UDP on :: take IPv4 too, and name IPv4 peers v4-mapped; connect and sendto
/// to ::ffff:a.b.c.d; IPV6_V6ONLY's default, its getsockopt and EINVAL after bind; a V6ONLY
/// socket seeing no IPv4; binding clashes between IPv4 and dual-stack sockets as NetBSD's
/// in_pcbbind_port and in6_pcbbind_port decide them; net.inet6.ip6.v6only), and against Linux's
/// stack over a TAP in a network namespace (root): curl -4, curl -6 and nc -4 to one kernel
/// listener on ::, nc -l -4 reached through a v4-mapped connect, UDP echoes with nc -u -4 and -6.
/// </summary>
public unsafe class DualStackTests : KernelTest
{
    private const string PeerIp4 = "10.79.0.1", OurIp4 = "10.79.0.2", PeerIp6 = "fd00:7a::1", OurIp6 = "fd00:7a::2";

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);
    private static IPAddress A(string a) => IPAddress.Parse(a);

    private static byte[] Sa(string a, ushort port) => TcpSocketTests.Sa(a, port);
    private static (IPAddress, ushort) FromSa(int af, byte[] sa, int len) => TcpSocketTests.FromSa(af, sa, len);

    private static int Socket(RumpKernel k, int af, int type)
    {
        int s = (int)Sys(k, SysNum.socket, af, type, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), $"socket({af}, {type})");
        return s;
    }

    /// <summary>An AF_INET6 socket with IPV6_V6ONLY cleared (and read back as 0).</summary>
    private static int DualSocket(RumpKernel k, int type)
    {
        int s = Socket(k, Abi.AF_INET6, type);
        Assert.That(V6Only(k, s), Is.EqualTo(1), "IPV6_V6ONLY starts on (net.inet6.ip6.v6only=1)");
        Assert.That(Inet6Tests.SetInt(k, s, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 0), Is.EqualTo(0), "clearing IPV6_V6ONLY before bind");
        Assert.That(V6Only(k, s), Is.EqualTo(0), "getsockopt(IPV6_V6ONLY) after clearing it");
        return s;
    }

    private static int V6Only(RumpKernel k, int s)
    {
        Assert.That(Inet6Tests.GetInt(k, s, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, out int v), Is.EqualTo(0), "getsockopt(IPV6_V6ONLY)");
        return v;
    }

    private static long Bind(RumpKernel k, int s, byte[] sa) => Inet6Tests.Bind(k, s, sa);
    private static long Connect(RumpKernel k, int s, byte[] sa) => Inet6Tests.Connect(k, s, sa);
    private static long Listen(RumpKernel k, int s) => Sys(k, SysNum.listen, s, 8);

    private static (IPAddress, ushort) Name(RumpKernel k, int s, int af, bool peer = false)
    {
        byte[] sa = new byte[28];
        int len = 28;
        fixed (byte* f = sa) Assert.That(Sys(k, peer ? SysNum.getpeername : SysNum.getsockname, s, (long)f, (long)&len), Is.EqualTo(0), peer ? "getpeername" : "getsockname");
        return FromSa(af, sa, len);
    }

    private static int Accept(RumpKernel k, int l, int af, out (IPAddress, ushort) peer)
    {
        byte[] sa = new byte[28];
        int len = 28;
        long r;
        fixed (byte* p = sa) r = Sys(k, SysNum.accept, l, (long)p, (long)&len);
        Assert.That(r, Is.GreaterThanOrEqualTo(0), "accept");
        peer = FromSa(af, sa, len);
        return (int)r;
    }

    private static long SetReuseAddr(RumpKernel k, int s) => Inet6Tests.SetInt(k, s, Abi.SOL_SOCKET, Abi.SO_REUSEADDR, 1);

    /// <summary>A datagram received by <paramref name="s"/> with the sockaddr it came with (waiting for it without blocking forever).</summary>
    private static (string, IPAddress, ushort) RecvAny(RumpKernel k, int s, int af)
    {
        byte[] buf = new byte[256], sa = new byte[28];
        int[] len = { 28 };
        long r = -Abi.EWOULDBLOCK;
        WaitFor(() =>
        {
            len[0] = 28;
            fixed (byte* b = buf)
            fixed (byte* f = sa)
            fixed (int* l = len)
                r = Sys(k, SysNum.recvfrom, s, (long)b, buf.Length, Inet6Tests.MSG_DONTWAIT, (long)f, (long)l);
            return r != -Abi.EWOULDBLOCK;
        }, "a datagram");
        Assert.That(r, Is.GreaterThanOrEqualTo(0), "recvfrom");
        var (a, p) = FromSa(af, sa, len[0]);
        return (Encoding.ASCII.GetString(buf, 0, (int)r), a, p);
    }

    private static void ReadExactly(RumpKernel k, int s, string want)
    {
        byte[] buf = new byte[want.Length];
        int got = 0;
        while (got < buf.Length)
        {
            long r = k.Read(s, buf.AsSpan(got));
            Assert.That(r, Is.GreaterThan(0), $"read after {got} of {buf.Length} bytes");
            got += (int)r;
        }
        Assert.That(Encoding.ASCII.GetString(buf), Is.EqualTo(want));
    }

    // ---- lo0 ---------------------------------------------------------------------------------

    /// <summary>The pcblist's entries as (local address, local port, foreign port); IPv4 addresses of tcp's list as IPAddress of 4 bytes.</summary>
    private static List<(System.Net.IPAddress, ushort, ushort)> PcbPorts(TcpStack stack, bool v6)
    {
        int size = v6 ? TcpPcbList.EntrySize6 : TcpPcbList.EntrySize, addr = v6 ? 16 : 4, ports = v6 ? 36 : 12;
        byte[] b = new byte[128 * size];
        int n = Math.Min(TcpPcbList.Read(stack, b, v6), b.Length) / size;
        var r = new List<(System.Net.IPAddress, ushort, ushort)>();
        for (int i = 0; i < n; i++)
        {
            Span<byte> e = b.AsSpan(i * size, size);
            r.Add((new System.Net.IPAddress(e.Slice(4, addr)), BinaryPrimitives.ReadUInt16LittleEndian(e.Slice(ports)), BinaryPrimitives.ReadUInt16LittleEndian(e.Slice(ports + 2))));
        }
        return r;
    }

    [Test]
    public void Loopback_TcpDualStackListener_TakesBothFamilies_NamesIPv4Mapped_ConnectsToMapped()
    {
        RumpKernel k = Boot(ncpu: 2);
        int l = DualSocket(k, Abi.SOCK_STREAM);
        Assert.That(Bind(k, l, Sa("::", 7500)), Is.EqualTo(0), "bind [::]:7500");
        Assert.That(Inet6Tests.SetInt(k, l, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 1), Is.EqualTo(-Abi.EINVAL), "IPV6_V6ONLY after bind");
        Assert.That(V6Only(k, l), Is.EqualTo(0), "and it stayed off");
        Assert.That(Listen(k, l), Is.EqualTo(0));

        // An AF_INET client: the listener on :: takes it, and names it v4-mapped.
        int c4 = Socket(k, Abi.AF_INET, Abi.SOCK_STREAM);
        Assert.That(Connect(k, c4, Sa("127.0.0.1", 7500)), Is.EqualTo(0), "an IPv4 connect to the dual-stack listener");
        int s4 = Accept(k, l, Abi.AF_INET6, out var peer4);
        ushort c4port = Name(k, c4, Abi.AF_INET).Item2;
        Assert.That(peer4, Is.EqualTo((A("::ffff:127.0.0.1"), c4port)), "accept's sockaddr_in6 of an IPv4 peer");
        Assert.That(Name(k, s4, Abi.AF_INET6, peer: true), Is.EqualTo((A("::ffff:127.0.0.1"), c4port)), "getpeername");
        Assert.That(Name(k, s4, Abi.AF_INET6), Is.EqualTo((A("::ffff:127.0.0.1"), (ushort)7500)), "getsockname of the accepted socket");
        Assert.That(V6Only(k, s4), Is.EqualTo(0), "IPV6_V6ONLY of a connection the dual-stack listener accepted (inherited, as in NetBSD)");
        Assert.That(k.Write(c4, "over ipv4"u8), Is.EqualTo(9));
        ReadExactly(k, s4, "over ipv4");
        Assert.That(k.Write(s4, "back"u8), Is.EqualTo(4));
        ReadExactly(k, c4, "back");

        // An AF_INET6 client over ::1: the same listener, a plain IPv6 name.
        int c6 = Socket(k, Abi.AF_INET6, Abi.SOCK_STREAM);
        Assert.That(Connect(k, c6, Sa("::1", 7500)), Is.EqualTo(0));
        int s6 = Accept(k, l, Abi.AF_INET6, out var peer6);
        Assert.That(peer6, Is.EqualTo((A("::1"), Name(k, c6, Abi.AF_INET6).Item2)), "accept's name of an IPv6 peer");

        // A dual-stack client connecting to ::ffff:127.0.0.1 goes over IPv4, and names itself v4-mapped.
        int cm = DualSocket(k, Abi.SOCK_STREAM);
        Assert.That(Connect(k, cm, Sa("::ffff:127.0.0.1", 7500)), Is.EqualTo(0), "connect to a v4-mapped address");
        var (cmAddr, cmPort) = Name(k, cm, Abi.AF_INET6);
        Assert.That(cmAddr, Is.EqualTo(A("::ffff:127.0.0.1")), "the dual-stack client's source, v4-mapped");
        Assert.That(Name(k, cm, Abi.AF_INET6, peer: true), Is.EqualTo((A("::ffff:127.0.0.1"), (ushort)7500)));
        int sm = Accept(k, l, Abi.AF_INET6, out var peerm);
        Assert.That(peerm, Is.EqualTo((A("::ffff:127.0.0.1"), cmPort)));
        Assert.That(k.Write(cm, "mapped"u8), Is.EqualTo(6));
        ReadExactly(k, sm, "mapped");
        // As NetBSD lists in6pcbs: the AF_INET6 sockets' IPv4 connections (the dual-stack client's,
        // and the listener's accepted one) in net.inet6.tcp6.pcblist, v4-mapped; the AF_INET client's in net.inet.tcp.pcblist.
        TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;
        var tcp = PcbPorts(stack, v6: false);
        var tcp6 = PcbPorts(stack, v6: true);
        Assert.That(tcp6, Does.Contain((A("::ffff:127.0.0.1"), cmPort, (ushort)7500)), "the dual-stack client's connection in tcp6's pcblist, v4-mapped");
        Assert.That(tcp6, Does.Contain((A("::ffff:127.0.0.1"), (ushort)7500, c4port)), "the dual-stack listener's accepted IPv4 connection in tcp6's pcblist");
        Assert.That(tcp, Does.Contain((A("127.0.0.1"), c4port, (ushort)7500)), "the AF_INET client's connection in tcp's pcblist");
        Assert.That(tcp.Exists(e => e.Item2 == cmPort || e.Item3 == c4port), Is.False, "tcp's pcblist lists no AF_INET6 socket's connection: " + string.Join(", ", tcp));

        // An IPV6_V6ONLY socket still refuses v4-mapped addresses, and its listener sees no IPv4.
        int v6only = Socket(k, Abi.AF_INET6, Abi.SOCK_STREAM);
        Assert.That(Connect(k, v6only, Sa("::ffff:127.0.0.1", 7500)), Is.EqualTo(-Abi.EINVAL), "v4-mapped on a V6ONLY socket");
        Assert.That(Bind(k, v6only, Sa("::ffff:127.0.0.1", 7501)), Is.EqualTo(-Abi.EINVAL), "bind v4-mapped on a V6ONLY socket");
        Assert.That(Bind(k, v6only, Sa("::", 7501)), Is.EqualTo(0));
        Assert.That(Listen(k, v6only), Is.EqualTo(0));
        int refused = Socket(k, Abi.AF_INET, Abi.SOCK_STREAM);
        Assert.That(Connect(k, refused, Sa("127.0.0.1", 7501)), Is.EqualTo(-Abi.ECONNREFUSED), "IPv4 to a V6ONLY listener's port");
        // A dual-stack socket bound to an IPv6 address reaches no IPv4.
        int bound6 = DualSocket(k, Abi.SOCK_STREAM);
        Assert.That(Bind(k, bound6, Sa("::1", 0)), Is.EqualTo(0));
        Assert.That(Connect(k, bound6, Sa("::ffff:127.0.0.1", 7500)), Is.EqualTo(-Abi.EINVAL), "from ::1 to a v4-mapped address");

        foreach (int fd in new[] { c4, s4, c6, s6, cm, sm, v6only, refused, bound6, l }) k.Close(fd);
    }

    /// <summary>
    /// NetBSD's rules: an IPv4 bind of a port a dual-stack socket holds on :: clashes unless it
    /// sets SO_REUSEADDR (in_pcbbind_port looks the v4-mapped address up among IPv6's PCBs with
    /// wildcards then only); a dual-stack bind of :: looks at IPv6's PCBs alone, so it follows an
    /// IPv4 socket on the port, and IPv4's own listener then comes first; binding ::ffff:a.b.c.d
    /// meets IPv4's sockets.
    /// </summary>
    [Test]
    public void Loopback_TcpBindClashes_BetweenIPv4AndDualStack()
    {
        RumpKernel k = Boot(ncpu: 2);
        int d = DualSocket(k, Abi.SOCK_STREAM);
        Assert.That(Bind(k, d, Sa("::", 7510)), Is.EqualTo(0));
        Assert.That(Listen(k, d), Is.EqualTo(0));
        Assert.That(Bind(k, Socket(k, Abi.AF_INET, Abi.SOCK_STREAM), Sa("0.0.0.0", 7510)), Is.EqualTo(-Abi.EADDRINUSE), "0.0.0.0 after a dual-stack ::");
        Assert.That(Bind(k, Socket(k, Abi.AF_INET, Abi.SOCK_STREAM), Sa("127.0.0.1", 7510)), Is.EqualTo(-Abi.EADDRINUSE), "127.0.0.1 after a dual-stack ::");
        int d2 = DualSocket(k, Abi.SOCK_STREAM);
        Assert.That(Bind(k, d2, Sa("::ffff:127.0.0.1", 7510)), Is.EqualTo(-Abi.EADDRINUSE), "::ffff:127.0.0.1 after a dual-stack ::");
        Assert.That(Bind(k, DualSocket(k, Abi.SOCK_STREAM), Sa("::", 7510)), Is.EqualTo(-Abi.EADDRINUSE), "a second dual-stack ::");
        // A V6ONLY socket on :: leaves IPv4's port alone (as before).
        int o = Socket(k, Abi.AF_INET6, Abi.SOCK_STREAM);
        Assert.That(Bind(k, o, Sa("::", 7511)), Is.EqualTo(0));
        Assert.That(Bind(k, Socket(k, Abi.AF_INET, Abi.SOCK_STREAM), Sa("0.0.0.0", 7511)), Is.EqualTo(0), "0.0.0.0 after a V6ONLY ::");

        // With SO_REUSEADDR the IPv4 socket may bind over the dual-stack ::, and IPv4 connections go to it first.
        int r4 = Socket(k, Abi.AF_INET, Abi.SOCK_STREAM);
        Assert.That(SetReuseAddr(k, r4), Is.EqualTo(0));
        Assert.That(Bind(k, r4, Sa("0.0.0.0", 7510)), Is.EqualTo(0), "0.0.0.0 with SO_REUSEADDR after a dual-stack ::");
        Assert.That(Listen(k, r4), Is.EqualTo(0));
        int c = Socket(k, Abi.AF_INET, Abi.SOCK_STREAM);
        Assert.That(Connect(k, c, Sa("127.0.0.1", 7510)), Is.EqualTo(0));
        int s = Accept(k, r4, Abi.AF_INET, out var peer);
        Assert.That(peer.Item1, Is.EqualTo(A("127.0.0.1")), "IPv4's own listener took the IPv4 connection (a sockaddr_in)");

        // IPv4 first, then a dual-stack ::: allowed (in6_pcbbind_port looks only at IPv6 for ::); ::ffff:0.0.0.0 meets IPv4.
        int v4 = Socket(k, Abi.AF_INET, Abi.SOCK_STREAM);
        Assert.That(Bind(k, v4, Sa("0.0.0.0", 7520)), Is.EqualTo(0));
        Assert.That(Listen(k, v4), Is.EqualTo(0));
        int d3 = DualSocket(k, Abi.SOCK_STREAM);
        Assert.That(Bind(k, d3, Sa("::", 7520)), Is.EqualTo(0), "a dual-stack :: after 0.0.0.0");
        Assert.That(Listen(k, d3), Is.EqualTo(0));
        Assert.That(Bind(k, DualSocket(k, Abi.SOCK_STREAM), Sa("::ffff:0.0.0.0", 7520)), Is.EqualTo(-Abi.EADDRINUSE), "::ffff:0.0.0.0 after 0.0.0.0");
        int c2 = Socket(k, Abi.AF_INET, Abi.SOCK_STREAM);
        Assert.That(Connect(k, c2, Sa("127.0.0.1", 7520)), Is.EqualTo(0));
        int s2 = Accept(k, v4, Abi.AF_INET, out var peer2);
        Assert.That(peer2.Item1, Is.EqualTo(A("127.0.0.1")), "the IPv4 listener comes before the dual-stack one");
        int c3 = Socket(k, Abi.AF_INET6, Abi.SOCK_STREAM);
        Assert.That(Connect(k, c3, Sa("::1", 7520)), Is.EqualTo(0));
        int s3 = Accept(k, d3, Abi.AF_INET6, out var peer3);
        Assert.That(peer3.Item1, Is.EqualTo(A("::1")), "IPv6 reaches the dual-stack listener");
    }

    [Test]
    public void Loopback_UdpDualStack_TakesIPv4_RepliesToMapped_V6OnlySeesNone_BindClashes()
    {
        RumpKernel k = Boot(ncpu: 2);
        int d = DualSocket(k, Abi.SOCK_DGRAM);
        Assert.That(Bind(k, d, Sa("::", 7530)), Is.EqualTo(0));
        Assert.That(Inet6Tests.SetInt(k, d, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 1), Is.EqualTo(-Abi.EINVAL), "IPV6_V6ONLY after bind");

        int u4 = Socket(k, Abi.AF_INET, Abi.SOCK_DGRAM);
        Assert.That(Bind(k, u4, Sa("127.0.0.1", 0)), Is.EqualTo(0));
        ushort u4port = Name(k, u4, Abi.AF_INET).Item2;
        Assert.That(Inet6Tests.SendTo(k, u4, "v4 datagram"u8, Sa("127.0.0.1", 7530)), Is.EqualTo(11));
        var (msg, from, fport) = RecvAny(k, d, Abi.AF_INET6);
        Assert.That((msg, from, fport), Is.EqualTo(("v4 datagram", A("::ffff:127.0.0.1"), u4port)), "recvfrom's sockaddr_in6 of an IPv4 sender");
        Assert.That(Inet6Tests.SendTo(k, d, "reply"u8, Sa("::ffff:127.0.0.1", u4port)), Is.EqualTo(5), "sendto a v4-mapped address");
        Assert.That(RecvAny(k, u4, Abi.AF_INET), Is.EqualTo(("reply", A("127.0.0.1"), (ushort)7530)), "the reply came over IPv4 from port 7530");

        int u6 = Socket(k, Abi.AF_INET6, Abi.SOCK_DGRAM);
        Assert.That(Inet6Tests.SendTo(k, u6, "v6 datagram"u8, Sa("::1", 7530)), Is.EqualTo(11));
        var (msg6, from6, _) = RecvAny(k, d, Abi.AF_INET6);
        Assert.That((msg6, from6), Is.EqualTo(("v6 datagram", A("::1"))), "IPv6 reaches the same socket");

        // Connected to a v4-mapped peer: named v4-mapped at both ends.
        int dc = DualSocket(k, Abi.SOCK_DGRAM);
        Assert.That(Connect(k, dc, Sa("::ffff:127.0.0.1", u4port)), Is.EqualTo(0));
        Assert.That(Name(k, dc, Abi.AF_INET6).Item1, Is.EqualTo(A("::ffff:127.0.0.1")), "getsockname after connecting to a v4-mapped address");
        Assert.That(Name(k, dc, Abi.AF_INET6, peer: true), Is.EqualTo((A("::ffff:127.0.0.1"), u4port)), "getpeername");
        Assert.That(Inet6Tests.SendTo(k, dc, "connected"u8, null), Is.EqualTo(9));
        Assert.That(RecvAny(k, u4, Abi.AF_INET), Is.EqualTo(("connected", A("127.0.0.1"), Name(k, dc, Abi.AF_INET6).Item2)));
        Assert.That(Inet6Tests.SendTo(k, dc, "x"u8, Sa("::1", 9)), Is.EqualTo(-Abi.EISCONN));

        // A V6ONLY socket on :: gets no IPv4: the datagram finds no socket (port unreachable, ECONNREFUSED to the connected sender).
        int o = Socket(k, Abi.AF_INET6, Abi.SOCK_DGRAM);
        Assert.That(Bind(k, o, Sa("::", 7531)), Is.EqualTo(0));
        Assert.That(Inet6Tests.SendTo(k, o, "x"u8, Sa("::ffff:127.0.0.1", u4port)), Is.EqualTo(-Abi.EINVAL), "sendto v4-mapped from a V6ONLY socket");
        int s4 = Socket(k, Abi.AF_INET, Abi.SOCK_DGRAM);
        Assert.That(Connect(k, s4, Sa("127.0.0.1", 7531)), Is.EqualTo(0));
        Assert.That(Inet6Tests.SendTo(k, s4, "nobody"u8, null), Is.EqualTo(6));
        byte[] b = new byte[16];
        Assert.That(UdpSocketTests.RecvFrom(k, s4, b, out _, out _), Is.EqualTo(-Abi.ECONNREFUSED), "IPv4 to a V6ONLY socket's port: refused");
        Assert.That(Inet6Tests.RecvFrom(k, o, b, out _, out _, out _, Inet6Tests.MSG_DONTWAIT), Is.EqualTo(-Abi.EWOULDBLOCK), "the V6ONLY socket got nothing");

        // Binding: 0.0.0.0 clashes with the dual-stack :: unless SO_REUSEADDR; ::ffff:127.0.0.1 meets IPv4's 127.0.0.1.
        Assert.That(Bind(k, Socket(k, Abi.AF_INET, Abi.SOCK_DGRAM), Sa("0.0.0.0", 7530)), Is.EqualTo(-Abi.EADDRINUSE), "0.0.0.0 after a dual-stack ::");
        int r4 = Socket(k, Abi.AF_INET, Abi.SOCK_DGRAM);
        Assert.That(SetReuseAddr(k, r4), Is.EqualTo(0));
        Assert.That(Bind(k, r4, Sa("0.0.0.0", 7530)), Is.EqualTo(0), "0.0.0.0 with SO_REUSEADDR");
        Assert.That(Inet6Tests.SendTo(k, u4, "to r4"u8, Sa("127.0.0.1", 7530)), Is.EqualTo(5));
        Assert.That(RecvAny(k, r4, Abi.AF_INET).Item1, Is.EqualTo("to r4"), "IPv4's own socket comes first");
        Assert.That(Bind(k, DualSocket(k, Abi.SOCK_DGRAM), Sa("::ffff:127.0.0.1", u4port)), Is.EqualTo(-Abi.EADDRINUSE), "::ffff:127.0.0.1 on an IPv4 socket's port");
        Assert.That(Bind(k, Socket(k, Abi.AF_INET, Abi.SOCK_DGRAM), Sa("0.0.0.0", 7531)), Is.EqualTo(0), "0.0.0.0 after a V6ONLY ::");
    }

    [Test]
    public void Sysctl_V6Only_SetsTheDefaultOfNewSockets()
    {
        RumpKernel k = Boot(ncpu: 1);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        Assert.That(in6.V6OnlyDefault, Is.True, "net.inet6.ip6.v6only starts at 1");
        Assert.That(k.Kernel.Sysctl.FindByName("net.inet6.ip6.v6only"), Is.Not.Null, "the sysctl leaf");
        in6.V6OnlyDefault = false;
        foreach (int type in new[] { Abi.SOCK_STREAM, Abi.SOCK_DGRAM })
            Assert.That(V6Only(k, Socket(k, Abi.AF_INET6, type)), Is.EqualTo(0), $"a new socket of type {type} with v6only=0");
        in6.V6OnlyDefault = true;
        Assert.That(V6Only(k, Socket(k, Abi.AF_INET6, Abi.SOCK_STREAM)), Is.EqualTo(1));
    }

    // ---- Linux's stack as the peer (root) ---------------------------------------------------

    /// <summary>A kernel with virt0 on a TAP whose namespace has both families' addresses, and so has virt0.</summary>
    private RumpKernel Up(TapNs tn)
    {
        RumpKernel k = Boot(ncpu: 2);
        tn.AttachKernel(k, PeerIp6 + "/64");
        HostNet.Ip($"-n {tn.Ns} addr add {PeerIp4}/24 dev {tn.Tap}");
        Assert.That(In(k, () => Netconfig.Ipv4IfaddrCidr(k.Kernel, "virt0", OurIp4, 24)), Is.EqualTo(0));
        Assert.That(In(k, () => Netconfig6.Ipv6Ifaddr(k.Kernel, "virt0", OurIp6, 64)), Is.EqualTo(0));
        return k;
    }

    /// <summary>Serves one HTTP/1.0-style reply on an accepted connection after reading the request's head.</summary>
    private static string ServeOne(RumpKernel k, int s, string body)
    {
        var req = new StringBuilder();
        var buf = new byte[4096];
        while (!req.ToString().Contains("\r\n\r\n"))
        {
            long r = k.Read(s, buf);
            Assert.That(r, Is.GreaterThan(0), "the request's head; got so far: " + req);
            req.Append(Encoding.ASCII.GetString(buf, 0, (int)r));
        }
        byte[] resp = Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\nContent-Length: {body.Length}\r\n\r\n{body}");
        Assert.That(k.Write(s, resp), Is.EqualTo(resp.Length));
        Assert.That(k.Close(s), Is.EqualTo(0));
        return req.ToString();
    }

    [Test]
    public void Root_TcpDualStackListener_HostCurl4Curl6AndNc4_KernelConnectsToMappedHostNc()
    {
        using var tn = new TapNs("rumpds-", "rds");
        RumpKernel k = Up(tn);
        int l = DualSocket(k, Abi.SOCK_STREAM);
        Assert.That(Bind(k, l, Sa("::", 8080)), Is.EqualTo(0));
        Assert.That(Listen(k, l), Is.EqualTo(0));
        int only = Socket(k, Abi.AF_INET6, Abi.SOCK_STREAM);
        Assert.That(Bind(k, only, Sa("::", 8081)), Is.EqualTo(0));
        Assert.That(Listen(k, only), Is.EqualTo(0));

        // curl -4: the kernel's listener on :: accepts it, and names the host v4-mapped.
        Process curl4 = tn.Start($"curl -4 -sS --max-time 20 http://{OurIp4}:8080/four");
        int s = Accept(k, l, Abi.AF_INET6, out var peer);
        Assert.That(peer.Item1, Is.EqualTo(A("::ffff:" + PeerIp4)), "the IPv4 host named v4-mapped");
        Assert.That(Name(k, s, Abi.AF_INET6), Is.EqualTo((A("::ffff:" + OurIp4), (ushort)8080)), "getsockname of the IPv4 connection");
        Assert.That(ServeOne(k, s, "four\n"), Does.StartWith("GET /four HTTP/1.1\r\n"));
        var (st, outp, err) = HostNet.Finish(curl4, 30);
        Assert.That((st, outp), Is.EqualTo((0, "four\n")), "curl -4: " + err);

        // curl -6 to the same listener.
        Process curl6 = tn.Start($"curl -6 -sS --max-time 20 http://[{OurIp6}]:8080/six");
        s = Accept(k, l, Abi.AF_INET6, out peer);
        Assert.That(peer.Item1, Is.EqualTo(A(PeerIp6)), "the IPv6 host");
        Assert.That(ServeOne(k, s, "six\n"), Does.StartWith("GET /six HTTP/1.1\r\n"));
        (st, outp, err) = HostNet.Finish(curl6, 30);
        Assert.That((st, outp), Is.EqualTo((0, "six\n")), "curl -6: " + err);

        // nc -4: its stdin arrives, its FIN ends it, our reply comes back.
        Process nc = tn.Start($"nc -4 -N {OurIp4} 8080", "hello over ipv4\n");
        s = Accept(k, l, Abi.AF_INET6, out peer);
        Assert.That(peer.Item1, Is.EqualTo(A("::ffff:" + PeerIp4)));
        ReadExactly(k, s, "hello over ipv4\n");
        Assert.That(k.Write(s, "got it\n"u8), Is.EqualTo(7));
        Assert.That(k.Close(s), Is.EqualTo(0));
        (st, outp, err) = HostNet.Finish(nc, 30);
        Assert.That((st, outp), Is.EqualTo((0, "got it\n")), "nc -4: " + err);

        // The V6ONLY listener: nc -4 -z is refused, nc -6 -z connects.
        (st, _, err) = tn.Run($"nc -4 -z -w 5 {OurIp4} 8081");
        Assert.That(st, Is.Not.EqualTo(0), "nc -4 -z to a V6ONLY listener's port should fail; stderr: " + err);
        (st, _, err) = tn.Run($"nc -6 -z -w 5 {OurIp6} 8081");
        Assert.That(st, Is.EqualTo(0), "nc -6 -z to the V6ONLY listener: " + err);
        k.Close(Accept(k, only, Abi.AF_INET6, out peer));
        Assert.That(peer.Item1, Is.EqualTo(A(PeerIp6)));

        // The kernel's dual-stack socket connects to ::ffff:<host> and reaches nc -l -4.
        Process nl = tn.Start("nc -4 -l 9000");
        Assert.That(Eventually(() => tn.Run("ss -Htln sport = :9000").stdout.Contains(":9000")), Is.True, "nc -l -4 listening");
        var printed = HostNet.FinishWhileSending(nl, 30);
        int c = DualSocket(k, Abi.SOCK_STREAM);
        Assert.That(Connect(k, c, Sa("::ffff:" + PeerIp4, 9000)), Is.EqualTo(0), "connect to the host's v4-mapped address");
        Assert.That(Name(k, c, Abi.AF_INET6, peer: true), Is.EqualTo((A("::ffff:" + PeerIp4), (ushort)9000)));
        Assert.That(Name(k, c, Abi.AF_INET6).Item1, Is.EqualTo(A("::ffff:" + OurIp4)), "the source: virt0's IPv4 address, v4-mapped");
        string data = new string('m', 100_000);
        byte[] bytes = Encoding.ASCII.GetBytes(data);
        for (int off = 0; off < bytes.Length;)
        {
            long w = k.Write(c, bytes.AsSpan(off));
            Assert.That(w, Is.GreaterThan(0), "write");
            off += (int)w;
        }
        Assert.That(k.Close(c), Is.EqualTo(0));
        (st, outp, err) = printed.Result;
        Assert.That(st, Is.EqualTo(0), "nc -l -4: " + err);
        Assert.That(outp.Length == data.Length && outp == data, Is.True, $"nc -l -4 printed what the kernel sent ({outp.Length} of {data.Length} bytes)");
        k.Close(l);
        k.Close(only);
    }

    [Test]
    public void Root_UdpDualStack_EchoesNcU4AndNcU6_V6OnlySocketSeesNoIPv4()
    {
        using var tn = new TapNs("rumpdu-", "rdu");
        RumpKernel k = Up(tn);
        int d = DualSocket(k, Abi.SOCK_DGRAM);
        Assert.That(Bind(k, d, Sa("::", 5300)), Is.EqualTo(0));

        foreach (var (flag, ours, peerName) in new[] { ("-4", OurIp4, "::ffff:" + PeerIp4), ("-6", OurIp6, PeerIp6) })
        {
            // nc -u sends its stdin and prints what comes back until it has been idle for -w seconds.
            Process nc = tn.Start($"nc -u {flag} -w 2 {ours} 5300", $"ping {flag}\n");
            var (msg, from, port) = RecvAny(k, d, Abi.AF_INET6);
            Assert.That((msg, from), Is.EqualTo(($"ping {flag}\n", A(peerName))), $"nc -u {flag}'s datagram and its sockaddr_in6");
            byte[] pong = Encoding.ASCII.GetBytes($"pong {flag}\n");
            Assert.That(Inet6Tests.SendTo(k, d, pong, Sa(peerName, port)), Is.EqualTo(pong.Length), "the echo's sendto");
            var (st, outp, err) = HostNet.Finish(nc, 30);
            Assert.That((st, outp), Is.EqualTo((0, $"pong {flag}\n")), $"nc -u {flag} printed our reply; stderr: " + err);
        }

        // A V6ONLY socket on :: sees no IPv4: IPv4's no-port count rises and the socket stays empty.
        int o = Socket(k, Abi.AF_INET6, Abi.SOCK_DGRAM);
        Assert.That(Bind(k, o, Sa("::", 5301)), Is.EqualTo(0));
        InetStats stats = k.Kernel.GetService<Inet>()!.Stats;
        long noport = System.Threading.Interlocked.Read(ref stats.UdpNoPort);
        var (st2, _, err2) = tn.Run($"nc -u -4 -w 1 {OurIp4} 5301", "nobody\n");
        WaitFor(() => System.Threading.Interlocked.Read(ref stats.UdpNoPort) > noport, "IPv4's UDP no-port count to rise after nc -u -4 sent to a V6ONLY port (nc: " + st2 + " " + err2 + ")");
        byte[] b = new byte[16];
        Assert.That(Inet6Tests.RecvFrom(k, o, b, out _, out _, out _, Inet6Tests.MSG_DONTWAIT), Is.EqualTo(-Abi.EWOULDBLOCK), "the V6ONLY socket got nothing");
        k.Close(o);
        k.Close(d);
    }
}
