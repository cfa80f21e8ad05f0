using System;
using System.Buffers.Binary;
using Rump.Fs.Msdosfs.Wire;
using Rump.Kern;
using Rump.Vfs;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// The file allocation table of one mount: reading and writing entries (FAT12's 12-bit entries may
/// straddle two sectors), following chains with every step checked, and the allocator (free count,
/// next-free hint). Every change is written to every FAT copy, or only to the active one when
/// FAT32 mirroring is off. The table is accessed through the buffer cache in sector-sized buffers.
/// Precondition for every method: the mount's lock is held.
/// </summary>
internal sealed class Fat
{
    private readonly BufCache _bc;
    private readonly BlockDevice _dev;
    private readonly FatType _type;
    private readonly int _bps;
    private readonly long _blksPerSector;
    private readonly uint _firstFat;
    private readonly uint _fatSectors;
    private readonly int _numFats;
    private readonly bool _mirrored;
    private readonly int _activeFat;
    private readonly bool _readOnly;

    /// <summary>Highest valid cluster number (clusters are 2..MaxCluster).</summary>
    public readonly uint MaxCluster;
    /// <summary>End-of-chain value written by this driver.</summary>
    public readonly uint Eoc;
    /// <summary>Values at or above this end a chain; 0xFF7/0xFFF7/0x0FFFFFF7 is a bad cluster.</summary>
    private readonly uint _eocMin, _bad;

    /// <summary>Free clusters; -1 until counted.</summary>
    private long _free = -1;
    /// <summary>Where the next allocation starts looking.</summary>
    private uint _nextFree;
    /// <summary>The counts changed since the FSInfo sector was last written.</summary>
    public bool InfoDirty;

    public Fat(BufCache bc, BlockDevice dev, in Bpb b, uint maxCluster, bool readOnly)
    {
        _bc = bc; _dev = dev; _type = b.Type; _bps = b.BytesPerSector;
        _blksPerSector = b.BytesPerSector / BlockDevice.DevBSize;
        _firstFat = b.FirstFatSector; _fatSectors = b.FatSectors; _numFats = b.NumFats;
        _mirrored = !b.MirroringDisabled; _activeFat = b.MirroringDisabled ? b.ActiveFat : 0;
        _readOnly = readOnly;
        MaxCluster = maxCluster;
        (Eoc, _eocMin, _bad) = _type switch
        {
            FatType.Fat12 => (0xFFFu, 0xFF8u, 0xFF7u),
            FatType.Fat16 => (0xFFFFu, 0xFFF8u, 0xFFF7u),
            _ => (0x0FFFFFFFu, 0x0FFFFFF8u, 0x0FFFFFF7u),
        };
        _nextFree = 2;
    }

    public FatType Type => _type;
    public bool IsEoc(uint v) => v >= _eocMin;
    public bool IsValidCluster(uint c) => c >= 2 && c <= MaxCluster;
    public uint ClusterCount => MaxCluster - 1;

    private long SectorBlk(int copy, uint sector) => ((long)_firstFat + (long)copy * _fatSectors + sector) * _blksPerSector;

    /// <summary>Byte offset of entry <paramref name="c"/> within one FAT.</summary>
    private long EntryOffset(uint c) => _type switch
    {
        FatType.Fat12 => c + (c >> 1),
        FatType.Fat16 => (long)c * 2,
        _ => (long)c * 4,
    };

    /// <summary>Reads entry <paramref name="c"/> of the live FAT (FAT32: the low 28 bits).</summary>
    public int Get(uint c, out uint v)
    {
        v = 0;
        if (c > MaxCluster + 1) return Abi.EIO;
        long off = EntryOffset(c);
        uint sector = (uint)(off / _bps);
        int within = (int)(off % _bps);
        int e = _bc.Bread(_dev, SectorBlk(_activeFat, sector), _bps, out Buf bp);
        if (e != 0) return e;
        switch (_type)
        {
            case FatType.Fat12:
                uint lo = bp.Data[within], hi;
                if (within + 1 < _bps) hi = bp.Data[within + 1];
                else
                {
                    _bc.Brelse(bp);
                    e = _bc.Bread(_dev, SectorBlk(_activeFat, sector + 1), _bps, out bp);
                    if (e != 0) return e;
                    hi = bp.Data[0];
                }
                uint w = lo | (hi << 8);
                v = (c & 1) != 0 ? w >> 4 : w & 0xFFF;
                break;
            case FatType.Fat16:
                v = BinaryPrimitives.ReadUInt16LittleEndian(bp.Data.AsSpan(within));
                break;
            default:
                v = BinaryPrimitives.ReadUInt32LittleEndian(bp.Data.AsSpan(within)) & 0x0FFFFFFF;
                break;
        }
        _bc.Brelse(bp);
        return 0;
    }

    /// <summary>Writes entry <paramref name="c"/> in every live FAT copy (delayed writes).</summary>
    public int Set(uint c, uint v)
    {
        if (_readOnly) return Abi.EROFS;
        if (c < 2 || c > MaxCluster) return Abi.EIO;
        long off = EntryOffset(c);
        uint sector = (uint)(off / _bps);
        int within = (int)(off % _bps);
        for (int copy = 0; copy < _numFats; copy++)
        {
            if (!_mirrored && copy != _activeFat) continue;
            int e = _bc.Bread(_dev, SectorBlk(copy, sector), _bps, out Buf bp);
            if (e != 0) return e;
            switch (_type)
            {
                case FatType.Fat12:
                {
                    // Odd entries own the high nibble of the first byte and the whole second; even ones the reverse.
                    byte b0 = bp.Data[within];
                    bp.Data[within] = (c & 1) != 0 ? (byte)((b0 & 0x0Fu) | ((v & 0xFu) << 4)) : (byte)v;
                    byte nb = (c & 1) != 0 ? (byte)(v >> 4) : (byte)((v >> 8) & 0xF);
                    byte keepMask = (c & 1) != 0 ? (byte)0x00 : (byte)0xF0;
                    if (within + 1 < _bps)
                    {
                        bp.Data[within + 1] = (byte)((bp.Data[within + 1] & keepMask) | nb);
                        _bc.Bdwrite(bp);
                    }
                    else
                    {
                        _bc.Bdwrite(bp);
                        e = _bc.Bread(_dev, SectorBlk(copy, sector + 1), _bps, out bp);
                        if (e != 0) return e;
                        bp.Data[0] = (byte)((bp.Data[0] & keepMask) | nb);
                        _bc.Bdwrite(bp);
                    }
                    break;
                }
                case FatType.Fat16:
                    BinaryPrimitives.WriteUInt16LittleEndian(bp.Data.AsSpan(within), (ushort)v);
                    _bc.Bdwrite(bp);
                    break;
                default:
                {
                    // The top 4 bits are reserved and kept as they are.
                    Span<byte> p = bp.Data.AsSpan(within);
                    uint old = BinaryPrimitives.ReadUInt32LittleEndian(p);
                    BinaryPrimitives.WriteUInt32LittleEndian(p, (old & 0xF0000000) | (v & 0x0FFFFFFF));
                    _bc.Bdwrite(bp);
                    break;
                }
            }
        }
        return 0;
    }

    /// <summary>
    /// The cluster after <paramref name="c"/> in its chain: <paramref name="next"/> is 0 at the end
    /// of the chain. EIO for a free, bad, reserved or out-of-range link (a corrupt chain).
    /// </summary>
    public int Next(uint c, out uint next)
    {
        next = 0;
        int e = Get(c, out uint v);
        if (e != 0) return e;
        if (IsEoc(v)) return 0;
        if (v == _bad || !IsValidCluster(v)) return Abi.EIO;
        next = v;
        return 0;
    }

    /// <summary>
    /// Follows the chain from <paramref name="first"/> (a valid cluster), giving each cluster to
    /// <paramref name="map"/>, with the same checks as <see cref="Next"/>: EIO for a link out of
    /// range, to a bad cluster, or a chain longer than <paramref name="maxClusters"/> (a loop).
    /// FAT16/32 entries never straddle sectors, so one sector buffer is held while the chain stays
    /// in it: a long file costs a cache lookup per FAT sector, not per cluster.
    /// </summary>
    internal int WalkChain(uint first, uint maxClusters, ClusterMap map)
    {
        uint c = first;
        Buf? bp = null;
        uint held = uint.MaxValue;
        try
        {
            while (true)
            {
                if (map.Count >= maxClusters) return Abi.EIO;
                map.Append(c);
                uint v;
                if (_type == FatType.Fat12)
                {
                    int e = Get(c, out v);
                    if (e != 0) return e;
                }
                else
                {
                    if (c > MaxCluster + 1) return Abi.EIO;
                    long off = EntryOffset(c);
                    uint sector = (uint)(off / _bps);
                    if (sector != held)
                    {
                        if (bp != null) { _bc.Brelse(bp); bp = null; }
                        int e = _bc.Bread(_dev, SectorBlk(_activeFat, sector), _bps, out Buf nb);
                        if (e != 0) return e;
                        bp = nb;
                        held = sector;
                    }
                    int within = (int)(off % _bps);
                    v = _type == FatType.Fat16
                        ? BinaryPrimitives.ReadUInt16LittleEndian(bp!.Data.AsSpan(within))
                        : BinaryPrimitives.ReadUInt32LittleEndian(bp!.Data.AsSpan(within)) & 0x0FFFFFFF;
                }
                if (IsEoc(v)) return 0;
                if (v == _bad || !IsValidCluster(v)) return Abi.EIO;
                c = v;
            }
        }
        finally
        {
            if (bp != null) _bc.Brelse(bp);
        }
    }

    // ---- Allocation ----------------------------------------------------------------------------

    /// <summary>Seeds the counters from FSInfo (FAT32) when its values are plausible.</summary>
    public void SeedFromInfo(in FsInfo fi, bool trustCount)
    {
        if (IsValidCluster(fi.NextFree)) _nextFree = fi.NextFree;
        if (trustCount && fi.FreeCount != FsInfo.Unknown && fi.FreeCount <= ClusterCount) _free = fi.FreeCount;
    }

    public uint NextFreeHint => _nextFree;

    /// <summary>Free clusters, counting the table the first time.</summary>
    public int FreeCount(out long free)
    {
        free = 0;
        if (_free < 0)
        {
            int e = Scan(2, MaxCluster, count: true, out _, out long n);
            if (e != 0) return e;
            _free = n;
        }
        free = _free;
        return 0;
    }

    /// <summary>
    /// Walks entries <paramref name="from"/>..<paramref name="to"/> a sector at a time: counts the
    /// free ones, or (count false) stops at the first free one.
    /// </summary>
    private int Scan(uint from, uint to, bool count, out uint found, out long n)
    {
        found = 0; n = 0;
        if (_type == FatType.Fat12)
        {
            // At most 4084 entries, some straddling sectors: entry by entry.
            for (uint c = from; c <= to; c++)
            {
                int e = Get(c, out uint v);
                if (e != 0) return e;
                if (v != 0) continue;
                if (!count) { found = c; return 0; }
                n++;
            }
            return 0;
        }
        int size = _type == FatType.Fat16 ? 2 : 4;
        int perSector = _bps / size;
        uint cl = from;
        while (cl <= to)
        {
            uint sector = (uint)((long)cl * size / _bps);
            int e = _bc.Bread(_dev, SectorBlk(_activeFat, sector), _bps, out Buf bp);
            if (e != 0) return e;
            uint last = Math.Min(to, (sector + 1) * (uint)perSector - 1);
            ReadOnlySpan<byte> d = bp.Data;
            for (; cl <= last; cl++)
            {
                int o = (int)(cl % (uint)perSector) * size;
                uint v = size == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(d.Slice(o)) : BinaryPrimitives.ReadUInt32LittleEndian(d.Slice(o)) & 0x0FFFFFFF;
                if (v != 0) continue;
                if (!count) { found = cl; _bc.Brelse(bp); return 0; }
                n++;
            }
            _bc.Brelse(bp);
        }
        return 0;
    }

    /// <summary>
    /// Allocates one cluster, marked end-of-chain, preferring <paramref name="hint"/> (the cluster
    /// after a file's last, for contiguity) and then the next-free hint. ENOSPC when none is free.
    /// </summary>
    public int Alloc(uint hint, out uint c)
    {
        c = 0;
        int e = FreeCount(out long free);
        if (e != 0) return e;
        if (free == 0) return Abi.ENOSPC;
        if (IsValidCluster(hint))
        {
            e = Get(hint, out uint v);
            if (e != 0) return e;
            if (v == 0) c = hint;
        }
        if (c == 0)
        {
            uint start = IsValidCluster(_nextFree) ? _nextFree : 2;
            e = Scan(start, MaxCluster, count: false, out c, out _);
            if (e != 0) return e;
            if (c == 0 && start > 2)
            {
                e = Scan(2, start - 1, count: false, out c, out _);
                if (e != 0) return e;
            }
            // The count said there was one: it was wrong (a corrupt FSInfo count).
            if (c == 0) { _free = 0; InfoDirty = true; return Abi.ENOSPC; }
        }
        e = Set(c, Eoc);
        if (e != 0) return e;
        _free--;
        _nextFree = c + 1 > MaxCluster ? 2 : c + 1;
        InfoDirty = true;
        return 0;
    }

    /// <summary>
    /// Frees the chain starting at <paramref name="c"/>. The walk is bounded by the cluster count,
    /// and a loop ends it anyway: a freed entry reads as free when reached again.
    /// </summary>
    public int FreeChain(uint c)
    {
        for (uint steps = 0; IsValidCluster(c) && steps <= MaxCluster; steps++)
        {
            int e = Get(c, out uint v);
            if (e != 0) return e;
            if (v == 0 || v == _bad) break; // already free (a cross-link or loop), or not ours
            e = Set(c, 0);
            if (e != 0) return e;
            if (_free >= 0) _free++;
            InfoDirty = true;
            if (IsEoc(v)) break;
            c = v;
        }
        return 0;
    }
}
