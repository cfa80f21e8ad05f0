using System;
using System.Threading;
using Rump.Dev;
using Rump.Dev.Scsipi;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Usb;

/// <summary>
/// USB mass storage, Bulk-Only Transport (NetBSD umass.c; USB MSC BOT 1.0), as the SCSI adapter
/// of a scsibus. One command at a time runs through an explicit state machine, each state left
/// only by the completion of the transfer it started (interrupt context, never sleeping):
///
///   Command (CBW out) → DataIn | DataOut (skipped when there is no data) → Status (CSW in) → done.
///   A stalled data stage → DataClear (CLEAR_FEATURE HALT on that pipe) → Status.
///   A stalled CSW read → StatusClear → StatusRetry (one more CSW read) → done.
///   Anything else wrong (CBW refused, bad or not meaningful CSW, phase error, a timeout, a second
///   stall) → reset recovery (5.3.4): ResetMsr (Bulk-Only Mass Storage Reset) → ResetClearIn →
///   ResetClearOut → the command fails with EIO (or the error that caused it).
///   A device that is gone (ENXIO) ends the command at once.
///
/// Locks: none. The state and the current command belong to whichever completion is running; the
/// channel hands over one command at a time and the next starts only after this one's callback.
/// </summary>
public sealed class Umass : Driver
{
    public override string Name => "umass";

    public const byte SubclassScsi = 6, SubclassSff8070 = 5, ProtoBulkOnly = 0x50;

    public override int Match(Device parent, object aux)
    {
        if (aux is not UsbIfaceArgs a) return UMatch.None;
        InterfaceDescriptor d = a.Interface.Desc;
        if (d.Class != UClass.MassStorage || d.Protocol != ProtoBulkOnly) return UMatch.None;
        return d.SubClass is SubclassScsi or SubclassSff8070 ? UMatch.IfaceClassSubclassProto : UMatch.None;
    }

    public override string? Describe(Device parent, object aux) => ((UsbIfaceArgs)aux).Device.AttachDescription();

    public override void Attach(Device self, Device parent, object aux)
    {
        var a = (UsbIfaceArgs)aux;
        EndpointInfo? bin = a.Interface.FindEndpoint(true, UsbXferType.Bulk);
        EndpointInfo? bout = a.Interface.FindEndpoint(false, UsbXferType.Bulk);
        if (bin == null || bout == null) { self.Aprint("no bulk endpoints\n"); return; }
        if (a.Interface.OpenPipe(bin.Desc.Address, out UsbPipe? pin) != 0 || a.Interface.OpenPipe(bout.Desc.Address, out UsbPipe? pout) != 0)
        {
            self.Aprint("cannot open the bulk pipes\n");
            return;
        }
        // GET MAX LUN: a device with one LUN may stall it (3.2).
        Span<byte> b = stackalloc byte[1];
        int maxLun = a.Device.DoRequest(BulkOnly.GetMaxLunRequest(a.Interface.Desc.Number), b, out int n) == 0 && n == 1 && b[0] <= 15 ? b[0] : 0;
        var sc = new BulkOnlyMachine(a.Device, a.Interface.Desc.Number, pin!, pout!, maxLun);
        self.Softc = sc;
        self.Aprint("using SCSI over Bulk-Only\n");
        sc.Channel = new ScsipiChannel(self.Autoconf.Kernel, sc);
        self.Autoconf.ConfigFound(self, new ScsibusArgs(sc.Channel));
    }

    public override int Detach(Device self, DetachFlags flags)
    {
        if (self.Softc is not BulkOnlyMachine sc) return 0;
        sc.Channel!.Dead = true;
        sc.AbortAll();
        UsbDevice.ClosePipe(sc.In);
        UsbDevice.ClosePipe(sc.Out);
        return 0;
    }
}

/// <summary>The Bulk-Only Transport state machine of one umass device: the SCSI adapter scsibus talks to.</summary>
public sealed unsafe class BulkOnlyMachine : ScsipiAdapter
{
    public enum State
    {
        Idle, Command, DataIn, DataOut, DataClear, Status, StatusClear, StatusRetry,
        ResetMsr, ResetClearIn, ResetClearOut,
    }

    public const int CommandTimeoutMs = 5000;
    /// <summary>How long the CSW may take after the data (tests shorten it).</summary>
    public int StatusTimeoutMs = CommandTimeoutMs;

    public readonly UsbDevice Device;
    public readonly byte Iface;
    public readonly UsbPipe In, Out;
    private readonly int _maxLun;
    public ScsipiChannel? Channel;

    private readonly UsbXfer _cbw, _dataIn, _dataOut, _csw, _ctl;
    private State _state;
    private ScsipiXfer? _xs;
    private uint _tag;
    /// <summary>The error to report after reset recovery (EIO unless a timeout or a gone device caused it).</summary>
    private int _resetCause;
    private int _resets, _stalls;

    public BulkOnlyMachine(UsbDevice dev, byte iface, UsbPipe pin, UsbPipe pout, int maxLun)
    {
        Device = dev; Iface = iface; In = pin; Out = pout; _maxLun = maxLun;
        _cbw = new UsbXfer(pout, BulkOnly.CbwSize) { Callback = Step, Priv = this, TimeoutMs = CommandTimeoutMs };
        _csw = new UsbXfer(pin, BulkOnly.CswSize) { Callback = Step, Priv = this, TimeoutMs = CommandTimeoutMs, Flags = XferFlags.ShortOk };
        _dataIn = new UsbXfer(pin, 0) { Callback = Step, Priv = this, Flags = XferFlags.ShortOk };
        _dataOut = new UsbXfer(pout, 0) { Callback = Step, Priv = this };
        _ctl = new UsbXfer(dev.DefaultPipe, 0) { Callback = Step, Priv = this, TimeoutMs = UsbDevice.DefaultTimeoutMs };
    }

    public override int MaxLun => _maxLun;
    public override int MaxTransfer => 1 << 20;
    /// <summary>The data stages are bulk transfers of this device: its controller's DMA memory serves them.</summary>
    public override DmaMem? AllocDma(int length) => Device.Gone ? null : Device.Bus.AllocDma(Device, length);
    public State Current => _state;
    /// <summary>Reset recoveries so far.</summary>
    public int Resets => Volatile.Read(ref _resets);
    /// <summary>Stalls cleared so far (data or status stage).</summary>
    public int Stalls => Volatile.Read(ref _stalls);

    public override void Request(ScsipiXfer xs)
    {
        if (_state != State.Idle) Device.Bus.Kernel.PanicHere("umass: command while busy in state " + _state);
        _xs = xs;
        _tag++;
        if (BulkOnly.EmitCbw(_cbw.Span, _tag, (uint)xs.DataLen, xs.DataIn, xs.Lun, xs.Cdb.AsSpan(0, xs.CdbLen)) != 0)
        {
            Finish(Abi.EINVAL, 0, xs.DataLen);
            return;
        }
        Go(State.Command, _cbw);
    }

    /// <summary>Starts <paramref name="x"/> as the transfer of state <paramref name="s"/>; a refusal is handled as its completion.</summary>
    private void Go(State s, UsbXfer x)
    {
        _state = s;
        int e = x.Start();
        if (e != 0) Fail(e);
    }

    private void Control(State s, SetupPacket req)
    {
        _ctl.Setup = req;
        _ctl.Length = 0;
        Go(s, _ctl);
    }

    private static void Step(UsbXfer x) => ((BulkOnlyMachine)x.Priv!).OnDone(x);

    private void OnDone(UsbXfer x)
    {
        int st = x.Status;
        ScsipiXfer xs = _xs!;
        if (st == Abi.ENXIO && _state is not (State.ResetMsr or State.ResetClearIn or State.ResetClearOut)) { Finish(Abi.ENXIO, 0, xs.DataLen); return; }
        switch (_state)
        {
            case State.Command:
                if (st != 0) { Recover(st); return; }
                if (xs.DataLen == 0) { ReadCsw(State.Status); return; }
                UsbXfer d = xs.DataIn ? _dataIn : _dataOut;
                d.Data = xs.Data;
                d.Length = xs.DataLen;
                d.TimeoutMs = xs.TimeoutMs;
                Go(xs.DataIn ? State.DataIn : State.DataOut, d);
                return;
            case State.DataIn:
            case State.DataOut:
                if (st == Abi.EPIPE)
                {
                    // The device ends a data stage it cannot complete with a stall; the CSW follows (6.7.2, 6.7.3).
                    Interlocked.Increment(ref _stalls);
                    Control(State.DataClear, SetupPacket.ClearHalt((_state == State.DataIn ? In : Out).Endpoint.Address));
                    _clearPipe = _state == State.DataIn ? In : Out;
                    return;
                }
                if (st != 0) { Recover(st); return; }
                ReadCsw(State.Status);
                return;
            case State.DataClear:
                if (st != 0) { Recover(st); return; }
                _clearPipe!.Methods.ClearToggle(_clearPipe);
                ReadCsw(State.Status);
                return;
            case State.Status:
            case State.StatusRetry:
                if (st == Abi.EPIPE && _state == State.Status)
                {
                    Interlocked.Increment(ref _stalls);
                    _clearPipe = In;
                    Control(State.StatusClear, SetupPacket.ClearHalt(In.Endpoint.Address));
                    return;
                }
                if (st != 0) { Recover(st); return; }
                CheckCsw(x);
                return;
            case State.StatusClear:
                if (st != 0) { Recover(st); return; }
                In.Methods.ClearToggle(In);
                ReadCsw(State.StatusRetry);
                return;
            case State.ResetMsr:
                Control(State.ResetClearIn, SetupPacket.ClearHalt(In.Endpoint.Address));
                return;
            case State.ResetClearIn:
                In.Methods.ClearToggle(In);
                Control(State.ResetClearOut, SetupPacket.ClearHalt(Out.Endpoint.Address));
                return;
            case State.ResetClearOut:
                Out.Methods.ClearToggle(Out);
                Finish(Device.Gone ? Abi.ENXIO : _resetCause, 0, xs.DataLen);
                return;
            default:
                Device.Bus.Kernel.PanicHere("umass: completion in state " + _state);
                return;
        }
    }

    private UsbPipe? _clearPipe;

    private void ReadCsw(State s)
    {
        _csw.Length = BulkOnly.CswSize;
        _csw.TimeoutMs = StatusTimeoutMs;
        Go(s, _csw);
    }

    private void CheckCsw(UsbXfer x)
    {
        ScsipiXfer xs = _xs!;
        BulkOnly.CswCheck c = BulkOnly.ParseCsw(x.Span.Slice(0, x.ActLen), _tag, (uint)xs.DataLen, out uint residue, out byte status);
        if (c != BulkOnly.CswCheck.Good || status == BulkOnly.StatusPhaseError) { Recover(Abi.EIO); return; }
        // The residue is what the device did not process; the data actually moved bounds it too.
        int moved = xs.DataLen == 0 ? 0 : (xs.DataIn ? _dataIn : _dataOut).ActLen;
        int resid = Math.Max((int)residue, xs.DataLen - moved);
        Finish(0, status == BulkOnly.StatusPassed ? Rump.Dev.Scsipi.Wire.ScsiStatus.Good : Rump.Dev.Scsipi.Wire.ScsiStatus.CheckCondition, resid);
    }

    /// <summary>Reset recovery (5.3.4), reporting <paramref name="cause"/> when it is done.</summary>
    private void Recover(int cause)
    {
        Interlocked.Increment(ref _resets);
        _resetCause = cause is Abi.ETIMEDOUT or Abi.ENXIO ? cause : Abi.EIO;
        Control(State.ResetMsr, BulkOnly.ResetRequest(Iface));
    }

    /// <summary>A transfer could not even start (a closed pipe, a gone device).</summary>
    private void Fail(int e)
    {
        if (_state is State.ResetMsr or State.ResetClearIn or State.ResetClearOut || e == Abi.ENXIO)
            Finish(e == Abi.ENXIO ? Abi.ENXIO : _resetCause, 0, _xs!.DataLen);
        else Recover(e);
    }

    private void Finish(int error, byte status, int resid)
    {
        ScsipiXfer xs = _xs!;
        _xs = null;
        _state = State.Idle;
        xs.AdapterDone(error, status, resid);
    }

    /// <summary>Detach: end whatever is in flight (its completion fails the command with ENXIO or ECANCELED).</summary>
    internal void AbortAll()
    {
        _cbw.Abort(); _dataIn.Abort(); _dataOut.Abort(); _csw.Abort(); _ctl.Abort();
    }
}
