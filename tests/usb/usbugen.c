/*
 * usbugen VVVV:PPPP -- run in a QEMU guest as an unprivileged user, with RUMP_USB selecting one
 * emulated device that no driver of the kernel wants (a usb-ccid smart-card reader), so ugen0
 * takes it. Checks NetBSD's ugen control-endpoint ioctls on /dev/ugen0.00: USB_GET_DEVICE_DESC,
 * USB_GET_CONFIG, USB_GET_CONFIG_DESC (current and by index), USB_GET_DEVICEINFO, USB_DO_REQUEST
 * (GET_DESCRIPTOR of the device and of the whole configuration, a short read with and without
 * USBD_SHORT_XFER_OK, the requests that are refused, EPERM on a read-only descriptor),
 * USB_SET_TIMEOUT and USB_SET_SHORT_XFER, and read(2) on the control endpoint (ENODEV).
 * Prints "ugen device HEX" and "ugen config HEX" for the host script to compare with what
 * libusb reads, "ok - ..." / "not ok - ..." lines, and exits 0 only if every check passed.
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nfail;

static void
check(int cond, const char *what, int err)
{
	if (cond)
		printf("ok - %s\n", what);
	else {
		printf("not ok - %s (errno %d)\n", what, err);
		nfail++;
	}
}

static void
hex(const char *what, const unsigned char *b, int n)
{
	printf("ugen %s", what);
	for (int i = 0; i < n; i++)
		printf(" %02x", b[i]);
	printf("\n");
}

static void
setup(struct rump_usb_ctl_request *r, int type, int req, int value, int index, int len, void *data)
{
	memset(r, 0, sizeof *r);
	r->ucr_request[0] = (uint8_t)type;
	r->ucr_request[1] = (uint8_t)req;
	r->ucr_request[2] = (uint8_t)value;
	r->ucr_request[3] = (uint8_t)(value >> 8);
	r->ucr_request[4] = (uint8_t)index;
	r->ucr_request[5] = (uint8_t)(index >> 8);
	r->ucr_request[6] = (uint8_t)len;
	r->ucr_request[7] = (uint8_t)(len >> 8);
	r->ucr_data = data;
}

int
main(int argc, char **argv)
{
	unsigned vid, pid;
	if (argc != 2 || sscanf(argv[1], "%x:%x", &vid, &pid) != 2) {
		fprintf(stderr, "usage: usbugen VVVV:PPPP\n");
		return 2;
	}
	if (rump_init() != 0) {
		printf("not ok - boot\n");
		return 1;
	}
	int fd = rump_sys_open("/dev/ugen0.00", RUMP_O_RDWR, 0);
	check(fd >= 0, "open /dev/ugen0.00 read-write", errno);
	if (fd < 0)
		return 1;

	unsigned char dd[18];
	check(rump_sys_ioctl(fd, RUMP_USB_GET_DEVICE_DESC, dd) == 0, "USB_GET_DEVICE_DESC", errno);
	check(dd[0] == 18 && dd[1] == 1 && (dd[8] | dd[9] << 8) == (int)vid && (dd[10] | dd[11] << 8) == (int)pid,
	    "the device descriptor names the device", 0);

	/* The same descriptor read from the device with a control transfer. */
	unsigned char buf[4096];
	struct rump_usb_ctl_request r;
	setup(&r, 0x80, 6, 0x0100, 0, 18, buf);
	int e = rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r);
	check(e == 0 && r.ucr_actlen == 18, "USB_DO_REQUEST GET_DESCRIPTOR(device)", errno);
	if (e == 0)
		hex("device", buf, r.ucr_actlen);
	check(e == 0 && memcmp(buf, dd, 18) == 0, "USB_DO_REQUEST's device descriptor is USB_GET_DEVICE_DESC's", 0);

	/* The whole configuration: header, then wTotalLength. */
	setup(&r, 0x80, 6, 0x0200, 0, 9, buf);
	e = rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r);
	int total = e == 0 ? buf[2] | buf[3] << 8 : 0;
	unsigned char cfg9[9];
	memcpy(cfg9, buf, 9);
	setup(&r, 0x80, 6, 0x0200, 0, total, buf);
	e = e == 0 && total >= 9 && total <= (int)sizeof buf ? rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) : -1;
	check(e == 0 && r.ucr_actlen == total, "USB_DO_REQUEST GET_DESCRIPTOR(configuration), all wTotalLength bytes", errno);
	if (e == 0)
		hex("config", buf, r.ucr_actlen);

	int cfgno = -1;
	check(rump_sys_ioctl(fd, RUMP_USB_GET_CONFIG, &cfgno) == 0 && cfgno == cfg9[5], "USB_GET_CONFIG is the configuration's value", errno);
	struct rump_usb_config_desc cd;
	memset(&cd, 0, sizeof cd);
	cd.ucd_config_index = RUMP_USB_CURRENT_CONFIG_INDEX;
	check(rump_sys_ioctl(fd, RUMP_USB_GET_CONFIG_DESC, &cd) == 0 && memcmp(cd.ucd_desc, cfg9, 9) == 0,
	    "USB_GET_CONFIG_DESC(current) is the configuration's header", errno);
	memset(&cd, 0, sizeof cd);
	cd.ucd_config_index = 0;
	check(rump_sys_ioctl(fd, RUMP_USB_GET_CONFIG_DESC, &cd) == 0 && memcmp(cd.ucd_desc, cfg9, 9) == 0,
	    "USB_GET_CONFIG_DESC(0) reads the same from the device", errno);
	cd.ucd_config_index = 7;
	check(rump_sys_ioctl(fd, RUMP_USB_GET_CONFIG_DESC, &cd) == -1 && errno == EINVAL,
	    "USB_GET_CONFIG_DESC of a configuration the device lacks is EINVAL", errno);

	struct rump_usb_device_info di;
	memset(&di, 0xa5, sizeof di);
	e = rump_sys_ioctl(fd, RUMP_USB_GET_DEVICEINFO, &di);
	check(e == 0 && di.udi_vendorNo == vid && di.udi_productNo == pid && di.udi_class == dd[4] &&
	    di.udi_releaseNo == (dd[12] | dd[13] << 8) && di.udi_config == cfg9[5] && strcmp(di.udi_devnames[0], "ugen0") == 0 &&
	    di.udi_devnames[1][0] == '\0' && di.udi_speed >= 1 && di.udi_speed <= 5,
	    "USB_GET_DEVICEINFO: vendor, product, class, release, configuration, speed, ugen0", errno);
	if (e == 0)
		printf("deviceinfo: \"%s\" \"%s\" release %s serial \"%s\" addr %d speed %d power %d\n", di.udi_vendor,
		    di.udi_product, di.udi_release, di.udi_serial, di.udi_addr, di.udi_speed, di.udi_power);

	/* A short data stage: an error unless the caller allows it (NetBSD's USBD_SHORT_XFER_OK). */
	setup(&r, 0x80, 6, 0x0100, 0, 64, buf);
	check(rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) == -1 && errno == EIO, "a short GET_DESCRIPTOR without USBD_SHORT_XFER_OK is EIO", errno);
	setup(&r, 0x80, 6, 0x0100, 0, 64, buf);
	r.ucr_flags = RUMP_USBD_SHORT_XFER_OK;
	check(rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) == 0 && r.ucr_actlen == 18, "with USBD_SHORT_XFER_OK it moves 18 bytes", errno);

	/* A stall (an unknown descriptor type) is EIO, and the endpoint works after it. */
	setup(&r, 0x80, 6, 0x7700, 0, 8, buf);
	r.ucr_flags = RUMP_USBD_SHORT_XFER_OK;
	check(rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) == -1 && errno == EIO, "a request the device stalls is EIO", errno);
	setup(&r, 0x80, 6, 0x0100, 0, 18, buf);
	check(rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) == 0 && memcmp(buf, dd, 18) == 0, "the control endpoint works after the stall", errno);

	setup(&r, 0x00, 9, 1, 0, 0, NULL);
	check(rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) == -1 && errno == EINVAL, "SET_CONFIGURATION through ugen is EINVAL", errno);
	setup(&r, 0x00, 5, 9, 0, 0, NULL);
	check(rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) == -1 && errno == EINVAL, "SET_ADDRESS through ugen is EINVAL", errno);
	setup(&r, 0x01, 11, 0, 0, 0, NULL);
	check(rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) == -1 && errno == EINVAL, "SET_INTERFACE through ugen is EINVAL", errno);
	setup(&r, 0x80, 6, 0x0100, 0, 18, NULL);
	check(rump_sys_ioctl(fd, RUMP_USB_DO_REQUEST, &r) == -1 && errno == EFAULT, "a NULL ucr_data with a data stage is EFAULT", errno);

	int ms = 2000, one = 1;
	check(rump_sys_ioctl(fd, RUMP_USB_SET_TIMEOUT, &ms) == 0, "USB_SET_TIMEOUT on the control endpoint", errno);
	check(rump_sys_ioctl(fd, RUMP_USB_SET_SHORT_XFER, &one) == -1 && errno == EINVAL, "USB_SET_SHORT_XFER on the control endpoint is EINVAL", errno);
	check(rump_sys_read(fd, buf, 8) == -1 && errno == ENODEV, "read(2) on the control endpoint is ENODEV", errno);
	check(rump_sys_ioctl(fd, 0xc0045500 | 99, &one) == -1 && errno == ENOTTY, "an unknown ioctl is ENOTTY", errno);
	rump_sys_close(fd);

	int ro = rump_sys_open("/dev/ugen0.00", RUMP_O_RDONLY, 0);
	setup(&r, 0x80, 6, 0x0100, 0, 18, buf);
	check(ro >= 0 && rump_sys_ioctl(ro, RUMP_USB_DO_REQUEST, &r) == -1 && errno == EPERM, "USB_DO_REQUEST needs the node open for writing (EPERM)", errno);
	check(ro >= 0 && rump_sys_ioctl(ro, RUMP_USB_GET_DEVICE_DESC, dd) == 0, "USB_GET_DEVICE_DESC works read-only", errno);
	if (ro >= 0)
		rump_sys_close(ro);

	rump_sys_reboot(RUMP_RB_HALT, NULL);
	return nfail == 0 ? 0 : 1;
}
