using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The vnode layer (NetBSD vfs_vnops.c, and the checks of vfs_syscalls.c and genfs): operations on
/// vnodes with the rules POSIX and NetBSD put on them — permissions, read-only mounts, the sticky
/// bit, the forms of names, cache purges — done for a caller named by an explicit credential.
/// The system calls use it once they have turned paths and descriptors into vnodes; servers that
/// act for many users (a FUSE server, a remote system-call server) call it directly, with each
/// request's credential, on vnodes found by name (<see cref="Lookup"/>) or by number
/// (<see cref="Vget"/>), without a system call.
///
/// References: vnodes passed in stay the caller's (nothing here releases them); vnodes handed out
/// are referenced for the caller. Locks: none is held across calls into here; the rename lock is
/// taken inside <see cref="Rename"/>. ERESTART from a namespace change means a name changed since
/// the caller looked it up: look up again (the path-based <see cref="Open"/> does so itself).
/// </summary>
public static class VnodeLayer
{
    private static Vfs V(Lwp l) => l.Kernel.GetService<Vfs>()!;

    /// <summary>How often a path-based change is looked up again after ERESTART.</summary>
    public const int MaxRestarts = 16;

    /// <summary>A restart that kept failing (a name changing on every attempt): EAGAIN, never ERESTART to a caller.</summary>
    public static int Settle(int e) => e == Abi.ERESTART ? Abi.EAGAIN : e;

    // ---- Checks --------------------------------------------------------------------------------

    /// <summary>May <paramref name="cred"/> do <paramref name="acc"/> (Kauth.VREAD/VWRITE/VEXEC) to <paramref name="vp"/>? (VOP_ACCESS)</summary>
    public static int Access(Lwp l, Vnode vp, int acc, Cred cred) => Vop.Access(l, vp, acc, cred);

    /// <summary>May <paramref name="cred"/> add or remove a name in <paramref name="dvp"/>? EROFS on a read-only mount.</summary>
    public static int CanChangeNames(Lwp l, Vnode dvp, Cred cred)
    {
        if (dvp.Mount.ReadOnly) return Abi.EROFS;
        return Vop.Access(l, dvp, Kauth.VWRITE | Kauth.VEXEC, cred);
    }

    /// <summary>
    /// The sticky-bit rule (NetBSD genfs_can_sticky): in a sticky directory only the owner of the
    /// file or of the directory (or root) may remove or rename a name.
    /// </summary>
    public static int CanRemoveFromSticky(Lwp l, Vnode dvp, Vnode vp, Cred cred)
    {
        if (cred.IsRoot) return 0;
        int e = Vop.Getattr(l, dvp, out Vattr dva);
        if (e != 0) return e;
        if ((dva.Mode & Abi.S_ISVTX) == 0) return 0;
        e = Vop.Getattr(l, vp, out Vattr va);
        if (e != 0) return e;
        return va.Uid == cred.Euid || dva.Uid == cred.Euid ? 0 : Abi.EPERM;
    }

    /// <summary>
    /// access(2)'s answer for <paramref name="cred"/> (the caller chooses real or effective ids):
    /// <paramref name="amode"/> is R_OK/W_OK/X_OK bits, or F_OK.
    /// </summary>
    public static int CheckAccess(Lwp l, Cred cred, Vnode vp, int amode)
    {
        if (amode == Abi.F_OK) return 0;
        if ((amode & Abi.W_OK) != 0 && vp.Mount.ReadOnly && vp.Type is VType.VREG or VType.VDIR or VType.VLNK)
            return Abi.EROFS;
        int e = Vop.Getattr(l, vp, out Vattr va);
        if (e != 0) return e;
        int acc = ((amode & Abi.R_OK) != 0 ? Kauth.VREAD : 0) | ((amode & Abi.W_OK) != 0 ? Kauth.VWRITE : 0) | ((amode & Abi.X_OK) != 0 ? Kauth.VEXEC : 0);
        return Kauth.Access(cred, va.Mode, va.Uid, va.Gid, acc, vp.Type == VType.VDIR);
    }

    /// <summary>"." and ".." name the directories themselves: no file may be made, removed or renamed under them.</summary>
    private static bool IsDotOrDotDot(string name) => name == "." || name == "..";

    /// <summary>A name a server passes must be one component.</summary>
    private static int CheckName(ReadOnlySpan<char> name)
    {
        if (name.Length == 0) return Abi.ENOENT;
        if (name.Length > Namei.NameMax) return Abi.ENAMETOOLONG;
        return name.IndexOf('/') >= 0 ? Abi.EINVAL : 0;
    }

    // ---- Finding vnodes ------------------------------------------------------------------------

    /// <summary>
    /// The vnode <paramref name="name"/> (one component) names in directory <paramref name="dvp"/>,
    /// referenced: search permission for <paramref name="cred"/>, ".", "..", the name cache, mount
    /// points crossed. A symbolic link is returned itself.
    /// </summary>
    public static int Lookup(Lwp l, Cred cred, Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        vp = null;
        int e = CheckName(name);
        return e != 0 ? e : Namei.LookupAt(l, cred, dvp, name, out vp);
    }

    /// <summary>
    /// VFS_VGET: the referenced vnode of file number <paramref name="ino"/> of <paramref name="mp"/>
    /// (its st_ino), through the vnode cache: the very vnode a lookup by path gives while it exists.
    /// ESTALE or ENOENT for a number that names no file now.
    /// </summary>
    public static int Vget(Lwp l, Mount mp, ulong ino, out Vnode? vp)
    {
        vp = null;
        int e = mp.Busy(l);
        if (e != 0) return e;
        try { return mp.Ops.Vget(mp, ino, out vp); }
        finally { mp.Unbusy(l); }
    }

    // ---- Open ----------------------------------------------------------------------------------

    /// <summary>FFLAGS(): open(2)'s O_RDONLY/O_WRONLY/O_RDWR become the FREAD/FWRITE bits; the other flags stay.</summary>
    public static int FFlags(int oflags) => oflags + 1;

    /// <summary>
    /// NetBSD vn_open: looks <paramref name="path"/> up (from <paramref name="dirfd"/>) or creates it
    /// (O_CREAT, with <paramref name="cmode"/>, the umask already applied), checks access for
    /// <paramref name="cred"/>, truncates (O_TRUNC) and opens it. <paramref name="fflag"/> is
    /// <see cref="FFlags"/> of the open flags. Returns the vnode referenced.
    /// </summary>
    public static int Open(Lwp l, Cred cred, int dirfd, in PathBuf path, int fflag, uint cmode, out Vnode? vp)
    {
        int e;
        int tries = 0;
        do e = OpenOnce(l, cred, dirfd, path, fflag, cmode, out vp);
        while (e == Abi.ERESTART && ++tries < MaxRestarts);
        return Settle(e);
    }

    private static int OpenOnce(Lwp l, Cred cred, int dirfd, in PathBuf path, int fflag, uint cmode, out Vnode? vp)
    {
        vp = null;
        bool creat = (fflag & Abi.O_CREAT) != 0;
        bool excl = creat && (fflag & Abi.O_EXCL) != 0;
        bool nofollow = (fflag & Abi.O_NOFOLLOW) != 0 || excl;
        int e;
        if (!creat)
        {
            e = Namei.Lookup(l, cred, dirfd, path, follow: !nofollow, out vp);
            if (e != 0) return e;
            e = OpenVnode(l, cred, vp!, fflag);
            if (e != 0) { vp!.Rele(); vp = null; }
            return e;
        }
        e = Namei.LookupParent(l, cred, dirfd, path, followLast: !nofollow, out NameiParent nd);
        if (e != 0) return e;
        if (nd.Vp == null)
        {
            if (nd.Name == null || nd.TrailingSlash) e = Abi.EISDIR;
            else e = Create(l, cred, nd.Dvp, nd.Name, VType.VREG, cmode, 0, out vp);
            nd.Dvp.Rele();
            if (e != 0) return e;
            e = OpenCreated(l, vp!, fflag);
        }
        else
        {
            nd.Dvp.Rele();
            vp = nd.Vp;
            if (excl) e = Abi.EEXIST;
            else if (nd.TrailingSlash && vp.Type != VType.VDIR) e = Abi.ENOTDIR;
            else e = CrossMounts(l, ref vp);
            if (e == 0) e = OpenVnode(l, cred, vp!, fflag);
        }
        if (e != 0) { vp?.Rele(); vp = null; }
        return e;
    }

    /// <summary>The root of whatever is mounted on <paramref name="vp"/> (repeatedly), in place of it (as namei's crossing).</summary>
    private static int CrossMounts(Lwp l, ref Vnode? vp)
    {
        while (vp!.MountedHere is Mount mp)
        {
            // Busy, the mount keeps its root.
            if (mp.Busy(l) != 0)
            {
                if (vp.MountedHere != mp) continue; // unmounted meanwhile
                return Abi.ENOENT;
            }
            Vnode r = mp.Root.Ref();
            mp.Unbusy(l);
            vp.Rele();
            vp = r;
        }
        return 0;
    }

    /// <summary>
    /// Opens a vnode the caller has found (by path or number) for <paramref name="cred"/>: the
    /// open(2) checks for <paramref name="fflag"/> (<see cref="FFlags"/>), O_TRUNC, and VOP_OPEN.
    /// The caller's reference stays the caller's.
    /// </summary>
    public static int OpenVnode(Lwp l, Cred cred, Vnode vp, int fflag)
    {
        int e = OpenCheck(l, cred, vp, fflag);
        if (e == 0 && (fflag & Abi.O_TRUNC) != 0 && (fflag & File.FWRITE) != 0 && vp.Type == VType.VREG)
            e = Vop.Setattr(l, vp, new Vattr { Size = 0, Mask = VaMask.Size });
        return e != 0 ? e : Vop.Open(l, vp, fflag);
    }

    /// <summary>A file just made by open(O_CREAT): its mode governs later opens only.</summary>
    private static int OpenCreated(Lwp l, Vnode vp, int fflag)
    {
        if ((fflag & Abi.O_DIRECTORY) != 0) return Abi.ENOTDIR;
        return Vop.Open(l, vp, fflag);
    }

    private static int OpenCheck(Lwp l, Cred cred, Vnode vp, int fflag)
    {
        if (vp.Type == VType.VLNK) return Abi.EFTYPE; // O_NOFOLLOW on a symlink, as NetBSD
        if ((fflag & Abi.O_DIRECTORY) != 0 && vp.Type != VType.VDIR) return Abi.ENOTDIR;
        if (vp.Type == VType.VDIR && ((fflag & File.FWRITE) != 0 || (fflag & Abi.O_TRUNC) != 0)) return Abi.EISDIR;
        int acc = 0;
        if ((fflag & File.FREAD) != 0) acc |= Kauth.VREAD;
        if ((fflag & File.FWRITE) != 0 || (fflag & Abi.O_TRUNC) != 0)
        {
            if (vp.Mount.ReadOnly && vp.Type is VType.VREG or VType.VDIR or VType.VLNK) return Abi.EROFS;
            acc |= Kauth.VWRITE;
        }
        return acc == 0 ? 0 : Vop.Access(l, vp, acc, cred);
    }

    // ---- Data ----------------------------------------------------------------------------------

    /// <summary>vn_read: reads at uio's offset (a directory is EISDIR: getdents reads those).</summary>
    public static int Read(Lwp l, Vnode vp, ref Uio uio, int ioflag)
    {
        if (vp.Type == VType.VDIR) return Abi.EISDIR;
        return uio.Vm is RemoteVmspace ? BounceRead(l, vp, ref uio, ioflag) : Vop.Read(l, vp, ref uio, ioflag);
    }

    /// <summary>vn_write: writes at uio's offset (IoFlag.Append: at the end).</summary>
    public static int Write(Lwp l, Vnode vp, ref Uio uio, int ioflag)
    {
        if (vp.Type == VType.VDIR) return Abi.EISDIR;
        return uio.Vm is RemoteVmspace ? BounceWrite(l, vp, ref uio, ioflag) : Vop.Write(l, vp, ref uio, ioflag);
    }

    // A remote client's copies are round trips that last as long as the client takes, and the file
    // systems hold node (tmpfs readdir: mount) locks across their copies. For such a caller the
    // file system works on a kernel buffer, in chunks, and the copies to and from the client
    // happen with no file-system lock held.
    private const int BounceChunk = 64 * 1024;

    private enum BounceOp { Read, Write, Readdir }

    /// <summary>
    /// One file-system transfer on <paramref name="buf"/>[0..<paramref name="len"/>) through a
    /// kernel uio at <paramref name="off"/>: the bytes moved, and where the transfer ended (an
    /// append moves it; readdir moves <paramref name="cookie"/> instead).
    /// </summary>
    private static unsafe int KernelTransfer(Lwp l, Vnode vp, BounceOp op, byte[] buf, int len, ref long off, int ioflag, ref long cookie, out int done)
    {
        fixed (byte* p = buf)
        {
            IoVec iov;
            iov.Base = new UserPtr((nint)p);
            iov.Len = len;
            var k = new Uio(V(l).KernelVm, MemoryMarshal.CreateSpan(ref iov, 1), off, isRead: op != BounceOp.Write);
            int e = op switch
            {
                BounceOp.Read => Vop.Read(l, vp, ref k, ioflag),
                BounceOp.Write => Vop.Write(l, vp, ref k, ioflag),
                _ => Vop.Readdir(l, vp, ref k, ref cookie),
            };
            done = (int)(len - k.Resid);
            off = k.Offset;
            return e;
        }
    }

    private static int BounceRead(Lwp l, Vnode vp, ref Uio uio, int ioflag)
    {
        byte[] buf = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(uio.Resid, BounceChunk));
        try
        {
            long noCookie = 0;
            while (uio.Resid > 0)
            {
                int chunk = (int)Math.Min(uio.Resid, buf.Length);
                long off = uio.Offset;
                int e = KernelTransfer(l, vp, BounceOp.Read, buf, chunk, ref off, ioflag, ref noCookie, out int got);
                int ce = got > 0 ? uio.Move(new ReadOnlySpan<byte>(buf, 0, got)) : 0;
                if (e != 0 || ce != 0) return e != 0 ? e : ce;
                if (got < chunk) break;     // end of file
            }
            return 0;
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
    }

    private static int BounceWrite(Lwp l, Vnode vp, ref Uio uio, int ioflag)
    {
        byte[] buf = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(uio.Resid, BounceChunk));
        try
        {
            long noCookie = 0;
            while (uio.Resid > 0)
            {
                int chunk = (int)Math.Min(uio.Resid, buf.Length);
                long off = uio.Offset;
                int e = uio.Move(new Span<byte>(buf, 0, chunk));
                if (e != 0) return e;
                e = KernelTransfer(l, vp, BounceOp.Write, buf, chunk, ref off, ioflag, ref noCookie, out int put);
                // What the caller sees: the bytes that reached the file, and where (an append moves it).
                uio.Offset = off;
                uio.Resid += chunk - put;
                if (e != 0 || put < chunk) return e;
            }
            return 0;
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>
    /// NetBSD vn_rdwr: reads into or writes from a kernel buffer at <paramref name="offset"/>, for
    /// <paramref name="cred"/> (the file systems here check access at open, not on each transfer;
    /// a write to a read-only mount is EROFS). <paramref name="resid"/>: bytes not transferred.
    /// </summary>
    public static unsafe int Rdwr(Lwp l, bool write, Vnode vp, Span<byte> buf, long offset, int ioflag, Cred cred, out long resid)
    {
        fixed (byte* p = buf)
            return Rdwr(l, write, vp, V(l).KernelVm, new UserPtr((nint)p), buf.Length, offset, ioflag, cred, out resid);
    }

    /// <summary>vn_rdwr into or from the caller's own memory (its address space), <paramref name="len"/> bytes at <paramref name="buf"/>.</summary>
    public static int Rdwr(Lwp l, bool write, Vnode vp, UserPtr buf, long len, long offset, int ioflag, Cred cred, out long resid)
        => Rdwr(l, write, vp, l.Proc.Vmspace, buf, len, offset, ioflag, cred, out resid);

    private static int Rdwr(Lwp l, bool write, Vnode vp, Vmspace vm, UserPtr buf, long len, long offset, int ioflag, Cred cred, out long resid)
    {
        resid = len;
        if (len < 0 || offset < 0) return Abi.EINVAL;
        if (write && vp.Mount.ReadOnly && vp.Type is VType.VREG or VType.VDIR or VType.VLNK) return Abi.EROFS;
        IoVec iov;
        iov.Base = buf;
        iov.Len = len;
        var uio = new Uio(vm, MemoryMarshal.CreateSpan(ref iov, 1), offset, isRead: !write);
        int e = write ? Write(l, vp, ref uio, ioflag) : Read(l, vp, ref uio, ioflag);
        resid = uio.Resid;
        return e;
    }

    /// <summary>Directory entries from cookie <paramref name="cookie"/> on (EINVAL for a non-directory, as NetBSD vn_readdir).</summary>
    public static int Readdir(Lwp l, Vnode vp, ref Uio uio, ref long cookie)
    {
        if (vp.Type != VType.VDIR) return Abi.EINVAL;
        return uio.Vm is RemoteVmspace ? BounceReaddir(l, vp, ref uio, ref cookie) : Vop.Readdir(l, vp, ref uio, ref cookie);
    }

    /// <summary>Readdir for a remote caller: into a kernel buffer, then one copy out with no lock held (see BounceRead).</summary>
    private static int BounceReaddir(Lwp l, Vnode vp, ref Uio uio, ref long cookie)
    {
        int chunk = (int)Math.Min(uio.Resid, BounceChunk);
        byte[] buf = System.Buffers.ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            long off = uio.Offset;
            int e = KernelTransfer(l, vp, BounceOp.Readdir, buf, chunk, ref off, 0, ref cookie, out int got);
            int ce = got > 0 ? uio.Move(new ReadOnlySpan<byte>(buf, 0, got)) : 0;
            return e != 0 ? e : ce;
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>A symbolic link's target (EINVAL for anything else).</summary>
    public static int Readlink(Lwp l, Vnode vp, ref Uio uio)
        => vp.Type != VType.VLNK ? Abi.EINVAL : Vop.Readlink(l, vp, ref uio);

    // ---- Names ---------------------------------------------------------------------------------

    /// <summary>
    /// Makes a file of <paramref name="type"/> (not a directory or link) named <paramref name="name"/>
    /// in <paramref name="dvp"/>, owned by <paramref name="cred"/>'s effective uid, with permission bits
    /// <paramref name="mode"/> (umask applied by the caller). Returns it referenced.
    /// </summary>
    public static int Create(Lwp l, Cred cred, Vnode dvp, string name, VType type, uint mode, ulong rdev, out Vnode? vp)
    {
        vp = null;
        int e = CanMakeName(l, cred, dvp, name);
        if (e != 0) return e;
        var va = new Vattr { Type = type, Mode = mode & (uint)Abi.ALLPERMS, Uid = cred.Euid, Rdev = rdev };
        e = Vop.Create(l, dvp, name, va, out vp);
        if (e == 0) V(l).Cache.Purge(dvp, name);
        return e;
    }

    /// <summary>A new name <paramref name="name"/> may be made in <paramref name="dvp"/> by <paramref name="cred"/>: a valid component, not "." or ".." (EEXIST), and the right to change the directory.</summary>
    private static int CanMakeName(Lwp l, Cred cred, Vnode dvp, string name)
    {
        int e = CheckName(name);
        if (e != 0) return e;
        if (IsDotOrDotDot(name)) return Abi.EEXIST;
        return CanChangeNames(l, dvp, cred);
    }

    /// <summary>mkdir: permission bits only (no sticky or set-id bits, as NetBSD), umask applied by the caller.</summary>
    public static int Mkdir(Lwp l, Cred cred, Vnode dvp, string name, uint mode, out Vnode? vp)
    {
        vp = null;
        int e = CanMakeName(l, cred, dvp, name);
        if (e != 0) return e;
        var va = new Vattr { Type = VType.VDIR, Mode = mode & (uint)Abi.ACCESSPERMS, Uid = cred.Euid };
        e = Vop.Mkdir(l, dvp, name, va, out vp);
        if (e == 0) V(l).Cache.Purge(dvp, name);
        return e;
    }

    public static int Symlink(Lwp l, Cred cred, Vnode dvp, string name, ReadOnlySpan<byte> target, uint mode, out Vnode? vp)
    {
        vp = null;
        int e = CanMakeName(l, cred, dvp, name);
        if (e != 0) return e;
        var va = new Vattr { Type = VType.VLNK, Mode = mode & (uint)Abi.ACCESSPERMS, Uid = cred.Euid };
        e = Vop.Symlink(l, dvp, name, va, target, out vp);
        if (e == 0) V(l).Cache.Purge(dvp, name);
        return e;
    }

    /// <summary>A hard link <paramref name="name"/> in <paramref name="dvp"/> to <paramref name="vp"/> (not a directory: EPERM).</summary>
    public static int Link(Lwp l, Cred cred, Vnode dvp, string name, Vnode vp)
    {
        if (vp.Type == VType.VDIR) return Abi.EPERM;
        int e = CheckName(name);
        if (e != 0) return e;
        if (IsDotOrDotDot(name)) return Abi.EEXIST;
        if (dvp.Mount != vp.Mount) return Abi.EXDEV;
        e = CanChangeNames(l, dvp, cred);
        if (e != 0) return e;
        e = Vop.Link(l, dvp, name, vp);
        if (e == 0) V(l).Cache.Purge(dvp, name);
        return e;
    }

    /// <summary>
    /// Removes <paramref name="name"/>, which names <paramref name="vp"/>, from <paramref name="dvp"/>:
    /// rmdir with <paramref name="dir"/>, else unlink (of anything but a directory: EPERM, as NetBSD).
    /// </summary>
    public static int Remove(Lwp l, Cred cred, Vnode dvp, string name, Vnode vp, bool dir)
    {
        if (name == ".") return dir ? Abi.EINVAL : Abi.EISDIR;
        if (name == "..") return dir ? Abi.ENOTEMPTY : Abi.EISDIR;
        if (dir)
        {
            if (vp.Type != VType.VDIR) return Abi.ENOTDIR;
            if (vp.MountedHere != null || vp.IsRoot) return Abi.EBUSY;
        }
        else if (vp.Type == VType.VDIR) return Abi.EPERM;
        int e = CanChangeNames(l, dvp, cred);
        if (e == 0) e = CanRemoveFromSticky(l, dvp, vp, cred);
        if (e != 0) return e;
        e = dir ? Vop.Rmdir(l, dvp, name, vp) : Vop.Remove(l, dvp, name, vp);
        if (e != 0) return e;
        Vfs vfs = V(l);
        vfs.Cache.Purge(dvp, name);
        if (dir) vfs.Cache.PurgeDir(vp);
        return 0;
    }

    /// <summary>
    /// Renames <paramref name="fname"/> in <paramref name="fdvp"/> (naming <paramref name="fvp"/>) to
    /// <paramref name="tname"/> in <paramref name="tdvp"/> (naming <paramref name="tvp"/>, or nothing),
    /// atomically, for <paramref name="cred"/>. Renames are serialised (NetBSD's vfs_rename_lock)
    /// so that the check that a directory does not move below itself stays true until it has moved.
    /// <paramref name="mustBeDir"/>: a path named it with a trailing slash.
    /// </summary>
    public static int Rename(Lwp l, Cred cred, Vnode fdvp, string fname, Vnode fvp, Vnode tdvp, string tname, Vnode? tvp, bool mustBeDir = false)
    {
        if (IsDotOrDotDot(fname) || IsDotOrDotDot(tname)) return Abi.EINVAL;
        int e = CheckName(tname);
        if (e != 0) return e;
        Vfs vfs = V(l);
        vfs.RenameLock.Enter();
        try
        {
            if (fdvp.Mount != tdvp.Mount || fvp.Mount != tdvp.Mount || (tvp != null && tvp.Mount != tdvp.Mount)) return Abi.EXDEV;
            if (fvp.MountedHere != null || fvp.IsRoot || (tvp != null && (tvp.MountedHere != null || tvp.IsRoot))) return Abi.EBUSY;
            // A path that ended in '/' named a directory.
            if (mustBeDir && fvp.Type != VType.VDIR) return Abi.ENOTDIR;
            if (tvp != null)
            {
                if (fvp.Type == VType.VDIR && tvp.Type != VType.VDIR) return Abi.ENOTDIR;
                if (fvp.Type != VType.VDIR && tvp.Type == VType.VDIR) return Abi.EISDIR;
            }
            // Two names of one file: POSIX says do nothing, unless it is one name respelt in case.
            if (fvp == tvp && !(fdvp == tdvp && fname != tname && fdvp.Mount.Ops.CaseInsensitive)) return 0;
            e = CanChangeNames(l, fdvp, cred);
            if (e == 0) e = CanChangeNames(l, tdvp, cred);
            if (e == 0) e = CanRemoveFromSticky(l, fdvp, fvp, cred);
            if (e == 0 && tvp != null) e = CanRemoveFromSticky(l, tdvp, tvp, cred);
            if (e != 0) return e;
            if (fvp.Type == VType.VDIR)
            {
                if (fdvp != tdvp)
                {
                    // Moving a directory needs write permission in it (its ".." changes).
                    e = Vop.Access(l, fvp, Kauth.VWRITE, cred);
                    if (e != 0) return e;
                }
                e = CheckNotAncestor(l, fvp, tdvp);
                if (e != 0) return e;
            }
            e = Vop.Rename(l, fdvp, fname, fvp, tdvp, tname, tvp);
            if (e != 0) return e;
            vfs.Cache.Purge(fdvp, fname);
            vfs.Cache.Purge(tdvp, tname);
            if (tvp != null && tvp.Type == VType.VDIR) vfs.Cache.PurgeDir(tvp);
            return 0;
        }
        finally { vfs.RenameLock.Exit(); }
    }

    /// <summary>EINVAL if <paramref name="dir"/> is <paramref name="fvp"/> or below it (walking "..").</summary>
    private static int CheckNotAncestor(Lwp l, Vnode fvp, Vnode dir)
    {
        Vnode cur = dir.Ref();
        try
        {
            for (int depth = 0; depth < 4096; depth++)
            {
                if (cur == fvp) return Abi.EINVAL;
                if (cur.IsRoot) return 0;
                int e = Vop.Lookup(l, cur, "..", out Vnode? up);
                if (e != 0) return e;
                if (up == cur) { up!.Rele(); return 0; }
                cur.Rele();
                cur = up!;
            }
            return Abi.ELOOP;
        }
        finally { cur.Rele(); }
    }

    // ---- Attributes ----------------------------------------------------------------------------

    public static int Getattr(Lwp l, Vnode vp, out Vattr va) => Vop.Getattr(l, vp, out va);

    /// <summary>chmod for <paramref name="cred"/> (NetBSD genfs_can_chmod): the owner or root; EFTYPE for the sticky bit on a file, EPERM for a set-gid to a foreign group.</summary>
    public static int Chmod(Lwp l, Cred cred, Vnode vp, uint mode)
    {
        if (vp.Mount.ReadOnly) return Abi.EROFS;
        int e = Vop.Getattr(l, vp, out Vattr cur);
        if (e != 0) return e;
        e = Kauth.Owner(cred, cur.Uid);
        if (e != 0) return e;
        if (!cred.IsRoot)
        {
            if (vp.Type != VType.VDIR && (mode & Abi.S_ISTXT) != 0) return Abi.EFTYPE;
            if ((mode & Abi.S_ISGID) != 0 && !cred.IsMember(cur.Gid)) return Abi.EPERM;
        }
        return Vop.Setattr(l, vp, new Vattr { Mode = mode & (uint)Abi.ALLPERMS, Mask = VaMask.Mode });
    }

    /// <summary>
    /// chown for <paramref name="cred"/> (NetBSD genfs_can_chown): (uid_t)-1 leaves an id as it is;
    /// an owner may only change the group, to one it belongs to; an ordinary user's change drops
    /// the set-id bits.
    /// </summary>
    public static int Chown(Lwp l, Cred cred, Vnode vp, uint uid, uint gid)
    {
        if (vp.Mount.ReadOnly) return Abi.EROFS;
        int e = Vop.Getattr(l, vp, out Vattr cur);
        if (e != 0) return e;
        uint nuid = uid == uint.MaxValue ? cur.Uid : uid;
        uint ngid = gid == uint.MaxValue ? cur.Gid : gid;
        if (!cred.IsRoot)
        {
            if (cred.Euid != cur.Uid || nuid != cur.Uid || (ngid != cur.Gid && !cred.IsMember(ngid)))
                return Abi.EPERM;
        }
        var va = new Vattr { Uid = nuid, Gid = ngid, Mask = VaMask.Uid | VaMask.Gid };
        if (!cred.IsRoot && (cur.Mode & (Abi.S_ISUID | Abi.S_ISGID)) != 0)
        {
            va.Mode = cur.Mode & ~(uint)(Abi.S_ISUID | Abi.S_ISGID);
            va.Mask |= VaMask.Mode;
        }
        return Vop.Setattr(l, vp, va);
    }

    /// <summary>
    /// Sets the access and/or modification times in <paramref name="va"/> (its mask). Setting the
    /// current time (<paramref name="onlyNow"/>) needs write access; setting chosen times needs
    /// ownership.
    /// </summary>
    public static int SetTimes(Lwp l, Cred cred, Vnode vp, in Vattr va, bool onlyNow)
    {
        if (va.Mask == VaMask.None) return 0;
        if (vp.Mount.ReadOnly) return Abi.EROFS;
        int e = Vop.Getattr(l, vp, out Vattr cur);
        if (e != 0) return e;
        if (Kauth.Owner(cred, cur.Uid) != 0)
        {
            if (!onlyNow) return Abi.EPERM;
            e = Kauth.Access(cred, cur.Mode, cur.Uid, cur.Gid, Kauth.VWRITE);
            if (e != 0) return e;
        }
        return Vop.Setattr(l, vp, va);
    }

    /// <summary>
    /// Sets a file's size. <paramref name="opened"/>: through a descriptor open for writing, which
    /// checked access already (ftruncate); else write access for <paramref name="cred"/> (truncate).
    /// </summary>
    public static int Truncate(Lwp l, Cred cred, Vnode vp, long length, bool opened)
    {
        if (length < 0) return Abi.EINVAL;
        if (vp.Type == VType.VDIR) return Abi.EISDIR;
        if (!opened)
        {
            if (vp.Mount.ReadOnly) return Abi.EROFS;
            int e = Vop.Access(l, vp, Kauth.VWRITE, cred);
            if (e != 0) return e;
        }
        return Vop.Setattr(l, vp, new Vattr { Size = length, Mask = VaMask.Size });
    }
}
