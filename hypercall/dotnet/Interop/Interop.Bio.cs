using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // Queues the transfer and returns.  biodone(donearg, bytes, error) is
    // called later on a host worker thread with no kernel context (no CPU,
    // no lwp; the workers serve every kernel in the process); error is a
    // NetBSD errno.  data must stay valid until then.  op: RUMPUSER_BIO_*.
    [LibraryImport(Library)]
    public static partial void rumpuser_bio(int fd, int op, void* data, nuint dlen, long off,
        delegate* unmanaged<nint, nuint, int, void> biodone, nint donearg);
}
