using System;
using System.Diagnostics;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Virtif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// IPv6 with the Linux host's stack as the peer (root: a network namespace and a TAP device, as
/// VirtifTests). Linux has fd00:78::1/64 (DAD off, so it answers at once), the kernel
/// fd00:78::2/64 and its own link-local address. The host's tools judge: ping -6 exits 0 only on
/// correct echo replies (checksums over the pseudo-header included), ip -6 neigh holds the
/// kernel's MAC only if our neighbour advertisement was right, socat prints our datagrams only if
/// their UDP checksums are.
/// </summary>
[NonParallelizable]
public class Inet6LinuxTests : KernelTest
{
    private const string PeerIp = "fd00:78::1", OurIp = "fd00:78::2";


    [Test]
    public void Root_HostPings6TheKernel_LinkLocalAndGlobal_NeighbourSeen_Udp6BothWays()
    {
        using var tn = new TapNs("rump6-", "r6t");
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        Ifnet ifp = tn.AttachKernel(k, $"{PeerIp}/64");
        WaitFor(() => in6.LinkLocalOf(ifp) != null, "virt0's link-local address");
        string ll = In6.Format(in6.LinkLocalOf(ifp)!.Addr);
        Assert.That(In(k, () => Netconfig6.Ipv6Ifaddr(k.Kernel, "virt0", OurIp, 64)), Is.EqualTo(0));

        var (st, so, se) = tn.Run($"ping -6 -c 3 -i 0.2 -W 5 {OurIp}");
        Assert.That(st, Is.EqualTo(0), "ping -6 the kernel's global address: " + so + se);
        Assert.That(so, Does.Contain("3 received"));
        (st, so, se) = tn.Run($"ping -6 -c 2 -i 0.2 -W 5 {ll}%{tn.Tap}");
        Assert.That(st, Is.EqualTo(0), "ping -6 the kernel's link-local address " + ll + ": " + so + se);
        Assert.That(so, Does.Contain("2 received"));
        string neigh = tn.Run($"ip -6 neigh show {OurIp} dev {tn.Tap}").stdout;
        Assert.That(neigh, Does.Contain(ifp.LinkAddr.ToString()), "Linux learned our MAC from our NA: " + neigh);
        Assert.That(in6.NdOf(ifp)!.TryGet(Inet6Tests.A6(PeerIp), out EtherAddr _, out _), Is.True, "we learned the host from its NS");

        // The host's datagram to a kernel socket, and the socket's answer.
        int sk = Inet6Tests.Udp6Socket(k);
        Assert.That(Inet6Tests.Bind(k, sk, Inet6Tests.Sin6(Ipv6Addr.Unspecified, 7781)), Is.EqualTo(0));
        Process sc = tn.Start($"socat -t 5 - UDP6:[{OurIp}]:7781", "hello over v6\n");
        byte[] buf = new byte[256];
        Assert.That(Inet6Tests.RecvWait(k, sk, buf, out Ipv6Addr hf, out ushort hp, out _), Is.EqualTo(14), "the host's datagram at the kernel's socket");
        Assert.That(Encoding.ASCII.GetString(buf, 0, 14), Is.EqualTo("hello over v6\n"));
        Assert.That(In6.Format(hf), Is.EqualTo(PeerIp));
        Assert.That(Inet6Tests.SendTo(k, sk, "from rump v6\n"u8, Inet6Tests.Sin6(hf, hp)), Is.EqualTo(13));
        var (_, scOut, scErr) = HostNet.Finish(sc, 30);
        Assert.That(scOut, Is.EqualTo("from rump v6\n"), "socat printed our reply; stderr: " + scErr);

        // A datagram from the kernel to a host server.
        Process rcv = tn.Start("socat -T 3 -u UDP6-RECVFROM:7782 STDOUT");
        WaitFor(() => tn.Run("ss -Hunl sport = :7782").stdout.Contains("7782"), "socat listening on 7782");
        int c = Inet6Tests.Udp6Socket(k);
        Assert.That(Inet6Tests.SendTo(k, c, "to the host\n"u8, Inet6Tests.Sin6(Inet6Tests.A6(PeerIp), 7782)), Is.EqualTo(12));
        var (rs, rOut, rErr) = HostNet.Finish(rcv, 30);
        Assert.That(rs, Is.EqualTo(0), rErr);
        Assert.That(rOut, Is.EqualTo("to the host\n"), "the host got our datagram");

        Assert.That(In(k, () => Netconfig.IfDestroy(k.Kernel, "virt0")), Is.EqualTo(0));
        Assert.That(in6.Lookup(Inet6Tests.A6(PeerIp)), Is.Null, "its connected route went with it");
    }
}
