using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rump.Net.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of
/// the data as 16-bit big-endian words. The sum does not depend on byte order (RFC 1071 2(B)), so
/// it is taken over the host's native words, 32 bytes at a time with vectors (each 32-bit lane
/// widened into a 64-bit accumulator, which cannot overflow for any packet), and byte-swapped
/// once at the end. A sum is built across pieces with <see cref="Add"/>; every piece but the last
/// must have an even length (a pseudo-header, a header, a payload: all even except the last).
/// </summary>
public static class Checksum
{
    /// <summary>Adds <paramref name="data"/> to a running sum (0 to start).</summary>
    public static ulong Add(ReadOnlySpan<byte> data, ulong sum = 0)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && data.Length >= 64)
        {
            Vector256<ulong> a0 = Vector256<ulong>.Zero, a1 = Vector256<ulong>.Zero;
            ref byte p = ref MemoryMarshal.GetReference(data);
            for (; i + 32 <= data.Length; i += 32)
            {
                (Vector256<ulong> lo, Vector256<ulong> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref p, i))));
                a0 += lo;
                a1 += hi;
            }
            sum += Vector256.Sum(a0 + a1);
        }
        ReadOnlySpan<uint> words = MemoryMarshal.Cast<byte, uint>(data.Slice(i));
        ulong s0 = 0, s1 = 0;
        int w = 0;
        for (; w + 2 <= words.Length; w += 2) { s0 += words[w]; s1 += words[w + 1]; }
        if (w < words.Length) s0 += words[w];
        sum += s0 + s1;
        i += words.Length * 4;
        if (i + 2 <= data.Length) { sum += MemoryMarshal.Read<ushort>(data.Slice(i)); i += 2; }
        // A last odd byte is the high half of a word padded with zero (in network order).
        if (i < data.Length) sum += BitConverter.IsLittleEndian ? data[i] : (ulong)data[i] << 8;
        return sum;
    }

    /// <summary>Adds a 16-bit big-endian value (a length or a protocol number in a pseudo-header).</summary>
    public static ulong AddWord(ushort bigEndianValue, ulong sum)
        => sum + (BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(bigEndianValue) : bigEndianValue);

    /// <summary>
    /// Folds a running sum to 16 bits and complements it: the value to store (big-endian) in a
    /// checksum field computed with that field zero, or 0 when data that includes its checksum
    /// field verifies.
    /// </summary>
    public static ushort Finish(ulong sum)
    {
        sum = (sum & 0xffffffff) + (sum >> 32);
        sum = (sum & 0xffffffff) + (sum >> 32);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        ushort r = (ushort)~sum;
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(r) : r;
    }

    /// <summary>The checksum of one span.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(data));

    /// <summary>The IPv4 pseudo-header (RFC 768, RFC 9293 3.1): addresses, protocol, upper-layer length.</summary>
    public static ulong PseudoHeaderV4(Ipv4Addr src, Ipv4Addr dst, byte protocol, int length)
    {
        Span<byte> ph = stackalloc byte[12];
        src.Write(ph);
        dst.Write(ph.Slice(4));
        ph[8] = 0;
        ph[9] = protocol;
        BinaryPrimitives.WriteUInt16BigEndian(ph.Slice(10), (ushort)length);
        return Add(ph);
    }

    /// <summary>The IPv6 pseudo-header (RFC 8200 8.1): addresses, 32-bit upper-layer length, next header.</summary>
    public static ulong PseudoHeaderV6(Ipv6Addr src, Ipv6Addr dst, byte nextHeader, int length)
    {
        Span<byte> ph = stackalloc byte[40];
        src.Write(ph);
        dst.Write(ph.Slice(16));
        BinaryPrimitives.WriteUInt32BigEndian(ph.Slice(32), (uint)length);
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = nextHeader;
        return Add(ph);
    }
}
