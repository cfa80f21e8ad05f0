/*
 * The sockin component hypercalls (librumpuser_sockin.so): the rump kernel's AF_INET and
 * AF_INET6 sockets served by the host's TCP/IP stack, as NetBSD's libsockin (rumpcomp_user.c).
 *
 * Everything crossing this interface is in NetBSD's terms: addresses are NetBSD struct sockaddrs
 * (sa_len first, AF_INET6 is 24), levels and option names are NetBSD's (SOL_SOCKET 0xffff,
 * SO_REUSEADDR 0x4 ...), and every routine returns 0 or a NetBSD errno. The library translates
 * to and from the host's.
 *
 * Host sockets are non-blocking: no routine here waits, except rumpsockin_fini (it joins the
 * poller). Readiness comes from the poller thread, an epoll loop: rumpsockin_watch arms a socket
 * for one report (EPOLLONESHOT) of the events asked; the poller then calls up->ready on its own
 * thread with the cookie given and the events seen (ERR/HUP report as both directions), and the
 * socket stays quiet until armed again. A cookie is the caller's name for a socket: reports may
 * still arrive for a cookie after rumpsockin_unwatch, so cookies should never be reused.
 */
#ifndef RUMP_RUMPUSER_SOCKIN_H
#define RUMP_RUMPUSER_SOCKIN_H

#include <stddef.h>
#include <stdint.h>

#define RUMPSOCKIN_VERSION 1

#define RUMPSOCKIN_IN  0x1
#define RUMPSOCKIN_OUT 0x2

struct rumpsockin_hyperup {
	void (*ready)(void *arg, uint64_t cookie, int events);
	void *arg;
};

int rumpsockin_init(const struct rumpsockin_hyperup *up, void **ctxp);
/* Stops the poller (waits for a report in progress to return) and frees the context. */
void rumpsockin_fini(void *ctx);

/* A host socket, non-blocking and close-on-exec; AF_INET6 ones are IPv6-only (NetBSD's default). */
int rumpsockin_socket(int family, int type, int proto, int *fdp);
int rumpsockin_close(int fd);
/* Arms fd for one report of events (RUMPSOCKIN_IN|OUT; 0 disarms). */
int rumpsockin_watch(void *ctx, int fd, uint64_t cookie, int events);
int rumpsockin_unwatch(void *ctx, int fd);

int rumpsockin_bind(int fd, const void *sa, size_t salen);
/* EINPROGRESS: the connection completes later (OUT, then rumpsockin_soerror). */
int rumpsockin_connect(int fd, const void *sa, size_t salen);
/* Dissolves a datagram socket's association (connect to AF_UNSPEC). */
int rumpsockin_disconnect(int fd);
int rumpsockin_listen(int fd, int backlog);
/* The next connection as a new non-blocking fd; EAGAIN if none. The peer's address in sa (*salenp: in, its size; out, the length). */
int rumpsockin_accept(int fd, int *newfdp, void *sa, size_t *salenp);
/* Sends without waiting (EAGAIN when nothing fits); sa may be NULL (connected). */
int rumpsockin_send(int fd, const void *buf, size_t len, const void *sa, size_t salen, size_t *sentp);
/*
 * Receives without waiting (EAGAIN if nothing is there); *recvdp 0 on a stream is end of file.
 * With sa, the sender's address (*salenp in/out as for accept).
 */
int rumpsockin_recv(int fd, void *buf, size_t len, void *sa, size_t *salenp, size_t *recvdp);
/* The length of the next datagram waiting (EAGAIN if none). */
int rumpsockin_nextlen(int fd, size_t *lenp);
int rumpsockin_getname(int fd, int peer, void *sa, size_t *salenp);
int rumpsockin_setopt(int fd, int level, int name, const void *val, size_t len);
int rumpsockin_getopt(int fd, int level, int name, void *val, size_t *lenp);
/* how: NetBSD's SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2 (the same on Linux). */
int rumpsockin_shutdown(int fd, int how);
/* The pending error of fd (SO_ERROR), as a NetBSD errno. */
int rumpsockin_soerror(int fd, int *errorp);

#endif
