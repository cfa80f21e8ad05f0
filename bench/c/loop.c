/*
 * loop: one benchmark operation in a tight loop from C, for profilers (perf record,
 * valgrind --tool=callgrind) and as a cross-check of the BenchmarkDotNet numbers.
 *
 *   loop OP [threads] [iterations per thread]
 *
 * OP: getversion (a call that does not enter the kernel), getpid, fstat, stat, openclose,
 * pread4k, orc (open, read 4 KiB, close: thread i on its own file), and host-getpid,
 * host-stat, host-orc for the host kernel. Prints the time per operation and the aggregate
 * operations per second.
 *
 * Both kernels use the same path, /dev/shm/rump-loop-PID/scaleN: four components and two mount
 * crossings (into /dev, then /dev/shm). On the host those are devtmpfs and tmpfs; in the rump
 * kernel two tmpfs are mounted there first.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#define MAXT 16

static const char *op;
static int opn;
static const char *const ops[] = { "getversion", "getpid", "fstat", "stat", "openclose", "pread4k", "orc",
	"host-getpid", "host-stat", "host-orc" };
static long iters;
static char benchdir[64];	/* the same path in both kernels */
static pthread_barrier_t start;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void *worker(void *arg)
{
	int t = (int)(long)arg;
	char path[96], hpath[96];
	static __thread char buf[4096];
	struct rump_stat st;
	struct stat hst;
	snprintf(path, sizeof path, "%s/scale%d", benchdir, t);
	snprintf(hpath, sizeof hpath, "%s/scale%d", benchdir, t);
	char first[96];
	snprintf(first, sizeof first, "%s/scale0", benchdir);
	int fd = rump_sys_open(first, RUMP_O_RDONLY);
	pthread_barrier_wait(&start);
	for (long i = 0; i < iters; i++) {
		if (opn == 0) {
			if (rump_getversion() <= 0) die("getversion");
		} else if (opn == 1) {
			if (rump_sys_getpid() <= 0) die("getpid");
		} else if (opn == 2) {
			if (rump_sys_fstat(fd, &st) != 0) die("fstat");
		} else if (opn == 3) {
			if (rump_sys_stat(path, &st) != 0) die("stat");
		} else if (opn == 4) {
			int f = rump_sys_open(path, RUMP_O_RDONLY);
			if (f < 0) die("open");
			rump_sys_close(f);
		} else if (opn == 5) {
			if (rump_sys_pread(fd, buf, 4096, 0) != 4096) die("pread");
		} else if (opn == 6) {
			int f = rump_sys_open(path, RUMP_O_RDONLY);
			if (f < 0 || rump_sys_read(f, buf, 4096) != 4096) die("open/read");
			rump_sys_close(f);
		} else if (opn == 7) {
			if (syscall(SYS_getpid) <= 0) die("getpid");
		} else if (opn == 8) {
			if (stat(hpath, &hst) != 0) die("stat");
		} else if (opn == 9) {
			int f = open(hpath, O_RDONLY);
			if (f < 0 || read(f, buf, 4096) != 4096) die("open/read");
			close(f);
		}
	}
	pthread_barrier_wait(&start);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: loop OP [threads] [iterations per thread]\n");
		return 2;
	}
	op = argv[1];
	opn = -1;
	for (int i = 0; i < (int)(sizeof ops / sizeof ops[0]); i++)
		if (strcmp(op, ops[i]) == 0)
			opn = i;
	if (opn < 0) {
		fprintf(stderr, "loop: unknown op %s\n", op);
		return 2;
	}
	int nt = argc > 2 ? atoi(argv[2]) : 1;
	iters = argc > 3 ? atol(argv[3]) : 1000000;
	if (nt < 1 || nt > MAXT)
		nt = 1;
	if (rump_init() != 0)
		die("rump_init");
	snprintf(benchdir, sizeof benchdir, "/dev/shm/rump-loop-%d", (int)getpid());
	if (mkdir(benchdir, 0755) != 0)
		die("mkdir host dir");
	/* In rump, tmpfs on /dev and /dev/shm as the host has them, then the same directory. */
	struct rump_tmpfs_args ta = { .ta_version = RUMP_TMPFS_ARGS_VERSION, .ta_root_mode = 0755 };
	rump_sys_mkdir("/dev", 0755);
	if (rump_sys_mount("tmpfs", "/dev", 0, &ta, sizeof ta) != 0)
		die("mount rump /dev");
	ta.ta_root_mode = 01777;
	if (rump_sys_mkdir("/dev/shm", 0755) != 0 || rump_sys_mount("tmpfs", "/dev/shm", 0, &ta, sizeof ta) != 0)
		die("mount rump /dev/shm");
	if (rump_sys_mkdir(benchdir, 0755) != 0)
		die("mkdir rump dir");
	static char data[4096];
	memset(data, 'x', sizeof data);
	for (int t = 0; t < nt; t++) {
		char path[96];
		snprintf(path, sizeof path, "%s/scale%d", benchdir, t);
		int fd = rump_sys_open(path, RUMP_O_CREAT | RUMP_O_RDWR, 0644);
		if (fd < 0 || rump_sys_write(fd, data, sizeof data) != sizeof data)
			die("create rump file");
		rump_sys_close(fd);
		fd = open(path, O_CREAT | O_RDWR, 0644);
		if (fd < 0 || write(fd, data, sizeof data) != sizeof data)
			die("create host file");
		close(fd);
	}
	pthread_barrier_init(&start, NULL, nt + 1);
	pthread_t th[MAXT];
	for (int t = 0; t < nt; t++)
		pthread_create(&th[t], NULL, worker, (void *)(long)t);
	pthread_barrier_wait(&start);
	double t0 = now();
	pthread_barrier_wait(&start);
	double dt = now() - t0;
	for (int t = 0; t < nt; t++)
		pthread_join(th[t], NULL);
	double ops = (double)iters * nt;
	printf("%s threads=%d: %.1f ns/op (wall / all ops), %.0f kops/s\n", op, nt, dt / ops * 1e9, ops / dt / 1e3);
	for (int t = 0; t < nt; t++) {
		char path[96];
		snprintf(path, sizeof path, "%s/scale%d", benchdir, t);
		unlink(path);
	}
	rmdir(benchdir);
	return 0;
}
