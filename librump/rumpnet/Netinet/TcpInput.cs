using System;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// Segment arrival (RFC 9293 3.10.7, NetBSD tcp_input.c): find the TCB, then by state: LISTEN
/// (a SYN makes an embryonic connection under the listener's backlog), SYN-SENT, and the
/// synchronized states in the RFC's order: PAWS (RFC 7323 5), RST (RFC 5961 3: exact sequence
/// resets, in-window ones get a challenge ACK), SYN (RFC 5961 4: a challenge ACK), trimming to
/// the window, the ACK (RFC 5961 5's range; new data acknowledged, RTT, NewReno/SACK recovery,
/// duplicate ACKs, the window update), data into the receive ring (out-of-order data at its place,
/// recorded for reassembly and SACK), and the FIN. Entered from IPv4 and IPv6 input with no lock held.
/// </summary>
public sealed partial class TcpStack
{
    /// <summary>
    /// A TCP segment from IPv4 input: <paramref name="m"/> holds the IP payload exactly (the header
    /// is stripped). Consumes <paramref name="m"/>. The caller has dropped link broadcasts and
    /// multicasts (RFC 1122 4.2.3.10).
    /// </summary>
    public void Input(Mbuf m, Ipv4Addr src, Ipv4Addr dst)
    {
        Enter();
        _inScope = 0;
        try { InputLocked(m.Bytes, src, dst, (m.CsumFlags & Mbuf.CsumTcpOk) != 0); }
        finally
        {
            Exit();
            m.Free();
        }
    }

    /// <summary>
    /// A TCP segment from IPv6 input, as <see cref="Input(Mbuf, Ipv4Addr, Ipv4Addr)"/>. The caller
    /// has dropped multicast destinations, and segments between v4-mapped or unspecified
    /// addresses: on the wire they are never real (RFC 4291 2.5.5.2, RFC 4942 2.2), and here a
    /// v4-mapped address is an IPv4 one (a dual-stack socket's IPv4 connection).
    /// </summary>
    public void Input6(Mbuf m, Ipv6Addr src, Ipv6Addr dst)
    {
        Enter();
        // A link-local peer's zone is the interface its segment came in by (RFC 4007 6).
        _inScope = (src.IsLinkLocal || dst.IsLinkLocal) && m.RcvIf != null ? (uint)m.RcvIf.Index : 0;
        try { InputLocked(m.Bytes, src, dst, (m.CsumFlags & Mbuf.CsumTcpOk) != 0); }
        finally
        {
            Exit();
            m.Free();
        }
    }

    /// <param name="csumOk">The interface verified the checksum, or its host vouched for it (<see cref="Mbuf.CsumTcpOk"/>): not checked again.</param>
    private void InputLocked(ReadOnlySpan<byte> b, TcpAddr src, TcpAddr dst, bool csumOk)
    {
        TcpPacket seg;
        WireError pe = csumOk ? TcpPacket.ParseVerified(b, out seg)
            : src.IsV4 ? TcpPacket.ParseV4(b, src.V4, dst.V4, out seg) : TcpPacket.ParseV6(b, src.V6, dst.V6, out seg);
        if (csumOk) CsumOffloadedIn++;
        if (pe != WireError.Ok
            || TcpOptions.Parse(seg.Options, out TcpOptions o) != WireError.Ok
            || seg.SourcePort == 0 || seg.DestinationPort == 0)
        {
            BadSegments++;
            return;
        }
        TcpCb? tp = Pcbs.Lookup(dst, seg.DestinationPort, src, seg.SourcePort);
        // A new SYN for an address pair in TIME_WAIT, above what it received, starts a new incarnation (RFC 9293 3.6.1, RFC 6191).
        if (tp != null && tp.State == TcpState.TimeWait && seg.Syn && !seg.Ack && !seg.Rst && Seq.Gt(seg.Sequence, tp.RcvNxt))
        {
            TcpCb? l = Pcbs.LookupListener(dst, seg.DestinationPort);
            if (l != null) { Close(tp, 0); tp = null; }
        }
        tp ??= Pcbs.LookupListener(dst, seg.DestinationPort);
        if (tp == null)
        {
            NoPort++;
            RespondReset(seg, src, dst);
            return;
        }
        tp.SegsReceived++;
        switch (tp.State)
        {
            case TcpState.Listen:
                ListenInput(tp, seg, o, src, dst);
                return;
            case TcpState.SynSent:
                SynSentInput(tp, seg, o, src, dst);
                return;
            default:
                SynchronizedInput(tp, seg, o, src, dst);
                return;
        }
    }

    /// <summary>RFC 9293 3.10.7.1: a segment for no connection gets a RST (never a RST for a RST).</summary>
    private void RespondReset(in TcpPacket seg, TcpAddr src, TcpAddr dst)
    {
        if (seg.Rst) return;
        if (seg.Ack) SendControl(dst, seg.DestinationPort, src, seg.SourcePort, seg.Acknowledgment, 0, TcpPacket.FlagRst, _inScope);
        else SendControl(dst, seg.DestinationPort, src, seg.SourcePort, 0, seg.Sequence + (uint)seg.SegmentLength, TcpPacket.FlagRst | TcpPacket.FlagAck, _inScope);
    }

    /// <summary>The options of a SYN or SYN-ACK (RFC 9293 3.7.1, RFC 7323 2.2 and 3.2, RFC 2018 2): both sides must offer scaling, timestamps, SACK.</summary>
    private void SynOptions(TcpCb tp, in TcpOptions o, bool synAck)
    {
        uint peerMss = o.HasMss && o.Mss > 0 ? o.Mss : 536u;
        tp.WsOk = UseWindowScale && o.HasWindowScale;
        tp.SndScale = tp.WsOk ? Math.Min(o.WindowScale, (byte)14) : (byte)0;
        if (!tp.WsOk) tp.RcvScale = 0;
        tp.TsOk = UseTimestamps && o.HasTimestamp;
        if (tp.TsOk) { tp.TsRecent = o.TsVal; tp.TsRecentAgeMs = Now; }
        tp.SackOk = UseSack && o.SackPermitted;
        uint mss = Math.Min(peerMss, tp.OurMss);
        if (tp.TsOk) mss -= 12;
        tp.Mss = Math.Max(mss, 64u);
        tp.Cwnd = InitialWindow(tp);
    }

    private void ListenInput(TcpCb l, in TcpPacket seg, in TcpOptions o, TcpAddr src, TcpAddr dst)
    {
        if (seg.Rst) return;
        if (seg.Ack)
        {
            RespondReset(seg, src, dst);
            return;
        }
        if (!seg.Syn) return;
        // The backlog counts embryonic and completed connections (NetBSD's so_qlimit over q0 and q); past it SYNs are dropped and the peer retries.
        // A socket's listener judges by its socket's queues and listen(2) backlog.
        if (!CanQueue(l))
        {
            // Full. An embryo whose SYN-ACK went unanswered for a whole RTO (a spoofed SYN's, most
            // likely) makes room, the one silent longest first, as NetBSD's SYN cache drops its
            // oldest entry: a SYN flood cannot lock real clients out for the SYN-ACKs' whole
            // retransmission time (about two minutes), only until their first SYN retransmission.
            // Handshakes still within their first RTO and completed connections are never dropped.
            if (!DropOldestEmbryo(l) || !CanQueue(l))
            {
                ListenOverflows++;
                return;
            }
        }
        if (dst.IsUnspecified || dst.IsMulticast || !src.SameFamily(dst)) return;
        TcpCb tp = NewCb(l.ChildSndBuf, l.ChildRcvBuf);
        tp.LocalAddr = dst; tp.LocalPort = seg.DestinationPort; tp.RemoteAddr = src; tp.RemotePort = seg.SourcePort;
        tp.ScopeId = _inScope;
        tp.DualStack = l.DualStack; // as NetBSD's child inherits the listener's in6p flags
        tp.OurMss = MssFor(src, _inScope);
        if (!Pcbs.InsertConnection(tp)) return;
        tp.Listener = l;
        l.Embryonic++;
        tp.NoDelay = l.NoDelay;
        tp.Irs = seg.Sequence;
        tp.RcvNxt = tp.RcvAdv = seg.Sequence + 1;
        SynOptions(tp, o, false);
        tp.SndWnd = tp.MaxSndWnd = seg.Window;
        tp.SndWl1 = seg.Sequence;
        tp.Iss = NewIss(dst, seg.DestinationPort, src, seg.SourcePort);
        tp.SndUna = tp.SndNxt = tp.SndMax = tp.Recover = tp.Iss;
        tp.SndWl2 = tp.Iss;
        tp.SndBufSeq = tp.Iss + 1;
        tp.State = TcpState.SynReceived;
        tp.LastRecvMs = Now;
        Output(tp);
    }

    private static bool CanQueue(TcpCb l)
        => l.Upcall is ITcpListenUpcall lu ? lu.CanQueue(l) : l.Embryonic + l.AcceptQueue!.Count < l.Backlog;

    /// <summary>Closes <paramref name="l"/>'s SYN_RECEIVED connection that heard nothing for the longest among those that have retransmitted their SYN-ACK (stack lock held); false if it has none.</summary>
    private bool DropOldestEmbryo(TcpCb l)
    {
        if (l.Embryonic == 0) return false;
        TcpCb? oldest = null;
        foreach (TcpCb tp in Pcbs.All)
            if (tp.Listener == l && tp.State == TcpState.SynReceived && tp.RxtShift > 0 && (oldest == null || tp.LastRecvMs < oldest.LastRecvMs)) oldest = tp;
        if (oldest == null) return false;
        EmbryosDropped++;
        Close(oldest, Abi.ETIMEDOUT);
        return true;
    }

    private void SynSentInput(TcpCb tp, in TcpPacket seg, in TcpOptions o, TcpAddr src, TcpAddr dst)
    {
        uint ack = seg.Acknowledgment;
        if (seg.Ack && (Seq.Leq(ack, tp.Iss) || Seq.Gt(ack, tp.SndMax)))
        {
            if (!seg.Rst) SendControl(dst, seg.DestinationPort, src, seg.SourcePort, ack, 0, TcpPacket.FlagRst, _inScope);
            return;
        }
        if (seg.Rst)
        {
            // Only a RST that acknowledges our SYN is believed (RFC 9293 3.10.7.3, RFC 5961 3.2).
            if (seg.Ack) Close(tp, Abi.ECONNREFUSED);
            return;
        }
        if (!seg.Syn) return;
        tp.Irs = seg.Sequence;
        tp.RcvNxt = tp.RcvAdv = seg.Sequence + 1;
        SynOptions(tp, o, true);
        tp.SndWnd = tp.MaxSndWnd = seg.Window;
        tp.SndWl1 = seg.Sequence;
        tp.Recover = tp.Iss;
        tp.LastRecvMs = Now;
        if (seg.Ack)
        {
            tp.SndWl2 = ack;
            if (tp.TsOk && o.HasTimestamp && o.TsEcr != 0) RttSample(tp, (int)(TsNow() - o.TsEcr));
            else if (tp.RttTiming && Seq.Gt(ack, tp.RttSeq)) RttSample(tp, Now - tp.RttStartMs);
            tp.RttTiming = false;
            tp.SndUna = ack;
            tp.RxtShift = 0;
            tp.TRexmt = TcpCb.Off;
            tp.State = TcpState.Established;
            ArmKeep(tp);
            tp.AckNow = true;
            Output(tp);
            tp.Upcall?.Writable(tp);
            return;
        }
        // Simultaneous open (RFC 9293 3.5, figure 8): our SYN goes again as a SYN-ACK.
        tp.State = TcpState.SynReceived;
        tp.SndNxt = tp.Iss;
        tp.RttTiming = false;
        Output(tp);
    }

    private void SynchronizedInput(TcpCb tp, in TcpPacket seg, in TcpOptions o, TcpAddr src, TcpAddr dst)
    {
        long now = Now;
        uint seq = seg.Sequence;
        ReadOnlySpan<byte> data = seg.Payload;
        bool fin = seg.Fin;
        uint wnd = Seq.Gt(tp.RcvAdv, tp.RcvNxt) ? tp.RcvAdv - tp.RcvNxt : 0;

        // PAWS (RFC 7323 5.3): an older timestamp than the last in-order one is an old duplicate.
        if (tp.TsOk && o.HasTimestamp && !seg.Rst && Seq.Lt(o.TsVal, tp.TsRecent) && now - tp.TsRecentAgeMs < 24L * 24 * 3600 * 1000)
        {
            tp.AckNow = true;
            Output(tp);
            return;
        }

        if (seg.Rst)
        {
            if (seq == tp.RcvNxt) Reset(tp);
            else if (Seq.InRange(seq, tp.RcvNxt, tp.RcvNxt + Math.Max(wnd, 1)))
            {
                // RFC 5961 3.2: in the window but not exact: ask the real peer (a challenge ACK).
                tp.ChallengeAcks++;
                tp.AckNow = true;
                Output(tp);
            }
            return;
        }

        if (seg.Syn)
        {
            if (tp.State == TcpState.SynReceived && seq == tp.Irs)
            {
                if (!seg.Ack)
                {
                    // The peer's SYN again: our SYN-ACK was lost; send it again.
                    tp.SndNxt = tp.Iss;
                    Output(tp);
                    return;
                }
                // Simultaneous open: the peer's SYN-ACK. Its SYN we have; its ACK completes ours.
                seq++;
            }
            else
            {
                // RFC 5961 4.2: a SYN in a synchronized state (or a new one in SYN_RECEIVED) gets a challenge ACK, whatever its sequence number.
                tp.ChallengeAcks++;
                tp.AckNow = true;
                Output(tp);
                return;
            }
        }

        // Trim what we already have (RFC 9293 3.10.7.4 first check; NetBSD's todrop).
        int todrop = (int)(tp.RcvNxt - seq);
        if (todrop > 0)
        {
            if (todrop > data.Length || (todrop == data.Length && !fin))
            {
                // Entirely old (a retransmission we have, a keepalive probe): acknowledge, and still process its ACK.
                tp.AckNow = true;
                if (todrop > data.Length) fin = false;
                data = default;
            }
            else data = data.Slice(todrop);
            seq = tp.RcvNxt;
        }
        // ... and what lies beyond the window.
        int beyond = (int)(seq + (uint)data.Length - (tp.RcvNxt + wnd));
        if (beyond > 0)
        {
            if (beyond >= data.Length)
            {
                if (!(wnd == 0 && seq == tp.RcvNxt))
                {
                    tp.AckNow = true;
                    Output(tp);
                    return;
                }
                // A zero-window probe: answer with our window, and process its ACK.
                tp.AckNow = true;
            }
            data = data.Slice(0, Math.Max(0, data.Length - beyond));
            fin = false;
        }

        // RFC 7323 4.3: remember the timestamp of a segment that starts at or before what we last acknowledged.
        if (tp.TsOk && o.HasTimestamp && Seq.Leq(seq, tp.LastAckSent))
        {
            tp.TsRecent = o.TsVal;
            tp.TsRecentAgeMs = now;
        }

        if (!seg.Ack) return;
        tp.LastRecvMs = now;
        tp.KeepProbes = 0;
        if (tp.KeepAlive) ArmKeep(tp);
        uint ack = seg.Acknowledgment;

        if (tp.State == TcpState.SynReceived)
        {
            if (!Seq.Gt(ack, tp.SndUna) || Seq.Gt(ack, tp.SndMax))
            {
                SendControl(dst, seg.DestinationPort, src, seg.SourcePort, ack, 0, TcpPacket.FlagRst, _inScope);
                return;
            }
            TcpCb? l = tp.Listener;
            if (l != null && !l.InTable)
            {
                // Its listener closed while the handshake was under way: nobody will accept it.
                SendControl(dst, seg.DestinationPort, src, seg.SourcePort, ack, 0, TcpPacket.FlagRst, _inScope);
                Close(tp, Abi.ECONNABORTED);
                return;
            }
            tp.State = TcpState.Established;
            tp.SndWnd = (uint)seg.Window << tp.SndScale;
            tp.MaxSndWnd = Math.Max(tp.MaxSndWnd, tp.SndWnd);
            tp.SndWl1 = seq;
            tp.SndWl2 = ack;
            ArmKeep(tp);
            if (l != null)
            {
                l.Embryonic--;
                l.AcceptQueue!.Enqueue(tp);
                l.Upcall?.Readable(l);
            }
            tp.Upcall?.Writable(tp);
        }

        // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.MAX].
        if (Seq.Gt(ack, tp.SndMax))
        {
            tp.ChallengeAcks++;
            tp.AckNow = true;
            Output(tp);
            return;
        }
        if (Seq.Lt(ack, tp.SndUna - tp.MaxSndWnd)) { tp.AckNow = true; Output(tp); return; }

        if (tp.SackOk && o.SackCount > 0)
            for (int i = 0; i < o.SackCount; i++)
            {
                SackBlock sb = o.Sack[i];
                if (Seq.Gt(sb.Left, tp.SndUna) && Seq.Leq(sb.Right, tp.SndMax) && Seq.Lt(sb.Left, sb.Right))
                    tp.Scoreboard.Add(sb.Left, sb.Right);
            }

        uint segWnd = (uint)seg.Window << tp.SndScale;
        bool windowChanged = segWnd != tp.SndWnd;
        if (Seq.Gt(ack, tp.SndUna)) NewAck(tp, ack, o, now);
        else if (ack == tp.SndUna && data.Length == 0 && !fin && !windowChanged && tp.SndMax != tp.SndUna)
            DupAck(tp, now);
        else if (ack == tp.SndUna) tp.DupAcks = 0;
        if (!tp.InTable) return;

        // The send window (RFC 9293 3.10.7.4): only from a segment no older than the last update.
        if (Seq.Lt(tp.SndWl1, seq) || (tp.SndWl1 == seq && Seq.Leq(tp.SndWl2, ack)))
        {
            tp.SndWnd = segWnd;
            tp.SndWl1 = seq;
            tp.SndWl2 = ack;
            if (segWnd > tp.MaxSndWnd) tp.MaxSndWnd = segWnd;
            if (segWnd > 0 && tp.TPersist != TcpCb.Off) tp.TPersist = TcpCb.Off;
        }

        if (data.Length > 0 && tp.State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            Data(tp, seq, data, now);

        if (fin && seq + (uint)data.Length == tp.RcvNxt && tp.State != TcpState.SynReceived)
            Fin(tp, now);
        if (!tp.InTable) return;
        Output(tp);
    }

    /// <summary>An acceptable RST (RFC 9293 3.10.7.4 second check): the connection ends with the error its state implies.</summary>
    private void Reset(TcpCb tp)
    {
        switch (tp.State)
        {
            case TcpState.SynReceived:
                // From a passive open: back to the listener (this embryo just goes); from an active one: refused.
                Close(tp, tp.Listener != null ? 0 : Abi.ECONNREFUSED);
                return;
            case TcpState.Established:
            case TcpState.FinWait1:
            case TcpState.FinWait2:
            case TcpState.CloseWait:
                Close(tp, Abi.ECONNRESET);
                return;
            default:
                Close(tp, 0);
                return;
        }
    }

    /// <summary>New data acknowledged: RTT, the send buffer, recovery (RFC 6582 / 6675), cwnd, the retransmission timer, and the FIN's fate.</summary>
    private void NewAck(TcpCb tp, uint ack, in TcpOptions o, long now)
    {
        uint acked = ack - tp.SndUna;
        if (tp.TsOk && o.HasTimestamp && o.TsEcr != 0) RttSample(tp, (int)(TsNow() - o.TsEcr));
        else if (tp.RttTiming && Seq.Gt(ack, tp.RttSeq)) { RttSample(tp, now - tp.RttStartMs); tp.RttTiming = false; }
        tp.RxtShift = 0;

        uint finSeq = FinSeq(tp);
        bool finAcked = tp.FinSent && Seq.Gt(ack, finSeq);
        int dataAcked = (int)Math.Clamp((long)(int)(ack - tp.SndBufSeq), 0, tp.Snd.Count);
        tp.Snd.Consume(dataAcked);
        tp.SndBufSeq += (uint)dataAcked;
        tp.SndUna = ack;
        if (Seq.Lt(tp.SndNxt, tp.SndUna)) tp.SndNxt = tp.SndUna;
        tp.Scoreboard.TrimBelow(ack);

        if (tp.InRecovery)
        {
            if (!Seq.Lt(ack, tp.Recover))
            {
                tp.InRecovery = false;
                tp.DupAcks = 0;
                tp.Cc.OnRecoveryEnd(tp, now);
            }
            else if (!tp.SackOk)
            {
                // RFC 6582 3.2 step 3: a partial ACK: resend the next hole at once, deflate by what was acknowledged.
                RetransmitAt(tp, ack, (int)tp.Mss);
                tp.Cwnd = tp.Cwnd > acked ? tp.Cwnd - acked : 0;
                tp.Cwnd += tp.Mss;
            }
            else if (Seq.Lt(tp.HighRxt, ack)) tp.HighRxt = ack;
        }
        else
        {
            tp.DupAcks = 0;
            tp.Cc.OnAck(tp, acked, now);
        }

        if (tp.SndUna == tp.SndMax) tp.TRexmt = TcpCb.Off;
        else StartRexmt(tp);

        if (dataAcked > 0)
        {
            tp.PersistShift = 0;
            tp.Upcall?.Writable(tp);
        }

        if (!finAcked) return;
        switch (tp.State)
        {
            case TcpState.FinWait1:
                tp.State = TcpState.FinWait2;
                // A closed socket does not wait for the peer's FIN for ever (NetBSD tcp_maxidle, Linux tcp_fin_timeout).
                if (tp.Detached) { tp.T2Msl = now + 2 * MslMs; Rearm(tp); }
                break;
            case TcpState.Closing:
                EnterTimeWait(tp);
                break;
            case TcpState.LastAck:
                Close(tp, 0);
                break;
        }
        // The socket hears that its FIN is through (NetBSD soisdisconnected in FIN_WAIT_2: a lingering close returns).
        if (tp.InTable) tp.Upcall?.Writable(tp);
    }

    /// <summary>A duplicate ACK: the third (or SACK showing more than two segments lost) starts fast retransmit; later ones inflate cwnd (NewReno) or let pipe send (SACK).</summary>
    private void DupAck(TcpCb tp, long now)
    {
        tp.DupAcks++;
        if (tp.InRecovery)
        {
            if (!tp.SackOk) tp.Cwnd += tp.Mss;
            return; // Output at the end of input sends what is now allowed.
        }
        bool sackSaysLost = tp.SackOk && tp.Scoreboard.CoveredBetween(tp.SndUna, tp.SndMax) > 2 * tp.Mss;
        if (tp.DupAcks < 3 && !sackSaysLost) return;
        // RFC 6582 3.2 step 2: not again for losses from the window already recovered.
        if (Seq.Lt(tp.SndUna, tp.Recover)) return;
        tp.InRecovery = true;
        tp.Recover = tp.SndMax;
        tp.FastRetransmits++;
        tp.Cc.OnCongestion(tp, now);
        tp.RttTiming = false;
        if (tp.SackOk && tp.Scoreboard.Count > 0)
        {
            tp.SackRecoveries++;
            tp.HighRxt = tp.SndUna;
            // SackRecoveryOutput (through Output) resends the first hole once pipe allows; RFC 6675 5 step 4.3 sends it now regardless.
            uint end = tp.Scoreboard.NextLeftAfter(tp.SndUna, out uint l) ? l : tp.SndMax;
            int len = RetransmitAt(tp, tp.SndUna, (int)Math.Min(tp.Mss, end - tp.SndUna));
            tp.HighRxt = tp.SndUna + (uint)len;
        }
        else
        {
            int len = RetransmitAt(tp, tp.SndUna, (int)tp.Mss);
            tp.HighRxt = tp.SndUna + (uint)len;
        }
        StartRexmt(tp);
    }

    /// <summary>Data into the receive ring at its offset: in order it is delivered (with whatever reassembly now joins); out of order it is held and SACKed.</summary>
    private void Data(TcpCb tp, uint seq, ReadOnlySpan<byte> data, long now)
    {
        int off = (int)(seq - tp.RcvNxt);
        tp.Rcv.WriteAt(tp.Rcv.Count + off, data);
        if (off == 0)
        {
            bool hadHoles = tp.Reass.Count > 0;
            tp.Rcv.Commit(data.Length);
            tp.RcvNxt += (uint)data.Length;
            tp.Reass.TrimBelow(tp.RcvNxt);
            uint end = tp.Reass.TakeContiguous(tp.RcvNxt);
            if (end != tp.RcvNxt)
            {
                tp.Rcv.Commit((int)(end - tp.RcvNxt));
                tp.RcvNxt = end;
            }
            // RFC 1122 4.2.3.2 / RFC 5681 4.2: ACK every second full segment at once, a hole's filling at once, else within DelAckMs.
            // A coalesced segment (an interface's GRO/LRO) counts as the full segments it holds, as Linux counts by rcv_mss.
            tp.SegsSinceAck += Math.Max(1, data.Length / (int)tp.Mss);
            if (hadHoles || tp.SegsSinceAck >= 2) tp.AckNow = true;
            else if (tp.TDelAck == TcpCb.Off) { tp.TDelAck = now + DelAckMs; Rearm(tp); }
            tp.Upcall?.Readable(tp);
        }
        else
        {
            tp.Reass.Add(seq, seq + (uint)data.Length);
            tp.AckNow = true; // RFC 5681 4.2: an out-of-order segment is acknowledged at once (a duplicate ACK, with SACK blocks).
        }
    }

    /// <summary>The peer's FIN, in order (RFC 9293 3.10.7.4 eighth check).</summary>
    private void Fin(TcpCb tp, long now)
    {
        tp.AckNow = true;
        if (tp.State == TcpState.TimeWait)
        {
            EnterTimeWait(tp);
            return;
        }
        if (tp.RecvClosed) return;
        tp.RcvNxt++;
        tp.RecvClosed = true;
        switch (tp.State)
        {
            case TcpState.Established:
                tp.State = TcpState.CloseWait;
                break;
            case TcpState.FinWait1:
                // Our FIN not yet acknowledged: simultaneous close.
                tp.State = TcpState.Closing;
                break;
            case TcpState.FinWait2:
                EnterTimeWait(tp);
                break;
        }
        tp.Upcall?.Readable(tp);
    }
}
