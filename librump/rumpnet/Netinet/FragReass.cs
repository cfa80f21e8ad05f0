using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>A fragment's datagram: both families' addresses as 16 bytes (IPv4 v4-mapped), the identification, and (IPv4) the protocol.</summary>
internal readonly record struct FragKey(Ipv6Addr Src, Ipv6Addr Dst, uint Id, byte Proto);

/// <summary>The counters a reassembly queue keeps, in its family's statistics.</summary>
internal interface IReassStats
{
    ref long FragDropped { get; }
    ref long FragOverlap { get; }
    ref long FragTimeout { get; }
}

/// <summary>
/// Reassembly of fragmented datagrams for both IP families (RFC 791 3.2, RFC 8200 4.5, RFC 815's
/// hole bookkeeping; NetBSD's ip_reass.c and frag6.c). Fragments of one datagram (<see cref="FragKey"/>)
/// are copied into one large buffer at their offsets while a sorted list of the byte ranges received
/// says what is still missing; the datagram is complete when the ranges cover [0, end of the last
/// fragment) and the first fragment gave the header. The family parses its fragments and fixes the
/// header of the whole datagram (<see cref="IpReass"/>, Netinet6's Ip6Reass).
///
/// Hostile input is normal here, so:
/// - a fragment overlapping data already received, other than a repeat of the same bytes, discards
///   the whole datagram (the overlap attacks on filters; RFC 5722 requires it for IPv6);
/// - a fragment past a known end, a second different last fragment, a non-last fragment whose
///   length is not a multiple of 8, or more than <see cref="MaxFragments"/> pieces discard it too;
/// - at most <see cref="MaxDatagrams"/> datagrams are in reassembly at once (a new one evicts the
///   oldest), so a flood of first fragments costs bounded memory;
/// - an incomplete datagram is dropped after its family's time (IPv4 30 s as NetBSD's IPFRAGTTL,
///   IPv6 60 s as RFC 8200 says); a family that answers that (IPv6's time exceeded, RFC 8200
///   4.5) is given the first fragment as it came, when it came.
/// Each discard is counted in the family's <see cref="IReassStats"/>.
///
/// Locks: <see cref="_lock"/> protects the queue list and each queue; it is a leaf, and packets
/// are freed after it is released.
/// </summary>
internal sealed class FragReass
{
    public const int MaxDatagrams = 16, MaxFragments = 64;
    /// <summary>Bytes of a first fragment kept for the time-exceeded message: what an ICMPv6 error quotes at most (1280 - 40 - 8).</summary>
    public const int FirstQuote = 1232;

    private readonly Net _net;
    private readonly IReassStats _stats;
    /// <summary>How long a datagram may take; new datagrams get the current value (tests shorten it).</summary>
    internal long TimeoutNs;
    /// <summary>Called (without the lock) for a timed-out datagram whose first fragment came: its first bytes as received, and its interface.</summary>
    private readonly Action<byte[], Ifnet?>? _timedOut;
    /// <summary>Room before the payload for the family's largest header (IPv4 60, IPv6 40).</summary>
    private readonly int _headerRoom;
    /// <summary>The largest whole datagram, header included.</summary>
    private readonly int _maxDatagram;
    private readonly KMutex _lock;
    private readonly List<Queue> _queues = new();
    private readonly Callout _timer;
    private bool _timerArmed;

    private sealed class Queue
    {
        public FragKey Key;
        public long Expires;
        /// <summary>Payload bytes land at Buf.Offset + header room + fragment offset; the first fragment's header is kept in Header.</summary>
        public Mbuf Buf = null!;
        public byte[] Header = null!;
        public int HeaderLength;
        /// <summary>End of the datagram's payload once the last fragment came; -1 before.</summary>
        public int End = -1;
        /// <summary>Received [start, end) ranges, sorted and disjoint.</summary>
        public readonly List<(int Start, int End)> Ranges = new();
        /// <summary>With a time-exceeded handler: the first fragment's first bytes as received, and where it came in.</summary>
        public byte[]? First;
        public Ifnet? RcvIf;
    }

    internal FragReass(Net net, IReassStats stats, long timeoutNs, int headerRoom, int maxDatagram, Action<byte[], Ifnet?>? timedOut = null)
    {
        _net = net;
        _stats = stats;
        TimeoutNs = timeoutNs;
        _timedOut = timedOut;
        _headerRoom = headerRoom;
        _maxDatagram = maxDatagram;
        _lock = new KMutex(net.Kernel);
        _timer = new Callout(_ => Expire());
    }

    /// <summary>Datagrams in reassembly now.</summary>
    public int Pending { get { _lock.Enter(); int n = _queues.Count; _lock.Exit(); return n; } }

    /// <summary>
    /// Takes one fragment: <paramref name="data"/> is its payload at byte <paramref name="off"/> of
    /// the datagram, <paramref name="header"/> the header the whole datagram gets (kept from the
    /// fragment at offset 0). Both are spans into <paramref name="m"/>, which is consumed either
    /// way. Returns the whole datagram when this fragment completes it: the kept header
    /// (<paramref name="headerLength"/> bytes, for the family to fix) and then the payload.
    /// </summary>
    internal Mbuf? Insert(in FragKey key, int off, bool more, ReadOnlySpan<byte> data, ReadOnlySpan<byte> header, Mbuf m, out int headerLength)
    {
        headerLength = 0;
        int len = data.Length, end = off + len;
        Mbuf? evicted = null, dropped = null;
        _lock.Enter();
        try
        {
            Queue? q = null;
            foreach (Queue x in _queues)
                if (x.Key == key) { q = x; break; }
            if (more && ((len & 7) != 0 || len == 0) || off == 0 && header.Length > _headerRoom)
            {
                Interlocked.Increment(ref _stats.FragDropped);
                if (q != null) dropped = RemoveLocked(q);
                return null;
            }
            if (q == null)
            {
                Mbuf? buf = _net.Mbufs.Get(_headerRoom + 0xffff, headroom: 0);
                if (buf == null) { Interlocked.Increment(ref _stats.FragDropped); return null; }
                if (_queues.Count >= MaxDatagrams)
                {
                    Interlocked.Increment(ref _stats.FragDropped);
                    evicted = RemoveLocked(_queues[0]);
                }
                q = new Queue { Key = key, Expires = Clock.MonotonicNs() + TimeoutNs, Buf = buf, Header = new byte[_headerRoom] };
                _queues.Add(q);
                if (!_timerArmed)
                {
                    _timerArmed = true;
                    _net.Kernel.Callouts.Schedule(_timer, TimeoutNs / 30);
                }
            }
            Span<byte> payload = q.Buf.Data.AsSpan(q.Buf.Offset + _headerRoom);
            // Both families refuse pieces ending past 65,535 bytes before this; the buffer holds no more.
            bool bad = q.Ranges.Count >= MaxFragments || end > 0xffff
                || q.End >= 0 && (end > q.End || !more && end != q.End)
                || !more && q.Ranges.Count > 0 && q.Ranges[^1].End > end;
            int at = 0;
            bool repeat = false;
            if (!bad)
            {
                // Find where [off, end) goes; an exact repeat is dropped quietly, any other overlap is an attack or a bug.
                for (; at < q.Ranges.Count && q.Ranges[at].End <= off; at++) { }
                if (at < q.Ranges.Count && q.Ranges[at].Start < end)
                {
                    // Ranges merge as they fill, so a repeat lies inside one range with the same bytes.
                    if (q.Ranges[at].Start <= off && end <= q.Ranges[at].End && data.SequenceEqual(payload.Slice(off, len)))
                        repeat = true;
                    else { bad = true; Interlocked.Increment(ref _stats.FragOverlap); }
                }
            }
            if (bad)
            {
                Interlocked.Increment(ref _stats.FragDropped);
                dropped = RemoveLocked(q);
                return null;
            }
            if (repeat) return null;
            data.CopyTo(payload.Slice(off));
            // Merge with neighbours so the list stays short: contiguous pieces become one range.
            int s = off, e = end;
            if (at > 0 && q.Ranges[at - 1].End == s) { s = q.Ranges[at - 1].Start; q.Ranges.RemoveAt(--at); }
            if (at < q.Ranges.Count && q.Ranges[at].Start == e) { e = q.Ranges[at].End; q.Ranges.RemoveAt(at); }
            q.Ranges.Insert(at, (s, e));
            if (off == 0)
            {
                header.CopyTo(q.Header);
                q.HeaderLength = header.Length;
                if (_timedOut != null)
                {
                    q.First = m.Bytes.Slice(0, Math.Min(m.Length, FirstQuote)).ToArray();
                    q.RcvIf = m.RcvIf;
                }
            }
            if (!more) q.End = end;
            if (q.End < 0 || q.HeaderLength == 0 || q.Ranges.Count != 1 || q.Ranges[0].Start != 0 || q.Ranges[0].End != q.End) return null;
            if (q.HeaderLength + q.End > _maxDatagram)
            {
                Interlocked.Increment(ref _stats.FragDropped);
                dropped = RemoveLocked(q);
                return null;
            }
            _queues.Remove(q);
            Mbuf done = q.Buf;
            done.Append(_headerRoom + q.End);
            done.TrimFront(_headerRoom);
            q.Header.AsSpan(0, q.HeaderLength).CopyTo(done.Prepend(q.HeaderLength));
            done.RcvIf = m.RcvIf;
            done.Flags = m.Flags;
            done.Protocol = m.Protocol;
            headerLength = q.HeaderLength;
            return done;
        }
        finally
        {
            _lock.Exit();
            m.Free();
            evicted?.Free();
            dropped?.Free();
        }
    }

    /// <summary>Takes <paramref name="q"/> out and returns its buffer for the caller to free after the lock. Precondition: lock held.</summary>
    private Mbuf RemoveLocked(Queue q)
    {
        _queues.Remove(q);
        return q.Buf;
    }

    private void Expire()
    {
        long now = Clock.MonotonicNs();
        List<Mbuf>? free = null;
        List<(byte[], Ifnet?)>? answer = null;
        _lock.Enter();
        _timerArmed = false;
        for (int i = _queues.Count - 1; i >= 0; i--)
        {
            Queue q = _queues[i];
            if (q.Expires > now) continue;
            if (q.First != null) (answer ??= new()).Add((q.First, q.RcvIf));
            (free ??= new()).Add(RemoveLocked(q));
            Interlocked.Increment(ref _stats.FragTimeout);
        }
        if (_queues.Count > 0)
        {
            _timerArmed = true;
            _net.Kernel.Callouts.Schedule(_timer, TimeoutNs / 30);
        }
        _lock.Exit();
        if (free != null) foreach (Mbuf b in free) b.Free();
        if (answer != null) foreach ((byte[] first, Ifnet? ifp) in answer) _timedOut!(first, ifp);
    }
}
