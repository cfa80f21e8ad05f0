using System;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// Runs a frame through every parser that applies, as the stack's input path will: Ethernet,
/// then ARP, IPv4 or IPv6 (with its extension headers), then ICMP, UDP, TCP (with options) or
/// ICMPv6 (with ND options). Returns the first error, and how many bytes of the frame carry
/// meaning (the rest is link padding, whose loss is no error).
/// </summary>
internal static class Dissect
{
    public static WireError Frame(ReadOnlySpan<byte> f, out int meaningful)
    {
        meaningful = 0;
        WireError e = EthernetFrame.Parse(f, out EthernetFrame eth);
        if (e != WireError.Ok) return e;
        int h = eth.HeaderLength;
        meaningful = f.Length;
        switch (eth.EtherType)
        {
            case EthernetFrame.TypeArp:
                e = ArpPacket.Parse(eth.Payload, out _);
                if (e == WireError.Ok) meaningful = h + ArpPacket.Size;
                return e;
            case EthernetFrame.TypeIpv4:
                e = Ipv4Packet.Parse(eth.Payload, out Ipv4Packet ip);
                if (e != WireError.Ok) return e;
                meaningful = h + ip.TotalLength;
                if (ip.IsFragment && ip.FragmentOffset != 0) return WireError.Ok;
                return Ipv4Upper(ip);
            case EthernetFrame.TypeIpv6:
                e = Ipv6Packet.Parse(eth.Payload, out Ipv6Packet ip6);
                if (e != WireError.Ok) return e;
                meaningful = h + ip6.Bytes.Length;
                e = ip6.WalkExtensions(out Ipv6Extensions x);
                if (e != WireError.Ok) return e;
                if (x.HasFragment && (x.FragmentOffset != 0 || x.MoreFragments)) return WireError.Ok;
                return Ipv6Upper(ip6, x);
            default:
                return WireError.Unsupported;
        }
    }

    private static WireError Ipv4Upper(Ipv4Packet ip)
    {
        switch (ip.Protocol)
        {
            case Ipv4Packet.ProtoIcmp:
                return Icmpv4Packet.Parse(ip.Payload, out _);
            case Ipv4Packet.ProtoUdp:
                return UdpPacket.ParseV4(ip.Payload, ip.Source, ip.Destination, out _);
            case Ipv4Packet.ProtoTcp:
                WireError e = TcpPacket.ParseV4(ip.Payload, ip.Source, ip.Destination, out TcpPacket t);
                return e != WireError.Ok ? e : TcpOptions.Parse(t.Options, out _);
            default:
                return WireError.Ok;
        }
    }

    private static WireError Ipv6Upper(Ipv6Packet ip, in Ipv6Extensions x)
    {
        ReadOnlySpan<byte> up = ip.Bytes.Slice(x.UpperOffset);
        Ipv6Addr s = ip.Source, d = ip.Destination;
        switch (x.UpperProtocol)
        {
            case Ipv6Packet.NextIcmpv6:
                WireError e = Icmpv6Packet.Parse(up, s, d, out Icmpv6Packet m);
                if (e != WireError.Ok || !m.IsNeighborDiscovery) return e;
                return NdOptions.Parse(m.NdOptionBytes, out _);
            case Ipv6Packet.NextUdp:
                return UdpPacket.ParseV6(up, s, d, out _);
            case Ipv6Packet.NextTcp:
                e = TcpPacket.ParseV6(up, s, d, out TcpPacket t);
                return e != WireError.Ok ? e : TcpOptions.Parse(t.Options, out _);
            default:
                return WireError.Ok;
        }
    }
}
