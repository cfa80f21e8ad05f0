using System;
using Rump.Kern;

namespace Rump.Fs.Cd9660.Wire;

/// <summary>
/// Rock Ridge entries (IEEE P1282, RRIP 1.10/1.12) inside SUSP areas: PX (POSIX attributes), PN
/// (device number), SL (symbolic link components), NM (alternate name), CL/PL/RE (deep directory
/// relocation), TF (time stamps). Each Parse reads one entry's data and fails (false) if it is too short.
/// </summary>
public static class RockRidge
{
    public const ushort PX = 'P' << 8 | 'X', PN = 'P' << 8 | 'N', SL = 'S' << 8 | 'L', NM = 'N' << 8 | 'M',
        CL = 'C' << 8 | 'L', PL = 'P' << 8 | 'L', RE = 'R' << 8 | 'E', TF = 'T' << 8 | 'F', RR = 'R' << 8 | 'R',
        SF = 'S' << 8 | 'F', ZF = 'Z' << 8 | 'F';

    /// <summary>NM and SL component flags.</summary>
    public const byte Continue = 0x01, Current = 0x02, Parent = 0x04, Root = 0x08, VolRoot = 0x10, Host = 0x20;

    /// <summary>TF flags: which stamps follow, in this order; <see cref="TfLongForm"/> selects 17-byte stamps.</summary>
    public const byte TfCreation = 0x01, TfModify = 0x02, TfAccess = 0x04, TfAttributes = 0x08, TfBackup = 0x10,
        TfExpiration = 0x20, TfEffective = 0x40, TfLongForm = 0x80;

    /// <summary>PX: st_mode, st_nlink, st_uid, st_gid (each 733), and in RRIP 1.12 the file serial number.</summary>
    public static bool ParsePx(ReadOnlySpan<byte> d, out uint mode, out uint nlink, out uint uid, out uint gid, out uint serial, out bool hasSerial)
    {
        mode = nlink = uid = gid = serial = 0;
        hasSerial = false;
        if (d.Length < 32) return false;
        mode = IsoNum.Read733(d);
        nlink = IsoNum.Read733(d.Slice(8));
        uid = IsoNum.Read733(d.Slice(16));
        gid = IsoNum.Read733(d.Slice(24));
        if (d.Length >= 40) { serial = IsoNum.Read733(d.Slice(32)); hasSerial = true; }
        return true;
    }

    /// <summary>PN: the device number's high and low 32 bits.</summary>
    public static bool ParsePn(ReadOnlySpan<byte> d, out uint high, out uint low)
    {
        high = low = 0;
        if (d.Length < 16) return false;
        high = IsoNum.Read733(d);
        low = IsoNum.Read733(d.Slice(8));
        return true;
    }

    /// <summary>CL and PL: a directory's location (logical block).</summary>
    public static bool ParseLocation(ReadOnlySpan<byte> d, out uint block)
    {
        block = 0;
        if (d.Length < 8) return false;
        block = IsoNum.Read733(d);
        return true;
    }

    /// <summary>NM: flags and this piece of the name (the whole name is the concatenation while <see cref="Continue"/> is set).</summary>
    public static bool ParseNm(ReadOnlySpan<byte> d, out byte flags, out ReadOnlySpan<byte> part)
    {
        flags = 0; part = default;
        if (d.Length < 1) return false;
        flags = d[0];
        part = d.Slice(1);
        return true;
    }

    /// <summary>
    /// TF: the stamps present, decoded. <paramref name="times"/> is indexed by bit position (0
    /// creation, 1 modify, 2 access, 3 attributes, ...); <paramref name="present"/> has the bits found.
    /// </summary>
    public static bool ParseTf(ReadOnlySpan<byte> d, Span<RumpTimespec> times, out byte present)
    {
        present = 0;
        if (d.Length < 1) return false;
        byte flags = d[0];
        int size = (flags & TfLongForm) != 0 ? IsoTime.LongLength : IsoTime.ShortLength;
        int pos = 1;
        for (int bit = 0; bit < 7; bit++)
        {
            if ((flags & (1 << bit)) == 0) continue;
            if (pos + size > d.Length) return present != 0;
            ReadOnlySpan<byte> s = d.Slice(pos, size);
            if (bit < times.Length) times[bit] = size == IsoTime.LongLength ? IsoTime.DecodeLong(s) : IsoTime.DecodeShort(s);
            present |= (byte)(1 << bit);
            pos += size;
        }
        return true;
    }

    /// <summary>SL: the entry's flags (bit 0: the link continues in the next SL) and its component records.</summary>
    public static bool ParseSl(ReadOnlySpan<byte> d, out byte flags, out ReadOnlySpan<byte> components)
    {
        flags = 0; components = default;
        if (d.Length < 1) return false;
        flags = d[0];
        components = d.Slice(1);
        return true;
    }

    // ---- Emit (fixtures and tests) ------------------------------------------------------------

    public static int EmitPx(Span<byte> dst, uint mode, uint nlink, uint uid, uint gid, uint? serial = null)
    {
        Span<byte> d = stackalloc byte[serial.HasValue ? 40 : 32];
        IsoNum.Write733(d, mode); IsoNum.Write733(d.Slice(8), nlink);
        IsoNum.Write733(d.Slice(16), uid); IsoNum.Write733(d.Slice(24), gid);
        if (serial.HasValue) IsoNum.Write733(d.Slice(32), serial.Value);
        return SuspEntry.Emit(dst, PX, d);
    }

    public static int EmitPn(Span<byte> dst, uint high, uint low)
    {
        Span<byte> d = stackalloc byte[16];
        IsoNum.Write733(d, high); IsoNum.Write733(d.Slice(8), low);
        return SuspEntry.Emit(dst, PN, d);
    }

    public static int EmitLocation(Span<byte> dst, ushort sig, uint block)
    {
        Span<byte> d = stackalloc byte[8];
        IsoNum.Write733(d, block);
        return SuspEntry.Emit(dst, sig, d);
    }

    public static int EmitNm(Span<byte> dst, byte flags, ReadOnlySpan<byte> part)
    {
        Span<byte> d = stackalloc byte[1 + part.Length];
        d[0] = flags;
        part.CopyTo(d.Slice(1));
        return SuspEntry.Emit(dst, NM, d);
    }

    /// <summary>TF with short-form modify, access and attribute-change stamps (seconds since the epoch, GMT).</summary>
    public static int EmitTf(Span<byte> dst, long mtime, long atime, long ctime)
    {
        Span<byte> d = stackalloc byte[1 + 3 * IsoTime.ShortLength];
        d[0] = TfModify | TfAccess | TfAttributes;
        IsoTime.EncodeShort(d.Slice(1), mtime);
        IsoTime.EncodeShort(d.Slice(8), atime);
        IsoTime.EncodeShort(d.Slice(15), ctime);
        return SuspEntry.Emit(dst, TF, d);
    }

    /// <summary>SL from pre-encoded component records (see <see cref="EmitSlComponent"/>).</summary>
    public static int EmitSl(Span<byte> dst, byte flags, ReadOnlySpan<byte> components)
    {
        Span<byte> d = stackalloc byte[1 + components.Length];
        d[0] = flags;
        components.CopyTo(d.Slice(1));
        return SuspEntry.Emit(dst, SL, d);
    }

    public static int EmitSlComponent(Span<byte> dst, byte flags, ReadOnlySpan<byte> content)
    {
        dst[0] = flags;
        dst[1] = (byte)content.Length;
        content.CopyTo(dst.Slice(2));
        return 2 + content.Length;
    }
}

/// <summary>
/// Builds a symbolic link's target from SL component records, possibly spread over several SL
/// entries (RRIP §4.1.3): components are joined with '/', except after one flagged
/// <see cref="RockRidge.Continue"/> (a name split across records); ROOT restarts at "/".
/// The caller owns the buffer; an overflow marks the target bad rather than truncating it silently.
/// </summary>
public ref struct SymlinkBuilder
{
    private readonly Span<byte> _buf;
    public int Length;
    public bool Overflow;
    private bool _wantSlash;

    public SymlinkBuilder(Span<byte> buf) { _buf = buf; Length = 0; Overflow = false; _wantSlash = false; }

    public readonly ReadOnlySpan<byte> Target => _buf.Slice(0, Length);

    /// <summary>Adds one SL entry's component records; false if they are malformed.</summary>
    public bool AddComponents(ReadOnlySpan<byte> comps)
    {
        while (comps.Length > 0)
        {
            if (comps.Length < 2) return false;
            byte cf = comps[0];
            int clen = comps[1];
            if (2 + clen > comps.Length) return false;
            ReadOnlySpan<byte> content = comps.Slice(2, clen);
            comps = comps.Slice(2 + clen);
            if ((cf & (RockRidge.Root | RockRidge.VolRoot)) != 0)
            {
                // An absolute link restarts the path.
                Length = 0;
                Put((byte)'/');
                _wantSlash = false;
                continue;
            }
            if (_wantSlash) Put((byte)'/');
            if ((cf & RockRidge.Current) != 0) Put((byte)'.');
            else if ((cf & RockRidge.Parent) != 0) { Put((byte)'.'); Put((byte)'.'); }
            else if ((cf & RockRidge.Host) != 0) { /* the host name: nothing sensible to substitute */ }
            else foreach (byte b in content) Put(b);
            _wantSlash = (cf & RockRidge.Continue) == 0;
        }
        return true;
    }

    private void Put(byte b)
    {
        if (Length >= _buf.Length) { Overflow = true; return; }
        _buf[Length++] = b;
    }
}
