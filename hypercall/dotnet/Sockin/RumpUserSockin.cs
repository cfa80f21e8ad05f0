using System.Runtime.InteropServices;

namespace Rump.Hypercall;

/// <summary>
/// The sockin component hypercalls (hypercall/include/rump/rumpuser_sockin.h,
/// librumpuser_sockin.so): the only place the kernel binds them (librump/rumpnet/Sockin calls them). Addresses, option names and
/// errnos are NetBSD's on both sides; the library translates to the host's. None of these
/// waits (the host sockets are non-blocking) except <see cref="rumpsockin_fini"/>.
/// </summary>
public static unsafe partial class RumpUserSockin
{
    private const string Library = "rumpuser_sockin";
    public const int In = 1, Out = 2;

    [StructLayout(LayoutKind.Sequential)]
    public struct Hyperup
    {
        public delegate* unmanaged<nint, ulong, int, void> Ready;
        public nint Arg;
    }

    /// <summary>Whether librumpuser_sockin.so can be loaded.</summary>
    public static bool Available()
    {
        if (!NativeLibrary.TryLoad("librumpuser_sockin.so", typeof(RumpUserSockin).Assembly, null, out nint h)
            && !NativeLibrary.TryLoad("librumpuser_sockin.so", out h))
            return false;
        return NativeLibrary.TryGetExport(h, "rumpsockin_init", out _);
    }

    [LibraryImport(Library)] public static partial int rumpsockin_init(Hyperup* up, nint* ctxp);
    [LibraryImport(Library)] public static partial void rumpsockin_fini(nint ctx);
    [LibraryImport(Library)] public static partial int rumpsockin_socket(int family, int type, int proto, int* fdp);
    [LibraryImport(Library)] public static partial int rumpsockin_close(int fd);
    [LibraryImport(Library)] public static partial int rumpsockin_watch(nint ctx, int fd, ulong cookie, int events);
    [LibraryImport(Library)] public static partial int rumpsockin_unwatch(nint ctx, int fd);
    [LibraryImport(Library)] public static partial int rumpsockin_bind(int fd, byte* sa, nuint salen);
    [LibraryImport(Library)] public static partial int rumpsockin_connect(int fd, byte* sa, nuint salen);
    [LibraryImport(Library)] public static partial int rumpsockin_disconnect(int fd);
    [LibraryImport(Library)] public static partial int rumpsockin_listen(int fd, int backlog);
    [LibraryImport(Library)] public static partial int rumpsockin_accept(int fd, int* newfdp, byte* sa, nuint* salenp);
    [LibraryImport(Library)] public static partial int rumpsockin_send(int fd, byte* buf, nuint len, byte* sa, nuint salen, nuint* sentp);
    [LibraryImport(Library)] public static partial int rumpsockin_recv(int fd, byte* buf, nuint len, byte* sa, nuint* salenp, nuint* recvdp);
    [LibraryImport(Library)] public static partial int rumpsockin_nextlen(int fd, nuint* lenp);
    [LibraryImport(Library)] public static partial int rumpsockin_getname(int fd, int peer, byte* sa, nuint* salenp);
    [LibraryImport(Library)] public static partial int rumpsockin_setopt(int fd, int level, int name, byte* val, nuint len);
    [LibraryImport(Library)] public static partial int rumpsockin_getopt(int fd, int level, int name, byte* val, nuint* lenp);
    [LibraryImport(Library)] public static partial int rumpsockin_shutdown(int fd, int how);
    [LibraryImport(Library)] public static partial int rumpsockin_soerror(int fd, int* errorp);
}
