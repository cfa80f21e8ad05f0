using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The raw (character) side of rumpblk, NetBSD's major 197 in both switches: an etfs key
/// registered as RUMP_ETFS_CHR, or a character node made for a block device's number, reads and
/// writes the device directly, bypassing the buffer cache, as NetBSD's physio does: offsets and
/// lengths must be multiples of the sector size (EINVAL), a transfer starting at the end moves
/// nothing, one starting beyond it is EINVAL. Raw writes to a mounted device are the writer's
/// business, as in NetBSD. No lock: each call looks its device up in the block switch.
/// </summary>
internal sealed class RumpblkRaw : CharDevice
{
    private const int Chunk = 64 * 1024;
    private readonly Vfs _vfs;

    public RumpblkRaw(Vfs vfs) { _vfs = vfs; }

    public override int Open(ulong dev, int fflag, Lwp l)
    {
        BlockDevice? d = _vfs.Devices.Lookup(dev);
        if (d == null) return Abi.ENXIO;
        return (fflag & File.FWRITE) != 0 && d.ReadOnly ? Abi.EROFS : 0;
    }

    public override int Read(ulong dev, ref Uio uio, int ioflag, Lwp l) => Transfer(dev, ref uio, l, write: false);
    public override int Write(ulong dev, ref Uio uio, int ioflag, Lwp l) => Transfer(dev, ref uio, l, write: true);

    private int Transfer(ulong dev, ref Uio uio, Lwp l, bool write)
    {
        BlockDevice? d = _vfs.Devices.Lookup(dev);
        if (d == null) return Abi.ENXIO;
        if (write && d.ReadOnly) return Abi.EROFS;
        int ss = d.SectorSize;
        if (uio.Offset < 0 || uio.Offset % ss != 0 || uio.Resid % ss != 0) return Abi.EINVAL;
        if (uio.Offset > d.Size) return Abi.EINVAL;
        long end = d.Size - d.Size % ss;
        byte[] buf = new byte[(int)Math.Min(Chunk, Math.Max(uio.Resid, ss))];
        while (uio.Resid > 0 && uio.Offset < end)
        {
            int n = (int)Math.Min(Math.Min(buf.Length, uio.Resid), end - uio.Offset);
            long off = uio.Offset;
            Span<byte> b = buf.AsSpan(0, n);
            int e;
            if (write)
            {
                e = uio.Move(b);
                if (e == 0) e = d.WriteSync(l.Kernel, off, b);
            }
            else
            {
                e = d.ReadSync(l.Kernel, off, b);
                if (e == 0) e = uio.Move((ReadOnlySpan<byte>)b);
            }
            if (e != 0) return e;
        }
        return 0;
    }
}
