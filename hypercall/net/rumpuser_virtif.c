/*
 * The virtif component hypercalls over a Linux TAP device (see rumpuser_virtif.h).
 *
 * One reader thread per interface waits in poll(2) on the TAP descriptor and on a pipe that
 * rumpvif_destroy writes to stop it. When the TAP is readable it reads frames without blocking
 * until the device is empty or the batch is full, then hands the batch to the kernel in one
 * upcall: one entry into the kernel for several frames.
 *
 * Offloads (RUMPVIF_OFFLOAD): the device is opened with IFF_VNET_HDR, so every frame both ways
 * starts with a 10-byte struct virtio_net_hdr (TUNSETVNETHDRSZ 10: the header's own size; the
 * 12-byte form adds num_buffers, which only means something for virtio's mergeable receive
 * buffers, never for a TAP read), and TUNSETOFFLOAD lets the host hand us partial checksums and
 * TCP segments of up to 64 KiB (CSUM, TSO4, TSO6). This library passes the header through: the
 * kernel parses and writes it.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if.h>
#include <linux/if_tun.h>

#include <rump/rumpuser_virtif.h>

#define EXPORT __attribute__((visibility("default")))

/*
 * Room for a whole batch; a frame is read only while the space left holds the largest one: a
 * 65,535-byte IP packet (a coalesced TCP segment, or a jumbo frame) with its Ethernet and
 * virtio-net headers. Room for several such, since with offloads most frames of a bulk
 * transfer are that large.
 */
#define FRAME_MAX (65536 + 256)
#define BATCH_BYTES (RUMPVIF_BATCH * 2048 + 4 * FRAME_MAX)
#define VNET_HDR_LEN 10

struct rumpvif {
	int fd;
	int hdrlen;
	int stoppipe[2];
	pthread_t reader;
	struct rumpvif_hyperup up;
	uint8_t buf[BATCH_BYTES];
	uint32_t lens[RUMPVIF_BATCH];
};

/* Host errno to NetBSD errno, for the values these calls can meet. */
static int
nberr(int e)
{
	switch (e) {
	case EPERM: return 1;
	case ENOENT: return 2;
	case EINTR: return 4;
	case EIO: return 5;
	case ENXIO: return 6;
	case EBADF: return 9;
	case ENOMEM: return 12;
	case EACCES: return 13;
	case EBUSY: return 16;
	case ENODEV: return 19;
	case EINVAL: return 22;
	case EMFILE: return 24;
	case EAGAIN: return 35;
	case EMSGSIZE: return 40;
	case ENOBUFS: return 55;
	case ENETDOWN: return 50;
	default: return 5;
	}
}

static void *
reader(void *arg)
{
	struct rumpvif *v = arg;
	struct pollfd pfd[2] = {
		{ .fd = v->fd, .events = POLLIN },
		{ .fd = v->stoppipe[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLNVAL))
			return NULL;
		size_t used = 0;
		int n = 0;
		while (n < RUMPVIF_BATCH && BATCH_BYTES - used >= FRAME_MAX) {
			ssize_t r = read(v->fd, v->buf + used, FRAME_MAX);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;	/* EAGAIN: the device is empty */
			v->lens[n++] = (uint32_t)r;
			used += (size_t)r;
		}
		if (n > 0)
			v->up.rx(v->up.arg, v->buf, v->lens, n);
	}
}

/*
 * The header size and the host's offloads on a device opened with IFF_VNET_HDR; 0 or the host's
 * errno (an older kernel without one of them: the caller reopens without the header).
 */
static int
set_offloads(int fd)
{
	int sz = VNET_HDR_LEN;
	unsigned int off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)
		return errno;
	if (ioctl(fd, TUNSETOFFLOAD, off) < 0)
		return errno;
	return 0;
}

static int
open_tap(const char *devname, int vnet, int *fdp)
{
	struct ifreq ifr;
	int fd, e;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	strncpy(ifr.ifr_name, devname, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		e = errno;
	else
		e = vnet ? set_offloads(fd) : 0;
	if (e != 0) {
		close(fd);
		return e;
	}
	*fdp = fd;
	return 0;
}

EXPORT int
rumpvif_create(const char *devname, int flags, const struct rumpvif_hyperup *up, struct rumpvif **vifp)
{
	struct rumpvif *v;
	int e;

	if (devname == NULL || up == NULL || up->rx == NULL || strlen(devname) >= IFNAMSIZ)
		return 22;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return 12;
	v->up = *up;
	e = EINVAL;
	if (flags & RUMPVIF_OFFLOAD) {
		e = open_tap(devname, 1, &v->fd);
		if (e == 0)
			v->hdrlen = VNET_HDR_LEN;
	}
	/* Without offloads asked for, or a host that refuses them: plain frames. */
	if (e != 0 && (e = open_tap(devname, 0, &v->fd)) != 0) {
		free(v);
		return nberr(e);
	}
	if (pipe2(v->stoppipe, O_CLOEXEC) < 0) {
		e = nberr(errno);
		close(v->fd);
		free(v);
		return e;
	}
	if ((e = pthread_create(&v->reader, NULL, reader, v)) != 0) {
		close(v->stoppipe[0]);
		close(v->stoppipe[1]);
		close(v->fd);
		free(v);
		return nberr(e);
	}
	*vifp = v;
	return 0;
}

EXPORT int
rumpvif_hdrlen(struct rumpvif *v)
{
	return v->hdrlen;
}

EXPORT int
rumpvif_send(struct rumpvif *v, const void *frame, size_t len)
{
	for (;;) {
		ssize_t r = write(v->fd, frame, len);
		if (r == (ssize_t)len)
			return 0;
		if (r >= 0)
			return 5;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* The host's queue is full: wait for room (the caller has given up its CPU). */
			struct pollfd pfd = { .fd = v->fd, .events = POLLOUT };
			if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
				return nberr(errno);
			continue;
		}
		return nberr(errno);
	}
}

EXPORT void
rumpvif_destroy(struct rumpvif *v)
{
	char c = 0;

	while (write(v->stoppipe[1], &c, 1) < 0 && errno == EINTR)
		;
	pthread_join(v->reader, NULL);
	close(v->stoppipe[0]);
	close(v->stoppipe[1]);
	close(v->fd);
	free(v);
}
