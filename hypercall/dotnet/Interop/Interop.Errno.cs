using System.Runtime.InteropServices;

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // Sets the host errno of the calling thread to the host's equivalent of
    // a NetBSD errno, for system call clients.  Any later host call may
    // change errno again, so set it last before returning to the client.
    [LibraryImport(Library)]
    [SuppressGCTransition]
    public static partial void rumpuser_seterrno(int error);
}
