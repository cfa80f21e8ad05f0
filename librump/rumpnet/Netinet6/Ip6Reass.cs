using System;
using System.Buffers.Binary;
using System.Threading;
using Rump.Net.Netinet;
using Rump.Net.Wire;

namespace Rump.Net.Netinet6;

/// <summary>
/// IPv6 reassembly (RFC 8200 4.5; NetBSD frag6.c) on the engine both families share,
/// <see cref="FragReass"/>, which says what is kept and what hostile input discards (overlaps
/// silently, as RFC 5722 requires). A datagram is one source, destination and identification.
///
/// The whole datagram is the first fragment's fixed header, with the fragment header's next
/// header and the new payload length, followed by the fragmentable part: the extension headers
/// before the fragment header (the unfragmentable part) were walked already and are not kept,
/// since this host interprets none of them. <see cref="Ip6.Input"/> walks the whole datagram's
/// headers again.
///
/// Before a fragment reaches the engine: an atomic fragment (offset 0, no more) is the whole
/// datagram and bypasses it (RFC 6946); a non-last fragment whose length is not a multiple of 8,
/// and one whose datagram would exceed 65,535 bytes of payload, get a parameter problem (RFC 8200
/// 4.5). Counted in <see cref="Inet6Stats"/>: Ip6Fragments, Ip6Reassembled, Ip6AtomicFragments,
/// Ip6FragDropped, Ip6FragOverlap, Ip6FragTimeout. No locks of its own.
/// A datagram that times out after its first fragment came gets its source an ICMPv6 time
/// exceeded, fragment reassembly (code 1), quoting that fragment (RFC 8200 4.5, as NetBSD's
/// frag6_freef); one whose first fragment never came gets nothing (there is nothing to quote that
/// names the datagram's upper layer).
/// Not done: RFC 7112's check that the first fragment holds the whole header chain.
/// </summary>
public sealed class Ip6Reass
{
    /// <summary>RFC 8200 4.5: 60 seconds.</summary>
    public const long TimeoutNs = 60L * 1_000_000_000;

    private readonly Inet6 _in;
    private readonly FragReass _q;

    internal Ip6Reass(Inet6 inet)
    {
        _in = inet;
        _q = new FragReass(inet.Net, inet.Stats, TimeoutNs, Ipv6Packet.HeaderSize, Ipv6Packet.HeaderSize + 0xffff, TimedOut);
    }

    /// <summary>How long a datagram may take (RFC 8200: 60 s); tests shorten it. New datagrams get the new value.</summary>
    internal long Timeout { get => _q.TimeoutNs; set => _q.TimeoutNs = value; }

    /// <summary>A datagram timed out after its first fragment (<paramref name="first"/>, as received) came in on <paramref name="ifp"/>.</summary>
    private void TimedOut(byte[] first, Ifnet? ifp)
    {
        Mbuf? m = _in.Net.Mbufs.Get(first.Length);
        if (m == null) return;
        first.CopyTo(m.Append(first.Length));
        m.RcvIf = ifp;
        _in.Icmp6.Error(m, Icmpv6Packet.TypeTimeExceeded, Icmpv6Packet.CodeReassemblyTimeExceeded, 0);
        m.Free();
    }

    /// <summary>Datagrams in reassembly now.</summary>
    public int Pending => _q.Pending;

    private Inet6Stats S => _in.Stats;

    /// <summary>
    /// Takes a packet with a fragment header (<paramref name="x"/>, its walk) and returns the whole
    /// datagram when this fragment completes it, else null. Consumes <paramref name="m"/> either way.
    /// </summary>
    internal Mbuf? Insert(Mbuf m, in Ipv6Extensions x)
    {
        Interlocked.Increment(ref S.Ip6Fragments);
        int len = m.Length - x.UpperOffset;
        if (x.MoreFragments && (len == 0 || (len & 7) != 0))
        {
            Interlocked.Increment(ref S.Ip6FragDropped);
            _in.Icmp6.Error(m, Icmpv6Packet.TypeParamProblem, 0, 4); // at the payload length
            m.Free();
            return null;
        }
        if (x.FragmentHeaderOffset - Ipv6Packet.HeaderSize + x.FragmentOffset + len > 0xffff)
        {
            Interlocked.Increment(ref S.Ip6FragDropped);
            _in.Icmp6.Error(m, Icmpv6Packet.TypeParamProblem, 0, (uint)x.FragmentHeaderOffset + 2); // at the fragment offset
            m.Free();
            return null;
        }
        Span<byte> header = stackalloc byte[Ipv6Packet.HeaderSize];
        m.Bytes.Slice(0, Ipv6Packet.HeaderSize).CopyTo(header);
        header[6] = x.UpperProtocol;
        if (x.FragmentOffset == 0 && !x.MoreFragments)
        {
            // An atomic fragment: the header moves up to the data, over the fragment header and those before it.
            Interlocked.Increment(ref S.Ip6AtomicFragments);
            m.TrimFront(x.UpperOffset - Ipv6Packet.HeaderSize);
            header.CopyTo(m.Bytes);
            BinaryPrimitives.WriteUInt16BigEndian(m.Bytes.Slice(4), (ushort)len);
            return m;
        }
        var key = new FragKey(Ipv6Addr.Read(header.Slice(8)), Ipv6Addr.Read(header.Slice(24)), x.FragmentId, 0);
        Mbuf? done = _q.Insert(key, x.FragmentOffset, x.MoreFragments, m.Bytes.Slice(x.UpperOffset), header, m, out int h);
        if (done == null) return null;
        BinaryPrimitives.WriteUInt16BigEndian(done.Bytes.Slice(4), (ushort)(done.Length - h));
        Interlocked.Increment(ref S.Ip6Reassembled);
        return done;
    }
}
