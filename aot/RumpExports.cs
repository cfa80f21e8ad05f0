using System;
using System.Runtime.InteropServices;
using Rump.Kern;

namespace Rump;

/// <summary>
/// The rump_* entry points of &lt;rump/rump.h&gt; other than the generated rump_sys_* calls:
/// boot, the lwproc API, and rump_syscall (by number, with NetBSD's argument block).
/// Return values follow NetBSD: rump_init returns 0 or an errno; the lwproc calls return 0 or
/// an errno; rump_syscall returns 0 or an errno with the result in *retval.
/// </summary>
internal static unsafe class RumpExports
{
    [UnmanagedCallersOnly(EntryPoint = "rump_init")]
    private static int rump_init() => CAbi.Init();

    /// <summary>The hypercall interface version this kernel expects (NetBSD rump_getversion).</summary>
    [UnmanagedCallersOnly(EntryPoint = "rump_getversion")]
    private static int rump_getversion() => Rump.Hypercall.RumpUserConst.RUMPUSER_VERSION;

    private static Kernel? K => CAbi.Default;

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_rfork")]
    private static int rump_pub_lwproc_rfork(int flags)
    {
        try { return K?.LwprocRfork(flags) ?? Abi.ENXIO; }
        catch (Exception e) { Kernel.Panic("lwproc_rfork: " + e); return Abi.EIO; }
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_newlwp")]
    private static int rump_pub_lwproc_newlwp(int pid)
    {
        try { return K?.LwprocNewlwp(pid) ?? Abi.ENXIO; }
        catch (Exception e) { Kernel.Panic("lwproc_newlwp: " + e); return Abi.EIO; }
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_switch")]
    private static void rump_pub_lwproc_switch(nint lwp)
    {
        try { K?.LwprocSwitch(K.LwpFromHandle(lwp)); }
        catch (Exception e) { Kernel.Panic("lwproc_switch: " + e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_releaselwp")]
    private static void rump_pub_lwproc_releaselwp()
    {
        try { K?.LwprocReleaselwp(); }
        catch (Exception e) { Kernel.Panic("lwproc_releaselwp: " + e); }
    }

    /// <summary>The calling thread's lwp, made (implicit) if it has none, as an opaque pointer.</summary>
    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_curlwp")]
    private static nint rump_pub_lwproc_curlwp()
    {
        try { return K == null ? 0 : K.CurlwpHandle(); }
        catch (Exception e) { Kernel.Panic("lwproc_curlwp: " + e); return 0; }
    }

    /// <summary>rump_syscall(num, data, dlen, retval): NetBSD's generic entry, used by system-call proxies.</summary>
    [UnmanagedCallersOnly(EntryPoint = "rump_syscall")]
    private static int rump_syscall(int num, void* data, nuint dlen, long* retval)
    {
        if (K == null) return Abi.ENXIO;
        int nargs = SyscallInfo.ArgCount(num);
        if (nargs < 0) return Abi.ENOSYS;
        if (dlen < (nuint)(nargs * 8) || (data == null && nargs > 0)) return Abi.EINVAL;
        SyscallArgs a = default;
        if (nargs > 0) new ReadOnlySpan<long>(data, nargs).CopyTo(a);
        long rv = K.Syscall(num, ref a, out int error);
        if (retval != null) *retval = rv;
        return error;
    }
}
