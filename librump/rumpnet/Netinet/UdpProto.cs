using System;
using System.Buffers.Binary;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// UDP's socket interface (NetBSD udp_usrreqs, udp6_usrreqs): (AF_INET or AF_INET6, SOCK_DGRAM,
/// IPPROTO_UDP) sockets over a <see cref="UdpEngine"/>'s PCBs, one instance per family (IPv6's
/// adds its options and ioctl: <c>Udp6Proto</c>). Addresses are the family's sockaddr
/// (NetBSD's struct sockaddr_in: sin_len 16, sin_family, sin_port and sin_addr in network order,
/// 8 bytes of zero; see <c>Udp6Proto</c> for sockaddr_in6). Received datagrams go to the
/// socket's receive buffer with the sender's address (the engine's input does that under the
/// socket's lock); the SOL_SOCKET options SO_REUSEADDR, SO_REUSEPORT and SO_BROADCAST are read
/// from the socket at bind, connect and send. ICMP errors on a connected socket become its
/// so_error. Every method runs with the socket's lock held (the socket layer's contract) and
/// the engine takes its lock inside it.
/// </summary>
public class UdpProto : Protosw
{
    public const int SinLen = 16;
    /// <summary>NetBSD's udp_sendspace and udp_recvspace (forty datagrams of 1 KiB with their sockaddr).</summary>
    public const int SendSpace = 9216, RecvSpace = 40 * (1024 + SinLen);

    private readonly UdpEngine _udp;
    internal UdpProto(UdpEngine udp) { _udp = udp; }

    public override int Family => _udp.Family;
    public override int Type => Abi.SOCK_DGRAM;
    public override int Protocol => Ipv4Packet.ProtoUdp; // 17 in both families
    public override int Flags => PR_ATOMIC | PR_ADDR;

    private static UdpPcb Pcb(Socket so) => (UdpPcb)so.Pcb!;

    public static void WriteSin(Span<byte> d, Ipv4Addr a, ushort port)
    {
        d.Slice(0, SinLen).Clear();
        d[0] = SinLen;
        d[1] = (byte)Abi.AF_INET;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), port);
        a.Write(d.Slice(4));
    }

    /// <summary>A sockaddr_in from the caller: EINVAL unless 16 bytes long, EAFNOSUPPORT for another family (NetBSD in_pcbbind/udp_send).</summary>
    internal static int ReadSin(ReadOnlySpan<byte> nam, out Ipv4Addr a, out ushort port)
    {
        a = default;
        port = 0;
        if (nam.Length != SinLen) return Abi.EINVAL;
        if (nam[1] != Abi.AF_INET) return Abi.EAFNOSUPPORT;
        port = BinaryPrimitives.ReadUInt16BigEndian(nam.Slice(2));
        a = Ipv4Addr.Read(nam.Slice(4));
        return 0;
    }

    public override int Attach(Socket so, int proto)
    {
        if (so.Pcb != null) return Abi.EISCONN;
        int e = so.Snd.Reserve(SendSpace);
        if (e == 0) e = so.Rcv.Reserve(40 * (1024 + _udp.SockaddrLen));
        if (e != 0) return e;
        so.Pcb = _udp.AttachPcb(so);
        return 0;
    }

    public override void Detach(Socket so)
    {
        if (so.Pcb is UdpPcb p) _udp.Detach(p);
        so.Pcb = null;
    }

    public override int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        UdpPcb p = Pcb(so);
        int e = _udp.ReadSockaddr(nam, p, out TcpAddr a, out ushort port, out Ifnet? scope);
        if (e != 0) return e;
        p.Options = so.Options;
        return _udp.Bind(p, a, port, scope);
    }

    public override int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        UdpPcb p = Pcb(so);
        int e = _udp.ReadSockaddr(nam, p, out TcpAddr a, out ushort port, out Ifnet? scope);
        if (e != 0) return e;
        p.Options = so.Options;
        if (a.IsUnspecified) return Abi.EADDRNOTAVAIL;
        e = _udp.Connect(p, a, port, scope);
        if (e == 0) so.IsConnected();
        return e;
    }

    public override int Disconnect(Socket so)
    {
        UdpPcb p = Pcb(so);
        if (!p.IsConnected) return Abi.ENOTCONN;
        _udp.Connect(p, default, 0, null); // the wildcard disconnects
        so.State &= ~Socket.SS_ISCONNECTED;
        return 0;
    }

    public override int Shutdown(Socket so) => 0;
    public override int Abort(Socket so) => 0;

    public override int SockAddr(Socket so, Span<byte> nam, out int len)
    {
        UdpPcb p = Pcb(so);
        return Addr(p.LocalAddr, p.LocalPort, p.ScopeIf, nam, out len);
    }

    public override int PeerAddr(Socket so, Span<byte> nam, out int len)
    {
        UdpPcb p = Pcb(so);
        len = 0;
        if (!p.IsConnected) return Abi.ENOTCONN;
        return Addr(p.ForeignAddr, p.ForeignPort, p.ScopeIf, nam, out len);
    }

    private int Addr(TcpAddr a, ushort port, Ifnet? scope, Span<byte> nam, out int len)
    {
        Span<byte> sa = stackalloc byte[UdpEngine.SockaddrMax];
        sa = sa.Slice(0, _udp.SockaddrLen);
        _udp.WriteSockaddr(sa, a, port, scope);
        len = Math.Min(nam.Length, sa.Length);
        sa.Slice(0, len).CopyTo(nam);
        return 0;
    }

    public override int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l)
    {
        UdpPcb p = Pcb(so);
        p.Options = so.Options;
        TcpAddr? dst = null;
        ushort port = 0;
        Ifnet? scope = null;
        if (!nam.IsEmpty)
        {
            int e = _udp.ReadSockaddr(nam, p, out TcpAddr a, out port, out scope);
            if (e != 0) { m?.Free(); return e; }
            dst = a;
        }
        // Control messages (IP_PKTINFO and the like) are not supported: ignored, as NetBSD ignores unknown ones.
        int r = _udp.Send(p, m, dst, port, scope);
        if (r == 0) control?.Dispose(l);
        return r;
    }
}
