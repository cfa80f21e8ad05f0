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
///
/// No exception leaves here: every export catches. An exception from kernel code panics that
/// kernel (its calls then fail with ENXIO); errors become the host's errno, translated here from
/// the kernel's NetBSD values so that it holds on any hypervisor (rumpuser_seterrno stores what it
/// is given, as NetBSD's does).
/// </summary>
internal static class CAbi
{
    private static Kernel? s_default;
    private static int s_booting;
    /// <summary>rump_boot_setsigmodel's choice, for the next kernel rump_init boots.</summary>
    internal static int SigModel = Abi.SIGMODEL_RAISE;

    public static Kernel? Default => Volatile.Read(ref s_default);

    /// <summary>rump_init(): boot the default kernel if there is none (or it halted or panicked). Returns 0 or an errno.</summary>
    public static int Init()
    {
        try
        {
            Kernel? k = Default;
            if (k != null && !k.IsDead) return 0;
            while (Interlocked.CompareExchange(ref s_booting, 1, 0) != 0) Thread.Yield();
            try
            {
                k = Default;
                if (k != null && !k.IsDead) return 0;
                var cfg = new KernelConfig { Components = Components.Linked(), SigModel = Volatile.Read(ref SigModel) };
                int e = Kernel.Boot(cfg, out Kernel? nk, out string? why);
                if (e != 0)
                {
                    Print("rump_init: " + (why ?? "boot failed") + "\n");
                    return e;
                }
                Volatile.Write(ref s_default, nk);
                return 0;
            }
            finally { Volatile.Write(ref s_booting, 0); }
        }
        catch (Exception ex)
        {
            // Boot catches the kernel's own exceptions; this is the glue's.
            Print("rump_init: " + ex + "\n");
            return Abi.EIO;
        }
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
            catch (Exception e) { error = Failed(k, e, "system call entry"); rv = -1; }
        }
        if (error != 0)
        {
            // Last thing before returning to C: later host calls could change errno.
            RumpUser.rumpuser_seterrno(HostErrno.FromNetbsd(error));
            return -1;
        }
        return rv;
    }

    /// <summary>An export caught an exception: the kernel panics (if it was not a panic already); the caller gets ENXIO.</summary>
    public static int Failed(Kernel? k, Exception e, string where)
    {
        if (k != null) k.RecordPanic(e, where + ": ");
        else Print("rump: " + where + ": " + e + "\n");
        return Abi.ENXIO;
    }

    private static void Print(string s)
    {
        foreach (byte b in System.Text.Encoding.UTF8.GetBytes(s)) RumpUser.rumpuser_putchar(b);
    }
}
