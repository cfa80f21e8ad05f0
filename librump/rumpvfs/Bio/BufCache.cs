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
/// - Writes are clustered (NetBSD's cluster_write): a dirty victim is written together with the
///   idle dirty buffers at the blocks around it, and a flush writes each run of consecutive dirty
///   blocks, in one transfer of up to <see cref="ClusterBytes"/>. A large file write otherwise
///   cost one host transfer, and a wait for another thread, per block.
/// - Write-behind: a delayed write that completes an aligned cluster of consecutive dirty blocks
///   starts an asynchronous transfer of that cluster (its buffers are busy until it completes), so
///   a sequential writer neither waits for the host nor finds only dirty victims. A failed
///   asynchronous write leaves its buffers dirty: the next flush writes them again and reports it.
///
/// - A file system reads each region of its device with one buffer size (NetBSD's rule too).
///   Clustering creates buffers of the caller's size past the block it asked for; a region read
///   later with another size finds them with the wrong size and drops them (see GetLocked).
///
/// - The direct path (<see cref="ReadUncached"/>) reads large ranges without buffers; its
///   asynchronous form, a read-ahead window (<see cref="DirectRead"/>), is registered here while
///   it holds data, so that dirtying or writing a block in its range marks it stale.
///
/// Locks: <see cref="_lock"/> protects the hash, the list of direct read-ahead windows, the LRU list, the byte count, the count of
/// write-behind transfers in flight and every buffer's state fields; transfers run without it (the
/// buffer is busy, so nobody else touches it). Order: file-system locks → <see cref="_lock"/>.
/// Waiters for a busy buffer, for room, or for a write-behind slot sleep on <see cref="_cv"/>;
/// completions (interrupt context) take <see cref="_lock"/> and broadcast it.
/// Whoever drops the lock (a transfer, a wait) looks everything up again after re-taking it: a
/// buffer for the same block may have been made meanwhile, and one block must never have two.
/// </summary>
public sealed class BufCache
{
    private readonly Kernel _k;
    private readonly KMutex _lock;
    private readonly KCondvar _cv;
    /// <summary>Buffers by (device number, block): a key of plain numbers hashes and compares without generic object comparers.</summary>
    private readonly Dictionary<(ulong, long), Buf> _hash = new();
    private Buf? _lruHead, _lruTail; // head = least recently used
    private long _bytes;
    /// <summary>Per device: where a sequential reader's next block is, and where read-ahead has got to.</summary>
    private readonly Dictionary<ulong, (long next, long raEnd)> _seq = new();
    public readonly long MaxBytes;
    /// <summary>Blocks read ahead when a device is read sequentially (0: no read-ahead and no read clustering; writes cluster by <see cref="ClusterBytes"/>).</summary>
    public int ReadAhead = 8;
    /// <summary>Clusters kept in flight ahead of a sequential reader.</summary>
    public int ReadAheadClusters = 4;
    /// <summary>Bytes per clustered transfer (NetBSD's MAXPHYS is 64 KiB; host files do better with more).</summary>
    public int ClusterBytes = 256 << 10;
    /// <summary>Staging buffers for clustered transfers, this cache's own (no process-wide pool).</summary>
    private readonly System.Buffers.ArrayPool<byte> _staging = System.Buffers.ArrayPool<byte>.Create(1 << 20, 8);

    /// <summary>Writes counts write transfers; <see cref="BlocksWritten"/> the buffers they wrote (tests: writes are clustered).</summary>
    public long Hits, Misses, Reads, Writes, ReadAheads, BlocksWritten;
    /// <summary>Asynchronous (write-behind) transfers started.</summary>
    public long AsyncWrites;
    /// <summary>Write-behind transfers not yet completed (at most <see cref="MaxAsyncWrites"/>).</summary>
    private int _asyncInFlight;
    /// <summary>Times a thread slept because a buffer it wanted was busy (tests wait on it for a real condition).</summary>
    public long BusyWaits;

    public BufCache(Kernel k, long maxBytes)
    {
        _k = k;
        _lock = new KMutex(k);
        _cv = new KCondvar(k);
        MaxBytes = maxBytes;
        // RUMP_BUFCACHE_DIRECT=0 turns the direct path off (an A/B switch for benchmarks).
        Direct = Param.Get("RUMP_BUFCACHE_DIRECT") != "0";
        // RUMP_BUFCACHE_DIRECTAHEAD=0 turns off only the direct path's read-ahead windows (A/B).
        DirectAhead = Param.Get("RUMP_BUFCACHE_DIRECTAHEAD") != "0";
    }

    /// <summary>Whether direct read-ahead windows (<see cref="DirectRead"/>) may start.</summary>
    public bool DirectAhead;

    /// <summary>Whether <see cref="ReadUncached"/> bypasses the cache at all (false: every read goes through buffers).</summary>
    public bool Direct;

    public long CachedBytes { get { _lock.Enter(); long b = _bytes; _lock.Exit(); return b; } }

    /// <summary>
    /// The busy buffer for (dev, blkno), created empty if absent. Caller holds _lock; may sleep
    /// (and drop it). An error only when an old buffer of another size could not be written out.
    /// </summary>
    private int GetLocked(BlockDevice dev, long blkno, int size, out Buf bp, out bool created)
    {
        bool evict = true;
        while (true)
        {
            if (_hash.TryGetValue((dev.Dev, blkno), out Buf? found))
            {
                if (found.Busy) { BusyWait(); continue; }
                if (found.Size != size)
                {
                    // A different block size for the same address: the file system changed its
                    // view (NetBSD forbids mixing sizes too). Write the old one out and drop it.
                    found.Busy = true;
                    LruRemove(found);
                    if (found.Dirty)
                    {
                        _lock.Exit();
                        int e = Io(found, write: true);
                        _lock.Enter();
                        if (e != 0)
                        {
                            // Its data exists nowhere else: keep it and fail the caller.
                            LruAppend(found);
                            found.Busy = false;
                            _cv.Broadcast();
                            bp = null!;
                            created = false;
                            return e;
                        }
                    }
                    Forget(found);
                    _cv.Broadcast();
                    continue;
                }
                found.Busy = true;
                LruRemove(found);
                bp = found;
                created = false;
                return 0;
            }
            // Writing a dirty victim drops the lock: someone may have made this block's buffer
            // meanwhile. A victim that cannot be written stays, and this buffer goes over the bound.
            if (evict)
            {
                Evicted r = EvictLocked(size);
                if (r == Evicted.WriteFailed) evict = false;
                if (r != Evicted.Done) continue;
            }
            var nb = new Buf(dev, blkno, size, TakeData(size)) { Busy = true };
            _hash.Add((dev.Dev, blkno), nb);
            _bytes += size;
            bp = nb;
            created = true;
            return 0;
        }
    }

    /// <summary>With _lock held: sleeps until a buffer is released (the lock is dropped meanwhile).</summary>
    private void BusyWait()
    {
        System.Threading.Interlocked.Increment(ref BusyWaits);
        _cv.Wait(_lock);
    }

    /// <summary>
    /// With _lock held: takes <paramref name="bp"/> out of the cache. It must be the block's buffer
    /// in the hash; anything else means two buffers were made for one block.
    /// </summary>
    private void Forget(Buf bp)
    {
        if (!_hash.TryGetValue((bp.Dev.Dev, bp.Blkno), out Buf? cur) || cur != bp)
            Kernel.Panic("buffer cache: " + bp + " is not the cached buffer of its block");
        _hash.Remove((bp.Dev.Dev, bp.Blkno));
        _bytes -= bp.Size;
    }

    /// <summary>
    /// Reads block <paramref name="blkno"/> (DEV_BSIZE units) of <paramref name="size"/> bytes; the
    /// buffer is busy until released. When the device is being read sequentially a miss reads a
    /// whole cluster (up to <see cref="ClusterBytes"/>) in one transfer, and the next cluster is
    /// read ahead asynchronously: a host transfer per block would cost more than the copy.
    /// </summary>
    public int Bread(BlockDevice dev, long blkno, int size, out Buf bp)
    {
        int e = CheckArgs(dev, blkno, size);
        if (e != 0) { bp = null!; return e; }
        long step = size / BlockDevice.DevBSize;
        List<Buf>? cluster = null;
        _lock.Enter();
        e = GetLocked(dev, blkno, size, out bp, out _);
        if (e != 0) { _lock.Exit(); return e; }
        bool hit = bp.Valid;
        if (hit) Hits++; else Misses++;
        // Sequential access: this block is where the last read of the device ended.
        _seq.TryGetValue(dev.Dev, out var sq);
        bool sequential = blkno == sq.next && blkno != 0 && ReadAhead > 0;
        if (!hit && sequential)
            cluster = ReserveRunLocked(dev, blkno + step, size, ClusterBlocks(size) - 1);
        int clustered = cluster?.Count ?? 0;
        long end = blkno + step * (1 + clustered);
        // A hit elsewhere (an indirect block, a bitmap) does not end a sequential stream; a miss
        // elsewhere starts a new one.
        if (sequential || !hit) _seq[dev.Dev] = (blkno + step, sequential ? Math.Max(sq.raEnd, end) : end);
        _lock.Exit();
        if (!hit)
        {
            e = cluster != null ? ReadRun(bp, cluster) : Io(bp, write: false);
            if (e != 0) { Brelse(bp, invalidate: true); bp = null!; return e; }
        }
        if (sequential) StartReadAhead(dev, end, size);
        return 0;
    }

    /// <summary>Reads that bypassed the cache (<see cref="ReadUncached"/>), and those that had to fall back to it.</summary>
    public long UncachedReads, UncachedFallbacks;
    /// <summary>Of <see cref="UncachedReads"/>, those that landed in the caller's memory with no staging copy.</summary>
    public long UncachedInPlace;

    /// <summary>Largest read <see cref="ReadUncached"/> takes: its staging buffers come from the cache's pool.</summary>
    public const int MaxUncached = 1 << 20;

    /// <summary>
    /// The read side's direct path: reads <paramref name="dest"/>.Length bytes from block
    /// <paramref name="blkno"/> of <paramref name="dev"/> in one transfer, without making buffers,
    /// when the cache holds nothing newer than the device for that range. The range is looked at
    /// in steps of <paramref name="blockSize"/> (the file system's block size for this region, as
    /// every read of it uses). A dirty buffer, or a busy one that is not being read (a writer may be
    /// changing it), makes it return false without reading: the caller then goes through
    /// <see cref="Bread"/>. Clean cached buffers hold what the device holds, so they are ignored.
    /// A file system's data reads take this for large requests: per-block buffers cost a hash
    /// lookup, an entry and a copy each, and a streaming reader never reads the blocks again.
    /// </summary>
    public unsafe bool ReadUncached(BlockDevice dev, long blkno, int blockSize, Span<byte> dest, out int error)
    {
        error = CheckArgs(dev, blkno, blockSize);
        if (error == 0 && (dest.Length % blockSize != 0 || dest.Length == 0)) error = Abi.EINVAL;
        if (error == 0 && blkno * BlockDevice.DevBSize + dest.Length > dev.Size) error = Abi.EIO;
        if (error != 0) return true;
        if (!Direct) return false;
        _lock.Enter();
        if (NewerLocked(dev, blkno, blockSize, dest.Length))
        {
            UncachedFallbacks++;
            _lock.Exit();
            return false;
        }
        UncachedReads++;
        _lock.Exit();
        fixed (byte* p = dest)
            error = BioWait.Run(_k, dev, write: false, p, dest.Length, blkno * BlockDevice.DevBSize);
        return true;
    }

    /// <summary>
    /// A file system's read on the direct path: <paramref name="bytes"/> from block
    /// <paramref name="blkno"/> (as <see cref="ReadUncached(BlockDevice, long, int, Span{byte}, out int)"/>),
    /// of which the <paramref name="count"/> bytes from <paramref name="skip"/> on go to
    /// <paramref name="uio"/>. A whole, aligned range lands in the caller's memory itself when the
    /// uio allows it (<see cref="Uio.TryDirect"/>): the device's bytes are copied once, by the host.
    /// Anything else is staged (in the device's DMA memory when it lends some). False, with
    /// nothing moved: the cache holds newer data for the range, read it through <see cref="Bread"/>.
    /// </summary>
    public unsafe bool ReadUncached(ref Uio uio, BlockDevice dev, long blkno, int blockSize, int bytes, int skip, int count, out int error)
    {
        if (skip == 0 && count == bytes && uio.TryDirect(bytes, out Span<byte> dest))
        {
            if (!ReadUncached(dev, blkno, blockSize, dest, out error)) return false;
            if (error == 0) { uio.Skip(bytes); System.Threading.Interlocked.Increment(ref UncachedInPlace); }
            return true;
        }
        // Staged: in the device's DMA memory when it lends some (the bytes then come in with no
        // copy), else in a buffer of the pool.
        DmaMem? dma = dev.AllocDma(bytes);
        byte[]? staging = dma == null ? _staging.Rent(bytes) : null;
        try
        {
            Span<byte> stage = dma != null ? new Span<byte>(dma.Pointer, bytes) : staging.AsSpan(0, bytes);
            if (!ReadUncached(dev, blkno, blockSize, stage, out error)) return false;
            if (error == 0) error = uio.Move(stage.Slice(skip, count));
            return true;
        }
        finally
        {
            if (dma != null) dma.Release();
            else _staging.Return(staging!);
        }
    }

    /// <summary>
    /// Does the cache hold something newer than the device for the <paramref name="length"/> bytes
    /// from block <paramref name="blkno"/> (looked at in steps of <paramref name="blockSize"/>, the
    /// file system's block size there)? False means the device's bytes are the range's, for as long
    /// as the caller's file-system locks keep writers out (<see cref="VnodeOps.Bmap"/>).
    /// </summary>
    public bool HoldsNewer(BlockDevice dev, long blkno, int blockSize, int length)
    {
        if (blockSize <= 0 || blockSize % BlockDevice.DevBSize != 0) return true;
        _lock.Enter();
        bool newer = NewerLocked(dev, blkno, blockSize, length);
        _lock.Exit();
        return newer;
    }

    /// <summary>
    /// With <see cref="_lock"/> held: does the cache hold something newer than the device for the
    /// <paramref name="length"/> bytes from <paramref name="blkno"/> (a dirty buffer, or a busy one
    /// that is not being read: a writer may be changing it)? Looked at in steps of <paramref name="blockSize"/>.
    /// </summary>
    private bool NewerLocked(BlockDevice dev, long blkno, int blockSize, int length)
    {
        if (_hash.Count == 0) return false;
        long step = blockSize / BlockDevice.DevBSize;
        long end = blkno + length / BlockDevice.DevBSize;
        for (long b = blkno; b < end; b += step)
            if (_hash.TryGetValue((dev.Dev, b), out Buf? bp) && (bp.Dirty || (bp.Busy && !bp.InIo)))
                return true;
        return false;
    }

    // ---- Direct read-ahead windows (DirectRead) ------------------------------------------------

    /// <summary>Direct read-ahead windows holding a staging buffer at most (each up to <see cref="MaxUncached"/>).</summary>
    public const int MaxDirectWindows = 8;
    /// <summary>Under <see cref="_lock"/>: the windows holding a staging buffer, and how many.</summary>
    private DirectRead? _windows;
    private int _windowCount;
    /// <summary>Direct read-ahead windows started, served from, and found stale (dropped unread).</summary>
    public long DirectAheads, DirectAheadHits, DirectAheadStale;

    /// <summary>For <see cref="DirectRead.Start"/>: checks the range as <see cref="ReadUncached"/> does and counts the window in.</summary>
    internal bool RegisterWindow(DirectRead d, BlockDevice dev, long blkno, int blockSize, int length)
    {
        if (!Direct || !DirectAhead || length > MaxUncached || CheckArgs(dev, blkno, blockSize) != 0 || length % blockSize != 0 || length == 0 ||
            blkno * BlockDevice.DevBSize + length > dev.Size)
            return false;
        _lock.Enter();
        if (_windowCount >= MaxDirectWindows || NewerLocked(dev, blkno, blockSize, length))
        {
            _lock.Exit();
            return false;
        }
        d.Stale = false;
        d.NextWindow = _windows;
        _windows = d;
        _windowCount++;
        DirectAheads++;
        _lock.Exit();
        return true;
    }

    internal void UnregisterWindow(DirectRead d)
    {
        _lock.Enter();
        DirectRead? prev = null;
        for (DirectRead? w = _windows; w != null; prev = w, w = w.NextWindow)
            if (w == d)
            {
                if (prev == null) _windows = d.NextWindow; else prev.NextWindow = d.NextWindow;
                _windowCount--;
                break;
            }
        d.NextWindow = null;
        _lock.Exit();
    }

    /// <summary>Whether a completed window still holds what the device and the cache hold (counts the outcome).</summary>
    internal bool WindowFresh(DirectRead d)
    {
        _lock.Enter();
        bool ok = !d.Stale && !NewerLocked(d.Dev!, d.Blkno, d.BlockSize, d.Length);
        if (ok) DirectAheadHits++; else DirectAheadStale++;
        _lock.Exit();
        return ok;
    }

    /// <summary>With <see cref="_lock"/> held: a block of <paramref name="dev"/> is being dirtied or written; windows over it go stale.</summary>
    private void MarkStaleLocked(BlockDevice dev, long blkno, int size)
    {
        long end = blkno + size / BlockDevice.DevBSize;
        for (DirectRead? w = _windows; w != null; w = w.NextWindow)
            if (w.Dev == dev && blkno < w.Blkno + w.Length / BlockDevice.DevBSize && end > w.Blkno)
                w.Stale = true;
    }

    /// <summary>A staging buffer of at least <paramref name="length"/> (at most <see cref="MaxUncached"/>) bytes for <see cref="ReadUncached"/>; give it back with <see cref="ReturnStaging"/>.</summary>
    public byte[] RentStaging(int length) => _staging.Rent(length);

    public void ReturnStaging(byte[] a) => _staging.Return(a);

    /// <summary>Blocks of <paramref name="size"/> bytes in one clustered transfer.</summary>
    private int ClusterBlocks(int size) => Math.Max(1, Math.Max(ReadAhead, ClusterBytes / size));

    /// <summary>The busy buffer for a block the caller will overwrite completely: no read is done if it is not cached.</summary>
    public int Getblk(BlockDevice dev, long blkno, int size, out Buf bp)
    {
        int e = CheckArgs(dev, blkno, size);
        if (e != 0) { bp = null!; return e; }
        _lock.Enter();
        e = GetLocked(dev, blkno, size, out bp, out bool created);
        if (e != 0) { _lock.Exit(); return e; }
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
            Forget(bp);
        }
        else
            LruAppend(bp);
        bp.Busy = false;
        _cv.Broadcast();
        _lock.Exit();
    }

    /// <summary>
    /// Marks the buffer dirty and releases it: it is written later (flush, eviction), or now,
    /// asynchronously, with the blocks before it when it is the last block of an aligned cluster
    /// whose blocks are all dirty and idle (write-behind).
    /// </summary>
    public void Bdwrite(Buf bp)
    {
        if (bp.Dev.ReadOnly) { Brelse(bp); return; }
        _lock.Enter();
        if (_windows != null) MarkStaleLocked(bp.Dev, bp.Blkno, bp.Size);
        bp.Dirty = true;
        bp.Valid = true;
        LruAppend(bp);
        bp.Busy = false;
        _cv.Broadcast();
        List<Buf>? run = null;
        if (EndsCluster(bp))
        {
            // Bounded write-behind: a writer faster than the host waits for a transfer to finish.
            while (_asyncInFlight >= MaxAsyncWrites) _cv.Wait(_lock);
            run = TakeFullClusterLocked(bp.Dev, bp.Blkno, bp.Size);
            if (run != null) _asyncInFlight++;
        }
        _lock.Exit();
        if (run != null) StartAsyncWrite(run);
    }

    /// <summary>Write-behind transfers in flight at most (each holds a staging buffer of up to <see cref="ClusterBytes"/>).</summary>
    public const int MaxAsyncWrites = 8;

    /// <summary>Is <paramref name="bp"/> the last block of an aligned cluster (and clusters have more than one block)?</summary>
    private bool EndsCluster(Buf bp)
    {
        int max = WriteClusterBlocks(bp.Size);
        long step = bp.Size / BlockDevice.DevBSize;
        return max >= 2 && (bp.Blkno / step + 1) % max == 0 && bp.Blkno - (max - 1) * step >= 0;
    }

    /// <summary>
    /// With <see cref="_lock"/> held: if the aligned cluster (<see cref="WriteClusterBlocks"/> blocks)
    /// ending at block <paramref name="last"/> is cached in idle dirty buffers of
    /// <paramref name="size"/>, those buffers, made busy and taken off the LRU list, in block order;
    /// else null. Only the last block of a cluster asks (<see cref="EndsCluster"/>), so a sequential
    /// writer pays one look per cluster.
    /// </summary>
    private List<Buf>? TakeFullClusterLocked(BlockDevice dev, long last, int size)
    {
        int max = WriteClusterBlocks(size);
        long step = size / BlockDevice.DevBSize;
        long first = last - (max - 1) * step;
        for (long b = first; b <= last; b += step)
            if (!IsIdleDirty(dev, b, size)) return null;
        var run = new List<Buf>(max);
        for (long b = first; b <= last; b += step)
        {
            Buf x = _hash[(dev.Dev, b)];
            x.Busy = true;
            x.InIo = true;
            LruRemove(x);
            run.Add(x);
        }
        return run;
    }

    /// <summary>Starts the write of a busy run of consecutive blocks through a staging copy; <see cref="WriteDone"/> finishes it.</summary>
    private unsafe void StartAsyncWrite(List<Buf> run)
    {
        int size = run[0].Size;
        byte[] staging = _staging.Rent(size * run.Count);
        for (int j = 0; j < run.Count; j++) run[j].Data.CopyTo(staging.AsSpan(j * size, size));
        var done = new WriteDone(this, run, staging);
        System.Threading.Interlocked.Increment(ref AsyncWrites);
        run[0].Dev.Strategy(write: true, (byte*)done.Pin(), size * run.Count, run[0].Offset, done);
    }

    /// <summary>Completes a write-behind transfer (interrupt context): the buffers are clean if it all got written, and idle.</summary>
    private void FinishAsyncWrite(List<Buf> run, byte[] staging, long bytes, int error)
    {
        _staging.Return(staging);
        bool ok = error == 0 && bytes == (long)run[0].Size * run.Count;
        _lock.Enter();
        Writes++;
        BlocksWritten += run.Count;
        _asyncInFlight--;
        foreach (Buf bp in run)
        {
            bp.InIo = false;
            if (ok) bp.Dirty = false;
            bp.Busy = false;
            LruAppend(bp);
        }
        _cv.Broadcast();
        _lock.Exit();
    }

    /// <summary>Completion of a write-behind transfer.</summary>
    private sealed class WriteDone : BioDone
    {
        private readonly BufCache _c;
        private readonly List<Buf> _run;
        private readonly byte[] _staging;
        private GCHandle _pin;

        public WriteDone(BufCache c, List<Buf> run, byte[] staging) { _c = c; _run = run; _staging = staging; }

        public nint Pin()
        {
            _pin = GCHandle.Alloc(_staging, GCHandleType.Pinned);
            return _pin.AddrOfPinnedObject();
        }

        public override void Done(long bytes, int error)
        {
            _pin.Free();
            _c.FinishAsyncWrite(_run, _staging, bytes, error);
        }
    }

    /// <summary>Writes the buffer now and releases it.</summary>
    public int Bwrite(Buf bp)
    {
        _lock.Enter();
        if (_windows != null) MarkStaleLocked(bp.Dev, bp.Blkno, bp.Size);
        _lock.Exit();
        int e = Io(bp, write: true);
        Brelse(bp);
        return e;
    }

    /// <summary>Writes every dirty buffer of <paramref name="dev"/> (in block order), then flushes the device.</summary>
    public int Flush(BlockDevice dev)
    {
        int first = 0;
        var batch = new List<Buf>();
        while (true)
        {
            batch.Clear();
            bool busyDirty = false;
            _lock.Enter();
            // One pass collects every idle dirty buffer; busy ones are waited for and picked up next pass.
            foreach (Buf b in _hash.Values)
            {
                if (b.Dev != dev || !b.Dirty) continue;
                if (b.Busy) { busyDirty = true; continue; }
                b.Busy = true;
                LruRemove(b);
                batch.Add(b);
            }
            if (batch.Count == 0)
            {
                if (busyDirty) { BusyWait(); _lock.Exit(); continue; }
                _lock.Exit();
                break;
            }
            _lock.Exit();
            batch.Sort((x, y) => x.Blkno.CompareTo(y.Blkno));
            // Consecutive blocks of one size go to the device in one transfer each.
            for (int i = 0; i < batch.Count;)
            {
                int n = RunLength(batch, i);
                if (first == 0)
                {
                    int e = WriteRun(batch, i, n);
                    if (e != 0) first = e;
                }
                for (int j = i; j < i + n; j++) Brelse(batch[j]);
                i += n;
            }
            if (first != 0) break;
        }
        if (first != 0) return first;
        return dev.ReadOnly ? 0 : dev.Flush();
    }

    /// <summary>Forgets every buffer of <paramref name="dev"/> (after a flush, at unmount).</summary>
    public void Invalidate(BlockDevice dev)
    {
        var drop = new List<Buf>();
        _lock.Enter();
        while (true)
        {
            // Waiting for a busy buffer drops the lock: buffers may come and go meanwhile, so
            // every pass looks at the hash afresh.
            drop.Clear();
            bool busy = false;
            foreach (Buf b in _hash.Values)
            {
                if (b.Dev != dev) continue;
                if (b.Busy) busy = true; else drop.Add(b);
            }
            foreach (Buf b in drop)
            {
                LruRemove(b);
                Forget(b);
            }
            if (!busy) break;
            BusyWait();
        }
        _seq.Remove(dev.Dev);
        _lock.Exit();
    }

    // ---- I/O ------------------------------------------------------------------------------

    private unsafe int Io(Buf bp, bool write)
    {
        int e;
        fixed (byte* p = bp.Data)
            e = BioWait.Run(_k, bp.Dev, write, p, bp.Size, bp.Offset);
        _lock.Enter();
        if (write) { Writes++; BlocksWritten++; if (e == 0) bp.Dirty = false; }
        else { Reads++; bp.Valid = e == 0; }
        _lock.Exit();
        return e;
    }

    /// <summary>Buffers of one transfer: at most <see cref="ClusterBytes"/> (and at least one block).</summary>
    private int WriteClusterBlocks(int size) => Math.Max(1, ClusterBytes / size);

    /// <summary>
    /// How many buffers from <paramref name="i"/> of the block-ordered <paramref name="bufs"/> form
    /// one transfer: same device and size, each at the block after the previous one.
    /// </summary>
    private int RunLength(List<Buf> bufs, int i)
    {
        Buf first = bufs[i];
        int max = WriteClusterBlocks(first.Size);
        long step = first.Size / BlockDevice.DevBSize;
        int n = 1;
        while (n < max && i + n < bufs.Count)
        {
            Buf b = bufs[i + n];
            if (b.Dev != first.Dev || b.Size != first.Size || b.Blkno != first.Blkno + n * step) break;
            n++;
        }
        return n;
    }

    /// <summary>
    /// Writes the busy buffers <paramref name="bufs"/>[<paramref name="i"/>..+<paramref name="n"/>]
    /// (consecutive blocks, see <see cref="RunLength"/>) in one synchronous transfer, through a
    /// staging buffer; on success they are clean. 0 or the errno (then all stay dirty).
    /// </summary>
    private unsafe int WriteRun(List<Buf> bufs, int i, int n)
    {
        if (n == 1) return Io(bufs[i], write: true);
        Buf first = bufs[i];
        int size = first.Size;
        int total = size * n;
        byte[] staging = _staging.Rent(total);
        for (int j = 0; j < n; j++) bufs[i + j].Data.CopyTo(staging.AsSpan(j * size, size));
        int e;
        fixed (byte* p = staging)
            e = BioWait.Run(_k, first.Dev, write: true, p, total, first.Offset);
        _staging.Return(staging);
        _lock.Enter();
        Writes++;
        BlocksWritten += n;
        if (e == 0)
            for (int j = 0; j < n; j++) bufs[i + j].Dirty = false;
        _lock.Exit();
        return e;
    }

    /// <summary>
    /// With <see cref="_lock"/> held and <paramref name="victim"/> dirty, busy and off the LRU list:
    /// the cluster to write with it, in block order — the idle dirty buffers of its device and size
    /// at the blocks before and after it, up to <see cref="WriteClusterBlocks"/> in all, made busy
    /// and taken off the LRU list too.
    /// </summary>
    private List<Buf> TakeDirtyClusterLocked(Buf victim)
    {
        int max = WriteClusterBlocks(victim.Size);
        long step = victim.Size / BlockDevice.DevBSize;
        // Back from the victim first (a file written backwards, or a neighbour used again later),
        // then forward from the first block found.
        long start = victim.Blkno;
        int n = 1;
        while (n < max && start - step >= 0 && IsIdleDirty(victim, start - step)) { start -= step; n++; }
        for (long b = victim.Blkno + step; n < max && IsIdleDirty(victim, b); b += step) n++;
        var run = new List<Buf>(n);
        for (int j = 0; j < n; j++)
        {
            long b = start + j * step;
            Buf bp = b == victim.Blkno ? victim : _hash[(victim.Dev.Dev, b)];
            if (bp != victim)
            {
                bp.Busy = true;
                LruRemove(bp);
            }
            run.Add(bp);
        }
        return run;
    }

    /// <summary>With <see cref="_lock"/> held: is block <paramref name="blkno"/> cached in an idle dirty buffer like <paramref name="like"/> (device, size)?</summary>
    private bool IsIdleDirty(Buf like, long blkno) => IsIdleDirty(like.Dev, blkno, like.Size);

    private bool IsIdleDirty(BlockDevice dev, long blkno, int size)
        => _hash.TryGetValue((dev.Dev, blkno), out Buf? b) && !b.Busy && b.Dirty && b.Size == size;

    /// <summary>
    /// With <see cref="_lock"/> held: busy, in-transfer buffers for the consecutive blocks from
    /// <paramref name="b"/> that are not cached, at most <paramref name="max"/>, stopping at the end
    /// of the device, at a cached block, or when only dirty buffers could make room.
    /// </summary>
    private List<Buf>? ReserveRunLocked(BlockDevice dev, long b, int size, int max)
    {
        // The lists are recycled (FinishRun gives them back): a read allocates none.
        if (!_runLists.TryPop(out List<Buf>? run)) run = new List<Buf>(max);
        long step = size / BlockDevice.DevBSize;
        for (int i = 0; i < max; i++, b += step)
        {
            if (b * BlockDevice.DevBSize + size > dev.Size || _hash.ContainsKey((dev.Dev, b))) break;
            if (_bytes + size > MaxBytes && !EvictCleanLocked(size)) break;
            var nb = new Buf(dev, b, size, TakeData(size)) { Busy = true, InIo = true };
            _hash[(dev.Dev, b)] = nb;
            _bytes += size;
            run.Add(nb);
        }
        if (run.Count > 0) return run;
        _runLists.Push(run);
        return null;
    }

    /// <summary>Run lists of <see cref="ReserveRunLocked"/> not in use (under <see cref="_lock"/>).</summary>
    private readonly Stack<List<Buf>> _runLists = new();

    /// <summary>Reads <paramref name="first"/> and the run after it in one synchronous transfer.</summary>
    private unsafe int ReadRun(Buf first, List<Buf> rest)
    {
        int size = first.Size;
        int total = size * (1 + rest.Count);
        byte[] staging = _staging.Rent(total);
        int e;
        fixed (byte* p = staging)
            e = BioWait.Run(_k, first.Dev, write: false, p, total, first.Offset);
        if (e == 0) staging.AsSpan(0, size).CopyTo(first.Data);
        // The run follows the first block in the staging buffer.
        FinishRun(rest, staging, size, size, e, bytes: e == 0 ? total : 0);
        _lock.Enter();
        Reads++;
        first.Valid = e == 0;
        _lock.Exit();
        return e;
    }

    /// <summary>Read-ahead: the first uncached blocks of the window after <paramref name="from"/>, in one asynchronous transfer.</summary>
    private unsafe void StartReadAhead(BlockDevice dev, long from, int size)
    {
        int cluster = ClusterBlocks(size);
        // Keep several clusters in flight, so the reader finds its blocks ready rather than waiting.
        int window = cluster * ReadAheadClusters;
        long step = size / BlockDevice.DevBSize;
        _lock.Enter();
        _seq.TryGetValue(dev.Dev, out var sq);
        // Read-ahead resumes where it stopped; nothing to do while a whole window is ahead already.
        long b = Math.Max(from, sq.raEnd);
        List<Buf>? run = b - from < (long)window * step ? ReserveRunLocked(dev, b, size, cluster) : null;
        // A run that stops at a cached block resumes after it next time.
        if (b - from < (long)window * step) _seq[dev.Dev] = (sq.next, b + Math.Max(1, run?.Count ?? 0) * step);
        ReadAheads += run?.Count ?? 0;
        _lock.Exit();
        if (run == null) return;
        var done = new RunDone(this, run, _staging.Rent(size * run.Count), size);
        dev.Strategy(write: false, (byte*)done.Pin(), size * run.Count, run[0].Offset, done);
    }

    /// <summary>Completes a run: copies each block out of the staging buffer from <paramref name="start"/> (or drops them on error) and makes them idle.</summary>
    private void FinishRun(List<Buf> run, byte[] staging, int start, int size, int error, long bytes)
    {
        for (int i = 0; i < run.Count; i++)
            if (error == 0 && bytes >= start + (long)(i + 1) * size)
                staging.AsSpan(start + i * size, size).CopyTo(run[i].Data);
        _staging.Return(staging);
        _lock.Enter();
        Reads++;
        for (int i = 0; i < run.Count; i++)
        {
            Buf bp = run[i];
            bp.InIo = false;
            if (error == 0 && bytes >= start + (long)(i + 1) * size)
            {
                bp.Valid = true;
                LruAppend(bp);
            }
            else
                Forget(bp);
            bp.Busy = false;
        }
        run.Clear();
        _runLists.Push(run);
        _cv.Broadcast();
        _lock.Exit();
    }

    /// <summary>Completion of an asynchronous read-ahead run.</summary>
    private sealed class RunDone : BioDone
    {
        private readonly BufCache _c;
        private readonly List<Buf> _run;
        private readonly byte[] _staging;
        private readonly int _size;
        private GCHandle _pin;

        public RunDone(BufCache c, List<Buf> run, byte[] staging, int size) { _c = c; _run = run; _staging = staging; _size = size; }

        public nint Pin()
        {
            _pin = GCHandle.Alloc(_staging, GCHandleType.Pinned);
            return _pin.AddrOfPinnedObject();
        }

        public override void Done(long bytes, int error)
        {
            _pin.Free();
            _c.FinishRun(_run, _staging, 0, _size, error, bytes);
        }
    }

    // ---- LRU and eviction (all with _lock held) --------------------------------------------

    /// <summary>
    /// Data arrays of evicted buffers, by size, for the next buffers of that size: a streaming
    /// read would otherwise allocate (and the GC compact) a block-sized array per block. File
    /// systems never touch a buffer after releasing it, so its array is free once it is evicted.
    /// </summary>
    private readonly Dictionary<int, Stack<byte[]>> _freeData = new();
    private long _freeBytes;

    private byte[]? TakeData(int size)
    {
        if (!_freeData.TryGetValue(size, out Stack<byte[]>? st) || !st.TryPop(out byte[]? a)) return null;
        _freeBytes -= a.Length;
        return a;
    }

    private void KeepData(byte[] a)
    {
        // Kept arrays are memory too: at most an eighth of the cache's bound.
        if (_freeBytes + a.Length > MaxBytes / 8) return;
        if (!_freeData.TryGetValue(a.Length, out Stack<byte[]>? st)) _freeData[a.Length] = st = new Stack<byte[]>();
        st.Push(a);
        _freeBytes += a.Length;
    }

    private void LruAppend(Buf bp)
    {
        if (bp.OnLru) LruRemove(bp);
        bp.LruPrev = _lruTail;
        bp.LruNext = null;
        if (_lruTail != null) _lruTail.LruNext = bp; else _lruHead = bp;
        _lruTail = bp;
        bp.OnLru = true;
    }

    /// <summary>Puts <paramref name="bp"/> first in line for eviction.</summary>
    private void LruPrepend(Buf bp)
    {
        if (bp.OnLru) LruRemove(bp);
        bp.LruNext = _lruHead;
        bp.LruPrev = null;
        if (_lruHead != null) _lruHead.LruPrev = bp; else _lruTail = bp;
        _lruHead = bp;
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

    /// <summary>
    /// Idle buffers <see cref="EvictCleanLocked"/> looks at before it gives up. Read-ahead is
    /// optional work: when the oldest buffers are dirty (a large write fills the cache with them)
    /// walking past all of them on every read made each write cost time in proportion to the cache.
    /// </summary>
    internal const int CleanEvictScan = 32;
    /// <summary>Idle buffers looked at by clean eviction (tests check it stays bounded per block).</summary>
    public long CleanEvictSteps;

    /// <summary>
    /// Makes room for <paramref name="need"/> bytes by dropping clean idle buffers, oldest first,
    /// looking at no more than <see cref="CleanEvictScan"/> of them; false if it cannot.
    /// </summary>
    private bool EvictCleanLocked(int need)
    {
        Buf? b = _lruHead;
        for (int seen = 0; _bytes + need > MaxBytes && b != null && seen < CleanEvictScan; seen++)
        {
            CleanEvictSteps++;
            Buf? next = b.LruNext;
            if (!b.Dirty)
            {
                LruRemove(b);
                Forget(b);
                KeepData(b.Data);
            }
            b = next;
        }
        return _bytes + need <= MaxBytes;
    }

    private enum Evicted { Done, LockDropped, WriteFailed }

    /// <summary>
    /// Makes room for <paramref name="need"/> bytes by dropping idle buffers, oldest first. A dirty
    /// one is written first, without the lock: then it returns at once (LockDropped, or WriteFailed
    /// if the victim had to stay), as the caller's view of the cache is stale.
    /// </summary>
    private Evicted EvictLocked(int need)
    {
        while (_bytes + need > MaxBytes && _lruHead != null)
        {
            Buf victim = _lruHead;
            LruRemove(victim);
            if (victim.Dirty)
            {
                victim.Busy = true;
                // Its dirty neighbours go in the same transfer (one per cluster, not per block).
                List<Buf> run = TakeDirtyClusterLocked(victim);
                _lock.Exit();
                int e = WriteRun(run, 0, run.Count);
                _lock.Enter();
                foreach (Buf b in run) b.Busy = false;
                _cv.Broadcast();
                // Could not write them: keep them (over the bound). Written: the victim goes, and a
                // waiter for its block reads it again; the neighbours stay, clean, first in line for
                // eviction (still found if used again before). The caller starts again either way.
                if (e != 0)
                {
                    foreach (Buf b in run) LruAppend(b);
                    return Evicted.WriteFailed;
                }
                for (int j = run.Count - 1; j >= 0; j--)
                    if (run[j] != victim) LruPrepend(run[j]);
                Forget(victim);
                KeepData(victim.Data);
                return Evicted.LockDropped;
            }
            Forget(victim);
            KeepData(victim.Data);
        }
        // Nothing idle left, but write-behind transfers will make their buffers idle and clean:
        // wait for one rather than grow past the bound.
        if (_bytes + need > MaxBytes && _asyncInFlight > 0)
        {
            _cv.Wait(_lock);
            return Evicted.LockDropped;
        }
        return Evicted.Done;
    }
}

/// <summary>
/// A synchronous transfer: start it and sleep (without a virtual CPU) until it completes. The
/// waiters are reused through their device's pool: their kernel mutex and condition variable own
/// host objects that cannot be freed safely while a completing thread may still be signalling, so
/// recycling them (a late signal is harmless) bounds them by the number of concurrent waiters.
/// </summary>
internal sealed class BioWait : BioCompletion
{
    internal BioWait? Next;

    private BioWait(Kernel k) : base(k) { }

    public static unsafe int Run(Kernel k, BlockDevice dev, bool write, byte* data, int length, long offset)
    {
        if (dev.TransferNow(write, data, length, offset, out int now)) return now;   // a host file: on this thread
        BioWait w = dev.TakeWaiter() ?? new BioWait(k);
        w.Arm();
        dev.Strategy(write, data, length, offset, w);
        int error = w.WaitDone(length);
        dev.ReturnWaiter(w);
        return error;
    }
}
