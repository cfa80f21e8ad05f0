/*
 * rumpuser.h -- the hypercall interface of the rump kernel, version 17.
 *
 * This is the only door between the kernel and the host.  It follows
 * NetBSD's rumpuser(3) interface version 17 function for function and
 * constant for constant, so that a kernel and a hypervisor written against
 * either side interoperate.
 *
 * Conventions (from rumpuser(3)):
 *  - Every routine returning int returns an errno value in the rump
 *    kernel's (NetBSD's) errno space, 0 on success.  Routines returning
 *    void never fail.
 *  - off_t travels as int64_t, enums travel as int.
 *  - A hypercall is entered holding a rump kernel CPU.  A hypercall that
 *    blocks gives the CPU up through hyp_backend_unschedule() and takes it
 *    back through hyp_backend_schedule() before returning.  The _nowrap
 *    variants never give the CPU up.
 *  - struct rumpuser_mtx, rumpuser_rw and rumpuser_cv are opaque.
 *
 * The host's headers are included only for the integer types below.
 */

#ifndef _RUMP_RUMPUSER_H_
#define _RUMP_RUMPUSER_H_

#include <stdint.h>    /* int64_t, uint64_t */
#include <sys/types.h> /* size_t, pid_t */

#if defined(__GNUC__) || defined(__clang__)
#define RUMPUSER_NORETURN __attribute__((__noreturn__))
#define RUMPUSER_PRINTFLIKE(fmt, args) \
	__attribute__((__format__(__printf__, fmt, args)))
#else
#define RUMPUSER_NORETURN
#define RUMPUSER_PRINTFLIKE(fmt, args)
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct lwp;

/*
 * Initialization
 */

#define RUMPUSER_VERSION 17

/* Upcalls from the hypervisor into the kernel, in this exact order. */
struct rumpuser_hyperup {
	void (*hyp_schedule)(void);
	void (*hyp_unschedule)(void);
	void (*hyp_backend_unschedule)(int nlocks, int *countp, void *interlock);
	void (*hyp_backend_schedule)(int nlocks, void *interlock);
	void (*hyp_lwproc_switch)(struct lwp *l);
	void (*hyp_lwproc_release)(void);
	int (*hyp_lwproc_rfork)(void *priv, int flags, const char *comm);
	int (*hyp_lwproc_newlwp)(pid_t pid);
	struct lwp *(*hyp_lwproc_curlwp)(void);
	int (*hyp_syscall)(int num, void *arg, long *retval);
	void (*hyp_lwpexit)(void);
	void (*hyp_execnotify)(const char *comm);
	pid_t (*hyp_getpid)(void);
	void *hyp__extra[8];
};

int rumpuser_init(int version, const struct rumpuser_hyperup *hyp);

/*
 * Memory
 */

int rumpuser_malloc(size_t len, int alignment, void **memp);
void rumpuser_free(void *mem, size_t len);
int rumpuser_anonmmap(void *prefaddr, size_t size, int alignbit, int exec,
    void **memp);
void rumpuser_unmap(void *addr, size_t len);

/*
 * Files and I/O
 */

#define RUMPUSER_OPEN_RDONLY	0x0000
#define RUMPUSER_OPEN_WRONLY	0x0001
#define RUMPUSER_OPEN_RDWR	0x0002
#define RUMPUSER_OPEN_ACCMODE	0x0003
#define RUMPUSER_OPEN_CREATE	0x0004
#define RUMPUSER_OPEN_EXCL	0x0008
#define RUMPUSER_OPEN_BIO	0x0010
int rumpuser_open(const char *name, int mode, int *fdp);
int rumpuser_close(int fd);

#define RUMPUSER_FT_OTHER	0
#define RUMPUSER_FT_DIR		1
#define RUMPUSER_FT_REG		2
#define RUMPUSER_FT_BLK		3
#define RUMPUSER_FT_CHR		4
int rumpuser_getfileinfo(const char *name, uint64_t *size, int *type);

#define RUMPUSER_BIO_READ	0x01
#define RUMPUSER_BIO_WRITE	0x02
#define RUMPUSER_BIO_SYNC	0x04
/*
 * biodone is called on a host worker thread with no kernel context (no CPU, no
 * lwp): one hypervisor serves every kernel instance in the process.  It must
 * only record the result and wake the waiter.
 */
typedef void (*rump_biodone_fn)(void *donearg, size_t bytes, int error);
void rumpuser_bio(int fd, int op, void *data, size_t dlen, int64_t off,
    rump_biodone_fn biodone, void *donearg);

/* Same layout as the host's struct iovec. */
struct rumpuser_iovec {
	void *iov_base;
	size_t iov_len;
};
#define RUMPUSER_IOV_NOSEEK	(-1)
int rumpuser_iovread(int fd, struct rumpuser_iovec *ruiov, size_t iovlen,
    int64_t off, size_t *retv);
int rumpuser_iovwrite(int fd, const struct rumpuser_iovec *ruiov,
    size_t iovlen, int64_t off, size_t *retv);

#define RUMPUSER_SYNCFD_READ	0x01
#define RUMPUSER_SYNCFD_WRITE	0x02
#define RUMPUSER_SYNCFD_BOTH	(RUMPUSER_SYNCFD_READ | RUMPUSER_SYNCFD_WRITE)
#define RUMPUSER_SYNCFD_BARRIER	0x04
#define RUMPUSER_SYNCFD_SYNC	0x08
int rumpuser_syncfd(int fd, int flags, uint64_t start, uint64_t len);

/*
 * Clocks and sleeping
 */

enum rumpclock { RUMPUSER_CLOCK_RELWALL, RUMPUSER_CLOCK_ABSMONO };
int rumpuser_clock_gettime(int enum_rumpclock, int64_t *sec, long *nsec);
int rumpuser_clock_sleep(int enum_rumpclock, int64_t sec, long nsec);

/*
 * Host parameters
 */

#define RUMPUSER_PARAM_NCPU	"_RUMPUSER_NCPU"
#define RUMPUSER_PARAM_HOSTNAME	"_RUMPUSER_HOSTNAME"
int rumpuser_getparam(const char *name, void *buf, size_t buflen);

/*
 * errno for system call clients, set in the calling thread's TLS
 */

void rumpuser_seterrno(int error);

/*
 * Termination and signals
 */

#define RUMPUSER_PID_SELF	((int64_t)-1)
int rumpuser_kill(int64_t pid, int sig);
#define RUMPUSER_PANIC		(-1)
void rumpuser_exit(int value) RUMPUSER_NORETURN;

/*
 * Console
 */

void rumpuser_putchar(int ch);
void rumpuser_dprintf(const char *fmt, ...) RUMPUSER_PRINTFLIKE(1, 2);

/*
 * Host random pool
 */

#define RUMPUSER_RANDOM_HARD	0x01
#define RUMPUSER_RANDOM_NOWAIT	0x02
int rumpuser_getrandom(void *buf, size_t buflen, int flags, size_t *retp);

/*
 * Threads
 */

int rumpuser_thread_create(void *(*fun)(void *), void *arg,
    const char *thrname, int mustjoin, int priority, int cpuidx,
    void **cookie);
void rumpuser_thread_exit(void) RUMPUSER_NORETURN;
int rumpuser_thread_join(void *cookie);

enum rumplwpop {
	RUMPUSER_LWP_CREATE, RUMPUSER_LWP_DESTROY,
	RUMPUSER_LWP_SET, RUMPUSER_LWP_CLEAR
};
void rumpuser_curlwpop(int enum_rumplwpop, struct lwp *l);
struct lwp *rumpuser_curlwp(void);

/*
 * Mutexes, rwlocks, condition variables
 */

struct rumpuser_mtx;
#define RUMPUSER_MTX_SPIN	0x01
#define RUMPUSER_MTX_KMUTEX	0x02
void rumpuser_mutex_init(struct rumpuser_mtx **mtxp, int flags);
void rumpuser_mutex_enter(struct rumpuser_mtx *mtx);
void rumpuser_mutex_enter_nowrap(struct rumpuser_mtx *mtx);
int rumpuser_mutex_tryenter(struct rumpuser_mtx *mtx);
void rumpuser_mutex_exit(struct rumpuser_mtx *mtx);
void rumpuser_mutex_destroy(struct rumpuser_mtx *mtx);
void rumpuser_mutex_owner(struct rumpuser_mtx *mtx, struct lwp **lp);
int rumpuser_mutex_spin_p(struct rumpuser_mtx *mtx);

struct rumpuser_rw;
enum rumprwlock { RUMPUSER_RW_READER, RUMPUSER_RW_WRITER };
void rumpuser_rw_init(struct rumpuser_rw **rwp);
void rumpuser_rw_enter(int enum_rumprwlock, struct rumpuser_rw *rw);
int rumpuser_rw_tryenter(int enum_rumprwlock, struct rumpuser_rw *rw);
int rumpuser_rw_tryupgrade(struct rumpuser_rw *rw);
void rumpuser_rw_downgrade(struct rumpuser_rw *rw);
void rumpuser_rw_exit(struct rumpuser_rw *rw);
void rumpuser_rw_destroy(struct rumpuser_rw *rw);
void rumpuser_rw_held(int enum_rumprwlock, struct rumpuser_rw *rw,
    int *heldp);

struct rumpuser_cv;
void rumpuser_cv_init(struct rumpuser_cv **cvp);
void rumpuser_cv_destroy(struct rumpuser_cv *cv);
void rumpuser_cv_wait(struct rumpuser_cv *cv, struct rumpuser_mtx *mtx);
void rumpuser_cv_wait_nowrap(struct rumpuser_cv *cv, struct rumpuser_mtx *mtx);
int rumpuser_cv_timedwait(struct rumpuser_cv *cv, struct rumpuser_mtx *mtx,
    int64_t sec, int64_t nsec);
void rumpuser_cv_signal(struct rumpuser_cv *cv);
void rumpuser_cv_broadcast(struct rumpuser_cv *cv);
void rumpuser_cv_has_waiters(struct rumpuser_cv *cv, int *waitersp);

/*
 * Dynamic loader (declared for completeness; not provided by this
 * implementation)
 */

struct modinfo;
struct rump_component;
struct evcnt;
typedef void (*rump_modinit_fn)(const struct modinfo *const *, size_t);
typedef int (*rump_symload_fn)(void *, uint64_t, char *, uint64_t);
typedef void (*rump_compload_fn)(const struct rump_component *);
typedef void (*rump_evcntattach_fn)(struct evcnt *);
void rumpuser_dl_bootstrap(rump_modinit_fn modinit, rump_symload_fn symload,
    rump_compload_fn compload, rump_evcntattach_fn evcntattach);

/*
 * Daemonizing (declared; not provided)
 */

int rumpuser_daemonize_begin(void);
int rumpuser_daemonize_done(int error);

/*
 * Syscall proxy: the server of NetBSD's sysproxy protocol (src/rumpuser_sp.c).
 * client is the pointer given to hyp_lwproc_rfork for the connection; the
 * copies are round trips to the client and give up the CPU while they wait.
 * copyinstr: *lenp is the buffer size in, the bytes received out.
 */

int rumpuser_sp_init(const char *url, const char *ostype,
    const char *osrelease, const char *machine);
int rumpuser_sp_copyin(void *client, const void *raddr, void *laddr,
    size_t len);
int rumpuser_sp_copyinstr(void *client, const void *raddr, void *laddr,
    size_t *lenp);
int rumpuser_sp_copyout(void *client, const void *laddr, void *raddr,
    size_t len);
int rumpuser_sp_copyoutstr(void *client, const void *laddr, void *raddr,
    size_t *lenp);
int rumpuser_sp_anonmmap(void *client, size_t len, void **addrp);
int rumpuser_sp_raise(void *client, int sig);
void rumpuser_sp_fini(void *client);

#ifdef __cplusplus
}
#endif

#endif /* _RUMP_RUMPUSER_H_ */
