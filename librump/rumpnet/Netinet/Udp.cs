using System;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// UDP over IPv4: what <see cref="UdpEngine"/> leaves to the family. Checksums are always sent; a
/// zero one on input means none. A datagram to a broadcast address goes to every PCB bound to its
/// port; broadcasting needs SO_BROADCAST. Kernel PCBs (<see cref="Attach"/>: the DHCP client's)
/// exist in this family only; a kernel PCB's <see cref="UdpPcb.OutIf"/> sends its limited
/// broadcasts out of one interface from the address it is bound to, 0.0.0.0 included.
/// Locks: the engine's (see there).
/// </summary>
public sealed class Udp : UdpEngine
{
    public const int MaxPayload = 0xffff - Ipv4Packet.MinHeaderSize - UdpPacket.HeaderSize;

    private readonly Inet _in;

    internal Udp(Inet inet) : base(inet.Kernel, inet.Net)
    {
        _in = inet;
    }

    private InetStats S => _in.Stats;

    public override int Family => Abi.AF_INET;
    private protected override TcpAddr Any => TcpAddr.AnyV4;
    private protected override int MaxData => MaxPayload;
    private protected override int Headroom => UdpPacket.HeaderSize + Ipv4Packet.MinHeaderSize + EthernetFrame.HeaderSize;
    private protected override ref long NoPortCount => ref S.UdpNoPort;
    private protected override ref long FullSockCount => ref S.UdpFullSock;
    public override int SockaddrLen => UdpProto.SinLen;

    /// <summary>A kernel PCB (no socket): read with <see cref="Receive"/> and <see cref="UdpEngine.State"/>, told by <see cref="UdpPcb.Upcall"/>.</summary>
    public UdpPcb Attach() => AttachPcb(null);

    public int Bind(UdpPcb p, Ipv4Addr addr, ushort port) => Bind(p, addr, port, null);

    /// <summary>Connects; 0.0.0.0 disconnects.</summary>
    public int Connect(UdpPcb p, Ipv4Addr addr, ushort port) => Connect(p, addr, port, null);

    /// <summary>Sends one datagram to <paramref name="dst"/>:<paramref name="dstPort"/> (null: the connected peer); EACCES to a broadcast address without SO_BROADCAST.</summary>
    public int Send(UdpPcb p, ReadOnlySpan<byte> data, Ipv4Addr? dst = null, ushort dstPort = 0)
        => Send(p, data, dst is Ipv4Addr d ? (TcpAddr)d : null, dstPort, null);

    /// <summary>
    /// Takes a kernel PCB's oldest datagram into <paramref name="buf"/> (the rest of a longer one
    /// is lost, as recvfrom does, and <paramref name="length"/> says how long it was). A pending
    /// error is returned first, once. EWOULDBLOCK when nothing is queued.
    /// </summary>
    public int Receive(UdpPcb p, Span<byte> buf, out int copied, out int length, out Ipv4Addr src, out ushort srcPort)
    {
        int e = Dequeue(p, buf, out copied, out length, out TcpAddr a, out srcPort);
        src = a.V4;
        return e;
    }

    private protected override int CheckLocal(TcpAddr a, Ifnet? scope)
    {
        Ipv4Addr v = a.V4;
        if (v != Ipv4Addr.Any && !v.IsMulticast && v != Ipv4Addr.Broadcast && _in.FindAddress(v) == null) return Abi.EADDRNOTAVAIL;
        return 0;
    }

    private protected override int CheckForeign(UdpPcb p, TcpAddr a, ref Ifnet? scope)
        => a.V4 == Ipv4Addr.Broadcast && (p.Options & UdpPcb.SO_BROADCAST) == 0 ? Abi.EACCES : 0;

    private protected override int SelectSource(TcpAddr dst, Ifnet? ifp, out TcpAddr src)
    {
        int e = _in.SelectSource(dst.V4, out Ipv4Addr s);
        src = s;
        return e;
    }

    private protected override Ifnet? OutIfLocked(UdpPcb p, TcpAddr faddr, Ifnet? scope)
        => faddr.V4 == Ipv4Addr.Broadcast ? p.OutIf : null;

    private protected override int RouteOut(ref UdpRoute r, Ifnet? scope)
    {
        if (r.Ifp != null) return 0; // the bound interface's broadcast goes from the bound address, even 0.0.0.0
        if (r.LAddr.IsUnspecified || r.LAddr.V4.IsMulticast) return SelectSource(r.FAddr, null, out r.LAddr);
        return 0;
    }

    private protected override int Output(Mbuf m, in UdpRoute r, int len)
    {
        Ipv4Addr laddr = r.LAddr.V4, faddr = r.FAddr.V4;
        UdpPacket.EmitV4(m.Bytes, laddr, faddr, r.LPort, r.FPort, len);
        Interlocked.Increment(ref S.UdpOut);
        return _in.Ip.Output(m, laddr, faddr, Ipv4Packet.ProtoUdp, (r.Options & UdpPcb.SO_BROADCAST) != 0 ? Ip.AllowBroadcast : 0, outIf: r.Ifp);
    }

    // IPv6's dual-stack PCBs (IPV6_V6ONLY off) send to and bind v4-mapped addresses through these: IPv4's rules and output.
    internal int CheckLocalMapped(TcpAddr a) => CheckLocal(a, null);
    internal int SelectSourceMapped(TcpAddr dst, out TcpAddr src) => SelectSource(dst, null, out src);
    internal int RouteOutMapped(ref UdpRoute r) => RouteOut(ref r, null);
    internal int OutputMapped(Mbuf m, in UdpRoute r, int len) => Output(m, r, len);

    private protected override void PortUnreachable(Mbuf m, bool multi)
        => _in.Icmp.Error(m, Icmpv4Packet.TypeUnreachable, Icmpv4Packet.CodePortUnreachable, 0, multi);

    internal override void WriteSockaddr(Span<byte> d, TcpAddr a, ushort port, Ifnet? ifp) => UdpProto.WriteSin(d, a.V4, port);

    /// <summary>A sockaddr_in: EINVAL unless 16 bytes long, EAFNOSUPPORT for another family (NetBSD in_pcbbind/udp_send).</summary>
    internal override int ReadSockaddr(ReadOnlySpan<byte> nam, UdpPcb p, out TcpAddr a, out ushort port, out Ifnet? scope)
    {
        scope = null;
        int e = UdpProto.ReadSin(nam, out Ipv4Addr v, out port);
        a = v;
        return e;
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
        Deliver(m, ip.Src, u.SourcePort, ip.Dst, u.DestinationPort, ip.HeaderLength, u.Length, ip.Broadcast);
    }

    internal void CtlInput(int error, Ipv4Addr src, Ipv4Addr dst, ReadOnlySpan<byte> quoted) => CtlInput(error, (TcpAddr)src, dst, quoted);

    /// <summary>The entries of net.inet.udp.pcblist (<see cref="UdpPcbList"/>) that fit in <paramref name="dst"/>; returns the length of all of them.</summary>
    internal int PcbList(Span<byte> dst)
    {
        Lock.Enter();
        try
        {
            int n = 0;
            foreach (UdpPcb p in Pcbs)
            {
                if ((n + 1) * UdpPcbList.EntrySize <= dst.Length) UdpPcbList.Write(dst.Slice(n * UdpPcbList.EntrySize, UdpPcbList.EntrySize), p);
                n++;
            }
            return n * UdpPcbList.EntrySize;
        }
        finally { Lock.Exit(); }
    }
}
