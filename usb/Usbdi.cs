using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Usb;

/// <summary>
/// usbdi, the USB core (NetBSD sys/dev/usb/usbdi.c, usb_subr.c): what class drivers see. A host
/// controller is a <see cref="UsbBus"/> (NetBSD usbd_bus_methods) whose <see cref="UsbBus.OpenPipe"/>
/// gives every pipe its <see cref="UsbPipeMethods"/> (usbd_pipe_methods); drivers only open pipes on
/// a <see cref="UsbDevice"/> or <see cref="UsbInterface"/>, fill a <see cref="UsbXfer"/> and start it.
///
/// Transfers. <see cref="UsbXfer.Start"/> hands the xfer to its pipe's methods and arms its timeout
/// (a callout). The controller reports the end exactly once with <see cref="UsbXfer.Complete"/>, in
/// the kernel's interrupt context (a host thread enters it with <see cref="Kernel.EnterInterrupt"/>);
/// the xfer's callback runs there, so callbacks never sleep: they start the next transfer or wake
/// a sleeper. A timeout asks the controller to abort; the xfer then completes with ETIMEDOUT.
/// Status values are NetBSD errnos: 0, EIO, EPIPE (stall), ETIMEDOUT, ECANCELED, ENXIO (device gone),
/// EOVERFLOW (babble), EINVAL (bad request, refused before it reached the wire).
///
/// Each start of an xfer is a new run (<see cref="UsbXfer.RunNumber"/>): a timeout or an abort names the
/// run it is for, so one that comes late never ends the xfer's next run (NetBSD's ux_timeout_set /
/// ux_timeout_reset handshake between usbd_transfer, the completion and the callout).
///
/// Locks: each xfer's state is one atomic word (<see cref="UsbXfer._state"/>: phase, run, timeout
/// armed / re-arm): Start, Complete, the timeout and Abort race only through it. <see cref="UsbXfer"/>'s sync mutex is a leaf, held only
/// to sleep and wake. <see cref="UsbBus.Lock"/> protects the bus's address map; it is taken after
/// the autoconfiguration lock and never across a transfer.
/// </summary>
public abstract class UsbBus
{
    public readonly Kernel Kernel;
    /// <summary>Protects <see cref="_addresses"/>.</summary>
    protected readonly KMutex Lock;
    private readonly bool[] _addresses = new bool[128];
    /// <summary>The autoconf device of the controller ("ugenhc0").</summary>
    public Device? HcDevice;
    public UsbDevice? RootHub;

    protected UsbBus(Kernel k) { Kernel = k; Lock = new KMutex(k); _addresses[0] = true; }

    /// <summary>
    /// Listing only (rumpusb list): devices are enumerated and the drivers that would attach are
    /// printed, but nothing attaches and nothing is claimed.
    /// </summary>
    public virtual bool ProbeOnly => false;

    /// <summary>Where a root-port device is on the host, for messages ("host bus 1 address 2"), or null.</summary>
    public virtual string? HostLocation(UsbDevice dev) => null;

    /// <summary>Binds <paramref name="pipe"/> to this controller: sets <see cref="UsbPipe.Methods"/>. 0 or an errno.</summary>
    public abstract int OpenPipe(UsbPipe pipe);

    /// <summary>A device was found at a root-hub or hub port: the controller may bind its own state to it (<see cref="UsbDevice.HcPriv"/>).</summary>
    public virtual int NewDevice(UsbDevice dev) => 0;

    /// <summary>The device is going away: its pipes are closed already.</summary>
    public virtual void FreeDevice(UsbDevice dev) { }

    /// <summary>Memory for <paramref name="dev"/>'s bulk transfers that the controller moves with no copy (<see cref="DmaMem"/>), at least <paramref name="length"/> bytes, or null.</summary>
    public virtual DmaMem? AllocDma(UsbDevice dev, int length) => null;

    /// <summary>A free address 1..127, or 0 when none is left.</summary>
    internal byte AllocAddress()
    {
        Lock.Enter();
        try
        {
            for (int i = 1; i < 128; i++)
                if (!_addresses[i]) { _addresses[i] = true; return (byte)i; }
            return 0;
        }
        finally { Lock.Exit(); }
    }

    internal void FreeAddress(byte a)
    {
        Lock.Enter();
        if (a != 0) _addresses[a] = false;
        Lock.Exit();
    }
}

/// <summary>A controller's way of moving one pipe's transfers (NetBSD usbd_pipe_methods).</summary>
public abstract class UsbPipeMethods
{
    /// <summary>Starts <paramref name="x"/>: 0 and a later <see cref="UsbXfer.Complete"/>, or an errno and no completion. Must not sleep.</summary>
    public abstract int Transfer(UsbXfer x);

    /// <summary>
    /// Makes run <paramref name="run"/> of a started <paramref name="x"/> end soon: it completes
    /// (with ECANCELED if it had not finished). Harmless if that run completed already, and then
    /// a later run of the same xfer (<see cref="UsbXfer.RunNumber"/>, read in <see cref="Transfer"/>)
    /// must not be touched: the abort was for the run that ended. Must not sleep.
    /// </summary>
    public abstract void Abort(UsbXfer x, int run);

    /// <summary>Closes the pipe; every xfer on it has completed.</summary>
    public virtual void Close(UsbPipe p) { }

    /// <summary>Resets the controller's data toggle after a clear-halt (NetBSD upm_cleartoggle).</summary>
    public virtual void ClearToggle(UsbPipe p) { }
}

/// <summary>A configured interface of a device (NetBSD usbd_interface).</summary>
public sealed class UsbInterface
{
    public readonly UsbDevice Device;
    public readonly int Index;
    public InterfaceAlt Alt;
    /// <summary>Claimed by a class driver.</summary>
    public Device? Owner;

    internal UsbInterface(UsbDevice dev, int index, InterfaceAlt alt) { Device = dev; Index = index; Alt = alt; }

    public InterfaceDescriptor Desc => Alt.Desc;

    /// <summary>The endpoint of this interface with the given direction and type, or null.</summary>
    public EndpointInfo? FindEndpoint(bool dirIn, UsbXferType type)
    {
        foreach (EndpointInfo e in Alt.Endpoints)
            if (e.Desc.IsIn == dirIn && e.Desc.Type == type) return e;
        return null;
    }

    /// <summary>usbd_open_pipe on one of this interface's endpoints.</summary>
    public int OpenPipe(byte address, out UsbPipe? pipe)
    {
        pipe = null;
        foreach (EndpointInfo e in Alt.Endpoints)
            if (e.Desc.Address == address) return Device.OpenPipe(e.Desc, out pipe);
        return Abi.EINVAL;
    }
}

/// <summary>An open pipe: one endpoint of one device (NetBSD usbd_pipe).</summary>
public sealed class UsbPipe
{
    public readonly UsbDevice Device;
    public readonly EndpointDescriptor Endpoint;
    /// <summary>Set by the controller's OpenPipe.</summary>
    public UsbPipeMethods Methods = null!;
    /// <summary>The controller's state for this pipe.</summary>
    public object? HcPriv;
    private int _pending;
    internal bool Closed;

    internal UsbPipe(UsbDevice dev, EndpointDescriptor ep) { Device = dev; Endpoint = ep; }

    public bool IsControl => Endpoint.Type == UsbXferType.Control;
    /// <summary>Transfers started and not yet completed.</summary>
    public int Pending => Volatile.Read(ref _pending);
    internal void Inc() => Interlocked.Increment(ref _pending);
    internal void Dec() => Interlocked.Decrement(ref _pending);
}

/// <summary>Attach arguments for a whole device (NetBSD usb_attach_arg): hubs and device-level drivers match these.</summary>
public sealed class UsbDeviceArgs
{
    public readonly UsbDevice Device;
    public UsbDeviceArgs(UsbDevice d) { Device = d; }
}

/// <summary>Offered last, when no driver took the device or any of its interfaces: ugen matches these.</summary>
public sealed class UsbGenericArgs
{
    public readonly UsbDevice Device;
    public UsbGenericArgs(UsbDevice d) { Device = d; }
}

/// <summary>Attach arguments for one interface (NetBSD usbif_attach_arg): umass, uhid and the like match these.</summary>
public sealed class UsbIfaceArgs
{
    public readonly UsbDevice Device;
    public readonly UsbInterface Interface;
    public UsbIfaceArgs(UsbDevice d, UsbInterface i) { Device = d; Interface = i; }
}

/// <summary>NetBSD's UMATCH_* levels, highest first where it matters.</summary>
public static class UMatch
{
    public const int None = 0, Generic = 1, IfaceClass = 3, IfaceClassSubclass = 4, IfaceClassSubclassProto = 5,
        DeviceClass = 7, VendorProduct = 13;
}
