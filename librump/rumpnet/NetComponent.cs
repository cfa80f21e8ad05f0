using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// The network faction as a kernel component: publishes the kernel's <see cref="Net"/> (the
/// interface table with lo0, the protocol table) for interface drivers and protocols, its IPv4
/// (<see cref="Netinet.Inet"/>), its IPv6 (<see cref="Netinet6.Inet6"/>) and interface cloners, and registers the socket system calls (a
/// kernel without net answers them ENOSYS).
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
        Uipc.Attach(k, net);
        var inet = new Netinet.Inet(net);
        k.SetService(inet);
        Netinet.UdpPcbList.AttachSysctl(k, inet.Udp);
        Netinet.TcpProto tcp = Netinet.TcpProto.Attach(k, inet);
        var inet6 = new Netinet6.Inet6(net);
        k.SetService(inet6);
        // For looking and tuning; a kernel whose tree refuses it still does IPv6.
        inet6.AttachSysctl();
        Netinet.TcpProto.AttachInet6(k, tcp, inet6);
        Route.RouteSock.Attach(k, net);
        Netinet.RawIp.Attach(inet);
        NetSyscalls.Register(k.Syscalls);
    }

    public void Shutdown(Kernel k, bool sync)
    {
        k.GetService<Netinet.TcpProto>()?.Stop();
        k.GetService<Net>()?.Shutdown();
    }
}
