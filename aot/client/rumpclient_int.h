/*
 * Internal to librumpclient: what the generated system-call stubs
 * (rumpclient_syscalls.c) need beside <rump/rumpclient.h>.
 */
#ifndef RUMPCLIENT_INT_H
#define RUMPCLIENT_INT_H

/* Sets errno to the host's value for the NetBSD errno nberr; returns -1 for the stub to return. */
int rumpclient__seterrno(int nberr);

#endif /* RUMPCLIENT_INT_H */
