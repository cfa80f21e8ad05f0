namespace Rump.SyscallGen;

/// <summary>librump/rumpkern/Generated/Syscalls.g.cs: SysNum constants and the SyscallInfo lookups.</summary>
internal static class SyscallNumbers
{
    public static string Emit(SyscallTable table)
    {
        var c = new Code()
            .Line(Code.CsBanner(Program.SyscallTablePath))
            .Line()
            .Line("#nullable enable")
            .Line()
            .Line("namespace Rump.Kern;")
            .Line()
            .Line("/// <summary>NetBSD's system-call numbers, by the call's C name (rump_sys_<i>name</i>).</summary>")
            .Line("public static class SysNum")
            .Line("{");
        foreach (Syscall s in table.Calls)
            c.Line("    public const int " + s.Name + " = " + s.Number + ";");
        c.Line("}")
            .Line()
            .Line("/// <summary>What the table knows about each number, for tracing and for remote clients.</summary>")
            .Line("public static class SyscallInfo")
            .Line("{")
            .Line("    /// <summary>The C name (\"open\", \"__getcwd\"), or null for a number the table does not have.</summary>")
            .Line("    public static string? Name(int num) => num switch")
            .Line("    {");
        foreach (Syscall s in table.Calls)
            c.Line("        SysNum." + s.Name + " => \"" + s.Name + "\",");
        c.Line("        _ => null,")
            .Line("    };")
            .Line()
            .Line("    /// <summary>How many argument slots the call uses, or -1 for a number the table does not have.</summary>")
            .Line("    public static int ArgCount(int num) => num switch")
            .Line("    {");
        foreach (Syscall s in table.Calls)
            c.Line("        SysNum." + s.Name + " => " + s.Args.Count + ",");
        c.Line("        _ => -1,")
            .Line("    };")
            .Line()
            .Line("    /// <summary>")
            .Line("    /// Where NetBSD's argument structure for the call has its PAD slot (pread, lseek, truncate, ...),")
            .Line("    /// or -1. Argument blocks in NetBSD's layout (rump_syscall, the syscall proxy) include it.")
            .Line("    /// </summary>")
            .Line("    public static int PadSlot(int num) => num switch")
            .Line("    {");
        foreach (Syscall s in table.Calls)
            if (s.PadSlot >= 0) c.Line("        SysNum." + s.Name + " => " + s.PadSlot + ",");
        return c.Line("        _ => -1,")
            .Line("    };")
            .Line("}")
            .ToString();
    }
}
