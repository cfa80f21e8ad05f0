using Rump.Kern;

namespace Rump.Fs.Msdosfs.Wire;

/// <summary>
/// DOS dates and times (FAT specification section 6.3): local time, 2-second resolution, years
/// 1980–2107. The mount's offset from UTC (NetBSD's gmtoff, seconds east) converts to and from
/// Unix time. Out-of-range stored fields are clamped rather than rejected: a bad date is not a
/// reason to refuse a file.
/// </summary>
public static class DosTime
{
    /// <summary>1980-01-01T00:00:00Z, the earliest DOS time.</summary>
    public const long DosEpoch = 315532800;
    /// <summary>2107-12-31T23:59:58Z, the latest.</summary>
    public const long DosMax = 4354819198;

    public static long ToUnix(ushort date, ushort time, int gmtoff)
    {
        int year = 1980 + (date >> 9);
        int month = (date >> 5) & 0xf;
        int day = date & 0x1f;
        if (month < 1) month = 1; else if (month > 12) month = 12;
        if (day < 1) day = 1;
        int hour = time >> 11, min = (time >> 5) & 0x3f, sec = (time & 0x1f) * 2;
        if (hour > 23) hour = 23;
        if (min > 59) min = 59;
        if (sec > 59) sec = 59;
        // A day past the month's end rolls into the next month, as mktime does.
        long days = CivilDate.DaysFromCivil(year, month, 1) + day - 1;
        return days * 86400 + hour * 3600 + min * 60 + sec - gmtoff;
    }

    public static RumpTimespec ToTimespec(ushort date, ushort time, int gmtoff, int tenths = 0)
    {
        if (tenths > 199) tenths = 199;
        long t = ToUnix(date, time, gmtoff) + tenths / 100;
        return new RumpTimespec { tv_sec = t, tv_nsec = (nint)(tenths % 100 * 10_000_000L) };
    }

    /// <summary>Unix time to DOS date, time and the 10 ms remainder (0–199), clamped to the DOS range.</summary>
    public static void FromUnix(long unixSec, long nsec, int gmtoff, out ushort date, out ushort time, out byte tenths)
    {
        long t = unixSec + gmtoff;
        if (t < DosEpoch) { t = DosEpoch; nsec = 0; }
        if (t > DosMax + 1) { t = DosMax + 1; nsec = 0; }
        long days = t / 86400;
        long secs = t % 86400;
        CivilDate.CivilFromDays(days, out int y, out int m, out int d);
        date = (ushort)(((y - 1980) << 9) | (m << 5) | d);
        time = (ushort)(((int)(secs / 3600) << 11) | ((int)(secs / 60 % 60) << 5) | (int)(secs % 60 / 2));
        tenths = (byte)(secs % 2 * 100 + (nsec >= 0 && nsec < 1_000_000_000 ? nsec / 10_000_000 : 0));
    }
}
