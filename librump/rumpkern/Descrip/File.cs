using System.Threading;

namespace Rump.Kern;

/// <summary>
/// An open file (NetBSD struct file): the object a descriptor names. Subclasses are the file types
/// (vnodes in the VFS faction, pipes here, sockets later) and override the operations they have;
/// the defaults give the errors NetBSD's badops give.
///
/// References: each descriptor-table entry holds one, and each system call using the file holds one
/// between <see cref="Filedesc.Get"/> and <see cref="Release"/>. The last release calls
/// <see cref="Close"/>. <see cref="Offset"/> is protected by <see cref="OffsetLock"/>; <see cref="Flag"/>
/// changes only through <see cref="SetFlags"/>.
/// </summary>
public abstract class File
{
    public const int FREAD = 0x1, FWRITE = 0x2;
    private int _flag;
    /// <summary>FREAD/FWRITE plus the O_APPEND, O_NONBLOCK, ... status flags (NetBSD f_flag).</summary>
    public int Flag => Volatile.Read(ref _flag);
    public long Offset;
    public readonly KMutex OffsetLock;
    private int _refs = 1;

    protected File(Kernel k, int flag) { _flag = flag; OffsetLock = new KMutex(k); }

    /// <summary>
    /// NetBSD dofilewrite's rule for pipes and FIFOs: a write that failed with EPIPE (no reader)
    /// raises SIGPIPE in the writer's process unless the file is O_NOSIGPIPE. Returns <paramref name="e"/>.
    /// </summary>
    internal int SigPipeOnEpipe(Lwp l, int e)
    {
        if (e == Abi.EPIPE && (Flag & Abi.O_NOSIGPIPE) == 0) l.Kernel.Psignal(l.Proc, Abi.SIGPIPE);
        return e;
    }

    /// <summary>A file that is never open (a descriptor table's marker): it takes no references.</summary>
    private protected File() { _refs = 0; OffsetLock = null!; }

    /// <summary>
    /// Replaces the bits of <paramref name="mask"/> with those of <paramref name="value"/> in one atomic
    /// step: threads sharing the file change different bits at once (F_SETFL, FIONBIO), and a plain
    /// read-modify-write would put back a bit another thread had just changed.
    /// </summary>
    public void SetFlags(int mask, int value)
    {
        int cur = Volatile.Read(ref _flag);
        while (true)
        {
            int seen = Interlocked.CompareExchange(ref _flag, (cur & ~mask) | (value & mask), cur);
            if (seen == cur) return;
            cur = seen;
        }
    }

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

    /// <summary>
    /// poll(2) on the file (NetBSD fo_poll): which of <paramref name="events"/> (POLL*) hold now,
    /// plus POLLHUP/POLLERR when they do. A file that is not ready records the caller on its
    /// <see cref="SelInfo"/> (selrecord). The default is NetBSD's seltrue: always readable and writable.
    /// </summary>
    public virtual int Poll(Lwp l, int events) => events & (Abi.POLLIN | Abi.POLLOUT | Abi.POLLRDNORM | Abi.POLLWRNORM);
    /// <summary>Called once, when the last reference is dropped.</summary>
    protected abstract void Close(Lwp l);
}
