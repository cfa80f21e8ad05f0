using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump;

/// <summary>
/// rump_pub_shmif_create (NetBSD's rump.h name): a shmif interface on a bus file. And, for the
/// tests and the bench only, rump_shmif_test_send: one raw Ethernet frame onto shmifN's bus
/// (there is no other way to send from C before the IP stack). 0 or an errno; ENOSYS without
/// the shmif component.
/// </summary>
internal static unsafe class ShmifExports
{
    [UnmanagedCallersOnly(EntryPoint = "rump_pub_shmif_create")]
    private static int rump_pub_shmif_create(byte* path, int* unit)
    {
        Kernel? k = CAbi.Default;
        if (k == null) return Abi.ENXIO;
#if RUMP_SHMIF
        try
        {
            k.MaybeFault(FaultPoint.Export);
            Rump.Net.Shmif.ShmifDriver? d = Rump.Net.Shmif.ShmifDriver.Of(k);
            if (d == null) return Abi.ENOSYS;
            string? p = path == null ? null : Marshal.PtrToStringUTF8((nint)path);
            int u = -1;
            int e = RumpKernel.InKernel(k, "shmif", l => d.Create(p, out u, out _));
            if (e == 0 && unit != null) *unit = u;
            return e;
        }
        catch (Exception e) { return CAbi.Failed(k, e, "shmif_create"); }
#else
        return Abi.ENOSYS;
#endif
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_shmif_test_send")]
    private static int rump_shmif_test_send(int unit, byte* frame, nuint len)
    {
        Kernel? k = CAbi.Default;
        if (k == null) return Abi.ENXIO;
#if RUMP_SHMIF
        if (frame == null || len > 65536) return Abi.EINVAL;
        try
        {
            Rump.Net.Shmif.ShmifDriver? d = Rump.Net.Shmif.ShmifDriver.Of(k);
            if (d == null) return Abi.ENOSYS;
            nint f = (nint)frame;
            int n = (int)len;
            return RumpKernel.InKernel(k, "shmif", _ =>
            {
                Rump.Net.Shmif.ShmifIf? ifp = d.Get(unit);
                return ifp == null ? Abi.ENXIO : ifp.Send(new ReadOnlySpan<byte>((void*)f, n));
            });
        }
        catch (Exception e) { return CAbi.Failed(k, e, "shmif_test_send"); }
#else
        return Abi.ENOSYS;
#endif
    }
}
