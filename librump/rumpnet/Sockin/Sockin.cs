using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Rump.Kern;
using Rump.Hypercall;
using H = Rump.Hypercall.RumpUserSockin;

namespace Rump.Net.Sockin;

/// <summary>
/// sockin (NetBSD's libsockin): the kernel's AF_INET and AF_INET6 stream and datagram sockets
/// served by the host's TCP/IP stack. Each kernel socket owns one non-blocking host socket; the
/// socket layer above is unchanged (it does the sleeping, the buffers, poll), and this protocol
/// moves data between the host socket and the socket's buffers:
/// - receive: the host poller reports a readable host socket; the report enters the kernel as an
///   interrupt (<see cref="Kernel.EnterInterrupt"/>) and reads what fits in the receive buffer
///   (<see cref="SockBuf.Space"/>), then wakes the readers. A full buffer stops the reading
///   (the host socket is not re-armed) until a reader takes data (<see cref="Protosw.Rcvd"/>),
///   so the host's own window does the flow control.
/// - send: data goes straight to the host socket when the send buffer is empty; what the host
///   does not take waits in the send buffer (counted against its limit, so the socket layer's
///   senders wait for space as with any protocol) and is written when the poller reports the
///   host socket writable. That also keeps data written just before close: a socket closed with
///   data pending stays attached until the send buffer is empty.
/// - connect starts a non-blocking host connect and reports EINPROGRESS through
///   <see cref="Socket.IsConnecting"/>; the poller's "writable" completes it (or sets the error).
/// - a listener accepts host connections as the poller reports them and queues each as a child
///   (<see cref="Socket.SoNewConn"/>) that adopts the accepted host socket.
///
/// Reports from the poller arm one at a time (EPOLLONESHOT): after one, a socket is quiet until
/// <see cref="Rearm"/> asks for what it needs next (readable while there is buffer space,
/// writable while connecting or data waits). Reports are idempotent: a late or spurious one
/// finds nothing to do. Every host call here is non-blocking, so none gives up the CPU;
/// stopping the poller at halt does (it waits for the poller's thread).
///
/// Locking: one mutex per kernel, <see cref="Lock"/>, is the lock of every sockin socket (the
/// protocol's choice, <see cref="Protosw.NewLock"/>, as NetBSD's softnet_lock) and protects this
/// object's table, each <see cref="SockinPcb"/>, and the adoption slot. A report takes it once;
/// no other lock is taken under it but the network's leaves (the mbuf pool, select's spin flags).
/// </summary>
public sealed unsafe class SockinHost
{
    internal readonly Kernel Kernel;
    internal readonly Net Net;
    internal readonly KMutex Lock;
    private nint _ctx;
    private GCHandle _self;
    /// <summary>Sockets with a host socket, by the cookie the poller reports them with (never reused).</summary>
    private readonly Dictionary<ulong, Socket> _table = new();
    private ulong _nextCookie = 1;
    /// <summary>The accepted host socket the child being made by SoNewConn takes, -1 when none.</summary>
    internal int AdoptFd = -1;

    private SockinHost(Kernel k, Net net)
    {
        Kernel = k;
        Net = net;
        Lock = new KMutex(k);
    }

    /// <summary>Starts the host poller and registers the protocols of AF_INET and AF_INET6; a NetBSD errno if the host side does not start.</summary>
    public static int Start(Kernel k, Net net, out SockinHost? host)
    {
        host = null;
        var h = new SockinHost(k, net);
        h._self = GCHandle.Alloc(h);
        H.Hyperup up;
        up.Ready = &ReadyUp;
        up.Arg = GCHandle.ToIntPtr(h._self);
        nint ctx;
        int e = H.rumpsockin_init(&up, &ctx);
        if (e != 0) { h._self.Free(); return e; }
        h._ctx = ctx;
        foreach (int fam in new[] { Abi.AF_INET, Abi.AF_INET6 })
        {
            net.Domains.Register(new SockinProto(h, fam, Abi.SOCK_STREAM, IpprotoTcp));
            net.Domains.Register(new SockinProto(h, fam, Abi.SOCK_DGRAM, IpprotoUdp));
        }
        host = h;
        return 0;
    }

    internal const int IpprotoTcp = 6, IpprotoUdp = 17;

    /// <summary>Halt: stops the poller (without the CPU: it may be waiting for one to deliver a report) and closes every host socket.</summary>
    public void Stop()
    {
        if (_ctx == 0) return;
        Lwp? l = Kernel.CurlwpOrNull();
        bool had = l != null && l.CpuIdx >= 0;
        if (had) Kernel.Sched.Unschedule(l!);
        try { H.rumpsockin_fini(_ctx); }
        finally { if (had) Kernel.Sched.Schedule(l!); }
        _ctx = 0;
        Lock.Enter();
        var all = new List<Socket>(_table.Values);
        foreach (Socket so in all)
        {
            if (so.Pcb is not SockinPcb pcb) continue;
            CloseHost(pcb);
            if (pcb.Detached) { so.Pcb = null; so.SoFree(); }
        }
        Lock.Exit();
        _self.Free();
    }

    // ---- the table and arming (with Lock held) ----

    internal ulong Enter(Socket so)
    {
        ulong c = _nextCookie++;
        _table[c] = so;
        return c;
    }

    internal void CloseHost(SockinPcb pcb)
    {
        if (pcb.Fd < 0) return;
        if (_ctx != 0) H.rumpsockin_unwatch(_ctx, pcb.Fd);
        H.rumpsockin_close(pcb.Fd);
        pcb.Fd = -1;
        pcb.Armed = 0;
        _table.Remove(pcb.Cookie);
    }

    /// <summary>Arms the host socket for what the socket needs next (see the class comment).</summary>
    internal void Rearm(Socket so, SockinPcb pcb)
    {
        if (pcb.Fd < 0 || _ctx == 0) return;
        int want = 0;
        bool rcvOpen = !pcb.Eof && !pcb.Detached && !pcb.RcvBlocked && (so.State & Socket.SS_CANTRCVMORE) == 0 && so.Rcv.Space > 0;
        if (pcb.Listening)
        {
            if ((so.Options & Abi.SO_ACCEPTCONN) == 0 || so.QLen + so.Q0Len <= 3 * so.QLimit / 2) want = H.In;
        }
        else if (so.Type == Abi.SOCK_STREAM)
        {
            if ((so.State & Socket.SS_ISCONNECTING) != 0) want = H.Out;
            else
            {
                if ((so.State & Socket.SS_ISCONNECTED) != 0 && rcvOpen) want |= H.In;
                if (so.Snd.Cc > 0) want |= H.Out;
            }
        }
        else if (rcvOpen) want = H.In;
        if (want == pcb.Armed) return;
        if (H.rumpsockin_watch(_ctx, pcb.Fd, pcb.Cookie, want) == 0) pcb.Armed = want;
    }

    // ---- reports from the poller ----

    [UnmanagedCallersOnly]
    private static void ReadyUp(nint arg, ulong cookie, int events)
    {
        Kernel? k = null;
        try
        {
            var h = (SockinHost)GCHandle.FromIntPtr(arg).Target!;
            k = h.Kernel;
            if (k.IsDead) return;
            using (k.EnterInterrupt()) h.Ready(cookie, events);
        }
        catch (Exception e) { k?.RecordPanic(e, "sockin: "); }
    }

    private void Ready(ulong cookie, int events)
    {
        Lock.Enter();
        try
        {
            if (!_table.TryGetValue(cookie, out Socket? so) || so.Pcb is not SockinPcb pcb) return;
            pcb.Armed = 0;
            Handle(so, pcb, events);
            if (so.Pcb == pcb) Rearm(so, pcb);
        }
        finally { Lock.Exit(); }
    }

    private void Handle(Socket so, SockinPcb pcb, int events)
    {
        if (pcb.Listening)
        {
            AcceptAll(so, pcb);
            return;
        }
        if ((so.State & Socket.SS_ISCONNECTING) != 0 && so.Type == Abi.SOCK_STREAM)
        {
            int err = 0;
            int e = H.rumpsockin_soerror(pcb.Fd, &err);
            if (e != 0) err = e;
            if (err != 0)
            {
                so.SetError(err);
                so.IsDisconnected();
                return;
            }
            if ((events & H.Out) == 0) return;
            so.IsConnected();
        }
        if ((events & H.In) != 0)
        {
            if (so.Type == Abi.SOCK_STREAM) StreamInput(so, pcb);
            else DgramInput(so, pcb);
        }
        if ((events & H.Out) != 0 && so.Type == Abi.SOCK_STREAM) StreamOutput(so, pcb);
    }

    /// <summary>Queues the host's waiting connections on the listener, each as a connected child that adopts its host socket.</summary>
    private void AcceptAll(Socket so, SockinPcb pcb)
    {
        while ((so.Options & Abi.SO_ACCEPTCONN) != 0 && so.QLen + so.Q0Len <= 3 * so.QLimit / 2)
        {
            int nfd;
            int e = H.rumpsockin_accept(pcb.Fd, &nfd, null, null);
            if (e == Abi.ECONNABORTED) continue;
            if (e != 0) return;
            AdoptFd = nfd;
            Socket? child = so.SoNewConn(connected: true);
            if (AdoptFd >= 0) { H.rumpsockin_close(AdoptFd); AdoptFd = -1; }
            if (child?.Pcb is not SockinPcb cp) return;
            cp.Listener = so;
            Rearm(child, cp);
        }
    }

    /// <summary>Reads what the receive buffer has room for; end of file and errors become the socket's state.</summary>
    private void StreamInput(Socket so, SockinPcb pcb)
    {
        bool moved = false;
        while (!pcb.Eof && (so.State & Socket.SS_CANTRCVMORE) == 0 && pcb.Fd >= 0)
        {
            int space = so.Rcv.Space;
            if (space <= 0) break;
            int n = Math.Min(space, MbufPool.LargeSize - Mbuf.Headroom);
            Mbuf? m = Net.Mbufs.Get(n, 0);
            if (m == null) break;
            nuint got;
            int e;
            Span<byte> dst = m.Append(n);
            fixed (byte* p = dst) e = H.rumpsockin_recv(pcb.Fd, p, (nuint)n, null, null, &got);
            if (e != 0)
            {
                m.Free();
                if (e == Abi.EAGAIN) break;
                pcb.Eof = true;
                so.SetError(e);
                so.IsDisconnected();
                break;
            }
            if (got == 0)
            {
                m.Free();
                pcb.Eof = true;
                so.CantRcvMore();
                break;
            }
            m.TrimTo((int)got);
            so.Rcv.Append(m);
            moved = true;
            if ((int)got < n) break;
        }
        if (moved) so.SoRWakeup();
    }

    /// <summary>Receives the waiting datagrams that fit, each a record with its sender's address; one larger than the whole buffer is dropped and counted.</summary>
    private void DgramInput(Socket so, SockinPcb pcb)
    {
        bool moved = false;
        Span<byte> from = stackalloc byte[28];
        while ((so.State & Socket.SS_CANTRCVMORE) == 0 && pcb.Fd >= 0)
        {
            nuint len;
            int e = H.rumpsockin_nextlen(pcb.Fd, &len);
            if (e == Abi.EAGAIN) break;
            if (e != 0)
            {
                // An ICMP error on a connected socket (ECONNREFUSED): reported once, as NetBSD's udp.
                so.SetError(e);
                break;
            }
            int addrLen = AddrLen(pcb.Family);
            bool fits = (long)len + addrLen <= so.Rcv.Space;
            if (!fits && !so.Rcv.IsEmpty)
            {
                // Wait for the reader (Rcvd re-arms): armed now, the waiting datagram would report at once, again and again.
                pcb.RcvBlocked = true;
                break;
            }
            Mbuf? m = len > 0 && fits ? Net.Mbufs.Get((int)len, 0) : null;
            byte scratch;
            nuint flen = (nuint)from.Length, got;
            fixed (byte* f = from)
            {
                if (m != null)
                    fixed (byte* p = m.Append((int)len)) e = H.rumpsockin_recv(pcb.Fd, p, len, f, &flen, &got);
                else
                    e = H.rumpsockin_recv(pcb.Fd, &scratch, len == 0 ? 0 : (nuint)1, f, &flen, &got);
            }
            if (e != 0) { m?.Free(); if (e == Abi.EAGAIN) break; so.SetError(e); break; }
            if (!fits || (len > 0 && m == null)) { so.Overflowed++; continue; }
            if (!so.Rcv.AppendAddr(from.Slice(0, (int)Math.Min(flen, (nuint)from.Length)), m, null))
            {
                m?.Free();
                so.Overflowed++;
                continue;
            }
            moved = true;
        }
        if (moved) so.SoRWakeup();
    }

    /// <summary>Writes the send buffer to the host socket as far as it takes it; finishes a shutdown or a close waiting for it to empty.</summary>
    internal void StreamOutput(Socket so, SockinPcb pcb)
    {
        bool dropped = false;
        while (so.Snd.Cc > 0 && pcb.Fd >= 0)
        {
            Mbuf? m = so.Snd.HeadData;
            if (m == null || m.Length == 0) { so.Snd.Drop(0); continue; }
            nuint sent;
            int e;
            fixed (byte* p = m.Bytes) e = H.rumpsockin_send(pcb.Fd, p, (nuint)m.Length, null, 0, &sent);
            if (e == Abi.EAGAIN) break;
            if (e != 0)
            {
                so.Snd.Flush(null);
                dropped = true;
                so.SetError(e);
                so.IsDisconnected();
                break;
            }
            int len = m.Length;
            so.Snd.Drop((int)sent);
            dropped = true;
            if ((int)sent < len) break;
        }
        if (dropped) so.SoWWakeup();
        if (so.Snd.Cc != 0 || pcb.Fd < 0) return;
        if (pcb.ShutWrPending)
        {
            pcb.ShutWrPending = false;
            H.rumpsockin_shutdown(pcb.Fd, Abi.SHUT_WR);
            if ((so.State & Socket.SS_ISDISCONNECTING) != 0) so.IsDisconnected();
        }
        if (pcb.Detached)
        {
            CloseHost(pcb);
            so.Pcb = null;
            so.SoFree();
        }
    }

    internal static int AddrLen(int family) => family == Abi.AF_INET ? 16 : 28;
}

/// <summary>A sockin socket's control block: its host socket and what the poller is armed for. Under <see cref="SockinHost.Lock"/>.</summary>
internal sealed class SockinPcb
{
    public int Fd = -1;
    public ulong Cookie;
    public int Family;
    /// <summary>RumpUserSockin.In/Out the host socket is armed for (0: quiet).</summary>
    public int Armed;
    public bool Listening;
    /// <summary>The host reported end of file (or an error) on receive.</summary>
    public bool Eof;
    /// <summary>The next datagram does not fit until the reader takes some: not armed for input until then.</summary>
    public bool RcvBlocked;
    /// <summary>A shutdown waits for the send buffer to empty.</summary>
    public bool ShutWrPending;
    /// <summary>Closed by its descriptor, attached until the send buffer is written out.</summary>
    public bool Detached;
    /// <summary>The listener an accepted child came from (re-armed when the child is accepted: its queue has room again).</summary>
    public Socket? Listener;
}

/// <summary>One of sockin's four protocols (AF_INET/AF_INET6 × stream/datagram): the <see cref="Protosw"/> contract over the host socket.</summary>
internal sealed unsafe class SockinProto : Protosw
{
    private readonly SockinHost _h;
    private readonly int _family, _type, _proto;

    public SockinProto(SockinHost h, int family, int type, int proto)
    {
        _h = h;
        _family = family;
        _type = type;
        _proto = proto;
    }

    public override int Family => _family;
    public override int Type => _type;
    public override int Protocol => _proto;
    public override int Flags => _type == Abi.SOCK_STREAM
        ? PR_CONNREQUIRED | PR_WANTRCVD | PR_LISTEN
        : PR_ATOMIC | PR_ADDR | PR_WANTRCVD;

    public override KMutex NewLock(Kernel k) => _h.Lock;

    /// <summary>The buffers: a stream's hold what the host's loopback moves at once; a datagram socket sends up to the largest UDP payload.</summary>
    private const int StreamBuf = 128 * 1024, DgramSnd = 65536, DgramRcv = 128 * 1024;

    public override int Attach(Socket so, int proto)
    {
        int fd = _h.AdoptFd;
        if (fd >= 0) _h.AdoptFd = -1;
        else
        {
            int e = RumpUserSockin.rumpsockin_socket(_family, _type, proto, &fd);
            if (e != 0) return e;
        }
        bool stream = _type == Abi.SOCK_STREAM;
        // A listener's child already has the listener's sizes.
        if (so.Snd.Hiwat == 0) so.Snd.Reserve(stream ? StreamBuf : DgramSnd);
        if (so.Rcv.Hiwat == 0) so.Rcv.Reserve(stream ? StreamBuf : DgramRcv);
        // NetBSD soreserve's low-water marks: a sender waits for a cluster's worth of room (with 0
        // the socket layer would retry a full buffer without sleeping), a reader for one byte.
        if (so.Snd.Lowat == 0) so.Snd.Lowat = 2048;
        if (so.Rcv.Lowat == 0) so.Rcv.Lowat = 1;
        var pcb = new SockinPcb { Fd = fd, Family = _family };
        pcb.Cookie = _h.Enter(so);
        so.Pcb = pcb;
        return 0;
    }

    private static SockinPcb? Pcb(Socket so) => so.Pcb as SockinPcb;

    public override void Detach(Socket so)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb == null) return;
        if (_type == Abi.SOCK_STREAM && so.Snd.Cc > 0 && pcb.Fd >= 0 && so.Error == 0)
        {
            // Data written just before close still goes out: stay attached until it has.
            pcb.Detached = true;
            _h.Rearm(so, pcb);
            return;
        }
        _h.CloseHost(pcb);
        so.Pcb = null;
    }

    /// <summary>NetBSD in_pcbbind/in_pcbconnect's checks: the socket's family (EAFNOSUPPORT) and exactly its sockaddr's size (EINVAL).</summary>
    private int CheckAddr(ReadOnlySpan<byte> nam)
    {
        if (nam.Length < 2) return Abi.EINVAL;
        if (nam[1] != _family) return Abi.EAFNOSUPPORT;
        return nam.Length != SockinHost.AddrLen(_family) ? Abi.EINVAL : 0;
    }

    public override int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb == null || pcb.Fd < 0) return Abi.EINVAL;
        int e = CheckAddr(nam);
        if (e != 0) return e;
        fixed (byte* p = nam) e = RumpUserSockin.rumpsockin_bind(pcb.Fd, p, (nuint)nam.Length);
        if (e == 0) _h.Rearm(so, pcb);
        return e;
    }

    public override int Listen(Socket so, Lwp l)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb == null || pcb.Fd < 0) return Abi.EINVAL;
        int e = RumpUserSockin.rumpsockin_listen(pcb.Fd, Abi.SOMAXCONN);
        if (e != 0) return e;
        pcb.Listening = true;
        _h.Rearm(so, pcb);
        return 0;
    }

    public override int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb == null || pcb.Fd < 0) return Abi.EINVAL;
        if (pcb.Listening) return Abi.EOPNOTSUPP;
        int e = CheckAddr(nam);
        if (e != 0) return e;
        fixed (byte* p = nam) e = RumpUserSockin.rumpsockin_connect(pcb.Fd, p, (nuint)nam.Length);
        if (e == Abi.EINPROGRESS && _type == Abi.SOCK_STREAM) so.IsConnecting();
        else if (e == 0) so.IsConnected();
        else return e;
        _h.Rearm(so, pcb);
        return 0;
    }

    public override int Disconnect(Socket so)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb == null || pcb.Fd < 0) return Abi.ENOTCONN;
        if (_type != Abi.SOCK_STREAM)
        {
            int e = RumpUserSockin.rumpsockin_disconnect(pcb.Fd);
            if (e == 0) so.State &= ~Socket.SS_ISCONNECTED;
            return e;
        }
        // Queued data goes first, then the FIN (NetBSD tcp_disconnect's graceful close).
        so.IsDisconnecting();
        if (so.Snd.Cc == 0)
        {
            RumpUserSockin.rumpsockin_shutdown(pcb.Fd, Abi.SHUT_WR);
            so.IsDisconnected();
        }
        else
        {
            pcb.ShutWrPending = true;
            _h.Rearm(so, pcb);
        }
        return 0;
    }

    public override int Shutdown(Socket so)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb == null || pcb.Fd < 0) return 0;
        if (_type == Abi.SOCK_STREAM && so.Snd.Cc > 0) { pcb.ShutWrPending = true; _h.Rearm(so, pcb); return 0; }
        int e = RumpUserSockin.rumpsockin_shutdown(pcb.Fd, Abi.SHUT_WR);
        // An unconnected datagram socket has nothing to shut on the host (Linux says ENOTCONN).
        return e == Abi.ENOTCONN && _type != Abi.SOCK_STREAM ? 0 : e;
    }

    public override int Abort(Socket so)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb != null) _h.CloseHost(pcb);
        so.Pcb = null;
        return 0;
    }

    public override int Accept(Socket so, Span<byte> nam, out int len)
    {
        len = 0;
        SockinPcb? pcb = Pcb(so);
        if (pcb == null || pcb.Fd < 0) return Abi.ECONNABORTED;
        Socket? lis = pcb.Listener;
        pcb.Listener = null;
        if (lis?.Pcb is SockinPcb lp) _h.Rearm(lis, lp);
        return Name(pcb, 1, nam, out len);
    }

    private static int Name(SockinPcb pcb, int peer, Span<byte> nam, out int len)
    {
        len = 0;
        if (pcb.Fd < 0) return Abi.EINVAL;
        nuint n = (nuint)nam.Length;
        int e;
        fixed (byte* p = nam) e = RumpUserSockin.rumpsockin_getname(pcb.Fd, peer, p, &n);
        if (e == 0) len = (int)Math.Min(n, (nuint)nam.Length);
        return e;
    }

    public override int PeerAddr(Socket so, Span<byte> nam, out int len)
    {
        len = 0;
        SockinPcb? pcb = Pcb(so);
        return pcb == null ? Abi.EINVAL : Name(pcb, 1, nam, out len);
    }

    public override int SockAddr(Socket so, Span<byte> nam, out int len)
    {
        len = 0;
        SockinPcb? pcb = Pcb(so);
        return pcb == null ? Abi.EINVAL : Name(pcb, 0, nam, out len);
    }

    public override int Rcvd(Socket so, int flags, Lwp l)
    {
        if (Pcb(so) is SockinPcb pcb)
        {
            pcb.RcvBlocked = false;
            _h.Rearm(so, pcb);
        }
        return 0;
    }

    public override int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb == null || pcb.Fd < 0) { m?.Free(); return Abi.ENOTCONN; }
        // No control messages reach the host (NetBSD's sockin passes none either).
        if (control != null) { m?.Free(); return Abi.EOPNOTSUPP; }
        int e;
        nuint sent = 0;
        if (_type != Abi.SOCK_STREAM)
        {
            if (!nam.IsEmpty && (e = CheckAddr(nam)) != 0) { m?.Free(); return e; }
            byte none = 0;
            fixed (byte* a = nam)
            {
                if (m != null)
                    fixed (byte* p = m.Bytes) e = RumpUserSockin.rumpsockin_send(pcb.Fd, p, (nuint)m.Length, nam.IsEmpty ? null : a, (nuint)nam.Length, &sent);
                else
                    e = RumpUserSockin.rumpsockin_send(pcb.Fd, &none, 0, nam.IsEmpty ? null : a, (nuint)nam.Length, &sent);
            }
            m?.Free();
            // The host's queue is full: NetBSD's answer when an interface queue is.
            if (e == Abi.EAGAIN) return Abi.ENOBUFS;
            if (e == 0) _h.Rearm(so, pcb);     // a first send bound the socket: its replies can come now
            return e;
        }
        if (m == null) return 0;
        if (so.Snd.Cc == 0)
        {
            fixed (byte* p = m.Bytes) e = RumpUserSockin.rumpsockin_send(pcb.Fd, p, (nuint)m.Length, null, 0, &sent);
            if (e == Abi.EAGAIN) { e = 0; sent = 0; }
            if (e != 0)
            {
                m.Free();
                if (e == Abi.EPIPE) so.CantSendMore();
                return e;
            }
            if ((int)sent == m.Length) { m.Free(); return 0; }
            m.TrimFront((int)sent);
        }
        so.Snd.Append(m);
        _h.StreamOutput(so, pcb);
        _h.Rearm(so, pcb);
        return 0;
    }

    public override int Ctloutput(Socket so, bool set, int level, int name, Span<byte> val, ref int len)
    {
        SockinPcb? pcb = Pcb(so);
        if (pcb == null || pcb.Fd < 0) return Abi.EINVAL;
        int e;
        fixed (byte* p = val)
        {
            if (set) return RumpUserSockin.rumpsockin_setopt(pcb.Fd, level, name, p, (nuint)Math.Min(len, val.Length));
            nuint n = (nuint)val.Length;
            e = RumpUserSockin.rumpsockin_getopt(pcb.Fd, level, name, p, &n);
            len = e == 0 ? (int)n : 0;
        }
        return e;
    }
}

/// <summary>
/// The sockin component: with the boot parameter RUMP_SOCKIN set (to anything but 0), the
/// kernel's AF_INET and AF_INET6 sockets are the host's (see <see cref="SockinHost"/>). It
/// registers once every component has initialised, so it takes the place of the kernel's own
/// TCP/IP protocols for the same (family, type, protocol) when both are linked. Without
/// RUMP_SOCKIN nothing is loaded.
/// </summary>
public sealed class SockinComponent : IComponent
{
    private static readonly string[] s_requires = { "net" };
    public string Name => "sockin";
    public string[] Requires => s_requires;

    public void Init(Kernel k)
    {
        string? p = Param.Get("RUMP_SOCKIN");
        if (string.IsNullOrEmpty(p) || p == "0") return;
        Net net = k.GetService<Net>() ?? throw new InvalidOperationException("sockin needs the net component");
        k.OnBooted(_ =>
        {
            if (!RumpUserSockin.Available())
            {
                k.Aprint("sockin: RUMP_SOCKIN is set but librumpuser_sockin.so cannot be loaded\n");
                return;
            }
            int e = SockinHost.Start(k, net, out SockinHost? h);
            if (e != 0) { k.Aprint("sockin: the host poller does not start (error " + e + ")\n"); return; }
            k.SetService(h!);
        });
    }

    public void Shutdown(Kernel k, bool sync) => k.GetService<SockinHost>()?.Stop();
}
