using System;
using System.IO;
using System.Diagnostics;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Virtif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// Stateless address autoconfiguration (RFC 4862) with Linux as the router (root: a TAP in a
/// network namespace, as Inet6LinuxTests): radvd advertises fd00:7a::/64 on the TAP, the kernel
/// forms fd00:7a:: plus its interface identifier and takes a default route through radvd's host,
/// and the host's ping -6 of that address gets its replies. Also router solicitation, the MTU
/// option, several prefixes, and lifetimes running out.
/// </summary>
[NonParallelizable]
public class SlaacTests : KernelTest
{
    [Test]
    public void Root_RadvdsPrefixGivesAnAddressTheHostPings_AndADefaultRoute()
    {
        using var tn = new TapNs("rumpra-", "rra");
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        Ifnet ifp = tn.AttachKernel(k, "fd00:7a::1/64");
        Ipv6Addr expected = SlaacAddress(in6, ifp, "fd00:7a::");
        WithRadvd(tn, "  AdvSendAdvert on;\n  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n" +
            "  prefix fd00:7a::/64 { AdvOnLink on; AdvAutonomous on; };\n", () =>
        {
            Assert.That(Eventually(() => in6.FindAddress(expected, ifp) != null), Is.True,
                () => $"the address {In6.Format(expected)} from radvd's prefix (router advertisements seen: {in6.Stats.NdRaIn})");
            Assert.That(in6.Stats.NdSlaacAddresses, Is.EqualTo(1L), "one address formed, however many advertisements came");
            Assert.That(in6.Lookup(Inet6Tests.A6("2001:db8::1")), Is.Not.Null, "a default route through the advertising router");
            var (st, so, se) = tn.Run($"ping -6 -c 2 -i 0.2 -W 5 {In6.Format(expected)}");
            Assert.That(st, Is.EqualTo(0), "the host pings the autoconfigured address: " + so + se);
            Assert.That(so, Does.Contain("2 received"));
        });
    }

    /// <summary>
    /// A router that never advertises on its own (radvd's UnicastOnly: it only answers
    /// solicitations) still configures the kernel: the kernel solicits once its link-local
    /// address is its own (RFC 4861 6.3.7). The advertisement's MTU option (1400) becomes the
    /// link MTU IPv6 uses, and both of its autonomous prefixes give an address.
    /// </summary>
    [Test]
    public void Root_ARouterThatOnlyAnswersSolicitationsConfiguresTheKernel_WithItsMtuAndEveryPrefix()
    {
        using var tn = new TapNs("rumprs-", "rrs");
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        Ifnet ifp = tn.AttachKernel(k, "fd00:7b::1/64");
        Ipv6Addr first = SlaacAddress(in6, ifp, "fd00:7b::"), second = SlaacAddress(in6, ifp, "fd00:7c::");
        WithRadvd(tn, "  AdvSendAdvert on;\n  UnicastOnly on;\n  AdvLinkMTU 1400;\n" +
            "  prefix fd00:7b::/64 { AdvOnLink on; AdvAutonomous on; };\n  prefix fd00:7c::/64 { AdvOnLink on; AdvAutonomous on; };\n", () =>
        {
            Assert.That(Eventually(() => in6.FindAddress(first, ifp) != null && in6.FindAddress(second, ifp) != null), Is.True,
                () => $"addresses {In6.Format(first)} and {In6.Format(second)} from the answer to our solicitation " +
                    $"(solicitations sent: {in6.Stats.NdRsOut}, advertisements seen: {in6.Stats.NdRaIn}, addresses formed: {in6.Stats.NdSlaacAddresses})");
            Assert.That(in6.Stats.NdRsOut, Is.InRange(1L, (long)Nd6Cache.MaxRtrSolicitations), "solicitations sent");
            Assert.That(in6.LinkMtu(ifp), Is.EqualTo(1400), "the advertised link MTU");
            Assert.That(in6.Lookup(Inet6Tests.A6("2001:db8::1")), Is.Not.Null, "a default route through the router that answered");
            Assert.That(tn.Run($"ip -6 addr add fd00:7c::1/64 dev {tn.Tap} nodad").status, Is.EqualTo(0), "the host on the second prefix too");
            var (st, so, se) = tn.Run($"ping -6 -c 1 -W 5 {In6.Format(second)}");
            Assert.That(st, Is.EqualTo(0), "the host pings the second prefix's address: " + so + se);
        });
    }

    /// <summary>
    /// An address lives as long as its prefix's lifetimes say (RFC 4862 5.5.4) and the default
    /// route as long as the router lifetime (RFC 4861 6.3.4), when no advertisement renews them
    /// (radvd answers one solicitation and stays quiet): preferred 3 s, then deprecated; valid
    /// 6 s, then removed; the router's 4 s, then its route goes.
    /// </summary>
    [Test]
    public void Root_AnAddressIsDeprecatedThenRemovedAsItsPrefixLifetimesRunOut_AndTheRouteWithTheRouterLifetime()
    {
        using var tn = new TapNs("rumplt-", "rlt");
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        Ifnet ifp = tn.AttachKernel(k, "fd00:7d::1/64");
        Ipv6Addr a = SlaacAddress(in6, ifp, "fd00:7d::");
        WithRadvd(tn, "  AdvSendAdvert on;\n  UnicastOnly on;\n  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n  AdvDefaultLifetime 4;\n" +
            "  prefix fd00:7d::/64 { AdvOnLink on; AdvAutonomous on; AdvValidLifetime 6; AdvPreferredLifetime 3; };\n", () =>
        {
            Assert.That(Eventually(() => in6.FindAddress(a, ifp) != null), Is.True, () => $"the address {In6.Format(a)} (advertisements seen: {in6.Stats.NdRaIn})");
            Assert.That(in6.Lookup(Inet6Tests.A6("2001:db8::1")), Is.Not.Null, "a default route while the router lifetime lasts");
            Assert.That(Eventually(() => (in6.FindAddress(a, ifp)?.Flags & In6Ifaddr.IN6_IFF_DEPRECATED) != 0), Is.True,
                () => $"the address deprecated after its preferred lifetime (flags now: {in6.FindAddress(a, ifp)?.Flags:x})");
            Assert.That(in6.SelectSource(Inet6Tests.A6("fd00:7d::1"), ifp, out Ipv6Addr src), Is.EqualTo(0), "a deprecated address is still a source when it is the only one");
            Assert.That(src, Is.EqualTo(a));
            Assert.That(Eventually(() => in6.Lookup(Inet6Tests.A6("2001:db8::1")) == null), Is.True, "the default route gone with the router lifetime");
            Assert.That(Eventually(() => in6.FindAddress(a, ifp) == null), Is.True, "the address removed after its valid lifetime");
            Assert.That(in6.Stats.NdSlaacExpired, Is.EqualTo(1L), "addresses expired");
            Assert.That(in6.Stats.NdRaIn, Is.EqualTo(1L), "no advertisement renewed them");
        });
    }

    /// <summary>The address SLAAC forms on <paramref name="ifp"/> from a /64 <paramref name="prefix"/>: the prefix and the link-local address's interface identifier.</summary>
    private static Ipv6Addr SlaacAddress(Inet6 in6, Ifnet ifp, string prefix)
    {
        Assert.That(Eventually(() => in6.LinkLocalOf(ifp) != null), Is.True, "virt0's link-local address");
        return new Ipv6Addr(Inet6Tests.A6(prefix).Hi, in6.LinkLocalOf(ifp)!.Addr.Lo);
    }

    /// <summary>Runs radvd on the namespace's TAP with <paramref name="ifaceBody"/> as its interface block, forwarding on (radvd refuses otherwise), around <paramref name="body"/>.</summary>
    private static void WithRadvd(TapNs tn, string ifaceBody, Action body)
    {
        string dir = Path.Combine(Path.GetTempPath(), "rumpra-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            string conf = Path.Combine(dir, "radvd.conf");
            System.IO.File.WriteAllText(conf, "interface " + tn.Tap + " {\n" + ifaceBody + "};\n");
            Assert.That(tn.Run("sysctl -qw net.ipv6.conf.all.forwarding=1").status, Is.EqualTo(0));
            Process radvd = tn.Start($"radvd --nodaemon -C {conf} -p {Path.Combine(dir, "radvd.pid")} -m stderr");
            try { body(); }
            finally
            {
                try { radvd.Kill(); } catch (InvalidOperationException) { }
                radvd.WaitForExit();
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}
