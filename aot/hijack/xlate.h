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
 * fdoff=N (the first host number for kernel descriptors), socket=SPEC (which families' sockets
 * the kernel makes: "all" first if at all, then names with an optional "no" in front, joined by
 * ':': local, inet, inet6, route (Linux's AF_NETLINK, its AF_ROUTE), link (AF_PACKET); "none"
 * for no family; "all:nolocal" is everything but AF_LOCAL). Without a socket= entry no socket
 * is the kernel's, as in NetBSD. vfs and sysctl are accepted and ignored. Returns 0, or -1 for an
 * entry without '=' or a socket name it does not know.
 */
#define XLATE_MAXPREFIX 8
#define XLATE_NAF 64		/* Linux address families routed: AF_* below this */
struct xlate_config {
	int npath, nblanket;
	char *path[XLATE_MAXPREFIX];
	size_t pathlen[XLATE_MAXPREFIX];
	char *blanket[XLATE_MAXPREFIX];
	size_t blanketlen[XLATE_MAXPREFIX];
	int fdoff;
	unsigned char sockets[XLATE_NAF];	/* Linux AF_* -> 1: the kernel's */
	int nsockets;				/* families with sockets[af] set */
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

/*
 * Sockets. NetBSD's numbers that <rump/rumpdefs.h> does not carry (protocol-level options),
 * from NetBSD's <netinet/in.h>, <netinet/tcp.h> and <netinet6/in6.h>.
 */
#define NB_IPPROTO_IP		0
#define NB_IPPROTO_TCP		6
#define NB_IPPROTO_UDP		17
#define NB_IPPROTO_IPV6		41
#define NB_IP_TOS		3
#define NB_IP_TTL		4
#define NB_IPV6_UNICAST_HOPS	4
#define NB_IPV6_V6ONLY		27
#define NB_TCP_NODELAY		1
#define NB_TCP_MAXSEG		2
#define NB_TCP_KEEPIDLE		3
#define NB_TCP_KEEPINTVL	5
#define NB_TCP_KEEPCNT		6
#define NB_TCP_INFO		9
/* NetBSD's struct tcp_info: 8 bytes, then 57 32-bit words (the last 26 padding). */
#define NB_TCP_INFO_SIZE	236

/* Address families: Linux's AF_* <-> NetBSD's; -1 for a family the other side has no number for. */
int xlate_af_to_nb(int lx);
int xlate_af_to_lx(int nb);

/* socket(2)'s type: the base type (the same numbers) with SOCK_NONBLOCK and SOCK_CLOEXEC moved
 * to NetBSD's bits; -1 for other flag bits (EINVAL). accept4's flags are the same two bits. */
int xlate_socktype_to_nb(int lx);

/* MSG_* flags of send and receive calls, Linux -> NetBSD (MSG_MORE and MSG_CONFIRM, hints
 * NetBSD has no use for, are dropped; -1 for others it lacks: MSG_ERRQUEUE, MSG_FASTOPEN ...),
 * and the msg_flags a receive reports, NetBSD -> Linux. */
int xlate_msgflags_to_nb(int lx);
int xlate_msgflags_to_lx(int nb);

/*
 * Socket addresses. To NetBSD: a Linux sockaddr of lxlen bytes into nb (room for 256), sa_len
 * set; returns the NetBSD length, or -1 with *err (EAFNOSUPPORT for a family the kernel has no
 * number for, EINVAL for a length too short for the family, an AF_LOCAL path too long for
 * NetBSD's 104 bytes, or Linux's abstract AF_LOCAL names, which NetBSD lacks).
 * To Linux: NetBSD's nb of nblen bytes into lx, of which *lxlen bytes are room; as the kernel
 * does, at most that much is written and *lxlen becomes the address's full Linux length
 * (0 when nblen is 0: no address).
 */
#define XLATE_SOCKADDR_MAX 256
int xlate_sockaddr_to_nb(const void *lx, size_t lxlen, void *nb, int *err);
void xlate_sockaddr_to_lx(const void *nb, size_t nblen, void *lx, uint32_t *lxlen);

/*
 * get/setsockopt: Linux's (level, name) -> NetBSD's in *nblevel, *nbname, and the kind of value,
 * or -1 for an option without a translation (the caller's ENOPROTOOPT). Levels IPPROTO_IP, TCP,
 * UDP and IPV6 are the same numbers; SOL_SOCKET is 1 on Linux and 0xffff on NetBSD.
 */
enum xlate_optkind {
	XLATE_OPT_PLAIN,	/* the bytes pass as they are (ints, struct linger, struct timeval) */
	XLATE_OPT_BOOL,		/* an int that NetBSD reports as the option's bit: Linux says 0 or 1 */
	XLATE_OPT_ERRNO,	/* SO_ERROR: a NetBSD errno to translate */
	XLATE_OPT_TCPINFO,	/* TCP_INFO: NetBSD's struct tcp_info, see xlate_tcpinfo_to_lx */
};
int xlate_sockopt_to_nb(int lxlevel, int lxname, int *nblevel, int *nbname);

/*
 * TCP_INFO: NetBSD's struct tcp_info (nblen bytes) as Linux's, into lx of lxlen bytes; returns
 * the length written (at most lxlen, at most Linux's struct). Both follow Linux's names and
 * order for the first 100 bytes (the same units: microseconds, the windows in segments); the
 * state becomes Linux's number, and tcpi_total_retrans (Linux's next word) is NetBSD's
 * tcpi_snd_rexmitpack. Linux's later fields stay 0.
 */
size_t xlate_tcpinfo_to_lx(const void *nb, size_t nblen, void *lx, size_t lxlen);

/*
 * Control messages: the headers differ (Linux: size_t length, level, type; NetBSD: 32-bit length,
 * level, type, padding), the data starts 16 bytes in on both, and both align records to 8: a
 * buffer translates to one of the same size, record by record. Only SOL_SOCKET's SCM_RIGHTS has
 * a NetBSD counterpart. To NetBSD: -1 with *err EINVAL for a malformed record or another type;
 * to Linux: records of a level or type Linux cannot name are left out. Both return the bytes
 * written. The descriptor numbers inside SCM_RIGHTS are the caller's to map.
 */
long xlate_cmsg_to_nb(const void *lx, size_t lxlen, void *nb, int *err);
long xlate_cmsg_to_lx(const void *nb, size_t nblen, void *lx);

#endif /* HIJACK_XLATE_H */
