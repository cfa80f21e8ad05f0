/*
 * librumpcomp_shmif: the shmif component hypercalls (include/rump/rumpcomp_shmif.h), plain
 * POSIX and Linux (inotify, F_OFD_SETLKW). The header says how the lock and the wake-up work.
 *
 * Threads of one handle (the kernel's senders and the reader thread) share one file description,
 * whose OFD lock does not exclude them from each other: a pthread mutex does, taken first.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rump/rumpcomp_shmif.h>

#define EXPORT __attribute__((__visibility__("default")))

/* Offsets in NetBSD's struct shmif_mem. */
#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_LOCK 24
#define OFF_SPARE 28

/* In the spare word while one of our kernels holds the lock ("shmh"). */
#define HELD_MARK 0x73686d68u
/* Spins on a word a NetBSD kernel holds before sleeping 1 ms, as NetBSD's own lock does. */
#define LOCK_COOLDOWN 1001

/* NetBSD's errno values for what these routines return. */
enum {
	N_EPERM = 1, N_ENOENT = 2, N_EIO = 5, N_ENOEXEC = 8, N_ENOMEM = 12, N_EACCES = 13,
	N_EBUSY = 16, N_ENOTDIR = 20, N_EISDIR = 21, N_EINVAL = 22, N_ENFILE = 23, N_EMFILE = 24,
	N_ENOSPC = 28, N_EROFS = 30, N_ELOOP = 62, N_ENAMETOOLONG = 63,
};

struct rumpcomp_shmif {
	int fd;
	int ino;		/* inotify, watching fd's file */
	int stopfd;		/* eventfd: the reader thread stops */
	uint8_t *mem;
	_Atomic uint32_t *word;
	_Atomic uint32_t *spare;
	pthread_mutex_t mtx;	/* the handle's threads among themselves; then the OFD lock */
	bool reading;
	pthread_t reader;
	void (*fn)(void *);
	void *arg;
	_Atomic uint64_t takeovers;
};

static int
nerrno(int e)
{
	switch (e) {
	case EPERM: return N_EPERM;
	case ENOENT: return N_ENOENT;
	case ENOMEM: return N_ENOMEM;
	case EACCES: return N_EACCES;
	case EBUSY: return N_EBUSY;
	case ENOTDIR: return N_ENOTDIR;
	case EISDIR: return N_EISDIR;
	case EINVAL: return N_EINVAL;
	case ENFILE: return N_ENFILE;
	case EMFILE: return N_EMFILE;
	case ENOSPC: return N_ENOSPC;
	case EROFS: return N_EROFS;
	case ELOOP: return N_ELOOP;
	case ENAMETOOLONG: return N_ENAMETOOLONG;
	default: return N_EIO;
	}
}

EXPORT int
rumpcomp_shmif_open(const char *path, struct rumpcomp_shmif **busp, void **memp)
{
	struct rumpcomp_shmif *bus;
	struct stat st;
	uint32_t hdr[2];
	int fd, e;

	if (path == NULL || busp == NULL || memp == NULL)
		return N_EINVAL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		return nerrno(errno);
	if (fstat(fd, &st) == -1) {
		e = nerrno(errno);
		goto fail_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		e = S_ISDIR(st.st_mode) ? N_EISDIR : N_EINVAL;
		goto fail_fd;
	}
	/* Someone else's file stays as it is: only a zeroed (new) file or a bus is taken. */
	if (st.st_size > 0) {
		memset(hdr, 0, sizeof hdr);
		if (pread(fd, hdr, sizeof hdr, 0) == -1) {
			e = nerrno(errno);
			goto fail_fd;
		}
		if (hdr[0] != 0 && (hdr[0] != RUMPCOMP_SHMIF_MAGIC || hdr[1] != RUMPCOMP_SHMIF_BUSVERSION)) {
			e = N_ENOEXEC;
			goto fail_fd;
		}
	}
	if (st.st_size < (off_t)RUMPCOMP_SHMIF_BUSSIZE && ftruncate(fd, RUMPCOMP_SHMIF_BUSSIZE) == -1) {
		e = nerrno(errno);
		goto fail_fd;
	}
	bus = calloc(1, sizeof *bus);
	if (bus == NULL) {
		e = N_ENOMEM;
		goto fail_fd;
	}
	bus->fd = fd;
	bus->stopfd = -1;
	bus->mem = mmap(NULL, RUMPCOMP_SHMIF_BUSSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bus->mem == MAP_FAILED) {
		e = nerrno(errno);
		goto fail_bus;
	}
	bus->word = (_Atomic uint32_t *)(bus->mem + OFF_LOCK);
	bus->spare = (_Atomic uint32_t *)(bus->mem + OFF_SPARE);
	bus->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (bus->ino == -1) {
		e = nerrno(errno);
		goto fail_map;
	}
	/* By the file's path, as NetBSD does: the watch follows the inode the path names now. */
	if (inotify_add_watch(bus->ino, path, IN_MODIFY) == -1) {
		e = nerrno(errno);
		goto fail_ino;
	}
	bus->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bus->stopfd == -1) {
		e = nerrno(errno);
		goto fail_ino;
	}
	pthread_mutex_init(&bus->mtx, NULL);
	*busp = bus;
	*memp = bus->mem;
	return 0;

fail_ino:
	close(bus->ino);
fail_map:
	munmap(bus->mem, RUMPCOMP_SHMIF_BUSSIZE);
fail_bus:
	free(bus);
fail_fd:
	close(fd);
	return e;
}

EXPORT void
rumpcomp_shmif_close(struct rumpcomp_shmif *bus)
{
	if (bus == NULL)
		return;
	rumpcomp_shmif_reader_stop(bus);
	munmap(bus->mem, RUMPCOMP_SHMIF_BUSSIZE);
	close(bus->stopfd);
	close(bus->ino);
	close(bus->fd);
	pthread_mutex_destroy(&bus->mtx);
	free(bus);
}

static int
ofdlock(struct rumpcomp_shmif *bus, int type, bool wait)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = (short)type;
	fl.l_whence = SEEK_SET;
	fl.l_start = OFF_LOCK;
	fl.l_len = 4;
	while (fcntl(bus->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == -1) {
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EACCES ? N_EBUSY : nerrno(errno);
	}
	return 0;
}

/*
 * With the handle mutex and the OFD lock held: takes the word. Held by a NetBSD kernel, it spins
 * as NetBSD's lock does (returning EBUSY at once if !wait); held with our marker, its holder is
 * dead (module header), and the word is ours.
 */
static int
takeword(struct rumpcomp_shmif *bus, bool wait)
{
	int spins = 0;

	for (;;) {
		uint32_t expect = 0;

		/* Held, with the marker of a holder of ours that we have just outlived (we own the
		 * OFD lock, a live one would): the word is ours now. */
		if (atomic_load_explicit(bus->spare, memory_order_acquire) == HELD_MARK &&
		    atomic_load_explicit(bus->word, memory_order_acquire) == 1) {
			atomic_fetch_add(&bus->takeovers, 1);
			return 0;
		}
		/* The marker before the word: a holder killed between the two leaves the word
		 * free and the marker stale, which the next taker overwrites. */
		atomic_store_explicit(bus->spare, HELD_MARK, memory_order_seq_cst);
		if (atomic_compare_exchange_strong_explicit(bus->word, &expect, 1,
		    memory_order_acquire, memory_order_relaxed))
			return 0;
		/* A NetBSD kernel holds it: our marker would lie. */
		atomic_store_explicit(bus->spare, 0, memory_order_seq_cst);
		if (!wait)
			return N_EBUSY;
		if (++spins > LOCK_COOLDOWN) {
			struct timespec ts = { 0, 1000 * 1000 };
			nanosleep(&ts, NULL);
			spins = 0;
		} else
			sched_yield();
	}
}

static int
lockbus(struct rumpcomp_shmif *bus, bool wait)
{
	int e;

	if (wait)
		pthread_mutex_lock(&bus->mtx);
	else if (pthread_mutex_trylock(&bus->mtx) != 0)
		return N_EBUSY;
	e = ofdlock(bus, F_WRLCK, wait);
	if (e == 0) {
		e = takeword(bus, wait);
		if (e != 0)
			ofdlock(bus, F_UNLCK, false);
	}
	if (e != 0)
		pthread_mutex_unlock(&bus->mtx);
	return e;
}

EXPORT int
rumpcomp_shmif_lock(struct rumpcomp_shmif *bus)
{
	return lockbus(bus, true);
}

EXPORT int
rumpcomp_shmif_trylock(struct rumpcomp_shmif *bus)
{
	return lockbus(bus, false);
}

EXPORT void
rumpcomp_shmif_unlock(struct rumpcomp_shmif *bus)
{
	atomic_store_explicit(bus->word, 0, memory_order_release);
	atomic_store_explicit(bus->spare, 0, memory_order_relaxed);
	ofdlock(bus, F_UNLCK, false);
	pthread_mutex_unlock(&bus->mtx);
}

EXPORT uint64_t
rumpcomp_shmif_takeovers(struct rumpcomp_shmif *bus)
{
	return atomic_load(&bus->takeovers);
}

EXPORT int
rumpcomp_shmif_wakeup(struct rumpcomp_shmif *bus)
{
	uint32_t v = RUMPCOMP_SHMIF_BUSVERSION;

	/* The same value back: a write(2) (not a store through the mapping) is what inotify sees. */
	if (pwrite(bus->fd, &v, sizeof v, OFF_VERSION) != (ssize_t)sizeof v)
		return nerrno(errno);
	return 0;
}

static void *
reader(void *arg)
{
	struct rumpcomp_shmif *bus = arg;
	char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p[2];

	bus->fn(bus->arg);
	for (;;) {
		p[0].fd = bus->ino;
		p[0].events = POLLIN;
		p[1].fd = bus->stopfd;
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		/* Drain before reading the ring: a write after this point leaves a new event. */
		while (read(bus->ino, evbuf, sizeof evbuf) > 0)
			;
		bus->fn(bus->arg);
	}
	return NULL;
}

EXPORT int
rumpcomp_shmif_reader_start(struct rumpcomp_shmif *bus, void (*fn)(void *), void *arg)
{
	int e;

	if (bus->reading)
		return N_EBUSY;
	bus->fn = fn;
	bus->arg = arg;
	e = pthread_create(&bus->reader, NULL, reader, bus);
	if (e != 0)
		return nerrno(e);
	bus->reading = true;
	return 0;
}

EXPORT void
rumpcomp_shmif_reader_stop(struct rumpcomp_shmif *bus)
{
	uint64_t one = 1;

	if (!bus->reading)
		return;
	while (write(bus->stopfd, &one, sizeof one) == -1 && errno == EINTR)
		;
	pthread_join(bus->reader, NULL);
	bus->reading = false;
}
