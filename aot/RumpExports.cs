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

    /// <summary>The test-only fault point of these entries (see FaultPoint.Export).</summary>
    private static Kernel Fault(Kernel k)
    {
        k.MaybeFault(FaultPoint.Export);
        return k;
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_rfork")]
    private static int rump_pub_lwproc_rfork(int flags)
    {
        Kernel? k = K;
        try { return k == null || k.IsDead ? Abi.ENXIO : Fault(k).LwprocRfork(flags); }
        catch (Exception e) { return CAbi.Failed(k, e, "lwproc_rfork"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_newlwp")]
    private static int rump_pub_lwproc_newlwp(int pid)
    {
        Kernel? k = K;
        try { return k == null || k.IsDead ? Abi.ENXIO : Fault(k).LwprocNewlwp(pid); }
        catch (Exception e) { return CAbi.Failed(k, e, "lwproc_newlwp"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_switch")]
    private static void rump_pub_lwproc_switch(nint lwp)
    {
        Kernel? k = K;
        try { if (k != null) Fault(k).LwprocSwitch(k.LwpFromHandle(lwp)); }
        catch (Exception e) { CAbi.Failed(k, e, "lwproc_switch"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_releaselwp")]
    private static void rump_pub_lwproc_releaselwp()
    {
        Kernel? k = K;
        try { if (k != null) Fault(k).LwprocReleaselwp(); }
        catch (Exception e) { CAbi.Failed(k, e, "lwproc_releaselwp"); }
    }

    /// <summary>The calling thread's lwp, made (implicit) if it has none, as an opaque pointer.</summary>
    [UnmanagedCallersOnly(EntryPoint = "rump_pub_lwproc_curlwp")]
    private static nint rump_pub_lwproc_curlwp()
    {
        Kernel? k = K;
        try { return k == null || k.IsDead ? 0 : Fault(k).CurlwpHandle(); }
        catch (Exception e) { CAbi.Failed(k, e, "lwproc_curlwp"); return 0; }
    }

    /// <summary>
    /// rump_syscall(num, data, dlen, retval): NetBSD's generic entry, used by system-call proxies.
    /// data is NetBSD's argument structure for the call (register-sized slots, PAD slots included,
    /// as NetBSD's generated stubs fill it). Returns 0 or a NetBSD errno, as NetBSD's does.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "rump_syscall")]
    private static int rump_syscall(int num, void* data, nuint dlen, long* retval)
    {
        Kernel? k = K;
        try
        {
            if (k == null) return Abi.ENXIO;
            int e = Fault(k).SyscallNetbsdArgs(num, (long*)data, dlen > long.MaxValue ? long.MaxValue : (long)dlen, out long rv);
            if (retval != null) *retval = rv;
            return e;
        }
        catch (Exception e) { return CAbi.Failed(k, e, "rump_syscall"); }
    }

    /// <summary>
    /// rump_boot_setsigmodel(model): what the kernel does with signals (RUMP_SIGMODEL_*); set
    /// before rump_init for the kernel it boots, or for the running default kernel.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "rump_boot_setsigmodel")]
    private static void rump_boot_setsigmodel(int model)
    {
        if (model < Abi.SIGMODEL_PANIC || model > Abi.SIGMODEL_RECORD) return;
        CAbi.SigModel = model;
        Kernel? k = K;
        if (k != null) k.SigModel = model;
    }

    /// <summary>
    /// The default kernel's panic message, or NULL while it has not panicked. The string belongs to
    /// the library and stays valid until the next rump_init() that boots a new kernel.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "rump_pub_panicstr")]
    private static byte* rump_pub_panicstr()
    {
        try
        {
            string? msg = K?.PanicMessage;
            if (msg == null) return null;
            lock (s_panicLock)
            {
                if (s_panicText == null || s_panicFor != msg)
                {
                    byte[] b = System.Text.Encoding.UTF8.GetBytes(msg + "\0");
                    s_panicText = GCHandle.Alloc(b, GCHandleType.Pinned);
                    s_panicFor = msg;
                }
                return (byte*)s_panicText.Value.AddrOfPinnedObject();
            }
        }
        catch { return null; }
    }

    // The C glue's copy of the message, pinned (never freed: at most one per panicked kernel).
    private static readonly object s_panicLock = new();
    private static GCHandle? s_panicText;
    private static string? s_panicFor;
}
