using System;
using System.Collections.Generic;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Usb;

/// <summary>
/// A USB device on a bus (NetBSD usbd_device): its address, speed, place (parent hub and port), the
/// default pipe, and after enumeration its descriptors, configuration and interfaces.
/// <see cref="Enumerate"/> reads the descriptors itself through the default pipe (usbd_new_device),
/// <see cref="SetConfig"/> selects a configuration, and <see cref="ProbeAndAttach"/> offers the
/// device to device-level drivers, then each interface to interface drivers (usbd_probe_and_attach).
/// Enumeration, configuration and detach run in thread context under the autoconfiguration lock,
/// so one device's setup is never concurrent with itself; transfers are xfers as anywhere else.
/// </summary>
public sealed class UsbDevice
{
    /// <summary>Control requests wait this long (NetBSD USBD_DEFAULT_TIMEOUT).</summary>
    public const int DefaultTimeoutMs = 5000;

    public readonly UsbBus Bus;
    public readonly UsbDevice? ParentHub;
    /// <summary>Port on the parent hub (1-based); 0 for the root hub.</summary>
    public readonly int Port;
    public readonly UsbSpeed Speed;
    public byte Address;
    public int Depth;
    public DeviceDescriptor Desc;
    public ConfigInfo? Config;
    public readonly List<UsbInterface> Interfaces = new();
    public string Vendor = "", Product = "", Serial = "";
    public UsbPipe DefaultPipe = null!;
    /// <summary>The controller's state for this device (a host device handle, an emulated device).</summary>
    public object? HcPriv;
    /// <summary>The autoconf devices attached to this device (the device driver, or one per interface).</summary>
    public readonly List<Device> Subdevs = new();
    /// <summary>The device has gone (unplugged): transfers fail with ENXIO.</summary>
    public volatile bool Gone;
    private UsbXfer? _ctl;

    public UsbDevice(UsbBus bus, UsbDevice? parentHub, int port, UsbSpeed speed)
    {
        Bus = bus; ParentHub = parentHub; Port = port; Speed = speed;
        Depth = parentHub == null ? 0 : parentHub.Depth + 1;
    }

    public bool IsRootHub => ParentHub == null;

    /// <summary>usbd_open_pipe: an open pipe on an endpoint of this device.</summary>
    public int OpenPipe(EndpointDescriptor ep, out UsbPipe? pipe)
    {
        pipe = null;
        if (Gone) return Abi.ENXIO;
        var p = new UsbPipe(this, ep);
        int e = Bus.OpenPipe(p);
        if (e != 0) return e;
        pipe = p;
        return 0;
    }

    /// <summary>usbd_close_pipe: aborts what is in flight (callers wait for their own xfers) and closes.</summary>
    public static void ClosePipe(UsbPipe p)
    {
        if (p.Closed) return;
        p.Closed = true;
        p.Methods.Close(p);
    }

    /// <summary>
    /// usbd_do_request: a control request on the default pipe, sleeping until it ends. Thread
    /// context. <paramref name="data"/> is the data stage (IN: filled; its length is wLength).
    /// Returns 0 or the status; <paramref name="actLen"/> is the data moved.
    /// </summary>
    public int DoRequest(SetupPacket req, Span<byte> data, out int actLen)
    {
        actLen = 0;
        if (Gone) return Abi.ENXIO;
        if (req.Length > data.Length) return Abi.EINVAL;
        if (_ctl == null || _ctl.Buffer.Length < req.Length)
            _ctl = new UsbXfer(DefaultPipe, Math.Max(256, (int)req.Length));
        UsbXfer x = _ctl;
        x.Setup = req;
        x.Length = req.Length;
        x.TimeoutMs = DefaultTimeoutMs;
        x.Flags = XferFlags.ShortOk;
        x.Callback = null;
        if (!req.IsIn) data.Slice(0, req.Length).CopyTo(x.Buffer);
        int e = x.Run();
        actLen = x.ActLen;
        if (req.IsIn) x.Buffer.AsSpan(0, actLen).CopyTo(data);
        return e;
    }

    public int DoRequest(SetupPacket req) => DoRequest(req, Span<byte>.Empty, out _);

    /// <summary>
    /// usbd_new_device's work: the default pipe, the first 8 bytes of the device descriptor (for
    /// the control packet size), an address, the whole device descriptor, the strings. Thread context.
    /// </summary>
    public int Enumerate()
    {
        int e = Bus.NewDevice(this);
        if (e != 0) return e;
        var ep0 = new EndpointDescriptor { Address = 0, Attributes = (byte)UsbXferType.Control, MaxPacketSize = Speed switch { UsbSpeed.Low => 8, UsbSpeed.Super or UsbSpeed.SuperPlus => 512, _ => 64 } };
        e = OpenPipe(ep0, out UsbPipe? p);
        if (e != 0) return e;
        DefaultPipe = p!;
        Span<byte> dd = stackalloc byte[DeviceDescriptor.Size];
        e = DoRequest(SetupPacket.GetDesc(UDesc.Device, 0, 8), dd, out int n);
        if (e != 0) return e;
        if (DeviceDescriptor.Parse(dd.Slice(0, n), out Desc, partial: true) != 0) return Abi.EIO;
        if (!IsRootHub)
        {
            byte addr = Bus.AllocAddress();
            if (addr == 0) return Abi.ENOSPC;
            e = DoRequest(SetupPacket.SetAddr(addr));
            if (e != 0) { Bus.FreeAddress(addr); return e; }
            Address = addr;
        }
        e = DoRequest(SetupPacket.GetDesc(UDesc.Device, 0, DeviceDescriptor.Size), dd, out n);
        if (e != 0) return e;
        if (DeviceDescriptor.Parse(dd.Slice(0, n), out Desc) != 0) return Abi.EIO;
        Vendor = GetString(Desc.IManufacturer);
        Product = GetString(Desc.IProduct);
        Serial = GetString(Desc.ISerial);
        return 0;
    }

    /// <summary>A string descriptor in US English, or "" when there is none or it is unreadable.</summary>
    public string GetString(byte index)
    {
        if (index == 0) return "";
        Span<byte> b = stackalloc byte[StringDescriptor.MaxSize];
        if (DoRequest(SetupPacket.GetDesc(UDesc.String, index, StringDescriptor.MaxSize, StringDescriptor.LangEnUs), b, out int n) != 0) return "";
        return StringDescriptor.Parse(b.Slice(0, n), out string s) == 0 ? s.Trim() : "";
    }

    /// <summary>
    /// Reads configuration <paramref name="index"/> (its 9-byte header, then all wTotalLength bytes),
    /// parses it, sends SET_CONFIGURATION and makes the interfaces (alternate setting 0). Thread context.
    /// </summary>
    public int SetConfigIndex(int index)
    {
        Span<byte> h = stackalloc byte[ConfigDescriptor.Size];
        int e = DoRequest(SetupPacket.GetDesc(UDesc.Config, (byte)index, ConfigDescriptor.Size), h, out int n);
        if (e != 0) return e;
        if (ConfigDescriptor.Parse(h.Slice(0, n), out ConfigDescriptor cd) != 0) return Abi.EIO;
        byte[] all = new byte[cd.TotalLength];
        e = DoRequest(SetupPacket.GetDesc(UDesc.Config, (byte)index, cd.TotalLength), all, out n);
        if (e != 0) return e;
        if (ConfigInfo.Parse(all.AsSpan(0, n), out ConfigInfo? ci) != 0) return Abi.EIO;
        // Set first: a controller that owns configuration (ugenhc) claims the interfaces it lists.
        Config = ci;
        e = DoRequest(SetupPacket.SetConfig(ci!.Desc.ConfigValue));
        if (e != 0) { Config = null; return e; }
        Interfaces.Clear();
        for (int i = 0; i < ci.Interfaces.Count; i++) Interfaces.Add(new UsbInterface(this, i, ci.Interfaces[i][0]));
        return 0;
    }

    /// <summary>usbd_set_interface: SET_INTERFACE to alternate setting <paramref name="alt"/>.</summary>
    public int SetInterface(UsbInterface iface, int alt)
    {
        List<InterfaceAlt> alts = Config!.Interfaces[iface.Index];
        foreach (InterfaceAlt a in alts)
        {
            if (a.Desc.AltSetting != alt) continue;
            int e = DoRequest(SetupPacket.SetIface(a.Desc.Number, (byte)alt));
            if (e == 0) iface.Alt = a;
            return e;
        }
        return Abi.EINVAL;
    }

    /// <summary>usbd_clear_endpoint_stall: CLEAR_FEATURE(ENDPOINT_HALT) and the controller's toggle reset. Thread context.</summary>
    public int ClearStall(UsbPipe p)
    {
        int e = DoRequest(SetupPacket.ClearHalt(p.Endpoint.Address));
        p.Methods.ClearToggle(p);
        return e;
    }

    /// <summary>The text after an attach line's locators: "QEMU QEMU USB HARDDRIVE, rev 2.00/0.00, addr 1".</summary>
    public string AttachDescription()
        => Description() + ", rev " + (Desc.BcdUsb >> 8) + "." + ((Desc.BcdUsb >> 4) & 0xf) + "0/" +
           (Desc.BcdDevice >> 8) + "." + (Desc.BcdDevice & 0xff).ToString("x2") + ", addr " + Address;

    /// <summary>"QEMU QEMU USB HARDDRIVE" and the like for attach lines.</summary>
    public string Description()
    {
        string s = (Vendor + " " + Product).Trim();
        return s.Length > 0 ? s : UsbNames.VidPid(Desc.Vendor, Desc.Product);
    }

    /// <summary>
    /// usbd_probe_and_attach: offers the device to device drivers (a hub), else selects the first
    /// configuration and offers each unclaimed interface to interface drivers. Thread context,
    /// under the autoconfiguration lock. <paramref name="parent"/> is the hub's autoconf device.
    /// </summary>
    public int ProbeAndAttach(Device parent, string? locators)
    {
        Autoconf ac = parent.Autoconf;
        // Listing still attaches hubs (software ones under ugenhc), so that what is behind them is listed.
        if (Bus.ProbeOnly && !IsRootHub && Desc.Class != UClass.Hub) return Probe(parent, locators);
        Device? d = ac.ConfigFound(parent, new UsbDeviceArgs(this), locators);
        if (d != null) { Subdevs.Add(d); return 0; }
        if (Desc.NumConfigurations == 0) return Abi.EIO;
        int e = SetConfigIndex(0);
        if (e != 0) return e;
        bool any = false;
        foreach (UsbInterface i in Interfaces)
        {
            if (i.Owner != null) continue;
            Device? c = ac.ConfigFound(parent, new UsbIfaceArgs(this, i), (locators != null ? locators + " " : "") + "configuration " + Config!.Desc.ConfigValue + " interface " + i.Desc.Number);
            if (c != null) { i.Owner = c; Subdevs.Add(c); any = true; }
        }
        if (!any)
        {
            // Nobody wants it: the generic driver (ugen) may take the whole device.
            Device? g = ac.ConfigFound(parent, new UsbGenericArgs(this), locators);
            if (g != null) { Subdevs.Add(g); return 0; }
        }
        if (!any)
            ac.Kernel.Aprint(Description() + " (" + UsbNames.VidPid(Desc.Vendor, Desc.Product) + ") at " + parent.Name + (locators != null ? " " + locators : "") + " not configured\n");
        return 0;
    }

    /// <summary>
    /// Listing: one "usb probe:" line in the message buffer naming the device and, per interface,
    /// the driver that would attach ("none" if no driver would). Attaches nothing.
    /// </summary>
    private int Probe(Device parent, string? locators)
    {
        Autoconf ac = parent.Autoconf;
        var sb = new System.Text.StringBuilder("usb probe: ");
        sb.Append(UsbNames.VidPid(Desc.Vendor, Desc.Product)).Append(' ').Append(Description());
        string? host = Bus.HostLocation(this);
        if (host != null) sb.Append(" (").Append(host).Append(')');
        sb.Append(" at ").Append(parent.Name).Append(locators != null ? " " + locators : "").Append(": ");
        Driver? dd = ac.BestMatch(parent, new UsbDeviceArgs(this));
        if (dd != null) sb.Append("device: ").Append(dd.Name);
        else if (Desc.NumConfigurations == 0 || SetConfigIndex(0) != 0) sb.Append("no readable configuration");
        else
        {
            bool any = false;
            for (int i = 0; i < Interfaces.Count; i++)
            {
                UsbInterface ui = Interfaces[i];
                Driver? id = ac.BestMatch(parent, new UsbIfaceArgs(this, ui));
                any |= id != null;
                if (i > 0) sb.Append(", ");
                sb.Append("interface ").Append(ui.Desc.Number).Append(" (class ").Append(ui.Desc.Class).Append('/')
                  .Append(ui.Desc.SubClass).Append('/').Append(ui.Desc.Protocol).Append("): ").Append(id?.Name ?? "none");
                // uhidev's children depend on the report descriptor, which listing does not read;
                // a boot keyboard's is a keyboard's.
                if (id is Uhidev && ui.Desc.SubClass == 1 && ui.Desc.Protocol == 1) sb.Append(" (ukbd)");
            }
            Driver? g = any ? null : ac.BestMatch(parent, new UsbGenericArgs(this));
            if (g != null) sb.Append("; device: ").Append(g.Name);
        }
        ac.Kernel.Aprint(sb.Append('\n').ToString());
        return 0;
    }

    /// <summary>The device went away or its hub is detaching: detach its drivers (forced), close the default pipe, free the address.</summary>
    public void Disconnect(Autoconf ac)
    {
        Gone = true;
        for (int i = Subdevs.Count - 1; i >= 0; i--)
            if (Subdevs[i].State is DeviceState.Attached) ac.ConfigDetach(Subdevs[i], DetachFlags.Force);
        Subdevs.Clear();
        if (DefaultPipe != null) ClosePipe(DefaultPipe);
        Bus.FreeDevice(this);
        Bus.FreeAddress(Address);
    }
}
