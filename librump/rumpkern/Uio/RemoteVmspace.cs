using System;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// A remote client's address space (NetBSD's sysproxy): each copy is a request to the client over
/// its connection, made by the hypervisor (rumpuser_sp_copyin and the others), which gives up the
/// virtual CPU for the round trip. <see cref="Client"/> is the hypervisor's pointer for the
/// connection, given to hyp_lwproc_rfork; it stays valid while the process lives (the hypervisor
/// releases the process before it frees the connection).
///
/// A round trip takes as long as the client takes to answer: callers should not hold a lock others
/// need across a copy (see the file systems' read and write paths).
/// </summary>
public sealed unsafe class RemoteVmspace : Vmspace
{
    public readonly nint Client;

    public RemoteVmspace(nint client) { Client = client; }

    public override int CopyIn(UserPtr src, Span<byte> dst)
    {
        if (dst.Length == 0) return 0;
        if (src.IsNull) return Abi.EFAULT;
        fixed (byte* p = dst)
            return RumpUser.rumpuser_sp_copyin(Client, src.Addr, p, (nuint)dst.Length);
    }

    public override int CopyOut(ReadOnlySpan<byte> src, UserPtr dst)
    {
        if (src.Length == 0) return 0;
        if (dst.IsNull) return Abi.EFAULT;
        fixed (byte* p = src)
            return RumpUser.rumpuser_sp_copyout(Client, p, dst.Addr, (nuint)src.Length);
    }

    public override int CopyInStr(UserPtr src, Span<byte> dst, out int len)
    {
        len = 0;
        if (src.IsNull) return Abi.EFAULT;
        if (dst.Length == 0) return Abi.ENAMETOOLONG;
        nuint n = (nuint)dst.Length;
        int e;
        fixed (byte* p = dst)
            e = RumpUser.rumpuser_sp_copyinstr(Client, src.Addr, p, &n);
        if (e != 0) return e;
        // The client sends the string with its NUL, or as many bytes as asked when it is longer.
        if (n > (nuint)dst.Length) return Abi.EFAULT;
        int nul = dst.Slice(0, (int)n).IndexOf((byte)0);
        if (nul < 0) return (int)n == dst.Length ? Abi.ENAMETOOLONG : Abi.EFAULT;
        len = nul;
        return 0;
    }
}
