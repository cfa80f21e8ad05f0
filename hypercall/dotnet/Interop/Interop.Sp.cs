using System.Runtime.InteropServices;

namespace Rump.Hypercall;

/// <summary>
/// The syscall proxy's hypercalls (rumpuser(3) v17 rumpuser_sp_*): the server, and the copies to
/// and from a remote client's memory. client is the pointer the hypervisor gave hyp_lwproc_rfork.
/// Each copy is a round trip to the client: the hypercall gives up the virtual CPU while it waits.
/// Errors are NetBSD errno values (EFAULT when the client is gone or answers wrongly).
/// </summary>
public static unsafe partial class RumpUser
{
    [LibraryImport(Library)]
    public static partial int rumpuser_sp_init(byte* url, byte* ostype, byte* osrelease, byte* machine);

    [LibraryImport(Library)]
    public static partial int rumpuser_sp_copyin(nint client, nint raddr, byte* laddr, nuint len);

    // *lenp: the buffer's size in, the bytes received out (the NUL included if it came).
    [LibraryImport(Library)]
    public static partial int rumpuser_sp_copyinstr(nint client, nint raddr, byte* laddr, nuint* lenp);

    [LibraryImport(Library)]
    public static partial int rumpuser_sp_copyout(nint client, byte* laddr, nint raddr, nuint len);

    [LibraryImport(Library)]
    public static partial int rumpuser_sp_copyoutstr(nint client, byte* laddr, nint raddr, nuint* lenp);

    [LibraryImport(Library)]
    public static partial int rumpuser_sp_anonmmap(nint client, nuint len, nint* addrp);

    [LibraryImport(Library)]
    public static partial int rumpuser_sp_raise(nint client, int sig);

    // The kernel halts: client is the remote client whose reboot call this is, or 0.
    [LibraryImport(Library)]
    public static partial void rumpuser_sp_fini(nint client);
}
