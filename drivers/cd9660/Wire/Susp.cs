using System;

namespace Rump.Fs.Cd9660.Wire;

/// <summary>
/// One System Use Sharing Protocol entry (IEEE P1281 §4): a two-letter signature, a length that
/// includes the 4-byte header, a version, then the entry's data.
/// </summary>
public readonly ref struct SuspEntry
{
    public const int HeaderSize = 4;
    public readonly ushort Signature;
    public readonly byte Version;
    /// <summary>The bytes after the header.</summary>
    public readonly ReadOnlySpan<byte> Data;

    public SuspEntry(ushort sig, byte version, ReadOnlySpan<byte> data) { Signature = sig; Version = version; Data = data; }

    public static ushort Sig(char a, char b) => (ushort)(a << 8 | b);

    /// <summary>Writes an entry (fixtures and tests); returns its length.</summary>
    public static int Emit(Span<byte> d, ushort sig, ReadOnlySpan<byte> data, byte version = 1)
    {
        int len = HeaderSize + data.Length;
        if (len > 255) throw new ArgumentException("SUSP entry too long");
        d[0] = (byte)(sig >> 8); d[1] = (byte)sig; d[2] = (byte)len; d[3] = version;
        data.CopyTo(d.Slice(HeaderSize));
        return len;
    }
}

/// <summary>
/// Walks the entries of one System Use area or Continuation Area. Ends at the area's end, at a
/// padding byte or a truncated header, at an entry whose length is below 4 or runs past the area
/// (a corrupt area is read up to the damage, not trusted further), and at ST.
/// </summary>
public ref struct SuspReader
{
    private ReadOnlySpan<byte> _rest;

    public SuspReader(ReadOnlySpan<byte> area) { _rest = area; }

    public bool Next(out SuspEntry e)
    {
        e = default;
        if (_rest.Length < SuspEntry.HeaderSize) return false;
        int len = _rest[2];
        if (len < SuspEntry.HeaderSize || len > _rest.Length) return false;
        ushort sig = (ushort)(_rest[0] << 8 | _rest[1]);
        if (sig == Susp.ST) return false;
        e = new SuspEntry(sig, _rest[3], _rest.Slice(SuspEntry.HeaderSize, len - SuspEntry.HeaderSize));
        _rest = _rest.Slice(len);
        return true;
    }
}

/// <summary>SUSP and Rock Ridge signatures, and the SUSP entries themselves (SP, CE).</summary>
public static class Susp
{
    public const ushort SP = 'S' << 8 | 'P', CE = 'C' << 8 | 'E', ST = 'S' << 8 | 'T', ER = 'E' << 8 | 'R',
        PD = 'P' << 8 | 'D', ES = 'E' << 8 | 'S';

    /// <summary>
    /// SP (§5.3), the first entry of the root directory's "." record: check bytes BE EF and
    /// LEN_SKP, the bytes to skip at the start of every other System Use area. False if absent or malformed.
    /// </summary>
    public static bool ParseSp(ReadOnlySpan<byte> rootDotSua, out int skip)
    {
        skip = 0;
        var r = new SuspReader(rootDotSua);
        if (!r.Next(out SuspEntry e) || e.Signature != SP || e.Data.Length < 3) return false;
        if (e.Data[0] != 0xBE || e.Data[1] != 0xEF) return false;
        skip = e.Data[2];
        return true;
    }

    /// <summary>CE (§5.1): where the area continues — block, byte offset in it, length.</summary>
    public static bool ParseCe(ReadOnlySpan<byte> data, out uint block, out uint offset, out uint length)
    {
        block = offset = length = 0;
        if (data.Length < 24) return false;
        block = IsoNum.Read733(data);
        offset = IsoNum.Read733(data.Slice(8));
        length = IsoNum.Read733(data.Slice(16));
        return true;
    }

    public static int EmitSp(Span<byte> d, byte skip = 0) => SuspEntry.Emit(d, SP, [0xBE, 0xEF, skip]);

    public static int EmitCe(Span<byte> d, uint block, uint offset, uint length)
    {
        Span<byte> data = stackalloc byte[24];
        IsoNum.Write733(data, block);
        IsoNum.Write733(data.Slice(8), offset);
        IsoNum.Write733(data.Slice(16), length);
        return SuspEntry.Emit(d, CE, data);
    }

    /// <summary>ER (§5.5) naming an extension, e.g. Rock Ridge's "RRIP_1991A" or "IEEE_P1282".</summary>
    public static bool ParseErId(ReadOnlySpan<byte> data, out ReadOnlySpan<byte> id)
    {
        id = default;
        if (data.Length < 4) return false;
        int idLen = data[0];
        if (4 + idLen > data.Length) return false;
        id = data.Slice(4, idLen);
        return true;
    }

    public static int EmitEr(Span<byte> d, ReadOnlySpan<byte> id)
    {
        Span<byte> data = stackalloc byte[4 + id.Length];
        data.Clear();
        data[0] = (byte)id.Length;
        data[3] = 1;
        id.CopyTo(data.Slice(4));
        return SuspEntry.Emit(d, ER, data);
    }
}
