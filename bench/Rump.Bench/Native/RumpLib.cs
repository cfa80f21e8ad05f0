using System;
using System.IO;
using System.Runtime.InteropServices;

namespace Rump.Bench.Native;

/// <summary>
/// librump.so's C ABI (&lt;rump/rump.h&gt;, &lt;rump/rump_syscalls.h&gt;) as function pointers, loaded by path
/// exactly as Libc is: both sides of every benchmark pay the same managed-to-native call.
/// System calls return -1 and set errno on failure (Marshal.GetLastSystemError is not used:
/// the benchmarks only check for -1).
/// </summary>
internal static unsafe class RumpLib
{
    // NetBSD values from <rump/rumpdefs.h>.
    public const int O_RDONLY = 0x0, O_RDWR = 0x2, O_CREAT = 0x200, O_TRUNC = 0x400, O_EXCL = 0x800, O_DIRECTORY = 0x200000;

    public static string Path { get; private set; } = "";

    public static delegate* unmanaged<int> init;
    public static delegate* unmanaged<int> getversion;
    public static delegate* unmanaged<int> getpid;
    public static delegate* unmanaged<byte*, int, uint, int> open;
    public static delegate* unmanaged<int, int> close;
    public static delegate* unmanaged<int, byte*, nuint, nint> read;
    public static delegate* unmanaged<int, byte*, nuint, nint> write;
    public static delegate* unmanaged<int, byte*, nuint, long, nint> pread;
    public static delegate* unmanaged<int, byte*, nuint, long, nint> pwrite;
    public static delegate* unmanaged<byte*, byte*, int> stat;
    public static delegate* unmanaged<int, byte*, int> fstat;
    public static delegate* unmanaged<byte*, int> unlink;
    public static delegate* unmanaged<byte*, uint, int> mkdir;
    public static delegate* unmanaged<byte*, int> rmdir;
    public static delegate* unmanaged<int, byte*, nuint, int> getdents;
    public static delegate* unmanaged<int, long, int> ftruncate;
    public static delegate* unmanaged<byte*, byte*, int, void*, nuint, int> mount;

    public const int TMPFS_ARGS_VERSION = 1;

    /// <summary>NetBSD's struct tmpfs_args (&lt;rump/rumpdefs.h&gt;, 40 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TmpfsArgs
    {
        public int Version;
        public ulong NodesMax;
        public long SizeMax;
        public uint RootUid, RootGid, RootMode;
    }

    /// <summary>Loads librump.so (RUMP_LIB, else build/lib/librump.so above the working directory).</summary>
    public static void Load()
    {
        if (init != null) return;
        Path = Find();
        nint h = NativeLibrary.Load(Path);
        init = (delegate* unmanaged<int>)NativeLibrary.GetExport(h, "rump_init");
        getversion = (delegate* unmanaged<int>)NativeLibrary.GetExport(h, "rump_getversion");
        getpid = (delegate* unmanaged<int>)NativeLibrary.GetExport(h, "rump_sys_getpid");
        open = (delegate* unmanaged<byte*, int, uint, int>)NativeLibrary.GetExport(h, "rump_sys_open");
        close = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(h, "rump_sys_close");
        read = (delegate* unmanaged<int, byte*, nuint, nint>)NativeLibrary.GetExport(h, "rump_sys_read");
        write = (delegate* unmanaged<int, byte*, nuint, nint>)NativeLibrary.GetExport(h, "rump_sys_write");
        pread = (delegate* unmanaged<int, byte*, nuint, long, nint>)NativeLibrary.GetExport(h, "rump_sys_pread");
        pwrite = (delegate* unmanaged<int, byte*, nuint, long, nint>)NativeLibrary.GetExport(h, "rump_sys_pwrite");
        stat = (delegate* unmanaged<byte*, byte*, int>)NativeLibrary.GetExport(h, "rump_sys_stat");
        fstat = (delegate* unmanaged<int, byte*, int>)NativeLibrary.GetExport(h, "rump_sys_fstat");
        unlink = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(h, "rump_sys_unlink");
        mkdir = (delegate* unmanaged<byte*, uint, int>)NativeLibrary.GetExport(h, "rump_sys_mkdir");
        rmdir = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(h, "rump_sys_rmdir");
        getdents = (delegate* unmanaged<int, byte*, nuint, int>)NativeLibrary.GetExport(h, "rump_sys_getdents");
        ftruncate = (delegate* unmanaged<int, long, int>)NativeLibrary.GetExport(h, "rump_sys_ftruncate");
        mount = (delegate* unmanaged<byte*, byte*, int, void*, nuint, int>)NativeLibrary.GetExport(h, "rump_sys_mount");
    }

    private static string Find()
    {
        string? env = Environment.GetEnvironmentVariable("RUMP_LIB");
        if (!string.IsNullOrEmpty(env)) return System.IO.Path.GetFullPath(env);
        for (string? d = Directory.GetCurrentDirectory(); d != null; d = System.IO.Path.GetDirectoryName(d))
        {
            string p = System.IO.Path.Combine(d, "build", "lib", "librump.so");
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException("librump.so not found: set RUMP_LIB or build the library into build/lib");
    }
}
