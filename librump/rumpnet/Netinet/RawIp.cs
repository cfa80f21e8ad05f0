using System;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// Raw IPv4 sockets for ICMP (NetBSD raw_ip.c, rip_*): (AF_INET, SOCK_RAW, IPPROTO_ICMP), for
/// root only (EPERM otherwise, NetBSD's KAUTH_REQ_NETWORK_SOCKET_RAWSOCK). What ping needs:
/// a datagram written to one is an ICMP message (the caller computes its checksum, as BSD's
/// ping does) sent to the sockaddr_in given, from the address the route chooses; and every ICMP
/// message this host receives is copied, IP header first, to each raw ICMP socket (a connected
/// one only gets those from its peer), before ICMP itself handles it (echo requests are still
/// answered by the kernel). Sockets with the header included (IP_HDRINCL) and other protocols
/// are not supported.
///
/// Locks: each socket has its own lock; <see cref="_lock"/> (taken inside a socket's lock, by
/// attach and detach) guards the writers of the socket list, a copy-on-write array that input
/// reads without it, then taking each socket's lock alone.
/// </summary>
public sealed class RawIp : Protosw
{
    /// <summary>NetBSD's rip_sendspace and rip_recvspace.</summary>
    public const int SendSpace = 9216, RecvSpace = 9216;

    private readonly Inet _in;
    private readonly KMutex _lock;
    private Socket[] _socks = Array.Empty<Socket>();

    /// <summary>A raw socket's addresses (connect: only datagrams from there are received).</summary>
    private sealed class RawPcb
    {
        public Ipv4Addr Local, Foreign;
        public bool Connected;
    }

    private RawIp(Inet inet)
    {
        _in = inet;
        _lock = new KMutex(inet.Kernel);
    }

    /// <summary>Registers raw ICMP sockets and puts their copy in front of ICMP's input; while the net component initialises.</summary>
    public static void Attach(Inet inet)
    {
        var r = new RawIp(inet);
        inet.Net.Domains.Register(r);
        Icmp icmp = inet.Icmp;
        inet.SetProtocol(Ipv4Packet.ProtoIcmp, (Lwp l, Mbuf m, in IpIn ip) =>
        {
            r.Input(m, ip);
            icmp.Input(l, m, ip);
        }, null);
    }

    public override int Family => Abi.AF_INET;
    public override int Type => Abi.SOCK_RAW;
    public override int Protocol => Abi.IPPROTO_ICMP;
    public override int Flags => PR_ATOMIC | PR_ADDR;

    public override int Attach(Socket so, int proto)
    {
        if (so.Pcb != null) return Abi.EISCONN;
        if (proto != Abi.IPPROTO_ICMP) return Abi.EPROTONOSUPPORT;
        if (Kauth.Privileged(so.Cred) != 0) return Abi.EPERM;
        int e = so.Snd.Reserve(SendSpace);
        if (e == 0) e = so.Rcv.Reserve(RecvSpace);
        if (e != 0) return e;
        so.Pcb = new RawPcb();
        _lock.Enter();
        var n = new Socket[_socks.Length + 1];
        _socks.CopyTo(n, 0);
        n[^1] = so;
        Volatile.Write(ref _socks, n);
        _lock.Exit();
        return 0;
    }

    public override void Detach(Socket so)
    {
        _lock.Enter();
        Socket[] old = _socks;
        int i = Array.IndexOf(old, so);
        if (i >= 0)
        {
            var n = new Socket[old.Length - 1];
            Array.Copy(old, 0, n, 0, i);
            Array.Copy(old, i + 1, n, i, old.Length - i - 1);
            Volatile.Write(ref _socks, n);
        }
        _lock.Exit();
        so.Pcb = null;
    }

    private static int ReadSin(ReadOnlySpan<byte> nam, out Ipv4Addr a)
    {
        a = default;
        if (nam.Length != UdpProto.SinLen) return Abi.EINVAL;
        return NetcfgWire.ReadSin(nam, out a);
    }

    public override int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        int e = ReadSin(nam, out Ipv4Addr a);
        if (e != 0) return e;
        if (a != Ipv4Addr.Any && _in.FindAddress(a) == null) return Abi.EADDRNOTAVAIL;
        ((RawPcb)so.Pcb!).Local = a;
        return 0;
    }

    public override int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        int e = ReadSin(nam, out Ipv4Addr a);
        if (e != 0) return e;
        var p = (RawPcb)so.Pcb!;
        p.Foreign = a;
        p.Connected = true;
        so.IsConnected();
        return 0;
    }

    public override int Disconnect(Socket so)
    {
        var p = (RawPcb)so.Pcb!;
        if (!p.Connected) return Abi.ENOTCONN;
        p.Connected = false;
        so.State &= ~Socket.SS_ISCONNECTED;
        return 0;
    }

    public override int Shutdown(Socket so) => 0;
    public override int Abort(Socket so) => 0;

    public override int SockAddr(Socket so, Span<byte> nam, out int len) => Sin(((RawPcb)so.Pcb!).Local, nam, out len);

    public override int PeerAddr(Socket so, Span<byte> nam, out int len)
    {
        var p = (RawPcb)so.Pcb!;
        len = 0;
        return p.Connected ? Sin(p.Foreign, nam, out len) : Abi.ENOTCONN;
    }

    private static int Sin(Ipv4Addr a, Span<byte> nam, out int len)
    {
        Span<byte> sin = stackalloc byte[UdpProto.SinLen];
        UdpProto.WriteSin(sin, a, 0);
        len = Math.Min(nam.Length, sin.Length);
        sin.Slice(0, len).CopyTo(nam);
        return 0;
    }

    /// <summary>NetBSD rip_output without IP_HDRINCL: the datagram is the ICMP message; IP's header is put in front. With the socket's lock held.</summary>
    public override int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l)
    {
        var p = (RawPcb)so.Pcb!;
        Ipv4Addr dst;
        if (!nam.IsEmpty)
        {
            if (p.Connected) { m?.Free(); return Abi.EISCONN; }
            int e = ReadSin(nam, out dst);
            if (e != 0) { m?.Free(); return e; }
        }
        else if (p.Connected) dst = p.Foreign;
        else { m?.Free(); return Abi.ENOTCONN; }
        if (m == null) return Abi.EINVAL; // an ICMP message has at least its 8-byte header
        if (m.Length > 0xffff - Ipv4Packet.MinHeaderSize) { m.Free(); return Abi.EMSGSIZE; }
        if (m.LeadingSpace < Ipv4Packet.MinHeaderSize + EthernetFrame.HeaderSize)
        {
            Mbuf? c = _in.Net.Mbufs.Get(m.Length);
            if (c == null) { m.Free(); return Abi.ENOBUFS; }
            c.Append(m.Bytes);
            m.Free();
            m = c;
        }
        int flags = (so.Options & Abi.SO_BROADCAST) != 0 ? Ip.AllowBroadcast : 0;
        int r = _in.Ip.Output(m, p.Local, dst, Ipv4Packet.ProtoIcmp, flags);
        if (r == 0) control?.Dispose(l);
        return r;
    }

    /// <summary>
    /// A copy of the ICMP datagram <paramref name="m"/> (IP header first) for each raw socket that
    /// wants it, with the sender's address; in the soft interrupt with no lock held. Does not consume m.
    /// </summary>
    private void Input(Mbuf m, in IpIn ip)
    {
        Socket[] socks = Volatile.Read(ref _socks);
        if (socks.Length == 0) return;
        Span<byte> sin = stackalloc byte[UdpProto.SinLen];
        UdpProto.WriteSin(sin, ip.Src, 0);
        foreach (Socket so in socks)
        {
            so.Lock.Enter();
            try
            {
                if (so.Pcb is not RawPcb p) continue;
                if (p.Connected && p.Foreign != ip.Src) continue;
                if (p.Local != Ipv4Addr.Any && p.Local != ip.Dst) continue;
                if ((so.State & Socket.SS_CANTRCVMORE) != 0) continue;
                Mbuf? c = _in.Net.Mbufs.Get(m.Length, 0);
                if (c == null) { so.Overflowed++; continue; }
                c.Append(m.Bytes);
                if (!so.Rcv.AppendAddr(sin, c, null))
                {
                    so.Overflowed++;
                    c.Free();
                    continue;
                }
                so.SoRWakeup();
            }
            finally { so.Lock.Exit(); }
        }
    }
}
