using System;
using Rump.Kern;

namespace Rump.Fs.Cd9660.Wire;

/// <summary>
/// ECMA-119 dates: the 7-byte "recording date and time" of directory records (9.1.5, also Rock
/// Ridge TF's short form) and the 17-byte ASCII form of volume descriptors (8.4.26.1, TF's long
/// form). Both carry a signed offset from GMT in 15-minute units. Impossible fields (month 13,
/// a non-digit) decode as the epoch: hostile dates must not fail a stat.
/// </summary>
public static class IsoTime
{
    public const int ShortLength = 7;
    public const int LongLength = 17;

    /// <summary>Decodes the 7-byte form: years since 1900, month, day, hour, minute, second, GMT offset.</summary>
    public static RumpTimespec DecodeShort(ReadOnlySpan<byte> s)
    {
        if (s.Length < ShortLength) return default;
        int year = 1900 + s[0], month = s[1], day = s[2], hour = s[3], min = s[4], sec = s[5];
        int off = (sbyte)s[6];
        if (!Valid(month, day, hour, min, sec, off)) return default;
        return new RumpTimespec { tv_sec = ToUnix(year, month, day, hour, min, sec, off), tv_nsec = 0 };
    }

    /// <summary>Decodes the 17-byte form "YYYYMMDDHHMMSScc" plus the GMT offset byte; all zeros (unset) is the epoch.</summary>
    public static RumpTimespec DecodeLong(ReadOnlySpan<byte> s)
    {
        if (s.Length < LongLength) return default;
        int year = Digits(s.Slice(0, 4)), month = Digits(s.Slice(4, 2)), day = Digits(s.Slice(6, 2));
        int hour = Digits(s.Slice(8, 2)), min = Digits(s.Slice(10, 2)), sec = Digits(s.Slice(12, 2));
        int centi = Digits(s.Slice(14, 2));
        int off = (sbyte)s[16];
        if (year < 0 || centi < 0 || year == 0 || !Valid(month, day, hour, min, sec, off)) return default;
        return new RumpTimespec { tv_sec = ToUnix(year, month, day, hour, min, sec, off), tv_nsec = centi * 10_000_000 };
    }

    /// <summary>Encodes the 7-byte form at GMT offset <paramref name="gmtoff15"/> (for fixtures and tests).</summary>
    public static void EncodeShort(Span<byte> d, long unixSec, int gmtoff15 = 0)
    {
        FromUnix(unixSec + gmtoff15 * 900L, out int y, out int mo, out int da, out int h, out int mi, out int se);
        d[0] = (byte)(y - 1900); d[1] = (byte)mo; d[2] = (byte)da;
        d[3] = (byte)h; d[4] = (byte)mi; d[5] = (byte)se; d[6] = (byte)(sbyte)gmtoff15;
    }

    /// <summary>Encodes the 17-byte form (for fixtures and tests).</summary>
    public static void EncodeLong(Span<byte> d, long unixSec, int centi = 0, int gmtoff15 = 0)
    {
        FromUnix(unixSec + gmtoff15 * 900L, out int y, out int mo, out int da, out int h, out int mi, out int se);
        Put(d.Slice(0, 4), y); Put(d.Slice(4, 2), mo); Put(d.Slice(6, 2), da);
        Put(d.Slice(8, 2), h); Put(d.Slice(10, 2), mi); Put(d.Slice(12, 2), se); Put(d.Slice(14, 2), centi);
        d[16] = (byte)(sbyte)gmtoff15;
    }

    private static bool Valid(int month, int day, int hour, int min, int sec, int off)
        => month is >= 1 and <= 12 && day is >= 1 and <= 31 && hour is >= 0 and < 24 && min is >= 0 and < 60
           && sec is >= 0 and <= 60 && off is >= -48 and <= 52;

    private static int Digits(ReadOnlySpan<byte> s)
    {
        int v = 0;
        foreach (byte b in s)
        {
            if (b < (byte)'0' || b > (byte)'9') return -1;
            v = v * 10 + (b - '0');
        }
        return v;
    }

    private static void Put(Span<byte> d, int v)
    {
        for (int i = d.Length - 1; i >= 0; i--) { d[i] = (byte)('0' + v % 10); v /= 10; }
    }

    /// <summary>Seconds since the epoch of a local time at <paramref name="off15"/> quarter hours east of GMT.</summary>
    private static long ToUnix(int y, int m, int d, int hh, int mm, int ss, int off15)
        => CivilDate.DaysFromCivil(y, m, d) * 86400L + hh * 3600L + mm * 60L + ss - off15 * 900L;


    private static void FromUnix(long t, out int y, out int mo, out int d, out int h, out int mi, out int s)
    {
        long days = Math.DivRem(t, 86400L, out long rem);
        if (rem < 0) { rem += 86400; days--; }
        h = (int)(rem / 3600); mi = (int)(rem / 60 % 60); s = (int)(rem % 60);
        long z = days + 719468;
        long era = (z >= 0 ? z : z - 146096) / 146097;
        long doe = z - era * 146097;
        long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        long mp = (5 * doy + 2) / 153;
        d = (int)(doy - (153 * mp + 2) / 5 + 1);
        mo = (int)(mp < 10 ? mp + 3 : mp - 9);
        y = (int)(yoe + era * 400 + (mo <= 2 ? 1 : 0));
    }
}
