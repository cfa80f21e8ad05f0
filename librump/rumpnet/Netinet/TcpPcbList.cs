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
/// A read takes the stack's lock for the copy.
/// </summary>
public static class TcpPcbList
{
    public const int EntrySize = 32;

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

    /// <summary>Writes the entries that fit in <paramref name="dst"/>; returns the length of all of them.</summary>
    public static int Read(TcpStack stack, Span<byte> dst)
    {
        stack.Enter();
        try
        {
            int n = 0;
            foreach (List<TcpCb> list in new[] { stack.Pcbs.All, stack.Pcbs.Bound })
                foreach (TcpCb tp in list)
                {
                    if ((n + 1) * EntrySize <= dst.Length) Write(dst.Slice(n * EntrySize, EntrySize), tp);
                    n++;
                }
            return n * EntrySize;
        }
        finally { stack.Exit(); }
    }

    private static void Write(Span<byte> d, TcpCb tp)
    {
        d.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(d, (uint)NetBsdState(tp.State));
        tp.LocalAddr.Write(d.Slice(4));
        tp.RemoteAddr.Write(d.Slice(8));
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(12), tp.LocalPort);
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(14), tp.RemotePort);
        bool listener = tp.AcceptQueue != null;
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(16), (uint)(listener || tp.Snd == null ? 0 : tp.Snd.Count));
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(20), (uint)(listener || tp.Rcv == null ? 0 : tp.Rcv.Count));
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(24), tp.Detached ? 1u : 0u);
    }
}
