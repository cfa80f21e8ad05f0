using System;

namespace Rump.Fs.Ext2fs.Wire;

/// <summary>
/// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), table-driven, slicing by 4.
/// ext4 uses the raw register form: <see cref="Update"/> neither inverts on entry nor on exit, so a
/// checksum is Update(seed, bytes) with the seed ext4 names (~0 for the superblock, the
/// file-system seed for the rest). The standard CRC-32C of a message is ~Update(~0, message).
/// </summary>
internal static class Crc32c
{
    private const uint Poly = 0x82F63B78;
    // Four 256-entry tables, built once; never written after construction.
    private static readonly uint[] T = Build();

    private static uint[] Build()
    {
        var t = new uint[4 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Poly : c >> 1;
            t[i] = c;
        }
        for (int i = 0; i < 256; i++)
            for (int s = 1; s < 4; s++)
                t[s * 256 + i] = (t[(s - 1) * 256 + i] >> 8) ^ t[t[(s - 1) * 256 + i] & 0xff];
        return t;
    }

    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] t = T;
        int i = 0;
        for (; i + 4 <= data.Length; i += 4)
        {
            crc ^= (uint)(data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24);
            crc = t[768 + (crc & 0xff)] ^ t[512 + ((crc >> 8) & 0xff)] ^ t[256 + ((crc >> 16) & 0xff)] ^ t[crc >> 24];
        }
        for (; i < data.Length; i++) crc = t[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
        return crc;
    }

    public static uint UpdateU32(uint crc, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return Update(crc, b);
    }

    /// <summary>The standard CRC-32C of a message (for tests against published check values).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);
}
