using System.Collections.Generic;
using System.Linq;

namespace Rump.SyscallGen;

/// <summary>aot/Generated/SyscallExports.g.cs: the rump_sys_* entry points of librump.so.</summary>
internal static class SyscallExports
{
    // C names that are C# keywords get an @ (none today; the list is the plausible ones).
    private static readonly HashSet<string> Keywords =
    [
        "base", "char", "checked", "class", "const", "default", "event", "fixed", "in", "int", "is",
        "lock", "long", "new", "object", "operator", "out", "params", "ref", "short", "string",
        "this", "uint", "ulong", "unchecked", "ushort",
    ];

    public static string Emit(SyscallTable table)
    {
        var c = new Code()
            .Line(Code.CsBanner(Program.SyscallTablePath))
            .Line()
            .Line("#nullable enable")
            .Line()
            .Line("using System.Runtime.CompilerServices;")
            .Line("using System.Runtime.InteropServices;")
            .Line("using Rump.Kern;")
            .Line()
            .Line("namespace Rump;")
            .Line()
            .Line("// NetBSD's variadic prototypes (open, openat, fcntl, ioctl) are exported with the optional")
            .Line("// argument as an ordinary parameter: on the SysV amd64 ABI variadic integer and pointer")
            .Line("// arguments arrive in the same registers as fixed ones.")
            .Line("internal static unsafe class SyscallExports")
            .Line("{");

        bool first = true;
        foreach (Syscall s in table.Calls)
        {
            if (!first) c.Line();
            first = false;
            var parms = s.Args.Select(a => a.Type.Export + " " + Id(a.Name));
            c.Line("    [UnmanagedCallersOnly(EntryPoint = \"" + s.ExportName + "\")]")
                .Line("    private static " + s.Return.Export + " " + s.ExportName + "(" + string.Join(", ", parms) + ")")
                .Line("    {")
                .Line("        Unsafe.SkipInit(out SyscallArgs a);");
            for (int i = 0; i < s.Args.Count; i++)
            {
                SyscallArg a = s.Args[i];
                // ulong and nuint have no implicit conversion to the long slot.
                string cast = a.Type.Export is "ulong" or "nuint" ? "(long)" : "";
                c.Line("        a[" + i + "] = " + cast + Id(a.Name) + ";");
            }
            string call = "CAbi.Syscall(SysNum." + s.Name + ", ref a)";
            c.Line(s.Return.Export switch
            {
                "void" => "        " + call + ";",
                "long" => "        return " + call + ";",
                string t => "        return (" + t + ")" + call + ";",
            });
            c.Line("    }");
        }
        return c.Line("}").ToString();
    }

    private static string Id(string name) => Keywords.Contains(name) ? "@" + name : name;
}
