/*
 * Internal to librumpclient: what the generated system-call stubs
 * (rumpclient_syscalls.c) need beside <rump/rumpclient.h>.
 */
#ifndef RUMPCLIENT_INT_H
#define RUMPCLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

/* Sets errno to the host's value for the NetBSD errno nberr; returns -1 for the stub to return. */
int rumpclient__seterrno(int nberr);

/*
 * An input buffer of a system call: len bytes at addr, or (str) a string of at
 * most len bytes with its NUL.
 */
struct rumpclient__buf {
	const void *addr;
	size_t len;
	int str;
};

/*
 * rumpclient_syscall with the call's input buffers: a server with the
 * argument-buffer extension receives them with the request (SYSCALLX), so
 * its copyins of them take no round trip.  Buffers the program does not have
 * (a bad pointer), empty ones and those past 64 KiB in all are left for the
 * kernel to ask for as usual.
 */
int rumpclient__syscallb(int num, const void *data, size_t dlen, int64_t *retval,
    const struct rumpclient__buf *bufs, int nbufs);

#endif /* RUMPCLIENT_INT_H */
