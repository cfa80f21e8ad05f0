using System;
using System.Collections.Generic;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Shmif;

/// <summary>
/// A kernel's shmif interfaces (NetBSD's shmif cloner and rump_shmif_create): unit numbers, the
/// interfaces made so far, and their removal at halt so that no reader thread enters a kernel
/// that is gone. <see cref="_lock"/> protects the unit list; it is taken before any bus lock and
/// before the network's interface-list lock.
/// </summary>
public sealed class ShmifDriver
{
    private readonly Kernel _k;
    private readonly KMutex _lock;
    private readonly List<ShmifIf> _ifs = new();

    internal ShmifDriver(Kernel k)
    {
        _k = k;
        _lock = new KMutex(k);
    }

    /// <summary>The kernel's shmif driver (null without the component).</summary>
    public static ShmifDriver? Of(Kernel k) => k.GetService<ShmifDriver>();

    /// <summary>
    /// Makes shmifN with the lowest free unit (NetBSD's "ifconfig shmifN create") and, given a
    /// path, attaches it to that bus (rump_shmif_create). The interface starts down, as NetBSD's.
    /// A loss injector from RUMP_SHMIF_LOSS is installed (test-only; a bad value is EINVAL).
    /// </summary>
    public int Create(string? path, out int unit, out ShmifIf? ifp) => Create(path, -1, out unit, out ifp);

    /// <summary>As above, but unit <paramref name="want"/> (SIOCIFCREATE "shmif3"; EEXIST if taken), or the lowest free one if -1.</summary>
    public int Create(string? path, int want, out int unit, out ShmifIf? ifp)
    {
        unit = -1;
        ifp = null;
        Net? net = _k.GetService<Net>();
        if (net == null) return Abi.ENXIO;
        ShmifLoss? loss = null;
        string? env = Environment.GetEnvironmentVariable(ShmifLoss.EnvVar);
        if (!string.IsNullOrEmpty(env) && !ShmifLoss.TryParse(env, out loss, out string? why))
        {
            _k.Printf($"shmif: {ShmifLoss.EnvVar}: {why}\n");
            return Abi.EINVAL;
        }
        _lock.Enter();
        int u = want < 0 ? 0 : want;
        if (want >= 0 && Find(want) != null)
        {
            _lock.Exit();
            return Abi.EEXIST;
        }
        while (Find(u) != null) u++;
        Span<byte> mac = stackalloc byte[6];
        System.Security.Cryptography.RandomNumberGenerator.Fill(mac);
        // NetBSD's b2:a0 prefix: locally administered, unicast.
        mac[0] = 0xb2;
        mac[1] = 0xa0;
        var s = new ShmifIf(_k, u, EtherAddr.Read(mac));
        int e = net.Attach(s);
        if (e == 0) _ifs.Add(s);
        _lock.Exit();
        if (e != 0) return e;
        if (path != null && (e = s.SetLinkStr(path)) != 0)
        {
            Destroy(s);
            return e;
        }
        if (loss != null) s.SetLoss(loss);
        unit = u;
        ifp = s;
        return 0;
    }

    private ShmifIf? Find(int unit)
    {
        foreach (ShmifIf i in _ifs) if (i.Unit == unit) return i;
        return null;
    }

    /// <summary>shmifN, or null.</summary>
    public ShmifIf? Get(int unit)
    {
        _lock.Enter();
        ShmifIf? r = Find(unit);
        _lock.Exit();
        return r;
    }

    /// <summary>"ifconfig shmifN destroy": down, out of the interface list, off its bus.</summary>
    public int Destroy(ShmifIf ifp)
    {
        _lock.Enter();
        bool found = _ifs.Remove(ifp);
        _lock.Exit();
        if (!found) return Abi.ENXIO;
        _k.GetService<Net>()?.Detach(ifp);
        _k.GetService<Netinet.Inet>()?.InterfaceGone(ifp);
        ifp.CloseBus();
        return 0;
    }

    internal void DestroyAll()
    {
        _lock.Enter();
        ShmifIf[] all = _ifs.ToArray();
        _lock.Exit();
        foreach (ShmifIf i in all) Destroy(i);
    }
}

/// <summary>The shmif driver as a kernel component: after the network, and shut down before it.</summary>
public sealed class ShmifComponent : IComponent
{
    public string Name => "shmif";
    public string[] Requires => new[] { "net" };
    public void Init(Kernel k)
    {
        var d = new ShmifDriver(k);
        k.SetService(d);
        // "ifconfig shmif0 create" (SIOCIFCREATE): made without a bus; "linkstr" attaches it.
        k.GetService<IfCloners>()?.Register("shmif", (int unit, out Ifnet? ifp) =>
        {
            int e = d.Create(null, unit, out _, out ShmifIf? s);
            ifp = s;
            return e;
        }, ifp => ifp is ShmifIf s ? d.Destroy(s) : Abi.EINVAL);
    }
    public void Shutdown(Kernel k, bool sync) => ShmifDriver.Of(k)?.DestroyAll();
}
