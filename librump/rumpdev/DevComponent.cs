using Rump.Kern;

namespace Rump.Dev;

/// <summary>
/// The device faction as a kernel component: publishes the kernel's <see cref="Autoconf"/> (with
/// mainbus0 at the root and the hw.devices sysctl) for drivers, which register themselves with
/// it. At halt it runs the deferred work left and detaches every device (forced), after the
/// components that initialised later (the file systems on those devices) have shut down.
/// </summary>
public sealed class DevComponent : IComponent
{
    public string Name => "dev";
    public string[] Requires => System.Array.Empty<string>();

    public void Init(Kernel k) => k.SetService(new Autoconf(k));

    public void Shutdown(Kernel k, bool sync) => k.GetService<Autoconf>()?.Shutdown(k.CurlwpOrBind());
}
