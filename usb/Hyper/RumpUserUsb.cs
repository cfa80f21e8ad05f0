using System.Runtime.InteropServices;

namespace Rump.Usb.Hyper;

/// <summary>
/// The USB component hypercalls (hypercall/include/rump/rumpuser_usb.h, librumpuser_usb.so): the
/// only place the kernel binds them. Only ugenhc calls these. The library is loaded lazily (it
/// needs libusb), so a kernel without it boots; <see cref="Available"/> says whether it loads.
/// Calls marked "blocks" in the header are made without a virtual CPU (see Ugenhc.Blocking).
/// </summary>
internal static unsafe partial class RumpUserUsb
{
    private const string Library = "rumpuser_usb";
    public const int Version = 2;

    public const int XferControl = 0, XferBulk = 2, XferInterrupt = 3;

    [StructLayout(LayoutKind.Sequential)]
    public struct Hyperup
    {
        public delegate* unmanaged<nint, ulong, int, void> Hotplug;
        public delegate* unmanaged<nint, int, nuint, void> XferDone;
        public nint Arg;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct DevInfo
    {
        public ulong DevId;
        public byte Bus, Addr, Speed;
        public ushort Vendor, Product;
        public fixed byte Node[64];
        /// <summary>bDeviceClass (9: a hub), how many of <see cref="Path"/> are set, and the port numbers from the root hub down.</summary>
        public byte DevClass, Depth;
        public fixed byte Path[7];
    }

    /// <summary>Whether librumpuser_usb.so can be loaded (and with it libusb).</summary>
    public static bool Available()
    {
        if (!NativeLibrary.TryLoad("librumpuser_usb.so", typeof(RumpUserUsb).Assembly, null, out nint h)
            && !NativeLibrary.TryLoad("librumpuser_usb.so", out h))
            return false;
        return NativeLibrary.TryGetExport(h, "rumpusb_init", out _);
    }

    [LibraryImport(Library)] public static partial int rumpusb_init(Hyperup* up, nint* ctxp);
    [LibraryImport(Library)] public static partial void rumpusb_fini(nint ctx);
    [LibraryImport(Library)] public static partial int rumpusb_devices(nint ctx, DevInfo* v, nuint n, nuint* countp);
    [LibraryImport(Library)] public static partial int rumpusb_open(nint ctx, ulong devid, nint* devp);
    [LibraryImport(Library)] public static partial void rumpusb_close(nint dev);
    [LibraryImport(Library)] public static partial int rumpusb_set_config(nint dev, int config);
    [LibraryImport(Library)] public static partial int rumpusb_claim(nint dev, int iface);
    [LibraryImport(Library)] public static partial int rumpusb_release(nint dev, int iface);
    [LibraryImport(Library)] public static partial int rumpusb_set_alt(nint dev, int iface, int alt);
    [LibraryImport(Library)] public static partial int rumpusb_clear_halt(nint dev, byte ep);
    [LibraryImport(Library)] public static partial int rumpusb_reset(nint dev);
    [LibraryImport(Library)] public static partial void* rumpusb_alloc(nint dev, nuint len);
    [LibraryImport(Library)] public static partial void rumpusb_free(nint dev, void* buf, nuint len);
    [LibraryImport(Library)] public static partial int rumpusb_is_zerocopy(nint dev, void* buf);
    [LibraryImport(Library)] public static partial int rumpusb_submit(nint dev, int type, byte ep, void* buf, nuint len, uint timeoutMs, nint cookie, nint* xferp);
    [LibraryImport(Library)] public static partial int rumpusb_cancel(nint xfer);
}
