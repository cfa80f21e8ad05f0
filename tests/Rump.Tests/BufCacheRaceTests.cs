using System;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Tests;

/// <summary>
/// The buffer cache where it drops its lock: writing a dirty victim out to make room, writing a
/// buffer of another size out, waiting for a busy buffer while invalidating. Each interleaving is
/// forced: the device holds a write until the test completes it, and the test waits for the
/// cache's own counter of sleeps on busy buffers, never for time.
/// </summary>
public class BufCacheRaceTests : KernelTest
{
    private const int Bs = 4096;

    /// <summary>A device in memory whose next write, once armed, is held until the test completes it; writes can also be made to fail.</summary>
    private sealed unsafe class GatedDevice : BlockDevice
    {
        public readonly byte[] Disk;
        private readonly object _gate = new();
        private bool _armed;
        private (nint data, int length, long offset, BioDone done)? _held;
        public readonly ManualResetEventSlim WriteHeld = new(false);
        public volatile bool FailWrites;
        public int WritesDone;

        public GatedDevice(long size) : base("gated", size, 512, readOnly: false) { Disk = new byte[size]; }

        public void ArmNextWrite() { lock (_gate) { _armed = true; WriteHeld.Reset(); } }

        public override void Strategy(bool write, byte* data, int length, long offset, BioDone done)
        {
            int e = Check(write, length, offset);
            if (e == 0 && write && FailWrites) e = Abi.EIO;
            if (e != 0) { done.Done(0, e); return; }
            if (write)
            {
                lock (_gate)
                {
                    if (_armed)
                    {
                        _armed = false;
                        _held = ((nint)data, length, offset, done);
                        WriteHeld.Set();
                        return;
                    }
                }
                new ReadOnlySpan<byte>(data, length).CopyTo(Disk.AsSpan((int)offset));
                Interlocked.Increment(ref WritesDone);
            }
            else
                Disk.AsSpan((int)offset, length).CopyTo(new Span<byte>(data, length));
            done.Done(length, 0);
        }

        /// <summary>Completes the held write (from the test's thread, as an I/O thread would).</summary>
        public void ReleaseHeldWrite()
        {
            (nint data, int length, long offset, BioDone done) h;
            lock (_gate) { h = _held!.Value; _held = null; }
            new ReadOnlySpan<byte>((byte*)h.data, h.length).CopyTo(Disk.AsSpan((int)h.offset));
            Interlocked.Increment(ref WritesDone);
            h.done.Done(h.length, 0);
        }

        public override int Flush() => 0;
    }

    private static void Within(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Generous;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("waited " + Generous.TotalSeconds + " s for: " + what);
            Thread.Yield();
        }
    }

    private static Thread Start(RumpKernel k, string name, Action body, Action<Exception> failed)
    {
        var t = new Thread(() =>
        {
            try
            {
                using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, name);
                body();
            }
            catch (Exception e) { failed(e); }
        }) { IsBackground = true };
        t.Start();
        return t;
    }

    /// <summary>
    /// A reader makes room by writing a dirty victim; while that write is in flight another thread
    /// reads and dirties the block the first one wants. The first must then find that buffer, not
    /// make a second one from the disk (which lost the second thread's data).
    /// </summary>
    [Test]
    public void EvictionWrite_AnotherThreadCachesTheBlock_TheReaderGetsThatBuffer()
    {
        RumpKernel k = Boot(ncpu: 4);
        var dev = new GatedDevice(1 << 20);
        var bc = new BufCache(k.Kernel, 2 * Bs) { ReadAhead = 0 };
        const long A = 0, B = 8, C = 16;
        using (k.Kernel.EnterTemporary(k.Kernel.Proc0, "setup"))
        {
            // Full: A dirty (oldest), C clean.
            Assert.That(bc.Getblk(dev, A, Bs, out Buf a), Is.EqualTo(0));
            a.Data.AsSpan().Fill(0xa1);
            bc.Bdwrite(a);
            Assert.That(bc.Bread(dev, C, Bs, out Buf c), Is.EqualTo(0));
            bc.Brelse(c);
        }

        dev.ArmNextWrite();
        Buf? got = null;
        byte gotByte = 0;
        int gotErr = -1;
        Exception? failure = null;
        Thread reader = Start(k, "reader", () =>
        {
            gotErr = bc.Bread(dev, B, Bs, out Buf bp);
            if (gotErr != 0) return;
            got = bp;
            gotByte = bp.Data[0];
            bc.Brelse(bp);
        }, e => failure = e);
        Assert.That(dev.WriteHeld.Wait(Generous), Is.True, "the reader's eviction of the dirty block A must start a write");

        Buf mine;
        using (k.Kernel.EnterTemporary(k.Kernel.Proc0, "writer"))
        {
            // The cache's lock is free while A is written: this thread caches B and changes it.
            Assert.That(bc.Bread(dev, B, Bs, out mine), Is.EqualTo(0));
            mine.Data[0] = 0x5a;
            bc.Bdwrite(mine);
        }
        dev.ReleaseHeldWrite();
        Assert.That(reader.Join(Generous), Is.True, "the reader must finish once the write completes");
        Assert.That(failure, Is.Null, "reader: " + failure);
        Assert.That(gotErr, Is.EqualTo(0), "the reader's bread");
        Assert.That(ReferenceEquals(got, mine), Is.True,
            "the reader must get the buffer the other thread cached for block B, not a second buffer for the same block");
        Assert.That(gotByte, Is.EqualTo(0x5a), "the reader must see the other thread's delayed write to block B");

        using (k.Kernel.EnterTemporary(k.Kernel.Proc0, "check"))
        {
            Assert.That(bc.Flush(dev), Is.EqualTo(0));
            Assert.That(dev.Disk[B * 512], Is.EqualTo(0x5a), "after a flush the disk must have the delayed write to block B");
            Assert.That(dev.Disk[A * 512], Is.EqualTo(0xa1), "block A written by the eviction");
            Assert.That(bc.CachedBytes, Is.LessThanOrEqualTo(2 * Bs), "cached bytes");
        }
    }

    /// <summary>A dirty buffer read again with another size is written out first; if that write fails its data must stay, and the caller gets the error.</summary>
    [Test]
    public void SizeChange_WriteOfTheOldBufferFails_DataStaysAndTheCallerGetsEio()
    {
        RumpKernel k = Boot(ncpu: 2);
        var dev = new GatedDevice(1 << 20);
        var bc = new BufCache(k.Kernel, 1 << 20) { ReadAhead = 0 };
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
        Assert.That(bc.Getblk(dev, 8, Bs, out Buf bp), Is.EqualTo(0));
        bp.Data.AsSpan().Fill(0x77);
        bc.Bdwrite(bp);
        dev.FailWrites = true;
        Assert.That(bc.Bread(dev, 8, 2 * Bs, out _), Is.EqualTo(Abi.EIO),
            "reading a dirty block with another size when its write-back fails");
        Assert.That(bc.Bread(dev, 8, Bs, out Buf again), Is.EqualTo(0));
        Assert.That(again.Data[0], Is.EqualTo(0x77), "the dirty data must still be cached after the failed write-back");
        bc.Brelse(again);
        dev.FailWrites = false;
        Assert.That(bc.Flush(dev), Is.EqualTo(0));
        Assert.That(dev.Disk[8 * 512], Is.EqualTo(0x77), "the delayed write reaches the disk once writes work");
    }

    /// <summary>
    /// Invalidate waits for a busy buffer, and meanwhile another of the device's buffers is
    /// dropped and its block cached again and held. Invalidate must not return while a buffer of
    /// the device is in use, nor take the new buffer out of the cache under its user.
    /// </summary>
    [Test]
    public void Invalidate_WhileBlocksAreRecachedMeanwhile_WaitsForEveryBufferOfTheDevice()
    {
        RumpKernel k = Boot(ncpu: 4);
        var dev = new GatedDevice(1 << 20);
        var bc = new BufCache(k.Kernel, 1 << 20) { ReadAhead = 0 };
        const long X = 8, Y = 16;
        Buf b1, b2;
        using (k.Kernel.EnterTemporary(k.Kernel.Proc0, "holder"))
        {
            Assert.That(bc.Bread(dev, X, Bs, out b1), Is.EqualTo(0));
            Assert.That(bc.Bread(dev, Y, Bs, out b2), Is.EqualTo(0));
        }
        bool invalidated = false;
        Exception? failure = null;
        long waits0 = Interlocked.Read(ref bc.BusyWaits);
        Thread inval = Start(k, "invalidate", () => { bc.Invalidate(dev); Volatile.Write(ref invalidated, true); }, e => failure = e);
        Within(() => Interlocked.Read(ref bc.BusyWaits) > waits0, "Invalidate to wait for the busy buffers");

        Buf y2;
        using (k.Kernel.EnterTemporary(k.Kernel.Proc0, "holder"))
        {
            // Y is dropped and cached again (a new buffer), and held; then X is released.
            bc.Brelse(b2, invalidate: true);
            Assert.That(bc.Getblk(dev, Y, Bs, out y2), Is.EqualTo(0));
            long waits1 = Interlocked.Read(ref bc.BusyWaits);
            bc.Brelse(b1);
            Within(() => Volatile.Read(ref invalidated) || Interlocked.Read(ref bc.BusyWaits) > waits1,
                "Invalidate to finish or to wait again");
            Assert.That(Volatile.Read(ref invalidated), Is.False,
                "Invalidate returned while a buffer of the device (block Y, cached again) was still in use");
            y2.Data[0] = 0x33;
            bc.Bdwrite(y2);
        }
        Assert.That(inval.Join(Generous), Is.True, "Invalidate must finish once every buffer is released");
        Assert.That(failure, Is.Null, "invalidate: " + failure);
        Assert.That(bc.CachedBytes, Is.EqualTo(0), "nothing of the device may stay cached after Invalidate");
    }
}
