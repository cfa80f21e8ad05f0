using System;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Kern;
using Rump.Net.Shmif.Hyper;
using Rump.Net.Shmif.Wire;
using Rump.Net.Wire;

namespace Rump.Net.Shmif;

/// <summary>
/// shmifN (NetBSD's if_shmem.c): an Ethernet interface on a bus in a host file (its
/// "linkstr"), which any number of kernels in any processes attach to. Sending is a copy into
/// the ring under the bus lock, then a wake-up of every reader; the kernel's frames wait in the
/// interface's output queue and go out in batches from its output soft interrupt
/// (<see cref="TransmitBatch"/>), a bus lock and a wake-up per batch rather than per frame. Receiving: the component
/// hypercalls run one host thread per interface, which wakes on the bus's wake-up and calls
/// <see cref="ReaderUp"/>; that takes every new frame out of the ring under the bus lock into
/// mbufs, and only after dropping the bus lock enters this kernel through its interrupt
/// context with the whole batch (<see cref="Ether.EtherInput"/> queues them for the soft
/// interrupt). A reader skips its own frames by the sender id in their header.
///
/// Locks, in order: the kernel's <see cref="ShmifDriver"/> list lock, then the bus lock (host:
/// handle mutex, OFD lock, lock word), which is never held across entering the kernel nor while
/// owning a virtual CPU longer than a try (a sender that must wait gives up its CPU first);
/// <see cref="_lossLock"/> (the loss injector's held frames) is a leaf taken in interrupt or
/// callout context. The reader's cursor and batch are touched only by the reader thread.
/// </summary>
public sealed unsafe class ShmifIf : Ifnet
{
    /// <summary>Frames taken out of the ring per entry into the kernel.</summary>
    public const int Batch = 64;
    public const int EthernetMtu = 1500;

    internal readonly Kernel K;
    public readonly int Unit;
    private readonly ulong _sender;

    private nint _bus;
    private byte* _mem;
    private string? _linkStr;
    private GCHandle _self;
    private ShmifCursor _cursor;
    private readonly Mbuf?[] _batch = new Mbuf?[Batch];

    /// <summary>Set by the soft interrupt's drain and by closing: the reader may take more frames.</summary>
    private readonly ManualResetEventSlim _room = new(true);
    private bool _closing;

    private readonly KMutex _lossLock;
    private ShmifLoss? _loss;

    /// <summary>Readers lapped by writers (frames lost), corrupt rings seen, rings reset, lock takeovers from dead holders.</summary>
    public long Lapped, Corrupt, Resets;
    /// <summary>Bus-lock rounds (each ending in a wake-up) that put this interface's frames on the bus.</summary>
    public long SendRounds;

    internal ShmifIf(Kernel k, int unit, EtherAddr mac)
        : base(k, "shmif" + unit, IFT_ETHER, EthernetMtu, IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST, mac)
    {
        K = k;
        Unit = unit;
        Span<byte> id = stackalloc byte[8];
        System.Security.Cryptography.RandomNumberGenerator.Fill(id);
        _sender = BitConverter.ToUInt64(id);
        _lossLock = new KMutex(k);
    }

    /// <summary>The bus file, or null.</summary>
    public string? LinkStr => Volatile.Read(ref _linkStr);

    public ulong Takeovers => _bus == 0 ? 0 : RumpCompShmif.rumpcomp_shmif_takeovers(_bus);

    private Span<byte> Bus => new(_mem, ShmifBus.BusSize);

    /// <summary>
    /// Attaches to the bus in <paramref name="path"/>, creating it if missing (NetBSD's
    /// SIOCSLINKSTR): EBUSY while up or already attached, ENOEXEC for a file that is not a bus.
    /// From thread context.
    /// </summary>
    public int SetLinkStr(string path)
    {
        if (IsUp || _bus != 0) return Abi.EBUSY;
        if (path.Length == 0 || path.IndexOf('\0') >= 0) return Abi.EINVAL;
        nint bus = 0;
        byte* mem = null;
        int e;
        Lwp? l = Unsched();
        try
        {
            byte[] p = System.Text.Encoding.UTF8.GetBytes(path + "\0");
            fixed (byte* pp = p) e = RumpCompShmif.rumpcomp_shmif_open(pp, &bus, &mem);
            if (e == 0 && ShmifBus.Check(new ReadOnlySpan<byte>(mem, ShmifBus.BusSize)) != WireError.Ok) e = Abi.ENOEXEC;
            if (e == 0) e = RumpCompShmif.rumpcomp_shmif_lock(bus);
            if (e == 0)
            {
                var s = new Span<byte>(mem, ShmifBus.BusSize);
                ShmifRing.Init(s);
                if (!ShmifRing.Attach(s, out _cursor))
                {
                    Interlocked.Increment(ref Resets);
                    ShmifRing.Reset(s);
                    ShmifRing.Attach(s, out _cursor);
                }
                RumpCompShmif.rumpcomp_shmif_unlock(bus);
            }
            if (e != 0 && bus != 0) RumpCompShmif.rumpcomp_shmif_close(bus);
        }
        catch (DllNotFoundException) { return Abi.ENXIO; }
        finally { Resched(l); }
        if (e != 0)
        {
            if (e == Abi.ENOEXEC) K.Printf($"{Name}: {path} is not a shmif bus (bad magic or version)\n");
            return e;
        }
        _bus = bus;
        _mem = mem;
        Volatile.Write(ref _linkStr, path);
        Volatile.Write(ref _closing, false);
        _self = GCHandle.Alloc(this);
        e = RumpCompShmif.rumpcomp_shmif_reader_start(bus, &ReaderUp, GCHandle.ToIntPtr(_self));
        if (e != 0) CloseBus();
        return e;
    }

    /// <summary>SIOCSLINKSTR: a path attaches to that bus, null leaves it (IFLINKSTR_UNSET).</summary>
    public override int LinkStrSet(string? s) => s == null ? UnsetLinkStr() : SetLinkStr(s);

    /// <summary>SIOCGLINKSTR: the bus file, or null.</summary>
    public override string? LinkStrGet() => LinkStr;

    /// <summary>Leaves the bus (NetBSD's IFLINKSTR_UNSET): stops the reader and unmaps. From thread context.</summary>
    public int UnsetLinkStr()
    {
        if (IsUp) return Abi.EBUSY;
        CloseBus();
        return 0;
    }

    internal void CloseBus()
    {
        nint bus = _bus;
        if (bus == 0) return;
        // Joining the reader: it may be waiting for a CPU to enter this kernel, or for room.
        Volatile.Write(ref _closing, true);
        _room.Set();
        Lwp? l = Unsched();
        try { RumpCompShmif.rumpcomp_shmif_close(bus); }
        finally { Resched(l); }
        _bus = 0;
        _mem = null;
        Volatile.Write(ref _linkStr, null);
        if (_self.IsAllocated) _self.Free();
        _loss?.FreeHeld(_lossLock);
    }

    /// <summary>Sets or clears (null) the test-only loss injector on this interface's input.</summary>
    public void SetLoss(ShmifLoss? loss)
    {
        _lossLock.Enter();
        ShmifLoss? old = _loss;
        _loss = loss;
        _lossLock.Exit();
        old?.FreeHeld(_lossLock);
        loss?.Bind(this, _lossLock);
    }

    public ShmifLoss? Loss => Volatile.Read(ref _loss);

    protected override int Transmit(Mbuf m)
    {
        int e = Send(m.Bytes);
        m.Free();
        return e;
    }

    /// <summary>Frames go out in batches (<see cref="TransmitBatch"/>): one bus lock and one wake-up for up to <see cref="Batch"/> frames.</summary>
    protected override bool BatchesOutput => true;

    /// <summary>
    /// The output soft interrupt's batch: up to <see cref="Batch"/> frames per bus lock, then one
    /// wake-up (NetBSD's shmif_start also wakes once after its loop). The limit keeps the lock
    /// hold short for the other kernels' senders and readers.
    /// </summary>
    protected override void TransmitBatch(Mbuf chain)
    {
        Mbuf? m = chain;
        while (m != null)
        {
            int e = LockBus(out nint bus);
            int n = 0;
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            for (; m != null && n < Batch; n++)
            {
                Mbuf? next = m.TakeNextPacket();
                if (e != 0 || WriteLocked(m.Bytes, now) != 0) Interlocked.Increment(ref OutputErrors);
                m.Free();
                m = next;
            }
            if (e == 0)
            {
                Interlocked.Increment(ref SendRounds);
                RumpCompShmif.rumpcomp_shmif_unlock(bus);
                if (RumpCompShmif.rumpcomp_shmif_wakeup(bus) != 0) Interlocked.Increment(ref OutputErrors);
            }
        }
    }

    /// <summary>Takes the bus lock: tried while holding the CPU, waited for without it.</summary>
    private int LockBus(out nint bus)
    {
        bus = _bus;
        if (bus == 0) return Abi.ENXIO;
        int e = RumpCompShmif.rumpcomp_shmif_trylock(bus);
        if (e == Abi.EBUSY)
        {
            Lwp? l = Unsched();
            try { e = RumpCompShmif.rumpcomp_shmif_lock(bus); }
            finally { Resched(l); }
        }
        return e;
    }

    /// <summary>One frame into the ring, with the bus lock held (a corrupt ring is reset first).</summary>
    private int WriteLocked(ReadOnlySpan<byte> frame, long nowMs)
    {
        if (frame.Length > FrameHeader.MaxFrame) return Abi.EMSGSIZE;
        Span<byte> s = Bus;
        uint sec = (uint)(nowMs / 1000), usec = (uint)(nowMs % 1000 * 1000);
        RingResult r = ShmifRing.Write(s, frame, sec, usec, _sender);
        if (r == RingResult.Corrupt)
        {
            Interlocked.Increment(ref Resets);
            ShmifRing.Reset(s);
            r = ShmifRing.Write(s, frame, sec, usec, _sender);
        }
        return r == RingResult.Frame ? 0 : Abi.EIO;
    }

    /// <summary>Puts one whole Ethernet frame on the bus at once (thread context). ENXIO without a bus, EMSGSIZE past 1514 bytes.</summary>
    public int Send(ReadOnlySpan<byte> frame)
    {
        if (_bus == 0) return Abi.ENXIO;
        if (frame.Length > FrameHeader.MaxFrame) return Abi.EMSGSIZE;
        int e = LockBus(out nint bus);
        if (e != 0) return e;
        e = WriteLocked(frame, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Interlocked.Increment(ref SendRounds);
        RumpCompShmif.rumpcomp_shmif_unlock(bus);
        if (e != 0) return e;
        return RumpCompShmif.rumpcomp_shmif_wakeup(bus);
    }

    /// <summary>The reader thread's call after a wake-up: every new frame, in batches, into the kernel.</summary>
    [UnmanagedCallersOnly]
    private static void ReaderUp(nint arg)
    {
        Kernel? k = null;
        try
        {
            var s = (ShmifIf)GCHandle.FromIntPtr(arg).Target!;
            k = s.K;
            s.ReadAll();
        }
        catch (Exception e) { k?.RecordPanic(e, "shmif reader: "); }
    }

    /// <summary>Room for another batch in the input queue (the soft interrupt empties it); takes the interrupt context for the look.</summary>
    private bool QueueHasRoom()
    {
        using (K.EnterInterrupt()) return K.IsDead || InputQueueLimit - InputQueueLength >= Batch;
    }

    /// <summary>
    /// Frames stay in the ring (1 MiB) rather than overflow the input queue (256 packets) when
    /// they come faster than the soft interrupt takes them: the reader waits for the soft
    /// interrupt's drain (<see cref="InputDrained"/>). Reset, then look, then wait: a drain
    /// between the look and the wait has already set the event.
    /// </summary>
    private void WaitForQueueRoom()
    {
        while (!QueueHasRoom() && !Volatile.Read(ref _closing))
        {
            _room.Reset();
            if (QueueHasRoom() || Volatile.Read(ref _closing)) return;
            _room.Wait();
        }
    }

    protected override void InputDrained() => _room.Set();

    private void ReadAll()
    {
        Net? net = K.GetService<Net>();
        if (net == null) return;
        bool more = true;
        while (more && !K.IsDead && !Volatile.Read(ref _closing))
        {
            int n = 0;
            more = false;
            WaitForQueueRoom();
            if (RumpCompShmif.rumpcomp_shmif_lock(_bus) != 0) return;
            Span<byte> bus = Bus;
            Mbuf? m = null;
            while (n < Batch)
            {
                m ??= net.Mbufs.Get(FrameHeader.MaxFrame + 4);
                if (m == null) break;
                Span<byte> dst = m.Append(FrameHeader.MaxFrame + 4);
                RingResult r = ShmifRing.Read(bus, ref _cursor, dst, out int len, out FrameHeader h, out bool lapped);
                if (lapped) Interlocked.Increment(ref Lapped);
                if (r == RingResult.Empty) break;
                if (r != RingResult.Frame)
                {
                    // Left at the ring's end: later frames still arrive.
                    Interlocked.Increment(ref Corrupt);
                    Interlocked.Increment(ref InputErrors);
                    m.TrimTo(0);
                    continue;
                }
                if (h.Sender == _sender) { m.TrimTo(0); continue; }
                m.TrimTo(len);
                _batch[n++] = m;
                m = null;
                if (n == Batch) more = true;
            }
            RumpCompShmif.rumpcomp_shmif_unlock(_bus);
            m?.Free();
            if (n == 0) return;
            using IntrContext ic = K.EnterInterrupt();
            // The frames go to their protocols on this thread at the batch's end (Ifnet.InputBatchBegin).
            // A dead kernel gives no lwp: no batch, and the loop frees every frame.
            if (ic.Lwp != null) InputBatchBegin();
            for (int i = 0; i < n; i++)
            {
                Mbuf f = _batch[i]!;
                _batch[i] = null;
                if (!IsUp || K.IsDead) { f.Free(); continue; }
                ShmifLoss? loss = _loss;
                if (loss != null) loss.Input(f);
                else Ether.EtherInput(this, f);
            }
            if (ic.Lwp != null) InputBatchEnd(ic.Lwp);
        }
    }

    private Lwp? Unsched()
    {
        Lwp? l = K.CurlwpOrNull();
        if (l == null || l.Cpu == null) return null;
        K.Sched.Unschedule(l);
        return l;
    }

    private void Resched(Lwp? l)
    {
        if (l != null) K.Sched.Schedule(l);
    }
}
