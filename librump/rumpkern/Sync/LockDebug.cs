#if LOCKDEBUG
using System.Collections.Generic;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// Lock debugging (NetBSD's LOCKDEBUG, with WITNESS-style order checking), compiled in only when
/// the kernel is built in the LockDebug configuration (<c>-c LockDebug</c>; ctest runs the NUnit suite so built).
///
/// - A lock's class is where it was constructed (file and line): all vnodes' locks made at one
///   line are one class.
/// - Each lwp keeps the locks it holds. Taking a lock it already holds panics ("locking against
///   myself"), for a mutex and for a reader/writer lock either way (a second read hold deadlocks
///   against a waiting writer); releasing one it does not hold panics.
/// - Taking a lock of class B while holding one of class A records the order A → B for the
///   kernel. A new order that closes a cycle (B → ... → A already seen) panics with the path,
///   whether or not the threads involved ever met: the deadlock that order allows is reported the
///   first time both orders are used.
///
/// Locks: <see cref="_lock"/>, a spin flag, protects the graph; it is held for a lookup and is not
/// a kernel lock (checking must not recurse into itself). An lwp's held list is its own.
/// </summary>
internal sealed class LockDebug
{
    private readonly Dictionary<string, HashSet<string>> _after = new();
    private int _lock;

    /// <summary>The lwp whose holds are tracked, or null (no context here: nothing is checked).</summary>
    private static Lwp? Holder(Kernel k) => k.CurlwpOrNull();

    internal void Acquiring(Kernel k, object lk, string cls, bool tryOnly)
    {
        Lwp? l = Holder(k);
        if (l == null) return;
        List<(object Lock, string Class)> held = l.HeldLocks;
        // A try of a lock the lwp holds just fails (it cannot deadlock); a blocking enter would.
        if (tryOnly) return;
        foreach (var h in held)
            if (ReferenceEquals(h.Lock, lk))
                k.PanicHere("lockdebug: locking against myself: " + cls + " (" + l + ")");
        foreach (var h in held)
            if (h.Class != cls) AddOrder(k, h.Class, cls);
    }

    internal void Acquired(Kernel k, object lk, string cls)
    {
        Lwp? l = Holder(k);
        l?.HeldLocks.Add((lk, cls));
    }

    internal void Releasing(Kernel k, object lk, string cls)
    {
        Lwp? l = Holder(k);
        if (l == null) return;
        List<(object Lock, string Class)> held = l.HeldLocks;
        for (int i = held.Count - 1; i >= 0; i--)
            if (ReferenceEquals(held[i].Lock, lk)) { held.RemoveAt(i); return; }
        // A panic's unwinding releases what it can; anything else is a bug.
        if (!k.IsDead) k.PanicHere("lockdebug: releasing a lock not held: " + cls + " (" + l + ")");
    }

    private void AddOrder(Kernel k, string a, string b)
    {
        string? cycle = null;
        while (Interlocked.CompareExchange(ref _lock, 1, 0) != 0) CpuPause.Pause(4);
        if (!_after.TryGetValue(a, out HashSet<string>? next)) _after[a] = next = new HashSet<string>();
        if (next.Add(b))
            cycle = PathLocked(b, a, new HashSet<string>());
        Volatile.Write(ref _lock, 0);
        if (cycle != null)
            k.PanicHere("lockdebug: lock order reversal: " + a + " then " + b + ", but earlier " + cycle);
    }

    /// <summary>A path of recorded orders from <paramref name="from"/> to <paramref name="to"/>, or null.</summary>
    private string? PathLocked(string from, string to, HashSet<string> seen)
    {
        if (from == to) return to;
        if (!seen.Add(from) || !_after.TryGetValue(from, out HashSet<string>? next)) return null;
        foreach (string n in next)
        {
            string? rest = PathLocked(n, to, seen);
            if (rest != null) return from + " then " + rest;
        }
        return null;
    }

    internal static string Class(string file, int line)
    {
        int slash = file.LastIndexOfAny(new[] { '/', '\\' });
        return (slash >= 0 ? file.Substring(slash + 1) : file) + ":" + line;
    }
}
#endif
