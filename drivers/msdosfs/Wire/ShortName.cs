using System;

namespace Rump.Fs.Msdosfs.Wire;

/// <summary>
/// 8.3 names (FAT specification sections 6.1 and 7.4): which names are valid short names, the
/// display form of a stored one (with the NT lower-case flags), the alias a long name gets (the
/// "basis name" and its ~N numeric tail), and the checksum long-name slots carry.
/// Short names hold OEM bytes; code page 850 is assumed (mtools' default).
/// </summary>
public static class ShortName
{
    /// <summary>Code page 850, bytes 0x80–0xFF, to Unicode.</summary>
    private static ReadOnlySpan<char> Cp850High =>
    [
        '\u00C7', '\u00FC', '\u00E9', '\u00E2', '\u00E4', '\u00E0', '\u00E5', '\u00E7', '\u00EA', '\u00EB', '\u00E8', '\u00EF', '\u00EE', '\u00EC', '\u00C4', '\u00C5',
        '\u00C9', '\u00E6', '\u00C6', '\u00F4', '\u00F6', '\u00F2', '\u00FB', '\u00F9', '\u00FF', '\u00D6', '\u00DC', '\u00F8', '\u00A3', '\u00D8', '\u00D7', '\u0192',
        '\u00E1', '\u00ED', '\u00F3', '\u00FA', '\u00F1', '\u00D1', '\u00AA', '\u00BA', '\u00BF', '\u00AE', '\u00AC', '\u00BD', '\u00BC', '\u00A1', '\u00AB', '\u00BB',
        '\u2591', '\u2592', '\u2593', '\u2502', '\u2524', '\u00C1', '\u00C2', '\u00C0', '\u00A9', '\u2563', '\u2551', '\u2557', '\u255D', '\u00A2', '\u00A5', '\u2510',
        '\u2514', '\u2534', '\u252C', '\u251C', '\u2500', '\u253C', '\u00E3', '\u00C3', '\u255A', '\u2554', '\u2569', '\u2566', '\u2560', '\u2550', '\u256C', '\u00A4',
        '\u00F0', '\u00D0', '\u00CA', '\u00CB', '\u00C8', '\u0131', '\u00CD', '\u00CE', '\u00CF', '\u2518', '\u250C', '\u2588', '\u2584', '\u00A6', '\u00CC', '\u2580',
        '\u00D3', '\u00DF', '\u00D4', '\u00D2', '\u00F5', '\u00D5', '\u00B5', '\u00FE', '\u00DE', '\u00DA', '\u00DB', '\u00D9', '\u00FD', '\u00DD', '\u00AF', '\u00B4',
        '\u00AD', '\u00B1', '\u2017', '\u00BE', '\u00B6', '\u00A7', '\u00F7', '\u00B8', '\u00B0', '\u00A8', '\u00B7', '\u00B9', '\u00B3', '\u00B2', '\u25A0', '\u00A0',
    ];

    /// <summary>The checksum of an 8.3 name that its long-name slots carry (spec 7.2).</summary>
    public static byte Checksum(ReadOnlySpan<byte> name11)
    {
        byte sum = 0;
        for (int i = 0; i < 11; i++) sum = (byte)(((sum & 1) << 7) + (sum >> 1) + name11[i]);
        return sum;
    }

    /// <summary>Characters allowed in a short name besides A–Z and 0–9 (spec 6.1).</summary>
    private static bool IsShortSpecial(char c) => c is '$' or '%' or '\'' or '-' or '_' or '@' or '~' or '`' or '!' or '(' or ')' or '{' or '}' or '^' or '#' or '&';

    /// <summary>Characters a long name may not hold (spec 7.1); control characters are refused too.</summary>
    public static bool IsInvalidLongChar(char c) => c < 0x20 || c is '"' or '*' or '/' or ':' or '<' or '>' or '?' or '\\' or '|' or '\u007f';

    /// <summary>
    /// The name as a user sees it (UTF-16) from a stored 8.3 name: padding removed, "." between base
    /// and extension, NT flags applied, 0x05 turned back into 0xE5. Returns the length written to
    /// <paramref name="dst"/> (at least 12 long).
    /// </summary>
    public static int Display(ReadOnlySpan<byte> name11, byte ntRes, Span<char> dst)
    {
        int baseLen = 8;
        while (baseLen > 0 && name11[baseLen - 1] == ' ') baseLen--;
        int extLen = 3;
        while (extLen > 0 && name11[8 + extLen - 1] == ' ') extLen--;
        int n = 0;
        for (int i = 0; i < baseLen; i++)
        {
            byte b = name11[i];
            if (i == 0 && b == DirEntry.E5Escape) b = 0xE5;
            dst[n++] = Oem(b, (ntRes & DirEntry.NtLowerBase) != 0);
        }
        if (extLen > 0)
        {
            dst[n++] = '.';
            for (int i = 0; i < extLen; i++) dst[n++] = Oem(name11[8 + i], (ntRes & DirEntry.NtLowerExt) != 0);
        }
        return n;
    }

    private static char Oem(byte b, bool lower)
    {
        if (b >= 0x80) return Cp850High[b - 0x80];
        char c = (char)b;
        return lower && c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;
    }

    /// <summary>
    /// Is <paramref name="name"/> storable as an 8.3 name with no long name: ASCII short-name
    /// characters, base 1–8 and extension 0–3, at most one dot, and each part in one case (a part in
    /// lower case is stored upper case with its NT flag). Fills <paramref name="name11"/> and <paramref name="ntRes"/>.
    /// </summary>
    public static bool TryExact(ReadOnlySpan<char> name, Span<byte> name11, out byte ntRes)
    {
        ntRes = 0;
        if (name.Length == 0 || name.Length > 12) return false;
        int dot = name.IndexOf('.');
        ReadOnlySpan<char> b = dot < 0 ? name : name.Slice(0, dot);
        ReadOnlySpan<char> e = dot < 0 ? default : name.Slice(dot + 1);
        if (b.Length == 0 || b.Length > 8 || e.Length > 3) return false;
        if (dot >= 0 && e.Length == 0) return false;
        if (!PartOk(b, out bool bl, out bool bu) || !PartOk(e, out bool el, out bool eu)) return false;
        if ((bl && bu) || (el && eu)) return false;
        name11.Slice(0, 11).Fill((byte)' ');
        for (int i = 0; i < b.Length; i++) name11[i] = (byte)char.ToUpperInvariant(b[i]);
        for (int i = 0; i < e.Length; i++) name11[8 + i] = (byte)char.ToUpperInvariant(e[i]);
        if (name11[0] == DirEntry.Deleted) return false;
        if (bl) ntRes |= DirEntry.NtLowerBase;
        if (el) ntRes |= DirEntry.NtLowerExt;
        return true;
    }

    private static bool PartOk(ReadOnlySpan<char> p, out bool lower, out bool upper)
    {
        lower = upper = false;
        foreach (char c in p)
        {
            if (c is >= 'a' and <= 'z') lower = true;
            else if (c is >= 'A' and <= 'Z') upper = true;
            else if (!(c is >= '0' and <= '9') && !IsShortSpecial(c)) return false;
        }
        return true;
    }

    /// <summary>
    /// The basis name of a long name (spec 7.4 steps 1–5): upper-cased, characters that have no
    /// short form turned into '_' (lossy), spaces and leading dots dropped, up to 8 characters of
    /// base and 3 of extension (after the last dot). Returns whether the conversion lost
    /// information or the name did not fit, in which case a numeric tail is required.
    /// </summary>
    public static bool Basis(ReadOnlySpan<char> name, Span<byte> name11, out int baseLen)
    {
        name11.Slice(0, 11).Fill((byte)' ');
        bool lossy = false;
        int lastDot = name.LastIndexOf('.');
        int start = 0;
        while (start < name.Length && name[start] == '.') start++;
        if (start > 0) lossy = true;
        if (lastDot < start) lastDot = -1;
        baseLen = 0;
        int end = lastDot < 0 ? name.Length : lastDot;
        for (int i = start; i < end; i++)
        {
            char c = name[i];
            if (c == ' ' || c == '.') { lossy = true; continue; }
            if (baseLen == 8) { lossy = true; break; }
            name11[baseLen++] = MapChar(c, ref lossy);
        }
        if (lastDot >= 0)
        {
            int el = 0;
            for (int i = lastDot + 1; i < name.Length; i++)
            {
                char c = name[i];
                if (c == ' ') { lossy = true; continue; }
                if (el == 3) { lossy = true; break; }
                name11[8 + el++] = MapChar(c, ref lossy);
            }
        }
        if (baseLen == 0) { name11[0] = (byte)'_'; baseLen = 1; lossy = true; }
        if (name11[0] == DirEntry.Deleted) name11[0] = DirEntry.E5Escape;
        return lossy;
    }

    private static byte MapChar(char c, ref bool lossy)
    {
        if (c is >= 'a' and <= 'z') return (byte)(c - 32);
        if (c is >= 'A' and <= 'Z' or >= '0' and <= '9' || IsShortSpecial(c)) return (byte)c;
        lossy = true;
        return (byte)'_';
    }

    /// <summary>
    /// Puts the numeric tail "~<paramref name="n"/>" on a basis name (spec 7.4 step 6): the base is
    /// cut so that base and tail fit in 8 characters.
    /// </summary>
    public static void ApplyTail(ReadOnlySpan<byte> basis11, int baseLen, int n, Span<byte> name11)
    {
        basis11.Slice(0, 11).CopyTo(name11);
        Span<byte> digits = stackalloc byte[10];
        int nd = 0;
        for (int v = n; v > 0 || nd == 0; v /= 10) digits[nd++] = (byte)('0' + v % 10);
        int keep = Math.Min(baseLen, 8 - 1 - nd);
        int p = keep;
        name11[p++] = (byte)'~';
        while (nd > 0) name11[p++] = digits[--nd];
        while (p < 8) name11[p++] = (byte)' ';
    }

    /// <summary>
    /// A basis made from a hash of the long name for when the first tails are taken (as Windows and
    /// Linux do after ~4): up to two characters of the basis and four hex digits, leaving room for a tail.
    /// </summary>
    public static void HashBasis(ReadOnlySpan<byte> basis11, int baseLen, ReadOnlySpan<char> longName, Span<byte> name11, out int newBaseLen)
    {
        basis11.Slice(0, 11).CopyTo(name11);
        uint h = 2166136261;
        foreach (char c in longName) { h ^= c; h *= 16777619; }
        int keep = Math.Min(baseLen, 2);
        for (int i = 0; i < 4; i++)
        {
            int d = (int)((h >> (12 - 4 * i)) & 0xf);
            name11[keep + i] = (byte)(d < 10 ? '0' + d : 'A' + d - 10);
        }
        newBaseLen = keep + 4;
        for (int i = newBaseLen; i < 8; i++) name11[i] = (byte)' ';
    }
}
