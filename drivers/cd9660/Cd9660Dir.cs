using System;
using System.Collections.Generic;
using Rump.Vfs;

namespace Rump.Fs.Cd9660;

/// <summary>One name in a directory, as readdir and lookup show it.</summary>
internal sealed class IsoEntry
{
    public readonly string Name;
    /// <summary>readdir position: the record's byte offset in the directory plus 2 ("." is 0, ".." 1), stable across mounts.</summary>
    public readonly long Cookie;
    public readonly ulong Ino;
    public readonly VType Type;
    /// <summary>The attributes; null for a Rock Ridge child link (CL), whose are read from the relocated directory on lookup.</summary>
    public readonly IsoAttr? Attr;
    /// <summary>CL: where the relocated directory is.</summary>
    public readonly uint RelocatedLbn;

    public IsoEntry(string name, long cookie, ulong ino, VType type, IsoAttr? attr, uint relocatedLbn)
    {
        Name = name; Cookie = cookie; Ino = ino; Type = type; Attr = attr; RelocatedLbn = relocatedLbn;
    }
}

/// <summary>
/// A parsed directory, immutable once built: entries in record order (so sorted by cookie) for
/// readdir, and a name index for lookup that takes the name as a span without allocating.
/// Duplicate names (hostile images) resolve to the first.
/// </summary>
internal sealed class IsoDir
{
    public const long FirstCookie = 2;

    public readonly IsoEntry[] Entries;
    /// <summary>The parent's extent, from ".." (or Rock Ridge PL for a relocated directory).</summary>
    public readonly uint ParentLbn;
    private readonly Dictionary<string, int> _byName;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _bySpan;

    public IsoDir(IsoEntry[] entries, uint parentLbn)
    {
        Entries = entries;
        ParentLbn = parentLbn;
        _byName = new Dictionary<string, int>(entries.Length, StringComparer.Ordinal);
        for (int i = 0; i < entries.Length; i++) _byName.TryAdd(entries[i].Name, i);
        _bySpan = _byName.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => Entries.Length;

    public IsoEntry? Lookup(ReadOnlySpan<char> name) => _bySpan.TryGetValue(name, out int i) ? Entries[i] : null;

    /// <summary>Index of the first entry whose cookie is at least <paramref name="cookie"/>.</summary>
    public int Seek(long cookie)
    {
        int lo = 0, hi = Entries.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Entries[mid].Cookie < cookie) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
