using System;
using System.Collections.Generic;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>A connection's 4-tuple, the key of the connection hash (and, with no foreign end, of the listener and port-use maps).</summary>
internal readonly struct TcpTuple : IEquatable<TcpTuple>
{
    public readonly TcpAddr LAddr, FAddr;
    public readonly ushort LPort, FPort;
    public TcpTuple(TcpAddr la, ushort lp, TcpAddr fa, ushort fp) { LAddr = la; LPort = lp; FAddr = fa; FPort = fp; }
    public TcpTuple(TcpAddr la, ushort lp) { LAddr = la; LPort = lp; FAddr = default; FPort = 0; }
    public bool Equals(TcpTuple o) => LAddr == o.LAddr && FAddr == o.FAddr && LPort == o.LPort && FPort == o.FPort;
    public override bool Equals(object? o) => o is TcpTuple t && Equals(t);
    public override int GetHashCode() => HashCode.Combine(LAddr.Lo ^ LAddr.Hi, FAddr.Lo ^ FAddr.Hi, (uint)LPort << 16 | FPort);
}

/// <summary>
/// TCP's protocol control blocks (NetBSD in_pcb.c, inpcbtable): connections by 4-tuple in a hash
/// (TIME_WAIT ones included, so a late segment finds its TCB), listeners by local address and
/// port (a wildcard address matches any), and local port allocation (bind's explicit ports, and
/// ephemeral ports from NetBSD's anonportmin..anonportmax, 49152-65535, from a random start).
/// IPv4 and IPv6 share the table (<see cref="TcpAddr"/>) but not their port spaces: each family
/// has its own wildcard, and an address only clashes with one of its own family, except for a
/// dual-stack AF_INET6 socket (IPV6_V6ONLY off, <see cref="TcpCb.DualStack"/>) on ::, which
/// NetBSD's in6_pcb.c lets into IPv4's: its listener takes the IPv4 connections no IPv4 listener
/// takes, and an IPv4 bind of its port clashes with it. Such a socket on a v4-mapped address, and
/// its IPv4 connections, simply are IPv4 keys. Protected by the stack's lock; lookups allocate nothing.
/// </summary>
internal sealed class TcpPcbTable
{
    public const ushort AnonPortMin = 49152, AnonPortMax = 65535;
    private readonly Dictionary<TcpTuple, TcpCb> _conns = new();
    private readonly Dictionary<TcpTuple, TcpCb> _listeners = new();
    private readonly Dictionary<TcpTuple, int> _portUse = new();
    private readonly List<TcpCb> _all = new();
    /// <summary>Sockets bound (bind(2)) that neither listen nor connect yet: they hold their port.</summary>
    private readonly List<TcpCb> _bound = new();

    private static TcpTuple Key(TcpAddr a, ushort port) => new(a, port);

    public int Count => _all.Count;
    /// <summary>Every TCB (connections and listeners): the timer walk. Index-stable until the next insert or remove.</summary>
    public List<TcpCb> All => _all;

    public TcpCb? Lookup(TcpAddr la, ushort lp, TcpAddr fa, ushort fp)
        => _conns.TryGetValue(new TcpTuple(la, lp, fa, fp), out TcpCb? tp) ? tp : null;

    /// <summary>
    /// The listener for a connection to <paramref name="la"/>:<paramref name="lp"/>: one on that
    /// address, else its family's wildcard, else (an IPv4 address) a dual-stack one on ::, as
    /// NetBSD's tcp_input looks up IPv4's PCBs before the v4-mapped ones of IPv6.
    /// </summary>
    public TcpCb? LookupListener(TcpAddr la, ushort lp)
    {
        if (_listeners.TryGetValue(Key(la, lp), out TcpCb? tp)) return tp;
        if (_listeners.TryGetValue(Key(la.AnyOfFamily, lp), out tp)) return tp;
        return la.IsV4 && _listeners.TryGetValue(Key(TcpAddr.AnyV6, lp), out tp) && tp.DualStack ? tp : null;
    }

    /// <summary>Whether a local address and port is taken by anyone (a wildcard clashes with everything on the port).</summary>
    public bool PortInUse(TcpAddr la, ushort lp)
        => _portUse.ContainsKey(Key(la, lp)) || _portUse.ContainsKey(Key(la.AnyOfFamily, lp))
           || (la.IsUnspecified && AnyOnPort(la, lp));

    private bool AnyOnPort(TcpAddr family, ushort lp)
    {
        foreach (TcpCb t in _all) if (t.LocalPort == lp && t.LocalAddr.SameFamily(family)) return true;
        return false;
    }

    /// <summary>
    /// An ephemeral port free on <paramref name="la"/> towards nobody yet (0 if all are taken:
    /// EADDRNOTAVAIL); with <paramref name="dual"/> (a dual-stack socket on ::) free in IPv4 too,
    /// so IPv4 connections to it reach it rather than an IPv4 socket of the port.
    /// </summary>
    public ushort AllocatePort(TcpAddr la, Random rnd, bool dual = false)
    {
        int span = AnonPortMax - AnonPortMin + 1;
        int start = rnd.Next(span);
        for (int i = 0; i < span; i++)
        {
            ushort p = (ushort)(AnonPortMin + (start + i) % span);
            if (!PortInUse(la, p) && !(dual && PortInUse(TcpAddr.AnyV4, p))) return p;
        }
        return 0;
    }

    /// <summary>Bound sockets (the pcblist sysctl lists them as CLOSED).</summary>
    public List<TcpCb> Bound => _bound;

    /// <summary>The listener on exactly this address and port (not the wildcard's), or null.</summary>
    public TcpCb? ListenerAt(TcpAddr la, ushort lp) => _listeners.TryGetValue(Key(la, lp), out TcpCb? tp) ? tp : null;

    /// <summary>
    /// Whether binding <paramref name="la"/>:<paramref name="lp"/> with <paramref name="reuse"/>
    /// (SO_REUSEADDR/SO_REUSEPORT bits) collides with a TCB on the port whose address overlaps
    /// (equal, or either is the wildcard), as NetBSD's in_pcbbind_port: sockets that both set
    /// SO_REUSEPORT share; SO_REUSEADDR lets a socket bind over connections (TIME_WAIT ones
    /// after a server restarts) but never over a listener or another bound socket. An IPv4
    /// address (an AF_INET socket's, or a dual-stack one's v4-mapped) also clashes with a
    /// dual-stack socket on :: of the port unless it sets SO_REUSEADDR or SO_REUSEPORT (NetBSD's
    /// in_pcbbind_port and in6_pcbbind_port look up the v4-mapped address among IPv6's PCBs with
    /// wildcards only then); binding :: looks at IPv6's PCBs alone, dual-stack or not, as NetBSD's.
    /// </summary>
    public bool Conflicts(TcpAddr la, ushort lp, int reuse)
    {
        foreach (List<TcpCb> list in new[] { _all, _bound })
            foreach (TcpCb t in list)
            {
                if (t.LocalPort != lp) continue;
                if (la.IsV4 && t.DualStack && t.LocalAddr == TcpAddr.AnyV6)
                {
                    if ((reuse & (TcpStack.SoReuseAddr | TcpStack.SoReusePort)) == 0) return true;
                    continue;
                }
                if (!la.SameFamily(t.LocalAddr)) continue;
                if (!la.IsUnspecified && !t.LocalAddr.IsUnspecified && la != t.LocalAddr) continue;
                if ((reuse & t.Reuse & TcpStack.SoReusePort) != 0) continue;
                if ((reuse & TcpStack.SoReuseAddr) != 0 && !t.BoundOnly && t.AcceptQueue == null) continue;
                return true;
            }
        return false;
    }

    /// <summary>Holds a bound socket's port (bind(2)).</summary>
    public void InsertBound(TcpCb tp)
    {
        _bound.Add(tp);
        Use(tp, +1);
        tp.BoundOnly = true;
        tp.InTable = true;
    }

    public void InsertListener(TcpCb tp)
    {
        _listeners.Add(Key(tp.LocalAddr, tp.LocalPort), tp);
        Use(tp, +1);
        _all.Add(tp);
        tp.InTable = true;
    }

    /// <summary>Adds a connection; false if its 4-tuple is taken (EADDRINUSE).</summary>
    public bool InsertConnection(TcpCb tp)
    {
        if (!_conns.TryAdd(new TcpTuple(tp.LocalAddr, tp.LocalPort, tp.RemoteAddr, tp.RemotePort), tp)) return false;
        Use(tp, +1);
        _all.Add(tp);
        tp.InTable = true;
        return true;
    }

    public void Remove(TcpCb tp)
    {
        if (!tp.InTable) return;
        tp.InTable = false;
        if (tp.BoundOnly)
        {
            tp.BoundOnly = false;
            _bound.Remove(tp);
            Use(tp, -1);
            return;
        }
        if (tp.State == TcpState.Listen || tp.AcceptQueue != null) _listeners.Remove(Key(tp.LocalAddr, tp.LocalPort));
        else _conns.Remove(new TcpTuple(tp.LocalAddr, tp.LocalPort, tp.RemoteAddr, tp.RemotePort));
        Use(tp, -1);
        int i = _all.IndexOf(tp);
        if (i >= 0) { _all[i] = _all[^1]; _all.RemoveAt(_all.Count - 1); }
    }

    private void Use(TcpCb tp, int d)
    {
        TcpTuple k = Key(tp.LocalAddr, tp.LocalPort);
        int n = _portUse.GetValueOrDefault(k) + d;
        if (n <= 0) _portUse.Remove(k); else _portUse[k] = n;
    }
}
