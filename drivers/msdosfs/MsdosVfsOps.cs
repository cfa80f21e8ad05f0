using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rump.Fs.Msdosfs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// msdosfs's file system operations (NetBSD msdosfs_vfsops.c): mount from struct msdosfs_args
/// after validating the boot sector, statvfs from the FAT's free count, sync (FSInfo, then the
/// device's dirty buffers) and unmount.
/// </summary>
public sealed class MsdosVfsOps : VfsOps
{
    private readonly MsdosVnodeOps _vops = new();

    public override string Name => "msdos";
    public override int ArgsSize => Unsafe.SizeOf<RumpMsdosfsArgs>();

    public override int Mount(Mount mp, ReadOnlySpan<byte> args, Lwp l)
    {
        // NetBSD's msdosfs_mount: a data_len shorter than struct msdosfs_args (or NULL data) is EINVAL.
        if (args.Length < ArgsSize) return Abi.EINVAL;
        RumpMsdosfsArgs a = MemoryMarshal.Read<RumpMsdosfsArgs>(args);
        int e = mp.Vfs.OpenMountDevice(l, args, mp, out BlockDevice? dev);
        if (e != 0) return e;
        e = MountDevice(mp, dev!, a);
        if (e != 0) mp.Vfs.CloseMountDevice(dev!);
        return e;
    }

    private int MountDevice(Mount mp, BlockDevice dev, in RumpMsdosfsArgs a)
    {
        Span<byte> boot = stackalloc byte[Bpb.MinSize];
        if (dev.Size < Bpb.MinSize) return Abi.EINVAL;
        int e = dev.ReadSync(mp.Vfs.Kernel, 0, boot);
        if (e != 0) return e;
        e = Bpb.Parse(boot, out Bpb bpb);
        if (e != 0) return e;
        if (bpb.BytesPerSector % dev.SectorSize != 0) return Abi.EINVAL;

        // The metadata must be on the device; clusters past its end are never handed out.
        long devSectors = dev.Size / bpb.BytesPerSector;
        if (bpb.FirstDataSector >= devSectors) return Abi.EINVAL;
        long devClusters = (devSectors - bpb.FirstDataSector) / bpb.SectorsPerCluster;
        if (devClusters < 1) return Abi.EINVAL;
        uint maxCluster = (uint)Math.Min(bpb.ClusterCount, devClusters) + 1;
        if (bpb.Type == FatType.Fat32 && bpb.RootCluster > maxCluster) return Abi.EINVAL;

        var m = new MsdosMount(mp, dev, bpb, maxCluster, _vops, a);
        e = m.ReadFsInfo();
        if (e != 0) return e;
        mp.Data = m;
        e = mp.Vfs.Vcache.Get(mp, MsdosMount.RootId, null, out Vnode? root);
        if (e != 0) return e;
        mp.SetRoot(root!);
        return 0;
    }

    public override int LoadVnode(Mount mp, Vnode vp, ulong key, object? hint)
    {
        var m = (MsdosMount)mp.Data!;
        m.Lock.Enter();
        int e = m.LoadNodeLocked(vp, key, out Vnode? parent);
        m.Lock.Exit();
        parent?.Rele();
        return e;
    }

    /// <summary>A valid FAT boot sector at the start of the device.</summary>
    /// <summary>FAT compares names without regard to case.</summary>
    public override bool CaseInsensitive => true;

    public override bool Probe(ReadOnlySpan<byte> head) => head.Length >= Bpb.MinSize && Bpb.Parse(head, out _) == 0;

    public override string? Describe(ReadOnlySpan<byte> head)
    {
        if (head.Length < Bpb.MinSize) return null;
        // Only a sector that says it is FAT: an MBR carries the same 0x55AA signature.
        bool saysFat = head.Slice(54, 3).SequenceEqual("FAT"u8) || head.Slice(82, 3).SequenceEqual("FAT"u8);
        if (!saysFat) return null;
        int e = Bpb.Parse(head, out _);
        return e == 0 ? null : "a FAT boot sector with an invalid BIOS parameter block (error " + e + ")";
    }

    public override int Statvfs(Mount mp, ref RumpStatvfs sv)
    {
        var m = (MsdosMount)mp.Data!;
        m.Lock.Enter();
        try
        {
            int e = m.Fat.FreeCount(out long free);
            if (e != 0) return e;
            sv.f_bsize = sv.f_frsize = sv.f_iosize = (ulong)m.ClusterBytes;
            sv.f_blocks = m.Fat.ClusterCount;
            sv.f_bfree = sv.f_bavail = (ulong)free;
            sv.f_bresvd = 0;
            // No inodes: NetBSD reports the fixed root's entries and nothing free.
            sv.f_files = m.Bpb.RootEntries;
            sv.f_ffree = sv.f_favail = sv.f_fresvd = 0;
            sv.f_namemax = LfnSlot.MaxNameChars;
            return 0;
        }
        finally { m.Lock.Exit(); }
    }

    public override int Sync(Mount mp, bool wait, Lwp l)
    {
        var m = (MsdosMount)mp.Data!;
        if (mp.ReadOnly) return 0;
        m.Lock.Enter();
        try { return m.Unmounted ? 0 : MsdosVnodeOps.SyncLocked(m); }
        finally { m.Lock.Exit(); }
    }

    public override int Unmount(Mount mp, bool force, Lwp l)
    {
        var m = (MsdosMount)mp.Data!;
        m.Lock.Enter();
        int e = 0;
        try
        {
            // Removed files still open gave their clusters back as the VFS reclaimed their vnodes.
            if (!mp.ReadOnly) e = m.WriteFsInfo();
            m.Unmounted = true;
        }
        finally { m.Lock.Exit(); }
        int c = mp.Vfs.CloseMountDevice(m.Dev);
        return force ? 0 : e != 0 ? e : c;
    }
}
