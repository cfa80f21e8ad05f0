using System.Collections.Generic;
using System.Linq;

namespace Rump.SyscallGen;

/// <summary>
/// One file per faction: a dispatch stub per call that unpacks the argument slots into typed
/// arguments for the faction's hand-written implementation, and Register() for the table.
/// </summary>
internal static class FactionStubs
{
    public static string Emit(SyscallTable table, Faction f)
    {
        List<Syscall> calls = table.Calls.Where(s => s.Faction == f.Name).ToList();
        var c = new Code().Line(Code.CsBanner(Program.SyscallTablePath)).Line().Line("#nullable enable").Line();
        if (f.Namespace != "Rump.Kern")
            c.Line("using Rump.Kern;").Line();
        c.Line("namespace " + f.Namespace + ";")
            .Line()
            .Line("// Each stub calls the implementation named after the call (open -> Open, __getcwd -> Getcwd),")
            .Line("// written by hand in this partial class as static int Name(Lwp l, <typed args>, out long rv),")
            .Line("// returning 0 or a NetBSD errno.")
            .Line("static unsafe partial class " + f.ClassName)
            .Line("{");

        foreach (Syscall s in calls)
        {
            var args = new List<string> { "l" };
            for (int i = 0; i < s.Args.Count; i++)
                args.Add(Unpack(s.Args[i].Type, "a[" + i + "]"));
            args.Add("out rv");
            c.Line("    // " + s.Number + " " + s.NetbsdName + ": " + s.Prototype)
                .Line("    private static int sys_" + s.Name + "(Lwp l, ref SyscallArgs a, out long rv)")
                .Line("        => " + s.ImplName + "(" + string.Join(", ", args) + ");")
                .Line();
        }

        c.Line("    internal static void Register(SyscallTable t)").Line("    {");
        foreach (Syscall s in calls)
            c.Line("        t.Register(SysNum." + s.Name + ", &sys_" + s.Name + ");");
        return c.Line("    }").Line("}").ToString();
    }

    private static string Unpack(CType t, string slot) => t.Kernel switch
    {
        "UserPtr" => "new UserPtr(" + slot + ")",
        "long" => slot,
        _ => "(" + t.Kernel + ")" + slot,
    };
}
