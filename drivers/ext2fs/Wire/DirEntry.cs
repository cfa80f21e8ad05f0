using System;
using System.Buffers.Binary;

namespace Rump.Fs.Ext2fs.Wire;

/// <summary>
/// ext2 directory entries (struct ext2_dir_entry_2): inode (4), rec_len (2), name_len (1),
/// file_type (1), name. Records are 4-byte aligned, never cross a block and tile it exactly; an
/// entry with inode 0 is free space. With metadata_csum a leaf block ends in a 12-byte fake entry
/// (inode 0, rec_len 12, name_len 0, type 0xDE) holding crc32c(inode seed, block before it).
/// </summary>
internal static class DirEntry
{
    public const int HeaderSize = 8;
    public const int MaxNameLen = 255;
    public const int TailSize = 12;
    public const byte TailType = 0xDE;

    // file_type values (EXT2_FT_*)
    public const byte FtUnknown = 0, FtReg = 1, FtDir = 2, FtChr = 3, FtBlk = 4, FtFifo = 5, FtSock = 6, FtSymlink = 7;

    /// <summary>The smallest record holding a name of <paramref name="nameLen"/> bytes.</summary>
    public static int RecLen(int nameLen) => (HeaderSize + nameLen + 3) & ~3;

    /// <summary>
    /// Reads the record at <paramref name="off"/> of a block of <paramref name="blockLen"/> bytes; false if it is
    /// malformed (rec_len too small, unaligned, past the block, or a name longer than the record).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> blk, int off, out uint ino, out int recLen, out int nameLen, out byte type)
    {
        ino = 0; recLen = 0; nameLen = 0; type = 0;
        if (off + HeaderSize > blk.Length) return false;
        ino = BinaryPrimitives.ReadUInt32LittleEndian(blk.Slice(off));
        recLen = BinaryPrimitives.ReadUInt16LittleEndian(blk.Slice(off + 4));
        // 64 KiB blocks cannot store 65536 in 16 bits: 0 or 65535 mean the whole block, and the low
        // two bits carry bits 16-17 (ext4's ext4_rec_len_from_disk).
        if (blk.Length >= 65536)
            recLen = recLen == 0 || recLen == 65535 ? blk.Length : (recLen & 65532) | ((recLen & 3) << 16);
        nameLen = blk[off + 6];
        type = blk[off + 7];
        if (recLen < HeaderSize || (recLen & 3) != 0 || off + recLen > blk.Length) return false;
        if (HeaderSize + nameLen > recLen) return false;
        return true;
    }

    public static void Write(Span<byte> blk, int off, uint ino, int recLen, ReadOnlySpan<byte> name, byte type)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(blk.Slice(off), ino);
        SetRecLen(blk, off, recLen);
        blk[off + 6] = (byte)name.Length;
        blk[off + 7] = type;
        name.CopyTo(blk.Slice(off + HeaderSize));
    }

    public static void SetRecLen(Span<byte> blk, int off, int recLen)
        => BinaryPrimitives.WriteUInt16LittleEndian(blk.Slice(off + 4),
            blk.Length < 65536 ? (ushort)recLen : recLen >= 65536 ? (ushort)65535 : (ushort)((recLen & 65532) | ((recLen >> 16) & 3)));

    public static void SetIno(Span<byte> blk, int off, uint ino) => BinaryPrimitives.WriteUInt32LittleEndian(blk.Slice(off), ino);

    /// <summary>Does the block end in a checksum tail?</summary>
    public static bool HasTail(ReadOnlySpan<byte> blk)
    {
        if (blk.Length < TailSize) return false;
        ReadOnlySpan<byte> t = blk.Slice(blk.Length - TailSize);
        return BinaryPrimitives.ReadUInt32LittleEndian(t) == 0 && BinaryPrimitives.ReadUInt16LittleEndian(t.Slice(4)) == TailSize
            && t[6] == 0 && t[7] == TailType;
    }

    public static bool TailChecksumOk(uint inodeSeed, ReadOnlySpan<byte> blk)
    {
        uint c = Crc32c.Update(inodeSeed, blk.Slice(0, blk.Length - TailSize));
        return c == BinaryPrimitives.ReadUInt32LittleEndian(blk.Slice(blk.Length - 4));
    }

    /// <summary>The file type an entry carries for a mode's type bits.</summary>
    public static byte TypeFromMode(ushort mode) => (mode & Inode.IfMt) switch
    {
        Inode.IfReg => FtReg,
        Inode.IfDir => FtDir,
        Inode.IfChr => FtChr,
        Inode.IfBlk => FtBlk,
        Inode.IfIfo => FtFifo,
        Inode.IfSock => FtSock,
        Inode.IfLnk => FtSymlink,
        _ => FtUnknown,
    };
}
