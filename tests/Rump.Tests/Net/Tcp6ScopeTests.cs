using System;
using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Virtif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// TCP to link-local peers in a zone (RFC 4007): the kernel has two Ethernet interfaces, virt0 and
/// virt1, on TAPs in two network namespaces (root), and Linux is reached only on virt1's link.
/// A connect to Linux's link-local address with virt1's index as sin6_scope_id must go out by
/// virt1 (the first Ethernet interface, virt0, has nobody), and names show the zone; a
/// connection Linux makes to the kernel's link-local address through its TAP gets virt1's zone.
/// socat on Linux's side judges what arrives.
/// </summary>
[NonParallelizable]
public unsafe class Tcp6ScopeTests : KernelTest
{
    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    /// <summary>A getsockname or getpeername: the address, the port and the scope id.</summary>
    private static (Ipv6Addr, ushort, uint) Name(RumpKernel k, int s, bool peer)
    {
        byte[] sa = new byte[28];
        int len = 28;
        fixed (byte* f = sa) Assert.That(Sys(k, peer ? SysNum.getpeername : SysNum.getsockname, s, (long)f, (long)&len), Is.EqualTo(0));
        return (Ipv6Addr.Read(sa.AsSpan(8)), (ushort)(sa[2] << 8 | sa[3]), BitConverter.ToUInt32(sa, 24));
    }

    /// <summary>Linux's link-local address on its side of <paramref name="tn"/>'s TAP.</summary>
    private static string LinuxLinkLocal(TapNs tn)
    {
        string line = "";
        WaitFor(() => (line = tn.Run($"ip -6 -o addr show dev {tn.Tap} scope link").stdout).Contains("fe80"), "Linux's link-local address on " + tn.Tap);
        int at = line.IndexOf("inet6 ", StringComparison.Ordinal) + 6;
        return line.Substring(at, line.IndexOf('/', at) - at);
    }

    [Test]
    public void Root_ALinkLocalPeerIsReachedInTheZoneTheScopeIdNames_AndNamesCarryIt()
    {
        using var ta = new TapNs("rumpza-", "rza");
        using var tb = new TapNs("rumpzb-", "rzb");
        RumpKernel k = Boot(ncpu: 2);
        Inet6 in6 = k.Kernel.GetService<Inet6>()!;
        Ifnet virt0 = ta.AttachKernel(k, "fd00:79::1/64");
        Ifnet? virt1 = null;
        Assert.That(In(k, () => Virtif.Create(k.Kernel, 1, tb.Tap, out virt1)), Is.EqualTo(0), "virt1 on " + tb.Tap);
        tb.MoveIn("fd00:7a::1/64");
        Assert.That(In(k, () => Netconfig.IfUp(k.Kernel, "virt1")), Is.EqualTo(0), "virt1 up");
        Assert.That(virt1!.Index, Is.GreaterThan(virt0.Index), "virt0 is the first Ethernet interface");
        WaitFor(() => in6.LinkLocalOf(virt0) != null && in6.LinkLocalOf(virt1) != null, "both link-local addresses");
        Ipv6Addr ours = in6.LinkLocalOf(virt1)!.Addr;
        Ipv6Addr linux = Inet6Tests.A6(LinuxLinkLocal(tb));
        uint zone = (uint)virt1.Index;

        // Out: the scope id says virt1.
        Process srv = tb.Start("socat -u TCP6-LISTEN:7790,reuseaddr STDOUT");
        WaitFor(() => tb.Run("ss -Htln sport = :7790").stdout.Contains("7790"), "socat listening on 7790");
        int c = (int)Sys(k, SysNum.socket, Abi.AF_INET6, Abi.SOCK_STREAM, 0);
        Assert.That(c, Is.GreaterThanOrEqualTo(0));
        Assert.That(Inet6Tests.Connect(k, c, Inet6Tests.Sin6(linux, 7790, 999)), Is.EqualTo(-Abi.ENXIO), "a scope id that names no interface");
        Assert.That(Inet6Tests.Connect(k, c, Inet6Tests.Sin6(linux, 7790, zone)), Is.EqualTo(0), "connect to Linux's link-local address in virt1's zone");
        Assert.That(Name(k, c, peer: true), Is.EqualTo((linux, (ushort)7790, zone)), "getpeername: Linux's address, port, and the zone");
        var (la, _, lz) = Name(k, c, peer: false);
        Assert.That((la, lz), Is.EqualTo((ours, zone)), "getsockname: virt1's link-local address, in its zone");
        Assert.That(k.Write(c, "hello, zone\n"u8), Is.EqualTo(12));
        Assert.That(k.Close(c), Is.EqualTo(0));
        var (st, got, err) = HostNet.Finish(srv, 30);
        Assert.That((st, got), Is.EqualTo((0, "hello, zone\n")), "what socat received; stderr: " + err);

        // In: Linux connects to our link-local address through its TAP; the connection is virt1's.
        int l = (int)Sys(k, SysNum.socket, Abi.AF_INET6, Abi.SOCK_STREAM, 0);
        Assert.That(Inet6Tests.Bind(k, l, Inet6Tests.Sin6(Ipv6Addr.Unspecified, 7791)), Is.EqualTo(0));
        Assert.That(Sys(k, SysNum.listen, l, 4), Is.EqualTo(0));
        Process cl = tb.Start($"socat -u STDIN TCP6:[{In6.Format(ours)}%{tb.Tap}]:7791", "from linux\n");
        int s = (int)Sys(k, SysNum.accept, l, 0, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "accept");
        var (pa, _, pz) = Name(k, s, peer: true);
        Assert.That((pa, pz), Is.EqualTo((linux, zone)), "the accepted connection's peer, in virt1's zone");
        var buf = new byte[64];
        int n = 0;
        for (long r; n < 11 && (r = k.Read(s, buf.AsSpan(n))) > 0;) n += (int)r;
        Assert.That(Encoding.ASCII.GetString(buf, 0, n), Is.EqualTo("from linux\n"));
        var (cs, _, cerr) = HostNet.Finish(cl, 30);
        Assert.That(cs, Is.EqualTo(0), "socat's connect: " + cerr);
        k.Close(s);
        k.Close(l);
    }
}
