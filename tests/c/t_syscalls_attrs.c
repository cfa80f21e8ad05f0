/*
 * Attributes through the C ABI: chmod/fchmod/fchmodat, chown/fchown/lchown/fchownat,
 * utimensat (explicit times, UTIME_NOW, UTIME_OMIT), access/faccessat for root and for an
 * ordinary user, umask, and the *at forms openat/fstatat with a directory descriptor and
 * with RUMP_AT_FDCWD.
 */
#include <time.h>

#include "rtest.h"

static void
test_chmod(void)
{
	struct rump_timespec past[2] = { { 5000, 0 }, { 5000, 0 } };
	struct rump_stat st;
	int fd, dfd;

	EXPECT_OK(rump_sys_mkdir("/a", 0755));
	EXPECT_OK(rtest_put("/a/f", "x", 1));
	EXPECT_OK(rump_sys_chmod("/a/f", 0600));
	EXPECT_MODE(xstat("/a/f").st_mode, RUMP_S_IFREG | 0600);
	/* The special bits are kept by root. */
	EXPECT_OK(rump_sys_chmod("/a/f", 04755));
	EXPECT_MODE(xstat("/a/f").st_mode, RUMP_S_IFREG | 04755);
	EXPECT_OK(rump_sys_chmod("/a/f", 02700));
	EXPECT_MODE(xstat("/a/f").st_mode, RUMP_S_IFREG | 02700);
	/* The file-type bits in the argument are ignored. */
	EXPECT_OK(rump_sys_chmod("/a/f", RUMP_S_IFDIR | 0640));
	EXPECT_MODE(xstat("/a/f").st_mode, RUMP_S_IFREG | 0640);
	/* chmod changes ctime, not mtime. */
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/f", past, 0));
	EXPECT_OK(rump_sys_chmod("/a/f", 0644));
	st = xstat("/a/f");
	EXPECT_EQ(st.st_mtim.tv_sec, 5000);
	CHECK(st.st_ctim.tv_sec > 5000, "ctime after chmod: expected now, got %lld", (long long)st.st_ctim.tv_sec);

	fd = EXPECT_OK(rump_sys_open("/a/f", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_fchmod(fd, 0604));
	EXPECT_MODE(xstat("/a/f").st_mode, RUMP_S_IFREG | 0604);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_fchmod(fd, 0644), EBADF);

	/* fchmodat relative to a directory, through a symlink. */
	EXPECT_OK(rump_sys_symlink("f", "/a/lf"));
	dfd = EXPECT_OK(rump_sys_open("/a", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_fchmodat(dfd, "lf", 0611, 0));
	EXPECT_MODE(xstat("/a/f").st_mode, RUMP_S_IFREG | 0611);
	EXPECT_OK(rump_sys_fchmodat(RUMP_AT_FDCWD, "/a/f", 0644, 0));
	EXPECT_MODE(xstat("/a/f").st_mode, RUMP_S_IFREG | 0644);
	EXPECT_ERR(rump_sys_fchmodat(dfd, "f", 0644, 0x4000), EINVAL);
	EXPECT_ERR(rump_sys_fchmodat(dfd, "none", 0644, 0), ENOENT);
	EXPECT_OK(rump_sys_close(dfd));
	EXPECT_ERR(rump_sys_chmod("/a/none", 0644), ENOENT);
	/* A directory's mode. */
	EXPECT_OK(rump_sys_chmod("/a", 01777));
	EXPECT_MODE(xstat("/a").st_mode, RUMP_S_IFDIR | 01777);
	EXPECT_OK(rump_sys_chmod("/a", 0755));
}

static void
test_chown(void)
{
	struct rump_stat st;
	int fd, dfd;

	EXPECT_OK(rtest_put("/a/o", "o", 1));
	EXPECT_OK(rump_sys_chown("/a/o", 1000, 100));
	st = xstat("/a/o");
	EXPECT_EQ(st.st_uid, 1000);
	EXPECT_EQ(st.st_gid, 100);
	/* (uid_t)-1 and (gid_t)-1 leave that id alone. */
	EXPECT_OK(rump_sys_chown("/a/o", (uid_t)-1, 200));
	st = xstat("/a/o");
	EXPECT_EQ(st.st_uid, 1000);
	EXPECT_EQ(st.st_gid, 200);
	EXPECT_OK(rump_sys_chown("/a/o", 1001, (gid_t)-1));
	st = xstat("/a/o");
	EXPECT_EQ(st.st_uid, 1001);
	EXPECT_EQ(st.st_gid, 200);

	fd = EXPECT_OK(rump_sys_open("/a/o", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_fchown(fd, 7, 8));
	st = xstat("/a/o");
	EXPECT_EQ(st.st_uid, 7);
	EXPECT_EQ(st.st_gid, 8);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_fchown(fd, 7, 8), EBADF);

	/* lchown changes the link; chown through the link changes the target. */
	EXPECT_OK(rump_sys_symlink("o", "/a/lo"));
	EXPECT_OK(rump_sys_lchown("/a/lo", 55, 66));
	st = xlstat("/a/lo");
	EXPECT_EQ(st.st_uid, 55);
	EXPECT_EQ(st.st_gid, 66);
	st = xstat("/a/o");
	EXPECT_EQ(st.st_uid, 7);
	EXPECT_EQ(st.st_gid, 8);
	EXPECT_OK(rump_sys_chown("/a/lo", 9, 10));
	st = xstat("/a/o");
	EXPECT_EQ(st.st_uid, 9);
	EXPECT_EQ(st.st_gid, 10);
	st = xlstat("/a/lo");
	EXPECT_EQ(st.st_uid, 55);
	/* lchown on a regular file is chown. */
	EXPECT_OK(rump_sys_lchown("/a/o", 11, 12));
	EXPECT_EQ(xstat("/a/o").st_uid, 11);

	/* fchownat with and without AT_SYMLINK_NOFOLLOW. */
	dfd = EXPECT_OK(rump_sys_open("/a", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_fchownat(dfd, "lo", 21, 22, RUMP_AT_SYMLINK_NOFOLLOW));
	EXPECT_EQ(xlstat("/a/lo").st_uid, 21);
	EXPECT_EQ(xstat("/a/o").st_uid, 11);
	EXPECT_OK(rump_sys_fchownat(dfd, "lo", 31, 32, 0));
	EXPECT_EQ(xstat("/a/o").st_uid, 31);
	EXPECT_EQ(xstat("/a/o").st_gid, 32);
	EXPECT_OK(rump_sys_fchownat(RUMP_AT_FDCWD, "/a/o", 0, 0, 0));
	EXPECT_EQ(xstat("/a/o").st_uid, 0);
	EXPECT_ERR(rump_sys_fchownat(dfd, "o", 0, 0, 0x1), EINVAL);
	EXPECT_OK(rump_sys_close(dfd));
	EXPECT_ERR(rump_sys_fchownat(dfd, "o", 0, 0, 0), EBADF);
	EXPECT_ERR(rump_sys_chown("/a/none", 0, 0), ENOENT);
	EXPECT_ERR(rump_sys_lchown("/a/none", 0, 0), ENOENT);
}

static int
ts_eq(struct rump_timespec a, long long sec, long nsec)
{
	return a.tv_sec == sec && a.tv_nsec == nsec;
}

static void
test_utimens(void)
{
	struct rump_timespec ts[2];
	struct rump_stat st, before;
	struct timespec host;
	int dfd;

	EXPECT_OK(rtest_put("/a/t", "t", 1));
	ts[0] = (struct rump_timespec){ 1234567890, 123456789 };
	ts[1] = (struct rump_timespec){ 987654321, 999999999 };
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/t", ts, 0));
	st = xstat("/a/t");
	CHECK(ts_eq(st.st_atim, 1234567890, 123456789), "atime: expected 1234567890.123456789, got %lld.%09ld",
	    (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	CHECK(ts_eq(st.st_mtim, 987654321, 999999999), "mtime: expected 987654321.999999999, got %lld.%09ld",
	    (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	before = st;

	/* UTIME_OMIT leaves one alone; UTIME_NOW sets it to now. */
	clock_gettime(CLOCK_REALTIME, &host);
	ts[0] = (struct rump_timespec){ 0, RUMP_UTIME_OMIT };
	ts[1] = (struct rump_timespec){ 0, RUMP_UTIME_NOW };
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/t", ts, 0));
	st = xstat("/a/t");
	CHECK(ts_eq(st.st_atim, 1234567890, 123456789), "atime after UTIME_OMIT: expected unchanged, got %lld.%09ld",
	    (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	CHECK(st.st_mtim.tv_sec >= host.tv_sec && st.st_mtim.tv_sec <= host.tv_sec + 5,
	    "mtime after UTIME_NOW: expected about %lld, got %lld", (long long)host.tv_sec, (long long)st.st_mtim.tv_sec);
	CHECK(st.st_ctim.tv_sec >= host.tv_sec, "ctime after utimensat: expected about %lld, got %lld",
	    (long long)host.tv_sec, (long long)st.st_ctim.tv_sec);
	ts[0] = (struct rump_timespec){ 0, RUMP_UTIME_NOW };
	ts[1] = (struct rump_timespec){ 42, RUMP_UTIME_OMIT };
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/t", ts, 0));
	st = xstat("/a/t");
	CHECK(st.st_atim.tv_sec >= host.tv_sec, "atime after UTIME_NOW: expected about %lld, got %lld",
	    (long long)host.tv_sec, (long long)st.st_atim.tv_sec);
	CHECK(st.st_mtim.tv_sec >= host.tv_sec, "mtime after UTIME_OMIT: expected the earlier now, got %lld",
	    (long long)st.st_mtim.tv_sec);
	/* Both omitted: nothing changes, not even ctime. */
	ts[0] = (struct rump_timespec){ 1, 1 };
	ts[1] = (struct rump_timespec){ 2, 2 };
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/t", ts, 0));
	before = xstat("/a/t");
	ts[0] = (struct rump_timespec){ 0, RUMP_UTIME_OMIT };
	ts[1] = (struct rump_timespec){ 0, RUMP_UTIME_OMIT };
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/t", ts, 0));
	st = xstat("/a/t");
	CHECK(ts_eq(st.st_atim, 1, 1) && ts_eq(st.st_mtim, 2, 2), "times after two UTIME_OMITs: expected 1.1 and 2.2, got %lld.%ld and %lld.%ld",
	    (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	CHECK(ts_eq(st.st_ctim, before.st_ctim.tv_sec, before.st_ctim.tv_nsec), "ctime after two UTIME_OMITs: expected unchanged");
	/* A NULL array means both now. */
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/t", NULL, 0));
	st = xstat("/a/t");
	CHECK(st.st_atim.tv_sec >= host.tv_sec && st.st_mtim.tv_sec >= host.tv_sec,
	    "times after utimensat(NULL): expected now (%lld), got %lld and %lld", (long long)host.tv_sec,
	    (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
	/* Out-of-range nanoseconds. */
	ts[0] = (struct rump_timespec){ 0, 1000000000 };
	ts[1] = (struct rump_timespec){ 0, 0 };
	EXPECT_ERR(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/t", ts, 0), EINVAL);
	ts[0] = (struct rump_timespec){ 0, -1 };
	EXPECT_ERR(rump_sys_utimensat(RUMP_AT_FDCWD, "/a/t", ts, 0), EINVAL);

	/* AT_SYMLINK_NOFOLLOW sets the link's times; without it the target's. */
	EXPECT_OK(rump_sys_symlink("t", "/a/lt"));
	dfd = EXPECT_OK(rump_sys_open("/a", RUMP_O_RDONLY));
	ts[0] = (struct rump_timespec){ 100, 0 };
	ts[1] = (struct rump_timespec){ 200, 0 };
	EXPECT_OK(rump_sys_utimensat(dfd, "lt", ts, RUMP_AT_SYMLINK_NOFOLLOW));
	EXPECT_EQ(xlstat("/a/lt").st_mtim.tv_sec, 200);
	CHECK(xstat("/a/t").st_mtim.tv_sec >= host.tv_sec, "target mtime after utimensat(NOFOLLOW) on the link: expected unchanged");
	ts[1] = (struct rump_timespec){ 300, 0 };
	EXPECT_OK(rump_sys_utimensat(dfd, "lt", ts, 0));
	EXPECT_EQ(xstat("/a/t").st_mtim.tv_sec, 300);
	EXPECT_EQ(xlstat("/a/lt").st_mtim.tv_sec, 200);
	EXPECT_ERR(rump_sys_utimensat(dfd, "lt", ts, 0x1), EINVAL);
	EXPECT_ERR(rump_sys_utimensat(dfd, "none", ts, 0), ENOENT);
	EXPECT_OK(rump_sys_close(dfd));
}

static void
test_access_root(void)
{
	int dfd;

	EXPECT_OK(rtest_put("/a/acc", "a", 1));
	EXPECT_OK(rump_sys_chmod("/a/acc", 0));
	/* Root reads and writes anything; executes only what has an x bit. */
	EXPECT_OK(rump_sys_access("/a/acc", RUMP_F_OK));
	EXPECT_OK(rump_sys_access("/a/acc", RUMP_R_OK | RUMP_W_OK));
	EXPECT_ERR(rump_sys_access("/a/acc", RUMP_X_OK), EACCES);
	EXPECT_OK(rump_sys_chmod("/a/acc", 0010));
	EXPECT_OK(rump_sys_access("/a/acc", RUMP_X_OK));
	EXPECT_OK(rump_sys_access("/a", RUMP_X_OK | RUMP_R_OK | RUMP_W_OK));
	EXPECT_ERR(rump_sys_access("/a/none", RUMP_F_OK), ENOENT);
	EXPECT_ERR(rump_sys_access("/a/acc", 0x80), EINVAL);

	dfd = EXPECT_OK(rump_sys_open("/a", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_faccessat(dfd, "acc", RUMP_R_OK, 0));
	EXPECT_OK(rump_sys_faccessat(RUMP_AT_FDCWD, "/a/acc", RUMP_X_OK, RUMP_AT_EACCESS));
	EXPECT_ERR(rump_sys_faccessat(dfd, "acc", RUMP_R_OK, 0x1), EINVAL);
	EXPECT_ERR(rump_sys_faccessat(dfd, "none", RUMP_F_OK, 0), ENOENT);
	/* A dangling symlink exists only with AT_SYMLINK_NOFOLLOW. */
	EXPECT_OK(rump_sys_symlink("nowhere", "/a/dl"));
	EXPECT_ERR(rump_sys_faccessat(dfd, "dl", RUMP_F_OK, 0), ENOENT);
	EXPECT_OK(rump_sys_faccessat(dfd, "dl", RUMP_F_OK, RUMP_AT_SYMLINK_NOFOLLOW));
	EXPECT_OK(rump_sys_close(dfd));
	EXPECT_ERR(rump_sys_faccessat(dfd, "acc", RUMP_F_OK, 0), EBADF);
}

static void
test_access_user(void)
{
	struct lwp *root = rump_pub_lwproc_curlwp();
	int fd;

	/* Files an ordinary user (1000, group 100) may or may not use. */
	EXPECT_OK(rump_sys_mkdir("/u", 0755));
	EXPECT_OK(rtest_put("/u/mine", "m", 1));
	EXPECT_OK(rump_sys_chown("/u/mine", 1000, 100));
	EXPECT_OK(rump_sys_chmod("/u/mine", 0640));
	EXPECT_OK(rtest_put("/u/group", "g", 1));
	EXPECT_OK(rump_sys_chown("/u/group", 0, 100));
	EXPECT_OK(rump_sys_chmod("/u/group", 0650));
	EXPECT_OK(rtest_put("/u/other", "o", 1));
	EXPECT_OK(rump_sys_chmod("/u/other", 0604));
	EXPECT_OK(rump_sys_mkdir("/u/noexec", 0754));
	EXPECT_OK(rtest_put("/u/noexec/f", "f", 1));

	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	EXPECT_OK(rump_sys_setgid(100));
	EXPECT_OK(rump_sys_setuid(1000));
	EXPECT_EQ(rump_sys_getuid(), 1000);

	/* Owner bits for the owner. */
	EXPECT_OK(rump_sys_access("/u/mine", RUMP_R_OK | RUMP_W_OK));
	EXPECT_ERR(rump_sys_access("/u/mine", RUMP_X_OK), EACCES);
	/* Group bits for a member of the group. */
	EXPECT_OK(rump_sys_access("/u/group", RUMP_R_OK | RUMP_X_OK));
	EXPECT_ERR(rump_sys_access("/u/group", RUMP_W_OK), EACCES);
	/* Other bits for everybody else. */
	EXPECT_OK(rump_sys_access("/u/other", RUMP_R_OK));
	EXPECT_ERR(rump_sys_access("/u/other", RUMP_W_OK), EACCES);
	EXPECT_ERR(rump_sys_faccessat(RUMP_AT_FDCWD, "/u/other", RUMP_W_OK, RUMP_AT_EACCESS), EACCES);
	/* A directory without search permission hides what is in it. */
	EXPECT_ERR(rump_sys_access("/u/noexec/f", RUMP_F_OK), EACCES);
	EXPECT_OK(rump_sys_access("/u/noexec", RUMP_R_OK));
	/* The checks apply to open too. */
	fd = EXPECT_OK(rump_sys_open("/u/mine", RUMP_O_RDWR));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_open("/u/other", RUMP_O_WRONLY), EACCES);
	EXPECT_ERR(rump_sys_open("/u/noexec/f", RUMP_O_RDONLY), EACCES);

	/* The owner may chmod, but not chown to someone else; others may do neither. */
	EXPECT_OK(rump_sys_chmod("/u/mine", 0600));
	EXPECT_ERR(rump_sys_chmod("/u/other", 0666), EPERM);
	EXPECT_ERR(rump_sys_chown("/u/mine", 1001, (gid_t)-1), EPERM);
	EXPECT_ERR(rump_sys_chown("/u/other", 1000, (gid_t)-1), EPERM);
	EXPECT_OK(rump_sys_chown("/u/mine", (uid_t)-1, 100));
	/* Explicit times need ownership; UTIME_NOW needs only write access. */
	struct rump_timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/u/mine", ts, 0));
	EXPECT_ERR(rump_sys_utimensat(RUMP_AT_FDCWD, "/u/other", ts, 0), EPERM);
	EXPECT_ERR(rump_sys_utimensat(RUMP_AT_FDCWD, "/u/other", NULL, 0), EACCES);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(root);

	EXPECT_MODE(xstat("/u/mine").st_mode, RUMP_S_IFREG | 0600);
	EXPECT_EQ(xstat("/u/mine").st_mtim.tv_sec, 1);
}

static void
test_umask(void)
{
	mode_t old;
	int fd;

	old = rump_sys_umask(027);
	EXPECT_MODE(old, 022);
	EXPECT_MODE(rump_sys_umask(027), 027);
	fd = EXPECT_OK(rump_sys_open("/a/um", RUMP_O_WRONLY | RUMP_O_CREAT, 0777));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_MODE(xstat("/a/um").st_mode, RUMP_S_IFREG | 0750);
	EXPECT_OK(rump_sys_mkdir("/a/umd", 0777));
	EXPECT_MODE(xstat("/a/umd").st_mode, RUMP_S_IFDIR | 0750);
	/* chmod is not masked. */
	EXPECT_OK(rump_sys_chmod("/a/um", 0777));
	EXPECT_MODE(xstat("/a/um").st_mode, RUMP_S_IFREG | 0777);
	rump_sys_umask(0);
	fd = EXPECT_OK(rump_sys_open("/a/um0", RUMP_O_WRONLY | RUMP_O_CREAT, 0666));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_MODE(xstat("/a/um0").st_mode, RUMP_S_IFREG | 0666);
	/* Only the permission bits are kept. */
	EXPECT_MODE(rump_sys_umask(0170777), 0);
	EXPECT_MODE(rump_sys_umask(022), 0777);
	/* An existing file keeps its mode when opened with O_CREAT. */
	fd = EXPECT_OK(rump_sys_open("/a/um0", RUMP_O_WRONLY | RUMP_O_CREAT, 0600));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_MODE(xstat("/a/um0").st_mode, RUMP_S_IFREG | 0666);
}

static void
test_at_forms(void)
{
	struct rump_stat st;
	char buf[16];
	int dfd, fd, ffd;

	EXPECT_OK(rump_sys_mkdir("/at", 0755));
	EXPECT_OK(rump_sys_mkdir("/at/d", 0755));
	EXPECT_OK(rtest_put("/at/d/f", "in d", 4));
	EXPECT_OK(rump_sys_symlink("f", "/at/d/lf"));
	dfd = EXPECT_OK(rump_sys_open("/at/d", RUMP_O_RDONLY | RUMP_O_DIRECTORY));

	fd = EXPECT_OK(rump_sys_openat(dfd, "f", RUMP_O_RDONLY));
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(fd, buf, sizeof buf), 4);
	EXPECT_STR(buf, "in d");
	EXPECT_OK(rump_sys_close(fd));
	fd = EXPECT_OK(rump_sys_openat(dfd, "new", RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_EXCL, 0640));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_MODE(xstat("/at/d/new").st_mode, RUMP_S_IFREG | 0640);
	/* Absolute paths ignore the descriptor; ".." is relative to it. */
	fd = EXPECT_OK(rump_sys_openat(dfd, "/at/d/f", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_close(fd));
	fd = EXPECT_OK(rump_sys_openat(dfd, "..", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_ino, xstat("/at").st_ino);
	EXPECT_OK(rump_sys_close(fd));
	/* AT_FDCWD is the cwd. */
	EXPECT_OK(rump_sys_chdir("/at/d"));
	fd = EXPECT_OK(rump_sys_openat(RUMP_AT_FDCWD, "f", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_OK(rump_sys_fstatat(RUMP_AT_FDCWD, "f", &st, 0));
	EXPECT_EQ(st.st_ino, xstat("/at/d/f").st_ino);
	EXPECT_OK(rump_sys_chdir("/"));

	/* fstatat follows links unless told not to. */
	EXPECT_OK(rump_sys_fstatat(dfd, "lf", &st, 0));
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFREG);
	EXPECT_EQ(st.st_size, 4);
	EXPECT_OK(rump_sys_fstatat(dfd, "lf", &st, RUMP_AT_SYMLINK_NOFOLLOW));
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFLNK);
	EXPECT_EQ(st.st_size, 1);
	EXPECT_ERR(rump_sys_fstatat(dfd, "lf", &st, RUMP_AT_REMOVEDIR), EINVAL);
	EXPECT_ERR(rump_sys_fstatat(dfd, "none", &st, 0), ENOENT);

	/* A file descriptor is not a directory to start from; a bad one is EBADF. */
	ffd = EXPECT_OK(rump_sys_openat(dfd, "f", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_openat(ffd, "x", RUMP_O_RDONLY), ENOTDIR);
	EXPECT_ERR(rump_sys_fstatat(ffd, "x", &st, 0), ENOTDIR);
	EXPECT_ERR(rump_sys_faccessat(ffd, "x", RUMP_F_OK, 0), ENOTDIR);
	EXPECT_ERR(rump_sys_unlinkat(ffd, "x", 0), ENOTDIR);
	EXPECT_ERR(rump_sys_readlinkat(ffd, "x", buf, sizeof buf), ENOTDIR);
	EXPECT_OK(rump_sys_close(ffd));
	EXPECT_ERR(rump_sys_openat(ffd, "f", RUMP_O_RDONLY), EBADF);
	EXPECT_ERR(rump_sys_fstatat(-7, "f", &st, 0), EBADF);
	/* ...but an absolute path needs no valid descriptor. */
	EXPECT_OK(rump_sys_fstatat(-7, "/at/d/f", &st, 0));
	EXPECT_OK(rump_sys_close(dfd));
}

int
main(void)
{
	rtest_init();
	/*
	 * Run as a process of our own: the calling thread's implicit lwp would be released by
	 * the first rfork, and the tests switch back to the lwp they saved.
	 */
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	test_chmod();
	test_chown();
	test_utimens();
	test_access_root();
	test_access_user();
	test_umask();
	test_at_forms();
	return rtest_done();
}
