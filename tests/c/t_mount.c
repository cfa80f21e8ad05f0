/*
 * Mounts through the C ABI: tmpfs mounted on a directory hides and then restores what was
 * there, ".." at a mount's root crosses back to the covering directory, statvfs1/fstatvfs1
 * describe each file system, getvfsstat lists them all, read-only and size/node limits are kept, mounts stack, and
 * sync runs. (EBUSY and EXDEV are in t_errors.)
 */
#include "rtest.h"

static struct rump_tmpfs_args
targs(int64_t size, uint64_t nodes, uint32_t mode)
{
	struct rump_tmpfs_args a = {
		.ta_version = RUMP_TMPFS_ARGS_VERSION,
		.ta_nodes_max = nodes,
		.ta_size_max = size,
		.ta_root_mode = mode,
	};
	return a;
}

static void
test_mount_unmount(void)
{
	struct rump_tmpfs_args a = targs(1 << 20, 0, 0750);
	struct rump_stat under, root, st;
	char buf[64];
	int fd;

	EXPECT_OK(rump_sys_mkdir("/mnt", 0755));
	EXPECT_OK(rtest_put("/mnt/hidden", "under", 5));
	under = xstat("/mnt");

	a.ta_root_uid = 12;
	a.ta_root_gid = 34;
	EXPECT_OK(rump_sys_mount("tmpfs", "/mnt", 0, &a, sizeof a));
	/* The mount point is now the new root: its own mode, owner, device; empty. */
	root = xstat("/mnt");
	EXPECT_MODE(root.st_mode, RUMP_S_IFDIR | 0750);
	EXPECT_EQ(root.st_uid, 12);
	EXPECT_EQ(root.st_gid, 34);
	EXPECT_EQ(root.st_nlink, 2);
	CHECK(root.st_dev != under.st_dev, "st_dev of a mount's root: expected different from the covered dir's %llu, got the same",
	    (unsigned long long)under.st_dev);
	EXPECT_ERR(rump_sys_stat("/mnt/hidden", &st), ENOENT);
	fd = EXPECT_OK(rump_sys_open("/mnt", RUMP_O_RDONLY));
	char names[8][512];
	EXPECT_EQ(rtest_readdir(fd, names, NULL, 8), 2);
	EXPECT_OK(rump_sys_close(fd));

	/* Work in it. */
	EXPECT_OK(rump_sys_mkdir("/mnt/sub", 0755));
	EXPECT_OK(rtest_put("/mnt/sub/f", "on tmpfs", 8));
	EXPECT_EQ(xstat("/mnt/sub/f").st_dev, root.st_dev);
	EXPECT_EQ(xstat("/mnt").st_nlink, 3);

	/* ".." at the mount's root is the covered directory's parent, both ways round. */
	EXPECT_EQ(xstat("/mnt/..").st_ino, xstat("/").st_ino);
	EXPECT_EQ(xstat("/mnt/sub/../..").st_ino, xstat("/").st_ino);
	EXPECT_EQ(xstat("/mnt/../mnt/sub/f").st_ino, xstat("/mnt/sub/f").st_ino);
	EXPECT_OK(rump_sys_chdir("/mnt/sub"));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/mnt/sub");
	EXPECT_EQ(xstat("../..").st_ino, xstat("/").st_ino);
	EXPECT_OK(rump_sys_chdir("../.."));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/");
	EXPECT_OK(rump_sys_chdir("/mnt"));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/mnt");
	EXPECT_OK(rump_sys_chdir(".."));
	EXPECT_OK(rump_sys___getcwd(buf, sizeof buf));
	EXPECT_STR(buf, "/");
	/* getdents of "/" still lists "mnt" once. */
	fd = EXPECT_OK(rump_sys_open("/", RUMP_O_RDONLY));
	static char rnames[64][512];
	int n = rtest_readdir(fd, rnames, NULL, 64), seen = 0;
	for (int i = 0; i < n && i < 64; i++)
		seen += strcmp(rnames[i], "mnt") == 0;
	EXPECT_EQ(seen, 1);
	EXPECT_OK(rump_sys_close(fd));

	/* A symlink on the root file system into the mount, and one out of it. */
	EXPECT_OK(rump_sys_symlink("/mnt/sub", "/intomnt"));
	EXPECT_EQ(rtest_get("/intomnt/f", buf, sizeof buf), 8);
	EXPECT_STR(buf, "on tmpfs");
	EXPECT_OK(rump_sys_symlink("../..", "/mnt/sub/out"));
	EXPECT_EQ(xstat("/mnt/sub/out/intomnt").st_ino, xstat("/mnt/sub").st_ino);

	/* sync has nothing to report; data stays. */
	rump_sys_sync();
	EXPECT_EQ(rtest_get("/mnt/sub/f", buf, sizeof buf), 8);

	/* Unmount: what was under it is back. */
	EXPECT_OK(rump_sys_unmount("/mnt", 0));
	st = xstat("/mnt");
	EXPECT_EQ(st.st_ino, under.st_ino);
	EXPECT_EQ(st.st_dev, under.st_dev);
	EXPECT_EQ(rtest_get("/mnt/hidden", buf, sizeof buf), 5);
	EXPECT_STR(buf, "under");
	EXPECT_ERR(rump_sys_stat("/mnt/sub", &st), ENOENT);
	EXPECT_ERR(rump_sys_stat("/intomnt/f", &st), ENOENT);
	/* Mount again: a fresh, empty file system. */
	EXPECT_OK(rump_sys_mount("tmpfs", "/mnt", 0, &a, sizeof a));
	EXPECT_ERR(rump_sys_stat("/mnt/sub", &st), ENOENT);
	EXPECT_OK(rump_sys_unmount("/mnt", 0));
	EXPECT_ERR(rump_sys_unmount("/mnt", 0), EINVAL);
}

static void
test_statvfs(void)
{
	struct rump_tmpfs_args a = targs(256 * 1024, 0, 0755);
	struct rump_statvfs sv, rsv;
	static char chunk[8192];
	int fd;

	EXPECT_OK(rump_sys_mkdir("/sv", 0755));
	EXPECT_OK(rump_sys_mount("tmpfs", "/sv", 0, &a, sizeof a));
	EXPECT_OK(rump_sys_statvfs1("/sv", &sv, RUMP_ST_WAIT));
	EXPECT_STR(sv.f_fstypename, "tmpfs");
	EXPECT_STR(sv.f_mntonname, "/sv");
	EXPECT_STR(sv.f_mntfromname, "tmpfs");
	EXPECT_EQ(sv.f_namemax, 511);
	CHECK(sv.f_frsize > 0 && sv.f_bsize > 0, "f_frsize/f_bsize: expected > 0, got %llu/%llu",
	    (unsigned long long)sv.f_frsize, (unsigned long long)sv.f_bsize);
	EXPECT_EQ(sv.f_blocks * sv.f_frsize, 256 * 1024);
	EXPECT_EQ(sv.f_flag & RUMP_ST_RDONLY, 0);
	uint64_t free0 = sv.f_bfree;
	CHECK(free0 > 0 && free0 <= sv.f_blocks, "f_bfree of an empty mount: expected 1..%llu, got %llu",
	    (unsigned long long)sv.f_blocks, (unsigned long long)free0);
	CHECK(sv.f_bavail <= sv.f_bfree, "f_bavail: expected <= f_bfree %llu, got %llu",
	    (unsigned long long)sv.f_bfree, (unsigned long long)sv.f_bavail);

	/* Writing 64 KiB takes 64 KiB worth of blocks. */
	fd = EXPECT_OK(rump_sys_open("/sv/data", RUMP_O_RDWR | RUMP_O_CREAT, 0644));
	for (int i = 0; i < 8; i++)
		EXPECT_EQ(rump_sys_write(fd, chunk, sizeof chunk), sizeof chunk);
	EXPECT_OK(rump_sys_fstatvfs1(fd, &sv, RUMP_ST_NOWAIT));
	EXPECT_STR(sv.f_fstypename, "tmpfs");
	EXPECT_STR(sv.f_mntonname, "/sv");
	EXPECT_EQ((free0 - sv.f_bfree) * sv.f_frsize, 64 * 1024);
	/* And truncating gives it back. */
	EXPECT_OK(rump_sys_ftruncate(fd, 0));
	EXPECT_OK(rump_sys_fstatvfs1(fd, &sv, RUMP_ST_WAIT));
	EXPECT_EQ(sv.f_bfree, free0);
	EXPECT_OK(rump_sys_close(fd));

	/* The root file system is a different one with its own fsid. */
	EXPECT_OK(rump_sys_statvfs1("/", &rsv, RUMP_ST_WAIT));
	EXPECT_STR(rsv.f_mntonname, "/");
	CHECK(rsv.f_fsid != sv.f_fsid, "f_fsid of / and /sv: expected different, both %llu", (unsigned long long)sv.f_fsid);
	EXPECT_EQ(xstat("/sv/.").st_dev, sv.f_fsid);
	EXPECT_EQ(xstat("/").st_dev, rsv.f_fsid);
	/* A path below the mount reports the mount; one beside it the root. */
	EXPECT_OK(rump_sys_statvfs1("/sv/.", &sv, RUMP_ST_WAIT));
	EXPECT_STR(sv.f_mntonname, "/sv");
	EXPECT_OK(rump_sys_statvfs1("/sv/..", &sv, RUMP_ST_WAIT));
	EXPECT_STR(sv.f_mntonname, "/");
	EXPECT_ERR(rump_sys_statvfs1("/sv/none", &sv, RUMP_ST_WAIT), ENOENT);

	/* A node limit: creations stop with ENOSPC. */
	EXPECT_OK(rump_sys_unmount("/sv", 0));
	a = targs(1 << 20, 4, 0755);
	EXPECT_OK(rump_sys_mount("tmpfs", "/sv", 0, &a, sizeof a));
	EXPECT_OK(rump_sys_statvfs1("/sv", &sv, RUMP_ST_WAIT));
	EXPECT_EQ(sv.f_files, 4);
	int made = 0, r = 0;
	char name[32];
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "/sv/n%d", i);
		if ((r = rump_sys_mkdir(name, 0755)) == -1)
			break;
		made++;
	}
	CHECK(r == -1 && errno == ENOSPC, "mkdir past ta_nodes_max 4: expected -1 ENOSPC, got %d errno %d after %d",
	    r, errno, made);
	CHECK(made >= 1 && made <= 4, "directories made under ta_nodes_max 4: expected 1..4, got %d", made);
	EXPECT_OK(rump_sys_statvfs1("/sv", &sv, RUMP_ST_WAIT));
	EXPECT_EQ(sv.f_ffree, 0);
	EXPECT_ERR(rump_sys_symlink("x", "/sv/l"), ENOSPC);
	EXPECT_OK(rump_sys_rmdir("/sv/n0"));
	EXPECT_OK(rump_sys_symlink("x", "/sv/l"));
	EXPECT_OK(rump_sys_unmount("/sv", 0));
}

/* getvfsstat: every mount in the order made (the root first); a null buffer counts them. */
static void
test_getvfsstat(void)
{
	struct rump_tmpfs_args a = targs(128 * 1024, 0, 0755), b = targs(512 * 1024, 0, 0755);
	static struct rump_statvfs sv[16];
	int n0, n;

	n0 = EXPECT_OK(rump_sys_getvfsstat(NULL, 0, RUMP_ST_WAIT));
	CHECK(n0 >= 1 && n0 <= 14, "mounts at the start: expected 1..14, got %d", n0);
	EXPECT_OK(rump_sys_mkdir("/gv1", 0755));
	EXPECT_OK(rump_sys_mkdir("/gv2", 0755));
	EXPECT_OK(rump_sys_mount("tmpfs", "/gv1", 0, &a, sizeof a));
	EXPECT_OK(rump_sys_mount("tmpfs", "/gv2", RUMP_MNT_RDONLY, &b, sizeof b));
	EXPECT_EQ(rump_sys_getvfsstat(NULL, 0, RUMP_ST_NOWAIT), n0 + 2);
	n = EXPECT_OK(rump_sys_getvfsstat(sv, sizeof sv, RUMP_ST_WAIT));
	EXPECT_EQ(n, n0 + 2);
	EXPECT_STR(sv[0].f_mntonname, "/");
	EXPECT_STR(sv[n - 2].f_mntonname, "/gv1");
	EXPECT_STR(sv[n - 2].f_fstypename, "tmpfs");
	EXPECT_EQ(sv[n - 2].f_blocks * sv[n - 2].f_frsize, 128 * 1024);
	EXPECT_EQ(sv[n - 2].f_flag & RUMP_ST_RDONLY, 0);
	EXPECT_STR(sv[n - 1].f_mntonname, "/gv2");
	EXPECT_EQ(sv[n - 1].f_blocks * sv[n - 1].f_frsize, 512 * 1024);
	EXPECT_EQ(sv[n - 1].f_flag & RUMP_ST_RDONLY, RUMP_ST_RDONLY);
	/* As many as fit: one, and none in less than one structure. */
	memset(sv, 0, sizeof sv);
	EXPECT_EQ(rump_sys_getvfsstat(sv, sizeof sv[0] + 100, RUMP_ST_WAIT), 1);
	EXPECT_STR(sv[0].f_mntonname, "/");
	EXPECT_STR(sv[1].f_mntonname, "");
	EXPECT_EQ(rump_sys_getvfsstat(sv, sizeof sv[0] - 1, RUMP_ST_WAIT), 0);
	EXPECT_OK(rump_sys_unmount("/gv2", 0));
	EXPECT_OK(rump_sys_unmount("/gv1", 0));
	EXPECT_EQ(rump_sys_getvfsstat(NULL, 0, RUMP_ST_WAIT), n0);
}

static void
test_rdonly_stack_errors(void)
{
	struct rump_tmpfs_args a = targs(1 << 20, 0, 0777);
	struct rump_statvfs sv;
	struct rump_stat st;
	int fd;

	EXPECT_OK(rump_sys_mkdir("/ro", 0755));
	EXPECT_OK(rump_sys_mount("tmpfs", "/ro", RUMP_MNT_RDONLY, &a, sizeof a));
	EXPECT_OK(rump_sys_statvfs1("/ro", &sv, RUMP_ST_WAIT));
	EXPECT_EQ(sv.f_flag & RUMP_ST_RDONLY, RUMP_ST_RDONLY);
	EXPECT_ERR(rump_sys_open("/ro/f", RUMP_O_WRONLY | RUMP_O_CREAT, 0644), EROFS);
	EXPECT_ERR(rump_sys_mkdir("/ro/d", 0755), EROFS);
	EXPECT_ERR(rump_sys_symlink("x", "/ro/l"), EROFS);
	EXPECT_ERR(rump_sys_chmod("/ro", 0755), EROFS);
	EXPECT_ERR(rump_sys_chown("/ro", 1, 1), EROFS);
	EXPECT_ERR(rump_sys_utimensat(RUMP_AT_FDCWD, "/ro", NULL, 0), EROFS);
	EXPECT_ERR(rump_sys_open("/ro", RUMP_O_RDONLY | RUMP_O_TRUNC), EISDIR);
	EXPECT_ERR(rump_sys_access("/ro", RUMP_W_OK), EROFS);
	EXPECT_OK(rump_sys_access("/ro", RUMP_R_OK));
	fd = EXPECT_OK(rump_sys_open("/ro", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_OK(rump_sys_unmount("/ro", 0));
	EXPECT_OK(rump_sys_mkdir("/ro/now-writable", 0755));

	/* Stacked mounts: the top one is seen and unmounted first. */
	EXPECT_OK(rump_sys_mkdir("/stk", 0755));
	EXPECT_OK(rump_sys_mount("tmpfs", "/stk", 0, &a, sizeof a));
	EXPECT_OK(rtest_put("/stk/lower", "l", 1));
	EXPECT_OK(rump_sys_mount("tmpfs", "/stk", 0, &a, sizeof a));
	EXPECT_ERR(rump_sys_stat("/stk/lower", &st), ENOENT);
	EXPECT_OK(rtest_put("/stk/upper", "u", 1));
	EXPECT_OK(rump_sys_unmount("/stk", 0));
	EXPECT_OK(rump_sys_stat("/stk/lower", &st));
	EXPECT_ERR(rump_sys_stat("/stk/upper", &st), ENOENT);
	EXPECT_OK(rump_sys_unmount("/stk", 0));
	EXPECT_ERR(rump_sys_stat("/stk/lower", &st), ENOENT);

	/* Mount errors. */
	EXPECT_OK(rtest_put("/afile", "f", 1));
	EXPECT_ERR(rump_sys_mount("nosuchfs", "/stk", 0, &a, sizeof a), ENODEV);
	EXPECT_ERR(rump_sys_mount("tmpfs", "/none", 0, &a, sizeof a), ENOENT);
	EXPECT_ERR(rump_sys_mount("tmpfs", "/afile", 0, &a, sizeof a), ENOTDIR);
	struct rump_tmpfs_args bad = a;
	bad.ta_version = 99;
	EXPECT_ERR(rump_sys_mount("tmpfs", "/stk", 0, &bad, sizeof bad), EINVAL);
	EXPECT_ERR(rump_sys_mount("tmpfs", "/stk", 0, &a, 4), EINVAL);
	EXPECT_ERR(rump_sys_unmount("/none", 0), ENOENT);
	EXPECT_ERR(rump_sys_unmount("/stk", 0), EINVAL);
	EXPECT_ERR(rump_sys_unmount("/afile", 0), EINVAL);
	EXPECT_ERR(rump_sys_statvfs1("/none", &sv, RUMP_ST_WAIT), ENOENT);
	/* No mount was left behind by the failures. */
	EXPECT_OK(rump_sys_statvfs1("/stk", &sv, RUMP_ST_WAIT));
	EXPECT_STR(sv.f_mntonname, "/");
}

int
main(void)
{
	rtest_init();
	test_mount_unmount();
	test_statvfs();
	test_getvfsstat();
	test_rdonly_stack_errors();
	return rtest_done();
}
