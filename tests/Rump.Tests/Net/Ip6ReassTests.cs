using System;
using System.Buffers.Binary;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Virtif;
using Rump.Net.Wire;
using static Rump.Tests.Net.Inet6Tests;

namespace Rump.Tests.Net;

/// <summary>
/// IPv6 reassembly (RFC 8200 4.5, RFC 5722, RFC 6946). Fragments are made here byte by byte and
/// injected on an Ethernet test interface; a kernel UDP6 socket receives what they reassemble to,
/// so the bytes are checked end to end, checksum included. Then Linux as the peer (root: TAP in a
/// network namespace): its ping -6 with 4000-byte echoes is fragmented by the host and answered by
/// fragments of ours, which Linux reassembles.
/// </summary>
[NonParallelizable]
public class Ip6ReassTests : KernelTest
{
    private static readonly Ipv6Addr Us = A6("fd00:6::2"), Peer = A6("fd00:6::1");
    private const ushort Port = 7600;


    /// <summary>A kernel with <see cref="Us"/> on an Ethernet test interface and a UDP6 socket bound to <see cref="Port"/>.</summary>
    private RumpKernel Setup(out Inet6 in6, out EtherTestIf ifp, out int sk)
    {
        RumpKernel k = Boot(ncpu: 2);
        in6 = k.Kernel.GetService<Inet6>()!;
        ifp = new EtherTestIf(k.Kernel, "eth6", OurMac, multicast: true);
        Assert.That(in6.Net.Attach(ifp), Is.EqualTo(0));
        Assert.That(in6.AddAddress(ifp, Us, 64), Is.EqualTo(0));
        sk = Udp6Socket(k);
        Assert.That(Bind(k, sk, Sin6(Ipv6Addr.Unspecified, Port)), Is.EqualTo(0));
        return k;
    }

    /// <summary>A UDP datagram from the peer to <see cref="Port"/> with <paramref name="n"/> bytes of a pattern, checksummed.</summary>
    private static byte[] Datagram(int n, byte seed)
    {
        byte[] d = new byte[UdpPacket.HeaderSize + n];
        for (int i = 0; i < n; i++) d[UdpPacket.HeaderSize + i] = (byte)(seed + i * 7);
        Assert.That(UdpPacket.EmitV6(d, Peer, Us, 5000, Port, n), Is.GreaterThan(0));
        return d;
    }

    /// <summary>
    /// The IPv6 payload of one fragment of <paramref name="datagram"/>: an 8-byte destination
    /// options header (the unfragmentable part, when <paramref name="destOpts"/>), the fragment
    /// header, then [off, off+len) of the datagram. The frame's next header is 60 or 44.
    /// </summary>
    private static byte[] Piece(byte[] datagram, uint id, int off, int len, bool more, bool destOpts = false, byte next = Ipv6Packet.NextUdp)
    {
        int pre = destOpts ? 8 : 0;
        byte[] p = new byte[pre + 8 + len];
        if (destOpts) { p[0] = Ipv6Packet.NextFragment; p[2] = 1; p[3] = 4; } // PadN
        p[pre] = next;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(pre + 2), (ushort)(off | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(pre + 4), id);
        datagram.AsSpan(off, len).CopyTo(p.AsSpan(pre + 8));
        return p;
    }

    private static byte[] FragFrame(byte[] piece, bool destOpts = false)
        => Frame(Peer, Us, destOpts ? Ipv6Packet.NextDestOpts : Ipv6Packet.NextFragment, 64, piece);

    private static void ExpectDatagram(RumpKernel k, int sk, byte[] datagram, string what)
    {
        byte[] buf = new byte[70000];
        long n = RecvWait(k, sk, buf, out Ipv6Addr from, out ushort port, out _);
        Assert.That(n, Is.EqualTo(datagram.Length - UdpPacket.HeaderSize), what + ": the datagram's length at the socket");
        Assert.That(buf.AsSpan(0, (int)n).SequenceEqual(datagram.AsSpan(UdpPacket.HeaderSize)), Is.True, what + ": the bytes at the socket are the datagram's");
        Assert.That((from, port), Is.EqualTo((Peer, (ushort)5000)), what + ": the sender");
    }

    [Test]
    public void FragmentsInAnyOrderWithARepeat_MakeTheDatagram_AtomicFragmentsPassAlone()
    {
        RumpKernel k = Setup(out Inet6 in6, out EtherTestIf ifp, out int sk);
        Inet6Stats s = in6.Stats;

        // 3000 bytes in three pieces behind a destination options header: last first, a repeat, then the others.
        byte[] d = Datagram(3000, 1);
        byte[][] pieces = { Piece(d, 0x1234, 0, 1232, true, true), Piece(d, 0x1234, 1232, 1232, true, true), Piece(d, 0x1234, 2464, d.Length - 2464, false, true) };
        EtherTestIf.Inject(k, ifp, FragFrame(pieces[2], true), FragFrame(pieces[0], true), FragFrame(pieces[2], true), FragFrame(pieces[1], true));
        ExpectDatagram(k, sk, d, "three fragments out of order");
        Assert.That((s.Ip6Fragments, s.Ip6Reassembled, s.Ip6FragDropped, in6.Reass.Pending), Is.EqualTo((4L, 1L, 0L, 0)), "(fragments, reassembled, dropped, pending)");

        // An atomic fragment is a datagram of its own, even while a datagram with its identification waits (RFC 6946).
        byte[] big = Datagram(2000, 2), small = Datagram(100, 3);
        EtherTestIf.Inject(k, ifp, FragFrame(Piece(big, 77, 0, 1200, true)));
        EtherTestIf.Inject(k, ifp, FragFrame(Piece(small, 77, 0, small.Length, false)));
        ExpectDatagram(k, sk, small, "an atomic fragment");
        Assert.That((s.Ip6AtomicFragments, in6.Reass.Pending), Is.EqualTo((1L, 1)), "(atomic fragments, pending): the waiting datagram stays");
        EtherTestIf.Inject(k, ifp, FragFrame(Piece(big, 77, 1200, big.Length - 1200, false)));
        ExpectDatagram(k, sk, big, "the datagram the atomic fragment shared an identification with");
    }

    /// <summary>
    /// RFC 8200 4.5: a datagram whose reassembly times out after its first fragment came gets its
    /// source an ICMPv6 time exceeded, fragment reassembly time exceeded (code 1), quoting that
    /// fragment as it came; one whose first fragment never came gets nothing.
    /// </summary>
    [Test]
    public void ATimedOutDatagram_GetsItsSourceATimeExceeded_OnlyIfItsFirstFragmentCame()
    {
        RumpKernel k = Setup(out Inet6 in6, out EtherTestIf ifp, out _);
        Inet6Stats s = in6.Stats;
        in6.Reass.Timeout = 200_000_000;
        // The peer's link address is known (its solicitation carries it): the error goes out at once.
        EtherTestIf.Inject(k, ifp, Frame(Peer, Us, Ipv6Packet.NextIcmpv6, 255, Ns(Peer, Us, Us, new EtherAddr(PeerMac))));
        WaitFor(() => Interlocked.Read(ref s.NdNsIn) == 1, () => "the peer's solicitation seen");
        ifp.Clear();
        byte[] d = Datagram(3000, 5);
        byte[] first = FragFrame(Piece(d, 21, 0, 1232, true));
        long errors = s.Icmp6ErrorsSent, timeouts = s.Ip6FragTimeout;
        EtherTestIf.Inject(k, ifp, first, FragFrame(Piece(d, 22, 1232, 1232, true)));
        // The timeouts are counted under the reassembly lock, the errors sent after it is released.
        WaitFor(() => Interlocked.Read(ref s.Ip6FragTimeout) == timeouts + 2 && Interlocked.Read(ref s.Icmp6ErrorsSent) > errors,
            () => $"both datagrams timed out (timeouts now {s.Ip6FragTimeout - timeouts}) and an error went (errors now {s.Icmp6ErrorsSent - errors})");
        Assert.That(s.Icmp6ErrorsSent - errors, Is.EqualTo(1L), "one error: for the datagram whose first fragment came");
        // Other frames may go out meanwhile (our MLD reports, DAD): find the ICMPv6 error among them.
        byte[]? f = null;
        Assert.That(Eventually(() => (f = Array.Find(ifp.Frames(), IsIcmp6Error)) != null), Is.True, "the error on the wire");
        Assert.That(Ipv6Packet.Parse(f.AsSpan(14), out Ipv6Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That((ip.Source, ip.Destination, ip.NextHeader), Is.EqualTo((Us, Peer, Ipv6Packet.NextIcmpv6)), "from us to the fragment's source");
        Assert.That(Icmpv6Packet.Parse(ip.Payload, ip.Source, ip.Destination, out Icmpv6Packet p), Is.EqualTo(WireError.Ok), "a valid ICMPv6 checksum");
        Assert.That((p.Type, p.Code), Is.EqualTo((Icmpv6Packet.TypeTimeExceeded, Icmpv6Packet.CodeReassemblyTimeExceeded)), "time exceeded, fragment reassembly");
        ReadOnlySpan<byte> quoted = ip.Payload.Slice(Icmpv6Packet.HeaderSize);
        int want = Math.Min(first.Length - 14, 1280 - 40 - 8);
        Assert.That(quoted.Length, Is.EqualTo(want), "as much of the first fragment as fits the minimum MTU");
        Assert.That(quoted.SequenceEqual(first.AsSpan(14, want)), Is.True, "the first fragment as it came, IPv6 and fragment headers included");
    }

    private static bool IsIcmp6Error(byte[] frame)
        => frame.Length > 14 + 40 && Ipv6Packet.Parse(frame.AsSpan(14), out Ipv6Packet ip) == WireError.Ok
           && ip.NextHeader == Ipv6Packet.NextIcmpv6 && ip.Payload.Length > 0 && ip.Payload[0] < 128;

    [Test]
    public void HostileFragments_AreDroppedAndCounted_NeverDelivered()
    {
        RumpKernel k = Setup(out Inet6 in6, out EtherTestIf ifp, out int sk);
        Inet6Stats s = in6.Stats;
        byte[] d = Datagram(3000, 4);
        long total = s.Ip6Total, errors = s.Icmp6ErrorsSent + s.Icmp6ErrorsRateLimited;

        // Overlap (RFC 5722): the whole datagram goes, and what comes later cannot complete it from old data.
        EtherTestIf.Inject(k, ifp, FragFrame(Piece(d, 1, 0, 1232, true)), FragFrame(Piece(d, 1, 1224, 1232, true)), FragFrame(Piece(d, 1, 2456, d.Length - 2456, false)));
        // A non-last fragment whose length is not a multiple of 8: parameter problem at the payload length.
        EtherTestIf.Inject(k, ifp, FragFrame(Piece(d, 2, 0, 1001, true)));
        // A piece whose datagram would pass 65,535 bytes: parameter problem at the fragment offset.
        EtherTestIf.Inject(k, ifp, FragFrame(PieceAt(d, 3, 65528, 64)));
        // A fragment inside the reassembled datagram: the pieces' next header is another fragment header.
        byte[] inner = Piece(d, 9, 0, 1000, false);
        EtherTestIf.Inject(k, ifp, FragFrame(Piece(inner, 4, 0, 512, true, next: Ipv6Packet.NextFragment)), FragFrame(Piece(inner, 4, 512, inner.Length - 512, false, next: Ipv6Packet.NextFragment)));
        WaitFor(() => Interlocked.Read(ref s.Ip6Total) == total + 7, () => $"seven fragments seen (got {s.Ip6Total - total})");
        Assert.That((s.Ip6FragOverlap, s.Ip6Reassembled), Is.EqualTo((1L, 1L)), "(overlaps, reassembled: only the nested one)");
        Assert.That(s.Ip6FragDropped, Is.EqualTo(3L), "dropped: the overlapped datagram, the odd length, the oversized");
        Assert.That(s.Ip6BadExtension, Is.EqualTo(1L), "the fragment inside a fragment");
        Assert.That(s.Icmp6ErrorsSent + s.Icmp6ErrorsRateLimited - errors, Is.EqualTo(2L), "two parameter problems");
        Assert.That(s.Udp6In, Is.Zero, "nothing reached UDP");
        Assert.That(in6.Reass.Pending, Is.EqualTo(1), "only the piece after the overlap waits, in a datagram of its own");

        // A flood of first fragments holds a bounded number of datagrams.
        for (int i = 0; i < 100; i++) EtherTestIf.Inject(k, ifp, FragFrame(Piece(d, (uint)(1000 + i), 0, 1232, true)));
        WaitFor(() => Interlocked.Read(ref s.Ip6Total) == total + 107, () => "the flood seen");
        Assert.That(in6.Reass.Pending, Is.EqualTo(FragReass.MaxDatagrams), "datagrams held after a flood of first fragments");
        Assert.That(RecvFrom(k, sk, new byte[4000], out _, out _, out _, MSG_DONTWAIT), Is.EqualTo(-Abi.EWOULDBLOCK), "nothing at the socket");
    }

    /// <summary>A piece at <paramref name="off"/> with <paramref name="len"/> bytes of anything (for offsets past the datagram).</summary>
    private static byte[] PieceAt(byte[] datagram, uint id, int off, int len)
    {
        byte[] p = new byte[8 + len];
        p[0] = Ipv6Packet.NextUdp;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)off);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(4), id);
        datagram.AsSpan(0, len).CopyTo(p.AsSpan(8));
        return p;
    }

    [Test]
    public void Root_LinuxPings6WithFragmentsBothWays()
    {
        using var tn = new TapNs("rumpfr6-", "rf6");
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        tn.AttachKernel(k, "fd00:79::1/64");
        Assert.That(In(k, () => Netconfig6.Ipv6Ifaddr(k.Kernel, "virt0", "fd00:79::2", 64)), Is.EqualTo(0));
        Inet6Stats s = in6.Stats;
        long reass = s.Ip6Reassembled, frag = s.Ip6Fragmented;
        // 4000 bytes of echo: Linux sends each request in three fragments, and reassembles our fragmented replies.
        var (st, so, se) = tn.Run("ping -6 -c 3 -i 0.2 -W 5 -s 4000 fd00:79::2");
        Assert.That(st, Is.EqualTo(0), "ping -6 -s 4000: " + so + se);
        Assert.That(so, Does.Contain("3 received"));
        Assert.That(s.Ip6Reassembled - reass, Is.EqualTo(3), "three requests reassembled");
        Assert.That(s.Ip6Fragmented - frag, Is.EqualTo(3), "three replies fragmented");
        Assert.That(in6.Reass.Pending, Is.Zero);
    }
}
