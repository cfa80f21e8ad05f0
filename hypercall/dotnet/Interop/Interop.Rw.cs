using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    [LibraryImport(Library)]
    public static partial void rumpuser_rw_init(nint* rwp);

    // lk: RUMPUSER_RW_READER or RUMPUSER_RW_WRITER.  Gives up the CPU while
    // blocked.
    [LibraryImport(Library)]
    public static partial void rumpuser_rw_enter(int lk, nint rw);

    // 0 if taken, NetBSD EBUSY if not.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial int rumpuser_rw_tryenter(int lk, nint rw);

    // Always NetBSD EBUSY: pthreads cannot upgrade; callers back off.
    [LibraryImport(Library)]
    public static partial int rumpuser_rw_tryupgrade(nint rw);

    // May give up the CPU while retaking the lock shared.
    [LibraryImport(Library)]
    public static partial void rumpuser_rw_downgrade(nint rw);

    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_rw_exit(nint rw);

    [LibraryImport(Library)]
    public static partial void rumpuser_rw_destroy(nint rw);

    // WRITER: write-held by the calling lwp.  READER: read-held by anyone.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_rw_held(int lk, nint rw, int* heldp);
}
