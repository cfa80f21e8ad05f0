using System;
using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// UDP sockets through the system-call table over lo0: socket/bind/getsockname, sendto and
/// recvfrom with the sender's sockaddr_in, an anonymous port, connect and send, EADDRINUSE and
/// SO_REUSEADDR, and ICMP port unreachable surfacing as ECONNREFUSED on a connected socket.
/// (VirtifTests does the same against Linux's stack over a TAP.)
/// </summary>
public unsafe class UdpSocketTests : KernelTest
{
    internal static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    internal static byte[] Sin(Ipv4Addr a, ushort port)
    {
        byte[] b = new byte[16];
        b[0] = 16;
        b[1] = (byte)Abi.AF_INET;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), port);
        a.Write(b.AsSpan(4));
        return b;
    }

    internal static int UdpSocket(RumpKernel k) => (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_DGRAM, 0);

    internal static long Bind(RumpKernel k, int s, byte[] sin) { fixed (byte* p = sin) return Sys(k, SysNum.bind, s, (long)p, sin.Length); }
    internal static long Connect(RumpKernel k, int s, byte[] sin) { fixed (byte* p = sin) return Sys(k, SysNum.connect, s, (long)p, sin.Length); }

    internal static long SendTo(RumpKernel k, int s, ReadOnlySpan<byte> data, byte[]? to)
    {
        fixed (byte* d = data)
        fixed (byte* t = to)
            return Sys(k, SysNum.sendto, s, (long)d, data.Length, 0, (long)t, to?.Length ?? 0);
    }

    internal static long RecvFrom(RumpKernel k, int s, Span<byte> buf, out Ipv4Addr from, out ushort port, int flags = 0)
    {
        byte[] sin = new byte[16];
        int len = 16;
        long r;
        fixed (byte* b = buf)
        fixed (byte* f = sin)
            r = Sys(k, SysNum.recvfrom, s, (long)b, buf.Length, flags, (long)f, (long)&len);
        from = Ipv4Addr.Read(sin.AsSpan(4));
        port = BinaryPrimitives.ReadUInt16BigEndian(sin.AsSpan(2));
        return r;
    }

    private static (Ipv4Addr a, ushort port) SockName(RumpKernel k, int s)
    {
        byte[] sin = new byte[16];
        int len = 16;
        fixed (byte* f = sin) Assert.That(Sys(k, SysNum.getsockname, s, (long)f, (long)&len), Is.EqualTo(0));
        Assert.That((len, sin[0], sin[1]), Is.EqualTo((16, (byte)16, (byte)Abi.AF_INET)), "a whole sockaddr_in");
        return (Ipv4Addr.Read(sin.AsSpan(4)), BinaryPrimitives.ReadUInt16BigEndian(sin.AsSpan(2)));
    }

    private static readonly Ipv4Addr Lo = new(127, 0, 0, 1);
    private const int MSG_DONTWAIT = 0x80;

    [Test]
    public void DatagramsBetweenSocketsOverLoopback_WithAddresses_AndPortUnreachableIsECONNREFUSED()
    {
        RumpKernel k = Boot(ncpu: 2);
        int srv = UdpSocket(k), cli = UdpSocket(k);
        Assert.That(srv, Is.GreaterThanOrEqualTo(0), "socket(AF_INET, SOCK_DGRAM)");
        Assert.That(cli, Is.GreaterThanOrEqualTo(0));
        Assert.That(Bind(k, srv, Sin(Lo, 6100)), Is.EqualTo(0));
        Assert.That(SockName(k, srv), Is.EqualTo((Lo, (ushort)6100)));
        int other = UdpSocket(k);
        Assert.That(Bind(k, other, Sin(Lo, 6100)), Is.EqualTo(-Abi.EADDRINUSE));
        Assert.That(Bind(k, other, Sin(new Ipv4Addr(10, 1, 1, 1), 6101)), Is.EqualTo(-Abi.EADDRNOTAVAIL));
        Assert.That(Bind(k, other, Sin(Lo, 6101).AsSpan(0, 8).ToArray()), Is.EqualTo(-Abi.EINVAL), "a short sockaddr_in");

        Assert.That(SendTo(k, cli, "ping over lo0"u8, Sin(Lo, 6100)), Is.EqualTo(13));
        (Ipv4Addr ca, ushort cport) = SockName(k, cli);
        Assert.That(cport, Is.GreaterThanOrEqualTo((ushort)49152), "an anonymous port bound by the send");
        byte[] buf = new byte[100];
        Assert.That(RecvFrom(k, srv, buf, out Ipv4Addr from, out ushort fport), Is.EqualTo(13), "recvfrom blocks until the soft interrupt delivers");
        Assert.That(Encoding.ASCII.GetString(buf, 0, 13), Is.EqualTo("ping over lo0"));
        Assert.That((from, fport), Is.EqualTo((Lo, cport)));

        Assert.That(SendTo(k, srv, "pong"u8, Sin(from, fport)), Is.EqualTo(4));
        Assert.That(RecvFrom(k, cli, buf, out from, out fport), Is.EqualTo(4));
        Assert.That((from, fport), Is.EqualTo((Lo, (ushort)6100)));
        Assert.That(RecvFrom(k, cli, buf, out _, out _, MSG_DONTWAIT), Is.EqualTo(-Abi.EWOULDBLOCK));

        // Datagram boundaries: two sends, two receives, the second cut to the buffer.
        SendTo(k, cli, "first"u8, Sin(Lo, 6100));
        SendTo(k, cli, "second datagram"u8, Sin(Lo, 6100));
        Assert.That(RecvFrom(k, srv, buf, out _, out _), Is.EqualTo(5));
        Assert.That(RecvFrom(k, srv, buf.AsSpan(0, 6), out _, out _), Is.EqualTo(6));
        Assert.That(RecvFrom(k, srv, buf, out _, out _, MSG_DONTWAIT), Is.EqualTo(-Abi.EWOULDBLOCK), "the rest of a cut datagram is gone");

        // A connected socket to a port nobody has: the ICMP error comes back as ECONNREFUSED.
        int c2 = UdpSocket(k);
        Assert.That(Connect(k, c2, Sin(Lo, 6199)), Is.EqualTo(0));
        Assert.That(SendTo(k, c2, "anyone?"u8, null), Is.EqualTo(7));
        Assert.That(RecvFrom(k, c2, buf, out _, out _), Is.EqualTo(-Abi.ECONNREFUSED), "the pending error ends the blocked receive");
        Assert.That(SendTo(k, c2, "x"u8, Sin(Lo, 6100)), Is.EqualTo(-Abi.EISCONN));
    }
}
