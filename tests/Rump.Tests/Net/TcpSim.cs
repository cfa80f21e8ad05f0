using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using NUnit.Framework;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// Two (or more) TCP engines joined by a simulated wire with a clock the test owns: segments are
/// bytes in flight, delivered after a delay, and a seeded channel drops, duplicates and reorders
/// (an extra random delay) them. Time jumps straight to the next event (a delivery or a timer an
/// engine asked for), so minutes of TCP time (RTO back-off, keepalive, 2MSL) run in milliseconds
/// and every run with the same seed is the same run. Single-threaded: the engines run without a lock.
/// </summary>
internal sealed class TcpSim
{
    public long Now;
    public readonly Random Rnd;
    public double Loss, Duplicate, Reorder;
    public long DelayMs = 5, ReorderDelayMs = 12;
    /// <summary>Return false to drop a segment (a test's targeted loss), after the random channel.</summary>
    public Func<Ipv4Addr, Ipv4Addr, byte[], bool>? Filter;
    public long Delivered, Dropped, Duplicated;
    /// <summary>The most a segment carried past the 20-byte header (options and data): never more than the MSS offered (RFC 9293 3.7.1, the options count).</summary>
    public int LargestOptionsAndData;
    private long _order;
    private readonly PriorityQueue<(byte[] Seg, Ipv4Addr Src, Ipv4Addr Dst), (long, long)> _inFlight = new();
    private readonly List<Node> _nodes = new();
    private readonly MbufPool _pool = new();

    public TcpSim(int seed) { Rnd = new Random(seed); }

    public sealed class Node : ITcpEnvironment
    {
        private readonly TcpSim _sim;
        public readonly Ipv4Addr Addr;
        public readonly TcpStack Stack;
        public long TimerDue = long.MaxValue;
        public Node(TcpSim sim, Ipv4Addr a, int seed)
        {
            _sim = sim;
            Addr = a;
            Stack = new TcpStack(this, sim._pool, null, seed);
        }
        public long NowMs => _sim.Now;
        public void ArmTimer(long dueMs) => TimerDue = dueMs;
        public void Output(Mbuf m, Ipv4Addr src, Ipv4Addr dst)
        {
            byte[] b = m.Bytes.ToArray();
            m.Free();
            _sim.Transmit(b, src, dst);
        }
    }

    public Node Add(Ipv4Addr a)
    {
        var n = new Node(this, a, Rnd.Next(1, int.MaxValue));
        _nodes.Add(n);
        return n;
    }

    private void Transmit(byte[] seg, Ipv4Addr src, Ipv4Addr dst)
    {
        LargestOptionsAndData = Math.Max(LargestOptionsAndData, seg.Length - TcpPacket.MinHeaderSize);
        if (Loss > 0 && Rnd.NextDouble() < Loss) { Dropped++; return; }
        if (Filter != null && !Filter(src, dst, seg)) { Dropped++; return; }
        Enqueue(seg, src, dst);
        if (Duplicate > 0 && Rnd.NextDouble() < Duplicate) { Duplicated++; Enqueue(seg, src, dst); }
    }

    private void Enqueue(byte[] seg, Ipv4Addr src, Ipv4Addr dst)
    {
        long at = Now + DelayMs;
        if (Reorder > 0 && Rnd.NextDouble() < Reorder) at += 1 + Rnd.NextInt64(ReorderDelayMs);
        _inFlight.Enqueue((seg, src, dst), (at, _order++));
    }

    /// <summary>Puts a hand-made segment on the wire (an attacker's, or a crafted RST).</summary>
    public void Inject(byte[] seg, Ipv4Addr src, Ipv4Addr dst) => _inFlight.Enqueue((seg, src, dst), (Now, _order++));

    /// <summary>
    /// Runs events until <paramref name="done"/> holds (checked after every event, after
    /// <paramref name="app"/> has had its turn), failing if it has not by <paramref name="limitMs"/>
    /// of simulated time or if nothing is left to happen.
    /// </summary>
    public void RunUntil(Func<bool> done, string what, long limitMs = 600_000, Action? app = null)
    {
        long deadline = Now + limitMs;
        app?.Invoke();
        while (!done())
        {
            long next = long.MaxValue;
            if (_inFlight.TryPeek(out _, out var pri)) next = pri.Item1;
            foreach (Node n in _nodes) next = Math.Min(next, n.TimerDue);
            if (next == long.MaxValue) Assert.Fail($"{what}: nothing left to happen at {Now} ms and the condition does not hold");
            if (next > deadline) Assert.Fail($"{what}: not done within {limitMs} ms of simulated time (next event at {next} ms)");
            if (next > Now) Now = next;
            while (_inFlight.TryPeek(out var e, out var p) && p.Item1 <= Now)
            {
                _inFlight.Dequeue();
                Node? to = null;
                foreach (Node n in _nodes) if (n.Addr == e.Dst) to = n;
                if (to == null) continue;
                Delivered++;
                Mbuf m = _pool.Get(e.Seg.Length)!;
                m.Append(e.Seg);
                to.Stack.Input(m, e.Src, e.Dst);
            }
            foreach (Node n in _nodes)
                if (n.TimerDue <= Now)
                {
                    n.TimerDue = long.MaxValue;
                    n.Stack.Tick();
                }
            app?.Invoke();
        }
    }

    /// <summary>Runs for <paramref name="ms"/> of simulated time.</summary>
    public void RunFor(long ms, Action? app = null)
    {
        long end = Now + ms;
        // An event exactly at the end is processed; a later one waits.
        _inFlight.Enqueue((Array.Empty<byte>(), default, default), (end, _order++));
        RunUntil(() => Now >= end, "run for " + ms + " ms", ms + 1, app);
    }
}

/// <summary>One direction of a transfer: pushes a buffer into a connection and hashes what the other end reads.</summary>
internal sealed class TcpPump
{
    private readonly TcpStack _ss, _rs;
    private readonly TcpCb _s, _r;
    private readonly byte[] _data;
    private readonly bool _close;
    private int _sent;
    private bool _shut;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _buf = new byte[65536];
    public long Received;
    public bool Eof;
    public int SendError;
    /// <summary>Stop reading (the receiver's window fills).</summary>
    public bool Paused;

    public TcpPump(TcpStack ss, TcpCb s, TcpStack rs, TcpCb r, byte[] data, bool closeWhenSent)
    {
        _ss = ss; _s = s; _rs = rs; _r = r; _data = data; _close = closeWhenSent;
    }

    public bool Done => Received == _data.Length && (!_close || Eof);

    public void Step()
    {
        while (_sent < _data.Length && SendError == 0)
        {
            int n = _ss.Send(_s, _data.AsSpan(_sent, Math.Min(65536, _data.Length - _sent)));
            if (n < 0) SendError = -n;
            if (n <= 0) break;
            _sent += n;
        }
        if (_sent == _data.Length && _close && !_shut)
        {
            _shut = true;
            _ss.Shutdown(_s);
        }
        while (!Paused)
        {
            int n = _rs.Receive(_r, _buf);
            if (n == 0) { Eof = _r.RecvClosed; break; }
            _hash.AppendData(_buf, 0, n);
            Received += n;
        }
    }

    public void AssertIdentical(string what)
    {
        Assert.That(Received, Is.EqualTo(_data.Length), what + ": bytes received");
        Assert.That(Convert.ToHexString(_hash.GetHashAndReset()), Is.EqualTo(Convert.ToHexString(SHA256.HashData(_data))), what + ": SHA-256 of the data received against the data sent");
    }

    public static byte[] RandomData(int n, int seed)
    {
        byte[] b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }
}
