/*
 * Names through the C ABI: hard links (link/linkat) and their counts, unlink/unlinkat with
 * open files, symbolic links (symlink/symlinkat/readlink/readlinkat/lstat) followed at the
 * end and in the middle of paths, and renames of files over existing names.
 */
#include "rtest.h"

static void
test_hard_links(void)
{
	char buf[32];
	struct rump_stat st;
	int fd, dfd;

	EXPECT_OK(rump_sys_mkdir("/h", 0755));
	EXPECT_OK(rump_sys_mkdir("/h/sub", 0755));
	EXPECT_OK(rtest_put("/h/orig", "shared", 6));
	EXPECT_EQ(xstat("/h/orig").st_nlink, 1);

	EXPECT_OK(rump_sys_link("/h/orig", "/h/l1"));
	EXPECT_OK(rump_sys_link("/h/l1", "/h/sub/l2"));
	EXPECT_EQ(xstat("/h/orig").st_nlink, 3);
	EXPECT_EQ(xstat("/h/sub/l2").st_ino, xstat("/h/orig").st_ino);
	/* A directory's link count does not change for file links. */
	EXPECT_EQ(xstat("/h").st_nlink, 3);

	/* Data written through one name shows through the others. */
	fd = EXPECT_OK(rump_sys_open("/h/sub/l2", RUMP_O_WRONLY));
	EXPECT_EQ(rump_sys_pwrite(fd, "SH", 2, 0), 2);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_EQ(rtest_get("/h/orig", buf, sizeof buf), 6);
	EXPECT_STR(buf, "SHared");

	/* Linking changes ctime, not mtime. */
	struct rump_timespec past[2] = { { 1000, 0 }, { 1000, 0 } };
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/h/orig", past, 0));
	EXPECT_OK(rump_sys_link("/h/orig", "/h/l3"));
	st = xstat("/h/orig");
	EXPECT_EQ(st.st_mtim.tv_sec, 1000);
	CHECK(st.st_ctim.tv_sec > 1000, "ctime after link: expected now, got %lld", (long long)st.st_ctim.tv_sec);
	EXPECT_EQ(st.st_nlink, 4);

	/* unlink drops one name at a time; an open file lives on after its last name. */
	EXPECT_OK(rump_sys_unlink("/h/l3"));
	EXPECT_OK(rump_sys_unlink("/h/orig"));
	EXPECT_EQ(xstat("/h/l1").st_nlink, 2);
	fd = EXPECT_OK(rump_sys_open("/h/l1", RUMP_O_RDWR));
	EXPECT_OK(rump_sys_unlink("/h/l1"));
	dfd = EXPECT_OK(rump_sys_open("/h/sub", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_unlinkat(dfd, "l2", 0));
	EXPECT_ERR(rump_sys_stat("/h/sub/l2", &st), ENOENT);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_nlink, 0);
	EXPECT_EQ(rump_sys_pwrite(fd, "still", 5, 0), 5);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_pread(fd, buf, sizeof buf, 0), 6);
	EXPECT_STR(buf, "stilld");
	EXPECT_OK(rump_sys_close(fd));

	/* linkat with descriptors, and with and without AT_SYMLINK_FOLLOW on a symlink. */
	EXPECT_OK(rtest_put("/h/target", "t", 1));
	EXPECT_OK(rump_sys_symlink("target", "/h/sym"));
	EXPECT_OK(rump_sys_linkat(dfd, "../target", dfd, "viaat", 0));
	EXPECT_EQ(xstat("/h/sub/viaat").st_ino, xstat("/h/target").st_ino);
	EXPECT_OK(rump_sys_linkat(RUMP_AT_FDCWD, "/h/sym", dfd, "symlink-itself", 0));
	EXPECT_MODE(xlstat("/h/sub/symlink-itself").st_mode & RUMP_S_IFMT, RUMP_S_IFLNK);
	EXPECT_EQ(xlstat("/h/sub/symlink-itself").st_ino, xlstat("/h/sym").st_ino);
	EXPECT_EQ(xlstat("/h/sym").st_nlink, 2);
	EXPECT_OK(rump_sys_linkat(RUMP_AT_FDCWD, "/h/sym", dfd, "followed", RUMP_AT_SYMLINK_FOLLOW));
	EXPECT_MODE(xlstat("/h/sub/followed").st_mode & RUMP_S_IFMT, RUMP_S_IFREG);
	EXPECT_EQ(xstat("/h/target").st_nlink, 3);
	EXPECT_ERR(rump_sys_linkat(RUMP_AT_FDCWD, "/h/target", dfd, "bad", 0x1), EINVAL);
	EXPECT_ERR(rump_sys_linkat(123, "x", dfd, "bad", 0), EBADF);

	/* Errors: existing target, missing source, directories. */
	EXPECT_ERR(rump_sys_link("/h/target", "/h/sym"), EEXIST);
	EXPECT_ERR(rump_sys_link("/h/none", "/h/x"), ENOENT);
	EXPECT_ERR(rump_sys_link("/h/target", "/h/nodir/x"), ENOENT);
	EXPECT_ERR(rump_sys_link("/h/sub", "/h/sublink"), EPERM);
	EXPECT_ERR(rump_sys_unlink("/h/none"), ENOENT);
	EXPECT_ERR(rump_sys_unlinkat(dfd, "none", 0), ENOENT);
	EXPECT_OK(rump_sys_close(dfd));
	EXPECT_ERR(rump_sys_unlinkat(dfd, "followed", 0), EBADF);
}

static void
test_symlinks(void)
{
	char buf[1100];
	struct rump_stat st;
	int dfd;

	EXPECT_OK(rump_sys_mkdir("/s", 0755));
	EXPECT_OK(rump_sys_mkdir("/s/real", 0755));
	EXPECT_OK(rump_sys_mkdir("/s/real/deeper", 0755));
	EXPECT_OK(rtest_put("/s/real/deeper/f", "found", 5));

	/* readlink returns the target without a NUL; readlink on a non-link is EINVAL. */
	EXPECT_OK(rump_sys_symlink("real/deeper", "/s/rel"));
	EXPECT_OK(rump_sys_symlink("/s/real", "/s/abs"));
	memset(buf, 'X', sizeof buf);
	EXPECT_EQ(rump_sys_readlink("/s/rel", buf, sizeof buf), 11);
	EXPECT_MEM(buf, "real/deeper", 11);
	EXPECT_EQ(buf[11], 'X');
	/* A short buffer truncates. */
	memset(buf, 'X', sizeof buf);
	EXPECT_EQ(rump_sys_readlink("/s/rel", buf, 4), 4);
	EXPECT_MEM(buf, "realX", 5);
	EXPECT_ERR(rump_sys_readlink("/s/real", buf, sizeof buf), EINVAL);
	EXPECT_ERR(rump_sys_readlink("/s/none", buf, sizeof buf), ENOENT);

	/* lstat sees the link itself: S_IFLNK, size is the target's length. */
	st = xlstat("/s/rel");
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFLNK);
	EXPECT_EQ(st.st_size, 11);
	EXPECT_EQ(st.st_nlink, 1);
	EXPECT_MODE(xstat("/s/rel").st_mode & RUMP_S_IFMT, RUMP_S_IFDIR);
	EXPECT_EQ(xstat("/s/rel").st_ino, xstat("/s/real/deeper").st_ino);

	/* Followed in the middle of a path, relative and absolute. */
	EXPECT_EQ(rtest_get("/s/rel/f", buf, sizeof buf), 5);
	EXPECT_STR(buf, "found");
	EXPECT_EQ(rtest_get("/s/abs/deeper/f", buf, sizeof buf), 5);
	EXPECT_OK(rump_sys_symlink("../abs/deeper", "/s/real/up"));
	EXPECT_EQ(rtest_get("/s/real/up/f", buf, sizeof buf), 5);
	/* A link with a trailing slash is followed even by lstat. */
	EXPECT_MODE(xlstat("/s/rel/").st_mode & RUMP_S_IFMT, RUMP_S_IFDIR);
	/* ".." after a link is the parent of the link's target. */
	EXPECT_EQ(xstat("/s/rel/..").st_ino, xstat("/s/real").st_ino);
	/* chdir through a link, and getcwd gives the real path. */
	EXPECT_OK(rump_sys_chdir("/s/rel"));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/s/real/deeper");
	EXPECT_OK(rump_sys_chdir("/"));

	/* A dangling link: stat fails, lstat works; creating through it makes the target. */
	EXPECT_OK(rump_sys_symlink("nothing-here", "/s/dangling"));
	EXPECT_ERR(rump_sys_stat("/s/dangling", &st), ENOENT);
	EXPECT_OK(rump_sys_lstat("/s/dangling", &st));
	int fd = EXPECT_OK(rump_sys_open("/s/dangling", RUMP_O_WRONLY | RUMP_O_CREAT, 0644));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_MODE(xstat("/s/nothing-here").st_mode & RUMP_S_IFMT, RUMP_S_IFREG);
	/* O_EXCL never follows: the link exists. */
	EXPECT_ERR(rump_sys_open("/s/dangling", RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_EXCL, 0644), EEXIST);
	/* O_NOFOLLOW on a link fails (NetBSD: EFTYPE, which has no Linux errno). */
	errno = 0;
	CHECK(rump_sys_open("/s/rel", RUMP_O_RDONLY | RUMP_O_NOFOLLOW) == -1 && errno != 0,
	    "open(O_NOFOLLOW) of a symlink: expected -1, got success or errno 0 (errno %d)", errno);

	/* An empty target is allowed to exist but names nothing. */
	errno = 0;
	if (rump_sys_symlink("", "/s/empty") == 0)
		EXPECT_ERR(rump_sys_stat("/s/empty", &st), ENOENT);
	else
		CHECK(errno == ENOENT, "symlink(\"\"): expected success or ENOENT, got errno %d", errno);

	/* symlink over an existing name; unlink removes the link, not the target. */
	EXPECT_ERR(rump_sys_symlink("x", "/s/rel"), EEXIST);
	EXPECT_ERR(rump_sys_symlink("x", "/s/real"), EEXIST);
	EXPECT_OK(rump_sys_unlink("/s/abs"));
	EXPECT_OK(rump_sys_stat("/s/real", &st));
	EXPECT_ERR(rump_sys_lstat("/s/abs", &st), ENOENT);
	/* rmdir on a link to a directory is ENOTDIR. */
	EXPECT_ERR(rump_sys_rmdir("/s/rel"), ENOTDIR);

	/* The *at forms. */
	dfd = EXPECT_OK(rump_sys_open("/s/real", RUMP_O_RDONLY | RUMP_O_DIRECTORY));
	EXPECT_OK(rump_sys_symlinkat("deeper/f", dfd, "atlink"));
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_readlinkat(dfd, "atlink", buf, sizeof buf), 8);
	EXPECT_STR(buf, "deeper/f");
	EXPECT_EQ(rtest_get("/s/real/atlink", buf, sizeof buf), 5);
	EXPECT_STR(buf, "found");
	EXPECT_OK(rump_sys_chdir("/s"));
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_readlinkat(RUMP_AT_FDCWD, "real/atlink", buf, sizeof buf), 8);
	EXPECT_OK(rump_sys_symlinkat("real", RUMP_AT_FDCWD, "cwdlink"));
	EXPECT_OK(rump_sys_lstat("/s/cwdlink", &st));
	EXPECT_OK(rump_sys_chdir("/"));
	EXPECT_ERR(rump_sys_readlinkat(dfd, "deeper", buf, sizeof buf), EINVAL);
	EXPECT_ERR(rump_sys_symlinkat("x", dfd, "atlink"), EEXIST);
	EXPECT_OK(rump_sys_unlinkat(dfd, "atlink", 0));
	EXPECT_OK(rump_sys_close(dfd));
	EXPECT_ERR(rump_sys_readlinkat(dfd, "atlink", buf, sizeof buf), EBADF);
	EXPECT_ERR(rump_sys_symlinkat("x", dfd, "y"), EBADF);

	/* A link target of PATH_MAX-1 bytes can be stored and read back. */
	static char longt[1024];
	memset(longt, 'a', sizeof longt - 1);
	for (int i = 100; i < (int)sizeof longt - 1; i += 100)
		longt[i] = '/';
	longt[sizeof longt - 1] = '\0';
	EXPECT_OK(rump_sys_symlink(longt, "/s/longtarget"));
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_readlink("/s/longtarget", buf, sizeof buf), 1023);
	EXPECT_MEM(buf, longt, 1023);
}

static void
test_rename_files(void)
{
	char buf[32];
	struct rump_stat st, a, b;

	EXPECT_OK(rump_sys_mkdir("/n", 0755));
	EXPECT_OK(rump_sys_mkdir("/n/other", 0755));
	EXPECT_OK(rtest_put("/n/a", "AAAA", 4));
	EXPECT_OK(rtest_put("/n/b", "BB", 2));
	a = xstat("/n/a");
	b = xstat("/n/b");

	/* Over an existing file: the target's old inode is gone, the source's name too. */
	int keep = EXPECT_OK(rump_sys_open("/n/b", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_rename("/n/a", "/n/b"));
	EXPECT_ERR(rump_sys_stat("/n/a", &st), ENOENT);
	st = xstat("/n/b");
	EXPECT_EQ(st.st_ino, a.st_ino);
	EXPECT_EQ(st.st_nlink, 1);
	EXPECT_EQ(rtest_get("/n/b", buf, sizeof buf), 4);
	EXPECT_STR(buf, "AAAA");
	/* The replaced file is still readable through an open descriptor. */
	EXPECT_OK(rump_sys_fstat(keep, &st));
	EXPECT_EQ(st.st_ino, b.st_ino);
	EXPECT_EQ(st.st_nlink, 0);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(keep, buf, sizeof buf), 2);
	EXPECT_STR(buf, "BB");
	EXPECT_OK(rump_sys_close(keep));

	/* Into another directory, then back with renameat. */
	EXPECT_OK(rump_sys_rename("/n/b", "/n/other/c"));
	EXPECT_EQ(xstat("/n/other/c").st_ino, a.st_ino);
	int od = EXPECT_OK(rump_sys_open("/n/other", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_renameat(od, "c", RUMP_AT_FDCWD, "/n/d"));
	EXPECT_OK(rump_sys_close(od));
	EXPECT_EQ(xstat("/n/d").st_ino, a.st_ino);

	/* Two names of one file: rename does nothing, both names stay. */
	EXPECT_OK(rump_sys_link("/n/d", "/n/e"));
	EXPECT_OK(rump_sys_rename("/n/d", "/n/e"));
	EXPECT_EQ(xstat("/n/d").st_nlink, 2);
	EXPECT_EQ(xstat("/n/e").st_nlink, 2);
	/* Renaming a file onto itself is a no-op. */
	EXPECT_OK(rump_sys_rename("/n/d", "/n/d"));
	EXPECT_OK(rump_sys_stat("/n/d", &st));

	/* A symlink is renamed as itself, not its target. */
	EXPECT_OK(rump_sys_symlink("d", "/n/sl"));
	EXPECT_OK(rump_sys_rename("/n/sl", "/n/sl2"));
	EXPECT_MODE(xlstat("/n/sl2").st_mode & RUMP_S_IFMT, RUMP_S_IFLNK);
	EXPECT_OK(rump_sys_stat("/n/d", &st));

	/* Errors. */
	EXPECT_ERR(rump_sys_rename("/n/none", "/n/x"), ENOENT);
	EXPECT_ERR(rump_sys_rename("/n/d", "/n/nodir/x"), ENOENT);
	EXPECT_ERR(rump_sys_rename("/n/d", "/n/e/x"), ENOTDIR);
	EXPECT_ERR(rump_sys_rename("/n/d", "/n/other"), EISDIR);
	EXPECT_ERR(rump_sys_rename("", "/n/x"), ENOENT);
}

int
main(void)
{
	rtest_init();
	test_hard_links();
	test_symlinks();
	test_rename_files();
	return rtest_done();
}
