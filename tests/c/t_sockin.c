/*
 * sockin through the C ABI: with RUMP_SOCKIN=1 the kernel's AF_INET/AF_INET6 sockets are the
 * host's, so real host programs are the peers. A kernel socket fetches a file from python3's
 * http.server; curl fetches one from a kernel listener; UDP goes both ways; IPv6 loopback;
 * non-blocking connect with poll; ECONNREFUSED and EADDRINUSE; bad address lengths (EINVAL)
 * and families (EAFNOSUPPORT); a socket closed with data still queued delivers all of it; a
 * large transfer each way arrives intact (length and checksum).
 *
 * Waits are for real conditions: a server is ready when a host connect to it succeeds.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rtest.h"

/* NetBSD's sockaddr_in and sockaddr_in6 (sa_len first). */
struct nb_sin {
	uint8_t len, family;
	uint16_t port;
	uint32_t addr;
	uint8_t zero[8];
};
struct nb_sin6 {
	uint8_t len, family;
	uint16_t port;
	uint32_t flowinfo;
	uint8_t addr[16];
	uint32_t scope;
};
_Static_assert(sizeof(struct nb_sin) == 16, "sockaddr_in");
_Static_assert(sizeof(struct nb_sin6) == 28, "sockaddr_in6");

#define NB_ECONNREFUSED 61

static struct nb_sin
sin4(uint16_t port)
{
	struct nb_sin s;

	memset(&s, 0, sizeof s);
	s.len = sizeof s;
	s.family = RUMP_AF_INET;
	s.port = htons(port);
	s.addr = htonl(INADDR_LOOPBACK);
	return s;
}

static struct nb_sin6
sin6(uint16_t port)
{
	struct nb_sin6 s;

	memset(&s, 0, sizeof s);
	s.len = sizeof s;
	s.family = RUMP_AF_INET6;
	s.port = htons(port);
	s.addr[15] = 1;
	return s;
}

/* A host listener on loopback (port 0: any); its port in *port. */
static int
host_listener(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		abort();
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *s;
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_addr = in6addr_loopback;
		len = sizeof *s;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0)
		abort();
	len = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* A port nothing listens on (bound, then closed). */
static uint16_t
free_port(void)
{
	uint16_t p;
	int fd = host_listener(AF_INET, &p);

	close(fd);
	return p;
}

static uint32_t
sum(uint32_t h, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;  /* FNV-1a */
	return h;
}

/* Reads a kernel socket to end of file. */
static size_t
rump_read_all(int s, char *buf, size_t max)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = rump_sys_read(s, buf + got, max - got);
		if (n <= 0) {
			CHECK(n == 0, "read: %s", strerror(errno));
			return got;
		}
		got += (size_t)n;
		if (got == max)
			return got;
	}
}

/* ---- a kernel socket fetches a file from python3 -m http.server ---- */

static void
test_http_get(void)
{
	char dir[] = "/tmp/sockin-httpXXXXXX";
	char path[256], port_s[16];
	static char body[100000], resp[200000];
	uint16_t port = free_port();
	pid_t pid;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/f.bin", dir);
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (char)('a' + (i * 7) % 26);
	f = fopen(path, "w");
	fwrite(body, 1, sizeof body, f);
	fclose(f);
	snprintf(port_s, sizeof port_s, "%u", port);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execlp("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, port_s, (char *)NULL);
		_exit(127);
	}
	/* Ready when a connect from the kernel succeeds (ECONNREFUSED until it listens). */
	int s = -1, tries = 0, e = 0;
	struct nb_sin a = sin4(port);
	for (;;) {
		s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
		if (rump_sys_connect(s, (struct rump_sockaddr *)&a, sizeof a) == 0)
			break;
		e = errno;
		rump_sys_close(s);
		s = -1;
		int st;
		if (e != ECONNREFUSED || ++tries > 500 || waitpid(pid, &st, WNOHANG) == pid)
			break;
		usleep(20000);
	}
	CHECK(s >= 0, "connect to python3 http.server on port %u: %s (is python3 installed?)", port, strerror(e));
	if (s >= 0) {
		const char *req = "GET /f.bin HTTP/1.0\r\nHost: localhost\r\n\r\n";
		EXPECT_EQ(rump_sys_write(s, req, strlen(req)), (ssize_t)strlen(req));
		size_t n = rump_read_all(s, resp, sizeof resp);
		char *hdr_end = memmem(resp, n, "\r\n\r\n", 4);
		CHECK(n > 12 && memcmp(resp, "HTTP/1.0 200", 12) == 0, "response status: %.40s", resp);
		CHECK(hdr_end != NULL, "no end of headers in %zu bytes", n);
		if (hdr_end != NULL) {
			size_t blen = n - (size_t)(hdr_end + 4 - resp);
			EXPECT_EQ(blen, sizeof body);
			CHECK(blen == sizeof body && memcmp(hdr_end + 4, body, sizeof body) == 0, "body differs from the file");
		}
		EXPECT_OK(rump_sys_close(s));
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	unlink(path);
	rmdir(dir);
}

/* ---- curl fetches from a kernel listener ---- */

static void
test_curl_to_kernel(void)
{
	struct nb_sin a = sin4(0), got;
	unsigned int alen = sizeof got;
	char cmd[256], req[4096], out[256];
	int l = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);

	EXPECT_OK(rump_sys_bind(l, (struct rump_sockaddr *)&a, sizeof a));
	EXPECT_OK(rump_sys_listen(l, 4));
	EXPECT_OK(rump_sys_getsockname(l, (struct rump_sockaddr *)&got, &alen));
	EXPECT_EQ(alen, 16u);
	EXPECT_EQ(got.len, 16);
	EXPECT_EQ(got.family, RUMP_AF_INET);
	CHECK(got.port != 0, "the listener has no port");
	snprintf(cmd, sizeof cmd, "curl -s --max-time 30 http://127.0.0.1:%u/hello", ntohs(got.port));
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL, "popen curl");
	if (p == NULL)
		return;
	struct nb_sin peer;
	alen = sizeof peer;
	int c = rump_sys_accept(l, (struct rump_sockaddr *)&peer, &alen);
	CHECK(c >= 0, "accept: %s", strerror(errno));
	EXPECT_EQ(alen, 16u);
	EXPECT_EQ(peer.family, RUMP_AF_INET);
	EXPECT_EQ(peer.addr, htonl(INADDR_LOOPBACK));
	size_t n = 0;
	while (c >= 0 && n < sizeof req && memmem(req, n, "\r\n\r\n", 4) == NULL) {
		ssize_t r = rump_sys_read(c, req + n, sizeof req - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	CHECK(n > 16 && memcmp(req, "GET /hello HTTP/1.1", 19) == 0, "request: %.30s", req);
	const char *resp = "HTTP/1.0 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nfrom rump!\r\n";
	EXPECT_EQ(rump_sys_write(c, resp, strlen(resp)), (ssize_t)strlen(resp));
	EXPECT_OK(rump_sys_close(c));
	size_t m = fread(out, 1, sizeof out - 1, p);
	out[m] = 0;
	EXPECT_STR(out, "from rump!\r\n");
	EXPECT_EQ(pclose(p), 0);
	EXPECT_OK(rump_sys_close(l));
}

/* ---- UDP both ways ---- */

static void
test_udp(void)
{
	struct nb_sin a = sin4(0), k, from;
	unsigned int alen = sizeof k;
	char buf[2000];
	int s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_DGRAM, 0);
	int h = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in hs = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t hl = sizeof hs;

	EXPECT_OK(rump_sys_bind(s, (struct rump_sockaddr *)&a, sizeof a));
	EXPECT_OK(rump_sys_getsockname(s, (struct rump_sockaddr *)&k, &alen));
	bind(h, (struct sockaddr *)&hs, sizeof hs);
	getsockname(h, (struct sockaddr *)&hs, &hl);

	/* host -> kernel: the receive sleeps until the poller reports the datagram. */
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = k.port, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	EXPECT_EQ(sendto(h, "ping", 4, 0, (struct sockaddr *)&to, sizeof to), 4);
	EXPECT_EQ(sendto(h, "", 0, 0, (struct sockaddr *)&to, sizeof to), 0);
	alen = sizeof from;
	EXPECT_EQ(rump_sys_recvfrom(s, buf, sizeof buf, 0, (struct rump_sockaddr *)&from, &alen), 4);
	EXPECT_MEM(buf, "ping", 4);
	EXPECT_EQ(alen, 16u);
	EXPECT_EQ(from.family, RUMP_AF_INET);
	EXPECT_EQ(from.port, hs.sin_port);
	/* Boundaries are kept: the empty datagram is one of its own. */
	EXPECT_EQ(rump_sys_recvfrom(s, buf, sizeof buf, 0, NULL, NULL), 0);

	/* kernel -> host, to the address the datagram came from. */
	memset(buf, 'x', 1400);
	EXPECT_EQ(rump_sys_sendto(s, buf, 1400, 0, (struct rump_sockaddr *)&from, sizeof from), 1400);
	char hb[2000];
	EXPECT_EQ(recv(h, hb, sizeof hb, 0), 1400);
	EXPECT_MEM(hb, buf, 1400);

	/* A connected kernel socket: send without an address; a bad destination length is EINVAL. */
	EXPECT_OK(rump_sys_connect(s, (struct rump_sockaddr *)&from, sizeof from));
	EXPECT_EQ(rump_sys_sendto(s, "pong", 4, 0, NULL, 0), 4);
	EXPECT_EQ(recv(h, hb, sizeof hb, 0), 4);
	EXPECT_MEM(hb, "pong", 4);
	EXPECT_ERR(rump_sys_sendto(s, "x", 1, 0, (struct rump_sockaddr *)&from, 15), EINVAL);

	/* Poll: readable only once a datagram waits. */
	struct rump_pollfd pf = { .fd = s, .events = RUMP_POLLIN };
	EXPECT_EQ(rump_sys_poll(&pf, 1, 0), 0);
	EXPECT_EQ(sendto(h, "again", 5, 0, (struct sockaddr *)&to, sizeof to), 5);
	EXPECT_EQ(rump_sys_poll(&pf, 1, 10000), 1);
	EXPECT_EQ(pf.revents, RUMP_POLLIN);
	EXPECT_EQ(rump_sys_recvfrom(s, buf, sizeof buf, 0, NULL, NULL), 5);
	close(h);
	EXPECT_OK(rump_sys_close(s));
}

/* ---- IPv6 loopback, both directions of connection ---- */

static void
test_ipv6(void)
{
	uint16_t port;
	int hl = host_listener(AF_INET6, &port);
	int s = rump_sys_socket(RUMP_AF_INET6, RUMP_SOCK_STREAM, 0);
	struct nb_sin6 a = sin6(port);
	char buf[16];

	CHECK(s >= 0, "socket(AF_INET6): %s", strerror(errno));
	EXPECT_OK(rump_sys_connect(s, (struct rump_sockaddr *)&a, sizeof a));
	int hc = accept(hl, NULL, NULL);
	EXPECT_EQ(rump_sys_write(s, "six", 3), 3);
	EXPECT_EQ(read(hc, buf, sizeof buf), 3);
	EXPECT_MEM(buf, "six", 3);
	EXPECT_EQ(write(hc, "back", 4), 4);
	EXPECT_EQ(rump_sys_read(s, buf, sizeof buf), 4);
	EXPECT_MEM(buf, "back", 4);
	struct nb_sin6 peer;
	unsigned int alen = sizeof peer;
	EXPECT_OK(rump_sys_getpeername(s, (struct rump_sockaddr *)&peer, &alen));
	EXPECT_EQ(alen, 28u);
	EXPECT_EQ(peer.len, 28);
	EXPECT_EQ(peer.family, RUMP_AF_INET6);
	EXPECT_EQ(peer.port, htons(port));
	EXPECT_MEM(peer.addr, a.addr, 16);
	/* The peer's close is end of file. */
	close(hc);
	EXPECT_EQ(rump_sys_read(s, buf, sizeof buf), 0);
	EXPECT_OK(rump_sys_close(s));
	close(hl);

	/* A kernel listener on ::1, a host client. */
	int l = rump_sys_socket(RUMP_AF_INET6, RUMP_SOCK_STREAM, 0);
	struct nb_sin6 b = sin6(0), got;
	EXPECT_OK(rump_sys_bind(l, (struct rump_sockaddr *)&b, sizeof b));
	EXPECT_OK(rump_sys_listen(l, 1));
	alen = sizeof got;
	EXPECT_OK(rump_sys_getsockname(l, (struct rump_sockaddr *)&got, &alen));
	int h = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_port = got.port, .sin6_addr = in6addr_loopback };
	EXPECT_EQ(connect(h, (struct sockaddr *)&to, sizeof to), 0);
	int c = rump_sys_accept(l, NULL, NULL);
	CHECK(c >= 0, "accept6: %s", strerror(errno));
	EXPECT_EQ(write(h, "v6", 2), 2);
	EXPECT_EQ(rump_sys_read(c, buf, sizeof buf), 2);
	close(h);
	EXPECT_OK(rump_sys_close(c));
	EXPECT_OK(rump_sys_close(l));
}

/* ---- non-blocking connect, refusals, bad arguments ---- */

static void
test_nonblocking_connect(void)
{
	uint16_t port;
	int hl = host_listener(AF_INET, &port);
	int s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM | RUMP_SOCK_NONBLOCK, 0);
	struct nb_sin a = sin4(port);
	int r = rump_sys_connect(s, (struct rump_sockaddr *)&a, sizeof a);

	CHECK(r == 0 || errno == EINPROGRESS, "non-blocking connect: %d %s", r, strerror(errno));
	struct rump_pollfd pf = { .fd = s, .events = RUMP_POLLOUT };
	EXPECT_EQ(rump_sys_poll(&pf, 1, 10000), 1);
	EXPECT_EQ(pf.revents, RUMP_POLLOUT);
	int err = -1;
	unsigned int elen = sizeof err;
	EXPECT_OK(rump_sys_getsockopt(s, RUMP_SOL_SOCKET, RUMP_SO_ERROR, &err, &elen));
	EXPECT_EQ(err, 0);
	/* Nothing to read yet: EWOULDBLOCK, not a wait. */
	char c;
	EXPECT_ERR(rump_sys_read(s, &c, 1), EWOULDBLOCK);
	EXPECT_OK(rump_sys_close(s));
	close(hl);

	/* Refused, blocking: the connect itself fails. */
	uint16_t dead = free_port();
	struct nb_sin d = sin4(dead);
	s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
	EXPECT_ERR(rump_sys_connect(s, (struct rump_sockaddr *)&d, sizeof d), ECONNREFUSED);
	EXPECT_OK(rump_sys_close(s));

	/* Refused, non-blocking: poll reports it and SO_ERROR says which (NetBSD's value). */
	s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM | RUMP_SOCK_NONBLOCK, 0);
	r = rump_sys_connect(s, (struct rump_sockaddr *)&d, sizeof d);
	if (r != 0 && errno == EINPROGRESS) {
		pf.fd = s;
		pf.events = RUMP_POLLOUT;
		EXPECT_EQ(rump_sys_poll(&pf, 1, 10000), 1);
		CHECK(pf.revents & RUMP_POLLOUT, "revents %#x", pf.revents);
		elen = sizeof err;
		EXPECT_OK(rump_sys_getsockopt(s, RUMP_SOL_SOCKET, RUMP_SO_ERROR, &err, &elen));
		EXPECT_EQ(err, NB_ECONNREFUSED);
	} else
		CHECK(r != 0 && errno == ECONNREFUSED, "non-blocking refused connect: %d %s", r, strerror(errno));
	EXPECT_OK(rump_sys_close(s));

	/* EADDRINUSE: a host listener has the port. */
	hl = host_listener(AF_INET, &port);
	a = sin4(port);
	s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
	EXPECT_ERR(rump_sys_bind(s, (struct rump_sockaddr *)&a, sizeof a), EADDRINUSE);
	/* Bad lengths and families. */
	a = sin4(0);
	EXPECT_ERR(rump_sys_bind(s, (struct rump_sockaddr *)&a, 15), EINVAL);
	EXPECT_ERR(rump_sys_bind(s, (struct rump_sockaddr *)&a, 8), EINVAL);
	EXPECT_ERR(rump_sys_connect(s, (struct rump_sockaddr *)&a, 17), EINVAL);
	EXPECT_ERR(rump_sys_bind(s, (struct rump_sockaddr *)&a, 1), EINVAL);
	struct nb_sin6 a6 = sin6(0);
	EXPECT_ERR(rump_sys_bind(s, (struct rump_sockaddr *)&a6, sizeof a6), EAFNOSUPPORT);
	int s6 = rump_sys_socket(RUMP_AF_INET6, RUMP_SOCK_STREAM, 0);
	EXPECT_ERR(rump_sys_bind(s6, (struct rump_sockaddr *)&a6, 24), EINVAL);
	EXPECT_ERR(rump_sys_bind(s6, (struct rump_sockaddr *)&a, sizeof a), EAFNOSUPPORT);
	/* Options pass through with NetBSD's names: SO_REUSEADDR reads back set. */
	int on = 1, v = 0;
	unsigned int vl = sizeof v;
	EXPECT_OK(rump_sys_setsockopt(s, RUMP_SOL_SOCKET, RUMP_SO_REUSEADDR, &on, sizeof on));
	EXPECT_OK(rump_sys_getsockopt(s, RUMP_SOL_SOCKET, RUMP_SO_REUSEADDR, &v, &vl));
	CHECK(v != 0, "SO_REUSEADDR reads back %d", v);
	/* TCP_NODELAY (IPPROTO_TCP 6, option 1) reaches the host and reads back. */
	v = 0;
	vl = sizeof v;
	EXPECT_OK(rump_sys_setsockopt(s, 6, 1, &on, sizeof on));
	EXPECT_OK(rump_sys_getsockopt(s, 6, 1, &v, &vl));
	CHECK(v != 0, "TCP_NODELAY reads back %d", v);
	EXPECT_OK(rump_sys_close(s6));
	EXPECT_OK(rump_sys_close(s));
	close(hl);
}

/* ---- a socket closed with data still queued: all of it arrives ---- */

struct sink {
	int fd;           /* a host listener */
	size_t bytes;
	uint32_t sum;
	int go;           /* read only once the kernel socket is closed */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *
sink_thread(void *arg)
{
	struct sink *k = arg;
	static unsigned char buf[65536];
	int c = accept(k->fd, NULL, NULL);

	pthread_mutex_lock(&k->mu);
	while (!k->go)
		pthread_cond_wait(&k->cv, &k->mu);
	pthread_mutex_unlock(&k->mu);
	k->sum = 2166136261u;
	for (;;) {
		ssize_t n = read(c, buf, sizeof buf);
		if (n <= 0)
			break;
		k->sum = sum(k->sum, buf, (size_t)n);
		k->bytes += (size_t)n;
	}
	close(c);
	return NULL;
}

static void
test_close_pending(void)
{
	struct sink k = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	uint16_t port;
	pthread_t t;
	static unsigned char buf[32768];
	size_t sent = 0;
	uint32_t h = 2166136261u;

	k.fd = host_listener(AF_INET, &port);
	pthread_create(&t, NULL, sink_thread, &k);
	struct nb_sin a = sin4(port);
	int s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
	EXPECT_OK(rump_sys_connect(s, (struct rump_sockaddr *)&a, sizeof a));
	/* Fill everything (the kernel's send buffer, the host's buffers) until a send would wait. */
	for (unsigned i = 0;; i++) {
		for (size_t j = 0; j < sizeof buf; j++)
			buf[j] = (unsigned char)(i * 31 + j);
		ssize_t n = rump_sys_sendto(s, buf, sizeof buf, RUMP_MSG_DONTWAIT, NULL, 0);
		if (n <= 0) {
			CHECK(errno == EWOULDBLOCK, "send: %s", strerror(errno));
			break;
		}
		h = sum(h, buf, (size_t)n);
		sent += (size_t)n;
		if ((size_t)n < sizeof buf)
			break;
	}
	CHECK(sent > 0, "nothing sent");
	EXPECT_OK(rump_sys_close(s));
	pthread_mutex_lock(&k.mu);
	k.go = 1;
	pthread_cond_signal(&k.cv);
	pthread_mutex_unlock(&k.mu);
	pthread_join(t, NULL);
	EXPECT_EQ(k.bytes, sent);
	EXPECT_EQ(k.sum, h);
	close(k.fd);
}

/* ---- a large transfer each way, checked ---- */

#define BIG (16u << 20)

struct feeder {
	int fd;           /* host listener */
	uint32_t sum;
	size_t bytes;
};

/* Sends BIG pattern bytes to the kernel, then reads back what the kernel sends until EOF. */
static void *
feeder_thread(void *arg)
{
	struct feeder *f = arg;
	static unsigned char buf[65536];
	int c = accept(f->fd, NULL, NULL);
	size_t done = 0;

	while (done < BIG) {
		size_t n = sizeof buf < BIG - done ? sizeof buf : BIG - done;
		for (size_t j = 0; j < n; j++)
			buf[j] = (unsigned char)((done + j) * 2654435761u >> 24);
		ssize_t w = write(c, buf, n);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	shutdown(c, SHUT_WR);
	f->sum = 2166136261u;
	for (;;) {
		ssize_t n = read(c, buf, sizeof buf);
		if (n <= 0)
			break;
		f->sum = sum(f->sum, buf, (size_t)n);
		f->bytes += (size_t)n;
	}
	close(c);
	return NULL;
}

static void
test_large(void)
{
	struct feeder f = { 0 };
	uint16_t port;
	pthread_t t;
	static unsigned char buf[100000];
	uint32_t want = 2166136261u, got = 2166136261u, back = 2166136261u;
	size_t n = 0;

	f.fd = host_listener(AF_INET, &port);
	pthread_create(&t, NULL, feeder_thread, &f);
	struct nb_sin a = sin4(port);
	int s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
	EXPECT_OK(rump_sys_connect(s, (struct rump_sockaddr *)&a, sizeof a));
	for (size_t i = 0; i < BIG; i++) {
		unsigned char b = (unsigned char)(i * 2654435761u >> 24);
		want = (want ^ b) * 16777619u;
	}
	/* host -> kernel: read it all. */
	for (;;) {
		ssize_t r = rump_sys_read(s, buf, sizeof buf);
		if (r <= 0) {
			CHECK(r == 0, "read: %s", strerror(errno));
			break;
		}
		got = sum(got, buf, (size_t)r);
		n += (size_t)r;
	}
	EXPECT_EQ(n, (size_t)BIG);
	EXPECT_EQ(got, want);
	/* kernel -> host: as much again, in pieces of odd sizes. */
	for (size_t done = 0; done < BIG;) {
		size_t len = BIG - done < 77777 ? BIG - done : 77777;
		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)((done + j) * 40503u >> 8);
		ssize_t w = rump_sys_write(s, buf, len);
		if (w <= 0) {
			CHECK(0, "write: %s", strerror(errno));
			break;
		}
		back = sum(back, buf, (size_t)w);
		done += (size_t)w;
	}
	EXPECT_OK(rump_sys_shutdown(s, RUMP_SHUT_WR));
	pthread_join(t, NULL);
	EXPECT_EQ(f.bytes, (size_t)BIG);
	EXPECT_EQ(f.sum, back);
	EXPECT_OK(rump_sys_close(s));
	close(f.fd);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setenv("RUMP_SOCKIN", "1", 1);
	EXPECT_OK(rump_init());
	test_udp();
	test_nonblocking_connect();
	test_ipv6();
	test_curl_to_kernel();
	test_http_get();
	test_close_pending();
	test_large();
	return rtest_done();
}
