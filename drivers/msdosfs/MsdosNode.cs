using Rump.Vfs;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// One file or directory of a mounted FAT file system: the data of its vnode, made when the
/// vnode cache loads the file's id and let go when it reclaims it. Its attributes live in its
/// directory entry (<see cref="Ent"/>), which its parent directory's parsed entries hold, so a
/// node holds a reference on its parent's vnode (<see cref="ParentVp"/>): the parent, and the one
/// copy of its entries, stay while any child node does. The root, which has no entry on disk,
/// gets a made-up one. Every field is protected by the mount's lock.
/// </summary>
internal sealed class MsdosNode
{
    public readonly MsdosMount M;
    /// <summary>The vnode whose data this is.</summary>
    public readonly Vnode Vnode;
    public readonly VType Type;
    /// <summary>File id: where its entry was when first seen, kept through renames.</summary>
    public readonly ulong Id;
    public readonly bool IsRoot;

    /// <summary>The directory entry (removed: still the file's attributes while it is open).</summary>
    public MsdosDirent Ent;
    /// <summary>The directory holding <see cref="Ent"/> (null for the root).</summary>
    public MsdosNode? Parent;
    /// <summary>A reference on <see cref="Parent"/>'s vnode, dropped when this node is reclaimed or moves.</summary>
    public Vnode? ParentVp;
    /// <summary>The cluster chain, read on first use.</summary>
    public ClusterMap? Map;
    /// <summary>VDIR: the parsed entries, read on first use.</summary>
    public MsdosDir? Dir;
    /// <summary>No name refers to it any more; its clusters go when its vnode is reclaimed.</summary>
    public bool Unlinked;
    /// <summary>VREG: where the last read ended (a read starting there is sequential).</summary>
    public long ReadEnd;
    /// <summary>VREG: read-ahead windows of the direct read path, made by the first sequential direct read.</summary>
    public ReadAhead? Ahead;

    public MsdosNode(MsdosMount m, Vnode vp, VType type, ulong id, MsdosDirent ent, MsdosNode? parent, Vnode? parentVp, bool isRoot)
    {
        M = m; Vnode = vp; Type = type; Id = id; Ent = ent; Parent = parent; ParentVp = parentVp; IsRoot = isRoot;
    }

    public uint FirstCluster => Ent.De.FirstCluster;

    public override string ToString() => "msdosfs node " + Id + " (" + Type + ")";
}
