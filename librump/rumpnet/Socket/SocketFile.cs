using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// A socket as an open file (NetBSD sys_socket.c, soo_*): read, write, ioctl, poll, fstat and
/// close of a socket descriptor go through the descriptor layer to here. The file's O_NONBLOCK
/// is the socket's non-blocking mode (FIONBIO and fcntl change it); O_NOSIGPIPE suppresses
/// SIGPIPE. The file holds the socket until its last reference is dropped (then soclose).
/// </summary>
public sealed class SocketFile : File
{
    public readonly Socket So;

    public SocketFile(Kernel k, Socket so, int flag) : base(k, flag) { So = so; }

    internal bool NonBlocking => (Flag & Abi.O_NONBLOCK) != 0;

    public override int Read(Lwp l, ref Uio uio, bool useOffset)
    {
        int flags = 0;
        int e = So.Receive(l, ref uio, default, out _, out Control? c, ref flags, NonBlocking);
        c?.Dispose(l);
        return e;
    }

    public override int Write(Lwp l, ref Uio uio, bool useOffset)
    {
        int e = So.Send(l, default, ref uio, null, 0, NonBlocking);
        if (e == Abi.EPIPE) SigPipe(l, 0);
        return e;
    }

    /// <summary>NetBSD's rule: EPIPE raises SIGPIPE unless the file (O_NOSIGPIPE), the socket (SO_NOSIGPIPE) or the call (MSG_NOSIGNAL) says not to.</summary>
    internal void SigPipe(Lwp l, int msgFlags)
    {
        if ((Flag & Abi.O_NOSIGPIPE) != 0 || (msgFlags & Abi.MSG_NOSIGNAL) != 0 || (So.Options & Abi.SO_NOSIGPIPE) != 0) return;
        l.Kernel.Psignal(l.Proc, Abi.SIGPIPE);
    }

    public override int Ioctl(Lwp l, ulong cmd, UserPtr data)
    {
        switch (cmd)
        {
            case Abi.FIONBIO:
            {
                int e = l.Proc.Vmspace.CopyIn(data, out int on);
                if (e != 0) return e;
                SetFlags(Abi.O_NONBLOCK, on != 0 ? Abi.O_NONBLOCK : 0);
                return 0;
            }
            case Abi.FIONREAD:
            {
                int n = So.ReadableBytes();
                return l.Proc.Vmspace.CopyOut(in n, data);
            }
            case Abi.FIOASYNC:
                return 0;
            default:
            {
                // NetBSD soo_ioctl: interface ioctls ('i') go to ifioctl whatever the socket's
                // protocol; what ifioctl does not know (an address family's own, such as
                // SIOCAIFADDR_IN6) goes on to the protocol, as ifioctl's default case does.
                bool ifcmd = IfIoctl.Handles(cmd);
                if (ifcmd)
                {
                    int ie = IfIoctl.Ioctl(l, cmd, data);
                    if (ie != Abi.ENOTTY) return ie;
                }
                So.Lock.Enter();
                int r = So.Proto.Ioctl(So, cmd, data, l);
                So.Lock.Exit();
                return ifcmd && r == Abi.EOPNOTSUPP ? Abi.ENOTTY : r;
            }
        }
    }

    /// <summary>NetBSD soo_stat: a socket, readable and writable by its owner while those directions are open; st_size is the bytes waiting.</summary>
    public override int Stat(Lwp l, out RumpStat st)
    {
        st = default;
        So.Lock.Enter();
        uint mode = Abi.S_IFSOCK;
        if ((So.State & Socket.SS_CANTRCVMORE) == 0 || So.Rcv.Cc != 0) mode |= Abi.S_IRUSR | Abi.S_IRGRP | Abi.S_IROTH;
        if ((So.State & Socket.SS_CANTSENDMORE) == 0) mode |= Abi.S_IWUSR | Abi.S_IWGRP | Abi.S_IWOTH;
        st.st_mode = mode;
        st.st_size = So.Rcv.Cc;
        st.st_blksize = So.Snd.Hiwat;
        st.st_uid = So.Cred.Euid;
        st.st_gid = So.Cred.Egid;
        So.Lock.Exit();
        return 0;
    }

    public override int Poll(Lwp l, int events) => So.Poll(l, events);

    protected override void Close(Lwp l) => So.Close(l);
}
