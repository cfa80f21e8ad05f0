using System.Buffers.Binary;
using System.Threading;
using Rump.Net.Netinet6;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// IPv4 reassembly (RFC 791 3.2; NetBSD ip_reass.c) on the shared engine, <see cref="FragReass"/>,
/// which says what is kept and what hostile input discards. A datagram is one source,
/// destination, protocol and identification; the first fragment's header becomes the whole
/// datagram's, with its total length set, the fragment fields cleared and a fresh checksum.
/// Discards are counted in <see cref="InetStats.IpFragDropped"/>, <see cref="InetStats.IpFragOverlap"/>
/// and <see cref="InetStats.IpFragTimeout"/>. No locks of its own.
/// </summary>
public sealed class IpReass
{
    public const int MaxDatagrams = FragReass.MaxDatagrams, MaxFragments = FragReass.MaxFragments;
    /// <summary>NetBSD's IPFRAGTTL.</summary>
    public const long TimeoutNs = 30L * 1_000_000_000;

    private readonly FragReass _q;

    internal IpReass(Inet inet)
        => _q = new FragReass(inet.Net, inet.Stats, TimeoutNs, Ipv4Packet.MaxHeaderSize, 0xffff);

    /// <summary>Datagrams in reassembly now.</summary>
    public int Pending => _q.Pending;

    /// <summary>
    /// Takes one fragment (a whole IPv4 packet, header checked, trimmed to its total length) and
    /// returns the reassembled datagram, header in front with its lengths fixed, when this one
    /// completes it; else null. Consumes <paramref name="m"/> either way.
    /// </summary>
    internal Mbuf? Insert(Mbuf m)
    {
        Ipv4Packet.Parse(m.Bytes, out Ipv4Packet p);
        int hlen = p.HeaderLength;
        var key = new FragKey(In6.V4Mapped(p.Source), In6.V4Mapped(p.Destination), p.Identification, p.Protocol);
        Mbuf? done = _q.Insert(key, p.FragmentOffset, p.MoreFragments, m.Bytes.Slice(hlen, p.TotalLength - hlen), m.Bytes.Slice(0, hlen), m, out int h);
        if (done == null) return null;
        // The whole datagram's header: its total length, no fragment fields, a fresh checksum.
        System.Span<byte> hdr = done.Bytes.Slice(0, h);
        BinaryPrimitives.WriteUInt16BigEndian(hdr.Slice(2), (ushort)done.Length);
        hdr[6] &= 0x40; // keep DF, clear MF and the offset
        hdr[7] = 0;
        hdr[10] = hdr[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(hdr.Slice(10), Checksum.Compute(hdr));
        return done;
    }
}
