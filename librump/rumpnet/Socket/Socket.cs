using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// A socket (NetBSD's struct socket, uipc_socket.c and uipc_socket2.c): the protocol-independent
/// half of a communication endpoint. It holds the type and options, the state (SS_*), a pending
/// error, the listen queues of a listener, a receive and a send buffer (<see cref="SockBuf"/>),
/// and the protocol (<see cref="Protosw"/>) with its control block (<see cref="Pcb"/>). The
/// socket layer's operations (socket, bind, connect, send, receive, close ...) are in
/// SoOps.cs; the functions below are what protocols call to report changes.
///
/// Locking: one lock, <see cref="Lock"/>, protects everything in the socket and both of its
/// buffers. It is the protocol's choice (<see cref="Protosw.NewLock"/>): a lock per socket, or
/// one shared by many (NetBSD's softnet_lock; AF_LOCAL uses one per kernel, as two connected
/// local sockets are changed together). A listener's children always share the listener's, and
/// socketpair's two sockets share one, so a protocol never holds two socket locks at once.
/// Order: a socket lock comes before the network's locks (<see cref="Net"/>'s interface list,
/// an <see cref="Ifnet"/>'s input queue, the mbuf pool's spin flags, a <see cref="SelInfo"/>'s
/// spin flag), so a protocol may send (Ifnet.Output) with it held. Descriptor-table and VFS
/// locks are never taken under it except by AF_LOCAL's bind and connect, which look a path up
/// with it dropped.
///
/// How a protocol's input reaches a socket: the input routine runs in the interface's soft
/// interrupt with no lock held; it finds the socket (its own tables, under its own lock or the
/// shared socket lock), takes <see cref="Lock"/>, appends (<see cref="SockBuf.Append"/>,
/// <see cref="SockBuf.AppendAddr"/>), calls <see cref="SoRWakeup"/> (sleepers and pollers), and
/// drops the lock. State changes (a connection completes, the peer closes, an error) go
/// through <see cref="IsConnected"/>, <see cref="CantRcvMore"/>, <see cref="SetError"/> in the
/// same way; they wake whoever waits.
///
/// Who holds a reference: the descriptor's file (<see cref="SocketFile"/>) holds the socket
/// until close (then SS_NOFDREF); the protocol holds it while <see cref="Pcb"/> is set. The
/// socket is freed (its buffers emptied, <see cref="SoFree"/>) when both have let go. A child
/// on a listener's queue is held by the listener until accepted or aborted.
/// </summary>
public sealed partial class Socket
{
    // NetBSD's socketvar.h so_state bits.
    public const int SS_NOFDREF = 0x001, SS_ISCONNECTED = 0x002, SS_ISCONNECTING = 0x004,
        SS_ISDISCONNECTING = 0x008, SS_CANTSENDMORE = 0x010, SS_CANTRCVMORE = 0x020,
        SS_RCVATMARK = 0x040, SS_ISDISCONNECTED = 0x800;

    public readonly Kernel Kernel;
    public readonly Net Net;
    public readonly Protosw Proto;
    /// <summary>SOCK_*.</summary>
    public readonly int Type;
    /// <summary>SO_* option bits (SO_ACCEPTCONN, SO_REUSEADDR, SO_KEEPALIVE, ...).</summary>
    public int Options;
    /// <summary>SO_LINGER's time in seconds.</summary>
    public int Linger;
    /// <summary>SS_* bits.</summary>
    public int State;
    /// <summary>A pending error (so_error), reported once by the next call or SO_ERROR.</summary>
    public int Error;
    /// <summary>The protocol's control block; null once the protocol let go.</summary>
    public object? Pcb;
    /// <summary>The lock of the socket and its buffers (see the class comment). Set once, before the protocol's Attach.</summary>
    public KMutex Lock { get; private set; } = null!;
    /// <summary>The credentials of the process that made the socket (or of the listener, for a child).</summary>
    public Cred Cred;
    /// <summary>The process that made it (LOCAL_PEEREID).</summary>
    public int Pid;
    public readonly SockBuf Rcv, Snd;
    /// <summary>Connection state changes (connect, accept, linger on close) are waited for here, under <see cref="Lock"/>.</summary>
    internal readonly KCondvar Cv;
    /// <summary>Datagrams dropped for want of receive space (SO_OVERFLOWED).</summary>
    public int Overflowed;

    /// <summary>The listener a child is queued on (NetBSD so_head), until accepted.</summary>
    public Socket? Head { get; private set; }
    private bool _onQ0;
    private List<Socket>? _q0, _q;
    /// <summary>The listen backlog (NetBSD so_qlimit).</summary>
    public int QLimit;
    /// <summary>Connections ready to be accepted.</summary>
    public int QLen => _q?.Count ?? 0;
    /// <summary>Connections still being set up.</summary>
    public int Q0Len => _q0?.Count ?? 0;

    internal Socket(Kernel k, Net net, Protosw proto, int type, Cred cred, int pid)
    {
        Kernel = k;
        Net = net;
        Proto = proto;
        Type = type;
        Cred = cred;
        Pid = pid;
        Rcv = new SockBuf(this, k);
        Snd = new SockBuf(this, k);
        Cv = new KCondvar(k);
    }

    internal void SetLock(KMutex m)
    {
        if (Lock != null) Kernel.Panic("socket lock set twice");
        Lock = m;
    }

    public bool Connected => (State & SS_ISCONNECTED) != 0;

    // ---- State changes protocols report (NetBSD soisconnecting, soisconnected, ...). With Lock held. ----

    /// <summary>NetBSD soisconnecting: a connection is being set up.</summary>
    public void IsConnecting()
    {
        State &= ~(SS_ISCONNECTED | SS_ISDISCONNECTING);
        State |= SS_ISCONNECTING;
    }

    /// <summary>
    /// NetBSD soisconnected: the connection is up. A child still on its listener's incomplete
    /// queue moves to the ready queue and the listener's accept and pollers wake; otherwise the
    /// connecting thread and this socket's pollers wake.
    /// </summary>
    public void IsConnected()
    {
        State &= ~(SS_ISCONNECTING | SS_ISDISCONNECTING);
        State |= SS_ISCONNECTED;
        Socket? head = Head;
        if (head != null && _onQ0)
        {
            head._q0!.Remove(this);
            _onQ0 = false;
            (head._q ??= new List<Socket>()).Add(this);
            head.Cv.Broadcast();
            head.SoRWakeup();
        }
        else
        {
            Cv.Broadcast();
            SoRWakeup();
            SoWWakeup();
        }
    }

    /// <summary>NetBSD soisdisconnecting: closing; nothing more is sent or received.</summary>
    public void IsDisconnecting()
    {
        State &= ~SS_ISCONNECTING;
        State |= SS_ISDISCONNECTING | SS_CANTRCVMORE | SS_CANTSENDMORE;
        WakeAll();
    }

    /// <summary>NetBSD soisdisconnected: the connection is gone.</summary>
    public void IsDisconnected()
    {
        State &= ~(SS_ISCONNECTING | SS_ISCONNECTED | SS_ISDISCONNECTING);
        State |= SS_CANTRCVMORE | SS_CANTSENDMORE | SS_ISDISCONNECTED;
        WakeAll();
    }

    /// <summary>NetBSD socantsendmore: the send side is shut (shutdown, or the peer went away).</summary>
    public void CantSendMore()
    {
        State |= SS_CANTSENDMORE;
        SoWWakeup();
    }

    /// <summary>NetBSD socantrcvmore: no more data will arrive (the peer's FIN or close): readers see end of file.</summary>
    public void CantRcvMore()
    {
        State |= SS_CANTRCVMORE;
        SoRWakeup();
    }

    /// <summary>Records an error for the next call (ECONNREFUSED, ECONNRESET, ETIMEDOUT ...) and wakes every waiter.</summary>
    public void SetError(int error)
    {
        Error = error;
        WakeAll();
    }

    /// <summary>NetBSD sorwakeup: data (or end of file, an error, a connection to accept) arrived: wakes receivers and read pollers.</summary>
    public void SoRWakeup()
    {
        Rcv.Cv.Broadcast();
        Rcv.Sel.Notify();
    }

    /// <summary>NetBSD sowwakeup: send space appeared (or the send side shut): wakes senders and write pollers.</summary>
    public void SoWWakeup()
    {
        Snd.Cv.Broadcast();
        Snd.Sel.Notify();
    }

    private void WakeAll()
    {
        Cv.Broadcast();
        SoRWakeup();
        SoWWakeup();
    }

    /// <summary>
    /// NetBSD sonewconn: a listener (this, SO_ACCEPTCONN) gets a new child for an incoming
    /// connection, with the listener's type, options, buffer sizes and lock, attached to the
    /// protocol. <paramref name="connected"/>: the connection is already up (it goes straight to
    /// the ready queue and the listener wakes); otherwise it waits on the incomplete queue until
    /// the protocol calls <see cref="IsConnected"/> on it. Null when the queues are full (1.5 times
    /// the backlog, as NetBSD) or the protocol refuses. With the listener's lock held.
    /// </summary>
    public Socket? SoNewConn(bool connected)
    {
        if ((Options & Abi.SO_ACCEPTCONN) == 0) return null;
        if (QLen + Q0Len > 3 * QLimit / 2) return null;
        // No descriptor holds it until accept (which clears SS_NOFDREF), so an abort frees it.
        var so = new Socket(Kernel, Net, Proto, Type, Cred, Pid)
        {
            Options = Options & ~Abi.SO_ACCEPTCONN,
            Linger = Linger,
            State = SS_NOFDREF,
        };
        so.SetLock(Lock);
        so.Rcv.Hiwat = Rcv.Hiwat; so.Rcv.Lowat = Rcv.Lowat; so.Rcv.TimeoutNs = Rcv.TimeoutNs;
        so.Snd.Hiwat = Snd.Hiwat; so.Snd.Lowat = Snd.Lowat; so.Snd.TimeoutNs = Snd.TimeoutNs;
        so.Rcv.AutoSize = Rcv.AutoSize; so.Snd.AutoSize = Snd.AutoSize;
        if (Proto.Attach(so, 0) != 0) return null;
        so.Head = this;
        if (connected)
        {
            so.State |= SS_ISCONNECTED;
            (_q ??= new List<Socket>()).Add(so);
            Cv.Broadcast();
            SoRWakeup();
        }
        else
        {
            so._onQ0 = true;
            (_q0 ??= new List<Socket>()).Add(so);
        }
        return so;
    }

    /// <summary>Takes the first ready connection off the listen queue (accept), or null.</summary>
    internal Socket? DequeueReady()
    {
        if (_q == null || _q.Count == 0) return null;
        Socket so = _q[0];
        _q.RemoveAt(0);
        so.Head = null;
        return so;
    }

    /// <summary>
    /// NetBSD sofree: frees the socket once neither the descriptor (SS_NOFDREF) nor the protocol
    /// (<see cref="Pcb"/> null) holds it; a protocol that kept the socket after Detach calls this
    /// when it lets go. A child still on a listener's incomplete queue leaves it; one on the ready
    /// queue stays for accept. With the lock held.
    /// </summary>
    public void SoFree()
    {
        if (Pcb != null || (State & SS_NOFDREF) == 0) return;
        Socket? head = Head;
        if (head != null)
        {
            if (!_onQ0) return;
            head._q0!.Remove(this);
            _onQ0 = false;
            Head = null;
        }
        Lwp? l = Kernel.CurlwpOrNull();
        Snd.Flush(l);
        Rcv.Flush(l);
    }

    /// <summary>The queued children of a closing listener, removed from its queues (they are aborted).</summary>
    internal List<Socket>? DrainQueues()
    {
        List<Socket>? all = null;
        foreach (List<Socket>? q in new[] { _q0, _q })
        {
            if (q == null) continue;
            foreach (Socket so in q) { so.Head = null; so._onQ0 = false; (all ??= new List<Socket>()).Add(so); }
            q.Clear();
        }
        return all;
    }
}
