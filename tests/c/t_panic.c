/*
 * Contained panics through the C ABI. With RUMP_CRASHME=1 the kernel has the test-only nodes
 * debug.crashme.panic (writing it panics the kernel) and debug.crashme.fault (arms a one-shot
 * exception at an entry point). A panic stops the kernel instance, not the process: the call
 * fails with ENXIO, a thread asleep in the kernel wakes with ENXIO, later calls fail with ENXIO,
 * rump_pub_panicstr() has the message, and rump_init() boots a new kernel. Each C entry point
 * other than the system calls (rump_pub_*, rump_syscall) catches an exception in kernel code the
 * same way, and so do the hypervisor's upcalls and block I/O completions.
 */
#include <unistd.h>

#include "rtest.h"
#include "rsysctl.h"

/* FaultPoint in librump/rumpkern/FaultInject.cs. */
enum { FP_UPCALL = 1, FP_KTHREAD = 2, FP_BIODONE = 3, FP_EXPORT = 4 };

static int
arm(int point)
{
	return rsysctl_byname("debug.crashme.fault", NULL, NULL, &point, sizeof point);
}

/* The kernel panicked with a message containing what; then boot a fresh one. */
static void
expect_panicked(const char *what, const char *how)
{
	const char *msg = rump_pub_panicstr();

	CHECK(msg != NULL && strstr(msg, what) != NULL, "%s: expected a panic mentioning \"%s\", got %s",
	    how, what, msg ? msg : "(no panic)");
	EXPECT_ERR(rump_sys_getpid(), ENXIO);
	EXPECT_EQ(rump_init(), 0);
	CHECK(rump_pub_panicstr() == NULL, "after rump_init: a new kernel, no panic");
	EXPECT_EQ(rump_sys_getpid(), 1);
}

static int pfd[2];
static ssize_t readres;
static int readerr;

static void *
reader(void *arg)
{
	char c;

	(void)arg;
	errno = 0;
	readres = rump_sys_read(pfd[0], &c, 1);
	readerr = errno;
	return NULL;
}

static void
test_panic_wakes_sleepers(void)
{
	int one = 1;
	pthread_t t;

	CHECK(rump_pub_panicstr() == NULL, "a fresh kernel has no panic");
	EXPECT_OK(rump_sys_pipe2(pfd, 0));
	EXPECT_EQ(pthread_create(&t, NULL, reader, NULL), 0);
	/* Whether the reader has gone to sleep or not, the panic must end its call. */
	EXPECT_ERR(rsysctl_byname("debug.crashme.panic", NULL, NULL, &one, sizeof one), ENXIO);
	pthread_join(t, NULL);
	EXPECT_EQ(readres, -1);
	EXPECT_EQ(readerr, ENXIO);
	expect_panicked("crashme", "debug.crashme.panic");
}

static void
test_exports_contain_exceptions(void)
{
	int64_t rv;

	EXPECT_OK(arm(FP_EXPORT));
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), RUMP_ENXIO);
	expect_panicked("fault injected at Export", "rump_pub_lwproc_rfork");

	EXPECT_OK(arm(FP_EXPORT));
	EXPECT_EQ(rump_pub_lwproc_newlwp(1), RUMP_ENXIO);
	expect_panicked("fault injected at Export", "rump_pub_lwproc_newlwp");

	EXPECT_OK(arm(FP_EXPORT));
	rump_pub_lwproc_switch(NULL);
	expect_panicked("fault injected at Export", "rump_pub_lwproc_switch");

	EXPECT_OK(arm(FP_EXPORT));
	CHECK(rump_pub_lwproc_curlwp() == NULL, "rump_pub_lwproc_curlwp after a fault: expected NULL");
	expect_panicked("fault injected at Export", "rump_pub_lwproc_curlwp");

	/* releaselwp of a thread with no lwp: the fault comes first. */
	EXPECT_OK(arm(FP_EXPORT));
	rump_pub_lwproc_releaselwp();
	expect_panicked("fault injected at Export", "rump_pub_lwproc_releaselwp");

	EXPECT_OK(arm(FP_EXPORT));
	EXPECT_EQ(rump_syscall(RUMP_SYS_getpid, NULL, 0, &rv), RUMP_ENXIO);
	expect_panicked("fault injected at Export", "rump_syscall");

	EXPECT_OK(arm(FP_EXPORT));
	EXPECT_EQ(rump_pub_etfs_register("/dev/x", "/nonexistent", RUMP_ETFS_BLK), RUMP_ENXIO);
	expect_panicked("fault injected at Export", "rump_pub_etfs_register");

	EXPECT_OK(arm(FP_EXPORT));
	EXPECT_EQ(rump_pub_etfs_remove("/dev/x"), RUMP_ENXIO);
	expect_panicked("fault injected at Export", "rump_pub_etfs_remove");
}

/* Block I/O on a host file: the hypervisor's upcalls and the completion, each faulting once. */
static void
test_io_paths_contain_exceptions(void)
{
	char path[] = "/tmp/rump-t_panic-XXXXXX";
	char buf[512];
	int hfd = mkstemp(path);

	CHECK(hfd >= 0, "mkstemp: %s", strerror(errno));
	CHECK(ftruncate(hfd, 1 << 20) == 0, "ftruncate: %s", strerror(errno));
	close(hfd);
	for (int point = FP_UPCALL; point <= FP_BIODONE; point += FP_BIODONE - FP_UPCALL) {
		EXPECT_EQ(rump_pub_etfs_register("/dev/disk", path, RUMP_ETFS_CHR), 0);
		int fd = EXPECT_OK(rump_sys_open("/dev/disk", RUMP_O_RDONLY));
		EXPECT_OK(arm(point));
		EXPECT_ERR(rump_sys_pread(fd, buf, sizeof buf, 0), ENXIO);
		expect_panicked(point == FP_UPCALL ? "hyp_backend" : "biodone", point == FP_UPCALL ? "upcall" : "biodone");
	}
	unlink(path);
}

int
main(void)
{
	setenv("RUMP_CRASHME", "1", 1);
	if (rump_init() != 0) {
		fprintf(stderr, "rump_init failed\n");
		return 1;
	}
	test_panic_wakes_sleepers();
	test_exports_contain_exceptions();
	test_io_paths_contain_exceptions();
	return rtest_done();
}
