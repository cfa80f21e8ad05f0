using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A mounted file system (NetBSD struct mount). <see cref="Root"/> is referenced by the mount;
/// <see cref="Covered"/>, the directory it is mounted on, is referenced too (null for the root file
/// system). Its vnodes are in <see cref="Vnodes"/>, the vnode cache's table for it.
///
/// Busy (NetBSD vfs_busy/vfs_unbusy): every operation that runs file-system code on this mount —
/// a path lookup while it walks here or crosses into it, each vnode operation of the system calls
/// (<see cref="Vop"/>), VOP_INACTIVE, statvfs and sync — holds the mount busy for its duration.
/// The count is per virtual CPU (one cache line each; a lwp may finish on another CPU than it
/// started on, which only the sum has to survive). The lwp holding a CPU owns its slot, so the add is
/// a plain one on a line no one else writes (as the scheduler's per-CPU counters are); callers
/// without a CPU share one last slot with interlocked adds. The root file system is never unmounted and is not
/// counted at all. Unmount (<see cref="BeginUnmount"/>) marks the mount, waits until the count is
/// zero, and from then on new operations wait for its outcome: ENOENT once it is gone, or they go
/// ahead if it failed. So an unmount never runs alongside file-system code, and vnodes still
/// referenced after a forced one are dead (their operations fail).
///
/// Locks: <see cref="_ulock"/> (a mutex, after every other VFS lock) protects the unmount state's
/// changes and the waits on <see cref="_ucv"/>; the busy count and <see cref="_state"/> are
/// read without it. Busy stores its count and then reads the flag; the unmount writes the flag and
/// then runs a process-wide barrier (membarrier) before summing the counts, which orders every
/// other CPU's store before its load: either the operation sees the mark or the unmount sees the
/// operation. The rare unmount pays for the barrier, so the common operation needs no fence.
/// </summary>
public sealed class Mount
{
    public readonly Vfs Vfs;
    public readonly VfsOps Ops;
    public string FsType => Ops.Name;
    public Vnode Root { get; private set; } = null!;
    public Vnode? Covered { get; internal set; }
    public int Flags;
    public string MountedOn = "/";
    public string MountedFrom;
    public readonly ulong Fsid;
    /// <summary>The file system's per-mount state.</summary>
    public object? Data;
    /// <summary>This mount's vnodes by key (the vnode cache's, under its lock).</summary>
    internal readonly Dictionary<ulong, Vnode> Vnodes = new();
    /// <summary>Keys chosen by a VFS_NEWVNODE whose vnode is not in <see cref="Vnodes"/> yet, with how many (the vnode cache's, under its lock).</summary>
    internal readonly Dictionary<ulong, int> Creating = new();
    /// <summary>Flushed by unmount: no more vnodes are loaded (under the vnode cache's lock).</summary>
    internal bool Gone;
    /// <summary>The root file system: never unmounted, so its operations are not counted.</summary>
    internal bool IsRootFs;

    /// <summary>Per-CPU busy counts, one cache line apart; the last slot is for callers without a CPU.</summary>
    private readonly long[] _busy;
    private const int Stride = 8;
    /// <summary>
    /// <see cref="StUnmounting"/>: new operations wait for the outcome. <see cref="StDead"/>: unmounted,
    /// operations fail (ENOENT). Zero for a mount in use, so the busy fast path is one test. Written
    /// under <see cref="_ulock"/>.
    /// </summary>
    private volatile int _state;
    private const int StUnmounting = 1, StDead = 2;
    private readonly Kernel _kernel;
    private readonly KMutex _ulock;
    private readonly KCondvar _ucv;

    internal Mount(Vfs vfs, VfsOps ops, int flags, string from, ulong fsid)
    {
        Vfs = vfs; Ops = ops; Flags = flags; MountedFrom = from; Fsid = fsid;
        // One cache line per slot, and none in the array header's line (slot i lives at (i+1)*Stride).
        _kernel = vfs.Kernel;
        _busy = new long[(vfs.Kernel.Sched.Ncpu + 2) * Stride];
        _ulock = new KMutex(vfs.Kernel);
        _ucv = new KCondvar(vfs.Kernel);
    }

    public bool ReadOnly => (Flags & Abi.MNT_RDONLY) != 0;

    /// <summary>Called by the file system's mount routine with its (referenced) root vnode, and again if an unmount fails after flushing.</summary>
    public void SetRoot(Vnode root) => Root = root;

    // ---- Busy -------------------------------------------------------------------------------

    /// <summary>
    /// The count slot of the CPU <paramref name="l"/> holds, which only it writes (a plain add),
    /// or false for callers without a CPU of this kernel (they share the last slot, interlocked).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool OwnSlot(Lwp? l, out int i)
    {
        i = l != null ? l.CpuIdx : -1;
        if (i < 0 || l!.Kernel != _kernel) return false;
        i = (i + 1) * Stride;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Add(Lwp? l, long d)
    {
        if (OwnSlot(l, out int i))
        {
            // CpuIdx is below Ncpu, so the slot is inside the array.
            ref long c = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_busy), i);
            Volatile.Write(ref c, c + d);
        }
        else Interlocked.Add(ref _busy[_busy.Length - Stride], d);
    }

    /// <summary>Operations in progress (summed over CPUs).</summary>
    public long BusyCount
    {
        get
        {
            long n = 0;
            for (int i = Stride; i < _busy.Length; i += Stride) n += Volatile.Read(ref _busy[i]);
            return n;
        }
    }

    /// <summary>
    /// Marks an operation on this mount in progress (NetBSD vfs_busy). While an unmount is under
    /// way it waits for the outcome: ENOENT if the mount went (and at once on a mount already gone),
    /// else it proceeds. Pair a success with <see cref="Unbusy"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Busy(Lwp? l)
    {
        if (IsRootFs) return 0;
        Add(l, 1);
        return _state == 0 ? 0 : BusyContended(l);
    }

    /// <summary>Busy met an unmount under way or over: back out, then wait for its outcome and retry.</summary>
    private int BusyContended(Lwp? l)
    {
        while (true)
        {
            int st = _state;
            if (st == 0) return 0;
            UnbusyCounted(l);
            // Gone already (a lookup that read the mount point before the unmount ended).
            if ((st & StDead) != 0) return Abi.ENOENT;
            _ulock.Enter();
            while ((_state & StUnmounting) != 0) _ucv.Wait(_ulock);
            _ulock.Exit();
            if ((_state & StDead) != 0) return Abi.ENOENT;
            Add(l, 1);
        }
    }

    /// <summary>Ends an operation begun with <see cref="Busy"/> (NetBSD vfs_unbusy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Unbusy(Lwp? l)
    {
        if (!IsRootFs) UnbusyCounted(l);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void UnbusyCounted(Lwp? l)
    {
        Add(l, -1);
        if ((_state & StUnmounting) != 0) WakeUnmount();
    }

    /// <summary>The unmount waits for the count to reach zero.</summary>
    private void WakeUnmount()
    {
        _ulock.Enter();
        _ucv.Broadcast();
        _ulock.Exit();
    }

    /// <summary>VOP_INACTIVE is about to run on a vnode of this mount: false (skip it) while an unmount is under way. Always pair with <see cref="ExitInactive"/>.</summary>
    internal bool EnterInactive(Lwp? l)
    {
        if (IsRootFs) return true;
        Add(l, 1);
        return (_state & StUnmounting) == 0;
    }

    internal void ExitInactive(Lwp? l) => Unbusy(l);

    /// <summary>An unmount is under way (between <see cref="BeginUnmount"/> and <see cref="EndUnmount"/>).</summary>
    public bool Unmounting => (_state & StUnmounting) != 0;

    /// <summary>
    /// Unmount starts: new operations wait, and this returns once none is in progress. The caller
    /// holds no busy count on this mount. Pair with <see cref="EndUnmount"/>.
    /// </summary>
    internal void BeginUnmount()
    {
        _ulock.Enter();
        _state |= StUnmounting;
        // Every CPU's busy add before this is now visible here, and every one after it sees the mark.
        Interlocked.MemoryBarrierProcessWide();
        while (BusyCount != 0) _ucv.Wait(_ulock);
        _ulock.Exit();
    }

    /// <summary>Unmount is over: <paramref name="gone"/>, or it failed and operations go ahead.</summary>
    internal void EndUnmount(bool gone)
    {
        _ulock.Enter();
        _state = gone ? StDead : 0;
        _ucv.Broadcast();
        _ulock.Exit();
    }
}

/// <summary>
/// A file system type (NetBSD struct vfsops). Registered with <see cref="Vfs.RegisterFs"/> under
/// its NetBSD name; <see cref="Mount"/> parses the file system's mount-argument structure, copied
/// in from the caller as bytes.
/// </summary>
public abstract class VfsOps
{
    public abstract string Name { get; }
    /// <summary>Set up <paramref name="mp"/> (Data, root vnode via SetRoot) from the mount arguments.</summary>
    public abstract int Mount(Mount mp, System.ReadOnlySpan<byte> args, Lwp l);
    /// <summary>Fill the file-system part of statvfs (sizes, counts); the VFS fills names and flags.</summary>
    public abstract int Statvfs(Mount mp, ref RumpStatvfs sv);
    public virtual int Sync(Mount mp, bool wait, Lwp l) => 0;
    /// <summary>
    /// Release the file system. The VFS has reclaimed every vnode of it first (with
    /// <paramref name="force"/>, referenced ones too); an error leaves it mounted.
    /// </summary>
    public virtual int Unmount(Mount mp, bool force, Lwp l) => 0;

    /// <summary>
    /// VFS_LOADVNODE: make <paramref name="vp"/> (Loading, under <paramref name="key"/>) the vnode of
    /// that file, through <see cref="Vnode.Init"/>. <paramref name="hint"/> is what the caller of
    /// <see cref="VnodeCache.Get"/> already knew (a node, a directory entry), or null: a bare key
    /// must work too (<see cref="Vget"/>). Check the file still exists: ENOENT if not, EIO/ESTALE
    /// for a key that names no file.
    /// </summary>
    public abstract int LoadVnode(Mount mp, Vnode vp, ulong key, object? hint);

    /// <summary>
    /// VFS_VGET: the referenced vnode of inode (node) number <paramref name="ino"/>, through the
    /// vnode cache — the same vnode a path lookup gives. File systems whose numbers are not keys
    /// override it.
    /// </summary>
    public virtual int Vget(Mount mp, ulong ino, out Vnode? vp) => mp.Vfs.Vcache.Get(mp, ino, null, out vp);
    /// <summary>Length of the mount-argument structure this file system reads (0: none).</summary>
    public virtual int ArgsSize => 0;

    /// <summary>
    /// Does <paramref name="head"/>, the first <see cref="Vfs.ProbeBytes"/> bytes of a device (fewer
    /// if the device is smaller), hold this file system? Pure and cheap: a superblock check, no
    /// mount. Disk file systems override it so that images can be mounted without naming the type.
    /// </summary>
    public virtual bool Probe(System.ReadOnlySpan<byte> head) => false;

    /// <summary>
    /// Names that differ only in case are the same name (FAT). The VFS then passes a rename from
    /// one spelling to another of the same file to the file system instead of treating it as a no-op.
    /// </summary>
    public virtual bool CaseInsensitive => false;

    /// <summary>What a probe says was found when no file system claims a device (e.g. "an MBR partition table").</summary>
    public virtual string? Describe(System.ReadOnlySpan<byte> head) => null;
}
