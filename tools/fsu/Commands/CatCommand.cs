using System.IO;
using System.Text;
using Rump.Kern;

namespace Rump.Fsu;

/// <summary>
/// fsu cat: the bytes go to the stream under stdout when it has one (the program's stdout, or a
/// test's StreamWriter over a MemoryStream); a plain TextWriter gets them decoded as UTF-8.
/// </summary>
internal static class CatCommand
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
        if (e == 0 && ImageSession.IsDir(st)) e = -Abi.EISDIR;
        if (e == 0)
        {
            ctx.Out.Flush();
            if (ctx.Out is StreamWriter sw)
            {
                e = FileIo.ReadInto(s, kp, sw.BaseStream, null);
                sw.BaseStream.Flush();
            }
            else
            {
                var ms = new MemoryStream();
                e = FileIo.ReadInto(s, kp, ms, null);
                ctx.Out.Write(Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length));
            }
        }
        return e < 0 ? ctx.Fail(p, -e) : 0;
    }
}
