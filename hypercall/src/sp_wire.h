/*
 * sp_wire.h -- the wire format of NetBSD's syscall proxy (sysproxy), both ends.
 *
 * Pure encoding and decoding over byte buffers: no sockets, no allocation, no
 * state.  The server (rumpuser_sp.c, in the hypervisor) and the client
 * (librumpclient) compile this one module.
 *
 * The protocol is NetBSD's (lib/librumpuser/sp_common.c, rumpuser_sp.c,
 * lib/librumpclient/rumpclient.c), protocol version 0.4.  NetBSD writes its C
 * structures in the host's byte order and LP64 layout; this module writes the
 * same bytes field by field, little-endian, the byte order of every host this
 * project supports (x86-64, AArch64).
 *
 * A frame is a 24-byte header and a body of len - 24 bytes:
 *
 *	u64 len		the whole frame, header included
 *	u64 reqno	chosen by the requester, echoed by the response
 *	u16 class	SPW_REQ, SPW_RESP, SPW_ERROR
 *	u16 type	SPW_HANDSHAKE .. SPW_RAISE (a response keeps its request's)
 *	u32 arg		SYSCALL: the system call number; HANDSHAKE: the kind;
 *			RAISE: the signal; ERROR: an spw_err
 *
 * Before any frame the server sends a banner line,
 * "RUMPSP-<major>.<minor>-<ostype>-<osrelease>/<machine>\n", of at most
 * SPW_MAXBANNER - 1 bytes.
 *
 * Client to server requests: HANDSHAKE (GUEST: a new process, body the
 * command name with its NUL; FORK: body struct spw_hsfork, joins the process a
 * PREFORK made; EXEC: body the new command name, the process keeps its
 * descriptors), SYSCALL (body NetBSD's argument block), PREFORK (no body;
 * response: the 16-byte cookie).  Server to client requests, made while a
 * system call runs: COPYIN and COPYINSTR (body struct spw_copydata without
 * data; response: the bytes), COPYOUT and COPYOUTSTR (body copydata and the
 * bytes; no response), ANONMMAP (body u64 length; response: u64 address),
 * RAISE (no body, no response).
 *
 * Extension (this project's, negotiated so that NetBSD's clients and servers
 * keep working): a client appends struct spw_hsext after the NUL of the
 * command name of its GUEST or EXEC handshake (NetBSD's server reads only up
 * to the NUL) and after the 20 bytes of a FORK handshake when it knows the
 * server has the extension; the server appends its own spw_hsext, naming the
 * features it accepts, after the 4-byte result of its handshake response (NetBSD's
 * client reads only the result).  With SPW_FEAT_ARGBUF granted, the client
 * may send SPW_SYSCALLX requests: the argument block followed by the contents
 * of argument buffers the client knows the kernel will copy in (paths, write
 * data, structures), so that those copies take no round trip.
 */

#ifndef RUMP_SP_WIRE_H
#define RUMP_SP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define SPW_PROTOMAJOR	0
#define SPW_PROTOMINOR	4

#define SPW_HDRSZ	24
#define SPW_MAXBANNER	96

/* Frame classes */
enum spw_class { SPW_REQ = 0, SPW_RESP = 1, SPW_ERROR = 2 };

/* Frame types (NetBSD's order), and the extension's */
enum spw_type {
	SPW_HANDSHAKE = 0,
	SPW_SYSCALL = 1,
	SPW_COPYIN = 2,
	SPW_COPYINSTR = 3,
	SPW_COPYOUT = 4,
	SPW_COPYOUTSTR = 5,
	SPW_ANONMMAP = 6,
	SPW_PREFORK = 7,
	SPW_RAISE = 8,
	SPW_SYSCALLX = 64	/* extension: a system call with its buffers */
};

/* Handshake kinds (the header's arg) */
enum spw_handshake {
	SPW_HS_GUEST = 0,
	SPW_HS_AUTH = 1,	/* reserved by NetBSD, never implemented */
	SPW_HS_FORK = 2,
	SPW_HS_EXEC = 3
};

/* Error replies (class SPW_ERROR, the header's arg) */
enum spw_err {
	SPW_ERR_NONE = 0,
	SPW_ERR_TRYAGAIN = 1,
	SPW_ERR_AUTH = 2,
	SPW_ERR_INVALID_PREFORK = 3,
	SPW_ERR_RFORK_FAILED = 4,
	SPW_ERR_INEXEC = 5,
	SPW_ERR_NOMEM = 6,
	SPW_ERR_MALFORMED_REQUEST = 7
};

struct spw_hdr {
	uint64_t len;
	uint64_t reqno;
	uint16_t cls;
	uint16_t type;
	uint32_t arg;
};

/* COPYIN, COPYINSTR, COPYOUT, COPYOUTSTR: what, and where in the client. */
#define SPW_COPYDATASZ	16
struct spw_copydata {
	uint64_t len;
	uint64_t addr;
};

/* The body of a SYSCALL response: NetBSD's struct rsp_sysresp on LP64. */
#define SPW_SYSRESPSZ	24
struct spw_sysresp {
	int32_t error;		/* NetBSD errno */
	int64_t retval[2];
};

/* The body of a FORK handshake: the cookie of a PREFORK, and whether to cancel it. */
#define SPW_AUTHLEN	4
#define SPW_HSFORKSZ	20
struct spw_hsfork {
	uint32_t auth[SPW_AUTHLEN];
	int32_t cancel;
};
#define SPW_PREFORKRESPSZ	16

/* Handshake response body: the result, then (extension) the server's spw_hsext. */
#define SPW_HSRESPSZ	4

/* The extension's handshake block. */
#define SPW_HSEXTSZ	16
#define SPW_HSEXT_VERSION	1
#define SPW_FEAT_ARGBUF	0x1u	/* SPW_SYSCALLX requests */
struct spw_hsext {
	uint32_t version;
	uint32_t features;
};

/*
 * SPW_SYSCALLX body:
 *	u32 argsize, u32 nbufs,
 *	argsize bytes of arguments, padded to 8,
 *	nbufs times: u64 addr, u64 len, len bytes, padded to 8.
 */
#define SPW_SYSCALLX_FIXED	8
#define SPW_MAXARGSIZE		256	/* a plain argument block: NetBSD's is at most 9 slots */
#define SPW_MAXBUFS		16
#define SPW_BUFHDRSZ		16
struct spw_buf {
	uint64_t addr;
	uint64_t len;
	const uint8_t *data;	/* decoded: points into the body */
};
struct spw_syscallx {
	const uint8_t *args;
	uint32_t argsize;
	uint32_t nbufs;
	struct spw_buf bufs[SPW_MAXBUFS];
};

static inline size_t
spw_pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Little-endian fields. */
static inline void
spw_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
spw_put32(uint8_t *p, uint32_t v)
{
	spw_put16(p, (uint16_t)v);
	spw_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void
spw_put64(uint8_t *p, uint64_t v)
{
	spw_put32(p, (uint32_t)v);
	spw_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t
spw_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
spw_get32(const uint8_t *p)
{
	return (uint32_t)spw_get16(p) | ((uint32_t)spw_get16(p + 2) << 16);
}

static inline uint64_t
spw_get64(const uint8_t *p)
{
	return (uint64_t)spw_get32(p) | ((uint64_t)spw_get32(p + 4) << 32);
}

void spw_hdr_encode(uint8_t out[SPW_HDRSZ], const struct spw_hdr *h);
void spw_hdr_decode(const uint8_t in[SPW_HDRSZ], struct spw_hdr *h);
/* A header with every field given: the body length is len - SPW_HDRSZ. */
void spw_hdr_make(uint8_t out[SPW_HDRSZ], uint64_t bodylen, uint64_t reqno,
    uint16_t cls, uint16_t type, uint32_t arg);

void spw_copydata_encode(uint8_t out[SPW_COPYDATASZ], const struct spw_copydata *c);
/* 0, or -1 if len is not exactly SPW_COPYDATASZ (COPYOUT: at least, the data follows). */
int spw_copydata_decode(const uint8_t *in, size_t len, struct spw_copydata *c);

void spw_sysresp_encode(uint8_t out[SPW_SYSRESPSZ], const struct spw_sysresp *r);
int spw_sysresp_decode(const uint8_t *in, size_t len, struct spw_sysresp *r);

void spw_hsfork_encode(uint8_t out[SPW_HSFORKSZ], const struct spw_hsfork *f);
int spw_hsfork_decode(const uint8_t *in, size_t len, struct spw_hsfork *f);

void spw_hsext_encode(uint8_t out[SPW_HSEXTSZ], const struct spw_hsext *x);
/* 1 if in[0..len) is an extension block (and *x is filled), 0 if not. */
int spw_hsext_decode(const uint8_t *in, size_t len, struct spw_hsext *x);

/*
 * Zero bytes a client appends after its GUEST or EXEC handshake body of len
 * bytes so that the whole is 16k+1 bytes long: NetBSD's server stores a NUL
 * at body[len], one byte past the malloc(len) it reads the body into, and at
 * 16k+1 no common allocator's size class fits exactly, so the byte lands in
 * slack (NetBSD's own client sends at most 16 bytes, always in slack).
 */
#define SPW_HSPADMAX	15
static inline size_t
spw_hspad(size_t len)
{
	return (17 - len % 16) % 16;
}

/*
 * A GUEST or EXEC handshake body: the command name ends at the first NUL (or
 * the body's end); an extension block, then padding, may follow the NUL.  Copies the name,
 * truncated to commsz - 1 bytes, into comm.  Returns 1 if an extension block
 * follows (and fills *x), else 0.
 */
int spw_hscomm_decode(const uint8_t *in, size_t len, char *comm, size_t commsz,
    struct spw_hsext *x);

/*
 * The banner line; returns its length, or 0 if it would not fit in SPW_MAXBANNER - 1
 * bytes or a field holds a newline.
 */
size_t spw_banner_format(char out[SPW_MAXBANNER], const char *ostype,
    const char *osrelease, const char *machine);
/* 0 if in[0..len) is one banner line (ending with '\n'), with its version. */
int spw_banner_parse(const char *in, size_t len, int *major, int *minor);

/* The size of a SYSCALLX body with these parts; 0 on overflow or too many buffers. */
size_t spw_syscallx_size(uint32_t argsize, const uint64_t *buflens, uint32_t nbufs);
/*
 * Writes a SYSCALLX body of spw_syscallx_size() bytes into out; padding is
 * zero.  bufaddrs/buflens/bufdata describe nbufs buffers.
 */
void spw_syscallx_encode(uint8_t *out, const void *args, uint32_t argsize,
    const uint64_t *bufaddrs, const uint64_t *buflens,
    const void *const *bufdata, uint32_t nbufs);
/*
 * Decodes a SYSCALLX body: 0, or -1 if it is malformed (sizes that do not add
 * up to len exactly, argsize above SPW_MAXARGSIZE, more than SPW_MAXBUFS
 * buffers, a buffer whose address range wraps).  The views point into in.
 */
int spw_syscallx_decode(const uint8_t *in, size_t len, struct spw_syscallx *sx);

/* NetBSD client's mapping of an spw_err to an errno value (host names). */
int spw_errmap(uint32_t err);

#endif /* RUMP_SP_WIRE_H */
