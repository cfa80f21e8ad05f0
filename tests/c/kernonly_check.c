/*
 * Runs against the base-kernel-only librump.so (RUMP_COMPONENTS=none): the kernel boots and
 * serves its own system calls, while calls of factions that are not linked in (vfs, net) fail
 * with ENOSYS.
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	int failed = 0, passed = 0;
	int e = rump_init();
	if (e != 0) { printf("FAIL rump_init: expected 0, got %d\n", e); return 1; }
	passed++;

	pid_t pid = rump_sys_getpid();
	if (pid != 1) { printf("FAIL getpid: expected 1, got %d\n", (int)pid); failed++; } else passed++;

	int fds[2];
	if (rump_sys_pipe2(fds, 0) != 0) { printf("FAIL pipe2: %s\n", strerror(errno)); failed++; } else passed++;

	errno = 0;
	int fd = rump_sys_open("/x", RUMP_O_RDONLY);
	if (fd != -1 || errno != ENOSYS) {
		printf("FAIL open without vfs: expected -1/ENOSYS, got %d/%s\n", fd, strerror(errno));
		failed++;
	} else passed++;

	/* Without the net component there are no sockets at all (NetBSD without rumpnet). */
	errno = 0;
	int s = rump_sys_socket(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0);
	if (s != -1 || errno != ENOSYS) {
		printf("FAIL socket without net: expected -1/ENOSYS, got %d/%s\n", s, strerror(errno));
		failed++;
	} else passed++;

	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
