/*
 * The kernel message buffer through the C ABI, read the way NetBSD's dmesg(8) reads it:
 * kern.msgbufsize, then kern.msgbuf sized by a NULL-buffer query and read whole (the ring,
 * oldest byte first, NULs where nothing was written yet, which dmesg skips), and the boot's
 * autoconfiguration line in it.
 */
#include "rtest.h"

/* dmesg: the kept text without NULs into out (NUL-terminated); its length, or -1. */
static long
dmesg(char *out, size_t outlen)
{
	int mib[2] = { RUMP_CTL_KERN, RUMP_KERN_MSGBUF };
	size_t len = 0;

	if (rump_sys___sysctl(mib, 2, NULL, &len, NULL, 0) == -1)
		return -1;
	char *buf = malloc(len);
	if (buf == NULL)
		return -1;
	if (rump_sys___sysctl(mib, 2, buf, &len, NULL, 0) == -1) {
		free(buf);
		return -1;
	}
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < outlen; i++)
		if (buf[i] != '\0')
			out[n++] = buf[i];
	out[n] = '\0';
	free(buf);
	return (long)n;
}

static void
test_sizes(void)
{
	int mib[2] = { RUMP_CTL_KERN, RUMP_KERN_MSGBUFSIZE };
	int size = 0;
	size_t len = sizeof size;

	EXPECT_OK(rump_sys___sysctl(mib, 2, &size, &len, NULL, 0));
	EXPECT_EQ(len, sizeof(int));
	CHECK(size >= 4096, "kern.msgbufsize: expected at least a page, got %d", size);

	/* A NULL buffer asks for the size: always the whole ring. */
	mib[1] = RUMP_KERN_MSGBUF;
	len = 0;
	EXPECT_OK(rump_sys___sysctl(mib, 2, NULL, &len, NULL, 0));
	EXPECT_EQ(len, size);

	char *buf = malloc(size);
	len = size;
	EXPECT_OK(rump_sys___sysctl(mib, 2, buf, &len, NULL, 0));
	EXPECT_EQ(len, size);
	free(buf);

	/* The buffer is read-only. */
	EXPECT_ERR(rump_sys___sysctl(mib, 2, NULL, NULL, "x", 2), EPERM);

	char text[32768];
	CHECK(dmesg(text, sizeof text) >= 0, "dmesg: reading kern.msgbuf failed, errno %d", errno);
	/* Autoconfiguration's first line, as NetBSD's rump kernels print it. */
	CHECK(strstr(text, "mainbus0 (root)\n") != NULL, "dmesg: expected \"mainbus0 (root)\", got \"%s\"", text);

	/* A read shorter than the ring gets what fits, without ENOMEM (NetBSD's sysctl_msgbuf). */
	char part[8];
	len = sizeof part;
	EXPECT_OK(rump_sys___sysctl(mib, 2, part, &len, NULL, 0));
	EXPECT_EQ(len, sizeof part);
}

int
main(void)
{
	rtest_init();
	test_sizes();
	return rtest_done();
}
