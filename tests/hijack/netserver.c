/*
 * netserver: a rump kernel serving remote clients with its own TCP/IP (not sockin) on one
 * interface, virt0, over the host TAP device of the same name, for tests/hijack/netkernel.sh.
 *
 *	netserver unix://PATH ADDR PREFIXLEN
 *
 * rump_server has no network configuration of its own yet (rumpctl ifconfig is another branch's
 * work), so this is rump_server's serving loop with rump_pub_netconfig_* before it. The socket
 * appears once virt0 exists and has its address, so a script can configure the host's end then.
 * SIGTERM, SIGINT and SIGHUP halt the kernel.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>

static void *
sigthread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	while (sigwait(set, &sig) != 0)
		continue;
	rump_sys_reboot(0, NULL);
	return NULL;
}

int
main(int argc, char **argv)
{
	sigset_t set;
	pthread_t t;
	int kp[2], e;
	char c;

	if (argc != 4) {
		fprintf(stderr, "usage: netserver unix://PATH ADDR PREFIXLEN\n");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	unsetenv("RUMP_SOCKIN");	/* the kernel's own AF_INET */
	if ((e = rump_init()) != 0) {
		fprintf(stderr, "netserver: rump_init: %d\n", e);
		return 1;
	}
	if ((e = rump_pub_netconfig_ifcreate("virt0")) != 0 || (e = rump_pub_netconfig_ifup("virt0")) != 0 ||
	    (e = rump_pub_netconfig_ipv4_ifaddr_cidr("virt0", argv[2], atoi(argv[3]))) != 0) {
		fprintf(stderr, "netserver: virt0 (the host's TAP virt0, which needs root): NetBSD errno %d\n", e);
		return 1;
	}
	if (rump_sys_pipe2(kp, 0) == -1) {
		perror("netserver: pipe in the kernel");
		return 1;
	}
	if ((e = rump_init_server(argv[1])) != 0) {
		fprintf(stderr, "netserver: rump_init_server %s: %s\n", argv[1], strerror(e));
		return 1;
	}
	if (pthread_create(&t, NULL, sigthread, &set) != 0)
		return 1;
	/* Halted: the read ends with ENXIO. */
	while (rump_sys_read(kp[0], &c, 1) != -1 || errno != ENXIO)
		continue;
	return 0;
}
