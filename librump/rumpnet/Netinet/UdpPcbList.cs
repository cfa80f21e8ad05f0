using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Net.Netinet;

/// <summary>
/// net.inet.udp.pcblist: every UDP control block, for a netstat-like listing (NetBSD exports
/// struct kinfo_pcb there; this is a smaller record, like <see cref="TcpPcbList"/>'s). Each entry
/// is <see cref="EntrySize"/> bytes, little-endian except the addresses:
///   0  4 bytes local address (network order)     4  4 bytes foreign address (network order)
///   8  u16 local port                           10  u16 foreign port (0: not connected)
///  12  u32 bytes queued for reading
///  16  u32 flags: 1 a kernel PCB without a socket (the DHCP client's)
///  20  u32 reserved (0)
/// A read takes UDP's lock for the copy; a socket's receive-buffer count is read without the
/// socket's lock (which comes before UDP's), a snapshot as netstat's always is.
/// </summary>
public static class UdpPcbList
{
    public const int EntrySize = 24;
    public const uint FlagNoSocket = 1;

    public static int AttachSysctl(Kernel k, Udp udp)
    {
        Sysctl s = k.Sysctl;
        int e;
        Sysctl.Node? net = s.FindByName("net");
        if (net == null && (e = s.CreateNode(null, "net", out net, Abi.CTL_NET)) != 0) return e;
        Sysctl.Node? inet = s.FindByName("net.inet");
        if (inet == null && (e = s.CreateNode(net, "inet", out inet, Abi.AF_INET)) != 0) return e;
        Sysctl.Node? u = s.FindByName("net.inet.udp");
        if (u == null && (e = s.CreateNode(inet, "udp", out u, IpprotoUdp)) != 0) return e;
        return s.CreateStruct(u, "pcblist", udp.PcbList, out _, desc: "UDP protocol control blocks");
    }

    private const int IpprotoUdp = 17; // IPPROTO_UDP: net.inet.udp's number

    internal static void Write(Span<byte> d, UdpPcb p)
    {
        d.Clear();
        p.LocalAddr.V4.Write(d);
        p.ForeignAddr.V4.Write(d.Slice(4));
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(8), p.LocalPort);
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(10), p.ForeignPort);
        int q = p.So is Socket so ? so.Rcv.Cc : p.QueuedBytes;
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(12), (uint)Math.Max(0, q));
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(16), p.So == null ? FlagNoSocket : 0);
    }
}
