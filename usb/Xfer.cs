using System;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Usb;

/// <summary>Transfer flags (NetBSD USBD_SHORT_XFER_OK and friends).</summary>
[Flags]
public enum XferFlags
{
    None = 0,
    /// <summary>Less data than asked is not an error (IN only).</summary>
    ShortOk = 1,
}

/// <summary>
/// One transfer (NetBSD usbd_xfer): a pipe, a buffer, a length, a timeout and a completion callback.
/// A driver keeps its xfers and reuses them; one xfer is in flight at most once at a time. The
/// buffer is unmanaged memory the caller keeps valid until the completion: an xfer's own pinned
/// buffer (<see cref="Buffer"/>, from <see cref="UsbXfer(UsbPipe,int)"/>) or memory the caller
/// pins (a block-device buffer: no copy between the buffer cache and the controller).
/// For a control pipe, <see cref="Setup"/> is the request and the buffer its data stage.
/// </summary>
public sealed unsafe class UsbXfer
{
    private const int Idle = 0, Running = 1, TimedOut = 2;

    public readonly UsbPipe Pipe;
    public readonly Kernel Kernel;
    /// <summary>The xfer's own pinned buffer (may be empty; <see cref="Data"/> may point elsewhere).</summary>
    public readonly byte[] Buffer;
    public byte* Data;
    public int Length;
    public SetupPacket Setup;
    public XferFlags Flags;
    /// <summary>Milliseconds; 0 for none.</summary>
    public int TimeoutMs;
    /// <summary>Runs in interrupt context when the transfer ends. Must not sleep.</summary>
    public Action<UsbXfer>? Callback;
    /// <summary>The driver's state for the callback.</summary>
    public object? Priv;
    /// <summary>The controller's state for this transfer.</summary>
    public object? HcPriv;

    public int Status;
    public int ActLen;

    private int _state;
    /// <summary>
    /// Two timeout callouts used by alternate runs (<see cref="_run"/> parity): a callout of the
    /// previous run that was already firing when its transfer completed finds the other parity
    /// current and does nothing, instead of aborting the restarted transfer.
    /// </summary>
    private readonly Callout[] _timeouts;
    private int _run;
    private KMutex? _syncLock;
    private KCondvar? _syncCv;
    private bool _syncDone;

    public UsbXfer(UsbPipe pipe, int bufferBytes)
    {
        Pipe = pipe;
        Kernel = pipe.Device.Bus.Kernel;
        Buffer = bufferBytes > 0 ? GC.AllocateArray<byte>(bufferBytes, pinned: true) : Array.Empty<byte>();
        Data = bufferBytes > 0 ? (byte*)Unsafe.AsPointer(ref Buffer[0]) : null;
        Length = bufferBytes;
        _timeouts = new[] { new Callout(_ => OnTimeout(0)), new Callout(_ => OnTimeout(1)) };
    }

    /// <summary>The data as a span (the bytes moved so far after completion: <see cref="ActLen"/>).</summary>
    public Span<byte> Span => new(Data, Length);

    public bool IsIn => Pipe.IsControl ? Setup.IsIn : Pipe.Endpoint.IsIn;

    public bool InFlight => Volatile.Read(ref _state) != Idle;

    /// <summary>usbd_transfer: starts the transfer; 0 (the callback will run) or an errno (it will not).</summary>
    public int Start()
    {
        if (Pipe.Closed || Pipe.Device.Gone) return Abi.ENXIO;
        if (Length < 0 || (Length > 0 && Data == null)) return Abi.EINVAL;
        if (Pipe.IsControl && Setup.Length != Length) return Abi.EINVAL;
        if (Interlocked.CompareExchange(ref _state, Running, Idle) != Idle)
            Kernel.PanicHere("usb: xfer started while in flight");
        Status = 0;
        ActLen = 0;
        Pipe.Inc();
        int run = Interlocked.Increment(ref _run);
        if (TimeoutMs > 0) Kernel.Callouts.Schedule(_timeouts[run & 1], TimeoutMs * 1_000_000L);
        int e = Pipe.Methods.Transfer(this);
        if (e != 0)
        {
            Kernel.Callouts.Stop(_timeouts[run & 1]);
            Pipe.Dec();
            Volatile.Write(ref _state, Idle);
        }
        return e;
    }

    /// <summary>
    /// The controller's report that the transfer ended (usb_transfer_complete), in interrupt or
    /// thread context, exactly once per successful <see cref="Start"/>.
    /// </summary>
    public void Complete(int status, int actLen)
    {
        int st = Volatile.Read(ref _state);
        if (st == Idle) Kernel.PanicHere("usb: completion of an xfer not in flight");
        Kernel.Callouts.Stop(_timeouts[Volatile.Read(ref _run) & 1]);
        // An abort caused by our timeout reports ECANCELED: say why.
        if (st == TimedOut && status == Abi.ECANCELED) status = Abi.ETIMEDOUT;
        if (status == 0 && actLen < Length && IsIn && (Flags & XferFlags.ShortOk) == 0 && !Pipe.IsControl) status = Abi.EIO;
        Status = status;
        ActLen = Math.Clamp(actLen, 0, Length);
        Volatile.Write(ref _state, Idle);
        Pipe.Dec();
        Callback?.Invoke(this);
    }

    /// <summary>Asks the controller to end the transfer now (usbd_abort_pipe for one xfer).</summary>
    public void Abort()
    {
        if (Volatile.Read(ref _state) != Idle) Pipe.Methods.Abort(this);
    }

    private void OnTimeout(int parity)
    {
        if ((Volatile.Read(ref _run) & 1) != parity) return; // a previous run's, already over
        if (Interlocked.CompareExchange(ref _state, TimedOut, Running) == Running) Pipe.Methods.Abort(this);
    }

    /// <summary>
    /// usbd_sync_transfer: starts the transfer and sleeps (without its virtual CPU) until it ends.
    /// Thread context. Returns the status.
    /// </summary>
    public int Run()
    {
        _syncLock ??= new KMutex(Kernel);
        _syncCv ??= new KCondvar(Kernel);
        Action<UsbXfer>? saved = Callback;
        _syncDone = false;
        Callback = SyncDone;
        int e = Start();
        if (e != 0) { Callback = saved; return e; }
        _syncLock.Enter();
        while (!_syncDone) _syncCv.Wait(_syncLock);
        _syncLock.Exit();
        Callback = saved;
        return Status;
    }

    private static void SyncDone(UsbXfer x)
    {
        x._syncLock!.Enter();
        x._syncDone = true;
        x._syncCv!.Broadcast();
        x._syncLock.Exit();
    }
}

internal static class Unsafe
{
    public static unsafe void* AsPointer(ref byte b) => System.Runtime.CompilerServices.Unsafe.AsPointer(ref b);
}
