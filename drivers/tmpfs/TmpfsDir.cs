using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace Rump.Fs.Tmpfs;

/// <summary>One name in a directory. A removed entry is marked, never reused.</summary>
internal sealed class TmpfsDirent
{
    public readonly string Name;
    public readonly TmpfsNode Node;
    /// <summary>readdir position: stable while other entries come and go.</summary>
    public readonly long Cookie;
    public bool Removed;

    public TmpfsDirent(string name, TmpfsNode node, long cookie) { Name = name; Node = node; Cookie = cookie; }
}

/// <summary>
/// A directory's entries (NetBSD tmpfs_dir). Two views of the same set: by name, for O(1) lookups
/// that take the name as a span without allocating; and by cookie, for readdir. "." is cookie 0,
/// ".." cookie 1, entries get 2, 3, … in creation order, so the cookie array is sorted by
/// construction: appending is amortised O(1), seeking a cookie is a binary search. A removed entry
/// stays in the array, marked, until more than half of it is dead and it is compacted, which keeps
/// removal amortised O(1). All of it is protected by the mount's namespace lock.
/// </summary>
internal sealed class TmpfsDir
{
    public const long FirstCookie = 2;

    private readonly Dictionary<string, TmpfsDirent> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TmpfsDirent>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private TmpfsDirent[] _order = Array.Empty<TmpfsDirent>();
    private int _orderLen;
    private int _dead;
    private long _nextCookie = FirstCookie;
    /// <summary>Live entries; kept apart from the dictionary so getattr can read it without the lock.</summary>
    private int _count;

    public TmpfsDir() { _bySpan = _byName.GetAlternateLookup<ReadOnlySpan<char>>(); }

    /// <summary>Live entries, without "." and "..".</summary>
    public int Count => Volatile.Read(ref _count);

    public TmpfsDirent? Lookup(ReadOnlySpan<char> name) => _bySpan.TryGetValue(name, out TmpfsDirent? d) ? d : null;

    public TmpfsDirent Add(string name, TmpfsNode node)
    {
        var d = new TmpfsDirent(name, node, _nextCookie++);
        _byName.Add(name, d);
        if (_orderLen == _order.Length)
            Array.Resize(ref _order, Math.Max(8, _order.Length * 2));
        _order[_orderLen++] = d;
        Volatile.Write(ref _count, _count + 1);
        return d;
    }

    public void Remove(TmpfsDirent d)
    {
        Debug.Assert(!d.Removed && _byName.TryGetValue(d.Name, out TmpfsDirent? cur) && cur == d);
        _byName.Remove(d.Name);
        d.Removed = true;
        Volatile.Write(ref _count, _count - 1);
        _dead++;
        if (_dead > 16 && _dead * 2 > _orderLen) Compact();
    }

    /// <summary>Forgets every entry (unmount); returns what they cost (<see cref="TmpfsMount.EntryCost"/>).</summary>
    public long Clear()
    {
        long cost = 0;
        foreach (TmpfsDirent d in _byName.Values) cost += TmpfsMount.EntryCost(d.Name);
        _byName.Clear();
        _order = Array.Empty<TmpfsDirent>();
        _orderLen = 0;
        _dead = 0;
        Volatile.Write(ref _count, 0);
        return cost;
    }

    private void Compact()
    {
        int j = 0;
        for (int i = 0; i < _orderLen; i++)
            if (!_order[i].Removed) _order[j++] = _order[i];
        Array.Clear(_order, j, _orderLen - j);
        _orderLen = j;
        _dead = 0;
        // Give memory back after a directory has emptied out.
        if (_order.Length > 64 && _orderLen * 4 < _order.Length)
            Array.Resize(ref _order, Math.Max(8, _orderLen * 2));
    }

    /// <summary>Index of the first entry (live or not) whose cookie is at least <paramref name="cookie"/>.</summary>
    public int SeekIndex(long cookie)
    {
        int lo = 0, hi = _orderLen;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_order[mid].Cookie < cookie) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>The next live entry at or after index <paramref name="i"/>, which it advances past it; null at the end.</summary>
    public TmpfsDirent? NextLive(ref int i)
    {
        while (i < _orderLen)
        {
            TmpfsDirent d = _order[i++];
            if (!d.Removed) return d;
        }
        return null;
    }
}
