/*
 * xlate.c: Linux <-> NetBSD translations for librumphijack (see xlate.h). Pure functions.
 */
#include "xlate.h"

#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/* Flag pairs (Linux, NetBSD) that translate bit for bit. */
static const struct {
	int lx, nb;
} oflag_pairs[] = {
	{ O_NONBLOCK, RUMP_O_NONBLOCK },
	{ O_APPEND, RUMP_O_APPEND },
	{ O_ASYNC, RUMP_O_ASYNC },
	{ O_CREAT, RUMP_O_CREAT },
	{ O_TRUNC, RUMP_O_TRUNC },
	{ O_EXCL, RUMP_O_EXCL },
	{ O_NOCTTY, RUMP_O_NOCTTY },
	{ O_DIRECT, RUMP_O_DIRECT },
	{ O_DIRECTORY, RUMP_O_DIRECTORY },
	{ O_NOFOLLOW, RUMP_O_NOFOLLOW },
	{ O_CLOEXEC, RUMP_O_CLOEXEC },
};

int
xlate_oflags_to_nb(int lx, int *err)
{
	int nb = lx & O_ACCMODE;	/* O_RDONLY, O_WRONLY, O_RDWR: 0, 1, 2 on both */

	if ((lx & O_TMPFILE) == O_TMPFILE) {
		*err = EOPNOTSUPP;
		return -1;
	}
	if ((lx & O_ACCMODE) == O_ACCMODE) {
		*err = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < sizeof oflag_pairs / sizeof oflag_pairs[0]; i++)
		if (lx & oflag_pairs[i].lx)
			nb |= oflag_pairs[i].nb;
	/* Linux's O_SYNC is __O_SYNC|O_DSYNC: full sync wins. */
	if ((lx & O_SYNC) == O_SYNC)
		nb |= RUMP_O_SYNC;
	else if (lx & O_DSYNC)
		nb |= RUMP_O_DSYNC;
	/* O_PATH: a descriptor only for *at calls and fstat; NetBSD has none, a read-only open comes
	 * closest. O_LARGEFILE and O_NOATIME have no meaning there and are dropped. */
	if (lx & O_PATH)
		nb = (nb & ~(RUMP_O_ACCMODE | RUMP_O_CREAT | RUMP_O_TRUNC)) | RUMP_O_RDONLY;
	return nb;
}

int
xlate_oflags_to_lx(int nb)
{
	int lx = nb & RUMP_O_ACCMODE;

	for (size_t i = 0; i < sizeof oflag_pairs / sizeof oflag_pairs[0]; i++)
		if (nb & oflag_pairs[i].nb)
			lx |= oflag_pairs[i].lx;
	if (nb & RUMP_O_SYNC)
		lx |= O_SYNC;
	else if (nb & RUMP_O_DSYNC)
		lx |= O_DSYNC;
	return lx;
}

int
xlate_atflags_to_nb(int lx, int isaccess)
{
	int nb = 0;

	if (lx & AT_EMPTY_PATH)
		return -1;
	if (lx & AT_SYMLINK_NOFOLLOW)
		nb |= RUMP_AT_SYMLINK_NOFOLLOW;
	if (lx & AT_SYMLINK_FOLLOW)
		nb |= RUMP_AT_SYMLINK_FOLLOW;
	/* Linux gives AT_REMOVEDIR and AT_EACCESS one bit (0x200): the call says which it is. */
	if (lx & AT_REMOVEDIR)
		nb |= isaccess ? RUMP_AT_EACCESS : RUMP_AT_REMOVEDIR;
	/* AT_NO_AUTOMOUNT and AT_STATX_* only tune Linux's behaviour. */
	return nb;
}

int
xlate_errno_to_lx(int nberr)
{
#define RUMP_ERRNO(name, nbvalue) if (nberr == (nbvalue)) return name;
#include "errtab.inc"
#undef RUMP_ERRNO
	return EIO;
}

unsigned
xlate_dev_major(uint64_t d)
{
	return (unsigned)((d & 0x000fff00u) >> 8);
}

unsigned
xlate_dev_minor(uint64_t d)
{
	return (unsigned)(((d & 0xfff00000u) >> 12) | (d & 0xffu));
}

void
xlate_stat_to_lx(const struct rump_stat *nb, struct stat *lx)
{
	memset(lx, 0, sizeof *lx);
	lx->st_dev = makedev(xlate_dev_major(nb->st_dev), xlate_dev_minor(nb->st_dev));
	lx->st_ino = nb->st_ino;
	lx->st_mode = nb->st_mode;
	lx->st_nlink = nb->st_nlink;
	lx->st_uid = nb->st_uid;
	lx->st_gid = nb->st_gid;
	lx->st_rdev = makedev(xlate_dev_major(nb->st_rdev), xlate_dev_minor(nb->st_rdev));
	lx->st_size = nb->st_size;
	lx->st_blksize = nb->st_blksize;
	lx->st_blocks = nb->st_blocks;
	lx->st_atim.tv_sec = nb->st_atim.tv_sec;
	lx->st_atim.tv_nsec = nb->st_atim.tv_nsec;
	lx->st_mtim.tv_sec = nb->st_mtim.tv_sec;
	lx->st_mtim.tv_nsec = nb->st_mtim.tv_nsec;
	lx->st_ctim.tv_sec = nb->st_ctim.tv_sec;
	lx->st_ctim.tv_nsec = nb->st_ctim.tv_nsec;
}

void
xlate_stat_to_statx(const struct rump_stat *nb, struct statx *lx)
{
	memset(lx, 0, sizeof *lx);
	lx->stx_mask = STATX_BASIC_STATS;
	lx->stx_blksize = (uint32_t)nb->st_blksize;
	lx->stx_nlink = nb->st_nlink;
	lx->stx_uid = nb->st_uid;
	lx->stx_gid = nb->st_gid;
	lx->stx_mode = (uint16_t)nb->st_mode;
	lx->stx_ino = nb->st_ino;
	lx->stx_size = (uint64_t)nb->st_size;
	lx->stx_blocks = (uint64_t)nb->st_blocks;
	lx->stx_atime.tv_sec = nb->st_atim.tv_sec;
	lx->stx_atime.tv_nsec = (uint32_t)nb->st_atim.tv_nsec;
	lx->stx_mtime.tv_sec = nb->st_mtim.tv_sec;
	lx->stx_mtime.tv_nsec = (uint32_t)nb->st_mtim.tv_nsec;
	lx->stx_ctime.tv_sec = nb->st_ctim.tv_sec;
	lx->stx_ctime.tv_nsec = (uint32_t)nb->st_ctim.tv_nsec;
	/* A file system without birth times reports zero (NetBSD) or -1 seconds: not a time. */
	if (nb->st_birthtim.tv_sec > 0 || nb->st_birthtim.tv_nsec > 0) {
		lx->stx_mask |= STATX_BTIME;
		lx->stx_btime.tv_sec = nb->st_birthtim.tv_sec;
		lx->stx_btime.tv_nsec = (uint32_t)nb->st_birthtim.tv_nsec;
	}
	lx->stx_rdev_major = xlate_dev_major(nb->st_rdev);
	lx->stx_rdev_minor = xlate_dev_minor(nb->st_rdev);
	lx->stx_dev_major = xlate_dev_major(nb->st_dev);
	lx->stx_dev_minor = xlate_dev_minor(nb->st_dev);
}

long
xlate_fstype_magic(const char *name)
{
	static const struct {
		const char *name;
		long magic;
	} tab[] = {
		{ "ext2fs", 0xEF53 },		/* EXT2_SUPER_MAGIC */
		{ "msdos", 0x4d44 },		/* MSDOS_SUPER_MAGIC */
		{ "msdosfs", 0x4d44 },
		{ "tmpfs", 0x01021994 },	/* TMPFS_MAGIC */
		{ "cd9660", 0x9660 },		/* ISOFS_SUPER_MAGIC */
		{ "ffs", 0x00011954 },		/* UFS_MAGIC */
	};

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (strcmp(name, tab[i].name) == 0)
			return tab[i].magic;
	return 0;
}

/* NetBSD ST_* -> Linux ST_* (ST_VALID set: the flags are meaningful). */
static unsigned long
xlate_stflags(uint64_t nb)
{
	unsigned long lx = 0x0020;	/* ST_VALID */

	if (nb & RUMP_ST_RDONLY)
		lx |= ST_RDONLY;
	if (nb & RUMP_ST_NOSUID)
		lx |= ST_NOSUID;
	if (nb & RUMP_ST_NODEV)
		lx |= ST_NODEV;
	if (nb & RUMP_ST_NOEXEC)
		lx |= ST_NOEXEC;
	if (nb & RUMP_ST_SYNCHRONOUS)
		lx |= ST_SYNCHRONOUS;
	if (nb & RUMP_MNT_NOATIME)
		lx |= ST_NOATIME;
	if (nb & RUMP_ST_RELATIME)
		lx |= ST_RELATIME;
	return lx;
}

void
xlate_statvfs_to_statfs(const struct rump_statvfs *nb, struct statfs *lx)
{
	memset(lx, 0, sizeof *lx);
	char name[sizeof nb->f_fstypename + 1];
	memcpy(name, nb->f_fstypename, sizeof nb->f_fstypename);
	name[sizeof nb->f_fstypename] = '\0';
	lx->f_type = xlate_fstype_magic(name);
	/* Linux's f_bsize is the preferred I/O size; the block counts are in f_frsize units. */
	lx->f_bsize = (long)(nb->f_frsize ? nb->f_frsize : nb->f_bsize);
	lx->f_frsize = (long)nb->f_frsize;
	lx->f_blocks = nb->f_blocks;
	lx->f_bfree = nb->f_bfree;
	lx->f_bavail = nb->f_bavail;
	lx->f_files = nb->f_files;
	lx->f_ffree = nb->f_ffree;
	memcpy(&lx->f_fsid, &nb->f_fsidx, sizeof lx->f_fsid);
	lx->f_namelen = (long)nb->f_namemax;
	lx->f_flags = (long)xlate_stflags(nb->f_flag);
}

void
xlate_statvfs_to_statvfs(const struct rump_statvfs *nb, struct statvfs *lx)
{
	memset(lx, 0, sizeof *lx);
	lx->f_bsize = nb->f_bsize;
	lx->f_frsize = nb->f_frsize;
	lx->f_blocks = nb->f_blocks;
	lx->f_bfree = nb->f_bfree;
	lx->f_bavail = nb->f_bavail;
	lx->f_files = nb->f_files;
	lx->f_ffree = nb->f_ffree;
	lx->f_favail = nb->f_favail;
	lx->f_fsid = nb->f_fsid;
	lx->f_flag = xlate_stflags(nb->f_flag) & ~0x0020ul;
	lx->f_namemax = nb->f_namemax;
}

/* offsetof(struct rump_dirent, d_name) and offsetof(struct dirent64, d_name). */
#define NB_DIRENT_HDR	offsetof(struct rump_dirent, d_name)
#define LX_DIRENT_HDR	offsetof(struct dirent64, d_name)

long
xlate_dirents(const char *nb, size_t nblen, size_t *nbused, char *lx, size_t lxlen, int64_t *pos)
{
	size_t in = 0, out = 0;

	while (in < nblen) {
		struct rump_dirent hdr;
		size_t avail = nblen - in;

		if (avail < NB_DIRENT_HDR)
			return -1;
		memcpy(&hdr, nb + in, NB_DIRENT_HDR);
		if (hdr.d_reclen < NB_DIRENT_HDR + 1 || hdr.d_reclen > avail ||
		    (size_t)hdr.d_namlen + 1 > hdr.d_reclen - NB_DIRENT_HDR ||
		    hdr.d_namlen > 511 || hdr.d_namlen == 0)
			return -1;
		const char *name = nb + in + NB_DIRENT_HDR;
		if (memchr(name, '\0', hdr.d_namlen) != NULL)
			return -1;

		size_t rec = (LX_DIRENT_HDR + hdr.d_namlen + 1 + 7) & ~(size_t)7;
		if (rec > lxlen - out)
			break;
		struct dirent64 *d = (struct dirent64 *)(void *)(lx + out);
		memset(d, 0, rec);
		d->d_ino = hdr.d_fileno;
		d->d_off = ++*pos;
		d->d_reclen = (unsigned short)rec;
		/* DT_* have the same values; NetBSD's DT_WHT (14) is Linux's too. */
		d->d_type = hdr.d_type;
		memcpy(d->d_name, name, hdr.d_namlen);
		out += rec;
		in += hdr.d_reclen;
	}
	*nbused = in;
	return (long)out;
}

short
xlate_poll_to_nb(short lx)
{
	short nb = lx & (POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLNVAL | POLLRDNORM | POLLRDBAND);

	if (lx & POLLWRNORM)
		nb |= RUMP_POLLWRNORM;
	if (lx & POLLWRBAND)
		nb |= RUMP_POLLWRBAND;
	return nb;
}

short
xlate_poll_to_lx(short nb)
{
	short lx = nb & (RUMP_POLLIN | RUMP_POLLPRI | RUMP_POLLOUT | RUMP_POLLERR | RUMP_POLLHUP |
	    RUMP_POLLNVAL | RUMP_POLLRDNORM | RUMP_POLLRDBAND);

	if (nb & RUMP_POLLWRBAND)
		lx |= POLLWRBAND;
	return lx;
}

static short
xlate_locktype(short t, int tonb)
{
	static const short lxv[] = { F_RDLCK, F_WRLCK, F_UNLCK };
	static const short nbv[] = { RUMP_F_RDLCK, RUMP_F_WRLCK, RUMP_F_UNLCK };

	for (int i = 0; i < 3; i++)
		if (t == (tonb ? lxv[i] : nbv[i]))
			return tonb ? nbv[i] : lxv[i];
	return -1;
}

void
xlate_flock_to_nb(const struct flock *lx, struct nb_flock *nb)
{
	nb->l_start = lx->l_start;
	nb->l_len = lx->l_len;
	nb->l_pid = lx->l_pid;
	nb->l_type = xlate_locktype(lx->l_type, 1);
	nb->l_whence = lx->l_whence;
}

void
xlate_flock_to_lx(const struct nb_flock *nb, struct flock *lx)
{
	lx->l_start = nb->l_start;
	lx->l_len = nb->l_len;
	lx->l_pid = nb->l_pid;
	lx->l_type = xlate_locktype(nb->l_type, 0);
	lx->l_whence = nb->l_whence;
}

const char *
xlate_route_path(const char *prefix, size_t plen, const char *path)
{
	if (plen == 0 || strncmp(path, prefix, plen) != 0)
		return NULL;
	if (path[plen] == '\0')
		return "/";
	if (path[plen] != '/')
		return NULL;
	return path + plen;
}

/* NetBSD's names for the families socket= routes, as Linux numbers them. */
static const struct {
	const char *name;
	int af;
} sockname[] = {
	{ "local", AF_UNIX },
	{ "inet", AF_INET },
	{ "inet6", AF_INET6 },
	{ "route", AF_ROUTE },
	{ "link", AF_PACKET },
};

/* socket=SPEC: "all" (first only), then [no]name:...; "none". Unknown names fail the entry. */
static int
parse_sockets(char *val, struct xlate_config *c)
{
	char *save = NULL;
	int rv = 0;

	memset(c->sockets, 0, sizeof c->sockets);
	if (strncmp(val, "all", 3) == 0 && (val[3] == '\0' || val[3] == ':')) {
		memset(c->sockets, 1, sizeof c->sockets);
		val += val[3] == ':' ? 4 : 3;
	} else if (strcmp(val, "none") == 0)
		val += 4;
	for (char *n = strtok_r(val, ":", &save); n; n = strtok_r(NULL, ":", &save)) {
		unsigned char on = 1;
		size_t i;
		if (strncmp(n, "no", 2) == 0 && strcmp(n, "none") != 0) {
			on = 0;
			n += 2;
		}
		for (i = 0; i < sizeof sockname / sizeof sockname[0]; i++)
			if (strcmp(n, sockname[i].name) == 0)
				break;
		if (i == sizeof sockname / sizeof sockname[0]) {
			rv = -1;
			continue;
		}
		c->sockets[sockname[i].af] = on;
	}
	c->nsockets = 0;
	for (int af = 0; af < XLATE_NAF; af++)
		c->nsockets += c->sockets[af];
	return rv;
}

int
xlate_parse_config(const char *s, struct xlate_config *c)
{
	char *copy, *save = NULL;
	int rv = 0;

	memset(c, 0, sizeof *c);
	c->fdoff = 128;
	if ((copy = strdup(s)) == NULL)
		return -1;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		if (val == NULL) {
			rv = -1;
			continue;
		}
		*val++ = '\0';
		if (strcmp(tok, "path") == 0) {
			size_t len = strlen(val);
			while (len > 1 && val[len - 1] == '/')
				len--;
			if (val[0] != '/' || c->npath == XLATE_MAXPREFIX) {
				rv = -1;
				continue;
			}
			/* "/" as a prefix would take every path: the kernel's root is then the host's. */
			c->pathlen[c->npath] = len == 1 ? 0 : len;
			c->path[c->npath++] = strndup(val, len == 1 ? 0 : len);
		} else if (strcmp(tok, "blanket") == 0) {
			char *bsave = NULL;
			for (char *b = strtok_r(val, ":", &bsave); b; b = strtok_r(NULL, ":", &bsave)) {
				if (b[0] != '/' || c->nblanket == XLATE_MAXPREFIX) {
					rv = -1;
					continue;
				}
				c->blanketlen[c->nblanket] = strlen(b);
				c->blanket[c->nblanket++] = strdup(b);
			}
		} else if (strcmp(tok, "socket") == 0) {
			if (parse_sockets(val, c) != 0)
				rv = -1;
		} else if (strcmp(tok, "fdoff") == 0) {
			char *end;
			long v = strtol(val, &end, 10);
			if (*end != '\0' || v < 3 || v > 32768)
				rv = -1;
			else
				c->fdoff = (int)v;
		}
	}
	free(copy);
	return rv;
}

const char *
xlate_route(const struct xlate_config *c, const char *path)
{
	for (int i = 0; i < c->npath; i++) {
		if (c->pathlen[i] == 0)
			return path;
		const char *r = xlate_route_path(c->path[i], c->pathlen[i], path);
		if (r != NULL)
			return r;
	}
	for (int i = 0; i < c->nblanket; i++)
		if (strncmp(path, c->blanket[i], c->blanketlen[i]) == 0)
			return path;
	return NULL;
}

size_t
xlate_fdmap_encode(char *buf, size_t len, const int *host, const int *rump, int n)
{
	size_t need = 0;

	if (len > 0)
		buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		char item[32];
		int k = snprintf(item, sizeof item, "%s%d:%d", i ? "," : "", host[i], rump[i]);
		if (need + (size_t)k < len)
			memcpy(buf + need, item, (size_t)k + 1);
		need += (size_t)k;
	}
	return need;
}

int
xlate_fdmap_parse(const char *s, void (*fn)(int, int, void *), void *arg)
{
	int n = 0;

	while (s && *s) {
		char *end;
		long h = strtol(s, &end, 10);
		if (end != s && *end == ':') {
			const char *r0 = end + 1;
			long r = strtol(r0, &end, 10);
			if (end != r0 && (*end == ',' || *end == '\0') && h >= 0 && h < 1L << 20 &&
			    r >= 0 && r < 1L << 20) {
				fn((int)h, (int)r, arg);
				n++;
			}
		}
		s = strchr(s, ',');
		if (s)
			s++;
	}
	return n;
}

/* --- sockets --- */

int
xlate_af_to_nb(int lx)
{
	switch (lx) {
	case AF_UNSPEC: return RUMP_AF_UNSPEC;
	case AF_UNIX: return RUMP_AF_LOCAL;
	case AF_INET: return RUMP_AF_INET;
	case AF_INET6: return RUMP_AF_INET6;
	default: return -1;
	}
}

int
xlate_af_to_lx(int nb)
{
	switch (nb) {
	case RUMP_AF_UNSPEC: return AF_UNSPEC;
	case RUMP_AF_LOCAL: return AF_UNIX;
	case RUMP_AF_INET: return AF_INET;
	case RUMP_AF_INET6: return AF_INET6;
	default: return -1;
	}
}

int
xlate_socktype_to_nb(int lx)
{
	int nb = lx & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (nb < 0 || nb > 0xff)
		return -1;
	if (lx & SOCK_NONBLOCK)
		nb |= RUMP_SOCK_NONBLOCK;
	if (lx & SOCK_CLOEXEC)
		nb |= RUMP_SOCK_CLOEXEC;
	return nb;
}

static const struct {
	int lx, nb;
} msgflag_pairs[] = {
	{ MSG_OOB, RUMP_MSG_OOB },
	{ MSG_PEEK, RUMP_MSG_PEEK },
	{ MSG_DONTROUTE, RUMP_MSG_DONTROUTE },
	{ MSG_CTRUNC, RUMP_MSG_CTRUNC },
	{ MSG_TRUNC, RUMP_MSG_TRUNC },
	{ MSG_DONTWAIT, RUMP_MSG_DONTWAIT },
	{ MSG_EOR, RUMP_MSG_EOR },
	{ MSG_WAITALL, RUMP_MSG_WAITALL },
	{ MSG_NOSIGNAL, RUMP_MSG_NOSIGNAL },
	{ MSG_WAITFORONE, RUMP_MSG_WAITFORONE },
	{ MSG_CMSG_CLOEXEC, RUMP_MSG_CMSG_CLOEXEC },
};

int
xlate_msgflags_to_nb(int lx)
{
	int nb = 0;

	lx &= ~(MSG_MORE | MSG_CONFIRM);
	for (size_t i = 0; i < sizeof msgflag_pairs / sizeof msgflag_pairs[0]; i++)
		if (lx & msgflag_pairs[i].lx) {
			nb |= msgflag_pairs[i].nb;
			lx &= ~msgflag_pairs[i].lx;
		}
	return lx != 0 ? -1 : nb;
}

int
xlate_msgflags_to_lx(int nb)
{
	int lx = 0;

	for (size_t i = 0; i < sizeof msgflag_pairs / sizeof msgflag_pairs[0]; i++)
		if (nb & msgflag_pairs[i].nb)
			lx |= msgflag_pairs[i].lx;
	return lx;
}

/* NetBSD's sockaddr_in6 (sockaddr_in is Linux's with sa_len and a byte family). */
struct nb_sockaddr_in6 {
	uint8_t len, family;
	uint16_t port;
	uint32_t flowinfo;
	uint8_t addr[16];
	uint32_t scope_id;
};

int
xlate_sockaddr_to_nb(const void *lx, size_t lxlen, void *nb, int *err)
{
	sa_family_t fam;
	uint8_t *o = nb;

	if (lx == NULL || lxlen < sizeof(sa_family_t)) {
		*err = EINVAL;
		return -1;
	}
	memcpy(&fam, lx, sizeof fam);
	memset(nb, 0, XLATE_SOCKADDR_MAX);
	switch (fam) {
	case AF_INET: {
		struct sockaddr_in in;
		if (lxlen < sizeof in) {
			*err = EINVAL;
			return -1;
		}
		memcpy(&in, lx, sizeof in);
		o[0] = 16;
		o[1] = RUMP_AF_INET;
		memcpy(o + 2, &in.sin_port, 2);
		memcpy(o + 4, &in.sin_addr, 4);
		return 16;
	}
	case AF_INET6: {
		/* Linux takes the 24 bytes of RFC 2133's sockaddr_in6 (no scope) too. */
		struct sockaddr_in6 in6;
		struct nb_sockaddr_in6 n;
		if (lxlen < 24) {
			*err = EINVAL;
			return -1;
		}
		memset(&in6, 0, sizeof in6);
		memcpy(&in6, lx, lxlen < sizeof in6 ? lxlen : sizeof in6);
		memset(&n, 0, sizeof n);
		n.len = sizeof n;
		n.family = RUMP_AF_INET6;
		n.port = in6.sin6_port;
		n.flowinfo = in6.sin6_flowinfo;
		memcpy(n.addr, &in6.sin6_addr, 16);
		n.scope_id = in6.sin6_scope_id;
		memcpy(nb, &n, sizeof n);
		return sizeof n;
	}
	case AF_UNIX: {
		const char *path = (const char *)lx + offsetof(struct sockaddr_un, sun_path);
		size_t room = lxlen - offsetof(struct sockaddr_un, sun_path), n;
		if (lxlen > sizeof(struct sockaddr_un)) {
			*err = EINVAL;
			return -1;
		}
		if (room > 0 && path[0] == '\0') {
			*err = EINVAL;	/* Linux's abstract namespace */
			return -1;
		}
		n = strnlen(path, room);
		if (n >= sizeof(((struct rump_sockaddr_un *)0)->sun_path)) {
			*err = EINVAL;
			return -1;
		}
		o[1] = RUMP_AF_LOCAL;
		memcpy(o + 2, path, n);
		o[0] = (uint8_t)(2 + n + (n > 0));	/* with the NUL, as SUN_LEN+1 */
		return o[0];
	}
	case AF_UNSPEC:
		/* connect(AF_UNSPEC) dissolves a datagram association. */
		o[0] = 16;
		o[1] = RUMP_AF_UNSPEC;
		return 16;
	default:
		*err = EAFNOSUPPORT;
		return -1;
	}
}

void
xlate_sockaddr_to_lx(const void *nb, size_t nblen, void *lx, uint32_t *lxlen)
{
	const uint8_t *b = nb;
	unsigned char out[sizeof(struct sockaddr_storage)];
	size_t n = 0;

	memset(out, 0, sizeof out);
	if (nblen >= 2 && b[1] == RUMP_AF_INET && nblen >= 8) {
		struct sockaddr_in in;
		memset(&in, 0, sizeof in);
		in.sin_family = AF_INET;
		memcpy(&in.sin_port, b + 2, 2);
		memcpy(&in.sin_addr, b + 4, 4);
		memcpy(out, &in, sizeof in);
		n = sizeof in;
	} else if (nblen >= 2 && b[1] == RUMP_AF_INET6 && nblen >= 24) {
		struct nb_sockaddr_in6 s;
		struct sockaddr_in6 in6;
		memset(&s, 0, sizeof s);
		memcpy(&s, b, nblen < sizeof s ? nblen : sizeof s);
		memset(&in6, 0, sizeof in6);
		in6.sin6_family = AF_INET6;
		in6.sin6_port = s.port;
		in6.sin6_flowinfo = s.flowinfo;
		memcpy(&in6.sin6_addr, s.addr, 16);
		in6.sin6_scope_id = s.scope_id;
		memcpy(out, &in6, sizeof in6);
		n = sizeof in6;
	} else if (nblen >= 2 && b[1] == RUMP_AF_LOCAL) {
		size_t plen = strnlen((const char *)b + 2, nblen - 2);
		sa_family_t f = AF_UNIX;
		if (plen > sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
			plen = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
		memcpy(out, &f, sizeof f);
		memcpy(out + sizeof f, b + 2, plen);
		/* Linux: the family alone for an unnamed socket, else the path and its NUL. */
		n = sizeof f + (plen > 0 ? plen + 1 : 0);
	} else if (nblen >= 2) {
		/* A family Linux cannot name: AF_UNSPEC and the bytes after the family. */
		size_t d = nblen - 2 < sizeof out - 2 ? nblen - 2 : sizeof out - 2;
		int f = xlate_af_to_lx(b[1]);
		sa_family_t lf = f < 0 ? AF_UNSPEC : (sa_family_t)f;
		memcpy(out, &lf, sizeof lf);
		memcpy(out + 2, b + 2, d);
		n = 2 + d;
	}
	if (lx != NULL)
		memcpy(lx, out, n < *lxlen ? n : *lxlen);
	*lxlen = (uint32_t)n;
}

static const struct {
	int lxlevel, lxname, nblevel, nbname, kind;
} opttab[] = {
	{ SOL_SOCKET, SO_DEBUG, RUMP_SOL_SOCKET, RUMP_SO_DEBUG, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_REUSEADDR, RUMP_SOL_SOCKET, RUMP_SO_REUSEADDR, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_REUSEPORT, RUMP_SOL_SOCKET, RUMP_SO_REUSEPORT, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_KEEPALIVE, RUMP_SOL_SOCKET, RUMP_SO_KEEPALIVE, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_DONTROUTE, RUMP_SOL_SOCKET, RUMP_SO_DONTROUTE, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_BROADCAST, RUMP_SOL_SOCKET, RUMP_SO_BROADCAST, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_OOBINLINE, RUMP_SOL_SOCKET, RUMP_SO_OOBINLINE, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_ACCEPTCONN, RUMP_SOL_SOCKET, RUMP_SO_ACCEPTCONN, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_TIMESTAMP_OLD, RUMP_SOL_SOCKET, RUMP_SO_TIMESTAMP, XLATE_OPT_BOOL },
	{ SOL_SOCKET, SO_LINGER, RUMP_SOL_SOCKET, RUMP_SO_LINGER, XLATE_OPT_PLAIN },
	{ SOL_SOCKET, SO_TYPE, RUMP_SOL_SOCKET, RUMP_SO_TYPE, XLATE_OPT_PLAIN },
	{ SOL_SOCKET, SO_ERROR, RUMP_SOL_SOCKET, RUMP_SO_ERROR, XLATE_OPT_ERRNO },
	{ SOL_SOCKET, SO_SNDBUF, RUMP_SOL_SOCKET, RUMP_SO_SNDBUF, XLATE_OPT_PLAIN },
	{ SOL_SOCKET, SO_RCVBUF, RUMP_SOL_SOCKET, RUMP_SO_RCVBUF, XLATE_OPT_PLAIN },
	{ SOL_SOCKET, SO_SNDLOWAT, RUMP_SOL_SOCKET, RUMP_SO_SNDLOWAT, XLATE_OPT_PLAIN },
	{ SOL_SOCKET, SO_RCVLOWAT, RUMP_SOL_SOCKET, RUMP_SO_RCVLOWAT, XLATE_OPT_PLAIN },
	/* struct timeval: 64-bit seconds and microseconds at offset 8 on both (amd64). */
	{ SOL_SOCKET, SO_SNDTIMEO_OLD, RUMP_SOL_SOCKET, RUMP_SO_SNDTIMEO, XLATE_OPT_PLAIN },
	{ SOL_SOCKET, SO_RCVTIMEO_OLD, RUMP_SOL_SOCKET, RUMP_SO_RCVTIMEO, XLATE_OPT_PLAIN },
	{ SOL_SOCKET, SO_SNDTIMEO_NEW, RUMP_SOL_SOCKET, RUMP_SO_SNDTIMEO, XLATE_OPT_PLAIN },
	{ SOL_SOCKET, SO_RCVTIMEO_NEW, RUMP_SOL_SOCKET, RUMP_SO_RCVTIMEO, XLATE_OPT_PLAIN },
	{ IPPROTO_TCP, TCP_NODELAY, NB_IPPROTO_TCP, NB_TCP_NODELAY, XLATE_OPT_PLAIN },
	{ IPPROTO_TCP, TCP_MAXSEG, NB_IPPROTO_TCP, NB_TCP_MAXSEG, XLATE_OPT_PLAIN },
	{ IPPROTO_TCP, TCP_KEEPIDLE, NB_IPPROTO_TCP, NB_TCP_KEEPIDLE, XLATE_OPT_PLAIN },
	{ IPPROTO_TCP, TCP_KEEPINTVL, NB_IPPROTO_TCP, NB_TCP_KEEPINTVL, XLATE_OPT_PLAIN },
	{ IPPROTO_TCP, TCP_KEEPCNT, NB_IPPROTO_TCP, NB_TCP_KEEPCNT, XLATE_OPT_PLAIN },
	{ IPPROTO_TCP, TCP_INFO, NB_IPPROTO_TCP, NB_TCP_INFO, XLATE_OPT_TCPINFO },
	{ IPPROTO_IP, IP_TOS, NB_IPPROTO_IP, NB_IP_TOS, XLATE_OPT_PLAIN },
	{ IPPROTO_IP, IP_TTL, NB_IPPROTO_IP, NB_IP_TTL, XLATE_OPT_PLAIN },
	{ IPPROTO_IPV6, IPV6_V6ONLY, NB_IPPROTO_IPV6, NB_IPV6_V6ONLY, XLATE_OPT_BOOL },
	{ IPPROTO_IPV6, IPV6_UNICAST_HOPS, NB_IPPROTO_IPV6, NB_IPV6_UNICAST_HOPS, XLATE_OPT_PLAIN },
};

int
xlate_sockopt_to_nb(int lxlevel, int lxname, int *nblevel, int *nbname)
{
	for (size_t i = 0; i < sizeof opttab / sizeof opttab[0]; i++)
		if (opttab[i].lxlevel == lxlevel && opttab[i].lxname == lxname) {
			*nblevel = opttab[i].nblevel;
			*nbname = opttab[i].nbname;
			return opttab[i].kind;
		}
	return -1;
}

size_t
xlate_tcpinfo_to_lx(const void *nb, size_t nblen, void *lx, size_t lxlen)
{
	/* NetBSD's TCPS_* (CLOSED .. TIME_WAIT) -> Linux's TCP_* states. */
	static const uint8_t state[] = { TCP_CLOSE, TCP_LISTEN, TCP_SYN_SENT, TCP_SYN_RECV,
	    TCP_ESTABLISHED, TCP_CLOSE_WAIT, TCP_FIN_WAIT1, TCP_CLOSING, TCP_LAST_ACK,
	    TCP_FIN_WAIT2, TCP_TIME_WAIT };
	uint8_t in[NB_TCP_INFO_SIZE];
	struct tcp_info out;
	size_t n = lxlen < sizeof out ? lxlen : sizeof out;

	memset(in, 0, sizeof in);
	memcpy(in, nb, nblen < sizeof in ? nblen : sizeof in);
	memset(&out, 0, sizeof out);
	memcpy(&out, in, offsetof(struct tcp_info, tcpi_total_retrans));
	out.tcpi_state = in[0] < sizeof state ? state[in[0]] : TCP_CLOSE;
	memcpy(&out.tcpi_total_retrans, in + 8 + 4 * 28, sizeof out.tcpi_total_retrans);
	memcpy(lx, &out, n);
	return n;
}

/* Both headers take 16 bytes with the data after them; records are aligned to 8. */
#define CMSG_HDR 16
#define CMSG_AL(n) (((n) + 7) & ~(size_t)7)

long
xlate_cmsg_to_nb(const void *lx, size_t lxlen, void *nb, int *err)
{
	const uint8_t *in = lx;
	uint8_t *out = nb;
	size_t off = 0;

	while (off + CMSG_HDR <= lxlen) {
		struct cmsghdr h;
		struct rump_cmsghdr n;
		memcpy(&h, in + off, sizeof h);
		if (h.cmsg_len < CMSG_HDR || h.cmsg_len > lxlen - off || h.cmsg_len > UINT32_MAX) {
			*err = EINVAL;
			return -1;
		}
		if (h.cmsg_level != SOL_SOCKET || h.cmsg_type != SCM_RIGHTS) {
			*err = EINVAL;
			return -1;
		}
		n.cmsg_len = (uint32_t)h.cmsg_len;
		n.cmsg_level = RUMP_SOL_SOCKET;
		n.cmsg_type = RUMP_SCM_RIGHTS;
		memset(out + off, 0, CMSG_HDR);
		memcpy(out + off, &n, sizeof n);
		memcpy(out + off + CMSG_HDR, in + off + CMSG_HDR, h.cmsg_len - CMSG_HDR);
		off += CMSG_AL(h.cmsg_len);
	}
	return (long)(off < lxlen ? off : lxlen);
}

long
xlate_cmsg_to_lx(const void *nb, size_t nblen, void *lx)
{
	const uint8_t *in = nb;
	uint8_t *out = lx;
	size_t off = 0, w = 0;

	while (off + CMSG_HDR <= nblen) {
		struct rump_cmsghdr n;
		struct cmsghdr h;
		memcpy(&n, in + off, sizeof n);
		if (n.cmsg_len < CMSG_HDR || n.cmsg_len > nblen - off)
			break;
		if (n.cmsg_level == RUMP_SOL_SOCKET && n.cmsg_type == RUMP_SCM_RIGHTS) {
			memset(&h, 0, sizeof h);
			h.cmsg_len = n.cmsg_len;
			h.cmsg_level = SOL_SOCKET;
			h.cmsg_type = SCM_RIGHTS;
			memcpy(out + w, &h, sizeof h);
			memmove(out + w + CMSG_HDR, in + off + CMSG_HDR, n.cmsg_len - CMSG_HDR);
			w += CMSG_AL(n.cmsg_len);
		}
		off += CMSG_AL(n.cmsg_len);
	}
	return (long)(w < nblen ? w : nblen);
}
