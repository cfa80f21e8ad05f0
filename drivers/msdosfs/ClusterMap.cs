using System;
using Rump.Kern;

namespace Rump.Fs.Msdosfs;

/// <summary>
/// A file's or directory's cluster chain as runs of consecutive clusters (a contiguous file is
/// one run), built once from the FAT and kept up to date as the chain grows and shrinks. Maps
/// the n-th cluster of the file to a cluster number without touching the FAT again.
/// Precondition for every method: the mount's lock is held.
/// </summary>
internal sealed class ClusterMap
{
    private uint[] _start = new uint[4];
    private uint[] _len = new uint[4];
    /// <summary>File cluster index where run i begins.</summary>
    private uint[] _first = new uint[4];
    private int _runs;
    private int _hint;

    /// <summary>Clusters in the chain.</summary>
    public uint Count { get; private set; }

    public uint Last => _runs == 0 ? 0 : _start[_runs - 1] + _len[_runs - 1] - 1;

    /// <summary>
    /// Reads the chain starting at <paramref name="first"/> (0: empty). EIO for a link out of range
    /// or to a free cluster, and for a chain longer than <paramref name="maxClusters"/> (a loop).
    /// </summary>
    public static int Build(Fat fat, uint first, uint maxClusters, out ClusterMap map)
    {
        map = new ClusterMap();
        if (first == 0) return 0;
        if (!fat.IsValidCluster(first)) return Abi.EIO;
        return fat.WalkChain(first, maxClusters, map);
    }

    public void Append(uint c)
    {
        if (_runs > 0 && _start[_runs - 1] + _len[_runs - 1] == c)
        {
            _len[_runs - 1]++;
        }
        else
        {
            if (_runs == _start.Length)
            {
                Array.Resize(ref _start, _runs * 2);
                Array.Resize(ref _len, _runs * 2);
                Array.Resize(ref _first, _runs * 2);
            }
            _start[_runs] = c;
            _len[_runs] = 1;
            _first[_runs] = Count;
            _runs++;
        }
        Count++;
    }

    /// <summary>Cluster number of file cluster <paramref name="index"/> (&lt; Count).</summary>
    public uint Get(uint index)
    {
        int i = _hint;
        if (i >= _runs || index < _first[i] || index >= _first[i] + _len[i])
        {
            int lo = 0, hi = _runs - 1;
            while (lo < hi)
            {
                int mid = (lo + hi + 1) >>> 1;
                if (_first[mid] <= index) lo = mid; else hi = mid - 1;
            }
            i = lo;
            _hint = i;
        }
        return _start[i] + (index - _first[i]);
    }

    /// <summary>How many clusters from file cluster <paramref name="index"/> on are consecutive on disk.</summary>
    public uint RunFrom(uint index)
    {
        Get(index);
        int i = _hint;
        return _first[i] + _len[i] - index;
    }

    /// <summary>Keeps the first <paramref name="n"/> clusters.</summary>
    public void Truncate(uint n)
    {
        if (n >= Count) return;
        while (_runs > 0 && _first[_runs - 1] >= n) _runs--;
        if (_runs > 0) _len[_runs - 1] = n - _first[_runs - 1];
        Count = n;
        _hint = 0;
    }
}
