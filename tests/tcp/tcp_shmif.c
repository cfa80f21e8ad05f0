/*
 * TCP between two rump kernels in two processes on one shmif bus (no privileges).
 *
 *   tcp_shmif test SIZE NCONN [LOSS]
 *	makes a bus file in a fresh temporary directory and runs this program twice on it, as
 *	"server" and "client" (with RUMP_SHMIF_LOSS=LOSS in both when given). The client and the
 *	server each send SIZE bytes of their own pseudo-random stream to the other at the same
 *	time and check what they receive against the other's stream (an FNV-1a checksum of each,
 *	printed, and byte for byte); then the client opens NCONN connections at once and each
 *	carries a message the server echoes. Exits 0 when both processes did.
 *   tcp_shmif test6 SIZE NCONN [LOSS]
 *	the same over IPv6 (AF_INET6 sockets, fd00:93::1 and ::2/64 on the bus; neighbour
 *	discovery instead of ARP). The sides learn it from TCP_SHMIF_V6=1 in their environment.
 *   tcp_shmif bench SIZE
 *	as test with SIZE bytes one way only (client to server), printing the throughput, then
 *	a 1-byte ping-pong's round-trip time and the connection set-up rate (bench/tcp.sh).
 *   tcp_shmif server|client BUS SIZE NCONN MODE
 *	one side (run by the above).
 *   tcp_shmif host-server PORT SIZE | host-client ADDR PORT SIZE
 *	the transfer of test (both directions at once, checked) over Linux sockets;
 *   tcp_shmif tap-client IFNAME OURADDR PEERADDR PORT SIZE [MTU]
 *	the client's side in a rump kernel whose IFNAME (virtN) is a host TAP of that name:
 *	bench/tcp.sh's comparison of the kernel over virtif with Linux over veth (root). MTU
 *	sets the interface's MTU first (SIOCSIFMTU: jumbo frames on virtif).
 *	With TCP_ONEWAY=1 in the environment these three send one way only, client to server
 *	(checked as before), to compare with iperf3's one-way number on the host's loopback.
 *
 * The client retries its first connect until the server listens (ECONNREFUSED while the
 * server boots: the condition itself is polled, not a guess of how long booting takes).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include <rump/rumpdefs.h>

/* NetBSD's struct sockaddr_in (netinet/in.h), 16 bytes. */
struct tsin {
	uint8_t		sin_len;
	uint8_t		sin_family;
	uint16_t	sin_port;	/* network order */
	uint8_t		sin_addr[4];
	uint8_t		sin_zero[8];
};

/* NetBSD's struct sockaddr_in6, 28 bytes. */
struct tsin6 {
	uint8_t		sin6_len;
	uint8_t		sin6_family;
	uint16_t	sin6_port;	/* network order */
	uint32_t	sin6_flowinfo;
	uint8_t		sin6_addr[16];
	uint32_t	sin6_scope_id;
};

/* Either, by the mode (v6). */
struct tsa {
	union {
		struct tsin	in;
		struct tsin6	in6;
	} u;
	unsigned	len;
};

#define SERVER_ADDR	"10.93.0.2"
#define CLIENT_ADDR	"10.93.0.1"
#define SERVER_ADDR6	"fd00:93::2"
#define CLIENT_ADDR6	"fd00:93::1"
#define PORT_DATA	5000
#define PORT_MANY	5001
#define PORT_PING	5002
#define MSG_LEN		1016

static const char *role = "?";
static int v6;

static void
die(const char *what, long v)
{
	fprintf(stderr, "tcp_shmif %s: %s: %ld\n", role, what, v);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct tsa
sin_of(int server, int port)
{
	struct tsa a;
	memset(&a, 0, sizeof a);
	if (v6) {
		struct tsin6 *s = &a.u.in6;
		a.len = s->sin6_len = sizeof *s;
		s->sin6_family = RUMP_AF_INET6;
		s->sin6_port = htobe16((uint16_t)port);
		s->sin6_addr[0] = 0xfd; s->sin6_addr[2] = 0x00; s->sin6_addr[3] = 0x93;
		s->sin6_addr[15] = server ? 2 : 1;
		return a;
	}
	struct tsin *s = &a.u.in;
	a.len = s->sin_len = sizeof *s;
	s->sin_family = RUMP_AF_INET;
	s->sin_port = htobe16((uint16_t)port);
	s->sin_addr[0] = 10; s->sin_addr[1] = 93; s->sin_addr[2] = 0;
	s->sin_addr[3] = server ? 2 : 1;
	return a;
}

/*
 * The stream a side sends: xorshift64 from its seed, eight bytes (one step, little-endian) at a
 * time, the same on both ends whatever the sizes of the writes and reads. The checksum is FNV-1a
 * over the stream's 64-bit words (a partial last word zero-padded). Both work a word at a time:
 * byte-at-a-time versions cost this harness more CPU than the two kernels' TCP (bench/results/tcp.md).
 */
struct gen {
	uint64_t s;		/* xorshift64 state */
	uint8_t w[8];		/* the current word's bytes */
	unsigned left;		/* of w not yet handed out */
};

static inline uint64_t
xs_step(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13; x ^= x >> 7; x ^= x << 17;
	*s = x;
	return x;
}

static void
fill(struct gen *g, uint8_t *b, size_t n)
{
	while (n > 0 && g->left > 0) {
		*b++ = g->w[8 - g->left--];
		n--;
	}
	for (; n >= 8; n -= 8, b += 8) {
		uint64_t x = htole64(xs_step(&g->s));
		memcpy(b, &x, 8);
	}
	if (n > 0) {
		uint64_t x = htole64(xs_step(&g->s));
		memcpy(g->w, &x, 8);
		g->left = 8;
		while (n > 0) {
			*b++ = g->w[8 - g->left--];
			n--;
		}
	}
}

struct sum {
	uint64_t h;
	uint8_t w[8];		/* a partial word waiting for its other bytes */
	unsigned have;
};

static inline void
fnv_word(struct sum *c, uint64_t w)
{
	c->h ^= w;
	c->h *= 0x100000001b3ULL;
}

static void
fnv(struct sum *c, const uint8_t *b, size_t n)
{
	while (n > 0 && c->have > 0 && c->have < 8) {
		c->w[c->have++] = *b++;
		n--;
	}
	if (c->have == 8) {
		uint64_t w;
		memcpy(&w, c->w, 8);
		fnv_word(c, le64toh(w));
		c->have = 0;
	}
	for (; n >= 8; n -= 8, b += 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		fnv_word(c, le64toh(w));
	}
	while (n > 0) {
		c->w[c->have++] = *b++;
		n--;
	}
}

static uint64_t
fnv_end(struct sum *c)
{
	if (c->have > 0) {
		uint64_t w = 0;
		memcpy(&w, c->w, c->have);
		fnv_word(c, le64toh(w));
		c->have = 0;
	}
	return c->h;
}

struct xfer {
	int fd;
	int host;		/* a Linux socket (the TAP comparison's peers), not a rump one */
	long size;
	uint64_t seed;
	uint64_t sum;		/* FNV-1a of what went or came */
	long bad;		/* receive: offset of the first wrong byte + 1, 0 if none */
	long err;
};

static void *
sender(void *arg)
{
	struct xfer *x = arg;
	static __thread uint8_t buf[100000];
	struct gen st = { .s = x->seed };
	struct sum c = { .h = 0xcbf29ce484222325ULL };
	long off = 0;
	while (off < x->size) {
		size_t n = (size_t)(x->size - off < (long)sizeof buf ? x->size - off : (long)sizeof buf);
		fill(&st, buf, n);
		fnv(&c, buf, n);
		size_t done = 0;
		while (done < n) {
			ssize_t r = x->host ? write(x->fd, buf + done, n - done) : rump_sys_write(x->fd, buf + done, n - done);
			if (r <= 0) { x->err = r < 0 ? errno : -1; return NULL; }
			done += (size_t)r;
		}
		off += (long)n;
	}
	x->sum = fnv_end(&c);
	return NULL;
}

static void *
receiver(void *arg)
{
	struct xfer *x = arg;
	static __thread uint8_t buf[131072], want[131072];
	struct gen st = { .s = x->seed };
	struct sum c = { .h = 0xcbf29ce484222325ULL };
	long off = 0;
	while (off < x->size) {
		long left = x->size - off;
		size_t want_n = (size_t)(left < (long)sizeof buf ? left : (long)sizeof buf);
		ssize_t r = x->host ? read(x->fd, buf, want_n) : rump_sys_read(x->fd, buf, want_n);
		if (r <= 0) { x->err = r < 0 ? errno : -1; return NULL; }
		fill(&st, want, (size_t)r);
		if (!x->bad && memcmp(buf, want, (size_t)r) != 0) {
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] != want[i]) { x->bad = off + i + 1; break; }
		}
		fnv(&c, buf, (size_t)r);
		off += r;
	}
	x->sum = fnv_end(&c);
	return NULL;
}

static int
tcp_socket(void)
{
	int s = rump_sys_socket(v6 ? RUMP_AF_INET6 : RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
	if (s < 0)
		die("socket", errno);
	return s;
}

static int
listener(int port, int backlog)
{
	int s = tcp_socket(), on = 1;
	struct tsa a = sin_of(1, port);
	rump_sys_setsockopt(s, RUMP_SOL_SOCKET, RUMP_SO_REUSEADDR, &on, sizeof on);
	if (rump_sys_bind(s, (struct rump_sockaddr *)&a.u, a.len) != 0)
		die("bind", errno);
	if (rump_sys_listen(s, backlog) != 0)
		die("listen", errno);
	return s;
}

static int
connect_to(int port, int retry)
{
	struct tsa a = sin_of(1, port);
	double deadline = now() + 30;
	for (;;) {
		int s = tcp_socket();
		if (rump_sys_connect(s, (struct rump_sockaddr *)&a.u, a.len) == 0)
			return s;
		int e = errno;
		rump_sys_close(s);
		if (!retry || (e != ECONNREFUSED && e != EHOSTUNREACH && e != ETIMEDOUT) || now() > deadline)
			die("connect", e);
		usleep(20000);
	}
}

static void
read_exact(int fd, void *b, size_t n, const char *what)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = rump_sys_read(fd, (char *)b + got, n - got);
		if (r <= 0)
			die(what, r < 0 ? errno : -1);
		got += (size_t)r;
	}
}

static void
write_all(int fd, const void *b, size_t n, const char *what)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = rump_sys_write(fd, (const char *)b + done, n - done);
		if (r <= 0)
			die(what, r < 0 ? errno : -1);
		done += (size_t)r;
	}
}

/* Both directions at once (or only ours to the server when oneway); returns 0 if all matched. */
static int
transfer(int fd, long size, int server, int oneway, int host)
{
	struct xfer out = { .fd = fd, .host = host, .size = size, .seed = server ? 0x5e17e2 : 0xc11e17 };
	struct xfer in = { .fd = fd, .host = host, .size = size, .seed = server ? 0xc11e17 : 0x5e17e2 };
	pthread_t ts, tr;
	int do_send = !oneway || !server, do_recv = !oneway || server;
	double t0 = now();
	if (do_send)
		pthread_create(&ts, NULL, sender, &out);
	if (do_recv)
		pthread_create(&tr, NULL, receiver, &in);
	if (do_send)
		pthread_join(ts, NULL);
	if (do_recv)
		pthread_join(tr, NULL);
	double dt = now() - t0;
	if (out.err || in.err) {
		fprintf(stderr, "tcp_shmif %s: transfer: send error %ld, receive error %ld\n", role, out.err, in.err);
		return 1;
	}
	if (do_send)
		printf("%s: sent %ld bytes, fnv1a-w64 %016llx\n", role, size, (unsigned long long)out.sum);
	if (do_recv) {
		printf("%s: received %ld bytes in %.2f s (%.1f Mbit/s), fnv1a-w64 %016llx\n", role, size, dt,
		    size * 8 / dt / 1e6, (unsigned long long)in.sum);
		if (in.bad) {
			fprintf(stderr, "tcp_shmif %s: received data differs at byte %ld\n", role, in.bad - 1);
			return 1;
		}
	}
	return 0;
}

static int
side(int server, const char *bus, long size, int nconn, const char *mode)
{
	int unit, e, oneway = strcmp(mode, "bench") == 0;
	char ifname[16];
	role = server ? "server" : "client";
	/* a wedged side fails the test instead of hanging it (the 1 GiB runs of bench/tcp.sh take longer) */
	alarm(oneway || size > (256L << 20) ? 900 : 120);
	if ((e = rump_init()) != 0)
		die("rump_init", e);
	if ((e = rump_pub_shmif_create(bus, &unit)) != 0)
		die("shmif_create", e);
	snprintf(ifname, sizeof ifname, "shmif%d", unit);
	if ((e = rump_pub_netconfig_ifup(ifname)) != 0)
		die("ifup", e);
	v6 = getenv("TCP_SHMIF_V6") != NULL;
	if (v6 && (e = rump_pub_netconfig_ipv6_ifaddr(ifname, server ? SERVER_ADDR6 : CLIENT_ADDR6, 64)) != 0)
		die("ipv6_ifaddr", e);
	if (!v6 && (e = rump_pub_netconfig_ipv4_ifaddr_cidr(ifname, server ? SERVER_ADDR : CLIENT_ADDR, 24)) != 0)
		die("ipv4_ifaddr", e);

	if (server) {
		int l = listener(PORT_DATA, 1), lm = listener(PORT_MANY, nconn), lp = listener(PORT_PING, 1);
		int s = rump_sys_accept(l, NULL, NULL);
		if (s < 0)
			die("accept", errno);
		if (transfer(s, size, 1, oneway, 0))
			return 1;
		char c;
		if (rump_sys_read(s, &c, 1) != 0)
			die("end of file after the transfer", errno);
		rump_sys_close(s);

		if (oneway) {
			/* ping-pong: echo single bytes until end of file */
			int p = rump_sys_accept(lp, NULL, NULL), on = 1;
			rump_sys_setsockopt(p, 6, 1, &on, sizeof on);	/* IPPROTO_TCP, TCP_NODELAY */
			while (rump_sys_read(p, &c, 1) == 1)
				rump_sys_write(p, &c, 1);
			rump_sys_close(p);
		}

		/* NCONN connections at once: read each message whole and echo it. */
		int *fds = calloc((size_t)nconn, sizeof *fds);
		char msg[MSG_LEN];
		for (int i = 0; i < nconn; i++)
			if ((fds[i] = rump_sys_accept(lm, NULL, NULL)) < 0)
				die("accept many", errno);
		if (!oneway) {
			for (int i = 0; i < nconn; i++) {
				read_exact(fds[i], msg, sizeof msg, "read a message");
				write_all(fds[i], msg, sizeof msg, "echo a message");
			}
			/*
			 * The client's end of file, then a lingering close: it returns once our FIN
			 * is acknowledged (the client waits for it), so none is lost with this process.
			 */
			struct { int onoff, secs; } lg = { 1, 10 };
			for (int i = 0; i < nconn; i++) {
				if (rump_sys_read(fds[i], &c, 1) != 0)
					die("end of file on a connection", errno);
				if (rump_sys_setsockopt(fds[i], RUMP_SOL_SOCKET, RUMP_SO_LINGER, &lg, sizeof lg) != 0)
					die("SO_LINGER", errno);
				rump_sys_close(fds[i]);
			}
		} else
			for (int i = 0; i < nconn; i++)
				rump_sys_close(fds[i]);
		printf("server: %d connections %s\n", nconn, oneway ? "accepted" : "echoed");
		return 0;
	}

	int s = connect_to(PORT_DATA, 1);
	if (transfer(s, size, 0, oneway, 0))
		return 1;
	rump_sys_close(s);

	if (oneway) {
		int p = connect_to(PORT_PING, 0), on = 1, n = 2000;
		char c = 'x';
		rump_sys_setsockopt(p, 6, 1, &on, sizeof on);
		double t0 = now();
		for (int i = 0; i < n; i++) {
			write_all(p, &c, 1, "ping");
			read_exact(p, &c, 1, "pong");
		}
		printf("client: 1-byte ping-pong round trip %.1f us (%d exchanges)\n", (now() - t0) / n * 1e6, n);
		rump_sys_close(p);
	}

	double t0 = now();
	int *fds = calloc((size_t)nconn, sizeof *fds);
	if (oneway) {
		/* the set-up rate: one blocking connect after the other */
		for (int i = 0; i < nconn; i++)
			fds[i] = connect_to(PORT_MANY, 0);
	} else {
		/* all at once: non-blocking connects (EINPROGRESS), poll for POLLOUT, SO_ERROR */
		struct rump_pollfd *pf = calloc((size_t)nconn, sizeof *pf);
		struct tsa a = sin_of(1, PORT_MANY);
		for (int i = 0; i < nconn; i++) {
			fds[i] = rump_sys_socket(v6 ? RUMP_AF_INET6 : RUMP_AF_INET, RUMP_SOCK_STREAM | RUMP_SOCK_NONBLOCK, 0);
			if (fds[i] < 0)
				die("socket", errno);
			if (rump_sys_connect(fds[i], (struct rump_sockaddr *)&a.u, a.len) == 0 || errno != EINPROGRESS)
				die("a non-blocking connect did not say EINPROGRESS", errno);
			pf[i].fd = fds[i];
			pf[i].events = RUMP_POLLOUT;
		}
		for (int left = nconn; left > 0;) {
			int n = rump_sys_poll(pf, (unsigned)nconn, 60000);
			if (n <= 0)
				die("poll for the connections", n < 0 ? errno : 0);
			for (int i = 0; i < nconn; i++) {
				if (pf[i].fd < 0 || pf[i].revents == 0)
					continue;
				int err = -1;
				unsigned len = sizeof err;
				if (rump_sys_getsockopt(fds[i], RUMP_SOL_SOCKET, RUMP_SO_ERROR, &err, &len) != 0 || err != 0)
					die("SO_ERROR of a connection", err);
				if (rump_sys_fcntl(fds[i], RUMP_F_SETFL, 0) != 0)
					die("fcntl", errno);
				pf[i].fd = -1;
				left--;
			}
		}
		free(pf);
	}
	double dt = now() - t0;
	printf("client: %d connections set up in %.3f s (%.0f per second)\n", nconn, dt, nconn / dt);
	if (!oneway) {
		char msg[MSG_LEN], back[MSG_LEN];
		for (int i = 0; i < nconn; i++) {
			memset(msg, 'a' + i % 26, sizeof msg);
			snprintf(msg, sizeof msg, "connection %d", i);
			write_all(fds[i], msg, sizeof msg, "write a message");
		}
		for (int i = 0; i < nconn; i++) {
			memset(msg, 'a' + i % 26, sizeof msg);
			snprintf(msg, sizeof msg, "connection %d", i);
			read_exact(fds[i], back, sizeof back, "read an echo");
			if (memcmp(msg, back, sizeof msg) != 0)
				die("an echo differs on connection", i);
		}
		/*
		 * Close in order before exiting: this kernel goes with the process, so a FIN lost on
		 * the way would never be sent again. SHUT_WR, then the server's end of file says it
		 * got ours.
		 */
		for (int i = 0; i < nconn; i++)
			if (rump_sys_shutdown(fds[i], RUMP_SHUT_WR) != 0)
				die("shutdown", errno);
		for (int i = 0; i < nconn; i++)
			if (rump_sys_read(fds[i], back, 1) != 0)
				die("end of file from the server", errno);
		printf("client: %d concurrent connections echoed\n", nconn);
	}
	for (int i = 0; i < nconn; i++)
		rump_sys_close(fds[i]);
	return 0;
}

/*
 * The TAP comparison (bench/tcp.sh, root): the same transfer, both directions at once, between
 * a rump kernel on a host TAP (tap-client) and Linux's stack in a network namespace
 * (host-server), and between two Linux stacks over a veth pair (host-client to host-server).
 */
static int
host_server(int port, long size)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	role = "host-server";
	alarm(900);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0)
		die("listen", errno);
	printf("host-server: listening on port %d\n", port);
	fflush(stdout);
	int s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept", errno);
	if (transfer(s, size, 1, getenv("TCP_ONEWAY") != NULL, 1))
		return 1;
	char c;
	if (read(s, &c, 1) != 0)
		die("end of file after the transfer", errno);
	close(s);
	close(l);
	return 0;
}

static int
host_client(const char *addr, int port, long size)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	role = "host-client";
	alarm(900);
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		die("address", 0);
	double deadline = now() + 30;
	int s;
	for (;;) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket", errno);
		if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
			break;
		int e = errno;
		close(s);
		if ((e != ECONNREFUSED && e != EHOSTUNREACH && e != ETIMEDOUT) || now() > deadline)
			die("connect", e);
		usleep(20000);
	}
	if (transfer(s, size, 0, getenv("TCP_ONEWAY") != NULL, 1))
		return 1;
	close(s);
	return 0;
}

static int
tap_client(const char *ifname, const char *ours, const char *peer, int port, long size, int mtu)
{
	int e;
	struct tsin a;
	role = "tap-client";
	alarm(900);
	if ((e = rump_init()) != 0)
		die("rump_init", e);
	if ((e = rump_pub_netconfig_ifcreate(ifname)) != 0)
		die("ifcreate", e);
	if (mtu > 0) {
		struct rump_ifreq r;
		int s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_DGRAM, 0);
		memset(&r, 0, sizeof r);
		snprintf(r.ifr_name, sizeof r.ifr_name, "%s", ifname);
		r.ifr_ifru.ifru_mtu = mtu;
		if (s == -1 || rump_sys_ioctl(s, RUMP_SIOCSIFMTU, &r) == -1)
			die("SIOCSIFMTU", errno);
		rump_sys_close(s);
	}
	if ((e = rump_pub_netconfig_ifup(ifname)) != 0)
		die("ifup", e);
	if ((e = rump_pub_netconfig_ipv4_ifaddr_cidr(ifname, ours, 24)) != 0)
		die("ipv4_ifaddr", e);
	memset(&a, 0, sizeof a);
	a.sin_len = sizeof a;
	a.sin_family = RUMP_AF_INET;
	a.sin_port = htobe16((uint16_t)port);
	if (inet_pton(AF_INET, peer, a.sin_addr) != 1)
		die("address", 0);
	printf("tap-client: %s up as %s\n", ifname, ours);
	fflush(stdout);
	/* Until the script has moved the TAP into the namespace and the server listens. */
	double deadline = now() + 60;
	int s;
	for (;;) {
		s = tcp_socket();
		if (rump_sys_connect(s, (struct rump_sockaddr *)&a, sizeof a) == 0)
			break;
		e = errno;
		rump_sys_close(s);
		if ((e != ECONNREFUSED && e != EHOSTUNREACH && e != ETIMEDOUT && e != EHOSTDOWN) || now() > deadline)
			die("connect", e);
		usleep(50000);
	}
	if (transfer(s, size, 0, getenv("TCP_ONEWAY") != NULL, 0))
		return 1;
	rump_sys_close(s);
	return 0;
}

static pid_t
spawn(const char *self, const char *which, const char *bus, const char *size, const char *nconn, const char *mode)
{
	pid_t p = fork();
	if (p == 0) {
		execl(self, self, which, bus, size, nconn, mode, (char *)NULL);
		_exit(127);
	}
	return p;
}

int
main(int argc, char **argv)
{
	if (argc == 6 && (strcmp(argv[1], "server") == 0 || strcmp(argv[1], "client") == 0))
		return side(strcmp(argv[1], "server") == 0, argv[2], atol(argv[3]), atoi(argv[4]), argv[5]);
	if (argc == 4 && strcmp(argv[1], "host-server") == 0)
		return host_server(atoi(argv[2]), atol(argv[3]));
	if (argc == 5 && strcmp(argv[1], "host-client") == 0)
		return host_client(argv[2], atoi(argv[3]), atol(argv[4]));
	if ((argc == 7 || argc == 8) && strcmp(argv[1], "tap-client") == 0)
		return tap_client(argv[2], argv[3], argv[4], atoi(argv[5]), atol(argv[6]), argc == 8 ? atoi(argv[7]) : 0);
	int bench = argc >= 3 && strcmp(argv[1], "bench") == 0;
	if (argc >= 4 && strcmp(argv[1], "test6") == 0) {
		setenv("TCP_SHMIF_V6", "1", 1);
		argv[1] = "test";
	}
	if (!bench && !(argc >= 4 && strcmp(argv[1], "test") == 0)) {
		fprintf(stderr, "usage: tcp_shmif test|test6 SIZE NCONN [LOSS] | bench SIZE\n");
		return 2;
	}
	char dir[] = "/tmp/tcp_shmif.XXXXXX", bus[64];
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(bus, sizeof bus, "%s/bus", dir);
	if (!bench && argc >= 5)
		setenv("RUMP_SHMIF_LOSS", argv[4], 1);
	const char *nconn = bench ? "200" : argv[3];
	const char *mode = bench ? "bench" : "test";
	double t0 = now();
	pid_t ps = spawn("/proc/self/exe", "server", bus, argv[2], nconn, mode);
	pid_t pc = spawn("/proc/self/exe", "client", bus, argv[2], nconn, mode);
	int ok = 1, st;
	for (int i = 0; i < 2; i++) {
		pid_t p = wait(&st);
		const char *who = p == ps ? "server" : p == pc ? "client" : "?";
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "tcp_shmif: the %s failed (status %#x)\n", who, st);
			ok = 0;
			/* the other side would wait for ever for its peer */
			kill(p == ps ? pc : ps, SIGKILL);
		}
	}
	unlink(bus);
	rmdir(dir);
	printf("%s in %.1f s\n", ok ? "1 passed, 0 failed" : "0 passed, 1 failed", now() - t0);
	return ok ? 0 : 1;
}
