using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // Non-zero if version is not RUMPUSER_VERSION.  May be called again (by
    // another kernel instance); the latest table then serves all instances.
    [LibraryImport(Library)]
    public static partial int rumpuser_init(int version, RumpUserHyperup* hyp);
}
