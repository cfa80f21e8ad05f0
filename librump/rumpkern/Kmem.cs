using System;
using System.Buffers;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// Kernel memory (NetBSD kmem(9)) for data buffers: file contents, I/O buffers. Buffers come from
/// a per-kernel pool and are accounted, so a kernel can be given a memory limit (the
/// RUMP_MEMLIMIT parameter) and allocations beyond it fail with ENOMEM instead of growing the host
/// process without bound. Small kernel objects are ordinary managed objects.
/// </summary>
public sealed class Kmem
{
    private readonly ArrayPool<byte> _pool = ArrayPool<byte>.Create(1 << 20, 64);
    private long _inUse;
    public readonly long Limit;

    public Kmem(long limit) { Limit = limit <= 0 ? long.MaxValue : limit; }

    /// <summary>Bytes currently allocated (by requested size).</summary>
    public long InUse => Volatile.Read(ref _inUse);

    /// <summary>A zeroed buffer of at least <paramref name="size"/> bytes, or null when over the limit.</summary>
    public byte[]? Alloc(int size)
    {
        if (Interlocked.Add(ref _inUse, size) > Limit)
        {
            Interlocked.Add(ref _inUse, -size);
            return null;
        }
        byte[] b = _pool.Rent(size);
        Array.Clear(b, 0, size);
        return b;
    }

    public void Free(byte[] b, int size)
    {
        Interlocked.Add(ref _inUse, -size);
        _pool.Return(b);
    }
}
