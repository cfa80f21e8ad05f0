using System;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Usb;

/// <summary>
/// A root hub emulated in software (NetBSD's roothub_ctrl.c and each controller's roothub
/// methods): the pipe methods of the root hub device. It answers the standard and hub-class
/// control requests from the port state its controller reports, and completes the status-change
/// interrupt transfer when a port changes. Controllers call <see cref="SetConnected"/> (any
/// context, interrupt included) when a device appears or goes. ugenhc also uses one per host hub
/// it mirrors (a software hub carrying the host hub's vendor and product).
///
/// Locks: <see cref="_lock"/> (a leaf) protects the port bits and the pending status-change xfer;
/// transfers complete after it is released.
/// </summary>
public class RootHub : UsbPipeMethods
{
    private readonly KMutex _lock;
    private readonly ushort[] _status, _change;
    private readonly UsbSpeed[] _speed;
    private UsbXfer? _intr;
    private int _changedBits;
    public readonly int Ports;
    private readonly string _product;
    private readonly ushort _vendorId, _productId;

    public RootHub(Kernel k, int ports, string product, ushort vendorId = 0, ushort productId = 0)
    {
        _vendorId = vendorId;
        _productId = productId;
        if (ports is < 1 or > 31) throw new ArgumentOutOfRangeException(nameof(ports));
        _lock = new KMutex(k);
        Ports = ports;
        _status = new ushort[ports + 1];
        _change = new ushort[ports + 1];
        _speed = new UsbSpeed[ports + 1];
        _product = product;
        for (int i = 1; i <= ports; i++) _status[i] = HubWire.StatPower;
    }

    /// <summary>A device arrived at (or left) <paramref name="port"/>: a connection change for the hub driver.</summary>
    public void SetConnected(int port, bool connected, UsbSpeed speed)
    {
        if (port < 1 || port > Ports) return;
        UsbXfer? x;
        _lock.Enter();
        if (connected) { _status[port] |= HubWire.StatConnection; _speed[port] = speed; }
        else _status[port] &= unchecked((ushort)~(HubWire.StatConnection | HubWire.StatEnable));
        _change[port] |= HubWire.ChgConnection;
        _changedBits |= 1 << port;
        x = TakeIntrLocked(out int bits);
        _lock.Exit();
        if (x != null) CompleteIntr(x, bits);
    }

    private UsbXfer? TakeIntrLocked(out int bits)
    {
        bits = _changedBits;
        if (_intr == null || bits == 0) return null;
        UsbXfer x = _intr;
        _intr = null;
        _changedBits = 0;
        return x;
    }

    private static void CompleteIntr(UsbXfer x, int bits)
    {
        int n = Math.Min(x.Length, 4);
        Span<byte> s = x.Span;
        for (int i = 0; i < n; i++) s[i] = (byte)(bits >> (8 * i));
        x.Complete(0, n);
    }

    public override int Transfer(UsbXfer x)
    {
        if (!x.Pipe.IsControl)
        {
            _lock.Enter();
            if (_intr != null) { _lock.Exit(); return Abi.EBUSY; }
            _intr = x;
            UsbXfer? now = TakeIntrLocked(out int bits);
            _lock.Exit();
            if (now != null) CompleteIntr(now, bits);
            return 0;
        }
        int e = Control(x.Setup, x.Span, out int act);
        x.Complete(e, act);
        return 0;
    }

    public override void Abort(UsbXfer x, int run)
    {
        _lock.Enter();
        // While x is our pending transfer it cannot be restarted, so its run is the pending one.
        bool mine = _intr == x && x.RunNumber == run;
        if (mine) _intr = null;
        _lock.Exit();
        if (mine) x.Complete(Abi.ECANCELED, 0);
    }

    public override void Close(UsbPipe p)
    {
        _lock.Enter();
        UsbXfer? x = _intr != null && _intr.Pipe == p ? _intr : null;
        if (x != null) _intr = null;
        _lock.Exit();
        x?.Complete(Abi.ECANCELED, 0);
    }

    private int Control(SetupPacket r, Span<byte> data, out int act)
    {
        act = 0;
        Span<byte> b = stackalloc byte[256];
        int n;
        switch (r.RequestType, r.Request)
        {
            case (SetupPacket.DirIn, SetupPacket.GetDescriptor):
                switch (r.DescType)
                {
                    case UDesc.Device:
                        new DeviceDescriptor
                        {
                            BcdUsb = 0x0200, Class = UClass.Hub, MaxPacketSize0 = 64, Vendor = _vendorId, Product = _productId,
                            BcdDevice = 0x0100, IManufacturer = 1, IProduct = 2, NumConfigurations = 1,
                        }.Emit(b);
                        n = DeviceDescriptor.Size;
                        break;
                    case UDesc.Config:
                        new ConfigDescriptor { TotalLength = 25, NumInterfaces = 1, ConfigValue = 1, Attributes = 0xe0 }.Emit(b);
                        new InterfaceDescriptor { Number = 0, NumEndpoints = 1, Class = UClass.Hub }.Emit(b.Slice(9));
                        new EndpointDescriptor { Address = 0x81, Attributes = (byte)UsbXferType.Interrupt, MaxPacketSize = 4, Interval = 255 }.Emit(b.Slice(18));
                        n = 25;
                        break;
                    case UDesc.String:
                        n = r.DescIndex switch
                        {
                            0 => Lang(b),
                            1 => StringDescriptor.Emit(b, "rump"),
                            2 => StringDescriptor.Emit(b, _product),
                            _ => -1,
                        };
                        if (n < 0) return Abi.EPIPE;
                        break;
                    default:
                        return Abi.EPIPE;
                }
                break;
            case (SetupPacket.DirOut, SetupPacket.SetAddress):
            case (SetupPacket.DirOut, SetupPacket.SetConfiguration):
                return 0;
            case (SetupPacket.DirIn, SetupPacket.GetStatus):
                b[0] = 1; b[1] = 0; // self powered
                n = 2;
                break;
            case (HubWire.ReqTypeHubIn, SetupPacket.GetDescriptor):
                n = HubDescriptor.Emit(b, Ports, 0x0001 /* individual power switching */, 1);
                break;
            case (HubWire.ReqTypeHubIn, SetupPacket.GetStatus):
                b.Slice(0, 4).Clear();
                n = 4;
                break;
            case (HubWire.ReqTypePortIn, SetupPacket.GetStatus):
            {
                int p = r.Index;
                if (p < 1 || p > Ports) return Abi.EPIPE;
                _lock.Enter();
                ushort st = _status[p];
                if ((st & HubWire.StatConnection) != 0)
                {
                    if (_speed[p] == UsbSpeed.Low) st |= HubWire.StatLowSpeed;
                    else if (_speed[p] >= UsbSpeed.High) st |= HubWire.StatHighSpeed;
                }
                HubWire.EmitPortStatus(b, st, _change[p]);
                _lock.Exit();
                n = 4;
                break;
            }
            case (HubWire.ReqTypePortOut, SetupPacket.SetFeature):
            {
                int p = r.Index;
                if (p < 1 || p > Ports) return Abi.EPIPE;
                _lock.Enter();
                if (r.Value == HubWire.PortReset && (_status[p] & HubWire.StatConnection) != 0)
                {
                    // The host already reset and addressed the device: the reset is done at once.
                    _status[p] |= HubWire.StatEnable;
                    _change[p] |= HubWire.ChgReset;
                }
                else if (r.Value == HubWire.PortPower) _status[p] |= HubWire.StatPower;
                _lock.Exit();
                return 0;
            }
            case (HubWire.ReqTypePortOut, SetupPacket.ClearFeature):
            {
                int p = r.Index;
                if (p < 1 || p > Ports) return Abi.EPIPE;
                _lock.Enter();
                if (r.Value >= HubWire.CPortConnection && r.Value <= HubWire.CPortReset)
                    _change[p] &= unchecked((ushort)~(1 << (r.Value - HubWire.CPortConnection)));
                else if (r.Value == HubWire.PortEnable) _status[p] &= unchecked((ushort)~HubWire.StatEnable);
                _lock.Exit();
                return 0;
            }
            case (HubWire.ReqTypeHubOut, SetupPacket.ClearFeature):
            case (HubWire.ReqTypeHubOut, SetupPacket.SetFeature):
                return 0;
            default:
                return Abi.EPIPE;
        }
        act = Math.Min(n, data.Length);
        b.Slice(0, act).CopyTo(data);
        return 0;
    }

    private static int Lang(Span<byte> b)
    {
        b[0] = 4; b[1] = UDesc.String; b[2] = 0x09; b[3] = 0x04;
        return 4;
    }
}
