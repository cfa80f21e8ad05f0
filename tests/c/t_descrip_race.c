/*
 * The descriptor table under threads of one process (they share it): dup2 onto a number
 * that another thread closes and a third allocates with F_DUPFD must neither leak nor lose
 * a file reference (a leaked one keeps the file system busy, so the tmpfs would not
 * unmount); and status-flag updates by different threads (F_SETFL, FIONBIO) must not undo
 * each other.
 */
#include <time.h>

#include "rtest.h"

#define TARGET		40
#define RACE_SECONDS	3.0

static pid_t race_pid;
static int race_src;
static volatile int race_stop;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

struct racer {
	int kind;		/* 0: dup2, 1: close, 2: F_DUPFD */
	long calls, ok;
	int err;		/* newlwp's result */
	int bad;		/* an unexpected result */
	long badrv;
	int baderrno;
};

static void *
racer_thread(void *arg)
{
	struct racer *r = arg;

	r->err = rump_pub_lwproc_newlwp(race_pid);
	if (r->err != 0)
		return NULL;
	while (!race_stop) {
		long rv;
		switch (r->kind) {
		case 0:
			rv = rump_sys_dup2(race_src, TARGET);
			if (rv != TARGET && !r->bad) {
				r->bad = 1;
				r->badrv = rv;
				r->baderrno = errno;
			}
			break;
		case 1:
			rv = rump_sys_close(TARGET);
			/* EBADF when it is already closed: both are right. */
			if (rv != 0 && errno != EBADF && !r->bad) {
				r->bad = 1;
				r->badrv = rv;
				r->baderrno = errno;
			}
			break;
		default:
			rv = rump_sys_fcntl(race_src, RUMP_F_DUPFD, TARGET);
			if (rv < TARGET && !r->bad) {
				r->bad = 1;
				r->badrv = rv;
				r->baderrno = errno;
			}
			/* Keep the table small; TARGET itself is left to the others. */
			if (rv > TARGET)
				rump_sys_close((int)rv);
			break;
		}
		r->calls++;
		r->ok += rv >= 0;
	}
	rump_pub_lwproc_releaselwp();
	return NULL;
}

static void
test_dup2_close_dupfd(void)
{
	struct racer r[3];
	pthread_t t[3];
	struct rump_tmpfs_args a = {
		.ta_version = RUMP_TMPFS_ARGS_VERSION,
		.ta_size_max = 1 << 20,
		.ta_root_mode = 0755,
	};

	EXPECT_OK(rump_sys_mkdir("/race", 0755));
	EXPECT_OK(rump_sys_mount("tmpfs", "/race", 0, &a, sizeof a));
	/* A process of its own, whose one table the three threads share. */
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	race_pid = rump_sys_getpid();
	race_src = EXPECT_OK(rump_sys_open("/race/f", RUMP_O_RDWR | RUMP_O_CREAT, 0644));

	race_stop = 0;
	for (int i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof r[i]);
		r[i].kind = i;
		EXPECT_EQ(pthread_create(&t[i], NULL, racer_thread, &r[i]), 0);
	}
	double end = now() + RACE_SECONDS;
	while (now() < end) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	race_stop = 1;
	for (int i = 0; i < 3; i++) {
		static const char *what[] = { "dup2", "close", "F_DUPFD" };
		char b[96];
		EXPECT_EQ(pthread_join(t[i], NULL), 0);
		EXPECT_EQ(r[i].err, 0);
		CHECK(!r[i].bad, "%s(%d) racing: expected success (close: or EBADF), got %ld errno %s",
		    what[i], TARGET, r[i].badrv, rtest_errname(r[i].baderrno, b, sizeof b));
		CHECK(r[i].calls > 1000 && r[i].ok > 0, "%s: expected many calls, some succeeding, got %ld calls, %ld ok",
		    what[i], r[i].calls, r[i].ok);
		printf("%s: %ld calls, %ld succeeded\n", what[i], r[i].calls, r[i].ok);
	}

	/* Every descriptor closed: nothing may hold the file system. */
	for (int fd = 0; fd < 1024; fd++)
		rump_sys_close(fd);
	struct rump_stat st;
	EXPECT_ERR(rump_sys_fstat(TARGET, &st), EBADF);
	EXPECT_OK(rump_sys_unmount("/race", 0));
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(NULL);
}

/*
 * Two lwps change different status flags of one open pipe: one toggles O_APPEND with
 * F_SETFL (passing the O_NONBLOCK it reads, as a program does), the other toggles
 * O_NONBLOCK with FIONBIO. O_APPEND is only ever changed by the first, so right after each
 * F_SETFL the first must read back exactly what it set: an update of the other that wrote
 * back a stale O_APPEND would show here. A lost update needs the two to run at the same instant
 * (the window is a few instructions), so the test runs until FIONBIO calls have landed between
 * the first thread's set and read-back often enough, or FLAG_MAX_SECONDS have passed.
 */
#define FLAG_OVERLAPS	3000000
#define FLAG_MAX_SECONDS 10.0

static pid_t flag_pid;
static int flag_fd;
static volatile int flag_stop;
static volatile long flag_bops;		/* FIONBIO calls done */

struct flagger {
	int kind;		/* 0: F_SETFL O_APPEND, 1: FIONBIO */
	long iters, lost, overlaps;
	int err, callerr;
	int first_want, first_got;
};

static void *
flag_thread(void *arg)
{
	struct flagger *f = arg;

	f->err = rump_pub_lwproc_newlwp(flag_pid);
	if (f->err != 0)
		return NULL;
	for (long i = 0; !flag_stop; i++) {
		if (f->kind == 0) {
			int fl = rump_sys_fcntl(flag_fd, RUMP_F_GETFL);
			int want = (i & 1) ? RUMP_O_APPEND : 0;
			long b0 = flag_bops;
			if (fl == -1 || rump_sys_fcntl(flag_fd, RUMP_F_SETFL, (fl & ~RUMP_O_APPEND) | want) == -1) {
				f->callerr++;
				continue;
			}
			int got = rump_sys_fcntl(flag_fd, RUMP_F_GETFL);
			f->overlaps += flag_bops != b0;
			if (got == -1)
				f->callerr++;
			else if ((got & RUMP_O_APPEND) != want) {
				if (f->lost++ == 0) {
					f->first_want = want;
					f->first_got = got;
				}
			}
		} else {
			int on = (int)(i & 1);
			if (rump_sys_ioctl(flag_fd, RUMP_FIONBIO, &on) == -1)
				f->callerr++;
			flag_bops++;
		}
		f->iters++;
	}
	rump_pub_lwproc_releaselwp();
	return NULL;
}

static void
test_flag_updates(void)
{
	struct flagger f[2];
	pthread_t t[2];
	int p[2];

	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	flag_pid = rump_sys_getpid();
	EXPECT_OK(rump_sys_pipe2(p, 0));
	flag_fd = p[1];
	flag_stop = 0;
	flag_bops = 0;
	for (int i = 0; i < 2; i++) {
		memset(&f[i], 0, sizeof f[i]);
		f[i].kind = i;
		EXPECT_EQ(pthread_create(&t[i], NULL, flag_thread, &f[i]), 0);
	}
	double end = now() + FLAG_MAX_SECONDS;
	while (now() < end && f[0].overlaps < FLAG_OVERLAPS && f[0].lost == 0) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	flag_stop = 1;
	for (int i = 0; i < 2; i++) {
		EXPECT_EQ(pthread_join(t[i], NULL), 0);
		EXPECT_EQ(f[i].err, 0);
		EXPECT_EQ(f[i].callerr, 0);
		CHECK(f[i].iters > 1000, "flag thread %d: expected many iterations, got %ld", i, f[i].iters);
	}
	printf("F_SETFL: %ld iterations (%ld with FIONBIO calls in between), FIONBIO: %ld\n",
	    f[0].iters, f[0].overlaps, f[1].iters);
	CHECK(f[0].lost == 0,
	    "O_APPEND read back right after F_SETFL: expected what was set every time, got it lost %ld times "
	    "(first: set 0x%x, read 0x%x)", f[0].lost, f[0].first_want, f[0].first_got);
	/* The read/write mode bits are never touched by either. */
	int fl = EXPECT_OK(rump_sys_fcntl(p[1], RUMP_F_GETFL));
	EXPECT_EQ(fl & RUMP_O_ACCMODE, RUMP_O_WRONLY);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_OK(rump_sys_close(p[1]));
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(NULL);
}

int
main(void)
{
	rtest_init();
	test_dup2_close_dupfd();
	test_flag_updates();
	return rtest_done();
}
