using System;
using Rump.Fs.Cd9660.Wire;
using Rump.Kern;

namespace Rump.Fs.Cd9660;

/// <summary>
/// Collects the Rock Ridge information of one directory record: walks its System Use area and the
/// Continuation Areas that CE entries chain to, reading those through the buffer cache. One
/// instance per directory scan, reset for each record (not shared between threads).
///
/// Hostile chains are bounded: at most <see cref="MaxCeHops"/> continuations (a CE loop just stops
/// there), each at most <see cref="MaxCeBytes"/> and inside the device; names and link targets
/// that overflow their buffers are marked bad instead of being truncated.
/// </summary>
internal sealed class RockRidgeWalk
{
    public const int MaxCeHops = 32;
    public const int MaxCeBytes = 64 * 1024;
    public const int MaxName = 1024;
    public const int MaxLink = 4096;

    private readonly Cd9660Mount _imp;
    private readonly byte[] _name = new byte[MaxName];
    private readonly byte[] _link = new byte[MaxLink];
    private byte[]? _ce;
    public readonly RumpTimespec[] Times = new RumpTimespec[7];

    // The last record's findings (see Reset).
    public int NameLen;
    public bool HasName, NameBad;
    public int LinkLen;
    public bool HasLink, LinkBad;
    public bool HasPx;
    public uint Mode, Nlink, Uid, Gid;
    public byte TfPresent;
    public bool HasPn;
    public uint PnHigh, PnLow;
    public bool HasCl, HasPl, Relocated;
    public uint Cl, Pl;
    /// <summary>Any Rock Ridge entry, or an ER naming RRIP: how mount decides Rock Ridge is in use.</summary>
    public bool SawRrip;

    public RockRidgeWalk(Cd9660Mount imp) { _imp = imp; }

    public ReadOnlySpan<byte> Name => _name.AsSpan(0, NameLen);
    public ReadOnlySpan<byte> Link => _link.AsSpan(0, LinkLen);

    private void Reset()
    {
        NameLen = LinkLen = 0;
        HasName = NameBad = HasLink = LinkBad = HasPx = HasPn = HasCl = HasPl = Relocated = SawRrip = false;
        Mode = Nlink = Uid = Gid = PnHigh = PnLow = Cl = Pl = 0;
        TfPresent = 0;
    }

    /// <summary>Walks <paramref name="sua"/> (already past LEN_SKP) and its continuations; 0, or EIO if a continuation cannot be read.</summary>
    public int Walk(ReadOnlySpan<byte> sua)
    {
        Reset();
        var sl = new SymlinkBuilder(_link);
        ReadOnlySpan<byte> area = sua;
        for (int hop = 0; ; hop++)
        {
            bool haveCe = false;
            uint ceBlock = 0, ceOff = 0, ceLen = 0;
            var r = new SuspReader(area);
            while (r.Next(out SuspEntry e))
            {
                switch (e.Signature)
                {
                    case Susp.CE:
                        // Only the last CE of an area counts (SUSP allows one); it is followed after this area.
                        haveCe = Susp.ParseCe(e.Data, out ceBlock, out ceOff, out ceLen);
                        break;
                    case Susp.ER:
                        if (Susp.ParseErId(e.Data, out ReadOnlySpan<byte> id)
                            && (id.SequenceEqual("RRIP_1991A"u8) || id.SequenceEqual("IEEE_P1282"u8) || id.SequenceEqual("IEEE_1282"u8)))
                            SawRrip = true;
                        break;
                    case RockRidge.NM:
                        SawRrip = true;
                        if (RockRidge.ParseNm(e.Data, out byte nf, out ReadOnlySpan<byte> part) && (nf & (RockRidge.Current | RockRidge.Parent)) == 0)
                        {
                            HasName = true;
                            if (NameLen + part.Length > MaxName) NameBad = true;
                            else { part.CopyTo(_name.AsSpan(NameLen)); NameLen += part.Length; }
                        }
                        break;
                    case RockRidge.PX:
                        SawRrip = true;
                        HasPx = RockRidge.ParsePx(e.Data, out Mode, out Nlink, out Uid, out Gid, out _, out _);
                        break;
                    case RockRidge.TF:
                        SawRrip = true;
                        if (RockRidge.ParseTf(e.Data, Times, out byte present)) TfPresent |= present;
                        break;
                    case RockRidge.SL:
                        SawRrip = true;
                        HasLink = true;
                        if (!RockRidge.ParseSl(e.Data, out _, out ReadOnlySpan<byte> comps) || !sl.AddComponents(comps)) LinkBad = true;
                        break;
                    case RockRidge.PN:
                        SawRrip = true;
                        HasPn = RockRidge.ParsePn(e.Data, out PnHigh, out PnLow);
                        break;
                    case RockRidge.CL:
                        SawRrip = true;
                        HasCl = RockRidge.ParseLocation(e.Data, out Cl);
                        break;
                    case RockRidge.PL:
                        SawRrip = true;
                        HasPl = RockRidge.ParseLocation(e.Data, out Pl);
                        break;
                    case RockRidge.RE:
                        SawRrip = true;
                        Relocated = true;
                        break;
                    case RockRidge.RR:
                        SawRrip = true;
                        break;
                }
            }
            if (!haveCe || hop >= MaxCeHops || ceLen == 0 || ceLen > MaxCeBytes) break;
            long addr = (long)ceBlock * _imp.BlockSize + ceOff;
            if (addr + ceLen > _imp.Dev.Size) return Abi.EIO;
            _ce ??= new byte[MaxCeBytes];
            Span<byte> buf = _ce.AsSpan(0, (int)ceLen);
            int err = _imp.ReadBytes(addr, buf);
            if (err != 0) return err;
            area = buf;
        }
        LinkLen = sl.Length;
        LinkBad |= sl.Overflow;
        return 0;
    }
}
