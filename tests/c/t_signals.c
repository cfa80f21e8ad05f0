/*
 * Signals as NetBSD's rump kernels have them, through the C ABI: kill(2) checks its target and
 * permission; the RECORD model keeps a signal pending in the process, where it makes
 * interruptible sleeps (a pipe read) end with EINTR unless the lwp blocks it (sigprocmask), and
 * sigpending shows it; RAISE raises it in this (host) process; IGNORE drops it; PANIC panics the
 * kernel, which then fails every call with ENXIO until rump_init boots a new one.
 */
#include <signal.h>

#include "rtest.h"

static int pfd[2];
static struct lwp *child;
static ssize_t readres;
static int readerr;
static char got;

static void *
reader(void *arg)
{
	(void)arg;
	rump_pub_lwproc_switch(child);
	errno = 0;
	readres = rump_sys_read(pfd[0], &got, 1);
	readerr = errno;
	rump_pub_lwproc_switch(NULL);
	return NULL;
}

static int
sigismember_rump(const struct rump_sigset *s, int sig)
{
	return (s->__bits[(sig - 1) / 32] >> ((sig - 1) % 32)) & 1;
}

static void
test_record_interrupts_sleeps(void)
{
	struct rump_sigset set, old;
	pthread_t t;
	int pid;

	rump_boot_setsigmodel(RUMP_SIGMODEL_RECORD);
	/* A child process whose lwp reads an empty pipe. */
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	EXPECT_OK(rump_sys_pipe2(pfd, 0));
	pid = rump_sys_getpid();
	child = rump_pub_lwproc_curlwp();
	rump_pub_lwproc_switch(NULL);

	EXPECT_EQ(rump_sys_kill(pid, 0), 0);
	EXPECT_EQ(pthread_create(&t, NULL, reader, NULL), 0);
	/* Before or after the reader sleeps: the pending signal ends its read with EINTR. */
	EXPECT_OK(rump_sys_kill(pid, RUMP_SIGUSR1));
	pthread_join(t, NULL);
	EXPECT_EQ(readres, -1);
	EXPECT_EQ(readerr, EINTR);

	rump_pub_lwproc_switch(child);
	EXPECT_OK(rump_sys_sigpending(&set));
	CHECK(sigismember_rump(&set, RUMP_SIGUSR1), "sigpending: SIGUSR1 not pending after kill");
	/* Blocked, it no longer interrupts: the read waits for data. */
	memset(&set, 0, sizeof set);
	set.__bits[0] = 1u << (RUMP_SIGUSR1 - 1);
	EXPECT_OK(rump_sys_sigprocmask(RUMP_SIG_BLOCK, &set, &old));
	EXPECT_EQ(old.__bits[0], 0u);
	EXPECT_EQ(rump_sys_write(pfd[1], "d", 1), 1);
	EXPECT_EQ(rump_sys_read(pfd[0], &got, 1), 1);
	EXPECT_EQ(got, 'd');
	EXPECT_OK(rump_sys_sigprocmask(RUMP_SIG_SETMASK, NULL, &old));
	EXPECT_EQ(old.__bits[0], 1u << (RUMP_SIGUSR1 - 1));
	EXPECT_ERR(rump_sys_sigprocmask(99, &set, NULL), EINVAL);
	rump_pub_lwproc_releaselwp();
}

static void
test_kill_errors(void)
{
	EXPECT_ERR(rump_sys_kill(29999, RUMP_SIGUSR1), ESRCH);
	EXPECT_ERR(rump_sys_kill(1, 99), EINVAL);
	EXPECT_ERR(rump_sys_kill(1, -1), EINVAL);
	/* An ordinary user may not signal root's process. */
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	EXPECT_OK(rump_sys_setuid(1000));
	EXPECT_ERR(rump_sys_kill(1, RUMP_SIGUSR1), EPERM);
	EXPECT_OK(rump_sys_kill(rump_sys_getpid(), 0));
	rump_pub_lwproc_releaselwp();
}

static volatile sig_atomic_t raised;

static void
onusr2(int sig)
{
	(void)sig;
	raised++;
}

static void
test_raise_and_ignore(void)
{
	signal(SIGUSR2, onusr2);
	rump_boot_setsigmodel(RUMP_SIGMODEL_RAISE);
	EXPECT_OK(rump_sys_kill(1, RUMP_SIGUSR2));
	EXPECT_EQ(raised, 1);
	rump_boot_setsigmodel(RUMP_SIGMODEL_IGNORE);
	EXPECT_OK(rump_sys_kill(1, RUMP_SIGUSR2));
	EXPECT_EQ(raised, 1);
}

static void
test_panic_model(void)
{
	rump_boot_setsigmodel(RUMP_SIGMODEL_PANIC);
	EXPECT_OK(rump_sys_kill(1, RUMP_SIGSYS));	/* SIGSYS is the one exception */
	EXPECT_ERR(rump_sys_kill(1, RUMP_SIGUSR1), ENXIO);
	const char *msg = rump_pub_panicstr();
	CHECK(msg != NULL && strstr(msg, "unhandled signal") != NULL, "panic message: %s", msg ? msg : "(none)");
	EXPECT_ERR(rump_sys_getpid(), ENXIO);
	rump_boot_setsigmodel(RUMP_SIGMODEL_RAISE);
	EXPECT_EQ(rump_init(), 0);
	EXPECT_EQ(rump_sys_getpid(), 1);
	CHECK(rump_pub_panicstr() == NULL, "a new kernel has no panic message");
}

int
main(void)
{
	if (rump_init() != 0) {
		fprintf(stderr, "rump_init failed\n");
		return 1;
	}
	test_record_interrupts_sleeps();
	test_kill_errors();
	test_raise_and_ignore();
	test_panic_model();
	return rtest_done();
}
