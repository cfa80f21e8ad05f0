using Rump.Kern;

namespace Rump.Fsu;

/// <summary>fsu mkdir [-p]: mode 0777 less the kernel's umask, as mkdir(1).</summary>
internal static class MkdirCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(true, s =>
    {
        int rc = Fsu.Ok;
        foreach (string p in a.Operands)
            if (ctx.Guard(p, () => One(ctx, s, a, p)) != 0) rc = Fsu.Failed;
        return rc;
    });

    private static int One(Context ctx, ImageSession s, Args a, string p)
    {
        int e;
        if (a.Has('p'))
        {
            e = 0;
            string kp = ImageSession.MountPoint;
            foreach (string part in p.Split('/', System.StringSplitOptions.RemoveEmptyEntries))
            {
                kp += "/" + part;
                e = s.K.Mkdir(kp, 0x1ff);
                if (e == -Abi.EEXIST && s.K.Stat(kp, out RumpStat st) == 0 && ImageSession.IsDir(st)) e = 0;
                if (e < 0) break;
            }
        }
        else e = s.K.Mkdir(ImageSession.KPath(p), 0x1ff);
        return e < 0 ? ctx.Fail(p, -e) : 0;
    }
}
