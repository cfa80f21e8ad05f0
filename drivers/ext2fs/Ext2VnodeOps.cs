using System;
using Rump.Fs.Ext2fs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Ext2fs;

/// <summary>
/// ext2fs's vnode operations (NetBSD ext2fs_vnops.c, ext2fs_lookup.c). Stateless: everything is
/// reached through the vnode's node. Locking and references are described in <see cref="Ext2Fs"/>.
/// Changes run whole under the exclusive FsLock and look names up again there, since the VFS's
/// lookup may be stale: a name that no longer names the vnode the VFS passed is ERESTART (the VFS
/// looks up again). Only writable (plain ext2) mounts reach the change paths: the others get
/// EROFS first.
/// </summary>
internal sealed class Ext2VnodeOps : VnodeOps
{
    private static Ext2Node N(Vnode vp) => (Ext2Node)vp.Data;

    // ---- Names ---------------------------------------------------------------------------------

    public override int Lookup(Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        vp = null;
        Ext2Node d = N(dvp);
        if (d.Type != VType.VDIR) return Abi.ENOTDIR;
        Ext2Fs fs = d.Fs;
        for (int tries = 0; ; tries++)
        {
            fs.FsLock.EnterRead();
            int e = NameIno(d, name, out uint ino);
            ulong allocs = fs.InodeAllocs;
            // "." and the root's "..": the directory itself (any other name for it is a loop: EIO).
            if (e == 0 && ino == d.Ino) e = Dir.CheckTreeLink(d, name, d);
            fs.FsLock.Exit();
            if (e != 0) return e;
            if (ino == d.Ino) { vp = dvp.Ref(); return 0; }
            int ge = fs.Mp.Vfs.Vcache.Get(fs.Mp, ino, null, out vp);
            // The lock was let go: the name must still name that inode (it may have been removed,
            // or renamed over, and the inode even reused). Then the tree must be a tree.
            fs.FsLock.EnterRead();
            e = NameIno(d, name, out uint now);
            if (e == 0 && now == ino && ge == 0) e = Dir.CheckTreeLink(d, name, N(vp!));
            // A failed load is the inode's fault only if it cannot have been reused meanwhile:
            // one freed (links 0) or half made when loaded may name the file this name names now.
            bool stale = ge != 0 && fs.InodeAllocs != allocs;
            fs.FsLock.Exit();
            if (e == 0 && now == ino && !stale) return ge;
            if (ge == 0) { vp!.Rele(); vp = null; }
            if (e != 0) return e;
            if (tries == 8) return Abi.EIO; // renamed over on every try: give up rather than spin
        }
    }

    /// <summary>The inode <paramref name="name"/> names in <paramref name="d"/>. Precondition: FsLock held.</summary>
    private static int NameIno(Ext2Node d, ReadOnlySpan<char> name, out uint ino)
    {
        ino = 0;
        if (d.I.LinksCount == 0) return Abi.ENOENT; // a removed directory
        int e = Dir.GetCache(d, out DirCache? c);
        if (e != 0) return e;
        if (!c!.Lookup.TryGetValue(name, out DirSlot s)) return Abi.ENOENT;
        ino = s.Ino;
        return 0;
    }

    public override int Create(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp)
    {
        VType t = va.Type == VType.VNON ? VType.VREG : va.Type;
        if (t == VType.VDIR || t == VType.VLNK || t == VType.VBAD) { vp = null; return Abi.EINVAL; }
        return MakeNode(dvp, name, t, va.Mode, va.Uid, t == VType.VCHR || t == VType.VBLK ? va.Rdev : 0, default, out vp);
    }

    public override int Mkdir(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp)
        => MakeNode(dvp, name, VType.VDIR, va.Mode, va.Uid, 0, default, out vp);

    public override int Symlink(Vnode dvp, string name, in Vattr va, ReadOnlySpan<byte> target, Lwp l, out Vnode? vp)
        => MakeNode(dvp, name, VType.VLNK, va.Mode, va.Uid, 0, target, out vp);

    private static ushort ModeType(VType t) => t switch
    {
        VType.VREG => Inode.IfReg,
        VType.VDIR => Inode.IfDir,
        VType.VLNK => Inode.IfLnk,
        VType.VCHR => Inode.IfChr,
        VType.VBLK => Inode.IfBlk,
        VType.VFIFO => Inode.IfIfo,
        VType.VSOCK => Inode.IfSock,
        _ => 0,
    };

    /// <summary>
    /// Allocates and links a new inode of any type; returns it referenced. As NetBSD: the inode and
    /// its vnode are made first, without a name (VFS_NEWVNODE through the vnode cache), then the name
    /// is entered; if that fails, releasing the vnode frees the inode.
    /// </summary>
    private static int MakeNode(Vnode dvp, string name, VType type, uint mode, uint uid, ulong rdev, ReadOnlySpan<byte> target, out Vnode? vp)
    {
        vp = null;
        Ext2Node d = N(dvp);
        if (d.Type != VType.VDIR) return Abi.ENOTDIR;
        Ext2Fs fs = d.Fs;
        if (!fs.Writable) return Abi.EROFS;
        if (name.Length > DirEntry.MaxNameLen) return Abi.ENAMETOOLONG;
        if (type == VType.VLNK && (target.Length == 0 || target.Length >= Math.Min(fs.Bs, 4096))) return Abi.ENAMETOOLONG;
        RumpTimespec now = Clock.Now();
        byte[]? tbytes = type == VType.VLNK ? target.ToArray() : null;
        int e = fs.Mp.Vfs.Vcache.New(fs.Mp, v => NewInode(d, name, type, mode, rdev, tbytes, uid, now, v), out Vnode? nvp);
        if (e != 0) return e;
        fs.FsLock.EnterWrite();
        try { e = EnterNewLocked(d, name, N(nvp!), now); }
        finally { fs.FsLock.Exit(); }
        if (e != 0) { nvp!.Rele(); return e; }
        vp = nvp;
        return 0;
    }

    /// <summary>
    /// VFS_NEWVNODE: allocates and writes an inode (link count 0, no name yet) and makes it
    /// <paramref name="v"/>'s node. The early checks spare the allocation when the name cannot be made.
    /// </summary>
    private static int NewInode(Ext2Node d, string name, VType type, uint mode, ulong rdev, byte[]? target, uint uid, RumpTimespec now, Vnode v)
    {
        Ext2Fs fs = d.Fs;
        fs.FsLock.EnterWrite();
        try
        {
            if (d.I.LinksCount == 0) return Abi.ENOENT;
            int e = Dir.GetCache(d, out DirCache? c);
            if (e != 0) return e;
            if (c!.Names.ContainsKey(name)) return Abi.EEXIST;
            bool isDir = type == VType.VDIR;
            if (isDir && d.I.LinksCount >= Ext2Fs.LinkMax) return Abi.EMLINK;
            e = Alloc.AllocInode(fs, d.Ino, isDir, out uint ino);
            if (e != 0) return e;

            byte[] raw = new byte[fs.Sb.InodeSize];
            var fi = new Inode
            {
                Mode = (ushort)(ModeType(type) | (mode & 0xfff)),
                Uid = uid,
                // BSD semantics: the group comes from the directory.
                Gid = d.I.Gid,
                Atime = now, Mtime = now, Ctime = now, Crtime = now,
                ExtraIsize = (ushort)(fs.Sb.InodeSize > 128 ? Math.Min(32, fs.Sb.InodeSize - 128) : 0),
                Generation = fs.NextGeneration(),
            };
            var n = new Ext2Node(fs, ino, raw, fi, type);
            if (type == VType.VCHR || type == VType.VBLK) EncodeRdev(n, rdev);
            if (type == VType.VLNK) e = WriteSymlinkTarget(n, target);
            else if (isDir) e = Dir.Init(n, d.Ino);
            if (e == 0) e = fs.WriteInode(n);
            if (e != 0)
            {
                // Undo: nothing names the inode.
                FreeNodeLocked(n);
                return e;
            }
            v.InitNew(ino, type, fs.Ops, n);
            return 0;
        }
        finally { fs.FsLock.Exit(); }
    }

    /// <summary>Gives the new inode <paramref name="n"/> its name and link count. Precondition: FsLock exclusive.</summary>
    private static int EnterNewLocked(Ext2Node d, string name, Ext2Node n, RumpTimespec now)
    {
        Ext2Fs fs = d.Fs;
        // Checked again: the lock was let go while the vnode was made.
        if (d.I.LinksCount == 0) return Abi.ENOENT;
        int e = Dir.GetCache(d, out DirCache? c);
        if (e != 0) return e;
        if (c!.Names.ContainsKey(name)) return Abi.EEXIST;
        bool isDir = n.Type == VType.VDIR;
        if (isDir && d.I.LinksCount >= Ext2Fs.LinkMax) return Abi.EMLINK;
        e = Dir.Add(d, c, name, n.Ino, DirEntry.TypeFromMode(n.I.Mode));
        if (e != 0) return e;
        n.I.LinksCount = (ushort)(isDir ? 2 : 1);
        if (isDir) d.I.LinksCount++;
        d.I.Mtime = d.I.Ctime = now;
        e = fs.WriteInode(n);
        return e != 0 ? e : fs.WriteInode(d);
    }

    /// <summary>Fast symlinks (under 60 bytes) live in i_block; longer ones in one data block.</summary>
    private static int WriteSymlinkTarget(Ext2Node n, ReadOnlySpan<byte> target)
    {
        Ext2Fs fs = n.Fs;
        if (target.Length < Inode.BlockBytes)
        {
            target.CopyTo(n.Raw.AsSpan(Inode.OffBlock));
        }
        else
        {
            int e = BlockMap.MapAlloc(n, 0, out ulong pblk, out _);
            if (e != 0) return e;
            e = fs.GetBlock(pblk, out Buf bp);
            if (e != 0) return e;
            Array.Clear(bp.Data);
            target.CopyTo(bp.Data);
            fs.Bc.Bdwrite(bp);
        }
        n.I.Size = (ulong)target.Length;
        return 0;
    }

    /// <summary>Linux's device encodings in i_block: old (8-bit major and minor) in [0], new in [1].</summary>
    private static void EncodeRdev(Ext2Node n, ulong rdev)
    {
        uint major = (uint)(rdev >> 8) & 0xfff;
        uint minor = (uint)(rdev & 0xff) | (uint)((rdev >> 12) & 0xfff00);
        if (major < 256 && minor < 256) n.SetBlockPtr(0, major << 8 | minor);
        else { n.SetBlockPtr(0, 0); n.SetBlockPtr(1, (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12)); }
    }

    private static ulong DecodeRdev(Ext2Node n)
    {
        uint b0 = n.BlockPtr(0), major, minor;
        if (b0 != 0) { major = (b0 >> 8) & 0xff; minor = b0 & 0xff; }
        else
        {
            uint b1 = n.BlockPtr(1);
            major = (b1 & 0xfff00) >> 8;
            minor = (b1 & 0xff) | ((b1 >> 12) & 0xfff00);
        }
        return Devsw.MakeDev(major, minor);
    }

    public override int Link(Vnode dvp, string name, Vnode vp, Lwp l)
    {
        if (vp.Mount != dvp.Mount) return Abi.EXDEV;
        Ext2Node d = N(dvp), n = N(vp);
        if (d.Type != VType.VDIR) return Abi.ENOTDIR;
        if (n.Type == VType.VDIR) return Abi.EPERM;
        Ext2Fs fs = d.Fs;
        if (!fs.Writable) return Abi.EROFS;
        if (name.Length > DirEntry.MaxNameLen) return Abi.ENAMETOOLONG;
        RumpTimespec now = Clock.Now();
        fs.FsLock.EnterWrite();
        try
        {
            if (d.I.LinksCount == 0 || n.I.LinksCount == 0) return Abi.ENOENT;
            int e = Dir.GetCache(d, out DirCache? c);
            if (e != 0) return e;
            if (c!.Names.ContainsKey(name)) return Abi.EEXIST;
            if (n.I.LinksCount >= Ext2Fs.LinkMax) return Abi.EMLINK;
            e = Dir.Add(d, c, name, n.Ino, DirEntry.TypeFromMode(n.I.Mode));
            if (e != 0) return e;
            n.I.LinksCount++;
            n.I.Ctime = now;
            d.I.Mtime = d.I.Ctime = now;
            e = fs.WriteInode(n);
            return e != 0 ? e : fs.WriteInode(d);
        }
        finally { fs.FsLock.Exit(); }
    }

    public override int Remove(Vnode dvp, string name, Vnode vp, Lwp l) => Unlink(dvp, name, vp, dir: false);

    public override int Rmdir(Vnode dvp, string name, Vnode vp, Lwp l) => Unlink(dvp, name, vp, dir: true);

    /// <summary>Removes a file's name (remove) or an empty directory (rmdir, <paramref name="dir"/>).</summary>
    private static int Unlink(Vnode dvp, string name, Vnode vp, bool dir)
    {
        Ext2Node d = N(dvp);
        if (d.Type != VType.VDIR) return Abi.ENOTDIR;
        Ext2Fs fs = d.Fs;
        if (!fs.Writable) return Abi.EROFS;
        RumpTimespec now = Clock.Now();
        fs.FsLock.EnterWrite();
        try
        {
            int e = Dir.GetCache(d, out DirCache? c);
            if (e != 0) return e;
            if (!c!.Names.TryGetValue(name, out DirSlot s)) return Abi.ENOENT;
            Ext2Node n = N(vp);
            // The name now names another file than the VFS looked up: it looks again.
            if (s.Ino != n.Ino) return Abi.ERESTART;
            if (!dir && n.Type == VType.VDIR) return Abi.EPERM;
            if (dir)
            {
                if (n.Type != VType.VDIR) return Abi.ENOTDIR;
                if (n == d) return Abi.EINVAL;
                if (vp.MountedHere != null) return Abi.EBUSY;
                e = Dir.GetCache(n, out DirCache? nc);
                if (e != 0) return e;
                if (nc!.RealEntries != 0) return Abi.ENOTEMPTY;
            }
            e = Dir.Remove(d, c, name);
            if (e != 0) return e;
            if (dir)
            {
                // Its name and its "." go; its ".." no longer links the parent.
                n.I.LinksCount = 0;
                if (d.I.LinksCount > 1) d.I.LinksCount--;
            }
            else if (n.I.LinksCount > 0) n.I.LinksCount--;
            n.I.Ctime = now;
            d.I.Mtime = d.I.Ctime = now;
            e = fs.WriteInode(d);
            int e2 = fs.WriteInode(n);
            return e != 0 ? e : e2;
        }
        finally { fs.FsLock.Exit(); }
    }

    public override int Rename(Vnode fdvp, string fname, Vnode fvp, Vnode tdvp, string tname, Vnode? tvp, Lwp l)
    {
        if (fdvp.Mount != tdvp.Mount || fvp.Mount != fdvp.Mount) return Abi.EXDEV;
        Ext2Node fd = N(fdvp), td = N(tdvp);
        if (fd.Type != VType.VDIR || td.Type != VType.VDIR) return Abi.ENOTDIR;
        Ext2Fs fs = fd.Fs;
        if (!fs.Writable) return Abi.EROFS;
        if (tname.Length > DirEntry.MaxNameLen) return Abi.ENAMETOOLONG;
        RumpTimespec now = Clock.Now();
        fs.FsLock.EnterWrite();
        try
        {
            int e = Dir.GetCache(fd, out DirCache? fc);
            if (e != 0) return e;
            if (!fc!.Names.TryGetValue(fname, out DirSlot fs_)) return Abi.ENOENT;
            if (td.I.LinksCount == 0) return Abi.ENOENT;
            e = Dir.GetCache(td, out DirCache? tc);
            if (e != 0) return e;
            Ext2Node fn = N(fvp);
            Ext2Node? tn = tvp == null ? null : N(tvp);
            // A name changed since the VFS looked them up: it looks again.
            bool tExists = tc!.Names.TryGetValue(tname, out DirSlot ts);
            if (fs_.Ino != fn.Ino || tExists != (tn != null) || (tn != null && ts.Ino != tn.Ino)) return Abi.ERESTART;
            // Two names of one file: POSIX says do nothing.
            if (tn == fn) return 0;
            bool isDir = fn.Type == VType.VDIR;
            if (isDir)
            {
                e = IsAncestorOrSelf(fs, fn, td, out bool below);
                if (e != 0) return e;
                if (below) return Abi.EINVAL;
                if (fd != td && tn == null && td.I.LinksCount >= Ext2Fs.LinkMax) return Abi.EMLINK;
            }
            if (tn != null)
            {
                if (isDir)
                {
                    if (tn.Type != VType.VDIR) return Abi.ENOTDIR;
                    e = Dir.GetCache(tn, out DirCache? tnc);
                    if (e != 0) return e;
                    if (tnc!.RealEntries != 0) return Abi.ENOTEMPTY;
                    if (tvp!.MountedHere != null) return Abi.EBUSY;
                }
                else if (tn.Type == VType.VDIR) return Abi.EISDIR;
            }

            // The new name first, then the old one goes: a failure part-way leaves two names, never none.
            byte ft = DirEntry.TypeFromMode(fn.I.Mode);
            e = tn != null ? Dir.Retarget(td, tc, tname, fn.Ino, ft) : Dir.Add(td, tc, tname, fn.Ino, ft);
            if (e != 0) return e;
            if (tn != null)
            {
                if (tn.Type == VType.VDIR)
                {
                    tn.I.LinksCount = 0;
                    if (td.I.LinksCount > 1) td.I.LinksCount--;
                }
                else if (tn.I.LinksCount > 0) tn.I.LinksCount--;
                tn.I.Ctime = now;
                fs.WriteInode(tn);
            }
            e = Dir.Remove(fd, fc, fname);
            if (e != 0) return e;
            if (isDir && fd != td)
            {
                // Its ".." now names the new parent.
                e = Dir.GetCache(fn, out DirCache? nc);
                if (e == 0) e = nc!.Names.ContainsKey("..") ? Dir.Retarget(fn, nc, "..", td.Ino, DirEntry.FtDir) : 0;
                if (e != 0) return e;
                if (fd.I.LinksCount > 1) fd.I.LinksCount--;
                td.I.LinksCount++;
            }
            fn.I.Ctime = now;
            fd.I.Mtime = fd.I.Ctime = now;
            td.I.Mtime = td.I.Ctime = now;
            fs.WriteInode(fn);
            fs.WriteInode(fd);
            if (td != fd) fs.WriteInode(td);
            return 0;
        }
        finally { fs.FsLock.Exit(); }
    }

    /// <summary>
    /// Is <paramref name="dir"/> <paramref name="n"/> or below it? Walks ".." up to the root, bounded,
    /// by inode number: directories above are read from the inode table (as views, not vnodes — the
    /// vnode cache is not called under FsLock). Precondition: FsLock exclusive.
    /// </summary>
    private static int IsAncestorOrSelf(Ext2Fs fs, Ext2Node n, Ext2Node dir, out bool below)
    {
        below = false;
        Ext2Node x = dir;
        for (int steps = 0; steps < 65536; steps++)
        {
            if (x.Ino == n.Ino) { below = true; return 0; }
            if (x.Ino == Ext2Fs.RootIno) return 0;
            int e = Dir.GetCache(x, out DirCache? c);
            if (e != 0) return e;
            if (!c!.Names.TryGetValue("..", out DirSlot s)) return Abi.EIO;
            if (s.Ino == x.Ino) return Abi.EIO;
            e = fs.ReadNode(s.Ino, out Ext2Node? p);
            if (e != 0) return e;
            if (p!.Type != VType.VDIR) return Abi.EIO;
            x = p;
        }
        return Abi.EIO; // a ".." cycle: a damaged tree
    }

    // ---- Lifetime ------------------------------------------------------------------------------

    /// <summary>A file without names is freed as soon as its vnode goes: ask for that.</summary>
    public override bool Inactive(Vnode vp)
    {
        Ext2Node n = N(vp);
        return n.I.LinksCount == 0 && n.Fs.Writable;
    }

    /// <summary>Frees the inode if nothing names it, else writes back an access time set by readers.</summary>
    public override void Reclaim(Vnode vp)
    {
        Ext2Node n = N(vp);
        Ext2Fs fs = n.Fs;
        if (!fs.Writable) return;
        fs.FsLock.EnterWrite();
        if (n.I.LinksCount == 0) FreeNodeLocked(n);
        else if (n.AtimeDirty) fs.WriteInode(n);
        fs.FsLock.Exit();
    }

    /// <summary>
    /// Returns an unlinked inode's blocks, extended-attribute block reference and the inode itself.
    /// Precondition: FsLock exclusive, link count 0, and the node's vnode is being reclaimed (or
    /// never got a name). Called once per inode.
    /// </summary>
    public static void FreeNodeLocked(Ext2Node n)
    {
        Ext2Fs fs = n.Fs;
        if (fs.Writable)
        {
            // Only these keep block pointers in i_block: a fast symlink keeps its target, a device its number.
            bool hasBlocks = n.Type == VType.VREG || n.Type == VType.VDIR || (n.Type == VType.VLNK && !n.IsFastSymlink);
            if (hasBlocks) BlockMap.Truncate(n, 0);
            if (n.I.FileAcl != 0) DropXattrBlock(fs, n.I.FileAcl);
            n.I.FileAcl = 0;
            n.Raw.AsSpan(Inode.OffBlock, Inode.BlockBytes).Clear();
            n.I.Size = 0;
            n.I.Blocks = 0;
            n.I.LinksCount = 0;
            n.I.Dtime = (uint)Clock.Now().tv_sec;
            fs.WriteInode(n);
            Alloc.FreeInode(fs, n.Ino, n.Type == VType.VDIR);
        }
        n.Dir = null;
    }

    /// <summary>Drops one reference to a shared extended-attribute block (header magic 0xEA020000, refcount at byte 4).</summary>
    private static void DropXattrBlock(Ext2Fs fs, ulong blk)
    {
        if (!fs.ValidBlock(blk) || fs.ReadBlock(blk, out Buf bp) != 0) return;
        uint magic = Ext2Fs.U32(bp.Data, 0), refs = Ext2Fs.U32(bp.Data, 4);
        if (magic != 0xEA020000) { fs.Bc.Brelse(bp); return; }
        if (refs > 1)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bp.Data.AsSpan(4), refs - 1);
            fs.Bc.Bdwrite(bp);
            return;
        }
        fs.Bc.Brelse(bp);
        Alloc.FreeBlock(fs, blk);
    }

    /// <summary>Writes access times set by readers and the superblock. Precondition: FsLock exclusive.</summary>
    public static int WriteBackLocked(Ext2Fs fs)
    {
        int first = 0;
        foreach (Ext2Node n in fs.AllNodes())
        {
            if (!n.AtimeDirty) continue;
            int e = fs.WriteInode(n);
            if (e != 0 && first == 0) first = e;
        }
        fs.Sb.Wtime = (uint)Clock.Now().tv_sec;
        int s = fs.WriteSuperblock(now: false);
        return first != 0 ? first : s;
    }

    /// <summary>Only "." of a removed directory reaches a file without a name (NetBSD: ENOENT).</summary>
    public override int Open(Vnode vp, int fflag, Lwp l) => N(vp).I.LinksCount == 0 ? Abi.ENOENT : 0;

    // ---- Attributes ----------------------------------------------------------------------------

    public override int Getattr(Vnode vp, out Vattr va)
    {
        Ext2Node n = N(vp);
        Ext2Fs fs = n.Fs;
        va = default;
        va.Type = n.Type;
        va.Fsid = vp.Mount.Fsid;
        va.Fileid = n.Ino;
        va.Blocksize = (uint)fs.Bs;
        fs.FsLock.EnterRead();
        va.Mode = (uint)(n.I.Mode & 0xfff);
        va.Nlink = n.I.LinksCount;
        va.Uid = n.I.Uid;
        va.Gid = n.I.Gid;
        va.Size = n.Size;
        va.Bytes = n.StorageBytes;
        va.Gen = n.I.Generation;
        va.Mtime = n.I.Mtime;
        va.Ctime = n.I.Ctime;
        va.Birthtime = n.I.HasCrtime ? n.I.Crtime : n.I.Ctime;
        if (n.Type == VType.VCHR || n.Type == VType.VBLK) va.Rdev = DecodeRdev(n);
        n.Lock.Enter();
        va.Atime = n.I.Atime;
        n.Lock.Exit();
        fs.FsLock.Exit();
        return 0;
    }

    public override int Setattr(Vnode vp, in Vattr va, Lwp l)
    {
        Ext2Node n = N(vp);
        Ext2Fs fs = n.Fs;
        if (!fs.Writable) return Abi.EROFS;
        VaMask m = va.Mask;
        bool size = (m & VaMask.Size) != 0;
        if (size)
        {
            if (n.Type == VType.VDIR) return Abi.EISDIR;
            if (n.Type != VType.VREG) return Abi.EINVAL;
            if (va.Size < 0) return Abi.EINVAL;
            if (va.Size > fs.MaxFileSize) return Abi.EFBIG;
        }
        RumpTimespec now = Clock.Now();
        fs.FsLock.EnterWrite();
        try
        {
            int e = 0;
            if (size && va.Size != n.Size)
            {
                e = SetSizeLocked(n, va.Size);
                n.I.Mtime = now;
            }
            if ((m & VaMask.Uid) != 0) n.I.Uid = va.Uid;
            if ((m & VaMask.Gid) != 0) n.I.Gid = va.Gid;
            // Set-id bits an ordinary user's chown drops come in the mask (the VFS decides).
            if ((m & VaMask.Mode) != 0) n.I.Mode = (ushort)((uint)(n.I.Mode & Inode.IfMt) | (va.Mode & 0xfff));
            if ((m & VaMask.Atime) != 0 && va.Atime.tv_nsec != Abi.UTIME_OMIT) { n.Lock.Enter(); n.I.Atime = va.Atime; n.Lock.Exit(); }
            if ((m & VaMask.Mtime) != 0 && va.Mtime.tv_nsec != Abi.UTIME_OMIT) n.I.Mtime = va.Mtime;
            if (m != VaMask.None) n.I.Ctime = now;
            int w = fs.WriteInode(n);
            return e != 0 ? e : w;
        }
        finally { fs.FsLock.Exit(); }
    }

    /// <summary>Truncates or extends a regular file. Precondition: FsLock exclusive.</summary>
    private static int SetSizeLocked(Ext2Node n, long size)
    {
        Ext2Fs fs = n.Fs;
        long old = n.Size;
        int e = 0;
        if (size < old)
        {
            long keep = (size + fs.Bs - 1) >> fs.BsShift;
            e = BlockMap.Truncate(n, keep);
            // Bytes past the new end in its last block must read as zeros if the file grows again.
            if ((size & (fs.Bs - 1)) != 0) ZeroTail(n, size);
            n.LastAlloc = 0;
        }
        else if ((old & (fs.Bs - 1)) != 0)
            ZeroTail(n, old);
        n.I.Size = (ulong)size;
        NoteLargeFile(fs, size);
        return e;
    }

    private static void ZeroTail(Ext2Node n, long from)
    {
        Ext2Fs fs = n.Fs;
        if (BlockMap.Map(n, from >> fs.BsShift, out ulong pblk, out _) != 0 || pblk == 0) return;
        if (fs.ReadBlock(pblk, out Buf bp) != 0) return;
        int off = (int)(from & (fs.Bs - 1));
        bp.Data.AsSpan(off).Clear();
        fs.Bc.Bdwrite(bp);
    }

    /// <summary>Files of 2 GiB and more need the large_file feature. Precondition: FsLock exclusive.</summary>
    private static void NoteLargeFile(Ext2Fs fs, long size)
    {
        if (size <= int.MaxValue || fs.Sb.HasRo(Features.RoLargeFile)) return;
        fs.Sb.FeatureRoCompat |= Features.RoLargeFile;
        fs.WriteSuperblock(now: false);
    }

    // ---- Data ----------------------------------------------------------------------------------

    /// <summary>Reads of at least this many bytes of contiguous blocks bypass the buffer cache when it has nothing newer.</summary>
    internal const int DirectMin = 64 << 10;

    public override int Read(Vnode vp, ref Uio uio, int ioflag, Lwp l)
    {
        Ext2Node n = N(vp);
        if (n.Type != VType.VREG) return n.Type == VType.VDIR ? Abi.EISDIR : Abi.EINVAL;
        if (uio.Offset < 0) return Abi.EINVAL;
        if (uio.Resid == 0) return 0;
        Ext2Fs fs = n.Fs;
        int e = 0;
        fs.FsLock.EnterRead();
        long size = n.Size;
        while (uio.Resid > 0 && uio.Offset < size)
        {
            long off = uio.Offset;
            int boff = (int)(off & (fs.Bs - 1));
            long avail = Math.Min(uio.Resid, size - off);
            e = BlockMap.Map(n, off >> fs.BsShift, out ulong pblk, out long run);
            if (e != 0) break;
            if (pblk == 0)
            {
                // A hole (or unwritten extent): as many zeros as the map says are there.
                long len = run > (avail >> fs.BsShift) + 1 ? avail : Math.Min(avail, (run << fs.BsShift) - boff);
                e = uio.MoveZeros(len);
                if (e != 0) break;
                continue;
            }
            // Large reads of contiguous blocks go straight from the device (one transfer, into the
            // caller's memory when it can be, no per-block buffers or map lookups) unless the cache
            // holds newer data for them.
            if (avail >= DirectMin && run << fs.BsShift >= DirectMin)
            {
                long blocks = Math.Min(run, Math.Min((boff + avail + fs.Bs - 1) >> fs.BsShift, BufCache.MaxUncached >> fs.BsShift));
                if (pblk + (ulong)blocks > fs.Sb.BlocksCount) { e = Abi.EIO; break; }
                int bytes = (int)(blocks << fs.BsShift);
                bool done = fs.Bc.ReadUncached(ref uio, fs.Dev, (long)pblk * fs.Sect, fs.Bs, bytes, boff, (int)Math.Min(avail, bytes - boff), out e);
                if (e != 0) break;
                if (done) continue;
            }
            int n1 = (int)Math.Min(avail, fs.Bs - boff);
            e = fs.ReadBlock(pblk, out Buf bp);
            if (e != 0) break;
            e = uio.Move(new ReadOnlySpan<byte>(bp.Data, boff, n1));
            fs.Bc.Brelse(bp);
            if (e != 0) break;
        }
        if (fs.UpdateAtime && (ioflag & IoFlag.NoAtime) == 0) TouchAtime(n);
        fs.FsLock.Exit();
        return e;
    }

    /// <summary>
    /// VOP_BMAP for a reader that moves the bytes itself (<see cref="VnodeOps.Bmap"/>): the runs of
    /// allocated blocks under the range, each checked against the buffer cache, and the transfer,
    /// under the shared FsLock (writers, truncation and allocation take it exclusively, so no block
    /// of the range changes or moves until the transfer is done).
    /// </summary>
    public override int Bmap(Vnode vp, long offset, int length, int ioflag, DeviceRunSink sink, Lwp l)
    {
        Ext2Node n = N(vp);
        if (n.Type != VType.VREG || offset < 0 || length <= 0) return Abi.EOPNOTSUPP;
        Ext2Fs fs = n.Fs;
        fs.FsLock.EnterRead();
        try
        {
            long end = Math.Min(n.Size, offset + length);
            if (offset >= end) return Abi.EOPNOTSUPP;
            for (long off = offset; off < end;)
            {
                int boff = (int)(off & (fs.Bs - 1));
                int e = BlockMap.Map(n, off >> fs.BsShift, out ulong pblk, out long run);
                if (e != 0) return e;
                if (pblk == 0) return Abi.EOPNOTSUPP;   // a hole: Read makes the zeros
                long blocks = Math.Min(run, (boff + end - off + fs.Bs - 1) >> fs.BsShift);
                if (pblk + (ulong)blocks > fs.Sb.BlocksCount) return Abi.EIO;
                int bytes = (int)(blocks << fs.BsShift);
                long blkno = (long)pblk * fs.Sect;
                if (fs.Bc.HoldsNewer(fs.Dev, blkno, fs.Bs, bytes)) return Abi.EOPNOTSUPP;
                int take = (int)Math.Min(end - off, bytes - boff);
                if (!sink.Add(fs.Dev, blkno * BlockDevice.DevBSize + boff, take)) return Abi.EOPNOTSUPP;
                off += take;
            }
            int r = sink.Transfer(l);
            if (r == 0 && fs.UpdateAtime && (ioflag & IoFlag.NoAtime) == 0) TouchAtime(n);
            return r;
        }
        finally { fs.FsLock.Exit(); }
    }

    /// <summary>Records an access under the shared FsLock; the inode is written at the next change or sync.</summary>
    private static void TouchAtime(Ext2Node n)
    {
        RumpTimespec now = Clock.Now();
        n.Lock.Enter();
        n.I.Atime = now;
        n.AtimeDirty = true;
        n.Lock.Exit();
    }

    public override int Write(Vnode vp, ref Uio uio, int ioflag, Lwp l)
    {
        Ext2Node n = N(vp);
        if (n.Type != VType.VREG) return n.Type == VType.VDIR ? Abi.EISDIR : Abi.EINVAL;
        Ext2Fs fs = n.Fs;
        if (!fs.Writable) return Abi.EROFS;
        if (uio.Resid == 0) return 0;
        RumpTimespec now = Clock.Now();
        int e = 0;
        fs.FsLock.EnterWrite();
        try
        {
            if ((ioflag & IoFlag.Append) != 0) uio.Offset = n.Size;
            if (uio.Offset < 0) return Abi.EINVAL;
            if (uio.Offset >= fs.MaxFileSize || uio.Resid > fs.MaxFileSize - uio.Offset) return Abi.EFBIG;
            long start = uio.Resid;
            long oldSize = n.Size;
            // Growing past a partial last block: its stale tail must not reappear inside the file.
            if (uio.Offset > oldSize && (oldSize & (fs.Bs - 1)) != 0) ZeroTail(n, oldSize);
            while (uio.Resid > 0)
            {
                long off = uio.Offset;
                int boff = (int)(off & (fs.Bs - 1));
                int len = (int)Math.Min(fs.Bs - boff, uio.Resid);
                e = BlockMap.MapAlloc(n, off >> fs.BsShift, out ulong pblk, out bool fresh);
                if (e != 0) break;
                Buf bp;
                if (fresh || (boff == 0 && len == fs.Bs))
                {
                    e = fs.GetBlock(pblk, out bp);
                    if (e != 0) break;
                    if (fresh && len != fs.Bs) Array.Clear(bp.Data);
                }
                else
                {
                    e = fs.ReadBlock(pblk, out bp);
                    if (e != 0) break;
                }
                e = uio.Move(new Span<byte>(bp.Data, boff, len));
                fs.Bc.Bdwrite(bp);
                // A fault part-way may still have moved some bytes: they count.
                if (uio.Offset > n.Size) n.I.Size = (ulong)uio.Offset;
                if (e != 0) break;
            }
            if (uio.Resid != start)
            {
                n.I.Mtime = n.I.Ctime = now;
                // Out of space after some progress: a short write, as NetBSD.
                if (e == Abi.ENOSPC || e == Abi.EFBIG) e = 0;
                NoteLargeFile(fs, n.Size);
            }
            int w = fs.WriteInode(n);
            if (e == 0) e = w;
        }
        finally { fs.FsLock.Exit(); }
        if (e == 0 && (ioflag & IoFlag.Sync) != 0) e = fs.Bc.Flush(fs.Dev);
        return e;
    }

    public override int Readdir(Vnode vp, ref Uio uio, ref long cookie, Lwp l)
    {
        Ext2Node n = N(vp);
        if (n.Type != VType.VDIR) return Abi.ENOTDIR;
        if (cookie < 0) return Abi.EINVAL;
        Ext2Fs fs = n.Fs;
        fs.FsLock.EnterRead();
        int e = Dir.Readdir(n, ref uio, ref cookie, out bool wrote, out bool full) is int r && r != 0 ? r : (full && !wrote ? Abi.EINVAL : 0);
        if (e == 0 && fs.UpdateAtime) TouchAtime(n);
        fs.FsLock.Exit();
        return e;
    }

    public override int Readlink(Vnode vp, ref Uio uio, Lwp l)
    {
        Ext2Node n = N(vp);
        if (n.Type != VType.VLNK) return Abi.EINVAL;
        Ext2Fs fs = n.Fs;
        fs.FsLock.EnterRead();
        try
        {
            int len = (int)n.Size;
            if (n.IsFastSymlink) return uio.Move(new ReadOnlySpan<byte>(n.Raw, Inode.OffBlock, len));
            int e = BlockMap.Map(n, 0, out ulong pblk, out _);
            if (e != 0) return e;
            if (pblk == 0) return Abi.EIO;
            e = fs.ReadBlock(pblk, out Buf bp);
            if (e != 0) return e;
            e = uio.Move(new ReadOnlySpan<byte>(bp.Data, 0, Math.Min(len, fs.Bs)));
            fs.Bc.Brelse(bp);
            return e;
        }
        finally { fs.FsLock.Exit(); }
    }

    public override int Fsync(Vnode vp, bool dataOnly, Lwp l)
    {
        Ext2Node n = N(vp);
        Ext2Fs fs = n.Fs;
        if (!fs.Writable) return 0;
        fs.FsLock.EnterWrite();
        int e = fs.WriteInode(n);
        if (e == 0) e = WriteBackLocked(fs);
        fs.FsLock.Exit();
        int f = fs.Bc.Flush(fs.Dev);
        return e != 0 ? e : f;
    }
}
