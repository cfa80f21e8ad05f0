using System;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Tasks;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests.Net;

/// <summary>
/// sockin through the managed API (and so on the LOCKDEBUG kernel too): with RUMP_SOCKIN=1 the
/// kernel's AF_INET sockets are the host's. A host client connects to a kernel listener and the
/// two exchange data both ways; a kernel socket sends a large stream to a host listener, which
/// checks its length and checksum; a kernel UDP socket and a host one answer each other.
/// The C test (tests/c/t_sockin.c) covers the rest with curl and python3's http.server.
/// </summary>
[NonParallelizable]
public class SockinTests : KernelTest
{
    private const int AF_INET = 2, SOCK_STREAM = 1, SOCK_DGRAM = 2;

    // Boot parameters are read with getenv by the hypervisor; .NET's SetEnvironmentVariable
    // does not reach the C environment, so the test sets it there.
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "unsetenv")]
    private static extern int UnsetEnv(string name);

    private RumpKernel BootSockin()
    {
        SetEnv("RUMP_SOCKIN", "1", 1);
        try { return Boot(2); }
        finally { UnsetEnv("RUMP_SOCKIN"); }
    }

    /// <summary>NetBSD's sockaddr_in for 127.0.0.1:<paramref name="port"/>.</summary>
    private static byte[] Sin(int port)
    {
        var b = new byte[16];
        b[0] = 16;
        b[1] = AF_INET;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), (ushort)port);
        b[4] = 127; b[7] = 1;
        return b;
    }

    private static unsafe long Call(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    private static unsafe int Port(RumpKernel k, int s)
    {
        var b = new byte[16];
        uint len = 16;
        fixed (byte* p = b)
            Assert.That(Call(k, SysNum.getsockname, s, (long)p, (long)&len), Is.EqualTo(0), "getsockname");
        return BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(2));
    }

    private static unsafe long Read(RumpKernel k, int s, Span<byte> buf)
    {
        fixed (byte* p = buf) return Call(k, SysNum.read, s, (long)p, buf.Length);
    }

    private static unsafe long Write(RumpKernel k, int s, ReadOnlySpan<byte> buf)
    {
        fixed (byte* p = buf) return Call(k, SysNum.write, s, (long)p, buf.Length);
    }

    [Test]
    public unsafe void HostClientToKernelListener()
    {
        RumpKernel k = BootSockin();
        int l = (int)Call(k, SysNum.socket, AF_INET, SOCK_STREAM, 0);
        Assert.That(l, Is.GreaterThanOrEqualTo(0), "socket(AF_INET) with RUMP_SOCKIN=1");
        byte[] a = Sin(0);
        fixed (byte* p = a) Assert.That(Call(k, SysNum.bind, l, (long)p, a.Length), Is.EqualTo(0), "bind");
        Assert.That(Call(k, SysNum.listen, l, 4), Is.EqualTo(0), "listen");
        int port = Port(k, l);

        using var host = new TcpClient();
        Task conn = host.ConnectAsync(IPAddress.Loopback, port);
        int c = (int)Call(k, SysNum.accept, l, 0, 0);
        Assert.That(c, Is.GreaterThanOrEqualTo(0), "accept");
        conn.Wait();
        NetworkStream ns = host.GetStream();
        ns.Write("hello kernel"u8);
        var buf = new byte[64];
        long n = Read(k, c, buf);
        Assert.That(System.Text.Encoding.ASCII.GetString(buf, 0, (int)n), Is.EqualTo("hello kernel"));
        Assert.That(Write(k, c, "hello host"u8), Is.EqualTo(10));
        int got = 0;
        while (got < 10) got += ns.Read(buf, got, 10 - got);
        Assert.That(System.Text.Encoding.ASCII.GetString(buf, 0, 10), Is.EqualTo("hello host"));
        host.Client.Shutdown(SocketShutdown.Send);
        Assert.That(Read(k, c, buf), Is.EqualTo(0), "the host's shutdown is end of file in the kernel");
        Assert.That(Call(k, SysNum.close, c), Is.EqualTo(0));
        Assert.That(Call(k, SysNum.close, l), Is.EqualTo(0));
    }

    [Test]
    public unsafe void KernelStreamToHostListener()
    {
        RumpKernel k = BootSockin();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        const int Total = 8 << 20;
        var data = new byte[Total];
        new Random(11).NextBytes(data);
        Task<(long, byte[])> sink = Task.Run(() =>
        {
            using TcpClient c = listener.AcceptTcpClient();
            using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var b = new byte[65536];
            long len = 0;
            int r;
            while ((r = c.GetStream().Read(b, 0, b.Length)) > 0) { h.AppendData(b.AsSpan(0, r)); len += r; }
            return (len, h.GetHashAndReset());
        });
        int s = (int)Call(k, SysNum.socket, AF_INET, SOCK_STREAM, 0);
        byte[] a = Sin(port);
        fixed (byte* p = a) Assert.That(Call(k, SysNum.connect, s, (long)p, a.Length), Is.EqualTo(0), "connect");
        for (int off = 0; off < Total;)
        {
            long w = Write(k, s, data.AsSpan(off, Math.Min(100_000, Total - off)));
            Assert.That(w, Is.GreaterThan(0), "write at " + off);
            off += (int)w;
        }
        // Closed right away: what is still queued in the kernel goes out before the connection ends.
        Assert.That(Call(k, SysNum.close, s), Is.EqualTo(0));
        (long len, byte[] hash) = sink.Result;
        Assert.That(len, Is.EqualTo(Total), "bytes the host received");
        Assert.That(hash, Is.EqualTo(SHA256.HashData(data)), "checksum of what the host received");
    }

    [Test]
    public unsafe void UdpBothWays()
    {
        RumpKernel k = BootSockin();
        int s = (int)Call(k, SysNum.socket, AF_INET, SOCK_DGRAM, 0);
        byte[] a = Sin(0);
        fixed (byte* p = a) Assert.That(Call(k, SysNum.bind, s, (long)p, a.Length), Is.EqualTo(0), "bind");
        int port = Port(k, s);
        using var host = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        host.Send("to kernel"u8.ToArray(), 9, new IPEndPoint(IPAddress.Loopback, port));
        var buf = new byte[64];
        var from = new byte[16];
        uint flen = 16;
        long n;
        fixed (byte* bp = buf) fixed (byte* fp = from)
            n = Call(k, SysNum.recvfrom, s, (long)bp, buf.Length, 0, (long)fp, (long)&flen);
        Assert.That(n, Is.EqualTo(9), "recvfrom");
        Assert.That(flen, Is.EqualTo(16u));
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(from.AsSpan(2)), Is.EqualTo(((IPEndPoint)host.Client.LocalEndPoint!).Port), "sender's port");
        fixed (byte* bp = "to host"u8) fixed (byte* fp = from)
            Assert.That(Call(k, SysNum.sendto, s, (long)bp, 7, 0, (long)fp, 16), Is.EqualTo(7), "sendto");
        IPEndPoint? ep = null;
        Assert.That(System.Text.Encoding.ASCII.GetString(host.Receive(ref ep)), Is.EqualTo("to host"));
        Assert.That(Call(k, SysNum.close, s), Is.EqualTo(0));
    }
}
