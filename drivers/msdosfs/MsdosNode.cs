using Rump.Vfs;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// One file or directory of a mounted FAT file system and its single vnode, made together the
/// first time the file is looked up and kept for the life of the mount. Its attributes live in
/// its directory entry (<see cref="Ent"/>); the root, which has none on disk, gets a made-up one.
/// Every field is protected by the mount's lock.
/// </summary>
internal sealed class MsdosNode
{
    public readonly MsdosMount M;
    public readonly Vnode Vnode;
    public readonly VType Type;
    /// <summary>File id: where its entry was when first seen, kept through renames.</summary>
    public readonly ulong Id;
    public readonly bool IsRoot;

    /// <summary>The directory entry (removed: still the file's attributes while it is open).</summary>
    public MsdosDirent Ent;
    /// <summary>The directory holding <see cref="Ent"/> (null for the root).</summary>
    public MsdosNode? Parent;
    /// <summary>The cluster chain, read on first use.</summary>
    public ClusterMap? Map;
    /// <summary>VDIR: the parsed entries, read on first use.</summary>
    public MsdosDir? Dir;
    /// <summary>No name refers to it any more; its clusters go when the last reference does.</summary>
    public bool Unlinked;
    /// <summary>Its clusters have been freed.</summary>
    public bool Reclaimed;

    public MsdosNode(MsdosMount m, VType type, ulong id, MsdosDirent ent, MsdosNode? parent, bool isRoot)
    {
        M = m; Type = type; Id = id; Ent = ent; Parent = parent; IsRoot = isRoot;
        Vnode = new Vnode(m.Mp, type, m.Ops, this);
    }

    public uint FirstCluster => Ent.De.FirstCluster;

    public override string ToString() => "msdosfs node " + Id + " (" + Type + ")";
}
