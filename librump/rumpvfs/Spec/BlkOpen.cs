using System;
using System.Buffers;
using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// An open block-device node (NetBSD spec_open, spec_read and spec_write for VBLK): a block
/// device's data at any offset and length. Unlike the raw side (<see cref="RumpblkRaw"/>, which
/// asks for whole sectors), the sectors around a transfer are read, and for a write read, changed
/// and written back. The device ends at its last whole sector: a read there is end of file, a
/// write ENOSPC (or the bytes written before it). A device that is mounted is EBUSY to open, and
/// one open here is EBUSY to mount (NetBSD's vfs_mountedon and the file systems' vcount check):
/// the file system's buffer cache and the file never hold the same blocks. Each call looks its
/// device up by number (ENXIO once etfs has removed it).
///
/// No lock of its own: <see cref="BlockDevice.OpenFiles"/> is changed atomically, and a transfer
/// holds the file's offset lock only to read and advance the offset (<see cref="SpecialIo.AtOffset"/>).
/// </summary>
internal sealed class BlkOpen : SpecialIo
{
    private const int Chunk = 64 * 1024;
    private readonly Vfs _vfs;
    private readonly BlockDevice _dev;

    private BlkOpen(Vfs vfs, BlockDevice dev) { _vfs = vfs; _dev = dev; }

    /// <summary>spec_open for VBLK: ENXIO for no device (or a MNT_NODEV mount), EROFS to write a read-only one, EBUSY if mounted.</summary>
    internal static int Open(Lwp l, VnodeFile f)
    {
        Vnode vp = f.Vp;
        if ((vp.Mount.Flags & Abi.MNT_NODEV) != 0) return Abi.ENXIO;
        int e = vp.Ops.Getattr(vp, out Vattr va);
        if (e != 0) return e;
        Vfs vfs = vp.Mount.Vfs;
        BlockDevice? d = vfs.Devices.Lookup(va.Rdev);
        if (d == null) return Abi.ENXIO;
        if (f.CanWrite && d.ReadOnly) return Abi.EROFS;
        Interlocked.Increment(ref d.OpenFiles);
        if (Volatile.Read(ref d.MountedBy) != null)
        {
            Interlocked.Decrement(ref d.OpenFiles);
            return Abi.EBUSY;
        }
        f.Special = new BlkOpen(vfs, d);
        return 0;
    }

    internal override int Read(Lwp l, VnodeFile f, ref Uio uio, bool useOffset)
        => AtOffset(f, ref uio, useOffset, (o: this, l, write: false), static (s, ref u) => s.o.Transfer(s.l, ref u, s.write));

    internal override int Write(Lwp l, VnodeFile f, ref Uio uio, bool useOffset)
        => AtOffset(f, ref uio, useOffset, (o: this, l, write: true), static (s, ref u) => s.o.Transfer(s.l, ref u, s.write));

    private int Transfer(Lwp l, ref Uio uio, bool write)
    {
        BlockDevice d = _dev;
        if (_vfs.Devices.Lookup(d.Dev) != d) return Abi.ENXIO;
        if (uio.Offset < 0) return Abi.EINVAL;
        int ss = d.SectorSize;
        long limit = d.Size - d.Size % ss;
        byte[] buf = ArrayPool<byte>.Shared.Rent(Chunk);
        try
        {
            bool moved = false;
            while (uio.Resid > 0)
            {
                long off = uio.Offset;
                if (off >= limit) return write && !moved ? Abi.ENOSPC : 0;
                long start = off - off % ss;
                long want = Math.Min(off + uio.Resid, limit);
                long end = Math.Min(want + (ss - want % ss) % ss, limit);
                int n = (int)Math.Min(end - start, Chunk);
                int skip = (int)(off - start);
                int len = (int)Math.Min(n - skip, uio.Resid);
                Span<byte> b = buf.AsSpan(0, n);
                int e;
                if (write)
                {
                    // Sectors the write covers only in part keep the rest of their bytes.
                    if ((skip != 0 || len != n) && (e = d.ReadSync(l.Kernel, start, b)) != 0) return e;
                    if ((e = uio.Move(b.Slice(skip, len))) != 0) return e;
                    if ((e = d.WriteSync(l.Kernel, start, b)) != 0) return e;
                }
                else
                {
                    if ((e = d.ReadSync(l.Kernel, start, b)) != 0) return e;
                    if ((e = uio.Move((ReadOnlySpan<byte>)b.Slice(skip, len))) != 0) return e;
                }
                moved = true;
            }
            return 0;
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>No block-device ioctls yet (the disk label ones are the raw side's in NetBSD too).</summary>
    internal override int Ioctl(Lwp l, VnodeFile f, ulong cmd, UserPtr data)
        => cmd is Abi.FIONBIO or Abi.FIOASYNC ? 0 : Abi.ENOTTY;

    /// <summary>A disk is always ready (NetBSD genfs_poll).</summary>
    internal override int Poll(Lwp l, VnodeFile f, int events)
        => events & (Abi.POLLIN | Abi.POLLRDNORM | Abi.POLLOUT | Abi.POLLWRNORM);

    internal override void Close(Lwp l, VnodeFile f) => Interlocked.Decrement(ref _dev.OpenFiles);
}
