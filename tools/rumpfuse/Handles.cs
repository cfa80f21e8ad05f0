using System.Collections.Generic;
using Rump.Vfs;

namespace Rump.Fuse;

/// <summary>An open file or directory: the fh of fuse_file_info names one. It holds its own vnode reference.</summary>
internal sealed class OpenFile
{
    public readonly Vnode Vp;
    /// <summary>NetBSD f_flag: FREAD/FWRITE and the status flags it was opened with.</summary>
    public readonly int FFlag;
    /// <summary>A directory's entries, read whole at opendir and again at offset 0 (guarded by lock(this)).</summary>
    public List<DirEntry>? Entries;
    public OpenFile(Vnode vp, int fflag) { Vp = vp; FFlag = fflag; }
}

/// <summary>One directory entry as readdir hands it to FUSE: the name NUL-terminated.</summary>
internal readonly record struct DirEntry(byte[] NameZ, ulong Ino, byte Type);

/// <summary>The fh values of open files (never reused). Lock: <see cref="_lock"/> protects the map only.</summary>
internal sealed class Handles
{
    private readonly object _lock = new();
    private readonly Dictionary<ulong, OpenFile> _map = new();
    private ulong _next = 1;

    public ulong Add(OpenFile f)
    {
        lock (_lock)
        {
            ulong h = _next++;
            _map[h] = f;
            return h;
        }
    }

    public OpenFile? Get(ulong h)
    {
        lock (_lock) return _map.TryGetValue(h, out OpenFile? f) ? f : null;
    }

    public OpenFile? Remove(ulong h)
    {
        lock (_lock) return _map.Remove(h, out OpenFile? f) ? f : null;
    }

    /// <summary>Every open file left (at shutdown), removed.</summary>
    public List<OpenFile> Clear()
    {
        lock (_lock)
        {
            var l = new List<OpenFile>(_map.Values);
            _map.Clear();
            return l;
        }
    }
}
