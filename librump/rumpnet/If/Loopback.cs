using Rump.Kern;

namespace Rump.Net;

/// <summary>
/// lo0 (NetBSD's if_loop.c): every packet sent is received again on the same interface, through
/// the same input queue and soft interrupt as any driver's, so the protocols see loopback
/// traffic exactly as they see a wire's. Attached and up at boot with NetBSD's LOMTU.
/// </summary>
public sealed class Loopback : Ifnet
{
    /// <summary>NetBSD's LOMTU (if_loop.c).</summary>
    public const int LoMtu = 32768 + 416;

    public Loopback(Kernel k, string name = "lo0")
        : base(k, name, IFT_LOOP, LoMtu, IFF_UP | IFF_RUNNING | IFF_LOOPBACK | IFF_MULTICAST, default) { }

    protected override int Transmit(Mbuf m)
    {
        Input(m);
        return 0;
    }
}
