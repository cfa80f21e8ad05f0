using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Fs.Ext2fs.Wire;

/// <summary>
/// An on-disk inode (128 bytes, or s_inode_size with the "large" fields after byte 128 when
/// i_extra_isize covers them). <see cref="Parse"/> decodes into fields; <see cref="Emit"/> writes
/// them back over the same raw bytes, keeping what this driver does not interpret (in-inode
/// extended attributes, project ids, OS-dependent fields).
/// </summary>
internal struct Inode
{
    public const int OffBlock = 0x28, BlockBytes = 60, NBlock = 15;
    public const int NDirect = 12, IndIndex = 12, DIndIndex = 13, TIndIndex = 14;
    private const int OffExtraIsize = 0x80, OffChecksumLo = 0x7C, OffChecksumHi = 0x82;

    // i_flags
    public const uint FlagIndex = 0x1000, FlagImagic = 0x2000, FlagHugeFile = 0x40000, FlagExtents = 0x80000,
        FlagEaInode = 0x200000, FlagInlineData = 0x10000000;

    // i_mode types
    public const ushort IfMt = 0xF000, IfSock = 0xC000, IfLnk = 0xA000, IfReg = 0x8000, IfBlk = 0x6000,
        IfDir = 0x4000, IfChr = 0x2000, IfIfo = 0x1000;

    public ushort Mode;
    public uint Uid, Gid;
    public ulong Size;
    public RumpTimespec Atime, Ctime, Mtime, Crtime;
    public uint Dtime;
    public ushort LinksCount;
    /// <summary>i_blocks (lo and, with huge_file, hi) as stored; units depend on the huge_file flag.</summary>
    public ulong Blocks;
    public uint Flags;
    public uint Generation;
    public ulong FileAcl;
    public ushort ExtraIsize;
    public uint Checksum;
    public bool HasCrtime;

    /// <summary>Does the inode's large part hold a field ending at byte <paramref name="end"/>?</summary>
    private static bool Fits(int inodeSize, ushort extra, int end) => inodeSize > 128 && 128 + extra >= end && end <= inodeSize;

    /// <summary>Decodes an inode. EIO if i_extra_isize does not fit the inode.</summary>
    public static int Parse(ReadOnlySpan<byte> b, bool hugeFile, out Inode ino)
    {
        ino = default;
        int isz = b.Length;
        ino.Mode = U16(b, 0x00);
        ino.Uid = U16(b, 0x02) | (uint)U16(b, 0x78) << 16;
        ino.Size = U32(b, 0x04) | (ulong)U32(b, 0x6C) << 32;
        ino.Dtime = U32(b, 0x14);
        ino.Gid = U16(b, 0x18) | (uint)U16(b, 0x7A) << 16;
        ino.LinksCount = U16(b, 0x1A);
        ino.Blocks = U32(b, 0x1C) | (hugeFile ? (ulong)U16(b, 0x74) << 32 : 0);
        ino.Flags = U32(b, 0x20);
        ino.Generation = U32(b, 0x64);
        ino.FileAcl = U32(b, 0x68) | (ulong)U16(b, 0x76) << 32;
        ino.Checksum = U16(b, OffChecksumLo);
        if (isz > 128)
        {
            ino.ExtraIsize = U16(b, OffExtraIsize);
            if (128 + ino.ExtraIsize > isz || (ino.ExtraIsize & 3) != 0) return Abi.EIO;
            if (Fits(isz, ino.ExtraIsize, 0x84)) ino.Checksum |= (uint)U16(b, OffChecksumHi) << 16;
        }
        ino.Ctime = Time(b, 0x0C, isz, ino.ExtraIsize, 0x84);
        ino.Mtime = Time(b, 0x10, isz, ino.ExtraIsize, 0x88);
        ino.Atime = Time(b, 0x08, isz, ino.ExtraIsize, 0x8C);
        if (Fits(isz, ino.ExtraIsize, 0x98))
        {
            ino.HasCrtime = true;
            ino.Crtime = Time(b, 0x90, isz, ino.ExtraIsize, 0x94);
        }
        return 0;
    }

    /// <summary>Seconds from the 32-bit field (signed) plus the epoch bits and nanoseconds of the extra field.</summary>
    private static RumpTimespec Time(ReadOnlySpan<byte> b, int off, int isz, ushort extra, int extraOff)
    {
        long sec = (int)U32(b, off);
        long nsec = 0;
        if (Fits(isz, extra, extraOff + 4))
        {
            uint x = U32(b, extraOff);
            sec += (long)(x & 3) << 32;
            nsec = x >> 2;
            if (nsec > 999_999_999) nsec = 0;
        }
        return new RumpTimespec { tv_sec = sec, tv_nsec = nsec };
    }

    private static void EmitTime(Span<byte> b, int off, int extraOff, ushort extra, in RumpTimespec t)
    {
        uint lo = (uint)t.tv_sec;
        BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(off), lo);
        if (Fits(b.Length, extra, extraOff + 4))
        {
            uint epoch = (uint)((t.tv_sec - (int)lo) >> 32) & 3;
            BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(extraOff), epoch | (uint)(t.tv_nsec << 2));
        }
    }

    /// <summary>Writes the fields over <paramref name="b"/> (the inode's raw bytes, i_block excluded: the caller owns it).</summary>
    public readonly void Emit(Span<byte> b, bool hugeFile)
    {
        W16(b, 0x00, Mode);
        W16(b, 0x02, (ushort)Uid);
        W16(b, 0x78, (ushort)(Uid >> 16));
        W32(b, 0x04, (uint)Size);
        W32(b, 0x6C, (uint)(Size >> 32));
        W32(b, 0x14, Dtime);
        W16(b, 0x18, (ushort)Gid);
        W16(b, 0x7A, (ushort)(Gid >> 16));
        W16(b, 0x1A, LinksCount);
        W32(b, 0x1C, (uint)Blocks);
        if (hugeFile) W16(b, 0x74, (ushort)(Blocks >> 32));
        W32(b, 0x20, Flags);
        W32(b, 0x64, Generation);
        W32(b, 0x68, (uint)FileAcl);
        W16(b, 0x76, (ushort)(FileAcl >> 32));
        if (b.Length > 128) W16(b, OffExtraIsize, ExtraIsize);
        EmitTime(b, 0x0C, 0x84, ExtraIsize, Ctime);
        EmitTime(b, 0x10, 0x88, ExtraIsize, Mtime);
        EmitTime(b, 0x08, 0x8C, ExtraIsize, Atime);
        if (Fits(b.Length, ExtraIsize, 0x98)) EmitTime(b, 0x90, 0x94, ExtraIsize, Crtime);
    }

    /// <summary>
    /// metadata_csum inode checksum: crc32c over the whole inode with both checksum halves taken as
    /// zero, seeded with crc32c(crc32c(fs seed, le32 inode number), le32 generation).
    /// </summary>
    public static uint ComputeChecksum(uint csumSeed, uint ino, ReadOnlySpan<byte> b)
    {
        uint gen = U32(b, 0x64);
        uint c = Crc32c.UpdateU32(Crc32c.UpdateU32(csumSeed, ino), gen);
        ReadOnlySpan<byte> zero = [0, 0];
        c = Crc32c.Update(c, b.Slice(0, OffChecksumLo));
        c = Crc32c.Update(c, zero);
        c = Crc32c.Update(c, b.Slice(OffChecksumLo + 2, 128 - OffChecksumLo - 2));
        if (b.Length > 128)
        {
            ushort extra = U16(b, OffExtraIsize);
            c = Crc32c.Update(c, b.Slice(128, OffChecksumHi - 128));
            int rest = OffChecksumHi;
            if (Fits(b.Length, extra, 0x84)) { c = Crc32c.Update(c, zero); rest += 2; }
            c = Crc32c.Update(c, b.Slice(rest));
        }
        return c;
    }

    /// <summary>Does the stored checksum match? Only the low 16 bits are stored in a 128-byte inode.</summary>
    public static bool ChecksumOk(uint csumSeed, uint ino, ReadOnlySpan<byte> b)
    {
        uint c = ComputeChecksum(csumSeed, ino, b);
        uint stored = U16(b, OffChecksumLo);
        if (b.Length > 128 && Fits(b.Length, U16(b, OffExtraIsize), 0x84))
        {
            stored |= (uint)U16(b, OffChecksumHi) << 16;
            return stored == c;
        }
        return stored == (c & 0xFFFF);
    }

    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(o));
    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(o));
    private static void W32(Span<byte> b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(o), v);
    private static void W16(Span<byte> b, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(o), v);
}
