using System;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// Deciding what to send and building it (NetBSD tcp_output.c). <see cref="Output"/> sends as many
/// segments as the windows allow: the SYN or SYN-ACK of the handshake; in SACK loss recovery the
/// holes first and new data while the estimated data in flight (RFC 6675 "pipe") is under cwnd;
/// otherwise new data up to min(cwnd, the peer's window), with Nagle (RFC 896, RFC 9293 3.7.4)
/// and sender silly-window avoidance (RFC 9293 3.8.6.2.1) unless TCP_NODELAY; a FIN after the last
/// byte; a zero-window probe when the persist timer asks; and a lone ACK when one is owed.
/// Segments are built in pool mbufs; nothing is allocated per segment. Precondition: lock held.
///
/// Offloads (<see cref="RouteCaps"/>): on an interface with TSO, new data goes in segments of
/// several MSS-sized pieces, up to 64 KiB, which the interface cuts as if they had been sent one by
/// one: each piece carries the MSS, the FIN only the last (this stack sets no PSH); the windows,
/// cwnd, Nagle and retransmissions decide how much goes exactly as without it, and only the number
/// of frames changes. With checksum offload the checksum is left to the interface.
/// </summary>
public sealed partial class TcpStack
{
    private uint FinSeq(TcpCb tp) => tp.SndBufSeq + (uint)tp.Snd.Count;

    /// <summary>
    /// The data a segment can carry now: SMSS (which allows for the timestamp option) less the
    /// SACK option when we have out-of-order data to report, so that data and options never
    /// exceed what the peer's MSS and the path allow (NetBSD tcp_output's optlen: otherwise IP
    /// fragments every such segment, and IPv6 input drops fragments).
    /// </summary>
    internal static uint DataMss(TcpCb tp)
        => tp.SackOk && tp.Reass.Count > 0 ? tp.Mss - (uint)(4 + 8 * Math.Min(tp.Reass.Count, tp.TsOk ? 3 : 4)) : tp.Mss;

    internal void Output(TcpCb tp)
    {
        if (!tp.InTable || tp.State is TcpState.Closed or TcpState.Listen) return;
        tp.OutCaps = RouteCaps?.Invoke(tp.RemoteAddr, tp.ScopeId) ?? 0;
        if (tp.State == TcpState.TimeWait)
        {
            if (tp.AckNow) Emit(tp, tp.SndMax, 0, TcpPacket.FlagAck);
            return;
        }
        if (tp.State is TcpState.SynSent or TcpState.SynReceived)
        {
            if (tp.SndNxt == tp.Iss)
            {
                Emit(tp, tp.Iss, 0, (byte)(TcpPacket.FlagSyn | (tp.State == TcpState.SynReceived ? TcpPacket.FlagAck : 0)));
                tp.SndNxt = tp.Iss + 1;
            }
            else if (tp.AckNow && tp.State == TcpState.SynReceived) Emit(tp, tp.SndNxt, 0, TcpPacket.FlagAck);
            return;
        }
        if (tp.InRecovery && tp.SackOk && tp.Scoreboard.Count > 0) SackRecoveryOutput(tp);
        // Normal sending; at most a few hundred segments per call (a full window), the loop ends when nothing is allowed.
        while (SendNext(tp, usePipe: false)) { }
        if (tp.AckNow) Emit(tp, tp.SndNxt, 0, TcpPacket.FlagAck);
        // Data waits with nothing in flight (a zero window, or one too small to send into): the persist timer forces it (NetBSD tcp_setpersist).
        if (tp.Snd.Count > (int)(tp.SndNxt - tp.SndBufSeq) && tp.TRexmt == TcpCb.Off && tp.TPersist == TcpCb.Off)
            SetPersist(tp);
    }

    /// <summary>RFC 6675 SetPipe, simplified: data outstanding, less what is SACKed, less the holes below the highest SACK not yet resent.</summary>
    private static uint Pipe(TcpCb tp)
    {
        uint outstanding = tp.SndMax - tp.SndUna;
        uint sacked = tp.Scoreboard.CoveredBetween(tp.SndUna, tp.SndMax);
        uint hi = tp.Scoreboard.HighestRight;
        uint start = Seq.Max(tp.HighRxt, tp.SndUna);
        uint lost = 0;
        if (tp.Scoreboard.Count > 0 && Seq.Lt(start, hi)) lost = hi - start - tp.Scoreboard.CoveredBetween(start, hi);
        uint p = outstanding - sacked - lost;
        return (int)p < 0 ? 0 : p;
    }

    /// <summary>RFC 6675 5 (NextSeg rules 1 and 2): while pipe leaves room for a segment, resend the next hole, else send new data.</summary>
    private void SackRecoveryOutput(TcpCb tp)
    {
        for (int guard = 0; guard < 1024; guard++)
        {
            if (Pipe(tp) + tp.Mss > tp.Cwnd) return;
            uint start = Seq.Max(tp.HighRxt, tp.SndUna);
            while (tp.Scoreboard.Contains(start, out uint r)) start = r;
            uint hi = tp.Scoreboard.HighestRight;
            if (Seq.Lt(start, hi))
            {
                uint end = tp.Scoreboard.NextLeftAfter(start, out uint l) ? l : hi;
                int len = (int)Math.Min(DataMss(tp), end - start);
                RetransmitAt(tp, start, len);
                tp.HighRxt = start + (uint)len;
                continue;
            }
            if (!SendNext(tp, usePipe: true)) return;
        }
    }

    /// <summary>
    /// Resends up to <paramref name="len"/> bytes from <paramref name="seq"/> (fast retransmit,
    /// partial ACKs, holes) without moving SND.NXT; returns the length it aimed at (len, bounded by
    /// <see cref="DataMss"/>), which the caller counts as resent.
    /// </summary>
    internal int RetransmitAt(TcpCb tp, uint seq, int len)
    {
        len = Math.Min(len, (int)DataMss(tp));
        int aimed = len;
        int off = (int)(seq - tp.SndBufSeq);
        if (off < 0) return aimed;
        len = Math.Min(len, tp.Snd.Count - off);
        if (len < 0) return aimed;
        byte flags = TcpPacket.FlagAck;
        if (tp.FinQueued && seq + (uint)len == FinSeq(tp) && Seq.Gt(tp.SndMax, FinSeq(tp))) flags |= TcpPacket.FlagFin;
        if (len == 0 && (flags & TcpPacket.FlagFin) == 0) return aimed;
        tp.Retransmits++;
        Emit(tp, seq, len, flags);
        return aimed;
    }

    /// <summary>One segment at SND.NXT if the windows, Nagle and SWS avoidance allow it (with the FIN if it is the last); false when nothing more goes.</summary>
    private bool SendNext(TcpCb tp, bool usePipe)
    {
        int off = Math.Max(0, (int)(tp.SndNxt - tp.SndBufSeq));
        int avail = Math.Max(0, tp.Snd.Count - off);
        uint finSeq = FinSeq(tp);
        bool finAllowed = tp.FinQueued && Seq.Leq(tp.SndNxt, finSeq)
                          && tp.State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck;
        long win = usePipe
            ? Math.Min((long)tp.SndWnd - (tp.SndNxt - tp.SndUna), (long)tp.Cwnd - Pipe(tp))
            : Math.Min(tp.SndWnd, tp.Cwnd) - (long)(tp.SndNxt - tp.SndUna);
        uint mss = DataMss(tp);
        // TSO: one segment of several MSS-sized pieces that the interface cuts (not for the
        // persist timer's probes, nor in SACK recovery, where pipe is counted a segment at a time).
        bool tso = !usePipe && !tp.Force && (tp.OutCaps & (tp.RemoteAddr.IsV4 ? Ifnet.IFCAP_TSOv4 : Ifnet.IFCAP_TSOv6)) != 0;
        int len = (int)Math.Min(Math.Min(avail, Math.Max(win, 0)), tso ? TsoMaxData(tp, mss) : (long)mss);
        if (len > mss)
        {
            // Whole pieces only, as many separate segments would be: a short last piece goes now only
            // if Nagle would let it go right after them (TCP_NODELAY, or the FIN follows), else the
            // next round judges it alone.
            bool tailGoes = off + len == tp.Snd.Count && (tp.NoDelay || tp.FinQueued);
            if (!tailGoes) len -= len % (int)mss;
        }
        bool probe = false;
        if (tp.Force && tp.SndWnd != 0 && len > 0)
        {
            // The persist timer: what the small window takes goes now, silly or not.
            tp.Force = false;
            probe = true;
        }
        else if (tp.Force && tp.SndWnd == 0 && tp.Snd.Count > 0)
        {
            // A zero-window probe: one byte at SND.UNA, which the peer takes once it has room.
            tp.Force = false;
            tp.SndNxt = tp.SndUna;
            off = 0;
            len = 1;
            probe = true;
        }
        bool send = false;
        if (len > 0)
        {
            bool emptiesBuffer = off + len == tp.Snd.Count;
            if (probe || len >= mss || Seq.Lt(tp.SndNxt, tp.SndMax)) send = true;
            else if (emptiesBuffer && (tp.NoDelay || tp.SndNxt == tp.SndUna || tp.FinQueued)) send = true;
            else if (tp.MaxSndWnd > 0 && len >= tp.MaxSndWnd / 2) send = true;
        }
        bool fin = !probe && finAllowed && tp.SndNxt + (uint)(send ? len : 0) == finSeq;
        if (!send && !fin) return false;
        if (!send) len = 0;
        byte flags = (byte)(TcpPacket.FlagAck | (fin ? TcpPacket.FlagFin : 0));
        uint seq = tp.SndNxt;
        if (len > 0 && Seq.Lt(seq, tp.SndMax)) tp.Retransmits++;
        Emit(tp, seq, len, flags);
        tp.SndNxt = seq + (uint)len + (fin ? 1u : 0u);
        if (Seq.Gt(tp.SndNxt, tp.SndMax)) tp.SndMax = tp.SndNxt;
        if (probe && tp.SndWnd == 0) tp.TRexmt = TcpCb.Off; // the persist timer owns a window probe: an unanswered one is no reason to give up
        if (fin)
        {
            tp.FinSent = true;
            if (tp.State == TcpState.Established) tp.State = TcpState.FinWait1;
            else if (tp.State == TcpState.CloseWait) tp.State = TcpState.LastAck;
        }
        return !fin && !probe;
    }

    /// <summary>
    /// The most data a TSO segment carries: whole MSS-sized pieces within IP's 65,535-byte limit
    /// (IPv4's total length, IPv6's payload length) with room for the largest headers.
    /// </summary>
    private static int TsoMaxData(TcpCb tp, uint mss)
    {
        int limit = 0xffff - TcpPacket.MaxHeaderSize - (tp.RemoteAddr.IsV4 ? Ipv4Packet.MinHeaderSize : 0);
        return Math.Max((int)mss, limit / (int)mss * (int)mss);
    }

    /// <summary>
    /// Builds and sends one segment of <paramref name="len"/> bytes from the send buffer at
    /// <paramref name="seq"/> with our options and window; starts the retransmission timer for
    /// anything occupying sequence space and times it for the RTT when timestamps are off.
    /// </summary>
    private void Emit(TcpCb tp, uint seq, int len, byte flags)
    {
        bool syn = (flags & TcpPacket.FlagSyn) != 0;
        var o = new TcpOptions();
        if (syn)
        {
            o.HasMss = true;
            o.Mss = tp.OurMss;
            bool passive = tp.State == TcpState.SynReceived;
            if (UseWindowScale && (!passive || tp.WsOk)) { o.HasWindowScale = true; o.WindowScale = tp.RcvScale; }
            if (UseSack && (!passive || tp.SackOk)) o.SackPermitted = true;
            if (UseTimestamps && (!passive || tp.TsOk)) { o.HasTimestamp = true; o.TsVal = TsNow(); o.TsEcr = tp.TsRecent; }
        }
        else
        {
            if (tp.TsOk) { o.HasTimestamp = true; o.TsVal = TsNow(); o.TsEcr = tp.TsRecent; }
            if (tp.SackOk && tp.Reass.Count > 0) o.SackCount = tp.Reass.ToSackBlocks(ref o.Sack, tp.TsOk ? 3 : 4);
        }

        // The window: what the receive buffer holds free, never pulling the right edge back
        // (RFC 9293 3.8.6), and moved only by a segment or half the buffer (receiver SWS avoidance).
        uint win;
        if (syn)
        {
            // Never scaled in a SYN (RFC 7323 2.2); in a SYN-ACK it opens the window we then defend (RFC 5961's range).
            win = (uint)Math.Min(tp.Rcv.Free, 65535);
            if (tp.State == TcpState.SynReceived && Seq.Gt(tp.RcvNxt + win, tp.RcvAdv)) tp.RcvAdv = tp.RcvNxt + win;
        }
        else
        {
            uint space = (uint)tp.Rcv.Free;
            uint cur = Seq.Gt(tp.RcvAdv, tp.RcvNxt) ? tp.RcvAdv - tp.RcvNxt : 0;
            if (space > cur && space - cur < Math.Min((uint)tp.Rcv.Capacity / 2, tp.Mss)) space = cur;
            if (space < cur) space = cur;
            win = Math.Min(space >> tp.RcvScale, 65535u);
            uint right = tp.RcvNxt + (win << tp.RcvScale);
            if (Seq.Gt(right, tp.RcvAdv)) tp.RcvAdv = right;
        }

        var h = new TcpHeader
        {
            SourcePort = tp.LocalPort, DestinationPort = tp.RemotePort, Sequence = seq, Flags = flags, Window = (ushort)win,
            Acknowledgment = (flags & TcpPacket.FlagAck) != 0 ? tp.RcvNxt : 0,
        };
        int hlen = TcpPacket.HeaderLengthFor(o);
        Mbuf? m = Pool.Get(hlen + len);
        if (m == null) return;
        Span<byte> s = m.Append(hlen + len);
        if (len > 0) tp.Snd.ReadAt((int)(seq - tp.SndBufSeq), s.Slice(hlen, len));
        // Offloads of the route's interface: the checksum left to it, and a segment of more than
        // one MSS (SendNext makes those only for an interface with TSO) cut by it.
        bool v4 = tp.LocalAddr.IsV4;
        int mss = (int)DataMss(tp);
        bool tso = len > mss && (tp.OutCaps & (v4 ? Ifnet.IFCAP_TSOv4 : Ifnet.IFCAP_TSOv6)) != 0;
        bool partial = tso || (tp.OutCaps & (v4 ? Ifnet.IFCAP_CSUM_TCPv4_Tx : Ifnet.IFCAP_CSUM_TCPv6_Tx)) != 0;
        if (EmitHeader(s, tp.LocalAddr, tp.RemoteAddr, h, o, len, partial) < 0) { m.Free(); return; }
        int pieces = 1;
        if (partial)
        {
            m.CsumFlags = Mbuf.CsumTcpPartial;
            m.L4Start = m.Offset;
            CsumOffloadedOut++;
        }
        if (tso)
        {
            m.CsumFlags |= v4 ? Mbuf.CsumTsoV4 : Mbuf.CsumTsoV6;
            m.TsoSegSize = (ushort)mss;
            pieces = (len + mss - 1) / mss;
            TsoSegmentsSent++;
            TsoPiecesSent += pieces;
        }

        if ((flags & TcpPacket.FlagAck) != 0)
        {
            tp.LastAckSent = tp.RcvNxt;
            tp.AckNow = false;
            tp.TDelAck = TcpCb.Off;
            tp.SegsSinceAck = 0;
        }
        uint occupies = (uint)len + (syn ? 1u : 0u) + ((flags & TcpPacket.FlagFin) != 0 ? 1u : 0u);
        if (occupies > 0)
        {
            bool retransmission = Seq.Lt(seq, tp.SndMax);
            if (retransmission && tp.RttTiming && Seq.Leq(seq, tp.RttSeq)) tp.RttTiming = false;
            else if (!retransmission && !tp.RttTiming && !tp.TsOk) { tp.RttTiming = true; tp.RttSeq = seq; tp.RttStartMs = Now; }
            if (Seq.Gt(seq + occupies, tp.SndMax)) tp.SndMax = seq + occupies;
            if (tp.TRexmt == TcpCb.Off) StartRexmt(tp);
            if (tp.SndWnd > 0) tp.TPersist = TcpCb.Off;
        }
        tp.SegsSent += pieces;
        IpOutput(m, tp.LocalAddr, tp.RemoteAddr, tp.ScopeId);
    }

    /// <summary>The header and checksum (or only the pseudo-header's sum, <paramref name="partial"/>: the interface completes it), with the pseudo-header of the connection's family.</summary>
    private static int EmitHeader(Span<byte> s, TcpAddr src, TcpAddr dst, in TcpHeader h, in TcpOptions o, int len, bool partial = false)
        => partial
            ? src.IsV4 ? TcpPacket.EmitV4Partial(s, src.V4, dst.V4, h, o, len) : TcpPacket.EmitV6Partial(s, src.V6, dst.V6, h, o, len)
            : src.IsV4 ? TcpPacket.EmitV4(s, src.V4, dst.V4, h, o, len) : TcpPacket.EmitV6(s, src.V6, dst.V6, h, o, len);

    /// <summary>To IPv4 or IPv6 output by the connection's family (the environment owns <paramref name="m"/> from here).</summary>
    private void IpOutput(Mbuf m, TcpAddr src, TcpAddr dst, uint scope)
    {
        if (src.IsV4) _env.Output(m, src.V4, dst.V4);
        else _env.Output6(m, src.V6, dst.V6, scope);
    }

    private uint TsNow() => (uint)Now + _isnSecret;

    /// <summary>A segment outside any connection's flow: a RST, a keepalive probe (with <paramref name="tp"/>'s timestamp and window); <paramref name="scope"/> as <see cref="TcpCb.ScopeId"/>.</summary>
    internal void SendControl(TcpAddr la, ushort lp, TcpAddr fa, ushort fp, uint seq, uint ack, byte flags, uint scope, TcpCb? tp = null)
    {
        var o = new TcpOptions();
        ushort win = 0;
        if (tp != null)
        {
            if (tp.TsOk) { o.HasTimestamp = true; o.TsVal = TsNow(); o.TsEcr = tp.TsRecent; }
            win = (ushort)Math.Min((Seq.Gt(tp.RcvAdv, tp.RcvNxt) ? tp.RcvAdv - tp.RcvNxt : 0) >> tp.RcvScale, 65535u);
        }
        var h = new TcpHeader { SourcePort = lp, DestinationPort = fp, Sequence = seq, Acknowledgment = ack, Flags = flags, Window = win };
        int hlen = TcpPacket.HeaderLengthFor(o);
        Mbuf? m = Pool.Get(hlen);
        if (m == null) return;
        Span<byte> s = m.Append(hlen);
        EmitHeader(s, la, fa, h, o, 0);
        if ((flags & TcpPacket.FlagRst) != 0) RstsSent++;
        IpOutput(m, la, fa, scope);
    }
}
