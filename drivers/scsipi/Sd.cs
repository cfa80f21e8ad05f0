using System;
using System.Threading;
using Rump.Dev;
using Rump.Dev.Scsipi.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Dev.Scsipi;

/// <summary>
/// The SCSI disk driver (NetBSD sd.c): at attach TEST UNIT READY (until the unit attention of a
/// fresh device is consumed), READ CAPACITY(10), or (16) when the disk is too large for it, and
/// MODE SENSE for the write-protect bit; then the disk is a <see cref="SdDisk"/> on the block layer
/// at /dev/sdN, with its MBR/GPT partitions at /dev/sdNa, ... (the same code as etfs images), so
/// the buffer cache and the disk file systems work on it unchanged.
/// </summary>
public sealed class Sd : Driver
{
    public override string Name => "sd";

    public override int Match(Device parent, object aux)
        => aux is ScsiPeriphArgs a && a.Inquiry.DeviceType is ScsiDeviceType.DirectAccess or ScsiDeviceType.Rbc or ScsiDeviceType.Optical ? 2 : 0;

    public override string? Describe(Device parent, object aux)
    {
        InquiryData q = ((ScsiPeriphArgs)aux).Inquiry;
        return "<" + q.Vendor + ", " + q.Product + ", " + q.Revision + "> disk " + (q.Removable ? "removable" : "fixed");
    }

    public override unsafe void Attach(Device self, Device parent, object aux)
    {
        var a = (ScsiPeriphArgs)aux;
        Kernel k = self.Autoconf.Kernel;
        var xs = new ScsipiXfer(a.Channel);
        byte[] buf = GC.AllocateArray<byte>(64, pinned: true);
        Span<byte> cdb = stackalloc byte[16];
        int e = 0;
        // A fresh device reports a unit attention (power on) once; a slow one is "becoming ready".
        for (int i = 0; i < 10; i++)
        {
            xs.Set(cdb.Slice(0, Cdb.TestUnitReady(cdb)), a.Lun);
            e = xs.Run();
            if (e == 0 || e == Abi.ENXIO) break;
            if (e == Abi.ENODEV) k.Kpause(100_000_000);
        }
        ulong blocks = 0;
        uint blockLen = 0;
        if (e != Abi.ENXIO) e = ReadCap(xs, buf, a.Lun, out blocks, out blockLen);
        if (e != 0) { self.Aprint("drive offline (error " + e + ")\n"); return; }
        bool wp = ModeSenseWp(xs, buf, a.Lun);
        long bytes = (long)(blocks * blockLen);
        self.Aprint((bytes >> 20) + " MB, " + blocks + " sectors x " + blockLen + " bytes" + (wp ? ", write protected" : "") + "\n");
        var disk = new SdDisk(k, self.Name, a.Channel, a.Lun, bytes, (int)blockLen, wp);
        self.Softc = disk;
        Rump.Vfs.Vfs? vfs = k.GetService<Rump.Vfs.Vfs>();
        if (vfs != null)
        {
            e = vfs.DiskAttach(k.CurlwpOrBind(), "/dev/" + self.Name, disk);
            if (e != 0) self.Aprint("cannot make /dev/" + self.Name + " (error " + e + ")\n");
            else disk.Key = "/dev/" + self.Name;
        }
    }

    private static unsafe int ReadCap(ScsipiXfer xs, byte[] buf, byte lun, out ulong blocks, out uint blockLen)
    {
        blocks = 0; blockLen = 0;
        Span<byte> cdb = stackalloc byte[16];
        int e = 0;
        for (int i = 0; i < 3; i++)
        {
            xs.Set(cdb.Slice(0, Cdb.ReadCapacity10(cdb)), lun);
            fixed (byte* p = buf) xs.Data = p;
            xs.DataLen = ReadCapacity.Data10Size;
            xs.DataIn = true;
            e = xs.Run();
            if (e != Abi.EAGAIN) break;
        }
        if (e != 0) return e;
        if (ReadCapacity.Parse10(buf.AsSpan(0, ReadCapacity.Data10Size - xs.Resid), out blocks, out blockLen, out bool needs16) != 0) return Abi.EIO;
        if (needs16)
        {
            xs.Set(cdb.Slice(0, Cdb.ReadCapacity16(cdb)), lun);
            fixed (byte* p = buf) xs.Data = p;
            xs.DataLen = ReadCapacity.Data16Size;
            xs.DataIn = true;
            e = xs.Run();
            if (e != 0) return e;
            if (ReadCapacity.Parse16(buf.AsSpan(0, ReadCapacity.Data16Size - xs.Resid), out blocks, out blockLen) != 0) return Abi.EIO;
        }
        return ReadCapacity.GoodBlockLength(blockLen) && blocks > 0 ? 0 : Abi.EIO;
    }

    /// <summary>MODE SENSE(6) for all pages, then (10) if the device refuses (6): the WP bit of the header.</summary>
    private static unsafe bool ModeSenseWp(ScsipiXfer xs, byte[] buf, byte lun)
    {
        Span<byte> cdb = stackalloc byte[16];
        xs.Set(cdb.Slice(0, Cdb.ModeSense6(cdb, 0x3f, (byte)buf.Length)), lun);
        fixed (byte* p = buf) xs.Data = p;
        xs.DataLen = buf.Length;
        xs.DataIn = true;
        if (xs.Run() == 0 && ModeHeader.Parse6(buf.AsSpan(0, buf.Length - xs.Resid), out bool wp, out _) == 0) return wp;
        xs.Set(cdb.Slice(0, Cdb.ModeSense10(cdb, 0x3f, (ushort)buf.Length)), lun);
        fixed (byte* p = buf) xs.Data = p;
        xs.DataLen = buf.Length;
        xs.DataIn = true;
        if (xs.Run() == 0 && ModeHeader.Parse10(buf.AsSpan(0, buf.Length - xs.Resid), out wp, out _) == 0) return wp;
        return false;
    }

    public override int Detach(Device self, DetachFlags flags)
    {
        if (self.Softc is not SdDisk disk) return 0;
        Kernel k = self.Autoconf.Kernel;
        if (disk.Key != null)
        {
            int e = k.GetService<Rump.Vfs.Vfs>()!.DiskDetach(k.CurlwpOrBind(), disk.Key, (flags & DetachFlags.Force) != 0);
            if (e != 0) return e;
        }
        disk.Dead = true;
        self.Aprint(disk.Commands + " read/write commands, " + disk.CommandBytes + " bytes\n");
        return 0;
    }
}

/// <summary>
/// An sd disk as a block device: each strategy call becomes READ/WRITE(10) (16 beyond 2^32 blocks)
/// commands of at most the adapter's transfer size, issued one after another from the previous
/// one's completion; a unit attention is retried. One <see cref="SdIo"/> belongs to one request
/// at a time (idle ones wait on a free list under a short spin lock), and the channel serialises
/// the commands.
/// </summary>
public sealed unsafe class SdDisk : BlockDevice
{
    private readonly ScsipiChannel _ch;
    private readonly byte _lun;
    private readonly Kernel _k;
    internal string? Key;
    public volatile bool Dead;
    /// <summary>Commands sent for strategy requests, and their bytes (diagnostics: printed at detach).</summary>
    public long Commands, CommandBytes;

    public SdDisk(Kernel k, string name, ScsipiChannel ch, byte lun, long size, int blockLen, bool wp)
        : base(name, size, blockLen, wp)
    {
        _k = k; _ch = ch; _lun = lun;
    }

    /// <summary>Idle requests, reused so that an I/O allocates nothing; a short spin lock guards the list.</summary>
    private SdIo? _free;
    private int _freeLock;

    private SdIo TakeIo()
    {
        while (Interlocked.CompareExchange(ref _freeLock, 1, 0) != 0) Thread.SpinWait(4);
        SdIo? io = _free;
        if (io != null) { _free = io.Next; io.Next = null; }
        Volatile.Write(ref _freeLock, 0);
        if (io != null) return io;
        io = new SdIo { Disk = this, Xs = new ScsipiXfer(_ch) };
        io.Xs.Priv = io;
        io.Xs.Callback = ChunkDone;
        return io;
    }

    private void ReturnIo(SdIo io)
    {
        io.Bio = null!;
        while (Interlocked.CompareExchange(ref _freeLock, 1, 0) != 0) Thread.SpinWait(4);
        io.Next = _free;
        _free = io;
        Volatile.Write(ref _freeLock, 0);
    }

    private sealed class SdIo
    {
        public SdIo? Next;
        public SdDisk Disk = null!;
        public ScsipiXfer Xs = null!;
        public bool Write;
        public byte* Data;
        public int Length, Done, Chunk, Retries;
        public long Offset;
        public BioDone Bio = null!;
    }

    public override DmaMem? AllocDma(int length) => Dead || _ch.Dead ? null : _ch.Adapter.AllocDma(length);

    public override void Strategy(bool write, byte* data, int length, long offset, BioDone done)
    {
        int e = Check(write, length, offset);
        if (e == 0 && (length % SectorSize != 0 || offset % SectorSize != 0)) e = Abi.EINVAL;
        // A disk that went away (unplugged) fails I/O with EIO, as a disk error, for the file system above.
        if (e == 0 && (Dead || _ch.Dead)) e = Abi.EIO;
        if (e != 0 || length == 0) { done.Done(0, e); return; }
        SdIo io = TakeIo();
        io.Write = write; io.Data = data; io.Length = length; io.Offset = offset; io.Bio = done;
        io.Done = 0; io.Retries = 0;
        Issue(io);
    }

    private void Issue(SdIo io)
    {
        int max = Math.Max(SectorSize, _ch.Adapter.MaxTransfer / SectorSize * SectorSize);
        io.Chunk = Math.Min(max, io.Length - io.Done);
        ScsipiXfer xs = io.Xs;
        long lba = (io.Offset + io.Done) / SectorSize;
        xs.CdbLen = Cdb.ReadWrite(xs.Cdb, io.Write, (ulong)lba, (uint)(io.Chunk / SectorSize), fua: false);
        xs.Lun = _lun;
        xs.Data = io.Data + io.Done;
        xs.DataLen = io.Chunk;
        xs.DataIn = !io.Write;
        Interlocked.Increment(ref Commands);
        Interlocked.Add(ref CommandBytes, io.Chunk);
        _ch.Enqueue(xs);
    }

    private static void ChunkDone(ScsipiXfer xs)
    {
        var io = (SdIo)xs.Priv!;
        int e = xs.Errno();
        if (e == Abi.EAGAIN && io.Retries++ < 3) { io.Disk.Issue(io); return; }
        if (e == 0 && xs.Resid != 0) e = Abi.EIO;
        if (e == 0)
        {
            io.Done += io.Chunk;
            if (io.Done < io.Length) { io.Disk.Issue(io); return; }
        }
        // The request is over: recycle it before the completion, which may start the next I/O.
        if (e == Abi.ENXIO) e = Abi.EIO;
        BioDone bio = io.Bio;
        long moved = io.Done;
        io.Disk.ReturnIo(io);
        bio.Done(moved, e == Abi.EAGAIN ? Abi.EIO : e);
    }

    /// <summary>SYNCHRONIZE CACHE. Thread context.</summary>
    public override int Flush()
    {
        // A disk that left is EIO to the file system here too, as in the data path (ChunkDone):
        // fsync must not fail differently depending on whether a write or the flush met the unplug.
        if (Dead || _ch.Dead) return Abi.EIO;
        var xs = new ScsipiXfer(_ch);
        Span<byte> cdb = stackalloc byte[16];
        xs.Set(cdb.Slice(0, Cdb.SynchronizeCache(cdb)), _lun);
        int e = xs.Run();
        // Devices without a cache refuse the command: nothing to flush then.
        return e == Abi.EINVAL ? 0 : e == Abi.ENXIO ? Abi.EIO : e;
    }
}
