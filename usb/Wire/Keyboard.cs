using System;
using Rump.Kern;

namespace Rump.Usb.Wire;

/// <summary>One key going down or up: a HID keyboard usage (page 7), 0xE0–0xE7 for the modifiers.</summary>
public readonly record struct KeyEvent(bool Down, byte Usage);

/// <summary>
/// A keyboard's state as its reports give it: the modifier bits and up to <see cref="MaxKeys"/>
/// keys held (HID 1.11 appendix B.1, the boot keyboard: modifiers byte, reserved byte, six key
/// codes; report-descriptor keyboards fill the same state from their fields). Comparing two
/// states gives the key events in between.
/// </summary>
public struct KeyboardState
{
    public const int BootReportSize = 8;
    public const int MaxKeys = 32;
    /// <summary>Key code meaning "too many keys held" (Keyboard ErrorRollOver): the report carries no key state.</summary>
    public const byte ErrorRollOver = 0x01, PostFail = 0x02, ErrorUndefined = 0x03;
    public const byte FirstModifier = 0xE0;

    public byte Modifiers;
    public int Count;
    private Keys _keys;

    [System.Runtime.CompilerServices.InlineArray(MaxKeys)]
    private struct Keys { private byte _e; }

    public readonly byte Key(int i) => _keys[i];

    /// <summary>Adds a held key (0 and the error codes are not keys); false when full or a duplicate.</summary>
    public bool Add(byte usage)
    {
        if (usage <= ErrorUndefined || Count >= MaxKeys) return false;
        for (int i = 0; i < Count; i++) if (_keys[i] == usage) return false;
        _keys[Count++] = usage;
        return true;
    }

    public readonly bool Holds(byte usage)
    {
        for (int i = 0; i < Count; i++) if (_keys[i] == usage) return true;
        return false;
    }

    /// <summary>
    /// A boot-protocol report. EINVAL if shorter than 8 bytes; EAGAIN for a rollover or error report,
    /// which says nothing about which keys are held (the previous state stands).
    /// </summary>
    public static int ParseBoot(ReadOnlySpan<byte> r, out KeyboardState st)
    {
        st = default;
        if (r.Length < BootReportSize) return Abi.EINVAL;
        st.Modifiers = r[0];
        for (int i = 2; i < BootReportSize; i++)
        {
            if (r[i] is ErrorRollOver or PostFail or ErrorUndefined) { st = default; return Abi.EAGAIN; }
            if (r[i] != 0) st.Add(r[i]);
        }
        return 0;
    }

    /// <summary>
    /// The events from <paramref name="old"/> to <paramref name="now"/> into <paramref name="ev"/>:
    /// releases first (modifiers, then keys in old order), then presses (modifiers, then keys in
    /// new order), as NetBSD's ukbd orders them. Returns how many were written.
    /// </summary>
    public static int Diff(in KeyboardState old, in KeyboardState now, Span<KeyEvent> ev)
    {
        int n = 0;
        byte gone = (byte)(old.Modifiers & ~now.Modifiers), came = (byte)(now.Modifiers & ~old.Modifiers);
        for (int b = 0; b < 8; b++)
            if ((gone >> b & 1) != 0 && n < ev.Length) ev[n++] = new KeyEvent(false, (byte)(FirstModifier + b));
        for (int i = 0; i < old.Count; i++)
            if (!now.Holds(old._keys[i]) && n < ev.Length) ev[n++] = new KeyEvent(false, old._keys[i]);
        for (int b = 0; b < 8; b++)
            if ((came >> b & 1) != 0 && n < ev.Length) ev[n++] = new KeyEvent(true, (byte)(FirstModifier + b));
        for (int i = 0; i < now.Count; i++)
            if (!old.Holds(now._keys[i]) && n < ev.Length) ev[n++] = new KeyEvent(true, now._keys[i]);
        return n;
    }

    /// <summary>The boot report for this state (tests and emulated keyboards); keys past six are dropped.</summary>
    public readonly void EmitBoot(Span<byte> r)
    {
        r.Slice(0, BootReportSize).Clear();
        r[0] = Modifiers;
        for (int i = 0; i < Count && i < 6; i++) r[2 + i] = _keys[i];
    }

    /// <summary>The HID usage of a US-layout key for an ASCII letter, digit or a few others (tests, key names), 0 if none.</summary>
    public static byte UsageOf(char c) => c switch
    {
        >= 'a' and <= 'z' => (byte)(0x04 + (c - 'a')),
        >= '1' and <= '9' => (byte)(0x1E + (c - '1')),
        '0' => 0x27, '\n' => 0x28, '\x1b' => 0x29, '\b' => 0x2A, '\t' => 0x2B, ' ' => 0x2C,
        '-' => 0x2D, '=' => 0x2E, '.' => 0x37, '/' => 0x38,
        _ => 0,
    };
}

/// <summary>
/// Where a report-descriptor keyboard keeps its keys in one report (NetBSD ukbd's hid_locate of
/// the modifiers and the key array, done once at attach): modifier bits (usages 0xE0–0xE7 as
/// one-bit variables), key bitmaps (an NKRO keyboard's one bit per usage) and key arrays (the boot
/// keyboard's six slots, each holding a usage or 0). Made from untrusted descriptors: a layout
/// with no key at all is refused.
/// </summary>
public sealed class KeyboardLayout
{
    /// <summary>One-bit variable values: field, index of the value in it, and the usage it stands for.</summary>
    private readonly HidField[] _varField;
    private readonly int[] _varIndex;
    private readonly byte[] _varUsage;
    private readonly HidField[] _arrays;

    private KeyboardLayout(HidField[] vf, int[] vi, byte[] vu, HidField[] arrays)
    {
        _varField = vf; _varIndex = vi; _varUsage = vu; _arrays = arrays;
    }

    /// <summary>The HID usage of the keyboard application collection.</summary>
    public static readonly uint KeyboardApplication = HidUsage.Make(HidUsage.PageGenericDesktop, HidUsage.Keyboard);

    /// <summary>Whether input report <paramref name="id"/> of <paramref name="d"/> is a keyboard's (its application collection is Keyboard, and it carries keys).</summary>
    public static bool IsKeyboard(HidReportDescriptor d, byte id) => d.ApplicationOf(HidKind.Input, id) == KeyboardApplication && From(d, id) != null;

    /// <summary>The layout of input report <paramref name="id"/>, or null if it holds no keyboard keys.</summary>
    public static KeyboardLayout? From(HidReportDescriptor d, byte id)
    {
        var vf = new System.Collections.Generic.List<HidField>();
        var vi = new System.Collections.Generic.List<int>();
        var vu = new System.Collections.Generic.List<byte>();
        var arrays = new System.Collections.Generic.List<HidField>();
        foreach (HidField f in d.Fields)
        {
            if (f.Kind != HidKind.Input || f.ReportId != id || f.IsConstant) continue;
            if (f.IsVariable)
            {
                if (f.BitSize != 1) continue;
                for (int i = 0; i < f.Count; i++)
                {
                    uint u = f.UsageOf(i);
                    if (u >> 16 != HidUsage.PageKeyboard || (u & 0xffff) > 0xff || (u & 0xff) <= KeyboardState.ErrorUndefined) continue;
                    vf.Add(f); vi.Add(i); vu.Add((byte)u);
                }
            }
            else if (f.BitSize is > 0 and <= 16 && ArrayIsKeys(f))
                arrays.Add(f);
        }
        if (vf.Count == 0 && arrays.Count == 0) return null;
        return new KeyboardLayout(vf.ToArray(), vi.ToArray(), vu.ToArray(), arrays.ToArray());
    }

    private static bool ArrayIsKeys(HidField f)
    {
        if (f.Usages.Length > 0)
        {
            foreach (uint u in f.Usages) if (u >> 16 == HidUsage.PageKeyboard) return true;
            return false;
        }
        return f.UsageMax >> 16 == HidUsage.PageKeyboard;
    }

    /// <summary>
    /// The keys one report says are held. EAGAIN for a rollover or error report (a key slot
    /// holding ErrorRollOver, POSTFail or ErrorUndefined: the keyboard cannot say which keys are
    /// down, so the previous state stands); fields the report is too short for read as released.
    /// </summary>
    public int Parse(ReadOnlySpan<byte> report, out KeyboardState st)
    {
        st = default;
        for (int j = 0; j < _varField.Length; j++)
        {
            if (!_varField[j].TryGet(report, _varIndex[j], out int v) || v == 0) continue;
            byte u = _varUsage[j];
            if (u >= KeyboardState.FirstModifier && u < KeyboardState.FirstModifier + 8) st.Modifiers |= (byte)(1 << (u - KeyboardState.FirstModifier));
            else st.Add(u);
        }
        foreach (HidField f in _arrays)
            for (int i = 0; i < f.Count; i++)
            {
                if (!f.TryGet(report, i, out int v) || v < f.LogicalMin || v > f.LogicalMax) continue; // out of range: no key in this slot
                uint idx = (uint)(v - f.LogicalMin);
                uint u;
                if (f.Usages.Length > 0) u = idx < f.Usages.Length ? f.Usages[idx] : 0;
                else u = f.UsageMin + idx > f.UsageMax ? 0 : f.UsageMin + idx;
                if (u >> 16 != HidUsage.PageKeyboard || (u & 0xffff) > 0xff) continue;
                byte k = (byte)u;
                if (k is KeyboardState.ErrorRollOver or KeyboardState.PostFail or KeyboardState.ErrorUndefined) { st = default; return Abi.EAGAIN; }
                if (k == 0) continue;
                if (k >= KeyboardState.FirstModifier && k < KeyboardState.FirstModifier + 8) st.Modifiers |= (byte)(1 << (k - KeyboardState.FirstModifier));
                else st.Add(k);
            }
        return 0;
    }
}
