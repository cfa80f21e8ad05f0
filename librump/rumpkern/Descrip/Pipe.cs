using System;

namespace Rump.Kern;

/// <summary>
/// A pipe (NetBSD sys_pipe.c, simplified): a bounded ring buffer shared by a read end and a write
/// end. Reads block until data arrives or every writer is gone (then EOF); writes block until there
/// is room, and fail with EPIPE once the reader is gone. Writes of at most <see cref="PipeBuf"/>
/// bytes are atomic. Both sleeps are interruptible (EINTR, or the bytes moved so far). Pollers of
/// each end are kept in <see cref="_rsel"/> and <see cref="_wsel"/> and notified as data and room
/// come and go. <see cref="Lock"/> protects the buffer and the two end flags.
/// </summary>
public sealed class Pipe
{
    public const int PipeBuf = 512;
    public const int Capacity = 16384;

    internal readonly KMutex Lock;
    private readonly KCondvar _cv;
    private readonly byte[] _buf = new byte[Capacity];
    private int _head, _count;
    internal bool ReaderGone, WriterGone;
    /// <summary>Who polls the read end (for data) and the write end (for room).</summary>
    private readonly SelInfo _rsel = new(), _wsel = new();

    private Pipe(Kernel k) { Lock = new KMutex(k); _cv = new KCondvar(k); }

    /// <summary>Makes the two ends; each holds one reference.</summary>
    public static (PipeFile read, PipeFile write) Create(Kernel k, int extraFlags)
    {
        var p = new Pipe(k);
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
                if (WriterGone || uio.Resid == 0) return 0;
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
                if (ReaderGone) return Abi.EPIPE;
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

    internal void CloseEnd(bool reader)
    {
        Lock.Enter();
        if (reader) ReaderGone = true; else WriterGone = true;
        _cv.Broadcast();
        _rsel.Notify();
        _wsel.Notify();
        Lock.Exit();
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
            if (_count > 0 || WriterGone) r |= events & (Abi.POLLIN | Abi.POLLRDNORM);
            if (WriterGone) r |= Abi.POLLHUP;
            if ((r & (Abi.POLLIN | Abi.POLLRDNORM)) == 0 && (events & (Abi.POLLIN | Abi.POLLRDNORM)) != 0) _rsel.Record(l);
        }
        else
        {
            if (ReaderGone || Capacity - _count >= PipeBuf) r |= events & (Abi.POLLOUT | Abi.POLLWRNORM);
            if (ReaderGone) r |= Abi.POLLHUP;
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
        => !_isReader ? _pipe.Write(ref uio, (Flag & Abi.O_NONBLOCK) != 0) : Abi.EBADF;

    public override int Ioctl(Lwp l, ulong cmd, UserPtr data)
    {
        if (cmd == Abi.FIONREAD)
        {
            int n = _isReader ? _pipe.Available : 0;
            return l.Proc.Vmspace.CopyOut(in n, data);
        }
        if (cmd == Abi.FIONBIO)
        {
            int e = l.Proc.Vmspace.CopyIn(data, out int on);
            if (e != 0) return e;
            SetFlags(Abi.O_NONBLOCK, on != 0 ? Abi.O_NONBLOCK : 0);
            return 0;
        }
        return Abi.ENOTTY;
    }

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
