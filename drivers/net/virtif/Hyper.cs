using System.Runtime.InteropServices;

namespace Rump.Net.Virtif;

/// <summary>
/// The virtif component hypercalls (hypercall/include/rump/rumpuser_virtif.h,
/// librumpuser_virtif.so): the only place the kernel binds them. rumpvif_send and
/// rumpvif_destroy block: the caller gives up its virtual CPU around them.
/// </summary>
internal static unsafe partial class RumpUserVirtif
{
    private const string Library = "rumpuser_virtif";
    public const int Batch = 32;
    /// <summary>rumpvif_create's flag: the TAP with IFF_VNET_HDR and the host's offloads, if it has them.</summary>
    public const int Offload = 0x1;

    [StructLayout(LayoutKind.Sequential)]
    public struct Hyperup
    {
        public delegate* unmanaged<nint, byte*, uint*, int, void> Rx;
        public nint Arg;
    }

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rumpvif_create(string devname, int flags, Hyperup* up, nint* vifp);
    [LibraryImport(Library)] public static partial int rumpvif_hdrlen(nint vif);
    [LibraryImport(Library)] public static partial int rumpvif_send(nint vif, byte* frame, nuint len);
    [LibraryImport(Library)] public static partial void rumpvif_destroy(nint vif);

    /// <summary>Whether librumpuser_virtif.so can be loaded.</summary>
    public static bool Available()
        => NativeLibrary.TryLoad("librumpuser_virtif.so", typeof(RumpUserVirtif).Assembly, null, out _)
           || NativeLibrary.TryLoad("librumpuser_virtif.so", out _);
}
