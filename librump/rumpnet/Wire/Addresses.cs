using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>A 48-bit IEEE 802 MAC address, held in the low 48 bits in transmission order (first byte highest).</summary>
public readonly struct EtherAddr : IEquatable<EtherAddr>
{
    public const int Size = 6;
    public readonly ulong Value;

    public EtherAddr(ulong value) { Value = value & 0xffff_ffff_ffffUL; }

    public static readonly EtherAddr Broadcast = new(0xffff_ffff_ffffUL);

    public static EtherAddr Read(ReadOnlySpan<byte> s)
        => new((ulong)BinaryPrimitives.ReadUInt16BigEndian(s) << 32 | BinaryPrimitives.ReadUInt32BigEndian(s.Slice(2)));

    public void Write(Span<byte> s)
    {
        BinaryPrimitives.WriteUInt16BigEndian(s, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(s.Slice(2), (uint)Value);
    }

    /// <summary>Group bit (I/G) of the first byte: broadcast and multicast.</summary>
    public bool IsMulticast => (Value >> 40 & 1) != 0;
    public bool IsBroadcast => Value == Broadcast.Value;

    public bool Equals(EtherAddr o) => Value == o.Value;
    public override bool Equals(object? o) => o is EtherAddr e && Equals(e);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(EtherAddr a, EtherAddr b) => a.Value == b.Value;
    public static bool operator !=(EtherAddr a, EtherAddr b) => a.Value != b.Value;
    public override string ToString()
        => $"{Value >> 40 & 0xff:x2}:{Value >> 32 & 0xff:x2}:{Value >> 24 & 0xff:x2}:{Value >> 16 & 0xff:x2}:{Value >> 8 & 0xff:x2}:{Value & 0xff:x2}";
}

/// <summary>An IPv4 address as a host-order number (10.0.0.1 is 0x0a000001).</summary>
public readonly struct Ipv4Addr : IEquatable<Ipv4Addr>
{
    public const int Size = 4;
    public readonly uint Value;

    public Ipv4Addr(uint value) { Value = value; }
    public Ipv4Addr(byte a, byte b, byte c, byte d) { Value = (uint)a << 24 | (uint)b << 16 | (uint)c << 8 | d; }

    public static readonly Ipv4Addr Any = new(0), Broadcast = new(0xffffffff);

    public static Ipv4Addr Read(ReadOnlySpan<byte> s) => new(BinaryPrimitives.ReadUInt32BigEndian(s));
    public void Write(Span<byte> s) => BinaryPrimitives.WriteUInt32BigEndian(s, Value);

    public bool IsMulticast => Value >> 28 == 0xe;
    public bool IsLoopback => Value >> 24 == 127;

    public bool Equals(Ipv4Addr o) => Value == o.Value;
    public override bool Equals(object? o) => o is Ipv4Addr a && Equals(a);
    public override int GetHashCode() => (int)Value;
    public static bool operator ==(Ipv4Addr a, Ipv4Addr b) => a.Value == b.Value;
    public static bool operator !=(Ipv4Addr a, Ipv4Addr b) => a.Value != b.Value;
    public override string ToString() => $"{Value >> 24}.{Value >> 16 & 0xff}.{Value >> 8 & 0xff}.{Value & 0xff}";
}

/// <summary>An IPv6 address as two host-order halves (<see cref="Hi"/> holds the first 8 bytes).</summary>
public readonly struct Ipv6Addr : IEquatable<Ipv6Addr>
{
    public const int Size = 16;
    public readonly ulong Hi, Lo;

    public Ipv6Addr(ulong hi, ulong lo) { Hi = hi; Lo = lo; }

    public static readonly Ipv6Addr Unspecified = new(0, 0);
    /// <summary>ff02::1, all nodes on the link.</summary>
    public static readonly Ipv6Addr AllNodes = new(0xff02UL << 48, 1);
    public static readonly Ipv6Addr AllRouters = new(0xff02UL << 48, 2);
    /// <summary>ff02::16, where MLDv2 reports go (RFC 3810 5.2.14).</summary>
    public static readonly Ipv6Addr AllMldRouters = new(0xff02UL << 48, 0x16);

    public static Ipv6Addr Read(ReadOnlySpan<byte> s)
        => new(BinaryPrimitives.ReadUInt64BigEndian(s), BinaryPrimitives.ReadUInt64BigEndian(s.Slice(8)));

    public void Write(Span<byte> s)
    {
        BinaryPrimitives.WriteUInt64BigEndian(s, Hi);
        BinaryPrimitives.WriteUInt64BigEndian(s.Slice(8), Lo);
    }

    public bool IsMulticast => Hi >> 56 == 0xff;
    public bool IsLinkLocal => Hi >> 54 == 0x3fa; // fe80::/10

    /// <summary>The solicited-node multicast address (RFC 4291 2.7.1) ff02::1:ffXX:XXXX of this address.</summary>
    public Ipv6Addr SolicitedNode => new(0xff02UL << 48, 0x1_ff00_0000UL | (Lo & 0xff_ffff));

    public bool Equals(Ipv6Addr o) => Hi == o.Hi && Lo == o.Lo;
    public override bool Equals(object? o) => o is Ipv6Addr a && Equals(a);
    public override int GetHashCode() => HashCode.Combine(Hi, Lo);
    public static bool operator ==(Ipv6Addr a, Ipv6Addr b) => a.Equals(b);
    public static bool operator !=(Ipv6Addr a, Ipv6Addr b) => !a.Equals(b);
    /// <summary>Eight groups in hex, uncompressed (diagnostics only).</summary>
    public override string ToString()
        => $"{Hi >> 48:x}:{Hi >> 32 & 0xffff:x}:{Hi >> 16 & 0xffff:x}:{Hi & 0xffff:x}:{Lo >> 48:x}:{Lo >> 32 & 0xffff:x}:{Lo >> 16 & 0xffff:x}:{Lo & 0xffff:x}";
}
