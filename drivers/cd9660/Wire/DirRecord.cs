using System;
using Rump.Kern;

namespace Rump.Fs.Cd9660.Wire;

/// <summary>
/// A directory record (ECMA-119 9.1): a view over the record's bytes that checks the lengths once
/// in <see cref="Parse"/> and then reads fields. Layout: length, extended-attribute length, extent
/// (733), data length (733), 7-byte date, flags, file unit size, interleave gap, volume sequence
/// number (723), name length, name, a pad byte if the name length is even, then the System Use
/// area (SUSP / Rock Ridge). Records never cross a logical block; a zero length byte ends the
/// block's records.
/// </summary>
public readonly ref struct DirRecord
{
    public const int HeaderSize = 33;
    public const int MinLength = 34;
    public const byte FlagHidden = 0x01, FlagDirectory = 0x02, FlagAssociated = 0x04, FlagRecord = 0x08,
        FlagProtection = 0x10, FlagMultiExtent = 0x80;

    private readonly ReadOnlySpan<byte> _b;

    private DirRecord(ReadOnlySpan<byte> b) { _b = b; }

    /// <summary>
    /// The record at the start of <paramref name="s"/>: EIO if its length byte is below the minimum,
    /// runs past <paramref name="s"/>, or the name does not fit in it.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> s, out DirRecord r)
    {
        r = default;
        if (s.Length < MinLength) return Abi.EIO;
        int len = s[0];
        if (len < MinLength || len > s.Length) return Abi.EIO;
        int nameLen = s[32];
        if (nameLen == 0 || HeaderSize + nameLen > len) return Abi.EIO;
        r = new DirRecord(s.Slice(0, len));
        return 0;
    }

    public int Length => _b.Length;
    public byte XattrLength => _b[1];
    public uint Extent => IsoNum.Read733(_b.Slice(2));
    public uint DataLength => IsoNum.Read733(_b.Slice(10));
    public ReadOnlySpan<byte> Date => _b.Slice(18, IsoTime.ShortLength);
    public byte Flags => _b[25];
    public byte FileUnitSize => _b[26];
    public byte InterleaveGap => _b[27];
    public ReadOnlySpan<byte> Name => _b.Slice(HeaderSize, _b[32]);

    /// <summary>The System Use area: after the name and its pad byte (may be empty).</summary>
    public ReadOnlySpan<byte> SystemUse
    {
        get
        {
            int start = HeaderSize + _b[32] + ((_b[32] & 1) == 0 ? 1 : 0);
            return start >= _b.Length ? default : _b.Slice(start);
        }
    }

    public bool IsDirectory => (Flags & FlagDirectory) != 0;
    public bool IsMultiExtent => (Flags & FlagMultiExtent) != 0;
    public bool IsAssociated => (Flags & FlagAssociated) != 0;
    /// <summary>The first record of a directory: name is the single byte 0.</summary>
    public bool IsDot => _b[32] == 1 && _b[33] == 0;
    /// <summary>The second record: name is the single byte 1.</summary>
    public bool IsDotDot => _b[32] == 1 && _b[33] == 1;

    /// <summary>The record length for a name and System Use area of these sizes (padded to even).</summary>
    public static int RecordLength(int nameLen, int suaLen)
    {
        int n = HeaderSize + nameLen + ((nameLen & 1) == 0 ? 1 : 0) + suaLen;
        return n + (n & 1);
    }

    /// <summary>Writes a record (fixtures and tests); returns its length.</summary>
    public static int Emit(Span<byte> d, uint extent, uint size, ReadOnlySpan<byte> date7, byte flags,
        ReadOnlySpan<byte> name, ReadOnlySpan<byte> sua, byte xattrLen = 0)
    {
        int len = RecordLength(name.Length, sua.Length);
        if (len > 255) throw new ArgumentException("record too long");
        d.Slice(0, len).Clear();
        d[0] = (byte)len;
        d[1] = xattrLen;
        IsoNum.Write733(d.Slice(2), extent);
        IsoNum.Write733(d.Slice(10), size);
        date7.CopyTo(d.Slice(18));
        d[25] = flags;
        IsoNum.Write723(d.Slice(28), 1);
        d[32] = (byte)name.Length;
        name.CopyTo(d.Slice(33));
        sua.CopyTo(d.Slice(HeaderSize + name.Length + ((name.Length & 1) == 0 ? 1 : 0)));
        return len;
    }
}
