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
/// TCP sockets of the kernel against Linux's own stack and real programs, once over IPv4 and once
/// over IPv6, over a TAP in a network namespace the test makes (needs root: the tests' names say
/// so; without network namespaces they fail): host curl fetching from a small HTTP server in the
/// kernel (the capture shows the options our SYN-ACK negotiated), the kernel fetching from host
/// python3 -m http.server, and nc -l / nc in both directions.
/// </summary>
[TestFixture(Abi.AF_INET)]
[TestFixture(Abi.AF_INET6)]
public unsafe class TcpLinuxSocketTests : KernelTest
{
    private readonly int _af;
    private bool V6 => _af == Abi.AF_INET6;
    private string PeerIp => V6 ? "fd00:79::1" : VirtifTests.PeerIp;
    private string OurIp => V6 ? "fd00:79::2" : VirtifTests.OurIp;
    private string Any => V6 ? "::" : "0.0.0.0";
    /// <summary>An address as a URL's host.</summary>
    private string UrlHost(string a) => V6 ? $"[{a}]" : a;
    /// <summary>nc, curl and tcpdump's word for the family.</summary>
    private string Flag => V6 ? "-6" : "-4";
    private string IpProto => V6 ? "ip6" : "ip";

    public TcpLinuxSocketTests(int af) => _af = af;

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    private int TcpSocket(RumpKernel k)
    {
        int s = (int)Sys(k, SysNum.socket, _af, Abi.SOCK_STREAM, 0);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), $"socket({_af}, SOCK_STREAM)");
        return s;
    }

    private byte[] Sa(string a, ushort port)
    {
        if (V6) return Inet6Tests.Sin6(Inet6Tests.A6(a), port);
        Assert.That(Netconfig.TryParse(a, out Ipv4Addr v4));
        return UdpSocketTests.Sin(v4, port);
    }

    private TapNs Tap() => V6 ? new TapNs("rumpt6-", "rt6") : new TapNs("rumpvif-", "rvt");

    private RumpKernel Up(TapNs tn)
    {
        RumpKernel k = Boot(ncpu: 2);
        tn.AttachKernel(k, V6 ? $"{PeerIp}/64" : $"{PeerIp}/24");
        Assert.That(In(k, () => V6 ? Netconfig6.Ipv6Ifaddr(k.Kernel, "virt0", OurIp, 64) : Netconfig.Ipv4IfaddrCidr(k.Kernel, "virt0", OurIp, 24)),
            Is.EqualTo(0));
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
    public void Root_HostCurlFetchesFromTheKernel_OptionsInTheCapture_AndTheKernelFetchesFromPythonHttpServer()
    {
        using TapNs tn = Tap();
        RumpKernel k = Up(tn);

        // A tiny HTTP/1.0 server in the kernel: one request, 1 MiB of body, close.
        string body = Body(1 << 20);
        int l = TcpSocket(k);
        Assert.That(Inet6Tests.Bind(k, l, Sa(Any, 8080)), Is.EqualTo(0));
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
        Process dump = tn.Start($"tcpdump -i {tn.Tap} -U -Z root -w {pcap} {IpProto} and tcp port 8080");
        Assert.That(Eventually(() => System.IO.File.Exists(pcap) && new FileInfo(pcap).Length >= 24), Is.True, "tcpdump started writing " + pcap);
        var (st, got, err) = tn.Run($"curl {Flag} -sS --max-time 30 http://{UrlHost(OurIp)}:8080/big", seconds: 40);
        Assert.That(st, Is.EqualTo(0), $"curl {Flag}: " + err);
        Assert.That(server.Join(Generous), Is.True, "the kernel's server did not finish");
        Assert.That(request, Does.StartWith("GET /big HTTP/1.1\r\n"), "curl's request as the kernel read it");
        Assert.That(got.Length, Is.EqualTo(body.Length), "bytes curl got");
        Assert.That(got == body, "curl got the kernel's body intact");
        k.Close(l);
        try { dump.Kill(); } catch (InvalidOperationException) { }
        dump.WaitForExit();
        // The options negotiated with Linux, as the capture shows them: our SYN-ACK has the MSS
        // from virt0's MTU (1500 less the IP and TCP headers) and offers SACK, timestamps and
        // window scaling back, and our data segments carry timestamps.
        int mss = 1500 - (V6 ? 60 : 40);
        string syn = V6 ? "ip6[40+13] & 2 != 0" : "tcp[tcpflags] & tcp-syn != 0";
        var (ds, synacks, derr) = tn.Run($"tcpdump -nn -r {pcap} src host {OurIp} and {syn}");
        Assert.That(ds, Is.EqualTo(0), "tcpdump -r: " + derr);
        Assert.That(synacks, Does.Contain("Flags [S.]"), "our SYN-ACK in the capture: " + synacks);
        Assert.That(synacks, Does.Contain($"mss {mss}").And.Contain("sackOK").And.Contain("TS val").And.Contain("wscale"),
            $"MSS {mss}, SACK, timestamps and window scale in our SYN-ACK: " + synacks);
        var (_, data, _) = tn.Run($"tcpdump -nn -c 5 -r {pcap} src host {OurIp} and greater 1000");
        Assert.That(data, Does.Contain("TS val"), "timestamps on our data segments: " + data);

        // The kernel as the client of python3 -m http.server in the namespace.
        string file = Body(2 << 20);
        System.IO.File.WriteAllText(Path.Combine(HostWork, "f.txt"), file);
        Process py = tn.Start($"python3 -m http.server 8000 --bind {PeerIp} --directory {HostWork}");
        try
        {
            WaitListening(tn, 8000);
            int c = TcpSocket(k);
            Assert.That(Inet6Tests.Connect(k, c, Sa(PeerIp, 8000)), Is.EqualTo(0), "connect to the host's server");
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
        using TapNs tn = Tap();
        RumpKernel k = Up(tn);

        // Host nc -l: the kernel connects and sends 256 KiB, then closes; nc prints it all.
        string data = Body(256 * 1024);
        Process nl = tn.Start($"nc {Flag} -l 9000");
        WaitListening(tn, 9000);
        var printed = HostNet.FinishWhileSending(nl, 30);
        int c = TcpSocket(k);
        Assert.That(Inet6Tests.Connect(k, c, Sa(PeerIp, 9000)), Is.EqualTo(0), "connect to the host's nc");
        WriteAll(k, c, Encoding.ASCII.GetBytes(data));
        Assert.That(k.Close(c), Is.EqualTo(0));
        var (st, outp, err) = printed.Result;
        Assert.That(st, Is.EqualTo(0), "nc -l: " + err);
        Assert.That(outp.Length, Is.EqualTo(data.Length));
        Assert.That(outp == data, "nc -l printed what the kernel sent");

        // Host nc to a kernel listener: its stdin arrives, its FIN (-N) ends it, our reply comes back.
        int l = TcpSocket(k);
        Assert.That(Inet6Tests.Bind(k, l, Sa(Any, 9001)), Is.EqualTo(0));
        Assert.That(Sys(k, SysNum.listen, l, 1), Is.EqualTo(0));
        Process nc = tn.Start($"nc {Flag} -N {OurIp} 9001", data);
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
