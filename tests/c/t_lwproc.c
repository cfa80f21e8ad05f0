/*
 * Processes and lwps through the C ABI (rump_pub_lwproc_*): rfork with each descriptor
 * table flag, pids and parents, switching between lwps, newlwp, releaselwp ending a
 * process (and closing its files), and what each process keeps for itself: credentials
 * (get/set uid/gid), umask and cwd.
 */
#include "rtest.h"

struct thread_arg {
	pid_t pid;
	int fd;		/* in: a descriptor of that process; out: one the thread opened */
	pid_t seen_pid;
	char data[8];
	int err;
};

/* A second host thread joins process pid as a new lwp and uses its descriptor table. */
static void *
lwp_thread(void *arg)
{
	struct thread_arg *a = arg;

	a->err = rump_pub_lwproc_newlwp(a->pid);
	if (a->err != 0)
		return NULL;
	a->seen_pid = rump_sys_getpid();
	if (rump_sys_pread(a->fd, a->data, 4, 0) != 4)
		a->err = errno;
	a->fd = rump_sys_open("/lw/file", RUMP_O_RDONLY);
	rump_pub_lwproc_releaselwp();
	return NULL;
}

static void
test_fd_tables(void)
{
	struct rump_stat st;
	char buf[16];
	pid_t pdef, pp, pc;
	struct lwp *lp, *lc1;
	int fd, fd2, r;

	/* The calling thread starts in the default process (NetBSD's pid 1). */
	pdef = rump_sys_getpid();
	EXPECT_EQ(pdef, 1);

	/* A process of our own: its lwp stays valid while we make children. */
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	pp = rump_sys_getpid();
	CHECK(pp != pdef && pp > 1, "pid after rfork: expected a new pid, got %d (default %d)", pp, pdef);
	EXPECT_EQ(rump_sys_getppid(), pdef);
	lp = rump_pub_lwproc_curlwp();
	CHECK(lp != NULL, "curlwp after rfork: expected an lwp, got NULL");
	EXPECT_OK(rump_sys_mkdir("/lw", 0755));
	EXPECT_OK(rtest_put("/lw/file", "0123456789", 10));
	fd = EXPECT_OK(rump_sys_open("/lw/file", RUMP_O_RDONLY));

	/* RUMP_RFCFDG: an empty table. */
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	lc1 = rump_pub_lwproc_curlwp();
	CHECK(lc1 != lp, "curlwp after a second rfork: expected a new lwp, got the parent's");
	pc = rump_sys_getpid();
	CHECK(pc != pp && pc != pdef, "child pid: expected distinct from %d and %d, got %d", pp, pdef, pc);
	EXPECT_EQ(rump_sys_getppid(), pp);
	EXPECT_ERR(rump_sys_fstat(fd, &st), EBADF);
	EXPECT_ERR(rump_sys_read(fd, buf, 1), EBADF);
	/* The first descriptor of an empty table is 0. */
	fd2 = EXPECT_OK(rump_sys_open("/lw/file", RUMP_O_RDONLY));
	EXPECT_EQ(fd2, 0);

	/* Back to the parent: its descriptor is untouched, the child's is not there. */
	rump_pub_lwproc_switch(lp);
	EXPECT_EQ(rump_pub_lwproc_curlwp(), lp);
	EXPECT_EQ(rump_sys_getpid(), pp);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, 10);
	if (fd2 != fd)
		EXPECT_ERR(rump_sys_fstat(fd2, &st), EBADF);

	/* RUMP_RFFDG: a copy, sharing the open files (and their offsets) as fork does. */
	EXPECT_EQ(rump_sys_lseek(fd, 2, RUMP_SEEK_SET), 2);
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	struct lwp *lc2 = rump_pub_lwproc_curlwp();
	EXPECT_EQ(rump_sys_getppid(), pp);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(fd, buf, 3), 3);
	EXPECT_STR(buf, "234");
	/* Closing in the child leaves the parent's descriptor open. */
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_fstat(fd, &st), EBADF);
	/* A descriptor the child opens is its own. */
	int cfd = EXPECT_OK(rump_sys_open("/lw/file", RUMP_O_RDONLY));
	rump_pub_lwproc_switch(lp);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 5);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(fd, buf, 2), 2);
	EXPECT_STR(buf, "56");
	if (cfd != fd)
		EXPECT_ERR(rump_sys_fstat(cfd, &st), EBADF);

	/* 0: the table is shared; what the child opens or closes the parent sees. */
	EXPECT_EQ(rump_pub_lwproc_rfork(0), 0);
	struct lwp *lc3 = rump_pub_lwproc_curlwp();
	int sfd = EXPECT_OK(rump_sys_open("/lw/file", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_close(fd));
	rump_pub_lwproc_switch(lp);
	EXPECT_OK(rump_sys_fstat(sfd, &st));
	EXPECT_ERR(rump_sys_fstat(fd, &st), EBADF);
	fd = sfd;

	/* releaselwp ends a single-lwp process: newlwp into it is ESRCH. */
	rump_pub_lwproc_switch(lc1);
	EXPECT_EQ(rump_sys_getpid(), pc);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(lp);
	EXPECT_EQ(rump_pub_lwproc_newlwp(pc), RUMP_ESRCH);
	EXPECT_EQ(rump_pub_lwproc_curlwp(), lp);
	/* Ending the shared-table child leaves the shared table open for the parent. */
	rump_pub_lwproc_switch(lc3);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(lp);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	rump_pub_lwproc_switch(lc2);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(lp);

	/* Invalid flags: the errno is the return value, and nothing changes. */
	r = rump_pub_lwproc_rfork(RUMP_RFFDG | RUMP_RFCFDG);
	EXPECT_EQ(r, RUMP_EINVAL);
	r = rump_pub_lwproc_rfork(0x100);
	EXPECT_EQ(r, RUMP_EINVAL);
	EXPECT_EQ(rump_pub_lwproc_curlwp(), lp);
	EXPECT_EQ(rump_sys_getpid(), pp);
	EXPECT_EQ(rump_pub_lwproc_newlwp(29999), RUMP_ESRCH);
	EXPECT_EQ(rump_pub_lwproc_newlwp(-1), RUMP_ESRCH);
	EXPECT_EQ(rump_pub_lwproc_curlwp(), lp);

	/* newlwp: a second lwp in the same process shares its table and pid. */
	EXPECT_EQ(rump_pub_lwproc_newlwp(pp), 0);
	struct lwp *lp2 = rump_pub_lwproc_curlwp();
	CHECK(lp2 != lp, "newlwp: expected a new lwp, got the same one");
	EXPECT_EQ(rump_sys_getpid(), pp);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	/* Releasing one of two lwps does not end the process. */
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(lp);
	EXPECT_EQ(rump_pub_lwproc_newlwp(pp), 0);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(lp);
	EXPECT_OK(rump_sys_fstat(fd, &st));

	/* An lwp of this process on another host thread. */
	struct thread_arg ta = { .pid = pp, .fd = fd };
	pthread_t t;
	EXPECT_EQ(pthread_create(&t, NULL, lwp_thread, &ta), 0);
	pthread_join(t, NULL);
	EXPECT_EQ(ta.err, 0);
	EXPECT_EQ(ta.seen_pid, pp);
	EXPECT_MEM(ta.data, "0123", 4);
	CHECK(ta.fd >= 0, "open on another lwp of the process: expected a descriptor, got %d", ta.fd);
	EXPECT_OK(rump_sys_fstat(ta.fd, &st));
	EXPECT_OK(rump_sys_close(ta.fd));
	EXPECT_OK(rump_sys_close(fd));
}

static void
test_exit_closes(void)
{
	struct lwp *lp = rump_pub_lwproc_curlwp();
	char buf[8];
	int p[2];

	/* The child holds the only other write end; its exit makes the reader see EOF. */
	EXPECT_OK(rump_sys_pipe2(p, 0));
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_EQ(rump_sys_write(p[1], "bye", 3), 3);
	struct lwp *child = rump_pub_lwproc_curlwp();
	rump_pub_lwproc_switch(lp);
	EXPECT_OK(rump_sys_close(p[1]));
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(p[0], buf, sizeof buf), 3);
	EXPECT_STR(buf, "bye");
	rump_pub_lwproc_switch(child);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(lp);
	EXPECT_EQ(rump_sys_read(p[0], buf, sizeof buf), 0);
	EXPECT_OK(rump_sys_close(p[0]));
}

static void
test_credentials(void)
{
	struct lwp *lp = rump_pub_lwproc_curlwp();

	EXPECT_EQ(rump_sys_getuid(), 0);
	EXPECT_EQ(rump_sys_geteuid(), 0);
	EXPECT_EQ(rump_sys_getgid(), 0);
	EXPECT_EQ(rump_sys_getegid(), 0);

	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	struct lwp *child = rump_pub_lwproc_curlwp();
	/* A child inherits root; root's setgid/setuid set real, effective and saved ids. */
	EXPECT_EQ(rump_sys_getuid(), 0);
	EXPECT_OK(rump_sys_setgid(50));
	EXPECT_EQ(rump_sys_getgid(), 50);
	EXPECT_EQ(rump_sys_getegid(), 50);
	EXPECT_OK(rump_sys_setuid(1000));
	EXPECT_EQ(rump_sys_getuid(), 1000);
	EXPECT_EQ(rump_sys_geteuid(), 1000);
	/* Now an ordinary user: its own ids are fine, others EPERM. */
	EXPECT_OK(rump_sys_setuid(1000));
	EXPECT_OK(rump_sys_setgid(50));
	EXPECT_ERR(rump_sys_setuid(0), EPERM);
	EXPECT_ERR(rump_sys_setgid(0), EPERM);
	EXPECT_EQ(rump_sys_getuid(), 1000);
	EXPECT_EQ(rump_sys_getgid(), 50);
	/* Files it creates are its own. */
	EXPECT_ERR(rump_sys_mkdir("/lw/pub", 0777), EACCES);
	rump_pub_lwproc_switch(lp);
	EXPECT_OK(rump_sys_mkdir("/lw/pub", 0777));
	EXPECT_OK(rump_sys_chmod("/lw/pub", 0777));
	rump_pub_lwproc_switch(child);
	EXPECT_OK(rtest_put("/lw/pub/mine", "m", 1));
	struct rump_stat st;
	EXPECT_OK(rump_sys_stat("/lw/pub/mine", &st));
	EXPECT_EQ(st.st_uid, 1000);
	EXPECT_EQ(st.st_gid, 0); /* BSD: a new file takes its directory's group */
	/* Its children inherit the user. */
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	EXPECT_EQ(rump_sys_getuid(), 1000);
	EXPECT_EQ(rump_sys_getegid(), 50);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(child);
	rump_pub_lwproc_releaselwp();

	/* The parent's credentials never changed. */
	rump_pub_lwproc_switch(lp);
	EXPECT_EQ(rump_sys_getuid(), 0);
	EXPECT_EQ(rump_sys_geteuid(), 0);
	EXPECT_EQ(rump_sys_getgid(), 0);
	EXPECT_EQ(rump_sys_getegid(), 0);
}

static void
test_umask_cwd(void)
{
	struct lwp *lp = rump_pub_lwproc_curlwp();
	char buf[64];

	EXPECT_MODE(rump_sys_umask(077), 022);
	EXPECT_OK(rump_sys_mkdir("/lw/c", 0755));
	EXPECT_OK(rump_sys_chdir("/lw"));

	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	struct lwp *child = rump_pub_lwproc_curlwp();
	/* Inherited at rfork... */
	EXPECT_MODE(rump_sys_umask(0), 077);
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/lw");
	/* ...and then the child's own. */
	EXPECT_OK(rump_sys_chdir("c"));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/lw/c");
	rump_pub_lwproc_switch(lp);
	EXPECT_MODE(rump_sys_umask(077), 077);
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/lw");
	rump_pub_lwproc_switch(child);
	EXPECT_MODE(rump_sys_umask(0), 0);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(lp);
	EXPECT_MODE(rump_sys_umask(022), 077);
	EXPECT_OK(rump_sys_chdir("/"));

	/* With no context, the next call runs in the default process. */
	rump_pub_lwproc_switch(NULL);
	EXPECT_EQ(rump_sys_getpid(), 1);
	rump_pub_lwproc_switch(lp);
	CHECK(rump_sys_getpid() != 1, "getpid after switching back: expected our process, got %d", rump_sys_getpid());
}

static void
test_many_processes(void)
{
	struct lwp *lp = rump_pub_lwproc_curlwp();
	struct lwp *kids[50];
	pid_t pids[50];
	int i, j;

	/* Fifty live children: distinct pids, all children of this process. */
	for (i = 0; i < 50; i++) {
		rump_pub_lwproc_switch(lp);
		EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
		kids[i] = rump_pub_lwproc_curlwp();
		pids[i] = rump_sys_getpid();
	}
	rump_pub_lwproc_switch(lp);
	pid_t me = rump_sys_getpid();
	for (i = 0; i < 50; i++)
		for (j = i + 1; j < 50; j++)
			CHECK(pids[i] != pids[j], "pids of live children %d and %d: expected distinct, both %d", i, j, pids[i]);
	for (i = 0; i < 50; i++) {
		rump_pub_lwproc_switch(kids[i]);
		EXPECT_EQ(rump_sys_getppid(), me);
		rump_pub_lwproc_releaselwp();
	}
	rump_pub_lwproc_switch(lp);
	for (i = 0; i < 50; i++)
		EXPECT_EQ(rump_pub_lwproc_newlwp(pids[i]), RUMP_ESRCH);
}

int
main(void)
{
	rtest_init();
	test_fd_tables();
	test_exit_closes();
	test_credentials();
	test_umask_cwd();
	test_many_processes();
	return rtest_done();
}
