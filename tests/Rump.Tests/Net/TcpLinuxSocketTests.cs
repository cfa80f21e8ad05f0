using System;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Virtif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// TCP sockets of the kernel against Linux's own stack and real programs, over a TAP in a
/// network namespace the test makes (needs root: the tests' names say so; without network
/// namespaces they fail): host curl fetching from a small HTTP server in the kernel, the kernel
/// fetching from host python3 -m http.server, and nc -l / nc in both directions.
/// </summary>
public unsafe class TcpLinuxSocketTests : KernelTest
{
    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    private static int TcpSocket(RumpKernel k)
    {
        int s = (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_STREAM, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "socket(AF_INET, SOCK_STREAM)");
        return s;
    }

    private static Ipv4Addr Ip(string s)
    {
        Assert.That(Netconfig.TryParse(s, out Ipv4Addr a));
        return a;
    }

    private static RumpKernel Up(KernelTest t, TapNs tn, Func<RumpKernel> boot)
    {
        RumpKernel k = boot();
        Assert.That(Virtif.Create(k.Kernel, 0, tn.Tap, out _), Is.EqualTo(0), "virt0 on the host TAP " + tn.Tap);
        tn.MoveIn($"{VirtifTests.PeerIp}/24");
        Assert.That(Netconfig.IfUp(k.Kernel, "virt0"), Is.EqualTo(0));
        Assert.That(Netconfig.Ipv4IfaddrCidr(k.Kernel, "virt0", VirtifTests.OurIp, 24), Is.EqualTo(0));
        return k;
    }

    private static byte[] ReadToEnd(RumpKernel k, int s)
    {
        var ms = new MemoryStream();
        var buf = new byte[65536];
        while (true)
        {
            long r = k.Read(s, buf);
            Assert.That(r, Is.GreaterThanOrEqualTo(0), "read: " + r);
            if (r == 0) return ms.ToArray();
            ms.Write(buf, 0, (int)r);
        }
    }

    private static void WriteAll(RumpKernel k, int s, ReadOnlySpan<byte> b)
    {
        while (b.Length > 0)
        {
            long r = k.Write(s, b);
            Assert.That(r, Is.GreaterThan(0), "write: " + r);
            b = b.Slice((int)r);
        }
    }

    private static string Body(int n)
    {
        var sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) sb.Append((char)('a' + (i * 7 + i / 1000) % 26));
        return sb.ToString();
    }

    private static void WaitListening(TapNs tn, int port)
        => Assert.That(Eventually(() => tn.Run($"ss -Htln sport = :{port}").stdout.Contains(":" + port)), Is.True, "a host listener on " + port);

    [Test]
    public void Root_HostCurlFetchesFromTheKernel_AndTheKernelFetchesFromPythonHttpServer()
    {
        using var tn = new TapNs("rumpvif-", "rvt");
        RumpKernel k = Up(this, tn, () => Boot(ncpu: 2));

        // A tiny HTTP/1.0 server in the kernel: one request, 1 MiB of body, close.
        string body = Body(1 << 20);
        int l = TcpSocket(k);
        Assert.That(UdpSocketTests.Bind(k, l, UdpSocketTests.Sin(Ipv4Addr.Any, 8080)), Is.EqualTo(0));
        Assert.That(Sys(k, SysNum.listen, l, 4), Is.EqualTo(0));
        string? request = null;
        var server = new Thread(() =>
        {
            int s = (int)Sys(k, SysNum.accept, l, 0, 0);
            if (s < 0) return;
            var req = new StringBuilder();
            var buf = new byte[4096];
            while (!req.ToString().Contains("\r\n\r\n"))
            {
                long r = k.Read(s, buf);
                if (r <= 0) break;
                req.Append(Encoding.ASCII.GetString(buf, 0, (int)r));
            }
            request = req.ToString();
            WriteAll(k, s, Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\n\r\n"));
            WriteAll(k, s, Encoding.ASCII.GetBytes(body));
            k.Close(s);
        }) { IsBackground = true };
        server.Start();
        // A capture of the exchange (tcpdump, tools/setup-debian.sh): it is running once its file has the pcap header.
        string pcap = Path.Combine(HostWork, "curl.pcap");
        Process dump = tn.Start($"tcpdump -i {tn.Tap} -U -Z root -w {pcap} tcp port 8080");
        Assert.That(Eventually(() => System.IO.File.Exists(pcap) && new FileInfo(pcap).Length >= 24), Is.True, "tcpdump started writing " + pcap);
        var (st, got, err) = tn.Run($"curl -sS --max-time 30 http://{VirtifTests.OurIp}:8080/big", seconds: 40);
        Assert.That(st, Is.EqualTo(0), "curl: " + err);
        Assert.That(server.Join(Generous), Is.True, "the kernel's server did not finish");
        Assert.That(request, Does.StartWith("GET /big HTTP/1.1\r\n"), "curl's request as the kernel read it");
        Assert.That(got.Length, Is.EqualTo(body.Length), "bytes curl got");
        Assert.That(got == body, "curl got the kernel's body intact");
        k.Close(l);
        try { dump.Kill(); } catch (InvalidOperationException) { }
        dump.WaitForExit();
        // The options negotiated with Linux, as the capture shows them: our SYN-ACK offers SACK,
        // timestamps and window scaling back, and our data segments carry timestamps.
        var (ds, synacks, derr) = tn.Run($"tcpdump -nn -r {pcap} src host {VirtifTests.OurIp} and tcp[tcpflags] & tcp-syn != 0");
        Assert.That(ds, Is.EqualTo(0), "tcpdump -r: " + derr);
        Assert.That(synacks, Does.Contain("Flags [S.]"), "our SYN-ACK in the capture");
        Assert.That(synacks, Does.Contain("sackOK").And.Contain("TS val").And.Contain("wscale"), "SACK, timestamps and window scale in our SYN-ACK: " + synacks);
        var (_, data, _) = tn.Run($"tcpdump -nn -c 5 -r {pcap} src host {VirtifTests.OurIp} and greater 1000");
        Assert.That(data, Does.Contain("TS val"), "timestamps on our data segments: " + data);

        // The kernel as the client of python3 -m http.server in the namespace.
        string file = Body(2 << 20);
        System.IO.File.WriteAllText(Path.Combine(HostWork, "f.txt"), file);
        Process py = tn.Start($"python3 -m http.server 8000 --bind {VirtifTests.PeerIp} --directory {HostWork}");
        try
        {
            WaitListening(tn, 8000);
            int c = TcpSocket(k);
            Assert.That(UdpSocketTests.Connect(k, c, UdpSocketTests.Sin(Ip(VirtifTests.PeerIp), 8000)), Is.EqualTo(0), "connect to the host's server");
            WriteAll(k, c, Encoding.ASCII.GetBytes("GET /f.txt HTTP/1.0\r\nHost: peer\r\n\r\n"));
            string resp = Encoding.ASCII.GetString(ReadToEnd(k, c));
            k.Close(c);
            int hdr = resp.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            Assert.That(hdr, Is.GreaterThan(0), "a header in: " + resp[..Math.Min(200, resp.Length)]);
            Assert.That(resp, Does.StartWith("HTTP/1.0 200"));
            Assert.That(resp.Substring(hdr + 4) == file, "the file arrived intact (" + (resp.Length - hdr - 4) + " of " + file.Length + " bytes)");
        }
        finally { try { py.Kill(); } catch (InvalidOperationException) { } }
    }

    [Test]
    public void Root_NcBothWays()
    {
        using var tn = new TapNs("rumpvif-", "rvt");
        RumpKernel k = Up(this, tn, () => Boot(ncpu: 2));

        // Host nc -l: the kernel connects and sends 256 KiB, then closes; nc prints it all.
        string data = Body(256 * 1024);
        Process nl = tn.Start("nc -l 9000");
        WaitListening(tn, 9000);
        int c = TcpSocket(k);
        Assert.That(UdpSocketTests.Connect(k, c, UdpSocketTests.Sin(Ip(VirtifTests.PeerIp), 9000)), Is.EqualTo(0));
        WriteAll(k, c, Encoding.ASCII.GetBytes(data));
        Assert.That(k.Close(c), Is.EqualTo(0));
        var (st, outp, err) = HostNet.Finish(nl, 30);
        Assert.That(st, Is.EqualTo(0), "nc -l: " + err);
        Assert.That(outp.Length, Is.EqualTo(data.Length));
        Assert.That(outp == data, "nc -l printed what the kernel sent");

        // Host nc to a kernel listener: its stdin arrives, its FIN (-N) ends it, our reply comes back.
        int l = TcpSocket(k);
        Assert.That(UdpSocketTests.Bind(k, l, UdpSocketTests.Sin(Ipv4Addr.Any, 9001)), Is.EqualTo(0));
        Assert.That(Sys(k, SysNum.listen, l, 1), Is.EqualTo(0));
        Process nc = tn.Start($"nc -N {VirtifTests.OurIp} 9001", data);
        int s = (int)Sys(k, SysNum.accept, l, 0, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        byte[] got = ReadToEnd(k, s);
        Assert.That(got.Length, Is.EqualTo(data.Length), "bytes from nc before its FIN");
        Assert.That(Encoding.ASCII.GetString(got) == data, "what nc sent");
        WriteAll(k, s, "got it\n"u8);
        k.Close(s);
        (st, outp, err) = HostNet.Finish(nc, 30);
        Assert.That(outp, Is.EqualTo("got it\n"), "nc printed our reply; stderr: " + err);
        k.Close(l);
    }
}
