using System;
using Rump.Kern;

namespace Rump.Fs.Cd9660.Wire;

/// <summary>ECMA-119 8.1.1 volume descriptor types.</summary>
public enum VdType : byte { BootRecord = 0, Primary = 1, Supplementary = 2, Partition = 3, Terminator = 255 }

/// <summary>
/// One 2048-byte volume descriptor (ECMA-119 §8): the primary (PVD), a supplementary one (SVD; Joliet
/// when its escape sequences say UCS-2 level 1–3), or the set terminator. The volume descriptor set
/// starts at sector 16 and is always in 2048-byte sectors, whatever the logical block size.
/// Parse checks the standard identifier and, for PVD/SVD, the fields the driver relies on.
/// </summary>
public struct VolumeDescriptor
{
    public const int Size = 2048;
    public const int FirstSector = 16;
    public const int RootRecordOffset = 156;
    public static ReadOnlySpan<byte> StandardId => "CD001"u8;

    public VdType Type;
    public byte Version;
    /// <summary>SVD volume flags (8.5.3); bit 0: escape sequences not all registered.</summary>
    public byte Flags;
    public uint VolumeSpaceSize;
    public ushort LogicalBlockSize;
    /// <summary>Joliet level 1–3 from the SVD escape sequences "%/@", "%/C", "%/E"; 0 if not Joliet.</summary>
    public int JolietLevel;
    /// <summary>The root directory record (PVD/SVD).</summary>
    public uint RootExtent;
    public uint RootSize;
    public byte RootXattrLength;
    public byte RootFlags;

    /// <summary>
    /// Parses a descriptor: EINVAL if it is not ISO 9660 at all ("CD001" missing), EFTYPE for a
    /// PVD/SVD with impossible fields (block size, root record).
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> s, out VolumeDescriptor vd)
    {
        vd = default;
        if (s.Length < Size) return Abi.EINVAL;
        if (!s.Slice(1, 5).SequenceEqual(StandardId)) return Abi.EINVAL;
        vd.Type = (VdType)s[0];
        vd.Version = s[6];
        if (vd.Type != VdType.Primary && vd.Type != VdType.Supplementary) return 0;
        vd.Flags = s[7];
        vd.VolumeSpaceSize = IsoNum.Read733(s.Slice(80));
        vd.LogicalBlockSize = IsoNum.Read723(s.Slice(128));
        // 6.1.2: 2^(n+9) and no larger than the 2048-byte sector.
        if (vd.LogicalBlockSize is not (512 or 1024 or 2048)) return Abi.EFTYPE;
        if (vd.Type == VdType.Supplementary)
        {
            ReadOnlySpan<byte> esc = s.Slice(88, 32);
            if (esc.StartsWith("%/@"u8)) vd.JolietLevel = 1;
            else if (esc.StartsWith("%/C"u8)) vd.JolietLevel = 2;
            else if (esc.StartsWith("%/E"u8)) vd.JolietLevel = 3;
        }
        ReadOnlySpan<byte> root = s.Slice(RootRecordOffset, 34);
        if (DirRecord.Parse(root, out DirRecord r) != 0) return Abi.EFTYPE;
        if (!r.IsDirectory || r.Length != 34) return Abi.EFTYPE;
        vd.RootExtent = r.Extent;
        vd.RootSize = r.DataLength;
        vd.RootXattrLength = r.XattrLength;
        vd.RootFlags = r.Flags;
        return 0;
    }

    /// <summary>Writes a descriptor (fixtures and tests): PVD/SVD with a root record, or any other type bare.</summary>
    public static void Emit(Span<byte> d, in VolumeDescriptor vd, long createdUnix = 0)
    {
        d.Slice(0, Size).Clear();
        d[0] = (byte)vd.Type;
        StandardId.CopyTo(d.Slice(1));
        d[6] = 1;
        if (vd.Type != VdType.Primary && vd.Type != VdType.Supplementary) return;
        d[7] = vd.Flags;
        d.Slice(8, 64).Fill((byte)' ');
        IsoNum.Write733(d.Slice(80), vd.VolumeSpaceSize);
        if (vd.JolietLevel != 0)
        {
            d[88] = (byte)'%'; d[89] = (byte)'/';
            d[90] = vd.JolietLevel switch { 1 => (byte)'@', 2 => (byte)'C', _ => (byte)'E' };
        }
        IsoNum.Write723(d.Slice(120), 1);
        IsoNum.Write723(d.Slice(124), 1);
        IsoNum.Write723(d.Slice(128), vd.LogicalBlockSize);
        Span<byte> date = stackalloc byte[IsoTime.ShortLength];
        IsoTime.EncodeShort(date, createdUnix);
        DirRecord.Emit(d.Slice(RootRecordOffset, 34), vd.RootExtent, vd.RootSize, date, (byte)(vd.RootFlags | DirRecord.FlagDirectory), [0], default);
        IsoTime.EncodeLong(d.Slice(813), createdUnix);
        IsoTime.EncodeLong(d.Slice(830), createdUnix);
        d[881] = 1;
    }
}
