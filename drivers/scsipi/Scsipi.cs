using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Dev;
using Rump.Dev.Scsipi.Wire;
using Rump.Kern;

namespace Rump.Dev.Scsipi;

/// <summary>
/// scsipi (NetBSD sys/dev/scsipi/scsipi_base.c): commands from peripheral drivers (sd) to the
/// adapter of a transport (umass). A <see cref="ScsipiChannel"/> queues commands and gives the
/// adapter one at a time; when one ends with CHECK CONDITION it fetches the sense data itself
/// (REQUEST SENSE, "autosense") before completing it. Everything is asynchronous: callbacks run
/// in the context the adapter completes in (interrupt context for umass) and must not sleep;
/// <see cref="ScsipiXfer.Run"/> is the synchronous form for thread context.
///
/// Locks: <see cref="ScsipiChannel._lock"/> (a leaf) protects the queue and the busy flag; adapters
/// are called and callbacks run without it.
/// </summary>
public abstract class ScsipiAdapter
{
    /// <summary>Highest LUN to probe.</summary>
    public abstract int MaxLun { get; }

    /// <summary>
    /// Starts <paramref name="xs"/> (one at a time per adapter) and later calls
    /// <see cref="ScsipiXfer.AdapterDone"/> once, in any context. Must not sleep.
    /// </summary>
    public abstract void Request(ScsipiXfer xs);

    /// <summary>Largest data transfer one command may move.</summary>
    public virtual int MaxTransfer => 64 * 1024;

    /// <summary>Memory the transport moves commands' data with no copy (<see cref="Rump.Vfs.BlockDevice.AllocDma"/>), or null.</summary>
    public virtual DmaMem? AllocDma(int length) => null;
}

/// <summary>One SCSI command and its outcome (NetBSD scsipi_xfer).</summary>
public sealed unsafe class ScsipiXfer
{
    public readonly ScsipiChannel Channel;
    public readonly byte[] Cdb = new byte[16];
    public int CdbLen;
    public byte Lun;
    public byte* Data;
    public int DataLen;
    public bool DataIn;
    public int TimeoutMs = 10_000;
    public Action<ScsipiXfer>? Callback;
    public object? Priv;

    /// <summary>Transport error: 0, EIO, ETIMEDOUT, ENXIO (the device is gone).</summary>
    public int Error;
    public byte Status;
    public int Resid;
    public SenseData Sense;
    public bool SenseValid;

    private readonly byte[] _senseBuf;
    private bool _sensing;
    private KMutex? _m;
    private KCondvar? _cv;
    private bool _done;

    public ScsipiXfer(ScsipiChannel ch)
    {
        Channel = ch;
        _senseBuf = GC.AllocateArray<byte>(SenseData.FixedSize + 14, pinned: true);
    }

    /// <summary>The adapter's report: the transport result, the SCSI status, and the residue.</summary>
    public void AdapterDone(int error, byte status, int resid)
    {
        if (_sensing)
        {
            _sensing = false;
            SenseValid = error == 0 && status == ScsiStatus.Good &&
                         SenseData.Parse(_senseBuf.AsSpan(0, _senseBuf.Length - resid), out Sense) == 0;
            Channel.Finished(this);
            return;
        }
        Error = error;
        Status = status;
        Resid = resid;
        if (error == 0 && status == ScsiStatus.CheckCondition)
        {
            // Autosense: the same xfer carries the REQUEST SENSE, then completes as the original.
            _sensing = true;
            SaveAndSend();
            return;
        }
        Channel.Finished(this);
    }

    private byte[]? _saved;
    private byte* _savedData;
    private int _savedLen, _savedCdbLen;
    private bool _savedIn;

    private void SaveAndSend()
    {
        _saved ??= new byte[16];
        Cdb.CopyTo(_saved, 0);
        _savedData = Data; _savedLen = DataLen; _savedIn = DataIn; _savedCdbLen = CdbLen;
        CdbLen = Wire.Cdb.RequestSense(Cdb, (byte)_senseBuf.Length);
        fixed (byte* p = _senseBuf) Data = p; // pinned array: the address stays valid
        DataLen = _senseBuf.Length;
        DataIn = true;
        Channel.Adapter.Request(this);
    }

    internal void Restore()
    {
        if (_saved == null || _savedCdbLen == 0) return;
        _saved.CopyTo(Cdb, 0);
        Data = _savedData; DataLen = _savedLen; DataIn = _savedIn; CdbLen = _savedCdbLen;
        _savedCdbLen = 0;
    }

    internal void Reset()
    {
        Error = 0; Status = 0; Resid = 0; SenseValid = false; _sensing = false; _savedCdbLen = 0;
    }

    /// <summary>The outcome as an errno: 0, the transport error, or one from the sense key.</summary>
    public int Errno()
    {
        if (Error != 0) return Error;
        if (Status == ScsiStatus.Good) return 0;
        if (Status != ScsiStatus.CheckCondition || !SenseValid) return Abi.EIO;
        return Sense.Key switch
        {
            SenseKey.NoSense or SenseKey.RecoveredError => 0,
            SenseKey.NotReady => Abi.ENODEV,
            SenseKey.UnitAttention => Abi.EAGAIN,
            SenseKey.DataProtect => Abi.EROFS,
            SenseKey.IllegalRequest => Abi.EINVAL,
            _ => Abi.EIO,
        };
    }

    /// <summary>Runs the command and sleeps until it ends (thread context); returns <see cref="Errno"/>.</summary>
    public int Run()
    {
        _m ??= new KMutex(Channel.Kernel);
        _cv ??= new KCondvar(Channel.Kernel);
        Action<ScsipiXfer>? cb = Callback;
        _done = false;
        Callback = static x => { x._m!.Enter(); x._done = true; x._cv!.Broadcast(); x._m.Exit(); };
        Channel.Enqueue(this);
        _m.Enter();
        while (!_done) _cv.Wait(_m);
        _m.Exit();
        Callback = cb;
        return Errno();
    }

    /// <summary>Fills the CDB from <paramref name="cdb"/> with no data stage.</summary>
    public void Set(ReadOnlySpan<byte> cdb, byte lun)
    {
        cdb.CopyTo(Cdb);
        CdbLen = cdb.Length;
        Lun = lun;
        Data = null; DataLen = 0; DataIn = false;
    }
}

/// <summary>A SCSI bus of one adapter: the command queue (NetBSD scsipi_channel).</summary>
public sealed class ScsipiChannel
{
    public readonly Kernel Kernel;
    public readonly ScsipiAdapter Adapter;
    private readonly KMutex _lock;
    private readonly Queue<ScsipiXfer> _queue = new();
    private bool _busy;
    /// <summary>Set when the transport is gone: every command fails with ENXIO.</summary>
    public volatile bool Dead;

    public ScsipiChannel(Kernel k, ScsipiAdapter a) { Kernel = k; Adapter = a; _lock = new KMutex(k); }

    /// <summary>Queues <paramref name="xs"/>; its callback runs when it ends. Any context.</summary>
    public void Enqueue(ScsipiXfer xs)
    {
        xs.Reset();
        if (Dead) { xs.Error = Abi.ENXIO; xs.Callback?.Invoke(xs); return; }
        _lock.Enter();
        if (_busy) { _queue.Enqueue(xs); _lock.Exit(); return; }
        _busy = true;
        _lock.Exit();
        Adapter.Request(xs);
    }

    internal void Finished(ScsipiXfer xs)
    {
        xs.Restore();
        ScsipiXfer? next = null;
        _lock.Enter();
        if (_queue.Count > 0) next = _queue.Dequeue();
        else _busy = false;
        _lock.Exit();
        // The next command goes to the adapter before this one's callback runs: the device works
        // on it while the callback wakes its waiter (or copies), instead of idling until then.
        if (next != null)
        {
            if (Dead) { next.Error = Abi.ENXIO; Finished(next); }
            else Adapter.Request(next);
        }
        xs.Callback?.Invoke(xs);
    }
}

/// <summary>What a transport gives scsibus: its channel (NetBSD scsipi_channel in the attach args).</summary>
public sealed class ScsibusArgs
{
    public readonly ScsipiChannel Channel;
    public ScsibusArgs(ScsipiChannel c) { Channel = c; }
}

/// <summary>What scsibus gives a peripheral driver: where it is and what INQUIRY said.</summary>
public sealed class ScsiPeriphArgs
{
    public readonly ScsipiChannel Channel;
    public readonly byte Lun;
    public readonly InquiryData Inquiry;
    public ScsiPeriphArgs(ScsipiChannel c, byte lun, InquiryData inq) { Channel = c; Lun = lun; Inquiry = inq; }
}

/// <summary>The SCSI bus driver (NetBSD scsiconf.c): probes each LUN with INQUIRY and attaches what answers.</summary>
public sealed class Scsibus : Driver
{
    public override string Name => "scsibus";

    public override int Match(Device parent, object aux) => aux is ScsibusArgs ? 1 : 0;

    public override string? Describe(Device parent, object aux)
        => "SCSI bus, " + (((ScsibusArgs)aux).Channel.Adapter.MaxLun + 1) + " LUN" + (((ScsibusArgs)aux).Channel.Adapter.MaxLun > 0 ? "s" : "") + " per target";

    public override unsafe void Attach(Device self, Device parent, object aux)
    {
        ScsipiChannel ch = ((ScsibusArgs)aux).Channel;
        self.Softc = ch;
        var xs = new ScsipiXfer(ch);
        byte[] buf = GC.AllocateArray<byte>(InquiryData.StandardSize, pinned: true);
        Span<byte> cdb = stackalloc byte[16];
        for (int lun = 0; lun <= ch.Adapter.MaxLun; lun++)
        {
            int n = Cdb.Inquiry(cdb, InquiryData.StandardSize);
            xs.Set(cdb.Slice(0, n), (byte)lun);
            fixed (byte* p = buf) xs.Data = p;
            xs.DataLen = buf.Length;
            xs.DataIn = true;
            int e = xs.Run();
            if (e != 0 || InquiryData.Parse(buf.AsSpan(0, buf.Length - xs.Resid), out InquiryData inq) != 0) continue;
            if (inq.Qualifier != 0) continue;
            string desc = "<" + inq.Vendor + ", " + inq.Product + ", " + inq.Revision + ">";
            self.Autoconf.ConfigFound(self, new ScsiPeriphArgs(ch, (byte)lun, inq), "target 0 lun " + lun,
                unconfigured: desc + " type " + inq.DeviceType);
        }
    }
}
