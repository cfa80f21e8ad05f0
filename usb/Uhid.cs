using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb.Wire;
using Rump.Vfs;

namespace Rump.Usb;

/// <summary>
/// HID class drivers (NetBSD uhid.c, ukbd.c), children of uhidev (<see cref="Uhidev"/>, which
/// owns the interface's interrupt-IN pipe and hands each input report to the child of its report
/// ID, in interrupt context), which queue what they read for a character device:
///  - ukbd (a report ID whose reports are a keyboard's): /dev/ukbdN, whose reads return key
///    events as NetBSD's struct wscons_event (type 2 down / 1 up, value = the HID key usage, time);
///  - uhid (any other report ID): /dev/uhidN, whose reads return that ID's input reports (without
///    the ID byte), each of the size the report descriptor gives it.
/// Reads sleep (interruptibly) until something is queued; O_NONBLOCK gives EAGAIN; poll works.
///
/// Locks: each device's <see cref="HidDev.Lock"/> protects its queue and the dying flag; the
/// completion takes it to queue and wake, readers to dequeue. It is a leaf, as is the driver's
/// unit map lock (<see cref="_mapLock"/>); neither is held while the other is taken.
/// </summary>
public abstract class HidDriverBase : Driver
{
    /// <summary>Queued entries kept at most; older ones are dropped when readers fall behind.</summary>
    public const int QueueLimit = 256;

    protected sealed class HidDev
    {
        public Device Self = null!;
        public UsbDevice Usb = null!;
        /// <summary>The parent uhidev (which owns the interrupt pipe), the report ID, and the input report size (uhid's entries are padded or cut to it).</summary>
        public UhidevSoftc Parent = null!;
        public byte ReportId;
        public int InputSize;
        public KMutex Lock = null!;
        public KCondvar Cv = null!;
        public readonly SelInfo Sel = new();
        public readonly Queue<byte[]> Queue = new();
        public bool Dying;
        public KeyboardState Keys;
        /// <summary>ukbd: where the keys are in its reports (a <see cref="KeyboardLayout"/>).</summary>
        public object? Layout;
        public string Node = "";
        public long Dropped;
        /// <summary>uhid's USB_SET_IMMED: reads ask the device (GET_REPORT) instead of taking queued reports.</summary>
        public bool Immediate;
    }

    /// <summary>The driver's ioctls (thread context; the node's device is live). FIONBIO is everyone's.</summary>
    protected virtual int Ioctl(HidDev d, ulong cmd, Span<byte> data, int fflag, Lwp l) => cmd == Abi.FIONBIO ? 0 : Abi.ENOTTY;

    /// <summary>A read in immediate mode (uhid): one report fetched from the device now.</summary>
    protected virtual int ReadImmediate(HidDev d, ref Uio uio) => Abi.EINVAL;

    private readonly Dictionary<int, HidDev> _byUnit = new();
    /// <summary>Protects <see cref="_byUnit"/> (made at the first attach, in thread context); a leaf.</summary>
    private KMutex? _mapLock;
    private NodeDriver? _cdev;
    private uint _major = Cdevsw.NoMajor;

    /// <summary>What a completed input report becomes in the queue (zero or more entries).</summary>
    protected abstract void OnReport(HidDev d, ReadOnlySpan<byte> report);

    /// <summary>
    /// Attaches a child of uhidev for one report ID: its state, its /dev node, and (if the report
    /// ID has input reports) the sink that hands it each of them. Thread context.
    /// </summary>
    protected HidDev AttachChild(Device self, UhidevArgs a, object? layout = null)
    {
        Kernel k = self.Autoconf.Kernel;
        var d = new HidDev
        {
            Self = self, Usb = a.Parent.Usb, Lock = new KMutex(k), Cv = new KCondvar(k),
            Parent = a.Parent, ReportId = a.ReportId, InputSize = a.Desc.ReportBytes(HidKind.Input, a.ReportId), Layout = layout,
        };
        self.Softc = d;
        MakeNode(self, d);
        // A report ID with only output or feature reports has nothing to read.
        if (d.InputSize > 0) a.Parent.SetSink(a.ReportId, r => OnReport(d, r));
        return d;
    }

    /// <summary>Makes /dev/NAMEunit for <paramref name="d"/> (the driver's character device is attached at its first unit). Thread context.</summary>
    protected void MakeNode(Device self, HidDev d)
    {
        Kernel k = self.Autoconf.Kernel;
        Rump.Vfs.Vfs? vfs = k.GetService<Rump.Vfs.Vfs>();
        if (vfs != null)
        {
            if (_cdev == null)
            {
                _cdev = new NodeDriver(this);
                if (vfs.CharDevices.Attach(Name, _cdev, ref _major) != 0) _cdev = null;
            }
            if (_cdev != null)
            {
                _mapLock ??= new KMutex(k);
                _mapLock.Enter();
                _byUnit[self.Unit] = d;
                _mapLock.Exit();
                d.Node = "/dev/" + self.Name;
                if (vfs.MakeCharNode(k.CurlwpOrBind(), d.Node, Devsw.MakeDev(_major, (uint)self.Unit)) != 0) d.Node = "";
            }
        }
    }

    /// <summary>Queues one entry and wakes readers (interrupt context).</summary>
    protected static void Push(HidDev d, byte[] entry)
    {
        d.Lock.Enter();
        if (d.Queue.Count >= QueueLimit) { d.Queue.Dequeue(); d.Dropped++; }
        d.Queue.Enqueue(entry);
        d.Cv.Broadcast();
        d.Sel.Notify();
        d.Lock.Exit();
    }

    public override int Detach(Device self, DetachFlags flags)
    {
        if (self.Softc is not HidDev d) return 0;
        d.Lock.Enter();
        d.Dying = true;
        d.Cv.Broadcast();
        d.Sel.Notify();
        d.Lock.Exit();
        d.Parent?.SetSink(d.ReportId, null);
        Kernel k = self.Autoconf.Kernel;
        if (d.Node.Length > 0) k.GetService<Rump.Vfs.Vfs>()?.RemoveCharNode(k.CurlwpOrBind(), d.Node);
        if (_mapLock != null) { _mapLock.Enter(); _byUnit.Remove(self.Unit); _mapLock.Exit(); }
        return 0;
    }

    private HidDev? Lookup(ulong dev)
    {
        if (_mapLock == null) return null;
        _mapLock.Enter();
        _byUnit.TryGetValue((int)Cdevsw.Minor(dev), out HidDev? d);
        _mapLock.Exit();
        return d;
    }

    /// <summary>The character device of the driver's units (minor = unit).</summary>
    private sealed class NodeDriver : CharDevice
    {
        private readonly HidDriverBase _drv;
        public NodeDriver(HidDriverBase drv) { _drv = drv; }

        public override int Open(ulong dev, int fflag, Lwp l) => _drv.Lookup(dev) is { Dying: false } ? 0 : Abi.ENXIO;

        public override int Read(ulong dev, ref Uio uio, int ioflag, Lwp l)
        {
            HidDev? d = _drv.Lookup(dev);
            if (d == null) return Abi.ENXIO;
            d.Lock.Enter();
            if (d.Immediate && !d.Dying)
            {
                // The request sleeps: not under the lock the completion takes.
                d.Lock.Exit();
                return _drv.ReadImmediate(d, ref uio);
            }
            while (d.Queue.Count == 0)
            {
                if (d.Dying) { d.Lock.Exit(); return Abi.ENXIO; }
                if ((ioflag & SpecFs.IoNdelay) != 0) { d.Lock.Exit(); return Abi.EAGAIN; }
                int e = d.Cv.WaitSig(d.Lock);
                if (e != 0) { d.Lock.Exit(); return e; }
            }
            // Whole entries only, as many as fit.
            int err = 0;
            while (d.Queue.Count > 0 && uio.Resid >= d.Queue.Peek().Length)
            {
                byte[] b = d.Queue.Dequeue();
                err = uio.Move((ReadOnlySpan<byte>)b);
                if (err != 0) break;
            }
            d.Lock.Exit();
            return err;
        }

        public override int Ioctl(ulong dev, ulong cmd, Span<byte> data, int fflag, Lwp l)
        {
            HidDev? d = _drv.Lookup(dev);
            if (d == null || d.Dying) return Abi.ENXIO;
            return _drv.Ioctl(d, cmd, data, fflag, l);
        }

        public override int Poll(ulong dev, int events, Lwp l)
        {
            HidDev? d = _drv.Lookup(dev);
            if (d == null) return Abi.POLLERR;
            int want = events & (Abi.POLLIN | Abi.POLLRDNORM);
            d.Lock.Enter();
            int r = d.Queue.Count > 0 || d.Dying ? want : 0;
            if (r == 0 && want != 0) d.Sel.Record(l);
            d.Lock.Exit();
            return r;
        }
    }
}

/// <summary>
/// Keyboards under uhidev (NetBSD ukbd at uhidev): the report ID whose input reports belong to a
/// Keyboard application collection with keys in it ("ukbd0 at uhidev0", or "... reportid 1" on
/// a composite device). The keys are found in the report descriptor (<see cref="KeyboardLayout"/>:
/// boot-style key arrays and NKRO bitmaps alike), the device stays in the report protocol, and
/// /dev/ukbdN's reads return key events as NetBSD's struct wscons_event (type 2 down / 1 up,
/// value = the HID key usage, time). A rollover report (more keys held than the device can say)
/// changes nothing.
/// </summary>
public sealed class Ukbd : HidDriverBase
{
    public override string Name => "ukbd";
    /// <summary>sizeof(struct wscons_event) on NetBSD amd64: u_int type, int value, struct timespec.</summary>
    public const int EventSize = 24;
    public const uint KeyUp = 1, KeyDown = 2;

    public override int Match(Device parent, object aux)
        => aux is UhidevArgs a && KeyboardLayout.IsKeyboard(a.Desc, a.ReportId) ? UMatch.IfaceClassSubclassProto : UMatch.None;

    public override string? Describe(Device parent, object aux) => null;

    public override void Attach(Device self, Device parent, object aux)
    {
        var a = (UhidevArgs)aux;
        AttachChild(self, a, KeyboardLayout.From(a.Desc, a.ReportId));
        self.Aprint("keyboard, events on /dev/" + self.Name + "\n");
    }

    protected override void OnReport(HidDev d, ReadOnlySpan<byte> report)
    {
        if (d.Layout is not KeyboardLayout layout || layout.Parse(report, out KeyboardState now) != 0) return;
        Span<KeyEvent> ev = stackalloc KeyEvent[2 * KeyboardState.MaxKeys + 16];
        int n = KeyboardState.Diff(d.Keys, now, ev);
        d.Keys = now;
        long ns = Clock.MonotonicNs();
        for (int i = 0; i < n; i++)
        {
            byte[] e = new byte[EventSize];
            MemoryMarshal.Write(e.AsSpan(0), ev[i].Down ? KeyDown : KeyUp);
            MemoryMarshal.Write(e.AsSpan(4), (int)ev[i].Usage);
            MemoryMarshal.Write(e.AsSpan(8), ns / 1_000_000_000);
            MemoryMarshal.Write(e.AsSpan(16), ns % 1_000_000_000);
            Push(d, e);
        }
    }
}

/// <summary>
/// One report ID of a HID interface under uhidev ("uhid0 at uhidev0 reportid 1: input=8,
/// output=1, feature=0"): its input reports, one per entry of the descriptor's input size, on
/// /dev/uhidN.
/// </summary>
public sealed class Uhid : HidDriverBase
{
    public override string Name => "uhid";

    public override int Match(Device parent, object aux) => aux is UhidevArgs ? UMatch.IfaceClass : UMatch.None;

    public override string? Describe(Device parent, object aux)
    {
        var a = (UhidevArgs)aux;
        return "input=" + a.Desc.ReportBytes(HidKind.Input, a.ReportId) + ", output=" + a.Desc.ReportBytes(HidKind.Output, a.ReportId) +
               ", feature=" + a.Desc.ReportBytes(HidKind.Feature, a.ReportId);
    }

    public override void Attach(Device self, Device parent, object aux) => AttachChild(self, (UhidevArgs)aux);

    /// <summary>The size of this report ID's report of <paramref name="type"/> (UHID_*_REPORT), -1 for a type that is none of them.</summary>
    private static int ReportSize(HidDev d, int type) => type switch
    {
        Abi.UHID_INPUT_REPORT => d.Parent.Desc.ReportBytes(HidKind.Input, d.ReportId),
        Abi.UHID_OUTPUT_REPORT => d.Parent.Desc.ReportBytes(HidKind.Output, d.ReportId),
        Abi.UHID_FEATURE_REPORT => d.Parent.Desc.ReportBytes(HidKind.Feature, d.ReportId),
        _ => -1,
    };

    /// <summary>
    /// NetBSD uhid's ioctls (sys/dev/usb/uhid.c, argument layouts in <see cref="UgenIoctl"/>):
    /// USB_GET_REPORT_DESC (the whole interface's descriptor, cut at 1024 bytes), USB_GET_REPORT_ID,
    /// USB_GET_REPORT / USB_SET_REPORT (GET_REPORT / SET_REPORT control requests for this node's
    /// report ID, of the type in ucr_report, the report's size from the descriptor, without the ID
    /// byte; EINVAL for another type or a size of 0 or over 1024, EIO if the device refuses),
    /// USB_SET_IMMED (on: reads fetch the input report with GET_REPORT; EOPNOTSUPP if the device
    /// cannot, as NetBSD checks by asking once), USB_GET_DEVICEINFO. SET_REPORT needs the node open
    /// for writing (NetBSD checks FWRITE for it too).
    /// </summary>
    protected override int Ioctl(HidDev d, ulong cmd, Span<byte> data, int fflag, Lwp l)
    {
        UhidevSoftc p = d.Parent;
        switch (cmd)
        {
            case Abi.FIONBIO:
                return 0;
            case Abi.USB_GET_REPORT_DESC:
            {
                int n = Math.Min(p.RawDesc.Length, UgenIoctl.MaxReportData);
                BinaryPrimitives.WriteInt32LittleEndian(data, n);
                p.RawDesc.AsSpan(0, n).CopyTo(data.Slice(UgenIoctl.ReportData));
                return 0;
            }
            case Abi.USB_GET_REPORT_ID:
                BinaryPrimitives.WriteInt32LittleEndian(data, d.ReportId);
                return 0;
            case Abi.USB_GET_REPORT:
            case Abi.USB_SET_REPORT:
            {
                int type = BinaryPrimitives.ReadInt32LittleEndian(data);
                int size = ReportSize(d, type);
                if (size <= 0 || size > UgenIoctl.MaxReportData) return Abi.EINVAL;
                Span<byte> rep = data.Slice(UgenIoctl.ReportData, size);
                if (cmd == Abi.USB_SET_REPORT)
                {
                    if ((fflag & File.FWRITE) == 0) return Abi.EPERM;
                    return p.SetReport((byte)type, d.ReportId, rep);
                }
                int e = p.GetReport((byte)type, d.ReportId, rep, out int act);
                if (e == 0 && act < size) rep.Slice(act).Clear();
                return e;
            }
            case Abi.USB_SET_IMMED:
            {
                bool on = BinaryPrimitives.ReadInt32LittleEndian(data) != 0;
                if (on)
                {
                    if (d.InputSize == 0 || d.InputSize > UgenIoctl.MaxReportData) return Abi.EOPNOTSUPP;
                    Span<byte> probe = stackalloc byte[d.InputSize];
                    if (p.GetReport(Abi.UHID_INPUT_REPORT, d.ReportId, probe, out _) != 0) return Abi.EOPNOTSUPP;
                }
                d.Lock.Enter();
                d.Immediate = on;
                d.Lock.Exit();
                return 0;
            }
            case Abi.USB_GET_DEVICEINFO:
            {
                UsbDevice u = d.Usb;
                var names = new string[Math.Min(u.Subdevs.Count, UgenIoctl.MaxDevnames)];
                for (int i = 0; i < names.Length; i++) names[i] = u.Subdevs[i].Name;
                UgenIoctl.EmitDeviceInfo(data, new UgenIoctl.DeviceInfo
                {
                    Bus = 0, Addr = u.Address, Config = u.Config?.Desc.ConfigValue ?? 0, Speed = (byte)u.Speed, Desc = u.Desc,
                    Product = u.Product, Vendor = u.Vendor, Serial = u.Serial,
                    PowerMa = u.Config == null || u.Config.Desc.SelfPowered ? 0 : u.Config.Desc.MaxPower * 2,
                    DevNames = names,
                });
                return 0;
            }
            default:
                return Abi.ENOTTY;
        }
    }

    /// <summary>Immediate mode: each read is one GET_REPORT(input) of this report ID (EIO if the device refuses), the report at the descriptor's size.</summary>
    protected override int ReadImmediate(HidDev d, ref Uio uio)
    {
        if (uio.Resid < d.InputSize) return Abi.EINVAL;
        Span<byte> rep = stackalloc byte[d.InputSize];
        int e = d.Parent.GetReport(Abi.UHID_INPUT_REPORT, d.ReportId, rep, out int act);
        if (e != 0) return Abi.EIO;
        if (act < rep.Length) rep.Slice(act).Clear();
        return uio.Move((ReadOnlySpan<byte>)rep);
    }

    protected override void OnReport(HidDev d, ReadOnlySpan<byte> report)
    {
        // Readers get whole reports of the descriptor's size: a short one is padded with zeros
        // (its missing fields), a long one cut.
        byte[] e = new byte[d.InputSize];
        report.Slice(0, Math.Min(report.Length, e.Length)).CopyTo(e);
        Push(d, e);
    }
}
