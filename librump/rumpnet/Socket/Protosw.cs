using System;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// What a protocol implements for its sockets (NetBSD's struct protosw with its pr_usrreqs): the
/// socket layer (<see cref="Socket"/>, <see cref="SockBuf"/>, the system calls) calls these, and
/// the protocol answers with a NetBSD errno (0: done). A protocol registers one Protosw per
/// (family, type, protocol) in <see cref="Domains"/> while its component initialises.
///
/// Locking (see <see cref="Socket"/>): a new socket gets its lock from <see cref="NewLock"/>
/// (or its partner's: socketpair, a listener's children), and every method here runs with
/// <see cref="Socket.Lock"/> held and returns with it held. The socket layer does the sleeping (connect, accept, send, receive): a
/// protocol starts things and reports through the socket's state (<see cref="Socket.IsConnected"/>,
/// <see cref="Socket.SoRWakeup"/>, ...), never blocks in these methods, except briefly in output.
///
/// Addresses cross as NetBSD's bytes: a struct sockaddr with sa_len first and sa_family second
/// (<see cref="SockaddrView"/>); the socket layer has checked that the length is at least 2 and
/// at most <see cref="SockaddrView.MaxLen"/> and set sa_len to it (NetBSD's sockargs). Protocols
/// check their family and the length their family needs (EAFNOSUPPORT, EINVAL).
/// </summary>
public abstract class Protosw
{
    // NetBSD's protosw.h pr_flags.
    /// <summary>Exchanges atomic messages only (datagrams, seqpacket).</summary>
    public const int PR_ATOMIC = 0x01;
    /// <summary>Addresses are given with messages (datagrams): received records carry the sender's.</summary>
    public const int PR_ADDR = 0x02;
    /// <summary>A connection is required to send (streams).</summary>
    public const int PR_CONNREQUIRED = 0x04;
    /// <summary>The protocol wants <see cref="Rcvd"/> after data is taken from the receive buffer (flow control).</summary>
    public const int PR_WANTRCVD = 0x08;
    /// <summary>Passes access rights (SCM_RIGHTS) in control messages.</summary>
    public const int PR_RIGHTS = 0x10;
    /// <summary>Supports listen(2).</summary>
    public const int PR_LISTEN = 0x20;

    /// <summary>AF_* of the domain.</summary>
    public abstract int Family { get; }
    /// <summary>SOCK_*.</summary>
    public abstract int Type { get; }
    /// <summary>IPPROTO_* (0 for a family's only protocol of a type; for SOCK_RAW, 0 is the wildcard raw entry).</summary>
    public abstract int Protocol { get; }
    /// <summary>PR_* flags.</summary>
    public abstract int Flags { get; }

    /// <summary>
    /// The lock of a new socket that has no partner (NetBSD sosetlock). The default is a lock of
    /// its own. A protocol whose input or whose operations touch several sockets at once (a
    /// listener and its children, two connected local sockets, every socket of a soft interrupt's
    /// input) returns one lock shared by all of them (NetBSD's softnet_lock), taken once, so two
    /// socket locks are never nested.
    /// </summary>
    public virtual KMutex NewLock(Kernel k) => new KMutex(k);

    /// <summary>
    /// A new socket (socket(2), socketpair(2), or a listener's child from <see cref="Socket.SoNewConn"/>,
    /// whose type, options and buffer sizes are the listener's): make the control block
    /// (<see cref="Socket.Pcb"/>) and size the buffers (<see cref="SockBuf.Reserve"/>). On error
    /// nothing is left attached and the socket is dropped.
    /// </summary>
    public abstract int Attach(Socket so, int proto);

    /// <summary>
    /// The descriptor's last reference is gone (close): the protocol lets go of the socket. One
    /// that is done at once sets <see cref="Socket.Pcb"/> to null; one that still has work (TCP
    /// sending what is queued, TIME_WAIT) keeps it and calls <see cref="Socket.SoFree"/> once it
    /// sets it to null later.
    /// </summary>
    public abstract void Detach(Socket so);

    /// <summary>A connection was taken off the listen queue (accept(2)): write the peer's address into <paramref name="nam"/> (its length in <paramref name="len"/>; 0 if none).</summary>
    public virtual int Accept(Socket so, Span<byte> nam, out int len) { len = 0; return Abi.EOPNOTSUPP; }
    public virtual int Bind(Socket so, ReadOnlySpan<byte> nam, Lwp l) => Abi.EOPNOTSUPP;
    /// <summary>listen(2): the socket layer then sets SO_ACCEPTCONN and the queue limit.</summary>
    public virtual int Listen(Socket so, Lwp l) => Abi.EOPNOTSUPP;
    /// <summary>
    /// Starts a connection to <paramref name="nam"/>: a protocol that completes at once calls
    /// <see cref="Socket.SoIsConnected"/>; one that needs a handshake calls
    /// <see cref="Socket.SoIsConnecting"/> and later connected or <see cref="Socket.SetError"/>.
    /// For datagram sockets it sets the default destination.
    /// </summary>
    public virtual int Connect(Socket so, ReadOnlySpan<byte> nam, Lwp l) => Abi.EOPNOTSUPP;
    /// <summary>Connects two sockets of this protocol to each other (socketpair(2)); both share one lock, held.</summary>
    public virtual int Connect2(Socket so, Socket so2) => Abi.EOPNOTSUPP;
    /// <summary>Drops the connection (or the datagram socket's default destination).</summary>
    public virtual int Disconnect(Socket so) => Abi.EOPNOTSUPP;
    /// <summary>No more sends: the socket layer has already called <see cref="Socket.CantSendMore"/>; tell the peer (FIN).</summary>
    public virtual int Shutdown(Socket so) => Abi.EOPNOTSUPP;
    /// <summary>A connection still on a listen queue when the listener closes: reset it; the socket layer frees it.</summary>
    public virtual int Abort(Socket so) => Abi.EOPNOTSUPP;
    /// <summary>A protocol ioctl (SIOC*); ENOTTY/EOPNOTSUPP when it has none.</summary>
    public virtual int Ioctl(Socket so, ulong cmd, UserPtr data, Lwp l) => Abi.EOPNOTSUPP;
    public virtual int PeerAddr(Socket so, Span<byte> nam, out int len) { len = 0; return Abi.EOPNOTSUPP; }
    public virtual int SockAddr(Socket so, Span<byte> nam, out int len) { len = 0; return Abi.EOPNOTSUPP; }
    /// <summary>The receiver took data out of <see cref="Socket.Rcv"/> (PR_WANTRCVD protocols: open the window).</summary>
    public virtual int Rcvd(Socket so, int flags, Lwp l) => 0;
    /// <summary>
    /// Sends <paramref name="m"/> (a whole record for PR_ATOMIC protocols; null for an empty
    /// datagram) to <paramref name="nam"/> (empty: the connected peer) with optional
    /// <paramref name="control"/> (a <see cref="Control"/>). The protocol owns <paramref name="m"/>
    /// from the call on, on success and on error alike, and disposes of <paramref name="control"/>
    /// on success (the socket layer does on error).
    /// </summary>
    public abstract int Send(Socket so, Mbuf? m, ReadOnlySpan<byte> nam, Control? control, Lwp l);
    /// <summary>
    /// get/setsockopt at the protocol's level (or SOL_SOCKET options the socket layer passes on).
    /// Set: <paramref name="val"/> holds the value, <paramref name="len"/> its length. Get:
    /// <paramref name="val"/> is the buffer and <paramref name="len"/> returns the length written.
    /// ENOPROTOOPT for an unknown option.
    /// </summary>
    public virtual int Ctloutput(Socket so, bool set, int level, int name, Span<byte> val, ref int len) => Abi.ENOPROTOOPT;
}

/// <summary>
/// Control information sent or received with a message (NetBSD's control mbufs): the cmsghdr
/// bytes as the caller gave them, and for SCM_RIGHTS the files in flight, which hold one
/// reference each until they are received (installed as descriptors) or disposed.
/// </summary>
public sealed class Control
{
    /// <summary>cmsg records other than SCM_RIGHTS, in NetBSD's layout (copied out as they are).</summary>
    public byte[] Bytes = Array.Empty<byte>();
    /// <summary>Files passed with SCM_RIGHTS; each holds a reference (null once installed as a descriptor).</summary>
    public File?[]? Rights;

    /// <summary>Drops the references of files never received.</summary>
    public void Dispose(Lwp l)
    {
        File?[]? r = Rights;
        Rights = null;
        if (r == null) return;
        foreach (File? f in r) f?.Release(l);
    }
}

/// <summary>
/// The protocols linked into a kernel (NetBSD's domains and their protosw arrays): components
/// register theirs while they initialise; the socket layer looks them up with NetBSD's
/// pffindtype/pffindproto rules. Written only during initialisation, read without a lock.
/// </summary>
public sealed class Domains
{
    private Protosw[] _protos = Array.Empty<Protosw>();

    /// <summary>Adds a protocol; while components initialise only (a second one for the same triple replaces the first).</summary>
    public void Register(Protosw p)
    {
        Protosw[] old = _protos;
        var n = new System.Collections.Generic.List<Protosw>(old.Length + 1);
        foreach (Protosw o in old)
            if (o.Family != p.Family || o.Type != p.Type || o.Protocol != p.Protocol) n.Add(o);
        n.Add(p);
        System.Threading.Volatile.Write(ref _protos, n.ToArray());
    }

    /// <summary>Whether any protocol of <paramref name="family"/> is registered (NetBSD pffinddomain).</summary>
    public bool HasFamily(int family)
    {
        foreach (Protosw p in System.Threading.Volatile.Read(ref _protos)) if (p.Family == family) return true;
        return false;
    }

    /// <summary>
    /// NetBSD socreate's lookup: with a protocol, the entry for it (or the family's wildcard raw
    /// entry for SOCK_RAW); without, the family's first entry of the type. The errors are
    /// socreate's: EAFNOSUPPORT (no such family), EPROTOTYPE (no such type, or the protocol is of
    /// another type), EPROTONOSUPPORT (no such protocol).
    /// </summary>
    public int Find(int family, int type, int proto, out Protosw? found)
    {
        found = null;
        Protosw[] all = System.Threading.Volatile.Read(ref _protos);
        Protosw? wildRaw = null;
        foreach (Protosw p in all)
        {
            if (p.Family != family) continue;
            if (proto != 0)
            {
                if (p.Protocol == proto && p.Type == type) { found = p; break; }
                if (p.Protocol == proto && found == null) found = p;
                if (p.Protocol == 0 && p.Type == Abi.SOCK_RAW && type == Abi.SOCK_RAW) wildRaw ??= p;
            }
            else if (p.Type == type) { found = p; break; }
        }
        found ??= wildRaw;
        if (found == null)
        {
            if (!HasFamily(family)) return Abi.EAFNOSUPPORT;
            return proto == 0 && type != 0 ? Abi.EPROTOTYPE : Abi.EPROTONOSUPPORT;
        }
        if (found.Type != type) { found = null; return Abi.EPROTOTYPE; }
        return 0;
    }
}

/// <summary>
/// A struct sockaddr in NetBSD's layout over bytes: sa_len (1 byte), sa_family (1 byte), then
/// the family's data. Checked once by <see cref="Check"/>; protocols read their own fields.
/// </summary>
public readonly ref struct SockaddrView
{
    /// <summary>The largest address the socket layer copies in (NetBSD's sockaddr_big / sockaddr_storage: 128).</summary>
    public const int MaxLen = 128;

    public readonly ReadOnlySpan<byte> Bytes;
    public SockaddrView(ReadOnlySpan<byte> b) { Bytes = b; }
    public int Len => Bytes[0];
    public int Family => Bytes[1];

    /// <summary>EINVAL unless the bytes can hold a sockaddr header (the socket layer then sets sa_len to their length, as NetBSD's sockargs).</summary>
    public static int Check(ReadOnlySpan<byte> b) => b.Length < 2 || b.Length > MaxLen ? Abi.EINVAL : 0;
}
