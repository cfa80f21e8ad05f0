/*
 * Regular files through the C ABI: open/close, read/write and the positional and vector
 * forms, lseek, sparse files, truncate/ftruncate, fsync, stat/fstat, and the timestamps
 * that reads and writes change.
 */
#include <time.h>
#include <unistd.h>

#include "rtest.h"

static void
msleep(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static int
ts_cmp(struct rump_timespec a, struct rump_timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	return a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec > b.tv_nsec;
}

static void
test_open_read_write(void)
{
	char buf[64];
	struct rump_stat st;
	int fd;

	EXPECT_OK(rump_sys_mkdir("/f", 0755));
	fd = EXPECT_OK(rump_sys_open("/f/a", RUMP_O_RDWR | RUMP_O_CREAT | RUMP_O_EXCL, 0644));
	EXPECT_EQ(rump_sys_write(fd, "hello, world", 12), 12);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 12);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_SET), 0);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(fd, buf, sizeof buf), 12);
	EXPECT_STR(buf, "hello, world");
	/* At end of file read returns 0. */
	EXPECT_EQ(rump_sys_read(fd, buf, sizeof buf), 0);
	EXPECT_EQ(rump_sys_lseek(fd, -5, RUMP_SEEK_END), 7);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(fd, buf, 3), 3);
	EXPECT_STR(buf, "wor");
	EXPECT_EQ(rump_sys_lseek(fd, -3, RUMP_SEEK_CUR), 7);
	/* Overwrite in the middle keeps the size. */
	EXPECT_EQ(rump_sys_write(fd, "WOR", 3), 3);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, 12);
	EXPECT_MODE(st.st_mode, RUMP_S_IFREG | 0644);
	EXPECT_EQ(st.st_nlink, 1);
	EXPECT_EQ(st.st_uid, 0);
	EXPECT_EQ(st.st_gid, 0);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_EQ(rtest_get("/f/a", buf, sizeof buf), 12);
	EXPECT_STR(buf, "hello, WORld");

	/* A zero-length read and write move nothing. */
	fd = EXPECT_OK(rump_sys_open("/f/a", RUMP_O_RDWR));
	EXPECT_EQ(rump_sys_read(fd, buf, 0), 0);
	EXPECT_EQ(rump_sys_write(fd, buf, 0), 0);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 0);
	EXPECT_OK(rump_sys_close(fd));

	/* O_TRUNC empties; O_APPEND writes at the end whatever the offset. */
	fd = EXPECT_OK(rump_sys_open("/f/a", RUMP_O_WRONLY | RUMP_O_TRUNC));
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, 0);
	EXPECT_EQ(rump_sys_write(fd, "abc", 3), 3);
	EXPECT_OK(rump_sys_close(fd));
	fd = EXPECT_OK(rump_sys_open("/f/a", RUMP_O_WRONLY | RUMP_O_APPEND));
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_SET), 0);
	EXPECT_EQ(rump_sys_write(fd, "def", 3), 3);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 6);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_EQ(rtest_get("/f/a", buf, sizeof buf), 6);
	EXPECT_STR(buf, "abcdef");

	/* Access modes are enforced per descriptor. */
	fd = EXPECT_OK(rump_sys_open("/f/a", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_write(fd, "x", 1), EBADF);
	EXPECT_ERR(rump_sys_pwrite(fd, "x", 1, 0), EBADF);
	EXPECT_ERR(rump_sys_ftruncate(fd, 0), EINVAL);
	EXPECT_OK(rump_sys_close(fd));
	fd = EXPECT_OK(rump_sys_open("/f/a", RUMP_O_WRONLY));
	EXPECT_ERR(rump_sys_read(fd, buf, 1), EBADF);
	EXPECT_ERR(rump_sys_pread(fd, buf, 1, 0), EBADF);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_open("/f/a", RUMP_O_ACCMODE), EINVAL);

	/* Seeking before the start is EINVAL; after the end is allowed. */
	fd = EXPECT_OK(rump_sys_open("/f/a", RUMP_O_RDONLY));
	EXPECT_ERR(rump_sys_lseek(fd, -1, RUMP_SEEK_SET), EINVAL);
	EXPECT_ERR(rump_sys_lseek(fd, -7, RUMP_SEEK_END), EINVAL);
	EXPECT_ERR(rump_sys_lseek(fd, 0, 3), EINVAL);
	EXPECT_EQ(rump_sys_lseek(fd, 100, RUMP_SEEK_SET), 100);
	EXPECT_EQ(rump_sys_read(fd, buf, sizeof buf), 0);
	EXPECT_OK(rump_sys_close(fd));
}

static void
test_positional_and_vector(void)
{
	char buf[64], a[8], b[8], c[8];
	struct rump_iovec iov[3];
	int fd;

	fd = EXPECT_OK(rump_sys_open("/f/p", RUMP_O_RDWR | RUMP_O_CREAT, 0600));
	EXPECT_EQ(rump_sys_write(fd, "0123456789", 10), 10);
	/* pwrite/pread use their own offset and leave the file offset alone. */
	EXPECT_EQ(rump_sys_pwrite(fd, "abc", 3, 2), 3);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 10);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_pread(fd, buf, 5, 1), 5);
	EXPECT_STR(buf, "1abc5");
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 10);
	/* pread past the end returns 0, partly past returns the rest. */
	EXPECT_EQ(rump_sys_pread(fd, buf, 5, 10), 0);
	EXPECT_EQ(rump_sys_pread(fd, buf, 5, 8), 2);
	EXPECT_ERR(rump_sys_pread(fd, buf, 1, -1), EINVAL);
	EXPECT_ERR(rump_sys_pwrite(fd, buf, 1, -1), EINVAL);

	/* writev gathers in order; readv scatters in order. */
	iov[0].iov_base = "AAA";
	iov[0].iov_len = 3;
	iov[1].iov_base = "";
	iov[1].iov_len = 0;
	iov[2].iov_base = "BBBBB";
	iov[2].iov_len = 5;
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_SET), 0);
	EXPECT_EQ(rump_sys_writev(fd, iov, 3), 8);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 8);
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	memset(c, 0, sizeof c);
	iov[0].iov_base = a;
	iov[0].iov_len = 2;
	iov[1].iov_base = b;
	iov[1].iov_len = 4;
	iov[2].iov_base = c;
	iov[2].iov_len = 7;
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_SET), 0);
	EXPECT_EQ(rump_sys_readv(fd, iov, 3), 10);
	EXPECT_STR(a, "AA");
	EXPECT_STR(b, "ABBB");
	EXPECT_STR(c, "BB89");
	EXPECT_ERR(rump_sys_readv(fd, iov, 0), EINVAL);
	EXPECT_ERR(rump_sys_writev(fd, iov, -1), EINVAL);
	EXPECT_ERR(rump_sys_readv(fd, iov, 1025), EINVAL);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_readv(fd, iov, 1), EBADF);
	EXPECT_ERR(rump_sys_writev(fd, iov, 1), EBADF);
}

static void
test_sparse(void)
{
	static char page[8192], zero[8192];
	struct rump_stat st, dense;
	int fd, i;

	fd = EXPECT_OK(rump_sys_open("/f/sparse", RUMP_O_RDWR | RUMP_O_CREAT, 0644));
	EXPECT_EQ(rump_sys_pwrite(fd, "end", 3, 1 << 20), 3);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, (1 << 20) + 3);
	/* The hole reads as zeros wherever it is read. */
	memset(page, 0xff, sizeof page);
	EXPECT_EQ(rump_sys_pread(fd, page, sizeof page, 0), sizeof page);
	EXPECT_MEM(page, zero, sizeof page);
	memset(page, 0xff, sizeof page);
	EXPECT_EQ(rump_sys_pread(fd, page, sizeof page, (1 << 20) - 8192 + 3), sizeof page);
	EXPECT_MEM(page, zero, sizeof page - 3);
	EXPECT_MEM(page + sizeof page - 3, "end", 3);

	/* The same size written densely takes far more blocks. */
	int dfd = EXPECT_OK(rump_sys_open("/f/dense", RUMP_O_RDWR | RUMP_O_CREAT, 0644));
	memset(page, 'd', sizeof page);
	for (i = 0; i < (1 << 20) / (int)sizeof page; i++)
		EXPECT_EQ(rump_sys_write(dfd, page, sizeof page), sizeof page);
	EXPECT_EQ(rump_sys_write(dfd, "end", 3), 3);
	EXPECT_OK(rump_sys_fstat(dfd, &dense));
	EXPECT_EQ(dense.st_size, st.st_size);
	CHECK(dense.st_blocks >= (1 << 20) / 512,
	    "dense 1 MiB file st_blocks: expected >= %d, got %lld", (1 << 20) / 512,
	    (long long)dense.st_blocks);
	CHECK(st.st_blocks < dense.st_blocks / 4,
	    "sparse file st_blocks: expected far fewer than the dense %lld, got %lld",
	    (long long)dense.st_blocks, (long long)st.st_blocks);
	CHECK(st.st_blocks > 0, "sparse file st_blocks: expected > 0 (one page written), got %lld",
	    (long long)st.st_blocks);
	EXPECT_OK(rump_sys_close(dfd));

	/* A seek past the end and a write leave a hole too. */
	EXPECT_EQ(rump_sys_lseek(fd, (2 << 20), RUMP_SEEK_SET), 2 << 20);
	EXPECT_EQ(rump_sys_write(fd, "x", 1), 1);
	memset(page, 0xff, sizeof page);
	EXPECT_EQ(rump_sys_pread(fd, page, 100, (1 << 20) + 3), 100);
	EXPECT_MEM(page, zero, 100);
	EXPECT_OK(rump_sys_close(fd));
}

static void
test_truncate(void)
{
	char buf[32], zero[32] = { 0 };
	struct rump_stat st;
	int fd;

	EXPECT_OK(rtest_put("/f/t", "0123456789", 10));
	/* Shrink, then grow: the grown part reads as zeros, not the old data. */
	EXPECT_OK(rump_sys_truncate("/f/t", 4));
	EXPECT_OK(rump_sys_stat("/f/t", &st));
	EXPECT_EQ(st.st_size, 4);
	EXPECT_OK(rump_sys_truncate("/f/t", 12));
	EXPECT_OK(rump_sys_stat("/f/t", &st));
	EXPECT_EQ(st.st_size, 12);
	fd = EXPECT_OK(rump_sys_open("/f/t", RUMP_O_RDWR));
	memset(buf, 0xff, sizeof buf);
	EXPECT_EQ(rump_sys_read(fd, buf, sizeof buf), 12);
	EXPECT_MEM(buf, "0123", 4);
	EXPECT_MEM(buf + 4, zero, 8);
	EXPECT_OK(rump_sys_ftruncate(fd, 2));
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, 2);
	/* Shrinking across a page boundary and growing again clears the tail of the page. */
	EXPECT_EQ(rump_sys_pwrite(fd, "tail", 4, 4100), 4);
	EXPECT_OK(rump_sys_ftruncate(fd, 4098));
	EXPECT_OK(rump_sys_ftruncate(fd, 8000));
	memset(buf, 0xff, sizeof buf);
	EXPECT_EQ(rump_sys_pread(fd, buf, 8, 4096), 8);
	EXPECT_MEM(buf, zero, 8);
	EXPECT_OK(rump_sys_ftruncate(fd, 0));
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, 0);
	EXPECT_EQ(st.st_blocks, 0);
	EXPECT_ERR(rump_sys_ftruncate(fd, -1), EINVAL);
	EXPECT_ERR(rump_sys_truncate("/f/t", -1), EINVAL);
	EXPECT_ERR(rump_sys_truncate("/f", 0), EISDIR);
	EXPECT_ERR(rump_sys_truncate("/f/none", 0), ENOENT);
	/* fsync on a file, and on a bad descriptor. */
	EXPECT_OK(rump_sys_fsync(fd));
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_fsync(fd), EBADF);
	EXPECT_ERR(rump_sys_ftruncate(fd, 0), EBADF);
}

static void
test_stat(void)
{
	struct rump_stat st, st2;
	int fd;

	fd = EXPECT_OK(rump_sys_open("/f/s", RUMP_O_RDWR | RUMP_O_CREAT, 0640));
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_OK(rump_sys_stat("/f/s", &st2));
	EXPECT_EQ(st2.st_ino, st.st_ino);
	EXPECT_EQ(st2.st_dev, st.st_dev);
	EXPECT_MODE(st2.st_mode, RUMP_S_IFREG | 0640);
	EXPECT_EQ(st2.st_size, 0);
	EXPECT_EQ(st2.st_blocks, 0);
	CHECK(st2.st_blksize > 0, "st_blksize: expected > 0, got %d", st2.st_blksize);
	/* Distinct files have distinct inode numbers. */
	EXPECT_OK(rump_sys_stat("/f/p", &st2));
	CHECK(st2.st_ino != st.st_ino, "inode numbers of /f/s and /f/p: expected different, both %llu",
	    (unsigned long long)st.st_ino);
	/* The directory has S_IFDIR and its st_ino matches "." inside it. */
	EXPECT_OK(rump_sys_stat("/f", &st));
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFDIR);
	EXPECT_OK(rump_sys_stat("/f/.", &st2));
	EXPECT_EQ(st2.st_ino, st.st_ino);
	EXPECT_OK(rump_sys_stat("/", &st));
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFDIR);
	/* Writing to the file changes size; ino stays. */
	EXPECT_OK(rump_sys_stat("/f/s", &st));
	EXPECT_EQ(rump_sys_write(fd, "12345", 5), 5);
	EXPECT_OK(rump_sys_stat("/f/s", &st2));
	EXPECT_EQ(st2.st_ino, st.st_ino);
	EXPECT_EQ(st2.st_size, 5);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_fstat(fd, &st), EBADF);
	EXPECT_ERR(rump_sys_fstat(-1, &st), EBADF);
	EXPECT_ERR(rump_sys_stat("/f/none", &st), ENOENT);
	EXPECT_ERR(rump_sys_stat("", &st), ENOENT);
}

static void
test_times(void)
{
	struct rump_timespec past[2] = { { 1000000000, 111 }, { 1000000000, 222 } };
	struct rump_stat st0, st;
	char buf[8];
	int fd;

	EXPECT_OK(rtest_put("/f/tm", "data", 4));
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/f/tm", past, 0));
	EXPECT_OK(rump_sys_stat("/f/tm", &st0));
	EXPECT_EQ(st0.st_atim.tv_sec, 1000000000);
	EXPECT_EQ(st0.st_atim.tv_nsec, 111);
	EXPECT_EQ(st0.st_mtim.tv_sec, 1000000000);
	EXPECT_EQ(st0.st_mtim.tv_nsec, 222);
	msleep(20);

	/* A read updates atime only. */
	fd = EXPECT_OK(rump_sys_open("/f/tm", RUMP_O_RDWR));
	EXPECT_EQ(rump_sys_read(fd, buf, sizeof buf), 4);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	CHECK(st.st_atim.tv_sec > 1000000000, "atime after read: expected now, got %lld.%09ld",
	    (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
	EXPECT_EQ(st.st_mtim.tv_nsec, 222);
	CHECK(ts_cmp(st.st_ctim, st0.st_ctim) == 0, "ctime after read: expected unchanged %lld.%09ld, got %lld.%09ld",
	    (long long)st0.st_ctim.tv_sec, st0.st_ctim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);

	/* A write updates mtime and ctime. */
	msleep(20);
	EXPECT_EQ(rump_sys_write(fd, "more", 4), 4);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	CHECK(st.st_mtim.tv_sec > 1000000000, "mtime after write: expected now, got %lld.%09ld",
	    (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	CHECK(ts_cmp(st.st_ctim, st0.st_ctim) > 0, "ctime after write: expected later than %lld.%09ld, got %lld.%09ld",
	    (long long)st0.st_ctim.tv_sec, st0.st_ctim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	/* ftruncate also changes mtime and ctime. */
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/f/tm", past, 0));
	EXPECT_OK(rump_sys_fstat(fd, &st0));
	msleep(20);
	EXPECT_OK(rump_sys_ftruncate(fd, 1));
	EXPECT_OK(rump_sys_fstat(fd, &st));
	CHECK(st.st_mtim.tv_sec > 1000000000, "mtime after ftruncate: expected now, got %lld",
	    (long long)st.st_mtim.tv_sec);
	CHECK(ts_cmp(st.st_ctim, st0.st_ctim) > 0, "ctime after ftruncate: expected later than %lld.%09ld, got %lld.%09ld",
	    (long long)st0.st_ctim.tv_sec, st0.st_ctim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	EXPECT_OK(rump_sys_close(fd));

	/* Creating a file in a directory changes the directory's mtime. */
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/f", past, 0));
	EXPECT_OK(rtest_put("/f/tm2", "", 0));
	EXPECT_OK(rump_sys_stat("/f", &st));
	CHECK(st.st_mtim.tv_sec > 1000000000, "directory mtime after create: expected now, got %lld",
	    (long long)st.st_mtim.tv_sec);
	EXPECT_OK(rump_sys_utimensat(RUMP_AT_FDCWD, "/f", past, 0));
	EXPECT_OK(rump_sys_unlink("/f/tm2"));
	EXPECT_OK(rump_sys_stat("/f", &st));
	CHECK(st.st_mtim.tv_sec > 1000000000, "directory mtime after unlink: expected now, got %lld",
	    (long long)st.st_mtim.tv_sec);
}

static void
test_large_offsets(void)
{
	const int64_t far = (int64_t)1 << 40;
	struct rump_stat st;
	char buf[16];
	int fd;

	/* A one-terabyte sparse file costs one page. */
	fd = EXPECT_OK(rump_sys_open("/f/huge", RUMP_O_RDWR | RUMP_O_CREAT, 0644));
	EXPECT_EQ(rump_sys_pwrite(fd, "far away", 8, far), 8);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, far + 8);
	CHECK(st.st_blocks > 0 && st.st_blocks <= 64, "st_blocks of a 1 TiB file with one written page: expected 1..64, got %lld",
	    (long long)st.st_blocks);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_pread(fd, buf, sizeof buf, far - 4), 12);
	EXPECT_MEM(buf, "\0\0\0\0far away", 12);
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_END), far + 8);
	EXPECT_EQ(rump_sys_lseek(fd, -8, RUMP_SEEK_CUR), far);
	memset(buf, 0, sizeof buf);
	EXPECT_EQ(rump_sys_read(fd, buf, sizeof buf), 8);
	EXPECT_STR(buf, "far away");
	/* Past 4 GiB in the middle: zeros. */
	EXPECT_EQ(rump_sys_pread(fd, buf, 4, (int64_t)5 << 30), 4);
	EXPECT_MEM(buf, "\0\0\0\0", 4);
	/* Truncating back frees it. */
	EXPECT_OK(rump_sys_ftruncate(fd, 3));
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, 3);
	EXPECT_EQ(st.st_blocks, 0);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_OK(rump_sys_unlink("/f/huge"));
}

int
main(void)
{
	rtest_init();
	test_open_read_write();
	test_positional_and_vector();
	test_sparse();
	test_truncate();
	test_stat();
	test_times();
	test_large_offsets();
	return rtest_done();
}
