using System;
using System.Buffers.Binary;

namespace Rump.Fs.Ext2fs.Wire;

/// <summary>
/// A block group descriptor: 32 bytes, or <c>s_desc_size</c> (64 or more) with the 64bit feature,
/// where the high halves of the block numbers and counts follow at byte 32.
/// </summary>
internal struct GroupDesc
{
    public const int Size32 = 32;
    public const ushort FlagInodeUninit = 1, FlagBlockUninit = 2, FlagInodeZeroed = 4;

    public ulong BlockBitmap, InodeBitmap, InodeTable;
    public uint FreeBlocks, FreeInodes, UsedDirs, ItableUnused;
    public ushort Flags;
    public ushort Checksum;

    public static GroupDesc Parse(ReadOnlySpan<byte> b, int descSize)
    {
        var g = new GroupDesc
        {
            BlockBitmap = U32(b, 0x00),
            InodeBitmap = U32(b, 0x04),
            InodeTable = U32(b, 0x08),
            FreeBlocks = U16(b, 0x0C),
            FreeInodes = U16(b, 0x0E),
            UsedDirs = U16(b, 0x10),
            Flags = U16(b, 0x12),
            ItableUnused = U16(b, 0x1C),
            Checksum = U16(b, 0x1E),
        };
        if (descSize >= 64)
        {
            g.BlockBitmap |= (ulong)U32(b, 0x20) << 32;
            g.InodeBitmap |= (ulong)U32(b, 0x24) << 32;
            g.InodeTable |= (ulong)U32(b, 0x28) << 32;
            g.FreeBlocks |= (uint)U16(b, 0x2C) << 16;
            g.FreeInodes |= (uint)U16(b, 0x2E) << 16;
            g.UsedDirs |= (uint)U16(b, 0x30) << 16;
            g.ItableUnused |= (uint)U16(b, 0x32) << 16;
        }
        return g;
    }

    /// <summary>Writes the counts (the only fields this driver changes) into a descriptor in place.</summary>
    public readonly void EmitCounts(Span<byte> b, int descSize)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x0C), (ushort)FreeBlocks);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x0E), (ushort)FreeInodes);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x10), (ushort)UsedDirs);
        if (descSize >= 64)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x2C), (ushort)(FreeBlocks >> 16));
            BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x2E), (ushort)(FreeInodes >> 16));
            BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x30), (ushort)(UsedDirs >> 16));
        }
    }

    /// <summary>Writes every field (tests and fixtures).</summary>
    public readonly void Emit(Span<byte> b, int descSize)
    {
        b.Slice(0, descSize).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)BlockBitmap);
        BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(0x04), (uint)InodeBitmap);
        BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(0x08), (uint)InodeTable);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x12), Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x1C), (ushort)ItableUnused);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x1E), Checksum);
        if (descSize >= 64)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(0x20), (uint)(BlockBitmap >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(0x24), (uint)(InodeBitmap >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(0x28), (uint)(InodeTable >> 32));
            BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(0x32), (ushort)(ItableUnused >> 16));
        }
        EmitCounts(b, descSize);
    }

    /// <summary>
    /// metadata_csum descriptor checksum: low 16 bits of crc32c(seed, le32 group, descriptor with
    /// bg_checksum taken as zero).
    /// </summary>
    public static ushort ComputeChecksum(uint csumSeed, uint group, ReadOnlySpan<byte> desc)
    {
        uint c = Crc32c.UpdateU32(csumSeed, group);
        c = Crc32c.Update(c, desc.Slice(0, 0x1E));
        c = Crc32c.Update(c, [0, 0]);
        if (desc.Length > 0x20) c = Crc32c.Update(c, desc.Slice(0x20));
        return (ushort)c;
    }

    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(o));
    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(o));
}
