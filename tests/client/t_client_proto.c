/*
 * librumpclient against a scripted server (fakeserver.c, which says what each
 * of its "system calls" does): the client's side of the protocol apart from
 * rump_server.  RUMP_SERVER parsing and init errors, copyin/copyinstr/
 * copyout/copyoutstr served from the client's memory (1 MiB each way),
 * ANONMMAP and RAISE, 16 threads whose answers come back out of order, fork,
 * vfork and exec keeping a kernel process, a stray answer, the server dying
 * before and during calls (ENOTCONN, never a hang or a crash),
 * reconnection by NetBSD's policy, and what NetBSD's server needs (fakeserver
 * -n): handshake bodies it can terminate, no error answers to copies.
 *
 * usage: t_client_proto FAKESERVER
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rump/rumpclient.h>

#include "rtest.h"

#define NB_SIGUSR1 30

extern char **environ;

static const char *fakeserver;
static char sockpath[256], url[300];
static pid_t serverpid = -1;
static volatile sig_atomic_t gotusr1;

static void
start_server(void)
{
	int p[2];
	char line[16] = "";

	if (pipe(p) != 0)
		abort();
	serverpid = fork();
	if (serverpid == 0) {
		/* It goes with us, whatever way we end. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		close(p[0]);
		execl(fakeserver, fakeserver, sockpath, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	/* "ready" comes once it listens. */
	if (read(p[0], line, sizeof line - 1) <= 0 || strncmp(line, "ready", 5) != 0) {
		fprintf(stderr, "fakeserver %s did not start\n", fakeserver);
		exit(2);
	}
	close(p[0]);
}

static void
reap_server(void)
{
	int st;

	if (serverpid > 0)
		waitpid(serverpid, &st, 0);
	serverpid = -1;
}

static void
on_usr1(int sig)
{
	(void)sig;
	gotusr1 = 1;
}

static unsigned char pattern[1 << 20];

static void
test_init_errors(void)
{
	unsetenv("RUMP_SERVER");
	EXPECT_ERR(rumpclient_init(), ENOENT);
	setenv("RUMP_SERVER", "nonsense", 1);
	EXPECT_ERR(rumpclient_init(), EINVAL);
	setenv("RUMP_SERVER", "tcp://127.0.0.1", 1);
	EXPECT_ERR(rumpclient_init(), EINVAL);
	setenv("RUMP_SERVER", "tcp://[::1:5", 1);
	EXPECT_ERR(rumpclient_init(), EINVAL);
	setenv("RUMP_SERVER", "unix:///nonexistent/socket", 1);
	EXPECT_ERR(rumpclient_init(), ENOENT);
	/* Not connected: calls fail cleanly. */
	EXPECT_ERR(rump_sys_getpid(), ENOTCONN);
}

static void
test_basic(void)
{
	unsigned char *back = malloc(sizeof pattern);
	char cwd[64] = "";
	pid_t me;

	setenv("RUMP_SERVER", url, 1);
	EXPECT_EQ(rump_init(), 0);
	EXPECT_EQ(rumpclient_init(), 0);	/* once per process */
	me = EXPECT_OK(rump_sys_getpid());
	CHECK(me >= 100, "getpid: expected the server's process number (>= 100), got %d", (int)me);

	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (unsigned char)(i * 7 + (i >> 12));
	EXPECT_EQ(rump_sys_write(3, pattern, sizeof pattern), sizeof pattern);
	memset(back, 0, sizeof pattern);
	EXPECT_EQ(rump_sys_read(3, back, sizeof pattern), sizeof pattern);
	EXPECT_MEM(back, pattern, sizeof pattern);
	free(back);

	EXPECT_OK(rump_sys_access("/ok", 0));
	EXPECT_ERR(rump_sys_access("/nope", 0), ENOENT);
	EXPECT_OK(rump_sys___getcwd(cwd, sizeof cwd));
	EXPECT_STR(cwd, "/fake/cwd");
	/* A number the server does not serve: its ENOSYS comes back as the host's. */
	EXPECT_ERR(rump_sys_dup(0), ENOSYS);
}

static void
test_anon_raise(void)
{
	long addr;

	/* lseek: the one call with a 64-bit result for the address. */
	addr = EXPECT_OK(rump_sys_lseek(0, 0, 0));
	CHECK(addr != 0, "ANONMMAP: expected a mapping's address, got 0");
	if (addr != 0)
		EXPECT_STR((const char *)addr, "anon");

	signal(SIGUSR1, on_usr1);
	gotusr1 = 0;
	EXPECT_OK(rump_sys_kill(0, NB_SIGUSR1));
	/* Raised while the call blocked signals: delivered by the time it returned. */
	EXPECT_EQ(gotusr1, 1);
}

/*
 * With the argument-buffer extension a path and 4 KiB of write data travel
 * with the request: the server asks for nothing.  Without it (a fork child
 * that does not ask for the extension) each call costs one ask more.
 */
static int
asks_for_access_and_write(void)
{
	static char buf[4096];
	gid_t n0 = rump_sys_getegid(), n1;

	memset(buf, 'w', sizeof buf);
	if (rump_sys_access("/ok", 0) != 0 || rump_sys_write(3, buf, sizeof buf) != sizeof buf)
		return -1;
	n1 = rump_sys_getegid();
	return (int)(n1 - n0);
}

static void
test_argbuf(void)
{
	struct rumpclient_fork *rf;
	pid_t pid;
	int st;

	EXPECT_EQ(asks_for_access_and_write(), 0);
	/* A path in memory the program does not have is left for the server to ask (EFAULT). */
	EXPECT_ERR(rump_sys_access((const char *)8, 0), ENOENT);

	rf = rumpclient_prefork();
	CHECK(rf != NULL, "rumpclient_prefork: errno %d", errno);
	if (rf == NULL)
		return;
	pid = fork();
	if (pid == 0) {
		setenv("RUMPCLIENT_NOARGBUF", "1", 1);
		if (rumpclient_fork_init(rf) != 0)
			_exit(3);
		_exit(asks_for_access_and_write() == 2 ? 0 : 1);
	}
	rumpclient_fork_vparent(rf);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "without the extension: expected one ask per call (exit 0), got status 0x%x", st);
}

#define NTHREADS 16
#define NITER 60

static pid_t mypid;

static void *
caller(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < NITER; i++) {
		int ms = (id * 7 + i * 3) % 6;

		/* The server sleeps ms before answering: answers overtake each other. */
		EXPECT_EQ(rump_sys_poll(NULL, 0, ms), ms);
		EXPECT_EQ(rump_sys_getpid(), mypid);
		if (i % 10 == 0)
			EXPECT_OK(rump_sys_access("/ok", 0));
	}
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[NTHREADS];

	mypid = rump_sys_getpid();
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, caller, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
}

/* Exit status 0 when the child's kernel process is a copy of ours: another number, our data. */
static int
child_checks(pid_t parent)
{
	unsigned char buf[64];
	pid_t me = rump_sys_getpid();

	if (me == -1 || me == parent) {
		fprintf(stderr, "child: getpid %d, parent's %d: expected a new process\n", (int)me, (int)parent);
		return 1;
	}
	if (rump_sys_read(3, buf, sizeof buf) != sizeof buf || memcmp(buf, pattern, sizeof buf) != 0) {
		fprintf(stderr, "child: the parent's data did not come with the copy\n");
		return 1;
	}
	return 0;
}

static int
status_of(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
test_fork_exec(const char *self)
{
	pid_t parent = rump_sys_getpid(), pid;
	char arg[32];

	pid = rumpclient_fork();
	if (pid == 0)
		_exit(child_checks(parent));
	CHECK(pid > 0, "rumpclient_fork: expected a child, got %d errno %d", (int)pid, errno);
	EXPECT_EQ(status_of(pid), 0);
	EXPECT_EQ(rump_sys_getpid(), parent);

	/* vfork, then exec of ourselves: the new image's rumpclient_init finds the connection. */
	snprintf(arg, sizeof arg, "%d", (int)parent);
	pid = rumpclient_vfork();
	if (pid == 0) {
		char *const av[] = { (char *)self, (char *)"--exec-child", arg, NULL };

		rumpclient_exec(self, av, environ);
		_exit(126);
	}
	CHECK(pid > 0, "rumpclient_vfork: expected a child, got %d errno %d", (int)pid, errno);
	EXPECT_EQ(status_of(pid), 0);
	EXPECT_EQ(rump_sys_getpid(), parent);

	pid = rumpclient_fork();
	if (pid == 0) {
		char *const av[] = { (char *)self, (char *)"--exec-child", arg, NULL };

		rumpclient_exec(self, av, environ);
		_exit(126);
	}
	EXPECT_EQ(status_of(pid), 0);

	/* A plain fork without the fork calls: the child is not connected. */
	pid = fork();
	if (pid == 0)
		_exit(rump_sys_getpid() == -1 && errno == ENOTCONN ? 0 : 1);
	EXPECT_EQ(status_of(pid), 0);
}

/* Reads pid's data after exec: the kernel process (the vfork child's copy) stayed. */
static int
exec_child(const char *parentarg)
{
	pid_t parent = (pid_t)atoi(parentarg);

	if (getenv("RUMPCLIENT__EXECFD") == NULL) {
		fprintf(stderr, "exec child: RUMPCLIENT__EXECFD is not in the environment\n");
		return 1;
	}
	if (rumpclient_init() != 0) {
		fprintf(stderr, "exec child: rumpclient_init: %s\n", strerror(errno));
		return 1;
	}
	if (getenv("RUMPCLIENT__EXECFD") != NULL) {
		fprintf(stderr, "exec child: RUMPCLIENT__EXECFD was left for our children\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (unsigned char)(i * 7 + (i >> 12));
	return child_checks(parent);
}

/*
 * Against a server that behaves as NetBSD's (fakeserver -n).  Each child
 * connects afresh under a command name of another length, as the GUEST body
 * carries it: NetBSD's server writes a NUL one byte past the malloc'd body, so
 * no length may fill its allocation (a 24-byte body, "rumpctl" with our
 * extension block, broke glibc's heap in NetBSD's server).  And NetBSD's server
 * takes no error answer to a copy (it would wait for the data forever): the
 * client ends the connection instead, and the call fails with ENOTCONN.
 */
static void
test_netbsd_server(const char *dir)
{
	char nsock[280], nurl[300], line[16] = "";
	pid_t spid;
	int p[2];

	snprintf(nsock, sizeof nsock, "%s/nsock", dir);
	snprintf(nurl, sizeof nurl, "unix://%s", nsock);
	if (pipe(p) != 0)
		abort();
	spid = fork();
	if (spid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		close(p[0]);
		execl(fakeserver, fakeserver, "-n", nsock, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], line, sizeof line - 1) <= 0 || strncmp(line, "ready", 5) != 0) {
		CHECK(0, "fakeserver -n: expected \"ready\", got \"%s\"", line);
		return;
	}
	close(p[0]);
	for (int len = 1; len <= 15; len++) {
		pid_t pid = fork();

		if (pid == 0) {
			char name[16];
			long fit, w;
			int bad = 0;

			memset(name, 'n', (size_t)len);
			name[len] = '\0';
			prctl(PR_SET_NAME, name);
			setenv("RUMP_SERVER", nurl, 1);
			if (rumpclient_init() != 0) {
				fprintf(stderr, "FAIL rumpclient_init against fakeserver -n: %s\n", strerror(errno));
				_exit(1);
			}
			fit = rump_sys_getuid();
			if (fit != 0) {
				fprintf(stderr, "FAIL command name of %d bytes: expected a GUEST body "
				    "with slack after it, got one that fills its allocation (%ld)\n", len, fit);
				bad = 1;
			}
			if (len == 7) {
				errno = 0;
				w = rump_sys_write(3, (void *)8, 10);
				if (w != -1 || errno != ENOTCONN) {
					fprintf(stderr, "FAIL write from a bad address to NetBSD's server: expected "
					    "-1 ENOTCONN (connection ended), got %ld errno %d (%s)\n", w, errno,
					    errno == EOPNOTSUPP ? "an error answer it would wait past forever" :
					    strerror(errno));
					bad = 1;
				}
			}
			_exit(bad);
		}
		CHECK(status_of(pid) == 0, "against NetBSD's server, command name of %d bytes: "
		    "expected the child's checks to pass, they failed (above)", len);
	}
	kill(spid, SIGKILL);
	waitpid(spid, NULL, 0);
	unlink(nsock);
}

static void *
sleeper(void *arg)
{
	int64_t *res = arg;

	errno = 0;
	*res = rump_sys_poll(NULL, 0, 999);
	if (*res == -1)
		*res = -errno;
	return NULL;
}

static void
test_server_gone(void)
{
	pthread_t t[8];
	int64_t res[8];
	pid_t first;

	/* An answer to a request nobody made, then the server exits: ENOTCONN, no crash. */
	EXPECT_ERR(rump_sys_reboot(0, NULL), ENOTCONN);
	reap_server();
	EXPECT_ERR(rump_sys_getpid(), ENOTCONN);
	EXPECT_ERR(rump_sys_access("/ok", 0), ENOTCONN);

	/* Reconnection: a new kernel process. */
	start_server();
	rumpclient_setconnretry(10);
	first = EXPECT_OK(rump_sys_getpid());
	CHECK(first >= 100, "after reconnecting: expected a process number, got %d", (int)first);
	EXPECT_OK(rump_sys_access("/ok", 0));

	/* The server dies while calls wait: each ends (ENOTCONN or its answer), none hangs. */
	rumpclient_setconnretry(0);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, sleeper, &res[i]);
	EXPECT_ERR(rump_sys_fsync(0), ENOTCONN);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK(res[i] == 999 || res[i] == -ENOTCONN,
		    "poll while the server died: expected 999 or ENOTCONN, got %lld", (long long)res[i]);
	}
	reap_server();

	/* One attempt, no server: ENOTCONN without waiting. */
	rumpclient_setconnretry(RUMPCLIENT_RETRYCONN_ONCE);
	EXPECT_ERR(rump_sys_getpid(), ENOTCONN);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/rumpclient.XXXXXX";

	if (argc == 3 && strcmp(argv[1], "--exec-child") == 0)
		return exec_child(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: t_client_proto FAKESERVER\n");
		return 2;
	}
	fakeserver = argv[1];
	if (mkdtemp(dir) == NULL)
		return 2;
	snprintf(sockpath, sizeof sockpath, "%s/sock", dir);
	snprintf(url, sizeof url, "unix://%s", sockpath);

	test_netbsd_server(dir);
	test_init_errors();
	start_server();
	test_basic();
	test_anon_raise();
	test_argbuf();
	test_threads();
	test_fork_exec("/proc/self/exe");
	test_server_gone();

	unlink(sockpath);
	rmdir(dir);
	return rtest_done();
}
