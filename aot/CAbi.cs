using System;
using System.Threading;
using Rump.Hypercall;
using Rump.Kern;

[module: System.Runtime.CompilerServices.SkipLocalsInit]

namespace Rump;

/// <summary>
/// The C ABI's view of the kernel: C callers have one, default, kernel instance (as NetBSD's
/// rump). This reference is the only static state in the library and belongs to the C glue, not
/// to the kernel: the managed API can boot as many instances as it likes.
/// No exception leaves here: errors become the host's errno, kernel bugs a panic.
/// </summary>
internal static class CAbi
{
    private static Kernel? s_default;
    private static int s_booting;

    public static Kernel? Default => Volatile.Read(ref s_default);

    /// <summary>rump_init(): boot the default kernel if there is none (or it has halted). Returns 0 or an errno.</summary>
    public static int Init()
    {
        Kernel? k = Default;
        if (k != null && !k.Halted) return 0;
        while (Interlocked.CompareExchange(ref s_booting, 1, 0) != 0) Thread.SpinWait(64);
        try
        {
            k = Default;
            if (k != null && !k.Halted) return 0;
            var cfg = new KernelConfig { Components = Components.Linked() };
            int e = Kernel.Boot(cfg, out Kernel? nk, out string? why);
            if (e != 0)
            {
                Print("rump_init: " + (why ?? "boot failed") + "\n");
                return e;
            }
            Volatile.Write(ref s_default, nk);
            return 0;
        }
        catch (Exception ex)
        {
            Kernel.Panic("rump_init: " + ex);
            return Abi.EIO;
        }
        finally { Volatile.Write(ref s_booting, 0); }
    }

    /// <summary>The system-call path from C: dispatch on the default kernel, set errno on failure.</summary>
    public static long Syscall(int num, ref SyscallArgs a)
    {
        Kernel? k = Volatile.Read(ref s_default);
        int error;
        long rv;
        if (k == null) { error = Abi.ENXIO; rv = -1; }
        else
        {
            // Handlers' exceptions are caught in the kernel; this catches the entry path's own.
            try { rv = k.Syscall(num, ref a, out error); }
            catch (Exception e) { Kernel.Panic("system call entry: " + e); error = Abi.EIO; rv = -1; }
        }
        if (error != 0)
        {
            // Last thing before returning to C: later host calls could change errno.
            RumpUser.rumpuser_seterrno(error);
            return -1;
        }
        return rv;
    }

    /// <summary>Sets the caller's errno from a NetBSD errno and returns the C convention (-1 or 0).</summary>
    public static int Errno(int error)
    {
        if (error == 0) return 0;
        RumpUser.rumpuser_seterrno(error);
        return -1;
    }

    private static void Print(string s)
    {
        foreach (byte b in System.Text.Encoding.UTF8.GetBytes(s)) RumpUser.rumpuser_putchar(b);
    }
}
