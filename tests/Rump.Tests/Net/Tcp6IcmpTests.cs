using System;
using System.Buffers.Binary;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// ICMPv6 errors to TCP connections, with the test as the peer on an Ethernet test interface:
/// a packet too big shrinks the segments (and only one that quotes a segment in flight and a
/// smaller MTU), an unreachable refuses an opening connection. What TCP does the same way over
/// both families is in <see cref="TcpSocketTests"/>.
/// </summary>
public unsafe class Tcp6IcmpTests : KernelTest
{
    private const int IPPROTO_TCP = 6, TCP_MAXSEG = 2;

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);
    private static Ipv6Addr A6(string s) => Inet6Tests.A6(s);

    private static int Tcp6Socket(RumpKernel k, int flags = 0)
    {
        int s = (int)Sys(k, SysNum.socket, Abi.AF_INET6, Abi.SOCK_STREAM | flags, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "socket(AF_INET6, SOCK_STREAM)");
        return s;
    }

    private static int GetInt(RumpKernel k, int s, int level, int name)
    {
        int v = -1, len = 4;
        long r = Sys(k, SysNum.getsockopt, s, level, name, (long)&v, (long)&len);
        Assert.That(r, Is.EqualTo(0), $"getsockopt({level}, {name})");
        return v;
    }

    // ---- ICMPv6 errors to connections, with the test as the peer on an Ethernet test interface ----

    private const ulong OurMac = 0x02_00_00_00_06_12, PeerMac = 0x02_00_00_00_06_11;

    private static byte[] IcmpError(TcpPeer p, byte type, byte code, uint param, byte[] quotedPacket)
    {
        byte[] m = new byte[8 + quotedPacket.Length];
        int n = Icmpv6Packet.EmitError(m, p.Peer.V6, p.Us.V6, type, code, param, quotedPacket);
        return p.FromPeer(Ipv6Packet.NextIcmpv6, m.AsSpan(0, n));
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
        var tp = new TcpPeer(k, ifp, OurMac, PeerMac, us, peer);
        // The peer's NS with its link-layer address: we know its MAC, so our segments go at once.
        tp.Introduce();

        int c = Tcp6Socket(k, Abi.SOCK_NONBLOCK);
        // The peer's SYN-ACK: MSS 1440 (an Ethernet MTU), no timestamps.
        var syn = tp.Open(c, 80, 1440);
        Assert.That(GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(1440), "the peer's MSS");

        // Data: full 1440-byte segments, unacknowledged (the peer says nothing).
        Assert.That(k.Write(c, new byte[4000]), Is.EqualTo(4000));
        Assert.That(Eventually(() => tp.Segments().FindAll(x => x.Len == 1440).Count >= 2), Is.True, "two full segments sent");
        var first = tp.Segments().Find(x => x.Len == 1440);
        Assert.That(first.Seq, Is.EqualTo(syn.Seq + 1));
        int before = tp.Segments().Count;

        // A packet too big quoting a sequence number that is not in flight is ignored (RFC 5927 4.1).
        byte[] stale = (byte[])first.Ip.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(stale.AsSpan(44), first.Seq - 100_000);
        tp.Inject(IcmpError(tp, Icmpv6Packet.TypePacketTooBig, 0, 1280, stale.AsSpan(0, 1232).ToArray()));
        // One reporting an MTU no smaller than ours is ignored too.
        tp.Inject(IcmpError(tp, Icmpv6Packet.TypePacketTooBig, 0, 1500, first.Ip.AsSpan(0, 1232).ToArray()));
        Assert.That(Eventually(() => Interlocked.Read(ref in6.Stats.Icmp6ErrorsIn) == 2), Is.True, "two errors in");
        Assert.That((stack.PmtuUpdates, GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG)), Is.EqualTo((0L, 1440)), "neither shrinks the segments");

        // A router's packet too big for the first segment, MTU 1280: it goes again from SND.UNA in segments of 1280 - 60.
        tp.Inject(IcmpError(tp, Icmpv6Packet.TypePacketTooBig, 0, 1280, first.Ip.AsSpan(0, 1232).ToArray()));
        Assert.That(Eventually(() => Interlocked.Read(ref stack.PmtuUpdates) == 1), Is.True, "the packet too big reached the connection");
        Assert.That(GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(1220), "TCP_MAXSEG after it");
        Assert.That(Eventually(() => tp.Segments().Skip(before).Any(x => x.Seq == first.Seq && x.Len > 0)), Is.True, "the first segment resent");
        var resent = tp.Segments().Skip(before).Where(x => x.Len > 0).ToList();
        Assert.That(resent[0].Seq, Is.EqualTo(first.Seq), "from SND.UNA");
        Assert.That(resent.Max(x => x.Len), Is.EqualTo(1220), "no segment above the new MSS: " + string.Join(",", resent.Select(x => x.Len)));

        // An opening connection hears a port unreachable as ECONNREFUSED, an address unreachable as EHOSTUNREACH.
        foreach (var (port, code, errno) in new[] { ((ushort)81, (byte)4, Abi.ECONNREFUSED), ((ushort)82, (byte)3, Abi.EHOSTUNREACH) })
        {
            int r = Tcp6Socket(k, Abi.SOCK_NONBLOCK);
            Assert.That(Inet6Tests.Connect(k, r, Inet6Tests.Sin6(peer, port)), Is.EqualTo(-Abi.EINPROGRESS));
            Assert.That(Eventually(() => tp.Segments().Exists(x => x.DPort == port)), Is.True, "the SYN to port " + port);
            var s2 = tp.Segments().Find(x => x.DPort == port);
            tp.Inject(IcmpError(tp, Icmpv6Packet.TypeUnreachable, code, 0, s2.Ip));
            Assert.That(TcpPeer.Poll(k, r, Abi.POLLOUT, 10_000) & (Abi.POLLOUT | Abi.POLLERR), Is.Not.EqualTo(0), "ready after the error");
            Assert.That(GetInt(k, r, Abi.SOL_SOCKET, Abi.SO_ERROR), Is.EqualTo(errno), "unreachable code " + code);
            k.Close(r);
        }
        k.Close(c);
    }
}
