/*
 * usbbench -- sequential reads for bench_usb.sh in a QEMU guest.
 *
 *   usbbench FILE          /mnt/FILE on the first USB stick through this kernel's stack
 *                          (ugenhc, umass, sd, msdosfs), in 1 MiB reads, after mounting /dev/sd0.
 *                          Prints the times from process start to rump_init's return, to the
 *                          mount and to the first byte read, then the throughput.
 *   usbbench -host PATH [direct]
 *                          the same reads from a host path through Linux's own drivers (a file
 *                          on the stick mounted with vfat, or /dev/sda with O_DIRECT).
 *   usbbench -write FILE   writes /mnt/FILE (64 MiB in 1 MiB writes, then fsync) on the stick
 *                          through this kernel's stack, and removes it again.
 *   usbbench -host-write PATH
 *                          the same writes through Linux's own drivers.
 * Every process starts with nothing cached on our side (a fresh kernel, an empty buffer cache).
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The guest's busy CPU time so far, in seconds: every CPU's user, nice, system, irq and softirq
 * time from /proc/stat. System-wide, so that work in Linux's interrupt handlers and kernel
 * threads counts on its side as our kernel's host threads count on ours. */
static double
cpu(void)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq;
	FILE *f = fopen("/proc/stat", "r");
	int got = f != NULL ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys,
	    &idle, &iowait, &irq, &softirq) : 0;
	if (f != NULL)
		fclose(f);
	return got == 7 ? (double)(user + nice + sys + irq + softirq) / sysconf(_SC_CLK_TCK) : 0;
}

/* The process's start, from /proc/self/stat (field 22, in clock ticks since boot), on the
 * CLOCK_MONOTONIC scale (Linux's boot-time clock is CLOCK_BOOTTIME; in the guest nothing
 * suspends, so the two agree). */
static double
process_start(void)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (f == NULL || fgets(buf, sizeof buf, f) == NULL) {
		if (f) fclose(f);
		return now();
	}
	fclose(f);
	char *p = strrchr(buf, ')');
	unsigned long long start = 0;
	for (int field = 2; p != NULL && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &start) != 1)
		return now();
	struct timespec bt;
	clock_gettime(CLOCK_BOOTTIME, &bt);
	double boot_now = bt.tv_sec + bt.tv_nsec / 1e9;
	return now() - (boot_now - (double)start / sysconf(_SC_CLK_TCK));
}

static char *buf;

/* A digest of what was read: 8 bytes of every 512-byte sector (FNV-1a over them), so that a fast
 * read is also a right one. bench_usb.sh checks that every read of the file gave the same. Both
 * sides pay it alike, and it costs 2048 loads per MiB. */
static unsigned long long
digest(unsigned long long h, const char *p, ssize_t n)
{
	for (ssize_t off = 0; off + 8 <= n; off += 512) {
		unsigned long long v;
		memcpy(&v, p + off, 8);
		h = (h ^ v) * 0x100000001b3ULL;
	}
	return h;
}
#define DIGEST0 0xcbf29ce484222325ULL

static int
host_read(const char *path, int direct)
{
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		printf("usbbench: %s: %s\n", path, strerror(errno));
		return 1;
	}
	double c1 = cpu();
	double t1 = now();
	long long total = 0;
	ssize_t n = 0;
	unsigned long long h = DIGEST0;
	while (total < (64 << 20) && (n = read(fd, buf, 1 << 20)) > 0) {
		h = digest(h, buf, n);
		total += n;
	}
	double t2 = now();
	double c2 = cpu();
	close(fd);
	if (n < 0) {
		printf("usbbench: read %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("BENCH linux-%s %lld bytes in %.3f s: %.1f MB/s\n", direct ? "raw" : "vfat", total,
	    t2 - t1, total / (t2 - t1) / 1e6);
	printf("CPU linux-%s %.3f s busy (the whole guest) during the reads\n", direct ? "raw" : "vfat", c2 - c1);
	printf("DIGEST linux-%s %016llx\n", direct ? "raw" : "vfat", h);
	return 0;
}

/* Writes 64 MiB to fd in 1 MiB writes, then fsync: the time of both (nothing stays dirty). */
static int
write_all(int fd, ssize_t (*wr)(int, const void *, size_t), int (*sync)(int), const char *what)
{
	for (int i = 0; i < (1 << 20); i++)
		buf[i] = (char)(i * 7 + i / 4096);
	double t1 = now();
	long long total = 0;
	while (total < (64 << 20)) {
		ssize_t n = wr(fd, buf, 1 << 20);
		if (n <= 0) {
			printf("usbbench: write: errno %d\n", errno);
			return 1;
		}
		total += n;
	}
	if (sync(fd) != 0) {
		printf("usbbench: fsync: errno %d\n", errno);
		return 1;
	}
	double t2 = now();
	printf("BENCH %s %lld bytes in %.3f s: %.1f MB/s\n", what, total, t2 - t1, total / (t2 - t1) / 1e6);
	return 0;
}

static ssize_t
rump_write(int fd, const void *p, size_t n)
{
	return rump_sys_write(fd, p, n);
}

static int
rump_fsync(int fd)
{
	return rump_sys_fsync(fd);
}

/* Times a first read of `first` bytes (a byte of a file; a sector of a disk), then reads fd from
 * its start to its end (at most 64 MiB) in 1 MiB rump_sys_reads. The reads start again at offset 0
 * so they fall where Linux's do (host_read): every one a whole, aligned 1 MiB. */
static int
rump_read_all(int fd, size_t first, const char *what, double t0, double tmain, double tinit,
    double tmount)
{
	ssize_t n = rump_sys_read(fd, buf, first);
	double tfirst = now();
	if (n < 0 || rump_sys_lseek(fd, 0, SEEK_SET) != 0) {
		printf("usbbench: first read or seek: errno %d\n", errno);
		return 1;
	}
	long long total = 0;
	unsigned long long h = DIGEST0;
	double c1 = cpu();
	double t1 = now();
	while (total < (64 << 20) && (n = rump_sys_read(fd, buf, 1 << 20)) > 0) {
		h = digest(h, buf, n);
		total += n;
	}
	double t2 = now();
	double c2 = cpu();
	if (n < 0) {
		printf("usbbench: read: errno %d\n", errno);
		return 1;
	}
	printf("START exec->main %.1f ms, rump_init %.1f ms, mount %.1f ms, first byte %.1f ms after exec\n",
	    (tmain - t0) * 1e3, (tinit - tmain) * 1e3, (tmount - tinit) * 1e3, (tfirst - t0) * 1e3);
	printf("BENCH %s %lld bytes in %.3f s: %.1f MB/s\n", what, total, t2 - t1,
	    total / (t2 - t1) / 1e6);
	printf("CPU %s %.3f s busy (the whole guest) during the reads\n", what, c2 - c1);
	printf("DIGEST %s %016llx\n", what, h);
	return 0;
}

int
main(int argc, char **argv)
{
	double t0 = process_start(), tmain = now();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (posix_memalign((void **)&buf, 4096, 1 << 20) != 0)
		return 1;
	if (argc >= 3 && strcmp(argv[1], "-host") == 0)
		return host_read(argv[2], argc > 3 && strcmp(argv[3], "direct") == 0);
	if (argc == 3 && strcmp(argv[1], "-host-write") == 0) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			printf("usbbench: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		int r = write_all(fd, write, fsync, "linux-vfat-write");
		close(fd);
		return r;
	}
	int writing = argc == 3 && strcmp(argv[1], "-write") == 0;
	if (writing) {
		argv++;
		argc--;
	}
	/* -etfs IMG FILE: the same file system from an image in the guest's memory (no USB);
	 * -raw: /dev/sd0 itself, without a file system. */
	const char *img = NULL, *file = NULL;
	int raw = 0;
	if (argc == 4 && strcmp(argv[1], "-etfs") == 0) {
		img = argv[2];
		file = argv[3];
	} else if (argc == 2 && strcmp(argv[1], "-raw") == 0) {
		raw = 1;
	} else if (argc == 2) {
		file = argv[1];
	} else {
		printf("usage: usbbench FILE | usbbench -write FILE | usbbench -etfs IMG FILE | usbbench -raw | "
		    "usbbench -host PATH [direct] | usbbench -host-write PATH\n");
		return 2;
	}
	if (rump_init() != 0 || rump_sys_mkdir("/mnt", 0755) != 0) {
		printf("usbbench: boot failed\n");
		return 1;
	}
	double tinit = now();
	const char *dev = "/dev/sd0";
	if (img != NULL) {
		dev = "/dev/img";
		if (rump_pub_etfs_register(dev, img, RUMP_ETFS_BLK) != 0) {
			printf("usbbench: etfs %s: errno %d\n", img, errno);
			return 1;
		}
	}
	int fd;
	if (raw) {
		fd = rump_sys_open(dev, RUMP_O_RDONLY, 0);
	} else {
		struct rump_msdosfs_args a;
		memset(&a, 0, sizeof a);
		a.fspec = (char *)dev;
		if (rump_sys_mount("msdos", "/mnt", writing ? 0 : RUMP_MNT_RDONLY, &a, sizeof a) != 0) {
			printf("usbbench: mount failed: errno %d\n", errno);
			return 1;
		}
		char path[256];
		snprintf(path, sizeof path, "/mnt/%s", file);
		if (writing) {
			fd = rump_sys_open(path, RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_TRUNC, 0644);
			if (fd < 0) {
				printf("usbbench: create %s: errno %d\n", path, errno);
				return 1;
			}
			int r = write_all(fd, rump_write, rump_fsync, "rump-msdosfs-write");
			rump_sys_close(fd);
			if (rump_sys_unlink(path) != 0 || rump_sys_unmount("/mnt", 0) != 0) {
				printf("usbbench: unlink or unmount after writing: errno %d\n", errno);
				r = 1;
			}
			rump_sys_reboot(RUMP_RB_HALT, NULL);
			return r;
		}
		fd = rump_sys_open(path, RUMP_O_RDONLY, 0);
	}
	double tmount = now();
	if (fd < 0) {
		printf("usbbench: open failed: errno %d\n", errno);
		return 1;
	}
	int r = rump_read_all(fd, raw ? 512 : 1, raw ? "rump-sd0" : img ? "rump-etfs-msdosfs" : "rump-msdosfs",
	    t0, tmain, tinit, tmount);
	rump_sys_close(fd);
	if (!raw)
		rump_sys_unmount("/mnt", 0);
	rump_sys_reboot(RUMP_RB_HALT, NULL);
	return r;
}
