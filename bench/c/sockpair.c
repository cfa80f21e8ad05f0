/*
 * sockpair: AF_LOCAL stream socketpair ping-pong, the rump kernel's against the host's, like
 * with like (two threads, one socketpair, blocking reads and writes).  A message of SIZE bytes
 * goes one way and comes back; a round trip is both.  Prints round trips per second and MiB/s
 * for a 4-byte and a 1 MiB message.
 *
 *   bench_sockpair [seconds per case, default 2]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>

struct ops {
	const char *name;
	int (*pair)(int *);
	ssize_t (*rd)(int, void *, size_t);
	ssize_t (*wr)(int, const void *, size_t);
	int (*cl)(int);
};

static int host_pair(int *sv) { return socketpair(AF_UNIX, SOCK_STREAM, 0, sv); }
static int rump_pair(int *sv) { return rump_sys_socketpair(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0, sv); }

static const struct ops host = { "host", host_pair, read, write, close };
static const struct ops rump = { "rump", rump_pair, rump_sys_read, rump_sys_write, rump_sys_close };

struct run {
	const struct ops *o;
	int fd;
	size_t size;
	long rounds;
	char *buf;
};

static int
full(const struct ops *o, int fd, char *buf, size_t n, int rd)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = rd ? o->rd(fd, buf + done, n - done) : o->wr(fd, buf + done, n - done);
		if (r <= 0)
			return -1;
		done += r;
	}
	return 0;
}

static void *
echo(void *arg)
{
	struct run *r = arg;
	for (long i = 0; i < r->rounds; i++)
		if (full(r->o, r->fd, r->buf, r->size, 1) || full(r->o, r->fd, r->buf, r->size, 0))
			break;
	return NULL;
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Round trips in about `secs` seconds: a short calibration run, then the measured one. */
static double
bench(const struct ops *o, size_t size, double secs)
{
	long rounds = 16;
	double rate = 0;
	for (int pass = 0; pass < 2; pass++) {
		int sv[2];
		if (o->pair(sv) != 0) {
			perror("socketpair");
			exit(1);
		}
		char *a = malloc(size), *b = malloc(size);
		memset(a, 'x', size);
		struct run r = { o, sv[1], size, rounds, b };
		pthread_t t;
		pthread_create(&t, NULL, echo, &r);
		double t0 = now();
		for (long i = 0; i < rounds; i++)
			if (full(o, sv[0], a, size, 0) || full(o, sv[0], a, size, 1)) {
				fprintf(stderr, "%s: transfer failed\n", o->name);
				exit(1);
			}
		double dt = now() - t0;
		pthread_join(t, NULL);
		o->cl(sv[0]);
		o->cl(sv[1]);
		free(a);
		free(b);
		rate = rounds / dt;
		rounds = (long)(rate * secs) + 1;
	}
	return rate;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2;
	if (rump_init() != 0) {
		fprintf(stderr, "rump_init failed\n");
		return 1;
	}
	static const size_t sizes[] = { 4, 1 << 20 };
	printf("%-8s %10s %14s %14s %10s\n", "size", "kernel", "round trips/s", "MiB/s (1 way)", "rump/host");
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		double h = bench(&host, sizes[i], secs), r = bench(&rump, sizes[i], secs);
		printf("%-8zu %10s %14.0f %14.1f\n", sizes[i], "host", h, h * sizes[i] / 1048576.0);
		printf("%-8zu %10s %14.0f %14.1f %9.2fx\n", sizes[i], "rump", r, r * sizes[i] / 1048576.0, r / h);
	}
	return 0;
}
