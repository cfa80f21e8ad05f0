using System;

namespace Rump.Kern;

/// <summary>
/// A pipe (NetBSD sys_pipe.c, simplified): a bounded ring buffer shared by a read end and a write
/// end. Reads block until data arrives or every writer is gone (then EOF); writes block until there
/// is room, and fail with EPIPE once the reader is gone. Writes of at most <see cref="PipeBuf"/>
/// bytes are atomic. <see cref="Lock"/> protects the buffer and the two end flags.
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
                _cv.Wait(Lock);
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
                    _cv.Wait(Lock);
                    continue;
                }
                int tail = (_head + _count) % Capacity;
                int chunk = Math.Min(room, Capacity - tail);
                chunk = (int)Math.Min(chunk, uio.Resid);
                int e = uio.Move(_buf.AsSpan(tail, chunk));
                if (e != 0) return e;
                _count += chunk;
                _cv.Broadcast();
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
        Lock.Exit();
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

    protected override void Close(Lwp l) => _pipe.CloseEnd(_isReader);
}
