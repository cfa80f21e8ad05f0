using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The file system calls (NetBSD vfs_syscalls.c, vfs_getcwd.c): each copies its arguments in once
/// (paths into a <see cref="PathBuf"/>), turns paths and descriptors into vnodes with
/// <see cref="Namei"/> and the descriptor table, checks what belongs to the call's form (flags,
/// the shapes of paths: "/", ".", trailing slashes), and hands the rest to the vnode layer
/// (<see cref="VnodeLayer"/>) with the calling process's credentials. Every vnode reference taken
/// here is dropped on every path. Namespace changes that the file system reports as overtaken by a
/// concurrent change (ERESTART) are looked up again from the same path buffer.
/// </summary>
internal static partial class VfsSyscalls
{
    private static Vfs V(Lwp l) => l.Kernel.GetService<Vfs>()!;

    /// <summary>Looks up a path the caller gives once (copied in once, into a path buffer).</summary>
    private static int LookupPath(Lwp l, int dirfd, UserPtr path, bool follow, out Vnode? vp)
    {
        vp = null;
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, path);
        return e != 0 ? e : Namei.Lookup(l, l.Cred, dirfd, pb, follow, out vp);
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

    // ---- open ------------------------------------------------------------------------------

    private static int Open(Lwp l, UserPtr path, int flags, uint mode, out long rv)
        => Openat(l, Abi.AT_FDCWD, path, flags, mode, out rv);

    private static int Openat(Lwp l, int fd, UserPtr path, int flags, uint mode, out long rv)
    {
        rv = 0;
        if ((flags & Abi.O_ACCMODE) == Abi.O_ACCMODE) return Abi.EINVAL;
        int fflag = VnodeLayer.FFlags(flags);
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, path);
        if (e != 0) return e;
        e = VnodeLayer.Open(l, l.Cred, fd, pb, fflag, mode & ~l.Proc.Umask, out Vnode? vp);
        if (e != 0) return e;
        var f = new VnodeFile(l, vp!, fflag & ~(Abi.O_CREAT | Abi.O_EXCL | Abi.O_TRUNC | Abi.O_NOFOLLOW | Abi.O_DIRECTORY | Abi.O_CLOEXEC));
        // A device's driver or a FIFO's pipe opens too (specfs, fifofs), and gets the file's I/O.
        if ((e = SpecialIo.Attach(l, f)) != 0) { f.Release(l); return e; }
        e = l.Proc.Fd.Alloc(f, (flags & Abi.O_CLOEXEC) != 0, out int nfd);
        if (e != 0) { f.Release(l); return e; }
        rv = nfd;
        return 0;
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
        e = VnodeLayer.Getattr(l, vp!, out Vattr va);
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
        // access(2) answers for the real ids unless AT_EACCESS asks for the effective ones.
        Cred c = l.Cred;
        Cred who = (flag & Abi.AT_EACCESS) != 0 || amode == Abi.F_OK ? c : new Cred(c.Uid, c.Uid, c.Svuid, c.Gid, c.Gid, c.Svgid, c.Groups.ToArray());
        e = VnodeLayer.CheckAccess(l, who, vp!, amode);
        vp!.Rele();
        return e;
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
        do e = MkdiratOnce(l, fd, pb, mode);
        while (e == Abi.ERESTART && ++tries < VnodeLayer.MaxRestarts);
        return VnodeLayer.Settle(e);
    }

    private static int MkdiratOnce(Lwp l, int fd, in PathBuf path, uint mode)
    {
        int e = Namei.LookupParent(l, l.Cred, fd, path, followLast: false, out NameiParent nd);
        if (e != 0) return e;
        try
        {
            if (nd.Vp != null || nd.Name == null) return Abi.EEXIST;
            e = VnodeLayer.Mkdir(l, l.Cred, nd.Dvp, nd.Name, mode & ~l.Proc.Umask, out Vnode? vp);
            vp?.Rele();
            return e;
        }
        finally { nd.Release(); }
    }

    private static int Rmdir(Lwp l, UserPtr path, out long rv) => Unlinkat(l, Abi.AT_FDCWD, path, Abi.AT_REMOVEDIR, out rv);
    private static int Unlink(Lwp l, UserPtr path, out long rv) => Unlinkat(l, Abi.AT_FDCWD, path, 0, out rv);

    private static int Unlinkat(Lwp l, int fd, UserPtr path, int flag, out long rv)
    {
        rv = 0;
        if ((flag & ~Abi.AT_REMOVEDIR) != 0) return Abi.EINVAL;
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, path);
        if (e != 0) return e;
        int tries = 0;
        do e = UnlinkatOnce(l, fd, pb, (flag & Abi.AT_REMOVEDIR) != 0);
        while (e == Abi.ERESTART && ++tries < VnodeLayer.MaxRestarts);
        return VnodeLayer.Settle(e);
    }

    private static int UnlinkatOnce(Lwp l, int fd, in PathBuf path, bool rmdir)
    {
        int e = Namei.LookupParent(l, l.Cred, fd, path, followLast: false, out NameiParent nd);
        if (e != 0) return e;
        try
        {
            if (nd.Name == null) return rmdir ? Abi.EBUSY : Abi.EISDIR; // "/" or "x/.."-like paths
            if (nd.Vp == null && !nd.IsDot && !nd.IsDotDot) return Abi.ENOENT;
            // "name/" demands a directory: unlink of a file so named is ENOTDIR (of a directory, EPERM below).
            if (!rmdir && nd.TrailingSlash && nd.Vp != null && nd.Vp.Type != VType.VDIR) return Abi.ENOTDIR;
            return VnodeLayer.Remove(l, l.Cred, nd.Dvp, nd.Name, nd.Vp!, rmdir);
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
        int e = vp.Type != VType.VDIR ? Abi.ENOTDIR : VnodeLayer.Access(l, vp, Kauth.VEXEC, l.Cred);
        if (e != 0) { vp.Rele(); return e; }
        V(l).Cwd(l.Proc).SetCdir(vp);
        return 0;
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
        do e = RenameatOnce(l, fromfd, fpb, tofd, tpb);
        while (e == Abi.ERESTART && ++tries < VnodeLayer.MaxRestarts);
        return VnodeLayer.Settle(e);
    }

    private static int RenameatOnce(Lwp l, int fromfd, in PathBuf from, int tofd, in PathBuf to)
    {
        int e = Namei.LookupParent(l, l.Cred, fromfd, from, followLast: false, out NameiParent fnd);
        if (e != 0) return e;
        e = Namei.LookupParent(l, l.Cred, tofd, to, followLast: false, out NameiParent tnd);
        if (e != 0) { fnd.Release(); return e; }
        try
        {
            if (fnd.Name == null || fnd.IsDot || fnd.IsDotDot || tnd.Name == null || tnd.IsDot || tnd.IsDotDot) return Abi.EINVAL;
            if (fnd.Vp == null) return Abi.ENOENT;
            return VnodeLayer.Rename(l, l.Cred, fnd.Dvp, fnd.Name, fnd.Vp!, tnd.Dvp, tnd.Name, tnd.Vp, fnd.TrailingSlash || tnd.TrailingSlash);
        }
        finally
        {
            tnd.Release();
            fnd.Release();
        }
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
            // As NetBSD's linkat: a directory is refused before the new name is looked at.
            if (vp!.Type == VType.VDIR) return Abi.EPERM;
            Span<char> s = stackalloc char[Namei.PathMax];
            var pb = new PathBuf(s);
            e = pb.CopyIn(l, name2);
            if (e != 0) return e;
            e = Namei.LookupParent(l, l.Cred, fd2, pb, followLast: false, out NameiParent nd);
            if (e != 0) return e;
            try
            {
                if (nd.Vp != null || nd.Name == null) return Abi.EEXIST;
                if (nd.TrailingSlash) return Abi.ENOENT;
                return VnodeLayer.Link(l, l.Cred, nd.Dvp, nd.Name, vp);
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
        do e = SymlinkatOnce(l, target.Slice(0, tlen), fd, pb);
        while (e == Abi.ERESTART && ++tries < VnodeLayer.MaxRestarts);
        return VnodeLayer.Settle(e);
    }

    private static int SymlinkatOnce(Lwp l, ReadOnlySpan<byte> target, int fd, in PathBuf path2)
    {
        int e = Namei.LookupParent(l, l.Cred, fd, path2, followLast: false, out NameiParent nd);
        if (e != 0) return e;
        try
        {
            if (nd.Vp != null || nd.Name == null) return Abi.EEXIST;
            e = VnodeLayer.Symlink(l, l.Cred, nd.Dvp, nd.Name, target, (uint)Abi.ACCESSPERMS & ~l.Proc.Umask, out Vnode? vp);
            vp?.Rele();
            return e;
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
        IoVec iov;
        iov.Base = buf;
        iov.Len = (long)Math.Min(bufsize, int.MaxValue);
        var uio = new Uio(l.Proc.Vmspace, MemoryMarshal.CreateSpan(ref iov, 1), 0, isRead: true);
        e = VnodeLayer.Readlink(l, vp!, ref uio);
        vp!.Rele();
        rv = iov.Len - uio.Resid;
        return e;
    }

    // ---- attributes --------------------------------------------------------------------------

    private static int Chmod(Lwp l, UserPtr path, uint mode, out long rv) => Fchmodat(l, Abi.AT_FDCWD, path, mode, 0, out rv);

    private static int Fchmod(Lwp l, int fd, uint mode, out long rv)
    {
        rv = 0;
        int e = FdVnode(l, fd, out Vnode? vp);
        if (e != 0) return e;
        e = VnodeLayer.Chmod(l, l.Cred, vp!, mode);
        vp!.Rele();
        return e;
    }

    private static int Fchmodat(Lwp l, int fd, UserPtr path, uint mode, int flag, out long rv)
    {
        rv = 0;
        if ((flag & ~Abi.AT_SYMLINK_NOFOLLOW) != 0) return Abi.EINVAL;
        int e = LookupPath(l, fd, path, follow: (flag & Abi.AT_SYMLINK_NOFOLLOW) == 0, out Vnode? vp);
        if (e != 0) return e;
        e = VnodeLayer.Chmod(l, l.Cred, vp!, mode);
        vp!.Rele();
        return e;
    }

    private static int Chown(Lwp l, UserPtr path, uint uid, uint gid, out long rv) => Fchownat(l, Abi.AT_FDCWD, path, uid, gid, 0, out rv);
    private static int Lchown(Lwp l, UserPtr path, uint uid, uint gid, out long rv) => Fchownat(l, Abi.AT_FDCWD, path, uid, gid, Abi.AT_SYMLINK_NOFOLLOW, out rv);

    private static int Fchown(Lwp l, int fd, uint uid, uint gid, out long rv)
    {
        rv = 0;
        int e = FdVnode(l, fd, out Vnode? vp);
        if (e != 0) return e;
        e = VnodeLayer.Chown(l, l.Cred, vp!, uid, gid);
        vp!.Rele();
        return e;
    }

    private static int Fchownat(Lwp l, int fd, UserPtr path, uint uid, uint gid, int flag, out long rv)
    {
        rv = 0;
        if ((flag & ~Abi.AT_SYMLINK_NOFOLLOW) != 0) return Abi.EINVAL;
        int e = LookupPath(l, fd, path, follow: (flag & Abi.AT_SYMLINK_NOFOLLOW) == 0, out Vnode? vp);
        if (e != 0) return e;
        e = VnodeLayer.Chown(l, l.Cred, vp!, uid, gid);
        vp!.Rele();
        return e;
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
        e = VnodeLayer.SetTimes(l, l.Cred, vp!, va, onlyNow);
        vp!.Rele();
        return e;
    }

    private static int Truncate(Lwp l, UserPtr path, long length, out long rv)
    {
        rv = 0;
        if (length < 0) return Abi.EINVAL;
        int e = LookupPath(l, Abi.AT_FDCWD, path, follow: true, out Vnode? vp);
        if (e != 0) return e;
        e = VnodeLayer.Truncate(l, l.Cred, vp!, length, opened: false);
        vp!.Rele();
        return e;
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
            return VnodeLayer.Truncate(l, l.Cred, vf.Vp, length, opened: true);
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
