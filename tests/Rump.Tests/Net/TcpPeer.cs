using System;
using System.Collections.Generic;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>A TCP segment the kernel sent: its IP packet, DF (IPv4 only), sequence number, flags, payload length and ports.</summary>
internal readonly record struct SentSegment(byte[] Ip, bool Df, uint Seq, byte Flags, int Len, ushort SPort, ushort DPort);

/// <summary>
/// The test as the kernel's TCP peer on an <see cref="EtherTestIf"/>, over IPv4 or IPv6 (the
/// family of the addresses): frames from the peer, the TCP segments the kernel sent, the peer's
/// link address in the kernel's ARP or neighbour cache, and the peer's half of an active open.
/// </summary>
internal sealed unsafe class TcpPeer
{
    public readonly RumpKernel K;
    public readonly EtherTestIf Ifp;
    public readonly TcpAddr Us, Peer;
    private readonly EtherAddr _ourMac, _peerMac;

    public TcpPeer(RumpKernel k, EtherTestIf ifp, ulong ourMac, ulong peerMac, TcpAddr us, TcpAddr peer)
    {
        K = k; Ifp = ifp; Us = us; Peer = peer;
        _ourMac = new EtherAddr(ourMac);
        _peerMac = new EtherAddr(peerMac);
    }

    public bool V6 => !Us.IsV4;

    /// <summary>An Ethernet frame from the peer to us carrying <paramref name="payload"/> as IP protocol (next header) <paramref name="proto"/>.</summary>
    public byte[] FromPeer(byte proto, ReadOnlySpan<byte> payload, byte hlim = 64)
    {
        int ih = V6 ? 40 : 20;
        byte[] f = new byte[14 + ih + payload.Length];
        EthernetFrame.Emit(f, _ourMac, _peerMac, V6 ? EthernetFrame.TypeIpv6 : EthernetFrame.TypeIpv4);
        if (V6) Ipv6Packet.Emit(f.AsSpan(14), new Ipv6Header { Source = Peer.V6, Destination = Us.V6, NextHeader = proto, HopLimit = hlim }, payload.Length);
        else Ipv4Packet.Emit(f.AsSpan(14), new Ipv4Header { Source = Peer.V4, Destination = Us.V4, Protocol = proto, Ttl = hlim, Identification = 1 }, payload.Length);
        payload.CopyTo(f.AsSpan(14 + ih));
        return f;
    }

    public void Inject(byte[] frame) => EtherTestIf.Inject(K, Ifp, frame);

    /// <summary>A segment from the peer to us.</summary>
    public void SendTcp(TcpHeader h, TcpOptions o = default)
    {
        byte[] b = new byte[TcpPacket.HeaderLengthFor(o)];
        if (V6) TcpPacket.EmitV6(b, Peer.V6, Us.V6, h, o, 0);
        else TcpPacket.EmitV4(b, Peer.V4, Us.V4, h, o, 0);
        Inject(FromPeer(V6 ? Ipv6Packet.NextTcp : Ipv4Packet.ProtoTcp, b));
    }

    /// <summary>The TCP segments the kernel sent, in order (checksums checked).</summary>
    public List<SentSegment> Segments()
    {
        var r = new List<SentSegment>();
        foreach (byte[] f in Ifp.Frames())
        {
            if (EthernetFrame.Parse(f, out EthernetFrame eth) != WireError.Ok) continue;
            TcpPacket t;
            byte[] ip;
            bool df = false;
            if (V6)
            {
                if (eth.EtherType != EthernetFrame.TypeIpv6) continue;
                if (Ipv6Packet.Parse(eth.Payload, out Ipv6Packet p6) != WireError.Ok || p6.NextHeader != Ipv6Packet.NextTcp) continue;
                Assert.That(TcpPacket.ParseV6(p6.Payload, p6.Source, p6.Destination, out t), Is.EqualTo(WireError.Ok), "our segment's checksum (the IPv6 pseudo-header)");
                ip = eth.Payload.ToArray();
            }
            else
            {
                if (eth.EtherType != EthernetFrame.TypeIpv4) continue;
                if (Ipv4Packet.Parse(eth.Payload, out Ipv4Packet p4) != WireError.Ok || p4.Protocol != Ipv4Packet.ProtoTcp) continue;
                Assert.That(TcpPacket.ParseV4(p4.Payload, p4.Source, p4.Destination, out t), Is.EqualTo(WireError.Ok), "our segment");
                ip = p4.Bytes.ToArray();
                df = p4.DontFragment;
            }
            r.Add(new SentSegment(ip, df, t.Sequence, t.Flags, t.Payload.Length, t.SourcePort, t.DestinationPort));
        }
        return r;
    }

    /// <summary>
    /// Puts the peer's MAC into the kernel's ARP cache (an ARP reply) or neighbour cache (a
    /// solicitation carrying it), so that our segments to the peer go at once.
    /// </summary>
    public void Introduce()
    {
        if (V6)
        {
            Inet6 in6 = K.Kernel.GetService<Inet6>()!;
            byte[] ns = new byte[32];
            int nl = Icmpv6Packet.EmitNeighbor(ns, Peer.V6, Us.V6, false, 0, Us.V6, _peerMac);
            Inject(FromPeer(Ipv6Packet.NextIcmpv6, ns.AsSpan(0, nl), 255)); // hop limit 255: from the link (RFC 4861 7.1.1)
            Assert.That(KernelTest.Eventually(() => in6.NdOf(Ifp)!.TryGet(Peer.V6, out _, out _)), Is.True, "the peer in the neighbour cache");
        }
        else
        {
            Inet inet = K.Kernel.GetService<Inet>()!;
            byte[] arp = new byte[14 + 28];
            EthernetFrame.Emit(arp, _ourMac, _peerMac, EthernetFrame.TypeArp);
            ArpPacket.Emit(arp.AsSpan(14), ArpPacket.OpReply, _peerMac, Peer.V4, _ourMac, Us.V4);
            Inject(arp);
            Assert.That(KernelTest.Eventually(() => inet.ArpOf(Ifp)!.TryGet(Peer.V4, out _)), Is.True, "the peer in the ARP cache");
        }
    }

    /// <summary>
    /// Connects the non-blocking socket <paramref name="s"/> to the peer's <paramref name="port"/>,
    /// answers the kernel's SYN with a SYN-ACK offering <paramref name="mss"/> (sequence 7000,
    /// window 65535, no other option) and waits until the socket is writable (established).
    /// Returns the SYN.
    /// </summary>
    public SentSegment Open(int s, ushort port, ushort mss)
    {
        byte[] sa = V6 ? Inet6Tests.Sin6(Peer.V6, port) : UdpSocketTests.Sin(Peer.V4, port);
        Assert.That(Inet6Tests.Connect(K, s, sa), Is.EqualTo(-Abi.EINPROGRESS));
        Assert.That(KernelTest.Eventually(() => Segments().Exists(x => x.Flags == TcpPacket.FlagSyn)), Is.True, "our SYN on the wire");
        SentSegment syn = Segments().Find(x => x.Flags == TcpPacket.FlagSyn);
        SendTcp(new TcpHeader { SourcePort = port, DestinationPort = syn.SPort, Sequence = 7000, Acknowledgment = syn.Seq + 1, Flags = TcpPacket.FlagSyn | TcpPacket.FlagAck, Window = 65535 },
            new TcpOptions { HasMss = true, Mss = mss });
        Assert.That(Poll(K, s, Abi.POLLOUT, 10_000) & Abi.POLLOUT, Is.Not.EqualTo(0), "established");
        return syn;
    }

    public static short Poll(RumpKernel k, int fd, short events, int timeoutMs)
    {
        var p = new RumpPollfd { fd = fd, events = events };
        long r = k.Syscall(SysNum.poll, new long[] { (long)&p, 1, timeoutMs });
        Assert.That(r, Is.GreaterThanOrEqualTo(0), "poll failed: " + r);
        return p.revents;
    }
}
