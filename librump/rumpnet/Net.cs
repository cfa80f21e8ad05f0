using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// One kernel's network stack (NetBSD's rumpnet faction). Layered as NetBSD's net/ and netinet/
/// and smoltcp's iface/socket/wire split:
/// - <c>Wire/</c>: pure parsers and builders over spans (Ethernet, ARP, IPv4, ICMP, UDP, TCP,
///   IPv6, ICMPv6, the Internet checksum). No state, no allocation, errors as values.
/// - <c>Mbuf</c>: the packet buffer every layer passes on, pooled per kernel, with headroom so
///   each layer prepends its header without copying.
/// - <c>If/</c>: interfaces (<c>Ifnet</c>): drivers (lo0 here; shmif, virtif to come)
///   hand received frames to an interface's input queue from interrupt context, and a soft
///   interrupt drains the queue into the protocols; protocols hand packets to an interface's
///   output routine.
/// - To come: ARP and neighbour caches, IPv4/IPv6 input and output with a routing table,
///   ICMP, UDP, TCP (each a state machine over the wire views), then sockets.
///
/// Locks: none yet (the interface table comes with interfaces).
/// </summary>
public sealed class Net
{
    internal readonly Kernel Kernel;

    internal Net(Kernel k) { Kernel = k; }

    internal void Shutdown() { }
}
