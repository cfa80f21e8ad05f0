using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using NUnit.Framework;
using Rump.Net.Shmif.Wire;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// The shmif bus format and ring over plain arrays: NetBSD's byte layout (fixtures), frames read
/// back in order, wrap of the ring with frames straddling its end, a reader lapped by writers,
/// and hostile bus contents giving errors (never an exception or a hang).
/// </summary>
public class ShmifWireTests
{
    private static byte[] Frame(int seq, int len)
    {
        var f = new byte[len];
        for (int i = 0; i < len; i++) f[i] = (byte)(seq * 31 + i);
        if (len >= 4) BinaryPrimitives.WriteInt32LittleEndian(f, seq);
        return f;
    }

    private static byte[] FreshBus(int dataSize)
    {
        var bus = new byte[ShmifBus.HeaderSize + dataSize];
        ShmifRing.Init(bus);
        return bus;
    }

    [Test]
    public void AFreshBusHasNetBsdsHeader()
    {
        byte[] bus = FreshBus(ShmifBus.DataSize);
        Assert.That(bus.Length, Is.EqualTo(1024 * 1024));
        Assert.That(Convert.ToHexString(bus, 0, 32), Is.EqualTo(
            "54D011CA" + "03000000" + "0000000000000000" + "E0FF0F00" + "00000000" + "00000000" + "00000000"),
            "magic 0xca11d054, version 3, generation 0, first = the data size (1 MiB - 32), last 0, lock and spare 0");
        Assert.That(ShmifBus.Check(bus), Is.EqualTo(WireError.Ok));
    }

    [Test]
    public void TheFirstFrameFollowsTheEmptyFrameAtZero()
    {
        byte[] bus = FreshBus(1024);
        byte[] f = Frame(1, 60);
        Assert.That(ShmifRing.Write(bus, f, 0x11223344, 0x55667788, 0x0102030405060708), Is.EqualTo(RingResult.Frame));
        // The zeroed file's frame of length 0 is at 0: this one's header is at 24, its data at 48.
        Assert.That(Convert.ToHexString(bus, 32 + 24, 24), Is.EqualTo(
            "3C000000" + "44332211" + "88776655" + "00000000" + "0807060504030201"));
        Assert.That(bus.AsSpan(32 + 48, 60).SequenceEqual(f), Is.True);
        Assert.That((ShmifRing.Last(bus), ShmifRing.First(bus), ShmifRing.Gen(bus)), Is.EqualTo((24u, 1024u, 0ul)));
    }

    [Test]
    public void AReaderSeesFramesWrittenAfterItAttachedInOrder()
    {
        byte[] bus = FreshBus(4096);
        ShmifRing.Write(bus, Frame(0, 50), 0, 0, 9);
        Assert.That(ShmifRing.Attach(bus, out ShmifCursor c), Is.True);
        for (int i = 1; i <= 5; i++) ShmifRing.Write(bus, Frame(i, 40 + i), 0, 0, (ulong)i);
        var dst = new byte[1600];
        for (int i = 1; i <= 5; i++)
        {
            Assert.That(ShmifRing.Read(bus, ref c, dst, out int len, out FrameHeader h, out bool lapped), Is.EqualTo(RingResult.Frame), "frame " + i);
            Assert.That((len, h.Sender, lapped), Is.EqualTo((40 + i, (ulong)i, false)));
            Assert.That(dst.AsSpan(0, len).SequenceEqual(Frame(i, 40 + i)), Is.True, "frame " + i + "'s bytes");
        }
        Assert.That(ShmifRing.Read(bus, ref c, dst, out _, out _, out _), Is.EqualTo(RingResult.Empty));
    }

    [Test]
    public void FramesStraddlingTheEndOfTheRingComeBackWhole()
    {
        // 1000 bytes of ring: frames of 24 + 37..136 bytes wrap every few frames, at every offset.
        byte[] bus = FreshBus(1000);
        ShmifRing.Attach(bus, out ShmifCursor c);
        var dst = new byte[1600];
        for (int i = 0; i < 2001; i++)
        {
            int len = 37 + i % 100;
            Assert.That(ShmifRing.Write(bus, Frame(i, len), 0, 0, 1), Is.EqualTo(RingResult.Frame));
            if (i % 3 != 2) continue;
            for (int j = i - 2; j <= i; j++)
            {
                Assert.That(ShmifRing.Read(bus, ref c, dst, out int got, out _, out bool lapped), Is.EqualTo(RingResult.Frame), "frame " + j);
                Assert.That(lapped, Is.False, "frame " + j + ": the reader kept up");
                Assert.That(dst.AsSpan(0, got).SequenceEqual(Frame(j, 37 + j % 100)), Is.True, "frame " + j + " intact");
            }
        }
        Assert.That(ShmifRing.Gen(bus), Is.GreaterThan(200ul), "the ring wrapped many times");
        Assert.That(ShmifRing.Read(bus, ref c, dst, out _, out _, out _), Is.EqualTo(RingResult.Empty));
    }

    [Test]
    public void ALappedReaderStartsAgainAtTheOldestFrame()
    {
        byte[] bus = FreshBus(1000);
        ShmifRing.Attach(bus, out ShmifCursor c);
        for (int i = 0; i < 100; i++) ShmifRing.Write(bus, Frame(i, 76), 0, 0, 1); // 100 x 100 bytes: ten times round
        var dst = new byte[1600];
        var seen = new List<int>();
        bool anyLapped = false;
        while (true)
        {
            RingResult r = ShmifRing.Read(bus, ref c, dst, out int len, out _, out bool lapped);
            anyLapped |= lapped;
            if (r == RingResult.Empty) break;
            Assert.That(r, Is.EqualTo(RingResult.Frame));
            int seq = BinaryPrimitives.ReadInt32LittleEndian(dst);
            Assert.That(dst.AsSpan(0, len).SequenceEqual(Frame(seq, 76)), Is.True, "frame " + seq + " intact");
            seen.Add(seq);
        }
        Assert.That(anyLapped, Is.True, "the reader was told it was lapped");
        Assert.That(seen, Is.Not.Empty);
        Assert.That(seen[^1], Is.EqualTo(99), "the newest frame is read last");
        for (int i = 1; i < seen.Count; i++) Assert.That(seen[i], Is.EqualTo(seen[i - 1] + 1), "consecutive after the lap: " + string.Join(",", seen));
        Assert.That(seen.Count, Is.InRange(8, 10), "about a ring's worth (1000 / 100 bytes) survived");
    }

    [Test]
    public void OtherFilesAreNotBuses()
    {
        var junk = new byte[4096];
        "hello, world\n"u8.CopyTo(junk);
        Assert.That(ShmifBus.Check(junk), Is.EqualTo(WireError.Malformed));
        var wrongVersion = FreshBus(4096 - 32);
        wrongVersion[4] = 7;
        Assert.That(ShmifBus.Check(wrongVersion), Is.EqualTo(WireError.Malformed));
        Assert.That(ShmifBus.Check(new byte[4096]), Is.EqualTo(WireError.Ok), "a zeroed file becomes a bus");
        Assert.That(ShmifBus.Check(new byte[20]), Is.EqualTo(WireError.Truncated));
    }

    [Test]
    public void ACorruptRingIsAnErrorAndResetMakesItUsable()
    {
        byte[] bus = FreshBus(1000);
        ShmifRing.Write(bus, Frame(0, 50), 0, 0, 1);
        ShmifRing.Attach(bus, out ShmifCursor c);
        BinaryPrimitives.WriteUInt32LittleEndian(bus.AsSpan(ShmifBus.OffLast), 5000); // past the ring
        var dst = new byte[1600];
        Assert.That(ShmifRing.Write(bus, Frame(1, 50), 0, 0, 1), Is.EqualTo(RingResult.Corrupt));
        Assert.That(ShmifRing.Read(bus, ref c, dst, out _, out _, out _), Is.EqualTo(RingResult.Corrupt));
        ShmifRing.Reset(bus);
        Assert.That(ShmifRing.Write(bus, Frame(2, 50), 0, 0, 1), Is.EqualTo(RingResult.Frame));
        Assert.That(ShmifRing.Read(bus, ref c, dst, out int len, out _, out bool lapped), Is.EqualTo(RingResult.Frame), "the reader resynchronises after the reset");
        Assert.That((lapped, dst.AsSpan(0, len).SequenceEqual(Frame(2, 50))), Is.EqualTo((true, true)));
        // A frame header with an impossible length.
        uint last = ShmifRing.Last(bus);
        BinaryPrimitives.WriteUInt32LittleEndian(bus.AsSpan(32 + (int)last), 100000);
        Assert.That(ShmifRing.Write(bus, Frame(3, 50), 0, 0, 1), Is.EqualTo(RingResult.Corrupt));
    }

    [Test]
    public void RandomBusContentsNeverThrowOrHang()
    {
        var rnd = new Random(1234);
        var dst = new byte[1600];
        for (int round = 0; round < 3000; round++)
        {
            byte[] bus = FreshBus(rnd.Next(100, 3000));
            for (int i = 0; i < rnd.Next(0, 20); i++) ShmifRing.Write(bus, Frame(i, rnd.Next(0, 200)), 0, 0, 1);
            ShmifRing.Attach(bus, out ShmifCursor c);
            // Scribble on the header's indices and a few data bytes.
            int n = rnd.Next(1, 6);
            for (int i = 0; i < n; i++)
            {
                int at = rnd.Next(0, 3) == 0 ? rnd.Next(8, 24) : rnd.Next(32, bus.Length);
                bus[at] = (byte)rnd.Next(256);
            }
            if (rnd.Next(2) == 0) { c.Next = (uint)rnd.Next(); c.Gen = (ulong)rnd.Next(3); }
            for (int i = 0; i < 30; i++)
            {
                ShmifRing.Write(bus, Frame(i, rnd.Next(0, 300)), 0, 0, 2);
                ShmifRing.Read(bus, ref c, dst, out _, out _, out _);
            }
        }
    }
}
