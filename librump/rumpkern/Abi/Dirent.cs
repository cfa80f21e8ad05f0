using System;
using System.Buffers.Binary;

namespace Rump.Kern;

/// <summary>
/// NetBSD's struct dirent as getdents(2) returns it (amd64): d_fileno (8), d_reclen (2),
/// d_namlen (2), d_type (1), d_name (namlen bytes and a NUL), the record padded to 8 bytes.
/// Pure encoding over spans; the file systems call it from their readdir.
/// </summary>
public static class Dirent
{
    public const int HeaderSize = RumpDirentHeader.NameOffset;
    public const int MaxNameLen = 511;

    /// <summary>Size of the record for a name of <paramref name="namlen"/> bytes.</summary>
    public static int RecLen(int namlen) => RumpDirentHeader.RecordLength(namlen);

    /// <summary>
    /// Writes one record for a name held one char per byte; returns its length, or 0 if it does
    /// not fit in <paramref name="dst"/>.
    /// </summary>
    public static int Emit(Span<byte> dst, ulong fileno, byte type, ReadOnlySpan<char> name)
    {
        int reclen = RecLen(name.Length);
        if (reclen > dst.Length) return 0;
        BinaryPrimitives.WriteUInt64LittleEndian(dst, fileno);
        BinaryPrimitives.WriteUInt16LittleEndian(dst.Slice(8), (ushort)reclen);
        BinaryPrimitives.WriteUInt16LittleEndian(dst.Slice(10), (ushort)name.Length);
        dst[12] = type;
        for (int i = 0; i < name.Length; i++) dst[HeaderSize + i] = (byte)name[i];
        dst.Slice(HeaderSize + name.Length, reclen - HeaderSize - name.Length).Clear();
        return reclen;
    }

    /// <summary>Reads the record at the start of <paramref name="src"/>; false if it is malformed or truncated.</summary>
    public static bool TryParse(ReadOnlySpan<byte> src, out ulong fileno, out int reclen, out byte type, out ReadOnlySpan<byte> name)
    {
        fileno = 0; reclen = 0; type = 0; name = default;
        if (src.Length < HeaderSize) return false;
        fileno = BinaryPrimitives.ReadUInt64LittleEndian(src);
        reclen = BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(8));
        int namlen = BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(10));
        type = src[12];
        if (reclen < RecLen(namlen) || reclen > src.Length || namlen > MaxNameLen) return false;
        name = src.Slice(HeaderSize, namlen);
        return true;
    }
}
