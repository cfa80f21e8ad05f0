using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // mode: RUMPUSER_OPEN_* flags.
    [LibraryImport(Library)]
    public static partial int rumpuser_open(byte* name, int mode, int* fdp);

    [LibraryImport(Library)]
    public static partial int rumpuser_close(int fd);

    // size and type (RUMPUSER_FT_*) may be null.
    [LibraryImport(Library)]
    public static partial int rumpuser_getfileinfo(byte* name, ulong* size, int* type);

    // off: byte offset, or RUMPUSER_IOV_NOSEEK.
    [LibraryImport(Library)]
    public static partial int rumpuser_iovread(int fd, RumpUserIovec* ruiov, nuint iovlen, long off, nuint* retv);

    [LibraryImport(Library)]
    public static partial int rumpuser_iovwrite(int fd, RumpUserIovec* ruiov, nuint iovlen, long off, nuint* retv);

    // flags: RUMPUSER_SYNCFD_*.
    [LibraryImport(Library)]
    public static partial int rumpuser_syncfd(int fd, int flags, ulong start, ulong len);
}
