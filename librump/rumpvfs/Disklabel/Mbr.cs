using System;
using System.Buffers.Binary;

namespace Rump.Vfs;

/// <summary>One partition found in a partition table: a byte range of the disk.</summary>
public readonly record struct PartitionEntry(long Start, long Size, string Type);

/// <summary>
/// The MS-DOS partition table (MBR, 512-byte sector 0) and extended-partition chains of EBRs.
/// Pure parsing: <see cref="Parse"/> reads one table sector; <see cref="Partitions"/> walks the
/// chain through a reader callback, bounded so a looping chain ends.
/// </summary>
public static class Mbr
{
    public const int SectorSize = 512;
    public const byte TypeEmpty = 0x00, TypeExtendedChs = 0x05, TypeExtendedLba = 0x0f, TypeExtendedLinux = 0x85, TypeGptProtective = 0xee;
    /// <summary>Most logical partitions followed in an extended chain.</summary>
    public const int MaxLogical = 128;

    /// <summary>A partition-table entry: type and LBA range (sectors), relative to the table's base.</summary>
    public readonly record struct Entry(byte Type, uint Lba, uint Sectors, bool Bootable)
    {
        public bool IsExtended => Type is TypeExtendedChs or TypeExtendedLba or TypeExtendedLinux;
    }

    /// <summary>True if the sector ends with the 0x55AA signature.</summary>
    public static bool HasSignature(ReadOnlySpan<byte> sector)
        => sector.Length >= SectorSize && sector[510] == 0x55 && sector[511] == 0xAA;

    /// <summary>The four entries of a table sector (empty ones have Type 0).</summary>
    public static bool Parse(ReadOnlySpan<byte> sector, Span<Entry> entries)
    {
        if (!HasSignature(sector) || entries.Length < 4) return false;
        for (int i = 0; i < 4; i++)
        {
            ReadOnlySpan<byte> e = sector.Slice(446 + 16 * i, 16);
            byte status = e[0];
            if (status != 0 && status != 0x80) return false; // not a partition table (e.g. a FAT boot sector)
            entries[i] = new Entry(e[4], BinaryPrimitives.ReadUInt32LittleEndian(e.Slice(8)), BinaryPrimitives.ReadUInt32LittleEndian(e.Slice(12)), status == 0x80);
        }
        return true;
    }

    /// <summary>Encodes a table sector (for tests and tools): up to four entries and the signature.</summary>
    public static void Emit(Span<byte> sector, ReadOnlySpan<Entry> entries)
    {
        sector.Slice(446, 66).Clear();
        for (int i = 0; i < entries.Length && i < 4; i++)
        {
            Span<byte> e = sector.Slice(446 + 16 * i, 16);
            e[0] = entries[i].Bootable ? (byte)0x80 : (byte)0;
            e[4] = entries[i].Type;
            BinaryPrimitives.WriteUInt32LittleEndian(e.Slice(8), entries[i].Lba);
            BinaryPrimitives.WriteUInt32LittleEndian(e.Slice(12), entries[i].Sectors);
        }
        sector[510] = 0x55;
        sector[511] = 0xAA;
    }

    /// <summary>Reads the sector at a byte offset; false on an I/O error.</summary>
    public delegate bool SectorReader(long offset, Span<byte> sector);

    /// <summary>
    /// The primary partitions, then the logical ones of the (first) extended partition, in order.
    /// Entries outside the disk are dropped; a protective GPT entry yields nothing (the GPT is read
    /// instead). Returns null if sector 0 is not a partition table.
    /// </summary>
    public static PartitionEntry[]? Partitions(ReadOnlySpan<byte> sector0, long diskSize, SectorReader read)
    {
        Span<Entry> prim = stackalloc Entry[4];
        if (!Parse(sector0, prim)) return null;
        var list = new System.Collections.Generic.List<PartitionEntry>();
        Entry? ext = null;
        foreach (Entry e in prim)
        {
            if (e.Type == TypeEmpty || e.Sectors == 0) continue;
            if (e.Type == TypeGptProtective) return null;
            if (e.IsExtended) { ext ??= e; continue; }
            Add(list, (long)e.Lba * SectorSize, (long)e.Sectors * SectorSize, diskSize, e.Type);
        }
        if (ext is Entry x)
        {
            long extBase = (long)x.Lba * SectorSize;
            long ebr = extBase;
            Span<byte> sec = stackalloc byte[SectorSize];
            Span<Entry> le = stackalloc Entry[4];
            for (int n = 0; n < MaxLogical && ebr > 0 && ebr + SectorSize <= diskSize; n++)
            {
                if (!read(ebr, sec) || !Parse(sec, le)) break;
                if (le[0].Type != TypeEmpty && le[0].Sectors != 0)
                    Add(list, ebr + (long)le[0].Lba * SectorSize, (long)le[0].Sectors * SectorSize, diskSize, le[0].Type);
                // The second entry points to the next EBR, relative to the extended partition's start.
                if (!le[1].IsExtended || le[1].Lba == 0) break;
                long next = extBase + (long)le[1].Lba * SectorSize;
                if (next <= ebr) break; // chains only go forward: a backward link is a loop
                ebr = next;
            }
        }
        return list.ToArray();
    }

    private static void Add(System.Collections.Generic.List<PartitionEntry> list, long start, long size, long disk, byte type)
    {
        if (start <= 0 || start >= disk) return;
        size = Math.Min(size, disk - start);
        list.Add(new PartitionEntry(start, size, "mbr:0x" + type.ToString("x2")));
    }
}
