using System;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// The TCP engine inside a kernel: the clock is the kernel's monotonic clock, the timer is one
/// callout (its function calls <see cref="TcpStack.Tick"/>), segments go to an output routine
/// (IPv4 output, which the inet layer provides: <see cref="TcpStack.Input"/> is what its input
/// calls for protocol 6; and IPv6 output, <see cref="Output6Routine"/>, once IPv6 is attached), and the stack's lock is the <see cref="KMutex"/> given (the socket
/// layer's shared softnet lock, so that a TCP socket's lock and its TCB's are one).
///
/// Lock order: the stack lock, then the callout queue's lock (ArmTimer schedules the callout
/// under the stack lock), then whatever the output routine takes (interface queues: output must
/// queue and never call back into TCP). The callout runs Tick with no lock held.
/// </summary>
public sealed class TcpKernel : ITcpEnvironment
{
    private readonly Kernel _k;
    private readonly Callout _timer;
    private readonly Action<Mbuf, Ipv4Addr, Ipv4Addr> _output;
    private long _ticks;
    public readonly TcpStack Stack;
    /// <summary>IPv6 output for a segment, with its zone (set once while components initialise; null: IPv6 segments are dropped).</summary>
    public Action<Mbuf, Ipv6Addr, Ipv6Addr, uint>? Output6Routine;

    /// <param name="output">IP output for a segment (the callee owns the mbuf); called with the stack lock held.</param>
    /// <param name="softnetLock">The lock of the stack and of its sockets (null: a lock of its own).</param>
    public TcpKernel(Kernel k, MbufPool pool, Action<Mbuf, Ipv4Addr, Ipv4Addr> output, KMutex? softnetLock = null)
    {
        _k = k;
        _output = output;
        _timer = new Callout(_ => { Interlocked.Increment(ref _ticks); Stack!.Tick(); });
        Stack = new TcpStack(this, pool, softnetLock ?? new KMutex(k));
    }

    /// <summary>Timer callouts run (a test waits on it, never on time).</summary>
    public long Ticks => Interlocked.Read(ref _ticks);

    public long NowMs => Clock.MonotonicNs() / 1_000_000;
    public void Output(Mbuf m, Ipv4Addr src, Ipv4Addr dst) => _output(m, src, dst);
    public void Output6(Mbuf m, Ipv6Addr src, Ipv6Addr dst, uint scope)
    {
        if (Output6Routine != null) Output6Routine(m, src, dst, scope);
        else m.Free();
    }
    public void ArmTimer(long dueMs) => _k.Callouts.Schedule(_timer, Math.Max(0, dueMs * 1_000_000 - Clock.MonotonicNs()));

    /// <summary>Stops the timer (halt).</summary>
    public void Stop() => _k.Callouts.Stop(_timer);

    /// <summary>
    /// net.inet.tcp.congctl.selected (read-write: "newreno" or "cubic", for connections made from
    /// then on) and net.inet.tcp.congctl.available, as NetBSD names them; net.inet.tcp.sendbuf_auto
    /// and sendbuf_max (send-buffer autosizing, <see cref="TcpStack.GrowSendBufferLocked"/>). The directories above
    /// are made if nobody has (CTL_NET 4, PF_INET 2, IPPROTO_TCP 6). The handler stores a string
    /// reference, which the stack reads when it makes a connection: no lock is shared with sysctl.
    /// </summary>
    public static int AttachSysctl(Kernel k, TcpStack stack)
    {
        Sysctl s = k.Sysctl;
        int e;
        Sysctl.Node? net = s.FindByName("net");
        if (net == null && (e = s.CreateNode(null, "net", out net, Abi.CTL_NET)) != 0) return e;
        Sysctl.Node? inet = s.FindByName("net.inet");
        if (inet == null && (e = s.CreateNode(net, "inet", out inet, 2)) != 0) return e;
        Sysctl.Node? tcp = s.FindByName("net.inet.tcp");
        if (tcp == null && (e = s.CreateNode(inet, "tcp", out tcp, 6)) != 0) return e;
        if ((e = s.CreateNode(tcp, "congctl", out Sysctl.Node? cc, desc: "Congestion control")) != 0) return e;
        if ((e = s.CreateString(cc, "selected", stack.CongestionControl, out _, flags: Abi.CTLFLAG_READWRITE, maxLen: 16,
                read: () => stack.CongestionControl,
                write: v =>
                {
                    if (Netinet.CongestionControl.Create(v) == null) return Abi.EINVAL;
                    stack.CongestionControl = v;
                    return 0;
                }, desc: "Selected congestion control")) != 0) return e;
        if ((e = s.CreateString(cc, "available", "newreno cubic", out _, desc: "Available congestion controls")) != 0) return e;
        if ((e = s.CreateInt(tcp, "sendbuf_auto", 1, out _, flags: Abi.CTLFLAG_READWRITE, read: () => stack.SendBufferAuto ? 1 : 0,
                write: v => { stack.SendBufferAuto = v != 0; return 0; }, desc: "Enable automatic send buffer sizing")) != 0) return e;
        return s.CreateInt(tcp, "sendbuf_max", stack.SendBufferMax, out _, flags: Abi.CTLFLAG_READWRITE, read: () => stack.SendBufferMax,
            write: v =>
            {
                if (v < 1 || v > SockBuf.SbMax) return Abi.EINVAL;
                stack.SendBufferMax = (int)v;
                return 0;
            }, desc: "Maximum send buffer size for automatic sizing");
    }
}
