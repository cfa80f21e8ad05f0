// Rump.Hypercall: the only place where the kernel touches the host.
//
// RumpUser's methods are the rumpuser(3) hypercalls of interface version 17
// as librumpuser exports them (hypercall/include/rump/rumpuser.h): the same
// names, the same arguments in the same order, one file per family under
// Interop/.  Every int result is an errno in the kernel's own (NetBSD's)
// errno space, 0 on success; the C side translates host errno once, in
// rumpuser_errno.c.  Calls returning void never fail.
//
// Blocking.  A hypercall is entered holding a rump kernel CPU.  A call that
// blocks on the host gives that CPU up through the hyp_backend_unschedule
// upcall and takes one back through hyp_backend_schedule before returning,
// so it calls back into the kernel through the RumpUserHyperup table given
// to rumpuser_init.  Those are: mutex_enter (non-spin, when contended),
// rw_enter (when contended), rw_downgrade, cv_wait, cv_timedwait,
// clock_sleep, thread_join, open, close, getfileinfo, iovread, iovwrite,
// syncfd and bio.  The _nowrap variants and RUMPUSER_MTX_SPIN mutexes never
// give up the CPU (and so may block holding it).  Block I/O completes on
// host worker threads that call biodone holding a CPU, each worker with an
// lwp of its own obtained through hyp_schedule/hyp_lwproc_newlwp.
//
// [SuppressGCTransition] is on the calls that are trivial, never wait on
// anything and never call back: rumpuser_curlwp and rumpuser_curlwpop (one
// TLS access, on every kernel entry), rumpuser_seterrno, rumpuser_clock_gettime
// (vDSO), rumpuser_mutex_tryenter, rumpuser_mutex_exit, rumpuser_mutex_owner,
// rumpuser_mutex_spin_p, rumpuser_rw_tryenter, rumpuser_rw_exit,
// rumpuser_rw_held, rumpuser_cv_signal, rumpuser_cv_broadcast and
// rumpuser_cv_has_waiters.  Waking a waiter is a futex wake, not a wait;
// glibc's cond signal may spin briefly on its internal lock, never on a
// kernel event.  Everything that may block or call an upcall keeps the GC
// transition: a thread blocked in native code must be seen as preemptive
// by the GC, and an upcall re-enters managed code.
//
// Types are blittable only: opaque handles (struct lwp, rumpuser_mtx/rw/cv,
// thread cookies, biodone and interlock arguments) are nint; memory is
// void*; C strings are byte* (NUL-terminated); size_t is nuint; C long is
// nint (the same width on every Unix ABI); int64_t/uint64_t are long/ulong;
// functions are delegate* unmanaged.

using System.Runtime.CompilerServices;

[assembly: DisableRuntimeMarshalling]

namespace Rump.Hypercall;

public static unsafe partial class RumpUser
{
    // librumpuser.so, found by the runtime's usual native library probing.
    public const string Library = "rumpuser";
}
