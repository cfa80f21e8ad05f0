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
    /// <summary>For an open device or FIFO: its driver, block device or pipe (Spec/SpecialIo.cs), which gets the I/O instead of the file system.</summary>
    internal SpecialIo? Special;

    internal bool CanRead => (Flag & FREAD) != 0;
    internal bool CanWrite => (Flag & FWRITE) != 0;

    public VnodeFile(Lwp l, Vnode vp, int fflag) : base(l.Kernel, fflag)
    {
        Vp = vp;
    }

    public override bool IsSeekable => Vp.Type is VType.VREG or VType.VDIR or VType.VBLK or VType.VCHR;

    public override int Read(Lwp l, ref Uio uio, bool useOffset)
    {
        if (Special != null) return Special.Read(l, this, ref uio, useOffset);
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
        if (Special != null) return Special.Write(l, this, ref uio, useOffset);
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
        if (Special != null) return Special.Ioctl(l, this, cmd, data);
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

    /// <summary>vn_poll: a device's driver or a FIFO's pipe answers; files and directories are always ready (NetBSD genfs_poll).</summary>
    public override int Poll(Lwp l, int events) => Special != null ? Special.Poll(l, this, events) : base.Poll(l, events);

    public override int Fsync(Lwp l, bool dataOnly) => Vop.Fsync(l, Vp, dataOnly);

    protected override void Close(Lwp l)
    {
        Special?.Close(l, this);
        Vop.Close(l, Vp, Flag);
        Vp.Rele();
    }
}
