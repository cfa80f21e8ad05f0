using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Dev;
using Rump.Dev.Scsipi.Wire;
using Rump.Kern;
using Rump.Usb;
using Rump.Usb.Wire;

namespace Rump.Tests.Usb;

/// <summary>
/// A TEST DOUBLE of a USB host controller: a <see cref="UsbBus"/> whose root-hub ports hold
/// devices emulated in this process (<see cref="EmuDevice"/>), for unit tests of usbdi, uhub,
/// umass and sd without hardware. It speaks the same bus and pipe methods as the real controller
/// (ugenhc over libusb, which runs only in a QEMU guest): transfers complete on the controller's
/// own host thread, entering the kernel through its interrupt context, as libusb's completions do.
/// </summary>
public sealed class TestHc : UsbBus
{
    public readonly TestRootHub Root;
    private readonly EmuDevice?[] _ports;
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private readonly Dictionary<byte, EmuDevice> _byAddr = new();

    public sealed class TestRootHub : RootHub
    {
        public TestRootHub(Kernel k, int ports) : base(k, ports, "test root hub") { }
    }

    /// <summary>Listing mode (as rumpusb list boots ugenhc): enumerate and print, attach nothing.</summary>
    public bool Probe;
    public override bool ProbeOnly => Probe;
    public override string? HostLocation(UsbDevice dev) => dev.IsRootHub ? null : "test port " + dev.Port;

    public TestHc(Kernel k, int ports) : base(k)
    {
        Root = new TestRootHub(k, ports);
        _ports = new EmuDevice?[ports + 1];
        _thread = new Thread(() => { foreach (Action a in _work.GetConsumingEnumerable()) a(); }) { IsBackground = true, Name = "testhc" };
        _thread.Start();
    }

    public void Stop() => _work.CompleteAdding();

    /// <summary>
    /// DMA memory (<see cref="UsbBus.AllocDma"/>) as ugenhc lends its zero-copy buffers, so that
    /// the drivers above are tested with it: here ordinary native memory, which the emulated
    /// devices fill as any buffer. Counts what was lent and what is still out; a second release of
    /// a loan fails the test.
    /// </summary>
    public bool LendDma = true;
    public int DmaLent, DmaOut;

    public override DmaMem? AllocDma(UsbDevice dev, int length)
    {
        if (!LendDma || length <= 0) return null;
        Interlocked.Increment(ref DmaLent);
        Interlocked.Increment(ref DmaOut);
        return new TestDma(this, length);
    }

    private sealed unsafe class TestDma : DmaMem
    {
        private readonly TestHc _hc;
        public TestDma(TestHc hc, int length) { _hc = hc; Pointer = (byte*)NativeMemory.Alloc((nuint)length); Length = length; }
        public override void Release()
        {
            if (Pointer == null) throw new InvalidOperationException("DMA memory released twice");
            NativeMemory.Free(Pointer);
            Pointer = null;
            Interlocked.Decrement(ref _hc.DmaOut);
        }
    }

    private long _added, _finished;

    /// <summary>True when every piece of work given to the controller's thread has finished (tests wait for quiet).</summary>
    public bool Idle() => Interlocked.Read(ref _finished) == Interlocked.Read(ref _added);

    private void Add(Action a)
    {
        Interlocked.Increment(ref _added);
        _work.Add(() => { try { a(); } finally { Interlocked.Increment(ref _finished); } });
    }

    /// <summary>Plugs <paramref name="d"/> into <paramref name="port"/> (null unplugs), as the host would report it: from the controller's thread, in interrupt context.</summary>
    public void Plug(int port, EmuDevice? d)
    {
        Add(() =>
        {
            using (Kernel.EnterInterrupt())
            {
                EmuDevice? old = _ports[port];
                if (old != null) old.Unplugged = true;
                _ports[port] = d;
                Root.SetConnected(port, d != null, UsbSpeed.High);
            }
        });
    }

    /// <summary>Gives the device's unanswered (parked) transfers another try: it has something to say now.</summary>
    public void Kick(EmuDevice d)
    {
        Add(() =>
        {
            var xs = new List<UsbXfer>(d.Parked);
            d.Parked.Clear();
            foreach (UsbXfer x in xs) Run(d, x);
        });
    }

    /// <summary>Plugs before the bus attaches (no change report needed).</summary>
    public void PlugNow(int port, EmuDevice d) { _ports[port] = d; Root.SetConnected(port, true, UsbSpeed.High); }

    public override int NewDevice(UsbDevice dev)
    {
        if (dev.IsRootHub) return 0;
        EmuDevice? e = _ports[dev.Port];
        if (e == null) return Abi.ENXIO;
        dev.HcPriv = e;
        return 0;
    }

    public override int OpenPipe(UsbPipe pipe)
    {
        if (pipe.Device.IsRootHub) { pipe.Methods = Root; return 0; }
        pipe.Methods = new EmuPipe(this, (EmuDevice)pipe.Device.HcPriv!);
        return 0;
    }

    private sealed class EmuPipe : UsbPipeMethods
    {
        private readonly TestHc _hc;
        private readonly EmuDevice _dev;
        public EmuPipe(TestHc hc, EmuDevice dev) { _hc = hc; _dev = dev; }

        public override int Transfer(UsbXfer x)
        {
            if (_dev.Unplugged) return Abi.ENXIO;
            _hc.Add(() => _hc.Run(_dev, x));
            return 0;
        }

        public override void Abort(UsbXfer x, int run)
        {
            // A parked transfer (a device that never answers) ends now; one being processed ends by
            // itself. A parked xfer cannot restart, so its run is the parked one.
            _hc.Add(() =>
            {
                if (x.RunNumber != run || !_dev.Parked.Remove(x)) return;
                using (_hc.Kernel.EnterInterrupt()) x.Complete(Abi.ECANCELED, 0);
            });
        }
    }

    private unsafe void Run(EmuDevice d, UsbXfer x)
    {
        int status, act;
        if (d.Unplugged) { status = Abi.ENXIO; act = 0; }
        else if (x.Pipe.IsControl)
        {
            status = d.Control(x.Setup, x.Span, out act);
        }
        else
        {
            status = d.Bulk(x.Pipe.Endpoint.Address, x.Span, out act);
            if (status == EmuDevice.NoAnswer) { d.Parked.Add(x); return; }
        }
        using (Kernel.EnterInterrupt()) x.Complete(status, act);
    }
}

/// <summary>A device emulated for <see cref="TestHc"/>: its descriptors, control requests and bulk transfers.</summary>
public abstract class EmuDevice
{
    /// <summary>Returned by <see cref="Bulk"/> to leave the transfer unanswered until it is aborted.</summary>
    public const int NoAnswer = -1;
    public volatile bool Unplugged;
    public readonly HashSet<UsbXfer> Parked = new();
    public readonly List<string> Log = new();
    protected readonly HashSet<byte> Halted = new();

    protected abstract byte[] DeviceDesc { get; }
    protected abstract byte[] ConfigDesc { get; }
    protected virtual string? StringAt(int i) => null;

    /// <summary>Standard requests; class requests go to <see cref="ClassRequest"/>. Returns a status.</summary>
    public virtual int Control(SetupPacket r, Span<byte> data, out int act)
    {
        act = 0;
        if (r.Type == SetupPacket.TypeClass) return ClassRequest(r, data, out act);
        switch (r.Request)
        {
            case SetupPacket.GetDescriptor:
                byte[]? src = r.DescType switch
                {
                    UDesc.Device => DeviceDesc,
                    UDesc.Config => ConfigDesc,
                    UDesc.String => r.DescIndex == 0 ? new byte[] { 4, 3, 9, 4 } : Str(StringAt(r.DescIndex)),
                    _ => null,
                };
                if (src == null) return Abi.EPIPE;
                act = Math.Min(src.Length, data.Length);
                src.AsSpan(0, act).CopyTo(data);
                return 0;
            case SetupPacket.SetAddress:
            case SetupPacket.SetConfiguration:
            case SetupPacket.SetInterface:
                Log.Add("std " + r.Request + " " + r.Value);
                return 0;
            case SetupPacket.ClearFeature when r.Recipient == SetupPacket.RecipEndpoint:
                Log.Add("clear-halt " + r.Index.ToString("x2"));
                Halted.Remove((byte)r.Index);
                return 0;
            default:
                return Abi.EPIPE;
        }
    }

    private static byte[]? Str(string? s)
    {
        if (s == null) return null;
        byte[] b = new byte[2 + 2 * s.Length];
        StringDescriptor.Emit(b, s);
        return b;
    }

    protected virtual int ClassRequest(SetupPacket r, Span<byte> data, out int act) { act = 0; return Abi.EPIPE; }

    public abstract int Bulk(byte ep, Span<byte> data, out int act);
}

/// <summary>
/// A Bulk-Only mass-storage device with a SCSI disk of 512-byte sectors over a byte array, and
/// faults to inject: stall the next data stage, stall the next CSW once, send a CSW with a wrong
/// tag, or leave the next CSW unanswered (a hang, to be ended by a timeout).
/// </summary>
public sealed class EmuBotDisk : EmuDevice
{
    public readonly byte[] Media;
    public bool WriteProtected;
    public bool StallNextData, StallNextCsw, BadTagNextCsw, HangNextCsw;
    public int ResetsSeen;
    /// <summary>READ/WRITE commands seen, as (write, first byte, bytes), in order (tests count commands per MiB).</summary>
    public readonly List<(bool write, long off, long bytes)> Rw = new();
    /// <summary>The first TEST UNIT READY after power-on reports a unit attention, as real disks do.</summary>
    private bool _unitAttention = true;
    private byte _senseKey, _asc;

    private enum Phase { Cbw, DataIn, DataOut, Csw }
    private Phase _phase = Phase.Cbw;
    private uint _tag, _residue;
    private byte _status;
    private byte[] _in = Array.Empty<byte>();
    private int _inLen;
    private long _writeOff;
    private int _writeLen;

    public EmuBotDisk(byte[] media) { Media = media; }

    protected override byte[] DeviceDesc
    {
        get
        {
            byte[] b = new byte[DeviceDescriptor.Size];
            new DeviceDescriptor { BcdUsb = 0x0200, MaxPacketSize0 = 64, Vendor = 0x46f4, Product = 0x0001, BcdDevice = 0x0000, IManufacturer = 1, IProduct = 2, ISerial = 3, NumConfigurations = 1 }.Emit(b);
            return b;
        }
    }

    protected override byte[] ConfigDesc
    {
        get
        {
            byte[] b = new byte[32];
            new ConfigDescriptor { TotalLength = 32, NumInterfaces = 1, ConfigValue = 1, Attributes = 0xc0, MaxPower = 50 }.Emit(b);
            new InterfaceDescriptor { Number = 0, NumEndpoints = 2, Class = UClass.MassStorage, SubClass = 6, Protocol = 0x50 }.Emit(b.AsSpan(9));
            new EndpointDescriptor { Address = 0x81, Attributes = 2, MaxPacketSize = 512 }.Emit(b.AsSpan(18));
            new EndpointDescriptor { Address = 0x02, Attributes = 2, MaxPacketSize = 512 }.Emit(b.AsSpan(25));
            return b;
        }
    }

    protected override string? StringAt(int i) => i switch { 1 => "QEMU", 2 => "QEMU USB HARDDRIVE", 3 => "1-0000:00:04.0-1", _ => null };

    protected override int ClassRequest(SetupPacket r, Span<byte> data, out int act)
    {
        act = 0;
        if (r.Request == BulkOnly.ReqGetMaxLun) { data[0] = 0; act = 1; return 0; }
        if (r.Request == BulkOnly.ReqReset) { ResetsSeen++; _phase = Phase.Cbw; Log.Add("reset"); return 0; }
        return Abi.EPIPE;
    }

    public override int Bulk(byte ep, Span<byte> data, out int act)
    {
        act = 0;
        if (Halted.Contains(ep)) return Abi.EPIPE;
        switch (_phase)
        {
            case Phase.Cbw:
                if (ep != 0x02) return Abi.EPIPE;
                return Command(data, out act);
            case Phase.DataIn:
                if (ep != 0x81) return Abi.EPIPE;
                if (StallNextData) { StallNextData = false; Halted.Add(0x81); _residue = (uint)data.Length; _status = 1; Sense(SenseKey.MediumError, 0x11); _phase = Phase.Csw; return Abi.EPIPE; }
                act = Math.Min(_inLen, data.Length);
                _in.AsSpan(0, act).CopyTo(data);
                _residue = (uint)(data.Length - act);
                _phase = Phase.Csw;
                return 0;
            case Phase.DataOut:
                if (ep != 0x02) return Abi.EPIPE;
                act = data.Length;
                _residue = 0;
                if (WriteProtected) { _status = 1; Sense(SenseKey.DataProtect, 0x27); }
                else data.Slice(0, Math.Min(act, _writeLen)).CopyTo(Media.AsSpan((int)_writeOff));
                _phase = Phase.Csw;
                return 0;
            default:
                if (ep != 0x81) return Abi.EPIPE;
                if (HangNextCsw) { HangNextCsw = false; return NoAnswer; }
                if (StallNextCsw) { StallNextCsw = false; Halted.Add(0x81); return Abi.EPIPE; }
                if (data.Length < BulkOnly.CswSize) return Abi.EOVERFLOW;
                BulkOnly.EmitCsw(data, BadTagNextCsw ? _tag + 100 : _tag, _residue, _status);
                BadTagNextCsw = false;
                act = BulkOnly.CswSize;
                _phase = Phase.Cbw;
                return 0;
        }
    }

    private void Sense(byte key, byte asc) { _senseKey = key; _asc = asc; }

    private int Command(Span<byte> cbw, out int act)
    {
        act = cbw.Length;
        if (BulkOnly.ParseCbw(cbw, out _tag, out uint len, out bool dataIn, out _, out int cdbLen) != 0)
        {
            Halted.Add(0x81); Halted.Add(0x02);
            return Abi.EPIPE;
        }
        ReadOnlySpan<byte> cdb = cbw.Slice(15, cdbLen);
        Log.Add("cdb " + cdb[0].ToString("x2"));
        _status = 0;
        _residue = len;
        _inLen = 0;
        if (_in.Length < len) _in = new byte[len];
        byte op = cdb[0];
        if (_unitAttention && op == ScsiOp.TestUnitReady) { _unitAttention = false; _status = 1; Sense(SenseKey.UnitAttention, 0x29); }
        else if (op == ScsiOp.TestUnitReady || op == ScsiOp.SynchronizeCache10) { }
        else if (op == ScsiOp.RequestSense)
        {
            SenseData.EmitFixed(_in, _senseKey, _asc, 0);
            _inLen = SenseData.FixedSize;
            _senseKey = 0; _asc = 0;
        }
        else if (op == ScsiOp.Inquiry)
        {
            InquiryData.Emit(_in, ScsiDeviceType.DirectAccess, true, "QEMU", "QEMU HARDDISK", "2.5+");
            _inLen = InquiryData.StandardSize;
        }
        else if (op == ScsiOp.ReadCapacity10) { ReadCapacity.Emit10(_in, (ulong)(Media.Length / 512), 512); _inLen = 8; }
        else if (op == ScsiOp.ModeSense6) { ModeHeader.Emit6(_in, WriteProtected); _inLen = ModeHeader.Size6; }
        else if (Rump.Dev.Scsipi.Wire.Cdb.TryDecodeReadWrite(cdb, out bool w, out ulong lba, out uint n))
        {
            long off = (long)lba * 512, bytes = n * 512L;
            lock (Rw) Rw.Add((w, off, bytes));
            if (off + bytes > Media.Length) { _status = 1; Sense(SenseKey.IllegalRequest, 0x21); }
            else if (w) { _writeOff = off; _writeLen = (int)bytes; }
            else { Media.AsSpan((int)off, (int)bytes).CopyTo(_in); _inLen = (int)bytes; }
        }
        else { _status = 1; Sense(SenseKey.IllegalRequest, 0x20); }
        _phase = len == 0 ? Phase.Csw : dataIn ? Phase.DataIn : Phase.DataOut;
        if (len == 0) _residue = 0;
        return 0;
    }
}

/// <summary>A boot-protocol keyboard (like QEMU's usb-kbd): its interrupt pipe answers with queued reports, or waits.</summary>
public sealed class EmuKeyboard : EmuDevice
{
    private readonly Queue<byte[]> _reports = new();
    public int Protocol = 1;

    protected override byte[] DeviceDesc
    {
        get
        {
            byte[] b = new byte[DeviceDescriptor.Size];
            new DeviceDescriptor { BcdUsb = 0x0200, MaxPacketSize0 = 64, Vendor = 0x0627, Product = 0x0001, IManufacturer = 1, IProduct = 2, NumConfigurations = 1 }.Emit(b);
            return b;
        }
    }

    protected override byte[] ConfigDesc
    {
        get
        {
            byte[] b = new byte[34];
            new ConfigDescriptor { TotalLength = 34, NumInterfaces = 1, ConfigValue = 1, Attributes = 0xa0, MaxPower = 50 }.Emit(b);
            new InterfaceDescriptor { Number = 0, NumEndpoints = 1, Class = UClass.Hid, SubClass = 1, Protocol = 1 }.Emit(b.AsSpan(9));
            byte[] hid = { 9, UDesc.Hid, 0x11, 0x01, 0, 1, UDesc.Report, 63, 0 };
            hid.CopyTo(b, 18);
            new EndpointDescriptor { Address = 0x81, Attributes = 3, MaxPacketSize = 8, Interval = 10 }.Emit(b.AsSpan(27));
            return b;
        }
    }

    protected override string? StringAt(int i) => i switch { 1 => "QEMU", 2 => "QEMU USB Keyboard", _ => null };

    /// <summary>GET_DESCRIPTOR(REPORT): QEMU usb-kbd's report descriptor (a boot keyboard's layout).</summary>
    public override int Control(SetupPacket r, Span<byte> data, out int act)
    {
        if (r.Type == SetupPacket.TypeStandard && r.Request == SetupPacket.GetDescriptor && r.Recipient == SetupPacket.RecipInterface && r.DescType == UDesc.Report)
        {
            byte[] d = HidWireTests.BootKeyboardReportDescriptor;
            act = Math.Min(d.Length, data.Length);
            d.AsSpan(0, act).CopyTo(data);
            return 0;
        }
        return base.Control(r, data, out act);
    }

    protected override int ClassRequest(SetupPacket r, Span<byte> data, out int act)
    {
        act = 0;
        if (r.Request == 0x0B) { Protocol = r.Value; Log.Add("set-protocol " + r.Value); return 0; }
        if (r.Request == 0x0A) { Log.Add("set-idle"); return 0; }
        return Abi.EPIPE;
    }

    /// <summary>Queues the boot report of <paramref name="st"/> (call <see cref="TestHc.Kick"/> after).</summary>
    public void Report(KeyboardState st)
    {
        byte[] r = new byte[KeyboardState.BootReportSize];
        st.EmitBoot(r);
        lock (_reports) _reports.Enqueue(r);
    }

    public override int Bulk(byte ep, Span<byte> data, out int act)
    {
        act = 0;
        if (ep != 0x81) return Abi.EPIPE;
        lock (_reports)
        {
            if (_reports.Count == 0) return NoAnswer;
            byte[] r = _reports.Dequeue();
            act = Math.Min(r.Length, data.Length);
            r.AsSpan(0, act).CopyTo(data);
        }
        return 0;
    }
}

/// <summary>
/// A HID device that is not a boot keyboard (interface subclass 0), with the report descriptor it
/// is given: GET_DESCRIPTOR(REPORT) answers with it, and its interrupt pipe answers with the raw
/// reports queued (ID byte first when the descriptor uses IDs), or waits.
/// </summary>
public sealed class EmuHid : EmuDevice
{
    private readonly Queue<byte[]> _reports = new();
    private readonly byte[] _reportDesc;
    public int ReportDescRequests;

    public EmuHid(byte[] reportDesc) { _reportDesc = reportDesc; }

    protected override byte[] DeviceDesc
    {
        get
        {
            byte[] b = new byte[DeviceDescriptor.Size];
            new DeviceDescriptor { BcdUsb = 0x0200, MaxPacketSize0 = 64, Vendor = 0x1209, Product = 0x0003, IManufacturer = 1, IProduct = 2, NumConfigurations = 1 }.Emit(b);
            return b;
        }
    }

    protected override byte[] ConfigDesc
    {
        get
        {
            byte[] b = new byte[34];
            new ConfigDescriptor { TotalLength = 34, NumInterfaces = 1, ConfigValue = 1, Attributes = 0xa0, MaxPower = 50 }.Emit(b);
            new InterfaceDescriptor { Number = 0, NumEndpoints = 1, Class = UClass.Hid, SubClass = 0, Protocol = 0 }.Emit(b.AsSpan(9));
            byte[] hid = { 9, UDesc.Hid, 0x11, 0x01, 0, 1, UDesc.Report, (byte)_reportDesc.Length, (byte)(_reportDesc.Length >> 8) };
            hid.CopyTo(b, 18);
            new EndpointDescriptor { Address = 0x81, Attributes = 3, MaxPacketSize = 16, Interval = 10 }.Emit(b.AsSpan(27));
            return b;
        }
    }

    protected override string? StringAt(int i) => i switch { 1 => "rump", 2 => "Keyboard with media keys", _ => null };

    public override int Control(SetupPacket r, Span<byte> data, out int act)
    {
        if (r.Type == SetupPacket.TypeStandard && r.Request == SetupPacket.GetDescriptor && r.Recipient == SetupPacket.RecipInterface && r.DescType == UDesc.Report)
        {
            ReportDescRequests++;
            act = Math.Min(_reportDesc.Length, data.Length);
            _reportDesc.AsSpan(0, act).CopyTo(data);
            return 0;
        }
        return base.Control(r, data, out act);
    }

    /// <summary>GET_REPORT answers, by (type, report ID): the bytes of the data stage (ID byte first when the descriptor uses IDs). Others stall.</summary>
    public readonly Dictionary<(int type, int id), byte[]> Reports = new();
    /// <summary>SET_REPORTs received: type, ID and the data stage.</summary>
    public readonly List<(int type, int id, byte[] data)> SetReports = new();

    protected override int ClassRequest(SetupPacket r, Span<byte> data, out int act)
    {
        act = 0;
        if (r.Request == 0x0A) return 0; // SET_IDLE
        lock (Reports)
        {
            if (r.Request == 0x01 && r.IsIn && Reports.TryGetValue((r.Value >> 8, r.Value & 0xff), out byte[]? rep))
            {
                act = Math.Min(rep.Length, Math.Min(data.Length, (int)r.Length));
                rep.AsSpan(0, act).CopyTo(data);
                return 0;
            }
            if (r.Request == 0x09 && !r.IsIn)
            {
                SetReports.Add((r.Value >> 8, r.Value & 0xff, data.Slice(0, r.Length).ToArray()));
                act = r.Length;
                return 0;
            }
        }
        return Abi.EPIPE;
    }

    /// <summary>Queues one raw report (call <see cref="TestHc.Kick"/> after).</summary>
    public void Report(params byte[] raw) { lock (_reports) _reports.Enqueue(raw); }

    public override int Bulk(byte ep, Span<byte> data, out int act)
    {
        act = 0;
        if (ep != 0x81) return Abi.EPIPE;
        lock (_reports)
        {
            if (_reports.Count == 0) return NoAnswer;
            byte[] r = _reports.Dequeue();
            act = Math.Min(r.Length, data.Length);
            r.AsSpan(0, act).CopyTo(data);
        }
        return 0;
    }
}

/// <summary>A vendor-specific device that echoes: what is written to bulk OUT 0x02 is read back from bulk IN 0x81.</summary>
public sealed class EmuEcho : EmuDevice
{
    private readonly Queue<byte[]> _q = new();

    protected override byte[] DeviceDesc
    {
        get
        {
            byte[] b = new byte[DeviceDescriptor.Size];
            new DeviceDescriptor { BcdUsb = 0x0200, MaxPacketSize0 = 64, Vendor = 0x1234, Product = 0x5678, NumConfigurations = 1 }.Emit(b);
            return b;
        }
    }

    protected override byte[] ConfigDesc
    {
        get
        {
            byte[] b = new byte[32];
            new ConfigDescriptor { TotalLength = 32, NumInterfaces = 1, ConfigValue = 1, Attributes = 0x80, MaxPower = 50 }.Emit(b);
            new InterfaceDescriptor { Number = 0, NumEndpoints = 2, Class = UClass.VendorSpecific }.Emit(b.AsSpan(9));
            new EndpointDescriptor { Address = 0x81, Attributes = 2, MaxPacketSize = 512 }.Emit(b.AsSpan(18));
            new EndpointDescriptor { Address = 0x02, Attributes = 2, MaxPacketSize = 512 }.Emit(b.AsSpan(25));
            return b;
        }
    }

    public override int Bulk(byte ep, Span<byte> data, out int act)
    {
        act = 0;
        if (Halted.Contains(ep)) return Abi.EPIPE;
        if (ep == 0x02) { _q.Enqueue(data.ToArray()); act = data.Length; return 0; }
        if (_q.Count == 0) return NoAnswer;
        byte[] b = _q.Dequeue();
        act = Math.Min(b.Length, data.Length);
        b.AsSpan(0, act).CopyTo(data);
        return 0;
    }
}

/// <summary>
/// A hostile device: descriptors made from seeded random bytes (with a plausible header now and
/// then, so that parsing gets past the first checks), random stalls and short answers.
/// </summary>
public sealed class EmuHostile : EmuDevice
{
    private readonly Random _rng;
    private readonly byte[] _dev, _cfg;

    public EmuHostile(int seed)
    {
        _rng = new Random(seed);
        _dev = new byte[_rng.Next(0, 24)];
        _rng.NextBytes(_dev);
        if (_dev.Length >= 2 && _rng.Next(2) == 0) { _dev[0] = 18; _dev[1] = UDesc.Device; }
        if (_dev.Length >= 8 && _rng.Next(2) == 0) _dev[7] = 64;
        if (_dev.Length >= 18 && _rng.Next(2) == 0) _dev[17] = 1;
        _cfg = new byte[_rng.Next(0, 80)];
        _rng.NextBytes(_cfg);
        if (_cfg.Length >= 9 && _rng.Next(3) != 0)
        {
            _cfg[0] = 9; _cfg[1] = UDesc.Config;
            _cfg[2] = (byte)(_rng.Next(2) == 0 ? _cfg.Length : _rng.Next(256)); _cfg[3] = 0;
            for (int p = 9; p + 9 <= _cfg.Length && _rng.Next(3) != 0; p += 9) { _cfg[p] = (byte)(_rng.Next(2) == 0 ? 9 : 7); _cfg[p + 1] = (byte)(_rng.Next(2) == 0 ? UDesc.Interface : UDesc.Endpoint); }
        }
    }

    protected override byte[] DeviceDesc => _dev;
    protected override byte[] ConfigDesc => _cfg;
    protected override string? StringAt(int i) => _rng.Next(3) == 0 ? null : new string((char)_rng.Next(1, 0xffff), _rng.Next(0, 40));

    public override int Control(SetupPacket r, Span<byte> data, out int act)
    {
        act = 0;
        if (_rng.Next(10) == 0) return Abi.EPIPE;
        int e = base.Control(r, data, out act);
        if (e == 0 && act > 0 && _rng.Next(8) == 0) act = _rng.Next(act);
        if (e != 0 && r.IsIn && data.Length > 0 && _rng.Next(2) == 0) { _rng.NextBytes(data); act = _rng.Next(data.Length + 1); return 0; }
        return e;
    }

    public override int Bulk(byte ep, Span<byte> data, out int act)
    {
        act = 0;
        int pick = _rng.Next(4);
        if (pick == 0) return Abi.EPIPE;
        _rng.NextBytes(data);
        act = _rng.Next(data.Length + 1);
        return 0;
    }
}

/// <summary>The test controller's autoconf driver: "testhc0 at mainbus0", with the root hub below it.</summary>
public sealed class TestHcDriver : Driver
{
    public override string Name => "testhc";
    public override int Match(Device parent, object aux) => aux is TestHc ? 1 : 0;

    public override void Attach(Device self, Device parent, object aux)
    {
        var hc = (TestHc)aux;
        hc.HcDevice = self;
        self.Softc = hc;
        var root = new UsbDevice(hc, null, 0, UsbSpeed.High);
        if (root.Enumerate() != 0) { self.Aprint("root hub problem\n"); return; }
        hc.RootHub = root;
        root.ProbeAndAttach(self, null);
    }

    public override int Detach(Device self, DetachFlags flags)
    {
        if (self.Softc is TestHc hc) { hc.RootHub?.Disconnect(self.Autoconf); hc.Stop(); }
        return 0;
    }
}
