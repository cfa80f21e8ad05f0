using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Virtif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The kernel on a real link with the Linux host's stack as its peer (root: a network namespace
/// and a TAP device). The test makes a TAP with a unique name, attaches the kernel's virt0 to it,
/// then moves the TAP into a fresh namespace where the host's stack has 10.78.0.1/24 and the
/// kernel 10.78.0.2/24. Only that namespace is touched; deleting it removes the TAP.
/// The host's tools judge: ping exits 0 only on correct echo replies, Linux's neighbour table
/// holds the kernel's MAC only if our ARP reply was right, socat prints our datagram only if its
/// checksums are.
/// </summary>
[NonParallelizable]
public class VirtifTests : KernelTest
{
    internal const string PeerIp = "10.78.0.1", OurIp = "10.78.0.2";


    [Test]
    public void Root_HostPingsKernelOverTap_ArpBothWays_FragmentedPings_UdpBothWays()
    {
        using var tn = new TapNs("rumpvif-", "rvt");
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        Ifnet ifp = tn.AttachKernel(k, $"{PeerIp}/24");
        var vif = (Virtif)ifp;
        Assert.That(Netconfig.Ipv4IfaddrCidr(k.Kernel, "virt0", OurIp, 24), Is.EqualTo(0));

        // The host pings us: its ARP request answered, three echo replies right.
        var (st, so, se) = tn.Run($"ping -c 3 -i 0.2 -W 5 {OurIp}");
        Assert.That(st, Is.EqualTo(0), "ping -c 3 from the host: " + so + se);
        Assert.That(so, Does.Contain("3 received"));
        string neigh = tn.Run($"ip neigh show {OurIp} dev {tn.Tap}").stdout;
        Assert.That(neigh, Does.Contain(vif.LinkAddr.ToString()), "Linux learned our MAC from our ARP reply");
        string link = tn.Run($"ip link show {tn.Tap}").stdout;
        Match mac = Regex.Match(link, "link/ether ([0-9a-f:]{17})");
        Assert.That(mac.Success, "the TAP's MAC in: " + link);
        Assert.That(inet.ArpOf(vif)!.TryGet(Netinet(PeerIp), out EtherAddr peerMac), Is.True, "we learned the host's MAC from its request");
        Assert.That(peerMac.ToString(), Is.EqualTo(mac.Groups[1].Value));

        // 4000 bytes: the host fragments its requests, we reassemble; our replies are fragmented and Linux reassembles them.
        long reass = inet.Stats.IpReassembled, frag = inet.Stats.IpFragmented;
        (st, so, se) = tn.Run($"ping -c 2 -i 0.2 -W 5 -s 4000 {OurIp}");
        Assert.That(st, Is.EqualTo(0), "ping -s 4000: " + so + se);
        Assert.That(so, Does.Contain("2 received"));
        Assert.That(inet.Stats.IpReassembled - reass, Is.EqualTo(2), "two requests reassembled");
        Assert.That(inet.Stats.IpFragmented - frag, Is.EqualTo(2), "two replies fragmented");
        Assert.That(vif.RxBatches, Is.GreaterThan(0));

        // A host datagram to a kernel UDP PCB, and our answer back to its port.
        Udp udp = inet.Udp;
        UdpPcb pcb = udp.Attach();
        Assert.That(udp.Bind(pcb, Ipv4Addr.Any, 7777), Is.EqualTo(0));
        Process sc = tn.Start($"socat -t 5 - UDP4:{OurIp}:7777", "hello from linux\n");
        WaitFor(() => udp.State(pcb).Datagrams == 1, "the host's datagram at the kernel's PCB");
        byte[] buf = new byte[256];
        Assert.That(udp.Receive(pcb, buf, out int n, out _, out Ipv4Addr src, out ushort sport), Is.EqualTo(0));
        Assert.That(Encoding.ASCII.GetString(buf, 0, n), Is.EqualTo("hello from linux\n"));
        Assert.That(src.ToString(), Is.EqualTo(PeerIp));
        Assert.That(udp.Send(pcb, "hello from rump\n"u8, src, sport), Is.EqualTo(0));
        var (_, scOut, scErr) = HostNet.Finish(sc, 30);
        Assert.That(scOut, Is.EqualTo("hello from rump\n"), "socat printed our reply; stderr: " + scErr);

        // The same through the socket system calls: recvfrom gives the host's address, sendto answers it.
        int sk = UdpSocketTests.UdpSocket(k);
        Assert.That(UdpSocketTests.Bind(k, sk, UdpSocketTests.Sin(Ipv4Addr.Any, 7779)), Is.EqualTo(0));
        sc = tn.Start($"socat -t 5 - UDP4:{OurIp}:7779", "to a socket\n");
        Assert.That(UdpSocketTests.RecvFrom(k, sk, buf, out Ipv4Addr hf, out ushort hp), Is.EqualTo(12));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 12), Is.EqualTo("to a socket\n"));
        Assert.That(hf.ToString(), Is.EqualTo(PeerIp));
        Assert.That(UdpSocketTests.SendTo(k, sk, "from a socket\n"u8, UdpSocketTests.Sin(hf, hp)), Is.EqualTo(14));
        (_, scOut, scErr) = HostNet.Finish(sc, 30);
        Assert.That(scOut, Is.EqualTo("from a socket\n"), "socat printed the socket's reply; stderr: " + scErr);

        // A 3000-byte datagram from us: fragmented, reassembled by Linux, checked by socat.
        Process rcv = tn.Start("socat -T 2 -u UDP4-RECVFROM:7778 STDOUT");
        WaitFor(() => tn.Run("ss -Hunl sport = :7778").stdout.Contains("7778"), "socat listening on 7778");
        byte[] big = new byte[3000];
        for (int i = 0; i < big.Length; i++) big[i] = (byte)('a' + i % 26);
        UdpPcb c = udp.Attach();
        Assert.That(udp.Send(c, big, Netinet(PeerIp), 7778), Is.EqualTo(0));
        var (rs, rOut, rErr) = HostNet.Finish(rcv, 30);
        Assert.That(rs, Is.EqualTo(0), rErr);
        Assert.That(rOut, Is.EqualTo(Encoding.ASCII.GetString(big)), "the host got our 3000-byte datagram intact");

        Assert.That(Netconfig.IfDestroy(k.Kernel, "virt0"), Is.EqualTo(0));
        Assert.That(inet.Net.Find("virt0"), Is.Null);
        Assert.That(inet.Lookup(Netinet(PeerIp)), Is.Null, "its connected route went with it");
    }

    private static Ipv4Addr Netinet(string s)
    {
        Assert.That(Netconfig.TryParse(s, out Ipv4Addr a));
        return a;
    }
}
