using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>
/// fsu ls: names sorted by byte order; -l as ls -l (times in local time), -R with "dir:" headers
/// (a directory that is its own ancestor is reported and not listed again).
/// </summary>
internal static class ListCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(false, s =>
    {
        var paths = a.Operands.Count > 0 ? a.Operands : new List<string> { "/" };
        int rc = Fsu.Ok;
        var files = new List<string>();
        var dirs = new List<(string path, RumpStat st)>();
        foreach (string p in paths)
        {
            int e = s.Lstat(ImageSession.KPath(p), out RumpStat st);
            if (e < 0) { rc = ctx.Fail(p, -e); continue; }
            if (ImageSession.IsDir(st) && !a.Has('d')) dirs.Add((p, st)); else files.Add(p);
        }
        foreach (string f in files)
            if (ctx.Guard(f, () => Entry(ctx, s, a, f, f, out _)) != 0) rc = Fsu.Failed;
        bool headers = paths.Count > 1 || a.Has('r');
        bool first = files.Count == 0;
        var ancestors = new Ancestors();
        foreach (var (d, st) in dirs)
        {
            if (ListDir(ctx, s, a, d, st, headers, ref first, ancestors) != 0) rc = Fsu.Failed;
        }
        return rc;
    });

    /// <summary>Fills <paramref name="st"/> and returns Entry's result, inside a guard.</summary>
    private static int GuardedEntry(Context ctx, ImageSession s, Args a, string path, string shown, out RumpStat st)
    {
        RumpStat got = default;
        int r = ctx.Guard(path, () => Entry(ctx, s, a, path, shown, out got) < 0 ? Fsu.Failed : 0);
        st = got;
        return r;
    }

    private static int ListDir(Context ctx, ImageSession s, Args a, string dir, in RumpStat dst, bool header, ref bool first, Ancestors ancestors)
    {
        if (!ancestors.Enter(ctx, dir, dst)) return Fsu.Failed;
        try
        {
            if (!first) ctx.Out.WriteLine();
            first = false;
            if (header) ctx.Out.WriteLine(ImageSession.Printable(dir) + ":");
            string kdir = ImageSession.KPath(dir);
            int e = s.List(kdir, out List<string> names);
            if (e < 0) return ctx.Fail(dir, -e);
            if (a.Has('a')) names.InsertRange(0, new[] { ".", ".." });
            int rc = 0;
            var subdirs = new List<(string path, RumpStat st)>();
            foreach (string n in names)
            {
                if (n.StartsWith('.') && !a.Has('a')) continue;
                string p = ImageSession.Join(dir, n);
                bool dots = n is "." or "..";
                if (!dots && ImageSession.BadName(n) is string why) { rc = ctx.Fail(p, why); continue; }
                if (GuardedEntry(ctx, s, a, p, n, out RumpStat st) != 0) { rc = Fsu.Failed; continue; }
                if (ImageSession.IsDir(st) && a.Has('r') && !dots) subdirs.Add((p, st));
            }
            foreach (var (d, st) in subdirs)
                if (ListDir(ctx, s, a, d, st, true, ref first, ancestors) != 0) rc = Fsu.Failed;
            return rc;
        }
        finally { ancestors.Leave(dst); }
    }

    /// <summary>Prints one name (long form with -l) and gives its attributes; -1 if it could not be examined.</summary>
    private static int Entry(Context ctx, ImageSession s, Args a, string path, string shown, out RumpStat st)
    {
        string kp = ImageSession.KPath(path);
        int e = s.Lstat(kp, out st);
        if (e < 0) { ctx.Fail(path, -e); return -1; }
        if (!a.Has('l')) { ctx.Out.WriteLine(ImageSession.Printable(shown)); return 0; }
        var sb = new StringBuilder();
        sb.Append(ModeString(st.st_mode)).Append(' ');
        sb.Append(st.st_nlink.ToString(CultureInfo.InvariantCulture).PadLeft(3)).Append(' ');
        sb.Append(st.st_uid.ToString(CultureInfo.InvariantCulture).PadRight(5)).Append(' ');
        sb.Append(st.st_gid.ToString(CultureInfo.InvariantCulture).PadRight(5)).Append(' ');
        sb.Append(st.st_size.ToString(CultureInfo.InvariantCulture).PadLeft(10)).Append(' ');
        DateTime? m = ImageSession.ToDateTime(st.st_mtim);
        // A time no calendar here can show is printed as seconds since the epoch, as GNU ls does.
        sb.Append(m is DateTime mt ? mt.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)
                                   : st.st_mtim.tv_sec.ToString(CultureInfo.InvariantCulture).PadLeft(16)).Append(' ');
        sb.Append(ImageSession.Printable(shown));
        if (ImageSession.IsLink(st))
        {
            string? t = s.K.Readlink(kp, out int le);
            sb.Append(" -> ").Append(t != null ? ImageSession.Printable(t) : "?(" + Errno.Message(le) + ")");
        }
        ctx.Out.WriteLine(sb.ToString());
        return 0;
    }

    /// <summary>"drwxr-xr-x" from st_mode.</summary>
    public static string ModeString(uint mode)
    {
        char type = (int)(mode & Abi.S_IFMT) switch
        {
            Abi.S_IFDIR => 'd', Abi.S_IFLNK => 'l', Abi.S_IFCHR => 'c', Abi.S_IFBLK => 'b',
            Abi.S_IFIFO => 'p', Abi.S_IFSOCK => 's', _ => '-',
        };
        Span<char> c = stackalloc char[10];
        c[0] = type;
        const string rwx = "rwxrwxrwx";
        for (int i = 0; i < 9; i++) c[1 + i] = (mode & (1u << (8 - i))) != 0 ? rwx[i] : '-';
        if ((mode & 0x800) != 0) c[3] = c[3] == 'x' ? 's' : 'S';
        if ((mode & 0x400) != 0) c[6] = c[6] == 'x' ? 's' : 'S';
        if ((mode & 0x200) != 0) c[9] = c[9] == 'x' ? 't' : 'T';
        return new string(c);
    }
}
