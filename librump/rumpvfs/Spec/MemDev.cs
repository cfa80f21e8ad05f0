using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// NetBSD's mem driver (sys/dev/mm.c), the part a rump kernel can have: /dev/null (minor 2: reads
/// end at once, writes vanish) and /dev/zero (minor 12: reads give zeros, writes vanish), at
/// NetBSD's major 2. /dev/mem and /dev/kmem have no meaning here: ENXIO. Stateless, no lock.
/// </summary>
internal sealed class MemDev : CharDevice
{
    public const uint DevNull = 2;
    public const uint DevZero = 12;

    public override int Open(ulong dev, int fflag, Lwp l)
        => Cdevsw.Minor(dev) is DevNull or DevZero ? 0 : Abi.ENXIO;

    public override int Read(ulong dev, ref Uio uio, int ioflag, Lwp l)
        => Cdevsw.Minor(dev) == DevZero ? uio.MoveZeros(uio.Resid) : 0;

    public override int Write(ulong dev, ref Uio uio, int ioflag, Lwp l)
    {
        // Everything is written; NetBSD's mm_readwrite consumes the request the same way.
        uio.Offset += uio.Resid;
        uio.Resid = 0;
        return 0;
    }

    /// <summary>mm_ioctl: FIONBIO is fine (it never blocks), FIOASYNC only to turn it off, ownership is ENOTTY.</summary>
    public override int Ioctl(ulong dev, ulong cmd, Span<byte> data, int fflag, Lwp l)
    {
        if (cmd == Abi.FIONBIO) return 0;
        if (cmd == Abi.FIOSETOWN || cmd == Abi.FIOGETOWN) return Abi.ENOTTY;
        if (cmd == Abi.FIOASYNC && System.Runtime.InteropServices.MemoryMarshal.Read<int>(data) == 0) return 0;
        return Abi.EOPNOTSUPP;
    }
}
