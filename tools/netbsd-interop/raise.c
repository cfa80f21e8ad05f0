/*
 * A signal the kernel sends to a remote client's process arrives at the client (a RAISE
 * request, which librumpclient raises) and not at the server.  Uses only rumpclient_init and
 * rumpclient_syscall, which NetBSD's librumpclient and ours both have (NetBSD's stubs have no
 * kill), with NetBSD's numbers: getpid 20, kill 37, SIGUSR1 30.  run.sh builds and runs it.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

int rumpclient_init(void);
int rumpclient_syscall(int, const void *, size_t, long *);

static volatile sig_atomic_t got;

static void
on_usr1(int sig)
{
	(void)sig;
	got = 1;
}

int
main(void)
{
	long rv[2] = { 0, 0 }, args[2];
	int e, fail = 0;

	signal(SIGUSR1, on_usr1);
	if (rumpclient_init() != 0) {
		fprintf(stderr, "FAIL rumpclient_init\n");
		return 1;
	}
	e = rumpclient_syscall(20, NULL, 0, rv);
	args[0] = rv[0];
	args[1] = 30;
	if (e == 0)
		e = rumpclient_syscall(37, args, sizeof args, rv);
	if (e != 0) {
		fprintf(stderr, "FAIL kill(own pid, SIGUSR1): expected 0, got error %d\n", e);
		fail++;
	}
	if (!got) {
		fprintf(stderr, "FAIL SIGUSR1: expected it raised in the client, it did not come\n");
		fail++;
	}
	/* The server still serves. */
	if (rumpclient_syscall(20, NULL, 0, rv) != 0 || rv[0] != args[0]) {
		fprintf(stderr, "FAIL getpid after the signal: expected %ld, got %ld\n", args[0], rv[0]);
		fail++;
	}
	printf("%d passed, %d failed\n", 3 - fail, fail);
	return fail != 0;
}
