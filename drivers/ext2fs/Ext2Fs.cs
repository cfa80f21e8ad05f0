using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using Rump.Fs.Ext2fs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Ext2fs;

/// <summary>
/// One mounted ext2/ext3/ext4 file system (NetBSD struct m_ext2fs): the superblock, the group
/// descriptors, and block and inode I/O through the buffer cache (always in file-system blocks, so
/// each disk region has one buffer size).
///
/// Locks, in the order they are taken:
///   1. <see cref="FsLock"/> (rwlock, one per mount). Shared: lookup, getattr, read, readdir,
///      readlink, statvfs — nothing on disk changes. Exclusive: everything that writes (create,
///      write, setattr, remove, rename, link, inactive freeing, sync, unmount). So every on-disk
///      change (bitmaps, counts, directories, inodes) is made by one thread at a time and is
///      atomic with respect to readers.
///   2. <see cref="Ext2Node.Lock"/> (mutex, one per node): what shared-lock holders fill in lazily
///      or update concurrently — the directory cache, the access time. Under the exclusive
///      FsLock it is not needed.
///   3. The buffer cache's own lock (inside BufCache).
///   The vnode cache is called with none of them held: its loads take FsLock shared, its
///   reclaims exclusive.
///
/// References and lifetime: vnodes are the vnode cache's, keyed by inode number; a node is the
/// vnode's data, read from the inode table by <see cref="Ext2VfsOps.LoadVnode"/> and let go by
/// <see cref="Ext2VnodeOps.Reclaim"/>, so an inode has at most one node in memory. Lookup reads
/// the directory under FsLock, lets go, asks the cache, and checks the name still names that
/// inode. The VFS holds the vnode references (lookup and create return them referenced; the mount
/// holds the root's). A file whose link count drops to 0 is freed on disk (blocks, inode) when its
/// vnode is reclaimed: at once after the last release (VOP_INACTIVE asks for it), or at unmount.
/// </summary>
internal sealed class Ext2Fs
{
    /// <summary>EXT2_LINK_MAX.</summary>
    public const int LinkMax = 32000;
    /// <summary>Directories larger than this are treated as corrupt (no legitimate ext2 directory comes near).</summary>
    public const long MaxDirSize = 1L << 30;
    public const uint RootIno = 2;

    public readonly Mount Mp;
    public readonly Kernel Kernel;
    public readonly BlockDevice Dev;
    public readonly BufCache Bc;
    public readonly Superblock Sb;
    public readonly Ext2VnodeOps Ops;
    public readonly KRwLock FsLock;

    public readonly int Bs;
    public readonly int BsShift;
    /// <summary>DEV_BSIZE sectors per block.</summary>
    public readonly int Sect;
    /// <summary>Block pointers per indirect block.</summary>
    public readonly int PtrsPerBlock;
    public readonly uint GroupCount;
    public readonly int DescPerBlock;
    public readonly int ItableBlocks;
    public readonly GroupDesc[] Gds;
    /// <summary>Physical block of each descriptor block.</summary>
    private readonly ulong[] _gdBlocks;
    public readonly bool Writable;
    public readonly bool Csum;
    public readonly uint CsumSeed;
    public readonly bool HugeFile;
    public readonly bool FileType;
    /// <summary>Largest file size this driver writes (ext2 block maps and the 32-bit i_blocks).</summary>
    public readonly long MaxFileSize;
    private uint _genCounter;
    /// <summary>
    /// Inodes allocated since the mount (changed under FsLock exclusive, read under it shared).
    /// A lookup whose load failed compares it to tell a number freed and handed out again
    /// meanwhile (stale: look again) from a corrupt inode (the error stands).
    /// </summary>
    public ulong InodeAllocs;

    private Ext2Fs(Mount mp, BlockDevice dev, Superblock sb, Ext2VnodeOps ops, bool writable)
    {
        Mp = mp; Kernel = mp.Vfs.Kernel; Dev = dev; Bc = mp.Vfs.BufCache; Sb = sb; Ops = ops; Writable = writable;
        FsLock = new KRwLock(Kernel);
        Bs = sb.BlockSize;
        BsShift = 10 + sb.LogBlockSize;
        Sect = Bs / BlockDevice.DevBSize;
        PtrsPerBlock = Bs / 4;
        GroupCount = sb.GroupCount;
        DescPerBlock = Bs / sb.DescSize;
        ItableBlocks = (int)(((long)sb.InodesPerGroup * sb.InodeSize + Bs - 1) / Bs);
        Gds = new GroupDesc[GroupCount];
        _gdBlocks = new ulong[(GroupCount + DescPerBlock - 1) / DescPerBlock];
        Csum = sb.MetadataCsum;
        CsumSeed = Csum ? sb.CsumSeed : 0;
        HugeFile = sb.HasRo(Features.RoHugeFile);
        FileType = sb.Has(Features.IncompatFiletype);
        long p = PtrsPerBlock;
        long mapBlocks = Inode.NDirect + p + p * p + p * p * p;
        long maxBlocks = Math.Min(mapBlocks, ((1L << 32) - 1) / Sect - (p * p + p + 4));
        MaxFileSize = Math.Min(maxBlocks * Bs, long.MaxValue / 4);
        _genCounter = (uint)Clock.Now().tv_nsec * 2654435761u;
    }

    /// <summary>Reads the superblock and group descriptors and checks them; the root node is loaded by the caller.</summary>
    public static int Open(Mount mp, BlockDevice dev, Ext2VnodeOps ops, out Ext2Fs? fs)
    {
        fs = null;
        Kernel k = mp.Vfs.Kernel;
        if (dev.Size < Superblock.Offset + Superblock.Size) return Abi.EINVAL;
        byte[] raw = new byte[Superblock.Size];
        int e = dev.ReadSync(k, Superblock.Offset, raw);
        if (e != 0) return e;
        e = Superblock.Parse(raw, dev.Size, out Superblock? sb);
        if (e != 0) return e;
        if ((sb!.FeatureIncompat & ~Features.IncompatRead) != 0) return Abi.EINVAL;
        if (sb.MetadataCsum && !sb.ChecksumOk) return Abi.EIO;
        bool writable = !mp.ReadOnly;
        if (writable && ((sb.FeatureIncompat & ~Features.IncompatWrite) != 0
            || (sb.FeatureRoCompat & ~Features.RoCompatWrite) != 0
            || (sb.FeatureCompat & ~Features.CompatWrite) != 0))
            return Abi.EROFS;
        var f = new Ext2Fs(mp, dev, sb, ops, writable);
        e = f.LoadGroupDescs();
        if (e != 0) return e;
        fs = f;
        return 0;
    }

    public ulong GroupFirstBlock(uint g) => Sb.FirstDataBlock + (ulong)g * Sb.BlocksPerGroup;

    public uint BlocksInGroup(uint g) => (uint)Math.Min(Sb.BlocksPerGroup, Sb.BlocksCount - GroupFirstBlock(g));

    /// <summary>Does group <paramref name="g"/> hold a superblock backup (and so descriptor copies)?</summary>
    public bool GroupHasSuper(uint g)
    {
        if (g <= 1 || !Sb.HasRo(Features.RoSparseSuper)) return true;
        return IsPower(g, 3) || IsPower(g, 5) || IsPower(g, 7);
        static bool IsPower(uint n, uint b) { while (n % b == 0) n /= b; return n == 1; }
    }

    private int LoadGroupDescs()
    {
        bool metaBg = Sb.Has(Features.IncompatMetaBg);
        for (uint i = 0; i < _gdBlocks.Length; i++)
        {
            ulong blk;
            if (!metaBg || i < Sb.FirstMetaBg)
                blk = Sb.FirstDataBlock + 1UL + i;
            else
            {
                uint g = i * (uint)DescPerBlock;
                blk = GroupFirstBlock(g) + (GroupHasSuper(g) ? 1UL : 0UL);
            }
            if (blk >= Sb.BlocksCount) return Abi.EINVAL;
            _gdBlocks[i] = blk;
        }
        for (uint g = 0; g < GroupCount; g++)
        {
            int e = ReadBlock(_gdBlocks[g / (uint)DescPerBlock], out Buf bp);
            if (e != 0) return e;
            ReadOnlySpan<byte> d = bp.Data.AsSpan((int)(g % (uint)DescPerBlock) * Sb.DescSize, Sb.DescSize);
            GroupDesc gd = GroupDesc.Parse(d, Sb.DescSize);
            bool csumOk = !Csum || GroupDesc.ComputeChecksum(CsumSeed, g, d) == gd.Checksum;
            Bc.Brelse(bp);
            if (!csumOk) return Abi.EIO;
            // Bitmaps and the inode table must lie inside the file system (flex_bg puts them anywhere).
            if (!ValidBlock(gd.BlockBitmap) || !ValidBlock(gd.InodeBitmap)) return Abi.EINVAL;
            if (!ValidBlock(gd.InodeTable) || gd.InodeTable + (ulong)ItableBlocks > Sb.BlocksCount) return Abi.EINVAL;
            if (gd.FreeBlocks > Sb.BlocksPerGroup || gd.FreeInodes > Sb.InodesPerGroup) return Abi.EINVAL;
            Gds[g] = gd;
        }
        return 0;
    }

    // ---- Block I/O -------------------------------------------------------------------------

    /// <summary>Is <paramref name="pblk"/> a block that may hold file data or metadata (not the boot/superblock area, not past the end)?</summary>
    public bool ValidBlock(ulong pblk) => pblk > Sb.FirstDataBlock && pblk < Sb.BlocksCount;

    /// <summary>Reads file-system block <paramref name="pblk"/>; EIO for a block outside the file system.</summary>
    public int ReadBlock(ulong pblk, out Buf bp)
    {
        if (pblk >= Sb.BlocksCount) { bp = null!; return Abi.EIO; }
        return Bc.Bread(Dev, (long)pblk * Sect, Bs, out bp);
    }

    /// <summary>The buffer of a block about to be overwritten completely (no read).</summary>
    public int GetBlock(ulong pblk, out Buf bp)
    {
        if (pblk >= Sb.BlocksCount) { bp = null!; return Abi.EIO; }
        return Bc.Getblk(Dev, (long)pblk * Sect, Bs, out bp);
    }

    // ---- Superblock and descriptors ----------------------------------------------------------

    /// <summary>Writes the in-memory superblock to its block (delayed unless <paramref name="now"/>). Precondition: FsLock exclusive.</summary>
    public int WriteSuperblock(bool now)
    {
        ulong blk = (ulong)(Superblock.Offset / Bs);
        int off = Superblock.Offset % Bs;
        int e = Bc.Bread(Dev, (long)blk * Sect, Bs, out Buf bp);
        if (e != 0) return e;
        Sb.Emit(bp.Data.AsSpan(off, Superblock.Size));
        if (now) return Bc.Bwrite(bp);
        Bc.Bdwrite(bp);
        return 0;
    }

    /// <summary>Writes group <paramref name="g"/>'s counts to its descriptor block. Precondition: FsLock exclusive.</summary>
    public int WriteGroupDesc(uint g)
    {
        int e = ReadBlock(_gdBlocks[g / (uint)DescPerBlock], out Buf bp);
        if (e != 0) return e;
        Span<byte> d = bp.Data.AsSpan((int)(g % (uint)DescPerBlock) * Sb.DescSize, Sb.DescSize);
        Gds[g].EmitCounts(d, Sb.DescSize);
        Bc.Bdwrite(bp);
        return 0;
    }

    // ---- Inodes ------------------------------------------------------------------------------

    /// <summary>Where inode <paramref name="ino"/> lives: its table block and byte offset in it; EIO if out of range.</summary>
    private int InodeLocation(uint ino, out ulong blk, out int off)
    {
        blk = 0; off = 0;
        if (ino == 0 || ino > Sb.InodesCount) return Abi.EIO;
        uint g = (ino - 1) / Sb.InodesPerGroup;
        uint idx = (ino - 1) % Sb.InodesPerGroup;
        long byteOff = (long)idx * Sb.InodeSize;
        blk = Gds[g].InodeTable + (ulong)(byteOff >> BsShift);
        off = (int)(byteOff & (Bs - 1));
        return 0;
    }

    /// <summary>Is the inode in a part of the table that checksummed file systems leave uninitialised?</summary>
    private bool InodeUninit(uint ino)
    {
        if (!Csum && !Sb.HasRo(Features.RoGdtCsum)) return false;
        uint g = (ino - 1) / Sb.InodesPerGroup;
        uint idx = (ino - 1) % Sb.InodesPerGroup;
        if ((Gds[g].Flags & GroupDesc.FlagInodeUninit) != 0) return true;
        return Gds[g].ItableUnused <= Sb.InodesPerGroup && idx >= Sb.InodesPerGroup - Gds[g].ItableUnused;
    }

    private int ReadInodeRaw(uint ino, Span<byte> dst)
    {
        int e = InodeLocation(ino, out ulong blk, out int off);
        if (e != 0) return e;
        e = ReadBlock(blk, out Buf bp);
        if (e != 0) return e;
        bp.Data.AsSpan(off, Sb.InodeSize).CopyTo(dst);
        Bc.Brelse(bp);
        return 0;
    }

    /// <summary>Writes a node's inode into the inode table (a delayed write). Precondition: FsLock exclusive.</summary>
    public int WriteInode(Ext2Node n)
    {
        Debug.Assert(Writable);
        n.I.Emit(n.Raw, HugeFile);
        int e = InodeLocation(n.Ino, out ulong blk, out int off);
        if (e != 0) return e;
        e = ReadBlock(blk, out Buf bp);
        if (e != 0) return e;
        n.Raw.CopyTo(bp.Data.AsSpan(off, Sb.InodeSize));
        Bc.Bdwrite(bp);
        n.AtimeDirty = false;
        return 0;
    }

    /// <summary>Can <paramref name="ino"/> name a file (in range, not a reserved inode other than the root)?</summary>
    public bool ValidIno(ulong ino) => ino != 0 && ino <= Sb.InodesCount && (ino == RootIno || ino >= Sb.FirstIno);

    /// <summary>
    /// Reads and checks inode <paramref name="ino"/> into a new node: for the vnode's data
    /// (<see cref="Ext2VfsOps.LoadVnode"/>), or as a read-only view of a directory by number.
    /// EIO for an inode number out of range or reserved, an unused or malformed inode, or a checksum
    /// mismatch. Precondition: FsLock held (either way).
    /// </summary>
    public int ReadNode(uint ino, out Ext2Node? node)
    {
        node = null;
        if (!ValidIno(ino)) return Abi.EIO;
        if (InodeUninit(ino)) return Abi.EIO;
        byte[] raw = new byte[Sb.InodeSize];
        int e = ReadInodeRaw(ino, raw);
        if (e != 0) return e;
        return Ext2Node.Load(this, ino, raw, out node);
    }

    /// <summary>Every node with a vnode (a snapshot). Precondition: FsLock exclusive (their reclaims wait for it).</summary>
    public List<Ext2Node> AllNodes()
    {
        List<Vnode> vs = Mp.Vfs.Vcache.Snapshot(Mp);
        var l = new List<Ext2Node>(vs.Count);
        foreach (Vnode v in vs) if (v.Data is Ext2Node n) l.Add(n);
        return l;
    }

    public uint NextGeneration() => _genCounter = _genCounter * 1664525u + 1013904223u;

    /// <summary>Should reads update access times? Only on writable mounts without noatime.</summary>
    public bool UpdateAtime => Writable && (Mp.Flags & Abi.MNT_NOATIME) == 0;

    /// <summary>The inode checksum seed of an inode (metadata_csum).</summary>
    public uint InodeSeed(uint ino, uint gen) => Crc32c.UpdateU32(Crc32c.UpdateU32(CsumSeed, ino), gen);

    public static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(o));
}
