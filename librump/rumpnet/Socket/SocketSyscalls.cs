using System;
using System.Runtime.InteropServices;
using Rump.Kern;
using KSocket = Rump.Net.Socket;

namespace Rump.Net;

/// <summary>
/// The socket system calls (NetBSD uipc_syscalls.c), registered by the net component: a kernel
/// without it answers ENOSYS. They copy the caller's arguments in (addresses as NetBSD's sockargs
/// does: at most 255 bytes, sa_len set to the length given; msghdr, iovecs, control messages),
/// find the socket (EBADF, ENOTSOCK), and call the socket layer (SoOps.cs). Addresses are copied
/// out as NetBSD's copyout_sockname: truncated to the caller's length, which is set to what was
/// written.
/// </summary>
internal static partial class NetSyscalls
{
    /// <summary>NetBSD's IOV_MAX.</summary>
    private const int IovMax = 1024;
    /// <summary>NetBSD's sockargs limit for an address (UCHAR_MAX: sa_len is a byte).</summary>
    private const int MaxAddr = 255;
    /// <summary>NetBSD's sockargs limit for control data (MCLBYTES).</summary>
    private const int MaxControl = 2048;

    private static Net NetOf(Lwp l) => l.Kernel.GetService<Net>()!;

    /// <summary>The socket at <paramref name="fd"/> with a reference (release the file), or EBADF / ENOTSOCK.</summary>
    private static int GetSock(Lwp l, int fd, out SocketFile? sf)
    {
        sf = null;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        if (f is SocketFile s) { sf = s; return 0; }
        f.Release(l);
        return Abi.ENOTSOCK;
    }

    /// <summary>NetBSD sockargs for an address: EINVAL past 255 bytes or below 2; sa_len becomes the length.</summary>
    private static int CopyInAddr(Lwp l, UserPtr p, uint len, Span<byte> buf, out Span<byte> addr)
    {
        addr = default;
        if (len > MaxAddr || len < 2) return Abi.EINVAL;
        addr = buf.Slice(0, (int)len);
        int e = l.Proc.Vmspace.CopyIn(p, addr);
        if (e != 0) return e;
        addr[0] = (byte)len;
        return 0;
    }

    /// <summary>NetBSD copyout_sockname: at most *<paramref name="alen"/> bytes of the address; *alen becomes what was written.</summary>
    private static int CopyOutAddr(Lwp l, ReadOnlySpan<byte> addr, UserPtr asa, UserPtr alen)
    {
        if (asa.IsNull) return 0;
        int e = l.Proc.Vmspace.CopyIn(alen, out uint len);
        if (e != 0) return e;
        if ((int)len < 0) return Abi.EINVAL;
        int n = (int)Math.Min(len, (uint)addr.Length);
        if (n > 0 && (e = l.Proc.Vmspace.CopyOut(addr.Slice(0, n), asa)) != 0) return e;
        uint nl = (uint)n;
        return l.Proc.Vmspace.CopyOut(in nl, alen);
    }

    private const int SockFlags = Abi.SOCK_CLOEXEC | Abi.SOCK_NONBLOCK | Abi.SOCK_NOSIGPIPE;

    private static int FileFlags(int sockFlags)
        => File.FREAD | File.FWRITE | ((sockFlags & Abi.SOCK_NONBLOCK) != 0 ? Abi.O_NONBLOCK : 0)
           | ((sockFlags & Abi.SOCK_NOSIGPIPE) != 0 ? Abi.O_NOSIGPIPE : 0);

    private static int Socket(Lwp l, int domain, int type, int protocol, out long rv)
    {
        rv = 0;
        int flags = type & unchecked((int)Abi.SOCK_FLAGS_MASK);
        type &= ~unchecked((int)Abi.SOCK_FLAGS_MASK);
        if ((flags & ~SockFlags) != 0) return Abi.EINVAL;
        int e = KSocket.Create(l, NetOf(l), domain, type, protocol, null, out KSocket? so);
        if (e != 0) return e;
        var f = new SocketFile(l.Kernel, so!, FileFlags(flags));
        e = l.Proc.Fd.Alloc(f, (flags & Abi.SOCK_CLOEXEC) != 0, out int fd);
        if (e != 0) { f.Release(l); return e; }
        rv = fd;
        return 0;
    }

    private static int Socketpair(Lwp l, int domain, int type, int protocol, UserPtr rsv, out long rv)
    {
        rv = 0;
        int flags = type & unchecked((int)Abi.SOCK_FLAGS_MASK);
        type &= ~unchecked((int)Abi.SOCK_FLAGS_MASK);
        if ((flags & ~SockFlags) != 0) return Abi.EINVAL;
        Net net = NetOf(l);
        int e = KSocket.Create(l, net, domain, type, protocol, null, out KSocket? a);
        if (e != 0) return e;
        var fa = new SocketFile(l.Kernel, a!, FileFlags(flags));
        e = KSocket.Create(l, net, domain, type, protocol, a, out KSocket? b);
        if (e != 0) { fa.Release(l); return e; }
        var fb = new SocketFile(l.Kernel, b!, FileFlags(flags));
        e = KSocket.Connect2(a!, b!);
        if (e != 0) { fa.Release(l); fb.Release(l); return e; }
        bool cloexec = (flags & Abi.SOCK_CLOEXEC) != 0;
        Filedesc fdt = l.Proc.Fd;
        e = fdt.Alloc(fa, cloexec, out int fd0);
        if (e != 0) { fa.Release(l); fb.Release(l); return e; }
        e = fdt.Alloc(fb, cloexec, out int fd1);
        if (e != 0) { fdt.Close(l, fd0); fb.Release(l); return e; }
        Span<int> fds = stackalloc int[2] { fd0, fd1 };
        e = l.Proc.Vmspace.CopyOut(MemoryMarshal.AsBytes(fds), rsv);
        if (e != 0) { fdt.Close(l, fd0); fdt.Close(l, fd1); }
        return e;
    }

    private static int Bind(Lwp l, int s, UserPtr name, uint namelen, out long rv)
    {
        rv = 0;
        Span<byte> buf = stackalloc byte[MaxAddr];
        int e = CopyInAddr(l, name, namelen, buf, out Span<byte> addr);
        if (e != 0) return e;
        if ((e = GetSock(l, s, out SocketFile? sf)) != 0) return e;
        e = sf!.So.Bind(l, addr);
        sf.Release(l);
        return e;
    }

    private static int Listen(Lwp l, int s, int backlog, out long rv)
    {
        rv = 0;
        int e = GetSock(l, s, out SocketFile? sf);
        if (e != 0) return e;
        e = sf!.So.Listen(l, backlog);
        sf.Release(l);
        return e;
    }

    private static int Accept(Lwp l, int s, UserPtr name, UserPtr anamelen, out long rv)
        => DoAccept(l, s, name, anamelen, UserPtr.Null, 0, paccept: false, out rv);

    private static int Paccept(Lwp l, int s, UserPtr name, UserPtr anamelen, UserPtr mask, int flags, out long rv)
        => DoAccept(l, s, name, anamelen, mask, flags, paccept: true, out rv);

    /// <summary>
    /// NetBSD do_sys_accept: accept(2) gives the new descriptor the listener's file flags;
    /// paccept(2) takes non-blocking mode only from its flags, and may wait with
    /// <paramref name="mask"/> as the signal mask.
    /// </summary>
    private static int DoAccept(Lwp l, int s, UserPtr name, UserPtr anamelen, UserPtr mask, int flags, bool paccept, out long rv)
    {
        rv = 0;
        if ((flags & ~SockFlags) != 0) return Abi.EINVAL;
        ulong oldMask = l.SigMask;
        if (!mask.IsNull)
        {
            int me = l.Proc.Vmspace.CopyIn(mask, out RumpSigset set);
            if (me != 0) return me;
            ulong bits;
            unsafe { bits = set.__bits[0] | (ulong)set.__bits[1] << 32; }
            l.SigMask = bits & ~(Kernel.SigBit(Abi.SIGKILL) | Kernel.SigBit(Abi.SIGSTOP));
        }
        int e = GetSock(l, s, out SocketFile? sf);
        if (e != 0) { l.SigMask = oldMask; return e; }
        Span<byte> addr = stackalloc byte[MaxAddr + 1];
        e = sf!.So.Accept(l, sf.NonBlocking, addr, out int alen, out KSocket? child);
        l.SigMask = oldMask;
        int fflags = (paccept ? sf.Flag & ~Abi.O_NONBLOCK : sf.Flag) | FileFlags(flags);
        sf.Release(l);
        if (child == null) return e;
        var f = new SocketFile(l.Kernel, child, fflags & (File.FREAD | File.FWRITE | Abi.O_NONBLOCK | Abi.O_NOSIGPIPE | Abi.O_APPEND | Abi.O_ASYNC));
        if (e != 0) { f.Release(l); return e; }
        e = l.Proc.Fd.Alloc(f, (flags & Abi.SOCK_CLOEXEC) != 0, out int fd);
        if (e != 0) { f.Release(l); return e; }
        e = CopyOutAddr(l, addr.Slice(0, alen), name, anamelen);
        if (e != 0) { l.Proc.Fd.Close(l, fd); return e; }
        rv = fd;
        return 0;
    }

    private static int Connect(Lwp l, int s, UserPtr name, uint namelen, out long rv)
    {
        rv = 0;
        Span<byte> buf = stackalloc byte[MaxAddr];
        int e = CopyInAddr(l, name, namelen, buf, out Span<byte> addr);
        if (e != 0) return e;
        if ((e = GetSock(l, s, out SocketFile? sf)) != 0) return e;
        e = sf!.So.Connect(l, addr, sf.NonBlocking);
        sf.Release(l);
        return e;
    }

    private static int Shutdown(Lwp l, int s, int how, out long rv)
    {
        rv = 0;
        int e = GetSock(l, s, out SocketFile? sf);
        if (e != 0) return e;
        e = sf!.So.Shutdown(l, how);
        sf.Release(l);
        return e;
    }

    private static int Getsockname(Lwp l, int fdes, UserPtr asa, UserPtr alen, out long rv)
        => SockOrPeerName(l, fdes, asa, alen, peer: false, out rv);

    private static int Getpeername(Lwp l, int fdes, UserPtr asa, UserPtr alen, out long rv)
        => SockOrPeerName(l, fdes, asa, alen, peer: true, out rv);

    private static int SockOrPeerName(Lwp l, int fdes, UserPtr asa, UserPtr alen, bool peer, out long rv)
    {
        rv = 0;
        int e = GetSock(l, fdes, out SocketFile? sf);
        if (e != 0) return e;
        Span<byte> addr = stackalloc byte[MaxAddr + 1];
        int len;
        e = peer ? sf!.So.PeerName(addr, out len) : sf!.So.SockName(addr, out len);
        sf.Release(l);
        if (e != 0) return e;
        return CopyOutAddr(l, addr.Slice(0, len), asa, alen);
    }

    private static int Setsockopt(Lwp l, int s, int level, int name, UserPtr val, uint valsize, out long rv)
    {
        rv = 0;
        // NetBSD's sockopt limit: values larger than a cluster are refused.
        if (valsize > MaxControl) return Abi.EINVAL;
        if (val.IsNull && valsize != 0) return Abi.EFAULT;
        Span<byte> buf = stackalloc byte[(int)valsize];
        int e = valsize > 0 ? l.Proc.Vmspace.CopyIn(val, buf) : 0;
        if (e != 0) return e;
        if ((e = GetSock(l, s, out SocketFile? sf)) != 0) return e;
        e = sf!.So.SetOpt(l, level, name, buf);
        sf.Release(l);
        return e;
    }

    private static int Getsockopt(Lwp l, int s, int level, int name, UserPtr val, UserPtr avalsize, out long rv)
    {
        rv = 0;
        uint valsize = 0;
        int e;
        if (!val.IsNull && (e = l.Proc.Vmspace.CopyIn(avalsize, out valsize)) != 0) return e;
        if ((e = GetSock(l, s, out SocketFile? sf)) != 0) return e;
        Span<byte> buf = stackalloc byte[256];
        buf.Clear();
        e = sf!.So.GetOpt(l, level, name, buf, out int len);
        sf.Release(l);
        if (e != 0 || val.IsNull) return e;
        int n = (int)Math.Min(valsize, (uint)Math.Min(len, buf.Length));
        if (n > 0 && (e = l.Proc.Vmspace.CopyOut(buf.Slice(0, n), val)) != 0) return e;
        uint nl = (uint)n;
        return l.Proc.Vmspace.CopyOut(in nl, avalsize);
    }

    // ---- Data transfer ----

    private static int Sendto(Lwp l, int s, UserPtr buf, ulong len, int flags, UserPtr to, uint tolen, out long rv)
    {
        rv = 0;
        if (len > long.MaxValue) return Abi.EINVAL;
        Span<byte> abuf = stackalloc byte[MaxAddr];
        scoped Span<byte> addr = default;
        int e;
        if (!to.IsNull && (e = CopyInAddr(l, to, tolen, abuf, out addr)) != 0) return e;
        IoVec iov;
        iov.Base = buf;
        iov.Len = (long)len;
        return SendIt(l, s, MemoryMarshal.CreateSpan(ref iov, 1), addr, null, flags, out rv);
    }

    /// <summary>NetBSD sendit: the transfer, SIGPIPE on EPIPE, and a short count when interrupted after sending some.</summary>
    private static int SendIt(Lwp l, int s, Span<IoVec> iov, ReadOnlySpan<byte> to, Control? control, int flags, out long rv)
    {
        rv = 0;
        int e = GetSock(l, s, out SocketFile? sf);
        if (e != 0) { control?.Dispose(l); return e; }
        var uio = new Uio(l.Proc.Vmspace, iov, 0, isRead: false);
        long want = uio.Resid;
        e = sf!.So.Send(l, to, ref uio, control, flags, sf.NonBlocking);
        long done = want - uio.Resid;
        if (e != 0 && done > 0 && (e == Abi.EINTR || e == Abi.EWOULDBLOCK)) e = 0;
        if (e == Abi.EPIPE) sf.SigPipe(l, flags);
        sf.Release(l);
        rv = done;
        return e;
    }

    private static int Recvfrom(Lwp l, int s, UserPtr buf, ulong len, int flags, UserPtr from, UserPtr fromlenaddr, out long rv)
    {
        rv = 0;
        if (len > long.MaxValue) return Abi.EINVAL;
        IoVec iov;
        iov.Base = buf;
        iov.Len = (long)len;
        Span<byte> addr = stackalloc byte[MaxAddr + 1];
        int e = RecvIt(l, s, MemoryMarshal.CreateSpan(ref iov, 1), addr, out int alen, out Control? c, ref flags, out rv);
        c?.Dispose(l);
        if (e != 0) return e;
        return from.IsNull ? 0 : CopyOutAddr(l, addr.Slice(0, alen), from, fromlenaddr);
    }

    /// <summary>NetBSD do_sys_recvmsg's core: the transfer, with a short count when interrupted after some data.</summary>
    private static int RecvIt(Lwp l, int s, Span<IoVec> iov, Span<byte> addr, out int alen, out Control? control, ref int flags, out long rv)
    {
        rv = 0;
        alen = 0;
        control = null;
        int e = GetSock(l, s, out SocketFile? sf);
        if (e != 0) return e;
        var uio = new Uio(l.Proc.Vmspace, iov, 0, isRead: true);
        long want = uio.Resid;
        e = sf!.So.Receive(l, ref uio, addr, out alen, out control, ref flags, sf.NonBlocking);
        sf.Release(l);
        long done = want - uio.Resid;
        if (e != 0 && done > 0 && (e == Abi.EINTR || e == Abi.EWOULDBLOCK)) e = 0;
        rv = done;
        if (alen > addr.Length) alen = addr.Length;
        return e;
    }

    /// <summary>Copies a msghdr's iovecs in (EMSGSIZE past IOV_MAX, EINVAL for a negative count or a total past SSIZE_MAX).</summary>
    private static int CopyInIov(Lwp l, in RumpMsghdr mh, Span<IoVec> small, out IoVec[]? big, out int n)
    {
        big = null;
        n = mh.msg_iovlen;
        if (n < 0) return Abi.EINVAL;
        if (n > IovMax) return Abi.EMSGSIZE;
        RumpIovec[] uiov = new RumpIovec[n];
        int e = n > 0 ? l.Proc.Vmspace.CopyIn(new UserPtr(mh.msg_iov), MemoryMarshal.AsBytes(uiov.AsSpan())) : 0;
        if (e != 0) return e;
        Span<IoVec> k = n <= small.Length ? small : (big = new IoVec[n]);
        long total = 0;
        for (int i = 0; i < n; i++)
        {
            ulong ilen = (ulong)uiov[i].iov_len;
            if (ilen > long.MaxValue || (total += (long)ilen) < 0) return Abi.EINVAL;
            k[i].Base = new UserPtr(uiov[i].iov_base);
            k[i].Len = (long)ilen;
        }
        return 0;
    }

    private static int Sendmsg(Lwp l, int s, UserPtr msg, int flags, out long rv)
    {
        rv = 0;
        int e = l.Proc.Vmspace.CopyIn(msg, out RumpMsghdr mh);
        if (e != 0) return e;
        Span<IoVec> small = stackalloc IoVec[8];
        if ((e = CopyInIov(l, mh, small, out IoVec[]? big, out int n)) != 0) return e;
        Span<IoVec> iov = big ?? small.Slice(0, n);
        Span<byte> abuf = stackalloc byte[MaxAddr];
        scoped Span<byte> addr = default;
        if (mh.msg_name != 0 && (e = CopyInAddr(l, new UserPtr(mh.msg_name), mh.msg_namelen, abuf, out addr)) != 0) return e;
        Control? control = null;
        if (mh.msg_control != 0 && mh.msg_controllen > 0)
        {
            e = Cmsg.CopyIn(l, new UserPtr(mh.msg_control), mh.msg_controllen, out control);
            if (e != 0) return e;
        }
        return SendIt(l, s, iov, addr, control, flags, out rv);
    }

    private static int Recvmsg(Lwp l, int s, UserPtr msg, int flags, out long rv)
    {
        rv = 0;
        int e = l.Proc.Vmspace.CopyIn(msg, out RumpMsghdr mh);
        if (e != 0) return e;
        Span<IoVec> small = stackalloc IoVec[8];
        if ((e = CopyInIov(l, mh, small, out IoVec[]? big, out int n)) != 0) return e;
        Span<IoVec> iov = big ?? small.Slice(0, n);
        Span<byte> addr = stackalloc byte[MaxAddr + 1];
        int rflags = flags;
        e = RecvIt(l, s, iov, addr, out int alen, out Control? control, ref rflags, out rv);
        if (e != 0) { control?.Dispose(l); return e; }
        // msg_namelen and msg_controllen say what was written; msg_flags what happened (MSG_TRUNC, MSG_CTRUNC).
        if (mh.msg_name != 0)
        {
            int nn = (int)Math.Min(mh.msg_namelen, (uint)alen);
            if (nn > 0 && (e = l.Proc.Vmspace.CopyOut(addr.Slice(0, nn), new UserPtr(mh.msg_name))) != 0) { control?.Dispose(l); return e; }
            mh.msg_namelen = (uint)nn;
        }
        uint clen = 0;
        if (control != null)
        {
            e = Cmsg.CopyOut(l, control, new UserPtr(mh.msg_control), mh.msg_controllen, (flags & Abi.MSG_CMSG_CLOEXEC) != 0, out clen, out bool ctrunc);
            control.Dispose(l);
            if (e != 0) return e;
            if (ctrunc) rflags |= Abi.MSG_CTRUNC;
        }
        mh.msg_controllen = clen;
        mh.msg_flags = rflags;
        return l.Proc.Vmspace.CopyOut(in mh, msg);
    }
}
