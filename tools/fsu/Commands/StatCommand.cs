using System;
using System.Globalization;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>fsu stat: the attributes of each path (lstat: a link's own), laid out as GNU stat.</summary>
internal static class StatCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(false, s =>
    {
        int rc = Fsu.Ok;
        foreach (string p in a.Operands)
            if (ctx.Guard(p, () => One(ctx, s, p)) != 0) rc = Fsu.Failed;
        return rc;
    });

    private static int One(Context ctx, ImageSession s, string p)
    {
        string kp = ImageSession.KPath(p);
        int e = s.Lstat(kp, out RumpStat st);
        if (e < 0) return ctx.Fail(p, -e);
        string name = ImageSession.Printable(p);
        if (ImageSession.IsLink(st)) name += " -> " + ImageSession.Printable(s.K.Readlink(kp, out _) ?? "?");
        string type = (int)(st.st_mode & Abi.S_IFMT) switch
        {
            Abi.S_IFDIR => "directory", Abi.S_IFLNK => "symbolic link",
            Abi.S_IFREG => st.st_size == 0 ? "regular empty file" : "regular file",
            Abi.S_IFCHR => "character special file", Abi.S_IFBLK => "block special file",
            Abi.S_IFIFO => "fifo", Abi.S_IFSOCK => "socket", _ => "unknown",
        };
        var c = CultureInfo.InvariantCulture;
        ctx.Out.WriteLine("  File: " + name);
        ctx.Out.WriteLine(string.Format(c, "  Size: {0,-15} Blocks: {1,-10} IO Block: {2,-6} {3}", st.st_size, st.st_blocks, st.st_blksize, type));
        ctx.Out.WriteLine(string.Format(c, "Inode: {0,-15} Links: {1}", st.st_ino, st.st_nlink));
        ctx.Out.WriteLine(string.Format(c, "Access: ({0}/{1})  Uid: {2,5}   Gid: {3,5}", System.Convert.ToString(st.st_mode & 0xfff, 8).PadLeft(4, '0'), ListCommand.ModeString(st.st_mode), st.st_uid, st.st_gid));
        ctx.Out.WriteLine("Access: " + Time(st.st_atim));
        ctx.Out.WriteLine("Modify: " + Time(st.st_mtim));
        ctx.Out.WriteLine("Change: " + Time(st.st_ctim));
        ctx.Out.WriteLine(" Birth: " + (st.st_birthtim.tv_sec == 0 && st.st_birthtim.tv_nsec == 0 ? "-" : Time(st.st_birthtim)));
        return 0;
    }

    /// <summary>The time as GNU stat shows it; one no calendar here can hold as its raw numbers.</summary>
    private static string Time(RumpTimespec t) => ImageSession.ToDateTime(t) is DateTime d
        ? d.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "." + t.tv_nsec.ToString("D9", CultureInfo.InvariantCulture) + " UTC"
        : t.tv_sec.ToString(CultureInfo.InvariantCulture) + " s, " + t.tv_nsec.ToString(CultureInfo.InvariantCulture) + " ns since the epoch (out of range)";
}
