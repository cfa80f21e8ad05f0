using System.Threading;

namespace Rump.Kern;

/// <summary>
/// An open file (NetBSD struct file): the object a descriptor names. Subclasses are the file types
/// (vnodes in the VFS faction, pipes here, sockets later) and override the operations they have;
/// the defaults give the errors NetBSD's badops give.
///
/// References: each descriptor-table entry holds one, and each system call using the file holds one
/// between <see cref="Filedesc.Get"/> and <see cref="Release"/>. The last release calls
/// <see cref="Close"/>. <see cref="Offset"/> is protected by <see cref="OffsetLock"/>.
/// </summary>
public abstract class File
{
    public const int FREAD = 0x1, FWRITE = 0x2;
    /// <summary>FREAD/FWRITE plus the O_APPEND, O_NONBLOCK, ... status flags (NetBSD f_flag).</summary>
    public int Flag;
    public long Offset;
    public readonly KMutex OffsetLock;
    private int _refs = 1;

    protected File(Kernel k, int flag) { Flag = flag; OffsetLock = new KMutex(k); }

    /// <summary>Takes a reference unless the file is already being closed.</summary>
    internal bool TryAddRef()
    {
        int r = Volatile.Read(ref _refs);
        while (r > 0)
        {
            int seen = Interlocked.CompareExchange(ref _refs, r + 1, r);
            if (seen == r) return true;
            r = seen;
        }
        return false;
    }

    internal void AddRef() => Interlocked.Increment(ref _refs);

    public void Release(Lwp l)
    {
        if (Interlocked.Decrement(ref _refs) == 0)
            Close(l);
    }

    /// <summary>Positional I/O (pread/pwrite) and lseek apply: vnodes yes, pipes and sockets no.</summary>
    public virtual bool IsSeekable => false;

    public virtual int Read(Lwp l, ref Uio uio, bool useOffset) => Abi.EOPNOTSUPP;
    public virtual int Write(Lwp l, ref Uio uio, bool useOffset) => Abi.EOPNOTSUPP;
    public virtual int Ioctl(Lwp l, ulong cmd, UserPtr data) => Abi.ENOTTY;
    public virtual int Stat(Lwp l, out RumpStat st) { st = default; return Abi.EOPNOTSUPP; }
    public virtual int Seek(Lwp l, long offset, int whence, out long newOffset) { newOffset = 0; return Abi.ESPIPE; }
    public virtual int Fsync(Lwp l, bool dataOnly) => Abi.EINVAL;
    /// <summary>Called once, when the last reference is dropped.</summary>
    protected abstract void Close(Lwp l);
}
