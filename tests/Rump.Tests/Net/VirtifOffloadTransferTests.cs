using System;
using System.IO;
using System.Security.Cryptography;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Netinet6;
using Rump.Net.Virtif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// Bulk TCP both ways between the kernel on virtif and Linux's TCP at MTU 1500 (root), with
/// offloads (IPv4 and IPv6) and without: the bytes identical both ways (SHA-256 on each end), and
/// with offloads fewer frames each way than MSS-sized segments would need, because the kernel
/// sends TSO segments that Linux cuts and Linux hands over segments it did not cut.
/// </summary>
[NonParallelizable]
[TestFixture(Abi.AF_INET, true)]
[TestFixture(Abi.AF_INET6, true)]
[TestFixture(Abi.AF_INET, false)]
public class VirtifOffloadTransferTests : KernelTest
{
    private readonly int _af;
    private readonly bool _offload;
    private bool V6 => _af == Abi.AF_INET6;
    private string PeerIp => V6 ? "fd00:81::1" : "10.82.0.1";
    private string OurIp => V6 ? "fd00:81::2" : "10.82.0.2";

    public VirtifOffloadTransferTests(int af, bool offload) { _af = af; _offload = offload; }

    private const int Size = 16 << 20;

    private static readonly string Server = @"
import socket, hashlib, random, sys
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(1)
c, a = s.accept(); h = hashlib.sha256(); got = 0
while got < n:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b); got += len(b)
data = random.Random(5).randbytes(n)
c.sendall(data)
c.recv(1)
print(got, h.hexdigest(), hashlib.sha256(data).hexdigest())
";

    [Test]
    public void Root_BulkBothWaysWithLinuxAtMtu1500_BytesIdentical_SuperSegmentsEachWayWithOffloads()
    {
        using var tn = new TapNs("rumpvt-", "rvx");
        RumpKernel k = Boot(ncpu: 2);
        Ifnet? ifp = null;
        Assert.That(KernelTest.In(k, () => Virtif.Create(k.Kernel, 0, tn.Tap, _offload, out ifp)), Is.EqualTo(0));
        tn.MoveIn(V6 ? $"{PeerIp}/64" : $"{PeerIp}/24");
        Assert.That(KernelTest.In(k, () => Netconfig.IfUp(k.Kernel, "virt0")), Is.EqualTo(0));
        Assert.That(KernelTest.In(k, () => V6 ? Netconfig6.Ipv6Ifaddr(k.Kernel, "virt0", OurIp, 64) : Netconfig.Ipv4IfaddrCidr(k.Kernel, "virt0", OurIp, 24)), Is.EqualTo(0));
        var v = (Virtif)ifp!;
        Assert.That(v.Offloads, Is.EqualTo(_offload), "offloads as asked");
        Assert.That(v.Mtu, Is.EqualTo(1500));
        TcpStack stack = k.Kernel.GetService<TcpProto>()!.Stack;

        string script = Path.Combine(HostWork, "srv.py");
        System.IO.File.WriteAllText(script, Server);
        var py = tn.Start($"python3 {script} {PeerIp} 9100 {Size}");
        try
        {
            Assert.That(Eventually(() => tn.Run("ss -Htln sport = :9100").stdout.Contains(":9100")), Is.True, "python3 listening");
            int s = (int)UdpSocketTests.Sys(k, SysNum.socket, _af, Abi.SOCK_STREAM, 0);
            Assert.That(s, Is.GreaterThanOrEqualTo(0));
            byte[] sa = V6 ? Inet6Tests.Sin6(Inet6Tests.A6(PeerIp), 9100) : UdpSocketTests.Sin(new Ipv4Addr(10, 82, 0, 1), 9100);
            Assert.That(Inet6Tests.Connect(k, s, sa), Is.EqualTo(0), "connect to python3");
            long framesOut = v.OutputPackets, framesIn = v.InputPackets;
            byte[] data = TcpPump.RandomData(Size, 17);
            for (int off = 0; off < data.Length;)
            {
                long r = k.Write(s, data.AsSpan(off, Math.Min(1 << 20, data.Length - off)));
                Assert.That(r, Is.GreaterThan(0), "write: " + r);
                off += (int)r;
            }
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buf = new byte[1 << 20];
            long got = 0;
            while (got < Size)
            {
                long r = k.Read(s, buf);
                Assert.That(r, Is.GreaterThan(0), $"read after {got} bytes: " + r);
                sha.AppendData(buf, 0, (int)r);
                got += r;
            }
            Assert.That(k.Close(s), Is.EqualTo(0));
            var (st, so, se) = HostNet.Finish(py, 60);
            Assert.That(st, Is.EqualTo(0), "python3: " + se);
            string[] w = so.Trim().Split(' ');
            Assert.That(w[0], Is.EqualTo(Size.ToString()), "bytes Linux read");
            Assert.That(w[1], Is.EqualTo(Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant()), "what Linux read is what we wrote");
            Assert.That(Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant(), Is.EqualTo(w[2]), "what we read is what Linux wrote");

            long outFrames = v.OutputPackets - framesOut, inFrames = v.InputPackets - framesIn;
            long segments = Size / 1448; // MSS-sized segments one way at MTU 1500 (fewer over IPv6)
            string counts = $"frames written {outFrames}, read {inFrames}; TSO segments {stack.TsoSegmentsSent} of {stack.TsoPiecesSent} pieces; " +
                            $"super-segments sent {v.TxSuperSegments}, received {v.RxSuperSegments}; MSS-sized segments per way {segments}";
            TestContext.Out.WriteLine(counts);
            if (_offload)
            {
                Assert.That(v.TxSuperSegments, Is.GreaterThan(0), "super-segments written: " + counts);
                Assert.That(v.RxSuperSegments, Is.GreaterThan(0), "super-segments read: " + counts);
                Assert.That(outFrames, Is.LessThan(segments), "fewer frames written than MSS-sized segments (with our ACKs among them): " + counts);
                Assert.That(inFrames, Is.LessThan(segments), "fewer frames read than MSS-sized segments (with Linux's ACKs among them): " + counts);
            }
            else
            {
                Assert.That((v.TxSuperSegments, v.RxSuperSegments, stack.TsoSegmentsSent, v.Capabilities), Is.EqualTo((0L, 0L, 0L, 0)), "no offloads: " + counts);
                Assert.That(outFrames, Is.GreaterThanOrEqualTo(segments), "a frame per segment without offloads: " + counts);
            }
        }
        finally { try { py.Kill(); } catch (InvalidOperationException) { } }
    }
}
