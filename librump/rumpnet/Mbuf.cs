using System;
using System.Threading;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// A packet buffer (NetBSD's mbuf with a cluster, one per packet; or Linux's sk_buff): the
/// currency between the layers. One contiguous array per packet holds the packet at
/// [<see cref="Offset"/>, <see cref="Offset"/> + <see cref="Length"/>) with headroom in front,
/// so that each layer on the way out prepends its header in place (<see cref="Prepend"/>) and
/// each layer on the way in strips its own (<see cref="TrimFront"/>): a packet is never copied
/// between layers. Buffers come from the kernel's <see cref="MbufPool"/> and go back to it with
/// <see cref="Free"/>, so the data path allocates nothing per packet.
///
/// Ownership: exactly one holder at a time. Whoever is handed an mbuf (a queue, a protocol's
/// input routine, an interface's output routine) frees it or hands it on; after handing it on
/// the giver does not touch it. <see cref="NextPacket"/> links packets in a queue and belongs to
/// the queue that holds the packet.
/// </summary>
public sealed class Mbuf
{
    /// <summary>Headroom a fresh packet gets: Ethernet with a VLAN tag (18), IPv6 (40) and TCP with full options (60) fit, rounded up.</summary>
    public const int Headroom = 128;
    public const byte FlagBroadcast = 0x01, FlagMulticast = 0x02;
    /// <summary>
    /// Checksum and segmentation offload (NetBSD's m_pkthdr.csum_flags, M_CSUM_*), in
    /// <see cref="CsumFlags"/>. In: <see cref="CsumTcpOk"/>, the interface verified the TCP
    /// checksum or the host vouched for it (virtif: a Linux TAP's NEEDS_CSUM or DATA_VALID), so TCP
    /// input skips it. Out: <see cref="CsumTcpPartial"/>, the TCP checksum field holds only the
    /// pseudo-header's sum and the interface completes it; <see cref="CsumTsoV4"/> and
    /// <see cref="CsumTsoV6"/>, a TCP segment larger than the MTU that the interface cuts into
    /// pieces of <see cref="TsoSegSize"/> bytes. IP output completes the checksum itself (and drops
    /// a TSO segment) when the interface it picks cannot.
    /// </summary>
    public const byte CsumTcpOk = 0x01, CsumTcpPartial = 0x02, CsumTsoV4 = 0x04, CsumTsoV6 = 0x08;

    internal readonly byte[] Data;
    internal readonly MbufPool Pool;
    public int Offset { get; private set; }
    public int Length { get; private set; }
    /// <summary>The interface a received packet came in on (NetBSD m_pkthdr.rcvif).</summary>
    public Ifnet? RcvIf;
    /// <summary>What the payload is, as an EtherType (IPv4, IPv6, ARP): set by the link layer on input, by the protocol on output.</summary>
    public ushort Protocol;
    /// <summary>Link-level broadcast or multicast (<see cref="FlagBroadcast"/>, <see cref="FlagMulticast"/>).</summary>
    public byte Flags;
    /// <summary>Offload flags (<see cref="CsumTcpOk"/> and the others).</summary>
    public byte CsumFlags;
    /// <summary>TSO: the data bytes of each piece (the connection's MSS).</summary>
    public ushort TsoSegSize;
    /// <summary>With <see cref="CsumTcpPartial"/>: where the TCP header starts, as an index into the buffer (headers prepended later do not move it).</summary>
    public int L4Start;
    /// <summary>The next packet in a queue (NetBSD m_nextpkt).</summary>
    internal Mbuf? NextPacket;
    /// <summary>1 while in the pool: a double free is a kernel bug, caught at once.</summary>
    internal int InPool;

    internal Mbuf(MbufPool pool, int capacity) { Pool = pool; Data = new byte[capacity]; }

    public int Capacity => Data.Length;
    public int LeadingSpace => Offset;
    public int TrailingSpace => Data.Length - Offset - Length;
    /// <summary>The packet's bytes.</summary>
    public Span<byte> Bytes => Data.AsSpan(Offset, Length);

    internal void Reset(int headroom)
    {
        Offset = headroom;
        Length = 0;
        RcvIf = null;
        Protocol = 0;
        Flags = 0;
        CsumFlags = 0;
        TsoSegSize = 0;
        L4Start = 0;
        NextPacket = null;
    }

    /// <summary>Where the TCP header of an outgoing <see cref="CsumTcpPartial"/> segment starts, from the packet's first byte.</summary>
    public int L4Offset => L4Start - Offset;

    /// <summary>Makes room for <paramref name="n"/> bytes in front (a header) and returns it; empty if the headroom is short (the caller drops the packet: ENOBUFS).</summary>
    public Span<byte> Prepend(int n)
    {
        if ((uint)n > (uint)Offset) return Span<byte>.Empty;
        Offset -= n;
        Length += n;
        return Data.AsSpan(Offset, n);
    }

    /// <summary>Makes room for <paramref name="n"/> bytes at the end and returns it; empty if the buffer is full.</summary>
    public Span<byte> Append(int n)
    {
        if ((uint)n > (uint)TrailingSpace) return Span<byte>.Empty;
        Span<byte> s = Data.AsSpan(Offset + Length, n);
        Length += n;
        return s;
    }

    /// <summary>Appends a copy of <paramref name="b"/>; false if it does not fit.</summary>
    public bool Append(ReadOnlySpan<byte> b)
    {
        Span<byte> s = Append(b.Length);
        if (s.Length != b.Length) return false;
        b.CopyTo(s);
        return true;
    }

    /// <summary>Strips <paramref name="n"/> bytes from the front (a header just parsed; NetBSD m_adj with n &gt; 0).</summary>
    public void TrimFront(int n)
    {
        if ((uint)n > (uint)Length) Kernel.Panic($"mbuf: trim {n} bytes from the front of a {Length}-byte packet");
        Offset += n;
        Length -= n;
    }

    /// <summary>Keeps the first <paramref name="n"/> bytes (link padding after an IP packet's length).</summary>
    public void TrimTo(int n)
    {
        if ((uint)n > (uint)Length) Kernel.Panic($"mbuf: trim a {Length}-byte packet to {n}");
        Length = n;
    }

    /// <summary>The next packet of a chain handed over whole (a batch for a driver), unlinked from this one.</summary>
    public Mbuf? TakeNextPacket()
    {
        Mbuf? n = NextPacket;
        NextPacket = null;
        return n;
    }

    /// <summary>Gives the buffer back to its pool. The caller must not touch it again.</summary>
    public void Free() => Pool.Put(this);
}

/// <summary>
/// A kernel's packet buffers, in two sizes: <see cref="ClusterSize"/> (an Ethernet frame with
/// headroom, NetBSD's MCLBYTES) and <see cref="LargeSize"/> (a whole IP datagram: loopback's MTU,
/// reassembly; a 65,535-byte one with Ethernet and virtio-net headers in front, which a TAP's
/// coalesced segments are). Free buffers wait on a stack per size; a spin flag held for a few instructions
/// guards each (taken in any context, interrupt included, and never with another lock taken
/// inside it: it is a leaf). Buffers beyond <see cref="MaxFree"/> are left to the GC, and the
/// pool only allocates when its stack is empty, so a steady flow of packets allocates nothing.
/// </summary>
public sealed class MbufPool
{
    public const int ClusterSize = 2048, LargeSize = 65536 + 2 * Mbuf.Headroom;
    public const int MaxFree = 512;

    private readonly Stack _small = new(ClusterSize), _large = new(LargeSize);
    private long _allocated;

    /// <summary>Buffers ever made (not taken from the stack): a test of the pool watches it stay flat.</summary>
    public long Allocated => Interlocked.Read(ref _allocated);
    /// <summary>Buffers waiting in the pool.</summary>
    public int FreeCount => _small.Count + _large.Count;

    /// <summary>
    /// A packet buffer with room for <paramref name="size"/> bytes after <paramref name="headroom"/>
    /// bytes of headroom; null if no size class is large enough (the caller drops: ENOBUFS).
    /// </summary>
    public Mbuf? Get(int size, int headroom = Mbuf.Headroom)
    {
        if (size < 0 || headroom < 0) return null;
        long need = (long)size + headroom;
        Stack? st = need <= ClusterSize ? _small : need <= LargeSize ? _large : null;
        if (st == null) return null;
        Mbuf? m = st.Pop();
        if (m == null)
        {
            Interlocked.Increment(ref _allocated);
            m = new Mbuf(this, st.Size);
        }
        else Volatile.Write(ref m.InPool, 0);
        m.Reset(headroom);
        return m;
    }

    internal void Put(Mbuf m)
    {
        if (Interlocked.Exchange(ref m.InPool, 1) != 0) Kernel.Panic("mbuf freed twice");
        m.RcvIf = null;
        m.NextPacket = null;
        (m.Capacity == ClusterSize ? _small : _large).Push(m);
    }

    private sealed class Stack
    {
        public readonly int Size;
        private readonly Mbuf?[] _items = new Mbuf?[MaxFree];
        private int _count;
        private int _lock;

        public Stack(int size) { Size = size; }

        private void Acquire()
        {
            var spin = new SpinWait();
            while (Interlocked.CompareExchange(ref _lock, 1, 0) != 0) spin.SpinOnce(-1);
        }
        public int Count => Volatile.Read(ref _count);

        public Mbuf? Pop()
        {
            Acquire();
            Mbuf? m = null;
            if (_count > 0)
            {
                m = _items[--_count];
                _items[_count] = null;
            }
            Volatile.Write(ref _lock, 0);
            return m;
        }

        public void Push(Mbuf m)
        {
            Acquire();
            if (_count < _items.Length) _items[_count++] = m;
            Volatile.Write(ref _lock, 0);
        }
    }
}

/// <summary>
/// A queue of packets (NetBSD's ifqueue): FIFO through <see cref="Mbuf.NextPacket"/>, with a
/// limit past which packets are dropped and counted. Not locked: its owner's lock protects it.
/// </summary>
public struct MbufQueue
{
    private Mbuf? _head, _tail;
    public int Count { get; private set; }
    public int Limit;
    public long Drops;

    public MbufQueue(int limit) { _head = _tail = null; Count = 0; Limit = limit; Drops = 0; }

    /// <summary>Queues <paramref name="m"/>; if the queue is full, frees it, counts a drop and returns false.</summary>
    public bool Enqueue(Mbuf m)
    {
        if (Count >= Limit)
        {
            Drops++;
            m.Free();
            return false;
        }
        m.NextPacket = null;
        if (_tail != null) _tail.NextPacket = m; else _head = m;
        _tail = m;
        Count++;
        return true;
    }

    public Mbuf? Dequeue()
    {
        Mbuf? m = _head;
        if (m == null) return null;
        _head = m.NextPacket;
        if (_head == null) _tail = null;
        m.NextPacket = null;
        Count--;
        return m;
    }

    /// <summary>Takes every queued packet at once, as a chain through <see cref="Mbuf.NextPacket"/>.</summary>
    public Mbuf? DequeueAll()
    {
        Mbuf? h = _head;
        _head = _tail = null;
        Count = 0;
        return h;
    }
}
