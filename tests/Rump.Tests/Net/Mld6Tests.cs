using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet6;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// MLDv2 (RFC 3810), the listener's side: the reports an Ethernet test interface sends when an
/// address (and so its solicited-node group) comes and goes, byte by byte; the answers to general
/// and group-specific queries; queries that must be ignored. The root test has Linux's bridge,
/// snooping multicast, learn the kernel's groups from its reports.
/// </summary>
[NonParallelizable]
public class Mld6Tests : KernelTest
{
    private static readonly Ipv6Addr Querier = Inet6Tests.A6("fe80::1");

    /// <summary>Whether an Ethernet frame is an MLDv2 report (to ff02::16, a hop-by-hop header, then ICMPv6 type 143).</summary>
    internal static bool IsMldReport(byte[] f)
        => f.Length >= 14 + 40 + 8 + 8 && BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == EthernetFrame.TypeIpv6
            && f[14 + 6] == Ipv6Packet.NextHopByHop && f[14 + 40] == Ipv6Packet.NextIcmpv6 && f[14 + 48] == Icmpv6Packet.TypeMldV2Report;

    /// <summary>Checks <paramref name="f"/> is a well-formed MLDv2 report and returns its records (type, group).</summary>
    private static List<(byte Type, Ipv6Addr Group)> Records(byte[] f)
    {
        Assert.That(IsMldReport(f), Is.True, "an MLDv2 report");
        EthernetFrame.Parse(f, out EthernetFrame eth);
        Assert.That(eth.Destination, Is.EqualTo(In6.EtherMulticast(Ipv6Addr.AllMldRouters)));
        Assert.That(Ipv6Packet.Parse(eth.Payload, out Ipv6Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That((ip.Destination, ip.HopLimit), Is.EqualTo((Ipv6Addr.AllMldRouters, (byte)1)), "to all MLDv2 routers, hop limit 1");
        ReadOnlySpan<byte> hbh = ip.Payload.Slice(0, 8);
        Assert.That(hbh.Slice(2, 4).ToArray(), Is.EqualTo(new byte[] { 5, 2, 0, 0 }), "a router alert for MLD (RFC 2711)");
        ReadOnlySpan<byte> msg = ip.Payload.Slice(8);
        Assert.That(Icmpv6Packet.Parse(msg, ip.Source, ip.Destination, out _), Is.EqualTo(WireError.Ok), "a valid checksum");
        int n = BinaryPrimitives.ReadUInt16BigEndian(msg.Slice(6));
        Assert.That(msg.Length, Is.EqualTo(8 + 20 * n), "records of 20 bytes, no sources");
        var r = new List<(byte, Ipv6Addr)>();
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<byte> rec = msg.Slice(8 + 20 * i, 20);
            Assert.That((rec[1], BinaryPrimitives.ReadUInt16BigEndian(rec.Slice(2))), Is.EqualTo(((byte)0, (ushort)0)));
            r.Add((rec[0], Ipv6Addr.Read(rec.Slice(4))));
        }
        return r;
    }

    /// <summary>An MLD query to all nodes with a router alert; <paramref name="v2"/> a 28-byte MLDv2 query, else a 24-byte MLDv1 one.</summary>
    private static byte[] Query(Ipv6Addr src, Ipv6Addr group, ushort maxRespMs, byte hopLimit = 1, bool v2 = true)
    {
        byte[] q = new byte[v2 ? 28 : 24];
        q[0] = Icmpv6Packet.TypeMldQuery;
        BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(4), maxRespMs);
        group.Write(q.AsSpan(8));
        BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(2),
            Checksum.Finish(Checksum.Add(q, Checksum.PseudoHeaderV6(src, Ipv6Addr.AllNodes, Ipv6Packet.NextIcmpv6, q.Length))));
        byte[] p = new byte[8 + q.Length];
        p[0] = Ipv6Packet.NextIcmpv6;
        p[2] = 5; p[3] = 2; p[6] = 1;
        q.CopyTo(p, 8);
        return Inet6Tests.Frame(src, Ipv6Addr.AllNodes, Ipv6Packet.NextHopByHop, hopLimit, p);
    }

    [Test]
    public void AddressesReportTheirGroups_QueriesAreAnswered_BadQueriesIgnored()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        var ifp = new EtherTestIf(k.Kernel, "eth6", Inet6Tests.OurMac, multicast: true);
        Assert.That(in6.Net.Attach(ifp), Is.EqualTo(0));
        Ipv6Addr a = Inet6Tests.A6("fd00:6::2"), b = Inet6Tests.A6("fd00:7::2"), c = Inet6Tests.A6("fd00:6::3");
        List<byte[]> Reports() => new(Array.FindAll(ifp.Frames(), IsMldReport));

        // A new address: its group is reported at once, from :: (no link-local address yet), and again a second later.
        Assert.That(in6.AddAddress(ifp, a, 64), Is.EqualTo(0));
        Assert.That(Records(Reports()[0]), Is.EqualTo(new[] { (Icmpv6Packet.MldChangeToExclude, a.SolicitedNode) }), "a join of fd00:6::2's group");
        Assert.That(Eventually(() => Reports().Count == 2), Is.True, () => $"the repeat of the report: {Reports().Count} reports");
        Assert.That(Records(Reports()[1]), Is.EqualTo(Records(Reports()[0])), "the same record again");

        // Another address with the same last 24 bits shares the group: nothing new to report.
        Assert.That(in6.AddAddress(ifp, b, 64), Is.EqualTo(0));
        Assert.That(Reports(), Has.Count.EqualTo(2), "no report for a group already joined");
        Assert.That(in6.AddAddress(ifp, c, 64), Is.EqualTo(0));
        Assert.That(Records(Reports()[^1]), Is.EqualTo(new[] { (Icmpv6Packet.MldChangeToExclude, c.SolicitedNode) }));

        // A general query from a router: one report of every group, within the 100 ms asked.
        int before = Reports().Count;
        Assert.That(Eventually(() => Reports().Count == before + 1), Is.True, "c's repeat");
        before = Reports().Count;
        EtherTestIf.Inject(k, ifp, Query(Querier, Ipv6Addr.Unspecified, 100));
        Assert.That(Eventually(() => Reports().Count == before + 1), Is.True, () => $"the answer to a general query (queries in: {in6.Stats.MldQueriesIn}, bad: {in6.Stats.MldBad})");
        var groups = Records(Reports()[^1]);
        Assert.That(groups, Is.EquivalentTo(new[] { (Icmpv6Packet.MldModeIsExclude, a.SolicitedNode), (Icmpv6Packet.MldModeIsExclude, c.SolicitedNode) }),
            "each group once, in its current state");

        // A group-specific query (MLDv1's 24 bytes) for one of ours: that group alone. For a group we are not in: nothing.
        before = Reports().Count;
        EtherTestIf.Inject(k, ifp, Query(Querier, c.SolicitedNode, 50, v2: false));
        Assert.That(Eventually(() => Reports().Count == before + 1), Is.True, "the answer to a group-specific query");
        Assert.That(Records(Reports()[^1]), Is.EqualTo(new[] { (Icmpv6Packet.MldModeIsExclude, c.SolicitedNode) }));
        long queries = in6.Stats.MldQueriesIn;
        EtherTestIf.Inject(k, ifp, Query(Querier, Inet6Tests.A6("ff02::1:ff00:99"), 10));
        // Hostile or misdirected queries: a hop limit other than 1, a global source. Counted, not answered.
        EtherTestIf.Inject(k, ifp, Query(Querier, Ipv6Addr.Unspecified, 10, hopLimit: 64));
        EtherTestIf.Inject(k, ifp, Query(Inet6Tests.A6("fd00:6::1"), Ipv6Addr.Unspecified, 10));
        Assert.That(Eventually(() => in6.Stats.MldQueriesIn == queries + 3), Is.True, "the three queries taken in");
        Assert.That(in6.Stats.MldBad, Is.EqualTo(2L), "bad queries counted");

        // Removing c leaves its group: reported with CHANGE_TO_INCLUDE (no sources: not listening).
        // The report after it (if any) can only be the repeat of that leave.
        before = Reports().Count;
        Assert.That(in6.DeleteAddress(ifp, c), Is.EqualTo(0));
        Assert.That(Records(Reports()[before]), Is.EqualTo(new[] { (Icmpv6Packet.MldChangeToInclude, c.SolicitedNode) }), "the leave of c's group, right away");
        Assert.That(Eventually(() => Reports().Count == before + 2), Is.True, "the leave repeated");
        Assert.That(Records(Reports()[before + 1]), Is.EqualTo(Records(Reports()[before])), "no answer to the unknown group or the bad queries came between");
    }

    /// <summary>
    /// Linux's bridge with multicast snooping (root: a TAP in a network namespace, the TAP a port
    /// of the bridge) learns the kernel's groups from its reports: its link-local and its
    /// configured address's solicited-node groups appear in the bridge's multicast database on
    /// the TAP's port, and the configured one leaves it when the address is removed.
    /// </summary>
    [Test]
    public void Root_LinuxsSnoopingBridgeLearnsTheKernelsGroups()
    {
        using var tn = new TapNs("rumpmld-", "rmld");
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        Assert.That(tn.Run("ip link add br0 type bridge mcast_snooping 1").status, Is.EqualTo(0), "a snooping bridge");
        Ifnet ifp = tn.AttachKernel(k, "fd00:8::1/64");
        Assert.That(tn.Run($"ip link set {tn.Tap} master br0").status, Is.EqualTo(0));
        Assert.That(tn.Run("ip link set br0 up").status, Is.EqualTo(0));
        // The link-local address comes when virt0 goes up; add the global one once the TAP is a port.
        Assert.That(Eventually(() => in6.LinkLocalOf(ifp) != null), Is.True, "virt0's link-local address");
        Ipv6Addr a = Inet6Tests.A6("fd00:8::42:1:2");
        Assert.That(in6.AddAddress(ifp, a, 64), Is.EqualTo(0));
        string Mdb() => tn.Run("bridge mdb show dev br0").stdout;
        string g = In6.Format(a.SolicitedNode), ll = In6.Format(in6.LinkLocalOf(ifp)!.Addr.SolicitedNode);
        Assert.That(Eventually(() => Mdb().Contains(g)), Is.True,
            () => $"the bridge's database lists {g} (reports sent: {in6.Stats.MldReportsOut}):\n{Mdb()}");
        Assert.That(Mdb(), Does.Contain("port " + tn.Tap), "learned on the TAP's port");
        Assert.That(Eventually(() => Mdb().Contains(ll)), Is.True, () => $"the link-local address's group {ll} too:\n{Mdb()}");
        Assert.That(in6.DeleteAddress(ifp, a), Is.EqualTo(0));
        Assert.That(Eventually(() => !Mdb().Contains(g)), Is.True, () => $"{g} gone from the bridge's database after the leave:\n{Mdb()}");
    }
}
