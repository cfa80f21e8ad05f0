using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// An Ethernet interface for the protocol tests: the frames the kernel sends are kept for the test
/// to read, and <see cref="Inject"/> delivers frames as a driver's interrupt handler would.
/// </summary>
internal sealed class EtherTestIf : Ifnet
{
    private readonly List<byte[]> _sent = new();

    public EtherTestIf(Kernel k, string name, ulong mac, bool multicast = false)
        : base(k, name, IFT_ETHER, 1500, IFF_UP | IFF_RUNNING | IFF_BROADCAST | (multicast ? IFF_MULTICAST : 0), new EtherAddr(mac)) { }

    protected override int Transmit(Mbuf m)
    {
        lock (_sent) _sent.Add(m.Bytes.ToArray());
        m.Free();
        return 0;
    }

    /// <summary>Every frame sent so far, oldest first.</summary>
    public byte[][] Frames() { lock (_sent) return _sent.ToArray(); }
    public int SentCount { get { lock (_sent) return _sent.Count; } }
    public byte[] Last { get { lock (_sent) return _sent[^1]; } }
    public void Clear() { lock (_sent) _sent.Clear(); }

    /// <summary>
    /// Delivers <paramref name="frames"/> to <paramref name="ifp"/> from a host thread in the
    /// kernel's interrupt context, as a driver's receive completion does; returns once they are queued.
    /// </summary>
    public static void Inject(RumpKernel k, Ifnet ifp, params byte[][] frames)
    {
        Rump.Net.Net n = k.Kernel.GetService<Rump.Net.Net>()!;
        var t = new Thread(() =>
        {
            using IntrContext ic = k.Kernel.EnterInterrupt();
            foreach (byte[] frame in frames)
            {
                Mbuf m = n.Mbufs.Get(frame.Length)!;
                m.Append(frame);
                Ether.EtherInput(ifp, m);
            }
        });
        t.Start();
        t.Join();
    }
}
