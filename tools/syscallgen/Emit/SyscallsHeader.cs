using System.Linq;

namespace Rump.SyscallGen;

/// <summary>aot/include/rump/rump_syscalls.h: RUMP_SYS_ numbers and the rump_sys_ prototypes.</summary>
internal static class SyscallsHeader
{
    public static string Emit(SyscallTable table)
    {
        var c = new Code()
            .Line(Code.CBanner(Program.SyscallTablePath))
            .Line()
            .Line("/*")
            .Line(" * The system calls librump.so exports, with NetBSD's numbers and argument types.")
            .Line(" * ssize_t, off_t, mode_t, uid_t, gid_t and pid_t are the host's (<sys/types.h>): on the")
            .Line(" * supported LP64 hosts they have NetBSD amd64's widths (mode_t is 32-bit on both).")
            .Line(" * Failing calls return -1 and set the host's errno.")
            .Line(" */")
            .Line("#ifndef _RUMP_RUMP_SYSCALLS_H_")
            .Line("#define _RUMP_RUMP_SYSCALLS_H_")
            .Line()
            .Line("#include <rump/rumpdefs.h>")
            .Line("#include <stddef.h>")
            .Line("#include <sys/types.h>")
            .Line();

        int width = table.Calls.Max(s => s.Name.Length) + "RUMP_SYS_".Length;
        foreach (Syscall s in table.Calls)
            c.Line("#define " + ("RUMP_SYS_" + s.Name).PadRight(width) + " " + s.Number);

        c.Line().Line("#ifdef __cplusplus").Line("extern \"C\" {").Line("#endif").Line();
        foreach (Syscall s in table.Calls)
        {
            var args = s.Args.Select(a => a.Variadic ? "..." : a.Type.Header).ToList();
            string list = args.Count == 0 ? "void" : string.Join(", ", args);
            c.Line(s.Return.Header + " " + s.ExportName + "(" + list + ");");
        }
        return c.Line()
            .Line("#ifdef __cplusplus").Line("}").Line("#endif")
            .Line()
            .Line("#endif /* !_RUMP_RUMP_SYSCALLS_H_ */")
            .ToString();
    }
}
