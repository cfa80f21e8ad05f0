using System;
using System.Buffers.Binary;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// The engine's calls for the socket layer (NetBSD tcp_usrreq.c's half that touches the TCB):
/// bind, listen on a socket's own TCB, the close of a socket, and ICMP errors. Every method here
/// expects the stack's lock held: the socket glue (<see cref="TcpProto"/>) runs with it, as it is
/// also every TCP socket's lock.
/// </summary>
public sealed partial class TcpStack
{
    /// <summary>The SO_REUSEADDR and SO_REUSEPORT bits (NetBSD socket.h) as <see cref="TcpCb.Reuse"/> holds them.</summary>
    internal const int SoReuseAddr = 0x0004, SoReusePort = 0x0200;

    /// <summary>A socket's TCB before it connects or listens: options and binding only; buffers come at connect.</summary>
    internal TcpCb NewSocketCb(bool v6) => new(this, 0, 0, false) { LocalAddr = v6 ? TcpAddr.AnyV6 : TcpAddr.AnyV4 };

    /// <summary>bind(2): <paramref name="la"/>:<paramref name="port"/> (0: an ephemeral port). EINVAL if already bound, EADDRINUSE on a clash (<see cref="TcpPcbTable.Conflicts"/>).</summary>
    internal int BindLocked(TcpCb tp, TcpAddr la, ushort port, int reuse)
    {
        if (tp.InTable || tp.LocalPort != 0 || tp.State != TcpState.Closed) return Abi.EINVAL;
        if (port == 0)
        {
            port = Pcbs.AllocatePort(la, _rnd, tp.DualStack && la == TcpAddr.AnyV6);
            if (port == 0) return Abi.EADDRNOTAVAIL;
        }
        else if (Pcbs.Conflicts(la, port, reuse)) return Abi.EADDRINUSE;
        tp.LocalAddr = la;
        tp.LocalPort = port;
        tp.Reuse = reuse;
        Pcbs.InsertBound(tp);
        return 0;
    }

    /// <summary>
    /// listen(2) on a socket's TCB (bound or not: an unbound one gets an ephemeral port): a
    /// listener TCB takes its binding. Its children get buffers of the given sizes.
    /// EADDRINUSE if another listener has the same address and port.
    /// </summary>
    internal int ListenLocked(TcpCb tp, int childSnd, int childRcv, out TcpCb? listener)
    {
        listener = null;
        if (tp.State != TcpState.Closed || tp.RemotePort != 0) return Abi.EINVAL;
        if (tp.LocalPort == 0)
        {
            int e = BindLocked(tp, tp.LocalAddr.AnyOfFamily, 0, tp.Reuse);
            if (e != 0) return e;
        }
        if (Pcbs.ListenerAt(tp.LocalAddr, tp.LocalPort) != null) return Abi.EADDRINUSE;
        Pcbs.Remove(tp);
        var l = new TcpCb(this, 0, 0, true)
        {
            State = TcpState.Listen, LocalAddr = tp.LocalAddr, LocalPort = tp.LocalPort, Backlog = 4096,
            ChildSndBuf = childSnd, ChildRcvBuf = childRcv, NoDelay = tp.NoDelay, Reuse = tp.Reuse, DualStack = tp.DualStack,
        };
        Pcbs.InsertListener(l);
        listener = l;
        return 0;
    }

    /// <summary>
    /// The socket let go of its TCB (close(2) after the socket layer's disconnect): a TCB never
    /// started leaves the table; a listener closes; a connection lives on without its socket
    /// (sending what is queued, FIN_WAIT, TIME_WAIT), bounded in FIN_WAIT_2 as NetBSD does.
    /// </summary>
    internal void DetachLocked(TcpCb tp)
    {
        tp.Upcall = null;
        tp.Detached = true;
        switch (tp.State)
        {
            case TcpState.Closed:
                Pcbs.Remove(tp);
                return;
            case TcpState.Listen:
            case TcpState.SynSent:
                Close(tp, 0);
                return;
            case TcpState.FinWait2:
                tp.T2Msl = Now + 2 * MslMs;
                Rearm(tp);
                return;
        }
    }

    /// <summary>SO_KEEPALIVE set or cleared on a socket; the idle timer follows. Lock held.</summary>
    internal void SetKeepAliveLocked(TcpCb tp, bool on)
    {
        tp.KeepAlive = on;
        tp.KeepProbes = 0;
        if (!on) tp.TKeep = TcpCb.Off;
        else if (tp.Synchronized && tp.InTable) ArmKeep(tp);
    }

    /// <summary>
    /// An ICMP error about a segment we sent (NetBSD tcp_ctlinput and tcp_notify): the quoted
    /// header names the connection. A connection still opening (SYN_SENT) fails with the error
    /// (ECONNREFUSED for port unreachable, EHOSTUNREACH ...), as Linux reports it at once; an
    /// established one keeps going (the errors are soft: retransmission decides). Fragmentation
    /// needed comes to <see cref="MtuInput4"/> instead (segments go with DF: path-MTU discovery).
    /// </summary>
    public void CtlInput(int error, Ipv4Addr src, Ipv4Addr dst, ReadOnlySpan<byte> quoted) => Notify(error, src, dst, quoted);

    /// <summary>An ICMPv6 error (NetBSD tcp6_ctlinput), as <see cref="CtlInput"/>; packet too big comes to <see cref="MtuInput6"/> instead.</summary>
    public void CtlInput6(int error, Ipv6Addr src, Ipv6Addr dst, ReadOnlySpan<byte> quoted) => Notify(error, src, dst, quoted);

    private void Notify(int error, TcpAddr src, TcpAddr dst, ReadOnlySpan<byte> quoted)
    {
        if (error == Abi.EMSGSIZE) return;
        Enter();
        try
        {
            if (QuotedLocked(src, dst, quoted) is TcpCb tp && tp.State == TcpState.SynSent) Close(tp, error);
        }
        finally { Exit(); }
    }

    /// <summary>
    /// The connection whose segment an ICMP error quotes (its first 8 bytes: the ports and the
    /// sequence number), if that segment is in flight (RFC 5927 4.1: a blind attacker must guess
    /// the sequence number) on a connection from SYN_SENT to before TIME_WAIT; else null. Lock held.
    /// </summary>
    private TcpCb? QuotedLocked(TcpAddr src, TcpAddr dst, ReadOnlySpan<byte> quoted)
    {
        if (quoted.Length < 8) return null;
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(quoted);
        ushort dport = BinaryPrimitives.ReadUInt16BigEndian(quoted.Slice(2));
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(quoted.Slice(4));
        TcpCb? tp = Pcbs.Lookup(src, sport, dst, dport);
        if (tp == null || tp.State is < TcpState.SynSent or TcpState.TimeWait) return null;
        return Seq.Lt(seq, tp.SndUna) || Seq.Geq(seq, tp.SndMax) ? null : tp;
    }

    /// <summary>
    /// ICMPv6 packet too big about a segment of ours (RFC 8201 4, NetBSD tcp6_ctlinput's
    /// PRC_MSGSIZE and tcp_mtudisc): a router dropped it, so the connection's segments shrink to
    /// the MTU reported (never below IPv6's minimum 1280) less the headers, and what is in flight
    /// goes again from SND.UNA in the new size. The quoted sequence number must be in flight, as
    /// for other errors; an MTU that would not shrink the segments is ignored.
    /// </summary>
    public void MtuInput6(Ipv6Addr src, Ipv6Addr dst, ReadOnlySpan<byte> quoted, uint mtu)
    {
        Enter();
        try
        {
            if (QuotedLocked(src, dst, quoted) is TcpCb tp) ShrinkLocked(tp, Math.Max(mtu, Ipv6MinMtu) - Ipv6HeaderBytes);
        }
        finally { Exit(); }
    }

    /// <summary>
    /// The route's path-MTU routine (IPv4's <see cref="Inet.MtuDisc"/>): stores what a vouched-for
    /// "fragmentation needed" says and returns the path MTU in force for the destination (0: none).
    /// </summary>
    public Func<Ipv4Addr, int, int, int, int>? RouteMtuDisc;

    /// <summary>
    /// ICMP fragmentation needed about a segment of ours (RFC 1191, NetBSD tcp_ctlinput's
    /// PRC_MSGSIZE, icmp_mtudisc and tcp_mtudisc): only if the quoted sequence number is in flight
    /// on a connection (RFC 5927 4.1), the route learns the MTU (a host route for the destination,
    /// <see cref="Inet.MtuDisc"/>, which also judges hostile values), and then every connection to
    /// that destination whose segments no longer fit shrinks them to the path MTU less 40 bytes of
    /// headers and sends what is in flight again from SND.UNA.
    /// </summary>
    public void MtuInput4(Ipv4Addr src, Ipv4Addr dst, ReadOnlySpan<byte> quoted, int nextMtu, int quotedLen, int quotedHlen)
    {
        Enter();
        try
        {
            if (QuotedLocked(src, dst, quoted) == null) return;
            int mtu = RouteMtuDisc?.Invoke(dst, nextMtu, quotedLen, quotedHlen) ?? 0;
            if (mtu < Inet.MinPathMtu) return; // no route, or discovery off for it: segments go without DF
            TcpAddr fa = dst;
            foreach (TcpCb t in Pcbs.All.ToArray()) // Output may change the table
                if (t.RemoteAddr == fa && t.State is >= TcpState.SynSent and not TcpState.TimeWait) ShrinkLocked(t, (uint)mtu - Ipv4HeaderBytes);
        }
        finally { Exit(); }
    }

    /// <summary>A path MTU of <paramref name="mss"/> bytes of TCP header and data (the IP header taken off): the connection's segments shrink to it if they are larger, and what is in flight goes again. Lock held.</summary>
    private void ShrinkLocked(TcpCb tp, uint mss)
    {
        tp.OurMss = (ushort)Math.Min(tp.OurMss, mss);
        if (tp.TsOk) mss -= 12;
        if (mss >= tp.Mss) return;
        tp.Mss = mss;
        PmtuUpdates++;
        if (!tp.Synchronized) return; // the SYN is small; the retransmission timer resends it
        tp.SndNxt = tp.SndUna;
        Output(tp);
    }

    /// <summary>IPv6's minimum link MTU (RFC 8200 5), and the IPv6 and TCP headers (RFC 8200 8.3: MSS is the MTU less 60).</summary>
    internal const uint Ipv6MinMtu = 1280, Ipv6HeaderBytes = 60, Ipv4HeaderBytes = 40;
}
