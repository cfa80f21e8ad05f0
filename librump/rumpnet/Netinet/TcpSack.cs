using System;
using System.Runtime.CompilerServices;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// Selective acknowledgment (RFC 2018) on both sides, over one structure: a small sorted set of
/// disjoint sequence ranges [Left, Right), held inline (no allocation).
/// - The receiver's set is the out-of-order data held in the receive buffer above RCV.NXT: it is
///   the reassembly queue (the bytes already sit at their place in the ring) and the source of
///   the SACK blocks we send, the block holding the latest segment first (RFC 2018 4).
/// - The sender's set is the scoreboard: what the peer's SACK blocks say it holds above SND.UNA.
///   Loss recovery (RFC 6675, simplified: a hole below the highest SACKed byte is lost) resends
///   the holes first and counts the data in flight as "pipe" (<see cref="TcpStack"/>).
/// Protected by the TCB's owner (the stack lock), like the rest of the TCB.
/// </summary>
internal struct SeqRangeSet
{
    public const int Capacity = 16;

    [InlineArray(Capacity)]
    private struct Ranges { private SackBlock _e; }

    private Ranges _r;
    public int Count;
    /// <summary>The index of the range that grew last (the receiver reports it first).</summary>
    private int _latest;

    public readonly SackBlock this[int i] => _r[i];
    public readonly uint HighestRight => Count == 0 ? 0 : _r[Count - 1].Right;

    public void Clear() { Count = 0; _latest = 0; }

    /// <summary>Adds [l, r), merging with neighbours; false if the set is full and it touches none (the caller drops the data).</summary>
    public bool Add(uint l, uint r)
    {
        if (!Seq.Lt(l, r)) return true;
        int i = 0;
        while (i < Count && Seq.Lt(_r[i].Right, l)) i++;
        // Ranges i.. end at or after l; merge every one that starts at or before r.
        int j = i;
        while (j < Count && Seq.Leq(_r[j].Left, r)) j++;
        if (j > i)
        {
            uint nl = Seq.Min(l, _r[i].Left), nr = Seq.Max(r, _r[j - 1].Right);
            _r[i] = new SackBlock(nl, nr);
            int gone = j - i - 1;
            for (int k = i + 1; k + gone < Count; k++) _r[k] = _r[k + gone];
            Count -= gone;
            _latest = i;
            return true;
        }
        if (Count == Capacity) return false;
        for (int k = Count; k > i; k--) _r[k] = _r[k - 1];
        _r[i] = new SackBlock(l, r);
        Count++;
        _latest = i;
        return true;
    }

    /// <summary>Forgets everything below <paramref name="seq"/> (the cumulative point moved).</summary>
    public void TrimBelow(uint seq)
    {
        int drop = 0;
        while (drop < Count && Seq.Leq(_r[drop].Right, seq)) drop++;
        if (drop > 0)
        {
            for (int k = 0; k + drop < Count; k++) _r[k] = _r[k + drop];
            Count -= drop;
            _latest = Math.Max(0, _latest - drop);
        }
        if (Count > 0 && Seq.Lt(_r[0].Left, seq)) _r[0] = new SackBlock(seq, _r[0].Right);
        if (_latest >= Count) _latest = 0;
    }

    /// <summary>If the first range starts at <paramref name="seq"/>, removes it and returns its end; else returns seq.</summary>
    public uint TakeContiguous(uint seq)
    {
        if (Count == 0 || _r[0].Left != seq) return seq;
        uint end = _r[0].Right;
        TrimBelow(end);
        return end;
    }

    /// <summary>Bytes covered between <paramref name="from"/> and <paramref name="to"/>.</summary>
    public readonly uint CoveredBetween(uint from, uint to)
    {
        uint n = 0;
        for (int i = 0; i < Count; i++)
        {
            uint l = Seq.Max(_r[i].Left, from), r = Seq.Min(_r[i].Right, to);
            if (Seq.Lt(l, r)) n += r - l;
        }
        return n;
    }

    /// <summary>Whether <paramref name="seq"/> lies in a range; if so, <paramref name="right"/> is that range's end.</summary>
    public readonly bool Contains(uint seq, out uint right)
    {
        for (int i = 0; i < Count; i++)
            if (Seq.InRange(seq, _r[i].Left, _r[i].Right)) { right = _r[i].Right; return true; }
        right = 0;
        return false;
    }

    /// <summary>The first range starting after <paramref name="seq"/>'s position (its left edge), or false.</summary>
    public readonly bool NextLeftAfter(uint seq, out uint left)
    {
        for (int i = 0; i < Count; i++)
            if (Seq.Gt(_r[i].Left, seq)) { left = _r[i].Left; return true; }
        left = 0;
        return false;
    }

    /// <summary>Writes up to <paramref name="max"/> blocks, the latest first, then the others from the lowest.</summary>
    public readonly int ToSackBlocks(ref SackBlocks4 dst, int max)
    {
        int n = 0;
        if (Count == 0 || max <= 0) return 0;
        dst[n++] = _r[_latest];
        for (int i = 0; i < Count && n < max; i++)
            if (i != _latest) dst[n++] = _r[i];
        return n;
    }
}
