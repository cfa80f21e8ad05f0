using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // flags: RUMPUSER_MTX_SPIN and/or RUMPUSER_MTX_KMUTEX, at least one.
    [LibraryImport(Library)]
    public static partial void rumpuser_mutex_init(nint* mtxp, int flags);

    // Gives up the CPU while blocked, unless the mutex is SPIN.
    [LibraryImport(Library)]
    public static partial void rumpuser_mutex_enter(nint mtx);

    // SPIN mutexes only; never gives up the CPU.
    [LibraryImport(Library)]
    public static partial void rumpuser_mutex_enter_nowrap(nint mtx);

    // 0 if taken, NetBSD EBUSY if not.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial int rumpuser_mutex_tryenter(nint mtx);

    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_mutex_exit(nint mtx);

    [LibraryImport(Library)]
    public static partial void rumpuser_mutex_destroy(nint mtx);

    // KMUTEX mutexes only: the owning lwp, or 0.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_mutex_owner(nint mtx, nint* lp);

    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial int rumpuser_mutex_spin_p(nint mtx);
}
