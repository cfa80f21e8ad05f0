using System;
using System.Runtime.CompilerServices;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Ext2fs;

/// <summary>
/// ext2fs's file system operations (NetBSD ext2fs_vfsops.c): mount from struct ufs_args (just
/// fspec), statvfs from the superblock counts, sync and unmount writing back inodes, descriptors
/// and the superblock. A writable mount marks the file system not clean on disk until unmount.
/// </summary>
public sealed class Ext2VfsOps : VfsOps
{
    private readonly Ext2VnodeOps _vops = new();

    public override string Name => "ext2fs";
    public override int ArgsSize => Unsafe.SizeOf<RumpUfsArgs>();

    /// <summary>An ext2/3/4 superblock (magic 0xEF53) that parses, 1024 bytes into the device.</summary>
    public override bool Probe(ReadOnlySpan<byte> head)
        => head.Length >= 1024 + Wire.Superblock.Size && Wire.Superblock.Parse(head.Slice(1024), long.MaxValue, out _) == 0;

    public override int Mount(Mount mp, ReadOnlySpan<byte> args, Lwp l)
    {
        // NetBSD's ext2fs_mount: NULL data or a data_len shorter than struct ufs_args is EINVAL, first.
        if (args.Length < ArgsSize) return Abi.EINVAL;
        if ((mp.Flags & Abi.MNT_UPDATE) != 0) return Abi.EOPNOTSUPP;
        int e = mp.Vfs.OpenMountDevice(l, args, mp, out BlockDevice? dev);
        if (e != 0) return e;
        e = Ext2Fs.Open(mp, dev!, _vops, out Ext2Fs? fs);
        Vnode? root = null;
        if (e == 0)
        {
            mp.Data = fs;
            e = mp.Vfs.Vcache.Get(mp, Ext2Fs.RootIno, null, out root);
            if (e == 0 && root!.Type != VType.VDIR) e = Abi.EINVAL;
            if (e == 0 && fs!.Writable)
            {
                // Not clean until unmount: a crash leaves it for fsck.
                fs.FsLock.EnterWrite();
                fs.Sb.State = (ushort)(fs.Sb.State & ~Wire.Superblock.StateValid);
                fs.Sb.MntCount++;
                fs.Sb.Mtime = (uint)Clock.Now().tv_sec;
                e = fs.WriteSuperblock(now: true);
                fs.FsLock.Exit();
            }
            if (e == 0)
            {
                mp.SetRoot(root!);
                return 0;
            }
        }
        // The VFS reclaims what was loaded of a failed mount.
        root?.Rele();
        mp.Vfs.CloseMountDevice(dev!);
        return e;
    }

    /// <summary>Reads inode <paramref name="key"/> from the inode table into the vnode's node.</summary>
    public override int LoadVnode(Mount mp, Vnode vp, ulong key, object? hint)
    {
        var fs = (Ext2Fs)mp.Data!;
        fs.FsLock.EnterRead();
        int e = fs.ReadNode((uint)key, out Ext2Node? n);
        fs.FsLock.Exit();
        if (e != 0) return e;
        vp.Init(n!.Type, fs.Ops, n);
        return 0;
    }

    /// <summary>A number that cannot name a file is stale (as NetBSD ext2fs_vget), not a corrupt entry.</summary>
    public override int Vget(Mount mp, ulong ino, out Vnode? vp)
    {
        vp = null;
        return ((Ext2Fs)mp.Data!).ValidIno(ino) ? base.Vget(mp, ino, out vp) : Abi.ESTALE;
    }

    public override int Statvfs(Mount mp, ref RumpStatvfs sv)
    {
        var fs = (Ext2Fs)mp.Data!;
        fs.FsLock.EnterRead();
        Wire.Superblock sb = fs.Sb;
        sv.f_bsize = sv.f_frsize = sv.f_iosize = (ulong)fs.Bs;
        sv.f_blocks = sb.BlocksCount - sb.FirstDataBlock;
        sv.f_bfree = sb.FreeBlocksCount;
        sv.f_bavail = sb.FreeBlocksCount > sb.RBlocksCount ? sb.FreeBlocksCount - sb.RBlocksCount : 0;
        sv.f_bresvd = sb.RBlocksCount;
        sv.f_files = sb.InodesCount;
        sv.f_ffree = sv.f_favail = sb.FreeInodesCount;
        sv.f_fresvd = 0;
        sv.f_namemax = Wire.DirEntry.MaxNameLen;
        fs.FsLock.Exit();
        return 0;
    }

    public override int Sync(Mount mp, bool wait, Lwp l)
    {
        var fs = (Ext2Fs)mp.Data!;
        if (!fs.Writable) return 0;
        fs.FsLock.EnterWrite();
        int e = Ext2VnodeOps.WriteBackLocked(fs);
        fs.FsLock.Exit();
        int f = fs.Bc.Flush(fs.Dev);
        return e != 0 ? e : f;
    }

    public override int Unmount(Mount mp, bool force, Lwp l)
    {
        var fs = (Ext2Fs)mp.Data!;
        int e = 0;
        if (fs.Writable)
        {
            // Files removed while open were freed as their vnodes were reclaimed, before this.
            fs.FsLock.EnterWrite();
            fs.Sb.State |= Wire.Superblock.StateValid;
            e = Ext2VnodeOps.WriteBackLocked(fs);
            fs.FsLock.Exit();
            if (e != 0 && !force) return e;
        }
        // Past this point the mount goes away whatever happens; a failed final flush is not reported
        // as a busy mount would be (the device is released either way).
        mp.Vfs.CloseMountDevice(fs.Dev);
        return 0;
    }
}
