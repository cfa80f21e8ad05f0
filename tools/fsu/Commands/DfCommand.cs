using System.Globalization;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>fsu df: statvfs of the mounted image, in 1024-byte blocks.</summary>
internal static class DfCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(false, s =>
    {
        int e = s.K.Statvfs(ImageSession.MountPoint, out RumpStatvfs v);
        if (e < 0) return ctx.Fail("/", -e);
        ulong unit = v.f_frsize != 0 ? v.f_frsize : v.f_bsize;
        ulong total = v.f_blocks * unit / 1024, free = v.f_bfree * unit / 1024, avail = v.f_bavail * unit / 1024;
        ulong used = total - free;
        ulong pct = used + avail == 0 ? 0 : (used * 100 + used + avail - 1) / (used + avail);
        var c = CultureInfo.InvariantCulture;
        ctx.Out.WriteLine(string.Format(c, "{0,-20} {1,-8} {2,12} {3,12} {4,12} {5,5} {6,10} {7,10}", "Filesystem", "Type", "1K-blocks", "Used", "Available", "Use%", "Inodes", "IFree"));
        ctx.Out.WriteLine(string.Format(c, "{0,-20} {1,-8} {2,12} {3,12} {4,12} {5,4}% {6,10} {7,10}", ctx.ImageSpec, s.FsType, total, used, avail, pct, v.f_files, v.f_ffree));
        return Fsu.Ok;
    });
}
