using System;

namespace Rump.Kern;

/// <summary>One segment of a scatter/gather request: caller memory, never dereferenced directly.</summary>
public struct IoVec
{
    public UserPtr Base;
    public long Len;
}

/// <summary>
/// A scatter/gather transfer between the caller's memory and the kernel (NetBSD struct uio).
/// <see cref="Move(ReadOnlySpan{byte})"/> and <see cref="Move(Span{byte})"/> walk the segments
/// and advance <see cref="Offset"/> and <see cref="Resid"/>; all copies go through the vmspace.
/// </summary>
public ref struct Uio
{
    public readonly Vmspace Vm;
    private readonly Span<IoVec> _iov;
    private int _index;
    private long _segDone;
    /// <summary>File offset of the next byte.</summary>
    public long Offset;
    /// <summary>Bytes still to transfer.</summary>
    public long Resid;
    /// <summary>True for a read (kernel to caller), false for a write (caller to kernel).</summary>
    public readonly bool IsRead;

    public Uio(Vmspace vm, Span<IoVec> iov, long offset, bool isRead)
    {
        Vm = vm; _iov = iov; _index = 0; _segDone = 0; Offset = offset; IsRead = isRead;
        long total = 0;
        foreach (ref IoVec v in iov) total += v.Len;
        Resid = total;
    }

    /// <summary>
    /// Copies kernel data out to the caller (a read; EINVAL for a write's uio: read-only data cannot
    /// take the caller's bytes). Moves at most <see cref="Resid"/> bytes.
    /// </summary>
    public int Move(scoped ReadOnlySpan<byte> kbuf)
    {
        if (!IsRead) return Abi.EINVAL;
        while (kbuf.Length > 0 && Resid > 0)
        {
            ref IoVec v = ref _iov[_index];
            long left = v.Len - _segDone;
            if (left == 0) { _index++; _segDone = 0; continue; }
            int n = (int)Math.Min(left, kbuf.Length);
            int e = Vm.CopyOut(kbuf.Slice(0, n), v.Base.Add(_segDone));
            if (e != 0) return e;
            Advance(n);
            kbuf = kbuf.Slice(n);
        }
        return 0;
    }

    /// <summary>
    /// uiomove(9): the direction is the uio's. A read copies <paramref name="kbuf"/> out to the
    /// caller, a write copies the caller's data into it. Moves at most <see cref="Resid"/> bytes.
    /// (The direction must not follow the span's type: a writable span of data to be read out
    /// would otherwise be overwritten by the caller's buffer.)
    /// </summary>
    public int Move(scoped Span<byte> kbuf)
    {
        if (IsRead) return Move((ReadOnlySpan<byte>)kbuf);
        while (kbuf.Length > 0 && Resid > 0)
        {
            ref IoVec v = ref _iov[_index];
            long left = v.Len - _segDone;
            if (left == 0) { _index++; _segDone = 0; continue; }
            int n = (int)Math.Min(left, kbuf.Length);
            int e = Vm.CopyIn(v.Base.Add(_segDone), kbuf.Slice(0, n));
            if (e != 0) return e;
            Advance(n);
            kbuf = kbuf.Slice(n);
        }
        return 0;
    }

    /// <summary>Skips <paramref name="n"/> bytes of the caller's buffers (a read of a hole is zero-filled instead).</summary>
    public int MoveZeros(long n)
    {
        Span<byte> zeros = stackalloc byte[512];
        zeros.Clear();
        while (n > 0 && Resid > 0)
        {
            int c = (int)Math.Min(n, zeros.Length);
            int before = (int)Math.Min(c, Resid);
            int e = Move((ReadOnlySpan<byte>)zeros.Slice(0, before));
            if (e != 0) return e;
            n -= before;
        }
        return 0;
    }

    /// <summary>
    /// The caller's memory for the next <paramref name="n"/> bytes of a read, when it can be written
    /// directly: a local address space and one segment holding all n. A transfer can then land
    /// there with no kernel buffer and no copy; <see cref="Skip"/> accounts for it afterwards.
    /// </summary>
    public unsafe bool TryDirect(int n, out Span<byte> dest)
    {
        dest = default;
        if (!IsRead || Vm is not LocalVmspace || n <= 0 || n > Resid) return false;
        ref IoVec v = ref _iov[_index];
        if (v.Len - _segDone < n)
        {
            // The current segment is used up (or too short): only a fresh, large one will do.
            if (v.Len != _segDone || _index + 1 >= _iov.Length) return false;
            v = ref _iov[_index + 1];
            if (v.Len < n || v.Base.IsNull) return false;
            _index++;
            _segDone = 0;
        }
        if (v.Base.IsNull) return false;
        dest = new Span<byte>((void*)v.Base.Add(_segDone).Addr, n);
        return true;
    }

    /// <summary>Accounts for <paramref name="n"/> bytes written through <see cref="TryDirect"/>.</summary>
    public void Skip(int n) => Advance(n);

    private void Advance(int n)
    {
        _segDone += n;
        Offset += n;
        Resid -= n;
    }
}
