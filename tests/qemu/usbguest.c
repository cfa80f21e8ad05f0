/*
 * usbguest: the USB hypercalls (librumpuser_usb.so, include/rump/rumpuser_usb.h) tried on the
 * QEMU guest's emulated devices, as the kernel's USB stack uses them: descriptors read with
 * control transfers on the default pipe, every transfer submitted asynchronously and finished
 * by the xfer_done upcall. Run inside the guest by tests/qemu/t_usb_storage.sh (ctest) and by
 * the NUnit test UsbGuestTests (tests/Rump.Tests/Qemu).
 *
 *   usbguest storage NBLOCKS LBA FILE [LBA FILE]...
 *       The usb-storage stick (46f4:0001): Bulk-Only INQUIRY, READ CAPACITY(10) (expects NBLOCKS
 *       blocks of 512 bytes), READ(10) at each LBA of as many blocks as FILE holds, compared
 *       byte for byte with FILE (cut from the image on the host); a stall on a bulk IN endpoint
 *       is EPIPE and clear_halt recovers; a bad endpoint or type is EINVAL at submit.
 *   usbguest noperm
 *       Opening the stick is EACCES (the caller made its node unreadable).
 *   usbguest kbd NKEYS
 *       The usb-kbd (0627:0001): an interrupt IN with a short timeout is ETIMEDOUT, one
 *       cancelled is ECANCELED; prints "MODE hotplug|polling" (rumpusb_has_hotplug), READY,
 *       then "KEY xx" (HID usage) for NKEYS key presses arriving as interrupt reports; prints
 *       WAITING-LEFT, then "REPORT xx" for each report still coming (a key's press or release),
 *       and when the keyboard is unplugged expects its pending transfer to end with
 *       ENXIO, the hotplug upcall (or in polling mode, rumpusb_devices) to report it gone
 *       ("LEFT 0627:0001"), and opening it again to be ENXIO; prints WAITING-ARRIVED, and
 *       when a keyboard is plugged in ("ARRIVED 0627:0001") opens and claims it. Ends "DONE".
 *   usbguest bench MIB [malloc]
 *       Reads MIB MiB from the stick with READ(10) of 1 MiB into a rumpusb_alloc buffer (or an
 *       ordinary one) and prints "BENCH rumpusb MIB SECONDS MB/s" ("rumpusb-nozc" if
 *       rumpusb_alloc could not give zero-copy memory, "rumpusb-malloc" for the ordinary buffer).
 *   usbguest directread DEV MIB
 *       The same amount through Linux's own driver (O_DIRECT, 1 MiB reads), as dd iflag=direct:
 *       "BENCH linux MIB SECONDS MB/s".
 * Each check prints "ok - what" or "not ok - what: expected ..., got ..."; the exit status is the
 * number of failures (capped at 100).
 */
#define _GNU_SOURCE
#include <rump/rumpuser_usb.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void
check(int cond, const char *fmt, ...)
{
	va_list ap;
	printf(cond ? "ok - " : "not ok - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failures++;
}

static void
die(const char *fmt, ...)
{
	va_list ap;
	printf("not ok - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(100);
}

/* --- upcalls: a transfer's waiter, and a queue of hotplug events ---------------------------- */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, error;
	size_t actlen;
};

static void
on_xfer_done(void *cookie, int error, size_t actlen)
{
	struct waiter *w = cookie;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->error = error;
	w->actlen = actlen;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static pthread_mutex_t hp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hp_cv = PTHREAD_COND_INITIALIZER;
static struct { uint64_t devid; int arrived; } hp_q[64];
static int hp_n;

static void
on_hotplug(void *arg, uint64_t devid, int arrived)
{
	(void)arg;
	pthread_mutex_lock(&hp_mu);
	if (hp_n < 64) {
		hp_q[hp_n].devid = devid;
		hp_q[hp_n].arrived = arrived;
		hp_n++;
	}
	pthread_cond_broadcast(&hp_cv);
	pthread_mutex_unlock(&hp_mu);
}

static void *ctx;

static int
find_devid(uint64_t devid)
{
	struct rumpusb_devinfo v[32];
	size_t n;
	rumpusb_devices(ctx, v, 32, &n);
	for (size_t i = 0; i < n && i < 32; i++)
		if (v[i].devid == devid)
			return 1;
	return 0;
}

/* Polling mode: the devids last seen, diffed against each rumpusb_devices call. */
static uint64_t known[32];
static size_t nknown;

static void
snapshot(void)
{
	struct rumpusb_devinfo v[32];
	rumpusb_devices(ctx, v, 32, &nknown);
	if (nknown > 32)
		nknown = 32;
	for (size_t i = 0; i < nknown; i++)
		known[i] = v[i].devid;
}

/* Waits for the next arrival or departure: the hotplug upcall's, or in polling mode a change in
 * rumpusb_devices, read every 20 ms as a kernel would on root-hub status-change requests. No
 * timeout: the harness's own bounds the run. */
static void
next_hotplug(uint64_t *devid, int *arrived)
{
	if (!rumpusb_has_hotplug(ctx)) {
		for (;;) {
			struct rumpusb_devinfo v[32];
			size_t n;
			rumpusb_devices(ctx, v, 32, &n);
			if (n > 32)
				n = 32;
			for (size_t i = 0; i < nknown; i++) {
				size_t j = 0;
				while (j < n && v[j].devid != known[i])
					j++;
				if (j == n) {
					*devid = known[i];
					*arrived = 0;
					known[i] = known[--nknown];
					return;
				}
			}
			for (size_t j = 0; j < n; j++) {
				size_t i = 0;
				while (i < nknown && known[i] != v[j].devid)
					i++;
				if (i == nknown && nknown < 32) {
					known[nknown++] = v[j].devid;
					*devid = v[j].devid;
					*arrived = 1;
					return;
				}
			}
			usleep(20000);
		}
	}
	pthread_mutex_lock(&hp_mu);
	while (hp_n == 0)
		pthread_cond_wait(&hp_cv, &hp_mu);
	*devid = hp_q[0].devid;
	*arrived = hp_q[0].arrived;
	memmove(&hp_q[0], &hp_q[1], (size_t)(--hp_n) * sizeof hp_q[0]);
	pthread_mutex_unlock(&hp_mu);
}

static void
waiter_init(struct waiter *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = 0;
}

static int
waiter_wait(struct waiter *w, size_t *actlen)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	if (actlen)
		*actlen = w->actlen;
	return w->error;
}

static int
submit(void *dev, int type, uint8_t ep, void *buf, size_t len, unsigned tmo, struct waiter *w,
    void **xferp)
{
	waiter_init(w);
	return rumpusb_submit(dev, type, ep, buf, len, tmo, w, xferp);
}

/* A whole transfer: submit, then wait for its completion. */
static int
xfer(void *dev, int type, uint8_t ep, void *buf, size_t len, unsigned tmo, size_t *actlen)
{
	struct waiter w;
	int r = submit(dev, type, ep, buf, len, tmo, &w, NULL);
	if (r != 0)
		return r;
	return waiter_wait(&w, actlen);
}

/* --- devices and descriptors ------------------------------------------------------------------ */

static const struct rumpusb_hyperup up = { on_hotplug, on_xfer_done, NULL };

static int
find(uint16_t vendor, uint16_t product, struct rumpusb_devinfo *out)
{
	struct rumpusb_devinfo v[32];
	size_t n;
	if (rumpusb_devices(ctx, v, 32, &n) != 0)
		return 0;
	for (size_t i = 0; i < n && i < 32; i++)
		if (v[i].vendor == vendor && v[i].product == product) {
			*out = v[i];
			return 1;
		}
	return 0;
}

struct iface {
	int number, class, subclass, proto;
	uint8_t bulk_in, bulk_out, intr_in;
};

static int zero_copy(const void *p);

/* GET_DESCRIPTOR(CONFIGURATION) on the default pipe, then the first interface of class cls. */
static int
find_iface(void *dev, int cls, struct iface *out)
{
	uint8_t *buf = rumpusb_alloc(dev, 8 + 512);
	size_t act;
	int r;
	int zc = rumpusb_is_zerocopy(dev, buf);
	check(zc == zero_copy(buf), "rumpusb_is_zerocopy says %d for a buffer of rumpusb_alloc, "
	    "/proc/self/maps %d", zc, zero_copy(buf));
	check(rumpusb_is_zerocopy(dev, &act) == 0, "rumpusb_is_zerocopy is 0 for memory not of "
	    "rumpusb_alloc");
	uint8_t setup[8] = { 0x80, 6, 0, 2, 0, 0, 9, 0 };
	memcpy(buf, setup, 8);
	if ((r = xfer(dev, RUMPUSB_XFER_CONTROL, 0, buf, 8 + 9, 1000, &act)) != 0 || act != 9)
		die("GET_DESCRIPTOR(config, 9): error %d, %zu bytes", r, act);
	size_t total = (size_t)(buf[8 + 2] | buf[8 + 3] << 8);
	if (total > 512)
		total = 512;
	setup[6] = (uint8_t)total;
	setup[7] = (uint8_t)(total >> 8);
	memcpy(buf, setup, 8);
	if ((r = xfer(dev, RUMPUSB_XFER_CONTROL, 0, buf, 8 + total, 1000, &act)) != 0 || act != total)
		die("GET_DESCRIPTOR(config, %zu): error %d, %zu bytes", total, r, act);
	const uint8_t *d = buf + 8;
	int found = 0;
	memset(out, 0, sizeof *out);
	for (size_t off = 0; off + 2 <= total && d[off] >= 2; off += d[off]) {
		const uint8_t *e = d + off;
		if (e[1] == 4 && off + 9 <= total) {          /* interface */
			if (found)
				break;
			if (e[5] == cls && e[3] == 0) {
				found = 1;
				out->number = e[2];
				out->class = e[5];
				out->subclass = e[6];
				out->proto = e[7];
			}
		} else if (e[1] == 5 && found && off + 7 <= total) {   /* endpoint */
			uint8_t addr = e[2], type = e[3] & 3;
			if (type == 2 && (addr & 0x80))
				out->bulk_in = addr;
			else if (type == 2)
				out->bulk_out = addr;
			else if (type == 3 && (addr & 0x80))
				out->intr_in = addr;
		}
	}
	rumpusb_free(dev, buf, 8 + 512);
	return found;
}

static void *
open_claim(uint16_t vendor, uint16_t product, int cls, struct iface *ifc, uint64_t *devidp)
{
	struct rumpusb_devinfo di;
	void *dev;
	int r;
	if (!find(vendor, product, &di))
		die("no device %04x:%04x among rumpusb_devices", vendor, product);
	check(strncmp(di.node, "/dev/bus/usb/", 13) == 0 && di.speed != 0,
	    "device %04x:%04x at %s, bus %u address %u, speed %u", vendor, product, di.node, di.bus,
	    di.addr, di.speed);
	if ((r = rumpusb_open(ctx, di.devid, &dev)) != 0)
		die("rumpusb_open %s: expected 0, got %d", di.node, r);
	if ((r = rumpusb_set_config(dev, 1)) != 0)
		die("rumpusb_set_config 1 (the current one): expected 0, got %d", r);
	if (!find_iface(dev, cls, ifc))
		die("no interface of class %d in %04x:%04x's configuration", cls, vendor, product);
	if ((r = rumpusb_claim(dev, ifc->number)) != 0)
		die("rumpusb_claim %d: expected 0, got %d", ifc->number, r);
	if (devidp)
		*devidp = di.devid;
	return dev;
}

/* --- Bulk-Only Transport ---------------------------------------------------------------------- */

struct bot {
	void *dev;
	uint8_t in, out;
	uint32_t tag;
	uint8_t *cbw, *csw;
};

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One command with an IN data stage: the CBW and the data are queued together and the CSW read
 * after (QEMU's usb-storage may not answer a CSW read queued with the data read). 0 or the
 * error; *csw_status the CSW's status byte. */
static int
bot_in(struct bot *b, const uint8_t *cdb, int cdblen, void *data, size_t len, size_t *act,
    int *csw_status)
{
	struct waiter wc, wd;
	size_t a;
	int r;
	memset(b->cbw, 0, 31);
	put32(b->cbw, 0x43425355);
	put32(b->cbw + 4, ++b->tag);
	put32(b->cbw + 8, (uint32_t)len);
	b->cbw[12] = 0x80;
	b->cbw[14] = (uint8_t)cdblen;
	memcpy(b->cbw + 15, cdb, (size_t)cdblen);
	if ((r = submit(b->dev, RUMPUSB_XFER_BULK, b->out, b->cbw, 31, 5000, &wc, NULL)) != 0)
		return r;
	if (len > 0 && (r = submit(b->dev, RUMPUSB_XFER_BULK, b->in, data, len, 5000, &wd, NULL)) != 0) {
		waiter_wait(&wc, NULL);
		return r;
	}
	if ((r = waiter_wait(&wc, &a)) != 0 || a != 31) {
		if (len > 0)
			waiter_wait(&wd, NULL);
		return r ? r : RUMPUSB_EIO;
	}
	if (len > 0 && (r = waiter_wait(&wd, act)) != 0)
		return r;
	if ((r = xfer(b->dev, RUMPUSB_XFER_BULK, b->in, b->csw, 13, 5000, &a)) != 0)
		return r;
	if (a != 13 || get32(b->csw) != 0x53425355 || get32(b->csw + 4) != b->tag)
		return RUMPUSB_EIO;
	*csw_status = b->csw[12];
	return 0;
}

static int
read10(struct bot *b, uint32_t lba, uint16_t nblk, void *buf, size_t *act, int *st)
{
	uint8_t cdb[10] = { 0x28, 0, (uint8_t)(lba >> 24), (uint8_t)(lba >> 16), (uint8_t)(lba >> 8),
	                    (uint8_t)lba, 0, (uint8_t)(nblk >> 8), (uint8_t)nblk, 0 };
	return bot_in(b, cdb, 10, buf, (size_t)nblk * 512, act, st);
}

static void
bot_open(struct bot *b)
{
	struct iface ifc;
	b->dev = open_claim(0x46f4, 0x0001, 8, &ifc, NULL);
	check(ifc.subclass == 6 && ifc.proto == 0x50 && ifc.bulk_in && ifc.bulk_out,
	    "interface %d: mass storage, SCSI, Bulk-Only (subclass %d proto 0x%x), bulk in 0x%02x out 0x%02x",
	    ifc.number, ifc.subclass, ifc.proto, ifc.bulk_in, ifc.bulk_out);
	b->in = ifc.bulk_in;
	b->out = ifc.bulk_out;
	b->tag = 0;
	b->cbw = rumpusb_alloc(b->dev, 31);
	b->csw = rumpusb_alloc(b->dev, 13);
	if (b->cbw == NULL || b->csw == NULL)
		die("rumpusb_alloc of 31 and 13 bytes failed");
}

static int
cmd_storage(int argc, char **argv)
{
	struct bot b;
	size_t act;
	int st, r;
	uint32_t nblocks = (uint32_t)strtoul(argv[0], NULL, 0);
	bot_open(&b);

	/* Bad transfers fail at submit, with no completion. */
	uint8_t junk[64];
	r = rumpusb_submit(b.dev, RUMPUSB_XFER_BULK, 0x8f, junk, 64, 0, NULL, NULL);
	check(r ==
	    RUMPUSB_EINVAL, "bulk IN on endpoint 0x8f, which the interface lacks: expected EINVAL (%d), got %d",
	    RUMPUSB_EINVAL, r);
	r = rumpusb_submit(b.dev, RUMPUSB_XFER_INTERRUPT, b.in, junk, 64, 0, NULL, NULL);
	check(r ==
	    RUMPUSB_EINVAL, "interrupt transfer on bulk endpoint 0x%02x: expected EINVAL (%d), got %d",
	    b.in, RUMPUSB_EINVAL, r);
	r = rumpusb_submit(b.dev, 1, b.in, junk, 64, 0, NULL, NULL);
	check(r == RUMPUSB_EINVAL,
	    "isochronous transfer type: expected EINVAL (%d), got %d", RUMPUSB_EINVAL, r);
	r = rumpusb_submit(b.dev, RUMPUSB_XFER_CONTROL, 0, junk, 4, 0, NULL, NULL);
	check(r ==
	    RUMPUSB_EINVAL, "control transfer shorter than its setup packet: expected EINVAL (%d), got %d",
	    RUMPUSB_EINVAL, r);
	r = rumpusb_claim(b.dev, 9);
	check(r == RUMPUSB_EINVAL,
	    "claim of interface 9, which the device lacks: expected EINVAL (%d), got %d", RUMPUSB_EINVAL, r);
	r = rumpusb_set_alt(b.dev, 3, 0);
	check(r == RUMPUSB_EINVAL,
	    "set_alt on an unclaimed interface: expected EINVAL (%d), got %d", RUMPUSB_EINVAL, r);

	/* A bulk IN before any command: QEMU's BOT device stalls it; clear_halt recovers. */
	r = xfer(b.dev, RUMPUSB_XFER_BULK, b.in, junk, 64, 5000, &act);
	check(r == RUMPUSB_EPIPE, "bulk IN with no command pending: expected the stall EPIPE (%d), got %d",
	    RUMPUSB_EPIPE, r);
	r = rumpusb_clear_halt(b.dev, b.in);
	check(r == 0, "clear_halt 0x%02x: expected 0, got %d", b.in, r);

	uint8_t *data = rumpusb_alloc(b.dev, 64 * 512);
	uint8_t inquiry[6] = { 0x12, 0, 0, 0, 36, 0 };
	r = bot_in(&b, inquiry, 6, data, 36, &act, &st);
	check(r == 0 && st == 0 && act == 36 && (data[0] & 0x1f) == 0 && memcmp(data + 8, "QEMU    ", 8) == 0,
	    "INQUIRY: a direct-access device from vendor \"QEMU    \" (error %d, status %d, %zu bytes, \"%.8s\")",
	    r, st, act, (char *)data + 8);

	uint8_t cap[10] = { 0x25 };
	/* The first command after attach may report a unit attention; the retry then succeeds. */
	for (int i = 0; i < 3; i++)
		if ((r = bot_in(&b, cap, 10, data, 8, &act, &st)) != 0 || st == 0)
			break;
	uint32_t last = (uint32_t)data[0] << 24 | data[1] << 16 | data[2] << 8 | data[3];
	uint32_t bsize = (uint32_t)data[4] << 24 | data[5] << 16 | data[6] << 8 | data[7];
	check(r == 0 && st == 0 && last == nblocks - 1 && bsize == 512,
	    "READ CAPACITY(10): expected last LBA %u, 512-byte blocks; got error %d status %d, last %u, %u bytes",
	    nblocks - 1, r, st, last, bsize);

	for (int i = 1; i + 1 < argc; i += 2) {
		uint32_t lba = (uint32_t)strtoul(argv[i], NULL, 0);
		FILE *f = fopen(argv[i + 1], "rb");
		static uint8_t want[64 * 512];
		size_t n = f ? fread(want, 1, sizeof want, f) : 0;
		if (f)
			fclose(f);
		if (n == 0 || n % 512)
			die("%s: expected a whole number of 512-byte blocks (up to 64), read %zu bytes", argv[i + 1], n);
		memset(data, 0xa5, n);
		r = read10(&b, lba, (uint16_t)(n / 512), data, &act, &st);
		size_t diff = 0;
		while (diff < n && data[diff] == want[diff])
			diff++;
		check(r == 0 && st == 0 && act == n && diff == n,
		    "READ(10) of %zu blocks at LBA %u equals %s (error %d, status %d, %zu bytes, first difference at %zu)",
		    n / 512, lba, argv[i + 1], r, st, act, diff);
	}

	/* Beyond the end: the command fails (CSW status 1), the transport stays usable. */
	r = read10(&b, nblocks, 1, data, &act, &st);
	check((r == 0 && st == 1) || r == RUMPUSB_EPIPE,
	    "READ(10) past the last block: expected CSW status 1 or a stall; got error %d status %d", r, st);
	if (r == RUMPUSB_EPIPE) {
		rumpusb_clear_halt(b.dev, b.in);
		xfer(b.dev, RUMPUSB_XFER_BULK, b.in, b.csw, 13, 5000, &act);
	}
	rumpusb_free(b.dev, data, 64 * 512);
	r = rumpusb_release(b.dev, 0);
	check(r == 0, "release: expected 0, got %d", r);
	r = rumpusb_release(b.dev, 0);
	check(r == RUMPUSB_EINVAL,
	    "release of an interface not claimed: expected EINVAL (%d), got %d", RUMPUSB_EINVAL, r);
	rumpusb_close(b.dev);
	return 0;
}

static int
cmd_noperm(void)
{
	struct rumpusb_devinfo di;
	void *dev;
	if (!find(0x46f4, 0x0001, &di))
		die("no device 46f4:0001 among rumpusb_devices");
	int r = rumpusb_open(ctx, di.devid, &dev);
	check(r == RUMPUSB_EACCES, "open of %s without permission: expected EACCES (%d), got %d",
	    di.node, RUMPUSB_EACCES, r);
	if (r == 0)
		rumpusb_close(dev);
	return 0;
}

/* --- the keyboard and hotplug ---------------------------------------------------------------- */

static const char *
errname(int e)
{
	switch (e) {
	case 0: return "0";
	case RUMPUSB_ENXIO: return "ENXIO";
	case RUMPUSB_ECANCELED: return "ECANCELED";
	case RUMPUSB_ETIMEDOUT: return "ETIMEDOUT";
	case RUMPUSB_EPIPE: return "EPIPE";
	case RUMPUSB_EIO: return "EIO";
	default: return "other";
	}
}

static int
cmd_kbd(int nkeys)
{
	struct iface ifc;
	uint64_t devid, ev;
	int arrived, r;
	size_t act;
	void *x;
	void *dev = open_claim(0x0627, 0x0001, 3, &ifc, &devid);
	printf("MODE %s\n", rumpusb_has_hotplug(ctx) ? "hotplug" : "polling");
	snapshot();
	check(ifc.intr_in != 0, "keyboard interface %d has interrupt IN endpoint 0x%02x", ifc.number, ifc.intr_in);
	uint8_t *rep = rumpusb_alloc(dev, 8);
	struct waiter w;

	r = xfer(dev, RUMPUSB_XFER_INTERRUPT, ifc.intr_in, rep, 8, 50, &act);
	check(r == RUMPUSB_ETIMEDOUT, "interrupt IN with no key and a 50 ms timeout: expected ETIMEDOUT, got %s (%d)",
	    errname(r), r);
	if ((r = submit(dev, RUMPUSB_XFER_INTERRUPT, ifc.intr_in, rep, 8, 0, &w, &x)) != 0)
		die("submit interrupt IN: %d", r);
	int c = rumpusb_cancel(x);
	r = waiter_wait(&w, &act);
	check(c == 0 && r == RUMPUSB_ECANCELED, "cancel of a pending interrupt IN: expected 0 then ECANCELED, got %d then %s",
	    c, errname(r));
	c = rumpusb_cancel(x);
	check(c == RUMPUSB_EALREADY, "cancel after the completion: expected EALREADY, got %d", c);

	printf("READY\n");
	fflush(stdout);
	for (int got = 0; got < nkeys;) {
		r = xfer(dev, RUMPUSB_XFER_INTERRUPT, ifc.intr_in, rep, 8, 0, &act);
		if (r != 0 || act != 8)
			die("interrupt IN: error %s, %zu bytes", errname(r), act);
		if (rep[2] != 0) {
			printf("KEY %02x\n", rep[2]);
			fflush(stdout);
			got++;
		}
	}

	/* Unplugged with a transfer pending: it ends with ENXIO and the hotplug upcall says so.
	 * Reports still coming (the last key's release) complete it normally: read on. */
	printf("WAITING-LEFT\n");
	fflush(stdout);
	do {
		/* It may leave between two transfers: then the submit is what says so. */
		if ((r = submit(dev, RUMPUSB_XFER_INTERRUPT, ifc.intr_in, rep, 8, 0, &w, NULL)) != 0)
			break;
		r = waiter_wait(&w, &act);
		if (r == 0) {
			printf("REPORT %02x\n", act == 8 ? rep[2] : 0xff);
			fflush(stdout);
		}
	} while (r == 0);
	check(r == RUMPUSB_ENXIO, "interrupt IN when the keyboard goes: expected ENXIO, got %s (%d)",
	    errname(r), r);
	next_hotplug(&ev, &arrived);
	check(ev == devid && !arrived, "hotplug upcall: expected devid %llu left, got devid %llu %s",
	    (unsigned long long)devid, (unsigned long long)ev, arrived ? "arrived" : "left");
	if (ev == devid && !arrived)
		printf("LEFT 0627:0001\n");
	r = rumpusb_submit(dev, RUMPUSB_XFER_INTERRUPT, ifc.intr_in, rep, 8, 0, &w, NULL);
	check(r == RUMPUSB_ENXIO, "submit on the departed device: expected ENXIO, got %d", r);
	rumpusb_close(dev);
	void *d2;
	r = rumpusb_open(ctx, devid, &d2);
	check(r == RUMPUSB_ENXIO, "open of the departed device: expected ENXIO (%d), got %d", RUMPUSB_ENXIO, r);
	r = rumpusb_open(ctx, 999999, &d2);
	check(r == RUMPUSB_ENOENT, "open of a devid never seen: expected ENOENT (%d), got %d", RUMPUSB_ENOENT, r);

	printf("WAITING-ARRIVED\n");
	fflush(stdout);
	next_hotplug(&ev, &arrived);
	struct rumpusb_devinfo di;
	check(arrived && ev != devid && find(0x0627, 0x0001, &di) && di.devid == ev && find_devid(ev),
	    "hotplug upcall: expected a new keyboard with a new devid, got devid %llu %s",
	    (unsigned long long)ev, arrived ? "arrived" : "left");
	printf("ARRIVED 0627:0001\n");
	/* udevd may not have applied the plugdev rule yet when the event comes: retry EACCES. */
	for (int i = 0; i < 100 && (r = rumpusb_open(ctx, ev, &d2)) == RUMPUSB_EACCES; i++)
		usleep(20000);
	check(r == 0, "open of the new keyboard: expected 0, got %d", r);
	if (r == 0) {
		r = rumpusb_claim(d2, 0);
		check(r == 0, "claim of the new keyboard's interface 0: expected 0, got %d", r);
		rumpusb_close(d2);
	}
	printf("DONE\n");
	return 0;
}

/* --- throughput ------------------------------------------------------------------------------- */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether p lies in a mapping of a usbfs node (libusb_dev_mem_alloc's zero-copy memory). */
static int
zero_copy(const void *p)
{
	char line[512];
	int zc = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (unsigned long)p >= lo &&
		    (unsigned long)p < hi && strstr(line, "/dev/bus/usb/"))
			zc = 1;
	}
	if (f)
		fclose(f);
	return zc;
}

static int
cmd_bench(int mib, int use_malloc)
{
	struct bot b;
	size_t act;
	int st, r;
	bot_open(&b);
	uint8_t *buf = use_malloc ? aligned_alloc(4096, 1 << 20) : rumpusb_alloc(b.dev, 1 << 20);
	uint8_t tur[6] = { 0 };
	for (int i = 0; i < 3; i++)              /* past a unit attention, if any */
		if (bot_in(&b, tur, 6, NULL, 0, &act, &st) == 0 && st == 0)
			break;
	double t0 = now();
	for (int i = 0; i < mib; i++) {
		r = read10(&b, (uint32_t)i * 2048, 2048, buf, &act, &st);
		if (r != 0 || st != 0 || act != 1 << 20)
			die("READ(10) of MiB %d: error %d, status %d, %zu bytes", i, r, st, act);
	}
	double t = now() - t0;
	printf("BENCH %s %d %.3f %.1f\n", use_malloc ? "rumpusb-malloc" : zero_copy(buf) ?
	    "rumpusb" : "rumpusb-nozc", mib, t, mib * 1.048576 / t);
	if (use_malloc)
		free(buf);
	else
		rumpusb_free(b.dev, buf, 1 << 20);
	rumpusb_close(b.dev);
	return 0;
}

static int
cmd_directread(const char *path, int mib)
{
	int fd = open(path, O_RDONLY | O_DIRECT);
	void *buf;
	if (fd < 0 || posix_memalign(&buf, 4096, 1 << 20) != 0)
		die("open %s O_DIRECT: %s", path, strerror(errno));
	double t0 = now();
	for (int i = 0; i < mib; i++)
		if (read(fd, buf, 1 << 20) != 1 << 20)
			die("read MiB %d of %s: %s", i, path, strerror(errno));
	double t = now() - t0;
	printf("BENCH linux %d %.3f %.1f\n", mib, t, mib * 1.048576 / t);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && strcmp(argv[1], "directread") == 0)
		return cmd_directread(argv[2], atoi(argv[3]));
	if (argc < 2) {
		fprintf(stderr, "usage: usbguest storage|noperm|kbd|bench|directread ... (see the source)\n");
		return 100;
	}
	int r = rumpusb_init(&up, &ctx);
	if (r != 0)
		die("rumpusb_init: %d", r);
	if (strcmp(argv[1], "storage") == 0 && argc >= 3)
		cmd_storage(argc - 2, argv + 2);
	else if (strcmp(argv[1], "noperm") == 0)
		cmd_noperm();
	else if (strcmp(argv[1], "kbd") == 0 && argc >= 3)
		cmd_kbd(atoi(argv[2]));
	else if (strcmp(argv[1], "bench") == 0 && argc >= 3)
		cmd_bench(atoi(argv[2]), argc >= 4 && strcmp(argv[3], "malloc") == 0);
	else
		die("bad arguments (see the source)");
	rumpusb_fini(ctx);
	return failures > 100 ? 100 : failures;
}
