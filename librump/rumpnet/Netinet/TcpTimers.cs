using System;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// TCP's timers (NetBSD tcp_timer.c), kept as due times in each TCB (<see cref="TcpCb.Off"/> when
/// not running): retransmission (RFC 6298 with Karn's rule and exponential back-off), persist
/// (zero-window probes, RFC 9293 3.8.6.1), keepalive (RFC 1122 4.2.3.6), delayed ACK (RFC 1122
/// 4.2.3.2, RFC 9293 3.8.6.3) and 2MSL (TIME_WAIT, and the FIN_WAIT_2 idle limit). The stack asks
/// its environment for one wake-up at the earliest (a callout); <see cref="Tick"/> runs what is
/// due and asks again. Entered with no lock held; takes the stack's lock.
/// </summary>
public sealed partial class TcpStack
{
    /// <summary>Runs every timer due by now (the callout's function).</summary>
    public void Tick()
    {
        Enter();
        try
        {
            long now = Now;
            _armedMs = long.MaxValue;
            long next = long.MaxValue;
            var all = Pcbs.All;
            // Firing may close a TCB (swapping the last one into its slot): walk from the end.
            for (int i = all.Count - 1; i >= 0; i--)
            {
                if (i >= all.Count) continue;
                TcpCb tp = all[i];
                FireDue(tp, now);
                if (tp.InTable) next = Math.Min(next, NextDue(tp));
            }
            if (next != long.MaxValue) TimerAt(next);
        }
        finally { Exit(); }
    }

    private static long NextDue(TcpCb tp)
        => Math.Min(Math.Min(tp.TRexmt, tp.TPersist), Math.Min(Math.Min(tp.TKeep, tp.TDelAck), tp.T2Msl));

    /// <summary>Asks for a tick at tp's earliest timer.</summary>
    internal void Rearm(TcpCb tp)
    {
        long d = NextDue(tp);
        if (d != long.MaxValue) TimerAt(d);
    }

    private void FireDue(TcpCb tp, long now)
    {
        if (tp.T2Msl <= now)
        {
            tp.T2Msl = TcpCb.Off;
            // TIME_WAIT's end, or a FIN_WAIT_2 left idle, or a SYN_RECEIVED that never completed.
            Close(tp, tp.State == TcpState.SynReceived ? Abi.ETIMEDOUT : 0);
            return;
        }
        if (tp.TDelAck <= now)
        {
            tp.TDelAck = TcpCb.Off;
            tp.AckNow = true;
            Output(tp);
        }
        if (tp.TRexmt <= now) { tp.TRexmt = TcpCb.Off; RexmtTimeout(tp, now); if (!tp.InTable) return; }
        if (tp.TPersist <= now) { tp.TPersist = TcpCb.Off; PersistTimeout(tp, now); }
        if (tp.TKeep <= now) { tp.TKeep = TcpCb.Off; KeepTimeout(tp, now); }
    }

    /// <summary>RFC 6298 5.4-5.7: back off, resend from SND.UNA, collapse the window (RFC 5681 3.1).</summary>
    private void RexmtTimeout(TcpCb tp, long now)
    {
        int limit = tp.Synchronized ? MaxRxtShift : MaxSynRetries;
        if (++tp.RxtShift > limit)
        {
            Close(tp, tp.Error != 0 ? tp.Error : Abi.ETIMEDOUT);
            return;
        }
        tp.Timeouts++;
        tp.RtoMs = Math.Min(tp.RtoMs * 2, MaxRtoMs);
        if (tp.State is not (TcpState.SynSent or TcpState.SynReceived)) tp.Cc.OnTimeout(tp, now);
        // Karn: nothing sent before now may be timed; the next sample comes from new data.
        tp.RttTiming = false;
        tp.InRecovery = false;
        tp.DupAcks = 0;
        // RFC 6675 5.1 / 2018 8: after a timeout the receiver may have dropped what it SACKed.
        tp.Scoreboard.Clear();
        tp.Recover = tp.SndMax;
        tp.HighRxt = tp.SndUna;
        tp.SndNxt = tp.SndUna;
        tp.Retransmits++;
        Output(tp);
    }

    /// <summary>A zero window: send one byte past it, and probe again later with back-off (no limit while the peer answers).</summary>
    private void PersistTimeout(TcpCb tp, long now)
    {
        if (tp.Snd.Count == 0) return;
        tp.Force = true;
        Output(tp); // re-arms the persist timer if data still waits
        tp.Force = false;
    }

    internal void SetPersist(TcpCb tp)
    {
        long t = Math.Clamp((tp.HaveRtt ? tp.SrttMs + 4 * tp.RttvarMs : InitialRtoMs) << Math.Min(tp.PersistShift, 7), 500, 60_000);
        tp.PersistShift++;
        tp.TPersist = Now + t;
        Rearm(tp);
    }

    /// <summary>RFC 1122 4.2.3.6: after KeepIdle with nothing heard, probe with SEG.SEQ = SND.NXT-1; give up after KeepCount unanswered.</summary>
    private void KeepTimeout(TcpCb tp, long now)
    {
        if (!tp.KeepAlive || !tp.Synchronized || tp.State >= TcpState.Closing) return;
        if (now - tp.LastRecvMs >= tp.KeepIdleMs + (long)tp.KeepCount * tp.KeepIntvlMs)
        {
            Close(tp, Abi.ETIMEDOUT);
            return;
        }
        tp.KeepProbes++;
        SendControl(tp.LocalAddr, tp.LocalPort, tp.RemoteAddr, tp.RemotePort, tp.SndUna - 1, tp.RcvNxt, TcpPacket.FlagAck, tp.ScopeId, tp);
        tp.TKeep = now + tp.KeepIntvlMs;
        Rearm(tp);
    }

    internal void ArmKeep(TcpCb tp)
    {
        if (!tp.KeepAlive) { tp.TKeep = TcpCb.Off; return; }
        tp.TKeep = tp.LastRecvMs + tp.KeepIdleMs;
        if (tp.TKeep <= Now) tp.TKeep = Now + tp.KeepIntvlMs;
        Rearm(tp);
    }

    /// <summary>Sets SO_KEEPALIVE; starts (or stops) the idle timer.</summary>
    public void SetKeepAlive(TcpCb tp, bool on)
    {
        Enter();
        tp.KeepAlive = on;
        tp.KeepProbes = 0;
        if (on) ArmKeep(tp); else tp.TKeep = TcpCb.Off;
        Exit();
    }

    /// <summary>RFC 6298 2.2-2.3 (α = 1/8, β = 1/4, G = 1 ms) and 2.4's minimum (200 ms here, as Linux).</summary>
    internal void RttSample(TcpCb tp, long rttMs)
    {
        if (rttMs < 0) return;
        if (!tp.HaveRtt)
        {
            tp.SrttMs = rttMs;
            tp.RttvarMs = rttMs / 2;
            tp.HaveRtt = true;
        }
        else
        {
            tp.RttvarMs = (3 * tp.RttvarMs + Math.Abs(tp.SrttMs - rttMs)) / 4;
            tp.SrttMs = (7 * tp.SrttMs + rttMs) / 8;
        }
        tp.RtoMs = Math.Clamp(tp.SrttMs + Math.Max(1, 4 * tp.RttvarMs), MinRtoMs, MaxRtoMs);
        tp.RxtShift = 0;
    }

    /// <summary>RFC 6298 5.1/5.3: (re)start the retransmission timer with the current RTO.</summary>
    internal void StartRexmt(TcpCb tp)
    {
        tp.TRexmt = Now + tp.RtoMs;
        Rearm(tp);
    }

    /// <summary>The 2MSL wait (RFC 9293 3.10.7.4), restarted by a retransmitted FIN.</summary>
    internal void EnterTimeWait(TcpCb tp)
    {
        tp.State = TcpState.TimeWait;
        tp.TRexmt = tp.TPersist = tp.TKeep = tp.TDelAck = TcpCb.Off;
        tp.T2Msl = Now + 2 * MslMs;
        Rearm(tp);
    }
}
