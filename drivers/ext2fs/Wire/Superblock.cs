using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Fs.Ext2fs.Wire;

/// <summary>
/// The superblock: 1024 bytes at byte 1024 of the device. <see cref="Parse"/> checks everything
/// later code relies on (geometry, sizes, feature sets) and keeps the raw bytes so that
/// <see cref="Emit"/> rewrites only the fields this driver changes.
/// </summary>
internal sealed class Superblock
{
    public const int Offset = 1024;
    public const int Size = 1024;
    public const ushort Magic = 0xEF53;
    public const ushort StateValid = 1, StateError = 2;
    public const int GoodOldInodeSize = 128;
    public const int GoodOldFirstIno = 11;

    private readonly byte[] _raw = new byte[Size];

    public uint InodesCount;
    public ulong BlocksCount;
    public ulong RBlocksCount;
    public ulong FreeBlocksCount;
    public uint FreeInodesCount;
    public uint FirstDataBlock;
    public int LogBlockSize;
    public uint BlocksPerGroup;
    public uint InodesPerGroup;
    public uint Mtime, Wtime;
    public ushort MntCount;
    public ushort State;
    public uint RevLevel;
    public uint FirstIno;
    public int InodeSize;
    public uint FeatureCompat, FeatureIncompat, FeatureRoCompat;
    public int DescSize;
    public uint FirstMetaBg;
    public ushort MinExtraIsize;
    public byte ChecksumType;
    public uint ChecksumSeed;
    public uint Checksum;
    public byte LogGroupsPerFlex;

    public int BlockSize => 1024 << LogBlockSize;
    public bool Has(uint incompat) => (FeatureIncompat & incompat) != 0;
    public bool HasRo(uint ro) => (FeatureRoCompat & ro) != 0;
    public bool HasCompat(uint c) => (FeatureCompat & c) != 0;
    public bool MetadataCsum => HasRo(Features.RoMetadataCsum);
    public ReadOnlySpan<byte> Uuid => _raw.AsSpan(0x68, 16);
    public uint GroupCount => (uint)((BlocksCount - FirstDataBlock + BlocksPerGroup - 1) / BlocksPerGroup);

    /// <summary>
    /// Parses and validates the superblock. <paramref name="devSize"/> bounds the block count (a
    /// truncated image is refused). Returns 0 or EINVAL (not ext2, or inconsistent).
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> b, long devSize, out Superblock? sb)
    {
        sb = null;
        if (b.Length < Size) return Abi.EINVAL;
        if (BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(0x38)) != Magic) return Abi.EINVAL;
        var s = new Superblock();
        b.Slice(0, Size).CopyTo(s._raw);
        s.InodesCount = U32(b, 0x00);
        s.FreeInodesCount = U32(b, 0x10);
        s.FirstDataBlock = U32(b, 0x14);
        uint log = U32(b, 0x18);
        s.BlocksPerGroup = U32(b, 0x20);
        s.InodesPerGroup = U32(b, 0x28);
        s.Mtime = U32(b, 0x2C);
        s.Wtime = U32(b, 0x30);
        s.MntCount = U16(b, 0x34);
        s.State = U16(b, 0x3A);
        s.RevLevel = U32(b, 0x4C);
        s.FeatureCompat = s.RevLevel >= 1 ? U32(b, 0x5C) : 0;
        s.FeatureIncompat = s.RevLevel >= 1 ? U32(b, 0x60) : 0;
        s.FeatureRoCompat = s.RevLevel >= 1 ? U32(b, 0x64) : 0;
        s.FirstIno = s.RevLevel >= 1 ? U32(b, 0x54) : GoodOldFirstIno;
        s.InodeSize = s.RevLevel >= 1 ? U16(b, 0x58) : GoodOldInodeSize;
        bool is64 = s.Has(Features.Incompat64bit);
        s.BlocksCount = U32(b, 0x04) | (is64 ? (ulong)U32(b, 0x150) << 32 : 0);
        s.RBlocksCount = U32(b, 0x08) | (is64 ? (ulong)U32(b, 0x154) << 32 : 0);
        s.FreeBlocksCount = U32(b, 0x0C) | (is64 ? (ulong)U32(b, 0x158) << 32 : 0);
        s.DescSize = is64 ? U16(b, 0xFE) : 32;
        s.FirstMetaBg = U32(b, 0x104);
        s.MinExtraIsize = U16(b, 0x15C);
        s.LogGroupsPerFlex = b[0x174];
        s.ChecksumType = b[0x175];
        s.ChecksumSeed = U32(b, 0x270);
        s.Checksum = U32(b, 0x3FC);

        // Geometry: block size 1K..64K, groups of at most 8*blocksize blocks and inodes (one bitmap block each).
        if (log > 6) return Abi.EINVAL;
        s.LogBlockSize = (int)log;
        int bs = s.BlockSize;
        if (s.RevLevel > 1) return Abi.EINVAL;
        if (s.BlocksPerGroup == 0 || s.BlocksPerGroup > 8u * (uint)bs) return Abi.EINVAL;
        if (s.InodesPerGroup == 0 || s.InodesPerGroup > 8u * (uint)bs) return Abi.EINVAL;
        // bigalloc clusters: a cluster size other than the block size changes bitmaps; only the same is accepted.
        if (s.HasRo(Features.RoBigalloc) && U32(b, 0x1C) != log) return Abi.EINVAL;
        if (s.InodeSize < GoodOldInodeSize || s.InodeSize > bs || (s.InodeSize & (s.InodeSize - 1)) != 0) return Abi.EINVAL;
        if (is64 && (s.DescSize < 64 || s.DescSize > 1024 || (s.DescSize & (s.DescSize - 1)) != 0)) return Abi.EINVAL;
        if (s.FirstDataBlock != (bs == 1024 ? 1u : 0u) && s.FirstDataBlock != 0) return Abi.EINVAL;
        if (s.BlocksCount <= s.FirstDataBlock || s.BlocksCount > (ulong)(devSize / bs)) return Abi.EINVAL;
        if (s.FreeBlocksCount > s.BlocksCount || s.RBlocksCount > s.BlocksCount) return Abi.EINVAL;
        ulong groups = s.GroupCount;
        if ((ulong)s.InodesCount != groups * s.InodesPerGroup) return Abi.EINVAL;
        if (s.FreeInodesCount > s.InodesCount) return Abi.EINVAL;
        if (s.FirstIno < 3 || s.FirstIno > s.InodesCount) return Abi.EINVAL;
        if (s.HasRo(Features.RoMetadataCsum) && s.ChecksumType != 1) return Abi.EINVAL;
        sb = s;
        return 0;
    }

    /// <summary>The superblock checksum (metadata_csum): crc32c(~0, bytes before s_checksum).</summary>
    public static uint ComputeChecksum(ReadOnlySpan<byte> b) => Crc32c.Update(~0u, b.Slice(0, 0x3FC));

    /// <summary>The checksum stored in the raw bytes this was parsed from matches them.</summary>
    public bool ChecksumOk => ComputeChecksum(_raw) == Checksum;

    /// <summary>The seed of every other metadata checksum.</summary>
    public uint CsumSeed => Has(Features.IncompatCsumSeed) ? ChecksumSeed : Crc32c.Update(~0u, Uuid);

    /// <summary>Writes the fields this driver changes over the parsed bytes into <paramref name="dst"/> (1024 bytes).</summary>
    public void Emit(Span<byte> dst)
    {
        byte[] r = _raw;
        W32(r, 0x0C, (uint)FreeBlocksCount);
        if (Has(Features.Incompat64bit)) W32(r, 0x158, (uint)(FreeBlocksCount >> 32));
        W32(r, 0x10, FreeInodesCount);
        W32(r, 0x2C, Mtime);
        W32(r, 0x30, Wtime);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(0x34), MntCount);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(0x3A), State);
        W32(r, 0x5C, FeatureCompat);
        W32(r, 0x60, FeatureIncompat);
        W32(r, 0x64, FeatureRoCompat);
        if (MetadataCsum) W32(r, 0x3FC, Checksum = ComputeChecksum(r));
        r.CopyTo(dst);
    }

    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(o));
    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(o));
    private static void W32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
}
