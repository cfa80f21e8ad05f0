using System;

namespace Rump.Fs.Cd9660.Wire;

/// <summary>
/// File identifiers as users see them (NetBSD isofntrans), written one char per byte (the VFS's
/// Latin-1 convention) into a caller's buffer of at least <see cref="MaxTranslated"/> chars:
/// - ISO 9660: upper-case d-characters lower-cased (unless case translation is off), the version
///   ";1" cut, and a '.' left bare by the cut or at the end removed ("README.;1" → "readme").
/// - Joliet: UCS-2 (in practice UTF-16) big-endian to UTF-8, then the same version rule without
///   case translation. Unpaired surrogates become U+FFFD.
/// Rock Ridge NM names need no translation: they are the bytes the user gave.
/// </summary>
public static class IsoName
{
    /// <summary>Largest translation of a 255-byte identifier (Joliet: 127 units × 3 UTF-8 bytes).</summary>
    public const int MaxTranslated = 512;

    public static int TranslateIso(ReadOnlySpan<byte> raw, bool caseTrans, Span<char> dst)
    {
        int n = 0;
        foreach (byte b in raw)
        {
            if (b == (byte)';') break;
            dst[n++] = caseTrans && b >= (byte)'A' && b <= (byte)'Z' ? (char)(b + ('a' - 'A')) : (char)b;
        }
        if (n > 1 && dst[n - 1] == '.') n--;
        return n;
    }

    public static int TranslateJoliet(ReadOnlySpan<byte> raw, Span<char> dst)
    {
        int n = 0;
        int units = raw.Length / 2;
        for (int i = 0; i < units; i++)
        {
            int c = raw[2 * i] << 8 | raw[2 * i + 1];
            if (c == ';') break;
            if (c >= 0xD800 && c <= 0xDBFF && i + 1 < units)
            {
                int lo = raw[2 * i + 2] << 8 | raw[2 * i + 3];
                if (lo >= 0xDC00 && lo <= 0xDFFF)
                {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    i++;
                }
            }
            if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;
            n += PutUtf8(dst.Slice(n), c);
        }
        if (n > 1 && dst[n - 1] == '.') n--;
        return n;
    }

    /// <summary>
    /// Can the VFS use this name? Not empty, no '/' or NUL, not "." or "..", within NAME_MAX.
    /// Names that fail (hostile images) are left out of the directory rather than failing it.
    /// </summary>
    public static bool IsValid(ReadOnlySpan<char> name)
    {
        if (name.Length == 0 || name.Length > 511) return false;
        if (name.Length == 1 && name[0] == '.') return false;
        if (name.Length == 2 && name[0] == '.' && name[1] == '.') return false;
        return name.IndexOfAny('/', '\0') < 0;
    }

    private static int PutUtf8(Span<char> d, int c)
    {
        if (c < 0x80) { d[0] = (char)c; return 1; }
        if (c < 0x800) { d[0] = (char)(0xC0 | c >> 6); d[1] = (char)(0x80 | c & 0x3F); return 2; }
        if (c < 0x10000)
        {
            d[0] = (char)(0xE0 | c >> 12); d[1] = (char)(0x80 | c >> 6 & 0x3F); d[2] = (char)(0x80 | c & 0x3F);
            return 3;
        }
        d[0] = (char)(0xF0 | c >> 18); d[1] = (char)(0x80 | c >> 12 & 0x3F);
        d[2] = (char)(0x80 | c >> 6 & 0x3F); d[3] = (char)(0x80 | c & 0x3F);
        return 4;
    }
}
