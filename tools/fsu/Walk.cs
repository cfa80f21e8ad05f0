using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>
/// The directories a recursive command is inside, by (device, inode), as fts(3) keeps them. A
/// damaged image can hold an entry that names one of its own ancestors; walking into it would
/// never end. Such a directory is reported ("directory causes a cycle", fts's words), counted as
/// an error and not entered, and the walk goes on with the next name.
/// </summary>
internal sealed class Ancestors
{
    private readonly HashSet<(ulong dev, ulong ino)> _inside = new();

    /// <summary>Enters directory <paramref name="path"/>; false, reported, if the walk is already inside it.</summary>
    public bool Enter(Context ctx, string path, in RumpStat st)
    {
        if (_inside.Add((st.st_dev, st.st_ino))) return true;
        ctx.Fail(path, "directory causes a cycle");
        return false;
    }

    /// <summary>The same, for a walk that only measures and reports nothing.</summary>
    public bool EnterQuietly(in RumpStat st) => _inside.Add((st.st_dev, st.st_ino));

    public void Leave(in RumpStat st) => _inside.Remove((st.st_dev, st.st_ino));
}

/// <summary>The step every recursive command takes in a directory.</summary>
internal static class DirWalk
{
    /// <summary>
    /// Lists directory <paramref name="kp"/> (shown as <paramref name="path"/>) and calls
    /// <paramref name="visit"/>(name, shown path, kernel path, lstat) for each entry, guarded: a
    /// name that is not one component (it could lead a copy out of its destination), a failed
    /// lstat or an exception is reported and the walk goes on. 0, or <see cref="Fsu.Failed"/> if
    /// anything failed.
    /// </summary>
    public static int Children(Context ctx, ImageSession s, string path, string kp, Func<string, string, string, RumpStat, int> visit)
    {
        int e = s.List(kp, out List<string> names);
        if (e < 0) return ctx.Fail(path, -e);
        int rc = 0;
        foreach (string n in names)
        {
            string cp = ImageSession.Join(path, n), ckp = kp + "/" + n;
            if (ImageSession.BadName(n) is string why) { rc = ctx.Fail(cp, why); continue; }
            e = s.Lstat(ckp, out RumpStat cst);
            if (e < 0) { rc = ctx.Fail(cp, -e); continue; }
            if (ctx.Guard(cp, () => visit(n, cp, ckp, cst)) != 0) rc = Fsu.Failed;
        }
        return rc;
    }
}
