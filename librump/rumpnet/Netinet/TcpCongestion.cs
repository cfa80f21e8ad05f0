using System;

namespace Rump.Net.Netinet;

/// <summary>
/// Congestion control behind one interface (NetBSD tcp_congctl.h): the state machine calls it at
/// the four moments that matter, and it alone sets <see cref="TcpCb.Cwnd"/> and
/// <see cref="TcpCb.Ssthresh"/> there. Recovery itself (which segments to resend, when it ends)
/// is the state machine's. One instance per connection (made at connection set-up, not per
/// segment). Called with the TCB's lock held.
///
/// RFC 5681 (slow start, congestion avoidance), RFC 3465 (byte counting, L = 2 SMSS),
/// RFC 6582 (NewReno), RFC 9438 (CUBIC).
/// </summary>
public abstract class CongestionControl
{
    public abstract string Name { get; }
    /// <summary>New data was acknowledged outside recovery: grow the window.</summary>
    public abstract void OnAck(TcpCb tp, uint acked, long nowMs);
    /// <summary>Three duplicate ACKs (or SACK evidence of loss): fast retransmit starts; set ssthresh and cwnd.</summary>
    public abstract void OnCongestion(TcpCb tp, long nowMs);
    /// <summary>The retransmission timer fired.</summary>
    public abstract void OnTimeout(TcpCb tp, long nowMs);
    /// <summary>Recovery ended (the ACK covering the recovery point arrived).</summary>
    public virtual void OnRecoveryEnd(TcpCb tp, long nowMs) => tp.Cwnd = Math.Max(tp.Ssthresh, 2u * tp.Mss);

    public static CongestionControl? Create(string name) => name switch
    {
        "newreno" => new NewReno(),
        "cubic" => new Cubic(),
        _ => null,
    };

    /// <summary>RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 SMSS).</summary>
    protected static uint HalfFlight(TcpCb tp) => Math.Max((tp.SndMax - tp.SndUna) / 2, 2u * tp.Mss);
}

/// <summary>RFC 5681 slow start and congestion avoidance with RFC 3465 byte counting; the NewReno recovery is the state machine's.</summary>
public sealed class NewReno : CongestionControl
{
    private uint _acc;
    public override string Name => "newreno";

    public override void OnAck(TcpCb tp, uint acked, long nowMs)
    {
        if (tp.Cwnd < tp.Ssthresh)
        {
            tp.Cwnd += Math.Min(acked, 2u * tp.Mss);
            return;
        }
        // Congestion avoidance: one SMSS per window of data acknowledged.
        _acc += acked;
        if (_acc >= tp.Cwnd)
        {
            _acc -= tp.Cwnd;
            tp.Cwnd += tp.Mss;
        }
    }

    public override void OnCongestion(TcpCb tp, long nowMs)
    {
        tp.Ssthresh = HalfFlight(tp);
        tp.Cwnd = tp.Ssthresh + 3u * tp.Mss;
        _acc = 0;
    }

    public override void OnTimeout(TcpCb tp, long nowMs)
    {
        tp.Ssthresh = HalfFlight(tp);
        tp.Cwnd = tp.Mss;
        _acc = 0;
    }
}

/// <summary>
/// CUBIC (RFC 9438): after a loss the window follows W(t) = C (t - K)^3 + W_max, with K the time
/// to climb back to W_max, and never less than the Reno-friendly estimate (4.3). β = 0.7, C = 0.4,
/// fast convergence (4.7). Windows in segments as doubles, time in seconds since the epoch start.
/// </summary>
public sealed class Cubic : CongestionControl
{
    private const double C = 0.4, Beta = 0.7;
    private double _wMax, _k, _wEst;
    private long _epochMs = -1;
    private double _cwndSeg;
    public override string Name => "cubic";

    public override void OnAck(TcpCb tp, uint acked, long nowMs)
    {
        double mss = tp.Mss;
        if (tp.Cwnd < tp.Ssthresh)
        {
            tp.Cwnd += Math.Min(acked, 2u * tp.Mss);
            return;
        }
        double cwnd = tp.Cwnd / mss;
        if (_epochMs < 0)
        {
            _epochMs = nowMs;
            if (_wMax < cwnd) { _wMax = cwnd; _k = 0; }
            else _k = Math.Cbrt(_wMax * (1 - Beta) / C);
            _wEst = cwnd;
            _cwndSeg = cwnd;
        }
        double t = (nowMs - _epochMs) / 1000.0 + tp.SrttMs / 1000.0;
        double target = C * Math.Pow(t - _k, 3) + _wMax;
        // The Reno-friendly region (4.3): α = 3(1-β)/(1+β) segments per RTT.
        _wEst += 3 * (1 - Beta) / (1 + Beta) * (acked / mss) / Math.Max(cwnd, 1);
        if (target < _wEst) target = _wEst;
        // Grow by (target - cwnd)/cwnd per acked segment, capped at 1.5x per RTT (4.4).
        target = Math.Min(target, 1.5 * cwnd);
        if (target > cwnd) _cwndSeg += (target - cwnd) / cwnd * (acked / mss);
        else _cwndSeg += 0.01 * (acked / mss) / cwnd;
        if (_cwndSeg > cwnd) tp.Cwnd = (uint)Math.Min(_cwndSeg * mss, int.MaxValue);
    }

    private void Reduce(TcpCb tp)
    {
        double cwnd = Math.Max(tp.Cwnd, (tp.SndMax - tp.SndUna)) / (double)tp.Mss;
        // Fast convergence (4.7): a flow whose W_max shrinks gives up more.
        _wMax = cwnd < _wMax ? cwnd * (1 + Beta) / 2 : cwnd;
        _epochMs = -1;
        tp.Ssthresh = (uint)Math.Max(cwnd * Beta * tp.Mss, 2.0 * tp.Mss);
    }

    public override void OnCongestion(TcpCb tp, long nowMs)
    {
        Reduce(tp);
        tp.Cwnd = tp.Ssthresh;
    }

    public override void OnTimeout(TcpCb tp, long nowMs)
    {
        Reduce(tp);
        tp.Cwnd = tp.Mss;
    }

    public override void OnRecoveryEnd(TcpCb tp, long nowMs) => tp.Cwnd = Math.Max(tp.Ssthresh, 2u * tp.Mss);
}
