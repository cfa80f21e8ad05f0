using System;
using System.Numerics;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// A process's descriptor table (NetBSD filedesc), lock-free: threads of one process open and
/// close files on several CPUs at once without serialising on a table lock.
///
/// - <see cref="_used"/> is a bitmap of taken descriptor numbers. Allocation finds the lowest
///   clear bit at or above the minimum and sets it with a compare-and-swap, so the lowest free
///   descriptor is always the one returned (POSIX). Closing empties the slot, then clears the bit.
/// - <see cref="_files"/> holds the open file of each taken number; a lookup reads the slot and
///   takes a file reference with a compare-and-swap that fails once the file is closing. A number
///   whose bit is set but whose slot is still empty (being installed) looks closed: EBADF.
/// - The table has all <see cref="MaxFiles"/> slots from the start (9 KiB), so it never grows and
///   needs no lock at all.
/// <see cref="_cloexec"/> flags are plain bytes: a flag read while another thread changes it sees
/// either value.
/// </summary>
public sealed class Filedesc
{
    /// <summary>Most descriptors a process may have (NetBSD's default soft RLIMIT_NOFILE is 1024 too).</summary>
    public const int MaxFiles = 1024;

    private readonly File?[] _files = new File?[MaxFiles];
    private readonly ulong[] _used = new ulong[MaxFiles / 64];
    private readonly bool[] _cloexec = new bool[MaxFiles];
    /// <summary>Processes sharing this table (rfork without RFFDG/RFCFDG shares it).</summary>
    private int _shares = 1;

    /// <summary>The file at <paramref name="fd"/> with a reference taken, or null (EBADF). Pair with <see cref="File.Release"/>.</summary>
    public File? Get(int fd)
    {
        if ((uint)fd >= MaxFiles) return null;
        File? f = Volatile.Read(ref _files[fd]);
        return f != null && f.TryAddRef() ? f : null;
    }

    /// <summary>Takes the lowest free number ≥ <paramref name="minfd"/>, or -1.</summary>
    private int Reserve(int minfd)
    {
        for (int w = minfd >> 6; w < _used.Length; w++)
        {
            ulong mask = w == minfd >> 6 ? ~0UL << (minfd & 63) : ~0UL;
            while (true)
            {
                ulong cur = Volatile.Read(ref _used[w]);
                ulong free = ~cur & mask;
                if (free == 0) break;
                ulong bit = 1UL << BitOperations.TrailingZeroCount(free);
                if (Interlocked.CompareExchange(ref _used[w], cur | bit, cur) == cur)
                    return (w << 6) + BitOperations.TrailingZeroCount(bit);
            }
        }
        return -1;
    }

    private void Unreserve(int fd) => Interlocked.And(ref _used[fd >> 6], ~(1UL << (fd & 63)));

    /// <summary>Installs <paramref name="f"/> (whose creation reference becomes the table's) at the lowest free descriptor ≥ <paramref name="minfd"/>.</summary>
    public int Alloc(File f, bool cloexec, out int fd, int minfd = 0)
    {
        fd = Reserve(minfd);
        if (fd < 0) return Abi.EMFILE;
        _cloexec[fd] = cloexec;
        Volatile.Write(ref _files[fd], f);
        return 0;
    }

    /// <summary>Removes <paramref name="fd"/> from the table and drops the table's reference.</summary>
    public int Close(Lwp l, int fd)
    {
        if ((uint)fd >= MaxFiles) return Abi.EBADF;
        File? f = Interlocked.Exchange(ref _files[fd], null);
        if (f == null) return Abi.EBADF;
        Unreserve(fd);
        // The last release may sleep (flushing a file system): nothing is held here.
        f.Release(l);
        return 0;
    }

    /// <summary>dup2 semantics: makes <paramref name="newfd"/> refer to the file at <paramref name="oldfd"/>.</summary>
    public int Dup2(Lwp l, int oldfd, int newfd, bool cloexec)
    {
        if ((uint)newfd >= MaxFiles) return Abi.EBADF;
        File? f = Get(oldfd);
        if (f == null) return Abi.EBADF;
        if (oldfd == newfd) { f.Release(l); return 0; }
        // Our lookup reference becomes the new slot's reference.
        Interlocked.Or(ref _used[newfd >> 6], 1UL << (newfd & 63));
        _cloexec[newfd] = cloexec;
        File? old = Interlocked.Exchange(ref _files[newfd], f);
        old?.Release(l);
        return 0;
    }

    public int GetCloexec(int fd, out bool cloexec)
    {
        cloexec = false;
        if ((uint)fd >= MaxFiles || Volatile.Read(ref _files[fd]) == null) return Abi.EBADF;
        cloexec = Volatile.Read(ref _cloexec[fd]);
        return 0;
    }

    public int SetCloexec(int fd, bool cloexec)
    {
        if ((uint)fd >= MaxFiles || Volatile.Read(ref _files[fd]) == null) return Abi.EBADF;
        Volatile.Write(ref _cloexec[fd], cloexec);
        return 0;
    }

    /// <summary>A copy of this table for a forked process (RFFDG): every open file gains a reference.</summary>
    public Filedesc Copy()
    {
        var n = new Filedesc();
        for (int i = 0; i < MaxFiles; i++)
        {
            File? f = Get(i);
            if (f == null) continue;
            n._files[i] = f;
            n._used[i >> 6] |= 1UL << (i & 63);
            n._cloexec[i] = Volatile.Read(ref _cloexec[i]);
        }
        return n;
    }

    internal void AddRef() => Interlocked.Increment(ref _shares);

    /// <summary>A process stops using the table; true when it was the last and the table must be emptied.</summary>
    internal bool DropRef() => Interlocked.Decrement(ref _shares) == 0;

    /// <summary>Closes every descriptor (process exit).</summary>
    public void CloseAll(Lwp l)
    {
        for (int fd = 0; fd < MaxFiles; fd++)
            if (Volatile.Read(ref _files[fd]) != null)
                Close(l, fd);
    }

    /// <summary>Number of open descriptors (for tests and diagnostics).</summary>
    public int Count
    {
        get
        {
            int n = 0;
            foreach (File? f in _files) if (f != null) n++;
            return n;
        }
    }
}
