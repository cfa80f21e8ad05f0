/*
 * Error paths through the C ABI, one errno at a time: each is provoked in the ways a
 * program meets it and must come back as -1 with that (host) errno, and nothing may have
 * changed where a failed call could have half-done its work.
 */
#include "rtest.h"

static void
test_enoent(void)
{
	struct rump_stat st;
	char buf[8];

	EXPECT_OK(rump_sys_mkdir("/e", 0755));
	EXPECT_OK(rtest_put("/e/file", "f", 1));
	EXPECT_ERR(rump_sys_open("/e/none", RUMP_O_RDONLY), ENOENT);
	EXPECT_ERR(rump_sys_open("/e/none/x", RUMP_O_RDONLY), ENOENT);
	EXPECT_ERR(rump_sys_open("/e/none/x", RUMP_O_WRONLY | RUMP_O_CREAT, 0644), ENOENT);
	EXPECT_ERR(rump_sys_open("", RUMP_O_RDONLY), ENOENT);
	EXPECT_ERR(rump_sys_stat("/e/none", &st), ENOENT);
	EXPECT_ERR(rump_sys_lstat("/e/none", &st), ENOENT);
	EXPECT_ERR(rump_sys_unlink("/e/none"), ENOENT);
	EXPECT_ERR(rump_sys_rmdir("/e/none"), ENOENT);
	EXPECT_ERR(rump_sys_mkdir("/e/none/x", 0755), ENOENT);
	EXPECT_ERR(rump_sys_chdir("/e/none"), ENOENT);
	EXPECT_ERR(rump_sys_rename("/e/none", "/e/x"), ENOENT);
	EXPECT_ERR(rump_sys_link("/e/none", "/e/x"), ENOENT);
	EXPECT_ERR(rump_sys_symlink("x", "/e/none/x"), ENOENT);
	EXPECT_ERR(rump_sys_readlink("/e/none", buf, sizeof buf), ENOENT);
	EXPECT_ERR(rump_sys_truncate("/e/none", 0), ENOENT);
	EXPECT_ERR(rump_sys_chmod("/e/none", 0), ENOENT);
	EXPECT_ERR(rump_sys_access("/e/none", RUMP_F_OK), ENOENT);
	/* A dangling link in the middle of a path. */
	EXPECT_OK(rump_sys_symlink("/e/none", "/e/dangling"));
	EXPECT_ERR(rump_sys_stat("/e/dangling/x", &st), ENOENT);
	EXPECT_ERR(rump_sys_mkdir("/e/dangling/x", 0755), ENOENT);
	/* Nothing was created by the failures. */
	EXPECT_ERR(rump_sys_stat("/e/x", &st), ENOENT);
	EXPECT_ERR(rump_sys_stat("/e/none", &st), ENOENT);
}

static void
test_eexist(void)
{
	EXPECT_OK(rump_sys_mkdir("/e/dir", 0755));
	EXPECT_ERR(rump_sys_mkdir("/e/dir", 0755), EEXIST);
	EXPECT_ERR(rump_sys_mkdir("/e/file", 0755), EEXIST);
	EXPECT_ERR(rump_sys_open("/e/file", RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_EXCL, 0644), EEXIST);
	EXPECT_ERR(rump_sys_open("/e/dir", RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_EXCL, 0644), EEXIST);
	EXPECT_ERR(rump_sys_link("/e/file", "/e/dir"), EEXIST);
	EXPECT_ERR(rump_sys_symlink("x", "/e/file"), EEXIST);
	/* A symlink, even a dangling one, is an existing name. */
	EXPECT_ERR(rump_sys_mkdir("/e/dangling", 0755), EEXIST);
	EXPECT_ERR(rump_sys_open("/e/dangling", RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_EXCL, 0644), EEXIST);
	EXPECT_ERR(rump_sys_mkdir("/", 0755), EEXIST);
	EXPECT_ERR(rump_sys_mkdir("/e/.", 0755), EEXIST);
}

static void
test_enotdir(void)
{
	struct rump_stat st;
	int fd;

	EXPECT_ERR(rump_sys_stat("/e/file/x", &st), ENOTDIR);
	EXPECT_ERR(rump_sys_open("/e/file/x", RUMP_O_WRONLY | RUMP_O_CREAT, 0644), ENOTDIR);
	EXPECT_ERR(rump_sys_mkdir("/e/file/x", 0755), ENOTDIR);
	EXPECT_ERR(rump_sys_stat("/e/file/", &st), ENOTDIR);
	EXPECT_ERR(rump_sys_chdir("/e/file"), ENOTDIR);
	EXPECT_ERR(rump_sys_rmdir("/e/file"), ENOTDIR);
	EXPECT_ERR(rump_sys_open("/e/file", RUMP_O_RDONLY | RUMP_O_DIRECTORY), ENOTDIR);
	EXPECT_ERR(rump_sys_rename("/e/dir", "/e/file"), ENOTDIR);
	EXPECT_ERR(rump_sys_unlink("/e/file/"), ENOTDIR);
	fd = EXPECT_OK(rump_sys_open("/e/file", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_openat(fd, "x", RUMP_O_RDONLY), ENOTDIR);
	EXPECT_ERR(rump_sys_mkdirat(fd, "x", 0755), ENOTDIR);
	EXPECT_ERR(rump_sys_fchdir(fd), ENOTDIR);
	EXPECT_OK(rump_sys_close(fd));
	/* A symlink to a file in the middle of a path. */
	EXPECT_OK(rump_sys_symlink("file", "/e/tofile"));
	EXPECT_ERR(rump_sys_stat("/e/tofile/x", &st), ENOTDIR);
	EXPECT_ERR(rump_sys_stat("/e/tofile/", &st), ENOTDIR);
}

static void
test_eisdir(void)
{
	char buf[8];
	int fd;

	EXPECT_ERR(rump_sys_open("/e/dir", RUMP_O_WRONLY), EISDIR);
	EXPECT_ERR(rump_sys_open("/e/dir", RUMP_O_RDWR), EISDIR);
	EXPECT_ERR(rump_sys_open("/e/dir", RUMP_O_WRONLY | RUMP_O_CREAT, 0644), EISDIR);
	EXPECT_ERR(rump_sys_open("/e/dir", RUMP_O_RDONLY | RUMP_O_TRUNC), EISDIR);
	EXPECT_ERR(rump_sys_truncate("/e/dir", 0), EISDIR);
	EXPECT_ERR(rump_sys_rename("/e/file", "/e/dir"), EISDIR);
	EXPECT_ERR(rump_sys_unlink("/e/dir/."), EISDIR);
	fd = EXPECT_OK(rump_sys_open("/e/dir", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_read(fd, buf, sizeof buf), EISDIR);
	EXPECT_ERR(rump_sys_pread(fd, buf, sizeof buf, 0), EISDIR);
	EXPECT_OK(rump_sys_close(fd));
}

static void
test_enotempty(void)
{
	EXPECT_OK(rump_sys_mkdir("/e/full", 0755));
	EXPECT_OK(rump_sys_mkdir("/e/full/sub", 0755));
	EXPECT_OK(rump_sys_mkdir("/e/empty", 0755));
	EXPECT_ERR(rump_sys_rmdir("/e/full"), ENOTEMPTY);
	EXPECT_ERR(rump_sys_unlinkat(RUMP_AT_FDCWD, "/e/full", RUMP_AT_REMOVEDIR), ENOTEMPTY);
	EXPECT_ERR(rump_sys_rename("/e/empty", "/e/full"), ENOTEMPTY);
	EXPECT_ERR(rump_sys_rmdir("/e/full/sub/.."), ENOTEMPTY);
	/* A directory holding only a file or only a symlink is not empty either. */
	EXPECT_OK(rump_sys_symlink("x", "/e/empty/l"));
	EXPECT_ERR(rump_sys_rmdir("/e/empty"), ENOTEMPTY);
	EXPECT_OK(rump_sys_unlink("/e/empty/l"));
	EXPECT_OK(rump_sys_rmdir("/e/empty"));
}

static void
test_ebadf(void)
{
	struct rump_stat st;
	struct rump_statvfs sv;
	char buf[8];
	int p[2], fd;

	fd = EXPECT_OK(rump_sys_open("/e/file", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_read(fd, buf, 1), EBADF);
	EXPECT_ERR(rump_sys_write(fd, buf, 1), EBADF);
	EXPECT_ERR(rump_sys_close(fd), EBADF);
	EXPECT_ERR(rump_sys_fstat(fd, &st), EBADF);
	EXPECT_ERR(rump_sys_lseek(fd, 0, RUMP_SEEK_SET), EBADF);
	EXPECT_ERR(rump_sys_dup(fd), EBADF);
	EXPECT_ERR(rump_sys_fchdir(fd), EBADF);
	EXPECT_ERR(rump_sys_fchmod(fd, 0), EBADF);
	EXPECT_ERR(rump_sys_fchown(fd, 0, 0), EBADF);
	EXPECT_ERR(rump_sys_fsync(fd), EBADF);
	EXPECT_ERR(rump_sys_ftruncate(fd, 0), EBADF);
	EXPECT_ERR(rump_sys_getdents(fd, buf, sizeof buf), EBADF);
	EXPECT_ERR(rump_sys_fstatvfs1(fd, &sv, RUMP_ST_WAIT), EBADF);
	EXPECT_ERR(rump_sys_openat(fd, "x", RUMP_O_RDONLY), EBADF);
	EXPECT_ERR(rump_sys_read(-1, buf, 1), EBADF);
	EXPECT_ERR(rump_sys_write(1 << 30, buf, 1), EBADF);
	/* The wrong direction for the descriptor's access mode. */
	fd = EXPECT_OK(rump_sys_open("/e/file", RUMP_O_WRONLY));
	EXPECT_ERR(rump_sys_read(fd, buf, 1), EBADF);
	EXPECT_OK(rump_sys_close(fd));
	fd = EXPECT_OK(rump_sys_open("/e/file", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_write(fd, buf, 1), EBADF);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_OK(rump_sys_pipe2(p, 0));
	EXPECT_ERR(rump_sys_read(p[1], buf, 1), EBADF);
	EXPECT_ERR(rump_sys_write(p[0], buf, 1), EBADF);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_OK(rump_sys_close(p[1]));
}

static void
test_einval(void)
{
	char buf[8];
	int fd;

	fd = EXPECT_OK(rump_sys_open("/e/file", RUMP_O_RDWR));
	EXPECT_ERR(rump_sys_lseek(fd, 0, 42), EINVAL);
	EXPECT_ERR(rump_sys_lseek(fd, -2, RUMP_SEEK_SET), EINVAL);
	EXPECT_ERR(rump_sys_fcntl(fd, -1), EINVAL);
	EXPECT_ERR(rump_sys_ftruncate(fd, -1), EINVAL);
	EXPECT_ERR(rump_sys_pread(fd, buf, 1, -1), EINVAL);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_open("/e/file", RUMP_O_ACCMODE), EINVAL);
	EXPECT_ERR(rump_sys_readlink("/e/file", buf, sizeof buf), EINVAL);
	EXPECT_ERR(rump_sys_rename("/e/full", "/e/full/sub/x"), EINVAL);
	EXPECT_ERR(rump_sys_rmdir("/e/full/."), EINVAL);
	EXPECT_ERR(rump_sys_unlinkat(RUMP_AT_FDCWD, "/e/file", 0x7), EINVAL);
	EXPECT_ERR(rump_sys_faccessat(RUMP_AT_FDCWD, "/e/file", 0x10, 0), EINVAL);
	EXPECT_ERR(rump_sys_unmount("/e", 0), EINVAL);
	EXPECT_ERR(rump_sys_pipe2((int[2]){ 0, 0 }, 0x10000000), EINVAL);
	/* Calls that need a vnode, given a pipe (NetBSD fd_getvnode). */
	int p[2];
	struct rump_statvfs sv;
	EXPECT_OK(rump_sys_pipe2(p, 0));
	EXPECT_ERR(rump_sys_fchmod(p[0], 0644), EINVAL);
	EXPECT_ERR(rump_sys_fchown(p[0], 0, 0), EINVAL);
	EXPECT_ERR(rump_sys_fchdir(p[0]), EINVAL);
	EXPECT_ERR(rump_sys_fstatvfs1(p[0], &sv, RUMP_ST_WAIT), EINVAL);
	EXPECT_ERR(rump_sys_ftruncate(p[1], 0), EINVAL);
	EXPECT_ERR(rump_sys_getdents(p[0], buf, sizeof buf), EINVAL);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_OK(rump_sys_close(p[1]));
	/* Nothing changed. */
	EXPECT_OK(rump_sys_stat("/e/full/sub", &(struct rump_stat){ 0 }));
}

static void
test_eacces(void)
{
	struct lwp *root = rump_pub_lwproc_curlwp();
	struct rump_stat st;

	EXPECT_OK(rump_sys_mkdir("/priv", 0755));
	EXPECT_OK(rtest_put("/priv/secret", "s", 1));
	EXPECT_OK(rump_sys_chmod("/priv/secret", 0600));
	EXPECT_OK(rump_sys_mkdir("/priv/closed", 0700));
	EXPECT_OK(rtest_put("/priv/closed/inside", "i", 1));
	EXPECT_OK(rump_sys_mkdir("/priv/sub", 0755));

	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	EXPECT_OK(rump_sys_setuid(1000));
	EXPECT_EQ(rump_sys_geteuid(), 1000);
	EXPECT_ERR(rump_sys_open("/priv/secret", RUMP_O_RDONLY), EACCES);
	EXPECT_ERR(rump_sys_open("/priv/secret", RUMP_O_WRONLY), EACCES);
	EXPECT_ERR(rump_sys_open("/priv/new", RUMP_O_WRONLY | RUMP_O_CREAT, 0644), EACCES);
	EXPECT_ERR(rump_sys_mkdir("/priv/newdir", 0755), EACCES);
	EXPECT_ERR(rump_sys_symlink("x", "/priv/newlink"), EACCES);
	EXPECT_ERR(rump_sys_link("/priv/secret", "/priv/newlink"), EACCES);
	EXPECT_ERR(rump_sys_unlink("/priv/secret"), EACCES);
	EXPECT_ERR(rump_sys_rmdir("/priv/sub"), EACCES);
	EXPECT_ERR(rump_sys_rename("/priv/secret", "/priv/other"), EACCES);
	EXPECT_ERR(rump_sys_truncate("/priv/secret", 0), EACCES);
	EXPECT_ERR(rump_sys_chdir("/priv/closed"), EACCES);
	EXPECT_ERR(rump_sys_stat("/priv/closed/inside", &st), EACCES);
	EXPECT_ERR(rump_sys_open("/priv/closed/inside", RUMP_O_RDONLY), EACCES);
	/* The directory itself can still be stat'ed; a readable one opened. */
	EXPECT_OK(rump_sys_stat("/priv/closed", &st));
	EXPECT_ERR(rump_sys_open("/priv/closed", RUMP_O_RDONLY), EACCES);
	int fd = EXPECT_OK(rump_sys_open("/priv", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_close(fd));
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(root);

	/* Nothing the user tried happened. */
	EXPECT_OK(rump_sys_stat("/priv/secret", &st));
	EXPECT_EQ(st.st_size, 1);
	EXPECT_OK(rump_sys_stat("/priv/sub", &st));
	EXPECT_ERR(rump_sys_stat("/priv/new", &st), ENOENT);
	EXPECT_ERR(rump_sys_stat("/priv/newdir", &st), ENOENT);
	EXPECT_ERR(rump_sys_lstat("/priv/newlink", &st), ENOENT);
	EXPECT_ERR(rump_sys_stat("/priv/other", &st), ENOENT);
}

static void
test_eloop(void)
{
	char name[32], target[32];
	struct rump_stat st;
	int i, fd;

	/* A cycle of two links, and a link to itself. */
	EXPECT_OK(rump_sys_mkdir("/loop", 0755));
	EXPECT_OK(rump_sys_symlink("b", "/loop/a"));
	EXPECT_OK(rump_sys_symlink("a", "/loop/b"));
	EXPECT_OK(rump_sys_symlink("self", "/loop/self"));
	EXPECT_ERR(rump_sys_stat("/loop/a", &st), ELOOP);
	EXPECT_ERR(rump_sys_open("/loop/a", RUMP_O_RDONLY), ELOOP);
	EXPECT_ERR(rump_sys_open("/loop/a", RUMP_O_WRONLY | RUMP_O_CREAT, 0644), ELOOP);
	EXPECT_ERR(rump_sys_stat("/loop/self", &st), ELOOP);
	EXPECT_ERR(rump_sys_stat("/loop/a/x", &st), ELOOP);
	EXPECT_ERR(rump_sys_chdir("/loop/b"), ELOOP);
	/* lstat and readlink do not follow, so they work. */
	EXPECT_OK(rump_sys_lstat("/loop/a", &st));
	EXPECT_OK(rump_sys_unlink("/loop/self"));

	/* A chain: c0 -> c1 -> ... -> cN -> file. Following 32 links is allowed, 33 is not. */
	EXPECT_OK(rtest_put("/loop/file", "end", 3));
	EXPECT_OK(rump_sys_symlink("file", "/loop/c33"));
	for (i = 32; i >= 0; i--) {
		snprintf(name, sizeof name, "/loop/c%d", i);
		snprintf(target, sizeof target, "c%d", i + 1);
		EXPECT_OK(rump_sys_symlink(target, name));
	}
	/* c1 takes 33 links to reach the file, c2 takes 32. */
	EXPECT_OK(rump_sys_stat("/loop/c2", &st));
	EXPECT_EQ(st.st_size, 3);
	fd = EXPECT_OK(rump_sys_open("/loop/c2", RUMP_O_RDONLY));
	rump_sys_close(fd);
	EXPECT_ERR(rump_sys_stat("/loop/c1", &st), ELOOP);
	EXPECT_ERR(rump_sys_stat("/loop/c0", &st), ELOOP);
	EXPECT_ERR(rump_sys_open("/loop/c0", RUMP_O_RDONLY), ELOOP);
	/* Links in the middle of the path count too. */
	EXPECT_OK(rump_sys_mkdir("/loop/d", 0755));
	EXPECT_OK(rump_sys_symlink("d", "/loop/m33"));
	for (i = 32; i >= 0; i--) {
		snprintf(name, sizeof name, "/loop/m%d", i);
		snprintf(target, sizeof target, "m%d", i + 1);
		EXPECT_OK(rump_sys_symlink(target, name));
	}
	EXPECT_OK(rump_sys_mkdir("/loop/m2/x", 0755));
	EXPECT_OK(rump_sys_stat("/loop/d/x", &st));
	EXPECT_ERR(rump_sys_mkdir("/loop/m1/y", 0755), ELOOP);
	EXPECT_ERR(rump_sys_stat("/loop/m0/x", &st), ELOOP);
}

static void
test_enametoolong(void)
{
	static char comp[600], path[1200];
	struct rump_stat st;
	int fd;

	/* NAME_MAX (511) bytes is a valid name; 512 is too long. */
	memset(comp, 'n', 511);
	comp[511] = '\0';
	snprintf(path, sizeof path, "/e/%s", comp);
	fd = EXPECT_OK(rump_sys_open(path, RUMP_O_WRONLY | RUMP_O_CREAT, 0644));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_OK(rump_sys_stat(path, &st));
	EXPECT_OK(rump_sys_unlink(path));
	memset(comp, 'n', 512);
	comp[512] = '\0';
	snprintf(path, sizeof path, "/e/%s", comp);
	EXPECT_ERR(rump_sys_open(path, RUMP_O_WRONLY | RUMP_O_CREAT, 0644), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_mkdir(path, 0755), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_stat(path, &st), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_symlink("x", path), ENAMETOOLONG);
	snprintf(path, sizeof path, "/e/%s/x", comp);
	EXPECT_ERR(rump_sys_stat(path, &st), ENAMETOOLONG);

	/* PATH_MAX (1024) counts the NUL: 1023 bytes resolve, 1024 do not. */
	/* "/e" + 1017 slashes + "file": repeated slashes collapse but still count. */
	strcpy(path, "/e");
	memset(path + 2, '/', 1017);
	strcpy(path + 2 + 1017, "file");
	EXPECT_EQ(strlen(path), 1023);
	EXPECT_OK(rump_sys_stat(path, &st));
	memmove(path + 3, path + 2, strlen(path + 2) + 1);
	path[2] = '/';
	EXPECT_EQ(strlen(path), 1024);
	EXPECT_ERR(rump_sys_stat(path, &st), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_open(path, RUMP_O_RDONLY), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_mkdir(path, 0755), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_chdir(path), ENAMETOOLONG);
	/* A symlink target too long to store (longer than PATH_MAX). */
	memset(path, 't', 1100);
	path[1100] = '\0';
	EXPECT_ERR(rump_sys_symlink(path, "/e/longlink"), ENAMETOOLONG);
	/* Expanding a link must not grow the path past PATH_MAX. */
	memset(path, 'a', 1000);
	path[1000] = '\0';
	for (int i = 100; i < 1000; i += 100)
		path[i] = '/';
	EXPECT_OK(rump_sys_symlink(path, "/e/biglink"));
	memset(comp, 'b', 100);
	comp[100] = '\0';
	snprintf(path, sizeof path, "/e/biglink/%s", comp);
	EXPECT_ERR(rump_sys_stat(path, &st), ENAMETOOLONG);
}

static void
test_enospc_exdev_ebusy(void)
{
	struct rump_tmpfs_args a = { .ta_version = RUMP_TMPFS_ARGS_VERSION, .ta_size_max = 64 * 1024, .ta_root_mode = 0755 };
	static char chunk[4096];
	struct lwp *parent;
	struct rump_stat st;
	long total = 0;
	ssize_t w = 0;
	int fd, i, busy;

	EXPECT_OK(rump_sys_mkdir("/small", 0755));
	EXPECT_OK(rump_sys_mount("tmpfs", "/small", 0, &a, sizeof a));

	/* Fill it: writes stop with ENOSPC within the limit. */
	memset(chunk, 'z', sizeof chunk);
	fd = EXPECT_OK(rump_sys_open("/small/big", RUMP_O_WRONLY | RUMP_O_CREAT, 0644));
	for (i = 0; i < 100 && (w = rump_sys_write(fd, chunk, sizeof chunk)) > 0; i++)
		total += w;
	CHECK(w == -1 && errno == ENOSPC, "writing to a full 64 KiB tmpfs: expected -1 ENOSPC, got %zd errno %d after %ld bytes",
	    w, errno, total);
	CHECK(total > 0 && total <= 64 * 1024, "bytes stored in a 64 KiB tmpfs: expected 1..65536, got %ld", total);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, total);
	EXPECT_ERR(rump_sys_pwrite(fd, chunk, sizeof chunk, 1 << 20), ENOSPC);
	/* Growing by truncation allocates nothing; writing into the hole needs a page. */
	EXPECT_OK(rump_sys_ftruncate(fd, 1 << 20));
	EXPECT_ERR(rump_sys_pwrite(fd, chunk, sizeof chunk, (1 << 20) - 4096), ENOSPC);
	EXPECT_OK(rump_sys_ftruncate(fd, total));
	EXPECT_OK(rump_sys_close(fd));
	/* Freeing space makes room again. */
	EXPECT_OK(rump_sys_truncate("/small/big", 0));
	fd = EXPECT_OK(rump_sys_open("/small/big", RUMP_O_WRONLY));
	EXPECT_EQ(rump_sys_write(fd, chunk, sizeof chunk), sizeof chunk);
	EXPECT_OK(rump_sys_close(fd));

	/* EXDEV: renames and links do not cross mounts. */
	EXPECT_OK(rtest_put("/e/rootfile", "r", 1));
	EXPECT_ERR(rump_sys_rename("/small/big", "/e/big"), EXDEV);
	EXPECT_ERR(rump_sys_rename("/e/rootfile", "/small/rootfile"), EXDEV);
	EXPECT_ERR(rump_sys_link("/small/big", "/e/big"), EXDEV);
	EXPECT_ERR(rump_sys_link("/e/rootfile", "/small/rootfile"), EXDEV);
	EXPECT_OK(rump_sys_stat("/small/big", &st));
	EXPECT_OK(rump_sys_stat("/e/rootfile", &st));
	EXPECT_ERR(rump_sys_stat("/small/rootfile", &st), ENOENT);

	/* EBUSY: the mount point cannot be removed or renamed while mounted. */
	EXPECT_ERR(rump_sys_rmdir("/small"), EBUSY);
	EXPECT_ERR(rump_sys_rename("/small", "/small2"), EBUSY);

	/* EBUSY: unmount while another process has its cwd inside. */
	EXPECT_OK(rump_sys_mkdir("/small/d", 0755));
	parent = rump_pub_lwproc_curlwp();
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	struct lwp *child = rump_pub_lwproc_curlwp();
	EXPECT_OK(rump_sys_chdir("/small/d"));
	rump_pub_lwproc_switch(parent);
	EXPECT_ERR(rump_sys_unmount("/small", 0), EBUSY);
	rump_pub_lwproc_switch(child);
	EXPECT_OK(rump_sys_chdir("/"));
	rump_pub_lwproc_switch(parent);

	/* EBUSY: unmount while a file inside is open, in this process or in another. */
	fd = EXPECT_OK(rump_sys_open("/small/big", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_unmount("/small", 0), EBUSY);
	EXPECT_OK(rump_sys_close(fd));
	rump_pub_lwproc_switch(child);
	fd = EXPECT_OK(rump_sys_open("/small/d", RUMP_O_RDONLY));
	rump_pub_lwproc_switch(parent);
	EXPECT_ERR(rump_sys_unmount("/small", 0), EBUSY);
	/* The child's exit closes its descriptor. */
	rump_pub_lwproc_switch(child);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(parent);
	/* A mount on a directory inside makes the outer one busy too. */
	EXPECT_OK(rump_sys_mount("tmpfs", "/small/d", 0, &a, sizeof a));
	EXPECT_ERR(rump_sys_unmount("/small", 0), EBUSY);
	EXPECT_OK(rump_sys_unmount("/small/d", 0));
	busy = rump_sys_unmount("/small", 0);
	CHECK(busy == 0, "unmount(/small) once nothing uses it: expected 0, got %d errno %d", busy, errno);
	EXPECT_ERR(rump_sys_stat("/small/big", &st), ENOENT);
}

static void
test_eperm(void)
{
	struct rump_tmpfs_args a = { .ta_version = RUMP_TMPFS_ARGS_VERSION, .ta_size_max = 1 << 20, .ta_root_mode = 0755 };
	struct lwp *root = rump_pub_lwproc_curlwp();

	EXPECT_ERR(rump_sys_unlink("/e/dir"), EPERM);
	EXPECT_ERR(rump_sys_link("/e/dir", "/e/dirlink"), EPERM);
	EXPECT_OK(rump_sys_stat("/e/dir", &(struct rump_stat){ 0 }));

	/* chmod, because the umask (022) trims mkdir's modes. */
	EXPECT_OK(rump_sys_mkdir("/pm", 0777));
	EXPECT_OK(rump_sys_chmod("/pm", 0777));
	EXPECT_OK(rtest_put("/pm/rootfile", "r", 1));
	EXPECT_OK(rump_sys_chmod("/pm/rootfile", 0666));
	EXPECT_OK(rump_sys_mkdir("/pm/sticky", 01777));
	EXPECT_OK(rump_sys_chmod("/pm/sticky", 01777));
	EXPECT_OK(rtest_put("/pm/sticky/rootfile", "r", 1));
	EXPECT_OK(rump_sys_chmod("/pm/sticky/rootfile", 0666));

	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	EXPECT_OK(rump_sys_setuid(1000));
	/* A non-root user cannot become root or someone else, or change a gid it lacks. */
	EXPECT_ERR(rump_sys_setuid(0), EPERM);
	EXPECT_ERR(rump_sys_setuid(1001), EPERM);
	EXPECT_ERR(rump_sys_setgid(5), EPERM);
	EXPECT_OK(rump_sys_setuid(1000));
	/* Or mount and unmount, or chmod/chown what it does not own. */
	EXPECT_ERR(rump_sys_mount("tmpfs", "/pm", 0, &a, sizeof a), EPERM);
	EXPECT_ERR(rump_sys_unmount("/", 0), EPERM);
	EXPECT_ERR(rump_sys_chmod("/pm/rootfile", 0777), EPERM);
	EXPECT_ERR(rump_sys_chown("/pm/rootfile", 1000, 0), EPERM);
	/* Or reboot. */
	EXPECT_ERR(rump_sys_reboot(RUMP_RB_HALT, NULL), EPERM);
	/* In a sticky directory, others' files cannot be removed or renamed away. */
	EXPECT_ERR(rump_sys_unlink("/pm/sticky/rootfile"), EPERM);
	EXPECT_ERR(rump_sys_rename("/pm/sticky/rootfile", "/pm/sticky/mine"), EPERM);
	/* Its own files can. */
	EXPECT_OK(rtest_put("/pm/sticky/own", "o", 1));
	EXPECT_OK(rump_sys_unlink("/pm/sticky/own"));
	/* In a non-sticky writable directory anyone may remove. */
	EXPECT_OK(rump_sys_unlink("/pm/rootfile"));
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(root);
	EXPECT_OK(rump_sys_stat("/pm/sticky/rootfile", &(struct rump_stat){ 0 }));
	/* The kernel is still up. */
	EXPECT_OK(rump_sys_stat("/", &(struct rump_stat){ 0 }));
}

static void
test_espipe_epipe(void)
{
	char buf[4];
	int p[2];

	EXPECT_OK(rump_sys_pipe2(p, RUMP_O_NOSIGPIPE)); /* EPIPE without the signal */
	EXPECT_ERR(rump_sys_lseek(p[0], 0, RUMP_SEEK_CUR), ESPIPE);
	EXPECT_ERR(rump_sys_lseek(p[1], 10, RUMP_SEEK_SET), ESPIPE);
	EXPECT_ERR(rump_sys_pread(p[0], buf, 1, 0), ESPIPE);
	EXPECT_ERR(rump_sys_pwrite(p[1], buf, 1, 0), ESPIPE);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_ERR(rump_sys_write(p[1], "x", 1), EPIPE);
	EXPECT_ERR(rump_sys_write(p[1], "abc", 3), EPIPE);
	EXPECT_OK(rump_sys_close(p[1]));
	/* The reader goes away while the writer has data queued. */
	EXPECT_OK(rump_sys_pipe2(p, RUMP_O_NOSIGPIPE)); /* EPIPE without the signal */
	EXPECT_EQ(rump_sys_write(p[1], "data", 4), 4);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_ERR(rump_sys_write(p[1], "more", 4), EPIPE);
	EXPECT_OK(rump_sys_close(p[1]));
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
	test_enoent();
	test_eexist();
	test_enotdir();
	test_eisdir();
	test_enotempty();
	test_ebadf();
	test_einval();
	test_eacces();
	test_eloop();
	test_enametoolong();
	test_enospc_exdev_ebusy();
	test_eperm();
	test_espipe_epipe();
	return rtest_done();
}
