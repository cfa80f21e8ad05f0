using System;
using System.Buffers.Binary;

namespace Rump.Fs.Cd9660.Wire;

/// <summary>
/// ECMA-119 §7 numeric fields. "Both-byte order" fields (7.2.3, 7.3.3) store the value twice;
/// only the little-endian half is read, as NetBSD's isonum_723/733 do, so a hostile image whose
/// halves disagree is read consistently rather than rejected.
/// </summary>
public static class IsoNum
{
    /// <summary>7.2.3: 16-bit both-byte order (4 bytes).</summary>
    public static ushort Read723(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt16LittleEndian(s);

    /// <summary>7.3.3: 32-bit both-byte order (8 bytes).</summary>
    public static uint Read733(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt32LittleEndian(s);

    public static void Write723(Span<byte> s, ushort v)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(s, v);
        BinaryPrimitives.WriteUInt16BigEndian(s.Slice(2), v);
    }

    public static void Write733(Span<byte> s, uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(s, v);
        BinaryPrimitives.WriteUInt32BigEndian(s.Slice(4), v);
    }
}
