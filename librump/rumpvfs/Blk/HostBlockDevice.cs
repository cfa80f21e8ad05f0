using System;
using System.Runtime.InteropServices;
using System.Text;
using Rump.Hypercall;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A block device backed by a host file or host block device (NetBSD's rumpblk): transfers go
/// through the hypercall layer's asynchronous rumpuser_bio, except those a caller waits for
/// (<see cref="TransferNow"/>: rumpuser_iovread/iovwrite on the caller's thread). This file and the etfs registration
/// are the only places the block layer talks to the host. A window (<see cref="_begin"/>, size)
/// exposes part of the host file, as rump_pub_etfs_register_withsize asks.
/// </summary>
public sealed unsafe class HostBlockDevice : BlockDevice
{
    private int _fd;
    private readonly long _begin;
    private readonly Kernel _k;

    private HostBlockDevice(Kernel k, string name, int fd, long begin, long size, bool readOnly)
        : base(name, size, DevBSize, readOnly)
    {
        _k = k; _fd = fd; _begin = begin;
    }

    /// <summary>
    /// Opens <paramref name="hostPath"/> read-write, or read-only when the host does not allow
    /// writing (or <paramref name="readOnly"/> asks). <paramref name="size"/> &lt; 0 means "to the end".
    /// </summary>
    public static int Open(Kernel k, string name, string hostPath, long begin, long size, bool readOnly, out HostBlockDevice? dev)
    {
        dev = null;
        byte[] path = Encoding.UTF8.GetBytes(hostPath + "\0");
        ulong hsize;
        int ftype, fd = -1, e;
        fixed (byte* p = path)
        {
            e = RumpUser.rumpuser_getfileinfo(p, &hsize, &ftype);
            if (e != 0) return e;
            if (ftype != RumpUserConst.RUMPUSER_FT_REG && ftype != RumpUserConst.RUMPUSER_FT_BLK) return Abi.EFTYPE;
            e = readOnly ? Abi.EROFS : RumpUser.rumpuser_open(p, RumpUserConst.RUMPUSER_OPEN_RDWR | RumpUserConst.RUMPUSER_OPEN_BIO, &fd);
            if (e == Abi.EACCES || e == Abi.EROFS || e == Abi.EPERM)
            {
                readOnly = true;
                e = RumpUser.rumpuser_open(p, RumpUserConst.RUMPUSER_OPEN_RDONLY | RumpUserConst.RUMPUSER_OPEN_BIO, &fd);
            }
            if (e != 0) return e;
        }
        if (begin < 0 || (ulong)begin > hsize) { RumpUser.rumpuser_close(fd); return Abi.EINVAL; }
        long avail = (long)hsize - begin;
        long len = size < 0 ? avail : Math.Min(size, avail);
        // Whole sectors only: a trailing partial sector cannot be addressed.
        len -= len % DevBSize;
        dev = new HostBlockDevice(k, name, fd, begin, len, readOnly);
        return 0;
    }

    /// <summary>Transfers handed to rumpuser_bio's worker (tests: waited-for ones are not).</summary>
    public long Handoffs;

    public override void Strategy(bool write, byte* data, int length, long offset, BioDone done)
    {
        int e = Check(write, length, offset);
        if (e != 0 || _fd < 0) { done.Done(0, e != 0 ? e : Abi.ENXIO); return; }
        System.Threading.Interlocked.Increment(ref Handoffs);
        done.IntrKernel = _k;
        nint arg = GCHandle.ToIntPtr(GCHandle.Alloc(done));
        RumpUser.rumpuser_bio(_fd, write ? RumpUserConst.RUMPUSER_BIO_WRITE : RumpUserConst.RUMPUSER_BIO_READ,
            data, (nuint)length, _begin + offset, &Biodone, arg);
    }

    /// <summary>
    /// A waited-for transfer as one preadv/pwritev on the calling thread (rumpuser_iovread and
    /// iovwrite give the virtual CPU up around it), not a hand-off to rumpuser_bio's worker and a
    /// sleep until its completion: that costs two host thread switches and a wait for the worker
    /// to get a host CPU, per block read a file system waits for. Ordering is the cache's: a
    /// block under an asynchronous transfer is busy until it completes, so nothing here overtakes
    /// a queued transfer of the same block. With a fault armed at the completion (tests), the
    /// transfer goes the asynchronous way, where that fault point is.
    /// </summary>
    internal override bool TransferNow(bool write, byte* data, int length, long offset, out int error)
    {
        if (_k.FaultArmed(FaultPoint.Biodone)) { error = 0; return false; }
        error = Check(write, length, offset);
        if (error != 0) return true;
        int fd = _fd;
        if (fd < 0) { error = Abi.ENXIO; return true; }
        RumpUserIovec iov;
        iov.iov_base = data;
        iov.iov_len = (nuint)length;
        nuint moved = 0;
        error = write ? RumpUser.rumpuser_iovwrite(fd, &iov, 1, _begin + offset, &moved)
                      : RumpUser.rumpuser_iovread(fd, &iov, 1, _begin + offset, &moved);
        if (error == 0 && moved != (nuint)length) error = Abi.EIO;   // a short transfer: the image ends early
        return true;
    }

    /// <summary>
    /// The hypervisor's completion upcall (any host thread, with or without a kernel context): the
    /// completion runs in its kernel's interrupt context. Nothing escapes to the host.
    /// </summary>
    [UnmanagedCallersOnly]
    private static void Biodone(nint arg, nuint bytes, int error)
    {
        Kernel? k = null;
        try
        {
            GCHandle h = GCHandle.FromIntPtr(arg);
            var done = (BioDone)h.Target!;
            h.Free();
            k = done.IntrKernel!;
            using (k.EnterInterrupt())
            {
                k.MaybeFault(FaultPoint.Biodone);
                done.Done((long)bytes, error);
            }
        }
        catch (Exception e) { k?.RecordPanic(e, "biodone: "); }
    }

    public override bool HostRange(long offset, int length, out int fd, out long hostOffset)
    {
        fd = _fd;
        hostOffset = _begin + offset;
        return fd >= 0 && offset >= 0 && length >= 0 && offset + length <= Size;
    }

    public override int Flush() => _fd < 0 ? 0 : RumpUser.rumpuser_syncfd(_fd, RumpUserConst.RUMPUSER_SYNCFD_WRITE, 0, 0);

    /// <summary>Closes the host file (etfs removal); later transfers fail with ENXIO.</summary>
    public void Close()
    {
        int fd = _fd;
        _fd = -1;
        if (fd >= 0) RumpUser.rumpuser_close(fd);
    }
}

/// <summary>A partition: a window of another block device (NetBSD's disklabel partitions).</summary>
public sealed unsafe class PartitionDevice : BlockDevice
{
    public readonly BlockDevice Parent;
    public readonly long Start;

    public PartitionDevice(string name, BlockDevice parent, long start, long size)
        : base(name, size, parent.SectorSize, parent.ReadOnly)
    {
        Parent = parent; Start = start;
    }

    public override void Strategy(bool write, byte* data, int length, long offset, BioDone done)
    {
        int e = Check(write, length, offset);
        if (e != 0) { done.Done(0, e); return; }
        Parent.Strategy(write, data, length, Start + offset, done);
    }

    internal override bool TransferNow(bool write, byte* data, int length, long offset, out int error)
    {
        error = Check(write, length, offset);
        return error != 0 || Parent.TransferNow(write, data, length, Start + offset, out error);
    }

    public override bool HostRange(long offset, int length, out int fd, out long hostOffset)
    {
        fd = -1;
        hostOffset = 0;
        return offset >= 0 && length >= 0 && offset + length <= Size && Parent.HostRange(Start + offset, length, out fd, out hostOffset);
    }

    public override DmaMem? AllocDma(int length) => Parent.AllocDma(length);

    public override int Flush() => Parent.Flush();
}
