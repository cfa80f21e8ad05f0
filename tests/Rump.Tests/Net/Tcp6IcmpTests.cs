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
    private static byte[] Sin6(Ipv6Addr a, ushort port) => Inet6Tests.Sin6(a, port);
    private static Ipv6Addr A6(string s) => Inet6Tests.A6(s);

    private static int Tcp6Socket(RumpKernel k, int flags = 0)
    {
        int s = (int)Sys(k, SysNum.socket, Abi.AF_INET6, Abi.SOCK_STREAM | flags, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "socket(AF_INET6, SOCK_STREAM)");
        return s;
    }

    private static long Connect(RumpKernel k, int s, byte[] sa) => Inet6Tests.Connect(k, s, sa);

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
