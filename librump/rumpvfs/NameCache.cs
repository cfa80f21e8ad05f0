using System;
using System.Collections.Concurrent;
using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The name cache (NetBSD namecache(9)): directory + name → vnode, with negative entries for
/// names known not to exist. It holds no vnode references; entries are purged by the VFS when a
/// name is removed, renamed or created, and when a mount goes away. A hit takes its reference
/// through the vnode's gate (<see cref="Vnode.TryRef"/>): an entry naming a vnode that is being or
/// was reclaimed is a miss, and the fresh lookup that follows replaces it. A reclaimed directory's
/// own entries go with it (<see cref="PurgeChildren"/>).
///
/// Lookups take no lock (a concurrent dictionary per directory), so path walks on several CPUs do
/// not serialise here. Changes take <see cref="_lock"/>. A lookup that misses asks the file system
/// without any lock; so as not to insert a result that a concurrent removal has already made stale,
/// <see cref="Enter"/> inserts only if the generation read before asking is still current (every
/// purge advances it under the lock). Hit and miss counts are per CPU (NetBSD's nchstats).
/// </summary>
public sealed class NameCache
{
    private readonly Kernel _k;
    private readonly KMutex _lock;
    private long _gen;
    /// <summary>Largest number of entries one directory caches before the cache for it is dropped.</summary>
    private const int MaxPerDir = 4096;

    internal NameCache(Kernel k) { _k = k; _lock = new KMutex(k); }

    /// <summary>One directory's entries; <see cref="Count"/> is kept under the cache lock (the dictionary's own Count takes all its locks).</summary>
    internal sealed class Dir
    {
        public readonly ConcurrentDictionary<string, Vnode?> Map = new(StringComparer.Ordinal);
        public int Count;
    }

    public long Hits => Sum(hits: true);
    public long Misses => Sum(hits: false);

    private long Sum(bool hits)
    {
        long n = 0;
        for (int i = 0; i < _k.Sched.Ncpu; i++)
            n += hits ? _k.Sched.CpuAt(i).NcHits : _k.Sched.CpuAt(i).NcMisses;
        return n;
    }

    /// <summary>
    /// Looks <paramref name="name"/> up in <paramref name="dvp"/>. Returns true on a hit with
    /// <paramref name="vp"/> referenced (null for a negative hit); false on a miss, with the
    /// generation to pass to <see cref="Enter"/>.
    /// </summary>
    public bool Lookup(Lwp l, Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp, out long gen)
    {
        gen = Volatile.Read(ref _gen);
        int cpu = l.CpuIdx;
        Dir? d = Volatile.Read(ref dvp.Children);
        if (d != null && d.Map.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out vp)
            && (vp == null || vp.TryRef()))
        {
            if (cpu >= 0) _k.Sched.Slots[cpu].NcHits++;
            return true;
        }
        if (cpu >= 0) _k.Sched.Slots[cpu].NcMisses++;
        vp = null;
        return false;
    }

    public void Enter(Vnode dvp, ReadOnlySpan<char> name, Vnode? vp, long gen)
    {
        _lock.Enter();
        if (gen == _gen)
        {
            Dir? d = dvp.Children;
            if (d == null || d.Count >= MaxPerDir)
                Volatile.Write(ref dvp.Children, d = new Dir());
            string key = name.ToString();
            // An entry already there names a reclaimed vnode (a hit would have been taken): replace it.
            if (d.Map.TryAdd(key, vp)) d.Count++;
            else d.Map[key] = vp;
        }
        _lock.Exit();
    }

    /// <summary>Forgets <paramref name="name"/> in <paramref name="dvp"/>.</summary>
    public void Purge(Vnode dvp, string name)
    {
        _lock.Enter();
        _gen++;
        Dir? d = dvp.Children;
        if (d != null && d.Map.TryRemove(name, out _)) d.Count--;
        _lock.Exit();
    }

    /// <summary>Forgets everything cached in <paramref name="dvp"/>.</summary>
    public void PurgeDir(Vnode dvp)
    {
        _lock.Enter();
        _gen++;
        Volatile.Write(ref dvp.Children, null);
        _lock.Exit();
    }

    /// <summary>
    /// <paramref name="dvp"/> is being reclaimed: its entries go (nobody can be looking up in it,
    /// and they would keep reclaimed vnodes alive). No generation change is needed for that.
    /// </summary>
    internal void PurgeChildren(Vnode dvp)
    {
        if (Volatile.Read(ref dvp.Children) == null) return;
        _lock.Enter();
        Volatile.Write(ref dvp.Children, null);
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
        Dir? d = dvp.Children;
        if (d == null || depth > 256) return;
        Volatile.Write(ref dvp.Children, null);
        foreach (var kv in d.Map)
            if (kv.Value != null && kv.Value.Mount == mp && kv.Value.Type == VType.VDIR)
                PurgeMountLocked(mp, kv.Value, depth + 1);
    }
}
