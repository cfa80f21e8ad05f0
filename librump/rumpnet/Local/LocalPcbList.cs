using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// net.local.stream.pcblist, net.local.dgram.pcblist and net.local.seqpacket.pcblist (NetBSD's
/// names; NetBSD exports struct kinfo_pcb there, this is a smaller record of what netstat -x
/// shows): one entry per local socket of that type, <see cref="EntrySize"/> bytes, little-endian:
///   0  u32 flags: 1 listening (SO_ACCEPTCONN), 2 connected (a peer, or a datagram socket's default destination)
///   4  u32 bytes in the receive buffer (unread)
///   8  u32 bytes sent and not yet read by the peer (a stream's Send-Q)
///  12  u32 reserved (0)
///  16  u64 this socket's id        24  u64 the peer's id (0: none)
///  32  104 bytes sun_path of the bound name (NUL-padded; empty when unbound; a connection
///          accepted from a listener has the listener's name, as in NetBSD)
/// A read takes the local-socket lock for the copy.
/// </summary>
public static class LocalPcbList
{
    public const int EntrySize = 136, PathSize = 104;
    public const uint FlagListening = 1, FlagConnected = 2;

    internal static void AttachSysctl(Kernel k, Uipc u)
    {
        Sysctl s = k.Sysctl;
        Sysctl.Node? net = s.FindByName("net");
        if (net == null && s.CreateNode(null, "net", out net, Abi.CTL_NET) != 0) return;
        Sysctl.Node? local = s.FindByName("net.local");
        // PF_LOCAL's number, as NetBSD's net.local.
        if (local == null && s.CreateNode(net, "local", out local, Abi.AF_LOCAL) != 0) return;
        foreach (var (name, type) in new[] { ("stream", Abi.SOCK_STREAM), ("dgram", Abi.SOCK_DGRAM), ("seqpacket", Abi.SOCK_SEQPACKET) })
        {
            if (s.CreateNode(local, name, out Sysctl.Node? dir, type) != 0) continue;
            int t = type;
            s.CreateStruct(dir, "pcblist", dst => u.PcbList(t, dst), out _, desc: "Local " + name + " sockets");
        }
    }

    internal static void Write(Span<byte> d, Uipc.UnpCb unp)
    {
        d.Clear();
        Socket so = unp.So;
        uint flags = ((so.Options & Abi.SO_ACCEPTCONN) != 0 ? FlagListening : 0) | (unp.Conn != null ? FlagConnected : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(d, flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(4), (uint)so.Rcv.Cc);
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(8), (uint)Math.Max(0, so.Snd.Held));
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(16), unp.Id);
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(24), unp.Conn?.Id ?? 0);
        if (unp.Addr is byte[] a && a.Length > 2)
        {
            ReadOnlySpan<byte> path = a.AsSpan(2);
            int nul = path.IndexOf((byte)0);
            if (nul >= 0) path = path.Slice(0, nul);
            path.Slice(0, Math.Min(path.Length, PathSize - 1)).CopyTo(d.Slice(32));
        }
    }
}
