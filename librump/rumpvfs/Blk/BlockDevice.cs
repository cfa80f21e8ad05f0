using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A block device (NetBSD's bdevsw entry plus its disk): a range of bytes addressed in sectors.
/// File systems do not call it directly but through the <see cref="BufCache"/>; the cache calls
/// <see cref="Strategy"/>. Offsets and lengths are multiples of <see cref="SectorSize"/>.
/// Errors are NetBSD errnos: EIO for a failed transfer, EROFS for a write to a read-only device,
/// EINVAL for a transfer outside the device.
/// </summary>
public abstract class BlockDevice
{
    /// <summary>NetBSD's DEV_BSIZE: block numbers are counted in these.</summary>
    public const int DevBSize = 512;

    public readonly string Name;
    public readonly long Size;
    public readonly int SectorSize;
    public readonly bool ReadOnly;
    /// <summary>The device number its node carries (st_rdev).</summary>
    public ulong Dev { get; internal set; }
    /// <summary>Set while a file system is mounted from it: a second mount gets EBUSY.</summary>
    internal Mount? MountedBy;
    /// <summary>
    /// Files open on a block-device node of it (<see cref="BlkOpen"/>). Mounting and opening are
    /// exclusive: each side publishes its claim (an interlocked operation, a full fence), then
    /// looks at the other's and backs out if it is there, so of two racing at least one sees the other.
    /// </summary>
    internal int OpenFiles;
    /// <summary>Idle synchronous waiters, reused by <see cref="BioWait"/>; a short spin lock guards the list.</summary>
    private BioWait? _waiters;
    private int _waitersLock;

    internal BioWait? TakeWaiter()
    {
        while (System.Threading.Interlocked.CompareExchange(ref _waitersLock, 1, 0) != 0) CpuPause.Pause(4);
        BioWait? w = _waiters;
        if (w != null) { _waiters = w.Next; w.Next = null; }
        System.Threading.Volatile.Write(ref _waitersLock, 0);
        return w;
    }

    internal void ReturnWaiter(BioWait w)
    {
        while (System.Threading.Interlocked.CompareExchange(ref _waitersLock, 1, 0) != 0) CpuPause.Pause(4);
        w.Next = _waiters;
        _waiters = w;
        System.Threading.Volatile.Write(ref _waitersLock, 0);
    }

    protected BlockDevice(string name, long size, int sectorSize, bool readOnly)
    {
        Name = name; Size = size; SectorSize = sectorSize; ReadOnly = readOnly;
    }

    /// <summary>
    /// Starts a transfer; <paramref name="done"/> runs when it completes, possibly on another host
    /// thread and without a virtual CPU, with the bytes moved and an errno. The buffer stays
    /// pinned by the caller until then.
    /// </summary>
    public abstract unsafe void Strategy(bool write, byte* data, int length, long offset, BioDone done);

    /// <summary>
    /// A synchronous transfer done on the calling thread, for a device that can (a host file: one
    /// preadv/pwritev with the virtual CPU given up around it); false when it cannot, and the
    /// caller starts <see cref="Strategy"/> and waits. <paramref name="error"/>: 0 once all of it
    /// moved, else the errno (EIO for a short transfer).
    /// </summary>
    internal virtual unsafe bool TransferNow(bool write, byte* data, int length, long offset, out int error)
    {
        error = 0;
        return false;
    }

    /// <summary>
    /// Where the <paramref name="length"/> bytes at <paramref name="offset"/> of this device lie in
    /// a host file: its descriptor (the hypervisor's, open while the device is registered) and the
    /// offset in it. False for a device that is no window of a host file (a USB disk) and for a
    /// range outside the device. For a reader outside the kernel that moves the bytes itself
    /// (<see cref="DeviceRunSink"/>: rumpfuse's spliced replies); the kernel's own transfers go
    /// through <see cref="Strategy"/>.
    /// </summary>
    public virtual bool HostRange(long offset, int length, out int fd, out long hostOffset)
    {
        fd = -1;
        hostOffset = 0;
        return false;
    }

    /// <summary>
    /// Memory this device reads into (and writes from) without a copy, for a buffer of
    /// <paramref name="length"/> bytes that lives across transfers (<see cref="DmaMem"/>: a
    /// read-ahead window): at least that long, or null when it has none to lend; the caller then
    /// uses ordinary memory.
    /// </summary>
    public virtual DmaMem? AllocDma(int length) => null;

    /// <summary>Pushes the device's written data to stable storage.</summary>
    public abstract int Flush();

    /// <summary>Checks a transfer's bounds; 0 or an errno.</summary>
    protected int Check(bool write, int length, long offset)
    {
        if (write && ReadOnly) return Abi.EROFS;
        if (offset < 0 || length < 0 || offset + length > Size) return Abi.EINVAL;
        return 0;
    }

    /// <summary>Synchronous transfer for callers outside the cache (partition scanning, probing).</summary>
    public unsafe int ReadSync(Kernel k, long offset, Span<byte> dst)
    {
        fixed (byte* p = dst)
            return BioWait.Run(k, this, write: false, p, dst.Length, offset);
    }

    public unsafe int WriteSync(Kernel k, long offset, ReadOnlySpan<byte> src)
    {
        fixed (byte* p = src)
            return BioWait.Run(k, this, write: true, p, src.Length, offset);
    }

    public override string ToString() => Name;
}

/// <summary>Completion of a block transfer: bytes moved and a NetBSD errno.</summary>
public abstract class BioDone
{
    /// <summary>The kernel whose interrupt context runs the completion (set by the device that starts the transfer).</summary>
    internal Kernel? IntrKernel;
    public abstract void Done(long bytes, int error);
}
