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

namespace Rump.Tests.Net;

/// <summary>
/// virtif's offloads over a Linux TAP (IFF_VNET_HDR; root: a TAP in a network namespace, as
/// VirtifTests): frames with hand-made virtio-net headers given to the driver's receive path as
/// the TAP's reader would (what the header may make TCP skip, what it may not, and hostile
/// headers dropped and counted), a raw frame with a bad checksum from Linux's side still dropped,
/// and large transfers each way with Linux's TCP at MTU 1500, byte for byte, in super-segments
/// both ways (and, with offloads off, in MSS-sized frames as before).
/// </summary>
[NonParallelizable]
public class VirtifOffloadTests : KernelTest
{
    private const string PeerIp = "10.81.0.1", OurIp = "10.81.0.2";
    private static readonly Ipv4Addr Peer4 = new(10, 81, 0, 1), Our4 = new(10, 81, 0, 2);

    private RumpKernel Up(TapNs tn, bool? offload, bool v6, string peer, string ours, out Virtif vif)
    {
        RumpKernel k = Boot(ncpu: 2);
        Ifnet? ifp = null;
        Assert.That(In(k, () => Virtif.Create(k.Kernel, 0, tn.Tap, offload, out ifp)), Is.EqualTo(0), "virt0 on " + tn.Tap);
        tn.MoveIn(v6 ? $"{peer}/64" : $"{peer}/24");
        Assert.That(In(k, () => Netconfig.IfUp(k.Kernel, "virt0")), Is.EqualTo(0));
        Assert.That(In(k, () => v6 ? Netconfig6.Ipv6Ifaddr(k.Kernel, "virt0", ours, 64) : Netconfig.Ipv4IfaddrCidr(k.Kernel, "virt0", ours, 24)), Is.EqualTo(0));
        vif = (Virtif)ifp!;
        return k;
    }

    /// <summary>Frames (each with its virtio-net header) through the driver's receive path, from a bare host thread as the TAP's reader calls it.</summary>
    private static void Inject(Virtif v, params byte[][] frames)
    {
        int total = 0;
        foreach (byte[] f in frames) total += f.Length;
        byte[] buf = new byte[total];
        uint[] lens = new uint[frames.Length];
        int off = 0;
        for (int i = 0; i < frames.Length; i++)
        {
            frames[i].CopyTo(buf, off);
            off += frames[i].Length;
            lens[i] = (uint)frames[i].Length;
        }
        Exception? ex = null;
        var t = new Thread(() => { try { v.Receive(buf, lens); } catch (Exception e) { ex = e; } });
        t.Start();
        t.Join();
        if (ex != null) throw new AssertionException("virtif receive: " + ex);
    }

    private static byte[] WithHdr(VirtioNetHdr h, byte[] frame)
    {
        byte[] b = new byte[VirtioNetHdr.Size + frame.Length];
        VirtioNetHdr.Emit(b, h);
        frame.CopyTo(b, VirtioNetHdr.Size);
        return b;
    }

    /// <summary>A TCP segment from the peer to our closed port 9 (SYN: it gets a RST), IPv4, addressed to <paramref name="mac"/>, with <paramref name="data"/> bytes.</summary>
    private static byte[] TcpToUs(EtherAddr mac, int data, bool partial, bool badChecksum = false)
    {
        var o = new TcpOptions();
        int thl = TcpPacket.HeaderLengthFor(o);
        byte[] f = new byte[14 + 20 + thl + data];
        EthernetFrame.Emit(f, mac, new EtherAddr(0x02_00_00_00_81_01), EthernetFrame.TypeIpv4);
        Ipv4Packet.Emit(f.AsSpan(14), new Ipv4Header { Source = Peer4, Destination = Our4, Protocol = Ipv4Packet.ProtoTcp, Ttl = 64, DontFragment = true }, thl + data);
        var h = new TcpHeader { SourcePort = 40001, DestinationPort = 9, Sequence = 77, Flags = TcpPacket.FlagSyn, Window = 1000 };
        Span<byte> tcp = f.AsSpan(34);
        if (partial) TcpPacket.EmitV4Partial(tcp, Peer4, Our4, h, o, data);
        else TcpPacket.EmitV4(tcp, Peer4, Our4, h, o, data);
        if (badChecksum) tcp[17] ^= 0x5a;
        return f;
    }

    /// <summary>A UDP datagram from the peer to our closed port 9, its checksum holding only the pseudo-header's sum (a host's CHECKSUM_PARTIAL).</summary>
    private static byte[] UdpPartialToUs(EtherAddr mac)
    {
        byte[] f = new byte[14 + 20 + 8 + 32];
        EthernetFrame.Emit(f, mac, new EtherAddr(0x02_00_00_00_81_01), EthernetFrame.TypeIpv4);
        Ipv4Packet.Emit(f.AsSpan(14), new Ipv4Header { Source = Peer4, Destination = Our4, Protocol = Ipv4Packet.ProtoUdp, Ttl = 64 }, 40);
        Span<byte> u = f.AsSpan(34);
        for (int i = 0; i < 32; i++) u[8 + i] = (byte)(i + 1);
        UdpPacket.EmitV4(u, Peer4, Our4, 40002, 9, 32);
        BinaryPrimitives.WriteUInt16BigEndian(u.Slice(6), (ushort)~Checksum.Finish(Checksum.PseudoHeaderV4(Peer4, Our4, Ipv4Packet.ProtoUdp, 40)));
        return f;
    }

    [Test]
    public void Root_VnetHeaders_TrustedPartialsSkipTheCheck_OthersChecked_HostileOnesDroppedAndCounted()
    {
        using var tn = new TapNs("rumpvo-", "rvo");
        RumpKernel k = Up(tn, null, false, PeerIp, OurIp, out Virtif v);
        Assert.That(v.Offloads, Is.True, "virt0 opened the TAP with IFF_VNET_HDR and offloads (Linux has them)");
        Assert.That(v.Capabilities, Is.EqualTo(Ifnet.IFCAP_CSUM_TCPv4_Rx | Ifnet.IFCAP_CSUM_TCPv4_Tx | Ifnet.IFCAP_CSUM_TCPv6_Rx | Ifnet.IFCAP_CSUM_TCPv6_Tx | Ifnet.IFCAP_TSOv4 | Ifnet.IFCAP_TSOv6));
        TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;
        Inet inet = k.Kernel.GetService<Inet>()!;
        EtherAddr mac = v.LinkAddr;
        var none = new VirtioNetHdr(0, 0, 0, 0, 0, 0);
        var needs = new VirtioNetHdr(VirtioNetHdr.FlagNeedsCsum, 0, 0, 0, 34, 16);

        // No flag: TCP checks the checksum. A bad one is dropped, a good one reaches TCP (a RST for the closed port).
        long bad = stack.BadSegments, noPort = stack.NoPort;
        Inject(v, WithHdr(none, TcpToUs(mac, 0, false, badChecksum: true)));
        WaitFor(() => stack.BadSegments == bad + 1, "the bad checksum counted");
        Inject(v, WithHdr(none, TcpToUs(mac, 0, false)));
        WaitFor(() => stack.NoPort == noPort + 1, "the good segment reached TCP");
        Assert.That(stack.BadSegments, Is.EqualTo(bad + 1), "a frame without offload flags is checked, and only the bad one failed");

        // NEEDS_CSUM at the TCP checksum: the field holds only the pseudo-header's sum, which no
        // check would pass; TCP takes it on the host's word. DATA_VALID likewise, even over a wrong checksum.
        long trusted = v.RxCsumTrusted, offIn = stack.CsumOffloadedIn;
        Inject(v, WithHdr(needs, TcpToUs(mac, 100, partial: true)));
        WaitFor(() => stack.NoPort == noPort + 2, "the partial-checksum segment reached TCP");
        Inject(v, WithHdr(new VirtioNetHdr(VirtioNetHdr.FlagDataValid, 0, 0, 0, 0, 0), TcpToUs(mac, 0, false, badChecksum: true)));
        WaitFor(() => stack.NoPort == noPort + 3, "the DATA_VALID segment reached TCP");
        Assert.That((v.RxCsumTrusted - trusted, stack.CsumOffloadedIn - offIn, stack.BadSegments), Is.EqualTo((2L, 2L, bad + 1)));

        // A GSO frame: one TCP segment of three MSS, taken whole.
        long supers = v.RxSuperSegments;
        Inject(v, WithHdr(new VirtioNetHdr(VirtioNetHdr.FlagNeedsCsum, VirtioNetHdr.GsoTcpV4, 54, 1460, 34, 16), TcpToUs(mac, 3 * 1460, partial: true)));
        WaitFor(() => stack.NoPort == noPort + 4, "the coalesced segment reached TCP");
        Assert.That(v.RxSuperSegments - supers, Is.EqualTo(1));

        // A partial UDP checksum is completed by the driver: UDP checks it and finds it right (a port unreachable, no bad checksum).
        long udpBad = inet.Stats.UdpBadChecksum, udpNoPort = inet.Stats.UdpNoPort, completed = v.RxCsumCompleted;
        Inject(v, WithHdr(new VirtioNetHdr(VirtioNetHdr.FlagNeedsCsum, 0, 0, 0, 34, 6), UdpPartialToUs(mac)));
        WaitFor(() => inet.Stats.UdpNoPort == udpNoPort + 1, "the UDP datagram reached UDP");
        Assert.That((inet.Stats.UdpBadChecksum - udpBad, v.RxCsumCompleted - completed), Is.EqualTo((0L, 1L)), "(UDP bad checksums, checksums completed by the driver)");

        // Hostile headers: each frame dropped and counted, nothing else happens, the kernel lives on.
        byte[] seg = TcpToUs(mac, 3000, partial: true);
        byte[] udp = UdpPartialToUs(mac);
        long badHdr = v.BadVnetHeaders, errs = v.InputErrors, offIn2 = stack.CsumOffloadedIn;
        byte[][] hostile =
        {
            WithHdr(new VirtioNetHdr(1, 0, 0, 0, (ushort)(seg.Length + 10), 16), seg),       // csum_start beyond the frame
            WithHdr(new VirtioNetHdr(1, 0, 0, 0, 34, 0xfff0), seg),                          // the checksum field past the end
            WithHdr(new VirtioNetHdr(1, VirtioNetHdr.GsoUdp, 42, 1000, 34, 16), seg),        // UDP fragmentation
            WithHdr(new VirtioNetHdr(1, 0x33, 54, 1460, 34, 16), seg),                       // an unknown GSO type
            WithHdr(new VirtioNetHdr(0x40, 0, 0, 0, 0, 0), seg),                             // an unknown flag
            WithHdr(new VirtioNetHdr(1, VirtioNetHdr.GsoTcpV4, (ushort)(seg.Length + 1), 1460, 34, 16), seg), // hdr_len past the frame
            WithHdr(new VirtioNetHdr(1, VirtioNetHdr.GsoTcpV4, 54, 0, 34, 16), seg),         // a zero piece size
            WithHdr(new VirtioNetHdr(1, VirtioNetHdr.GsoTcpV6, 54, 1460, 34, 16), seg),      // TCPv6 segmentation of an IPv4 frame
            WithHdr(new VirtioNetHdr(1, VirtioNetHdr.GsoTcpV4, 42, 1000, 34, 6), udp),       // TCP segmentation of a UDP datagram
            new byte[] { 1, 1, 0 },                                                          // shorter than the header
        };
        Inject(v, hostile);
        Assert.That(v.BadVnetHeaders - badHdr, Is.EqualTo(hostile.Length), "every hostile header counted");
        Assert.That(v.InputErrors - errs, Is.EqualTo(hostile.Length), "and counted as input errors");
        // The good frame after them still gets through: nothing was left half-done.
        Inject(v, WithHdr(needs, TcpToUs(mac, 10, partial: true)));
        WaitFor(() => stack.NoPort == noPort + 5, "a good frame after the hostile ones");
        Assert.That(stack.CsumOffloadedIn - offIn2, Is.EqualTo(1), "none of the hostile frames reached TCP");
        Assert.That(k.Kernel.IsPanicked, Is.False);
    }

    [Test]
    public void Root_RawFrameWithABadTcpChecksumFromLinux_StillDropped()
    {
        using var tn = new TapNs("rumpvr-", "rvr");
        RumpKernel k = Up(tn, null, false, PeerIp, OurIp, out Virtif v);
        Assert.That(v.Offloads, Is.True);
        TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;
        // A packet socket on the TAP in the namespace writes whole frames with no checksum offload
        // (Linux's CHECKSUM_NONE): the TAP hands them to us with all-zero virtio-net headers.
        string Send(byte[] f) => $"python3 -c \"import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('{tn.Tap}', 0)); s.send(bytes.fromhex('{Convert.ToHexString(f)}'))\"";
        long bad = stack.BadSegments, noPort = stack.NoPort, trusted = v.RxCsumTrusted;
        var (st, so, se) = tn.Run(Send(TcpToUs(v.LinkAddr, 20, false, badChecksum: true)));
        Assert.That(st, Is.EqualTo(0), "python3 AF_PACKET: " + so + se);
        WaitFor(() => stack.BadSegments == bad + 1, "the bad checksum counted by TCP");
        (st, so, se) = tn.Run(Send(TcpToUs(v.LinkAddr, 20, false)));
        Assert.That(st, Is.EqualTo(0), "python3 AF_PACKET: " + so + se);
        WaitFor(() => stack.NoPort == noPort + 1, "the same frame with its checksum right reached TCP");
        Assert.That((stack.BadSegments - bad, v.RxCsumTrusted - trusted), Is.EqualTo((1L, 0L)), "(bad checksums, checksums taken on the host's word)");
    }
}
