using System;
using System.Threading;
using Rump.Kern;

namespace Rump.Net;

/// <summary>Hands a received packet to a protocol (IPv4, IPv6, ARP), which then owns it.</summary>
public delegate void ProtoInput(Lwp l, Mbuf m);

/// <summary>
/// A network interface (NetBSD's struct ifnet): a name, an index, an MTU, flags, a link-layer
/// address, counters, an input queue and an output routine.
///
/// How drivers plug in (shmif, virtif, lo0): a driver subclasses Ifnet, implements
/// <see cref="Transmit"/> (put one packet on its medium and free it; it runs in thread context
/// and may sleep briefly, giving up the CPU around a blocking hypercall), and attaches it with
/// <see cref="Net.Attach"/>. When its host side has received frames (a host thread woken by the
/// TAP device or the shmif bus), that thread enters the kernel with
/// <c>Kernel.EnterInterrupt()</c>, copies each frame into an <see cref="Mbuf"/> from
/// <see cref="Net.Mbufs"/>, lets the link layer set <see cref="Mbuf.Protocol"/> and strip its
/// header (Ethernet's input, to come, for Ethernet drivers), and calls <see cref="Input"/>, which
/// only queues it and schedules the interface's soft interrupt: several frames per wake-up cost
/// one soft interrupt. That soft interrupt, on a kernel thread, hands each packet to the
/// protocol registered for it (<see cref="Net.SetProtocolInput"/>).
///
/// How protocols plug in: they register their input routine per EtherType, and send by building
/// headers in front of the payload (<see cref="Mbuf.Prepend"/>, with the Wire/ builders) and
/// calling <see cref="Output"/> with <see cref="Mbuf.Protocol"/> set. An Ethernet interface's
/// Output (to come) resolves the next hop (ARP, ND) and prepends the Ethernet header; lo0's
/// loops the packet back to its own input.
///
/// Batched output (NetBSD's if_snd with if_deferred_start): a driver whose medium costs much per
/// send and little per frame (shmif: a bus lock and a wake-up of every reader) sets
/// <see cref="BatchesOutput"/> and implements <see cref="TransmitBatch"/>. Its frames then wait in
/// the output queue, and the interface's output soft interrupt hands everything queued to the
/// driver at once: TCP's burst of a window's segments, or the ACKs one input batch makes, goes
/// out as one batch. The cost is one hand-over to the soft-interrupt thread per burst.
///
/// Locks: <see cref="_inqLock"/> protects the input queue and <see cref="_detached"/>; it is taken
/// after <see cref="Net"/>'s interface-list lock, and the mbuf pool's spin flag is taken inside it
/// (a full queue frees the packet). <see cref="_sndLock"/> protects the output queue; it is taken
/// after the protocols' locks (TCP sends with its stack lock held), the pool's spin flag inside
/// it; the soft interrupt is scheduled after it is dropped. Counters are updated with interlocked adds.
/// </summary>
public abstract class Ifnet
{
    // NetBSD's if.h flags and if_types.h types.
    public const int IFF_UP = 0x1, IFF_BROADCAST = 0x2, IFF_LOOPBACK = 0x8, IFF_RUNNING = 0x40, IFF_SIMPLEX = 0x800, IFF_MULTICAST = 0x8000;
    public const byte IFT_ETHER = 0x06, IFT_LOOP = 0x18;
    /// <summary>NetBSD's if.h capabilities (IFCAP_*) that this stack uses: TCP segmentation and TCP checksums, each family.</summary>
    public const int IFCAP_TSOv4 = 0x00080, IFCAP_CSUM_TCPv4_Rx = 0x00400, IFCAP_CSUM_TCPv4_Tx = 0x00800,
        IFCAP_CSUM_TCPv6_Rx = 0x04000, IFCAP_CSUM_TCPv6_Tx = 0x08000, IFCAP_TSOv6 = 0x40000;
    /// <summary>NetBSD's IFQ_MAXLEN: packets waiting for the soft interrupt before input drops them.</summary>
    public const int DefaultInputQueueLimit = 256;
    /// <summary>Frames waiting for a batching driver: TCP's default window (256 KiB, 182 full segments) twice over, with room for ACKs.</summary>
    public const int DefaultOutputQueueLimit = 512;

    public readonly string Name;
    public readonly byte Type;
    /// <summary>The link-layer address (none for lo0).</summary>
    public readonly Wire.EtherAddr LinkAddr;
    /// <summary>Set by <see cref="Net.Attach"/>, 1 and up (lo0 is 1); 0 before.</summary>
    public int Index { get; internal set; }
    public int Mtu;
    /// <summary>
    /// The largest MTU SIOCSIFMTU accepts: Ethernet's 1500 (NetBSD's ETHERMTU) unless the driver
    /// can carry jumbo frames (NetBSD's ETHERCAP_JUMBO_MTU) and says how large; 65535 elsewhere.
    /// </summary>
    public int MaxMtu;
    /// <summary>
    /// Offloads the interface does (NetBSD's if_capenable, IFCAP_*): none by default, so lo0,
    /// shmif and every driver that does not say otherwise get checksums computed and packets cut
    /// to the MTU by the stack. Set by the driver before it attaches; read without a lock.
    /// </summary>
    public int Capabilities;
    private int _flags;
    public int Flags => Volatile.Read(ref _flags);
    public bool IsUp => (Flags & IFF_UP) != 0;

    internal Net? Owner;
    private readonly KMutex _inqLock;
    private MbufQueue _inq;
    private bool _detached;
    private Softint? _softint;
    /// <summary>Input batches under way (<see cref="InputBatchBegin"/>): their end runs the soft interrupt, so Input need not schedule it.</summary>
    private int _inputBatches;
    private readonly KMutex _sndLock;
    private MbufQueue _snd;
    private Softint? _outSoftint;
    private long _sndQueued, _sndDone;

    public long InputPackets, InputBytes, InputDrops, InputErrors, OutputPackets, OutputBytes, OutputErrors, UnknownProtocol;

    protected Ifnet(Kernel k, string name, byte type, int mtu, int flags, Wire.EtherAddr linkAddr)
    {
        Name = name;
        Type = type;
        Mtu = mtu;
        MaxMtu = type == IFT_ETHER ? 1500 : 65535;
        _flags = flags;
        LinkAddr = linkAddr;
        _inqLock = new KMutex(k);
        _inq = new MbufQueue(DefaultInputQueueLimit);
        _sndLock = new KMutex(k);
        _snd = new MbufQueue(DefaultOutputQueueLimit);
    }

    public void SetFlags(int set, int clear)
    {
        int f;
        do f = Volatile.Read(ref _flags); while (Interlocked.CompareExchange(ref _flags, (f | set) & ~clear, f) != f);
        if ((f & IFF_UP) == 0 && ((f | set) & ~clear & IFF_UP) != 0) Owner?.LinkUp(this);
    }

    /// <summary>Packets waiting for the soft interrupt.</summary>
    public int InputQueueLength { get { _inqLock.Enter(); int n = _inq.Count; _inqLock.Exit(); return n; } }

    /// <summary>
    /// A received packet (link header stripped, <see cref="Mbuf.Protocol"/> set) from the driver,
    /// in interrupt context or any kernel context: queued for the soft interrupt, which hands it
    /// to its protocol. Consumes <paramref name="m"/> (a full queue or a detached interface drops it).
    /// </summary>
    public void Input(Mbuf m)
    {
        if (Owner == null) Kernel.Panic("input on interface " + Name + ", which was never attached");
        m.RcvIf = this;
        int len = m.Length;
        _inqLock.Enter();
        if (_detached)
        {
            _inqLock.Exit();
            m.Free();
            Interlocked.Increment(ref InputDrops);
            return;
        }
        bool queued = _inq.Enqueue(m);
        _inqLock.Exit();
        if (!queued)
        {
            Interlocked.Increment(ref InputDrops);
            return;
        }
        Interlocked.Increment(ref InputPackets);
        Interlocked.Add(ref InputBytes, len);
        // A batch under way runs the soft interrupt at its end; this packet was queued before it
        // (the counter is read after the enqueue, and the batch ends after it drops the counter).
        if (Volatile.Read(ref _inputBatches) != 0) return;
        Softint? si = Volatile.Read(ref _softint) ?? EstablishSoftint();
        if (si != null) Owner!.Kernel.Softints.Schedule(si);
    }

    /// <summary>
    /// A driver whose receive thread may run protocol code (virtif's: it has nothing else to do
    /// while the packets are processed) brackets each batch it hands to <see cref="Input"/> with
    /// this and <see cref="InputBatchEnd"/>: the packets are then processed on that thread at the
    /// batch's end, instead of waking the soft-interrupt thread for them (one host wake-up and
    /// context switch fewer per batch, the hand-over that bounded TCP over a TAP).
    /// </summary>
    protected void InputBatchBegin() => Interlocked.Increment(ref _inputBatches);

    /// <summary>Ends a batch: its packets (and any others queued meanwhile) go to their protocols on <paramref name="l"/> (thread context, with a CPU, holding no lock).</summary>
    protected void InputBatchEnd(Lwp l)
    {
        Interlocked.Decrement(ref _inputBatches);
        if (InputQueueLength == 0) return;
        Softint? si = Volatile.Read(ref _softint) ?? EstablishSoftint();
        if (si != null) Owner!.Kernel.Softints.RunHere(si, l);
    }

    // The soft interrupt is made on first input, so an interface (or kernel) that never receives
    // costs no soft-interrupt thread. Two first packets at once: one of the two is kept. Racing
    // a detach: Detached sets _detached before it takes the soft interrupt away, so either it
    // sees ours and removes it, or we see _detached and remove it ourselves (null: dropped).
    private Softint? EstablishSoftint()
    {
        Kernel k = Owner!.Kernel;
        Softint si = k.Softints.Establish("ifinput " + Name, DrainInput);
        Softint? won = Interlocked.CompareExchange(ref _softint, si, null);
        if (won != null)
        {
            k.Softints.Disestablish(si);
            return won;
        }
        if (Volatile.Read(ref _detached) && Interlocked.CompareExchange(ref _softint, null, si) == si)
        {
            k.Softints.Disestablish(si);
            return null;
        }
        return si;
    }

    /// <summary>The soft interrupt: everything queued so far goes to its protocol; a packet queued meanwhile schedules another run.</summary>
    private void DrainInput(Lwp l)
    {
        _inqLock.Enter();
        Mbuf? m = _inq.DequeueAll();
        _inqLock.Exit();
        while (m != null)
        {
            Mbuf? next = m.NextPacket;
            m.NextPacket = null;
            Owner!.Dispatch(l, m);
            m = next;
        }
        InputDrained();
    }

    /// <summary>
    /// After the soft interrupt emptied the input queue: a driver whose host side holds frames
    /// back while the queue is full (shmif, whose ring is the larger buffer) lets them come.
    /// In the soft interrupt; must not block.
    /// </summary>
    protected virtual void InputDrained() { }

    /// <summary>The input queue's limit: a driver compares <see cref="InputQueueLength"/> with it.</summary>
    public int InputQueueLimit => DefaultInputQueueLimit;

    /// <summary>
    /// Sends <paramref name="m"/> (its <see cref="Mbuf.Protocol"/> set) from thread context:
    /// ENETDOWN if the interface is down, EMSGSIZE past the MTU (the protocol fragments before
    /// this), else the driver's <see cref="Transmit"/>. Consumes <paramref name="m"/> in every case.
    /// </summary>
    public int Output(Mbuf m)
    {
        int e = !IsUp ? Abi.ENETDOWN : m.Length > Mtu && !TsoFits(m) ? Abi.EMSGSIZE : 0;
        if (e != 0)
        {
            Interlocked.Increment(ref OutputErrors);
            m.Free();
            return e;
        }
        return OutputFrame(m);
    }

    /// <summary>A TSO segment (larger than the MTU, cut by the interface) that this interface takes: the MTU check lets it by.</summary>
    internal bool TsoFits(Mbuf m)
        => (m.CsumFlags & Mbuf.CsumTsoV4) != 0 && (Capabilities & IFCAP_TSOv4) != 0
           || (m.CsumFlags & Mbuf.CsumTsoV6) != 0 && (Capabilities & IFCAP_TSOv6) != 0;

    /// <summary>
    /// A frame whose link header is in place (<see cref="Ether.EtherOutput"/>) to the driver,
    /// counted; for a batching driver, to the output queue (counted there, as NetBSD's
    /// if_transmit counts at enqueue; ENOBUFS when full, and the driver counts its own errors).
    /// </summary>
    internal int OutputFrame(Mbuf m)
    {
        int len = m.Length;
        if (BatchesOutput) return EnqueueOutput(m, len);
        int e = Transmit(m);
        if (e != 0) { Interlocked.Increment(ref OutputErrors); return e; }
        Interlocked.Increment(ref OutputPackets);
        Interlocked.Add(ref OutputBytes, len);
        return 0;
    }

    private int EnqueueOutput(Mbuf m, int len)
    {
        _sndLock.Enter();
        if (_detached)
        {
            _sndLock.Exit();
            m.Free();
            Interlocked.Increment(ref OutputErrors);
            return Abi.ENXIO;
        }
        bool queued = _snd.Enqueue(m);
        _sndLock.Exit();
        if (!queued)
        {
            Interlocked.Increment(ref OutputErrors);
            return Abi.ENOBUFS;
        }
        Interlocked.Increment(ref _sndQueued);
        Interlocked.Increment(ref OutputPackets);
        Interlocked.Add(ref OutputBytes, len);
        Softint? si = Volatile.Read(ref _outSoftint) ?? EstablishOutputSoftint();
        if (si != null) Owner!.Kernel.Softints.Schedule(si);
        return 0;
    }

    // As EstablishSoftint, for output (a kernel that never sends on a batching interface has none).
    private Softint? EstablishOutputSoftint()
    {
        Kernel k = Owner!.Kernel;
        Softint si = k.Softints.Establish("ifoutput " + Name, DrainOutput);
        Softint? won = Interlocked.CompareExchange(ref _outSoftint, si, null);
        if (won != null)
        {
            k.Softints.Disestablish(si);
            return won;
        }
        if (Volatile.Read(ref _detached) && Interlocked.CompareExchange(ref _outSoftint, null, si) == si)
        {
            k.Softints.Disestablish(si);
            return null;
        }
        return si;
    }

    /// <summary>The output soft interrupt: everything queued so far to the driver in one batch; a frame queued meanwhile schedules another run.</summary>
    private void DrainOutput(Lwp l)
    {
        _sndLock.Enter();
        int n = _snd.Count;
        Mbuf? m = _snd.DequeueAll();
        _sndLock.Exit();
        if (m != null) TransmitBatch(m);
        Interlocked.Add(ref _sndDone, n);
    }

    /// <summary>Frames waiting in the output queue (a batching driver's).</summary>
    public int OutputQueueLength { get { _sndLock.Enter(); int n = _snd.Count; _sndLock.Exit(); return n; } }

    /// <summary>Every frame queued for a batching driver so far has been through it (a test waits for this before it counts frames on the medium).</summary>
    public bool OutputIdle => Interlocked.Read(ref _sndDone) == Interlocked.Read(ref _sndQueued);

    /// <summary>The driver sends in batches: <see cref="TransmitBatch"/> from the output soft interrupt instead of <see cref="Transmit"/> per frame.</summary>
    protected virtual bool BatchesOutput => false;

    /// <summary>
    /// A batching driver puts the frames of <paramref name="chain"/> (linked by
    /// <see cref="Mbuf.NextPacket"/>, in order) on its medium and frees every one, counting the
    /// ones it could not send in <see cref="OutputErrors"/>. In the output soft interrupt (thread
    /// context: it may give up the CPU around a blocking hypercall).
    /// </summary>
    protected virtual void TransmitBatch(Mbuf chain) => Kernel.Panic("interface " + Name + " batches output without TransmitBatch");

    /// <summary>
    /// SIOCSLINKSTR (NetBSD's ifdrv link string: shmif's bus file, a tap's name): a driver with a
    /// host-side link overrides; null unsets it. From thread context; ENOTTY for drivers without one.
    /// </summary>
    public virtual int LinkStrSet(string? s) => Abi.ENOTTY;

    /// <summary>SIOCGLINKSTR: the link string, or null if none is set.</summary>
    public virtual string? LinkStrGet() => null;

    /// <summary>The driver puts <paramref name="m"/> on its medium (or fails with an errno) and frees it either way.</summary>
    protected abstract int Transmit(Mbuf m);

    /// <summary>After the interface left the list: no more input is queued, the soft interrupt is gone, queued packets are freed.</summary>
    internal void Detached(Kernel k)
    {
        _inqLock.Enter();
        Volatile.Write(ref _detached, true);
        Mbuf? m = _inq.DequeueAll();
        _inqLock.Exit();
        Softint? si = Interlocked.Exchange(ref _softint, null);
        if (si != null) k.Softints.Disestablish(si);
        _sndLock.Enter();
        int on = _snd.Count;
        Mbuf? o = _snd.DequeueAll();
        _sndLock.Exit();
        Interlocked.Add(ref _sndDone, on);
        Softint? so = Interlocked.Exchange(ref _outSoftint, null);
        if (so != null) k.Softints.Disestablish(so);
        while (o != null)
        {
            Mbuf? next = o.NextPacket;
            o.Free();
            o = next;
        }
        // A run that was under way when we took the queue has finished now; anything it queued
        // after our DequeueAll was refused (_detached), so this is all.
        while (m != null)
        {
            Mbuf? next = m.NextPacket;
            m.Free();
            m = next;
        }
    }
}
