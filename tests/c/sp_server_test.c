/*
 * The sysproxy server (hypercall/src/rumpuser_sp.c) through rump_server, with
 * a raw client (spclient.h): banner, GUEST handshake, system calls whose
 * copyin/copyinstr/copyout go over the wire, two clients at once (one blocked
 * in the kernel while the other is served), PREFORK and FORK sharing
 * descriptors, EXEC, a client that goes away in the middle of a call, the
 * argument-buffer extension (one round trip), TCP over IPv4 and IPv6, and the
 * ends: reboot from a client and SIGTERM, each removing the socket.
 *
 * usage: sp_server_test path/to/rump_server
 */
#include <sys/stat.h>
#include <pthread.h>

#include <rump/rumpdefs.h>
#include <rump/rump_syscalls.h>

#include "spclient.h"

/* NetBSD's errno values for the calls here (the wire carries NetBSD's). */
#define NB_ESRCH	3
#define NB_EBADF	9
#define NB_EFAULT	14
#define NB_ENAMETOOLONG	63

static const char *server_bin;

static void
start_server(const char *url)
{
	const char *args[] = { url, NULL };
	int rc = spc_run_server(server_bin, args);

	T_CHECK(rc == 0, "rump_server %s: expected exit status 0 once listening, got %d", url, rc);
}

static int
guest(struct spc *c, const char *path, const char *comm)
{
	if (spc_connect(c, path) != 0)
		return -1;
	return spc_guest(c, comm);
}

static long
sys0(struct spc *c, int num, int *err)
{
	long rv = -1;

	*err = spc_syscall(c, num, NULL, 0, &rv);
	return rv;
}

static void
test_files(struct spc *c)
{
	static const char msg[] = "hello, remote world";
	char buf[64], longpath[2048];
	uint64_t a[4];
	long rv = -1, fd;
	int e;

	a[0] = A("/f"); a[1] = RUMP_O_CREAT | RUMP_O_RDWR; a[2] = 0644;
	e = spc_syscall(c, RUMP_SYS_open, a, 3, &fd);
	T_CHECK(e == 0 && fd >= 0, "open(/f): expected a descriptor, got error %d rv %ld", e, fd);
	T_CHECK(c->ncopyinstr >= 1, "open: expected the path to come by COPYINSTR, got %d", c->ncopyinstr);

	a[0] = (uint64_t)fd; a[1] = A(msg); a[2] = sizeof(msg) - 1;
	e = spc_syscall(c, RUMP_SYS_write, a, 3, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(msg) - 1, "write: expected %zu, got error %d rv %ld", sizeof(msg) - 1, e, rv);
	T_CHECK(c->ncopyin >= 1, "write: expected the data to come by COPYIN, got %d", c->ncopyin);

	a[0] = (uint64_t)fd; a[1] = 0x5a5a; a[2] = 0; a[3] = 0;	/* lseek(fd, PAD, 0, SEEK_SET) */
	e = spc_syscall(c, RUMP_SYS_lseek, a, 4, &rv);
	T_CHECK(e == 0 && rv == 0, "lseek: expected 0, got error %d rv %ld", e, rv);

	memset(buf, 0, sizeof(buf));
	a[0] = (uint64_t)fd; a[1] = A(buf); a[2] = sizeof(buf);
	e = spc_syscall(c, RUMP_SYS_read, a, 3, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(msg) - 1 && memcmp(buf, msg, sizeof(msg) - 1) == 0,
	    "read: expected \"%s\", got error %d rv %ld \"%.*s\"", msg, e, rv, (int)sizeof(buf), buf);
	T_CHECK(c->ncopyout >= 1, "read: expected the data to go by COPYOUT, got %d", c->ncopyout);

	a[0] = (uint64_t)fd; a[1] = 0; a[2] = 8;
	e = spc_syscall(c, RUMP_SYS_read, a, 3, &rv);
	T_CHECK(e == 0 && rv == 0, "read at EOF into NULL: expected 0 bytes, got error %d rv %ld", e, rv);
	a[0] = (uint64_t)fd; a[1] = 0; a[2] = 8;
	e = spc_syscall(c, RUMP_SYS_write, a, 3, &rv);
	T_CHECK(e == NB_EFAULT, "write from NULL: expected EFAULT (%d), got %d", NB_EFAULT, e);

	/* A path longer than MAXPATHLEN: the copyinstr comes back full without a NUL. */
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	a[0] = A(longpath); a[1] = RUMP_O_RDONLY; a[2] = 0;
	e = spc_syscall(c, RUMP_SYS_open, a, 3, &rv);
	T_CHECK(e == NB_ENAMETOOLONG, "open of a 2047-byte path: expected ENAMETOOLONG (%d), got %d", NB_ENAMETOOLONG, e);

	a[0] = (uint64_t)fd;
	e = spc_syscall(c, RUMP_SYS_close, a, 1, &rv);
	T_CHECK(e == 0, "close: expected 0, got %d", e);
}

/* kill(pid, 0) from c until the process is gone: 1 if it went within T_HANG_MS. */
static int
wait_proc_gone(struct spc *c, long pid)
{
	struct timespec t0, t;
	uint64_t a[2] = { (uint64_t)pid, 0 };
	long rv;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (spc_syscall(c, RUMP_SYS_kill, a, 2, &rv) == NB_ESRCH)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > T_HANG_MS)
			return 0;
		sched_yield();
	}
}

static void
test_two_clients_and_disconnect(const char *path)
{
	struct spc a, b;
	long apid, bpid, rv;
	int fds[2] = { -1, -1 }, e;
	uint64_t args[3];
	char buf[8];

	T_CHECK(guest(&a, path, "clienta") == 0, "client a: handshake");
	T_CHECK(guest(&b, path, "clientb") == 0, "client b: handshake");
	apid = sys0(&a, RUMP_SYS_getpid, &e);
	bpid = sys0(&b, RUMP_SYS_getpid, &e);
	T_CHECK(apid > 1 && bpid > 1 && apid != bpid, "two clients: expected two processes, got pids %ld and %ld", apid, bpid);

	args[0] = A(fds); args[1] = 0;
	e = spc_syscall(&a, RUMP_SYS_pipe2, args, 2, &rv);
	T_CHECK(e == 0 && fds[0] >= 0 && fds[1] >= 0, "pipe2: expected two descriptors, got error %d (%d %d)", e, fds[0], fds[1]);
	args[0] = (uint64_t)fds[0];
	e = spc_syscall(&b, RUMP_SYS_close, args, 1, &rv);
	T_CHECK(e == NB_EBADF, "client b closing client a's descriptor: expected EBADF, got %d", e);

	/* a blocks in the kernel reading the empty pipe; b is served meanwhile. */
	{
		uint8_t body[24];

		spw_put64(body, (uint64_t)fds[0]);
		spw_put64(body + 8, A(buf));
		spw_put64(body + 16, sizeof(buf));
		T_CHECK(spc_sendframe(&a, a.nextreq++, SPW_REQ, SPW_SYSCALL, RUMP_SYS_read, body, sizeof(body)) == 0,
		    "client a: sending read");
	}
	rv = sys0(&b, RUMP_SYS_getpid, &e);
	T_CHECK(e == 0 && rv == bpid, "client b while a sleeps in the kernel: expected getpid %ld, got error %d rv %ld", bpid, e, rv);

	/* a goes away in the middle of its read: its process is released. */
	spc_close(&a);
	T_CHECK(wait_proc_gone(&b, apid), "the process of a client that disconnected mid-call (pid %ld) was not released", apid);
	spc_close(&b);
}

/*
 * One connection, requests in flight at once (a threaded client): a read asleep in the kernel
 * leaves the connection readable, so the getpid and the write sent after it are served, and
 * the write's data wakes the read.  The server thread running the read must not be the only
 * one reading the socket.
 */
static void
test_one_connection_pipelined(const char *path)
{
	static char rbuf[8];
	static const char msg[] = "wake";
	struct spc c;
	int fds[2] = { -1, -1 }, e, broken = 0, gotread = 0, gotwrite = 0;
	uint64_t args[3], rreq, wreq;
	uint8_t body[24];
	long rv, pid;

	T_CHECK(guest(&c, path, "pipelined") == 0, "pipelined client: handshake");
	pid = sys0(&c, RUMP_SYS_getpid, &e);
	args[0] = A(fds); args[1] = 0;
	e = spc_syscall(&c, RUMP_SYS_pipe2, args, 2, &rv);
	T_CHECK(e == 0, "pipe2: error %d", e);

	rreq = c.nextreq++;
	spw_put64(body, (uint64_t)fds[0]);
	spw_put64(body + 8, A(rbuf));
	spw_put64(body + 16, sizeof(rbuf));
	T_CHECK(spc_sendframe(&c, rreq, SPW_REQ, SPW_SYSCALL, RUMP_SYS_read, body, sizeof(body)) == 0,
	    "sending the read");
	rv = sys0(&c, RUMP_SYS_getpid, &e);
	T_CHECK(e == 0 && rv == pid, "getpid on the connection whose read sleeps: expected %ld, got error %d rv %ld",
	    pid, e, rv);

	wreq = c.nextreq++;
	spw_put64(body, (uint64_t)fds[1]);
	spw_put64(body + 8, A(msg));
	spw_put64(body + 16, 4);
	T_CHECK(spc_sendframe(&c, wreq, SPW_REQ, SPW_SYSCALL, RUMP_SYS_write, body, sizeof(body)) == 0,
	    "sending the write");
	/* Both answers, in either order; the server's COPYIN and COPYOUT are served meanwhile. */
	while (!broken && !(gotread && gotwrite)) {
		struct spw_hdr h;
		struct spw_sysresp r;
		uint8_t *b;

		if (spc_readframe(&c, &h, &b) != 0) {
			broken = 1;
			break;
		}
		if (h.cls == SPW_REQ) {
			broken = spc_serve(&c, &h, b) != 0;
		} else if (h.cls == SPW_RESP && h.type == SPW_SYSCALL &&
		    spw_sysresp_decode(b, (size_t)(h.len - SPW_HDRSZ), &r) == 0 &&
		    (h.reqno == rreq || h.reqno == wreq)) {
			T_CHECK(r.error == 0 && r.retval[0] == 4, "%s: expected 4 bytes, got error %d rv %lld",
			    h.reqno == rreq ? "read" : "write", r.error, (long long)r.retval[0]);
			if (h.reqno == rreq)
				gotread = 1;
			else
				gotwrite = 1;
		} else {
			broken = 1;
		}
		free(b);
	}
	T_CHECK(!broken && gotread && gotwrite, "read and write on one connection: connection broken %d, read %d, write %d",
	    broken, gotread, gotwrite);
	T_CHECK(memcmp(rbuf, msg, 4) == 0, "the read's data: expected \"wake\", got \"%.4s\"", rbuf);
	spc_close(&c);
}

/* 16 clients, each asleep in the kernel on its own empty pipe, and one more is served; all leave cleanly. */
static void
test_sixteen_sleepers(const char *path)
{
	enum { N = 16 };
	static struct spc cl[N];
	static char bufs[N][8];
	static int fds[N][2];
	long pids[N], rv;
	struct spc x;
	int e, ok = 1;

	for (int i = 0; i < N; i++) {
		uint64_t a[2] = { A(fds[i]), 0 };
		uint8_t body[24];

		if (guest(&cl[i], path, "sleeper") != 0 ||
		    (pids[i] = sys0(&cl[i], RUMP_SYS_getpid, &e), e != 0) ||
		    spc_syscall(&cl[i], RUMP_SYS_pipe2, a, 2, &rv) != 0) {
			ok = 0;
			break;
		}
		spw_put64(body, (uint64_t)fds[i][0]);
		spw_put64(body + 8, A(bufs[i]));
		spw_put64(body + 16, sizeof(bufs[i]));
		ok &= spc_sendframe(&cl[i], cl[i].nextreq++, SPW_REQ, SPW_SYSCALL, RUMP_SYS_read, body, sizeof(body)) == 0;
	}
	T_CHECK(ok, "16 clients each reading an empty pipe");
	T_CHECK(guest(&x, path, "seventeenth") == 0, "a 17th client: handshake");
	rv = sys0(&x, RUMP_SYS_getpid, &e);
	T_CHECK(e == 0 && rv > 1, "a 17th client while 16 sleep in the kernel: getpid error %d rv %ld", e, rv);
	for (int i = 0; i < N; i++)
		spc_close(&cl[i]);
	for (int i = 0; i < N; i++)
		T_CHECK(wait_proc_gone(&x, pids[i]), "sleeper %d (pid %ld) was not released after it disconnected", i, pids[i]);
	spc_close(&x);
}

static void
test_fork_exec(const char *path)
{
	static const char msg[] = "shared";
	struct spc p, ch, bad;
	uint8_t fb[SPW_HSFORKSZ], *rb;
	struct spw_hsfork f = { .cancel = 0 };
	struct spw_hdr h;
	uint64_t a[4], reqno;
	long fd, ppid, cpid, rv;
	char buf[16];
	int e;

	T_CHECK(guest(&p, path, "parent") == 0, "parent: handshake");
	ppid = sys0(&p, RUMP_SYS_getpid, &e);
	a[0] = A("/forkfile"); a[1] = RUMP_O_CREAT | RUMP_O_RDWR; a[2] = 0644;
	e = spc_syscall(&p, RUMP_SYS_open, a, 3, &fd);
	T_CHECK(e == 0, "parent: open: %d", e);
	a[0] = (uint64_t)fd; a[1] = A(msg); a[2] = sizeof(msg) - 1;
	e = spc_syscall(&p, RUMP_SYS_write, a, 3, &rv);

	reqno = p.nextreq++;
	T_CHECK(spc_sendframe(&p, reqno, SPW_REQ, SPW_PREFORK, 0, NULL, 0) == 0 &&
	    spc_readframe(&p, &h, &rb) == 0, "prefork: a response");
	T_CHECK(h.cls == SPW_RESP && h.type == SPW_PREFORK && h.reqno == reqno && h.len == SPW_HDRSZ + SPW_PREFORKRESPSZ,
	    "prefork: expected a 16-byte cookie, got class %u type %u len %llu", h.cls, h.type, (unsigned long long)h.len);
	if (rb != NULL && h.len == SPW_HDRSZ + SPW_PREFORKRESPSZ)
		for (int i = 0; i < SPW_AUTHLEN; i++)
			f.auth[i] = spw_get32(rb + 4 * i);
	free(rb);

	/* A wrong cookie: an error, and the connection closes. */
	T_CHECK(spc_connect(&bad, path) == 0, "connect");
	{
		struct spw_hsfork g = f;

		g.auth[0] ^= 1;
		spw_hsfork_encode(fb, &g);
		T_CHECK(spc_sendframe(&bad, 1, SPW_REQ, SPW_HANDSHAKE, SPW_HS_FORK, fb, sizeof(fb)) == 0 &&
		    spc_readframe(&bad, &h, &rb) == 0 && h.cls == SPW_ERROR && h.arg == SPW_ERR_INVALID_PREFORK,
		    "fork with a wrong cookie: expected error INVALID_PREFORK, got class %u arg %u", h.cls, h.arg);
		free(rb);
		T_CHECK(spc_closed_by_server(bad.fd), "fork with a wrong cookie: the server keeps the connection");
		spc_close(&bad);
	}

	/* The child's connection joins the preforked process. */
	T_CHECK(spc_connect(&ch, path) == 0, "connect");
	spw_hsfork_encode(fb, &f);
	reqno = ch.nextreq++;
	T_CHECK(spc_sendframe(&ch, reqno, SPW_REQ, SPW_HANDSHAKE, SPW_HS_FORK, fb, sizeof(fb)) == 0 &&
	    spc_readframe(&ch, &h, &rb) == 0 && h.cls == SPW_RESP && rb != NULL && spw_get32(rb) == 0,
	    "fork handshake: expected result 0, got class %u arg %u", h.cls, h.arg);
	free(rb);
	cpid = sys0(&ch, RUMP_SYS_getpid, &e);
	T_CHECK(e == 0 && cpid > 1 && cpid != ppid, "fork: expected a new pid, got %ld (parent %ld)", cpid, ppid);
	a[0] = (uint64_t)fd; a[1] = 0; a[2] = 0; a[3] = 0;
	e = spc_syscall(&ch, RUMP_SYS_lseek, a, 4, &rv);
	memset(buf, 0, sizeof(buf));
	a[0] = (uint64_t)fd; a[1] = A(buf); a[2] = sizeof(buf);
	e = spc_syscall(&ch, RUMP_SYS_read, a, 3, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(msg) - 1 && memcmp(buf, msg, sizeof(msg) - 1) == 0,
	    "fork: the child reads the parent's descriptor %ld: expected \"%s\", got error %d rv %ld", fd, msg, e, rv);
	/* The cookie is used up. */
	T_CHECK(spc_connect(&bad, path) == 0, "connect");
	T_CHECK(spc_sendframe(&bad, 1, SPW_REQ, SPW_HANDSHAKE, SPW_HS_FORK, fb, sizeof(fb)) == 0 &&
	    spc_readframe(&bad, &h, &rb) == 0 && h.cls == SPW_ERROR, "a cookie used twice: expected an error");
	free(rb);
	spc_close(&bad);

	/* exec: same process, same descriptors. */
	T_CHECK(spc_handshake(&ch, SPW_HS_EXEC, "newimage", 0, NULL) == 0, "exec handshake: expected result 0");
	rv = sys0(&ch, RUMP_SYS_getpid, &e);
	T_CHECK(e == 0 && rv == cpid, "after exec: expected pid %ld, got %ld (error %d)", cpid, rv, e);
	a[0] = (uint64_t)fd; a[1] = 0; a[2] = 0; a[3] = 0;
	e = spc_syscall(&ch, RUMP_SYS_lseek, a, 4, &rv);
	T_CHECK(e == 0, "after exec: the descriptor is still open (lseek error %d)", e);

	/* A parent that leaves right after its prefork: the child still joins (NetBSD's fork race). */
	reqno = p.nextreq++;
	T_CHECK(spc_sendframe(&p, reqno, SPW_REQ, SPW_PREFORK, 0, NULL, 0) == 0 &&
	    spc_readframe(&p, &h, &rb) == 0 && h.cls == SPW_RESP && h.len == SPW_HDRSZ + SPW_PREFORKRESPSZ,
	    "second prefork: a cookie");
	if (rb != NULL && h.len == SPW_HDRSZ + SPW_PREFORKRESPSZ)
		for (int i = 0; i < SPW_AUTHLEN; i++)
			f.auth[i] = spw_get32(rb + 4 * i);
	free(rb);
	spc_close(&p);
	T_CHECK(wait_proc_gone(&ch, ppid), "a parent gone with a prefork pending: its process (pid %ld) was not released", ppid);
	spc_close(&ch);
	T_CHECK(spc_connect(&ch, path) == 0, "connect");
	spw_hsfork_encode(fb, &f);
	T_CHECK(spc_sendframe(&ch, 1, SPW_REQ, SPW_HANDSHAKE, SPW_HS_FORK, fb, sizeof(fb)) == 0 &&
	    spc_readframe(&ch, &h, &rb) == 0 && h.cls == SPW_RESP && rb != NULL && spw_get32(rb) == 0,
	    "fork after the parent disconnected: expected result 0, got class %u arg %u", h.cls, h.arg);
	free(rb);
	a[0] = (uint64_t)fd; a[1] = 0; a[2] = 0; a[3] = 0;
	e = spc_syscall(&ch, RUMP_SYS_lseek, a, 4, &rv);
	T_CHECK(e == 0, "fork after the parent disconnected: the parent's descriptor %ld is open in the child (lseek error %d)", fd, e);
	spc_close(&ch);
}

/*
 * A client slow to answer a copy holds no file-system lock meanwhile: another
 * client reads the file while the first one's write waits for its data.  And
 * transfers larger than the kernel's bounce buffer arrive whole.
 */
static void
test_no_lock_across_copy(const char *path)
{
	static char big[200000], back[200000];
	static const char init[] = "initial";
	struct spc a, b;
	struct spw_hdr h;
	struct spw_copydata cd;
	uint8_t body[24], *rb;
	uint64_t args[4], reqno;
	long fda, fdb, rv = -1;
	char buf[64];
	int e, broken = 0;

	T_CHECK(guest(&a, path, "writer") == 0 && guest(&b, path, "reader") == 0, "two clients");
	args[0] = A("/lockfile"); args[1] = RUMP_O_CREAT | RUMP_O_RDWR | RUMP_O_TRUNC; args[2] = 0644;
	e = spc_syscall(&a, RUMP_SYS_open, args, 3, &fda);
	args[0] = (uint64_t)fda; args[1] = A(init); args[2] = sizeof(init) - 1;
	e |= spc_syscall(&a, RUMP_SYS_write, args, 3, &rv);
	args[0] = A("/lockfile"); args[1] = RUMP_O_RDONLY; args[2] = 0;
	e |= spc_syscall(&b, RUMP_SYS_open, args, 3, &fdb);
	T_CHECK(e == 0, "setup: open, write, open");

	/* a's write: the server asks for the data, and a keeps it waiting. */
	reqno = a.nextreq++;
	spw_put64(body, (uint64_t)fda);
	spw_put64(body + 8, A(big));
	spw_put64(body + 16, 100);
	T_CHECK(spc_sendframe(&a, reqno, SPW_REQ, SPW_SYSCALL, RUMP_SYS_write, body, sizeof(body)) == 0 &&
	    spc_readframe(&a, &h, &rb) == 0 && h.cls == SPW_REQ && h.type == SPW_COPYIN &&
	    spw_copydata_decode(rb, (size_t)(h.len - SPW_HDRSZ), &cd) == 0 && cd.len == 100,
	    "a's write: expected a COPYIN of 100 bytes, got class %u type %u", h.cls, h.type);
	free(rb);

	memset(buf, 0, sizeof(buf));
	args[0] = (uint64_t)fdb; args[1] = A(buf); args[2] = sizeof(buf);
	e = spc_syscall(&b, RUMP_SYS_read, args, 3, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(init) - 1 && memcmp(buf, init, sizeof(init) - 1) == 0,
	    "b reads the file while a's write waits for its data: expected \"%s\", got error %d rv %ld", init, e, rv);

	memset(big, 'q', 100);
	T_CHECK(spc_sendframe(&a, h.reqno, SPW_RESP, SPW_COPYIN, 0, big, 100) == 0, "a answers the copy");
	e = spc_wait_sysresp(&a, reqno, &rv, &broken);
	T_CHECK(e == 0 && rv == 100, "a's write: expected 100, got error %d rv %ld", e, rv);

	/* Larger than one bounce chunk, both ways. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	args[0] = (uint64_t)fda; args[1] = 0; args[2] = 0; args[3] = 0;
	e = spc_syscall(&a, RUMP_SYS_lseek, args, 4, &rv);
	args[0] = (uint64_t)fda; args[1] = A(big); args[2] = sizeof(big);
	e = spc_syscall(&a, RUMP_SYS_write, args, 3, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(big), "a %zu-byte write: got error %d rv %ld", sizeof(big), e, rv);
	args[0] = (uint64_t)fdb; args[1] = 0; args[2] = 0; args[3] = 0;
	e = spc_syscall(&b, RUMP_SYS_lseek, args, 4, &rv);
	args[0] = (uint64_t)fdb; args[1] = A(back); args[2] = sizeof(back);
	e = spc_syscall(&b, RUMP_SYS_read, args, 3, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(back) && memcmp(big, back, sizeof(big)) == 0,
	    "a %zu-byte read: got error %d rv %ld, %s", sizeof(back), e, rv,
	    memcmp(big, back, sizeof(big)) == 0 ? "same data" : "different data");
	spc_close(&a);
	spc_close(&b);
}

static void
test_argbuf_extension(const char *path)
{
	static const char data[] = "one round trip";
	const void *bufs[1];
	uint64_t lens[1], a[3];
	struct spc c;
	long fd = -1, rv = -1;
	int e;

	T_CHECK(spc_connect(&c, path) == 0, "connect");
	T_CHECK(spc_handshake(&c, SPW_HS_GUEST, "ext", 1, NULL) == 0, "guest handshake with the extension block");
	T_CHECK(c.features & SPW_FEAT_ARGBUF, "the server grants SPW_FEAT_ARGBUF: got features %#x", c.features);

	a[0] = A("/xfile"); a[1] = RUMP_O_CREAT | RUMP_O_RDWR; a[2] = 0644;
	bufs[0] = "/xfile"; lens[0] = 7;
	e = spc_syscallx(&c, RUMP_SYS_open, a, 3, bufs, lens, 1, &fd);
	T_CHECK(e == 0 && fd >= 0, "SYSCALLX open: got error %d", e);
	T_CHECK(c.ncopyinstr == 0, "SYSCALLX open: expected no COPYINSTR round trip, got %d", c.ncopyinstr);

	a[0] = (uint64_t)fd; a[1] = A(data); a[2] = sizeof(data) - 1;
	bufs[0] = data; lens[0] = sizeof(data) - 1;
	e = spc_syscallx(&c, RUMP_SYS_write, a, 3, bufs, lens, 1, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(data) - 1, "SYSCALLX write: expected %zu, got error %d rv %ld", sizeof(data) - 1, e, rv);
	T_CHECK(c.ncopyin == 0, "SYSCALLX write: expected no COPYIN round trip, got %d", c.ncopyin);

	/* A buffer that covers only part of what the kernel copies: the rest comes by round trip. */
	a[0] = (uint64_t)fd; a[1] = A(data); a[2] = sizeof(data) - 1;
	lens[0] = 3;
	e = spc_syscallx(&c, RUMP_SYS_write, a, 3, bufs, lens, 1, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(data) - 1 && c.ncopyin == 1,
	    "SYSCALLX write with a short buffer: expected one COPYIN, got error %d rv %ld copyins %d", e, rv, c.ncopyin);
	spc_close(&c);

	/* A client without the extension may not send SYSCALLX. */
	T_CHECK(guest(&c, path, "noext") == 0, "guest");
	T_CHECK(c.features == 0, "no extension asked, none granted: got %#x", c.features);
	e = spc_syscallx(&c, RUMP_SYS_getpid, a, 0, bufs, lens, 0, &rv);
	T_CHECK(e == EPIPE && spc_closed_by_server(c.fd), "SYSCALLX without the extension: expected the connection closed, got %d", e);
	spc_close(&c);
}

static void
test_tcp(const char *host, int family)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct spc c;
	char url[128];
	int s, port, e;
	long rv;

	/* A free port: the kernel's choice for a socket closed right away. */
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr);
		sl = sizeof(struct sockaddr_in);
	} else {
		inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr);
		sl = sizeof(struct sockaddr_in6);
	}
	s = socket(family, SOCK_STREAM, 0);
	T_CHECK(s != -1 && bind(s, (struct sockaddr *)&ss, sl) == 0 && getsockname(s, (struct sockaddr *)&ss, &sl) == 0,
	    "tcp %s: no free port (%s)", host, strerror(errno));
	close(s);
	port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
	snprintf(url, sizeof(url), family == AF_INET ? "tcp://%s:%d" : "tcp://[%s]:%d", host, port);
	start_server(url);
	T_CHECK(spc_connect_addr(&c, (struct sockaddr *)&ss, sl) == 0 && spc_guest(&c, "tcp") == 0, "%s: connect and handshake", url);
	rv = sys0(&c, RUMP_SYS_getpid, &e);
	T_CHECK(e == 0 && rv > 1, "%s: getpid: error %d rv %ld", url, e, rv);
	test_files(&c);
	{
		uint64_t a[2] = { 0, 0 };

		e = spc_syscall(&c, RUMP_SYS_reboot, a, 2, &rv);
		T_CHECK(e == 0, "%s: reboot: expected 0, got %d", url, e);
	}
	T_CHECK(spc_closed_by_server(c.fd), "%s: the server did not close after reboot", url);
	spc_close(&c);
}

/* Runs a shell command; its exit status. */
static int
sh(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/*
 * rump_server -d with an ext2 image made by mke2fs: a client mounts it, writes
 * a file and halts the kernel; the image is then clean for e2fsck -fn and has
 * the file for debugfs (the halt synced it).
 */
static void
test_disk_and_sync(const char *dir)
{
	static const char msg[] = "synced by the halt\n";
	char cmd[1024], url[400], dflag[512], path[300];
	struct rump_ufs_args ua = { .fspec = (char *)"/dev/img" };
	struct spc c;
	uint64_t a[5];
	long rv, fd;
	pid_t spid;
	int e;

	snprintf(cmd, sizeof(cmd), "mke2fs -q -F -t ext2 -b 1024 %s/img.ext2 4096 >/dev/null 2>&1", dir);
	if (sh(cmd) != 0) {
		T_CHECK(0, "mke2fs is needed for this test (tools/setup-debian.sh installs e2fsprogs)");
		return;
	}
	snprintf(path, sizeof(path), "%s/sock3", dir);
	snprintf(url, sizeof(url), "unix://%s", path);
	snprintf(dflag, sizeof(dflag), "key=/dev/img,hostpath=%s/img.ext2,size=host", dir);
	{
		const char *args[] = { "-d", dflag, url, NULL };
		int rc = spc_run_server(server_bin, args);

		T_CHECK(rc == 0, "rump_server -d %s: exit status %d", dflag, rc);
	}
	T_CHECK(guest(&c, path, "disk") == 0, "disk server: handshake");
	spid = spc_peer_pid(c.fd);
	a[0] = A("/mnt"); a[1] = 0755;
	e = spc_syscall(&c, RUMP_SYS_mkdir, a, 2, &rv);
	a[0] = A("ext2fs"); a[1] = A("/mnt"); a[2] = 0; a[3] = A(&ua); a[4] = sizeof(ua);
	e = spc_syscall(&c, RUMP_SYS_mount, a, 5, &rv);
	T_CHECK(e == 0, "mount of the -d disk by a remote client: error %d", e);
	a[0] = A("/mnt/hello"); a[1] = RUMP_O_CREAT | RUMP_O_RDWR; a[2] = 0644;
	e = spc_syscall(&c, RUMP_SYS_open, a, 3, &fd);
	a[0] = (uint64_t)fd; a[1] = A(msg); a[2] = sizeof(msg) - 1;
	e |= spc_syscall(&c, RUMP_SYS_write, a, 3, &rv);
	T_CHECK(e == 0 && rv == (long)sizeof(msg) - 1, "write on the mounted image: error %d rv %ld", e, rv);
	a[0] = 0; a[1] = 0;
	e = spc_syscall(&c, RUMP_SYS_reboot, a, 2, &rv);
	T_CHECK(e == 0, "reboot: %d", e);
	T_CHECK(spc_wait_exit(spid), "the disk server did not exit after the halt");
	spc_close(&c);
	snprintf(cmd, sizeof(cmd), "e2fsck -fn %s/img.ext2 >/dev/null 2>&1", dir);
	e = sh(cmd);
	T_CHECK(e == 0, "e2fsck -fn of the image after the halt: expected 0, got %d", e);
	snprintf(cmd, sizeof(cmd), "debugfs -R 'cat /hello' %s/img.ext2 2>/dev/null | grep -qx 'synced by the halt'", dir);
	T_CHECK(sh(cmd) == 0, "debugfs does not find /hello with its text in the image");
	snprintf(cmd, sizeof(cmd), "%s/img.ext2", dir);
	unlink(cmd);
}

/*
 * kill(2) of a client's own process: under the RAISE signal model (the default) NetBSD's kernel
 * sends the signal to the client as a RAISE request (rumpsig_raise: rump_sysproxy_raise for a
 * remote process), where librumpclient raises it.  Raising it in the server instead killed
 * rump_server (SIGUSR1) and every client with it.
 */
static void
test_kill_raise(const char *path, pid_t spid)
{
	struct spc c;
	uint64_t a[2];
	long pid, rv = -1;
	int e;

	T_CHECK(guest(&c, path, "raise") == 0, "kill: handshake");
	pid = sys0(&c, RUMP_SYS_getpid, &e);
	a[0] = (uint64_t)pid;
	a[1] = RUMP_SIGUSR1;
	c.nraise = 0;
	c.raisesig = 0;
	e = spc_syscall(&c, RUMP_SYS_kill, a, 2, &rv);
	T_CHECK(e == 0 && rv == 0, "kill(own pid, SIGUSR1): expected 0, got error %d rv %ld", e, rv);
	T_CHECK(c.nraise == 1 && c.raisesig == RUMP_SIGUSR1,
	    "kill(own pid, SIGUSR1): expected one RAISE of %d to the client, got %d (signal %u)",
	    RUMP_SIGUSR1, c.nraise, c.raisesig);
	T_CHECK(!spc_exited(spid), "the server (pid %d) died of the signal sent to its client's process",
	    (int)spid);
	spc_close(&c);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/sp_server_test.XXXXXX", path[256], path2[256];
	struct spc c, c2;
	struct stat st;
	pid_t spid;
	long pid, rv;
	int e;

	if (argc != 2) {
		fprintf(stderr, "usage: %s rump_server\n", argv[0]);
		return 2;
	}
	server_bin = argv[1];
	if (server_bin[0] != '/') {
		static char abs[512];

		snprintf(abs, sizeof(abs), "%s/%s", getcwd(path, sizeof(path)), argv[1]);
		server_bin = abs;
	}
	if (mkdtemp(dir) == NULL || chdir(dir) != 0) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/sock", dir);
	snprintf(path2, sizeof(path2), "%s/sock2", dir);

	/* A relative unix:// path; the command returns once the socket listens. */
	start_server("unix://sock");
	T_CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
	    "the socket: expected mode 0600, got %o", (unsigned)st.st_mode & 0777);
	T_CHECK(spc_connect(&c, path) == 0, "connect and banner: %s", strerror(errno));
	T_CHECK(c.major == SPW_PROTOMAJOR && c.minor == SPW_PROTOMINOR,
	    "banner: expected protocol %d.%d, got %d.%d", SPW_PROTOMAJOR, SPW_PROTOMINOR, c.major, c.minor);
	spid = spc_peer_pid(c.fd);
	T_CHECK(spid > 0, "the server's pid from the socket");

	/* A request before the handshake: error AUTH, connection closed. */
	{
		struct spw_hdr h;
		uint8_t *b;

		T_CHECK(spc_sendframe(&c, 7, SPW_REQ, SPW_SYSCALL, RUMP_SYS_getpid, NULL, 0) == 0 &&
		    spc_readframe(&c, &h, &b) == 0 && h.cls == SPW_ERROR && h.arg == SPW_ERR_AUTH && h.reqno == 7,
		    "a system call before the handshake: expected error AUTH for request 7, got class %u arg %u", h.cls, h.arg);
		free(b);
		T_CHECK(spc_closed_by_server(c.fd), "the server keeps a connection that skipped the handshake");
		spc_close(&c);
	}

	T_CHECK(guest(&c, path, "main") == 0, "guest handshake");
	pid = sys0(&c, RUMP_SYS_getpid, &e);
	T_CHECK(e == 0 && pid > 1, "getpid: expected a client process (pid > 1), got error %d pid %ld", e, pid);
	test_files(&c);
	/* NetBSD's own librumpclient answers a COPYINSTR with the type COPYIN: the same calls work. */
	c.netbsd_types = 1;
	test_files(&c);
	c.netbsd_types = 0;
	test_two_clients_and_disconnect(path);
	test_one_connection_pipelined(path);
	test_sixteen_sleepers(path);
	test_fork_exec(path);
	test_no_lock_across_copy(path);
	test_argbuf_extension(path);
	test_kill_raise(path, spid);

	/* reboot from a client: answered, then the server exits and removes its socket. */
	{
		uint64_t a[2] = { 0, 0 };

		e = spc_syscall(&c, RUMP_SYS_reboot, a, 2, &rv);
		T_CHECK(e == 0, "reboot: expected 0, got %d", e);
		T_CHECK(spc_wait_exit(spid), "the server (pid %d) did not exit after a client's reboot", (int)spid);
		T_CHECK(access(path, F_OK) == -1 && errno == ENOENT, "the socket is still there after the halt");
		spc_close(&c);
	}

	/* SIGTERM. */
	start_server("unix://sock2");
	T_CHECK(guest(&c2, path2, "sigterm") == 0, "second server: handshake");
	spid = spc_peer_pid(c2.fd);
	T_CHECK(spid > 0 && kill(spid, SIGTERM) == 0, "SIGTERM to the server");
	T_CHECK(spc_wait_exit(spid), "the server did not exit on SIGTERM");
	T_CHECK(spc_closed_by_server(c2.fd), "the client's connection after SIGTERM");
	T_CHECK(access(path2, F_OK) == -1, "the socket is still there after SIGTERM");
	spc_close(&c2);

	/* Bad URLs fail without detaching. */
	{
		const char *bad[] = { "tcp://1.2.3.4", "tcp://[::1:99", "nope://x", "tcp://300.1.1.1:5", "unix://", NULL };

		for (int i = 0; bad[i] != NULL; i++) {
			const char *args[] = { "-s", bad[i], NULL };
			int rc = spc_run_server(server_bin, args);

			T_CHECK(rc == 1, "rump_server %s: expected exit status 1, got %d", bad[i], rc);
		}
	}

	test_disk_and_sync(dir);
	test_tcp("127.0.0.1", AF_INET);
	test_tcp("::1", AF_INET6);

	rmdir(dir);
	return t_done();
}
