using System;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;

namespace Rump.Tests;

/// <summary>
/// The socket layer and AF_LOCAL through the system-call table: socketpair echo, a listener with
/// several connecting threads, poll readiness, non-blocking and blocking I/O (the blocked side
/// is seen asleep in the kernel before it is woken, never assumed), close with data pending,
/// 64 MiB through a stream with a checksum, datagram boundaries, names, errors, SIGPIPE,
/// MSG_PEEK/WAITALL, timeouts, SCM_RIGHTS and LOCAL_PEEREID.
/// </summary>
public unsafe class LocalSocketTests : KernelTest
{
    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    private static int Socket(RumpKernel k, int domain, int type, int proto = 0) => (int)Sys(k, SysNum.socket, domain, type, proto);

    private static int Pair(RumpKernel k, int type, out int a, out int b)
    {
        int* fds = stackalloc int[2];
        int r = (int)Sys(k, SysNum.socketpair, Abi.AF_LOCAL, type, 0, (long)fds);
        a = fds[0]; b = fds[1];
        return r;
    }

    /// <summary>A sockaddr_un for <paramref name="path"/> (sun_len set to the bytes used).</summary>
    private static byte[] Sun(string path)
    {
        byte[] p = Encoding.UTF8.GetBytes(path);
        var b = new byte[2 + p.Length + 1];
        b[0] = (byte)b.Length;
        b[1] = Abi.AF_LOCAL;
        p.CopyTo(b, 2);
        return b;
    }

    private static int Bind(RumpKernel k, int s, byte[] addr)
    {
        fixed (byte* a = addr) return (int)Sys(k, SysNum.bind, s, (long)a, addr.Length);
    }

    private static int Connect(RumpKernel k, int s, byte[] addr)
    {
        fixed (byte* a = addr) return (int)Sys(k, SysNum.connect, s, (long)a, addr.Length);
    }

    private static int Listen(RumpKernel k, int s, int backlog) => (int)Sys(k, SysNum.listen, s, backlog);

    private static int Accept(RumpKernel k, int s) => (int)Sys(k, SysNum.accept, s, 0, 0);

    private static long Send(RumpKernel k, int s, ReadOnlySpan<byte> buf, int flags)
    {
        fixed (byte* b = buf) return Sys(k, SysNum.sendto, s, (long)b, buf.Length, flags, 0, 0);
    }

    private static long Recv(RumpKernel k, int s, Span<byte> buf, int flags)
    {
        fixed (byte* b = buf) return Sys(k, SysNum.recvfrom, s, (long)b, buf.Length, flags, 0, 0);
    }

    private static short PollOne(RumpKernel k, int fd, short events, int timeoutMs = 0)
    {
        var p = new RumpPollfd { fd = fd, events = events };
        long r = Sys(k, SysNum.poll, (long)&p, 1, timeoutMs);
        Assert.That(r, Is.GreaterThanOrEqualTo(0), "poll failed: " + r);
        return p.revents;
    }

    private static int SetInt(RumpKernel k, int s, int level, int name, int v)
        => (int)Sys(k, SysNum.setsockopt, s, level, name, (long)&v, 4);

    [Test]
    public void EchoOverAStreamSocketpair()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out int b), Is.EqualTo(0));
        var echo = new Thread(() =>
        {
            var buf = new byte[64];
            long n = k.Read(b, buf);
            k.Write(b, buf.AsSpan(0, (int)Math.Max(n, 0)));
        }) { IsBackground = true };
        echo.Start();
        Assert.That(k.Write(a, "hello, socket"u8), Is.EqualTo(13));
        var got = new byte[64];
        long r = k.Read(a, got);
        Assert.That(echo.Join(Generous), Is.True, "the echo thread did not finish");
        Assert.That(Encoding.ASCII.GetString(got, 0, (int)r), Is.EqualTo("hello, socket"));
        Assert.That(k.Fstat(a, out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo((uint)Abi.S_IFSOCK), "fstat of a socket");
        Assert.That(k.Close(a), Is.EqualTo(0));
        Assert.That(k.Close(b), Is.EqualTo(0));
    }

    [Test]
    public void DatagramBoundariesAreKept()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(Pair(k, Abi.SOCK_DGRAM, out int a, out int b), Is.EqualTo(0));
        Assert.That(Send(k, a, "one"u8, 0), Is.EqualTo(3));
        Assert.That(Send(k, a, "three"u8, 0), Is.EqualTo(5));
        Assert.That(Send(k, a, ReadOnlySpan<byte>.Empty, 0), Is.EqualTo(0), "an empty datagram");
        var buf = new byte[100];
        Assert.That(Recv(k, b, buf, 0), Is.EqualTo(3));
        Assert.That(Encoding.ASCII.GetString(buf, 0, 3), Is.EqualTo("one"));
        // A short buffer truncates the datagram and the rest is gone (MSG_TRUNC in recvmsg).
        Assert.That(Recv(k, b, buf.AsSpan(0, 2), 0), Is.EqualTo(2));
        Assert.That(Recv(k, b, buf, 0), Is.EqualTo(0), "the empty datagram, not the rest of 'three'");
        Assert.That(Recv(k, b, buf, Abi.MSG_DONTWAIT), Is.EqualTo(-Abi.EAGAIN));
        // The other direction too (a socketpair's datagram sockets are connected both ways).
        Assert.That(Send(k, b, "back"u8, 0), Is.EqualTo(4));
        Assert.That(Recv(k, a, buf, 0), Is.EqualTo(4));
        // A datagram larger than the send buffer (2 KiB) is refused whole.
        Assert.That(Send(k, a, new byte[4096], 0), Is.EqualTo(-Abi.EMSGSIZE));
    }

    [Test]
    public void SeqpacketKeepsRecordsOverAConnection()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(Pair(k, Abi.SOCK_SEQPACKET, out int a, out int b), Is.EqualTo(0));
        Assert.That(Send(k, a, "ab"u8, 0), Is.EqualTo(2));
        Assert.That(Send(k, a, "cde"u8, 0), Is.EqualTo(3));
        var buf = new byte[10];
        Assert.That(Recv(k, b, buf, 0), Is.EqualTo(2));
        Assert.That(Recv(k, b, buf, 0), Is.EqualTo(3));
    }

    [Test]
    public void AListenerAcceptsSeveralConnectingThreads()
    {
        RumpKernel k = Boot(ncpu: 2);
        int ls = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM);
        Assert.That(ls, Is.GreaterThanOrEqualTo(0));
        Assert.That(Bind(k, ls, Sun("/srv.sock")), Is.EqualTo(0));
        Assert.That(k.Stat("/srv.sock", out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo((uint)Abi.S_IFSOCK), "bind made a socket node");
        Assert.That(Listen(k, ls, 8), Is.EqualTo(0));
        const int N = 6;
        var answers = new string?[N];
        var clients = new Thread[N];
        for (int i = 0; i < N; i++)
        {
            int id = i;
            clients[i] = new Thread(() =>
            {
                int s = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM);
                if (Connect(k, s, Sun("/srv.sock")) != 0) { answers[id] = "connect failed"; return; }
                k.Write(s, Encoding.ASCII.GetBytes("client " + id));
                var buf = new byte[64];
                long n = k.Read(s, buf);
                answers[id] = n > 0 ? Encoding.ASCII.GetString(buf, 0, (int)n) : "read " + n;
                k.Close(s);
            }) { IsBackground = true };
            clients[i].Start();
        }
        for (int i = 0; i < N; i++)
        {
            int c = Accept(k, ls);
            Assert.That(c, Is.GreaterThanOrEqualTo(0), "accept");
            var buf = new byte[64];
            long n = k.Read(c, buf);
            Assert.That(n, Is.GreaterThan(0));
            string msg = Encoding.ASCII.GetString(buf, 0, (int)n);
            k.Write(c, Encoding.ASCII.GetBytes("hi " + msg));
            k.Close(c);
        }
        for (int i = 0; i < N; i++)
        {
            Assert.That(clients[i].Join(Generous), Is.True, "client " + i + " did not finish");
            Assert.That(answers[i], Is.EqualTo("hi client " + i));
        }
        Assert.That(k.Close(ls), Is.EqualTo(0));
    }

    [Test]
    public void NamesRefusalsAndAddressInUse()
    {
        RumpKernel k = Boot(ncpu: 1);
        int ls = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM);
        Assert.That(Bind(k, ls, Sun("/a.sock")), Is.EqualTo(0));
        int other = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM);
        Assert.That(Bind(k, other, Sun("/a.sock")), Is.EqualTo(-Abi.EADDRINUSE));
        // Bound but not listening: refused. A path nobody bound: ENOENT; a file that is not a socket: ENOTSOCK.
        Assert.That(Connect(k, other, Sun("/a.sock")), Is.EqualTo(-Abi.ECONNREFUSED));
        Assert.That(Connect(k, other, Sun("/nothing.sock")), Is.EqualTo(-Abi.ENOENT));
        WriteFile(k, "/plain", "x");
        Assert.That(Connect(k, other, Sun("/plain")), Is.EqualTo(-Abi.ENOTSOCK));
        Assert.That(Listen(k, ls, 1), Is.EqualTo(0));
        Assert.That(Connect(k, other, Sun("/a.sock")), Is.EqualTo(0));
        int c = Accept(k, ls);
        Assert.That(c, Is.GreaterThanOrEqualTo(0));

        var buf = new byte[128];
        uint len = (uint)buf.Length;
        fixed (byte* b = buf) Assert.That(Sys(k, SysNum.getpeername, other, (long)b, (long)&len), Is.EqualTo(0));
        Assert.That(Encoding.ASCII.GetString(buf, 2, (int)len - 2).TrimEnd('\0'), Is.EqualTo("/a.sock"), "the client's peer is the listener's name");
        len = (uint)buf.Length;
        fixed (byte* b = buf) Assert.That(Sys(k, SysNum.getsockname, c, (long)b, (long)&len), Is.EqualTo(0));
        Assert.That(Encoding.ASCII.GetString(buf, 2, (int)len - 2).TrimEnd('\0'), Is.EqualTo("/a.sock"), "an accepted socket has the listener's name");
        len = (uint)buf.Length;
        fixed (byte* b = buf) Assert.That(Sys(k, SysNum.getpeername, ls, (long)b, (long)&len), Is.EqualTo(-Abi.ENOTCONN));
        // A truncated name: the length says what was written.
        len = 4;
        fixed (byte* b = buf) Assert.That(Sys(k, SysNum.getpeername, other, (long)b, (long)&len), Is.EqualTo(0));
        Assert.That(len, Is.EqualTo(4u));

        // LOCAL_PEEREID: the peer's pid and ids as of connect.
        RumpUnpcbid id = default;
        uint idlen = (uint)sizeof(RumpUnpcbid);
        Assert.That(Sys(k, SysNum.getsockopt, c, 0, Abi.LOCAL_PEEREID, (long)&id, (long)&idlen), Is.EqualTo(0));
        Assert.That(id.unp_pid, Is.EqualTo(k.Getpid()));
        Assert.That(id.unp_euid, Is.EqualTo(0u));

        // Closing the listener leaves the node; unlinking it is what frees the name.
        Assert.That(k.Close(ls), Is.EqualTo(0));
        int again = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM);
        Assert.That(Bind(k, again, Sun("/a.sock")), Is.EqualTo(-Abi.EADDRINUSE));
        Assert.That(k.Unlink("/a.sock"), Is.EqualTo(0));
        Assert.That(Bind(k, again, Sun("/a.sock")), Is.EqualTo(0));
    }

    [Test]
    public void PollSeesDataSpaceConnectionsAndHangup()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out int b), Is.EqualTo(0));
        const short inout = Abi.POLLIN | Abi.POLLOUT;
        Assert.That(PollOne(k, a, inout), Is.EqualTo(Abi.POLLOUT), "a fresh pair: writable, nothing to read");
        Assert.That(k.Write(b, "x"u8), Is.EqualTo(1));
        Assert.That(PollOne(k, a, inout), Is.EqualTo(inout), "data waiting");
        // Fill b's way to a: no more POLLOUT on b until a reads.
        Assert.That(k.Fcntl(b, Abi.F_SETFL, Abi.O_NONBLOCK), Is.EqualTo(0));
        var chunk = new byte[8192];
        while (k.Write(b, chunk) > 0) { }
        Assert.That(k.Write(b, chunk), Is.EqualTo(-Abi.EAGAIN), "a full non-blocking stream");
        Assert.That(PollOne(k, b, Abi.POLLOUT), Is.EqualTo(0), "no space");
        var big = new byte[256 * 1024];
        while (k.Read(a, big) == big.Length) { }
        Assert.That(PollOne(k, b, Abi.POLLOUT), Is.EqualTo(Abi.POLLOUT), "space again once read");

        // A pending connection makes a listener readable.
        int ls = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM);
        Assert.That(Bind(k, ls, Sun("/p.sock")), Is.EqualTo(0));
        Assert.That(Listen(k, ls, 4), Is.EqualTo(0));
        Assert.That(PollOne(k, ls, Abi.POLLIN), Is.EqualTo(0));
        int cl = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM);
        Assert.That(Connect(k, cl, Sun("/p.sock")), Is.EqualTo(0));
        Assert.That(PollOne(k, ls, Abi.POLLIN), Is.EqualTo(Abi.POLLIN), "a connection to accept");

        // The peer closes: a's reads end (POLLIN for the end of file) and it is hung up.
        Assert.That(k.Close(b), Is.EqualTo(0));
        short r = PollOne(k, a, Abi.POLLIN);
        Assert.That(r & Abi.POLLHUP, Is.EqualTo(Abi.POLLHUP), "POLLHUP after the peer closed, got " + r);
        Assert.That(r & Abi.POLLIN, Is.EqualTo(Abi.POLLIN));
    }

    [Test]
    public void APollerAsleepOnASocketWakesOnThePeersWrite()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out int b), Is.EqualTo(0));
        short got = 0;
        var t = new Thread(() => got = PollOne(k, a, Abi.POLLIN, -1)) { IsBackground = true };
        t.Start();
        WaitForSleepers(k.Kernel, 1, "the poller");
        Assert.That(k.Write(b, "x"u8), Is.EqualTo(1));
        Assert.That(t.Join(Generous), Is.True, "the poller did not wake on the write");
        Assert.That(got, Is.EqualTo(Abi.POLLIN));
    }

    [Test]
    public void NonBlockingCallsSayEagain()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(Pair(k, Abi.SOCK_STREAM | Abi.SOCK_NONBLOCK, out int a, out int b), Is.EqualTo(0));
        var buf = new byte[16];
        Assert.That(k.Read(a, buf), Is.EqualTo(-Abi.EAGAIN));
        Assert.That(k.Fcntl(a, Abi.F_GETFL) & Abi.O_NONBLOCK, Is.EqualTo(Abi.O_NONBLOCK));
        // FIONBIO turns it off and on; MSG_DONTWAIT is per call.
        int off = 0;
        Assert.That(Sys(k, SysNum.ioctl, b, unchecked((long)(ulong)Abi.FIONBIO), (long)&off), Is.EqualTo(0));
        Assert.That(k.Fcntl(b, Abi.F_GETFL) & Abi.O_NONBLOCK, Is.EqualTo(0));
        Assert.That(Recv(k, b, buf, Abi.MSG_DONTWAIT), Is.EqualTo(-Abi.EAGAIN));
        // accept on an empty non-blocking listener.
        int ls = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM | Abi.SOCK_NONBLOCK);
        Assert.That(Bind(k, ls, Sun("/nb.sock")), Is.EqualTo(0));
        Assert.That(Listen(k, ls, 1), Is.EqualTo(0));
        Assert.That(Accept(k, ls), Is.EqualTo(-Abi.EAGAIN));
        // FIONREAD counts what waits.
        Assert.That(k.Write(a, "12345"u8), Is.EqualTo(5));
        int n = -1;
        Assert.That(Sys(k, SysNum.ioctl, b, unchecked((long)(ulong)Abi.FIONREAD), (long)&n), Is.EqualTo(0));
        Assert.That(n, Is.EqualTo(5));
    }

    [Test]
    public void ABlockedReceiveIsWokenByThePeersSend()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out int b), Is.EqualTo(0));
        long got = 0;
        var buf = new byte[16];
        var t = new Thread(() => got = k.Read(a, buf)) { IsBackground = true };
        t.Start();
        WaitForSleepers(k.Kernel, 1, "the reader");
        Assert.That(k.Write(b, "wake"u8), Is.EqualTo(4));
        Assert.That(t.Join(Generous), Is.True, "the reader did not wake on the send");
        Assert.That(got, Is.EqualTo(4));
    }

    [Test]
    public void AnInterruptedReceiveEndsWithEintr()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out _), Is.EqualTo(0));
        Lwp? reader = null;
        long got = 0;
        var t = new Thread(() =>
        {
            Volatile.Write(ref reader, k.Kernel.Curlwp());
            var buf = new byte[16];
            got = k.Read(a, buf);
        }) { IsBackground = true };
        t.Start();
        WaitForSleepers(k.Kernel, 1, "the reader");
        Volatile.Read(ref reader)!.Interrupt();
        Assert.That(t.Join(Generous), Is.True, "the interrupted reader did not return");
        Assert.That(got, Is.EqualTo(-Abi.EINTR));
    }

    [Test]
    public void CloseWithDataPendingDeliversItThenEndOfFile()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out int b), Is.EqualTo(0));
        Assert.That(k.Write(a, "last words"u8), Is.EqualTo(10));
        Assert.That(k.Close(a), Is.EqualTo(0));
        var buf = new byte[64];
        Assert.That(k.Read(b, buf), Is.EqualTo(10));
        Assert.That(k.Read(b, buf), Is.EqualTo(0), "end of file after the data");
        // Writing to a closed peer: EPIPE, and with MSG_NOSIGNAL no signal.
        k.Kernel.SigModel = Abi.SIGMODEL_RECORD;
        Assert.That(Send(k, b, "x"u8, Abi.MSG_NOSIGNAL), Is.EqualTo(-Abi.EPIPE));
        Assert.That(k.Kernel.Curlwp().Proc.SigPending & (1UL << (Abi.SIGPIPE - 1)), Is.EqualTo(0UL), "MSG_NOSIGNAL raised SIGPIPE");
        Assert.That(k.Write(b, "x"u8), Is.EqualTo(-Abi.EPIPE));
        Assert.That(k.Kernel.Curlwp().Proc.SigPending & (1UL << (Abi.SIGPIPE - 1)), Is.Not.EqualTo(0UL), "write to a closed peer did not raise SIGPIPE");
        // A receiver closing with data unread frees it (nothing leaks, nothing hangs).
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int c, out int d), Is.EqualTo(0));
        Assert.That(k.Write(c, new byte[1000]), Is.EqualTo(1000));
        Assert.That(k.Close(d), Is.EqualTo(0));
        Assert.That(k.Close(c), Is.EqualTo(0));
    }

    [Test]
    public void PeekWaitallAndTimeouts()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out int b), Is.EqualTo(0));
        Assert.That(k.Write(a, "abcdef"u8), Is.EqualTo(6));
        var buf = new byte[16];
        Assert.That(Recv(k, b, buf.AsSpan(0, 3), Abi.MSG_PEEK), Is.EqualTo(3));
        Assert.That(Recv(k, b, buf, 0), Is.EqualTo(6), "MSG_PEEK left the data");
        Assert.That(Encoding.ASCII.GetString(buf, 0, 6), Is.EqualTo("abcdef"));

        // MSG_WAITALL waits for the whole request, across several sends.
        long got = 0;
        var t = new Thread(() => got = Recv(k, b, buf.AsSpan(0, 8), Abi.MSG_WAITALL)) { IsBackground = true };
        t.Start();
        Assert.That(k.Write(a, "1234"u8), Is.EqualTo(4));
        WaitForSleepers(k.Kernel, 1, "the MSG_WAITALL reader");
        Assert.That(k.Write(a, "5678"u8), Is.EqualTo(4));
        Assert.That(t.Join(Generous), Is.True, "MSG_WAITALL did not return");
        Assert.That(got, Is.EqualTo(8));

        // SO_RCVTIMEO: a receive with nothing to read gives up with EWOULDBLOCK.
        var tv = new RumpTimeval { tv_sec = 0, tv_usec = 20_000 };
        Assert.That(Sys(k, SysNum.setsockopt, b, Abi.SOL_SOCKET, Abi.SO_RCVTIMEO, (long)&tv, sizeof(RumpTimeval)), Is.EqualTo(0));
        Assert.That(k.Read(b, buf), Is.EqualTo(-Abi.EAGAIN));
        RumpTimeval back = default;
        uint blen = (uint)sizeof(RumpTimeval);
        Assert.That(Sys(k, SysNum.getsockopt, b, Abi.SOL_SOCKET, Abi.SO_RCVTIMEO, (long)&back, (long)&blen), Is.EqualTo(0));
        Assert.That(back.tv_usec, Is.EqualTo(20_000));
        int type = 0;
        uint tlen = 4;
        Assert.That(Sys(k, SysNum.getsockopt, b, Abi.SOL_SOCKET, Abi.SO_TYPE, (long)&type, (long)&tlen), Is.EqualTo(0));
        Assert.That(type, Is.EqualTo(Abi.SOCK_STREAM));
        Assert.That(SetInt(k, b, Abi.SOL_SOCKET, Abi.SO_RCVBUF, 100_000), Is.EqualTo(0));
        Assert.That(SetInt(k, b, Abi.SOL_SOCKET, 0x7777, 1), Is.EqualTo(-Abi.ENOPROTOOPT));
    }

    [Test]
    public void SixtyFourMebibytesThroughAStreamPairWithAChecksum()
    {
        RumpKernel k = Boot(ncpu: 2);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out int b), Is.EqualTo(0));
        const int Total = 64 << 20;
        var data = new byte[1 << 20];
        new Random(11).NextBytes(data);
        byte[] expected;
        using (var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            for (int i = 0; i < Total / data.Length; i++) h.AppendData(data);
            expected = h.GetHashAndReset();
        }
        string? writerError = null;
        var writer = new Thread(() =>
        {
            for (int i = 0; i < Total / data.Length; i++)
            {
                long n = k.Write(a, data);
                if (n != data.Length) { writerError = "write returned " + n; return; }
            }
            k.Close(a);
        }) { IsBackground = true };
        writer.Start();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[200_000];
        long total = 0;
        while (true)
        {
            long n = k.Read(b, buf);
            Assert.That(n, Is.GreaterThanOrEqualTo(0), "read failed");
            if (n == 0) break;
            hash.AppendData(buf, 0, (int)n);
            total += n;
        }
        Assert.That(writer.Join(Generous), Is.True);
        Assert.That(writerError, Is.Null);
        Assert.That(total, Is.EqualTo(Total));
        Assert.That(hash.GetHashAndReset(), Is.EqualTo(expected), "the bytes read differ from those written");
    }

    [Test]
    public void DatagramsToAndFromBoundNames()
    {
        RumpKernel k = Boot(ncpu: 1);
        int srv = Socket(k, Abi.AF_LOCAL, Abi.SOCK_DGRAM);
        int cli = Socket(k, Abi.AF_LOCAL, Abi.SOCK_DGRAM);
        Assert.That(Bind(k, srv, Sun("/dg.srv")), Is.EqualTo(0));
        Assert.That(Bind(k, cli, Sun("/dg.cli")), Is.EqualTo(0));
        byte[] to = Sun("/dg.srv");
        fixed (byte* t = to) fixed (byte* m = "ping"u8)
            Assert.That(Sys(k, SysNum.sendto, cli, (long)m, 4, 0, (long)t, to.Length), Is.EqualTo(4));
        var buf = new byte[16];
        var from = new byte[128];
        uint flen = (uint)from.Length;
        fixed (byte* bp = buf) fixed (byte* fp = from)
            Assert.That(Sys(k, SysNum.recvfrom, srv, (long)bp, buf.Length, 0, (long)fp, (long)&flen), Is.EqualTo(4));
        Assert.That(Encoding.ASCII.GetString(from, 2, (int)flen - 2).TrimEnd('\0'), Is.EqualTo("/dg.cli"), "the sender's name");
        // Unconnected and no address: EDESTADDRREQ; to a name nobody is bound to: ECONNREFUSED after unlink-less close.
        Assert.That(Send(k, srv, "x"u8, 0), Is.EqualTo(-Abi.EDESTADDRREQ));
    }

    [Test]
    public void SendmsgAndRecvmsgPassADescriptor()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(Pair(k, Abi.SOCK_STREAM, out int a, out int b), Is.EqualTo(0));
        Assert.That(k.Pipe(out int pr, out int pw), Is.EqualTo(0));
        byte* ctl = stackalloc byte[24];
        new Span<byte>(ctl, 24).Clear();
        *(RumpCmsghdr*)ctl = new RumpCmsghdr { cmsg_len = 20, cmsg_level = Abi.SOL_SOCKET, cmsg_type = Abi.SCM_RIGHTS };
        *(int*)(ctl + 16) = pw;
        byte* data = stackalloc byte[1] { (byte)'F' };
        var iov = new RumpIovec { iov_base = (nint)data, iov_len = 1 };
        var mh = new RumpMsghdr { msg_iov = (nint)(&iov), msg_iovlen = 1, msg_control = (nint)ctl, msg_controllen = 24 };
        Assert.That(Sys(k, SysNum.sendmsg, a, (long)&mh, 0), Is.EqualTo(1));
        Assert.That(k.Close(pw), Is.EqualTo(0), "the sender's descriptor closes; the file travels on");

        byte* rctl = stackalloc byte[64];
        byte* rdata = stackalloc byte[8];
        var riov = new RumpIovec { iov_base = (nint)rdata, iov_len = 8 };
        var rmh = new RumpMsghdr { msg_iov = (nint)(&riov), msg_iovlen = 1, msg_control = (nint)rctl, msg_controllen = 64 };
        Assert.That(Sys(k, SysNum.recvmsg, b, (long)&rmh, 0), Is.EqualTo(1));
        Assert.That(rmh.msg_controllen, Is.EqualTo(24u));
        var h = *(RumpCmsghdr*)rctl;
        Assert.That((h.cmsg_level, h.cmsg_type, h.cmsg_len), Is.EqualTo((Abi.SOL_SOCKET, Abi.SCM_RIGHTS, 20u)));
        int newfd = *(int*)(rctl + 16);
        Assert.That(k.Write(newfd, "via"u8), Is.EqualTo(3), "the received descriptor is the pipe's write end");
        var buf = new byte[8];
        Assert.That(k.Read(pr, buf), Is.EqualTo(3));
    }

    [Test]
    public void BadArgumentsGetErrors()
    {
        RumpKernel k = Boot(ncpu: 1);
        var buf = new byte[8];
        Assert.That(Recv(k, 999, buf, 0), Is.EqualTo(-Abi.EBADF));
        Assert.That(Listen(k, 77, 1), Is.EqualTo(-Abi.EBADF));
        Assert.That(k.Pipe(out int pr, out _), Is.EqualTo(0));
        Assert.That(Listen(k, pr, 1), Is.EqualTo(-Abi.ENOTSOCK));
        Assert.That(Recv(k, pr, buf, 0), Is.EqualTo(-Abi.ENOTSOCK));
        Assert.That(Socket(k, 99, Abi.SOCK_STREAM), Is.EqualTo(-Abi.EAFNOSUPPORT));
        Assert.That(Socket(k, Abi.AF_LOCAL, Abi.SOCK_RAW), Is.EqualTo(-Abi.EPROTOTYPE));
        Assert.That(Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM, 6), Is.EqualTo(-Abi.EPROTONOSUPPORT));
        Assert.That(Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM | unchecked((int)0x80000000)), Is.EqualTo(-Abi.EINVAL), "an unknown SOCK_ flag");
        int s = Socket(k, Abi.AF_LOCAL, Abi.SOCK_STREAM);
        byte[] addr = Sun("/x");
        fixed (byte* a = addr)
        {
            Assert.That(Sys(k, SysNum.bind, s, (long)a, 1), Is.EqualTo(-Abi.EINVAL), "an address shorter than its header");
            Assert.That(Sys(k, SysNum.bind, s, (long)a, 300), Is.EqualTo(-Abi.EINVAL), "an address longer than 255");
            Assert.That(Sys(k, SysNum.bind, s, 0, addr.Length), Is.EqualTo(-Abi.EFAULT));
        }
        Assert.That(Listen(k, s, 1), Is.EqualTo(-Abi.EINVAL), "listen on an unbound local socket");
        Assert.That(k.Write(s, "x"u8), Is.EqualTo(-Abi.ENOTCONN));
        Assert.That(Sys(k, SysNum.shutdown, s, 7), Is.EqualTo(-Abi.EINVAL));
        int v = 1;
        Assert.That(Sys(k, SysNum.setsockopt, s, Abi.SOL_SOCKET, Abi.SO_KEEPALIVE, (long)&v, 2), Is.EqualTo(-Abi.EINVAL), "an int option of 2 bytes");
    }
}
