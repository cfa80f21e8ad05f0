/*
 * rtest.h: the harness the C ABI tests share. Checks never stop the program: each failure
 * prints "FAIL file:line: <what>: expected X, got Y" and the run goes on, so one broken call
 * shows every consequence. rtest_done() prints "N passed, N failed" and gives main's status.
 *
 * System calls fail with -1 and the host's errno, so EXPECT_ERR takes host values (ENOENT).
 */
#ifndef RTEST_H
#define RTEST_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>

/* Failures printed before the rest are only counted. */
#define RTEST_MAXPRINT 200

static int rtest_npass, rtest_nfail;
/* Checks may run on several threads (t_threads). */
static pthread_mutex_t rtest_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void
rtest_result(int ok)
{
	pthread_mutex_lock(&rtest_lock);
	if (ok)
		rtest_npass++;
	else
		rtest_nfail++;
	pthread_mutex_unlock(&rtest_lock);
}

__attribute__((format(printf, 3, 4))) static inline void
rtest_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&rtest_lock);
	rtest_nfail++;
	/* A systematic failure in a loop is reported once per line worth of cases, not forever. */
	if (rtest_nfail <= RTEST_MAXPRINT)
		fprintf(stderr, "FAIL %s:%d: %s\n", file, line, msg);
	else if (rtest_nfail == RTEST_MAXPRINT + 1)
		fprintf(stderr, "(further failures are counted, not printed)\n");
	pthread_mutex_unlock(&rtest_lock);
}

/* "ENOENT (No such file or directory)", or "0" for no error. */
static inline const char *
rtest_errname(int e, char *buf, size_t len)
{
	const char *name = e == 0 ? NULL : strerrorname_np(e);

	if (e == 0)
		snprintf(buf, len, "0");
	else
		snprintf(buf, len, "%s (%s)", name ? name : "E?", strerror(e));
	return buf;
}

/* CHECK(cond, fmt, ...): fmt says what was expected and what came instead. */
#define CHECK(cond, ...) do {						\
	if (cond)							\
		rtest_result(1);					\
	else								\
		rtest_fail(__FILE__, __LINE__, __VA_ARGS__);		\
} while (0)

/* A call that must not return -1; its value is the macro's value. */
#define EXPECT_OK(call) ({						\
	errno = 0;							\
	long long rtest_rv_ = (long long)(call);			\
	int rtest_e_ = errno;						\
	char rtest_b_[96];						\
	CHECK(rtest_rv_ != -1, "%s: expected success, got -1 errno %s",	\
	    #call, rtest_errname(rtest_e_, rtest_b_, sizeof rtest_b_));	\
	rtest_rv_;							\
})

/* A call that must return -1 with errno == err (a host value such as ENOENT). */
#define EXPECT_ERR(call, err) do {					\
	errno = 0;							\
	long long rtest_rv_ = (long long)(call);			\
	int rtest_e_ = errno;						\
	char rtest_b1_[96], rtest_b2_[96];				\
	if (rtest_rv_ != -1)						\
		rtest_fail(__FILE__, __LINE__,				\
		    "%s: expected -1 errno %s, got %lld", #call,	\
		    rtest_errname((err), rtest_b1_, sizeof rtest_b1_), rtest_rv_); \
	else								\
		CHECK(rtest_e_ == (err), "%s: expected errno %s, got errno %s", \
		    #call, rtest_errname((err), rtest_b1_, sizeof rtest_b1_), \
		    rtest_errname(rtest_e_, rtest_b2_, sizeof rtest_b2_)); \
} while (0)

/* Integer equality: "what: expected X, got Y". */
#define EXPECT_EQ(got, want) do {					\
	long long rtest_g_ = (long long)(got);				\
	long long rtest_w_ = (long long)(want);				\
	CHECK(rtest_g_ == rtest_w_, "%s: expected %lld (%s), got %lld",	\
	    #got, rtest_w_, #want, rtest_g_);				\
} while (0)

/* Octal equality, for modes. */
#define EXPECT_MODE(got, want) do {					\
	unsigned long rtest_g_ = (unsigned long)(got);			\
	unsigned long rtest_w_ = (unsigned long)(want);			\
	CHECK(rtest_g_ == rtest_w_, "%s: expected 0%lo, got 0%lo",	\
	    #got, rtest_w_, rtest_g_);					\
} while (0)

/* NUL-terminated string equality. */
#define EXPECT_STR(got, want) do {					\
	const char *rtest_g_ = (got), *rtest_w_ = (want);		\
	CHECK(strcmp(rtest_g_, rtest_w_) == 0,				\
	    "%s: expected \"%s\", got \"%s\"", #got, rtest_w_, rtest_g_); \
} while (0)

/* n bytes equal. */
#define EXPECT_MEM(got, want, n) do {					\
	const unsigned char *rtest_g_ = (const void *)(got);		\
	const unsigned char *rtest_w_ = (const void *)(want);		\
	size_t rtest_n_ = (n), rtest_i_ = 0;				\
	while (rtest_i_ < rtest_n_ && rtest_g_[rtest_i_] == rtest_w_[rtest_i_]) \
		rtest_i_++;						\
	CHECK(rtest_i_ == rtest_n_, "%s: %zu bytes differ from %s at byte %zu:" \
	    " expected 0x%02x, got 0x%02x", #got, rtest_n_, #want,	\
	    rtest_i_, rtest_i_ < rtest_n_ ? rtest_w_[rtest_i_] : 0,	\
	    rtest_i_ < rtest_n_ ? rtest_g_[rtest_i_] : 0);		\
} while (0)

/* Boots the kernel: every program's first call. Exits if it cannot. */
static inline void
rtest_init(void)
{
	int e = rump_init();

	EXPECT_EQ(e, 0);
	if (e != 0) {
		fprintf(stderr, "rump_init failed: %d; nothing else can run\n", e);
		exit(2);
	}
}

static inline int
rtest_done(void)
{
	printf("%d passed, %d failed\n", rtest_npass, rtest_nfail);
	fflush(stdout);
	return rtest_nfail == 0 ? 0 : 1;
}

/* Helpers the programs share. */

/* Creates (or truncates) path with exactly the n bytes of data; -1 on any failure. */
static inline int
rtest_put(const char *path, const void *data, size_t n)
{
	int fd = rump_sys_open(path, RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_TRUNC, 0644);
	if (fd == -1)
		return -1;
	ssize_t w = rump_sys_write(fd, data, n);
	int e = errno;
	rump_sys_close(fd);
	errno = e;
	return w == (ssize_t)n ? 0 : -1;
}

/* Reads at most len-1 bytes of path into buf, NUL-terminated; the length or -1. */
static inline ssize_t
rtest_get(const char *path, char *buf, size_t len)
{
	int fd = rump_sys_open(path, RUMP_O_RDONLY);
	if (fd == -1)
		return -1;
	ssize_t n = 0, r;
	while ((size_t)n < len - 1 && (r = rump_sys_read(fd, buf + n, len - 1 - n)) > 0)
		n += r;
	buf[n] = '\0';
	rump_sys_close(fd);
	return n;
}

/*
 * Reads the directory open at fd from its start into names (each up to 511 bytes) and types;
 * returns the number of entries (at most max) or -1. "." and ".." are included.
 */
static inline int
rtest_readdir(int fd, char names[][512], unsigned char *types, int max)
{
	char buf[4096];
	int n = 0, got;

	if (rump_sys_lseek(fd, 0, RUMP_SEEK_SET) == -1)
		return -1;
	while ((got = rump_sys_getdents(fd, buf, sizeof buf)) > 0) {
		for (int off = 0; off < got;) {
			struct rump_dirent *d = (struct rump_dirent *)(buf + off);
			if (d->d_reclen == 0)
				return -1;
			if (n < max) {
				snprintf(names[n], 512, "%.*s", (int)d->d_namlen, d->d_name);
				if (types)
					types[n] = d->d_type;
			}
			n++;
			off += d->d_reclen;
		}
	}
	return got < 0 ? -1 : n;
}

/* stat and lstat that count a failure as a failed check; a zeroed stat then. */
static inline struct rump_stat
xstat(const char *path)
{
	struct rump_stat st;

	memset(&st, 0, sizeof st);
	EXPECT_OK(rump_sys_stat(path, &st));
	return st;
}

static inline struct rump_stat
xlstat(const char *path)
{
	struct rump_stat st;

	memset(&st, 0, sizeof st);
	EXPECT_OK(rump_sys_lstat(path, &st));
	return st;
}

/* Runs a shell command made like printf's output (the oracle tools: mkfs, fsck, ...); its status. */
__attribute__((format(printf, 1, 2))) static inline int
rtest_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

#endif /* RTEST_H */
