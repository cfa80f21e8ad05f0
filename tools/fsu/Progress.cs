using System;
using System.Diagnostics;
using System.IO;

namespace Rump.Fsu;

/// <summary>
/// "copied / total, percent, rate" on one line of stderr, redrawn at most 5 times a second and only
/// once the copy has taken a second (short copies print nothing). Off when stderr is not a terminal.
/// </summary>
internal sealed class Progress
{
    private readonly TextWriter? _w;
    private readonly long _total;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _done, _lastDraw = -1;
    private bool _drawn;

    public Progress(TextWriter? w, long total) { _w = w; _total = total; }

    public void Add(long n)
    {
        _done += n;
        if (_w == null) return;
        long ms = _clock.ElapsedMilliseconds;
        if (ms < 1000 || (_lastDraw >= 0 && ms - _lastDraw < 200)) return;
        _lastDraw = ms;
        double rate = _done / Math.Max(ms / 1000.0, 0.001);
        int pct = _total > 0 ? (int)Math.Min(100, _done * 100 / _total) : 100;
        const int width = 30;
        int fill = pct * width / 100;
        _w.Write("\r[" + new string('#', fill) + new string(' ', width - fill) + "] " + Size(_done) + " / " + Size(_total) + " " + pct + "% " + Size((long)rate) + "/s   ");
        _drawn = true;
    }

    public void Finish()
    {
        if (_drawn) _w!.Write("\r" + new string(' ', 78) + "\r");
    }

    public static string Size(long n)
    {
        if (n < 1024) return n + " B";
        string[] units = { "KiB", "MiB", "GiB", "TiB" };
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return v.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " " + units[u];
    }
}
