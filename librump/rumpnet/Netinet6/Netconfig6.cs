using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet6;

/// <summary>
/// The IPv6 half of NetBSD's rump_pub_netconfig_* (rumpnet_netconfig.c): an address with its
/// prefix length on an interface, and the default route. Each returns 0 or an errno.
/// </summary>
public static class Netconfig6
{
    /// <summary>rump_pub_netconfig_ipv6_ifaddr(ifname, addr, prefixlen): ENXIO for no such interface, EINVAL for a bad address or prefix length.</summary>
    public static int Ipv6Ifaddr(Kernel k, string ifname, string addr, int prefixlen)
    {
        Net? net = k.GetService<Net>();
        Inet6? in6 = k.GetService<Inet6>();
        if (net == null || in6 == null) return Abi.ENXIO;
        if (!In6.TryParse(addr, out Ipv6Addr a) || prefixlen is < 0 or > 128) return Abi.EINVAL;
        Ifnet? ifp = net.Find(ifname);
        if (ifp == null) return Abi.ENXIO;
        return in6.AddAddress(ifp, a, prefixlen);
    }

    /// <summary>
    /// rump_pub_netconfig_ipv6_gw(gwaddr): the default route via <paramref name="gw"/>, replacing
    /// an earlier one. A link-local gateway names its interface as "fe80::1%shmif0"; a global one
    /// must be on a connected prefix (ENETUNREACH).
    /// </summary>
    public static int Ipv6Gw(Kernel k, string gw)
    {
        Net? net = k.GetService<Net>();
        Inet6? in6 = k.GetService<Inet6>();
        if (net == null || in6 == null) return Abi.ENXIO;
        Ifnet? ifp = null;
        int pct = gw.IndexOf('%');
        if (pct >= 0)
        {
            ifp = net.Find(gw.Substring(pct + 1));
            if (ifp == null) return Abi.ENXIO;
            gw = gw.Substring(0, pct);
        }
        if (!In6.TryParse(gw, out Ipv6Addr g)) return Abi.EINVAL;
        if (g.IsLinkLocal && ifp == null) return Abi.EINVAL;
        Rt6Entry? old = null;
        foreach (Rt6Entry r in in6.Routes()) if (r.PrefixLength == 0) old = r;
        if (old != null) in6.DeleteRoute(Ipv6Addr.Unspecified, 0);
        int e = in6.AddRoute(Ipv6Addr.Unspecified, 0, g, ifp);
        if (e != 0 && old != null) in6.AddRoute(Ipv6Addr.Unspecified, 0, old.Gateway, old.Ifp, old.Flags & ~Rt6Entry.RTF_GATEWAY);
        return e;
    }
}
