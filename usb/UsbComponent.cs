using System;
using Rump.Dev;
using Rump.Dev.Scsipi;
using Rump.Kern;

namespace Rump.Usb;

/// <summary>
/// The USB stack as a kernel component: registers the hub, umass, scsibus and sd drivers with
/// autoconf. Host controllers attach themselves (ugenhc when the libusb component hypercalls are
/// present and selected; a test's controller in unit tests).
/// </summary>
public sealed class UsbComponent : IComponent
{
    private static readonly string[] s_requires = { "dev", "vfs" };
    public string Name => "usb";
    public string[] Requires => s_requires;

    public void Init(Kernel k)
    {
        Autoconf ac = k.GetService<Autoconf>() ?? throw new InvalidOperationException("usb needs the dev component");
        RegisterDrivers(ac);
    }

    /// <summary>Registers the class drivers (a driver already there is left as it is).</summary>
    public static void RegisterDrivers(Autoconf ac)
    {
        ac.AddDriver(new Uhub());
        ac.AddDriver(new Umass());
        ac.AddDriver(new Scsibus());
        ac.AddDriver(new Sd());
    }

    public void Shutdown(Kernel k, bool sync) { }
}
