/*
 * lsusb_libusb: a check by hand that an unprivileged program reaches the guest's emulated USB
 * devices through plain libusb (built as build/bin/lsusb_libusb; run it with run-guest.sh --copy).
 *
 *   lsusb_libusb list           one line per device: "BBB:DDD VVVV:PPPP class C open OK|ERROR";
 *                               root hubs (vendor 1d6b) are skipped
 *   lsusb_libusb desc VVVV:PPPP "libusb device HEX" and "libusb config HEX": the raw device
 *                               descriptor and the whole first configuration (wTotalLength), read
 *                               with GET_DESCRIPTOR through libusb (qemu.usb_ugen's reference)
 *   lsusb_libusb hotplug N      prints READY once the hotplug callback is registered, then
 *                               "ARRIVED VVVV:PPPP" / "LEFT VVVV:PPPP" for N events (exit 0),
 *                               or exits 1 after 60 s without them
 */
#include <libusb-1.0/libusb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int events;

static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event ev,
                                  void *arg) {
	struct libusb_device_descriptor d;
	(void)ctx; (void)arg;
	libusb_get_device_descriptor(dev, &d);
	printf("%s %04x:%04x\n", ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED ? "ARRIVED" : "LEFT",
	       d.idVendor, d.idProduct);
	fflush(stdout);
	events++;
	return 0;
}

static int list(libusb_context *ctx) {
	libusb_device **v;
	ssize_t n = libusb_get_device_list(ctx, &v);
	if (n < 0) {
		printf("libusb_get_device_list: %s\n", libusb_error_name((int)n));
		return 1;
	}
	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor d;
		libusb_device_handle *h;
		libusb_get_device_descriptor(v[i], &d);
		if (d.idVendor == 0x1d6b)
			continue;
		int r = libusb_open(v[i], &h);
		printf("%03u:%03u %04x:%04x class %u open %s\n", libusb_get_bus_number(v[i]),
		       libusb_get_device_address(v[i]), d.idVendor, d.idProduct, d.bDeviceClass,
		       r == 0 ? "OK" : libusb_error_name(r));
		if (r == 0)
			libusb_close(h);
	}
	libusb_free_device_list(v, 1);
	return 0;
}

static void hex(const char *what, const unsigned char *b, int n) {
	printf("libusb %s", what);
	for (int i = 0; i < n; i++)
		printf(" %02x", b[i]);
	printf("\n");
}

static int desc(libusb_context *ctx, const char *vidpid) {
	unsigned v, p;
	unsigned char b[4096];
	if (sscanf(vidpid, "%x:%x", &v, &p) != 2)
		return 2;
	libusb_device_handle *h = libusb_open_device_with_vid_pid(ctx, (uint16_t)v, (uint16_t)p);
	if (h == NULL) {
		printf("cannot open %s\n", vidpid);
		return 1;
	}
	int n = libusb_get_descriptor(h, LIBUSB_DT_DEVICE, 0, b, 18);
	if (n > 0)
		hex("device", b, n);
	n = libusb_get_descriptor(h, LIBUSB_DT_CONFIG, 0, b, 9);
	if (n == 9)
		n = libusb_get_descriptor(h, LIBUSB_DT_CONFIG, 0, b, b[2] | b[3] << 8);
	if (n > 0)
		hex("config", b, n);
	libusb_close(h);
	return n > 0 ? 0 : 1;
}

static int hotplug(libusb_context *ctx, int want) {
	libusb_hotplug_callback_handle hh;
	if (!libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
		printf("no hotplug capability\n");
		return 1;
	}
	int r = libusb_hotplug_register_callback(ctx,
	    LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
	    LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug,
	    NULL, &hh);
	if (r != 0) {
		printf("libusb_hotplug_register_callback: %s\n", libusb_error_name(r));
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	time_t end = time(NULL) + 60;
	while (events < want && time(NULL) < end) {
		struct timeval tv = { 1, 0 };
		libusb_handle_events_timeout_completed(ctx, &tv, NULL);
	}
	libusb_hotplug_deregister_callback(ctx, hh);
	if (events < want)
		printf("only %d of %d hotplug events in 60 s\n", events, want);
	return events < want;
}

int main(int argc, char **argv) {
	libusb_context *ctx;
	int r = libusb_init(&ctx);
	if (r != 0) {
		printf("libusb_init: %s\n", libusb_error_name(r));
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		r = list(ctx);
	else if (argc >= 3 && strcmp(argv[1], "desc") == 0)
		r = desc(ctx, argv[2]);
	else if (argc >= 3 && strcmp(argv[1], "hotplug") == 0)
		r = hotplug(ctx, atoi(argv[2]));
	else {
		fprintf(stderr, "usage: lsusb_libusb list | desc VVVV:PPPP | hotplug N\n");
		r = 2;
	}
	libusb_exit(ctx);
	return r;
}
