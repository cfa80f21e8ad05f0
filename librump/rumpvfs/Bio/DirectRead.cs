using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// One asynchronous read on the buffer cache's direct path (<see cref="BufCache.ReadUncached"/>):
/// a file system's read-ahead window. A range of a device is read, without making buffers, into
/// the device's own DMA memory when it lends some (<see cref="BlockDevice.AllocDma"/>: a USB
/// stick's zero-copy memory, so the bytes are not copied on their way in), else into a staging
/// buffer of the cache's pool, while its owner consumes the range before it; the owner then copies
/// straight out of it.
///
/// Its data is served only while it is fresh: the cache marks the window stale when a buffer in
/// its range is dirtied or written (<see cref="BufCache.Bdwrite"/>, <see cref="BufCache.Bwrite"/>),
/// and <see cref="Fresh"/> looks at the cache again for a dirty buffer or one being changed. The
/// file system must also drop its windows when a file's clusters move (a write, a truncation): a
/// new mapping of the file is invisible here.
///
/// Locks: the completion's fields are under its own leaf lock (<see cref="BioCompletion"/>; the
/// completion, in interrupt context, takes only it). <see cref="Stale"/> and the cache's list of
/// windows are under the cache's lock. One owner (a reader under its file system's lock) calls
/// Start, Wait and Release, one at a time.
/// Lifetime: from Start to <see cref="Release"/> the memory is lent to the device (a staging buffer
/// pinned); Release waits for the transfer to end before giving it back, so no memory returns to
/// its pool while a transfer may still write into it.
/// </summary>
public sealed unsafe class DirectRead : BioCompletion
{
    private readonly BufCache _c;
    /// <summary>While active: the device's DMA memory, or a pinned staging buffer; and where the data lands.</summary>
    private DmaMem? _dma;
    private byte[]? _buf;
    private GCHandle _pin;
    private byte* _data;

    /// <summary>Under the cache's lock: a block in the range was written or dirtied since the start.</summary>
    internal bool Stale;
    /// <summary>Under the cache's lock: the cache's list of windows that hold a staging buffer.</summary>
    internal DirectRead? NextWindow;

    public BlockDevice? Dev { get; private set; }
    public long Blkno { get; private set; }
    public int Length { get; private set; }
    /// <summary>The file system's block size for the range (the unit the cache is checked in).</summary>
    internal int BlockSize { get; private set; }

    /// <summary>Started and not yet released.</summary>
    public bool Active => _data != null;

    public DirectRead(BufCache c, Kernel k) : base(k)
    {
        _c = c;
    }

    /// <summary>
    /// Starts reading <paramref name="length"/> bytes from block <paramref name="blkno"/> when the
    /// cache has nothing newer for them and has room for another window; false (nothing started)
    /// otherwise. Must not be active.
    /// </summary>
    public bool Start(BlockDevice dev, long blkno, int blockSize, int length)
    {
        if (_data != null) Kernel.Panic("direct read: started twice");
        if (!_c.RegisterWindow(this, dev, blkno, blockSize, length)) return false;
        Dev = dev; Blkno = blkno; Length = length; BlockSize = blockSize;
        Arm();
        _dma = dev.AllocDma(length);
        if (_dma != null) _data = _dma.Pointer;
        else
        {
            _buf = _c.RentStaging(length);
            _pin = GCHandle.Alloc(_buf, GCHandleType.Pinned);
            _data = (byte*)_pin.AddrOfPinnedObject();
        }
        dev.Strategy(write: false, _data, length, blkno * BlockDevice.DevBSize, this);
        return true;
    }

    /// <summary>Sleeps until the transfer ends; 0 if all of it was read, else the errno.</summary>
    public int Wait() => WaitDone(Length);

    /// <summary>After <see cref="Wait"/>: whether the data still is what the device and the cache hold.</summary>
    public bool Fresh() => _c.WindowFresh(this);

    /// <summary>The data (valid after <see cref="Wait"/> returned 0 and while <see cref="Fresh"/>).</summary>
    public ReadOnlySpan<byte> Data => new(_data, Length);

    /// <summary>Waits for the transfer (if any) and gives the staging buffer back.</summary>
    public void Release()
    {
        if (_data == null) return;
        Wait();
        if (_dma != null) _dma.Release();
        else
        {
            _pin.Free();
            _c.ReturnStaging(_buf!);
        }
        _dma = null;
        _buf = null;
        _data = null;
        _c.UnregisterWindow(this);
        Dev = null;
    }
}
