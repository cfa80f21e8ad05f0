/*
 * rumpctl: what NetBSD's rump.* utilities do, against a rump kernel served by
 * rump_server, in one command over librumpclient (RUMP_SERVER names the
 * server).  Each command is a few system calls; the text of --help is the
 * manual.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include <rump/rumpclient.h>

#include "rsysctl.h"
#include "netcmds.h"

static const char manual[] =
"NAME\n"
"     rumpctl -- control a rump kernel served by rump_server\n"
"\n"
"SYNOPSIS\n"
"     rumpctl mount -t type [-o options] special dir\n"
"     rumpctl umount [-f] dir\n"
"     rumpctl mkdir [-m mode] dir\n"
"     rumpctl stat path...\n"
"     rumpctl df [path]\n"
"     rumpctl sysctl [-w] name[=value]...\n"
"     rumpctl sysctl -a\n"
"     rumpctl dmesg\n"
"     rumpctl ps\n"
"     rumpctl halt [-n]\n"
"     rumpctl ifconfig [-a] | ifconfig if [create | destroy | up | down |\n"
"         inet addr[/prefix] [netmask mask] | -inet addr | linkstr path |\n"
"         -linkstr | mtu n]...\n"
"     rumpctl route add | change [-net | -host] dst[/prefix] gateway\n"
"     rumpctl route delete dst[/prefix] | get dst | show\n"
"     rumpctl ping [-c count] [-i wait] addr\n"
"     rumpctl arp -a\n"
"     rumpctl netstat [-t] [-u] [-x] [-f inet | local]\n"
"\n"
"DESCRIPTION\n"
"     rumpctl connects to the rump kernel named by RUMP_SERVER as a remote\n"
"     client (one process in that kernel for the duration of the command) and\n"
"     does one thing there, as NetBSD's rump.* utilities do.\n"
"\n"
"     mount     Mounts a file system of type tmpfs, ext2fs, msdos (or msdosfs),\n"
"               or cd9660 on dir, passing the file system's NetBSD argument\n"
"               structure.  special is the device node (for a disk given to\n"
"               rump_server with -d key=/dev/img,... it is /dev/img); tmpfs\n"
"               ignores it.  Options, comma-separated: ro (read-only), rw,\n"
"               size=bytes and mode=octal (tmpfs).\n"
"     umount    Unmounts the file system on dir (-f: forcibly).\n"
"     mkdir     Makes a directory (mode 0755 unless -m).\n"
"     stat      Prints each path's type, mode, links, owner, size, times\n"
"               and, for a symbolic link, its target.\n"
"     df        Prints the size and use of the file system holding path,\n"
"               or of every mounted file system without one.\n"
"     sysctl    Prints the value of each name (a directory: every value\n"
"               under it; -a: everything); name=value writes it first and\n"
"               prints \"name: old -> new\".  Integers, 64-bit integers,\n"
"               booleans and strings can be written.\n"
"     dmesg     Prints the kernel's message buffer (kern.msgbuf).\n"
"     ps        Lists the kernel's processes (kern.proc2): pid, parent pid,\n"
"               user id, number of lwps, open descriptors (kern.file2),\n"
"               state and command name.  Each remote\n"
"               client is one process, named after its program; pid 1 is the\n"
"               server's own process and rumpctl is among them.\n"
"     halt      Halts the kernel after syncing its file systems (-n: without\n"
"               syncing); rump_server then exits.\n"
"     ifconfig  Lists the interfaces (flags, MTU, link address, link string,\n"
"               IPv4 addresses), or changes one in the order given: create\n"
"               and destroy it (shmif0, virt0), bring it up or down, add an\n"
"               IPv4 address (/24 unless a prefix or netmask is given; the\n"
"               first address brings the interface up) or remove one, attach\n"
"               it to its host side (linkstr: shmif's bus file) or detach it,\n"
"               set its MTU.  The interface ioctls of NetBSD's ifconfig.\n"
"     route     Adds, changes or deletes a route through a gateway, shows the\n"
"               route a packet to dst takes (get), or lists the routing table\n"
"               (show; net.route.inet.dump).  Routing-socket messages.\n"
"     ping      Sends ICMP echo requests (one per wait seconds, default 1;\n"
"               count of them, default until interrupted) and prints the\n"
"               replies; exit status 0 if any came back, 2 if none.\n"
"     arp       Lists the ARP cache (net.route.inet.llinfo).\n"
"     netstat   Lists the TCP and UDP sockets with their queues, endpoints and\n"
"               states (net.inet.tcp.pcblist, net.inet.udp.pcblist), then the\n"
"               local sockets (net.local.*.pcblist), as netstat -an does; -t,\n"
"               -u, -x (or -f inet, -f local) list only TCP, UDP, local ones.\n"
"\n"
"ENVIRONMENT\n"
"     RUMP_SERVER  the server: unix://path, tcp://addr:port, tcp://[v6addr]:port\n"
"\n"
"EXIT STATUS\n"
"     0 on success, 1 when the kernel refused (the message names the object and\n"
"     the error), 2 for bad usage or when the server cannot be reached.\n"
"\n"
"EXAMPLES\n"
"     rump_server -d key=/dev/img,hostpath=disk.img,size=host unix://ctrl\n"
"     export RUMP_SERVER=unix://ctrl\n"
"     rumpctl mkdir /mnt && rumpctl mount -t ext2fs /dev/img /mnt\n"
"     rumpctl sysctl kern.hostname=box kern.ostype\n"
"     rumpctl umount /mnt && rumpctl halt\n";

static const char *cmdname = "rumpctl";

static int
usage(void)
{
	fprintf(stderr,
	    "usage: rumpctl mount -t type [-o options] special dir\n"
	    "       rumpctl umount [-f] dir\n"
	    "       rumpctl mkdir [-m mode] dir\n"
	    "       rumpctl stat path...\n"
	    "       rumpctl df [path]\n"
	    "       rumpctl sysctl [-w] name[=value]... | -a\n"
	    "       rumpctl dmesg\n"
	    "       rumpctl ps\n"
	    "       rumpctl halt [-n]\n"
	    "       rumpctl ifconfig [-a] | ifconfig IF [create|destroy|up|down|inet ADDR[/PREFIX]|linkstr PATH|...]...\n"
	    "       rumpctl route add|change|delete|get|show ...\n"
	    "       rumpctl ping [-c count] [-i wait] ADDR\n"
	    "       rumpctl arp -a\n"
	    "       rumpctl netstat [-t] [-u] [-x] [-f inet|local]\n"
	    "       rumpctl --help\n");
	return 2;
}

/* "rumpctl mount: /mnt: No such file or directory" */
static int
fail(const char *what)
{
	fprintf(stderr, "rumpctl %s: %s: %s\n", cmdname, what, strerror(errno));
	return 1;
}

/* --- mount, umount, mkdir ------------------------------------------------------------------ */

static int mountfail(const char *spec, const char *dir);

static int
cmd_mount(int argc, char **argv)
{
	const char *type = NULL, *opts = "", *spec, *dir;
	int flags = 0, i;
	long long size = 0;
	unsigned mode = 0;
	char obuf[256], *o, *save;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			type = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			opts = argv[++i];
		else if (strcmp(argv[i], "-r") == 0)
			flags |= RUMP_MNT_RDONLY;
		else
			return usage();
	}
	if (type == NULL || argc - i != 2)
		return usage();
	spec = argv[i];
	dir = argv[i + 1];
	snprintf(obuf, sizeof obuf, "%s", opts);
	for (o = strtok_r(obuf, ",", &save); o != NULL; o = strtok_r(NULL, ",", &save)) {
		if (strcmp(o, "ro") == 0 || strcmp(o, "rdonly") == 0)
			flags |= RUMP_MNT_RDONLY;
		else if (strcmp(o, "rw") == 0)
			flags &= ~RUMP_MNT_RDONLY;
		else if (strncmp(o, "size=", 5) == 0)
			size = strtoll(o + 5, NULL, 0);
		else if (strncmp(o, "mode=", 5) == 0)
			mode = (unsigned)strtoul(o + 5, NULL, 8);
		else {
			fprintf(stderr, "rumpctl mount: unknown option %s\n", o);
			return 2;
		}
	}

	if (strcmp(type, "tmpfs") == 0) {
		struct rump_tmpfs_args a = { .ta_version = RUMP_TMPFS_ARGS_VERSION,
		    .ta_size_max = size, .ta_root_mode = mode ? mode : 0755 };

		if (rump_sys_mount("tmpfs", dir, flags, &a, sizeof a) == -1)
			return mountfail(spec, dir);
	} else if (strcmp(type, "ext2fs") == 0 || strcmp(type, "ffs") == 0) {
		struct rump_ufs_args a = { .fspec = (char *)spec };

		if (rump_sys_mount(type, dir, flags, &a, sizeof a) == -1)
			return mountfail(spec, dir);
	} else if (strcmp(type, "msdos") == 0 || strcmp(type, "msdosfs") == 0) {
		struct rump_msdosfs_args a;

		memset(&a, 0, sizeof a);
		a.fspec = (char *)spec;
		a.mask = a.dirmask = mode ? mode : 0755;
		a.version = RUMP_MSDOSFSMNT_VERSION;
		if (rump_sys_mount("msdos", dir, flags, &a, sizeof a) == -1)
			return mountfail(spec, dir);
	} else if (strcmp(type, "cd9660") == 0) {
		struct rump_iso_args a;

		memset(&a, 0, sizeof a);
		a.fspec = spec;
		if (rump_sys_mount("cd9660", dir, flags | RUMP_MNT_RDONLY, &a, sizeof a) == -1)
			return mountfail(spec, dir);
	} else {
		fprintf(stderr, "rumpctl mount: unknown file system type %s (tmpfs, ext2fs, msdos, cd9660)\n", type);
		return 2;
	}
	return 0;
}

/* The mount failed: the message names both ends, the error may be about either. */
static int
mountfail(const char *spec, const char *dir)
{
	fprintf(stderr, "rumpctl mount: %s on %s: %s\n", spec, dir, strerror(errno));
	return 1;
}

static int
cmd_umount(int argc, char **argv)
{
	int flags = 0, i = 1;

	if (i < argc && strcmp(argv[i], "-f") == 0) {
		flags |= RUMP_MNT_FORCE;
		i++;
	}
	if (argc - i != 1)
		return usage();
	if (rump_sys_unmount(argv[i], flags) == -1)
		return fail(argv[i]);
	return 0;
}

static int
cmd_mkdir(int argc, char **argv)
{
	unsigned mode = 0755;
	int i = 1, rv = 0;

	if (i + 1 < argc && strcmp(argv[i], "-m") == 0) {
		mode = (unsigned)strtoul(argv[i + 1], NULL, 8);
		i += 2;
	}
	if (i == argc)
		return usage();
	for (; i < argc; i++)
		if (rump_sys_mkdir(argv[i], mode) == -1)
			rv = fail(argv[i]);
	return rv;
}

/* --- stat, df -------------------------------------------------------------------------------- */

static void
modestr(uint32_t m, char out[11])
{
	static const char types[] = "?pc?d?b?-?l?s?w?";

	out[0] = types[(m & RUMP_S_IFMT) >> 12];
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (0400 >> i)) ? "rwxrwxrwx"[i] : '-';
	if (m & 04000)
		out[3] = out[3] == 'x' ? 's' : 'S';
	if (m & 02000)
		out[6] = out[6] == 'x' ? 's' : 'S';
	if (m & 01000)
		out[9] = out[9] == 'x' ? 't' : 'T';
	out[10] = '\0';
}

static const char *
typename(uint32_t m)
{
	switch (m & RUMP_S_IFMT) {
	case RUMP_S_IFREG: return "regular file";
	case RUMP_S_IFDIR: return "directory";
	case RUMP_S_IFLNK: return "symbolic link";
	case RUMP_S_IFCHR: return "character special file";
	case RUMP_S_IFBLK: return "block special file";
	case RUMP_S_IFIFO: return "fifo";
	case RUMP_S_IFSOCK: return "socket";
	}
	return "unknown";
}

static void
timestr(const struct rump_timespec *ts, char *buf, size_t len)
{
	time_t t = (time_t)ts->tv_sec;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%09ld UTC", (long)ts->tv_nsec);
}

static int
cmd_stat(int argc, char **argv)
{
	int rv = 0;

	if (argc < 2)
		return usage();
	for (int i = 1; i < argc; i++) {
		struct rump_stat st;
		char mode[11], a[64], m[64], c[64], target[1025];

		if (rump_sys_lstat(argv[i], &st) == -1) {
			rv = fail(argv[i]);
			continue;
		}
		modestr(st.st_mode, mode);
		printf("  File: %s", argv[i]);
		if ((st.st_mode & RUMP_S_IFMT) == RUMP_S_IFLNK) {
			ssize_t n = rump_sys_readlink(argv[i], target, sizeof target - 1);

			if (n >= 0) {
				target[n] = '\0';
				printf(" -> %s", target);
			}
		}
		printf("\n  Size: %" PRId64 "\tBlocks: %" PRId64 "\tIO Block: %d\t%s\n",
		    st.st_size, st.st_blocks, st.st_blksize, typename(st.st_mode));
		printf("Device: %" PRIu64 "\tInode: %" PRIu64 "\tLinks: %u",
		    st.st_dev, st.st_ino, st.st_nlink);
		if ((st.st_mode & RUMP_S_IFMT) == RUMP_S_IFCHR || (st.st_mode & RUMP_S_IFMT) == RUMP_S_IFBLK)
			printf("\tDevice type: %" PRIu64 ",%" PRIu64, (st.st_rdev >> 8) & 0xfff,
			    (st.st_rdev & 0xff) | ((st.st_rdev >> 12) & 0xfff00));
		printf("\nAccess: (%04o/%s)  Uid: %u  Gid: %u\n", st.st_mode & 07777, mode,
		    st.st_uid, st.st_gid);
		timestr(&st.st_atim, a, sizeof a);
		timestr(&st.st_mtim, m, sizeof m);
		timestr(&st.st_ctim, c, sizeof c);
		printf("Access: %s\nModify: %s\nChange: %s\n", a, m, c);
	}
	return rv;
}

static void
df_line(const struct rump_statvfs *sv)
{
	uint64_t f = sv->f_frsize ? sv->f_frsize : sv->f_bsize;
	uint64_t total = sv->f_blocks * f / 1024, avail = sv->f_bavail * f / 1024;
	uint64_t used = (sv->f_blocks - sv->f_bfree) * f / 1024;

	printf("%-16s %-8s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %4" PRIu64 "%%  %s\n",
	    sv->f_mntfromname, sv->f_fstypename, total, used, avail,
	    total ? (used * 100 + total - 1) / total : 0, sv->f_mntonname);
}

/* df PATH: the file system holding it (statvfs1); df: every mount (getvfsstat). */
static int
cmd_df(int argc, char **argv)
{
	struct rump_statvfs *sv;
	int n;

	if (argc > 2)
		return usage();
	if (argc > 1) {
		/* 3 KiB: off the stack. */
		if ((sv = calloc(1, sizeof *sv)) == NULL)
			return fail("memory");
		if (rump_sys_statvfs1(argv[1], sv, 1) == -1) {
			int e = errno;

			free(sv);
			errno = e;
			return fail(argv[1]);
		}
		n = 1;
	} else {
		/* Mounts may come and go between the count and the listing: room for a few more. */
		if ((n = rump_sys_getvfsstat(NULL, 0, 1)) == -1)
			return fail("getvfsstat");
		n += 8;
		if ((sv = calloc((size_t)n, sizeof *sv)) == NULL)
			return fail("memory");
		if ((n = rump_sys_getvfsstat(sv, (size_t)n * sizeof *sv, 1)) == -1) {
			int e = errno;

			free(sv);
			errno = e;
			return fail("getvfsstat");
		}
	}
	printf("%-16s %-8s %12s %12s %12s %5s  %s\n", "Filesystem", "Type", "1K-blocks", "Used",
	    "Avail", "Use%", "Mounted on");
	for (int i = 0; i < n; i++)
		df_line(&sv[i]);
	free(sv);
	return 0;
}

/* --- ps ------------------------------------------------------------------------------------ */

static int
bypid(const void *a, const void *b)
{
	const struct rump_kinfo_proc2 *x = a, *y = b;

	return (x->p_pid > y->p_pid) - (x->p_pid < y->p_pid);
}

/* Open descriptors of pid: kern.file2's size query, which counts KERN_FILESLOP records more. */
static long
nfds(int pid)
{
	int mib[6] = { RUMP_CTL_KERN, RUMP_KERN_FILE2, RUMP_KERN_FILE_BYPID, pid,
	    (int)sizeof(struct rump_kinfo_file), 0 };
	size_t sz = 0;

	if (rump_sys___sysctl(mib, 6, NULL, &sz, NULL, 0) == -1)
		return -1;
	return (long)(sz / sizeof(struct rump_kinfo_file)) - RUMP_KERN_FILESLOP;
}

/* kern.proc2.KERN_PROC_ALL.0.size.count, as NetBSD's ps asks it: the size first, then the list. */
static int
cmd_ps(int argc, char **argv)
{
	int mib[6] = { RUMP_CTL_KERN, RUMP_KERN_PROC2, RUMP_KERN_PROC_ALL, 0,
	    (int)sizeof(struct rump_kinfo_proc2), 0 };
	struct rump_kinfo_proc2 *kp = NULL;
	size_t sz = 0;
	int n;

	(void)argv;
	if (argc > 1)
		return usage();
	for (int tries = 0;; tries++) {
		if (rump_sys___sysctl(mib, 6, NULL, &sz, NULL, 0) == -1)
			return fail("kern.proc2");
		free(kp);
		if ((kp = malloc(sz)) == NULL)
			return fail("memory");
		mib[5] = (int)(sz / sizeof *kp);
		if (rump_sys___sysctl(mib, 6, kp, &sz, NULL, 0) == 0)
			break;
		/* More processes than the slop allowed for: ask again. */
		if (errno != ENOMEM || tries == 4) {
			int e = errno;

			free(kp);
			errno = e;
			return fail("kern.proc2");
		}
	}
	n = (int)(sz / sizeof *kp);
	qsort(kp, (size_t)n, sizeof *kp, bypid);
	printf("%6s %6s %6s %5s %4s %-4s %s\n", "PID", "PPID", "UID", "NLWP", "FDS", "STAT", "COMMAND");
	for (int i = 0; i < n; i++) {
		const struct rump_kinfo_proc2 *p = &kp[i];
		char comm[sizeof p->p_comm + 1];

		memcpy(comm, p->p_comm, sizeof p->p_comm);
		comm[sizeof p->p_comm] = '\0';
		long fds = nfds(p->p_pid);
		char fdstr[24];

		if (fds < 0)
			snprintf(fdstr, sizeof fdstr, "-");	/* gone since the list was made */
		else
			snprintf(fdstr, sizeof fdstr, "%ld", fds);
		printf("%6d %6d %6u %5" PRIu64 " %4s %-4s %s\n", p->p_pid, p->p_ppid, p->p_uid, p->p_nlwps,
		    fdstr, p->p_realstat == 3 ? "D" : "A", comm);	/* SDYING : SACTIVE */
	}
	free(kp);
	return 0;
}

/* --- sysctl, dmesg, halt ------------------------------------------------------------------- */

/* The value of a leaf, formatted into out. */
static int
sc_format(const int *mib, unsigned len, uint32_t type, char *out, size_t outlen)
{
	unsigned char buf[4096];
	size_t sz = sizeof buf;

	if (rump_sys___sysctl(mib, len, buf, &sz, NULL, 0) == -1)
		return -1;
	switch (type) {
	case RUMP_CTLTYPE_INT: {
		int32_t v;

		memcpy(&v, buf, sizeof v);
		snprintf(out, outlen, "%d", v);
		break;
	}
	case RUMP_CTLTYPE_QUAD: {
		int64_t v;

		memcpy(&v, buf, sizeof v);
		snprintf(out, outlen, "%" PRId64, v);
		break;
	}
	case RUMP_CTLTYPE_BOOL:
		snprintf(out, outlen, "%d", buf[0] != 0);
		break;
	case RUMP_CTLTYPE_STRING:
		snprintf(out, outlen, "%.*s", (int)(sz ? strnlen((char *)buf, sz) : 0), (char *)buf);
		break;
	default: {
		size_t o = (size_t)snprintf(out, outlen, "(%zu bytes)", sz);

		for (size_t i = 0; i < sz && i < 32 && o + 4 < outlen; i++)
			o += (size_t)snprintf(out + o, outlen - o, " %02x", buf[i]);
		break;
	}
	}
	return 0;
}

static int
sc_walk(int *mib, unsigned len, const char *prefix)
{
	struct rump_sysctlnode *nodes = malloc(RSYSCTL_MAXCHILDREN * sizeof *nodes);
	int n, rv = 0;

	if (nodes == NULL)
		return fail("memory");
	if ((n = rsysctl_query(mib, len, nodes, RSYSCTL_MAXCHILDREN)) == -1) {
		free(nodes);
		return fail(*prefix ? prefix : "(top)");
	}
	for (int i = 0; i < n; i++) {
		char name[512], val[4096];
		uint32_t type = nodes[i].sysctl_flags & RUMP_SYSCTL_TYPEMASK;

		snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", nodes[i].sysctl_name);
		mib[len] = nodes[i].sysctl_num;
		if (type == RUMP_CTLTYPE_NODE) {
			if (len + 1 < RUMP_CTL_MAXNAME)
				rv |= sc_walk(mib, len + 1, name);
			continue;
		}
		/* Unreadable leaves (write-only, the message ring's size races) are skipped. */
		if (sc_format(mib, len + 1, type, val, sizeof val) == 0)
			printf("%s = %s\n", name, val);
	}
	free(nodes);
	return rv;
}

static int
sc_one(char *arg)
{
	int mib[RUMP_CTL_MAXNAME];
	unsigned len;
	struct rump_sysctlnode node;
	char *eq = strchr(arg, '='), old[4096], now[4096];
	uint32_t type;

	if (eq != NULL)
		*eq = '\0';
	if (rsysctl_lookup(arg, mib, &len, &node) == -1)
		return fail(arg);
	type = node.sysctl_flags & RUMP_SYSCTL_TYPEMASK;
	if (eq == NULL) {
		if (type == RUMP_CTLTYPE_NODE)
			return sc_walk(mib, len, arg);
		if (sc_format(mib, len, type, now, sizeof now) == -1)
			return fail(arg);
		printf("%s = %s\n", arg, now);
		return 0;
	}

	const char *val = eq + 1;
	unsigned char nb[4096];
	size_t nlen;
	char *end;

	switch (type) {
	case RUMP_CTLTYPE_INT: {
		long v = strtol(val, &end, 0);
		int32_t x = (int32_t)v;

		if (*val == '\0' || *end != '\0') {
			fprintf(stderr, "rumpctl sysctl: %s: %s is not an integer\n", arg, val);
			return 2;
		}
		memcpy(nb, &x, sizeof x);
		nlen = sizeof x;
		break;
	}
	case RUMP_CTLTYPE_QUAD: {
		int64_t x = strtoll(val, &end, 0);

		if (*val == '\0' || *end != '\0') {
			fprintf(stderr, "rumpctl sysctl: %s: %s is not an integer\n", arg, val);
			return 2;
		}
		memcpy(nb, &x, sizeof x);
		nlen = sizeof x;
		break;
	}
	case RUMP_CTLTYPE_BOOL:
		nb[0] = strcmp(val, "0") != 0 && strcmp(val, "false") != 0;
		nlen = 1;
		break;
	case RUMP_CTLTYPE_STRING:
		nlen = strlen(val) + 1;
		if (nlen > sizeof nb) {
			errno = ENAMETOOLONG;
			return fail(arg);
		}
		memcpy(nb, val, nlen);
		break;
	default:
		fprintf(stderr, "rumpctl sysctl: %s: cannot write a node of this type\n", arg);
		return 2;
	}
	if (sc_format(mib, len, type, old, sizeof old) == -1)
		return fail(arg);
	if (rump_sys___sysctl(mib, len, NULL, NULL, nb, nlen) == -1)
		return fail(arg);
	if (sc_format(mib, len, type, now, sizeof now) == -1)
		return fail(arg);
	printf("%s: %s -> %s\n", arg, old, now);
	return 0;
}

static int
cmd_sysctl(int argc, char **argv)
{
	int i = 1, rv = 0;

	if (i < argc && strcmp(argv[i], "-a") == 0) {
		int mib[RUMP_CTL_MAXNAME];

		return argc == 2 ? sc_walk(mib, 0, "") : usage();
	}
	if (i < argc && strcmp(argv[i], "-w") == 0)
		i++;
	if (i == argc)
		return usage();
	for (; i < argc; i++)
		rv |= sc_one(argv[i]);
	return rv;
}

static int
cmd_dmesg(int argc, char **argv)
{
	int mib[2] = { RUMP_CTL_KERN, RUMP_KERN_MSGBUF };
	size_t len = 0;
	char *buf;

	(void)argv;
	if (argc != 1)
		return usage();
	if (rump_sys___sysctl(mib, 2, NULL, &len, NULL, 0) == -1)
		return fail("kern.msgbuf");
	if ((buf = malloc(len + 1)) == NULL)
		return fail("memory");
	if (rump_sys___sysctl(mib, 2, buf, &len, NULL, 0) == -1) {
		free(buf);
		return fail("kern.msgbuf");
	}
	/* The ring starts with its oldest byte; empty slots are NULs. */
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\0')
			putchar(buf[i]);
	if (len > 0 && buf[len - 1] != '\n' && buf[len - 1] != '\0')
		putchar('\n');
	free(buf);
	return 0;
}

static int
cmd_halt(int argc, char **argv)
{
	int flags = RUMP_RB_HALT;

	if (argc == 2 && strcmp(argv[1], "-n") == 0)
		flags |= RUMP_RB_NOSYNC;
	else if (argc != 1)
		return usage();
	/* The kernel goes away with the call: losing the connection then is success. */
	if (rump_sys_reboot(flags, NULL) == -1 && errno != ENOTCONN && errno != EPIPE &&
	    errno != ECONNRESET)
		return fail("halt");
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "mount", cmd_mount },
	{ "umount", cmd_umount },
	{ "unmount", cmd_umount },
	{ "mkdir", cmd_mkdir },
	{ "stat", cmd_stat },
	{ "df", cmd_df },
	{ "sysctl", cmd_sysctl },
	{ "dmesg", cmd_dmesg },
	{ "ps", cmd_ps },
	{ "halt", cmd_halt },
	{ "ifconfig", cmd_ifconfig },
	{ "route", cmd_route },
	{ "ping", cmd_ping },
	{ "arp", cmd_arp },
	{ "netstat", cmd_netstat },
};

int
main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(manual, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		cmdname = commands[i].name;
		if (argc > 2 && strcmp(argv[2], "--help") == 0) {
			fputs(manual, stdout);
			return 0;
		}
		if (rumpclient_init() == -1) {
			const char *s = getenv("RUMP_SERVER");

			fprintf(stderr, "rumpctl: cannot reach the rump kernel at %s: %s\n",
			    s ? s : "(RUMP_SERVER is not set)", strerror(errno));
			return 2;
		}
		return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "rumpctl: unknown command %s\n", argv[1]);
	return usage();
}
