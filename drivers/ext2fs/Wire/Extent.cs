using System;
using System.Buffers.Binary;

namespace Rump.Fs.Ext2fs.Wire;

/// <summary>
/// ext4 extent tree nodes: a 12-byte header (magic 0xF30A, entries, max, depth) followed by
/// 12-byte index entries (depth &gt; 0) or leaf extents (depth 0). The root lives in i_block
/// (at most 4 entries); other nodes fill a block and end with a 4-byte crc32c tail.
/// </summary>
internal readonly ref struct ExtentNode
{
    public const ushort Magic = 0xF30A;
    public const int HeaderSize = 12, EntrySize = 12;
    /// <summary>ext4 never builds trees deeper than 5 levels (EXT4_MAX_EXTENT_DEPTH).</summary>
    public const int MaxDepth = 5;
    /// <summary>ee_len above this marks an uninitialised (preallocated, reads as zeros) extent.</summary>
    public const int InitMaxLen = 32768;

    private readonly ReadOnlySpan<byte> _b;
    public readonly int Entries, Max, Depth;

    private ExtentNode(ReadOnlySpan<byte> b, int entries, int max, int depth)
    {
        _b = b; Entries = entries; Max = max; Depth = depth;
    }

    /// <summary>Checks the header against the space the node has; false if it is not a valid node.</summary>
    public static bool TryParse(ReadOnlySpan<byte> b, out ExtentNode node)
    {
        node = default;
        if (b.Length < HeaderSize) return false;
        if (BinaryPrimitives.ReadUInt16LittleEndian(b) != Magic) return false;
        int entries = BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(2));
        int max = BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(4));
        int depth = BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(6));
        if (entries > max || HeaderSize + max * EntrySize > b.Length || depth > MaxDepth) return false;
        node = new ExtentNode(b, entries, max, depth);
        return true;
    }

    /// <summary>First logical block of entry <paramref name="i"/> (index or leaf).</summary>
    public uint LogicalStart(int i) => BinaryPrimitives.ReadUInt32LittleEndian(_b.Slice(HeaderSize + i * EntrySize));

    /// <summary>An index entry's child block.</summary>
    public ulong IndexChild(int i)
    {
        ReadOnlySpan<byte> e = _b.Slice(HeaderSize + i * EntrySize);
        return BinaryPrimitives.ReadUInt32LittleEndian(e.Slice(4)) | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(e.Slice(8)) << 32;
    }

    /// <summary>A leaf extent: length in blocks, whether it is uninitialised, first physical block.</summary>
    public void Leaf(int i, out int len, out bool uninit, out ulong start)
    {
        ReadOnlySpan<byte> e = _b.Slice(HeaderSize + i * EntrySize);
        int l = BinaryPrimitives.ReadUInt16LittleEndian(e.Slice(4));
        uninit = l > InitMaxLen;
        len = uninit ? l - InitMaxLen : l;
        start = BinaryPrimitives.ReadUInt32LittleEndian(e.Slice(8)) | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(e.Slice(6)) << 32;
    }

    /// <summary>
    /// The entry whose range may contain <paramref name="lblk"/>: the last with start ≤ lblk
    /// (binary search; starts must be increasing, checked by the caller's walk), or -1.
    /// </summary>
    public int Find(uint lblk)
    {
        int lo = 0, hi = Entries - 1, r = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (LogicalStart(mid) <= lblk) { r = mid; lo = mid + 1; } else hi = mid - 1;
        }
        return r;
    }

    /// <summary>Where a non-root node's checksum tail sits (after the max entries).</summary>
    public int TailOffset => HeaderSize + Max * EntrySize;

    /// <summary>crc32c(inode seed, node bytes before the tail) against the stored tail.</summary>
    public static bool ChecksumOk(uint inodeSeed, ReadOnlySpan<byte> block, int tailOffset)
    {
        if (tailOffset + 4 > block.Length) return false;
        uint c = Crc32c.Update(inodeSeed, block.Slice(0, tailOffset));
        return c == BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(tailOffset));
    }

    /// <summary>Fixture builder: a header.</summary>
    public static void EmitHeader(Span<byte> b, int entries, int max, int depth)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(2), (ushort)entries);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(4), (ushort)max);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(6), (ushort)depth);
        BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(8), 0);
    }

    public static void EmitLeaf(Span<byte> b, int i, uint lblk, int len, bool uninit, ulong start)
    {
        Span<byte> e = b.Slice(HeaderSize + i * EntrySize);
        BinaryPrimitives.WriteUInt32LittleEndian(e, lblk);
        BinaryPrimitives.WriteUInt16LittleEndian(e.Slice(4), (ushort)(uninit ? len + InitMaxLen : len));
        BinaryPrimitives.WriteUInt16LittleEndian(e.Slice(6), (ushort)(start >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(e.Slice(8), (uint)start);
    }

    public static void EmitIndex(Span<byte> b, int i, uint lblk, ulong child)
    {
        Span<byte> e = b.Slice(HeaderSize + i * EntrySize);
        BinaryPrimitives.WriteUInt32LittleEndian(e, lblk);
        BinaryPrimitives.WriteUInt32LittleEndian(e.Slice(4), (uint)child);
        BinaryPrimitives.WriteUInt16LittleEndian(e.Slice(8), (ushort)(child >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(e.Slice(10), 0);
    }
}
