using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// The network faction as a kernel component: publishes the kernel's <see cref="Net"/> (the
/// interface table with lo0) for interface drivers, and its IPv4 (<see cref="Netinet.Inet"/>), for
/// the socket layer and the configuration calls.
/// At halt every interface is detached, so no driver's host thread enters the kernel after it.
/// </summary>
public sealed class NetComponent : IComponent
{
    public string Name => "net";
    public string[] Requires => System.Array.Empty<string>();

    public void Init(Kernel k)
    {
        var net = new Net(k);
        k.SetService(net);
        k.SetService(new IfCloners(k));
        k.SetService(new Netinet.Inet(net));
    }

    public void Shutdown(Kernel k, bool sync) => k.GetService<Net>()?.Shutdown();
}
