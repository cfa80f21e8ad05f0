using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // fun(arg) runs on a new host thread named thrname (cut to 15 bytes).
    // With mustjoin, *cookie receives the handle for rumpuser_thread_join;
    // otherwise cookie may be null.  priority and cpuidx are hints only.
    [LibraryImport(Library)]
    public static partial int rumpuser_thread_create(delegate* unmanaged<nint, nint> fun, nint arg,
        byte* thrname, int mustjoin, int priority, int cpuidx, nint* cookie);

    // Ends a thread made by rumpuser_thread_create: fun never returns
    // (rumpuser(3)).  On pthreads this is pthread_exit, whose forced unwind
    // stops at the first frame without unwind information and jumps to the
    // thread's start, running no managed cleanup: call it last, holding no
    // CPU, no lock and no lwp.
    [LibraryImport(Library)]
    [DoesNotReturn]
    public static partial void rumpuser_thread_exit();

    [LibraryImport(Library)]
    public static partial int rumpuser_thread_join(nint cookie);
}
