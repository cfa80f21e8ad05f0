/*
 * rump.h: the rump kernel's C interface beside the system calls (which are in
 * <rump/rump_syscalls.h>), as NetBSD's <rump/rump.h>: booting, and the lwproc
 * calls that give a client thread its process context.
 *
 * Calls return 0 or an errno value (NetBSD numbering, see RUMP_E* in
 * <rump/rumpdefs.h>); system calls instead return -1 and set the host's errno.
 */
#ifndef _RUMP_RUMP_H_
#define _RUMP_RUMP_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <rump/rumpdefs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An lwp of the rump kernel: opaque to clients. */
struct lwp;

/*
 * Boots the process's rump kernel (once; later calls return 0). Parameters come
 * from the environment: RUMP_NCPU (virtual CPUs, default the host's count),
 * RUMP_HOSTNAME, RUMP_MEMLIMIT (bytes of kernel data memory).
 */
int rump_init(void);

/* The rumpuser(3) hypercall interface version the kernel was built for. */
int rump_getversion(void);

/*
 * A new process (a child of the caller's) with one lwp, which becomes the calling
 * thread's context. RUMP_RFFDG copies the descriptor table, RUMP_RFCFDG starts with
 * an empty one, 0 shares the parent's. The previous context is released if it was
 * an implicit one.
 */
int rump_pub_lwproc_rfork(int flags);
/* A new lwp in process pid, which becomes the calling thread's context. */
int rump_pub_lwproc_newlwp(pid_t pid);
/* Makes l the calling thread's context (NULL: none; the next call gets an implicit one). */
void rump_pub_lwproc_switch(struct lwp *l);
/* Releases the calling thread's lwp; the last lwp of a process ends the process. */
void rump_pub_lwproc_releaselwp(void);
/* The calling thread's lwp (an implicit one is made if it has none). */
struct lwp *rump_pub_lwproc_curlwp(void);

/* NetBSD's names for the lwproc calls. */
#define rump_lwproc_rfork rump_pub_lwproc_rfork
#define rump_lwproc_newlwp rump_pub_lwproc_newlwp
#define rump_lwproc_switch rump_pub_lwproc_switch
#define rump_lwproc_releaselwp rump_pub_lwproc_releaselwp
#define rump_lwproc_curlwp rump_pub_lwproc_curlwp

/*
 * A system call by number with its arguments as an array of register-sized
 * (64-bit) slots, one per argument in the prototype's order. Returns 0 or an
 * errno; the result is stored in *retval.
 */
int rump_syscall(int num, void *data, size_t dlen, int64_t *retval);

#ifdef __cplusplus
}
#endif

#endif /* _RUMP_RUMP_H_ */
