using System;
using System.Buffers.Binary;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// ICMP for IPv4 (RFC 792, RFC 1122 3.2.2; NetBSD ip_icmp.c): echo requests are answered in
/// place (the request's buffer becomes the reply); errors about datagrams we sent are handed to
/// the protocol that sent them (its <see cref="IpCtlInput"/>; fragmentation needed to its
/// <see cref="IpMtuInput"/> if it does path-MTU discovery, RFC 1191); and <see cref="Error"/> sends
/// errors about datagrams we received, never about an ICMP error, a later fragment, or a
/// broadcast (RFC 1122 3.2.2). Broadcast echo requests are ignored (NetBSD's icmpbmcastecho=0).
/// No locks of its own.
/// </summary>
public sealed class Icmp
{
    /// <summary>Bytes of the offending datagram's payload an error quotes (NetBSD's icmpreturndatabytes).</summary>
    public const int ReturnDataBytes = 8;

    private readonly Inet _in;
    internal Icmp(Inet inet) { _in = inet; }
    private InetStats S => _in.Stats;

    internal void Input(Lwp l, Mbuf m, in IpIn ip)
    {
        Interlocked.Increment(ref S.IcmpIn);
        ReadOnlySpan<byte> msg = m.Bytes.Slice(ip.HeaderLength);
        if (Icmpv4Packet.Parse(msg, out Icmpv4Packet p) != WireError.Ok)
        {
            Interlocked.Increment(ref S.IcmpBad);
            m.Free();
            return;
        }
        switch (p.Type)
        {
            case Icmpv4Packet.TypeEcho:
                if (ip.Broadcast) break;
                // The reply reuses the request: type 0, checksum patched, addresses swapped by output.
                m.TrimFront(ip.HeaderLength);
                Span<byte> b = m.Bytes;
                b[0] = Icmpv4Packet.TypeEchoReply;
                b[2] = b[3] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(b.Slice(2), Checksum.Compute(b));
                Interlocked.Increment(ref S.IcmpEchoReplies);
                _in.Ip.Output(m, ip.Dst, ip.Src, Ipv4Packet.ProtoIcmp, 0, Inet.DefaultTtl, ip.Tos);
                return;
            case Icmpv4Packet.TypeUnreachable:
            case Icmpv4Packet.TypeTimeExceeded:
            case Icmpv4Packet.TypeParamProblem:
                Notify(p);
                // Counted once handled: whoever reads the counter sees what the error did.
                Interlocked.Increment(ref S.IcmpErrorsIn);
                break;
        }
        m.Free();
    }

    /// <summary>An error about a datagram of ours: the quoted header says which protocol sent it; that protocol hears the errno it means.</summary>
    private void Notify(in Icmpv4Packet p)
    {
        ReadOnlySpan<byte> q = p.Data; // the quoted IP header and at least 8 bytes after it
        if (q.Length < Ipv4Packet.MinHeaderSize || q[0] >> 4 != 4) return;
        int qhlen = (q[0] & 0xf) * 4;
        if (qhlen < Ipv4Packet.MinHeaderSize || q.Length < qhlen + ReturnDataBytes) return;
        byte proto = q[9];
        Ipv4Addr src = Ipv4Addr.Read(q.Slice(12)), dst = Ipv4Addr.Read(q.Slice(16));
        if (_in.FindAddress(src) == null) return; // not about anything we sent
        // NetBSD's inetctlerrmap.
        int error = p.Type switch
        {
            Icmpv4Packet.TypeUnreachable => p.Code switch
            {
                Icmpv4Packet.CodeProtoUnreachable => Abi.ENOPROTOOPT,
                Icmpv4Packet.CodePortUnreachable => Abi.ECONNREFUSED,
                Icmpv4Packet.CodeFragNeeded => Abi.EMSGSIZE,
                _ => Abi.EHOSTUNREACH,
            },
            Icmpv4Packet.TypeTimeExceeded => Abi.EHOSTUNREACH,
            _ => Abi.ENOPROTOOPT,
        };
        if (p.Type == Icmpv4Packet.TypeUnreachable && p.Code == Icmpv4Packet.CodeFragNeeded && _in.MtuInput(proto) is IpMtuInput mi)
        {
            // RFC 1191 4: the next-hop MTU is in the low 16 bits of the unused word (0 from older routers).
            mi(src, dst, q.Slice(qhlen), p.NextHopMtu, BinaryPrimitives.ReadUInt16BigEndian(q.Slice(2)), qhlen);
            return;
        }
        _in.CtlInput(proto)?.Invoke(error, src, dst, q.Slice(qhlen));
    }

    /// <summary>
    /// Sends ICMP <paramref name="type"/>/<paramref name="code"/> about the received datagram
    /// <paramref name="offending"/> (a whole IPv4 packet, header first) back to its source,
    /// quoting its header and <see cref="ReturnDataBytes"/> bytes (NetBSD icmp_error). Does not
    /// consume the offending packet.
    /// </summary>
    public void Error(Mbuf offending, byte type, byte code, ushort mtu, bool broadcast)
    {
        ReadOnlySpan<byte> b = offending.Bytes;
        if (broadcast || b.Length < Ipv4Packet.MinHeaderSize) return;
        int hlen = (b[0] & 0xf) * 4;
        if (hlen < Ipv4Packet.MinHeaderSize || b.Length < hlen) return;
        Ipv4Addr src = Ipv4Addr.Read(b.Slice(12)), dst = Ipv4Addr.Read(b.Slice(16));
        if ((BinaryPrimitives.ReadUInt16BigEndian(b.Slice(6)) & 0x1fff) != 0) return; // not the first fragment
        if (src == Ipv4Addr.Any || src.IsMulticast || _in.IsBroadcast(src, offending.RcvIf)) return;
        if (b[9] == Ipv4Packet.ProtoIcmp && b.Length > hlen && b[hlen] is not (Icmpv4Packet.TypeEcho or Icmpv4Packet.TypeEchoReply)) return;
        int quoted = Math.Min(b.Length, hlen + ReturnDataBytes);
        Mbuf? m = _in.Net.Mbufs.Get(Icmpv4Packet.HeaderSize + quoted);
        if (m == null) return;
        Icmpv4Packet.EmitError(m.Append(Icmpv4Packet.HeaderSize + quoted), type, code, mtu, b.Slice(0, quoted));
        Interlocked.Increment(ref S.IcmpErrorsSent);
        _in.Ip.Output(m, _in.FindAddress(dst) != null ? dst : Ipv4Addr.Any, src, Ipv4Packet.ProtoIcmp);
    }
}
