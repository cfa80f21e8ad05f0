using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// net.inet.tcp.pcblist: every TCP control block with its state, for a netstat-like listing
/// (NetBSD exports struct kinfo_pcb there; this is a smaller record of the same facts). Each
/// entry is <see cref="EntrySize"/> bytes, little-endian except the addresses:
///   0  u32 state (RFC 9293's, NetBSD's TCPS_* numbering: 0 CLOSED, 1 LISTEN, 2 SYN_SENT,
///          3 SYN_RECEIVED, 4 ESTABLISHED, 5 CLOSE_WAIT, 6 FIN_WAIT_1, 7 CLOSING, 8 LAST_ACK,
///          9 FIN_WAIT_2, 10 TIME_WAIT)
///   4  4 bytes local address (network order)    8  4 bytes foreign address (network order)
///  12  u16 local port                          14  u16 foreign port
///  16  u32 bytes in the send buffer (unacknowledged and unsent)
///  20  u32 bytes in the receive buffer (unread)
///  24  u32 flags: 1 the socket is gone (the engine finishes the close alone)
///  28  u32 reserved (0)
/// IPv4 TCBs only. net.inet6.tcp6.pcblist lists the IPv6 ones and those of AF_INET6 sockets
/// (a dual-stack socket's IPv4 connections, <see cref="TcpCb.DualStack"/>, v4-mapped), in
/// <see cref="EntrySize6"/>-byte entries with the same fields and 16-byte addresses:
///   0  u32 state                 4  16 bytes local address     20  16 bytes foreign address
///  36  u16 local port           38  u16 foreign port
///  40  u32 send buffer          44  u32 receive buffer         48  u32 flags      52  u32 reserved
/// A read takes the stack's lock for the copy.
/// </summary>
public static class TcpPcbList
{
    public const int EntrySize = 32, EntrySize6 = 56;

    /// <summary>NetBSD's TCPS_* number of a state.</summary>
    public static int NetBsdState(TcpState s) => s switch
    {
        TcpState.Closed => 0, TcpState.Listen => 1, TcpState.SynSent => 2, TcpState.SynReceived => 3,
        TcpState.Established => 4, TcpState.CloseWait => 5, TcpState.FinWait1 => 6, TcpState.Closing => 7,
        TcpState.LastAck => 8, TcpState.FinWait2 => 9, TcpState.TimeWait => 10, _ => 0,
    };

    public static int AttachSysctl(Kernel k, TcpStack stack)
    {
        Sysctl.Node? tcp = k.Sysctl.FindByName("net.inet.tcp");
        if (tcp == null) return Abi.ENOENT;
        return k.Sysctl.CreateStruct(tcp, "pcblist", dst => Read(stack, dst), out _, desc: "TCP protocol control blocks");
    }

    /// <summary>net.inet6.tcp6.pcblist (CTL_NET 4, PF_INET6 24, IPPROTO_TCP 6), making the directories nobody has made.</summary>
    public static int AttachSysctl6(Kernel k, TcpStack stack)
    {
        Sysctl s = k.Sysctl;
        int e;
        Sysctl.Node? net = s.FindByName("net");
        if (net == null && (e = s.CreateNode(null, "net", out net, Abi.CTL_NET)) != 0) return e;
        Sysctl.Node? inet6 = s.FindByName("net.inet6");
        if (inet6 == null && (e = s.CreateNode(net, "inet6", out inet6, Abi.AF_INET6)) != 0) return e;
        Sysctl.Node? tcp6 = s.FindByName("net.inet6.tcp6");
        if (tcp6 == null && (e = s.CreateNode(inet6, "tcp6", out tcp6, 6)) != 0) return e;
        return s.CreateStruct(tcp6, "pcblist", dst => Read(stack, dst, v6: true), out _, desc: "TCP6 protocol control blocks");
    }

    /// <summary>Writes the entries that fit in <paramref name="dst"/>; returns the length of all of them.</summary>
    public static int Read(TcpStack stack, Span<byte> dst, bool v6 = false)
    {
        int size = v6 ? EntrySize6 : EntrySize;
        stack.Enter();
        try
        {
            int n = 0;
            foreach (List<TcpCb> list in new[] { stack.Pcbs.All, stack.Pcbs.Bound })
                foreach (TcpCb tp in list)
                {
                    // An IPv4 TCB is an AF_INET6 socket's only if it is dual-stack (a V6ONLY one has no IPv4 addresses).
                    if ((tp.DualStack || !tp.LocalAddr.IsV4) != v6) continue;
                    if ((n + 1) * size <= dst.Length) Write(dst.Slice(n * size, size), tp, v6);
                    n++;
                }
            return n * size;
        }
        finally { stack.Exit(); }
    }

    private static void Write(Span<byte> d, TcpCb tp, bool v6)
    {
        d.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(d, (uint)NetBsdState(tp.State));
        int ports;
        if (v6)
        {
            tp.LocalAddr.V6.Write(d.Slice(4));
            // A listener's foreign address is the wildcard (default, ::).
            tp.RemoteAddr.V6.Write(d.Slice(20));
            ports = 36;
        }
        else
        {
            tp.LocalAddr.V4.Write(d.Slice(4));
            tp.RemoteAddr.V4.Write(d.Slice(8));
            ports = 12;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(ports), tp.LocalPort);
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(ports + 2), tp.RemotePort);
        bool listener = tp.AcceptQueue != null;
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(ports + 4), (uint)(listener || tp.Snd == null ? 0 : tp.Snd.Count));
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(ports + 8), (uint)(listener || tp.Rcv == null ? 0 : tp.Rcv.Count));
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(ports + 12), tp.Detached ? 1u : 0u);
    }
}
