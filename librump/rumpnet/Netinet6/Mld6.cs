using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet6;

/// <summary>
/// The listener's side of Multicast Listener Discovery version 2 (RFC 3810) on one Ethernet
/// interface: the groups this host listens to are reported to the link's multicast routers and
/// snooping switches, which otherwise may stop forwarding them, and neighbour discovery's
/// solicited-node groups with them (RFC 4861 7.2.1 requires joining those with MLD).
///
/// The groups are the solicited-node groups of the interface's addresses (all-nodes is never
/// reported, RFC 3810 6). A group that appears is announced at once with a CHANGE_TO_EXCLUDE
/// record, and again <see cref="RepeatNs"/> later (the robustness variable, 2); one that goes is
/// announced with CHANGE_TO_INCLUDE, twice too. A query from a router on the link (a link-local
/// source, hop limit 1) is answered after a random delay within its maximum response time: a
/// general query with every group (MODE_IS_EXCLUDE), a group-specific one with that group if we
/// listen to it. Reports go to ff02::16 with hop limit 1 and a router alert, from the link-local
/// address, or from :: while that is still being checked for duplicates (RFC 3810 5.2.13).
/// Not done: MLDv1 compatibility (a host that hears an MLDv1 querier should answer in MLDv1;
/// ours answers in MLDv2, which MLDv1-only routers ignore) and source filters (no socket joins
/// groups: the only groups are the kernel's own).
///
/// Locks: <see cref="_lock"/> protects the pending reports and their times; only the callout
/// queue's lock is taken after it, and nothing is sent while it is held.
/// </summary>
public sealed class Mld6
{
    public const long RepeatNs = 1_000_000_000;
    /// <summary>A report's bytes before its records: the IPv6 header's hop-by-hop header (router alert) lies outside.</summary>
    private const int HopByHopSize = 8;

    private readonly Inet6 _in;
    private readonly Ifnet _ifp;
    private readonly KMutex _lock;
    private readonly Callout _timer;
    /// <summary>State-change records still to repeat (group and record type), due at <see cref="_repeatAt"/>.</summary>
    private readonly List<(Ipv6Addr Group, byte Type)> _repeat = new();
    private long _repeatAt;
    /// <summary>When the answer to a query is due (monotonic ns), or 0; and whether it is for every group (else <see cref="_queried"/>).</summary>
    private long _answerAt;
    private bool _answerAll;
    private readonly List<Ipv6Addr> _queried = new();

    internal Mld6(Inet6 inet, Ifnet ifp)
    {
        _in = inet;
        _ifp = ifp;
        _lock = new KMutex(inet.Kernel);
        _timer = new Callout(_ => Tick());
    }

    private Inet6Stats S => _in.Stats;

    /// <summary>The groups the interface listens to now and would report: its addresses' solicited-node groups, each once.</summary>
    public List<Ipv6Addr> Groups()
    {
        var g = new List<Ipv6Addr>();
        foreach (In6Ifaddr ia in _in.Addresses())
            if (ia.Ifp == _ifp && !g.Contains(ia.Addr.SolicitedNode)) g.Add(ia.Addr.SolicitedNode);
        return g;
    }

    /// <summary>
    /// The address <paramref name="a"/> was added to the interface (<paramref name="joined"/>) or
    /// removed from it, and the address list says so already: its solicited-node group's change is
    /// announced, unless another address of the interface keeps that group.
    /// </summary>
    internal void Changed(Ipv6Addr a, bool joined)
    {
        Ipv6Addr g = a.SolicitedNode;
        int n = 0;
        foreach (In6Ifaddr ia in _in.Addresses())
            if (ia.Ifp == _ifp && ia.Addr.SolicitedNode == g) n++;
        if (joined ? n > 1 : n > 0) return;
        byte type = joined ? Icmpv6Packet.MldChangeToExclude : Icmpv6Packet.MldChangeToInclude;
        _lock.Enter();
        for (int i = _repeat.Count - 1; i >= 0; i--)
            if (_repeat[i].Group == g) _repeat.RemoveAt(i); // the latest change is the one that counts
        _repeat.Add((g, type));
        _repeatAt = Clock.MonotonicNs() + RepeatNs;
        ArmLocked();
        _lock.Exit();
        Send(type, new ReadOnlySpan<Ipv6Addr>(in g));
    }

    /// <summary>Arms the timer for the earliest of the repeat and the query answer. Precondition: lock held.</summary>
    private void ArmLocked()
    {
        long at = _repeat.Count > 0 ? _repeatAt : long.MaxValue;
        if (_answerAt != 0) at = Math.Min(at, _answerAt);
        if (at != long.MaxValue) _in.Kernel.Callouts.Schedule(_timer, at - Clock.MonotonicNs());
    }

    /// <summary>An MLD query received on the interface (<paramref name="p"/> checksummed by ICMPv6).</summary>
    internal void Query(in Icmpv6Packet p, in Ip6In ip)
    {
        Interlocked.Increment(ref S.MldQueriesIn);
        int len = p.Data.Length + Icmpv6Packet.HeaderSize;
        if (!ip.Src.IsLinkLocal || ip.HopLimit != 1 || (len != Icmpv6Packet.MldV1QueryLength && len < Icmpv6Packet.MldV2QueryMinLength))
        {
            Interlocked.Increment(ref S.MldBad);
            return;
        }
        Ipv6Addr g = p.MldGroup;
        bool general = In6.IsUnspecified(g);
        if (!general && (!g.IsMulticast || !Groups().Contains(g))) return; // not a group of ours
        // A random moment within the maximum response time, so that the hosts on a link do not all answer at once.
        long delay = (long)(Random.Shared.NextDouble() * Math.Max(1u, p.MldMaxResponseMs) * 1_000_000);
        long at = Clock.MonotonicNs() + delay;
        _lock.Enter();
        if (general) _answerAll = true;
        else if (!_queried.Contains(g)) _queried.Add(g);
        if (_answerAt == 0 || at < _answerAt)
        {
            _answerAt = at;
            ArmLocked();
        }
        _lock.Exit();
    }

    /// <summary>Sends the repeats and a query's answer that are due, and arms itself for what is left.</summary>
    private void Tick()
    {
        long now = Clock.MonotonicNs();
        List<(Ipv6Addr, byte)>? repeat = null;
        bool answer = false, all = false;
        Ipv6Addr[]? queried = null;
        _lock.Enter();
        if (_repeat.Count > 0 && _repeatAt <= now)
        {
            repeat = new List<(Ipv6Addr, byte)>(_repeat);
            _repeat.Clear();
        }
        if (_answerAt != 0 && _answerAt <= now)
        {
            answer = true;
            all = _answerAll;
            queried = _queried.ToArray();
            _answerAt = 0;
            _answerAll = false;
            _queried.Clear();
        }
        ArmLocked();
        _lock.Exit();
        if (repeat != null)
            foreach (var (g, type) in repeat) Send(type, new ReadOnlySpan<Ipv6Addr>(in g));
        if (answer)
        {
            List<Ipv6Addr> mine = Groups();
            if (!all)
                mine.RemoveAll(g => Array.IndexOf(queried!, g) < 0);
            if (mine.Count > 0) Send(Icmpv6Packet.MldModeIsExclude, mine.ToArray());
        }
    }

    /// <summary>A report of <paramref name="groups"/> with one record type, to ff02::16 with a router alert and hop limit 1.</summary>
    private void Send(byte type, ReadOnlySpan<Ipv6Addr> groups)
    {
        if (!_ifp.IsUp || groups.Length == 0) return;
        In6Ifaddr? ll = _in.LinkLocalOf(_ifp);
        Ipv6Addr src = ll != null && (ll.Flags & (In6Ifaddr.IN6_IFF_TENTATIVE | In6Ifaddr.IN6_IFF_DUPLICATED)) == 0 ? ll.Addr : Ipv6Addr.Unspecified;
        Ipv6Addr dst = Ipv6Addr.AllMldRouters;
        int len = Icmpv6Packet.MldV2ReportLength(groups.Length);
        Mbuf? m = _in.Net.Mbufs.Get(HopByHopSize + len);
        if (m == null) return;
        Span<byte> d = m.Append(HopByHopSize + len);
        // Hop-by-hop options: next header ICMPv6, length 0 (8 bytes), router alert "MLD" (RFC 2711), PadN of 0.
        d[0] = Ipv6Packet.NextIcmpv6;
        d[1] = 0;
        d[2] = 5; d[3] = 2; d[4] = 0; d[5] = 0;
        d[6] = 1; d[7] = 0;
        Icmpv6Packet.EmitMldV2Report(d.Slice(HopByHopSize), src, dst, type, groups);
        Span<byte> h = m.Prepend(Ipv6Packet.HeaderSize);
        if (h.IsEmpty) { m.Free(); return; }
        Ipv6Packet.Emit(h, new Ipv6Header { Source = src, Destination = dst, NextHeader = Ipv6Packet.NextHopByHop, HopLimit = 1 }, HopByHopSize + len);
        m.Protocol = EthernetFrame.TypeIpv6;
        Interlocked.Increment(ref S.MldReportsOut);
        Ether.EtherOutput(_ifp, m, In6.EtherMulticast(dst));
    }
}
