using System;
using System.Runtime.InteropServices;

namespace Rump.Kern;

/// <summary>
/// Descriptor system calls that work on any file type (NetBSD sys_generic.c, sys_descrip.c,
/// sys_pipe.c): read/write and their vector and positional forms, close, dup, fcntl, ioctl,
/// lseek, fstat, pipe2. They live in the base so every faction's file types (vnodes, sockets) share them.
/// </summary>
internal static partial class KernSyscalls
{
    /// <summary>NetBSD's IOV_MAX.</summary>
    private const int IovMax = 1024;
    private const long SsizeMax = long.MaxValue;

    private static int Read(Lwp l, int fd, UserPtr buf, ulong nbyte, out long rv)
        => Rw(l, fd, buf, nbyte, -1, isRead: true, out rv);

    private static int Write(Lwp l, int fd, UserPtr buf, ulong nbyte, out long rv)
        => Rw(l, fd, buf, nbyte, -1, isRead: false, out rv);

    private static int Pread(Lwp l, int fd, UserPtr buf, ulong nbyte, long offset, out long rv)
    {
        rv = 0;
        return offset < 0 ? Abi.EINVAL : Rw(l, fd, buf, nbyte, offset, isRead: true, out rv);
    }

    private static int Pwrite(Lwp l, int fd, UserPtr buf, ulong nbyte, long offset, out long rv)
    {
        rv = 0;
        return offset < 0 ? Abi.EINVAL : Rw(l, fd, buf, nbyte, offset, isRead: false, out rv);
    }

    /// <summary>One-segment transfer; <paramref name="offset"/> &lt; 0 means "at the file offset".</summary>
    private static int Rw(Lwp l, int fd, UserPtr buf, ulong nbyte, long offset, bool isRead, out long rv)
    {
        rv = 0;
        if (nbyte > SsizeMax) return Abi.EINVAL;
        IoVec iov;
        iov.Base = buf;
        iov.Len = (long)nbyte;
        return Transfer(l, fd, MemoryMarshal.CreateSpan(ref iov, 1), offset, isRead, out rv);
    }

    private static int Transfer(Lwp l, int fd, Span<IoVec> iov, long offset, bool isRead, out long rv)
    {
        rv = 0;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        int e;
        if ((f.Flag & (isRead ? File.FREAD : File.FWRITE)) == 0) e = Abi.EBADF;
        else if (offset >= 0 && !f.IsSeekable) e = Abi.ESPIPE;
        else
        {
            var uio = new Uio(l.Proc.Vmspace, iov, offset < 0 ? 0 : offset, isRead);
            long want = uio.Resid;
            e = isRead ? f.Read(l, ref uio, offset < 0) : f.Write(l, ref uio, offset < 0);
            long done = want - uio.Resid;
            // A transfer interrupted after moving data reports the bytes moved (NetBSD dofileread).
            if (e != 0 && done > 0 && (e == Abi.EINTR || e == Abi.EWOULDBLOCK)) e = 0;
            rv = done;
        }
        f.Release(l);
        return e;
    }

    private static int Readv(Lwp l, int fd, UserPtr iovp, int iovcnt, out long rv)
        => Vector(l, fd, iovp, iovcnt, -1, isRead: true, out rv);

    private static int Writev(Lwp l, int fd, UserPtr iovp, int iovcnt, out long rv)
        => Vector(l, fd, iovp, iovcnt, -1, isRead: false, out rv);

    private static unsafe int Vector(Lwp l, int fd, UserPtr iovp, int iovcnt, long offset, bool isRead, out long rv)
    {
        rv = 0;
        if (iovcnt <= 0 || iovcnt > IovMax) return Abi.EINVAL;
        RumpIovec[]? big = iovcnt > 16 ? new RumpIovec[iovcnt] : null;
        Span<RumpIovec> uiov = big ?? stackalloc RumpIovec[iovcnt];
        int e = l.Proc.Vmspace.CopyIn(iovp, MemoryMarshal.AsBytes(uiov));
        if (e != 0) return e;
        IoVec[]? bigk = iovcnt > 16 ? new IoVec[iovcnt] : null;
        Span<IoVec> kiov = bigk ?? stackalloc IoVec[iovcnt];
        long total = 0;
        for (int i = 0; i < iovcnt; i++)
        {
            ulong len = (ulong)uiov[i].iov_len;
            if (len > SsizeMax || (total += (long)len) < 0) return Abi.EINVAL;
            kiov[i].Base = new UserPtr((nint)uiov[i].iov_base);
            kiov[i].Len = (long)len;
        }
        return Transfer(l, fd, kiov, offset, isRead, out rv);
    }

    private static int Close(Lwp l, int fd, out long rv)
    {
        rv = 0;
        return l.Proc.Fd.Close(l, fd);
    }

    private static int Dup(Lwp l, int fd, out long rv)
    {
        rv = 0;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        int e = l.Proc.Fd.Alloc(f, false, out int nfd);
        if (e != 0) { f.Release(l); return e; }
        rv = nfd;
        return 0;
    }

    private static int Dup2(Lwp l, int from, int to, out long rv)
    {
        rv = to;
        return l.Proc.Fd.Dup2(l, from, to, cloexec: false);
    }

    /// <summary>Status flags F_SETFL may change (NetBSD FCNTLFLAGS, the ones this kernel has).</summary>
    private const int FcntlFlags = Abi.O_APPEND | Abi.O_NONBLOCK | Abi.O_DSYNC | Abi.O_RSYNC | Abi.O_SYNC | Abi.O_DIRECT;

    private static int Fcntl(Lwp l, int fd, int cmd, UserPtr arg, out long rv)
    {
        rv = 0;
        Filedesc fdt = l.Proc.Fd;
        long iarg = (long)arg.Addr;
        switch (cmd)
        {
            case Abi.F_DUPFD:
            case Abi.F_DUPFD_CLOEXEC:
            {
                if (iarg < 0 || iarg >= Filedesc.MaxFiles) return Abi.EINVAL;
                File? f = fdt.Get(fd);
                if (f == null) return Abi.EBADF;
                int e = fdt.Alloc(f, cmd == Abi.F_DUPFD_CLOEXEC, out int nfd, (int)iarg);
                if (e != 0) { f.Release(l); return e; }
                rv = nfd;
                return 0;
            }
            case Abi.F_GETFD:
            {
                int e = fdt.GetCloexec(fd, out bool ce);
                rv = ce ? Abi.FD_CLOEXEC : 0;
                return e;
            }
            case Abi.F_SETFD:
                return fdt.SetCloexec(fd, (iarg & Abi.FD_CLOEXEC) != 0);
            case Abi.F_GETFL:
            case Abi.F_SETFL:
            {
                File? f = fdt.Get(fd);
                if (f == null) return Abi.EBADF;
                if (cmd == Abi.F_GETFL)
                    rv = f.Flag - 1; // OFLAGS(): the file flags are the open flags plus one
                else
                    f.SetFlags(FcntlFlags, (int)(iarg + 1));
                f.Release(l);
                return 0;
            }
            default:
                return Abi.EINVAL;
        }
    }

    private static int Ioctl(Lwp l, int fd, ulong com, UserPtr data, out long rv)
    {
        rv = 0;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        int e;
        if (com == Abi.FIOCLEX || com == Abi.FIONCLEX)
            e = l.Proc.Fd.SetCloexec(fd, com == Abi.FIOCLEX);
        else
            e = f.Ioctl(l, com, data);
        f.Release(l);
        return e;
    }

    private static int Lseek(Lwp l, int fd, long offset, int whence, out long rv)
    {
        rv = 0;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        int e = f.Seek(l, offset, whence, out rv);
        f.Release(l);
        return e;
    }

    private static int Fstat(Lwp l, int fd, UserPtr sb, out long rv)
    {
        rv = 0;
        File? f = l.Proc.Fd.Get(fd);
        if (f == null) return Abi.EBADF;
        int e = f.Stat(l, out RumpStat st);
        f.Release(l);
        return e != 0 ? e : l.Proc.Vmspace.CopyOut(in st, sb);
    }

    private static int Pipe2(Lwp l, UserPtr fildes, int flags, out long rv)
    {
        rv = 0;
        if ((flags & ~(Abi.O_CLOEXEC | Abi.O_NONBLOCK | Abi.O_NOSIGPIPE)) != 0) return Abi.EINVAL;
        var (r, w) = Pipe.Create(l.Kernel, flags & (Abi.O_NONBLOCK | Abi.O_NOSIGPIPE));
        bool cloexec = (flags & Abi.O_CLOEXEC) != 0;
        Filedesc fdt = l.Proc.Fd;
        int e = fdt.Alloc(r, cloexec, out int rfd);
        if (e != 0) { r.Release(l); w.Release(l); return e; }
        e = fdt.Alloc(w, cloexec, out int wfd);
        if (e != 0) { fdt.Close(l, rfd); w.Release(l); return e; }
        Span<int> fds = stackalloc int[2] { rfd, wfd };
        e = l.Proc.Vmspace.CopyOut(MemoryMarshal.AsBytes(fds), fildes);
        if (e != 0) { fdt.Close(l, rfd); fdt.Close(l, wfd); }
        return e;
    }
}
