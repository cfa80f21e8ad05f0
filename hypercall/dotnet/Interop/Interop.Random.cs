using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // flags: RUMPUSER_RANDOM_*.  *retp is the count written (may be short
    // only with RUMPUSER_RANDOM_NOWAIT).
    [LibraryImport(Library)]
    public static partial int rumpuser_getrandom(void* buf, nuint buflen, int flags, nuint* retp);
}
