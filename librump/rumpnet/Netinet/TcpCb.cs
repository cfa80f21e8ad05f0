using System;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>RFC 9293 3.3.2's states.</summary>
public enum TcpState : byte
{
    Closed, Listen, SynSent, SynReceived, Established, FinWait1, FinWait2, CloseWait, Closing, LastAck, TimeWait,
}

/// <summary>What the socket layer hears from a connection (NetBSD sorwakeup, sowwakeup, soisconnected...).</summary>
public interface ITcpUpcall
{
    /// <summary>Data, a FIN, an error or (on a listener) a new connection to accept.</summary>
    void Readable(TcpCb tp);
    /// <summary>Send-buffer space, a connection completing, or an error.</summary>
    void Writable(TcpCb tp);
}

/// <summary>A listener's upcall that decides, by its socket's accept queue, whether a new SYN may start a connection.</summary>
public interface ITcpListenUpcall
{
    /// <summary>Whether another embryonic connection fits the backlog (with the stack's lock held).</summary>
    bool CanQueue(TcpCb listener);
}

/// <summary>
/// A byte ring, made once per connection: the send buffer (bytes from SND.UNA's first data byte
/// on) and the receive buffer (bytes the user has not read, then out-of-order data at its offset
/// from RCV.NXT). Its capacity is fixed, except that the send buffer may grow
/// (<see cref="Grow"/>, by its one sender, which holds no span of it then).
/// </summary>
internal sealed class ByteRing
{
    private byte[] _b;
    private int _head;
    public int Count;

    public ByteRing(int capacity) { _b = new byte[capacity]; }
    public int Capacity => _b.Length;
    public int Free => _b.Length - Count;

    /// <summary>Copies <paramref name="src"/> to offset <paramref name="at"/> past the head (at + src.Length &lt;= Capacity); Count unchanged.</summary>
    public void WriteAt(int at, ReadOnlySpan<byte> src)
    {
        int pos = (_head + at) % _b.Length;
        int first = Math.Min(src.Length, _b.Length - pos);
        src.Slice(0, first).CopyTo(_b.AsSpan(pos));
        src.Slice(first).CopyTo(_b);
    }

    /// <summary>Copies dst.Length bytes from offset <paramref name="at"/> past the head.</summary>
    public void ReadAt(int at, Span<byte> dst)
    {
        int pos = (_head + at) % _b.Length;
        int first = Math.Min(dst.Length, _b.Length - pos);
        _b.AsSpan(pos, first).CopyTo(dst);
        _b.AsSpan(0, dst.Length - first).CopyTo(dst.Slice(first));
    }

    public int Append(ReadOnlySpan<byte> src)
    {
        int n = Math.Min(src.Length, Free);
        WriteAt(Count, src.Slice(0, n));
        Count += n;
        return n;
    }

    /// <summary>Counts <paramref name="n"/> bytes already written past the end (with <see cref="WriteAt"/>) as held.</summary>
    public void Commit(int n) => Count += n;

    /// <summary>
    /// The contiguous run of the ring starting <paramref name="at"/> bytes past the head, at most
    /// <paramref name="max"/> long (shorter where the ring wraps). The socket layer copies the
    /// caller's data straight into the free part (at = Count) or out of the held part (at = 0):
    /// one copy. The span stays valid after the stack lock is dropped, since only the one sender
    /// writes past Count and only the one receiver consumes.
    /// </summary>
    public Span<byte> Segment(int at, int max)
    {
        int pos = (_head + at) % _b.Length;
        return _b.AsSpan(pos, Math.Min(max, _b.Length - pos));
    }

    /// <summary>Moves the held bytes to a larger ring of <paramref name="capacity"/> bytes, starting at its head.</summary>
    public void Grow(int capacity)
    {
        if (capacity <= _b.Length) return;
        var b = new byte[capacity];
        ReadAt(0, b.AsSpan(0, Count));
        _b = b;
        _head = 0;
    }

    public void Consume(int n)
    {
        _head = (_head + n) % _b.Length;
        Count -= n;
    }
}

/// <summary>
/// The TCP control block (RFC 9293 3.3.1, NetBSD struct tcpcb): one connection's state, its
/// buffers and its timers. Every field is protected by the stack's lock (<see cref="TcpStack"/>);
/// the user calls here take it.
/// </summary>
public sealed class TcpCb
{
    internal readonly TcpStack Stack;
    public TcpState State { get; internal set; }
    /// <summary>The local address (<see cref="TcpAddr"/>: IPv4 ones v4-mapped); before a bind, its family's wildcard, which says the TCB's family.</summary>
    public TcpAddr LocalAddr { get; internal set; }
    public TcpAddr RemoteAddr { get; internal set; }
    public ushort LocalPort { get; internal set; }
    public ushort RemotePort { get; internal set; }
    /// <summary>Why the connection died (ECONNRESET, ECONNREFUSED, ETIMEDOUT), 0 while it lives; the socket's so_error.</summary>
    public int Error { get; internal set; }
    public ITcpUpcall? Upcall;
    /// <summary>
    /// The zone (RFC 4007) of an IPv6 link-local connection: the index of the interface it runs
    /// over (the user's sin6_scope_id, or the one its SYN came in by); 0 for any other, and for a
    /// link-local peer named without one (IPv6 output then picks the first Ethernet interface).
    /// </summary>
    public uint ScopeId { get; internal set; }
    internal bool InTable;
    /// <summary>The user is done with it (close(2)): it lingers only to finish the exchange, and FIN_WAIT_2 is bounded.</summary>
    internal bool Detached;

    // The send sequence space (RFC 9293 3.3.1). SndMax: the highest sequence number sent (NetBSD snd_max).
    internal uint Iss, SndUna, SndNxt, SndMax, SndWl1, SndWl2;
    internal uint SndWnd, MaxSndWnd;
    // The receive sequence space. RcvAdv: the right edge of the window we advertised.
    internal uint Irs, RcvNxt, RcvAdv;
    internal byte SndScale, RcvScale;
    internal bool WsOk, TsOk, SackOk;
    internal uint TsRecent;
    internal long TsRecentAgeMs;
    internal uint LastAckSent;

    /// <summary>SMSS: the peer's MSS option bounded by our interface, less the timestamp option when on.</summary>
    public uint Mss { get; internal set; } = 536;
    internal ushort OurMss;
    /// <summary>The offloads (IFCAP_*) of the interface the segments leave by, as the last <see cref="TcpStack.Output"/> call found them.</summary>
    internal int OutCaps;
    public uint Cwnd, Ssthresh = uint.MaxValue / 2;
    internal CongestionControl Cc = null!;

    // Loss recovery: NewReno (RFC 6582) or SACK-based (RFC 6675, simplified).
    internal bool InRecovery;
    internal uint Recover, HighRxt;
    internal int DupAcks;
    internal SeqRangeSet Scoreboard;
    internal SeqRangeSet Reass;

    // RTT and RTO (RFC 6298), in milliseconds. RttSeq/RttStartMs time one segment when there are no timestamps (Karn's rule: never a retransmitted one).
    internal long SrttMs, RttvarMs, RtoMs = TcpStack.InitialRtoMs;
    internal bool HaveRtt;
    internal bool RttTiming;
    internal uint RttSeq;
    internal long RttStartMs;
    internal int RxtShift;

    // Timers: absolute due times in ms, or Off.
    internal const long Off = long.MaxValue;
    internal long TRexmt = Off, TPersist = Off, TKeep = Off, TDelAck = Off, T2Msl = Off;
    internal int PersistShift, KeepProbes;
    internal long LastRecvMs;

    /// <summary>Made when the connection starts (a socket sizes them from SO_SNDBUF/SO_RCVBUF: <see cref="TcpStack.SizeBuffers"/>).</summary>
    internal ByteRing Snd, Rcv;
    /// <summary>The sequence number of the send buffer's first byte.</summary>
    internal uint SndBufSeq;
    /// <summary>The user asked to close: a FIN follows the buffered data. FinSent: it occupies SndBufSeq + Snd.Count.</summary>
    internal bool FinQueued, FinSent;
    /// <summary>The peer's FIN has been received (no more data comes).</summary>
    public bool RecvClosed { get; internal set; }
    internal int SegsSinceAck;
    internal bool AckNow;
    /// <summary>The persist timer's turn: send into a small window regardless of SWS avoidance, or a one-byte probe into a zero one.</summary>
    internal bool Force;

    // Options the user sets.
    public bool NoDelay;
    public bool KeepAlive;
    public long KeepIdleMs = 2 * 3600 * 1000, KeepIntvlMs = 75 * 1000;
    public int KeepCount = 8;

    // Listening: embryonic and completed connections (NetBSD so_q0/so_q).
    internal TcpCb? Listener;
    internal int Backlog;
    internal int Embryonic;
    internal readonly System.Collections.Generic.Queue<TcpCb>? AcceptQueue;
    /// <summary>A listener's children get buffers of these sizes (its socket's SO_SNDBUF/SO_RCVBUF; 0: the stack's defaults).</summary>
    internal int ChildSndBuf, ChildRcvBuf;

    // A socket's binding before it listens or connects (NetBSD's bound inpcb).
    /// <summary>In the table for its local address and port only (bind(2) without listen or connect).</summary>
    internal bool BoundOnly;
    /// <summary>The binding socket's SO_REUSEADDR/SO_REUSEPORT bits (<see cref="TcpPcbTable.Conflicts"/>).</summary>
    internal int Reuse;
    /// <summary>
    /// An AF_INET6 socket's TCB with IPV6_V6ONLY off: bound to ::, its listener also takes IPv4
    /// connections (<see cref="TcpPcbTable.LookupListener"/>), and a v4 bind of its port clashes
    /// with it (<see cref="TcpPcbTable.Conflicts"/>). Its IPv4 connections are IPv4 TCBs like
    /// any other: only the socket's names (sockaddr_in6, v4-mapped) and the pcblist they are in
    /// tell them apart. Connections a dual-stack listener accepts inherit it.
    /// </summary>
    internal bool DualStack;

    // Counters a test (and netstat) reads.
    public long SegsSent, SegsReceived, Retransmits, FastRetransmits, Timeouts, ChallengeAcks, SackRecoveries;

    internal TcpCb(TcpStack stack, int sndBuf, int rcvBuf, bool listener)
    {
        Stack = stack;
        if (listener) { AcceptQueue = new(); Snd = Rcv = null!; return; }
        // 0: a socket's TCB, whose buffers are made when it connects.
        Snd = sndBuf > 0 ? new ByteRing(sndBuf) : null!;
        Rcv = rcvBuf > 0 ? new ByteRing(rcvBuf) : null!;
    }

    /// <summary>Synchronized states: SYN seen both ways (RFC 9293 3.5).</summary>
    internal bool Synchronized => State >= TcpState.Established;
    /// <summary>Bytes the user can read now.</summary>
    public int Readable { get { Stack.Enter(); int n = Rcv.Count; Stack.Exit(); return n; } }
    /// <summary>Send-buffer space.</summary>
    public int Writable { get { Stack.Enter(); int n = Snd.Free; Stack.Exit(); return n; } }
    /// <summary>Bytes queued and not yet acknowledged.</summary>
    public int Unacked { get { Stack.Enter(); int n = Snd.Count; Stack.Exit(); return n; } }
    /// <summary>Completed connections waiting for accept.</summary>
    public int AcceptReady { get { Stack.Enter(); int n = AcceptQueue?.Count ?? 0; Stack.Exit(); return n; } }
    public uint SendScale => SndScale;
    public uint RecvScale => RcvScale;
    public bool Timestamps => TsOk;
    public bool Sack => SackOk;
    public uint PeerWindow => SndWnd;
    public long RtoMsNow => RtoMs;
    public string CongestionName => Cc?.Name ?? "";

    public override string ToString() => $"{LocalAddr}:{LocalPort} -> {RemoteAddr}:{RemotePort} {State}";
}
