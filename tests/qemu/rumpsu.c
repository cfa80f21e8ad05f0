/*
 * rumpsu UID GID [SUPPLEMENTARY-GID...] -- COMMAND [ARGS...]
 *
 * Drops root to an ordinary user inside the QEMU test guest, then runs COMMAND.  busybox su
 * mangles option arguments, so the guest's init uses this instead: setgroups, then
 * setresgid, then setresuid (in that order, while still allowed to), then exec.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	gid_t groups[32];
	int ngroups = 0, i = 3;
	if (argc < 5) {
		fprintf(stderr, "usage: rumpsu UID GID [GID...] -- COMMAND [ARGS...]\n");
		return 125;
	}
	uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
	gid_t gid = (gid_t)strtoul(argv[2], NULL, 10);
	for (; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (ngroups < 32)
			groups[ngroups++] = (gid_t)strtoul(argv[i], NULL, 10);
	if (i + 1 >= argc) {
		fprintf(stderr, "rumpsu: no command after --\n");
		return 125;
	}
	if (setgroups((size_t)ngroups, groups) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0) {
		perror("rumpsu: dropping privileges");
		return 125;
	}
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "rumpsu: %s: ", argv[i + 1]);
	perror("exec");
	return 127;
}
