using System;
using System.Collections.Generic;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Cd9660;

/// <summary>Which directory tree and which names a mount shows (chosen once at mount).</summary>
internal enum NameMode { Iso, Joliet, RockRidge }

/// <summary>
/// One mounted ISO 9660 image (NetBSD struct iso_mnt): geometry, the tree in use and the
/// directory cache.
///
/// Locks: only <see cref="Lock"/> (a mutex per mount). It protects the directory-cache LRU list
/// and count, and each node's <see cref="Cd9660Node.Dir"/>/<see cref="Cd9660Node.LruLink"/>
/// writes. It is held only for those updates, never across I/O, and nothing else is taken under
/// it. Everything else is immutable after mount (the medium is read-only), so vnode operations
/// run without locks. Buffers: a thread holds at most one busy buffer at a time (data is copied
/// out before any further read), so a CE pointing into the block being scanned cannot deadlock.
///
/// References: vnodes are the vnode cache's, keyed by inode number; lookup hands the cache the
/// attributes its directory scan found (a load without them reads the record the number points
/// at); the mount holds a reference on the root (given to <see cref="Mount.SetRoot"/>, dropped by
/// the VFS after unmount). A reclaimed node's cached directory leaves the LRU.
/// </summary>
internal sealed class Cd9660Mount
{
    /// <summary>File data is read through the cache in chunks this big (aligned on the device): few large transfers.</summary>
    public const int DataChunk = 64 * 1024;
    /// <summary>Largest directory accepted (bounds the work and memory of one scan; ~1M records).</summary>
    public const long MaxDirBytes = 32L << 20;
    /// <summary>Parsed directory entries kept across all directories before the least recently used are dropped.</summary>
    public const long MaxCachedEntries = 1 << 18;

    public readonly Mount Mp;
    public readonly Kernel Kernel;
    public readonly BlockDevice Dev;
    public readonly BufCache Cache;
    public readonly Cd9660VnodeOps Ops;
    public readonly int BlockSize;
    public readonly int BlockShift;
    public readonly uint VolumeBlocks;
    public readonly NameMode Names;
    public readonly bool CaseTrans;
    /// <summary>SUSP LEN_SKP: bytes skipped at the start of every System Use area but the root's ".".</summary>
    public readonly int RrSkip;
    public readonly int Flags;
    /// <summary>Size of the buffers used for metadata (directories, continuation areas).</summary>
    private readonly int _metaBuf;

    public readonly KMutex Lock;
    private readonly LinkedList<Cd9660Node> _dirLru = new();
    private long _cachedEntries;
    /// <summary>The root's inode number and attributes (from the volume descriptor and its "." record).</summary>
    public ulong RootIno;
    public IsoAttr RootAttr = null!;

    public Cd9660Mount(Mount mp, BlockDevice dev, Cd9660VnodeOps ops, int blockSize, uint volumeBlocks, NameMode names, int rrSkip, int flags)
    {
        Mp = mp; Kernel = mp.Vfs.Kernel; Dev = dev; Cache = mp.Vfs.BufCache; Ops = ops;
        BlockSize = blockSize;
        BlockShift = System.Numerics.BitOperations.Log2((uint)blockSize);
        VolumeBlocks = volumeBlocks; Names = names; RrSkip = rrSkip; Flags = flags;
        CaseTrans = (flags & IsoMountFlags.NoCaseTrans) == 0;
        _metaBuf = Math.Max(blockSize, dev.SectorSize);
        Lock = new KMutex(Kernel);
    }

    // ---- Reading --------------------------------------------------------------------------------

    /// <summary>Copies one logical block into <paramref name="dst"/>: EIO beyond the device.</summary>
    public int ReadBlock(long lbn, Span<byte> dst) => ReadBytes(lbn << BlockShift, dst.Slice(0, BlockSize));

    /// <summary>Copies device bytes [addr, addr+dst.Length) through metadata-sized cache buffers.</summary>
    public int ReadBytes(long addr, Span<byte> dst) => ReadBytes(Mp.Vfs.BufCache, Dev, _metaBuf, addr, dst);

    /// <summary>The same before a mount exists (the volume descriptors, in <paramref name="bufSize"/> buffers).</summary>
    public static int ReadBytes(BufCache cache, BlockDevice dev, int bufSize, long addr, Span<byte> dst)
    {
        if (addr < 0 || addr + dst.Length > dev.Size) return Abi.EIO;
        while (dst.Length > 0)
        {
            long base_ = addr - addr % bufSize;
            int off = (int)(addr - base_);
            int n = Math.Min(bufSize - off, dst.Length);
            int e = cache.Bread(dev, base_ / BlockDevice.DevBSize, bufSize, out Buf bp);
            if (e != 0) return e;
            bp.Data.AsSpan(off, n).CopyTo(dst);
            cache.Brelse(bp);
            dst = dst.Slice(n);
            addr += n;
        }
        return 0;
    }

    // ---- Vnodes ---------------------------------------------------------------------------------

    /// <summary>
    /// The referenced vnode of file <paramref name="ino"/>, loaded with <paramref name="hint"/> (the
    /// attributes a directory scan found, or a <see cref="DotAt"/>) if not cached. EIO if a hostile
    /// image gives the same number to files of different types.
    /// </summary>
    public int GetVnode(ulong ino, object hint, VType type, out Vnode? vp)
    {
        int e = Mp.Vfs.Vcache.Get(Mp, ino, hint, out vp);
        if (e != 0) return e;
        if (vp!.Type == type) return 0;
        vp.Rele();
        vp = null;
        return Abi.EIO;
    }

    /// <summary>VFS_LOADVNODE: the node of <paramref name="ino"/> from the hint, or from the record the number points at.</summary>
    public int LoadNode(Vnode vp, ulong ino, object? hint)
    {
        IsoAttr? attr;
        int e = 0;
        if (ino == RootIno) attr = RootAttr;
        else if (hint is IsoAttr a) attr = a;
        else if (hint is DotAt d) e = new DirScanner(this).ReadDot(d.Lbn, RrSkip, out attr);
        else e = new DirScanner(this).ReadNumber(ino, out attr);
        if (e != 0) return e;
        vp.Init(attr!.Type, Ops, new Cd9660Node(this, ino, attr));
        return 0;
    }

    // ---- Directory cache ------------------------------------------------------------------------

    /// <summary>The node's parsed directory if cached (marked recently used), else null.</summary>
    public IsoDir? CachedDir(Cd9660Node n)
    {
        IsoDir? d = n.CachedDir;
        if (d == null) return null;
        Lock.Enter();
        if (n.LruLink is { List: not null } link && link != _dirLru.Last)
        {
            _dirLru.Remove(link);
            _dirLru.AddLast(link);
        }
        Lock.Exit();
        return d;
    }

    /// <summary>
    /// Caches a freshly parsed directory (or returns the one another thread cached first) and
    /// drops the least recently used others while over <see cref="MaxCachedEntries"/>.
    /// </summary>
    public IsoDir InstallDir(Cd9660Node n, IsoDir d)
    {
        Lock.Enter();
        IsoDir? cur = n.Dir;
        if (cur != null) { Lock.Exit(); return cur; }
        n.Dir = d;
        n.LruLink ??= new LinkedListNode<Cd9660Node>(n);
        _dirLru.AddLast(n.LruLink);
        _cachedEntries += d.Count;
        while (_cachedEntries > MaxCachedEntries && _dirLru.First != n.LruLink)
        {
            Cd9660Node victim = _dirLru.First!.Value;
            _dirLru.RemoveFirst();
            _cachedEntries -= victim.Dir!.Count;
            victim.Dir = null;
        }
        Lock.Exit();
        return d;
    }

    /// <summary>A reclaimed node's cached directory leaves the LRU.</summary>
    public void DropDir(Cd9660Node n)
    {
        Lock.Enter();
        if (n.LruLink is { List: not null } link)
        {
            _dirLru.Remove(link);
            _cachedEntries -= n.Dir?.Count ?? 0;
        }
        n.Dir = null;
        Lock.Exit();
    }
}

/// <summary>A load hint: the file is the directory whose "." record starts block <see cref="Lbn"/> (a parent, a relocated directory).</summary>
internal sealed class DotAt
{
    public readonly uint Lbn;
    public DotAt(uint lbn) { Lbn = lbn; }
}
