using System;
using System.Collections.Generic;
using Rump.Fs.Cd9660.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Cd9660;

/// <summary>
/// Turns directory records into names and attributes (NetBSD cd9660_lookup/readdir plus
/// cd9660_rrip.c): scans a directory's blocks through the buffer cache, joins multi-extent files,
/// applies the mount's name precedence (Rock Ridge NM, else Joliet, else the ISO name) and Rock
/// Ridge attributes, hides relocated directories (RE) and resolves child links (CL).
///
/// Corruption policy: a record whose length is below the minimum or runs past its block, a
/// directory larger than <see cref="Cd9660Mount.MaxDirBytes"/>, or an unreadable block fails the
/// whole directory with EIO; a single entry with an unusable name is left out.
/// </summary>
internal sealed class DirScanner
{
    /// <summary>Most pieces one file may have (each up to 4 GiB).</summary>
    public const int MaxExtents = 4096;

    private readonly Cd9660Mount _imp;
    private readonly RockRidgeWalk? _rr;
    private readonly byte[] _block;
    private readonly char[] _name = new char[Math.Max(IsoName.MaxTranslated, RockRidgeWalk.MaxName)];

    public DirScanner(Cd9660Mount imp)
    {
        _imp = imp;
        _rr = imp.Names == NameMode.RockRidge ? new RockRidgeWalk(imp) : null;
        _block = new byte[imp.BlockSize];
    }

    /// <summary>Parses directory <paramref name="dir"/> whole.</summary>
    public int Scan(IsoAttr dir, out IsoDir? result)
    {
        result = null;
        if (dir.Extents != null || dir.Unreadable) return Abi.EIO;
        long size = dir.Size;
        if (size > Cd9660Mount.MaxDirBytes) return Abi.EIO;
        int bs = _imp.BlockSize;
        long nblocks = (size + bs - 1) / bs;
        var entries = new List<IsoEntry>();
        uint parentLbn = dir.Extent;
        Pending? pending = null;
        for (long b = 0; b < nblocks; b++)
        {
            long lbn = dir.DataLbn + b;
            int e = _imp.ReadBlock(lbn, _block);
            if (e != 0) return e;
            int end = (int)Math.Min(bs, size - b * bs);
            int off = 0;
            while (off < end)
            {
                if (_block[off] == 0) break; // the rest of the block is padding (9.1.1)
                e = DirRecord.Parse(_block.AsSpan(off, end - off), out DirRecord rec);
                if (e != 0) return e;
                long cookie = b * bs + off + IsoDir.FirstCookie;
                ulong recAddr = (ulong)((lbn << _imp.BlockShift) + off);
                off += rec.Length;
                if (rec.IsDot) continue;
                if (rec.IsDotDot)
                {
                    parentLbn = rec.Extent;
                    if (_rr != null)
                    {
                        e = _rr.Walk(SkipSua(rec.SystemUse, _imp.RrSkip));
                        if (e != 0) return e;
                        if (_rr.HasPl) parentLbn = _rr.Pl;
                    }
                    continue;
                }
                if (rec.IsAssociated) continue; // Apple resource forks and the like: not shown

                // A multi-extent file continues in records of the same identifier (6.5.1).
                if (pending != null)
                {
                    if (rec.Name.SequenceEqual(pending.RawName))
                    {
                        pending.Add(rec);
                        if (!rec.IsMultiExtent) { entries.Add(pending.Finish(complete: true)); pending = null; }
                        continue;
                    }
                    entries.Add(pending.Finish(complete: false)); // the chain broke off: listed, but unreadable
                    pending = null;
                }

                e = Decode(rec, recAddr, _imp.RrSkip, out IsoAttr attr, out int nameLen, out bool hidden, out uint clLbn);
                if (e != 0) return e;
                if (hidden) continue;
                ReadOnlySpan<char> name = _name.AsSpan(0, nameLen);
                if (!IsoName.IsValid(name)) continue;
                string s = new string(name);
                if (clLbn != 0)
                {
                    entries.Add(new IsoEntry(s, cookie, (ulong)clLbn << _imp.BlockShift, VType.VDIR, null, clLbn));
                    continue;
                }
                ulong ino = attr.Type == VType.VDIR ? (ulong)attr.Extent << _imp.BlockShift : recAddr;
                if (rec.IsMultiExtent && attr.Type == VType.VREG)
                {
                    pending = new Pending(s, cookie, ino, attr, rec);
                    continue;
                }
                entries.Add(new IsoEntry(s, cookie, ino, attr.Type, attr, 0));
            }
        }
        if (pending != null) entries.Add(pending.Finish(complete: false));
        result = new IsoDir(entries.ToArray(), parentLbn);
        return 0;
    }

    /// <summary>
    /// The attributes of the directory whose "." record starts block <paramref name="lbn"/>: a
    /// relocated directory (CL), a parent (".." / PL) not yet in the vnode table, or the root.
    /// </summary>
    public int ReadDot(uint lbn, int skip, out IsoAttr? attr)
    {
        attr = null;
        int e = _imp.ReadBlock(lbn, _block);
        if (e != 0) return e;
        e = DirRecord.Parse(_block, out DirRecord rec);
        if (e != 0) return e;
        if (!rec.IsDot || !rec.IsDirectory) return Abi.EIO;
        e = Decode(rec, (ulong)lbn << _imp.BlockShift, skip, out IsoAttr a, out _, out _, out _);
        if (e != 0) return e;
        a.Type = VType.VDIR;
        attr = a;
        return 0;
    }

    /// <summary>
    /// The attributes of the file numbered <paramref name="ino"/> without its directory (a lookup by
    /// number, VFS_VGET): a directory's number is its extent's address, where its "." record is; a
    /// file's is its (first) record's address, and the records after it with the same identifier
    /// continue a multi-extent file. ESTALE for a number that is neither.
    /// </summary>
    public int ReadNumber(ulong ino, out IsoAttr? attr)
    {
        attr = null;
        int bs = _imp.BlockSize;
        long lbn = (long)(ino >> _imp.BlockShift);
        int off = (int)(ino & (ulong)(bs - 1));
        if (lbn >= _imp.VolumeBlocks) return Abi.ESTALE;
        int e = _imp.ReadBlock(lbn, _block);
        if (e != 0) return e;
        if (DirRecord.Parse(_block.AsSpan(off), out DirRecord rec) != 0) return Abi.ESTALE;
        if (rec.IsDot) return off == 0 && rec.IsDirectory ? ReadDot((uint)lbn, _imp.RrSkip, out attr) : Abi.ESTALE;
        if (rec.IsDotDot || rec.IsAssociated) return Abi.ESTALE;
        e = Decode(rec, ino, _imp.RrSkip, out IsoAttr a, out _, out bool hidden, out uint clLbn);
        if (e != 0) return e;
        // Directories are numbered by their extent, not by a record naming them.
        if (hidden || clLbn != 0 || a.Type == VType.VDIR) return Abi.ESTALE;
        if (rec.IsMultiExtent && a.Type == VType.VREG)
        {
            var p = new Pending("", 0, ino, a, rec);
            int pos = off + rec.Length;
            bool complete = false;
            for (int i = 0; i < MaxExtents && !complete; i++)
            {
                if (pos >= bs || _block[pos] == 0)
                {
                    // Records do not cross blocks: the chain goes on in the next block of the directory.
                    lbn++;
                    pos = 0;
                    if (lbn >= _imp.VolumeBlocks || _imp.ReadBlock(lbn, _block) != 0 || _block[0] == 0) break;
                }
                if (DirRecord.Parse(_block.AsSpan(pos), out DirRecord r) != 0 || !r.Name.SequenceEqual(p.RawName)) break;
                p.Add(r);
                pos += r.Length;
                complete = !r.IsMultiExtent;
            }
            p.Finish(complete);
        }
        attr = a;
        return 0;
    }

    /// <summary>The bytes of a System Use area after LEN_SKP.</summary>
    private static ReadOnlySpan<byte> SkipSua(ReadOnlySpan<byte> sua, int skip) => skip >= sua.Length ? default : sua.Slice(skip);

    /// <summary>
    /// Decodes one record: its attributes, its name into <see cref="_name"/>, whether Rock Ridge hides
    /// it (RE), and a CL target (0 if none).
    /// </summary>
    private int Decode(in DirRecord rec, ulong recAddr, int skip, out IsoAttr a, out int nameLen, out bool hidden, out uint clLbn)
    {
        hidden = false;
        clLbn = 0;
        nameLen = 0;
        a = new IsoAttr
        {
            Extent = rec.Extent,
            DataLbn = rec.Extent + rec.XattrLength,
            Size = rec.DataLength,
            Unreadable = rec.FileUnitSize != 0 || rec.InterleaveGap != 0 || (ulong)rec.Extent + rec.XattrLength > uint.MaxValue,
        };
        RumpTimespec t = IsoTime.DecodeShort(rec.Date);
        a.Atime = a.Mtime = a.Ctime = a.Birthtime = t;
        bool isDir = rec.IsDirectory;

        RockRidgeWalk? rr = _rr;
        if (rr != null)
        {
            int e = rr.Walk(SkipSua(rec.SystemUse, skip));
            if (e != 0) return e;
            if (rr.Relocated) { hidden = true; return 0; }
            if (rr.HasCl && rr.Cl != 0) { clLbn = rr.Cl; isDir = true; }
        }

        // Names: Rock Ridge NM first, else the tree's own identifiers.
        if (rr != null && rr.HasName && !rr.NameBad && rr.NameLen > 0)
        {
            ReadOnlySpan<byte> nm = rr.Name;
            for (int i = 0; i < nm.Length; i++) _name[i] = (char)nm[i];
            nameLen = nm.Length;
        }
        else if (_imp.Names == NameMode.Joliet)
            nameLen = IsoName.TranslateJoliet(rec.Name, _name);
        else
            nameLen = IsoName.TranslateIso(rec.Name, _imp.CaseTrans, _name);

        // Type and permissions: Rock Ridge PX, else NetBSD's defaults. The record's directory flag
        // (or CL) decides directory-ness: PX cannot turn a file into a directory or back.
        VType type = isDir ? VType.VDIR : VType.VREG;
        if (rr != null && rr.HasPx)
        {
            VType px = ModeToType(rr.Mode);
            if (!isDir && px != VType.VDIR && px != VType.VNON) type = px;
            a.Mode = rr.Mode & 0xfff;
            a.Nlink = rr.Nlink == 0 ? 1u : rr.Nlink;
            a.Uid = rr.Uid;
            a.Gid = rr.Gid;
        }
        else
        {
            a.Mode = isDir ? 0x16du /* 0555 */ : 0x124u /* 0444 */;
            a.Nlink = isDir ? 2u : 1u;
        }
        a.Type = type;

        if (rr != null)
        {
            byte tf = rr.TfPresent;
            if ((tf & RockRidge.TfModify) != 0) a.Mtime = rr.Times[1];
            a.Atime = (tf & RockRidge.TfAccess) != 0 ? rr.Times[2] : a.Mtime;
            a.Ctime = (tf & RockRidge.TfAttributes) != 0 ? rr.Times[3] : a.Mtime;
            a.Birthtime = (tf & RockRidge.TfCreation) != 0 ? rr.Times[0] : a.Mtime;
            if (type == VType.VLNK)
            {
                if (rr.LinkBad || !rr.HasLink) a.Unreadable = true;
                else a.Link = rr.Link.ToArray();
                a.Size = rr.LinkLen;
            }
            if ((type == VType.VCHR || type == VType.VBLK) && rr.HasPn)
                a.Rdev = rr.PnHigh == 0 ? rr.PnLow : MakeDev(rr.PnHigh, rr.PnLow);
            if (type is VType.VCHR or VType.VBLK or VType.VFIFO or VType.VSOCK) a.Size = 0;
        }
        return 0;
    }

    private static VType ModeToType(uint mode) => (int)(mode & Abi.S_IFMT) switch
    {
        Abi.S_IFREG => VType.VREG,
        Abi.S_IFDIR => VType.VDIR,
        Abi.S_IFLNK => VType.VLNK,
        Abi.S_IFCHR => VType.VCHR,
        Abi.S_IFBLK => VType.VBLK,
        Abi.S_IFIFO => VType.VFIFO,
        Abi.S_IFSOCK => VType.VSOCK,
        _ => VType.VNON,
    };

    /// <summary>NetBSD makedev(): major in bits 8–19, minor in bits 0–7 and 20–31.</summary>
    private static ulong MakeDev(uint major, uint minor)
        => ((major << 8) & 0x000fff00u) | (minor & 0xffu) | ((minor << 12) & 0xfff00000u);

    /// <summary>A multi-extent file whose records are still being collected.</summary>
    private sealed class Pending
    {
        public readonly byte[] RawName;
        private readonly string _name;
        private readonly long _cookie;
        private readonly ulong _ino;
        private readonly IsoAttr _attr;
        private readonly List<IsoExtent> _extents = new();
        private bool _broken;

        public Pending(string name, long cookie, ulong ino, IsoAttr attr, in DirRecord first)
        {
            _name = name; _cookie = cookie; _ino = ino; _attr = attr;
            RawName = first.Name.ToArray();
            _extents.Add(new IsoExtent(attr.DataLbn, first.DataLength));
        }

        public void Add(in DirRecord rec)
        {
            if (_extents.Count >= MaxExtents || rec.FileUnitSize != 0 || rec.InterleaveGap != 0) { _broken = true; return; }
            _extents.Add(new IsoExtent(rec.Extent + rec.XattrLength, rec.DataLength));
        }

        public IsoEntry Finish(bool complete)
        {
            if (!complete) _broken = true;
            long size = 0;
            foreach (IsoExtent x in _extents) size += x.Length;
            _attr.Size = size;
            _attr.Extents = _extents.ToArray();
            // A chain without its final record is truncated: what is there cannot be trusted.
            if (_broken) _attr.Unreadable = true;
            return new IsoEntry(_name, _cookie, _ino, VType.VREG, _attr, 0);
        }
    }
}
