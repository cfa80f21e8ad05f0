using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>Where a vnode is in its life (NetBSD's VS_* states, vfs_vnode.c).</summary>
public enum VState : byte
{
    /// <summary>In the cache under its key while the file system loads it; lookups of the key wait.</summary>
    Loading,
    /// <summary>Usable: references may be taken.</summary>
    Loaded,
    /// <summary>The file system is letting go of it (VOP_RECLAIM); lookups of the key wait, then load anew.</summary>
    Reclaiming,
    /// <summary>Out of the cache. Still-held references (a forced unmount) see dead operations.</summary>
    Reclaimed,
}

/// <summary>
/// A vnode: the VFS's handle on one file of one mounted file system (NetBSD struct vnode). The
/// file system keeps its own node in <see cref="Data"/> and implements the operations in its
/// <see cref="VnodeOps"/> table. Vnodes are made, found and destroyed only by the vnode cache
/// (<see cref="VnodeCache"/>, whose header gives the locking rules and the state machine).
///
/// References (the use count): namei results, open files, current and root directories, the mount
/// (its root) and a mount on a covered directory each hold one; a file system's node may hold one
/// on its parent directory (msdosfs). Whoever holds one may take another with <see cref="Ref"/>;
/// a vnode nobody references is reached only through the cache (<see cref="VnodeCache.Get"/>) or,
/// lock-free, through <see cref="TryRef"/>, which fails once the vnode is being reclaimed — so the
/// name cache, which holds no references, can never bring a dying vnode back. <see cref="Rele"/>
/// drops one; the last runs VOP_INACTIVE and either keeps the vnode cached, unreferenced, for reuse
/// or reclaims it (VOP_RECLAIM frees the file system's node).
///
/// The use count and the "gate" share one word (<see cref="_use"/>): the gate bit is set exactly
/// while the vnode is <see cref="VState.Loaded"/>, and a reference may be taken without a lock only
/// through an open gate. Closing the gate (compare-and-swap) is how the cache claims a vnode for
/// reclaiming, so claiming and referencing can never both succeed.
///
/// Other fields: <see cref="MountedHere"/> is written under the VFS mount lock and read without it.
/// <see cref="Children"/> belongs to the name cache (read without a lock, changed under its lock).
/// The LRU links and <see cref="State"/> are the cache's (under its lock).
/// </summary>
public sealed class Vnode
{
    /// <summary>Set while Loaded: references may be taken lock-free.</summary>
    internal const int Gate = 1 << 30;
    internal const int CountMask = Gate - 1;

    public readonly Mount Mount;
    /// <summary>The file system's key for this file (its inode or node number), unique in the mount.</summary>
    public ulong Key { get; private set; }
    public VType Type { get; private set; }
    private VnodeOps _ops = DeadVnodeOps.Instance;
    private object? _data;
    internal int _use;
    private volatile Mount? _mountedHere;
    /// <summary>Cached lookups in this directory: name → vnode (null: known not to exist).</summary>
    internal NameCache.Dir? Children;

    // The cache's: state, LRU list membership and links, second-chance bit (see VnodeCache).
    internal volatile VState State;
    internal byte LruList;
    internal Vnode? LruPrev, LruNext;
    internal bool Recent;
    /// <summary>Chains vnodes the cache claimed for reclaiming, outside its lock.</summary>
    internal Vnode? NextVictim;

    internal Vnode(Mount mp, ulong key)
    {
        Mount = mp;
        Key = key;
        State = VState.Loading;
        _use = 1;
    }

    /// <summary>Called once by the file system while loading the vnode (VFS_LOADVNODE).</summary>
    public void Init(VType type, VnodeOps ops, object data)
    {
        if (State != VState.Loading) Kernel.Panic("vnode init outside loading: " + this);
        Type = type; _ops = ops; _data = data;
    }

    /// <summary>Called once by the file system making a new file (VFS_NEWVNODE): the key is chosen now.</summary>
    public void InitNew(ulong key, VType type, VnodeOps ops, object data)
    {
        if (!IsNew) Kernel.Panic("vnode key chosen outside VFS_NEWVNODE: " + this);
        Key = key;
        Init(type, ops, data);
        Mount.Vfs.Vcache.Reserve(this);
    }

    /// <summary>A FIFO's pipe while files are open on it, and how many (fifofs; under <see cref="Vfs.FifoLock"/>).</summary>
    internal Pipe? Fifo;
    internal int FifoFiles;

    /// <summary>Made by <see cref="VnodeCache.New"/> and not in the cache yet.</summary>
    internal bool IsNew;
    /// <summary>Its key is reserved in <see cref="Vfs.Mount.Creating"/> (set by <see cref="InitNew"/>, under the cache's lock).</summary>
    internal bool Reserved;

    public VnodeOps Ops => _ops;

    /// <summary>The file system's node (null once reclaimed: only dead operations run then).</summary>
    public object Data => _data!;

    /// <summary>References held (not counting the gate).</summary>
    public int UseCount => Volatile.Read(ref _use) & CountMask;

    /// <summary>The file system mounted on this directory, if any.</summary>
    public Mount? MountedHere { get => _mountedHere; internal set => _mountedHere = value; }

    public bool IsRoot => Mount.Root == this;

    /// <summary>Reclaimed while still referenced (a forced unmount): every operation fails.</summary>
    public bool IsDead => State == VState.Reclaimed;

    /// <summary>Another reference, for a caller that already holds one (NetBSD vref).</summary>
    public Vnode Ref()
    {
        int n = Interlocked.Increment(ref _use);
        if ((n & CountMask) <= 1) Kernel.Panic("vref: no reference held on " + this);
        return this;
    }

    /// <summary>
    /// A reference on a vnode the caller holds none on, without a lock (NetBSD vcache_tryvget):
    /// only while it is Loaded. False if it is being reclaimed or gone; the caller then asks the
    /// file system again, which finds or loads the current vnode through the cache.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public bool TryRef()
    {
        int u = Volatile.Read(ref _use);
        while (true)
        {
            if ((u & Gate) == 0) return false;
            int seen = Interlocked.CompareExchange(ref _use, u + 1, u);
            if (seen == u) return true;
            u = seen;
        }
    }

    /// <summary>Drops a reference (NetBSD vrele). Never call it holding a file-system lock: the last one runs VOP_INACTIVE.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void Rele()
    {
        int u = Volatile.Read(ref _use);
        while ((u & CountMask) > 1)
        {
            // Not the last: a plain decrement.
            int seen = Interlocked.CompareExchange(ref _use, u - 1, u);
            if (seen == u) return;
            u = seen;
        }
        ReleLastOrPanic(u);
    }

    private void ReleLastOrPanic(int u)
    {
        if ((u & CountMask) == 0) Kernel.Panic("vrele: unreferenced " + this);
        Mount.Vfs.Vcache.ReleLast(this);
    }

    /// <summary>After reclaim: the node is gone and the operations are dead ones.</summary>
    internal void Kill()
    {
        _ops = DeadVnodeOps.Instance;
        _data = null;
    }

    public override string ToString() => "vnode " + Type + " " + Key + " on " + Mount.FsType;
}
