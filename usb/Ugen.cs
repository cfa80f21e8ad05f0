using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb.Wire;
using Rump.Vfs;

namespace Rump.Usb;

/// <summary>
/// ugen (NetBSD ugen.c), reduced: a device no other driver wants (usbdi offers it last, as
/// <see cref="UsbGenericArgs"/>) keeps its first configuration and gets
/// one character device per bulk or interrupt endpoint, /dev/ugenN.EE (EE the endpoint number,
/// two digits), for programs that speak the device's own protocol. read(2) on an IN endpoint is
/// one transfer of up to the read's size (short transfers are fine unless USB_SET_SHORT_XFER
/// turned them off: then EIO, as NetBSD), write(2) on an OUT endpoint one transfer of the whole
/// buffer; both sleep without the virtual CPU, time out after the endpoint's timeout
/// (<see cref="TimeoutMs"/>, USB_SET_TIMEOUT; 0 waits for ever) with ETIMEDOUT, and fail with EIO
/// on a stall (the halt is cleared).
///
/// The control endpoint is /dev/ugenN.00 (no read or write: ENODEV). Its ioctls, NetBSD's numbers
/// and structures (<see cref="UgenIoctl"/>): USB_GET_DEVICE_DESC, USB_GET_CONFIG_DESC,
/// USB_GET_CONFIG, USB_GET_DEVICEINFO (what the kernel knows: no request is made) and
/// USB_DO_REQUEST (a control transfer; needs the node open for writing; SET_ADDRESS,
/// SET_CONFIGURATION and SET_INTERFACE are refused with EINVAL, since they would change the device
/// under the kernel; a failed transfer is EIO). USB_SET_TIMEOUT works on every node,
/// USB_SET_SHORT_XFER on the others.
///
/// Locks: each endpoint's <see cref="Endpoint.Lock"/> serialises its transfers and settings (one
/// at a time, held across the sleeping transfer: no other lock is taken under it); the driver's
/// unit map lock (<see cref="_mapLock"/>) is a leaf.
/// </summary>
public sealed class Ugen : Driver
{
    public override string Name => "ugen";
    public const int TimeoutMs = 5000;
    /// <summary>Largest single transfer a read or write makes.</summary>
    public const int MaxTransfer = 64 * 1024;

    private sealed class Endpoint
    {
        public UsbPipe Pipe = null!;
        public UsbXfer Xfer = null!;
        public KMutex Lock = null!;
        public string Node = "";
        /// <summary>USB_SET_TIMEOUT (ms, 0: none) and USB_SET_SHORT_XFER; under <see cref="Lock"/>.</summary>
        public int TimeoutMs = Ugen.TimeoutMs;
        public bool ShortOk = true;
        public bool IsControl;
        /// <summary>The control endpoint's data-stage buffer (pinned), grown as needed; under <see cref="Lock"/>.</summary>
        public byte[] CtlBuf = Array.Empty<byte>();
    }

    private sealed class Softc
    {
        public UsbDevice Dev = null!;
        public Device Self = null!;
        public readonly Dictionary<int, Endpoint> Endpoints = new();
        public volatile bool Dying;
    }

    private readonly Dictionary<int, Softc> _units = new();
    private KMutex? _mapLock;
    private NodeDriver? _cdev;
    private uint _major = Cdevsw.NoMajor;

    public override int Match(Device parent, object aux) => aux is UsbGenericArgs ? UMatch.Generic : UMatch.None;

    public override string? Describe(Device parent, object aux) => ((UsbGenericArgs)aux).Device.AttachDescription();

    public override void Attach(Device self, Device parent, object aux)
    {
        UsbDevice dev = ((UsbGenericArgs)aux).Device;
        Kernel k = self.Autoconf.Kernel;
        var sc = new Softc { Dev = dev, Self = self };
        self.Softc = sc;
        if (dev.Config == null && (dev.Desc.NumConfigurations == 0 || dev.SetConfigIndex(0) != 0)) { self.Aprint("cannot set a configuration\n"); return; }
        Rump.Vfs.Vfs? vfs = k.GetService<Rump.Vfs.Vfs>();
        _mapLock ??= new KMutex(k);
        if (vfs != null && _cdev == null)
        {
            _cdev = new NodeDriver(this);
            if (vfs.CharDevices.Attach(Name, _cdev, ref _major) != 0) _cdev = null;
        }
        // The control endpoint: the device's default pipe, which stays the device's (not closed here).
        var ctl = new Endpoint { Pipe = dev.DefaultPipe, Xfer = new UsbXfer(dev.DefaultPipe, 0), Lock = new KMutex(k), IsControl = true };
        sc.Endpoints[0] = ctl;
        if (_cdev != null && vfs != null)
        {
            string node = "/dev/" + self.Name + ".00";
            if (vfs.MakeCharNode(k.CurlwpOrBind(), node, Devsw.MakeDev(_major, (uint)(self.Unit * 16))) == 0) ctl.Node = node;
        }
        foreach (UsbInterface ui in dev.Interfaces)
        {
            foreach (EndpointInfo ep in ui.Alt.Endpoints)
            {
                if (ep.Desc.Type is not (UsbXferType.Bulk or UsbXferType.Interrupt) || sc.Endpoints.ContainsKey(ep.Desc.Number)) continue;
                if (ui.OpenPipe(ep.Desc.Address, out UsbPipe? pipe) != 0) continue;
                var e = new Endpoint { Pipe = pipe!, Xfer = new UsbXfer(pipe!, 0), Lock = new KMutex(k) };
                sc.Endpoints[ep.Desc.Number] = e;
                if (_cdev == null || vfs == null) continue;
                string node = "/dev/" + self.Name + "." + ep.Desc.Number.ToString("00", System.Globalization.CultureInfo.InvariantCulture);
                if (vfs.MakeCharNode(k.CurlwpOrBind(), node, Devsw.MakeDev(_major, (uint)(self.Unit * 16 + ep.Desc.Number))) == 0) e.Node = node;
            }
        }
        _mapLock.Enter();
        _units[self.Unit] = sc;
        _mapLock.Exit();
        int data = sc.Endpoints.Count - 1;
        self.Aprint(data + " endpoint" + (data == 1 ? "" : "s") + " on /dev/" + self.Name + ".EE\n");
    }

    public override int Detach(Device self, DetachFlags flags)
    {
        if (self.Softc is not Softc sc) return 0;
        sc.Dying = true;
        Kernel k = self.Autoconf.Kernel;
        if (_mapLock != null) { _mapLock.Enter(); _units.Remove(self.Unit); _mapLock.Exit(); }
        foreach (Endpoint e in sc.Endpoints.Values)
        {
            e.Xfer.Abort();
            if (!e.IsControl) UsbDevice.ClosePipe(e.Pipe);
            if (e.Node.Length > 0) k.GetService<Rump.Vfs.Vfs>()?.RemoveCharNode(k.CurlwpOrBind(), e.Node);
        }
        return 0;
    }

    private Endpoint? Lookup(ulong dev, out Softc? sc)
    {
        sc = null;
        if (_mapLock == null) return null;
        uint minor = Cdevsw.Minor(dev);
        _mapLock.Enter();
        _units.TryGetValue((int)(minor / 16), out sc);
        _mapLock.Exit();
        if (sc == null || sc.Dying) return null;
        return sc.Endpoints.TryGetValue((int)(minor % 16), out Endpoint? e) ? e : null;
    }

    private sealed unsafe class NodeDriver : CharDevice
    {
        private readonly Ugen _drv;
        public NodeDriver(Ugen d) { _drv = d; }

        public override int Open(ulong dev, int fflag, Lwp l) => _drv.Lookup(dev, out _) != null ? 0 : Abi.ENXIO;

        public override int Read(ulong dev, ref Uio uio, int ioflag, Lwp l)
        {
            Endpoint? e = _drv.Lookup(dev, out Softc? sc);
            if (e == null) return Abi.ENXIO;
            if (e.IsControl) return Abi.ENODEV;
            if (!e.Pipe.Endpoint.IsIn) return Abi.EINVAL;
            int n = (int)Math.Min(uio.Resid, MaxTransfer);
            if (n == 0) return 0;
            byte[] buf = GC.AllocateArray<byte>(n, pinned: true);
            e.Lock.Enter();
            int err = Transfer(sc!, e, buf, n, out int act);
            e.Lock.Exit();
            if (err != 0) return err;
            return uio.Move((ReadOnlySpan<byte>)buf.AsSpan(0, act));
        }

        public override int Write(ulong dev, ref Uio uio, int ioflag, Lwp l)
        {
            Endpoint? e = _drv.Lookup(dev, out Softc? sc);
            if (e == null) return Abi.ENXIO;
            if (e.IsControl) return Abi.ENODEV;
            if (e.Pipe.Endpoint.IsIn) return Abi.EINVAL;
            int n = (int)Math.Min(uio.Resid, MaxTransfer);
            byte[] buf = GC.AllocateArray<byte>(Math.Max(n, 1), pinned: true);
            int err = uio.Move(buf.AsSpan(0, n));
            if (err != 0) return err;
            e.Lock.Enter();
            err = Transfer(sc!, e, buf, n, out _);
            e.Lock.Exit();
            return err;
        }

        public override int Ioctl(ulong dev, ulong cmd, Span<byte> data, int fflag, Lwp l)
        {
            Endpoint? e = _drv.Lookup(dev, out Softc? sc);
            if (e == null) return Abi.ENXIO;
            switch (cmd)
            {
                case Abi.FIONBIO:
                    return 0;
                case Abi.USB_SET_SHORT_XFER:
                    if (e.IsControl) return Abi.EINVAL;
                    e.Lock.Enter();
                    e.ShortOk = BinaryPrimitives.ReadInt32LittleEndian(data) != 0;
                    e.Lock.Exit();
                    return 0;
                case Abi.USB_SET_TIMEOUT:
                {
                    int ms = BinaryPrimitives.ReadInt32LittleEndian(data);
                    if (ms < 0) return Abi.EINVAL;
                    e.Lock.Enter();
                    e.TimeoutMs = ms;
                    e.Lock.Exit();
                    return 0;
                }
            }
            // The rest is the control endpoint's (NetBSD: EINVAL on the others).
            if (!e.IsControl) return Abi.EINVAL;
            UsbDevice d = sc!.Dev;
            switch (cmd)
            {
                case Abi.USB_GET_DEVICE_DESC:
                    d.Desc.Emit(data);
                    return 0;
                case Abi.USB_GET_CONFIG:
                    BinaryPrimitives.WriteInt32LittleEndian(data, d.Config?.Desc.ConfigValue ?? 0);
                    return 0;
                case Abi.USB_GET_CONFIG_DESC:
                    return ConfigDesc(e, d, data);
                case Abi.USB_GET_DEVICEINFO:
                    UgenIoctl.EmitDeviceInfo(data, new UgenIoctl.DeviceInfo
                    {
                        Bus = 0, Addr = d.Address, Config = d.Config?.Desc.ConfigValue ?? 0, Speed = (byte)d.Speed, Desc = d.Desc,
                        Product = d.Product, Vendor = d.Vendor, Serial = d.Serial,
                        PowerMa = d.Config == null || d.Config.Desc.SelfPowered ? 0 : d.Config.Desc.MaxPower * 2,
                        DevNames = new[] { sc.Self.Name },
                    });
                    return 0;
                case Abi.USB_DO_REQUEST:
                    if ((fflag & File.FWRITE) == 0) return Abi.EPERM;
                    return DoRequest(e, d, data, l);
                default:
                    return Abi.ENOTTY;
            }
        }

        /// <summary>USB_GET_CONFIG_DESC: the current configuration's header from what the kernel parsed, another's read from the device.</summary>
        private static int ConfigDesc(Endpoint e, UsbDevice d, Span<byte> data)
        {
            int index = UgenIoctl.ConfigIndex(data);
            Span<byte> dst = data.Slice(UgenIoctl.ConfigDescDesc, ConfigDescriptor.Size);
            if (index == UgenIoctl.CurrentConfigIndex)
            {
                if (d.Config == null) return Abi.EINVAL;
                d.Config.Desc.Emit(dst);
                return 0;
            }
            if (index < 0 || index >= d.Desc.NumConfigurations) return Abi.EINVAL;
            e.Lock.Enter();
            int err = Control(e, SetupPacket.GetDesc(UDesc.Config, (byte)index, ConfigDescriptor.Size), ConfigDescriptor.Size, 0, out int act);
            if (err == 0 && ConfigDescriptor.Parse(e.CtlBuf.AsSpan(0, act), out ConfigDescriptor cd) == 0) cd.Emit(dst);
            else if (err == 0) err = Abi.EIO;
            e.Lock.Exit();
            return err;
        }

        /// <summary>USB_DO_REQUEST: the request's data stage moves between the caller's ucr_data and a kernel buffer.</summary>
        private static int DoRequest(Endpoint e, UsbDevice d, Span<byte> data, Lwp l)
        {
            UgenIoctl.ParseCtlRequest(data, out SetupPacket req, out long udata, out int flags);
            // Requests that would change the device under the kernel's feet (NetBSD refuses the same).
            if ((req.RequestType == SetupPacket.DirOut && req.Request is SetupPacket.SetAddress or SetupPacket.SetConfiguration) ||
                (req.RequestType == (SetupPacket.DirOut | SetupPacket.RecipInterface) && req.Request == SetupPacket.SetInterface))
                return Abi.EINVAL;
            int len = req.Length;
            if (len > UgenIoctl.MaxRequestData) return Abi.EINVAL;
            if (len > 0 && udata == 0) return Abi.EFAULT;
            Vmspace vm = l.Proc.Vmspace;
            e.Lock.Enter();
            try
            {
                if (e.CtlBuf.Length < len) e.CtlBuf = GC.AllocateArray<byte>(Math.Max(len, 256), pinned: true);
                if (len > 0 && !req.IsIn)
                {
                    int ce = vm.CopyIn(new UserPtr(udata), e.CtlBuf.AsSpan(0, len));
                    if (ce != 0) return ce;
                }
                int err = Control(e, req, len, flags, out int act);
                if (err != 0) return err == Abi.ETIMEDOUT ? err : Abi.EIO;
                UgenIoctl.SetCtlActLen(data, act);
                if (act > 0 && req.IsIn) return vm.CopyOut(e.CtlBuf.AsSpan(0, act), new UserPtr(udata));
                return 0;
            }
            finally { e.Lock.Exit(); }
        }

        /// <summary>One control transfer on the device's default pipe with the endpoint's timeout; data in <see cref="Endpoint.CtlBuf"/>. <see cref="Endpoint.Lock"/> held.</summary>
        private static int Control(Endpoint e, SetupPacket req, int len, int flags, out int act)
        {
            act = 0;
            if (e.CtlBuf.Length < Math.Max(len, 1)) e.CtlBuf = GC.AllocateArray<byte>(Math.Max(len, 256), pinned: true);
            UsbXfer x = e.Xfer;
            x.Setup = req;
            fixed (byte* p = e.CtlBuf) x.Data = p; // pinned: the address stays valid
            x.Length = len;
            x.TimeoutMs = e.TimeoutMs;
            x.Flags = XferFlags.ShortOk;
            int st = x.Run();
            act = x.ActLen;
            // A short IN data stage is an error unless the caller allowed it (NetBSD USBD_SHORT_XFER).
            if (st == 0 && req.IsIn && act < len && (flags & UgenIoctl.ShortXferOk) == 0) st = Abi.EIO;
            return st;
        }

        private static int Transfer(Softc sc, Endpoint e, byte[] buf, int n, out int act)
        {
            act = 0;
            UsbXfer x = e.Xfer;
            fixed (byte* p = buf) x.Data = p; // a pinned array: the address stays valid
            x.Length = n;
            x.TimeoutMs = e.TimeoutMs;
            x.Flags = e.ShortOk ? XferFlags.ShortOk : 0;
            int st = x.Run();
            act = x.ActLen;
            if (st == Abi.EPIPE) { sc.Dev.ClearStall(e.Pipe); return Abi.EIO; }
            return st;
        }
    }
}
