/*
 * The kernel-wide calls through the C ABI: rump_getversion, __sysctl (reading kern.ostype,
 * kern.hostname and friends, sizing, short buffers, writing, errors), rump_syscall() by
 * number (results and NetBSD errno values), and reboot(RUMP_RB_HALT) — last, because every
 * call after it fails.
 */
#include "rtest.h"

/* The hostname the kernel boots with, from the RUMP_HOSTNAME parameter. */
#define HOSTNAME "rtest-host"

static void
test_sysctl_read(void)
{
	int mib[3] = { RUMP_CTL_KERN, RUMP_KERN_OSTYPE };
	char buf[256];
	size_t len;
	int v;

	len = sizeof buf;
	memset(buf, 'X', sizeof buf);
	EXPECT_OK(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0));
	EXPECT_STR(buf, "NetBSD");
	EXPECT_EQ(len, 7);

	mib[1] = RUMP_KERN_HOSTNAME;
	len = sizeof buf;
	EXPECT_OK(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0));
	EXPECT_STR(buf, HOSTNAME);
	EXPECT_EQ(len, strlen(HOSTNAME) + 1);

	mib[1] = RUMP_KERN_OSRELEASE;
	len = sizeof buf;
	EXPECT_OK(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0));
	CHECK(len > 1 && buf[0] >= '1' && buf[0] <= '9', "kern.osrelease: expected a release number, got \"%s\"", buf);

	/* An integer node: a 32-bit int. */
	mib[1] = RUMP_KERN_OSREV;
	len = sizeof v;
	v = -1;
	EXPECT_OK(rump_sys___sysctl(mib, 2, &v, &len, NULL, 0));
	EXPECT_EQ(len, sizeof(int));
	CHECK(v > 0, "kern.osrevision: expected > 0, got %d", v);

	/* oldp NULL asks for the size only. */
	mib[1] = RUMP_KERN_OSTYPE;
	len = 0;
	EXPECT_OK(rump_sys___sysctl(mib, 2, NULL, &len, NULL, 0));
	EXPECT_EQ(len, 7);
	/* A short buffer: ENOMEM, the part that fits, and the size needed. */
	len = 3;
	memset(buf, 0, sizeof buf);
	EXPECT_ERR(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0), ENOMEM);
	EXPECT_MEM(buf, "Net", 3);
	EXPECT_EQ(len, 7);

	/* Errors: unknown names, an interior node, bad lengths. */
	mib[1] = 9999;
	len = sizeof buf;
	EXPECT_ERR(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0), ENOENT);
	mib[0] = 4242;
	EXPECT_ERR(rump_sys___sysctl(mib, 1, buf, &len, NULL, 0), ENOENT);
	mib[0] = RUMP_CTL_KERN;
	len = sizeof buf;
	/* NetBSD's sysctl_lookup: a directory can be queried, not read. */
	EXPECT_ERR(rump_sys___sysctl(mib, 1, buf, &len, NULL, 0), EINVAL);
	EXPECT_ERR(rump_sys___sysctl(mib, 0, buf, &len, NULL, 0), EINVAL);
	int deep[13] = { RUMP_CTL_KERN };
	EXPECT_ERR(rump_sys___sysctl(deep, 13, buf, &len, NULL, 0), EINVAL);
	/* A leaf has no children: sysctl_locate's ENOTDIR. */
	mib[1] = RUMP_KERN_OSTYPE;
	mib[2] = 1;
	EXPECT_ERR(rump_sys___sysctl(mib, 3, buf, &len, NULL, 0), ENOTDIR);
}

static void
test_sysctl_write(void)
{
	int mib[2] = { RUMP_CTL_KERN, RUMP_KERN_HOSTNAME };
	char buf[300], old[64];
	size_t len, olen;

	/* Set, reading the old value in the same call. */
	olen = sizeof old;
	EXPECT_OK(rump_sys___sysctl(mib, 2, old, &olen, "renamed", 8));
	EXPECT_STR(old, HOSTNAME);
	len = sizeof buf;
	EXPECT_OK(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0));
	EXPECT_STR(buf, "renamed");
	EXPECT_EQ(len, 8);
	/* Too long for the node (MAXHOSTNAMELEN 256). */
	memset(buf, 'h', sizeof buf);
	buf[sizeof buf - 1] = '\0';
	EXPECT_ERR(rump_sys___sysctl(mib, 2, NULL, NULL, buf, sizeof buf), EINVAL);
	len = sizeof buf;
	EXPECT_OK(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0));
	EXPECT_STR(buf, "renamed");
	/* Read-only nodes. */
	int ost[2] = { RUMP_CTL_KERN, RUMP_KERN_OSTYPE };
	EXPECT_ERR(rump_sys___sysctl(ost, 2, NULL, NULL, "Linux", 6), EPERM);
	len = sizeof buf;
	EXPECT_OK(rump_sys___sysctl(ost, 2, buf, &len, NULL, 0));
	EXPECT_STR(buf, "NetBSD");

	/* Non-root may read but not write. */
	struct lwp *me = rump_pub_lwproc_curlwp();
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	EXPECT_OK(rump_sys_setuid(1000));
	len = sizeof buf;
	EXPECT_OK(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0));
	EXPECT_STR(buf, "renamed");
	EXPECT_ERR(rump_sys___sysctl(mib, 2, NULL, NULL, "user", 5), EPERM);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(me);
	EXPECT_OK(rump_sys___sysctl(mib, 2, NULL, NULL, HOSTNAME, sizeof HOSTNAME));
	len = sizeof buf;
	EXPECT_OK(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0));
	EXPECT_STR(buf, HOSTNAME);
}

static void
test_syscall_by_number(void)
{
	int64_t args[6], rv;
	char buf[16];
	int fd;

	rv = -1;
	EXPECT_EQ(rump_syscall(RUMP_SYS_getpid, NULL, 0, &rv), 0);
	EXPECT_EQ(rv, rump_sys_getpid());
	rv = -1;
	EXPECT_EQ(rump_syscall(RUMP_SYS_getuid, NULL, 0, &rv), 0);
	EXPECT_EQ(rv, 0);

	/* open/write/pread/close with their arguments in 64-bit slots. */
	args[0] = (int64_t)(intptr_t)"/bynum";
	args[1] = RUMP_O_RDWR | RUMP_O_CREAT;
	args[2] = 0600;
	EXPECT_EQ(rump_syscall(RUMP_SYS_open, args, 3 * sizeof args[0], &rv), 0);
	fd = (int)rv;
	CHECK(fd >= 0, "rump_syscall(open): expected a descriptor, got %lld", (long long)rv);
	args[0] = fd;
	args[1] = (int64_t)(intptr_t)"by number";
	args[2] = 9;
	EXPECT_EQ(rump_syscall(RUMP_SYS_write, args, 3 * sizeof args[0], &rv), 0);
	EXPECT_EQ(rv, 9);
	/*
	 * NetBSD's argument structure of pread has a PAD slot before the offset
	 * (fd, buf, nbyte, PAD, offset), as NetBSD's generated client stubs fill it:
	 * a garbage PAD must not be taken for the offset.
	 */
	memset(buf, 0, sizeof buf);
	args[1] = (int64_t)(intptr_t)buf;
	args[2] = 2;
	args[3] = 0x5a5a5a5a;
	args[4] = 3;
	EXPECT_EQ(rump_syscall(RUMP_SYS_pread, args, 5 * sizeof args[0], &rv), 0);
	EXPECT_EQ(rv, 2);
	EXPECT_STR(buf, "nu");
	/* A block without room for the offset is too short. */
	EXPECT_EQ(rump_syscall(RUMP_SYS_pread, args, 4 * sizeof args[0], &rv), RUMP_EINVAL);
	/* lseek(fd, PAD, offset, whence). */
	args[1] = 0x5a5a;
	args[2] = 5;
	args[3] = RUMP_SEEK_SET;
	EXPECT_EQ(rump_syscall(RUMP_SYS_lseek, args, 4 * sizeof args[0], &rv), 0);
	EXPECT_EQ(rv, 5);
	EXPECT_EQ(rump_syscall(RUMP_SYS_close, args, sizeof args[0], &rv), 0);
	/* The file is really there for the ordinary calls. */
	EXPECT_EQ(rtest_get("/bynum", buf, sizeof buf), 9);
	EXPECT_STR(buf, "by number");

	/* Errors come back as NetBSD values, not through errno. */
	args[0] = fd;
	EXPECT_EQ(rump_syscall(RUMP_SYS_close, args, sizeof args[0], &rv), RUMP_EBADF);
	args[0] = (int64_t)(intptr_t)"/none";
	args[1] = RUMP_O_RDONLY;
	args[2] = 0;
	EXPECT_EQ(rump_syscall(RUMP_SYS_open, args, 3 * sizeof args[0], &rv), RUMP_ENOENT);
	args[0] = (int64_t)(intptr_t)"/loopA";
	EXPECT_OK(rump_sys_symlink("loopB", "/loopA"));
	EXPECT_OK(rump_sys_symlink("loopA", "/loopB"));
	EXPECT_EQ(rump_syscall(RUMP_SYS_open, args, 3 * sizeof args[0], &rv), RUMP_ELOOP);
	/* A number with no system call, and an argument block too short. */
	EXPECT_EQ(rump_syscall(1 /* exit: not in a rump kernel */, args, sizeof args, &rv), RUMP_ENOSYS);
	EXPECT_EQ(rump_syscall(9999, args, sizeof args, &rv), RUMP_ENOSYS);
	EXPECT_EQ(rump_syscall(RUMP_SYS_open, args, 8, &rv), RUMP_EINVAL);
}

static void
test_reboot(void)
{
	struct rump_stat st;
	int fd, r;

	fd = EXPECT_OK(rump_sys_open("/bynum", RUMP_O_RDONLY));
	/* Halting returns to the caller. */
	EXPECT_OK(rump_sys_reboot(RUMP_RB_HALT, NULL));
	/* Every later call fails (the kernel answers ENXIO). */
	errno = 0;
	r = rump_sys_getpid();
	CHECK(r == -1 && errno != 0, "getpid after halt: expected -1 with an errno, got %d errno %d", r, errno);
	errno = 0;
	r = rump_sys_stat("/bynum", &st);
	CHECK(r == -1 && errno != 0, "stat after halt: expected -1 with an errno, got %d errno %d", r, errno);
	errno = 0;
	r = rump_sys_close(fd);
	CHECK(r == -1 && errno != 0, "close after halt: expected -1 with an errno, got %d errno %d", r, errno);
	int64_t rv;
	CHECK(rump_syscall(RUMP_SYS_getpid, NULL, 0, &rv) != 0, "rump_syscall(getpid) after halt: expected an errno, got 0");
}

int
main(void)
{
	setenv("RUMP_HOSTNAME", HOSTNAME, 1);
	rtest_init();
	EXPECT_EQ(rump_getversion(), 17);
	/* A second rump_init is a no-op that succeeds. */
	EXPECT_EQ(rump_init(), 0);
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	test_sysctl_read();
	test_sysctl_write();
	test_syscall_by_number();
	test_reboot();
	return rtest_done();
}
