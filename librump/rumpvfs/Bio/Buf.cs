namespace Rump.Vfs;

/// <summary>
/// A cached block (NetBSD struct buf): <see cref="Size"/> bytes of <see cref="Dev"/> starting at
/// block <see cref="Blkno"/> (in DEV_BSIZE units). Between <see cref="BufCache.Bread"/> or
/// <see cref="BufCache.Getblk"/> and the matching release (Brelse, Bwrite, Bdwrite) the buffer is
/// busy: it belongs to the caller, who may read and change <see cref="Data"/> without a lock.
/// </summary>
public sealed class Buf
{
    public readonly BlockDevice Dev;
    public readonly long Blkno;
    public readonly int Size;
    /// <summary>The block's bytes (exactly <see cref="Size"/> long).</summary>
    public readonly byte[] Data;

    // Protected by the cache's lock.
    internal bool Busy;
    internal bool Valid;
    internal bool Dirty;
    internal bool InIo;
    internal int Error;
    internal Buf? LruPrev, LruNext;
    internal bool OnLru;

    /// <summary>A buffer with <paramref name="data"/> recycled from an evicted one, or a new array.</summary>
    internal Buf(BlockDevice dev, long blkno, int size, byte[]? data)
    {
        Dev = dev; Blkno = blkno; Size = size; Data = data ?? new byte[size];
    }

    public long Offset => Blkno * BlockDevice.DevBSize;
    public override string ToString() => Dev.Name + " block " + Blkno + " (" + Size + " bytes)";
}
