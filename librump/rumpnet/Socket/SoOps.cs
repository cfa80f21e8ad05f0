using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// The socket layer's operations (NetBSD uipc_socket.c: socreate, sobind, solisten, soconnect,
/// sosend, soreceive, soshutdown, soclose, sosetopt/sogetopt, sopoll). Each takes
/// <see cref="Lock"/> itself; the sleeping for connections, space and data happens here, on the
/// socket's condition variables, interruptibly (EINTR) and bounded by SO_RCVTIMEO/SO_SNDTIMEO
/// (EWOULDBLOCK). A sender copies the caller's data into packet buffers with the lock dropped,
/// holding the send buffer (<see cref="SockBuf.SbLock"/>) so that senders never interleave; a
/// receiver copies out with the lock held.
/// </summary>
public sealed partial class Socket
{
    /// <summary>Largest piece a stream send hands the protocol at once (one large packet buffer).</summary>
    private const int MaxChunk = 65536;

    /// <summary>
    /// NetBSD socreate: a socket of (<paramref name="family"/>, <paramref name="type"/>,
    /// <paramref name="proto"/>) attached to its protocol; <paramref name="partner"/> (socketpair)
    /// gives it the partner's lock.
    /// </summary>
    public static int Create(Lwp l, Net net, int family, int type, int proto, Socket? partner, out Socket? so)
    {
        so = null;
        int e = net.Domains.Find(family, type, proto, out Protosw? p);
        if (e != 0) return e;
        var s = new Socket(l.Kernel, net, p!, type, l.Cred, l.Proc.Pid);
        s.SetLock(partner?.Lock ?? p!.NewLock(l.Kernel));
        s.Lock.Enter();
        e = p!.Attach(s, proto);
        s.Lock.Exit();
        if (e != 0) return e;
        so = s;
        return 0;
    }

    /// <summary>
    /// NetBSD soclose: the descriptor's last reference is gone. A listener aborts the connections
    /// still queued; a connected socket disconnects (and with SO_LINGER waits up to its linger
    /// time for the protocol to finish); then the protocol detaches.
    /// </summary>
    public int Close(Lwp l)
    {
        int e = 0;
        Lock.Enter();
        if ((Options & Abi.SO_ACCEPTCONN) != 0)
        {
            List<Socket>? kids = DrainQueues();
            if (kids != null)
                foreach (Socket c in kids)
                {
                    Proto.Abort(c);
                    c.SoFree();
                }
        }
        if (Pcb != null && (State & SS_ISCONNECTED) != 0)
        {
            if ((State & SS_ISDISCONNECTING) == 0) e = Proto.Disconnect(this);
            if (e == 0 && (Options & Abi.SO_LINGER) != 0 && Linger > 0)
            {
                long deadline = Clock.MonotonicNs() + Linger * 1_000_000_000L;
                while ((State & SS_ISCONNECTED) != 0)
                {
                    long left = deadline - Clock.MonotonicNs();
                    if (left <= 0) break;
                    if (Cv.TimedWaitSig(Lock, left) == Abi.EINTR) break;
                }
            }
        }
        if (Pcb != null) Proto.Detach(this);
        State |= SS_NOFDREF;
        SoFree();
        Lock.Exit();
        return e;
    }

    public int Bind(Lwp l, ReadOnlySpan<byte> nam)
    {
        Lock.Enter();
        int e = Proto.Bind(this, nam, l);
        Lock.Exit();
        return e;
    }

    /// <summary>NetBSD solisten: EINVAL once connected or connecting; the backlog is clamped to [0, SOMAXCONN].</summary>
    public int Listen(Lwp l, int backlog)
    {
        Lock.Enter();
        try
        {
            if ((State & (SS_ISCONNECTED | SS_ISCONNECTING | SS_ISDISCONNECTING)) != 0) return Abi.EINVAL;
            if ((Proto.Flags & Protosw.PR_LISTEN) == 0) return Abi.EOPNOTSUPP;
            int e = Proto.Listen(this, l);
            if (e != 0) return e;
            Options |= Abi.SO_ACCEPTCONN;
            QLimit = Math.Clamp(backlog, 0, Abi.SOMAXCONN);
            return 0;
        }
        finally { Lock.Exit(); }
    }

    /// <summary>
    /// NetBSD do_sys_accept's middle: waits for a ready connection (EWOULDBLOCK if
    /// <paramref name="nbio"/>), takes it off the queue and asks the protocol for the peer's
    /// address. On success the caller owns <paramref name="child"/> (it closes it on a later failure).
    /// </summary>
    public int Accept(Lwp l, bool nbio, Span<byte> nam, out int namLen, out Socket? child)
    {
        child = null;
        namLen = 0;
        Lock.Enter();
        try
        {
            if ((Proto.Flags & Protosw.PR_LISTEN) == 0) return Abi.EOPNOTSUPP;
            if ((Options & Abi.SO_ACCEPTCONN) == 0) return Abi.EINVAL;
            if (nbio && QLen == 0) return Abi.EWOULDBLOCK;
            while (QLen == 0 && Error == 0)
            {
                if ((State & SS_CANTRCVMORE) != 0) { Error = Abi.ECONNABORTED; break; }
                int w = Cv.WaitSig(Lock);
                if (w != 0) return w;
            }
            if (Error != 0)
            {
                int err = Error;
                Error = 0;
                return err;
            }
            Socket so = DequeueReady()!;
            so.State &= ~SS_NOFDREF;
            so.Cred = Cred;
            int e = (so.State & SS_ISDISCONNECTED) == 0 ? Proto.Accept(so, nam, out namLen) : Abi.ECONNABORTED;
            child = so;
            return e;
        }
        finally { Lock.Exit(); }
    }

    /// <summary>
    /// NetBSD do_sys_connect: starts the connection and, unless <paramref name="nbio"/>
    /// (EINPROGRESS), waits for it to complete or fail. An interrupted wait returns EINTR and
    /// leaves the connection going, as NetBSD's.
    /// </summary>
    public int Connect(Lwp l, ReadOnlySpan<byte> nam, bool nbio)
    {
        Lock.Enter();
        try
        {
            if ((Options & Abi.SO_ACCEPTCONN) != 0) return Abi.EOPNOTSUPP;
            if ((State & SS_ISCONNECTING) != 0) return Abi.EALREADY;
            // NetBSD soconnect: a connected stream cannot reconnect; a datagram socket may (disconnect first).
            if ((State & SS_ISCONNECTED) != 0 &&
                ((Proto.Flags & Protosw.PR_CONNREQUIRED) != 0 || Proto.Disconnect(this) != 0))
                return Abi.EISCONN;
            int e = Proto.Connect(this, nam, l);
            if (e != 0) return e;
            if (nbio && (State & SS_ISCONNECTING) != 0) return Abi.EINPROGRESS;
            while ((State & SS_ISCONNECTING) != 0 && Error == 0)
            {
                e = Cv.WaitSig(Lock);
                if (e != 0) return e;
            }
            e = Error;
            Error = 0;
            if (e != 0) State &= ~SS_ISCONNECTING;
            return e;
        }
        finally { Lock.Exit(); }
    }

    /// <summary>NetBSD soconnect2 (socketpair): the two share one lock (the second was made with the first as partner).</summary>
    public static int Connect2(Socket a, Socket b)
    {
        if (a.Lock != b.Lock) Kernel.Panic("soconnect2 of sockets with different locks");
        a.Lock.Enter();
        int e = a.Proto.Connect2(a, b);
        a.Lock.Exit();
        return e;
    }

    /// <summary>NetBSD soshutdown: SHUT_RD empties the receive buffer and reads see end of file; SHUT_WR tells the protocol.</summary>
    public int Shutdown(Lwp l, int how)
    {
        if (how != Abi.SHUT_RD && how != Abi.SHUT_WR && how != Abi.SHUT_RDWR) return Abi.EINVAL;
        int e = 0;
        Lock.Enter();
        if (how != Abi.SHUT_WR)
        {
            CantRcvMore();
            Rcv.Flush(l);
        }
        if (how != Abi.SHUT_RD)
        {
            CantSendMore();
            e = Proto.Shutdown(this);
        }
        Lock.Exit();
        return e;
    }

    /// <summary>
    /// NetBSD sosend: sends the caller's data (<paramref name="uio"/>) to <paramref name="to"/>
    /// (empty: the connected peer), with <paramref name="control"/> (consumed in every case). A
    /// PR_ATOMIC protocol gets the whole message in one piece (EMSGSIZE past the send buffer's
    /// size) and only when it fits; a stream is sent as space allows, waiting for more space
    /// unless <paramref name="nbio"/> or MSG_DONTWAIT (then EWOULDBLOCK, or the part sent).
    /// EPIPE once the send side is shut: the caller raises SIGPIPE.
    /// </summary>
    public int Send(Lwp l, ReadOnlySpan<byte> to, ref Uio uio, Control? control, int flags, bool nbio)
    {
        bool atomic = (Proto.Flags & Protosw.PR_ATOMIC) != 0;
        bool dontwait = nbio || (flags & (Abi.MSG_DONTWAIT | Abi.MSG_NBIO)) != 0;
        int clen = control != null ? control.Bytes.Length + (control.Rights?.Length ?? 0) * 4 : 0;
        if (uio.Resid < 0) { control?.Dispose(l); return Abi.EINVAL; }
        if ((flags & Abi.MSG_OOB) != 0) { control?.Dispose(l); return Abi.EOPNOTSUPP; }
        if (Proto is IStreamProtocol sp && control == null) return sp.StreamSend(this, l, ref uio, flags, nbio);
        Lock.Enter();
        int e = Snd.SbLock(!dontwait);
        bool sbHeld = e == 0;
        try
        {
            if (e != 0) return e;
            while (true)
            {
                if ((State & SS_CANTSENDMORE) != 0) return Abi.EPIPE;
                if (Error != 0)
                {
                    e = Error;
                    Error = 0;
                    return e;
                }
                if ((State & SS_ISCONNECTED) == 0)
                {
                    if ((Proto.Flags & Protosw.PR_CONNREQUIRED) != 0)
                    {
                        if (uio.Resid > 0 || clen == 0) return Abi.ENOTCONN;
                    }
                    else if (to.IsEmpty) return Abi.EDESTADDRREQ;
                }
                long space = Snd.Space;
                if ((atomic && (uio.Resid > Snd.Hiwat || uio.Resid > MaxChunk)) || clen > Snd.Hiwat) return Abi.EMSGSIZE;
                if (space < uio.Resid + clen && (atomic || space < Snd.Lowat || space < clen))
                {
                    if (dontwait) return Abi.EWOULDBLOCK;
                    // Other senders may go while this one sleeps (NetBSD drops sblock here too).
                    Snd.SbUnlock();
                    sbHeld = false;
                    if ((e = Snd.Wait()) != 0) return e;
                    if ((e = Snd.SbLock(true)) != 0) return e;
                    sbHeld = true;
                    continue;
                }
                space -= clen;
                do
                {
                    int len = atomic ? (int)uio.Resid : (int)Math.Min(Math.Min(Math.Max(space, 0), uio.Resid), MaxChunk);
                    Mbuf? m = null;
                    if (len > 0)
                    {
                        m = Net.Mbufs.Get(len, atomic ? Mbuf.Headroom : 0);
                        if (m == null) return Abi.ENOBUFS;
                        // The copy may fault or (a remote client) wait for the network: not under the lock.
                        Lock.Exit();
                        e = uio.Move(m.Append(len));
                        Lock.Enter();
                        if (e != 0) { m.Free(); return e; }
                        if ((State & SS_CANTSENDMORE) != 0) { m.Free(); return Abi.EPIPE; }
                    }
                    else if (!atomic && control == null) break;
                    space -= len;
                    e = Proto.Send(this, m, to, control, l);
                    control = null;
                    clen = 0;
                    if (e != 0) return e;
                } while (uio.Resid > 0 && space > 0 && !atomic);
                if (uio.Resid == 0) return 0;
            }
        }
        finally
        {
            if (sbHeld) Snd.SbUnlock();
            Lock.Exit();
            control?.Dispose(l);
        }
    }

    /// <summary>
    /// NetBSD soreceive: copies received data to <paramref name="uio"/>. A record (datagram,
    /// seqpacket) is returned whole or truncated (MSG_TRUNC in <paramref name="flags"/>), with
    /// the sender's address in <paramref name="from"/> (PR_ADDR) and its control; a stream
    /// returns what is there, at least the low-water mark, all of it with MSG_WAITALL, up to the
    /// next control boundary. MSG_PEEK leaves the data queued. End of file: 0 bytes and 0.
    /// </summary>
    public int Receive(Lwp l, ref Uio uio, Span<byte> from, out int fromLen, out Control? control, ref int flags, bool nbio)
    {
        fromLen = 0;
        control = null;
        int inFlags = flags;
        flags = 0;
        if ((inFlags & Abi.MSG_OOB) != 0) return Abi.EOPNOTSUPP;
        if (Proto is IStreamProtocol sp) { flags = inFlags; return sp.StreamReceive(this, l, ref uio, ref flags, nbio); }
        bool peek = (inFlags & Abi.MSG_PEEK) != 0;
        bool dontwait = nbio || (inFlags & (Abi.MSG_DONTWAIT | Abi.MSG_NBIO)) != 0;
        bool atomic = (Proto.Flags & Protosw.PR_ATOMIC) != 0;
        Lock.Enter();
        try
        {
            while (true)
            {
                // Enough to return now? (NetBSD soreceive's "block" condition, negated.)
                bool have = !Rcv.IsEmpty;
                if (have && (atomic || Rcv.HeadIsRecord || Rcv.HeadControl != null || dontwait
                    || Rcv.Cc >= Math.Min(uio.Resid, Math.Max(Rcv.Lowat, 1))))
                    break;
                if (Error != 0)
                {
                    if (have) break;
                    int err = Error;
                    if (!peek) Error = 0;
                    return err;
                }
                if ((State & SS_CANTRCVMORE) != 0)
                {
                    if (have) break;
                    return 0;
                }
                if ((State & (SS_ISCONNECTED | SS_ISCONNECTING)) == 0 && (Proto.Flags & Protosw.PR_CONNREQUIRED) != 0)
                    return Abi.ENOTCONN;
                if (uio.Resid == 0) return 0;
                if (dontwait) return Abi.EWOULDBLOCK;
                int w = Rcv.Wait();
                if (w != 0) return w;
            }

            if (Rcv.HeadIsRecord)
            {
                Mbuf? a = Rcv.HeadAddr;
                if (a != null && (Proto.Flags & Protosw.PR_ADDR) != 0)
                {
                    fromLen = a.Length;
                    a.Bytes.Slice(0, Math.Min(a.Length, from.Length)).CopyTo(from);
                }
                if (!peek) control = Rcv.TakeHeadControl();
                Mbuf? m = Rcv.HeadData;
                if (m != null)
                {
                    int n = (int)Math.Min(m.Length, uio.Resid);
                    int e = uio.Move((ReadOnlySpan<byte>)m.Bytes.Slice(0, n));
                    if (e != 0) return e;
                    if (n < m.Length) flags |= Abi.MSG_TRUNC;
                }
                if (!peek)
                {
                    Rcv.DropRecord(l);
                    if ((Proto.Flags & Protosw.PR_WANTRCVD) != 0 && Pcb != null) Proto.Rcvd(this, inFlags, l);
                }
                return 0;
            }

            if (!peek && Rcv.HeadControl != null) control = Rcv.TakeHeadControl();
            while (true)
            {
                int e = Rcv.CopyOutStream(ref uio, Rcv.StreamBytesToBoundary(), peek, out int moved);
                if (e != 0) return e;
                if (!peek && moved > 0 && (Proto.Flags & Protosw.PR_WANTRCVD) != 0 && Pcb != null) Proto.Rcvd(this, inFlags, l);
                // MSG_WAITALL: keep waiting for the rest while the connection can still deliver it.
                if ((inFlags & Abi.MSG_WAITALL) == 0 || peek || uio.Resid == 0 || dontwait || Rcv.HeadControl != null) return 0;
                while (Rcv.IsEmpty)
                {
                    if (Error != 0 || (State & SS_CANTRCVMORE) != 0) return 0;
                    int w = Rcv.Wait();
                    // Interrupted or timed out: the caller reports the bytes moved so far, if any.
                    if (w != 0) return w;
                }
            }
        }
        finally { Lock.Exit(); }
    }

    /// <summary>NetBSD sopoll: what of <paramref name="events"/> holds; records the caller on the buffers that are not ready.</summary>
    public int Poll(Lwp l, int events)
    {
        if (Proto is IStreamProtocol sp) return sp.StreamPoll(this, l, events);
        int r = 0;
        Lock.Enter();
        bool atomic = (Proto.Flags & Protosw.PR_ATOMIC) != 0;
        bool readable = Rcv.Cc >= Math.Max(Rcv.Lowat, 1) || (atomic && !Rcv.IsEmpty) || (!Rcv.IsEmpty && Rcv.HeadControl != null)
            || (State & SS_CANTRCVMORE) != 0 || QLen > 0 || Error != 0;
        bool writable = (Snd.Space >= Math.Max(Snd.Lowat, 1) && ((State & SS_ISCONNECTED) != 0 || (Proto.Flags & Protosw.PR_CONNREQUIRED) == 0))
            || (State & SS_CANTSENDMORE) != 0 || Error != 0;
        if (readable) r |= events & (Abi.POLLIN | Abi.POLLRDNORM);
        if (writable) r |= events & (Abi.POLLOUT | Abi.POLLWRNORM);
        // Both directions shut (the peer closed): hang-up, as Linux and the brief's pollers expect.
        if ((State & (SS_CANTRCVMORE | SS_CANTSENDMORE)) == (SS_CANTRCVMORE | SS_CANTSENDMORE) && (Options & Abi.SO_ACCEPTCONN) == 0)
            r |= Abi.POLLHUP;
        if (r == 0)
        {
            if ((events & (Abi.POLLIN | Abi.POLLRDNORM | Abi.POLLPRI | Abi.POLLRDBAND)) != 0) Rcv.Sel.Record(l);
            if ((events & (Abi.POLLOUT | Abi.POLLWRNORM)) != 0) Snd.Sel.Record(l);
        }
        Lock.Exit();
        return r;
    }

    public int SockName(Span<byte> nam, out int len)
    {
        Lock.Enter();
        int e = Proto.SockAddr(this, nam, out len);
        Lock.Exit();
        return e;
    }

    /// <summary>getpeername: ENOTCONN unless connected (or connecting, as NetBSD).</summary>
    public int PeerName(Span<byte> nam, out int len)
    {
        len = 0;
        Lock.Enter();
        int e = (State & (SS_ISCONNECTED | SS_ISCONNECTING)) == 0 ? Abi.ENOTCONN : Proto.PeerAddr(this, nam, out len);
        Lock.Exit();
        return e;
    }

    // ---- Options (NetBSD sosetopt / sogetopt) ----

    private static int GetInt(ReadOnlySpan<byte> v, out int x)
    {
        x = 0;
        if (v.Length != sizeof(int)) return Abi.EINVAL;
        x = MemoryMarshal.Read<int>(v);
        return 0;
    }

    /// <summary>A struct timeval as nanoseconds (EDOM if negative or out of range; 0 is "for ever").</summary>
    private static int GetTimeval(ReadOnlySpan<byte> v, out long ns)
    {
        ns = 0;
        if (v.Length != 16) return Abi.EINVAL;
        long sec = MemoryMarshal.Read<long>(v);
        int usec = MemoryMarshal.Read<int>(v.Slice(8));
        if (sec < 0 || usec < 0 || usec >= 1_000_000 || sec > int.MaxValue) return Abi.EDOM;
        ns = sec * 1_000_000_000L + usec * 1000L;
        return 0;
    }

    /// <summary>setsockopt(2): SOL_SOCKET options here (then shown to the protocol), others to the protocol.</summary>
    public int SetOpt(Lwp l, int level, int name, Span<byte> val)
    {
        Lock.Enter();
        try
        {
            int len = val.Length;
            if (level != Abi.SOL_SOCKET) return Proto.Ctloutput(this, true, level, name, val, ref len);
            int e, x;
            switch (name)
            {
                case Abi.SO_LINGER:
                    if (val.Length != 8) return Abi.EINVAL;
                    int onoff = MemoryMarshal.Read<int>(val), secs = MemoryMarshal.Read<int>(val.Slice(4));
                    if (secs < 0 || secs > short.MaxValue) return Abi.EDOM;
                    Linger = secs;
                    if (onoff != 0) Options |= Abi.SO_LINGER; else Options &= ~Abi.SO_LINGER;
                    break;
                case Abi.SO_DEBUG: case Abi.SO_KEEPALIVE: case Abi.SO_DONTROUTE: case Abi.SO_USELOOPBACK:
                case Abi.SO_BROADCAST: case Abi.SO_REUSEADDR: case Abi.SO_REUSEPORT: case Abi.SO_OOBINLINE:
                case Abi.SO_TIMESTAMP: case Abi.SO_NOSIGPIPE:
                    if ((e = GetInt(val, out x)) != 0) return e;
                    if (x != 0) Options |= name; else Options &= ~name;
                    break;
                case Abi.SO_SNDBUF: case Abi.SO_RCVBUF: case Abi.SO_SNDLOWAT: case Abi.SO_RCVLOWAT:
                    if ((e = GetInt(val, out x)) != 0) return e;
                    if (x < 1) return Abi.EINVAL;
                    SockBuf sb = name == Abi.SO_SNDBUF || name == Abi.SO_SNDLOWAT ? Snd : Rcv;
                    if (name == Abi.SO_SNDBUF || name == Abi.SO_RCVBUF)
                    {
                        if ((e = sb.Reserve(x)) != 0) return e;
                        sb.AutoSize = false;
                    }
                    else sb.Lowat = Math.Min(x, sb.Hiwat);
                    // More room, or a lower mark, may make waiters ready.
                    SoWWakeup();
                    SoRWakeup();
                    break;
                case Abi.SO_SNDTIMEO: case Abi.SO_RCVTIMEO:
                    if ((e = GetTimeval(val, out long ns)) != 0) return e;
                    (name == Abi.SO_SNDTIMEO ? Snd : Rcv).TimeoutNs = ns;
                    break;
                default:
                    return Abi.ENOPROTOOPT;
            }
            // The protocol sees the socket-level options too (SO_KEEPALIVE starts TCP's timer); its answer does not matter.
            len = val.Length;
            Proto.Ctloutput(this, true, level, name, val, ref len);
            return 0;
        }
        finally { Lock.Exit(); }
    }

    /// <summary>getsockopt(2): the value in <paramref name="buf"/>, its length in <paramref name="len"/> (the caller truncates to what the user's buffer holds).</summary>
    public int GetOpt(Lwp l, int level, int name, Span<byte> buf, out int len)
    {
        len = 0;
        Lock.Enter();
        try
        {
            if (level != Abi.SOL_SOCKET)
            {
                len = buf.Length;
                return Proto.Ctloutput(this, false, level, name, buf, ref len);
            }
            int x;
            switch (name)
            {
                case Abi.SO_LINGER:
                    MemoryMarshal.Write(buf, (Options & Abi.SO_LINGER) != 0 ? 1 : 0);
                    MemoryMarshal.Write(buf.Slice(4), Linger);
                    len = 8;
                    return 0;
                case Abi.SO_DEBUG: case Abi.SO_KEEPALIVE: case Abi.SO_DONTROUTE: case Abi.SO_USELOOPBACK:
                case Abi.SO_BROADCAST: case Abi.SO_REUSEADDR: case Abi.SO_REUSEPORT: case Abi.SO_OOBINLINE:
                case Abi.SO_TIMESTAMP: case Abi.SO_NOSIGPIPE: case Abi.SO_ACCEPTCONN:
                    x = Options & name;
                    break;
                case Abi.SO_TYPE: x = Type; break;
                case Abi.SO_ERROR: x = Error; Error = 0; break;
                case Abi.SO_SNDBUF: x = Snd.Hiwat; break;
                case Abi.SO_RCVBUF: x = Rcv.Hiwat; break;
                case Abi.SO_SNDLOWAT: x = Snd.Lowat; break;
                case Abi.SO_RCVLOWAT: x = Rcv.Lowat; break;
                case Abi.SO_OVERFLOWED: x = Overflowed; break;
                case Abi.SO_SNDTIMEO: case Abi.SO_RCVTIMEO:
                {
                    long ns = (name == Abi.SO_SNDTIMEO ? Snd : Rcv).TimeoutNs;
                    MemoryMarshal.Write(buf, ns / 1_000_000_000L);
                    MemoryMarshal.Write(buf.Slice(8), (long)(int)(ns % 1_000_000_000L / 1000));
                    len = 16;
                    return 0;
                }
                default:
                    len = buf.Length;
                    return Proto.Ctloutput(this, false, level, name, buf, ref len);
            }
            MemoryMarshal.Write(buf, x);
            len = 4;
            return 0;
        }
        finally { Lock.Exit(); }
    }

    /// <summary>FIONREAD: bytes waiting to be received.</summary>
    public int ReadableBytes()
    {
        if (Proto is IStreamProtocol sp) return sp.StreamReadable(this);
        Lock.Enter();
        int n = Rcv.Cc;
        Lock.Exit();
        return n;
    }
}
