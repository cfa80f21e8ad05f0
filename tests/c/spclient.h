/*
 * spclient.h: a raw sysproxy client over sp_wire, for the tests of the server
 * (rumpuser_sp.c through rump_server).  It plays librumpclient's part by hand:
 * the banner, handshakes, and system calls whose copy requests it answers from
 * its own memory, counting them, so that a test sees every frame.  It also
 * starts rump_server the way a script does: without -s the command returns
 * once the socket listens, and the server's pid comes from the socket's peer
 * credentials.
 */
#ifndef SPCLIENT_H
#define SPCLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "sp_wire.h"

static int t_npass, t_nfail;

#define T_CHECK(cond, ...) do {						\
	if (cond) {							\
		t_npass++;						\
	} else {							\
		t_nfail++;						\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

static inline int
t_done(void)
{
	printf("%d passed, %d failed\n", t_npass, t_nfail);
	return t_nfail == 0 ? 0 : 1;
}

/* How long a test waits for something that must happen before it calls it a hang. */
#define T_HANG_MS 20000

struct spc {
	int fd;
	uint64_t nextreq;
	int major, minor;
	/* Requests the server made during the last system call. */
	int ncopyin, ncopyinstr, ncopyout, nraise, nanonmmap;
	uint32_t raisesig;	/* the signal of the last RAISE */
	uint32_t features;	/* the extension, as granted */
	int netbsd_types;	/* answer as NetBSD's librumpclient: a COPYINSTR with type COPYIN */
};

/* Reads exactly n bytes (waiting at most T_HANG_MS for each piece); 0, or -1 on EOF or error. */
static inline int
spc_readn(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, T_HANG_MS) != 1)
			return -1;
		r = read(fd, p, n);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static inline int
spc_writen(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 1 if the server closed the connection (EOF or reset) within T_HANG_MS, reading past anything it sent. */
static inline int
spc_closed_by_server(int fd)
{
	uint8_t buf[4096];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, T_HANG_MS) != 1)
			return 0;
		r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			return 1;
	}
}

static inline int
spc_sendframe(struct spc *c, uint64_t reqno, uint16_t cls, uint16_t type, uint32_t arg,
    const void *body, size_t len)
{
	uint8_t h[SPW_HDRSZ];

	spw_hdr_make(h, len, reqno, cls, type, arg);
	if (spc_writen(c->fd, h, sizeof(h)) != 0)
		return -1;
	return len > 0 ? spc_writen(c->fd, body, len) : 0;
}

/* Reads one frame; *body is malloc'd (NULL when empty).  0 or -1. */
static inline int
spc_readframe(struct spc *c, struct spw_hdr *h, uint8_t **body)
{
	uint8_t hb[SPW_HDRSZ];

	*body = NULL;
	if (spc_readn(c->fd, hb, sizeof(hb)) != 0)
		return -1;
	spw_hdr_decode(hb, h);
	if (h->len < SPW_HDRSZ || h->len > (64u << 20))
		return -1;
	if (h->len > SPW_HDRSZ) {
		*body = malloc((size_t)(h->len - SPW_HDRSZ));
		if (*body == NULL || spc_readn(c->fd, *body, (size_t)(h->len - SPW_HDRSZ)) != 0) {
			free(*body);
			*body = NULL;
			return -1;
		}
	}
	return 0;
}

/* Connects and reads the banner.  0 or -1. */
static inline int
spc_connect_addr(struct spc *c, const struct sockaddr *sa, socklen_t slen)
{
	char banner[SPW_MAXBANNER];
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	c->nextreq = 1;
	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		return -1;
	if (connect(c->fd, sa, slen) == -1) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	while (n < sizeof(banner) - 1) {
		if (spc_readn(c->fd, banner + n, 1) != 0)
			return -1;
		if (banner[n++] == '\n')
			break;
	}
	banner[n] = '\0';
	return spw_banner_parse(banner, n, &c->major, &c->minor);
}

static inline int
spc_connect(struct spc *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	size_t l = strlen(path);

	if (l >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, l + 1);
	return spc_connect_addr(c, (struct sockaddr *)&sun, sizeof(sun));
}

static void
spc_close(struct spc *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/*
 * A handshake (GUEST or EXEC: body the name; with ext, the extension block
 * after it).  Returns the server's result, or -1 for an error frame or a
 * broken connection (*err gets the error frame's code).
 */
static inline int
spc_handshake(struct spc *c, uint32_t kind, const char *comm, int ext, uint32_t *err)
{
	uint8_t body[128], *rb;
	struct spw_hdr h;
	size_t n = strlen(comm) + 1;
	uint64_t reqno = c->nextreq++;
	int rv;

	memcpy(body, comm, n);
	if (ext) {
		struct spw_hsext x = { .version = SPW_HSEXT_VERSION, .features = SPW_FEAT_ARGBUF };

		spw_hsext_encode(body + n, &x);
		n += SPW_HSEXTSZ;
	}
	if (spc_sendframe(c, reqno, SPW_REQ, SPW_HANDSHAKE, kind, body, n) != 0 ||
	    spc_readframe(c, &h, &rb) != 0)
		return -1;
	if (h.cls == SPW_ERROR) {
		if (err)
			*err = h.arg;
		free(rb);
		return -1;
	}
	if (h.cls != SPW_RESP || h.type != SPW_HANDSHAKE || h.reqno != reqno || h.len < SPW_HDRSZ + 4) {
		free(rb);
		return -1;
	}
	rv = (int)spw_get32(rb);
	if (h.len - SPW_HDRSZ >= SPW_HSRESPSZ + SPW_HSEXTSZ) {
		struct spw_hsext x;

		if (spw_hsext_decode(rb + SPW_HSRESPSZ, (size_t)(h.len - SPW_HDRSZ - SPW_HSRESPSZ), &x))
			c->features = x.features;
	}
	free(rb);
	return rv;
}

static inline int
spc_guest(struct spc *c, const char *comm)
{
	return spc_handshake(c, SPW_HS_GUEST, comm, 0, NULL);
}

/* Answers one request of the server from this process's memory.  0 or -1. */
static inline int
spc_serve(struct spc *c, const struct spw_hdr *h, const uint8_t *body)
{
	struct spw_copydata cd;
	size_t blen = (size_t)(h->len - SPW_HDRSZ);

	switch (h->type) {
	case SPW_COPYIN:
	case SPW_COPYINSTR: {
		size_t n;

		if (spw_copydata_decode(body, blen, &cd) != 0)
			return -1;
		n = (size_t)cd.len;
		if (h->type == SPW_COPYINSTR) {
			c->ncopyinstr++;
			n = strnlen((const char *)(uintptr_t)cd.addr, n);
			n = n < cd.len ? n + 1 : n;
		} else {
			c->ncopyin++;
		}
		return spc_sendframe(c, h->reqno, SPW_RESP, c->netbsd_types ? SPW_COPYIN : h->type, 0,
		    (const void *)(uintptr_t)cd.addr, n);
	}
	case SPW_COPYOUT:
	case SPW_COPYOUTSTR:
		if (spw_copydata_decode(body, blen, &cd) != 0 || blen - SPW_COPYDATASZ != cd.len)
			return -1;
		c->ncopyout++;
		memcpy((void *)(uintptr_t)cd.addr, body + SPW_COPYDATASZ, (size_t)cd.len);
		return 0;
	case SPW_ANONMMAP: {
		uint8_t a[8];
		void *p;

		if (blen != 8)
			return -1;
		c->nanonmmap++;
		p = mmap(NULL, (size_t)spw_get64(body), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		spw_put64(a, p == MAP_FAILED ? 0 : (uint64_t)(uintptr_t)p);
		return spc_sendframe(c, h->reqno, SPW_RESP, SPW_ANONMMAP, 0, a, 8);
	}
	case SPW_RAISE:
		c->nraise++;
		c->raisesig = h->arg;
		return 0;
	default:
		return -1;
	}
}

/* Waits for the response to reqno, serving the server's requests meanwhile. */
static inline int
spc_wait_sysresp(struct spc *c, uint64_t reqno, long *retval, int *broken)
{
	for (;;) {
		struct spw_hdr h;
		uint8_t *b;

		if (spc_readframe(c, &h, &b) != 0) {
			*broken = 1;
			return EPIPE;
		}
		if (h.cls == SPW_REQ) {
			int e = spc_serve(c, &h, b);

			free(b);
			if (e != 0) {
				*broken = 1;
				return EPIPE;
			}
			continue;
		}
		if (h.cls == SPW_RESP && h.type == SPW_SYSCALL && h.reqno == reqno) {
			struct spw_sysresp r;
			int ok = spw_sysresp_decode(b, (size_t)(h.len - SPW_HDRSZ), &r) == 0;

			free(b);
			if (!ok) {
				*broken = 1;
				return EPIPE;
			}
			if (retval)
				*retval = (long)r.retval[0];
			return r.error;
		}
		free(b);
		*broken = 1;
		return EPIPE;
	}
}

/*
 * A system call with NetBSD's argument block (nargs 64-bit slots).  Returns
 * the NetBSD errno (0 on success) with *retval; EPIPE (host) with *broken set
 * if the connection broke.
 */
static inline int
spc_syscall(struct spc *c, int num, const uint64_t *args, int nargs, long *retval)
{
	uint8_t body[SPW_MAXARGSIZE];
	uint64_t reqno = c->nextreq++;
	int broken = 0;

	c->ncopyin = c->ncopyinstr = c->ncopyout = c->nraise = c->nanonmmap = 0;
	for (int i = 0; i < nargs; i++)
		spw_put64(body + 8 * i, args[i]);
	if (spc_sendframe(c, reqno, SPW_REQ, SPW_SYSCALL, (uint32_t)num, body, (size_t)nargs * 8) != 0)
		return EPIPE;
	return spc_wait_sysresp(c, reqno, retval, &broken);
}

/* The same with the extension: the buffers go with the request. */
static inline int
spc_syscallx(struct spc *c, int num, const uint64_t *args, int nargs,
    const void *const *bufs, const uint64_t *lens, uint32_t nbufs, long *retval)
{
	uint8_t argb[SPW_MAXARGSIZE], *body;
	uint64_t addrs[SPW_MAXBUFS];
	uint64_t reqno = c->nextreq++;
	size_t n;
	int broken = 0, rv;

	c->ncopyin = c->ncopyinstr = c->ncopyout = c->nraise = c->nanonmmap = 0;
	for (int i = 0; i < nargs; i++)
		spw_put64(argb + 8 * i, args[i]);
	for (uint32_t i = 0; i < nbufs; i++)
		addrs[i] = (uint64_t)(uintptr_t)bufs[i];
	n = spw_syscallx_size((uint32_t)nargs * 8, lens, nbufs);
	body = malloc(n);
	spw_syscallx_encode(body, argb, (uint32_t)nargs * 8, addrs, lens, bufs, nbufs);
	rv = spc_sendframe(c, reqno, SPW_REQ, SPW_SYSCALLX, (uint32_t)num, body, n);
	free(body);
	if (rv != 0)
		return EPIPE;
	return spc_wait_sysresp(c, reqno, retval, &broken);
}

#define A(x) ((uint64_t)(uintptr_t)(x))

/* ---- The server process ------------------------------------------------------------ */

extern char **environ;

/* Runs rump_server with argv (NULL-terminated, without the program name); its exit status. */
static inline int
spc_run_server(const char *bin, const char *const *args)
{
	const char *argv[32];
	pid_t pid;
	int n = 0, status;

	argv[n++] = bin;
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	/*
	 * Started with no standard input, as a daemon often is (cron, a service manager): the
	 * server must not let the runtime's own files land on 0-2 and be replaced when it detaches.
	 */
	posix_spawn_file_actions_t fa;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addclose(&fa, 0);
	rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The pid of the process at the other end of a unix socket. */
static inline pid_t
spc_peer_pid(int fd)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) == -1)
		return -1;
	return cr.pid;
}

/* Waits for a process (not a child) to end: 1 if it did within T_HANG_MS. */
static inline int
spc_wait_exit(pid_t pid)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p;
	int rv;

	if (pfd == -1)
		return errno == ESRCH;
	p.fd = pfd;
	p.events = POLLIN;
	rv = poll(&p, 1, T_HANG_MS);
	close(pfd);
	return rv == 1;
}

/* 1 if the process (not a child) has ended, zombies included. */
static inline int
spc_exited(pid_t pid)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p;
	int rv;

	if (pfd == -1)
		return 1;
	p.fd = pfd;
	p.events = POLLIN;
	rv = poll(&p, 1, 0);
	close(pfd);
	return rv == 1;
}

#endif /* SPCLIENT_H */
