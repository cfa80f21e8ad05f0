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
/// and the host's ping -6 of that address gets its replies.
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
        Assert.That(Eventually(() => in6.LinkLocalOf(ifp) != null), Is.True, "virt0's link-local address");
        Ipv6Addr expected = new(Inet6Tests.A6("fd00:7a::").Hi, in6.LinkLocalOf(ifp)!.Addr.Lo);

        string dir = Path.Combine(Path.GetTempPath(), "rumpra-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            string conf = Path.Combine(dir, "radvd.conf");
            System.IO.File.WriteAllText(conf, "interface " + tn.Tap + " {\n  AdvSendAdvert on;\n  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n" +
                "  prefix fd00:7a::/64 { AdvOnLink on; AdvAutonomous on; };\n};\n");
            Assert.That(tn.Run("sysctl -qw net.ipv6.conf.all.forwarding=1").status, Is.EqualTo(0));
            Process radvd = tn.Start($"radvd --nodaemon -C {conf} -p {Path.Combine(dir, "radvd.pid")} -m stderr");
            try
            {
                Assert.That(Eventually(() => in6.FindAddress(expected, ifp) != null), Is.True,
                    () => $"the address {In6.Format(expected)} from radvd's prefix (router advertisements seen: {in6.Stats.NdRaIn})");
                Assert.That(in6.Stats.NdSlaacAddresses, Is.EqualTo(1L), "one address formed, however many advertisements came");
                Assert.That(in6.Lookup(Inet6Tests.A6("2001:db8::1")), Is.Not.Null, "a default route through the advertising router");
                var (st, so, se) = tn.Run($"ping -6 -c 2 -i 0.2 -W 5 {In6.Format(expected)}");
                Assert.That(st, Is.EqualTo(0), "the host pings the autoconfigured address: " + so + se);
                Assert.That(so, Does.Contain("2 received"));
            }
            finally
            {
                try { radvd.Kill(); } catch (InvalidOperationException) { }
                radvd.WaitForExit();
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}
