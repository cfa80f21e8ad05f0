using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// fifofs (NetBSD miscfs/fifofs): a VFIFO vnode on any file system is a named pipe. The file system
/// keeps the node (name, mode, owner, times); the data goes through a <see cref="Pipe"/> that the
/// vnode holds while any file is open on it, so every opener of the name shares it, and what is
/// left unread when the last one closes is gone (a FIFO keeps nothing on disk). Opening blocks as
/// POSIX says (<see cref="Pipe.OpenEnds"/>): a reader until there is a writer, a writer until there
/// is a reader; with O_NONBLOCK a reader does not wait and a writer with no reader gets ENXIO.
///
/// Locks: <see cref="Vfs.FifoLock"/> protects <see cref="Vnode.Fifo"/> and
/// <see cref="Vnode.FifoFiles"/> and is a leaf; it is let go before the open waits in the pipe
/// (whose own lock protects the ends). The file's vnode reference keeps the vnode, and so its
/// pipe, alive until the file closes.
/// </summary>
internal static class FifoFs
{
    /// <summary>fifo_open, called by open(2) for a VFIFO vnode its file system has opened. Sets <see cref="VnodeFile.Special"/> on success.</summary>
    internal static int Open(Lwp l, VnodeFile f)
    {
        Vnode vp = f.Vp;
        KMutex lk = vp.Mount.Vfs.FifoLock;
        lk.Enter();
        Pipe p = vp.Fifo ??= Pipe.CreateNamed(l.Kernel);
        vp.FifoFiles++;
        lk.Exit();
        int e = p.OpenEnds(f.CanRead, f.CanWrite, Nonblock(f));
        if (e == 0) f.Special = new FifoOpen(p);
        else Release(vp);
        return e;
    }

    internal static bool Nonblock(VnodeFile f) => (f.Flag & Abi.O_NONBLOCK) != 0;

    /// <summary>A file of the FIFO closed: the last one lets the pipe go.</summary>
    internal static void Release(Vnode vp)
    {
        KMutex lk = vp.Mount.Vfs.FifoLock;
        lk.Enter();
        if (--vp.FifoFiles == 0) vp.Fifo = null;
        lk.Exit();
    }
}

/// <summary>An open FIFO: the pipe's ends this file opened. read(2) and write(2) checked FREAD and FWRITE already.</summary>
internal sealed class FifoOpen : SpecialIo
{
    private readonly Pipe _pipe;

    internal FifoOpen(Pipe p) { _pipe = p; }

    internal override int Read(Lwp l, VnodeFile f, ref Uio uio, bool useOffset) => _pipe.Read(ref uio, FifoFs.Nonblock(f));

    internal override int Write(Lwp l, VnodeFile f, ref Uio uio, bool useOffset) => f.SigPipeOnEpipe(l, _pipe.Write(ref uio, FifoFs.Nonblock(f)));

    internal override int Ioctl(Lwp l, VnodeFile f, ulong cmd, UserPtr data) => _pipe.Ioctl(l, f, f.CanRead, cmd, data);

    /// <summary>As a pipe's ends: the read end's for a reader, the write end's for a writer, both for a file open for both.</summary>
    internal override int Poll(Lwp l, VnodeFile f, int events)
    {
        int r = 0;
        if (f.CanRead) r |= _pipe.Poll(l, events, reader: true);
        if (f.CanWrite) r |= _pipe.Poll(l, events, reader: false);
        return r;
    }

    /// <summary>fifo_close: the file's ends close, and the last file lets the pipe go.</summary>
    internal override void Close(Lwp l, VnodeFile f)
    {
        _pipe.CloseEnds(f.CanRead, f.CanWrite);
        FifoFs.Release(f.Vp);
    }
}
