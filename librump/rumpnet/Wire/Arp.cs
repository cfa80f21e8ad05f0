using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// ARP (RFC 826) for IPv4 over Ethernet, the only pairing this stack resolves: hardware type 1,
/// protocol 0x0800, lengths 6 and 4, so a packet is 28 bytes (Ethernet pads it to 46). Anything
/// else is <see cref="WireError.Unsupported"/>; an operation other than request or reply is
/// <see cref="WireError.Malformed"/>.
/// </summary>
public readonly ref struct ArpPacket
{
    public const int Size = 28;
    public const ushort HwEthernet = 1;
    public const ushort OpRequest = 1, OpReply = 2;

    private readonly ReadOnlySpan<byte> _b;
    private ArpPacket(ReadOnlySpan<byte> b) { _b = b; }

    public static WireError Parse(ReadOnlySpan<byte> b, out ArpPacket p)
    {
        p = default;
        if (b.Length < 8) return WireError.Truncated;
        if (BinaryPrimitives.ReadUInt16BigEndian(b) != HwEthernet || BinaryPrimitives.ReadUInt16BigEndian(b.Slice(2)) != EthernetFrame.TypeIpv4
            || b[4] != EtherAddr.Size || b[5] != Ipv4Addr.Size)
            return WireError.Unsupported;
        if (b.Length < Size) return WireError.Truncated;
        ushort op = BinaryPrimitives.ReadUInt16BigEndian(b.Slice(6));
        if (op is not (OpRequest or OpReply)) return WireError.Malformed;
        p = new ArpPacket(b);
        return WireError.Ok;
    }

    public ushort Operation => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(6));
    public EtherAddr SenderHw => EtherAddr.Read(_b.Slice(8));
    public Ipv4Addr SenderIp => Ipv4Addr.Read(_b.Slice(14));
    public EtherAddr TargetHw => EtherAddr.Read(_b.Slice(18));
    public Ipv4Addr TargetIp => Ipv4Addr.Read(_b.Slice(24));

    /// <summary>Writes a 28-byte ARP packet; returns 28, or -1 if <paramref name="d"/> is too small.</summary>
    public static int Emit(Span<byte> d, ushort op, EtherAddr senderHw, Ipv4Addr senderIp, EtherAddr targetHw, Ipv4Addr targetIp)
    {
        if (d.Length < Size) return -1;
        BinaryPrimitives.WriteUInt16BigEndian(d, HwEthernet);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), EthernetFrame.TypeIpv4);
        d[4] = EtherAddr.Size;
        d[5] = Ipv4Addr.Size;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(6), op);
        senderHw.Write(d.Slice(8));
        senderIp.Write(d.Slice(14));
        targetHw.Write(d.Slice(18));
        targetIp.Write(d.Slice(24));
        return Size;
    }
}
