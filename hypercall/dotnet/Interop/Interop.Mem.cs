using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // alignment: a power of two, 0 for pointer alignment.
    [LibraryImport(Library)]
    public static partial int rumpuser_malloc(nuint len, int alignment, void** memp);

    // len is the length given to rumpuser_malloc.
    [LibraryImport(Library)]
    public static partial void rumpuser_free(void* mem, nuint len);

    // alignbit: log2 of the wanted alignment, 0 for page alignment.
    [LibraryImport(Library)]
    public static partial int rumpuser_anonmmap(void* prefaddr, nuint size, int alignbit, int exec, void** memp);

    [LibraryImport(Library)]
    public static partial void rumpuser_unmap(void* addr, nuint len);
}
