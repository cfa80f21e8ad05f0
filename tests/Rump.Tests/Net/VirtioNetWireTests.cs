using System;
using System.Buffers.Binary;
using NUnit.Framework;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The virtio-net header (Wire/VirtioNet.cs) on its own: a fixture of the bytes Linux's TAP
/// writes for a coalesced TCP segment, the round trip, every hostile header refused with an error
/// value (never an exception), the TCP test the driver trusts checksums by, and partial checksums
/// completed to what a full computation gives.
/// </summary>
public class VirtioNetWireTests
{
    private static readonly EtherAddr MacA = new(0x02_00_00_00_00_0a), MacB = new(0x02_00_00_00_00_0b);
    private static readonly Ipv4Addr IpA = new(192, 0, 2, 1), IpB = new(192, 0, 2, 2);
    private static readonly Ipv6Addr Ip6A = new(0x2001_0db8UL << 32, 1), Ip6B = new(0x2001_0db8UL << 32, 2);

    /// <summary>An Ethernet frame with an IPv4 (or IPv6) TCP segment of <paramref name="data"/> bytes and a timestamp option; its checksum full, or partial.</summary>
    internal static byte[] TcpFrame(bool v6, int data, bool partial, ushort dport = 80, byte flags = TcpPacket.FlagAck)
    {
        var o = new TcpOptions { HasTimestamp = true, TsVal = 1, TsEcr = 2 };
        int thl = TcpPacket.HeaderLengthFor(o), ihl = v6 ? Ipv6Packet.HeaderSize : Ipv4Packet.MinHeaderSize;
        byte[] f = new byte[EthernetFrame.HeaderSize + ihl + thl + data];
        EthernetFrame.Emit(f, MacB, MacA, v6 ? EthernetFrame.TypeIpv6 : EthernetFrame.TypeIpv4);
        Span<byte> ip = f.AsSpan(EthernetFrame.HeaderSize), tcp = ip.Slice(ihl);
        for (int i = 0; i < data; i++) tcp[thl + i] = (byte)(i * 7 + 3);
        var h = new TcpHeader { SourcePort = 40000, DestinationPort = dport, Sequence = 1000, Acknowledgment = 2000, Flags = flags, Window = 500 };
        if (v6)
        {
            Ipv6Packet.Emit(ip, new Ipv6Header { Source = Ip6A, Destination = Ip6B, NextHeader = Ipv6Packet.NextTcp, HopLimit = 64 }, thl + data);
            Assert.That(partial ? TcpPacket.EmitV6Partial(tcp, Ip6A, Ip6B, h, o, data) : TcpPacket.EmitV6(tcp, Ip6A, Ip6B, h, o, data), Is.EqualTo(thl + data));
        }
        else
        {
            Ipv4Packet.Emit(ip, new Ipv4Header { Source = IpA, Destination = IpB, Protocol = Ipv4Packet.ProtoTcp, Ttl = 64, DontFragment = true }, thl + data);
            Assert.That(partial ? TcpPacket.EmitV4Partial(tcp, IpA, IpB, h, o, data) : TcpPacket.EmitV4(tcp, IpA, IpB, h, o, data), Is.EqualTo(thl + data));
        }
        return f;
    }

    [Test]
    public void Parse_TheTapsHeaderOfACoalescedSegment_AndTheRoundTrip()
    {
        // NEEDS_CSUM, GSO TCPv4, hdr_len 66 (14 + 20 + 32), gso_size 1448, csum_start 34, csum_offset 16: little-endian.
        byte[] hdr = { 0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00 };
        byte[] frame = TcpFrame(false, 3 * 1448, partial: true);
        Assert.That(VirtioNetHdr.Parse(hdr, frame, out VirtioNetHdr h), Is.EqualTo(WireError.Ok));
        Assert.That((h.NeedsCsum, h.DataValid, h.IsGso, h.Gso, h.HdrLen, h.GsoSize, h.CsumStart, h.CsumOffset),
            Is.EqualTo((true, false, true, VirtioNetHdr.GsoTcpV4, (ushort)66, (ushort)1448, (ushort)34, (ushort)16)));
        byte[] back = new byte[VirtioNetHdr.Size];
        VirtioNetHdr.Emit(back, h);
        Assert.That(back, Is.EqualTo(hdr), "Emit writes back the bytes Parse read");

        // The ECN bit rides on a GSO type; DATA_VALID alone; all zero (a plain frame).
        Assert.That(VirtioNetHdr.Parse(new byte[] { 0, 0x84, 86, 0, 0x94, 5, 0, 0, 0, 0 }, TcpFrame(true, 4000, false), out h), Is.EqualTo(WireError.Ok));
        Assert.That((h.Gso, h.IsGso), Is.EqualTo((VirtioNetHdr.GsoTcpV6, true)));
        Assert.That(VirtioNetHdr.Parse(new byte[] { 2, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, frame, out h), Is.EqualTo(WireError.Ok));
        Assert.That((h.DataValid, h.NeedsCsum, h.IsGso), Is.EqualTo((true, false, false)));
        Assert.That(VirtioNetHdr.Parse(new byte[10], frame, out h), Is.EqualTo(WireError.Ok));
        Assert.That(((int)h.Flags, (int)h.GsoType), Is.EqualTo((0, 0)));
    }

    private static byte[] Hdr(byte flags, byte gso, int hdrLen, int gsoSize, int start, int offset)
    {
        byte[] b = new byte[VirtioNetHdr.Size];
        VirtioNetHdr.Emit(b, new VirtioNetHdr(flags, gso, (ushort)hdrLen, (ushort)gsoSize, (ushort)start, (ushort)offset));
        return b;
    }

    [Test]
    public void Parse_HostileHeaders_AreRefusedWithAReason()
    {
        byte[] frame = TcpFrame(false, 100, partial: true);
        int n = frame.Length;
        var cases = new (string what, byte[] hdr, WireError want)[]
        {
            ("a header cut short", new byte[5], WireError.Truncated),
            ("an unknown flag (RSC_INFO)", Hdr(4, 0, 0, 0, 0, 0), WireError.Unsupported),
            ("UDP fragmentation, never enabled", Hdr(1, VirtioNetHdr.GsoUdp, 42, 1000, 34, 6), WireError.Unsupported),
            ("GSO type 5 (UDP_L4)", Hdr(1, 5, 42, 1000, 34, 6), WireError.Unsupported),
            ("GSO type 0x7f", Hdr(1, 0x7f, 66, 1448, 34, 16), WireError.Unsupported),
            ("the ECN bit without GSO", Hdr(0, VirtioNetHdr.GsoEcn, 0, 0, 0, 0), WireError.Malformed),
            ("csum_start beyond the frame", Hdr(1, 0, 0, 0, n + 100, 16), WireError.Malformed),
            ("csum_start at the frame's end", Hdr(1, 0, 0, 0, n, 0), WireError.Malformed),
            ("a checksum field past the end", Hdr(1, 0, 0, 0, 34, n - 34 - 1), WireError.Malformed),
            ("csum_start inside the Ethernet header", Hdr(1, 0, 0, 0, 4, 16), WireError.Malformed),
            ("csum_start and offset at their largest", Hdr(1, 0, 0, 0, 0xffff, 0xffff), WireError.Malformed),
            ("GSO with a zero piece size", Hdr(1, VirtioNetHdr.GsoTcpV4, 66, 0, 34, 16), WireError.Malformed),
            ("GSO headers longer than the frame", Hdr(1, VirtioNetHdr.GsoTcpV4, n + 1, 1448, 34, 16), WireError.Malformed),
            ("GSO hdr_len 65535", Hdr(1, VirtioNetHdr.GsoTcpV6, 0xffff, 1448, 34, 16), WireError.Malformed),
        };
        foreach (var (what, hdr, want) in cases)
            Assert.That(VirtioNetHdr.Parse(hdr, frame, out _), Is.EqualTo(want), what);

        // Random headers over random frames: an answer every time, never an exception.
        var rng = new Random(11);
        byte[] h = new byte[VirtioNetHdr.Size];
        for (int i = 0; i < 20000; i++)
        {
            rng.NextBytes(h);
            if (i % 3 == 0) h[0] &= 3;
            if (i % 2 == 0) h[1] &= 0x85;
            byte[] f = new byte[rng.Next(0, 200)];
            rng.NextBytes(f);
            if (VirtioNetHdr.Parse(h, f, out VirtioNetHdr v) == WireError.Ok && v.NeedsCsum)
            {
                Assert.That(v.CsumStart + v.CsumOffset + 2, Is.LessThanOrEqualTo(f.Length));
                VirtioNetHdr.CompleteChecksum(f, v.CsumStart, v.CsumOffset);
            }
            VirtioNetHdr.IsTcp(f, out _);
        }
    }

    [Test]
    public void IsTcp_OnlyUnfragmentedTcpOverIpv4OrIpv6()
    {
        Assert.That(VirtioNetHdr.IsTcp(TcpFrame(false, 10, false), out int l4), Is.True);
        Assert.That(l4, Is.EqualTo(34));
        Assert.That(VirtioNetHdr.IsTcp(TcpFrame(true, 10, false), out l4), Is.True);
        Assert.That(l4, Is.EqualTo(54));
        byte[] f = TcpFrame(false, 10, false);
        f[14 + 9] = Ipv4Packet.ProtoUdp;
        Assert.That(VirtioNetHdr.IsTcp(f, out _), Is.False, "UDP");
        f = TcpFrame(false, 10, false);
        f[14 + 6] |= 0x20;
        Assert.That(VirtioNetHdr.IsTcp(f, out _), Is.False, "a first fragment (MF)");
        f = TcpFrame(false, 10, false);
        f[14 + 7] = 1;
        Assert.That(VirtioNetHdr.IsTcp(f, out _), Is.False, "a later fragment");
        f = TcpFrame(true, 10, false);
        f[14 + 6] = Ipv6Packet.NextHopByHop;
        Assert.That(VirtioNetHdr.IsTcp(f, out _), Is.False, "behind an extension header: the checksum is done in software");
        f = TcpFrame(false, 10, false);
        f[12] = 0x08; f[13] = 0x06;
        Assert.That(VirtioNetHdr.IsTcp(f, out _), Is.False, "ARP");
        Assert.That(VirtioNetHdr.IsTcp(f.AsSpan(0, 40), out _), Is.False, "cut short");
    }

    [Test]
    public void PartialChecksums_CompleteToTheFullOnes()
    {
        foreach (bool v6 in new[] { false, true })
            foreach (int data in new[] { 0, 1, 1447, 1448, 4001, 65000 })
            {
                byte[] full = TcpFrame(v6, data, partial: false), part = TcpFrame(v6, data, partial: true);
                int l4 = v6 ? 54 : 34;
                Assert.That(part.AsSpan(l4 + 16, 2).SequenceEqual(full.AsSpan(l4 + 16, 2)), Is.False, $"v6 {v6}, {data} bytes: a partial checksum differs from the full one");
                byte[] a = (byte[])part.Clone(), b = (byte[])part.Clone();
                VirtioNetHdr.CompleteChecksum(a, l4, VirtioNetHdr.TcpChecksumOffset);
                TcpPacket.CompletePartialChecksum(b.AsSpan(l4));
                Assert.That(BinaryPrimitives.ReadUInt16BigEndian(a.AsSpan(l4 + 16)), Is.EqualTo(BinaryPrimitives.ReadUInt16BigEndian(full.AsSpan(l4 + 16))).Or.EqualTo(0xffff),
                    $"v6 {v6}, {data} bytes: the device's completion gives the full checksum");
                Assert.That(b, Is.EqualTo(full), $"v6 {v6}, {data} bytes: TCP's own completion gives the full checksum");
                ReadOnlySpan<byte> seg = a.AsSpan(l4);
                WireError e = v6 ? TcpPacket.ParseV6(seg, Ip6A, Ip6B, out _) : TcpPacket.ParseV4(seg, IpA, IpB, out _);
                Assert.That(e, Is.EqualTo(WireError.Ok), "the completed segment verifies");
                e = v6 ? TcpPacket.ParseV6(part.AsSpan(l4), Ip6A, Ip6B, out _) : TcpPacket.ParseV4(part.AsSpan(l4), IpA, IpB, out _);
                Assert.That(e, Is.EqualTo(WireError.BadChecksum), "a partial checksum does not verify as a full one");
                Assert.That(TcpPacket.ParseVerified(part.AsSpan(l4), out _), Is.EqualTo(WireError.Ok), "ParseVerified takes it on the interface's word");
            }
    }
}
