/*
 * client_cost: what librumphijack and librumpclient add to a short program (issue 9: "the client
 * side is light"). Runs `ls -l DIR` and `true` many times, each a fresh process, and reports the
 * median wall time from fork to exit and the median peak resident set (wait4's ru_maxrss):
 *
 *   plain          ls -l HOSTDIR                       nothing preloaded
 *   hijack, host   ls -l HOSTDIR                       librumphijack preloaded and connected,
 *                                                      every call still the host's
 *   hijack, kernel ls -l /rump/DIR                     the same 100 files in the server's tmpfs
 *
 *	client_cost path/to/rump_server path/to/librumphijack.so [runs]
 *
 * The program is itself a client (linked with librumpclient) to fill the server's directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>
#include <rump/rumpdefs.h>
#include <rump/rump_syscalls.h>

#define NFILES 100
#define MAXRUNS 1000

static double
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
die(const char *what)
{
	fprintf(stderr, "client_cost: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* One configuration: runs argv (environment env) `runs` times; median ms and KiB. */
static void
measure(const char *label, char *const argv[], char *const env[], int runs)
{
	static double ms[MAXRUNS], kib[MAXRUNS];

	for (int i = 0; i < runs; i++) {
		double t0 = now_ms();
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			if (null < 0 || dup2(null, 1) < 0)
				_exit(126);
			execve(argv[0], argv, env);
			_exit(127);
		}
		int status;
		struct rusage ru;
		if (wait4(pid, &status, 0, &ru) != pid)
			die("wait4");
		ms[i] = now_ms() - t0;
		kib[i] = (double)ru.ru_maxrss;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "client_cost: %s: %s exited with status %#x\n", label, argv[0], status);
			exit(1);
		}
	}
	qsort(ms, (size_t)runs, sizeof ms[0], cmpd);
	qsort(kib, (size_t)runs, sizeof kib[0], cmpd);
	printf("| %s | %.2f ms | %.0f KiB |\n", label, ms[runs / 2], kib[runs / 2]);
}

int
main(int argc, char **argv)
{
	char tmp[] = "/tmp/client-cost-XXXXXX", sock[128], url[160], hostdir[160], path[256];
	char envserver[200], envpreload[600];
	int runs = argc > 3 ? atoi(argv[3]) : 200;

	if (argc < 3 || runs < 1 || runs > MAXRUNS) {
		fprintf(stderr, "usage: client_cost path/to/rump_server path/to/librumphijack.so [runs <= %d]\n", MAXRUNS);
		return 2;
	}
	if (mkdtemp(tmp) == NULL)
		die("mkdtemp");
	snprintf(sock, sizeof sock, "%s/ctrl", tmp);
	snprintf(url, sizeof url, "unix://%s", sock);
	snprintf(hostdir, sizeof hostdir, "%s/dir", tmp);

	/* The server returns once it listens; it halts when this program's client reboots it. */
	pid_t spid = fork();
	if (spid == 0) {
		execl(argv[1], argv[1], url, (char *)NULL);
		_exit(127);
	}
	int status;
	if (spid < 0 || waitpid(spid, &status, 0) != spid || status != 0) {
		fprintf(stderr, "client_cost: %s did not start (status %#x)\n", argv[1], status);
		return 1;
	}
	setenv("RUMP_SERVER", url, 1);
	if (rump_init() != 0)
		die("rump_init (connecting to the server)");

	/* The same 100 files on both sides. */
	if (mkdir(hostdir, 0755) != 0 || rump_sys_mkdir("/dir", 0755) != 0)
		die("mkdir");
	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof path, "%s/file%03d", hostdir, i);
		int fd = open(path, O_CREAT | O_WRONLY, 0644);
		if (fd < 0 || write(fd, path, strlen(path)) < 0 || close(fd) != 0)
			die(path);
		snprintf(path, sizeof path, "/dir/file%03d", i);
		fd = rump_sys_open(path, RUMP_O_CREAT | RUMP_O_WRONLY, 0644);
		if (fd < 0 || rump_sys_write(fd, path, strlen(path)) < 0 || rump_sys_close(fd) != 0)
			die(path);
	}

	snprintf(envserver, sizeof envserver, "RUMP_SERVER=%s", url);
	snprintf(envpreload, sizeof envpreload, "LD_PRELOAD=%s", argv[2]);
	char *plain_env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	char *hijack_env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", envserver, envpreload,
	    "RUMPHIJACK=path=/rump", NULL };
	char *ls_host[] = { "/bin/ls", "-l", hostdir, NULL };
	char *ls_kernel[] = { "/bin/ls", "-l", "/rump/dir", NULL };
	char *truecmd[] = { "/bin/true", NULL };

	printf("%d runs each, medians (time from fork to exit; peak resident set):\n\n", runs);
	printf("| program | time | peak RSS |\n|---|---:|---:|\n");
	measure("`true`", truecmd, plain_env, runs);
	measure("`true`, hijack loaded and connected", truecmd, hijack_env, runs);
	measure("`ls -l` of 100 host files", ls_host, plain_env, runs);
	measure("`ls -l` of 100 host files, hijack loaded and connected", ls_host, hijack_env, runs);
	measure("`ls -l` of 100 files in the server's tmpfs, through the hijack", ls_kernel, hijack_env, runs);

	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof path, "%s/file%03d", hostdir, i);
		unlink(path);
	}
	rmdir(hostdir);
	rump_sys_reboot(0, NULL);	/* the server halts */
	unlink(sock);
	rmdir(tmp);
	return 0;
}
