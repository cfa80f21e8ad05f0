using System;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Virtif;

/// <summary>
/// virtN (NetBSD's if_virt): an Ethernet interface whose wire is a Linux TAP device, reached
/// through librumpuser_virtif.so. The host device's name is given at create (the "link string";
/// by default the interface's own name). Its MAC address is locally administered and random.
///
/// Receive: the library's reader thread calls <see cref="RxUp"/> with a batch of frames; that
/// enters the kernel once through interrupt context and hands each frame to the Ethernet layer,
/// which queues it for the interface's soft interrupt. Transmit: the frame is written with the
/// CPU given up around the hypercall (it may block when the host's queue is full).
///
/// Lifetime: a GCHandle to this object is the upcall's argument; <see cref="Destroy"/> stops the
/// reader (rumpvif_destroy returns after any upcall under way) before the handle is freed.
/// Transmits in flight are counted (<see cref="_sending"/>): closing first sets <see cref="_closing"/>
/// (no new transmit starts), then waits for the count to drain before the host handle goes.
/// </summary>
public sealed unsafe class Virtif : Ifnet
{
    public const string Prefix = "virt";
    public const int DefaultMtu = 1500;
    /// <summary>
    /// Jumbo frames, opt in with SIOCSIFMTU (and the same MTU on the host's TAP): a 65,535-byte
    /// frame, the largest Linux's TAP takes (its max_mtu, 65521). One frame then carries about as
    /// much as Linux's loopback (MTU 65536) does, and the per-frame costs (a hypercall, a wake-up,
    /// the protocol headers) fall about forty-fold.
    /// </summary>
    public const int JumboMtu = 0xffff - EthernetFrame.HeaderSize;

    private readonly Kernel _k;
    private readonly Net _net;
    private nint _vif;
    private GCHandle _self;
    private int _sending, _closing;
    public readonly string HostName;
    /// <summary>Upcalls (batches) received: a test watches several frames arrive per wake-up.</summary>
    public long RxBatches;

    private Virtif(Kernel k, Net net, string name, string hostName, EtherAddr mac)
        : base(k, name, IFT_ETHER, DefaultMtu, IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST, mac)
    {
        _k = k;
        _net = net;
        HostName = hostName;
        MaxMtu = JumboMtu;
    }

    /// <summary>
    /// Makes virt<paramref name="unit"/> over the host TAP <paramref name="hostName"/> (null: the
    /// interface's name), attaches it, and leaves it down. The host's errno on failure (ENOENT
    /// without /dev/net/tun, EPERM without the rights to make or use the device).
    /// </summary>
    public static int Create(Kernel k, int unit, string? hostName, out Ifnet? ifp)
    {
        ifp = null;
        Net? net = k.GetService<Net>();
        if (net == null) return Abi.ENXIO;
        string name = Prefix + unit;
        if (!RumpUserVirtif.Available()) return Abi.ENOENT;
        Span<byte> rnd = stackalloc byte[6];
        Random.Shared.NextBytes(rnd);
        rnd[0] = (byte)(rnd[0] & 0xfe | 0x02); // unicast, locally administered
        var v = new Virtif(k, net, name, hostName ?? name, EtherAddr.Read(rnd));
        v._self = GCHandle.Alloc(v);
        var up = new RumpUserVirtif.Hyperup { Rx = &RxUp, Arg = GCHandle.ToIntPtr(v._self) };
        nint h;
        Lwp? l = Unsched(k);
        int e = RumpUserVirtif.rumpvif_create(v.HostName, &up, &h);
        Resched(k, l);
        if (e != 0)
        {
            v._self.Free();
            return e;
        }
        v._vif = h;
        e = net.Attach(v);
        if (e != 0)
        {
            v.CloseHost();
            return e;
        }
        ifp = v;
        return 0;
    }

    /// <summary>Takes the interface down and out of the kernel (its addresses and routes go), then closes the TAP.</summary>
    public static int Destroy(Ifnet ifp)
    {
        if (ifp is not Virtif v) return Abi.EINVAL;
        int e = v._net.Detach(v);
        if (e != 0) return e;
        v._k.GetService<Netinet.Inet>()?.InterfaceGone(v);
        v.CloseHost();
        return 0;
    }

    private void CloseHost()
    {
        Volatile.Write(ref _closing, 1);
        nint h = _vif;
        Lwp? l = Unsched(_k);
        // A transmit that saw _closing == 0 is inside a short write(2): wait it out without a CPU.
        var spin = new SpinWait();
        while (Volatile.Read(ref _sending) != 0) spin.SpinOnce();
        if (h != 0) RumpUserVirtif.rumpvif_destroy(h);
        Resched(_k, l);
        _vif = 0;
        if (_self.IsAllocated) _self.Free();
    }

    protected override int Transmit(Mbuf m)
    {
        int e;
        Interlocked.Increment(ref _sending);
        try
        {
            if (Volatile.Read(ref _closing) != 0 || _vif == 0) e = Abi.ENXIO;
            else
            {
                fixed (byte* p = m.Bytes)
                {
                    Lwp? l = Unsched(_k);
                    e = RumpUserVirtif.rumpvif_send(_vif, p, (nuint)m.Length);
                    Resched(_k, l);
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _sending);
            m.Free();
        }
        return e;
    }

    [UnmanagedCallersOnly]
    private static void RxUp(nint arg, byte* buf, uint* lens, int n)
    {
        Kernel? k = null;
        try
        {
            var v = (Virtif)GCHandle.FromIntPtr(arg).Target!;
            k = v._k;
            Interlocked.Increment(ref v.RxBatches);
            using IntrContext ic = k.EnterInterrupt();
            if (ic.Lwp == null || !v.IsUp) return;
            nint off = 0;
            for (int i = 0; i < n; i++)
            {
                int len = (int)lens[i];
                var frame = new ReadOnlySpan<byte>(buf + off, len);
                off += len;
                Mbuf? m = v._net.Mbufs.Get(len);
                if (m == null) { Interlocked.Increment(ref v.InputDrops); continue; }
                m.Append(frame);
                Ether.EtherInput(v, m);
            }
        }
        catch (Exception e) { k?.RecordPanic(e, "virtif rx: "); }
    }

    private static Lwp? Unsched(Kernel k)
    {
        Lwp l = k.CurlwpOrBind();
        if (l.Cpu == null) return null;
        k.Sched.Unschedule(l);
        return l;
    }

    private static void Resched(Kernel k, Lwp? l)
    {
        if (l != null) k.Sched.Schedule(l);
    }
}

/// <summary>Registers the virt cloner ("ifconfig virt0 create").</summary>
public sealed class VirtifComponent : IComponent
{
    public string Name => "virtif";
    public string[] Requires => new[] { "net" };

    public void Init(Kernel k)
        => k.GetService<IfCloners>()?.Register(Virtif.Prefix, (int unit, out Ifnet? ifp) => Virtif.Create(k, unit, null, out ifp), Virtif.Destroy);

    /// <summary>Halt: every virt interface is destroyed, so no reader thread outlives the kernel.</summary>
    public void Shutdown(Kernel k, bool sync)
    {
        Net? net = k.GetService<Net>();
        if (net == null) return;
        foreach (Ifnet i in net.Interfaces()) if (i is Virtif) Virtif.Destroy(i);
    }
}
