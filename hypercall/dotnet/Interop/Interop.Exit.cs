using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // sig is a NetBSD signal number; it is raised in this process.
    [LibraryImport(Library)]
    public static partial int rumpuser_kill(long pid, int sig);

    // RUMPUSER_PANIC aborts (core dump), anything else exits the process.
    [LibraryImport(Library)]
    [DoesNotReturn]
    public static partial void rumpuser_exit(int value);
}
