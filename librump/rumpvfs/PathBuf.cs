using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A path in kernel memory (NetBSD pathbuf(9)): copied in from the caller once
/// (<see cref="CopyIn"/>) or made from a kernel string (<see cref="Set(string)"/>), then looked up by
/// <see cref="Namei"/> as often as needed without reading the caller's memory again. So the path a
/// system call looks up is the path it records (a mount point's name), a retried lookup sees the same
/// path, and kernel callers never pass kernel addresses as caller pointers. The storage is the
/// caller's (a stack buffer of <see cref="Namei.PathMax"/> chars); each char holds one byte of the
/// path (Latin-1), which is how namei and the file systems take names.
/// </summary>
public ref struct PathBuf
{
    private readonly Span<char> _buf;
    private int _len;

    /// <param name="storage">At least <see cref="Namei.PathMax"/> chars.</param>
    public PathBuf(Span<char> storage)
    {
        if (storage.Length < Namei.PathMax) Kernel.Panic("a path buffer holds PATH_MAX chars");
        _buf = storage;
        _len = 0;
    }

    /// <summary>The path (never empty once set).</summary>
    public readonly ReadOnlySpan<char> Chars => _buf.Slice(0, _len);

    public readonly int Length => _len;

    /// <summary>Copies a NUL-terminated path from the caller's address space, once. ENOENT for "", ENAMETOOLONG past PATH_MAX, EFAULT.</summary>
    public int CopyIn(Lwp l, UserPtr path)
    {
        // The bytes land in the upper half of the buffer and are widened in place, from the front:
        // char i overwrites bytes 2i and 2i+1, never a byte not yet read (byte i sits at PathMax + i).
        Span<byte> raw = MemoryMarshal.AsBytes(_buf.Slice(0, Namei.PathMax));
        Span<byte> b = raw.Slice(Namei.PathMax);
        int e = l.Proc.Vmspace.CopyInStr(path, b, out int len);
        if (e != 0) return e;
        if (len == 0) return Abi.ENOENT;
        Span<char> d = _buf;
        for (int i = 0; i < len; i++) d[i] = (char)b[i];
        _len = len;
        return 0;
    }

    /// <summary>A path from kernel memory (its bytes, without a NUL). ENOENT for "", ENAMETOOLONG past PATH_MAX.</summary>
    public int Set(scoped ReadOnlySpan<byte> path)
    {
        if (path.Length == 0) return Abi.ENOENT;
        if (path.Length >= Namei.PathMax) return Abi.ENAMETOOLONG;
        // One char per byte (a plain loop: paths are short, and a decoder's setup costs more).
        Span<char> d = _buf;
        for (int i = 0; i < path.Length; i++) d[i] = (char)path[i];
        _len = path.Length;
        return 0;
    }

    /// <summary>A path held in a kernel string (encoded as UTF-8, as the caller's would be).</summary>
    public int Set(string path)
    {
        Span<byte> b = stackalloc byte[Namei.PathMax];
        if (System.Text.Encoding.UTF8.GetByteCount(path) >= Namei.PathMax) return Abi.ENAMETOOLONG;
        int n = System.Text.Encoding.UTF8.GetBytes(path, b);
        return Set(b.Slice(0, n));
    }

    /// <summary>The path's bytes as a string one char per byte (what namei and the mount table hold).</summary>
    public override readonly string ToString() => new string(Chars);
}
