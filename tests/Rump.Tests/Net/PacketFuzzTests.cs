using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// Hostile packets as normal input: a seeded fuzzer mutates valid frames (ARP, ICMP echo and
/// errors, UDP to bound and unbound ports, IPv4 fragments, TCP segments, IPv6) and injects them
/// into an Ethernet interface of a kernel. Mutations flip bytes, truncate, extend, and set length
/// and offset fields to edge values; half of them fix the checksums afterwards so the damage
/// reaches the parsers behind the checksum checks. Afterwards the kernel has not panicked,
/// packet buffers are not leaking, and legitimate traffic (an echo, a UDP datagram) still works.
/// The seed is in the test's name, so a failure replays exactly.
/// </summary>
public unsafe class PacketFuzzTests : KernelTest
{
    private static readonly Ipv4Addr A = new(10, 9, 0, 2), Peer = new(10, 9, 0, 1), Mask24 = new(255, 255, 255, 0);
    private const ulong OurMac = 0x02_00_00_00_09_02, PeerMac = 0x02_00_00_00_09_01;
    private const ushort BoundPort = 7777;
    private const int Batch = 64;

    private static byte[] Frame(ushort type, int payload, ulong dst = OurMac)
    {
        byte[] f = new byte[14 + payload];
        EthernetFrame.Emit(f, new EtherAddr(dst), new EtherAddr(PeerMac), type);
        return f;
    }

    private static byte[] Ipv4Frame(byte proto, ReadOnlySpan<byte> l4, int fragOff = 0, bool more = false, ushort id = 1, Ipv4Addr? dst = null)
    {
        byte[] f = Frame(EthernetFrame.TypeIpv4, 20 + l4.Length);
        Ipv4Packet.Emit(f.AsSpan(14), new Ipv4Header { Source = Peer, Destination = dst ?? A, Protocol = proto, Ttl = 64, Identification = id, FragmentOffset = fragOff, MoreFragments = more }, l4.Length);
        l4.CopyTo(f.AsSpan(34));
        return f;
    }

    private static byte[] Udp(ushort dport, int len)
    {
        byte[] u = new byte[8 + len];
        for (int i = 0; i < len; i++) u[8 + i] = (byte)i;
        UdpPacket.EmitV4(u, Peer, A, 4000, dport, len);
        return u;
    }

    private static byte[] Tcp(byte flags, int len = 0)
    {
        var h = new TcpHeader { SourcePort = 4001, DestinationPort = 80, Sequence = 1000, Acknowledgment = (flags & 0x10) != 0 ? 1u : 0u, Flags = flags, Window = 8192 };
        var o = new TcpOptions { HasMss = (flags & 0x02) != 0, Mss = 1460 };
        int hl = TcpPacket.HeaderLengthFor(o);
        byte[] t = new byte[hl + len];
        TcpPacket.EmitV4(t, Peer, A, h, o, len);
        return t;
    }

    /// <summary>The valid frames the mutations start from.</summary>
    private static List<byte[]> Corpus()
    {
        var c = new List<byte[]>();
        byte[] arp = Frame(EthernetFrame.TypeArp, 28, 0xffff_ffff_ffff);
        ArpPacket.Emit(arp.AsSpan(14), ArpPacket.OpRequest, new EtherAddr(PeerMac), Peer, default, A);
        c.Add(arp);
        byte[] arpr = Frame(EthernetFrame.TypeArp, 28);
        ArpPacket.Emit(arpr.AsSpan(14), ArpPacket.OpReply, new EtherAddr(PeerMac), Peer, new EtherAddr(OurMac), A);
        c.Add(arpr);
        byte[] echo = new byte[8 + 56];
        Icmpv4Packet.EmitEcho(echo, false, 7, 1, new byte[56]);
        c.Add(Ipv4Frame(1, echo));
        // An ICMP error quoting a UDP datagram we might have sent (reaches UDP's ctlinput).
        byte[] quoted = new byte[28];
        Ipv4Packet.Emit(quoted, new Ipv4Header { Source = A, Destination = Peer, Protocol = 17, Ttl = 64, Identification = 3 }, 8);
        UdpPacket.EmitV4(quoted.AsSpan(20), A, Peer, BoundPort, 9, 0);
        byte[] unreach = new byte[8 + quoted.Length];
        Icmpv4Packet.EmitError(unreach, 3, 3, 0, quoted);
        c.Add(Ipv4Frame(1, unreach));
        c.Add(Ipv4Frame(17, Udp(BoundPort, 40)));
        c.Add(Ipv4Frame(17, Udp(9, 12)));
        // The three fragments of one 1200-byte UDP datagram.
        byte[] big = Udp(BoundPort, 1192);
        c.Add(Ipv4Frame(17, big.AsSpan(0, 400), 0, true, 99));
        c.Add(Ipv4Frame(17, big.AsSpan(400, 400), 400, true, 99));
        c.Add(Ipv4Frame(17, big.AsSpan(800), 800, false, 99));
        c.Add(Ipv4Frame(6, Tcp(0x02)));          // SYN
        c.Add(Ipv4Frame(6, Tcp(0x10, 100)));     // ACK with data
        c.Add(Ipv4Frame(6, Tcp(0x04)));          // RST
        // IPv6 with an ICMPv6 echo request (dropped or answered, depending on what the kernel has).
        byte[] v6 = Frame(0x86dd, 40 + 16);
        v6[14] = 0x60; v6[14 + 4] = 0; v6[14 + 5] = 16; v6[14 + 6] = 58; v6[14 + 7] = 64;
        v6[14 + 8] = 0xfe; v6[14 + 9] = 0x80; v6[14 + 23] = 1;
        v6[14 + 24] = 0xfe; v6[14 + 25] = 0x80; v6[14 + 39] = 2;
        v6[54] = 128;
        c.Add(v6);
        return c;
    }

    /// <summary>Recomputes the IPv4 header checksum and, for an unfragmented UDP, TCP or ICMP datagram, its checksum, where the lengths allow.</summary>
    private static void FixChecksums(byte[] f)
    {
        if (f.Length < 34 || BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) != EthernetFrame.TypeIpv4) return;
        int ihl = (f[14] & 15) * 4;
        if (ihl < 20 || 14 + ihl > f.Length) return;
        f[24] = f[25] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(24), Checksum.Compute(f.AsSpan(14, ihl)));
        int total = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(16)), f.Length - 14);
        int l4len = total - ihl;
        ushort frag = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(20));
        if (l4len <= 0 || (frag & 0x3fff) != 0) return;
        Span<byte> l4 = f.AsSpan(14 + ihl, l4len);
        byte proto = f[23];
        int at = proto switch { 17 => 6, 6 => 16, 1 => 2, _ => -1 };
        if (at < 0 || l4len < at + 2) return;
        l4[at] = l4[at + 1] = 0;
        var src = new Ipv4Addr(f[26], f[27], f[28], f[29]);
        var dst = new Ipv4Addr(f[30], f[31], f[32], f[33]);
        ulong sum = proto == 1 ? 0 : Checksum.PseudoHeaderV4(src, dst, proto, l4len);
        ushort ck = Checksum.Finish(Checksum.Add(l4, sum));
        if (proto == 17 && ck == 0) ck = 0xffff;
        BinaryPrimitives.WriteUInt16BigEndian(l4.Slice(at), ck);
    }

    private static byte[] Mutate(Random r, byte[] template)
    {
        byte[] f = (byte[])template.Clone();
        switch (r.Next(6))
        {
            case 0: // a few bytes flipped in the headers
                for (int n = 1 + r.Next(4); n > 0; n--) f[14 + r.Next(Math.Min(f.Length - 14, 60))] ^= (byte)(1 + r.Next(255));
                break;
            case 1: // truncated anywhere
                Array.Resize(ref f, r.Next(f.Length));
                break;
            case 2: // extended with garbage
            {
                int old = f.Length;
                Array.Resize(ref f, Math.Min(1514, old + 1 + r.Next(200)));
                r.NextBytes(f.AsSpan(old));
                break;
            }
            case 3: // a 16-bit field (lengths, offsets, ports, ids) set to an edge value
            {
                ushort[] edges = { 0, 1, 7, 8, 19, 20, 21, 0x7fff, 0x8000, 0xfffe, 0xffff, (ushort)(f.Length - 14), (ushort)(f.Length - 13) };
                int at = 14 + 2 * r.Next(Math.Max(1, Math.Min(f.Length - 15, 60) / 2));
                if (at + 2 <= f.Length) BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(at), edges[r.Next(edges.Length)]);
                break;
            }
            case 4: // a random payload behind a valid Ethernet header
                r.NextBytes(f.AsSpan(14));
                break;
            default: // IPv4 header length and option bytes
                if (f.Length > 15) f[14] = (byte)(0x40 | r.Next(16));
                if (f.Length > 40) r.NextBytes(f.AsSpan(34, Math.Min(6, f.Length - 34)));
                break;
        }
        if (r.Next(2) == 0) FixChecksums(f);
        return f;
    }

    /// <summary>Feeds frames to the interface in batches from an interrupt context, each batch after the previous one was taken off the input queue (so nothing is lost to a full queue).</summary>
    private static void InjectAll(RumpKernel k, Ifnet ifp, IReadOnlyList<byte[]> frames)
    {
        for (int i = 0; i < frames.Count; i += Batch)
        {
            int from = i, to = Math.Min(frames.Count, i + Batch);
            byte[][] batch = new byte[to - from][];
            for (int j = from; j < to; j++) batch[j - from] = frames[j];
            EtherTestIf.Inject(k, ifp, batch);
            Assert.That(Eventually(() => ifp.InputQueueLength == 0 || k.Panicked), Is.True, "the input queue drains");
            if (k.Panicked) Assert.Fail($"the kernel panicked on the batch from frame {from}: {k.PanicMessage}");
        }
    }

    [TestCase(1), TestCase(2), TestCase(3)]
    public void MutatedFrames_NeverPanicOrLeak_AndLegitimateTrafficSurvives(int seed)
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        Rump.Net.Net n = inet.Net;
        var ifp = new EtherTestIf(k.Kernel, "eth0", OurMac);
        Assert.That(n.Attach(ifp), Is.EqualTo(0));
        Assert.That(inet.AddAddress(ifp, A, Mask24, default), Is.EqualTo(0));
        UdpPcb pcb = inet.Udp.Attach();
        pcb.RecvSpace = 4096;   // a few datagrams: the socket does not hold most of the pool
        Assert.That(inet.Udp.Bind(pcb, Ipv4Addr.Any, BoundPort), Is.EqualTo(0));

        List<byte[]> corpus = Corpus();
        var r = new Random(seed);
        var frames = new List<byte[]>();
        const int count = 20000;
        for (int i = 0; i < count; i++) frames.Add(Mutate(r, corpus[r.Next(corpus.Count)]));
        long errs0 = Interlocked.Read(ref ifp.InputErrors);
        InjectAll(k, ifp, frames);
        Assert.That(k.Panicked, Is.False, k.PanicMessage);
        Assert.That(Interlocked.Read(ref ifp.InputPackets) + Interlocked.Read(ref ifp.InputErrors) - errs0, Is.GreaterThan(count / 2), "most frames reached the interface's input");

        // Whatever the datagrams left at the UDP socket is read away, so the buffers come back.
        byte[] buf = new byte[2048];
        while (inet.Udp.Receive(pcb, buf, out _, out _, out _, out _) is 0 or Abi.ECONNREFUSED) { }

        // Legitimate traffic: ARP learns the peer, an echo is answered, a datagram arrives.
        ifp.Clear();
        InjectAll(k, ifp, new[] { corpus[1], corpus[2] });
        Assert.That(Eventually(() => ifp.SentCount >= 1), Is.True, "an echo reply after the fuzzing");
        EthernetFrame.Parse(ifp.Last, out EthernetFrame eth);
        Assert.That(Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That(Icmpv4Packet.Parse(ip.Payload, out Icmpv4Packet reply), Is.EqualTo(WireError.Ok));
        Assert.That((ip.Destination, reply.Type), Is.EqualTo((Peer, Icmpv4Packet.TypeEchoReply)));
        long dgrams = inet.Udp.State(pcb).Datagrams;
        InjectAll(k, ifp, new[] { corpus[4] });
        Assert.That(Eventually(() => inet.Udp.State(pcb).Datagrams == dgrams + 1), Is.True, "a UDP datagram after the fuzzing");
        Assert.That(inet.Udp.Receive(pcb, buf, out int got, out _, out Ipv4Addr from, out ushort sport), Is.EqualTo(0));
        Assert.That((got, from, sport), Is.EqualTo((40, Peer, (ushort)4000)));

        // Buffers: every one not back in the pool is held by reassembly (one per datagram) or by
        // ARP (packets waiting for a neighbour); one more would be a leak.
        Assert.That(n.Mbufs.Allocated, Is.LessThanOrEqualTo(MbufPool.MaxFree), "the pool's count is exact only while every buffer fits its free stack");
        long outstanding = n.Mbufs.Allocated - n.Mbufs.FreeCount;
        int reass = inet.Reass.Pending, arp = inet.ArpOf(ifp)!.Held;
        Assert.That(outstanding, Is.EqualTo(reass + arp), $"packet buffers outstanding: {outstanding}; reassembly holds {reass}, ARP {arp}");
    }

    [Test]
    public void EchoFloodFromSpoofedNeighbours_HoldsAtMostArpsBound()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        Rump.Net.Net n = inet.Net;
        var ifp = new EtherTestIf(k.Kernel, "eth0", OurMac);
        Assert.That(n.Attach(ifp), Is.EqualTo(0));
        Assert.That(inet.AddAddress(ifp, A, new Ipv4Addr(255, 255, 0, 0), default), Is.EqualTo(0));
        // 600 echo requests, each from another address of the /16 that never answers ARP: every
        // reply waits for its neighbour. Without a bound over all entries, 600 buffers stay pinned.
        var frames = new List<byte[]>();
        byte[] echo = new byte[8 + 56];
        Icmpv4Packet.EmitEcho(echo, false, 7, 1, new byte[56]);
        for (int i = 0; i < 600; i++)
        {
            byte[] f = Ipv4Frame(1, echo);
            f[28] = (byte)(9 + i / 250); f[29] = (byte)(1 + i % 250);   // source 10.9.x.y
            FixChecksums(f);
            frames.Add(f);
        }
        long dropped = Interlocked.Read(ref inet.Stats.ArpDropHeld);
        InjectAll(k, ifp, frames);
        ArpCache arp = inet.ArpOf(ifp)!;
        Assert.That(Eventually(() => arp.Held + Interlocked.Read(ref inet.Stats.ArpDropHeld) - dropped >= 600), Is.True,
            $"every reply held or dropped: held {arp.Held}, dropped {Interlocked.Read(ref inet.Stats.ArpDropHeld) - dropped}");
        Assert.That(arp.Held, Is.EqualTo(ArpCache.MaxHeld), "replies held for unresolved neighbours, at most ArpCache.MaxHeld");
        Assert.That(n.Mbufs.Allocated - n.Mbufs.FreeCount, Is.EqualTo(ArpCache.MaxHeld), "no other buffer is pinned");
    }

    // ---- TCP: a SYN flood at a listener, blind RSTs and SYNs on a live connection ----

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    /// <summary>A TCP segment from <paramref name="src"/>:<paramref name="sport"/> to A:<paramref name="dport"/> in a frame from the peer's MAC (off-link sources arrive through the gateway).</summary>
    private static byte[] TcpFrame(Ipv4Addr src, ushort sport, ushort dport, uint seq, uint ack, byte flags, ReadOnlySpan<byte> data = default, ushort window = 65535)
    {
        var h = new TcpHeader { SourcePort = sport, DestinationPort = dport, Sequence = seq, Acknowledgment = ack, Flags = flags, Window = window };
        var o = new TcpOptions { HasMss = (flags & TcpPacket.FlagSyn) != 0, Mss = 1460 };
        int hl = TcpPacket.HeaderLengthFor(o);
        byte[] f = Frame(EthernetFrame.TypeIpv4, 20 + hl + data.Length);
        Ipv4Packet.Emit(f.AsSpan(14), new Ipv4Header { Source = src, Destination = A, Protocol = 6, Ttl = 64, Identification = 5 }, hl + data.Length);
        data.CopyTo(f.AsSpan(34 + hl));
        TcpPacket.EmitV4(f.AsSpan(34), src, A, h, o, data.Length);
        return f;
    }

    /// <summary>The TCP segments the kernel sent to <paramref name="dport"/> since frame <paramref name="from"/>: (seq, ack, flags, payload).</summary>
    private static List<(uint seq, uint ack, byte flags, byte[] data)> SentTo(EtherTestIf ifp, ushort dport, int from = 0)
    {
        var r = new List<(uint, uint, byte, byte[])>();
        byte[][] fr = ifp.Frames();
        for (int i = from; i < fr.Length; i++)
        {
            if (EthernetFrame.Parse(fr[i], out EthernetFrame eth) != WireError.Ok || eth.EtherType != EthernetFrame.TypeIpv4) continue;
            if (Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip) != WireError.Ok || ip.Protocol != 6) continue;
            if (TcpPacket.ParseV4(ip.Payload, ip.Source, ip.Destination, out TcpPacket t) != WireError.Ok || t.DestinationPort != dport) continue;
            r.Add((t.Sequence, t.Acknowledgment, t.Flags, t.Payload.ToArray()));
        }
        return r;
    }

    /// <summary>A kernel with eth0 at A/24, the peer's MAC learned and the default route through it, and a TCP socket listening on A:80 with <paramref name="backlog"/>.</summary>
    private RumpKernel TcpSetup(int backlog, out EtherTestIf ifp, out int listener)
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        ifp = new EtherTestIf(k.Kernel, "eth0", OurMac);
        Assert.That(inet.Net.Attach(ifp), Is.EqualTo(0));
        Assert.That(inet.AddAddress(ifp, A, Mask24, default), Is.EqualTo(0));
        InjectAll(k, ifp, new[] { Corpus()[1] });   // the peer's ARP reply: its MAC is known
        Assert.That(inet.AddRoute(Ipv4Addr.Any, Ipv4Addr.Any, Peer), Is.EqualTo(0));
        listener = (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_STREAM, 0);
        Assert.That(UdpSocketTests.Bind(k, listener, UdpSocketTests.Sin(A, 80)), Is.EqualTo(0));
        Assert.That(Sys(k, SysNum.listen, listener, backlog), Is.EqualTo(0));
        return k;
    }

    private static int CountState(TcpStack stack, int netbsdState)
    {
        byte[] b = new byte[TcpPcbList.Read(stack, Span<byte>.Empty) + 64 * TcpPcbList.EntrySize];
        int len = Math.Min(TcpPcbList.Read(stack, b), b.Length), n = 0;
        for (int off = 0; off + TcpPcbList.EntrySize <= len; off += TcpPcbList.EntrySize)
            if (BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off)) == netbsdState) n++;
        return n;
    }

    /// <summary>
    /// A handshake from Peer:<paramref name="sport"/> (ISS <paramref name="iss"/>) to the listener,
    /// acknowledging the kernel's SYN-ACK; returns the kernel's ISS. Like a real client, the SYN is
    /// sent again each second (RFC 6298's initial RTO) until a SYN-ACK comes, for at most
    /// <paramref name="seconds"/>; fails if none comes.
    /// </summary>
    private static uint Handshake(RumpKernel k, EtherTestIf ifp, ushort sport, uint iss, int seconds = 1)
    {
        int mark = ifp.SentCount;
        (uint seq, uint ack, byte flags, byte[] data) synAck = default;
        bool GotSynAck()
        {
            foreach (var s in SentTo(ifp, sport, mark))
                if ((s.flags & (TcpPacket.FlagSyn | TcpPacket.FlagAck)) == (TcpPacket.FlagSyn | TcpPacket.FlagAck)) { synAck = s; return true; }
            return false;
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int attempt = 0; attempt < seconds && !GotSynAck(); attempt++)
        {
            InjectAll(k, ifp, new[] { TcpFrame(Peer, sport, 80, iss, 0, TcpPacket.FlagSyn) });
            var wait = System.Diagnostics.Stopwatch.StartNew();
            while (wait.ElapsedMilliseconds < 1000 && !GotSynAck()) Thread.Sleep(5);
        }
        if (!GotSynAck()) Assert.That(Eventually(GotSynAck), Is.True, $"a SYN-ACK to the real client's SYN from port {sport}, sent {seconds} times a second apart");
        Assert.That(synAck.ack, Is.EqualTo(iss + 1));
        InjectAll(k, ifp, new[] { TcpFrame(Peer, sport, 80, iss + 1, synAck.seq + 1, TcpPacket.FlagAck) });
        return synAck.seq;
    }

    [Test]
    public void SynFlood_EmbryonicConnectionsStayBounded_ThenARealClientConnects()
    {
        const int backlog = 8;
        RumpKernel k = TcpSetup(backlog, out EtherTestIf ifp, out int ls);
        TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;
        // 2000 SYNs from 500 spoofed off-link addresses that will never answer the SYN-ACKs.
        var flood = new List<byte[]>();
        for (int i = 0; i < 2000; i++)
            flood.Add(TcpFrame(new Ipv4Addr(198, 51, (byte)(i % 2), (byte)(1 + i % 250)), (ushort)(1024 + i), 80, (uint)(i * 7919), 0, TcpPacket.FlagSyn));
        InjectAll(k, ifp, flood);
        Assert.That(k.Panicked, Is.False, k.PanicMessage);
        // An empty input queue does not mean its last frames were through TCP: wait until every
        // SYN is accounted for (an embryo, or refused at the full queue).
        int embryos = 0;
        long dropped = 0, overflows = 0;
        bool all = Eventually(() =>
        {
            embryos = CountState(stack, 3);
            stack.Enter();
            dropped = stack.EmbryosDropped;
            overflows = stack.ListenOverflows;
            stack.Exit();
            return dropped + embryos + overflows == 2000L;
        });
        Assert.That(all, Is.True,
            $"every SYN made an embryo or was refused at the full queue: {embryos} left, {dropped} pushed out, {overflows} refused, of 2000");
        // sonewconn's limit: queued and embryonic connections within 3/2 of the backlog.
        Assert.That(embryos, Is.InRange(1, 3 * backlog / 2 + 1), "SYN_RECEIVED connections after the flood, bounded by the backlog");
        Assert.That(overflows, Is.GreaterThan(0), "the queue filled");
        Assert.That(CountState(stack, 4), Is.EqualTo(0), "none completed");
        Assert.That(ifp.SentCount, Is.LessThan(2000 + 50), "at most one SYN-ACK per SYN (and their retransmissions)");

        // A real client right after the flood: once the flood's embryos have waited a whole RTO
        // for their ACKs, its SYN (sent again each second, as a real client's) pushes out the
        // oldest, as NetBSD's SYN cache drops its oldest entry; it completes and is accepted.
        // Without that it would wait for the embryos' last SYN-ACK retransmission (~2 min).
        uint iss = Handshake(k, ifp, 40000, 5000, seconds: 8);
        stack.Enter();
        Assert.That(stack.EmbryosDropped, Is.GreaterThan(dropped), "a flood embryo was pushed out for the real client");
        stack.Exit();
        InjectAll(k, ifp, new[] { TcpFrame(Peer, 40000, 80, 5001, iss + 1, TcpPacket.FlagAck | TcpPacket.FlagPsh, "hello"u8) });
        int c = (int)Sys(k, SysNum.accept, ls, 0, 0);
        Assert.That(c, Is.GreaterThanOrEqualTo(0), "accept after the flood");
        byte[] buf = new byte[16];
        long n;
        fixed (byte* b = buf) n = Sys(k, SysNum.recvfrom, c, (long)b, buf.Length, 0, 0, 0);
        Assert.That(System.Text.Encoding.ASCII.GetString(buf, 0, (int)n), Is.EqualTo("hello"), "the real client's data");
        Assert.That(CountState(stack, 3), Is.LessThanOrEqualTo(3 * backlog / 2 + 1), "still bounded");
        Assert.That(CountState(stack, 4), Is.EqualTo(1), "the real client's connection is ESTABLISHED");
    }

    [Test]
    public void BlindRstsAndSyns_OnALiveConnection_ChallengeAcks_ConnectionSurvives_DataIdentical()
    {
        RumpKernel k = TcpSetup(4, out EtherTestIf ifp, out int ls);
        TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;
        const ushort sport = 40001;
        const uint iss = 100000;
        uint kiss = Handshake(k, ifp, sport, iss);
        int c = (int)Sys(k, SysNum.accept, ls, 0, 0);
        Assert.That(c, Is.GreaterThanOrEqualTo(0));
        uint rcvNxt = iss + 1, sndNxt = kiss + 1;   // what the kernel expects next, and what it sends next
        var got = new List<byte>();
        var sent = new List<byte>();
        byte[] buf = new byte[4096];

        void PeerSends(byte[] data)
        {
            InjectAll(k, ifp, new[] { TcpFrame(Peer, sport, 80, rcvNxt, sndNxt, TcpPacket.FlagAck | TcpPacket.FlagPsh, data) });
            rcvNxt += (uint)data.Length;
            sent.AddRange(data);
            int want = sent.Count;
            while (got.Count < want)
            {
                long n;
                fixed (byte* b = buf) n = Sys(k, SysNum.recvfrom, c, (long)b, buf.Length, 0, 0, 0);
                Assert.That(n, Is.GreaterThan(0), "recv on the live connection");
                got.AddRange(buf.AsSpan(0, (int)n).ToArray());
            }
        }

        int Acks(int from) { int a = 0; foreach (var s in SentTo(ifp, sport, from)) if (s.flags == TcpPacket.FlagAck && s.data.Length == 0) a++; return a; }

        TcpCb? tcb = null;
        stack.Enter();
        foreach (TcpCb t in stack.Pcbs.All) if (t.RemotePort == sport) tcb = t;
        stack.Exit();
        Assert.That(tcb, Is.Not.Null, "the connection's TCB");
        var rnd = new Random(5961);
        PeerSends(System.Text.Encoding.ASCII.GetBytes("first block of data;"));
        for (int round = 0; round < 20; round++)
        {
            int mark = ifp.SentCount;
            // RFC 5961 3.2: a RST outside the window is dropped without an answer ...
            uint far = rcvNxt + 0x40000000u + (uint)rnd.Next(1 << 20);
            InjectAll(k, ifp, new[] { TcpFrame(Peer, sport, 80, far, 0, TcpPacket.FlagRst) });
            // ... one in the window but not at RCV.NXT gets a challenge ACK ...
            InjectAll(k, ifp, new[] { TcpFrame(Peer, sport, 80, rcvNxt + 1 + (uint)rnd.Next(1000), 0, TcpPacket.FlagRst) });
            Assert.That(Eventually(() => Acks(mark) >= 1), Is.True, $"round {round}: a challenge ACK for the in-window RST");
            // ... and a SYN in a synchronized state, whatever its sequence number, gets one too (4.2).
            int mark2 = ifp.SentCount;
            InjectAll(k, ifp, new[] { TcpFrame(Peer, sport, 80, (uint)rnd.Next(), 0, TcpPacket.FlagSyn) });
            Assert.That(Eventually(() => Acks(mark2) >= 1), Is.True, $"round {round}: a challenge ACK for the SYN");
            Assert.That(Interlocked.Read(ref tcb!.ChallengeAcks), Is.EqualTo(2L * (round + 1)),
                "challenge ACKs: one for the in-window RST and one for the SYN each round, none for the RST outside the window");
            foreach (var s in SentTo(ifp, sport, mark))
            {
                Assert.That(s.flags & TcpPacket.FlagRst, Is.EqualTo(0), "the kernel never resets the live connection");
                if (s.flags == TcpPacket.FlagAck) Assert.That((s.seq, s.ack), Is.EqualTo((sndNxt, rcvNxt)), "a challenge ACK carries SND.NXT and RCV.NXT");
            }
            PeerSends(System.Text.Encoding.ASCII.GetBytes($"round {round} data;"));
        }
        Assert.That(got.ToArray(), Is.EqualTo(sent.ToArray()), "every byte the peer sent, in order, nothing injected");
        Assert.That(CountState(stack, 4), Is.EqualTo(1), "the connection is still ESTABLISHED");
        // And the kernel's side still sends: its data reaches the peer.
        int m3 = ifp.SentCount;
        byte[] reply = System.Text.Encoding.ASCII.GetBytes("still here");
        fixed (byte* b = reply) Assert.That(Sys(k, SysNum.sendto, c, (long)b, reply.Length, 0, 0, 0), Is.EqualTo(reply.Length));
        Assert.That(Eventually(() => SentTo(ifp, sport, m3).Exists(s => s.data.Length == reply.Length)), Is.True, "the kernel's data on the wire");
        var seg = SentTo(ifp, sport, m3).Find(s => s.data.Length == reply.Length);
        Assert.That((seg.seq, seg.data), Is.EqualTo((sndNxt, reply)));
    }
}
