/*
 * Mount arguments as NetBSD's *_mount checks them (sys/fs/tmpfs/tmpfs_vfsops.c,
 * sys/fs/msdosfs/msdosfs_vfsops.c, sys/ufs/ext2fs/ext2fs_vfsops.c, sys/fs/cd9660/cd9660_vfsops.c):
 * NULL data, or a data_len shorter than the file system's argument structure, is EINVAL before
 * anything else is looked at; the whole structure mounts. Images come from mkfs.fat, mke2fs and
 * xorriso; a missing tool fails the test.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "rtest.h"

static char dir[] = "/tmp/rump-t-margs-XXXXXX";

/* A mount that must succeed, then its unmount. */
static void
mounts(const char *type, int flags, void *args, size_t len)
{
	errno = 0;
	int r = rump_sys_mount(type, "/m", flags, args, len);
	int e = errno;
	char b[96];
	CHECK(r == 0, "mount %s with %zu bytes of arguments: expected success, got errno %s", type, len,
	    rtest_errname(e, b, sizeof b));
	if (r == 0)
		EXPECT_OK(rump_sys_unmount("/m", 0));
}

/* A mount that must fail with err, and leave nothing mounted. */
static void
refused(const char *type, int flags, void *args, size_t len, int err)
{
	char b1[96], b2[96];
	errno = 0;
	int r = rump_sys_mount(type, "/m", flags, args, len);
	int e = errno;
	CHECK(r == -1 && e == err, "mount %s with %s, %zu bytes: expected errno %s, got %d errno %s", type,
	    args ? "arguments" : "NULL data", len, rtest_errname(err, b1, sizeof b1), r, rtest_errname(e, b2, sizeof b2));
	if (r == 0)
		rump_sys_unmount("/m", 0);
}

int
main(void)
{
	char path[512];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/src", dir);
	mkdir(path, 0755);
	/* xorriso writes no image of an empty tree. */
	if (rtest_sh("echo file > %s/src/f", dir) != 0 ||
	    rtest_sh("mke2fs -q -F -t ext2 -d %s/src %s/ext2.img 4M >/dev/null 2>&1", dir, dir) != 0 ||
	    rtest_sh("mkfs.fat -C %s/fat.img 4096 >/dev/null", dir) != 0 ||
	    rtest_sh("xorriso -as mkisofs -quiet -R -o %s/cd.iso %s/src >/dev/null 2>&1", dir, dir) != 0) {
		fprintf(stderr, "FAIL: mke2fs (e2fsprogs), mkfs.fat (dosfstools) or xorriso (xorriso) failed or is "
		    "missing: tools/setup-debian.sh installs them\n");
		return 1;
	}

	rtest_init();
	EXPECT_OK(rump_sys_mkdir("/m", 0755));

	/* tmpfs: struct tmpfs_args, version checked. */
	struct rump_tmpfs_args ta = { .ta_version = RUMP_TMPFS_ARGS_VERSION, .ta_root_mode = 0755 };
	refused("tmpfs", 0, NULL, 0, EINVAL);
	refused("tmpfs", 0, &ta, sizeof ta - 1, EINVAL);
	refused("tmpfs", 0, &ta, 8, EINVAL);
	ta.ta_version = RUMP_TMPFS_ARGS_VERSION + 1;
	refused("tmpfs", 0, &ta, sizeof ta, EINVAL);
	ta.ta_version = RUMP_TMPFS_ARGS_VERSION;
	mounts("tmpfs", 0, &ta, sizeof ta);

	/* msdos: struct msdosfs_args (168 bytes); fspec alone is not enough. */
	snprintf(path, sizeof path, "%s/fat.img", dir);
	EXPECT_EQ(rump_pub_etfs_register("/dev/fat", path, RUMP_ETFS_BLK), 0);
	struct rump_msdosfs_args ma = { .fspec = "/dev/fat", .mask = 0755, .dirmask = 0755 };
	refused("msdos", 0, NULL, 0, EINVAL);
	refused("msdos", 0, &ma, sizeof ma - 1, EINVAL);
	refused("msdos", 0, &ma, sizeof ma.fspec, EINVAL);
	mounts("msdos", 0, &ma, sizeof ma);

	/* ext2fs: struct ufs_args (just fspec). */
	snprintf(path, sizeof path, "%s/ext2.img", dir);
	EXPECT_EQ(rump_pub_etfs_register("/dev/ext2", path, RUMP_ETFS_BLK), 0);
	struct rump_ufs_args ua = { .fspec = "/dev/ext2" };
	refused("ext2fs", 0, NULL, 0, EINVAL);
	refused("ext2fs", 0, &ua, sizeof ua - 1, EINVAL);
	mounts("ext2fs", 0, &ua, sizeof ua);

	/* cd9660: struct iso_args (144 bytes); the length is checked before read-only-ness. */
	snprintf(path, sizeof path, "%s/cd.iso", dir);
	EXPECT_EQ(rump_pub_etfs_register("/dev/cd", path, RUMP_ETFS_BLK), 0);
	struct rump_iso_args ia = { .fspec = "/dev/cd" };
	refused("cd9660", RUMP_MNT_RDONLY, NULL, 0, EINVAL);
	refused("cd9660", RUMP_MNT_RDONLY, &ia, sizeof ia - 1, EINVAL);
	refused("cd9660", RUMP_MNT_RDONLY, &ia, sizeof ia.fspec, EINVAL);
	refused("cd9660", 0, &ia, sizeof ia.fspec, EINVAL);
	refused("cd9660", 0, &ia, sizeof ia, EROFS);
	mounts("cd9660", RUMP_MNT_RDONLY, &ia, sizeof ia);

	rtest_sh("rm -rf %s", dir);
	return rtest_done();
}
