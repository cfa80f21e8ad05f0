/*
 * librumpuser_usb: the USB component hypercalls (include/rump/rumpuser_usb.h) over libusb-1.0.
 *
 * Objects:
 *  - struct rumpusb_ctx: a libusb context, its event thread, the hotplug callback and the table
 *    of devices present (devid -> libusb_device, with a reference).
 *  - struct rumpusb_dev: an open device (libusb handle), its claimed interfaces, its transfers
 *    in flight and its zero-copy buffers.
 *  - struct xfer: one submitted transfer, named to the caller by a 64-bit id that is never
 *    reused, so that a late cancel finds nothing instead of freed memory.
 *
 * Discovery has two modes, chosen at init:
 *  - hotplug: udevd runs (its control socket exists). Debian's libusb is built with udev and
 *    learns of devices from udevd's events; the table follows libusb's hotplug callbacks.
 *  - polling: no udevd (containers, the minimal QEMU test guest): libusb's own list would never
 *    change, so rumpusb_devices rescans sysfs (/sys/bus/usb/devices) each time, and open opens
 *    the node itself and hands it to libusb (libusb_wrap_sys_device). A device is known by its
 *    bus, address and sysfs directory's inode, which a replug changes (kernfs numbers its nodes
 *    cyclically) even where the controller gives back the same address.
 *
 * Locks: one mutex, rumpusb_lock, protects every table and list here (devices, open devices,
 * the transfer registry, each device's transfers, buffers and endpoint table, the in-flight
 * counts). It is held across libusb_submit_transfer and libusb_cancel_transfer (libusb takes
 * its own transfer and flying-list locks inside: order rumpusb_lock -> libusb's), never across
 * a call that waits or an upcall. libusb calls our transfer and hotplug callbacks holding only
 * its event-handling lock, which submit and cancel never take.
 *
 * Transfer life: submit puts the xfer in the registry and submits it, both under the lock, so
 * a completion (which takes the lock first) always finds it fully submitted. The completion
 * removes it from the registry under the lock, decides the error (ECANCELED if a cancel got in
 * first), makes the upcall, and only then drops the device's in-flight count and frees it: the
 * libusb_transfer stays valid while the xfer is in the registry, which is what makes
 * cancelling under the lock safe. rumpusb_close waits for the count to reach zero, so every
 * completion is delivered before close returns.
 *
 * Endpoints: each device keeps a table of the endpoints of its claimed interfaces' current
 * alternate settings (rebuilt on claim, set_alt and release), so that a transfer to an endpoint
 * that is not there, or of the wrong type, is EINVAL at submit instead of usbfs's bare EIO.
 */

#include <rump/rumpuser.h>
#include <rump/rumpuser_usb.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libusb-1.0/libusb.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

struct devent {                     /* a device present on the host */
	struct devent *next;
	libusb_device *ud;          /* referenced; NULL in polling mode */
	uint64_t ino;               /* polling mode: its sysfs directory's inode */
	struct rumpusb_devinfo info;
};

struct rumpusb_ctx {
	libusb_context *lu;
	struct rumpusb_hyperup up;
	libusb_hotplug_callback_handle hh;
	bool hotplug;               /* hotplug mode (else polling), fixed at init */
	pthread_t thread;
	int stop;                   /* libusb_handle_events_completed's flag */
	struct devent *devs;        /* rumpusb_lock */
	struct rumpusb_dev *open;   /* rumpusb_lock */
};

struct membuf {
	struct membuf *next;
	void *p;
	size_t len;
	bool zc;                    /* libusb_dev_mem_alloc's (else posix_memalign's) */
};

/* Endpoint table index: direction bit and number (0x8f bits of the address) -> 0..31. */
#define EPX(ep) ((((ep) & 0x80) >> 3) | ((ep) & 0x0f))
#define EP_NONE 0xff

struct xfer;

struct rumpusb_dev {
	struct rumpusb_ctx *ctx;
	struct rumpusb_dev *next;   /* ctx->open */
	libusb_device_handle *h;
	uint64_t devid;
	uint16_t vendor, product;
	char node[64];
	int fd;                     /* polling mode: the node we opened and wrapped; else -1 */
	uint64_t claimed;           /* interfaces claimed, by number (< 64), rumpusb_lock */
	uint8_t eptype[32];         /* EPX(ep) -> transfer type, EP_NONE: absent; rumpusb_lock */
	uint8_t epiface[32];        /* EPX(ep) -> the claimed interface it belongs to */
	struct xfer *xfers;         /* in flight, rumpusb_lock */
	unsigned inflight;          /* submitted and not yet delivered, rumpusb_lock */
	bool closing;               /* rumpusb_lock */
	bool close_deferred;        /* closed from the event thread: the last completion ends it */
	struct membuf *mem;         /* zero-copy buffers, rumpusb_lock */
};

struct xfer {
	uint64_t id;
	struct xfer *hnext;                 /* registry bucket */
	struct xfer *dnext, **dprev;        /* dev->xfers */
	struct rumpusb_dev *dev;
	struct libusb_transfer *t;
	void *cookie;
	bool cancelled;
};

static pthread_mutex_t rumpusb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rumpusb_cv = PTHREAD_COND_INITIALIZER;   /* an in-flight count fell */
#define NBUCKET 256
static struct xfer *registry[NBUCKET];
static uint64_t next_xfer_id = 1;
static uint64_t next_devid = 1;

static int
errno_of(int lu)
{
	switch (lu) {
	case LIBUSB_SUCCESS: return 0;
	case LIBUSB_ERROR_IO: return RUMPUSB_EIO;
	case LIBUSB_ERROR_INVALID_PARAM: return RUMPUSB_EINVAL;
	case LIBUSB_ERROR_ACCESS: return RUMPUSB_EACCES;
	case LIBUSB_ERROR_NO_DEVICE: return RUMPUSB_ENXIO;
	case LIBUSB_ERROR_NOT_FOUND: return RUMPUSB_ENOENT;
	case LIBUSB_ERROR_BUSY: return RUMPUSB_EBUSY;
	case LIBUSB_ERROR_TIMEOUT: return RUMPUSB_ETIMEDOUT;
	case LIBUSB_ERROR_OVERFLOW: return RUMPUSB_EOVERFLOW;
	case LIBUSB_ERROR_PIPE: return RUMPUSB_EPIPE;
	case LIBUSB_ERROR_INTERRUPTED: return RUMPUSB_EINTR;
	case LIBUSB_ERROR_NO_MEM: return RUMPUSB_ENOMEM;
	case LIBUSB_ERROR_NOT_SUPPORTED: return RUMPUSB_EOPNOTSUPP;
	default: return RUMPUSB_EIO;
	}
}

static int
errno_of_status(enum libusb_transfer_status s)
{
	switch (s) {
	case LIBUSB_TRANSFER_COMPLETED: return 0;
	case LIBUSB_TRANSFER_TIMED_OUT: return RUMPUSB_ETIMEDOUT;
	case LIBUSB_TRANSFER_CANCELLED: return RUMPUSB_ECANCELED;
	case LIBUSB_TRANSFER_STALL: return RUMPUSB_EPIPE;
	case LIBUSB_TRANSFER_NO_DEVICE: return RUMPUSB_ENXIO;
	case LIBUSB_TRANSFER_OVERFLOW: return RUMPUSB_EOVERFLOW;
	default: return RUMPUSB_EIO;
	}
}

/* --- the event thread and hotplug -------------------------------------------------------- */

static void *
event_thread(void *arg)
{
	struct rumpusb_ctx *ctx = arg;
	while (!__atomic_load_n(&ctx->stop, __ATOMIC_ACQUIRE))
		libusb_handle_events_completed(ctx->lu, &ctx->stop);
	return NULL;
}

static bool
on_event_thread(struct rumpusb_ctx *ctx)
{
	return ctx->thread && pthread_equal(pthread_self(), ctx->thread);
}

/* Adds a device to the table unless it is there or a root hub; its devid, or 0. rumpusb_lock. */
static uint64_t
devtab_add_locked(struct rumpusb_ctx *ctx, libusb_device *ud)
{
	struct libusb_device_descriptor dd;
	for (struct devent *e = ctx->devs; e; e = e->next)
		if (e->ud == ud)
			return 0;
	if (libusb_get_device_descriptor(ud, &dd) != 0 || dd.idVendor == 0x1d6b)
		return 0;
	struct devent *e = calloc(1, sizeof *e);
	if (e == NULL)
		return 0;
	e->ud = libusb_ref_device(ud);
	e->info.devid = next_devid++;
	e->info.bus = libusb_get_bus_number(ud);
	e->info.addr = libusb_get_device_address(ud);
	int sp = libusb_get_device_speed(ud);
	e->info.speed = sp >= 0 && sp <= RUMPUSB_SPEED_SUPER_PLUS ? (uint8_t)sp : 0;
	e->info.vendor = dd.idVendor;
	e->info.product = dd.idProduct;
	e->info.devclass = dd.bDeviceClass;
	int np = libusb_get_port_numbers(ud, e->info.path, sizeof e->info.path);
	e->info.depth = np > 0 ? (uint8_t)np : 0;
	snprintf(e->info.node, sizeof e->info.node, "/dev/bus/usb/%03u/%03u", e->info.bus,
	    e->info.addr);
	e->next = ctx->devs;
	ctx->devs = e;
	return e->info.devid;
}

static int LIBUSB_CALL
on_hotplug(libusb_context *lu, libusb_device *ud, libusb_hotplug_event ev, void *arg)
{
	struct rumpusb_ctx *ctx = arg;
	uint64_t devid = 0;
	(void)lu;
	pthread_mutex_lock(&rumpusb_lock);
	if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED) {
		devid = devtab_add_locked(ctx, ud);
	} else {
		for (struct devent **pp = &ctx->devs; *pp; pp = &(*pp)->next) {
			struct devent *e = *pp;
			if (e->ud == ud) {
				devid = e->info.devid;
				*pp = e->next;
				libusb_unref_device(e->ud);
				free(e);
				break;
			}
		}
	}
	pthread_mutex_unlock(&rumpusb_lock);
	if (devid != 0 && ctx->up.hotplug)
		ctx->up.hotplug(ctx->up.arg, devid, ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED);
	return 0;
}

/* --- polling mode: sysfs ---------------------------------------------------------------- */

#define SYSUSB "/sys/bus/usb/devices"

static bool
sysfs_read(const char *dir, const char *attr, char *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, SYSUSB "/%s/%s", dir, attr);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return true;
}

/* One device directory (not a root hub "usbN", not an interface "B-P:C.I"): its info and inode. */
static bool
sysfs_device(const char *name, struct rumpusb_devinfo *info, uint64_t *ino)
{
	char b[32], path[512];
	struct stat st;
	unsigned long v;
	if (name[0] == '.' || strchr(name, ':') != NULL || strncmp(name, "usb", 3) == 0)
		return false;
	memset(info, 0, sizeof *info);
	if (!sysfs_read(name, "busnum", b, sizeof b) || (v = strtoul(b, NULL, 10)) > 255)
		return false;
	info->bus = (uint8_t)v;
	if (!sysfs_read(name, "devnum", b, sizeof b) || (v = strtoul(b, NULL, 10)) > 255)
		return false;
	info->addr = (uint8_t)v;
	if (!sysfs_read(name, "idVendor", b, sizeof b))
		return false;
	info->vendor = (uint16_t)strtoul(b, NULL, 16);
	if (!sysfs_read(name, "idProduct", b, sizeof b))
		return false;
	info->product = (uint16_t)strtoul(b, NULL, 16);
	if (info->vendor == 0x1d6b)
		return false;
	if (sysfs_read(name, "bDeviceClass", b, sizeof b))
		info->devclass = (uint8_t)strtoul(b, NULL, 16);
	/* "B-P.P.P": the bus, then the port numbers from the root hub down. */
	const char *s = strchr(name, '-');
	while (s != NULL && info->depth < sizeof info->path) {
		v = strtoul(s + 1, (char **)&s, 10);
		if (v == 0 || v > 255)
			return false;
		info->path[info->depth++] = (uint8_t)v;
		if (*s != '.')
			break;
	}
	info->speed = RUMPUSB_SPEED_UNKNOWN;
	if (sysfs_read(name, "speed", b, sizeof b)) {
		if (strcmp(b, "1.5") == 0) info->speed = RUMPUSB_SPEED_LOW;
		else if (strcmp(b, "12") == 0) info->speed = RUMPUSB_SPEED_FULL;
		else if (strcmp(b, "480") == 0) info->speed = RUMPUSB_SPEED_HIGH;
		else if (strcmp(b, "5000") == 0) info->speed = RUMPUSB_SPEED_SUPER;
		else if (atoi(b) >= 10000) info->speed = RUMPUSB_SPEED_SUPER_PLUS;
	}
	snprintf(path, sizeof path, SYSUSB "/%s", name);
	if (stat(path, &st) != 0)
		return false;
	*ino = (uint64_t)st.st_ino;
	snprintf(info->node, sizeof info->node, "/dev/bus/usb/%03u/%03u", info->bus, info->addr);
	/* devtmpfs makes the node after sysfs shows the device: until then it cannot be opened, so
	 * it is not there yet for us either (a later rescan finds it). */
	if (stat(info->node, &st) != 0 || !S_ISCHR(st.st_mode))
		return false;
	return true;
}

/* Brings the table in line with sysfs: new devices get new devids, vanished ones are dropped. */
static void
sysfs_rescan(struct rumpusb_ctx *ctx)
{
	struct seen { struct rumpusb_devinfo info; uint64_t ino; } *v = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir(SYSUSB);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		struct rumpusb_devinfo info;
		uint64_t ino;
		if (!sysfs_device(de->d_name, &info, &ino))
			continue;
		if (n == cap) {
			struct seen *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
			if (nv == NULL)
				break;
			v = nv;
		}
		v[n].info = info;
		v[n].ino = ino;
		n++;
	}
	if (d != NULL)
		closedir(d);
	pthread_mutex_lock(&rumpusb_lock);
	for (struct devent **pp = &ctx->devs; *pp;) {
		struct devent *e = *pp;
		bool present = false;
		for (size_t i = 0; i < n && !present; i++)
			present = v[i].ino == e->ino && v[i].info.bus == e->info.bus &&
			    v[i].info.addr == e->info.addr;
		if (present) {
			pp = &e->next;
		} else {
			*pp = e->next;
			free(e);
		}
	}
	for (size_t i = 0; i < n; i++) {
		bool known = false;
		for (struct devent *e = ctx->devs; e && !known; e = e->next)
			known = v[i].ino == e->ino && v[i].info.bus == e->info.bus &&
			    v[i].info.addr == e->info.addr;
		struct devent *e;
		if (known || (e = calloc(1, sizeof *e)) == NULL)
			continue;
		e->info = v[i].info;
		e->info.devid = next_devid++;
		e->ino = v[i].ino;
		e->next = ctx->devs;
		ctx->devs = e;
	}
	pthread_mutex_unlock(&rumpusb_lock);
	free(v);
}

EXPORT int
rumpusb_init(const struct rumpusb_hyperup *up, void **ctxp)
{
	struct rumpusb_ctx *ctx = calloc(1, sizeof *ctx);
	int r;
	if (up == NULL || up->xfer_done == NULL) {
		free(ctx);
		return RUMPUSB_EINVAL;
	}
	if (ctx == NULL)
		return RUMPUSB_ENOMEM;
	ctx->up = *up;
	if ((r = libusb_init(&ctx->lu)) != 0) {
		rumpuser_dprintf("rumpusb: libusb_init: %s\n", libusb_error_name(r));
		free(ctx);
		return RUMPUSB_EIO;
	}
	/* Register before listing, so that no arrival falls between the two; the table drops the
	 * duplicates. Without ENUMERATE: existing devices are read with rumpusb_devices. Without
	 * udevd, Debian's libusb (built with udev) gets no events: poll sysfs instead. */
	bool udevd = access("/run/udev/control", F_OK) == 0;
	if (getenv("RUMPUSB_POLL") != NULL)
		udevd = false;
	if (udevd && libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
		r = libusb_hotplug_register_callback(ctx->lu,
		    LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
		    LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
		    on_hotplug, ctx, &ctx->hh);
		ctx->hotplug = r == 0;
	}
	libusb_device **list;
	ssize_t n = ctx->hotplug ? libusb_get_device_list(ctx->lu, &list) : -1;
	if (!ctx->hotplug)
		sysfs_rescan(ctx);
	if (n >= 0) {
		pthread_mutex_lock(&rumpusb_lock);
		for (ssize_t i = 0; i < n; i++)
			devtab_add_locked(ctx, list[i]);
		pthread_mutex_unlock(&rumpusb_lock);
		libusb_free_device_list(list, 1);
	}
	if (pthread_create(&ctx->thread, NULL, event_thread, ctx) != 0) {
		if (ctx->hotplug)
			libusb_hotplug_deregister_callback(ctx->lu, ctx->hh);
		libusb_exit(ctx->lu);
		free(ctx);
		return RUMPUSB_ENOMEM;
	}
	*ctxp = ctx;
	return 0;
}

EXPORT void
rumpusb_fini(void *vctx)
{
	struct rumpusb_ctx *ctx = vctx;
	for (;;) {
		/* Close what is open; a device closed from an upcall ends with its last completion. */
		pthread_mutex_lock(&rumpusb_lock);
		struct rumpusb_dev *d = ctx->open;
		while (d && d->closing)
			d = d->next;
		if (d == NULL && ctx->open != NULL) {
			pthread_cond_wait(&rumpusb_cv, &rumpusb_lock);
			pthread_mutex_unlock(&rumpusb_lock);
			continue;
		}
		pthread_mutex_unlock(&rumpusb_lock);
		if (d == NULL)
			break;
		rumpusb_close(d);
	}
	if (ctx->hotplug)
		libusb_hotplug_deregister_callback(ctx->lu, ctx->hh);
	__atomic_store_n(&ctx->stop, 1, __ATOMIC_RELEASE);
	libusb_interrupt_event_handler(ctx->lu);
	pthread_join(ctx->thread, NULL);
	while (ctx->devs) {
		struct devent *e = ctx->devs;
		ctx->devs = e->next;
		if (e->ud)
			libusb_unref_device(e->ud);
		free(e);
	}
	libusb_exit(ctx->lu);
	free(ctx);
}

EXPORT int
rumpusb_has_hotplug(void *vctx)
{
	struct rumpusb_ctx *ctx = vctx;
	return ctx->hotplug;
}

EXPORT int
rumpusb_devices(void *vctx, struct rumpusb_devinfo *v, size_t n, size_t *countp)
{
	struct rumpusb_ctx *ctx = vctx;
	size_t i = 0;
	if (!ctx->hotplug)
		sysfs_rescan(ctx);
	pthread_mutex_lock(&rumpusb_lock);
	for (struct devent *e = ctx->devs; e; e = e->next, i++)
		if (i < n)
			v[i] = e->info;
	pthread_mutex_unlock(&rumpusb_lock);
	*countp = i;
	return 0;
}

/* --- devices ----------------------------------------------------------------------------- */

EXPORT int
rumpusb_open(void *vctx, uint64_t devid, void **devp)
{
	struct rumpusb_ctx *ctx = vctx;
	libusb_device *ud = NULL;
	struct rumpusb_devinfo info;
	bool seen;
	pthread_mutex_lock(&rumpusb_lock);
	seen = devid != 0 && devid < next_devid;
	bool found = false;
	for (struct devent *e = ctx->devs; e; e = e->next)
		if (e->info.devid == devid) {
			ud = e->ud ? libusb_ref_device(e->ud) : NULL;
			info = e->info;
			found = true;
			break;
		}
	pthread_mutex_unlock(&rumpusb_lock);
	if (!found)
		return seen ? RUMPUSB_ENXIO : RUMPUSB_ENOENT;

	struct rumpusb_dev *d = calloc(1, sizeof *d);
	if (d == NULL) {
		if (ud)
			libusb_unref_device(ud);
		return RUMPUSB_ENOMEM;
	}
	int r;
	d->fd = -1;
	if (ud != NULL) {
		r = libusb_open(ud, &d->h);
		libusb_unref_device(ud);
	} else if ((d->fd = open(info.node, O_RDWR | O_CLOEXEC)) < 0) {
		/* The node went (ENOENT/ENODEV) or was never ours to open. */
		r = errno == EACCES || errno == EPERM ? LIBUSB_ERROR_ACCESS :
		    errno == ENOMEM ? LIBUSB_ERROR_NO_MEM : LIBUSB_ERROR_NO_DEVICE;
	} else if ((r = libusb_wrap_sys_device(ctx->lu, (intptr_t)d->fd, &d->h)) != 0) {
		close(d->fd);
	}
	if (r != 0) {
		free(d);
		if (r == LIBUSB_ERROR_ACCESS)
			rumpuser_dprintf("rumpusb: cannot open %s (USB device %04x:%04x): permission "
			    "denied. Give your user access to it, e.g. with the udev rule\n"
			    "  SUBSYSTEM==\"usb\", ATTR{idVendor}==\"%04x\", ATTR{idProduct}==\"%04x\", "
			    "MODE=\"0660\", GROUP=\"plugdev\"\n"
			    "in /etc/udev/rules.d/50-rump-usb.rules, with your user in group plugdev "
			    "(then replug the device)\n",
			    info.node, info.vendor, info.product, info.vendor, info.product);
		return r == LIBUSB_ERROR_NOT_FOUND ? RUMPUSB_ENXIO : errno_of(r);
	}
	libusb_set_auto_detach_kernel_driver(d->h, 1);
	memset(d->eptype, EP_NONE, sizeof d->eptype);
	memset(d->epiface, EP_NONE, sizeof d->epiface);
	d->ctx = ctx;
	d->devid = devid;
	d->vendor = info.vendor;
	d->product = info.product;
	memcpy(d->node, info.node, sizeof d->node);
	pthread_mutex_lock(&rumpusb_lock);
	d->next = ctx->open;
	ctx->open = d;
	pthread_mutex_unlock(&rumpusb_lock);
	*devp = d;
	return 0;
}

static void cancel_locked(struct xfer *x);

/* The end of a close, once nothing is in flight: interfaces back to the host's drivers, the
 * zero-copy buffers unmapped, the handle closed. */
static void
close_finish(struct rumpusb_dev *d)
{
	struct rumpusb_ctx *ctx = d->ctx;
	for (int i = 0; i < 64; i++)
		if (d->claimed & ((uint64_t)1 << i))
			libusb_release_interface(d->h, i);
	pthread_mutex_lock(&rumpusb_lock);
	for (struct rumpusb_dev **pp = &ctx->open; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	struct membuf *m = d->mem;
	d->mem = NULL;
	pthread_cond_broadcast(&rumpusb_cv);   /* fini waits for deferred closes */
	pthread_mutex_unlock(&rumpusb_lock);
	while (m) {
		struct membuf *n = m->next;
		if (m->zc)
			libusb_dev_mem_free(d->h, m->p, m->len);
		else
			free(m->p);
		free(m);
		m = n;
	}
	libusb_close(d->h);
	if (d->fd >= 0)
		close(d->fd);         /* libusb leaves a wrapped descriptor to its owner */
	free(d);
}

EXPORT void
rumpusb_close(void *vdev)
{
	struct rumpusb_dev *d = vdev;
	pthread_mutex_lock(&rumpusb_lock);
	d->closing = true;
	for (struct xfer *x = d->xfers; x; x = x->dnext)
		cancel_locked(x);
	if (on_event_thread(d->ctx)) {
		/* The completions come on this very thread, after we return: the last one ends it. */
		bool now = d->inflight == 0;
		d->close_deferred = !now;
		pthread_mutex_unlock(&rumpusb_lock);
		if (now)
			close_finish(d);
		return;
	}
	while (d->inflight > 0)
		pthread_cond_wait(&rumpusb_cv, &rumpusb_lock);
	pthread_mutex_unlock(&rumpusb_lock);
	close_finish(d);
}

EXPORT int
rumpusb_set_config(void *vdev, int config)
{
	struct rumpusb_dev *d = vdev;
	int cur, r;
	if (config < 0 || config > 255)
		return RUMPUSB_EINVAL;
	if ((r = libusb_get_configuration(d->h, &cur)) != 0)
		return errno_of(r);
	if (cur == config)
		return 0;
	struct libusb_config_descriptor *cd;
	if (cur != 0 && libusb_get_active_config_descriptor(libusb_get_device(d->h), &cd) == 0) {
		for (int i = 0; i < cd->bNumInterfaces; i++) {
			int n = cd->interface[i].altsetting[0].bInterfaceNumber;
			if (libusb_kernel_driver_active(d->h, n) == 1)
				libusb_detach_kernel_driver(d->h, n);
		}
		libusb_free_config_descriptor(cd);
	}
	return errno_of(libusb_set_configuration(d->h, config == 0 ? -1 : config));
}

/* Records the endpoints of interface iface's alternate setting alt (alt < 0: forgets them).
 * The descriptors are read without the lock; the table changes in one step under it. */
static void
eptab_set(struct rumpusb_dev *d, int iface, int alt)
{
	uint8_t addr[32], type[32];
	int n = 0;
	struct libusb_config_descriptor *cd = NULL;
	if (alt >= 0 && libusb_get_active_config_descriptor(libusb_get_device(d->h), &cd) == 0) {
		for (int i = 0; i < cd->bNumInterfaces; i++) {
			const struct libusb_interface *in = &cd->interface[i];
			for (int a = 0; a < in->num_altsetting; a++) {
				const struct libusb_interface_descriptor *id = &in->altsetting[a];
				if (id->bInterfaceNumber != iface || id->bAlternateSetting != alt)
					continue;
				for (int e = 0; e < id->bNumEndpoints && n < 32; e++, n++) {
					addr[n] = id->endpoint[e].bEndpointAddress;
					type[n] = id->endpoint[e].bmAttributes & 3;
				}
			}
		}
		libusb_free_config_descriptor(cd);
	}
	pthread_mutex_lock(&rumpusb_lock);
	for (int i = 0; i < 32; i++)
		if (d->epiface[i] == iface)
			d->eptype[i] = EP_NONE;
	for (int i = 0; i < n; i++) {
		d->eptype[EPX(addr[i])] = type[i];
		d->epiface[EPX(addr[i])] = (uint8_t)iface;
	}
	pthread_mutex_unlock(&rumpusb_lock);
}

EXPORT int
rumpusb_claim(void *vdev, int iface)
{
	struct rumpusb_dev *d = vdev;
	if (iface < 0 || iface >= 64)
		return RUMPUSB_EINVAL;
	int r = libusb_claim_interface(d->h, iface);   /* auto-detach: the host's driver goes */
	if (r == 0) {
		pthread_mutex_lock(&rumpusb_lock);
		d->claimed |= (uint64_t)1 << iface;
		pthread_mutex_unlock(&rumpusb_lock);
		eptab_set(d, iface, 0);
	}
	return r == LIBUSB_ERROR_NOT_FOUND ? RUMPUSB_EINVAL : errno_of(r);
}

EXPORT int
rumpusb_release(void *vdev, int iface)
{
	struct rumpusb_dev *d = vdev;
	if (iface < 0 || iface >= 64)
		return RUMPUSB_EINVAL;
	pthread_mutex_lock(&rumpusb_lock);
	bool was = d->claimed & ((uint64_t)1 << iface);
	d->claimed &= ~((uint64_t)1 << iface);
	pthread_mutex_unlock(&rumpusb_lock);
	if (!was)
		return RUMPUSB_EINVAL;
	eptab_set(d, iface, -1);
	return errno_of(libusb_release_interface(d->h, iface));   /* re-attaches the driver */
}

EXPORT int
rumpusb_set_alt(void *vdev, int iface, int alt)
{
	struct rumpusb_dev *d = vdev;
	if (iface < 0 || iface >= 64 || alt < 0 || alt > 255)
		return RUMPUSB_EINVAL;
	pthread_mutex_lock(&rumpusb_lock);
	bool claimed = d->claimed & ((uint64_t)1 << iface);
	pthread_mutex_unlock(&rumpusb_lock);
	if (!claimed)
		return RUMPUSB_EINVAL;
	int r = libusb_set_interface_alt_setting(d->h, iface, alt);
	if (r == 0)
		eptab_set(d, iface, alt);
	return r == LIBUSB_ERROR_NOT_FOUND ? RUMPUSB_EINVAL : errno_of(r);
}

EXPORT int
rumpusb_clear_halt(void *vdev, uint8_t ep)
{
	struct rumpusb_dev *d = vdev;
	return errno_of(libusb_clear_halt(d->h, ep));
}

EXPORT int
rumpusb_reset(void *vdev)
{
	struct rumpusb_dev *d = vdev;
	int r = libusb_reset_device(d->h);
	return r == LIBUSB_ERROR_NOT_FOUND ? RUMPUSB_ENXIO : errno_of(r);
}

/* --- buffers ----------------------------------------------------------------------------- */

EXPORT void *
rumpusb_alloc(void *vdev, size_t len)
{
	struct rumpusb_dev *d = vdev;
	struct membuf *m = malloc(sizeof *m);
	void *p = NULL;
	if (m == NULL)
		return NULL;
	m->zc = len > 0 && getenv("RUMPUSB_NOZEROCOPY") == NULL &&
	    (p = libusb_dev_mem_alloc(d->h, len)) != NULL;
	if (!m->zc && posix_memalign(&p, 4096, len ? len : 1) != 0) {
		free(m);
		return NULL;
	}
	m->p = p;
	m->len = len;
	pthread_mutex_lock(&rumpusb_lock);
	m->next = d->mem;
	d->mem = m;
	pthread_mutex_unlock(&rumpusb_lock);
	return p;
}

EXPORT void
rumpusb_free(void *vdev, void *buf, size_t len)
{
	struct rumpusb_dev *d = vdev;
	struct membuf *m = NULL;
	(void)len;
	if (buf == NULL)
		return;
	pthread_mutex_lock(&rumpusb_lock);
	for (struct membuf **pp = &d->mem; *pp; pp = &(*pp)->next)
		if ((*pp)->p == buf) {
			m = *pp;
			*pp = m->next;
			break;
		}
	pthread_mutex_unlock(&rumpusb_lock);
	if (m == NULL)
		return;                         /* not ours: leave it alone rather than corrupt */
	if (m->zc)
		libusb_dev_mem_free(d->h, m->p, m->len);
	else
		free(m->p);
	free(m);
}

EXPORT int
rumpusb_is_zerocopy(void *vdev, void *buf)
{
	struct rumpusb_dev *d = vdev;
	int zc = 0;
	pthread_mutex_lock(&rumpusb_lock);
	for (struct membuf *m = d->mem; m; m = m->next)
		if (m->p == buf) {
			zc = m->zc;
			break;
		}
	pthread_mutex_unlock(&rumpusb_lock);
	return zc;
}

/* --- transfers --------------------------------------------------------------------------- */

static void
registry_remove_locked(struct xfer *x)
{
	for (struct xfer **pp = &registry[x->id % NBUCKET]; *pp; pp = &(*pp)->hnext)
		if (*pp == x) {
			*pp = x->hnext;
			break;
		}
	*x->dprev = x->dnext;
	if (x->dnext)
		x->dnext->dprev = x->dprev;
}

/* Drops one from the device's in-flight count; a deferred close ends with the last. */
static void
xfer_retire(struct rumpusb_dev *d)
{
	pthread_mutex_lock(&rumpusb_lock);
	bool finish = --d->inflight == 0 && d->close_deferred;
	if (d->inflight == 0)
		pthread_cond_broadcast(&rumpusb_cv);
	pthread_mutex_unlock(&rumpusb_lock);
	if (finish)
		close_finish(d);
}

static void LIBUSB_CALL
on_transfer(struct libusb_transfer *t)
{
	struct xfer *x = t->user_data;
	struct rumpusb_dev *d = x->dev;
	pthread_mutex_lock(&rumpusb_lock);
	registry_remove_locked(x);
	bool cancelled = x->cancelled;
	pthread_mutex_unlock(&rumpusb_lock);
	int error = cancelled ? RUMPUSB_ECANCELED : errno_of_status(t->status);
	size_t actlen = t->actual_length > 0 ? (size_t)t->actual_length : 0;
	d->ctx->up.xfer_done(x->cookie, error, actlen);
	libusb_free_transfer(t);
	free(x);
	xfer_retire(d);
}

/* rumpusb_lock held: x is in the registry, so x->t is valid and submitted. */
static void
cancel_locked(struct xfer *x)
{
	x->cancelled = true;
	libusb_cancel_transfer(x->t);   /* NOT_FOUND if it has just completed: still ECANCELED */
}

EXPORT int
rumpusb_submit(void *vdev, int type, uint8_t ep, void *buf, size_t len, unsigned timeout_ms,
    void *cookie, void **xferp)
{
	struct rumpusb_dev *d = vdev;
	unsigned char lutype;
	switch (type) {
	case RUMPUSB_XFER_CONTROL: lutype = LIBUSB_TRANSFER_TYPE_CONTROL; break;
	case RUMPUSB_XFER_BULK: lutype = LIBUSB_TRANSFER_TYPE_BULK; break;
	case RUMPUSB_XFER_INTERRUPT: lutype = LIBUSB_TRANSFER_TYPE_INTERRUPT; break;
	default: return RUMPUSB_EINVAL;
	}
	if (len > INT_MAX || (len > 0 && buf == NULL))
		return RUMPUSB_EINVAL;
	if (type == RUMPUSB_XFER_CONTROL) {
		const unsigned char *s = buf;
		if (len < LIBUSB_CONTROL_SETUP_SIZE ||
		    len < LIBUSB_CONTROL_SETUP_SIZE + (size_t)(s[6] | s[7] << 8))
			return RUMPUSB_EINVAL;
		ep = 0;
	}
	struct libusb_transfer *t = libusb_alloc_transfer(0);
	struct xfer *x = malloc(sizeof *x);
	if (t == NULL || x == NULL) {
		libusb_free_transfer(t);
		free(x);
		return RUMPUSB_ENOMEM;
	}
	t->dev_handle = d->h;
	t->endpoint = ep;
	t->type = lutype;
	t->timeout = timeout_ms;
	t->buffer = buf;
	t->length = (int)len;
	t->callback = on_transfer;
	t->user_data = x;
	t->flags = 0;
	t->num_iso_packets = 0;
	x->dev = d;
	x->t = t;
	x->cookie = cookie;
	x->cancelled = false;

	pthread_mutex_lock(&rumpusb_lock);
	int bad = d->closing ? RUMPUSB_ENXIO :
	    type != RUMPUSB_XFER_CONTROL && ((ep & 0x70) != 0 || (ep & 0x0f) == 0 ||
	    d->eptype[EPX(ep)] != type) ? RUMPUSB_EINVAL : 0;
	if (bad) {
		pthread_mutex_unlock(&rumpusb_lock);
		libusb_free_transfer(t);
		free(x);
		return bad;
	}
	x->id = next_xfer_id++;
	x->hnext = registry[x->id % NBUCKET];
	registry[x->id % NBUCKET] = x;
	x->dnext = d->xfers;
	x->dprev = &d->xfers;
	if (d->xfers)
		d->xfers->dprev = &x->dnext;
	d->xfers = x;
	d->inflight++;
	uint64_t id = x->id;
	/* Under the lock: the completion, which takes it first, cannot run before we are done. */
	int r = libusb_submit_transfer(t);
	if (r != 0) {
		registry_remove_locked(x);
		pthread_mutex_unlock(&rumpusb_lock);
		libusb_free_transfer(t);
		free(x);
		xfer_retire(d);
		return errno_of(r);
	}
	pthread_mutex_unlock(&rumpusb_lock);
	if (xferp != NULL)
		*xferp = (void *)(uintptr_t)id;
	return 0;
}

EXPORT int
rumpusb_cancel(void *xfer)
{
	uint64_t id = (uint64_t)(uintptr_t)xfer;
	int r = RUMPUSB_EALREADY;
	pthread_mutex_lock(&rumpusb_lock);
	for (struct xfer *x = registry[id % NBUCKET]; x; x = x->hnext)
		if (x->id == id) {
			if (!x->cancelled) {
				cancel_locked(x);
				r = 0;
			}
			break;
		}
	pthread_mutex_unlock(&rumpusb_lock);
	return r;
}
