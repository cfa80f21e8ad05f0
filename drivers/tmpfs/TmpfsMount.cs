using System.Diagnostics;
using System.Threading;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Tmpfs;

/// <summary>
/// One mounted tmpfs (NetBSD struct tmpfs_mount): limits, page and node accounting, the namespace
/// lock and the list of every node.
///
/// Locks, in the order they are taken:
///   1. <see cref="NsLock"/> (rwlock, one per mount): the namespace. Every directory's entries, every
///      node's link count, a directory's parent, the all-nodes list and the Reclaimed flag. Lookup and
///      readdir take it shared; create, remove, link, rename, reclaim and unmount exclusive. Read and
///      write never take it.
///   2. <see cref="TmpfsNode.Lock"/> (rwlock, one per node): the node's attributes (mode, owners,
///      flags, size, times) and its contents (file pages, symlink target). Read and getattr take it
///      shared, write and setattr exclusive. At most one node lock is held at a time.
///   3. <see cref="TmpfsNode.TimeLock"/> (mutex, one per node): the access time while the node lock is
///      only held shared (concurrent readers all update it). Under the exclusive node lock it is not needed.
///   Kmem's accounting is lock-free and is used under any of them.
///
/// References: a node and its one vnode live and die together. Directory entries hold nodes (counted in
/// the link count); the VFS holds vnode references (<see cref="Vnode.UseCount"/>). A node is reclaimed —
/// its pages returned to Kmem, its node count released — by whoever sees link count 0 and use count 0
/// under the exclusive namespace lock: normally <see cref="TmpfsVnodeOps.Inactive"/> after the last close
/// of a removed file, or the removal itself when no vnode reference is held. A removed node cannot be
/// found again (no entry names it), so its use count does not rise from 0 again; <see cref="TmpfsNode.Reclaimed"/>
/// makes reclaim happen once even if a stale reference slips through. Lookup and create take the
/// vnode reference they return under the namespace lock, so a concurrent remove cannot reclaim it first.
/// </summary>
internal sealed class TmpfsMount
{
    public const int PageSize = 4096;
    public const int PageShift = 12;
    /// <summary>NetBSD LINK_MAX.</summary>
    public const int LinkMax = 32767;
    /// <summary>Largest file size; far beyond any memory, small enough that offsets never overflow.</summary>
    public const long MaxFileSize = 1L << 50;

    public readonly Mount Mp;
    public readonly Kernel Kernel;
    public readonly TmpfsVnodeOps Ops;
    public readonly KRwLock NsLock;

    /// <summary>Data page limit (long.MaxValue: none).</summary>
    public readonly long PagesMax;
    /// <summary>Node limit, root included (long.MaxValue: none).</summary>
    public readonly long NodesMax;
    private long _pagesUsed;
    private long _nodesUsed;

    /// <summary>Next node id; ids are never reused within a mount. Under <see cref="NsLock"/> exclusive.</summary>
    private ulong _nextId = 2;
    /// <summary>Every live (unreclaimed) node, for unmount. Under <see cref="NsLock"/> exclusive.</summary>
    private TmpfsNode? _allNodes;

    public TmpfsNode Root = null!;

    public TmpfsMount(Mount mp, TmpfsVnodeOps ops, long pagesMax, long nodesMax)
    {
        Mp = mp;
        Kernel = mp.Vfs.Kernel;
        Ops = ops;
        NsLock = new KRwLock(Kernel);
        PagesMax = pagesMax;
        NodesMax = nodesMax;
    }

    public long PagesUsed => Volatile.Read(ref _pagesUsed);
    public long NodesUsed => Volatile.Read(ref _nodesUsed);

    /// <summary>Should reads update the access time? Not on noatime or read-only mounts.</summary>
    public bool UpdateAtime => (Mp.Flags & (Abi.MNT_NOATIME | Abi.MNT_RDONLY)) == 0;

    /// <summary>One data page from Kmem within the mount's limit, or null (ENOSPC).</summary>
    public byte[]? AllocPage()
    {
        if (Interlocked.Increment(ref _pagesUsed) > PagesMax)
        {
            Interlocked.Decrement(ref _pagesUsed);
            return null;
        }
        byte[]? p = Kernel.Kmem.Alloc(PageSize);
        if (p == null) Interlocked.Decrement(ref _pagesUsed);
        return p;
    }

    public void FreePage(byte[] p)
    {
        Kernel.Kmem.Free(p, PageSize);
        Interlocked.Decrement(ref _pagesUsed);
    }

    /// <summary>
    /// A new node (with its vnode) counted against the node limit and put on the all-nodes list, or
    /// null (ENOSPC). Precondition: <see cref="NsLock"/> held exclusive.
    /// </summary>
    public TmpfsNode? AllocNodeLocked(VType type, uint mode, uint uid, uint gid, ulong rdev, in RumpTimespec now)
    {
        Debug.Assert(NsLock.WriteHeld);
        if (_nodesUsed >= NodesMax) return null;
        Interlocked.Increment(ref _nodesUsed);
        ulong id = _nextId++;
        // A generation number that differs between nodes, as NetBSD's random one does.
        uint gen = (uint)(id * 2654435761u) | 1;
        var n = new TmpfsNode(this, type, id, gen, mode, uid, gid, rdev, now);
        n.AllNext = _allNodes;
        if (_allNodes != null) _allNodes.AllPrev = n;
        _allNodes = n;
        return n;
    }

    /// <summary>
    /// Frees a node's contents and releases its count, once. Precondition: <see cref="NsLock"/> held
    /// exclusive, and the node is unlinked and unreferenced (or the mount is going away).
    /// </summary>
    public void ReclaimLocked(TmpfsNode n)
    {
        Debug.Assert(NsLock.WriteHeld);
        if (n.Reclaimed) return;
        n.Lock.EnterWrite();
        n.Reclaimed = true;
        n.Data?.FreeAll(this);
        n.Size = 0;
        n.Lock.Exit();
        if (n.Dir != null) n.Dir.Clear();
        n.Parent = null;
        if (n.AllPrev != null) n.AllPrev.AllNext = n.AllNext; else _allNodes = n.AllNext;
        if (n.AllNext != null) n.AllNext.AllPrev = n.AllPrev;
        n.AllPrev = n.AllNext = null;
        Interlocked.Decrement(ref _nodesUsed);
    }

    /// <summary>Reclaims every node: unmount. Precondition: <see cref="NsLock"/> held exclusive.</summary>
    public void ReclaimAllLocked()
    {
        while (_allNodes != null) ReclaimLocked(_allNodes);
    }
}
