/*
 * rumpuser_virtif.h -- the virtif component hypercalls: an Ethernet interface over a Linux TAP
 * device (NetBSD's rumpcomp virtif_user.c, for the kernel's if_virt driver, "virtN").
 *
 * librumpuser_virtif.so, plain C (hypercall/net/): the only code that touches /dev/net/tun.
 *
 * Conventions:
 *  - Routines returning int return 0 or a NetBSD errno value (as rumpuser(3) does).
 *  - rumpvif_create opens /dev/net/tun and attaches to the TAP device named devname with
 *    TUNSETIFF (IFF_TAP | IFF_NO_PI). A persistent TAP made beforehand and owned by the
 *    user (ip tuntap add dev NAME mode tap user USER) needs no privileges; otherwise the
 *    caller needs CAP_NET_ADMIN and the device is made (and goes away with the descriptor).
 *  - With RUMPVIF_OFFLOAD in flags it asks for IFF_VNET_HDR too, with a 10-byte struct
 *    virtio_net_hdr (little-endian) and the host's offloads TUN_F_CSUM | TUN_F_TSO4 |
 *    TUN_F_TSO6; if the host refuses, the device is opened without them. rumpvif_hdrlen says
 *    which: 10, and every received frame (in buf, counted in lens) and every frame given to
 *    rumpvif_send starts with that header; or 0, plain Ethernet frames.
 *  - Received frames come through up->rx on the library's reader thread, one thread per
 *    interface: as many frames as the device had ready (up to RUMPVIF_BATCH) per call, laid one
 *    after another in buf with their lengths in lens. The buffer is the library's: the upcall
 *    copies what it keeps before returning. Upcalls of one interface never overlap.
 *  - rumpvif_send writes one whole frame; it may block while the host's queue is full: the
 *    caller gives up its virtual CPU around it.
 *  - rumpvif_destroy stops the reader (waiting for an upcall under way to return), closes the
 *    device and frees the handle: after it returns no upcall comes. It blocks.
 */

#ifndef _RUMP_RUMPUSER_VIRTIF_H_
#define _RUMP_RUMPUSER_VIRTIF_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RUMPUSER_VIRTIF_VERSION 2
#define RUMPVIF_BATCH 32
#define RUMPVIF_OFFLOAD 0x1

struct rumpvif;

struct rumpvif_hyperup {
	void (*rx)(void *arg, const uint8_t *buf, const uint32_t *lens, int nframes);
	void *arg;
};

int  rumpvif_create(const char *devname, int flags, const struct rumpvif_hyperup *up, struct rumpvif **vifp);
int  rumpvif_hdrlen(struct rumpvif *vif);
int  rumpvif_send(struct rumpvif *vif, const void *frame, size_t len);
void rumpvif_destroy(struct rumpvif *vif);

#ifdef __cplusplus
}
#endif

#endif /* _RUMP_RUMPUSER_VIRTIF_H_ */
