using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The buffer cache (NetBSD vfs_bio.c) between file systems and block devices.
///
/// - <see cref="Bread"/> returns a busy buffer with the block's data, reading it if not cached;
///   sequential reads of a device start asynchronous read-ahead of the following blocks.
/// - <see cref="Bdwrite"/> marks a buffer dirty (a delayed write) and releases it;
///   <see cref="Bwrite"/> writes it now. Dirty buffers are written when evicted, and all of a
///   device's by <see cref="Flush"/> (fsync, sync, unmount).
/// - Memory is bounded by <see cref="MaxBytes"/>: clean, idle buffers are evicted least recently
///   used first; dirty ones are written back before being dropped.
///
/// Locks: <see cref="_lock"/> protects the hash, the LRU list, the byte count and every buffer's
/// state fields; transfers run without it (the buffer is busy, so nobody else touches it). Order:
/// file-system locks → <see cref="_lock"/>. Waiters for a busy buffer sleep on <see cref="_cv"/>.
/// </summary>
public sealed class BufCache
{
    private readonly Kernel _k;
    private readonly KMutex _lock;
    private readonly KCondvar _cv;
    private readonly Dictionary<(BlockDevice, long), Buf> _hash = new();
    private Buf? _lruHead, _lruTail; // head = least recently used
    private long _bytes;
    private readonly Dictionary<BlockDevice, long> _nextSeq = new();
    public readonly long MaxBytes;
    /// <summary>Blocks read ahead when a device is read sequentially.</summary>
    public int ReadAhead = 8;

    public long Hits, Misses, Reads, Writes, ReadAheads;

    public BufCache(Kernel k, long maxBytes)
    {
        _k = k;
        _lock = new KMutex(k);
        _cv = new KCondvar(k);
        MaxBytes = maxBytes;
    }

    public long CachedBytes { get { _lock.Enter(); long b = _bytes; _lock.Exit(); return b; } }

    /// <summary>The busy buffer for (dev, blkno), created empty if absent. Caller holds _lock; may sleep.</summary>
    private Buf GetLocked(BlockDevice dev, long blkno, int size, out bool created)
    {
        while (true)
        {
            if (_hash.TryGetValue((dev, blkno), out Buf? bp))
            {
                if (bp.Busy) { _cv.Wait(_lock); continue; }
                if (bp.Size != size)
                {
                    // A different block size for the same address: the file system changed its
                    // view (NetBSD forbids mixing sizes too). Write the old one out and drop it.
                    bp.Busy = true;
                    LruRemove(bp);
                    if (bp.Dirty) { _lock.Exit(); Io(bp, write: true); _lock.Enter(); }
                    _hash.Remove((dev, blkno));
                    _bytes -= bp.Size;
                    _cv.Broadcast();
                    continue;
                }
                bp.Busy = true;
                LruRemove(bp);
                created = false;
                return bp;
            }
            EvictLocked(size);
            var nb = new Buf(dev, blkno, size) { Busy = true };
            _hash[(dev, blkno)] = nb;
            _bytes += size;
            created = true;
            return nb;
        }
    }

    /// <summary>Reads block <paramref name="blkno"/> (DEV_BSIZE units) of <paramref name="size"/> bytes; the buffer is busy until released.</summary>
    public int Bread(BlockDevice dev, long blkno, int size, out Buf bp)
    {
        int e = CheckArgs(dev, blkno, size);
        if (e != 0) { bp = null!; return e; }
        _lock.Enter();
        bp = GetLocked(dev, blkno, size, out _);
        bool hit = bp.Valid;
        if (hit) Hits++; else Misses++;
        // Sequential access: this block is where the last read of the device ended.
        _nextSeq.TryGetValue(dev, out long expect);
        bool sequential = blkno == expect && blkno != 0;
        _nextSeq[dev] = blkno + size / BlockDevice.DevBSize;
        _lock.Exit();
        if (sequential && ReadAhead > 0) StartReadAhead(dev, blkno + size / BlockDevice.DevBSize, size);
        if (hit) return 0;
        e = Io(bp, write: false);
        if (e != 0) { Brelse(bp, invalidate: true); bp = null!; return e; }
        return 0;
    }

    /// <summary>The busy buffer for a block the caller will overwrite completely: no read is done if it is not cached.</summary>
    public int Getblk(BlockDevice dev, long blkno, int size, out Buf bp)
    {
        int e = CheckArgs(dev, blkno, size);
        if (e != 0) { bp = null!; return e; }
        _lock.Enter();
        bp = GetLocked(dev, blkno, size, out bool created);
        if (created) Array.Clear(bp.Data);
        bp.Valid = true;
        _lock.Exit();
        return 0;
    }

    private static int CheckArgs(BlockDevice dev, long blkno, int size)
    {
        if (size <= 0 || size % dev.SectorSize != 0 || blkno < 0) return Abi.EINVAL;
        if (blkno * BlockDevice.DevBSize + size > dev.Size) return Abi.EIO; // beyond the device: a corrupt pointer
        return 0;
    }

    /// <summary>Releases a busy buffer unchanged (or, with <paramref name="invalidate"/>, drops its contents).</summary>
    public void Brelse(Buf bp, bool invalidate = false)
    {
        _lock.Enter();
        if (invalidate && !bp.Dirty)
        {
            bp.Valid = false;
            _hash.Remove((bp.Dev, bp.Blkno));
            _bytes -= bp.Size;
        }
        else
            LruAppend(bp);
        bp.Busy = false;
        _cv.Broadcast();
        _lock.Exit();
    }

    /// <summary>Marks the buffer dirty and releases it: it is written later (flush, eviction).</summary>
    public void Bdwrite(Buf bp)
    {
        if (bp.Dev.ReadOnly) { Brelse(bp); return; }
        _lock.Enter();
        bp.Dirty = true;
        bp.Valid = true;
        LruAppend(bp);
        bp.Busy = false;
        _cv.Broadcast();
        _lock.Exit();
    }

    /// <summary>Writes the buffer now and releases it.</summary>
    public int Bwrite(Buf bp)
    {
        int e = Io(bp, write: true);
        Brelse(bp);
        return e;
    }

    /// <summary>Writes every dirty buffer of <paramref name="dev"/>, then flushes the device.</summary>
    public int Flush(BlockDevice dev)
    {
        int first = 0;
        while (true)
        {
            Buf? bp = null;
            _lock.Enter();
            foreach (Buf b in _hash.Values)
                if (b.Dev == dev && b.Dirty && !b.Busy) { bp = b; break; }
            if (bp == null)
            {
                bool busyDirty = false;
                foreach (Buf b in _hash.Values)
                    if (b.Dev == dev && b.Dirty) { busyDirty = true; break; }
                if (busyDirty) { _cv.Wait(_lock); _lock.Exit(); continue; }
                _lock.Exit();
                break;
            }
            bp.Busy = true;
            LruRemove(bp);
            _lock.Exit();
            int e = Io(bp, write: true);
            if (e != 0 && first == 0) first = e;
            Brelse(bp);
            if (e != 0) break;
        }
        if (first != 0) return first;
        return dev.ReadOnly ? 0 : dev.Flush();
    }

    /// <summary>Forgets every buffer of <paramref name="dev"/> (after a flush, at unmount).</summary>
    public void Invalidate(BlockDevice dev)
    {
        _lock.Enter();
        var drop = new List<Buf>();
        foreach (Buf b in _hash.Values)
            if (b.Dev == dev) drop.Add(b);
        foreach (Buf b in drop)
        {
            while (b.Busy) _cv.Wait(_lock);
            LruRemove(b);
            _hash.Remove((b.Dev, b.Blkno));
            _bytes -= b.Size;
        }
        _nextSeq.Remove(dev);
        _lock.Exit();
    }

    // ---- I/O ------------------------------------------------------------------------------

    private unsafe int Io(Buf bp, bool write)
    {
        int e;
        fixed (byte* p = bp.Data)
            e = BioWait.Run(_k, bp.Dev, write, p, bp.Size, bp.Offset);
        _lock.Enter();
        if (write) { Writes++; if (e == 0) bp.Dirty = false; }
        else { Reads++; bp.Valid = e == 0; }
        _lock.Exit();
        return e;
    }

    private unsafe void StartReadAhead(BlockDevice dev, long blkno, int size)
    {
        for (int i = 0; i < ReadAhead; i++, blkno += size / BlockDevice.DevBSize)
        {
            if (blkno * BlockDevice.DevBSize + size > dev.Size) return;
            _lock.Enter();
            if (_hash.ContainsKey((dev, blkno))) { _lock.Exit(); continue; }
            // Room for read-ahead comes only from clean idle buffers: writing back dirty ones here
            // would put synchronous writes on the read path.
            if (_bytes + size > MaxBytes && !EvictCleanLocked(size)) { _lock.Exit(); return; }
            var bp = new Buf(dev, blkno, size) { Busy = true, InIo = true };
            _hash[(dev, blkno)] = bp;
            _bytes += size;
            ReadAheads++;
            _lock.Exit();
            var done = new ReadAheadDone(this, bp);
            dev.Strategy(write: false, (byte*)done.Pin(), size, bp.Offset, done);
        }
    }

    /// <summary>Completion of an asynchronous read-ahead: the block becomes valid (or is dropped) and idle.</summary>
    private sealed class ReadAheadDone : BioDone
    {
        private readonly BufCache _c;
        private readonly Buf _bp;
        private GCHandle _pin;

        public ReadAheadDone(BufCache c, Buf bp) { _c = c; _bp = bp; }

        public nint Pin()
        {
            _pin = GCHandle.Alloc(_bp.Data, GCHandleType.Pinned);
            return _pin.AddrOfPinnedObject();
        }

        public override void Done(long bytes, int error)
        {
            _pin.Free();
            _c._lock.Enter();
            _bp.InIo = false;
            _c.Reads++;
            if (error == 0 && bytes == _bp.Size)
            {
                _bp.Valid = true;
                _c.LruAppend(_bp);
            }
            else
            {
                _c._hash.Remove((_bp.Dev, _bp.Blkno));
                _c._bytes -= _bp.Size;
            }
            _bp.Busy = false;
            _c._cv.Broadcast();
            _c._lock.Exit();
        }
    }

    // ---- LRU and eviction (all with _lock held) --------------------------------------------

    private void LruAppend(Buf bp)
    {
        if (bp.OnLru) LruRemove(bp);
        bp.LruPrev = _lruTail;
        bp.LruNext = null;
        if (_lruTail != null) _lruTail.LruNext = bp; else _lruHead = bp;
        _lruTail = bp;
        bp.OnLru = true;
    }

    private void LruRemove(Buf bp)
    {
        if (!bp.OnLru) return;
        if (bp.LruPrev != null) bp.LruPrev.LruNext = bp.LruNext; else _lruHead = bp.LruNext;
        if (bp.LruNext != null) bp.LruNext.LruPrev = bp.LruPrev; else _lruTail = bp.LruPrev;
        bp.LruPrev = bp.LruNext = null;
        bp.OnLru = false;
    }

    /// <summary>Makes room for <paramref name="need"/> bytes by dropping clean idle buffers, oldest first; false if it cannot.</summary>
    private bool EvictCleanLocked(int need)
    {
        Buf? b = _lruHead;
        while (_bytes + need > MaxBytes && b != null)
        {
            Buf? next = b.LruNext;
            if (!b.Dirty)
            {
                LruRemove(b);
                _hash.Remove((b.Dev, b.Blkno));
                _bytes -= b.Size;
            }
            b = next;
        }
        return _bytes + need <= MaxBytes;
    }

    /// <summary>Makes room for <paramref name="need"/> bytes by dropping idle buffers, oldest first (dirty ones are written first).</summary>
    private void EvictLocked(int need)
    {
        while (_bytes + need > MaxBytes && _lruHead != null)
        {
            Buf victim = _lruHead;
            LruRemove(victim);
            if (victim.Dirty)
            {
                victim.Busy = true;
                _lock.Exit();
                Io(victim, write: true);
                _lock.Enter();
                victim.Busy = false;
                _cv.Broadcast();
                if (victim.Dirty) { LruAppend(victim); return; } // could not write it: keep it, go over the bound
            }
            _hash.Remove((victim.Dev, victim.Blkno));
            _bytes -= victim.Size;
        }
    }
}

/// <summary>A synchronous transfer: start it and sleep (without a virtual CPU) until it completes.</summary>
internal sealed class BioWait : BioDone
{
    private readonly KMutex _m;
    private readonly KCondvar _cv;
    private bool _done;
    private long _bytes;
    private int _error;

    private BioWait(Kernel k) { _m = new KMutex(k); _cv = new KCondvar(k); }

    public static unsafe int Run(Kernel k, BlockDevice dev, bool write, byte* data, int length, long offset)
    {
        var w = new BioWait(k);
        dev.Strategy(write, data, length, offset, w);
        w._m.Enter();
        while (!w._done) w._cv.Wait(w._m);
        w._m.Exit();
        if (w._error != 0) return w._error;
        return w._bytes == length ? 0 : Abi.EIO; // a short transfer: the image ends early
    }

    public override void Done(long bytes, int error)
    {
        _m.Enter();
        _bytes = bytes;
        _error = error;
        _done = true;
        _cv.Broadcast();
        _m.Exit();
    }
}
