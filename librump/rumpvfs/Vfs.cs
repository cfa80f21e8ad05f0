using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// The VFS faction of one kernel instance: file system types, the mount table, the root
/// directory, the name cache and the per-process directories.
///
/// Locks, in order: <see cref="RenameLock"/> (held across a whole rename) → <see cref="MountLock"/>
/// (mount table, covered vnodes' MountedHere; writers are mount/unmount) → file-system locks →
/// <see cref="NameCache"/>'s lock → <see cref="Vcache"/>'s lock. Each mount's unmount-state lock
/// (<see cref="Mount.Busy"/>) is a leaf too. Namei holds none of them between components; it holds
/// the mount it walks in busy. References and vnode lifetime: see <see cref="Vnode"/> and
/// <see cref="VnodeCache"/>; operations against unmount: see <see cref="Mount"/>.
/// </summary>
public sealed partial class Vfs : IProcHooks
{
    public readonly Kernel Kernel;
    public readonly NameCache Cache;
    /// <summary>Every vnode of every mount of this kernel.</summary>
    public readonly VnodeCache Vcache;
    internal readonly KRwLock MountLock;
    /// <summary>Serialises renames (NetBSD's vfs_rename_lock) so tree-shape checks stay valid.</summary>
    internal readonly KMutex RenameLock;
    /// <summary>Protects every vnode's <see cref="Vnode.Fifo"/> and <see cref="Vnode.FifoFiles"/> (Spec/FifoFs.cs); a leaf.</summary>
    internal readonly KMutex FifoLock;
    /// <summary>Address space for I/O into kernel buffers (symlink targets, getcwd's directory scans).</summary>
    internal readonly Vmspace KernelVm = new LocalVmspace();
    /// <summary>Block devices by number.</summary>
    public readonly Devsw Devices;
    /// <summary>The buffer cache every disk file system of this kernel shares.</summary>
    public readonly BufCache BufCache;
    /// <summary>Default bound of the buffer cache (the RUMP_BUFCACHE parameter overrides it later).</summary>
    public const long DefaultBufCacheBytes = 32L << 20;
    private readonly Dictionary<string, VfsOps> _fsTypes = new();
    private readonly List<Mount> _mounts = new();
    private readonly ProcSpecificKey _cwdKey;
    private ulong _nextFsid = 1;
    /// <summary>The root directory of the whole namespace (referenced).</summary>
    public Vnode RootVnode { get; private set; } = null!;

    internal Vfs(Kernel k)
    {
        Kernel = k;
        Cache = new NameCache(k);
        Vcache = new VnodeCache(this);
        MountLock = new KRwLock(k);
        RenameLock = new KMutex(k);
        FifoLock = new KMutex(k);
        Devices = new Devsw(k);
        _etfsLock = new KMutex(k);
        BufCache = new BufCache(k, DefaultBufCacheBytes);
        _cwdKey = k.CreateProcSpecificKey();
        k.AddProcHooks(this);
    }

    /// <summary>Bytes of file-system metadata charged with <see cref="ChargeMemory"/> (also counted in Kmem).</summary>
    private long _charged;

    /// <summary>
    /// Charges <paramref name="bytes"/> of in-memory file-system metadata (tmpfs nodes, entries,
    /// names) to the kernel's memory account (Kmem.Charge, under RUMP_MEMLIMIT with every buffer):
    /// false, and nothing charged, if that would pass the limit.
    /// </summary>
    public bool ChargeMemory(long bytes)
    {
        if (!Kernel.Kmem.Charge(bytes)) return false;
        Interlocked.Add(ref _charged, bytes);
        return true;
    }

    public void UnchargeMemory(long bytes)
    {
        Interlocked.Add(ref _charged, -bytes);
        Kernel.Kmem.Uncharge(bytes);
    }

    /// <summary>Metadata bytes charged (<see cref="ChargeMemory"/>).</summary>
    public long ChargedMemory => Volatile.Read(ref _charged);

    /// <summary>Kernel memory left under the limit for buffers and metadata together (long.MaxValue: no limit).</summary>
    public long MemoryFree => Kernel.Kmem.Available;

    public void RegisterFs(VfsOps ops) => _fsTypes[ops.Name] = ops;
    public VfsOps? FindFs(string name) => _fsTypes.TryGetValue(name, out VfsOps? o) ? o : null;
    public IEnumerable<string> FsTypes => _fsTypes.Keys;

    /// <summary>Mounts the root file system: tmpfs when linked in (files can be made anywhere), else rumpfs.</summary>
    internal void MountRoot(Lwp l)
    {
        VfsOps ops = FindFs("tmpfs") ?? FindFs("rumpfs")!;
        var mp = new Mount(this, ops, 0, ops.Name, _nextFsid++);
        int e = ops.Mount(mp, ReadOnlySpan<byte>.Empty, l);
        if (e != 0) Kernel.Panic("cannot mount the root file system (" + ops.Name + "): error " + e);
        mp.IsRootFs = true;
        _mounts.Add(mp);
        RootVnode = mp.Root.Ref();
        // The kernel and default processes start at the root.
        foreach (Proc p in new[] { Kernel.Proc0, Kernel.DefaultProc })
            p.SetSpecific(_cwdKey, new CwdInfo(RootVnode.Ref(), RootVnode.Ref()));
    }

    public CwdInfo Cwd(Proc p) => (CwdInfo)p.GetSpecific(_cwdKey)!;

    void IProcHooks.Fork(Proc parent, Proc child, int flags)
    {
        CwdInfo c = Cwd(parent);
        c.Lock.Enter();
        var n = new CwdInfo(c.Cdir.Ref(), c.Rdir.Ref());
        c.Lock.Exit();
        child.SetSpecific(_cwdKey, n);
    }

    void IProcHooks.Exit(Proc p)
    {
        if (p.GetSpecific(_cwdKey) is CwdInfo c)
        {
            c.Cdir.Rele();
            c.Rdir.Rele();
            p.SetSpecific(_cwdKey, null);
        }
    }

    public IReadOnlyList<Mount> Mounts => _mounts;

    /// <summary>
    /// Mounts a file system of type <paramref name="fstype"/> on directory <paramref name="covered"/>
    /// (referenced by the caller; the mount takes its own reference on success).
    /// </summary>
    public int DoMount(Lwp l, string fstype, Vnode covered, string path, int flags, ReadOnlySpan<byte> args, string from)
    {
        VfsOps? ops = FindFs(fstype);
        if (ops == null) return Abi.ENODEV;
        if (covered.Type != VType.VDIR) return Abi.ENOTDIR;
        MountLock.EnterWrite();
        try
        {
            if (covered.MountedHere != null) return Abi.EBUSY;
            var mp = new Mount(this, ops, flags & (Abi.MNT_RDONLY | Abi.MNT_NOEXEC | Abi.MNT_NOSUID | Abi.MNT_NODEV | Abi.MNT_SYNCHRONOUS | Abi.MNT_ASYNC | Abi.MNT_NOATIME), from, _nextFsid++)
            {
                MountedOn = path,
            };
            int e = ops.Mount(mp, args, l);
            if (e != 0)
            {
                // Vnodes a failed mount loaded (and released) go now.
                Vcache.Flush(mp, force: true);
                return e;
            }
            mp.Covered = covered.Ref();
            covered.MountedHere = mp;
            _mounts.Add(mp);
            Cache.PurgeDir(covered);
            return 0;
        }
        finally { MountLock.Exit(); }
    }

    /// <summary>
    /// Unmounts <paramref name="mp"/> (NetBSD dounmount): EBUSY while a file system is mounted
    /// below it or (without MNT_FORCE) any of its vnodes is referenced — open files, current
    /// directories, lookups in progress. The file system is synced, its vnodes are reclaimed
    /// (<see cref="VnodeCache.Flush"/>), then it is released. A forced unmount goes ahead
    /// regardless; vnodes still referenced become dead.
    /// </summary>
    public int DoUnmount(Lwp l, Mount mp, int flags)
    {
        bool force = (flags & Abi.MNT_FORCE) != 0;
        MountLock.EnterWrite();
        try
        {
            if (mp.Covered == null) return Abi.EINVAL; // the root file system stays
            foreach (Mount m in _mounts)
                if (m.Covered != null && m.Covered.Mount == mp) return Abi.EBUSY;
            Vnode covered = mp.Covered;
            // From here no file-system code runs on the mount but ours: operations in progress
            // have finished, new ones wait for the outcome (their lookups hold no mount lock).
            mp.BeginUnmount();
            bool gone = false;
            try
            {
                int e = mp.Ops.Sync(mp, true, l);
                if (e == 0 || force) e = Vcache.Flush(mp, force);
                if (e == 0)
                {
                    e = mp.Ops.Unmount(mp, force, l);
                    if (e != 0)
                    {
                        // The file system stays: it gets a root vnode again.
                        Vcache.Revive(mp);
                        if (Vcache.Get(mp, mp.Root.Key, null, out Vnode? root) == 0) { mp.Root.Rele(); mp.SetRoot(root!); }
                        else Kernel.Panic("unmount failed and the root of " + mp.FsType + " cannot be loaded again");
                    }
                }
                if (e != 0) return e;
                covered.MountedHere = null;
                _mounts.Remove(mp);
                Cache.PurgeMount(mp);
                Cache.PurgeDir(covered);
                mp.Root.Rele();
                mp.Covered = null;
                covered.Rele();
                gone = true;
                return 0;
            }
            finally { mp.EndUnmount(gone); }
        }
        finally { MountLock.Exit(); }
    }

    /// <summary>sync(2) and reboot: flush every mounted file system.</summary>
    public void SyncAll(Lwp l, bool wait)
    {
        MountLock.EnterRead();
        Mount[] ms = _mounts.ToArray();
        MountLock.Exit();
        foreach (Mount m in ms)
            if (!m.ReadOnly) Vop.Sync(l, m, wait);
    }

    /// <summary>Unmounts everything at halt, innermost first.</summary>
    internal void UnmountAll(Lwp l)
    {
        for (int i = _mounts.Count - 1; i >= 0; i--)
        {
            Mount m = _mounts[i];
            if (m.Covered == null) continue;
            DoUnmount(l, m, Abi.MNT_FORCE);
        }
    }
}

/// <summary>
/// A process's current and root directories (NetBSD struct cwdinfo), each referenced.
/// <see cref="Lock"/> protects both fields.
/// </summary>
public sealed class CwdInfo
{
    public Vnode Cdir;
    public readonly Vnode Rdir;
    internal readonly KMutex Lock;

    internal CwdInfo(Vnode cdir, Vnode rdir)
    {
        Cdir = cdir; Rdir = rdir;
        Lock = new KMutex(cdir.Mount.Vfs.Kernel);
    }

    /// <summary>The current directory, referenced for the caller.</summary>
    public Vnode GetCdir() { Lock.Enter(); Vnode v = Cdir.Ref(); Lock.Exit(); return v; }

    /// <summary>
    /// The root directory, referenced for the caller. No lock: there is no chroot, so a process's
    /// root never changes after the process is made (and this object holds a reference to it).
    /// </summary>
    public Vnode GetRdir() => Rdir.Ref();

    /// <summary>Replaces the current directory with <paramref name="vp"/> (whose reference is given to this).</summary>
    public void SetCdir(Vnode vp)
    {
        Lock.Enter();
        Vnode old = Cdir;
        Cdir = vp;
        Lock.Exit();
        old.Rele();
    }
}
