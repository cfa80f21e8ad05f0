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

    public override int CopyInStr(UserPtr src, Span<byte> dst, out int len)
    {
        len = 0;
        if (src.IsNull) return Abi.EFAULT;
        byte* p = (byte*)src.Addr;
        // Scan at most dst.Length bytes; reading past the string's NUL never happens.
        int max = dst.Length;
        var s = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpanFromNullTerminated(p);
        if (s.Length >= max) return Abi.ENAMETOOLONG;
        s.CopyTo(dst);
        len = s.Length;
        return 0;
    }
}

internal static class MemoryMarshalEx
{
    public static Span<byte> AsBytes<T>(ref T v) where T : unmanaged
        => System.Runtime.InteropServices.MemoryMarshal.AsBytes(System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref v, 1));

    public static ReadOnlySpan<byte> AsReadOnlyBytes<T>(in T v) where T : unmanaged
        => System.Runtime.InteropServices.MemoryMarshal.AsBytes(System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(in v, 1));
}
