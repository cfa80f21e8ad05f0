using System.Threading;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Tmpfs;

/// <summary>
/// One file of a tmpfs (NetBSD struct tmpfs_node). Which lock protects each field is said on it;
/// the order and the lifetime rules are in <see cref="TmpfsMount"/>.
/// </summary>
internal sealed class TmpfsNode
{
    public readonly TmpfsMount Tm;
    public readonly VType Type;
    public readonly ulong Id;
    public readonly uint Gen;
    public readonly KRwLock Lock;
    public readonly KMutex TimeLock;

    // Under Lock.
    public uint Mode;
    public uint Uid, Gid;
    public uint Flags;
    public readonly ulong Rdev;
    /// <summary>Bytes for a regular file, the target length for a symlink.</summary>
    public long Size;
    /// <summary>Under Lock exclusive, or Lock shared and TimeLock.</summary>
    public RumpTimespec Atime;
    public RumpTimespec Mtime, Ctime, Birthtime;
    /// <summary>VREG: the pages.</summary>
    public readonly TmpfsData? Data;
    /// <summary>VLNK: the target, set at creation and never changed.</summary>
    public byte[]? Target;

    // Under Tm.NsLock (written exclusive; Nlink is also read without it by getattr and inactive).
    private int _nlink;
    /// <summary>VDIR: the entries.</summary>
    public readonly TmpfsDir? Dir;
    /// <summary>VDIR: the parent (the root's is itself; null once removed).</summary>
    public TmpfsNode? Parent;
    /// <summary>The node's vnode while the vnode cache has one: set by its load (NsLock shared — the cache loads a key once at a time) and cleared by its reclaim (NsLock exclusive).</summary>
    public Vnode? Vnode;

    public TmpfsNode(TmpfsMount tm, VType type, ulong id, uint gen, uint mode, uint uid, uint gid, ulong rdev, in RumpTimespec now)
    {
        Tm = tm; Type = type; Id = id; Gen = gen;
        Mode = mode & 0xfff; Uid = uid; Gid = gid; Rdev = rdev;
        Atime = Mtime = Ctime = Birthtime = now;
        Lock = new KRwLock(tm.Kernel);
        TimeLock = new KMutex(tm.Kernel);
        if (type == VType.VREG) Data = new TmpfsData();
        else if (type == VType.VDIR) Dir = new TmpfsDir();
    }

    public int Nlink
    {
        get => Volatile.Read(ref _nlink);
        // Read without the lock by VOP_INACTIVE, which asks for a reclaim once it is 0.
        set => Volatile.Write(ref _nlink, value);
    }

    /// <summary>Sets the times named in <paramref name="what"/>. Takes <see cref="Lock"/> exclusive.</summary>
    public void Touch(TimeFields what, in RumpTimespec now)
    {
        Lock.EnterWrite();
        TouchLocked(what, now);
        Lock.Exit();
    }

    /// <summary>Precondition: <see cref="Lock"/> held exclusive.</summary>
    public void TouchLocked(TimeFields what, in RumpTimespec now)
    {
        if ((what & TimeFields.Access) != 0) Atime = now;
        if ((what & TimeFields.Modify) != 0) Mtime = now;
        if ((what & TimeFields.Change) != 0) Ctime = now;
    }

    /// <summary>
    /// Marks the node accessed. Precondition: <see cref="Lock"/> held shared (so mtime and ctime
    /// are stable). While the access time is already in this second and newer than both mtime and
    /// ctime, it is left alone: concurrent readers of one file would otherwise write (and bounce)
    /// the same cache line on every read. So atime has one-second granularity, and is never older
    /// than the last modification.
    /// </summary>
    public void TouchAtimeShared(in RumpTimespec now)
    {
        long a = System.Threading.Volatile.Read(ref Atime.tv_sec);
        if (a == now.tv_sec && a > Mtime.tv_sec && a > Ctime.tv_sec) return;
        TimeLock.Enter();
        Atime = now;
        TimeLock.Exit();
    }

    public override string ToString() => "tmpfs node " + Id + " (" + Type + ")";
}

[System.Flags]
internal enum TimeFields { None = 0, Access = 1, Modify = 2, Change = 4 }
