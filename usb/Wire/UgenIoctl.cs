using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Rump.Usb.Wire;

/// <summary>
/// The argument structures of ugen's ioctls in NetBSD's amd64 layout (sys/dev/usb/usb.h;
/// <c>struct rump_usb_*</c> in rumpdefs.h): views over the ioctl's argument bytes. Lengths are
/// checked once by the callers (the ioctl's size is in its command word).
/// </summary>
public static class UgenIoctl
{
    /// <summary>struct usb_ctl_request: int ucr_addr; usb_device_request_t ucr_request (8 packed bytes); void *ucr_data; int ucr_flags; int ucr_actlen.</summary>
    public const int CtlRequestSize = 32;
    public const int CtlAddr = 0, CtlRequest = 4, CtlData = 16, CtlFlags = 24, CtlActLen = 28;
    /// <summary>ucr_flags: a short IN data stage is not an error.</summary>
    public const int ShortXferOk = 0x04;
    /// <summary>NetBSD refuses data stages longer than this.</summary>
    public const int MaxRequestData = 32767;

    /// <summary>struct usb_config_desc: int ucd_config_index; usb_config_descriptor_t ucd_desc (9 bytes), padded to 16.</summary>
    public const int ConfigDescSize = 16;
    public const int ConfigDescIndex = 0, ConfigDescDesc = 4;
    /// <summary>ucd_config_index: the configuration the device is in.</summary>
    public const int CurrentConfigIndex = -1;

    /// <summary>
    /// uhid's struct usb_ctl_report_desc (int ucrd_size; u_char ucrd_data[1024]) and struct
    /// usb_ctl_report (int ucr_report; u_char ucr_data[1024]): a size or report type, then the bytes.
    /// </summary>
    public const int ReportDescSize = 1028, ReportSize = 1028, ReportData = 4, MaxReportData = 1024;

    /// <summary>struct usb_device_info (the current one, not usb_device_info_old).</summary>
    public const int DeviceInfoSize = 1268;
    public const int MaxEncodedString = 384;
    public const int DiBus = 0, DiAddr = 1, DiCookie = 4, DiProduct = 8, DiVendor = 392, DiRelease = 776, DiSerial = 784;
    public const int DiProductNo = 1168, DiVendorNo = 1170, DiReleaseNo = 1172, DiClass = 1174, DiSubclass = 1175;
    public const int DiProtocol = 1176, DiConfig = 1177, DiSpeed = 1178, DiPower = 1180, DiNports = 1184;
    public const int DiDevnames = 1188, DevnameLen = 16, MaxDevnames = 4, DiPorts = 1252;

    /// <summary>The fields of a usb_ctl_request the kernel reads.</summary>
    public static void ParseCtlRequest(ReadOnlySpan<byte> s, out SetupPacket req, out long data, out int flags)
    {
        SetupPacket.TryParse(s.Slice(CtlRequest, SetupPacket.Size), out req);
        data = BinaryPrimitives.ReadInt64LittleEndian(s.Slice(CtlData));
        flags = BinaryPrimitives.ReadInt32LittleEndian(s.Slice(CtlFlags));
    }

    public static void SetCtlActLen(Span<byte> s, int actLen) => BinaryPrimitives.WriteInt32LittleEndian(s.Slice(CtlActLen), actLen);

    public static int ConfigIndex(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadInt32LittleEndian(s.Slice(ConfigDescIndex));

    /// <summary>What USB_GET_DEVICEINFO reports of one device.</summary>
    public struct DeviceInfo
    {
        public byte Bus, Addr, Config, Speed;
        public DeviceDescriptor Desc;
        public string Product, Vendor, Serial;
        public int PowerMa;
        public string[] DevNames;
    }

    /// <summary>Fills a usb_device_info (all of <paramref name="s"/>, DeviceInfoSize bytes; zeroed first).</summary>
    public static void EmitDeviceInfo(Span<byte> s, in DeviceInfo d)
    {
        s = s.Slice(0, DeviceInfoSize);
        s.Clear();
        s[DiBus] = d.Bus;
        s[DiAddr] = d.Addr;
        CString(s.Slice(DiProduct, MaxEncodedString), d.Product);
        CString(s.Slice(DiVendor, MaxEncodedString), d.Vendor);
        // usbd_printBCD: "%x.%02x" of bcdDevice.
        CString(s.Slice(DiRelease, 8), (d.Desc.BcdDevice >> 8).ToString("x") + "." + (d.Desc.BcdDevice & 0xff).ToString("x2"));
        CString(s.Slice(DiSerial, MaxEncodedString), d.Serial);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(DiProductNo), d.Desc.Product);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(DiVendorNo), d.Desc.Vendor);
        BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(DiReleaseNo), d.Desc.BcdDevice);
        s[DiClass] = d.Desc.Class;
        s[DiSubclass] = d.Desc.SubClass;
        s[DiProtocol] = d.Desc.Protocol;
        s[DiConfig] = d.Config;
        s[DiSpeed] = d.Speed;
        BinaryPrimitives.WriteInt32LittleEndian(s.Slice(DiPower), d.PowerMa);
        for (int i = 0; i < d.DevNames.Length && i < MaxDevnames; i++)
            CString(s.Slice(DiDevnames + i * DevnameLen, DevnameLen), d.DevNames[i]);
    }

    /// <summary>A NUL-terminated UTF-8 string, cut (on a character boundary) to fit.</summary>
    private static void CString(Span<byte> dst, string s)
    {
        int max = dst.Length - 1;
        int n = 0;
        Span<byte> one = stackalloc byte[4];
        foreach (Rune r in s.EnumerateRunes())
        {
            int w = r.EncodeToUtf8(one);
            if (n + w > max) break;
            one.Slice(0, w).CopyTo(dst.Slice(n));
            n += w;
        }
        dst[n] = 0;
    }
}

/// <summary>
/// Mirrors of <c>struct rump_usb_*</c> laid out with <see cref="UgenIoctl"/>'s offsets, for the
/// layout test against the C header (tests/c/layout_dump.c); the kernel reads the bytes itself.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = UgenIoctl.CtlRequestSize)]
public unsafe struct RumpUsbCtlRequest
{
    [FieldOffset(UgenIoctl.CtlAddr)] public int ucr_addr;
    [FieldOffset(UgenIoctl.CtlRequest)] public fixed byte ucr_request[8];
    [FieldOffset(UgenIoctl.CtlData)] public long ucr_data;
    [FieldOffset(UgenIoctl.CtlFlags)] public int ucr_flags;
    [FieldOffset(UgenIoctl.CtlActLen)] public int ucr_actlen;
}

[StructLayout(LayoutKind.Explicit, Size = UgenIoctl.ConfigDescSize)]
public unsafe struct RumpUsbConfigDesc
{
    [FieldOffset(UgenIoctl.ConfigDescIndex)] public int ucd_config_index;
    [FieldOffset(UgenIoctl.ConfigDescDesc)] public fixed byte ucd_desc[9];
}

[StructLayout(LayoutKind.Explicit, Size = UgenIoctl.ReportDescSize)]
public unsafe struct RumpUsbCtlReportDesc
{
    [FieldOffset(0)] public int ucrd_size;
    [FieldOffset(UgenIoctl.ReportData)] public fixed byte ucrd_data[UgenIoctl.MaxReportData];
}

[StructLayout(LayoutKind.Explicit, Size = UgenIoctl.ReportSize)]
public unsafe struct RumpUsbCtlReport
{
    [FieldOffset(0)] public int ucr_report;
    [FieldOffset(UgenIoctl.ReportData)] public fixed byte ucr_data[UgenIoctl.MaxReportData];
}

[StructLayout(LayoutKind.Explicit, Size = UgenIoctl.DeviceInfoSize)]
public unsafe struct RumpUsbDeviceInfo
{
    [FieldOffset(UgenIoctl.DiBus)] public byte udi_bus;
    [FieldOffset(UgenIoctl.DiAddr)] public byte udi_addr;
    [FieldOffset(UgenIoctl.DiCookie)] public uint udi_cookie;
    [FieldOffset(UgenIoctl.DiProduct)] public fixed byte udi_product[UgenIoctl.MaxEncodedString];
    [FieldOffset(UgenIoctl.DiVendor)] public fixed byte udi_vendor[UgenIoctl.MaxEncodedString];
    [FieldOffset(UgenIoctl.DiRelease)] public fixed byte udi_release[8];
    [FieldOffset(UgenIoctl.DiSerial)] public fixed byte udi_serial[UgenIoctl.MaxEncodedString];
    [FieldOffset(UgenIoctl.DiProductNo)] public ushort udi_productNo;
    [FieldOffset(UgenIoctl.DiVendorNo)] public ushort udi_vendorNo;
    [FieldOffset(UgenIoctl.DiReleaseNo)] public ushort udi_releaseNo;
    [FieldOffset(UgenIoctl.DiClass)] public byte udi_class;
    [FieldOffset(UgenIoctl.DiSubclass)] public byte udi_subclass;
    [FieldOffset(UgenIoctl.DiProtocol)] public byte udi_protocol;
    [FieldOffset(UgenIoctl.DiConfig)] public byte udi_config;
    [FieldOffset(UgenIoctl.DiSpeed)] public byte udi_speed;
    [FieldOffset(UgenIoctl.DiPower)] public int udi_power;
    [FieldOffset(UgenIoctl.DiNports)] public int udi_nports;
    [FieldOffset(UgenIoctl.DiDevnames)] public fixed byte udi_devnames[UgenIoctl.MaxDevnames * UgenIoctl.DevnameLen];
    [FieldOffset(UgenIoctl.DiPorts)] public fixed byte udi_ports[16];
}
