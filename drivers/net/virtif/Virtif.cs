using System;
using System.Buffers.Binary;
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
/// which queues it for the interface's soft interrupt; at the batch's end the reader thread runs
/// that soft interrupt itself (<see cref="Ifnet.InputBatchBegin"/>): it has nothing else to do
/// meanwhile, and the soft-interrupt thread is not woken. Transmit: the frame is written with the
/// CPU given up around the hypercall (it may block when the host's queue is full).
///
/// Offloads (NetBSD's IFCAP_CSUM_TCPv4/v6 and IFCAP_TSOv4/v6, as virtio-net over a TAP in QEMU):
/// unless the boot parameter RUMP_VIRTIF_OFFLOAD is 0, the TAP is opened with IFF_VNET_HDR and the
/// host's checksum and TCP segmentation offloads, and every frame both ways carries a
/// struct virtio_net_hdr (<see cref="VirtioNetHdr"/>). In: a TCP segment with a partial checksum
/// (NEEDS_CSUM, the host's own) or one the host vouches for (DATA_VALID) is marked
/// <see cref="Mbuf.CsumTcpOk"/>, so TCP skips the check; other partial checksums (UDP) are completed
/// here, so their protocols check them as usual; the host's coalesced TCP segments (GSO, up to
/// 64 KiB) go up whole. Out: TCP leaves the checksum to the host (NEEDS_CSUM) and sends segments of
/// up to 64 KiB that the host cuts into MSS-sized pieces (GSO). A header that does not hold
/// together is counted (<see cref="BadVnetHeaders"/>) and its frame dropped.
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
    /// <summary>The virtio-net header's length in front of each frame on the TAP: 10 with offloads, 0 without.</summary>
    private int _hdrLen;
    public readonly string HostName;
    /// <summary>Upcalls (batches) received: a test watches several frames arrive per wake-up.</summary>
    public long RxBatches;
    /// <summary>
    /// Offload counters: coalesced TCP segments received (GSO) and sent (TSO), received TCP
    /// segments whose checksum the host vouched for, partial checksums completed here (not TCP),
    /// and frames dropped for a virtio-net header that does not hold together.
    /// </summary>
    public long RxSuperSegments, TxSuperSegments, RxCsumTrusted, RxCsumCompleted, BadVnetHeaders;

    /// <summary>Whether the TAP carries virtio-net headers (offloads on).</summary>
    public bool Offloads => _hdrLen != 0;

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
    public static int Create(Kernel k, int unit, string? hostName, out Ifnet? ifp) => Create(k, unit, hostName, null, out ifp);

    /// <summary>As <see cref="Create(Kernel, int, string?, out Ifnet?)"/>; <paramref name="offload"/> null: RUMP_VIRTIF_OFFLOAD decides (on unless "0").</summary>
    public static int Create(Kernel k, int unit, string? hostName, bool? offload, out Ifnet? ifp)
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
        int flags = offload ?? Param.Get("RUMP_VIRTIF_OFFLOAD") != "0" ? RumpUserVirtif.Offload : 0;
        Lwp? l = Unsched(k);
        int e = RumpUserVirtif.rumpvif_create(v.HostName, flags, &up, &h);
        Resched(k, l);
        if (e != 0)
        {
            v._self.Free();
            return e;
        }
        v._vif = h;
        v._hdrLen = RumpUserVirtif.rumpvif_hdrlen(h);
        if (v._hdrLen != 0 && v._hdrLen != VirtioNetHdr.Size) Kernel.Panic($"virtif: a {v._hdrLen}-byte virtio-net header from the hypercall library");
        if (v._hdrLen != 0)
            v.Capabilities = IFCAP_CSUM_TCPv4_Rx | IFCAP_CSUM_TCPv4_Tx | IFCAP_CSUM_TCPv6_Rx | IFCAP_CSUM_TCPv6_Tx | IFCAP_TSOv4 | IFCAP_TSOv6;
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
            else if (_hdrLen != 0 && !PrependVnetHdr(m)) e = Abi.ENOBUFS;
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

    /// <summary>
    /// The virtio-net header in front of an outgoing frame: NEEDS_CSUM where TCP left its checksum
    /// partial (csum_start at the TCP header, csum_offset 16), and for a TSO segment the GSO type,
    /// the piece size (the MSS) and the length of the headers (Ethernet, IP, TCP with options);
    /// all zero otherwise (the frame is complete). False if the mbuf has no headroom left.
    /// </summary>
    private bool PrependVnetHdr(Mbuf m)
    {
        Span<byte> h = m.Prepend(_hdrLen);
        if (h.IsEmpty) return false;
        byte flags = 0, gso = VirtioNetHdr.GsoNone;
        ushort hdrLen = 0, gsoSize = 0, start = 0, offset = 0;
        if ((m.CsumFlags & Mbuf.CsumTcpPartial) != 0)
        {
            int l4 = m.L4Offset - _hdrLen;
            Span<byte> f = m.Bytes.Slice(_hdrLen);
            if (l4 < EthernetFrame.HeaderSize || l4 + TcpPacket.MinHeaderSize > f.Length) Kernel.Panic($"virtif: a partial TCP checksum at {l4} in a {f.Length}-byte frame");
            flags = VirtioNetHdr.FlagNeedsCsum;
            start = (ushort)l4;
            offset = VirtioNetHdr.TcpChecksumOffset;
            if ((m.CsumFlags & (Mbuf.CsumTsoV4 | Mbuf.CsumTsoV6)) != 0)
            {
                gso = (m.CsumFlags & Mbuf.CsumTsoV4) != 0 ? VirtioNetHdr.GsoTcpV4 : VirtioNetHdr.GsoTcpV6;
                gsoSize = m.TsoSegSize;
                hdrLen = (ushort)(l4 + (f[l4 + 12] >> 4) * 4);
                Interlocked.Increment(ref TxSuperSegments);
            }
        }
        VirtioNetHdr.Emit(h, new VirtioNetHdr(flags, gso, hdrLen, gsoSize, start, offset));
        return true;
    }

    [UnmanagedCallersOnly]
    private static void RxUp(nint arg, byte* buf, uint* lens, int n)
    {
        Kernel? k = null;
        try
        {
            var v = (Virtif)GCHandle.FromIntPtr(arg).Target!;
            k = v._k;
            long total = 0;
            for (int i = 0; i < n; i++) total += lens[i];
            v.Receive(new ReadOnlySpan<byte>(buf, (int)total), new ReadOnlySpan<uint>(lens, n));
        }
        catch (Exception e) { k?.RecordPanic(e, "virtif rx: "); }
    }

    /// <summary>
    /// A batch of frames as the TAP gave them (with their virtio-net headers when offloads are
    /// on), laid one after another in <paramref name="buf"/>: enters the kernel once through
    /// interrupt context and hands each frame to the Ethernet layer. From the reader thread (and
    /// from tests, with frames of their own making).
    /// </summary>
    internal void Receive(ReadOnlySpan<byte> buf, ReadOnlySpan<uint> lens)
    {
        Interlocked.Increment(ref RxBatches);
        using IntrContext ic = _k.EnterInterrupt();
        if (ic.Lwp == null || !IsUp) return;
        InputBatchBegin();
        int off = 0;
        foreach (uint len in lens)
        {
            if (len > (uint)(buf.Length - off)) Kernel.Panic($"virtif: a {len}-byte frame past the end of a {buf.Length}-byte batch");
            ReadOnlySpan<byte> raw = buf.Slice(off, (int)len);
            off += (int)len;
            InputFrame(raw);
        }
        InputBatchEnd(ic.Lwp);
    }

    private void InputFrame(ReadOnlySpan<byte> raw)
    {
        VirtioNetHdr vh = default;
        ReadOnlySpan<byte> frame = raw;
        if (_hdrLen != 0)
        {
            if (raw.Length < _hdrLen || VirtioNetHdr.Parse(raw, raw.Slice(_hdrLen), out vh) != WireError.Ok)
            {
                DropBadHeader();
                return;
            }
            frame = raw.Slice(_hdrLen);
        }
        Mbuf? m = _net.Mbufs.Get(frame.Length);
        if (m == null) { Interlocked.Increment(ref InputDrops); return; }
        m.Append(frame);
        if ((vh.Flags != 0 || vh.IsGso) && !ApplyVnetHdr(m, vh))
        {
            m.Free();
            DropBadHeader();
            return;
        }
        Ether.EtherInput(this, m);
    }

    private void DropBadHeader()
    {
        Interlocked.Increment(ref BadVnetHeaders);
        Interlocked.Increment(ref InputErrors);
    }

    /// <summary>
    /// What a received frame's virtio-net header says, applied to its mbuf: a GSO frame must be a
    /// TCP segment of the family its type names (TCP input takes it whole, however many MSS it
    /// holds); a partial checksum on a TCP segment, or a checksum the host vouches for, lets TCP
    /// skip its check; any other partial checksum (UDP, or TCP behind IPv6 extension headers) is
    /// completed here, so its protocol checks it. False: the header lies about the frame.
    /// </summary>
    private bool ApplyVnetHdr(Mbuf m, in VirtioNetHdr vh)
    {
        Span<byte> f = m.Bytes;
        bool tcp = VirtioNetHdr.IsTcp(f, out int l4);
        if (vh.IsGso)
        {
            bool v4 = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(12)) == EthernetFrame.TypeIpv4;
            if (!tcp || v4 != (vh.Gso == VirtioNetHdr.GsoTcpV4)) return false;
            Interlocked.Increment(ref RxSuperSegments);
        }
        if (vh.NeedsCsum)
        {
            if (tcp && vh.CsumStart == l4 && vh.CsumOffset == VirtioNetHdr.TcpChecksumOffset)
            {
                m.CsumFlags |= Mbuf.CsumTcpOk;
                Interlocked.Increment(ref RxCsumTrusted);
            }
            else
            {
                VirtioNetHdr.CompleteChecksum(f, vh.CsumStart, vh.CsumOffset);
                Interlocked.Increment(ref RxCsumCompleted);
            }
        }
        else if (vh.DataValid && tcp)
        {
            m.CsumFlags |= Mbuf.CsumTcpOk;
            Interlocked.Increment(ref RxCsumTrusted);
        }
        return true;
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
