using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump;

/// <summary>
/// rump_pub_etfs_*: host files as block devices inside the kernel (NetBSD's rump.h names and
/// values). They return 0 or an errno. Without the VFS faction linked in they return ENOSYS.
/// </summary>
internal static unsafe class EtfsExports
{
    [UnmanagedCallersOnly(EntryPoint = "rump_pub_etfs_register")]
    private static int rump_pub_etfs_register(byte* key, byte* hostpath, int ftype)
        => Register(key, hostpath, ftype, 0, ulong.MaxValue);

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_etfs_register_withsize")]
    private static int rump_pub_etfs_register_withsize(byte* key, byte* hostpath, int ftype, ulong begin, ulong size)
        => Register(key, hostpath, ftype, begin, size);

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_etfs_remove")]
    private static int rump_pub_etfs_remove(byte* key)
    {
        Kernel? k = CAbi.Default;
        if (k == null) return Abi.ENXIO;
        if (key == null) return Abi.EINVAL;
        try { k.MaybeFault(FaultPoint.Export); return RumpKernel.EtfsRemove(k, Marshal.PtrToStringUTF8((nint)key)!); }
        catch (Exception e) { return CAbi.Failed(k, e, "etfs_remove"); }
    }

    private static int Register(byte* key, byte* hostpath, int ftype, ulong begin, ulong size)
    {
        Kernel? k = CAbi.Default;
        if (k == null) return Abi.ENXIO;
        if (key == null || hostpath == null || begin > long.MaxValue) return Abi.EINVAL;
        long sz = size == Abi.ETFS_SIZE_ENDOFF ? -1 : size > long.MaxValue ? -1 : (long)size;
        try
        {
            k.MaybeFault(FaultPoint.Export);
            return RumpKernel.EtfsRegister(k, Marshal.PtrToStringUTF8((nint)key)!, Marshal.PtrToStringUTF8((nint)hostpath)!, ftype, (long)begin, sz);
        }
        catch (Exception e) { return CAbi.Failed(k, e, "etfs_register"); }
    }
}
