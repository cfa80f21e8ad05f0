using System.Collections.Generic;
using System.Linq;

namespace Rump.SyscallGen;

/// <summary>
/// aot/client/rumpclient_syscalls.c: librumpclient's rump_sys_* stubs. Each packs NetBSD's
/// argument block (one 64-bit slot per syscallarg member, the value in the slot's low bytes and
/// the rest zero as NetBSD's little-endian stubs leave it, PAD slots zero) and sends it with
/// rumpclient_syscall; the prototypes are rump_syscalls.h's, so one table makes both libraries.
/// A call with input buffers (const pointers: paths, write data, structures) lists them, so that
/// a server with the argument-buffer extension gets them with the request instead of asking.
/// </summary>
internal static class ClientStubs
{
    public const string Path = "aot/client/rumpclient_syscalls.c";

    public static string Emit(SyscallTable table)
    {
        var c = new Code()
            .Line(Code.CBanner(Program.SyscallTablePath))
            .Line()
            .Line("/*")
            .Line(" * The system calls of a remote client: the prototypes of <rump/rump_syscalls.h>, the")
            .Line(" * arguments in NetBSD's layout, sent by rumpclient_syscall.  Failing calls return -1 and")
            .Line(" * set the host's errno.")
            .Line(" */")
            .Line("#include <stdarg.h>")
            .Line("#include <stdint.h>")
            .Line()
            .Line("#include <rump/rump_syscalls.h>")
            .Line("#include <rump/rumpclient.h>")
            .Line()
            .Line("#include \"rumpclient_int.h\"");

        foreach (Syscall s in table.Calls)
        {
            c.Line();
            var parms = s.Args.Select(a => a.Variadic ? "..." : a.Type.Header + (a.Type.Header.EndsWith('*') ? "" : " ") + a.Name).ToList();
            c.Line("/* " + s.Number + " " + s.NetbsdName + " */")
                .Line(s.Return.Header)
                .Line(s.ExportName + "(" + (parms.Count == 0 ? "void" : string.Join(", ", parms)) + ")")
                .Line("{");
            SyscallArg? va = s.Args.FirstOrDefault(a => a.Variadic);
            if (va != null)
                c.Line("\t" + va.Type.Header + (va.Type.Header.EndsWith('*') ? "" : " ") + va.Name + ";")
                    .Line("\tva_list ap;");
            int slots = s.NetbsdSlots;
            if (slots > 0)
                c.Line("\tuint64_t a[" + slots + "];");
            c.Line("\tint64_t rv[2] = { 0, 0 };").Line("\tint e;").Line();
            if (va != null)
            {
                string prev = s.Args[s.Args.Count - 2].Name;  // "..." is last (SyscallTable checks)
                // Default promotions: 32-bit types arrive as int.
                string fetch = va.Type.IsPointer ? "va_arg(ap, " + va.Type.Header + ")"
                    : Is32(va.Type) ? "(" + va.Type.Header + ")va_arg(ap, int)"
                    : "va_arg(ap, " + va.Type.Header + ")";
                c.Line("\tva_start(ap, " + prev + ");")
                    .Line("\t" + va.Name + " = " + fetch + ";")
                    .Line("\tva_end(ap);");
            }
            for (int slot = 0, i = 0; slot < slots; slot++)
            {
                if (slot == s.PadSlot)
                {
                    c.Line("\ta[" + slot + "] = 0;\t/* PAD */");
                    continue;
                }
                SyscallArg a = s.Args[i++];
                c.Line("\ta[" + slot + "] = " + Pack(a) + ";");
            }
            List<string> bufs = Buffers(s);
            if (bufs.Count == 0)
            {
                c.Line("\te = rumpclient_syscall(RUMP_SYS_" + s.Name + ", " + (slots > 0 ? "a, sizeof a" : "0, 0") + ", rv);");
            }
            else
            {
                c.Line("\t{").Line("\t\tconst struct rumpclient__buf b[" + bufs.Count + "] = {");
                foreach (string b in bufs)
                    c.Line("\t\t\t" + b + ",");
                c.Line("\t\t};")
                    .Line("\t\te = rumpclient__syscallb(RUMP_SYS_" + s.Name + ", a, sizeof a, rv, b, " + bufs.Count + ");")
                    .Line("\t}");
            }
            if (s.Return.Header == "void")
            {
                c.Line("\t(void)e;");
            }
            else
            {
                c.Line("\tif (e != 0)")
                    .Line("\t\treturn rumpclient__seterrno(e);")
                    .Line("\treturn (" + s.Return.Header + ")rv[0];");
            }
            c.Line("}");
        }
        return c.ToString();
    }

    // NetBSD's bound of a copied-in string: MAXPATHLEN, and MFSNAMELEN for a file system type.
    private const int PathBound = 1024;
    private static readonly Dictionary<(string Call, string Arg), string> Overrides = new()
    {
        [("mount", "type")] = "32",
        [("utimensat", "tptr")] = "2 * sizeof(struct rump_timespec)",   // times[2]
        // A socket address is as long as its length argument says, not a struct rump_sockaddr each.
        [("bind", "name")] = "(size_t)namelen",
        [("connect", "name")] = "(size_t)namelen",
        [("sendto", "to")] = "(size_t)tolen",
        [("setsockopt", "val")] = "(size_t)valsize",
    };

    /// <summary>
    /// The call's input buffers as C initialisers { address, length or bound, is-string }: every
    /// const pointer. A string is read up to its NUL within its bound; "const T *p" followed by a
    /// size_t, or by an argument named ...len or ...cnt, is that many T (bytes for void); any
    /// other is one T.
    /// </summary>
    private static List<string> Buffers(Syscall s)
    {
        var list = new List<string>();
        for (int i = 0; i < s.Args.Count; i++)
        {
            SyscallArg a = s.Args[i];
            string h = a.Type.Header;
            if (!a.Type.IsPointer || !h.StartsWith("const ", System.StringComparison.Ordinal) || h.EndsWith("**"))
                continue;
            string elem = h.Substring("const ".Length).TrimEnd('*').Trim();
            string len;
            if (Overrides.TryGetValue((s.Name, a.Name), out string? o))
                len = o;
            else if (elem == "char")
                len = PathBound.ToString();
            else
            {
                string size = elem == "void" ? "1" : "sizeof(" + elem + ")";
                SyscallArg? next = i + 1 < s.Args.Count ? s.Args[i + 1] : null;
                bool counted = next != null && !next.Type.IsPointer && (next.Type.Header == "size_t"
                    || next.Name.EndsWith("len", System.StringComparison.Ordinal) || next.Name.EndsWith("cnt", System.StringComparison.Ordinal));
                len = counted ? (size == "1" ? "(size_t)" + next!.Name : "(size_t)" + next!.Name + " * " + size) : size;
            }
            bool str = elem == "char" && !Overrides.ContainsKey((s.Name, a.Name)) || (s.Name, a.Name) == ("mount", "type");
            list.Add("{ " + a.Name + ", " + len + ", " + (str ? "1" : "0") + " }");
        }
        return list;
    }

    private static bool Is32(CType t)
        => t.Header is "int" or "unsigned int" or "mode_t" or "uid_t" or "gid_t" or "pid_t";

    private static string Pack(SyscallArg a)
    {
        if (a.Type.IsPointer) return "(uint64_t)(uintptr_t)" + a.Name;
        if (Is32(a.Type)) return "(uint64_t)(uint32_t)" + a.Name;
        return "(uint64_t)" + a.Name;
    }
}
