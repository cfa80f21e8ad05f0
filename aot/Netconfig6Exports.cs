#if RUMP_NET
using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump;

/// <summary>
/// rump_pub_netconfig_ipv6_ifaddr and _ipv6_gw (NetBSD's rump.h signatures): IPv6 addresses and
/// the default route from C. 0 or a NetBSD errno. Exported only when the net component is linked in.
/// </summary>
internal static unsafe class Netconfig6Exports
{
    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ipv6_ifaddr")]
    private static int Ipv6Ifaddr(byte* ifname, byte* addr, int prefixlen)
    {
        if (ifname == null || addr == null) return Abi.EINVAL;
        string i = Marshal.PtrToStringUTF8((nint)ifname)!, a = Marshal.PtrToStringUTF8((nint)addr)!;
        return Call("netconfig_ipv6_ifaddr", k => Rump.Net.Netinet6.Netconfig6.Ipv6Ifaddr(k, i, a, prefixlen));
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_netconfig_ipv6_gw")]
    private static int Ipv6Gw(byte* gw)
    {
        if (gw == null) return Abi.EINVAL;
        string g = Marshal.PtrToStringUTF8((nint)gw)!;
        return Call("netconfig_ipv6_gw", k => Rump.Net.Netinet6.Netconfig6.Ipv6Gw(k, g));
    }

    private static int Call(string what, Func<Kernel, int> f)
    {
        Kernel? k = CAbi.Default;
        if (k == null) return Abi.ENXIO;
        try
        {
            k.MaybeFault(FaultPoint.Export);
            return RumpKernel.InKernel(k, what, _ => f(k));
        }
        catch (Exception e) { return CAbi.Failed(k, e, what); }
    }
}
#endif
