using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A file system's vnode operations (NetBSD's vnodeop vector). The VFS has already checked
/// permissions on the directories it searched and the argument forms (name lengths, ".", "..",
/// read-only mounts); file systems check what only they can (ENOTEMPTY, ENOSPC, EEXIST, link counts).
/// Lookup and creation return referenced vnodes. Names are byte strings held in .NET strings one
/// char per byte (Latin-1), so any byte sequence is a valid name and lookups need no allocation.
/// Defaults return EOPNOTSUPP, as NetBSD's genfs_eopnotsupp.
/// </summary>
public abstract class VnodeOps
{
    public abstract int Lookup(Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp);
    public abstract int Getattr(Vnode vp, out Vattr va);

    /// <summary>
    /// Permission check (NetBSD VOP_ACCESS): may <paramref name="cred"/> do <paramref name="acc"/>
    /// (Kauth.VREAD/VWRITE/VEXEC) to <paramref name="vp"/>? Namei calls it for every directory it
    /// searches, so file systems may answer from their node without taking the attribute lock.
    /// </summary>
    public virtual int Access(Vnode vp, int acc, Cred cred)
    {
        int e = Getattr(vp, out Vattr va);
        return e != 0 ? e : Kauth.Access(cred, va.Mode, va.Uid, va.Gid, acc, vp.Type == VType.VDIR);
    }
    /// <summary>Changes exactly the fields in va's mask (the VFS has applied the rules: who may, which set-id bits go).</summary>
    public virtual int Setattr(Vnode vp, in Vattr va, Lwp l) => Abi.EOPNOTSUPP;

    /// <summary>
    /// Create, Mkdir, Symlink: a new file named <paramref name="name"/> in <paramref name="dvp"/>
    /// with va's type, permission bits and owner (<see cref="Vattr.Uid"/>, the requester's effective
    /// uid; the group is the directory's, as BSD does). The VFS checked the requester may.
    /// </summary>
    public virtual int Create(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp) { vp = null; return Abi.EOPNOTSUPP; }
    public virtual int Mkdir(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp) { vp = null; return Abi.EOPNOTSUPP; }
    public virtual int Symlink(Vnode dvp, string name, in Vattr va, ReadOnlySpan<byte> target, Lwp l, out Vnode? vp) { vp = null; return Abi.EOPNOTSUPP; }
    public virtual int Link(Vnode dvp, string name, Vnode vp, Lwp l) => Abi.EOPNOTSUPP;
    public virtual int Remove(Vnode dvp, string name, Vnode vp, Lwp l) => Abi.EOPNOTSUPP;
    public virtual int Rmdir(Vnode dvp, string name, Vnode vp, Lwp l) => Abi.EOPNOTSUPP;
    /// <summary>Renames fdvp/fname (which is fvp) to tdvp/tname (which is tvp, or null if absent), atomically.</summary>
    public virtual int Rename(Vnode fdvp, string fname, Vnode fvp, Vnode tdvp, string tname, Vnode? tvp, Lwp l) => Abi.EOPNOTSUPP;

    public virtual int Read(Vnode vp, ref Uio uio, int ioflag, Lwp l) => Abi.EOPNOTSUPP;
    public virtual int Write(Vnode vp, ref Uio uio, int ioflag, Lwp l) => Abi.EOPNOTSUPP;
    /// <summary>
    /// Where on its device regular file <paramref name="vp"/> keeps the bytes from
    /// <paramref name="offset"/> on (<paramref name="length"/> of them, cut at the end of the file),
    /// for a reader that moves them itself (NetBSD's VOP_BMAP, for a byte range): the runs go to
    /// <paramref name="sink"/>, then its Transfer runs, all under the file system's locks. Only when
    /// every block of the range is allocated (no hole) and the buffer cache holds nothing newer for
    /// it (no dirty or changing buffer), and the range is not empty; otherwise EOPNOTSUPP with
    /// nothing moved: read it with <see cref="Read"/>. A successful transfer is an access, as a read
    /// (<see cref="IoFlag.NoAtime"/> in <paramref name="ioflag"/> leaves the access time).
    /// Returns Transfer's result, or an errno of the mapping (a damaged map: EIO).
    /// </summary>
    public virtual int Bmap(Vnode vp, long offset, int length, int ioflag, DeviceRunSink sink, Lwp l) => Abi.EOPNOTSUPP;
    /// <summary>
    /// Fills <paramref name="uio"/> with NetBSD dirents starting at directory cookie <paramref name="cookie"/>
    /// (0 is the first entry) and advances it. Whole entries only: EINVAL if not even one fits.
    /// </summary>
    public virtual int Readdir(Vnode vp, ref Uio uio, ref long cookie, Lwp l) => Abi.ENOTDIR;
    public virtual int Readlink(Vnode vp, ref Uio uio, Lwp l) => Abi.EINVAL;
    public virtual int Fsync(Vnode vp, bool dataOnly, Lwp l) => 0;
    public virtual int Open(Vnode vp, int fflag, Lwp l) => 0;
    public virtual int Close(Vnode vp, int fflag, Lwp l) => 0;
    public virtual int Ioctl(Vnode vp, ulong cmd, UserPtr data, Lwp l) => Abi.ENOTTY;
    /// <summary>
    /// The last reference is going (NetBSD VOP_INACTIVE; it is still held while this runs). True
    /// to have the vnode reclaimed at once (a removed file), false to keep it cached.
    /// </summary>
    public virtual bool Inactive(Vnode vp) => false;

    /// <summary>
    /// The vnode leaves the cache (NetBSD VOP_RECLAIM): let go of the file system's node, and free
    /// the file if nothing names it any more. Runs with no VFS lock held; nothing else runs on the
    /// vnode (it is unreferenced, or a forced unmount waited for its operations to finish).
    /// </summary>
    public virtual void Reclaim(Vnode vp) { }
}

/// <summary>
/// The operations of a vnode whose file system was unmounted by force while it was still
/// referenced (NetBSD deadfs): data I/O fails with EIO, everything else with EBADF (ENOENT for
/// names, ENXIO to open), and releasing it is all that still works.
/// </summary>
public sealed class DeadVnodeOps : VnodeOps
{
    public static readonly DeadVnodeOps Instance = new();

    public override int Lookup(Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp) { vp = null; return Abi.ENOENT; }
    public override int Getattr(Vnode vp, out Vattr va) { va = default; return Abi.EBADF; }
    public override int Access(Vnode vp, int acc, Cred cred) => Abi.EBADF;
    public override int Setattr(Vnode vp, in Vattr va, Lwp l) => Abi.EBADF;
    public override int Create(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp) { vp = null; return Abi.ENOENT; }
    public override int Mkdir(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp) { vp = null; return Abi.ENOENT; }
    public override int Symlink(Vnode dvp, string name, in Vattr va, ReadOnlySpan<byte> target, Lwp l, out Vnode? vp) { vp = null; return Abi.ENOENT; }
    public override int Link(Vnode dvp, string name, Vnode vp, Lwp l) => Abi.ENOENT;
    public override int Remove(Vnode dvp, string name, Vnode vp, Lwp l) => Abi.ENOENT;
    public override int Rmdir(Vnode dvp, string name, Vnode vp, Lwp l) => Abi.ENOENT;
    public override int Rename(Vnode fdvp, string fname, Vnode fvp, Vnode tdvp, string tname, Vnode? tvp, Lwp l) => Abi.ENOENT;
    public override int Read(Vnode vp, ref Uio uio, int ioflag, Lwp l) => Abi.EIO;
    public override int Write(Vnode vp, ref Uio uio, int ioflag, Lwp l) => Abi.EIO;
    public override int Readdir(Vnode vp, ref Uio uio, ref long cookie, Lwp l) => Abi.EBADF;
    public override int Readlink(Vnode vp, ref Uio uio, Lwp l) => Abi.EBADF;
    public override int Fsync(Vnode vp, bool dataOnly, Lwp l) => Abi.EBADF;
    public override int Open(Vnode vp, int fflag, Lwp l) => Abi.ENXIO;
    public override int Close(Vnode vp, int fflag, Lwp l) => 0;
    public override int Ioctl(Vnode vp, ulong cmd, UserPtr data, Lwp l) => Abi.EBADF;
}

/// <summary>ioflag bits for read and write (NetBSD IO_*).</summary>
public static class IoFlag
{
    public const int Append = 0x0002;
    public const int Sync = 0x0004;
    public const int NoAtime = 0x1000;
}
