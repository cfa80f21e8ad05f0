using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// A DHCP message (RFC 2131 section 2, over the BOOTP header of RFC 951) and its options
/// (RFC 2132). The fixed part is 236 bytes (op, htype, hlen, hops, xid, secs, flags, ciaddr,
/// yiaddr, siaddr, giaddr, chaddr[16], sname[64], file[128]), then the magic cookie 99.130.83.99
/// and the options: code, length, value, with Pad (0) and End (255) alone.
///
/// <see cref="Parse"/> reads a server's reply into a <see cref="DhcpReply"/>: Truncated below the
/// fixed part and cookie, Malformed for a bad cookie, an option whose length runs past the
/// message or a known option with the wrong length. A reply without a message type parses (it is
/// BOOTP's): the client decides to ignore it. <see cref="Emit"/> writes a client's request.
/// </summary>
public static class DhcpMessage
{
    public const int FixedSize = 236, CookieOffset = 236, OptionsOffset = 240;
    /// <summary>RFC 1542 2.1: relay agents and some servers drop BOOTP messages shorter than 300 bytes.</summary>
    public const int MinSize = 300;
    /// <summary>RFC 2131 2: a client must accept 576-byte IP datagrams, so 548 bytes of DHCP; we take what UDP brings up to this.</summary>
    public const int MaxSize = 1500;
    public const uint Cookie = 0x63825363;
    public const byte OpRequest = 1, OpReply = 2, HtypeEthernet = 1;
    /// <summary>The flags field's B bit (RFC 2131 4.1): answer by broadcast, we cannot take unicast before we have an address.</summary>
    public const ushort FlagBroadcast = 0x8000;
    public const ushort ServerPort = 67, ClientPort = 68;

    // Message types (option 53).
    public const byte Discover = 1, Offer = 2, Request = 3, Decline = 4, Ack = 5, Nak = 6, Release = 7;

    // Option codes (RFC 2132).
    public const byte OptPad = 0, OptSubnetMask = 1, OptRouter = 3, OptDns = 6, OptHostName = 12,
        OptRequestedIp = 50, OptLeaseTime = 51, OptOverload = 52, OptMessageType = 53, OptServerId = 54,
        OptParamRequest = 55, OptMaxSize = 57, OptClientId = 61, OptEnd = 255;

    /// <summary>Up to this many routers and name servers are kept from a reply.</summary>
    public const int MaxAddrs = 3;

    public static WireError Parse(ReadOnlySpan<byte> b, out DhcpReply r)
    {
        r = default;
        if (b.Length < OptionsOffset) return WireError.Truncated;
        if (BinaryPrimitives.ReadUInt32BigEndian(b.Slice(CookieOffset)) != Cookie) return WireError.Malformed;
        var v = new DhcpReply
        {
            Op = b[0],
            Htype = b[1],
            Hlen = b[2],
            Xid = BinaryPrimitives.ReadUInt32BigEndian(b.Slice(4)),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(10)),
            Ciaddr = Ipv4Addr.Read(b.Slice(12)),
            Yiaddr = Ipv4Addr.Read(b.Slice(16)),
            Siaddr = Ipv4Addr.Read(b.Slice(20)),
            Giaddr = Ipv4Addr.Read(b.Slice(24)),
            Chaddr = EtherAddr.Read(b.Slice(28)),
        };
        int i = OptionsOffset;
        while (i < b.Length)
        {
            byte code = b[i++];
            if (code == OptPad) continue;
            if (code == OptEnd) { v.HasEnd = true; break; }
            if (i >= b.Length) return WireError.Malformed; // a code without its length byte
            int len = b[i++];
            if (len > b.Length - i) return WireError.Malformed; // the value runs past the message
            ReadOnlySpan<byte> val = b.Slice(i, len);
            i += len;
            switch (code)
            {
                case OptMessageType:
                    if (len != 1) return WireError.Malformed;
                    v.MessageType = val[0];
                    break;
                case OptSubnetMask:
                    if (len != 4) return WireError.Malformed;
                    v.SubnetMask = Ipv4Addr.Read(val);
                    v.HasSubnetMask = true;
                    break;
                case OptServerId:
                    if (len != 4) return WireError.Malformed;
                    v.ServerId = Ipv4Addr.Read(val);
                    break;
                case OptLeaseTime:
                    if (len != 4) return WireError.Malformed;
                    v.LeaseTime = BinaryPrimitives.ReadUInt32BigEndian(val);
                    break;
                case OptRouter:
                    if (len == 0 || len % 4 != 0) return WireError.Malformed;
                    v.RouterCount = ReadAddrs(val, ref v.Router0, ref v.Router1, ref v.Router2);
                    break;
                case OptDns:
                    if (len == 0 || len % 4 != 0) return WireError.Malformed;
                    v.DnsCount = ReadAddrs(val, ref v.Dns0, ref v.Dns1, ref v.Dns2);
                    break;
                default:
                    break; // options we do not use are skipped by their length
            }
        }
        r = v;
        return WireError.Ok;
    }

    private static int ReadAddrs(ReadOnlySpan<byte> val, ref Ipv4Addr a0, ref Ipv4Addr a1, ref Ipv4Addr a2)
    {
        int n = Math.Min(val.Length / 4, MaxAddrs);
        if (n > 0) a0 = Ipv4Addr.Read(val);
        if (n > 1) a1 = Ipv4Addr.Read(val.Slice(4));
        if (n > 2) a2 = Ipv4Addr.Read(val.Slice(8));
        return n;
    }

    /// <summary>
    /// Writes a client's <paramref name="type"/> message (DISCOVER or REQUEST) into
    /// <paramref name="d"/>: BOOTREQUEST over Ethernet with the broadcast flag, the message type,
    /// for a REQUEST in the SELECTING state the requested address and the chosen server (RFC 2131
    /// 4.3.2), the parameters we want (mask, router, DNS), then End and padding to 300 bytes.
    /// Returns the length, or -1 if <paramref name="d"/> is too small.
    /// </summary>
    public static int Emit(Span<byte> d, byte type, uint xid, ushort secs, EtherAddr chaddr, Ipv4Addr requested = default, Ipv4Addr server = default)
    {
        if (d.Length < MinSize) return -1;
        d.Slice(0, MinSize).Clear();
        d[0] = OpRequest;
        d[1] = HtypeEthernet;
        d[2] = EtherAddr.Size;
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(4), xid);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(8), secs);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(10), FlagBroadcast);
        chaddr.Write(d.Slice(28));
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(CookieOffset), Cookie);
        int i = OptionsOffset;
        d[i++] = OptMessageType; d[i++] = 1; d[i++] = type;
        if (requested != Ipv4Addr.Any)
        {
            d[i++] = OptRequestedIp; d[i++] = 4; requested.Write(d.Slice(i)); i += 4;
        }
        if (server != Ipv4Addr.Any)
        {
            d[i++] = OptServerId; d[i++] = 4; server.Write(d.Slice(i)); i += 4;
        }
        d[i++] = OptParamRequest; d[i++] = 3; d[i++] = OptSubnetMask; d[i++] = OptRouter; d[i++] = OptDns;
        d[i++] = OptEnd;
        return MinSize;
    }
}

/// <summary>The fields of a server's reply that a client uses (parsed by <see cref="DhcpMessage.Parse"/>; addresses absent are 0.0.0.0).</summary>
public struct DhcpReply
{
    public byte Op, Htype, Hlen;
    public uint Xid;
    public ushort Flags;
    public Ipv4Addr Ciaddr, Yiaddr, Siaddr, Giaddr;
    public EtherAddr Chaddr;
    /// <summary>Option 53; 0 when the reply has none (plain BOOTP).</summary>
    public byte MessageType;
    public bool HasEnd, HasSubnetMask;
    public Ipv4Addr SubnetMask, ServerId;
    public uint LeaseTime;
    public int RouterCount, DnsCount;
    public Ipv4Addr Router0, Router1, Router2, Dns0, Dns1, Dns2;

    public readonly Ipv4Addr Dns(int i) => i switch { 0 => Dns0, 1 => Dns1, _ => Dns2 };
}
