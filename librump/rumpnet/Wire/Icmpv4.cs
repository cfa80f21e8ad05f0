using System;
using System.Buffers.Binary;

namespace Rump.Net.Wire;

/// <summary>
/// ICMP for IPv4 (RFC 792): type, code, checksum over the whole message, then 4 bytes whose
/// meaning depends on the type, then data. Echo and echo reply carry an identifier, a sequence
/// number and data returned as is; destination unreachable (with RFC 1191's next-hop MTU for
/// "fragmentation needed") and time exceeded carry the invoking datagram's IP header and at
/// least its first 8 payload bytes (RFC 792; RFC 1812 4.3.2.3 allows more).
/// </summary>
public readonly ref struct Icmpv4Packet
{
    public const int HeaderSize = 8;
    public const byte TypeEchoReply = 0, TypeUnreachable = 3, TypeRedirect = 5, TypeEcho = 8, TypeTimeExceeded = 11, TypeParamProblem = 12;
    public const byte CodeNetUnreachable = 0, CodeHostUnreachable = 1, CodeProtoUnreachable = 2, CodePortUnreachable = 3, CodeFragNeeded = 4;
    public const byte CodeTtlExceeded = 0, CodeReassemblyExceeded = 1;

    private readonly ReadOnlySpan<byte> _b;
    private Icmpv4Packet(ReadOnlySpan<byte> b) { _b = b; }

    /// <param name="b">The IPv4 payload, exactly (its length comes from the IP header).</param>
    public static WireError Parse(ReadOnlySpan<byte> b, out Icmpv4Packet p)
    {
        p = default;
        if (b.Length < HeaderSize) return WireError.Truncated;
        if (Checksum.Compute(b) != 0) return WireError.BadChecksum;
        // Errors must quote at least a minimal IP header (the protocols look inside it).
        if (b[0] is TypeUnreachable or TypeTimeExceeded or TypeParamProblem or TypeRedirect && b.Length < HeaderSize + Ipv4Packet.MinHeaderSize)
            return WireError.Truncated;
        p = new Icmpv4Packet(b);
        return WireError.Ok;
    }

    public byte Type => _b[0];
    public byte Code => _b[1];
    public ushort StoredChecksum => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(2));
    public bool IsError => Type is TypeUnreachable or TypeTimeExceeded or TypeParamProblem or TypeRedirect;
    /// <summary>Echo and echo reply.</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(4));
    public ushort Sequence => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(6));
    /// <summary>Destination unreachable, fragmentation needed (RFC 1191); 0 from old routers.</summary>
    public ushort NextHopMtu => BinaryPrimitives.ReadUInt16BigEndian(_b.Slice(6));
    /// <summary>Parameter problem: the offending byte's offset.</summary>
    public byte Pointer => _b[4];
    /// <summary>Echo data, or an error's quoted datagram.</summary>
    public ReadOnlySpan<byte> Data => _b.Slice(HeaderSize);

    /// <summary>Writes an echo request or reply with its checksum. Returns its length, or -1 if <paramref name="d"/> is too small.</summary>
    public static int EmitEcho(Span<byte> d, bool reply, ushort identifier, ushort sequence, ReadOnlySpan<byte> data)
    {
        int len = HeaderSize + data.Length;
        if (d.Length < len) return -1;
        d[0] = reply ? TypeEchoReply : TypeEcho;
        d[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(4), identifier);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(6), sequence);
        data.CopyTo(d.Slice(HeaderSize));
        return Finish(d.Slice(0, len));
    }

    /// <summary>
    /// Writes an error (unreachable, time exceeded) quoting <paramref name="quoted"/> (the caller
    /// chooses how much: RFC 792's header and 8 bytes, or more). <paramref name="mtu"/> is the
    /// next-hop MTU of "fragmentation needed", else 0. Returns the length, or -1 if too small.
    /// </summary>
    public static int EmitError(Span<byte> d, byte type, byte code, ushort mtu, ReadOnlySpan<byte> quoted)
    {
        int len = HeaderSize + quoted.Length;
        if (d.Length < len) return -1;
        d[0] = type;
        d[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(4), 0);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(6), mtu);
        quoted.CopyTo(d.Slice(HeaderSize));
        return Finish(d.Slice(0, len));
    }

    private static int Finish(Span<byte> m)
    {
        m[2] = m[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(m.Slice(2), Checksum.Compute(m));
        return m.Length;
    }
}
