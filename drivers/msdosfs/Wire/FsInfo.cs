using System;
using System.Buffers.Binary;

namespace Rump.Fs.Msdosfs.Wire;

/// <summary>
/// The FAT32 FSInfo sector (FAT specification section 5): hints only — the free-cluster count and
/// where to start looking for a free cluster. 0xFFFFFFFF means unknown.
/// </summary>
public struct FsInfo
{
    public const uint LeadSig = 0x41615252;
    public const uint StrucSig = 0x61417272;
    public const uint TrailSig = 0xAA550000;
    public const uint Unknown = 0xFFFFFFFF;

    public uint FreeCount;
    public uint NextFree;

    /// <summary>False when the signatures are wrong (the sector is then left alone).</summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out FsInfo fi)
    {
        fi = default;
        if (s.Length < 512) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(s) != LeadSig) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(484)) != StrucSig) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(508)) != TrailSig) return false;
        fi.FreeCount = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(488));
        fi.NextFree = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(492));
        return true;
    }

    /// <summary>Writes the signatures and both hints, keeping the reserved bytes as they are.</summary>
    public readonly void Emit(Span<byte> s)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(s, LeadSig);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(484), StrucSig);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(488), FreeCount);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(492), NextFree);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(508), TrailSig);
    }
}
