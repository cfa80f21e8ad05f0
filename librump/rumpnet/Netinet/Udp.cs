using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// A UDP protocol control block (NetBSD's inpcb for UDP): the local and foreign address and
/// port, the socket options UDP looks at, the pending error (so_error), and the queue of
/// received datagrams that the socket layer reads. The socket layer (to come) keeps one per
/// UDP socket and sets <see cref="Upcall"/> to hear that the PCB became readable.
/// All fields are protected by <see cref="Udp"/>'s lock.
/// </summary>
public sealed class UdpPcb
{
    // NetBSD's socket.h option bits.
    public const int SO_REUSEADDR = 0x0004, SO_BROADCAST = 0x0020, SO_REUSEPORT = 0x0200;
    /// <summary>Bytes of queued datagrams a PCB holds before it drops (NetBSD's udp_recvspace).</summary>
    public const int DefaultRecvSpace = 40 * (1024 + 16);

    public Ipv4Addr LocalAddr { get; internal set; }
    public ushort LocalPort { get; internal set; }
    public Ipv4Addr ForeignAddr { get; internal set; }
    public ushort ForeignPort { get; internal set; }
    public bool IsConnected => ForeignPort != 0;
    public int Options;
    public int RecvSpace = DefaultRecvSpace;
    /// <summary>Called (with no lock held, in the soft interrupt) when a datagram or an error arrives.</summary>
    public Action<UdpPcb>? Upcall;
    /// <summary>
    /// The interface a limited broadcast from this PCB leaves by, with its source address as
    /// bound (0.0.0.0 allowed): the kernel's DHCP client, before the interface has an address.
    /// </summary>
    public Ifnet? OutIf { get; internal set; }
    /// <summary>The socket of a PCB made by <see cref="UdpProto"/>: datagrams and errors go to it instead of <see cref="Received"/>.</summary>
    public Socket? So;

    internal int Error;
    internal bool Detached;
    internal readonly Queue<(Ipv4Addr Src, ushort Port, Mbuf Data)> Received = new();
    internal int QueuedBytes;
}

/// <summary>
/// UDP (RFC 768, RFC 1122 4.1; NetBSD udp_usrreq.c, in_pcb.c): PCBs with bind (port sharing by
/// SO_REUSEADDR and SO_REUSEPORT as NetBSD's in_pcbbind), connect, anonymous ports from NetBSD's
/// range 49152-65535, checksums (always sent; zero on input means none), delivery of a unicast
/// datagram to the best-matching PCB and of a broadcast one to every matching PCB, and ICMP
/// port unreachable when nobody listens. ICMP errors reach connected PCBs as their pending error.
///
/// Locks: <see cref="_lock"/> protects the PCB list and every PCB's fields and queue. It is a
/// leaf: packets are sent and upcalls made after it is released.
/// </summary>
public sealed class Udp
{
    public const ushort AnonPortMin = 49152, AnonPortMax = 65535;
    public const int MaxPayload = 0xffff - Ipv4Packet.MinHeaderSize - UdpPacket.HeaderSize;

    private readonly Inet _in;
    private readonly KMutex _lock;
    private readonly List<UdpPcb> _pcbs = new();
    private ushort _nextAnon = AnonPortMin;

    internal Udp(Inet inet)
    {
        _in = inet;
        _lock = new KMutex(inet.Kernel);
    }

    private InetStats S => _in.Stats;

    public UdpPcb Attach()
    {
        var p = new UdpPcb();
        _lock.Enter();
        _pcbs.Add(p);
        _lock.Exit();
        return p;
    }

    /// <summary>Closes the PCB: its queued datagrams are freed, nothing more is delivered to it.</summary>
    public void Detach(UdpPcb p)
    {
        _lock.Enter();
        _pcbs.Remove(p);
        p.Detached = true;
        var q = p.Received.ToArray();
        p.Received.Clear();
        p.QueuedBytes = 0;
        _lock.Exit();
        foreach (var d in q) d.Data.Free();
    }

    /// <summary>
    /// Binds <paramref name="p"/> to <paramref name="addr"/>:<paramref name="port"/> (port 0: an
    /// anonymous one). EINVAL if already bound, EADDRNOTAVAIL for an address not ours,
    /// EADDRINUSE if the port is taken and the options do not allow sharing it.
    /// </summary>
    public int Bind(UdpPcb p, Ipv4Addr addr, ushort port)
    {
        if (addr != Ipv4Addr.Any && !addr.IsMulticast && addr != Ipv4Addr.Broadcast && _in.FindAddress(addr) == null)
            return Abi.EADDRNOTAVAIL;
        _lock.Enter();
        try { return BindLocked(p, addr, port); }
        finally { _lock.Exit(); }
    }

    private int BindLocked(UdpPcb p, Ipv4Addr addr, ushort port)
    {
        if (p.Detached) return Abi.EINVAL;
        if (p.LocalPort != 0) return Abi.EINVAL;
        if (port == 0)
        {
            for (int n = 0; n <= AnonPortMax - AnonPortMin; n++)
            {
                ushort cand = _nextAnon;
                _nextAnon = cand == AnonPortMax ? AnonPortMin : (ushort)(cand + 1);
                if (!PortTakenLocked(null, addr, cand, 0)) { port = cand; break; }
            }
            if (port == 0) return Abi.EAGAIN;
        }
        else if (PortTakenLocked(p, addr, port, p.Options)) return Abi.EADDRINUSE;
        p.LocalAddr = addr;
        p.LocalPort = port;
        return 0;
    }

    /// <summary>
    /// Whether binding <paramref name="addr"/>:<paramref name="port"/> with <paramref name="opts"/>
    /// collides (NetBSD in_pcbbind_port): two PCBs share a port if both set SO_REUSEPORT, or if
    /// their local addresses differ and neither is the wildcard, or, with SO_REUSEADDR, if one
    /// of them is the wildcard and the other a specific address.
    /// </summary>
    private bool PortTakenLocked(UdpPcb? self, Ipv4Addr addr, ushort port, int opts)
    {
        foreach (UdpPcb o in _pcbs)
        {
            if (o == self || o.LocalPort != port) continue;
            if ((opts & o.Options & UdpPcb.SO_REUSEPORT) != 0) continue;
            if (addr == o.LocalAddr) return true;
            if (addr != Ipv4Addr.Any && o.LocalAddr != Ipv4Addr.Any) continue;
            if ((opts & (UdpPcb.SO_REUSEADDR | UdpPcb.SO_REUSEPORT)) != 0 && (addr == Ipv4Addr.Any) != (o.LocalAddr == Ipv4Addr.Any)) continue;
            return true;
        }
        return false;
    }

    /// <summary>Connects (fixes the foreign end; binds an anonymous port first if unbound). A foreign address of 0.0.0.0 disconnects (NetBSD's AF_UNSPEC connect).</summary>
    public int Connect(UdpPcb p, Ipv4Addr addr, ushort port)
    {
        if (addr == Ipv4Addr.Any)
        {
            _lock.Enter();
            p.ForeignAddr = default;
            p.ForeignPort = 0;
            _lock.Exit();
            return 0;
        }
        if (port == 0) return Abi.EADDRNOTAVAIL;
        if (addr == Ipv4Addr.Broadcast && (p.Options & UdpPcb.SO_BROADCAST) == 0) return Abi.EACCES;
        int e = _in.SelectSource(addr, out Ipv4Addr src);
        if (e != 0) return e;
        _lock.Enter();
        try
        {
            if (p.LocalPort == 0 && (e = BindLocked(p, Ipv4Addr.Any, 0)) != 0) return e;
            // NetBSD fixes the local address at connect, so replies from elsewhere do not match.
            if (p.LocalAddr == Ipv4Addr.Any) p.LocalAddr = src;
            p.ForeignAddr = addr;
            p.ForeignPort = port;
            return 0;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>
    /// Sends <paramref name="data"/> as one datagram to <paramref name="dst"/>:<paramref name="dstPort"/>
    /// (null: the connected peer). EISCONN with a destination on a connected PCB, ENOTCONN without
    /// either, EMSGSIZE past 65507 bytes, EACCES to a broadcast address without SO_BROADCAST,
    /// and the routing and link errors of IP output.
    /// </summary>
    public int Send(UdpPcb p, ReadOnlySpan<byte> data, Ipv4Addr? dst = null, ushort dstPort = 0)
    {
        if (data.Length > MaxPayload) return Abi.EMSGSIZE;
        int e = Route(p, dst, dstPort, out Ipv4Addr laddr, out ushort lport, out Ipv4Addr faddr, out ushort fport, out int opts, out Ifnet? outIf);
        if (e != 0) return e;
        Mbuf? m = _in.Net.Mbufs.Get(UdpPacket.HeaderSize + data.Length);
        if (m == null) return Abi.ENOBUFS;
        Span<byte> d = m.Append(UdpPacket.HeaderSize + data.Length);
        data.CopyTo(d.Slice(UdpPacket.HeaderSize));
        UdpPacket.EmitV4(d, laddr, faddr, lport, fport, data.Length);
        Interlocked.Increment(ref S.UdpOut);
        return _in.Ip.Output(m, laddr, faddr, Ipv4Packet.ProtoUdp, (opts & UdpPcb.SO_BROADCAST) != 0 ? Ip.AllowBroadcast : 0, outIf: outIf);
    }

    /// <summary>
    /// As <see cref="Send(UdpPcb, ReadOnlySpan{byte}, Ipv4Addr?, ushort)"/> for the socket layer's
    /// mbuf (null: an empty datagram), whose headroom takes the UDP header when it can. Consumes m.
    /// </summary>
    public int Send(UdpPcb p, Mbuf? m, Ipv4Addr? dst, ushort dstPort)
    {
        if (m == null) return Send(p, ReadOnlySpan<byte>.Empty, dst, dstPort);
        if (m.LeadingSpace < UdpPacket.HeaderSize + Ipv4Packet.MinHeaderSize + EthernetFrame.HeaderSize)
        {
            int r = Send(p, m.Bytes, dst, dstPort);
            m.Free();
            return r;
        }
        if (m.Length > MaxPayload) { m.Free(); return Abi.EMSGSIZE; }
        int e = Route(p, dst, dstPort, out Ipv4Addr laddr, out ushort lport, out Ipv4Addr faddr, out ushort fport, out int opts, out Ifnet? outIf);
        if (e != 0) { m.Free(); return e; }
        int len = m.Length;
        m.Prepend(UdpPacket.HeaderSize);
        Span<byte> d = m.Bytes;
        UdpPacket.EmitV4(d, laddr, faddr, lport, fport, len);
        Interlocked.Increment(ref S.UdpOut);
        return _in.Ip.Output(m, laddr, faddr, Ipv4Packet.ProtoUdp, (opts & UdpPcb.SO_BROADCAST) != 0 ? Ip.AllowBroadcast : 0, outIf: outIf);
    }

    /// <summary>The addresses and ports a datagram from <paramref name="p"/> goes with (binding an anonymous port if needed).</summary>
    private int Route(UdpPcb p, Ipv4Addr? dst, ushort dstPort, out Ipv4Addr laddr, out ushort lport, out Ipv4Addr faddr, out ushort fport, out int opts, out Ifnet? outIf)
    {
        laddr = faddr = default;
        lport = fport = 0;
        opts = 0;
        outIf = null;
        _lock.Enter();
        try
        {
            if (dst != null && p.IsConnected) return Abi.EISCONN;
            if (dst == null && !p.IsConnected) return Abi.ENOTCONN;
            if (p.LocalPort == 0)
            {
                int e = BindLocked(p, Ipv4Addr.Any, 0);
                if (e != 0) return e;
            }
            faddr = dst ?? p.ForeignAddr;
            fport = dst != null ? dstPort : p.ForeignPort;
            laddr = p.LocalAddr;
            lport = p.LocalPort;
            opts = p.Options;
            if (faddr == Ipv4Addr.Broadcast) outIf = p.OutIf;
        }
        finally { _lock.Exit(); }
        if (fport == 0) return Abi.EADDRNOTAVAIL;
        if (outIf != null) return 0; // the bound interface's broadcast goes from the bound address, even 0.0.0.0
        if (laddr == Ipv4Addr.Any || laddr.IsMulticast) return _in.SelectSource(faddr, out laddr);
        return 0;
    }

    /// <summary>
    /// Takes the oldest datagram into <paramref name="buf"/> (the rest of a longer one is lost,
    /// as recvfrom does, and <paramref name="length"/> says how long it was). A pending error is
    /// returned first, once. EWOULDBLOCK when nothing is queued.
    /// </summary>
    public int Receive(UdpPcb p, Span<byte> buf, out int copied, out int length, out Ipv4Addr src, out ushort srcPort)
    {
        copied = length = 0;
        src = default;
        srcPort = 0;
        Mbuf m;
        _lock.Enter();
        if (p.Error != 0)
        {
            int err = p.Error;
            p.Error = 0;
            _lock.Exit();
            return err;
        }
        if (!p.Received.TryDequeue(out var d))
        {
            _lock.Exit();
            return Abi.EWOULDBLOCK;
        }
        p.QueuedBytes -= d.Data.Length;
        _lock.Exit();
        m = d.Data;
        src = d.Src;
        srcPort = d.Port;
        length = m.Length;
        copied = Math.Min(buf.Length, length);
        m.Bytes.Slice(0, copied).CopyTo(buf);
        m.Free();
        return 0;
    }

    /// <summary>The entries of net.inet.udp.pcblist (<see cref="UdpPcbList"/>) that fit in <paramref name="dst"/>; returns the length of all of them.</summary>
    internal int PcbList(Span<byte> dst)
    {
        _lock.Enter();
        try
        {
            int n = 0;
            foreach (UdpPcb p in _pcbs)
            {
                if ((n + 1) * UdpPcbList.EntrySize <= dst.Length) UdpPcbList.Write(dst.Slice(n * UdpPcbList.EntrySize, UdpPcbList.EntrySize), p);
                n++;
            }
            return n * UdpPcbList.EntrySize;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>Datagrams queued and the pending error (poll: readable when either is non-zero).</summary>
    public (int Datagrams, int Bytes, int Error) State(UdpPcb p)
    {
        _lock.Enter();
        var r = (p.Received.Count, p.QueuedBytes, p.Error);
        _lock.Exit();
        return r;
    }

    /// <summary>Takes the pending error (getsockopt SO_ERROR).</summary>
    public int TakeError(UdpPcb p)
    {
        _lock.Enter();
        int e = p.Error;
        p.Error = 0;
        _lock.Exit();
        return e;
    }

    /// <summary>Whether <paramref name="p"/> takes a datagram from <paramref name="src"/>:<paramref name="sport"/> to <paramref name="dst"/>:<paramref name="dport"/>, and how specifically (higher is better; -1: no).</summary>
    private static int MatchScore(UdpPcb p, Ipv4Addr src, ushort sport, Ipv4Addr dst, ushort dport, bool bcast)
    {
        if (p.LocalPort != dport) return -1;
        int score = 0;
        if (p.LocalAddr != Ipv4Addr.Any)
        {
            if (bcast ? p.LocalAddr != dst && p.LocalAddr != Ipv4Addr.Any : p.LocalAddr != dst) return -1;
            score += 2;
        }
        if (p.IsConnected)
        {
            if (p.ForeignAddr != src || p.ForeignPort != sport) return -1;
            score += 4;
        }
        return score;
    }

    internal void Input(Lwp l, Mbuf m, in IpIn ip)
    {
        Interlocked.Increment(ref S.UdpIn);
        WireError e = UdpPacket.ParseV4(m.Bytes.Slice(ip.HeaderLength), ip.Src, ip.Dst, out UdpPacket u);
        if (e != WireError.Ok)
        {
            Interlocked.Increment(ref e == WireError.BadChecksum ? ref S.UdpBadChecksum : ref S.UdpBadLength);
            m.Free();
            return;
        }
        ushort sport = u.SourcePort, dport = u.DestinationPort;
        int ulen = u.Length;
        List<UdpPcb>? wake = null;
        UdpPcb? single = null;
        bool delivered = false;
        List<(UdpPcb, Mbuf)>? toSockets = null;
        _lock.Enter();
        if (!ip.Broadcast)
        {
            int best = -1;
            foreach (UdpPcb p in _pcbs)
            {
                int s = MatchScore(p, ip.Src, sport, ip.Dst, dport, false);
                if (s > best) { best = s; single = p; }
            }
            if (single != null)
            {
                delivered = true;
                m.TrimFront(ip.HeaderLength + UdpPacket.HeaderSize);
                m.TrimTo(ulen - UdpPacket.HeaderSize);
                if (single.So != null) (toSockets ??= new()).Add((single, m));
                else if (!EnqueueLocked(single, ip.Src, sport, m)) single = null;
                m = null!;
            }
        }
        else
        {
            // Every PCB bound to the port gets its own copy (NetBSD delivers broadcasts to all sharers).
            foreach (UdpPcb p in _pcbs)
            {
                if (MatchScore(p, ip.Src, sport, ip.Dst, dport, true) < 0) continue;
                delivered = true;
                Mbuf? c = _in.Net.Mbufs.Get(ulen - UdpPacket.HeaderSize);
                if (c == null) { Interlocked.Increment(ref S.UdpFullSock); continue; }
                c.Append(m.Bytes.Slice(ip.HeaderLength + UdpPacket.HeaderSize, ulen - UdpPacket.HeaderSize));
                if (p.So != null) (toSockets ??= new()).Add((p, c));
                else if (EnqueueLocked(p, ip.Src, sport, c)) (wake ??= new()).Add(p);
            }
        }
        _lock.Exit();
        if (!delivered)
        {
            Interlocked.Increment(ref S.UdpNoPort);
            _in.Icmp.Error(m, Icmpv4Packet.TypeUnreachable, Icmpv4Packet.CodePortUnreachable, 0, ip.Broadcast);
        }
        m?.Free();
        if (toSockets != null) foreach (var (p, d) in toSockets) ToSocket(p, ip.Src, sport, d);
        else single?.Upcall?.Invoke(single);
        if (wake != null) foreach (UdpPcb p in wake) p.Upcall?.Invoke(p);
    }

    /// <summary>
    /// A datagram to a PCB's socket, under the socket's lock (taken after UDP's is released: the
    /// socket layer calls into UDP with the socket's lock held, so that is the order). A PCB its
    /// socket let go of meanwhile drops it. Consumes d.
    /// </summary>
    private void ToSocket(UdpPcb p, Ipv4Addr src, ushort sport, Mbuf d)
    {
        Socket so = p.So!;
        Span<byte> sin = stackalloc byte[UdpProto.SinLen];
        UdpProto.WriteSin(sin, src, sport);
        so.Lock.Enter();
        try
        {
            if (so.Pcb != p || (so.State & Socket.SS_CANTRCVMORE) != 0 || !so.Rcv.AppendAddr(sin, d, null))
            {
                so.Overflowed++;
                Interlocked.Increment(ref S.UdpFullSock);
                d.Free();
                return;
            }
            so.SoRWakeup();
        }
        finally { so.Lock.Exit(); }
    }

    /// <summary>Queues a datagram's payload on <paramref name="p"/>, or drops it when the PCB's space is used up (consumes m either way).</summary>
    private bool EnqueueLocked(UdpPcb p, Ipv4Addr src, ushort port, Mbuf m)
    {
        if (p.QueuedBytes + m.Length > p.RecvSpace)
        {
            Interlocked.Increment(ref S.UdpFullSock);
            m.Free();
            return false;
        }
        p.Received.Enqueue((src, port, m));
        p.QueuedBytes += m.Length;
        return true;
    }

    /// <summary>An ICMP error about a datagram we sent: the connected PCB it came from gets it as its pending error (unconnected ones cannot be told, as in NetBSD).</summary>
    internal void CtlInput(int error, Ipv4Addr src, Ipv4Addr dst, ReadOnlySpan<byte> quoted)
    {
        if (quoted.Length < 4) return;
        ushort sport = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(quoted);
        ushort dport = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(quoted.Slice(2));
        List<UdpPcb>? wake = null;
        _lock.Enter();
        foreach (UdpPcb p in _pcbs)
        {
            if (!p.IsConnected || p.LocalPort != sport || p.ForeignPort != dport || p.ForeignAddr != dst) continue;
            if (p.LocalAddr != Ipv4Addr.Any && p.LocalAddr != src) continue;
            p.Error = error;
            (wake ??= new()).Add(p);
        }
        _lock.Exit();
        if (wake == null) return;
        foreach (UdpPcb p in wake)
        {
            if (p.So is Socket so)
            {
                so.Lock.Enter();
                if (so.Pcb == p) so.SetError(TakeError(p));
                so.Lock.Exit();
            }
            else p.Upcall?.Invoke(p);
        }
    }
}
