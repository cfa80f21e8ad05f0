using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Tmpfs;

/// <summary>
/// tmpfs's file system operations (NetBSD tmpfs_vfsops.c): mount from struct tmpfs_args, statvfs from
/// the mount's accounting, unmount returning every page to Kmem.
/// </summary>
public sealed class TmpfsVfsOps : VfsOps
{
    /// <summary>Smallest size limit: a mount always holds a few pages.</summary>
    private const long MinPages = 4;
    /// <summary>Free pages and nodes reported when nothing limits them ("plenty", as NetBSD reports for unlimited mounts).</summary>
    private const long UnlimitedFreePages = 1L << 30;
    private const long UnlimitedFreeNodes = 1L << 31;

    private readonly TmpfsVnodeOps _vops = new();

    public override string Name => "tmpfs";
    public override int ArgsSize => Unsafe.SizeOf<RumpTmpfsArgs>();

    public override int Mount(Mount mp, ReadOnlySpan<byte> args, Lwp l)
    {
        long pagesMax = long.MaxValue, nodesMax = long.MaxValue;
        uint uid = 0, gid = 0, mode = 0x1ed; // 0755: the root file system is mounted with no arguments
        if (args.Length != 0)
        {
            if (args.Length < ArgsSize) return Abi.EINVAL;
            RumpTmpfsArgs ta = MemoryMarshal.Read<RumpTmpfsArgs>(args);
            if (ta.ta_version != Abi.TMPFS_ARGS_VERSION) return Abi.EINVAL;
            if (ta.ta_size_max < 0) return Abi.EINVAL;
            if (ta.ta_size_max > 0)
            {
                // Rounded up to whole pages without overflowing near long.MaxValue.
                long pages = (ta.ta_size_max >> TmpfsMount.PageShift) + ((ta.ta_size_max & (TmpfsMount.PageSize - 1)) != 0 ? 1 : 0);
                pagesMax = Math.Max(pages, MinPages);
            }
            // The root counts against the node limit, as in NetBSD.
            if (ta.ta_nodes_max != 0) nodesMax = ta.ta_nodes_max > long.MaxValue ? long.MaxValue : (long)ta.ta_nodes_max;
            uid = ta.ta_root_uid;
            gid = ta.ta_root_gid;
            mode = ta.ta_root_mode & 0xfff;
        }
        var tm = new TmpfsMount(mp, _vops, pagesMax, nodesMax);
        tm.NsLock.EnterWrite();
        TmpfsNode root = tm.AllocNodeLocked(VType.VDIR, mode, uid, gid, 0, Clock.Now())!;
        root.Parent = root;
        root.Nlink = 2;
        tm.Root = root;
        tm.NsLock.Exit();
        mp.Data = tm;
        int e = mp.Vfs.Vcache.Get(mp, root.Id, root, out Vnode? vp);
        if (e != 0) return e;
        mp.SetRoot(vp!);
        return 0;
    }

    /// <summary>Attaches a vnode to the live node numbered <paramref name="key"/>; ENOENT once it is freed.</summary>
    public override int LoadVnode(Mount mp, Vnode vp, ulong key, object? hint)
    {
        var tm = (TmpfsMount)mp.Data!;
        tm.NsLock.EnterRead();
        TmpfsNode? n = tm.FindLocked(key);
        if (n != null)
        {
            // Only this load touches the field now: the cache loads a key once at a time, and
            // removal (which reads it) takes the lock exclusive.
            n.Vnode = vp;
            vp.Init(n.Type, tm.Ops, n);
        }
        tm.NsLock.Exit();
        return n == null ? Abi.ENOENT : 0;
    }

    public override int Statvfs(Mount mp, ref RumpStatvfs sv)
    {
        var tm = (TmpfsMount)mp.Data!;
        Kmem km = tm.Kernel.Kmem;
        sv.f_bsize = sv.f_frsize = sv.f_iosize = TmpfsMount.PageSize;

        // Free space is what both the mount's limit and kernel memory still allow.
        long used = tm.PagesUsed;
        long kfree = km.Limit == long.MaxValue ? UnlimitedFreePages : Math.Max(0, (km.Limit - km.InUse) / TmpfsMount.PageSize);
        long free = tm.PagesMax == long.MaxValue ? kfree : Math.Min(Math.Max(0, tm.PagesMax - used), kfree);
        long total = tm.PagesMax == long.MaxValue ? used + free : tm.PagesMax;
        sv.f_blocks = (ulong)total;
        sv.f_bfree = sv.f_bavail = (ulong)free;
        sv.f_bresvd = 0;

        long nused = tm.NodesUsed;
        long nfree = tm.NodesMax == long.MaxValue ? UnlimitedFreeNodes : Math.Max(0, tm.NodesMax - nused);
        sv.f_files = (ulong)(tm.NodesMax == long.MaxValue ? nused + nfree : tm.NodesMax);
        sv.f_ffree = sv.f_favail = (ulong)nfree;
        sv.f_fresvd = 0;
        sv.f_namemax = (ulong)Abi.NAME_MAX;
        return 0;
    }

    public override int Sync(Mount mp, bool wait, Lwp l) => 0;

    public override int Unmount(Mount mp, bool force, Lwp l)
    {
        var tm = (TmpfsMount)mp.Data!;
        // The vnodes are gone (vnodes still referenced after a forced unmount are dead): free every node.
        tm.NsLock.EnterWrite();
        tm.FreeAllLocked();
        tm.NsLock.Exit();
        return 0;
    }
}
