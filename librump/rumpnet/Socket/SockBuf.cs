using System;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// A socket's send or receive buffer (NetBSD's struct sockbuf, uipc_socket2.c). It holds packet
/// buffers (<see cref="Mbuf"/>) in a ring of entries:
/// - a stream (<see cref="Append"/>) is a byte sequence: small appends are copied into the last
///   buffer's free space, so a run of 4-byte writes costs one buffer, not one each;
/// - a record (<see cref="AppendAddr"/>, <see cref="AppendRecord"/>: datagrams, seqpacket) is one
///   buffer (or none, for an empty datagram) with the sender's address and control information;
///   boundaries are kept.
/// <see cref="Cc"/> counts data bytes; <see cref="Hiwat"/> is the limit the socket layer and the
/// protocols respect (<see cref="Space"/>), <see cref="Lowat"/> the readiness threshold.
///
/// Locking: everything here is protected by the owning socket's <see cref="Socket.Lock"/>; every
/// method expects it held. Sleeping on the buffer (<see cref="Wait"/>) drops and retakes it.
/// The ring grows by doubling and is kept, so a steady flow allocates nothing.
/// </summary>
public sealed class SockBuf
{
    /// <summary>NetBSD's SB_MAX: the largest Hiwat (kern.sbmax).</summary>
    public const int SbMax = 256 * 1024;

    private struct Entry
    {
        public Mbuf? M;
        public Mbuf? Addr;
        public Control? Ctl;
        /// <summary>A record (datagram): never merged with what follows.</summary>
        public bool Record;
    }

    private readonly Socket _so;
    private Entry[] _q = new Entry[4];
    private int _head, _count;

    /// <summary>Data bytes held (NetBSD sb_cc).</summary>
    public int Cc { get; private set; }
    public int Hiwat;
    public int Lowat;
    /// <summary>
    /// The protocol may raise <see cref="Hiwat"/> as the connection shows it needs more (NetBSD's
    /// SB_AUTOSIZE: TCP's send buffer); cleared when the user sets the size (SO_SNDBUF, SO_RCVBUF).
    /// </summary>
    public bool AutoSize;
    /// <summary>SO_RCVTIMEO / SO_SNDTIMEO in nanoseconds; 0: wait for ever.</summary>
    public long TimeoutNs;
    /// <summary>Pollers of this direction (NetBSD sb_sel).</summary>
    public readonly SelInfo Sel = new();
    /// <summary>Sleepers for data (receive) or space (send), under the socket's lock.</summary>
    internal readonly KCondvar Cv;

    internal SockBuf(Socket so, Kernel k) { _so = so; Cv = new KCondvar(k); }

    /// <summary>
    /// Bytes this side has in flight elsewhere that count against its limit: AF_LOCAL's sender
    /// puts its data straight into the peer's receive buffer, and holds here what is still
    /// unread there (NetBSD adjusts sb_hiwat for the same purpose).
    /// </summary>
    public int Held;
    /// <summary>Set while one sender copies data in with the socket's lock dropped (NetBSD SB_LOCK): senders never interleave.</summary>
    private bool _busy;

    /// <summary>Room left before <see cref="Hiwat"/> (NetBSD sbspace); negative when over.</summary>
    public int Space => Hiwat - Cc - Held;

    /// <summary>NetBSD sblock: takes the buffer for one sender (EWOULDBLOCK if busy and <paramref name="wait"/> is false, EINTR if interrupted).</summary>
    internal int SbLock(bool wait)
    {
        while (_busy)
        {
            if (!wait) return Abi.EWOULDBLOCK;
            int e = Cv.WaitSig(_so.Lock);
            if (e != 0) return e;
        }
        _busy = true;
        return 0;
    }

    /// <summary>NetBSD sbunlock.</summary>
    internal void SbUnlock()
    {
        _busy = false;
        Cv.Broadcast();
    }

    /// <summary>Entries queued (stream buffers or records).</summary>
    public int Entries => _count;

    /// <summary>Whether a record or data is waiting.</summary>
    public bool IsEmpty => _count == 0;

    /// <summary>NetBSD sbreserve: sets the limit (EINVAL past <see cref="SbMax"/> or below 1); the low-water mark stays within it.</summary>
    public int Reserve(int hiwat)
    {
        if (hiwat <= 0 || hiwat > SbMax) return Abi.ENOBUFS;
        Hiwat = hiwat;
        if (Lowat > Hiwat) Lowat = Hiwat;
        return 0;
    }

    private ref Entry At(int i) => ref _q[(_head + i) & (_q.Length - 1)];

    private void Push(in Entry e)
    {
        if (_count == _q.Length)
        {
            var n = new Entry[_q.Length * 2];
            for (int i = 0; i < _count; i++) n[i] = At(i);
            _q = n;
            _head = 0;
        }
        _q[(_head + _count) & (_q.Length - 1)] = e;
        _count++;
    }

    /// <summary>
    /// Appends stream data (NetBSD sbappendstream), consuming <paramref name="m"/>: copied into the
    /// last buffer if it fits there, else queued. The limit is the caller's to check.
    /// </summary>
    public void Append(Mbuf m)
    {
        int n = m.Length;
        if (n == 0) { m.Free(); return; }
        if (_count > 0)
        {
            ref Entry last = ref At(_count - 1);
            if (!last.Record && last.Ctl == null && last.M != null && last.M.TrailingSpace >= n)
            {
                last.M.Append(m.Bytes);
                m.Free();
                Cc += n;
                return;
            }
        }
        Push(new Entry { M = m });
        Cc += n;
    }

    /// <summary>
    /// Appends a record with the sender's address (NetBSD sbappendaddr): false, consuming nothing,
    /// if it does not fit in <see cref="Space"/> (the caller frees and counts a drop). On success
    /// <paramref name="m"/> (may be null: an empty datagram) and <paramref name="control"/> belong to the buffer.
    /// </summary>
    public bool AppendAddr(ReadOnlySpan<byte> from, Mbuf? m, Control? control)
    {
        int n = m?.Length ?? 0;
        if (n + from.Length > Space) return false;
        Mbuf? a = null;
        if (!from.IsEmpty)
        {
            a = _so.Net.Mbufs.Get(from.Length, 0);
            if (a == null) return false;
            a.Append(from);
        }
        Push(new Entry { M = m, Addr = a, Ctl = control, Record = true });
        Cc += n;
        return true;
    }

    /// <summary>Appends a record without an address (NetBSD sbappendrecord: seqpacket), whatever the space; consumes both.</summary>
    public void AppendRecord(Mbuf? m, Control? control)
    {
        Push(new Entry { M = m, Ctl = control, Record = true });
        Cc += m?.Length ?? 0;
    }

    /// <summary>Appends stream data with control information (NetBSD sbappendcontrol): received up to, not past, the next control.</summary>
    public void AppendControl(Mbuf? m, Control control)
    {
        Push(new Entry { M = m, Ctl = control });
        Cc += m?.Length ?? 0;
    }

    /// <summary>Drops <paramref name="n"/> bytes of stream data from the front (NetBSD sbdrop: acknowledged data leaving the send buffer).</summary>
    public void Drop(int n)
    {
        if (n < 0 || n > Cc) Kernel.Panic($"sbdrop {n} of {Cc}");
        while (n > 0)
        {
            ref Entry e = ref At(0);
            int len = e.M?.Length ?? 0;
            if (len > n)
            {
                e.M!.TrimFront(n);
                Cc -= n;
                return;
            }
            n -= len;
            Cc -= len;
            FreeHead(null);
        }
        // Empty buffers and spent controls at the front go too.
        while (_count > 0 && (At(0).M?.Length ?? 0) == 0 && !At(0).Record && At(0).Ctl == null) FreeHead(null);
    }

    /// <summary>Drops the first record (NetBSD sbdroprecord); its control's files are released by <paramref name="l"/>.</summary>
    public void DropRecord(Lwp? l)
    {
        if (_count > 0) { Cc -= At(0).M?.Length ?? 0; FreeHead(l); }
    }

    private void FreeHead(Lwp? l)
    {
        ref Entry e = ref At(0);
        e.M?.Free();
        e.Addr?.Free();
        if (e.Ctl != null && l != null) e.Ctl.Dispose(l);
        e = default;
        _head = (_head + 1) & (_q.Length - 1);
        _count--;
    }

    /// <summary>Copies <paramref name="dst"/>.Length bytes of stream data starting <paramref name="offset"/> bytes in (NetBSD m_copydata over the buffer: TCP's retransmissions).</summary>
    public void CopyData(int offset, Span<byte> dst)
    {
        if (offset < 0 || (long)offset + dst.Length > Cc) Kernel.Panic($"sockbuf copy {dst.Length} at {offset} of {Cc}");
        for (int i = 0; i < _count && dst.Length > 0; i++)
        {
            Mbuf? m = At(i).M;
            if (m == null) continue;
            if (offset >= m.Length) { offset -= m.Length; continue; }
            int c = Math.Min(m.Length - offset, dst.Length);
            m.Bytes.Slice(offset, c).CopyTo(dst);
            dst = dst.Slice(c);
            offset = 0;
        }
    }

    /// <summary>Frees everything (NetBSD sbflush); files in flight are released by <paramref name="l"/>.</summary>
    public void Flush(Lwp? l)
    {
        while (_count > 0) FreeHead(l);
        Cc = 0;
    }

    // ---- For the socket layer's receive (soreceive): the first entry. ----

    internal bool HeadIsRecord => At(0).Record;
    internal Mbuf? HeadData => At(0).M;
    internal Mbuf? HeadAddr => At(0).Addr;
    internal Control? HeadControl => At(0).Ctl;
    /// <summary>Takes the first entry's control (it is being received).</summary>
    internal Control? TakeHeadControl() { ref Entry e = ref At(0); Control? c = e.Ctl; e.Ctl = null; return c; }

    /// <summary>Stream bytes readable before the next control boundary (the first entry's control starts it).</summary>
    internal int StreamBytesToBoundary()
    {
        int n = 0;
        for (int i = 0; i < _count; i++)
        {
            ref Entry e = ref At(i);
            if (i > 0 && (e.Ctl != null || e.Record)) break;
            n += e.M?.Length ?? 0;
        }
        return n;
    }

    /// <summary>
    /// Copies up to <paramref name="max"/> stream bytes to <paramref name="uio"/>, stopping at a
    /// control boundary; unless <paramref name="peek"/>, the bytes are dropped. Returns the count in
    /// <paramref name="moved"/>.
    /// </summary>
    internal int CopyOutStream(ref Uio uio, int max, bool peek, out int moved)
    {
        moved = 0;
        for (int i = 0; i < _count && max > 0 && uio.Resid > 0; i++)
        {
            ref Entry e = ref At(i);
            if (i > 0 && (e.Ctl != null || e.Record)) break;
            Mbuf? m = e.M;
            if (m == null || m.Length == 0) continue;
            int c = (int)Math.Min(Math.Min(m.Length, max), uio.Resid);
            int err = uio.Move((ReadOnlySpan<byte>)m.Bytes.Slice(0, c));
            if (err != 0) return err;
            moved += c;
            max -= c;
            if (c < m.Length) break;
        }
        if (!peek && moved > 0) DropStreamFront(moved);
        return 0;
    }

    private void DropStreamFront(int n)
    {
        while (n > 0)
        {
            ref Entry e = ref At(0);
            int len = e.M?.Length ?? 0;
            if (len > n) { e.M!.TrimFront(n); Cc -= n; return; }
            n -= len;
            Cc -= len;
            if (e.Ctl != null) { e.M?.Free(); e.M = null; continue; }
            FreeHead(null);
        }
        // A spent front entry whose control was taken goes now.
        while (_count > 0 && At(0).Ctl == null && !At(0).Record && (At(0).M?.Length ?? 0) == 0) FreeHead(null);
    }

    /// <summary>
    /// Sleeps on the buffer until a wake-up (<see cref="Socket.SoRWakeup"/> / <see cref="Socket.SoWWakeup"/>),
    /// a signal (EINTR) or the buffer's timeout (EWOULDBLOCK). The socket's lock is held and
    /// retaken; the caller re-checks its condition (NetBSD sbwait).
    /// </summary>
    public int Wait()
    {
        if (_so.Lock == null) Kernel.Panic("sbwait on a socket without a lock");
        return TimeoutNs > 0 ? Cv.TimedWaitSig(_so.Lock!, TimeoutNs) : Cv.WaitSig(_so.Lock!);
    }
}
