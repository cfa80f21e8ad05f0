using System;
using System.Globalization;

namespace Rump.SyscallGen;

/// <summary>librump/rumpkern/Generated/Abi.g.cs: the constants as Rump.Kern.Abi members.</summary>
internal static class AbiConstants
{
    public static string Emit(AbiTable abi)
    {
        var c = new Code()
            .Line(Code.CsBanner(Program.AbiTablePath))
            .Line()
            .Line("#nullable enable")
            .Line()
            .Line("namespace Rump.Kern;")
            .Line()
            .Line("/// <summary>NetBSD's (amd64) ABI constants: errno values, flags, ioctl and sysctl numbers.</summary>")
            .Line("public static partial class Abi")
            .Line("{");

        string? group = null;
        foreach (AbiConstant k in abi.Constants)
        {
            if (k.Group != group)
            {
                if (group != null) c.Line();
                group = k.Group;
                c.Line("    // " + group);
            }
            string octal = k.Base == LiteralBase.Octal ? " // " + k.Literal : "";
            c.Line("    public const " + TypeOf(k.Value) + " " + k.Name + " = " + Literal(k) + ";" + octal);
        }
        return c.Line("}").ToString();
    }

    /// <summary>The narrowest of int, uint, long, ulong that holds the value.</summary>
    private static string TypeOf(Int128 v)
        => v >= int.MinValue && v <= int.MaxValue ? "int"
         : v >= 0 && v <= uint.MaxValue ? "uint"
         : v >= long.MinValue && v <= long.MaxValue ? "long"
         : "ulong";

    /// <summary>C# has no octal literals: those become hex (the caller adds the original as a comment).</summary>
    private static string Literal(AbiConstant k) => k.Base switch
    {
        LiteralBase.Hex => k.Literal,
        LiteralBase.Octal => (k.Value < 0 ? "-0x" : "0x") + ((ulong)Int128.Abs(k.Value)).ToString("x", CultureInfo.InvariantCulture),
        _ => k.Literal,
    };
}
