/*
 * usbhub -- run in a QEMU guest as an unprivileged user, with an emulated usb-hub on a root port
 * of the xHCI controller, a FAT32 stick at the hub's port 2 and a keyboard at its port 1, and
 * RUMP_USB selecting the stick only. Checks: ugenhc mirrors the host hub as a software hub
 * ("uhub1 at uhub0 port N"), the stick attaches behind it at the host's port ("umass0 at uhub1
 * port 2"), the keyboard (not selected) does not; the stick mounts, /mnt/FILE reads back as the
 * guest file EXPECTED, /mnt/WRITTEN is written, and the file system unmounts. Then it prints
 * "unplug stick" and waits for umass0 and sd0 to detach while uhub1 stays (the host script does
 * device_del of the stick behind the hub), prints "unplug hub" and waits for uhub1 to detach,
 * and halts. Prints "ok - ..." / "not ok - ..." lines and the kernel's messages; exit 0 only if
 * every check passed.
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

static int nfail;

static void
check(int cond, const char *what, int err)
{
	if (cond)
		printf("ok - %s\n", what);
	else {
		printf("not ok - %s (errno %d)\n", what, err);
		nfail++;
	}
	fflush(stdout);
}

/* The kernel's message buffer as one string; free it. */
static char *
msgbuf(void)
{
	int mib[2] = { RUMP_CTL_KERN, RUMP_KERN_MSGBUF };
	size_t len = 0;
	if (rump_sys___sysctl(mib, 2, NULL, &len, NULL, 0) == -1)
		return NULL;
	char *buf = calloc(1, len + 1);
	if (buf == NULL || rump_sys___sysctl(mib, 2, buf, &len, NULL, 0) == -1) {
		free(buf);
		return NULL;
	}
	/* Records are NUL-separated: drop the NULs. */
	size_t j = 0;
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\0')
			buf[j++] = buf[i];
	buf[j] = '\0';
	return buf;
}

static int
dmesg_has(const char *what)
{
	char *b = msgbuf();
	int r = b != NULL && strstr(b, what) != NULL;
	free(b);
	return r;
}

/* Waits (up to 60 s) until the messages hold every one of the NULL-terminated strings. */
static int
wait_dmesg(const char *const *what)
{
	for (int i = 0; i < 600; i++) {
		int all = 1;
		for (const char *const *w = what; *w && all; w++)
			all = dmesg_has(*w);
		if (all)
			return 1;
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void
dmesg(void)
{
	char *b = msgbuf();
	printf("--- dmesg\n%s--- end of dmesg\n", b ? b : "");
	free(b);
}

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: usbhub FILE EXPECTED WRITTEN\n");
		return 2;
	}
	char want[4096], got[4096], path[512];
	int hfd = open(argv[2], O_RDONLY);
	ssize_t wn = hfd >= 0 ? read(hfd, want, sizeof want) : -1;
	if (hfd >= 0)
		close(hfd);
	if (rump_init() != 0 || rump_sys_mkdir("/mnt", 0755) != 0) {
		printf("not ok - boot\n");
		return 1;
	}
	dmesg();
	/* The software hub's port number on the root hub is the first free one: any. */
	check(dmesg_has("uhub1 at uhub0 port "), "the host hub is mirrored as uhub1 at uhub0", 0);
	check(dmesg_has("umass0 at uhub1 port 2 "), "the stick is umass0 at uhub1 port 2 (its host port)", 0);
	check(dmesg_has("sd0 at scsibus0"), "sd0 attached", 0);
	check(!dmesg_has("at uhub1 port 1"), "the keyboard at port 1, not selected, is left to the host", 0);

	struct rump_msdosfs_args a;
	memset(&a, 0, sizeof a);
	a.fspec = "/dev/sd0";
	int m = rump_sys_mount("msdos", "/mnt", 0, &a, sizeof a);
	check(m == 0, "mount /dev/sd0 (msdos) behind the hub", errno);
	if (m == 0) {
		snprintf(path, sizeof path, "/mnt/%s", argv[1]);
		int fd = rump_sys_open(path, RUMP_O_RDONLY, 0);
		ssize_t n = fd >= 0 ? rump_sys_read(fd, got, sizeof got) : -1;
		check(n >= 0 && n == wn && memcmp(got, want, (size_t)n) == 0, "the file on the stick reads back as the host wrote it", errno);
		if (fd >= 0)
			rump_sys_close(fd);
		snprintf(path, sizeof path, "/mnt/%s", argv[3]);
		fd = rump_sys_open(path, RUMP_O_CREAT | RUMP_O_RDWR | RUMP_O_TRUNC, 0644);
		int ok = fd >= 0;
		for (int i = 0; i < 1000 && ok; i++) {
			char line[64];
			int l = snprintf(line, sizeof line, "line %04d written by rump behind a hub\n", i);
			ok = rump_sys_write(fd, line, (size_t)l) == l;
		}
		check(ok && rump_sys_fsync(fd) == 0, "write a file on the stick", errno);
		if (fd >= 0)
			rump_sys_close(fd);
		check(rump_sys_unmount("/mnt", 0) == 0, "unmount", errno);
	}

	printf("unplug stick\n");
	fflush(stdout);
	const char *stick_gone[] = { "sd0 detached", "umass0 detached", NULL };
	check(wait_dmesg(stick_gone), "the stick behind the hub detached (sd0, umass0)", 0);
	check(!dmesg_has("uhub1 detached"), "uhub1 stays when the stick goes", 0);
	printf("unplug hub\n");
	fflush(stdout);
	const char *hub_gone[] = { "uhub1 detached", NULL };
	check(wait_dmesg(hub_gone), "the hub detached", 0);
	check(rump_sys_open("/dev/sd0", RUMP_O_RDONLY, 0) < 0, "/dev/sd0 is gone", 0);
	dmesg();
	rump_sys_reboot(RUMP_RB_HALT, NULL);
	printf("halted\n");
	return nfail == 0 ? 0 : 1;
}
