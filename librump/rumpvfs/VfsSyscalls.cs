using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The file system calls (NetBSD vfs_syscalls.c, vfs_vnops.c, vfs_getcwd.c). Each resolves its
/// paths with <see cref="Namei"/>, checks what POSIX and NetBSD require (permissions, read-only
/// mounts, the forms of the last component), then calls the file system. Every vnode reference
/// taken here is dropped on every path; cache purges follow each namespace change.
/// </summary>
internal static partial class VfsSyscalls
{
    private static Vfs V(Lwp l) => l.Kernel.GetService<Vfs>()!;

    /// <summary>
    /// How often a namespace change is looked up again when the file system says a name changed
    /// under it (ERESTART: a concurrent rename or removal between the lookup and the change).
    /// </summary>
    private const int MaxRestarts = 16;

    /// <summary>A restart that kept failing (a name changing on every attempt): EAGAIN, never ERESTART to the caller.</summary>
    private static int Settle(int e) => e == Abi.ERESTART ? Abi.EAGAIN : e;

    /// <summary>Looks up a path the caller gives once (copied in once, into a path buffer).</summary>
    private static int LookupPath(Lwp l, int dirfd, UserPtr path, bool follow, out Vnode? vp)
    {
        vp = null;
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, path);
        return e != 0 ? e : Namei.Lookup(l, dirfd, pb, follow, out vp);
    }

    // ---- open ------------------------------------------------------------------------------

    private static int Open(Lwp l, UserPtr path, int flags, uint mode, out long rv)
        => Openat(l, Abi.AT_FDCWD, path, flags, mode, out rv);

    private static int Openat(Lwp l, int fd, UserPtr path, int flags, uint mode, out long rv)
    {
        rv = 0;
        if ((flags & Abi.O_ACCMODE) == Abi.O_ACCMODE) return Abi.EINVAL;
        int fflag = flags + 1; // FFLAGS(): O_RDONLY/O_WRONLY/O_RDWR become FREAD/FWRITE bits
        int e = VnOpen(l, fd, path, flags, fflag, mode, out Vnode? vp);
        if (e != 0) return e;
        var f = new VnodeFile(l, vp!, fflag & ~(Abi.O_CREAT | Abi.O_EXCL | Abi.O_TRUNC | Abi.O_NOFOLLOW | Abi.O_DIRECTORY | Abi.O_CLOEXEC));
        e = l.Proc.Fd.Alloc(f, (flags & Abi.O_CLOEXEC) != 0, out int nfd);
        if (e != 0) { f.Release(l); return e; }
        rv = nfd;
        return 0;
    }

    /// <summary>NetBSD vn_open: look up or create, check access, truncate. Returns a referenced vnode.</summary>
    private static int VnOpen(Lwp l, int dirfd, UserPtr path, int oflags, int fflag, uint mode, out Vnode? vp)
    {
        vp = null;
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, path);
        if (e != 0) return e;
        int tries = 0;
        do e = VnOpenOnce(l, dirfd, pb, oflags, fflag, mode, out vp);
        while (e == Abi.ERESTART && ++tries < MaxRestarts);
        return Settle(e);
    }

    private static int VnOpenOnce(Lwp l, int dirfd, in PathBuf path, int oflags, int fflag, uint mode, out Vnode? vp)
    {
        vp = null;
        bool creat = (oflags & Abi.O_CREAT) != 0;
        bool excl = creat && (oflags & Abi.O_EXCL) != 0;
        bool nofollow = (oflags & Abi.O_NOFOLLOW) != 0 || excl;
        bool created = false;
        int e;
        if (creat)
        {
            e = Namei.LookupParent(l, dirfd, path, followLast: !nofollow, out NameiParent nd);
            if (e != 0) return e;
            if (nd.Vp == null)
            {
                if (nd.Name == null || nd.TrailingSlash) { nd.Release(); return Abi.EISDIR; }
                e = CreateCheck(l, nd.Dvp);
                if (e == 0)
                {
                    var va = new Vattr { Type = VType.VREG, Mode = mode & (uint)Abi.ALLPERMS & ~l.Proc.Umask };
                    e = Vop.Create(l, nd.Dvp, nd.Name, va, out vp);
                    if (e == 0) V(l).Cache.Purge(nd.Dvp, nd.Name);
                }
                nd.Dvp.Rele();
                if (e != 0) return e;
                created = true;
            }
            else
            {
                nd.Dvp.Rele();
                vp = nd.Vp;
                if (excl) { vp.Rele(); vp = null; return Abi.EEXIST; }
                if (nd.TrailingSlash && vp.Type != VType.VDIR) { vp.Rele(); vp = null; return Abi.ENOTDIR; }
                while (vp.MountedHere is Mount mp)
                {
                    // Busy, the mount keeps its root (as namei's crossing).
                    if (mp.Busy(l) != 0)
                    {
                        if (vp.MountedHere != mp) continue; // unmounted meanwhile
                        vp.Rele(); vp = null; return Abi.ENOENT;
                    }
                    Vnode r = mp.Root.Ref();
                    mp.Unbusy(l);
                    vp.Rele();
                    vp = r;
                }
            }
        }
        else
        {
            e = Namei.Lookup(l, dirfd, path, follow: !nofollow, out vp);
            if (e != 0) return e;
        }
        e = OpenCheck(l, vp!, oflags, fflag, created);
        if (e == 0 && (oflags & Abi.O_TRUNC) != 0 && (fflag & File.FWRITE) != 0 && vp!.Type == VType.VREG && !created)
        {
            var va = new Vattr { Size = 0, Mask = VaMask.Size };
            e = Vop.Setattr(l, vp, va);
        }
        if (e == 0) e = Vop.Open(l, vp!, fflag);
        if (e != 0) { vp!.Rele(); vp = null; }
        return e;
    }

    private static int OpenCheck(Lwp l, Vnode vp, int oflags, int fflag, bool created)
    {
        if (vp.Type == VType.VLNK) return Abi.EFTYPE; // O_NOFOLLOW on a symlink, as NetBSD
        if ((oflags & Abi.O_DIRECTORY) != 0 && vp.Type != VType.VDIR) return Abi.ENOTDIR;
        if (vp.Type == VType.VDIR && ((fflag & File.FWRITE) != 0 || (oflags & Abi.O_TRUNC) != 0)) return Abi.EISDIR;
        if (created) return 0;
        int acc = 0;
        if ((fflag & File.FREAD) != 0) acc |= Kauth.VREAD;
        if ((fflag & File.FWRITE) != 0 || (oflags & Abi.O_TRUNC) != 0)
        {
            if (vp.Mount.ReadOnly && vp.Type is VType.VREG or VType.VDIR or VType.VLNK) return Abi.EROFS;
            acc |= Kauth.VWRITE;
        }
        return acc == 0 ? 0 : Namei.Access(l, vp, acc);
    }

    /// <summary>May the caller add or remove a name in <paramref name="dvp"/>?</summary>
    private static int CreateCheck(Lwp l, Vnode dvp)
    {
        if (dvp.Mount.ReadOnly) return Abi.EROFS;
        return Namei.Access(l, dvp, Kauth.VWRITE | Kauth.VEXEC);
    }

    /// <summary>Removal from a sticky directory needs ownership of the file or the directory (NetBSD genfs_can_sticky).</summary>
    private static int StickyCheck(Lwp l, Vnode dvp, Vnode vp)
    {
        if (l.Cred.IsRoot) return 0;
        int e = Vop.Getattr(l, dvp, out Vattr dva);
        if (e != 0) return e;
        if ((dva.Mode & Abi.S_ISVTX) == 0) return 0;
        e = Vop.Getattr(l, vp, out Vattr va);
        if (e != 0) return e;
        return va.Uid == l.Cred.Euid || dva.Uid == l.Cred.Euid ? 0 : Abi.EPERM;
    }

    // ---- stat, access ------------------------------------------------------------------------

    private static int Stat(Lwp l, UserPtr path, UserPtr ub, out long rv) => Fstatat(l, Abi.AT_FDCWD, path, ub, 0, out rv);
    private static int Lstat(Lwp l, UserPtr path, UserPtr ub, out long rv) => Fstatat(l, Abi.AT_FDCWD, path, ub, Abi.AT_SYMLINK_NOFOLLOW, out rv);

    private static int Fstatat(Lwp l, int fd, UserPtr path, UserPtr buf, int flag, out long rv)
    {
        rv = 0;
        if ((flag & ~Abi.AT_SYMLINK_NOFOLLOW) != 0) return Abi.EINVAL;
        int e = LookupPath(l, fd, path, follow: (flag & Abi.AT_SYMLINK_NOFOLLOW) == 0, out Vnode? vp);
        if (e != 0) return e;
        e = Vop.Getattr(l, vp!, out Vattr va);
        vp!.Rele();
        if (e != 0) return e;
        va.ToStat(out RumpStat st);
        return l.Proc.Vmspace.CopyOut(in st, buf);
    }

    private static int Access(Lwp l, UserPtr path, int flags, out long rv) => Faccessat(l, Abi.AT_FDCWD, path, flags, 0, out rv);

    private static int Faccessat(Lwp l, int fd, UserPtr path, int amode, int flag, out long rv)
    {
        rv = 0;
        if ((amode & ~(Abi.R_OK | Abi.W_OK | Abi.X_OK)) != 0) return Abi.EINVAL;
        if ((flag & ~(Abi.AT_EACCESS | Abi.AT_SYMLINK_NOFOLLOW)) != 0) return Abi.EINVAL;
        int e = LookupPath(l, fd, path, follow: (flag & Abi.AT_SYMLINK_NOFOLLOW) == 0, out Vnode? vp);
        if (e != 0) return e;
        try
        {
            if (amode == Abi.F_OK) return 0;
            if ((amode & Abi.W_OK) != 0 && vp!.Mount.ReadOnly && vp.Type is VType.VREG or VType.VDIR or VType.VLNK)
                return Abi.EROFS;
            e = Vop.Getattr(l, vp!, out Vattr va);
            if (e != 0) return e;
            // access(2) answers for the real ids unless AT_EACCESS asks for the effective ones.
            Cred c = l.Cred;
            Cred who = (flag & Abi.AT_EACCESS) != 0 ? c : new Cred(c.Uid, c.Uid, c.Svuid, c.Gid, c.Gid, c.Svgid, c.Groups.ToArray());
            int acc = ((amode & Abi.R_OK) != 0 ? Kauth.VREAD : 0) | ((amode & Abi.W_OK) != 0 ? Kauth.VWRITE : 0) | ((amode & Abi.X_OK) != 0 ? Kauth.VEXEC : 0);
            return Kauth.Access(who, va.Mode, va.Uid, va.Gid, acc, vp!.Type == VType.VDIR);
        }
        finally { vp!.Rele(); }
    }

    // ---- directories -------------------------------------------------------------------------

    private static int Mkdir(Lwp l, UserPtr path, uint mode, out long rv) => Mkdirat(l, Abi.AT_FDCWD, path, mode, out rv);

    private static int Mkdirat(Lwp l, int fd, UserPtr path, uint mode, out long rv)
    {
        rv = 0;
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, path);
        if (e != 0) return e;
        int tries = 0;
        do e = MkdiratOnce(l, fd, pb, mode, out rv);
        while (e == Abi.ERESTART && ++tries < MaxRestarts);
        return Settle(e);
    }

    private static int MkdiratOnce(Lwp l, int fd, in PathBuf path, uint mode, out long rv)
    {
        rv = 0;
        int e = Namei.LookupParent(l, fd, path, followLast: false, out NameiParent nd);
        if (e != 0) return e;
        try
        {
            if (nd.Vp != null || nd.Name == null || nd.IsDot || nd.IsDotDot) return Abi.EEXIST;
            e = CreateCheck(l, nd.Dvp);
            if (e != 0) return e;
            // NetBSD's mkdir keeps only the permission bits (no sticky, set-id bits) before the umask.
            var va = new Vattr { Type = VType.VDIR, Mode = mode & (uint)Abi.ACCESSPERMS & ~l.Proc.Umask };
            e = Vop.Mkdir(l, nd.Dvp, nd.Name, va, out Vnode? vp);
            if (e != 0) return e;
            V(l).Cache.Purge(nd.Dvp, nd.Name);
            vp!.Rele();
            return 0;
        }
        finally { nd.Release(); }
    }

    private static int Rmdir(Lwp l, UserPtr path, out long rv) => Unlinkat(l, Abi.AT_FDCWD, path, Abi.AT_REMOVEDIR, out rv);
    private static int Unlink(Lwp l, UserPtr path, out long rv) => Unlinkat(l, Abi.AT_FDCWD, path, 0, out rv);

    private static int Unlinkat(Lwp l, int fd, UserPtr path, int flag, out long rv)
    {
        rv = 0;
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, path);
        if (e != 0) return e;
        int tries = 0;
        do e = UnlinkatOnce(l, fd, pb, flag, out rv);
        while (e == Abi.ERESTART && ++tries < MaxRestarts);
        return Settle(e);
    }

    private static int UnlinkatOnce(Lwp l, int fd, in PathBuf path, int flag, out long rv)
    {
        rv = 0;
        if ((flag & ~Abi.AT_REMOVEDIR) != 0) return Abi.EINVAL;
        bool rmdir = (flag & Abi.AT_REMOVEDIR) != 0;
        int e = Namei.LookupParent(l, fd, path, followLast: false, out NameiParent nd);
        if (e != 0) return e;
        try
        {
            if (nd.Name == null) return rmdir ? Abi.EBUSY : Abi.EISDIR; // "/" or "x/.."-like paths
            if (nd.IsDot) return rmdir ? Abi.EINVAL : Abi.EISDIR;
            if (nd.IsDotDot) return rmdir ? Abi.ENOTEMPTY : Abi.EISDIR;
            if (nd.Vp == null) return Abi.ENOENT;
            Vnode vp = nd.Vp;
            if (rmdir)
            {
                if (vp.Type != VType.VDIR) return Abi.ENOTDIR;
                if (vp.MountedHere != null || vp.IsRoot) return Abi.EBUSY;
            }
            else
            {
                if (vp.Type == VType.VDIR) return Abi.EPERM; // NetBSD: unlink(2) of a directory
                if (nd.TrailingSlash) return Abi.ENOTDIR;
            }
            e = CreateCheck(l, nd.Dvp);
            if (e == 0) e = StickyCheck(l, nd.Dvp, vp);
            if (e != 0) return e;
            e = rmdir ? Vop.Rmdir(l, nd.Dvp, nd.Name, vp) : Vop.Remove(l, nd.Dvp, nd.Name, vp);
            if (e != 0) return e;
            Vfs vfs = V(l);
            vfs.Cache.Purge(nd.Dvp, nd.Name);
            if (rmdir) vfs.Cache.PurgeDir(vp);
            return 0;
        }
        finally { nd.Release(); }
    }

    private static int Chdir(Lwp l, UserPtr path, out long rv)
    {
        rv = 0;
        int e = LookupPath(l, Abi.AT_FDCWD, path, follow: true, out Vnode? vp);
        if (e != 0) return e;
        return SetCwd(l, vp!);
    }

    private static int Fchdir(Lwp l, int fd, out long rv)
    {
        rv = 0;
        int e = FdVnode(l, fd, out Vnode? vp);
        if (e != 0) return e;
        return SetCwd(l, vp!);
    }

    /// <summary>Makes the referenced <paramref name="vp"/> the cwd, or drops it on error.</summary>
    private static int SetCwd(Lwp l, Vnode vp)
    {
        int e = vp.Type != VType.VDIR ? Abi.ENOTDIR : Namei.Access(l, vp, Kauth.VEXEC);
        if (e != 0) { vp.Rele(); return e; }
        V(l).Cwd(l.Proc).SetCdir(vp);
        return 0;
    }

    /// <summary>The vnode open at <paramref name="fd"/>, referenced.</summary>
    private static int FdVnode(Lwp l, int fd, out Vnode? vp)
    {
        vp = null;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        int e = 0;
        if (f is VnodeFile vf) vp = vf.Vp.Ref();
        else e = Abi.EINVAL;
        f.Release(l);
        return e;
    }

    private static int Getdents(Lwp l, int fd, UserPtr buf, ulong count, out long rv)
    {
        rv = 0;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        try
        {
            if (f is not VnodeFile vf) return Abi.EINVAL; // NetBSD: fd_getvnode's answer for a non-vnode
            if ((f.Flag & File.FREAD) == 0) return Abi.EBADF;
            IoVec iov;
            iov.Base = buf;
            iov.Len = (long)Math.Min(count, int.MaxValue);
            var uio = new Uio(l.Proc.Vmspace, MemoryMarshal.CreateSpan(ref iov, 1), 0, isRead: true);
            int e = vf.Readdir(l, ref uio);
            rv = iov.Len - uio.Resid;
            return e;
        }
        finally { f.Release(l); }
    }

    // ---- names -------------------------------------------------------------------------------

    private static int Rename(Lwp l, UserPtr from, UserPtr to, out long rv) => Renameat(l, Abi.AT_FDCWD, from, Abi.AT_FDCWD, to, out rv);

    private static int Renameat(Lwp l, int fromfd, UserPtr from, int tofd, UserPtr to, out long rv)
    {
        rv = 0;
        Span<char> fs = stackalloc char[Namei.PathMax];
        Span<char> ts = stackalloc char[Namei.PathMax];
        var fpb = new PathBuf(fs);
        var tpb = new PathBuf(ts);
        int e = fpb.CopyIn(l, from);
        if (e == 0) e = tpb.CopyIn(l, to);
        if (e != 0) return e;
        int tries = 0;
        do e = RenameatOnce(l, fromfd, fpb, tofd, tpb, out rv);
        while (e == Abi.ERESTART && ++tries < MaxRestarts);
        return Settle(e);
    }

    private static int RenameatOnce(Lwp l, int fromfd, in PathBuf from, int tofd, in PathBuf to, out long rv)
    {
        rv = 0;
        Vfs vfs = V(l);
        int e = Namei.LookupParent(l, fromfd, from, followLast: false, out NameiParent fnd);
        if (e != 0) return e;
        e = Namei.LookupParent(l, tofd, to, followLast: false, out NameiParent tnd);
        if (e != 0) { fnd.Release(); return e; }
        // Directory renames can change the shape of the tree: serialise them so that the
        // "not into its own subtree" check stays true until the file system has done the move.
        vfs.RenameLock.Enter();
        try
        {
            if (fnd.Name == null || fnd.IsDot || fnd.IsDotDot || tnd.Name == null || tnd.IsDot || tnd.IsDotDot)
                return Abi.EINVAL;
            if (fnd.Vp == null) return Abi.ENOENT;
            Vnode fvp = fnd.Vp, fdvp = fnd.Dvp, tdvp = tnd.Dvp;
            Vnode? tvp = tnd.Vp;
            if (fdvp.Mount != tdvp.Mount || fvp.Mount != tdvp.Mount || (tvp != null && tvp.Mount != tdvp.Mount)) return Abi.EXDEV;
            if (fvp.MountedHere != null || fvp.IsRoot || (tvp != null && (tvp.MountedHere != null || tvp.IsRoot))) return Abi.EBUSY;
            if ((fnd.TrailingSlash || tnd.TrailingSlash) && fvp.Type != VType.VDIR) return Abi.ENOTDIR;
            if (tvp != null)
            {
                if (fvp.Type == VType.VDIR && tvp.Type != VType.VDIR) return Abi.ENOTDIR;
                if (fvp.Type != VType.VDIR && tvp.Type == VType.VDIR) return Abi.EISDIR;
            }
            // Two names of one file: POSIX says do nothing, unless it is one name respelt in case.
            if (fvp == tvp && !(fdvp == tdvp && fnd.Name != tnd.Name && fdvp.Mount.Ops.CaseInsensitive)) return 0;
            e = CreateCheck(l, fdvp);
            if (e == 0) e = CreateCheck(l, tdvp);
            if (e == 0) e = StickyCheck(l, fdvp, fvp);
            if (e == 0 && tvp != null) e = StickyCheck(l, tdvp, tvp);
            if (e != 0) return e;
            if (fvp.Type == VType.VDIR)
            {
                if (fdvp != tdvp)
                {
                    // Moving a directory needs write permission in it (its ".." changes).
                    e = Namei.Access(l, fvp, Kauth.VWRITE);
                    if (e != 0) return e;
                }
                e = CheckNotAncestor(l, fvp, tdvp);
                if (e != 0) return e;
            }
            e = Vop.Rename(l, fdvp, fnd.Name, fvp, tdvp, tnd.Name, tvp);
            if (e != 0) return e;
            vfs.Cache.Purge(fdvp, fnd.Name);
            vfs.Cache.Purge(tdvp, tnd.Name);
            if (tvp != null && tvp.Type == VType.VDIR) vfs.Cache.PurgeDir(tvp);
            return 0;
        }
        finally
        {
            vfs.RenameLock.Exit();
            tnd.Release();
            fnd.Release();
        }
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

    private static int Link(Lwp l, UserPtr path, UserPtr link, out long rv) => Linkat(l, Abi.AT_FDCWD, path, Abi.AT_FDCWD, link, 0, out rv);

    private static int Linkat(Lwp l, int fd1, UserPtr name1, int fd2, UserPtr name2, int flags, out long rv)
    {
        rv = 0;
        if ((flags & ~Abi.AT_SYMLINK_FOLLOW) != 0) return Abi.EINVAL;
        int e = LookupPath(l, fd1, name1, follow: (flags & Abi.AT_SYMLINK_FOLLOW) != 0, out Vnode? vp);
        if (e != 0) return e;
        try
        {
            if (vp!.Type == VType.VDIR) return Abi.EPERM;
            Span<char> s = stackalloc char[Namei.PathMax];
            var pb = new PathBuf(s);
            e = pb.CopyIn(l, name2);
            if (e != 0) return e;
            e = Namei.LookupParent(l, fd2, pb, followLast: false, out NameiParent nd);
            if (e != 0) return e;
            try
            {
                if (nd.Vp != null || nd.Name == null || nd.IsDot || nd.IsDotDot) return Abi.EEXIST;
                if (nd.TrailingSlash) return Abi.ENOENT;
                if (nd.Dvp.Mount != vp.Mount) return Abi.EXDEV;
                e = CreateCheck(l, nd.Dvp);
                if (e != 0) return e;
                e = Vop.Link(l, nd.Dvp, nd.Name, vp);
                if (e == 0) V(l).Cache.Purge(nd.Dvp, nd.Name);
                return e;
            }
            finally { nd.Release(); }
        }
        finally { vp!.Rele(); }
    }

    private static int Symlink(Lwp l, UserPtr path, UserPtr link, out long rv) => Symlinkat(l, path, Abi.AT_FDCWD, link, out rv);

    private static int Symlinkat(Lwp l, UserPtr path1, int fd, UserPtr path2, out long rv)
    {
        rv = 0;
        // Both copied in once: the target as bytes, the link's path into a path buffer.
        Span<byte> target = stackalloc byte[Namei.PathMax];
        int e = l.Proc.Vmspace.CopyInStr(path1, target, out int tlen);
        if (e != 0) return e;
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        e = pb.CopyIn(l, path2);
        if (e != 0) return e;
        int tries = 0;
        do e = SymlinkatOnce(l, target.Slice(0, tlen), fd, pb, out rv);
        while (e == Abi.ERESTART && ++tries < MaxRestarts);
        return Settle(e);
    }

    private static int SymlinkatOnce(Lwp l, ReadOnlySpan<byte> target, int fd, in PathBuf path2, out long rv)
    {
        rv = 0;
        int e = Namei.LookupParent(l, fd, path2, followLast: false, out NameiParent nd);
        if (e != 0) return e;
        try
        {
            if (nd.Vp != null || nd.Name == null || nd.IsDot || nd.IsDotDot) return Abi.EEXIST;
            e = CreateCheck(l, nd.Dvp);
            if (e != 0) return e;
            var va = new Vattr { Type = VType.VLNK, Mode = (uint)Abi.ACCESSPERMS & ~l.Proc.Umask };
            e = Vop.Symlink(l, nd.Dvp, nd.Name, va, target, out Vnode? vp);
            if (e != 0) return e;
            V(l).Cache.Purge(nd.Dvp, nd.Name);
            vp!.Rele();
            return 0;
        }
        finally { nd.Release(); }
    }

    private static int Readlink(Lwp l, UserPtr path, UserPtr buf, ulong count, out long rv)
        => Readlinkat(l, Abi.AT_FDCWD, path, buf, count, out rv);

    private static int Readlinkat(Lwp l, int fd, UserPtr path, UserPtr buf, ulong bufsize, out long rv)
    {
        rv = 0;
        int e = LookupPath(l, fd, path, follow: false, out Vnode? vp);
        if (e != 0) return e;
        try
        {
            if (vp!.Type != VType.VLNK) return Abi.EINVAL;
            IoVec iov;
            iov.Base = buf;
            iov.Len = (long)Math.Min(bufsize, int.MaxValue);
            var uio = new Uio(l.Proc.Vmspace, MemoryMarshal.CreateSpan(ref iov, 1), 0, isRead: true);
            e = Vop.Readlink(l, vp, ref uio);
            rv = iov.Len - uio.Resid;
            return e;
        }
        finally { vp!.Rele(); }
    }

    // ---- attributes --------------------------------------------------------------------------

    private static int Chmod(Lwp l, UserPtr path, uint mode, out long rv) => Fchmodat(l, Abi.AT_FDCWD, path, mode, 0, out rv);

    private static int Fchmod(Lwp l, int fd, uint mode, out long rv)
    {
        rv = 0;
        int e = FdVnode(l, fd, out Vnode? vp);
        return e != 0 ? e : SetMode(l, vp!, mode);
    }

    private static int Fchmodat(Lwp l, int fd, UserPtr path, uint mode, int flag, out long rv)
    {
        rv = 0;
        if ((flag & ~Abi.AT_SYMLINK_NOFOLLOW) != 0) return Abi.EINVAL;
        int e = LookupPath(l, fd, path, follow: (flag & Abi.AT_SYMLINK_NOFOLLOW) == 0, out Vnode? vp);
        return e != 0 ? e : SetMode(l, vp!, mode);
    }

    /// <summary>chmod on a referenced vnode, which it releases. NetBSD genfs_can_chmod rules.</summary>
    private static int SetMode(Lwp l, Vnode vp, uint mode)
    {
        try
        {
            if (vp.Mount.ReadOnly) return Abi.EROFS;
            int e = Vop.Getattr(l, vp, out Vattr cur);
            if (e != 0) return e;
            e = Kauth.Owner(l.Cred, cur.Uid);
            if (e != 0) return e;
            if (!l.Cred.IsRoot)
            {
                if (vp.Type != VType.VDIR && (mode & Abi.S_ISTXT) != 0) return Abi.EFTYPE;
                if ((mode & Abi.S_ISGID) != 0 && !l.Cred.IsMember(cur.Gid)) return Abi.EPERM;
            }
            var va = new Vattr { Mode = mode & (uint)Abi.ALLPERMS, Mask = VaMask.Mode };
            return Vop.Setattr(l, vp, va);
        }
        finally { vp.Rele(); }
    }

    private static int Chown(Lwp l, UserPtr path, uint uid, uint gid, out long rv) => Fchownat(l, Abi.AT_FDCWD, path, uid, gid, 0, out rv);
    private static int Lchown(Lwp l, UserPtr path, uint uid, uint gid, out long rv) => Fchownat(l, Abi.AT_FDCWD, path, uid, gid, Abi.AT_SYMLINK_NOFOLLOW, out rv);

    private static int Fchown(Lwp l, int fd, uint uid, uint gid, out long rv)
    {
        rv = 0;
        int e = FdVnode(l, fd, out Vnode? vp);
        return e != 0 ? e : SetOwner(l, vp!, uid, gid);
    }

    private static int Fchownat(Lwp l, int fd, UserPtr path, uint uid, uint gid, int flag, out long rv)
    {
        rv = 0;
        if ((flag & ~Abi.AT_SYMLINK_NOFOLLOW) != 0) return Abi.EINVAL;
        int e = LookupPath(l, fd, path, follow: (flag & Abi.AT_SYMLINK_NOFOLLOW) == 0, out Vnode? vp);
        return e != 0 ? e : SetOwner(l, vp!, uid, gid);
    }

    /// <summary>chown on a referenced vnode, which it releases. (uid_t)-1 leaves an id as it is.</summary>
    private static int SetOwner(Lwp l, Vnode vp, uint uid, uint gid)
    {
        try
        {
            if (vp.Mount.ReadOnly) return Abi.EROFS;
            int e = Vop.Getattr(l, vp, out Vattr cur);
            if (e != 0) return e;
            uint nuid = uid == uint.MaxValue ? cur.Uid : uid;
            uint ngid = gid == uint.MaxValue ? cur.Gid : gid;
            Cred c = l.Cred;
            if (!c.IsRoot)
            {
                // An owner may only give the file to a group it belongs to, and never to another user.
                if (c.Euid != cur.Uid || nuid != cur.Uid || (ngid != cur.Gid && !c.IsMember(ngid)))
                    return Abi.EPERM;
            }
            var va = new Vattr { Uid = nuid, Gid = ngid, Mask = VaMask.Uid | VaMask.Gid };
            if (!c.IsRoot && (cur.Mode & (Abi.S_ISUID | Abi.S_ISGID)) != 0)
            {
                va.Mode = cur.Mode & ~(uint)(Abi.S_ISUID | Abi.S_ISGID);
                va.Mask |= VaMask.Mode;
            }
            return Vop.Setattr(l, vp, va);
        }
        finally { vp.Rele(); }
    }

    private static int Utimensat(Lwp l, int fd, UserPtr path, UserPtr tptr, int flag, out long rv)
    {
        rv = 0;
        if ((flag & ~Abi.AT_SYMLINK_NOFOLLOW) != 0) return Abi.EINVAL;
        Span<RumpTimespec> ts = stackalloc RumpTimespec[2];
        bool explicitTimes = !tptr.IsNull;
        RumpTimespec now = Clock.Now();
        if (explicitTimes)
        {
            int ce = l.Proc.Vmspace.CopyIn(tptr, MemoryMarshal.AsBytes(ts));
            if (ce != 0) return ce;
        }
        else { ts[0].tv_nsec = Abi.UTIME_NOW; ts[1].tv_nsec = Abi.UTIME_NOW; }
        var va = new Vattr();
        bool onlyNow = true;
        for (int i = 0; i < 2; i++)
        {
            long ns = ts[i].tv_nsec;
            if (ns == Abi.UTIME_OMIT) continue;
            if (ns == Abi.UTIME_NOW) ts[i] = now;
            else if (ns < 0 || ns >= 1_000_000_000) return Abi.EINVAL;
            else onlyNow = false;
            if (i == 0) { va.Atime = ts[0]; va.Mask |= VaMask.Atime; }
            else { va.Mtime = ts[1]; va.Mask |= VaMask.Mtime; }
        }
        Vnode? vp;
        int e = path.IsNull ? FdVnode(l, fd, out vp) : LookupPath(l, fd, path, follow: (flag & Abi.AT_SYMLINK_NOFOLLOW) == 0, out vp);
        if (e != 0) return e;
        try
        {
            if (va.Mask == VaMask.None) return 0;
            if (vp!.Mount.ReadOnly) return Abi.EROFS;
            e = Vop.Getattr(l, vp, out Vattr cur);
            if (e != 0) return e;
            // Setting the current time needs write access; setting chosen times needs ownership.
            if (Kauth.Owner(l.Cred, cur.Uid) != 0)
            {
                if (!onlyNow) return Abi.EPERM;
                e = Kauth.Access(l.Cred, cur.Mode, cur.Uid, cur.Gid, Kauth.VWRITE);
                if (e != 0) return e;
            }
            return Vop.Setattr(l, vp, va);
        }
        finally { vp!.Rele(); }
    }

    private static int Truncate(Lwp l, UserPtr path, long length, out long rv)
    {
        rv = 0;
        if (length < 0) return Abi.EINVAL;
        int e = LookupPath(l, Abi.AT_FDCWD, path, follow: true, out Vnode? vp);
        if (e != 0) return e;
        try
        {
            if (vp!.Type == VType.VDIR) return Abi.EISDIR;
            if (vp.Mount.ReadOnly) return Abi.EROFS;
            e = Namei.Access(l, vp, Kauth.VWRITE);
            if (e != 0) return e;
            return Vop.Setattr(l, vp, new Vattr { Size = length, Mask = VaMask.Size });
        }
        finally { vp!.Rele(); }
    }

    private static int Ftruncate(Lwp l, int fd, long length, out long rv)
    {
        rv = 0;
        if (length < 0) return Abi.EINVAL;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        try
        {
            if (f is not VnodeFile vf || (f.Flag & File.FWRITE) == 0) return Abi.EINVAL;
            if (vf.Vp.Type == VType.VDIR) return Abi.EISDIR;
            return Vop.Setattr(l, vf.Vp, new Vattr { Size = length, Mask = VaMask.Size });
        }
        finally { f.Release(l); }
    }

    private static int Fsync(Lwp l, int fd, out long rv)
    {
        rv = 0;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        int e = f.Fsync(l, dataOnly: false);
        f.Release(l);
        return e;
    }

    private static int Umask(Lwp l, uint newmask, out long rv)
    {
        rv = l.Proc.Umask;
        l.Proc.Umask = newmask & (uint)Abi.ALLPERMS;
        return 0;
    }
}
