/*
 * usbkbd N -- run in a QEMU guest as an unprivileged user with RUMP_USB selecting an emulated
 * keyboard: boots the rump kernel (ugenhc, uhub, ukbd), opens /dev/ukbd0, prints "ready", then
 * prints each key event read from it ("down USAGE" / "up USAGE", HID usages in hex) until N
 * key-up events have arrived, and halts the kernel. Exit 0 on success.
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wscons_event {           /* NetBSD sys/dev/wscons/wsconsio.h, amd64 */
	unsigned int type;
	int value;
	int64_t tv_sec;
	long tv_nsec;
};

int
main(int argc, char **argv)
{
	int want = argc > 1 ? atoi(argv[1]) : 1;
	int rv = rump_init();
	if (rv != 0) {
		printf("rump_init failed: %d\n", rv);
		return 1;
	}
	int fd = rump_sys_open("/dev/ukbd0", RUMP_O_RDONLY, 0);
	if (fd < 0) {
		printf("open /dev/ukbd0 failed: errno %d\n", errno);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	int ups = 0;
	while (ups < want) {
		struct wscons_event ev[16];
		ssize_t n = rump_sys_read(fd, ev, sizeof ev);
		if (n <= 0) {
			printf("read failed: errno %d\n", errno);
			return 1;
		}
		for (size_t i = 0; i < (size_t)n / sizeof ev[0]; i++) {
			printf("%s %02x\n", ev[i].type == 2 ? "down" : "up", ev[i].value);
			if (ev[i].type == 1)
				ups++;
		}
		fflush(stdout);
	}
	rump_sys_close(fd);
	rump_sys_reboot(RUMP_RB_HALT, NULL);
	printf("done\n");
	return 0;
}
