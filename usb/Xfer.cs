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
    // The state word: the phase (bits 0-1), whether the timeout callout is armed or running and
    // has not yet looked at the xfer (TimeoutSet), whether a run started while it was (TimeoutReset:
    // the callout must re-arm itself for that run instead of acting), and the run number (bits 4+).
    // Start, Complete, the callout and Abort change it only with compare-and-swap.
    private const int PhaseMask = 3, Idle = 0, Running = 1, TimedOut = 2;
    private const int TimeoutSet = 4, TimeoutReset = 8, RunShift = 4;

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
    private readonly Callout _timeout;
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
        _timeout = new Callout(_ => OnTimeout());
    }

    /// <summary>The data as a span (the bytes moved so far after completion: <see cref="ActLen"/>).</summary>
    public Span<byte> Span => new(Data, Length);

    public bool IsIn => Pipe.IsControl ? Setup.IsIn : Pipe.Endpoint.IsIn;

    public bool InFlight => (Volatile.Read(ref _state) & PhaseMask) != Idle;

    /// <summary>
    /// Which run of this xfer is (or was last) in flight: each <see cref="Start"/> makes a new one.
    /// A controller reads it in <see cref="UsbPipeMethods.Transfer"/> and compares it with the run
    /// an abort names (<see cref="UsbPipeMethods.Abort"/>), so that an abort meant for a run that
    /// has ended never ends the next one.
    /// </summary>
    public int RunNumber => Volatile.Read(ref _state) >>> RunShift;

    /// <summary>usbd_transfer: starts the transfer; 0 (the callback will run) or an errno (it will not).</summary>
    public int Start()
    {
        if (Pipe.Closed || Pipe.Device.Gone) return Abi.ENXIO;
        if (Length < 0 || (Length > 0 && Data == null)) return Abi.EINVAL;
        if (Pipe.IsControl && Setup.Length != Length) return Abi.EINVAL;
        // usbd_xfer_schedule_timeout: arm the callout, or, if the last run's callout has fired and
        // not yet looked at the xfer, ask it to re-arm itself for this run.
        int s, n;
        bool arm;
        do
        {
            s = Volatile.Read(ref _state);
            if ((s & PhaseMask) != Idle) Kernel.PanicHere("usb: xfer started while in flight");
            n = (((s >>> RunShift) + 1) << RunShift) | (s & TimeoutSet) | Running;
            arm = false;
            if (TimeoutMs > 0)
            {
                if ((s & TimeoutSet) != 0) n |= TimeoutReset;
                else { n |= TimeoutSet; arm = true; }
            }
        } while (Interlocked.CompareExchange(ref _state, n, s) != s);
        Status = 0;
        ActLen = 0;
        Pipe.Inc();
        // Nothing else arms the callout while TimeoutSet is ours and the transfer has not started.
        if (arm) Kernel.Callouts.Schedule(_timeout, TimeoutMs * 1_000_000L);
        int e = Pipe.Methods.Transfer(this);
        if (e != 0)
        {
            End();
            Pipe.Dec();
        }
        return e;
    }

    /// <summary>
    /// The run ends (completed, or never started): cancels its timeout and makes the xfer idle;
    /// returns the phase it had. usbd_xfer_cancel_timeout_async: a callout stopped before it ran
    /// is gone (TimeoutSet cleared); one already running keeps TimeoutSet and, seeing no run or a
    /// new run with TimeoutReset, does nothing to it.
    /// </summary>
    private int End()
    {
        bool stopped = (Volatile.Read(ref _state) & TimeoutSet) != 0 && Kernel.Callouts.Stop(_timeout);
        int s, n;
        do
        {
            s = Volatile.Read(ref _state);
            n = s & ~(PhaseMask | TimeoutReset);
            if (stopped) n &= ~TimeoutSet;
        } while (Interlocked.CompareExchange(ref _state, n, s) != s);
        return s & PhaseMask;
    }

    /// <summary>
    /// The controller's report that the transfer ended (usb_transfer_complete), in interrupt or
    /// thread context, exactly once per successful <see cref="Start"/>.
    /// </summary>
    public void Complete(int status, int actLen)
    {
        if ((Volatile.Read(ref _state) & PhaseMask) == Idle) Kernel.PanicHere("usb: completion of an xfer not in flight");
        int phase = End();
        // An abort caused by our timeout reports ECANCELED: say why.
        if (phase == TimedOut && status == Abi.ECANCELED) status = Abi.ETIMEDOUT;
        if (status == 0 && actLen < Length && IsIn && (Flags & XferFlags.ShortOk) == 0 && !Pipe.IsControl) status = Abi.EIO;
        Status = status;
        ActLen = Math.Clamp(actLen, 0, Length);
        Pipe.Dec();
        Callback?.Invoke(this);
    }

    /// <summary>Asks the controller to end the run in flight now (usbd_abort_pipe for one xfer).</summary>
    public void Abort()
    {
        int s = Volatile.Read(ref _state);
        if ((s & PhaseMask) != Idle) Pipe.Methods.Abort(this, s >>> RunShift);
    }

    /// <summary>Test seam: called by the timeout callout when it starts (0), before it asks the controller to abort (1), and when it ends (2).</summary>
    internal Action<UsbXfer, int>? TimeoutHook;

    /// <summary>
    /// The timeout callout (usbd_xfer_probe_timeout + the abort). While TimeoutSet is set no other
    /// callout is armed, so this one belongs to the run in flight unless a run started after it
    /// fired (TimeoutReset) or the run it was armed for has ended (Idle).
    /// </summary>
    private void OnTimeout()
    {
        TimeoutHook?.Invoke(this, 0);
        try
        {
            int s, n;
            do
            {
                s = Volatile.Read(ref _state);
                if ((s & TimeoutSet) == 0) Kernel.PanicHere("usb: xfer timeout callout ran while not armed");
                if ((s & TimeoutReset) != 0) n = s & ~TimeoutReset;                          // re-arm for the new run
                else if ((s & PhaseMask) == Running) n = (s & ~(PhaseMask | TimeoutSet)) | TimedOut; // this run timed out
                else n = s & ~TimeoutSet;                                                    // its run ended: nothing to do
            } while (Interlocked.CompareExchange(ref _state, n, s) != s);
            if ((s & TimeoutReset) != 0)
            {
                // The new run may end (End finds the callout not yet pending and leaves TimeoutSet)
                // before this is armed; the callout then fires for nothing and clears TimeoutSet.
                Kernel.Callouts.Schedule(_timeout, Math.Max(1, TimeoutMs) * 1_000_000L);
            }
            else if ((n & PhaseMask) == TimedOut)
            {
                TimeoutHook?.Invoke(this, 1);
                Pipe.Methods.Abort(this, s >>> RunShift);
            }
        }
        finally { TimeoutHook?.Invoke(this, 2); }
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
