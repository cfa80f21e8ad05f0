using System;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Cd9660;

/// <summary>
/// cd9660's vnode operations (NetBSD cd9660_vnops.c, cd9660_lookup.c): lookup, getattr, read,
/// readdir, readlink. Stateless and lock-free: nodes are immutable, directories are parsed into an
/// immutable <see cref="IsoDir"/> cached per node (see <see cref="Cd9660Mount"/> for the rules).
/// Everything that changes the file system is left to the defaults (EOPNOTSUPP); the VFS refuses
/// it first with EROFS because every mount is read-only.
/// </summary>
internal sealed class Cd9660VnodeOps : VnodeOps
{
    private static Cd9660Node N(Vnode vp) => (Cd9660Node)vp.Data;

    /// <summary>The node's parsed directory, from the cache or scanned now.</summary>
    private static int GetDir(Cd9660Node n, out IsoDir? dir)
    {
        Cd9660Mount imp = n.Imp;
        dir = imp.CachedDir(n);
        if (dir != null) return 0;
        int e = new DirScanner(imp).Scan(n.Attr, out IsoDir? d);
        if (e != 0) return e;
        dir = imp.InstallDir(n, d!);
        return 0;
    }

    public override int Lookup(Vnode dvp, ReadOnlySpan<char> name, out Vnode? vp)
    {
        vp = null;
        Cd9660Node dn = N(dvp);
        Cd9660Mount imp = dn.Imp;
        if (dn.Attr.Type != VType.VDIR) return Abi.ENOTDIR;
        if (name.Length == 1 && name[0] == '.') { vp = dvp.Ref(); return 0; }
        int e = GetDir(dn, out IsoDir? dir);
        if (e != 0) return e;
        if (name.Length == 2 && name[0] == '.' && name[1] == '.')
        {
            if (dn.Ino == imp.RootIno) { vp = dvp.Ref(); return 0; }
            // Only the root is its own parent (but see CheckChild for Joliet, where NetBSD's answer stays).
            if (dir!.ParentLbn == dn.Attr.Extent && imp.Names != NameMode.Joliet) return Abi.EIO;
            // The parent's extent comes from the ".." record (or PL).
            return imp.GetVnode((ulong)dir!.ParentLbn << imp.BlockShift, new DotAt(dir.ParentLbn), VType.VDIR, out vp);
        }

        IsoEntry? ent = dir!.Lookup(name);
        if (ent == null && imp.Names == NameMode.Iso && imp.CaseTrans && name.Length <= 255)
        {
            // Plain ISO names are shown lower-cased but match in any case, as NetBSD's isofncmp.
            Span<char> lower = stackalloc char[name.Length];
            for (int i = 0; i < name.Length; i++) lower[i] = name[i] is >= 'A' and <= 'Z' ? (char)(name[i] + 32) : name[i];
            ent = dir.Lookup(lower);
        }
        if (ent == null) return Abi.ENOENT;

        // A Rock Ridge child link: the directory's attributes are in its own "." record.
        e = ent.Attr == null
            ? imp.GetVnode(ent.Ino, new DotAt(ent.RelocatedLbn), VType.VDIR, out vp)
            : imp.GetVnode(ent.Ino, ent.Attr, ent.Attr.Type, out vp);
        if (e != 0 || vp!.Type != VType.VDIR) return e;
        return CheckChild(dn, ref vp);
    }

    /// <summary>
    /// Directories form a tree: one found by name in <paramref name="dn"/> is not dn itself, and its
    /// ".." (or Rock Ridge PL) names dn. A damaged image can name an ancestor instead, which makes
    /// the tree endless: EIO, as msdosfs refuses a second entry for a directory. xorriso writes
    /// the ".." of every Joliet subdirectory as the directory itself: in the Joliet tree that
    /// means "not recorded" and cannot be checked.
    /// </summary>
    private static int CheckChild(Cd9660Node dn, ref Vnode? vp)
    {
        Cd9660Node c = N(vp!);
        if (c == dn) return Release(ref vp);
        int e = GetDir(c, out IsoDir? dir);
        if (e != 0) { vp!.Rele(); vp = null; return e; }
        uint parent = dir!.ParentLbn;
        if (parent == dn.Attr.Extent || (parent == c.Attr.Extent && dn.Imp.Names == NameMode.Joliet)) return 0;
        return Release(ref vp);
    }

    /// <summary>A hostile image named a non-directory as a directory: drop the reference, EIO.</summary>
    private static int Release(ref Vnode? vp)
    {
        vp!.Rele();
        vp = null;
        return Abi.EIO;
    }

    /// <summary>The node's cached directory leaves the LRU with it.</summary>
    public override void Reclaim(Vnode vp) => N(vp).Imp.DropDir(N(vp));

    public override int Getattr(Vnode vp, out Vattr va)
    {
        Cd9660Node n = N(vp);
        IsoAttr a = n.Attr;
        va = default;
        va.Type = a.Type;
        va.Mode = a.Mode;
        va.Nlink = a.Nlink;
        va.Uid = a.Uid;
        va.Gid = a.Gid;
        va.Fsid = vp.Mount.Fsid;
        va.Fileid = n.Ino;
        va.Size = a.Size;
        int bs = n.Imp.BlockSize;
        va.Bytes = (a.Type == VType.VREG || a.Type == VType.VDIR) ? (a.Size + bs - 1) / bs * bs : 0;
        va.Blocksize = (uint)bs;
        va.Atime = a.Atime;
        va.Mtime = a.Mtime;
        va.Ctime = a.Ctime;
        va.Birthtime = a.Birthtime;
        va.Rdev = a.Rdev;
        va.Gen = 1;
        return 0;
    }

    public override int Read(Vnode vp, ref Uio uio, int ioflag, Lwp l)
    {
        Cd9660Node n = N(vp);
        IsoAttr a = n.Attr;
        if (a.Type != VType.VREG) return a.Type == VType.VDIR ? Abi.EISDIR : Abi.EINVAL;
        if (uio.Offset < 0) return Abi.EINVAL;
        Cd9660Mount imp = n.Imp;
        if (uio.Resid == 0 || uio.Offset >= a.Size) return 0;
        if (a.Unreadable) return Abi.EIO;
        long start = uio.Resid;
        int err = ReadLoop(imp, a, ref uio);
        // A read that made progress returns the short count; the error comes with the next read.
        return uio.Resid != start ? 0 : err;
    }

    /// <summary>
    /// VOP_BMAP for a reader that moves the bytes itself (<see cref="VnodeOps.Bmap"/>): the file's
    /// extents under the range. Nothing on an ISO 9660 mount is ever written, so the cache can hold
    /// nothing newer than the device, and no lock is needed to keep the extents still.
    /// </summary>
    public override int Bmap(Vnode vp, long offset, int length, int ioflag, DeviceRunSink sink, Lwp l)
    {
        IsoAttr a = N(vp).Attr;
        if (a.Type != VType.VREG || a.Unreadable || offset < 0 || length <= 0) return Abi.EOPNOTSUPP;
        Cd9660Mount imp = N(vp).Imp;
        long end = Math.Min(a.Size, offset + length);
        if (offset >= end) return Abi.EOPNOTSUPP;
        int xi = 0;
        long xStart = 0;
        for (long off = offset; off < end;)
        {
            if (!ExtentAt(a, off, ref xi, ref xStart, out uint xLbn, out uint xLen)) return Abi.EIO;
            long within = off - xStart;
            int take = (int)Math.Min(xLen - within, end - off);
            long addr = ((long)xLbn << imp.BlockShift) + within;
            if (take <= 0 || addr + take > imp.Dev.Size) return Abi.EIO;   // a corrupt extent: Read says EIO too
            if (!sink.Add(imp.Dev, addr, take)) return Abi.EOPNOTSUPP;
            off += take;
        }
        return sink.Transfer(l);
    }

    /// <summary>
    /// The extent holding file offset <paramref name="off"/>: its first block and length. One
    /// extent is the common case; a multi-extent file's list is walked forward from extent
    /// <paramref name="xi"/> (starting at file offset <paramref name="xStart"/>), which the caller
    /// keeps between calls for offsets that only grow. False past the last extent (a corrupt size).
    /// </summary>
    private static bool ExtentAt(IsoAttr a, long off, ref int xi, ref long xStart, out uint lbn, out uint len)
    {
        if (a.Extents == null)
        {
            lbn = a.DataLbn;
            len = (uint)Math.Min(a.Size, uint.MaxValue);
            return true;
        }
        while (xi < a.Extents.Length && off >= xStart + a.Extents[xi].Length) { xStart += a.Extents[xi].Length; xi++; }
        if (xi >= a.Extents.Length) { lbn = len = 0; return false; }
        lbn = a.Extents[xi].Lbn;
        len = a.Extents[xi].Length;
        return true;
    }

    private static int ReadLoop(Cd9660Mount imp, IsoAttr a, ref Uio uio)
    {
        BlockDevice dev = imp.Dev;
        BufCache cache = imp.Cache;
        long sectorMask = dev.SectorSize - 1;
        // Which extent holds the offset: one extent is the common case; multi-extent files walk the list.
        int xi = 0;
        long xStart = 0;
        while (uio.Resid > 0 && uio.Offset < a.Size)
        {
            long off = uio.Offset;
            if (!ExtentAt(a, off, ref xi, ref xStart, out uint xLbn, out uint xLen)) return Abi.EIO;
            long within = off - xStart;
            long addr = ((long)xLbn << imp.BlockShift) + within;
            long n0 = Math.Min(Math.Min(xLen - within, a.Size - off), uio.Resid);
            // The aligned chunk holding addr, cut at the end of the device.
            long chunkBase = addr & ~(long)(Cd9660Mount.DataChunk - 1);
            long chunkLen = Math.Min(Cd9660Mount.DataChunk, dev.Size - chunkBase) & ~sectorMask;
            long inChunk = addr - chunkBase;
            if (inChunk >= chunkLen) return Abi.EIO; // data beyond the device: a corrupt extent
            int take = (int)Math.Min(n0, chunkLen - inChunk);
            int e = cache.Bread(dev, chunkBase / BlockDevice.DevBSize, (int)chunkLen, out Buf bp);
            if (e != 0) return e;
            e = uio.Move(new ReadOnlySpan<byte>(bp.Data, (int)inChunk, take));
            cache.Brelse(bp);
            if (e != 0) return e;
        }
        return 0;
    }

    public override int Readdir(Vnode vp, ref Uio uio, ref long cookie, Lwp l)
    {
        Cd9660Node n = N(vp);
        if (n.Attr.Type != VType.VDIR) return Abi.ENOTDIR;
        if (cookie < 0) return Abi.EINVAL;
        Cd9660Mount imp = n.Imp;
        int e = GetDir(n, out IsoDir? dir);
        if (e != 0) return e;
        bool wrote = false, full;
        if (cookie == 0)
        {
            e = ReaddirSink.Add(ref uio, n.Ino, VType.VDIR, ".", out full);
            if (e != 0) return e;
            if (full) return Abi.EINVAL;
            wrote = true;
            cookie = 1;
        }
        if (cookie == 1)
        {
            ulong parent = n.Ino == imp.RootIno ? n.Ino : (ulong)dir!.ParentLbn << imp.BlockShift;
            e = ReaddirSink.Add(ref uio, parent, VType.VDIR, "..", out full);
            if (e != 0) return e;
            if (full) return wrote ? 0 : Abi.EINVAL;
            wrote = true;
            cookie = IsoDir.FirstCookie;
        }
        IsoEntry[] ents = dir!.Entries;
        for (int i = dir.Seek(cookie); i < ents.Length; i++)
        {
            IsoEntry d = ents[i];
            e = ReaddirSink.Add(ref uio, d.Ino, d.Type, d.Name, out full);
            if (e != 0) return e;
            if (full) return wrote ? 0 : Abi.EINVAL;
            wrote = true;
            cookie = d.Cookie + 1;
        }
        return 0;
    }

    public override int Readlink(Vnode vp, ref Uio uio, Lwp l)
    {
        IsoAttr a = N(vp).Attr;
        if (a.Type != VType.VLNK) return Abi.EINVAL;
        if (a.Unreadable || a.Link == null) return Abi.EIO;
        return uio.Move((ReadOnlySpan<byte>)a.Link);
    }
}
