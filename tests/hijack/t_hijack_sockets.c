/*
 * t_hijack_sockets: an ordinary program (no rump headers) checking librumphijack's socket calls one
 * by one (epoll over kernel descriptors among them), run under the hijack against a kernel whose AF_INET sockets are the host's (sockin,
 * RUMP_SOCKIN=1): rump_server's (net.sh) or one in this process (localclient.c), and, with
 * "all", RUMPHIJACK=path=/rump,socket=all (AF_LOCAL in the kernel too).
 *
 *   t_hijack_sockets all       every socket call, the translations and the errors
 *   t_hijack_sockets kernel    the same but IPv6, for the kernel's own TCP/IP on lo0 (no IPv6
 *                              above the wire formats yet)
 *   t_hijack_sockets nolocal   the default RUMPHIJACK: AF_INET in the kernel, AF_LOCAL the host's
 *
 * A kernel descriptor is known by its number: at or above fdoff (128), where the host's would be
 * the lowest free one. Waits are for real conditions (poll, blocking calls), never for time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"

/* glibc's fortified entry points, which programs built with _FORTIFY_SOURCE call. */
ssize_t __recv_chk(int, void *, size_t, size_t, int);
ssize_t __read_chk(int, void *, size_t, size_t);
int __poll_chk(struct pollfd *, nfds_t, int, size_t);

#define KFD(fd) ((fd) >= 128)
#define OK(call) CHECK((call) == 0, "%s: expected 0, got errno %d (%s)", #call, errno, strerror(errno))
#define FAILS(call, err) do {							\
	errno = 0;								\
	long rv_ = (long)(call);						\
	int e_ = errno;								\
	CHECK(rv_ == -1 && e_ == (err), "%s: expected -1 with %s, got %ld with errno %d (%s)",	\
	    #call, #err, rv_, e_, strerror(e_));				\
} while (0)

static struct sockaddr_in
lo4(uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A kernel TCP listener on 127.0.0.1 (any port); its address in *a. */
static int
listener(struct sockaddr_in *a)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	socklen_t len = sizeof *a;

	CHECK(KFD(s), "socket(AF_INET): expected a kernel descriptor (>= 128), got %d (errno %d)", s, errno);
	OK(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
	*a = lo4(0);
	OK(bind(s, (struct sockaddr *)a, sizeof *a));
	OK(listen(s, 4));
	OK(getsockname(s, (struct sockaddr *)a, &len));
	CHECK(len == sizeof *a && a->sin_family == AF_INET && a->sin_port != 0 &&
	    a->sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	    "getsockname: expected 127.0.0.1:port, 16 bytes, got family %d port %d len %u",
	    a->sin_family, ntohs(a->sin_port), len);
	return s;
}

static void
test_tcp(void)
{
	struct sockaddr_in la, pa;
	socklen_t len;
	int l = listener(&la), c, a, v;
	char buf[64];

	/* Blocking connect; accept4 with both flags; the names each side sees. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	CHECK(KFD(c), "socket(SOCK_CLOEXEC): expected a kernel descriptor, got %d", c);
	CHECK(fcntl(c, F_GETFD) == FD_CLOEXEC, "SOCK_CLOEXEC: expected FD_CLOEXEC, got %d", fcntl(c, F_GETFD));
	OK(connect(c, (struct sockaddr *)&la, sizeof la));
	len = sizeof pa;
	memset(&pa, 0, sizeof pa);
	a = accept4(l, (struct sockaddr *)&pa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(KFD(a), "accept4: expected a kernel descriptor, got %d (errno %d)", a, errno);
	CHECK(len == sizeof pa && pa.sin_family == AF_INET && pa.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	    "accept4's address: expected 127.0.0.1, got family %d len %u", pa.sin_family, len);
	CHECK((fcntl(a, F_GETFL) & O_NONBLOCK) != 0, "accept4(SOCK_NONBLOCK): O_NONBLOCK not set");
	struct sockaddr_in cn;
	len = sizeof cn;
	OK(getsockname(c, (struct sockaddr *)&cn, &len));
	CHECK(cn.sin_port == pa.sin_port, "the client's port: getsockname %d, accept %d", ntohs(cn.sin_port), ntohs(pa.sin_port));
	len = sizeof pa;
	OK(getpeername(c, (struct sockaddr *)&pa, &len));
	CHECK(pa.sin_port == la.sin_port, "getpeername: expected port %d, got %d", ntohs(la.sin_port), ntohs(pa.sin_port));
	/* A short buffer: truncated, the full length reported. */
	len = 4;
	memset(&pa, 0, sizeof pa);
	OK(getpeername(c, (struct sockaddr *)&pa, &len));
	CHECK(len == sizeof pa && pa.sin_port == la.sin_port && pa.sin_addr.s_addr == 0,
	    "getpeername into 4 bytes: expected len 16 and only family and port, got len %u", len);

	/* Non-blocking: nothing yet is EAGAIN; FIONREAD counts what came. */
	FAILS(recv(a, buf, sizeof buf, 0), EAGAIN);
	CHECK(send(c, "hello", 5, MSG_NOSIGNAL) == 5, "send: expected 5");
	struct pollfd p = { .fd = a, .events = POLLIN };
	CHECK(poll(&p, 1, -1) == 1 && (p.revents & POLLIN), "poll for the data: revents %#x", p.revents);
	v = -1;
	OK(ioctl(a, FIONREAD, &v));
	CHECK(v == 5, "FIONREAD: expected 5, got %d", v);
	CHECK(recv(a, buf, sizeof buf, MSG_PEEK) == 5, "recv(MSG_PEEK): expected 5");
	CHECK(__recv_chk(a, buf, sizeof buf, sizeof buf, MSG_PEEK) == 5, "__recv_chk(MSG_PEEK): expected 5");
	CHECK(__poll_chk(&p, 1, -1, sizeof p) == 1 && (p.revents & POLLIN), "__poll_chk: revents %#x", p.revents);
	CHECK(__read_chk(a, buf, sizeof buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0,
	    "__read_chk after the peek: expected hello");

	/* FIONBIO and fcntl turn blocking mode off and on. */
	v = 0;
	OK(ioctl(a, FIONBIO, &v));
	CHECK((fcntl(a, F_GETFL) & O_NONBLOCK) == 0, "FIONBIO 0: O_NONBLOCK still set");
	OK(fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK));
	FAILS(recv(c, buf, sizeof buf, 0), EAGAIN);
	FAILS(recv(c, buf, sizeof buf, MSG_ERRQUEUE), EOPNOTSUPP);	/* a Linux flag NetBSD lacks */
	OK(fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK));

	/* Options: translated names and values, unknown ones ENOPROTOOPT. */
	socklen_t ol = sizeof v;
	v = -1;
	OK(getsockopt(l, SOL_SOCKET, SO_REUSEADDR, &v, &ol));
	CHECK(v == 1 && ol == sizeof v, "SO_REUSEADDR: expected 1 (Linux's boolean), got %d", v);
	OK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &ol));
	CHECK(v == 1, "SO_ACCEPTCONN on the listener: expected 1, got %d", v);
	OK(getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &ol));
	CHECK(v == SOCK_STREAM, "SO_TYPE: expected SOCK_STREAM, got %d", v);
	v = 1;
	OK(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v));
	v = -1;
	OK(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &ol));
	CHECK(v != 0, "TCP_NODELAY: expected set, got %d", v);
	v = 1;
	OK(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v));
	v = 30;
	OK(setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));	/* 4 on Linux, 3 on NetBSD */
	v = 65536;
	OK(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
	struct linger lg = { 1, 5 };
	OK(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	memset(&lg, 0, sizeof lg);
	ol = sizeof lg;
	OK(getsockopt(c, SOL_SOCKET, SO_LINGER, &lg, &ol));
	CHECK(lg.l_onoff != 0 && lg.l_linger == 5, "SO_LINGER: expected on, 5, got %d, %d", lg.l_onoff, lg.l_linger);
	struct timeval tv = { 7, 250000 };
	OK(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	memset(&tv, 0, sizeof tv);
	ol = sizeof tv;
	OK(getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, &ol));
	CHECK(tv.tv_sec == 7 && tv.tv_usec == 250000, "SO_RCVTIMEO: expected 7.25 s, got %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
	ol = sizeof v;
	v = 1;
	FAILS(setsockopt(c, IPPROTO_TCP, TCP_CORK, &v, sizeof v), ENOPROTOOPT);	/* Linux's 3: NetBSD's KEEPIDLE */
	FAILS(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &v, &ol), ENOPROTOOPT);
	FAILS(setsockopt(c, IPPROTO_IP, IP_RECVERR, &v, sizeof v), ENOPROTOOPT);

	/* shutdown: the peer reads end of file; then close. */
	OK(shutdown(c, SHUT_WR));
	OK(fcntl(a, F_SETFL, 0));
	CHECK(recv(a, buf, sizeof buf, 0) == 0, "recv after the peer's SHUT_WR: expected 0 (end of file)");
	OK(close(a));
	OK(close(c));

	/* sendmsg/recvmsg on a stream, with two iovecs. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	OK(connect(c, (struct sockaddr *)&la, sizeof la));
	a = accept(l, NULL, NULL);
	CHECK(KFD(a), "accept: expected a kernel descriptor, got %d", a);
	CHECK((fcntl(a, F_GETFL) & O_NONBLOCK) == 0, "accept: the new socket must not be non-blocking");
	struct iovec iov[2] = { { "ab", 2 }, { "cdef", 4 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	CHECK(sendmsg(c, &m, 0) == 6, "sendmsg: expected 6");
	char r1[3], r2[8];
	struct iovec riov[2] = { { r1, 3 }, { r2, 3 } };
	struct msghdr rm = { .msg_iov = riov, .msg_iovlen = 2 };
	CHECK(recvmsg(a, &rm, MSG_WAITALL) == 6 && memcmp(r1, "abc", 3) == 0 && memcmp(r2, "def", 3) == 0,
	    "recvmsg: expected abc|def");
	OK(close(a));
	OK(close(c));

	/* Connection refused, blocking and non-blocking (SO_ERROR's NetBSD errno translated). */
	struct sockaddr_in dead = la;
	OK(close(l));
	c = socket(AF_INET, SOCK_STREAM, 0);
	FAILS(connect(c, (struct sockaddr *)&dead, sizeof dead), ECONNREFUSED);
	OK(close(c));
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	errno = 0;
	int rv = connect(c, (struct sockaddr *)&dead, sizeof dead);
	if (rv == -1 && errno == EINPROGRESS) {
		p.fd = c;
		p.events = POLLOUT;
		CHECK(poll(&p, 1, -1) == 1, "poll for the non-blocking connect: revents %#x", p.revents);
		ol = sizeof v;
		OK(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &ol));
		CHECK(v == ECONNREFUSED, "SO_ERROR: expected ECONNREFUSED (%d), got %d", ECONNREFUSED, v);
	} else
		CHECK(rv == -1 && errno == ECONNREFUSED, "non-blocking connect: expected EINPROGRESS or ECONNREFUSED, got %d errno %d", rv, errno);
	OK(close(c));

	/* Bad arguments. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in shortsa = lo4(1);
	FAILS(connect(c, (struct sockaddr *)&shortsa, sizeof shortsa - 2), EINVAL);
	struct sockaddr nl = { .sa_family = AF_NETLINK };
	FAILS(bind(c, &nl, sizeof nl), EAFNOSUPPORT);
	FAILS(socket(AF_INET, SOCK_STREAM | 0x400000, 0), EINVAL);
	FAILS(accept4(c, NULL, NULL, 0x1), EINVAL);
	int dead_fd = c;
	OK(close(c));
	FAILS(connect(dead_fd, (struct sockaddr *)&la, sizeof la), EBADF);
	FAILS(send(dead_fd, "x", 1, 0), EBADF);
}

static void
test_inet6(void)
{
	int l = socket(AF_INET6, SOCK_STREAM, 0), c, a, v = 1;
	struct sockaddr_in6 la, pa;
	socklen_t len = sizeof la;
	char b;

	CHECK(KFD(l), "socket(AF_INET6): expected a kernel descriptor, got %d (errno %d)", l, errno);
	OK(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v));	/* 26 on Linux, 27 on NetBSD */
	v = -1;
	socklen_t ol = sizeof v;
	OK(getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &ol));
	CHECK(v == 1, "IPV6_V6ONLY: expected 1, got %d", v);
	memset(&la, 0, sizeof la);
	la.sin6_family = AF_INET6;
	la.sin6_addr = in6addr_loopback;
	OK(bind(l, (struct sockaddr *)&la, sizeof la));
	OK(listen(l, 1));
	OK(getsockname(l, (struct sockaddr *)&la, &len));
	CHECK(len == sizeof la && la.sin6_family == AF_INET6 && la.sin6_port != 0 &&
	    memcmp(&la.sin6_addr, &in6addr_loopback, 16) == 0,
	    "getsockname(AF_INET6): expected [::1]:port in 28 bytes, got family %d len %u", la.sin6_family, len);
	c = socket(AF_INET6, SOCK_STREAM, 0);
	OK(connect(c, (struct sockaddr *)&la, sizeof la));
	len = sizeof pa;
	a = accept(l, (struct sockaddr *)&pa, &len);
	CHECK(KFD(a) && len == sizeof pa && pa.sin6_family == AF_INET6 && memcmp(&pa.sin6_addr, &in6addr_loopback, 16) == 0,
	    "accept(AF_INET6): expected a kernel descriptor and [::1], got %d family %d len %u", a, pa.sin6_family, len);
	CHECK(write(c, "6", 1) == 1 && read(a, &b, 1) == 1 && b == '6', "a byte over IPv6");
	close(a);
	close(c);
	close(l);
}

static void
test_udp(void)
{
	int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
	struct sockaddr_in a1 = lo4(0), a2 = lo4(0), from;
	socklen_t len;
	char buf[32];

	CHECK(KFD(u1) && KFD(u2), "socket(SOCK_DGRAM): expected kernel descriptors, got %d %d", u1, u2);
	OK(bind(u1, (struct sockaddr *)&a1, sizeof a1));
	OK(bind(u2, (struct sockaddr *)&a2, sizeof a2));
	len = sizeof a1;
	OK(getsockname(u1, (struct sockaddr *)&a1, &len));
	len = sizeof a2;
	OK(getsockname(u2, (struct sockaddr *)&a2, &len));
	CHECK(sendto(u1, "ping", 4, 0, (struct sockaddr *)&a2, sizeof a2) == 4, "sendto: expected 4");
	len = sizeof from;
	memset(&from, 0, sizeof from);
	CHECK(recvfrom(u2, buf, sizeof buf, 0, (struct sockaddr *)&from, &len) == 4 && memcmp(buf, "ping", 4) == 0,
	    "recvfrom: expected ping");
	CHECK(len == sizeof from && from.sin_family == AF_INET && from.sin_port == a1.sin_port,
	    "recvfrom's address: expected AF_INET port %d, got family %d port %d len %u",
	    ntohs(a1.sin_port), from.sin_family, ntohs(from.sin_port), len);

	/* sendmsg with a name, recvmsg with one; a datagram too long for the buffer is MSG_TRUNC. */
	struct iovec iov = { "pong-long", 9 };
	struct msghdr m = { .msg_name = &a1, .msg_namelen = sizeof a1, .msg_iov = &iov, .msg_iovlen = 1 };
	CHECK(sendmsg(u2, &m, 0) == 9, "sendmsg with a name: expected 9");
	struct iovec riov = { buf, 4 };
	struct sockaddr_in rfrom;
	struct msghdr rm = { .msg_name = &rfrom, .msg_namelen = sizeof rfrom, .msg_iov = &riov, .msg_iovlen = 1 };
	CHECK(recvmsg(u1, &rm, 0) == 4 && memcmp(buf, "pong", 4) == 0, "recvmsg: expected pong");
	CHECK(rm.msg_flags & MSG_TRUNC, "recvmsg of 9 bytes into 4: expected MSG_TRUNC, got %#x", rm.msg_flags);
	CHECK(rm.msg_namelen == sizeof rfrom && rfrom.sin_port == a2.sin_port,
	    "recvmsg's name: expected port %d, got %d (len %u)", ntohs(a2.sin_port), ntohs(rfrom.sin_port), rm.msg_namelen);

	/* connect, then send and recv without names; select and pselect see the datagram. */
	OK(connect(u1, (struct sockaddr *)&a2, sizeof a2));
	CHECK(send(u1, "x", 1, 0) == 1, "send on a connected datagram socket");
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(u2, &rd);
	CHECK(select(u2 + 1, &rd, NULL, NULL, NULL) == 1 && FD_ISSET(u2, &rd), "select: expected u2 readable");
	FD_ZERO(&rd);
	FD_SET(u2, &rd);
	struct timespec ts = { 0, 0 };
	sigset_t mask;
	sigemptyset(&mask);
	CHECK(pselect(u2 + 1, &rd, NULL, NULL, &ts, &mask) == 1, "pselect: expected u2 readable");
	struct pollfd p = { .fd = u2, .events = POLLIN };
	CHECK(ppoll(&p, 1, NULL, &mask) == 1 && (p.revents & POLLIN), "ppoll: revents %#x", p.revents);
	CHECK(recv(u2, buf, sizeof buf, 0) == 1, "recv: expected 1 byte");
	p.revents = 0;
	CHECK(ppoll(&p, 1, &ts, NULL) == 0, "ppoll with nothing to read and a zero timeout: expected 0");
	OK(close(u1));
	OK(close(u2));
}

/* The writer of the mixed wait: the kernel side becomes ready whenever this thread gets to run. */
static void *
late_send(void *arg)
{
	int fd = *(int *)arg;
	if (send(fd, "k", 1, 0) != 1)
		abort();
	return NULL;
}

static void
test_mixed_poll(void)
{
	struct sockaddr_in la;
	int l = listener(&la), c = socket(AF_INET, SOCK_STREAM, 0), a, hp[2];
	char b;

	OK(connect(c, (struct sockaddr *)&la, sizeof la));
	a = accept(l, NULL, NULL);
	OK(pipe(hp));

	/* Host side ready: poll returns it, the kernel socket not ready. */
	CHECK(write(hp[1], "h", 1) == 1, "write to the host pipe");
	struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = hp[0], .events = POLLIN } };
	CHECK(poll(p, 2, -1) == 1 && p[0].revents == 0 && (p[1].revents & POLLIN),
	    "mixed poll, host ready: got revents %#x %#x", p[0].revents, p[1].revents);
	CHECK(read(hp[0], &b, 1) == 1, "read the host pipe");

	/* Nothing ready, a zero timeout: 0. */
	CHECK(poll(p, 2, 0) == 0, "mixed poll with nothing ready: expected 0");

	/* Blocked on both; the kernel side's data ends the wait (whenever the thread sends). */
	pthread_t t;
	pthread_create(&t, NULL, late_send, &c);
	p[0].revents = p[1].revents = 0;
	CHECK(poll(p, 2, -1) == 1 && (p[0].revents & POLLIN) && p[1].revents == 0,
	    "mixed poll, kernel ready: got revents %#x %#x", p[0].revents, p[1].revents);
	pthread_join(t, NULL);
	CHECK(recv(a, &b, 1, 0) == 1 && b == 'k', "the kernel side's byte");

	/* select over both. */
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(a, &rd);
	FD_SET(hp[0], &rd);
	CHECK(write(hp[1], "h", 1) == 1, "write to the host pipe");
	CHECK(select(a + 1, &rd, NULL, NULL, NULL) == 1 && FD_ISSET(hp[0], &rd) && !FD_ISSET(a, &rd),
	    "mixed select, host ready");
	close(hp[0]);
	close(hp[1]);
	close(a);
	close(c);
	close(l);
}

/* epoll over kernel and host descriptors together (the library's list and a mixed poll). */
static void
test_epoll(void)
{
	struct sockaddr_in la;
	int l = listener(&la), c = socket(AF_INET, SOCK_STREAM, 0), a, hp[2], n;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev, out[4];
	char b;

	CHECK(ep >= 0 && !KFD(ep), "epoll_create1: expected a host descriptor, got %d", ep);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev));
	FAILS(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), EEXIST);
	CHECK(epoll_wait(ep, out, 4, 0) == 0, "epoll_wait with nothing ready: expected 0");
	/* The listener is readable once a connection waits. */
	OK(connect(c, (struct sockaddr *)&la, sizeof la));
	n = epoll_wait(ep, out, 4, -1);
	CHECK(n == 1 && out[0].data.u32 == 1 && (out[0].events & EPOLLIN),
	    "the listener: expected 1 event EPOLLIN data 1, got %d (events %#x data %u)", n, out[0].events, out[0].data.u32);
	a = accept(l, NULL, NULL);
	CHECK(KFD(a), "accept: expected a kernel descriptor, got %d", a);
	OK(epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL));
	FAILS(epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL), ENOENT);

	/* A host pipe and a kernel socket in one instance: the host's event alone. */
	OK(pipe(hp));
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 2 };
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, hp[0], &ev));
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 3 };
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev));
	CHECK(write(hp[1], "h", 1) == 1, "write to the host pipe");
	n = epoll_wait(ep, out, 4, -1);
	CHECK(n == 1 && out[0].data.u32 == 2, "host pipe ready: expected 1 event with data 2, got %d (data %u)", n, out[0].data.u32);
	CHECK(read(hp[0], &b, 1) == 1, "read the host pipe");

	/* Blocked on both; the kernel side's data ends the wait (whenever the thread sends). */
	pthread_t t;
	pthread_create(&t, NULL, late_send, &c);
	n = epoll_wait(ep, out, 4, -1);
	CHECK(n == 1 && out[0].data.u32 == 3 && (out[0].events & EPOLLIN),
	    "kernel socket ready: expected 1 event EPOLLIN data 3, got %d (events %#x data %u)", n, out[0].events, out[0].data.u32);
	pthread_join(t, NULL);
	CHECK(epoll_wait(ep, out, 4, 0) == 1, "level-triggered: reported again while unread");
	CHECK(recv(a, &b, 1, 0) == 1 && b == 'k', "the kernel side's byte");
	CHECK(epoll_wait(ep, out, 4, 0) == 0, "nothing left after the read");

	/* EPOLLONESHOT: one report, then disarmed until EPOLL_CTL_MOD. */
	ev = (struct epoll_event){ .events = EPOLLOUT | EPOLLONESHOT, .data.u32 = 4 };
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, a, &ev));
	n = epoll_wait(ep, out, 4, 0);
	CHECK(n == 1 && out[0].data.u32 == 4 && (out[0].events & EPOLLOUT), "EPOLLOUT: expected 1 event data 4, got %d (data %u)", n, out[0].data.u32);
	CHECK(epoll_wait(ep, out, 4, 0) == 0, "EPOLLONESHOT: disarmed after one report");
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, a, &ev));
	CHECK(epoll_wait(ep, out, 4, 0) == 1, "EPOLL_CTL_MOD re-arms it");

	/* The peer's close: readable (EOF). A closed kernel descriptor leaves the instance. */
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 5 };
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, a, &ev));
	OK(close(c));
	n = epoll_wait(ep, out, 4, -1);
	CHECK(n == 1 && out[0].data.u32 == 5 && (out[0].events & EPOLLIN), "the peer closed: expected EPOLLIN, got %d (events %#x)", n, out[0].events);
	OK(close(a));
	CHECK(epoll_wait(ep, out, 4, 0) == 0, "a closed descriptor is watched no more");

	/* Errors: a kernel descriptor is no epoll instance, nor is a pipe. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	FAILS(epoll_ctl(c, EPOLL_CTL_ADD, hp[0], &ev), EINVAL);
	FAILS(epoll_ctl(hp[0], EPOLL_CTL_ADD, c, &ev), EINVAL);
	FAILS(epoll_ctl(ep, EPOLL_CTL_ADD, c, NULL), EFAULT);
	close(c);
	close(hp[0]);
	close(hp[1]);
	close(ep);
	close(l);
}

static void
test_local_all(void)
{
	int sv[2], e2[2];
	char b = 0;

	/* socket=all: AF_LOCAL in the kernel; a kernel descriptor passes through SCM_RIGHTS. */
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK(KFD(sv[0]) && KFD(sv[1]), "socketpair(AF_UNIX) with socket=all: expected kernel descriptors, got %d %d", sv[0], sv[1]);
	OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, e2));
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov = { "F", 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b };
	cm.h.cmsg_len = CMSG_LEN(sizeof(int));
	cm.h.cmsg_level = SOL_SOCKET;
	cm.h.cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(&cm.h), &e2[1], sizeof(int));
	CHECK(sendmsg(sv[0], &m, 0) == 1, "sendmsg with SCM_RIGHTS of a kernel descriptor (errno %d)", errno);
	memset(&cm, 0, sizeof cm);
	struct iovec riov = { &b, 1 };
	struct msghdr rm = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b };
	CHECK(recvmsg(sv[1], &rm, MSG_CMSG_CLOEXEC) == 1 && b == 'F', "recvmsg with SCM_RIGHTS (errno %d)", errno);
	struct cmsghdr *c = CMSG_FIRSTHDR(&rm);
	int got = -1;
	CHECK(c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)),
	    "the received control message: expected SOL_SOCKET/SCM_RIGHTS with one descriptor");
	if (c != NULL)
		memcpy(&got, CMSG_DATA(c), sizeof got);
	CHECK(KFD(got) && got != e2[1], "the received descriptor: expected a new kernel descriptor, got %d", got);
	CHECK(fcntl(got, F_GETFD) == FD_CLOEXEC, "MSG_CMSG_CLOEXEC: expected FD_CLOEXEC on the received descriptor");
	/* It is the same socket: what goes into e2[0] comes out of it. */
	CHECK(send(e2[0], "z", 1, 0) == 1 && recv(got, &b, 1, 0) == 1 && b == 'z', "the passed socket carries data");
	/* A host descriptor cannot go through the kernel. */
	int hp[2];
	OK(pipe(hp));
	memset(&cm, 0, sizeof cm);
	cm.h.cmsg_len = CMSG_LEN(sizeof(int));
	cm.h.cmsg_level = SOL_SOCKET;
	cm.h.cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(&cm.h), &hp[0], sizeof(int));
	m.msg_controllen = sizeof cm.b;
	FAILS(sendmsg(sv[0], &m, 0), EBADF);
	close(hp[0]);
	close(hp[1]);
	close(got);
	close(e2[0]);
	close(e2[1]);

	/* Bound AF_LOCAL names are the kernel's paths. */
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX }, un2;
	strcpy(un.sun_path, "/lsock");
	OK(bind(ls, (struct sockaddr *)&un, sizeof un));
	OK(access("/rump/lsock", F_OK));	/* the name is in the kernel's namespace */
	socklen_t len = sizeof un2;
	OK(getsockname(ls, (struct sockaddr *)&un2, &len));
	CHECK(len == offsetof(struct sockaddr_un, sun_path) + 7 && strcmp(un2.sun_path, "/lsock") == 0,
	    "getsockname(AF_UNIX): expected /lsock (len 9), got %s (len %u)", un2.sun_path, len);
	un.sun_path[0] = '\0';	/* Linux's abstract names do not exist in NetBSD */
	FAILS(bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&un, sizeof un), EINVAL);
	close(ls);

	/* Families the kernel has no number for. */
	FAILS(socket(AF_NETLINK, SOCK_RAW, 0), EAFNOSUPPORT);
	FAILS(socket(AF_PACKET, SOCK_RAW, 0), EAFNOSUPPORT);
	close(sv[0]);
	close(sv[1]);
}

static void
test_nolocal(void)
{
	int sv[2], s = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(KFD(s), "default RUMPHIJACK: AF_INET in the kernel, got descriptor %d", s);
	close(s);
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK(!KFD(sv[0]) && !KFD(sv[1]), "default RUMPHIJACK (nolocal): AF_UNIX must be the host's, got %d %d", sv[0], sv[1]);
	close(sv[0]);
	close(sv[1]);
	FAILS(socket(AF_NETLINK, SOCK_RAW, 0), EAFNOSUPPORT);	/* "all" takes it to the kernel, which lacks it */
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "all";

	signal(SIGPIPE, SIG_IGN);
	/* Sockets that are not the kernel's would make the checks below wait forever (blocking host
	 * sockets where the kernel's are non-blocking): stop at once. */
	int probe = socket(AF_INET, SOCK_DGRAM, 0);
	if (!KFD(probe)) {
		fprintf(stderr, "FAIL: socket(AF_INET) under the hijack: expected a kernel descriptor (>= 128), got %d\n", probe);
		return 1;
	}
	close(probe);
	if (strcmp(mode, "nolocal") == 0)
		test_nolocal();
	else {
		test_tcp();
		test_udp();
		if (strcmp(mode, "kernel") != 0)
			test_inet6();
		test_mixed_poll();
		test_epoll();
		test_local_all();
	}
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail != 0;
}
