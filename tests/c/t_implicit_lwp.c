/*
 * Implicit lwps: a host thread that enters the kernel without a process context (the usual C
 * caller) borrows an lwp for the call, and nothing of it stays behind when the thread exits.
 * 20,000 short-lived threads, each making one system call, must not grow the process: the
 * resident size may rise by well under 4 MiB (it rose by about 80 MB when every such thread
 * kept an lwp for good). Also: the calls see the default process, a thread blocked in the
 * kernel holds on to its lwp while other bare threads come and go, and a thread that asked for
 * its lwp (rump_pub_lwproc_curlwp) keeps the same one across calls.
 */
#include <unistd.h>

#include "rtest.h"

#define NTHREADS	20000
#define BATCH		16
#define LIMIT_KIB	(4 * 1024)

static long
rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int bad;

static void *
once(void *arg)
{
	(void)arg;
	if (rump_sys_getpid() != 1)
		__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void
run_threads(int n)
{
	pthread_t t[BATCH];

	for (int i = 0; i < n; i += BATCH) {
		int k = n - i < BATCH ? n - i : BATCH;
		for (int j = 0; j < k; j++)
			if (pthread_create(&t[j], NULL, once, NULL) != 0) {
				perror("pthread_create");
				exit(1);
			}
		for (int j = 0; j < k; j++)
			pthread_join(t[j], NULL);
	}
}

static void
test_short_lived_threads_leave_nothing(void)
{
	/*
	 * Warm up only what every thread needs anyway (the C library's stack cache, the runtime's
	 * thread set-up): a long warm-up would hide a leak in the growth of the managed heap it causes.
	 */
	run_threads(BATCH * 4);
	long before = rss_kib();
	run_threads(NTHREADS);
	long after = rss_kib();
	printf("resident: %ld KiB before, %ld KiB after %d threads\n", before, after, NTHREADS);
	CHECK(before > 0 && after > 0, "VmRSS readable: %ld, %ld", before, after);
	CHECK(after - before < LIMIT_KIB,
	    "resident growth over %d short-lived threads: expected < %d KiB, got %ld KiB (%ld -> %ld)",
	    NTHREADS, LIMIT_KIB, after - before, before, after);
	EXPECT_EQ(__atomic_load_n(&bad, __ATOMIC_RELAXED), 0);
}

static int pipefd[2];
static char got;

static void *
reader(void *arg)
{
	(void)arg;
	if (rump_sys_read(pipefd[0], &got, 1) != 1)
		got = '?';
	return NULL;
}

static void
test_blocked_bare_thread_keeps_its_lwp(void)
{
	pthread_t r;

	EXPECT_OK(rump_sys_pipe2(pipefd, 0));
	EXPECT_EQ(pthread_create(&r, NULL, reader, NULL), 0);
	/* While the reader sleeps in the kernel on a borrowed lwp, others borrow and return theirs. */
	run_threads(500);
	EXPECT_EQ(__atomic_load_n(&bad, __ATOMIC_RELAXED), 0);
	EXPECT_EQ(rump_sys_write(pipefd[1], "x", 1), 1);
	pthread_join(r, NULL);
	EXPECT_EQ(got, 'x');
	rump_sys_close(pipefd[0]);
	rump_sys_close(pipefd[1]);
}

static void
test_bound_lwp_stays(void)
{
	struct lwp *l = rump_pub_lwproc_curlwp();

	CHECK(l != NULL, "rump_pub_lwproc_curlwp: expected an lwp, got NULL");
	EXPECT_EQ(rump_sys_getpid(), 1);
	CHECK(rump_pub_lwproc_curlwp() == l, "the thread's lwp changed between calls: %p, then %p",
	    (void *)l, (void *)rump_pub_lwproc_curlwp());
	rump_pub_lwproc_releaselwp();
	EXPECT_EQ(rump_sys_getpid(), 1);
}

int
main(void)
{
	if (rump_init() != 0) {
		fprintf(stderr, "rump_init failed\n");
		return 1;
	}
	test_short_lived_threads_leave_nothing();
	test_blocked_bare_thread_keeps_its_lwp();
	test_bound_lwp_stays();
	return rtest_done();
}
