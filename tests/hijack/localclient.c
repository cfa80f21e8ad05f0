/*
 * localclient.c: a stand-in for librumpclient.so that runs the kernel inside the hijacked process
 * (librump.so), so that librumphijack can be tested with real programs without a server. It
 * exports rumpclient_init and, through its dependency on librump.so, the rump_sys_* calls that
 * librumphijack looks up in it.
 *
 * RUMPHIJACK_LOCAL=TYPE:IMAGE (TYPE ext2fs or msdos, IMAGE an absolute host path): each process
 * boots a kernel, mounts the image read-write at /mnt, and unmounts it at exit, so processes run
 * one after another see each other's changes through the image. "tmpfs:" mounts an empty tmpfs. Processes must not use the same
 * image at the same time, and children of fork must not use the kernel (no fork protocol here):
 * that is what the server and librumpclient are for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>

static pid_t owner;

static void
local_fini(void)
{
	if (getpid() != owner)
		return;
	/* A descriptor the program left open keeps the mount busy: halting syncs and unmounts. */
	if (rump_sys_unmount("/mnt", 0) != 0)
		rump_sys_reboot(RUMP_RB_HALT, NULL);
}

__attribute__((visibility("default"))) int
rumpclient_init(void)
{
	const char *spec = getenv("RUMPHIJACK_LOCAL");
	const char *colon;
	char type[16];
	int e;

	if ((e = rump_init()) != 0) {
		errno = e;
		return -1;
	}
	if (spec == NULL || (colon = strchr(spec, ':')) == NULL || (size_t)(colon - spec) >= sizeof type) {
		errno = EINVAL;
		return -1;
	}
	memcpy(type, spec, (size_t)(colon - spec));
	type[colon - spec] = '\0';
	if (rump_sys_mkdir("/mnt", 0755) != 0 && errno != EEXIST)
		return -1;
	if (strcmp(type, "tmpfs") == 0) {
		struct rump_tmpfs_args args;
		memset(&args, 0, sizeof args);
		args.ta_version = RUMP_TMPFS_ARGS_VERSION;
		args.ta_root_mode = 0777;
		if (rump_sys_mount("tmpfs", "/mnt", 0, &args, sizeof args) != 0)
			return -1;
		owner = getpid();
		return 0;
	}
	if ((e = rump_pub_etfs_register("/dev/img", colon + 1, RUMP_ETFS_BLK)) != 0) {
		errno = e;
		return -1;
	}
	if (strcmp(type, "msdos") == 0) {
		struct rump_msdosfs_args args;
		memset(&args, 0, sizeof args);
		args.fspec = (char *)"/dev/img";
		args.mask = 0755;
		args.dirmask = 0755;
		if (rump_sys_mount("msdos", "/mnt", 0, &args, sizeof args) != 0)
			return -1;
	} else {
		struct rump_ufs_args args = { .fspec = (char *)"/dev/img" };
		if (rump_sys_mount(type, "/mnt", 0, &args, sizeof args) != 0)
			return -1;
	}
	owner = getpid();
	atexit(local_fini);
	return 0;
}
