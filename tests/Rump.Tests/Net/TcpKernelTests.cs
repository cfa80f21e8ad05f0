using System;
using System.Collections.Generic;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The TCP engine in a booted kernel (<see cref="TcpKernel"/>): kernel locks (the LOCKDEBUG run
/// checks their order), timers as real callouts on the kernel's timer thread running beside the
/// segment input of the test's lwp, and net.inet.tcp.congctl through sysctl.
/// </summary>
public class TcpKernelTests : KernelTest
{
    private static readonly Ipv4Addr A = new(10, 1, 0, 1), B = new(10, 1, 0, 2);

    /// <summary>
    /// Segments between the two engines: output (under a stack's lock, from an lwp or the callout
    /// thread) queues under the wire's own lock, a leaf; the test's lwp takes them off and calls
    /// input with no lock held, as a soft interrupt would.
    /// </summary>
    private sealed class Wire
    {
        private readonly KMutex _lock;
        private readonly KCondvar _cv;
        private readonly Queue<(Mbuf M, Ipv4Addr Src, Ipv4Addr Dst)> _q = new();
        public Wire(Kernel k) { _lock = new KMutex(k); _cv = new KCondvar(k); }

        public void Send(Mbuf m, Ipv4Addr src, Ipv4Addr dst)
        {
            _lock.Enter();
            _q.Enqueue((m, src, dst));
            _cv.Signal();
            _lock.Exit();
        }

        /// <summary>The next segment, waiting for one up to <paramref name="ms"/> (a deadline for one that never comes).</summary>
        public bool Take(out (Mbuf M, Ipv4Addr Src, Ipv4Addr Dst) seg, long ms)
        {
            _lock.Enter();
            try
            {
                long deadline = Clock.MonotonicNs() + ms * 1_000_000;
                while (_q.Count == 0)
                {
                    long left = deadline - Clock.MonotonicNs();
                    if (left <= 0) { seg = default; return false; }
                    _cv.TimedWait(_lock, left);
                }
                seg = _q.Dequeue();
                return true;
            }
            finally { _lock.Exit(); }
        }
    }

    private static void Run(Wire w, TcpKernel a, TcpKernel b, Func<bool> done, string what, Action app)
    {
        app();
        while (!done())
        {
            if (!w.Take(out var s, 30_000)) Assert.Fail($"{what}: no segment for 30 s and not done");
            (s.Dst == A ? a : b).Stack.Input(s.M, s.Src, s.Dst);
            app();
        }
    }

    [Test]
    public void TwoEnginesInOneKernel_CalloutTimers_TransferBothWaysAndClose()
    {
        Kernel k = Boot(ncpu: 2).Kernel;
        var pool = new MbufPool();
        var w = new Wire(k);
        var a = new TcpKernel(k, pool, w.Send);
        var b = new TcpKernel(k, pool, w.Send);
        using (k.EnterTemporary(k.DefaultProc, "tcp"))
        {
            Assert.That(b.Stack.Listen(Ipv4Addr.Any, 80, 4, out TcpCb? l), Is.EqualTo(0));
            Assert.That(a.Stack.Connect(A, 0, B, 80, out TcpCb? c), Is.EqualTo(0));
            TcpCb? s = null;
            Run(w, a, b, () => c!.State == TcpState.Established && s != null, "the handshake", () => s ??= b.Stack.Accept(l!));
            var ab = new TcpPump(a.Stack, c!, b.Stack, s!, TcpPump.RandomData(8 << 20, 1), true);
            var ba = new TcpPump(b.Stack, s!, a.Stack, c!, TcpPump.RandomData(1 << 20, 2), true);
            Run(w, a, b, () => ab.Done && ba.Done, "the transfer", () => { ab.Step(); ba.Step(); });
            ab.AssertIdentical("A->B");
            ba.AssertIdentical("B->A");
            Run(w, a, b, () => c!.State is TcpState.TimeWait or TcpState.Closed && s!.State is TcpState.TimeWait or TcpState.Closed, "the close", () => { });
            Assert.That(c!.Error + s!.Error, Is.EqualTo(0));
        }
        a.Stop();
        b.Stop();
    }

    [Test]
    public void DelayedAck_IsSentByTheCallout()
    {
        Kernel k = Boot(ncpu: 2).Kernel;
        var pool = new MbufPool();
        var w = new Wire(k);
        var a = new TcpKernel(k, pool, w.Send);
        var b = new TcpKernel(k, pool, w.Send);
        using (k.EnterTemporary(k.DefaultProc, "tcp"))
        {
            b.Stack.Listen(Ipv4Addr.Any, 80, 4, out TcpCb? l);
            a.Stack.Connect(A, 0, B, 80, out TcpCb? c);
            TcpCb? s = null;
            Run(w, a, b, () => c!.State == TcpState.Established && s != null, "the handshake", () => s ??= b.Stack.Accept(l!));
            long ticks = b.Ticks;
            a.Stack.Send(c!, Encoding.ASCII.GetBytes("one segment"));
            // Only B's delayed-ACK timer, a callout, can acknowledge a single segment.
            Run(w, a, b, () => c!.Unacked == 0, "the delayed ACK", () => { });
            Assert.That(b.Ticks, Is.GreaterThan(ticks), "B's callout ran and sent the ACK");
        }
        a.Stop();
        b.Stop();
    }

    [Test]
    public void Sysctl_CongctlSelected_ChoosesTheAlgorithmOfNewConnections()
    {
        Kernel k = Boot(ncpu: 2).Kernel;
        var pool = new MbufPool();
        var w = new Wire(k);
        var a = new TcpKernel(k, pool, w.Send);
        var b = new TcpKernel(k, pool, w.Send);
        // The kernel's own TCP (TcpProto) attached net.inet.tcp at boot; its stack is what the nodes change.
        TcpStack ks = k.GetService<TcpProto>()!.Stack;
        Assert.That(TcpKernel.AttachSysctl(k, a.Stack), Is.EqualTo(Abi.EEXIST), "the nodes exist once");
        Assert.That(k.Sysctl.GetString("net.inet.tcp.congctl.selected"), Is.EqualTo("newreno"));
        Assert.That(k.Sysctl.GetString("net.inet.tcp.congctl.available"), Is.EqualTo("newreno cubic"));
        Sysctl.Node n = k.Sysctl.FindByName("net.inet.tcp.congctl.selected")!;
        Assert.That(k.Sysctl.Lookup(null, n, Span<byte>.Empty, out _, Encoding.ASCII.GetBytes("vegas\0")), Is.EqualTo(Abi.EINVAL), "an unknown algorithm");
        Assert.That(k.Sysctl.Lookup(null, n, Span<byte>.Empty, out _, Encoding.ASCII.GetBytes("cubic\0")), Is.EqualTo(0));
        Assert.That(k.Sysctl.GetString("net.inet.tcp.congctl.selected"), Is.EqualTo("cubic"));
        Assert.That(ks.CongestionControl, Is.EqualTo("cubic"), "the kernel's stack took the write");
        a.Stack.CongestionControl = ks.CongestionControl;
        using (k.EnterTemporary(k.DefaultProc, "tcp"))
        {
            b.Stack.Listen(Ipv4Addr.Any, 80, 4, out TcpCb? l);
            a.Stack.Connect(A, 0, B, 80, out TcpCb? c);
            Assert.That(c!.CongestionName, Is.EqualTo("cubic"), "a connection made after the write");
            TcpCb? s = null;
            Run(w, a, b, () => c.State == TcpState.Established && s != null, "the handshake", () => s ??= b.Stack.Accept(l!));
            Assert.That(s!.CongestionName, Is.EqualTo("newreno"), "the other stack keeps its own");
        }
        a.Stop();
        b.Stop();
    }
}
