using System;
using System.Diagnostics;
using System.IO;
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
/// The kernel's TCP over IPv6 against Linux's own stack and real programs, over a TAP in a network
/// namespace the test makes (needs root: the tests' names say so): host <c>curl -6</c> fetching
/// from a small HTTP server in the kernel (the capture shows the options our SYN-ACK negotiated),
/// host <c>nc -6 -l</c> taking what the kernel sends, and host <c>nc -6</c> to a kernel listener.
/// </summary>
public unsafe class Tcp6LinuxSocketTests : KernelTest
{
    private const string PeerIp = "fd00:79::1", OurIp = "fd00:79::2";

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    private static int Tcp6Socket(RumpKernel k)
    {
        int s = (int)Sys(k, SysNum.socket, Abi.AF_INET6, Abi.SOCK_STREAM, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "socket(AF_INET6, SOCK_STREAM)");
        return s;
    }

    private RumpKernel Up(TapNs tn)
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(Inet6Tests.In(k, () => Virtif.Create(k.Kernel, 0, tn.Tap, out _)), Is.EqualTo(0), "virt0 on the host TAP " + tn.Tap);
        tn.MoveIn($"{PeerIp}/64");
        Assert.That(Inet6Tests.In(k, () => Netconfig.IfUp(k.Kernel, "virt0")), Is.EqualTo(0));
        Assert.That(Inet6Tests.In(k, () => Netconfig6.Ipv6Ifaddr(k.Kernel, "virt0", OurIp, 64)), Is.EqualTo(0));
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

    [Test]
    public void Root_HostCurl6FetchesFromTheKernel_OptionsInTheCapture()
    {
        using var tn = new TapNs("rumpt6-", "rt6");
        RumpKernel k = Up(tn);
        string body = Body(1 << 20);
        int l = Tcp6Socket(k);
        Assert.That(Inet6Tests.Bind(k, l, Inet6Tests.Sin6(Ipv6Addr.Unspecified, 8080)), Is.EqualTo(0));
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
        string pcap = Path.Combine(HostWork, "curl6.pcap");
        Process dump = tn.Start($"tcpdump -i {tn.Tap} -U -Z root -w {pcap} ip6 and tcp port 8080");
        Assert.That(Eventually(() => System.IO.File.Exists(pcap) && new FileInfo(pcap).Length >= 24), Is.True, "tcpdump started writing " + pcap);
        var (st, got, err) = tn.Run($"curl -6 -sS --max-time 30 http://[{OurIp}]:8080/big", seconds: 40);
        Assert.That(st, Is.EqualTo(0), "curl -6: " + err);
        Assert.That(server.Join(Generous), Is.True, "the kernel's server did not finish");
        Assert.That(request, Does.StartWith("GET /big HTTP/1.1\r\n"), "curl's request as the kernel read it");
        Assert.That(got.Length, Is.EqualTo(body.Length), "bytes curl got");
        Assert.That(got == body, "curl got the kernel's body intact");
        k.Close(l);
        try { dump.Kill(); } catch (InvalidOperationException) { }
        dump.WaitForExit();
        // Our SYN-ACK: the MSS from virt0's MTU (1500 - 60), SACK, timestamps and window scale.
        var (ds, synacks, derr) = tn.Run($"tcpdump -nn -r {pcap} src host {OurIp} and ip6[40+13] & 2 != 0");
        Assert.That(ds, Is.EqualTo(0), "tcpdump -r: " + derr);
        Assert.That(synacks, Does.Contain("Flags [S.]"), "our SYN-ACK in the capture: " + synacks);
        Assert.That(synacks, Does.Contain("mss 1440").And.Contain("sackOK").And.Contain("TS val").And.Contain("wscale"),
            "MSS 1440, SACK, timestamps and window scale in our SYN-ACK: " + synacks);
    }

    [Test]
    public void Root_Nc6BothWays()
    {
        using var tn = new TapNs("rumpt6-", "rt6");
        RumpKernel k = Up(tn);

        // Host nc -6 -l: the kernel connects and sends 256 KiB, then closes; nc prints it all.
        string data = Body(256 * 1024);
        Process nl = tn.Start("nc -6 -l 9000");
        Assert.That(Eventually(() => tn.Run("ss -Htln sport = :9000").stdout.Contains(":9000")), Is.True, "nc -6 -l listening on 9000");
        int c = Tcp6Socket(k);
        Assert.That(Inet6Tests.Connect(k, c, Inet6Tests.Sin6(Inet6Tests.A6(PeerIp), 9000)), Is.EqualTo(0), "connect to the host's nc");
        WriteAll(k, c, Encoding.ASCII.GetBytes(data));
        Assert.That(k.Close(c), Is.EqualTo(0));
        var (st, outp, err) = HostNet.Finish(nl, 30);
        Assert.That(st, Is.EqualTo(0), "nc -6 -l: " + err);
        Assert.That(outp.Length, Is.EqualTo(data.Length));
        Assert.That(outp == data, "nc -6 -l printed what the kernel sent");

        // Host nc -6 to a kernel listener: its stdin arrives, its FIN (-N) ends it, our reply comes back.
        int l = Tcp6Socket(k);
        Assert.That(Inet6Tests.Bind(k, l, Inet6Tests.Sin6(Ipv6Addr.Unspecified, 9001)), Is.EqualTo(0));
        Assert.That(Sys(k, SysNum.listen, l, 1), Is.EqualTo(0));
        Process nc = tn.Start($"nc -6 -N {OurIp} 9001", data);
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
