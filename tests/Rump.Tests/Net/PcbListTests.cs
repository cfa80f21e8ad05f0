using System;
using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The netstat sysctls beyond TCP, read through __sysctl as rumpctl netstat reads them:
/// net.inet.udp.pcblist (a bound UDP socket, a connected one, a kernel PCB without a socket) and
/// net.local.{stream,dgram,seqpacket}.pcblist (a bound listener with its path, a connected pair
/// naming each other with unread bytes counted, a bound datagram socket), each socket gone from
/// the list once closed.
/// </summary>
public unsafe class PcbListTests : KernelTest
{
    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    private static byte[] Read(RumpKernel k, string name, int entry)
    {
        Sysctl.Node? n = k.Kernel.Sysctl.FindByName(name);
        Assert.That(n, Is.Not.Null, name + " exists");
        int[] mib = k.Kernel.Sysctl.MibOf(n!)!;
        byte[] buf = new byte[64 * 1024];
        ulong len = (ulong)buf.Length;
        long r;
        fixed (int* m = mib) fixed (byte* b = buf)
            r = Sys(k, SysNum.__sysctl, (long)m, mib.Length, (long)b, (long)&len, 0, 0);
        Assert.That(r, Is.EqualTo(0), "__sysctl " + name);
        Assert.That((int)len % entry, Is.EqualTo(0), name + ": whole records of " + entry + " bytes");
        return buf.AsSpan(0, (int)len).ToArray();
    }

    private static int Count(byte[] list, int entry, Func<byte[], bool> match)
    {
        int n = 0;
        for (int off = 0; off + entry <= list.Length; off += entry)
            if (match(list.AsSpan(off, entry).ToArray())) n++;
        return n;
    }

    private static Ipv4Addr A(ReadOnlySpan<byte> b) => Ipv4Addr.Read(b);
    private static ushort P(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt16LittleEndian(b);

    [Test]
    public void UdpPcblist_BoundConnectedAndKernelPcbs_WithAddressesPortsAndQueue()
    {
        RumpKernel k = Boot(ncpu: 1);
        Inet inet = k.Kernel.GetService<Inet>()!;
        int s = UdpSocketTests.UdpSocket(k);
        Assert.That(UdpSocketTests.Bind(k, s, UdpSocketTests.Sin(Inet.Loopback, 5353)), Is.EqualTo(0));
        int c = UdpSocketTests.UdpSocket(k);
        Assert.That(UdpSocketTests.Connect(k, c, UdpSocketTests.Sin(Inet.Loopback, 5353)), Is.EqualTo(0));
        Assert.That(UdpSocketTests.SendTo(k, c, "hello"u8, null), Is.EqualTo(5));
        UdpPcb kp = inet.Udp.Attach();
        Assert.That(inet.Udp.Bind(kp, Ipv4Addr.Any, 68), Is.EqualTo(0));

        // The datagram goes through lo0's soft interrupt: wait for it to be queued.
        bool Bound(byte[] e) => A(e) == Inet.Loopback && P(e.AsSpan(8)) == 5353 && A(e.AsSpan(4)) == Ipv4Addr.Any
            && P(e.AsSpan(10)) == 0 && BinaryPrimitives.ReadUInt32LittleEndian(e.AsSpan(12)) == 5 && e[16] == 0;
        Assert.That(Eventually(() => Count(Read(k, "net.inet.udp.pcblist", UdpPcbList.EntrySize), UdpPcbList.EntrySize, Bound) == 1), Is.True,
            "the bound socket 127.0.0.1.5353 with the 5 bytes it has not read: " + Convert.ToHexString(Read(k, "net.inet.udp.pcblist", UdpPcbList.EntrySize)));
        byte[] l = Read(k, "net.inet.udp.pcblist", UdpPcbList.EntrySize);
        Assert.That(l.Length / UdpPcbList.EntrySize, Is.EqualTo(3), "three UDP PCBs");
        Assert.That(Count(l, UdpPcbList.EntrySize, e => A(e) == Inet.Loopback && P(e.AsSpan(8)) >= Udp.AnonPortMin
            && A(e.AsSpan(4)) == Inet.Loopback && P(e.AsSpan(10)) == 5353), Is.EqualTo(1), "the connected socket to 127.0.0.1.5353 from an anonymous port");
        Assert.That(Count(l, UdpPcbList.EntrySize, e => A(e) == Ipv4Addr.Any && P(e.AsSpan(8)) == 68 && e[16] == UdpPcbList.FlagNoSocket), Is.EqualTo(1),
            "the kernel's PCB on *.68, flagged as having no socket");

        Assert.That(Sys(k, SysNum.close, s), Is.EqualTo(0));
        inet.Udp.Detach(kp);
        l = Read(k, "net.inet.udp.pcblist", UdpPcbList.EntrySize);
        Assert.That(l.Length / UdpPcbList.EntrySize, Is.EqualTo(1), "closed ones are gone");
    }

    private static byte[] Sun(string path)
    {
        byte[] p = Encoding.UTF8.GetBytes(path);
        var b = new byte[2 + p.Length + 1];
        b[0] = (byte)b.Length;
        b[1] = Abi.AF_LOCAL;
        p.CopyTo(b, 2);
        return b;
    }

    private static string Path(byte[] e) { int n = Array.IndexOf(e, (byte)0, 32); return Encoding.UTF8.GetString(e, 32, (n < 0 ? e.Length : n) - 32); }
    private static ulong Id(byte[] e, int at) => BinaryPrimitives.ReadUInt64LittleEndian(e.AsSpan(at));

    [Test]
    public void LocalPcblists_ListenerWithPath_ConnectedPairNamingEachOther_DatagramSocket()
    {
        RumpKernel k = Boot(ncpu: 1);
        int ls = (int)Sys(k, SysNum.socket, Abi.AF_LOCAL, Abi.SOCK_STREAM, 0);
        byte[] sun = Sun("/netstat.sock");
        fixed (byte* a = sun) Assert.That(Sys(k, SysNum.bind, ls, (long)a, sun.Length), Is.EqualTo(0));
        Assert.That(Sys(k, SysNum.listen, ls, 4), Is.EqualTo(0));
        int* fds = stackalloc int[2];
        Assert.That(Sys(k, SysNum.socketpair, Abi.AF_LOCAL, Abi.SOCK_STREAM, 0, (long)fds), Is.EqualTo(0));
        byte[] msg = Encoding.ASCII.GetBytes("abc");
        fixed (byte* b = msg) Assert.That(Sys(k, SysNum.sendto, fds[0], (long)b, 3, 0, 0, 0), Is.EqualTo(3));
        int ds = (int)Sys(k, SysNum.socket, Abi.AF_LOCAL, Abi.SOCK_DGRAM, 0);
        byte[] dsun = Sun("/dgram.sock");
        fixed (byte* a = dsun) Assert.That(Sys(k, SysNum.bind, ds, (long)a, dsun.Length), Is.EqualTo(0));

        byte[] st = Read(k, "net.local.stream.pcblist", LocalPcbList.EntrySize);
        Assert.That(st.Length / LocalPcbList.EntrySize, Is.EqualTo(3), "the listener and the pair");
        Assert.That(Count(st, LocalPcbList.EntrySize, e => Path(e) == "/netstat.sock" && e[0] == LocalPcbList.FlagListening && Id(e, 24) == 0), Is.EqualTo(1),
            "the listener, bound at /netstat.sock");
        byte[]? a0 = null, a1 = null;
        for (int off = 0; off < st.Length; off += LocalPcbList.EntrySize)
        {
            byte[] e = st.AsSpan(off, LocalPcbList.EntrySize).ToArray();
            if (e[0] != LocalPcbList.FlagConnected) continue;
            if (a0 == null) a0 = e; else a1 = e;
        }
        Assert.That(a0 != null && a1 != null, "both ends of the pair, connected");
        Assert.That((Id(a0!, 24), Id(a1!, 24)), Is.EqualTo((Id(a1!, 16), Id(a0!, 16))), "each names the other as its peer");
        byte[] reader = BinaryPrimitives.ReadUInt32LittleEndian(a0!.AsSpan(4)) == 3 ? a0! : a1!, writer = reader == a0 ? a1! : a0!;
        Assert.That((BinaryPrimitives.ReadUInt32LittleEndian(reader.AsSpan(4)), BinaryPrimitives.ReadUInt32LittleEndian(writer.AsSpan(8))), Is.EqualTo((3u, 3u)),
            "3 bytes unread: the reader's Recv-Q and the writer's Send-Q");

        byte[] dg = Read(k, "net.local.dgram.pcblist", LocalPcbList.EntrySize);
        Assert.That(dg.Length, Is.EqualTo(LocalPcbList.EntrySize));
        Assert.That(Path(dg), Is.EqualTo("/dgram.sock"));
        Assert.That(Read(k, "net.local.seqpacket.pcblist", LocalPcbList.EntrySize), Is.Empty);

        Assert.That(Sys(k, SysNum.close, ls), Is.EqualTo(0));
        Assert.That(Read(k, "net.local.stream.pcblist", LocalPcbList.EntrySize).Length / LocalPcbList.EntrySize, Is.EqualTo(2), "the closed listener is gone");
    }
}
