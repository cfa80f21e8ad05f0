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
    /// <summary>Free pages reported when nothing limits them ("plenty", as NetBSD reports for unlimited mounts).</summary>
    private const long UnlimitedFreePages = 1L << 30;

    private readonly TmpfsVnodeOps _vops = new();

    public override string Name => "tmpfs";
    public override int ArgsSize => Unsafe.SizeOf<RumpTmpfsArgs>();

    public override int Mount(Mount mp, ReadOnlySpan<byte> args, Lwp l)
    {
        long memLimit = long.MaxValue;
        ulong nodesArg = 0;
        uint uid = 0, gid = 0, mode = 0x1ed; // 0755: the root file system is mounted with no arguments
        // The kernel mounts the root file system at boot, before there is a root, without
        // arguments. mount(2) must pass the whole tmpfs_args: NetBSD's tmpfs_mount refuses NULL
        // data and a shorter length with EINVAL.
        bool bootRoot = args.Length == 0 && (object?)mp.Vfs.RootVnode == null;
        if (!bootRoot)
        {
            if (args.Length < ArgsSize) return Abi.EINVAL;
            RumpTmpfsArgs ta = MemoryMarshal.Read<RumpTmpfsArgs>(args);
            if (ta.ta_version != Abi.TMPFS_ARGS_VERSION) return Abi.EINVAL;
            if (ta.ta_size_max < 0) return Abi.EINVAL;
            if (ta.ta_size_max > 0)
            {
                // Rounded up to whole pages without overflowing near long.MaxValue.
                long pages = (ta.ta_size_max >> TmpfsMount.PageShift) + ((ta.ta_size_max & (TmpfsMount.PageSize - 1)) != 0 ? 1 : 0);
                memLimit = Math.Max(pages, MinPages) << TmpfsMount.PageShift;
            }
            nodesArg = ta.ta_nodes_max;
            uid = ta.ta_root_uid;
            gid = ta.ta_root_gid;
            mode = ta.ta_root_mode & 0xfff;
        }
        // The root counts against the node limit; none given (3 or less) means one node per KiB, as NetBSD.
        long nodesMax = nodesArg > 3 ? (long)Math.Min(nodesArg, int.MaxValue) : Math.Min(3 + memLimit / 1024, int.MaxValue);
        var tm = new TmpfsMount(mp, _vops, memLimit, nodesMax);
        tm.NsLock.EnterWrite();
        TmpfsNode? root = tm.AllocNodeLocked(VType.VDIR, mode, uid, gid, 0, Clock.Now());
        if (root == null) { tm.NsLock.Exit(); return Abi.ENOMEM; } // no kernel memory left even for the root
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
        sv.f_bsize = sv.f_frsize = sv.f_iosize = TmpfsMount.PageSize;

        // As NetBSD tmpfs_statvfs: what the mount may hold now (its limit or what kernel memory
        // allows), in pages, with metadata counted; free nodes are what both the node limit and
        // the free space allow.
        long used = tm.BytesUsed;
        long max = tm.BytesMax;
        if (max == long.MaxValue) max = used + (UnlimitedFreePages << TmpfsMount.PageShift);
        long avail = Math.Max(0, max - used) >> TmpfsMount.PageShift;
        sv.f_blocks = (ulong)(max >> TmpfsMount.PageShift);
        sv.f_bfree = sv.f_bavail = (ulong)avail;
        sv.f_bresvd = 0;

        long nused = tm.NodesUsed;
        long nfree = Math.Min(Math.Max(0, tm.NodesMax - nused), (avail << TmpfsMount.PageShift) / TmpfsMount.NodeCost);
        sv.f_files = (ulong)(nused + nfree);
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
