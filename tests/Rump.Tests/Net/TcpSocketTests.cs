using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Shmif;
using Rump.Net.Wire;
using IPAddress = System.Net.IPAddress;

namespace Rump.Tests.Net;

/// <summary>
/// TCP sockets through the system-call table, once over IPv4 (AF_INET, sockaddr_in) and once over
/// IPv6 (AF_INET6, sockaddr_in6): over lo0 in one kernel (connect and accept, names, options, echo,
/// 16 MiB with SHA-256 both ways at once, non-blocking connect with EINPROGRESS and SO_ERROR,
/// refused connections, bad addresses, the half-close of shutdown(SHUT_WR), SO_LINGER 0
/// resetting, poll readiness, EPIPE, bind's EADDRINUSE and SO_REUSEADDR, many connections, the
/// family's pcblist sysctl, listeners of both families on one port number), and between two
/// kernels of this process over one shmif bus (ARP or neighbour discovery first), also with the
/// bus dropping, duplicating and reordering frames.
/// </summary>
[TestFixture(Abi.AF_INET)]
[TestFixture(Abi.AF_INET6)]
public unsafe class TcpSocketTests : KernelTest
{
    private const int IPPROTO_TCP = 6, TCP_NODELAY = 1, TCP_MAXSEG = 2;

    /// <summary>The fixture's address family, and what differs with it.</summary>
    private readonly int _af;
    private bool V6 => _af == Abi.AF_INET6;
    private int Other => V6 ? Abi.AF_INET : Abi.AF_INET6;
    private string Lo => LoOf(_af);
    private string Any => V6 ? "::" : "0.0.0.0";
    /// <summary>IP and TCP headers without options: the MSS is the MTU less these (less 12 with timestamps).</summary>
    private int Headers => V6 ? 60 : 40;

    public TcpSocketTests(int af) => _af = af;

    private static string LoOf(int af) => af == Abi.AF_INET6 ? "::1" : "127.0.0.1";
    private static IPAddress A(string a) => IPAddress.Parse(a);

    /// <summary>Host <paramref name="host"/> of test network <paramref name="net"/>: 10.9.NET.HOST/24 or fd00:9:NET::HOST/64.</summary>
    private string Host(int net, int host) => V6 ? $"fd00:9:{net}::{host}" : $"10.9.{net}.{host}";

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    /// <summary>A sockaddr_in or sockaddr_in6 for <paramref name="a"/> (its family decides which; ::ffff:a.b.c.d is a sockaddr_in6).</summary>
    internal static byte[] Sa(string a, ushort port)
    {
        IPAddress ip = A(a);
        return ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? Inet6Tests.Sin6(Ipv6Addr.Read(ip.GetAddressBytes()), port)
            : UdpSocketTests.Sin(Ipv4Addr.Read(ip.GetAddressBytes()), port);
    }

    /// <summary>A sockaddr of family <paramref name="af"/> as the kernel wrote it: length and family checked, then address and port.</summary>
    internal static (IPAddress, ushort) FromSa(int af, byte[] sa, int len)
    {
        int size = af == Abi.AF_INET6 ? 28 : 16;
        Assert.That((len, (int)sa[0], (int)sa[1]), Is.EqualTo((size, size, af)), "a sockaddr (length, its sa_len, its family)");
        return (new IPAddress(sa.AsSpan(af == Abi.AF_INET6 ? 8 : 4, af == Abi.AF_INET6 ? 16 : 4)), BinaryPrimitives.ReadUInt16BigEndian(sa.AsSpan(2)));
    }

    private static int SocketOf(RumpKernel k, int af, int flags = 0)
    {
        int s = (int)Sys(k, SysNum.socket, af, Abi.SOCK_STREAM | flags, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), $"socket({af}, SOCK_STREAM)");
        return s;
    }

    private int TcpSocket(RumpKernel k, int flags = 0) => SocketOf(k, _af, flags);

    private static long Bind(RumpKernel k, int s, byte[] sa) => Inet6Tests.Bind(k, s, sa);
    private static long Connect(RumpKernel k, int s, byte[] sa) => Inet6Tests.Connect(k, s, sa);
    private static long Listen(RumpKernel k, int s, int backlog) => Sys(k, SysNum.listen, s, backlog);

    private static int AcceptOf(int af, RumpKernel k, int s, out IPAddress? peer, out ushort port, int flags = -1)
    {
        byte[] sa = new byte[28];
        int len = 28;
        long r;
        fixed (byte* p = sa)
            r = flags < 0 ? Sys(k, SysNum.accept, s, (long)p, (long)&len) : Sys(k, SysNum.paccept, s, (long)p, (long)&len, 0, flags);
        peer = null;
        port = 0;
        if (r >= 0) (peer, port) = FromSa(af, sa, len);
        return (int)r;
    }

    private int Accept(RumpKernel k, int s, out IPAddress? peer, out ushort port, int flags = -1) => AcceptOf(_af, k, s, out peer, out port, flags);

    private (IPAddress, ushort) Name(RumpKernel k, int s, bool peer = false)
    {
        byte[] sa = new byte[28];
        int len = 28;
        fixed (byte* f = sa) Assert.That(Sys(k, peer ? SysNum.getpeername : SysNum.getsockname, s, (long)f, (long)&len), Is.EqualTo(0));
        return FromSa(_af, sa, len);
    }

    private static long SetInt(RumpKernel k, int s, int level, int name, int v) => Sys(k, SysNum.setsockopt, s, level, name, (long)&v, 4);

    private static int GetInt(RumpKernel k, int s, int level, int name)
    {
        int v = -1, len = 4;
        long r = Sys(k, SysNum.getsockopt, s, level, name, (long)&v, (long)&len);
        Assert.That(r, Is.EqualTo(0), $"getsockopt({level}, {name})");
        return v;
    }

    private static long Send(RumpKernel k, int s, ReadOnlySpan<byte> b, int flags)
    {
        fixed (byte* p = b) return Sys(k, SysNum.sendto, s, (long)p, b.Length, flags, 0, 0);
    }

    private static long Recv(RumpKernel k, int s, Span<byte> b, int flags)
    {
        fixed (byte* p = b) return Sys(k, SysNum.recvfrom, s, (long)p, b.Length, flags, 0, 0);
    }

    private static short Poll(RumpKernel k, int fd, short events, int timeoutMs)
    {
        var p = new RumpPollfd { fd = fd, events = events };
        long r = Sys(k, SysNum.poll, (long)&p, 1, timeoutMs);
        Assert.That(r, Is.GreaterThanOrEqualTo(0), "poll failed: " + r);
        return p.revents;
    }

    /// <summary>Reads exactly buf.Length bytes (or fails saying how many came).</summary>
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

    /// <summary>A listener at an ephemeral port of <paramref name="addr"/> (lo0's), and a connected pair (client, accepted server side).</summary>
    private (int L, int C, int S, ushort Port) Pair(RumpKernel k, string? addr = null)
    {
        string a = addr ?? Lo;
        int l = TcpSocket(k);
        Assert.That(Bind(k, l, Sa(a, 0)), Is.EqualTo(0), "bind to an ephemeral port");
        Assert.That(Listen(k, l, 16), Is.EqualTo(0), "listen");
        ushort port = Name(k, l).Item2;
        Assert.That(port, Is.GreaterThanOrEqualTo((ushort)49152));
        int c = TcpSocket(k);
        Assert.That(Connect(k, c, Sa(a, port)), Is.EqualTo(0), "a blocking connect over lo0");
        int s = Accept(k, l, out IPAddress? peer, out ushort pport);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "accept");
        Assert.That((peer, pport), Is.EqualTo(Name(k, c)), "accept's address is the client's name");
        return (l, c, s, port);
    }

    /// <summary>net.inet.tcp.pcblist or net.inet6.tcp6.pcblist, as the sysctl reads it.</summary>
    private static byte[] ReadPcbList(RumpKernel k, bool v6)
    {
        TcpProto tcp = k.Kernel.GetService<TcpProto>()!;
        int len = TcpPcbList.Read(tcp.Stack, Span<byte>.Empty, v6);
        var b = new byte[len + 64 * TcpPcbList.EntrySize6];
        int full = TcpPcbList.Read(tcp.Stack, b, v6);
        return b.AsSpan(0, Math.Min(full, b.Length)).ToArray();
    }

    private int EntrySize => V6 ? TcpPcbList.EntrySize6 : TcpPcbList.EntrySize;

    [Test]
    public void ConnectAcceptEcho_Names_Options_PcbList_AndOrderlyClose()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (l, c, s, port) = Pair(k);
        IPAddress lo = A(Lo);
        Assert.That(Name(k, c, peer: true), Is.EqualTo((lo, port)), "getpeername");
        Assert.That(Name(k, s), Is.EqualTo((lo, port)), "the accepted socket's name");
        Assert.That(Name(k, c).Item1, Is.EqualTo(lo), "the client's source is lo0's address");
        Assert.That(GetInt(k, c, Abi.SOL_SOCKET, Abi.SO_TYPE), Is.EqualTo(Abi.SOCK_STREAM));
        Assert.That(SetInt(k, c, IPPROTO_TCP, TCP_NODELAY, 1), Is.EqualTo(0));
        Assert.That(GetInt(k, c, IPPROTO_TCP, TCP_NODELAY), Is.EqualTo(1));
        // lo0's MTU less the IP and TCP headers, less 12 for the timestamp option.
        int mtu = k.Kernel.GetService<Rump.Net.Net>()!.Lo0.Mtu;
        Assert.That(GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(mtu - Headers - 12), "TCP_MAXSEG over lo0");
        Assert.That(SetInt(k, c, Abi.SOL_SOCKET, Abi.SO_KEEPALIVE, 1), Is.EqualTo(0));
        Assert.That(GetInt(k, c, Abi.SOL_SOCKET, Abi.SO_KEEPALIVE), Is.Not.EqualTo(0));
        if (V6)
        {
            Assert.That(GetInt(k, c, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY), Is.EqualTo(1), "IPV6_V6ONLY is on (net.inet6.ip6.v6only's default)");
            Assert.That(SetInt(k, c, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 0), Is.EqualTo(-Abi.EINVAL), "and cannot change once connected (bound)");
            Assert.That(SetInt(k, c, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY, 1), Is.EqualTo(-Abi.EINVAL), "not even to what it is, as NetBSD's ip6_ctloutput");
            Assert.That(GetInt(k, c, Abi.IPPROTO_IPV6, Abi.IPV6_V6ONLY), Is.EqualTo(1));
        }

        Assert.That(k.Write(c, "hello, tcp"u8), Is.EqualTo(10));
        var buf = new byte[64];
        ReadAll(k, s, buf.AsSpan(0, 10));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 10), Is.EqualTo("hello, tcp"));
        int n = 0;
        Assert.That(k.Write(s, "echo: hello"u8), Is.EqualTo(11));
        // FIONREAD once the bytes are there (poll waits for them, no sleeping).
        Assert.That(Poll(k, c, Abi.POLLIN, 10_000) & Abi.POLLIN, Is.Not.EqualTo(0));
        Assert.That(Sys(k, SysNum.ioctl, c, unchecked((long)Abi.FIONREAD), (long)&n), Is.EqualTo(0));
        Assert.That(n, Is.EqualTo(11), "FIONREAD");
        Assert.That(Recv(k, c, buf.AsSpan(0, 4), Abi.MSG_PEEK), Is.EqualTo(4), "MSG_PEEK");
        ReadAll(k, c, buf.AsSpan(0, 11));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 11), Is.EqualTo("echo: hello"));
        Assert.That(Recv(k, c, buf, Abi.MSG_DONTWAIT), Is.EqualTo(-Abi.EAGAIN), "nothing more yet");

        // The family's pcblist shows the listener and both ends; the other family's shows none of them.
        byte[] list = ReadPcbList(k, V6);
        int est = 0, listen = 0;
        int addrLen = V6 ? 16 : 4, lportAt = V6 ? 36 : 12;
        for (int o = 0; o + EntrySize <= list.Length; o += EntrySize)
        {
            int st = BinaryPrimitives.ReadInt32LittleEndian(list.AsSpan(o));
            var la = new IPAddress(list.AsSpan(o + 4, addrLen));
            ushort lp = BinaryPrimitives.ReadUInt16LittleEndian(list.AsSpan(o + lportAt));
            if (st == 4) { est++; Assert.That(la, Is.EqualTo(lo)); }
            if (st == 1) { listen++; Assert.That((la, lp), Is.EqualTo((lo, port)), "the listener's entry"); }
        }
        Assert.That((listen, est), Is.EqualTo((1, 2)), "the pcblist: one LISTEN, two ESTABLISHED");
        Assert.That(ReadPcbList(k, !V6), Is.Empty, "the other family's pcblist lists none of them");

        // Orderly close: the server sees end of file, then closes too.
        Assert.That(k.Close(c), Is.EqualTo(0));
        Assert.That(k.Read(s, buf), Is.EqualTo(0), "end of file after the peer's close");
        Assert.That(k.Close(s), Is.EqualTo(0));
        Assert.That(k.Close(l), Is.EqualTo(0));
    }

    [Test]
    public void SixteenMiBEachWayAtOnce_Sha256Matches()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (l, c, s, _) = Pair(k);
        Transfer(k, c, k, s, 16 << 20, 1);
        k.Close(c); k.Close(s); k.Close(l);
    }

    /// <summary>
    /// Send-buffer autosizing (NetBSD's sendbuf_auto): a bulk sender's buffer doubles from 128 KiB
    /// to 256 KiB (net.inet.tcp.sendbuf_max) when the peer would take more than it holds; one the
    /// user sized with SO_SNDBUF keeps that size. The data arrives intact either way.
    /// </summary>
    [Test]
    public void ABulkSendersBufferGrowsToTheMax_UnlessTheUserSetItsSize()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (l, c, s, port) = Pair(k);
        int c2 = TcpSocket(k);
        Assert.That(SetInt(k, c2, Abi.SOL_SOCKET, Abi.SO_SNDBUF, 64 * 1024), Is.EqualTo(0));
        Assert.That(Connect(k, c2, Sa(Lo, port)), Is.EqualTo(0));
        int s2 = Accept(k, l, out _, out _);
        Assert.That(s2, Is.GreaterThanOrEqualTo(0), "accept");
        Assert.That(GetInt(k, c, Abi.SOL_SOCKET, Abi.SO_SNDBUF), Is.EqualTo(TcpProto.DefaultSpace), "SO_SNDBUF before any data");

        Transfer(k, c, k, s, 8 << 20, 3);
        Transfer(k, c2, k, s2, 8 << 20, 4);
        Assert.That(GetInt(k, c, Abi.SOL_SOCKET, Abi.SO_SNDBUF), Is.EqualTo(256 * 1024), "SO_SNDBUF after a bulk transfer");
        Assert.That(GetInt(k, c2, Abi.SOL_SOCKET, Abi.SO_SNDBUF), Is.EqualTo(64 * 1024), "SO_SNDBUF the user set");
        foreach (int fd in new[] { c, s, c2, s2, l }) k.Close(fd);
    }

    /// <summary>
    /// <paramref name="size"/> pseudo-random bytes from a to b and from b to a at the same time
    /// (four threads: a writer and a reader per side), in odd-sized writes; the SHA-256 of what
    /// each reader got must equal the writer's.
    /// </summary>
    internal static void Transfer(RumpKernel ka, int a, RumpKernel kb, int b, int size, int seed)
    {
        byte[] ab = new byte[size], ba = new byte[size];
        new Random(seed).NextBytes(ab);
        new Random(seed + 1).NextBytes(ba);
        byte[]? gotAb = null, gotBa = null;
        var errors = new List<string>();
        Thread W(RumpKernel k, int fd, byte[] data, string what) => new(() =>
        {
            int off = 0, chunk = 7001;
            while (off < data.Length)
            {
                int n = Math.Min(chunk, data.Length - off);
                long r = k.Write(fd, data.AsSpan(off, n));
                if (r <= 0) { lock (errors) errors.Add($"{what}: write at {off} returned {r}"); return; }
                off += (int)r;
                chunk = chunk == 7001 ? 65536 * 2 + 3 : 7001;
            }
        }) { IsBackground = true };
        Thread R(RumpKernel k, int fd, Action<byte[]> done, string what) => new(() =>
        {
            var got = new byte[size];
            int off = 0;
            while (off < size)
            {
                long r = k.Read(fd, got.AsSpan(off, Math.Min(100_000, size - off)));
                if (r <= 0) { lock (errors) errors.Add($"{what}: read at {off} of {size} returned {r}"); return; }
                off += (int)r;
            }
            done(got);
        }) { IsBackground = true };
        Thread[] ts = { W(ka, a, ab, "a->b"), W(kb, b, ba, "b->a"), R(kb, b, g => gotAb = g, "a->b"), R(ka, a, g => gotBa = g, "b->a") };
        foreach (Thread t in ts) t.Start();
        foreach (Thread t in ts)
            if (!t.Join(TimeSpan.FromSeconds(120))) Assert.Fail("transfer did not finish in 120 s; errors: " + string.Join("; ", errors));
        Assert.That(errors, Is.Empty);
        Assert.That(Convert.ToHexString(SHA256.HashData(gotAb!)), Is.EqualTo(Convert.ToHexString(SHA256.HashData(ab))), "SHA-256 a->b");
        Assert.That(Convert.ToHexString(SHA256.HashData(gotBa!)), Is.EqualTo(Convert.ToHexString(SHA256.HashData(ba))), "SHA-256 b->a");
    }

    [Test]
    public void NonBlockingConnect_EINPROGRESS_ThenPollOut_AndSO_ERROR()
    {
        RumpKernel k = Boot(ncpu: 2);
        int l = TcpSocket(k);
        Assert.That(Bind(k, l, Sa(Any, 7100)), Is.EqualTo(0));
        Assert.That(Listen(k, l, 4), Is.EqualTo(0));
        int c = TcpSocket(k, Abi.SOCK_NONBLOCK);
        Assert.That(Connect(k, c, Sa(Lo, 7100)), Is.EqualTo(-Abi.EINPROGRESS));
        Assert.That(Connect(k, c, Sa(Lo, 7100)), Is.AnyOf(-Abi.EALREADY, -Abi.EISCONN), "a second connect while the first runs");
        Assert.That(Poll(k, c, Abi.POLLOUT, 10_000) & Abi.POLLOUT, Is.Not.EqualTo(0), "writable once connected");
        Assert.That(GetInt(k, c, Abi.SOL_SOCKET, Abi.SO_ERROR), Is.EqualTo(0));
        // The listener is readable: a connection to accept; paccept with SOCK_NONBLOCK.
        Assert.That(Poll(k, l, Abi.POLLIN, 10_000) & Abi.POLLIN, Is.Not.EqualTo(0));
        int s = Accept(k, l, out IPAddress? peer, out _, Abi.SOCK_NONBLOCK);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "paccept");
        Assert.That(peer, Is.EqualTo(A(Lo)));
        Assert.That(Name(k, s).Item1, Is.EqualTo(A(Lo)), "a wildcard listener's child has the address it was reached at");
        var buf = new byte[8];
        Assert.That(k.Read(s, buf), Is.EqualTo(-Abi.EAGAIN), "the accepted socket is non-blocking");
        // paccept waits by the listener's mode (SOCK_NONBLOCK is the new descriptor's): a non-blocking listener says EAGAIN.
        Assert.That(k.Fcntl(l, Abi.F_SETFL, Abi.O_NONBLOCK), Is.EqualTo(0));
        Assert.That(Accept(k, l, out _, out _, 0), Is.EqualTo(-Abi.EAGAIN), "nothing more to accept");

        // To a port nobody listens on: EINPROGRESS, then the RST makes it ready with ECONNREFUSED.
        int r = TcpSocket(k, Abi.SOCK_NONBLOCK);
        Assert.That(Connect(k, r, Sa(Lo, 7101)), Is.EqualTo(-Abi.EINPROGRESS));
        short ev = Poll(k, r, Abi.POLLOUT, 10_000);
        Assert.That(ev & (Abi.POLLOUT | Abi.POLLERR), Is.Not.EqualTo(0), "ready after the refusal");
        Assert.That(GetInt(k, r, Abi.SOL_SOCKET, Abi.SO_ERROR), Is.EqualTo(Abi.ECONNREFUSED));
    }

    [Test]
    public void BlockingConnectToAClosedPortIsRefused_BadAddresses_AndBindClashes()
    {
        RumpKernel k = Boot(ncpu: 2);
        int c = TcpSocket(k);
        Assert.That(Connect(k, c, Sa(Lo, 7200)), Is.EqualTo(-Abi.ECONNREFUSED), "nobody on port 7200: a RST");
        int m = TcpSocket(k);
        Assert.That(Connect(k, m, Sa(LoOf(Other), 7200)), Is.EqualTo(-Abi.EINVAL), "a sockaddr of the other family (its length is wrong first)");
        Assert.That(Connect(k, m, Sa(V6 ? "fd00:1234::1" : "10.123.0.1", 7200)), Is.EqualTo(V6 ? -Abi.ENETUNREACH : -Abi.EHOSTUNREACH), "no route (IPv4 says so from ip_output, as NetBSD)");
        if (V6)
            Assert.That(Connect(k, m, Sa("::ffff:127.0.0.1", 7200)), Is.EqualTo(-Abi.EINVAL), "v4-mapped: the socket is IPV6_V6ONLY");
        int a = TcpSocket(k), b = TcpSocket(k);
        Assert.That(Bind(k, a, Sa(Lo, 7201)), Is.EqualTo(0));
        Assert.That(Bind(k, b, Sa(Lo, 7201)), Is.EqualTo(-Abi.EADDRINUSE));
        Assert.That(Bind(k, b, Sa(Any, 7201)), Is.EqualTo(-Abi.EADDRINUSE), "the wildcard overlaps");
        Assert.That(Bind(k, b, Sa(V6 ? "fd00::77" : "10.77.0.1", 7202)), Is.EqualTo(-Abi.EADDRNOTAVAIL), "an address not ours");
        // SO_REUSEPORT on both: they share.
        int p1 = TcpSocket(k), p2 = TcpSocket(k);
        SetInt(k, p1, Abi.SOL_SOCKET, Abi.SO_REUSEPORT, 1);
        SetInt(k, p2, Abi.SOL_SOCKET, Abi.SO_REUSEPORT, 1);
        Assert.That(Bind(k, p1, Sa(Lo, 7203)), Is.EqualTo(0));
        Assert.That(Bind(k, p2, Sa(Lo, 7203)), Is.EqualTo(0), "SO_REUSEPORT on both");

        // A server restarting over its connection's TIME_WAIT: EADDRINUSE without SO_REUSEADDR, fine with it.
        int l = TcpSocket(k);
        Assert.That(Bind(k, l, Sa(Lo, 7204)), Is.EqualTo(0));
        Assert.That(Listen(k, l, 1), Is.EqualTo(0));
        int cc = TcpSocket(k);
        Assert.That(Connect(k, cc, Sa(Lo, 7204)), Is.EqualTo(0));
        int s = Accept(k, l, out _, out _);
        k.Close(s); // the server closes first: its side goes to TIME_WAIT
        var buf = new byte[4];
        Assert.That(k.Read(cc, buf), Is.EqualTo(0));
        k.Close(cc);
        k.Close(l);
        int l2 = TcpSocket(k);
        Assert.That(Bind(k, l2, Sa(Lo, 7204)), Is.EqualTo(-Abi.EADDRINUSE), "the old connection holds the port");
        Assert.That(SetInt(k, l2, Abi.SOL_SOCKET, Abi.SO_REUSEADDR, 1), Is.EqualTo(0));
        Assert.That(Bind(k, l2, Sa(Lo, 7204)), Is.EqualTo(0), "SO_REUSEADDR binds over it");
        Assert.That(Listen(k, l2, 1), Is.EqualTo(0));
    }
    [Test]
    public void ShutdownWrIsAHalfClose_AndSendAfterItIsEPIPE()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (l, c, s, _) = Pair(k);
        Assert.That(k.Write(c, "request"u8), Is.EqualTo(7));
        Assert.That(Sys(k, SysNum.shutdown, c, Abi.SHUT_WR), Is.EqualTo(0));
        var buf = new byte[64];
        ReadAll(k, s, buf.AsSpan(0, 7));
        Assert.That(k.Read(s, buf), Is.EqualTo(0), "the FIN: end of file at the server");
        // The other direction still works.
        Assert.That(k.Write(s, "response after the FIN"u8), Is.EqualTo(22));
        ReadAll(k, c, buf.AsSpan(0, 22));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 22), Is.EqualTo("response after the FIN"));
        Assert.That(Send(k, c, "x"u8, Abi.MSG_NOSIGNAL), Is.EqualTo(-Abi.EPIPE), "send after SHUT_WR");
        Assert.That(k.Close(s), Is.EqualTo(0));
        Assert.That(k.Read(c, buf), Is.EqualTo(0));
        Assert.That(Poll(k, c, Abi.POLLIN, 0) & Abi.POLLHUP, Is.Not.EqualTo(0), "both directions shut: POLLHUP");
        k.Close(c); k.Close(l);
    }

    [Test]
    public void LingerZeroCloseResets_ThePeerSeesECONNRESET()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (l, c, s, _) = Pair(k);
        long linger = 1; // struct linger { int l_onoff = 1; int l_linger = 0; }
        Assert.That(Sys(k, SysNum.setsockopt, c, Abi.SOL_SOCKET, Abi.SO_LINGER, (long)&linger, 8), Is.EqualTo(0));
        Assert.That(k.Close(c), Is.EqualTo(0));
        var buf = new byte[8];
        Assert.That(k.Read(s, buf), Is.EqualTo(-Abi.ECONNRESET), "a RST, not a FIN");
        Assert.That(Send(k, s, "x"u8, Abi.MSG_NOSIGNAL), Is.EqualTo(-Abi.EPIPE));
        k.Close(s); k.Close(l);
    }

    [Test]
    public void PollReadiness_DataFinAndSendSpace()
    {
        RumpKernel k = Boot(ncpu: 2);
        var (l, c, s, _) = Pair(k);
        Assert.That(Poll(k, s, Abi.POLLIN, 0), Is.EqualTo(0), "nothing to read yet");
        Assert.That(Poll(k, c, Abi.POLLOUT, 0), Is.EqualTo(Abi.POLLOUT), "send space");
        short got = 0;
        var t = new Thread(() => got = Poll(k, s, Abi.POLLIN, 20_000)) { IsBackground = true };
        t.Start();
        // The poller may or may not sleep before the data: either way it must report POLLIN.
        Assert.That(k.Write(c, "x"u8), Is.EqualTo(1));
        Assert.That(t.Join(Generous), Is.True, "poll did not return");
        Assert.That(got & Abi.POLLIN, Is.Not.EqualTo(0));
        // Fill the client's send buffer and the server's receive buffer: no longer writable.
        int sndbuf = GetInt(k, c, Abi.SOL_SOCKET, Abi.SO_SNDBUF);
        var big = new byte[64 * 1024];
        long total = 0;
        // ACKs for segments still in flight may free send space after an EAGAIN (lo0's output
        // runs in a soft interrupt): fill again until poll, too, says the socket is full.
        do
        {
            while (true)
            {
                long r = Send(k, c, big, Abi.MSG_DONTWAIT);
                if (r == -Abi.EAGAIN) break;
                Assert.That(r, Is.GreaterThan(0));
                total += r;
                Assert.That(total, Is.LessThan(64L << 20), "the buffers never filled");
            }
        }
        while ((Poll(k, c, Abi.POLLOUT, 0) & Abi.POLLOUT) != 0);
        // The byte sent before may still wait for its (delayed) ACK in the send buffer.
        Assert.That(total, Is.GreaterThanOrEqualTo(sndbuf - 1), "at least the send buffer was taken");
        // Reading at the server opens the window; the client becomes writable again (poll waits for it).
        var sink = new byte[256 * 1024];
        long drained = 0;
        while (drained < total + 1)
        {
            long r = k.Read(s, sink);
            Assert.That(r, Is.GreaterThan(0));
            drained += r;
        }
        Assert.That(Poll(k, c, Abi.POLLOUT, 10_000) & Abi.POLLOUT, Is.Not.EqualTo(0), "writable after the reader drained");
        // The FIN makes the server readable (end of file).
        k.Close(c);
        Assert.That(Poll(k, s, Abi.POLLIN, 10_000) & Abi.POLLIN, Is.Not.EqualTo(0));
        Assert.That(k.Read(s, sink), Is.EqualTo(0));
        k.Close(s); k.Close(l);
    }

    [Test]
    public void AHundredConnectionsAtOnce_EachEchoes_AndPcblistShowsThem()
    {
        RumpKernel k = Boot(ncpu: 2);
        int l = TcpSocket(k);
        Assert.That(Bind(k, l, Sa(Lo, 7300)), Is.EqualTo(0));
        Assert.That(Listen(k, l, 128), Is.EqualTo(0));
        const int N = 100;
        var cs = new int[N];
        for (int i = 0; i < N; i++)
        {
            cs[i] = TcpSocket(k, Abi.SOCK_NONBLOCK);
            long r = Connect(k, cs[i], Sa(Lo, 7300));
            Assert.That(r, Is.AnyOf(0L, (long)-Abi.EINPROGRESS), "connect " + i);
        }
        var ss = new int[N];
        for (int i = 0; i < N; i++)
        {
            ss[i] = Accept(k, l, out _, out _);
            Assert.That(ss[i], Is.GreaterThanOrEqualTo(0), "accept " + i);
        }
        // pcblist: the listener and 2 x 100 established ends.
        byte[] list = ReadPcbList(k, V6);
        int est = 0, listen = 0;
        for (int o = 0; o + EntrySize <= list.Length; o += EntrySize)
        {
            int st = BinaryPrimitives.ReadInt32LittleEndian(list.AsSpan(o));
            if (st == 4) est++;
            if (st == 1) listen++;
        }
        Assert.That((listen, est), Is.EqualTo((1, 2 * N)), "the pcblist: one LISTEN, 200 ESTABLISHED");
        for (int i = 0; i < N; i++)
        {
            Assert.That(Poll(k, cs[i], Abi.POLLOUT, 10_000) & Abi.POLLOUT, Is.Not.EqualTo(0));
            byte[] msg = Encoding.ASCII.GetBytes($"conn {i:D3}");
            Assert.That(k.Write(cs[i], msg), Is.EqualTo(msg.Length));
        }
        var buf = new byte[16];
        for (int i = 0; i < N; i++)
        {
            Assert.That(Poll(k, ss[i], Abi.POLLIN, 10_000) & Abi.POLLIN, Is.Not.EqualTo(0));
            long r = k.Read(ss[i], buf);
            Assert.That(r, Is.GreaterThan(0));
            Assert.That(k.Write(ss[i], buf.AsSpan(0, (int)r)), Is.EqualTo(r));
        }
        for (int i = 0; i < N; i++)
        {
            Assert.That(Poll(k, cs[i], Abi.POLLIN, 10_000) & Abi.POLLIN, Is.Not.EqualTo(0));
            long r = k.Read(cs[i], buf);
            Assert.That(Encoding.ASCII.GetString(buf, 0, (int)r), Is.EqualTo($"conn {i:D3}"), "each connection gets its own echo");
        }
        foreach (int fd in cs) k.Close(fd);
        foreach (int fd in ss) k.Close(fd);
        k.Close(l);
    }

    /// <summary>
    /// A wildcard listener of each family on one port number (this fixture's family bound first):
    /// IPV6_V6ONLY keeps them apart, and each gets the connections of its own family.
    /// </summary>
    [Test]
    public void ListenersOfBothFamiliesShareAPortNumber_EachGetsItsOwnFamily()
    {
        RumpKernel k = Boot(ncpu: 2);
        int[] l = new int[2];
        int[] afs = { _af, Other };
        for (int i = 0; i < 2; i++)
        {
            l[i] = SocketOf(k, afs[i]);
            string any = afs[i] == Abi.AF_INET6 ? "::" : "0.0.0.0";
            Assert.That(Bind(k, l[i], Sa(any, 7400)), Is.EqualTo(0), $"{any} port 7400 (IPV6_V6ONLY)");
            Assert.That(Listen(k, l[i], 4), Is.EqualTo(0));
        }
        Assert.That(Bind(k, TcpSocket(k), Sa(Lo, 7400)), Is.EqualTo(-Abi.EADDRINUSE), Lo + " port 7400 overlaps the wildcard");

        int[] c = new int[2], s = new int[2];
        string[] msg = { "ours", "other" };
        for (int i = 0; i < 2; i++)
        {
            c[i] = SocketOf(k, afs[i]);
            Assert.That(Connect(k, c[i], Sa(LoOf(afs[i]), 7400)), Is.EqualTo(0));
            Assert.That(k.Write(c[i], Encoding.ASCII.GetBytes(msg[i])), Is.EqualTo(msg[i].Length));
        }
        var buf = new byte[8];
        for (int i = 0; i < 2; i++)
        {
            s[i] = AcceptOf(afs[i], k, l[i], out IPAddress? peer, out _);
            Assert.That((s[i] >= 0, peer), Is.EqualTo((true, A(LoOf(afs[i])))), $"the listener of family {afs[i]} gets the connection of its family");
            ReadAll(k, s[i], buf.AsSpan(0, msg[i].Length));
            Assert.That(Encoding.ASCII.GetString(buf, 0, msg[i].Length), Is.EqualTo(msg[i]));
        }
        foreach (int fd in new[] { c[0], c[1], s[0], s[1], l[0], l[1] }) k.Close(fd);
    }

    // ---- Two kernels in this process over one shmif bus ----

    /// <summary>A kernel with a shmif interface up on <paramref name="bus"/> and <paramref name="addr"/> (/24 or /64) on it.</summary>
    private RumpKernel Station(string bus, string addr, out ShmifIf shmif, ShmifLoss? loss = null)
    {
        RumpKernel k = Boot(ncpu: 2);
        ShmifIf ifp = shmif = ShmifTests.Up(k, bus, loss);
        int e = In(k, () => V6 ? Netconfig6.Ipv6Ifaddr(k.Kernel, ifp.Name, addr, 64) : Netconfig.Ipv4IfaddrCidr(k.Kernel, ifp.Name, addr, 24));
        Assert.That(e, Is.EqualTo(0), $"{addr} on {ifp.Name} on {bus}");
        return k;
    }

    private RumpKernel Station(string bus, string addr, ShmifLoss? loss = null) => Station(bus, addr, out _, loss);

    [Test]
    public void TwoKernelsOverShmif_ConnectAndFourMiBEachWay()
    {
        string bus = Path.Combine(HostWork, "bus");
        string ipA = Host(0, 1), ipB = Host(0, 2);
        RumpKernel a = Station(bus, ipA);
        RumpKernel b = Station(bus, ipB);
        int l = TcpSocket(b);
        Assert.That(Bind(b, l, Sa(Any, 8080)), Is.EqualTo(0));
        Assert.That(Listen(b, l, 4), Is.EqualTo(0));
        int c = TcpSocket(a);
        Assert.That(Connect(a, c, Sa(ipB, 8080)), Is.EqualTo(0), "connect across the bus (ARP or neighbour discovery first)");
        int s = Accept(b, l, out IPAddress? peer, out _);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        Assert.That(peer, Is.EqualTo(A(ipA)), "the peer is the other kernel, by the address on its shmif");
        Assert.That(Name(b, s).Item1, Is.EqualTo(A(ipB)));
        // shmif's MTU 1500 less the headers, less the timestamp option.
        Assert.That(GetInt(a, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(1500 - Headers - 12), "TCP_MAXSEG across the bus");
        Transfer(a, c, b, s, 4 << 20, 7);
        a.Close(c);
        var buf = new byte[4];
        Assert.That(b.Read(s, buf), Is.EqualTo(0), "end of file across the bus");
        b.Close(s);
        b.Close(l);
    }

    /// <summary>
    /// A bulk transfer's segments (and the ACKs of an input batch) leave through the interface's
    /// output queue in batches, several frames per bus lock and wake-up, not one each: the
    /// per-frame lock and wake-up were most of the CPU a transfer cost (bench/results/tcp.md).
    /// </summary>
    [Test]
    public void TwoKernelsOverShmif_BulkSendsSeveralFramesPerBusLock()
    {
        string bus = Path.Combine(HostWork, "bus");
        RumpKernel a = Station(bus, Host(2, 1), out ShmifIf ifA);
        RumpKernel b = Station(bus, Host(2, 2), out ShmifIf ifB);
        int l = TcpSocket(b);
        Assert.That(Bind(b, l, Sa(Any, 8080)), Is.EqualTo(0));
        Assert.That(Listen(b, l, 4), Is.EqualTo(0));
        int c = TcpSocket(a);
        Assert.That(Connect(a, c, Sa(Host(2, 2), 8080)), Is.EqualTo(0));
        int s = Accept(b, l, out _, out _);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        Transfer(a, c, b, s, 8 << 20, 9);
        long frames = Interlocked.Read(ref ifA.OutputPackets) + Interlocked.Read(ref ifB.OutputPackets);
        long rounds = Interlocked.Read(ref ifA.SendRounds) + Interlocked.Read(ref ifB.SendRounds);
        Assert.That(frames, Is.GreaterThan(2 * (8 << 20) / 1500), "the transfer's frames were counted");
        Assert.That(frames, Is.GreaterThanOrEqualTo(3 * rounds),
            $"frames per bus-lock round: {frames} frames in {rounds} rounds, expected 3 or more per round");
        a.Close(c);
        b.Close(s);
        b.Close(l);
    }

    [Test]
    public void TwoKernelsOverALossyShmif_TheTransferCompletesIntact()
    {
        string bus = Path.Combine(HostWork, "bus");
        RumpKernel a = Station(bus, Host(1, 1), new ShmifLoss(seed: 11, drop: 0.05, duplicate: 0.02, reorder: 0.02));
        RumpKernel b = Station(bus, Host(1, 2), new ShmifLoss(seed: 12, drop: 0.05, duplicate: 0.02, reorder: 0.02));
        int l = TcpSocket(b);
        Assert.That(Bind(b, l, Sa(Any, 8081)), Is.EqualTo(0));
        Assert.That(Listen(b, l, 4), Is.EqualTo(0));
        int c = TcpSocket(a);
        Assert.That(Connect(a, c, Sa(Host(1, 2), 8081)), Is.EqualTo(0));
        int s = Accept(b, l, out _, out _);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        Transfer(a, c, b, s, 1 << 20, 21);
        a.Close(c); b.Close(s); b.Close(l);
    }
}
