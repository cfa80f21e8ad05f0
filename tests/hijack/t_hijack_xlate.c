/*
 * t_hijack_xlate: librumphijack's pure translations (aot/hijack/xlate.c) against the numbers and
 * layouts of both sides: Linux's from the host's headers, NetBSD's from <rump/rumpdefs.h>.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "xlate.h"

#include "check.h"
#define EQ(got, want) CHECK((long long)(got) == (long long)(want), "%s: expected %#llx, got %#llx", #got, (long long)(want), (long long)(got))

static void
test_oflags(void)
{
	int e = 0;

	EQ(xlate_oflags_to_nb(O_RDONLY, &e), RUMP_O_RDONLY);
	EQ(xlate_oflags_to_nb(O_WRONLY | O_CREAT | O_TRUNC, &e), RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_TRUNC);
	EQ(xlate_oflags_to_nb(O_RDWR | O_CREAT | O_EXCL | O_APPEND, &e),
	    RUMP_O_RDWR | RUMP_O_CREAT | RUMP_O_EXCL | RUMP_O_APPEND);
	EQ(xlate_oflags_to_nb(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, &e),
	    RUMP_O_DIRECTORY | RUMP_O_NOFOLLOW | RUMP_O_CLOEXEC | RUMP_O_NONBLOCK | RUMP_O_NOCTTY);
	/* O_LARGEFILE (glibc adds it to every open64) and O_NOATIME are dropped. */
	EQ(xlate_oflags_to_nb(O_RDONLY | O_LARGEFILE | O_NOATIME, &e), RUMP_O_RDONLY);
	EQ(xlate_oflags_to_nb(O_WRONLY | O_SYNC, &e), RUMP_O_WRONLY | RUMP_O_SYNC);
	EQ(xlate_oflags_to_nb(O_WRONLY | O_DSYNC, &e), RUMP_O_WRONLY | RUMP_O_DSYNC);
	EQ(xlate_oflags_to_nb(O_PATH | O_DIRECTORY, &e), RUMP_O_RDONLY | RUMP_O_DIRECTORY);
	e = 0;
	EQ(xlate_oflags_to_nb(O_TMPFILE | O_RDWR, &e), -1);
	EQ(e, EOPNOTSUPP);
	EQ(xlate_oflags_to_nb(O_ACCMODE, &e), -1);
	EQ(e, EINVAL);

	EQ(xlate_oflags_to_lx(RUMP_O_RDWR | RUMP_O_APPEND | RUMP_O_NONBLOCK), O_RDWR | O_APPEND | O_NONBLOCK);
	EQ(xlate_oflags_to_lx(RUMP_O_WRONLY | RUMP_O_SYNC), O_WRONLY | O_SYNC);
	/* Every flag that has a pair comes back as it went. */
	int all = O_WRONLY | O_NONBLOCK | O_APPEND | O_ASYNC | O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY |
	    O_DIRECT | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_DSYNC;
	EQ(xlate_oflags_to_lx(xlate_oflags_to_nb(all, &e)), all);
}

static void
test_atflags_errno(void)
{
	EQ(xlate_atflags_to_nb(0, 0), 0);
	EQ(xlate_atflags_to_nb(AT_SYMLINK_NOFOLLOW, 0), RUMP_AT_SYMLINK_NOFOLLOW);
	EQ(xlate_atflags_to_nb(AT_SYMLINK_FOLLOW, 0), RUMP_AT_SYMLINK_FOLLOW);
	EQ(xlate_atflags_to_nb(AT_REMOVEDIR, 0), RUMP_AT_REMOVEDIR);
	EQ(xlate_atflags_to_nb(AT_EACCESS, 1), RUMP_AT_EACCESS);
	EQ(xlate_atflags_to_nb(AT_EMPTY_PATH, 0), -1);
	EQ(AT_FDCWD, RUMP_AT_FDCWD);

	EQ(xlate_errno_to_lx(RUMP_ENOENT), ENOENT);
	EQ(xlate_errno_to_lx(RUMP_EAGAIN), EAGAIN);		/* 35 in NetBSD, 11 in Linux */
	EQ(xlate_errno_to_lx(RUMP_EOPNOTSUPP), EOPNOTSUPP);
	EQ(xlate_errno_to_lx(66), ENOTEMPTY);			/* NetBSD's ENOTEMPTY */
	EQ(xlate_errno_to_lx(63), ENAMETOOLONG);		/* NetBSD's ENAMETOOLONG */
	EQ(xlate_errno_to_lx(62), ELOOP);			/* NetBSD's ELOOP */
	EQ(xlate_errno_to_lx(78), ENOSYS);			/* NetBSD's ENOSYS */
	EQ(xlate_errno_to_lx(100000), EIO);
}

static void
test_stat(void)
{
	struct rump_stat nb;
	struct stat lx;
	struct statx sx;

	memset(&nb, 0, sizeof nb);
	nb.st_dev = (3u << 8) | 7u | (0x12u << 20);	/* major 3, minor 0x1207 */
	nb.st_mode = RUMP_S_IFREG | 0640;
	nb.st_ino = 0x123456789aull;
	nb.st_nlink = 2;
	nb.st_uid = 1000;
	nb.st_gid = 100;
	nb.st_rdev = (8u << 8) | 1u;
	nb.st_atim.tv_sec = 1700000000;
	nb.st_atim.tv_nsec = 1;
	nb.st_mtim.tv_sec = 1700000001;
	nb.st_mtim.tv_nsec = 2;
	nb.st_ctim.tv_sec = 1700000002;
	nb.st_ctim.tv_nsec = 3;
	nb.st_birthtim.tv_sec = 1600000000;
	nb.st_size = 1 << 20;
	nb.st_blocks = 2048;
	nb.st_blksize = 4096;

	EQ(xlate_dev_major(nb.st_dev), 3);
	EQ(xlate_dev_minor(nb.st_dev), 0x1207);
	xlate_stat_to_lx(&nb, &lx);
	EQ(major(lx.st_dev), 3);
	EQ(minor(lx.st_dev), 0x1207);
	EQ(lx.st_mode, S_IFREG | 0640);
	EQ(lx.st_ino, 0x123456789aull);
	EQ(lx.st_nlink, 2);
	EQ(lx.st_uid, 1000);
	EQ(lx.st_gid, 100);
	EQ(major(lx.st_rdev), 8);
	EQ(minor(lx.st_rdev), 1);
	EQ(lx.st_size, 1 << 20);
	EQ(lx.st_blocks, 2048);
	EQ(lx.st_blksize, 4096);
	EQ(lx.st_atim.tv_sec, 1700000000);
	EQ(lx.st_atim.tv_nsec, 1);
	EQ(lx.st_mtim.tv_sec, 1700000001);
	EQ(lx.st_ctim.tv_nsec, 3);

	xlate_stat_to_statx(&nb, &sx);
	EQ(sx.stx_mask, STATX_BASIC_STATS | STATX_BTIME);
	EQ(sx.stx_mode, S_IFREG | 0640);
	EQ(sx.stx_ino, 0x123456789aull);
	EQ(sx.stx_size, 1 << 20);
	EQ(sx.stx_btime.tv_sec, 1600000000);
	EQ(sx.stx_mtime.tv_nsec, 2);
	EQ(sx.stx_dev_major, 3);
	EQ(sx.stx_dev_minor, 0x1207);
	nb.st_birthtim.tv_sec = 0;
	xlate_stat_to_statx(&nb, &sx);
	EQ(sx.stx_mask, STATX_BASIC_STATS);

	/* The mode bits have one encoding. */
	EQ(RUMP_S_IFDIR, S_IFDIR);
	EQ(RUMP_S_IFLNK, S_IFLNK);
	EQ(RUMP_S_IFIFO, S_IFIFO);
	EQ(RUMP_S_ISVTX, S_ISVTX);
	EQ(RUMP_UTIME_NOW, UTIME_NOW);
	EQ(RUMP_UTIME_OMIT, UTIME_OMIT);
	EQ(sizeof(struct timespec), sizeof(struct rump_timespec));
}

static void
test_statfs(void)
{
	struct rump_statvfs nb;
	struct statfs sf;
	struct statvfs sv;

	memset(&nb, 0, sizeof nb);
	strcpy(nb.f_fstypename, "ext2fs");
	nb.f_flag = RUMP_ST_RDONLY | RUMP_ST_NOSUID;
	nb.f_bsize = 4096;
	nb.f_frsize = 1024;
	nb.f_blocks = 8192;
	nb.f_bfree = 100;
	nb.f_bavail = 90;
	nb.f_files = 2048;
	nb.f_ffree = 2000;
	nb.f_favail = 2000;
	nb.f_namemax = 255;
	xlate_statvfs_to_statfs(&nb, &sf);
	EQ(sf.f_type, 0xEF53);
	EQ(sf.f_bsize, 1024);
	EQ(sf.f_blocks, 8192);
	EQ(sf.f_bavail, 90);
	EQ(sf.f_files, 2048);
	EQ(sf.f_namelen, 255);
	EQ(sf.f_flags, ST_RDONLY | ST_NOSUID | 0x20);
	xlate_statvfs_to_statvfs(&nb, &sv);
	EQ(sv.f_bsize, 4096);
	EQ(sv.f_frsize, 1024);
	EQ(sv.f_flag, ST_RDONLY | ST_NOSUID);
	EQ(xlate_fstype_magic("msdos"), 0x4d44);
	EQ(xlate_fstype_magic("tmpfs"), 0x01021994);
	EQ(xlate_fstype_magic("nosuchfs"), 0);
}

/* Appends a NetBSD getdents record. */
static size_t
nbrec(char *buf, size_t at, uint64_t ino, const char *name, uint8_t type)
{
	size_t nl = strlen(name);
	size_t rec = (offsetof(struct rump_dirent, d_name) + nl + 1 + 7) & ~(size_t)7;
	struct rump_dirent d;

	memset(buf + at, 0, rec);
	d.d_fileno = ino;
	d.d_reclen = (uint16_t)rec;
	d.d_namlen = (uint16_t)nl;
	d.d_type = type;
	memcpy(buf + at, &d, offsetof(struct rump_dirent, d_name));
	memcpy(buf + at + offsetof(struct rump_dirent, d_name), name, nl);
	return at + rec;
}

static void
test_dirents(void)
{
	char nb[1024], lx[1024];
	size_t len = 0, used;
	int64_t pos = 0;
	long n;

	len = nbrec(nb, len, 2, ".", RUMP_DT_DIR);
	len = nbrec(nb, len, 2, "..", RUMP_DT_DIR);
	len = nbrec(nb, len, 12, "a file with a long name.txt", RUMP_DT_REG);
	len = nbrec(nb, len, 13, "l", RUMP_DT_LNK);

	n = xlate_dirents(nb, len, &used, lx, sizeof lx, &pos);
	EQ(used, len);
	CHECK(n > 0, "xlate_dirents: expected records, got %ld", n);
	const char *names[] = { ".", "..", "a file with a long name.txt", "l" };
	const uint64_t inos[] = { 2, 2, 12, 13 };
	const int types[] = { DT_DIR, DT_DIR, DT_REG, DT_LNK };
	long off = 0;
	for (int i = 0; i < 4 && off < n; i++) {
		struct dirent64 *d = (struct dirent64 *)(void *)(lx + off);
		CHECK(strcmp(d->d_name, names[i]) == 0, "entry %d: expected %s, got %s", i, names[i], d->d_name);
		EQ(d->d_ino, inos[i]);
		EQ(d->d_type, types[i]);
		EQ(d->d_off, i + 1);
		EQ(d->d_reclen % 8, 0);
		off += d->d_reclen;
	}
	EQ(off, n);

	/* A small output buffer takes whole records only and says how far it got. */
	pos = 0;
	n = xlate_dirents(nb, len, &used, lx, 48, &pos);
	EQ(n, 48);	/* "." and "..": 24 bytes each */
	EQ(used, 32);	/* their NetBSD records: 16 bytes each */
	EQ(pos, 2);
	n = xlate_dirents(nb, len, &used, lx, 8, &pos);
	EQ(n, 0);
	EQ(used, 0);

	/* Malformed records are refused, not read past. */
	char bad[64];
	uint16_t v;
	memcpy(bad, nb, sizeof bad);
	v = 0;
	memcpy(bad + offsetof(struct rump_dirent, d_reclen), &v, 2);
	EQ(xlate_dirents(bad, 64, &used, lx, sizeof lx, &pos), -1);
	v = 200;	/* past the buffer */
	memcpy(bad + offsetof(struct rump_dirent, d_reclen), &v, 2);
	EQ(xlate_dirents(bad, 64, &used, lx, sizeof lx, &pos), -1);
	memcpy(bad, nb, sizeof bad);
	v = 10;		/* a name longer than its record */
	memcpy(bad + offsetof(struct rump_dirent, d_namlen), &v, 2);
	EQ(xlate_dirents(bad, 64, &used, lx, sizeof lx, &pos), -1);
	EQ(xlate_dirents(nb, 5, &used, lx, sizeof lx, &pos), -1);	/* a truncated header */
}

static void
test_poll_flock(void)
{
	EQ(xlate_poll_to_nb(POLLIN | POLLOUT), RUMP_POLLIN | RUMP_POLLOUT);
	EQ(xlate_poll_to_nb(POLLWRNORM), RUMP_POLLWRNORM);
	EQ(xlate_poll_to_nb(POLLWRBAND), RUMP_POLLWRBAND);
	EQ(xlate_poll_to_lx(RUMP_POLLIN | RUMP_POLLHUP | RUMP_POLLNVAL), POLLIN | POLLHUP | POLLNVAL);
	EQ(xlate_poll_to_lx(RUMP_POLLWRBAND), POLLWRBAND);

	struct flock lx = { .l_type = F_WRLCK, .l_whence = SEEK_CUR, .l_start = 10, .l_len = 20, .l_pid = 7 };
	struct nb_flock nb;
	xlate_flock_to_nb(&lx, &nb);
	EQ(nb.l_type, RUMP_F_WRLCK);
	EQ(nb.l_whence, RUMP_SEEK_CUR);
	EQ(nb.l_start, 10);
	EQ(nb.l_len, 20);
	EQ(sizeof nb, 24);	/* NetBSD amd64's struct flock */
	nb.l_type = RUMP_F_UNLCK;
	xlate_flock_to_lx(&nb, &lx);
	EQ(lx.l_type, F_UNLCK);
}

static void
test_route(void)
{
	const char *r;

	r = xlate_route_path("/rump", 5, "/rump/x/y");
	CHECK(r && strcmp(r, "/x/y") == 0, "/rump/x/y: expected /x/y, got %s", r ? r : "(host)");
	r = xlate_route_path("/rump", 5, "/rump");
	CHECK(r && strcmp(r, "/") == 0, "/rump: expected /, got %s", r ? r : "(host)");
	r = xlate_route_path("/rump", 5, "/rump/");
	CHECK(r && strcmp(r, "/") == 0, "/rump/: expected /, got %s", r ? r : "(host)");
	CHECK(xlate_route_path("/rump", 5, "/rumpx") == NULL, "/rumpx must stay the host's");
	CHECK(xlate_route_path("/rump", 5, "/ru") == NULL, "/ru must stay the host's");
	CHECK(xlate_route_path("/rump", 5, "/tmp/rump/x") == NULL, "/tmp/rump/x must stay the host's");
	r = xlate_route_path("/a/b", 4, "/a/b/c");
	CHECK(r && strcmp(r, "/c") == 0, "/a/b/c: expected /c, got %s", r ? r : "(host)");
}

static void
test_config(void)
{
	struct xlate_config c;
	const char *r;

	EQ(xlate_parse_config("path=/rump", &c), 0);
	EQ(c.npath, 1);
	EQ(c.nblanket, 0);
	EQ(c.fdoff, 128);
	r = xlate_route(&c, "/rump/etc/x");
	CHECK(r && strcmp(r, "/etc/x") == 0, "route /rump/etc/x: got %s", r ? r : "(host)");
	CHECK(xlate_route(&c, "/etc/x") == NULL, "/etc/x must stay the host's");

	EQ(xlate_parse_config("", &c), 0);
	EQ(c.npath + c.nblanket, 0);	/* an empty RUMPHIJACK hijacks nothing */

	EQ(xlate_parse_config("path=/rump//,socket=all:nolocal,fdoff=300,blanket=/dev/bpf:/var/run/x", &c), 0);
	EQ(c.npath, 1);
	EQ(c.pathlen[0], 5);		/* trailing slashes dropped */
	EQ(c.fdoff, 300);
	EQ(c.nblanket, 2);
	r = xlate_route(&c, "/dev/bpf0");	/* a blanket is a literal prefix, kept in the name */
	CHECK(r && strcmp(r, "/dev/bpf0") == 0, "route /dev/bpf0: got %s", r ? r : "(host)");
	r = xlate_route(&c, "/var/run/x/y");
	CHECK(r && strcmp(r, "/var/run/x/y") == 0, "route /var/run/x/y: got %s", r ? r : "(host)");
	CHECK(xlate_route(&c, "/dev/null") == NULL, "/dev/null must stay the host's");
	r = xlate_route(&c, "/rump");
	CHECK(r && strcmp(r, "/") == 0, "route /rump: got %s", r ? r : "(host)");

	EQ(xlate_parse_config("path=/a,path=/b", &c), 0);
	r = xlate_route(&c, "/b/c");
	CHECK(r && strcmp(r, "/c") == 0, "second prefix: got %s", r ? r : "(host)");

	EQ(xlate_parse_config("path=relative", &c), -1);
	EQ(xlate_parse_config("fdoff=2", &c), -1);
	EQ(xlate_parse_config("fdoff=12x", &c), -1);
	EQ(xlate_parse_config("garbage", &c), -1);
}

static void
collect(int h, int r, void *arg)
{
	int *v = arg;
	v[v[0] * 2 + 1] = h;
	v[v[0] * 2 + 2] = r;
	v[0]++;
}

static void
test_fdmap(void)
{
	int hs[] = { 1, 128, 200 }, rs[] = { 3, 0, 70 };
	char buf[64];
	int v[16] = { 0 };

	EQ(xlate_fdmap_encode(buf, sizeof buf, hs, rs, 3), strlen("1:3,128:0,200:70"));
	CHECK(strcmp(buf, "1:3,128:0,200:70") == 0, "encode: expected 1:3,128:0,200:70, got %s", buf);
	EQ(xlate_fdmap_parse(buf, collect, v), 3);
	EQ(v[0], 3);
	EQ(v[1], 1);
	EQ(v[2], 3);
	EQ(v[5], 200);
	EQ(v[6], 70);
	/* Too small a buffer: the needed length comes back, the buffer holds a string. */
	EQ(xlate_fdmap_encode(buf, 4, hs, rs, 3), strlen("1:3,128:0,200:70"));
	EQ(strlen(buf) < 4, 1);
	/* Garbage is skipped, not trusted. */
	memset(v, 0, sizeof v);
	EQ(xlate_fdmap_parse("x,5:,-1:2,3:4,9:99999999,7:8junk,10:11", collect, v), 2);
	EQ(v[1], 3);
	EQ(v[3], 10);
}

static void
test_socket_config(void)
{
	struct xlate_config c;

	EQ(xlate_parse_config("path=/rump", &c), 0);
	EQ(c.nsockets, 0);	/* no socket= entry: no socket is the kernel's, as NetBSD */
	EQ(xlate_parse_config("socket=all", &c), 0);
	EQ(c.sockets[AF_UNIX] + c.sockets[AF_INET] + c.sockets[AF_INET6] + c.sockets[AF_NETLINK], 4);
	EQ(c.nsockets, XLATE_NAF);
	EQ(xlate_parse_config("path=/rump,socket=all:nolocal", &c), 0);
	EQ(c.sockets[AF_UNIX], 0);
	EQ(c.sockets[AF_INET] + c.sockets[AF_INET6] + c.sockets[AF_PACKET], 3);
	EQ(xlate_parse_config("socket=inet,inet6", &c), -1);	/* "," ends the entry: "inet6" has no '=' */
	EQ(xlate_parse_config("socket=inet:inet6", &c), 0);
	EQ(c.nsockets, 2);
	EQ(c.sockets[AF_INET] + c.sockets[AF_INET6], 2);
	EQ(xlate_parse_config("socket=none", &c), 0);
	EQ(c.nsockets, 0);
	EQ(xlate_parse_config("socket=all:noinet6:noroute", &c), 0);
	EQ(c.sockets[AF_INET6] + c.sockets[AF_NETLINK], 0);
	EQ(c.sockets[AF_INET], 1);
	EQ(xlate_parse_config("socket=inet:bogus", &c), -1);
	EQ(c.sockets[AF_INET], 1);	/* the names it knows still count */
}

static void
test_socket_numbers(void)
{
	EQ(xlate_af_to_nb(AF_INET), RUMP_AF_INET);
	EQ(xlate_af_to_nb(AF_INET6), RUMP_AF_INET6);	/* 10 on Linux, 24 on NetBSD */
	EQ(xlate_af_to_nb(AF_UNIX), RUMP_AF_LOCAL);
	EQ(xlate_af_to_nb(AF_UNSPEC), RUMP_AF_UNSPEC);
	EQ(xlate_af_to_nb(AF_NETLINK), -1);
	EQ(xlate_af_to_nb(AF_PACKET), -1);
	EQ(xlate_af_to_lx(RUMP_AF_INET6), AF_INET6);
	EQ(xlate_af_to_lx(RUMP_AF_ROUTE), -1);

	EQ(xlate_socktype_to_nb(SOCK_STREAM), RUMP_SOCK_STREAM);
	EQ(xlate_socktype_to_nb(SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC),
	    RUMP_SOCK_DGRAM | RUMP_SOCK_NONBLOCK | RUMP_SOCK_CLOEXEC);
	EQ(xlate_socktype_to_nb(SOCK_SEQPACKET | SOCK_CLOEXEC), RUMP_SOCK_SEQPACKET | RUMP_SOCK_CLOEXEC);
	EQ(xlate_socktype_to_nb(SOCK_STREAM | 0x400000), -1);

	EQ(xlate_msgflags_to_nb(0), 0);
	EQ(xlate_msgflags_to_nb(MSG_NOSIGNAL | MSG_DONTWAIT), RUMP_MSG_NOSIGNAL | RUMP_MSG_DONTWAIT);
	EQ(xlate_msgflags_to_nb(MSG_PEEK | MSG_WAITALL | MSG_TRUNC), RUMP_MSG_PEEK | RUMP_MSG_WAITALL | RUMP_MSG_TRUNC);
	EQ(xlate_msgflags_to_nb(MSG_EOR | MSG_OOB | MSG_CMSG_CLOEXEC), RUMP_MSG_EOR | RUMP_MSG_OOB | RUMP_MSG_CMSG_CLOEXEC);
	EQ(xlate_msgflags_to_nb(MSG_MORE | MSG_CONFIRM), 0);	/* hints, dropped */
	EQ(xlate_msgflags_to_nb(MSG_ERRQUEUE), -1);
	EQ(xlate_msgflags_to_lx(RUMP_MSG_TRUNC | RUMP_MSG_CTRUNC | RUMP_MSG_EOR), MSG_TRUNC | MSG_CTRUNC | MSG_EOR);

	int lv, nm;
	EQ(xlate_sockopt_to_nb(SOL_SOCKET, SO_REUSEADDR, &lv, &nm), XLATE_OPT_BOOL);
	EQ(lv, RUMP_SOL_SOCKET);
	EQ(nm, RUMP_SO_REUSEADDR);
	EQ(xlate_sockopt_to_nb(SOL_SOCKET, SO_ERROR, &lv, &nm), XLATE_OPT_ERRNO);
	EQ(nm, RUMP_SO_ERROR);
	EQ(xlate_sockopt_to_nb(SOL_SOCKET, SO_RCVBUF, &lv, &nm), XLATE_OPT_PLAIN);
	EQ(nm, RUMP_SO_RCVBUF);
	EQ(xlate_sockopt_to_nb(SOL_SOCKET, SO_SNDTIMEO, &lv, &nm), XLATE_OPT_PLAIN);
	EQ(nm, RUMP_SO_SNDTIMEO);
	EQ(xlate_sockopt_to_nb(SOL_SOCKET, SO_LINGER, &lv, &nm), XLATE_OPT_PLAIN);
	EQ(nm, RUMP_SO_LINGER);
	EQ(xlate_sockopt_to_nb(SOL_SOCKET, SO_TYPE, &lv, &nm), XLATE_OPT_PLAIN);
	EQ(nm, RUMP_SO_TYPE);
	EQ(xlate_sockopt_to_nb(IPPROTO_TCP, TCP_NODELAY, &lv, &nm), XLATE_OPT_PLAIN);
	EQ(lv, 6);
	EQ(nm, 1);
	EQ(xlate_sockopt_to_nb(IPPROTO_TCP, TCP_KEEPIDLE, &lv, &nm), XLATE_OPT_PLAIN);
	EQ(nm, 3);			/* 4 on Linux */
	EQ(xlate_sockopt_to_nb(IPPROTO_TCP, TCP_CORK, &lv, &nm), -1);	/* Linux's 3: NetBSD's KEEPIDLE */
	EQ(xlate_sockopt_to_nb(IPPROTO_IP, IP_TTL, &lv, &nm), XLATE_OPT_PLAIN);
	EQ(lv, 0);
	EQ(nm, 4);			/* 2 on Linux */
	EQ(xlate_sockopt_to_nb(IPPROTO_IP, IP_TOS, &lv, &nm), XLATE_OPT_PLAIN);
	EQ(nm, 3);
	EQ(xlate_sockopt_to_nb(IPPROTO_IPV6, IPV6_V6ONLY, &lv, &nm), XLATE_OPT_BOOL);
	EQ(lv, 41);
	EQ(nm, 27);			/* 26 on Linux */
	EQ(xlate_sockopt_to_nb(IPPROTO_IP, IP_RECVERR, &lv, &nm), -1);
	EQ(xlate_sockopt_to_nb(IPPROTO_TCP, TCP_INFO, &lv, &nm), XLATE_OPT_TCPINFO);
	EQ(nm, 9);			/* 11 on Linux */

	/* NetBSD's struct tcp_info (ESTABLISHED is 4 there, 1 on Linux) as Linux's. */
	{
		uint8_t nbti[NB_TCP_INFO_SIZE];
		struct tcp_info ti;
		uint32_t w;
		memset(nbti, 0, sizeof nbti);
		nbti[0] = 4;
		nbti[5] = 7;		/* timestamps, SACK, window scaling: the same bits */
		nbti[6] = 0x97;		/* send shift 7, receive shift 9 */
		w = 1448; memcpy(nbti + 8 + 4 * 2, &w, 4);	/* tcpi_snd_mss */
		w = 250; memcpy(nbti + 8 + 4 * 15, &w, 4);	/* tcpi_rtt (us) */
		w = 10; memcpy(nbti + 8 + 4 * 18, &w, 4);	/* tcpi_snd_cwnd (segments) */
		w = 123; memcpy(nbti + 8 + 4 * 23, &w, 4);	/* tcpi_snd_wnd: NetBSD's extension */
		w = 5; memcpy(nbti + 8 + 4 * 28, &w, 4);	/* tcpi_snd_rexmitpack */
		memset(&ti, 0xee, sizeof ti);
		EQ(xlate_tcpinfo_to_lx(nbti, sizeof nbti, &ti, sizeof ti), sizeof ti);
		EQ(ti.tcpi_state, TCP_ESTABLISHED);
		EQ(ti.tcpi_options, 7);
		EQ(ti.tcpi_snd_wscale, 7);
		EQ(ti.tcpi_rcv_wscale, 9);
		EQ(ti.tcpi_snd_mss, 1448);
		EQ(ti.tcpi_rtt, 250);
		EQ(ti.tcpi_snd_cwnd, 10);
		EQ(ti.tcpi_rcv_space, 0);
		EQ(ti.tcpi_total_retrans, 5);
		/* A short buffer gets the first bytes; a short answer leaves the rest 0. */
		memset(&ti, 0xee, sizeof ti);
		EQ(xlate_tcpinfo_to_lx(nbti, 8, &ti, 4), 4);
		EQ(ti.tcpi_state, TCP_ESTABLISHED);
		EQ(ti.tcpi_backoff, 0xee);
		nbti[0] = 200;		/* no such NetBSD state */
		EQ(xlate_tcpinfo_to_lx(nbti, 8, &ti, sizeof ti), sizeof ti);
		EQ(ti.tcpi_state, TCP_CLOSE);
		EQ(ti.tcpi_snd_mss, 0);
	}
	EQ(xlate_sockopt_to_nb(SOL_SOCKET, SO_PEERCRED, &lv, &nm), -1);
	EQ(xlate_sockopt_to_nb(12345, 1, &lv, &nm), -1);
}

static void
test_sockaddr(void)
{
	uint8_t nb[XLATE_SOCKADDR_MAX];
	struct sockaddr_storage ss;
	uint32_t len;
	int e = 0;

	/* AF_INET: Linux's 16 bytes -> NetBSD's 16 (sa_len 16, family 2), and back. */
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(8080) };
	in.sin_addr.s_addr = htonl(0x0a000203);
	EQ(xlate_sockaddr_to_nb(&in, sizeof in, nb, &e), 16);
	const uint8_t want4[] = { 16, 2, 0x1f, 0x90, 10, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0 };
	CHECK(memcmp(nb, want4, 16) == 0, "sockaddr_in: expected NetBSD's bytes, got %02x %02x %02x %02x %02x %02x %02x %02x",
	    nb[0], nb[1], nb[2], nb[3], nb[4], nb[5], nb[6], nb[7]);
	len = sizeof ss;
	memset(&ss, 0xee, sizeof ss);
	xlate_sockaddr_to_lx(nb, 16, &ss, &len);
	EQ(len, sizeof in);
	CHECK(memcmp(&ss, &in, sizeof in) == 0, "sockaddr_in back: not the original bytes");
	e = 0;
	EQ(xlate_sockaddr_to_nb(&in, sizeof in - 1, nb, &e), -1);
	EQ(e, EINVAL);

	/* AF_INET6: family 10 -> 24, 28 bytes each; the 24-byte RFC 2133 form is taken too. */
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(443), .sin6_flowinfo = 7,
	    .sin6_scope_id = 3 };
	in6.sin6_addr.s6_addr[0] = 0xfe;
	in6.sin6_addr.s6_addr[15] = 1;
	EQ(xlate_sockaddr_to_nb(&in6, sizeof in6, nb, &e), 28);
	EQ(nb[0], 28);
	EQ(nb[1], RUMP_AF_INET6);
	EQ(nb[2] << 8 | nb[3], 443);
	EQ(nb[8], 0xfe);
	EQ(nb[23], 1);
	EQ(nb[24], 3);			/* scope id, little-endian */
	len = sizeof ss;
	xlate_sockaddr_to_lx(nb, 28, &ss, &len);
	EQ(len, sizeof in6);
	CHECK(memcmp(&ss, &in6, sizeof in6) == 0, "sockaddr_in6 back: not the original bytes");
	EQ(xlate_sockaddr_to_nb(&in6, 24, nb, &e), 28);
	EQ(xlate_sockaddr_to_nb(&in6, 23, nb, &e), -1);

	/* AF_UNIX: a 2-byte family -> sa_len and a byte family; the path keeps its NUL. */
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	strcpy(un.sun_path, "/tmp/s");
	EQ(xlate_sockaddr_to_nb(&un, offsetof(struct sockaddr_un, sun_path) + 7, nb, &e), 9);
	EQ(nb[1], RUMP_AF_LOCAL);
	CHECK(memcmp(nb + 2, "/tmp/s", 7) == 0, "sockaddr_un: path not copied");
	EQ(xlate_sockaddr_to_nb(&un, sizeof un, nb, &e), 9);	/* sizeof: the path ends at its NUL */
	len = sizeof ss;
	xlate_sockaddr_to_lx(nb, 9, &ss, &len);
	EQ(len, offsetof(struct sockaddr_un, sun_path) + 7);
	CHECK(strcmp(((struct sockaddr_un *)&ss)->sun_path, "/tmp/s") == 0, "sockaddr_un back: path");
	un.sun_path[0] = '\0';
	un.sun_path[1] = 'x';
	e = 0;
	EQ(xlate_sockaddr_to_nb(&un, offsetof(struct sockaddr_un, sun_path) + 2, nb, &e), -1);	/* abstract */
	EQ(e, EINVAL);
	memset(un.sun_path, 'a', sizeof un.sun_path);
	EQ(xlate_sockaddr_to_nb(&un, sizeof un, nb, &e), -1);	/* longer than NetBSD's 104 */

	/* Other families, and lengths too short to hold a family. */
	struct sockaddr nl = { .sa_family = AF_NETLINK };
	e = 0;
	EQ(xlate_sockaddr_to_nb(&nl, sizeof nl, nb, &e), -1);
	EQ(e, EAFNOSUPPORT);
	e = 0;
	EQ(xlate_sockaddr_to_nb(&nl, 1, nb, &e), -1);
	EQ(e, EINVAL);

	/* To Linux with too little room: truncated, and the full length reported. */
	EQ(xlate_sockaddr_to_nb(&in, sizeof in, nb, &e), 16);
	unsigned char small[4] = { 0xee, 0xee, 0xee, 0xee };
	len = 4;
	xlate_sockaddr_to_lx(nb, 16, small, &len);
	EQ(len, 16);
	EQ(small[0], AF_INET);
	EQ(small[2], 0x1f);
	len = 8;
	xlate_sockaddr_to_lx(nb, 0, &ss, &len);	/* no address */
	EQ(len, 0);
}

static void
test_cmsg(void)
{
	union {
		struct cmsghdr h;
		unsigned char b[CMSG_SPACE(2 * sizeof(int)) + CMSG_SPACE(sizeof(int))];
	} lx, back;
	unsigned char nb[sizeof lx.b];
	int fds[2] = { 5, 9 }, e = 0;

	memset(&lx, 0, sizeof lx);
	struct cmsghdr *c = &lx.h;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	c = (struct cmsghdr *)(lx.b + CMSG_SPACE(sizeof fds));
	c->cmsg_len = CMSG_LEN(sizeof(int));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(c), &fds[1], sizeof(int));

	memset(nb, 0xee, sizeof nb);
	EQ(xlate_cmsg_to_nb(lx.b, sizeof lx.b, nb, &e), sizeof lx.b);
	struct rump_cmsghdr n;
	memcpy(&n, nb, sizeof n);
	EQ(n.cmsg_len, 16 + sizeof fds);
	EQ(n.cmsg_level, RUMP_SOL_SOCKET);
	EQ(n.cmsg_type, RUMP_SCM_RIGHTS);
	int got[2];
	memcpy(got, nb + 16, sizeof got);
	EQ(got[0], 5);
	EQ(got[1], 9);
	memcpy(&n, nb + 24, sizeof n);	/* the second record, 8-aligned */
	EQ(n.cmsg_len, 16 + sizeof(int));

	memset(&back, 0, sizeof back);
	EQ(xlate_cmsg_to_lx(nb, sizeof nb, back.b), sizeof lx.b);
	CHECK(memcmp(back.b, lx.b, sizeof lx.b) == 0, "cmsg round trip: not the original bytes");

	/* Linux's SCM_CREDENTIALS has no NetBSD counterpart; a length past the buffer is malformed. */
	c = &lx.h;
	c->cmsg_type = SCM_CREDENTIALS;
	e = 0;
	EQ(xlate_cmsg_to_nb(lx.b, sizeof lx.b, nb, &e), -1);
	EQ(e, EINVAL);
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = sizeof lx.b + 8;
	e = 0;
	EQ(xlate_cmsg_to_nb(lx.b, sizeof lx.b, nb, &e), -1);
	EQ(e, EINVAL);
	/* A NetBSD record Linux cannot name (SCM_CREDS) is left out. */
	n.cmsg_len = 16 + 4;
	n.cmsg_level = RUMP_SOL_SOCKET;
	n.cmsg_type = RUMP_SCM_CREDS;
	memset(nb, 0, sizeof nb);
	memcpy(nb, &n, sizeof n);
	EQ(xlate_cmsg_to_lx(nb, 24, back.b), 0);
}

int
main(void)
{
	test_oflags();
	test_atflags_errno();
	test_stat();
	test_statfs();
	test_dirents();
	test_poll_flock();
	test_route();
	test_config();
	test_fdmap();
	test_socket_config();
	test_socket_numbers();
	test_sockaddr();
	test_cmsg();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail != 0;
}
