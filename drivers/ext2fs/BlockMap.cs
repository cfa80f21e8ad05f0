using System;
using System.Buffers.Binary;
using Rump.Fs.Ext2fs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Ext2fs;

/// <summary>
/// File block maps: logical block → physical block. ext2's 12 direct pointers plus single,
/// double and triple indirect blocks (fixed depth, so a pointer loop cannot make a walk longer),
/// and ext4 extent trees (depth at most 5 and strictly decreasing on the way down, every node's
/// header and checksum checked). Every pointer is checked against the file system before use: a
/// bad one is EIO. Allocation and truncation are for ext2 maps only (writable mounts).
/// </summary>
internal static class BlockMap
{
    /// <summary>
    /// Maps <paramref name="lblk"/>. <paramref name="pblk"/> 0 is a hole (or an uninitialised
    /// extent): zeros. <paramref name="run"/> (≥ 1) is how many blocks from lblk are known to be
    /// the same kind — a hole's length, or how many blocks from pblk on are contiguous on disk
    /// (an extent's remaining blocks; for an indirect map, the following pointers of the same
    /// block that continue the run, at most <see cref="MaxRun"/>), so a large read is one transfer.
    /// </summary>
    public static int Map(Ext2Node n, long lblk, out ulong pblk, out long run)
    {
        if (n.IsExtents) return MapExtent(n, lblk, out pblk, out run);
        return MapIndirect(n, lblk, out pblk, out run);
    }

    // ---- ext2 indirect maps -----------------------------------------------------------------

    /// <summary>Splits a logical block into the i_block slot, the depth below it and the index path offset.</summary>
    private static bool Locate(Ext2Fs fs, long lblk, out int slot, out int depth, out long rel)
    {
        long p = fs.PtrsPerBlock;
        slot = 0; depth = 0; rel = lblk;
        if (rel < Inode.NDirect) { slot = (int)rel; return true; }
        rel -= Inode.NDirect;
        if (rel < p) { slot = Inode.IndIndex; depth = 1; return true; }
        rel -= p;
        if (rel < p * p) { slot = Inode.DIndIndex; depth = 2; return true; }
        rel -= p * p;
        if (rel < p * p * p) { slot = Inode.TIndIndex; depth = 3; return true; }
        return false;
    }

    private static long Pow(long p, int d) { long r = 1; for (int i = 0; i < d; i++) r *= p; return r; }

    /// <summary>The longest contiguous run an indirect map reports: a bound on the pointers scanned per lookup.</summary>
    public const int MaxRun = 256;

    private static int MapIndirect(Ext2Node n, long lblk, out ulong pblk, out long run)
    {
        Ext2Fs fs = n.Fs;
        pblk = 0; run = 1;
        if (!Locate(fs, lblk, out int slot, out int depth, out long rel)) { run = long.MaxValue / 2; return 0; }
        ulong ptr = n.BlockPtr(slot);
        long p = fs.PtrsPerBlock;
        for (int d = depth; ; d--)
        {
            if (ptr == 0)
            {
                // Everything below this pointer is a hole.
                long span = Pow(p, d);
                run = span - rel % span;
                return 0;
            }
            if (!fs.ValidBlock(ptr)) return Abi.EIO;
            if (d == 0)
            {
                pblk = ptr;
                // A direct block: the next i_block slots may continue it.
                if (depth == 0)
                    while (run < MaxRun && slot + run < Inode.NDirect && n.BlockPtr(slot + (int)run) == ptr + (ulong)run
                           && fs.ValidBlock(ptr + (ulong)run))
                        run++;
                return 0;
            }
            int e = fs.ReadBlock(ptr, out Buf bp);
            if (e != 0) return e;
            long below = Pow(p, d - 1);
            int idx = (int)(rel / below % p);
            ptr = BinaryPrimitives.ReadUInt32LittleEndian(bp.Data.AsSpan(idx * 4));
            if (d == 1 && ptr != 0)
            {
                // A leaf indirect block: the pointers after this one may continue it on disk.
                while (run < MaxRun && idx + run < p
                       && BinaryPrimitives.ReadUInt32LittleEndian(bp.Data.AsSpan((idx + (int)run) * 4)) == ptr + (ulong)run
                       && fs.ValidBlock(ptr + (ulong)run))
                    run++;
            }
            fs.Bc.Brelse(bp);
            rel %= below;
        }
    }

    // ---- ext4 extents -----------------------------------------------------------------------

    private static int MapExtent(Ext2Node n, long lblk, out ulong pblk, out long run)
    {
        Ext2Fs fs = n.Fs;
        pblk = 0; run = 1;
        if (lblk > uint.MaxValue) { run = long.MaxValue / 2; return 0; }
        ExtentHit? h = n.LastExtent;
        if (h != null && lblk >= h.L && lblk < h.L + h.Len)
        {
            run = h.L + h.Len - lblk;
            if (!h.Uninit) pblk = h.P + (ulong)(lblk - h.L);
            return 0;
        }
        byte[] raw = n.Raw;
        if (!ExtentNode.TryParse(raw.AsSpan(Inode.OffBlock, Inode.BlockBytes), out ExtentNode node)) return Abi.EIO;
        Buf? held = null;
        try
        {
            // Depth strictly decreases on every step, so this runs at most MaxDepth + 1 times.
            while (true)
            {
                int i = node.Find((uint)lblk);
                if (node.Depth == 0)
                {
                    if (i < 0)
                    {
                        run = node.Entries > 0 ? node.LogicalStart(0) - lblk : 1;
                        return 0;
                    }
                    long start = node.LogicalStart(i);
                    node.Leaf(i, out int len, out bool uninit, out ulong phys);
                    if (lblk >= start + len)
                    {
                        // In the gap after extent i: a hole up to the next extent.
                        run = i + 1 < node.Entries ? Math.Max(1, node.LogicalStart(i + 1) - lblk) : 1;
                        return 0;
                    }
                    if (len == 0 || !fs.ValidBlock(phys) || phys + (ulong)len > fs.Sb.BlocksCount) return Abi.EIO;
                    n.LastExtent = new ExtentHit(start, len, phys, uninit);
                    run = start + len - lblk;
                    if (!uninit) pblk = phys + (ulong)(lblk - start);
                    return 0;
                }
                if (i < 0) { run = node.Entries > 0 ? node.LogicalStart(0) - lblk : 1; return 0; }
                ulong child = node.IndexChild(i);
                if (!fs.ValidBlock(child)) return Abi.EIO;
                int depth = node.Depth;
                if (held != null) { fs.Bc.Brelse(held); held = null; }
                int e = fs.ReadBlock(child, out Buf bp);
                if (e != 0) return e;
                held = bp;
                if (!ExtentNode.TryParse(bp.Data, out node) || node.Depth != depth - 1) return Abi.EIO;
                if (fs.Csum && !ExtentNode.ChecksumOk(n.Seed, bp.Data, node.TailOffset)) return Abi.EIO;
            }
        }
        finally { if (held != null) fs.Bc.Brelse(held); }
    }

    // ---- ext2 allocation (writable mounts) ----------------------------------------------------

    /// <summary>
    /// Maps <paramref name="lblk"/>, allocating the data block and any missing indirect blocks.
    /// <paramref name="fresh"/> says the data block is new (its buffer content is undefined).
    /// Precondition: FsLock exclusive; the caller writes the inode afterwards.
    /// </summary>
    public static int MapAlloc(Ext2Node n, long lblk, out ulong pblk, out bool fresh)
    {
        Ext2Fs fs = n.Fs;
        pblk = 0; fresh = false;
        if (n.IsExtents) return Abi.EROFS;
        if (!Locate(fs, lblk, out int slot, out int depth, out long rel)) return Abi.EFBIG;
        long p = fs.PtrsPerBlock;
        ulong ptr = n.BlockPtr(slot);
        if (ptr == 0)
        {
            int e = AllocFor(n, depth > 0, out ptr);
            if (e != 0) return e;
            n.SetBlockPtr(slot, (uint)ptr);
            fresh = depth == 0;
        }
        else if (!fs.ValidBlock(ptr)) return Abi.EIO;
        for (int d = depth; d > 0; d--)
        {
            int e = fs.ReadBlock(ptr, out Buf bp);
            if (e != 0) return e;
            long below = Pow(p, d - 1);
            int idx = (int)(rel / below % p);
            rel %= below;
            ulong next = BinaryPrimitives.ReadUInt32LittleEndian(bp.Data.AsSpan(idx * 4));
            if (next == 0)
            {
                e = AllocFor(n, d - 1 > 0, out next);
                if (e != 0) { fs.Bc.Brelse(bp); return e; }
                BinaryPrimitives.WriteUInt32LittleEndian(bp.Data.AsSpan(idx * 4), (uint)next);
                fs.Bc.Bdwrite(bp);
                fresh = d - 1 == 0;
            }
            else
            {
                fs.Bc.Brelse(bp);
                if (!fs.ValidBlock(next)) return Abi.EIO;
            }
            ptr = next;
        }
        pblk = ptr;
        return 0;
    }

    /// <summary>One block for <paramref name="n"/>, near its last one; an indirect block is zeroed on disk.</summary>
    private static int AllocFor(Ext2Node n, bool indirect, out ulong blk)
    {
        Ext2Fs fs = n.Fs;
        blk = 0;
        if (n.I.Blocks + (ulong)fs.Sect > uint.MaxValue) return Abi.EFBIG;
        ulong goal = n.LastAlloc != 0 ? n.LastAlloc + 1 : fs.GroupFirstBlock((n.Ino - 1) / fs.Sb.InodesPerGroup);
        int e = Alloc.AllocBlock(fs, goal, out blk);
        if (e != 0) return e;
        n.LastAlloc = blk;
        n.I.Blocks += (ulong)fs.Sect;
        if (indirect)
        {
            e = fs.GetBlock(blk, out Buf bp);
            if (e != 0) return e;
            Array.Clear(bp.Data);
            fs.Bc.Bdwrite(bp);
        }
        return 0;
    }

    // ---- ext2 truncation ------------------------------------------------------------------------

    /// <summary>
    /// Frees every block holding data at or after logical block <paramref name="keep"/>, and
    /// indirect blocks left empty. Precondition: FsLock exclusive; the caller writes the inode.
    /// </summary>
    public static int Truncate(Ext2Node n, long keep)
    {
        Ext2Fs fs = n.Fs;
        if (n.IsExtents) return Abi.EROFS;
        long p = fs.PtrsPerBlock;
        int first = 0;
        for (int slot = 0; slot < Inode.NBlock; slot++)
        {
            long baseL; int depth;
            if (slot < Inode.NDirect) { baseL = slot; depth = 0; }
            else if (slot == Inode.IndIndex) { baseL = Inode.NDirect; depth = 1; }
            else if (slot == Inode.DIndIndex) { baseL = Inode.NDirect + p; depth = 2; }
            else { baseL = Inode.NDirect + p + p * p; depth = 3; }
            if (baseL + Pow(p, depth) <= keep) continue;
            uint ptr = n.BlockPtr(slot);
            if (ptr == 0) continue;
            int e = FreeTree(n, ptr, depth, baseL, keep, out bool all);
            if (e != 0 && first == 0) first = e;
            if (all) n.SetBlockPtr(slot, 0);
        }
        return first;
    }

    /// <summary>Frees the blocks under <paramref name="ptr"/> (a subtree of <paramref name="depth"/> levels starting at logical <paramref name="baseL"/>) from <paramref name="keep"/> on.</summary>
    private static int FreeTree(Ext2Node n, uint ptr, int depth, long baseL, long keep, out bool all)
    {
        Ext2Fs fs = n.Fs;
        all = false;
        if (!fs.ValidBlock(ptr)) { all = true; return Abi.EIO; } // drop the bad pointer, free nothing
        if (depth == 0)
        {
            if (baseL < keep) return 0;
            FreeOne(n, ptr);
            all = true;
            return 0;
        }
        long p = fs.PtrsPerBlock;
        long below = Pow(p, depth - 1);
        int e = fs.ReadBlock(ptr, out Buf bp);
        if (e != 0) return e;
        bool changed = false, empty = true;
        int first = 0;
        for (int i = 0; i < p; i++)
        {
            uint c = BinaryPrimitives.ReadUInt32LittleEndian(bp.Data.AsSpan(i * 4));
            if (c == 0) continue;
            long cb = baseL + i * below;
            if (cb + below <= keep) { empty = false; continue; }
            e = FreeTree(n, c, depth - 1, cb, keep, out bool callAll);
            if (e != 0 && first == 0) first = e;
            if (callAll) { BinaryPrimitives.WriteUInt32LittleEndian(bp.Data.AsSpan(i * 4), 0); changed = true; }
            else empty = false;
        }
        if (empty)
        {
            // Nothing left under it: the indirect block itself goes.
            if (changed) fs.Bc.Bdwrite(bp); else fs.Bc.Brelse(bp);
            FreeOne(n, ptr);
            all = true;
            return first;
        }
        if (changed) fs.Bc.Bdwrite(bp); else fs.Bc.Brelse(bp);
        return first;
    }

    private static void FreeOne(Ext2Node n, ulong blk)
    {
        Alloc.FreeBlock(n.Fs, blk);
        n.I.Blocks = n.I.Blocks >= (ulong)n.Fs.Sect ? n.I.Blocks - (ulong)n.Fs.Sect : 0;
    }
}
