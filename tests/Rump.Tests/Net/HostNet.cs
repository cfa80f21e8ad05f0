using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace Rump.Tests.Net;

/// <summary>
/// A private link to the Linux host's network stack, for tests that use it as their oracle
/// (needs root: network namespaces). Two namespaces joined by a veth pair: in "peer" the host's
/// stack owns one end (10.77.0.1/24, fd77::1/64, MAC <see cref="PeerMac"/>); in "wire" nothing
/// but an AF_PACKET socket owns the other end (IPv6 off there, so that namespace's own stack
/// stays silent). Frames sent on the socket arrive at the host's stack as if from a machine at
/// 10.77.0.2 / fd77::2, and everything the host's stack sends comes out of the socket. Nothing
/// outside the two namespaces is touched; disposing deletes them (and the veth pair with them).
/// </summary>
internal sealed partial class HostNet : IDisposable
{
    public const string PeerIp = "10.77.0.1", OurIp = "10.77.0.2", PeerIp6 = "fd77::1", OurIp6 = "fd77::2";
    public const ulong PeerMac = 0x02_00_5e_77_00_01, OurMac = 0x02_00_5e_77_00_02;

    public readonly string PeerNs, WireNs;
    private readonly int _fd = -1;
    private readonly List<Process> _procs = new();

    public HostNet()
    {
        Require("ip");
        Require("ethtool");
        string id = Environment.ProcessId.ToString("x") + Interlocked.Increment(ref s_seq).ToString("x");
        PeerNs = "rumpnet-p" + id;
        WireNs = "rumpnet-w" + id;
        string vp = "rnp" + id, vw = "rnw" + id;
        try
        {
            Ip("netns add " + PeerNs);
            Ip("netns add " + WireNs);
            if (!File.Exists("/run/netns/" + PeerNs))
                Assert.Fail("ip netns add did not make /run/netns/" + PeerNs + ": this test needs root and network namespaces");
            Ip($"link add {vp} netns {PeerNs} type veth peer name {vw} netns {WireNs}");
            Ip($"-n {WireNs} link set {vw} address 02:00:5e:77:00:02");
            Run("ip", $"netns exec {WireNs} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.{vw}.disable_ipv6=1");
            Ip($"-n {WireNs} link set {vw} up");
            Ip($"-n {PeerNs} link set lo up");
            Ip($"-n {PeerNs} link set {vp} address 02:00:5e:77:00:01");
            // veth passes TCP/UDP checksums on as "to be completed" (checksum offload), so the wire
            // end would see only the pseudo-header's sum: have the host compute them, as a real
            // NIC on a real wire would.
            Run("ip", $"netns exec {PeerNs} ethtool -K {vp} tx off");
            // No duplicate address detection for the link-local address either: fewer frames
            // of the host's own to skip (the tests match what they wait for exactly anyway).
            Run("ip", $"netns exec {PeerNs} sysctl -qw net.ipv6.conf.{vp}.accept_dad=0");
            Ip($"-n {PeerNs} link set {vp} up");
            Ip($"-n {PeerNs} addr add {PeerIp}/24 dev {vp}");
            Ip($"-n {PeerNs} addr add {PeerIp6}/64 dev {vp} nodad");
            PeerIf = vp;
            _fd = OpenPacketSocket(WireNs, vw);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static int s_seq;
    public readonly string PeerIf = "";

    /// <summary>Runs ip(8) with <paramref name="args"/>; a failure fails the test with its stderr.</summary>
    public static void Ip(string args) => Run("ip", args);

    public static string Run(string exe, string args)
    {
        var psi = new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { Oracle.Missing(exe); throw; }
        p.StandardInput.Close();
        string o = p.StandardOutput.ReadToEnd(), e = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) Assert.Fail($"{exe} {args} failed with status {p.ExitCode}: {e.Trim()}");
        return o;
    }

    /// <summary>Fails the test (naming the Debian package) unless <paramref name="tool"/> is installed.</summary>
    public static void Require(string tool)
    {
        foreach (string d in new[] { "/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/" })
            if (File.Exists(d + tool)) return;
        Oracle.Missing(tool);
    }

    /// <summary>Starts <paramref name="cmd"/> inside the peer namespace (killed at Dispose if still running).</summary>
    public Process StartInPeer(string cmd, string? stdin = null)
    {
        Require(cmd.Split(' ', 2)[0]);
        var psi = new ProcessStartInfo("ip", $"netns exec {PeerNs} {cmd}")
        { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        Process p = Process.Start(psi)!;
        _procs.Add(p);
        if (stdin != null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        return p;
    }

    /// <summary>Waits for <paramref name="p"/> to exit and returns its output; fails the test if it outlives the deadline.</summary>
    /// <summary>
    /// <see cref="Finish"/> on another thread, started now: for a program that prints what the
    /// test is about to send it (nc -l), whose output must be read while the test sends, or the
    /// program blocks on its full stdout pipe, stops reading its socket, and the sender waits for
    /// window space forever.
    /// </summary>
    public static Task<(int status, string stdout, string stderr)> FinishWhileSending(Process p, int seconds = 20)
        => Task.Run(() => Finish(p, seconds));

    public static (int status, string stdout, string stderr) Finish(Process p, int seconds = 20)
    {
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(seconds * 1000))
        {
            p.Kill(true);
            Assert.Fail($"{p.StartInfo.Arguments} did not finish within {seconds} s");
        }
        return (p.ExitCode, so.Result, se.Result);
    }

    /// <summary>Sends one frame out of the wire end (to the host's stack); frames under 60 bytes are padded as Ethernet requires.</summary>
    public void Send(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 60)
        {
            byte[] pad = new byte[60];
            frame.CopyTo(pad);
            frame = pad;
        }
        nint n = send(_fd, ref MemoryMarshal.GetReference(frame), (nuint)frame.Length, 0);
        if (n != frame.Length) Assert.Fail($"send on the packet socket: {n} bytes of {frame.Length}, errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>
    /// Receives frames until one satisfies <paramref name="match"/> and returns it. The host's
    /// stack also sends router solicitations and the like; those are skipped. Fails the test
    /// after <paramref name="seconds"/> (a deadline for a frame that never comes, not a guess
    /// at when one will).
    /// </summary>
    public byte[] Receive(Func<byte[], bool> match, string what, int seconds = 20)
    {
        var sw = Stopwatch.StartNew();
        byte[] buf = new byte[2048];
        var seen = new List<string>();
        while (true)
        {
            int left = seconds * 1000 - (int)sw.ElapsedMilliseconds;
            if (left <= 0) Assert.Fail($"no frame ({what}) from the host's stack within {seconds} s; saw {seen.Count}: {string.Join(" | ", seen)}");
            var pfd = new PollFd { Fd = _fd, Events = 1 };
            int r = poll(ref pfd, 1, left);
            if (r < 0 && Marshal.GetLastPInvokeError() == 4) continue;
            if (r < 0) Assert.Fail("poll on the packet socket: errno " + Marshal.GetLastPInvokeError());
            if (r == 0) continue;
            nint n = recv(_fd, ref buf[0], (nuint)buf.Length, 0);
            if (n < 0) Assert.Fail("recv on the packet socket: errno " + Marshal.GetLastPInvokeError());
            byte[] f = buf.AsSpan(0, (int)n).ToArray();
            // The socket also sees the frames it sent itself: they carry our source address.
            if (n >= 12 && Rump.Net.Wire.EtherAddr.Read(f.AsSpan(6)).Value == OurMac) continue;
            if (match(f)) return f;
            if (seen.Count < 8) seen.Add(Convert.ToHexString(f.AsSpan(0, Math.Min(f.Length, 40))));
        }
    }

    /// <summary>
    /// One frame from the host's stack within <paramref name="timeoutMs"/> (0 if none came), skipping
    /// our own frames: for a harness that runs an engine's timers between frames.
    /// </summary>
    public int TryReceive(byte[] buf, int timeoutMs)
    {
        var pfd = new PollFd { Fd = _fd, Events = 1 };
        int r = poll(ref pfd, 1, timeoutMs);
        if (r < 0 && Marshal.GetLastPInvokeError() == 4) return 0;
        if (r < 0) Assert.Fail("poll on the packet socket: errno " + Marshal.GetLastPInvokeError());
        if (r == 0) return 0;
        nint n = recv(_fd, ref buf[0], (nuint)buf.Length, 0);
        if (n < 0) Assert.Fail("recv on the packet socket: errno " + Marshal.GetLastPInvokeError());
        if (n >= 12 && Rump.Net.Wire.EtherAddr.Read(buf.AsSpan(6)).Value == OurMac) return 0;
        return (int)n;
    }

    public void Dispose()
    {
        foreach (Process p in _procs)
        {
            try { if (!p.HasExited) p.Kill(true); p.WaitForExit(); } catch (InvalidOperationException) { }
            p.Dispose();
        }
        if (_fd >= 0) close(_fd);
        foreach (string ns in new[] { PeerNs, WireNs })
            if (ns != null && File.Exists("/run/netns/" + ns))
                Process.Start(new ProcessStartInfo("ip", "netns del " + ns))!.WaitForExit();
    }

    // ---- AF_PACKET in another namespace ----------------------------------------------------

    private const int AF_PACKET = 17, SOCK_RAW = 3, ETH_P_ALL = 0x0003, CLONE_NEWNET = 0x40000000;

    /// <summary>
    /// A packet socket bound to <paramref name="ifname"/> in namespace <paramref name="ns"/>: made
    /// on a thread of its own that enters the namespace (setns changes only the calling thread,
    /// and a socket stays in the namespace it was made in), so the test process stays where it is.
    /// </summary>
    private static int OpenPacketSocket(string ns, string ifname)
    {
        int fd = -1;
        string? err = null;
        var t = new Thread(() =>
        {
            int nsfd = open("/run/netns/" + ns, 0x80000 /* O_CLOEXEC */);
            if (nsfd < 0) { err = "open /run/netns/" + ns + ": errno " + Marshal.GetLastPInvokeError(); return; }
            int r = setns(nsfd, CLONE_NEWNET);
            int en = Marshal.GetLastPInvokeError();
            close(nsfd);
            if (r != 0) { err = "setns: errno " + en; return; }
            int s = socket(AF_PACKET, SOCK_RAW | 0x80000 /* SOCK_CLOEXEC */, htons(ETH_P_ALL));
            if (s < 0) { err = "socket(AF_PACKET): errno " + Marshal.GetLastPInvokeError(); return; }
            uint idx = if_nametoindex(ifname);
            if (idx == 0) { err = "if_nametoindex " + ifname + ": errno " + Marshal.GetLastPInvokeError(); close(s); return; }
            var sll = new SockaddrLl { Family = AF_PACKET, Protocol = (ushort)htons(ETH_P_ALL), Ifindex = (int)idx };
            if (bind(s, ref sll, 20) != 0) { err = "bind: errno " + Marshal.GetLastPInvokeError(); close(s); return; }
            fd = s;
        });
        t.Start();
        t.Join();
        if (err != null) Assert.Fail("cannot open a packet socket on " + ifname + " in " + ns + ": " + err);
        return fd;
    }

    private static int htons(int v) => (ushort)((v & 0xff) << 8 | (v >> 8 & 0xff));

    [StructLayout(LayoutKind.Sequential)]
    private struct SockaddrLl
    {
        public ushort Family;
        public ushort Protocol;
        public int Ifindex;
        public ushort Hatype;
        public byte Pkttype;
        public byte Halen;
        public ulong Addr;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd { public int Fd; public short Events; public short Revents; }

    [LibraryImport("libc.so.6", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);
    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);
    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int bind(int fd, ref SockaddrLl addr, int len);
    [LibraryImport("libc.so.6", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint if_nametoindex(string name);
    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial nint send(int fd, ref byte buf, nuint len, int flags);
    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial nint recv(int fd, ref byte buf, nuint len, int flags);
    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int poll(ref PollFd fds, nuint n, int timeout);
    [LibraryImport("libc.so.6")]
    private static partial int close(int fd);
}
