using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net;

/// <summary>
/// The Ethernet link layer shared by Ethernet drivers (NetBSD's if_ethersubr.c): frames in
/// (<see cref="EtherInput"/>) and out (<see cref="EtherOutput"/>). A driver calls EtherInput
/// with an mbuf holding one whole received frame; ARP and neighbour discovery, to come, supply
/// the destination that EtherOutput is given.
/// </summary>
public static class Ether
{
    /// <summary>
    /// One received frame: parsed (a bad or unsupported one is counted as an input error and
    /// freed), dropped if addressed to another station, marked broadcast or multicast, its
    /// header stripped and its EtherType set as <see cref="Mbuf.Protocol"/>, then queued with
    /// <see cref="Ifnet.Input"/>. Consumes <paramref name="m"/>.
    /// </summary>
    public static void EtherInput(Ifnet ifp, Mbuf m)
    {
        if (EthernetFrame.Parse(m.Bytes, out EthernetFrame f) != WireError.Ok)
        {
            Interlocked.Increment(ref ifp.InputErrors);
            m.Free();
            return;
        }
        EtherAddr dst = f.Destination;
        if (dst.IsMulticast) m.Flags |= dst.IsBroadcast ? Mbuf.FlagBroadcast : Mbuf.FlagMulticast;
        else if (dst != ifp.LinkAddr)
        {
            // Another station's unicast (a bus such as shmif delivers every frame to everyone).
            m.Free();
            return;
        }
        m.Protocol = f.EtherType;
        m.TrimFront(f.HeaderLength);
        ifp.Input(m);
    }

    /// <summary>
    /// Sends <paramref name="m"/> (its <see cref="Mbuf.Protocol"/> set) to <paramref name="dst"/>:
    /// prepends the Ethernet header in the headroom (ENOBUFS without room) and hands the frame to
    /// <see cref="Ifnet.Output"/>, whose MTU check is about the payload, as NetBSD's is (a TSO segment
    /// passes it on an interface that cuts it). Consumes <paramref name="m"/>.
    /// </summary>
    public static int EtherOutput(Ifnet ifp, Mbuf m, EtherAddr dst)
    {
        int e = !ifp.IsUp ? Abi.ENETDOWN : m.Length > ifp.Mtu && !ifp.TsoFits(m) ? Abi.EMSGSIZE : 0;
        System.Span<byte> h = e == 0 ? m.Prepend(EthernetFrame.HeaderSize) : default;
        if (e == 0 && h.IsEmpty) e = Abi.ENOBUFS;
        if (e != 0)
        {
            Interlocked.Increment(ref ifp.OutputErrors);
            m.Free();
            return e;
        }
        EthernetFrame.Emit(h, dst, ifp.LinkAddr, m.Protocol);
        return ifp.OutputFrame(m);
    }
}
