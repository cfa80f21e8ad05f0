/*
 * remote: what a system call costs through the sysproxy server (rump_server)
 * against the same call on a local kernel, and against a ping-pong of the same
 * message sizes over a host unix socket (the floor for any remote call).
 *
 *	remote path/to/rump_server [iterations]
 *
 * Calls: getpid (request 24 bytes, answer 48), and pread of 4 KiB from a tmpfs
 * file (request 56 bytes; a 4136-byte COPYOUT and the 48-byte answer).  The
 * remote client is the raw one of the tests (tests/c/spclient.h): no client
 * library in the way.  Each figure is the median of 5 runs, in ns per call; a
 * table, then the same figures as key=value lines.
 */
#include <pthread.h>

#include <rump/rump.h>
#include <rump/rumpdefs.h>
#include <rump/rump_syscalls.h>

#include "spclient.h"

static double
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define RUNS 5

static double
median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmpd);
	return v[RUNS / 2];
}

/* The ping-pong peer: reads a request of qsz bytes, answers asz bytes. */
struct pp { int fd; size_t qsz, asz; long n; };

static void *
pp_peer(void *arg)
{
	struct pp *p = arg;
	static char buf[8192];

	for (long i = 0; i < p->n; i++) {
		if (spc_readn(p->fd, buf, p->qsz) != 0 || spc_writen(p->fd, buf, p->asz) != 0)
			break;
	}
	return NULL;
}

static double
pingpong(size_t qsz, size_t asz, long n)
{
	static char buf[8192];
	struct pp p;
	pthread_t t;
	int sv[2];
	double t0, t1;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	p.fd = sv[1];
	p.qsz = qsz;
	p.asz = asz;
	p.n = n;
	pthread_create(&t, NULL, pp_peer, &p);
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (spc_writen(sv[0], buf, qsz) != 0 || spc_readn(sv[0], buf, asz) != 0)
			break;
	t1 = now_ns();
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return (t1 - t0) / (double)n;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/rump-bench-remote.XXXXXX", path[256], url[300];
	static char data[4096], buf[4096];
	double lg[RUNS], rg[RUNS], pg[RUNS], lr[RUNS], rr[RUNS], pr[RUNS];
	long n = argc > 2 ? atol(argv[2]) : 20000;
	uint64_t a[5];
	struct spc c;
	long rv, fd, rfd;
	pid_t spid;

	if (argc < 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: %s /abs/path/to/rump_server [iterations]\n", argv[0]);
		return 2;
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/sock", dir);
	snprintf(url, sizeof(url), "unix://%s", path);
	{
		const char *args[] = { url, NULL };

		if (spc_run_server(argv[1], args) != 0)
			return 1;
	}
	if (spc_connect(&c, path) != 0 || spc_guest(&c, "bench") != 0)
		return 1;
	spid = spc_peer_pid(c.fd);

	/* The same file on both kernels: 4 KiB in tmpfs. */
	memset(data, 'b', sizeof(data));
	if (rump_init() != 0)
		return 1;
	fd = rump_sys_open("/f", RUMP_O_CREAT | RUMP_O_RDWR, 0644);
	rump_sys_write((int)fd, data, sizeof(data));
	a[0] = A("/f"); a[1] = RUMP_O_CREAT | RUMP_O_RDWR; a[2] = 0644;
	spc_syscall(&c, RUMP_SYS_open, a, 3, &rfd);
	a[0] = (uint64_t)rfd; a[1] = A(data); a[2] = sizeof(data);
	spc_syscall(&c, RUMP_SYS_write, a, 3, &rv);

	for (int r = 0; r < RUNS; r++) {
		double t0;
		long ln = n * 20;

		t0 = now_ns();
		for (long i = 0; i < ln; i++)
			rump_sys_getpid();
		lg[r] = (now_ns() - t0) / (double)ln;

		t0 = now_ns();
		for (long i = 0; i < n; i++)
			spc_syscall(&c, RUMP_SYS_getpid, NULL, 0, &rv);
		rg[r] = (now_ns() - t0) / (double)n;
		pg[r] = pingpong(SPW_HDRSZ, SPW_HDRSZ + SPW_SYSRESPSZ, n);

		t0 = now_ns();
		for (long i = 0; i < ln; i++)
			rump_sys_pread((int)fd, buf, sizeof(buf), 0);
		lr[r] = (now_ns() - t0) / (double)ln;

		a[0] = (uint64_t)rfd; a[1] = A(buf); a[2] = sizeof(buf); a[3] = 0; a[4] = 0;
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			spc_syscall(&c, RUMP_SYS_pread, a, 5, &rv);
		rr[r] = (now_ns() - t0) / (double)n;
		pr[r] = pingpong(SPW_HDRSZ + 40, SPW_HDRSZ + SPW_COPYDATASZ + sizeof(buf) + SPW_HDRSZ + SPW_SYSRESPSZ, n);
	}
	if (rv != (long)sizeof(buf) || memcmp(buf, data, sizeof(buf)) != 0)
		fprintf(stderr, "remote pread returned %ld\n", rv);

	printf("%-22s %12s %12s %16s %10s %10s\n", "call", "local ns", "remote ns", "unix ping-pong", "rem/local", "rem/pp");
	printf("%-22s %12.0f %12.0f %16.0f %10.1f %10.2f\n", "getpid", median(lg), median(rg), median(pg),
	    median(rg) / median(lg), median(rg) / median(pg));
	printf("%-22s %12.0f %12.0f %16.0f %10.1f %10.2f\n", "pread 4 KiB", median(lr), median(rr), median(pr),
	    median(rr) / median(lr), median(rr) / median(pr));

	/* For bench/run.sh and the report (Rump.Bench remote). */
	printf("getpid_local_ns=%.0f\ngetpid_remote_ns=%.0f\ngetpid_pingpong_ns=%.0f\n", median(lg), median(rg), median(pg));
	printf("pread4k_local_ns=%.0f\npread4k_remote_ns=%.0f\npread4k_pingpong_ns=%.0f\n", median(lr), median(rr), median(pr));

	kill(spid, SIGTERM);
	spc_wait_exit(spid);
	spc_close(&c);
	rmdir(dir);
	return 0;
}
