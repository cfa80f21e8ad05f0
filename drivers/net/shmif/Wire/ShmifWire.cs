using System;
using System.Buffers.Binary;
using Rump.Net.Wire;

namespace Rump.Net.Shmif.Wire;

/// <summary>
/// The shmif bus, as NetBSD lays it out (sys/rump/net/lib/libshmif/shmifvar.h, version 3): a
/// file of <see cref="BusSize"/> bytes shared by every attached kernel, holding a 32-byte bus
/// header and, after it, a ring of frames, each behind a 24-byte frame header. Host byte order
/// (little-endian here), as NetBSD writes it on x86.
///
///   bus header:   magic u32 @0, version u32 @4, generation u64 @8, first u32 @16, last u32 @20,
///                 lock u32 @24, spare u32 @28; the ring's data from @32
///   frame header: length u32 @0, seconds u32 @4, microseconds u32 @8, (pad), sender u64 @16
///
/// <c>first</c> is the offset of the oldest frame still in the ring (<see cref="DataSize"/>
/// for a bus that never held one), <c>last</c> the offset of the newest; the next frame goes
/// right after the newest. Offsets wrap at the ring's size, and a frame may straddle the end.
/// The generation counts the times a write reached the end of the ring, so a reader holding
/// (generation, offset) knows whether writers lapped it. A fresh bus starts with a zero-length
/// frame at 0 (the zeroed file). The lock and spare words belong to the host side
/// (hypercall/include/rump/rumpcomp_shmif.h); <see cref="ShmifRing"/> runs with the lock held.
/// </summary>
public static class ShmifBus
{
    public const uint Magic = 0xca11d054;
    public const uint Version = 3;
    public const int BusSize = 1024 * 1024;
    public const int HeaderSize = 32;
    public const int DataSize = BusSize - HeaderSize;
    public const int OffMagic = 0, OffVersion = 4, OffGen = 8, OffFirst = 16, OffLast = 20, OffLock = 24, OffSpare = 28;

    /// <summary>
    /// Whether <paramref name="bus"/> can be attached: a zeroed (new) file, or a bus of ours or
    /// NetBSD's (version 0 until NetBSD's first wake-up rewrites it, or 3). Anything else is
    /// some other file (<see cref="WireError.Malformed"/>), refused as NetBSD refuses it (ENOEXEC).
    /// </summary>
    public static WireError Check(ReadOnlySpan<byte> bus)
    {
        if (bus.Length < HeaderSize + FrameHeader.Size * 2) return WireError.Truncated;
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(bus);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bus.Slice(OffVersion));
        if (magic == 0) return WireError.Ok;
        return magic == Magic && (version == 0 || version == Version) ? WireError.Ok : WireError.Malformed;
    }
}

/// <summary>The header in front of each frame on the bus.</summary>
public struct FrameHeader
{
    public const int Size = 24;
    /// <summary>NetBSD's readers assert a frame fits ETHERMTU + ETHER_HDR_LEN: no writer may exceed it.</summary>
    public const int MaxFrame = 1514;

    public uint Length;
    public uint Seconds, Microseconds;
    /// <summary>The sending interface's random id: a reader skips its own frames.</summary>
    public ulong Sender;

    public static FrameHeader Read(ReadOnlySpan<byte> b) => new()
    {
        Length = BinaryPrimitives.ReadUInt32LittleEndian(b),
        Seconds = BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(4)),
        Microseconds = BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(8)),
        Sender = BinaryPrimitives.ReadUInt64LittleEndian(b.Slice(16)),
    };

    public readonly void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(4), Seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(8), Microseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(12), 0);
        BinaryPrimitives.WriteUInt64LittleEndian(b.Slice(16), Sender);
    }
}

/// <summary>Where a reader is on the bus: the next frame's offset and the generation it was read in.</summary>
public struct ShmifCursor
{
    public uint Next;
    public ulong Gen;
}

public enum RingResult : byte
{
    /// <summary>A frame was read (or written).</summary>
    Frame,
    /// <summary>Nothing new.</summary>
    Empty,
    /// <summary>The ring's header or a frame header holds impossible values: the bus is corrupt.</summary>
    Corrupt,
    /// <summary>A frame longer than <see cref="FrameHeader.MaxFrame"/> (or than the caller's buffer).</summary>
    TooLong,
}

/// <summary>
/// The ring's operations, pure code over the mapped bus (any length: the tests use small rings).
/// Every offset read from the bus is checked before use, since any process that can write the
/// file can write anything: bad values give <see cref="RingResult.Corrupt"/>, never an exception
/// or an endless loop. The caller holds the bus lock.
///
/// A writer puts the frame's bytes in place before it moves <c>last</c> and the generation, so
/// a writer killed in the middle leaves a ring whose indices still describe whole frames (the
/// oldest may have been overwritten, and <c>first</c> already says so): the next holder of the
/// lock goes on from there. NetBSD moves <c>last</c> first; its readers do not rely on the order.
/// </summary>
public static class ShmifRing
{
    private static int DataSize(Span<byte> bus) => bus.Length - ShmifBus.HeaderSize;
    private static Span<byte> Data(Span<byte> bus) => bus.Slice(ShmifBus.HeaderSize);

    public static uint First(Span<byte> bus) => BinaryPrimitives.ReadUInt32LittleEndian(bus.Slice(ShmifBus.OffFirst));
    public static uint Last(Span<byte> bus) => BinaryPrimitives.ReadUInt32LittleEndian(bus.Slice(ShmifBus.OffLast));
    public static ulong Gen(Span<byte> bus) => BinaryPrimitives.ReadUInt64LittleEndian(bus.Slice(ShmifBus.OffGen));
    private static void SetFirst(Span<byte> bus, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(bus.Slice(ShmifBus.OffFirst), v);
    private static void SetLast(Span<byte> bus, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(bus.Slice(ShmifBus.OffLast), v);
    private static void SetGen(Span<byte> bus, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(bus.Slice(ShmifBus.OffGen), v);

    /// <summary>Makes a zeroed bus a fresh one (NetBSD's first attacher does the same); a bus already set up is left alone.</summary>
    public static void Init(Span<byte> bus)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(bus) != 0) return;
        BinaryPrimitives.WriteUInt32LittleEndian(bus, ShmifBus.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(bus.Slice(ShmifBus.OffVersion), ShmifBus.Version);
        SetFirst(bus, (uint)DataSize(bus));
    }

    /// <summary>
    /// Empties a corrupt ring (as a fresh bus, with the generation two ahead, so that every
    /// reader, NetBSD's too, sees it was lapped and starts again from <c>first</c>).
    /// </summary>
    public static void Reset(Span<byte> bus)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(bus, ShmifBus.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(bus.Slice(ShmifBus.OffVersion), ShmifBus.Version);
        SetFirst(bus, (uint)DataSize(bus));
        SetLast(bus, 0);
        Data(bus).Slice(0, FrameHeader.Size).Clear();
        SetGen(bus, unchecked(Gen(bus) + 2));
    }

    private static uint Advance(int dsize, uint off, uint delta)
    {
        ulong n = (ulong)off + delta;
        return (uint)(n % (uint)dsize);
    }

    /// <summary>Copies out of the ring at <paramref name="off"/>, across its end if need be; <paramref name="wrapped"/> is set if the read reached the end.</summary>
    private static uint Read(Span<byte> data, uint off, Span<byte> dst, ref bool wrapped)
    {
        int chunk = Math.Min(dst.Length, data.Length - (int)off);
        data.Slice((int)off, chunk).CopyTo(dst);
        if (off + chunk == data.Length) wrapped = true;
        if (chunk == dst.Length) return (uint)((off + chunk) % data.Length);
        data.Slice(0, dst.Length - chunk).CopyTo(dst.Slice(chunk));
        return (uint)(dst.Length - chunk);
    }

    /// <summary>The offset of the frame after the one at <paramref name="off"/>, or false if its header is impossible.</summary>
    private static bool NextFrame(Span<byte> data, uint off, out uint next)
    {
        next = 0;
        if (off > (uint)data.Length) return false;
        Span<byte> h = stackalloc byte[FrameHeader.Size];
        bool w = false;
        Read(data, off, h, ref w);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(h);
        if (!Fits(data.Length, len)) return false;
        next = Advance(data.Length, off, FrameHeader.Size + len);
        return true;
    }

    /// <summary>A frame of <paramref name="len"/> bytes can be on a ring of <paramref name="dsize"/>: at most a maximal Ethernet frame (with a VLAN tag), and with its header under half the ring (NetBSD's bound).</summary>
    private static bool Fits(int dsize, uint len) => len <= FrameHeader.MaxFrame + 4 && (FrameHeader.Size + len) * 2 < (uint)dsize;

    /// <summary>
    /// Before writing [off, off + len): moves <c>first</c> past every old frame the write will
    /// cover (NetBSD's shmif_advancefirst), at most once around the ring.
    /// </summary>
    private static bool AdvanceFirst(Span<byte> bus, Span<byte> data, uint off, uint len)
    {
        uint first = First(bus);
        for (int guard = data.Length / FrameHeader.Size + 1; off <= (ulong)first + FrameHeader.Size && (ulong)off + len > first; guard--)
        {
            if (guard == 0 || !NextFrame(data, first, out first)) return false;
        }
        SetFirst(bus, first);
        return true;
    }

    /// <summary>Copies into the ring at <paramref name="off"/>, across its end if need be, pushing <c>first</c> ahead first.</summary>
    private static bool Write(Span<byte> bus, Span<byte> data, ref uint off, ReadOnlySpan<byte> src, ref bool wrapped)
    {
        int chunk = Math.Min(src.Length, data.Length - (int)off);
        bool filled = off + chunk == data.Length;
        if (!AdvanceFirst(bus, data, off, (uint)chunk + (filled ? 1u : 0u))) return false;
        src.Slice(0, chunk).CopyTo(data.Slice((int)off));
        if (filled) wrapped = true;
        if (chunk == src.Length) { off = (uint)((off + chunk) % data.Length); return true; }
        int rest = src.Length - chunk;
        if (!AdvanceFirst(bus, data, 0, (uint)rest)) return false;
        src.Slice(chunk).CopyTo(data);
        off = (uint)rest;
        return true;
    }

    /// <summary>Whether the header's indices can be trusted enough to read or write.</summary>
    private static bool IndicesOk(Span<byte> bus, out uint end)
    {
        end = 0;
        int dsize = DataSize(bus);
        if (dsize < FrameHeader.Size * 4) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(bus) != ShmifBus.Magic) return false;
        uint last = Last(bus), first = First(bus);
        if (last >= (uint)dsize || first > (uint)dsize) return false;
        return NextFrame(Data(bus), last, out end);
    }

    /// <summary>
    /// Puts one frame on the ring after the newest (with the lock held). <see cref="RingResult.Corrupt"/>:
    /// nothing was written (the caller may <see cref="Reset"/> and try again).
    /// </summary>
    public static RingResult Write(Span<byte> bus, ReadOnlySpan<byte> frame, uint seconds, uint usec, ulong sender)
    {
        if (frame.Length > FrameHeader.MaxFrame || !Fits(bus.Length - ShmifBus.HeaderSize, (uint)frame.Length)) return RingResult.TooLong;
        if (!IndicesOk(bus, out uint off)) return RingResult.Corrupt;
        Span<byte> data = Data(bus);
        Span<byte> h = stackalloc byte[FrameHeader.Size];
        new FrameHeader { Length = (uint)frame.Length, Seconds = seconds, Microseconds = usec, Sender = sender }.Write(h);
        uint at = off;
        bool wrapped = false;
        if (!Write(bus, data, ref off, h, ref wrapped) || !Write(bus, data, ref off, frame, ref wrapped)) return RingResult.Corrupt;
        // Only now is the frame part of the ring (see the class comment).
        SetLast(bus, at);
        if (wrapped) SetGen(bus, unchecked(Gen(bus) + 1));
        return RingResult.Frame;
    }

    /// <summary>A reader starting now: it will see the frames written after this (with the lock held; false if the bus is corrupt).</summary>
    public static bool Attach(Span<byte> bus, out ShmifCursor c)
    {
        c = default;
        if (!IndicesOk(bus, out uint end)) return false;
        c.Next = end;
        c.Gen = Gen(bus);
        return true;
    }

    /// <summary>
    /// Reads the next frame after <paramref name="c"/> into <paramref name="dst"/> (with the lock
    /// held). A reader that writers lapped starts again at the oldest frame and
    /// <paramref name="lapped"/> is set (the frames in between are lost). Zero-length frames (a
    /// fresh bus's) are skipped. <see cref="RingResult.Corrupt"/> and
    /// <see cref="RingResult.TooLong"/> leave the cursor at the end of the ring.
    /// </summary>
    public static RingResult Read(Span<byte> bus, ref ShmifCursor c, Span<byte> dst, out int length, out FrameHeader header, out bool lapped)
    {
        length = 0;
        header = default;
        lapped = false;
        Span<byte> data = Data(bus);
        int dsize = data.Length;
        Span<byte> h = stackalloc byte[FrameHeader.Size];
        for (int guard = dsize / FrameHeader.Size + 2; guard > 0; guard--)
        {
            if (!IndicesOk(bus, out uint end)) return RingResult.Corrupt;
            ulong gen = Gen(bus);
            if (c.Gen == gen && c.Next == end) return RingResult.Empty;
            if (!StillValid(bus, c, end, gen))
            {
                // The oldest frame: in the previous generation unless it lies before the end
                // (NetBSD compares with last, which misreads a ring exactly full).
                uint first = First(bus);
                c.Next = first;
                c.Gen = first >= end ? unchecked(gen - 1) : gen;
                lapped = true;
            }
            bool wrapped = false;
            uint next = Read(data, c.Next, h, ref wrapped);
            header = FrameHeader.Read(h);
            if (!Fits(dsize, header.Length) || header.Length > (uint)dst.Length)
            {
                c.Next = end;
                c.Gen = gen;
                return !Fits(dsize, header.Length) ? RingResult.Corrupt : RingResult.TooLong;
            }
            next = Read(data, next, dst.Slice(0, (int)header.Length), ref wrapped);
            c.Next = next;
            if (wrapped) c.Gen = unchecked(c.Gen + 1);
            if (header.Length == 0) continue;
            length = (int)header.Length;
            return RingResult.Frame;
        }
        return RingResult.Corrupt;
    }

    /// <summary>
    /// Whether the cursor is still in [oldest frame, end of newest] (NetBSD's stillvalid_p), on a
    /// line measured from the start of the current generation.
    /// </summary>
    private static bool StillValid(Span<byte> bus, ShmifCursor c, uint end, ulong gen)
    {
        long dsize = DataSize(bus);
        ulong behind = unchecked(gen - c.Gen);
        if (behind > 1 || c.Next > dsize) return false;
        long r = (long)c.Next - (behind == 1 ? dsize : 0);
        uint first = First(bus);
        // first == end is a ring exactly full (an empty one has first at the end marker).
        long f = first < end ? first : (long)first - dsize;
        return r >= f && r <= end;
    }
}
