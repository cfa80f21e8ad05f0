using System;
using System.Buffers.Binary;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// getsockopt(IPPROTO_TCP, TCP_INFO): NetBSD's struct tcp_info (236 bytes) for a connection over
/// lo0, as iperf3 reads it every interval through the hijack (tests/hijack/t_hijack_xlate.c
/// checks the translation to Linux's layout).
/// </summary>
public unsafe class TcpInfoTests : KernelTest
{
    private const int IPPROTO_TCP = 6;

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    private static byte[] Info(RumpKernel k, int s, int room)
    {
        byte[] b = new byte[room];
        int len = room;
        fixed (byte* p = b)
            Assert.That(Sys(k, SysNum.getsockopt, s, IPPROTO_TCP, TcpProto.TCP_INFO, (long)p, (long)&len), Is.EqualTo(0), "getsockopt TCP_INFO");
        return b.AsSpan(0, len).ToArray();
    }

    private static uint Word(byte[] ti, int i) => BinaryPrimitives.ReadUInt32LittleEndian(ti.AsSpan(8 + 4 * i));

    [Test]
    public void TcpInfo_StateOptionsMssAndWindows()
    {
        RumpKernel k = Boot(ncpu: 2);
        int l = (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_STREAM, 0);
        Assert.That(l, Is.GreaterThanOrEqualTo(0));
        Assert.That(Info(k, l, 256)[0], Is.EqualTo(0), "a fresh socket: CLOSED (NetBSD's TCPS_CLOSED)");
        Assert.That(UdpSocketTests.Bind(k, l, UdpSocketTests.Sin(Inet.Loopback, 7009)), Is.EqualTo(0));
        Assert.That(Sys(k, SysNum.listen, l, 1), Is.EqualTo(0));
        Assert.That(Info(k, l, 256)[0], Is.EqualTo(1), "LISTEN");
        int c = (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_STREAM, 0);
        Assert.That(UdpSocketTests.Connect(k, c, UdpSocketTests.Sin(Inet.Loopback, 7009)), Is.EqualTo(0));
        int s = (int)Sys(k, SysNum.accept, l, 0, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        Assert.That(k.Write(c, new byte[10_000]), Is.EqualTo(10_000));
        byte[] got = new byte[10_000];
        int n = 0;
        while (n < got.Length) { long r = k.Read(s, got.AsSpan(n)); Assert.That(r, Is.GreaterThan(0)); n += (int)r; }

        byte[] ti = Info(k, c, 256);
        Assert.That(ti.Length, Is.EqualTo(TcpProto.TcpInfoSize), "the whole struct tcp_info");
        Assert.That(ti[0], Is.EqualTo(4), "ESTABLISHED");
        Assert.That(ti[5] & (TcpProto.TCPI_OPT_TIMESTAMPS | TcpProto.TCPI_OPT_SACK | TcpProto.TCPI_OPT_WSCALE),
            Is.EqualTo(TcpProto.TCPI_OPT_TIMESTAMPS | TcpProto.TCPI_OPT_SACK | TcpProto.TCPI_OPT_WSCALE), "options negotiated between two of ours");
        uint mss = Word(ti, 2);
        Assert.That(mss, Is.InRange(500u, 65495u), "tcpi_snd_mss");
        Assert.That(Word(ti, 3), Is.EqualTo(mss), "tcpi_rcv_mss");
        Assert.That(Word(ti, 0), Is.GreaterThan(0u), "tcpi_rto (us)");
        Assert.That(Word(ti, 18), Is.GreaterThan(0u), "tcpi_snd_cwnd (segments)");
        Assert.That(Word(ti, 22), Is.GreaterThan(0u), "tcpi_rcv_space");
        Assert.That(Info(k, s, 256)[0], Is.EqualTo(4), "the accepted side too");
        // A short buffer gets the first bytes.
        Assert.That(Info(k, c, 8), Is.EqualTo(ti.AsSpan(0, 8).ToArray()), "8 bytes: the state and option bytes");
        k.Close(c); k.Close(s); k.Close(l);
    }
}
