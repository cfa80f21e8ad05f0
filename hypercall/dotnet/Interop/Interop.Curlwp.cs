using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // op: RUMPUSER_LWP_*.  SET needs no current lwp; CLEAR passes the
    // current one.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_curlwpop(int op, nint l);

    // The calling host thread's lwp, or 0.  One TLS load.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial nint rumpuser_curlwp();
}
