using System;
using System.Buffers.Binary;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// UDP's socket interface (NetBSD udp_usrreqs): (AF_INET, SOCK_DGRAM, IPPROTO_UDP) sockets over
/// <see cref="Udp"/>'s PCBs. Addresses are NetBSD's struct sockaddr_in (sin_len 16, sin_family,
/// sin_port and sin_addr in network order, 8 bytes of zero). Received datagrams go to the
/// socket's receive buffer with the sender's address (<see cref="Udp"/>'s input does that under
/// the socket's lock); the SOL_SOCKET options SO_REUSEADDR, SO_REUSEPORT and SO_BROADCAST are
/// read from the socket at bind, connect and send. ICMP errors on a connected socket become its
/// so_error. Every method runs with the socket's lock held (the socket layer's contract) and
/// takes UDP's lock inside it.
/// </summary>
public sealed class UdpProto : Protosw
{
    public const int SinLen = 16;
    /// <summary>NetBSD's udp_sendspace and udp_recvspace.</summary>
    public const int SendSpace = 9216, RecvSpace = 40 * (1024 + SinLen);

    private readonly Udp _udp;
    internal UdpProto(Udp udp) { _udp = udp; }

    public override int Family => Abi.AF_INET;
    public override int Type => Abi.SOCK_DGRAM;
    public override int Protocol => Ipv4Packet.ProtoUdp;
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
    private static int ReadSin(ReadOnlySpan<byte> nam, out Ipv4Addr a, out ushort port)
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
        if (e == 0) e = so.Rcv.Reserve(RecvSpace);
        if (e != 0) return e;
        UdpPcb p = _udp.Attach();
        p.So = so;
        so.Pcb = p;
        return 0;
    }

    public override void Detach(Socket so)
    {
        if (so.Pcb is UdpPcb p) _udp.Detach(p);
        so.Pcb = null;
    }

    public override int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        int e = ReadSin(nam, out Ipv4Addr a, out ushort port);
        if (e != 0) return e;
        UdpPcb p = Pcb(so);
        p.Options = so.Options;
        return _udp.Bind(p, a, port);
    }

    public override int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        int e = ReadSin(nam, out Ipv4Addr a, out ushort port);
        if (e != 0) return e;
        UdpPcb p = Pcb(so);
        p.Options = so.Options;
        if (a == Ipv4Addr.Any) return Abi.EADDRNOTAVAIL;
        e = _udp.Connect(p, a, port);
        if (e == 0) so.IsConnected();
        return e;
    }

    public override int Disconnect(Socket so)
    {
        UdpPcb p = Pcb(so);
        if (!p.IsConnected) return Abi.ENOTCONN;
        _udp.Connect(p, Ipv4Addr.Any, 0);
        so.State &= ~Socket.SS_ISCONNECTED;
        return 0;
    }

    public override int Shutdown(Socket so) => 0;
    public override int Abort(Socket so) => 0;

    public override int SockAddr(Socket so, Span<byte> nam, out int len)
    {
        UdpPcb p = Pcb(so);
        len = Math.Min(nam.Length, SinLen);
        Span<byte> sin = stackalloc byte[SinLen];
        WriteSin(sin, p.LocalAddr, p.LocalPort);
        sin.Slice(0, len).CopyTo(nam);
        return 0;
    }

    public override int PeerAddr(Socket so, Span<byte> nam, out int len)
    {
        UdpPcb p = Pcb(so);
        len = 0;
        if (!p.IsConnected) return Abi.ENOTCONN;
        len = Math.Min(nam.Length, SinLen);
        Span<byte> sin = stackalloc byte[SinLen];
        WriteSin(sin, p.ForeignAddr, p.ForeignPort);
        sin.Slice(0, len).CopyTo(nam);
        return 0;
    }

    public override int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l)
    {
        UdpPcb p = Pcb(so);
        p.Options = so.Options;
        Ipv4Addr? dst = null;
        ushort port = 0;
        if (!nam.IsEmpty)
        {
            int e = ReadSin(nam, out Ipv4Addr a, out port);
            if (e != 0) { m?.Free(); return e; }
            dst = a;
        }
        // Control messages (IP_PKTINFO and the like) are not supported: ignored, as NetBSD ignores unknown ones.
        int r = _udp.Send(p, m, dst, port);
        if (r == 0) control?.Dispose(l);
        return r;
    }
}
