using System;
using System.Collections.Generic;
using Rump.Kern;

namespace Rump.Usb.Wire;

/// <summary>The three report kinds of a HID device (HID 1.11, 6.2.2.4 main items).</summary>
public enum HidKind : byte { Input = 0, Output = 1, Feature = 2 }

/// <summary>Usage pages and usages the drivers here look for (HID Usage Tables 1.12).</summary>
public static class HidUsage
{
    public const ushort PageGenericDesktop = 0x01, PageKeyboard = 0x07, PageLeds = 0x08, PageButton = 0x09, PageConsumer = 0x0C;
    public const ushort Pointer = 0x01, Mouse = 0x02, Joystick = 0x04, GamePad = 0x05, Keyboard = 0x06, Keypad = 0x07;
    public const ushort X = 0x30, Y = 0x31, Wheel = 0x38;

    /// <summary>A 32-bit usage: the page in the high half, the id in the low half.</summary>
    public static uint Make(ushort page, ushort id) => (uint)page << 16 | id;
}

/// <summary>
/// One main item of a report descriptor (Input, Output or Feature) as laid out in its report:
/// <see cref="Count"/> values of <see cref="BitSize"/> bits each, starting <see cref="BitPos"/>
/// bits after the report ID byte (if the device uses report IDs).
/// </summary>
public sealed class HidField
{
    public const uint FlagConstant = 0x01, FlagVariable = 0x02, FlagRelative = 0x04, FlagNull = 0x40;

    public HidKind Kind;
    public byte ReportId;
    public int BitPos, BitSize, Count;
    public uint Flags;
    public int LogicalMin, LogicalMax;
    /// <summary>The usages listed (32-bit, page in the high half), or empty when a range was given.</summary>
    public uint[] Usages = Array.Empty<uint>();
    public uint UsageMin, UsageMax;
    /// <summary>The usage of the enclosing application collection (page in the high half), 0 outside any.</summary>
    public uint Application;

    public bool IsConstant => (Flags & FlagConstant) != 0;
    public bool IsVariable => (Flags & FlagVariable) != 0;
    public bool IsArray => !IsVariable;
    public bool IsSigned => LogicalMin < 0;

    /// <summary>The usage of value <paramref name="i"/> of a variable field (the last listed usage repeats, HID 6.2.2.8), 0 if none.</summary>
    public uint UsageOf(int i)
    {
        if (Usages.Length > 0) return Usages[Math.Min(i, Usages.Length - 1)];
        if (UsageMax < UsageMin || (UsageMin == 0 && UsageMax == 0)) return 0;
        ulong u = (ulong)UsageMin + (ulong)i;
        return u > UsageMax ? UsageMax : (uint)u;
    }

    /// <summary>Whether an array field can report <paramref name="usage"/>.</summary>
    public bool CanReport(uint usage)
    {
        if (Usages.Length > 0) return Array.IndexOf(Usages, usage) >= 0;
        return usage >= UsageMin && usage <= UsageMax && UsageMax != 0;
    }

    /// <summary>
    /// Value <paramref name="i"/> from a report (without its report ID byte); false if the report is
    /// too short to hold it. Signed fields are sign-extended.
    /// </summary>
    public bool TryGet(ReadOnlySpan<byte> report, int i, out int value)
    {
        value = 0;
        if ((uint)i >= (uint)Count || BitSize is 0 or > 32) return false;
        long start = BitPos + (long)i * BitSize;
        if (!HidBits.TryExtract(report, start, BitSize, out uint raw)) return false;
        value = IsSigned && BitSize < 32 && (raw & (1u << (BitSize - 1))) != 0 ? (int)(raw | (uint.MaxValue << BitSize)) : (int)raw;
        return true;
    }
}

/// <summary>Bit fields in little-endian reports (HID 1.11, 5.8: least significant bit first).</summary>
public static class HidBits
{
    public static bool TryExtract(ReadOnlySpan<byte> r, long bitPos, int size, out uint v)
    {
        v = 0;
        if (size is <= 0 or > 32 || bitPos < 0 || bitPos + size > (long)r.Length * 8) return false;
        ulong acc = 0;
        int first = (int)(bitPos >> 3), last = (int)((bitPos + size - 1) >> 3);
        for (int b = last; b >= first; b--) acc = acc << 8 | r[b];
        acc >>= (int)(bitPos & 7);
        v = (uint)(acc & (size == 32 ? uint.MaxValue : (1u << size) - 1));
        return true;
    }

    public static bool TryInsert(Span<byte> r, long bitPos, int size, uint v)
    {
        if (size is <= 0 or > 32 || bitPos < 0 || bitPos + size > (long)r.Length * 8) return false;
        for (int i = 0; i < size; i++)
        {
            long p = bitPos + i;
            byte mask = (byte)(1 << (int)(p & 7));
            if ((v >> i & 1) != 0) r[(int)(p >> 3)] |= mask; else r[(int)(p >> 3)] &= (byte)~mask;
        }
        return true;
    }
}

/// <summary>
/// A parsed report descriptor (HID 1.11, 6.2.2): every Input, Output and Feature field with its
/// place in its report, the application collections, and report sizes. Made by <see cref="Parse"/>
/// from untrusted bytes: item sizes are checked against the end, nesting, the push stack, usage
/// lists and report sizes are bounded, and anything wrong is EINVAL.
/// </summary>
public sealed class HidReportDescriptor
{
    /// <summary>Bounds on hostile descriptors (far above any real device's).</summary>
    public const int MaxDepth = 32, MaxPush = 16, MaxUsages = 1024, MaxFields = 1024, ReportBytesLimit = 8192, MaxDescriptorBytes = 16384;

    public readonly List<HidField> Fields = new();
    /// <summary>Application collections in order (usage with page in the high half).</summary>
    public readonly List<uint> Applications = new();
    /// <summary>The device prefixes its reports with a report ID byte.</summary>
    public bool HasReportIds;
    /// <summary>Bits per (kind, report ID), report ID byte not included.</summary>
    private readonly Dictionary<(HidKind, byte), int> _bits = new();

    /// <summary>Bytes of a report of <paramref name="kind"/> with <paramref name="id"/>, without the ID byte (0 if there is none).</summary>
    public int ReportBytes(HidKind kind, byte id) => _bits.TryGetValue((kind, id), out int b) ? (b + 7) / 8 : 0;

    /// <summary>The largest report of <paramref name="kind"/>, with its ID byte if the device uses IDs.</summary>
    public int MaxReportBytes(HidKind kind)
    {
        int m = 0;
        foreach (var kv in _bits) if (kv.Key.Item1 == kind) m = Math.Max(m, (kv.Value + 7) / 8);
        return m == 0 ? 0 : m + (HasReportIds ? 1 : 0);
    }

    /// <summary>
    /// uhidev's demultiplexing of an input report as it arrives on the interrupt pipe: with report
    /// IDs, its first byte is the ID and the rest the report; without, the whole of it is report 0.
    /// EINVAL for an empty report or an ID the descriptor has no input report for (a hostile or
    /// confused device: the report is dropped). A report shorter than its layout is passed on:
    /// fields beyond its end read as absent (<see cref="HidField.TryGet"/>).
    /// </summary>
    public int SplitInput(ReadOnlySpan<byte> raw, out byte id, out ReadOnlySpan<byte> report)
    {
        id = 0;
        report = raw;
        if (!HasReportIds) return raw.Length > 0 ? 0 : Abi.EINVAL;
        if (raw.Length == 0) return Abi.EINVAL;
        id = raw[0];
        report = raw.Slice(1);
        return _bits.ContainsKey((HidKind.Input, id)) ? 0 : Abi.EINVAL;
    }

    /// <summary>The application collection (usage, page in the high half) that report <paramref name="id"/> of <paramref name="kind"/> belongs to: its first field's; 0 if none.</summary>
    public uint ApplicationOf(HidKind kind, byte id)
    {
        foreach (HidField f in Fields)
            if (f.Kind == kind && f.ReportId == id) return f.Application;
        return 0;
    }

    /// <summary>The fields of one report, in order (the demultiplexed view a child of uhidev sees).</summary>
    public List<HidField> FieldsOf(HidKind kind, byte id)
    {
        var l = new List<HidField>();
        foreach (HidField f in Fields)
            if (f.Kind == kind && f.ReportId == id) l.Add(f);
        return l;
    }

    /// <summary>Report IDs in use for <paramref name="kind"/>.</summary>
    public List<byte> ReportIds(HidKind kind)
    {
        var l = new List<byte>();
        foreach (var kv in _bits) if (kv.Key.Item1 == kind && !l.Contains(kv.Key.Item2)) l.Add(kv.Key.Item2);
        l.Sort();
        return l;
    }

    /// <summary>The first variable field of <paramref name="kind"/> holding <paramref name="usage"/>, and the index of its value.</summary>
    public HidField? FindVariable(HidKind kind, uint usage, out int index)
    {
        foreach (HidField f in Fields)
        {
            if (f.Kind != kind || !f.IsVariable || f.IsConstant) continue;
            for (int i = 0; i < f.Count; i++)
                if (f.UsageOf(i) == usage) { index = i; return f; }
        }
        index = -1;
        return null;
    }

    /// <summary>The first array field of <paramref name="kind"/> that can report <paramref name="usage"/>.</summary>
    public HidField? FindArray(HidKind kind, uint usage)
    {
        foreach (HidField f in Fields)
            if (f.Kind == kind && f.IsArray && !f.IsConstant && f.CanReport(usage)) return f;
        return null;
    }

    private struct Globals
    {
        public ushort UsagePage;
        public int LogicalMin;
        /// <summary>Logical Maximum as read, and its size in bytes: whether it is signed depends on the minimum.</summary>
        public uint LogicalMaxRaw;
        public int LogicalMaxSize;
        public int ReportSize, ReportCount;
        public byte ReportId;
    }

    public static int Parse(ReadOnlySpan<byte> d, out HidReportDescriptor? desc)
    {
        desc = null;
        if (d.Length > MaxDescriptorBytes) return Abi.EINVAL;
        var r = new HidReportDescriptor();
        var g = new Globals();
        Span<Globals> stack = stackalloc Globals[MaxPush];
        int sp = 0;
        var usages = new List<uint>();
        uint umin = 0, umax = 0;
        bool haveMin = false, haveMax = false;
        Span<uint> coll = stackalloc uint[MaxDepth];
        Span<uint> app = stackalloc uint[MaxDepth];
        int depth = 0;
        uint curApp = 0;

        int pos = 0;
        while (pos < d.Length)
        {
            byte b = d[pos];
            if (b == 0xFE)
            {
                // A long item (6.2.2.3): no tags are defined; skip it.
                if (pos + 3 > d.Length) return Abi.EINVAL;
                int ln = d[pos + 1];
                if (pos + 3 + ln > d.Length) return Abi.EINVAL;
                pos += 3 + ln;
                continue;
            }
            int size = (b & 3) == 3 ? 4 : b & 3;
            int type = (b >> 2) & 3;
            int tag = b >> 4;
            if (pos + 1 + size > d.Length) return Abi.EINVAL;
            uint u = 0;
            for (int i = size - 1; i >= 0; i--) u = u << 8 | d[pos + 1 + i];
            int sgn = size switch { 1 => (sbyte)u, 2 => (short)u, 4 => (int)u, _ => 0 };
            pos += 1 + size;

            switch (type)
            {
                case 0: // main
                    switch (tag)
                    {
                        case 0x8: case 0x9: case 0xB:
                        {
                            HidKind kind = tag == 0x8 ? HidKind.Input : tag == 0x9 ? HidKind.Output : HidKind.Feature;
                            int e = AddField(r, kind, in g, u, usages, umin, umax, haveMin && haveMax, curApp);
                            if (e != 0) return e;
                            break;
                        }
                        case 0xA: // Collection
                        {
                            if (depth >= MaxDepth) return Abi.EINVAL;
                            uint cu = usages.Count > 0 ? usages[0] : haveMin ? umin : 0;
                            coll[depth] = cu;
                            app[depth] = curApp;
                            depth++;
                            if ((u & 0xff) == 1) // application
                            {
                                curApp = cu;
                                r.Applications.Add(cu);
                            }
                            break;
                        }
                        case 0xC: // End Collection
                            if (depth == 0) return Abi.EINVAL;
                            depth--;
                            curApp = app[depth];
                            break;
                        default:
                            return Abi.EINVAL;
                    }
                    usages.Clear();
                    umin = umax = 0;
                    haveMin = haveMax = false;
                    break;

                case 1: // global
                    switch (tag)
                    {
                        case 0x0: g.UsagePage = (ushort)u; break;
                        case 0x1: g.LogicalMin = sgn; break;
                        case 0x2: g.LogicalMaxRaw = u; g.LogicalMaxSize = size; break;
                        case 0x3: case 0x4: case 0x5: case 0x6: break; // physical range, unit exponent, unit
                        case 0x7:
                            if (u > 256) return Abi.EINVAL;
                            g.ReportSize = (int)u;
                            break;
                        case 0x8:
                            if (u is 0 or > 255) return Abi.EINVAL;
                            g.ReportId = (byte)u;
                            r.HasReportIds = true;
                            break;
                        case 0x9:
                            if (u > ReportBytesLimit * 8) return Abi.EINVAL;
                            g.ReportCount = (int)u;
                            break;
                        case 0xA:
                            if (sp >= MaxPush) return Abi.EINVAL;
                            stack[sp++] = g;
                            break;
                        case 0xB:
                            if (sp == 0) return Abi.EINVAL;
                            g = stack[--sp];
                            break;
                        default:
                            return Abi.EINVAL;
                    }
                    break;

                case 2: // local
                    switch (tag)
                    {
                        case 0x0:
                            if (usages.Count >= MaxUsages) return Abi.EINVAL;
                            usages.Add(size == 4 ? u : HidUsage.Make(g.UsagePage, (ushort)u));
                            break;
                        case 0x1: umin = size == 4 ? u : HidUsage.Make(g.UsagePage, (ushort)u); haveMin = true; break;
                        case 0x2: umax = size == 4 ? u : HidUsage.Make(g.UsagePage, (ushort)u); haveMax = true; break;
                        default: break; // designators, strings, delimiters: not used here
                    }
                    break;

                default:
                    return Abi.EINVAL; // reserved item type
            }
        }
        if (depth != 0) return Abi.EINVAL;
        desc = r;
        return 0;
    }

    private static int AddField(HidReportDescriptor r, HidKind kind, in Globals g, uint flags, List<uint> usages, uint umin, uint umax, bool range, uint app)
    {
        if (r.Fields.Count >= MaxFields) return Abi.EINVAL;
        if (g.ReportSize > 32 && (flags & HidField.FlagConstant) == 0) return Abi.EINVAL;
        if (range && umax < umin) return Abi.EINVAL;
        var key = (kind, g.ReportId);
        r._bits.TryGetValue(key, out int bits);
        long end = bits + (long)g.ReportSize * g.ReportCount;
        if (end > ReportBytesLimit * 8) return Abi.EINVAL;
        if (g.ReportSize > 0 && g.ReportCount > 0)
        {
            // Devices write 255 as one byte 0xFF: with a non-negative minimum the maximum is unsigned (as NetBSD's hid.c reads it).
            int max = g.LogicalMaxSize switch { 1 => (sbyte)g.LogicalMaxRaw, 2 => (short)g.LogicalMaxRaw, 4 => (int)g.LogicalMaxRaw, _ => 0 };
            if (max < g.LogicalMin && g.LogicalMin >= 0 && g.LogicalMaxSize < 4) max = (int)g.LogicalMaxRaw;
            r.Fields.Add(new HidField
            {
                Kind = kind, ReportId = g.ReportId, BitPos = bits, BitSize = g.ReportSize, Count = g.ReportCount,
                Flags = flags, LogicalMin = g.LogicalMin, LogicalMax = max,
                Usages = usages.Count > 0 ? usages.ToArray() : Array.Empty<uint>(),
                UsageMin = range ? umin : 0, UsageMax = range ? umax : 0, Application = app,
            });
        }
        r._bits[key] = (int)end;
        return 0;
    }
}
