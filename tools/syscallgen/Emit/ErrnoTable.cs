using System.Collections.Generic;

namespace Rump.SyscallGen;

/// <summary>hypercall/src/errtab.inc: the X-macro list (host errno name, NetBSD value).</summary>
internal static class ErrnoTable
{
    public static string Emit(AbiTable abi)
    {
        var c = new Code()
            .Line(Code.CBanner(Program.AbiTablePath))
            .Line()
            .Line("/*")
            .Line(" * NetBSD's errno values by name, for translating host errnos: define")
            .Line(" * RUMP_ERRNO(name, netbsd_value) and include this file.  Names the host lacks drop out.")
            .Line(" * NetBSD aliases (EWOULDBLOCK) are left out, but the host may still give two listed names")
            .Line(" * one value (Linux: ENOTSUP == EOPNOTSUPP): look entries up first match first, not as")
            .Line(" * switch cases; the earlier name is the more common one.")
            .Line(" */");

        var seen = new HashSet<System.Int128>();
        foreach (AbiConstant k in abi.Constants)
        {
            if (k.Group != AbiTable.ErrnoGroup || !seen.Add(k.Value))
                continue;
            c.Line("#ifdef " + k.Name).Line("RUMP_ERRNO(" + k.Name + ", " + k.Literal + ")").Line("#endif");
        }
        return c.ToString();
    }
}
