using System;
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
/// one transfer of up to the read's size (short transfers are fine), write(2) on an OUT endpoint
/// one transfer of the whole buffer; both sleep without the virtual CPU, time out after
/// <see cref="TimeoutMs"/> (ETIMEDOUT), and fail with EIO on a stall (the halt is cleared). The
/// control endpoint (ugenN.00) and NetBSD's ioctls are not provided yet.
///
/// Locks: each endpoint's <see cref="Endpoint.Lock"/> serialises its transfers (one at a time,
/// held across the sleeping transfer: no other lock is taken under it); the driver's unit map
/// lock (<see cref="_mapLock"/>) is a leaf.
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
    }

    private sealed class Softc
    {
        public UsbDevice Dev = null!;
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
        var sc = new Softc { Dev = dev };
        self.Softc = sc;
        if (dev.Config == null && (dev.Desc.NumConfigurations == 0 || dev.SetConfigIndex(0) != 0)) { self.Aprint("cannot set a configuration\n"); return; }
        Rump.Vfs.Vfs? vfs = k.GetService<Rump.Vfs.Vfs>();
        _mapLock ??= new KMutex(k);
        if (vfs != null && _cdev == null)
        {
            _cdev = new NodeDriver(this);
            if (vfs.CharDevices.Attach(Name, _cdev, ref _major) != 0) _cdev = null;
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
        self.Aprint(sc.Endpoints.Count + " endpoint" + (sc.Endpoints.Count == 1 ? "" : "s") + " on /dev/" + self.Name + ".EE\n");
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
            UsbDevice.ClosePipe(e.Pipe);
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

        private static int Transfer(Softc sc, Endpoint e, byte[] buf, int n, out int act)
        {
            act = 0;
            UsbXfer x = e.Xfer;
            fixed (byte* p = buf) x.Data = p; // a pinned array: the address stays valid
            x.Length = n;
            x.TimeoutMs = TimeoutMs;
            x.Flags = XferFlags.ShortOk;
            int st = x.Run();
            act = x.ActLen;
            if (st == Abi.EPIPE) { sc.Dev.ClearStall(e.Pipe); return Abi.EIO; }
            return st;
        }
    }
}
