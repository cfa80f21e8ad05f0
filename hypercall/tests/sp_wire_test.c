/*
 * Tests of the sysproxy wire format (src/sp_wire.c).
 *
 * The byte fixtures are the C structures NetBSD's sp_common.c writes to the
 * socket (struct rsp_hdr, rsp_copydata, rsp_sysresp, handshake_fork) laid out
 * by this compiler on this LP64 host: the encoders must produce exactly their
 * bytes, so that NetBSD's client and server read what this module writes.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_wire.h"

#include "check.h"

/* NetBSD's structures, as sp_common.c declares them (the layout is the fact under test). */
struct nb_rsp_hdr {
	uint64_t rsp_len;
	uint64_t rsp_reqno;
	uint16_t rsp_class;
	uint16_t rsp_type;
	union {
		uint32_t sysnum;
		uint32_t error;
		uint32_t handshake;
		uint32_t signo;
	} u;
};

struct nb_rsp_copydata {
	size_t rcp_len;
	void *rcp_addr;
};

struct nb_rsp_sysresp {
	int rsys_error;
	long rsys_retval[2];	/* register_t on LP64 */
};

struct nb_handshake_fork {
	uint32_t rf_auth[4];
	int rf_cancel;
};

static void
test_layout(void)
{
	CHECK_EQ("sizeof rsp_hdr", SPW_HDRSZ, sizeof(struct nb_rsp_hdr));
	CHECK_EQ("sizeof rsp_copydata", SPW_COPYDATASZ, sizeof(struct nb_rsp_copydata));
	CHECK_EQ("sizeof rsp_sysresp", SPW_SYSRESPSZ, sizeof(struct nb_rsp_sysresp));
	CHECK_EQ("sizeof handshake_fork", SPW_HSFORKSZ, sizeof(struct nb_handshake_fork));
}

static void
test_hdr(void)
{
	struct nb_rsp_hdr nb;
	struct spw_hdr h, d;
	uint8_t buf[SPW_HDRSZ];

	memset(&nb, 0, sizeof(nb));
	nb.rsp_len = 0x0102030405060708ULL;
	nb.rsp_reqno = 0x1112131415161718ULL;
	nb.rsp_class = 2;
	nb.rsp_type = 7;
	nb.u.sysnum = 0xa1b2c3d4u;
	h = (struct spw_hdr){ .len = nb.rsp_len, .reqno = nb.rsp_reqno,
	    .cls = 2, .type = 7, .arg = 0xa1b2c3d4u };
	spw_hdr_encode(buf, &h);
	CHECK("header bytes are NetBSD's struct rsp_hdr", memcmp(buf, &nb, SPW_HDRSZ) == 0);
	spw_hdr_decode((const uint8_t *)&nb, &d);
	CHECK_EQ("decoded len", h.len, d.len);
	CHECK_EQ("decoded reqno", h.reqno, d.reqno);
	CHECK_EQ("decoded class", 2, d.cls);
	CHECK_EQ("decoded type", 7, d.type);
	CHECK_EQ("decoded arg", 0xa1b2c3d4u, d.arg);

	spw_hdr_make(buf, 4, 9, SPW_RESP, SPW_HANDSHAKE, 0);
	spw_hdr_decode(buf, &d);
	CHECK_EQ("made len counts the header", SPW_HDRSZ + 4, d.len);
	CHECK_EQ("made reqno", 9, d.reqno);
}

static void
test_copydata_sysresp_fork(void)
{
	struct nb_rsp_copydata nbc = { .rcp_len = 4096, .rcp_addr = (void *)(uintptr_t)0x7fff12345678ULL };
	struct spw_copydata c = { .len = 4096, .addr = 0x7fff12345678ULL }, cd;
	struct nb_rsp_sysresp nbr;
	struct spw_sysresp r = { .error = 2, .retval = { -1, 0x123456789LL } }, rd;
	struct nb_handshake_fork nbf = { .rf_auth = { 1, 0xdeadbeef, 3, 0xffffffff }, .rf_cancel = 1 };
	struct spw_hsfork f = { .auth = { 1, 0xdeadbeef, 3, 0xffffffff }, .cancel = 1 }, fd;
	uint8_t buf[64];

	spw_copydata_encode(buf, &c);
	CHECK("copydata bytes are NetBSD's", memcmp(buf, &nbc, SPW_COPYDATASZ) == 0);
	CHECK_EQ("copydata decodes", 0, spw_copydata_decode(buf, SPW_COPYDATASZ, &cd));
	CHECK_EQ("copydata addr", c.addr, cd.addr);
	CHECK_EQ("copydata short", -1, spw_copydata_decode(buf, SPW_COPYDATASZ - 1, &cd));

	memset(&nbr, 0, sizeof(nbr));	/* the padding after rsys_error is zero on the wire */
	nbr.rsys_error = 2;
	nbr.rsys_retval[0] = -1;
	nbr.rsys_retval[1] = 0x123456789LL;
	spw_sysresp_encode(buf, &r);
	CHECK("sysresp bytes are NetBSD's", memcmp(buf, &nbr, SPW_SYSRESPSZ) == 0);
	CHECK_EQ("sysresp decodes", 0, spw_sysresp_decode(buf, SPW_SYSRESPSZ, &rd));
	CHECK_EQ("sysresp error", 2, rd.error);
	CHECK_EQ("sysresp retval", -1, rd.retval[0]);
	CHECK_EQ("sysresp wrong size", -1, spw_sysresp_decode(buf, SPW_SYSRESPSZ + 1, &rd));

	spw_hsfork_encode(buf, &f);
	CHECK("handshake_fork bytes are NetBSD's", memcmp(buf, &nbf, SPW_HSFORKSZ) == 0);
	CHECK_EQ("hsfork decodes", 0, spw_hsfork_decode(buf, SPW_HSFORKSZ, &fd));
	CHECK_EQ("hsfork auth", 0xffffffffu, fd.auth[3]);
	CHECK_EQ("hsfork cancel", 1, fd.cancel);
	CHECK_EQ("hsfork short", -1, spw_hsfork_decode(buf, SPW_HSFORKSZ - 1, &fd));
}

static void
test_handshake_comm(void)
{
	uint8_t body[64];
	char comm[8];
	struct spw_hsext x = { .version = SPW_HSEXT_VERSION, .features = SPW_FEAT_ARGBUF }, xd;

	/* NetBSD's client: the name and its NUL, nothing else. */
	memcpy(body, "ls\0", 3);
	CHECK_EQ("plain comm: no extension", 0, spw_hscomm_decode(body, 3, comm, sizeof(comm), &xd));
	CHECK("plain comm name", strcmp(comm, "ls") == 0);

	/* This project's client: the extension block after the NUL. */
	memcpy(body, "cat\0", 4);
	spw_hsext_encode(body + 4, &x);
	CHECK_EQ("extension found", 1, spw_hscomm_decode(body, 4 + SPW_HSEXTSZ, comm, sizeof(comm), &xd));
	CHECK_EQ("extension version", SPW_HSEXT_VERSION, xd.version);
	CHECK_EQ("extension features", SPW_FEAT_ARGBUF, xd.features);
	CHECK("comm before the extension", strcmp(comm, "cat") == 0);
	CHECK_EQ("truncated extension ignored", 0, spw_hscomm_decode(body, 4 + SPW_HSEXTSZ - 1, comm, sizeof(comm), &xd));

	/* Padded to 16k+1 bytes (spw_hspad, for NetBSD's server): the block is still found. */
	memset(body + 4 + SPW_HSEXTSZ, 0, spw_hspad(4 + SPW_HSEXTSZ));
	CHECK_EQ("padding after the extension", 1, spw_hscomm_decode(body,
	    4 + SPW_HSEXTSZ + spw_hspad(4 + SPW_HSEXTSZ), comm, sizeof(comm), &xd));
	CHECK_EQ("extension features with padding", SPW_FEAT_ARGBUF, xd.features);
	for (size_t len = 1; len <= 64; len++) {
		CHECK("padded length is 16k+1", (len + spw_hspad(len)) % 16 == 1);
		CHECK("padding at most SPW_HSPADMAX", spw_hspad(len) <= SPW_HSPADMAX);
	}

	/* No NUL at all, and a name longer than the buffer. */
	memcpy(body, "abcdefghijkl", 12);
	CHECK_EQ("no NUL", 0, spw_hscomm_decode(body, 12, comm, sizeof(comm), &xd));
	CHECK("long name truncated", strcmp(comm, "abcdefg") == 0);
	CHECK_EQ("empty body", 0, spw_hscomm_decode(body, 0, comm, sizeof(comm), &xd));
	CHECK("empty name", comm[0] == '\0');
}

static void
test_banner(void)
{
	char b[SPW_MAXBANNER];
	char longname[128];
	int maj = -1, min = -1;
	size_t n;

	n = spw_banner_format(b, "NetBSD", "10.1", "amd64");
	CHECK_EQ("banner length", strlen("RUMPSP-0.4-NetBSD-10.1/amd64\n"), n);
	CHECK("banner text", memcmp(b, "RUMPSP-0.4-NetBSD-10.1/amd64\n", n) == 0);
	CHECK_EQ("banner parses", 0, spw_banner_parse(b, n, &maj, &min));
	CHECK_EQ("major", 0, maj);
	CHECK_EQ("minor", 4, min);
	CHECK_EQ("no newline", -1, spw_banner_parse(b, n - 1, &maj, &min));
	CHECK_EQ("two lines", -1, spw_banner_parse("RUMPSP-0.4-a\nb\n", 15, &maj, &min));
	CHECK_EQ("wrong prefix", -1, spw_banner_parse("RUMPXX-0.4-a-b/c\n", 17, &maj, &min));
	CHECK_EQ("no minor", -1, spw_banner_parse("RUMPSP-0.-a\n", 12, &maj, &min));
	CHECK_EQ("empty", -1, spw_banner_parse("", 0, &maj, &min));
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_EQ("too long to format", 0, spw_banner_format(b, longname, "1", "m"));
	CHECK_EQ("newline in a field", 0, spw_banner_format(b, "Net\nBSD", "1", "m"));
}

static void
test_syscallx(void)
{
	uint8_t args[24];
	const char *path = "/some/path";
	uint8_t data[4096];
	uint64_t addrs[2] = { 0x1000, 0x7f0000001234ULL };
	uint64_t lens[2] = { strlen(path) + 1, sizeof(data) };
	const void *ptrs[2] = { path, data };
	uint8_t *body;
	size_t n;
	struct spw_syscallx sx;
	int bad = 0;

	for (size_t i = 0; i < sizeof(args); i++)
		args[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	n = spw_syscallx_size(sizeof(args), lens, 2);
	CHECK_EQ("syscallx size", 8 + 24 + 16 + 16 + 16 + 4096, n);
	body = malloc(n);
	spw_syscallx_encode(body, args, sizeof(args), addrs, lens, ptrs, 2);
	CHECK_EQ("syscallx decodes", 0, spw_syscallx_decode(body, n, &sx));
	CHECK_EQ("argsize", sizeof(args), sx.argsize);
	CHECK("args", memcmp(sx.args, args, sizeof(args)) == 0);
	CHECK_EQ("nbufs", 2, sx.nbufs);
	CHECK_EQ("buf 0 addr", 0x1000, sx.bufs[0].addr);
	CHECK_EQ("buf 0 len", strlen(path) + 1, sx.bufs[0].len);
	CHECK("buf 0 data", strcmp((const char *)sx.bufs[0].data, path) == 0);
	CHECK("buf 1 data", memcmp(sx.bufs[1].data, data, sizeof(data)) == 0);

	/* Every truncation and every extension of a good body is malformed. */
	for (size_t cut = 0; cut < n; cut++)
		bad += spw_syscallx_decode(body, cut, &sx) == -1;
	CHECK_EQ("every truncation rejected", n, bad);
	body = realloc(body, n + 8);
	memset(body + n, 0, 8);
	CHECK_EQ("trailing bytes rejected", -1, spw_syscallx_decode(body, n + 8, &sx));

	/* Hostile sizes: a buffer length of 2^64-1, 2^32-1, too many buffers, a huge argsize. */
	spw_put64(body + 8 + 24 + 8, UINT64_MAX);
	CHECK_EQ("length 2^64-1", -1, spw_syscallx_decode(body, n, &sx));
	spw_put64(body + 8 + 24 + 8, 0xffffffffULL);
	CHECK_EQ("length 2^32-1", -1, spw_syscallx_decode(body, n, &sx));
	spw_put64(body + 8 + 24 + 8, lens[0]);
	spw_put64(body + 8 + 24, UINT64_MAX - 2);
	CHECK_EQ("address range wraps", -1, spw_syscallx_decode(body, n, &sx));
	spw_put64(body + 8 + 24, addrs[0]);
	spw_put32(body + 4, SPW_MAXBUFS + 1);
	CHECK_EQ("too many buffers", -1, spw_syscallx_decode(body, n, &sx));
	spw_put32(body + 4, 2);
	spw_put32(body, 0xffffffffu);
	CHECK_EQ("argsize 2^32-1", -1, spw_syscallx_decode(body, n, &sx));
	CHECK_EQ("size refuses a huge buffer", 0, spw_syscallx_size(8, (uint64_t[]){ UINT64_MAX }, 1));
	CHECK_EQ("size refuses too many buffers", 0, spw_syscallx_size(8, lens, SPW_MAXBUFS + 1));
	free(body);

	/* No buffers at all, no arguments at all. */
	n = spw_syscallx_size(0, NULL, 0);
	CHECK_EQ("empty syscallx size", 8, n);
	body = malloc(8);
	spw_syscallx_encode(body, "", 0, NULL, NULL, NULL, 0);
	CHECK_EQ("empty syscallx decodes", 0, spw_syscallx_decode(body, 8, &sx));
	free(body);
}

/* Random bytes through every decoder: nothing may read outside the buffer (run under ASan/valgrind to see it). */
static void
test_random(void)
{
	uint8_t *buf;
	struct spw_syscallx sx;
	struct spw_copydata c;
	struct spw_sysresp r;
	struct spw_hsfork f;
	struct spw_hsext x;
	char comm[17];
	int maj, min;
	unsigned seed = 12345;
	int accepted = 0;

	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % 200);

		buf = malloc(len ? len : 1);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rand_r(&seed);
		/* Plausible small counts, so that the decoder gets past its first checks. */
		if (len >= 8 && (i & 1)) {
			spw_put32(buf, (uint32_t)(rand_r(&seed) % 40));
			spw_put32(buf + 4, (uint32_t)(rand_r(&seed) % 4));
		}
		accepted += spw_syscallx_decode(buf, len, &sx) == 0;
		(void)spw_copydata_decode(buf, len, &c);
		(void)spw_sysresp_decode(buf, len, &r);
		(void)spw_hsfork_decode(buf, len, &f);
		(void)spw_hsext_decode(buf, len, &x);
		(void)spw_hscomm_decode(buf, len, comm, sizeof(comm), &x);
		(void)spw_banner_parse((const char *)buf, len, &maj, &min);
		free(buf);
	}
	CHECK("random bodies decoded without a crash", accepted >= 0);
}

static void
test_errmap(void)
{
	CHECK_EQ("NONE", 0, spw_errmap(SPW_ERR_NONE));
	CHECK("INVALID_PREFORK", spw_errmap(SPW_ERR_INVALID_PREFORK) != 0);
	CHECK("unknown error is still an error", spw_errmap(999) != 0);
}

int
main(void)
{
	test_layout();
	test_hdr();
	test_copydata_sysresp_fork();
	test_handshake_comm();
	test_banner();
	test_syscallx();
	test_random();
	test_errmap();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail == 0 ? 0 : 1;
}
