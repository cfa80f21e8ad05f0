using System;
using System.Text;
using Rump.Dev;
using Rump.Dev.Scsipi;
using Rump.Hypercall;
using Rump.Kern;
using Rump.Usb.Hyper;

namespace Rump.Usb;

/// <summary>
/// The USB stack as a kernel component: when the boot parameter RUMP_USB is set, registers the
/// drivers (ugenhc, uhub, umass, scsibus, sd, ukbd, uhidev, uhid, ugen) with autoconf, and once the kernel has booted (the root file system is there for /dev nodes)
/// attaches ugenhc when the boot parameter RUMP_USB selects host devices ("all", "VVVV:PPPP",
/// "BUS.ADDR", comma-separated) and librumpuser_usb.so loads. Without RUMP_USB nothing touches
/// libusb. RUMP_USB_PROBE=1 only lists (rumpusb list): devices are enumerated and the drivers
/// that would attach are printed, nothing attaches or is claimed. Devices are detached (and libusb stopped) by the device faction's shutdown, after the
/// file systems on them are unmounted.
/// </summary>
public sealed class UsbComponent : IComponent
{
    private static readonly string[] s_requires = { "dev", "vfs" };
    public string Name => "usb";
    public string[] Requires => s_requires;

    public void Init(Kernel k)
    {
        // Without RUMP_USB the component costs nothing at boot: registering drivers would start
        // autoconf's thread, and a kernel with no USB devices needs no USB drivers.
        string? sel = Param("RUMP_USB");
        if (string.IsNullOrEmpty(sel) || sel == "none") return;
        Autoconf ac = k.GetService<Autoconf>() ?? throw new InvalidOperationException("usb needs the dev component");
        RegisterDrivers(ac);
        ac.AddDriver(new Ugenhc());
        k.OnBooted(_ => AttachHost(k, ac, sel));
    }

    private static void AttachHost(Kernel k, Autoconf ac, string sel)
    {
        if (!RumpUserUsb.Available())
        {
            k.Aprint("ugenhc: RUMP_USB is set but librumpuser_usb.so (and libusb-1.0) cannot be loaded\n");
            return;
        }
        string? probe = Param("RUMP_USB_PROBE");
        int e = UgenhcBus.Create(k, sel, !string.IsNullOrEmpty(probe) && probe != "0", out UgenhcBus? bus);
        if (e != 0) { k.Aprint("ugenhc: libusb does not start (error " + e + ")\n"); return; }
        if (ac.ConfigFound(ac.Root, bus!) == null) bus!.Fini();
    }

    /// <summary>Registers the class drivers (a driver already there is left as it is).</summary>
    public static void RegisterDrivers(Autoconf ac)
    {
        ac.AddDriver(new Uhub());
        ac.AddDriver(new Umass());
        ac.AddDriver(new Scsibus());
        ac.AddDriver(new Sd());
        ac.AddDriver(new Ukbd());
        ac.AddDriver(new Uhidev());
        ac.AddDriver(new Uhid());
        ac.AddDriver(new Ugen());
    }

    private static unsafe string? Param(string name)
    {
        byte* buf = stackalloc byte[256];
        byte[] n = Encoding.UTF8.GetBytes(name + "\0");
        int rv;
        fixed (byte* np = n) rv = RumpUser.rumpuser_getparam(np, buf, 256);
        return rv == 0 ? new string((sbyte*)buf) : null;
    }

    public void Shutdown(Kernel k, bool sync) { }
}
