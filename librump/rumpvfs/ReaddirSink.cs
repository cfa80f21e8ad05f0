using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>Helps a file system's readdir put whole NetBSD dirent records into the caller's buffer.</summary>
public static class ReaddirSink
{
    /// <summary>
    /// Appends one record if it fits in what is left of <paramref name="uio"/>; <paramref name="full"/>
    /// says it did not (the caller stops and resumes from this entry's cookie next time).
    /// </summary>
    public static int Add(ref Uio uio, ulong fileno, VType type, ReadOnlySpan<char> name, out bool full)
    {
        int reclen = Dirent.RecLen(name.Length);
        if (reclen > uio.Resid) { full = true; return 0; }
        full = false;
        Span<byte> rec = stackalloc byte[reclen];
        Dirent.Emit(rec, fileno, Vattr.TypeToDirentType(type), name);
        return uio.Move((ReadOnlySpan<byte>)rec);
    }
}
