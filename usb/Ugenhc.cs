using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb.Hyper;
using Rump.Usb.Wire;

namespace Rump.Usb;

/// <summary>
/// ugenhc, the host controller whose devices are the host's (NetBSD's ugenhc for rump kernels,
/// here over the libusb component hypercalls): a software root hub whose ports are the host
/// devices the user selected with RUMP_USB ("all", or a comma-separated list of "VVVV:PPPP" and
/// "BUS.ADDR"). Host hot-plug becomes a port connection change, so uhub attaches and detaches.
///
/// Host hubs are mirrored, not driven: the host's hub driver owns a real hub (its ports' power,
/// resets and addresses), and hub-class requests from us, or claiming its interface, would take
/// every device behind it away from the host. So each host hub above a selected device (or
/// selected itself) becomes a software hub (<see cref="RootHub"/>, as the root hub is) at its
/// parent's port, and a device behind it sits at the software hub's port of the same number as
/// on the host: the autoconf tree shows the host's topology ("uhub1 at uhub0 port 1",
/// "umass0 at uhub1 port 2"). A host hub is never opened. Devices on the host's root hubs (of any
/// bus) take the first free root port.
///
/// Transfers go to rumpusb_submit with the caller's buffer; control requests get a small native
/// buffer for setup + data. A bulk transfer into or out of the device's zero-copy memory
/// (<see cref="ZeroCopyPool"/>: lent to the drivers above as DMA memory, <see cref="AllocDma"/>)
/// goes as it is, with no copy anywhere. Other bulk transfers of <see cref="MinZeroCopy"/> bytes
/// or more bounce through an idle zero-copy buffer: usbfs then neither allocates a kernel buffer
/// per transfer nor copies the data in or out of it, which under emulation costs more than our one
/// copy between that buffer and the caller's. Where the host kernel gives no such memory
/// (rumpusb_is_zerocopy says so), the caller's buffer goes to usbfs as before;
/// <see cref="DmaXfers"/>, <see cref="ZeroCopyXfers"/> and <see cref="CopiedXfers"/> count which
/// path the large transfers took. The requests the host
/// owns are not sent on the wire but done by their hypercalls on the controller's worker thread,
/// because they block: SET_ADDRESS (the host addressed the device: nothing to do),
/// SET_CONFIGURATION (rumpusb_set_config, then claiming every interface), SET_INTERFACE
/// (rumpusb_set_alt) and CLEAR_FEATURE(ENDPOINT_HALT) (rumpusb_clear_halt, which also resets the
/// host's toggle). Completions and hot-plug arrive on the library's event thread and enter the
/// kernel's interrupt context. Timeouts are usbdi's callouts (the library gets none).
///
/// Locks: <see cref="UsbBus.Lock"/> protects the port tables (<see cref="SoftHub"/>'s,
/// <see cref="_hubs"/>, <see cref="_where"/>); a software hub's own lock is taken after it is
/// released (<see cref="RootHub.SetConnected"/>). <see cref="_wlock"/> (a leaf) protects the
/// worker's queue and the count of closes in progress; each open device's zero-copy pool has a
/// spin flag of its own (a leaf, also in interrupt context). Blocking hypercalls are made without
/// the virtual CPU and without any of these.
/// </summary>
public sealed unsafe class UgenhcBus : UsbBus
{
    public const int Ports = 16;
    /// <summary>Ports of a mirrored host hub (USB 3 hubs have at most 15); a device at a higher host port goes to a root port.</summary>
    public const int HubPorts = 15;
    /// <summary>Bulk transfers from this size up go through a zero-copy buffer (smaller ones cost usbfs little).</summary>
    public const int MinZeroCopy = 16 << 10;
    /// <summary>
    /// Bulk transfers straight into or out of lent DMA memory; and of those of at least
    /// <see cref="MinZeroCopy"/> bytes in ordinary memory, the ones that bounced through a
    /// zero-copy buffer and the ones done with the caller's buffer (usbfs copies).
    /// </summary>
    public long DmaXfers, ZeroCopyXfers, CopiedXfers;

    public readonly RootHub Root;
    private readonly string _selection;
    private readonly bool _probe;
    public override bool ProbeOnly => _probe;
    private nint _ctx;
    private GCHandle _self;
    private RumpUserUsb.Hyperup* _up;

    /// <summary>A software hub: the root hub, or the mirror of one host hub. Its tables are under <see cref="UsbBus.Lock"/>.</summary>
    private sealed class SoftHub
    {
        public readonly RootHub Hub;
        /// <summary>Per port, the host device there (0: none), and what the library said of it.</summary>
        public readonly ulong[] PortDev;
        public readonly RumpUserUsb.DevInfo[] PortInfo;
        public SoftHub(RootHub h) { Hub = h; PortDev = new ulong[h.Ports + 1]; PortInfo = new RumpUserUsb.DevInfo[h.Ports + 1]; }
    }

    private readonly SoftHub _root;
    /// <summary>Host hub devid -> its software hub. Under <see cref="UsbBus.Lock"/>.</summary>
    private readonly Dictionary<ulong, SoftHub> _hubs = new();
    /// <summary>Host devid -> the software hub and port it sits at. Under <see cref="UsbBus.Lock"/>.</summary>
    private readonly Dictionary<ulong, (SoftHub Hub, int Port)> _where = new();

    private readonly KMutex _wlock;
    private readonly KCondvar _wcv;
    private readonly Queue<UsbXfer> _work = new();
    private Kthread? _worker;
    private bool _stopping;
    /// <summary>Under <see cref="_wlock"/>: devices being closed by their pools (<see cref="CloseHost"/>).</summary>
    private int _closing;

    /// <summary>A host device open for one UsbDevice.</summary>
    private sealed class HostDev
    {
        /// <summary>0 once the device is going away (its pool closes the host's handle).</summary>
        public nint Handle;
        public ulong DevId;
        public readonly List<int> Claimed = new();
        public ZeroCopyPool Pool = null!;
    }

    /// <summary>One submitted transfer: what the completion needs.</summary>
    private sealed class Pending
    {
        public UsbXfer X = null!;
        public UgenhcBus Bus = null!;
        public byte* Ctl;
        /// <summary>The zero-copy buffer the transfer uses instead of the caller's, or null.</summary>
        public ZeroCopyBuf? Bounce;
        public HostDev Dev = null!;
        public nint Handle;
        public int AbortAsked;
        /// <summary>The xfer's run this transfer is (<see cref="UsbXfer.RunNumber"/>).</summary>
        public int Run;
    }

    private UgenhcBus(Kernel k, string selection, bool probe) : base(k)
    {
        _selection = selection;
        _probe = probe;
        Root = new RootHub(k, Ports, "ugenhc root hub");
        _root = new SoftHub(Root);
        _wlock = new KMutex(k);
        _wcv = new KCondvar(k);
    }

    /// <summary>Whether host device <paramref name="d"/> is one RUMP_USB selects.</summary>
    public static bool Selected(string selection, ushort vendor, ushort product, byte bus, byte addr)
    {
        foreach (string raw in selection.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw == "all") return true;
            int colon = raw.IndexOf(':'), dot = raw.IndexOf('.');
            if (colon > 0 && ushort.TryParse(raw.AsSpan(0, colon), NumberStyles.HexNumber, null, out ushort v) &&
                ushort.TryParse(raw.AsSpan(colon + 1), NumberStyles.HexNumber, null, out ushort p))
            {
                if (v == vendor && p == product) return true;
            }
            else if (dot > 0 && byte.TryParse(raw.AsSpan(0, dot), out byte b) && byte.TryParse(raw.AsSpan(dot + 1), out byte a))
            {
                if (b == bus && a == addr) return true;
            }
        }
        return false;
    }

    /// <summary>Starts libusb and fills the ports with the selected devices present now. Thread context.</summary>
    public static int Create(Kernel k, string selection, bool probeOnly, out UgenhcBus? bus)
    {
        bus = null;
        var b = new UgenhcBus(k, selection, probeOnly);
        b._self = GCHandle.Alloc(b);
        b._up = (RumpUserUsb.Hyperup*)NativeMemory.AllocZeroed((nuint)sizeof(RumpUserUsb.Hyperup));
        b._up->Hotplug = &HotplugUp;
        b._up->XferDone = &XferDoneUp;
        b._up->Arg = GCHandle.ToIntPtr(b._self);
        nint ctx = 0;
        Lwp? ul = b.Unsched();
        int e = RumpUserUsb.rumpusb_init(b._up, &ctx);
        b.Resched(ul);
        if (e != 0) { b.FreeNative(); return e; }
        b._ctx = ctx;
        e = Kthread.Create(k, "ugenhc", b.Worker, out b._worker);
        if (e != 0) { b.Fini(); return e; }
        RumpUserUsb.DevInfo[] all = b.Devices();
        foreach (RumpUserUsb.DevInfo d in all)
            if (Selected(selection, d.Vendor, d.Product, d.Bus, d.Addr)) b.AddPort(d, all);
        bus = b;
        return 0;
    }

    private void FreeNative()
    {
        if (_up != null) { NativeMemory.Free(_up); _up = null; }
        if (_self.IsAllocated) _self.Free();
    }

    /// <summary>Stops libusb (closing what is still open) and the worker. Thread context.</summary>
    public void Fini()
    {
        _wlock.Enter();
        _stopping = true;
        _wcv.Broadcast();
        // rumpusb_fini closes every device still open: a pool's deferred close must not race it.
        while (_closing > 0) _wcv.Wait(_wlock);
        Kthread? w = _worker;
        _worker = null;
        _wlock.Exit();
        Lwp? ul = Unsched();
        w?.Join();
        nint ctx = _ctx;
        _ctx = 0;
        if (ctx != 0) RumpUserUsb.rumpusb_fini(ctx);
        Resched(ul);
        FreeNative();
    }

    /// <summary>The host devices libusb sees now (rumpusb_devices does not block).</summary>
    private RumpUserUsb.DevInfo[] Devices()
    {
        var v = new RumpUserUsb.DevInfo[32];
        while (true)
        {
            nuint n;
            int e;
            fixed (RumpUserUsb.DevInfo* p = v) e = RumpUserUsb.rumpusb_devices(_ctx, p, (nuint)v.Length, &n);
            if (e != 0) return Array.Empty<RumpUserUsb.DevInfo>();
            if ((int)n <= v.Length) return v.AsSpan(0, (int)n).ToArray();
            v = new RumpUserUsb.DevInfo[(int)n];
        }
    }

    /// <summary>
    /// The index in <paramref name="all"/> of the host hub that <paramref name="d"/> is plugged
    /// into, or -1 when it is on a root hub's port (or its hub is not listed).
    /// </summary>
    internal static int ParentHubIndex(ReadOnlySpan<RumpUserUsb.DevInfo> all, in RumpUserUsb.DevInfo d)
    {
        if (d.Depth < 2 || d.Depth > 7) return -1;
        for (int i = 0; i < all.Length; i++)
        {
            ref readonly RumpUserUsb.DevInfo h = ref all[i];
            if (h.Bus != d.Bus || h.Depth != d.Depth - 1 || h.DevClass != UClass.Hub) continue;
            bool prefix = true;
            for (int j = 0; j < h.Depth && prefix; j++) prefix = h.Path[j] == d.Path[j];
            if (prefix) return i;
        }
        return -1;
    }

    /// <summary>
    /// Puts host device <paramref name="d"/> at its place: behind the software hub mirroring its
    /// host hub (made first, with its own place, if it is not there yet), else at a free root port.
    /// Any context: the port changes are told to the software hubs after the lock is released.
    /// </summary>
    private void AddPort(RumpUserUsb.DevInfo d, RumpUserUsb.DevInfo[] all)
    {
        var connects = new List<(SoftHub Hub, int Port, UsbSpeed Speed)>(2);
        Lock.Enter();
        PlaceLocked(d, all, connects, 0);
        Lock.Exit();
        foreach ((SoftHub h, int port, UsbSpeed speed) in connects) h.Hub.SetConnected(port, true, speed);
    }

    private SoftHub? PlaceLocked(in RumpUserUsb.DevInfo d, RumpUserUsb.DevInfo[] all, List<(SoftHub, int, UsbSpeed)> connects, int depth)
    {
        SoftHub? mine = null;
        if (d.DevClass == UClass.Hub && !_hubs.TryGetValue(d.DevId, out mine))
        {
            mine = new SoftHub(new RootHub(Kernel, HubPorts, "host hub " + UsbNames.VidPid(d.Vendor, d.Product), d.Vendor, d.Product));
            _hubs[d.DevId] = mine;
        }
        if (_where.ContainsKey(d.DevId)) return mine;
        SoftHub at = _root;
        int port = 0;
        int pi = depth < 8 ? ParentHubIndex(all, d) : -1;
        if (pi >= 0 && d.Path[d.Depth - 1] <= HubPorts)
        {
            SoftHub? up = PlaceLocked(all[pi], all, connects, depth + 1);
            if (up != null && up.PortDev[d.Path[d.Depth - 1]] == 0) { at = up; port = d.Path[d.Depth - 1]; }
        }
        if (port == 0)
        {
            for (int i = 1; i <= Ports && port == 0; i++)
                if (_root.PortDev[i] == 0) port = i;
            if (port == 0) { Kernel.Aprint("ugenhc: no free root port for " + UsbNames.VidPid(d.Vendor, d.Product) + "\n"); return mine; }
        }
        at.PortDev[port] = d.DevId;
        at.PortInfo[port] = d;
        _where[d.DevId] = (at, port);
        connects.Add((at, port, (UsbSpeed)d.Speed));
        return mine;
    }

    private void RemovePort(ulong devid)
    {
        Lock.Enter();
        bool found = _where.Remove(devid, out (SoftHub Hub, int Port) w);
        if (found) w.Hub.PortDev[w.Port] = 0;
        // A hub's mirror goes with it: uhub detaches what was behind it, whose departures then find nothing.
        _hubs.Remove(devid);
        Lock.Exit();
        if (found) w.Hub.Hub.SetConnected(w.Port, false, UsbSpeed.Unknown);
    }

    /// <summary>The host device at a port of a software hub: its devid (0: none), what the library said, and whether it is a mirrored hub.</summary>
    private ulong PortDevice(UsbDevice dev, out RumpUserUsb.DevInfo info, out SoftHub? hub)
    {
        info = default;
        hub = null;
        if (dev.ParentHub?.HcPriv is not SoftHub ph || dev.Port < 1 || dev.Port > ph.Hub.Ports) return 0;
        Lock.Enter();
        ulong id = ph.PortDev[dev.Port];
        info = ph.PortInfo[dev.Port];
        if (id != 0) _hubs.TryGetValue(id, out hub);
        Lock.Exit();
        return id;
    }

    /// <summary>The host device behind a port (bus, address, node) for messages and tools.</summary>
    public override string? HostLocation(UsbDevice dev)
    {
        if (PortDevice(dev, out RumpUserUsb.DevInfo d, out _) == 0) return null;
        string node;
        unsafe { node = new string((sbyte*)d.Node); }
        return "host bus " + d.Bus + " address " + d.Addr + ", " + node;
    }

    // ---- bus methods ---------------------------------------------------------------------------

    public override int NewDevice(UsbDevice dev)
    {
        if (dev.IsRootHub) { dev.HcPriv = _root; return 0; }
        ulong id = PortDevice(dev, out RumpUserUsb.DevInfo info, out SoftHub? hub);
        if (id == 0) return Abi.ENXIO;
        // A host hub is software here: never opened, so the host's hub driver keeps it.
        if (hub != null) { dev.HcPriv = hub; return 0; }
        nint h = 0;
        nint ctx = _ctx;
        Lwp? ul = Unsched();
        int e = RumpUserUsb.rumpusb_open(ctx, id, &h);
        Resched(ul);
        if (e != 0)
        {
            if (_probe) Kernel.Aprint("usb probe: " + UsbNames.VidPid(info.Vendor, info.Product) + " (" + HostLocation(dev) + "): cannot open (error " + e + (e == Abi.EACCES ? ": no permission on the node" : "") + ")\n");
            return e;
        }
        dev.HcPriv = new HostDev { Handle = h, DevId = id, Pool = new ZeroCopyPool(this, h, UsbNames.VidPid(info.Vendor, info.Product) + " (" + HostLocation(dev) + ")") };
        return 0;
    }

    public override void FreeDevice(UsbDevice dev)
    {
        if (dev.HcPriv is not HostDev hd || hd.Handle == 0) return;
        hd.Handle = 0;
        // Every completion has run. rumpusb_close frees the zero-copy buffers, so the pool closes
        // the device, once the buffers it has lent are back.
        hd.Pool.Close();
    }

    /// <summary>Closes a host device for its pool (<see cref="ZeroCopyPool.Close"/>), unless the bus is stopping (rumpusb_fini closes it). Thread context.</summary>
    internal void CloseHost(nint h)
    {
        _wlock.Enter();
        if (_stopping) { _wlock.Exit(); return; }
        _closing++;
        _wlock.Exit();
        Lwp? ul = Unsched();
        RumpUserUsb.rumpusb_close(h);
        Resched(ul);
        _wlock.Enter();
        if (--_closing == 0) _wcv.Broadcast();
        _wlock.Exit();
    }

    /// <summary>
    /// DMA memory of <paramref name="dev"/> for <paramref name="length"/> bytes of bulk transfers:
    /// a zero-copy buffer lent from its pool, or null (none left, or the host has no such memory).
    /// </summary>
    public override DmaMem? AllocDma(UsbDevice dev, int length)
        => dev.HcPriv is HostDev hd && hd.Handle != 0 ? hd.Pool.Take(length, loan: true) : null;

    public override int OpenPipe(UsbPipe pipe)
    {
        if (pipe.Device.HcPriv is SoftHub sh) { pipe.Methods = sh.Hub; return 0; }
        if (pipe.Device.HcPriv is not HostDev) return Abi.ENXIO;
        pipe.Methods = new HostPipe(this);
        return 0;
    }

    private sealed class HostPipe : UsbPipeMethods
    {
        private readonly UgenhcBus _bus;
        public HostPipe(UgenhcBus b) { _bus = b; }
        public override int Transfer(UsbXfer x) => _bus.Submit(x);
        public override void Abort(UsbXfer x, int run) => _bus.AbortXfer(x, run);
    }

    private int Submit(UsbXfer x)
    {
        var hd = (HostDev)x.Pipe.Device.HcPriv!;
        if (hd.Handle == 0) return Abi.ENXIO;
        if (x.Pipe.IsControl)
        {
            SetupPacket r = x.Setup;
            if (r.RequestType == SetupPacket.DirOut && r.Request == SetupPacket.SetAddress) { x.Complete(0, 0); return 0; }
            if ((r.RequestType == SetupPacket.DirOut && r.Request == SetupPacket.SetConfiguration) ||
                (r.RequestType == (SetupPacket.DirOut | SetupPacket.RecipInterface) && r.Request == SetupPacket.SetInterface) ||
                (r.RequestType == (SetupPacket.DirOut | SetupPacket.RecipEndpoint) && r.Request == SetupPacket.ClearFeature && r.Value == SetupPacket.FeatureEndpointHalt))
            {
                _wlock.Enter();
                if (_stopping) { _wlock.Exit(); return Abi.ENXIO; }
                _work.Enqueue(x);
                _wcv.Signal();
                _wlock.Exit();
                return 0;
            }
        }
        var p = new Pending { X = x, Bus = this, Run = x.RunNumber };
        bool dma = false;
        byte* buf;
        nuint len;
        int type;
        byte ep;
        if (x.Pipe.IsControl)
        {
            p.Ctl = (byte*)NativeMemory.Alloc((nuint)(SetupPacket.Size + x.Length));
            x.Setup.Emit(new Span<byte>(p.Ctl, SetupPacket.Size));
            if (!x.Setup.IsIn && x.Length > 0) new Span<byte>(x.Data, x.Length).CopyTo(new Span<byte>(p.Ctl + SetupPacket.Size, x.Length));
            buf = p.Ctl;
            len = (nuint)(SetupPacket.Size + x.Length);
            type = RumpUserUsb.XferControl;
            ep = 0;
        }
        else
        {
            buf = x.Data;
            len = (nuint)x.Length;
            type = x.Pipe.Endpoint.Type == UsbXferType.Interrupt ? RumpUserUsb.XferInterrupt : RumpUserUsb.XferBulk;
            ep = x.Pipe.Endpoint.Address;
            if (type == RumpUserUsb.XferBulk && x.Length > 0 && hd.Pool.Contains(x.Data, x.Length) != null) dma = true;
            else if (type == RumpUserUsb.XferBulk && x.Length >= MinZeroCopy)
            {
                p.Bounce = hd.Pool.Take(x.Length, loan: false);
                if (p.Bounce != null)
                {
                    if (!x.IsIn) new Span<byte>(x.Data, x.Length).CopyTo(new Span<byte>(p.Bounce.Pointer, x.Length));
                    buf = p.Bounce.Pointer;
                }
            }
        }
        p.Dev = hd;
        bool zeroCopy = p.Bounce != null;  // the completion may clear p.Bounce before submit returns
        x.HcPriv = p;
        GCHandle gh = GCHandle.Alloc(p);
        nint handle = 0;
        int e = RumpUserUsb.rumpusb_submit(hd.Handle, type, ep, buf, len, 0, GCHandle.ToIntPtr(gh), &handle);
        if (e != 0)
        {
            gh.Free();
            if (p.Ctl != null) NativeMemory.Free(p.Ctl);
            if (p.Bounce != null) hd.Pool.Return(p.Bounce);
            x.HcPriv = null;
            return e;
        }
        if (dma) Interlocked.Increment(ref DmaXfers);
        else if (zeroCopy) Interlocked.Increment(ref ZeroCopyXfers);
        else if (type == RumpUserUsb.XferBulk && x.Length >= MinZeroCopy) Interlocked.Increment(ref CopiedXfers);
        Volatile.Write(ref p.Handle, handle);
        // An abort that came before the handle was known is done now (a late cancel is harmless).
        if (Volatile.Read(ref p.AbortAsked) != 0) RumpUserUsb.rumpusb_cancel(handle);
        return 0;
    }

    private void AbortXfer(UsbXfer x, int run)
    {
        // A Pending of another run: the run to abort has ended (the library's late cancel of its
        // handle would be harmless, but this one is the next run's).
        if (x.HcPriv is not Pending p || p.Run != run) return;
        Volatile.Write(ref p.AbortAsked, 1);
        nint h = Volatile.Read(ref p.Handle);
        if (h != 0) RumpUserUsb.rumpusb_cancel(h);
    }

    [UnmanagedCallersOnly]
    private static void XferDoneUp(nint cookie, int error, nuint actlen)
    {
        Kernel? k = null;
        try
        {
            GCHandle gh = GCHandle.FromIntPtr(cookie);
            var p = (Pending)gh.Target!;
            gh.Free();
            UsbXfer x = p.X;
            k = x.Kernel;
            int act = (int)Math.Min((ulong)actlen, (ulong)x.Length);
            if (p.Ctl != null)
            {
                if (x.Setup.IsIn && act > 0) new Span<byte>(p.Ctl + SetupPacket.Size, act).CopyTo(new Span<byte>(x.Data, act));
                NativeMemory.Free(p.Ctl);
                p.Ctl = null;
            }
            if (p.Bounce != null)
            {
                if (x.IsIn && act > 0) new Span<byte>(p.Bounce.Pointer, act).CopyTo(new Span<byte>(x.Data, act));
                p.Dev.Pool.Return(p.Bounce);
                p.Bounce = null;
            }
            if (x.HcPriv == p) x.HcPriv = null;
            using (k.EnterInterrupt()) x.Complete(error, act);
        }
        catch (Exception e) { k?.RecordPanic(e, "ugenhc: "); }
    }

    [UnmanagedCallersOnly]
    private static void HotplugUp(nint arg, ulong devid, int arrived)
    {
        Kernel? k = null;
        try
        {
            var b = (UgenhcBus)GCHandle.FromIntPtr(arg).Target!;
            k = b.Kernel;
            using (k.EnterInterrupt())
            {
                if (arrived == 0) { b.RemovePort(devid); return; }
                RumpUserUsb.DevInfo[] all = b.Devices();
                foreach (RumpUserUsb.DevInfo d in all)
                    if (d.DevId == devid && Selected(b._selection, d.Vendor, d.Product, d.Bus, d.Addr)) b.AddPort(d, all);
            }
        }
        catch (Exception e) { k?.RecordPanic(e, "ugenhc hotplug: "); }
    }

    // ---- the worker: requests the host does with blocking hypercalls -----------------------------

    private void Worker(Lwp l)
    {
        _wlock.Enter();
        while (true)
        {
            if (_work.Count == 0)
            {
                if (_stopping) break;
                _wcv.Wait(_wlock);
                continue;
            }
            UsbXfer x = _work.Dequeue();
            _wlock.Exit();
            int e = HostRequest(x);
            x.Complete(e, 0);
            _wlock.Enter();
        }
        // Anything queued while stopping fails.
        while (_work.Count > 0) { UsbXfer x = _work.Dequeue(); _wlock.Exit(); x.Complete(Abi.ENXIO, 0); _wlock.Enter(); }
        _wlock.Exit();
    }

    private int HostRequest(UsbXfer x)
    {
        var hd = (HostDev)x.Pipe.Device.HcPriv!;
        nint h = hd.Handle;
        if (h == 0) return Abi.ENXIO;
        SetupPacket r = x.Setup;
        Lwp? ul = Unsched();
        try { return HostRequestBlocking(x, hd, h, r); }
        finally { Resched(ul); }
    }

    /// <summary>The hypercalls of <see cref="HostRequest"/>, made without the virtual CPU: no kernel locks here.</summary>
    private static int HostRequestBlocking(UsbXfer x, HostDev hd, nint h, SetupPacket r)
    {
        switch (r.Request)
        {
            case SetupPacket.SetConfiguration when ((UgenhcBus)x.Pipe.Device.Bus)._probe:
                // Listing: the host's configuration stands and no interface is taken from its drivers.
                return 0;
            case SetupPacket.SetConfiguration:
            {
                foreach (int i in hd.Claimed) RumpUserUsb.rumpusb_release(h, i);
                hd.Claimed.Clear();
                int e = RumpUserUsb.rumpusb_set_config(h, r.Value & 0xff);
                if (e != 0 || (r.Value & 0xff) == 0) return e;
                // usbdi parsed the configuration it is selecting: claim each of its interfaces.
                ConfigInfo? ci = x.Pipe.Device.Config;
                if (ci == null || ci.Desc.ConfigValue != (r.Value & 0xff)) return 0;
                foreach (List<InterfaceAlt> alts in ci.Interfaces)
                {
                    int n = alts[0].Desc.Number;
                    e = RumpUserUsb.rumpusb_claim(h, n);
                    if (e != 0) return e;
                    hd.Claimed.Add(n);
                }
                return 0;
            }
            case SetupPacket.SetInterface:
                return RumpUserUsb.rumpusb_set_alt(h, r.Index, r.Value);
            default:
                return RumpUserUsb.rumpusb_clear_halt(h, (byte)r.Index);
        }
    }

    /// <summary>Gives up the caller's virtual CPU before a blocking hypercall; <see cref="Resched"/> takes it back.</summary>
    private Lwp? Unsched()
    {
        Lwp l = Kernel.CurlwpOrBind();
        if (l.Cpu == null) return null;
        Kernel.Sched.Unschedule(l);
        return l;
    }

    private void Resched(Lwp? l)
    {
        if (l != null) Kernel.Sched.Schedule(l);
    }
}

/// <summary>The autoconf driver of <see cref="UgenhcBus"/>: "ugenhc0 at mainbus0", the root hub (uhub0) below it.</summary>
public sealed class Ugenhc : Driver
{
    public override string Name => "ugenhc";
    public override int Match(Device parent, object aux) => aux is UgenhcBus ? 1 : 0;
    public override string? Describe(Device parent, object aux) => "USB host devices through libusb";

    public override void Attach(Device self, Device parent, object aux)
    {
        var bus = (UgenhcBus)aux;
        bus.HcDevice = self;
        self.Softc = bus;
        var root = new UsbDevice(bus, null, 0, UsbSpeed.High);
        int e = root.Enumerate();
        if (e != 0) { self.Aprint("root hub problem (error " + e + ")\n"); return; }
        bus.RootHub = root;
        root.ProbeAndAttach(self, null);
    }

    public override int Detach(Device self, DetachFlags flags)
    {
        if (self.Softc is not UgenhcBus bus) return 0;
        bus.RootHub?.Disconnect(self.Autoconf);
        long dma = Interlocked.Read(ref bus.DmaXfers), zc = Interlocked.Read(ref bus.ZeroCopyXfers), cp = Interlocked.Read(ref bus.CopiedXfers);
        if (dma + zc + cp > 0)
            self.Aprint("bulk transfers: " + dma + " in DMA memory; of " + (UgenhcBus.MinZeroCopy >> 10) + " KiB or more in ordinary memory, " + zc + " through zero-copy buffers, " + cp + " copied by the host kernel\n");
        bus.Fini();
        return 0;
    }
}
