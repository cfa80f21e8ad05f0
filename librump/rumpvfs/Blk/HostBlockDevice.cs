using System;
using System.Runtime.InteropServices;
using System.Text;
using Rump.Hypercall;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A block device backed by a host file or host block device (NetBSD's rumpblk): transfers go
/// through the hypercall layer's asynchronous rumpuser_bio. This file and the etfs registration
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

    public override void Strategy(bool write, byte* data, int length, long offset, BioDone done)
    {
        int e = Check(write, length, offset);
        if (e != 0 || _fd < 0) { done.Done(0, e != 0 ? e : Abi.ENXIO); return; }
        done.IntrKernel = _k;
        nint arg = GCHandle.ToIntPtr(GCHandle.Alloc(done));
        RumpUser.rumpuser_bio(_fd, write ? RumpUserConst.RUMPUSER_BIO_WRITE : RumpUserConst.RUMPUSER_BIO_READ,
            data, (nuint)length, _begin + offset, &Biodone, arg);
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

    public override int Flush() => Parent.Flush();
}
