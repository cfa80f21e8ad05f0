/*
 * rumpuser_sp.c -- the server side of NetBSD's syscall proxy (sysproxy): a
 * rump kernel serves system calls to client processes over a socket.
 *
 * The wire format is sp_wire.[ch]; this file is the state machine.  The
 * protocol is NetBSD's (lib/librumpuser/rumpuser_sp.c, sp_common.c): after
 * the banner a client makes a GUEST handshake (a new process) or a FORK one
 * (joining a process a PREFORK made, with its cookie), then SYSCALL requests;
 * while a system call runs the server asks the client for COPYIN/COPYINSTR
 * (answered), COPYOUT/COPYOUTSTR and RAISE (not answered), ANONMMAP (answered).
 * An EXEC handshake keeps the process across the client's execve.
 *
 * Threads (leader/follower over one epoll set).  A pool of server threads
 * waits in epoll_wait on the listener and on every connection, each registered
 * EPOLLONESHOT: an event goes to one thread, which then owns the connection's
 * read side ("reading") until it has read what the socket has.  When that is a
 * whole request, the thread re-arms the connection for the others and runs the
 * request itself, in the kernel, through the upcalls of struct rumpuser_hyperup
 * only, and sends the answer: the thread that read a request runs it, so a
 * system call costs no hand-off between server threads (the poll thread and
 * worker pool before it cost two wake-ups a call).  A thread that leaves
 * epoll_wait when no other waits there starts one more (up to SP_MAXWORKER), so
 * a call that blocks in the kernel never stops the reading of the others; idle
 * ones beyond SP_IDLEWORKER end.  A kernel thread inside a system call that
 * copies from the client (rumpuser_sp_copyin) sends the request, gives up its
 * virtual CPU, and sleeps until whichever thread read the connection next has
 * read the answer straight into the kernel's buffer.
 *
 * Never trusting the wire: every frame length is checked against the maximum
 * for its type before anything is allocated; an answer must match a request
 * this server made, with the length it asked for.  A client that breaks the
 * protocol gets its connection closed (after an error frame when there is a
 * request to answer), and nothing else changes.
 *
 * Per-connection state is one struct spconn.  Its references: the server's
 * list (one, dropped by the thread that reads the end and runs the teardown),
 * and each running request.  The last reference releases the client's
 * kernel process (its descriptors close) and closes the socket; until then the
 * socket number cannot be reused.  A process a PREFORK made keeps its
 * connection as client pointer but never copies through it; it waits, with its
 * cookie, for the child's FORK handshake on a new connection even after the
 * parent's connection is gone (a parent often exits first), and the oldest is
 * released when there are SP_MAXPREFORKS unclaimed.
 *
 * A connection is armed (in the epoll set) only while nobody reads it and it
 * is not "held": a handshake, prefork or exec in progress (so that they are
 * ordered with the requests after them), or too many system calls in flight
 * (memory stays bounded).  Whoever ends one of those conditions re-arms it
 * (conn_arm_locked).
 *
 * Locks, in order: sp_lock (server: connection list, thread counts, preforks)
 * may be taken before a connection's c_mtx (its state, waiters, counters, the
 * armed/reading flags; epoll_ctl is called under it so arming follows them);
 * c_sendmtx (one frame at a time on the socket) is taken with neither held.
 */

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rumpuser_int.h"
#include "sp_wire.h"

/* NetBSD's rfork flags (rump.h RUMP_RFFDG, RUMP_RFCFDG). */
#define SP_RFFDG	0x01
#define SP_RFCFDG	0x02

#define SP_MAXCONN	256		/* connections at once (NetBSD's MAXCLI) */
#define SP_MAXWORKER	512		/* each blocked client system call holds one */
#define SP_IDLEWORKER	16
#define SP_MAXINFLIGHT	32		/* system calls of one connection at once */
#define SP_MAXPREFORK	16		/* unclaimed preforks of one connection */
#define SP_MAXPREFORKS	256		/* of all: beyond, the oldest is released */
#define SP_MAXHSBODY	1024		/* a command name and the extension block */
#define SP_MAXSYSCALLX	((1u << 20) + 4096)	/* one round trip carries up to 1 MiB */
#define SP_MAXCOMM	64

enum { SPC_NEW, SPC_RUNNING, SPC_DYING };

/* A server-to-client request waiting for its answer. */
struct spwait {
	struct spwait *w_next;
	uint64_t w_reqno;
	uint16_t w_type;	/* SPW_COPYIN, SPW_COPYINSTR, SPW_ANONMMAP */
	uint8_t *w_dst;		/* where the answer's body goes */
	size_t w_max;		/* its size */
	size_t w_got;		/* the answer's length */
	int w_done;
	int w_error;		/* NetBSD errno, from an error frame */
	int w_reading;		/* a reader is reading the body into w_dst */
	pthread_cond_t w_cv;
};

struct spconn {
	int c_fd;
	pthread_mutex_t c_mtx;
	pthread_cond_t c_cv;		/* in-flight count changes (exec waits) */
	pthread_mutex_t c_sendmtx;

	/* c_mtx */
	int c_refs;
	int c_state;
	int c_held;			/* a control request is running */
	int c_armed;			/* in the epoll set, waiting for an event */
	int c_reading;			/* a thread owns the frame reader */
	int c_inflight;			/* system calls queued or running */
	int c_inexec;
	int c_npreforks;		/* sp_lock */
	uint64_t c_nextreq;
	struct spwait *c_waits;

	/* Written by the control requests (serialized), read by the others after. */
	void *c_mainlwp;		/* struct lwp * of the client's process */
	pid_t c_pid;
	uint32_t c_features;		/* the extension's, granted at handshake */

	/* Frame reader: the thread that took the connection's event (c_reading) alone. */
	uint8_t c_hdrbuf[SPW_HDRSZ];
	size_t c_off;			/* bytes of the current frame read */
	struct spw_hdr c_hdr;
	uint8_t *c_body;		/* a request's body */
	struct spwait *c_rdwait;	/* an answer's target */
	uint8_t c_discard[8];

	struct spconn *c_next;		/* sp_conns */
};

struct prefork {
	struct prefork *pf_next;
	uint32_t pf_auth[SPW_AUTHLEN];
	void *pf_lwp;
	struct spconn *pf_owner;	/* the connection that made it, while it lives (sp_lock) */
};

/* What the worker's current system call is: for copyins served from its buffers and for fini. */
struct spcur {
	struct spconn *conn;
	uint64_t reqno;
	int answered;			/* rumpuser_sp_fini sent the response already */
	const struct spw_syscallx *sx;
};
static _Thread_local struct spcur sp_cur;

static pthread_mutex_t sp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spconn *sp_conns;		/* sp_lock */
static int sp_nconns;
static int sp_nthread, sp_nidle;	/* sp_lock: server threads, those in epoll_wait */
static int sp_epfd = -1;
static char sp_listentag;		/* the listener's epoll data */
static struct prefork *sp_preforks;	/* newest first */
static int sp_npreforks;
static int sp_started;
static _Atomic int sp_finished;		/* rumpuser_sp_fini: the kernel halted */
static int sp_listenfd = -1;
/* accept failed for want of descriptors or memory: the listener waits for a connection to end. */
static _Atomic int sp_acceptpaused;
static char sp_banner[SPW_MAXBANNER];
static size_t sp_bannerlen;
static char sp_unixpath[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

static void conn_rele(struct spconn *c);

/* ---- Upcalls, each in one scheduled section as NetBSD's wrappers ---------------------- */

static inline const struct rumpuser_hyperup *
hyp(void)
{
	return rumpuser__hyperup();
}

/* ---- Arming ------------------------------------------------------------------------- */

static void
listener_arm(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &sp_listentag };

	if (!atomic_load(&sp_finished))
		(void)epoll_ctl(sp_epfd, EPOLL_CTL_MOD, sp_listenfd, &ev);
}

/* c_mtx held: the connection goes back into the epoll set if nothing keeps it out. */
static void
conn_arm_locked(struct spconn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = c };

	if (c->c_reading || c->c_armed || c->c_held || c->c_inflight >= SP_MAXINFLIGHT ||
	    c->c_state == SPC_DYING)
		return;
	c->c_armed = 1;
	(void)epoll_ctl(sp_epfd, EPOLL_CTL_MOD, c->c_fd, &ev);
}

/* ---- Sending ------------------------------------------------------------------------- */

/*
 * Sends one frame: the header, then up to two pieces.  Returns 0 or a host
 * errno; a failure shuts the socket down so that its reader reaps it.
 */
static int
sp_send(struct spconn *c, uint64_t reqno, uint16_t cls, uint16_t type, uint32_t arg,
    const void *p1, size_t l1, const void *p2, size_t l2)
{
	uint8_t hdr[SPW_HDRSZ];
	struct iovec iov[3];
	struct msghdr msg;
	int n = 1, error = 0;

	spw_hdr_make(hdr, l1 + l2, reqno, cls, type, arg);
	iov[0].iov_base = hdr;
	iov[0].iov_len = SPW_HDRSZ;
	if (l1 > 0) {
		iov[n].iov_base = (void *)(uintptr_t)p1;
		iov[n++].iov_len = l1;
	}
	if (l2 > 0) {
		iov[n].iov_base = (void *)(uintptr_t)p2;
		iov[n++].iov_len = l2;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)n;

	pthread_mutex_lock(&c->c_sendmtx);
	while (msg.msg_iovlen > 0) {
		ssize_t w = sendmsg(c->c_fd, &msg, MSG_NOSIGNAL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = { .fd = c->c_fd, .events = POLLOUT };

				if (poll(&pfd, 1, -1) == -1 && errno != EINTR) {
					error = errno;
					break;
				}
				if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
					error = EPIPE;
					break;
				}
				continue;
			}
			error = errno;
			break;
		}
		while (msg.msg_iovlen > 0 && (size_t)w >= msg.msg_iov[0].iov_len) {
			w -= (ssize_t)msg.msg_iov[0].iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov[0].iov_base = (uint8_t *)msg.msg_iov[0].iov_base + w;
			msg.msg_iov[0].iov_len -= (size_t)w;
		}
	}
	pthread_mutex_unlock(&c->c_sendmtx);
	if (error != 0)
		shutdown(c->c_fd, SHUT_RDWR);
	return error;
}

static void
send_error(struct spconn *c, uint64_t reqno, enum spw_err err)
{
	(void)sp_send(c, reqno, SPW_ERROR, 0, (uint32_t)err, NULL, 0, NULL, 0);
}

static void
send_syscall_resp(struct spconn *c, uint64_t reqno, int error, const long retval[2])
{
	struct spw_sysresp r = { .error = error, .retval = { retval[0], retval[1] } };
	uint8_t b[SPW_SYSRESPSZ];

	spw_sysresp_encode(b, &r);
	(void)sp_send(c, reqno, SPW_RESP, SPW_SYSCALL, 0, b, sizeof(b), NULL, 0);
}

static void
send_handshake_resp(struct spconn *c, uint64_t reqno, int result, int withext)
{
	uint8_t b[SPW_HSRESPSZ + SPW_HSEXTSZ];
	struct spw_hsext x = { .version = SPW_HSEXT_VERSION, .features = c->c_features };

	spw_put32(b, (uint32_t)result);
	if (withext)
		spw_hsext_encode(b + SPW_HSRESPSZ, &x);
	(void)sp_send(c, reqno, SPW_RESP, SPW_HANDSHAKE, 0, b,
	    SPW_HSRESPSZ + (withext ? SPW_HSEXTSZ : 0), NULL, 0);
}

/* ---- Connections ------------------------------------------------------------------- */

/* Releases a process whose lwp is l: NetBSD's lwproc_switch(l), lwproc_release(). */
static void
release_lwp(void *l)
{
	const struct rumpuser_hyperup *h = hyp();

	if (atomic_load(&sp_finished))
		return;		/* the kernel halted: nothing of it runs any more */
	h->hyp_schedule();
	h->hyp_lwproc_switch(l);
	h->hyp_lwproc_release();
	h->hyp_unschedule();
}

/* The last reference: the client's kernel process ends, the socket closes. */
static void
conn_free(struct spconn *c)
{
	/* Its unclaimed preforks stay for the children that may still connect. */
	pthread_mutex_lock(&sp_lock);
	for (struct prefork *pf = sp_preforks; pf != NULL; pf = pf->pf_next)
		if (pf->pf_owner == c)
			pf->pf_owner = NULL;
	pthread_mutex_unlock(&sp_lock);
	if (c->c_mainlwp != NULL)
		release_lwp(c->c_mainlwp);
	close(c->c_fd);
	pthread_mutex_destroy(&c->c_mtx);
	pthread_cond_destroy(&c->c_cv);
	pthread_mutex_destroy(&c->c_sendmtx);
	free(c->c_body);
	free(c);
	pthread_mutex_lock(&sp_lock);
	sp_nconns--;
	pthread_mutex_unlock(&sp_lock);
	if (atomic_exchange(&sp_acceptpaused, 0))
		listener_arm();
}

/* The release may enter the kernel: never with a lock held. */
static void
conn_rele(struct spconn *c)
{
	int last;

	pthread_mutex_lock(&c->c_mtx);
	last = --c->c_refs == 0;
	pthread_mutex_unlock(&c->c_mtx);
	if (last)
		conn_free(c);
}

/* ---- Requests ---------------------------------------------------------------------- */

/* Makes the connection readable again after a control request. */
static void
conn_unhold(struct spconn *c)
{
	pthread_mutex_lock(&c->c_mtx);
	c->c_held = 0;
	conn_arm_locked(c);
	pthread_mutex_unlock(&c->c_mtx);
}

/* A handshake, prefork or exec asked the connection to end: its next reader reaps it. */
static void
conn_abort(struct spconn *c)
{
	shutdown(c->c_fd, SHUT_RDWR);
	conn_unhold(c);
}

static void
do_guest(struct spconn *c, const struct spw_hdr *hd, const uint8_t *body, size_t len)
{
	const struct rumpuser_hyperup *h = hyp();
	char comm[SP_MAXCOMM];
	struct spw_hsext x;
	int ext, error;

	ext = len == 0 ? (comm[0] = '\0', 0) : spw_hscomm_decode(body, len, comm, sizeof(comm), &x);
	if (ext && x.version >= SPW_HSEXT_VERSION)
		c->c_features = x.features & SPW_FEAT_ARGBUF;

	h->hyp_schedule();
	error = h->hyp_lwproc_rfork(c, SP_RFCFDG, comm);
	if (error == 0) {
		c->c_mainlwp = h->hyp_lwproc_curlwp();
		c->c_pid = h->hyp_getpid();
		h->hyp_lwproc_switch(NULL);
	}
	h->hyp_unschedule();
	if (error != 0) {
		send_error(c, hd->reqno, SPW_ERR_RFORK_FAILED);
		conn_abort(c);
		return;
	}
	pthread_mutex_lock(&c->c_mtx);
	if (c->c_state == SPC_NEW)
		c->c_state = SPC_RUNNING;
	pthread_mutex_unlock(&c->c_mtx);
	send_handshake_resp(c, hd->reqno, 0, ext);
	conn_unhold(c);
}

static void
do_fork(struct spconn *c, const struct spw_hdr *hd, const uint8_t *body, size_t len)
{
	const struct rumpuser_hyperup *h = hyp();
	struct spw_hsfork f;
	struct spw_hsext x;
	struct prefork *pf, **pp;
	int ext, error;

	/* NetBSD's body is exactly the 20 bytes; the extension block may follow. */
	if (spw_hsfork_decode(body, len, &f) != 0 ||
	    (len != SPW_HSFORKSZ && !spw_hsext_decode(body + SPW_HSFORKSZ, len - SPW_HSFORKSZ, &x))) {
		send_error(c, hd->reqno, SPW_ERR_MALFORMED_REQUEST);
		conn_abort(c);
		return;
	}
	ext = len != SPW_HSFORKSZ;
	if (ext && x.version >= SPW_HSEXT_VERSION)
		c->c_features = x.features & SPW_FEAT_ARGBUF;

	pthread_mutex_lock(&sp_lock);
	for (pp = &sp_preforks; (pf = *pp) != NULL; pp = &pf->pf_next)
		if (memcmp(pf->pf_auth, f.auth, sizeof(f.auth)) == 0)
			break;
	if (pf != NULL) {
		*pp = pf->pf_next;
		sp_npreforks--;
		if (pf->pf_owner != NULL)
			pf->pf_owner->c_npreforks--;
	}
	pthread_mutex_unlock(&sp_lock);
	if (pf == NULL) {
		send_error(c, hd->reqno, SPW_ERR_INVALID_PREFORK);
		conn_abort(c);
		return;
	}
	h->hyp_schedule();
	h->hyp_lwproc_switch(pf->pf_lwp);
	if (f.cancel) {
		h->hyp_lwproc_release();
		h->hyp_unschedule();
		free(pf);
		conn_abort(c);
		return;
	}
	/*
	 * The prefork's process has the parent's connection as its client; this
	 * one gets a process of its own sharing that one's descriptors, and the
	 * prefork's goes.
	 */
	error = h->hyp_lwproc_rfork(c, 0, NULL);
	if (error != 0) {
		h->hyp_lwproc_release();
		h->hyp_unschedule();
		free(pf);
		send_error(c, hd->reqno, SPW_ERR_RFORK_FAILED);
		conn_abort(c);
		return;
	}
	c->c_mainlwp = h->hyp_lwproc_curlwp();
	c->c_pid = h->hyp_getpid();
	h->hyp_lwproc_switch(pf->pf_lwp);
	h->hyp_lwproc_release();
	h->hyp_lwproc_switch(c->c_mainlwp);
	h->hyp_lwproc_switch(NULL);
	h->hyp_unschedule();
	free(pf);

	pthread_mutex_lock(&c->c_mtx);
	if (c->c_state == SPC_NEW)
		c->c_state = SPC_RUNNING;
	pthread_mutex_unlock(&c->c_mtx);
	send_handshake_resp(c, hd->reqno, 0, ext);
	conn_unhold(c);
}

static void
do_prefork(struct spconn *c, const struct spw_hdr *hd)
{
	const struct rumpuser_hyperup *h = hyp();
	struct prefork *pf, *old;
	uint8_t b[SPW_PREFORKRESPSZ];
	size_t got;
	int error, full;

	pthread_mutex_lock(&sp_lock);
	full = c->c_npreforks >= SP_MAXPREFORK;
	pthread_mutex_unlock(&sp_lock);
	if (full || (pf = calloc(1, sizeof(*pf))) == NULL) {
		send_error(c, hd->reqno, SPW_ERR_NOMEM);
		conn_unhold(c);
		return;
	}
	if (rumpuser_getrandom(pf->pf_auth, sizeof(pf->pf_auth), 0, &got) != 0 ||
	    got != sizeof(pf->pf_auth)) {
		free(pf);
		send_error(c, hd->reqno, SPW_ERR_NOMEM);
		conn_unhold(c);
		return;
	}
	/* The client's main lwp forks: no system call ever runs on it. */
	h->hyp_schedule();
	h->hyp_lwproc_switch(c->c_mainlwp);
	error = h->hyp_lwproc_rfork(c, SP_RFFDG, NULL);
	if (error == 0) {
		pf->pf_lwp = h->hyp_lwproc_curlwp();
		h->hyp_lwproc_switch(NULL);
	} else {
		h->hyp_lwproc_switch(NULL);
	}
	h->hyp_unschedule();
	if (error != 0) {
		free(pf);
		send_error(c, hd->reqno, SPW_ERR_RFORK_FAILED);
		conn_unhold(c);
		return;
	}
	/*
	 * The prefork's process keeps c as its client pointer but makes no copy:
	 * only the FORK handshake (another connection) uses it, by rfork and release.
	 */
	pthread_mutex_lock(&sp_lock);
	pf->pf_owner = c;
	c->c_npreforks++;
	pf->pf_next = sp_preforks;
	sp_preforks = pf;
	old = NULL;
	if (++sp_npreforks > SP_MAXPREFORKS) {
		struct prefork **pp = &sp_preforks;

		while ((*pp)->pf_next != NULL)
			pp = &(*pp)->pf_next;
		old = *pp;
		*pp = NULL;
		sp_npreforks--;
		if (old->pf_owner != NULL)
			old->pf_owner->c_npreforks--;
	}
	pthread_mutex_unlock(&sp_lock);
	if (old != NULL) {
		release_lwp(old->pf_lwp);
		free(old);
	}

	for (int i = 0; i < SPW_AUTHLEN; i++)
		spw_put32(b + 4 * i, pf->pf_auth[i]);
	(void)sp_send(c, hd->reqno, SPW_RESP, SPW_PREFORK, 0, b, sizeof(b), NULL, 0);
	conn_unhold(c);
}

static void
do_exec(struct spconn *c, const struct spw_hdr *hd, const uint8_t *body, size_t len)
{
	const struct rumpuser_hyperup *h = hyp();
	char comm[SP_MAXCOMM];
	struct spw_hsext x;

	if (len == 0)
		comm[0] = '\0';
	else
		(void)spw_hscomm_decode(body, len, comm, sizeof(comm), &x);
	pthread_mutex_lock(&c->c_mtx);
	c->c_inexec = 1;
	pthread_mutex_unlock(&c->c_mtx);

	/* The old image's system calls are interrupted and drain before the new image goes on. */
	h->hyp_schedule();
	h->hyp_lwproc_switch(c->c_mainlwp);
	h->hyp_lwpexit();
	h->hyp_lwproc_switch(NULL);
	h->hyp_unschedule();

	pthread_mutex_lock(&c->c_mtx);
	while (c->c_inflight > 0 && c->c_state != SPC_DYING)
		pthread_cond_wait(&c->c_cv, &c->c_mtx);
	pthread_mutex_unlock(&c->c_mtx);

	h->hyp_schedule();
	h->hyp_lwproc_switch(c->c_mainlwp);
	h->hyp_execnotify(comm);
	h->hyp_lwproc_switch(NULL);
	h->hyp_unschedule();

	pthread_mutex_lock(&c->c_mtx);
	c->c_inexec = 0;
	pthread_mutex_unlock(&c->c_mtx);
	send_handshake_resp(c, hd->reqno, 0, 0);
	conn_unhold(c);
}

static void
do_syscall(struct spconn *c, const struct spw_hdr *hd, const uint8_t *body, size_t len)
{
	const struct rumpuser_hyperup *h = hyp();
	/* Zeroed past what the client sent: the kernel reads as many slots as the call has. */
	long args[SPW_MAXARGSIZE / sizeof(long) + 2];
	long retval[2] = { 0, 0 };
	struct spw_syscallx sx;
	int error, dying;

	memset(args, 0, sizeof(args));
	sp_cur.conn = c;
	sp_cur.reqno = hd->reqno;
	sp_cur.answered = 0;
	sp_cur.sx = NULL;
	if (hd->type == SPW_SYSCALLX) {
		if (spw_syscallx_decode(body, len, &sx) != 0) {
			send_error(c, hd->reqno, SPW_ERR_MALFORMED_REQUEST);
			shutdown(c->c_fd, SHUT_RDWR);
			goto out;
		}
		memcpy(args, sx.args, sx.argsize);
		sp_cur.sx = &sx;
	} else if (len > 0) {
		memcpy(args, body, len);	/* len <= SPW_MAXARGSIZE, checked by the reader */
	}
	pthread_mutex_lock(&c->c_mtx);
	dying = c->c_state == SPC_DYING;
	pthread_mutex_unlock(&c->c_mtx);
	if (dying)
		goto out;	/* nobody to answer: not run */

	h->hyp_schedule();
	error = h->hyp_lwproc_newlwp(c->c_pid);
	if (error == 0) {
		error = h->hyp_syscall((int)hd->arg, args, retval);
		h->hyp_lwproc_release();
	} else {
		retval[0] = -1;
	}
	h->hyp_unschedule();
	if (!sp_cur.answered)
		send_syscall_resp(c, hd->reqno, error, retval);
out:
	memset(&sp_cur, 0, sizeof(sp_cur));
	pthread_mutex_lock(&c->c_mtx);
	c->c_inflight--;
	pthread_cond_broadcast(&c->c_cv);	/* an exec may wait for the calls to drain */
	conn_arm_locked(c);	/* left out at the maximum: it is readable again */
	pthread_mutex_unlock(&c->c_mtx);
}

/* The connection is dead: the client's other lwps leave their sleeps (NetBSD's lwpexit). */
static void
do_teardown(struct spconn *c)
{
	const struct rumpuser_hyperup *h = hyp();
	int inexec;

	pthread_mutex_lock(&c->c_mtx);
	inexec = c->c_inexec;
	pthread_mutex_unlock(&c->c_mtx);
	if (c->c_mainlwp != NULL && !inexec && !atomic_load(&sp_finished)) {
		h->hyp_schedule();
		h->hyp_lwproc_switch(c->c_mainlwp);
		h->hyp_lwpexit();
		h->hyp_lwproc_switch(NULL);
		h->hyp_unschedule();
	}
}

/* Runs one request read from c (a reference held for it). */
static void
req_run(struct spconn *c, const struct spw_hdr *hd, const uint8_t *body, size_t len)
{
	if (atomic_load(&sp_finished)) {
		/* The kernel halted: nothing more runs in it. */
		if (hd->type == SPW_SYSCALL || hd->type == SPW_SYSCALLX) {
			pthread_mutex_lock(&c->c_mtx);
			c->c_inflight--;
			pthread_mutex_unlock(&c->c_mtx);
		}
		return;
	}
	switch (hd->type) {
	case SPW_HANDSHAKE:
		if (hd->arg == SPW_HS_GUEST)
			do_guest(c, hd, body, len);
		else if (hd->arg == SPW_HS_FORK)
			do_fork(c, hd, body, len);
		else
			do_exec(c, hd, body, len);
		break;
	case SPW_PREFORK:
		do_prefork(c, hd);
		break;
	default:
		do_syscall(c, hd, body, len);
		break;
	}
}

/* ---- Reading: the thread that took a connection's event ------------------------------ */

/*
 * The connection dies (by the thread that owns its reader, so nobody re-arms
 * it): it leaves the list and the epoll set, waiters are told, the one whose
 * answer was being read is let go, the client's other lwps are told to leave
 * their sleeps, and the list's reference goes.
 */
static void
conn_kill(struct spconn *c)
{
	/* Out of the list first: nobody may find it once the teardown frees it. */
	pthread_mutex_lock(&sp_lock);
	for (struct spconn **cp = &sp_conns; *cp != NULL; cp = &(*cp)->c_next) {
		if (*cp == c) {
			*cp = c->c_next;
			break;
		}
	}
	pthread_mutex_unlock(&sp_lock);
	(void)epoll_ctl(sp_epfd, EPOLL_CTL_DEL, c->c_fd, NULL);
	shutdown(c->c_fd, SHUT_RDWR);
	pthread_mutex_lock(&c->c_mtx);
	c->c_state = SPC_DYING;
	if (c->c_rdwait != NULL) {
		c->c_rdwait->w_reading = 0;
		c->c_rdwait = NULL;
	}
	for (struct spwait *w = c->c_waits; w != NULL; w = w->w_next)
		pthread_cond_broadcast(&w->w_cv);
	pthread_cond_broadcast(&c->c_cv);
	pthread_mutex_unlock(&c->c_mtx);
	free(c->c_body);
	c->c_body = NULL;
	do_teardown(c);
	conn_rele(c);
}

/* A frame that breaks the protocol: an error for a request, and the connection closes. */
static int
violation(struct spconn *c, enum spw_err answer)
{
	if (answer != SPW_ERR_NONE) {
		uint8_t hdr[SPW_HDRSZ];

		/* Best effort, never blocking the reader. */
		spw_hdr_make(hdr, 0, c->c_hdr.reqno, SPW_ERROR, 0, answer);
		(void)send(c->c_fd, hdr, sizeof(hdr), MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	return -1;
}

/* The largest body a client request of this type may have, or -1 if it may not be sent now. */
static long
req_maxbody(struct spconn *c, const struct spw_hdr *hd)
{
	int running = c->c_state == SPC_RUNNING;

	switch (hd->type) {
	case SPW_HANDSHAKE:
		if (!running && (hd->arg == SPW_HS_GUEST || hd->arg == SPW_HS_FORK))
			return SP_MAXHSBODY;
		if (running && hd->arg == SPW_HS_EXEC)
			return SP_MAXHSBODY;
		return -1;
	case SPW_SYSCALL:
		return running ? SPW_MAXARGSIZE : -1;
	case SPW_SYSCALLX:
		return running && (c->c_features & SPW_FEAT_ARGBUF) ? (long)SP_MAXSYSCALLX : -1;
	case SPW_PREFORK:
		return running ? 0 : -1;
	default:
		return -1;
	}
}

/* The header of an answer (RESP or ERROR): find its waiter. 0, or -1 to close. */
static int
resp_begin(struct spconn *c)
{
	const struct spw_hdr *hd = &c->c_hdr;
	uint64_t blen = hd->len - SPW_HDRSZ;
	struct spwait *w;
	int ok = 0;

	pthread_mutex_lock(&c->c_mtx);
	for (w = c->c_waits; w != NULL; w = w->w_next)
		if (w->w_reqno == hd->reqno && !w->w_done)
			break;
	if (w != NULL) {
		if (hd->cls == SPW_ERROR)
			ok = blen == 0;
		else if (hd->type != w->w_type &&
		    !(w->w_type == SPW_COPYINSTR && hd->type == SPW_COPYIN))
			ok = 0;	/* NetBSD's librumpclient answers a COPYINSTR as a COPYIN */
		else if (w->w_type == SPW_COPYINSTR)
			ok = blen <= w->w_max;
		else
			ok = blen == w->w_max;
	}
	if (ok) {
		if (hd->cls == SPW_ERROR) {
			w->w_error = (int)hd->arg;
			w->w_done = 1;
			pthread_cond_broadcast(&w->w_cv);
		} else if (blen == 0) {
			w->w_got = 0;
			w->w_done = 1;
			pthread_cond_broadcast(&w->w_cv);
		} else {
			w->w_reading = 1;
			c->c_rdwait = w;
		}
	}
	pthread_mutex_unlock(&c->c_mtx);
	return ok ? 0 : -1;
}

static void
resp_end(struct spconn *c)
{
	struct spwait *w = c->c_rdwait;

	pthread_mutex_lock(&c->c_mtx);
	w->w_got = (size_t)(c->c_hdr.len - SPW_HDRSZ);
	w->w_reading = 0;
	w->w_done = 1;
	c->c_rdwait = NULL;
	pthread_cond_broadcast(&w->w_cv);
	pthread_mutex_unlock(&c->c_mtx);
}

/*
 * Reads what the socket has of the current frame and acts on whole answers.
 * Returns 1 when a whole request is in c_hdr and c_body, 0 when the socket has
 * nothing more now, -1 to close the connection.
 */
static int
conn_read(struct spconn *c)
{
	for (;;) {
		ssize_t n;
		size_t want;
		uint8_t *dst;

		if (c->c_off < SPW_HDRSZ) {
			dst = c->c_hdrbuf + c->c_off;
			want = SPW_HDRSZ - c->c_off;
		} else {
			size_t boff = c->c_off - SPW_HDRSZ;

			want = (size_t)(c->c_hdr.len - c->c_off);
			dst = c->c_rdwait != NULL ? c->c_rdwait->w_dst + boff : c->c_body + boff;
		}
		n = read(c->c_fd, dst, want);
		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->c_off += (size_t)n;

		if (c->c_off == SPW_HDRSZ) {
			struct spw_hdr *hd = &c->c_hdr;

			spw_hdr_decode(c->c_hdrbuf, hd);
			if (hd->len < SPW_HDRSZ)
				return violation(c, SPW_ERR_NONE);
			if (hd->cls == SPW_REQ) {
				long max;

				pthread_mutex_lock(&c->c_mtx);
				max = req_maxbody(c, hd);
				pthread_mutex_unlock(&c->c_mtx);
				if (max < 0 || hd->len - SPW_HDRSZ > (uint64_t)max) {
					pthread_mutex_lock(&c->c_mtx);
					n = c->c_state == SPC_NEW;
					pthread_mutex_unlock(&c->c_mtx);
					return violation(c, n ? SPW_ERR_AUTH : SPW_ERR_MALFORMED_REQUEST);
				}
				if (hd->len > SPW_HDRSZ) {
					/* One byte more: a command name is terminated in place. */
					c->c_body = calloc(1, (size_t)(hd->len - SPW_HDRSZ) + 1);
					if (c->c_body == NULL)
						return -1;
				}
			} else if (hd->cls == SPW_RESP || hd->cls == SPW_ERROR) {
				if (resp_begin(c) != 0)
					return violation(c, SPW_ERR_NONE);
			} else {
				return violation(c, SPW_ERR_MALFORMED_REQUEST);
			}
		}
		if (c->c_off >= SPW_HDRSZ && c->c_off == c->c_hdr.len) {
			int cls = c->c_hdr.cls;

			c->c_off = 0;
			if (cls == SPW_REQ)
				return 1;
			if (c->c_rdwait != NULL) {
				resp_end(c);
			}
		}
	}
}

static void
conn_accept(void)
{
	struct spconn *c;
	int fd, one = 1;

	fd = accept4(sp_listenfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		/* Else the listener stays readable and poll returns at once, forever. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			atomic_store(&sp_acceptpaused, 1);
		return;
	}
	pthread_mutex_lock(&sp_lock);
	if (sp_nconns >= SP_MAXCONN) {
		pthread_mutex_unlock(&sp_lock);
		close(fd);
		return;
	}
	sp_nconns++;
	pthread_mutex_unlock(&sp_lock);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (send(fd, sp_banner, sp_bannerlen, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sp_bannerlen ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		pthread_mutex_lock(&sp_lock);
		sp_nconns--;
		pthread_mutex_unlock(&sp_lock);
		return;
	}
	c->c_fd = fd;
	c->c_refs = 1;
	c->c_state = SPC_NEW;
	c->c_nextreq = 1;
	c->c_armed = 1;
	pthread_mutex_init(&c->c_mtx, NULL);
	pthread_cond_init(&c->c_cv, NULL);
	pthread_mutex_init(&c->c_sendmtx, NULL);
	pthread_mutex_lock(&sp_lock);
	c->c_next = sp_conns;
	sp_conns = c;
	pthread_mutex_unlock(&sp_lock);
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = c };

		if (epoll_ctl(sp_epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			/* Never read: its end is its teardown, here. */
			c->c_reading = 1;
			conn_kill(c);
		}
	}
}

/*
 * An event on c: this thread reads what there is; a whole request it runs
 * itself, after giving the connection back to the epoll set for the frames
 * that follow (other requests, the answers to this one's copyins).
 */
static void
conn_event(struct spconn *c)
{
	struct spw_hdr hd;
	uint8_t *body;
	int r;

	pthread_mutex_lock(&c->c_mtx);
	c->c_armed = 0;
	c->c_reading = 1;
	pthread_mutex_unlock(&c->c_mtx);
	r = conn_read(c);
	if (r < 0) {
		conn_kill(c);
		return;
	}
	if (r == 0) {
		pthread_mutex_lock(&c->c_mtx);
		c->c_reading = 0;
		conn_arm_locked(c);
		pthread_mutex_unlock(&c->c_mtx);
		return;
	}
	hd = c->c_hdr;
	body = c->c_body;
	c->c_body = NULL;
	pthread_mutex_lock(&c->c_mtx);
	c->c_reading = 0;
	c->c_refs++;
	if (hd.type == SPW_SYSCALL || hd.type == SPW_SYSCALLX)
		c->c_inflight++;
	else
		c->c_held = 1;	/* ordered with what follows: nothing is read until it is done */
	conn_arm_locked(c);
	pthread_mutex_unlock(&c->c_mtx);
	req_run(c, &hd, body, (size_t)(hd.len - SPW_HDRSZ));
	free(body);
	conn_rele(c);
}

static void *server_main(void *arg);

/* sp_lock held. */
static void
server_spawn_locked(void)
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, server_main, NULL) == 0)
		sp_nthread++;
	pthread_attr_destroy(&attr);
}

static void *
server_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct epoll_event ev;
		int n;

		pthread_mutex_lock(&sp_lock);
		if (sp_nidle >= SP_IDLEWORKER) {
			sp_nthread--;
			pthread_mutex_unlock(&sp_lock);
			return NULL;
		}
		sp_nidle++;
		pthread_mutex_unlock(&sp_lock);
		n = epoll_wait(sp_epfd, &ev, 1, -1);
		pthread_mutex_lock(&sp_lock);
		sp_nidle--;
		/* Somebody must be left to read while this one runs a call that may block. */
		if (n == 1 && sp_nidle == 0 && sp_nthread < SP_MAXWORKER)
			server_spawn_locked();
		pthread_mutex_unlock(&sp_lock);
		if (n != 1) {
			if (n == -1 && errno != EINTR)
				rumpuser__fatal("rumpuser_sp: epoll_wait", errno);
			continue;
		}
		if (ev.data.ptr == &sp_listentag) {
			if (atomic_load(&sp_finished))
				continue;	/* shut down: no more connections */
			conn_accept();
			if (!atomic_load(&sp_acceptpaused))
				listener_arm();
		} else {
			conn_event(ev.data.ptr);
		}
	}
}

/* ---- URLs -------------------------------------------------------------------------- */

/* unix://path (relative to the working directory), tcp://a.b.c.d:port, tcp://[v6]:port. */
static int
parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *slen)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(url, "unix://", 7) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		const char *path = url + 7;
		char cwd[PATH_MAX];
		int n;

		if (*path == '\0')
			return EINVAL;
		if (*path == '/') {
			n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
		} else {
			if (getcwd(cwd, sizeof(cwd)) == NULL)
				return errno;
			n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s", cwd, path);
		}
		if (n < 0 || (size_t)n >= sizeof(sun->sun_path))
			return ENAMETOOLONG;
		sun->sun_family = AF_UNIX;
		*slen = sizeof(*sun);
		return 0;
	}
	if (strncmp(url, "tcp://", 6) == 0) {
		const char *a = url + 6, *colon, *end;
		char host[INET6_ADDRSTRLEN + 1];
		unsigned long port;
		char *pe;
		size_t hl;
		int v6 = *a == '[';

		if (v6) {
			end = strchr(a, ']');
			if (end == NULL || end[1] != ':')
				return EINVAL;
			a++;
			hl = (size_t)(end - a);
			colon = end + 1;
		} else {
			colon = strrchr(a, ':');
			if (colon == NULL)
				return EINVAL;
			hl = (size_t)(colon - a);
		}
		if (hl == 0 || hl >= sizeof(host))
			return EINVAL;
		memcpy(host, a, hl);
		host[hl] = '\0';
		if (colon[1] < '0' || colon[1] > '9')
			return EINVAL;
		errno = 0;
		port = strtoul(colon + 1, &pe, 10);
		if (errno != 0 || port > 65535 || (*pe != '\0' && strcmp(pe, "/") != 0))
			return EINVAL;
		if (v6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

			if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
				return EINVAL;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)port);
			*slen = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

			/* NetBSD's "*" and "0" listen on every address. */
			if (strcmp(host, "*") == 0 || strcmp(host, "0") == 0)
				s4->sin_addr.s_addr = htonl(INADDR_ANY);
			else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
				return EINVAL;
			s4->sin_family = AF_INET;
			s4->sin_port = htons((uint16_t)port);
			*slen = sizeof(*s4);
		}
		return 0;
	}
	return EINVAL;
}

/* ---- The hypercalls --------------------------------------------------------------- */

RUMPUSER_EXPORT int
rumpuser_sp_init(const char *url, const char *ostype, const char *osrelease,
    const char *machine)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int s = -1, error, one = 1;

	if (url == NULL || ostype == NULL || osrelease == NULL || machine == NULL)
		return rumpuser__errtrans(EINVAL);
	if (rumpuser__hyperup() == NULL)
		return rumpuser__errtrans(ENXIO);	/* no kernel to serve */
	if ((error = parse_url(url, &ss, &slen)) != 0)
		return rumpuser__errtrans(error);
	sp_bannerlen = spw_banner_format(sp_banner, ostype, osrelease, machine);
	if (sp_bannerlen == 0)
		return rumpuser__errtrans(EINVAL);

	pthread_mutex_lock(&sp_lock);
	if (sp_started) {
		pthread_mutex_unlock(&sp_lock);
		return rumpuser__errtrans(EBUSY);
	}
	sp_started = 1;
	pthread_mutex_unlock(&sp_lock);

	s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s == -1)
		goto fail;
	if (ss.ss_family != AF_UNIX)
		(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, slen) == -1)
		goto fail;
	if (ss.ss_family == AF_UNIX) {
		const char *path = ((struct sockaddr_un *)&ss)->sun_path;

		/* Only its owner may connect (not connectable before listen). */
		if (chmod(path, 0600) == -1) {
			error = errno;
			unlink(path);
			errno = error;
			goto fail;
		}
		memcpy(sp_unixpath, path, sizeof(((struct sockaddr_un *)0)->sun_path));
	}
	if (listen(s, SP_MAXCONN) == -1)
		goto failunlink;
	if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) == -1)
		goto failunlink;
	if (sp_epfd == -1 && (sp_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		goto failunlink;
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &sp_listentag };

		if (epoll_ctl(sp_epfd, EPOLL_CTL_ADD, s, &ev) == -1)
			goto failunlink;
	}
	sp_listenfd = s;
	/* Two: one reads while the other runs a call. */
	pthread_mutex_lock(&sp_lock);
	server_spawn_locked();
	server_spawn_locked();
	error = sp_nthread == 0 ? EAGAIN : 0;
	pthread_mutex_unlock(&sp_lock);
	if (error != 0) {
		(void)epoll_ctl(sp_epfd, EPOLL_CTL_DEL, s, NULL);
		sp_listenfd = -1;
		errno = error;
		goto failunlink;
	}
	return 0;

failunlink:
	if (sp_unixpath[0] != '\0')
		unlink(sp_unixpath);
	sp_unixpath[0] = '\0';
fail:
	error = errno;
	if (s != -1)
		close(s);
	sp_listenfd = -1;
	pthread_mutex_lock(&sp_lock);
	sp_started = 0;
	pthread_mutex_unlock(&sp_lock);
	return rumpuser__errtrans(error);
}

/*
 * Registers a waiter, sends the request, gives up the CPU and sleeps until the
 * answer was read into dst.  Returns 0 with *got, or a NetBSD errno.
 */
static int
sp_roundtrip(struct spconn *c, uint16_t type, const void *body, size_t blen,
    void *dst, size_t max, size_t *got)
{
	struct spwait w;
	int error, nlocks;

	memset(&w, 0, sizeof(w));
	w.w_type = type;
	w.w_dst = dst;
	w.w_max = max;
	pthread_cond_init(&w.w_cv, NULL);

	rumpuser__unschedule(&nlocks, NULL);
	pthread_mutex_lock(&c->c_mtx);
	if (c->c_state == SPC_DYING) {
		pthread_mutex_unlock(&c->c_mtx);
		error = EFAULT;
		goto out;
	}
	w.w_reqno = c->c_nextreq++;
	w.w_next = c->c_waits;
	c->c_waits = &w;
	pthread_mutex_unlock(&c->c_mtx);

	(void)sp_send(c, w.w_reqno, SPW_REQ, type, 0, body, blen, NULL, 0);

	pthread_mutex_lock(&c->c_mtx);
	/* Never leave while a reader may still write into dst. */
	while (!w.w_done && !(c->c_state == SPC_DYING && !w.w_reading))
		pthread_cond_wait(&w.w_cv, &c->c_mtx);
	for (struct spwait **wp = &c->c_waits; *wp != NULL; wp = &(*wp)->w_next) {
		if (*wp == &w) {
			*wp = w.w_next;
			break;
		}
	}
	pthread_mutex_unlock(&c->c_mtx);
	if (!w.w_done)
		error = EFAULT;		/* the client went away */
	else if (w.w_error != 0)
		error = EFAULT;		/* the client could not (an error frame) */
	else {
		error = 0;
		*got = w.w_got;
	}
out:
	rumpuser__reschedule(nlocks, NULL);
	pthread_cond_destroy(&w.w_cv);
	return error;
}

/* The part of [raddr, raddr+len) the current SYSCALLX request carried, if any. */
static const uint8_t *
sx_lookup(struct spconn *c, uint64_t raddr, size_t *availp)
{
	const struct spw_syscallx *sx = sp_cur.sx;

	if (sx == NULL || sp_cur.conn != c)
		return NULL;
	for (uint32_t i = 0; i < sx->nbufs; i++) {
		const struct spw_buf *b = &sx->bufs[i];

		if (raddr >= b->addr && raddr < b->addr + b->len) {
			*availp = (size_t)(b->addr + b->len - raddr);
			return b->data + (raddr - b->addr);
		}
	}
	return NULL;
}

static void
copydata(uint8_t out[SPW_COPYDATASZ], const void *raddr, size_t len)
{
	struct spw_copydata cd = { .len = len, .addr = (uint64_t)(uintptr_t)raddr };

	spw_copydata_encode(out, &cd);
}

RUMPUSER_EXPORT int
rumpuser_sp_copyin(void *client, const void *raddr, void *laddr, size_t len)
{
	struct spconn *c = client;
	uint8_t cd[SPW_COPYDATASZ];
	const uint8_t *p;
	size_t avail, got;

	if (len == 0)
		return 0;
	if (raddr == NULL)
		return EFAULT;
	p = sx_lookup(c, (uint64_t)(uintptr_t)raddr, &avail);
	if (p != NULL && avail >= len) {
		memcpy(laddr, p, len);
		return 0;
	}
	copydata(cd, raddr, len);
	return sp_roundtrip(c, SPW_COPYIN, cd, sizeof(cd), laddr, len, &got);
}

/* *lenp: the buffer's size in, the bytes received (the NUL included if it came) out. */
RUMPUSER_EXPORT int
rumpuser_sp_copyinstr(void *client, const void *raddr, void *laddr, size_t *lenp)
{
	struct spconn *c = client;
	uint8_t cd[SPW_COPYDATASZ];
	const uint8_t *p, *nul;
	size_t avail, got;
	int error;

	if (*lenp == 0)
		return 0;
	if (raddr == NULL)
		return EFAULT;
	p = sx_lookup(c, (uint64_t)(uintptr_t)raddr, &avail);
	if (p != NULL) {
		size_t n = avail < *lenp ? avail : *lenp;

		nul = memchr(p, 0, n);
		if (nul != NULL || n == *lenp) {
			n = nul != NULL ? (size_t)(nul - p) + 1 : n;
			memcpy(laddr, p, n);
			*lenp = n;
			return 0;
		}
	}
	copydata(cd, raddr, *lenp);
	error = sp_roundtrip(c, SPW_COPYINSTR, cd, sizeof(cd), laddr, *lenp, &got);
	if (error == 0)
		*lenp = got;
	return error;
}

static int
sp_copyout(struct spconn *c, const void *laddr, void *raddr, size_t len)
{
	uint8_t cd[SPW_COPYDATASZ];
	int error, nlocks, dying;

	if (len == 0)
		return 0;
	if (raddr == NULL)
		return EFAULT;
	copydata(cd, raddr, len);
	rumpuser__unschedule(&nlocks, NULL);
	pthread_mutex_lock(&c->c_mtx);
	dying = c->c_state == SPC_DYING;
	pthread_mutex_unlock(&c->c_mtx);
	error = dying ? EPIPE :
	    sp_send(c, 0, SPW_REQ, SPW_COPYOUT, 0, cd, sizeof(cd), laddr, len);
	rumpuser__reschedule(nlocks, NULL);
	return error != 0 ? EFAULT : 0;
}

RUMPUSER_EXPORT int
rumpuser_sp_copyout(void *client, const void *laddr, void *raddr, size_t len)
{
	return sp_copyout(client, laddr, raddr, len);
}

/* NetBSD sends it as a copyout of *lenp bytes (the string with its NUL). */
RUMPUSER_EXPORT int
rumpuser_sp_copyoutstr(void *client, const void *laddr, void *raddr, size_t *lenp)
{
	return sp_copyout(client, laddr, raddr, *lenp);
}

RUMPUSER_EXPORT int
rumpuser_sp_anonmmap(void *client, size_t len, void **addrp)
{
	uint8_t b[8], a[8];
	size_t got;
	uint64_t addr;
	int error;

	spw_put64(b, len);
	error = sp_roundtrip(client, SPW_ANONMMAP, b, sizeof(b), a, sizeof(a), &got);
	if (error != 0)
		return error;
	addr = spw_get64(a);
	if (addr == 0)
		return ENOMEM;
	*addrp = (void *)(uintptr_t)addr;
	return 0;
}

RUMPUSER_EXPORT int
rumpuser_sp_raise(void *client, int sig)
{
	struct spconn *c = client;
	int error, nlocks;

	rumpuser__unschedule(&nlocks, NULL);
	error = sp_send(c, 0, SPW_REQ, SPW_RAISE, (uint32_t)sig, NULL, 0, NULL, 0);
	rumpuser__reschedule(nlocks, NULL);
	return error != 0 ? EFAULT : 0;
}

/*
 * The kernel halts (reboot): the client that asked gets its answer now (the
 * process may end before its worker would send it), the socket goes away,
 * and every connection is closed.  Nothing more enters the kernel from here.
 */
RUMPUSER_EXPORT void
rumpuser_sp_fini(void *client)
{
	static const long zero[2] = { 0, 0 };
	int nlocks;

	pthread_mutex_lock(&sp_lock);
	if (!sp_started || atomic_load(&sp_finished)) {
		pthread_mutex_unlock(&sp_lock);
		return;
	}
	atomic_store(&sp_finished, 1);
	pthread_mutex_unlock(&sp_lock);

	rumpuser__unschedule(&nlocks, NULL);
	if (client != NULL && sp_cur.conn == client && !sp_cur.answered) {
		send_syscall_resp(sp_cur.conn, sp_cur.reqno, 0, zero);
		sp_cur.answered = 1;
	}
	if (sp_unixpath[0] != '\0')
		unlink(sp_unixpath);
	/*
	 * No new connection is accepted; the others end (their readers see the end
	 * and tear them down).  The listener is not closed: its number is never
	 * reused under a late re-arm.
	 */
	if (sp_listenfd != -1)
		shutdown(sp_listenfd, SHUT_RDWR);
	pthread_mutex_lock(&sp_lock);
	for (struct spconn *c = sp_conns; c != NULL; c = c->c_next)
		shutdown(c->c_fd, SHUT_RDWR);
	pthread_mutex_unlock(&sp_lock);
	rumpuser__reschedule(nlocks, NULL);
}
