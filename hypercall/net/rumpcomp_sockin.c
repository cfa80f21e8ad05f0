/*
 * librumpuser_sockin: the sockin component hypercalls (include/rump/rumpuser_sockin.h) over the
 * host's sockets. NetBSD's libsockin has the same split: a few socket calls with NetBSD's
 * sockaddrs, options and errnos translated, and a poller that tells the kernel which host
 * sockets became ready.
 *
 * Translation, NetBSD -> Linux:
 *  - sockaddrs: NetBSD's start with sa_len (1 byte) and a 1-byte family; Linux's with a 2-byte
 *    family. AF_INET is 2 on both, AF_INET6 24 on NetBSD and 10 on Linux; the bodies
 *    (port, addresses, flow info, scope) are laid out alike. Lengths must be exactly
 *    sizeof(sockaddr_in) (16) or sizeof(sockaddr_in6) (28): anything else is EINVAL, another
 *    family EAFNOSUPPORT.
 *  - levels and options: the table below; the values that differ (SOL_SOCKET, SO_*, IP_TTL,
 *    IPV6_V6ONLY, TCP_KEEPIDLE) are mapped, unknown ones are ENOPROTOOPT.
 *  - errnos: errtab.inc, the same table as librumpuser's.
 *
 * The poller: one thread per context in epoll_wait on the watched sockets and an eventfd that
 * fini writes to stop it. Each socket is armed EPOLLONESHOT by rumpsockin_watch, so one report
 * leads to one upcall, and the kernel re-arms the socket when it wants more. There is no state
 * shared between the poller and the callers but the epoll set, which the host locks itself.
 */

#include <rump/rumpuser_sockin.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* NetBSD's values (sys/socket.h, netinet/in.h, netinet6/in6.h, netinet/tcp.h). */
#define NB_AF_UNSPEC    0
#define NB_AF_INET      2
#define NB_AF_INET6     24
#define NB_SOCK_STREAM  1
#define NB_SOCK_DGRAM   2
#define NB_SOL_SOCKET   0xffff
#define NB_EIO          5
#define NB_EAGAIN       35

struct errpair {
	int host;
	int nb;
};

static const struct errpair errtab[] = {
#define RUMP_ERRNO(name, nbvalue) { name, nbvalue },
#include "errtab.inc"
#undef RUMP_ERRNO
};

/* The host's errno in NetBSD's terms (EIO for one NetBSD lacks, as librumpuser). */
static int
nberr(int host)
{
	if (host == 0)
		return 0;
	for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].host == host)
			return errtab[i].nb;
	return NB_EIO;
}

struct optmap {
	int nblevel, nbname;
	int level, name;
};

/* The options passed through to the host; all take an int. */
static const struct optmap opttab[] = {
	{ NB_SOL_SOCKET, 0x0004, SOL_SOCKET, SO_REUSEADDR },
	{ NB_SOL_SOCKET, 0x0008, SOL_SOCKET, SO_KEEPALIVE },
	{ NB_SOL_SOCKET, 0x0010, SOL_SOCKET, SO_DONTROUTE },
	{ NB_SOL_SOCKET, 0x0020, SOL_SOCKET, SO_BROADCAST },
	{ NB_SOL_SOCKET, 0x0100, SOL_SOCKET, SO_OOBINLINE },
	{ NB_SOL_SOCKET, 0x0200, SOL_SOCKET, SO_REUSEPORT },
	{ IPPROTO_IP, 3, IPPROTO_IP, IP_TOS },
	{ IPPROTO_IP, 4, IPPROTO_IP, IP_TTL },
	{ IPPROTO_IPV6, 4, IPPROTO_IPV6, IPV6_UNICAST_HOPS },
	{ IPPROTO_IPV6, 27, IPPROTO_IPV6, IPV6_V6ONLY },
	{ IPPROTO_TCP, 1, IPPROTO_TCP, TCP_NODELAY },
	{ IPPROTO_TCP, 2, IPPROTO_TCP, TCP_MAXSEG },
	{ IPPROTO_TCP, 3, IPPROTO_TCP, TCP_KEEPIDLE },
	{ IPPROTO_TCP, 5, IPPROTO_TCP, TCP_KEEPINTVL },
	{ IPPROTO_TCP, 6, IPPROTO_TCP, TCP_KEEPCNT },
};

static const struct optmap *
optfind(int nblevel, int nbname)
{
	for (size_t i = 0; i < sizeof(opttab) / sizeof(opttab[0]); i++)
		if (opttab[i].nblevel == nblevel && opttab[i].nbname == nbname)
			return &opttab[i];
	return NULL;
}

/* NetBSD sockaddr -> host; 0 or a NetBSD errno. */
static int
sa_in(const void *nb, size_t nblen, struct sockaddr_storage *ss, socklen_t *lenp)
{
	const unsigned char *b = nb;

	if (nb == NULL || nblen < 2)
		return 22;  /* EINVAL */
	memset(ss, 0, sizeof(*ss));
	switch (b[1]) {
	case NB_AF_INET: {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (nblen != 16)
			return 22;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_port, b + 2, 2);
		memcpy(&sin->sin_addr, b + 4, 4);
		*lenp = sizeof(*sin);
		return 0;
	}
	case NB_AF_INET6: {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (nblen != 28)
			return 22;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_port, b + 2, 2);
		memcpy(&sin6->sin6_flowinfo, b + 4, 4);
		memcpy(&sin6->sin6_addr, b + 8, 16);
		memcpy(&sin6->sin6_scope_id, b + 24, 4);
		*lenp = sizeof(*sin6);
		return 0;
	}
	default:
		return 47;  /* EAFNOSUPPORT */
	}
}

/* Host sockaddr -> NetBSD, truncated to *nblenp bytes; *nblenp becomes the full length. */
static void
sa_out(const struct sockaddr_storage *ss, void *nb, size_t *nblenp)
{
	unsigned char b[28];
	size_t len = 0;

	memset(b, 0, sizeof(b));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		len = 16;
		b[1] = NB_AF_INET;
		memcpy(b + 2, &sin->sin_port, 2);
		memcpy(b + 4, &sin->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		len = 28;
		b[1] = NB_AF_INET6;
		memcpy(b + 2, &sin6->sin6_port, 2);
		memcpy(b + 4, &sin6->sin6_flowinfo, 4);
		memcpy(b + 8, &sin6->sin6_addr, 16);
		memcpy(b + 24, &sin6->sin6_scope_id, 4);
	}
	b[0] = (unsigned char)len;
	if (nb != NULL)
		memcpy(nb, b, len < *nblenp ? len : *nblenp);
	*nblenp = len;
}

struct rumpsockin_ctx {
	struct rumpsockin_hyperup up;
	int ep;          /* the epoll set */
	int stopfd;      /* eventfd: fini wakes the poller with it */
	pthread_t thread;
};

static void *
poller(void *arg)
{
	struct rumpsockin_ctx *c = arg;
	struct epoll_event ev[32];

	for (;;) {
		int n = epoll_wait(c->ep, ev, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == 0)
				return NULL;    /* the stop eventfd */
			int e = 0;
			if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
				e |= RUMPSOCKIN_IN;
			if (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				e |= RUMPSOCKIN_OUT;
			c->up.ready(c->up.arg, ev[i].data.u64, e);
		}
	}
}

EXPORT int
rumpsockin_init(const struct rumpsockin_hyperup *up, void **ctxp)
{
	struct rumpsockin_ctx *c = calloc(1, sizeof(*c));
	struct epoll_event ev;
	int e;

	if (c == NULL)
		return 12;  /* ENOMEM */
	c->up = *up;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->ep < 0 || c->stopfd < 0)
		goto fail;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = 0;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->stopfd, &ev) != 0)
		goto fail;
	if ((e = pthread_create(&c->thread, NULL, poller, c)) != 0) {
		errno = e;
		goto fail;
	}
	*ctxp = c;
	return 0;
fail:
	e = nberr(errno);
	if (c->ep >= 0)
		close(c->ep);
	if (c->stopfd >= 0)
		close(c->stopfd);
	free(c);
	return e;
}

EXPORT void
rumpsockin_fini(void *ctx)
{
	struct rumpsockin_ctx *c = ctx;
	uint64_t one = 1;

	if (c == NULL)
		return;
	while (write(c->stopfd, &one, sizeof(one)) < 0 && errno == EINTR)
		continue;
	pthread_join(c->thread, NULL);
	close(c->ep);
	close(c->stopfd);
	free(c);
}

EXPORT int
rumpsockin_socket(int family, int type, int proto, int *fdp)
{
	int hf, ht, fd;

	switch (family) {
	case NB_AF_INET: hf = AF_INET; break;
	case NB_AF_INET6: hf = AF_INET6; break;
	default: return 47;     /* EAFNOSUPPORT */
	}
	switch (type) {
	case NB_SOCK_STREAM: ht = SOCK_STREAM; break;
	case NB_SOCK_DGRAM: ht = SOCK_DGRAM; break;
	default: return 41;     /* EPROTOTYPE */
	}
	fd = socket(hf, ht | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return nberr(errno);
	if (hf == AF_INET6) {
		int on = 1;
		/* NetBSD's net.inet6.ip6.v6only is 1: an AF_INET6 socket does not take IPv4. */
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	}
	*fdp = fd;
	return 0;
}

EXPORT int
rumpsockin_close(int fd)
{
	/* Linux closes the descriptor even when close reports EINTR: never retry. */
	return close(fd) == 0 || errno == EINTR ? 0 : nberr(errno);
}

EXPORT int
rumpsockin_watch(void *ctx, int fd, uint64_t cookie, int events)
{
	struct rumpsockin_ctx *c = ctx;
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.u64 = cookie;
	if (events == 0)
		ev.events = 0;  /* registered, reports nothing (not even ERR/HUP) until armed */
	else
		ev.events = EPOLLONESHOT | EPOLLRDHUP |
		    ((events & RUMPSOCKIN_IN) ? EPOLLIN : 0) | ((events & RUMPSOCKIN_OUT) ? EPOLLOUT : 0);
	if (epoll_ctl(c->ep, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	if (errno != ENOENT)
		return nberr(errno);
	if (events == 0)
		return 0;
	return epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : nberr(errno);
}

EXPORT int
rumpsockin_unwatch(void *ctx, int fd)
{
	struct rumpsockin_ctx *c = ctx;

	if (epoll_ctl(c->ep, EPOLL_CTL_DEL, fd, NULL) == 0 || errno == ENOENT)
		return 0;
	return nberr(errno);
}

EXPORT int
rumpsockin_bind(int fd, const void *sa, size_t salen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int e = sa_in(sa, salen, &ss, &len);

	if (e != 0)
		return e;
	return bind(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : nberr(errno);
}

EXPORT int
rumpsockin_connect(int fd, const void *sa, size_t salen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int e = sa_in(sa, salen, &ss, &len);

	if (e != 0)
		return e;
	while (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		if (errno == EINTR)
			continue;   /* non-blocking: EINTR cannot leave it half-started */
		return nberr(errno);
	}
	return 0;
}

EXPORT int
rumpsockin_disconnect(int fd)
{
	struct sockaddr sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNSPEC;
	return connect(fd, &sa, sizeof(sa)) == 0 ? 0 : nberr(errno);
}

EXPORT int
rumpsockin_listen(int fd, int backlog)
{
	return listen(fd, backlog) == 0 ? 0 : nberr(errno);
}

EXPORT int
rumpsockin_accept(int fd, int *newfdp, void *sa, size_t *salenp)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int nfd;

	memset(&ss, 0, sizeof(ss));
	do
		nfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (nfd < 0 && errno == EINTR);
	if (nfd < 0)
		return errno == EWOULDBLOCK ? NB_EAGAIN : nberr(errno);
	*newfdp = nfd;
	if (salenp != NULL)
		sa_out(&ss, sa, salenp);
	return 0;
}

EXPORT int
rumpsockin_send(int fd, const void *buf, size_t len, const void *sa, size_t salen, size_t *sentp)
{
	struct sockaddr_storage ss;
	socklen_t hlen = 0;
	ssize_t n;

	if (sa != NULL) {
		int e = sa_in(sa, salen, &ss, &hlen);
		if (e != 0)
			return e;
	}
	do
		n = sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
		    sa != NULL ? (struct sockaddr *)&ss : NULL, hlen);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? NB_EAGAIN : nberr(errno);
	*sentp = (size_t)n;
	return 0;
}

EXPORT int
rumpsockin_recv(int fd, void *buf, size_t len, void *sa, size_t *salenp, size_t *recvdp)
{
	struct sockaddr_storage ss;
	socklen_t hlen = sizeof(ss);
	ssize_t n;

	memset(&ss, 0, sizeof(ss));
	do
		n = recvfrom(fd, buf, len, MSG_DONTWAIT, sa != NULL ? (struct sockaddr *)&ss : NULL,
		    sa != NULL ? &hlen : NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? NB_EAGAIN : nberr(errno);
	*recvdp = (size_t)n;
	if (sa != NULL && salenp != NULL)
		sa_out(&ss, sa, salenp);
	return 0;
}

EXPORT int
rumpsockin_nextlen(int fd, size_t *lenp)
{
	ssize_t n;
	char c;

	/* MSG_TRUNC with MSG_PEEK: the datagram's real length, nothing taken. */
	do
		n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? NB_EAGAIN : nberr(errno);
	*lenp = (size_t)n;
	return 0;
}

EXPORT int
rumpsockin_getname(int fd, int peer, void *sa, size_t *salenp)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int r;

	memset(&ss, 0, sizeof(ss));
	r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
	if (r != 0)
		return nberr(errno);
	sa_out(&ss, sa, salenp);
	return 0;
}

EXPORT int
rumpsockin_setopt(int fd, int level, int name, const void *val, size_t len)
{
	const struct optmap *o = optfind(level, name);

	if (o == NULL)
		return 42;  /* ENOPROTOOPT */
	if (len != sizeof(int))
		return 22;
	return setsockopt(fd, o->level, o->name, val, sizeof(int)) == 0 ? 0 : nberr(errno);
}

EXPORT int
rumpsockin_getopt(int fd, int level, int name, void *val, size_t *lenp)
{
	const struct optmap *o = optfind(level, name);
	int v = 0;
	socklen_t len = sizeof(v);

	if (o == NULL)
		return 42;
	if (*lenp < sizeof(int))
		return 22;
	if (getsockopt(fd, o->level, o->name, &v, &len) != 0)
		return nberr(errno);
	/* Options that are flags read back as the NetBSD bit, as NetBSD's sogetopt does. */
	if (o->nblevel == NB_SOL_SOCKET && v != 0)
		v = o->nbname;
	memcpy(val, &v, sizeof(v));
	*lenp = sizeof(v);
	return 0;
}

EXPORT int
rumpsockin_shutdown(int fd, int how)
{
	return shutdown(fd, how) == 0 ? 0 : nberr(errno);
}

EXPORT int
rumpsockin_soerror(int fd, int *errorp)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len) != 0)
		return nberr(errno);
	*errorp = nberr(v);
	return 0;
}
