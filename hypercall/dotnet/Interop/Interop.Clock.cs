using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // clock: RUMPUSER_CLOCK_RELWALL (wall time) or RUMPUSER_CLOCK_ABSMONO.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial int rumpuser_clock_gettime(int clock, long* sec, nint* nsec);

    // RELWALL: sleep for sec/nsec; ABSMONO: sleep until that monotonic time.
    [LibraryImport(Library)]
    public static partial int rumpuser_clock_sleep(int clock, long sec, nint nsec);
}
