using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// The virtio-net header (struct virtio_net_hdr, virtio 1.x section 5.1.6; Linux's
/// uapi/linux/virtio_net.h) that a Linux TAP opened with IFF_VNET_HDR puts in front of every
/// frame, both ways: flags (NEEDS_CSUM: the checksum at csum_start + csum_offset holds only the
/// pseudo-header sum and is to be completed over csum_start..end; DATA_VALID: the host vouches
/// for the checksum), the GSO type (TCPv4 or TCPv6 segmentation, maybe with the ECN bit), the
/// length of the headers (hdr_len) and the size of each piece (gso_size). Ten bytes, every field
/// little-endian (the TAP's order on every host .NET runs on; virtio 1.x fixes it so).
///
/// <see cref="Parse"/> checks a header against the frame that follows it: known flags only, a
/// known GSO type (none, TCPv4, TCPv6; UDP fragmentation is never enabled), for NEEDS_CSUM a
/// checksum field inside the frame and past the Ethernet header, for GSO a non-zero piece size
/// and a header length inside the frame. Anything else is hostile or broken and dropped by the
/// driver. Whether the frame really is TCP is <see cref="IsTcpChecksum"/>'s question.
/// </summary>
public readonly struct VirtioNetHdr
{
    public const int Size = 10;
    public const byte FlagNeedsCsum = 1, FlagDataValid = 2;
    public const byte GsoNone = 0, GsoTcpV4 = 1, GsoUdp = 3, GsoTcpV6 = 4, GsoEcn = 0x80;
    /// <summary>Where the TCP checksum field sits in the TCP header (csum_offset for TCP).</summary>
    public const int TcpChecksumOffset = 16;

    public readonly byte Flags, GsoType;
    public readonly ushort HdrLen, GsoSize, CsumStart, CsumOffset;

    public VirtioNetHdr(byte flags, byte gsoType, ushort hdrLen, ushort gsoSize, ushort csumStart, ushort csumOffset)
    {
        Flags = flags; GsoType = gsoType; HdrLen = hdrLen; GsoSize = gsoSize; CsumStart = csumStart; CsumOffset = csumOffset;
    }

    public bool NeedsCsum => (Flags & FlagNeedsCsum) != 0;
    public bool DataValid => (Flags & FlagDataValid) != 0;
    /// <summary>The GSO type without the ECN bit.</summary>
    public byte Gso => (byte)(GsoType & ~GsoEcn);
    public bool IsGso => Gso != GsoNone;

    /// <summary>
    /// The header in front of <paramref name="frame"/> (the Ethernet frame that follows it),
    /// checked against it. <paramref name="hdr"/> holds at least <see cref="Size"/> bytes.
    /// </summary>
    public static WireError Parse(ReadOnlySpan<byte> hdr, ReadOnlySpan<byte> frame, out VirtioNetHdr h)
    {
        h = default;
        if (hdr.Length < Size) return WireError.Truncated;
        var v = new VirtioNetHdr(hdr[0], hdr[1], BinaryPrimitives.ReadUInt16LittleEndian(hdr.Slice(2)),
            BinaryPrimitives.ReadUInt16LittleEndian(hdr.Slice(4)), BinaryPrimitives.ReadUInt16LittleEndian(hdr.Slice(6)),
            BinaryPrimitives.ReadUInt16LittleEndian(hdr.Slice(8)));
        if ((v.Flags & ~(FlagNeedsCsum | FlagDataValid)) != 0) return WireError.Unsupported;
        if (v.Gso is not (GsoNone or GsoTcpV4 or GsoTcpV6)) return WireError.Unsupported;
        if (v.Gso == GsoNone && (v.GsoType & GsoEcn) != 0) return WireError.Malformed;
        if (v.NeedsCsum && (v.CsumStart < EthernetFrame.HeaderSize || v.CsumStart + v.CsumOffset + 2 > frame.Length)) return WireError.Malformed;
        if (v.IsGso && (v.GsoSize == 0 || v.HdrLen > frame.Length)) return WireError.Malformed;
        h = v;
        return WireError.Ok;
    }

    /// <summary>Writes the header to <paramref name="d"/> (at least <see cref="Size"/> bytes).</summary>
    public static void Emit(Span<byte> d, in VirtioNetHdr h)
    {
        d[0] = h.Flags;
        d[1] = h.GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(2), h.HdrLen);
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(4), h.GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(6), h.CsumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(8), h.CsumOffset);
    }

    /// <summary>
    /// Whether <paramref name="frame"/> is an untagged IPv4 or IPv6 TCP segment whose TCP header
    /// starts at <paramref name="l4"/> (out: 0 if not TCP) and that is not a fragment: the only
    /// frames whose checksum the driver lets TCP take as verified. IPv6 extension headers are not
    /// walked (the answer is then no, and the checksum is done in software).
    /// </summary>
    public static bool IsTcp(ReadOnlySpan<byte> frame, out int l4)
    {
        l4 = 0;
        if (frame.Length < EthernetFrame.HeaderSize + Ipv4Packet.MinHeaderSize) return false;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(12));
        ReadOnlySpan<byte> ip = frame.Slice(EthernetFrame.HeaderSize);
        int off;
        if (type == EthernetFrame.TypeIpv4)
        {
            if (ip[0] >> 4 != 4 || ip[9] != Ipv4Packet.ProtoTcp) return false;
            if ((BinaryPrimitives.ReadUInt16BigEndian(ip.Slice(6)) & 0x3fff) != 0) return false; // a fragment (MF or an offset)
            off = (ip[0] & 0xf) * 4;
        }
        else if (type == EthernetFrame.TypeIpv6)
        {
            if (ip.Length < Ipv6Packet.HeaderSize || ip[0] >> 4 != 6 || ip[6] != Ipv6Packet.NextTcp) return false;
            off = Ipv6Packet.HeaderSize;
        }
        else return false;
        if (off < Ipv4Packet.MinHeaderSize || off + TcpPacket.MinHeaderSize > ip.Length) return false;
        l4 = EthernetFrame.HeaderSize + off;
        return true;
    }

    /// <summary>
    /// Completes a partial checksum in software (what a device does for NEEDS_CSUM, and Linux's
    /// skb_checksum_help): the one's complement sum from <paramref name="start"/> to the end of
    /// <paramref name="frame"/>, over a field that holds the pseudo-header's sum, stored at
    /// start + <paramref name="offset"/>. The caller has checked both with <see cref="Parse"/>.
    /// A result of 0 is stored as 0xffff, its one's-complement equal (UDP's "no checksum" is 0).
    /// </summary>
    public static void CompleteChecksum(Span<byte> frame, int start, int offset)
    {
        ushort c = Checksum.Finish(Checksum.Add(frame.Slice(start)));
        BinaryPrimitives.WriteUInt16BigEndian(frame.Slice(start + offset), c == 0 ? (ushort)0xffff : c);
    }
}
