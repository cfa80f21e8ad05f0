using System.Collections.Generic;

namespace Rump.SyscallGen;

/// <summary>
/// A C argument or return type of syscalls.master and what it becomes: <see cref="Header"/> in
/// rump_syscalls.h, <see cref="Kernel"/> in the typed implementation the stubs call, and
/// <see cref="Export"/> in the librump.so entry point. All widths are LP64 (NetBSD amd64).
/// </summary>
internal sealed record CType(string Header, string Kernel, string Export)
{
    public bool IsPointer => Kernel == "UserPtr";

    // size_t and ssize_t keep their pointer-sized C# spelling at the export boundary only.
    private static readonly Dictionary<string, CType> Scalars = new()
    {
        ["int"] = new("int", "int", "int"),
        ["u_int"] = new("unsigned int", "uint", "uint"),
        ["unsigned int"] = new("unsigned int", "uint", "uint"),
        ["long"] = new("long", "long", "long"),
        ["u_long"] = new("unsigned long", "ulong", "ulong"),
        ["unsigned long"] = new("unsigned long", "ulong", "ulong"),
        ["size_t"] = new("size_t", "ulong", "nuint"),
        ["ssize_t"] = new("ssize_t", "long", "nint"),
        ["off_t"] = new("off_t", "long", "long"),
        ["mode_t"] = new("mode_t", "uint", "uint"),
        ["uid_t"] = new("uid_t", "uint", "uint"),
        ["gid_t"] = new("gid_t", "uint", "uint"),
        ["pid_t"] = new("pid_t", "int", "int"),
        ["dev_t"] = new("dev_t", "ulong", "ulong"),
    };

    public static readonly CType Void = new("void", "void", "void");

    /// <summary>
    /// The type for a normalised C spelling ("const char *"), or null when it is not one the
    /// generator knows. BSD shorthands (u_int, u_long) are spelled out in the header so that it
    /// also compiles in strict ISO modes, where the host's &lt;sys/types.h&gt; hides them.
    /// </summary>
    public static CType? Lookup(string c)
    {
        if (c.EndsWith('*'))
            return new CType(c, "UserPtr", "nint");
        return Scalars.TryGetValue(c, out CType? t) ? t : null;
    }

    /// <summary>The return types a system call may have.</summary>
    public static bool IsReturnType(string c)
        => c is "void" or "int" or "long" or "ssize_t" or "off_t" or "pid_t" or "uid_t" or "gid_t" or "mode_t";
}
