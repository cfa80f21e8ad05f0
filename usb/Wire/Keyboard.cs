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
