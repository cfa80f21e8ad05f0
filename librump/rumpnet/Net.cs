using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// One kernel's network stack (NetBSD's rumpnet faction). Layered as NetBSD's net/ and netinet/
/// and smoltcp's iface/socket/wire split:
/// - <c>Wire/</c>: pure parsers and builders over spans (Ethernet, ARP, IPv4, ICMP, UDP, TCP,
///   IPv6, ICMPv6, the Internet checksum). No state, no allocation, errors as values.
/// - <see cref="Mbuf"/>: the packet buffer every layer passes on, from this kernel's
///   <see cref="Mbufs"/> pool, with headroom so each layer prepends its header without copying.
/// - <c>If/</c>: interfaces (<see cref="Ifnet"/>, which says how drivers and protocols plug in),
///   lo0, and the Ethernet link layer Ethernet drivers share (<see cref="Ether"/>). Received packets reach the protocol registered for their EtherType through the
///   interface's soft interrupt (<see cref="Dispatch"/>).
/// - <c>Socket/</c>: the socket layer (<see cref="Socket"/>, <see cref="SockBuf"/>, the system
///   calls) and what a protocol implements (<see cref="Protosw"/>, registered in
///   <see cref="Domains"/>); AF_LOCAL (<c>Local/</c>) is its first protocol.
/// - To come: ARP and neighbour caches, IPv4/IPv6 input and output with a routing table, ICMP,
///   UDP, TCP (state machines over the wire views, timers as callouts); drivers (shmif, virtif)
///   under drivers/net.
///
/// Locks, in the order they are taken: <see cref="_ifLock"/> (the interface list and index
/// numbers), then an interface's input-queue lock, then the mbuf pool's spin flags (leaves).
/// Protocol input runs in the soft interrupt with none of them held. The protocol table is
/// written only while components initialise (before any packet) and read without a lock.
/// </summary>
public sealed class Net
{
    internal readonly Kernel Kernel;
    public readonly MbufPool Mbufs = new();
    /// <summary>lo0, attached at boot.</summary>
    public readonly Loopback Lo0;
    /// <summary>The socket protocols (Socket/Protosw.cs): components register theirs while they initialise.</summary>
    public readonly Domains Domains = new();

    private readonly KMutex _ifLock;
    private readonly List<Ifnet> _ifs = new();
    private int _nextIndex = 1;
    private (ushort Type, ProtoInput Input)[] _protos = Array.Empty<(ushort, ProtoInput)>();
    private Action<Ifnet>[] _linkUp = Array.Empty<Action<Ifnet>>(), _detached = Array.Empty<Action<Ifnet>>();

    internal Net(Kernel k)
    {
        Kernel = k;
        _ifLock = new KMutex(k);
        Lo0 = new Loopback(k);
        if (Attach(Lo0) != 0) Kernel.Panic("cannot attach lo0");
    }

    /// <summary>Adds an interface under its name (EEXIST if taken) and gives it the next index.</summary>
    public int Attach(Ifnet ifp)
    {
        _ifLock.Enter();
        try
        {
            if (ifp.Owner != null) return Abi.EBUSY;
            foreach (Ifnet i in _ifs) if (i.Name == ifp.Name) return Abi.EEXIST;
            ifp.Owner = this;
            ifp.Index = _nextIndex++;
            _ifs.Add(ifp);
            return 0;
        }
        finally { _ifLock.Exit(); }
    }

    /// <summary>Takes an interface out of the list and stops its input (ENXIO if it is not attached here).</summary>
    public int Detach(Ifnet ifp)
    {
        _ifLock.Enter();
        bool found = ifp.Owner == this && _ifs.Remove(ifp);
        _ifLock.Exit();
        if (!found) return Abi.ENXIO;
        ifp.SetFlags(0, Ifnet.IFF_UP | Ifnet.IFF_RUNNING);
        ifp.Detached(Kernel);
        foreach (Action<Ifnet> h in Volatile.Read(ref _detached)) h(ifp);
        return 0;
    }

    /// <summary>The interface called <paramref name="name"/> (NetBSD ifunit), or null.</summary>
    public Ifnet? Find(string name)
    {
        _ifLock.Enter();
        Ifnet? r = null;
        foreach (Ifnet i in _ifs) if (i.Name == name) { r = i; break; }
        _ifLock.Exit();
        return r;
    }

    /// <summary>The attached interface of index <paramref name="index"/> (an IPv6 scope id), or null; allocates nothing.</summary>
    public Ifnet? ByIndex(int index)
    {
        _ifLock.Enter();
        Ifnet? r = null;
        foreach (Ifnet i in _ifs) if (i.Index == index) { r = i; break; }
        _ifLock.Exit();
        return r;
    }

    /// <summary>The attached interfaces, in index order (a copy: configuration and listing, not the data path).</summary>
    public Ifnet[] Interfaces()
    {
        _ifLock.Enter();
        Ifnet[] r = _ifs.ToArray();
        _ifLock.Exit();
        return r;
    }

    /// <summary>Registers the input routine of the protocol carried as <paramref name="etherType"/>; while components initialise only.</summary>
    public void SetProtocolInput(ushort etherType, ProtoInput input)
    {
        var old = _protos;
        var n = new (ushort, ProtoInput)[old.Length + 1];
        int j = 0;
        foreach (var p in old) if (p.Type != etherType) n[j++] = p;
        n[j++] = (etherType, input);
        Volatile.Write(ref _protos, n.AsSpan(0, j).ToArray());
    }

    /// <summary>
    /// Registers <paramref name="hook"/> to hear that an interface went up (IFF_UP set), while
    /// components initialise (IPv6 configures a link-local address then). The hook runs in the
    /// caller of <see cref="Ifnet.SetFlags"/>, whatever its context, so it must only note the
    /// interface and defer the work (a callout).
    /// </summary>
    public void OnLinkUp(Action<Ifnet> hook) => AddHook(ref _linkUp, hook);

    /// <summary>Registers <paramref name="hook"/> to run after an interface left the list (in <see cref="Detach"/>'s caller): protocols forget its addresses, routes and neighbours.</summary>
    public void OnDetach(Action<Ifnet> hook) => AddHook(ref _detached, hook);

    private static void AddHook(ref Action<Ifnet>[] list, Action<Ifnet> hook)
    {
        var old = list;
        var n = new Action<Ifnet>[old.Length + 1];
        old.CopyTo(n, 0);
        n[^1] = hook;
        Volatile.Write(ref list, n);
    }

    internal void LinkUp(Ifnet ifp)
    {
        foreach (Action<Ifnet> h in Volatile.Read(ref _linkUp)) h(ifp);
    }

    /// <summary>Hands a received packet to its protocol; one nobody registered is dropped and counted.</summary>
    internal void Dispatch(Lwp l, Mbuf m)
    {
        foreach (var p in Volatile.Read(ref _protos))
        {
            if (p.Type != m.Protocol) continue;
            p.Input(l, m);
            return;
        }
        Interlocked.Increment(ref m.RcvIf!.UnknownProtocol);
        m.Free();
    }

    /// <summary>Halt: every interface is detached, so nothing is queued or scheduled after.</summary>
    internal void Shutdown()
    {
        foreach (Ifnet i in Interfaces()) Detach(i);
    }
}
