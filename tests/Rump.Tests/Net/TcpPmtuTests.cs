using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Route;
using Rump.Net.Virtif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// IPv4 path-MTU discovery for TCP (RFC 1191, issue 11): segments go with DF; ICMP
/// "fragmentation needed" quoting a segment in flight stores the next-hop MTU in a dynamic host
/// route (NetBSD's icmp_mtudisc) and shrinks the connection's segments, and what is in flight
/// goes again. With the test as the peer on an Ethernet test interface (hostile reports too), and
/// through a real Linux router (needs root: a TAP into a namespace that forwards over a veth of
/// MTU 1280 to a second namespace).
/// </summary>
public unsafe class TcpPmtuTests : KernelTest
{
    private const int IPPROTO_TCP = 6, TCP_MAXSEG = 2;
    private const ulong OurMac = 0x02_00_00_00_04_12, PeerMac = 0x02_00_00_00_04_11;
    private static readonly Ipv4Addr Us = new(10, 91, 0, 2), Peer = new(10, 91, 0, 1);

    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    private static int GetInt(RumpKernel k, int s, int level, int name)
    {
        Assert.That(Inet6Tests.GetInt(k, s, level, name, out int v), Is.EqualTo(0), "getsockopt " + name);
        return v;
    }

    /// <summary>A router's fragmentation needed (type 3 code 4) with next-hop MTU <paramref name="mtu"/>, quoting the IP header and 28 bytes of <paramref name="packet"/>.</summary>
    private static byte[] FragNeeded(TcpPeer p, ushort mtu, byte[] packet)
    {
        byte[] m = new byte[8 + 48];
        int n = Icmpv4Packet.EmitError(m, Icmpv4Packet.TypeUnreachable, Icmpv4Packet.CodeFragNeeded, mtu, packet.AsSpan(0, 48));
        return p.FromPeer(Ipv4Packet.ProtoIcmp, m.AsSpan(0, n));
    }

    private static RtEntry? HostRoute(Inet inet, Ipv4Addr dst)
        => inet.Routes().FirstOrDefault(r => r.Dst == dst && (r.Flags & RtEntry.RTF_HOST) != 0);

    [Test]
    public void FragNeededShrinksSegmentsAndIsStoredInAHostRoute_HostileReportsBreakNothing()
    {
        RumpKernel k = Boot(ncpu: 2);
        Inet inet = k.Kernel.GetService<Inet>()!;
        TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;
        var ifp = new EtherTestIf(k.Kernel, "eth0", OurMac);
        Assert.That(inet.Net.Attach(ifp), Is.EqualTo(0));
        Assert.That(inet.AddAddress(ifp, Us, new Ipv4Addr(255, 255, 255, 0), default), Is.EqualTo(0));
        var tp = new TcpPeer(k, ifp, OurMac, PeerMac, Us, Peer);
        tp.Introduce();

        int c = (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_STREAM | Abi.SOCK_NONBLOCK, 0);
        Assert.That(c, Is.GreaterThanOrEqualTo(0));
        // No Nagle: every byte written goes at once (within the window), so what is in flight is known.
        Assert.That(Inet6Tests.SetInt(k, c, IPPROTO_TCP, 1, 1), Is.EqualTo(0), "TCP_NODELAY");
        var syn = tp.Open(c, 80, 1460);
        Assert.That(syn.Df, Is.True, "the SYN goes with DF (path-MTU discovery)");
        Assert.That(GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), Is.EqualTo(1460), "the peer's MSS");

        // Full segments, unacknowledged, with DF.
        Assert.That(k.Write(c, new byte[4000]), Is.EqualTo(4000));
        Assert.That(Eventually(() => tp.Segments().Any(x => x.Seq + (uint)x.Len == syn.Seq + 1 + 4000)), Is.True, "all 4000 bytes sent");
        var first = tp.Segments().Find(x => x.Len == 1460);
        Assert.That(first.Df, Is.True, "data goes with DF");
        long errs = 0;
        void Icmp(byte[] frame, string what)
        {
            tp.Inject(frame);
            errs++;
            Assert.That(Eventually(() => Interlocked.Read(ref inet.Stats.IcmpErrorsIn) == errs), Is.True, what + ": the ICMP error processed");
        }

        // Quoting a sequence number not in flight: nothing learned, no host route (RFC 5927 4.1).
        byte[] stale = (byte[])first.Ip.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(stale.AsSpan(24), first.Seq - 100_000);
        Icmp(FragNeeded(tp, 1280, stale), "stale");
        Assert.That((inet.Stats.IcmpPmtuChanged, stack.PmtuUpdates, HostRoute(inet, Peer)), Is.EqualTo((0L, 0L, (RtEntry?)null)), "a report about no segment in flight");
        // An MTU no smaller than the interface's: the host route is made (as NetBSD's), nothing lowered.
        Icmp(FragNeeded(tp, 1500, first.Ip), "1500");
        Assert.That((inet.Stats.IcmpPmtuChanged, stack.PmtuUpdates, GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG)), Is.EqualTo((0L, 0L, 1460)), "MTU 1500 changes nothing");
        int before = tp.Segments().Count;

        // The router's MTU 1280: a dynamic host route holds it, and the first segment goes again in 1240-byte segments.
        Icmp(FragNeeded(tp, 1280, first.Ip), "1280");
        Assert.That((inet.Stats.IcmpPmtuChanged, stack.PmtuUpdates, GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG)), Is.EqualTo((1L, 1L, 1240)), "MTU 1280 learned");
        RtEntry? hr = HostRoute(inet, Peer);
        Assert.That(hr, Is.Not.Null, "a host route to the peer: " + string.Join("; ", inet.Routes().Select(r => r.ToString())));
        Assert.That((hr!.Mtu, hr.Flags & (RtEntry.RTF_DYNAMIC | RtEntry.RTF_HOST), hr.MtuLocked, hr.ExpireMs > 0), Is.EqualTo((1280, RtEntry.RTF_DYNAMIC | RtEntry.RTF_HOST, false, true)));
        Assert.That(Eventually(() => tp.Segments().Skip(before).Any(x => x.Seq == first.Seq && x.Len > 0)), Is.True, "the first segment resent");
        var resent = tp.Segments().Skip(before).Where(x => x.Len > 0).ToList();
        Assert.That(resent[0].Seq, Is.EqualTo(first.Seq), "from SND.UNA");
        Assert.That(resent.Max(x => x.Len), Is.EqualTo(1240), "no segment above the new MSS: " + string.Join(",", resent.Select(x => x.Len)));
        Assert.That(resent.All(x => x.Df), Is.True, "still with DF");
        var small = resent[0];

        // Larger than the path MTU now in force: ignored.
        Icmp(FragNeeded(tp, 1400, small.Ip), "1400");
        Assert.That((inet.Stats.IcmpPmtuChanged, GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), HostRoute(inet, Peer)!.Mtu), Is.EqualTo((1L, 1240, 1280)), "MTU 1400 after 1280 changes nothing");
        // MTU 0 (an RFC 792 router): the next plateau below the quoted length 1280 (RFC 1191 7), 1006.
        before = tp.Segments().Count;
        Icmp(FragNeeded(tp, 0, small.Ip), "0");
        Assert.That((inet.Stats.IcmpPmtuChanged, GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), HostRoute(inet, Peer)!.Mtu), Is.EqualTo((2L, 966, 1006)), "MTU 0 guessed from the plateau table");
        Assert.That(Eventually(() => tp.Segments().Skip(before).Any(x => x.Len > 0)), Is.True, "resent again");
        var again = tp.Segments().Skip(before).First(x => x.Len > 0);
        Assert.That((again.Seq, again.Len), Is.EqualTo((first.Seq, 966)));
        // MTU 40 (below 296, not believed): discovery stops for the route (NetBSD's RTV_MTU lock), segments stay as they are.
        Icmp(FragNeeded(tp, 40, again.Ip), "40");
        Assert.That((inet.Stats.IcmpPmtuLocked, inet.Stats.IcmpPmtuChanged, GetInt(k, c, IPPROTO_TCP, TCP_MAXSEG), HostRoute(inet, Peer)!.MtuLocked), Is.EqualTo((1L, 2L, 966, true)), "MTU 40");

        // The connection goes on: everything acknowledged, new data leaves without DF now.
        before = tp.Segments().Count;
        tp.SendTcp(new TcpHeader { SourcePort = 80, DestinationPort = syn.SPort, Sequence = 7001, Acknowledgment = syn.Seq + 1 + 4000, Flags = TcpPacket.FlagAck, Window = 65535 });
        Assert.That(k.Write(c, new byte[500]), Is.EqualTo(500), "more data written");
        Assert.That(Eventually(() => tp.Segments().Skip(before).Any(x => x.Seq == syn.Seq + 1 + 4000 && x.Len > 0)), Is.True,
            "the new data sent: " + string.Join(", ", tp.Segments().Skip(before).Select(x => $"{x.Seq - syn.Seq}+{x.Len}")));
        var late = tp.Segments().Skip(before).First(x => x.Seq == syn.Seq + 1 + 4000 && x.Len > 0);
        Assert.That((late.Df, late.Len), Is.EqualTo((false, 500)), "without DF once discovery is off for the route");
        k.Close(c);

        // Ten minutes after the last report the dynamic host route goes (NetBSD's mtudisc_timeout): made to expire now.
        RtEntry gone = HostRoute(inet, Peer)!;
        Assert.That(gone.ExpireMs - Clock.MonotonicNs() / 1_000_000, Is.InRange(Inet.MtuDiscTimeoutMs - 60_000, Inet.MtuDiscTimeoutMs), "expires in ten minutes");
        gone.ExpireMs = 1;
        Assert.That(inet.Lookup(Peer)!.Flags & RtEntry.RTF_HOST, Is.EqualTo(0), "the connected route again");
        Assert.That(HostRoute(inet, Peer), Is.Null, "the expired host route deleted");
    }

    // ---- through a real Linux router ----

    private static readonly Ipv4Addr FarIp = new(10, 79, 0, 2);

    [Test]
    public void Root_PathMtuLearnedThroughALinuxRouter_4MiBArriveIntact()
    {
        using var tn = new TapNs("rumppmtu-", "rpm");
        RumpKernel k = Boot(ncpu: 2);
        tn.AttachKernel(k, $"{VirtifTests.PeerIp}/24");
        Assert.That(Netconfig.Ipv4IfaddrCidr(k.Kernel, "virt0", VirtifTests.OurIp, 24), Is.EqualTo(0));
        Assert.That(Netconfig.Ipv4Gw(k.Kernel, VirtifTests.PeerIp), Is.EqualTo(0), "the default route via the Linux router");

        // The router (the TAP's namespace) forwards to a second namespace over a veth of MTU 1280
        // at both ends. The far host's route back says MSS 1460 (advmss), so its SYN-ACK offers
        // more than the link carries, as a host on a wider network beyond the router would.
        string far = tn.Ns + "s";
        HostNet.Ip("netns add " + far);
        try
        {
            HostNet.Ip($"-n {tn.Ns} link add vr type veth peer name vs netns {far}");
            HostNet.Ip($"-n {tn.Ns} link set vr mtu 1280 up");
            HostNet.Ip($"-n {tn.Ns} addr add 10.79.0.1/24 dev vr");
            HostNet.Ip($"-n {far} link set lo up");
            HostNet.Ip($"-n {far} link set vs mtu 1280 up");
            HostNet.Ip($"-n {far} addr add {FarIp}/24 dev vs");
            HostNet.Ip($"-n {far} route add {VirtifTests.OurIp}/32 via 10.79.0.1 advmss 1460");
            var (fs, _, ferr) = tn.Run("sysctl -qw net.ipv4.ip_forward=1");
            Assert.That(fs, Is.EqualTo(0), "ip_forward in the router: " + ferr);

            const string receiver = "import socket,hashlib,sys\n" +
                "l=socket.socket(); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); l.bind(('10.79.0.2',9000)); l.listen(1)\n" +
                "print('listening',flush=True)\n" +
                "c,_=l.accept(); h=hashlib.sha256(); n=0\n" +
                "while True:\n  b=c.recv(65536)\n  if not b: break\n  h.update(b); n+=len(b)\n" +
                "print(n,h.hexdigest(),flush=True)\n";
            string script = Path.Combine(HostWork, "recv.py");
            System.IO.File.WriteAllText(script, receiver);
            HostNet.Require("python3");
            var psi = new ProcessStartInfo("ip", $"netns exec {far} python3 {script}") { RedirectStandardOutput = true, RedirectStandardError = true };
            using Process py = Process.Start(psi)!;
            try
            {
                Assert.That(py.StandardOutput.ReadLine(), Is.EqualTo("listening"), "the receiver in " + far);
                byte[] data = new byte[4 << 20];
                new Random(1191).NextBytes(data);
                int s = (int)Sys(k, SysNum.socket, Abi.AF_INET, Abi.SOCK_STREAM, 0);
                Assert.That(s, Is.GreaterThanOrEqualTo(0));
                Assert.That(UdpSocketTests.Connect(k, s, UdpSocketTests.Sin(FarIp, 9000)), Is.EqualTo(0), "connect through the router");
                ReadOnlySpan<byte> rest = data;
                while (rest.Length > 0)
                {
                    long w = k.Write(s, rest);
                    Assert.That(w, Is.GreaterThan(0), "write: " + w);
                    rest = rest.Slice((int)w);
                }
                int mss = GetInt(k, s, IPPROTO_TCP, TCP_MAXSEG);
                Assert.That(Sys(k, SysNum.shutdown, s, 1), Is.EqualTo(0));
                string? line = py.StandardOutput.ReadLine();
                k.Close(s);
                Assert.That(py.WaitForExit(30_000), Is.True, "the receiver finished");
                string want = Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
                Assert.That(line, Is.EqualTo($"{data.Length} {want}"), "bytes and SHA-256 the far host received (" + py.StandardError.ReadToEnd() + ")");

                Inet inet = k.Kernel.GetService<Inet>()!;
                TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;
                Assert.That(Interlocked.Read(ref inet.Stats.IcmpPmtuChanged), Is.GreaterThanOrEqualTo(1), "the router's fragmentation needed lowered the route's MTU");
                Assert.That(Interlocked.Read(ref stack.PmtuUpdates), Is.GreaterThanOrEqualTo(1), "and the connection's segments");
                RtEntry? hr = HostRoute(inet, FarIp);
                Assert.That(hr, Is.Not.Null, "a host route to the far host: " + string.Join("; ", inet.Routes().Select(r => r.ToString())));
                Assert.That((hr!.Mtu, hr.IsGateway, (hr.Flags & RtEntry.RTF_DYNAMIC) != 0), Is.EqualTo((1280, true, true)), "the path MTU in a dynamic host route via the router");
                Assert.That(mss, Is.LessThanOrEqualTo(1240), "TCP_MAXSEG after discovery");
            }
            finally
            {
                if (!py.HasExited) py.Kill();
            }
        }
        finally
        {
            Process.Start(new ProcessStartInfo("ip", "netns del " + far))!.WaitForExit();
        }
    }
}
