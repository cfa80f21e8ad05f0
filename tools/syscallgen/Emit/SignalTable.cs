namespace Rump.SyscallGen;

/// <summary>hypercall/src/sigtab.inc: the X-macro list (host signal name, NetBSD value), as errtab.inc.</summary>
internal static class SignalTable
{
    public static string Emit(AbiTable abi)
    {
        var c = new Code()
            .Line(Code.CBanner(Program.AbiTablePath))
            .Line()
            .Line("/*")
            .Line(" * NetBSD's signal numbers by name, for rumpuser_kill: define RUMP_SIGNAL(name, netbsd_value)")
            .Line(" * and include this file.  Signals the host lacks drop out.")
            .Line(" */");
        foreach (AbiConstant k in abi.Constants)
            if (k.Group == AbiTable.SignalGroup)
                c.Line("#ifdef " + k.Name).Line("RUMP_SIGNAL(" + k.Name + ", " + k.Literal + ")").Line("#endif");
        return c.ToString();
    }
}
