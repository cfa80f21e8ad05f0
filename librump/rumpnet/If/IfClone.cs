using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// Interface cloners (NetBSD's if_clone): drivers whose interfaces are made on demand by name
/// (SIOCIFCREATE, "ifconfig virt0 create", rump_pub_netconfig_ifcreate) register a name prefix
/// here at init. <see cref="_lock"/> protects the table; create and destroy run without it (a
/// driver may block opening its host device).
/// </summary>
public sealed class IfCloners
{
    /// <summary>Makes and attaches interface <paramref name="unit"/> of a driver; 0 or an errno.</summary>
    public delegate int CreateFn(int unit, out Ifnet? ifp);
    /// <summary>Detaches and destroys one of the driver's interfaces; 0 or an errno.</summary>
    public delegate int DestroyFn(Ifnet ifp);

    private readonly KMutex _lock;
    private readonly List<(string Prefix, CreateFn Create, DestroyFn Destroy)> _cloners = new();

    internal IfCloners(Kernel k) { _lock = new KMutex(k); }

    public void Register(string prefix, CreateFn create, DestroyFn destroy)
    {
        _lock.Enter();
        _cloners.Add((prefix, create, destroy));
        _lock.Exit();
    }

    /// <summary>Splits "virt12" into a registered prefix's cloner and 12; false if none matches or the unit is not a plain decimal number.</summary>
    private bool Find(string name, out (string Prefix, CreateFn Create, DestroyFn Destroy) c, out int unit)
    {
        c = default;
        unit = -1;
        _lock.Enter();
        try
        {
            foreach (var x in _cloners)
            {
                if (!name.StartsWith(x.Prefix, StringComparison.Ordinal)) continue;
                string u = name.Substring(x.Prefix.Length);
                if (u.Length == 0 || u.Length > 5 || (u.Length > 1 && u[0] == '0')) continue;
                int n = 0;
                bool ok = true;
                foreach (char ch in u) { if (ch < '0' || ch > '9') { ok = false; break; } n = n * 10 + (ch - '0'); }
                if (!ok) continue;
                c = x;
                unit = n;
                return true;
            }
            return false;
        }
        finally { _lock.Exit(); }
    }

    /// <summary>SIOCIFCREATE: EINVAL for a name no cloner knows, EEXIST if it exists.</summary>
    public int Create(Net net, string name, out Ifnet? ifp)
    {
        ifp = null;
        if (!Find(name, out var c, out int unit)) return Abi.EINVAL;
        if (net.Find(name) != null) return Abi.EEXIST;
        return c.Create(unit, out ifp);
    }

    /// <summary>SIOCIFDESTROY: ENXIO if there is no such interface, EINVAL if it was not made by a cloner (lo0).</summary>
    public int Destroy(Net net, string name)
    {
        Ifnet? ifp = net.Find(name);
        if (ifp == null) return Abi.ENXIO;
        if (!Find(name, out var c, out _)) return Abi.EINVAL;
        return c.Destroy(ifp);
    }
}
