using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb.Wire;
using Rump.Vfs;

namespace Rump.Usb;

/// <summary>
/// HID class drivers (NetBSD uhid.c, ukbd.c), which queue what they read for a character device:
///  - ukbd (boot keyboards, put in the boot protocol) reads input reports from the interface's
///    interrupt-IN pipe itself, restarting the transfer from its own completion (interrupt
///    context): /dev/ukbdN, whose reads return key events as NetBSD's struct wscons_event (type 2
///    down / 1 up, value = the HID key usage, time);
///  - uhid attaches under uhidev (<see cref="Uhidev"/>, any other HID interface), one per report
///    ID: /dev/uhidN, whose reads return that ID's input reports (without the ID byte), each of
///    the size the report descriptor gives it.
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
        /// <summary>The interrupt pipe and its xfer (ukbd); null for uhid, whose reports come from uhidev.</summary>
        public UsbPipe? Pipe;
        public UsbXfer? Xfer;
        /// <summary>uhid: the parent and report ID, and the input report size (entries are padded or cut to it).</summary>
        public UhidevSoftc? Parent;
        public byte ReportId;
        public int InputSize;
        public KMutex Lock = null!;
        public KCondvar Cv = null!;
        public readonly SelInfo Sel = new();
        public readonly Queue<byte[]> Queue = new();
        public bool Dying;
        public KeyboardState Keys;
        public string Node = "";
        public long Dropped;
    }

    private readonly Dictionary<int, HidDev> _byUnit = new();
    /// <summary>Protects <see cref="_byUnit"/> (made at the first attach, in thread context); a leaf.</summary>
    private KMutex? _mapLock;
    private NodeDriver? _cdev;
    private uint _major = Cdevsw.NoMajor;

    public override string? Describe(Device parent, object aux) => aux is UsbIfaceArgs a ? a.Device.AttachDescription() : null;

    /// <summary>What a completed input report becomes in the queue (zero or more entries).</summary>
    protected abstract void OnReport(HidDev d, ReadOnlySpan<byte> report);

    /// <summary>Per-driver set-up before the pipe starts (SET_PROTOCOL for keyboards). Thread context.</summary>
    protected virtual void Prepare(HidDev d, UsbIfaceArgs a) { }

    public override void Attach(Device self, Device parent, object aux)
    {
        var a = (UsbIfaceArgs)aux;
        Kernel k = self.Autoconf.Kernel;
        EndpointInfo? ep = a.Interface.FindEndpoint(true, UsbXferType.Interrupt);
        if (ep == null || a.Interface.OpenPipe(ep.Desc.Address, out UsbPipe? pipe) != 0) { self.Aprint("no interrupt pipe\n"); return; }
        var d = new HidDev { Self = self, Usb = a.Device, Pipe = pipe!, Lock = new KMutex(k), Cv = new KCondvar(k) };
        // SET_IDLE 0: report only on change (devices may refuse; that is fine).
        a.Device.DoRequest(new SetupPacket(0x21, 0x0A, 0, a.Interface.Desc.Number, 0));
        Prepare(d, a);
        d.Xfer = new UsbXfer(pipe!, Math.Max(8, ep.Desc.PacketBytes)) { Priv = d, Callback = ReportDone, Flags = XferFlags.ShortOk };
        self.Softc = d;
        MakeNode(self, d);
        if (d.Xfer.Start() != 0) self.Aprint("cannot start the interrupt pipe\n");
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

    private void ReportDone(UsbXfer x)
    {
        var d = (HidDev)x.Priv!;
        if (d.Dying || x.Status is Abi.ECANCELED or Abi.ENXIO) return;
        if (x.Status == 0 && x.ActLen > 0) OnReport(d, x.Span.Slice(0, x.ActLen));
        if (!d.Dying) x.Start();
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
        d.Xfer?.Abort();
        if (d.Pipe != null) UsbDevice.ClosePipe(d.Pipe);
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

/// <summary>USB keyboards in the boot protocol: key events as struct wscons_event on /dev/ukbdN.</summary>
public sealed class Ukbd : HidDriverBase
{
    public override string Name => "ukbd";
    /// <summary>sizeof(struct wscons_event) on NetBSD amd64: u_int type, int value, struct timespec.</summary>
    public const int EventSize = 24;
    public const uint KeyUp = 1, KeyDown = 2;

    public override int Match(Device parent, object aux)
        => aux is UsbIfaceArgs a && a.Interface.Desc.Class == UClass.Hid && a.Interface.Desc.SubClass == 1 && a.Interface.Desc.Protocol == 1
            ? UMatch.IfaceClassSubclassProto : UMatch.None;

    protected override void Prepare(HidDev d, UsbIfaceArgs a)
    {
        // SET_PROTOCOL(boot): 8-byte reports whatever the report descriptor says.
        d.Usb.DoRequest(new SetupPacket(0x21, 0x0B, 0, a.Interface.Desc.Number, 0));
        d.Self.Aprint("boot protocol keyboard, events on /dev/" + d.Self.Name + "\n");
    }

    protected override void OnReport(HidDev d, ReadOnlySpan<byte> report)
    {
        if (KeyboardState.ParseBoot(report, out KeyboardState now) != 0) return;
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

    public override void Attach(Device self, Device parent, object aux)
    {
        var a = (UhidevArgs)aux;
        Kernel k = self.Autoconf.Kernel;
        var d = new HidDev
        {
            Self = self, Usb = a.Parent.Usb, Lock = new KMutex(k), Cv = new KCondvar(k),
            Parent = a.Parent, ReportId = a.ReportId, InputSize = a.Desc.ReportBytes(HidKind.Input, a.ReportId),
        };
        self.Softc = d;
        MakeNode(self, d);
        // A report ID with only output or feature reports has nothing to read.
        if (d.InputSize > 0) a.Parent.SetSink(a.ReportId, r => OnReport(d, r));
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
