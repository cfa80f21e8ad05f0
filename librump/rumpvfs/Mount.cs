using System.Threading;
using Rump.Kern;

namespace Rump.Vfs;

/// <summary>
/// A mounted file system (NetBSD struct mount). <see cref="Root"/> is referenced by the mount;
/// <see cref="Covered"/>, the directory it is mounted on, is referenced too (null for the root file
/// system). <see cref="Users"/> counts the open files and current directories on it: unmount is
/// busy while there are any. The count is kept per virtual CPU (NetBSD's percpu counters): opening
/// and closing files on several CPUs then touches no shared cache line.
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
    internal bool Unmounting;
    /// <summary>Per-CPU user counts, one cache line apart; the last slot is for callers without a CPU (atomic).</summary>
    private readonly long[] _users;
    private const int Stride = 8;

    internal Mount(Vfs vfs, VfsOps ops, int flags, string from, ulong fsid)
    {
        Vfs = vfs; Ops = ops; Flags = flags; MountedFrom = from; Fsid = fsid;
        // One cache line per slot, and none in the array header's line (slot i lives at (i+1)*Stride).
        _users = new long[(vfs.Kernel.Sched.Ncpu + 2) * Stride];
    }

    /// <summary>An open file or a current directory on this mount appears (+1) or goes (-1).</summary>
    public void AdjustUsers(Lwp? l, int delta)
    {
        int i = l != null && l.Kernel == Vfs.Kernel ? l.CpuIdx : -1;
        // Only the lwp holding CPU i writes slot i, so a plain update is exact there.
        if (i >= 0) _users[(i + 1) * Stride] += delta;
        else Interlocked.Add(ref _users[(_users.Length / Stride - 1) * Stride], delta);
    }

    /// <summary>Open files and current directories on this mount (summed over CPUs).</summary>
    public long Users
    {
        get
        {
            long n = 0;
            for (int i = Stride; i < _users.Length; i += Stride) n += Volatile.Read(ref _users[i]);
            return n;
        }
    }

    public bool ReadOnly => (Flags & Abi.MNT_RDONLY) != 0;

    /// <summary>Called once by the file system's mount routine with its (referenced) root vnode.</summary>
    public void SetRoot(Vnode root) => Root = root;

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
    /// <summary>Release the file system; the VFS has checked that it is not busy.</summary>
    public virtual int Unmount(Mount mp, bool force, Lwp l) => 0;
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
