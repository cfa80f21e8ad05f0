/*
 * usb_host_test: librumpuser_usb on the build host, which may have no USB at all (no usbfs): the
 * context starts and stops, lists what there is, and refuses bad arguments with errnos. The
 * devices themselves are tested in a QEMU guest (tests/qemu).
 */
#include <rump/rumpuser_usb.h>

#include <stdio.h>

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { printf("not ok - " __VA_ARGS__); printf("\n"); failures++; } \
	else { printf("ok - " __VA_ARGS__); printf("\n"); } \
} while (0)

static void
xfer_done(void *cookie, int error, size_t actlen)
{
	(void)cookie; (void)error; (void)actlen;
}

int
main(void)
{
	struct rumpusb_hyperup bad = { NULL, NULL, NULL };
	struct rumpusb_hyperup up = { NULL, xfer_done, NULL };
	void *ctx = NULL, *dev = NULL;
	size_t n = 12345;
	int r;

	r = rumpusb_init(&bad, &ctx);
	CHECK(r == RUMPUSB_EINVAL, "init without xfer_done: expected EINVAL (%d), got %d", RUMPUSB_EINVAL, r);
	r = rumpusb_init(NULL, &ctx);
	CHECK(r == RUMPUSB_EINVAL, "init without upcalls: expected EINVAL (%d), got %d", RUMPUSB_EINVAL, r);
	r = rumpusb_init(&up, &ctx);
	CHECK(r == 0, "init: expected 0, got %d", r);
	if (r != 0)
		return 1;
	r = rumpusb_devices(ctx, NULL, 0, &n);
	CHECK(r == 0 && n != 12345, "devices: expected 0 and a count, got %d and %zu", r, n);
	r = rumpusb_open(ctx, 0, &dev);
	CHECK(r == RUMPUSB_ENOENT, "open of devid 0: expected ENOENT (%d), got %d", RUMPUSB_ENOENT, r);
	r = rumpusb_open(ctx, (uint64_t)1 << 40, &dev);
	CHECK(r == RUMPUSB_ENOENT, "open of a devid never given: expected ENOENT (%d), got %d", RUMPUSB_ENOENT, r);
	r = rumpusb_cancel((void *)(uintptr_t)987654321);
	CHECK(r == RUMPUSB_EALREADY, "cancel of an unknown transfer: expected EALREADY (%d), got %d", RUMPUSB_EALREADY, r);
	rumpusb_fini(ctx);
	r = rumpusb_init(&up, &ctx);
	CHECK(r == 0, "init again after fini: expected 0, got %d", r);
	if (r == 0)
		rumpusb_fini(ctx);
	printf("%d failed\n", failures);
	return failures != 0;
}
