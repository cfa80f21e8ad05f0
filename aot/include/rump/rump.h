/*
 * rump.h: the rump kernel's C interface beside the system calls (which are in
 * <rump/rump_syscalls.h>), as NetBSD's <rump/rump.h>: booting, and the lwproc
 * calls that give a client thread its process context.
 *
 * Calls return 0 or an errno value (NetBSD numbering, see RUMP_E* in
 * <rump/rumpdefs.h>); system calls instead return -1 and set the host's errno
 * (the host's value for the kernel's error, so that perror and strerror work).
 */
#ifndef _RUMP_RUMP_H_
#define _RUMP_RUMP_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <rump/rumpdefs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An lwp of the rump kernel: opaque to clients. */
struct lwp;

/*
 * Boots the process's rump kernel (once; later calls return 0). Parameters come
 * from the environment: RUMP_NCPU (virtual CPUs, default the host's count),
 * RUMP_HOSTNAME, RUMP_MEMLIMIT (bytes of kernel data memory).
 */
int rump_init(void);

/* The rumpuser(3) hypercall interface version the kernel was built for. */
int rump_getversion(void);

/*
 * Serves the kernel to remote clients (librumpclient, NetBSD's sysproxy
 * protocol) at url: "unix://path" (relative to the working directory; the
 * socket is made with mode 0600) or "tcp://a.b.c.d:port", "tcp://[v6]:port"
 * (listening only on that address).  Call after rump_init.  Each client gets a
 * process of its own, with root's credentials; a client that goes away has its
 * process released.  The server stops when the kernel halts (reboot).
 * Returns 0 or a host errno value (EBUSY if a server runs already).
 */
int rump_init_server(const char *url);

/*
 * What the kernel does with a signal sent to one of its processes (kill(2)), as
 * NetBSD's: RUMP_SIGMODEL_PANIC, _IGNORE, _HOST (rumpuser_kill with the pid),
 * _RAISE (raised in this process: the default), _RECORD (kept pending; it makes
 * interruptible sleeps of lwps that do not block it end with EINTR, and
 * sigpending(2) shows it). Call before rump_init, or on the running kernel.
 */
void rump_boot_setsigmodel(int model);

/*
 * A new process (a child of the caller's) with one lwp, which becomes the calling
 * thread's context. RUMP_RFFDG copies the descriptor table, RUMP_RFCFDG starts with
 * an empty one, 0 shares the parent's. The previous context is released if it was
 * an implicit one.
 */
int rump_pub_lwproc_rfork(int flags);
/* A new lwp in process pid, which becomes the calling thread's context. */
int rump_pub_lwproc_newlwp(pid_t pid);
/* Makes l the calling thread's context (NULL: none; the next call gets an implicit one). */
void rump_pub_lwproc_switch(struct lwp *l);
/* Releases the calling thread's lwp; the last lwp of a process ends the process. */
void rump_pub_lwproc_releaselwp(void);
/* The calling thread's lwp (an implicit one is made if it has none). */
struct lwp *rump_pub_lwproc_curlwp(void);

/* NetBSD's names for the lwproc calls. */
#define rump_lwproc_rfork rump_pub_lwproc_rfork
#define rump_lwproc_newlwp rump_pub_lwproc_newlwp
#define rump_lwproc_switch rump_pub_lwproc_switch
#define rump_lwproc_releaselwp rump_pub_lwproc_releaselwp
#define rump_lwproc_curlwp rump_pub_lwproc_curlwp

/*
 * etfs: a host file (or host block device) appears inside the kernel as a block
 * device node at key, e.g. "/dev/img0" (missing parent directories are made). An
 * MBR or GPT partition table makes each partition a device of its own at key+'a',
 * key+'b', ... in table order. ftype is RUMP_ETFS_BLK (or RUMP_ETFS_CHR); the
 * file is opened read-write, or read-only if the host does not allow writing.
 * _withsize exposes size bytes from offset begin (RUMP_ETFS_SIZE_ENDOFF: to the end).
 * Mount with the node as the fspec of the file system's arguments.
 */
int rump_pub_etfs_register(const char *key, const char *hostpath, int ftype);
int rump_pub_etfs_register_withsize(const char *key, const char *hostpath, int ftype,
    uint64_t begin, uint64_t size);
/* Removes a registration (EBUSY while mounted). */
int rump_pub_etfs_remove(const char *key);
#define rump_etfs_register rump_pub_etfs_register
#define rump_etfs_register_withsize rump_pub_etfs_register_withsize
#define rump_etfs_remove rump_pub_etfs_remove

/*
 * Network configuration by interface name (NetBSD's rumpnet_netconfig). Each returns 0
 * or an errno (NetBSD numbering). ifcreate makes a cloned interface ("virt0": a TAP
 * device of the host named like the interface); ipv4_gw sets the default route.
 */
int rump_pub_netconfig_ifcreate(const char *ifname);
int rump_pub_netconfig_ifup(const char *ifname);
int rump_pub_netconfig_ipv4_ifaddr(const char *ifname, const char *addr, const char *mask);
int rump_pub_netconfig_ipv4_ifaddr_cidr(const char *ifname, const char *addr, int mask);
int rump_pub_netconfig_ipv4_gw(const char *gwaddr);
int rump_pub_netconfig_ifdown(const char *ifname);
int rump_pub_netconfig_ifdestroy(const char *ifname);
/*
 * Leases an IPv4 address by DHCP (broadcast on the interface, retried for at most 30 s) and
 * configures it, its mask and the default route; ETIMEDOUT when no server answers.
 */
int rump_pub_netconfig_dhcp_ipv4_oneshot(const char *ifname);
#define rump_netconfig_dhcp_ipv4_oneshot rump_pub_netconfig_dhcp_ipv4_oneshot
#define rump_netconfig_ifcreate rump_pub_netconfig_ifcreate
#define rump_netconfig_ifup rump_pub_netconfig_ifup
#define rump_netconfig_ipv4_ifaddr rump_pub_netconfig_ipv4_ifaddr
#define rump_netconfig_ipv4_ifaddr_cidr rump_pub_netconfig_ipv4_ifaddr_cidr
#define rump_netconfig_ipv4_gw rump_pub_netconfig_ipv4_gw
#define rump_netconfig_ifdown rump_pub_netconfig_ifdown
#define rump_netconfig_ifdestroy rump_pub_netconfig_ifdestroy

/*
 * IPv6: an address with its prefix length, and the default route ("fe80::1%shmif0" names a
 * link-local gateway's interface). Every Ethernet interface gets its fe80:: address when it
 * comes up; lo0 has ::1.
 */
int rump_pub_netconfig_ipv6_ifaddr(const char *ifname, const char *addr, int prefixlen);
int rump_pub_netconfig_ipv6_gw(const char *gwaddr);
#define rump_netconfig_ipv6_ifaddr rump_pub_netconfig_ipv6_ifaddr
#define rump_netconfig_ipv6_gw rump_pub_netconfig_ipv6_gw

/*
 * shmif: an Ethernet interface shmifN on a bus in the host file path (created if missing),
 * which any number of kernels in any processes attach to, without privileges (NetBSD's
 * "ifconfig shmifN create; ifconfig shmifN linkstr path"). *unit receives N. The interface
 * starts down. A file that is not a bus gives ENOEXEC and is left untouched.
 */
int rump_pub_shmif_create(const char *path, int *unit);
#define rump_shmif_create rump_pub_shmif_create

/*
 * A system call by number with its arguments in NetBSD's layout: the call's
 * syscallarg structure, one register-sized (64-bit) slot per member, including
 * the PAD slot NetBSD has in pread, pwrite, lseek, truncate and ftruncate
 * (pread: fd, buf, nbyte, PAD, offset), as NetBSD's generated client stubs fill
 * it. Returns 0 or an errno (NetBSD numbering); the result is stored in *retval.
 */
int rump_syscall(int num, void *data, size_t dlen, int64_t *retval);

/*
 * A kernel bug panics the kernel instance, not the process: the panicking call
 * and every later one fail with ENXIO, and this returns the panic message (NULL
 * while the kernel has not panicked). The string stays valid until a later
 * rump_init(), which boots a new kernel.
 */
const char *rump_pub_panicstr(void);
#define rump_panicstr rump_pub_panicstr

#ifdef __cplusplus
}
#endif

#endif /* _RUMP_RUMP_H_ */
