using System;
using System.Buffers.Binary;
using Rump.Fs.Ext2fs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Ext2fs;

/// <summary>
/// One inode in memory, the data of its vnode (at most one per inode: the vnode cache's).
/// <see cref="Raw"/> is the inode as on disk (i_block is read and written there directly);
/// <see cref="I"/> the decoded fields, emitted over Raw when the inode is written. Fields are changed under the exclusive FsLock; <see cref="Dir"/> and the
/// access time may also be set under the shared FsLock with <see cref="Lock"/> held.
/// </summary>
internal sealed class Ext2Node
{
    public readonly Ext2Fs Fs;
    public readonly uint Ino;
    public readonly byte[] Raw;
    public Inode I;
    public readonly VType Type;
    public readonly KMutex Lock;
    /// <summary>crc32c seed of this inode's metadata (extent and directory blocks).</summary>
    public readonly uint Seed;
    /// <summary>Directory cache (built on first lookup); under Lock, or FsLock exclusive.</summary>
    public DirCache? Dir;
    /// <summary>The access time changed under the shared FsLock and is not yet in the inode table. Under Lock.</summary>
    public bool AtimeDirty;
    /// <summary>The last extent a lookup found (a read-mostly cache; replaced whole, so no lock).</summary>
    public ExtentHit? LastExtent;
    /// <summary>The last block allocated to this file: the next allocation aims just after it.</summary>
    public ulong LastAlloc;

    public Ext2Node(Ext2Fs fs, uint ino, byte[] raw, in Inode fields, VType type)
    {
        Fs = fs; Ino = ino; Raw = raw; I = fields; Type = type;
        Lock = new KMutex(fs.Kernel);
        Seed = fs.Csum ? fs.InodeSeed(ino, fields.Generation) : 0;
    }

    public static VType TypeOf(ushort mode) => (mode & Inode.IfMt) switch
    {
        Inode.IfReg => VType.VREG,
        Inode.IfDir => VType.VDIR,
        Inode.IfLnk => VType.VLNK,
        Inode.IfChr => VType.VCHR,
        Inode.IfBlk => VType.VBLK,
        Inode.IfIfo => VType.VFIFO,
        Inode.IfSock => VType.VSOCK,
        _ => VType.VNON,
    };

    /// <summary>Decodes and checks an inode read from the table; EIO if it is not a live, well-formed inode.</summary>
    public static int Load(Ext2Fs fs, uint ino, byte[] raw, out Ext2Node? n)
    {
        n = null;
        Superblock sb = fs.Sb;
        if (fs.Csum && !Inode.ChecksumOk(fs.CsumSeed, ino, raw)) return Abi.EIO;
        int e = Inode.Parse(raw, fs.HugeFile, out Inode fi);
        if (e != 0) return e;
        VType t = TypeOf(fi.Mode);
        if (t == VType.VNON || fi.LinksCount == 0) return Abi.EIO;
        if ((fi.Flags & Inode.FlagInlineData) != 0) return Abi.EIO;
        bool ext = (fi.Flags & Inode.FlagExtents) != 0;
        if (ext && !sb.Has(Features.IncompatExtents)) return Abi.EIO;
        if (ext && (!ExtentNode.TryParse(raw.AsSpan(Inode.OffBlock, Inode.BlockBytes), out ExtentNode root) || root.Max > 4)) return Abi.EIO;
        if (fi.Size > long.MaxValue / 4) return Abi.EIO;
        if (t == VType.VDIR && (long)fi.Size > Ext2Fs.MaxDirSize) return Abi.EIO;
        if (t == VType.VLNK && (fi.Size == 0 || fi.Size >= (ulong)Math.Min(fs.Bs, 4096))) return Abi.EIO;
        n = new Ext2Node(fs, ino, raw, fi, t);
        return 0;
    }

    public long Size => (long)I.Size;
    public bool IsExtents => (I.Flags & Inode.FlagExtents) != 0;

    /// <summary>i_block[<paramref name="i"/>] as a block pointer (ext2 maps).</summary>
    public uint BlockPtr(int i) => BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(Inode.OffBlock + 4 * i));
    public void SetBlockPtr(int i, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(Inode.OffBlock + 4 * i), v);

    /// <summary>A symlink whose target is stored in i_block rather than in a data block.</summary>
    public bool IsFastSymlink
    {
        get
        {
            if (Type != VType.VLNK || IsExtents || I.Size >= Inode.BlockBytes) return false;
            ulong eaBlocks = I.FileAcl != 0 ? (ulong)Fs.Sect : 0;
            return I.Blocks <= eaBlocks;
        }
    }

    /// <summary>Bytes of storage (st_blocks * 512): i_blocks in sectors, or in blocks for huge_file inodes.</summary>
    public long StorageBytes => Fs.HugeFile && (I.Flags & Inode.FlagHugeFile) != 0 ? (long)I.Blocks * Fs.Bs : (long)I.Blocks * 512;

    public override string ToString() => "ext2fs inode " + Ino + " (" + Type + ")";
}

/// <summary>A mapped extent: logical blocks [L, L+Len) at physical P (or zeros when uninitialised).</summary>
internal sealed class ExtentHit
{
    public readonly long L;
    public readonly int Len;
    public readonly ulong P;
    public readonly bool Uninit;

    public ExtentHit(long l, int len, ulong p, bool uninit) { L = l; Len = len; P = p; Uninit = uninit; }
}
