/*
 * usbbench FILE -- sequential read of /mnt/FILE on the first USB stick through this kernel's
 * stack (ugenhc, umass, sd, msdosfs), in 1 MiB reads, after mounting /dev/sd0. Prints the time
 * from process start to the first byte read, and the throughput. Used by bench_usb.sh in a QEMU
 * guest, beside Linux's own usb-storage reading the same stick.
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	double t0 = now();
	if (argc != 2 || rump_init() != 0 || rump_sys_mkdir("/mnt", 0755) != 0) {
		printf("usbbench: boot failed\n");
		return 1;
	}
	struct rump_msdosfs_args a;
	memset(&a, 0, sizeof a);
	a.fspec = "/dev/sd0";
	if (rump_sys_mount("msdos", "/mnt", RUMP_MNT_RDONLY, &a, sizeof a) != 0) {
		printf("usbbench: mount failed: errno %d\n", errno);
		return 1;
	}
	char path[256];
	snprintf(path, sizeof path, "/mnt/%s", argv[1]);
	int fd = rump_sys_open(path, RUMP_O_RDONLY, 0);
	if (fd < 0) {
		printf("usbbench: open failed: errno %d\n", errno);
		return 1;
	}
	static char buf[1 << 20];
	ssize_t n = rump_sys_read(fd, buf, 1);
	double tfirst = now();
	long long total = n > 0 ? n : 0;
	double t1 = now();
	while ((n = rump_sys_read(fd, buf, sizeof buf)) > 0)
		total += n;
	double t2 = now();
	printf("usbbench: first byte %.1f ms after start; %lld bytes in %.3f s: %.1f MB/s\n",
	    (tfirst - t0) * 1e3, total, t2 - t1, total / (t2 - t1) / 1e6);
	rump_sys_close(fd);
	rump_sys_unmount("/mnt", 0);
	rump_sys_reboot(RUMP_RB_HALT, NULL);
	return n < 0;
}
