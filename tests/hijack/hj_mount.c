/*
 * hj_mount: what the hijack tests need done in a rump_server's kernel that no unmodified program
 * can ask for (until rumpctl): a remote client (librumpclient, RUMP_SERVER) that
 *	hj_mount mount TYPE DEV DIR	makes DIR and mounts DEV there read-write (ext2fs, msdos, tmpfs)
 *	hj_mount halt			reboots the kernel (syncs and unmounts; the server exits)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rump/rump_syscalls.h>
#include <rump/rumpclient.h>

int
main(int argc, char **argv)
{
	if (rumpclient_init() != 0) {
		fprintf(stderr, "hj_mount: rumpclient_init: %s\n", strerror(errno));
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "halt") == 0) {
		if (rump_sys_reboot(RUMP_RB_HALT, NULL) != 0) {
			fprintf(stderr, "hj_mount: reboot: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc != 5 || strcmp(argv[1], "mount") != 0) {
		fprintf(stderr, "usage: hj_mount mount TYPE DEV DIR | hj_mount halt\n");
		return 2;
	}
	const char *type = argv[2], *dev = argv[3], *dir = argv[4];
	int rv;
	if (rump_sys_mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "hj_mount: mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (strcmp(type, "tmpfs") == 0) {
		struct rump_tmpfs_args a;
		memset(&a, 0, sizeof a);
		a.ta_version = RUMP_TMPFS_ARGS_VERSION;
		a.ta_root_mode = 0777;
		rv = rump_sys_mount("tmpfs", dir, 0, &a, sizeof a);
	} else if (strcmp(type, "msdos") == 0) {
		struct rump_msdosfs_args a;
		memset(&a, 0, sizeof a);
		a.fspec = (char *)dev;
		rv = rump_sys_mount("msdos", dir, 0, &a, sizeof a);
	} else {
		struct rump_ufs_args a = { .fspec = (char *)dev };
		rv = rump_sys_mount(type, dir, 0, &a, sizeof a);
	}
	if (rv != 0) {
		fprintf(stderr, "hj_mount: mount %s %s %s: %s\n", type, dev, dir, strerror(errno));
		return 1;
	}
	return 0;
}
