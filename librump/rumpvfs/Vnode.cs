using System.Collections.Generic;
using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A vnode: the VFS's handle on one file of one mounted file system (NetBSD struct vnode). The
/// file system keeps its own node in <see cref="Data"/> and implements the operations in its
/// <see cref="VnodeOps"/> table.
///
/// References (<see cref="UseCount"/>): namei results, open files, current and root directories,
/// the mount (its root) and a covered vnode's mount each hold one, taken with <see cref="Ref"/> and
/// dropped with <see cref="Rele"/>. The name cache holds none. When the count reaches zero the file
/// system's inactive hook runs (tmpfs frees a removed file's data there). Unmount's busy test does
/// not look at these counts (they change on every path step) but at the mount's users: open files
/// and current directories (<see cref="Mount.AdjustUsers"/>).
///
/// Locking: the VFS takes no vnode locks; each file system serialises its own operations (see its
/// header). <see cref="MountedHere"/> is written under the VFS mount lock and read without it.
/// <see cref="Children"/> belongs to the name cache (read without a lock, changed under its lock).
/// </summary>
public sealed class Vnode
{
    public readonly Mount Mount;
    public readonly VType Type;
    public readonly VnodeOps Ops;
    /// <summary>The file system's node.</summary>
    public readonly object Data;
    private int _useCount;
    private volatile Mount? _mountedHere;
    /// <summary>Cached lookups in this directory: name → vnode (null: known not to exist).</summary>
    internal NameCache.Dir? Children;

    public Vnode(Mount mp, VType type, VnodeOps ops, object data)
    {
        Mount = mp; Type = type; Ops = ops; Data = data;
    }

    public int UseCount => Volatile.Read(ref _useCount);

    /// <summary>The file system mounted on this directory, if any.</summary>
    public Mount? MountedHere { get => _mountedHere; internal set => _mountedHere = value; }

    public bool IsRoot => Mount.Root == this;

    public Vnode Ref()
    {
        Interlocked.Increment(ref _useCount);
        return this;
    }

    public void Rele()
    {
        int n = Interlocked.Decrement(ref _useCount);
        if (n == 0) Ops.Inactive(this);
        else if (n < 0) Kernel.Panic("vrele: negative use count on " + this);
    }

    public override string ToString() => "vnode " + Type + " on " + Mount.FsType;
}
