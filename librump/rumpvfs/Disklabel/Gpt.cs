using System;
using System.Buffers.Binary;

namespace Rump.Vfs;

/// <summary>
/// The GUID partition table (UEFI spec, chapter 5): the header at LBA 1 and its entry array,
/// both CRC32-checked. Pure parsing over spans; the sector size is assumed to be 512.
/// </summary>
public static class Gpt
{
    public const int SectorSize = 512;
    public const ulong Signature = 0x5452415020494645; // "EFI PART"
    /// <summary>Most entries read (the spec's minimum array is 128; absurd counts are refused).</summary>
    public const int MaxEntries = 1024;

    public readonly record struct Header(ulong MyLba, ulong FirstUsable, ulong LastUsable, ulong EntriesLba, uint NumEntries, uint EntrySize, uint EntriesCrc);

    /// <summary>Validates and reads the header sector; false if it is not a valid GPT header.</summary>
    public static bool ParseHeader(ReadOnlySpan<byte> sec, out Header h)
    {
        h = default;
        if (sec.Length < SectorSize || BinaryPrimitives.ReadUInt64LittleEndian(sec) != Signature) return false;
        uint hsize = BinaryPrimitives.ReadUInt32LittleEndian(sec.Slice(12));
        if (hsize < 92 || hsize > SectorSize) return false;
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(sec.Slice(16));
        Span<byte> copy = stackalloc byte[(int)hsize];
        sec.Slice(0, (int)hsize).CopyTo(copy);
        copy.Slice(16, 4).Clear();
        if (Crc32.Compute(copy) != crc) return false;
        h = new Header(
            BinaryPrimitives.ReadUInt64LittleEndian(sec.Slice(24)),
            BinaryPrimitives.ReadUInt64LittleEndian(sec.Slice(40)),
            BinaryPrimitives.ReadUInt64LittleEndian(sec.Slice(48)),
            BinaryPrimitives.ReadUInt64LittleEndian(sec.Slice(72)),
            BinaryPrimitives.ReadUInt32LittleEndian(sec.Slice(80)),
            BinaryPrimitives.ReadUInt32LittleEndian(sec.Slice(84)),
            BinaryPrimitives.ReadUInt32LittleEndian(sec.Slice(88)));
        if (h.EntrySize < 128 || h.EntrySize % 8 != 0 || h.EntrySize > 4096 || h.NumEntries == 0 || h.NumEntries > MaxEntries) return false;
        return true;
    }

    /// <summary>The used entries of a CRC-checked entry array, in order; null if the CRC does not match.</summary>
    public static PartitionEntry[]? ParseEntries(in Header h, ReadOnlySpan<byte> array, long diskSize)
    {
        long need = (long)h.NumEntries * h.EntrySize;
        if (array.Length < need) return null;
        if (Crc32.Compute(array.Slice(0, (int)need)) != h.EntriesCrc) return null;
        var list = new System.Collections.Generic.List<PartitionEntry>();
        for (int i = 0; i < h.NumEntries; i++)
        {
            ReadOnlySpan<byte> e = array.Slice(i * (int)h.EntrySize, (int)h.EntrySize);
            Guid type = new Guid(e.Slice(0, 16));
            if (type == Guid.Empty) continue;
            ulong first = BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(32));
            ulong last = BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(40));
            if (last < first || first < h.FirstUsable || last > h.LastUsable) continue;
            long start = (long)first * SectorSize;
            long size = ((long)(last - first) + 1) * SectorSize;
            if (start >= diskSize) continue;
            list.Add(new PartitionEntry(start, Math.Min(size, diskSize - start), "gpt:" + type));
        }
        return list.ToArray();
    }
}

/// <summary>CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as GPT uses.</summary>
public static class Crc32
{
    private static readonly uint[] Table = MakeTable();

    private static uint[] MakeTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = Table[(c ^ b) & 0xff] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
