using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// The kernel side of NetBSD's rump_pub_netconfig_* (rumpnet_netconfig): create, bring up and
/// address interfaces and set a default gateway, by name. The SIOC* ioctls will call the same
/// functions. Each returns 0 or an errno.
/// </summary>
public static class Netconfig
{
    private static (Net? net, Inet? inet) Of(Kernel k) => (k.GetService<Net>(), k.GetService<Inet>());

    public static int IfCreate(Kernel k, string ifname)
    {
        IfCloners? c = k.GetService<IfCloners>();
        Net? net = k.GetService<Net>();
        if (c == null || net == null) return Abi.ENXIO;
        return c.Create(net, ifname, out _);
    }

    public static int IfDestroy(Kernel k, string ifname)
    {
        IfCloners? c = k.GetService<IfCloners>();
        Net? net = k.GetService<Net>();
        if (c == null || net == null) return Abi.ENXIO;
        return c.Destroy(net, ifname);
    }

    /// <summary>IFF_UP (and IFF_RUNNING: these drivers have no link state to wait for).</summary>
    public static int IfUp(Kernel k, string ifname) => SetUp(k, ifname, true);

    public static int IfDown(Kernel k, string ifname) => SetUp(k, ifname, false);

    private static int SetUp(Kernel k, string ifname, bool up)
    {
        Ifnet? ifp = k.GetService<Net>()?.Find(ifname);
        if (ifp == null) return Abi.ENXIO;
        if (up) ifp.SetFlags(Ifnet.IFF_UP | Ifnet.IFF_RUNNING, 0);
        else ifp.SetFlags(0, Ifnet.IFF_UP | Ifnet.IFF_RUNNING);
        return 0;
    }

    public static int Ipv4Ifaddr(Kernel k, string ifname, string addr, string mask)
    {
        if (!TryParse(addr, out Ipv4Addr a) || !TryParse(mask, out Ipv4Addr m)) return Abi.EINVAL;
        return AddAddr(k, ifname, a, m);
    }

    public static int Ipv4IfaddrCidr(Kernel k, string ifname, string addr, int prefix)
    {
        if (!TryParse(addr, out Ipv4Addr a) || prefix < 0 || prefix > 32) return Abi.EINVAL;
        return AddAddr(k, ifname, a, new Ipv4Addr(prefix == 0 ? 0 : 0xffffffffu << (32 - prefix)));
    }

    private static int AddAddr(Kernel k, string ifname, Ipv4Addr a, Ipv4Addr m)
    {
        var (net, inet) = Of(k);
        if (net == null || inet == null) return Abi.ENXIO;
        Ifnet? ifp = net.Find(ifname);
        if (ifp == null) return Abi.ENXIO;
        return inet.AddAddress(ifp, a, m, default);
    }

    /// <summary>The default route via <paramref name="gw"/> (replacing an earlier default, as route(8) change does).</summary>
    public static int Ipv4Gw(Kernel k, string gw)
    {
        Inet? inet = k.GetService<Inet>();
        if (inet == null) return Abi.ENXIO;
        if (!TryParse(gw, out Ipv4Addr g)) return Abi.EINVAL;
        inet.DeleteRoute(Ipv4Addr.Any, Ipv4Addr.Any);
        return inet.AddRoute(Ipv4Addr.Any, Ipv4Addr.Any, g);
    }

    /// <summary>Leases an address for <paramref name="ifname"/> by DHCP and configures it (<see cref="DhcpClient"/>).</summary>
    public static int DhcpIpv4Oneshot(Kernel k, string ifname) => DhcpClient.Oneshot(k, ifname);

    /// <summary>Dotted-quad IPv4 (inet_pton: exactly four decimal parts 0-255, no leading zeros past one digit).</summary>
    public static bool TryParse(string s, out Ipv4Addr a)
    {
        a = default;
        uint v = 0;
        int parts = 0, i = 0;
        while (parts < 4)
        {
            int start = i, n = 0;
            while (i < s.Length && s[i] >= '0' && s[i] <= '9' && i - start < 3) n = n * 10 + (s[i++] - '0');
            if (i == start || n > 255 || (i - start > 1 && s[start] == '0')) return false;
            v = v << 8 | (uint)n;
            parts++;
            if (parts < 4) { if (i >= s.Length || s[i] != '.') return false; i++; }
        }
        if (i != s.Length) return false;
        a = new Ipv4Addr(v);
        return true;
    }
}
