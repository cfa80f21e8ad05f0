using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// specfs for character devices (NetBSD miscfs/specfs): a VCHR vnode on any file system is a door to
/// the driver its rdev names. The file system keeps the node (name, mode, owner, rdev); opening it
/// finds the driver in the kernel's <see cref="Cdevsw"/> (ENXIO if there is none, or on a mount with
/// MNT_NODEV) and calls its open, and the open file's read, write, ioctl and close go to the driver
/// instead of the file system (<see cref="SpecOpen"/>, the file's <see cref="SpecialIo"/>).
/// Block-device nodes are <see cref="BlkOpen"/>'s, FIFOs fifofs's.
///
/// No lock of its own: the switch's lock covers the driver references and open counts, and the
/// file's offset lock is held only to read and advance the offset, never across a driver call, so
/// a read that blocks in the driver does not stop other calls on the same descriptor.
/// </summary>
public static class SpecFs
{
    /// <summary>NetBSD's IO_NDELAY: the file is non-blocking.</summary>
    public const int IoNdelay = 0x0010;
    /// <summary>NetBSD's IOCPARM_MAX: the largest ioctl argument (one page).</summary>
    public const int IocparmMax = 4096;

    /// <summary>spec_open, called by open(2) for a VCHR vnode just opened by its file system. Sets <see cref="VnodeFile.Special"/> on success.</summary>
    internal static int Open(Lwp l, VnodeFile f)
    {
        Vnode vp = f.Vp;
        if ((vp.Mount.Flags & Abi.MNT_NODEV) != 0) return Abi.ENXIO;
        int e = vp.Ops.Getattr(vp, out Vattr va);
        if (e != 0) return e;
        Cdevsw sw = vp.Mount.Vfs.CharDevices;
        Cdevsw.Entry? ent = sw.Acquire(va.Rdev);
        if (ent == null) return Abi.ENXIO;
        // Counted before the driver's open, so that a close racing with it does not close the device under it.
        sw.AdjustOpens(va.Rdev, 1);
        e = ent.Driver.Open(va.Rdev, f.Flag, l);
        if (e != 0) sw.AdjustOpens(va.Rdev, -1);
        sw.Release(ent);
        if (e == 0) f.Special = new SpecOpen(sw, ent, va.Rdev);
        return e;
    }
}

/// <summary>
/// An open character device (one per open file): the driver entry it was opened through and the
/// device number. Calls after the driver detached are ENXIO.
/// </summary>
internal sealed class SpecOpen : SpecialIo
{
    private readonly Cdevsw _sw;
    private readonly Cdevsw.Entry _ent;
    public readonly ulong Dev;

    internal SpecOpen(Cdevsw sw, Cdevsw.Entry ent, ulong dev) { _sw = sw; _ent = ent; Dev = dev; }

    private static int IoFlags(File f) => (f.Flag & Abi.O_NONBLOCK) != 0 ? SpecFs.IoNdelay : 0;

    internal override int Read(Lwp l, VnodeFile f, ref Uio uio, bool useOffset) => Transfer(l, f, ref uio, useOffset, write: false);
    internal override int Write(Lwp l, VnodeFile f, ref Uio uio, bool useOffset) => Transfer(l, f, ref uio, useOffset, write: true);

    private int Transfer(Lwp l, VnodeFile f, ref Uio uio, bool useOffset, bool write)
    {
        if (!_sw.Acquire(_ent)) return Abi.ENXIO;
        int e = AtOffset(f, ref uio, useOffset, (o: this, l, io: IoFlags(f), write), static (s, ref u) => s.write
            ? s.o._ent.Driver.Write(s.o.Dev, ref u, s.io, s.l)
            : s.o._ent.Driver.Read(s.o.Dev, ref u, s.io, s.l));
        _sw.Release(_ent);
        return e;
    }

    /// <summary>sys_ioctl's argument handling (copy in, zero, copy out after success), then the driver's ioctl.</summary>
    internal override int Ioctl(Lwp l, VnodeFile f, ulong cmd, UserPtr data)
    {
        int size = (int)((cmd >> Abi.IOCPARM_SHIFT) & (ulong)Abi.IOCPARM_MASK);
        if (size > SpecFs.IocparmMax) return Abi.ENOTTY;
        bool inArg = (cmd & Abi.IOC_IN) != 0, outArg = (cmd & (ulong)Abi.IOC_OUT) != 0, voidArg = (cmd & (ulong)Abi.IOC_VOID) != 0;
        int len = Math.Max(size, sizeof(long));
        Span<byte> buf = len <= 256 ? stackalloc byte[256] : new byte[len];
        buf = buf.Slice(0, len);
        buf.Clear();
        Vmspace vm = l.Proc.Vmspace;
        int e;
        if (inArg && size > 0)
        {
            e = vm.CopyIn(data, buf.Slice(0, size));
            if (e != 0) return e;
        }
        else if ((inArg && size == 0) || (voidArg && !(outArg && size > 0)))
        {
            // The argument itself, not what it points to.
            System.Runtime.InteropServices.MemoryMarshal.Write(buf, (long)data.Addr);
        }
        if (!_sw.Acquire(_ent)) return Abi.ENXIO;
        e = _ent.Driver.Ioctl(Dev, cmd, buf.Slice(0, size > 0 ? size : sizeof(long)), f.Flag, l);
        _sw.Release(_ent);
        if (e == 0 && outArg && size > 0) e = vm.CopyOut(buf.Slice(0, size), data);
        return e;
    }

    /// <summary>spec_poll: the driver's poll; a detached driver's device reports POLLERR.</summary>
    internal override int Poll(Lwp l, VnodeFile f, int events)
    {
        if (!_sw.Acquire(_ent)) return Abi.POLLERR;
        int r = _ent.Driver.Poll(Dev, events, l);
        _sw.Release(_ent);
        return r;
    }

    /// <summary>The file is closing: the driver's close runs if it was the device's last open file.</summary>
    internal override void Close(Lwp l, VnodeFile f)
    {
        if (_sw.AdjustOpens(Dev, -1) > 0) return;
        if (!_sw.Acquire(_ent)) return;
        _ent.Driver.Close(Dev, f.Flag, l);
        _sw.Release(_ent);
    }
}
