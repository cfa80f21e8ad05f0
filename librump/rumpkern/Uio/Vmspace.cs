using System;
using System.Runtime.CompilerServices;

namespace Rump.Kern;

/// <summary>
/// The caller's address space: every copy between the caller's memory and the kernel goes through
/// here (NetBSD copyin/copyout/copyinstr). A local client shares the process with the kernel, so
/// its copies are memcpy; a remote client's vmspace (later) turns them into requests to the client.
/// </summary>
public abstract class Vmspace
{
    public abstract int CopyIn(UserPtr src, Span<byte> dst);
    public abstract int CopyOut(ReadOnlySpan<byte> src, UserPtr dst);

    /// <summary>
    /// Copies a NUL-terminated string of at most <c>dst.Length - 1</c> bytes; <paramref name="len"/>
    /// is its length without the NUL. ENAMETOOLONG if no NUL is found in that many bytes.
    /// </summary>
    public abstract int CopyInStr(UserPtr src, Span<byte> dst, out int len);

    public int CopyIn<T>(UserPtr src, out T value) where T : unmanaged
    {
        Unsafe.SkipInit(out value);
        return CopyIn(src, MemoryMarshalEx.AsBytes(ref value));
    }

    public int CopyOut<T>(in T value, UserPtr dst) where T : unmanaged
        => CopyOut(MemoryMarshalEx.AsReadOnlyBytes(in value), dst);
}

/// <summary>The local client's address space: the kernel's own process.</summary>
public sealed unsafe class LocalVmspace : Vmspace
{
    public override int CopyIn(UserPtr src, Span<byte> dst)
    {
        if (src.IsNull && dst.Length != 0) return Abi.EFAULT;
        new ReadOnlySpan<byte>((void*)src.Addr, dst.Length).CopyTo(dst);
        return 0;
    }

    public override int CopyOut(ReadOnlySpan<byte> src, UserPtr dst)
    {
        if (dst.IsNull && src.Length != 0) return Abi.EFAULT;
        src.CopyTo(new Span<byte>((void*)dst.Addr, src.Length));
        return 0;
    }

    /// <summary>Unit of the bounded string scan: a 4 KiB-aligned chunk never spans two pages of any size the host uses.</summary>
    private const int ScanChunk = 4096;

    public override int CopyInStr(UserPtr src, Span<byte> dst, out int len)
    {
        len = 0;
        if (src.IsNull) return Abi.EFAULT;
        // At most dst.Length bytes are read, and no page the string does not reach: each step
        // searches (vectorised) only up to the next 4 KiB boundary, the next step is taken only
        // if the string goes on there, and memory is mapped in whole pages. (A string that runs
        // into unmapped memory within the bound faults, like any local copy; NetBSD says EFAULT.)
        nint p = (nint)src.Addr;
        int max = dst.Length;
        int n = 0;
        while (n < max)
        {
            int chunk = (int)Math.Min(max - n, ScanChunk - ((p + n) & (ScanChunk - 1)));
            var s = new ReadOnlySpan<byte>((void*)(p + n), chunk);
            int nul = s.IndexOf((byte)0);
            if (nul >= 0)
            {
                n += nul;
                new ReadOnlySpan<byte>((void*)p, n).CopyTo(dst);
                len = n;
                return 0;
            }
            n += chunk;
        }
        return Abi.ENAMETOOLONG;
    }
}

internal static class MemoryMarshalEx
{
    public static Span<byte> AsBytes<T>(ref T v) where T : unmanaged
        => System.Runtime.InteropServices.MemoryMarshal.AsBytes(System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref v, 1));

    public static ReadOnlySpan<byte> AsReadOnlyBytes<T>(in T v) where T : unmanaged
        => System.Runtime.InteropServices.MemoryMarshal.AsBytes(System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(in v, 1));
}
