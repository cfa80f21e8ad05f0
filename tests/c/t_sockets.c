/*
 * Sockets through the C ABI (and, built as t_sockets.remote, through librumpclient against
 * rump_server: the proxy carries sockaddr, msghdr, iovec and cmsghdr arguments): an echo over a
 * socketpair, a listener with several connecting threads, datagram boundaries, sendmsg/recvmsg
 * with a scattered message and SCM_RIGHTS, names, poll readiness and hang-up, non-blocking
 * EAGAIN, EPIPE without a signal, a few MiB with a checksum, and the errors of bad arguments.
 */
#include <stdint.h>

#include "rtest.h"

static int sp[2];

static void *
echo(void *arg)
{
	char buf[64];
	(void)arg;
	ssize_t n = rump_sys_read(sp[1], buf, sizeof buf);
	if (n > 0)
		rump_sys_write(sp[1], buf, n);
	return NULL;
}

static void
test_socketpair_echo(void)
{
	pthread_t t;
	char buf[64];

	EXPECT_OK(rump_sys_socketpair(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0, sp));
	EXPECT_EQ(pthread_create(&t, NULL, echo, NULL), 0);
	EXPECT_EQ(rump_sys_write(sp[0], "echo me", 7), 7);
	ssize_t n = rump_sys_read(sp[0], buf, sizeof buf);
	EXPECT_EQ(n, 7);
	EXPECT_MEM(buf, "echo me", 7);
	pthread_join(t, NULL);
	struct rump_stat st;
	EXPECT_OK(rump_sys_fstat(sp[0], &st));
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFSOCK);
	EXPECT_OK(rump_sys_close(sp[0]));
	EXPECT_OK(rump_sys_close(sp[1]));
}

static struct rump_sockaddr_un
sun_of(const char *path, unsigned int *len)
{
	struct rump_sockaddr_un sun;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = RUMP_AF_LOCAL;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	*len = (unsigned int)(2 + strlen(path) + 1);
	sun.sun_len = (uint8_t)*len;
	return sun;
}

#define NCLIENTS 4
static int client_ok[NCLIENTS];

static void *
client(void *arg)
{
	int id = (int)(intptr_t)arg;
	unsigned int len;
	struct rump_sockaddr_un sun = sun_of("/srv.sock", &len);
	char msg[32], buf[64];

	int s = rump_sys_socket(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0);
	if (s < 0 || rump_sys_connect(s, (struct rump_sockaddr *)&sun, len) != 0)
		return NULL;
	int m = snprintf(msg, sizeof msg, "client %d", id);
	rump_sys_write(s, msg, m);
	ssize_t n = rump_sys_read(s, buf, sizeof buf);
	client_ok[id] = n == m + 3 && memcmp(buf, "hi ", 3) == 0 && memcmp(buf + 3, msg, m) == 0;
	rump_sys_close(s);
	return NULL;
}

static void
test_listener(void)
{
	pthread_t t[NCLIENTS];
	unsigned int len;
	struct rump_sockaddr_un sun = sun_of("/srv.sock", &len);
	char buf[64];

	int ls = EXPECT_OK(rump_sys_socket(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0));
	EXPECT_OK(rump_sys_bind(ls, (struct rump_sockaddr *)&sun, len));
	EXPECT_ERR(rump_sys_bind(rump_sys_socket(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0), (struct rump_sockaddr *)&sun, len), EADDRINUSE);
	EXPECT_OK(rump_sys_listen(ls, 8));
	for (int i = 0; i < NCLIENTS; i++)
		EXPECT_EQ(pthread_create(&t[i], NULL, client, (void *)(intptr_t)i), 0);
	for (int i = 0; i < NCLIENTS; i++) {
		struct rump_sockaddr_un peer;
		unsigned int plen = sizeof peer;
		int c = EXPECT_OK(rump_sys_accept(ls, (struct rump_sockaddr *)&peer, &plen));
		EXPECT_EQ(peer.sun_family, RUMP_AF_LOCAL);
		ssize_t n = rump_sys_read(c, buf + 3, sizeof buf - 3);
		CHECK(n > 0, "read from accepted connection %d: %zd", i, n);
		memcpy(buf, "hi ", 3);
		EXPECT_EQ(rump_sys_write(c, buf, n + 3), n + 3);
		rump_sys_close(c);
	}
	for (int i = 0; i < NCLIENTS; i++) {
		pthread_join(t[i], NULL);
		CHECK(client_ok[i], "client %d did not get its greeting back", i);
	}

	/* Names: the listener's; an unbound path is ENOENT, a socket bound but not listening refuses. */
	struct rump_sockaddr_un got;
	unsigned int glen = sizeof got;
	EXPECT_OK(rump_sys_getsockname(ls, (struct rump_sockaddr *)&got, &glen));
	EXPECT_STR(got.sun_path, "/srv.sock");
	int s = rump_sys_socket(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0);
	struct rump_sockaddr_un none = sun_of("/none.sock", &len);
	EXPECT_ERR(rump_sys_connect(s, (struct rump_sockaddr *)&none, len), ENOENT);
	int b = rump_sys_socket(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0);
	struct rump_sockaddr_un idle = sun_of("/idle.sock", &len);
	EXPECT_OK(rump_sys_bind(b, (struct rump_sockaddr *)&idle, len));
	EXPECT_ERR(rump_sys_connect(s, (struct rump_sockaddr *)&idle, len), ECONNREFUSED);
	rump_sys_close(s);
	rump_sys_close(b);
	rump_sys_close(ls);
}

static void
test_datagrams_and_msghdr(void)
{
	int d[2];
	char a[4], b[8], buf[32];

	EXPECT_OK(rump_sys_socketpair(RUMP_AF_LOCAL, RUMP_SOCK_DGRAM, 0, d));
	EXPECT_EQ(rump_sys_sendto(d[0], "one", 3, 0, NULL, 0), 3);
	EXPECT_EQ(rump_sys_sendto(d[0], "three", 5, 0, NULL, 0), 5);
	EXPECT_EQ(rump_sys_recvfrom(d[1], buf, sizeof buf, 0, NULL, NULL), 3);
	EXPECT_EQ(rump_sys_recvfrom(d[1], buf, sizeof buf, 0, NULL, NULL), 5);
	EXPECT_MEM(buf, "three", 5);

	/* A scattered send and receive: two iovecs each way, and the truncation flag. */
	struct rump_iovec iov[2] = { { (void *)"abcd", 4 }, { (void *)"efghij", 6 } };
	struct rump_msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	EXPECT_EQ(rump_sys_sendmsg(d[0], &mh, 0), 10);
	struct rump_iovec riov[2] = { { a, sizeof a }, { b, sizeof b } };
	struct rump_msghdr rm;
	memset(&rm, 0, sizeof rm);
	rm.msg_iov = riov;
	rm.msg_iovlen = 2;
	EXPECT_EQ(rump_sys_recvmsg(d[1], &rm, 0), 10);
	EXPECT_MEM(a, "abcd", 4);
	EXPECT_MEM(b, "efghij", 6);
	EXPECT_EQ(rm.msg_flags & RUMP_MSG_TRUNC, 0);
	EXPECT_EQ(rump_sys_sendmsg(d[0], &mh, 0), 10);
	riov[1].iov_len = 2;
	EXPECT_EQ(rump_sys_recvmsg(d[1], &rm, 0), 6);
	EXPECT_EQ(rm.msg_flags & RUMP_MSG_TRUNC, RUMP_MSG_TRUNC);

	/* SCM_RIGHTS: a pipe's write end travels, and writes reach the pipe. */
	int p[2];
	EXPECT_OK(rump_sys_pipe2(p, 0));
	union { struct rump_cmsghdr h; char space[24]; } ctl;
	memset(&ctl, 0, sizeof ctl);
	ctl.h.cmsg_len = 20;
	ctl.h.cmsg_level = RUMP_SOL_SOCKET;
	ctl.h.cmsg_type = RUMP_SCM_RIGHTS;
	memcpy(ctl.space + 16, &p[1], sizeof(int));
	struct rump_iovec one = { (void *)"F", 1 };
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &one;
	mh.msg_iovlen = 1;
	mh.msg_control = &ctl;
	mh.msg_controllen = sizeof ctl;
	EXPECT_EQ(rump_sys_sendmsg(d[0], &mh, 0), 1);
	rump_sys_close(p[1]);
	union { struct rump_cmsghdr h; char space[64]; } rctl;
	memset(&rctl, 0, sizeof rctl);
	struct rump_iovec rone = { buf, sizeof buf };
	memset(&rm, 0, sizeof rm);
	rm.msg_iov = &rone;
	rm.msg_iovlen = 1;
	rm.msg_control = &rctl;
	rm.msg_controllen = sizeof rctl;
	EXPECT_EQ(rump_sys_recvmsg(d[1], &rm, 0), 1);
	EXPECT_EQ(rctl.h.cmsg_type, RUMP_SCM_RIGHTS);
	int nfd;
	memcpy(&nfd, rctl.space + 16, sizeof nfd);
	EXPECT_EQ(rump_sys_write(nfd, "ok", 2), 2);
	EXPECT_EQ(rump_sys_read(p[0], buf, sizeof buf), 2);
	rump_sys_close(nfd);
	rump_sys_close(p[0]);
	rump_sys_close(d[0]);
	rump_sys_close(d[1]);
}

static void
test_poll_nonblock_and_close(void)
{
	int s[2];
	char buf[16];
	struct rump_pollfd p;

	EXPECT_OK(rump_sys_socketpair(RUMP_AF_LOCAL, RUMP_SOCK_STREAM | RUMP_SOCK_NONBLOCK, 0, s));
	EXPECT_ERR(rump_sys_read(s[0], buf, sizeof buf), EAGAIN);
	p.fd = s[0];
	p.events = RUMP_POLLIN | RUMP_POLLOUT;
	p.revents = 0;
	EXPECT_EQ(rump_sys_poll(&p, 1, 0), 1);
	EXPECT_EQ(p.revents, RUMP_POLLOUT);
	EXPECT_EQ(rump_sys_write(s[1], "x", 1), 1);
	EXPECT_EQ(rump_sys_poll(&p, 1, 0), 1);
	EXPECT_EQ(p.revents, RUMP_POLLIN | RUMP_POLLOUT);
	EXPECT_EQ(rump_sys_write(s[1], "yz", 2), 2);
	EXPECT_OK(rump_sys_close(s[1]));
	p.events = RUMP_POLLIN;
	EXPECT_EQ(rump_sys_poll(&p, 1, 0), 1);
	EXPECT_EQ(p.revents, RUMP_POLLIN | RUMP_POLLHUP);
	/* The data written before the close, then end of file; sends fail with EPIPE (no signal asked). */
	EXPECT_EQ(rump_sys_read(s[0], buf, sizeof buf), 3);
	EXPECT_EQ(rump_sys_read(s[0], buf, sizeof buf), 0);
	EXPECT_ERR(rump_sys_sendto(s[0], "x", 1, RUMP_MSG_NOSIGNAL, NULL, 0), EPIPE);
	rump_sys_close(s[0]);
}

static int big[2];
#define BIG_TOTAL (8u << 20)

static uint32_t
fnv(uint32_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void *
big_writer(void *arg)
{
	static unsigned char chunk[65536];
	uint32_t *sum = arg, h = 2166136261u, x = 12345;

	for (unsigned done = 0; done < BIG_TOTAL; done += sizeof chunk) {
		for (size_t i = 0; i < sizeof chunk; i++) {
			x = x * 1103515245u + 12345u;
			chunk[i] = (unsigned char)(x >> 16);
		}
		h = fnv(h, chunk, sizeof chunk);
		if (rump_sys_write(big[0], chunk, sizeof chunk) != (ssize_t)sizeof chunk)
			break;
	}
	*sum = h;
	rump_sys_close(big[0]);
	return NULL;
}

static void
test_big_transfer(void)
{
	static unsigned char buf[100000];
	pthread_t t;
	uint32_t wsum = 0, h = 2166136261u;
	size_t total = 0;
	ssize_t n;

	EXPECT_OK(rump_sys_socketpair(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0, big));
	EXPECT_EQ(pthread_create(&t, NULL, big_writer, &wsum), 0);
	while ((n = rump_sys_read(big[1], buf, sizeof buf)) > 0) {
		h = fnv(h, buf, n);
		total += n;
	}
	EXPECT_EQ(n, 0);
	pthread_join(t, NULL);
	EXPECT_EQ(total, BIG_TOTAL);
	CHECK(h == wsum, "checksum of the bytes read 0x%08x, of those written 0x%08x", h, wsum);
	rump_sys_close(big[1]);
}

static void
test_errors(void)
{
	char buf[8];
	int p[2];
	unsigned int len;
	struct rump_sockaddr_un sun = sun_of("/e.sock", &len);

	EXPECT_ERR(rump_sys_recvfrom(999, buf, sizeof buf, 0, NULL, NULL), EBADF);
	EXPECT_OK(rump_sys_pipe2(p, 0));
	EXPECT_ERR(rump_sys_listen(p[0], 1), ENOTSOCK);
	EXPECT_ERR(rump_sys_socket(99, RUMP_SOCK_STREAM, 0), EAFNOSUPPORT);
	int s = EXPECT_OK(rump_sys_socket(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0));
	EXPECT_ERR(rump_sys_bind(s, (struct rump_sockaddr *)&sun, 1), EINVAL);
	EXPECT_ERR(rump_sys_bind(s, (struct rump_sockaddr *)&sun, 300), EINVAL);
	EXPECT_ERR(rump_sys_write(s, "x", 1), ENOTCONN);
	EXPECT_ERR(rump_sys_getpeername(s, (struct rump_sockaddr *)&sun, &len), ENOTCONN);
	rump_sys_close(s);
	rump_sys_close(p[0]);
	rump_sys_close(p[1]);
}

int
main(void)
{
	rtest_init();
	test_socketpair_echo();
	test_listener();
	test_datagrams_and_msghdr();
	test_poll_nonblock_and_close();
	test_big_transfer();
	test_errors();
	return rtest_done();
}
