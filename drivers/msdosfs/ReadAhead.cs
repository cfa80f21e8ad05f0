using System;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// Read-ahead on a file's direct read path: while the reader copies one run of contiguous
/// clusters out of its staging buffer (or returns to its caller), the next runs are already being
/// read from the device into windows of their own (<see cref="DirectRead"/>), up to
/// <see cref="Depth"/> of them in file order. A synchronous direct read is one device round trip
/// per MiB with the device idle during the copy; with windows queued the device always has the
/// next command.
///
/// Windows are dropped (waiting for their transfers) when the file is written or truncated, when
/// a read goes elsewhere than the oldest window, and when the node is reclaimed. A window whose
/// blocks were written through the cache meanwhile, whose clusters are no longer the file's, or
/// whose transfer failed is never served: the read falls back to the synchronous path, which
/// reads the device again (and reports its error).
/// Precondition for every method: the mount's lock is held (it protects all fields).
/// </summary>
internal sealed class ReadAhead
{
    /// <summary>Windows queued ahead of the reader at most.</summary>
    public const int Depth = 2;

    private readonly MsdosMount _m;
    /// <summary>Depth + 1 windows: the one being copied from stays held while the next ones start.</summary>
    private readonly DirectRead[] _objs = new DirectRead[Depth + 1];
    /// <summary>The queue, oldest first: indexes into <see cref="_objs"/>, and each window's first file cluster.</summary>
    private readonly int[] _q = new int[Depth];
    private readonly uint[] _qci = new uint[Depth];
    private int _count;

    public ReadAhead(MsdosMount m) { _m = m; }

    public bool Empty => _count == 0;

    /// <summary>
    /// Serves the read at <paramref name="uio"/>'s offset (file cluster <paramref name="ci"/>, at
    /// most <paramref name="want"/> bytes) from the oldest window if it covers that cluster:
    /// true and the error of the copy. False when it cannot (then every window is dropped).
    /// Reaching the end of the window starts the next one before the copy.
    /// </summary>
    public bool TryServe(ClusterMap map, ref Uio uio, uint ci, long want, long fileSize, out int error)
    {
        error = 0;
        if (_count == 0) return false;
        int csize = _m.ClusterBytes;
        DirectRead w = _objs[_q[0]];
        uint wci = _qci[0];
        uint wcl = (uint)(w.Length / csize);
        // A window is served only where the file's clusters still are the ones it read.
        if (ci < wci || ci - wci >= wcl || wci >= map.Count || map.RunFrom(wci) < wcl ||
            _m.ClusterBlk(map.Get(wci)) != w.Blkno || w.Wait() != 0 || !w.Fresh())
        {
            Drop();
            return false;
        }
        int from = (int)(uio.Offset - (long)wci * csize);
        int len = (int)Math.Min(want, w.Length - from);
        bool last = from + len == w.Length;
        if (last)
        {
            // Consumed: the queue moves on, and the next run starts before the copy.
            Pop();
            Fill(map, wci + wcl, fileSize);
        }
        error = uio.Move(w.Data.Slice(from, len));
        if (last) w.Release();
        return true;
    }

    /// <summary>
    /// Queues windows for the runs after the last queued one (or from file cluster
    /// <paramref name="from"/> when none is), up to <see cref="Depth"/>, stopping at the end of the
    /// file, at a run too short for the direct path, or when the cache has no room for a window.
    /// </summary>
    public void Fill(ClusterMap map, uint from, long fileSize)
    {
        int csize = _m.ClusterBytes;
        long fileClusters = (fileSize + csize - 1) / csize;
        while (_count < Depth)
        {
            uint next = _count == 0 ? from : _qci[_count - 1] + (uint)(_objs[_q[_count - 1]].Length / csize);
            if (next >= fileClusters || next >= map.Count) return;
            long run = Math.Min(map.RunFrom(next), Math.Min(fileClusters - next, BufCache.MaxUncached / csize));
            if (run * csize < MsdosVnodeOps.DirectMin) return;
            int slot = FreeSlot();
            if (slot < 0) return;
            _objs[slot] ??= new DirectRead(_m.Bc, _m.Kernel);
            if (!_objs[slot].Start(_m.Dev, _m.ClusterBlk(map.Get(next)), csize, (int)run * csize)) return;
            _q[_count] = slot;
            _qci[_count] = next;
            _count++;
        }
    }

    /// <summary>Drops every window (waiting for transfers in flight).</summary>
    public void Drop()
    {
        while (_count > 0)
        {
            DirectRead w = _objs[_q[0]];
            Pop();
            w.Release();
        }
    }

    private void Pop()
    {
        for (int i = 1; i < _count; i++) { _q[i - 1] = _q[i]; _qci[i - 1] = _qci[i]; }
        _count--;
    }

    private int FreeSlot()
    {
        for (int i = 0; i < _objs.Length; i++)
            if (_objs[i] == null || !_objs[i].Active) return i;
        return -1;
    }
}
