/*
 * fakeserver: a scripted sysproxy server for librumpclient's protocol tests
 * (t_client_proto.c).  It speaks NetBSD's protocol through sp_wire but has no
 * kernel: a handful of "system calls" exercise each thing a server does to a
 * client, so that the client is tested apart from rump_server:
 *
 *	getpid (20)	the connection's process number
 *	write (4)	COPYIN of the buffer, appended to the process's data
 *	read (3)	COPYOUT of the process's data (up to nbyte)
 *	access (33)	COPYINSTR of the path: 0 for "/ok", else ENOENT
 *	__getcwd (296)	COPYOUTSTR of "/fake/cwd"
 *	kill (37)	RAISE of the signal in the client, returns 0
 *	lseek (199)	ANONMMAP of 4096 bytes, COPYOUT of "anon" there, returns the address
 *	poll (209)	sleeps timeout ms, then returns timeout (answers out of order)
 *	reboot (208)	a response to a request number nobody asked, then exits at once
 *	fsync (95)	exits at once without answering (the server dies mid-call)
 *	getuid (24)	with -n: 1 if the connection's GUEST handshake body filled its
 *			malloc exactly (NetBSD's server writes a NUL one past it), else 0
 *
 * -n: as NetBSD's server: no extension block in handshake answers (so no
 * SYSCALLX), and an error answer to a copy is not one NetBSD's server takes
 * (it drops it and waits for the data forever); here the call fails with 45
 * (NetBSD's EOPNOTSUPP) instead, so that a test sees it.
 *
 * PREFORK copies the process (its number and data) under a cookie; a FORK
 * handshake claims it as a new process number, EXEC keeps the process.  Each
 * connection has a reader thread; each system call runs on a thread of its own
 * and the reader routes the client's answers to it by request number.
 *
 * usage: fakeserver [-n] SOCKETPATH (prints "ready" once it listens)
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sp_wire.h"

struct proc {
	int pid;
	char *data;
	size_t dlen;
};

struct fconn {
	int fd;
	pthread_mutex_t mtx;		/* sends, and the answer slot */
	pthread_cond_t cv;
	struct proc p;
	uint64_t wantreq;		/* the request a worker waits on */
	uint8_t *answer;
	size_t alen;
	int answered;
	uint64_t nextreq;
	uint32_t features;		/* granted extension features */
	int hsfit;			/* -n: the GUEST body filled its allocation exactly */
	int errans;			/* -n: the answer was an error frame */
	int gone;			/* the reader ended: no answer will come */
};

struct work {
	struct fconn *c;
	struct spw_hdr h;
	uint64_t a[8];
	uint8_t *body;			/* a SYSCALLX body (sx points into it) */
	struct spw_syscallx sx;
	int hasx;
};

static int g_asks;
static int g_netbsd;		/* -n */

/* The part of [addr, addr+len) a SYSCALLX request carried. */
static const uint8_t *
carried(struct work *w, uint64_t addr, size_t len)
{
	for (uint32_t i = 0; w->hasx && i < w->sx.nbufs; i++)
		if (addr >= w->sx.bufs[i].addr && addr - w->sx.bufs[i].addr + len <= w->sx.bufs[i].len)
			return w->sx.bufs[i].data + (addr - w->sx.bufs[i].addr);
	return NULL;
}

static pthread_mutex_t g_mtx = PTHREAD_MUTEX_INITIALIZER;
static int g_nextpid = 100;
static struct { uint32_t cookie[4]; struct proc p; int used; } g_forks[64];
/* One server-side request at a time per connection keeps the answer slot simple. */
static pthread_mutex_t g_reqmtx = PTHREAD_MUTEX_INITIALIZER;

static int
readall(int fd, void *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = read(fd, (char *)buf + off, n - off);
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static void
sendframe(struct fconn *c, uint64_t reqno, uint16_t cls, uint16_t type, uint32_t arg,
    const void *b1, size_t l1, const void *b2, size_t l2)
{
	uint8_t hb[SPW_HDRSZ];

	spw_hdr_make(hb, l1 + l2, reqno, cls, type, arg);
	pthread_mutex_lock(&c->mtx);
	/* A broken connection shows in the reader. */
	if (send(c->fd, hb, sizeof hb, MSG_NOSIGNAL) >= 0 && l1 > 0 &&
	    send(c->fd, b1, l1, MSG_NOSIGNAL) >= 0 && l2 > 0)
		(void)send(c->fd, b2, l2, MSG_NOSIGNAL);
	pthread_mutex_unlock(&c->mtx);
}

/* A request to the client that is answered: returns the answer (malloc'd) and its length. */
static uint8_t *
ask(struct fconn *c, uint16_t type, const void *body, size_t blen, size_t *alen)
{
	uint8_t *a;
	uint64_t reqno;

	pthread_mutex_lock(&g_reqmtx);
	if (type == SPW_COPYIN || type == SPW_COPYINSTR)
		g_asks++;
	pthread_mutex_lock(&c->mtx);
	reqno = c->nextreq++;
	c->wantreq = reqno;
	c->answered = 0;
	pthread_mutex_unlock(&c->mtx);
	sendframe(c, reqno, SPW_REQ, type, 0, body, blen, NULL, 0);
	pthread_mutex_lock(&c->mtx);
	while (!c->answered && !c->gone)
		pthread_cond_wait(&c->cv, &c->mtx);
	a = c->answer;
	*alen = c->answered ? c->alen : 0;
	c->answer = NULL;
	if (c->errans) {
		/* A NetBSD server would still be waiting here. */
		c->errans = 0;
		*alen = SIZE_MAX;
	}
	pthread_mutex_unlock(&c->mtx);
	pthread_mutex_unlock(&g_reqmtx);
	return a;
}

static void
copydata(uint8_t out[SPW_COPYDATASZ], uint64_t addr, uint64_t len)
{
	struct spw_copydata cd = { .len = len, .addr = addr };

	spw_copydata_encode(out, &cd);
}

static void
reply(struct fconn *c, uint64_t reqno, int error, int64_t rv)
{
	struct spw_sysresp r = { .error = error, .retval = { rv, 0 } };
	uint8_t b[SPW_SYSRESPSZ];

	spw_sysresp_encode(b, &r);
	sendframe(c, reqno, SPW_RESP, SPW_SYSCALL, 0, b, sizeof b, NULL, 0);
}

static void *
worker(void *arg)
{
	struct work *w = arg;
	struct fconn *c = w->c;
	uint8_t cd[SPW_COPYDATASZ], *ans;
	const uint8_t *p;
	size_t alen;
	int64_t rv = 0;
	int error = 0;

	switch (w->h.arg) {
	case 20:
		rv = c->p.pid;
		break;
	case 43:
		pthread_mutex_lock(&g_reqmtx);
		rv = g_asks;
		pthread_mutex_unlock(&g_reqmtx);
		break;
	case 4:
		if ((p = carried(w, w->a[1], w->a[2])) != NULL) {
			ans = malloc(w->a[2] + 1);
			memcpy(ans, p, w->a[2]);
			alen = w->a[2];
		} else {
			copydata(cd, w->a[1], w->a[2]);
			ans = ask(c, SPW_COPYIN, cd, sizeof cd, &alen);
		}
		if (alen == SIZE_MAX) {
			error = 45;
		} else if (ans == NULL || alen != w->a[2]) {
			error = 14;
		} else {
			c->p.data = realloc(c->p.data, c->p.dlen + alen);
			memcpy(c->p.data + c->p.dlen, ans, alen);
			c->p.dlen += alen;
			rv = (int64_t)alen;
		}
		free(ans);
		break;
	case 3: {
		size_t n = w->a[2] < c->p.dlen ? w->a[2] : c->p.dlen;

		copydata(cd, w->a[1], n);
		sendframe(c, 0, SPW_REQ, SPW_COPYOUT, 0, cd, sizeof cd, c->p.data, n);
		rv = (int64_t)n;
		break;
	}
	case 33:
		if ((p = carried(w, w->a[0], 4)) != NULL) {
			ans = malloc(4);
			memcpy(ans, p, 4);
			alen = 4;
		} else {
			copydata(cd, w->a[0], 1024);
			ans = ask(c, SPW_COPYINSTR, cd, sizeof cd, &alen);
		}
		error = ans != NULL && alen == 4 && memcmp(ans, "/ok", 4) == 0 ? 0 : 2;
		free(ans);
		break;
	case 296:
		copydata(cd, w->a[0], 10);
		sendframe(c, 0, SPW_REQ, SPW_COPYOUTSTR, 0, cd, sizeof cd, "/fake/cwd", 10);
		break;
	case 37:
		sendframe(c, 0, SPW_REQ, SPW_RAISE, (uint32_t)w->a[1], NULL, 0, NULL, 0);
		break;
	case 199: {
		uint8_t lb[8];

		spw_put64(lb, 4096);
		ans = ask(c, SPW_ANONMMAP, lb, 8, &alen);
		if (ans == NULL || alen != 8) {
			error = 12;
		} else {
			rv = (int64_t)spw_get64(ans);
			copydata(cd, (uint64_t)rv, 5);
			sendframe(c, 0, SPW_REQ, SPW_COPYOUT, 0, cd, sizeof cd, "anon", 5);
		}
		free(ans);
		break;
	}
	case 209: {
		struct timespec ts = { 0, (long)(w->a[2] % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		rv = (int64_t)w->a[2];
		break;
	}
	case 24:
		rv = c->hsfit;
		break;
	case 208:
		reply(c, 999999, 0, 0);
		_exit(0);
	case 95:
		_exit(0);
	default:
		error = 78;	/* ENOSYS */
	}
	reply(c, w->h.reqno, error, rv);
	free(w->body);
	free(w);
	return NULL;
}

static void
handshake(struct fconn *c, const struct spw_hdr *h, const uint8_t *body, size_t blen)
{
	uint8_t b[4 + SPW_HSEXTSZ] = { 0, 0, 0, 0 };
	struct spw_hsext x = { 0, 0 };
	char comm[64];
	size_t rlen = 4;

	/* The reader read the body into malloc(blen), as NetBSD's server does. */
	if (g_netbsd && h->arg != SPW_HS_FORK)
		c->hsfit = blen > 0 && malloc_usable_size((void *)body) <= blen;
	/* A client that sends the extension block asks for the features in it. */
	if (!g_netbsd && (h->arg == SPW_HS_FORK ? (blen > SPW_HSFORKSZ &&
	    spw_hsext_decode(body + SPW_HSFORKSZ, blen - SPW_HSFORKSZ, &x)) :
	    spw_hscomm_decode(body, blen, comm, sizeof comm, &x))) {
		struct spw_hsext mine = { SPW_HSEXT_VERSION, x.features & SPW_FEAT_ARGBUF };

		c->features = mine.features;
		spw_hsext_encode(b + 4, &mine);
		rlen += SPW_HSEXTSZ;
	}

	if (h->arg == SPW_HS_GUEST) {
		pthread_mutex_lock(&g_mtx);
		c->p.pid = g_nextpid++;
		pthread_mutex_unlock(&g_mtx);
	} else if (h->arg == SPW_HS_FORK) {
		struct spw_hsfork f;
		int i;

		if (spw_hsfork_decode(body, blen, &f) != 0) {
			sendframe(c, h->reqno, SPW_ERROR, SPW_HANDSHAKE, SPW_ERR_MALFORMED_REQUEST, NULL, 0, NULL, 0);
			return;
		}
		pthread_mutex_lock(&g_mtx);
		for (i = 0; i < 64; i++)
			if (g_forks[i].used && memcmp(g_forks[i].cookie, f.auth, sizeof f.auth) == 0)
				break;
		if (i < 64) {
			c->p = g_forks[i].p;
			c->p.pid = g_nextpid++;
			g_forks[i].used = 0;
		}
		pthread_mutex_unlock(&g_mtx);
		if (f.cancel)
			return;
		if (i == 64) {
			sendframe(c, h->reqno, SPW_ERROR, SPW_HANDSHAKE, SPW_ERR_INVALID_PREFORK, NULL, 0, NULL, 0);
			return;
		}
	}
	/* EXEC: the process stays as it is. */
	sendframe(c, h->reqno, SPW_RESP, SPW_HANDSHAKE, 0, b, rlen, NULL, 0);
}

static void
prefork(struct fconn *c, const struct spw_hdr *h)
{
	uint8_t b[16];
	int i;

	pthread_mutex_lock(&g_mtx);
	for (i = 0; i < 64 && g_forks[i].used; i++)
		continue;
	if (i < 64) {
		g_forks[i].used = 1;
		for (int k = 0; k < 4; k++)
			g_forks[i].cookie[k] = (uint32_t)rand();
		g_forks[i].p.data = malloc(c->p.dlen + 1);
		memcpy(g_forks[i].p.data, c->p.data, c->p.dlen);
		g_forks[i].p.dlen = c->p.dlen;
		for (int k = 0; k < 4; k++)
			spw_put32(b + 4 * k, g_forks[i].cookie[k]);
	}
	pthread_mutex_unlock(&g_mtx);
	if (i == 64)
		sendframe(c, h->reqno, SPW_ERROR, SPW_PREFORK, SPW_ERR_NOMEM, NULL, 0, NULL, 0);
	else
		sendframe(c, h->reqno, SPW_RESP, SPW_PREFORK, 0, b, 16, NULL, 0);
}

static void *
reader(void *arg)
{
	struct fconn *c = arg;
	char banner[SPW_MAXBANNER];
	size_t bl = spw_banner_format(banner, "NetBSD", "fake", "amd64");

	if (send(c->fd, banner, bl, MSG_NOSIGNAL) < 0)
		goto out;
	for (;;) {
		uint8_t hb[SPW_HDRSZ], *body = NULL;
		struct spw_hdr h;
		size_t blen;

		if (readall(c->fd, hb, sizeof hb) != 0)
			break;
		spw_hdr_decode(hb, &h);
		if (h.len < SPW_HDRSZ || h.len - SPW_HDRSZ > (1u << 24))
			break;
		blen = (size_t)(h.len - SPW_HDRSZ);
		if (blen > 0 && (body = malloc(blen)) == NULL)
			break;
		if (blen > 0 && readall(c->fd, body, blen) != 0)
			break;
		if (h.cls == SPW_RESP || h.cls == SPW_ERROR) {
			pthread_mutex_lock(&c->mtx);
			if (h.reqno == c->wantreq && !c->answered) {
				/* An error answer (the client could not copy): no data. */
				if (h.cls == SPW_ERROR) {
					free(body);
					body = NULL;
					blen = 0;
					c->errans = g_netbsd;
				}
				c->answer = body;
				c->alen = blen;
				c->answered = 1;
				body = NULL;
				pthread_cond_broadcast(&c->cv);
			}
			pthread_mutex_unlock(&c->mtx);
		} else if (h.cls == SPW_REQ && h.type == SPW_HANDSHAKE) {
			handshake(c, &h, body, blen);
		} else if (h.cls == SPW_REQ && h.type == SPW_PREFORK) {
			prefork(c, &h);
		} else if (h.cls == SPW_REQ && (h.type == SPW_SYSCALL ||
		    (h.type == SPW_SYSCALLX && (c->features & SPW_FEAT_ARGBUF)))) {
			struct work *w = calloc(1, sizeof *w);
			const uint8_t *args = body;
			size_t alen = blen;
			pthread_t t;

			w->c = c;
			w->h = h;
			if (h.type == SPW_SYSCALLX) {
				if (spw_syscallx_decode(body, blen, &w->sx) != 0) {
					free(w);
					free(body);
					break;
				}
				w->hasx = 1;
				w->body = body;
				args = w->sx.args;
				alen = w->sx.argsize;
				body = NULL;
			}
			for (size_t i = 0; i < 8 && 8 * i + 8 <= alen; i++)
				w->a[i] = spw_get64(args + 8 * i);
			pthread_create(&t, NULL, worker, w);
			pthread_detach(t);
		}
		free(body);
	}
out:
	/* Workers may still hold c: the connection is left for the process's end. */
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->mtx);
	c->gone = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mtx);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s;

	if (argc == 3 && strcmp(argv[1], "-n") == 0) {
		g_netbsd = 1;
		argv++;
		argc--;
	}
	if (argc != 2 || strlen(argv[1]) >= sizeof sun.sun_path) {
		fprintf(stderr, "usage: fakeserver [-n] SOCKETPATH\n");
		return 2;
	}
	strcpy(sun.sun_path, argv[1]);
	unlink(argv[1]);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sun, sizeof sun) < 0 || listen(s, 64) < 0) {
		perror("fakeserver");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int fd = accept(s, NULL, NULL);
		struct fconn *c;
		pthread_t t;

		if (fd < 0)
			continue;
		c = calloc(1, sizeof *c);
		c->fd = fd;
		c->nextreq = 1;
		pthread_mutex_init(&c->mtx, NULL);
		pthread_cond_init(&c->cv, NULL);
		pthread_create(&t, NULL, reader, c);
		pthread_detach(t);
	}
}
