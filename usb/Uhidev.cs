using System;
using System.Threading;
using Rump.Dev;
using Rump.Kern;
using Rump.Usb.Wire;

namespace Rump.Usb;

/// <summary>What a child of uhidev is given: its parent, its report ID and the parsed report descriptor (NetBSD uhidev_attach_arg).</summary>
public sealed class UhidevArgs
{
    public readonly UhidevSoftc Parent;
    public readonly byte ReportId;
    public UhidevArgs(UhidevSoftc p, byte id) { Parent = p; ReportId = id; }
    public HidReportDescriptor Desc => Parent.Desc;
}

/// <summary>Takes one input report of a child's ID (without the ID byte), in interrupt context. Must not sleep.</summary>
public delegate void HidReportSink(ReadOnlySpan<byte> report);

/// <summary>uhidev's state for one HID interface.</summary>
public sealed class UhidevSoftc
{
    public Device Self = null!;
    public UsbDevice Usb = null!;
    public UsbPipe Pipe = null!;
    public UsbXfer Xfer = null!;
    public HidReportDescriptor Desc = null!;
    /// <summary>Per report ID, the child that takes its input reports (set and cleared by the child, read by the completion).</summary>
    internal readonly HidReportSink?[] Sinks = new HidReportSink?[256];
    internal volatile bool Dying;
    /// <summary>Input reports dropped: an ID the descriptor does not have, or no child for it.</summary>
    public long Dropped;

    /// <summary>A child starts (or, with null, stops) taking the input reports of <paramref name="id"/>.</summary>
    public void SetSink(byte id, HidReportSink? sink) => Volatile.Write(ref Sinks[id], sink);

    /// <summary>The report descriptor as the device gave it (USB_GET_REPORT_DESC).</summary>
    public byte[] RawDesc = Array.Empty<byte>();
    /// <summary>The HID interface's number (wIndex of its class requests).</summary>
    public byte Iface;
    /// <summary>Serializes the children's class requests on <see cref="_req"/> (a leaf; held across the transfer, thread context only).</summary>
    internal KMutex ReqLock = null!;
    private UsbXfer? _req;

    /// <summary>HID class requests GET_REPORT / SET_REPORT (HID 1.11, 7.2.1, 7.2.2).</summary>
    public const byte GetReportRequest = 0x01, SetReportRequest = 0x09;

    /// <summary>
    /// GET_REPORT of <paramref name="type"/> (1 input, 2 output, 3 feature) and report
    /// <paramref name="id"/> through the default pipe: the report, without its ID byte, into
    /// <paramref name="report"/> (its length is the report's size). Thread context; sleeps.
    /// </summary>
    public int GetReport(byte type, byte id, Span<byte> report, out int act)
    {
        int extra = HasIds ? 1 : 0;
        act = 0;
        ReqLock.Enter();
        try
        {
            int e = Request(new SetupPacket(SetupPacket.DirIn | SetupPacket.TypeClass | SetupPacket.RecipInterface, GetReportRequest,
                (ushort)(type << 8 | id), Iface, (ushort)(report.Length + extra)), out UsbXfer x);
            if (e != 0) return e;
            // With report IDs the device sends the ID byte first.
            act = Math.Max(0, x.ActLen - extra);
            x.Span.Slice(extra, act).CopyTo(report);
            return 0;
        }
        finally { ReqLock.Exit(); }
    }

    /// <summary>SET_REPORT of <paramref name="type"/> and <paramref name="id"/>: <paramref name="report"/> (without the ID byte, which is put in front when the device uses IDs). Thread context; sleeps.</summary>
    public int SetReport(byte type, byte id, ReadOnlySpan<byte> report)
    {
        int extra = HasIds ? 1 : 0;
        ReqLock.Enter();
        try
        {
            UsbXfer x = ReqXfer(report.Length + extra);
            if (extra != 0) x.Buffer[0] = id;
            report.CopyTo(x.Buffer.AsSpan(extra));
            return Request(new SetupPacket(SetupPacket.TypeClass | SetupPacket.RecipInterface, SetReportRequest,
                (ushort)(type << 8 | id), Iface, (ushort)(report.Length + extra)), out _);
        }
        finally { ReqLock.Exit(); }
    }

    private bool HasIds => Desc.HasReportIds;

    private UsbXfer ReqXfer(int len)
    {
        if (_req == null || _req.Buffer.Length < len) _req = new UsbXfer(Usb.DefaultPipe, Math.Max(64, len));
        return _req;
    }

    /// <summary>One control transfer with <see cref="_req"/>; <see cref="ReqLock"/> held. A stall (the device has no such report) is EIO, as any failure.</summary>
    private int Request(SetupPacket req, out UsbXfer x)
    {
        x = ReqXfer(req.Length);
        if (Dying || Usb.Gone) return Abi.ENXIO;
        x.Setup = req;
        x.Length = req.Length;
        x.TimeoutMs = UsbDevice.DefaultTimeoutMs;
        x.Flags = XferFlags.ShortOk;
        x.Callback = null;
        int e = x.Run();
        return e == 0 ? 0 : e == Abi.ENXIO ? e : Abi.EIO;
    }
}

/// <summary>
/// uhidev (NetBSD uhidev.c): the HID interface driver that owns the interrupt-IN pipe and the
/// report descriptor, and attaches one child per report ID the descriptor lists
/// ("uhid0 at uhidev0 reportid 1"; a device without report IDs gets one child for report 0). Each
/// input report is split by its ID byte (<see cref="HidReportDescriptor.SplitInput"/>) and handed,
/// without that byte, to the child of its ID; reports of IDs the descriptor does not list are
/// dropped. A report ID that is a keyboard's gets ukbd (a higher match than uhid), as on NetBSD;
/// boot keyboards are no exception: their report descriptor says where the keys are.
///
/// Locks: <see cref="UhidevSoftc.ReqLock"/> serializes the children's GET_REPORT / SET_REPORT
/// requests (a leaf, thread context, held across the transfer). The children's sinks are single references written with release
/// semantics; a completion may hand one last report to a child that is detaching, which drops it
/// (the child's own lock orders that). Children detach before uhidev (autoconf), and uhidev then
/// aborts its transfer and closes the pipe.
/// </summary>
public sealed class Uhidev : Driver
{
    public override string Name => "uhidev";

    public override int Match(Device parent, object aux)
        => aux is UsbIfaceArgs a && a.Interface.Desc.Class == UClass.Hid ? UMatch.IfaceClass : UMatch.None;

    public override string? Describe(Device parent, object aux) => ((UsbIfaceArgs)aux).Device.AttachDescription();

    public override void Attach(Device self, Device parent, object aux)
    {
        var a = (UsbIfaceArgs)aux;
        UsbInterface ifc = a.Interface;
        EndpointInfo? ep = ifc.FindEndpoint(true, UsbXferType.Interrupt);
        if (ep == null) { self.Aprint("no interrupt pipe\n"); return; }
        ConfigInfo? ci = a.Device.Config;
        ReadOnlySpan<byte> hd = ci != null ? ci.FindExtra(ifc.Alt, UDesc.Hid) : ReadOnlySpan<byte>.Empty;
        if (HidDescriptor.Parse(hd, out HidDescriptor h) != 0 || h.ReportLength == 0 || h.ReportLength > HidReportDescriptor.MaxDescriptorBytes)
        {
            self.Aprint("no report descriptor\n");
            return;
        }
        byte[] raw = new byte[h.ReportLength];
        // GET_DESCRIPTOR(REPORT) is a standard request to the interface (HID 1.11, 7.1.1).
        int e = a.Device.DoRequest(new SetupPacket(SetupPacket.DirIn | SetupPacket.RecipInterface, SetupPacket.GetDescriptor,
            (ushort)(UDesc.Report << 8), ifc.Desc.Number, h.ReportLength), raw, out int got);
        if (e != 0) { self.Aprint("cannot read the report descriptor (error " + e + ")\n"); return; }
        e = HidReportDescriptor.Parse(raw.AsSpan(0, got), out HidReportDescriptor? desc);
        if (e != 0 || desc == null) { self.Aprint("bad report descriptor (error " + e + ")\n"); return; }
        int isize = desc.MaxReportBytes(HidKind.Input);
        if (isize == 0) { self.Aprint("no input reports\n"); return; }
        if (ifc.OpenPipe(ep.Desc.Address, out UsbPipe? pipe) != 0) { self.Aprint("cannot open the interrupt pipe\n"); return; }
        // SET_IDLE 0: report only on change (devices may refuse; that is fine).
        a.Device.DoRequest(new SetupPacket(0x21, 0x0A, 0, ifc.Desc.Number, 0));

        var sc = new UhidevSoftc
        {
            Self = self, Usb = a.Device, Pipe = pipe!, Desc = desc, RawDesc = raw.AsSpan(0, got).ToArray(), Iface = ifc.Desc.Number,
            ReqLock = new KMutex(self.Autoconf.Kernel),
        };
        sc.Xfer = new UsbXfer(pipe!, isize) { Priv = sc, Callback = ReportDone, Flags = XferFlags.ShortOk };
        self.Softc = sc;
        var ids = new System.Collections.Generic.List<byte>();
        foreach (HidKind k in new[] { HidKind.Input, HidKind.Output, HidKind.Feature })
            foreach (byte id in desc.ReportIds(k))
                if (!ids.Contains(id)) ids.Add(id);
        ids.Sort();
        if (desc.HasReportIds) self.Aprint(ids.Count + " report ids\n");
        foreach (byte id in ids)
            self.Autoconf.ConfigFound(self, new UhidevArgs(sc, id), desc.HasReportIds ? "reportid " + id : null);
        if (sc.Xfer.Start() != 0) self.Aprint("cannot start the interrupt pipe\n");
    }

    private static void ReportDone(UsbXfer x)
    {
        var sc = (UhidevSoftc)x.Priv!;
        if (sc.Dying || x.Status is Abi.ECANCELED or Abi.ENXIO) return;
        if (x.Status == 0 && x.ActLen > 0)
        {
            HidReportSink? sink = null;
            if (sc.Desc.SplitInput(x.Span.Slice(0, x.ActLen), out byte id, out ReadOnlySpan<byte> rep) == 0)
                sink = Volatile.Read(ref sc.Sinks[id]);
            if (sink != null) sink(rep);
            else Interlocked.Increment(ref sc.Dropped);
        }
        if (!sc.Dying) x.Start();
    }

    public override int Detach(Device self, DetachFlags flags)
    {
        if (self.Softc is not UhidevSoftc sc) return 0;
        sc.Dying = true;
        sc.Xfer.Abort();
        UsbDevice.ClosePipe(sc.Pipe);
        return 0;
    }
}
