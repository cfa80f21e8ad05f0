using System.Runtime.CompilerServices;

namespace Rump.Net.Netinet;

/// <summary>
/// Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4, NetBSD tcp_seq.h SEQ_LT and friends):
/// a is before b when the signed 32-bit difference a - b is negative, which is right as long as
/// the two are less than 2^31 apart (a window is at most 2^30, RFC 7323 2.3).
/// </summary>
internal static class Seq
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Lt(uint a, uint b) => (int)(a - b) < 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Leq(uint a, uint b) => (int)(a - b) <= 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Gt(uint a, uint b) => (int)(a - b) > 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Geq(uint a, uint b) => (int)(a - b) >= 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Max(uint a, uint b) => Gt(a, b) ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Min(uint a, uint b) => Lt(a, b) ? a : b;
    /// <summary>lo &lt;= x &lt; hi in sequence space.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool InRange(uint x, uint lo, uint hi) => x - lo < hi - lo;
}
