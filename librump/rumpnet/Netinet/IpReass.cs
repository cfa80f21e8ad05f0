using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// IPv4 reassembly (RFC 791 3.2, RFC 815's hole bookkeeping; NetBSD ip_reass.c). Fragments of
/// one datagram (same source, destination, protocol and identification) are copied into one
/// large buffer at their offsets while a sorted list of the byte ranges received says what is
/// still missing; the datagram goes up when the ranges cover [0, end of the last fragment).
///
/// Hostile input is normal here, so:
/// - a fragment overlapping data already received, other than a repeat of the same bytes, discards the whole
///   datagram (the overlap attacks on filters; RFC 5722 does the same for IPv6);
/// - a fragment past a known end, a second different last fragment, a non-last fragment whose
///   length is not a multiple of 8, or more than <see cref="MaxFragments"/> pieces discard it too;
/// - at most <see cref="MaxDatagrams"/> datagrams are in reassembly at once (a new one evicts the
///   oldest), so a flood of first fragments costs bounded memory;
/// - an incomplete datagram is dropped after <see cref="TimeoutNs"/> (NetBSD's IPFRAGTTL, 30 s).
/// Each discard is counted (<see cref="InetStats.IpFragDropped"/>, <see cref="InetStats.IpFragOverlap"/>,
/// <see cref="InetStats.IpFragTimeout"/>).
///
/// Locks: <see cref="_lock"/> protects the queue list and each queue; it is a leaf, and packets
/// are freed after it is released.
/// </summary>
public sealed class IpReass
{
    public const int MaxDatagrams = 16, MaxFragments = 64;
    public const long TimeoutNs = 30L * 1_000_000_000;

    private readonly Inet _in;
    private readonly KMutex _lock;
    private readonly List<Queue> _queues = new();
    private readonly Callout _timer;
    private bool _timerArmed;

    private sealed class Queue
    {
        public Ipv4Addr Src, Dst;
        public ushort Id;
        public byte Proto;
        public long Expires;
        /// <summary>Payload bytes land at Buf.Offset + 60 + fragment offset; the first fragment's header is kept in Header.</summary>
        public Mbuf Buf = null!;
        public byte[] Header = new byte[Ipv4Packet.MaxHeaderSize];
        public int HeaderLength;
        /// <summary>End of the datagram's payload once the last fragment came; -1 before.</summary>
        public int End = -1;
        /// <summary>Received [start, end) ranges, sorted and disjoint.</summary>
        public readonly List<(int Start, int End)> Ranges = new();
    }

    internal IpReass(Inet inet)
    {
        _in = inet;
        _lock = new KMutex(inet.Kernel);
        _timer = new Callout(_ => Expire());
    }

    /// <summary>Datagrams in reassembly now.</summary>
    public int Pending { get { _lock.Enter(); int n = _queues.Count; _lock.Exit(); return n; } }

    private InetStats S => _in.Stats;

    /// <summary>
    /// Takes one fragment (a whole IPv4 packet, header checked, trimmed to its total length) and
    /// returns the reassembled datagram, header in front with its lengths fixed, when this one
    /// completes it; else null. Consumes <paramref name="m"/> either way.
    /// </summary>
    internal Mbuf? Insert(Mbuf m)
    {
        Ipv4Packet.Parse(m.Bytes, out Ipv4Packet p);
        int hlen = p.HeaderLength, off = p.FragmentOffset, len = p.TotalLength - hlen;
        bool more = p.MoreFragments;
        Ipv4Addr src = p.Source, dst = p.Destination;
        ushort id = p.Identification;
        byte proto = p.Protocol;
        Mbuf? evicted = null, dropped = null, done = null;
        _lock.Enter();
        try
        {
            Queue? q = null;
            foreach (Queue x in _queues)
                if (x.Id == id && x.Src == src && x.Dst == dst && x.Proto == proto) { q = x; break; }
            if (more && (len & 7) != 0 || len == 0 && more)
            {
                Interlocked.Increment(ref S.IpFragDropped);
                if (q != null) dropped = RemoveLocked(q);
                return null;
            }
            if (q == null)
            {
                Mbuf? buf = _in.Net.Mbufs.Get(Ipv4Packet.MaxHeaderSize + 0xffff, headroom: 0);
                if (buf == null) { Interlocked.Increment(ref S.IpFragDropped); return null; }
                if (_queues.Count >= MaxDatagrams)
                {
                    Interlocked.Increment(ref S.IpFragDropped);
                    evicted = RemoveLocked(_queues[0]);
                }
                q = new Queue { Src = src, Dst = dst, Id = id, Proto = proto, Expires = Clock.MonotonicNs() + TimeoutNs, Buf = buf };
                _queues.Add(q);
                if (!_timerArmed)
                {
                    _timerArmed = true;
                    _in.Kernel.Callouts.Schedule(_timer, TimeoutNs / 30);
                }
            }
            int end = off + len;
            bool bad = q.Ranges.Count >= MaxFragments
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
                    if (q.Ranges[at].Start <= off && end <= q.Ranges[at].End
                        && m.Bytes.Slice(hlen, len).SequenceEqual(q.Buf.Data.AsSpan(q.Buf.Offset + Ipv4Packet.MaxHeaderSize + off, len)))
                        repeat = true;
                    else { bad = true; Interlocked.Increment(ref S.IpFragOverlap); }
                }
            }
            if (bad)
            {
                Interlocked.Increment(ref S.IpFragDropped);
                dropped = RemoveLocked(q);
                return null;
            }
            if (repeat) return null;
            m.Bytes.Slice(hlen, len).CopyTo(q.Buf.Data.AsSpan(q.Buf.Offset + Ipv4Packet.MaxHeaderSize + off, len));
            // Merge with neighbours so the list stays short: contiguous pieces become one range.
            int s = off, e = end;
            if (at > 0 && q.Ranges[at - 1].End == s) { s = q.Ranges[at - 1].Start; q.Ranges.RemoveAt(--at); }
            if (at < q.Ranges.Count && q.Ranges[at].Start == e) { e = q.Ranges[at].End; q.Ranges.RemoveAt(at); }
            q.Ranges.Insert(at, (s, e));
            if (off == 0)
            {
                m.Bytes.Slice(0, hlen).CopyTo(q.Header);
                q.HeaderLength = hlen;
            }
            if (!more) q.End = end;
            if (q.End < 0 || q.HeaderLength == 0 || q.Ranges.Count != 1 || q.Ranges[0].Start != 0 || q.Ranges[0].End != q.End) return null;
            if (q.HeaderLength + q.End > 0xffff)
            {
                Interlocked.Increment(ref S.IpFragDropped);
                dropped = RemoveLocked(q);
                return null;
            }
            _queues.Remove(q);
            done = q.Buf;
            done.Append(Ipv4Packet.MaxHeaderSize + q.End);
            done.TrimFront(Ipv4Packet.MaxHeaderSize);
            Span<byte> h = done.Prepend(q.HeaderLength);
            q.Header.AsSpan(0, q.HeaderLength).CopyTo(h);
            // The whole datagram's header: its total length, no fragment fields, a fresh checksum.
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(h.Slice(2), (ushort)(q.HeaderLength + q.End));
            h[6] &= 0x40; // keep DF, clear MF and the offset
            h[7] = 0;
            h[10] = h[11] = 0;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(h.Slice(10), Checksum.Compute(h));
            done.RcvIf = m.RcvIf;
            done.Flags = m.Flags;
            done.Protocol = m.Protocol;
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
        _lock.Enter();
        _timerArmed = false;
        for (int i = _queues.Count - 1; i >= 0; i--)
        {
            if (_queues[i].Expires > now) continue;
            (free ??= new()).Add(RemoveLocked(_queues[i]));
            Interlocked.Increment(ref S.IpFragTimeout);
        }
        if (_queues.Count > 0)
        {
            _timerArmed = true;
            _in.Kernel.Callouts.Schedule(_timer, TimeoutNs / 30);
        }
        _lock.Exit();
        if (free != null) foreach (Mbuf b in free) b.Free();
    }
}
