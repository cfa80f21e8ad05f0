using System;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// How a disk file system gets its device at mount time: the mount arguments start with
/// <c>char *fspec</c>, a path in the kernel's namespace naming a block-device node (an etfs key).
/// </summary>
public sealed partial class Vfs
{
    /// <summary>
    /// Resolves the fspec pointer at the start of <paramref name="args"/> to a block device and
    /// claims it for <paramref name="mp"/>: ENOENT/ENOTDIR from the lookup, ENOTBLK if the node is
    /// not a block device, ENXIO if no device has that number, EBUSY if it is mounted already or
    /// open through its node,
    /// EROFS for a read-write mount of a read-only device, EINVAL for arguments too short.
    /// </summary>
    public int OpenMountDevice(Lwp l, ReadOnlySpan<byte> args, Mount mp, out BlockDevice? dev)
    {
        dev = null;
        if (args.Length < 8) return Abi.EINVAL;
        var fspec = new UserPtr(System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(args));
        if (fspec.IsNull) return Abi.EINVAL;
        // Copied in once: the device looked up is the one the mount records as its source.
        Span<char> s = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(s);
        int e = pb.CopyIn(l, fspec);
        if (e != 0) return e;
        e = Namei.Lookup(l, l.Cred, Abi.AT_FDCWD, pb, follow: true, out Vnode? vp);
        if (e != 0) return e;
        e = VnodeLayer.Getattr(l, vp!, out Vattr va);
        vp!.Rele();
        if (e != 0) return e;
        if (vp.Type != VType.VBLK) return Abi.ENOTBLK;
        BlockDevice? d = Devices.Lookup(va.Rdev);
        if (d == null) return Abi.ENXIO;
        if (!mp.ReadOnly && d.ReadOnly) return Abi.EROFS;
        // A compare-and-swap, not MountLock: the file system's mount routine calls this while
        // DoMount holds MountLock.
        if (System.Threading.Interlocked.CompareExchange(ref d.MountedBy, mp, null) != null) return Abi.EBUSY;
        // Open through its node (BlkOpen): the file and the file system would cache apart.
        if (System.Threading.Volatile.Read(ref d.OpenFiles) > 0)
        {
            System.Threading.Volatile.Write(ref d.MountedBy, null);
            return Abi.EBUSY;
        }
        mp.MountedFrom = pb.ToString();
        dev = d;
        return 0;
    }

    /// <summary>Writes back and forgets the device's cached blocks and releases it (unmount, or a failed mount).</summary>
    public int CloseMountDevice(BlockDevice dev)
    {
        int e = BufCache.Flush(dev);
        BufCache.Invalidate(dev);
        System.Threading.Volatile.Write(ref dev.MountedBy, null);
        return e;
    }
}
