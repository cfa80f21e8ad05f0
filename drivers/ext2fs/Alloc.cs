using System;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Ext2fs;

/// <summary>
/// Block and inode allocation over the group bitmaps (ext2 only: writable mounts have no
/// uninit_bg/flex_bg/bigalloc). Counts are kept in three places and changed together: the
/// bitmap bit, the group descriptor, the superblock. Blocks go near a goal (the file's previous
/// block, else its inode's group); inodes of files go to the parent's group, directories are
/// spread to groups with more free inodes than average. A bitmap that disagrees with its count
/// (a damaged image) is searched anyway and counts never go below zero.
/// Precondition for everything here: FsLock exclusive.
/// </summary>
internal static class Alloc
{
    public static int AllocBlock(Ext2Fs fs, ulong goal, out ulong blk)
    {
        blk = 0;
        ulong first = fs.Sb.FirstDataBlock, count = fs.Sb.BlocksCount;
        if (goal < first || goal >= count) goal = first;
        uint g0 = (uint)((goal - first) / fs.Sb.BlocksPerGroup);
        int start = (int)((goal - first) % fs.Sb.BlocksPerGroup);
        for (uint k = 0; k < fs.GroupCount; k++)
        {
            uint g = (g0 + k) % fs.GroupCount;
            if (fs.Gds[g].FreeBlocks == 0) continue;
            int nbits = (int)fs.BlocksInGroup(g);
            int e = fs.ReadBlock(fs.Gds[g].BlockBitmap, out Buf bp);
            if (e != 0) return e;
            int bit = FindZero(bp.Data, k == 0 ? start : 0, nbits);
            if (bit < 0 && k == 0 && start > 0) bit = FindZero(bp.Data, 0, nbits);
            if (bit < 0) { fs.Bc.Brelse(bp); continue; }
            bp.Data[bit >> 3] |= (byte)(1 << (bit & 7));
            fs.Bc.Bdwrite(bp);
            ulong b = fs.GroupFirstBlock(g) + (ulong)bit;
            if (!fs.ValidBlock(b)) continue; // a damaged bitmap offering block 0: leave it marked
            fs.Gds[g].FreeBlocks = fs.Gds[g].FreeBlocks > 0 ? fs.Gds[g].FreeBlocks - 1 : 0;
            if (fs.Sb.FreeBlocksCount > 0) fs.Sb.FreeBlocksCount--;
            e = fs.WriteGroupDesc(g);
            if (e != 0) return e;
            blk = b;
            return 0;
        }
        return Abi.ENOSPC;
    }

    public static void FreeBlock(Ext2Fs fs, ulong blk)
    {
        if (!fs.ValidBlock(blk)) return;
        uint g = (uint)((blk - fs.Sb.FirstDataBlock) / fs.Sb.BlocksPerGroup);
        int bit = (int)((blk - fs.Sb.FirstDataBlock) % fs.Sb.BlocksPerGroup);
        if (fs.ReadBlock(fs.Gds[g].BlockBitmap, out Buf bp) != 0) return;
        byte m = (byte)(1 << (bit & 7));
        if ((bp.Data[bit >> 3] & m) == 0) { fs.Bc.Brelse(bp); return; } // already free: a cross-linked block
        bp.Data[bit >> 3] &= (byte)~m;
        fs.Bc.Bdwrite(bp);
        fs.Gds[g].FreeBlocks++;
        fs.Sb.FreeBlocksCount++;
        fs.WriteGroupDesc(g);
    }

    public static int AllocInode(Ext2Fs fs, uint parentIno, bool dir, out uint ino)
    {
        ino = 0;
        uint ipg = fs.Sb.InodesPerGroup;
        uint pg = (parentIno - 1) / ipg;
        uint g0 = pg;
        if (dir)
        {
            // Spread directories: the first group after the parent's with at least average free inodes and blocks.
            ulong avgI = fs.Sb.FreeInodesCount / fs.GroupCount, avgB = fs.Sb.FreeBlocksCount / fs.GroupCount;
            for (uint k = 1; k <= fs.GroupCount; k++)
            {
                uint g = (pg + k) % fs.GroupCount;
                if (fs.Gds[g].FreeInodes > 0 && fs.Gds[g].FreeInodes >= avgI && fs.Gds[g].FreeBlocks >= avgB) { g0 = g; break; }
            }
        }
        for (uint k = 0; k < fs.GroupCount; k++)
        {
            uint g = (g0 + k) % fs.GroupCount;
            if (fs.Gds[g].FreeInodes == 0) continue;
            int e = fs.ReadBlock(fs.Gds[g].InodeBitmap, out Buf bp);
            if (e != 0) return e;
            // Reserved inodes (below s_first_ino) are never handed out, whatever the bitmap says.
            int from = g == 0 ? (int)fs.Sb.FirstIno - 1 : 0;
            int bit = FindZero(bp.Data, from, (int)ipg);
            if (bit < 0) { fs.Bc.Brelse(bp); continue; }
            bp.Data[bit >> 3] |= (byte)(1 << (bit & 7));
            fs.Bc.Bdwrite(bp);
            fs.Gds[g].FreeInodes = fs.Gds[g].FreeInodes > 0 ? fs.Gds[g].FreeInodes - 1 : 0;
            if (dir) fs.Gds[g].UsedDirs++;
            if (fs.Sb.FreeInodesCount > 0) fs.Sb.FreeInodesCount--;
            e = fs.WriteGroupDesc(g);
            if (e != 0) return e;
            ino = g * ipg + (uint)bit + 1;
            fs.InodeAllocs++;
            return 0;
        }
        return Abi.ENOSPC;
    }

    public static void FreeInode(Ext2Fs fs, uint ino, bool dir)
    {
        uint ipg = fs.Sb.InodesPerGroup;
        uint g = (ino - 1) / ipg;
        int bit = (int)((ino - 1) % ipg);
        if (fs.ReadBlock(fs.Gds[g].InodeBitmap, out Buf bp) != 0) return;
        byte m = (byte)(1 << (bit & 7));
        if ((bp.Data[bit >> 3] & m) == 0) { fs.Bc.Brelse(bp); return; }
        bp.Data[bit >> 3] &= (byte)~m;
        fs.Bc.Bdwrite(bp);
        fs.Gds[g].FreeInodes++;
        if (dir && fs.Gds[g].UsedDirs > 0) fs.Gds[g].UsedDirs--;
        fs.Sb.FreeInodesCount++;
        fs.WriteGroupDesc(g);
    }

    /// <summary>The first clear bit in [<paramref name="from"/>, <paramref name="nbits"/>) of a bitmap, or -1.</summary>
    internal static int FindZero(ReadOnlySpan<byte> map, int from, int nbits)
    {
        if (from < 0) from = 0;
        int i = from;
        while (i < nbits)
        {
            if ((i & 7) == 0)
            {
                // Skip full bytes eight bits at a time.
                int byteIdx = i >> 3;
                int lastByte = (nbits + 7) >> 3;
                int rel = map.Slice(byteIdx, lastByte - byteIdx).IndexOfAnyExcept((byte)0xFF);
                if (rel < 0) return -1;
                i = (byteIdx + rel) << 3;
                if (i >= nbits) return -1;
            }
            if ((map[i >> 3] & (1 << (i & 7))) == 0) return i;
            i++;
        }
        return -1;
    }
}
