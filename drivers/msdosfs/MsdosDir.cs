using System;
using System.Collections.Generic;
using Rump.Fs.Msdosfs.Wire;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// One name in a directory: where its slots are, its names and its short entry. Owned by the
/// directory's <see cref="MsdosDir"/>; a file's node points at its entry, which holds the file's
/// attributes, so there is one copy of them. A removed entry keeps its data for the open node.
/// </summary>
internal sealed class MsdosDirent
{
    /// <summary>The name readdir shows, in the VFS form (UTF-8 bytes one per char).</summary>
    public string Name = "";
    /// <summary>Folded UTF-16 of the name shown (the long name if there is one).</summary>
    public string Key = "";
    /// <summary>Folded UTF-16 of the 8.3 alias when a long name exists (it finds the file too).</summary>
    public string? AliasKey;
    /// <summary>The stored 8.3 name as 11 chars (for alias collisions).</summary>
    public string Short11 = "";
    /// <summary>Slot of the short entry, and of the first long-name slot (equal without one).</summary>
    public int Slot, FirstSlot;
    public DirEntry De;
    public ulong Id;
    public bool Removed;
    /// <summary>The directory node whose parsed entries hold this one.</summary>
    public MsdosNode Owner = null!;

    /// <summary>readdir position of this entry ("." is 0, ".." 1).</summary>
    public long Cookie => Slot + 2L;
}

/// <summary>
/// The parsed contents of one directory, loaded whole the first time it is used and then kept
/// in step with every change written to disk: the entries in slot order (readdir seeks cookies
/// by binary search), an index by folded name (lookups are case-insensitive, as on FAT), the set
/// of 8.3 names in use (alias generation) and which slots are taken (finding room for new names).
/// Slots at or after <see cref="End"/> — the first never-used slot — are all free.
/// Precondition for every method: the mount's lock is held.
/// </summary>
internal sealed class MsdosDir
{
    /// <summary>The FAT specification caps a directory at 65536 entries (2 MiB).</summary>
    public const int MaxSlots = 65536;

    private readonly List<MsdosDirent> _entries = new();
    private readonly Dictionary<string, MsdosDirent> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MsdosDirent>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly HashSet<string> _shorts = new(StringComparer.Ordinal);
    private bool[] _used;
    private int _freeBelowEnd;

    /// <summary>Slots the directory has room for now.</summary>
    public int Capacity { get; private set; }
    public int End { get; private set; }
    /// <summary>Slot of the ".." entry of a subdirectory (-1: none found).</summary>
    public int DotDotSlot = -1;
    /// <summary>Counter for hash-based aliases, so a crowded directory does not retry from ~1 each time.</summary>
    public int AliasSeq;

    public MsdosDir(int capacity)
    {
        Capacity = capacity;
        _used = new bool[capacity];
        _bySpan = _byKey.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _entries.Count;
    public MsdosDirent this[int i] => _entries[i];

    public MsdosDirent? Lookup(ReadOnlySpan<char> foldedKey) => _bySpan.TryGetValue(foldedKey, out MsdosDirent? d) ? d : null;

    public bool ShortNameTaken(ReadOnlySpan<byte> name11)
    {
        Span<char> k = stackalloc char[11];
        for (int i = 0; i < 11; i++) k[i] = (char)name11[i];
        return _shorts.GetAlternateLookup<ReadOnlySpan<char>>().Contains(k);
    }

    /// <summary>Marks slots used while loading (long-name slots, labels, "." and ".."), which carry no entry.</summary>
    public void MarkLoaded(int slot) => _used[slot] = true;

    /// <summary>Sets the end while loading; everything before it that is not marked used is a free (deleted) slot.</summary>
    public void SetLoadedEnd(int end)
    {
        End = end;
        _freeBelowEnd = 0;
        for (int i = 0; i < end; i++) if (!_used[i]) _freeBelowEnd++;
    }

    /// <summary>Adds an entry whose slots are taken; the entry list stays in slot order.</summary>
    public void Add(MsdosDirent d)
    {
        for (int s = d.FirstSlot; s <= d.Slot; s++) Use(s);
        int i = _entries.Count;
        if (i > 0 && _entries[i - 1].Slot > d.Slot) i = SeekIndex(d.Cookie);
        _entries.Insert(i, d);
        _byKey.TryAdd(d.Key, d);
        if (d.AliasKey != null) _byKey.TryAdd(d.AliasKey, d);
        _shorts.Add(d.Short11);
    }

    private void Use(int s)
    {
        if (_used[s]) return;
        _used[s] = true;
        if (s < End) _freeBelowEnd--;
        else
        {
            // Slots skipped between the old end and this one become deleted-free slots.
            _freeBelowEnd += s - End;
            End = s + 1;
        }
    }

    public void Remove(MsdosDirent d)
    {
        int i = SeekIndex(d.Cookie);
        if (i < _entries.Count && _entries[i] == d) _entries.RemoveAt(i);
        if (_byKey.TryGetValue(d.Key, out MsdosDirent? k) && k == d) _byKey.Remove(d.Key);
        if (d.AliasKey != null && _byKey.TryGetValue(d.AliasKey, out k) && k == d) _byKey.Remove(d.AliasKey);
        _shorts.Remove(d.Short11);
        for (int s = d.FirstSlot; s <= d.Slot; s++)
        {
            if (!_used[s]) continue;
            _used[s] = false;
            _freeBelowEnd++;
        }
        d.Removed = true;
    }

    /// <summary>Index of the first entry whose cookie is at least <paramref name="cookie"/>.</summary>
    public int SeekIndex(long cookie)
    {
        int lo = 0, hi = _entries.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_entries[mid].Cookie < cookie) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// First run of <paramref name="n"/> free slots within the capacity, or -1; then
    /// <paramref name="tailStart"/> is where the free run reaching the end of the directory starts
    /// (the directory must grow to hold tailStart + n slots).
    /// </summary>
    public int FindFree(int n, out int tailStart)
    {
        tailStart = -1;
        int i = _freeBelowEnd == 0 ? End : 0;
        int run = 0;
        for (; i < Capacity; i++)
        {
            if (i >= End) { run += Capacity - i; i = Capacity; break; }
            if (_used[i]) { run = 0; continue; }
            if (++run == n) return i - n + 1;
        }
        tailStart = Capacity - run;
        if (run >= n) return tailStart;
        return -1;
    }

    public int FindFree(int n) => FindFree(n, out _);

    public void Grow(int newCapacity)
    {
        if (newCapacity <= Capacity) return;
        Array.Resize(ref _used, newCapacity);
        Capacity = newCapacity;
    }
}
