/*
 * xlate.h: the pure translations librumphijack needs between what a Linux program passes to
 * its C library and what a NetBSD rump kernel takes (NetBSD amd64 numbers and layouts from
 * <rump/rumpdefs.h>). No state, no system calls: tests/hijack/t_hijack_xlate.c checks each.
 *
 * Mode bits (S_IF*, permission bits), UTIME_NOW/UTIME_OMIT, AT_FDCWD, SEEK_*, F_OK/R_OK/W_OK/X_OK
 * and struct iovec have the same values on both sides and pass through unchanged.
 */
#ifndef HIJACK_XLATE_H
#define HIJACK_XLATE_H

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include <rump/rumpdefs.h>

/* Linux open(2) flags -> NetBSD's; -1 (and *err set to a Linux errno) for flags NetBSD has no
 * equivalent for that cannot be dropped silently (O_TMPFILE). */
int xlate_oflags_to_nb(int lxflags, int *err);
/* NetBSD's F_GETFL flags -> Linux's. */
int xlate_oflags_to_lx(int nbflags);

/* AT_* flags (isaccess: faccessat's, where Linux's 0x200 is AT_EACCESS, not AT_REMOVEDIR);
 * -1 for flags the kernel lacks that change the meaning (AT_EMPTY_PATH). */
int xlate_atflags_to_nb(int lxflags, int isaccess);

/* A NetBSD errno value -> Linux's (EIO for numbers Linux lacks). */
int xlate_errno_to_lx(int nberr);

/* NetBSD dev_t (major bits 8..19, minor bits 0..7 and 20..31) -> major and minor. */
unsigned xlate_dev_major(uint64_t nbdev);
unsigned xlate_dev_minor(uint64_t nbdev);

void xlate_stat_to_lx(const struct rump_stat *nb, struct stat *lx);
/* Every field the kernel has is filled, and stx_mask says which. */
void xlate_stat_to_statx(const struct rump_stat *nb, struct statx *lx);

/* A file-system type's name (f_fstypename) -> the magic Linux's statfs reports (0 if unknown). */
long xlate_fstype_magic(const char *name);
void xlate_statvfs_to_statfs(const struct rump_statvfs *nb, struct statfs *lx);
void xlate_statvfs_to_statvfs(const struct rump_statvfs *nb, struct statvfs *lx);

/*
 * getdents records: NetBSD's (struct rump_dirent, padded to 8) -> Linux's struct dirent64
 * (d_ino, d_off, d_reclen, d_type, d_name; padded to 8). Converts whole records from nb[0..nblen)
 * while they fit in lx[0..lxlen); *nbused says how many input bytes were consumed. Each output
 * record's d_off is ++*pos (a cookie counting entries: the kernel's records carry no offsets).
 * Returns the bytes written, or -1 for a malformed input record (bad length or name).
 */
long xlate_dirents(const char *nb, size_t nblen, size_t *nbused, char *lx, size_t lxlen, int64_t *pos);

/* Linux poll events <-> NetBSD's. */
short xlate_poll_to_nb(short lx);
short xlate_poll_to_lx(short nb);

/* struct flock: Linux's (type, whence, start, len, pid) <-> NetBSD's (start, len, pid, type, whence). */
struct nb_flock {
	int64_t l_start;
	int64_t l_len;
	int32_t l_pid;
	int16_t l_type;
	int16_t l_whence;
};
void xlate_flock_to_nb(const struct flock *lx, struct nb_flock *nb);
void xlate_flock_to_lx(const struct nb_flock *nb, struct flock *lx);

/*
 * Path routing (RUMPHIJACK=path=PREFIX): if path is PREFIX itself or under it ("/rump",
 * "/rump/", "/rump/x", but not "/rumpx"), returns the kernel's path (the rest, "/" for the prefix
 * itself), else NULL. Extra slashes after the prefix are kept ("/rump//x" -> "//x").
 */
const char *xlate_route_path(const char *prefix, size_t prefixlen, const char *path);

/*
 * RUMPHIJACK (NetBSD's rumphijack(3) syntax): comma-separated name=value. path=PREFIX (the kernel's
 * namespace under PREFIX, PREFIX removed; several may be given), blanket=P1:P2:... (paths starting
 * with Pn, a literal prefix that ignores directory borders, go to the kernel unchanged),
 * fdoff=N (the first host number for kernel descriptors). socket, vfs and sysctl are accepted
 * and ignored (this kernel has no networking yet). Returns 0, or -1 for an entry without '='.
 */
#define XLATE_MAXPREFIX 8
struct xlate_config {
	int npath, nblanket;
	char *path[XLATE_MAXPREFIX];
	size_t pathlen[XLATE_MAXPREFIX];
	char *blanket[XLATE_MAXPREFIX];
	size_t blanketlen[XLATE_MAXPREFIX];
	int fdoff;
};
int xlate_parse_config(const char *s, struct xlate_config *c);
/* An absolute path's name in the kernel under c, or NULL for the host's. */
const char *xlate_route(const struct xlate_config *c, const char *path);

/*
 * The descriptor map handed across execve in the environment: "host:rump,host:rump,...".
 * Encode writes at most len bytes with a NUL (returns the length it needed, like snprintf);
 * parse calls fn for every well-formed pair and ignores the rest.
 */
size_t xlate_fdmap_encode(char *buf, size_t len, const int *host, const int *rump, int n);
int xlate_fdmap_parse(const char *s, void (*fn)(int host, int rump, void *arg), void *arg);

#endif /* HIJACK_XLATE_H */
