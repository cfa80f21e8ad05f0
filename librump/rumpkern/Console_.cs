using System;
using System.Text;
using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// The kernel console (NetBSD's cons(4) output path and printf(9)/aprint(9)). Every message goes
/// into the printing kernel's <see cref="MsgBuf"/> (what dmesg reads through sysctl kern.msgbuf)
/// and, unless it is a quiet boot message, to the host through rumpuser_putchar. Text is encoded
/// to UTF-8 in stack chunks: printing allocates nothing, per message or per character.
/// No lock here: the message buffer has its own, and rumpuser_putchar gathers lines per host thread.
/// </summary>
internal static class Console_
{
    /// <summary>Characters encoded per chunk; 4 bytes each at most in UTF-8, so 256 bytes always suffice.</summary>
    private const int ChunkChars = 64;

    /// <summary>Prints for the kernel the calling thread runs in (Kernel.Reboot's halt message), or only to the host if none.</summary>
    public static void Print(string s) => Print(CurrentKernel(), s, toConsole: true);

    /// <summary>"panic: msg" into <paramref name="k"/>'s message buffer and to the console.</summary>
    public static void Panic(Kernel? k, string msg)
    {
        Print(k, "panic: ", toConsole: true);
        Print(k, msg, toConsole: true);
        Print(k, "\n", toConsole: true);
    }

    public static void Print(Kernel? k, ReadOnlySpan<char> s, bool toConsole)
    {
        Span<byte> chunk = stackalloc byte[ChunkChars * 4];
        while (s.Length > 0)
        {
            int n = Math.Min(s.Length, ChunkChars);
            // Never split a surrogate pair between two chunks.
            if (n < s.Length && char.IsHighSurrogate(s[n - 1])) n--;
            int bytes = Encoding.UTF8.GetBytes(s.Slice(0, n), chunk);
            ReadOnlySpan<byte> b = chunk.Slice(0, bytes);
            k?.MsgBuf.Append(b);
            if (toConsole)
                foreach (byte c in b) RumpUser.rumpuser_putchar(c);
            s = s.Slice(n);
        }
    }

    private static Kernel? CurrentKernel()
    {
        Lwp? l = Lwp.FromHandle(RumpUser.rumpuser_curlwp());
        return l?.Kernel;
    }
}

/// <summary>
/// A kernel instance's message buffer (NetBSD's struct kern_msgbuf and its log): the last
/// <see cref="Size"/> bytes printed, in a ring. The ring starts small and doubles as text arrives
/// until it reaches <see cref="Size"/>, and only then wraps, so a kernel pays memory for what it
/// printed. Read back the way NetBSD's sysctl_msgbuf copies it: the whole ring, oldest byte first,
/// with NULs where nothing was written yet (dmesg skips them).
///
/// <see cref="_lock"/> is a spin lock, held for one copy and never while sleeping or calling out,
/// so any context may print, interrupt and soft-interrupt handlers included. It protects
/// <see cref="_ring"/>, <see cref="_bufx"/> and <see cref="_written"/>.
/// </summary>
public sealed class MsgBuf
{
    /// <summary>Bytes kept: 16 KiB, four of NetBSD's amd64 pages.</summary>
    public const int DefaultSize = 16384;
    private const int FirstCapacity = 1024;

    private byte[] _ring = Array.Empty<byte>();
    /// <summary>Where the next byte goes (NetBSD msg_bufx); once the ring is full size and has wrapped, the oldest byte.</summary>
    private int _bufx;
    private long _written;
    private int _lock;

    public int Size { get; }

    public MsgBuf(int size = DefaultSize) { Size = size; }

    /// <summary>Bytes printed since boot, including those the ring has since overwritten.</summary>
    public long Written { get { Enter(); long w = _written; Exit(); return w; } }

    public void Append(ReadOnlySpan<byte> b)
    {
        if (b.Length == 0) return;
        Enter();
        _written += b.Length;
        // Only the last Size bytes of a long message can survive.
        if (b.Length > Size) b = b.Slice(b.Length - Size);
        if (_ring.Length < Size && _bufx + b.Length > _ring.Length) Grow(_bufx + b.Length);
        byte[] ring = _ring;
        int first = Math.Min(b.Length, ring.Length - _bufx);
        b.Slice(0, first).CopyTo(ring.AsSpan(_bufx));
        b.Slice(first).CopyTo(ring);
        _bufx = (_bufx + b.Length) % ring.Length;
        Exit();
    }

    /// <summary>Called with the lock held before the ring first wraps: its text is at [0, _bufx).</summary>
    private void Grow(int need)
    {
        int cap = Math.Max(_ring.Length, FirstCapacity);
        while (cap < need && cap < Size) cap *= 2;
        var ring = new byte[Math.Min(cap, Size)];
        _ring.AsSpan(0, _bufx).CopyTo(ring);
        _ring = ring;
    }

    /// <summary>
    /// The ring as kern.msgbuf returns it: up to <see cref="Size"/> bytes into <paramref name="dst"/>,
    /// oldest first, NULs where nothing was written. Returns the number of bytes copied.
    /// </summary>
    public int CopyOut(Span<byte> dst)
    {
        int n = Math.Min(dst.Length, Size);
        Enter();
        // A ring smaller than Size has never wrapped: Size - _bufx unwritten bytes come first.
        int unwritten = _ring.Length < Size ? Size - _bufx : 0;
        int z = Math.Min(n, unwritten);
        dst.Slice(0, z).Clear();
        if (unwritten > 0)
            _ring.AsSpan(0, n - z).CopyTo(dst.Slice(z));
        else
        {
            int first = Math.Min(n, _ring.Length - _bufx);
            _ring.AsSpan(_bufx, first).CopyTo(dst);
            _ring.AsSpan(0, n - first).CopyTo(dst.Slice(first));
        }
        Exit();
        return n;
    }

    /// <summary>What dmesg prints: the kept text, oldest first, without the never-written NULs.</summary>
    public string Text()
    {
        byte[] all = new byte[Size];
        CopyOut(all);
        int start = 0;
        while (start < all.Length && all[start] == 0) start++;
        return Encoding.UTF8.GetString(all, start, all.Length - start);
    }

    private void Enter()
    {
        while (Interlocked.CompareExchange(ref _lock, 1, 0) != 0) CpuPause.Pause(4);
    }

    private void Exit() => Volatile.Write(ref _lock, 0);
}

/// <summary>The console side of a kernel instance: its message buffer and its printf.</summary>
public sealed partial class Kernel
{
    /// <summary>This kernel's message buffer: everything it printed (dmesg, sysctl kern.msgbuf).</summary>
    public readonly MsgBuf MsgBuf = new();

    private int _verbose = -1;

    /// <summary>Kernel printf(9): the message buffer and the console.</summary>
    public void Printf(ReadOnlySpan<char> s) => Console_.Print(this, s, toConsole: true);

    /// <summary>
    /// aprint_normal(9) for boot and autoconfiguration messages: always into the message buffer,
    /// to the console only when the RUMP_VERBOSE parameter is set and not "0" (NetBSD's rump
    /// kernels boot silently the same way), so that tests booting many kernels stay quiet.
    /// </summary>
    public void Aprint(ReadOnlySpan<char> s) => Console_.Print(this, s, toConsole: Verbose);

    private bool Verbose
    {
        get
        {
            int v = Volatile.Read(ref _verbose);
            if (v < 0)
            {
                string? p = Param.Get("RUMP_VERBOSE");
                v = p != null && p.Length > 0 && p != "0" ? 1 : 0;
                Volatile.Write(ref _verbose, v);
            }
            return v == 1;
        }
    }
}
