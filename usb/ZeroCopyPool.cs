using System.Threading;
using Rump.Kern;
using Rump.Usb.Hyper;

namespace Rump.Usb;

/// <summary>
/// One open host device's zero-copy buffers: rumpusb_alloc memory that is libusb_dev_mem_alloc's,
/// mapped from the host kernel's usbfs, so a transfer whose buffer lies in one moves with no copy
/// and no allocation in the host kernel. ugenhc uses them two ways:
/// - as a bounce buffer for a large bulk transfer to or from a caller's ordinary memory (our one
///   copy, which under emulation costs less than usbfs's allocation and copy);
/// - lent to the drivers above as DMA memory (<see cref="DmaMem"/>, through
///   <see cref="UsbBus.AllocDma"/>): a transfer straight into a lent buffer is not copied at all,
///   which is what a read-ahead window of the buffer cache wants.
/// At most <see cref="MaxBufs"/> are made per device (usbfs's memory for them is bounded host-wide,
/// 16 MiB by default) and at most <see cref="MaxLoans"/> of them lent, so bounce buffers remain.
/// Once the host gives ordinary memory or none, no more are made.
///
/// Lifetime: rumpusb_close frees every buffer of the device, so the pool owns the close
/// (<see cref="Close"/>). While buffers are out or one is being made, the close waits for the last
/// of them to come back: a holder copying out of a lent buffer after an unplug reads memory that
/// is still mapped, and rumpusb_alloc never runs on a closed device.
///
/// Locks: a spin flag (a leaf held for a few instructions, also in interrupt context) protects the
/// idle list, the counts and the closing state. A slot of the table of buffers is written once,
/// under it, and read without it (<see cref="Contains"/>).
/// </summary>
internal sealed unsafe class ZeroCopyPool
{
    /// <summary>The buffers' size: umass's largest transfer (larger ones use the caller's buffer).</summary>
    public const int BufBytes = 1 << 20;
    public const int MaxBufs = 6, MaxLoans = 4;

    private readonly UgenhcBus _bus;
    /// <summary>The device, for the message of a deferred close ("46f4:0001 (host bus 1 address 2, ...)").</summary>
    private readonly string _name;
    private nint _handle;
    private readonly ZeroCopyBuf?[] _bufs = new ZeroCopyBuf?[MaxBufs];
    private readonly ZeroCopyBuf[] _idle = new ZeroCopyBuf[MaxBufs];
    private int _idleCount, _made, _out, _loans, _making, _lock;
    private bool _noMore, _closing, _deferred;

    public ZeroCopyPool(UgenhcBus bus, nint handle, string name) { _bus = bus; _handle = handle; _name = name; }

    /// <summary>Buffers lent as DMA memory now (for tests and diagnostics).</summary>
    public int Loans => Volatile.Read(ref _loans);

    private void Lock() { while (Interlocked.CompareExchange(ref _lock, 1, 0) != 0) Thread.SpinWait(4); }
    private void Unlock() => Volatile.Write(ref _lock, 0);

    /// <summary>
    /// An idle buffer for <paramref name="len"/> bytes, made if there are fewer than
    /// <see cref="MaxBufs"/>, and counted as a loan when <paramref name="loan"/>; null when none
    /// can be had (the caller uses ordinary memory). rumpusb_alloc maps memory and does not wait.
    /// Any context.
    /// </summary>
    public ZeroCopyBuf? Take(int len, bool loan)
    {
        if (len > BufBytes) return null;
        Lock();
        if (_closing || (loan && _loans >= MaxLoans) || (_idleCount == 0 && (_noMore || _made >= MaxBufs)))
        {
            Unlock();
            return null;
        }
        _out++;
        if (loan) _loans++;
        if (_idleCount > 0)
        {
            ZeroCopyBuf b = _idle[--_idleCount];
            b.Lent = loan;
            b.Out = true;
            Unlock();
            return b;
        }
        int slot = _made++;
        _making++;
        nint h = _handle;
        Unlock();

        void* p = RumpUserUsb.rumpusb_alloc(h, BufBytes);
        if (p != null && RumpUserUsb.rumpusb_is_zerocopy(h, p) == 0)
        {
            // Ordinary memory: bouncing through it would only add a copy.
            RumpUserUsb.rumpusb_free(h, p, BufBytes);
            p = null;
        }
        ZeroCopyBuf? made = p == null ? null : new ZeroCopyBuf(this, (byte*)p, BufBytes) { Lent = loan, Out = true };
        Lock();
        _making--;
        if (made != null) Volatile.Write(ref _bufs[slot], made);
        else
        {
            _noMore = true;   // the slot stays empty
            _out--;
            if (loan) _loans--;
        }
        nint close = TakeHandleIfDueLocked();
        Unlock();
        if (close != 0) CloseHost(close);
        return made;
    }

    /// <summary>Gives a buffer back (a bounce buffer after its transfer, or a loan). Any context but the last one after a close: thread context.</summary>
    public void Return(ZeroCopyBuf b)
    {
        Lock();
        if (!b.Out)
        {
            Unlock();
            _bus.Kernel.PanicHere("ugenhc: a zero-copy buffer given back twice");
            return;
        }
        b.Out = false;
        _out--;
        if (b.Lent) { _loans--; b.Lent = false; }
        _idle[_idleCount++] = b;
        nint close = TakeHandleIfDueLocked();
        Unlock();
        if (close != 0) CloseHost(close);
    }

    /// <summary>The pool's buffer that holds all of [<paramref name="p"/>, +<paramref name="len"/>), or null. Any context, no lock.</summary>
    public ZeroCopyBuf? Contains(byte* p, int len)
    {
        for (int i = 0; i < MaxBufs; i++)
        {
            ZeroCopyBuf? b = Volatile.Read(ref _bufs[i]);
            if (b != null && p >= b.Pointer && p + len <= b.Pointer + b.Length) return b;
        }
        return null;
    }

    /// <summary>
    /// The device is going away (its pipes are closed and every completion has run): closes it
    /// now, or when the last buffer out comes back. Thread context.
    /// </summary>
    public void Close()
    {
        Lock();
        _closing = true;
        nint close = TakeHandleIfDueLocked();
        _deferred = close == 0 && _handle != 0;
        Unlock();
        if (close != 0) CloseHost(close);
    }

    private void CloseHost(nint h)
    {
        _bus.CloseHost(h);
        if (_deferred) _bus.Kernel.Aprint("ugenhc: " + _name + " closed, now that the DMA memory it lent is back\n");
    }

    /// <summary>
    /// With the lock held: the handle to close when the close is due (closing, nothing out, nothing
    /// being made), else 0. Once due it is taken, so exactly one caller closes.
    /// </summary>
    private nint TakeHandleIfDueLocked()
    {
        if (!_closing || _out != 0 || _making != 0 || _handle == 0) return 0;
        nint h = _handle;
        _handle = 0;
        _idleCount = 0;
        for (int i = 0; i < MaxBufs; i++) _bufs[i] = null;
        return h;
    }
}

/// <summary>One zero-copy buffer of a host device (see <see cref="ZeroCopyPool"/>); as a loan it is DMA memory.</summary>
internal sealed unsafe class ZeroCopyBuf : DmaMem
{
    private readonly ZeroCopyPool _pool;
    /// <summary>Under the pool's lock: taken from the pool, and lent as DMA memory (not a bounce buffer).</summary>
    internal bool Out, Lent;

    public ZeroCopyBuf(ZeroCopyPool pool, byte* p, int len) { _pool = pool; Pointer = p; Length = len; }

    public override void Release() => _pool.Return(this);
}
