using System;
using System.Runtime.InteropServices;
using System.Text;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>Mount-table and whole-file-system calls: mount, unmount, sync, statvfs1, getvfsstat, __getcwd.</summary>
internal static partial class VfsSyscalls
{
    /// <summary>Largest mount-argument structure accepted (the biggest NetBSD one is a few hundred bytes).</summary>
    private const int MaxMountArgs = 4096;

    private static int Mount(Lwp l, UserPtr type, UserPtr path, int flags, UserPtr data, ulong dataLen, out long rv)
    {
        rv = 0;
        int e = Kauth.Privileged(l.Cred);
        if (e != 0) return e;
        Span<byte> tbuf = stackalloc byte[32];
        e = l.Proc.Vmspace.CopyInStr(type, tbuf, out int tlen);
        if (e != 0) return e;
        string fstype = Encoding.UTF8.GetString(tbuf.Slice(0, tlen));
        if ((flags & Abi.MNT_UPDATE) != 0) return Abi.EOPNOTSUPP;
        if (dataLen > MaxMountArgs) return Abi.EINVAL;
        byte[] args = new byte[(int)dataLen];
        if (dataLen > 0)
        {
            e = l.Proc.Vmspace.CopyIn(data, args);
            if (e != 0) return e;
        }
        // Copied in once: the directory looked up is the one whose name the mount records.
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        e = pb.CopyIn(l, path);
        if (e != 0) return e;
        e = Namei.Lookup(l, l.Cred, Abi.AT_FDCWD, pb, follow: true, out Vnode? vp);
        if (e != 0) return e;
        try
        {
            Vfs vfs = V(l);
            if (vfs.FindFs(fstype) == null) return Abi.ENODEV;
            return vfs.DoMount(l, fstype, vp!, pb.ToString(), flags, args, fstype);
        }
        finally { vp!.Rele(); }
    }

    private static int Unmount(Lwp l, UserPtr path, int flags, out long rv)
    {
        rv = 0;
        int e = Kauth.Privileged(l.Cred);
        if (e != 0) return e;
        e = LookupPath(l, Abi.AT_FDCWD, path, follow: true, out Vnode? vp);
        if (e != 0) return e;
        bool isRoot = vp!.IsRoot;
        Mount mp = vp.Mount;
        // Our own reference must not count as a user of the file system.
        vp.Rele();
        if (!isRoot) return Abi.EINVAL;
        return V(l).DoUnmount(l, mp, flags);
    }

    private static int Sync(Lwp l, out long rv)
    {
        rv = 0;
        V(l).SyncAll(l, wait: false);
        return 0;
    }

    private static int Statvfs1(Lwp l, UserPtr path, UserPtr buf, int flags, out long rv)
    {
        rv = 0;
        int e = LookupPath(l, Abi.AT_FDCWD, path, follow: true, out Vnode? vp);
        if (e != 0) return e;
        e = FillStatvfs(l, vp!.Mount, out RumpStatvfs sv);
        vp.Rele();
        return e != 0 ? e : l.Proc.Vmspace.CopyOut(in sv, buf);
    }

    private static int Fstatvfs1(Lwp l, int fd, UserPtr buf, int flags, out long rv)
    {
        rv = 0;
        int e = FdVnode(l, fd, out Vnode? vp);
        if (e != 0) return e;
        e = FillStatvfs(l, vp!.Mount, out RumpStatvfs sv);
        vp.Rele();
        return e != 0 ? e : l.Proc.Vmspace.CopyOut(in sv, buf);
    }

    /// <summary>
    /// getvfsstat(2) (NetBSD's __getvfsstat90, the struct statvfs of statvfs1): every mount in the
    /// order they were made, as many as fit in bufsize; with a null buf, how many there are. A mount
    /// whose file system fails its statvfs (going away meanwhile) is left out, as NetBSD does.
    /// </summary>
    private static unsafe int Getvfsstat(Lwp l, UserPtr buf, ulong bufsize, int flags, out long rv)
    {
        rv = 0;
        Vfs vfs = V(l);
        vfs.MountLock.EnterRead();
        Mount[] ms = new Mount[vfs.Mounts.Count];
        for (int i = 0; i < ms.Length; i++) ms[i] = vfs.Mounts[i];
        vfs.MountLock.Exit();
        if (buf.IsNull)
        {
            rv = ms.Length;
            return 0;
        }
        ulong max = bufsize / (ulong)sizeof(RumpStatvfs);
        long n = 0;
        foreach (Mount mp in ms)
        {
            if ((ulong)n >= max) break;
            if (FillStatvfs(l, mp, out RumpStatvfs sv) != 0) continue;
            int e = l.Proc.Vmspace.CopyOut(in sv, buf.Add(n * sizeof(RumpStatvfs)));
            if (e != 0) return e;
            n++;
        }
        rv = n;
        return 0;
    }

    /// <summary>The VFS part of statvfs (flags, ids, names) around the file system's own numbers.</summary>
    internal static unsafe int FillStatvfs(Lwp l, Mount mp, out RumpStatvfs sv)
    {
        sv = default;
        int e = Vop.Statvfs(l, mp, ref sv);
        if (e != 0) return e;
        sv.f_flag = (ulong)(mp.Flags & (Abi.MNT_RDONLY | Abi.MNT_NOEXEC | Abi.MNT_NOSUID | Abi.MNT_NODEV | Abi.MNT_SYNCHRONOUS | Abi.MNT_ASYNC | Abi.MNT_NOATIME)) | Abi.ST_LOCAL;
        sv.f_fsid = mp.Fsid;
        sv.f_fsidx.__fsid_val[0] = (int)mp.Fsid;
        sv.f_fsidx.__fsid_val[1] = 0;
        sv.f_namemax = Namei.NameMax;
        fixed (byte* p = sv.f_fstypename) Put(new Span<byte>(p, 32), mp.FsType);
        fixed (byte* p = sv.f_mntonname) Put(new Span<byte>(p, 1024), mp.MountedOn);
        fixed (byte* p = sv.f_mntfromname) Put(new Span<byte>(p, 1024), mp.MountedFrom);
        return 0;
    }

    private static void Put(Span<byte> dst, string s)
    {
        int n = Encoding.UTF8.GetBytes(s.AsSpan(0, Math.Min(s.Length, dst.Length - 1)), dst);
        dst.Slice(n).Clear();
    }

    /// <summary>
    /// __getcwd(2): walks ".." from the current directory up to the process root, finding each
    /// directory's name in its parent by directory number. Returns the length including the NUL.
    /// </summary>
    private const int GetcwdMax = 4 * Namei.PathMax;

    private static unsafe int Getcwd(Lwp l, UserPtr bufp, ulong length, out long rv)
    {
        rv = 0;
        if (length < 2) return Abi.ERANGE;
        Vfs vfs = V(l);
        CwdInfo cwd = vfs.Cwd(l.Proc);
        Vnode cur = cwd.GetCdir();
        Vnode root = cwd.GetRdir();
        // The path is built right to left at the end of this buffer; NetBSD allows MAXPATHLEN*4.
        Span<byte> path = stackalloc byte[GetcwdMax];
        int start = path.Length;
        path[--start] = 0;
        int e = 0;
        try
        {
            for (int depth = 0; cur != root && depth < GetcwdMax; depth++)
            {
                // Step up from a mount's root to the directory it covers: that is what has a name.
                while (cur.IsRoot && cur.Mount.Covered != null && cur != root)
                {
                    // Unmounted meanwhile (by force: cur is dead): the directory is gone.
                    Vnode? c = cur.Mount.Covered;
                    if (c == null || !c.TryRef()) return Abi.ENOENT;
                    cur.Rele();
                    cur = c;
                }
                if (cur == root) break;
                // The file system's own "..", as NetBSD's getcwd: no mount crossing, no namei.
                e = Vop.Lookup(l, cur, "..", out Vnode? parent);
                if (e != 0) return e;
                e = NameInParent(l, vfs, parent!, cur, path, ref start);
                cur.Rele();
                cur = parent!;
                if (e != 0) return e;
                path[--start] = (byte)'/';
            }
            if (start == path.Length - 1) path[--start] = (byte)'/';
            int len = path.Length - start;
            if ((ulong)len > length) return Abi.ERANGE;
            e = l.Proc.Vmspace.CopyOut(path.Slice(start), bufp);
            rv = len;
            return e;
        }
        finally
        {
            cur.Rele();
            root.Rele();
        }
    }

    /// <summary>Finds the entry of <paramref name="dir"/> whose number is <paramref name="child"/>'s and prepends its name.</summary>
    private static unsafe int NameInParent(Lwp l, Vfs vfs, Vnode dir, Vnode child, Span<byte> path, ref int start)
    {
        int e = VnodeLayer.Getattr(l, child, out Vattr cva);
        if (e != 0) return e;
        byte* buf = stackalloc byte[4096];
        long cookie = 0;
        while (true)
        {
            IoVec iov;
            iov.Base = new UserPtr((nint)buf);
            iov.Len = 4096;
            var uio = new Uio(vfs.KernelVm, MemoryMarshal.CreateSpan(ref iov, 1), 0, isRead: true);
            e = VnodeLayer.Readdir(l, dir, ref uio, ref cookie);
            if (e != 0) return e;
            int got = 4096 - (int)uio.Resid;
            if (got == 0) return Abi.ENOENT;
            var span = new ReadOnlySpan<byte>(buf, got);
            while (Dirent.TryParse(span, out ulong ino, out int reclen, out _, out ReadOnlySpan<byte> name))
            {
                bool dot = name.Length == 1 && name[0] == '.' || name.Length == 2 && name[0] == '.' && name[1] == '.';
                if (ino == cva.Fileid && !dot)
                {
                    if (name.Length + 1 > start) return Abi.ERANGE; // longer than any buffer NetBSD accepts
                    start -= name.Length;
                    name.CopyTo(path.Slice(start));
                    return 0;
                }
                span = span.Slice(reclen);
            }
        }
    }
}
