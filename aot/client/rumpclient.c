/*
 * librumpclient: the client side of NetBSD's syscall proxy (sysproxy).
 *
 * A connection (struct conn) is one process in the server's kernel.  Every
 * thread of the host process uses the one current connection (g_conn):
 *
 *  - a call sends its request frame whole under sendmtx, then waits for the
 *    response with the same request number;
 *  - one waiting thread at a time is the reader: it reads frames off the
 *    socket, hands responses to their waiters (a condition variable each) and
 *    serves the server's requests made while calls run (COPYIN, COPYINSTR,
 *    COPYOUT, COPYOUTSTR, ANONMMAP, RAISE) from this address space;
 *  - when the reader's own response arrives it gives the role to another
 *    waiter.
 *
 * Locks: g_connmtx (reconnection; taken first) -> conn.sendmtx (whole
 * outgoing frames, and conn.closed) -> conn.mtx (the waiter list, reqno,
 * reading, dead).  The reader holds no lock while reading; the incoming
 * frame state (rx) belongs to whoever has reading set.  A reader that must
 * answer a copy request takes sendmtx, so nothing waits for the reader while
 * holding sendmtx.
 *
 * Connections are never freed: a broken one stays (closed) for threads still
 * looking at it, and a reconnection or a fork child makes a new one.
 *
 * Host calls go straight to the kernel with syscall(2), so that a library
 * preloaded over libc (librumphijack) never sees the client's own I/O.
 *
 * The wire format is hypercall/src/sp_wire.[ch]; protocol facts follow
 * NetBSD's lib/librumpclient/rumpclient.c and lib/librumpuser/sp_common.c.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>
#include <rump/rumpclient.h>

#include "rumpclient_int.h"
#include "sp_wire.h"

#define EXPORT __attribute__((visibility("default")))

/* Largest body of an incoming frame other than COPYOUT data (which goes straight to its target). */
#define RX_MAXBODY	(1u << 20)

/* --- host calls, past any interposer ------------------------------------------------------ */

static ssize_t
host_read(int fd, void *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}

static int
host_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

static int
host_fcntl(int fd, int cmd, long arg)
{
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static ssize_t
host_sendmsg(int fd, const struct msghdr *m, int flags)
{
	return syscall(SYS_sendmsg, fd, m, flags);
}

static int
host_ppoll(struct pollfd *p, nfds_t n, const sigset_t *mask)
{
	/* The kernel's sigset is 8 bytes on Linux. */
	return (int)syscall(SYS_ppoll, p, n, NULL, mask, (size_t)8);
}

/*
 * Memory the kernel names (or a program passes) may not be mapped: a local
 * kernel answers EFAULT, and so must we rather than crash.  Reading one byte
 * of each page through process_vm_readv(2) checks a range in one system call.
 */
#define PAGE_SZ 4096u

static int
readable(const void *addr, size_t len)
{
	struct iovec local[64], remote[64];
	uint8_t sink[64];
	uintptr_t a = (uintptr_t)addr, end;

	if (len == 0)
		return 1;
	if (a + len < a)
		return 0;
	end = a + len;
	while (a < end) {
		int n = 0;
		ssize_t r;

		for (; a < end && n < 64; n++) {
			local[n] = (struct iovec){ &sink[n], 1 };
			remote[n] = (struct iovec){ (void *)a, 1 };
			a = (a & ~(uintptr_t)(PAGE_SZ - 1)) + PAGE_SZ;
		}
		r = syscall(SYS_process_vm_readv, getpid(), local, (unsigned long)n,
		    remote, (unsigned long)n, 0UL);
		if (r != n)
			return 0;
	}
	return 1;
}

/* strnlen over memory that may end: the length, bound if no NUL comes first, -1 on a fault. */
static ssize_t
safe_strnlen(const char *s, size_t bound)
{
	size_t done = 0;

	while (done < bound) {
		uintptr_t p = (uintptr_t)(s + done);
		size_t inpage = PAGE_SZ - (p & (PAGE_SZ - 1)), n = bound - done;
		const char *nul;

		if (n > inpage)
			n = inpage;
		if (!readable(s + done, 1))
			return -1;
		if ((nul = memchr(s + done, '\0', n)) != NULL)
			return (ssize_t)(done + (size_t)(nul - (s + done)));
		done += n;
	}
	return (ssize_t)bound;
}

/* --- errno and signal numbers ---------------------------------------------------------------- */

static const struct { int host, nb; } errtab[] = {
#define RUMP_ERRNO(name, nbvalue) { name, nbvalue },
#include "errtab.inc"
#undef RUMP_ERRNO
};

static int
err_host2nb(int e)
{
	for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
		if (errtab[i].host == e)
			return errtab[i].nb;
	return RUMP_EIO;
}

static int
err_nb2host(int e)
{
	for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
		if (errtab[i].nb == e)
			return errtab[i].host;
	return EIO;
}

int
rumpclient__seterrno(int nberr)
{
	errno = err_nb2host(nberr);
	return -1;
}

static int
sig_nb2host(uint32_t nbsig)
{
	switch (nbsig) {
#define RUMP_SIGNAL(name, nbvalue) case nbvalue: return name;
#include "sigtab.inc"
#undef RUMP_SIGNAL
	}
	return 0;
}

/* --- the server's address -------------------------------------------------------------------- */

struct srvaddr {
	struct sockaddr_storage sa;
	socklen_t salen;
	int tcp;
	char url[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];	/* absolute, for exec */
};

/* unix://path, tcp://a.b.c.d:port, tcp://[v6]:port (a trailing '/' is allowed after the port). */
static int
parse_url(const char *url, struct srvaddr *out)
{
	memset(out, 0, sizeof *out);
	if (strncmp(url, "unix://", 7) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&out->sa;
		const char *path = url + 7;
		char abs[sizeof sun->sun_path + 1];

		if (*path == '\0')
			return EINVAL;
		if (*path != '/') {
			char cwd[PATH_MAX];

			if (getcwd(cwd, sizeof cwd) == NULL)
				return errno;
			if ((size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, path) >= sizeof abs)
				return ENAMETOOLONG;
		} else if ((size_t)snprintf(abs, sizeof abs, "%s", path) >= sizeof abs) {
			return ENAMETOOLONG;
		}
		if (strlen(abs) >= sizeof sun->sun_path)
			return ENAMETOOLONG;
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, abs);
		out->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(abs) + 1);
		snprintf(out->url, sizeof out->url, "unix://%s", abs);
		return 0;
	}
	if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "tcp6://", 7) == 0) {
		const char *a = strstr(url, "://") + 3, *colon, *hend;
		char host[INET6_ADDRSTRLEN + 1], port[8];
		struct addrinfo hints, *res;
		size_t hl, pl;

		if (*a == '[') {
			hend = strchr(a, ']');
			if (hend == NULL || hend[1] != ':')
				return EINVAL;
			a++;
			colon = hend + 1;
		} else {
			colon = strrchr(a, ':');
			if (colon == NULL)
				return EINVAL;
			hend = colon;
		}
		hl = (size_t)(hend - a);
		pl = strspn(colon + 1, "0123456789");
		if (hl == 0 || hl >= sizeof host || pl == 0 || pl >= sizeof port)
			return EINVAL;
		if (colon[1 + pl] != '\0' && !(colon[1 + pl] == '/' && colon[2 + pl] == '\0'))
			return EINVAL;
		memcpy(host, a, hl);
		host[hl] = '\0';
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
		if (atoi(port) <= 0 || atoi(port) > 65535)
			return ERANGE;
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if (getaddrinfo(host, port, &hints, &res) != 0)
			return EINVAL;
		memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
		out->salen = res->ai_addrlen;
		freeaddrinfo(res);
		out->tcp = 1;
		snprintf(out->url, sizeof out->url, "%s", url);
		return 0;
	}
	return EINVAL;
}

/* --- connections ----------------------------------------------------------------------------- */

struct waiter {
	struct waiter *next;
	uint64_t reqno;
	int done;
	struct spw_hdr hdr;		/* the response's header ... */
	uint8_t *body;			/* ... and body (malloc'd; NULL if empty) */
	size_t blen;
	pthread_cond_t cv;
};

/* The frame being read (owned by the reader). */
struct rxstate {
	uint8_t hbuf[SPW_HDRSZ];
	size_t hoff;
	struct spw_hdr hdr;
	int phase;			/* RX_HDR, RX_COPYDATA, RX_BODY, RX_DIRECT */
	uint8_t cbuf[SPW_COPYDATASZ];
	size_t coff;
	uint8_t *body;
	size_t blen, boff;
	uint8_t *dst;			/* COPYOUT target, NULL once it faulted */
	size_t dlen, doff, dkeep;	/* data bytes, read so far, to write to dst */
};
enum { RX_HDR, RX_COPYDATA, RX_BODY, RX_DIRECT };

struct conn {
	int fd;
	uint32_t features;		/* the server's extension features */
	int srvext;			/* its handshake answer had the extension block: not NetBSD's server */
	pthread_mutex_t sendmtx;
	int closed;			/* fd closed (sendmtx) */
	pthread_mutex_t mtx;
	pthread_cond_t idlecv;		/* reading dropped to 0 */
	struct waiter *waiters;
	uint64_t nextreq;
	int reading;
	int dead;
	struct rxstate rx;
};

/* A thread serving as reader: a signal handler that calls in would wait for itself. */
static __thread struct conn *tls_reader;

static struct srvaddr g_srv;
/* Read without a lock by every call: an atomic pointer (set at init, reconnection and fork). */
static struct conn *_Atomic g_conn;
static pthread_mutex_t g_connmtx = PTHREAD_MUTEX_INITIALIZER;
static pid_t g_initpid;
static time_t g_retry;

static struct conn *
conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->nextreq = 1;
	pthread_mutex_init(&c->sendmtx, NULL);
	pthread_mutex_init(&c->mtx, NULL);
	pthread_cond_init(&c->idlecv, NULL);
	return c;
}

/* Marks c broken: every waiter wakes, and the socket stops (the fd stays until conn_close). */
static void
conn_kill(struct conn *c)
{
	pthread_mutex_lock(&c->mtx);
	if (!c->dead) {
		c->dead = 1;
		syscall(SYS_shutdown, c->fd, SHUT_RDWR);
		for (struct waiter *w = c->waiters; w != NULL; w = w->next)
			pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&c->mtx);
}

/* Kills c and closes its descriptor once no thread reads or writes it. */
static void
conn_close(struct conn *c)
{
	conn_kill(c);
	pthread_mutex_lock(&c->mtx);
	while (c->reading)
		pthread_cond_wait(&c->idlecv, &c->mtx);
	pthread_mutex_unlock(&c->mtx);
	pthread_mutex_lock(&c->sendmtx);
	if (!c->closed) {
		c->closed = 1;
		host_close(c->fd);
	}
	pthread_mutex_unlock(&c->sendmtx);
}

/* Writes the whole iovec (sendmtx held).  0 or a host errno. */
static int
sendall(struct conn *c, struct iovec *iov, int niov)
{
	struct msghdr m;

	if (c->closed)
		return ENOTCONN;
	memset(&m, 0, sizeof m);
	m.msg_iov = iov;
	m.msg_iovlen = (size_t)niov;
	while (m.msg_iovlen > 0) {
		ssize_t n = host_sendmsg(c->fd, &m, MSG_NOSIGNAL);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = c->fd, .events = POLLOUT };

				/* The thread's signals are blocked: a plain wait. */
				if (host_ppoll(&p, 1, NULL) == -1 && errno != EINTR)
					return errno;
				continue;
			}
			return errno == EFAULT ? EFAULT : ENOTCONN;
		}
		while (n > 0 && m.msg_iovlen > 0) {
			if ((size_t)n >= m.msg_iov->iov_len) {
				n -= (ssize_t)m.msg_iov->iov_len;
				m.msg_iov++;
				m.msg_iovlen--;
			} else {
				m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + n;
				m.msg_iov->iov_len -= (size_t)n;
				n = 0;
			}
		}
		/* Drop emptied entries so the loop ends. */
		while (m.msg_iovlen > 0 && m.msg_iov->iov_len == 0) {
			m.msg_iov++;
			m.msg_iovlen--;
		}
	}
	return 0;
}

/* Reads into buf[*off..want): 1 when full, 0 when the socket has no more now, -1 when it broke. */
static int
rx_fill(struct conn *c, void *buf, size_t want, size_t *off)
{
	while (*off < want) {
		ssize_t n = host_read(c->fd, (uint8_t *)buf + *off, want - *off);

		if (n > 0) {
			*off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		return -1;
	}
	return 1;
}

/*
 * Moves the incoming frame forward as far as the socket allows: 1 when a frame
 * is complete (in c->rx: hdr, and body/blen for all but COPYOUT), 0 when more
 * must arrive, -1 when the connection broke or the server broke the protocol.
 */
static int
rx_progress(struct conn *c)
{
	struct rxstate *rx = &c->rx;
	int r;

	for (;;) {
		switch (rx->phase) {
		case RX_HDR:
			if ((r = rx_fill(c, rx->hbuf, SPW_HDRSZ, &rx->hoff)) != 1)
				return r;
			spw_hdr_decode(rx->hbuf, &rx->hdr);
			if (rx->hdr.len < SPW_HDRSZ)
				return -1;
			rx->blen = (size_t)(rx->hdr.len - SPW_HDRSZ);
			rx->body = NULL;
			rx->boff = 0;
			if (rx->hdr.cls == SPW_REQ && (rx->hdr.type == SPW_COPYOUT ||
			    rx->hdr.type == SPW_COPYOUTSTR)) {
				if (rx->blen < SPW_COPYDATASZ)
					return -1;
				rx->coff = 0;
				rx->phase = RX_COPYDATA;
				continue;
			}
			if (rx->blen > RX_MAXBODY)
				return -1;
			if (rx->blen > 0 && (rx->body = malloc(rx->blen)) == NULL)
				return -1;
			rx->phase = RX_BODY;
			continue;
		case RX_BODY:
			if ((r = rx_fill(c, rx->body, rx->blen, &rx->boff)) != 1)
				return r;
			rx->phase = RX_HDR;
			rx->hoff = 0;
			return 1;
		case RX_COPYDATA: {
			struct spw_copydata cd;

			if ((r = rx_fill(c, rx->cbuf, SPW_COPYDATASZ, &rx->coff)) != 1)
				return r;
			spw_copydata_decode(rx->cbuf, SPW_COPYDATASZ, &cd);
			rx->dst = (uint8_t *)(uintptr_t)cd.addr;
			rx->dlen = rx->blen - SPW_COPYDATASZ;
			/* More data than the copy names is read and dropped. */
			rx->dkeep = rx->dlen < cd.len ? rx->dlen : (size_t)cd.len;
			rx->doff = 0;
			rx->phase = RX_DIRECT;
			continue;
		}
		case RX_DIRECT:
			while (rx->doff < rx->dlen) {
				uint8_t scratch[4096];
				ssize_t n;

				if (rx->dst != NULL && rx->doff < rx->dkeep)
					n = host_read(c->fd, rx->dst + rx->doff, rx->dkeep - rx->doff);
				else
					n = host_read(c->fd, scratch, rx->dlen - rx->doff < sizeof scratch ?
					    rx->dlen - rx->doff : sizeof scratch);
				if (n > 0) {
					rx->doff += (size_t)n;
					continue;
				}
				if (n == -1 && errno == EINTR)
					continue;
				if (n == -1 && errno == EAGAIN)
					return 0;
				if (n == -1 && errno == EFAULT && rx->dst != NULL) {
					/* The kernel named memory we do not have: drop the data. */
					rx->dst = NULL;
					continue;
				}
				return -1;
			}
			rx->phase = RX_HDR;
			rx->hoff = 0;
			return 1;
		}
	}
}

/* Answers a server request made during a call (the reader, no lock held).  0, or -1: broken. */
static int
serve_request(struct conn *c, const struct spw_hdr *h, const uint8_t *body, size_t blen)
{
	uint8_t hb[SPW_HDRSZ], ab[8];
	struct iovec iov[2];
	struct spw_copydata cd;
	int r;

	switch (h->type) {
	case SPW_COPYOUT:
	case SPW_COPYOUTSTR:
		return 0;		/* written as it arrived */
	case SPW_COPYIN:
	case SPW_COPYINSTR: {
		size_t n;

		if (spw_copydata_decode(body, blen, &cd) != 0 || cd.len > SSIZE_MAX)
			return -1;
		n = (size_t)cd.len;
		if (h->type == SPW_COPYINSTR) {
			ssize_t l = safe_strnlen((const char *)(uintptr_t)cd.addr, n);

			if (l < 0)
				n = SIZE_MAX;
			else
				n = (size_t)l < n ? (size_t)l + 1 : n;
		} else if (!readable((const void *)(uintptr_t)cd.addr, n)) {
			n = SIZE_MAX;
		}
		if (n == SIZE_MAX) {
			/*
			 * NetBSD's server takes no error answer to a copy (it
			 * drops the frame and waits for the data forever): the
			 * connection ends, which fails its copy and the call.
			 */
			if (!c->srvext)
				return -1;
			/*
			 * Not our memory: an error answer (the protocol's errors
			 * have no "fault"), which fails the server's copy.
			 */
			spw_hdr_make(hb, 0, h->reqno, SPW_ERROR, h->type, SPW_ERR_MALFORMED_REQUEST);
			iov[0] = (struct iovec){ hb, SPW_HDRSZ };
			pthread_mutex_lock(&c->sendmtx);
			r = sendall(c, iov, 1);
			pthread_mutex_unlock(&c->sendmtx);
			return r == 0 ? 0 : -1;
		}
		/*
		 * NetBSD's client answers both with type COPYIN and its server
		 * matches answers by number only; the request's own type suits
		 * servers that also check the type.
		 */
		spw_hdr_make(hb, n, h->reqno, SPW_RESP, h->type, 0);
		iov[0] = (struct iovec){ hb, SPW_HDRSZ };
		iov[1] = (struct iovec){ (void *)(uintptr_t)cd.addr, n };
		pthread_mutex_lock(&c->sendmtx);
		r = sendall(c, iov, 2);
		pthread_mutex_unlock(&c->sendmtx);
		return r == 0 ? 0 : -1;
	}
	case SPW_ANONMMAP: {
		void *p;

		if (blen != 8)
			return -1;
		p = mmap(NULL, (size_t)spw_get64(body), PROT_READ | PROT_WRITE,
		    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
		spw_put64(ab, (uint64_t)(uintptr_t)p);
		spw_hdr_make(hb, 8, h->reqno, SPW_RESP, SPW_ANONMMAP, 0);
		iov[0] = (struct iovec){ hb, SPW_HDRSZ };
		iov[1] = (struct iovec){ ab, 8 };
		pthread_mutex_lock(&c->sendmtx);
		r = sendall(c, iov, 2);
		pthread_mutex_unlock(&c->sendmtx);
		return r == 0 ? 0 : -1;
	}
	case SPW_RAISE: {
		int sig = sig_nb2host(h->arg);

		/* Pending while the call blocks signals; delivered when it returns. */
		if (sig > 0)
			raise(sig);
		return 0;
	}
	}
	return -1;
}

/*
 * As the reader: reads and dispatches frames until w's response has come,
 * the connection breaks (-1), or another thread's frame leaves w still
 * waiting (never: the loop goes on).  No lock held.
 */
static int
read_until(struct conn *c, struct waiter *w, const sigset_t *waitmask)
{
	for (;;) {
		int r = rx_progress(c);

		if (r == 0) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };

			if (host_ppoll(&p, 1, waitmask) == -1 && errno != EINTR)
				return -1;
			continue;
		}
		if (r < 0)
			return -1;

		struct rxstate *rx = &c->rx;
		struct spw_hdr h = rx->hdr;
		uint8_t *body = rx->body;
		size_t blen = rx->blen;

		rx->body = NULL;
		if (h.cls == SPW_RESP || h.cls == SPW_ERROR) {
			struct waiter *x;
			int mine = 0;

			pthread_mutex_lock(&c->mtx);
			for (x = c->waiters; x != NULL && x->reqno != h.reqno; x = x->next)
				continue;
			if (x != NULL && !x->done) {
				x->hdr = h;
				x->body = body;
				x->blen = blen;
				x->done = 1;
				body = NULL;
				if (x == w)
					mine = 1;
				else
					pthread_cond_signal(&x->cv);
			}
			pthread_mutex_unlock(&c->mtx);
			/* A response nobody waits for (a cancelled call) is dropped. */
			free(body);
			if (mine)
				return 0;
		} else if (h.cls == SPW_REQ) {
			r = serve_request(c, &h, body, blen);
			free(body);
			if (r < 0)
				return -1;
		} else {
			free(body);
			return -1;
		}
	}
}

/*
 * One request and its response.  body/nbody follow the header.  On 0, w->hdr
 * and w->body hold the response (free w->body).  Errors are host errnos:
 * ENOTCONN (the connection is or went broken), EINTR (called from a signal
 * handler that interrupted this thread's reading).
 */
static int
rpc(struct conn *c, uint16_t type, uint32_t arg, struct iovec *body, int nbody,
    struct waiter *w, const sigset_t *waitmask)
{
	struct iovec iov[2 + 3 * SPW_MAXBUFS];
	uint8_t hb[SPW_HDRSZ];
	size_t blen = 0;
	int r;

	if (tls_reader == c)
		return EINTR;
	for (int i = 0; i < nbody; i++) {
		blen += body[i].iov_len;
		iov[1 + i] = body[i];
	}
	memset(w, 0, sizeof *w);
	pthread_cond_init(&w->cv, NULL);

	pthread_mutex_lock(&c->mtx);
	if (c->dead) {
		pthread_mutex_unlock(&c->mtx);
		pthread_cond_destroy(&w->cv);
		return ENOTCONN;
	}
	w->reqno = c->nextreq++;
	w->next = c->waiters;
	c->waiters = w;
	pthread_mutex_unlock(&c->mtx);

	spw_hdr_make(hb, blen, w->reqno, SPW_REQ, type, arg);
	iov[0] = (struct iovec){ hb, SPW_HDRSZ };
	pthread_mutex_lock(&c->sendmtx);
	r = sendall(c, iov, 1 + nbody);
	pthread_mutex_unlock(&c->sendmtx);
	if (r != 0)
		conn_kill(c);

	pthread_mutex_lock(&c->mtx);
	while (!w->done && !c->dead) {
		if (c->reading) {
			pthread_cond_wait(&w->cv, &c->mtx);
			continue;
		}
		c->reading = 1;
		pthread_mutex_unlock(&c->mtx);
		tls_reader = c;
		r = read_until(c, w, waitmask);
		tls_reader = NULL;
		if (r < 0)
			conn_kill(c);
		pthread_mutex_lock(&c->mtx);
		c->reading = 0;
		pthread_cond_broadcast(&c->idlecv);
		/* Hand the role to a thread still waiting. */
		for (struct waiter *x = c->waiters; x != NULL; x = x->next)
			if (!x->done && x != w) {
				pthread_cond_signal(&x->cv);
				break;
			}
	}
	for (struct waiter **pp = &c->waiters; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	r = w->done ? 0 : ENOTCONN;
	pthread_mutex_unlock(&c->mtx);
	pthread_cond_destroy(&w->cv);
	return r;
}

/* --- connecting and handshakes --------------------------------------------------------------- */

/* A connected socket that has read the server's banner; -1 with errno. */
static int
dial(const struct srvaddr *srv)
{
	char banner[SPW_MAXBANNER];
	size_t n = 0;
	int s, major, minor;

	s = (int)syscall(SYS_socket, srv->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s == -1)
		return -1;
	/* Away from 0-2, which programs close and reopen as stdio. */
	if (s <= 2) {
		int s2 = host_fcntl(s, F_DUPFD_CLOEXEC, 3);

		host_close(s);
		if ((s = s2) == -1)
			return -1;
	}
	while (syscall(SYS_connect, s, &srv->sa, srv->salen) == -1) {
		if (errno == EINTR)
			continue;
		goto fail;
	}
	if (srv->tcp) {
		int one = 1;

		syscall(SYS_setsockopt, s, IPPROTO_TCP, TCP_NODELAY, &one, (socklen_t)sizeof one);
	}
	/* The server writes nothing after the banner until the handshake. */
	while (n == 0 || banner[n - 1] != '\n') {
		ssize_t r;

		if (n == sizeof banner - 1) {
			errno = EPROTO;
			goto fail;
		}
		r = host_read(s, banner + n, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			goto fail;
		}
		n++;
	}
	if (spw_banner_parse(banner, n, &major, &minor) != 0 || major != SPW_PROTOMAJOR) {
		errno = EPROTO;
		goto fail;
	}
	if (host_fcntl(s, F_SETFL, host_fcntl(s, F_GETFL, 0) | O_NONBLOCK) == -1)
		goto fail;
	return s;
fail: {
	int e = errno;

	host_close(s);
	errno = e;
	return -1;
	}
}

static const char *
progname(char *buf, size_t len)
{
	int fd = (int)syscall(SYS_open, "/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd == -1 ? -1 : host_read(fd, buf, len - 1);

	if (fd != -1)
		host_close(fd);
	if (n <= 0)
		return "?";
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/*
 * A handshake of kind kind (GUEST, EXEC, or FORK with cookie): 0 or a host
 * errno.  Records the server's extension features in c.  srvext_known: the
 * server is known to have the extension (from the parent's handshake), so a
 * FORK handshake may carry ours.
 */
static int
handshake(struct conn *c, uint32_t kind, const uint32_t *cookie, int cancel, int srvext_known)
{
	static const uint8_t pad[SPW_HSPADMAX];
	struct spw_hsext myext = { SPW_HSEXT_VERSION, SPW_FEAT_ARGBUF }, srvext;
	uint8_t ext[SPW_HSEXTSZ], fb[SPW_HSFORKSZ];
	char comm[64];
	struct iovec iov[4];
	struct waiter w;
	sigset_t all, old;
	int n = 0, r;

	/* RUMPCLIENT_NOARGBUF: NetBSD's protocol only (for comparisons). */
	if (getenv("RUMPCLIENT_NOARGBUF") != NULL)
		myext.features = 0;
	spw_hsext_encode(ext, &myext);
	if (kind == SPW_HS_FORK) {
		struct spw_hsfork f;

		memcpy(f.auth, cookie, sizeof f.auth);
		f.cancel = cancel;
		spw_hsfork_encode(fb, &f);
		iov[n++] = (struct iovec){ fb, SPW_HSFORKSZ };
		/* A server without the extension reads exactly the 20 bytes. */
		if (srvext_known)
			iov[n++] = (struct iovec){ ext, SPW_HSEXTSZ };
	} else {
		const char *p = progname(comm, sizeof comm);

		size_t len = strlen(p) + 1 + SPW_HSEXTSZ;

		iov[n++] = (struct iovec){ (void *)p, strlen(p) + 1 };
		iov[n++] = (struct iovec){ ext, SPW_HSEXTSZ };
		/*
		 * NetBSD's server writes a NUL one byte past the body; with our
		 * block a body could fit its allocation exactly (24 bytes for
		 * "rumpctl" broke glibc's heap there).  See spw_hspad.
		 */
		iov[n++] = (struct iovec){ (void *)pad, spw_hspad(len) };
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (cancel) {
		/* No answer comes to a cancelled fork. */
		uint8_t hb[SPW_HDRSZ];
		struct iovec v[1 + 4];
		size_t blen = 0;

		for (int i = 0; i < n; i++) {
			v[1 + i] = iov[i];
			blen += iov[i].iov_len;
		}
		spw_hdr_make(hb, blen, 1, SPW_REQ, SPW_HANDSHAKE, kind);
		v[0] = (struct iovec){ hb, SPW_HDRSZ };
		pthread_mutex_lock(&c->sendmtx);
		r = sendall(c, v, 1 + n);
		pthread_mutex_unlock(&c->sendmtx);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return r;
	}
	r = rpc(c, SPW_HANDSHAKE, kind, iov, n, &w, &old);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return r;
	if (w.hdr.cls == SPW_ERROR)
		r = spw_errmap(w.hdr.arg);
	else if (w.blen < SPW_HSRESPSZ)
		r = EPROTO;
	else if ((r = (int)spw_get32(w.body)) != 0)
		r = err_nb2host(r);
	else if (spw_hsext_decode(w.body + SPW_HSRESPSZ, w.blen - SPW_HSRESPSZ, &srvext)) {
		c->features = srvext.features;
		c->srvext = 1;
	}
	free(w.body);
	return r;
}

/* A new connection with a finished GUEST (or FORK) handshake; NULL with errno. */
static struct conn *
connect_new(uint32_t kind, const uint32_t *cookie, int srvext_known)
{
	struct conn *c;
	int s, e;

	if ((s = dial(&g_srv)) == -1)
		return NULL;
	if ((c = conn_new(s)) == NULL) {
		host_close(s);
		errno = ENOMEM;
		return NULL;
	}
	if ((e = handshake(c, kind, cookie, 0, srvext_known)) != 0) {
		conn_close(c);
		errno = e;
		return NULL;
	}
	return c;
}

/*
 * The connection c broke: makes a new one as the retry policy says (NetBSD's
 * backoff).  0 when g_conn is usable again, else ENOTCONN.
 */
static int
reconnect(struct conn *c)
{
	struct timespec start, now;
	unsigned tries = 0;
	int r = ENOTCONN;

	if (g_retry == 0)
		return ENOTCONN;
	if (g_retry == RUMPCLIENT_RETRYCONN_DIE)
		_exit(1);
	pthread_mutex_lock(&g_connmtx);
	if (g_conn != c) {
		/* Another thread has reconnected already. */
		pthread_mutex_unlock(&g_connmtx);
		return 0;
	}
	conn_close(c);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct conn *n;

		if (tries == 1) {
			if (g_retry == RUMPCLIENT_RETRYCONN_ONCE)
				break;
			fprintf(stderr, "rump_sp: connection to kernel lost, trying to reconnect ...\n");
		}
		if (g_retry > 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec >= g_retry) {
				fprintf(stderr, "rump_sp: reconnect failed, %lld second timeout\n",
				    (long long)g_retry);
				break;
			}
		}
		if (tries > 0) {
			struct timespec d = { tries < 10 ? 0 : (tries - 9 < 10 ? tries - 9 : 10),
			    tries < 10 ? 100000000L * tries : 0 };

			nanosleep(&d, NULL);
		}
		tries++;
		if ((n = connect_new(SPW_HS_GUEST, NULL, 0)) != NULL) {
			g_conn = n;
			if (tries > 1)
				fprintf(stderr, "rump_sp: reconnected!\n");
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_connmtx);
	return r;
}

/* --- the interface --------------------------------------------------------------------------- */

EXPORT int
rumpclient_init(void)
{
	const char *url, *execfd;
	struct conn *c;
	pid_t me = getpid();
	int e;

	if (g_initpid == me && g_conn != NULL)
		return 0;
	if (g_conn != NULL) {
		/*
		 * A child of a plain fork(): the parent's socket is the
		 * parent's, and our copy would keep its connection open.
		 */
		host_close(g_conn->fd);
		g_conn = NULL;
	}
	if ((url = getenv("RUMP__PARSEDSERVER")) == NULL &&
	    (url = getenv("RUMP_SERVER")) == NULL) {
		fprintf(stderr, "rumpclient: RUMP_SERVER is not set\n");
		errno = ENOENT;
		return -1;
	}
	if ((e = parse_url(url, &g_srv)) != 0) {
		fprintf(stderr, "rumpclient: cannot use RUMP_SERVER=%s: %s\n", url, strerror(e));
		errno = e;
		return -1;
	}
	if ((execfd = getenv("RUMPCLIENT__EXECFD")) != NULL) {
		/* After rumpclient_exec: the connection is already there, this process its own. */
		int fd = atoi(execfd);

		unsetenv("RUMPCLIENT__EXECFD");
		unsetenv("RUMP__PARSEDSERVER");
		host_fcntl(fd, F_SETFD, FD_CLOEXEC);
		if ((c = conn_new(fd)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		if ((e = handshake(c, SPW_HS_EXEC, NULL, 0, 0)) != 0) {
			conn_close(c);
			errno = e;
			return -1;
		}
	} else if ((c = connect_new(SPW_HS_GUEST, NULL, 0)) == NULL) {
		return -1;
	}
	g_conn = c;
	g_initpid = me;
	return 0;
}

/*
 * A system call: SYSCALLX with the buffers in xiov when the server takes
 * them, else SYSCALL with the arguments alone.  Retried on a new connection
 * as the retry policy says.  Returns 0 or a NetBSD errno.
 */
static int
do_syscall(int num, const void *data, size_t dlen, struct iovec *xiov, int nx, int64_t *retval)
{
	struct iovec iov = { (void *)(uintptr_t)data, dlen };
	struct spw_sysresp sr;
	struct waiter w;
	sigset_t all, old;
	int r;

	if (g_conn == NULL || g_initpid != getpid())
		return RUMP_ENOTCONN;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (;;) {
		struct conn *c = g_conn;

		if (nx > 0 && (c->features & SPW_FEAT_ARGBUF))
			r = rpc(c, SPW_SYSCALLX, (uint32_t)num, xiov, nx, &w, &old);
		else
			r = rpc(c, SPW_SYSCALL, (uint32_t)num, &iov, dlen > 0 ? 1 : 0, &w, &old);
		if (r == ENOTCONN && reconnect(c) == 0)
			continue;	/* sent again to the new kernel process, as NetBSD's */
		break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return err_host2nb(r);
	if (w.hdr.cls == SPW_ERROR)
		r = err_host2nb(spw_errmap(w.hdr.arg));
	else if (spw_sysresp_decode(w.body, w.blen, &sr) != 0)
		r = RUMP_EPROTO;
	else {
		retval[0] = sr.retval[0];
		retval[1] = sr.retval[1];
		r = sr.error;
	}
	free(w.body);
	return r;
}

EXPORT int
rumpclient_syscall(int num, const void *data, size_t dlen, int64_t *retval)
{
	return do_syscall(num, data, dlen, NULL, 0, retval);
}

/*
 * The most buffer bytes one request carries.  The server would take 1 MiB,
 * but a request frame is sent whole under sendmtx, and while it is on its way
 * no copy answer can go out; kept small, it fits the socket's buffer and never
 * waits for a server that holds its reading while its calls wait for answers.
 * Larger data goes as COPYIN answers (a round trip, which costs little next to
 * the bytes).
 */
#define XBUF_MAX	(64u << 10)

int
rumpclient__syscallb(int num, const void *data, size_t dlen, int64_t *retval,
    const struct rumpclient__buf *bufs, int nbufs)
{
	static const uint8_t zeros[8];
	uint8_t fixed[SPW_SYSCALLX_FIXED + SPW_MAXARGSIZE];
	uint8_t bh[SPW_MAXBUFS][SPW_BUFHDRSZ];
	struct iovec xiov[1 + 3 * SPW_MAXBUFS];
	struct conn *c = g_conn;
	size_t total = 0;
	uint32_t kept = 0;
	int nx = 1;

	if (c == NULL || !(c->features & SPW_FEAT_ARGBUF) || dlen > SPW_MAXARGSIZE)
		return do_syscall(num, data, dlen, NULL, 0, retval);
	for (int i = 0; i < nbufs && kept < SPW_MAXBUFS; i++) {
		size_t len = bufs[i].len;

		if (bufs[i].addr == NULL || len == 0)
			continue;
		if (bufs[i].str) {
			ssize_t n = safe_strnlen(bufs[i].addr, len);

			if (n < 0)
				continue;
			len = (size_t)n < len ? (size_t)n + 1 : len;
		} else if (len > XBUF_MAX || !readable(bufs[i].addr, len)) {
			continue;
		}
		if (total + len > XBUF_MAX)
			continue;
		total += len;
		spw_put64(bh[kept], (uint64_t)(uintptr_t)bufs[i].addr);
		spw_put64(bh[kept] + 8, len);
		xiov[nx++] = (struct iovec){ bh[kept], SPW_BUFHDRSZ };
		xiov[nx++] = (struct iovec){ (void *)(uintptr_t)bufs[i].addr, len };
		if (spw_pad8(len) != len)
			xiov[nx++] = (struct iovec){ (void *)zeros, spw_pad8(len) - len };
		kept++;
	}
	if (kept == 0)
		return do_syscall(num, data, dlen, NULL, 0, retval);
	spw_put32(fixed, (uint32_t)dlen);
	spw_put32(fixed + 4, kept);
	memcpy(fixed + SPW_SYSCALLX_FIXED, data, dlen);
	memset(fixed + SPW_SYSCALLX_FIXED + dlen, 0, spw_pad8(dlen) - dlen);
	xiov[0] = (struct iovec){ fixed, SPW_SYSCALLX_FIXED + spw_pad8(dlen) };
	return do_syscall(num, data, dlen, xiov, nx, retval);
}

/* rump_init() of a program linked with this library instead of librump.so: connects. */
EXPORT int
rump_init(void)
{
	return rumpclient_init() == 0 ? 0 : err_host2nb(errno);
}

struct rumpclient_fork {
	uint32_t cookie[SPW_AUTHLEN];
	struct conn *parent;
};

EXPORT struct rumpclient_fork *
rumpclient_prefork(void)
{
	struct rumpclient_fork *rf;
	struct waiter w;
	sigset_t all, old;
	int r;

	if (g_conn == NULL) {
		errno = ENOTCONN;
		return NULL;
	}
	if ((rf = malloc(sizeof *rf)) == NULL)
		return NULL;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (;;) {
		struct conn *c = g_conn;

		r = rpc(c, SPW_PREFORK, 0, NULL, 0, &w, &old);
		if (r == ENOTCONN && reconnect(c) == 0)
			continue;
		break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0) {
		if (w.hdr.cls == SPW_ERROR)
			r = spw_errmap(w.hdr.arg);
		else if (w.blen != SPW_PREFORKRESPSZ)
			r = EPROTO;
		else
			for (int i = 0; i < SPW_AUTHLEN; i++)
				rf->cookie[i] = spw_get32(w.body + 4 * i);
		free(w.body);
	}
	if (r != 0) {
		free(rf);
		errno = r;
		return NULL;
	}
	rf->parent = g_conn;
	return rf;
}

EXPORT int
rumpclient_fork_init(struct rumpclient_fork *rf)
{
	struct conn *c;

	/*
	 * The child: the parent's socket is the parent's (our copy of it goes),
	 * and its locks may have been held by threads that do not exist here.
	 * In a vfork child this memory is the parent's: touch only g_conn.
	 */
	host_close(rf->parent->fd);
	g_conn = NULL;
	if ((c = connect_new(SPW_HS_FORK, rf->cookie, rf->parent->srvext)) == NULL)
		return -1;
	g_conn = c;
	g_initpid = getpid();
	return 0;
}

EXPORT void
rumpclient_fork_vparent(struct rumpclient_fork *rf)
{
	g_conn = rf->parent;
	g_initpid = getpid();
	free(rf);
}

EXPORT void
rumpclient_fork_cancel(struct rumpclient_fork *rf)
{
	int s, e = errno;

	/* The server drops the kernel process it copied for the child that never came. */
	if ((s = dial(&g_srv)) != -1) {
		struct conn *c = conn_new(s);

		if (c != NULL) {
			handshake(c, SPW_HS_FORK, rf->cookie, 1, g_conn != NULL && g_conn->srvext);
			conn_close(c);
		} else {
			host_close(s);
		}
	}
	free(rf);
	errno = e;
}

EXPORT pid_t
rumpclient_fork(void)
{
	return rumpclient__dofork(fork);
}

EXPORT int
rumpclient_exec(const char *path, char *const argv[], char *const envp[])
{
	char fdvar[48], *urlvar, **env;
	size_t n = 0, k = 0;
	int fd, e;

	if (g_conn == NULL) {
		errno = ENOTCONN;
		return -1;
	}
	fd = g_conn->fd;
	for (; envp != NULL && envp[n] != NULL; n++)
		continue;
	snprintf(fdvar, sizeof fdvar, "RUMPCLIENT__EXECFD=%d,-1", fd);
	if ((urlvar = malloc(strlen(g_srv.url) + 24)) == NULL ||
	    (env = malloc((n + 3) * sizeof *env)) == NULL) {
		free(urlvar);
		errno = ENOMEM;
		return -1;
	}
	sprintf(urlvar, "RUMP__PARSEDSERVER=%s", g_srv.url);
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], "RUMPCLIENT__EXECFD=", 19) != 0 &&
		    strncmp(envp[i], "RUMP__PARSEDSERVER=", 19) != 0)
			env[k++] = envp[i];
	env[k++] = fdvar;
	env[k++] = urlvar;
	env[k] = NULL;
	/* The socket survives this exec only. */
	host_fcntl(fd, F_SETFD, 0);
	syscall(SYS_execve, path, argv, env);
	e = errno;
	host_fcntl(fd, F_SETFD, FD_CLOEXEC);
	free(env);
	free(urlvar);
	errno = e;
	return -1;
}

EXPORT int
rumpclient_daemon(int nochdir, int noclose)
{
	struct rumpclient_fork *rf;
	int e;

	if ((rf = rumpclient_prefork()) == NULL)
		return -1;
	switch (fork()) {
	case -1:
		e = errno;
		rumpclient_fork_cancel(rf);
		errno = e;
		return -1;
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1 || (!nochdir && chdir("/") == -1)) {
		e = errno;
		rumpclient_fork_cancel(rf);
		errno = e;
		return -1;
	}
	if (!noclose) {
		int fd = open("/dev/null", O_RDWR);

		if (fd != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	return rumpclient_fork_init(rf);
}

EXPORT void
rumpclient_setconnretry(time_t timeout)
{
	if (timeout < RUMPCLIENT_RETRYCONN_DIE)
		return;
	g_retry = timeout;
}

EXPORT int
rumpclient__closenotify(int *fdp, enum rumpclient_closevariant variant)
{
	struct conn *c = g_conn;
	int fd = *fdp, nfd;

	if (c == NULL)
		return 0;
	switch (variant) {
	case RUMPCLIENT_CLOSE_FCLOSEM:
		for (; fd < c->fd; fd++)
			host_close(fd);
		*fdp = fd == c->fd ? fd + 1 : fd;
		return 0;
	case RUMPCLIENT_CLOSE_CLOSE:
	case RUMPCLIENT_CLOSE_DUP2:
		if (fd != c->fd)
			return 0;
		/* Move the socket; the caller then closes or overwrites fd. */
		pthread_mutex_lock(&c->sendmtx);
		nfd = host_fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (nfd != -1)
			c->fd = nfd;
		pthread_mutex_unlock(&c->sendmtx);
		return nfd == -1 ? -1 : 0;
	}
	errno = EINVAL;
	return -1;
}
