using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A mounted file system (NetBSD struct mount). <see cref="Root"/> is referenced by the mount;
/// <see cref="Covered"/>, the directory it is mounted on, is referenced too (null for the root file
/// system). Its vnodes are in <see cref="Vnodes"/>, the vnode cache's table for it; unmount is
/// busy while any of them is referenced (open files, current directories, lookups in progress).
/// </summary>
public sealed class Mount
{
    public readonly Vfs Vfs;
    public readonly VfsOps Ops;
    public string FsType => Ops.Name;
    public Vnode Root { get; private set; } = null!;
    public Vnode? Covered { get; internal set; }
    public int Flags;
    public string MountedOn = "/";
    public string MountedFrom;
    public readonly ulong Fsid;
    /// <summary>The file system's per-mount state.</summary>
    public object? Data;
    /// <summary>This mount's vnodes by key (the vnode cache's, under its lock).</summary>
    internal readonly Dictionary<ulong, Vnode> Vnodes = new();
    /// <summary>Flushed by unmount: no more vnodes are loaded (under the vnode cache's lock).</summary>
    internal bool Gone;

    internal Mount(Vfs vfs, VfsOps ops, int flags, string from, ulong fsid)
    {
        Vfs = vfs; Ops = ops; Flags = flags; MountedFrom = from; Fsid = fsid;
    }

    public bool ReadOnly => (Flags & Abi.MNT_RDONLY) != 0;

    /// <summary>Called by the file system's mount routine with its (referenced) root vnode, and again if an unmount fails after flushing.</summary>
    public void SetRoot(Vnode root) => Root = root;

    /// <summary>VOP_INACTIVE is about to run on a vnode of this mount; false to skip it. Paired with <see cref="ExitInactive"/>.</summary>
    internal bool EnterInactive() => true;
    internal void ExitInactive() { }
}

/// <summary>
/// A file system type (NetBSD struct vfsops). Registered with <see cref="Vfs.RegisterFs"/> under
/// its NetBSD name; <see cref="Mount"/> parses the file system's mount-argument structure, copied
/// in from the caller as bytes.
/// </summary>
public abstract class VfsOps
{
    public abstract string Name { get; }
    /// <summary>Set up <paramref name="mp"/> (Data, root vnode via SetRoot) from the mount arguments.</summary>
    public abstract int Mount(Mount mp, System.ReadOnlySpan<byte> args, Lwp l);
    /// <summary>Fill the file-system part of statvfs (sizes, counts); the VFS fills names and flags.</summary>
    public abstract int Statvfs(Mount mp, ref RumpStatvfs sv);
    public virtual int Sync(Mount mp, bool wait, Lwp l) => 0;
    /// <summary>
    /// Release the file system. The VFS has reclaimed every vnode of it first (with
    /// <paramref name="force"/>, referenced ones too); an error leaves it mounted.
    /// </summary>
    public virtual int Unmount(Mount mp, bool force, Lwp l) => 0;

    /// <summary>
    /// VFS_LOADVNODE: make <paramref name="vp"/> (Loading, under <paramref name="key"/>) the vnode of
    /// that file, through <see cref="Vnode.Init"/>. <paramref name="hint"/> is what the caller of
    /// <see cref="VnodeCache.Get"/> already knew (a node, a directory entry), or null: a bare key
    /// must work too (<see cref="Vget"/>). Check the file still exists: ENOENT if not, EIO/ESTALE
    /// for a key that names no file.
    /// </summary>
    public abstract int LoadVnode(Mount mp, Vnode vp, ulong key, object? hint);

    /// <summary>
    /// VFS_VGET: the referenced vnode of inode (node) number <paramref name="ino"/>, through the
    /// vnode cache — the same vnode a path lookup gives. File systems whose numbers are not keys
    /// override it.
    /// </summary>
    public virtual int Vget(Mount mp, ulong ino, out Vnode? vp) => mp.Vfs.Vcache.Get(mp, ino, null, out vp);
    /// <summary>Length of the mount-argument structure this file system reads (0: none).</summary>
    public virtual int ArgsSize => 0;

    /// <summary>
    /// Does <paramref name="head"/>, the first <see cref="Vfs.ProbeBytes"/> bytes of a device (fewer
    /// if the device is smaller), hold this file system? Pure and cheap: a superblock check, no
    /// mount. Disk file systems override it so that images can be mounted without naming the type.
    /// </summary>
    public virtual bool Probe(System.ReadOnlySpan<byte> head) => false;

    /// <summary>
    /// Names that differ only in case are the same name (FAT). The VFS then passes a rename from
    /// one spelling to another of the same file to the file system instead of treating it as a no-op.
    /// </summary>
    public virtual bool CaseInsensitive => false;

    /// <summary>What a probe says was found when no file system claims a device (e.g. "an MBR partition table").</summary>
    public virtual string? Describe(System.ReadOnlySpan<byte> head) => null;
}
