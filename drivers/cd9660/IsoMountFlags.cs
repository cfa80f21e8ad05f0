namespace Rump.Fs.Cd9660;

/// <summary>
/// <c>struct iso_args</c> flags, NetBSD sys/fs/cd9660/cd9660_mount.h (same values on every BSD for
/// the first four).
/// </summary>
public static class IsoMountFlags
{
    /// <summary>Ignore Rock Ridge.</summary>
    public const int NoRrip = 0x00000001;
    /// <summary>Generation numbers (accepted; the driver's are constant, as files never change).</summary>
    public const int Gens = 0x00000002;
    /// <summary>Extended attribute records (accepted; their owner/permission fields are not used).</summary>
    public const int ExtAtt = 0x00000004;
    /// <summary>Ignore Joliet.</summary>
    public const int NoJoliet = 0x00000008;
    /// <summary>Keep plain ISO 9660 names upper case.</summary>
    public const int NoCaseTrans = 0x00000010;
    /// <summary>Case-insensitive Rock Ridge lookups.</summary>
    public const int RrCaseIns = 0x00000020;

    /// <summary>Offset of <c>flags</c> in <c>struct rump_iso_args</c>: after fspec and the 128-byte export_args30.</summary>
    public const int ArgsFlagsOffset = 8 + 16 * 8;
}
