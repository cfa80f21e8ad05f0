/*
 * Files: open/close, file information, scatter-gather I/O and sync.
 *
 * Every call that can wait on the host's storage gives up the CPU for the
 * duration of the host call (rumpuser(3): "holding on to the rump kernel
 * context while performing a slow hypercall such as reading a device will
 * prevent other threads ... from using that rump kernel context").
 */

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __linux__
#include <linux/fs.h> /* BLKGETSIZE64 */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <unistd.h>

#include "rumpuser_int.h"

/* rumpuser_iovec is passed to readv/writev as is. */
_Static_assert(sizeof(struct rumpuser_iovec) == sizeof(struct iovec),
    "rumpuser_iovec size");
_Static_assert(offsetof(struct rumpuser_iovec, iov_base) ==
    offsetof(struct iovec, iov_base), "rumpuser_iovec iov_base");
_Static_assert(offsetof(struct rumpuser_iovec, iov_len) ==
    offsetof(struct iovec, iov_len), "rumpuser_iovec iov_len");

/*
 * RUMPUSER_OPEN_BIO is advisory (rumpuser(3)) and changes nothing here.
 * Created files get mode 0644; descriptors are close-on-exec.
 */
RUMPUSER_EXPORT int
rumpuser_open(const char *name, int mode, int *fdp)
{
	int flags, fd, error;

	switch (mode & RUMPUSER_OPEN_ACCMODE) {
	case RUMPUSER_OPEN_RDONLY:
		flags = O_RDONLY;
		break;
	case RUMPUSER_OPEN_WRONLY:
		flags = O_WRONLY;
		break;
	case RUMPUSER_OPEN_RDWR:
		flags = O_RDWR;
		break;
	default:
		return rumpuser__errtrans(EINVAL);
	}
	if (mode & RUMPUSER_OPEN_CREATE)
		flags |= O_CREAT;
	if (mode & RUMPUSER_OPEN_EXCL)
		flags |= O_EXCL;
	flags |= O_CLOEXEC;

	RUMPUSER_UNSCHEDULED(fd = open(name, flags, 0644); error = errno);
	if (fd == -1)
		return rumpuser__errtrans(error);
	*fdp = fd;
	return 0;
}

/* Like NetBSD's, close flushes first so the backing file is durable. */
RUMPUSER_EXPORT int
rumpuser_close(int fd)
{
	RUMPUSER_UNSCHEDULED(fsync(fd); close(fd));
	return 0;
}

/* Size of a device: BLKGETSIZE64 for block devices, else seek to the end. */
static int
devsize(const char *name, int isblk, uint64_t *sizep)
{
	off_t off;
	int fd, error = 0;

	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return errno;
#ifdef BLKGETSIZE64
	if (isblk) {
		uint64_t bytes;

		if (ioctl(fd, BLKGETSIZE64, &bytes) == 0) {
			*sizep = bytes;
			goto out;
		}
	}
#else
	(void)isblk;
#endif
	off = lseek(fd, 0, SEEK_END);
	if (off > 0)
		*sizep = (uint64_t)off;
	else if (off == 0)
		error = EOPNOTSUPP;
	else
		error = errno;
#ifdef BLKGETSIZE64
out:
#endif
	close(fd);
	return error;
}

static int
fileinfo(const char *name, uint64_t *sizep, int *typep)
{
	struct stat sb;
	uint64_t size;
	int type, error;

	if (stat(name, &sb) == -1)
		return errno;

	size = (uint64_t)sb.st_size;
	switch (sb.st_mode & S_IFMT) {
	case S_IFDIR:
		type = RUMPUSER_FT_DIR;
		break;
	case S_IFREG:
		type = RUMPUSER_FT_REG;
		break;
	case S_IFBLK:
		type = RUMPUSER_FT_BLK;
		break;
	case S_IFCHR:
		type = RUMPUSER_FT_CHR;
		break;
	default:
		type = RUMPUSER_FT_OTHER;
		break;
	}

	/* Only a device's size needs asking, and only if wanted. */
	if (sizep != NULL &&
	    (type == RUMPUSER_FT_BLK || type == RUMPUSER_FT_CHR)) {
		error = devsize(name, type == RUMPUSER_FT_BLK, &size);
		if (error != 0)
			return error;
	}

	if (sizep != NULL)
		*sizep = size;
	if (typep != NULL)
		*typep = type;
	return 0;
}

RUMPUSER_EXPORT int
rumpuser_getfileinfo(const char *name, uint64_t *size, int *type)
{
	int error;

	RUMPUSER_UNSCHEDULED(error = fileinfo(name, size, type));
	return rumpuser__errtrans(error);
}

/*
 * With an offset the transfer is positioned (preadv/pwritev) and leaves
 * the descriptor's offset alone; RUMPUSER_IOV_NOSEEK uses and moves it.
 */
RUMPUSER_EXPORT int
rumpuser_iovread(int fd, struct rumpuser_iovec *ruiov, size_t iovlen,
    int64_t off, size_t *retv)
{
	const struct iovec *iov = (const struct iovec *)ruiov;
	ssize_t nn;
	int error;

	if (iovlen > INT_MAX)
		return rumpuser__errtrans(EINVAL);
	if (off == RUMPUSER_IOV_NOSEEK)
		RUMPUSER_UNSCHEDULED(nn = readv(fd, iov, (int)iovlen);
		    error = errno);
	else
		RUMPUSER_UNSCHEDULED(nn = preadv(fd, iov, (int)iovlen,
		    (off_t)off); error = errno);
	if (nn == -1)
		return rumpuser__errtrans(error);
	*retv = (size_t)nn;
	return 0;
}

RUMPUSER_EXPORT int
rumpuser_iovwrite(int fd, const struct rumpuser_iovec *ruiov, size_t iovlen,
    int64_t off, size_t *retv)
{
	const struct iovec *iov = (const struct iovec *)ruiov;
	ssize_t nn;
	int error;

	if (iovlen > INT_MAX)
		return rumpuser__errtrans(EINVAL);
	if (off == RUMPUSER_IOV_NOSEEK)
		RUMPUSER_UNSCHEDULED(nn = writev(fd, iov, (int)iovlen);
		    error = errno);
	else
		RUMPUSER_UNSCHEDULED(nn = pwritev(fd, iov, (int)iovlen,
		    (off_t)off); error = errno);
	if (nn == -1)
		return rumpuser__errtrans(error);
	*retv = (size_t)nn;
	return 0;
}

/*
 * The descriptor is taken to be a regular file or disk: a read sync has
 * nothing to do.  A write sync flushes the whole file (start and len are
 * not narrower on this host): fsync with RUMPUSER_SYNCFD_SYNC, else
 * fdatasync, which also serves as the barrier.
 */
RUMPUSER_EXPORT int
rumpuser_syncfd(int fd, int flags, uint64_t start, uint64_t len)
{
	int rv, error;

	(void)start;
	(void)len;
	if ((flags & RUMPUSER_SYNCFD_BOTH) == 0)
		return rumpuser__errtrans(EINVAL);
	if ((flags & RUMPUSER_SYNCFD_WRITE) == 0)
		return 0;

	if (flags & RUMPUSER_SYNCFD_SYNC)
		RUMPUSER_UNSCHEDULED(rv = fsync(fd); error = errno);
	else
		RUMPUSER_UNSCHEDULED(rv = fdatasync(fd); error = errno);
	return rv == -1 ? rumpuser__errtrans(error) : 0;
}
