using System;
using System.Diagnostics;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using NUnit.Framework;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The TCP engine against the strongest oracle there is, Linux's TCP (root: a network namespace
/// and a veth pair, <see cref="HostNet"/>). The engine runs in the test's thread on a real clock;
/// its segments go out in IPv4 frames through the packet socket and Linux's come back in (the
/// harness has a static neighbour entry on Linux's side and knows Linux's MAC, so no ARP is
/// needed until the kernel's IPv4 lands). A python3 program in the namespace is the far end:
/// data both ways with SHA-256 checks, both ways of closing, Linux's view of the options in
/// ss(8). For loss, the harness itself drops and reorders frames both ways (sch_netem is not
/// available on this host's kernel, so `tc qdisc ... netem` cannot be used).
/// </summary>
[NonParallelizable]
public class TcpLinuxTests
{
    private static readonly EtherAddr PeerMac = new(HostNet.PeerMac), OurMac = new(HostNet.OurMac);
    private static readonly Ipv4Addr PeerIp = new(10, 77, 0, 1), OurIp = new(10, 77, 0, 2);

    private sealed class Harness : ITcpEnvironment
    {
        private readonly HostNet _net;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly MbufPool _pool = new();
        private readonly Random _rnd = new(42);
        private readonly byte[] _buf = new byte[2048];
        private byte[]? _held;
        private ushort _id;
        public readonly TcpStack Stack;
        public long TimerDue = long.MaxValue;
        public double Loss, Reorder;
        public long DroppedOut, DroppedIn;
        /// <summary>Linux's segments, those without a timestamp option, those with SACK blocks.</summary>
        public long LinuxSegments, LinuxWithoutTimestamp, LinuxSacks;

        public Harness(HostNet net)
        {
            _net = net;
            Stack = new TcpStack(this, _pool, null, 7);
        }

        public long NowMs => _clock.ElapsedMilliseconds;
        public void ArmTimer(long dueMs) => TimerDue = dueMs;

        public void Output(Mbuf m, Ipv4Addr src, Ipv4Addr dst)
        {
            byte[] f = new byte[EthernetFrame.HeaderSize + Ipv4Packet.MinHeaderSize + m.Length];
            EthernetFrame.Emit(f, PeerMac, OurMac, EthernetFrame.TypeIpv4);
            var h = new Ipv4Header { Source = src, Destination = dst, Protocol = Ipv4Packet.ProtoTcp, Ttl = 64, DontFragment = true, Identification = _id++ };
            Ipv4Packet.Emit(f.AsSpan(EthernetFrame.HeaderSize), h, m.Length);
            m.Bytes.CopyTo(f.AsSpan(EthernetFrame.HeaderSize + Ipv4Packet.MinHeaderSize));
            m.Free();
            if (Loss > 0 && _rnd.NextDouble() < Loss) { DroppedOut++; return; }
            if (Reorder > 0 && _held == null && _rnd.NextDouble() < Reorder) { _held = f; return; }
            _net.Send(f);
            if (_held != null) { _net.Send(_held); _held = null; }
        }

        private void Deliver(int n)
        {
            if (EthernetFrame.Parse(_buf.AsSpan(0, n), out EthernetFrame eth) != WireError.Ok || eth.EtherType != EthernetFrame.TypeIpv4 || eth.Destination != OurMac) return;
            if (Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip) != WireError.Ok || ip.Protocol != Ipv4Packet.ProtoTcp || ip.Destination != OurIp || ip.IsFragment) return;
            if (Loss > 0 && _rnd.NextDouble() < Loss) { DroppedIn++; return; }
            if (TcpPacket.ParseV4(ip.Payload, ip.Source, ip.Destination, out TcpPacket t) == WireError.Ok && TcpOptions.Parse(t.Options, out TcpOptions o) == WireError.Ok)
            {
                LinuxSegments++;
                if (!o.HasTimestamp) LinuxWithoutTimestamp++;
                if (o.SackCount > 0) LinuxSacks++;
            }
            Mbuf m = _pool.Get(ip.Payload.Length)!;
            m.Append(ip.Payload);
            Stack.Input(m, ip.Source, ip.Destination);
        }

        /// <summary>Runs the engine (frames in, timers, <paramref name="app"/>) until <paramref name="done"/> holds; fails after <paramref name="seconds"/>.</summary>
        public void Run(Func<bool> done, string what, int seconds = 60, Action? app = null)
        {
            var sw = Stopwatch.StartNew();
            app?.Invoke();
            while (!done())
            {
                if (sw.Elapsed.TotalSeconds > seconds) Assert.Fail($"{what}: not done within {seconds} s");
                int wait = (int)Math.Clamp(TimerDue - NowMs, 0, 5);
                int n = _net.TryReceive(_buf, wait);
                if (n > 0) Deliver(n);
                if (_held != null) { _net.Send(_held); _held = null; }
                if (NowMs >= TimerDue)
                {
                    TimerDue = long.MaxValue;
                    Stack.Tick();
                }
                app?.Invoke();
            }
        }
    }

    private static void WaitForListener(HostNet net, int port)
    {
        var sw = Stopwatch.StartNew();
        while (!HostNet.Run("ip", $"netns exec {net.PeerNs} ss -Hltn sport = :{port}").Contains(":" + port))
        {
            if (sw.Elapsed.TotalSeconds > 20) Assert.Fail($"python3 never listened on port {port}");
            System.Threading.Thread.Sleep(20);
        }
    }

    private static string Script(string name, string text)
    {
        string p = Path.Combine(Path.GetTempPath(), $"rump-tcp-{Environment.ProcessId}-{name}.py");
        File.WriteAllText(p, text);
        return p;
    }

    /// <summary>Linux's server: reads to EOF, answers with the SHA-256 of what it read and then <paramref name="reply"/> bytes; prints what it read and sent.</summary>
    private static string ServerScript(int reply) => $@"
import socket, hashlib, random
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('{HostNet.PeerIp}', 9000)); s.listen(1)
c, a = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
data = random.Random(5).randbytes({reply})
c.sendall(h.hexdigest().encode() + data); c.close()
print(n, h.hexdigest(), hashlib.sha256(data).hexdigest())
";

    private static void WeConnect_TransferBothWays(double loss, int up, int down, string what)
    {
        using var net = new HostNet();
        HostNet.Ip($"-n {net.PeerNs} neigh replace {HostNet.OurIp} lladdr 02:00:5e:77:00:02 dev {net.PeerIf} nud permanent");
        Process py = net.StartInPeer("python3 " + Script("server", ServerScript(down)));
        WaitForListener(net, 9000);
        var h = new Harness(net) { Loss = loss, Reorder = loss };
        Assert.That(h.Stack.Connect(OurIp, 0, PeerIp, 9000, out TcpCb? c), Is.EqualTo(0));
        h.Run(() => c!.State != TcpState.SynSent, what + ": the handshake", 30);
        Assert.That(c!.State, Is.EqualTo(TcpState.Established), what + ": Linux accepted our SYN (error " + c.Error + ")");
        Assert.That(c.Sack && c.Timestamps, Is.True, "Linux offered SACK and timestamps and we took them");
        Assert.That(c.SendScale, Is.InRange(1, 14), "Linux's window scale, honoured");
        Assert.That(c.Mss, Is.EqualTo(1460u - 12), "Linux's MSS (1460 on a 1500-byte link) less our timestamp option");
        if (loss == 0)
        {
            // Linux's view: it took our options too.
            string ss = HostNet.Run("ip", $"netns exec {net.PeerNs} ss -Htin dst {HostNet.OurIp}");
            // (This ss prints no "ts"/"sack" even between two Linux sockets: those are checked on Linux's segments instead.)
            Assert.That(ss, Does.Contain($"wscale:{c.RecvScale},"), "ss -ti in Linux's namespace: our window scale, as Linux took it: " + ss);
            Assert.That(ss, Does.Contain("mss:1448"), "Linux's MSS towards us, from our MSS option less timestamps: " + ss);
        }

        byte[] data = TcpPump.RandomData(up, 11);
        var got = new MemoryStream();
        byte[] buf = new byte[65536];
        int sent = 0;
        bool shut = false;
        h.Run(() => shut && c.RecvClosed && c.Readable == 0 || c.State == TcpState.Closed, what + ": the transfer", 120, () =>
        {
            while (sent < data.Length)
            {
                int n = h.Stack.Send(c, data.AsSpan(sent, Math.Min(65536, data.Length - sent)));
                if (n <= 0) break;
                sent += n;
            }
            if (sent == data.Length && !shut) { h.Stack.Shutdown(c); shut = true; }
            int r;
            while ((r = h.Stack.Receive(c, buf)) > 0) got.Write(buf, 0, r);
        });
        Assert.That(c.Error, Is.EqualTo(0), what + ": the connection's error");
        var (status, stdout, stderr) = HostNet.Finish(py, 30);
        Assert.That(status, Is.EqualTo(0), "python3: " + stderr);
        string[] py3 = stdout.Trim().Split(' ');
        Assert.That(py3[0], Is.EqualTo(up.ToString()), what + ": bytes Linux read");
        Assert.That(py3[1], Is.EqualTo(Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant()), what + ": SHA-256 of what Linux read against what we sent");
        byte[] all = got.ToArray();
        Assert.That(all.Length, Is.EqualTo(64 + down), what + ": bytes we read");
        Assert.That(Encoding.ASCII.GetString(all, 0, 64), Is.EqualTo(py3[1]), "Linux's digest, as it sent it");
        Assert.That(Convert.ToHexString(SHA256.HashData(all.AsSpan(64))).ToLowerInvariant(), Is.EqualTo(py3[2]), what + ": SHA-256 of what we read against what Linux sent");
        // We closed first: FIN_WAIT_2, then Linux's FIN: TIME_WAIT.
        h.Run(() => c.State is TcpState.TimeWait or TcpState.Closed, what + ": TIME_WAIT", 30);
        Assert.That(c.State, Is.EqualTo(TcpState.TimeWait));
        Assert.That(h.LinuxWithoutTimestamp, Is.EqualTo(0), $"every one of Linux's {h.LinuxSegments} segments carries a timestamp (RFC 7323: once negotiated, always)");
        if (loss > 0)
        {
            Assert.That(h.DroppedIn + h.DroppedOut, Is.GreaterThan(20), "the harness dropped frames");
            Assert.That(h.LinuxSacks, Is.GreaterThan(0), "Linux told us what it holds with SACK blocks (it took our SACK-permitted)");
            Assert.That(c.SackRecoveries, Is.GreaterThan(0), "Linux's SACK blocks drove our recovery");
        }
    }

    [Test]
    public void Root_WeConnectToLinux_4MiBBothWays_OptionsHonoured_ActiveClose()
        => WeConnect_TransferBothWays(0, 4 << 20, 4 << 20, "clean");

    [Test]
    public void Root_WeConnectToLinux_Under5PercentLossAndReorderingBothWays()
        => WeConnect_TransferBothWays(0.05, 1 << 20, 1 << 20, "5% loss");

    [Test]
    public void Root_LinuxConnectsToUs_BothWays_PassiveClose()
    {
        using var net = new HostNet();
        HostNet.Ip($"-n {net.PeerNs} neigh replace {HostNet.OurIp} lladdr 02:00:5e:77:00:02 dev {net.PeerIf} nud permanent");
        var h = new Harness(net);
        Assert.That(h.Stack.Listen(OurIp, 8080, 4, out TcpCb? l), Is.EqualTo(0));
        const int up = 3 << 20, down = 2 << 20;
        Process py = net.StartInPeer("python3 " + Script("client", $@"
import socket, hashlib, random
c = socket.create_connection(('{HostNet.OurIp}', 8080), timeout=60)
data = random.Random(6).randbytes({up})
c.sendall(data); c.shutdown(socket.SHUT_WR)
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(hashlib.sha256(data).hexdigest(), n, h.hexdigest())
"));
        TcpCb? c = null;
        h.Run(() => (c ??= h.Stack.Accept(l!)) != null, "Linux's connection", 30);
        Assert.That(c!.Sack && c.Timestamps, Is.True, "Linux's SYN offered SACK and timestamps");
        Assert.That(c.SendScale, Is.InRange(1, 14), "Linux's window scale");
        Assert.That(c.Mss, Is.EqualTo(1448u));

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long read = 0;
        byte[] buf = new byte[65536];
        byte[] reply = TcpPump.RandomData(down, 12);
        int sent = 0;
        bool shut = false;
        h.Run(() => c.State == TcpState.Closed, "the exchange and Linux's close", 120, () =>
        {
            int r;
            while ((r = h.Stack.Receive(c, buf)) > 0) { hash.AppendData(buf, 0, r); read += r; }
            if (!c.RecvClosed) return;
            while (sent < reply.Length)
            {
                int n = h.Stack.Send(c, reply.AsSpan(sent, Math.Min(65536, reply.Length - sent)));
                if (n <= 0) break;
                sent += n;
            }
            if (sent == reply.Length && !shut) { h.Stack.Shutdown(c); shut = true; }
        });
        Assert.That(c.Error, Is.EqualTo(0), "closed through LAST_ACK, not reset");
        var (status, stdout, stderr) = HostNet.Finish(py, 30);
        Assert.That(status, Is.EqualTo(0), "python3: " + stderr);
        string[] py3 = stdout.Trim().Split(' ');
        Assert.That(read, Is.EqualTo(up));
        Assert.That(Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant(), Is.EqualTo(py3[0]), "SHA-256 of what we read against what Linux sent");
        Assert.That(py3[1], Is.EqualTo(down.ToString()), "bytes Linux read");
        Assert.That(py3[2], Is.EqualTo(Convert.ToHexString(SHA256.HashData(reply)).ToLowerInvariant()), "SHA-256 of what Linux read against what we sent");
    }

    [Test]
    public void Root_LinuxRefusesAClosedPort_AndResetsAnAbortedConnection()
    {
        using var net = new HostNet();
        HostNet.Ip($"-n {net.PeerNs} neigh replace {HostNet.OurIp} lladdr 02:00:5e:77:00:02 dev {net.PeerIf} nud permanent");
        var h = new Harness(net);
        h.Stack.Connect(OurIp, 0, PeerIp, 9001, out TcpCb? c);
        h.Run(() => c!.State == TcpState.Closed, "Linux's RST", 30);
        Assert.That(c!.Error, Is.EqualTo(Rump.Kern.Abi.ECONNREFUSED));

        // Linux aborts (SO_LINGER 0): its RST must be in our window and exact.
        Process py = net.StartInPeer("python3 " + Script("abort", $@"
import socket, struct
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('{HostNet.PeerIp}', 9002)); s.listen(1)
c, a = s.accept(); c.recv(10)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
"));
        WaitForListener(net, 9002);
        h.Stack.Connect(OurIp, 0, PeerIp, 9002, out c);
        h.Run(() => c!.State == TcpState.Established, "connect", 30);
        h.Stack.Send(c!, Encoding.ASCII.GetBytes("hello"));
        h.Run(() => c!.State == TcpState.Closed, "Linux's abort", 30);
        Assert.That(c!.Error, Is.EqualTo(Rump.Kern.Abi.ECONNRESET));
        HostNet.Finish(py, 10);
    }
}
