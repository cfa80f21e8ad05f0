using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Rump.SyscallGen;

/// <summary>How a constant was written, so the outputs can keep hex as hex.</summary>
internal enum LiteralBase { Decimal, Hex, Octal }

/// <summary>One <c>GROUP NAME value</c> line of rumpdefs.master.</summary>
internal sealed record AbiConstant(string Group, string Name, string Literal, LiteralBase Base, Int128 Value, int Line);

/// <summary>A <c>%%hosterrno</c> line: the host's value of a NetBSD errno name.</summary>
internal sealed record HostErrno(string Name, int Value, int Line);

/// <summary>A <c>%%sizes</c> line: the NetBSD amd64 sizeof of a <c>%%structs</c> structure.</summary>
internal sealed record StructSize(string Struct, int Size, int Line);

/// <summary>rumpdefs.master, parsed: constants in table order, the verbatim structs, their sizes.</summary>
internal sealed partial class AbiTable
{
    public const string ErrnoGroup = "errno";
    public const string SignalGroup = "signal";

    public required IReadOnlyList<AbiConstant> Constants { get; init; }
    public required string StructsText { get; init; }
    public required IReadOnlySet<string> StructNames { get; init; }
    public required IReadOnlyList<StructSize> Sizes { get; init; }
    public required IReadOnlyList<HostErrno> HostErrnos { get; init; }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex Identifier();

    [GeneratedRegex(@"\bstruct\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{")]
    private static partial Regex StructDefinition();

    public static AbiTable Parse(string file, string[] lines)
    {
        var constants = new List<AbiConstant>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        var structs = new System.Text.StringBuilder();
        var sizes = new List<StructSize>();
        var hostErrnos = new List<HostErrno>();
        string? section = null;   // null, "structs", "sizes" or "hosterrno"

        for (int i = 0; i < lines.Length; i++)
        {
            int lineNo = i + 1;
            string raw = lines[i];
            string trimmed = raw.Trim();

            if (trimmed.StartsWith("%%", StringComparison.Ordinal))
            {
                string directive = trimmed.Substring(2);
                if (directive == "end" && section != null) { section = null; continue; }
                if ((directive == "structs" || directive == "sizes" || directive == "hosterrno") && section == null) { section = directive; continue; }
                throw TableException.At(file, lineNo, "unexpected " + trimmed);
            }
            if (section == "structs")
            {
                structs.Append(raw.TrimEnd()).Append('\n');
                continue;
            }

            int hash = raw.IndexOf('#');
            string content = (hash >= 0 ? raw.Substring(0, hash) : raw).Trim();
            if (content.Length == 0) continue;
            string[] f = content.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

            if (section == "hosterrno")
            {
                if (f.Length != 2 || !Identifier().IsMatch(f[0]) || !int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out int hv) || hv == 0)
                    throw TableException.At(file, lineNo, "expected <errno-name> <host value>");
                hostErrnos.Add(new HostErrno(f[0], hv, lineNo));
                continue;
            }
            if (section == "sizes")
            {
                if (f.Length != 2 || !Identifier().IsMatch(f[0]) || !int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out int size))
                    throw TableException.At(file, lineNo, "expected <struct-name> <size>");
                sizes.Add(new StructSize(f[0], size, lineNo));
                continue;
            }

            if (f.Length != 3)
                throw TableException.At(file, lineNo, "expected <GROUP> <NAME> <value>");
            if (!Identifier().IsMatch(f[0]) || !Identifier().IsMatch(f[1]))
                throw TableException.At(file, lineNo, "bad group or name");
            if (f[1].StartsWith("RUMP_", StringComparison.Ordinal))
                throw TableException.At(file, lineNo, f[1] + ": names are written without the RUMP_ prefix");
            if (names.TryGetValue(f[1], out int first))
                throw TableException.At(file, lineNo, "duplicate name " + f[1] + " (first on line " + first + ")");
            if (!TryParseLiteral(f[2], out Int128 value, out LiteralBase b))
                throw TableException.At(file, lineNo, "bad value " + f[2] + ": expected a C integer literal");
            names.Add(f[1], lineNo);
            constants.Add(new AbiConstant(f[0], f[1], f[2], b, value, lineNo));
        }
        if (section != null)
            throw TableException.At(file, lines.Length, "%%" + section + " without %%end");

        string text = structs.ToString();
        var structNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in StructDefinition().Matches(text))
            structNames.Add(m.Groups[1].Value);
        foreach (StructSize s in sizes)
            if (!structNames.Contains(s.Struct))
                throw TableException.At(file, s.Line, "size given for " + s.Struct + ", which %%structs does not define");

        foreach (HostErrno h in hostErrnos)
            if (!constants.Exists(c => c.Group == ErrnoGroup && c.Name == h.Name))
                throw TableException.At(file, h.Line, h.Name + " is not an errno of the table");

        return new AbiTable { Constants = constants, StructsText = text, StructNames = structNames, Sizes = sizes, HostErrnos = hostErrnos };
    }

    /// <summary>Decimal, 0x hex or 0-prefixed octal, optionally negative; at most 64 bits.</summary>
    private static bool TryParseLiteral(string s, out Int128 value, out LiteralBase b)
    {
        value = 0;
        b = LiteralBase.Decimal;
        bool negative = s.StartsWith('-');
        string digits = negative ? s.Substring(1) : s;
        if (digits.Length == 0) return false;

        int radix = 10;
        if (digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) { radix = 16; digits = digits.Substring(2); b = LiteralBase.Hex; }
        else if (digits.Length > 1 && digits[0] == '0') { radix = 8; digits = digits.Substring(1); b = LiteralBase.Octal; }
        if (digits.Length == 0) return false;

        foreach (char c in digits)
        {
            int d = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiHexDigit(c) ? (char.ToLowerInvariant(c) - 'a' + 10) : 99;
            if (d >= radix) return false;
            value = value * radix + d;
            if (value > ulong.MaxValue) return false;
        }
        if (negative) value = -value;
        return value >= long.MinValue;
    }
}
