using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>
/// fsu rm [-r] [-f]: -f ignores names that do not exist; the root itself is never removed. A
/// directory that is its own ancestor is reported and not entered (its parent then stays).
/// </summary>
internal static class RemoveCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(true, s =>
    {
        int rc = Fsu.Ok;
        foreach (string p in a.Operands)
        {
            string kp = ImageSession.KPath(p);
            if (kp == ImageSession.MountPoint) { rc = ctx.Fail(p, "refusing to remove the root directory"); continue; }
            int e = s.Lstat(kp, out RumpStat st);
            if (e == -Abi.ENOENT && a.Has('f')) continue;
            if (e < 0) { rc = ctx.Fail(p, -e); continue; }
            if (ImageSession.IsDir(st) && !a.Has('r')) { rc = ctx.Fail(p, Abi.EISDIR); continue; }
            if (ctx.Guard(p, () => Remove(ctx, s, p, kp, st, new Ancestors())) != 0) rc = Fsu.Failed;
        }
        return rc;
    });

    private static int Remove(Context ctx, ImageSession s, string path, string kp, in RumpStat st, Ancestors ancestors)
    {
        if (!ImageSession.IsDir(st))
        {
            int u = s.K.Unlink(kp);
            return u < 0 ? ctx.Fail(path, -u) : 0;
        }
        if (!ancestors.Enter(ctx, path, st)) return Fsu.Failed;
        int rc;
        try { rc = DirWalk.Children(ctx, s, path, kp, (_, cp, ckp, cst) => Remove(ctx, s, cp, ckp, cst, ancestors)); }
        finally { ancestors.Leave(st); }
        int e = s.K.Rmdir(kp);
        return e < 0 ? ctx.Fail(path, -e) : rc;
    }
}
