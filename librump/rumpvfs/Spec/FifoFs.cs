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
public static class FifoFs
{
    /// <summary>fifo_open, called by open(2) for a VFIFO vnode its file system has opened. Sets <see cref="VnodeFile.Fifo"/> on success.</summary>
    internal static int Open(Lwp l, VnodeFile f)
    {
        Vnode vp = f.Vp;
        KMutex lk = vp.Mount.Vfs.FifoLock;
        lk.Enter();
        Pipe p = vp.Fifo ??= Pipe.CreateNamed(l.Kernel);
        vp.FifoFiles++;
        lk.Exit();
        int e = p.OpenEnds(f.CanRead, f.CanWrite, (f.Flag & Abi.O_NONBLOCK) != 0);
        if (e == 0) f.Fifo = p;
        else Release(vp);
        return e;
    }

    /// <summary>fifo_close: the file's ends close; the last file lets the pipe go.</summary>
    internal static void Close(VnodeFile f)
    {
        f.Fifo!.CloseEnds(f.CanRead, f.CanWrite);
        Release(f.Vp);
    }

    private static void Release(Vnode vp)
    {
        KMutex lk = vp.Mount.Vfs.FifoLock;
        lk.Enter();
        if (--vp.FifoFiles == 0) vp.Fifo = null;
        lk.Exit();
    }
}
