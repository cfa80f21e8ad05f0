using System;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// Where a TCP engine meets the rest of the system: the clock, IP output and a timer. The kernel's
/// implementation hands segments to IPv4 output and arms a callout; the tests' implementation is a
/// simulated wire with a clock they control.
/// </summary>
public interface ITcpEnvironment
{
    /// <summary>A monotonic clock in milliseconds.</summary>
    long NowMs { get; }
    /// <summary>Sends a TCP segment (header with checksum, and data) from src to dst. The callee owns <paramref name="m"/>.</summary>
    void Output(Mbuf m, Ipv4Addr src, Ipv4Addr dst);
    /// <summary>The same over IPv6, by the interface of index <paramref name="scope"/> for a link-local peer (0: IPv6's choice); an environment without IPv6 (the tests' IPv4 wires) drops it.</summary>
    void Output6(Mbuf m, Ipv6Addr src, Ipv6Addr dst, uint scope) => m.Free();
    /// <summary>Asks for <see cref="TcpStack.Tick"/> at <paramref name="dueMs"/> (replacing any earlier request).</summary>
    void ArmTimer(long dueMs);
}

/// <summary>
/// One TCP engine (NetBSD netinet/tcp_*.c): the PCB table and every TCB. Files:
/// TcpInput.cs (segment arrival, RFC 9293 3.10.7), TcpOutput.cs (what to send and building it),
/// TcpTimers.cs (retransmission, persist, keepalive, delayed ACK, 2MSL), TcpSack.cs,
/// TcpCongestion.cs, TcpPcb.cs.
///
/// RFCs: 9293 (TCP), 6298 (RTO), 5681 and 6582 (congestion control, NewReno), 9438 (CUBIC),
/// 2018 and 6675 (SACK, SACK loss recovery), 7323 (window scale, timestamps, PAWS),
/// 5961 (blind in-window attacks: challenge ACKs), 6528 (initial sequence numbers),
/// 1122 4.2.3.2 (delayed ACKs), 896 (Nagle); over IPv6, RFC 8200 8 (the pseudo-header, the MSS:
/// the path MTU less 60) and RFC 8201 (packet too big).
///
/// Both families run in one engine: a TCB's addresses are <see cref="TcpAddr"/>s (IPv4 ones
/// v4-mapped), and the family decides only the checksum's pseudo-header, the output routine
/// (<see cref="ITcpEnvironment.Output"/> or <see cref="ITcpEnvironment.Output6"/>) and the MSS.
///
/// Locking: one lock, <see cref="_lock"/> (NetBSD's softnet_lock), protects the PCB table and
/// every TCB in it with its buffers and timers. Every entry point takes it: segment input (from
/// IPv4 input), <see cref="Tick"/> (the timer callout), and the user calls (the socket layer,
/// which takes it before its socket-buffer locks). Output runs under it: IP output must not call
/// back into TCP (it queues, as loopback and drivers do). Without a kernel (the engine driven by
/// a single-threaded test harness) there is no lock. Timers are due times in each TCB, and the
/// environment is asked for one timer at the earliest of them (a callout in the kernel); Tick
/// walks the TCBs (a timing wheel would scale better past some thousand connections).
/// </summary>
public sealed partial class TcpStack
{
    internal const long InitialRtoMs = 1000, MinRtoMs = 200, MaxRtoMs = 64_000;
    internal const int MaxRxtShift = 12, MaxSynRetries = 6;
    internal const long DelAckMs = 40;
    internal const int DefaultBuffer = 256 * 1024;

    private readonly ITcpEnvironment _env;
    private readonly KMutex? _lock;
    internal readonly TcpPcbTable Pcbs = new();
    internal readonly MbufPool Pool;
    private readonly Random _rnd;
    private readonly uint _isnSecret;
    private long _armedMs = long.MaxValue;
    /// <summary>The zone of the segment being input (<see cref="TcpCb.ScopeId"/>), for the connections and replies it makes. Under the lock.</summary>
    private uint _inScope;
    /// <summary>Tests start sequence numbers where they want them (wraparound).</summary>
    internal uint? IssForTest;

    /// <summary>Maximum segment lifetime; TIME_WAIT lasts twice this (RFC 9293 3.4.2: 2 minutes; NetBSD and Linux use 30 s and 60 s).</summary>
    public long MslMs = 30_000;
    /// <summary>The MSS we announce: the interface MTU less 40 (set by whoever knows the route).</summary>
    public ushort LocalMss = 1460;
    /// <summary>The MSS to announce towards an address in a zone (<see cref="TcpCb.ScopeId"/>): its route's interface MTU less 40, or 60 over IPv6; null: <see cref="LocalMss"/> (less 20 over IPv6). Called with the lock held.</summary>
    public Func<TcpAddr, uint, ushort>? RouteMss;
    public int SendBufferSize = DefaultBuffer, RecvBufferSize = DefaultBuffer;
    /// <summary>net.inet.tcp.sendbuf_auto and sendbuf_max: whether send buffers grow, and to what size at most (NetBSD's 256 KiB).</summary>
    public volatile bool SendBufferAuto = true;
    public volatile int SendBufferMax = 256 * 1024;
    /// <summary>net.inet.tcp.congctl.selected: the algorithm new connections use (a reference written whole, read under the lock).</summary>
    public volatile string CongestionControl = "newreno";
    public bool UseSack = true, UseTimestamps = true, UseWindowScale = true;

    // Counters (netstat -s): segments that found no connection, bad checksums, malformed headers;
    // SYNs dropped at a full listener, and embryonic connections dropped to make room (a SYN flood).
    public long RstsSent, BadSegments, NoPort, ListenOverflows, EmbryosDropped;
    /// <summary>ICMPv6 packet-too-big messages that shrank a connection's segments.</summary>
    public long PmtuUpdates;
    /// <summary>
    /// Offloads: segments whose checksum the interface vouched for (not checked here), segments
    /// sent with the checksum left to the interface, and TSO segments sent with the MSS-sized
    /// pieces they stand for.
    /// </summary>
    public long CsumOffloadedIn, CsumOffloadedOut, TsoSegmentsSent, TsoPiecesSent;

    /// <summary>
    /// The offloads (<see cref="Ifnet.Capabilities"/>, IFCAP_*) of the interface a connection's
    /// segments leave by, looked up once per <see cref="Output"/> call; null or 0: none (checksums
    /// computed here, one segment per MSS). Called with the lock held.
    /// </summary>
    public Func<TcpAddr, uint, int>? RouteCaps;

    /// <param name="lck">The stack's lock (null: the caller guarantees one thread at a time, as the tests' harnesses do).</param>
    public TcpStack(ITcpEnvironment env, MbufPool pool, KMutex? lck = null, int seed = 0)
    {
        _env = env;
        Pool = pool;
        _lock = lck;
        _rnd = seed == 0 ? new Random() : new Random(seed);
        _isnSecret = (uint)_rnd.Next();
    }

    internal void Enter() => _lock?.Enter();
    internal void Exit() => _lock?.Exit();
    internal long Now => _env.NowMs;

    /// <summary>RFC 6528: a 4 µs clock plus a keyed hash of the 4-tuple, so a new incarnation starts above the old one.</summary>
    private uint NewIss(TcpAddr la, ushort lp, TcpAddr fa, ushort fp)
    {
        if (IssForTest is uint fixedIss) return fixedIss;
        uint h = (uint)HashCode.Combine(la.Hi ^ la.Lo ^ _isnSecret, fa.Hi ^ fa.Lo, (uint)lp << 16 | fp, _isnSecret);
        return (uint)(_env.NowMs * 250) + h;
    }

    private TcpCb NewCb(int sndBuf = 0, int rcvBuf = 0)
    {
        var tp = new TcpCb(this, 0, 0, false);
        SizeBuffers(tp, sndBuf, rcvBuf);
        return tp;
    }

    /// <summary>
    /// NetBSD's send-buffer autosizing (tcp_output with net.inet.tcp.sendbuf_auto): doubles a
    /// full send buffer, up to <see cref="SendBufferMax"/>, when the peer's window and the
    /// congestion window would both take more than it holds, so that the buffer is not what
    /// bounds the connection's rate (over a fast link, a 128 KiB buffer is two 64 KiB TSO
    /// segments in flight). False if it should not grow. Lock held.
    /// </summary>
    internal bool GrowSendBufferLocked(TcpCb tp)
    {
        int cap = tp.Snd.Capacity, max = SendBufferMax;
        if (!SendBufferAuto || cap >= max || tp.State != TcpState.Established) return false;
        // NetBSD's tests: the peer's window is at least 4/5 of the buffer, and every byte queued could be sent now.
        if ((long)tp.SndWnd * 5 < (long)cap * 4 || Math.Min(tp.SndWnd, tp.Cwnd) < (uint)tp.Snd.Count) return false;
        tp.Snd.Grow(Math.Min(cap * 2, max));
        return true;
    }

    /// <summary>
    /// Gives a TCB that has not started its buffers (0: the stack's default sizes) and picks the
    /// congestion control and window scale that go with them: the smallest shift that lets the
    /// whole receive buffer be advertised. Lock held (or a TCB nobody else sees yet).
    /// </summary>
    internal void SizeBuffers(TcpCb tp, int sndBuf, int rcvBuf)
    {
        if (sndBuf <= 0) sndBuf = SendBufferSize;
        if (rcvBuf <= 0) rcvBuf = RecvBufferSize;
        tp.Snd = new ByteRing(sndBuf);
        tp.Rcv = new ByteRing(rcvBuf);
        tp.Cc = Netinet.CongestionControl.Create(CongestionControl) ?? new NewReno();
        tp.OurMss = LocalMss;
        byte ws = 0;
        while (ws < 14 && (rcvBuf >> ws) > 65535) ws++;
        tp.RcvScale = ws;
    }

    // ---- The user's calls (the socket layer's pr_usrreq) ----------------------------------------

    /// <summary>The MSS to announce to <paramref name="fa"/> when the route is not known (no <see cref="RouteMss"/>): <see cref="LocalMss"/>, less IPv6's 20 more header bytes.</summary>
    internal ushort MssFor(TcpAddr fa, uint scope) => RouteMss != null ? RouteMss(fa, scope) : fa.IsV4 ? LocalMss : (ushort)(LocalMss - 20);

    /// <summary>A passive open on <paramref name="la"/>:<paramref name="port"/> (its family's wildcard for every address); EADDRINUSE if taken.</summary>
    public int Listen(TcpAddr la, ushort port, int backlog, out TcpCb? listener)
    {
        listener = null;
        Enter();
        try
        {
            if (port == 0) port = Pcbs.AllocatePort(la, _rnd);
            if (port == 0) return Abi.EADDRNOTAVAIL;
            if (Pcbs.PortInUse(la, port)) return Abi.EADDRINUSE;
            var tp = new TcpCb(this, 0, 0, true)
            {
                State = TcpState.Listen, LocalAddr = la, LocalPort = port, Backlog = Math.Clamp(backlog, 1, 4096),
            };
            Pcbs.InsertListener(tp);
            listener = tp;
            return 0;
        }
        finally { Exit(); }
    }

    /// <summary>A completed connection from <paramref name="listener"/>'s queue, or null (EWOULDBLOCK).</summary>
    public TcpCb? Accept(TcpCb listener)
    {
        Enter();
        TcpCb? tp = null;
        if (listener.AcceptQueue != null && listener.AcceptQueue.Count > 0)
        {
            tp = listener.AcceptQueue.Dequeue();
            tp.Listener = null;
        }
        Exit();
        return tp;
    }

    /// <summary>An active open (RFC 9293 3.10.1): sends a SYN. Local port 0 picks an ephemeral one.</summary>
    public int Connect(TcpAddr la, ushort lport, TcpAddr fa, ushort fport, out TcpCb? conn, ITcpUpcall? upcall = null)
    {
        conn = null;
        if (la.IsUnspecified || !la.SameFamily(fa)) return Abi.EADDRNOTAVAIL;
        Enter();
        try
        {
            TcpCb tp = NewCb();
            tp.Upcall = upcall;
            tp.LocalAddr = la;
            tp.LocalPort = lport;
            if (!fa.IsV4) tp.OurMss = MssFor(fa, 0);
            int e = ConnectLocked(tp, la, fa, fport);
            if (e == 0) conn = tp;
            return e;
        }
        finally { Exit(); }
    }

    /// <summary>
    /// The active open of <paramref name="tp"/> (made by NewCb or a socket's, buffers sized, maybe
    /// bound: its binding becomes the connection's) from <paramref name="la"/> (used when not bound
    /// to an address) to <paramref name="fa"/>:<paramref name="fport"/>. Lock held.
    /// </summary>
    internal int ConnectLocked(TcpCb tp, TcpAddr la, TcpAddr fa, ushort fport)
    {
        if (fport == 0 || fa.IsUnspecified || la.IsUnspecified || !la.SameFamily(fa)) return Abi.EADDRNOTAVAIL;
        bool wasBound = tp.BoundOnly;
        if (wasBound) Pcbs.Remove(tp);
        if (tp.LocalAddr.IsUnspecified) tp.LocalAddr = la;
        if (tp.LocalPort == 0) tp.LocalPort = Pcbs.AllocatePort(tp.LocalAddr, _rnd);
        if (tp.LocalPort == 0) return Abi.EADDRNOTAVAIL;
        tp.RemoteAddr = fa;
        tp.RemotePort = fport;
        if (!Pcbs.InsertConnection(tp))
        {
            tp.RemoteAddr = default;
            tp.RemotePort = 0;
            if (wasBound) Pcbs.InsertBound(tp);
            return Abi.EADDRINUSE;
        }
        tp.Iss = NewIss(tp.LocalAddr, tp.LocalPort, fa, fport);
        tp.SndUna = tp.SndNxt = tp.SndMax = tp.Iss;
        tp.SndBufSeq = tp.Iss + 1;
        tp.State = TcpState.SynSent;
        tp.Cwnd = InitialWindow(tp);
        tp.LastRecvMs = Now;
        Output(tp);
        return 0;
    }

    /// <summary>RFC 5681 3.1's initial window (RFC 6928's 10 segments would do too; the conservative one is kept).</summary>
    internal static uint InitialWindow(TcpCb tp) => tp.Mss > 2190 ? 2 * tp.Mss : tp.Mss > 1095 ? 3 * tp.Mss : 4 * tp.Mss;

    /// <summary>Queues data to send; returns bytes taken (0 when the buffer is full), or -errno (EPIPE after shutdown, the connection's error).</summary>
    public int Send(TcpCb tp, ReadOnlySpan<byte> data)
    {
        Enter();
        try
        {
            if (tp.Error != 0) return -tp.Error;
            if (tp.FinQueued || tp.State is TcpState.Closed or TcpState.Listen) return -Abi.EPIPE;
            int n = tp.Snd.Append(data);
            if (n > 0) SendQueuedLocked(tp);
            return n;
        }
        finally { Exit(); }
    }

    /// <summary>Data was added to the send buffer: send what the windows allow. Lock held.</summary>
    internal void SendQueuedLocked(TcpCb tp)
    {
        if (tp.State is TcpState.Established or TcpState.CloseWait) Output(tp);
    }

    /// <summary>Reads in-order data; 0 at end of stream (<see cref="TcpCb.RecvClosed"/>) or when none is there yet.</summary>
    public int Receive(TcpCb tp, Span<byte> dst)
    {
        Enter();
        try
        {
            int n = Math.Min(dst.Length, tp.Rcv.Count);
            if (n == 0) return 0;
            tp.Rcv.ReadAt(0, dst.Slice(0, n));
            ConsumeLocked(tp, n);
            return n;
        }
        finally { Exit(); }
    }

    /// <summary>The user took <paramref name="n"/> bytes from the front of the receive buffer: they leave it and the window may open. Lock held.</summary>
    internal void ConsumeLocked(TcpCb tp, int n)
    {
        {
            tp.Rcv.Consume(n);
            // A window update once the window has opened by two segments or half the buffer (RFC 9293 3.8.6.2.2).
            uint adv = tp.RcvAdv - tp.RcvNxt;
            long could = tp.Rcv.Free;
            if (tp.Synchronized && could - adv >= Math.Min(2 * tp.Mss, (uint)tp.Rcv.Capacity / 2))
            {
                tp.AckNow = true;
                Output(tp);
            }
        }
    }

    /// <summary>No more data from us (RFC 9293 3.10.4 CLOSE, and shutdown(SHUT_WR)): a FIN follows the queued data.</summary>
    public void Shutdown(TcpCb tp)
    {
        Enter();
        try { ShutdownLocked(tp); }
        finally { Exit(); }
    }

    internal void ShutdownLocked(TcpCb tp)
    {
        {
            switch (tp.State)
            {
                case TcpState.Listen:
                case TcpState.SynSent:
                    Close(tp, 0);
                    return;
                case TcpState.SynReceived:
                case TcpState.Established:
                case TcpState.CloseWait:
                    if (!tp.FinQueued)
                    {
                        tp.FinQueued = true;
                        Output(tp);
                    }
                    return;
                default:
                    return;
            }
        }
    }

    /// <summary>Aborts (RFC 9293 3.10.5 ABORT): a RST to the peer in synchronized states, and the TCB goes.</summary>
    public void Abort(TcpCb tp)
    {
        Enter();
        try { AbortLocked(tp); }
        finally { Exit(); }
    }

    internal void AbortLocked(TcpCb tp)
    {
        {
            if (tp.State is TcpState.SynReceived or TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait)
                SendControl(tp.LocalAddr, tp.LocalPort, tp.RemoteAddr, tp.RemotePort, tp.SndMax, 0, TcpPacket.FlagRst, tp.ScopeId);
            Close(tp, 0);
        }
    }

    /// <summary>The TCB leaves the table (NetBSD tcp_close); <paramref name="error"/> is what the user sees.</summary>
    internal void Close(TcpCb tp, int error)
    {
        if (error != 0 && tp.Error == 0) tp.Error = error;
        if (tp.State == TcpState.SynReceived && tp.Listener != null)
        {
            tp.Listener.Embryonic--;
            tp.Listener = null;
        }
        tp.State = TcpState.Closed;
        tp.TRexmt = tp.TPersist = tp.TKeep = tp.TDelAck = tp.T2Msl = TcpCb.Off;
        Pcbs.Remove(tp);
        // A listener's completed connections nobody accepted are reset (NetBSD soclose aborts so_q); its embryos are reset when their ACK comes.
        if (tp.AcceptQueue != null)
            while (tp.AcceptQueue.Count > 0)
            {
                TcpCb q = tp.AcceptQueue.Dequeue();
                q.Listener = null;
                SendControl(q.LocalAddr, q.LocalPort, q.RemoteAddr, q.RemotePort, q.SndMax, 0, TcpPacket.FlagRst, q.ScopeId);
                Close(q, Abi.ECONNABORTED);
            }
        tp.Upcall?.Readable(tp);
        tp.Upcall?.Writable(tp);
    }

    /// <summary>Asks the environment for a tick at <paramref name="due"/> if that is earlier than the one armed.</summary>
    internal void TimerAt(long due)
    {
        if (due < _armedMs)
        {
            _armedMs = due;
            _env.ArmTimer(due);
        }
    }
}
