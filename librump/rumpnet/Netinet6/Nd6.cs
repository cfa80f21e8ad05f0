using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet6;

/// <summary>
/// Neighbour discovery on one Ethernet interface (RFC 4861; NetBSD nd6.c, nd6_nbr.c): the
/// neighbour cache, neighbour solicitations and advertisements, DAD's probe (RFC 4862 5.4,
/// simplified: see <see cref="Inet6"/>), and the host's side of router discovery: router
/// solicitations once the link-local address is ours (6.3.7: up to
/// <see cref="MaxRtrSolicitations"/>, <see cref="RtrSolicitationIntervalNs"/> apart, until an
/// advertisement comes), and advertisements giving a default route, the link MTU (6.3.4) and
/// addresses of their autonomous prefixes with lifetimes (SLAAC, RFC 4862 5.5.3; kept by
/// <see cref="Inet6"/>).
///
/// Entry states (RFC 4861 7.3.2), each a case of <see cref="Tick"/> and the input routines:
/// INCOMPLETE (asked by multicast NS every <see cref="RetransNs"/>, up to
/// <see cref="MaxMulticastSolicit"/> times, with packets held, at most <see cref="HoldLimit"/>);
/// REACHABLE (confirmed by a solicited NA, for <see cref="ReachableNs"/>); STALE (learned
/// unsolicited, or reachability timed out: used, and the first use moves it to DELAY);
/// DELAY (<see cref="DelayNs"/> for upper layers to confirm, which nothing here does, then
/// PROBE); PROBE (unicast NS every second up to <see cref="MaxUnicastSolicit"/> times, then the
/// entry goes). A STALE entry is forgotten after <see cref="StaleKeepNs"/>. The cache holds at most
/// <see cref="MaxEntries"/>, so a flood of solicitations from made-up sources costs bounded memory.
/// One callout per cache ticks every second while there are entries or DAD is pending.
///
/// Messages are checked as RFC 4861 7.1.1 and 7.1.2 say (hop limit 255, ICMP code 0 and
/// lengths by the wire parser, a non-multicast target, options of non-zero length, no source
/// link-layer option with an unspecified source, a solicited-node destination for DAD probes,
/// no solicited flag on a multicast NA); each failure is counted in
/// <see cref="Inet6Stats.NdBad"/> and the message dropped.
///
/// Locks: <see cref="_lock"/> protects the map, the entries, <see cref="_timerArmed"/>, the
/// DAD list and the solicitation count; it is taken after Inet6's configuration lock, and nothing
/// is sent while it is held.
/// </summary>
public sealed class Nd6Cache
{
    public enum State { Incomplete, Reachable, Stale, Delay, Probe }

    public const int HoldLimit = 16, MaxEntries = 1024, MaxMulticastSolicit = 3, MaxUnicastSolicit = 3, MaxRtrSolicitations = 3;
    public const long RetransNs = 1_000_000_000, ReachableNs = 30L * 1_000_000_000, DelayNs = 5L * 1_000_000_000,
        StaleKeepNs = 1200L * 1_000_000_000, RtrSolicitationIntervalNs = 4L * 1_000_000_000;
    /// <summary>The smallest MTU IPv6 allows a link (RFC 8200 5): an RA's MTU option below it is ignored.</summary>
    public const int MinLinkMtu = 1280;
    public const byte NdHopLimit = 255;

    public readonly Ifnet Ifp;
    /// <summary>The interface's multicast listener reports (its solicited-node groups are ND's).</summary>
    public readonly Mld6 Mld;
    private readonly Inet6 _in;
    private readonly KMutex _lock;
    private readonly Dictionary<Ipv6Addr, Entry> _map = new();
    private readonly List<In6Ifaddr> _dad = new();
    private readonly Callout _timer;
    private bool _timerArmed;
    private bool _gone;
    /// <summary>Router solicitations still to send, and when the next is due.</summary>
    private int _rsLeft;
    private long _rsNext;
    private int _linkMtu;

    private sealed class Entry
    {
        public EtherAddr Mac;
        public State State;
        public long Expires;
        public int Tries;
        public bool IsRouter;
        public MbufQueue Hold = new(HoldLimit);
    }

    internal Nd6Cache(Inet6 inet, Ifnet ifp)
    {
        _in = inet;
        Ifp = ifp;
        _lock = new KMutex(inet.Kernel);
        _timer = new Callout(_ => Tick());
        Mld = new Mld6(inet, ifp);
    }

    private Inet6Stats S => _in.Stats;

    /// <summary>The link address and state of <paramref name="a"/> (ndp -a), if it has a link address.</summary>
    public bool TryGet(Ipv6Addr a, out EtherAddr mac, out State state)
    {
        _lock.Enter();
        bool ok = _map.TryGetValue(a, out Entry? e) && e.State != State.Incomplete;
        mac = ok ? e!.Mac : default;
        state = e?.State ?? State.Incomplete;
        _lock.Exit();
        return ok;
    }

    public int Count { get { _lock.Enter(); int n = _map.Count; _lock.Exit(); return n; } }

    /// <summary>The link MTU a router advertised (RFC 4861 4.6.4), or 0 for none; see <see cref="Inet6.LinkMtu"/>.</summary>
    public int LinkMtu => Volatile.Read(ref _linkMtu);

    /// <summary>Sends the IPv6 packet <paramref name="m"/> to <paramref name="nextHop"/> on this link (NetBSD nd6_resolve): at once if known, else held and solicited. Consumes m.</summary>
    internal int Resolve(Mbuf m, Ipv6Addr nextHop)
    {
        bool ask = false;
        long now = Clock.MonotonicNs();
        _lock.Enter();
        if (_map.TryGetValue(nextHop, out Entry? e) && e.State != State.Incomplete)
        {
            if (e.State == State.Stale)
            {
                // First use of a stale entry: wait DELAY for a confirmation, then probe (7.3.3).
                e.State = State.Delay;
                e.Expires = now + DelayNs;
                ArmLocked();
            }
            EtherAddr mac = e.Mac;
            _lock.Exit();
            return Ether.EtherOutput(Ifp, m, mac);
        }
        if (e == null)
        {
            if (_gone || _map.Count >= MaxEntries)
            {
                _lock.Exit();
                m.Free();
                Interlocked.Increment(ref S.NdDropHeld);
                return Abi.ENOBUFS;
            }
            e = new Entry { State = State.Incomplete, Expires = now + RetransNs, Tries = 1 };
            _map.Add(nextHop, e);
            ask = true;
            ArmLocked();
        }
        if (!e.Hold.Enqueue(m)) Interlocked.Increment(ref S.NdDropHeld);
        _lock.Exit();
        if (ask) SendNs(nextHop, multicast: true);
        return 0;
    }

    // ---- sending ----------------------------------------------------------------------------------

    /// <summary>An NS for <paramref name="target"/>: to its solicited-node group (resolution, DAD) or to it (probing); from :: with no link-layer option for DAD.</summary>
    private void SendNs(Ipv6Addr target, bool multicast, bool dad = false)
    {
        Ipv6Addr src = Ipv6Addr.Unspecified;
        if (!dad && _in.SelectSource(target, Ifp, out src) != 0) return;
        Ipv6Addr dst = multicast ? target.SolicitedNode : target;
        Interlocked.Increment(ref S.NdNsOut);
        Send(src, dst, advert: false, 0, target, dad ? null : Ifp.LinkAddr, null);
    }

    private void SendNa(Ipv6Addr src, Ipv6Addr dst, byte flags, Ipv6Addr target, EtherAddr? dstMac)
    {
        Interlocked.Increment(ref S.NdNaOut);
        Send(src, dst, advert: true, flags, target, Ifp.LinkAddr, dstMac);
    }

    // ND messages go straight to the link with hop limit 255, to a known MAC when we have one
    // (an answer to a solicitation that carried the asker's), so ND never waits on ND.
    private void Send(Ipv6Addr src, Ipv6Addr dst, bool advert, byte flags, Ipv6Addr target, EtherAddr? lla, EtherAddr? dstMac)
    {
        if (!Ifp.IsUp) return;
        Mbuf? m = _in.Net.Mbufs.Get(32);
        if (m == null) return;
        Span<byte> d = m.Append(24 + (lla.HasValue ? 8 : 0));
        Icmpv6Packet.EmitNeighbor(d, src, dst, advert, flags, target, lla);
        Output(m, src, dst, dstMac);
    }

    /// <summary>A router solicitation to all routers from the link-local address, with our link-layer address (6.3.7).</summary>
    private void SendRs()
    {
        if (!Ifp.IsUp || _in.LinkLocalOf(Ifp) is not In6Ifaddr ll || !ll.Usable) return;
        Mbuf? m = _in.Net.Mbufs.Get(32);
        if (m == null) return;
        Span<byte> d = m.Append(16);
        Icmpv6Packet.EmitRouterSolicit(d, ll.Addr, Ipv6Addr.AllRouters, Ifp.LinkAddr);
        Interlocked.Increment(ref S.NdRsOut);
        Output(m, ll.Addr, Ipv6Addr.AllRouters, null);
    }

    /// <summary>Puts the IPv6 header with ND's hop limit in front of the ICMPv6 message in <paramref name="m"/> and sends it. Consumes m.</summary>
    private void Output(Mbuf m, Ipv6Addr src, Ipv6Addr dst, EtherAddr? dstMac)
    {
        int len = m.Length;
        Span<byte> h = m.Prepend(Ipv6Packet.HeaderSize);
        Ipv6Packet.Emit(h, new Ipv6Header { Source = src, Destination = dst, NextHeader = Ipv6Packet.NextIcmpv6, HopLimit = NdHopLimit }, len);
        m.Protocol = EthernetFrame.TypeIpv6;
        if (dst.IsMulticast) Ether.EtherOutput(Ifp, m, In6.EtherMulticast(dst));
        else if (dstMac.HasValue) Ether.EtherOutput(Ifp, m, dstMac.Value);
        else Resolve(m, dst);
    }

    /// <summary>DAD for a new address: one probe now; a conflict within the window marks it duplicated (see <see cref="Inet6"/>).</summary>
    internal void StartDad(In6Ifaddr ia)
    {
        _lock.Enter();
        if (_gone) { _lock.Exit(); return; }
        _dad.Add(ia);
        ArmLocked();
        _lock.Exit();
        if (Ifp.IsUp) SendNs(ia.Addr, multicast: true, dad: true);
    }

    // ---- input ------------------------------------------------------------------------------------

    /// <summary>An ND message (types 133-137) that ICMPv6 has checksummed. Does not consume anything.</summary>
    internal void Input(in Icmpv6Packet p, in Ip6In ip)
    {
        if (ip.HopLimit != NdHopLimit || NdOptions.Parse(p.NdOptionBytes, out NdOptions o) != WireError.Ok)
        {
            Interlocked.Increment(ref S.NdBad);
            return;
        }
        switch (p.Type)
        {
            case Icmpv6Packet.TypeNeighborSolicit: NsInput(p, ip, o); break;
            case Icmpv6Packet.TypeNeighborAdvert: NaInput(p, ip, o); break;
            case Icmpv6Packet.TypeRouterAdvert: RaInput(p, ip, o); break;
            default: break; // router solicitations (we are no router) and redirects: ignored
        }
    }

    private void NsInput(in Icmpv6Packet p, in Ip6In ip, in NdOptions o)
    {
        Interlocked.Increment(ref S.NdNsIn);
        Ipv6Addr target = p.Target;
        bool dad = In6.IsUnspecified(ip.Src);
        if (target.IsMulticast || (dad && (o.HasSourceLinkAddr || !In6.IsSolicitedNode(ip.Dst))))
        {
            Interlocked.Increment(ref S.NdBad);
            return;
        }
        In6Ifaddr? ia = _in.AddressOn(Ifp, target);
        if (ia == null) return; // not for us: nothing to learn (7.2.3)
        if (dad)
        {
            // Another node probes for an address we hold: if ours is still in its DAD window both are
            // new, and RFC 4862 5.4.3 says ours is the duplicate; otherwise defend it.
            if ((ia.Flags & In6Ifaddr.IN6_IFF_TENTATIVE) != 0) { _in.MarkDuplicated(ia); return; }
            if (!ia.Usable) return;
            SendNa(target, Ipv6Addr.AllNodes, Icmpv6Packet.NaFlagOverride, target, null);
            return;
        }
        if (!ia.Usable) return;
        EtherAddr? mac = null;
        if (o.HasSourceLinkAddr)
        {
            mac = o.SourceLinkAddr;
            Learn(ip.Src, o.SourceLinkAddr);
        }
        SendNa(target, ip.Src, Icmpv6Packet.NaFlagSolicited | Icmpv6Packet.NaFlagOverride, target, mac);
    }

    /// <summary>An NS's source link-layer address (7.2.3): a new neighbour or a changed address becomes STALE.</summary>
    private void Learn(Ipv6Addr a, EtherAddr mac)
    {
        Mbuf? held = null;
        _lock.Enter();
        if (_map.TryGetValue(a, out Entry? e))
        {
            if (e.State == State.Incomplete || e.Mac != mac)
            {
                e.Mac = mac;
                e.State = State.Stale;
                e.Expires = Clock.MonotonicNs() + StaleKeepNs;
                held = e.Hold.DequeueAll();
            }
        }
        else if (!_gone && _map.Count < MaxEntries)
        {
            _map.Add(a, new Entry { Mac = mac, State = State.Stale, Expires = Clock.MonotonicNs() + StaleKeepNs });
            ArmLocked();
        }
        _lock.Exit();
        SendHeld(held, mac);
    }

    private void NaInput(in Icmpv6Packet p, in Ip6In ip, in NdOptions o)
    {
        Interlocked.Increment(ref S.NdNaIn);
        Ipv6Addr target = p.Target;
        byte flags = p.NdFlags;
        bool solicited = (flags & Icmpv6Packet.NaFlagSolicited) != 0, over = (flags & Icmpv6Packet.NaFlagOverride) != 0;
        if (target.IsMulticast || (ip.Dst.IsMulticast && solicited))
        {
            Interlocked.Increment(ref S.NdBad);
            return;
        }
        if (_in.AddressOn(Ifp, target) is In6Ifaddr mine)
        {
            // Someone advertises our address (7.2.5, RFC 4862 5.4.4): a duplicate while tentative; later, ours stays.
            if (o.HasTargetLinkAddr && o.TargetLinkAddr == Ifp.LinkAddr) return;
            if ((mine.Flags & In6Ifaddr.IN6_IFF_TENTATIVE) != 0) _in.MarkDuplicated(mine);
            return;
        }
        Mbuf? held = null;
        EtherAddr mac = default;
        long now = Clock.MonotonicNs();
        _lock.Enter();
        if (_map.TryGetValue(target, out Entry? e))
        {
            if (e.State == State.Incomplete)
            {
                if (o.HasTargetLinkAddr)
                {
                    e.Mac = o.TargetLinkAddr;
                    e.State = solicited ? State.Reachable : State.Stale;
                    e.Expires = now + (solicited ? ReachableNs : StaleKeepNs);
                    e.Tries = 0;
                    held = e.Hold.DequeueAll();
                }
            }
            else
            {
                bool differs = o.HasTargetLinkAddr && o.TargetLinkAddr != e.Mac;
                if (!over && differs)
                {
                    // 7.2.5: a different address without override only makes a reachable entry suspect.
                    if (e.State == State.Reachable) { e.State = State.Stale; e.Expires = now + StaleKeepNs; }
                }
                else
                {
                    if (o.HasTargetLinkAddr) e.Mac = o.TargetLinkAddr;
                    if (solicited) { e.State = State.Reachable; e.Expires = now + ReachableNs; e.Tries = 0; }
                    else if (differs) { e.State = State.Stale; e.Expires = now + StaleKeepNs; }
                }
            }
            e.IsRouter = (flags & Icmpv6Packet.NaFlagRouter) != 0;
            mac = e.Mac;
        }
        _lock.Exit();
        SendHeld(held, mac);
    }

    private void RaInput(in Icmpv6Packet p, in Ip6In ip, in NdOptions o)
    {
        Interlocked.Increment(ref S.NdRaIn);
        if (!ip.Src.IsLinkLocal)
        {
            Interlocked.Increment(ref S.NdBad);
            return;
        }
        _lock.Enter();
        _rsLeft = 0; // a router answered: no more solicitations
        _lock.Exit();
        if (o.HasSourceLinkAddr) Learn(ip.Src, o.SourceLinkAddr);
        // The router lifetime: a default route through it for that long (or its removal at 0).
        _in.DefaultRouter(Ifp, ip.Src, p.RaRouterLifetime);
        // The link MTU, if it is one IPv6 may use and the interface can carry (6.3.4).
        if (o.HasMtu && o.Mtu >= MinLinkMtu && o.Mtu <= (uint)Ifp.Mtu) Volatile.Write(ref _linkMtu, (int)o.Mtu);
        // Each prefix (RFC 4861 6.3.4, RFC 4862 5.5.3): an on-link one is a route straight to
        // the link for its valid lifetime; an autonomous one of 64 bits gives an address of that
        // prefix and this interface's identifier (its link-local address's), with DAD as any
        // address, kept for the prefix's lifetimes. Not done: the RA's reachable-time and
        // retransmission-timer fields.
        In6Ifaddr? ll = _in.LinkLocalOf(Ifp);
        foreach (NdPrefixInfo pi in NdOptions.Prefixes(p.NdOptionBytes))
        {
            if (pi.Prefix.IsLinkLocal || pi.Prefix.IsMulticast || pi.Length is 0 or > 128) continue;
            if (pi.OnLink) _in.RaOnLink(Ifp, pi.Prefix, pi.Length, pi.ValidLifetime);
            if (!pi.Autonomous || pi.Length != 64 || pi.PreferredLifetime > pi.ValidLifetime || ll == null) continue;
            _in.RaPrefix(Ifp, new Ipv6Addr(pi.Prefix.Hi, ll.Addr.Lo), pi.ValidLifetime, pi.PreferredLifetime);
        }
    }

    private void SendHeld(Mbuf? held, EtherAddr mac)
    {
        while (held != null)
        {
            Mbuf? next = held.NextPacket;
            held.NextPacket = null;
            Ether.EtherOutput(Ifp, held, mac);
            held = next;
        }
    }

    // ---- timers -----------------------------------------------------------------------------------

    /// <summary>Forgets every entry and frees held packets (the interface is going away).</summary>
    internal void Flush()
    {
        _lock.Enter();
        _gone = true;
        var held = new List<Mbuf>();
        foreach (Entry e in _map.Values)
            for (Mbuf? h = e.Hold.DequeueAll(); h != null; h = h.NextPacket) held.Add(h);
        _map.Clear();
        _dad.Clear();
        _lock.Exit();
        _in.Kernel.Callouts.Stop(_timer);
        foreach (Mbuf h in held) { h.NextPacket = null; h.Free(); }
    }

    /// <summary>Removes the entry of <paramref name="a"/> (ndp -d); ESRCH if there is none.</summary>
    public int Delete(Ipv6Addr a)
    {
        _lock.Enter();
        bool found = _map.Remove(a, out Entry? e);
        Mbuf? h = e?.Hold.DequeueAll();
        _lock.Exit();
        for (; h != null;) { Mbuf? n = h.NextPacket; h.NextPacket = null; h.Free(); h = n; }
        return found ? 0 : Abi.ESRCH;
    }

    private void ArmLocked()
    {
        if (_timerArmed || _gone) return;
        _timerArmed = true;
        _in.Kernel.Callouts.Schedule(_timer, RetransNs);
    }

    /// <summary>Every second while there are entries: the state machine's timeouts (see the class comment).</summary>
    private void Tick()
    {
        long now = Clock.MonotonicNs();
        List<(Ipv6Addr, bool)>? ask = null;
        Mbuf? drop = null;
        _lock.Enter();
        _timerArmed = false;
        List<Ipv6Addr>? remove = null;
        foreach (KeyValuePair<Ipv6Addr, Entry> kv in _map)
        {
            Entry e = kv.Value;
            if (e.Expires > now) continue;
            switch (e.State)
            {
                case State.Incomplete:
                case State.Probe:
                    int max = e.State == State.Incomplete ? MaxMulticastSolicit : MaxUnicastSolicit;
                    if (e.Tries >= max)
                    {
                        // Unreachable: the entry and its held packets go.
                        (remove ??= new()).Add(kv.Key);
                        Interlocked.Increment(ref S.NdTimeouts);
                        for (Mbuf? h = e.Hold.DequeueAll(); h != null;)
                        {
                            Mbuf? n = h.NextPacket;
                            h.NextPacket = drop;
                            drop = h;
                            h = n;
                        }
                        break;
                    }
                    e.Tries++;
                    e.Expires = now + RetransNs;
                    (ask ??= new()).Add((kv.Key, e.State == State.Incomplete));
                    break;
                case State.Reachable:
                    e.State = State.Stale;
                    e.Expires = now + StaleKeepNs;
                    break;
                case State.Delay:
                    e.State = State.Probe;
                    e.Tries = 1;
                    e.Expires = now + RetransNs;
                    (ask ??= new()).Add((kv.Key, false));
                    break;
                case State.Stale:
                    (remove ??= new()).Add(kv.Key);
                    break;
            }
        }
        if (remove != null) foreach (Ipv6Addr k in remove) _map.Remove(k);
        for (int i = _dad.Count - 1; i >= 0; i--)
            if (now - _dad[i].Added >= Inet6.DadWindowNs)
            {
                In6Ifaddr ia = _dad[i];
                ia.SetFlags(0, In6Ifaddr.IN6_IFF_TENTATIVE);
                _dad.RemoveAt(i);
                // The link-local address is ours: ask the routers now rather than wait for
                // their next periodic advertisement (which may be minutes away).
                if (ia.Addr.IsLinkLocal && ia.Usable)
                {
                    _rsLeft = MaxRtrSolicitations;
                    _rsNext = now;
                }
            }
        bool solicit = _rsLeft > 0 && _rsNext <= now;
        if (solicit)
        {
            _rsLeft--;
            _rsNext = now + RtrSolicitationIntervalNs;
        }
        if (_map.Count > 0 || _dad.Count > 0 || _rsLeft > 0) ArmLocked();
        _lock.Exit();
        if (solicit) SendRs();
        while (drop != null)
        {
            Mbuf? n = drop.NextPacket;
            drop.NextPacket = null;
            drop.Free();
            Interlocked.Increment(ref S.NdDropHeld);
            drop = n;
        }
        if (ask != null) foreach (var (a, mc) in ask) SendNs(a, mc);
    }
}
