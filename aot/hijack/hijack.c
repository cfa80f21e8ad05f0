/*
 * librumphijack: run unmodified Linux programs with part of their file system calls served by a
 * rump kernel (LD_PRELOAD=librumphijack.so), as NetBSD's rumphijack(3).
 *
 * The kernel is reached through a client library loaded with dlopen: librumpclient.so beside
 * this library (or on the loader's path), or RUMPHIJACK_CLIENTLIB naming another one that exports
 * rumpclient_init and the rump_sys_* calls (librump.so's in-process kernel behind a small shim
 * is what the tests use before a server). The rump_sys_* calls return -1 with the host's errno.
 *
 * Routing (RUMPHIJACK, NetBSD's syntax, default "path=/rump"; an empty value hijacks nothing):
 * a path under a prefix ("/rump/x") goes to the kernel as the rest ("/x"), one under a blanket
 * prefix ("blanket=/dev/foo:...") unchanged; other absolute paths go to the host. Relative paths
 * follow the current directory, which is the kernel's after a chdir or fchdir into it and the
 * host's after one out of it. *at calls follow their directory descriptor. Two-path calls across
 * the two kernels fail with EXDEV. As in NetBSD, ".." and symbolic links never switch kernels:
 * "/rump/.." is the kernel's root, and a link's target is read by the kernel that holds it.
 * getcwd and realpath give kernel names under the first prefix.
 *
 * Descriptors: every kernel descriptor the program holds is a host descriptor number whose slot
 * the host keeps busy with a placeholder (a descriptor of /dev/null, with the kernel descriptor's
 * close-on-exec flag), so the host never hands the number out for its own files. A table maps
 * the number to the kernel's descriptor. A fresh kernel descriptor gets the lowest free number at
 * or above the offset (NetBSD's fdoff, default 128, RUMPHIJACK=...,fdoff=N); dup2/dup3/F_DUPFD
 * put a dup of the kernel descriptor at the number asked for, which is how a shell's "> /rump/f"
 * makes descriptor 1 the kernel's. Across execve the table travels in RUMPHIJACK__FDMAP (and a
 * kernel current directory in RUMPHIJACK__CWD): the client library keeps the kernel process
 * across exec (rumpclient_exec). Descriptors 0-2 that are the kernel's get stdio streams of
 * their own (fopencookie), since the C library's stdio never calls the interposed read/write.
 *
 * RUMPHIJACK_RETRYCONNECT (inftime, once, die or seconds) sets the client's reconnection policy.
 *
 * What glibc does internally (stdio, opendir/readdir, realpath, mkstemp, execvp, posix_spawn,
 * system, popen, scandir, glob, nftw) never reaches interposed symbols, so those entry points are
 * reimplemented here for the kernel's names and descriptors: FILE streams over kernel descriptors
 * are fopencookie streams (listed, so that fileno answers for them), kernel directories are DIRs
 * of this library (listed, told apart from glibc's by address), execv*, execl* and fork/vfork (a
 * fork) are wrapped, and posix_spawn, system and popen are a fork and our execve.
 *
 * Not covered: freopen on kernel paths; nftw with FTW_CHDIR on a kernel tree (glibc's, which
 * fails there); a posix_spawn_file_actions_t copied with memcpy (glibc's posix_spawn starts that
 * child, which gets a new kernel process); writable shared mappings of kernel files (ENODEV;
 * other mappings of them are copies); ioctl on kernel
 * descriptors other than FIONBIO, FIONREAD, FIOCLEX and FIONCLEX (ENOTTY); extended attributes
 * (ENOTSUP); raw syscall(2); executing a file that is in the kernel (EACCES); name resolution,
 * which stays the host's (see "sockets" below). epoll watches kernel descriptors through a list
 * of this library's and a mixed poll (see "epoll over kernel descriptors"), level-triggered.
 *
 * Sockets (RUMPHIJACK's socket=, NetBSD's syntax; the default RUMPHIJACK is NetBSD's,
 * "path=/rump,socket=all:nolocal": every family but AF_LOCAL in the kernel, since local sockets
 * are how a program reaches the host's own services, syslog, nscd, D-Bus, and the point of the
 * hijack is the kernel's network stack): a socket of a routed family is created in the kernel
 * and every call on it goes there, Linux's addresses, option names, flags and control messages
 * translated to NetBSD's (xlate.c) and back; descriptors passed in SCM_RIGHTS are mapped both
 * ways. poll and select over host and kernel descriptors together wait in both at once (a
 * thread polls the host's, and a pipe on each side ends the other's wait), never by a timeout.
 *
 * Locks: maplock protects the lists of this library's DIRs and streams and the read-ahead
 * pointers; it is never held across a call into the kernel or the host's I/O. The descriptor
 * table itself is read without it: a number is owned by whoever holds its placeholder.
 */
#undef _FORTIFY_SOURCE

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include <rump/rump_syscalls.h>

#include "xlate.h"

#define EXPORT __attribute__((visibility("default")))

/* glibc's fortify entry points and old stat interface, not declared without their macros. */
int __open_2(const char *, int);
int __open64_2(const char *, int);
int __openat_2(int, const char *, int);
int __openat64_2(int, const char *, int);
int __xstat(int, const char *, struct stat *);
int __lxstat(int, const char *, struct stat *);
int __fxstat(int, int, struct stat *);
int __fxstatat(int, int, const char *, struct stat *, int);
int __xstat64(int, const char *, struct stat64 *);
int __lxstat64(int, const char *, struct stat64 *);
int __fxstat64(int, int, struct stat64 *);
int __fxstatat64(int, int, const char *, struct stat64 *, int);
int close_range(unsigned int, unsigned int, int);

/* --- the host's functions, found once (lazily: other libraries' constructors may call first) --- */

static void *
hostsym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		static const char msg[] = "librumphijack: a host function is missing\n";
		write(2, msg, sizeof msg - 1);
		abort();
	}
	return p;
}

#define HOSTFN(fn) static __typeof__(fn) *host_##fn
#define H(fn) (*({							\
	if (__builtin_expect(host_##fn == NULL, 0))				\
		host_##fn = (__typeof__(fn) *)hostsym(#fn);			\
	host_##fn;								\
}))

HOSTFN(open); HOSTFN(openat); HOSTFN(close); HOSTFN(read); HOSTFN(write); HOSTFN(pread);
HOSTFN(pwrite); HOSTFN(readv); HOSTFN(writev); HOSTFN(preadv); HOSTFN(pwritev); HOSTFN(lseek);
HOSTFN(stat); HOSTFN(lstat); HOSTFN(fstat); HOSTFN(fstatat); HOSTFN(statx);
HOSTFN(opendir); HOSTFN(fdopendir); HOSTFN(readdir); HOSTFN(readdir64); HOSTFN(closedir);
HOSTFN(dirfd); HOSTFN(rewinddir); HOSTFN(telldir); HOSTFN(seekdir); HOSTFN(readdir_r);
HOSTFN(getdents64);
HOSTFN(mkdir); HOSTFN(mkdirat); HOSTFN(rmdir); HOSTFN(unlink); HOSTFN(unlinkat); HOSTFN(rename);
HOSTFN(renameat); HOSTFN(renameat2); HOSTFN(link); HOSTFN(linkat); HOSTFN(symlink);
HOSTFN(symlinkat); HOSTFN(readlink); HOSTFN(readlinkat); HOSTFN(chmod); HOSTFN(fchmod);
HOSTFN(fchmodat); HOSTFN(lchmod); HOSTFN(chown); HOSTFN(lchown); HOSTFN(fchown); HOSTFN(fchownat);
HOSTFN(utimensat); HOSTFN(futimens); HOSTFN(utimes); HOSTFN(lutimes); HOSTFN(futimes); HOSTFN(utime);
HOSTFN(truncate); HOSTFN(ftruncate); HOSTFN(fsync); HOSTFN(fdatasync);
HOSTFN(chdir); HOSTFN(fchdir); HOSTFN(getcwd); HOSTFN(dup); HOSTFN(dup2); HOSTFN(dup3);
HOSTFN(fcntl); HOSTFN(ioctl); HOSTFN(poll); HOSTFN(select); HOSTFN(access); HOSTFN(faccessat);
HOSTFN(euidaccess); HOSTFN(fork); HOSTFN(execve); HOSTFN(statfs); HOSTFN(fstatfs);
HOSTFN(statvfs); HOSTFN(fstatvfs); HOSTFN(mknodat);
HOSTFN(fopen); HOSTFN(fdopen); HOSTFN(remove);
HOSTFN(copy_file_range); HOSTFN(sendfile); HOSTFN(posix_fadvise); HOSTFN(fallocate);
HOSTFN(posix_fallocate); HOSTFN(mmap); HOSTFN(umask); HOSTFN(close_range);
HOSTFN(getxattr); HOSTFN(lgetxattr); HOSTFN(fgetxattr); HOSTFN(listxattr); HOSTFN(llistxattr);
HOSTFN(flistxattr); HOSTFN(setxattr); HOSTFN(lsetxattr); HOSTFN(fsetxattr);
HOSTFN(removexattr); HOSTFN(lremovexattr); HOSTFN(fremovexattr);
HOSTFN(realpath); HOSTFN(canonicalize_file_name); HOSTFN(mkstemp); HOSTFN(mkostemp);
HOSTFN(mkstemps); HOSTFN(mkostemps); HOSTFN(mkdtemp); HOSTFN(fileno); HOSTFN(fileno_unlocked);
HOSTFN(socket); HOSTFN(socketpair); HOSTFN(bind); HOSTFN(connect); HOSTFN(listen); HOSTFN(accept4);
HOSTFN(shutdown); HOSTFN(getsockname); HOSTFN(getpeername); HOSTFN(setsockopt); HOSTFN(getsockopt);
HOSTFN(sendto); HOSTFN(recvfrom); HOSTFN(sendmsg); HOSTFN(recvmsg); HOSTFN(sendmmsg); HOSTFN(recvmmsg);
HOSTFN(epoll_ctl); HOSTFN(epoll_wait); HOSTFN(ppoll); HOSTFN(pselect);

/* --- the kernel's calls, from the client library --- */

#define RUMPFN(fn) static __typeof__(rump_sys_##fn) *rs_##fn
RUMPFN(read); RUMPFN(write); RUMPFN(close); RUMPFN(fchdir); RUMPFN(chdir); RUMPFN(dup);
RUMPFN(fcntl); RUMPFN(fsync); RUMPFN(readv); RUMPFN(writev); RUMPFN(fchown); RUMPFN(fchmod);
RUMPFN(pread); RUMPFN(pwrite); RUMPFN(lseek); RUMPFN(truncate); RUMPFN(ftruncate); RUMPFN(poll);
RUMPFN(__getcwd); RUMPFN(getdents); RUMPFN(fstat); RUMPFN(pipe2); RUMPFN(linkat);
RUMPFN(renameat); RUMPFN(mknodat); RUMPFN(mkfifoat); RUMPFN(mkdirat); RUMPFN(faccessat); RUMPFN(fchmodat);
RUMPFN(fchownat); RUMPFN(fstatat); RUMPFN(utimensat); RUMPFN(openat); RUMPFN(readlinkat);
RUMPFN(symlinkat); RUMPFN(unlinkat); RUMPFN(statvfs1); RUMPFN(fstatvfs1); RUMPFN(umask);
RUMPFN(sync); RUMPFN(socket); RUMPFN(socketpair); RUMPFN(bind); RUMPFN(connect); RUMPFN(listen);
RUMPFN(paccept); RUMPFN(shutdown); RUMPFN(getsockname); RUMPFN(getpeername); RUMPFN(setsockopt);
RUMPFN(getsockopt); RUMPFN(sendto); RUMPFN(recvfrom); RUMPFN(sendmsg); RUMPFN(recvmsg); RUMPFN(ioctl);

/* librumpclient's process calls (<rump/rumpclient.h>), optional: a client library without them
 * gives children of fork a new kernel process (or, in-process, none). */
struct rumpclient_fork;
static struct rumpclient_fork *(*rc_prefork)(void);
static int (*rc_fork_init)(struct rumpclient_fork *);
static void (*rc_fork_cancel)(struct rumpclient_fork *);
static void (*rc_fork_vparent)(struct rumpclient_fork *);
static int (*rc_exec)(const char *, char *const[], char *const[]);
/* The client's own socket moves out of the way of a close or dup2 (variants as NetBSD's). */
enum { CLOSENOTIFY_CLOSE, CLOSENOTIFY_DUP2, CLOSENOTIFY_FCLOSEM };
static int (*rc_closenotify)(int *, int);

/* --- configuration and state --- */

static struct xlate_config cfg;
static int hijacking;		/* a kernel is attached: routing is on */
static volatile int cwd_rump;	/* the current directory is the kernel's */

/* Host descriptor number -> kernel descriptor + 1 (0: the host's). */
#define MAXFD 65536
static int fdmap[MAXFD];
/* Kernel directory records read ahead of what getdents64's caller took (per host number). */
struct dirbuf {
	size_t len, off;
	int64_t pos;
	char buf[8192];
};
static struct dirbuf *dirbufs[MAXFD];
static pthread_mutex_t maplock = PTHREAD_MUTEX_INITIALIZER;
static void ep_forget(int h);

static inline int
rfd(int fd)
{
	if (!hijacking || fd < 0 || fd >= MAXFD)
		return -1;
	return __atomic_load_n(&fdmap[fd], __ATOMIC_ACQUIRE) - 1;
}

/* --- descriptors --- */

/* A placeholder for kernel descriptor r at the lowest free host number >= minfd, or exactly at
 * `at` (>= 0; whatever the host had there is closed, as dup2 does). Closes r on failure. */
static int
place(int r, int minfd, int at, int cloexec)
{
	int nullfd, h, e;

	nullfd = H(open)("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0)
		goto fail;
	if (at == nullfd) {
		/* The number asked for was free and open() took it. */
		h = nullfd;
		if (!cloexec)
			H(fcntl)(h, F_SETFD, 0);
	} else {
		if (at >= 0 && rc_closenotify != NULL && rc_closenotify(&at, CLOSENOTIFY_DUP2) < 0)
			h = -1;
		else if (at >= 0)
			h = H(dup3)(nullfd, at, cloexec ? O_CLOEXEC : 0);
		else
			h = H(fcntl)(nullfd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, minfd);
		e = errno;
		H(close)(nullfd);
		errno = e;
	}
	if (h < 0)
		goto fail;
	if (h >= MAXFD) {
		H(close)(h);
		errno = EMFILE;
		goto fail;
	}
	__atomic_store_n(&fdmap[h], r + 1, __ATOMIC_RELEASE);
	return h;
fail:
	e = errno;
	rs_close(r);
	errno = e;
	return -1;
}

/* Forgets host number h's kernel descriptor (the caller closes it) and its read-ahead. */
static void
unmap(int h)
{
	struct dirbuf *db;

	pthread_mutex_lock(&maplock);
	__atomic_store_n(&fdmap[h], 0, __ATOMIC_RELEASE);
	db = dirbufs[h];
	dirbufs[h] = NULL;
	pthread_mutex_unlock(&maplock);
	free(db);
}

/* Closes kernel descriptor r held at host number h, then the placeholder. */
static int
close_mapped(int h, int r)
{
	int rv, e;

	unmap(h);
	ep_forget(h);
	rv = rs_close(r);
	e = errno;
	H(close)(h);
	errno = e;
	return rv;
}

/* --- routing --- */

/* The kernel's path for path (NULL: the host's). Relative paths follow the current directory. */
static const char *
route(const char *path)
{
	if (!hijacking || path == NULL)
		return NULL;
	if (path[0] != '/')
		return cwd_rump ? path : NULL;
	return xlate_route(&cfg, path);
}

/* As route, for an *at call: *rdir is the kernel's directory descriptor for the path. */
static const char *
route_at(int dirfd, const char *path, int *rdir)
{
	*rdir = RUMP_AT_FDCWD;
	if (!hijacking || path == NULL)
		return NULL;
	if (path[0] == '/' || dirfd == AT_FDCWD)
		return route(path);
	int r = rfd(dirfd);
	if (r < 0)
		return NULL;
	*rdir = r;
	return path;
}

/* --- attaching to the kernel --- */

static void
fdmap_restore_one(int h, int r, void *arg)
{
	(void)arg;
	if (h < MAXFD && H(fcntl)(h, F_GETFD) >= 0)
		fdmap[h] = r + 1;
}

static FILE *cookie_open(int fd, const char *mode);

/*
 * stdio's standard streams once descriptor 0, 1 or 2 is the kernel's (a shell's redirection
 * inherited across exec, or a dup2 here): the C library's own streams would read and write the
 * placeholder. The replacement goes through read/write here, so it follows the table even after
 * the descriptor is the host's again; stdout is line-buffered to keep output in order.
 */
static void
std_stream(int fd)
{
	static int swapped[3];
	FILE *f;

	if (fd < 0 || fd > 2 || swapped[fd])
		return;
	swapped[fd] = 1;
	if (fd == 0) {
		if ((f = cookie_open(0, "r")) != NULL)
			stdin = f;
		return;
	}
	fflush(fd == 1 ? stdout : stderr);	/* what is buffered belongs to the old file */
	if ((f = cookie_open(fd, "w")) == NULL)
		return;
	setvbuf(f, NULL, fd == 1 ? _IOLBF : _IONBF, fd == 1 ? BUFSIZ : 0);
	if (fd == 1)
		stdout = f;
	else
		stderr = f;
}

static void *
clientlib_open(void)
{
	const char *name = getenv("RUMPHIJACK_CLIENTLIB");
	Dl_info info;
	void *h;

	if (name != NULL && name[0] != '\0')
		return dlopen(name, RTLD_NOW | RTLD_LOCAL);
	/* librumpclient.so beside this library, then wherever the loader finds it. */
	if (dladdr((void *)clientlib_open, &info) && info.dli_fname != NULL) {
		const char *slash = strrchr(info.dli_fname, '/');
		if (slash != NULL) {
			char path[PATH_MAX];
			snprintf(path, sizeof path, "%.*s/librumpclient.so", (int)(slash - info.dli_fname),
			    info.dli_fname);
			if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) != NULL)
				return h;
		}
	}
	return dlopen("librumpclient.so", RTLD_NOW | RTLD_LOCAL);
}

static void __attribute__((noreturn))
die(const char *what, const char *detail)
{
	fprintf(stderr, "librumphijack: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	_exit(1);
}

__attribute__((constructor)) static void
hijack_init(void)
{
	const char *env = getenv("RUMPHIJACK");
	void *lib;
	int (*init)(void);

	if (env == NULL)
		env = "path=/rump,socket=all:nolocal";
	if (xlate_parse_config(env, &cfg) != 0)
		die("RUMPHIJACK cannot be parsed", env);
	if (cfg.npath == 0 && cfg.nblanket == 0 && cfg.nsockets == 0)
		return;		/* an empty RUMPHIJACK hijacks nothing */

	if ((lib = clientlib_open()) == NULL)
		die("cannot load the client library", dlerror());
#define RESOLVE(fn) do {							\
	if ((rs_##fn = (__typeof__(rs_##fn))dlsym(lib, "rump_sys_" #fn)) == NULL)	\
		die("the client library lacks rump_sys_" #fn, NULL);		\
} while (0)
	RESOLVE(read); RESOLVE(write); RESOLVE(close); RESOLVE(fchdir); RESOLVE(chdir); RESOLVE(dup);
	RESOLVE(fcntl); RESOLVE(fsync); RESOLVE(readv); RESOLVE(writev); RESOLVE(fchown);
	RESOLVE(fchmod); RESOLVE(pread); RESOLVE(pwrite); RESOLVE(lseek); RESOLVE(truncate);
	RESOLVE(ftruncate); RESOLVE(poll); RESOLVE(__getcwd); RESOLVE(getdents); RESOLVE(fstat);
	RESOLVE(pipe2); RESOLVE(linkat); RESOLVE(renameat); RESOLVE(mknodat); RESOLVE(mkfifoat);
	RESOLVE(mkdirat);
	RESOLVE(faccessat); RESOLVE(fchmodat); RESOLVE(fchownat); RESOLVE(fstatat);
	RESOLVE(utimensat); RESOLVE(openat); RESOLVE(readlinkat); RESOLVE(symlinkat);
	RESOLVE(unlinkat); RESOLVE(statvfs1); RESOLVE(fstatvfs1); RESOLVE(umask); RESOLVE(sync);
	RESOLVE(socket); RESOLVE(socketpair); RESOLVE(bind); RESOLVE(connect); RESOLVE(listen);
	RESOLVE(paccept); RESOLVE(shutdown); RESOLVE(getsockname); RESOLVE(getpeername);
	RESOLVE(setsockopt); RESOLVE(getsockopt); RESOLVE(sendto); RESOLVE(recvfrom); RESOLVE(sendmsg);
	RESOLVE(recvmsg); RESOLVE(ioctl);
#undef RESOLVE
	rc_prefork = (__typeof__(rc_prefork))dlsym(lib, "rumpclient_prefork");
	rc_fork_init = (__typeof__(rc_fork_init))dlsym(lib, "rumpclient_fork_init");
	rc_fork_cancel = (__typeof__(rc_fork_cancel))dlsym(lib, "rumpclient_fork_cancel");
	rc_fork_vparent = (__typeof__(rc_fork_vparent))dlsym(lib, "rumpclient_fork_vparent");
	rc_closenotify = (__typeof__(rc_closenotify))dlsym(lib, "rumpclient__closenotify");
	rc_exec = (__typeof__(rc_exec))dlsym(lib, "rumpclient_exec");

	if ((init = (__typeof__(init))dlsym(lib, "rumpclient_init")) == NULL)
		die("the client library lacks rumpclient_init", NULL);
	/* NetBSD's RUMPHIJACK_RETRYCONNECT: what the client does when the server goes away. */
	const char *retry = getenv("RUMPHIJACK_RETRYCONNECT");
	void (*setretry)(time_t) = (__typeof__(setretry))dlsym(lib, "rumpclient_setconnretry");
	if (retry != NULL && setretry != NULL) {
		char *end;
		long v = strtol(retry, &end, 10);
		if (strcmp(retry, "inftime") == 0)
			setretry((time_t)-1);
		else if (strcmp(retry, "once") == 0)
			setretry((time_t)-2);
		else if (strcmp(retry, "die") == 0)
			setretry((time_t)-3);
		else if (*retry != '\0' && *end == '\0' && v >= 0)
			setretry((time_t)v);
		else
			die("RUMPHIJACK_RETRYCONNECT: not inftime, once, die or seconds", retry);
	}
	if (init() != 0)
		die("rumpclient_init failed", strerror(errno));

	/* What an exec'ing parent handed over (and must not reach our own children as such). */
	const char *map = getenv("RUMPHIJACK__FDMAP");
	if (map != NULL)
		xlate_fdmap_parse(map, fdmap_restore_one, NULL);
	const char *cwd = getenv("RUMPHIJACK__CWD");
	cwd_rump = cwd != NULL && strcmp(cwd, "1") == 0;
	unsetenv("RUMPHIJACK__FDMAP");
	unsetenv("RUMPHIJACK__CWD");

	/* The kernel process creates files with the program's umask. */
	mode_t m = H(umask)(022);
	H(umask)(m);
	rs_umask(m);

	hijacking = 1;
	for (int fd = 0; fd <= 2; fd++)
		if (rfd(fd) >= 0)
			std_stream(fd);
}

/* --- open and close --- */

static int
rump_open(int rdir, const char *rp, int flags, mode_t mode)
{
	int e, nb = xlate_oflags_to_nb(flags, &e);

	if (nb < 0) {
		errno = e;
		return -1;
	}
	int r = rs_openat(rdir, rp, nb, mode);
	if (r < 0)
		return -1;
	return place(r, cfg.fdoff, -1, (flags & O_CLOEXEC) != 0);
}

static int
do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int rdir;
	const char *rp = route_at(dirfd, path, &rdir);

	if (rp != NULL)
		return rump_open(rdir, rp, flags, mode);
	return H(openat)(dirfd, path, flags, mode);
}

#define OPEN_MODE(flags, mode) do {						\
	mode = 0;								\
	if ((flags) & (O_CREAT | __O_TMPFILE)) {				\
		va_list ap;							\
		va_start(ap, flags);						\
		mode = va_arg(ap, mode_t);					\
		va_end(ap);							\
	}									\
} while (0)

EXPORT int open(const char *p, int flags, ...) { mode_t m; OPEN_MODE(flags, m); return do_openat(AT_FDCWD, p, flags, m); }
EXPORT int open64(const char *p, int flags, ...) { mode_t m; OPEN_MODE(flags, m); return do_openat(AT_FDCWD, p, flags, m); }
EXPORT int openat(int d, const char *p, int flags, ...) { mode_t m; OPEN_MODE(flags, m); return do_openat(d, p, flags, m); }
EXPORT int openat64(int d, const char *p, int flags, ...) { mode_t m; OPEN_MODE(flags, m); return do_openat(d, p, flags, m); }
EXPORT int __open_2(const char *p, int flags) { return do_openat(AT_FDCWD, p, flags, 0); }
EXPORT int __open64_2(const char *p, int flags) { return do_openat(AT_FDCWD, p, flags, 0); }
EXPORT int __openat_2(int d, const char *p, int flags) { return do_openat(d, p, flags, 0); }
EXPORT int __openat64_2(int d, const char *p, int flags) { return do_openat(d, p, flags, 0); }
EXPORT int creat(const char *p, mode_t m) { return do_openat(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }
EXPORT int creat64(const char *p, mode_t m) { return do_openat(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }

EXPORT int
close(int fd)
{
	int r = rfd(fd);

	if (r < 0) {
		if (rc_closenotify != NULL && hijacking && rc_closenotify(&fd, CLOSENOTIFY_CLOSE) < 0)
			return -1;
		ep_forget(fd);
		return H(close)(fd);
	}
	return close_mapped(fd, r);
}

EXPORT int
close_range(unsigned int first, unsigned int last, int flags)
{
	if (hijacking && !(flags & CLOSE_RANGE_CLOEXEC)) {
		for (unsigned int fd = first; fd <= last && fd < MAXFD; fd++) {
			int r = rfd((int)fd);
			if (r >= 0)
				close_mapped((int)fd, r);
		}
		if (rc_closenotify != NULL && last >= (unsigned)INT_MAX && first <= (unsigned)INT_MAX) {
			/* closefrom: the client closes up to its socket and says where to go on. */
			int from = (int)first;
			if (rc_closenotify(&from, CLOSENOTIFY_FCLOSEM) < 0)
				return -1;
			first = (unsigned)from;
		} else if (rc_closenotify != NULL) {
			for (unsigned int fd = first; fd <= last && fd < MAXFD; fd++) {
				int f = (int)fd;
				if (rc_closenotify(&f, CLOSENOTIFY_CLOSE) < 0)
					return -1;
			}
		}
	} else if (hijacking) {
		for (unsigned int fd = first; fd <= last && fd < MAXFD; fd++) {
			int r = rfd((int)fd);
			if (r >= 0)
				rs_fcntl(r, RUMP_F_SETFD, RUMP_FD_CLOEXEC);
		}
	}
	return H(close_range)(first, last, flags);
}

EXPORT void
closefrom(int lowfd)
{
	if (close_range((unsigned)lowfd, ~0u, 0) == 0)
		return;
	for (int fd = lowfd; fd < MAXFD; fd++)
		close(fd);
}

/* --- I/O --- */

EXPORT ssize_t
read(int fd, void *buf, size_t n)
{
	int r = rfd(fd);
	return r < 0 ? H(read)(fd, buf, n) : rs_read(r, buf, n);
}

EXPORT ssize_t
write(int fd, const void *buf, size_t n)
{
	int r = rfd(fd);
	return r < 0 ? H(write)(fd, buf, n) : rs_write(r, buf, n);
}

EXPORT ssize_t
pread(int fd, void *buf, size_t n, off_t off)
{
	int r = rfd(fd);
	return r < 0 ? H(pread)(fd, buf, n, off) : rs_pread(r, buf, n, off);
}
EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off) { return pread(fd, buf, n, off); }

EXPORT ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	int r = rfd(fd);
	return r < 0 ? H(pwrite)(fd, buf, n, off) : rs_pwrite(r, buf, n, off);
}
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) { return pwrite(fd, buf, n, off); }

/* struct iovec and struct rump_iovec have one layout (pointer, size_t). */
EXPORT ssize_t
readv(int fd, const struct iovec *iov, int n)
{
	int r = rfd(fd);
	return r < 0 ? H(readv)(fd, iov, n) : rs_readv(r, (const struct rump_iovec *)iov, n);
}

EXPORT ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	int r = rfd(fd);
	return r < 0 ? H(writev)(fd, iov, n) : rs_writev(r, (const struct rump_iovec *)iov, n);
}

/* The kernel has no preadv: one pread per buffer, stopping at a short one. */
static ssize_t
rump_prwv(int r, const struct iovec *iov, int n, off_t off, int wr)
{
	ssize_t total = 0;

	if (n < 0 || n > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		ssize_t k = wr ? rs_pwrite(r, iov[i].iov_base, iov[i].iov_len, off + total)
		    : rs_pread(r, iov[i].iov_base, iov[i].iov_len, off + total);
		if (k < 0)
			return total > 0 ? total : -1;
		total += k;
		if ((size_t)k < iov[i].iov_len)
			break;
	}
	return total;
}

EXPORT ssize_t
preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	int r = rfd(fd);
	return r < 0 ? H(preadv)(fd, iov, n, off) : rump_prwv(r, iov, n, off, 0);
}
EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int n, off64_t off) { return preadv(fd, iov, n, off); }

EXPORT ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	int r = rfd(fd);
	return r < 0 ? H(pwritev)(fd, iov, n, off) : rump_prwv(r, iov, n, off, 1);
}
EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t off) { return pwritev(fd, iov, n, off); }

EXPORT off_t
lseek(int fd, off_t off, int whence)
{
	int r = rfd(fd);
	if (r < 0)
		return H(lseek)(fd, off, whence);
	off_t rv = rs_lseek(r, off, whence);
	if (rv >= 0) {
		/* A directory's read-ahead belongs to the old position (rewinddir is lseek 0). */
		pthread_mutex_lock(&maplock);
		struct dirbuf *db = dirbufs[fd];
		if (db != NULL) {
			db->len = db->off = 0;
			db->pos = rv == 0 ? 0 : db->pos;
		}
		pthread_mutex_unlock(&maplock);
	}
	return rv;
}
EXPORT off64_t lseek64(int fd, off64_t off, int whence) { return lseek(fd, off, whence); }

EXPORT int
ftruncate(int fd, off_t len)
{
	int r = rfd(fd);
	return r < 0 ? H(ftruncate)(fd, len) : rs_ftruncate(r, len);
}
EXPORT int ftruncate64(int fd, off64_t len) { return ftruncate(fd, len); }

EXPORT int
truncate(const char *p, off_t len)
{
	const char *rp = route(p);
	return rp == NULL ? H(truncate)(p, len) : rs_truncate(rp, len);
}
EXPORT int truncate64(const char *p, off64_t len) { return truncate(p, len); }

EXPORT int
fsync(int fd)
{
	int r = rfd(fd);
	return r < 0 ? H(fsync)(fd) : rs_fsync(r);
}

EXPORT int
fdatasync(int fd)
{
	int r = rfd(fd);
	return r < 0 ? H(fdatasync)(fd) : rs_fsync(r);	/* the kernel has no fdatasync: fsync is more */
}

EXPORT void
sync(void)
{
	static __typeof__(sync) *host_sync;
	if (hijacking)
		rs_sync();
	H(sync)();
}

/* Descriptors of two kernels never share a file: no in-kernel copy between them. */
EXPORT ssize_t
copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t len, unsigned flags)
{
	if (rfd(in) >= 0 || rfd(out) >= 0) {
		errno = EXDEV;
		return -1;
	}
	return H(copy_file_range)(in, inoff, out, outoff, len, flags);
}

EXPORT ssize_t
sendfile(int out, int in, off_t *off, size_t n)
{
	if (rfd(in) >= 0 || rfd(out) >= 0) {
		errno = EINVAL;	/* what Linux says for an input it cannot map: callers fall back */
		return -1;
	}
	return H(sendfile)(out, in, off, n);
}
EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n) { return sendfile(out, in, off, n); }

EXPORT int
posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	return rfd(fd) >= 0 ? 0 : H(posix_fadvise)(fd, off, len, advice);
}
EXPORT int posix_fadvise64(int fd, off64_t off, off64_t len, int advice) { return posix_fadvise(fd, off, len, advice); }

EXPORT int
fallocate(int fd, int mode, off_t off, off_t len)
{
	if (rfd(fd) >= 0) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return H(fallocate)(fd, mode, off, len);
}
EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len) { return fallocate(fd, mode, off, len); }

EXPORT int
posix_fallocate(int fd, off_t off, off_t len)
{
	return rfd(fd) >= 0 ? EOPNOTSUPP : H(posix_fallocate)(fd, off, len);
}
EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len) { return posix_fallocate(fd, off, len); }

/* A kernel file mapped privately, or shared read-only, is a copy: anonymous memory filled by
 * reading the file, since the host's memory is not the kernel's page cache. Writes to a private
 * mapping stay private, as they would; a read-only shared mapping does not see later writes to
 * the file (the one difference); a writable shared mapping cannot be had (ENODEV). */
static void *
rump_mmap(int r, int fd, void *addr, size_t len, int prot, int flags, off_t off)
{
	int type = flags & MAP_TYPE;

	if ((type == MAP_SHARED || type == MAP_SHARED_VALIDATE) && (prot & PROT_WRITE)) {
		errno = ENODEV;
		return MAP_FAILED;
	}
	if (len == 0 || off < 0 || (off & (sysconf(_SC_PAGESIZE) - 1)) != 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) {
		errno = EACCES;
		return MAP_FAILED;
	}
	int keep = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_NORESERVE | MAP_LOCKED);
	char *p = H(mmap)(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | keep, -1, 0);
	if (p == MAP_FAILED)
		return p;
	for (size_t done = 0; done < len;) {
		ssize_t n = rs_pread(r, p + done, len - done, off + (off_t)done);
		if (n < 0) {
			int e = errno;
			munmap(p, len);
			errno = e;
			return MAP_FAILED;
		}
		if (n == 0)
			break;	/* past the end: zeros (where the host would raise SIGBUS) */
		done += (size_t)n;
	}
	if (mprotect(p, len, prot) != 0) {
		int e = errno;
		munmap(p, len);
		errno = e;
		return MAP_FAILED;
	}
	return p;
}

EXPORT void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	int r;

	if (!(flags & MAP_ANONYMOUS) && (r = rfd(fd)) >= 0)
		return rump_mmap(r, fd, addr, len, prot, flags, off);
	return H(mmap)(addr, len, prot, flags, fd, off);
}
EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) { return mmap(addr, len, prot, flags, fd, off); }

EXPORT int
ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	int r = rfd(fd);
	if (r >= 0) {
		/* The generic descriptor ioctls have other numbers on NetBSD; others mean nothing to
		 * the kernel's files and sockets. */
		switch (req) {
		case FIONBIO:
			return rs_ioctl(r, RUMP_FIONBIO, arg);	/* an int on both */
		case FIONREAD:
			return rs_ioctl(r, RUMP_FIONREAD, arg);
		case FIOCLEX:
		case FIONCLEX:
			return fcntl(fd, F_SETFD, req == FIOCLEX ? FD_CLOEXEC : 0);
		default:
			errno = ENOTTY;
			return -1;
		}
	}
	return H(ioctl)(fd, req, arg);
}

/* --- stat family --- */

static int
rump_stat_at(int rdir, const char *rp, struct stat *st, int lxflags)
{
	struct rump_stat nb;
	int fl = xlate_atflags_to_nb(lxflags & ~AT_NO_AUTOMOUNT, 0);

	if (fl < 0) {
		errno = EINVAL;
		return -1;
	}
	if (rs_fstatat(rdir, rp, &nb, fl) < 0)
		return -1;
	xlate_stat_to_lx(&nb, st);
	return 0;
}

static int
rump_fstat(int r, struct stat *st)
{
	struct rump_stat nb;

	if (rs_fstat(r, &nb) < 0)
		return -1;
	xlate_stat_to_lx(&nb, st);
	return 0;
}

EXPORT int
stat(const char *p, struct stat *st)
{
	const char *rp = route(p);
	return rp == NULL ? H(stat)(p, st) : rump_stat_at(RUMP_AT_FDCWD, rp, st, 0);
}

EXPORT int
lstat(const char *p, struct stat *st)
{
	const char *rp = route(p);
	return rp == NULL ? H(lstat)(p, st) : rump_stat_at(RUMP_AT_FDCWD, rp, st, AT_SYMLINK_NOFOLLOW);
}

EXPORT int
fstat(int fd, struct stat *st)
{
	int r = rfd(fd);
	return r < 0 ? H(fstat)(fd, st) : rump_fstat(r, st);
}

EXPORT int
fstatat(int dirfd, const char *p, struct stat *st, int flags)
{
	int rdir;
	const char *rp;

	if ((flags & AT_EMPTY_PATH) && p != NULL && p[0] == '\0') {
		if (dirfd == AT_FDCWD && cwd_rump && hijacking)
			return rump_stat_at(RUMP_AT_FDCWD, ".", st, 0);
		if (dirfd != AT_FDCWD && rfd(dirfd) >= 0)
			return rump_fstat(rfd(dirfd), st);
		return H(fstatat)(dirfd, p, st, flags);
	}
	rp = route_at(dirfd, p, &rdir);
	return rp == NULL ? H(fstatat)(dirfd, p, st, flags) : rump_stat_at(rdir, rp, st, flags);
}

/* struct stat64 is struct stat on LP64 Linux. */
EXPORT int stat64(const char *p, struct stat64 *st) { return stat(p, (struct stat *)st); }
EXPORT int lstat64(const char *p, struct stat64 *st) { return lstat(p, (struct stat *)st); }
EXPORT int fstat64(int fd, struct stat64 *st) { return fstat(fd, (struct stat *)st); }
EXPORT int fstatat64(int d, const char *p, struct stat64 *st, int fl) { return fstatat(d, p, (struct stat *)st, fl); }
/* The pre-2.33 interface older binaries still call (version 1: the kernel's struct stat). */
EXPORT int __xstat(int v, const char *p, struct stat *st) { (void)v; return stat(p, st); }
EXPORT int __lxstat(int v, const char *p, struct stat *st) { (void)v; return lstat(p, st); }
EXPORT int __fxstat(int v, int fd, struct stat *st) { (void)v; return fstat(fd, st); }
EXPORT int __fxstatat(int v, int d, const char *p, struct stat *st, int fl) { (void)v; return fstatat(d, p, st, fl); }
EXPORT int __xstat64(int v, const char *p, struct stat64 *st) { (void)v; return stat64(p, st); }
EXPORT int __lxstat64(int v, const char *p, struct stat64 *st) { (void)v; return lstat64(p, st); }
EXPORT int __fxstat64(int v, int fd, struct stat64 *st) { (void)v; return fstat64(fd, st); }
EXPORT int __fxstatat64(int v, int d, const char *p, struct stat64 *st, int fl) { (void)v; return fstatat64(d, p, st, fl); }

EXPORT int
statx(int dirfd, const char *p, int flags, unsigned int mask, struct statx *stx)
{
	struct rump_stat nb;
	int rdir, r;
	const char *rp;

	if ((flags & AT_EMPTY_PATH) && p != NULL && p[0] == '\0') {
		if (dirfd != AT_FDCWD && (r = rfd(dirfd)) >= 0) {
			if (rs_fstat(r, &nb) < 0)
				return -1;
			xlate_stat_to_statx(&nb, stx);
			return 0;
		}
		if (!(dirfd == AT_FDCWD && cwd_rump && hijacking))
			return H(statx)(dirfd, p, flags, mask, stx);
		rp = ".";
		rdir = RUMP_AT_FDCWD;
		flags &= ~AT_EMPTY_PATH;
	} else if ((rp = route_at(dirfd, p, &rdir)) == NULL)
		return H(statx)(dirfd, p, flags, mask, stx);
	int fl = xlate_atflags_to_nb(flags & AT_SYMLINK_NOFOLLOW, 0);
	if (rs_fstatat(rdir, rp, &nb, fl) < 0)
		return -1;
	xlate_stat_to_statx(&nb, stx);
	return 0;
}

EXPORT int
statfs(const char *p, struct statfs *buf)
{
	struct rump_statvfs nb;
	const char *rp = route(p);

	if (rp == NULL)
		return H(statfs)(p, buf);
	if (rs_statvfs1(rp, &nb, RUMP_MNT_WAIT) < 0)
		return -1;
	xlate_statvfs_to_statfs(&nb, buf);
	return 0;
}
EXPORT int statfs64(const char *p, struct statfs64 *buf) { return statfs(p, (struct statfs *)buf); }

EXPORT int
fstatfs(int fd, struct statfs *buf)
{
	struct rump_statvfs nb;
	int r = rfd(fd);

	if (r < 0)
		return H(fstatfs)(fd, buf);
	if (rs_fstatvfs1(r, &nb, RUMP_MNT_WAIT) < 0)
		return -1;
	xlate_statvfs_to_statfs(&nb, buf);
	return 0;
}
EXPORT int fstatfs64(int fd, struct statfs64 *buf) { return fstatfs(fd, (struct statfs *)buf); }

EXPORT int
statvfs(const char *p, struct statvfs *buf)
{
	struct rump_statvfs nb;
	const char *rp = route(p);

	if (rp == NULL)
		return H(statvfs)(p, buf);
	if (rs_statvfs1(rp, &nb, RUMP_MNT_WAIT) < 0)
		return -1;
	xlate_statvfs_to_statvfs(&nb, buf);
	return 0;
}
EXPORT int statvfs64(const char *p, struct statvfs64 *buf) { return statvfs(p, (struct statvfs *)buf); }

EXPORT int
fstatvfs(int fd, struct statvfs *buf)
{
	struct rump_statvfs nb;
	int r = rfd(fd);

	if (r < 0)
		return H(fstatvfs)(fd, buf);
	if (rs_fstatvfs1(r, &nb, RUMP_MNT_WAIT) < 0)
		return -1;
	xlate_statvfs_to_statvfs(&nb, buf);
	return 0;
}
EXPORT int fstatvfs64(int fd, struct statvfs64 *buf) { return fstatvfs(fd, (struct statvfs *)buf); }

/* --- access --- */

static int
rump_access(int rdir, const char *rp, int mode, int flags)
{
	int fl = xlate_atflags_to_nb(flags, 1);

	if (fl < 0) {
		errno = EINVAL;
		return -1;
	}
	return rs_faccessat(rdir, rp, mode, fl);
}

EXPORT int
access(const char *p, int mode)
{
	const char *rp = route(p);
	return rp == NULL ? H(access)(p, mode) : rump_access(RUMP_AT_FDCWD, rp, mode, 0);
}

EXPORT int
faccessat(int dirfd, const char *p, int mode, int flags)
{
	int rdir;
	const char *rp = route_at(dirfd, p, &rdir);
	return rp == NULL ? H(faccessat)(dirfd, p, mode, flags) : rump_access(rdir, rp, mode, flags);
}

EXPORT int
euidaccess(const char *p, int mode)
{
	const char *rp = route(p);
	return rp == NULL ? H(euidaccess)(p, mode) : rump_access(RUMP_AT_FDCWD, rp, mode, AT_EACCESS);
}
EXPORT int eaccess(const char *p, int mode) { return euidaccess(p, mode); }

/* --- names --- */

EXPORT int
mkdir(const char *p, mode_t m)
{
	const char *rp = route(p);
	return rp == NULL ? H(mkdir)(p, m) : rs_mkdirat(RUMP_AT_FDCWD, rp, m);
}

EXPORT int
mkdirat(int d, const char *p, mode_t m)
{
	int rdir;
	const char *rp = route_at(d, p, &rdir);
	return rp == NULL ? H(mkdirat)(d, p, m) : rs_mkdirat(rdir, rp, m);
}

EXPORT int
rmdir(const char *p)
{
	const char *rp = route(p);
	return rp == NULL ? H(rmdir)(p) : rs_unlinkat(RUMP_AT_FDCWD, rp, RUMP_AT_REMOVEDIR);
}

EXPORT int
unlink(const char *p)
{
	const char *rp = route(p);
	return rp == NULL ? H(unlink)(p) : rs_unlinkat(RUMP_AT_FDCWD, rp, 0);
}

EXPORT int
unlinkat(int d, const char *p, int flags)
{
	int rdir;
	const char *rp = route_at(d, p, &rdir);

	if (rp == NULL)
		return H(unlinkat)(d, p, flags);
	if (flags & ~AT_REMOVEDIR) {
		errno = EINVAL;
		return -1;
	}
	return rs_unlinkat(rdir, rp, (flags & AT_REMOVEDIR) ? RUMP_AT_REMOVEDIR : 0);
}

EXPORT int
remove(const char *p)
{
	const char *rp = route(p);

	if (rp == NULL)
		return H(remove)(p);
	if (rs_unlinkat(RUMP_AT_FDCWD, rp, 0) == 0)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	return rs_unlinkat(RUMP_AT_FDCWD, rp, RUMP_AT_REMOVEDIR);
}

/* Two paths in one kernel, or EXDEV. Returns 1 (kernel), 0 (host) or -1. */
static int
route2(int d1, const char *p1, int d2, const char *p2, const char **r1, int *rd1,
    const char **r2, int *rd2)
{
	*r1 = route_at(d1, p1, rd1);
	*r2 = route_at(d2, p2, rd2);
	if ((*r1 == NULL) != (*r2 == NULL)) {
		errno = EXDEV;
		return -1;
	}
	return *r1 != NULL;
}

EXPORT int
renameat2(int d1, const char *p1, int d2, const char *p2, unsigned int flags)
{
	const char *r1, *r2;
	int rd1, rd2, k = route2(d1, p1, d2, p2, &r1, &rd1, &r2, &rd2);

	if (k <= 0)
		return k < 0 ? -1 : H(renameat2)(d1, p1, d2, p2, flags);
	if (flags != 0) {
		errno = EINVAL;	/* no RENAME_NOREPLACE/EXCHANGE: callers fall back to rename */
		return -1;
	}
	return rs_renameat(rd1, r1, rd2, r2);
}

EXPORT int
renameat(int d1, const char *p1, int d2, const char *p2)
{
	const char *r1, *r2;
	int rd1, rd2, k = route2(d1, p1, d2, p2, &r1, &rd1, &r2, &rd2);
	return k <= 0 ? (k < 0 ? -1 : H(renameat)(d1, p1, d2, p2)) : rs_renameat(rd1, r1, rd2, r2);
}

EXPORT int
rename(const char *p1, const char *p2)
{
	const char *r1, *r2;
	int rd1, rd2, k = route2(AT_FDCWD, p1, AT_FDCWD, p2, &r1, &rd1, &r2, &rd2);
	return k <= 0 ? (k < 0 ? -1 : H(rename)(p1, p2)) : rs_renameat(rd1, r1, rd2, r2);
}

EXPORT int
linkat(int d1, const char *p1, int d2, const char *p2, int flags)
{
	const char *r1, *r2;
	int rd1, rd2, k = route2(d1, p1, d2, p2, &r1, &rd1, &r2, &rd2);

	if (k <= 0)
		return k < 0 ? -1 : H(linkat)(d1, p1, d2, p2, flags);
	int fl = xlate_atflags_to_nb(flags, 0);
	if (fl < 0) {
		errno = EINVAL;
		return -1;
	}
	return rs_linkat(rd1, r1, rd2, r2, fl);
}

EXPORT int
link(const char *p1, const char *p2)
{
	const char *r1, *r2;
	int rd1, rd2, k = route2(AT_FDCWD, p1, AT_FDCWD, p2, &r1, &rd1, &r2, &rd2);
	return k <= 0 ? (k < 0 ? -1 : H(link)(p1, p2)) : rs_linkat(rd1, r1, rd2, r2, 0);
}

/* A link's target is data, kept as written; the link's own path is routed. */
EXPORT int
symlinkat(const char *target, int d, const char *p)
{
	int rdir;
	const char *rp = route_at(d, p, &rdir);
	return rp == NULL ? H(symlinkat)(target, d, p) : rs_symlinkat(target, rdir, rp);
}

EXPORT int
symlink(const char *target, const char *p)
{
	const char *rp = route(p);
	return rp == NULL ? H(symlink)(target, p) : rs_symlinkat(target, RUMP_AT_FDCWD, rp);
}

EXPORT ssize_t
readlinkat(int d, const char *p, char *buf, size_t n)
{
	int rdir;
	const char *rp = route_at(d, p, &rdir);
	return rp == NULL ? H(readlinkat)(d, p, buf, n) : rs_readlinkat(rdir, rp, buf, n);
}

EXPORT ssize_t
readlink(const char *p, char *buf, size_t n)
{
	const char *rp = route(p);
	return rp == NULL ? H(readlink)(p, buf, n) : rs_readlinkat(RUMP_AT_FDCWD, rp, buf, n);
}

/* Linux dev_t -> NetBSD's (major bits 8..19, minor bits 0..7 and 20..31). */
static uint64_t
nbdev(dev_t d)
{
	uint64_t ma = major(d), mi = minor(d);
	return ((ma << 8) & 0x000fff00u) | ((mi << 12) & 0xfff00000u) | (mi & 0xffu);
}

EXPORT int
mknodat(int d, const char *p, mode_t m, dev_t dev)
{
	int rdir;
	const char *rp = route_at(d, p, &rdir);
	if (rp == NULL)
		return H(mknodat)(d, p, m, dev);
	/* Linux makes FIFOs with mknod (glibc's mkfifo does); NetBSD's mknod refuses them: mkfifoat. */
	if (S_ISFIFO(m))
		return rs_mkfifoat(rdir, rp, m & 07777);
	return rs_mknodat(rdir, rp, m, (dev_t)nbdev(dev));
}
EXPORT int mknod(const char *p, mode_t m, dev_t dev) { return mknodat(AT_FDCWD, p, m, dev); }
EXPORT int mkfifoat(int d, const char *p, mode_t m) { return mknodat(d, p, (m & 07777) | S_IFIFO, 0); }
EXPORT int mkfifo(const char *p, mode_t m) { return mknodat(AT_FDCWD, p, (m & 07777) | S_IFIFO, 0); }

/* --- attributes --- */

EXPORT int
chmod(const char *p, mode_t m)
{
	const char *rp = route(p);
	return rp == NULL ? H(chmod)(p, m) : rs_fchmodat(RUMP_AT_FDCWD, rp, m, 0);
}

EXPORT int
lchmod(const char *p, mode_t m)
{
	const char *rp = route(p);
	return rp == NULL ? H(lchmod)(p, m) : rs_fchmodat(RUMP_AT_FDCWD, rp, m, RUMP_AT_SYMLINK_NOFOLLOW);
}

EXPORT int
fchmod(int fd, mode_t m)
{
	int r = rfd(fd);
	return r < 0 ? H(fchmod)(fd, m) : rs_fchmod(r, m);
}

EXPORT int
fchmodat(int d, const char *p, mode_t m, int flags)
{
	int rdir;
	const char *rp = route_at(d, p, &rdir);
	return rp == NULL ? H(fchmodat)(d, p, m, flags) : rs_fchmodat(rdir, rp, m, xlate_atflags_to_nb(flags, 0));
}

EXPORT int
chown(const char *p, uid_t u, gid_t g)
{
	const char *rp = route(p);
	return rp == NULL ? H(chown)(p, u, g) : rs_fchownat(RUMP_AT_FDCWD, rp, u, g, 0);
}

EXPORT int
lchown(const char *p, uid_t u, gid_t g)
{
	const char *rp = route(p);
	return rp == NULL ? H(lchown)(p, u, g) : rs_fchownat(RUMP_AT_FDCWD, rp, u, g, RUMP_AT_SYMLINK_NOFOLLOW);
}

EXPORT int
fchown(int fd, uid_t u, gid_t g)
{
	int r = rfd(fd);
	return r < 0 ? H(fchown)(fd, u, g) : rs_fchown(r, u, g);
}

EXPORT int
fchownat(int d, const char *p, uid_t u, gid_t g, int flags)
{
	int rdir;
	const char *rp;

	if ((flags & AT_EMPTY_PATH) && p != NULL && p[0] == '\0' && rfd(d) >= 0)
		return rs_fchown(rfd(d), u, g);
	rp = route_at(d, p, &rdir);
	return rp == NULL ? H(fchownat)(d, p, u, g, flags) : rs_fchownat(rdir, rp, u, g, xlate_atflags_to_nb(flags, 0));
}

/* struct timespec and struct rump_timespec have one layout; UTIME_NOW/OMIT have one value. */
EXPORT int
utimensat(int d, const char *p, const struct timespec ts[2], int flags)
{
	int rdir, r;
	const char *rp;

	if (p == NULL) {	/* Linux: the descriptor itself, as futimens */
		if ((r = rfd(d)) < 0)
			return H(utimensat)(d, p, ts, flags);
		return rs_utimensat(r, NULL, (const struct rump_timespec *)ts, 0);
	}
	rp = route_at(d, p, &rdir);
	if (rp == NULL)
		return H(utimensat)(d, p, ts, flags);
	return rs_utimensat(rdir, rp, (const struct rump_timespec *)ts, xlate_atflags_to_nb(flags, 0));
}

EXPORT int
futimens(int fd, const struct timespec ts[2])
{
	int r = rfd(fd);
	return r < 0 ? H(futimens)(fd, ts) : rs_utimensat(r, NULL, (const struct rump_timespec *)ts, 0);
}

static const struct timespec *
tv2ts(const struct timeval tv[2], struct timespec ts[2])
{
	if (tv == NULL)
		return NULL;
	for (int i = 0; i < 2; i++) {
		ts[i].tv_sec = tv[i].tv_sec;
		ts[i].tv_nsec = tv[i].tv_usec * 1000;
	}
	return ts;
}

EXPORT int
utimes(const char *p, const struct timeval tv[2])
{
	struct timespec ts[2];
	const char *rp = route(p);
	return rp == NULL ? H(utimes)(p, tv) : utimensat(AT_FDCWD, p, tv2ts(tv, ts), 0);
}

EXPORT int
lutimes(const char *p, const struct timeval tv[2])
{
	struct timespec ts[2];
	const char *rp = route(p);
	return rp == NULL ? H(lutimes)(p, tv) : utimensat(AT_FDCWD, p, tv2ts(tv, ts), AT_SYMLINK_NOFOLLOW);
}

EXPORT int
futimes(int fd, const struct timeval tv[2])
{
	struct timespec ts[2];
	return rfd(fd) < 0 ? H(futimes)(fd, tv) : futimens(fd, tv2ts(tv, ts));
}

EXPORT int
utime(const char *p, const struct utimbuf *u)
{
	struct timespec ts[2];
	const char *rp = route(p);

	if (rp == NULL)
		return H(utime)(p, u);
	if (u == NULL)
		return utimensat(AT_FDCWD, p, NULL, 0);
	ts[0].tv_sec = u->actime;
	ts[1].tv_sec = u->modtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	return utimensat(AT_FDCWD, p, ts, 0);
}

EXPORT mode_t
umask(mode_t m)
{
	if (hijacking)
		rs_umask(m);
	return H(umask)(m);
}

/* Extended attributes: the kernel's file systems have none. */
#define NOXATTR_PATH(call, ...) do { if (route(p) != NULL) { errno = ENOTSUP; return -1; } return H(call)(__VA_ARGS__); } while (0)
#define NOXATTR_FD(call, ...) do { if (rfd(fd) >= 0) { errno = ENOTSUP; return -1; } return H(call)(__VA_ARGS__); } while (0)
EXPORT ssize_t getxattr(const char *p, const char *n, void *v, size_t s) { NOXATTR_PATH(getxattr, p, n, v, s); }
EXPORT ssize_t lgetxattr(const char *p, const char *n, void *v, size_t s) { NOXATTR_PATH(lgetxattr, p, n, v, s); }
EXPORT ssize_t fgetxattr(int fd, const char *n, void *v, size_t s) { NOXATTR_FD(fgetxattr, fd, n, v, s); }
EXPORT ssize_t listxattr(const char *p, char *l, size_t s) { NOXATTR_PATH(listxattr, p, l, s); }
EXPORT ssize_t llistxattr(const char *p, char *l, size_t s) { NOXATTR_PATH(llistxattr, p, l, s); }
EXPORT ssize_t flistxattr(int fd, char *l, size_t s) { NOXATTR_FD(flistxattr, fd, l, s); }
EXPORT int setxattr(const char *p, const char *n, const void *v, size_t s, int f) { NOXATTR_PATH(setxattr, p, n, v, s, f); }
EXPORT int lsetxattr(const char *p, const char *n, const void *v, size_t s, int f) { NOXATTR_PATH(lsetxattr, p, n, v, s, f); }
EXPORT int fsetxattr(int fd, const char *n, const void *v, size_t s, int f) { NOXATTR_FD(fsetxattr, fd, n, v, s, f); }
EXPORT int removexattr(const char *p, const char *n) { NOXATTR_PATH(removexattr, p, n); }
EXPORT int lremovexattr(const char *p, const char *n) { NOXATTR_PATH(lremovexattr, p, n); }
EXPORT int fremovexattr(int fd, const char *n) { NOXATTR_FD(fremovexattr, fd, n); }

/* --- directories --- */

EXPORT ssize_t
getdents64(int fd, void *buf, size_t n)
{
	int r = rfd(fd);
	struct dirbuf *db;

	if (r < 0)
		return H(getdents64)(fd, buf, n);
	pthread_mutex_lock(&maplock);
	if ((db = dirbufs[fd]) == NULL) {
		db = dirbufs[fd] = calloc(1, sizeof *db);
		if (db == NULL) {
			pthread_mutex_unlock(&maplock);
			errno = ENOMEM;
			return -1;
		}
	}
	pthread_mutex_unlock(&maplock);
	/* One reader per directory descriptor at a time, as with the kernel's own offset. */
	for (;;) {
		if (db->off < db->len) {
			size_t used;
			long k = xlate_dirents(db->buf + db->off, db->len - db->off, &used, buf, n, &db->pos);
			if (k < 0) {
				db->len = db->off = 0;
				errno = EIO;
				return -1;
			}
			db->off += used;
			if (k > 0)
				return k;
			errno = EINVAL;	/* not even one record fits */
			return -1;
		}
		int got = rs_getdents(r, db->buf, sizeof db->buf);
		if (got <= 0)
			return got;
		db->len = (size_t)got;
		db->off = 0;
	}
}

/* This library's DIR for a kernel directory; glibc's DIRs are told apart by not being listed. */
struct rdir {
	struct rdir *next;
	int fd;
	size_t len, off;
	int64_t last;		/* d_off of the entry readdir returned last (telldir) */
	char buf[4096] __attribute__((aligned(8)));
};
static struct rdir *rdirs;

static struct rdir *
rdir_of(DIR *d)
{
	struct rdir *p;

	if (rdirs == NULL)
		return NULL;
	pthread_mutex_lock(&maplock);
	for (p = rdirs; p != NULL && (DIR *)p != d; p = p->next)
		;
	pthread_mutex_unlock(&maplock);
	return p;
}

static DIR *
rdir_new(int fd)
{
	struct stat st;
	struct rdir *d;

	if (fstat(fd, &st) < 0)
		return NULL;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return NULL;
	}
	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	d->fd = fd;
	pthread_mutex_lock(&maplock);
	d->next = rdirs;
	rdirs = d;
	pthread_mutex_unlock(&maplock);
	return (DIR *)d;
}

EXPORT DIR *
opendir(const char *p)
{
	if (route(p) == NULL)
		return H(opendir)(p);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	DIR *d = rdir_new(fd);
	if (d == NULL) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

EXPORT DIR *
fdopendir(int fd)
{
	return rfd(fd) < 0 ? H(fdopendir)(fd) : rdir_new(fd);
}

static struct dirent64 *
rdir_read(struct rdir *d)
{
	if (d->off >= d->len) {
		int e = errno;
		ssize_t n = getdents64(d->fd, d->buf, sizeof d->buf);
		if (n <= 0) {
			if (n == 0)
				errno = e;	/* the end leaves errno alone */
			return NULL;
		}
		errno = e;	/* and so does success, whatever the client did on the way */
		d->len = (size_t)n;
		d->off = 0;
	}
	struct dirent64 *ent = (struct dirent64 *)(void *)(d->buf + d->off);
	d->off += ent->d_reclen;
	d->last = ent->d_off;
	return ent;
}

EXPORT struct dirent *
readdir(DIR *dp)
{
	struct rdir *d = rdir_of(dp);
	/* struct dirent is struct dirent64 on LP64 Linux. */
	return d == NULL ? H(readdir)(dp) : (struct dirent *)rdir_read(d);
}

EXPORT struct dirent64 *
readdir64(DIR *dp)
{
	struct rdir *d = rdir_of(dp);
	return d == NULL ? H(readdir64)(dp) : rdir_read(d);
}

EXPORT int
readdir_r(DIR *dp, struct dirent *ent, struct dirent **res)
{
	struct rdir *d = rdir_of(dp);
	if (d == NULL)
		return H(readdir_r)(dp, ent, res);
	errno = 0;
	struct dirent64 *e = rdir_read(d);
	if (e == NULL) {
		*res = NULL;
		return errno;
	}
	memcpy(ent, e, e->d_reclen < sizeof *ent ? e->d_reclen : sizeof *ent);
	*res = ent;
	return 0;
}

EXPORT int
readdir64_r(DIR *dp, struct dirent64 *ent, struct dirent64 **res)
{
	return readdir_r(dp, (struct dirent *)ent, (struct dirent **)res);
}

EXPORT int
closedir(DIR *dp)
{
	struct rdir *d = rdir_of(dp), **pp;

	if (d == NULL)
		return H(closedir)(dp);
	pthread_mutex_lock(&maplock);
	for (pp = &rdirs; *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	pthread_mutex_unlock(&maplock);
	int rv = close(d->fd);
	free(d);
	return rv;
}

EXPORT int
dirfd(DIR *dp)
{
	struct rdir *d = rdir_of(dp);
	return d == NULL ? H(dirfd)(dp) : d->fd;
}

EXPORT void
rewinddir(DIR *dp)
{
	struct rdir *d = rdir_of(dp);

	if (d == NULL) {
		H(rewinddir)(dp);
		return;
	}
	lseek(d->fd, 0, SEEK_SET);
	d->len = d->off = 0;
	d->last = 0;
}

EXPORT long
telldir(DIR *dp)
{
	struct rdir *d = rdir_of(dp);
	return d == NULL ? H(telldir)(dp) : (long)d->last;
}

/* Positions are entry counts: go back to the start and read up to the entry. */
EXPORT void
seekdir(DIR *dp, long pos)
{
	struct rdir *d = rdir_of(dp);

	if (d == NULL) {
		H(seekdir)(dp, pos);
		return;
	}
	rewinddir(dp);
	while (d->last < pos && rdir_read(d) != NULL)
		;
}

/* --- current directory --- */

EXPORT int
chdir(const char *p)
{
	const char *rp = route(p);

	if (rp != NULL) {
		if (rs_chdir(rp) < 0)
			return -1;
		cwd_rump = 1;
		return 0;
	}
	if (H(chdir)(p) < 0)
		return -1;
	cwd_rump = 0;
	return 0;
}

EXPORT int
fchdir(int fd)
{
	int r = rfd(fd);

	if (r >= 0) {
		if (rs_fchdir(r) < 0)
			return -1;
		cwd_rump = 1;
		return 0;
	}
	if (H(fchdir)(fd) < 0)
		return -1;
	cwd_rump = 0;
	return 0;
}

/* The kernel's directory under the first prefix: "/" is the prefix itself. */
EXPORT char *
getcwd(char *buf, size_t size)
{
	char kp[PATH_MAX];
	size_t need;

	if (!hijacking || !cwd_rump)
		return H(getcwd)(buf, size);
	if (rs___getcwd(kp, sizeof kp) < 0)
		return NULL;
	kp[sizeof kp - 1] = '\0';
	/* Under the first path prefix; with blankets only, the kernel's own name (NetBSD). */
	const char *pfx = cfg.npath > 0 ? cfg.path[0] : "";
	size_t plen = cfg.npath > 0 ? cfg.pathlen[0] : 0;
	const char *rest = strcmp(kp, "/") == 0 && plen > 0 ? "" : kp;
	need = plen + strlen(rest) + 1;
	if (buf == NULL) {
		if (size != 0 && size < need) {
			errno = ERANGE;
			return NULL;
		}
		if ((buf = malloc(size ? size : need)) == NULL)
			return NULL;
	} else if (size < need) {
		errno = size == 0 ? EINVAL : ERANGE;
		return NULL;
	}
	memcpy(buf, pfx, plen);
	memcpy(buf + plen, rest, strlen(rest) + 1);
	return buf;
}

/*
 * realpath for the kernel's names (glibc's walks with its internal lstat): components are looked
 * up one by one in the kernel, links followed as the kernel reads them (an absolute target is
 * the kernel's, not the host's), and the result carries the prefix again.
 */
static char *
rump_realpath(const char *rp, char *resolved)
{
	char out[PATH_MAX], rest[PATH_MAX], link[PATH_MAX];
	size_t olen;
	int nlinks = 0;

	if (rp[0] == '/') {
		if (strlen(rp) >= sizeof rest)
			goto toolong;
		strcpy(rest, rp);
	} else {
		char cwd[PATH_MAX];
		if (rs___getcwd(cwd, sizeof cwd) < 0)
			return NULL;
		cwd[sizeof cwd - 1] = '\0';
		if ((size_t)snprintf(rest, sizeof rest, "%s/%s", cwd, rp) >= sizeof rest)
			goto toolong;
	}
	out[0] = '\0';
	olen = 0;
	char *p = rest;
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		char *end = strchrnul(p, '/');
		size_t clen = (size_t)(end - p);
		if (clen == 1 && p[0] == '.') {
			p = end;
			continue;
		}
		if (clen == 2 && p[0] == '.' && p[1] == '.') {
			while (olen > 0 && out[olen - 1] != '/')
				olen--;
			if (olen > 0)
				olen--;	/* the slash; the root's parent is the root */
			out[olen] = '\0';
			p = end;
			continue;
		}
		if (olen + 1 + clen >= sizeof out)
			goto toolong;
		out[olen++] = '/';
		memcpy(out + olen, p, clen);
		olen += clen;
		out[olen] = '\0';
		p = end;

		struct rump_stat st;
		if (rs_fstatat(RUMP_AT_FDCWD, out, &st, RUMP_AT_SYMLINK_NOFOLLOW) < 0)
			return NULL;
		if ((st.st_mode & RUMP_S_IFMT) == RUMP_S_IFLNK) {
			if (++nlinks > 40) {
				errno = ELOOP;
				return NULL;
			}
			ssize_t n = rs_readlinkat(RUMP_AT_FDCWD, out, link, sizeof link - 1);
			if (n < 0)
				return NULL;
			link[n] = '\0';
			/* The target, then what was left, replaces the rest of the walk. */
			char tmp[PATH_MAX];
			if ((size_t)snprintf(tmp, sizeof tmp, "%s%s", link, p) >= sizeof tmp)
				goto toolong;
			strcpy(rest, tmp);
			p = rest;
			if (link[0] == '/')
				olen = 0;
			else {
				while (olen > 0 && out[olen - 1] != '/')
					olen--;
				if (olen > 0)
					olen--;
			}
			out[olen] = '\0';
		} else if (*p != '\0' && (st.st_mode & RUMP_S_IFMT) != RUMP_S_IFDIR) {
			errno = ENOTDIR;
			return NULL;
		}
	}
	const char *pfx = cfg.npath > 0 ? cfg.path[0] : "";
	size_t plen = cfg.npath > 0 ? cfg.pathlen[0] : 0;
	if (olen == 0 && plen == 0) {
		out[olen++] = '/';	/* the kernel's root, with no prefix to stand for it */
		out[olen] = '\0';
	}
	size_t need = plen + olen + 1;
	if (need > PATH_MAX)
		goto toolong;
	if (resolved == NULL && (resolved = malloc(need)) == NULL)
		return NULL;
	memcpy(resolved, pfx, plen);
	memcpy(resolved + plen, out, olen + 1);
	return resolved;
toolong:
	errno = ENAMETOOLONG;
	return NULL;
}

EXPORT char *
realpath(const char *p, char *resolved)
{
	const char *rp = route(p);
	return rp == NULL ? H(realpath)(p, resolved) : rump_realpath(rp, resolved);
}

EXPORT char *
canonicalize_file_name(const char *p)
{
	const char *rp = route(p);
	return rp == NULL ? H(canonicalize_file_name)(p) : rump_realpath(rp, NULL);
}

/* mkstemp and friends in the kernel (glibc's create with its internal open). */
static int
rump_mktemp(char *tmpl, int suffixlen, int flags, int isdir)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t len = strlen(tmpl);
	uint64_t v;
	struct timespec ts;

	if (suffixlen < 0 || len < 6 + (size_t)suffixlen ||
	    memcmp(tmpl + len - suffixlen - 6, "XXXXXX", 6) != 0) {
		errno = EINVAL;
		return -1;
	}
	char *x = tmpl + len - suffixlen - 6;
	clock_gettime(CLOCK_REALTIME, &ts);
	v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40) ^ (uintptr_t)tmpl;
	for (int attempt = 0; attempt < 10000; attempt++) {
		v = v * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t r = v >> 16;
		for (int i = 0; i < 6; i++, r /= 62)
			x[i] = chars[r % 62];
		int rv = isdir ? mkdir(tmpl, 0700) : open(tmpl, O_RDWR | O_CREAT | O_EXCL | flags, 0600);
		if (rv >= 0 || errno != EEXIST)
			return rv;
	}
	errno = EEXIST;
	return -1;
}

EXPORT int mkstemp(char *t) { return route(t) ? rump_mktemp(t, 0, 0, 0) : H(mkstemp)(t); }
EXPORT int mkstemp64(char *t) { return mkstemp(t); }
EXPORT int mkostemp(char *t, int fl) { return route(t) ? rump_mktemp(t, 0, fl, 0) : H(mkostemp)(t, fl); }
EXPORT int mkostemp64(char *t, int fl) { return mkostemp(t, fl); }
EXPORT int mkstemps(char *t, int sl) { return route(t) ? rump_mktemp(t, sl, 0, 0) : H(mkstemps)(t, sl); }
EXPORT int mkstemps64(char *t, int sl) { return mkstemps(t, sl); }
EXPORT int mkostemps(char *t, int sl, int fl) { return route(t) ? rump_mktemp(t, sl, fl, 0) : H(mkostemps)(t, sl, fl); }
EXPORT int mkostemps64(char *t, int sl, int fl) { return mkostemps(t, sl, fl); }

EXPORT char *
mkdtemp(char *t)
{
	if (route(t) == NULL)
		return H(mkdtemp)(t);
	return rump_mktemp(t, 0, 0, 1) == 0 ? t : NULL;
}

/* --- descriptor table calls --- */

/* A dup of kernel descriptor r at host number `at` (or the lowest >= minfd). */
static int
rump_dupto(int r, int minfd, int at, int cloexec)
{
	int r2 = rs_dup(r);

	if (r2 < 0)
		return -1;
	if (cloexec)
		rs_fcntl(r2, RUMP_F_SETFD, RUMP_FD_CLOEXEC);
	if (at >= 0) {
		int old = rfd(at);
		std_stream(at);
		if (old >= 0) {
			unmap(at);
			rs_close(old);	/* dup2 closes what was there; the placeholder stays for reuse */
		}
	}
	int h = place(r2, minfd, at, cloexec);
	if (h >= 0 && h <= 2)
		std_stream(h);
	return h;
}

EXPORT int
dup(int fd)
{
	int r = rfd(fd);
	return r < 0 ? H(dup)(fd) : rump_dupto(r, cfg.fdoff, -1, 0);
}

static int
do_dup3(int fd, int nfd, int flags)
{
	int r = rfd(fd), old;

	if (r < 0) {
		/* A host descriptor over a kernel one: the kernel's goes first. */
		if (fd != nfd && (old = rfd(nfd)) >= 0 && H(fcntl)(fd, F_GETFD) >= 0) {
			unmap(nfd);
			rs_close(old);
		}
		if (fd != nfd && rc_closenotify != NULL && hijacking &&
		    rc_closenotify(&nfd, CLOSENOTIFY_DUP2) < 0)
			return -1;
		return flags < 0 ? H(dup2)(fd, nfd) : H(dup3)(fd, nfd, flags);
	}
	if (nfd < 0 || nfd >= MAXFD) {
		errno = EBADF;
		return -1;
	}
	if (fd == nfd) {
		if (flags >= 0) {
			errno = EINVAL;
			return -1;
		}
		return nfd;
	}
	return rump_dupto(r, 0, nfd, flags > 0 && (flags & O_CLOEXEC));
}

EXPORT int dup2(int fd, int nfd) { return do_dup3(fd, nfd, -1); }
EXPORT int dup3(int fd, int nfd, int flags) { return do_dup3(fd, nfd, flags); }

EXPORT int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	unsigned long arg;
	int r = rfd(fd), rv;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (r < 0)
		return H(fcntl)(fd, cmd, arg);

	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return rump_dupto(r, (int)arg, -1, cmd == F_DUPFD_CLOEXEC);
	case F_GETFD:
		return rs_fcntl(r, RUMP_F_GETFD);
	case F_SETFD:
		/* The placeholder carries the flag across exec for the host. */
		if ((rv = rs_fcntl(r, RUMP_F_SETFD, (int)(arg & FD_CLOEXEC ? RUMP_FD_CLOEXEC : 0))) < 0)
			return rv;
		H(fcntl)(fd, F_SETFD, (int)(arg & FD_CLOEXEC));
		return rv;
	case F_GETFL:
		if ((rv = rs_fcntl(r, RUMP_F_GETFL)) < 0)
			return rv;
		return xlate_oflags_to_lx(rv);
	case F_SETFL: {
		int e, nb = xlate_oflags_to_nb((int)arg & (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT), &e);
		return rs_fcntl(r, RUMP_F_SETFL, nb);
	}
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW: {
		struct flock *lx = (struct flock *)arg;
		struct nb_flock nb;
		int nbcmd = cmd == F_GETLK ? RUMP_F_GETLK : cmd == F_SETLK ? RUMP_F_SETLK : RUMP_F_SETLKW;
		xlate_flock_to_nb(lx, &nb);
		if ((rv = rs_fcntl(r, nbcmd, &nb)) < 0)
			return rv;
		if (cmd == F_GETLK)
			xlate_flock_to_lx(&nb, lx);
		return rv;
	}
	default:
		errno = EINVAL;
		return -1;
	}
}
EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

/* --- poll and select over both kernels --- */

struct hostpoll {
	struct pollfd *fds;
	nfds_t n;
	int timeout, rv, err;
	int wake;		/* the kernel pipe's write end: ends the kernel's poll */
};

static void *
hostpoll_thread(void *arg)
{
	struct hostpoll *hp = arg;
	char c = 0;

	hp->rv = H(poll)(hp->fds, hp->n, hp->timeout);
	hp->err = errno;
	rs_write(hp->wake, &c, 1);
	return NULL;
}

/*
 * Host and kernel descriptors in one poll: the host's poll runs on a thread and the kernel's
 * here, each with a pipe of its own kernel added, so whichever returns first ends the other.
 */
static int
poll_mixed(struct pollfd *fds, nfds_t n, int timeout)
{
	struct pollfd *hfds = calloc(n + 1, sizeof *hfds);
	struct rump_pollfd *rfds = calloc(n + 1, sizeof *rfds);
	int hpipe[2] = { -1, -1 }, rpipe[2] = { -1, -1 }, rv = -1, err = 0;
	nfds_t nh = 0, nr = 0;
	pthread_t t;
	char c = 0;

	if (hfds == NULL || rfds == NULL || pipe2(hpipe, O_CLOEXEC) < 0 ||
	    rs_pipe2(rpipe, RUMP_O_CLOEXEC) < 0) {
		err = errno;
		goto out;
	}
	for (nfds_t i = 0; i < n; i++) {
		int r = rfd(fds[i].fd);
		if (r >= 0) {
			rfds[nr].fd = r;
			rfds[nr++].events = xlate_poll_to_nb(fds[i].events);
		} else
			hfds[nh++] = fds[i];
	}
	hfds[nh].fd = hpipe[0];
	hfds[nh].events = POLLIN;
	rfds[nr].fd = rpipe[0];
	rfds[nr].events = RUMP_POLLIN;

	struct hostpoll hp = { hfds, nh + 1, timeout, 0, 0, rpipe[1] };
	if ((err = pthread_create(&t, NULL, hostpoll_thread, &hp)) != 0)
		goto out;
	int krv = rs_poll(rfds, (unsigned)nr + 1, timeout), kerr = errno;
	H(write)(hpipe[1], &c, 1);
	pthread_join(t, NULL);
	if (krv < 0 || hp.rv < 0) {
		err = krv < 0 ? kerr : hp.err;
		goto out;
	}
	rv = 0;
	nh = nr = 0;
	for (nfds_t i = 0; i < n; i++) {
		if (rfd(fds[i].fd) >= 0)
			fds[i].revents = xlate_poll_to_lx(rfds[nr++].revents);
		else
			fds[i].revents = hfds[nh++].revents;
		if (fds[i].revents)
			rv++;
	}
out:
	if (hpipe[0] >= 0) {
		H(close)(hpipe[0]);
		H(close)(hpipe[1]);
	}
	if (rpipe[0] >= 0) {
		rs_close(rpipe[0]);
		rs_close(rpipe[1]);
	}
	free(hfds);
	free(rfds);
	if (rv < 0)
		errno = err;
	return rv;
}

EXPORT int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
	nfds_t nr = 0;

	for (nfds_t i = 0; i < n; i++)
		if (rfd(fds[i].fd) >= 0)
			nr++;
	if (nr == 0)
		return H(poll)(fds, n, timeout);
	if (nr < n)
		return poll_mixed(fds, n, timeout);

	struct rump_pollfd stackfds[16], *rfds = n <= 16 ? stackfds : calloc(n, sizeof *rfds);
	if (rfds == NULL)
		return -1;
	for (nfds_t i = 0; i < n; i++) {
		rfds[i].fd = rfd(fds[i].fd);
		rfds[i].events = xlate_poll_to_nb(fds[i].events);
		rfds[i].revents = 0;
	}
	int rv = rs_poll(rfds, (unsigned)n, timeout);
	if (rv >= 0)
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = xlate_poll_to_lx(rfds[i].revents);
	if (rfds != stackfds)
		free(rfds);
	return rv;
}

/* select over poll when a kernel descriptor is in a set. */
EXPORT int
select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	int any = 0, n = 0, rv, timeout;
	struct pollfd *fds;

	if (nfds < 0 || nfds > FD_SETSIZE)
		return H(select)(nfds, rd, wr, ex, tv);	/* the kernel's numbers are all below */
	for (int fd = 0; fd < nfds && !any; fd++)
		if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))) &&
		    rfd(fd) >= 0)
			any = 1;
	if (!any)
		return H(select)(nfds, rd, wr, ex, tv);
	if ((fds = calloc((size_t)nfds, sizeof *fds)) == NULL)
		return -1;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (rd && FD_ISSET(fd, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(fd, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(fd, ex))
			ev |= POLLPRI;
		if (ev) {
			fds[n].fd = fd;
			fds[n++].events = ev;
		}
	}
	timeout = tv == NULL ? -1 : (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
	rv = poll(fds, (nfds_t)n, timeout);
	if (rv >= 0) {
		rv = 0;
		if (rd)
			FD_ZERO(rd);
		if (wr)
			FD_ZERO(wr);
		if (ex)
			FD_ZERO(ex);
		for (int i = 0; i < n; i++) {
			short re = fds[i].revents;
			if (re & POLLNVAL) {
				free(fds);
				errno = EBADF;
				return -1;
			}
			if (rd && (fds[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR)))
				FD_SET(fds[i].fd, rd), rv++;
			if (wr && (fds[i].events & POLLOUT) && (re & (POLLOUT | POLLERR)))
				FD_SET(fds[i].fd, wr), rv++;
			if (ex && (fds[i].events & POLLPRI) && (re & POLLPRI))
				FD_SET(fds[i].fd, ex), rv++;
		}
	}
	free(fds);
	return rv;
}

/* A timespec as poll's milliseconds, rounded up (-1: none). */
static int
ts_ms(const struct timespec *ts)
{
	if (ts == NULL)
		return -1;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return -2;
	if (ts->tv_sec >= INT_MAX / 1000 - 1)
		return INT_MAX;
	return (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
}

/*
 * ppoll and pselect with a kernel descriptor: poll or select with the signal mask set around it.
 * That is not atomic (as in NetBSD's hijack, which does the same): a signal that comes between
 * setting the mask and the wait runs its handler without ending the wait.
 */
EXPORT int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	nfds_t i;
	sigset_t old;
	int timeout = ts_ms(ts), rv, e;

	for (i = 0; i < n; i++)
		if (rfd(fds[i].fd) >= 0)
			break;
	if (i == n || timeout == -2)
		return H(ppoll)(fds, n, ts, mask);
	if (mask != NULL)
		pthread_sigmask(SIG_SETMASK, mask, &old);
	rv = poll(fds, n, timeout);
	e = errno;
	if (mask != NULL)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return rv;
}

EXPORT int
pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts, const sigset_t *mask)
{
	int any = 0, rv, e;
	sigset_t old;

	for (int fd = 0; fd < nfds && fd < FD_SETSIZE && !any; fd++)
		if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))) &&
		    rfd(fd) >= 0)
			any = 1;
	if (!any || ts_ms(ts) == -2)
		return H(pselect)(nfds, rd, wr, ex, ts, mask);
	struct timeval tv, *tvp = NULL;
	if (ts != NULL) {
		tv.tv_sec = ts->tv_sec;
		tv.tv_usec = (ts->tv_nsec + 999) / 1000;
		tvp = &tv;
	}
	if (mask != NULL)
		pthread_sigmask(SIG_SETMASK, mask, &old);
	rv = select(nfds, rd, wr, ex, tvp);
	e = errno;
	if (mask != NULL)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return rv;
}

/* --- sockets --- */

/*
 * A socket is the kernel's when RUMPHIJACK's socket= names its family; the calls on it then go to
 * the kernel with Linux's numbers and structures translated (xlate.c), and its descriptor is a
 * placeholder like a file's. Name resolution is not routed: glibc's resolver opens its sockets
 * with internal calls no interposition reaches, so getaddrinfo reads the host's files and asks
 * the host's servers (NetBSD's libc would go through the hijack; numeric addresses need neither).
 */
/* Set while this thread is inside the kernel's socket(2): a kernel in this process (the local
 * client) whose sockin makes the host socket behind it must get the host's. */
static __thread int in_rump_socket;

static int
sock_routed(int domain)
{
	return hijacking && !in_rump_socket && domain >= 0 && domain < XLATE_NAF && cfg.sockets[domain];
}

/* Linux starts an AF_INET6 socket's IPV6_V6ONLY at the host's net.ipv6.bindv6only (0 unless an
 * administrator changed it), NetBSD's kernel at 1 (net.inet6.ip6.v6only): a Linux program that
 * binds :: expects IPv4 connections too, so the kernel's socket gets Linux's default. Read once;
 * two threads racing both read the same value. */
static int
linux_bindv6only(void)
{
	static int v = -1;
	int got = __atomic_load_n(&v, __ATOMIC_RELAXED);
	if (got >= 0)
		return got;
	int x = 0;
	FILE *f = fopen("/proc/sys/net/ipv6/bindv6only", "re");
	if (f != NULL) {
		if (fscanf(f, "%d", &x) != 1)
			x = 0;
		fclose(f);
	}
	got = x != 0;
	__atomic_store_n(&v, got, __ATOMIC_RELAXED);
	return got;
}

EXPORT int
socket(int domain, int type, int protocol)
{
	if (!sock_routed(domain))
		return H(socket)(domain, type, protocol);
	int af = xlate_af_to_nb(domain), ty = xlate_socktype_to_nb(type);
	if (af < 0) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (ty < 0) {
		errno = EINVAL;
		return -1;
	}
	in_rump_socket = 1;
	int r = rs_socket(af, ty, protocol);
	in_rump_socket = 0;
	if (r < 0)
		return -1;
	if (domain == AF_INET6 && ((type & 0xf) == SOCK_STREAM || (type & 0xf) == SOCK_DGRAM)) {
		int v6only = linux_bindv6only();
		(void)rs_setsockopt(r, NB_IPPROTO_IPV6, NB_IPV6_V6ONLY, &v6only, sizeof v6only);
	}
	return place(r, cfg.fdoff, -1, (type & SOCK_CLOEXEC) != 0);
}

EXPORT int
socketpair(int domain, int type, int protocol, int sv[2])
{
	if (!sock_routed(domain))
		return H(socketpair)(domain, type, protocol, sv);
	int af = xlate_af_to_nb(domain), ty = xlate_socktype_to_nb(type), r[2], e;
	if (af < 0) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (ty < 0) {
		errno = EINVAL;
		return -1;
	}
	in_rump_socket = 1;
	int rv = rs_socketpair(af, ty, protocol, r);
	in_rump_socket = 0;
	if (rv < 0)
		return -1;
	int cloexec = (type & SOCK_CLOEXEC) != 0;
	if ((sv[0] = place(r[0], cfg.fdoff, -1, cloexec)) < 0) {
		e = errno;
		rs_close(r[1]);
		errno = e;
		return -1;
	}
	if ((sv[1] = place(r[1], cfg.fdoff, -1, cloexec)) < 0) {
		e = errno;
		close(sv[0]);
		errno = e;
		return -1;
	}
	return 0;
}

/* bind and connect: the address in NetBSD's form. */
static int
sock_addrcall(int fd, const struct sockaddr *sa, socklen_t len, int isconnect)
{
	int r = rfd(fd), e, n;
	uint8_t nb[XLATE_SOCKADDR_MAX];

	if (r < 0)
		return isconnect ? H(connect)(fd, sa, len) : H(bind)(fd, sa, len);
	if ((n = xlate_sockaddr_to_nb(sa, len, nb, &e)) < 0) {
		errno = e;
		return -1;
	}
	return isconnect ? rs_connect(r, (struct rump_sockaddr *)nb, (unsigned)n)
	    : rs_bind(r, (struct rump_sockaddr *)nb, (unsigned)n);
}

EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len) { return sock_addrcall(fd, sa, len, 0); }
EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len) { return sock_addrcall(fd, sa, len, 1); }

EXPORT int
listen(int fd, int backlog)
{
	int r = rfd(fd);
	return r < 0 ? H(listen)(fd, backlog) : rs_listen(r, backlog);
}

/* An address the kernel gave (NetBSD's, nblen bytes) to the caller's sa and *len, if asked for. */
static void
addr_out(const uint8_t *nb, unsigned nblen, struct sockaddr *sa, socklen_t *len)
{
	uint32_t l;

	if (sa == NULL || len == NULL)
		return;
	l = *len;
	xlate_sockaddr_to_lx(nb, nblen, sa, &l);
	*len = l;
}

EXPORT int
accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	int r = rfd(fd);
	uint8_t nb[XLATE_SOCKADDR_MAX];
	unsigned nblen = sizeof nb;

	if (r < 0)
		return H(accept4)(fd, sa, len, flags);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	if (sa != NULL && (len == NULL || (int)*len < 0)) {
		errno = len == NULL ? EFAULT : EINVAL;
		return -1;
	}
	/* paccept, as Linux: the new socket does not take the listener's O_NONBLOCK. */
	int a = rs_paccept(r, (struct rump_sockaddr *)nb, &nblen, NULL, xlate_socktype_to_nb(flags));
	if (a < 0)
		return -1;
	addr_out(nb, nblen, sa, len);
	return place(a, cfg.fdoff, -1, (flags & SOCK_CLOEXEC) != 0);
}

EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len) { return accept4(fd, sa, len, 0); }

EXPORT int
shutdown(int fd, int how)
{
	int r = rfd(fd);
	return r < 0 ? H(shutdown)(fd, how) : rs_shutdown(r, how);	/* SHUT_*: 0, 1, 2 on both */
}

static int
sock_name(int fd, struct sockaddr *sa, socklen_t *len, int peer)
{
	int r = rfd(fd);
	uint8_t nb[XLATE_SOCKADDR_MAX];
	unsigned nblen = sizeof nb;

	if (r < 0)
		return peer ? H(getpeername)(fd, sa, len) : H(getsockname)(fd, sa, len);
	if (len == NULL || sa == NULL) {
		errno = EFAULT;
		return -1;
	}
	if ((peer ? rs_getpeername(r, (struct rump_sockaddr *)nb, &nblen)
	    : rs_getsockname(r, (struct rump_sockaddr *)nb, &nblen)) < 0)
		return -1;
	addr_out(nb, nblen, sa, len);
	return 0;
}

EXPORT int getsockname(int fd, struct sockaddr *sa, socklen_t *len) { return sock_name(fd, sa, len, 0); }
EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len) { return sock_name(fd, sa, len, 1); }

EXPORT int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	int r = rfd(fd), nl, nn;

	if (r < 0)
		return H(setsockopt)(fd, level, name, val, len);
	if (xlate_sockopt_to_nb(level, name, &nl, &nn) < 0) {
		errno = ENOPROTOOPT;
		return -1;
	}
	return rs_setsockopt(r, nl, nn, val, len);
}

EXPORT int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	int r = rfd(fd), nl, nn, kind;
	unsigned l;

	if (r < 0)
		return H(getsockopt)(fd, level, name, val, len);
	if ((kind = xlate_sockopt_to_nb(level, name, &nl, &nn)) < 0) {
		errno = ENOPROTOOPT;
		return -1;
	}
	if (len == NULL) {
		errno = EFAULT;
		return -1;
	}
	if (kind == XLATE_OPT_TCPINFO) {
		uint8_t nb[NB_TCP_INFO_SIZE];
		l = sizeof nb;
		if (rs_getsockopt(r, nl, nn, nb, &l) < 0)
			return -1;
		*len = (socklen_t)xlate_tcpinfo_to_lx(nb, l, val, *len);
		return 0;
	}
	l = *len;
	if (rs_getsockopt(r, nl, nn, val, &l) < 0)
		return -1;
	if (kind != XLATE_OPT_PLAIN && l >= sizeof(int)) {
		int v;
		memcpy(&v, val, sizeof v);
		v = kind == XLATE_OPT_BOOL ? v != 0 : v == 0 ? 0 : xlate_errno_to_lx(v);
		memcpy(val, &v, sizeof v);
	}
	*len = l;
	return 0;
}

EXPORT ssize_t
sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa, socklen_t salen)
{
	int r = rfd(fd), e, nf, al = 0;
	uint8_t nb[XLATE_SOCKADDR_MAX];

	if (r < 0)
		return H(sendto)(fd, buf, n, flags, sa, salen);
	if ((nf = xlate_msgflags_to_nb(flags)) < 0) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (sa != NULL && (al = xlate_sockaddr_to_nb(sa, salen, nb, &e)) < 0) {
		errno = e;
		return -1;
	}
	return rs_sendto(r, buf, n, nf, sa != NULL ? (struct rump_sockaddr *)nb : NULL, (unsigned)al);
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags) { return sendto(fd, buf, n, flags, NULL, 0); }

EXPORT ssize_t
recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *salen)
{
	int r = rfd(fd), nf;
	uint8_t nb[XLATE_SOCKADDR_MAX];
	unsigned nblen = sizeof nb;

	if (r < 0)
		return H(recvfrom)(fd, buf, n, flags, sa, salen);
	if ((nf = xlate_msgflags_to_nb(flags)) < 0) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (sa != NULL && salen == NULL) {
		errno = EFAULT;
		return -1;
	}
	ssize_t rv = rs_recvfrom(r, buf, n, nf, sa != NULL ? (struct rump_sockaddr *)nb : NULL,
	    sa != NULL ? &nblen : NULL);
	if (rv >= 0)
		addr_out(nb, sa != NULL ? nblen : 0, sa, salen);
	return rv;
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags) { return recvfrom(fd, buf, n, flags, NULL, NULL); }

/* The descriptors of SCM_RIGHTS records in a NetBSD control buffer: host numbers to the kernel's
 * (tohost 0; EBADF for a host descriptor, which the kernel cannot pass), or kernel descriptors
 * just received to new host numbers (tohost 1; one that cannot be placed is closed and -1). */
static int
cmsg_fds(uint8_t *ctl, size_t len, int tohost, int cloexec)
{
	for (size_t off = 0; off + 16 <= len;) {
		struct rump_cmsghdr h;
		memcpy(&h, ctl + off, sizeof h);
		if (h.cmsg_len < 16 || h.cmsg_len > len - off)
			break;
		if (h.cmsg_level == RUMP_SOL_SOCKET && h.cmsg_type == RUMP_SCM_RIGHTS)
			for (size_t i = 16; i + sizeof(int) <= h.cmsg_len; i += sizeof(int)) {
				int v;
				memcpy(&v, ctl + off + i, sizeof v);
				if (tohost)
					v = place(v, cfg.fdoff, -1, cloexec);
				else if ((v = rfd(v)) < 0) {
					errno = EBADF;
					return -1;
				}
				memcpy(ctl + off + i, &v, sizeof v);
			}
		off += (h.cmsg_len + 7) & ~(size_t)7;
	}
	return 0;
}

/*
 * What sendmsg and recvmsg check and translate alike: NetBSD's flags (returned, or -1 with errno),
 * the sizes, and the iovec (Linux's struct iovec and NetBSD's have one layout on LP64). A control
 * buffer of up to CTL_STACK bytes lives on the caller's stack, a larger one on the heap.
 */
#define CTL_STACK 256

static int
msg_begin(const struct msghdr *m, int flags, struct rump_msghdr *nm)
{
	int nf;

	if ((nf = xlate_msgflags_to_nb(flags)) < 0) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (m->msg_iovlen > IOV_MAX || m->msg_controllen > INT_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(nm, 0, sizeof *nm);
	nm->msg_iov = (struct rump_iovec *)m->msg_iov;
	nm->msg_iovlen = (int)m->msg_iovlen;
	return nf;
}

/* A zeroed kernel-side control buffer of n bytes, or NULL with ENOMEM. */
static uint8_t *
msg_ctl(size_t n, uint8_t stackctl[CTL_STACK])
{
	return n <= CTL_STACK ? memset(stackctl, 0, n) : calloc(1, n);
}

static void
msg_ctl_free(uint8_t *ctl, const uint8_t stackctl[CTL_STACK])
{
	int e = errno;

	if (ctl != NULL && ctl != stackctl)
		free(ctl);
	errno = e;
}

EXPORT ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
	int r = rfd(fd), e, nf, al = 0;
	uint8_t nb[XLATE_SOCKADDR_MAX], stackctl[CTL_STACK], *ctl = NULL;
	struct rump_msghdr nm;
	ssize_t rv = -1;

	if (r < 0)
		return H(sendmsg)(fd, m, flags);
	if ((nf = msg_begin(m, flags, &nm)) < 0)
		return -1;
	if (m->msg_name != NULL && (al = xlate_sockaddr_to_nb(m->msg_name, m->msg_namelen, nb, &e)) < 0) {
		errno = e;
		return -1;
	}
	nm.msg_name = m->msg_name != NULL ? nb : NULL;
	nm.msg_namelen = (uint32_t)al;
	if (m->msg_control != NULL && m->msg_controllen > 0) {
		if ((ctl = msg_ctl(m->msg_controllen, stackctl)) == NULL)
			return -1;
		long n = xlate_cmsg_to_nb(m->msg_control, m->msg_controllen, ctl, &e);
		if (n < 0) {
			errno = e;
			goto out;
		}
		if (cmsg_fds(ctl, (size_t)n, 0, 0) < 0)
			goto out;
		nm.msg_control = ctl;
		nm.msg_controllen = (uint32_t)n;
	}
	rv = rs_sendmsg(r, &nm, nf);
out:
	msg_ctl_free(ctl, stackctl);
	return rv;
}

EXPORT ssize_t
recvmsg(int fd, struct msghdr *m, int flags)
{
	int r = rfd(fd), nf;
	uint8_t nb[XLATE_SOCKADDR_MAX], stackctl[CTL_STACK], *ctl = NULL;
	struct rump_msghdr nm;
	ssize_t rv = -1;

	if (r < 0)
		return H(recvmsg)(fd, m, flags);
	if ((nf = msg_begin(m, flags, &nm)) < 0)
		return -1;
	nm.msg_name = m->msg_name != NULL ? nb : NULL;
	nm.msg_namelen = m->msg_name != NULL ? sizeof nb : 0;
	if (m->msg_control != NULL && m->msg_controllen > 0) {
		if ((ctl = msg_ctl(m->msg_controllen, stackctl)) == NULL)
			return -1;
		nm.msg_control = ctl;
		nm.msg_controllen = (uint32_t)m->msg_controllen;
	}
	if ((rv = rs_recvmsg(r, &nm, nf)) < 0)
		goto out;
	if (m->msg_name != NULL) {
		uint32_t l = m->msg_namelen;
		xlate_sockaddr_to_lx(nb, nm.msg_namelen, m->msg_name, &l);
		m->msg_namelen = l;
	}
	if (ctl != NULL) {
		cmsg_fds(ctl, nm.msg_controllen, 1, (flags & MSG_CMSG_CLOEXEC) != 0);
		m->msg_controllen = (size_t)xlate_cmsg_to_lx(ctl, nm.msg_controllen, m->msg_control);
	} else
		m->msg_controllen = 0;
	m->msg_flags = xlate_msgflags_to_lx(nm.msg_flags);
out:
	msg_ctl_free(ctl, stackctl);
	return rv;
}

/* sendmmsg and recvmmsg as loops over sendmsg and recvmsg (the kernel's calls are one message
 * each): what was done by the first failure is the answer, as Linux's. */
EXPORT int
sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	if (rfd(fd) < 0)
		return H(sendmmsg)(fd, v, n, flags);
	unsigned int i;
	for (i = 0; i < n && i < IOV_MAX; i++) {
		ssize_t k = sendmsg(fd, &v[i].msg_hdr, flags);
		if (k < 0)
			return i > 0 ? (int)i : -1;
		v[i].msg_len = (unsigned)k;
	}
	return (int)i;
}

EXPORT int
recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *ts)
{
	if (rfd(fd) < 0)
		return H(recvmmsg)(fd, v, n, flags, ts);
	if (ts != NULL) {
		errno = EINVAL;	/* recvmmsg's timeout is not kept for the kernel's sockets */
		return -1;
	}
	unsigned int i;
	for (i = 0; i < n && i < IOV_MAX; i++) {
		ssize_t k = recvmsg(fd, &v[i].msg_hdr, flags & ~MSG_WAITFORONE);
		if (k < 0)
			return i > 0 ? (int)i : -1;
		v[i].msg_len = (unsigned)k;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
	}
	return (int)i;
}

/*
 * epoll over kernel descriptors. The host's epoll instance cannot watch one (it would watch the
 * placeholder), so this library keeps the kernel's descriptors of each epoll instance in a list
 * of its own (descriptor, events, data) and the host's instance keeps the host's. epoll_wait
 * polls the listed descriptors and the epoll descriptor itself (readable while the host's have
 * events) in one mixed poll, then takes the host's events with a zero timeout and adds the
 * kernel's. Level-triggered: EPOLLET is served as level-triggered (more wake-ups, none missed);
 * EPOLLONESHOT disarms a descriptor after it is reported, until EPOLL_CTL_MOD, as Linux does.
 * A kernel descriptor leaves every list when it is closed, an epoll descriptor's list goes with
 * it. Locks: eplock protects the lists; it is never held across a poll or a host call.
 */
struct epent {
	int fd;
	uint32_t events;
	epoll_data_t data;
};
struct epset {
	struct epset *next;
	int epfd, n, cap;
	unsigned rot;		/* where the next report starts: every ready descriptor gets its turn */
	struct epent *v;
};
static struct epset *epsets;
static pthread_mutex_t eplock = PTHREAD_MUTEX_INITIALIZER;
static int epsets_any;		/* a lock-free "no list at all" for close()'s fast path */

/* The list of epfd, made if `make`. Precondition: eplock held. */
static struct epset *
epset_of(int epfd, int make)
{
	struct epset *s;

	for (s = epsets; s != NULL; s = s->next)
		if (s->epfd == epfd)
			return s;
	if (!make || (s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->epfd = epfd;
	s->next = epsets;
	epsets = s;
	__atomic_store_n(&epsets_any, 1, __ATOMIC_RELEASE);
	return s;
}

/* Host number h is being closed: it leaves every list, and an epoll descriptor's list goes. */
static void
ep_forget(int h)
{
	if (!__atomic_load_n(&epsets_any, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&eplock);
	for (struct epset **pp = &epsets; *pp != NULL;) {
		struct epset *s = *pp;
		if (s->epfd == h) {
			*pp = s->next;
			free(s->v);
			free(s);
			continue;
		}
		for (int i = 0; i < s->n; i++)
			if (s->v[i].fd == h)
				s->v[i--] = s->v[--s->n];
		pp = &s->next;
	}
	pthread_mutex_unlock(&eplock);
}

/* The host's answers about epfd: EBADF if it is not open, EINVAL if it is no epoll instance. */
static int
ep_check(int epfd)
{
	char path[32], link[64];

	if (H(fcntl)(epfd, F_GETFD) < 0)
		return -1;
	snprintf(path, sizeof path, "/proc/self/fd/%d", epfd);
	ssize_t n = H(readlink)(path, link, sizeof link - 1);
	if (n > 0) {
		link[n] = 0;
		if (strcmp(link, "anon_inode:[eventpoll]") != 0) {
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

EXPORT int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (rfd(epfd) >= 0) {
		errno = EINVAL;		/* a kernel descriptor is no epoll instance */
		return -1;
	}
	if (rfd(fd) < 0)
		return H(epoll_ctl)(epfd, op, fd, ev);
	if (ep_check(epfd) < 0)
		return -1;
	if (op != EPOLL_CTL_DEL && ev == NULL) {
		errno = EFAULT;
		return -1;
	}
	int rv = -1, e = 0;
	pthread_mutex_lock(&eplock);
	struct epset *s = epset_of(epfd, op == EPOLL_CTL_ADD);
	int i = 0;
	if (s != NULL)
		while (i < s->n && s->v[i].fd != fd)
			i++;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (s == NULL)
			e = ENOMEM;
		else if (i < s->n)
			e = EEXIST;
		else if (s->n == s->cap) {
			int cap = s->cap ? 2 * s->cap : 8;
			struct epent *v = realloc(s->v, (size_t)cap * sizeof *v);
			if (v == NULL)
				e = ENOMEM;
			else {
				s->v = v;
				s->cap = cap;
			}
		}
		if (e == 0) {
			s->v[s->n++] = (struct epent){ fd, ev->events, ev->data };
			rv = 0;
		}
		break;
	case EPOLL_CTL_MOD:
	case EPOLL_CTL_DEL:
		if (s == NULL || i == s->n)
			e = ENOENT;
		else if (op == EPOLL_CTL_MOD) {
			s->v[i].events = ev->events;
			s->v[i].data = ev->data;
			rv = 0;
		} else {
			s->v[i] = s->v[--s->n];
			rv = 0;
		}
		break;
	default:
		e = EINVAL;
	}
	pthread_mutex_unlock(&eplock);
	if (rv < 0)
		errno = e;
	return rv;
}

/* What a descriptor asks for, as poll(2) events (0: disarmed by EPOLLONESHOT). */
static short
ep_pollevents(uint32_t ev)
{
	short p = 0;

	if (ev & EPOLLIN)
		p |= POLLIN;
	if (ev & EPOLLOUT)
		p |= POLLOUT;
	if (ev & EPOLLPRI)
		p |= POLLPRI;
	return p;
}

/* The kernel's descriptors of epfd's list as a poll set, with epfd itself last; NULL if there are none. */
static struct pollfd *
ep_snapshot(int epfd, int *np)
{
	pthread_mutex_lock(&eplock);
	struct epset *s = epset_of(epfd, 0);
	int n = s != NULL ? s->n : 0;
	struct pollfd *pf = n > 0 ? calloc((size_t)n + 1, sizeof *pf) : NULL;
	for (int i = 0; pf != NULL && i < n; i++) {
		/* A disarmed descriptor is left out (poll skips a negative one): not even its hang-up is reported. */
		short pe = ep_pollevents(s->v[i].events);
		pf[i] = (struct pollfd){ .fd = pe != 0 ? s->v[i].fd : -1, .events = pe };
	}
	pthread_mutex_unlock(&eplock);
	if (pf != NULL)
		pf[n] = (struct pollfd){ .fd = epfd, .events = POLLIN };
	*np = n;
	return pf;
}

/* Adds the kernel's ready descriptors of epfd's list to evs[k..max); returns the new count. */
static int
ep_collect(int epfd, struct pollfd *pf, int n, struct epoll_event *evs, int k, int max)
{
	pthread_mutex_lock(&eplock);
	struct epset *s = epset_of(epfd, 0);
	for (int j = 0; s != NULL && j < n && k < max; j++) {
		struct pollfd *p = &pf[(s->rot + (unsigned)j) % (unsigned)n];
		if (p->fd < 0 || p->revents == 0 || (p->revents & POLLNVAL))
			continue;
		/* Still listed with the same events (another thread may have changed them meanwhile). */
		int i = 0;
		while (i < s->n && s->v[i].fd != p->fd)
			i++;
		if (i == s->n || ep_pollevents(s->v[i].events) != p->events)
			continue;
		evs[k].events = (p->revents & POLLIN ? EPOLLIN : 0) | (p->revents & POLLOUT ? EPOLLOUT : 0) |
		    (p->revents & POLLPRI ? EPOLLPRI : 0) | (p->revents & POLLERR ? EPOLLERR : 0) |
		    (p->revents & POLLHUP ? EPOLLHUP : 0);
		evs[k++].data = s->v[i].data;
		if (s->v[i].events & EPOLLONESHOT)
			s->v[i].events &= EPOLLONESHOT | EPOLLET;
	}
	if (s != NULL)
		s->rot++;
	pthread_mutex_unlock(&eplock);
	return k;
}

static int
ep_wait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask)
{
	if (max <= 0 || evs == NULL) {
		errno = max <= 0 ? EINVAL : EFAULT;
		return -1;
	}
	sigset_t old;
	if (mask != NULL)
		pthread_sigmask(SIG_SETMASK, mask, &old);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rv, e = 0, left = timeout;
	for (;;) {
		int n;
		struct pollfd *pf = ep_snapshot(epfd, &n);
		if (pf == NULL) {
			if (n > 0) {
				rv = -1;
				e = ENOMEM;
			} else {
				rv = H(epoll_wait)(epfd, evs, max, left);
				e = errno;
			}
			break;
		}
		rv = poll(pf, (nfds_t)n + 1, left);
		e = errno;
		int k = 0;
		if (rv > 0 && (pf[n].revents & POLLIN) && (k = H(epoll_wait)(epfd, evs, max, 0)) < 0) {
			e = errno;
			rv = -1;
		}
		if (rv > 0)
			rv = k = ep_collect(epfd, pf, n, evs, k, max);
		free(pf);
		if (rv != 0 || timeout == 0)
			break;
		/* Nothing to report after all (the host's events went, or a descriptor changed): wait
		 * again, with what is left of the timeout, on the list as it is now. */
		if (timeout > 0) {
			struct timespec t1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			if (spent >= timeout)
				break;
			left = timeout - (int)spent;
		}
	}
	if (mask != NULL)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rv < 0)
		errno = e;
	return rv;
}

EXPORT int
epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	return ep_wait(epfd, evs, max, timeout, NULL);
}

EXPORT int
epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask)
{
	return ep_wait(epfd, evs, max, timeout, mask);
}

EXPORT int
epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts, const sigset_t *mask)
{
	int timeout = -1;
	if (ts != NULL) {
		if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000) {
			errno = EINVAL;
			return -1;
		}
		long long ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
		timeout = ms > INT_MAX ? INT_MAX : (int)ms;
	}
	return ep_wait(epfd, evs, max, timeout, mask);
}

/*
 * glibc's fortified entry points (_FORTIFY_SOURCE), which a program calls instead of read, recv,
 * poll ... when the compiler knows its buffer's size; glibc's own go to its internal calls, past
 * this library. Each checks as glibc does and goes the way the plain call would.
 */
void __chk_fail(void) __attribute__((noreturn));
EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) { if (n > buflen) __chk_fail(); return read(fd, buf, n); }
EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) { if (n > buflen) __chk_fail(); return pread(fd, buf, n, off); }
EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen) { if (n > buflen) __chk_fail(); return pread(fd, buf, n, off); }
EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags) { if (n > buflen) __chk_fail(); return recv(fd, buf, n, flags); }
EXPORT ssize_t
__recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *sa, socklen_t *salen)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, sa, salen);
}
EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen) { if (fdslen / sizeof *fds < n) __chk_fail(); return poll(fds, n, timeout); }
EXPORT int
__ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}

/* --- stdio over kernel descriptors --- */

/* A stream of this library over a descriptor, listed so that fileno can answer for it. */
struct cfile {
	struct cfile *next;
	FILE *f;
	int fd;
};
static struct cfile *cfiles;	/* maplock */

static ssize_t
cookie_read(void *c, char *buf, size_t n)
{
	return read(((struct cfile *)c)->fd, buf, n);
}

static ssize_t
cookie_write(void *c, const char *buf, size_t n)
{
	int fd = ((struct cfile *)c)->fd;
	size_t done = 0;

	while (done < n) {
		ssize_t k = write(fd, buf + done, n - done);
		if (k <= 0)
			return done > 0 ? (ssize_t)done : -1;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

static int
cookie_seek(void *c, off64_t *off, int whence)
{
	off_t rv = lseek(((struct cfile *)c)->fd, *off, whence);
	if (rv < 0)
		return -1;
	*off = rv;
	return 0;
}

static int
cookie_close(void *c)
{
	struct cfile *cf = c, **pp;
	int fd = cf->fd;

	pthread_mutex_lock(&maplock);
	for (pp = &cfiles; *pp != NULL && *pp != cf; pp = &(*pp)->next)
		;
	if (*pp != NULL)
		*pp = cf->next;
	pthread_mutex_unlock(&maplock);
	free(cf);
	/* The standard streams' descriptors stay open: only exit ends them. */
	return fd <= 2 ? 0 : close(fd);
}

static FILE *
cookie_open(int fd, const char *mode)
{
	static const cookie_io_functions_t io = { cookie_read, cookie_write, cookie_seek, cookie_close };
	struct cfile *cf = malloc(sizeof *cf);

	if (cf == NULL)
		return NULL;
	cf->fd = fd;
	if ((cf->f = fopencookie(cf, mode, io)) == NULL) {
		free(cf);
		return NULL;
	}
	pthread_mutex_lock(&maplock);
	cf->next = cfiles;
	cfiles = cf;
	pthread_mutex_unlock(&maplock);
	return cf->f;
}

static int
cookie_fileno(FILE *f)
{
	int fd = -1;

	pthread_mutex_lock(&maplock);
	for (struct cfile *cf = cfiles; cf != NULL; cf = cf->next)
		if (cf->f == f) {
			fd = cf->fd;
			break;
		}
	pthread_mutex_unlock(&maplock);
	return fd;
}

/* glibc answers -1 for a cookie stream; programs fstat or fchmod what fileno gives. */
EXPORT int
fileno(FILE *f)
{
	int fd;

	if (cfiles != NULL && (fd = cookie_fileno(f)) >= 0)
		return fd;
	return H(fileno)(f);
}

EXPORT int
fileno_unlocked(FILE *f)
{
	int fd;

	if (cfiles != NULL && (fd = cookie_fileno(f)) >= 0)
		return fd;
	return H(fileno_unlocked)(f);
}

/* fopen's mode string -> open flags (glibc's letters: r w a, +, x, e, c and m ignored). */
static int
mode_flags(const char *mode)
{
	int fl;

	switch (mode[0]) {
	case 'r': fl = O_RDONLY; break;
	case 'w': fl = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': fl = O_WRONLY | O_CREAT | O_APPEND; break;
	default: return -1;
	}
	for (const char *m = mode + 1; *m && *m != ','; m++) {
		if (*m == '+')
			fl = (fl & ~O_ACCMODE) | O_RDWR;
		else if (*m == 'x')
			fl |= O_EXCL;
		else if (*m == 'e')
			fl |= O_CLOEXEC;
	}
	return fl;
}

static FILE *
cookie_file(int fd, const char *mode)
{
	FILE *f = cookie_open(fd, mode);
	if (f == NULL) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

EXPORT FILE *
fopen(const char *p, const char *mode)
{
	int fl, fd;

	if (route(p) == NULL)
		return H(fopen)(p, mode);
	if ((fl = mode_flags(mode)) < 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((fd = open(p, fl, 0666)) < 0)
		return NULL;
	if ((fl & O_APPEND) && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return NULL;
	}
	return cookie_file(fd, mode);
}
EXPORT FILE *fopen64(const char *p, const char *mode) { return fopen(p, mode); }

EXPORT FILE *
fdopen(int fd, const char *mode)
{
	if (rfd(fd) < 0)
		return H(fdopen)(fd, mode);
	return cookie_open(fd, mode);
}

/* --- processes --- */

static pid_t
do_fork(void)
{
	if (!hijacking)
		return H(fork)();
	if (rc_prefork == NULL || rc_fork_init == NULL)
		return H(fork)();
	/* The kernel copies our process for the child, which claims the copy after the fork. */
	struct rumpclient_fork *rf = rc_prefork();
	if (rf == NULL)
		return -1;
	pid_t pid = H(fork)();
	if (pid == 0) {
		if (rc_fork_init(rf) != 0)
			die("rumpclient_fork_init failed", strerror(errno));
	} else if (pid < 0) {
		if (rc_fork_cancel != NULL)
			rc_fork_cancel(rf);
	} else if (rc_fork_vparent != NULL)
		rc_fork_vparent(rf);
	return pid;
}

EXPORT pid_t fork(void) { return do_fork(); }
/* The child of vfork would share our memory while it talks to the kernel: make it a fork. */
EXPORT pid_t vfork(void) { return do_fork(); }

/* envp without our own variables, plus the descriptor map and the current directory. */
static char **
exec_env(char *const envp[])
{
	size_t n = 0, k = 0;
	int hs[256], rs[256], m = 0;
	char mapbuf[256 * 24];

	while (envp && envp[n])
		n++;
	char **env = calloc(n + 3, sizeof *env);
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], "RUMPHIJACK__", 12) != 0)
			env[k++] = envp[i];
	for (int h = 0; h < MAXFD && m < 256; h++) {
		int r = rfd(h);
		if (r >= 0 && !(H(fcntl)(h, F_GETFD) & FD_CLOEXEC)) {
			hs[m] = h;
			rs[m++] = r;
		}
	}
	if (m > 0) {
		static char var[sizeof mapbuf + 32];
		xlate_fdmap_encode(mapbuf, sizeof mapbuf, hs, rs, m);
		snprintf(var, sizeof var, "RUMPHIJACK__FDMAP=%s", mapbuf);
		env[k++] = var;
	}
	if (cwd_rump)
		env[k++] = (char *)"RUMPHIJACK__CWD=1";
	env[k] = NULL;
	return env;
}

EXPORT int
execve(const char *path, char *const argv[], char *const envp[])
{
	if (!hijacking)
		return H(execve)(path, argv, envp);
	if (route(path) != NULL) {
		errno = EACCES;	/* programs run from the host; the kernel's files are data */
		return -1;
	}
	char **env = exec_env(envp);
	if (env == NULL)
		return -1;
	int rv = rc_exec != NULL ? rc_exec(path, argv, env) : H(execve)(path, argv, env);
	int e = errno;
	free(env);
	errno = e;
	return rv;
}

EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

/* execvp's search (glibc's own calls its internal execve): PATH, then sh for scripts. */
EXPORT int
execvpe(const char *file, char *const argv[], char *const envp[])
{
	const char *pathvar;
	char buf[PATH_MAX];
	int seen_eacces = 0;

	if (file == NULL || file[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (strchr(file, '/') != NULL) {
		execve(file, argv, envp);
		if (errno == ENOEXEC)
			goto script;
		return -1;
	}
	pathvar = getenv("PATH");
	if (pathvar == NULL)
		pathvar = "/bin:/usr/bin";
	for (const char *p = pathvar;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dl = (size_t)(end - p);
		if (dl == 0)
			snprintf(buf, sizeof buf, "%s", file);
		else
			snprintf(buf, sizeof buf, "%.*s/%s", (int)dl, p, file);
		execve(buf, argv, envp);
		if (errno == ENOEXEC) {
			file = buf;
			goto script;
		}
		if (errno == EACCES)
			seen_eacces = 1;
		if (*end == '\0')
			break;
		p = end;
	}
	errno = seen_eacces ? EACCES : ENOENT;
	return -1;
script: {
		size_t argc = 0;
		while (argv[argc])
			argc++;
		char **nargv = calloc(argc + 2, sizeof *nargv);
		if (nargv == NULL)
			return -1;
		nargv[0] = (char *)"/bin/sh";
		nargv[1] = (char *)file;
		for (size_t i = 1; i <= argc; i++)
			nargv[i + 1] = argv[i];
		execve("/bin/sh", nargv, envp);
		free(nargv);
		return -1;
	}
}

EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

#define COLLECT_ARGS(argv, arg0, ap, extra) do {				\
	size_t n_ = 1;								\
	va_list c_;								\
	va_copy(c_, ap);							\
	while (va_arg(c_, char *) != NULL)					\
		n_++;								\
	va_end(c_);								\
	argv = alloca((n_ + 1) * sizeof(char *));				\
	argv[0] = (char *)(arg0);						\
	for (size_t i_ = 1; i_ <= n_; i_++)					\
		argv[i_] = va_arg(ap, char *);					\
	extra;									\
} while (0)

EXPORT int
execl(const char *path, const char *arg, ...)
{
	char **argv;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(argv, arg, ap, (void)0);
	va_end(ap);
	return execve(path, argv, environ);
}

EXPORT int
execlp(const char *file, const char *arg, ...)
{
	char **argv;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(argv, arg, ap, (void)0);
	va_end(ap);
	return execvpe(file, argv, environ);
}

EXPORT int
execle(const char *path, const char *arg, ...)
{
	char **argv, **envp;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(argv, arg, ap, envp = va_arg(ap, char **));
	va_end(ap);
	return execve(path, argv, envp);
}

/* --- posix_spawn, system, popen ---
 *
 * glibc starts these children with clone and its internal execve, past the fork protocol and our
 * execve: the child would get a new kernel process (root directory, no descriptors). While a
 * server's kernel is attached they are done here as a fork (do_fork) and our execve instead (an
 * in-process kernel is not shared with children anyway). The file
 * actions of a posix_spawn are glibc's private data, so the add functions are interposed too and
 * each action is also recorded in a shadow list of ours; a posix_spawn_file_actions_t whose
 * actions we did not see (copied with memcpy, say) goes to glibc's posix_spawn unchanged. */

struct spawn_act {
	enum { SA_OPEN, SA_CLOSE, SA_DUP2, SA_CHDIR, SA_FCHDIR, SA_CLOSEFROM } tag;
	int fd, newfd, oflag;
	mode_t mode;
	char *path;
};
struct spawn_shadow {
	struct spawn_shadow *next;
	const posix_spawn_file_actions_t *fa;
	int n, cap;
	struct spawn_act *acts;
};
static struct spawn_shadow *spawn_shadows;	/* under maplock */

HOSTFN(posix_spawn); HOSTFN(posix_spawnp); HOSTFN(system); HOSTFN(popen); HOSTFN(pclose);
HOSTFN(posix_spawn_file_actions_init); HOSTFN(posix_spawn_file_actions_destroy);
HOSTFN(posix_spawn_file_actions_addopen); HOSTFN(posix_spawn_file_actions_addclose);
HOSTFN(posix_spawn_file_actions_adddup2); HOSTFN(posix_spawn_file_actions_addchdir_np);
HOSTFN(posix_spawn_file_actions_addfchdir_np); HOSTFN(posix_spawn_file_actions_addclosefrom_np);

/* Under maplock. */
static struct spawn_shadow **
shadow_find(const posix_spawn_file_actions_t *fa)
{
	struct spawn_shadow **pp;

	for (pp = &spawn_shadows; *pp != NULL && (*pp)->fa != fa; pp = &(*pp)->next)
		;
	return pp;
}

/* Forgets what was recorded for fa. */
static void
shadow_drop(const posix_spawn_file_actions_t *fa)
{
	pthread_mutex_lock(&maplock);
	struct spawn_shadow **pp = shadow_find(fa), *s = *pp;
	if (s != NULL)
		*pp = s->next;
	pthread_mutex_unlock(&maplock);
	if (s == NULL)
		return;
	for (int i = 0; i < s->n; i++)
		free(s->acts[i].path);
	free(s->acts);
	free(s);
}

/* waitpid for one child through EINTR; its status, or -1 with errno. */
static int
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

EXPORT int
posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	int rv = H(posix_spawn_file_actions_init)(fa);
	if (rv == 0)
		shadow_drop(fa);	/* a reused address: what was recorded belongs to a destroyed object */
	return rv;
}

EXPORT int
posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	shadow_drop(fa);
	return H(posix_spawn_file_actions_destroy)(fa);
}

/* Records an action glibc accepted (rv 0); a record we cannot make just leaves the shadow short,
 * which sends that spawn to glibc. */
static int
shadow_add(const posix_spawn_file_actions_t *fa, int rv, struct spawn_act a)
{
	if (rv != 0)
		return rv;
	if (a.path != NULL && (a.path = strdup(a.path)) == NULL)
		return 0;
	pthread_mutex_lock(&maplock);
	struct spawn_shadow **pp = shadow_find(fa), *s = *pp;
	if (s == NULL && (s = calloc(1, sizeof *s)) != NULL) {
		s->fa = fa;
		s->next = spawn_shadows;
		spawn_shadows = s;
	}
	if (s != NULL && s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 8;
		struct spawn_act *acts = realloc(s->acts, (size_t)cap * sizeof *acts);
		if (acts != NULL) {
			s->acts = acts;
			s->cap = cap;
		}
	}
	if (s != NULL && s->n < s->cap)
		s->acts[s->n++] = a;
	else
		free(a.path);
	pthread_mutex_unlock(&maplock);
	return 0;
}

EXPORT int
posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path, int oflag,
    mode_t mode)
{
	return shadow_add(fa, H(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode),
	    (struct spawn_act){ .tag = SA_OPEN, .fd = fd, .oflag = oflag, .mode = mode, .path = (char *)path });
}

EXPORT int
posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	return shadow_add(fa, H(posix_spawn_file_actions_addclose)(fa, fd),
	    (struct spawn_act){ .tag = SA_CLOSE, .fd = fd });
}

EXPORT int
posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	return shadow_add(fa, H(posix_spawn_file_actions_adddup2)(fa, fd, newfd),
	    (struct spawn_act){ .tag = SA_DUP2, .fd = fd, .newfd = newfd });
}

EXPORT int
posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path)
{
	return shadow_add(fa, H(posix_spawn_file_actions_addchdir_np)(fa, path),
	    (struct spawn_act){ .tag = SA_CHDIR, .path = (char *)path });
}

EXPORT int
posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	return shadow_add(fa, H(posix_spawn_file_actions_addfchdir_np)(fa, fd),
	    (struct spawn_act){ .tag = SA_FCHDIR, .fd = fd });
}

EXPORT int
posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	return shadow_add(fa, H(posix_spawn_file_actions_addclosefrom_np)(fa, from),
	    (struct spawn_act){ .tag = SA_CLOSEFROM, .fd = from });
}

/* The child's side of a spawn: attributes, file actions, exec. Returns only on failure, with errno. */
static void
spawn_child(const char *file, int search, const struct spawn_act *acts, int nacts,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	short flags = 0;

	if (attr != NULL)
		posix_spawnattr_getflags(attr, &flags);
	if (flags & POSIX_SPAWN_SETSIGDEF) {
		sigset_t def;
		posix_spawnattr_getsigdefault(attr, &def);
		struct sigaction sa = { .sa_handler = SIG_DFL };
		for (int sig = 1; sig < NSIG; sig++)
			if (sigismember(&def, sig) == 1)
				sigaction(sig, &sa, NULL);
	}
	if (flags & POSIX_SPAWN_SETSID && setsid() < 0)
		return;
	if (flags & POSIX_SPAWN_SETPGROUP) {
		pid_t pg;
		posix_spawnattr_getpgroup(attr, &pg);
		if (setpgid(0, pg) != 0)
			return;
	}
	if (flags & POSIX_SPAWN_SETSCHEDULER) {
		int pol;
		struct sched_param sp;
		posix_spawnattr_getschedpolicy(attr, &pol);
		posix_spawnattr_getschedparam(attr, &sp);
		if (sched_setscheduler(0, pol, &sp) < 0)
			return;
	} else if (flags & POSIX_SPAWN_SETSCHEDPARAM) {
		struct sched_param sp;
		posix_spawnattr_getschedparam(attr, &sp);
		if (sched_setparam(0, &sp) < 0)
			return;
	}
	if (flags & POSIX_SPAWN_RESETIDS && (setgid(getgid()) != 0 || setuid(getuid()) != 0))
		return;
	/* Our own entry points: a kernel path, descriptor or directory is the kernel's here too. */
	for (int i = 0; i < nacts; i++) {
		const struct spawn_act *a = &acts[i];
		int fd;
		switch (a->tag) {
		case SA_OPEN:
			if ((fd = open(a->path, a->oflag, a->mode)) < 0)
				return;
			if (fd != a->fd) {
				if (dup2(fd, a->fd) < 0)
					return;
				close(fd);
			}
			break;
		case SA_CLOSE:
			close(a->fd);	/* POSIX: closing a closed descriptor is not an error here */
			break;
		case SA_DUP2:
			if (a->fd == a->newfd) {
				/* glibc: dup2 onto itself clears close-on-exec */
				int fl = fcntl(a->fd, F_GETFD);
				if (fl < 0 || fcntl(a->fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
					return;
			} else if (dup2(a->fd, a->newfd) < 0)
				return;
			break;
		case SA_CHDIR:
			if (chdir(a->path) < 0)
				return;
			break;
		case SA_FCHDIR:
			if (fchdir(a->fd) < 0)
				return;
			break;
		case SA_CLOSEFROM:
			/* ours: glibc's closefrom would close placeholders behind the kernel's back */
			close_range((unsigned)a->fd, ~0U, 0);
			break;
		}
	}
	if (flags & POSIX_SPAWN_SETSIGMASK) {
		sigset_t mask;
		posix_spawnattr_getsigmask(attr, &mask);
		sigprocmask(SIG_SETMASK, &mask, NULL);
	}
	if (search)
		execvpe(file, argv, envp);
	else
		execve(file, argv, envp);
}

static int
do_spawn(pid_t *pidp, const char *file, int search, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct spawn_act *acts = NULL;
	int nacts = 0, rv, p[2];
	pid_t pid;

	if (fa != NULL) {
		/* A copy: the child must not read a list another thread may be changing. */
		pthread_mutex_lock(&maplock);
		struct spawn_shadow *s = *shadow_find(fa);
		if (s != NULL && s->n == fa->__used && (acts = malloc((size_t)s->n * sizeof *acts + 1)) != NULL) {
			memcpy(acts, s->acts, (size_t)s->n * sizeof *acts);
			nacts = s->n;
		}
		pthread_mutex_unlock(&maplock);
		if (acts == NULL && fa->__used > 0)
			return search ? H(posix_spawnp)(pidp, file, fa, attr, argv, envp)
			    : H(posix_spawn)(pidp, file, fa, attr, argv, envp);
	}
	/* The exec's failure comes back through a close-on-exec pipe, as glibc reports it. */
	if (pipe2(p, O_CLOEXEC) != 0) {
		rv = errno;
		free(acts);
		return rv;
	}
	pid = do_fork();
	if (pid == 0) {
		close(p[0]);
		spawn_child(file, search, acts, nacts, attr, argv, envp ? envp : environ);
		int e = errno;
		H(write)(p[1], &e, sizeof e);
		_exit(127);
	}
	rv = pid < 0 ? errno : 0;
	close(p[1]);
	free(acts);
	if (pid > 0) {
		int e;
		ssize_t n;
		while ((n = H(read)(p[0], &e, sizeof e)) < 0 && errno == EINTR)
			;
		if (n == (ssize_t)sizeof e) {
			reap(pid);	/* it never ran: glibc reaps it too */
			rv = e;
		} else if (pidp != NULL)
			*pidp = pid;
	}
	close(p[0]);
	return rv;
}

EXPORT int
posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!hijacking || rc_prefork == NULL)
		return H(posix_spawn)(pid, path, fa, attr, argv, envp);
	return do_spawn(pid, path, 0, fa, attr, argv, envp);
}

EXPORT int
posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!hijacking || rc_prefork == NULL)
		return H(posix_spawnp)(pid, file, fa, attr, argv, envp);
	return do_spawn(pid, file, 1, fa, attr, argv, envp);
}

EXPORT int
system(const char *cmd)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, oint, oquit;
	sigset_t chld, omask;
	int status = -1;

	if (!hijacking || rc_prefork == NULL)
		return H(system)(cmd);
	if (cmd == NULL)
		return 1;	/* a shell is there */
	/* POSIX: the caller ignores SIGINT and SIGQUIT and holds SIGCHLD while the command runs. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &omask);
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	pid_t pid = do_fork();
	if (pid == 0) {
		sigaction(SIGINT, &oint, NULL);
		sigaction(SIGQUIT, &oquit, NULL);
		sigprocmask(SIG_SETMASK, &omask, NULL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		status = reap(pid);
	int e = errno;
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	sigprocmask(SIG_SETMASK, &omask, NULL);
	errno = e;
	return status;
}

/* popen's streams and their children, for pclose (under maplock). */
struct pchild {
	struct pchild *next;
	FILE *fp;
	pid_t pid;
};
static struct pchild *pchildren;

EXPORT FILE *
popen(const char *cmd, const char *mode)
{
	int p[2], rd, cloexec;

	if (!hijacking || rc_prefork == NULL)
		return H(popen)(cmd, mode);
	if (mode == NULL || (mode[0] != 'r' && mode[0] != 'w') ||
	    (mode[1] != '\0' && (mode[1] != 'e' || mode[2] != '\0'))) {
		errno = EINVAL;
		return NULL;
	}
	rd = mode[0] == 'r';
	cloexec = mode[1] == 'e';
	struct pchild *pc = malloc(sizeof *pc);
	if (pc == NULL)
		return NULL;
	if (pipe2(p, O_CLOEXEC) != 0) {
		free(pc);
		return NULL;
	}
	pid_t pid = do_fork();
	if (pid == 0) {
		int end = rd ? p[1] : p[0], to = rd ? 1 : 0;
		/* POSIX: the streams of earlier popen calls are not the child's. */
		for (struct pchild *q = pchildren; q != NULL; q = q->next)
			close(fileno(q->fp));
		if (end == to ? fcntl(end, F_SETFD, 0) < 0 : dup2(end, to) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int mine = rd ? p[0] : p[1];
	close(rd ? p[1] : p[0]);
	if (pid < 0) {
		int e = errno;
		close(mine);
		free(pc);
		errno = e;
		return NULL;
	}
	if (!cloexec)
		fcntl(mine, F_SETFD, 0);
	FILE *fp = fdopen(mine, rd ? "r" : "w");
	if (fp == NULL) {
		int e = errno;
		close(mine);
		reap(pid);
		free(pc);
		errno = e;
		return NULL;
	}
	pc->fp = fp;
	pc->pid = pid;
	pthread_mutex_lock(&maplock);
	pc->next = pchildren;
	pchildren = pc;
	pthread_mutex_unlock(&maplock);
	return fp;
}

EXPORT int
pclose(FILE *fp)
{
	struct pchild **pp, *pc;

	pthread_mutex_lock(&maplock);
	for (pp = &pchildren; *pp != NULL && (*pp)->fp != fp; pp = &(*pp)->next)
		;
	if ((pc = *pp) != NULL)
		*pp = pc->next;
	pthread_mutex_unlock(&maplock);
	if (pc == NULL)
		return H(pclose)(fp);
	fclose(fp);
	pid_t pid = pc->pid;
	free(pc);
	return reap(pid);
}

/* --- scandir, glob, nftw ---
 *
 * glibc's walk directories with its internal opendir and lstat. For kernel paths they are done
 * here over our opendir/readdir/stat; glob through glibc's own GLOB_ALTDIRFUNC hooks. */

HOSTFN(scandir); HOSTFN(glob); HOSTFN(nftw);

EXPORT int
scandir(const char *dir, struct dirent ***list, int (*sel)(const struct dirent *),
    int (*cmp)(const struct dirent **, const struct dirent **))
{
	if (route(dir) == NULL)
		return H(scandir)(dir, list, sel, cmp);
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	struct dirent **v = NULL, *ent;
	size_t n = 0, cap = 0;
	int e = errno;
	errno = 0;
	while ((ent = readdir(d)) != NULL) {
		if (sel != NULL && !sel(ent)) {
			errno = 0;
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct dirent **nv = realloc(v, cap * sizeof *v);
			if (nv == NULL)
				break;
			v = nv;
		}
		if ((v[n] = malloc(ent->d_reclen)) == NULL)
			break;
		memcpy(v[n++], ent, ent->d_reclen);
	}
	if (errno != 0) {
		e = errno;
		while (n > 0)
			free(v[--n]);
		free(v);
		closedir(d);
		errno = e;
		return -1;
	}
	closedir(d);
	if (cmp != NULL && n > 1)
		qsort(v, n, sizeof *v, (int (*)(const void *, const void *))cmp);
	*list = v;
	errno = e;
	return (int)n;
}
EXPORT int scandir64(const char *dir, struct dirent64 ***list, int (*sel)(const struct dirent64 *),
    int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	return scandir(dir, (struct dirent ***)list, (int (*)(const struct dirent *))sel,
	    (int (*)(const struct dirent **, const struct dirent **))cmp);
}

static void *glob_opendir(const char *p) { return opendir(p); }
static struct dirent *glob_readdir(void *d) { return readdir(d); }
static void glob_closedir(void *d) { closedir(d); }

EXPORT int
glob(const char *pattern, int flags, int (*errfunc)(const char *, int), glob_t *g)
{
	/* The pattern's directories may be either kernel's (a relative one follows the current
	 * directory): our directory calls route each one. A caller's own hooks win. */
	if (!hijacking || (flags & GLOB_ALTDIRFUNC))
		return H(glob)(pattern, flags, errfunc, g);
	g->gl_opendir = glob_opendir;
	g->gl_readdir = glob_readdir;
	g->gl_closedir = glob_closedir;
	g->gl_stat = stat;
	g->gl_lstat = lstat;
	return H(glob)(pattern, flags | GLOB_ALTDIRFUNC, errfunc, g);
}
EXPORT int glob64(const char *pattern, int flags, int (*errfunc)(const char *, int), glob64_t *g)
{
	return glob(pattern, flags, errfunc, (glob_t *)g);
}

/* nftw over a kernel tree, as glibc's: a directory is opened before it is reported (FTW_DNR if it
 * cannot be read), FTW_ACTIONRETVAL's skips. path (PATH_MAX bytes) holds the entry at [0, len). */
typedef int (*nftw_fn)(const char *, const struct stat *, int, struct FTW *);

static int
rump_nftw_at(char *path, size_t len, int base, int level, dev_t dev, nftw_fn fn, int flags)
{
	struct stat st;
	struct FTW ftw = { .base = base, .level = level };
	int rv;

	if ((flags & FTW_PHYS ? lstat(path, &st) : stat(path, &st)) < 0) {
		if (errno == ENOENT && !(flags & FTW_PHYS) && lstat(path, &st) == 0)
			return fn(path, &st, FTW_SLN, &ftw);	/* a link to nothing */
		return fn(path, &st, FTW_NS, &ftw);
	}
	if ((flags & FTW_MOUNT) && level > 0 && st.st_dev != dev)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return fn(path, &st, S_ISLNK(st.st_mode) ? FTW_SL : FTW_F, &ftw);
	DIR *d = opendir(path);
	if (d == NULL)
		return errno == EACCES ? fn(path, &st, FTW_DNR, &ftw) : -1;
	if (!(flags & FTW_DEPTH) && (rv = fn(path, &st, FTW_D, &ftw)) != 0) {
		closedir(d);
		return (flags & FTW_ACTIONRETVAL) && rv == FTW_SKIP_SUBTREE ? 0 : rv;
	}
	struct dirent *ent;
	rv = 0;
	while ((ent = readdir(d)) != NULL) {
		const char *nm = ent->d_name;
		if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
			continue;
		size_t nl = strlen(nm), sep = path[len - 1] != '/';
		if (len + sep + nl >= PATH_MAX) {
			errno = ENAMETOOLONG;
			rv = -1;
			break;
		}
		if (sep)
			path[len] = '/';
		memcpy(path + len + sep, nm, nl + 1);
		rv = rump_nftw_at(path, len + sep + nl, (int)(len + sep), level + 1, st.st_dev, fn, flags);
		path[len] = '\0';
		if (rv == 0)
			continue;
		if ((flags & FTW_ACTIONRETVAL) && rv == FTW_SKIP_SUBTREE)
			rv = 0;	/* said of a file: go on */
		else if ((flags & FTW_ACTIONRETVAL) && rv == FTW_SKIP_SIBLINGS) {
			rv = 0;	/* the rest of this directory is skipped */
			break;
		} else
			break;
	}
	closedir(d);
	if (rv == 0 && (flags & FTW_DEPTH))
		rv = fn(path, &st, FTW_DP, &ftw);
	return rv;
}

EXPORT int
nftw(const char *dir, nftw_fn fn, int nopenfd, int flags)
{
	if (route(dir) == NULL || dir[0] == '\0' || (flags & FTW_CHDIR))
		return H(nftw)(dir, fn, nopenfd, flags);
	char path[PATH_MAX];
	size_t len = strlen(dir);
	if (len >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, len + 1);
	const char *slash = strrchr(dir, '/');
	int base = slash != NULL && slash[1] != '\0' ? (int)(slash - dir + 1) : 0;
	int rv = rump_nftw_at(path, len, base, 0, 0, fn, flags);
	return (flags & FTW_ACTIONRETVAL) && (rv == FTW_SKIP_SUBTREE || rv == FTW_SKIP_SIBLINGS) ? 0 : rv;
}
EXPORT int nftw64(const char *dir, int (*fn)(const char *, const struct stat64 *, int, struct FTW *),
    int nopenfd, int flags)
{
	return nftw(dir, (nftw_fn)fn, nopenfd, flags);
}
