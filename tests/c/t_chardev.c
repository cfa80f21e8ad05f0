/*
 * Character devices through the C ABI: nodes made with mknod(2) in tmpfs for NetBSD's mem driver
 * (/dev/null 2,2 and /dev/zero 2,12), opened, read, written and ioctl'd with rump_sys_*; a node
 * with no driver behind it (ENXIO); mknod's permission and argument errors; and rumpblk's raw
 * side through an etfs character node on a host file.
 */
#include <fcntl.h>
#include <unistd.h>

#include "rtest.h"

/* NetBSD's makedev for amd64 (sys/types.h). */
#define MAKEDEV(x, y)	((uint64_t)((((uint64_t)(x) << 8) & 0x000fff00) | \
			    (((uint64_t)(y) << 12) & 0xfff00000) | ((uint64_t)(y) & 0x000000ff)))

static void
test_null_zero(void)
{
	struct rump_stat st;
	char buf[4096];
	int fd, z, v;

	EXPECT_OK(rump_sys_mkdir("/dev", 0755));
	EXPECT_OK(rump_sys_mknod("/dev/null", RUMP_S_IFCHR | 0666, MAKEDEV(2, 2)));
	EXPECT_OK(rump_sys_mknod("/dev/zero", RUMP_S_IFCHR | 0666, MAKEDEV(2, 12)));
	EXPECT_OK(rump_sys_stat("/dev/zero", &st));
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFCHR);
	EXPECT_EQ(st.st_rdev, MAKEDEV(2, 12));

	z = EXPECT_OK(rump_sys_open("/dev/zero", RUMP_O_RDWR));
	memset(buf, 0xee, sizeof buf);
	EXPECT_EQ(rump_sys_read(z, buf, sizeof buf), sizeof buf);
	int nonzero = 0;
	for (size_t i = 0; i < sizeof buf; i++)
		nonzero += buf[i] != 0;
	EXPECT_EQ(nonzero, 0);
	EXPECT_EQ(rump_sys_pread(z, buf, 16, 1LL << 40), 16);
	EXPECT_EQ(rump_sys_write(z, "abc", 3), 3);
	EXPECT_OK(rump_sys_fstat(z, &st));
	EXPECT_EQ(st.st_rdev, MAKEDEV(2, 12));
	EXPECT_OK(rump_sys_close(z));

	fd = EXPECT_OK(rump_sys_open("/dev/null", RUMP_O_RDWR));
	EXPECT_EQ(rump_sys_read(fd, buf, sizeof buf), 0);
	EXPECT_EQ(rump_sys_write(fd, buf, sizeof buf), sizeof buf);
	/* NetBSD's mm_ioctl. */
	v = 1;
	EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIONBIO, &v));
	v = 0;
	EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIOASYNC, &v));
	v = 1;
	EXPECT_ERR(rump_sys_ioctl(fd, RUMP_FIOASYNC, &v), EOPNOTSUPP);
	EXPECT_ERR(rump_sys_ioctl(fd, RUMP_FIOGETOWN, &v), ENOTTY);
	EXPECT_ERR(rump_sys_ioctl(fd, RUMP_FIONREAD, &v), EOPNOTSUPP);
	EXPECT_OK(rump_sys_close(fd));
}

static void
test_errors(void)
{
	EXPECT_OK(rump_sys_mknod("/dev/none", RUMP_S_IFCHR | 0666, MAKEDEV(480, 0)));
	EXPECT_ERR(rump_sys_open("/dev/none", RUMP_O_RDONLY), ENXIO);
	EXPECT_OK(rump_sys_mknod("/dev/mem", RUMP_S_IFCHR | 0640, MAKEDEV(2, 0)));
	EXPECT_ERR(rump_sys_open("/dev/mem", RUMP_O_RDONLY), ENXIO);

	EXPECT_ERR(rump_sys_mknod("/dev/null", RUMP_S_IFCHR | 0666, MAKEDEV(2, 2)), EEXIST);
	EXPECT_ERR(rump_sys_mknod("/dev/fifo", RUMP_S_IFIFO | 0666, 0), EINVAL);
	EXPECT_ERR(rump_sys_mknod("/dev/dir", RUMP_S_IFDIR | 0755, 0), EINVAL);
	EXPECT_ERR(rump_sys_mknod("/dev/nodev", RUMP_S_IFCHR | 0666, (uint64_t)-1), EINVAL);
	EXPECT_ERR(rump_sys_mknod("/nosuchdir/x", RUMP_S_IFCHR | 0666, MAKEDEV(2, 2)), ENOENT);
	EXPECT_OK(rump_sys_mknodat(RUMP_AT_FDCWD, "/dev/zero2", RUMP_S_IFCHR | 0666, MAKEDEV(2, 12)));
	/* By number, in NetBSD's argument layout: a PAD slot before the dev_t. */
	int64_t args[5], rv;
	struct rump_stat st;
	args[0] = RUMP_AT_FDCWD;
	args[1] = (int64_t)(intptr_t)"/dev/zero3";
	args[2] = RUMP_S_IFCHR | 0666;
	args[3] = 0x5a5a5a5a;
	args[4] = (int64_t)MAKEDEV(2, 12);
	EXPECT_EQ(rump_syscall(RUMP_SYS_mknodat, args, sizeof args, &rv), 0);
	EXPECT_OK(rump_sys_stat("/dev/zero3", &st));
	EXPECT_EQ(st.st_rdev, MAKEDEV(2, 12));

	/* Only root makes nodes. */
	EXPECT_OK(rump_sys_chmod("/dev", 0777));
	struct lwp *me = rump_pub_lwproc_curlwp();
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFCFDG), 0);
	EXPECT_OK(rump_sys_setuid(1000));
	EXPECT_ERR(rump_sys_mknod("/dev/mine", RUMP_S_IFCHR | 0666, MAKEDEV(2, 2)), EPERM);
	/* Opening one the mode allows is fine. */
	int fd = EXPECT_OK(rump_sys_open("/dev/null", RUMP_O_WRONLY));
	EXPECT_EQ(rump_sys_write(fd, "x", 1), 1);
	rump_sys_close(fd);
	rump_pub_lwproc_releaselwp();
	rump_pub_lwproc_switch(me);
}

static void
test_raw_etfs(void)
{
	char path[] = "/tmp/t_chardev-XXXXXX";
	unsigned char data[8192], buf[1024];
	int hfd = mkstemp(path);

	CHECK(hfd >= 0, "mkstemp: errno %d", errno);
	if (hfd < 0)
		return;
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 13 + i / 512);
	CHECK(write(hfd, data, sizeof data) == (ssize_t)sizeof data, "writing the host file");
	close(hfd);

	EXPECT_EQ(rump_pub_etfs_register("/dev/rimg", path, RUMP_ETFS_CHR), 0);
	int fd = EXPECT_OK(rump_sys_open("/dev/rimg", RUMP_O_RDONLY));
	EXPECT_EQ(rump_sys_pread(fd, buf, sizeof buf, 2048), sizeof buf);
	EXPECT_MEM(buf, data + 2048, sizeof buf);
	EXPECT_ERR(rump_sys_pread(fd, buf, 100, 0), EINVAL);
	EXPECT_EQ(rump_sys_pread(fd, buf, 512, sizeof data), 0);
	rump_sys_close(fd);
	EXPECT_EQ(rump_pub_etfs_remove("/dev/rimg"), 0);
	unlink(path);
}

int
main(void)
{
	rtest_init();
	EXPECT_EQ(rump_pub_lwproc_rfork(RUMP_RFFDG), 0);
	rump_sys_umask(0);
	test_null_zero();
	test_errors();
	test_raw_etfs();
	return rtest_done();
}
