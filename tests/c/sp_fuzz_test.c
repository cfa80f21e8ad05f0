/*
 * A protocol fuzzer against a running rump_server: thousands of malformed
 * conversations (random bytes, headers shorter than a header, lengths up to
 * 2^64-1, unknown classes and types, truncated bodies, answers to requests the
 * server never made, copy requests answered with the wrong size or type,
 * handshakes out of order, mutated good frames, clients vanishing in the middle
 * of a copy).  Each one must end with the server closing that connection (or
 * serving it correctly), and a good client must be served after every hundred
 * cases and at the end.  The sequence is reproducible: SP_FUZZ_SEED and
 * SP_FUZZ_CASES set the seed and the number of cases.
 *
 * usage: sp_fuzz_test path/to/rump_server
 */
#include <rump/rumpdefs.h>
#include <rump/rump_syscalls.h>

#include "spclient.h"

static uint64_t rng;

static uint64_t
rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static const char *sockpath;

/* A good client: handshake, getpid, a file written and read back. */
static int
good_client(void)
{
	static const char msg[] = "still serving";
	struct spc c;
	uint64_t a[4];
	long fd = -1, rv = -1;
	char buf[32];
	int ok = 1;

	if (spc_connect(&c, sockpath) != 0 || spc_guest(&c, "good") != 0)
		return 0;
	ok &= spc_syscall(&c, RUMP_SYS_getpid, NULL, 0, &rv) == 0 && rv > 1;
	a[0] = A("/good"); a[1] = RUMP_O_CREAT | RUMP_O_RDWR | RUMP_O_TRUNC; a[2] = 0644;
	ok &= spc_syscall(&c, RUMP_SYS_open, a, 3, &fd) == 0;
	a[0] = (uint64_t)fd; a[1] = A(msg); a[2] = sizeof(msg);
	ok &= spc_syscall(&c, RUMP_SYS_write, a, 3, &rv) == 0 && rv == sizeof(msg);
	a[0] = (uint64_t)fd; a[1] = 0; a[2] = 0; a[3] = 0;
	ok &= spc_syscall(&c, RUMP_SYS_lseek, a, 4, &rv) == 0;
	a[0] = (uint64_t)fd; a[1] = A(buf); a[2] = sizeof(buf);
	ok &= spc_syscall(&c, RUMP_SYS_read, a, 3, &rv) == 0 && rv == sizeof(msg) && memcmp(buf, msg, sizeof(msg)) == 0;
	a[0] = (uint64_t)fd;
	ok &= spc_syscall(&c, RUMP_SYS_close, a, 1, &rv) == 0;
	spc_close(&c);
	return ok;
}

static void
hdr(uint8_t *b, uint64_t len, uint64_t reqno, uint16_t cls, uint16_t type, uint32_t arg)
{
	struct spw_hdr h = { .len = len, .reqno = reqno, .cls = cls, .type = type, .arg = arg };

	spw_hdr_encode(b, &h);
}

/* Sends an open() and reads the server's COPYINSTR request for its path: its header. */
static int
start_copy(struct spc *c, int num, struct spw_hdr *req, struct spw_copydata *cd)
{
	static const char data[] = "0123456789abcdef";
	uint64_t a[3];
	uint8_t body[24], *b;

	if (num == RUMP_SYS_open) {
		a[0] = A("/fuzzpath"); a[1] = RUMP_O_RDONLY; a[2] = 0;
	} else {
		a[0] = 0; a[1] = A(data); a[2] = sizeof(data);	/* write(0, ...): a COPYIN? only with a descriptor */
	}
	for (int i = 0; i < 3; i++)
		spw_put64(body + 8 * i, a[i]);
	if (spc_sendframe(c, c->nextreq++, SPW_REQ, SPW_SYSCALL, (uint32_t)num, body, sizeof(body)) != 0 ||
	    spc_readframe(c, req, &b) != 0)
		return -1;
	if (req->cls != SPW_REQ || (req->type != SPW_COPYIN && req->type != SPW_COPYINSTR) ||
	    spw_copydata_decode(b, (size_t)(req->len - SPW_HDRSZ), cd) != 0) {
		free(b);
		return -1;
	}
	free(b);
	return 0;
}

/* One malformed conversation.  Returns 1 if the server behaved (closed, or served it correctly). */
static int
fuzz_case(unsigned kind, char *what, size_t wlen)
{
	struct spc c;
	uint8_t buf[512];
	size_t n;
	int handshaken = 0;

	if (spc_connect(&c, sockpath) != 0) {
		snprintf(what, wlen, "connect");
		return 0;
	}
	/* Half the cases speak after a good handshake, half before. */
	if (kind % 2 == 1 && kind != 11) {
		if (spc_guest(&c, "fuzz") != 0) {
			snprintf(what, wlen, "handshake");
			spc_close(&c);
			return 0;
		}
		handshaken = 1;
	}
	switch (kind / 2) {
	case 0:		/* random bytes */
		n = 1 + rnd() % 200;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd();
		snprintf(what, wlen, "%zu random bytes (handshake %d)", n, handshaken);
		(void)spc_writen(c.fd, buf, n);
		shutdown(c.fd, SHUT_WR);	/* a frame may still be incomplete */
		break;
	case 1: {	/* a frame length shorter than a header */
		uint64_t len = rnd() % SPW_HDRSZ;

		hdr(buf, len, rnd(), (uint16_t)(rnd() % 3), (uint16_t)(rnd() % 9), (uint32_t)rnd());
		snprintf(what, wlen, "frame length %llu", (unsigned long long)len);
		(void)spc_writen(c.fd, buf, SPW_HDRSZ);
		break;
	}
	case 2: {	/* huge lengths, every class and type */
		static const uint64_t huge[] = { UINT64_MAX, 0xffffffffull, 1ull << 63, (1ull << 32) + 24, 1ull << 40, (64ull << 20) };
		uint64_t len = huge[rnd() % 6];
		uint16_t cls = (uint16_t)(rnd() % 3), type = (uint16_t)(rnd() % 9);

		hdr(buf, len, 1, cls, type, (uint32_t)(rnd() % 4));
		snprintf(what, wlen, "length %#llx class %u type %u", (unsigned long long)len, cls, type);
		(void)spc_writen(c.fd, buf, SPW_HDRSZ);
		break;
	}
	case 3: {	/* unknown classes and types */
		uint16_t cls = (uint16_t)(rnd() % 2 ? 3 + rnd() % 65533 : SPW_REQ);
		uint16_t type = (uint16_t)(cls == SPW_REQ ? 9 + rnd() % 50 : rnd());

		if (type == SPW_SYSCALLX)
			type++;
		hdr(buf, SPW_HDRSZ, 1, cls, type, 0);
		snprintf(what, wlen, "class %u type %u", cls, type);
		(void)spc_writen(c.fd, buf, SPW_HDRSZ);
		break;
	}
	case 4: {	/* a truncated body, then the client stops writing */
		uint16_t type = handshaken ? SPW_SYSCALL : SPW_HANDSHAKE;
		uint64_t blen = 8 + rnd() % 100;

		hdr(buf, SPW_HDRSZ + blen, 1, SPW_REQ, type, handshaken ? RUMP_SYS_getpid : SPW_HS_GUEST);
		memset(buf + SPW_HDRSZ, 'a', sizeof(buf) - SPW_HDRSZ);
		snprintf(what, wlen, "a %llu-byte body cut short", (unsigned long long)blen);
		(void)spc_writen(c.fd, buf, SPW_HDRSZ + (size_t)(rnd() % blen));
		shutdown(c.fd, SHUT_WR);
		break;
	}
	case 5: {	/* an answer to a request never made */
		uint16_t cls = rnd() % 2 ? SPW_RESP : SPW_ERROR;
		uint16_t type = (uint16_t)(rnd() % 9);
		uint64_t blen = rnd() % 64;

		hdr(buf, SPW_HDRSZ + blen, rnd() % 8, cls, type, 0);
		memset(buf + SPW_HDRSZ, 0, 64);
		snprintf(what, wlen, "class %u type %u reqno never asked", cls, type);
		(void)spc_writen(c.fd, buf, SPW_HDRSZ + (size_t)blen);
		break;
	}
	case 6: {	/* a copy request answered wrongly: size, type, class, or not at all */
		struct spw_hdr req;
		struct spw_copydata cd;
		unsigned how = (unsigned)(rnd() % 5);

		if (!handshaken) {
			/* a handshake of an unknown kind, or a second GUEST after a good one */
			hdr(buf, SPW_HDRSZ + 5, 1, SPW_REQ, SPW_HANDSHAKE, 4 + (uint32_t)(rnd() % 100));
			memcpy(buf + SPW_HDRSZ, "fuzz", 5);
			snprintf(what, wlen, "handshake kind %u", spw_get32(buf + 20));
			(void)spc_writen(c.fd, buf, SPW_HDRSZ + 5);
			break;
		}
		if (start_copy(&c, RUMP_SYS_open, &req, &cd) != 0) {
			snprintf(what, wlen, "open did not ask for its path");
			spc_close(&c);
			return 0;
		}
		switch (how) {
		case 0:		/* longer than asked */
			snprintf(what, wlen, "COPYINSTR of %llu answered with %llu bytes",
			    (unsigned long long)cd.len, (unsigned long long)cd.len + 1);
			hdr(buf, SPW_HDRSZ + cd.len + 1, req.reqno, SPW_RESP, req.type, 0);
			(void)spc_writen(c.fd, buf, SPW_HDRSZ);
			for (uint64_t left = cd.len + 1; left > 0;) {
				size_t k = left > 256 ? 256 : (size_t)left;

				memset(buf, 'x', k);
				if (spc_writen(c.fd, buf, k) != 0)
					break;
				left -= k;
			}
			break;
		case 1:		/* the wrong type */
			snprintf(what, wlen, "COPYINSTR answered as ANONMMAP");
			hdr(buf, SPW_HDRSZ + 8, req.reqno, SPW_RESP, SPW_ANONMMAP, 0);
			(void)spc_writen(c.fd, buf, SPW_HDRSZ + 8);
			break;
		case 2:		/* an error frame with a body */
			snprintf(what, wlen, "COPYINSTR answered by an error frame with a body");
			hdr(buf, SPW_HDRSZ + 4, req.reqno, SPW_ERROR, 0, 1);
			(void)spc_writen(c.fd, buf, SPW_HDRSZ + 4);
			break;
		case 3:		/* answered twice */
			snprintf(what, wlen, "COPYINSTR answered twice");
			hdr(buf, SPW_HDRSZ + 2, req.reqno, SPW_RESP, req.type, 0);
			memcpy(buf + SPW_HDRSZ, "/\0", 2);
			(void)spc_writen(c.fd, buf, SPW_HDRSZ + 2);
			(void)spc_writen(c.fd, buf, SPW_HDRSZ + 2);
			break;
		default:	/* the client vanishes in the middle of the copy */
			snprintf(what, wlen, "client gone during COPYINSTR");
			spc_close(&c);
			return 1;
		}
		break;
	}
	default: {	/* a good frame with one byte of its header changed */
		uint8_t body[8];

		spw_put64(body, 0);
		if (handshaken)
			hdr(buf, SPW_HDRSZ, 1, SPW_REQ, SPW_SYSCALL, RUMP_SYS_getpid);
		else {
			hdr(buf, SPW_HDRSZ + 5, 1, SPW_REQ, SPW_HANDSHAKE, SPW_HS_GUEST);
			memcpy(buf + SPW_HDRSZ, "fuzz", 5);
		}
		n = rnd() % SPW_HDRSZ;
		buf[n] ^= (uint8_t)(1 + rnd() % 255);
		snprintf(what, wlen, "header byte %zu changed to %#x (handshake %d)", n, buf[n], handshaken);
		(void)spc_writen(c.fd, buf, SPW_HDRSZ + (handshaken ? 0 : 5));
		(void)body;
		/* Some changes leave a valid frame (a different reqno): then it is served. */
		shutdown(c.fd, SHUT_WR);
		break;
	}
	}
	/* Whatever it sent, the server ends this connection: answer it or not, then close. */
	if (!spc_closed_by_server(c.fd)) {
		shutdown(c.fd, SHUT_WR);
		if (!spc_closed_by_server(c.fd)) {
			spc_close(&c);
			return 0;
		}
	}
	spc_close(&c);
	return 1;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/sp_fuzz_test.XXXXXX", path[256], what[256];
	/* -v keeps the server's stderr: its messages show in the test's output. */
	const char *args[] = { "-v", "unix://sock", NULL };
	const char *e;
	long ncases = 3000;
	struct spc c;
	pid_t spid;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s rump_server\n", argv[0]);
		return 2;
	}
	rng = (e = getenv("SP_FUZZ_SEED")) != NULL ? strtoull(e, NULL, 0) : 0x5eed5eedull;
	if (rng == 0)
		rng = 1;
	if ((e = getenv("SP_FUZZ_CASES")) != NULL)
		ncases = strtol(e, NULL, 0);
	if (mkdtemp(dir) == NULL || chdir(dir) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/sock", dir);
	sockpath = path;
	/* SP_FUZZ_SOCK: a server started by hand (under a debugger). */
	if ((e = getenv("SP_FUZZ_SOCK")) != NULL) {
		snprintf(path, sizeof(path), "%s", e);
		rc = 0;
	} else {
		char abs[512];

		if (argv[1][0] != '/') {
			fprintf(stderr, "the server path must be absolute\n");
			return 2;
		}
		snprintf(abs, sizeof(abs), "%s", argv[1]);
		rc = spc_run_server(abs, args);
	}
	T_CHECK(rc == 0, "rump_server: expected exit status 0 once listening, got %d", rc);
	T_CHECK(spc_connect(&c, path) == 0, "connect");
	spid = spc_peer_pid(c.fd);
	spc_close(&c);
	T_CHECK(good_client(), "a good client before the fuzzing");

	for (long i = 0; i < ncases; i++) {
		unsigned kind = (unsigned)(rnd() % 16);

		struct timespec t0, t1;
		int ok;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ok = fuzz_case(kind, what, sizeof(what));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (getenv("SP_FUZZ_VERBOSE") != NULL)
			fprintf(stderr, "case %ld (kind %u, %ld us): %s\n", i, kind,
			    (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000), what);
		if (!ok)
			T_CHECK(0, "case %ld (kind %u): %s: the server did not close the connection", i, kind, what);
		else
			t_npass++;
		if (i % 100 == 99)
			T_CHECK(good_client(), "after case %ld (%s): a good client is not served", i, what);
		if (spc_exited(spid)) {
			T_CHECK(0, "after case %ld (%s): the server died", i, what);
			break;
		}
	}
	T_CHECK(good_client(), "a good client after %ld cases", ncases);

	if (spid > 0 && kill(spid, SIGTERM) == 0)
		T_CHECK(spc_wait_exit(spid), "the server did not exit on SIGTERM");
	rmdir(dir);
	return t_done();
}
