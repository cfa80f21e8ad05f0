/*
 * Descriptors through the C ABI: numbering, close, dup/dup2/fcntl(F_DUPFD...) and the
 * offset duplicates share, close-on-exec and status flags, ioctl (FIONREAD, FIONBIO,
 * FIOCLEX), and pipes made by pipe2: data flow, blocking across threads, non-blocking
 * EAGAIN, EOF, EPIPE (with SIGPIPE unless O_NOSIGPIPE) and ESPIPE.
 */
#include <signal.h>
#include <time.h>

#include "rtest.h"

static volatile sig_atomic_t sigpipes;

static void
on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void
test_numbering_and_dup(void)
{
	char buf[16];
	int fd, fd2, fd3, lowest;

	EXPECT_OK(rump_sys_mkdir("/fd", 0755));
	EXPECT_OK(rtest_put("/fd/f", "0123456789", 10));

	/* Descriptors are allocated lowest first and reused after close. */
	fd = EXPECT_OK(rump_sys_open("/fd/f", RUMP_O_RDWR));
	fd2 = EXPECT_OK(rump_sys_open("/fd/f", RUMP_O_RDONLY));
	EXPECT_EQ(fd2, fd + 1);
	EXPECT_OK(rump_sys_close(fd));
	lowest = EXPECT_OK(rump_sys_open("/fd/f", RUMP_O_RDWR));
	EXPECT_EQ(lowest, fd);
	EXPECT_OK(rump_sys_close(fd2));
	EXPECT_ERR(rump_sys_close(fd2), EBADF);
	EXPECT_ERR(rump_sys_close(-1), EBADF);
	EXPECT_ERR(rump_sys_close(100000), EBADF);
	fd = lowest;

	/* dup shares the file offset. */
	fd2 = EXPECT_OK(rump_sys_dup(fd));
	EXPECT_EQ(fd2, fd + 1);
	EXPECT_EQ(rump_sys_read(fd, buf, 4), 4);
	EXPECT_EQ(rump_sys_lseek(fd2, 0, RUMP_SEEK_CUR), 4);
	EXPECT_EQ(rump_sys_read(fd2, buf, 2), 2);
	EXPECT_MEM(buf, "45", 2);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 6);
	/* Closing one leaves the other working. */
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_EQ(rump_sys_read(fd2, buf, 2), 2);
	EXPECT_MEM(buf, "67", 2);
	EXPECT_ERR(rump_sys_dup(fd), EBADF);
	EXPECT_ERR(rump_sys_dup(-1), EBADF);

	/* dup2 onto a free slot, onto an open descriptor (which it closes), onto itself. */
	EXPECT_EQ(rump_sys_dup2(fd2, 20), 20);
	EXPECT_EQ(rump_sys_lseek(20, 0, RUMP_SEEK_CUR), 8);
	fd3 = EXPECT_OK(rump_sys_open("/fd/f", RUMP_O_RDONLY));
	EXPECT_EQ(rump_sys_dup2(fd2, fd3), fd3);
	EXPECT_EQ(rump_sys_lseek(fd3, 0, RUMP_SEEK_CUR), 8);
	EXPECT_EQ(rump_sys_dup2(fd2, fd2), fd2);
	EXPECT_EQ(rump_sys_lseek(fd2, 0, RUMP_SEEK_CUR), 8);
	EXPECT_ERR(rump_sys_dup2(fd2, -1), EBADF);
	EXPECT_ERR(rump_sys_dup2(fd2, 1 << 20), EBADF);
	EXPECT_ERR(rump_sys_dup2(55, 56), EBADF);
	EXPECT_ERR(rump_sys_dup2(55, 55), EBADF);
	/* dup2 onto a closed-on-exec slot gives a descriptor without the flag. */
	EXPECT_OK(rump_sys_fcntl(20, RUMP_F_SETFD, RUMP_FD_CLOEXEC));
	EXPECT_EQ(rump_sys_dup2(fd2, 20), 20);
	EXPECT_EQ(rump_sys_fcntl(20, RUMP_F_GETFD), 0);
	EXPECT_OK(rump_sys_close(20));
	EXPECT_OK(rump_sys_close(fd3));

	/* F_DUPFD: lowest free at or above the argument. */
	EXPECT_EQ(rump_sys_fcntl(fd2, RUMP_F_DUPFD, 10), 10);
	EXPECT_EQ(rump_sys_fcntl(fd2, RUMP_F_DUPFD, 10), 11);
	EXPECT_EQ(rump_sys_fcntl(fd2, RUMP_F_DUPFD, 0), fd3);
	EXPECT_EQ(rump_sys_fcntl(10, RUMP_F_GETFD), 0);
	EXPECT_EQ(rump_sys_fcntl(fd2, RUMP_F_DUPFD_CLOEXEC, 30), 30);
	EXPECT_EQ(rump_sys_fcntl(30, RUMP_F_GETFD), RUMP_FD_CLOEXEC);
	EXPECT_ERR(rump_sys_fcntl(fd2, RUMP_F_DUPFD, -1), EINVAL);
	EXPECT_ERR(rump_sys_fcntl(fd2, RUMP_F_DUPFD, 1 << 20), EINVAL);
	EXPECT_ERR(rump_sys_fcntl(77, RUMP_F_DUPFD, 0), EBADF);
	/* dup of a close-on-exec descriptor does not copy the flag. */
	fd = EXPECT_OK(rump_sys_dup(30));
	EXPECT_EQ(rump_sys_fcntl(fd, RUMP_F_GETFD), 0);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_OK(rump_sys_close(10));
	EXPECT_OK(rump_sys_close(11));
	EXPECT_OK(rump_sys_close(30));
	EXPECT_OK(rump_sys_close(fd3));
	EXPECT_OK(rump_sys_close(fd2));

	/* EMFILE once the table (1024) is full; one close frees a slot. */
	fd = EXPECT_OK(rump_sys_open("/fd/f", RUMP_O_RDONLY));
	int n = 0, last = -1, r;
	while ((r = rump_sys_dup(fd)) != -1 && n < 2000) {
		last = r;
		n++;
	}
	CHECK(r == -1 && errno == EMFILE, "dup until the table is full: expected -1 EMFILE, got %d errno %d after %d dups",
	    r, errno, n);
	EXPECT_EQ(last, 1023);
	EXPECT_ERR(rump_sys_open("/fd/f", RUMP_O_RDONLY), EMFILE);
	EXPECT_OK(rump_sys_close(500));
	EXPECT_EQ(rump_sys_open("/fd/f", RUMP_O_RDONLY), 500);
	for (int i = fd; i <= last; i++)
		rump_sys_close(i);
	EXPECT_EQ(rump_sys_open("/fd/f", RUMP_O_RDONLY), fd);
	EXPECT_OK(rump_sys_close(fd));
}

static void
test_fcntl_flags(void)
{
	char buf[16];
	int fd, fl;

	fd = EXPECT_OK(rump_sys_open("/fd/f", RUMP_O_RDWR | RUMP_O_CLOEXEC));
	EXPECT_EQ(rump_sys_fcntl(fd, RUMP_F_GETFD), RUMP_FD_CLOEXEC);
	EXPECT_OK(rump_sys_fcntl(fd, RUMP_F_SETFD, 0));
	EXPECT_EQ(rump_sys_fcntl(fd, RUMP_F_GETFD), 0);
	EXPECT_OK(rump_sys_fcntl(fd, RUMP_F_SETFD, RUMP_FD_CLOEXEC));
	EXPECT_EQ(rump_sys_fcntl(fd, RUMP_F_GETFD), RUMP_FD_CLOEXEC);
	/* FIONCLEX/FIOCLEX are the ioctl forms. */
	EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIONCLEX));
	EXPECT_EQ(rump_sys_fcntl(fd, RUMP_F_GETFD), 0);
	EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIOCLEX));
	EXPECT_EQ(rump_sys_fcntl(fd, RUMP_F_GETFD), RUMP_FD_CLOEXEC);

	/* F_GETFL has the access mode and status flags, not the open-time-only ones. */
	fl = EXPECT_OK(rump_sys_fcntl(fd, RUMP_F_GETFL));
	EXPECT_EQ(fl & RUMP_O_ACCMODE, RUMP_O_RDWR);
	EXPECT_EQ(fl & (RUMP_O_APPEND | RUMP_O_NONBLOCK | RUMP_O_CLOEXEC | RUMP_O_CREAT), 0);
	EXPECT_OK(rump_sys_fcntl(fd, RUMP_F_SETFL, RUMP_O_APPEND | RUMP_O_NONBLOCK));
	fl = EXPECT_OK(rump_sys_fcntl(fd, RUMP_F_GETFL));
	EXPECT_EQ(fl & (RUMP_O_APPEND | RUMP_O_NONBLOCK), RUMP_O_APPEND | RUMP_O_NONBLOCK);
	EXPECT_EQ(fl & RUMP_O_ACCMODE, RUMP_O_RDWR);
	/* O_APPEND now sends writes to the end. */
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_SET), 0);
	EXPECT_EQ(rump_sys_write(fd, "AB", 2), 2);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 12);
	/* F_SETFL cannot change the access mode. */
	EXPECT_OK(rump_sys_fcntl(fd, RUMP_F_SETFL, RUMP_O_RDONLY));
	fl = EXPECT_OK(rump_sys_fcntl(fd, RUMP_F_GETFL));
	EXPECT_EQ(fl & RUMP_O_ACCMODE, RUMP_O_RDWR);
	EXPECT_EQ(fl & (RUMP_O_APPEND | RUMP_O_NONBLOCK), 0);
	EXPECT_EQ(rump_sys_pwrite(fd, "ab", 2, 0), 2);
	EXPECT_EQ(rtest_get("/fd/f", buf, sizeof buf), 12);
	EXPECT_STR(buf, "ab23456789AB");
	/* Status flags live in the open file, shared by duplicates. */
	int fd2 = EXPECT_OK(rump_sys_dup(fd));
	EXPECT_OK(rump_sys_fcntl(fd, RUMP_F_SETFL, RUMP_O_APPEND));
	EXPECT_EQ(rump_sys_fcntl(fd2, RUMP_F_GETFL) & RUMP_O_APPEND, RUMP_O_APPEND);
	EXPECT_OK(rump_sys_close(fd2));

	EXPECT_ERR(rump_sys_fcntl(fd, 9999), EINVAL);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_fcntl(fd, RUMP_F_GETFD), EBADF);
	EXPECT_ERR(rump_sys_fcntl(fd, RUMP_F_SETFD, 1), EBADF);
	EXPECT_ERR(rump_sys_fcntl(fd, RUMP_F_GETFL), EBADF);
	EXPECT_ERR(rump_sys_fcntl(fd, RUMP_F_SETFL, 0), EBADF);
}

static void
test_ioctl_file(void)
{
	int fd, n;

	fd = EXPECT_OK(rump_sys_open("/fd/f", RUMP_O_RDONLY));
	n = -1;
	EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIONREAD, &n));
	EXPECT_EQ(n, 12);
	EXPECT_EQ(rump_sys_lseek(fd, 5, RUMP_SEEK_SET), 5);
	EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIONREAD, &n));
	EXPECT_EQ(n, 7);
	EXPECT_EQ(rump_sys_lseek(fd, 50, RUMP_SEEK_SET), 50);
	EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIONREAD, &n));
	EXPECT_EQ(n, 0);
	int on = 1;
	EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIONBIO, &on));
	/* Files have no send queue: FIONWRITE and FIONSPACE are 0 (NetBSD vn_ioctl). */
	n = -1;
	if (EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIONWRITE, &n)) != -1)
		EXPECT_EQ(n, 0);
	n = -1;
	if (EXPECT_OK(rump_sys_ioctl(fd, RUMP_FIONSPACE, &n)) != -1)
		EXPECT_EQ(n, 0);
	/* FIONREAD works on a directory too (size minus offset). */
	int dfd = EXPECT_OK(rump_sys_open("/fd", RUMP_O_RDONLY));
	EXPECT_OK(rump_sys_ioctl(dfd, RUMP_FIONREAD, &n));
	EXPECT_OK(rump_sys_close(dfd));
	/* An ioctl a regular file does not know. */
	EXPECT_ERR(rump_sys_ioctl(fd, 0x20007471UL /* _IO('t', 113): TIOCEXCL-like */), ENOTTY);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_ioctl(fd, RUMP_FIONREAD, &n), EBADF);
}

struct bulk {
	int fd;
	size_t len;
	ssize_t done;
	int err;
};

static void *
bulk_writer(void *arg)
{
	struct bulk *b = arg;
	static unsigned char data[200000];

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	b->done = 0;
	while ((size_t)b->done < b->len) {
		size_t chunk = b->len - b->done < 7000 ? b->len - b->done : 7000;
		ssize_t w = rump_sys_write(b->fd, data + b->done, chunk);
		if (w <= 0) {
			b->err = w < 0 ? errno : -1;
			break;
		}
		b->done += w;
	}
	rump_sys_close(b->fd);
	/* This thread's implicit context goes with it. */
	return NULL;
}

static void
test_pipes(void)
{
	static unsigned char got[200000];
	char buf[64];
	struct rump_stat st;
	int p[2], n, i;

	/* Data flows from p[1] to p[0] in order; FIONREAD counts what is buffered. */
	EXPECT_OK(rump_sys_pipe2(p, 0));
	CHECK(p[0] >= 0 && p[1] >= 0 && p[0] != p[1], "pipe2 descriptors: expected two distinct, got %d %d", p[0], p[1]);
	EXPECT_EQ(rump_sys_write(p[1], "hello", 5), 5);
	EXPECT_EQ(rump_sys_write(p[1], " pipe", 5), 5);
	n = -1;
	EXPECT_OK(rump_sys_ioctl(p[0], RUMP_FIONREAD, &n));
	EXPECT_EQ(n, 10);
	EXPECT_OK(rump_sys_fstat(p[0], &st));
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFIFO);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(p[0], buf, 3), 3);
	EXPECT_STR(buf, "hel");
	EXPECT_OK(rump_sys_ioctl(p[0], RUMP_FIONREAD, &n));
	EXPECT_EQ(n, 7);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(p[0], buf, sizeof buf), 7);
	EXPECT_STR(buf, "lo pipe");
	/* Wrong ends. */
	EXPECT_ERR(rump_sys_write(p[0], "x", 1), EBADF);
	EXPECT_ERR(rump_sys_read(p[1], buf, 1), EBADF);
	/* Not seekable. */
	EXPECT_ERR(rump_sys_lseek(p[0], 0, RUMP_SEEK_SET), ESPIPE);
	EXPECT_ERR(rump_sys_pread(p[0], buf, 1, 0), ESPIPE);
	EXPECT_ERR(rump_sys_pwrite(p[1], "x", 1, 0), ESPIPE);
	/* Non-blocking via F_SETFL: an empty pipe is EAGAIN. */
	EXPECT_OK(rump_sys_fcntl(p[0], RUMP_F_SETFL, RUMP_O_NONBLOCK));
	EXPECT_ERR(rump_sys_read(p[0], buf, 1), EAGAIN);
	/* vector I/O on a pipe. */
	struct rump_iovec iov[2] = { { "ab", 2 }, { "cd", 2 } };
	EXPECT_EQ(rump_sys_writev(p[1], iov, 2), 4);
	char x[3] = { 0 }, y[3] = { 0 };
	struct rump_iovec riov[2] = { { x, 1 }, { y, 2 } };
	EXPECT_EQ(rump_sys_readv(p[0], riov, 2), 3);
	EXPECT_STR(x, "a");
	EXPECT_STR(y, "bc");
	EXPECT_EQ(rump_sys_read(p[0], buf, sizeof buf), 1);
	/* With the writer gone: what is buffered, then EOF (0), not EAGAIN. */
	EXPECT_EQ(rump_sys_write(p[1], "z", 1), 1);
	EXPECT_OK(rump_sys_close(p[1]));
	EXPECT_EQ(rump_sys_read(p[0], buf, sizeof buf), 1);
	EXPECT_EQ(rump_sys_read(p[0], buf, sizeof buf), 0);
	EXPECT_OK(rump_sys_close(p[0]));

	/* With the reader gone a write is EPIPE, and raises SIGPIPE in this process (the default
	 * signal model raises it on the host, as NetBSD's dofilewrite does) unless the pipe is
	 * O_NOSIGPIPE. */
	struct sigaction sa = { .sa_handler = on_sigpipe }, old;
	sigemptyset(&sa.sa_mask);
	EXPECT_OK(sigaction(SIGPIPE, &sa, &old));
	EXPECT_OK(rump_sys_pipe2(p, 0));
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_ERR(rump_sys_write(p[1], "x", 1), EPIPE);
	EXPECT_EQ(sigpipes, 1);
	EXPECT_OK(rump_sys_close(p[1]));
	EXPECT_OK(rump_sys_pipe2(p, RUMP_O_NOSIGPIPE));
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_ERR(rump_sys_write(p[1], "x", 1), EPIPE);
	EXPECT_EQ(sigpipes, 1);
	EXPECT_OK(rump_sys_close(p[1]));
	EXPECT_OK(sigaction(SIGPIPE, &old, NULL));

	/* pipe2 flags: O_CLOEXEC on both ends, O_NONBLOCK on both, others EINVAL. */
	EXPECT_OK(rump_sys_pipe2(p, RUMP_O_CLOEXEC | RUMP_O_NONBLOCK));
	EXPECT_EQ(rump_sys_fcntl(p[0], RUMP_F_GETFD), RUMP_FD_CLOEXEC);
	EXPECT_EQ(rump_sys_fcntl(p[1], RUMP_F_GETFD), RUMP_FD_CLOEXEC);
	EXPECT_EQ(rump_sys_fcntl(p[0], RUMP_F_GETFL) & (RUMP_O_NONBLOCK | RUMP_O_ACCMODE), RUMP_O_NONBLOCK | RUMP_O_RDONLY);
	EXPECT_EQ(rump_sys_fcntl(p[1], RUMP_F_GETFL) & (RUMP_O_NONBLOCK | RUMP_O_ACCMODE), RUMP_O_NONBLOCK | RUMP_O_WRONLY);
	EXPECT_ERR(rump_sys_read(p[0], buf, 1), EAGAIN);
	/* Fill it: a non-blocking writer gets a short count, then EAGAIN. */
	static char fill[4096];
	long total = 0;
	ssize_t w;
	for (i = 0; i < 1000 && (w = rump_sys_write(p[1], fill, sizeof fill)) > 0; i++)
		total += w;
	CHECK(w == -1 && errno == EAGAIN, "write to a full non-blocking pipe: expected -1 EAGAIN, got %zd errno %d", w, errno);
	CHECK(total >= 4096 && total < 1000 * 4096, "bytes a pipe buffers: expected a bounded amount, got %ld", total);
	EXPECT_OK(rump_sys_ioctl(p[0], RUMP_FIONREAD, &n));
	EXPECT_EQ(n, total);
	/* FIONBIO turns blocking back on for the reader. */
	int off = 0;
	EXPECT_OK(rump_sys_ioctl(p[0], RUMP_FIONBIO, &off));
	EXPECT_EQ(rump_sys_fcntl(p[0], RUMP_F_GETFL) & RUMP_O_NONBLOCK, 0);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_OK(rump_sys_close(p[1]));
	EXPECT_ERR(rump_sys_pipe2(p, RUMP_O_APPEND), EINVAL);

	/* Blocking transfer of 200000 bytes with a writer on another thread. */
	EXPECT_OK(rump_sys_pipe2(p, 0));
	struct bulk b = { .fd = p[1], .len = sizeof got };
	pthread_t t;
	EXPECT_EQ(pthread_create(&t, NULL, bulk_writer, &b), 0);
	size_t have = 0;
	ssize_t r;
	while (have < sizeof got && (r = rump_sys_read(p[0], got + have, sizeof got - have)) > 0)
		have += r;
	EXPECT_EQ(have, sizeof got);
	EXPECT_EQ(rump_sys_read(p[0], buf, 1), 0);
	pthread_join(t, NULL);
	EXPECT_EQ(b.err, 0);
	EXPECT_EQ(b.done, sizeof got);
	for (i = 0; i < (int)sizeof got; i++)
		if (got[i] != (unsigned char)(i * 7 + i / 251))
			break;
	CHECK(i == (int)sizeof got, "pipe bulk data: expected the written pattern, differs at byte %d", i);
	EXPECT_OK(rump_sys_close(p[0]));
}

/* Writers of whole PIPE_BUF (512-byte) records: each must arrive in one piece. */
#define NWRITERS	4
#define NRECORDS	400
#define PIPE_BUF_NB	512

struct rec_writer {
	int fd;
	int id;
	int err;
};

static void *
rec_writer(void *arg)
{
	struct rec_writer *w = arg;
	unsigned char rec[PIPE_BUF_NB];

	for (int i = 0; i < NRECORDS; i++) {
		memset(rec, 'A' + w->id, sizeof rec);
		rec[0] = (unsigned char)w->id;
		rec[1] = (unsigned char)(i & 0xff);
		rec[2] = (unsigned char)(i >> 8);
		if (rump_sys_write(w->fd, rec, sizeof rec) != (ssize_t)sizeof rec) {
			w->err = errno ? errno : -1;
			break;
		}
	}
	return NULL;
}

struct blocked_reader {
	int fd;
	ssize_t got;
	int err;
};

static void *
blocked_reader(void *arg)
{
	struct blocked_reader *b = arg;
	char c;

	b->got = rump_sys_read(b->fd, &c, 1);
	b->err = errno;
	return NULL;
}

static void
test_pipe_atomic_and_wakeups(void)
{
	static unsigned char buf[PIPE_BUF_NB * 3];
	struct rec_writer w[NWRITERS];
	pthread_t t[NWRITERS];
	int p[2], next[NWRITERS] = { 0 }, i, bad = 0;

	/* Four threads write 512-byte records at once; the reader sees them whole and in order. */
	EXPECT_OK(rump_sys_pipe2(p, 0));
	for (i = 0; i < NWRITERS; i++) {
		w[i] = (struct rec_writer){ .fd = p[1], .id = i };
		EXPECT_EQ(pthread_create(&t[i], NULL, rec_writer, &w[i]), 0);
	}
	size_t have = 0;
	long total = 0;
	while (total < (long)NWRITERS * NRECORDS * PIPE_BUF_NB) {
		ssize_t r = rump_sys_read(p[0], buf + have, sizeof buf - have);
		if (r <= 0) {
			CHECK(0, "reading records: expected data, got %zd errno %d", r, errno);
			break;
		}
		have += r;
		total += r;
		while (have >= PIPE_BUF_NB) {
			int id = buf[0], seq = buf[1] | buf[2] << 8, whole = id < NWRITERS;
			for (int k = 3; whole && k < PIPE_BUF_NB; k++)
				whole = buf[k] == 'A' + id;
			if (!whole || seq != next[id]) {
				if (bad++ == 0)
					CHECK(0, "pipe record at byte %ld: expected a whole 512-byte record #%d of writer %d,"
					    " got a mixed or out-of-order one", total - (long)have, id < NWRITERS ? next[id] : -1, id);
			} else
				next[id]++;
			memmove(buf, buf + PIPE_BUF_NB, have - PIPE_BUF_NB);
			have -= PIPE_BUF_NB;
		}
	}
	for (i = 0; i < NWRITERS; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(w[i].err, 0);
		EXPECT_EQ(next[i], NRECORDS);
	}
	EXPECT_EQ(bad, 0);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_OK(rump_sys_close(p[1]));

	/* Non-blocking: a write of up to PIPE_BUF bytes goes in whole or not at all. */
	EXPECT_OK(rump_sys_pipe2(p, RUMP_O_NONBLOCK));
	static char fill[4096];
	ssize_t wr;
	while ((wr = rump_sys_write(p[1], fill, 1)) == 1)
		;
	CHECK(wr == -1 && errno == EAGAIN, "filling a non-blocking pipe byte by byte: expected EAGAIN at the end, got %zd errno %d",
	    wr, errno);
	EXPECT_EQ(rump_sys_read(p[0], fill, 100), 100);
	EXPECT_ERR(rump_sys_write(p[1], fill, PIPE_BUF_NB), EAGAIN);
	EXPECT_EQ(rump_sys_write(p[1], fill, 100), 100);
	EXPECT_ERR(rump_sys_write(p[1], fill, 1), EAGAIN);
	/* A bigger write takes what fits. */
	EXPECT_EQ(rump_sys_read(p[0], fill, 1000), 1000);
	EXPECT_EQ(rump_sys_write(p[1], fill, sizeof fill), 1000);
	EXPECT_OK(rump_sys_close(p[0]));
	EXPECT_OK(rump_sys_close(p[1]));

	/* A reader blocked on an empty pipe wakes with EOF when the last writer closes. */
	EXPECT_OK(rump_sys_pipe2(p, 0));
	struct blocked_reader br = { .fd = p[0], .got = -2 };
	pthread_t rt;
	EXPECT_EQ(pthread_create(&rt, NULL, blocked_reader, &br), 0);
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	EXPECT_OK(rump_sys_close(p[1]));
	pthread_join(rt, NULL);
	EXPECT_EQ(br.got, 0);
	EXPECT_OK(rump_sys_close(p[0]));
}

int
main(void)
{
	rtest_init();
	test_numbering_and_dup();
	test_fcntl_flags();
	test_ioctl_file();
	test_pipes();
	test_pipe_atomic_and_wakeups();
	return rtest_done();
}
