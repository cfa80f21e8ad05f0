/*
 * rumpcomp_shmif.h -- the shmif component hypercalls: an Ethernet bus in a shared host file.
 *
 * NetBSD's shmif (sys/rump/net/lib/libshmif) keeps its host access in rumpcomp_shmif_*; this is
 * rump's librumpcomp_shmif.so (hypercall/net/). It maps the bus file, provides the bus lock and
 * the wake-up, and runs one host reader thread per attached interface. The ring inside the file
 * is the kernel's business (drivers/net/shmif/Wire/ShmifWire.cs); this library knows only the
 * offsets of the bus header's lock word and wake-up word.
 *
 * Conventions: routines returning int return 0 or an errno in NetBSD's errno space. Routines
 * marked "blocks" may wait for another kernel: the caller gives up its virtual CPU around them.
 *
 * The bus lock: NetBSD's lock word (0 free, 1 held; a NetBSD kernel on the same bus spins on it)
 * plus an open-file-description lock (fcntl F_OFD_SETLKW) on the word's bytes, which the host
 * releases when its holder dies. Our kernels take the OFD lock first, then the word; while
 * holding, they set the spare word to a marker. So a kernel of ours that owns the OFD lock and
 * finds the word held with the marker set knows the holder was one of ours and has died (a live
 * one would still own the OFD lock): it takes the word over. No timeout decides it.
 *
 * The wake-up is NetBSD's: after writing, a sender pwrite()s the version word (the same value)
 * back to the file, which inotify reports as IN_MODIFY to every reader watching the file.
 * Readers wait in poll(2) on their inotify descriptor; events queue, so a write after a reader
 * looked is never missed.
 */
#ifndef RUMPCOMP_SHMIF_H
#define RUMPCOMP_SHMIF_H

#include <stddef.h>
#include <stdint.h>

#define RUMPCOMP_SHMIF_VERSION 1

/* NetBSD's shmifvar.h: magic, version, bus size (fixed: the header has no size field). */
#define RUMPCOMP_SHMIF_MAGIC 0xca11d054u
#define RUMPCOMP_SHMIF_BUSVERSION 3u
#define RUMPCOMP_SHMIF_BUSSIZE (1024u * 1024u)

struct rumpcomp_shmif;

/*
 * Opens (creating it if missing) and maps the bus file at path. A file that is not a shmif bus
 * (wrong magic or version) is left untouched: ENOEXEC, as NetBSD's shmif. A shorter new or
 * zeroed file is extended to the bus size.
 */
int rumpcomp_shmif_open(const char *path, struct rumpcomp_shmif **busp, void **memp);

/* Stops the reader (if started), unmaps and closes. Blocks (joins the reader thread). */
void rumpcomp_shmif_close(struct rumpcomp_shmif *bus);

/* The bus lock. lock blocks; trylock returns EBUSY instead. Both return 0 when held. */
int rumpcomp_shmif_lock(struct rumpcomp_shmif *bus);
int rumpcomp_shmif_trylock(struct rumpcomp_shmif *bus);
void rumpcomp_shmif_unlock(struct rumpcomp_shmif *bus);

/* How many times this handle took the lock over from a dead holder. */
uint64_t rumpcomp_shmif_takeovers(struct rumpcomp_shmif *bus);

/* Wakes every reader on the bus (after new frames are in the ring and the lock is released). */
int rumpcomp_shmif_wakeup(struct rumpcomp_shmif *bus);

/*
 * Starts the handle's reader thread: it calls fn(arg) once at once, and then once after each
 * wake-up (several writes may give one call). fn reads every new frame before it returns.
 * fn is never called twice at a time, nor after rumpcomp_shmif_reader_stop has returned.
 */
int rumpcomp_shmif_reader_start(struct rumpcomp_shmif *bus, void (*fn)(void *), void *arg);

/* Stops and joins the reader thread (never from fn). Blocks. */
void rumpcomp_shmif_reader_stop(struct rumpcomp_shmif *bus);

#endif /* RUMPCOMP_SHMIF_H */
