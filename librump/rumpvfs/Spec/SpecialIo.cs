using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// What an open special file does in place of its file system (NetBSD's specfs and fifofs vnode
/// operations): a character device's driver (<see cref="SpecOpen"/>), a block device
/// (<see cref="BlkOpen"/>), or a FIFO's pipe (<see cref="FifoOpen"/>). The file system keeps the
/// node (name, owner, mode, times); the open file's I/O goes here. One per open file
/// (<see cref="VnodeFile.Special"/>), made by open(2) once the file system has opened the vnode.
/// </summary>
internal abstract class SpecialIo
{
    internal abstract int Read(Lwp l, VnodeFile f, ref Uio uio, bool useOffset);
    internal abstract int Write(Lwp l, VnodeFile f, ref Uio uio, bool useOffset);
    internal abstract int Ioctl(Lwp l, VnodeFile f, ulong cmd, UserPtr data);
    internal abstract int Poll(Lwp l, VnodeFile f, int events);
    /// <summary>The file's last close.</summary>
    internal abstract void Close(Lwp l, VnodeFile f);

    /// <summary>
    /// open(2)'s last step for a vnode its file system has opened: a character device's driver
    /// opens, a block device is claimed, a FIFO's pipe opens its ends (and may wait). Sets
    /// <see cref="VnodeFile.Special"/> on success; nothing for other types.
    /// </summary>
    internal static int Attach(Lwp l, VnodeFile f) => f.Vp.Type switch
    {
        VType.VCHR => SpecFs.Open(l, f),
        VType.VBLK => BlkOpen.Open(l, f),
        VType.VFIFO => FifoFs.Open(l, f),
        _ => 0,
    };

    /// <summary>
    /// Moves data through <paramref name="transfer"/> at the file's offset when
    /// <paramref name="useOffset"/> (read(2), write(2)), advancing it by what moved (NetBSD's
    /// vn_read/vn_write). The offset lock is held only to read and advance the offset, never
    /// across the transfer, so a transfer that blocks does not stop other calls on the file.
    /// </summary>
    protected static int AtOffset<T>(VnodeFile f, ref Uio uio, bool useOffset, T state, TransferFn<T> transfer)
    {
        if (useOffset)
        {
            f.OffsetLock.Enter();
            uio.Offset = f.Offset;
            f.OffsetLock.Exit();
        }
        long before = uio.Resid;
        int e = transfer(state, ref uio);
        if (useOffset)
        {
            f.OffsetLock.Enter();
            f.Offset += before - uio.Resid;
            f.OffsetLock.Exit();
        }
        return e;
    }

    protected delegate int TransferFn<T>(T state, ref Uio uio);
}
