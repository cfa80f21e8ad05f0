using System;
using System.Buffers.Binary;
using NUnit.Framework;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The wire layer on its own: the checksum against a word-by-word reference, builders' output
/// parsed back, the rules of each format's validation, and random or cut bytes that must give an
/// error value and never an exception. (HostStackTests holds it against Linux's stack.)
/// </summary>
public class WireTests
{
    private static readonly EtherAddr MacA = new(0x02_00_00_00_00_0a), MacB = new(0x02_00_00_00_00_0b);
    private static readonly Ipv4Addr IpA = new(192, 0, 2, 1), IpB = new(192, 0, 2, 2);
    private static readonly Ipv6Addr Ip6A = new(0x2001_0db8UL << 32, 1), Ip6B = new(0x2001_0db8UL << 32, 2);

    /// <summary>RFC 1071 as written: 16-bit big-endian words, end-around carry, complement.</summary>
    private static ushort ReferenceChecksum(ReadOnlySpan<byte> d)
    {
        uint sum = 0;
        for (int i = 0; i < d.Length; i += 2)
        {
            sum += (uint)(d[i] << 8 | (i + 1 < d.Length ? d[i + 1] : 0));
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (ushort)~sum;
    }

    [Test]
    public void Checksum_MatchesTheReferenceAtEveryLengthAndOffset()
    {
        var rng = new Random(1071);
        byte[] buf = new byte[4200];
        rng.NextBytes(buf);
        for (int len = 0; len <= 300; len++)
            for (int off = 0; off < 4; off++)
                Assert.That(Checksum.Compute(buf.AsSpan(off, len)), Is.EqualTo(ReferenceChecksum(buf.AsSpan(off, len))), $"length {len} offset {off}");
        foreach (int len in new[] { 1499, 1500, 4096, 4199 })
            Assert.That(Checksum.Compute(buf.AsSpan(1, len)), Is.EqualTo(ReferenceChecksum(buf.AsSpan(1, len))), $"length {len}");
        // All ones: the sum stays 0xffff with carries folding in from every word (worst case for the fold).
        Array.Fill(buf, (byte)0xff);
        Assert.That(Checksum.Compute(buf), Is.EqualTo(ReferenceChecksum(buf)));
        Assert.That(Checksum.Compute(buf.AsSpan(0, 1001)), Is.EqualTo(ReferenceChecksum(buf.AsSpan(0, 1001))));
    }

    [Test]
    public void Checksum_Rfc1071Example()
    {
        // RFC 1071 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (one's complement), so the checksum is 220d.
        byte[] b = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
        Assert.That(Checksum.Compute(b), Is.EqualTo(0x220d));
        ulong s = Checksum.Add(b.AsSpan(0, 4));
        Assert.That(Checksum.Finish(Checksum.Add(b.AsSpan(4), s)), Is.EqualTo(0x220d), "summed in two even pieces");
    }

    [Test]
    public void Ethernet_VlanTagIsSkipped_StackedTagsAndLengthFramesAreUnsupported()
    {
        byte[] f = new byte[64];
        EthernetFrame.Emit(f, MacB, MacA, EthernetFrame.TypeVlan);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14), 0x2005); // priority 1, VLAN 5
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), EthernetFrame.TypeIpv4);
        Assert.That(EthernetFrame.Parse(f, out EthernetFrame e), Is.EqualTo(WireError.Ok));
        Assert.That(e.VlanId, Is.EqualTo(5));
        Assert.That(e.EtherType, Is.EqualTo(EthernetFrame.TypeIpv4));
        Assert.That(e.HeaderLength, Is.EqualTo(18));
        Assert.That(e.Source, Is.EqualTo(MacA));
        Assert.That(e.Destination, Is.EqualTo(MacB));
        Assert.That(EthernetFrame.Parse(f.AsSpan(0, 17), out _), Is.EqualTo(WireError.Truncated));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), EthernetFrame.TypeVlan);
        Assert.That(EthernetFrame.Parse(f, out _), Is.EqualTo(WireError.Unsupported), "two 802.1Q tags");
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), EthernetFrame.TypeQinQ);
        Assert.That(EthernetFrame.Parse(f, out _), Is.EqualTo(WireError.Unsupported), "802.1ad");
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 46);
        Assert.That(EthernetFrame.Parse(f, out _), Is.EqualTo(WireError.Unsupported), "an 802.3 length field");
    }

    [Test]
    public void Arp_RoundTrip_AndOtherHardwareIsUnsupported()
    {
        byte[] p = new byte[ArpPacket.Size];
        Assert.That(ArpPacket.Emit(p, ArpPacket.OpRequest, MacA, IpA, default, IpB), Is.EqualTo(28));
        Assert.That(ArpPacket.Parse(p, out ArpPacket a), Is.EqualTo(WireError.Ok));
        Assert.That((a.Operation, a.SenderHw, a.SenderIp, a.TargetIp), Is.EqualTo((ArpPacket.OpRequest, MacA, IpA, IpB)));
        p[1] = 6; // IEEE 802 hardware type
        Assert.That(ArpPacket.Parse(p, out _), Is.EqualTo(WireError.Unsupported));
        p[1] = 1; p[7] = 3; // RARP request
        Assert.That(ArpPacket.Parse(p, out _), Is.EqualTo(WireError.Malformed));
        Assert.That(ArpPacket.Emit(new byte[27], 1, MacA, IpA, MacB, IpB), Is.EqualTo(-1));
    }

    [Test]
    public void Ipv4_RoundTrip_FragmentFields_AndValidation()
    {
        byte[] p = new byte[20 + 16];
        var h = new Ipv4Header { Source = IpA, Destination = IpB, Protocol = 99, Ttl = 3, Tos = 0x10, Identification = 77, MoreFragments = true, FragmentOffset = 1480 };
        Assert.That(Ipv4Packet.Emit(p, h, 16), Is.EqualTo(20));
        Assert.That(Ipv4Packet.Parse(p, out Ipv4Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That((ip.Source, ip.Destination, ip.Protocol, ip.Ttl, ip.Tos, ip.Identification), Is.EqualTo((IpA, IpB, (byte)99, (byte)3, (byte)0x10, (ushort)77)));
        Assert.That((ip.MoreFragments, ip.DontFragment, ip.FragmentOffset, ip.IsFragment), Is.EqualTo((true, false, 1480, true)));
        Assert.That(ip.Payload.Length, Is.EqualTo(16));
        Assert.That(Ipv4Packet.Emit(p, h with { FragmentOffset = 3 }, 16), Is.EqualTo(-1), "an offset that is not a multiple of 8");

        // Link padding after the total length is not payload.
        byte[] padded = new byte[60];
        p.CopyTo(padded, 0);
        Assert.That(Ipv4Packet.Parse(padded, out ip), Is.EqualTo(WireError.Ok));
        Assert.That(ip.Payload.Length, Is.EqualTo(16));

        byte[] bad = (byte[])p.Clone();
        bad[8] ^= 1;
        Assert.That(Ipv4Packet.Parse(bad, out _), Is.EqualTo(WireError.BadChecksum));
        bad = (byte[])p.Clone(); bad[0] = 0x65;
        Assert.That(Ipv4Packet.Parse(bad, out _), Is.EqualTo(WireError.Malformed), "version 6 in an IPv4 header");
        bad = (byte[])p.Clone(); bad[0] = 0x44;
        Assert.That(Ipv4Packet.Parse(bad, out _), Is.EqualTo(WireError.Malformed), "a header length of 4 words");
        bad = (byte[])p.Clone(); bad[0] = 0x4f;
        Assert.That(Ipv4Packet.Parse(bad, out _), Is.EqualTo(WireError.Truncated), "60 bytes of header in a 36-byte packet");
        bad = (byte[])p.Clone(); BinaryPrimitives.WriteUInt16BigEndian(bad.AsSpan(2), 19);
        Assert.That(Ipv4Packet.Parse(bad, out _), Is.EqualTo(WireError.Malformed), "total length below the header length");

        // RFC 791's limit: the last fragment may not reach past 65535 (the "ping of death").
        byte[] big = new byte[20 + 1000];
        Assert.That(Ipv4Packet.Emit(big, h with { FragmentOffset = 65528 - 1000 + 8 }, 1000), Is.EqualTo(20));
        Assert.That(Ipv4Packet.Parse(big, out _), Is.EqualTo(WireError.Malformed));

        // Options: a header of 6 words has 4 bytes of them.
        byte[] opt = new byte[24];
        Ipv4Packet.Emit(opt, h, 0);
        opt[0] = 0x46; BinaryPrimitives.WriteUInt16BigEndian(opt.AsSpan(2), 24);
        opt[20] = 1; opt[21] = 1; opt[22] = 1; opt[23] = 0;
        opt[10] = opt[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(opt.AsSpan(10), Checksum.Compute(opt));
        Assert.That(Ipv4Packet.Parse(opt, out ip), Is.EqualTo(WireError.Ok));
        Assert.That((ip.HeaderLength, ip.OptionsLength, ip.Payload.Length), Is.EqualTo((24, 4, 0)));
    }

    [Test]
    public void Icmpv4_EchoAndErrorsRoundTrip()
    {
        byte[] m = new byte[8 + 5];
        Assert.That(Icmpv4Packet.EmitEcho(m, false, 0x1111, 0x2222, "hello"u8), Is.EqualTo(13));
        Assert.That(Icmpv4Packet.Parse(m, out Icmpv4Packet p), Is.EqualTo(WireError.Ok));
        Assert.That((p.Type, p.Identifier, p.Sequence, p.Data.SequenceEqual("hello"u8)), Is.EqualTo((Icmpv4Packet.TypeEcho, (ushort)0x1111, (ushort)0x2222, true)));
        m[12] ^= 0x20;
        Assert.That(Icmpv4Packet.Parse(m, out _), Is.EqualTo(WireError.BadChecksum));

        byte[] orig = new byte[28];
        Ipv4Packet.Emit(orig, new Ipv4Header { Source = IpA, Destination = IpB, Protocol = 17, Ttl = 1 }, 8);
        byte[] err = new byte[8 + 28];
        Assert.That(Icmpv4Packet.EmitError(err, Icmpv4Packet.TypeUnreachable, Icmpv4Packet.CodeFragNeeded, 1400, orig), Is.EqualTo(36));
        Assert.That(Icmpv4Packet.Parse(err, out p), Is.EqualTo(WireError.Ok));
        Assert.That((p.IsError, p.Code, p.NextHopMtu), Is.EqualTo((true, Icmpv4Packet.CodeFragNeeded, (ushort)1400)));
        Assert.That(Ipv4Packet.Parse(p.Data, out Ipv4Packet quoted), Is.EqualTo(WireError.Ok));
        Assert.That(quoted.Destination, Is.EqualTo(IpB));
        byte[] shortErr = new byte[8 + 12];
        Icmpv4Packet.EmitError(shortErr, Icmpv4Packet.TypeTimeExceeded, 0, 0, orig.AsSpan(0, 12));
        Assert.That(Icmpv4Packet.Parse(shortErr, out _), Is.EqualTo(WireError.Truncated), "an error quoting less than an IP header");
    }

    [Test]
    public void Udp_ChecksumsOverBothPseudoHeaders_ZeroMeansNoneOnlyOverIpv4()
    {
        byte[] d = new byte[8 + 3];
        "abc"u8.CopyTo(d.AsSpan(8));
        Assert.That(UdpPacket.EmitV4(d, IpA, IpB, 1000, 53, 3), Is.EqualTo(11));
        Assert.That(UdpPacket.ParseV4(d, IpA, IpB, out UdpPacket u), Is.EqualTo(WireError.Ok));
        Assert.That((u.SourcePort, u.DestinationPort, u.Length, u.Payload.SequenceEqual("abc"u8)), Is.EqualTo(((ushort)1000, (ushort)53, 11, true)));
        Assert.That(UdpPacket.ParseV4(d, IpA, new Ipv4Addr(192, 0, 2, 3), out _), Is.EqualTo(WireError.BadChecksum), "the pseudo-header's address counts");
        d[6] = d[7] = 0;
        Assert.That(UdpPacket.ParseV4(d, IpA, new Ipv4Addr(192, 0, 2, 3), out _), Is.EqualTo(WireError.Ok), "no checksum over IPv4");
        Assert.That(UdpPacket.ParseV6(d, Ip6A, Ip6B, out _), Is.EqualTo(WireError.BadChecksum), "a zero checksum over IPv6");
        Assert.That(UdpPacket.EmitV6(d, Ip6A, Ip6B, 1000, 53, 3), Is.EqualTo(11));
        Assert.That(UdpPacket.ParseV6(d, Ip6A, Ip6B, out _), Is.EqualTo(WireError.Ok));
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(4), 7);
        Assert.That(UdpPacket.ParseV6(d, Ip6A, Ip6B, out _), Is.EqualTo(WireError.Malformed), "a length below 8");
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(4), 12);
        Assert.That(UdpPacket.ParseV6(d, Ip6A, Ip6B, out _), Is.EqualTo(WireError.Truncated), "a length past the IP payload");

        // A datagram whose sum is 0 goes out with 0xffff (RFC 768) and still verifies.
        byte[] z = new byte[10];
        for (ushort v = 0; ; v++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(z.AsSpan(8), v);
            UdpPacket.EmitV4(z, IpA, IpB, 1, 2, 2);
            if (BinaryPrimitives.ReadUInt16BigEndian(z.AsSpan(6)) == 0xffff) break;
            Assert.That(v, Is.LessThan(0xffff), "some payload word makes the checksum 0");
        }
        Assert.That(UdpPacket.ParseV4(z, IpA, IpB, out _), Is.EqualTo(WireError.Ok));
    }

    [Test]
    public void Tcp_HeaderAndEveryOptionRoundTrip()
    {
        var o = new TcpOptions { HasMss = true, Mss = 1460, SackPermitted = true, HasTimestamp = true, TsVal = 1, TsEcr = 0xffffffff, HasWindowScale = true, WindowScale = 7 };
        var h = new TcpHeader { SourcePort = 40000, DestinationPort = 80, Sequence = 0xfffffff0, Acknowledgment = 5, Flags = TcpPacket.FlagSyn | TcpPacket.FlagEce | TcpPacket.FlagCwr, Window = 64240, UrgentPointer = 0 };
        int hlen = TcpPacket.HeaderLengthFor(o);
        Assert.That(hlen, Is.EqualTo(40), "Linux's SYN layout: 20 bytes of options");
        byte[] s = new byte[hlen + 4];
        "data"u8.CopyTo(s.AsSpan(hlen));
        Assert.That(TcpPacket.EmitV4(s, IpA, IpB, h, o, 4), Is.EqualTo(44));
        Assert.That(TcpPacket.ParseV4(s, IpA, IpB, out TcpPacket t), Is.EqualTo(WireError.Ok));
        Assert.That((t.SourcePort, t.DestinationPort, t.Sequence, t.Acknowledgment, t.Flags, t.Window, t.HeaderLength),
            Is.EqualTo(((ushort)40000, (ushort)80, 0xfffffff0u, 5u, (byte)(TcpPacket.FlagSyn | TcpPacket.FlagEce | TcpPacket.FlagCwr), (ushort)64240, 40)));
        Assert.That(t.Payload.SequenceEqual("data"u8), Is.True);
        Assert.That(t.SegmentLength, Is.EqualTo(5), "data plus SYN");
        Assert.That(TcpOptions.Parse(t.Options, out TcpOptions back), Is.EqualTo(WireError.Ok));
        Assert.That((back.HasMss, back.Mss, back.SackPermitted, back.HasTimestamp, back.TsVal, back.TsEcr, back.HasWindowScale, back.WindowScale),
            Is.EqualTo((true, (ushort)1460, true, true, 1u, 0xffffffffu, true, (byte)7)));
        Assert.That(TcpPacket.ParseV6(s, Ip6A, Ip6B, out _), Is.EqualTo(WireError.BadChecksum), "an IPv4 checksum is not an IPv6 one");

        // SACK blocks with a timestamp: 12 + 4 + 3*8 = 40 bytes, the most that fits.
        var sack = new TcpOptions { HasTimestamp = true, TsVal = 9, TsEcr = 8, SackCount = 3 };
        sack.Sack[0] = new SackBlock(100, 200); sack.Sack[1] = new SackBlock(300, 400); sack.Sack[2] = new SackBlock(0xfffffff0, 16);
        Assert.That(TcpOptions.EmittedLength(sack), Is.EqualTo(40));
        byte[] s6 = new byte[60];
        Assert.That(TcpPacket.EmitV6(s6, Ip6A, Ip6B, h with { Flags = TcpPacket.FlagAck }, sack, 0), Is.EqualTo(60));
        Assert.That(TcpPacket.ParseV6(s6, Ip6A, Ip6B, out t), Is.EqualTo(WireError.Ok));
        Assert.That(TcpOptions.Parse(t.Options, out back), Is.EqualTo(WireError.Ok));
        Assert.That(back.SackCount, Is.EqualTo(3));
        Assert.That((back.Sack[2].Left, back.Sack[2].Right, back.TsVal), Is.EqualTo((0xfffffff0u, 16u, 9u)));
        sack.SackCount = 4;
        Assert.That(TcpOptions.EmittedLength(sack), Is.EqualTo(-1), "four blocks and a timestamp exceed 40 bytes");
        Assert.That(TcpPacket.EmitV6(s6, Ip6A, Ip6B, h, sack, 0), Is.EqualTo(-1));
    }

    [TestCase(new byte[] { 2, 4, 5 }, WireError.Malformed, TestName = "Tcp option: MSS cut short by the end of the space")]
    [TestCase(new byte[] { 2, 3, 5, 0 }, WireError.Malformed, TestName = "Tcp option: MSS with length 3")]
    [TestCase(new byte[] { 3, 4, 7, 0 }, WireError.Malformed, TestName = "Tcp option: window scale with length 4")]
    [TestCase(new byte[] { 9, 0, 1, 1 }, WireError.Malformed, TestName = "Tcp option: length 0 (would loop forever)")]
    [TestCase(new byte[] { 9, 1, 1, 1 }, WireError.Malformed, TestName = "Tcp option: length 1")]
    [TestCase(new byte[] { 5, 2, 1, 1 }, WireError.Malformed, TestName = "Tcp option: SACK without blocks")]
    [TestCase(new byte[] { 5, 6, 0, 0, 0, 1, 1, 1 }, WireError.Malformed, TestName = "Tcp option: SACK with half a block")]
    [TestCase(new byte[] { 8, 10, 0, 0, 0, 1, 0, 0 }, WireError.Malformed, TestName = "Tcp option: timestamp cut short")]
    [TestCase(new byte[] { 1 }, WireError.Ok, TestName = "Tcp option: a lone NOP")]
    [TestCase(new byte[] { 0, 99, 99, 99 }, WireError.Ok, TestName = "Tcp option: bytes after the end-of-list are ignored")]
    [TestCase(new byte[] { 30, 4, 1, 2, 1, 1, 1, 1 }, WireError.Ok, TestName = "Tcp option: an unknown kind (MPTCP) is skipped")]
    public void TcpOptionValidation(byte[] opts, WireError expected)
    {
        Assert.That(TcpOptions.Parse(opts, out _), Is.EqualTo(expected));
    }

    [Test]
    public void Tcp_SackBlocksBeyondFourAreMalformedEvenInALongSpan()
    {
        byte[] o = new byte[42];
        o[0] = TcpOptions.KindSack; o[1] = 42;
        Assert.That(TcpOptions.Parse(o, out _), Is.EqualTo(WireError.Malformed), "five SACK blocks");
    }

    [Test]
    public void Tcp_DataOffsetValidation()
    {
        byte[] s = new byte[20];
        TcpPacket.EmitV4(s, IpA, IpB, new TcpHeader { Flags = TcpPacket.FlagRst }, default, 0);
        Assert.That(TcpPacket.ParseV4(s, IpA, IpB, out _), Is.EqualTo(WireError.Ok));
        s[12] = 4 << 4;
        Assert.That(TcpPacket.ParseV4(s, IpA, IpB, out _), Is.EqualTo(WireError.Malformed), "a data offset of 4 words");
        s[12] = 6 << 4;
        Assert.That(TcpPacket.ParseV4(s, IpA, IpB, out _), Is.EqualTo(WireError.Truncated), "a data offset past the segment");
    }

    [Test]
    public void Ipv6_ExtensionHeadersAreWalkedWithABound()
    {
        // Hop-by-hop, destination options, fragment, then UDP.
        byte[] p = new byte[40 + 8 + 16 + 8 + 8];
        var h = new Ipv6Header { Source = Ip6A, Destination = Ip6B, NextHeader = Ipv6Packet.NextHopByHop, HopLimit = 64, TrafficClass = 0xb8, FlowLabel = 0x12345 };
        Assert.That(Ipv6Packet.Emit(p, h, p.Length - 40), Is.EqualTo(40));
        p[40] = Ipv6Packet.NextDestOpts; p[41] = 0;
        p[48] = Ipv6Packet.NextFragment; p[49] = 1;
        p[64] = Ipv6Packet.NextUdp; BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(66), 1232 | 1); BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(68), 0xabcdef);
        Assert.That(Ipv6Packet.Parse(p, out Ipv6Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That((ip.TrafficClass, ip.FlowLabel, ip.HopLimit, ip.Source, ip.Destination), Is.EqualTo(((byte)0xb8, 0x12345u, (byte)64, Ip6A, Ip6B)));
        Assert.That(ip.WalkExtensions(out Ipv6Extensions x), Is.EqualTo(WireError.Ok));
        Assert.That((x.UpperProtocol, x.UpperOffset, x.Count, x.HasFragment, x.FragmentOffset, x.MoreFragments, x.FragmentId),
            Is.EqualTo((Ipv6Packet.NextUdp, 72, 3, true, 1232, true, 0xabcdefu)));

        // Hop-by-hop anywhere but first.
        p[48] = Ipv6Packet.NextHopByHop;
        Assert.That(Ipv6Packet.Parse(p, out ip) == WireError.Ok && ip.WalkExtensions(out _) == WireError.Malformed, Is.True);
        // A header whose length runs past the packet.
        p[48] = Ipv6Packet.NextFragment; p[41] = 200;
        Ipv6Packet.Parse(p, out ip);
        Assert.That(ip.WalkExtensions(out _), Is.EqualTo(WireError.Truncated));

        // A long chain of destination options headers: refused after the bound, not walked to the end.
        int n = 40;
        byte[] chain = new byte[40 + 8 * n];
        Ipv6Packet.Emit(chain, h with { NextHeader = Ipv6Packet.NextDestOpts }, 8 * n);
        for (int i = 0; i < n; i++) chain[40 + 8 * i] = i == n - 1 ? Ipv6Packet.NextNone : Ipv6Packet.NextDestOpts;
        Ipv6Packet.Parse(chain, out ip);
        Assert.That(ip.WalkExtensions(out _), Is.EqualTo(WireError.Unsupported));

        byte[] bad = (byte[])p.Clone();
        bad[0] = 0x45;
        Assert.That(Ipv6Packet.Parse(bad, out _), Is.EqualTo(WireError.Malformed), "version 4");
        Assert.That(Ipv6Packet.Parse(p.AsSpan(0, p.Length - 1), out _), Is.EqualTo(WireError.Truncated), "payload length past the buffer");
    }

    [Test]
    public void Icmpv6_EchoNeighborDiscoveryAndErrorsRoundTrip()
    {
        byte[] m = new byte[8 + 4];
        Assert.That(Icmpv6Packet.EmitEcho(m, Ip6A, Ip6B, false, 3, 4, "ping"u8), Is.EqualTo(12));
        Assert.That(Icmpv6Packet.Parse(m, Ip6A, Ip6B, out Icmpv6Packet p), Is.EqualTo(WireError.Ok));
        Assert.That((p.Type, p.Identifier, p.Sequence), Is.EqualTo((Icmpv6Packet.TypeEchoRequest, (ushort)3, (ushort)4)));
        Assert.That(Icmpv6Packet.Parse(m, Ip6B, Ip6A, out _), Is.EqualTo(WireError.Ok), "the pseudo-header sum does not depend on the order of the addresses");
        Assert.That(Icmpv6Packet.Parse(m, Ip6A, Ip6A, out _), Is.EqualTo(WireError.BadChecksum));

        byte[] na = new byte[32];
        Assert.That(Icmpv6Packet.EmitNeighbor(na, Ip6A, Ip6B, true, Icmpv6Packet.NaFlagSolicited, Ip6A, MacA), Is.EqualTo(32));
        Assert.That(Icmpv6Packet.Parse(na, Ip6A, Ip6B, out p), Is.EqualTo(WireError.Ok));
        Assert.That((p.IsNeighborDiscovery, p.Target, p.NdFlags), Is.EqualTo((true, Ip6A, Icmpv6Packet.NaFlagSolicited)));
        Assert.That(NdOptions.Parse(p.NdOptionBytes, out NdOptions o), Is.EqualTo(WireError.Ok));
        Assert.That((o.HasTargetLinkAddr, o.TargetLinkAddr, o.HasSourceLinkAddr), Is.EqualTo((true, MacA, false)));

        byte[] ns = new byte[24];
        Assert.That(Icmpv6Packet.EmitNeighbor(ns, Ipv6Addr.Unspecified, Ip6B.SolicitedNode, false, 0, Ip6B, null), Is.EqualTo(24), "DAD: no link-layer option");
        Assert.That(Icmpv6Packet.Parse(ns, Ipv6Addr.Unspecified, Ip6B.SolicitedNode, out p), Is.EqualTo(WireError.Ok));
        Assert.That(p.Type, Is.EqualTo(Icmpv6Packet.TypeNeighborSolicit));
        Assert.That(Icmpv6Packet.Parse(ns.AsSpan(0, 20), Ipv6Addr.Unspecified, Ip6B.SolicitedNode, out _), Is.Not.EqualTo(WireError.Ok), "an NS without its whole target");

        // An ND message with a nonzero code is dropped (RFC 4861 7.1.1); its checksum must still verify to see that.
        ns[1] = 1;
        ns[2] = ns[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ns.AsSpan(2), Checksum.Finish(Checksum.Add(ns, Checksum.PseudoHeaderV6(Ipv6Addr.Unspecified, Ip6B.SolicitedNode, 58, 24))));
        Assert.That(Icmpv6Packet.Parse(ns, Ipv6Addr.Unspecified, Ip6B.SolicitedNode, out _), Is.EqualTo(WireError.Malformed));

        byte[] err = new byte[8 + 48];
        Assert.That(Icmpv6Packet.EmitError(err, Ip6B, Ip6A, Icmpv6Packet.TypePacketTooBig, 0, 1280, new byte[48]), Is.EqualTo(56));
        Assert.That(Icmpv6Packet.Parse(err, Ip6B, Ip6A, out p), Is.EqualTo(WireError.Ok));
        Assert.That((p.IsError, p.Parameter), Is.EqualTo((true, 1280u)));

        Assert.That(NdOptions.Parse(new byte[] { 1, 0, 0, 0, 0, 0, 0, 0 }, out _), Is.EqualTo(WireError.Malformed), "an ND option of length 0");
        Assert.That(NdOptions.Parse(new byte[] { 3, 4, 0, 0 }, out _), Is.EqualTo(WireError.Truncated), "a prefix option past the message");
        Assert.That(NdOptions.Parse(new byte[] { 5, 2, 0, 0, 0, 0, 5, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0 }, out _), Is.EqualTo(WireError.Malformed), "an MTU option of 16 bytes");
    }

    /// <summary>Well-formed frames of every kind this layer builds (the fuzz tests' seeds).</summary>
    internal static byte[][] BuiltFrames()
    {
        var frames = new System.Collections.Generic.List<byte[]>();
        byte[] Eth(ushort type, byte[] payload)
        {
            byte[] f = new byte[14 + payload.Length];
            EthernetFrame.Emit(f, MacB, MacA, type);
            payload.CopyTo(f, 14);
            return f;
        }
        byte[] V4(byte proto, byte[] l4)
        {
            byte[] p = new byte[20 + l4.Length];
            Ipv4Packet.Emit(p, new Ipv4Header { Source = IpA, Destination = IpB, Protocol = proto, Ttl = 64 }, l4.Length);
            l4.CopyTo(p, 20);
            return Eth(EthernetFrame.TypeIpv4, p);
        }
        byte[] V6(byte next, byte[] l4)
        {
            byte[] p = new byte[40 + l4.Length];
            Ipv6Packet.Emit(p, new Ipv6Header { Source = Ip6A, Destination = Ip6B, NextHeader = next, HopLimit = 255 }, l4.Length);
            l4.CopyTo(p, 40);
            return Eth(EthernetFrame.TypeIpv6, p);
        }
        byte[] arp = new byte[28];
        ArpPacket.Emit(arp, ArpPacket.OpRequest, MacA, IpA, default, IpB);
        frames.Add(Eth(EthernetFrame.TypeArp, arp));
        byte[] echo = new byte[8 + 32];
        Icmpv4Packet.EmitEcho(echo, false, 1, 2, new byte[32]);
        frames.Add(V4(Ipv4Packet.ProtoIcmp, echo));
        byte[] udp = new byte[8 + 7];
        UdpPacket.EmitV4(udp, IpA, IpB, 1, 2, 7);
        frames.Add(V4(Ipv4Packet.ProtoUdp, udp));
        var o = new TcpOptions { HasMss = true, Mss = 1460, SackPermitted = true, HasTimestamp = true, TsVal = 5, HasWindowScale = true, WindowScale = 7 };
        byte[] tcp = new byte[40 + 3];
        TcpPacket.EmitV4(tcp, IpA, IpB, new TcpHeader { Flags = TcpPacket.FlagSyn }, o, 3);
        frames.Add(V4(Ipv4Packet.ProtoTcp, tcp));
        byte[] tcp6 = new byte[40];
        TcpPacket.EmitV6(tcp6, Ip6A, Ip6B, new TcpHeader { Flags = TcpPacket.FlagSyn }, o, 0);
        frames.Add(V6(Ipv6Packet.NextTcp, tcp6));
        byte[] udp6 = new byte[9];
        UdpPacket.EmitV6(udp6, Ip6A, Ip6B, 1, 2, 1);
        frames.Add(V6(Ipv6Packet.NextUdp, udp6));
        byte[] na = new byte[32];
        Icmpv6Packet.EmitNeighbor(na, Ip6A, Ip6B, true, 0x60, Ip6A, MacA);
        frames.Add(V6(Ipv6Packet.NextIcmpv6, na));
        return frames.ToArray();
    }

    [Test]
    public void Fuzz_EveryTruncationOfEveryBuiltFrameIsAnError()
    {
        foreach (byte[] f in BuiltFrames())
        {
            Assert.That(Dissect.Frame(f, out int meaningful), Is.EqualTo(WireError.Ok), "a built frame parses: " + Convert.ToHexString(f));
            for (int n = 0; n < meaningful; n++)
                Assert.That(Dissect.Frame(f.AsSpan(0, n), out _), Is.Not.EqualTo(WireError.Ok), $"cut to {n} of {meaningful}: {Convert.ToHexString(f)}");
        }
    }

    [Test]
    public void Fuzz_RandomBytesAndFlippedBitsNeverThrow()
    {
        var rng = new Random(826);
        byte[] buf = new byte[1600];
        int ok = 0;
        // Random bytes behind each valid Ethernet type, so the deeper parsers see them too.
        ushort[] types = { EthernetFrame.TypeArp, EthernetFrame.TypeIpv4, EthernetFrame.TypeIpv6, EthernetFrame.TypeVlan };
        for (int i = 0; i < 20000; i++)
        {
            int len = rng.Next(buf.Length);
            rng.NextBytes(buf.AsSpan(0, len));
            if (len >= 14) BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(12), types[i % types.Length]);
            if (len >= 15 && i % 2 == 0) buf[14] = (byte)(i % 4 == 0 ? 0x45 : 0x60);
            if (Dissect.Frame(buf.AsSpan(0, len), out _) == WireError.Ok) ok++;
        }
        // Bit flips in real frames reach every field and the options walks.
        foreach (byte[] seed in BuiltFrames())
        {
            for (int i = 0; i < 3000; i++)
            {
                byte[] f = (byte[])seed.Clone();
                int flips = 1 + rng.Next(4);
                for (int k = 0; k < flips; k++) f[rng.Next(f.Length)] ^= (byte)(1 << rng.Next(8));
                Dissect.Frame(f, out _);
                Dissect.Frame(f.AsSpan(0, rng.Next(f.Length + 1)), out _);
            }
        }
        Assert.Pass($"{ok} of 20000 random frames happened to parse; none threw");
    }
}
