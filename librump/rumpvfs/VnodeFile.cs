using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// An open vnode (NetBSD vnops.c's vn_* file operations): the file holds one vnode reference,
/// dropped when the last descriptor closes. The offset is serialised by the file's offset lock so
/// that concurrent read/write calls on one descriptor each see a consistent position.
/// </summary>
public sealed class VnodeFile : File
{
    public readonly Vnode Vp;
    /// <summary>For an open character device: its driver (specfs, Spec/SpecFs.cs), which gets the I/O instead of the file system.</summary>
    internal SpecOpen? Spec;
    /// <summary>For an open FIFO: its pipe (fifofs, Spec/FifoFs.cs), which gets the I/O instead of the file system.</summary>
    internal Pipe? Fifo;

    internal bool CanRead => (Flag & FREAD) != 0;
    internal bool CanWrite => (Flag & FWRITE) != 0;

    public VnodeFile(Lwp l, Vnode vp, int fflag) : base(l.Kernel, fflag)
    {
        Vp = vp;
    }

    public override bool IsSeekable => Vp.Type is VType.VREG or VType.VDIR or VType.VBLK or VType.VCHR;

    public override int Read(Lwp l, ref Uio uio, bool useOffset)
    {
        if (Spec != null) return Spec.Read(l, this, ref uio, useOffset);
        if (Fifo != null) return Fifo.Read(ref uio, (Flag & Abi.O_NONBLOCK) != 0); // the call checked FREAD
        if (!useOffset) return VnodeLayer.Read(l, Vp, ref uio, 0);
        OffsetLock.Enter();
        uio.Offset = Offset;
        int e = VnodeLayer.Read(l, Vp, ref uio, 0);
        Offset = uio.Offset;
        OffsetLock.Exit();
        return e;
    }

    public override int Write(Lwp l, ref Uio uio, bool useOffset)
    {
        if (Spec != null) return Spec.Write(l, this, ref uio, useOffset);
        if (Fifo != null) return SigPipeOnEpipe(l, Fifo.Write(ref uio, (Flag & Abi.O_NONBLOCK) != 0)); // the call checked FWRITE
        int ioflag = (Flag & Abi.O_APPEND) != 0 ? IoFlag.Append : 0;
        if ((Flag & (Abi.O_SYNC | Abi.O_DSYNC)) != 0) ioflag |= IoFlag.Sync;
        if (!useOffset) return VnodeLayer.Write(l, Vp, ref uio, ioflag);
        OffsetLock.Enter();
        uio.Offset = Offset;
        int e = VnodeLayer.Write(l, Vp, ref uio, ioflag);
        Offset = uio.Offset;
        OffsetLock.Exit();
        return e;
    }

    /// <summary>getdents(2): the offset of a directory is the file system's directory cookie.</summary>
    public int Readdir(Lwp l, ref Uio uio)
    {
        OffsetLock.Enter();
        long cookie = Offset;
        int e = VnodeLayer.Readdir(l, Vp, ref uio, ref cookie);
        Offset = cookie;
        OffsetLock.Exit();
        return e;
    }

    public override int Seek(Lwp l, long offset, int whence, out long newOffset)
    {
        newOffset = 0;
        if (Vp.Type == VType.VFIFO) return Abi.ESPIPE; // NetBSD sys_lseek: a FIFO is a pipe
        OffsetLock.Enter();
        try
        {
            long basePos;
            switch (whence)
            {
                case Abi.SEEK_SET: basePos = 0; break;
                case Abi.SEEK_CUR: basePos = Offset; break;
                case Abi.SEEK_END:
                {
                    int e = VnodeLayer.Getattr(l, Vp, out Vattr va);
                    if (e != 0) return e;
                    basePos = va.Size;
                    break;
                }
                default: return Abi.EINVAL;
            }
            long n = basePos + offset;
            if ((offset > 0 && n < basePos) || n < 0) return Abi.EINVAL;
            Offset = newOffset = n;
            return 0;
        }
        finally { OffsetLock.Exit(); }
    }

    public override int Stat(Lwp l, out RumpStat st)
    {
        int e = VnodeLayer.Getattr(l, Vp, out Vattr va);
        va.ToStat(out st);
        return e;
    }

    public override int Ioctl(Lwp l, ulong cmd, UserPtr data)
    {
        if (Spec != null) return Spec.Ioctl(l, this, cmd, data);
        if (Fifo != null) return Fifo.Ioctl(l, this, CanRead, cmd, data);
        // NetBSD vn_ioctl: regular files and directories answer the FIO* queries themselves.
        bool regOrDir = Vp.Type is VType.VREG or VType.VDIR;
        if ((cmd == Abi.FIONWRITE || cmd == Abi.FIONSPACE) && regOrDir)
        {
            int zero = 0;
            return l.Proc.Vmspace.CopyOut(in zero, data);
        }
        if (cmd == Abi.FIONREAD)
        {
            if (!regOrDir) return Vop.Ioctl(l, Vp, cmd, data);
            int e = VnodeLayer.Getattr(l, Vp, out Vattr va);
            if (e != 0) return e;
            OffsetLock.Enter();
            long left = va.Size - Offset;
            OffsetLock.Exit();
            int n = left <= 0 ? 0 : left > int.MaxValue ? int.MaxValue : (int)left;
            return l.Proc.Vmspace.CopyOut(in n, data);
        }
        if (cmd == Abi.FIONBIO || cmd == Abi.FIOASYNC)
            return 0; // regular files never block
        return Vop.Ioctl(l, Vp, cmd, data);
    }

    /// <summary>
    /// vn_poll: a device's driver answers, a FIFO as a pipe's ends (both for a file open for
    /// both); files and directories are always ready (NetBSD genfs_poll).
    /// </summary>
    public override int Poll(Lwp l, int events)
    {
        if (Spec != null) return Spec.Poll(l, events);
        if (Fifo == null) return base.Poll(l, events);
        int r = 0;
        if (CanRead) r |= Fifo.Poll(l, events, reader: true);
        if (CanWrite) r |= Fifo.Poll(l, events, reader: false);
        return r;
    }

    public override int Fsync(Lwp l, bool dataOnly) => Vop.Fsync(l, Vp, dataOnly);

    protected override void Close(Lwp l)
    {
        Spec?.Close(l, this);
        if (Fifo != null) FifoFs.Close(this);
        Vop.Close(l, Vp, Flag);
        Vp.Rele();
    }
}
