using System.Runtime.InteropServices;

namespace Rump.Fuse.Interop;

/// <summary>The libc calls rumpfuse makes itself: leaving the terminal, who it runs as, a detaching unmount.</summary>
internal static partial class Libc
{
    [LibraryImport("libc", EntryPoint = "setsid")]
    public static partial int Setsid();

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "dup2")]
    public static partial int Dup2(int from, int to);

    [LibraryImport("libc", EntryPoint = "getuid")]
    public static partial uint Getuid();

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint Geteuid();

    [LibraryImport("libc", EntryPoint = "getgid")]
    public static partial uint Getgid();

    [LibraryImport("libc", EntryPoint = "chdir", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chdir(string path);

    [LibraryImport("libc", EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);

    public const int O_RDWR = 2, MNT_DETACH = 2;
}
