/*
 * Directories through the C ABI: mkdir/mkdirat/rmdir, link counts, chdir/fchdir/__getcwd,
 * getdents (names, types, numbers, small buffers), renames of directories and what ".."
 * becomes, and the spelling of paths: ".", "..", repeated and trailing slashes.
 */
#include "rtest.h"

#define MAXENT 64

/* The directory's entries must be exactly want[] (with "." and ".."), each with its d_type. */
static void
check_listing(const char *dir, const char *const *want, const unsigned char *wtype, int nwant)
{
	char names[MAXENT][512];
	unsigned char types[MAXENT];
	int fd, n, i, j;

	fd = EXPECT_OK(rump_sys_open(dir, RUMP_O_RDONLY | RUMP_O_DIRECTORY));
	n = rtest_readdir(fd, names, types, MAXENT);
	CHECK(n == nwant + 2, "getdents(%s): expected %d entries, got %d", dir, nwant + 2, n);
	for (i = 0; i < n && i < MAXENT; i++) {
		if (strcmp(names[i], ".") == 0 || strcmp(names[i], "..") == 0) {
			CHECK(types[i] == RUMP_DT_DIR, "getdents(%s) \"%s\" d_type: expected DT_DIR, got %d",
			    dir, names[i], types[i]);
			continue;
		}
		for (j = 0; j < nwant && strcmp(names[i], want[j]) != 0; j++)
			;
		CHECK(j < nwant, "getdents(%s): unexpected entry \"%s\"", dir, names[i]);
		if (j < nwant)
			CHECK(types[i] == wtype[j], "getdents(%s) \"%s\" d_type: expected %d, got %d",
			    dir, names[i], wtype[j], types[i]);
	}
	for (j = 0; j < nwant; j++) {
		for (i = 0; i < n && i < MAXENT && strcmp(names[i], want[j]) != 0; i++)
			;
		CHECK(i < n && i < MAXENT, "getdents(%s): expected entry \"%s\", missing", dir, want[j]);
	}
	rump_sys_close(fd);
}

static void
test_mkdir_rmdir(void)
{
	struct rump_stat st;
	int dfd;

	EXPECT_OK(rump_sys_mkdir("/d", 0755));
	st = xstat("/d");
	EXPECT_MODE(st.st_mode, RUMP_S_IFDIR | 0755);
	EXPECT_EQ(st.st_nlink, 2);
	EXPECT_EQ(st.st_size >= 0, 1);

	/* Each subdirectory adds one link (its "..") to the parent. */
	EXPECT_OK(rump_sys_mkdir("/d/a", 0700));
	EXPECT_OK(rump_sys_mkdir("/d/b", 0777));
	EXPECT_EQ(xstat("/d").st_nlink, 4);
	EXPECT_OK(rtest_put("/d/file", "x", 1));
	EXPECT_EQ(xstat("/d").st_nlink, 4);
	EXPECT_MODE(xstat("/d/a").st_mode, RUMP_S_IFDIR | 0700);
	/* mkdir keeps only the permission bits (NetBSD: mode & ACCESSPERMS &~ umask). */
	EXPECT_OK(rump_sys_mkdir("/d/special", 07777));
	EXPECT_MODE(xstat("/d/special").st_mode, RUMP_S_IFDIR | 0755);
	EXPECT_OK(rump_sys_rmdir("/d/special"));

	/* mkdirat relative to a directory descriptor and to the cwd. */
	dfd = EXPECT_OK(rump_sys_open("/d/a", RUMP_O_RDONLY | RUMP_O_DIRECTORY));
	EXPECT_OK(rump_sys_mkdirat(dfd, "sub", 0750));
	EXPECT_MODE(xstat("/d/a/sub").st_mode, RUMP_S_IFDIR | 0750);
	EXPECT_EQ(xstat("/d/a").st_nlink, 3);
	EXPECT_ERR(rump_sys_mkdirat(dfd, "sub", 0750), EEXIST);
	/* An absolute path ignores the descriptor. */
	EXPECT_OK(rump_sys_mkdirat(dfd, "/d/abs", 0755));
	EXPECT_OK(rump_sys_rmdir("/d/abs"));
	EXPECT_OK(rump_sys_chdir("/d"));
	EXPECT_OK(rump_sys_mkdirat(RUMP_AT_FDCWD, "c", 0755));
	EXPECT_MODE(xstat("/d/c").st_mode & RUMP_S_IFMT, RUMP_S_IFDIR);
	EXPECT_ERR(rump_sys_mkdirat(-5, "x", 0755), EBADF);
	int ffd = EXPECT_OK(rump_sys_open("/d/file", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_mkdirat(ffd, "x", 0755), ENOTDIR);
	EXPECT_OK(rump_sys_close(ffd));

	/* rmdir: only empty directories, and the parent loses the link. */
	EXPECT_ERR(rump_sys_rmdir("/d/a"), ENOTEMPTY);
	EXPECT_OK(rump_sys_unlinkat(dfd, "sub", RUMP_AT_REMOVEDIR));
	EXPECT_EQ(xstat("/d/a").st_nlink, 2);
	EXPECT_OK(rump_sys_close(dfd));
	EXPECT_OK(rump_sys_rmdir("/d/a"));
	EXPECT_OK(rump_sys_rmdir("c"));
	EXPECT_EQ(xstat("/d").st_nlink, 3);
	EXPECT_ERR(rump_sys_stat("/d/a", &st), ENOENT);
	EXPECT_ERR(rump_sys_rmdir("/d/a"), ENOENT);
	EXPECT_ERR(rump_sys_rmdir("/d/file"), ENOTDIR);
	EXPECT_ERR(rump_sys_unlinkat(RUMP_AT_FDCWD, "b", 0), EPERM);
	EXPECT_ERR(rump_sys_unlinkat(RUMP_AT_FDCWD, "b", 0x1000), EINVAL);
	EXPECT_OK(rump_sys_chdir("/"));
}

static void
test_cwd(void)
{
	char buf[1100];
	struct rump_stat st;
	int fd;

	EXPECT_OK(rump_sys_mkdir("/w", 0755));
	EXPECT_OK(rump_sys_mkdir("/w/x", 0755));
	EXPECT_OK(rump_sys_mkdir("/w/x/y", 0755));

	/* __getcwd returns the length with its NUL. */
	EXPECT_EQ(rump_sys___getcwd(buf, sizeof buf), 2);
	EXPECT_STR(buf, "/");
	EXPECT_OK(rump_sys_chdir("/w/x/y"));
	EXPECT_EQ(rump_sys___getcwd(buf, sizeof buf), (long)strlen("/w/x/y") + 1);
	EXPECT_STR(buf, "/w/x/y");
	/* Too small a buffer is ERANGE. */
	EXPECT_ERR(rump_sys___getcwd(buf, 4), ERANGE);
	EXPECT_ERR(rump_sys___getcwd(buf, 1), ERANGE);
	/* Relative paths start at the cwd. */
	EXPECT_OK(rtest_put("here", "h", 1));
	EXPECT_OK(rump_sys_stat("/w/x/y/here", &st));
	EXPECT_OK(rump_sys_chdir(".."));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/w/x");
	EXPECT_OK(rump_sys_chdir("../../../../.."));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/");

	/* fchdir to a directory descriptor, not to a file. */
	fd = EXPECT_OK(rump_sys_open("/w/x", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_fchdir(fd));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/w/x");
	EXPECT_OK(rump_sys_stat("y/here", &st));
	EXPECT_OK(rump_sys_close(fd));
	fd = EXPECT_OK(rump_sys_open("/w/x/y/here", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_fchdir(fd), ENOTDIR);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_fchdir(fd), EBADF);
	EXPECT_ERR(rump_sys_chdir("/w/x/y/here"), ENOTDIR);
	EXPECT_ERR(rump_sys_chdir("/w/none"), ENOENT);
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/w/x");

	/* NetBSD's __getcwd returns paths up to 4 * MAXPATHLEN long when the buffer allows. */
	static char name[101], big[4096] = "";
	memset(name, 'd', 100);
	name[100] = '\0';
	EXPECT_OK(rump_sys_chdir("/w"));
	for (int i = 0; i < 12; i++) {
		EXPECT_OK(rump_sys_mkdir(name, 0755));
		EXPECT_OK(rump_sys_chdir(name));
	}
	EXPECT_EQ(rump_sys___getcwd(big, sizeof big), 2 + 12 * 101 + 1);
	if (big[0] != '\0')
		CHECK(strncmp(big, "/w/", 3) == 0 && strlen(big) == 2 + 12 * 101 && strcmp(big + strlen(big) - 100, name) == 0,
		    "__getcwd of a 1214-byte path: expected /w/ddd.../ddd, got \"%.40s...\" (%zu bytes)", big, strlen(big));
	EXPECT_ERR(rump_sys___getcwd(big, 1024), ERANGE);
	EXPECT_OK(rump_sys_chdir("/w/x"));

	/* A removed cwd: nothing can be created in it and getcwd cannot name it. */
	EXPECT_OK(rump_sys_mkdir("/w/gone", 0755));
	EXPECT_OK(rump_sys_chdir("/w/gone"));
	EXPECT_OK(rump_sys_rmdir("/w/gone"));
	EXPECT_ERR(rump_sys_open("new", RUMP_O_WRONLY | RUMP_O_CREAT, 0644), ENOENT);
	EXPECT_ERR(rump_sys_mkdir("newdir", 0755), ENOENT);
	EXPECT_ERR(rump_sys___getcwd(buf, sizeof buf), ENOENT);
	EXPECT_OK(rump_sys_chdir("/"));
}

static void
test_getdents(void)
{
	static const char *const want[] = { "reg", "dir", "lnk", "a-longer-name-of-forty-two-characters-xyz" };
	static const unsigned char wtype[] = { RUMP_DT_REG, RUMP_DT_DIR, RUMP_DT_LNK, RUMP_DT_REG };
	char names[MAXENT][512];
	char buf[4096];
	struct rump_stat st;
	int fd, n, got, total;

	EXPECT_OK(rump_sys_mkdir("/g", 0755));
	check_listing("/g", want, wtype, 0);
	EXPECT_OK(rtest_put("/g/reg", "r", 1));
	EXPECT_OK(rump_sys_mkdir("/g/dir", 0755));
	EXPECT_OK(rump_sys_symlink("reg", "/g/lnk"));
	EXPECT_OK(rtest_put("/g/a-longer-name-of-forty-two-characters-xyz", "", 0));
	check_listing("/g", want, wtype, 4);

	/* d_fileno matches stat; d_reclen is a multiple of 8 and holds the name and its NUL. */
	fd = EXPECT_OK(rump_sys_open("/g", RUMP_O_RDONLY));
	got = EXPECT_OK(rump_sys_getdents(fd, buf, sizeof buf));
	for (int off = 0; off < got;) {
		struct rump_dirent *d = (struct rump_dirent *)(buf + off);
		char path[600];
		if (d->d_reclen == 0)
			break;
		CHECK(d->d_reclen % 8 == 0, "d_reclen of \"%s\": expected a multiple of 8, got %u", d->d_name, d->d_reclen);
		CHECK(d->d_reclen >= offsetof(struct rump_dirent, d_name) + d->d_namlen + 1,
		    "d_reclen of \"%s\": expected room for the name, got %u", d->d_name, d->d_reclen);
		EXPECT_EQ(strlen(d->d_name), d->d_namlen);
		snprintf(path, sizeof path, "/g/%s", d->d_name);
		if (rump_sys_lstat(path, &st) == 0)
			CHECK(st.st_ino == d->d_fileno, "d_fileno of \"%s\": expected st_ino %llu, got %llu",
			    d->d_name, (unsigned long long)st.st_ino, (unsigned long long)d->d_fileno);
		else
			CHECK(0, "lstat(%s) of a listed entry: expected success, got errno %d", path, errno);
		off += d->d_reclen;
	}
	/* Read to the end: then 0. */
	while ((n = rump_sys_getdents(fd, buf, sizeof buf)) > 0)
		;
	EXPECT_EQ(n, 0);
	EXPECT_EQ(rump_sys_getdents(fd, buf, sizeof buf), 0);

	/* Small buffers (64 bytes: one or a few records) still yield every entry exactly once. */
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_SET), 0);
	total = 0;
	for (int guard = 0; guard < 100 && (got = rump_sys_getdents(fd, buf, 64)) > 0; guard++)
		for (int off = 0; off < got; off += ((struct rump_dirent *)(buf + off))->d_reclen)
			total++;
	EXPECT_EQ(got, 0);
	EXPECT_EQ(total, 6);
	/* A buffer too small for any record is EINVAL. */
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_SET), 0);
	EXPECT_ERR(rump_sys_getdents(fd, buf, 8), EINVAL);
	EXPECT_OK(rump_sys_close(fd));
	fd = EXPECT_OK(rump_sys_open("/g", RUMP_O_RDONLY));

	/* Removing and adding entries shows on the next listing. */
	EXPECT_OK(rump_sys_unlink("/g/reg"));
	EXPECT_OK(rump_sys_rmdir("/g/dir"));
	EXPECT_OK(rump_sys_mkdir("/g/dir2", 0755));
	n = rtest_readdir(fd, names, NULL, MAXENT);
	EXPECT_EQ(n, 5);
	static const char *const want2[] = { "dir2", "lnk", "a-longer-name-of-forty-two-characters-xyz" };
	static const unsigned char wtype2[] = { RUMP_DT_DIR, RUMP_DT_LNK, RUMP_DT_REG };
	check_listing("/g", want2, wtype2, 3);
	EXPECT_OK(rump_sys_close(fd));

	/* getdents on a file or a pipe is EINVAL (NetBSD vn_readdir, fd_getvnode); closed: EBADF. */
	fd = EXPECT_OK(rump_sys_open("/g/lnk", RUMP_O_RDONLY | RUMP_O_CREAT, 0644));
	EXPECT_ERR(rump_sys_getdents(fd, buf, sizeof buf), EINVAL);
	EXPECT_OK(rump_sys_close(fd));
	int p[2];
	EXPECT_OK(rump_sys_pipe2(p, 0));
	EXPECT_ERR(rump_sys_getdents(p[0], buf, sizeof buf), EINVAL);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_OK(rump_sys_close(p[1]));
	EXPECT_ERR(rump_sys_getdents(fd, buf, sizeof buf), EBADF);
	EXPECT_ERR(rump_sys_open("/g/dir2", RUMP_O_WRONLY), EISDIR);
	EXPECT_ERR(rump_sys_open("/g/lnk", RUMP_O_RDONLY | RUMP_O_DIRECTORY), ENOTDIR);
}

static void
test_rename_dirs(void)
{
	char buf[256];
	struct rump_stat st, st2;

	EXPECT_OK(rump_sys_mkdir("/r", 0755));
	EXPECT_OK(rump_sys_mkdir("/r/p1", 0755));
	EXPECT_OK(rump_sys_mkdir("/r/p2", 0755));
	EXPECT_OK(rump_sys_mkdir("/r/p1/m", 0755));
	EXPECT_OK(rump_sys_mkdir("/r/p1/m/inner", 0755));
	EXPECT_OK(rtest_put("/r/p1/m/inner/f", "deep", 4));
	st = xstat("/r/p1/m");

	/* Rename within one directory. */
	EXPECT_OK(rump_sys_rename("/r/p1/m", "/r/p1/m2"));
	EXPECT_EQ(xstat("/r/p1/m2").st_ino, st.st_ino);
	EXPECT_ERR(rump_sys_stat("/r/p1/m", &st2), ENOENT);
	EXPECT_EQ(xstat("/r/p1").st_nlink, 3);

	/* Into another directory: the link counts move, ".." follows. */
	EXPECT_OK(rump_sys_chdir("/r/p1/m2/inner"));
	EXPECT_OK(rump_sys_rename("/r/p1/m2", "/r/p2/moved"));
	EXPECT_EQ(xstat("/r/p1").st_nlink, 2);
	EXPECT_EQ(xstat("/r/p2").st_nlink, 3);
	EXPECT_EQ(xstat("/r/p2/moved").st_ino, st.st_ino);
	EXPECT_EQ(xstat("/r/p2/moved/..").st_ino, xstat("/r/p2").st_ino);
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/r/p2/moved/inner");
	EXPECT_OK(rump_sys_stat("../../../p2", &st2));
	EXPECT_EQ(st2.st_ino, xstat("/r/p2").st_ino);
	EXPECT_EQ(rtest_get("f", buf, sizeof buf), 4);
	EXPECT_STR(buf, "deep");
	EXPECT_OK(rump_sys_chdir("/"));

	/* Over an empty directory: replaced; over a non-empty one: ENOTEMPTY. */
	EXPECT_OK(rump_sys_mkdir("/r/p1/empty", 0755));
	EXPECT_EQ(xstat("/r/p1").st_nlink, 3);
	EXPECT_OK(rump_sys_rename("/r/p2/moved", "/r/p1/empty"));
	EXPECT_EQ(xstat("/r/p1/empty").st_ino, st.st_ino);
	EXPECT_EQ(xstat("/r/p1").st_nlink, 3);
	EXPECT_EQ(xstat("/r/p2").st_nlink, 2);
	EXPECT_OK(rump_sys_mkdir("/r/p2/full", 0755));
	EXPECT_OK(rtest_put("/r/p2/full/x", "", 0));
	EXPECT_ERR(rump_sys_rename("/r/p1/empty", "/r/p2/full"), ENOTEMPTY);
	/* A directory over a file and a file over a directory. */
	EXPECT_ERR(rump_sys_rename("/r/p1/empty", "/r/p2/full/x"), ENOTDIR);
	EXPECT_ERR(rump_sys_rename("/r/p2/full/x", "/r/p1/empty"), EISDIR);
	/* Into its own subtree. */
	EXPECT_ERR(rump_sys_rename("/r/p1", "/r/p1/empty/inner/p1"), EINVAL);
	EXPECT_ERR(rump_sys_rename("/r/p1", "/r/p1/x"), EINVAL);
	/* "." and ".." cannot be renamed or be targets. */
	EXPECT_ERR(rump_sys_rename("/r/p1/.", "/r/p3"), EINVAL);
	EXPECT_ERR(rump_sys_rename("/r/p1/..", "/r/p3"), EINVAL);
	EXPECT_ERR(rump_sys_rename("/r/p2/full", "/r/p1/."), EINVAL);
	/* Renaming a directory to itself is a no-op. */
	EXPECT_OK(rump_sys_rename("/r/p1", "/r/p1"));
	EXPECT_OK(rump_sys_rename("/r/p1/", "/r/p1x/"));
	EXPECT_EQ(xstat("/r/p1x/empty").st_ino, st.st_ino);

	/* renameat with directory descriptors. */
	int a = EXPECT_OK(rump_sys_open("/r/p1x", RUMP_O_RDONLY));
	int b = EXPECT_OK(rump_sys_open("/r/p2", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_renameat(a, "empty", b, "back"));
	EXPECT_EQ(xstat("/r/p2/back").st_ino, st.st_ino);
	EXPECT_EQ(xstat("/r/p2/back/..").st_ino, xstat("/r/p2").st_ino);
	EXPECT_OK(rump_sys_renameat(b, "back", RUMP_AT_FDCWD, "/r/top"));
	EXPECT_EQ(xstat("/r/top/..").st_ino, xstat("/r").st_ino);
	EXPECT_ERR(rump_sys_renameat(a, "none", b, "x"), ENOENT);
	EXPECT_ERR(rump_sys_renameat(99, "x", b, "y"), EBADF);
	EXPECT_OK(rump_sys_close(a));
	EXPECT_OK(rump_sys_close(b));
}

static void
test_path_forms(void)
{
	struct rump_stat root, st;

	EXPECT_OK(rump_sys_mkdir("/pf", 0755));
	EXPECT_OK(rump_sys_mkdir("/pf/d", 0755));
	EXPECT_OK(rtest_put("/pf/file", "f", 1));
	root = xstat("/");

	/* Repeated slashes collapse; "." stays; ".." climbs; "/.." is "/". */
	EXPECT_EQ(xstat("//pf///d//").st_ino, xstat("/pf/d").st_ino);
	EXPECT_EQ(xstat("/pf/./d/.").st_ino, xstat("/pf/d").st_ino);
	EXPECT_EQ(xstat("/pf/d/../d/../file").st_ino, xstat("/pf/file").st_ino);
	EXPECT_EQ(xstat("/..").st_ino, root.st_ino);
	EXPECT_EQ(xstat("/../../pf/..").st_ino, root.st_ino);
	EXPECT_EQ(xstat("/.").st_ino, root.st_ino);
	EXPECT_EQ(xstat("///").st_ino, root.st_ino);

	/* A trailing slash or "/." on a regular file is ENOTDIR; on a directory it is fine. */
	EXPECT_ERR(rump_sys_stat("/pf/file/", &st), ENOTDIR);
	EXPECT_ERR(rump_sys_stat("/pf/file/.", &st), ENOTDIR);
	EXPECT_ERR(rump_sys_stat("/pf/file/..", &st), ENOTDIR);
	EXPECT_ERR(rump_sys_open("/pf/file/", RUMP_O_RDONLY), ENOTDIR);
	EXPECT_ERR(rump_sys_unlink("/pf/file/"), ENOTDIR);
	EXPECT_ERR(rump_sys_rename("/pf/file/", "/pf/g"), ENOTDIR);
	EXPECT_ERR(rump_sys_open("/pf/new/", RUMP_O_WRONLY | RUMP_O_CREAT, 0644), EISDIR);
	EXPECT_OK(rump_sys_stat("/pf/d/", &st));
	/* mkdir accepts a trailing slash. */
	EXPECT_OK(rump_sys_mkdir("/pf/e/", 0755));
	EXPECT_OK(rump_sys_rmdir("/pf/e/"));

	/* Dot names as the last component. */
	EXPECT_ERR(rump_sys_mkdir("/pf/d/.", 0755), EEXIST);
	EXPECT_ERR(rump_sys_mkdir("/pf/d/..", 0755), EEXIST);
	EXPECT_ERR(rump_sys_mkdir("/", 0755), EEXIST);
	EXPECT_ERR(rump_sys_rmdir("/pf/d/."), EINVAL);
	EXPECT_ERR(rump_sys_rmdir("/pf/d/.."), ENOTEMPTY);
	EXPECT_OK(rump_sys_stat("/pf/d", &st));
	EXPECT_ERR(rump_sys_unlink("/pf/d/."), EISDIR);
	EXPECT_ERR(rump_sys_open("/pf/d/.", RUMP_O_RDWR), EISDIR);

	/* An empty path names nothing. */
	EXPECT_ERR(rump_sys_mkdir("", 0755), ENOENT);
	EXPECT_ERR(rump_sys_chdir(""), ENOENT);
	EXPECT_ERR(rump_sys_rmdir(""), ENOENT);
}

int
main(void)
{
	rtest_init();
	rump_sys_umask(022);
	test_mkdir_rmdir();
	test_cwd();
	test_getdents();
	test_rename_dirs();
	test_path_forms();
	return rtest_done();
}
