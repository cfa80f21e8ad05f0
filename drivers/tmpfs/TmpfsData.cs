using System;
using System.Collections.Generic;

namespace Rump.Fs.Tmpfs;

/// <summary>
/// A regular file's contents: 4 KiB pages from Kmem, indexed by page number. Sparse: a page that was
/// never written is absent and reads as zeros. Pages below <see cref="DirectPages"/> (256 MiB) sit
/// in an array that grows by doubling, so the common file costs one array index per page; pages
/// further out (sparse files of any size up to <see cref="TmpfsMount.MaxFileSize"/>) go in a
/// dictionary. Pages past EOF are kept zero: truncation frees whole pages beyond the new size and
/// clears the tail of the last one, so extending a file exposes only zeros.
/// All of it is protected by the node's lock (shared to read, exclusive to change).
/// </summary>
internal sealed class TmpfsData
{
    private const long DirectPages = 1L << 16;

    private byte[]?[] _direct = Array.Empty<byte[]?>();
    /// <summary>One past the highest direct page that may be allocated (bounds the truncate scan).</summary>
    private int _directHigh;
    private Dictionary<long, byte[]>? _far;

    /// <summary>Pages allocated (st_blocks).</summary>
    public long Pages { get; private set; }

    public byte[]? Get(long idx)
    {
        if (idx < _direct.Length) return _direct[idx];
        if (_far != null && _far.TryGetValue(idx, out byte[]? p)) return p;
        return null;
    }

    /// <summary>The page at <paramref name="idx"/>, allocating a zeroed one; null when out of space (ENOSPC).</summary>
    public byte[]? GetOrAlloc(long idx, TmpfsMount tm)
    {
        byte[]? p = Get(idx);
        return p ?? AllocSlow(idx, tm);
    }

    private byte[]? AllocSlow(long idx, TmpfsMount tm)
    {
        byte[]? p = tm.AllocPage();
        if (p == null) return null;
        if (idx < DirectPages)
        {
            if (idx >= _direct.Length)
            {
                long n = Math.Max(Math.Max(idx + 1, _direct.Length * 2L), 4);
                Array.Resize(ref _direct, (int)Math.Min(n, DirectPages));
            }
            _direct[idx] = p;
            if (idx >= _directHigh) _directHigh = (int)idx + 1;
        }
        else
        {
            (_far ??= new Dictionary<long, byte[]>())[idx] = p;
        }
        Pages++;
        return p;
    }

    /// <summary>Frees the pages wholly past <paramref name="newSize"/> and zeroes the rest of the last page.</summary>
    public void Truncate(long newSize, TmpfsMount tm)
    {
        long keep = (newSize + TmpfsMount.PageSize - 1) >> TmpfsMount.PageShift;
        for (long i = keep; i < _directHigh; i++)
        {
            byte[]? p = _direct[i];
            if (p == null) continue;
            _direct[i] = null;
            tm.FreePage(p);
            Pages--;
        }
        if (keep < _directHigh) _directHigh = (int)keep;
        if (_far != null)
        {
            // Removing during enumeration is allowed for Dictionary (it does not invalidate the enumerator).
            foreach (KeyValuePair<long, byte[]> kv in _far)
            {
                if (kv.Key < keep) continue;
                _far.Remove(kv.Key);
                tm.FreePage(kv.Value);
                Pages--;
            }
        }
        int tail = (int)(newSize & (TmpfsMount.PageSize - 1));
        if (tail != 0)
        {
            byte[]? last = Get(newSize >> TmpfsMount.PageShift);
            if (last != null) Array.Clear(last, tail, TmpfsMount.PageSize - tail);
        }
        // An emptied file gives back a large page table; a small one is kept for the next write.
        if (newSize == 0) { if (_direct.Length > 64) _direct = Array.Empty<byte[]?>(); _far = null; }
    }

    public void FreeAll(TmpfsMount tm) => Truncate(0, tm);
}
