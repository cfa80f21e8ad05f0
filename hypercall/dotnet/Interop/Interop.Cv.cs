using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    [LibraryImport(Library)]
    public static partial void rumpuser_cv_init(nint* cvp);

    [LibraryImport(Library)]
    public static partial void rumpuser_cv_destroy(nint cv);

    // Releases mtx and gives up the CPU (interlock = mtx) while waiting.
    [LibraryImport(Library)]
    public static partial void rumpuser_cv_wait(nint cv, nint mtx);

    // Waits holding the CPU.
    [LibraryImport(Library)]
    public static partial void rumpuser_cv_wait_nowrap(nint cv, nint mtx);

    // sec/nsec is relative.  0 if signalled, NetBSD ETIMEDOUT if not.
    [LibraryImport(Library)]
    public static partial int rumpuser_cv_timedwait(nint cv, nint mtx, long sec, long nsec);

    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_cv_signal(nint cv);

    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_cv_broadcast(nint cv);

    // Call holding the interlock mutex.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_cv_has_waiters(nint cv, int* waitersp);
}
