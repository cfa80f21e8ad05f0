using System;

namespace Rump.Kern;

/// <summary>
/// A pipe (NetBSD sys_pipe.c, simplified): a bounded ring buffer shared by read ends and write
/// ends. Reads block until data arrives or every writer is gone (then EOF); writes block until there
/// is room, and fail with EPIPE once every reader is gone. Writes of at most <see cref="PipeBuf"/>
/// bytes are atomic. Both sleeps are interruptible (EINTR, or the bytes moved so far). Pollers of
/// each end are kept in <see cref="_rsel"/> and <see cref="_wsel"/> and notified as data and room
/// come and go. An anonymous pipe (pipe(2)) has one end of each kind; a named pipe (fifofs in the
/// VFS) opens and closes ends as files are opened on its vnode (<see cref="OpenEnds"/>).
/// <see cref="Lock"/> protects the buffer, the end counts and their generations.
/// </summary>
public sealed class Pipe
{
    public const int PipeBuf = 512;
    public const int Capacity = 16384;

    internal readonly KMutex Lock;
    private readonly KCondvar _cv;
    private readonly byte[] _buf = new byte[Capacity];
    private int _head, _count;
    /// <summary>Open read and write ends; and how many of each were ever opened (a FIFO's opener waits for a change).</summary>
    private int _readers, _writers, _readerGen, _writerGen;
    /// <summary>Who polls the read end (for data) and the write end (for room).</summary>
    private readonly SelInfo _rsel = new(), _wsel = new();

    private Pipe(Kernel k) { Lock = new KMutex(k); _cv = new KCondvar(k); }

    /// <summary>A named pipe's buffer, with no end open yet (<see cref="OpenEnds"/> opens them).</summary>
    public static Pipe CreateNamed(Kernel k) => new(k);

    /// <summary>Makes the two ends; each holds one reference.</summary>
    public static (PipeFile read, PipeFile write) Create(Kernel k, int extraFlags)
    {
        var p = new Pipe(k) { _readers = 1, _writers = 1 };
        return (new PipeFile(k, p, File.FREAD | extraFlags, isReader: true),
                new PipeFile(k, p, File.FWRITE | extraFlags, isReader: false));
    }

    public int Available { get { Lock.Enter(); int n = _count; Lock.Exit(); return n; } }

    internal int Read(ref Uio uio, bool nonblock)
    {
        Lock.Enter();
        try
        {
            while (_count == 0)
            {
                if (_writers == 0 || uio.Resid == 0) return 0;
                if (nonblock) return Abi.EAGAIN;
                int w = _cv.WaitSig(Lock);
                if (w != 0) return w;
            }
            while (_count > 0 && uio.Resid > 0)
            {
                int chunk = Math.Min(_count, Capacity - _head);
                chunk = (int)Math.Min(chunk, uio.Resid);
                int e = uio.Move((ReadOnlySpan<byte>)_buf.AsSpan(_head, chunk));
                if (e != 0) return e;
                _head = (_head + chunk) % Capacity;
                _count -= chunk;
            }
            _cv.Broadcast();
            _wsel.Notify();
            return 0;
        }
        finally { Lock.Exit(); }
    }

    internal int Write(ref Uio uio, bool nonblock)
    {
        Lock.Enter();
        try
        {
            bool atomic = uio.Resid <= PipeBuf;
            while (uio.Resid > 0)
            {
                if (_readers == 0) return Abi.EPIPE;
                int room = Capacity - _count;
                if (room == 0 || (atomic && room < uio.Resid))
                {
                    if (nonblock) return Abi.EAGAIN;
                    int w = _cv.WaitSig(Lock);
                    if (w != 0) return w;
                    continue;
                }
                int tail = (_head + _count) % Capacity;
                int chunk = Math.Min(room, Capacity - tail);
                chunk = (int)Math.Min(chunk, uio.Resid);
                int e = uio.Move(_buf.AsSpan(tail, chunk));
                if (e != 0) return e;
                _count += chunk;
                _cv.Broadcast();
                _rsel.Notify();
            }
            return 0;
        }
        finally { Lock.Exit(); }
    }

    /// <summary>
    /// Opens a named pipe's ends for a file opened with <paramref name="read"/> and/or
    /// <paramref name="write"/> (NetBSD fifo_open): a reader waits for a writer unless data is
    /// waiting or <paramref name="nonblock"/>; a writer waits for a reader, or with
    /// <paramref name="nonblock"/> fails with ENXIO if there is none. A file open for both waits
    /// for nothing. A wait ends when an end of the other kind opens, even one that has closed again
    /// by the time the waiter runs. An interrupted wait (EINTR) or a failure opens nothing.
    /// </summary>
    public int OpenEnds(bool read, bool write, bool nonblock)
    {
        Lock.Enter();
        try
        {
            if (read) { _readers++; _readerGen++; }
            if (write) { _writers++; _writerGen++; }
            if (read || write) { _cv.Broadcast(); _rsel.Notify(); _wsel.Notify(); }
            int e = 0;
            if (read && !nonblock)
                for (int gen = _writerGen; e == 0 && _writers == 0 && _count == 0 && _writerGen == gen;)
                    e = _cv.WaitSig(Lock);
            if (e == 0 && write)
            {
                if (nonblock && _readers == 0) e = Abi.ENXIO;
                for (int gen = _readerGen; e == 0 && _readers == 0 && _readerGen == gen;)
                    e = _cv.WaitSig(Lock);
            }
            if (e != 0) CloseEndsLocked(read, write);
            return e;
        }
        finally { Lock.Exit(); }
    }

    /// <summary>Open ends of each kind (tests: who a FIFO's opener is waiting for).</summary>
    public (int readers, int writers) Ends { get { Lock.Enter(); var r = (_readers, _writers); Lock.Exit(); return r; } }

    /// <summary>Threads asleep on the pipe (tests: "the opener is waiting").</summary>
    internal int Waiters => _cv.Waiters;

    internal void CloseEnd(bool reader) => CloseEnds(reader, !reader);

    /// <summary>A file's ends close. When the last of all goes, what is left unread is discarded (NetBSD frees a FIFO's sockets).</summary>
    public void CloseEnds(bool read, bool write)
    {
        Lock.Enter();
        CloseEndsLocked(read, write);
        Lock.Exit();
    }

    private void CloseEndsLocked(bool read, bool write)
    {
        if (read) _readers--;
        if (write) _writers--;
        if (_readers == 0 && _writers == 0) _head = _count = 0;
        _cv.Broadcast();
        _rsel.Notify();
        _wsel.Notify();
    }

    /// <summary>An end's FIONREAD (bytes waiting, for a reader; 0 for a writer) and FIONBIO (the file's O_NONBLOCK); ENOTTY for the rest.</summary>
    internal int Ioctl(Lwp l, File f, bool reader, ulong cmd, UserPtr data)
    {
        if (cmd == Abi.FIONREAD)
        {
            int n = reader ? Available : 0;
            return l.Proc.Vmspace.CopyOut(in n, data);
        }
        if (cmd == Abi.FIONBIO)
        {
            int e = l.Proc.Vmspace.CopyIn(data, out int on);
            if (e != 0) return e;
            f.SetFlags(Abi.O_NONBLOCK, on != 0 ? Abi.O_NONBLOCK : 0);
            return 0;
        }
        return Abi.ENOTTY;
    }

    /// <summary>
    /// NetBSD pipe_poll: the read end is readable with data or once every writer is gone (then also
    /// POLLHUP); the write end is writable with room for an atomic write, or once the reader is gone
    /// (POLLHUP). An end that is not ready records the caller.
    /// </summary>
    internal int Poll(Lwp l, int events, bool reader)
    {
        int r = 0;
        Lock.Enter();
        if (reader)
        {
            if (_count > 0 || _writers == 0) r |= events & (Abi.POLLIN | Abi.POLLRDNORM);
            if (_writers == 0) r |= Abi.POLLHUP;
            if ((r & (Abi.POLLIN | Abi.POLLRDNORM)) == 0 && (events & (Abi.POLLIN | Abi.POLLRDNORM)) != 0) _rsel.Record(l);
        }
        else
        {
            if (_readers == 0 || Capacity - _count >= PipeBuf) r |= events & (Abi.POLLOUT | Abi.POLLWRNORM);
            if (_readers == 0) r |= Abi.POLLHUP;
            if ((r & (Abi.POLLOUT | Abi.POLLWRNORM)) == 0 && (events & (Abi.POLLOUT | Abi.POLLWRNORM)) != 0) _wsel.Record(l);
        }
        Lock.Exit();
        return r;
    }
}

/// <summary>One end of a <see cref="Pipe"/>.</summary>
public sealed class PipeFile : File
{
    private readonly Pipe _pipe;
    private readonly bool _isReader;

    internal PipeFile(Kernel k, Pipe p, int flag, bool isReader) : base(k, flag) { _pipe = p; _isReader = isReader; }

    public override int Read(Lwp l, ref Uio uio, bool useOffset)
        => _isReader ? _pipe.Read(ref uio, (Flag & Abi.O_NONBLOCK) != 0) : Abi.EBADF;

    public override int Write(Lwp l, ref Uio uio, bool useOffset)
        => !_isReader ? SigPipeOnEpipe(l, _pipe.Write(ref uio, (Flag & Abi.O_NONBLOCK) != 0)) : Abi.EBADF;

    public override int Ioctl(Lwp l, ulong cmd, UserPtr data) => _pipe.Ioctl(l, this, _isReader, cmd, data);

    public override int Stat(Lwp l, out RumpStat st)
    {
        st = default;
        st.st_mode = Abi.S_IFIFO | 0x180; // 0600
        st.st_size = _pipe.Available;
        st.st_blksize = Pipe.PipeBuf;
        st.st_uid = l.Cred.Euid;
        st.st_gid = l.Cred.Egid;
        return 0;
    }

    public override int Poll(Lwp l, int events) => _pipe.Poll(l, events, _isReader);

    protected override void Close(Lwp l) => _pipe.CloseEnd(_isReader);
}
