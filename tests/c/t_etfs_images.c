/*
 * Disk images through the C ABI, as README.md shows them: images made by the real mke2fs and
 * mkfs.fat/mcopy are registered with rump_pub_etfs_register, mounted with NetBSD's argument
 * structures, read, written (FAT), unmounted and checked with fsck.fat; etfs errors and the
 * EBUSY of a mounted device.
 */
#include "rtest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/rump-t-etfs-XXXXXX";

static void
readfile(const char *path, const char *want)
{
	char buf[256];
	int fd = EXPECT_OK(rump_sys_open(path, RUMP_O_RDONLY));
	ssize_t n = rump_sys_read(fd, buf, sizeof buf - 1);
	EXPECT_EQ(n, (ssize_t)strlen(want));
	if (n >= 0) {
		buf[n] = '\0';
		EXPECT_STR(buf, want);
	}
	rump_sys_close(fd);
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
	snprintf(path, sizeof path, "%s/src/hello.txt", dir);
	FILE *f = fopen(path, "w");
	fputs("hello from ext2\n", f);
	fclose(f);
	if (rtest_sh("mke2fs -q -t ext2 -d %s/src %s/ext2.img 8M", dir, dir) != 0 ||
	    rtest_sh("mkfs.fat -C %s/fat.img 8192 >/dev/null && echo 'hello from fat' > %s/f.txt && "
	       "mcopy -i %s/fat.img %s/f.txt ::/F.TXT", dir, dir, dir, dir) != 0) {
		fprintf(stderr, "mke2fs/mkfs.fat/mcopy failed: run tools/setup-debian.sh\n");
		return 1;
	}

	EXPECT_EQ(rump_init(), 0);
	EXPECT_OK(rump_sys_mkdir("/mnt", 0755));
	EXPECT_OK(rump_sys_mkdir("/fat", 0755));

	/* ext2, read-only, exactly as in the README. */
	snprintf(path, sizeof path, "%s/ext2.img", dir);
	EXPECT_EQ(rump_pub_etfs_register("/dev/disk0", path, RUMP_ETFS_BLK), 0);
	struct rump_ufs_args uargs = { .fspec = "/dev/disk0" };
	EXPECT_OK(rump_sys_mount("ext2fs", "/mnt", RUMP_MNT_RDONLY, &uargs, sizeof uargs));
	readfile("/mnt/hello.txt", "hello from ext2\n");
	EXPECT_ERR(rump_sys_open("/mnt/new", RUMP_O_CREAT | RUMP_O_RDWR, 0644), EROFS);
	struct rump_statvfs sv;
	EXPECT_OK(rump_sys_statvfs1("/mnt", &sv, RUMP_ST_WAIT));
	EXPECT_STR(sv.f_fstypename, "ext2fs");
	EXPECT_STR(sv.f_mntfromname, "/dev/disk0");
	/* A mounted device cannot be mounted again or removed. */
	EXPECT_ERR(rump_sys_mount("ext2fs", "/fat", RUMP_MNT_RDONLY, &uargs, sizeof uargs), EBUSY);
	EXPECT_EQ(rump_pub_etfs_remove("/dev/disk0"), RUMP_EBUSY);
	EXPECT_OK(rump_sys_unmount("/mnt", 0));
	EXPECT_EQ(rump_pub_etfs_remove("/dev/disk0"), 0);

	/* FAT, read-write: write a file, unmount, and let fsck.fat and mtype judge. */
	snprintf(path, sizeof path, "%s/fat.img", dir);
	EXPECT_EQ(rump_pub_etfs_register("/dev/fat0", path, RUMP_ETFS_BLK), 0);
	struct rump_msdosfs_args margs;
	memset(&margs, 0, sizeof margs);
	margs.fspec = "/dev/fat0";
	EXPECT_OK(rump_sys_mount("msdos", "/fat", 0, &margs, sizeof margs));
	readfile("/fat/f.txt", "hello from fat\n");
	int fd = EXPECT_OK(rump_sys_open("/fat/Written by rump.txt", RUMP_O_CREAT | RUMP_O_RDWR, 0644));
	EXPECT_EQ(rump_sys_write(fd, "written\n", 8), 8);
	rump_sys_close(fd);
	EXPECT_OK(rump_sys_unmount("/fat", 0));
	EXPECT_EQ(rtest_sh("fsck.fat -n %s >/dev/null", path), 0);
	EXPECT_EQ(rtest_sh("mtype -i %s '::/Written by rump.txt' | grep -qx written", path), 0);

	/* etfs errors, as errno values of the rump kernel. */
	EXPECT_EQ(rump_pub_etfs_register("/dev/none", "/nonexistent/image", RUMP_ETFS_BLK), RUMP_ENOENT);
	EXPECT_EQ(rump_pub_etfs_register("/dev/fat0", path, RUMP_ETFS_BLK), RUMP_EEXIST);
	EXPECT_EQ(rump_pub_etfs_remove("/dev/none"), RUMP_ENOENT);

	rtest_sh("rm -rf %s", dir);
	return rtest_done();
}
