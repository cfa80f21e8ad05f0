using System;
using System.Diagnostics;
using System.Threading;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Tmpfs;

/// <summary>
/// One mounted tmpfs (NetBSD struct tmpfs_mount): limits, memory and node accounting, the
/// namespace lock and the table of every node.
///
/// Accounting (NetBSD tmpfs_mem.c): everything the file system keeps is charged in bytes to the
/// mount's size (<see cref="MemLimit"/>, from ta_size_max): data pages, and metadata — each node
/// (<see cref="NodeCost"/>), each directory entry with its name (<see cref="EntryCost"/>), symbolic
/// link targets. Metadata is also charged to the kernel's memory limit (RUMP_MEMLIMIT, through
/// <see cref="Vfs.ChargeMemory"/>; pages come from Kmem, which counts them), so an unlimited mount
/// — the root file system — still stops at the kernel's limit. Full is ENOSPC. The node limit
/// (<see cref="NodesMax"/>) is ta_nodes_max, or as NetBSD 3 + size/1024 when that is 3 or less.
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

    /// <summary>What a node costs: the object, its locks and its directory or page table (NetBSD charges sizeof(struct tmpfs_node)).</summary>
    public const int NodeCost = 384;
    /// <summary>A directory entry without its name: the entry and its slots in the name index and in readdir order.</summary>
    public const int DirentCost = 96;

    /// <summary>A name costs its chars (two bytes each in a .NET string) rounded up to NetBSD's 32-byte quantum.</summary>
    public static long NameCost(int chars) => (2L * chars + 31) & ~31L;

    /// <summary>What a directory entry named <paramref name="name"/> costs.</summary>
    public static long EntryCost(string name) => DirentCost + NameCost(name.Length);

    /// <summary>What a symbolic link's target costs (its bytes, rounded as names are).</summary>
    public static long TargetCost(int bytes) => (bytes + 31) & ~31L;

    /// <summary>Bytes the mount may hold, pages and metadata (long.MaxValue: no limit but the kernel's).</summary>
    public readonly long MemLimit;
    /// <summary>Node limit, root included.</summary>
    public readonly long NodesMax;
    private long _bytesUsed;
    private long _pagesUsed;
    private long _nodesUsed;
    private readonly Vfs.Vfs _vfs;

    /// <summary>Next node id; ids are never reused within a mount. Under <see cref="NsLock"/> exclusive.</summary>
    private ulong _nextId = 2;
    /// <summary>Every live node by id: vnodes are loaded by id. Under <see cref="NsLock"/> (changed exclusive).</summary>
    private readonly System.Collections.Generic.Dictionary<ulong, TmpfsNode> _nodes = new();

    public TmpfsNode Root = null!;

    public TmpfsMount(Mount mp, TmpfsVnodeOps ops, long memLimit, long nodesMax)
    {
        Mp = mp;
        Kernel = mp.Vfs.Kernel;
        _vfs = mp.Vfs;
        Ops = ops;
        NsLock = new KRwLock(Kernel);
        MemLimit = memLimit;
        NodesMax = nodesMax;
    }

    public long BytesUsed => Volatile.Read(ref _bytesUsed);
    public long PagesUsed => Volatile.Read(ref _pagesUsed);
    public long NodesUsed => Volatile.Read(ref _nodesUsed);

    /// <summary>
    /// What the mount may hold now (NetBSD tmpfs_bytes_max): its limit, or less when kernel memory
    /// runs out first.
    /// </summary>
    public long BytesMax
    {
        get
        {
            long kfree = _vfs.MemoryFree;
            long used = BytesUsed;
            long avail = kfree == long.MaxValue || used > long.MaxValue - kfree ? long.MaxValue : used + kfree;
            return Math.Min(MemLimit, avail);
        }
    }

    /// <summary>Charges <paramref name="bytes"/> of data to the mount's size; false (nothing charged) if it is full.</summary>
    private bool ChargeSize(long bytes)
    {
        if (Interlocked.Add(ref _bytesUsed, bytes) <= MemLimit) return true;
        Interlocked.Add(ref _bytesUsed, -bytes);
        return false;
    }

    /// <summary>Charges <paramref name="bytes"/> of metadata to the mount's size and to the kernel's memory; false (ENOSPC) if either is full.</summary>
    public bool ChargeMeta(long bytes)
    {
        if (!ChargeSize(bytes)) return false;
        if (_vfs.ChargeMemory(bytes)) return true;
        Interlocked.Add(ref _bytesUsed, -bytes);
        return false;
    }

    public void UnchargeMeta(long bytes)
    {
        _vfs.UnchargeMemory(bytes);
        Interlocked.Add(ref _bytesUsed, -bytes);
    }

    /// <summary>Should reads update the access time? Not on noatime or read-only mounts.</summary>
    public bool UpdateAtime => (Mp.Flags & (Abi.MNT_NOATIME | Abi.MNT_RDONLY)) == 0;

    /// <summary>One data page from Kmem within the mount's limit and the kernel's (metadata included), or null (ENOSPC).</summary>
    public byte[]? AllocPage()
    {
        if (!ChargeSize(PageSize)) return null;
        byte[]? p = _vfs.MemoryFree >= PageSize ? Kernel.Kmem.Alloc(PageSize) : null;
        if (p == null) { Interlocked.Add(ref _bytesUsed, -PageSize); return null; }
        Interlocked.Increment(ref _pagesUsed);
        return p;
    }

    public void FreePage(byte[] p)
    {
        Kernel.Kmem.Free(p, PageSize);
        Interlocked.Decrement(ref _pagesUsed);
        Interlocked.Add(ref _bytesUsed, -PageSize);
    }

    /// <summary>
    /// A new node, without a name yet (link count 0), counted against the node limit and charged
    /// (with <paramref name="extra"/> bytes, a symlink's target), and put in the table; or null
    /// (ENOSPC). Precondition: <see cref="NsLock"/> held exclusive.
    /// </summary>
    public TmpfsNode? AllocNodeLocked(VType type, uint mode, uint uid, uint gid, ulong rdev, in RumpTimespec now, long extra = 0)
    {
        Debug.Assert(NsLock.WriteHeld);
        if (_nodesUsed >= NodesMax) return null;
        if (!ChargeMeta(NodeCost + extra)) return null;
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
        // Entries are left only when the mount goes away.
        if (n.Dir != null) UnchargeMeta(n.Dir.Clear());
        n.Parent = null;
        UnchargeMeta(NodeCost + (n.Target != null ? TargetCost(n.Target.Length) : 0));
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
