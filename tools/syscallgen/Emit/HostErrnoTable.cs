using System.Collections.Generic;

namespace Rump.SyscallGen;

/// <summary>aot/Generated/HostErrno.g.cs: NetBSD errno to the host's, for the C ABI's errno.</summary>
internal static class HostErrnoTable
{
    public static string Emit(AbiTable abi)
    {
        var host = new Dictionary<string, int>();
        foreach (HostErrno h in abi.HostErrnos) host[h.Name] = h.Value;
        var c = new Code()
            .Line(Code.CsBanner(Program.AbiTablePath))
            .Line()
            .Line("#nullable enable")
            .Line()
            .Line("namespace Rump;")
            .Line()
            .Line("/// <summary>The host's errno for each NetBSD errno (rumpdefs.master's %%hosterrno); EINVAL where the host has none.</summary>")
            .Line("internal static class HostErrno")
            .Line("{")
            .Line("    public const int EINVAL = " + host["EINVAL"] + ";")
            .Line()
            .Line("    public static int FromNetbsd(int error) => error switch")
            .Line("    {")
            .Line("        0 => 0,");
        var seen = new HashSet<System.Int128>();
        foreach (AbiConstant k in abi.Constants)
        {
            if (k.Group != AbiTable.ErrnoGroup || !seen.Add(k.Value) || !host.TryGetValue(k.Name, out int hv))
                continue;
            c.Line("        " + k.Literal + " => " + hv + ", // " + k.Name);
        }
        c.Line("        _ => EINVAL,")
            .Line("    };")
            .Line()
            .Line("    /// <summary>Every (NetBSD name, host value) pair, for the test against the host's &lt;errno.h&gt;.</summary>")
            .Line("    public static readonly (string Name, int Host)[] Table =")
            .Line("    [");
        foreach (HostErrno h in abi.HostErrnos)
            c.Line("        (\"" + h.Name + "\", " + h.Value + "),");
        return c.Line("    ];")
            .Line("}")
            .ToString();
    }
}
