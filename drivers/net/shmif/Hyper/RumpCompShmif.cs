using System.Runtime.InteropServices;

namespace Rump.Net.Shmif.Hyper;

/// <summary>
/// The shmif component hypercalls (hypercall/include/rump/rumpcomp_shmif.h,
/// librumpcomp_shmif.so): the only place the kernel binds them. Loaded at the first call, so a
/// kernel that never attaches a bus does not need the library. Calls marked "blocks" in the
/// header are made without a virtual CPU (<see cref="ShmifIf"/>).
/// </summary>
internal static unsafe partial class RumpCompShmif
{
    private const string Library = "rumpcomp_shmif";

    [LibraryImport(Library)] public static partial int rumpcomp_shmif_open(byte* path, nint* busp, byte** memp);
    [LibraryImport(Library)] public static partial void rumpcomp_shmif_close(nint bus);
    [LibraryImport(Library)] public static partial int rumpcomp_shmif_lock(nint bus);
    [LibraryImport(Library)] public static partial int rumpcomp_shmif_trylock(nint bus);
    [LibraryImport(Library)] public static partial void rumpcomp_shmif_unlock(nint bus);
    [LibraryImport(Library)] public static partial ulong rumpcomp_shmif_takeovers(nint bus);
    [LibraryImport(Library)] public static partial int rumpcomp_shmif_wakeup(nint bus);
    [LibraryImport(Library)] public static partial int rumpcomp_shmif_reader_start(nint bus, delegate* unmanaged<nint, void> fn, nint arg);
    [LibraryImport(Library)] public static partial void rumpcomp_shmif_reader_stop(nint bus);
}
