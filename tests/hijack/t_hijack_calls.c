/*
 * t_hijack_calls: an ordinary Linux program (it knows nothing of rump) run under
 * LD_PRELOAD=librumphijack.so with a kernel whose /mnt is an empty, writable file system, reached
 * as /rump/mnt. It checks what the library promises beyond what coreutils exercise: descriptor
 * numbers of the two kernels never collide, dup2 onto host numbers, fcntl flags, errno values as
 * Linux's, the current directory moving between kernels, *at calls on kernel directories,
 * readdir/seekdir, statx, poll and select over descriptors of both kernels, stdio streams,
 * scandir/glob/nftw over kernel trees, mmap of kernel files, and (against a server) children started by fork, exec,
 * posix_spawn, system and popen keeping the kernel process.
 * Prints "N passed, N failed".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#define EQ(got, want) do {							\
	long long g_ = (long long)(got), w_ = (long long)(want);		\
	CHECK(g_ == w_, "%s: expected %lld, got %lld (errno %s)", #got, w_, g_, strerrorname_np(errno)); \
} while (0)
/* A call that must fail with the Linux errno e. */
#define ERR(call, e) do {							\
	errno = 0;								\
	long long r_ = (long long)(call);					\
	CHECK(r_ == -1 && errno == (e), "%s: expected -1 %s, got %lld %s", #call, strerrorname_np(e), r_, \
	    errno ? strerrorname_np(errno) : "0");				\
} while (0)

#define M "/rump/mnt"

static int
is_kernel_number(int fd)
{
	return fd >= 128;	/* the default fdoff */
}

static void
test_descriptors(const char *hostdir)
{
	char hostfile[PATH_MAX], buf[64];
	int k, h, k2, r;

	k = open(M "/f", O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECK(k >= 0 && is_kernel_number(k), "open in the kernel: expected a number >= 128, got %d (%s)", k, strerror(errno));
	snprintf(hostfile, sizeof hostfile, "%s/hostfile", hostdir);
	h = open(hostfile, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(h >= 0 && !is_kernel_number(h), "open on the host: expected a number < 128, got %d", h);
	EQ(write(k, "kernel", 6), 6);
	EQ(write(h, "host", 4), 4);
	EQ(lseek(k, 0, SEEK_SET), 0);
	memset(buf, 0, sizeof buf);
	EQ(read(k, buf, sizeof buf), 6);
	CHECK(strcmp(buf, "kernel") == 0, "read back: expected kernel, got %s", buf);
	EQ(pwrite(k, "KER", 3, 0), 3);
	memset(buf, 0, sizeof buf);
	EQ(pread(k, buf, 6, 0), 6);
	CHECK(strcmp(buf, "KERnel") == 0, "pread: expected KERnel, got %s", buf);
	struct iovec iov[2] = { { (void *)"ab", 2 }, { (void *)"cd", 2 } };
	EQ(writev(k, iov, 2), 4);
	struct stat st;
	EQ(fstat(k, &st), 0);
	EQ(st.st_size, 10);
	CHECK(S_ISREG(st.st_mode), "fstat: expected a regular file, mode %o", st.st_mode);
	EQ(stat(hostfile, &st), 0);
	EQ(st.st_size, 4);	/* the host's file got only the host's write */

	/* fcntl: flags come back in Linux's numbering. */
	EQ(fcntl(k, F_GETFL) & (O_ACCMODE | O_APPEND), O_RDWR);
	EQ(fcntl(k, F_SETFL, O_APPEND), 0);
	EQ(fcntl(k, F_GETFL) & (O_ACCMODE | O_APPEND), O_RDWR | O_APPEND);
	EQ(fcntl(k, F_GETFD), 0);
	EQ(fcntl(k, F_SETFD, FD_CLOEXEC), 0);
	EQ(fcntl(k, F_GETFD), FD_CLOEXEC);

	/* dup2 onto a host number makes it the kernel's; close leaves the original working. */
	EQ(dup2(k, 10), 10);
	EQ(fcntl(10, F_GETFD), 0);	/* dup2 clears close-on-exec */
	EQ(write(10, "!", 1), 1);	/* O_APPEND: at the end */
	EQ(close(10), 0);
	EQ(pread(k, buf, 11, 0), 11);
	CHECK(memcmp(buf, "KERnelabcd!", 11) == 0, "after dup2 write: expected KERnelabcd!, got %.11s", buf);
	ERR(write(10, "x", 1), EBADF);
	k2 = fcntl(k, F_DUPFD, 50);
	CHECK(k2 >= 50, "F_DUPFD 50: expected >= 50, got %d", k2);
	EQ(pread(k2, buf, 3, 0), 3);
	/* dup2 of a host descriptor over a kernel number: the number is the host's again. */
	EQ(dup2(h, k2), k2);
	EQ(pread(k2, buf, 4, 0), 4);
	CHECK(memcmp(buf, "host", 4) == 0, "after dup2 host over kernel: expected host, got %.4s", buf);
	EQ(close(k2), 0);
	r = dup(k);
	CHECK(r >= 0 && is_kernel_number(r) && r != k, "dup: expected a new kernel number, got %d", r);
	EQ(close(r), 0);
	EQ(close(h), 0);
	EQ(close(k), 0);
	ERR(close(k), EBADF);
	ERR(read(k, buf, 1), EBADF);
}

static void
test_errors(void)
{
	ERR(open(M "/nonexistent", O_RDONLY), ENOENT);
	ERR(open(M "/f", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
	EQ(mkdir(M "/d", 0755), 0);
	ERR(mkdir(M "/d", 0755), EEXIST);
	EQ(close(open(M "/d/inner", O_CREAT | O_WRONLY, 0644)), 0);
	ERR(rmdir(M "/d"), ENOTEMPTY);	/* NetBSD's 66, Linux's 39 */
	ERR(open(M "/f/x", O_RDONLY), ENOTDIR);
	ERR(open(M "/d", O_WRONLY), EISDIR);
	ERR(readlink(M "/f", (char[8]){ 0 }, 8), EINVAL);
	ERR(rename(M "/f", "/tmp/hijack-cross"), EXDEV);
	ERR(link(M "/f", "/tmp/hijack-cross"), EXDEV);
	ERR(open("/rumpx/f", O_RDONLY), ENOENT);	/* not under the prefix: the host's */
	char path[1100];	/* longer than MAXPATHLEN (1024) */
	memset(path, 'n', sizeof path - 1);
	memcpy(path, M "/", strlen(M "/"));
	path[sizeof path - 1] = '\0';
	ERR(open(path, O_RDONLY), ENAMETOOLONG);
}

static void
test_cwd(const char *hostdir)
{
	char buf[PATH_MAX];
	int hostfd = open(hostdir, O_RDONLY | O_DIRECTORY);

	EQ(chdir(M "/d"), 0);
	CHECK(getcwd(buf, sizeof buf) != NULL && strcmp(buf, M "/d") == 0, "getcwd: expected " M "/d, got %s", buf);
	char *dyn = getcwd(NULL, 0);
	CHECK(dyn != NULL && strcmp(dyn, M "/d") == 0, "getcwd(NULL, 0): expected " M "/d, got %s", dyn ? dyn : "NULL");
	free(dyn);
	ERR(getcwd(buf, 4) == NULL ? -1 : 0, ERANGE);
	int fd = open("rel", O_CREAT | O_WRONLY, 0644);	/* relative: the kernel's */
	CHECK(fd >= 0 && is_kernel_number(fd), "relative open after chdir: expected a kernel number, got %d", fd);
	close(fd);
	struct stat st;
	EQ(stat(M "/d/rel", &st), 0);
	EQ(chdir(".."), 0);
	CHECK(getcwd(buf, sizeof buf) != NULL && strcmp(buf, M) == 0, "getcwd after ..: expected " M ", got %s", buf);
	EQ(chdir("/rump"), 0);
	EQ(chdir(".."), 0);	/* ".." never leaves the kernel: its root's parent is its root */
	CHECK(getcwd(buf, sizeof buf) != NULL && strcmp(buf, "/rump") == 0, "getcwd at the root: expected /rump, got %s", buf);
	EQ(fchdir(hostfd), 0);
	CHECK(getcwd(buf, sizeof buf) != NULL && strcmp(buf, hostdir) == 0, "getcwd after fchdir out: expected %s, got %s", hostdir, buf);
	EQ(stat("hostfile", &st), 0);	/* relative: the host's again */
	int kd = open(M "/d", O_RDONLY | O_DIRECTORY);
	EQ(fchdir(kd), 0);
	EQ(stat("rel", &st), 0);
	EQ(chdir(hostdir), 0);
	close(kd);
	close(hostfd);
}

static void
test_at_calls(void)
{
	int d = open(M "/d", O_RDONLY | O_DIRECTORY);
	struct stat st;

	CHECK(d >= 0, "open dir: %s", strerror(errno));
	int fd = openat(d, "at", O_CREAT | O_RDWR, 0600);
	CHECK(fd >= 0, "openat on a kernel directory: %s", strerror(errno));
	close(fd);
	EQ(fstatat(d, "at", &st, 0), 0);
	EQ(st.st_mode & 07777, 0600);
	EQ(symlinkat("at", d, "sl"), 0);
	EQ(fstatat(d, "sl", &st, AT_SYMLINK_NOFOLLOW), 0);
	CHECK(S_ISLNK(st.st_mode), "fstatat NOFOLLOW: expected a link, mode %o", st.st_mode);
	char buf[16] = { 0 };
	EQ(readlinkat(d, "sl", buf, sizeof buf), 2);
	EQ(mkdirat(d, "sub", 0700), 0);
	EQ(renameat(d, "at", d, "sub/at2"), 0);
	EQ(faccessat(d, "sub/at2", R_OK | W_OK, 0), 0);
	EQ(fchmodat(d, "sub/at2", 0644, 0), 0);
	EQ(fstatat(d, "sub/at2", &st, 0), 0);
	EQ(st.st_mode & 07777, 0644);
	struct timespec ts[2] = { { 1000000000, 5 }, { 0, UTIME_OMIT } };
	EQ(utimensat(d, "sub/at2", ts, 0), 0);
	EQ(fstatat(d, "sub/at2", &st, 0), 0);
	EQ(st.st_atim.tv_sec, 1000000000);
	EQ(fstatat(d, "", &st, AT_EMPTY_PATH), 0);
	CHECK(S_ISDIR(st.st_mode), "fstatat AT_EMPTY_PATH: expected the directory, mode %o", st.st_mode);
	struct statx sx;
	EQ(statx(d, "sub/at2", 0, STATX_BASIC_STATS, &sx), 0);
	CHECK((sx.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS, "statx mask: %x", sx.stx_mask);
	EQ(sx.stx_mode & 07777, 0644);
	EQ(linkat(d, "sub/at2", d, "hard", 0), 0);
	EQ(fstatat(d, "hard", &st, 0), 0);
	EQ(st.st_nlink, 2);
	/* realpath through a relative link and a link whose target is the kernel's absolute path. */
	EQ(symlinkat("sub", d, "lrel"), 0);
	EQ(symlinkat("/mnt/d/sub", d, "labs"), 0);
	const char *paths[] = { M "/d/./sub/../sub/at2", M "/d/lrel/at2", M "/d/labs/at2", M "/d/labs/../lrel/./at2" };
	for (int i = 0; i < 4; i++) {
		char *rp = realpath(paths[i], NULL);
		CHECK(rp != NULL && strcmp(rp, M "/d/sub/at2") == 0, "realpath %s: expected " M "/d/sub/at2, got %s (%s)",
		    paths[i], rp ? rp : "NULL", strerror(errno));
		free(rp);
	}
	EQ(unlinkat(d, "lrel", 0), 0);
	EQ(unlinkat(d, "labs", 0), 0);
	char rbuf[PATH_MAX];
	ERR(realpath(M "/d/nonexistent/x", rbuf) == NULL ? -1 : 0, ENOENT);
	char tmpl[] = M "/d/tmpXXXXXX";
	fd = mkstemp(tmpl);
	CHECK(fd >= 128 && strncmp(tmpl, M "/d/tmp", strlen(M "/d/tmp")) == 0 && strcmp(tmpl, M "/d/tmpXXXXXX") != 0,
	    "mkstemp in the kernel: fd %d, name %s", fd, tmpl);
	EQ(fstatat(d, strrchr(tmpl, '/') + 1, &st, 0), 0);
	EQ(st.st_mode & 0777, 0600);
	close(fd);
	EQ(unlink(tmpl), 0);
	char dtmpl[] = M "/d/dirXXXXXX";
	CHECK(mkdtemp(dtmpl) != NULL, "mkdtemp: %s", strerror(errno));
	EQ(rmdir(dtmpl), 0);
	EQ(unlinkat(d, "hard", 0), 0);
	EQ(unlinkat(d, "sub/at2", 0), 0);
	EQ(unlinkat(d, "sub", AT_REMOVEDIR), 0);
	EQ(unlinkat(d, "sl", 0), 0);
	close(d);
}

static void
test_readdir(void)
{
	char name[64];

	EQ(mkdir(M "/many", 0755), 0);
	/* More entries than one getdents buffer of the library holds. */
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof name, M "/many/entry-with-a-longish-name-%03d", i);
		int fd = creat(name, 0644);
		close(fd);
	}
	DIR *dp = opendir(M "/many");
	CHECK(dp != NULL, "opendir: %s", strerror(errno));
	if (dp == NULL)
		return;
	CHECK(dirfd(dp) >= 128, "dirfd: expected a kernel number, got %d", dirfd(dp));
	int n = 0, seen[300] = { 0 };
	long pos100 = -1;
	char at100[256] = "";
	struct dirent *e;
	errno = 0;
	while ((e = readdir(dp)) != NULL) {
		int i;
		if (sscanf(e->d_name, "entry-with-a-longish-name-%d", &i) == 1 && i >= 0 && i < 300) {
			seen[i]++;
			CHECK(e->d_type == DT_REG, "d_type: expected DT_REG, got %d", e->d_type);
		}
		if (n == 100) {
			pos100 = telldir(dp);
			snprintf(at100, sizeof at100, "%s", e->d_name);
		}
		n++;
	}
	EQ(errno, 0);
	EQ(n, 302);
	int all = 1;
	for (int i = 0; i < 300; i++)
		all &= seen[i] == 1;
	CHECK(all, "readdir: every entry exactly once");
	rewinddir(dp);
	EQ(readdir(dp) != NULL, 1);
	seekdir(dp, pos100);
	e = readdir(dp);
	CHECK(e != NULL && n > 101, "readdir after seekdir");
	(void)at100;
	EQ(closedir(dp), 0);

	int fd = open(M "/many", O_RDONLY | O_DIRECTORY);
	dp = fdopendir(fd);
	CHECK(dp != NULL && dirfd(dp) == fd, "fdopendir on a kernel descriptor");
	n = 0;
	while (dp && readdir(dp) != NULL)
		n++;
	EQ(n, 302);
	if (dp)
		closedir(dp);
	ERR(fcntl(fd, F_GETFD), EBADF);	/* closedir closed it */
	ERR(opendir(M "/f") == NULL ? -1 : 0, ENOTDIR);
}

static void
test_poll_select(void)
{
	int p[2], k;
	struct pollfd pf[2];
	char c;

	EQ(pipe(p), 0);
	k = open(M "/f", O_RDONLY);

	/* A kernel file is readable at once. */
	pf[0] = (struct pollfd){ .fd = k, .events = POLLIN };
	EQ(poll(pf, 1, -1), 1);
	CHECK(pf[0].revents & POLLIN, "poll kernel file: revents %x", pf[0].revents);

	/* Host and kernel descriptors together, with no timeout: the kernel descriptor asks for
	 * nothing (never ready) and the host pipe has data, so the host side must end the kernel's
	 * wait. */
	EQ(write(p[1], "x", 1), 1);
	pf[0] = (struct pollfd){ .fd = k, .events = 0 };
	pf[1] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	EQ(poll(pf, 2, -1), 1);
	EQ(pf[0].revents, 0);
	EQ(pf[1].revents & POLLIN, POLLIN);
	EQ(read(p[0], &c, 1), 1);

	/* The other way round: the kernel side ready, the host pipe empty. */
	pf[0] = (struct pollfd){ .fd = k, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	EQ(poll(pf, 2, -1), 1);
	EQ(pf[0].revents & POLLIN, POLLIN);
	EQ(pf[1].revents, 0);

	/* Nothing ready: the timeout ends both. */
	pf[0].events = 0;
	EQ(poll(pf, 2, 10), 0);

	/* select over both. */
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(k, &rd);
	FD_SET(p[0], &rd);
	struct timeval tv = { 5, 0 };
	EQ(select((k > p[0] ? k : p[0]) + 1, &rd, NULL, NULL, &tv), 1);
	CHECK(FD_ISSET(k, &rd) && !FD_ISSET(p[0], &rd), "select: expected only the kernel file");

	close(k);
	close(p[0]);
	close(p[1]);
}

static void
test_stdio_attrs(void)
{
	char line[64];
	struct stat st;
	struct statfs sf;

	FILE *f = fopen(M "/stdio.txt", "w");
	CHECK(f != NULL, "fopen w: %s", strerror(errno));
	if (f == NULL)
		return;
	fprintf(f, "line %d\n", 42);
	EQ(fclose(f), 0);
	f = fopen(M "/stdio.txt", "a+");
	fprintf(f, "appended\n");
	EQ(fclose(f), 0);
	f = fopen(M "/stdio.txt", "r");
	CHECK(f && fgets(line, sizeof line, f) && strcmp(line, "line 42\n") == 0, "fgets: got %s", line);
	CHECK(f && fgets(line, sizeof line, f) && strcmp(line, "appended\n") == 0, "fgets 2: got %s", line);
	if (f)
		fclose(f);
	int fd = open(M "/stdio.txt", O_RDONLY);
	f = fdopen(fd, "r");
	CHECK(f && fgets(line, sizeof line, f) && strcmp(line, "line 42\n") == 0, "fdopen fgets: got %s", line);
	EQ(f ? fileno(f) : -1, fd);	/* glibc's fileno says -1 for a cookie stream */
	EQ(f ? fstat(fileno(f), &st) : -1, 0);
	if (f)
		fclose(f);

	EQ(truncate(M "/stdio.txt", 3), 0);
	EQ(stat(M "/stdio.txt", &st), 0);
	EQ(st.st_size, 3);
	EQ(chmod(M "/stdio.txt", 0400), 0);
	EQ(lstat(M "/stdio.txt", &st), 0);
	EQ(st.st_mode & 07777, 0400);
	EQ(access(M "/stdio.txt", R_OK), 0);
	ERR(access(M "/nonexistent", F_OK), ENOENT);
	EQ(statfs(M, &sf), 0);
	EQ(sf.f_type, 0x01021994);	/* TMPFS_MAGIC */
	mode_t old = umask(077);
	fd = open(M "/masked", O_CREAT | O_WRONLY, 0666);
	EQ(fstat(fd, &st), 0);
	EQ(st.st_mode & 0777, 0600);
	close(fd);
	umask(old);
	EQ(unlink(M "/masked"), 0);
	ERR(unlink(M "/masked"), ENOENT);
	EQ(remove(M "/stdio.txt"), 0);
}

/* Output of a child's shell command (run with fork and execl, so through the library's exec). */
static void
child_sh(const char *cmd, int fd, int at, int cloexec, char *out, size_t len)
{
	int p[2];
	ssize_t n = 0, k;

	out[0] = '\0';
	if (pipe(p) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		/* dash takes single-digit descriptors only: the shell sees the kernel's one at `at`. */
		if (fd >= 0 && dup3(fd, at, cloexec ? O_CLOEXEC : 0) != at)
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((size_t)n < len - 1 && (k = read(p[0], out + n, len - 1 - (size_t)n)) > 0)
		n += k;
	out[n] = '\0';
	close(p[0]);
	waitpid(pid, NULL, 0);
}

/* fork and exec keep the kernel process: descriptors (not the close-on-exec ones), the current
 * directory. Only against a server: an in-process kernel is not shared with a child. */
static void
test_fork_exec(void)
{
	char buf[64];
	int status;

	int fd = open(M "/forked", O_CREAT | O_RDWR | O_TRUNC, 0644);
	pid_t pid = fork();
	if (pid == 0)
		_exit(write(fd, "child", 5) == 5 ? 0 : 1);
	EQ(waitpid(pid, &status, 0), pid);
	EQ(status, 0);
	pid = vfork();
	if (pid == 0)
		_exit(write(fd, "+vfork", 6) == 6 ? 0 : 1);
	EQ(waitpid(pid, &status, 0), pid);
	EQ(status, 0);
	memset(buf, 0, sizeof buf);
	EQ(pread(fd, buf, sizeof buf, 0), 11);
	CHECK(strcmp(buf, "child+vfork") == 0, "after fork: expected child+vfork, got %s", buf);
	/* The offset is shared with the children's copies of the descriptor. */
	EQ(lseek(fd, 0, SEEK_CUR), 11);

	/* exec: a shell writes to the inherited kernel descriptor (dup'ed to 7 before the exec). */
	child_sh("echo exec >&7 && echo ok", fd, 7, 0, buf, sizeof buf);
	CHECK(strcmp(buf, "ok\n") == 0, "exec'd shell writing to descriptor 7: expected ok, got %s", buf);
	memset(buf, 0, sizeof buf);
	EQ(pread(fd, buf, sizeof buf, 11), 5);
	CHECK(strcmp(buf, "exec\n") == 0, "after exec: expected exec, got %s", buf);
	child_sh("cat <&8 2>/dev/null || echo closed", fd, 8, 1, buf, sizeof buf);
	CHECK(strcmp(buf, "closed\n") == 0, "close-on-exec descriptor 8 after exec: expected closed, got %s", buf);
	child_sh("wc -c <&8", fd, 8, 0, buf, sizeof buf);
	CHECK(strcmp(buf, "0\n") == 0, "descriptor 8 after exec (at the end of the file): expected 0, got %s", buf);
	close(fd);

	/* The current directory in the kernel survives fork and exec. */
	EQ(chdir(M "/d"), 0);
	child_sh("pwd && cat ../forked", -1, 0, 0, buf, sizeof buf);
	CHECK(strcmp(buf, M "/d\nchild+vforkexec\n") == 0, "cwd after exec: got %s", buf);
	EQ(chdir("/"), 0);
	EQ(unlink(M "/forked"), 0);
}

/* Kernel trees walked by glibc's scandir, glob and nftw (whose own walks use internal calls). */
static int nftw_n, nftw_dirs, nftw_depth_last;
static char nftw_seen[512];

static int
nftw_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	nftw_n++;
	if (type == FTW_DP || type == FTW_D)
		nftw_dirs++;
	CHECK(type != FTW_NS && type != FTW_DNR, "nftw: %s reported as unreadable (%d)", path, type);
	CHECK(type == FTW_DP ? S_ISDIR(st->st_mode) : 1, "nftw: %s: FTW_DP for a non-directory", path);
	nftw_depth_last = ftw->level;
	strncat(nftw_seen, path + ftw->base, sizeof nftw_seen - strlen(nftw_seen) - 2);
	strcat(nftw_seen, ",");
	return 0;
}

static void
test_walks(void)
{
	struct dirent **list;
	glob_t g;

	EQ(mkdir(M "/w", 0755), 0);
	EQ(mkdir(M "/w/sub", 0755), 0);
	EQ(close(open(M "/w/b.txt", O_CREAT | O_WRONLY, 0644)), 0);
	EQ(close(open(M "/w/a.txt", O_CREAT | O_WRONLY, 0644)), 0);
	EQ(close(open(M "/w/sub/c.txt", O_CREAT | O_WRONLY, 0644)), 0);

	int n = scandir(M "/w", &list, NULL, alphasort);
	EQ(n, 5);
	if (n == 5) {
		char names[128] = "";
		for (int i = 0; i < n; i++) {
			strcat(names, list[i]->d_name);
			strcat(names, " ");
		}
		CHECK(strcmp(names, ". .. a.txt b.txt sub ") == 0, "scandir sorted: expected '. .. a.txt b.txt sub ', got '%s'", names);
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	if (n > 0)
		free(list);
	ERR(scandir(M "/nonexistent", &list, NULL, alphasort), ENOENT);

	EQ(glob(M "/w/*.txt", 0, NULL, &g), 0);
	EQ(g.gl_pathc, 2);
	if (g.gl_pathc == 2)
		CHECK(strcmp(g.gl_pathv[0], M "/w/a.txt") == 0 && strcmp(g.gl_pathv[1], M "/w/b.txt") == 0,
		    "glob: expected a.txt b.txt, got %s %s", g.gl_pathv[0], g.gl_pathv[1]);
	globfree(&g);
	EQ(glob(M "/w/*/*.txt", GLOB_MARK, NULL, &g), 0);
	EQ(g.gl_pathc, 1);
	globfree(&g);
	EQ(glob(M "/w/*", GLOB_MARK | GLOB_ONLYDIR, NULL, &g), 0);
	CHECK(g.gl_pathc >= 1 && strcmp(g.gl_pathv[g.gl_pathc - 1], M "/w/sub/") == 0,
	    "glob GLOB_MARK: expected " M "/w/sub/ last, got %s", g.gl_pathc ? g.gl_pathv[g.gl_pathc - 1] : "nothing");
	globfree(&g);
	EQ(glob(M "/w/*.none", 0, NULL, &g), GLOB_NOMATCH);
	/* Relative to a kernel current directory. */
	EQ(chdir(M "/w"), 0);
	EQ(glob("*.txt", 0, NULL, &g), 0);
	EQ(g.gl_pathc, 2);
	globfree(&g);
	EQ(chdir("/"), 0);

	EQ(nftw(M "/w", nftw_cb, 8, FTW_PHYS), 0);
	EQ(nftw_n, 5);	/* w, sub, sub/c.txt, a.txt, b.txt */
	EQ(nftw_dirs, 2);
	nftw_n = nftw_dirs = 0;
	nftw_seen[0] = '\0';
	EQ(nftw(M "/w", nftw_cb, 8, FTW_PHYS | FTW_DEPTH), 0);
	EQ(nftw_n, 5);
	EQ(nftw_depth_last, 0);	/* the root comes last, after its contents */
	CHECK(strstr(nftw_seen, "c.txt,sub,") != NULL, "nftw FTW_DEPTH: expected c.txt before sub, got %s", nftw_seen);

	EQ(unlink(M "/w/sub/c.txt"), 0);
	EQ(rmdir(M "/w/sub"), 0);
	EQ(unlink(M "/w/a.txt"), 0);
	EQ(unlink(M "/w/b.txt"), 0);
	EQ(rmdir(M "/w"), 0);
}

/* Reads kernel file path whole into buf. */
static void
slurp(const char *path, char *buf, size_t len)
{
	memset(buf, 0, len);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	if (fd >= 0) {
		CHECK(read(fd, buf, len - 1) >= 0, "read %s: %s", path, strerror(errno));
		close(fd);
	}
}

/* Children glibc would start with clone and its internal execve: here they keep the kernel process
 * (descriptors, current directory) as fork and exec do. Only against a server. */
static void
test_spawn(void)
{
	char buf[128];
	int status;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	EQ(chdir(M "/d"), 0);
	/* A file action opening a relative kernel path as the child's stdout. */
	char *sh_argv[] = { "sh", "-c", "pwd; echo spawned", NULL };
	EQ(posix_spawn_file_actions_init(&fa), 0);
	EQ(posix_spawn_file_actions_addopen(&fa, 1, "spawned", O_WRONLY | O_CREAT | O_TRUNC, 0644), 0);
	EQ(posix_spawnp(&pid, "sh", &fa, NULL, sh_argv, environ), 0);
	EQ(waitpid(pid, &status, 0), pid);
	EQ(status, 0);
	EQ(posix_spawn_file_actions_destroy(&fa), 0);
	slurp(M "/d/spawned", buf, sizeof buf);
	CHECK(strcmp(buf, M "/d\nspawned\n") == 0, "posix_spawnp with addopen: expected '" M "/d\\nspawned\\n', got '%s'", buf);

	/* adddup2 of a kernel descriptor onto stdout, then addclose of the original. */
	int k = open(M "/d/dup2ed", O_CREAT | O_RDWR | O_TRUNC, 0644);
	char *echo_argv[] = { "echo", "dup2ed", NULL };
	EQ(posix_spawn_file_actions_init(&fa), 0);
	EQ(posix_spawn_file_actions_adddup2(&fa, k, 1), 0);
	EQ(posix_spawn_file_actions_addclose(&fa, k), 0);
	EQ(posix_spawn(&pid, "/bin/echo", &fa, NULL, echo_argv, environ), 0);
	EQ(waitpid(pid, &status, 0), pid);
	EQ(status, 0);
	EQ(posix_spawn_file_actions_destroy(&fa), 0);
	memset(buf, 0, sizeof buf);
	EQ(pread(k, buf, sizeof buf, 0), 7);
	CHECK(strcmp(buf, "dup2ed\n") == 0, "posix_spawn with adddup2: expected dup2ed, got '%s'", buf);
	close(k);
	/* An exec that fails is the spawn's error, and no child is left. */
	EQ(posix_spawn(&pid, "/nonexistent/prog", NULL, NULL, echo_argv, environ), ENOENT);
	EQ(posix_spawnp(&pid, "no-such-program-here", NULL, NULL, echo_argv, environ), ENOENT);
	ERR(waitpid(-1, NULL, WNOHANG), ECHILD);

	/* system: the shell starts in the kernel directory. */
	EQ(system("echo sys > sysfile"), 0);
	slurp(M "/d/sysfile", buf, sizeof buf);
	CHECK(strcmp(buf, "sys\n") == 0, "system: expected sys in " M "/d/sysfile, got '%s'", buf);
	status = system("exit 3");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3, "system(exit 3): expected status 3, got %#x", status);
	EQ(system(NULL), 1);

	/* popen, both ways, relative to the kernel directory. */
	FILE *f = popen("cat sysfile", "r");
	CHECK(f != NULL, "popen r: %s", strerror(errno));
	if (f != NULL) {
		CHECK(fgets(buf, sizeof buf, f) != NULL && strcmp(buf, "sys\n") == 0, "popen r: expected sys, got '%s'", buf);
		EQ(pclose(f), 0);
	}
	f = popen("cat > popened", "w");
	CHECK(f != NULL, "popen w: %s", strerror(errno));
	if (f != NULL) {
		EQ(fputs("written\n", f) >= 0, 1);
		EQ(pclose(f), 0);
	}
	slurp(M "/d/popened", buf, sizeof buf);
	CHECK(strcmp(buf, "written\n") == 0, "popen w: expected written in " M "/d/popened, got '%s'", buf);
	f = popen("exit 5", "r");
	if (f != NULL) {
		status = pclose(f);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5, "pclose: expected status 5, got %#x", status);
	}

	EQ(unlink("spawned"), 0);
	EQ(unlink("dup2ed"), 0);
	EQ(unlink("sysfile"), 0);
	EQ(unlink("popened"), 0);
	EQ(chdir("/"), 0);
}

/* mmap of kernel files: private (and read-only shared) mappings are copies of the file. */
static void
test_mmap(void)
{
	char data[6000];
	long pg = sysconf(_SC_PAGESIZE);

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 23);
	int fd = open(M "/mapped", O_CREAT | O_RDWR | O_TRUNC, 0644);
	EQ(write(fd, data, sizeof data), (long long)sizeof data);
	char *p = mmap(NULL, sizeof data, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED, "mmap PROT_READ MAP_PRIVATE of a kernel file: %s", strerror(errno));
	if (p != MAP_FAILED) {
		CHECK(memcmp(p, data, sizeof data) == 0, "mmap: the mapping does not hold the file's bytes");
		CHECK(p[sizeof data] == 0, "mmap: past the end of the file: expected zeros, got %d", p[sizeof data]);
		EQ(munmap(p, sizeof data), 0);
	}
	/* A page-aligned offset, and private writes that stay private. */
	p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, pg);
	CHECK(p != MAP_FAILED, "mmap at offset %ld: %s", pg, strerror(errno));
	if (p != MAP_FAILED) {
		CHECK(memcmp(p, data + pg, sizeof data - (size_t)pg) == 0, "mmap at offset %ld: wrong bytes", pg);
		p[0] = '#';
		char c = 0;
		EQ(pread(fd, &c, 1, pg), 1);
		CHECK(c == data[pg], "a private mapping's write reached the file: expected %c, got %c", data[pg], c);
		EQ(munmap(p, (size_t)pg), 0);
	}
	p = mmap(NULL, sizeof data, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED, "mmap PROT_READ MAP_SHARED: %s", strerror(errno));
	if (p != MAP_FAILED)
		EQ(munmap(p, sizeof data), 0);
	errno = 0;
	p = mmap(NULL, sizeof data, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p == MAP_FAILED && errno == ENODEV, "mmap PROT_WRITE MAP_SHARED: expected ENODEV, got %p %s", (void *)p, strerror(errno));
	errno = 0;
	p = mmap(NULL, sizeof data, PROT_READ, MAP_PRIVATE, fd, 100);
	CHECK(p == MAP_FAILED && errno == EINVAL, "mmap at an unaligned offset: expected EINVAL, got %s", strerror(errno));
	close(fd);
	fd = open(M "/mapped", O_WRONLY);
	errno = 0;
	p = mmap(NULL, sizeof data, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(p == MAP_FAILED && errno == EACCES, "mmap of a write-only descriptor: expected EACCES, got %s", strerror(errno));
	close(fd);
	EQ(unlink(M "/mapped"), 0);
}

int
main(int argc, char **argv)
{
	const char *hostdir = argc > 1 ? argv[1] : "/tmp";

	setvbuf(stdout, NULL, _IONBF, 0);
	test_descriptors(hostdir);
	test_errors();
	test_cwd(hostdir);
	test_at_calls();
	test_readdir();
	test_poll_select();
	test_stdio_attrs();
	test_walks();
	test_mmap();
	if (getenv("RUMP_SERVER") != NULL) {
		test_fork_exec();
		test_spawn();
	}
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail != 0;
}
