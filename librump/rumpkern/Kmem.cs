using System;
using System.Buffers;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// Kernel memory (NetBSD kmem(9)) for data buffers: file contents, I/O buffers. Buffers come from
/// a per-kernel pool and are accounted, so a kernel can be given a memory limit (the
/// RUMP_MEMLIMIT parameter) and allocations beyond it fail with ENOMEM instead of growing the host
/// process without bound. Small kernel objects are ordinary managed objects; those a user can
/// make without bound (tmpfs nodes, names) are charged to the same account (<see cref="Charge"/>).
/// </summary>
public sealed class Kmem
{
    private readonly ArrayPool<byte> _pool = ArrayPool<byte>.Create(1 << 20, 64);
    private long _inUse;
    /// <summary>The part of <see cref="_inUse"/> that <see cref="Charge"/> counted (not buffers).</summary>
    private long _charged;
    public readonly long Limit;

    public Kmem(long limit) { Limit = limit <= 0 ? long.MaxValue : limit; }

    /// <summary>Bytes in use: buffers (by requested size) and charged objects.</summary>
    public long InUse => Volatile.Read(ref _inUse);
    /// <summary>Bytes of buffers handed out (<see cref="InUse"/> without the charged objects).</summary>
    public long BufferBytes => Volatile.Read(ref _inUse) - Volatile.Read(ref _charged);
    /// <summary>Bytes of objects charged (<see cref="Charge"/>).</summary>
    public long Charged => Volatile.Read(ref _charged);

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

    /// <summary>
    /// Counts <paramref name="bytes"/> of memory held elsewhere (objects, not buffers from here)
    /// against the limit: false, and nothing counted, if it would pass it. Pair with <see cref="Uncharge"/>.
    /// </summary>
    public bool Charge(long bytes)
    {
        if (Interlocked.Add(ref _inUse, bytes) > Limit)
        {
            Interlocked.Add(ref _inUse, -bytes);
            return false;
        }
        Interlocked.Add(ref _charged, bytes);
        return true;
    }

    public void Uncharge(long bytes)
    {
        Interlocked.Add(ref _charged, -bytes);
        Interlocked.Add(ref _inUse, -bytes);
    }

    /// <summary>What is left under the limit (long.MaxValue: no limit).</summary>
    public long Available => Limit == long.MaxValue ? long.MaxValue : System.Math.Max(0, Limit - InUse);
}
