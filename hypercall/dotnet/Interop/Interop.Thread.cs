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

    // pthread_exit: unwinds the host thread.  Never call it with managed
    // frames on the stack; a managed thread body should return from fun.
    [LibraryImport(Library)]
    [DoesNotReturn]
    public static partial void rumpuser_thread_exit();

    [LibraryImport(Library)]
    public static partial int rumpuser_thread_join(nint cookie);
}
