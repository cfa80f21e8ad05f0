using System;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Usb;

/// <summary>
/// The hub driver (NetBSD uhub.c), for the root hub and hubs behind it alike: it talks to its hub
/// only with hub-class requests on the default pipe and reads port changes from the hub's
/// status-change interrupt endpoint. A change completes that interrupt transfer (interrupt context),
/// whose callback hands the exploration of the ports to the autoconfiguration thread
/// (<see cref="Autoconf.Defer"/>): there a new connection is reset, enumerated and attached, a lost one
/// detached. Per hub, <see cref="Softc"/> is touched only under the autoconfiguration lock, except
/// the interrupt xfer, which the callback only restarts.
/// </summary>
public sealed class Uhub : Driver
{
    public override string Name => "uhub";

    public sealed class Softc
    {
        public UsbDevice Hub = null!;
        public Device Self = null!;
        public int Ports;
        public UsbDevice?[] PortDevs = Array.Empty<UsbDevice?>();
        public UsbPipe? IntrPipe;
        public UsbXfer? IntrXfer;
        public volatile bool Dying;
        /// <summary>Explorations run so far (tests wait on it).</summary>
        public long Explored;
    }

    public override int Match(Device parent, object aux)
        => aux is UsbDeviceArgs a && a.Device.Desc.Class == UClass.Hub ? UMatch.DeviceClass : UMatch.None;

    public override string? Describe(Device parent, object aux)
    {
        UsbDevice d = ((UsbDeviceArgs)aux).Device;
        return d.Description() + ", class 9/0, rev " + (d.Desc.BcdUsb >> 8) + "." + ((d.Desc.BcdUsb >> 4) & 0xf) + "0/" +
               (d.Desc.BcdDevice >> 8) + "." + (d.Desc.BcdDevice & 0xff).ToString("x2") + ", addr " + d.Address;
    }

    public override void Attach(Device self, Device parent, object aux)
    {
        UsbDevice hub = ((UsbDeviceArgs)aux).Device;
        var sc = new Softc { Hub = hub, Self = self };
        self.Softc = sc;
        int e = hub.SetConfigIndex(0);
        Span<byte> hd = stackalloc byte[64];
        int n = 0;
        if (e == 0) e = hub.DoRequest(HubWire.GetHubDesc(64), hd, out n);
        HubDescriptor desc = default;
        if (e == 0 && HubDescriptor.Parse(hd.Slice(0, n), out desc) != 0) e = Abi.EIO;
        if (e != 0) { self.Aprint("cannot read the hub descriptor (error " + e + ")\n"); return; }
        sc.Ports = desc.NumPorts;
        sc.PortDevs = new UsbDevice?[sc.Ports + 1];
        self.Aprint(sc.Ports + (sc.Ports == 1 ? " port" : " ports") + " with " + sc.Ports + " removable, self powered\n");
        for (int p = 1; p <= sc.Ports; p++) hub.DoRequest(HubWire.SetPortFeature(p, HubWire.PortPower));

        UsbInterface? iface = hub.Interfaces.Count > 0 ? hub.Interfaces[0] : null;
        EndpointInfo? ep = iface?.FindEndpoint(true, UsbXferType.Interrupt);
        if (ep != null && iface!.OpenPipe(ep.Desc.Address, out UsbPipe? ip) == 0)
        {
            sc.IntrPipe = ip;
            sc.IntrXfer = new UsbXfer(ip!, Math.Max(1, (sc.Ports + 8) / 8)) { Priv = sc, Callback = IntrDone, Flags = XferFlags.ShortOk };
        }
        Explore(sc);
        if (sc.IntrXfer != null && sc.IntrXfer.Start() != 0) self.Aprint("cannot start the status-change pipe\n");
    }

    /// <summary>The status-change transfer ended (interrupt context): explore in thread context, then listen again.</summary>
    private static void IntrDone(UsbXfer x)
    {
        var sc = (Softc)x.Priv!;
        if (sc.Dying || x.Status is Abi.ECANCELED or Abi.ENXIO) return;
        sc.Self.Autoconf.Defer(_ =>
        {
            if (sc.Dying) return;
            Explore(sc);
            if (!sc.Dying && !x.InFlight) x.Start();
        });
    }

    /// <summary>uhub_explore: every port's status; attach what appeared, detach what went. Thread context, autoconfiguration lock held.</summary>
    private static void Explore(Softc sc)
    {
        Span<byte> ps = stackalloc byte[4];
        for (int p = 1; p <= sc.Ports && !sc.Dying; p++)
        {
            if (sc.Hub.DoRequest(HubWire.GetPortStatus(p), ps, out int n) != 0) continue;
            if (HubWire.ParsePortStatus(ps.Slice(0, n), out ushort status, out ushort change) != 0) continue;
            if ((change & HubWire.ChgConnection) == 0 && ((status & HubWire.StatConnection) != 0) == (sc.PortDevs[p] != null)) continue;
            if ((change & HubWire.ChgConnection) != 0) sc.Hub.DoRequest(HubWire.ClearPortFeature(p, HubWire.CPortConnection));
            UsbDevice? old = sc.PortDevs[p];
            if (old != null)
            {
                // A change on an occupied port: whatever was there is gone (or came back anew).
                sc.PortDevs[p] = null;
                old.Disconnect(sc.Self.Autoconf);
                sc.Self.Aprint("port " + p + ": device disconnected\n");
            }
            if ((status & HubWire.StatConnection) == 0) continue;
            UsbDevice? d = Connect(sc, p);
            if (d != null) sc.PortDevs[p] = d;
        }
        sc.Explored++;
    }

    private static UsbDevice? Connect(Softc sc, int p)
    {
        Span<byte> ps = stackalloc byte[4];
        int e = sc.Hub.DoRequest(HubWire.SetPortFeature(p, HubWire.PortReset));
        ushort status = 0, change = 0;
        // A hub ends a reset within tens of milliseconds (USB 2.0 7.1.7.5); poll its status.
        for (int i = 0; e == 0 && i < 20; i++)
        {
            e = sc.Hub.DoRequest(HubWire.GetPortStatus(p), ps, out int n);
            if (e == 0 && HubWire.ParsePortStatus(ps.Slice(0, n), out status, out change) != 0) e = Abi.EIO;
            if (e != 0 || (status & HubWire.StatReset) == 0) break;
            sc.Self.Autoconf.Kernel.Kpause(10_000_000);
        }
        if (e == 0 && (change & HubWire.ChgReset) != 0) sc.Hub.DoRequest(HubWire.ClearPortFeature(p, HubWire.CPortReset));
        if (e != 0 || (status & HubWire.StatEnable) == 0)
        {
            sc.Self.Aprint("port " + p + ": reset failed\n");
            return null;
        }
        var dev = new UsbDevice(sc.Hub.Bus, sc.Hub, p, HubWire.PortSpeed(status));
        e = dev.Enumerate();
        if (e == 0) e = dev.ProbeAndAttach(sc.Self, "port " + p);
        if (e != 0)
        {
            sc.Self.Aprint("port " + p + ": device problem (error " + e + "), disabling port\n");
            dev.Disconnect(sc.Self.Autoconf);
            return null;
        }
        return dev;
    }

    public override int Detach(Device self, DetachFlags flags)
    {
        if (self.Softc is not Softc sc) return 0;
        sc.Dying = true;
        if (sc.IntrXfer != null)
        {
            sc.IntrXfer.Abort();
            UsbDevice.ClosePipe(sc.IntrPipe!);
        }
        for (int p = 1; p <= sc.Ports; p++)
        {
            UsbDevice? d = sc.PortDevs[p];
            sc.PortDevs[p] = null;
            d?.Disconnect(self.Autoconf);
        }
        return 0;
    }
}
