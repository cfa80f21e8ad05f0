/*
 * rumpuser_usb.h -- the USB component hypercalls: host USB devices through libusb-1.0.
 *
 * NetBSD keeps a driver's host access in component hypercall libraries (rumpuser_component.h,
 * the rumpcomp_* libraries) beside rumpuser(3). This is rump's: librumpuser_usb.so, plain C
 * over libusb-1.0 (hypercall/usb/), the only code that touches libusb. The kernel's USB host
 * controller binds it with LibraryImport.
 *
 * Conventions:
 *  - Routines returning int return 0 or an errno value in NetBSD's errno space (as rumpuser(3)
 *    does): RUMPUSB_E* below lists every one they return.
 *  - Upcalls (struct rumpusb_hyperup) come on the library's one event thread, never on the
 *    caller's thread and never two at a time. An upcall must not block waiting for another
 *    upcall (there is no other thread to deliver it); it may call any routine here except
 *    rumpusb_close and rumpusb_fini.
 *  - Routines that may block (they wait for the host kernel or for completions) are marked
 *    "blocks": the caller gives up its virtual CPU around them, as for blocking rumpuser(3)
 *    calls. Routines not so marked return without waiting: submit, cancel, alloc, free,
 *    devices.
 *  - Every routine is safe to call from any thread, concurrently.
 *
 * Transfers:
 *  - A successful rumpusb_submit is followed by exactly one xfer_done(cookie, error, actlen),
 *    whatever happens: completion, timeout, stall, cancel, close, fini, or the device going
 *    away (then error is RUMPUSB_ENXIO). A failed submit (non-zero return) has no completion.
 *    The completion may be delivered before rumpusb_submit has returned.
 *  - The handle *xferp names that one transfer for rumpusb_cancel. It is never reused: a
 *    cancel of a transfer whose completion has been delivered (or is being delivered) is
 *    harmless and returns RUMPUSB_EALREADY.
 *  - rumpusb_cancel returning 0 means the completion will report RUMPUSB_ECANCELED, with
 *    actlen the bytes moved before the cancel took effect; the decision is made atomically
 *    with the completion, so a cancel racing a completion gives either (cancel 0, completion
 *    ECANCELED) or (cancel EALREADY, completion with its own result), never both or neither.
 *  - Control transfers (type 0): buf is the 8-byte setup packet followed by wLength bytes of
 *    data and len = 8 + wLength; actlen counts the data stage only.
 *  - Completion errors: 0, ETIMEDOUT (timeout_ms elapsed; 0 means none), EPIPE (stall),
 *    ECANCELED, ENXIO (device gone or closed by fini), EOVERFLOW (babble), EIO (other).
 *
 * Devices:
 *  - A devid names one plugged-in device and is never reused: unplugging and plugging it again
 *    gives a new devid. hotplug(arg, devid, 1) reports an arrival, hotplug(arg, devid, 0) a
 *    departure. The devices present at rumpusb_init are not reported as arrivals: read them with
 *    rumpusb_devices after init. The first arrival upcall can come before init returns.
 *  - Hot-plug upcalls come only where the host runs udevd (libusb learns of devices from it):
 *    rumpusb_has_hotplug says so. Elsewhere (containers, minimal systems) no hotplug upcall ever
 *    comes; instead every rumpusb_devices call rescans the host's devices, so a caller polls it
 *    (say, on each root-hub status-change request) and sees arrivals as new devids and departures
 *    as devids missing from the list. The environment variable RUMPUSB_POLL (any value) forces
 *    this polling mode.
 *  - After a departure, an open handle stays valid until rumpusb_close; its pending transfers
 *    complete with ENXIO and every call on it fails with ENXIO.
 *  - rumpusb_close(dev) cancels its pending transfers and returns after their completions have
 *    been delivered; it releases the claimed interfaces (re-attaching the host's drivers) and
 *    frees the buffers of rumpusb_alloc not yet freed. rumpusb_fini closes what is still open
 *    the same way, then stops the event thread: after it returns no upcall comes.
 */

#ifndef _RUMP_RUMPUSER_USB_H_
#define _RUMP_RUMPUSER_USB_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RUMPUSER_USB_VERSION 2

/* NetBSD errno values returned (sys/errno.h). */
#define RUMPUSB_ENOENT     2   /* no such devid (never seen, or departed and forgotten) */
#define RUMPUSB_EINTR      4
#define RUMPUSB_EIO        5
#define RUMPUSB_ENXIO      6   /* the device is gone */
#define RUMPUSB_ENOMEM     12
#define RUMPUSB_EACCES     13  /* no permission on /dev/bus/usb/BBB/DDD */
#define RUMPUSB_EBUSY      16  /* interface claimed by another program */
#define RUMPUSB_EINVAL     22
#define RUMPUSB_EPIPE      32  /* endpoint stalled */
#define RUMPUSB_EALREADY   37  /* cancel: the transfer's completion is already delivered */
#define RUMPUSB_EOPNOTSUPP 45
#define RUMPUSB_ETIMEDOUT  60
#define RUMPUSB_EOVERFLOW  84
#define RUMPUSB_ECANCELED  87

/* Transfer types (USB endpoint types, bmAttributes & 3). Isochronous (1) is not supported. */
#define RUMPUSB_XFER_CONTROL   0
#define RUMPUSB_XFER_BULK      2
#define RUMPUSB_XFER_INTERRUPT 3

/* Speeds (libusb's values, the same as NetBSD's USB_SPEED_*). */
#define RUMPUSB_SPEED_UNKNOWN 0
#define RUMPUSB_SPEED_LOW     1
#define RUMPUSB_SPEED_FULL    2
#define RUMPUSB_SPEED_HIGH    3
#define RUMPUSB_SPEED_SUPER   4
#define RUMPUSB_SPEED_SUPER_PLUS 5

struct rumpusb_hyperup {            /* called on the library's event thread */
	void (*hotplug)(void *arg, uint64_t devid, int arrived);
	void (*xfer_done)(void *cookie, int error, size_t actlen);
	void *arg;
};

struct rumpusb_devinfo {
	uint64_t devid;
	uint8_t bus, addr, speed;
	uint16_t vendor, product;
	char node[64];                  /* /dev/bus/usb/BBB/DDD */
	uint8_t devclass;               /* bDeviceClass: 9 is a hub (never opened by the kernel) */
	uint8_t depth;                  /* how many of path[] are set: 1 on a root-hub port */
	uint8_t path[7];                /* port numbers from the root hub down (libusb_get_port_numbers) */
};

/* A libusb context, its event thread and the hotplug callback (up->hotplug may be NULL,
 * up->xfer_done may not: EINVAL). EIO: libusb_init failed (no usbfs?). Blocks. */
int  rumpusb_init(const struct rumpusb_hyperup *up, void **ctxp);
/* Closes every open device (see above), stops the event thread, frees the context. Blocks. */
void rumpusb_fini(void *ctx);
/* The devices present now: fills at most n entries of v, sets *countp to how many there are
 * (which may exceed n: call again with more room). Root hubs (vendor 1d6b) are left out; other
 * hubs are listed (devclass 9) so that a caller can mirror the topology from path[]. In
 * polling mode it rescans the host (reads sysfs): it does not block on devices, but costs a
 * few hundred microseconds. */
int  rumpusb_devices(void *ctx, struct rumpusb_devinfo *v, size_t n, size_t *countp);
/* 1: arrivals and departures come as hotplug upcalls; 0: poll rumpusb_devices (see above). */
int  rumpusb_has_hotplug(void *ctx);
/* Opens a device. EACCES also prints (rumpuser_dprintf) the node and the udev-rule remedy.
 * ENOENT: unknown devid; ENXIO: departed (known to be gone, or its node is). Blocks.
 * Right after an arrival EACCES can be passing: the node exists before udevd (or mdev) has
 * applied the rule that opens it to the user, so retry for a second or so before giving up. */
int  rumpusb_open(void *ctx, uint64_t devid, void **devp);
/* See "Devices" above. Blocks. Not from an upcall. */
void rumpusb_close(void *dev);
/* Selects a configuration (bConfigurationValue; 0 unconfigures). Asking for the configuration
 * the device is in already succeeds without a request (Linux configured it at enumeration);
 * changing it detaches the host's drivers from the current configuration's interfaces first.
 * Blocks. */
int  rumpusb_set_config(void *dev, int config);
/* Claims an interface, detaching the host kernel's driver first; release re-attaches it. EBUSY:
 * another program has it; EINVAL: no such interface (claim) or not claimed (release). Its
 * alternate setting 0's endpoints become usable by rumpusb_submit. Blocks. */
int  rumpusb_claim(void *dev, int iface);
int  rumpusb_release(void *dev, int iface);
/* SET_INTERFACE on a claimed interface (EINVAL if it is not claimed or has no such setting);
 * that setting's endpoints replace the interface's in rumpusb_submit. Blocks. */
int  rumpusb_set_alt(void *dev, int iface, int alt);
/* CLEAR_FEATURE(ENDPOINT_HALT) and resets the host's data toggle. Blocks. */
int  rumpusb_clear_halt(void *dev, uint8_t ep);
/* Port reset. ENXIO: the device came back as a different device (a departure and an arrival
 * follow). Blocks. */
int  rumpusb_reset(void *dev);
/* A transfer buffer: the device's zero-copy memory (libusb_dev_mem_alloc, mapped from the host
 * kernel's DMA memory) when it has some left, else page-aligned malloc. NULL: no memory. Valid
 * until rumpusb_free or rumpusb_close. The environment variable RUMPUSB_NOZEROCOPY (any value)
 * makes every buffer malloc's, as on kernels whose usbfs cannot map memory. */
void *rumpusb_alloc(void *dev, size_t len);
void rumpusb_free(void *dev, void *buf, size_t len);
/* 1 if buf is a buffer of rumpusb_alloc on dev that is the zero-copy kind (transfers from and
 * to it are not copied by the host kernel), 0 otherwise (malloc's, or not dev's). */
int  rumpusb_is_zerocopy(void *dev, void *buf);
/* Starts a transfer on endpoint ep (bit 7 = IN; 0 for control); completion via up->xfer_done.
 * EINVAL: bad type or length, or ep is not an endpoint of that type in a claimed interface's
 * current setting; ENXIO: device gone or closing; ENOMEM. xferp may be NULL. */
int  rumpusb_submit(void *dev, int type, uint8_t ep, void *buf, size_t len, unsigned timeout_ms,
    void *cookie, void **xferp);
/* 0: the completion will say ECANCELED; EALREADY: it was delivered, is being delivered, or was
 * cancelled already. */
int  rumpusb_cancel(void *xfer);

#ifdef __cplusplus
}
#endif

#endif /* _RUMP_RUMPUSER_USB_H_ */
