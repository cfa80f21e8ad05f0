// struct rumpuser_hyperup: the upcalls the hypervisor makes into the kernel,
// field for field in the C order.  The kernel fills one with pointers to
// [UnmanagedCallersOnly] methods and hands it to rumpuser_init, which copies
// it.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rump.Hypercall;

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpUserHyperup
{
    public delegate* unmanaged<void> hyp_schedule;
    public delegate* unmanaged<void> hyp_unschedule;
    // (int nlocks, int *countp, void *interlock)
    public delegate* unmanaged<int, int*, nint, void> hyp_backend_unschedule;
    // (int nlocks, void *interlock)
    public delegate* unmanaged<int, nint, void> hyp_backend_schedule;
    // (struct lwp *l)
    public delegate* unmanaged<nint, void> hyp_lwproc_switch;
    public delegate* unmanaged<void> hyp_lwproc_release;
    // (void *priv, int flags, const char *comm)
    public delegate* unmanaged<nint, int, byte*, int> hyp_lwproc_rfork;
    // (pid_t pid)
    public delegate* unmanaged<int, int> hyp_lwproc_newlwp;
    // returns struct lwp *
    public delegate* unmanaged<nint> hyp_lwproc_curlwp;
    // (int num, void *arg, long *retval)
    public delegate* unmanaged<int, nint, nint*, int> hyp_syscall;
    public delegate* unmanaged<void> hyp_lwpexit;
    // (const char *comm)
    public delegate* unmanaged<byte*, void> hyp_execnotify;
    // returns pid_t
    public delegate* unmanaged<int> hyp_getpid;
    public RumpUserHyperupExtra hyp__extra;
}

// void *hyp__extra[8]: reserved, leave zero.
[InlineArray(8)]
public struct RumpUserHyperupExtra
{
    private nint _element0;
}
