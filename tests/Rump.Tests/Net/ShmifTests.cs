using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using File = System.IO.File;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Shmif;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// shmif between kernels: several kernels in this process and kernels in other processes
/// (tests/c/shmif_peer.c) on one bus file. Frames arrive at every other kernel in order and
/// whole, across many wraps of the ring and with many writers at once; a writer SIGKILLed while
/// holding the bus lock does not wedge the bus; a file that is not a bus is refused and left
/// alone; the test-only loss injector drops, duplicates and reorders at about its rates, the
/// same way for the same seed.
/// </summary>
public class ShmifTests : KernelTest
{
    private const ushort TestType = 0x88b5;

    /// <summary>What reached a kernel's test protocol: per sender id, the sequence numbers in arrival order.</summary>
    private sealed class Sink
    {
        private readonly object _lk = new();
        public readonly Dictionary<int, List<int>> Seqs = new();
        public int Count, Bad;

        public void Input(Lwp l, Mbuf m)
        {
            ReadOnlySpan<byte> p = m.Bytes;
            lock (_lk)
            {
                if (p.Length < 5 || !PayloadOk(p)) Bad++;
                else
                {
                    int id = p[0], seq = BinaryPrimitives.ReadInt32LittleEndian(p.Slice(1));
                    if (!Seqs.TryGetValue(id, out List<int>? s)) Seqs[id] = s = new List<int>();
                    s.Add(seq);
                }
                Count++;
            }
            m.Free();
        }

        public int Total { get { lock (_lk) return Count; } }
        public List<int> Of(int id) { lock (_lk) return Seqs.TryGetValue(id, out List<int>? s) ? new List<int>(s) : new List<int>(); }
    }

    // The payload shmif_peer sends: id, sequence number, then bytes derived from both (frame offset i).
    private static bool PayloadOk(ReadOnlySpan<byte> p)
    {
        int id = p[0], seq = BinaryPrimitives.ReadInt32LittleEndian(p.Slice(1));
        for (int i = 5; i < p.Length; i++)
            if (p[i] != (byte)(seq * 7 + i + 14 + id)) return false;
        return true;
    }

    private static byte[] TestFrame(int id, int seq, int size)
    {
        var f = new byte[size];
        EthernetFrame.Emit(f, EtherAddr.Broadcast, new EtherAddr(0x02_00_00_00_00_00UL | (uint)id), TestType);
        f[14] = (byte)id;
        BinaryPrimitives.WriteInt32LittleEndian(f.AsSpan(15), seq);
        for (int i = 19; i < size; i++) f[i] = (byte)(seq * 7 + i + id);
        return f;
    }

    private string BusPath => Path.Combine(HostWork, "bus");

    /// <summary>
    /// A shmif interface of <paramref name="k"/> on <paramref name="bus"/>, with
    /// <paramref name="loss"/> if given, up, and with its IPv6 link-local address once the kernel
    /// has IPv6 (the tests of every protocol over shmif start here).
    /// </summary>
    internal static ShmifIf Up(RumpKernel k, string bus, ShmifLoss? loss = null)
    {
        ShmifIf? ifp = null;
        int e = In(k, () => ShmifDriver.Of(k.Kernel)!.Create(bus, out _, out ifp));
        Assert.That(e, Is.EqualTo(0), "shmif_create " + bus);
        if (loss != null) ifp!.SetLoss(loss);
        ifp!.SetFlags(Ifnet.IFF_UP | Ifnet.IFF_RUNNING, 0);
        Rump.Net.Netinet6.Inet6? in6 = k.Kernel.GetService<Rump.Net.Netinet6.Inet6>();
        WaitFor(() => in6 == null || in6.LinkLocalOf(ifp) != null, () => "the link-local address when " + ifp.Name + " came up");
        return ifp;
    }

    /// <summary>A kernel with shmif0 up on <paramref name="bus"/> and a sink for the test EtherType.</summary>
    private (RumpKernel K, ShmifIf If, Sink S) Station(string bus, ShmifLoss? loss = null)
    {
        RumpKernel k = Boot(ncpu: 2);
        var sink = new Sink();
        Rump.Net.Net n = k.Kernel.GetService<Rump.Net.Net>()!;
        n.SetProtocolInput(TestType, sink.Input);
        ShmifIf ifp = Up(k, bus, loss);
        // What the kernel sends when the link comes up (IPv6's link-local address and its DAD
        // probe, from a callout, through the output soft interrupt) is on the bus before the next
        // station attaches, so that the next one counts only test frames.
        bool v6 = k.Kernel.GetService<Rump.Net.Netinet6.Inet6>() != null;
        WaitFor(() => (!v6 || Interlocked.Read(ref ifp.OutputPackets) > 0) && ifp.OutputIdle,
            () => ifp.Name + "'s own frames on the bus");
        return (k, ifp, sink);
    }

    private static void Send(RumpKernel k, ShmifIf ifp, int id, int from, int count, int size)
    {
        int e = In(k, () =>
        {
            for (int s = from; s < from + count; s++)
            {
                int r = ifp.Send(TestFrame(id, s, size));
                if (r != 0) return r;
            }
            return 0;
        });
        Assert.That(e, Is.EqualTo(0), "send");
    }


    private static void AssertInOrder(List<int> seqs, int count, string who)
    {
        Assert.That(seqs.Count, Is.EqualTo(count), who + ": frames received");
        for (int i = 0; i < seqs.Count; i++)
            if (seqs[i] != i) Assert.Fail($"{who}: frame {i} has sequence number {seqs[i]} (expected every frame in order)");
    }

    [Test]
    public void FramesFromOneKernelReachTheOthersInOrderAndNotItself()
    {
        var a = Station(BusPath);
        var b = Station(BusPath);
        var c = Station(BusPath);
        Assert.That(a.If.Name, Is.EqualTo("shmif0"));
        Assert.That(a.If.LinkAddr.Value >> 32, Is.EqualTo(0xb2a0UL), "NetBSD's locally administered b2:a0 prefix");
        Assert.That(a.If.LinkAddr, Is.Not.EqualTo(b.If.LinkAddr));
        Send(a.K, a.If, 1, 0, 300, 200);
        WaitFor(() => b.S.Total == 300 && c.S.Total == 300, () => $"300 frames at b and c (got {b.S.Total}, {c.S.Total})");
        AssertInOrder(b.S.Of(1), 300, "b");
        AssertInOrder(c.S.Of(1), 300, "c");
        Assert.That((b.S.Bad, c.S.Bad), Is.EqualTo((0, 0)), "payloads intact");
        Send(b.K, b.If, 2, 0, 1, 100);
        WaitFor(() => a.S.Total == 1 && c.S.Total == 301, () => "b's frame at a and c");
        Assert.That(b.S.Total, Is.EqualTo(300), "b did not receive its own frame");
        Assert.That(a.S.Total, Is.EqualTo(1), "a did not receive its own 300 frames");
    }

    [Test]
    public void TheRingWrapsManyTimesWithoutLosingAFrame()
    {
        var a = Station(BusPath);
        var b = Station(BusPath);
        // 6000 frames of 1514 bytes: about 9 MiB through a 1 MiB ring. The sender keeps at most
        // 300 frames (~460 KiB) ahead of the receiver, whose count it waits for.
        const int total = 6000;
        for (int sent = 0; sent < total; sent += 100)
        {
            int s0 = sent;
            WaitFor(() => b.S.Total >= s0 - 200, () => $"the receiver within 300 frames of {s0} (at {b.S.Total})");
            Send(a.K, a.If, 1, sent, 100, 1514);
        }
        WaitFor(() => b.S.Total == total, () => $"{total} frames (got {b.S.Total})");
        AssertInOrder(b.S.Of(1), total, "b");
        Assert.That((b.S.Bad, b.If.Lapped), Is.EqualTo((0, 0L)), "no torn frames, never lapped");
    }

    [Test]
    public void ManyWritersAtOnceLoseAndTearNothing()
    {
        var rx = Station(BusPath);
        var tx = new (RumpKernel K, ShmifIf If, Sink S)[4];
        for (int i = 0; i < tx.Length; i++) tx[i] = Station(BusPath);
        // 4 x 800 frames of 300 bytes (~1 MiB with headers would lap; 4 x 800 x 324 = 1.0 MB is
        // just under the ring): everything fits, so nothing may be lost however slow the reader.
        const int each = 800;
        var threads = new Thread[tx.Length];
        for (int i = 0; i < tx.Length; i++)
        {
            int id = i + 1;
            var t = tx[i];
            threads[i] = new Thread(() => Send(t.K, t.If, id, 0, each, 300));
        }
        foreach (Thread t in threads) t.Start();
        foreach (Thread t in threads) t.Join();
        WaitFor(() => rx.S.Total == each * tx.Length, () => $"{each * tx.Length} frames (got {rx.S.Total})");
        for (int i = 1; i <= tx.Length; i++) AssertInOrder(rx.S.Of(i), each, "from writer " + i);
        Assert.That(rx.S.Bad, Is.EqualTo(0), "torn frames");
        // Each writer also heard the other three.
        for (int i = 0; i < tx.Length; i++)
            WaitFor(() => tx[i].S.Total == each * (tx.Length - 1), () => $"writer {i + 1} heard the others ({tx[i].S.Total})");
    }

    private static string Bin(string name)
    {
        string? lib = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH")?.Split(':')[0];
        Assert.That(lib, Is.Not.Null.And.Not.Empty, "LD_LIBRARY_PATH names the build's lib/ directory");
        string p = Path.GetFullPath(Path.Combine(lib!, "..", "bin", name));
        if (!File.Exists(p)) Assert.Fail($"{p} is missing: build the tree (cmake --build build) first");
        return p;
    }

    private static Process Start(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["RUMP_NCPU"] = "1";
        return Process.Start(psi)!;
    }

    [Test]
    public void KernelsInOtherProcessesShareTheBus()
    {
        var rx = Station(BusPath);
        // Two processes and a kernel of this one write at once; 3 x 1000 x (24 + 200) bytes fit the ring.
        Process p1 = Start(Bin("shmif_peer"), BusPath, "11", "1000", "200");
        Process p2 = Start(Bin("shmif_peer"), BusPath, "12", "1000", "200");
        var local = Station(BusPath);
        Send(local.K, local.If, 13, 0, 1000, 200);
        foreach (Process p in new[] { p1, p2 })
        {
            string err = p.StandardError.ReadToEnd();
            string outp = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.That(p.ExitCode, Is.EqualTo(0), "shmif_peer: " + outp + err);
            Assert.That(outp, Does.Contain("sent 1000"));
        }
        WaitFor(() => rx.S.Total == 3000, () => $"3000 frames (got {rx.S.Total})");
        foreach (int id in new[] { 11, 12, 13 }) AssertInOrder(rx.S.Of(id), 1000, "from " + id);
        Assert.That(rx.S.Bad, Is.EqualTo(0), "torn frames");
    }

    [Test]
    public void AWriterKilledHoldingTheLockDoesNotWedgeTheBus()
    {
        var a = Station(BusPath);
        var b = Station(BusPath);
        Process h = Start(Bin("shmif_holder"), BusPath);
        string? line = h.StandardOutput.ReadLine();
        if (line != "locked")
        {
            h.Kill();
            Assert.Fail("shmif_holder said " + line + ": " + h.StandardError.ReadToEnd());
        }
        h.Kill();
        Assert.That(h.WaitForExit(60_000), Is.True, "shmif_holder gone after SIGKILL");
        // The holder is gone with the lock word still set: the next sender takes it over.
        var sent = new Thread(() => Send(a.K, a.If, 1, 0, 10, 100));
        sent.Start();
        Assert.That(sent.Join(Generous), Is.True, "a send after the lock holder died completed (it hangs on a wedged bus)");
        WaitFor(() => b.S.Total == 10, () => $"10 frames at b (got {b.S.Total})");
        AssertInOrder(b.S.Of(1), 10, "b");
        Assert.That(a.If.Takeovers + b.If.Takeovers, Is.EqualTo(1UL), "one takeover of a dead holder's lock");
    }

    [Test]
    public void AFileThatIsNotABusIsRefusedAndLeftAlone()
    {
        RumpKernel k = Boot();
        string junk = Path.Combine(HostWork, "notes.txt");
        File.WriteAllText(junk, "not a bus, but someone's notes\n");
        byte[] before = File.ReadAllBytes(junk);
        int e = In(k, () => ShmifDriver.Of(k.Kernel)!.Create(junk, out _, out _));
        Assert.That(e, Is.EqualTo(Abi.ENOEXEC), "a file with another magic number");
        Assert.That(File.ReadAllBytes(junk), Is.EqualTo(before), "the file is untouched");
        e = In(k, () => ShmifDriver.Of(k.Kernel)!.Create(HostWork, out _, out _));
        Assert.That(e, Is.EqualTo(Abi.EISDIR), "a directory");
        e = In(k, () => ShmifDriver.Of(k.Kernel)!.Create(Path.Combine(HostWork, "no", "such", "dir"), out _, out _));
        Assert.That(e, Is.EqualTo(Abi.ENOENT), "a path whose directory is missing");
        Assert.That(k.Kernel.GetService<Rump.Net.Net>()!.Find("shmif0"), Is.Null, "failed creations leave no interface behind");
        Assert.That(k.Kernel.IsDead, Is.False);
    }

    /// <summary>Sends 2000 frames from a to b (b losing with <paramref name="loss"/>) and returns b's arrival order.</summary>
    private List<int> LossyRun(string bus, ShmifLoss loss)
    {
        var a = Station(bus);
        var b = Station(bus, loss);
        for (int sent = 0; sent < 2000; sent += 200)
        {
            Send(a.K, a.If, 1, sent, 200, 100);
            int want = sent + 200;
            WaitFor(() => Interlocked.Read(ref loss.Seen) == want, () => $"{want} frames seen by the injector (got {loss.Seen})");
        }
        WaitFor(() => b.S.Total == loss.Seen - loss.Dropped + loss.Duplicated, () => $"every frame not dropped delivered ({b.S.Total} of {loss.Seen - loss.Dropped + loss.Duplicated})");
        return b.S.Of(1);
    }

    [Test]
    public void LossInjectionDropsDuplicatesAndReordersAtItsRatesDeterministically()
    {
        var l1 = new ShmifLoss(seed: 42, drop: 0.10, duplicate: 0.05, reorder: 0.05);
        List<int> got1 = LossyRun(Path.Combine(HostWork, "bus1"), l1);
        Assert.That(l1.Dropped, Is.InRange(150, 250), "about 10% of 2000 dropped");
        Assert.That(l1.Duplicated, Is.InRange(60, 120), "about 5% of 1800 duplicated");
        Assert.That(l1.Reordered, Is.InRange(60, 130), "about 5% of 1890 held back");
        int dups = 0, inversions = 0;
        var seen = new HashSet<int>();
        for (int i = 0; i < got1.Count; i++)
        {
            if (!seen.Add(got1[i])) dups++;
            if (i > 0 && got1[i] < got1[i - 1]) inversions++;
        }
        Assert.That(dups, Is.EqualTo(l1.Duplicated), "duplicates received");
        Assert.That(seen.Count, Is.EqualTo(2000 - l1.Dropped), "distinct frames received");
        Assert.That(inversions, Is.GreaterThan(0), "some frames arrived out of order");

        // The same seed and the same frames: the same decisions.
        var l2 = new ShmifLoss(seed: 42, drop: 0.10, duplicate: 0.05, reorder: 0.05);
        List<int> got2 = LossyRun(Path.Combine(HostWork, "bus2"), l2);
        Assert.That((l2.Dropped, l2.Duplicated, l2.Reordered), Is.EqualTo((l1.Dropped, l1.Duplicated, l1.Reordered)), "counts for seed 42");
        // When a held-back frame comes depends on timing (the next frame or the callout): the
        // frames received, duplicates included, are the same.
        Assert.That(got2, Is.EquivalentTo(got1), "frames received for seed 42");
    }

    [Test]
    public void LossSettingsParse()
    {
        Assert.That(ShmifLoss.TryParse("seed=7,drop=0.05,dup=0.01,reorder=0.02,delay=0.5,delayms=3", out ShmifLoss? l, out string? why), Is.True, why);
        Assert.That((l!.Seed, l.Drop, l.Duplicate, l.Reorder, l.Delay, l.DelayMs), Is.EqualTo((7UL, 0.05, 0.01, 0.02, 0.5, 3)));
        Assert.That(ShmifLoss.TryParse("drop=2", out _, out why), Is.False);
        Assert.That(why, Does.Contain("drop"));
        Assert.That(ShmifLoss.TryParse("lose=0.1", out _, out why), Is.False);
        Assert.That(why, Does.Contain("lose"));
    }

    [Test]
    public void DelayedFramesArriveLater()
    {
        var loss = new ShmifLoss(seed: 3, delay: 0.5, delayMs: 2);
        var a = Station(BusPath);
        var b = Station(BusPath, loss);
        Send(a.K, a.If, 1, 0, 200, 100);
        WaitFor(() => b.S.Total == 200, () => $"200 frames (got {b.S.Total})");
        Assert.That(loss.Delayed, Is.InRange(70, 130), "about half delayed");
        List<int> got = b.S.Of(1);
        got.Sort();
        AssertInOrder(got, 200, "every frame, in some order");
    }
}
