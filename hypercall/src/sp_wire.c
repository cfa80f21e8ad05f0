/*
 * The sysproxy wire format: see sp_wire.h.  Every decoder checks the length
 * it is given before reading a byte.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sp_wire.h"

/* The extension block starts with these 8 bytes. */
static const uint8_t hsext_magic[8] = { 'R', 'U', 'M', 'P', 'S', 'P', 'X', 0 };

void
spw_hdr_encode(uint8_t out[SPW_HDRSZ], const struct spw_hdr *h)
{
	spw_put64(out, h->len);
	spw_put64(out + 8, h->reqno);
	spw_put16(out + 16, h->cls);
	spw_put16(out + 18, h->type);
	spw_put32(out + 20, h->arg);
}

void
spw_hdr_decode(const uint8_t in[SPW_HDRSZ], struct spw_hdr *h)
{
	h->len = spw_get64(in);
	h->reqno = spw_get64(in + 8);
	h->cls = spw_get16(in + 16);
	h->type = spw_get16(in + 18);
	h->arg = spw_get32(in + 20);
}

void
spw_hdr_make(uint8_t out[SPW_HDRSZ], uint64_t bodylen, uint64_t reqno,
    uint16_t cls, uint16_t type, uint32_t arg)
{
	struct spw_hdr h = {
		.len = SPW_HDRSZ + bodylen, .reqno = reqno,
		.cls = cls, .type = type, .arg = arg,
	};

	spw_hdr_encode(out, &h);
}

void
spw_copydata_encode(uint8_t out[SPW_COPYDATASZ], const struct spw_copydata *c)
{
	spw_put64(out, c->len);
	spw_put64(out + 8, c->addr);
}

int
spw_copydata_decode(const uint8_t *in, size_t len, struct spw_copydata *c)
{
	if (len < SPW_COPYDATASZ)
		return -1;
	c->len = spw_get64(in);
	c->addr = spw_get64(in + 8);
	return 0;
}

void
spw_sysresp_encode(uint8_t out[SPW_SYSRESPSZ], const struct spw_sysresp *r)
{
	spw_put32(out, (uint32_t)r->error);
	spw_put32(out + 4, 0);		/* the C structure's padding */
	spw_put64(out + 8, (uint64_t)r->retval[0]);
	spw_put64(out + 16, (uint64_t)r->retval[1]);
}

int
spw_sysresp_decode(const uint8_t *in, size_t len, struct spw_sysresp *r)
{
	if (len != SPW_SYSRESPSZ)
		return -1;
	r->error = (int32_t)spw_get32(in);
	r->retval[0] = (int64_t)spw_get64(in + 8);
	r->retval[1] = (int64_t)spw_get64(in + 16);
	return 0;
}

void
spw_hsfork_encode(uint8_t out[SPW_HSFORKSZ], const struct spw_hsfork *f)
{
	for (int i = 0; i < SPW_AUTHLEN; i++)
		spw_put32(out + 4 * i, f->auth[i]);
	spw_put32(out + 16, (uint32_t)f->cancel);
}

int
spw_hsfork_decode(const uint8_t *in, size_t len, struct spw_hsfork *f)
{
	if (len < SPW_HSFORKSZ)
		return -1;
	for (int i = 0; i < SPW_AUTHLEN; i++)
		f->auth[i] = spw_get32(in + 4 * i);
	f->cancel = (int32_t)spw_get32(in + 16);
	return 0;
}

void
spw_hsext_encode(uint8_t out[SPW_HSEXTSZ], const struct spw_hsext *x)
{
	memcpy(out, hsext_magic, sizeof(hsext_magic));
	spw_put32(out + 8, x->version);
	spw_put32(out + 12, x->features);
}

int
spw_hsext_decode(const uint8_t *in, size_t len, struct spw_hsext *x)
{
	if (len < SPW_HSEXTSZ || memcmp(in, hsext_magic, sizeof(hsext_magic)) != 0)
		return 0;
	x->version = spw_get32(in + 8);
	x->features = spw_get32(in + 12);
	return 1;
}

int
spw_hscomm_decode(const uint8_t *in, size_t len, char *comm, size_t commsz,
    struct spw_hsext *x)
{
	const uint8_t *nul = memchr(in, 0, len);
	size_t n = nul != NULL ? (size_t)(nul - in) : len;
	size_t keep = n < commsz - 1 ? n : commsz - 1;

	memcpy(comm, in, keep);
	comm[keep] = '\0';
	if (nul == NULL)
		return 0;
	return spw_hsext_decode(nul + 1, len - n - 1, x);
}

size_t
spw_banner_format(char out[SPW_MAXBANNER], const char *ostype,
    const char *osrelease, const char *machine)
{
	int n;

	if (strchr(ostype, '\n') || strchr(osrelease, '\n') || strchr(machine, '\n'))
		return 0;
	n = snprintf(out, SPW_MAXBANNER, "RUMPSP-%d.%d-%s-%s/%s\n",
	    SPW_PROTOMAJOR, SPW_PROTOMINOR, ostype, osrelease, machine);
	/* NetBSD's client reads the banner with one read of SPW_MAXBANNER - 1 bytes. */
	if (n < 0 || n > SPW_MAXBANNER - 1)
		return 0;
	return (size_t)n;
}

int
spw_banner_parse(const char *in, size_t len, int *major, int *minor)
{
	static const char prefix[] = "RUMPSP-";
	size_t i = sizeof(prefix) - 1;
	int v[2];

	if (len == 0 || len > SPW_MAXBANNER - 1 || in[len - 1] != '\n')
		return -1;
	if (memchr(in, '\n', len - 1) != NULL || len < i ||
	    memcmp(in, prefix, i) != 0)
		return -1;
	for (int k = 0; k < 2; k++) {
		size_t start = i;

		v[k] = 0;
		while (i < len && in[i] >= '0' && in[i] <= '9' && i - start < 6)
			v[k] = v[k] * 10 + (in[i++] - '0');
		if (i == start || i >= len || in[i] != (k == 0 ? '.' : '-'))
			return -1;
		i++;
	}
	*major = v[0];
	*minor = v[1];
	return 0;
}

size_t
spw_syscallx_size(uint32_t argsize, const uint64_t *buflens, uint32_t nbufs)
{
	size_t n;

	if (argsize > SPW_MAXARGSIZE || nbufs > SPW_MAXBUFS)
		return 0;
	n = SPW_SYSCALLX_FIXED + spw_pad8(argsize);
	for (uint32_t i = 0; i < nbufs; i++) {
		/* No buffer may be near SIZE_MAX: the padding must not wrap. */
		if (buflens[i] > SIZE_MAX / 4 || n > SIZE_MAX / 4)
			return 0;
		n += SPW_BUFHDRSZ + spw_pad8((size_t)buflens[i]);
	}
	return n;
}

void
spw_syscallx_encode(uint8_t *out, const void *args, uint32_t argsize,
    const uint64_t *bufaddrs, const uint64_t *buflens,
    const void *const *bufdata, uint32_t nbufs)
{
	size_t off, padded;

	spw_put32(out, argsize);
	spw_put32(out + 4, nbufs);
	off = SPW_SYSCALLX_FIXED;
	padded = spw_pad8(argsize);
	memcpy(out + off, args, argsize);
	memset(out + off + argsize, 0, padded - argsize);
	off += padded;
	for (uint32_t i = 0; i < nbufs; i++) {
		size_t blen = (size_t)buflens[i];

		spw_put64(out + off, bufaddrs[i]);
		spw_put64(out + off + 8, buflens[i]);
		off += SPW_BUFHDRSZ;
		padded = spw_pad8(blen);
		if (blen > 0)
			memcpy(out + off, bufdata[i], blen);
		memset(out + off + blen, 0, padded - blen);
		off += padded;
	}
}

int
spw_syscallx_decode(const uint8_t *in, size_t len, struct spw_syscallx *sx)
{
	size_t off, padded;

	if (len < SPW_SYSCALLX_FIXED)
		return -1;
	sx->argsize = spw_get32(in);
	sx->nbufs = spw_get32(in + 4);
	if (sx->argsize > SPW_MAXARGSIZE || sx->nbufs > SPW_MAXBUFS)
		return -1;
	off = SPW_SYSCALLX_FIXED;
	padded = spw_pad8(sx->argsize);
	if (len - off < padded)
		return -1;
	sx->args = in + off;
	off += padded;
	for (uint32_t i = 0; i < sx->nbufs; i++) {
		struct spw_buf *b = &sx->bufs[i];

		if (len - off < SPW_BUFHDRSZ)
			return -1;
		b->addr = spw_get64(in + off);
		b->len = spw_get64(in + off + 8);
		off += SPW_BUFHDRSZ;
		/* Checked against what is left before padding, so that it cannot wrap. */
		if (b->len > len - off)
			return -1;
		padded = spw_pad8((size_t)b->len);
		if (padded > len - off)
			return -1;
		if (b->addr + b->len < b->addr)
			return -1;
		b->data = in + off;
		off += padded;
	}
	return off == len ? 0 : -1;
}

int
spw_errmap(uint32_t err)
{
	switch ((enum spw_err)err) {
	case SPW_ERR_NONE:		return 0;
	case SPW_ERR_TRYAGAIN:		return EAGAIN;
	case SPW_ERR_AUTH:		return EPERM;
	case SPW_ERR_INVALID_PREFORK:	return ESRCH;
	case SPW_ERR_RFORK_FAILED:	return EIO;
	case SPW_ERR_INEXEC:		return EBUSY;
	case SPW_ERR_NOMEM:		return ENOMEM;
	case SPW_ERR_MALFORMED_REQUEST:	return EINVAL;
	}
	return EINVAL;
}
