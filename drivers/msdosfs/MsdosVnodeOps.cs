using System;
using Rump.Fs.Msdosfs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// msdosfs's vnode operations (NetBSD msdosfs_vnops.c, msdosfs_lookup.c). Each runs whole under
/// the mount's lock (see <see cref="MsdosMount"/>), looks names up again under it (a name that no
/// longer names the vnode the VFS passed is ERESTART: the VFS looks up again), and writes its
/// metadata changes through the buffer cache before returning. Names are compared the FAT way,
/// case-insensitively, so every namespace change drops the directory's name-cache entries: the
/// VFS only purges the exact spelling it was given.
/// </summary>
internal sealed class MsdosVnodeOps : VnodeOps
{
    private static MsdosNode N(Vnode vp) => (MsdosNode)vp.Data;

    /// <summary>Folds a VFS name into the lookup key form; false if it cannot be a FAT name.</summary>
    private static bool FoldName(ReadOnlySpan<char> name, Span<char> buf, out int len)
    {
        if (!Names.FromVfs(name, buf, out len, out _)) return false;
        Names.Fold(buf.Slice(0, len));
        return true;
    }

    private static MsdosDirent? Find(MsdosNode dn, ReadOnlySpan<char> name)
    {
        Span<char> buf = stackalloc char[Names.MaxVfsBytes];
        if (!FoldName(name, buf, out int len)) return null;
        return dn.Dir!.Lookup(buf.Slice(0, len));
    }

    private static void PurgeNames(MsdosNode dn) => dn.M.Mp.Vfs.Cache.PurgeDir(dn.Vnode);

    // ---- Names ---------------------------------------------------------------------------------

    public override int Lookup(Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        vp = null;
        MsdosNode dn = N(dvp);
        if (dn.Type != VType.VDIR) return Abi.ENOTDIR;
        MsdosMount m = dn.M;
        for (int tries = 0; ; tries++)
        {
            MsdosDirent? ent;
            m.Lock.Enter();
            try
            {
                if (name.Length == 1 && name[0] == '.') { vp = dvp.Ref(); return 0; }
                if (name.Length == 2 && name[0] == '.' && name[1] == '.')
                {
                    if (dn.Unlinked) return Abi.ENOENT;
                    // This node holds its parent's vnode.
                    vp = (dn.Parent ?? dn).Vnode.Ref();
                    return 0;
                }
                int e = m.LoadDir(dn);
                if (e != 0) return e;
                ent = Find(dn, name);
                if (ent == null) return Abi.ENOENT;
            }
            finally { m.Lock.Exit(); }
            int ge = VnodeOfEntry(m, ent, out vp);
            // The name changed while the lock was let go: look again (it may be gone now).
            if (ge != Abi.ERESTART) return ge;
            if (tries == 8) return Abi.EIO; // changed on every try: give up rather than spin
        }
    }

    /// <summary>
    /// The referenced vnode of <paramref name="ent"/>, an entry found under the lock, now let go.
    /// Ids come from disk positions and are reused once free, so the entry must still be there and
    /// be the vnode's own: else ERESTART (removed, renamed, or its id already another file's).
    /// </summary>
    private static int VnodeOfEntry(MsdosMount m, MsdosDirent ent, out Vnode? vp)
    {
        int e = m.Mp.Vfs.Vcache.Get(m.Mp, ent.Id, null, out vp);
        if (e == Abi.ENOENT) return Abi.ERESTART;
        if (e != 0) return e;
        m.Lock.Enter();
        bool same = !ent.Removed && N(vp!).Ent == ent;
        m.Lock.Exit();
        if (same) return 0;
        vp!.Rele();
        vp = null;
        return Abi.ERESTART;
    }

    public override int Create(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp)
    {
        vp = null;
        if (va.Type is not (VType.VNON or VType.VREG)) return Abi.EOPNOTSUPP;
        // No write permission for the owner is FAT's read-only attribute (NetBSD msdosfs_create).
        byte attr = (byte)(FatAttr.Archive | ((va.Mode & 0x80) == 0 ? FatAttr.ReadOnly : 0));
        return MakeEntry(dvp, name, attr, l, out vp);
    }

    public override int Mkdir(Vnode dvp, string name, in Vattr va, Lwp l, out Vnode? vp)
        => MakeEntry(dvp, name, FatAttr.Directory, l, out vp);

    private static int MakeEntry(Vnode dvp, string name, byte attr, Lwp l, out Vnode? vp)
    {
        vp = null;
        MsdosNode dn = N(dvp);
        if (dn.Type != VType.VDIR) return Abi.ENOTDIR;
        MsdosMount m = dn.M;
        if (m.Mp.ReadOnly) return Abi.EROFS;
        RumpTimespec now = Clock.Now();
        bool isDir = (attr & FatAttr.Directory) != 0;
        MsdosDirent made;
        m.Lock.Enter();
        try
        {
            int e = m.LoadDir(dn);
            if (e != 0) return e;
            Span<char> buf = stackalloc char[LfnSlot.MaxNameChars + 1];
            e = m.PrepareName(dn, name, null, buf, out MsdosMount.NewName nn);
            if (e != 0) return e;
            var de = new DirEntry { Attr = attr };
            m.Stamp(ref de, now, create: true, modify: true, access: true);
            if (isDir)
            {
                de.Attr = FatAttr.Directory; // directories carry no archive bit
                e = m.Fat.Alloc(dn.FirstCluster + 1, out uint c);
                if (e != 0) return e;
                e = WriteNewDir(m, c, dn, de);
                if (e != 0) { m.Fat.FreeChain(c); return e; }
                de.FirstCluster = c;
            }
            e = m.CreateEntry(dn, ref nn, de, 0, out MsdosDirent ent);
            if (e != 0)
            {
                if (isDir) m.Fat.FreeChain(de.FirstCluster);
                return e;
            }
            PurgeNames(dn);
            made = ent;
        }
        finally { m.Lock.Exit(); }
        // Removed again before its vnode was made: ERESTART, the VFS looks the name up again.
        return VnodeOfEntry(m, made, out vp);
    }

    /// <summary>A new directory's first cluster: "." and ".." and zeros (".." is 0 when the parent is the root, spec 6.7).</summary>
    private static int WriteNewDir(MsdosMount m, uint c, MsdosNode parent, DirEntry stamp)
    {
        int e = m.Mp.Vfs.BufCache.Getblk(m.Dev, m.ClusterBlk(c), m.ClusterBytes, out Buf bp);
        if (e != 0) return e;
        Array.Clear(bp.Data);
        DirEntry dot = stamp;
        Span<byte> dn = dot.Name;
        dn.Fill((byte)' ');
        dn[0] = (byte)'.';
        dot.FirstCluster = c;
        dot.Emit(bp.Data.AsSpan(0, DirEntry.Size));
        dn[1] = (byte)'.';
        dot.FirstCluster = parent.IsRoot ? 0 : parent.FirstCluster;
        dot.Emit(bp.Data.AsSpan(DirEntry.Size, DirEntry.Size));
        m.Mp.Vfs.BufCache.Bdwrite(bp);
        return 0;
    }

    public override int Remove(Vnode dvp, string name, Vnode vp, Lwp l) => RemoveName(dvp, name, vp, dir: false);

    public override int Rmdir(Vnode dvp, string name, Vnode vp, Lwp l) => RemoveName(dvp, name, vp, dir: true);

    private static int RemoveName(Vnode dvp, string name, Vnode vp, bool dir)
    {
        MsdosNode dn = N(dvp);
        if (dn.Type != VType.VDIR) return Abi.ENOTDIR;
        MsdosMount m = dn.M;
        if (m.Mp.ReadOnly) return Abi.EROFS;
        m.Lock.Enter();
        try
        {
            int e = m.LoadDir(dn);
            if (e != 0) return e;
            MsdosDirent? ent = Find(dn, name);
            if (ent == null) return Abi.ENOENT;
            MsdosNode n = N(vp);
            if (ent.Id != n.Id || n.Unlinked) return Abi.ERESTART;
            if (dir)
            {
                if (n.Type != VType.VDIR) return Abi.ENOTDIR;
                if (vp.MountedHere != null) return Abi.EBUSY;
                e = m.LoadDir(n);
                if (e != 0) return e;
                if (n.Dir!.Count != 0) return Abi.ENOTEMPTY;
            }
            else if (n.Type == VType.VDIR) return Abi.EPERM;
            e = m.RemoveEntry(dn, ent);
            m.Unlink(n);
            PurgeNames(dn);
            if (dir) PurgeNames(n);
            return e;
        }
        finally { m.Lock.Exit(); }
    }

    public override int Rename(Vnode fdvp, string fname, Vnode fvp, Vnode tdvp, string tname, Vnode? tvp, Lwp l)
    {
        if (fdvp.Mount != tdvp.Mount || fvp.Mount != fdvp.Mount) return Abi.EXDEV;
        MsdosNode fdn = N(fdvp), tdn = N(tdvp);
        if (fdn.Type != VType.VDIR || tdn.Type != VType.VDIR) return Abi.ENOTDIR;
        MsdosMount m = fdn.M;
        if (m.Mp.ReadOnly) return Abi.EROFS;
        Vnode? oldParent = null;
        m.Lock.Enter();
        try
        {
            int e = m.LoadDir(fdn);
            if (e == 0) e = m.LoadDir(tdn);
            if (e != 0) return e;
            MsdosDirent? fent = Find(fdn, fname);
            if (fent == null) return Abi.ENOENT;
            MsdosNode fn = N(fvp);
            if (fent.Id != fn.Id) return Abi.ERESTART;
            MsdosDirent? tent = Find(tdn, tname);
            if (tent == fent)
            {
                // The same file: nothing to do unless only the case of the name changes.
                if (fdn == tdn && fname == tname) return 0;
                tent = null;
            }
            bool isDir = fn.Type == VType.VDIR;
            if (isDir)
            {
                // Not into itself or below (bounded: parents are a chain of existing nodes).
                int steps = 0;
                for (MsdosNode? a = tdn; a != null && steps < 1_000_000; a = a.Parent, steps++)
                    if (a == fn) return Abi.EINVAL;
            }
            MsdosNode? tn = null;
            // The target must still be what the VFS looked up (a case-only rename finds fvp again: no target).
            if ((tent == null) != (tvp == null || tvp == fvp) || (tent != null && tent.Id != N(tvp!).Id)) return Abi.ERESTART;
            if (tent != null)
            {
                tn = N(tvp!);
                if (isDir)
                {
                    if (tn.Type != VType.VDIR) return Abi.ENOTDIR;
                    if (tvp!.MountedHere != null) return Abi.EBUSY;
                    e = m.LoadDir(tn);
                    if (e != 0) return e;
                    if (tn.Dir!.Count != 0) return Abi.ENOTEMPTY;
                }
                else if (tn.Type == VType.VDIR) return Abi.EISDIR;
            }

            // The old name goes first, so a new name differing only in case can take its place;
            // it is put back exactly as it was if the new one cannot be written.
            int nslots = fent.Slot - fent.FirstSlot + 1;
            byte[] raw = new byte[nslots * DirEntry.Size];
            e = m.ReadSlots(fdn, fent.FirstSlot, raw);
            if (e != 0) return e;
            e = m.RemoveEntry(fdn, fent);
            if (e != 0) { m.RestoreEntry(fdn, fent, raw); return e; }
            Span<char> buf = stackalloc char[LfnSlot.MaxNameChars + 1];
            e = m.PrepareName(tdn, tname, tent, buf, out MsdosMount.NewName nn);
            MsdosDirent? nent = null;
            if (e == 0) e = m.CreateEntry(tdn, ref nn, fent.De, fent.Id, out nent);
            if (e != 0) { m.RestoreEntry(fdn, fent, raw); return e; }

            if (tent != null)
            {
                m.RemoveEntry(tdn, tent);
                // The new entry may share the target's name and alias: index it again.
                tdn.Dir!.Remove(nent!);
                nent!.Removed = false;
                tdn.Dir.Add(nent);
                m.Unlink(tn!);
            }
            oldParent = m.Relocate(fn, tdn, tdvp, nent!);
            if (isDir && fdn != tdn) e = SetDotDot(m, fn, tdn);
            PurgeNames(fdn);
            if (tdn != fdn) PurgeNames(tdn);
            if (tn != null && tn.Type == VType.VDIR) PurgeNames(tn);
            return e;
        }
        finally
        {
            m.Lock.Exit();
            oldParent?.Rele();
        }
    }

    /// <summary>Points a moved directory's ".." entry at its new parent.</summary>
    private static int SetDotDot(MsdosMount m, MsdosNode dir, MsdosNode parent)
    {
        int e = m.LoadDir(dir);
        if (e != 0) return e;
        int slot = dir.Dir!.DotDotSlot;
        if (slot < 0) return 0;
        Span<byte> b = stackalloc byte[DirEntry.Size];
        e = m.ReadSlots(dir, slot, b);
        if (e != 0) return e;
        DirEntry dd = DirEntry.Parse(b, m.Fat32);
        dd.FirstCluster = parent.IsRoot ? 0 : parent.FirstCluster;
        dd.Emit(b);
        return m.WriteSlots(dir, slot, b);
    }

    /// <summary>A removed file's clusters go as soon as its vnode does: ask for that.</summary>
    public override bool Inactive(Vnode vp) => N(vp).Unlinked;

    public override void Reclaim(Vnode vp)
    {
        MsdosNode n = N(vp);
        MsdosMount m = n.M;
        m.Lock.Enter();
        Vnode? parent = m.ReclaimLocked(n);
        m.Lock.Exit();
        parent?.Rele();
    }

    // ---- Attributes ----------------------------------------------------------------------------

    public override int Getattr(Vnode vp, out Vattr va)
    {
        MsdosNode n = N(vp);
        MsdosMount m = n.M;
        va = default;
        m.Lock.Enter();
        try
        {
            ref DirEntry de = ref n.Ent.De;
            va.Type = n.Type;
            va.Fsid = vp.Mount.Fsid;
            va.Fileid = n.Id;
            va.Nlink = n.Unlinked ? 0u : 1u;
            va.Uid = m.Uid;
            va.Gid = m.Gid;
            // NetBSD msdosfs_getattr: rwx for all, write bits dropped for read-only, then the mount's mask.
            uint mode = (de.Attr & FatAttr.ReadOnly) != 0 ? 0x16du : 0x1ffu;
            va.Mode = mode & (n.Type == VType.VDIR ? m.DirMask : m.FileMask);
            va.Blocksize = (uint)m.ClusterBytes;
            long alloc;
            if (n.Type == VType.VDIR)
            {
                if (n.IsRoot && m.FixedRoot) alloc = (long)m.Bpb.RootEntries * DirEntry.Size;
                else
                {
                    int e = m.EnsureMap(n);
                    if (e != 0) return e;
                    alloc = n.Map != null ? (long)n.Map.Count * m.ClusterBytes : 0;
                }
                va.Size = alloc;
            }
            else
            {
                va.Size = de.FileSize;
                alloc = n.Map != null ? (long)n.Map.Count * m.ClusterBytes : (de.FileSize + m.ClusterBytes - 1) / m.ClusterBytes * m.ClusterBytes;
            }
            va.Bytes = alloc;
            va.Mtime = DosTime.ToTimespec(de.WDate, de.WTime, m.GmtOff);
            // FAT keeps no change time: NetBSD reports the modification time.
            va.Ctime = va.Mtime;
            va.Atime = de.ADate != 0 ? DosTime.ToTimespec(de.ADate, 0, m.GmtOff) : va.Mtime;
            va.Birthtime = de.CDate != 0 ? DosTime.ToTimespec(de.CDate, de.CTime, m.GmtOff, de.CTimeTenth) : va.Mtime;
            return 0;
        }
        finally { m.Lock.Exit(); }
    }

    public override int Setattr(Vnode vp, in Vattr va, Lwp l)
    {
        MsdosNode n = N(vp);
        MsdosMount m = n.M;
        VaMask mask = va.Mask;
        if (m.Mp.ReadOnly && mask != VaMask.None) return Abi.EROFS;
        if ((mask & VaMask.Size) != 0)
        {
            if (n.Type == VType.VDIR) return Abi.EISDIR;
            if (va.Size < 0) return Abi.EINVAL;
            if (va.Size > MsdosMount.MaxFileSize) return Abi.EFBIG;
        }
        // Owners are the mount's: only "changing" to them is accepted.
        if ((mask & VaMask.Uid) != 0 && va.Uid != m.Uid) return Abi.EPERM;
        if ((mask & VaMask.Gid) != 0 && va.Gid != m.Gid) return Abi.EPERM;
        RumpTimespec now = Clock.Now();
        m.Lock.Enter();
        try
        {
            ref DirEntry de = ref n.Ent.De;
            int e;
            if ((mask & VaMask.Size) != 0)
            {
                // Also for an unchanged size (O_TRUNC of an empty file): it is still a modification.
                e = m.Truncate(n, va.Size);
                if (e != 0) { m.WriteEntry(n); return e; }
                m.Stamp(ref de, now, create: false, modify: true, access: false);
            }
            if ((mask & VaMask.Mode) != 0 && n.Type == VType.VREG)
            {
                // Only the owner's write bit has a FAT equivalent (NetBSD msdosfs_setattr).
                if ((va.Mode & 0x80) != 0) de.Attr = (byte)(de.Attr & ~FatAttr.ReadOnly);
                else de.Attr |= FatAttr.ReadOnly;
            }
            if ((mask & VaMask.Mtime) != 0 && va.Mtime.tv_nsec != Abi.UTIME_OMIT)
            {
                DosTime.FromUnix(va.Mtime.tv_sec, va.Mtime.tv_nsec, m.GmtOff, out de.WDate, out de.WTime, out _);
                if (n.Type == VType.VREG) de.Attr |= FatAttr.Archive;
            }
            if ((mask & VaMask.Atime) != 0 && va.Atime.tv_nsec != Abi.UTIME_OMIT)
                DosTime.FromUnix(va.Atime.tv_sec, va.Atime.tv_nsec, m.GmtOff, out de.ADate, out _, out _);
            return m.WriteEntry(n);
        }
        finally { m.Lock.Exit(); }
    }

    // ---- Data ----------------------------------------------------------------------------------

    /// <summary>Reads of at least this many bytes of contiguous clusters bypass the buffer cache when it has nothing newer.</summary>
    internal const int DirectMin = 64 << 10;

    /// <summary>
    /// VOP_CLOSE: the file's read-ahead windows go with its reader (with any of its readers: another
    /// descriptor's reader starts them again with its next read). They hold the device's DMA
    /// memory or the cache's staging buffers, of which there are few, and a cached node may sit
    /// unread for a long time.
    /// </summary>
    public override int Close(Vnode vp, int fflag, Lwp l)
    {
        MsdosNode n = N(vp);
        if (n.Ahead == null) return 0;
        n.M.Lock.Enter();
        try { n.Ahead.Drop(); }
        finally { n.M.Lock.Exit(); }
        return 0;
    }

    public override int Read(Vnode vp, ref Uio uio, int ioflag, Lwp l)
    {
        MsdosNode n = N(vp);
        if (n.Type != VType.VREG) return n.Type == VType.VDIR ? Abi.EISDIR : Abi.EINVAL;
        if (uio.Offset < 0) return Abi.EINVAL;
        if (uio.Resid == 0) return 0;
        MsdosMount m = n.M;
        BufCache bc = m.Bc;
        int csize = m.ClusterBytes;
        m.Lock.Enter();
        try
        {
            int e = m.EnsureMap(n);
            if (e != 0) return e;
            long size = n.Ent.De.FileSize;
            ClusterMap map = n.Map!;
            bool sequential = uio.Offset == n.ReadEnd;
            while (uio.Resid > 0 && uio.Offset < size)
            {
                long off = uio.Offset;
                uint ci = (uint)(off / csize);
                int within = (int)(off % csize);
                int len = (int)Math.Min(csize - within, Math.Min(uio.Resid, size - off));
                if (ci >= map.Count) return Abi.EIO;
                long want = Math.Min(uio.Resid, size - off);
                // Read-ahead already queued for this part of the file: copy from it.
                if (n.Ahead != null && !n.Ahead.Empty)
                {
                    if (n.Ahead.TryServe(map, ref uio, ci, want, size, out e))
                    {
                        if (e != 0) return e;
                        continue;
                    }
                }
                // Large reads of a contiguous run of clusters go straight from the device (one
                // transfer, into the reader's memory when it can be, no per-cluster buffers) unless
                // the cache holds newer data for them.
                if (want >= DirectMin)
                {
                    uint run = (uint)Math.Min(map.RunFrom(ci), Math.Min((within + want + csize - 1) / csize, BufCache.MaxUncached / csize));
                    if ((long)run * csize >= DirectMin)
                    {
                        int bytes = (int)run * csize;
                        int copy = (int)Math.Min(want, bytes - within);
                        bool done = bc.ReadUncached(ref uio, m.Dev, m.ClusterBlk(map.Get(ci)), csize, bytes, within, copy, out e);
                        if (e != 0) return e;
                        // A sequential reader that took the whole run goes on after it: the next
                        // runs are read ahead.
                        if (done && sequential && within + copy == bytes && bc.Direct)
                        {
                            n.Ahead ??= new ReadAhead(m);
                            n.Ahead.Fill(map, ci + run, size);
                        }
                        if (done) continue;
                    }
                }
                e = bc.Bread(m.Dev, m.ClusterBlk(map.Get(ci)), csize, out Buf bp);
                if (e != 0) return e;
                e = uio.Move(new ReadOnlySpan<byte>(bp.Data, within, len));
                bc.Brelse(bp);
                if (e != 0) return e;
            }
            n.ReadEnd = uio.Offset;
            TouchAccess(m, n, ioflag);
            return 0;
        }
        finally { m.Lock.Exit(); }
    }

    /// <summary>
    /// VOP_BMAP for a reader that moves the bytes itself (<see cref="VnodeOps.Bmap"/>): the runs of
    /// consecutive clusters under the range, each checked against the buffer cache, and the
    /// transfer, under the mount's lock (which every write, truncation and allocation takes).
    /// </summary>
    public override int Bmap(Vnode vp, long offset, int length, int ioflag, DeviceRunSink sink, Lwp l)
    {
        MsdosNode n = N(vp);
        if (n.Type != VType.VREG || offset < 0 || length <= 0) return Abi.EOPNOTSUPP;
        MsdosMount m = n.M;
        int csize = m.ClusterBytes;
        m.Lock.Enter();
        try
        {
            int e = m.EnsureMap(n);
            if (e != 0) return e;
            long end = Math.Min(n.Ent.De.FileSize, offset + length);
            if (offset >= end) return Abi.EOPNOTSUPP;
            ClusterMap map = n.Map!;
            for (long off = offset; off < end;)
            {
                uint ci = (uint)(off / csize);
                int within = (int)(off % csize);
                if (ci >= map.Count) return Abi.EIO;
                long run = Math.Min(map.RunFrom(ci), (within + end - off + csize - 1) / csize);
                int bytes = (int)(run * csize);
                long blkno = m.ClusterBlk(map.Get(ci));
                if (m.Bc.HoldsNewer(m.Dev, blkno, csize, bytes)) return Abi.EOPNOTSUPP;
                int take = (int)Math.Min(end - off, bytes - within);
                if (!sink.Add(m.Dev, blkno * BlockDevice.DevBSize + within, take)) return Abi.EOPNOTSUPP;
                off += take;
            }
            e = sink.Transfer(l);
            if (e == 0) TouchAccess(m, n, ioflag);
            return e;
        }
        finally { m.Lock.Exit(); }
    }

    /// <summary>Records a read's access unless the mount or the caller says not to. Access times are dates: the entry is written at most once a day per file. Precondition: the mount's lock held.</summary>
    private static void TouchAccess(MsdosMount m, MsdosNode n, int ioflag)
    {
        if ((ioflag & IoFlag.NoAtime) != 0 || (m.Mp.Flags & (Abi.MNT_NOATIME | Abi.MNT_RDONLY)) != 0) return;
        ref DirEntry de = ref n.Ent.De;
        ushort old = de.ADate;
        m.Stamp(ref de, Clock.Now(), create: false, modify: false, access: true);
        if (de.ADate != old) m.WriteEntry(n);
    }

    public override int Write(Vnode vp, ref Uio uio, int ioflag, Lwp l)
    {
        MsdosNode n = N(vp);
        if (n.Type != VType.VREG) return n.Type == VType.VDIR ? Abi.EISDIR : Abi.EINVAL;
        if (uio.Resid == 0) return 0;
        MsdosMount m = n.M;
        if (m.Mp.ReadOnly) return Abi.EROFS;
        BufCache bc = m.Bc;
        int csize = m.ClusterBytes;
        bool sync = (ioflag & IoFlag.Sync) != 0 || (m.Mp.Flags & Abi.MNT_SYNCHRONOUS) != 0;
        RumpTimespec now = Clock.Now();
        m.Lock.Enter();
        try
        {
            ref DirEntry de = ref n.Ent.De;
            // Queued read-ahead may hold what this write replaces, or clusters that move.
            n.Ahead?.Drop();
            if ((ioflag & IoFlag.Append) != 0) uio.Offset = de.FileSize;
            if (uio.Offset < 0) return Abi.EINVAL;
            if (uio.Offset >= MsdosMount.MaxFileSize) return Abi.EFBIG;
            int e = m.EnsureMap(n);
            if (e != 0) return e;
            // FAT files end at 4 GiB - 1: a write crossing it is cut short there.
            long limit = Math.Min(uio.Resid, MsdosMount.MaxFileSize - uio.Offset);
            long start = uio.Resid;
            long stopAt = start - limit;
            // Writing past the end: the clusters between are filled with zeros first.
            if (uio.Offset > de.FileSize)
            {
                e = m.Truncate(n, uio.Offset);
                if (e != 0) { m.WriteEntry(n); return e; }
            }
            while (uio.Resid > stopAt)
            {
                long off = uio.Offset;
                uint ci = (uint)(off / csize);
                int within = (int)(off % csize);
                int len = (int)Math.Min(csize - within, uio.Resid - stopAt);
                bool whole = within == 0 && len == csize;
                e = m.GetDataBuf(n, ci, whole, out Buf bp);
                if (e != 0) break;
                long before = uio.Resid;
                e = uio.Move(new Span<byte>(bp.Data, within, len));
                int moved = (int)(before - uio.Resid);
                // A fault part-way: what was not copied must not reach the disk as garbage.
                if (moved < len && whole) Array.Clear(bp.Data, moved, csize - moved);
                if (uio.Offset > de.FileSize) de.FileSize = (uint)uio.Offset;
                if (sync) bc.Bwrite(bp); else bc.Bdwrite(bp);
                if (e != 0) break;
            }
            if (uio.Resid != start)
            {
                m.Stamp(ref de, now, create: false, modify: true, access: false);
                // Out of space after some progress: a short write, as NetBSD.
                if (e == Abi.ENOSPC) e = 0;
            }
            else if (e == 0 && limit == 0) e = Abi.EFBIG;
            int we = m.WriteEntry(n);
            if (e == 0) e = we;
            if (e == 0 && sync) e = SyncLocked(m);
            return e;
        }
        finally { m.Lock.Exit(); }
    }

    public override int Readdir(Vnode vp, ref Uio uio, ref long cookie, Lwp l)
    {
        MsdosNode n = N(vp);
        if (n.Type != VType.VDIR) return Abi.ENOTDIR;
        if (cookie < 0) return Abi.EINVAL;
        MsdosMount m = n.M;
        m.Lock.Enter();
        try
        {
            if (n.Unlinked) return 0;
            int e = m.LoadDir(n);
            if (e != 0) return e;
            bool wrote = false, full;
            if (cookie == 0)
            {
                e = ReaddirSink.Add(ref uio, n.Id, VType.VDIR, ".", out full);
                if (e != 0) return e;
                if (full) return Abi.EINVAL;
                wrote = true;
                cookie = 1;
            }
            if (cookie == 1)
            {
                e = ReaddirSink.Add(ref uio, (n.Parent ?? n).Id, VType.VDIR, "..", out full);
                if (e != 0) return e;
                if (full) return wrote ? 0 : Abi.EINVAL;
                wrote = true;
                cookie = 2;
            }
            MsdosDir dir = n.Dir!;
            for (int i = dir.SeekIndex(cookie); i < dir.Count; i++)
            {
                MsdosDirent d = dir[i];
                e = ReaddirSink.Add(ref uio, d.Id, d.De.IsDirectory ? VType.VDIR : VType.VREG, d.Name, out full);
                if (e != 0) return e;
                if (full) return wrote ? 0 : Abi.EINVAL;
                wrote = true;
                cookie = d.Cookie + 1;
            }
            return 0;
        }
        finally { m.Lock.Exit(); }
    }

    public override int Fsync(Vnode vp, bool dataOnly, Lwp l)
    {
        MsdosMount m = N(vp).M;
        if (m.Mp.ReadOnly) return 0;
        m.Lock.Enter();
        try { return SyncLocked(m); }
        finally { m.Lock.Exit(); }
    }

    /// <summary>FSInfo, then every dirty buffer of the device. Precondition: the mount's lock is held.</summary>
    internal static int SyncLocked(MsdosMount m)
    {
        int e = m.WriteFsInfo();
        int f = m.Bc.Flush(m.Dev);
        return e != 0 ? e : f;
    }
}
