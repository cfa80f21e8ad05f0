using System;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Tmpfs;

/// <summary>
/// tmpfs's vnode operations (NetBSD tmpfs_vnops.c). Stateless: everything is reached through the
/// vnode's node. Locking and reference rules are in <see cref="TmpfsMount"/>'s header. Namespace
/// changes run whole under the mount's namespace lock, exclusive, so each is atomic; they check
/// again what the VFS checked (existence, types) because the names may have changed since its lookup.
/// </summary>
internal sealed class TmpfsVnodeOps : VnodeOps
{
    /// <summary>Bytes a directory entry counts for in the directory's size (st_size).</summary>
    private const int DirEntrySize = 32;
    private const int PageMask = TmpfsMount.PageSize - 1;

    private static TmpfsNode N(Vnode vp) => (TmpfsNode)vp.Data;

    // ---- Names ---------------------------------------------------------------------------------

    public override int Lookup(Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        vp = null;
        TmpfsNode dn = N(dvp);
        if (dn.Dir == null) return Abi.ENOTDIR;
        if (name.Length == 1 && name[0] == '.') { vp = dvp.Ref(); return 0; }
        TmpfsMount tm = dn.Tm;
        TmpfsNode? n;
        tm.NsLock.EnterRead();
        if (name.Length == 2 && name[0] == '.' && name[1] == '.')
            n = dn.Parent; // a removed directory has no parent any more (NetBSD: ENOENT)
        else
            n = dn.Dir.Lookup(name)?.Node;
        tm.NsLock.Exit();
        if (n == null) return Abi.ENOENT;
        // Removed meanwhile: the load finds no node and the name is gone (ENOENT), as it should be.
        return tm.Mp.Vfs.Vcache.Get(tm.Mp, n.Id, n, out vp);
    }

    public override int Create(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp)
    {
        VType t = va.Type == VType.VNON ? VType.VREG : va.Type;
        if (t == VType.VDIR || t == VType.VLNK || t == VType.VBAD) { vp = null; return Abi.EINVAL; }
        ulong rdev = t == VType.VCHR || t == VType.VBLK ? va.Rdev : 0;
        return MakeNode(dvp, name, t, va.Mode, va.Uid, rdev, default, out vp);
    }

    public override int Mkdir(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp)
        => MakeNode(dvp, name, VType.VDIR, va.Mode, va.Uid, 0, default, out vp);

    public override int Symlink(Vnode dvp, string name, in Vattr va, ReadOnlySpan<byte> target, Lwp l, out Vnode? vp)
        => MakeNode(dvp, name, VType.VLNK, va.Mode, va.Uid, 0, target, out vp);

    /// <summary>
    /// Creates a node of any type under <paramref name="name"/> in <paramref name="dvp"/>, owned by
    /// <paramref name="uid"/>; returns it referenced. As NetBSD: the node and its vnode are made first
    /// (VFS_NEWVNODE through the vnode cache), then the name is entered; if that fails, releasing
    /// the vnode frees the node.
    /// </summary>
    private static int MakeNode(Vnode dvp, string name, VType type, uint mode, uint uid, ulong rdev, ReadOnlySpan<byte> target, out Vnode? vp)
    {
        vp = null;
        TmpfsNode dn = N(dvp);
        if (dn.Dir == null) return Abi.ENOTDIR;
        TmpfsMount tm = dn.Tm;
        RumpTimespec now = Clock.Now();
        byte[]? tbytes = type == VType.VLNK ? target.ToArray() : null;
        // BSD semantics: the group comes from the directory, not the caller.
        uint gid = dn.Gid;
        int e = tm.Mp.Vfs.Vcache.New(tm.Mp, v =>
        {
            tm.NsLock.EnterWrite();
            try
            {
                if (dn.Nlink == 0) return Abi.ENOENT;
                if (dn.Dir.Lookup(name) != null) return Abi.EEXIST;
                TmpfsNode? n = tm.AllocNodeLocked(type, mode, uid, gid, rdev, now, tbytes != null ? TmpfsMount.TargetCost(tbytes.Length) : 0);
                if (n == null) return Abi.ENOSPC;
                if (tbytes != null) { n.Target = tbytes; n.Size = tbytes.Length; }
                n.Vnode = v;
                v.InitNew(n.Id, type, tm.Ops, n);
                return 0;
            }
            finally { tm.NsLock.Exit(); }
        }, out Vnode? nvp);
        if (e != 0) return e;
        TmpfsNode node = N(nvp!);
        tm.NsLock.EnterWrite();
        try
        {
            // Checked again: the lock was let go while the vnode was made.
            if (dn.Nlink == 0) e = Abi.ENOENT;
            else if (dn.Dir.Lookup(name) != null) e = Abi.EEXIST;
            else if (type == VType.VDIR && dn.Nlink >= TmpfsMount.LinkMax) e = Abi.EMLINK;
            else if (!tm.ChargeMeta(TmpfsMount.EntryCost(name))) e = Abi.ENOSPC;
            else
            {
                if (type == VType.VDIR)
                {
                    node.Parent = dn;
                    node.Nlink = 2;
                    dn.Nlink++;
                }
                else
                {
                    node.Nlink = 1;
                }
                dn.Dir.Add(name, node);
                dn.Touch(TimeFields.Modify | TimeFields.Change, now);
            }
        }
        finally { tm.NsLock.Exit(); }
        if (e != 0) { nvp!.Rele(); return e; }
        vp = nvp;
        return 0;
    }

    public override int Link(Vnode dvp, string name, Vnode vp, Lwp l)
    {
        if (vp.Mount != dvp.Mount) return Abi.EXDEV;
        TmpfsNode dn = N(dvp), n = N(vp);
        if (dn.Dir == null) return Abi.ENOTDIR;
        if (n.Type == VType.VDIR) return Abi.EPERM;
        TmpfsMount tm = dn.Tm;
        RumpTimespec now = Clock.Now();
        tm.NsLock.EnterWrite();
        try
        {
            if (dn.Nlink == 0) return Abi.ENOENT;
            if (dn.Dir.Lookup(name) != null) return Abi.EEXIST;
            // A removed file cannot be given a name again.
            if (n.Nlink == 0) return Abi.ENOENT;
            if (n.Nlink >= TmpfsMount.LinkMax) return Abi.EMLINK;
            if (!tm.ChargeMeta(TmpfsMount.EntryCost(name))) return Abi.ENOSPC;
            dn.Dir.Add(name, n);
            n.Nlink++;
            n.Touch(TimeFields.Change, now);
            dn.Touch(TimeFields.Modify | TimeFields.Change, now);
            return 0;
        }
        finally { tm.NsLock.Exit(); }
    }

    public override int Remove(Vnode dvp, string name, Vnode vp, Lwp l) => Unlink(dvp, name, vp, dir: false);

    public override int Rmdir(Vnode dvp, string name, Vnode vp, Lwp l) => Unlink(dvp, name, vp, dir: true);

    /// <summary>Removes a file's name (remove) or an empty directory (rmdir, <paramref name="dir"/>).</summary>
    private static int Unlink(Vnode dvp, string name, Vnode vp, bool dir)
    {
        TmpfsNode dn = N(dvp);
        if (dn.Dir == null) return Abi.ENOTDIR;
        TmpfsMount tm = dn.Tm;
        RumpTimespec now = Clock.Now();
        tm.NsLock.EnterWrite();
        try
        {
            TmpfsDirent? d = dn.Dir.Lookup(name);
            if (d == null) return Abi.ENOENT;
            TmpfsNode n = d.Node;
            // The name now names another file than the VFS looked up: it looks again.
            if (n != N(vp)) return Abi.ERESTART;
            if (!dir && n.Type == VType.VDIR) return Abi.EPERM;
            if (dir)
            {
                if (n.Type != VType.VDIR) return Abi.ENOTDIR;
                if (n == dn) return Abi.EINVAL;
                if (n.Dir!.Count != 0) return Abi.ENOTEMPTY;
                if (vp.MountedHere != null) return Abi.EBUSY;
            }
            dn.Dir.Remove(d);
            tm.UnchargeMeta(TmpfsMount.EntryCost(d.Name));
            if (dir)
            {
                // Its own "." and the parent's entry go; so does its ".." link to the parent.
                n.Nlink = 0;
                n.Parent = null;
                dn.Nlink--;
            }
            else n.Nlink--;
            n.Touch(TimeFields.Change, now);
            dn.Touch(TimeFields.Modify | TimeFields.Change, now);
            tm.FreeIfUnusedLocked(n);
            return 0;
        }
        finally { tm.NsLock.Exit(); }
    }

    public override int Rename(Vnode fdvp, string fname, Vnode fvp, Vnode tdvp, string tname, Vnode? tvp, Lwp l)
    {
        if (fdvp.Mount != tdvp.Mount || fvp.Mount != fdvp.Mount) return Abi.EXDEV;
        TmpfsNode fdn = N(fdvp), tdn = N(tdvp);
        if (fdn.Dir == null || tdn.Dir == null) return Abi.ENOTDIR;
        TmpfsMount tm = fdn.Tm;
        RumpTimespec now = Clock.Now();
        tm.NsLock.EnterWrite();
        try
        {
            // Both names are looked up again: under the lock they cannot change until we are done.
            TmpfsDirent? fd = fdn.Dir.Lookup(fname);
            if (fd == null) return Abi.ENOENT;
            if (tdn.Nlink == 0) return Abi.ENOENT;
            TmpfsNode fn = fd.Node;
            TmpfsDirent? td = tdn.Dir.Lookup(tname);
            TmpfsNode? tn = td?.Node;
            // A name changed since the VFS looked them up: it looks again.
            if (fn != N(fvp) || tn != (tvp == null ? null : N(tvp))) return Abi.ERESTART;
            // Two names of the same file: POSIX says do nothing.
            if (tn == fn) return 0;
            bool isDir = fn.Type == VType.VDIR;
            if (isDir)
            {
                // A directory cannot move into itself or below itself.
                for (TmpfsNode? a = tdn; a != null; a = a.Parent == a ? null : a.Parent)
                    if (a == fn) return Abi.EINVAL;
                if (fdn != tdn && tn == null && tdn.Nlink >= TmpfsMount.LinkMax) return Abi.EMLINK;
            }
            if (tn != null)
            {
                if (isDir)
                {
                    if (tn.Type != VType.VDIR) return Abi.ENOTDIR;
                    if (tn.Dir!.Count != 0) return Abi.ENOTEMPTY;
                    if (tvp!.MountedHere != null) return Abi.EBUSY;
                }
                else if (tn.Type == VType.VDIR)
                {
                    return Abi.EISDIR;
                }
            }

            // The new entry is charged before anything changes (the old ones are given back below).
            if (!tm.ChargeMeta(TmpfsMount.EntryCost(tname))) return Abi.ENOSPC;

            // Checks are done; nothing below fails.
            if (tn != null)
            {
                tdn.Dir.Remove(td!);
                tm.UnchargeMeta(TmpfsMount.EntryCost(td!.Name));
                if (tn.Type == VType.VDIR)
                {
                    tn.Nlink = 0;
                    tn.Parent = null;
                    tdn.Nlink--;
                }
                else
                {
                    tn.Nlink--;
                }
                tn.Touch(TimeFields.Change, now);
            }
            fdn.Dir.Remove(fd);
            tm.UnchargeMeta(TmpfsMount.EntryCost(fd.Name));
            tdn.Dir.Add(tname, fn);
            if (isDir && fdn != tdn)
            {
                // Its ".." now links the new parent.
                fdn.Nlink--;
                tdn.Nlink++;
                fn.Parent = tdn;
            }
            fn.Touch(TimeFields.Change, now);
            fdn.Touch(TimeFields.Modify | TimeFields.Change, now);
            if (tdn != fdn) tdn.Touch(TimeFields.Modify | TimeFields.Change, now);
            if (tn != null) tm.FreeIfUnusedLocked(tn);
            return 0;
        }
        finally { tm.NsLock.Exit(); }
    }

    /// <summary>A node without names goes as soon as nothing references its vnode.</summary>
    public override bool Inactive(Vnode vp) => N(vp).Nlink == 0;

    public override void Reclaim(Vnode vp)
    {
        TmpfsNode n = N(vp);
        TmpfsMount tm = n.Tm;
        tm.NsLock.EnterWrite();
        n.Vnode = null;
        tm.FreeIfUnusedLocked(n);
        tm.NsLock.Exit();
    }

    public override int Open(Vnode vp, int fflag, Lwp l)
    {
        // Only "." of a removed directory can reach a node without a name (NetBSD: ENOENT).
        return N(vp).Nlink == 0 ? Abi.ENOENT : 0;
    }

    // ---- Attributes ----------------------------------------------------------------------------

    /// <summary>
    /// Permission check without the node lock: mode, uid and gid are single words, each read
    /// whole; a chmod racing with the check is ordered either before or after it.
    /// </summary>
    public override int Access(Vnode vp, int acc, Cred cred)
    {
        TmpfsNode n = N(vp);
        return Kauth.Access(cred, System.Threading.Volatile.Read(ref n.Mode), System.Threading.Volatile.Read(ref n.Uid), System.Threading.Volatile.Read(ref n.Gid), acc, n.Type == VType.VDIR);
    }

    public override int Getattr(Vnode vp, out Vattr va)
    {
        TmpfsNode n = N(vp);
        va = default;
        va.Type = n.Type;
        va.Fsid = vp.Mount.Fsid;
        va.Fileid = n.Id;
        va.Gen = n.Gen;
        va.Rdev = n.Rdev;
        va.Blocksize = TmpfsMount.PageSize;
        va.Nlink = (uint)n.Nlink;
        n.Lock.EnterRead();
        va.Mode = n.Mode;
        va.Uid = n.Uid;
        va.Gid = n.Gid;
        va.Flags = n.Flags;
        va.Mtime = n.Mtime;
        va.Ctime = n.Ctime;
        va.Birthtime = n.Birthtime;
        n.TimeLock.Enter();
        va.Atime = n.Atime;
        n.TimeLock.Exit();
        if (n.Dir != null)
        {
            va.Size = (n.Dir.Count + 2L) * DirEntrySize;
            va.Bytes = va.Size;
        }
        else
        {
            va.Size = n.Size;
            va.Bytes = n.Data != null ? n.Data.Pages * TmpfsMount.PageSize : n.Size;
        }
        n.Lock.Exit();
        return 0;
    }

    public override int Setattr(Vnode vp, in Vattr va, Lwp l)
    {
        TmpfsNode n = N(vp);
        TmpfsMount tm = n.Tm;
        VaMask m = va.Mask;
        bool size = (m & VaMask.Size) != 0;
        if (size)
        {
            if (n.Type == VType.VDIR) return Abi.EISDIR;
            if (n.Type != VType.VREG) return Abi.EINVAL;
            if (va.Size < 0) return Abi.EINVAL;
            if (va.Size > TmpfsMount.MaxFileSize) return Abi.EFBIG;
        }
        RumpTimespec now = Clock.Now();
        n.Lock.EnterWrite();
        try
        {
            if (size)
            {
                if (va.Size < n.Size) n.Data!.Truncate(va.Size, tm);
                // Growing needs no pages: the new range is a hole, and pages past the old EOF are zero.
                n.Size = va.Size;
                n.Mtime = now;
            }
            if ((m & VaMask.Uid) != 0) n.Uid = va.Uid;
            if ((m & VaMask.Gid) != 0) n.Gid = va.Gid;
            // Set-id bits an ordinary user's chown drops come in the mask (the VFS decides).
            if ((m & VaMask.Mode) != 0) n.Mode = va.Mode & 0xfff;
            if ((m & VaMask.Flags) != 0) n.Flags = va.Flags;
            if ((m & VaMask.Atime) != 0 && va.Atime.tv_nsec != Abi.UTIME_OMIT) n.Atime = va.Atime;
            if ((m & VaMask.Mtime) != 0 && va.Mtime.tv_nsec != Abi.UTIME_OMIT) n.Mtime = va.Mtime;
            if (m != VaMask.None) n.Ctime = now;
            return 0;
        }
        finally { n.Lock.Exit(); }
    }

    // ---- Data ----------------------------------------------------------------------------------

    public override int Read(Vnode vp, ref Uio uio, int ioflag, Lwp l)
    {
        TmpfsNode n = N(vp);
        if (n.Type != VType.VREG) return n.Type == VType.VDIR ? Abi.EISDIR : Abi.EINVAL;
        if (uio.Offset < 0) return Abi.EINVAL;
        if (uio.Resid == 0) return 0;
        TmpfsData data = n.Data!;
        bool atime = n.Tm.UpdateAtime && (ioflag & IoFlag.NoAtime) == 0;
        RumpTimespec now = atime ? Clock.Now() : default;
        int e = 0;
        n.Lock.EnterRead();
        long size = n.Size;
        while (uio.Resid > 0 && uio.Offset < size)
        {
            long off = uio.Offset;
            int pgoff = (int)(off & PageMask);
            int len = (int)Math.Min(TmpfsMount.PageSize - pgoff, Math.Min(uio.Resid, size - off));
            byte[]? p = data.Get(off >> TmpfsMount.PageShift);
            e = p != null ? uio.Move(new ReadOnlySpan<byte>(p, pgoff, len)) : uio.MoveZeros(len);
            if (e != 0) break;
        }
        if (atime) n.TouchAtimeShared(now);
        n.Lock.Exit();
        return e;
    }

    public override int Write(Vnode vp, ref Uio uio, int ioflag, Lwp l)
    {
        TmpfsNode n = N(vp);
        if (n.Type != VType.VREG) return n.Type == VType.VDIR ? Abi.EISDIR : Abi.EINVAL;
        if (uio.Resid == 0) return 0;
        TmpfsMount tm = n.Tm;
        TmpfsData data = n.Data!;
        RumpTimespec now = Clock.Now();
        int e = 0;
        n.Lock.EnterWrite();
        try
        {
            if ((ioflag & IoFlag.Append) != 0) uio.Offset = n.Size;
            if (uio.Offset < 0) return Abi.EINVAL;
            if (uio.Offset >= TmpfsMount.MaxFileSize || uio.Resid > TmpfsMount.MaxFileSize - uio.Offset) return Abi.EFBIG;
            long start = uio.Resid;
            while (uio.Resid > 0)
            {
                long off = uio.Offset;
                int pgoff = (int)(off & PageMask);
                int len = (int)Math.Min(TmpfsMount.PageSize - pgoff, uio.Resid);
                byte[]? p = data.GetOrAlloc(off >> TmpfsMount.PageShift, tm);
                if (p == null) { e = Abi.ENOSPC; break; }
                e = uio.Move(new Span<byte>(p, pgoff, len));
                // A fault part-way may still have moved some bytes: they count.
                if (uio.Offset > n.Size) n.Size = uio.Offset;
                if (e != 0) break;
            }
            if (uio.Resid != start)
            {
                n.Mtime = now;
                n.Ctime = now;
                // Out of space after some progress: a short write, as NetBSD.
                if (e == Abi.ENOSPC) e = 0;
            }
            return e;
        }
        finally { n.Lock.Exit(); }
    }

    public override int Readdir(Vnode vp, ref Uio uio, ref long cookie, Lwp l)
    {
        TmpfsNode n = N(vp);
        if (n.Dir == null) return Abi.ENOTDIR;
        if (cookie < 0) return Abi.EINVAL;
        TmpfsMount tm = n.Tm;
        bool atime = tm.UpdateAtime;
        RumpTimespec now = atime ? Clock.Now() : default;
        bool wrote, full;
        int e;
        tm.NsLock.EnterRead();
        e = ReaddirLocked(n, ref uio, ref cookie, out wrote, out full);
        tm.NsLock.Exit();
        if (e == 0 && full && !wrote) return Abi.EINVAL;
        if (atime)
        {
            n.Lock.EnterRead();
            n.TouchAtimeShared(now);
            n.Lock.Exit();
        }
        return e;
    }

    /// <summary>Precondition: namespace lock held (shared is enough).</summary>
    private static int ReaddirLocked(TmpfsNode n, ref Uio uio, ref long cookie, out bool wrote, out bool full)
    {
        wrote = false;
        full = false;
        int e;
        if (cookie == 0)
        {
            e = ReaddirSink.Add(ref uio, n.Id, VType.VDIR, ".", out full);
            if (e != 0 || full) return e;
            wrote = true;
            cookie = 1;
        }
        if (cookie == 1)
        {
            // A removed directory has no parent; name itself, as the root does.
            TmpfsNode p = n.Parent ?? n;
            e = ReaddirSink.Add(ref uio, p.Id, VType.VDIR, "..", out full);
            if (e != 0 || full) return e;
            wrote = true;
            cookie = TmpfsDir.FirstCookie;
        }
        TmpfsDir dir = n.Dir!;
        int i = dir.SeekIndex(cookie);
        TmpfsDirent? d;
        while ((d = dir.NextLive(ref i)) != null)
        {
            e = ReaddirSink.Add(ref uio, d.Node.Id, d.Node.Type, d.Name, out full);
            if (e != 0 || full) return e;
            wrote = true;
            cookie = d.Cookie + 1;
        }
        return 0;
    }

    public override int Readlink(Vnode vp, ref Uio uio, Lwp l)
    {
        TmpfsNode n = N(vp);
        if (n.Type != VType.VLNK) return Abi.EINVAL;
        bool atime = n.Tm.UpdateAtime;
        RumpTimespec now = atime ? Clock.Now() : default;
        n.Lock.EnterRead();
        int e = uio.Move((ReadOnlySpan<byte>)n.Target);
        if (atime) n.TouchAtimeShared(now);
        n.Lock.Exit();
        return e;
    }

    public override int Fsync(Vnode vp, bool dataOnly, Lwp l) => 0;
}
