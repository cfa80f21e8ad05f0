/*
 * usbunplug -- run in a QEMU guest as an unprivileged user with RUMP_USB selecting an emulated
 * stick: mounts /dev/sd0 (msdosfs), prints "ready", then reads /mnt/BIG.BIN over and over while
 * the host unplugs the stick (device_del). Checks: I/O fails with EIO instead of
 * hanging, the kernel detaches sd0 and umass0 (dmesg), the file system can still be unmounted
 * (forcibly), and the kernel halts. Exit 0 when all of that happened.
 * Before "ready" it also starts reading /mnt/HOLD.BIN and leaves it open: its read-ahead windows
 * sit in the stick's zero-copy memory (lent DMA memory) when the stick goes, so ugenhc must keep
 * that memory mapped, and close the device only when the forced unmount gives the windows back
 * (dmesg says so).
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
dmesg_has(const char *what)
{
	int mib[2] = { RUMP_CTL_KERN, RUMP_KERN_MSGBUF };
	size_t len = 0;
	if (rump_sys___sysctl(mib, 2, NULL, &len, NULL, 0) == -1)
		return 0;
	char *buf = calloc(1, len + 1);
	if (buf == NULL || rump_sys___sysctl(mib, 2, buf, &len, NULL, 0) == -1) {
		free(buf);
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	int r = strstr(buf, what) != NULL;
	free(buf);
	return r;
}

int
main(void)
{
	if (rump_init() != 0 || rump_sys_mkdir("/mnt", 0755) != 0) {
		printf("not ok - boot\n");
		return 1;
	}
	struct rump_msdosfs_args a;
	memset(&a, 0, sizeof a);
	a.fspec = "/dev/sd0";
	if (rump_sys_mount("msdos", "/mnt", 0, &a, sizeof a) != 0) {
		printf("not ok - mount /dev/sd0: errno %d\n", errno);
		return 1;
	}
	static char buf[1 << 16];
	int hold = rump_sys_open("/mnt/HOLD.BIN", RUMP_O_RDONLY, 0);
	if (hold < 0 || rump_sys_read(hold, buf, sizeof buf) != (ssize_t)sizeof buf) {
		printf("not ok - open and read /mnt/HOLD.BIN: errno %d\n", errno);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	int err = 0;
	long rounds = 0;
	time_t start = time(NULL);
	while (err == 0 && time(NULL) - start < 60) {
		int fd = rump_sys_open("/mnt/BIG.BIN", RUMP_O_RDONLY, 0);
		if (fd < 0) {
			err = errno;
			break;
		}
		ssize_t n;
		while ((n = rump_sys_read(fd, buf, sizeof buf)) > 0)
			;
		if (n < 0)
			err = errno;
		rump_sys_close(fd);
		rounds++;
		/* The buffer cache may hold the whole file: read around it by writing. */
		fd = rump_sys_open("/mnt/SCRATCH", RUMP_O_CREAT | RUMP_O_RDWR, 0644);
		if (fd >= 0) {
			if (rump_sys_write(fd, buf, sizeof buf) < 0 && err == 0)
				err = errno;
			if (rump_sys_fsync(fd) != 0 && err == 0)
				err = errno;
			rump_sys_close(fd);
		} else if (err == 0)
			err = errno;
	}
	printf("%s - I/O failed after the unplug (errno %d after %ld rounds)\n",
	    err == RUMP_EIO ? "ok" : "not ok", err, rounds);
	int detached = 0;
	for (int i = 0; i < 300 && !detached; i++) {
		detached = dmesg_has("sd0 detached") && dmesg_has("umass0 detached");
		if (!detached) {
			struct timespec ts = { 0, 100000000 };
			nanosleep(&ts, NULL);
		}
	}
	printf("%s - sd0 and umass0 detached\n", detached ? "ok" : "not ok");
	/* HOLD.BIN's next bytes come from a window read before the unplug (in the gone stick's
	 * memory, which must still be mapped), or fail with EIO; nothing else. */
	ssize_t h = rump_sys_read(hold, buf, sizeof buf);
	int herr = h < 0 ? errno : 0;
	int held = h == (ssize_t)sizeof buf || (h < 0 && herr == RUMP_EIO);
	printf("%s - HOLD.BIN read after the unplug: %zd bytes (errno %d)\n", held ? "ok" : "not ok", h, herr);
	int u = rump_sys_unmount("/mnt", RUMP_MNT_FORCE);
	printf("%s - forced unmount of the dead stick (errno %d)\n", u == 0 ? "ok" : "not ok", u == 0 ? 0 : errno);
	int closed = dmesg_has("closed, now that the DMA memory it lent is back");
	printf("%s - the stick was closed once HOLD.BIN's windows gave its DMA memory back\n", closed ? "ok" : "not ok");
	rump_sys_reboot(RUMP_RB_HALT, NULL);
	printf("halted\n");
	return err == RUMP_EIO && detached && held && u == 0 && closed ? 0 : 1;
}
