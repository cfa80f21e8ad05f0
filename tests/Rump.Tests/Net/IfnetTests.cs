using System;
using System.Collections.Generic;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// Packet buffers and interfaces in a booted kernel: lo0 at boot, a packet built with the wire
/// builders in an mbuf's headroom looped back through lo0's input queue and soft interrupt to
/// the registered protocol, a driver's frames entering from a host thread through interrupt
/// context, the queue limit, the output checks, attach/detach rules, and a pool that stops
/// allocating once warm.
/// </summary>
public class IfnetTests : KernelTest
{
    private static Rump.Net.Net NetOf(RumpKernel k)
    {
        Rump.Net.Net? n = k.Kernel.GetService<Rump.Net.Net>();
        Assert.That(n, Is.Not.Null, "the net component is linked and published its Net");
        return n!;
    }

    /// <summary>A protocol input routine that records what reaches it (and frees the packets).</summary>
    private sealed class Sink
    {
        public int Count;
        public byte[]? Last;
        public Ifnet? LastIf;
        public int LastPid = -1;
        public bool LastHadCpu;
        public readonly ManualResetEventSlim Block = new(true);
        public int Entered;

        public void Input(Lwp l, Mbuf m)
        {
            Interlocked.Increment(ref Entered);
            Block.Wait();
            Last = m.Bytes.ToArray();
            LastIf = m.RcvIf;
            LastPid = l.Proc.Pid;
            LastHadCpu = l.CpuIdx >= 0;
            m.Free();
            Interlocked.Increment(ref Count);
        }
    }

    /// <summary>An Ethernet-less driver that records what it is asked to send.</summary>
    private sealed class TestIf : Ifnet
    {
        public int Sent;
        public byte[]? LastSent;
        /// <summary>The length of every packet sent (IPv6 sends its own when the interface comes up).</summary>
        public readonly List<int> Lengths = new();
        public TestIf(Kernel k, string name) : base(k, name, IFT_ETHER, 1500, IFF_UP | IFF_RUNNING | IFF_BROADCAST, new EtherAddr(0x02_00_00_00_00_99)) { }
        protected override int Transmit(Mbuf m)
        {
            lock (Lengths) { Sent++; LastSent = m.Bytes.ToArray(); Lengths.Add(m.Length); }
            m.Free();
            return 0;
        }
    }

    private static readonly Ipv4Addr Localhost = new(127, 0, 0, 1);

    /// <summary>An ICMP echo request to 127.0.0.1 built in place: payload appended, headers prepended.</summary>
    private static Mbuf EchoPacket(Rump.Net.Net n, ushort seq, int dataLen = 32)
    {
        Mbuf m = n.Mbufs.Get(Ipv4Packet.MinHeaderSize + Icmpv4Packet.HeaderSize + dataLen)!;
        Span<byte> data = stackalloc byte[dataLen];
        data.Fill((byte)seq);
        Span<byte> icmp = m.Append(Icmpv4Packet.HeaderSize + dataLen);
        Assert.That(Icmpv4Packet.EmitEcho(icmp, false, 0x4242, seq, data), Is.EqualTo(icmp.Length));
        Span<byte> ip = m.Prepend(Ipv4Packet.MinHeaderSize);
        var h = new Ipv4Header { Source = Localhost, Destination = Localhost, Protocol = Ipv4Packet.ProtoIcmp, Ttl = 64 };
        Assert.That(Ipv4Packet.Emit(ip, h, icmp.Length), Is.EqualTo(20));
        m.Protocol = EthernetFrame.TypeIpv4;
        return m;
    }


    [Test]
    public void Lo0IsAttachedAndUpAtBoot()
    {
        Rump.Net.Net n = NetOf(Boot());
        Ifnet lo = n.Lo0;
        Assert.That((lo.Name, lo.Index, lo.Mtu, lo.Type), Is.EqualTo(("lo0", 1, 33184, Ifnet.IFT_LOOP)));
        Assert.That(lo.Flags & (Ifnet.IFF_UP | Ifnet.IFF_RUNNING | Ifnet.IFF_LOOPBACK | Ifnet.IFF_MULTICAST),
            Is.EqualTo(Ifnet.IFF_UP | Ifnet.IFF_RUNNING | Ifnet.IFF_LOOPBACK | Ifnet.IFF_MULTICAST));
        Assert.That(n.Find("lo0"), Is.SameAs(lo));
        Assert.That(n.Find("lo1"), Is.Null);
        Assert.That(n.Interfaces(), Is.EqualTo(new Ifnet[] { lo }));
    }

    [Test]
    public void Lo0LoopsAPacketBackToItsProtocolInASoftInterrupt()
    {
        RumpKernel k = Boot(ncpu: 2);
        Rump.Net.Net n = NetOf(k);
        var sink = new Sink();
        n.SetProtocolInput(EthernetFrame.TypeIpv4, sink.Input);
        Assert.That(n.Lo0.Output(EchoPacket(n, 9)), Is.EqualTo(0));
        WaitFor(() => Volatile.Read(ref sink.Count) == 1, "the packet at the IPv4 input routine");

        Assert.That(sink.LastIf, Is.SameAs(n.Lo0), "received on lo0");
        Assert.That(sink.LastPid, Is.EqualTo(0), "in a kernel thread (proc0)");
        Assert.That(sink.LastHadCpu, Is.True, "on a virtual CPU");
        Assert.That(Ipv4Packet.Parse(sink.Last, out Ipv4Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That((ip.Source, ip.Destination, ip.Protocol), Is.EqualTo((Localhost, Localhost, Ipv4Packet.ProtoIcmp)));
        Assert.That(Icmpv4Packet.Parse(ip.Payload, out Icmpv4Packet icmp), Is.EqualTo(WireError.Ok));
        Assert.That((icmp.Type, icmp.Identifier, icmp.Sequence, icmp.Data.Length), Is.EqualTo((Icmpv4Packet.TypeEcho, (ushort)0x4242, (ushort)9, 32)));
        Assert.That((n.Lo0.OutputPackets, n.Lo0.InputPackets, n.Lo0.OutputBytes), Is.EqualTo((1L, 1L, 60L)));
    }

    [Test]
    public void SteadyTrafficAllocatesNoBuffers()
    {
        RumpKernel k = Boot(ncpu: 2);
        Rump.Net.Net n = NetOf(k);
        var sink = new Sink();
        n.SetProtocolInput(EthernetFrame.TypeIpv4, sink.Input);
        // Warm up: as many buffers held at once as a batch below can have in flight (the soft
        // interrupt may free some while the batch is still being sent, or none).
        var held = new Mbuf[64];
        for (int i = 0; i < held.Length; i++) held[i] = n.Mbufs.Get(100)!;
        foreach (Mbuf h in held) h.Free();
        for (int i = 0; i < 64; i++) Assert.That(n.Lo0.Output(EchoPacket(n, (ushort)i)), Is.EqualTo(0));
        WaitFor(() => Volatile.Read(ref sink.Count) == 64, "the warm-up batch delivered");
        long made = n.Mbufs.Allocated;
        int free = n.Mbufs.FreeCount;
        for (int batch = 0; batch < 30; batch++)
        {
            for (int i = 0; i < 64; i++) n.Lo0.Output(EchoPacket(n, (ushort)i));
            int want = 64 * (batch + 2);
            WaitFor(() => Volatile.Read(ref sink.Count) == want, want + " packets delivered");
        }
        Assert.That(n.Mbufs.Allocated, Is.EqualTo(made), "buffers made after the warm-up (each packet should reuse a pooled one)");
        Assert.That(n.Mbufs.FreeCount, Is.EqualTo(free), "every buffer back in the pool");
        Assert.That(n.Lo0.InputDrops, Is.EqualTo(0));
    }

    [Test]
    public void DriverFramesEnterFromAHostThreadThroughInterruptContext()
    {
        RumpKernel k = Boot(ncpu: 2);
        Rump.Net.Net n = NetOf(k);
        var sink = new Sink();
        n.SetProtocolInput(EthernetFrame.TypeIpv6, sink.Input);
        var ifp = new TestIf(k.Kernel, "test0");
        Assert.That(n.Attach(ifp), Is.EqualTo(0));
        Assert.That(ifp.Index, Is.EqualTo(2));
        // As a driver's receive thread does: enter the kernel, fill a buffer, hand it in.
        var t = new Thread(() =>
        {
            using IntrContext ic = k.Kernel.EnterInterrupt();
            Mbuf m = n.Mbufs.Get(40)!;
            m.Append(40).Fill(0x60);
            m.Protocol = EthernetFrame.TypeIpv6;
            ifp.Input(m);
        });
        t.Start();
        t.Join();
        WaitFor(() => Volatile.Read(ref sink.Count) == 1, "the frame at the IPv6 input routine");
        Assert.That(sink.LastIf, Is.SameAs(ifp));
        Assert.That(sink.Last, Has.Length.EqualTo(40));
    }

    [Test]
    public void UnknownProtocolIsDroppedAndCounted()
    {
        RumpKernel k = Boot();
        Rump.Net.Net n = NetOf(k);
        Mbuf m = n.Mbufs.Get(10)!;
        m.Append(10);
        m.Protocol = 0x88b5; // IEEE local experimental: nobody's
        int free = n.Mbufs.FreeCount;
        Assert.That(n.Lo0.Output(m), Is.EqualTo(0));
        WaitFor(() => Interlocked.Read(ref n.Lo0.UnknownProtocol) == 1, "the packet counted as of an unknown protocol");
        Assert.That(n.Mbufs.FreeCount, Is.EqualTo(free + 1), "its buffer back in the pool");
    }

    [Test]
    public void OutputRefusesADownInterfaceAndOversizedPackets()
    {
        RumpKernel k = Boot();
        Rump.Net.Net n = NetOf(k);
        var ifp = new TestIf(k.Kernel, "test0");
        n.Attach(ifp);
        int free = n.Mbufs.FreeCount;
        Mbuf big = n.Mbufs.Get(1501)!;
        big.Append(1501);
        Mbuf small = n.Mbufs.Get(10)!;
        small.Append(10);
        Assert.That(ifp.Output(big), Is.EqualTo(Abi.EMSGSIZE));
        ifp.SetFlags(0, Ifnet.IFF_UP);
        Assert.That(ifp.Output(small), Is.EqualTo(Abi.ENETDOWN));
        Assert.That(ifp.OutputErrors, Is.EqualTo(2L));
        lock (ifp.Lengths) Assert.That(ifp.Lengths, Has.No.Member(1501).And.No.Member(10), "a refused packet went out");
        Assert.That(n.Mbufs.FreeCount, Is.EqualTo(free + 2), "refused packets are freed");
        ifp.SetFlags(Ifnet.IFF_UP, 0);
        Mbuf ok = n.Mbufs.Get(1500)!;
        ok.Append(1500);
        Assert.That(ifp.Output(ok), Is.EqualTo(0));
        // Up again, IPv6 may send its own packets (MLD, DAD) on it meanwhile: ours is among them, and each is counted.
        lock (ifp.Lengths)
        {
            Assert.That(ifp.Lengths, Does.Contain(1500), "the 1500-byte packet went out");
            long bytes = 0;
            foreach (int len in ifp.Lengths) bytes += len;
            Assert.That((ifp.OutputPackets, ifp.OutputBytes), Is.EqualTo(((long)ifp.Sent, bytes)), "packets and bytes counted as sent");
        }
    }

    [Test]
    public void AttachNeedsAFreeNameAndDetachStopsInput()
    {
        RumpKernel k = Boot();
        Rump.Net.Net n = NetOf(k);
        var a = new TestIf(k.Kernel, "test0");
        Assert.That(n.Attach(a), Is.EqualTo(0));
        Assert.That(n.Attach(new TestIf(k.Kernel, "test0")), Is.EqualTo(Abi.EEXIST));
        Assert.That(n.Attach(a), Is.EqualTo(Abi.EBUSY), "attached twice");
        Assert.That(n.Detach(a), Is.EqualTo(0));
        Assert.That(n.Find("test0"), Is.Null);
        Assert.That(a.IsUp, Is.False, "a detached interface is down");
        int free = n.Mbufs.FreeCount;
        Mbuf m = n.Mbufs.Get(10)!;
        m.Append(10);
        a.Input(m);
        Assert.That(a.InputDrops, Is.EqualTo(1), "input after detach is dropped");
        Assert.That(n.Mbufs.FreeCount, Is.EqualTo(free + 1));
        Assert.That(n.Detach(a), Is.EqualTo(Abi.ENXIO));
        var b = new TestIf(k.Kernel, "test1");
        Assert.That(n.Attach(b), Is.EqualTo(0));
        Assert.That(b.Index, Is.EqualTo(3), "indexes are not reused");
    }

    [Test]
    public void AFullInputQueueDropsAndCounts()
    {
        RumpKernel k = Boot(ncpu: 2);
        Rump.Net.Net n = NetOf(k);
        var sink = new Sink();
        n.SetProtocolInput(EthernetFrame.TypeIpv4, sink.Input);
        sink.Block.Reset();
        try
        {
            // The first packet is taken by the soft interrupt, which then waits in the sink.
            Assert.That(n.Lo0.Output(EchoPacket(n, 0)), Is.EqualTo(0));
            WaitFor(() => Volatile.Read(ref sink.Entered) == 1, "the soft interrupt inside the input routine");
            for (int i = 0; i < Ifnet.DefaultInputQueueLimit + 5; i++) n.Lo0.Output(EchoPacket(n, 1));
            Assert.That(n.Lo0.InputQueueLength, Is.EqualTo(Ifnet.DefaultInputQueueLimit));
            Assert.That(n.Lo0.InputDrops, Is.EqualTo(5), "packets past the queue's limit");
        }
        finally { sink.Block.Set(); }
        WaitFor(() => Volatile.Read(ref sink.Count) == 1 + Ifnet.DefaultInputQueueLimit, "the queued packets delivered");
    }

    [Test]
    public void MbufHeadroomAppendAndTrim()
    {
        Rump.Net.Net n = NetOf(Boot());
        Mbuf m = n.Mbufs.Get(100)!;
        Assert.That((m.LeadingSpace, m.Length, m.Capacity), Is.EqualTo((Mbuf.Headroom, 0, MbufPool.ClusterSize)));
        Assert.That(m.Append("payload"u8), Is.True);
        Assert.That(m.Prepend(Mbuf.Headroom + 1).Length, Is.EqualTo(0), "more than the headroom");
        Span<byte> eth = m.Prepend(14);
        Assert.That(eth.Length, Is.EqualTo(14));
        eth.Fill(0xee);
        Assert.That(m.Length, Is.EqualTo(21));
        m.TrimFront(14);
        Assert.That(m.Bytes.SequenceEqual("payload"u8), Is.True);
        m.TrimTo(3);
        Assert.That(m.Bytes.SequenceEqual("pay"u8), Is.True);
        Assert.That(m.Append(m.TrailingSpace + 1).Length, Is.EqualTo(0), "past the end of the buffer");
        m.Free();
        Assert.That(n.Mbufs.Get(70000), Is.Null, "larger than any size class");
        Mbuf large = n.Mbufs.Get(9000)!;
        Assert.That(large.Capacity, Is.EqualTo(MbufPool.LargeSize));
        large.Free();
        Mbuf again = n.Mbufs.Get(9000)!;
        Assert.That(again, Is.SameAs(large), "the freed buffer is reused");
        Assert.That((again.Length, again.LeadingSpace, again.RcvIf), Is.EqualTo((0, Mbuf.Headroom, (Ifnet?)null)), "and comes back reset");
    }

    [Test]
    public void HaltDetachesEveryInterface()
    {
        RumpKernel k = Boot(ncpu: 2);
        Rump.Net.Net n = NetOf(k);
        var sink = new Sink();
        n.SetProtocolInput(EthernetFrame.TypeIpv4, sink.Input);
        n.Lo0.Output(EchoPacket(n, 1));
        WaitFor(() => Volatile.Read(ref sink.Count) == 1, "a packet through lo0 (its soft interrupt exists)");
        Assert.That(k.Reboot(Abi.RB_NOSYNC), Is.EqualTo(0));
        Assert.That(n.Interfaces(), Is.Empty);
        Assert.That(n.Lo0.IsUp, Is.False);
    }

    [Test]
    public void EtherInputSortsFramesAndEtherOutputFramesPackets()
    {
        RumpKernel k = Boot(ncpu: 2);
        Rump.Net.Net n = NetOf(k);
        var v4 = new Sink();
        var arp = new Sink();
        var flags = new System.Collections.Concurrent.ConcurrentQueue<byte>();
        n.SetProtocolInput(EthernetFrame.TypeIpv4, v4.Input);
        n.SetProtocolInput(EthernetFrame.TypeArp, (l, m) => { flags.Enqueue(m.Flags); arp.Input(l, m); });
        var ifp = new TestIf(k.Kernel, "test0");
        n.Attach(ifp);
        EtherAddr other = new(0x02_00_00_00_00_42);

        Mbuf Frame(EtherAddr dst, ushort type, int payload, int cut = -1)
        {
            Mbuf m = n.Mbufs.Get(14 + payload, 0)!;
            Span<byte> f = m.Append(14 + payload);
            EthernetFrame.Emit(f, dst, other, type);
            f.Slice(14).Fill(0x45);
            if (cut >= 0) m.TrimTo(cut);
            return m;
        }
        using (k.Kernel.EnterInterrupt())
        {
            Ether.EtherInput(ifp, Frame(ifp.LinkAddr, EthernetFrame.TypeIpv4, 46));    // ours
            Ether.EtherInput(ifp, Frame(EtherAddr.Broadcast, EthernetFrame.TypeArp, 46)); // broadcast
            Ether.EtherInput(ifp, Frame(other, EthernetFrame.TypeIpv4, 46));          // another station's
            Ether.EtherInput(ifp, Frame(ifp.LinkAddr, EthernetFrame.TypeIpv4, 46, 13)); // cut inside the header
            Ether.EtherInput(ifp, Frame(ifp.LinkAddr, 0x0100, 46));                   // an 802.3 length
        }
        WaitFor(() => Volatile.Read(ref v4.Count) == 1 && Volatile.Read(ref arp.Count) == 1, "the two frames for us at their protocols");
        Assert.That(v4.Last, Has.Length.EqualTo(46), "the Ethernet header is stripped");
        Assert.That(flags.TryDequeue(out byte fl) && fl == Mbuf.FlagBroadcast, Is.True, "the broadcast is marked");
        Assert.That((ifp.InputErrors, ifp.InputPackets), Is.EqualTo((2L, 2L)), "two bad frames, two queued");

        Mbuf o = n.Mbufs.Get(100)!;
        o.Append(100).Fill(7);
        o.Protocol = EthernetFrame.TypeIpv6;
        Assert.That(Ether.EtherOutput(ifp, o, other), Is.EqualTo(0));
        Assert.That(EthernetFrame.Parse(ifp.LastSent, out EthernetFrame ef), Is.EqualTo(WireError.Ok));
        Assert.That((ef.Destination, ef.Source, ef.EtherType, ef.Payload.Length), Is.EqualTo((other, ifp.LinkAddr, EthernetFrame.TypeIpv6, 100)));
        Mbuf noRoom = n.Mbufs.Get(10, 0)!;
        noRoom.Append(10);
        Assert.That(Ether.EtherOutput(ifp, noRoom, other), Is.EqualTo(Abi.ENOBUFS), "no headroom for the header");
        Mbuf big = n.Mbufs.Get(1501)!;
        big.Append(1501);
        Assert.That(Ether.EtherOutput(ifp, big, other), Is.EqualTo(Abi.EMSGSIZE), "the MTU is about the payload");
        Assert.That((ifp.OutputPackets, ifp.OutputErrors), Is.EqualTo((1L, 2L)));
    }
}
