using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The name cache (NetBSD namecache(9)): directory + name → vnode, with negative entries for
/// names known not to exist. It holds no vnode references; entries are purged by the VFS when a
/// name is removed, renamed or created, and when a mount goes away.
///
/// A lookup that misses asks the file system without the cache lock held; to not insert a result
/// that a concurrent removal has already made stale, <see cref="Enter"/> only inserts if the
/// generation it read before asking is still current (every purge advances it).
/// <see cref="_lock"/> protects every directory's <see cref="Vnode.Children"/> and the generation.
/// </summary>
public sealed class NameCache
{
    private readonly KMutex _lock;
    private long _gen;
    /// <summary>Largest number of entries one directory caches before the cache for it is dropped.</summary>
    private const int MaxPerDir = 4096;
    public long Hits, Misses;

    internal NameCache(Kernel k) { _lock = new KMutex(k); }

    /// <summary>
    /// Looks <paramref name="name"/> up in <paramref name="dvp"/>. Returns true on a hit with
    /// <paramref name="vp"/> referenced (null for a negative hit); false on a miss, with the
    /// generation to pass to <see cref="Enter"/>.
    /// </summary>
    public bool Lookup(Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp, out long gen)
    {
        _lock.Enter();
        gen = _gen;
        if (dvp.Children != null && dvp.Children.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out vp))
        {
            vp?.Ref();
            Hits++;
            _lock.Exit();
            return true;
        }
        Misses++;
        _lock.Exit();
        vp = null;
        return false;
    }

    public void Enter(Vnode dvp, ReadOnlySpan<char> name, Vnode? vp, long gen)
    {
        _lock.Enter();
        if (gen == _gen)
        {
            var c = dvp.Children ??= new Dictionary<string, Vnode?>();
            if (c.Count >= MaxPerDir) c.Clear();
            c[name.ToString()] = vp;
        }
        _lock.Exit();
    }

    /// <summary>Forgets <paramref name="name"/> in <paramref name="dvp"/>.</summary>
    public void Purge(Vnode dvp, string name)
    {
        _lock.Enter();
        _gen++;
        dvp.Children?.Remove(name);
        _lock.Exit();
    }

    /// <summary>Forgets everything cached in <paramref name="dvp"/>.</summary>
    public void PurgeDir(Vnode dvp)
    {
        _lock.Enter();
        _gen++;
        dvp.Children = null;
        _lock.Exit();
    }

    /// <summary>Forgets every entry that names a vnode of <paramref name="mp"/> or lives in one of its directories.</summary>
    public void PurgeMount(Mount mp)
    {
        _lock.Enter();
        _gen++;
        PurgeMountLocked(mp, mp.Root, 0);
        _lock.Exit();
    }

    private static void PurgeMountLocked(Mount mp, Vnode dvp, int depth)
    {
        // Entries naming this mount's vnodes live only in its own directories: namei crosses into
        // a mount after the lookup, so the parent file system caches the covered vnode instead.
        var c = dvp.Children;
        if (c == null || depth > 256) return;
        dvp.Children = null;
        foreach (Vnode? v in c.Values)
            if (v != null && v.Mount == mp && v.Type == VType.VDIR)
                PurgeMountLocked(mp, v, depth + 1);
    }
}
