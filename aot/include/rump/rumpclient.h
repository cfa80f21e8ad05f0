/*
 * rumpclient.h: a remote client of a rump kernel (librumpclient.so), as
 * NetBSD's <rump/rumpclient.h>.  The kernel runs in another process
 * (rump_server); system calls travel over a socket in NetBSD's sysproxy
 * protocol.  The rump_sys_* calls of <rump/rump_syscalls.h> and rump_init()
 * of <rump/rump.h> are provided too, so a program written against them runs
 * unchanged as a local client (linked with librump.so) or a remote one
 * (linked with librumpclient.so).
 *
 * The server is named by the environment variable RUMP_SERVER:
 *	unix://path		a unix socket (a relative path is taken from the
 *				current directory when rumpclient_init runs)
 *	tcp://1.2.3.4:port	TCP over IPv4
 *	tcp://[::1]:port	TCP over IPv6
 *
 * Each connection is one process in the kernel, with its own descriptors and
 * credentials (the server's policy: root).  All threads of the host process
 * share it; calls from several threads run concurrently.  A host fork()
 * made through rumpclient_fork() (or prefork + fork + fork_init) gives the
 * child its own kernel process holding a copy of the parent's descriptor
 * table; rumpclient_exec() keeps the kernel process across execve().
 *
 * Signals: during a call all signals are blocked except while the calling
 * thread waits for the server, when the caller's own mask applies.  A
 * signal handler must not make rump calls (the call fails with EINTR when
 * it would otherwise deadlock on its own thread).
 */
#ifndef _RUMP_RUMPCLIENT_H_
#define _RUMP_RUMPCLIENT_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Connects to RUMP_SERVER and makes this host process a process of the
 * kernel.  Once per host process: later calls return 0 (a child of a plain
 * fork() that did not use the fork calls below connects anew, as a new kernel
 * process).  Returns 0, or -1 with errno set (ENOENT: RUMP_SERVER is unset;
 * EINVAL: it cannot be parsed; a connect(2) error).
 */
int rumpclient_init(void);

/*
 * A system call by number with its arguments in NetBSD's layout (one 64-bit
 * slot per member of the call's syscallarg structure, PAD slots included), as
 * rump_syscall() of <rump/rump.h>.  Returns 0 or an errno value in NetBSD's
 * numbering (RUMP_E*), also for the client's own failures (RUMP_ENOTCONN when
 * the server is gone); the results go to retval[0] and retval[1].
 */
int rumpclient_syscall(int num, const void *data, size_t dlen, int64_t *retval);

/*
 * Forking.  rumpclient_prefork() asks the kernel to copy the caller's kernel
 * process (a cookie names the copy); after the host fork() the child calls
 * rumpclient_fork_init() to connect and claim it, the parent calls
 * rumpclient_fork_vparent() (or rumpclient_fork_cancel() if the host fork
 * failed).  rumpclient_fork() and
 * rumpclient_vfork() do all of it.  Each returns -1 with errno on failure.
 */
struct rumpclient_fork;
struct rumpclient_fork *rumpclient_prefork(void);
int rumpclient_fork_init(struct rumpclient_fork *);
void rumpclient_fork_cancel(struct rumpclient_fork *);
/*
 * The parent's part after the host fork succeeded: after a vfork child has
 * run, the connection is the parent's own again.  Frees the cookie.
 */
void rumpclient_fork_vparent(struct rumpclient_fork *);
pid_t rumpclient_fork(void);

/*
 * execve(2) that keeps the kernel process: the connection's descriptor
 * survives the exec and its number travels in the environment
 * (RUMPCLIENT__EXECFD, with the server's address in RUMP__PARSEDSERVER), where
 * the new image's rumpclient_init() finds it.  Returns only on failure (-1
 * with errno).
 */
int rumpclient_exec(const char *path, char *const argv[], char *const envp[]);

/* daemon(3) whose child keeps a kernel process (a copy of the caller's). */
int rumpclient_daemon(int nochdir, int noclose);

/*
 * What a call does when the connection is lost (NetBSD's policy): 0 (the
 * default) fails it with ENOTCONN; a number of seconds retries connecting for
 * that long; RUMPCLIENT_RETRYCONN_INFTIME forever; _ONCE one attempt;
 * _DIE exits the process.  A reconnection is a new kernel process: the old
 * descriptors are gone.
 */
#define RUMPCLIENT_RETRYCONN_INFTIME ((time_t)-1)
#define RUMPCLIENT_RETRYCONN_ONCE ((time_t)-2)
#define RUMPCLIENT_RETRYCONN_DIE ((time_t)-3)
void rumpclient_setconnretry(time_t timeout);

/*
 * For librumphijack: the host descriptor fd is about to be closed or
 * overwritten (RUMPCLIENT_CLOSE_CLOSE, _DUP2) or everything from *fdp up is
 * (_FCLOSEM).  If fd is the connection's socket, the socket moves to another
 * number first; for _FCLOSEM the descriptors below the socket are closed and
 * *fdp is set to where the caller carries on.  0, or -1 with errno.
 */
enum rumpclient_closevariant {
	RUMPCLIENT_CLOSE_CLOSE,
	RUMPCLIENT_CLOSE_DUP2,
	RUMPCLIENT_CLOSE_FCLOSEM
};
int rumpclient__closenotify(int *fdp, enum rumpclient_closevariant variant);

/*
 * fork or vfork with the kernel process copied for the child.  Inline so
 * that a vfork child runs in its caller's frame.
 */
static inline __attribute__((__always_inline__, __returns_twice__)) pid_t
rumpclient__dofork(pid_t (*forkfn)(void))
{
	struct rumpclient_fork *rf = rumpclient_prefork();
	pid_t pid;

	if (rf == NULL)
		return -1;
	pid = forkfn();
	if (pid == -1)
		rumpclient_fork_cancel(rf);
	else if (pid == 0 && rumpclient_fork_init(rf) == -1)
		pid = -1;
	else if (pid > 0)
		rumpclient_fork_vparent(rf);
	return pid;
}

#define rumpclient_vfork() rumpclient__dofork(vfork)

#ifdef __cplusplus
}
#endif

#endif /* _RUMP_RUMPCLIENT_H_ */
