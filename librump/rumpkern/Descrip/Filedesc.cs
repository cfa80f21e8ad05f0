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
///   descriptor is always the one returned (POSIX).
/// - <see cref="_files"/> holds the open file of each taken number; a lookup reads the slot and
///   takes a file reference with a compare-and-swap that fails once the file is closing.
/// - The table has all <see cref="MaxFiles"/> slots from the start (9 KiB), so it never grows.
///
/// Each number is in one of these states (bit = its bit in <see cref="_used"/>, slot = its entry
/// in <see cref="_files"/>):
///   free       bit 0, slot null
///   larval     bit 1, slot null: an allocation owns it (Alloc, or Dup2 onto a free number)
///   open       bit 1, slot = the file
///   replacing  bit 1, slot = <see cref="_replacing"/>: a Dup2 owns it while it swaps the file
///   closing    bit 1, slot null: a Close took the file out and is about to clear the bit
/// A bit is set before its slot is filled and cleared only after it was emptied, so a filled
/// slot always has its bit set, and a set bit is never taken by an allocation. Only the owner of
/// a larval or replacing number writes its slot and its close-on-exec flag: two installs can never
/// overwrite each other (dup2 onto a number being allocated or closed once leaked the file that
/// lost). Get, Close and Dup2 that meet a number owned by another thread wait for it: the owner
/// is between two plain stores and never blocks there. Lookups, Alloc and Close of open numbers
/// take no lock and do not wait.
///
/// <see cref="_cloexec"/> flags belong to the number, as NetBSD's fdfile: F_SETFD racing with
/// another thread's close and reuse of the same number may land on either file.
/// </summary>
public sealed class Filedesc
{
    /// <summary>Most descriptors a process may have (NetBSD's default soft RLIMIT_NOFILE is 1024 too).</summary>
    public const int MaxFiles = 1024;

    private readonly File?[] _files = new File?[MaxFiles];
    private readonly ulong[] _used = new ulong[MaxFiles / 64];
    private readonly bool[] _cloexec = new bool[MaxFiles];
    /// <summary>The slot value of a number whose file a Dup2 is replacing; never opened, takes no references.</summary>
    private readonly File _replacing = new ReplacingMarker();
    /// <summary>Processes sharing this table (rfork without RFFDG/RFCFDG shares it).</summary>
    private int _shares = 1;

    private sealed class ReplacingMarker : File
    {
        protected override void Close(Lwp l) { }
    }

    /// <summary>The file at <paramref name="fd"/> with a reference taken, or null (EBADF). Pair with <see cref="File.Release"/>.</summary>
    public File? Get(int fd)
    {
        if ((uint)fd >= MaxFiles) return null;
        File? f = Volatile.Read(ref _files[fd]);
        if (f != null && f.TryAddRef()) return f;
        return f == null ? null : GetSlow(fd, f);
    }

    /// <summary>
    /// The file at <paramref name="fd"/> now, without a reference (null if none or being replaced):
    /// for listings (kern.file2) that read a few fields and keep nothing.
    /// </summary>
    internal File? Peek(int fd)
    {
        if ((uint)fd >= MaxFiles) return null;
        File? f = Volatile.Read(ref _files[fd]);
        return f == _replacing ? null : f;
    }

    /// <summary>The slot held a file that is closing (EBADF), or a Dup2 is replacing it: wait for the new one.</summary>
    private File? GetSlow(int fd, File f)
    {
        for (int spins = 0; f == _replacing; )
        {
            Backoff(ref spins);
            File? now = Volatile.Read(ref _files[fd]);
            if (now == null) return null;
            f = now;
        }
        return f.TryAddRef() ? f : null;
    }

    /// <summary>Waits a little longer each time for another thread to leave a larval, closing or replacing state.</summary>
    private static void Backoff(ref int spins)
    {
        CpuPause.Pause(spins < 8 ? 1 << spins : 256);
        spins++;
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
        // Larval and ours: nobody else writes the slot or its flag until it holds the file.
        _cloexec[fd] = cloexec;
        Volatile.Write(ref _files[fd], f);
        return 0;
    }

    /// <summary>Removes <paramref name="fd"/> from the table and drops the table's reference.</summary>
    public int Close(Lwp l, int fd)
    {
        if ((uint)fd >= MaxFiles) return Abi.EBADF;
        ref File? slot = ref _files[fd];
        File? f = Volatile.Read(ref slot);
        for (int spins = 0; ; )
        {
            // Free, larval or closing: not open (yet, or any more).
            if (f == null) return Abi.EBADF;
            if (f == _replacing)
            {
                Backoff(ref spins);
                f = Volatile.Read(ref slot);
                continue;
            }
            File? seen = Interlocked.CompareExchange(ref slot, null, f);
            if (seen == f) break;
            f = seen;
        }
        // Closing: the bit goes last, so no allocation can take the number while the slot was full.
        Unreserve(fd);
        // The last release may sleep (flushing a file system): nothing is held here.
        f.Release(l);
        return 0;
    }

    /// <summary>dup2 semantics: makes <paramref name="newfd"/> refer to the file at <paramref name="oldfd"/>, atomically closing what it referred to.</summary>
    public int Dup2(Lwp l, int oldfd, int newfd, bool cloexec)
    {
        if ((uint)newfd >= MaxFiles) return Abi.EBADF;
        File? f = Get(oldfd);
        if (f == null) return Abi.EBADF;
        if (oldfd == newfd) { f.Release(l); return 0; }
        ref File? slot = ref _files[newfd];
        ref ulong word = ref _used[newfd >> 6];
        ulong bit = 1UL << (newfd & 63);
        File? old = null;
        for (int spins = 0; ; )
        {
            File? cur = Volatile.Read(ref slot);
            if (cur == null)
            {
                ulong w = Volatile.Read(ref word);
                if ((w & bit) == 0)
                {
                    // Free: take it as an allocation does; a changed word (another number) is retried at once.
                    if (Interlocked.CompareExchange(ref word, w | bit, w) == w) break;
                    continue;
                }
                // Larval or closing: another thread's for two stores; then it is open or free.
            }
            else if (cur != _replacing)
            {
                // Open: own it while the flag and the file change, so no other install can interleave.
                if (Interlocked.CompareExchange(ref slot, _replacing, cur) == cur) { old = cur; break; }
                continue;
            }
            Backoff(ref spins);
        }
        // Our lookup reference becomes the slot's reference.
        Volatile.Write(ref _cloexec[newfd], cloexec);
        Volatile.Write(ref slot, f);
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
