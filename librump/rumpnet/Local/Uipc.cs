using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// Local (AF_LOCAL) sockets, NetBSD's uipc_usrreq.c: stream, datagram and seqpacket sockets
/// within one kernel, named by socket nodes (VSOCK vnodes) in the file system.
///
/// - A sender appends straight to the peer's receive buffer; its own send buffer stays empty and
///   counts the bytes the peer has not read yet (<see cref="SockBuf.Held"/>), so a stream sender
///   waits for the reader as with a pipe (the reader's receive returns the space, PR_WANTRCVD).
/// - Datagrams carry the sender's bound name; a full receiver refuses them (ENOBUFS), as NetBSD's.
/// - bind(2) makes a socket node at the path and holds it while bound; connect(2) looks the path
///   up and finds the bound socket through <see cref="_bound"/> (NetBSD's v_socket). The nodes
///   come from the VFS through <see cref="ILocalSockNames"/>, so this faction needs only the base.
/// - Descriptors pass with SCM_RIGHTS (the files travel with the data); LOCAL_PEEREID gives the
///   peer's pid and effective ids as of connect (or listen, for the connecting side).
///
/// Locks: one lock for every local socket of the kernel (<see cref="_lock"/>, every socket's
/// <see cref="Socket.Lock"/>), because a send changes two sockets and connect changes three. It
/// is dropped around the file-system lookups of bind and connect (the socket is marked busy
/// meanwhile), so VFS locks are never held while taking it; node references are dropped with it
/// held, which takes VFS locks after it (order: local lock, then VFS).
/// </summary>
public sealed class Uipc
{
    // NetBSD's buffer sizes are 4 KiB for streams (PIPSIZ); ours are larger, as a pipe's, so a
    // stream moves 64 KiB per wake-up. A datagram's limit is the send size (2 KiB), and the receive
    // buffer holds a couple of them (NetBSD's unpdg_sendspace and unpdg_recvspace).
    public const int StreamSpace = 64 * 1024, DgramSendSpace = 2 * 1024, DgramRecvSpace = 4 * 1024;
    /// <summary>struct sockaddr_un: length, family, 104 bytes of path.</summary>
    public const int SunLen = 106;

    internal readonly Kernel Kernel;
    private readonly KMutex _lock;
    /// <summary>Bound socket nodes and their sockets (under <see cref="_lock"/>).</summary>
    private readonly Dictionary<object, UnpCb> _bound = new(ReferenceEqualityComparer.Instance);
    /// <summary>Every local socket's control block, for the pcblist sysctls (under <see cref="_lock"/>), and the next one's id.</summary>
    private readonly HashSet<UnpCb> _all = new(ReferenceEqualityComparer.Instance);
    private ulong _nextId;

    private Uipc(Kernel k) { Kernel = k; _lock = new KMutex(k); }

    /// <summary>Registers AF_LOCAL's stream, datagram and seqpacket protocols in <paramref name="net"/>.</summary>
    public static void Attach(Kernel k, Net net)
    {
        var u = new Uipc(k);
        net.Domains.Register(new LocalProto(u, Abi.SOCK_STREAM,
            Protosw.PR_CONNREQUIRED | Protosw.PR_WANTRCVD | Protosw.PR_RIGHTS | Protosw.PR_LISTEN));
        net.Domains.Register(new LocalProto(u, Abi.SOCK_DGRAM, Protosw.PR_ATOMIC | Protosw.PR_ADDR | Protosw.PR_RIGHTS));
        net.Domains.Register(new LocalProto(u, Abi.SOCK_SEQPACKET,
            Protosw.PR_ATOMIC | Protosw.PR_CONNREQUIRED | Protosw.PR_WANTRCVD | Protosw.PR_RIGHTS | Protosw.PR_LISTEN));
        LocalPcbList.AttachSysctl(k, u);
    }

    /// <summary>A local socket's control block (NetBSD struct unpcb).</summary>
    internal sealed class UnpCb
    {
        public readonly Socket So;
        /// <summary>The peer (stream, seqpacket) or the default destination (datagram).</summary>
        public UnpCb? Conn;
        /// <summary>Datagram sockets whose default destination is this one (NetBSD unp_refs).</summary>
        public List<UnpCb>? Refs;
        /// <summary>The socket node while bound (an <see cref="ILocalSockNames"/> node); this holds a reference to it.</summary>
        public object? Node;
        /// <summary>The bound name (a sockaddr_un's bytes); a connected child has its listener's.</summary>
        public byte[]? Addr;
        /// <summary>A bind or connect is in the file system with the lock dropped.</summary>
        public bool Busy;
        /// <summary>LOCAL_PEEREID: the peer's identity, once valid.</summary>
        public RumpUnpcbid PeerId;
        public bool PeerIdValid;
        /// <summary>This socket's own identity as a listener (given to those who connect).</summary>
        public RumpUnpcbid ListenId;
        /// <summary>A number naming this block in the pcblist sysctls (NetBSD shows the unpcb's address).</summary>
        public ulong Id;

        public UnpCb(Socket so) { So = so; }
    }

    private static UnpCb Unp(Socket so) => (UnpCb)so.Pcb!;

    private static RumpUnpcbid IdOf(Socket so, Lwp? l)
        => l != null ? new RumpUnpcbid { unp_pid = l.Proc.Pid, unp_euid = l.Cred.Euid, unp_egid = l.Cred.Egid }
                     : new RumpUnpcbid { unp_pid = so.Pid, unp_euid = so.Cred.Euid, unp_egid = so.Cred.Egid };

    /// <summary>The unnamed address (NetBSD sun_noname): a whole sockaddr_un with an empty path.</summary>
    private static int NoName(Span<byte> nam, out int len)
    {
        len = Math.Min(SunLen, nam.Length);
        nam.Slice(0, len).Clear();
        if (len >= 2) { nam[0] = SunLen; nam[1] = Abi.AF_LOCAL; }
        return 0;
    }

    private static int CopyAddr(byte[]? a, Span<byte> nam, out int len)
    {
        if (a == null) return NoName(nam, out len);
        len = Math.Min(a.Length, nam.Length);
        a.AsSpan(0, len).CopyTo(nam);
        return 0;
    }

    /// <summary>The path of a sockaddr_un (up to its NUL, if any): EINVAL if empty, EAFNOSUPPORT for another family.</summary>
    private static int PathOf(ReadOnlySpan<byte> nam, out ReadOnlySpan<byte> path)
    {
        path = default;
        if (nam.Length < 2) return Abi.EINVAL;
        if (nam[1] != Abi.AF_LOCAL) return Abi.EAFNOSUPPORT;
        ReadOnlySpan<byte> p = nam.Slice(2);
        int nul = p.IndexOf((byte)0);
        if (nul >= 0) p = p.Slice(0, nul);
        if (p.IsEmpty) return Abi.EINVAL;
        path = p;
        return 0;
    }

    // ---- Operations, with the local lock held (every method of LocalProto is called so) ----

    internal int Attach(Socket so)
    {
        if (so.Pcb != null) return Abi.EISCONN;
        if (so.Snd.Hiwat == 0 || so.Rcv.Hiwat == 0)
        {
            bool dgram = so.Type == Abi.SOCK_DGRAM;
            so.Snd.Reserve(dgram ? DgramSendSpace : StreamSpace);
            so.Rcv.Reserve(dgram ? DgramRecvSpace : StreamSpace);
            so.Rcv.Lowat = 1;
            so.Snd.Lowat = Math.Min(2048, so.Snd.Hiwat);
        }
        var unp = new UnpCb(so) { Id = ++_nextId };
        so.Pcb = unp;
        _all.Add(unp);
        return 0;
    }

    /// <summary>
    /// The <paramref name="type"/> sockets' entries (<see cref="LocalPcbList"/>) that fit in
    /// <paramref name="dst"/>; returns the length of all of them. Takes the local lock.
    /// </summary>
    internal int PcbList(int type, Span<byte> dst)
    {
        _lock.Enter();
        try
        {
            int n = 0;
            foreach (UnpCb unp in _all)
            {
                if (unp.So.Type != type) continue;
                if ((n + 1) * LocalPcbList.EntrySize <= dst.Length) LocalPcbList.Write(dst.Slice(n * LocalPcbList.EntrySize, LocalPcbList.EntrySize), unp);
                n++;
            }
            return n * LocalPcbList.EntrySize;
        }
        finally { _lock.Exit(); }
    }

    internal void Detach(Socket so)
    {
        UnpCb unp = Unp(so);
        _all.Remove(unp);
        Disconnect(unp);
        if (unp.Refs != null)
            while (unp.Refs.Count > 0) Drop(unp.Refs[^1], Abi.ECONNRESET);
        so.IsDisconnected();
        object? node = unp.Node;
        if (node != null)
        {
            _bound.Remove(node);
            unp.Node = null;
            Kernel.GetService<ILocalSockNames>()!.Release(node);
        }
        so.Pcb = null;
    }

    /// <summary>NetBSD unp_disconnect: breaks the connection (or the default destination).</summary>
    internal void Disconnect(UnpCb unp)
    {
        UnpCb? unp2 = unp.Conn;
        if (unp2 == null) return;
        unp.Conn = null;
        if (unp.So.Type == Abi.SOCK_DGRAM)
        {
            unp2.Refs?.Remove(unp);
            unp.So.State &= ~Socket.SS_ISCONNECTED;
            return;
        }
        unp2.Conn = null;
        unp.So.Snd.Held = 0;
        unp2.So.Snd.Held = 0;
        unp.So.IsDisconnected();
        unp2.So.IsDisconnected();
    }

    /// <summary>NetBSD unp_drop: the socket gets <paramref name="error"/> and loses its connection.</summary>
    internal void Drop(UnpCb unp, int error)
    {
        unp.So.Error = error;
        Disconnect(unp);
        unp.So.SetError(error);
    }

    internal int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        UnpCb unp = Unp(so);
        int e = PathOf(nam, out ReadOnlySpan<byte> path);
        if (e != 0) return e;
        if (unp.Node != null || unp.Busy) return Abi.EINVAL;
        ILocalSockNames? names = Kernel.GetService<ILocalSockNames>();
        if (names == null) return Abi.EOPNOTSUPP;
        byte[] addr = nam.ToArray();
        unp.Busy = true;
        _lock.Exit();
        object? node = null;
        try
        {
            e = names.Bind(l, path, out node);
        }
        finally { _lock.Enter(); unp.Busy = false; }
        if (e != 0) return e;
        unp.Node = node;
        unp.Addr = addr;
        _bound[node!] = unp;
        return 0;
    }

    /// <summary>Finds the socket bound at the path of <paramref name="nam"/> (the lock dropped for the lookup): ECONNREFUSED if nobody is bound there.</summary>
    private int Lookup(UnpCb unp, ReadOnlySpan<byte> nam, Lwp l, out UnpCb? target)
    {
        target = null;
        int e = PathOf(nam, out ReadOnlySpan<byte> path);
        if (e != 0) return e;
        if (unp.Busy) return Abi.EALREADY;
        ILocalSockNames? names = Kernel.GetService<ILocalSockNames>();
        if (names == null) return Abi.ECONNREFUSED;
        unp.Busy = true;
        _lock.Exit();
        object? node = null;
        try
        {
            e = names.Lookup(l, path, out node);
        }
        finally { _lock.Enter(); unp.Busy = false; }
        if (e != 0) return e;
        _bound.TryGetValue(node!, out target);
        names.Release(node!);
        return target == null ? Abi.ECONNREFUSED : 0;
    }

    internal int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l)
    {
        UnpCb unp = Unp(so);
        int e = Lookup(unp, nam, l, out UnpCb? unp2);
        if (e != 0) return e;
        // The lock was dropped: this socket may have been connected meanwhile (another thread).
        if (unp.Conn != null && so.Type != Abi.SOCK_DGRAM) return Abi.EISCONN;
        Socket so2 = unp2!.So;
        if (so2.Type != so.Type) return Abi.EPROTOTYPE;
        if (so.Type == Abi.SOCK_DGRAM)
        {
            Disconnect(unp);
            Connect2(unp, unp2);
            return 0;
        }
        if ((so2.Options & Abi.SO_ACCEPTCONN) == 0) return Abi.ECONNREFUSED;
        Socket? so3 = so2.SoNewConn(connected: false);
        if (so3 == null) return Abi.ECONNREFUSED;
        UnpCb unp3 = Unp(so3);
        unp3.Addr = unp2.Addr;
        unp3.PeerId = IdOf(so, l);
        unp3.PeerIdValid = true;
        unp.PeerId = unp2.ListenId;
        unp.PeerIdValid = true;
        Connect2(unp, unp3);
        return 0;
    }

    /// <summary>NetBSD unp_connect2: datagram sockets get a default destination; stream and seqpacket ones are joined both ways and connected.</summary>
    internal void Connect2(UnpCb unp, UnpCb unp2)
    {
        unp.Conn = unp2;
        if (unp.So.Type == Abi.SOCK_DGRAM)
        {
            (unp2.Refs ??= new List<UnpCb>()).Add(unp);
            unp.So.IsConnected();
            return;
        }
        unp2.Conn = unp;
        unp.So.IsConnected();
        unp2.So.IsConnected();
    }

    /// <summary>socketpair(2): both sockets are each other's peer (a datagram pair both ways, as NetBSD's sys_socketpair).</summary>
    internal int ConnectPair(Socket so, Socket so2)
    {
        UnpCb a = Unp(so), b = Unp(so2);
        Connect2(a, b);
        if (so.Type == Abi.SOCK_DGRAM) Connect2(b, a);
        a.PeerId = IdOf(so2, null);
        b.PeerId = IdOf(so, null);
        a.PeerIdValid = b.PeerIdValid = true;
        return 0;
    }

    internal int Listen(Socket so, Lwp l)
    {
        UnpCb unp = Unp(so);
        if (unp.Node == null) return Abi.EINVAL;
        unp.ListenId = IdOf(so, l);
        return 0;
    }

    internal int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l)
    {
        UnpCb unp = Unp(so);
        if (so.Type == Abi.SOCK_DGRAM)
        {
            UnpCb? dst = unp.Conn;
            if (!nam.IsEmpty)
            {
                if (dst != null) { m?.Free(); return Abi.EISCONN; }
                int e = Lookup(unp, nam, l, out dst);
                if (e != 0) { m?.Free(); return e; }
                if (dst!.So.Type != Abi.SOCK_DGRAM) { m?.Free(); return Abi.EPROTOTYPE; }
            }
            else if (dst == null) { m?.Free(); return Abi.ENOTCONN; }
            Span<byte> from = stackalloc byte[SunLen];
            CopyAddr(unp.Addr, from, out int flen);
            Socket so2 = dst.So;
            if ((so2.State & Socket.SS_CANTRCVMORE) != 0 || !so2.Rcv.AppendAddr(from.Slice(0, flen), m, control))
            {
                so2.Overflowed++;
                m?.Free();
                return Abi.ENOBUFS;
            }
            so2.SoRWakeup();
            return 0;
        }
        UnpCb? peer = unp.Conn;
        if (peer == null) { m?.Free(); return (so.State & Socket.SS_ISDISCONNECTED) != 0 ? Abi.EPIPE : Abi.ENOTCONN; }
        Socket ps = peer.So;
        if (so.Type == Abi.SOCK_SEQPACKET) ps.Rcv.AppendRecord(m, control);
        else if (control != null) ps.Rcv.AppendControl(m, control);
        else if (m != null) ps.Rcv.Append(m);
        so.Snd.Held = ps.Rcv.Cc;
        ps.SoRWakeup();
        return 0;
    }

    /// <summary>The reader took data: the writer's held count follows the reader's buffer, and the writer may go on.</summary>
    internal void Rcvd(Socket so)
    {
        UnpCb? peer = Unp(so).Conn;
        if (peer == null || so.Type == Abi.SOCK_DGRAM) return;
        peer.So.Snd.Held = so.Rcv.Cc;
        peer.So.SoWWakeup();
    }

    internal int Shutdown(Socket so)
    {
        UnpCb? peer = Unp(so).Conn;
        if (peer != null && so.Type != Abi.SOCK_DGRAM) peer.So.CantRcvMore();
        return 0;
    }

    internal int Abort(Socket so)
    {
        Drop(Unp(so), Abi.ECONNABORTED);
        Detach(so);
        return 0;
    }

    internal int PeerAddr(Socket so, Span<byte> nam, out int len)
    {
        UnpCb? peer = Unp(so).Conn;
        return CopyAddr(peer?.Addr, nam, out len);
    }

    internal int SockAddr(Socket so, Span<byte> nam, out int len) => CopyAddr(Unp(so).Addr, nam, out len);

    internal int Ctloutput(Socket so, bool set, int level, int name, Span<byte> val, ref int len)
    {
        if (level == Abi.SOL_SOCKET) return 0;
        if (level != 0) return Abi.ENOPROTOOPT;
        UnpCb unp = Unp(so);
        if (name == Abi.LOCAL_PEEREID && !set)
        {
            if (!unp.PeerIdValid) return Abi.EINVAL;
            if (val.Length < 12) return Abi.EINVAL;
            System.Runtime.InteropServices.MemoryMarshal.Write(val, unp.PeerId);
            len = 12;
            return 0;
        }
        return Abi.ENOPROTOOPT;
    }

    internal KMutex Lock => _lock;
}

/// <summary>One AF_LOCAL socket type's protocol switch: every operation goes to the domain (<see cref="Uipc"/>).</summary>
internal sealed class LocalProto : Protosw
{
    private readonly Uipc _u;
    private readonly int _type, _flags;

    public LocalProto(Uipc u, int type, int flags) { _u = u; _type = type; _flags = flags; }

    public override int Family => Abi.AF_LOCAL;
    public override int Type => _type;
    public override int Protocol => 0;
    public override int Flags => _flags;

    public override KMutex NewLock(Kernel k) => _u.Lock;
    public override int Attach(Socket so, int proto) => _u.Attach(so);
    public override void Detach(Socket so) => _u.Detach(so);
    public override int Accept(Socket so, Span<byte> nam, out int len) => _u.PeerAddr(so, nam, out len);
    public override int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l) => _u.Bind(so, nam, l);
    public override int Listen(Socket so, Lwp l) => _u.Listen(so, l);
    public override int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l) => _u.Connect(so, nam, l);
    public override int Connect2(Socket so, Socket so2) => _u.ConnectPair(so, so2);
    public override int Disconnect(Socket so)
    {
        _u.Disconnect((Uipc.UnpCb)so.Pcb!);
        return 0;
    }
    public override int Shutdown(Socket so) => _u.Shutdown(so);
    public override int Abort(Socket so) => _u.Abort(so);
    public override int Ioctl(Socket so, ulong cmd, UserPtr data, Lwp l) => Abi.EOPNOTSUPP;
    public override int PeerAddr(Socket so, Span<byte> nam, out int len) => _u.PeerAddr(so, nam, out len);
    public override int SockAddr(Socket so, Span<byte> nam, out int len) => _u.SockAddr(so, nam, out len);
    public override int Rcvd(Socket so, int flags, Lwp l) { _u.Rcvd(so); return 0; }
    public override int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l) => _u.Send(so, m, nam, control, l);
    public override int Ctloutput(Socket so, bool set, int level, int name, Span<byte> val, ref int len)
        => _u.Ctloutput(so, set, level, name, val, ref len);
}
