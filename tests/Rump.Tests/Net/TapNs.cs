using System;
using System.Diagnostics;
using System.Threading;
using NUnit.Framework;

namespace Rump.Tests.Net;

/// <summary>
/// A host TAP device for a kernel's virtif, and a network namespace of its own that the TAP moves
/// into once the kernel holds it, so Linux's stack there is the kernel's peer (root). Only that
/// namespace is touched; deleting it removes the TAP.
/// </summary>
internal sealed class TapNs : IDisposable
{
    public readonly string Ns, Tap;
    private static int s_seq;

    /// <param name="nsPrefix">the namespace's name before a unique suffix</param>
    /// <param name="tapPrefix">the TAP's name before the same suffix (short: interface names have 15 characters)</param>
    public TapNs(string nsPrefix, string tapPrefix)
    {
        HostNet.Require("ip");
        string id = Environment.ProcessId.ToString("x") + Interlocked.Increment(ref s_seq).ToString("x");
        Ns = nsPrefix + id;
        Tap = tapPrefix + id;
        HostNet.Ip("netns add " + Ns);
        if (!System.IO.File.Exists("/run/netns/" + Ns)) Assert.Fail("ip netns add did not make /run/netns/" + Ns + ": this test needs root and network namespaces");
        HostNet.Ip($"tuntap add dev {Tap} mode tap");
    }

    /// <summary>
    /// After the kernel holds the TAP: into the namespace, up, and given <paramref name="peerAddress"/>
    /// ("a.b.c.d/len" or "v6/len"; an IPv6 one without duplicate address detection, so it is usable at once).
    /// </summary>
    public void MoveIn(string peerAddress)
    {
        bool v6 = peerAddress.Contains(':');
        HostNet.Ip($"link set {Tap} netns {Ns}");
        if (v6) Run($"sysctl -qw net.ipv6.conf.{Tap}.accept_dad=0");
        HostNet.Ip($"-n {Ns} link set lo up");
        HostNet.Ip($"-n {Ns} link set {Tap} up");
        HostNet.Ip($"-n {Ns} addr add {peerAddress} dev {Tap}" + (v6 ? " nodad" : ""));
    }

    /// <summary>
    /// The usual start of a test with Linux as the peer: <paramref name="k"/>'s virt0 on this TAP,
    /// the TAP into the namespace with <paramref name="peerAddress"/> (<see cref="MoveIn"/>), and
    /// virt0 up. Both kernel steps run with a kernel context of their own (<see cref="KernelTest.In"/>).
    /// </summary>
    public Rump.Net.Ifnet AttachKernel(RumpKernel k, string peerAddress)
    {
        Rump.Net.Ifnet? ifp = null;
        Assert.That(KernelTest.In(k, () => Rump.Net.Virtif.Virtif.Create(k.Kernel, 0, Tap, out ifp)), Is.EqualTo(0), "virt0 on the host TAP " + Tap);
        MoveIn(peerAddress);
        Assert.That(KernelTest.In(k, () => Rump.Net.Netinet.Netconfig.IfUp(k.Kernel, "virt0")), Is.EqualTo(0), "virt0 up");
        return ifp!;
    }

    public (int status, string stdout, string stderr) Run(string cmd, string? stdin = null, int seconds = 30)
        => HostNet.Finish(Start(cmd, stdin), seconds);

    public Process Start(string cmd, string? stdin = null)
    {
        HostNet.Require(cmd.Split(' ', 2)[0]);
        var psi = new ProcessStartInfo("ip", $"netns exec {Ns} {cmd}") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        Process p = Process.Start(psi)!;
        if (stdin != null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        return p;
    }

    public void Dispose()
    {
        if (System.IO.File.Exists("/run/netns/" + Ns)) Process.Start(new ProcessStartInfo("ip", "netns del " + Ns))!.WaitForExit();
        // If the TAP never moved in, it is still here.
        Process.Start(new ProcessStartInfo("ip", $"link del {Tap}") { RedirectStandardError = true })!.WaitForExit();
    }
}
