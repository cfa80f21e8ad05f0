using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // The value is returned in buf as a NUL-terminated string.
    [LibraryImport(Library)]
    public static partial int rumpuser_getparam(byte* name, void* buf, nuint buflen);
}
