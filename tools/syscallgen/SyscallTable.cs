using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace Rump.SyscallGen;

/// <summary>One C argument of a system call; <see cref="Variadic"/> when "..." precedes it.</summary>
internal sealed record SyscallArg(string CSpelling, CType Type, string Name, bool Variadic);

/// <summary>One line of syscalls.master.</summary>
internal sealed record Syscall(int Number, string Faction, string NetbsdName, string Name,
    string ReturnSpelling, CType Return, IReadOnlyList<SyscallArg> Args, string Prototype, int Line, int PadSlot)
{
    /// <summary>Slots in NetBSD's argument structure: the arguments, and the PAD slot if there is one.</summary>
    public int NetbsdSlots => Args.Count + (PadSlot >= 0 ? 1 : 0);

    /// <summary>The exported C symbol: rump_sys_open, rump_sys___getcwd.</summary>
    public string ExportName => "rump_sys_" + Name;

    /// <summary>The hand-written implementation the stub calls: open → Open, __getcwd → Getcwd.</summary>
    public string ImplName
    {
        get
        {
            var sb = new StringBuilder();
            foreach (string part in Name.Split('_', StringSplitOptions.RemoveEmptyEntries))
                sb.Append(char.ToUpperInvariant(part[0])).Append(part, 1, part.Length - 1);
            return sb.ToString();
        }
    }
}

/// <summary>syscalls.master, parsed and checked; <see cref="Calls"/> is sorted by number.</summary>
internal sealed partial class SyscallTable
{
    /// <summary>The factions and where their dispatch stubs go.</summary>
    public static readonly IReadOnlyList<Faction> Factions =
    [
        new Faction("kern", "librump/rumpkern/Generated/KernSyscalls.g.cs", "Rump.Kern", "KernSyscalls"),
        new Faction("vfs", "librump/rumpvfs/Generated/VfsSyscalls.g.cs", "Rump.Vfs", "VfsSyscalls"),
        new Faction("net", "librump/rumpnet/Generated/NetSyscalls.g.cs", "Rump.Net", "NetSyscalls"),
    ];

    /// <summary>SyscallArgs.Max in Rump.Kern.</summary>
    public const int MaxArgs = 8;

    public required IReadOnlyList<Syscall> Calls { get; init; }

    [GeneratedRegex(@"^(?<num>\d+)\s+(?<faction>\S+)\s+(?<netbsd>\S+)\s+(?<proto>.+)$")]
    private static partial Regex LineSyntax();

    [GeneratedRegex(@"^(?<ret>.*?[\s*])(?<name>[A-Za-z_][A-Za-z0-9_]*)\s*\((?<args>.*)\)\s*;$")]
    private static partial Regex PrototypeSyntax();

    [GeneratedRegex(@"^(?<type>.*?[\s*])(?<name>[A-Za-z_][A-Za-z0-9_]*)$")]
    private static partial Regex ArgSyntax();

    [GeneratedRegex(@"\bstruct\s+([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex StructReference();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex Identifier();

    public static SyscallTable Parse(string file, string[] lines, AbiTable abi)
    {
        var calls = new List<Syscall>();
        var byNumber = new Dictionary<int, int>();
        var byNetbsd = new Dictionary<string, int>(StringComparer.Ordinal);
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);

        for (int i = 0; i < lines.Length; i++)
        {
            int lineNo = i + 1;
            int hash = lines[i].IndexOf('#');
            string content = (hash >= 0 ? lines[i].Substring(0, hash) : lines[i]).Trim();
            if (content.Length == 0) continue;
            TableException Error(string message) => TableException.At(file, lineNo, message);

            Match m = LineSyntax().Match(content);
            if (!m.Success)
                throw Error("expected <number> <faction> <netbsd-name> <C prototype>");
            if (!int.TryParse(m.Groups["num"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int number) || number >= 512)
                throw Error("bad system call number " + m.Groups["num"].Value + " (NetBSD's table ends below 512)");
            string faction = m.Groups["faction"].Value;
            if (!Factions.Any(f => f.Name == faction))
                throw Error("unknown faction " + faction + " (expected " + string.Join(" or ", Factions.Select(f => f.Name)) + ")");
            string netbsd = m.Groups["netbsd"].Value;
            if (!Identifier().IsMatch(netbsd))
                throw Error("bad NetBSD name " + netbsd);

            string written = string.Join(' ', m.Groups["proto"].Value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
            string proto = Normalize(written);
            Match p = PrototypeSyntax().Match(proto);
            if (!p.Success)
                throw Error("cannot parse prototype \"" + proto + "\"");
            string name = p.Groups["name"].Value;
            string ret = Normalize(p.Groups["ret"].Value);
            if (!CType.IsReturnType(ret))
                throw Error("unknown return type " + ret);
            CType retType = ret == "void" ? CType.Void : CType.Lookup(ret)!;

            var args = new List<SyscallArg>();
            int padSlot = -1;
            string argText = p.Groups["args"].Value.Trim();
            if (argText != "void")
            {
                foreach (string piece in argText.Split(','))
                {
                    string a = piece.Trim();
                    if (a == "PAD")
                    {
                        // NetBSD's argument structure has a padding slot here (before a 64-bit off_t
                        // on 32-bit ABIs); the C prototype does not.
                        if (padSlot >= 0) throw Error("only one PAD per call");
                        padSlot = args.Count;
                        continue;
                    }
                    bool variadic = a.StartsWith("...", StringComparison.Ordinal);
                    if (variadic) a = a.Substring(3).Trim();
                    Match am = ArgSyntax().Match(a);
                    if (!am.Success)
                        throw Error("cannot parse argument \"" + piece.Trim() + "\" (arguments need a type and a name)");
                    string spelling = Normalize(am.Groups["type"].Value);
                    CType? type = CType.Lookup(spelling);
                    if (type == null)
                        throw Error("unknown C type " + spelling);
                    if (args.Any(x => x.Variadic))
                        throw Error("only the last argument may follow \"...\"");
                    args.Add(new SyscallArg(spelling, type, am.Groups["name"].Value, variadic));
                }
            }
            if (args.Count > MaxArgs)
                throw Error(name + " has " + args.Count + " arguments; SyscallArgs holds " + MaxArgs);

            foreach (Match s in StructReference().Matches(proto))
            {
                string st = s.Groups[1].Value;
                if (!st.StartsWith("rump_", StringComparison.Ordinal))
                    throw Error("struct " + st + ": use the rump_ structure from rumpdefs.master, not the host's");
                if (!abi.StructNames.Contains(st))
                    throw Error("struct " + st + " is not defined in rumpdefs.master's %%structs");
            }

            if (byNumber.TryGetValue(number, out int l1))
                throw Error("duplicate number " + number + " (first on line " + l1 + ")");
            if (byNetbsd.TryGetValue(netbsd, out int l2))
                throw Error("duplicate NetBSD name " + netbsd + " (first on line " + l2 + ")");
            if (byName.TryGetValue(name, out int l3))
                throw Error("duplicate C name " + name + " (first on line " + l3 + ")");
            byNumber.Add(number, lineNo);
            byNetbsd.Add(netbsd, lineNo);
            byName.Add(name, lineNo);

            if (padSlot == args.Count) throw Error("PAD must come before an argument");
            calls.Add(new Syscall(number, faction, netbsd, name, ret, retType, args, written, lineNo, padSlot));
        }

        calls.Sort((a, b) => a.Number.CompareTo(b.Number));
        return new SyscallTable { Calls = calls };
    }

    /// <summary>Single spaces, and "char*" / "char *" both as "char *".</summary>
    private static string Normalize(string s)
    {
        string spaced = s.Replace("*", " * ");
        string single = string.Join(' ', spaced.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return single.Replace("* *", "**").Replace("* )", "*)").Replace(" ;", ";").Replace("( ", "(").Replace(" (", "(").Replace(" ,", ",");
    }
}

/// <summary>A faction: the table's name for it and where its generated stubs live.</summary>
internal sealed record Faction(string Name, string Path, string Namespace, string ClassName);
