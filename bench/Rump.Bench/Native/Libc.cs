using System.Runtime.InteropServices;

namespace Rump.Bench.Native;

/// <summary>
/// The host kernel through glibc, as function pointers obtained the same way as RumpLib's so
/// that both sides pay the same managed-to-native call.
/// </summary>
internal static unsafe class Libc
{
    // Linux x86-64 values.
    public const int O_RDONLY = 0x0, O_RDWR = 0x2, O_CREAT = 0x40, O_EXCL = 0x80, O_TRUNC = 0x200, O_DIRECTORY = 0x10000;
    public const long SYS_getpid = 39;

    /// <summary>syscall(2): getpid through it is a real system call every time.</summary>
    public static delegate* unmanaged<long, long> syscall0;
    /// <summary>getpagesize(3): returns a value glibc holds, no system call.</summary>
    public static delegate* unmanaged<int> getpagesize;
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
    public static delegate* unmanaged<int, byte*, nuint, nint> getdents64;
    public static delegate* unmanaged<int, long, int> ftruncate;

    public static void Load()
    {
        if (open != null) return;
        nint h = NativeLibrary.Load("libc.so.6");
        syscall0 = (delegate* unmanaged<long, long>)NativeLibrary.GetExport(h, "syscall");
        getpagesize = (delegate* unmanaged<int>)NativeLibrary.GetExport(h, "getpagesize");
        open = (delegate* unmanaged<byte*, int, uint, int>)NativeLibrary.GetExport(h, "open");
        close = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(h, "close");
        read = (delegate* unmanaged<int, byte*, nuint, nint>)NativeLibrary.GetExport(h, "read");
        write = (delegate* unmanaged<int, byte*, nuint, nint>)NativeLibrary.GetExport(h, "write");
        pread = (delegate* unmanaged<int, byte*, nuint, long, nint>)NativeLibrary.GetExport(h, "pread64");
        pwrite = (delegate* unmanaged<int, byte*, nuint, long, nint>)NativeLibrary.GetExport(h, "pwrite64");
        stat = (delegate* unmanaged<byte*, byte*, int>)NativeLibrary.GetExport(h, "stat");
        fstat = (delegate* unmanaged<int, byte*, int>)NativeLibrary.GetExport(h, "fstat");
        unlink = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(h, "unlink");
        mkdir = (delegate* unmanaged<byte*, uint, int>)NativeLibrary.GetExport(h, "mkdir");
        rmdir = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(h, "rmdir");
        getdents64 = (delegate* unmanaged<int, byte*, nuint, nint>)NativeLibrary.GetExport(h, "getdents64");
        ftruncate = (delegate* unmanaged<int, long, int>)NativeLibrary.GetExport(h, "ftruncate");
    }
}
