using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Rump.Fs.Msdosfs.Wire;

/// <summary>An 8.3 name as stored: 8 bytes of base and 3 of extension, space padded.</summary>
[InlineArray(11)]
public struct ShortName11
{
    private byte _e0;

    public readonly string ToKey()
    {
        return string.Create(11, this, static (dst, n) => { ReadOnlySpan<byte> b = n; for (int i = 0; i < 11; i++) dst[i] = (char)b[i]; });
    }
}

/// <summary>Attribute bits of a directory entry (FAT specification section 6).</summary>
public static class FatAttr
{
    public const byte ReadOnly = 0x01;
    public const byte Hidden = 0x02;
    public const byte System = 0x04;
    public const byte VolumeId = 0x08;
    public const byte Directory = 0x10;
    public const byte Archive = 0x20;
    /// <summary>A long-name slot: read-only, hidden, system and volume id together.</summary>
    public const byte LongName = 0x0F;
    public const byte LongNameMask = 0x3F;
}

/// <summary>
/// One 32-byte short directory entry (FAT specification section 6): name, attributes, the NT
/// case flags, creation/access/write times and the first cluster and size of the file.
/// </summary>
public struct DirEntry
{
    public const int Size = 32;
    /// <summary>First name byte of a deleted entry.</summary>
    public const byte Deleted = 0xE5;
    /// <summary>First name byte of a name really starting with 0xE5 (a Kanji lead byte).</summary>
    public const byte E5Escape = 0x05;
    /// <summary>NT reserved byte: the base (0x08) or extension (0x10) is shown in lower case.</summary>
    public const byte NtLowerBase = 0x08, NtLowerExt = 0x10;

    public ShortName11 Name;
    public byte Attr;
    public byte NtRes;
    /// <summary>Creation time in 10 ms units, 0–199 (adds up to 2 s to <see cref="CTime"/>).</summary>
    public byte CTimeTenth;
    public ushort CTime, CDate;
    public ushort ADate;
    public ushort WTime, WDate;
    public uint FirstCluster;
    public uint FileSize;

    public readonly bool IsDirectory => (Attr & FatAttr.Directory) != 0;
    public readonly bool IsVolumeLabel => (Attr & (FatAttr.VolumeId | FatAttr.Directory)) == FatAttr.VolumeId;
    public static bool IsLongName(ReadOnlySpan<byte> slot) => (slot[11] & FatAttr.LongNameMask) == FatAttr.LongName;

    /// <summary>Reads an entry. <paramref name="fat32"/>: the high 16 bits of the cluster count (FAT12/16 ignore them, some OSes store EA handles there).</summary>
    public static DirEntry Parse(ReadOnlySpan<byte> s, bool fat32)
    {
        s = s.Slice(0, Size);
        DirEntry d = default;
        s.Slice(0, 11).CopyTo(d.Name);
        d.Attr = s[11];
        d.NtRes = s[12];
        d.CTimeTenth = s[13];
        d.CTime = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(14));
        d.CDate = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(16));
        d.ADate = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(18));
        uint hi = fat32 ? BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(20)) : 0u;
        d.WTime = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(22));
        d.WDate = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(24));
        d.FirstCluster = (hi << 16) | BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(26));
        d.FileSize = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(28));
        return d;
    }

    public readonly void Emit(Span<byte> s)
    {
        s = s.Slice(0, Size);
        ((ReadOnlySpan<byte>)Name).CopyTo(s);
        s[11] = Attr;
        s[12] = NtRes;
        s[13] = CTimeTenth;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(14), CTime);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(16), CDate);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(18), ADate);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(20), (ushort)(FirstCluster >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(22), WTime);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(24), WDate);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(26), (ushort)FirstCluster);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(28), FileSize);
    }
}

/// <summary>
/// One VFAT long-name slot (FAT specification section 7): 13 UTF-16 units of the name, its
/// position (1-based, 0x40 on the last, which is stored first) and the checksum of the 8.3 alias
/// it belongs to.
/// </summary>
public static class LfnSlot
{
    public const int CharsPerSlot = 13;
    public const byte LastFlag = 0x40;
    /// <summary>255 UTF-16 units need 20 slots.</summary>
    public const int MaxSlots = 20;
    public const int MaxNameChars = 255;

    private static ReadOnlySpan<byte> CharOffsets => [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

    public static byte Ord(ReadOnlySpan<byte> s) => s[0];
    public static byte Checksum(ReadOnlySpan<byte> s) => s[13];

    /// <summary>The slot's 13 units into <paramref name="dst"/> (13 long).</summary>
    public static void ReadChars(ReadOnlySpan<byte> s, Span<char> dst)
    {
        ReadOnlySpan<byte> offs = CharOffsets;
        for (int i = 0; i < CharsPerSlot; i++)
            dst[i] = (char)BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(offs[i]));
    }

    /// <summary>
    /// Writes slot number <paramref name="ord"/> (1-based) of <paramref name="name"/>: its part of the
    /// name, a NUL after the name if it ends inside the slot, 0xFFFF padding after that.
    /// </summary>
    public static void Emit(Span<byte> s, ReadOnlySpan<char> name, int ord, bool last, byte checksum)
    {
        s = s.Slice(0, DirEntry.Size);
        s.Clear();
        s[0] = (byte)(ord | (last ? LastFlag : 0));
        s[11] = FatAttr.LongName;
        s[13] = checksum;
        ReadOnlySpan<byte> offs = CharOffsets;
        int start = (ord - 1) * CharsPerSlot;
        for (int i = 0; i < CharsPerSlot; i++)
        {
            int k = start + i;
            ushort c = k < name.Length ? name[k] : k == name.Length ? (ushort)0 : (ushort)0xFFFF;
            BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(offs[i]), c);
        }
    }

    public static int SlotsFor(int nameChars) => (nameChars + CharsPerSlot - 1) / CharsPerSlot;
}
