/*
 * rumpusb list [SELECTION] -- the host's USB devices as this kernel's USB stack sees them, and
 * which of its drivers would attach to each (interface by interface). SELECTION is RUMP_USB's:
 * "all" (the default), VVVV:PPPP or BUS.ADDR, comma-separated. Nothing is claimed: the kernel
 * boots with RUMP_USB_PROBE=1, so ugenhc reads descriptors over the default pipe, leaves the
 * host's configuration and drivers alone, and prints one "usb probe:" line per device.
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
usage(void)
{
	fprintf(stderr, "usage: rumpusb list [all | VVVV:PPPP | BUS.ADDR][,...]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "list") != 0 || argc > 3)
		return usage();
	setenv("RUMP_USB", argc == 3 ? argv[2] : "all", 1);
	setenv("RUMP_USB_PROBE", "1", 1);
	int rv = rump_init();
	if (rv != 0) {
		fprintf(stderr, "rumpusb: rump_init failed (error %d)\n", rv);
		return 1;
	}
	int mib[2] = { RUMP_CTL_KERN, RUMP_KERN_MSGBUF };
	size_t len = 0;
	char *buf = NULL;
	if (rump_sys___sysctl(mib, 2, NULL, &len, NULL, 0) == 0 && (buf = calloc(1, len + 1)) != NULL &&
	    rump_sys___sysctl(mib, 2, buf, &len, NULL, 0) != 0)
		len = 0;
	int found = 0, problems = 0;
	for (char *line = buf; buf != NULL && line < buf + len;) {
		char *nl = memchr(line, '\n', (size_t)(buf + len - line));
		if (nl == NULL)
			nl = buf + len;
		*nl = '\0';
		const char *p = line;
		while (*p == '\0' && p < nl)
			p++;
		if (strncmp(p, "usb probe: ", 11) == 0) {
			printf("%s\n", p + 11);
			found++;
		} else if (strncmp(p, "ugenhc: ", 8) == 0) {
			fprintf(stderr, "rumpusb: %s\n", p + 8);
			problems++;
		}
		line = nl + 1;
	}
	if (found == 0 && problems == 0)
		printf("no USB devices selected (\"%s\")\n", getenv("RUMP_USB"));
	free(buf);
	rump_sys_reboot(RUMP_RB_HALT, NULL);
	return problems ? 1 : 0;
}
