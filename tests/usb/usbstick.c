/*
 * usbstick FSTYPE FILE EXPECTED WRITTEN -- run in a QEMU guest as an unprivileged user, with
 * RUMP_USB selecting the emulated sticks: boots the rump kernel, whose own USB stack (ugenhc over
 * libusb, uhub, umass, scsibus, sd) attaches the sticks as /dev/sd0, /dev/sd1, ...; mounts the
 * first one FSTYPE accepts at /mnt, lists its tree, checks that /mnt/FILE holds the bytes of the
 * guest file EXPECTED, writes /mnt/WRITTEN, unmounts and halts the kernel (which detaches the
 * devices and stops libusb). Prints "ok - ..." / "not ok - ..." lines, the kernel's boot
 * messages, and exits 0 only if every check passed.
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
}

static void
dmesg(void)
{
	int mib[2] = { RUMP_CTL_KERN, RUMP_KERN_MSGBUF };
	size_t len = 0;
	if (rump_sys___sysctl(mib, 2, NULL, &len, NULL, 0) == -1)
		return;
	char *buf = malloc(len + 1);
	if (buf == NULL || rump_sys___sysctl(mib, 2, buf, &len, NULL, 0) == -1) {
		free(buf);
		return;
	}
	printf("--- dmesg\n");
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\0')
			putchar(buf[i]);
	printf("--- end of dmesg\n");
	free(buf);
}

/* Lists the tree under path: one "path size" line per entry. */
static void
walk(const char *path, int depth)
{
	int fd = rump_sys_open(path, RUMP_O_RDONLY | RUMP_O_DIRECTORY, 0);
	if (fd < 0) {
		printf("cannot open %s: errno %d\n", path, errno);
		nfail++;
		return;
	}
	static char buf[8192];
	int n;
	while ((n = rump_sys_getdents(fd, buf, sizeof buf)) > 0) {
		for (int off = 0; off < n;) {
			struct rump_dirent *d = (struct rump_dirent *)(buf + off);
			off += d->d_reclen;
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			char sub[1024];
			snprintf(sub, sizeof sub, "%s/%s", path, d->d_name);
			struct rump_stat st;
			if (rump_sys_stat(sub, &st) == 0)
				printf("tree %s %lld\n", sub, (long long)st.st_size);
			if (d->d_type == RUMP_DT_DIR && depth < 8)
				walk(sub, depth + 1);
		}
	}
	rump_sys_close(fd);
}

static int
mount_any(const char *fstype)
{
	char dev[32];
	for (int i = 0; i < 4; i++) {
		snprintf(dev, sizeof dev, "/dev/sd%d", i);
		int rv;
		if (strcmp(fstype, "msdos") == 0) {
			struct rump_msdosfs_args a;
			memset(&a, 0, sizeof a);
			a.fspec = dev;
			rv = rump_sys_mount("msdos", "/mnt", 0, &a, sizeof a);
		} else {
			struct rump_ufs_args a = { .fspec = dev };
			rv = rump_sys_mount(fstype, "/mnt", 0, &a, sizeof a);
		}
		if (rv == 0) {
			printf("mounted %s from %s\n", fstype, dev);
			return 0;
		}
	}
	return -1;
}

int
main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: usbstick FSTYPE FILE EXPECTED WRITTEN\n");
		return 2;
	}
	const char *fstype = argv[1], *file = argv[2], *expected = argv[3], *written = argv[4];

	int rv = rump_init();
	check(rv == 0, "rump_init", rv);
	if (rv != 0)
		return 1;
	dmesg();
	struct rump_stat st;
	check(rump_sys_stat("/dev/sd0", &st) == 0, "/dev/sd0 exists", errno);
	check(rump_sys_mkdir("/mnt", 0755) == 0, "mkdir /mnt", errno);
	rv = mount_any(fstype);
	check(rv == 0, "mount a stick", errno);
	if (rv != 0)
		return 1;
	walk("/mnt", 0);

	/* The file's bytes against the guest's copy of what the host put on the stick. */
	FILE *f = fopen(expected, "rb");
	check(f != NULL, "open the expected copy", errno);
	if (f == NULL)
		return 1;
	static char want[1 << 20], got[1 << 20];
	size_t nwant = fread(want, 1, sizeof want, f);
	fclose(f);
	char path[512];
	snprintf(path, sizeof path, "/mnt/%s", file);
	int fd = rump_sys_open(path, RUMP_O_RDONLY, 0);
	check(fd >= 0, "open the file on the stick", errno);
	size_t ngot = 0;
	if (fd >= 0) {
		ssize_t n;
		while (ngot < sizeof got && (n = rump_sys_read(fd, got + ngot, sizeof got - ngot)) > 0)
			ngot += (size_t)n;
		rump_sys_close(fd);
	}
	size_t same = 0;
	while (same < nwant && same < ngot && want[same] == got[same])
		same++;
	if (ngot != nwant || same != nwant)
		printf("# read %zu bytes, expected %zu; the first %zu are right (then %02x %02x, expected %02x %02x)\n",
		    ngot, nwant, same, (unsigned char)got[same], (unsigned char)got[same + 1],
		    (unsigned char)want[same], (unsigned char)want[same + 1]);
	check(ngot == nwant && same == nwant, "the file read through umass/sd has the host's bytes", 0);

	/* Write a file; several clusters, so that the FAT and data both change. */
	snprintf(path, sizeof path, "/mnt/%s", written);
	fd = rump_sys_open(path, RUMP_O_CREAT | RUMP_O_RDWR | RUMP_O_TRUNC, 0644);
	check(fd >= 0, "create a file on the stick", errno);
	if (fd >= 0) {
		for (int i = 0; i < 1000; i++) {
			char line[64];
			int len = snprintf(line, sizeof line, "line %04d written by rump over usb\n", i);
			if (rump_sys_write(fd, line, (size_t)len) != len) {
				check(0, "write", errno);
				break;
			}
		}
		check(rump_sys_fsync(fd) == 0, "fsync", errno);
		rump_sys_close(fd);
	}
	check(rump_sys_unmount("/mnt", 0) == 0, "unmount", errno);
	check(rump_sys_reboot(RUMP_RB_HALT, NULL) == 0 || errno == 0, "halt the kernel", errno);
	printf("%d failed\n", nfail);
	return nfail == 0 ? 0 : 1;
}
