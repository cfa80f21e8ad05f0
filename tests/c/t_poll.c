/*
 * poll(2), pollts(2), select(2) and pselect(2) through the C ABI: pipes become readable when data
 * arrives and on the writer's close (POLLHUP), writable while there is room; a poller asleep is
 * woken by the write; timeouts end with 0; bad descriptors are POLLNVAL for poll and EBADF for
 * select; regular files and /dev/null are always ready; malformed timeouts are EINVAL.
 */
#include <time.h>

#include "rtest.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pfd[2];

static void *
writer(void *arg)
{
	(void)arg;
	/* Whether the poller has gone to sleep yet or not, the result must be the same. */
	if (rump_sys_write(pfd[1], "w", 1) != 1)
		abort();
	return NULL;
}

static void
test_pipe_poll(void)
{
	struct rump_pollfd p[3];
	pthread_t t;
	char c;

	EXPECT_OK(rump_sys_pipe2(pfd, 0));
	memset(p, 0, sizeof p);
	p[0].fd = pfd[0];
	p[0].events = RUMP_POLLIN;
	p[1].fd = pfd[1];
	p[1].events = RUMP_POLLOUT;
	p[2].fd = -1;
	p[2].events = RUMP_POLLIN;
	EXPECT_EQ(rump_sys_poll(p, 3, 0), 1);
	EXPECT_EQ(p[0].revents, 0);
	EXPECT_EQ(p[1].revents, RUMP_POLLOUT);
	EXPECT_EQ(p[2].revents, 0);

	/* A timeout with nothing ready: 0, after about the time asked for. */
	double t0 = now();
	EXPECT_EQ(rump_sys_poll(p, 1, 50), 0);
	double dt = now() - t0;
	CHECK(dt >= 0.040, "poll(50 ms) returned after %.3f s", dt);

	/* A sleeping poller is woken by a write. */
	EXPECT_EQ(pthread_create(&t, NULL, writer, NULL), 0);
	EXPECT_EQ(rump_sys_poll(p, 1, -1), 1);
	EXPECT_EQ(p[0].revents, RUMP_POLLIN);
	pthread_join(t, NULL);
	EXPECT_EQ(rump_sys_read(pfd[0], &c, 1), 1);

	/* The writer closes: readable (EOF) and hung up. */
	EXPECT_OK(rump_sys_close(pfd[1]));
	p[0].events = RUMP_POLLIN | RUMP_POLLRDNORM;
	EXPECT_EQ(rump_sys_poll(p, 1, 0), 1);
	EXPECT_EQ(p[0].revents, RUMP_POLLIN | RUMP_POLLRDNORM | RUMP_POLLHUP);

	/* A closed descriptor. */
	p[1].fd = pfd[1];
	p[1].events = RUMP_POLLOUT;
	EXPECT_EQ(rump_sys_poll(&p[1], 1, 0), 1);
	EXPECT_EQ(p[1].revents, RUMP_POLLNVAL);
	EXPECT_OK(rump_sys_close(pfd[0]));

	/* A full pipe is not writable; the reader's close makes it so (POLLHUP), without blocking. */
	EXPECT_OK(rump_sys_pipe2(pfd, RUMP_O_NONBLOCK));
	static char fill[4096];
	while (rump_sys_write(pfd[1], fill, sizeof fill) > 0)
		continue;
	EXPECT_EQ(errno, EAGAIN);
	p[0].fd = pfd[1];
	p[0].events = RUMP_POLLOUT;
	EXPECT_EQ(rump_sys_poll(p, 1, 0), 0);
	EXPECT_OK(rump_sys_close(pfd[0]));
	EXPECT_EQ(rump_sys_poll(p, 1, 0), 1);
	CHECK((p[0].revents & RUMP_POLLHUP) != 0, "write end after the reader closed: revents 0x%x has no POLLHUP", p[0].revents);
	EXPECT_OK(rump_sys_close(pfd[1]));

	/* Too many descriptors. */
	EXPECT_ERR(rump_sys_poll(p, 100000, 0), EINVAL);
}

static void
test_files_are_ready(void)
{
	struct rump_pollfd p[2];
	int f = EXPECT_OK(rump_sys_open("/pollfile", RUMP_O_CREAT | RUMP_O_RDWR, 0644));

	EXPECT_OK(rump_sys_mknod("/pollnull", RUMP_S_IFCHR | 0666, (2 << 8) | 2));
	int n = EXPECT_OK(rump_sys_open("/pollnull", RUMP_O_RDWR));
	memset(p, 0, sizeof p);
	p[0].fd = f;
	p[0].events = RUMP_POLLIN | RUMP_POLLOUT;
	p[1].fd = n;
	p[1].events = RUMP_POLLIN | RUMP_POLLOUT;
	EXPECT_EQ(rump_sys_poll(p, 2, -1), 2);
	EXPECT_EQ(p[0].revents, RUMP_POLLIN | RUMP_POLLOUT);
	EXPECT_EQ(p[1].revents, RUMP_POLLIN | RUMP_POLLOUT);
	rump_sys_close(f);
	rump_sys_close(n);
}

#define FDSET(fd, s)	((s)->fds_bits[(fd) / 32] |= 1u << ((fd) % 32))
#define FDISSET(fd, s)	(((s)->fds_bits[(fd) / 32] >> ((fd) % 32)) & 1)

static void
test_select(void)
{
	struct rump_fd_set r, w;
	struct rump_timeval tv = { 0, 20000 };
	struct rump_timespec ts = { 0, 20000000 };

	EXPECT_OK(rump_sys_pipe2(pfd, 0));
	int nd = (pfd[0] > pfd[1] ? pfd[0] : pfd[1]) + 1;
	memset(&r, 0, sizeof r);
	memset(&w, 0, sizeof w);
	FDSET(pfd[0], &r);
	FDSET(pfd[1], &w);
	EXPECT_EQ(rump_sys_select(nd, &r, &w, NULL, &tv), 1);
	EXPECT_EQ(FDISSET(pfd[0], &r), 0u);
	EXPECT_EQ(FDISSET(pfd[1], &w), 1u);

	/* Nothing readable: a timeout (0) and empty sets. */
	memset(&r, 0, sizeof r);
	FDSET(pfd[0], &r);
	EXPECT_EQ(rump_sys_select(nd, &r, NULL, NULL, &tv), 0);
	EXPECT_EQ(FDISSET(pfd[0], &r), 0u);
	EXPECT_EQ(rump_sys_write(pfd[1], "x", 1), 1);
	FDSET(pfd[0], &r);
	EXPECT_EQ(rump_sys_pselect(nd, &r, NULL, NULL, &ts, NULL), 1);
	EXPECT_EQ(FDISSET(pfd[0], &r), 1u);

	/* Errors: a closed descriptor in a set, a malformed timeout. */
	memset(&r, 0, sizeof r);
	FDSET(60, &r);
	EXPECT_ERR(rump_sys_select(61, &r, NULL, NULL, &tv), EBADF);
	struct rump_timeval bad = { 0, 1000000 };
	memset(&r, 0, sizeof r);
	EXPECT_ERR(rump_sys_select(nd, &r, NULL, NULL, &bad), EINVAL);
	struct rump_timespec badts = { -1, 0 };
	EXPECT_ERR(rump_sys_pselect(nd, &r, NULL, NULL, &badts, NULL), EINVAL);
	EXPECT_ERR(rump_sys_select(-1, NULL, NULL, NULL, &tv), EINVAL);
	rump_sys_close(pfd[0]);
	rump_sys_close(pfd[1]);
}

int
main(void)
{
	if (rump_init() != 0) {
		fprintf(stderr, "rump_init failed\n");
		return 1;
	}
	test_pipe_poll();
	test_files_are_ready();
	test_select();
	return rtest_done();
}
