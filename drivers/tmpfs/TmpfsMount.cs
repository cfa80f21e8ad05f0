using System.Diagnostics;
using System.Threading;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Tmpfs;

/// <summary>
/// One mounted tmpfs (NetBSD struct tmpfs_mount): limits, page and node accounting, the namespace
/// lock and the table of every node.
///
/// Locks, in the order they are taken:
///   1. <see cref="NsLock"/> (rwlock, one per mount): the namespace. Every directory's entries, every
///      node's link count, a directory's parent, the node table and each node's <see cref="TmpfsNode.Vnode"/>.
///      Lookup, readdir and vnode loading take it shared; create, remove, link, rename, reclaim and
///      unmount exclusive. Read and write never take it.
///   2. <see cref="TmpfsNode.Lock"/> (rwlock, one per node): the node's attributes (mode, owners,
///      flags, size, times) and its contents (file pages, symlink target). Read and getattr take it
///      shared, write and setattr exclusive. At most one node lock is held at a time.
///   3. <see cref="TmpfsNode.TimeLock"/> (mutex, one per node): the access time while the node lock is
///      only held shared (concurrent readers all update it). Under the exclusive node lock it is not needed.
///   Kmem's accounting is lock-free and is used under any of them. The vnode cache is called with
///   none of them held (its loads and reclaims take NsLock).
///
/// References and lifetime (NetBSD tmpfs): a node lives while it has a name (its link count) or a
/// vnode. Vnodes are the vnode cache's, keyed by node number: lookup finds the node under the
/// namespace lock, lets go of it, and asks the cache, whose load attaches the vnode
/// (<see cref="TmpfsNode.Vnode"/>) if the node still exists. A node is freed — pages back to
/// Kmem, its node count released, out of the table — by whoever sees it with neither under the
/// exclusive namespace lock: VOP_RECLAIM after the last release of a removed file (VOP_INACTIVE
/// asks for that as soon as the link count is 0), or the removal itself when no vnode is attached.
/// Unmount frees every node left.
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
    /// <summary>Every live node by id: vnodes are loaded by id. Under <see cref="NsLock"/> (changed exclusive).</summary>
    private readonly System.Collections.Generic.Dictionary<ulong, TmpfsNode> _nodes = new();

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
    /// A new node, without a name yet (link count 0), counted against the node limit and put in the
    /// table, or null (ENOSPC). Precondition: <see cref="NsLock"/> held exclusive.
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
        _nodes.Add(id, n);
        return n;
    }

    /// <summary>The live node numbered <paramref name="id"/>, or null. Precondition: <see cref="NsLock"/> held.</summary>
    public TmpfsNode? FindLocked(ulong id) => _nodes.TryGetValue(id, out TmpfsNode? n) ? n : null;

    /// <summary>
    /// Frees a node's contents and releases its count. Precondition: <see cref="NsLock"/> held
    /// exclusive, and the node has no name and no vnode (or the mount is going away).
    /// </summary>
    public void FreeNodeLocked(TmpfsNode n)
    {
        Debug.Assert(NsLock.WriteHeld);
        if (!_nodes.Remove(n.Id)) return;
        n.Lock.EnterWrite();
        n.Data?.FreeAll(this);
        n.Size = 0;
        n.Lock.Exit();
        if (n.Dir != null) n.Dir.Clear();
        n.Parent = null;
        Interlocked.Decrement(ref _nodesUsed);
    }

    /// <summary>Frees a node nothing keeps any more. Precondition: <see cref="NsLock"/> held exclusive.</summary>
    public void FreeIfUnusedLocked(TmpfsNode n)
    {
        if (n.Nlink == 0 && n.Vnode == null) FreeNodeLocked(n);
    }

    /// <summary>Frees every node: unmount, after the VFS reclaimed the vnodes. Precondition: <see cref="NsLock"/> held exclusive.</summary>
    public void FreeAllLocked()
    {
        foreach (TmpfsNode n in new System.Collections.Generic.List<TmpfsNode>(_nodes.Values)) FreeNodeLocked(n);
    }
}
