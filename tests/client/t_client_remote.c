/*
 * librumpclient against rump_server: init, getpid, a file round trip of
 * 1 MiB, 16 threads calling at once (each on its own files, all in the one
 * kernel process), fork children that use inherited descriptors (a copy of
 * the descriptor table sharing the open files), exec keeping the kernel
 * process and its descriptors, 16 client processes at once with 4 threads
 * each, bad addresses (EFAULT), the server killed under calls (ENOTCONN,
 * never a hang), reconnection to a restarted server (a new kernel process,
 * the old descriptors gone) and the one-attempt policy.
 *
 * usage: t_client_remote RUMP_SERVER_BIN
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rump/rumpclient.h>

#include "rtest.h"

extern char **environ;

static const char *serverbin;
static char dir[] = "/tmp/rumpclient.XXXXXX";
static char url[300];
static pid_t serverpid = -1;

/* rump_server -s -v in the background: ready once it says it serves. */
static void
start_server(void)
{
	int p[2];
	char buf[512];
	size_t n = 0;

	if (pipe(p) != 0)
		abort();
	/* A server killed with SIGKILL left its socket behind. */
	snprintf(buf, sizeof buf, "%s/ctrl", dir);
	unlink(buf);
	serverpid = fork();
	if (serverpid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 2);
		close(p[0]);
		execl(serverbin, serverbin, "-s", "-v", url, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t r = read(p[0], buf + n, sizeof buf - 1 - n);

		if (r <= 0) {
			fprintf(stderr, "rump_server %s did not start\n", serverbin);
			exit(2);
		}
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "serving ") != NULL)
			break;
		if (n == sizeof buf - 1)
			n = 0;
	}
	/* Its later messages go nowhere. */
	close(p[0]);
}

static void
kill_server(int sig)
{
	int st;

	kill(serverpid, sig);
	waitpid(serverpid, &st, 0);
	serverpid = -1;
}

static unsigned char pattern[1 << 20], back[1 << 20];

static void
test_files(void)
{
	struct rump_stat st;
	pid_t me;
	int fd;

	me = EXPECT_OK(rump_sys_getpid());
	CHECK(me > 1, "getpid: expected a process of its own (not pid 1), got %d", (int)me);
	EXPECT_EQ(rump_sys_getpid(), me);

	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (unsigned char)(i * 13 + (i >> 10));
	EXPECT_OK(rump_sys_mkdir("/r", 0755));
	fd = EXPECT_OK(rump_sys_open("/r/big", RUMP_O_RDWR | RUMP_O_CREAT | RUMP_O_EXCL, 0644));
	EXPECT_EQ(rump_sys_write(fd, pattern, sizeof pattern), sizeof pattern);
	EXPECT_OK(rump_sys_fstat(fd, &st));
	EXPECT_EQ(st.st_size, sizeof pattern);
	EXPECT_EQ(rump_sys_pread(fd, back, sizeof back, 0), sizeof back);
	EXPECT_MEM(back, pattern, sizeof pattern);
	EXPECT_EQ(rump_sys_lseek(fd, 4096, RUMP_SEEK_SET), 4096);
	memset(back, 0, 100);
	EXPECT_EQ(rump_sys_read(fd, back, 100), 100);
	EXPECT_MEM(back, pattern + 4096, 100);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_ERR(rump_sys_open("/r/big", RUMP_O_RDWR | RUMP_O_CREAT | RUMP_O_EXCL, 0644), EEXIST);
	EXPECT_ERR(rump_sys_close(fd), EBADF);
	EXPECT_OK(rump_sys_unlink("/r/big"));
	EXPECT_ERR(rump_sys_stat("/r/big", &st), ENOENT);
}

/* Memory the program does not have: EFAULT as from a local kernel, no crash, still connected. */
static void
test_bad_addresses(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct rump_stat st;
	pid_t me = rump_sys_getpid();
	int fd;

	CHECK(m != MAP_FAILED, "mmap: %s", strerror(errno));
	munmap(m + pg, pg);
	fd = EXPECT_OK(rump_sys_open("/r/f", RUMP_O_RDWR | RUMP_O_CREAT, 0644));
	EXPECT_ERR(rump_sys_write(fd, (void *)8, 10), EFAULT);
	/* A buffer running into the unmapped page. */
	EXPECT_ERR(rump_sys_write(fd, m + pg - 100, 200), EFAULT);
	EXPECT_EQ(rump_sys_write(fd, m + pg - 100, 100), 100);
	EXPECT_ERR(rump_sys_stat((const char *)8, &st), EFAULT);
	EXPECT_ERR(rump_sys_mkdir((const char *)8, 0755), EFAULT);
	/* A path with no NUL before the unmapped page. */
	memset(m + pg - 10, 'x', 10);
	EXPECT_ERR(rump_sys_mkdir(m + pg - 10, 0755), EFAULT);
	EXPECT_EQ(rump_sys_getpid(), me);
	EXPECT_OK(rump_sys_close(fd));
	EXPECT_OK(rump_sys_unlink("/r/f"));
	munmap(m, pg);
}

#define NTHREADS 16
#define NITER 40

static pid_t mainpid;

static void *
worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	char path[64], buf[64], want[64];

	snprintf(path, sizeof path, "/r/t%d", id);
	for (int i = 0; i < NITER; i++) {
		int fd = rump_sys_open(path, RUMP_O_RDWR | RUMP_O_CREAT | RUMP_O_TRUNC, 0600);
		int n = snprintf(want, sizeof want, "thread %d iteration %d", id, i);

		CHECK(fd >= 0, "thread %d: open %s: errno %d", id, path, errno);
		if (fd < 0)
			continue;
		EXPECT_EQ(rump_sys_write(fd, want, (size_t)n), n);
		memset(buf, 0, sizeof buf);
		EXPECT_EQ(rump_sys_pread(fd, buf, sizeof buf, 0), n);
		EXPECT_STR(buf, want);
		EXPECT_EQ(rump_sys_getpid(), mainpid);
		EXPECT_OK(rump_sys_close(fd));
	}
	EXPECT_OK(rump_sys_unlink(path));
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[NTHREADS];

	mainpid = rump_sys_getpid();
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
}

static int
status_of(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In a (v)fork child: exec this program as --exec-child with the kernel pid and fd it must see. */
static void
exec_self_child(int fd)
{
	char pidarg[16], fdarg[16];
	char *const av[] = { (char *)"t_client_remote", (char *)"--exec-child", pidarg, fdarg, NULL };

	snprintf(pidarg, sizeof pidarg, "%d", (int)rump_sys_getpid());
	snprintf(fdarg, sizeof fdarg, "%d", fd);
	rumpclient_exec("/proc/self/exe", av, environ);
	_exit(126);
}

/* The fork child: its own process, the parent's descriptor sharing the file offset. */
static int
fork_child(pid_t parent, int fd)
{
	char buf[16] = "";
	pid_t me = rump_sys_getpid();

	if (me == -1 || me == parent) {
		fprintf(stderr, "fork child: getpid %d, parent %d: expected a new process\n", (int)me, (int)parent);
		return 1;
	}
	/* Its parent in the kernel is the process that forked, not init (the PREFORK placeholder's end). */
	if (rump_sys_getppid() != parent) {
		fprintf(stderr, "fork child: getppid %d, expected the parent's pid %d\n", (int)rump_sys_getppid(), (int)parent);
		return 1;
	}
	if (rump_sys_pread(fd, buf, 6, 0) != 6 || memcmp(buf, "parent", 6) != 0) {
		fprintf(stderr, "fork child: the inherited descriptor %d does not read the parent's file\n", fd);
		return 1;
	}
	/* At the shared offset (6), where the parent will see it. */
	if (rump_sys_write(fd, "+child", 6) != 6) {
		fprintf(stderr, "fork child: write to the inherited descriptor: %s\n", strerror(errno));
		return 1;
	}
	/* A descriptor the child opens is its own. */
	if (rump_sys_open("/r/childfile", RUMP_O_RDWR | RUMP_O_CREAT, 0644) == -1)
		return 1;
	return 0;
}

/* After exec: the same kernel process (pid) with its descriptor fd still open. */
static int
exec_child(const char *pidarg, const char *fdarg)
{
	pid_t want = (pid_t)atoi(pidarg);
	int fd = atoi(fdarg);
	char buf[16] = "";

	if (rump_init() != 0) {
		fprintf(stderr, "exec child: rump_init failed\n");
		return 1;
	}
	if (rump_sys_getpid() != want) {
		fprintf(stderr, "exec child: getpid %d, expected %d from before the exec\n",
		    (int)rump_sys_getpid(), (int)want);
		return 1;
	}
	if (rump_sys_pread(fd, buf, 12, 0) != 12 || memcmp(buf, "parent+child", 12) != 0) {
		fprintf(stderr, "exec child: descriptor %d: \"%.12s\", expected \"parent+child\"\n", fd, buf);
		return 1;
	}
	return 0;
}

static void
test_fork_exec(void)
{
	pid_t parent = rump_sys_getpid(), pid;
	char buf[16] = "";
	int fd, st;

	fd = EXPECT_OK(rump_sys_open("/r/shared", RUMP_O_RDWR | RUMP_O_CREAT | RUMP_O_TRUNC, 0644));
	EXPECT_EQ(rump_sys_write(fd, "parent", 6), 6);

	pid = rumpclient_fork();
	if (pid == 0)
		_exit(fork_child(parent, fd));
	CHECK(pid > 0, "rumpclient_fork: expected a child, got -1 errno %d", errno);
	EXPECT_EQ(status_of(pid), 0);
	EXPECT_EQ(rump_sys_getpid(), parent);
	/* The child's write moved the offset this descriptor shares. */
	EXPECT_EQ(rump_sys_lseek(fd, 0, RUMP_SEEK_CUR), 12);
	EXPECT_EQ(rump_sys_pread(fd, buf, 12, 0), 12);
	EXPECT_MEM(buf, "parent+child", 12);
	/* The child's own descriptors went with its process: the file is there, unopened here. */
	EXPECT_OK(rump_sys_access("/r/childfile", 0));

	/* fork, then exec in the child: the kernel process (and fd) stay across the exec. */
	pid = rumpclient_fork();
	if (pid == 0)
		exec_self_child(fd);
	EXPECT_EQ(status_of(pid), 0);

	/* vfork + exec, as shells do. */
	pid = rumpclient_vfork();
	if (pid == 0)
		exec_self_child(fd);
	EXPECT_EQ(status_of(pid), 0);
	EXPECT_EQ(rump_sys_getpid(), parent);

	/* daemon: the grandchild keeps a copy of the process. */
	pid = fork();
	if (pid == 0) {
		/* A host fork without the fork calls: not connected until it connects again. */
		if (rump_sys_getpid() != -1 || errno != ENOTCONN)
			_exit(1);
		/* Then a new process of its own, with nothing of the parent's. */
		if (rumpclient_init() != 0 || rump_sys_getpid() == parent || rump_sys_getpid() == -1)
			_exit(2);
		if (rump_sys_fstat(fd, &(struct rump_stat){ 0 }) != -1 || errno != EBADF)
			_exit(3);
		_exit(0);
	}
	EXPECT_EQ(status_of(pid), 0);
	(void)st;
	EXPECT_OK(rump_sys_close(fd));
}

/*
 * 16 client processes at once (fork children, each its own kernel process with
 * a copy of the descriptors), each with 4 threads writing and reading files.
 */
#define NPROCS 16

static int
one_client(int id)
{
	pthread_t t[4];
	int nfail = rtest_nfail;		/* the parent's, copied by fork */

	mainpid = rump_sys_getpid();
	if (mainpid == -1)
		return 1;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)(100 + id * 4 + i));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return rtest_nfail == nfail ? 0 : 1;
}

static void
test_many_clients(void)
{
	pid_t pids[NPROCS];
	pid_t parent = rump_sys_getpid();

	for (int i = 0; i < NPROCS; i++) {
		pids[i] = rumpclient_fork();
		if (pids[i] == 0)
			_exit(one_client(i));
		CHECK(pids[i] > 0, "rumpclient_fork %d: errno %d", i, errno);
	}
	for (int i = 0; i < NPROCS; i++)
		if (pids[i] > 0)
			EXPECT_EQ(status_of(pids[i]), 0);
	EXPECT_EQ(rump_sys_getpid(), parent);
}

static void *
blocked_reader(void *arg)
{
	int *res = arg;
	char c;

	errno = 0;
	*res = (int)rump_sys_read(res[1], &c, 1);
	if (*res == -1)
		*res = -errno;
	return NULL;
}

static void
test_server_gone(void)
{
	int pfd[2], res[2], fd;
	pthread_t t;
	pid_t first, second;
	struct rump_stat st;

	first = rump_sys_getpid();
	fd = EXPECT_OK(rump_sys_open("/r/keep", RUMP_O_RDWR | RUMP_O_CREAT, 0644));
	EXPECT_OK(rump_sys_pipe2(pfd, 0));
	/* A read of an empty pipe sleeps in the kernel until the server dies under it. */
	res[0] = 0;
	res[1] = pfd[0];
	pthread_create(&t, NULL, blocked_reader, res);
	kill_server(SIGKILL);
	pthread_join(t, NULL);
	EXPECT_EQ(res[0], -ENOTCONN);
	EXPECT_ERR(rump_sys_getpid(), ENOTCONN);
	EXPECT_ERR(rump_sys_fstat(fd, &st), ENOTCONN);

	/* No retrying by default; with a retry time, a new server is a new kernel process. */
	start_server();
	EXPECT_ERR(rump_sys_getpid(), ENOTCONN);
	rumpclient_setconnretry(10);
	second = EXPECT_OK(rump_sys_getpid());
	(void)first;
	/* A new kernel: the old descriptors and files are gone. */
	EXPECT_ERR(rump_sys_fstat(fd, &st), EBADF);
	EXPECT_ERR(rump_sys_stat("/r/keep", &st), ENOENT);
	CHECK(second > 1, "after reconnecting: expected a process of its own, got %d", (int)second);

	/* The server halts on SIGTERM; one attempt to reconnect fails at once. */
	kill_server(SIGTERM);
	rumpclient_setconnretry(RUMPCLIENT_RETRYCONN_ONCE);
	EXPECT_ERR(rump_sys_getpid(), ENOTCONN);
	rumpclient_setconnretry(0);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--exec-child") == 0)
		return exec_child(argv[2], argv[3]);
	if (argc != 2) {
		fprintf(stderr, "usage: t_client_remote RUMP_SERVER_BIN\n");
		return 2;
	}
	serverbin = argv[1];
	if (mkdtemp(dir) == NULL)
		return 2;
	snprintf(url, sizeof url, "unix://%s/ctrl", dir);
	setenv("RUMP_SERVER", url, 1);
	start_server();
	rtest_init();
	test_files();
	/*
	 * tools/netbsd-interop sets it: NetBSD's client hangs on a bad address (its copy
	 * answer cannot be sent, so none is), and NetBSD's server cannot be told a copy
	 * failed (our client ends the connection: ENOTCONN, not EFAULT).
	 */
	const char *nobad = getenv("RUMPTEST_NO_BAD_ADDRESSES");

	if (nobad == NULL || *nobad == '\0')
		test_bad_addresses();
	test_threads();
	test_fork_exec();
	test_many_clients();
	test_server_gone();
	rmdir(dir);
	return rtest_done();
}
