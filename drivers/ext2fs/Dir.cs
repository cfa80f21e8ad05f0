using System;
using System.Collections.Generic;
using System.Text;
using Rump.Fs.Ext2fs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Ext2fs;

/// <summary>Where a name lives in a directory: its inode, type byte, and byte offset of its record.</summary>
internal struct DirSlot
{
    public uint Ino;
    public byte Type;
    public long Off;
}

/// <summary>
/// A directory's parsed names (one char per byte, as the VFS passes them) and, per block, the
/// largest record that would still fit — so lookup is a hash probe and insertion goes straight
/// to a block with room. Built by one scan of the directory; kept current by the operations in
/// <see cref="Dir"/>. htree directories are read as linear ones: their index blocks look like
/// empty records to this scan.
/// </summary>
internal sealed class DirCache
{
    public readonly Dictionary<string, DirSlot> Names = new(StringComparer.Ordinal);
    public readonly Dictionary<string, DirSlot>.AlternateLookup<ReadOnlySpan<char>> Lookup;
    public readonly List<int> BlockFree = new();

    public DirCache() { Lookup = Names.GetAlternateLookup<ReadOnlySpan<char>>(); }

    /// <summary>Entries other than "." and "..".</summary>
    public int RealEntries => Names.Count - (Names.ContainsKey(".") ? 1 : 0) - (Names.ContainsKey("..") ? 1 : 0);
}

/// <summary>
/// Directory contents: building the cache, readdir, and (ext2, writable) inserting, removing and
/// retargeting records with rec_len merging. Records are parsed with <see cref="DirEntry"/>; any
/// malformed record or failed block checksum makes the directory EIO.
/// </summary>
internal static class Dir
{
    /// <summary>The directory's cache, built on first use. Precondition: FsLock held; takes the node lock.</summary>
    public static int GetCache(Ext2Node d, out DirCache? cache)
    {
        d.Lock.Enter();
        try
        {
            cache = d.Dir;
            if (cache != null) return 0;
            int e = Build(d, out cache);
            if (e != 0) return e;
            d.Dir = cache;
            return 0;
        }
        finally { d.Lock.Exit(); }
    }

    private static int Build(Ext2Node d, out DirCache? cache)
    {
        cache = null;
        Ext2Fs fs = d.Fs;
        var c = new DirCache();
        long nblocks = (d.Size + fs.Bs - 1) >> fs.BsShift;
        for (long lb = 0; lb < nblocks; lb++)
        {
            int e = ReadDirBlock(d, lb, out Buf? bp);
            if (e != 0) return e;
            if (bp == null) { c.BlockFree.Add(0); continue; } // a hole: no room there, nothing in it
            e = ScanBlock(fs, bp.Data, lb, c, out int free);
            fs.Bc.Brelse(bp);
            if (e != 0) return e;
            c.BlockFree.Add(free);
        }
        cache = c;
        return 0;
    }

    /// <summary>
    /// Directories form a tree (ext2 has no hard links to directories): "." names the directory
    /// itself, ".." its parent (the root's is the root), and any other name of a directory a child
    /// whose ".." is this directory. A damaged image can break that, for instance with an entry
    /// naming an ancestor, which makes the tree endless; such a name is EIO, as msdosfs refuses a
    /// second entry for a directory. Precondition: FsLock held.
    /// </summary>
    public static int CheckTreeLink(Ext2Node d, ReadOnlySpan<char> name, Ext2Node n)
    {
        if (name.SequenceEqual(".")) return n == d ? 0 : Abi.EIO;
        if (name.SequenceEqual(".."))
        {
            if (d.Ino == Ext2Fs.RootIno) return n == d ? 0 : Abi.EIO;
            return n.Type == VType.VDIR && n != d ? 0 : Abi.EIO;
        }
        if (n.Type != VType.VDIR) return 0;
        if (n == d) return Abi.EIO;
        int e = DotDot(n, out uint parent);
        if (e != 0) return e;
        return parent == d.Ino ? 0 : Abi.EIO;
    }

    /// <summary>
    /// The inode a directory's ".." names: from its cache when built, else from its first block,
    /// where e2fsck requires "." and then ".." (htree roots keep them too). Precondition: FsLock held.
    /// </summary>
    private static int DotDot(Ext2Node d, out uint parent)
    {
        parent = 0;
        d.Lock.Enter();
        DirCache? c = d.Dir;
        d.Lock.Exit();
        if (c != null)
        {
            if (!c.Names.TryGetValue("..", out DirSlot s)) return Abi.EIO;
            parent = s.Ino;
            return 0;
        }
        if (d.Size == 0) return Abi.EIO;
        int e = ReadDirBlock(d, 0, out Buf? bp);
        if (e != 0) return e;
        if (bp == null) return Abi.EIO;
        Ext2Fs fs = d.Fs;
        int end = fs.Csum && DirEntry.HasTail(bp.Data) ? bp.Data.Length - DirEntry.TailSize : bp.Data.Length;
        ReadOnlySpan<byte> b = bp.Data.AsSpan(0, end);
        e = Abi.EIO;
        if (DirEntry.TryRead(b, 0, out _, out int rec0, out int nl0, out _) && nl0 == 1 && b[DirEntry.HeaderSize] == '.'
            && DirEntry.TryRead(b, rec0, out uint ino1, out _, out int nl1, out _) && nl1 == 2
            && b[rec0 + DirEntry.HeaderSize] == '.' && b[rec0 + DirEntry.HeaderSize + 1] == '.')
        {
            parent = ino1;
            e = 0;
        }
        fs.Bc.Brelse(bp);
        return e;
    }

    /// <summary>Reads logical block <paramref name="lb"/> of a directory and checks its checksum tail; null for a hole.</summary>
    public static int ReadDirBlock(Ext2Node d, long lb, out Buf? bp)
    {
        bp = null;
        Ext2Fs fs = d.Fs;
        int e = BlockMap.Map(d, lb, out ulong pblk, out _);
        if (e != 0) return e;
        if (pblk == 0) return 0;
        e = fs.ReadBlock(pblk, out Buf b);
        if (e != 0) return e;
        // Leaf blocks of checksummed file systems end in a tail; htree index blocks do not (not checked here).
        if (fs.Csum && DirEntry.HasTail(b.Data) && !DirEntry.TailChecksumOk(d.Seed, b.Data))
        {
            fs.Bc.Brelse(b);
            return Abi.EIO;
        }
        bp = b;
        return 0;
    }

    /// <summary>Adds a block's live records to the cache and returns the largest insertable record size.</summary>
    private static int ScanBlock(Ext2Fs fs, byte[] blk, long lb, DirCache c, out int maxFree)
    {
        maxFree = 0;
        int end = fs.Csum && DirEntry.HasTail(blk) ? blk.Length - DirEntry.TailSize : blk.Length;
        ReadOnlySpan<byte> b = blk.AsSpan(0, end);
        int off = 0;
        while (off < end)
        {
            if (!DirEntry.TryRead(b, off, out uint ino, out int recLen, out int nameLen, out byte type)) return Abi.EIO;
            if (ino != 0 && nameLen > 0)
            {
                string name = Encoding.Latin1.GetString(b.Slice(off + DirEntry.HeaderSize, nameLen));
                // A duplicate name (damage) keeps its first record.
                c.Names.TryAdd(name, new DirSlot { Ino = ino, Type = fs.FileType ? type : DirEntry.FtUnknown, Off = (lb << fs.BsShift) + off });
                maxFree = Math.Max(maxFree, recLen - DirEntry.RecLen(nameLen));
            }
            else
                maxFree = Math.Max(maxFree, recLen);
            off += recLen;
        }
        return 0;
    }

    /// <summary>Largest insertable record in a block (after a change).</summary>
    private static int BlockFreeOf(ReadOnlySpan<byte> b)
    {
        int off = 0, max = 0;
        while (off < b.Length)
        {
            if (!DirEntry.TryRead(b, off, out uint ino, out int recLen, out int nameLen, out _)) return 0;
            max = Math.Max(max, ino != 0 && nameLen > 0 ? recLen - DirEntry.RecLen(nameLen) : recLen);
            off += recLen;
        }
        return max;
    }

    public static VType VTypeOfFt(byte ft) => ft switch
    {
        DirEntry.FtReg => VType.VREG,
        DirEntry.FtDir => VType.VDIR,
        DirEntry.FtChr => VType.VCHR,
        DirEntry.FtBlk => VType.VBLK,
        DirEntry.FtFifo => VType.VFIFO,
        DirEntry.FtSock => VType.VSOCK,
        DirEntry.FtSymlink => VType.VLNK,
        _ => VType.VNON,
    };

    /// <summary>
    /// readdir from byte offset <paramref name="cookie"/>: records are read from disk, the cookie
    /// of each next record is its byte offset. A cookie inside a record (the record before it was
    /// merged away) resumes at the next record boundary of that block.
    /// </summary>
    public static int Readdir(Ext2Node d, ref Uio uio, ref long cookie, out bool wrote, out bool full)
    {
        wrote = false; full = false;
        Ext2Fs fs = d.Fs;
        // On the heap: the sink's signature does not promise not to keep the span.
        char[] name = new char[DirEntry.MaxNameLen];
        while (cookie < d.Size)
        {
            long lb = cookie >> fs.BsShift;
            int inBlock = (int)(cookie & (fs.Bs - 1));
            int e = ReadDirBlock(d, lb, out Buf? bp);
            if (e != 0) return e;
            if (bp == null) { cookie = (lb + 1) << fs.BsShift; continue; }
            byte[] b = bp.Data;
            int end = fs.Csum && DirEntry.HasTail(b) ? b.Length - DirEntry.TailSize : b.Length;
            int off = 0;
            try
            {
                while (off < end)
                {
                    if (!DirEntry.TryRead(b.AsSpan(0, end), off, out uint ino, out int recLen, out int nameLen, out byte type)) return Abi.EIO;
                    if (off >= inBlock && ino != 0 && nameLen > 0)
                    {
                        for (int i = 0; i < nameLen; i++) name[i] = (char)b[off + DirEntry.HeaderSize + i];
                        VType t = fs.FileType ? VTypeOfFt(type) : VType.VNON;
                        e = ReaddirSink.Add(ref uio, ino, t, name.AsSpan(0, nameLen), out full);
                        if (e != 0) return e;
                        if (full) { cookie = (lb << fs.BsShift) + off; return 0; }
                        wrote = true;
                    }
                    off += recLen;
                }
            }
            finally { fs.Bc.Brelse(bp); }
            cookie = (lb + 1) << fs.BsShift;
        }
        return 0;
    }

    // ---- Changes (ext2, FsLock exclusive) ------------------------------------------------------

    private static byte[] NameBytes(string name)
    {
        var b = new byte[name.Length];
        for (int i = 0; i < name.Length; i++) b[i] = (byte)name[i];
        return b;
    }

    /// <summary>Adds record <paramref name="name"/> → <paramref name="ino"/>; grows the directory by a block when no block has room.</summary>
    public static int Add(Ext2Node d, DirCache c, string name, uint ino, byte ft)
    {
        Ext2Fs fs = d.Fs;
        byte[] nb = NameBytes(name);
        if (nb.Length == 0 || nb.Length > DirEntry.MaxNameLen) return Abi.ENAMETOOLONG;
        if (!fs.FileType) ft = 0;
        int need = DirEntry.RecLen(nb.Length);
        for (int lb = 0; lb < c.BlockFree.Count; lb++)
        {
            if (c.BlockFree[lb] < need) continue;
            int e = ReadDirBlock(d, lb, out Buf? bp);
            if (e != 0) return e;
            if (bp == null) { c.BlockFree[lb] = 0; continue; }
            Span<byte> b = bp.Data;
            int off = 0;
            while (off < b.Length)
            {
                if (!DirEntry.TryRead(b, off, out uint eino, out int recLen, out int nameLen, out _)) break;
                bool live = eino != 0 && nameLen > 0;
                int used = live ? DirEntry.RecLen(nameLen) : 0;
                if (recLen - used >= need)
                {
                    int at = off;
                    if (live)
                    {
                        // Split: the live record keeps what it needs, the new one takes the rest.
                        DirEntry.SetRecLen(b, off, used);
                        at = off + used;
                    }
                    DirEntry.Write(b, at, ino, recLen - used, nb, ft);
                    c.BlockFree[lb] = BlockFreeOf(b);
                    fs.Bc.Bdwrite(bp);
                    c.Names[name] = new DirSlot { Ino = ino, Type = ft, Off = ((long)lb << fs.BsShift) + at };
                    return Touched(d);
                }
                off += recLen;
            }
            // The block was not as the cache said (it should not happen): recompute and go on.
            c.BlockFree[lb] = BlockFreeOf(b);
            fs.Bc.Brelse(bp);
        }
        // A new block at the end.
        long nlb = c.BlockFree.Count;
        if ((nlb + 1) << fs.BsShift > Ext2Fs.MaxDirSize) return Abi.ENOSPC;
        int err = BlockMap.MapAlloc(d, nlb, out ulong pblk, out _);
        if (err != 0) return err;
        err = fs.GetBlock(pblk, out Buf nbp);
        if (err != 0) return err;
        Array.Clear(nbp.Data);
        DirEntry.Write(nbp.Data, 0, ino, fs.Bs, nb, ft);
        c.BlockFree.Add(fs.Bs - need);
        fs.Bc.Bdwrite(nbp);
        d.I.Size = (ulong)(nlb + 1) << fs.BsShift;
        c.Names[name] = new DirSlot { Ino = ino, Type = ft, Off = nlb << fs.BsShift };
        return Touched(d);
    }

    /// <summary>Removes record <paramref name="name"/>: merged into the record before it, or emptied if first in its block.</summary>
    public static int Remove(Ext2Node d, DirCache c, string name)
    {
        Ext2Fs fs = d.Fs;
        if (!c.Names.TryGetValue(name, out DirSlot s)) return Abi.ENOENT;
        long lb = s.Off >> fs.BsShift;
        int target = (int)(s.Off & (fs.Bs - 1));
        int e = ReadDirBlock(d, lb, out Buf? bp);
        if (e != 0) return e;
        if (bp == null) return Abi.EIO;
        Span<byte> b = bp.Data;
        int off = 0, prev = -1;
        while (off < b.Length && off < target)
        {
            if (!DirEntry.TryRead(b, off, out _, out int rl, out _, out _)) { fs.Bc.Brelse(bp); return Abi.EIO; }
            prev = off;
            off += rl;
        }
        if (off != target || !DirEntry.TryRead(b, off, out _, out int recLen, out _, out _)) { fs.Bc.Brelse(bp); return Abi.EIO; }
        if (prev >= 0)
        {
            DirEntry.TryRead(b, prev, out _, out int prevLen, out _, out _);
            DirEntry.SetRecLen(b, prev, prevLen + recLen);
        }
        else
            DirEntry.SetIno(b, off, 0);
        if (lb < c.BlockFree.Count) c.BlockFree[(int)lb] = BlockFreeOf(b);
        fs.Bc.Bdwrite(bp);
        c.Names.Remove(name);
        return Touched(d);
    }

    /// <summary>Points existing record <paramref name="name"/> at another inode (rename over a file, "..").</summary>
    public static int Retarget(Ext2Node d, DirCache c, string name, uint ino, byte ft)
    {
        Ext2Fs fs = d.Fs;
        if (!c.Names.TryGetValue(name, out DirSlot s)) return Abi.ENOENT;
        if (!fs.FileType) ft = 0;
        int e = ReadDirBlock(d, s.Off >> fs.BsShift, out Buf? bp);
        if (e != 0) return e;
        if (bp == null) return Abi.EIO;
        int off = (int)(s.Off & (fs.Bs - 1));
        DirEntry.SetIno(bp.Data, off, ino);
        if (fs.FileType) bp.Data[off + 7] = ft;
        fs.Bc.Bdwrite(bp);
        s.Ino = ino; s.Type = ft;
        c.Names[name] = s;
        return Touched(d);
    }

    /// <summary>The first block of a new directory: "." and "..".</summary>
    public static int Init(Ext2Node d, uint parent)
    {
        Ext2Fs fs = d.Fs;
        int e = BlockMap.MapAlloc(d, 0, out ulong pblk, out _);
        if (e != 0) return e;
        e = fs.GetBlock(pblk, out Buf bp);
        if (e != 0) return e;
        Array.Clear(bp.Data);
        byte ft = fs.FileType ? DirEntry.FtDir : (byte)0;
        DirEntry.Write(bp.Data, 0, d.Ino, 12, "."u8, ft);
        DirEntry.Write(bp.Data, 12, parent, fs.Bs - 12, ".."u8, ft);
        fs.Bc.Bdwrite(bp);
        d.I.Size = (ulong)fs.Bs;
        var c = new DirCache();
        c.Names["."] = new DirSlot { Ino = d.Ino, Type = ft, Off = 0 };
        c.Names[".."] = new DirSlot { Ino = parent, Type = ft, Off = 12 };
        c.BlockFree.Add(fs.Bs - 12 - 12);
        d.Dir = c;
        return 0;
    }

    /// <summary>A changed directory is no longer a valid htree: drop the index flag so readers treat it as linear.</summary>
    private static int Touched(Ext2Node d)
    {
        d.I.Flags &= ~Inode.FlagIndex;
        return 0;
    }
}
