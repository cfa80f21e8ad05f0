/*
 * remote_read: throughput of read(2) through rump_server against the host's
 * own pipe, in the same run.
 *
 *	remote_read /abs/path/to/rump_server [MiB] [block KiB]
 *
 * Remote: a librumpclient program (this one) writes MiB (default 1024) into a
 * file in the server's tmpfs, then reads it back with rump_sys_read in blocks
 * of block KiB (default 1024); every block comes as one COPYOUT frame straight
 * into the buffer.  Host: `cat FILE | this program` reading the same number of
 * bytes from a host file in /dev/shm (the page cache: no disk on either side)
 * through a pipe in blocks of the same size.  Each time is the median of 3
 * runs; the output is key=value lines for bench/run.sh and the report.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>
#include <rump/rumpdefs.h>
#include <rump/rump_syscalls.h>
#include <rump/rumpclient.h>

extern char **environ;

#define RUNS 3

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmpd);
	return v[RUNS / 2];
}

static pid_t
spawn(const char *const *argv, int out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_addclose(&fa, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc == 0 ? pid : -1;
}

/* The host's side: cat FILE | (this process reading the pipe). Seconds, or -1. */
static double
host_cat(const char *file, char *buf, size_t bs, uint64_t total)
{
	const char *argv[] = { "/bin/cat", file, NULL };
	uint64_t got = 0;
	int p[2], status;
	double t0, t1;
	pid_t pid;

	if (pipe(p) == -1)
		return -1;
	t0 = now_s();
	pid = spawn(argv, p[1]);
	close(p[1]);
	if (pid == -1) {
		close(p[0]);
		return -1;
	}
	for (;;) {
		ssize_t n = read(p[0], buf, bs);

		if (n > 0) {
			got += (uint64_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		break;
	}
	t1 = now_s();
	close(p[0]);
	waitpid(pid, &status, 0);
	if (got != total) {
		fprintf(stderr, "remote_read: cat gave %llu bytes of %llu\n",
		    (unsigned long long)got, (unsigned long long)total);
		return -1;
	}
	return t1 - t0;
}

int
main(int argc, char **argv)
{
	char dir[] = "/dev/shm/rump-bench-read.XXXXXX", sock[256], url[300], hostfile[256];
	long mib = argc > 2 ? atol(argv[2]) : 1024, bkib = argc > 3 ? atol(argv[3]) : 1024;
	double tw[RUNS], tr[RUNS], th[RUNS];
	size_t bs;
	uint64_t total;
	char *buf;
	int fd, hfd, rc = 1, connected = 0;

	if (argc < 2 || argv[1][0] != '/' || mib <= 0 || bkib <= 0) {
		fprintf(stderr, "usage: %s /abs/path/to/rump_server [MiB] [block KiB]\n", argv[0]);
		return 2;
	}
	bs = (size_t)bkib << 10;
	total = (uint64_t)mib << 20;
	if (total % bs != 0 || (buf = malloc(bs)) == NULL) {
		fprintf(stderr, "remote_read: MiB must be a multiple of the block\n");
		return 2;
	}
	if (mkdtemp(dir) == NULL) {
		/* No /dev/shm: the page cache of /tmp does as well. */
		strcpy(dir, "/tmp/rump-bench-read.XXXXXX");
		if (mkdtemp(dir) == NULL)
			return 1;
	}
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(url, sizeof(url), "unix://%s", sock);
	snprintf(hostfile, sizeof(hostfile), "%s/file", dir);
	{
		const char *sargv[] = { argv[1], url, NULL };
		pid_t p = spawn(sargv, -1);
		int status;

		/* The server returns once it listens (it daemonizes). */
		if (p == -1 || waitpid(p, &status, 0) != p || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "remote_read: rump_server did not start\n");
			goto out;
		}
	}
	setenv("RUMP_SERVER", url, 1);
	if (rumpclient_init() != 0) {
		fprintf(stderr, "remote_read: rumpclient_init: %s\n", strerror(errno));
		goto out;
	}
	connected = 1;

	/* The same bytes on both sides. */
	for (size_t i = 0; i < bs; i++)
		buf[i] = (char)(i * 7 + 1);
	hfd = open(hostfile, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (hfd == -1)
		goto out;
	for (uint64_t o = 0; o < total; o += bs)
		if (write(hfd, buf, bs) != (ssize_t)bs) {
			close(hfd);
			goto out;
		}
	close(hfd);

	fd = rump_sys_open("/f", RUMP_O_CREAT | RUMP_O_RDWR, 0600);
	if (fd == -1) {
		fprintf(stderr, "remote_read: open: %s\n", strerror(errno));
		goto out;
	}
	for (int r = 0; r < RUNS; r++) {
		double t0 = now_s();

		if (rump_sys_lseek(fd, 0, RUMP_SEEK_SET) != 0)
			goto out;
		for (uint64_t o = 0; o < total; o += bs)
			if (rump_sys_write(fd, buf, bs) != (ssize_t)bs) {
				fprintf(stderr, "remote_read: write at %llu: %s\n",
				    (unsigned long long)o, strerror(errno));
				goto out;
			}
		tw[r] = now_s() - t0;
	}
	for (int r = 0; r < RUNS; r++) {
		uint64_t got = 0;
		double t0;

		memset(buf, 0, bs);
		if (rump_sys_lseek(fd, 0, RUMP_SEEK_SET) != 0)
			goto out;
		t0 = now_s();
		for (;;) {
			ssize_t n = rump_sys_read(fd, buf, bs);

			if (n <= 0)
				break;
			got += (uint64_t)n;
		}
		tr[r] = now_s() - t0;
		if (got != total || buf[1] != 8) {
			fprintf(stderr, "remote_read: read %llu bytes of %llu\n",
			    (unsigned long long)got, (unsigned long long)total);
			goto out;
		}
		if ((th[r] = host_cat(hostfile, buf, bs, total)) < 0)
			goto out;
	}
	printf("bytes=%llu\nblock=%zu\n", (unsigned long long)total, bs);
	printf("remote_write_s=%.4f\nremote_read_s=%.4f\nhost_cat_pipe_s=%.4f\n",
	    median(tw), median(tr), median(th));
	printf("remote_read_mibs=%.0f\nhost_cat_pipe_mibs=%.0f\nratio=%.2f\n",
	    (double)mib / median(tr), (double)mib / median(th), median(tr) / median(th));
	rump_sys_close(fd);
	rc = 0;
out:
	/* The server's kernel is halted (and its socket removed) by reboot. */
	if (connected)
		(void)rump_sys_reboot(RUMP_RB_NOSYNC, NULL);
	unlink(hostfile);
	unlink(sock);
	rmdir(dir);
	free(buf);
	return rc;
}
