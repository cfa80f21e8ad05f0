using System;
using System.Buffers.Binary;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Virtif;

namespace Rump.Tests.Net;

/// <summary>
/// Jumbo frames on virtif (root: a TAP in a network namespace, as VirtifTests). SIOCSIFMTU takes
/// up to <see cref="Virtif.JumboMtu"/> on virt0, which is the largest MTU Linux's TAP takes; with
/// that MTU on both ends, Linux's ping with don't-fragment and 65,000 bytes of data gets its
/// replies only if whole 65,048-byte datagrams cross the TAP both ways.
/// </summary>
[NonParallelizable]
public class VirtifJumboTests : KernelTest
{
    [Test]
    public void Root_JumboMtuOnBothEnds_LargeDatagramsCrossWhole()
    {
        using var tn = new TapNs("rumpjb-", "rjb");
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        Ifnet ifp = tn.AttachKernel(k, $"{VirtifTests.PeerIp}/24");
        int s = UdpSocketTests.UdpSocket(k);
        byte[] r = NetcfgTests.Ifreq("virt0");
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(16), Virtif.JumboMtu + 1);
        Assert.That(NetcfgTests.Ioctl(k, s, Abi.SIOCSIFMTU, r), Is.EqualTo(-Abi.EINVAL), "an MTU past virtif's jumbo size");
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(16), Virtif.JumboMtu);
        Assert.That(NetcfgTests.Ioctl(k, s, Abi.SIOCSIFMTU, r), Is.EqualTo(0), "virtif's jumbo MTU");
        Assert.That(ifp.Mtu, Is.EqualTo(Virtif.JumboMtu));

        var (st, so, se) = tn.Run($"ip link set dev {tn.Tap} mtu {Virtif.JumboMtu}");
        Assert.That(st, Is.EqualTo(0), "Linux's TAP takes the same MTU: " + so + se);
        Assert.That(Netconfig.Ipv4IfaddrCidr(k.Kernel, "virt0", VirtifTests.OurIp, 24), Is.EqualTo(0));

        long reass = inet.Stats.IpReassembled, frag = inet.Stats.IpFragmented;
        (st, so, se) = tn.Run($"ping -c 2 -i 0.2 -W 5 -M do -s 65000 {VirtifTests.OurIp}");
        Assert.That(st, Is.EqualTo(0), "ping -M do -s 65000 over jumbo frames: " + so + se);
        Assert.That(so, Does.Contain("2 received"));
        Assert.That((inet.Stats.IpReassembled - reass, inet.Stats.IpFragmented - frag), Is.EqualTo((0L, 0L)), "(reassembled, fragmented): whole datagrams both ways");
    }
}
