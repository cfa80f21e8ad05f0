using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Route;

/// <summary>One IPv4 route (NetBSD's rtentry, reduced to what forwarding a packet needs).</summary>
public sealed class RtEntry
{
    // NetBSD's route.h flags (the routing socket passes them on as they are).
    public const int RTF_UP = Abi.RTF_UP, RTF_GATEWAY = Abi.RTF_GATEWAY, RTF_HOST = Abi.RTF_HOST, RTF_STATIC = Abi.RTF_STATIC,
        RTF_CONNECTED = Abi.RTF_CONNECTED, RTF_LOCAL = Abi.RTF_LOCAL, RTF_DYNAMIC = Abi.RTF_DYNAMIC;

    public readonly Ipv4Addr Dst, Mask;
    public readonly Ipv4Addr Gateway;
    public readonly int Flags;
    public readonly Ifnet Ifp;
    /// <summary>The source address packets over this route get by default (the interface's address that made a connected route).</summary>
    public readonly Ipv4Addr IfAddr;
    public readonly int PrefixLength;

    // Path MTU (RFC 1191; NetBSD's rt_rmx.rmx_mtu, RTV_MTU in rmx_locks, and the rt_timer of
    // ip_mtudisc_timeout_q). Written under Inet's configuration lock; Mtu and MtuLocked are read
    // on the output path without it (a stale read costs one more ICMP, never a wrong packet).
    /// <summary>The path MTU learned for destinations of this route, 0 for none (the interface's MTU applies).</summary>
    public int Mtu;
    /// <summary>
    /// Path-MTU discovery is off for this route: a router reported an MTU below 296 or above the
    /// interface's (NetBSD sets RTV_MTU then), so packets go without DF and may be fragmented.
    /// </summary>
    public bool MtuLocked;
    /// <summary>When (monotonic ms) what was learned expires, 0 for never: a dynamic host route is deleted, another forgets its MTU.</summary>
    public long ExpireMs;

    public RtEntry(Ipv4Addr dst, Ipv4Addr mask, Ipv4Addr gateway, int flags, Ifnet ifp, Ipv4Addr ifaddr)
    {
        Mask = mask;
        Dst = new Ipv4Addr(dst.Value & mask.Value);
        Gateway = gateway;
        Flags = flags | RTF_UP | (mask.Value == 0xffffffff ? RTF_HOST : 0);
        Ifp = ifp;
        IfAddr = ifaddr;
        PrefixLength = System.Numerics.BitOperations.PopCount(mask.Value);
    }

    public bool IsGateway => (Flags & RTF_GATEWAY) != 0;
    public bool IsDynamicHost => (Flags & (RTF_DYNAMIC | RTF_HOST)) == (RTF_DYNAMIC | RTF_HOST);
    /// <summary>The MTU packets over this route must fit: the path MTU if one was learned, else the interface's.</summary>
    public int PathMtu { get { int m = Volatile.Read(ref Mtu); return m != 0 && m < Ifp.Mtu ? m : Ifp.Mtu; } }
    public bool Matches(Ipv4Addr a) => (a.Value & Mask.Value) == Dst.Value;
    /// <summary>Where a packet to <paramref name="dst"/> goes next on the link: the gateway, or the destination itself.</summary>
    public Ipv4Addr NextHop(Ipv4Addr dst) => IsGateway ? Gateway : dst;
    public override string ToString() => $"{Dst}/{PrefixLength} {(IsGateway ? "via " + Gateway : "link")} dev {Ifp.Name} flags {Flags:x}";
}

/// <summary>
/// The IPv4 routing table (NetBSD's rtable for AF_INET): routes kept longest prefix first, so
/// the first match is the longest-prefix match. A dozen routes is the usual size here (connected
/// routes of each address, a default gateway, a few static ones), so a linear scan beats a radix
/// tree; <see cref="Lookup"/> allocates nothing. Not locked: <see cref="Netinet.Inet"/>'s
/// configuration lock protects it. Masks must be contiguous (NetBSD refuses others too).
/// </summary>
public sealed class RouteTable
{
    private readonly List<RtEntry> _routes = new();

    public int Count => _routes.Count;
    /// <summary>Some route has had an expiry (<see cref="RtEntry.ExpireMs"/>): lookups need the clock from then on.</summary>
    public bool HasExpiring;

    public static bool IsContiguous(Ipv4Addr mask) => (~mask.Value & (~mask.Value + 1)) == 0;

    /// <summary>Adds a route (RTM_ADD): EEXIST if one with the same destination and mask is there, EINVAL for a non-contiguous mask.</summary>
    public int Add(RtEntry r)
    {
        if (!IsContiguous(r.Mask)) return Abi.EINVAL;
        int at = _routes.Count;
        for (int i = 0; i < _routes.Count; i++)
        {
            RtEntry o = _routes[i];
            if (o.Dst == r.Dst && o.Mask == r.Mask) return Abi.EEXIST;
            if (at == _routes.Count && o.PrefixLength < r.PrefixLength) at = i;
        }
        _routes.Insert(at, r);
        return 0;
    }

    /// <summary>Deletes the route to exactly <paramref name="dst"/>/<paramref name="mask"/> (RTM_DELETE); ESRCH if there is none.</summary>
    public int Delete(Ipv4Addr dst, Ipv4Addr mask)
    {
        for (int i = 0; i < _routes.Count; i++)
            if (_routes[i].Dst.Value == (dst.Value & mask.Value) && _routes[i].Mask == mask) { _routes.RemoveAt(i); return 0; }
        return Abi.ESRCH;
    }

    /// <summary>Deletes every route through <paramref name="ifp"/> (the interface went away or lost its addresses).</summary>
    public void DeleteInterface(Ifnet ifp)
    {
        for (int i = _routes.Count - 1; i >= 0; i--) if (_routes[i].Ifp == ifp) _routes.RemoveAt(i);
    }

    /// <summary>Deletes the routes that <paramref name="ifaddr"/> on <paramref name="ifp"/> brought (its connected route, and host routes path-MTU discovery cloned with it as source).</summary>
    public void DeleteAddress(Ifnet ifp, Ipv4Addr ifaddr)
    {
        for (int i = _routes.Count - 1; i >= 0; i--)
            if (_routes[i].Ifp == ifp && _routes[i].IfAddr == ifaddr && (_routes[i].Flags & (RtEntry.RTF_CONNECTED | RtEntry.RTF_DYNAMIC)) != 0) _routes.RemoveAt(i);
    }

    /// <summary>
    /// The longest-prefix match for <paramref name="dst"/> among routes whose interface is up
    /// (NetBSD rtalloc1), or null (EHOSTUNREACH/ENETUNREACH). What path-MTU discovery learned
    /// expires here, lazily, at <paramref name="nowMs"/> (NetBSD's icmp_mtudisc_timeout).
    /// </summary>
    public RtEntry? Lookup(Ipv4Addr dst, long nowMs = 0)
    {
        for (int i = 0; i < _routes.Count; i++)
        {
            RtEntry r = _routes[i];
            if (!r.Matches(dst) || !r.Ifp.IsUp) continue;
            if (r.ExpireMs != 0 && nowMs >= r.ExpireMs && nowMs != 0)
            {
                if (r.IsDynamicHost) { _routes.RemoveAt(i--); continue; }
                r.ExpireMs = 0;
                if (!r.MtuLocked) Volatile.Write(ref r.Mtu, 0);
            }
            return r;
        }
        return null;
    }

    /// <summary>The exact route to <paramref name="dst"/>/<paramref name="mask"/> (RTM_GET with a mask), or null.</summary>
    public RtEntry? Get(Ipv4Addr dst, Ipv4Addr mask)
    {
        foreach (RtEntry r in _routes)
            if (r.Dst.Value == (dst.Value & mask.Value) && r.Mask == mask) return r;
        return null;
    }

    /// <summary>A copy, longest prefix first (listing, not the data path).</summary>
    public RtEntry[] ToArray() => _routes.ToArray();
}
