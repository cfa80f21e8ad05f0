using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>Kernel time, read from the host through rumpuser_clock_gettime.</summary>
public static unsafe class Clock
{
    /// <summary>Wall-clock time as a NetBSD timespec.</summary>
    public static RumpTimespec Now()
    {
        long sec; nint nsec;
        RumpUser.rumpuser_clock_gettime(RumpUserConst.RUMPUSER_CLOCK_RELWALL, &sec, &nsec);
        return new RumpTimespec { tv_sec = sec, tv_nsec = nsec };
    }

    /// <summary>Monotonic nanoseconds (uptime-like), for timeouts and callouts.</summary>
    public static long MonotonicNs()
    {
        long sec; nint nsec;
        RumpUser.rumpuser_clock_gettime(RumpUserConst.RUMPUSER_CLOCK_ABSMONO, &sec, &nsec);
        return sec * 1_000_000_000 + nsec;
    }
}

public sealed partial class Kernel
{
    /// <summary>
    /// Sleeps <paramref name="ns"/> nanoseconds (NetBSD kpause). The hypercall gives up the
    /// virtual CPU through the backend-unschedule upcall while the host thread sleeps.
    /// </summary>
    public int Kpause(long ns)
    {
        if (ns <= 0) return 0;
        return RumpUser.rumpuser_clock_sleep(RumpUserConst.RUMPUSER_CLOCK_RELWALL, ns / 1_000_000_000, (nint)(ns % 1_000_000_000));
    }
}
