using Rump.Kern;

namespace Rump.Fsu;

/// <summary>fsu mv SOURCE DEST: rename(2) inside the image; into DEST when it is a directory.</summary>
internal static class MoveCommand
{
    public static int Run(Context ctx, Args a) => ctx.WithImage(true, s =>
    {
        if (a.Operands.Count != 2) { ctx.Err.WriteLine("usage: fsu mv IMAGE[@PART] SOURCE DEST"); return Fsu.Usage; }
        string src = a.Operands[0], dst = a.Operands[1];
        string ksrc = ImageSession.KPath(src), kdst = ImageSession.KPath(dst);
        if (s.K.Stat(kdst, out RumpStat st) == 0 && ImageSession.IsDir(st) && ksrc != kdst)
            kdst = kdst + "/" + ImageSession.BaseName(src);
        int e = s.K.Rename(ksrc, kdst);
        return e < 0 ? ctx.Fail(src, -e) : Fsu.Ok;
    });
}
