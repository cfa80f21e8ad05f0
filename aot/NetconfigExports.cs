#if RUMP_NET
using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump;

/// <summary>
/// rump_pub_netconfig_*: NetBSD's convenience calls to configure the kernel's interfaces from C
/// (rump/rump.h). They return 0 or an errno (NetBSD's values, as NetBSD's do). Exported only when
/// the net component is linked in.
/// </summary>
internal static unsafe class NetconfigExports
{
    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ifcreate")]
    private static int IfCreate(byte* ifname) => Call("netconfig_ifcreate", ifname, null, (k, a, _) => Rump.Net.Netinet.Netconfig.IfCreate(k, a));

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ifdestroy")]
    private static int IfDestroy(byte* ifname) => Call("netconfig_ifdestroy", ifname, null, (k, a, _) => Rump.Net.Netinet.Netconfig.IfDestroy(k, a));

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ifup")]
    private static int IfUp(byte* ifname) => Call("netconfig_ifup", ifname, null, (k, a, _) => Rump.Net.Netinet.Netconfig.IfUp(k, a));

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ifdown")]
    private static int IfDown(byte* ifname) => Call("netconfig_ifdown", ifname, null, (k, a, _) => Rump.Net.Netinet.Netconfig.IfDown(k, a));

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ipv4_ifaddr")]
    private static int Ipv4Ifaddr(byte* ifname, byte* addr, byte* mask)
    {
        if (mask == null) return Abi.EINVAL;
        string m = Marshal.PtrToStringUTF8((nint)mask)!;
        return Call("netconfig_ipv4_ifaddr", ifname, addr, (k, a, b) => Rump.Net.Netinet.Netconfig.Ipv4Ifaddr(k, a, b!, m));
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ipv4_ifaddr_cidr")]
    private static int Ipv4IfaddrCidr(byte* ifname, byte* addr, int prefix)
        => Call("netconfig_ipv4_ifaddr_cidr", ifname, addr, (k, a, b) => Rump.Net.Netinet.Netconfig.Ipv4IfaddrCidr(k, a, b!, prefix));

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ipv4_gw")]
    private static int Ipv4Gw(byte* gw) => Call("netconfig_ipv4_gw", gw, null, (k, a, _) => Rump.Net.Netinet.Netconfig.Ipv4Gw(k, a));

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_dhcp_ipv4_oneshot")]
    private static int DhcpIpv4Oneshot(byte* ifname) => Call("netconfig_dhcp_ipv4_oneshot", ifname, null, (k, a, _) => Rump.Net.Netinet.Netconfig.DhcpIpv4Oneshot(k, a));

    private static int Call(string what, byte* s1, byte* s2, Func<Kernel, string, string?, int> f)
    {
        Kernel? k = CAbi.Default;
        if (k == null) return Abi.ENXIO;
        if (s1 == null) return Abi.EINVAL;
        string a = Marshal.PtrToStringUTF8((nint)s1)!;
        string? b = s2 == null ? null : Marshal.PtrToStringUTF8((nint)s2);
        if (s2 == null && what.Contains("ifaddr")) return Abi.EINVAL;
        try
        {
            k.MaybeFault(FaultPoint.Export);
            return RumpKernel.InKernel(k, what, _ => f(k, a, b));
        }
        catch (Exception e) { return CAbi.Failed(k, e, what); }
    }
}
#endif
