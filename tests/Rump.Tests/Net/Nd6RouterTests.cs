using System;
using System.Buffers.Binary;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet6;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The host's side of router discovery (RFC 4861 6.3, RFC 4862 5.5) on an Ethernet test
/// interface, with advertisements made by hand: the router solicitation the kernel sends once
/// its link-local address is its own, byte by byte; which prefix and MTU options it takes and
/// which it ignores; RFC 4862 5.5.3 e's two-hour rule against an advertisement that would cut an
/// address short; and a router lifetime of 0 taking the default route away. (SlaacTests does
/// the same against radvd.)
/// </summary>
public class Nd6RouterTests : KernelTest
{
    private static readonly Ipv6Addr Router = Inet6Tests.A6("fe80::1");

    [Test]
    public void TheKernelSolicitsRouters_TakesTheUsablePrefixesAndMtu_AndKeepsTwoHoursAgainstAShortLifetime()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        var ifp = new EtherTestIf(k.Kernel, "eth6", Inet6Tests.OurMac, multicast: true);
        Assert.That(in6.Net.Attach(ifp), Is.EqualTo(0));
        ifp.SetFlags(0, Ifnet.IFF_UP);
        ifp.SetFlags(Ifnet.IFF_UP, 0); // going up gives the link-local address, and then the solicitation
        Assert.That(Eventually(() => in6.Stats.NdRsOut >= 1), Is.True, "a router solicitation once the link-local address is ours");
        In6Ifaddr ll = in6.LinkLocalOf(ifp)!;
        Assert.That(ll.Flags & In6Ifaddr.IN6_IFF_TENTATIVE, Is.Zero, "solicited only after DAD");
        byte[]? rs = Array.Find(ifp.Frames(), f => f.Length >= 54 + 16 && f[54] == Icmpv6Packet.TypeRouterSolicit);
        Assert.That(rs, Is.Not.Null, "the solicitation among the frames sent");
        EthernetFrame.Parse(rs!, out EthernetFrame eth);
        Assert.That(Ipv6Packet.Parse(eth.Payload, out Ipv6Packet ip), Is.EqualTo(WireError.Ok));
        Assert.That((eth.Destination, ip.Source, ip.Destination, ip.HopLimit),
            Is.EqualTo((In6.EtherMulticast(Ipv6Addr.AllRouters), ll.Addr, Ipv6Addr.AllRouters, (byte)255)), "to all routers, from the link-local address, hop limit 255");
        Assert.That(Icmpv6Packet.Parse(ip.Payload, ip.Source, ip.Destination, out Icmpv6Packet p), Is.EqualTo(WireError.Ok), "a valid ICMPv6 checksum");
        Assert.That(NdOptions.Parse(p.NdOptionBytes, out NdOptions o), Is.EqualTo(WireError.Ok));
        Assert.That((o.HasSourceLinkAddr, o.SourceLinkAddr), Is.EqualTo((true, new EtherAddr(Inet6Tests.OurMac))), "our link-layer address");

        // One advertisement: a good prefix, and prefixes SLAAC must ignore (not 64 bits, preferred
        // longer than valid, link-local, not autonomous), an MTU under IPv6's minimum, then a good one.
        byte[] ra = Ra(1800,
            Prefix("fd00:1::", 64, NdOptions.PrefixFlagAutonomous | NdOptions.PrefixFlagOnLink, 4 * 3600, 3600),
            Prefix("fd00:2::", 48, NdOptions.PrefixFlagAutonomous, 7200, 3600),
            Prefix("fd00:3::", 64, NdOptions.PrefixFlagAutonomous, 100, 200),
            Prefix("fe80::", 64, NdOptions.PrefixFlagAutonomous, 7200, 3600),
            Prefix("fd00:4::", 64, NdOptions.PrefixFlagOnLink, 7200, 3600),
            Mtu(1000), Mtu(1400));
        EtherTestIf.Inject(k, ifp, Inet6Tests.Frame(Router, Ipv6Addr.AllNodes, Ipv6Packet.NextIcmpv6, 255, ra));
        var a = new Ipv6Addr(Inet6Tests.A6("fd00:1::").Hi, ll.Addr.Lo);
        // The on-link-only prefix is the advertisement's last: once it is a route, all of it was taken.
        Assert.That(Eventually(() => in6.FindAddress(a, ifp) != null && in6.Lookup(Inet6Tests.A6("fd00:4::9")) != null), Is.True,
            () => $"the address of the good prefix and the on-link route (advertisements seen: {in6.Stats.NdRaIn}, bad: {in6.Stats.NdBad})");
        Assert.That(in6.Stats.NdSlaacAddresses, Is.EqualTo(1L), "only the good prefix gives an address");
        Assert.That(in6.LinkMtu(ifp), Is.EqualTo(1400), "the usable MTU option");
        Assert.That(in6.Lookup(Inet6Tests.A6("2001:db8::1"))?.Gateway, Is.EqualTo(Router), "a default route through the router");
        Rt6Entry? onLink = in6.Lookup(Inet6Tests.A6("fd00:4::9"));
        Assert.That((onLink?.IsGateway, onLink?.PrefixLength, onLink?.Ifp), Is.EqualTo(((bool?)false, (int?)64, (Ifnet?)ifp)), "the on-link-only prefix: reached directly on the link");

        // A later advertisement with a 10-second valid lifetime cannot take the 4-hour address
        // away: it is cut to two hours (RFC 4862 5.5.3 e 3). An MTU above the interface's is ignored.
        EtherTestIf.Inject(k, ifp, Inet6Tests.Frame(Router, Ipv6Addr.AllNodes, Ipv6Packet.NextIcmpv6, 255,
            Ra(1800, Prefix("fd00:1::", 64, NdOptions.PrefixFlagAutonomous, 10, 5), Mtu(9000))));
        In6Ifaddr ia = in6.FindAddress(a, ifp)!;
        Assert.That(Eventually(() => ia.PreferredUntil - Clock.MonotonicNs() <= 5_000_000_000L), Is.True, "the new preferred lifetime (always taken)");
        long left = ia.ValidUntil - Clock.MonotonicNs();
        Assert.That(left, Is.InRange(Inet6.TwoHoursNs - 60_000_000_000L, Inet6.TwoHoursNs), "the valid lifetime left, in ns: two hours, not 10 s or the 4 hours before");
        Assert.That(in6.LinkMtu(ifp), Is.EqualTo(1400), "an MTU past the interface's is ignored");
        Assert.That(in6.Stats.NdSlaacAddresses, Is.EqualTo(1L), "no new address for a known prefix");

        // Router lifetime 0: the router is no default router any more; valid lifetime 0: the prefix is not on the link.
        EtherTestIf.Inject(k, ifp, Inet6Tests.Frame(Router, Ipv6Addr.AllNodes, Ipv6Packet.NextIcmpv6, 255, Ra(0, Prefix("fd00:4::", 64, NdOptions.PrefixFlagOnLink, 0, 0))));
        Assert.That(Eventually(() => in6.Lookup(Inet6Tests.A6("2001:db8::1")) == null), Is.True, "the default route removed");
        Assert.That(Eventually(() => in6.Lookup(Inet6Tests.A6("fd00:4::9")) == null), Is.True, "the on-link prefix removed");
    }

    /// <summary>A router advertisement from <see cref="Router"/> to all nodes with <paramref name="options"/>, checksummed.</summary>
    private static byte[] Ra(ushort routerLifetime, params byte[][] options)
    {
        int len = 16;
        foreach (byte[] o in options) len += o.Length;
        byte[] m = new byte[len];
        m[0] = Icmpv6Packet.TypeRouterAdvert;
        m[4] = 64;
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(6), routerLifetime);
        int at = 16;
        foreach (byte[] o in options) { o.CopyTo(m, at); at += o.Length; }
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(2),
            Checksum.Finish(Checksum.Add(m, Checksum.PseudoHeaderV6(Router, Ipv6Addr.AllNodes, Ipv6Packet.NextIcmpv6, m.Length))));
        return m;
    }

    private static byte[] Prefix(string prefix, byte plen, byte flags, uint valid, uint preferred)
    {
        byte[] o = new byte[NdPrefixInfo.Size];
        o[0] = NdOptions.TypePrefixInfo;
        o[1] = 4;
        o[2] = plen;
        o[3] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(o.AsSpan(4), valid);
        BinaryPrimitives.WriteUInt32BigEndian(o.AsSpan(8), preferred);
        Inet6Tests.A6(prefix).Write(o.AsSpan(16));
        return o;
    }

    private static byte[] Mtu(uint mtu)
    {
        byte[] o = new byte[8];
        o[0] = NdOptions.TypeMtu;
        o[1] = 1;
        BinaryPrimitives.WriteUInt32BigEndian(o.AsSpan(4), mtu);
        return o;
    }
}
