using System.Runtime.InteropServices;
using Rump.Fuse.Interop;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fuse;

/// <summary>
/// A read's reply straight from the image: the kernel maps the read to runs of the image file
/// (<see cref="Vop.Bmap"/>) and, with the file system's locks held, this sink replies with
/// fuse_reply_data over descriptor-backed buffers at those offsets. libfuse splices the image's
/// page-cache pages into a pipe and the pipe into /dev/fuse, so the host copies each byte once
/// (into the FUSE request's pages) instead of twice (pread into rumpfuse's buffer, then write to
/// /dev/fuse), and rumpfuse touches none of them. A range the kernel cannot hand over this way
/// (a hole, a dirty or changing block, a device with no host file, too many runs) comes back
/// EOPNOTSUPP before any reply, and the caller reads it as before.
///
/// One per serving thread: its bufvec is native memory, reused for every read of that thread
/// (threads live as long as the session, and so do these).
/// </summary>
internal sealed unsafe class SpliceReply : DeviceRunSink
{
    /// <summary>Runs per reply at most (an ext2 file of 4 KiB blocks has an indirect block every 4 MiB; FAT files on a fresh image are one run).</summary>
    public const int MaxRuns = 32;

    private readonly Kernel _k;
    private readonly FuseBufvec* _v;
    private readonly int _flags;
    private nint _req;
    private int _count;

    /// <summary>Whether this read has been answered (by <see cref="Transfer"/>): the request is gone then, whatever happened after.</summary>
    public bool Replied { get; private set; }
    /// <summary>The bytes of the runs added (the reply's length once <see cref="Replied"/>).</summary>
    public long Bytes { get; private set; }

    public SpliceReply(Kernel k, bool move)
    {
        _k = k;
        _v = (FuseBufvec*)NativeMemory.AllocZeroed((nuint)(sizeof(FuseBufvec) + (MaxRuns - 1) * sizeof(FuseBuf)));
        _flags = move ? FuseBuf.CopySpliceMove : 0;
    }

    /// <summary>Starts the reply to read request <paramref name="req"/>.</summary>
    public void Start(nint req)
    {
        _req = req;
        _count = 0;
        Bytes = 0;
        Replied = false;
    }

    public override bool Add(BlockDevice dev, long offset, int length)
    {
        if (_count == MaxRuns || length <= 0 || !dev.HostRange(offset, length, out int fd, out long pos)) return false;
        FuseBuf* b = &_v->Buf0 + _count;
        b->Size = (nuint)length;
        b->Flags = FuseBuf.IsFd | FuseBuf.FdSeek;
        b->Mem = null;
        b->Fd = fd;
        b->Pos = pos;
        _count++;
        Bytes += length;
        return true;
    }

    /// <summary>
    /// Sends the reply. It may block (a full pipe, the image's pages read from the disk when the
    /// host does not cache them), so the virtual CPU is given up around it as a hypercall does;
    /// the file system's locks stay held, so the blocks stay what was checked. libfuse answers
    /// the request whatever happens (a failed splice falls back to a read into memory; a reply
    /// the host no longer wants is dropped): it counts as sent.
    /// </summary>
    public override int Transfer(Lwp l)
    {
        if (_count == 0) return Abi.EOPNOTSUPP;
        _v->Count = (nuint)_count;
        _v->Idx = 0;
        _v->Off = 0;
        Replied = true;
        _k.Sched.Unschedule(l);
        try { LibFuse.ReplyData(_req, _v, _flags); }
        finally { if (!_k.IsDead) _k.Sched.Schedule(l); }
        return 0;
    }
}
