using System;
using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Rump.Fs.Msdosfs.Wire;

/// <summary>
/// Name encodings between the disk (UTF-16 long names, OEM short names) and the VFS (UTF-8 bytes
/// held one per char), and the case folding that makes FAT lookups case-insensitive.
/// </summary>
public static class Names
{
    /// <summary>Longest VFS name accepted: 255 UTF-16 units are at most 765 UTF-8 bytes.</summary>
    public const int MaxVfsBytes = 3 * LfnSlot.MaxNameChars;

    /// <summary>UTF-16 (as stored) to the VFS form: UTF-8 bytes, one per char. Unpaired surrogates become U+FFFD.</summary>
    public static string ToVfs(ReadOnlySpan<char> utf16)
    {
        Span<byte> b = stackalloc byte[3 * 260];
        Utf8.FromUtf16(utf16, b, out _, out int written, replaceInvalidSequences: true);
        return Encoding.Latin1.GetString(b.Slice(0, written));
    }

    /// <summary>
    /// The VFS form to UTF-16: false if the bytes are not valid UTF-8 or the result does not fit
    /// <paramref name="dst"/> (the caller maps that to EINVAL or ENAMETOOLONG).
    /// </summary>
    public static bool FromVfs(ReadOnlySpan<char> vfsName, Span<char> dst, out int len, out bool tooLong)
    {
        len = 0;
        tooLong = false;
        if (vfsName.Length > MaxVfsBytes) { tooLong = true; return false; }
        Span<byte> b = stackalloc byte[vfsName.Length];
        for (int i = 0; i < vfsName.Length; i++)
        {
            if (vfsName[i] > 0xff) return false;
            b[i] = (byte)vfsName[i];
        }
        OperationStatus st = Utf8.ToUtf16(b, dst, out _, out len, replaceInvalidSequences: false);
        if (st == OperationStatus.DestinationTooSmall) { tooLong = true; return false; }
        return st == OperationStatus.Done;
    }

    /// <summary>Case-folds a UTF-16 name in place for lookups (upper case, invariant culture).</summary>
    public static void Fold(Span<char> s)
    {
        for (int i = 0; i < s.Length; i++) s[i] = char.ToUpperInvariant(s[i]);
    }

    public static string FoldedKey(ReadOnlySpan<char> utf16)
    {
        Span<char> t = stackalloc char[utf16.Length];
        utf16.CopyTo(t);
        Fold(t);
        return new string(t);
    }
}
