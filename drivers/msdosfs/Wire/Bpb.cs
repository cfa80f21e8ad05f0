using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Fs.Msdosfs.Wire;

/// <summary>FAT variant, decided by the cluster count alone (Microsoft FAT specification, section 3.5).</summary>
public enum FatType : byte { Fat12 = 12, Fat16 = 16, Fat32 = 32 }

/// <summary>
/// The BIOS parameter block of a FAT boot sector (Microsoft "FAT: General Overview of On-Disk
/// Format" 1.03, sections 3.1–3.5), validated, with the layout it implies. Offsets are from the
/// start of sector 0; sector numbers below are in the file system's own sectors (BytesPerSector).
/// </summary>
public struct Bpb
{
    public const int MinSize = 512;
    /// <summary>Largest cluster accepted: the specification allows 32 KiB, real tools write up to 64 KiB; more is hostile.</summary>
    public const int MaxClusterBytes = 256 * 1024;
    public const uint Fat12MaxClusters = 4084;
    public const uint Fat16MaxClusters = 65524;
    /// <summary>FAT32 uses 28 bits; the last values are reserved (bad, end of chain).</summary>
    public const uint Fat32MaxClusters = 0x0FFFFFF5 - 2;

    public ushort BytesPerSector;
    public byte SectorsPerCluster;
    public ushort ReservedSectors;
    public byte NumFats;
    public ushort RootEntries;
    public uint TotalSectors;
    public byte Media;
    public uint FatSectors;
    public ushort SectorsPerTrack, Heads;
    public uint HiddenSectors;
    // FAT32 only.
    public ushort ExtFlags;
    public ushort FsVersion;
    public uint RootCluster;
    public ushort FsInfoSector;
    public ushort BackupBootSector;
    // Extended boot record (both layouts).
    public byte DriveNumber;
    public byte BootSignature;
    public uint VolumeId;

    // Derived by Parse.
    public FatType Type;
    public uint RootDirSectors;
    public uint FirstFatSector => ReservedSectors;
    public uint FirstRootDirSector;
    public uint FirstDataSector;
    public uint ClusterCount;

    public readonly int ClusterBytes => BytesPerSector * SectorsPerCluster;

    /// <summary>FAT32: only the FAT named in ExtFlags bits 0–3 is live (bit 7: mirroring disabled).</summary>
    public readonly bool MirroringDisabled => Type == FatType.Fat32 && (ExtFlags & 0x80) != 0;
    public readonly int ActiveFat => ExtFlags & 0xf;

    /// <summary>
    /// Parses and checks sector 0. EFTYPE: not a FAT file system at all (no signature, impossible
    /// sector size); EINVAL: a FAT boot sector with inconsistent geometry.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> s, out Bpb b)
    {
        b = default;
        if (s.Length < MinSize) return Abi.EINVAL;
        if (s[510] != 0x55 || s[511] != 0xAA) return Abi.EFTYPE;
        b.BytesPerSector = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(11));
        b.SectorsPerCluster = s[13];
        b.ReservedSectors = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(14));
        b.NumFats = s[16];
        b.RootEntries = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(17));
        uint tot16 = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(19));
        b.Media = s[21];
        uint fat16 = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(22));
        b.SectorsPerTrack = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(24));
        b.Heads = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(26));
        b.HiddenSectors = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(28));
        uint tot32 = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(32));

        if (b.BytesPerSector is not (512 or 1024 or 2048 or 4096)) return Abi.EFTYPE;
        if (b.SectorsPerCluster == 0 || (b.SectorsPerCluster & (b.SectorsPerCluster - 1)) != 0) return Abi.EINVAL;
        if (b.ClusterBytes > MaxClusterBytes) return Abi.EINVAL;
        if (b.ReservedSectors == 0) return Abi.EINVAL;
        if (b.NumFats == 0 || b.NumFats > 16) return Abi.EINVAL;
        b.TotalSectors = tot16 != 0 ? tot16 : tot32;
        if (b.TotalSectors == 0) return Abi.EINVAL;

        bool fat32Layout = fat16 == 0;
        if (fat32Layout)
        {
            b.FatSectors = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(36));
            b.ExtFlags = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(40));
            b.FsVersion = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(42));
            b.RootCluster = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(44));
            b.FsInfoSector = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(48));
            b.BackupBootSector = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(50));
            b.DriveNumber = s[64];
            b.BootSignature = s[66];
            b.VolumeId = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(67));
        }
        else
        {
            b.FatSectors = fat16;
            b.DriveNumber = s[36];
            b.BootSignature = s[38];
            b.VolumeId = BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(39));
        }
        if (b.FatSectors == 0) return Abi.EINVAL;

        // Layout (spec 3.5), in 64 bits so hostile values cannot wrap.
        b.RootDirSectors = (uint)(((ulong)b.RootEntries * 32 + b.BytesPerSector - 1) / b.BytesPerSector);
        ulong firstRoot = b.ReservedSectors + (ulong)b.NumFats * b.FatSectors;
        ulong firstData = firstRoot + b.RootDirSectors;
        if (firstData >= b.TotalSectors) return Abi.EINVAL;
        b.FirstRootDirSector = (uint)firstRoot;
        b.FirstDataSector = (uint)firstData;
        b.ClusterCount = (uint)((b.TotalSectors - firstData) / b.SectorsPerCluster);
        if (b.ClusterCount == 0) return Abi.EINVAL;
        b.Type = b.ClusterCount <= Fat12MaxClusters ? FatType.Fat12 : b.ClusterCount <= Fat16MaxClusters ? FatType.Fat16 : FatType.Fat32;

        if (b.Type == FatType.Fat32)
        {
            // The count says FAT32: the BPB must have the FAT32 layout, with no fixed root directory.
            if (!fat32Layout || b.RootEntries != 0) return Abi.EINVAL;
            if (b.FsVersion != 0) return Abi.EINVAL;
            if (b.ClusterCount > Fat32MaxClusters) return Abi.EINVAL;
            if (b.RootCluster < 2 || b.RootCluster > b.ClusterCount + 1) return Abi.EINVAL;
            if (b.ActiveFat >= b.NumFats) return Abi.EINVAL;
        }
        else
        {
            if (fat32Layout || b.RootEntries == 0) return Abi.EINVAL;
            b.ExtFlags = 0;
            b.RootCluster = 0;
            b.FsInfoSector = 0;
        }

        // The FAT must hold an entry for every cluster; a short one makes the tail unusable, so
        // the count is clamped to it (as Linux does) rather than trusting it.
        ulong fatBits = (ulong)b.FatSectors * b.BytesPerSector * 8;
        ulong entries = fatBits / (ulong)EntryBits(b.Type);
        if (entries < 3) return Abi.EINVAL;
        if (b.ClusterCount > entries - 2) b.ClusterCount = (uint)(entries - 2);
        if (b.Type == FatType.Fat32 && b.RootCluster > b.ClusterCount + 1) return Abi.EINVAL;
        return 0;
    }

    public static int EntryBits(FatType t) => t == FatType.Fat12 ? 12 : t == FatType.Fat16 ? 16 : 32;

    /// <summary>Writes the BPB fields (not the boot code or label) into a sector image.</summary>
    public readonly void Emit(Span<byte> s)
    {
        s[0] = 0xEB; s[1] = 0x3C; s[2] = 0x90;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(11), BytesPerSector);
        s[13] = SectorsPerCluster;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(14), ReservedSectors);
        s[16] = NumFats;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(17), RootEntries);
        bool small = TotalSectors <= 0xFFFF && Type != FatType.Fat32;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(19), small ? (ushort)TotalSectors : (ushort)0);
        s[21] = Media;
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(22), Type == FatType.Fat32 ? (ushort)0 : (ushort)FatSectors);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(24), SectorsPerTrack);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(26), Heads);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(28), HiddenSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(32), small ? 0u : TotalSectors);
        if (Type == FatType.Fat32)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(36), FatSectors);
            BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(40), ExtFlags);
            BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(42), FsVersion);
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(44), RootCluster);
            BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(48), FsInfoSector);
            BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(50), BackupBootSector);
            s[64] = DriveNumber;
            s[66] = BootSignature;
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(67), VolumeId);
        }
        else
        {
            s[36] = DriveNumber;
            s[38] = BootSignature;
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(39), VolumeId);
        }
        s[510] = 0x55; s[511] = 0xAA;
    }
}
