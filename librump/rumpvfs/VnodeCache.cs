using System.Collections.Generic;
using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The vnode cache (NetBSD vcache, sys/kern/vfs_vnode.c): the one place vnodes are made, found and
/// destroyed. Each is keyed by (mount, the file system's key — an inode or node number), so a file
/// has at most one vnode, and a file system keeps no vnode table of its own.
///
/// States (<see cref="VState"/>): a vnode enters the cache Loading (the file system's
/// VFS_LOADVNODE fills it; <see cref="New"/>'s VFS_NEWVNODE for a file being created) and becomes
/// Loaded, or is dropped if loading fails. A Loaded vnode is referenced or not; unreferenced ones
/// stay cached on an LRU list for reuse. It becomes Reclaiming when claimed for reclaim — by the
/// last release of a file the file system wants recycled (removed files), by the LRU bound
/// (<see cref="MaxFree"/>), or by an unmount (<see cref="Flush"/>) — then VOP_RECLAIM frees the
/// file system's node and it is Reclaimed: out of the cache. Lookups of a key that is Loading or
/// Reclaiming wait and look again (and so load a fresh vnode after a reclaim); so do lookups of a
/// key a VFS_NEWVNODE has chosen and <see cref="New"/> has not yet put in the cache (reserved in
/// <see cref="Mount.Creating"/>): a file half made must not be loaded.
///
/// Locks: <see cref="_lock"/> (one per kernel) protects the per-mount tables
/// (<see cref="Mount.Vnodes"/>, <see cref="Mount.Creating"/>), the states, the LRU lists and their counts. It is the innermost
/// lock: nothing is taken under it, and it is never held across a file-system call. File systems
/// call <see cref="Get"/> and <see cref="New"/> with none of their locks held that their
/// LoadVnode or Reclaim take (a Get may wait for a reclaim to finish). The use count is changed
/// without the lock (see <see cref="Vnode"/>): atomically above zero, and from zero only through
/// the gate, which this lock's holder closes to claim a vnode.
///
/// LRU: every Loaded vnode is on the active or the free list. The last release of a vnode that
/// is not on the free list moves it there (under the lock); one that is already there — released
/// again after a lock-free reference — just gets its second-chance bit set, so a stat of an
/// unreferenced file takes no lock here. References taken through the gate leave a vnode on the
/// free list; the cleaner moves those it meets to the active list. While the free list is longer
/// than <see cref="MaxFree"/>, every last release reclaims from its head.
/// </summary>
public sealed class VnodeCache
{
    private const byte ListNone = 0, ListActive = 1, ListFree = 2;
    /// <summary>Vnodes looked at per cleaning pass (bounds the time under the lock).</summary>
    private const int CleanScan = 64;

    private readonly Vfs _vfs;
    private readonly KMutex _lock;
    private readonly KCondvar _cv;
    private Vnode? _activeHead, _activeTail, _freeHead, _freeTail;
    private int _freeLen;
    private int _count;
    private long _reclaims;

    internal VnodeCache(Vfs vfs)
    {
        _vfs = vfs;
        _lock = new KMutex(vfs.Kernel);
        _cv = new KCondvar(vfs.Kernel);
    }

    /// <summary>Most unreferenced vnodes kept cached (NetBSD's desiredvnodes, for the unreferenced part).</summary>
    public int MaxFree { get; set; } = 16384;

    /// <summary>Vnodes in the cache (any state but Reclaimed).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Vnodes on the free list (unreferenced, or referenced since they were put there).</summary>
    public int FreeCount => Volatile.Read(ref _freeLen);

    /// <summary>Threads waiting for a key to settle (tests: "the lookup is waiting").</summary>
    internal int Waiters => _cv.Waiters;

    /// <summary>Vnodes reclaimed so far (a counter for tests and statistics).</summary>
    public long Reclaims => Volatile.Read(ref _reclaims);

    // ---- Finding and loading ------------------------------------------------------------------

    /// <summary>
    /// The referenced vnode of <paramref name="key"/> on <paramref name="mp"/> (NetBSD vcache_get):
    /// the cached one, or a new one the file system loads (VFS_LOADVNODE with
    /// <paramref name="hint"/>, what the caller already knows of the file, or null). Waits while
    /// the key is being loaded or reclaimed. Errors are the loader's (ENOENT: no such file now).
    /// </summary>
    public int Get(Mount mp, ulong key, object? hint, out Vnode? vp)
    {
        vp = null;
        Vnode v;
        _lock.Enter();
        while (true)
        {
            if (mp.Vnodes.TryGetValue(key, out Vnode? cur))
            {
                if (cur.State == VState.Loaded && cur.TryRef()) { _lock.Exit(); vp = cur; return 0; }
                // Loading, or claimed for reclaim: wait until it settles, then look again.
                _cv.Wait(_lock);
                continue;
            }
            // Being created: the file is allocated but not finished, and loading it now would read
            // a half-made inode (ext2fs: one with no links yet, which it rightly calls corrupt).
            if (mp.Creating.ContainsKey(key)) { _cv.Wait(_lock); continue; }
            if (mp.Gone) { _lock.Exit(); return Abi.ENOENT; }
            v = new Vnode(mp, key);
            mp.Vnodes.Add(key, v);
            _count++;
            break;
        }
        _lock.Exit();
        int e = mp.Ops.LoadVnode(mp, v, key, hint);
        return Loaded(v, e, out vp);
    }

    /// <summary>
    /// A vnode for a file being created (NetBSD vcache_new): <paramref name="init"/> (VFS_NEWVNODE)
    /// allocates the file, fills the vnode and sets its key; the vnode enters the cache Loaded and
    /// referenced, before any name refers to the file. Waits while an old vnode of the same key
    /// (a freed and reused inode) is still being reclaimed.
    /// </summary>
    public int New(Mount mp, System.Func<Vnode, int> init, out Vnode? vp)
    {
        vp = null;
        var v = new Vnode(mp, 0) { IsNew = true };
        int e = init(v);
        v.IsNew = false;
        _lock.Enter();
        if (e == 0) while (mp.Vnodes.ContainsKey(v.Key)) _cv.Wait(_lock);
        if (e != 0 || mp.Gone)
        {
            Unreserve(v);
            _cv.Broadcast();
            _lock.Exit();
            if (e != 0) return e;
            v.Kill();
            return Abi.ENOENT;
        }
        mp.Vnodes.Add(v.Key, v);
        Unreserve(v);
        _count++;
        _lock.Exit();
        return Loaded(v, 0, out vp);
    }

    /// <summary>
    /// Called by <see cref="Vnode.InitNew"/> as a file system's VFS_NEWVNODE chooses the key, under
    /// that file system's lock, so that no <see cref="Get"/> of the key loads the file between its
    /// allocation and <see cref="New"/> putting the vnode in the cache: such a Get waits instead.
    /// </summary>
    internal void Reserve(Vnode v)
    {
        _lock.Enter();
        Dictionary<ulong, int> c = v.Mount.Creating;
        c[v.Key] = c.GetValueOrDefault(v.Key) + 1;
        v.Reserved = true;
        _lock.Exit();
    }

    /// <summary>Ends <paramref name="v"/>'s reservation. Precondition: lock held; the caller wakes the waiters.</summary>
    private static void Unreserve(Vnode v)
    {
        if (!v.Reserved) return;
        v.Reserved = false;
        Dictionary<ulong, int> c = v.Mount.Creating;
        int n = c[v.Key] - 1;
        if (n == 0) c.Remove(v.Key); else c[v.Key] = n;
    }

    private int Loaded(Vnode v, int e, out Vnode? vp)
    {
        _lock.Enter();
        if (e != 0)
        {
            Unhash(v);
            v.State = VState.Reclaimed;
            v._use = 0;
            _cv.Broadcast();
            _lock.Exit();
            vp = null;
            return e;
        }
        v.State = VState.Loaded;
        Volatile.Write(ref v._use, Vnode.Gate | 1);
        Append(ListActive, v);
        _cv.Broadcast();
        _lock.Exit();
        vp = v;
        return 0;
    }

    /// <summary>Takes <paramref name="v"/> out of its mount's table. Precondition: lock held.</summary>
    private void Unhash(Vnode v)
    {
        if (v.Mount.Vnodes.TryGetValue(v.Key, out Vnode? cur) && cur == v)
        {
            v.Mount.Vnodes.Remove(v.Key);
            _count--;
        }
    }

    /// <summary>Every Loaded vnode of <paramref name="mp"/> (unreferenced; for a file system's sync walk, which holds the locks its Reclaim takes).</summary>
    public List<Vnode> Snapshot(Mount mp)
    {
        _lock.Enter();
        var l = new List<Vnode>(mp.Vnodes.Count);
        foreach (Vnode v in mp.Vnodes.Values)
            if (v.State is VState.Loaded or VState.Reclaiming) l.Add(v);
        _lock.Exit();
        return l;
    }

    // ---- Releasing ----------------------------------------------------------------------------

    /// <summary>
    /// The last reference is being dropped (NetBSD vrelel). VOP_INACTIVE runs with it still held,
    /// so no one can reclaim the vnode meanwhile; then, unless someone took a reference through
    /// the gate in the meantime (whose release will do this again), the vnode is reclaimed if the
    /// file system asked for it, else it stays cached unreferenced.
    /// </summary>
    internal void ReleLast(Vnode v)
    {
        if (v.State != VState.Loaded)
        {
            // Dead (a forced unmount reclaimed it while referenced) or claimed by an unmount: just drop it.
            Interlocked.Decrement(ref v._use);
            return;
        }
        Mount mp = v.Mount;
        // VOP_INACTIVE is file-system code: it holds the mount busy. During an unmount it is
        // skipped (the vnode stays cached; the unmount reclaims it).
        Lwp? l = mp.IsRootFs ? null : _vfs.Kernel.CurlwpOrNull();
        bool recycle = false;
        try { recycle = mp.EnterInactive(l) && v.Ops.Inactive(v); }
        finally { mp.ExitInactive(l); }
        while (true)
        {
            int u = Volatile.Read(ref v._use);
            if ((u & Vnode.CountMask) > 1)
            {
                if (Interlocked.CompareExchange(ref v._use, u - 1, u) == u) return;
                continue;
            }
            if ((u & Vnode.Gate) == 0)
            {
                // An unmount claimed it meanwhile; it does the rest.
                Interlocked.Decrement(ref v._use);
                return;
            }
            if (recycle)
            {
                _lock.Enter();
                if (Interlocked.CompareExchange(ref v._use, 0, u) != u) { _lock.Exit(); continue; }
                v.State = VState.Reclaiming;
                Unlink(v);
                _lock.Exit();
                Reclaim(v);
                return;
            }
            if (Interlocked.CompareExchange(ref v._use, Vnode.Gate, u) != u) continue;
            break;
        }
        // Unreferenced now and still cached. Already on the free list (referenced through the gate
        // since): mark it used and take no lock, unless the list is over its bound.
        if (v.LruList == ListFree)
        {
            v.Recent = true;
            if (Volatile.Read(ref _freeLen) <= MaxFree) return;
        }
        Vnode? victims = null;
        _lock.Enter();
        if (v.State == VState.Loaded && v.LruList != ListFree)
        {
            Unlink(v);
            Append(ListFree, v);
        }
        if (_freeLen > MaxFree) victims = CollectLocked();
        _lock.Exit();
        ReclaimChain(victims);
    }

    /// <summary>
    /// Claims vnodes from the head of the free list until it is back within <see cref="MaxFree"/>:
    /// referenced ones move to the active list, recently used ones get a second chance, the rest
    /// have their gates closed and are returned chained for reclaiming. Precondition: lock held.
    /// </summary>
    private Vnode? CollectLocked()
    {
        Vnode? victims = null;
        Vnode? c = _freeHead;
        for (int scanned = 0; c != null && _freeLen > MaxFree && scanned < CleanScan; scanned++)
        {
            Vnode? next = c.LruNext;
            int u = Volatile.Read(ref c._use);
            if ((u & Vnode.CountMask) != 0)
            {
                Unlink(c);
                Append(ListActive, c);
            }
            else if (c.Recent)
            {
                c.Recent = false;
                Unlink(c);
                Append(ListFree, c);
            }
            else if (Interlocked.CompareExchange(ref c._use, 0, Vnode.Gate) == Vnode.Gate)
            {
                // An unmount in progress waits for this reclaim (the vnode is Reclaiming) before judging.
                c.State = VState.Reclaiming;
                Unlink(c);
                c.NextVictim = victims;
                victims = c;
            }
            c = next;
        }
        return victims;
    }

    /// <summary>
    /// VOP_RECLAIM, then out of the cache. Precondition: <paramref name="v"/> is Reclaiming (claimed
    /// by this thread), no lock held.
    /// </summary>
    private void Reclaim(Vnode v)
    {
        v.Ops.Reclaim(v);
        // Names cached in it go with it; entries naming it stay until replaced (its gate is closed).
        _vfs.Cache.PurgeChildren(v);
        v.Kill();
        _lock.Enter();
        Unhash(v);
        v.State = VState.Reclaimed;
        _reclaims++;
        _cv.Broadcast();
        _lock.Exit();
    }

    // ---- Unmount ------------------------------------------------------------------------------

    /// <summary>
    /// Reclaims every vnode of <paramref name="mp"/> (NetBSD vflush), the root included (the
    /// mount's own reference on it is expected). Unreferenced vnodes go first, round by round, so
    /// that nodes holding their parent directory (msdosfs) let go of it. Then, without
    /// <paramref name="force"/>: EBUSY if any other reference is left. With it, referenced vnodes
    /// are reclaimed too and become dead: their holders' operations fail. On success the mount
    /// loads no more vnodes (<see cref="Mount.Gone"/>). Precondition: the mount admits no new
    /// operations and none is in progress (<see cref="Mount.BeginUnmount"/>).
    /// </summary>
    public int Flush(Mount mp, bool force)
    {
        _lock.Enter();
        while (true)
        {
            Vnode? claimed = null;
            bool unsettled = false;
            foreach (Vnode v in mp.Vnodes.Values)
            {
                if (v.State != VState.Loaded) { unsettled = true; continue; }
                if (v == mp.Root) continue;
                if (Interlocked.CompareExchange(ref v._use, 0, Vnode.Gate) != Vnode.Gate) continue;
                v.State = VState.Reclaiming;
                Unlink(v);
                v.NextVictim = claimed;
                claimed = v;
            }
            if (claimed != null)
            {
                _lock.Exit();
                ReclaimChain(claimed);
                _lock.Enter();
                continue;
            }
            // A load or a reclaim by someone else: let it finish before judging.
            if (unsettled) { _cv.Wait(_lock); continue; }

            bool busy = false;
            foreach (Vnode v in mp.Vnodes.Values)
                if (v != mp.Root || (Volatile.Read(ref v._use) & Vnode.CountMask) > 1) busy = true;
            if (busy && !force) { _lock.Exit(); return Abi.EBUSY; }
            foreach (Vnode v in mp.Vnodes.Values)
            {
                // Closing the gate leaves the count: holders keep (dead) references.
                Interlocked.And(ref v._use, Vnode.CountMask);
                v.State = VState.Reclaiming;
                Unlink(v);
                v.NextVictim = claimed;
                claimed = v;
            }
            mp.Gone = true;
            _lock.Exit();
            ReclaimChain(claimed);
            return 0;
        }
    }

    private void ReclaimChain(Vnode? chain)
    {
        while (chain != null)
        {
            Vnode v = chain;
            chain = v.NextVictim;
            v.NextVictim = null;
            Reclaim(v);
        }
    }

    /// <summary>An unmount that flushed <paramref name="mp"/> failed afterwards: it may load vnodes again.</summary>
    public void Revive(Mount mp)
    {
        _lock.Enter();
        mp.Gone = false;
        _lock.Exit();
    }

    // ---- LRU lists (under the lock) -----------------------------------------------------------

    private void Append(byte list, Vnode v)
    {
        ref Vnode? head = ref list == ListFree ? ref _freeHead : ref _activeHead;
        ref Vnode? tail = ref list == ListFree ? ref _freeTail : ref _activeTail;
        v.LruList = list;
        v.LruPrev = tail;
        v.LruNext = null;
        if (tail != null) tail.LruNext = v; else head = v;
        tail = v;
        if (list == ListFree) _freeLen++;
    }

    private void Unlink(Vnode v)
    {
        if (v.LruList == ListNone) return;
        bool free = v.LruList == ListFree;
        ref Vnode? head = ref free ? ref _freeHead : ref _activeHead;
        ref Vnode? tail = ref free ? ref _freeTail : ref _activeTail;
        if (v.LruPrev != null) v.LruPrev.LruNext = v.LruNext; else head = v.LruNext;
        if (v.LruNext != null) v.LruNext.LruPrev = v.LruPrev; else tail = v.LruPrev;
        v.LruPrev = v.LruNext = null;
        v.LruList = ListNone;
        if (free) _freeLen--;
    }
}
