/*
 * boot_mem: how long a process takes to get a rump kernel ready for system calls, and how
 * much resident memory the kernel (with its .NET runtime) adds, measured as users run it: a
 * fresh process per sample.
 *
 *   boot_mem [samples [label]]  spawns itself `samples` times (default 21) and prints the
 *                               median of each measure as key=value lines (keys prefixed
 *                               "label." if given)
 *   boot_mem --child T0         one sample: T0 is the parent's CLOCK_MONOTONIC (ns) just
 *                               before posix_spawn
 *
 * Built twice from this file: boot_mem links librump.so as programs normally do (the library
 * is mapped before main); boot_mem_dlopen (BOOT_MEM_DLOPEN, library path in RUMP_LIB) loads
 * it with dlopen after measuring, so its "before" is a process with no trace of rump.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef BOOT_MEM_DLOPEN
#include <dlfcn.h>
#define KIND "dlopen."
#else
#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#define KIND "linked."
#endif

extern char **environ;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Resident set size in KiB, from /proc/self/statm (pages). */
static long rss_kib(void)
{
	long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2) {
		perror("statm");
		exit(2);
	}
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* One sample; prints: spawn_to_main_ns load_ns init_ns rss_before_kib rss_loaded_kib rss_after_kib */
static int child(int64_t t0)
{
	int64_t t_main = now_ns();
	long rss_before = rss_kib(), rss_loaded;
	int64_t t_loaded;
	int (*init)(void);
	int (*getpid_)(void);
#ifdef BOOT_MEM_DLOPEN
	const char *lib = getenv("RUMP_LIB");
	void *h = dlopen(lib ? lib : "librump.so", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	init = (int (*)(void))dlsym(h, "rump_init");
	getpid_ = (int (*)(void))dlsym(h, "rump_sys_getpid");
	t_loaded = now_ns();
	rss_loaded = rss_kib();
#else
	init = rump_init;
	getpid_ = rump_sys_getpid;
	t_loaded = t_main;
	rss_loaded = rss_before;
#endif
	int64_t t_init = now_ns();
	int e = init();
	int64_t t_ready = now_ns();
	if (e != 0 || getpid_() <= 0) {
		fprintf(stderr, "rump_init: %d\n", e);
		return 2;
	}
	long rss_after = rss_kib();
	printf("%lld %lld %lld %ld %ld %ld\n", (long long)(t_main - t0), (long long)(t_loaded - t_main),
	    (long long)(t_ready - t_init), rss_before, rss_loaded, rss_after);
	return 0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static long long median(long long *v, int n)
{
	qsort(v, n, sizeof *v, cmp_ll);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child(strtoll(argv[2], NULL, 10));

	enum { NFIELD = 6, MAXS = 201 };
	int n = argc > 1 ? atoi(argv[1]) : 21;
	if (n < 1 || n > MAXS)
		n = 21;
	static long long v[NFIELD][MAXS];
	for (int i = 0; i < n; i++) {
		int fds[2];
		if (pipe(fds) != 0) {
			perror("pipe");
			return 2;
		}
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
		posix_spawn_file_actions_addclose(&fa, fds[0]);
		char t0s[32];
		pid_t pid;
		int64_t t0 = now_ns();
		snprintf(t0s, sizeof t0s, "%lld", (long long)t0);
		char *cargv[] = { argv[0], "--child", t0s, NULL };
		if (posix_spawn(&pid, "/proc/self/exe", &fa, NULL, cargv, environ) != 0) {
			perror("posix_spawn");
			return 2;
		}
		posix_spawn_file_actions_destroy(&fa);
		close(fds[1]);
		FILE *f = fdopen(fds[0], "r");
		int got = 0;
		for (int k = 0; k < NFIELD; k++)
			got += fscanf(f, "%lld", &v[k][i]);
		fclose(f);
		int status;
		waitpid(pid, &status, 0);
		if (got != NFIELD || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "boot_mem: sample %d failed\n", i);
			return 1;
		}
	}
	long long spawn = median(v[0], n), load = median(v[1], n), init = median(v[2], n);
	long long before = median(v[3], n), loaded = median(v[4], n), after = median(v[5], n);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "%s%s" KIND, argc > 2 ? argv[2] : "", argc > 2 ? "." : "");
	printf("%ssamples=%d\n", prefix, n);
	printf("%sspawn_to_main_us=%.1f\n", prefix, spawn / 1e3);
	printf("%sdlopen_us=%.1f\n", prefix, load / 1e3);
	printf("%srump_init_us=%.1f\n", prefix, init / 1e3);
	printf("%srss_before_kib=%lld\n", prefix, before);
	printf("%srss_loaded_kib=%lld\n", prefix, loaded);
	printf("%srss_after_kib=%lld\n", prefix, after);
	return 0;
}
