using System.Threading;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Cd9660;

/// <summary>One contiguous piece of a file's data: a logical block and a byte length (ECMA-119 6.5.1).</summary>
internal readonly struct IsoExtent
{
    public readonly uint Lbn;
    public readonly uint Length;
    public IsoExtent(uint lbn, uint length) { Lbn = lbn; Length = length; }
}

/// <summary>
/// A file's attributes and where its data is, decoded once from its directory record(s) and Rock
/// Ridge entries. Immutable after the scan that made it (the medium never changes), so it is
/// shared between the directory cache and the node and read without locks.
/// </summary>
internal sealed class IsoAttr
{
    public VType Type;
    /// <summary>Permission bits only.</summary>
    public uint Mode;
    public uint Nlink;
    public uint Uid, Gid;
    public RumpTimespec Atime, Mtime, Ctime, Birthtime;
    public long Size;
    public ulong Rdev;
    /// <summary>The record's extent: a directory's identity (its "." record lives there).</summary>
    public uint Extent;
    /// <summary>Where the data starts: the extent after any extended attribute record.</summary>
    public uint DataLbn;
    /// <summary>Multi-extent files (ECMA-119 6.5.1): every piece in file order; null for one extent (DataLbn, Size).</summary>
    public IsoExtent[]? Extents;
    /// <summary>A symlink's target (Rock Ridge SL).</summary>
    public byte[]? Link;
    /// <summary>Data that cannot be read correctly (interleaved, a broken extent chain, a bad SL): reads fail with EIO.</summary>
    public bool Unreadable;
}

/// <summary>
/// One file of a mounted image: the data of its vnode (the vnode cache's, keyed by inode number).
/// Everything but the directory cache is immutable; <see cref="Dir"/> and <see cref="LruLink"/>
/// are written under <see cref="Cd9660Mount.Lock"/>, and <see cref="Dir"/> is read without it (a
/// reference to an immutable <see cref="IsoDir"/>: a reader keeps using the one it got even if it
/// is evicted).
/// </summary>
internal sealed class Cd9660Node
{
    public readonly Cd9660Mount Imp;
    /// <summary>Inode number: a directory's extent byte address, a file's first record's byte address (as NetBSD).</summary>
    public readonly ulong Ino;
    public readonly IsoAttr Attr;
    public IsoDir? Dir;
    public System.Collections.Generic.LinkedListNode<Cd9660Node>? LruLink;

    public Cd9660Node(Cd9660Mount imp, ulong ino, IsoAttr attr)
    {
        Imp = imp; Ino = ino; Attr = attr;
    }

    public IsoDir? CachedDir => Volatile.Read(ref Dir);

    public override string ToString() => "cd9660 node " + Ino + " (" + Attr.Type + ")";
}
