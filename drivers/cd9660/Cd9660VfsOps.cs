using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Rump.Fs.Cd9660.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Cd9660;

/// <summary>
/// cd9660's file system operations (NetBSD cd9660_vfsops.c): mount reads the volume descriptor
/// set, picks the tree and names (Rock Ridge unless NORRIP, else Joliet unless NOJOLIET, else
/// plain ISO 9660), and makes the root; statvfs reports the volume size; unmount releases the device.
/// Mount errors: EROFS for a read-write mount, EINVAL if the device holds no ISO 9660 volume
/// (no "CD001", no primary descriptor or terminator), EFTYPE for a volume with impossible
/// geometry (block size, root directory outside the device or absurdly large).
/// </summary>
public sealed class Cd9660VfsOps : VfsOps
{
    /// <summary>Descriptors read before giving up on finding the terminator (NetBSD stops at sector 100).</summary>
    private const int MaxDescriptors = 84;

    private readonly Cd9660VnodeOps _vops = new();

    public override string Name => "cd9660";
    public override int ArgsSize => Unsafe.SizeOf<RumpIsoArgs>();

    /// <summary>A volume descriptor ("CD001") in sector 16, where every ISO 9660 volume starts.</summary>
    public override bool Probe(ReadOnlySpan<byte> head)
        => head.Length >= 16 * 2048 + 6 && head.Slice(16 * 2048 + 1, 5).SequenceEqual(Wire.VolumeDescriptor.StandardId);

    public override int Mount(Mount mp, ReadOnlySpan<byte> args, Lwp l)
    {
        // NetBSD's cd9660_mount: NULL data or a data_len shorter than struct iso_args is EINVAL,
        // before anything else; then ISO 9660 is read-only media (EROFS unless MNT_RDONLY).
        if (args.Length < ArgsSize) return Abi.EINVAL;
        if (!mp.ReadOnly) return Abi.EROFS;
        int flags = BinaryPrimitives.ReadInt32LittleEndian(args.Slice(IsoMountFlags.ArgsFlagsOffset));
        int e = mp.Vfs.OpenMountDevice(l, args, mp, out BlockDevice? dev);
        if (e != 0) return e;
        e = MountDevice(mp, dev!, flags, out Cd9660Mount? imp);
        if (e != 0)
        {
            mp.Vfs.CloseMountDevice(dev!);
            return e;
        }
        mp.Data = imp;
        e = mp.Vfs.Vcache.Get(mp, imp!.RootIno, null, out Vnode? root);
        if (e != 0)
        {
            mp.Vfs.CloseMountDevice(dev!);
            return e;
        }
        mp.SetRoot(root!);
        return 0;
    }

    public override int LoadVnode(Mount mp, Vnode vp, ulong key, object? hint) => ((Cd9660Mount)mp.Data!).LoadNode(vp, key, hint);

    private int MountDevice(Mount mp, BlockDevice dev, int flags, out Cd9660Mount? imp)
    {
        imp = null;
        int e = ReadDescriptors(mp.Vfs.BufCache, dev, out VolumeDescriptor pvd, out VolumeDescriptor svd, out bool haveSvd);
        if (e != 0) return e;
        int bs = pvd.LogicalBlockSize;
        uint rootExtent = pvd.RootExtent, rootSize = pvd.RootSize;
        byte rootXattr = pvd.RootXattrLength;

        // Rock Ridge is in use if the root's "." record starts with SP and carries Rock Ridge entries.
        NameMode mode = NameMode.Iso;
        int skip = 0;
        if ((flags & IsoMountFlags.NoRrip) == 0)
        {
            var probe = new Cd9660Mount(mp, dev, _vops, bs, pvd.VolumeSpaceSize, NameMode.RockRidge, 0, flags);
            e = ProbeRockRidge(probe, rootExtent + rootXattr, out bool rr, out skip);
            if (e != 0) return e;
            if (rr) mode = NameMode.RockRidge;
        }
        if (mode == NameMode.Iso && haveSvd && (flags & IsoMountFlags.NoJoliet) == 0 && svd.LogicalBlockSize == bs)
        {
            mode = NameMode.Joliet;
            rootExtent = svd.RootExtent; rootSize = svd.RootSize; rootXattr = svd.RootXattrLength;
        }

        long rootAddr = ((long)rootExtent + rootXattr) * bs;
        if (rootSize == 0 || rootSize > Cd9660Mount.MaxDirBytes || rootAddr + bs > dev.Size) return Abi.EFTYPE;

        var m = new Cd9660Mount(mp, dev, _vops, bs, pvd.VolumeSpaceSize, mode, skip, flags);
        // The root's attributes come from its "." record (Rock Ridge there uses no LEN_SKP); where
        // it is comes from the descriptor.
        e = new DirScanner(m).ReadDot(rootExtent + rootXattr, 0, out IsoAttr? root);
        if (e != 0) return e == Abi.EIO ? Abi.EFTYPE : e;
        root!.Extent = rootExtent;
        root.DataLbn = rootExtent + rootXattr;
        root.Size = rootSize;
        root.Extents = null;
        root.Unreadable = false;
        m.RootIno = (ulong)rootExtent * (ulong)bs;
        m.RootAttr = root;
        imp = m;
        return 0;
    }

    /// <summary>
    /// Reads the volume descriptor set from sector 16 to the terminator: the first primary
    /// descriptor and the first Joliet supplementary one.
    /// </summary>
    private static int ReadDescriptors(BufCache cache, BlockDevice dev, out VolumeDescriptor pvd, out VolumeDescriptor svd, out bool haveSvd)
    {
        pvd = svd = default;
        haveSvd = false;
        bool havePvd = false;
        byte[] sector = new byte[VolumeDescriptor.Size];
        int bufSize = Math.Max(VolumeDescriptor.Size, dev.SectorSize);
        for (int i = 0; i < MaxDescriptors; i++)
        {
            long addr = (long)(VolumeDescriptor.FirstSector + i) * VolumeDescriptor.Size;
            if (addr + VolumeDescriptor.Size > dev.Size) return Abi.EINVAL; // ends before the terminator
            int e = Cd9660Mount.ReadBytes(cache, dev, bufSize, addr, sector);
            if (e != 0) return e;
            e = VolumeDescriptor.Parse(sector, out VolumeDescriptor vd);
            if (e == Abi.EINVAL) return Abi.EINVAL; // not "CD001": not ISO 9660
            switch (vd.Type)
            {
                case VdType.Terminator:
                    return havePvd ? 0 : Abi.EINVAL;
                case VdType.Primary when !havePvd:
                    if (e != 0) return e;
                    pvd = vd;
                    havePvd = true;
                    break;
                case VdType.Supplementary when !haveSvd && e == 0 && vd.JolietLevel != 0:
                    svd = vd;
                    haveSvd = true;
                    break;
            }
        }
        return Abi.EINVAL; // no terminator where one must be
    }

    /// <summary>SP in the root's "." record, then any Rock Ridge entry (or an ER naming RRIP) in it.</summary>
    private static int ProbeRockRidge(Cd9660Mount probe, uint rootLbn, out bool rr, out int skip)
    {
        rr = false;
        skip = 0;
        if (((long)rootLbn + 1) * probe.BlockSize > probe.Dev.Size) return Abi.EFTYPE;
        byte[] blk = new byte[probe.BlockSize];
        int e = probe.ReadBlock(rootLbn, blk);
        if (e != 0) return e;
        if (DirRecord.Parse(blk, out DirRecord dot) != 0 || !dot.IsDot) return Abi.EFTYPE;
        ReadOnlySpan<byte> sua = dot.SystemUse;
        if (!Susp.ParseSp(sua, out skip)) return 0;
        var walk = new RockRidgeWalk(probe);
        e = walk.Walk(sua);
        // A broken continuation in the root's "." only costs Rock Ridge, not the mount.
        if (e != 0) return 0;
        rr = walk.SawRrip;
        return 0;
    }

    public override int Statvfs(Mount mp, ref RumpStatvfs sv)
    {
        var imp = (Cd9660Mount)mp.Data!;
        sv.f_bsize = sv.f_frsize = (ulong)imp.BlockSize;
        sv.f_iosize = (ulong)imp.BlockSize;
        sv.f_blocks = imp.VolumeBlocks;
        sv.f_bfree = sv.f_bavail = sv.f_bresvd = 0;
        sv.f_files = sv.f_ffree = sv.f_favail = sv.f_fresvd = 0;
        sv.f_namemax = (ulong)Abi.NAME_MAX;
        return 0;
    }

    /// <summary>Nothing is ever dirty.</summary>
    public override int Sync(Mount mp, bool wait, Lwp l) => 0;

    public override int Unmount(Mount mp, bool force, Lwp l)
    {
        var imp = (Cd9660Mount)mp.Data!;
        mp.Vfs.CloseMountDevice(imp.Dev);
        return 0;
    }
}
