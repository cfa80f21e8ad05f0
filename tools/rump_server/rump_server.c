/*
 * rump_server -- a rump kernel serving remote clients (NetBSD's rump_server(1)).
 *
 *	rump_server [-s] [-v] [-c ncpu] [-r memlimit] [-l component]... [-m module]...
 *	    [-d key=K,hostpath=P,size=host|BYTES[,type=blk|chr|reg]]... URL
 *
 * URL is unix://path or tcp://addr:port (see rump_init_server in rump.h).
 * Without -s the server detaches once the socket is listening: a script can
 * use it as soon as this command returns.  It exits, syncing the file
 * systems, on SIGTERM, SIGINT or SIGHUP and when a client halts the kernel
 * (reboot(2)).  -l and -m name components linked into librump.so (this
 * kernel loads nothing at run time): they are checked, not loaded.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#ifndef RUMP_SERVER_COMPONENTS
#define RUMP_SERVER_COMPONENTS ""
#endif

#define MAXETFS 64

struct etfs {
	char *key;
	char *hostpath;
	uint64_t size;
	int type;
};

static const char *progname = "rump_server";

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-s] [-v] [-c ncpu] [-r memlimit] [-l component]... [-m module]...\n"
	    "       [-d key=K,hostpath=P,size=host|BYTES[,type=blk|chr|reg]]... URL\n"
	    "  URL: unix://path or tcp://a.b.c.d:port or tcp://[v6addr]:port\n"
	    "  -s   stay in the foreground (default: detach once the socket listens)\n"
	    "  -v   verbose\n"
	    "  -l, -m  components linked into this kernel: %s\n",
	    progname, RUMP_SERVER_COMPONENTS);
	exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A size: digits with an optional k, m, g suffix (powers of 1024). */
static int
parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return -1;
	}
	if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* -l/-m: NetBSD names (librumpfs_tmpfs.so, rumpfs_tmpfs, tmpfs, rumpvfs) of a linked component. */
static void
check_component(const char *name)
{
	static const char *const prefixes[] = { "librumpfs_", "librumpdev_", "librump", "rumpfs_", "rumpdev_", "rump" };
	char buf[128], list[256];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", name);
	n = strlen(buf);
	if (n > 3 && strcmp(buf + n - 3, ".so") == 0)
		buf[n - 3] = '\0';
	name = buf;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i]);

		if (strncmp(buf, prefixes[i], pl) == 0 && buf[pl] != '\0') {
			name = buf + pl;
			break;
		}
	}
	snprintf(list, sizeof(list), ",%s,", RUMP_SERVER_COMPONENTS);
	if (strcmp(name, "kern") == 0 || strcmp(name, "user") == 0)
		return;		/* the base is always there */
	snprintf(buf + sizeof(buf) / 2, sizeof(buf) / 2, ",%s,", name);
	if (strstr(list, buf + sizeof(buf) / 2) == NULL)
		die("component %s is not linked into this kernel (it links: %s)",
		    name, RUMP_SERVER_COMPONENTS);
}

static void
parse_etfs(char *arg, struct etfs *e)
{
	char *opt, *save = NULL;
	int havesize = 0;

	memset(e, 0, sizeof(*e));
	e->type = RUMP_ETFS_BLK;
	for (opt = strtok_r(arg, ",", &save); opt != NULL; opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');

		if (eq == NULL)
			die("-d: %s is not key=value", opt);
		*eq++ = '\0';
		if (strcmp(opt, "key") == 0) {
			e->key = eq;
		} else if (strcmp(opt, "hostpath") == 0) {
			e->hostpath = eq;
		} else if (strcmp(opt, "size") == 0) {
			if (strcmp(eq, "host") == 0)
				e->size = RUMP_ETFS_SIZE_ENDOFF;
			else if (parse_size(eq, &e->size) != 0)
				die("-d: bad size %s", eq);
			havesize = 1;
		} else if (strcmp(opt, "type") == 0) {
			if (strcmp(eq, "blk") == 0)
				e->type = RUMP_ETFS_BLK;
			else if (strcmp(eq, "chr") == 0)
				e->type = RUMP_ETFS_CHR;
			else if (strcmp(eq, "reg") == 0)
				e->type = RUMP_ETFS_REG;
			else
				die("-d: bad type %s (blk, chr or reg)", eq);
		} else {
			die("-d: unknown option %s", opt);
		}
	}
	if (e->key == NULL || e->hostpath == NULL || !havesize)
		die("-d needs key, hostpath and size");
}

/* Signals end the server through a halt, on this thread, like a client's reboot. */
static void *
sigthread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	while (sigwait(set, &sig) != 0)
		continue;
	rump_sys_reboot(0, NULL);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct etfs etfs[MAXETFS];
	int netfs = 0, foreground = 0, verbose = 0, ch, error;
	int readyfd[2] = { -1, -1 };
	const char *url;
	sigset_t set;
	pthread_t t;
	int kp[2];
	char c;

	/*
	 * Descriptors 0-2 must be taken before the kernel starts: the .NET runtime in librump.so
	 * opens files of its own (/dev/urandom, kept open), and one landing on a closed 0-2 would
	 * be replaced by /dev/null when the server detaches (its random reads then spun at EOF
	 * inside a system call).
	 */
	for (;;) {
		int fd = open("/dev/null", O_RDWR);

		if (fd == -1)
			die("/dev/null: %s", strerror(errno));
		if (fd > 2) {
			close(fd);
			break;
		}
	}

	while ((ch = getopt(argc, argv, "c:d:l:m:r:sv")) != -1) {
		uint64_t v;

		switch (ch) {
		case 'c':
			if (parse_size(optarg, &v) != 0 || v == 0 || v > 256)
				die("-c: bad number of CPUs %s", optarg);
			setenv("RUMP_NCPU", optarg, 1);
			break;
		case 'd':
			if (netfs == MAXETFS)
				die("-d: at most %d", MAXETFS);
			parse_etfs(optarg, &etfs[netfs++]);
			break;
		case 'l':
		case 'm':
			check_component(optarg);
			break;
		case 'r': {
			char buf[32];

			if (parse_size(optarg, &v) != 0)
				die("-r: bad memory limit %s", optarg);
			snprintf(buf, sizeof(buf), "%" PRIu64, v);
			setenv("RUMP_MEMLIMIT", buf, 1);
			break;
		}
		case 's':
			foreground = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	url = argv[optind];
	if (verbose)
		setenv("RUMP_VERBOSE", "1", 1);

	/* Detach before the kernel starts any thread; the parent waits for the socket. */
	if (!foreground) {
		pid_t pid;

		if (pipe2(readyfd, O_CLOEXEC) == -1)
			die("pipe: %s", strerror(errno));
		pid = fork();
		if (pid == -1)
			die("fork: %s", strerror(errno));
		if (pid > 0) {
			int status = 1;

			close(readyfd[1]);
			/* Nothing read: the child died before it was ready (it said why). */
			if (read(readyfd[0], &status, sizeof(status)) != sizeof(status))
				status = 1;
			_exit(status == 0 ? 0 : 1);
		}
		close(readyfd[0]);
		setsid();
	}

	/* Every thread the kernel starts inherits the mask: only sigthread takes these. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if ((error = rump_init()) != 0)
		die("rump_init failed (%d)", error);
	for (int i = 0; i < netfs; i++) {
		if (rump_pub_etfs_register_withsize(etfs[i].key, etfs[i].hostpath, etfs[i].type,
		    0, etfs[i].size) != 0)
			die("-d %s: cannot register %s", etfs[i].key, etfs[i].hostpath);
		if (verbose)
			fprintf(stderr, "%s: %s is %s\n", progname, etfs[i].key, etfs[i].hostpath);
	}
	/* A pipe nobody writes: reading it sleeps until the kernel halts. */
	if (rump_sys_pipe2(kp, 0) == -1)
		die("pipe in the kernel: %s", strerror(errno));
	if ((error = rump_init_server(url)) != 0)
		die("rump_init_server %s: %s", url, strerror(error));
	if (pthread_create(&t, NULL, sigthread, &set) != 0)
		die("cannot start the signal thread");
	if (verbose)
		fprintf(stderr, "%s: serving %s\n", progname, url);

	if (!foreground) {
		int devnull = open("/dev/null", O_RDWR);
		int ok = 0;

		if (devnull != -1) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			if (!verbose)
				dup2(devnull, 2);
			if (devnull > 2)
				close(devnull);
		}
		if (write(readyfd[1], &ok, sizeof(ok)) != sizeof(ok))
			return 1;
		close(readyfd[1]);
	}

	/* Halted (a client's reboot or a signal): the read ends with ENXIO. */
	while (rump_sys_read(kp[0], &c, 1) != -1 || errno != ENXIO)
		continue;
	if (verbose)
		fprintf(stderr, "%s: halted\n", progname);
	return 0;
}
