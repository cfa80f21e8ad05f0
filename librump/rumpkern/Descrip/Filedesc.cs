using System;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// A process's descriptor table (NetBSD filedesc). Lookups are lock-free: the table array and its
/// entries are published with volatile writes and a lookup takes a file reference with a
/// compare-and-swap that fails once the file is closing. <see cref="_lock"/> serialises every
/// change to the table (allocate, close, dup, grow) and protects <see cref="_cloexec"/>.
/// </summary>
public sealed class Filedesc
{
    /// <summary>Most descriptors a process may have (NetBSD's default RLIMIT_NOFILE hard limit is larger; this is the soft one).</summary>
    public const int MaxFiles = 1024;

    private readonly KMutex _lock;
    private File?[] _files;
    private bool[] _cloexec;
    private int _freeHint;
    /// <summary>Processes sharing this table (rfork without RFFDG/RFCFDG shares it).</summary>
    private int _shares = 1;

    public Filedesc(Kernel k)
    {
        _lock = new KMutex(k);
        _files = new File?[16];
        _cloexec = new bool[16];
    }

    /// <summary>The file at <paramref name="fd"/> with a reference taken, or null (EBADF). Pair with <see cref="File.Release"/>.</summary>
    public File? Get(int fd)
    {
        File?[] tab = Volatile.Read(ref _files);
        if ((uint)fd >= (uint)tab.Length) return null;
        File? f = Volatile.Read(ref tab[fd]);
        return f != null && f.TryAddRef() ? f : null;
    }

    /// <summary>Installs <paramref name="f"/> (whose creation reference becomes the table's) at the lowest free descriptor ≥ <paramref name="minfd"/>.</summary>
    public int Alloc(File f, bool cloexec, out int fd, int minfd = 0)
    {
        _lock.Enter();
        // Every descriptor below _freeHint is in use, so the search may start at the larger of the two.
        int start = Math.Max(minfd, _freeHint);
        fd = -1;
        for (int i = start; i < MaxFiles; i++)
        {
            if (i >= _files.Length) GrowLocked(i + 1);
            if (_files[i] == null) { fd = i; break; }
        }
        if (fd < 0) { _lock.Exit(); return Abi.EMFILE; }
        _cloexec[fd] = cloexec;
        Volatile.Write(ref _files[fd], f);
        if (fd == _freeHint) _freeHint = fd + 1;
        _lock.Exit();
        return 0;
    }

    private void GrowLocked(int need)
    {
        int n = _files.Length;
        while (n < need) n *= 2;
        if (n > MaxFiles) n = MaxFiles;
        var nf = new File?[n];
        Array.Copy(_files, nf, _files.Length);
        var nc = new bool[n];
        Array.Copy(_cloexec, nc, _cloexec.Length);
        _cloexec = nc;
        Volatile.Write(ref _files, nf);
    }

    /// <summary>Removes <paramref name="fd"/> from the table and drops the table's reference.</summary>
    public int Close(Lwp l, int fd)
    {
        _lock.Enter();
        if ((uint)fd >= (uint)_files.Length || _files[fd] == null) { _lock.Exit(); return Abi.EBADF; }
        File f = _files[fd]!;
        Volatile.Write(ref _files[fd], null);
        if (fd < _freeHint) _freeHint = fd;
        _lock.Exit();
        // Dropped after the lock: the last release may sleep (flushing a file system).
        f.Release(l);
        return 0;
    }

    /// <summary>dup2 semantics: makes <paramref name="newfd"/> refer to the file at <paramref name="oldfd"/>.</summary>
    public int Dup2(Lwp l, int oldfd, int newfd, bool cloexec)
    {
        if ((uint)newfd >= MaxFiles) return Abi.EBADF;
        _lock.Enter();
        if ((uint)oldfd >= (uint)_files.Length || _files[oldfd] == null) { _lock.Exit(); return Abi.EBADF; }
        File f = _files[oldfd]!;
        if (oldfd == newfd) { _lock.Exit(); return 0; }
        if (newfd >= _files.Length) GrowLocked(newfd + 1);
        File? old = _files[newfd];
        f.AddRef();
        _cloexec[newfd] = cloexec;
        Volatile.Write(ref _files[newfd], f);
        _lock.Exit();
        old?.Release(l);
        return 0;
    }

    public int GetCloexec(int fd, out bool cloexec)
    {
        _lock.Enter();
        bool ok = (uint)fd < (uint)_files.Length && _files[fd] != null;
        cloexec = ok && _cloexec[fd];
        _lock.Exit();
        return ok ? 0 : Abi.EBADF;
    }

    public int SetCloexec(int fd, bool cloexec)
    {
        _lock.Enter();
        bool ok = (uint)fd < (uint)_files.Length && _files[fd] != null;
        if (ok) _cloexec[fd] = cloexec;
        _lock.Exit();
        return ok ? 0 : Abi.EBADF;
    }

    /// <summary>A copy of this table for a forked process (RFFDG): every open file gains a reference.</summary>
    public Filedesc Copy(Kernel k)
    {
        var n = new Filedesc(k);
        _lock.Enter();
        n._files = new File?[_files.Length];
        n._cloexec = (bool[])_cloexec.Clone();
        for (int i = 0; i < _files.Length; i++)
        {
            File? f = _files[i];
            if (f != null) { f.AddRef(); n._files[i] = f; }
        }
        _lock.Exit();
        return n;
    }

    internal void AddRef() => Interlocked.Increment(ref _shares);

    /// <summary>A process stops using the table; true when it was the last and the table must be emptied.</summary>
    internal bool DropRef() => Interlocked.Decrement(ref _shares) == 0;

    /// <summary>Closes every descriptor (process exit).</summary>
    public void CloseAll(Lwp l)
    {
        for (int fd = 0; fd < Volatile.Read(ref _files).Length; fd++)
            if (Volatile.Read(ref _files[fd]) != null)
                Close(l, fd);
    }

    /// <summary>Number of open descriptors (for tests and diagnostics).</summary>
    public int Count
    {
        get
        {
            int n = 0;
            foreach (File? f in Volatile.Read(ref _files)) if (f != null) n++;
            return n;
        }
    }
}
