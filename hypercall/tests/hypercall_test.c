/*
 * Tests of librumpuser against a stub kernel.
 *
 * The stub upcalls keep, per host thread, whether the thread holds a
 * "rump CPU", and count every upcall.  Each test thread starts as a
 * kernel thread holding a CPU; giving up a CPU not held, or taking one
 * already held, is a protocol error.  Expected errno values are NetBSD's.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rump/rumpuser.h>

/* NetBSD errno values the tests expect. */
#define NB_ENOENT	2
#define NB_EEXIST	17
#define NB_EBUSY	16
#define NB_EINVAL	22
#define NB_ERANGE	34
#define NB_EAGAIN	35
#define NB_ETIMEDOUT	60
#define NB_SIGUSR1	30

#include "check.h"

/*
 * Stub kernel
 */

static __thread int hascpu;
static __thread int gavenlocks = -1;
static _Atomic int nunsched, nsched, nhypsched, nhypunsched, nnewlwp;
static _Atomic int protoerrors;
static void *_Atomic lastinterlock;

static void
stub_backend_unschedule(int nlocks, int *countp, void *interlock)
{
	(void)nlocks;
	if (!hascpu)
		protoerrors++;
	hascpu = 0;
	gavenlocks = 3;	/* something for schedule to hand back */
	*countp = gavenlocks;
	lastinterlock = interlock;
	nunsched++;
}

static void
stub_backend_schedule(int nlocks, void *interlock)
{
	(void)interlock;
	if (hascpu)
		protoerrors++;
	/* bio completion schedules with 0 without having unscheduled. */
	if (nlocks != 0 && nlocks != gavenlocks)
		protoerrors++;
	hascpu = 1;
	nsched++;
}

static void
stub_schedule(void)
{
	if (hascpu)
		protoerrors++;
	hascpu = 1;
	nhypsched++;
}

static void
stub_unschedule(void)
{
	if (!hascpu)
		protoerrors++;
	hascpu = 0;
	nhypunsched++;
}

static int
stub_newlwp(pid_t pid)
{
	(void)pid;
	if (!hascpu)
		protoerrors++;
	nnewlwp++;
	return 0;
}

static const struct rumpuser_hyperup stubhyp = {
	.hyp_schedule = stub_schedule,
	.hyp_unschedule = stub_unschedule,
	.hyp_backend_unschedule = stub_backend_unschedule,
	.hyp_backend_schedule = stub_backend_schedule,
	.hyp_lwproc_newlwp = stub_newlwp,
};

/* Fake lwps: only their addresses matter. */
static char lwps[8];
#define LWP(i) ((struct lwp *)&lwps[i])

/* Make the calling host thread a kernel thread on a CPU. */
static void
become_kernel_thread(int i)
{
	hascpu = 1;
	rumpuser_curlwpop(RUMPUSER_LWP_CREATE, LWP(i));
	rumpuser_curlwpop(RUMPUSER_LWP_SET, LWP(i));
}

static void
leave_kernel_thread(int i)
{
	rumpuser_curlwpop(RUMPUSER_LWP_CLEAR, LWP(i));
	rumpuser_curlwpop(RUMPUSER_LWP_DESTROY, LWP(i));
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static pthread_t
spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, arg) != 0) {
		perror("pthread_create");
		exit(2);
	}
	return t;
}

/*
 * init, curlwp, errno
 */

static void
test_init(void)
{
	struct rumpuser_mtx *mtx;

	/* Before init there is no CPU to give up: locks still work. */
	become_kernel_thread(0);
	rumpuser_mutex_init(&mtx, RUMPUSER_MTX_KMUTEX);
	rumpuser_mutex_enter(mtx);
	rumpuser_mutex_exit(mtx);
	rumpuser_mutex_destroy(mtx);
	leave_kernel_thread(0);
	hascpu = 0;

	CHECK("init with version 16 fails", rumpuser_init(16, &stubhyp) != 0);
	CHECK_EQ("init", 0, rumpuser_init(RUMPUSER_VERSION, &stubhyp));
	CHECK_EQ("second init", 0, rumpuser_init(RUMPUSER_VERSION, &stubhyp));
}

static void *
curlwp_other(void *arg)
{
	(void)arg;
	return rumpuser_curlwp();
}

static void
test_curlwp(void)
{
	void *other;

	CHECK("curlwp unset", rumpuser_curlwp() == NULL);
	become_kernel_thread(0);
	CHECK("curlwp after SET", rumpuser_curlwp() == LWP(0));
	pthread_join(spawn(curlwp_other, NULL), &other);
	CHECK("curlwp is per thread", other == NULL);
	leave_kernel_thread(0);
	CHECK("curlwp after CLEAR", rumpuser_curlwp() == NULL);
}

static void
test_errno(void)
{
	/* Stored unchanged, as NetBSD's hypervisor does: the kernel's C ABI translates. */
	rumpuser_seterrno(NB_EAGAIN);
	CHECK_EQ("seterrno stores its value unchanged", NB_EAGAIN, errno);
	rumpuser_seterrno(9999);
	CHECK_EQ("seterrno(9999)", 9999, errno);
	rumpuser_seterrno(0);
	CHECK_EQ("seterrno(0)", 0, errno);
}

/*
 * Mutexes
 */

#define NTHREADS 4
#define NITER 20000

static struct rumpuser_mtx *smtx;
static long scounter;
static _Atomic int ownerbad;
static pthread_barrier_t startline;

static void *
mutex_worker(void *arg)
{
	int i, id = (int)(intptr_t)arg;
	struct lwp *owner;

	become_kernel_thread(id);
	pthread_barrier_wait(&startline);
	for (i = 0; i < NITER; i++) {
		rumpuser_mutex_enter(smtx);
		rumpuser_mutex_owner(smtx, &owner);
		if (owner != LWP(id))
			ownerbad++;
		scounter++;
		/* Now and then let the others find the mutex held. */
		if ((i & 63) == 0)
			sched_yield();
		rumpuser_mutex_exit(smtx);
	}
	if (!hascpu)
		protoerrors++;
	leave_kernel_thread(id);
	return NULL;
}

static _Atomic int entered;

static void *
mutex_blocker(void *arg)
{
	become_kernel_thread(1);
	rumpuser_mutex_enter(arg);
	entered = 1;
	rumpuser_mutex_exit(arg);
	if (!hascpu)
		protoerrors++;
	leave_kernel_thread(1);
	return NULL;
}

static void *
tryenter_other(void *arg)
{
	int rv;

	become_kernel_thread(2);
	rv = rumpuser_mutex_tryenter(arg);
	if (rv == 0)
		rumpuser_mutex_exit(arg);
	leave_kernel_thread(2);
	return (void *)(intptr_t)rv;
}

static void
test_mutex(void)
{
	struct rumpuser_mtx *mtx;
	struct lwp *owner;
	pthread_t t[NTHREADS];
	int i, u0, s0;
	void *rv;

	become_kernel_thread(0);

	/* A blocked enter gives up the CPU and takes it back. */
	rumpuser_mutex_init(&mtx, RUMPUSER_MTX_KMUTEX);
	rumpuser_mutex_enter(mtx);
	rumpuser_mutex_owner(mtx, &owner);
	CHECK("owner is curlwp", owner == LWP(0));
	u0 = nunsched;
	s0 = nsched;
	entered = 0;
	t[0] = spawn(mutex_blocker, mtx);
	for (int w = 0; w < 500 && nunsched == u0; w++)	/* until it has blocked (5 s at most) */
		msleep(10);
	msleep(20);
	CHECK_EQ("blocked enter has not entered", 0, entered);
	CHECK_EQ("blocked enter unscheduled", u0 + 1, nunsched);
	CHECK("blocked enter interlock NULL", lastinterlock == NULL);
	rumpuser_mutex_exit(mtx);
	pthread_join(t[0], NULL);
	CHECK_EQ("blocked enter entered", 1, entered);
	CHECK_EQ("blocked enter rescheduled", s0 + 1, nsched);

	/* tryenter */
	rumpuser_mutex_enter(mtx);
	pthread_join(spawn(tryenter_other, mtx), &rv);
	CHECK_EQ("tryenter on held mutex", NB_EBUSY, (intptr_t)rv);
	rumpuser_mutex_exit(mtx);
	pthread_join(spawn(tryenter_other, mtx), &rv);
	CHECK_EQ("tryenter on free mutex", 0, (intptr_t)rv);
	rumpuser_mutex_owner(mtx, &owner);
	CHECK("owner after exit", owner == NULL);
	CHECK_EQ("KMUTEX is not spin", 0, rumpuser_mutex_spin_p(mtx));
	rumpuser_mutex_destroy(mtx);

	/* Spin mutexes never give up the CPU, even contended. */
	rumpuser_mutex_init(&mtx, RUMPUSER_MTX_SPIN | RUMPUSER_MTX_KMUTEX);
	CHECK_EQ("spin_p", 1, rumpuser_mutex_spin_p(mtx));
	rumpuser_mutex_enter(mtx);
	u0 = nunsched;
	t[0] = spawn(mutex_blocker, mtx);
	msleep(30);
	CHECK_EQ("spin enter did not unschedule", u0, nunsched);
	rumpuser_mutex_exit(mtx);
	pthread_join(t[0], NULL);
	CHECK_EQ("spin enter after release did not unschedule", u0, nunsched);
	rumpuser_mutex_destroy(mtx);

	/* Contention among 4 threads. */
	rumpuser_mutex_init(&smtx, RUMPUSER_MTX_KMUTEX);
	u0 = nunsched;
	s0 = nsched;
	scounter = 0;
	for (i = 0; i < NTHREADS; i++)
		t[i] = spawn(mutex_worker, (void *)(intptr_t)(i + 1));
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ("mutex counter", (long)NTHREADS * NITER, scounter);
	CHECK_EQ("mutex owner always curlwp", 0, ownerbad);
	CHECK("mutex contention unscheduled", nunsched - u0 > 0);
	CHECK_EQ("mutex unschedule/schedule balance", nunsched - u0,
	    nsched - s0);
	printf("  mutex contention: %d unschedules in %d enters\n",
	    nunsched - u0, NTHREADS * NITER);
	rumpuser_mutex_destroy(smtx);

	leave_kernel_thread(0);
}

/*
 * Condition variables
 */

static struct rumpuser_mtx *cvmtx;
static struct rumpuser_cv *cvnotempty, *cvnotfull;
static int cvqueue, cvproduced, cvconsumed;
static _Atomic int interlockbad;
#define CVITEMS 5000
#define CVMAX 4

static void *
cv_producer(void *arg)
{
	int id = (int)(intptr_t)arg, i;

	become_kernel_thread(id);
	for (i = 0; i < CVITEMS; i++) {
		rumpuser_mutex_enter(cvmtx);
		while (cvqueue == CVMAX) {
			rumpuser_cv_wait(cvnotfull, cvmtx);
			if (lastinterlock != cvmtx && lastinterlock != NULL)
				interlockbad++;
		}
		cvqueue++;
		cvproduced++;
		rumpuser_cv_signal(cvnotempty);
		rumpuser_mutex_exit(cvmtx);
	}
	leave_kernel_thread(id);
	return NULL;
}

static void *
cv_consumer(void *arg)
{
	int id = (int)(intptr_t)arg, i;

	become_kernel_thread(id);
	for (i = 0; i < CVITEMS; i++) {
		rumpuser_mutex_enter(cvmtx);
		while (cvqueue == 0)
			rumpuser_cv_wait(cvnotempty, cvmtx);
		cvqueue--;
		cvconsumed++;
		rumpuser_cv_broadcast(cvnotfull);
		rumpuser_mutex_exit(cvmtx);
	}
	if (!hascpu)
		protoerrors++;
	leave_kernel_thread(id);
	return NULL;
}

static void *
cv_waiter(void *arg)
{
	int rv;

	(void)arg;
	become_kernel_thread(5);
	rumpuser_mutex_enter(cvmtx);
	rv = rumpuser_cv_timedwait(cvnotempty, cvmtx, 10, 0);
	rumpuser_mutex_exit(cvmtx);
	leave_kernel_thread(5);
	return (void *)(intptr_t)rv;
}

static void
test_cv(int flags, const char *name)
{
	pthread_t t[NTHREADS];
	int64_t t0, elapsed;
	int i, rv, waiters, u0, s0;
	void *wrv;
	char what[128];

	printf("  cv with %s interlock\n", name);
	become_kernel_thread(0);
	rumpuser_mutex_init(&cvmtx, flags);
	rumpuser_cv_init(&cvnotempty);
	rumpuser_cv_init(&cvnotfull);

	/* A wait gives up the CPU with the mutex as interlock. */
	rumpuser_mutex_enter(cvmtx);
	u0 = nunsched;
	s0 = nsched;
	t0 = now_ns();
	rv = rumpuser_cv_timedwait(cvnotempty, cvmtx, 0, 50 * 1000 * 1000);
	elapsed = now_ns() - t0;
	snprintf(what, sizeof(what), "%s: timedwait times out", name);
	CHECK_EQ(what, NB_ETIMEDOUT, rv);
	snprintf(what, sizeof(what), "%s: timedwait waited >= 50ms", name);
	CHECK(what, elapsed >= 50 * 1000 * 1000);
	snprintf(what, sizeof(what), "%s: timedwait unscheduled", name);
	CHECK_EQ(what, u0 + 1, nunsched);
	snprintf(what, sizeof(what), "%s: timedwait rescheduled", name);
	CHECK_EQ(what, s0 + 1, nsched);
	snprintf(what, sizeof(what), "%s: interlock is the mutex", name);
	CHECK(what, lastinterlock == cvmtx);
	if (flags & RUMPUSER_MTX_KMUTEX) {
		struct lwp *owner;

		rumpuser_mutex_owner(cvmtx, &owner);
		snprintf(what, sizeof(what), "%s: owner after wait", name);
		CHECK(what, owner == LWP(0));
	}
	rv = rumpuser_cv_timedwait(cvnotempty, cvmtx, -1, 0);
	snprintf(what, sizeof(what), "%s: negative timeout", name);
	CHECK_EQ(what, NB_ETIMEDOUT, rv);
	rumpuser_mutex_exit(cvmtx);

	/* A signalled timedwait returns 0; has_waiters sees the waiter. */
	t[0] = spawn(cv_waiter, NULL);
	for (i = 0; i < 200; i++) {
		rumpuser_mutex_enter(cvmtx);
		rumpuser_cv_has_waiters(cvnotempty, &waiters);
		if (waiters) {
			rumpuser_cv_signal(cvnotempty);
			rumpuser_mutex_exit(cvmtx);
			break;
		}
		rumpuser_mutex_exit(cvmtx);
		msleep(5);
	}
	snprintf(what, sizeof(what), "%s: has_waiters", name);
	CHECK_EQ(what, 1, waiters);
	pthread_join(t[0], &wrv);
	snprintf(what, sizeof(what), "%s: signalled timedwait", name);
	CHECK_EQ(what, 0, (intptr_t)wrv);
	rumpuser_cv_has_waiters(cvnotempty, &waiters);
	snprintf(what, sizeof(what), "%s: no waiters left", name);
	CHECK_EQ(what, 0, waiters);

	/* Producers and consumers, 2 + 2 threads. */
	u0 = nunsched;
	s0 = nsched;
	cvqueue = cvproduced = cvconsumed = 0;
	for (i = 0; i < NTHREADS; i++)
		t[i] = spawn(i % 2 ? cv_consumer : cv_producer,
		    (void *)(intptr_t)(i + 1));
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	snprintf(what, sizeof(what), "%s: produced", name);
	CHECK_EQ(what, 2 * CVITEMS, cvproduced);
	snprintf(what, sizeof(what), "%s: consumed", name);
	CHECK_EQ(what, 2 * CVITEMS, cvconsumed);
	snprintf(what, sizeof(what), "%s: cv waits unscheduled", name);
	CHECK(what, nunsched - u0 > 0);
	snprintf(what, sizeof(what), "%s: unschedule/schedule balance", name);
	CHECK_EQ(what, nunsched - u0, nsched - s0);

	rumpuser_cv_destroy(cvnotempty);
	rumpuser_cv_destroy(cvnotfull);
	rumpuser_mutex_destroy(cvmtx);
	leave_kernel_thread(0);
}

/*
 * rwlocks
 */

static struct rumpuser_rw *srw;
static _Atomic int rwreaders, rwwriters, rwbad;
static long rwvalue;

static void *
rw_worker(void *arg)
{
	int id = (int)(intptr_t)arg, i, held;

	become_kernel_thread(id);
	pthread_barrier_wait(&startline);
	for (i = 0; i < NITER / 4; i++) {
		if ((i + id) % 4 == 0) {
			rumpuser_rw_enter(RUMPUSER_RW_WRITER, srw);
			if (rwwriters++ != 0 || rwreaders != 0)
				rwbad++;
			rumpuser_rw_held(RUMPUSER_RW_WRITER, srw, &held);
			if (!held)
				rwbad++;
			rwvalue++;
			if ((i & 15) == 0)
				sched_yield();
			rwwriters--;
			rumpuser_rw_exit(srw);
		} else {
			rumpuser_rw_enter(RUMPUSER_RW_READER, srw);
			rwreaders++;
			if (rwwriters != 0)
				rwbad++;
			rumpuser_rw_held(RUMPUSER_RW_READER, srw, &held);
			if (!held)
				rwbad++;
			rwreaders--;
			rumpuser_rw_exit(srw);
		}
	}
	if (!hascpu)
		protoerrors++;
	leave_kernel_thread(id);
	return NULL;
}

static void *
rw_blocked_reader(void *arg)
{
	(void)arg;
	become_kernel_thread(1);
	rumpuser_rw_enter(RUMPUSER_RW_READER, srw);
	entered = 1;
	rumpuser_rw_exit(srw);
	leave_kernel_thread(1);
	return NULL;
}

static void *
rw_try_writer(void *arg)
{
	int rv;

	(void)arg;
	become_kernel_thread(2);
	rv = rumpuser_rw_tryenter(RUMPUSER_RW_WRITER, srw);
	if (rv == 0)
		rumpuser_rw_exit(srw);
	leave_kernel_thread(2);
	return (void *)(intptr_t)rv;
}

static void
test_rw(void)
{
	pthread_t t[NTHREADS];
	int i, held, u0, s0;
	void *rv;

	become_kernel_thread(0);
	rumpuser_rw_init(&srw);

	rumpuser_rw_held(RUMPUSER_RW_WRITER, srw, &held);
	CHECK_EQ("rw free: not write-held", 0, held);
	rumpuser_rw_held(RUMPUSER_RW_READER, srw, &held);
	CHECK_EQ("rw free: not read-held", 0, held);

	/* A reader blocked by a writer gives up the CPU. */
	rumpuser_rw_enter(RUMPUSER_RW_WRITER, srw);
	rumpuser_rw_held(RUMPUSER_RW_WRITER, srw, &held);
	CHECK_EQ("rw write-held", 1, held);
	u0 = nunsched;
	s0 = nsched;
	entered = 0;
	t[0] = spawn(rw_blocked_reader, NULL);
	for (int w = 0; w < 500 && nunsched == u0; w++)	/* until it has blocked (5 s at most) */
		msleep(10);
	msleep(20);
	CHECK_EQ("blocked reader waits", 0, entered);
	CHECK_EQ("blocked reader unscheduled", u0 + 1, nunsched);

	/* Downgrade: the blocked reader may now come in. */
	rumpuser_rw_downgrade(srw);
	rumpuser_rw_held(RUMPUSER_RW_WRITER, srw, &held);
	CHECK_EQ("downgraded: not write-held", 0, held);
	rumpuser_rw_held(RUMPUSER_RW_READER, srw, &held);
	CHECK_EQ("downgraded: read-held", 1, held);
	pthread_join(t[0], NULL);
	CHECK_EQ("blocked reader entered after downgrade", 1, entered);
	CHECK("blocked reader rescheduled", nsched > s0);

	pthread_join(spawn(rw_try_writer, NULL), &rv);
	CHECK_EQ("tryenter writer on read-held", NB_EBUSY, (intptr_t)rv);
	CHECK_EQ("tryupgrade", NB_EBUSY, rumpuser_rw_tryupgrade(srw));
	rumpuser_rw_exit(srw);
	pthread_join(spawn(rw_try_writer, NULL), &rv);
	CHECK_EQ("tryenter writer on free", 0, (intptr_t)rv);
	CHECK_EQ("tryenter reader", 0,
	    rumpuser_rw_tryenter(RUMPUSER_RW_READER, srw));
	rumpuser_rw_exit(srw);

	/*
	 * 4 threads, one write in four.  They start while this thread holds the
	 * lock as writer, and it is released only once one of them has blocked
	 * (and given up its CPU): the count below cannot depend on luck.
	 */
	u0 = nunsched;
	s0 = nsched;
	rwvalue = 0;
	rumpuser_rw_enter(RUMPUSER_RW_WRITER, srw);
	for (i = 0; i < NTHREADS; i++)
		t[i] = spawn(rw_worker, (void *)(intptr_t)(i + 1));
	for (i = 0; i < 500 && nunsched == u0; i++)	/* until one has blocked (5 s at most) */
		msleep(10);
	rumpuser_rw_exit(srw);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ("rw exclusion held", 0, rwbad);
	CHECK_EQ("rw writes", (long)NTHREADS * (NITER / 4) / 4, rwvalue);
	CHECK("rw contention unscheduled", nunsched - u0 > 0);
	CHECK_EQ("rw unschedule/schedule balance", nunsched - u0, nsched - s0);
	printf("  rw contention: %d unschedules\n", nunsched - u0);

	rumpuser_rw_destroy(srw);
	leave_kernel_thread(0);
}

/*
 * Clocks
 */

static void
test_clock(void)
{
	int64_t sec, t0, elapsed;
	long nsec;
	int u0;

	become_kernel_thread(0);
	CHECK_EQ("gettime RELWALL", 0,
	    rumpuser_clock_gettime(RUMPUSER_CLOCK_RELWALL, &sec, &nsec));
	CHECK("wall clock after 2020", sec > 1577836800);
	CHECK("nsec in range", nsec >= 0 && nsec < 1000000000);
	CHECK_EQ("gettime ABSMONO", 0,
	    rumpuser_clock_gettime(RUMPUSER_CLOCK_ABSMONO, &sec, &nsec));
	CHECK_EQ("gettime bad clock", NB_EINVAL,
	    rumpuser_clock_gettime(7, &sec, &nsec));

	u0 = nunsched;
	t0 = now_ns();
	CHECK_EQ("relative sleep", 0,
	    rumpuser_clock_sleep(RUMPUSER_CLOCK_RELWALL, 0, 20 * 1000 * 1000));
	elapsed = now_ns() - t0;
	CHECK("relative sleep >= 20ms", elapsed >= 20 * 1000 * 1000);
	CHECK_EQ("sleep unscheduled", u0 + 1, nunsched);

	rumpuser_clock_gettime(RUMPUSER_CLOCK_ABSMONO, &sec, &nsec);
	nsec += 20 * 1000 * 1000;
	if (nsec >= 1000000000) {
		sec++;
		nsec -= 1000000000;
	}
	t0 = now_ns();
	CHECK_EQ("absolute sleep", 0,
	    rumpuser_clock_sleep(RUMPUSER_CLOCK_ABSMONO, sec, nsec));
	elapsed = now_ns() - t0;
	CHECK("absolute sleep >= ~20ms", elapsed >= 19 * 1000 * 1000);
	CHECK_EQ("sleep bad clock", NB_EINVAL, rumpuser_clock_sleep(9, 0, 1));
	CHECK("CPU held after sleeps", hascpu);
	leave_kernel_thread(0);
}

/*
 * Parameters
 */

static void
test_getparam(void)
{
	char buf[256], want[32];

	unsetenv("RUMP_NCPU");
	CHECK_EQ("getparam NCPU", 0,
	    rumpuser_getparam(RUMPUSER_PARAM_NCPU, buf, sizeof(buf)));
	snprintf(want, sizeof(want), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	CHECK_EQ("NCPU defaults to host CPUs", 0, strcmp(buf, want));
	if (strcmp(buf, want) != 0)
		printf("    NCPU: expected \"%s\", got \"%s\"\n", want, buf);

	setenv("RUMP_NCPU", "3", 1);
	rumpuser_getparam(RUMPUSER_PARAM_NCPU, buf, sizeof(buf));
	CHECK_EQ("NCPU from RUMP_NCPU", 0, strcmp(buf, "3"));
	setenv("RUMP_NCPU", "host", 1);
	rumpuser_getparam(RUMPUSER_PARAM_NCPU, buf, sizeof(buf));
	CHECK_EQ("RUMP_NCPU=host", 0, strcmp(buf, want));
	unsetenv("RUMP_NCPU");

	unsetenv("RUMP_HOSTNAME");
	CHECK_EQ("getparam HOSTNAME", 0,
	    rumpuser_getparam(RUMPUSER_PARAM_HOSTNAME, buf, sizeof(buf)));
	CHECK_EQ("hostname starts rump-", 0, strncmp(buf, "rump-", 5));
	/* RUMP_HOSTNAME is the kernel's parameter, not the hypervisor's default. */
	setenv("RUMP_HOSTNAME", "kern0", 1);
	rumpuser_getparam(RUMPUSER_PARAM_HOSTNAME, buf, sizeof(buf));
	CHECK_EQ("_RUMPUSER_HOSTNAME ignores RUMP_HOSTNAME", 0, strncmp(buf, "rump-", 5));
	CHECK_EQ("RUMP_HOSTNAME as an ordinary parameter", 0,
	    rumpuser_getparam("RUMP_HOSTNAME", buf, sizeof(buf)));
	CHECK_EQ("RUMP_HOSTNAME's value", 0, strcmp(buf, "kern0"));
	unsetenv("RUMP_HOSTNAME");

	CHECK_EQ("unknown mandatory parameter", NB_EINVAL,
	    rumpuser_getparam("_RUMPUSER_NOSUCH", buf, sizeof(buf)));
	unsetenv("RUMPUSER_TEST_NOSUCH");
	CHECK_EQ("unset parameter", NB_ENOENT,
	    rumpuser_getparam("RUMPUSER_TEST_NOSUCH", buf, sizeof(buf)));
	setenv("RUMPUSER_TEST_P", "value", 1);
	CHECK_EQ("environment parameter", 0,
	    rumpuser_getparam("RUMPUSER_TEST_P", buf, sizeof(buf)));
	CHECK_EQ("environment parameter value", 0, strcmp(buf, "value"));
	CHECK_EQ("parameter too long for buffer", NB_ERANGE,
	    rumpuser_getparam("RUMPUSER_TEST_P", buf, 3));
}

/*
 * Files
 */

static char tmpdir[64];
static char tmpfile_[128];

static void
test_file(void)
{
	struct rumpuser_iovec iov[2];
	char a[100], b[200], ra[100], rb[200];
	uint64_t size;
	size_t n;
	int fd, fd2, type, u0;

	become_kernel_thread(0);
	snprintf(tmpfile_, sizeof(tmpfile_), "%s/file", tmpdir);

	CHECK_EQ("open missing file", NB_ENOENT,
	    rumpuser_open(tmpfile_, RUMPUSER_OPEN_RDWR, &fd));
	CHECK_EQ("getfileinfo missing file", NB_ENOENT,
	    rumpuser_getfileinfo(tmpfile_, &size, &type));
	CHECK_EQ("open bad access mode", NB_EINVAL,
	    rumpuser_open(tmpfile_, RUMPUSER_OPEN_ACCMODE, &fd));

	u0 = nunsched;
	CHECK_EQ("open create", 0, rumpuser_open(tmpfile_,
	    RUMPUSER_OPEN_RDWR | RUMPUSER_OPEN_CREATE | RUMPUSER_OPEN_BIO,
	    &fd));
	CHECK("open unscheduled", nunsched > u0);
	CHECK_EQ("open create excl on existing", NB_EEXIST,
	    rumpuser_open(tmpfile_, RUMPUSER_OPEN_RDWR |
	    RUMPUSER_OPEN_CREATE | RUMPUSER_OPEN_EXCL, &fd2));

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	iov[0].iov_base = a;
	iov[0].iov_len = sizeof(a);
	iov[1].iov_base = b;
	iov[1].iov_len = sizeof(b);
	CHECK_EQ("iovwrite at 1000", 0, rumpuser_iovwrite(fd, iov, 2, 1000,
	    &n));
	CHECK_EQ("iovwrite count", 300, n);

	CHECK_EQ("getfileinfo", 0, rumpuser_getfileinfo(tmpfile_, &size,
	    &type));
	CHECK_EQ("file size", 1300, size);
	CHECK_EQ("file type", RUMPUSER_FT_REG, type);
	CHECK_EQ("getfileinfo NULL outputs", 0,
	    rumpuser_getfileinfo(tmpfile_, NULL, NULL));
	CHECK_EQ("getfileinfo dir", 0, rumpuser_getfileinfo(tmpdir, NULL,
	    &type));
	CHECK_EQ("dir type", RUMPUSER_FT_DIR, type);
	CHECK_EQ("getfileinfo /dev/null", 0, rumpuser_getfileinfo("/dev/null",
	    NULL, &type));
	CHECK_EQ("/dev/null type", RUMPUSER_FT_CHR, type);

	iov[0].iov_base = rb;
	iov[0].iov_len = sizeof(rb);
	iov[1].iov_base = ra;
	iov[1].iov_len = sizeof(ra);
	memset(ra, 0, sizeof(ra));
	memset(rb, 0, sizeof(rb));
	CHECK_EQ("iovread at 1000", 0, rumpuser_iovread(fd, iov, 2, 1000, &n));
	CHECK_EQ("iovread count", 300, n);
	CHECK_EQ("iovread data 1", 0, memcmp(rb, a, 100));
	CHECK_EQ("iovread data 2", 0, memcmp(rb + 100, b, 100));
	CHECK_EQ("iovread data 3", 0, memcmp(ra, b + 100, 100));
	CHECK_EQ("iovread past end", 0, rumpuser_iovread(fd, iov, 2, 5000,
	    &n));
	CHECK_EQ("iovread past end count", 0, n);

	/* NOSEEK uses the descriptor's offset, which is still 0. */
	iov[0].iov_base = ra;
	iov[0].iov_len = 10;
	CHECK_EQ("iovread NOSEEK", 0, rumpuser_iovread(fd, iov, 1,
	    RUMPUSER_IOV_NOSEEK, &n));
	CHECK_EQ("iovread NOSEEK count", 10, n);
	CHECK_EQ("iovread NOSEEK reads the hole", 0, ra[0]);

	CHECK_EQ("syncfd write", 0, rumpuser_syncfd(fd, RUMPUSER_SYNCFD_WRITE,
	    0, 0));
	CHECK_EQ("syncfd write|sync|barrier", 0, rumpuser_syncfd(fd,
	    RUMPUSER_SYNCFD_WRITE | RUMPUSER_SYNCFD_SYNC |
	    RUMPUSER_SYNCFD_BARRIER, 0, 0));
	CHECK_EQ("syncfd read", 0, rumpuser_syncfd(fd, RUMPUSER_SYNCFD_READ,
	    0, 0));
	CHECK_EQ("syncfd no direction", NB_EINVAL, rumpuser_syncfd(fd, 0, 0,
	    0));

	CHECK_EQ("close", 0, rumpuser_close(fd));
	CHECK("CPU held after file calls", hascpu);
	leave_kernel_thread(0);
}

/*
 * Block I/O
 */

struct biowait {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int done;
	size_t bytes;
	int error;
	int hadcpu;
};

static void
biodone(void *arg, size_t bytes, int error)
{
	struct biowait *bw = arg;

	pthread_mutex_lock(&bw->mtx);
	bw->bytes = bytes;
	bw->error = error;
	bw->hadcpu = hascpu;
	bw->done++;
	pthread_cond_broadcast(&bw->cv);
	pthread_mutex_unlock(&bw->mtx);
}

static void
biowait(struct biowait *bw, int count)
{
	pthread_mutex_lock(&bw->mtx);
	while (bw->done < count)
		pthread_cond_wait(&bw->cv, &bw->mtx);
	pthread_mutex_unlock(&bw->mtx);
}

#define BIOBLK 4096
#define NBIOS 64

static void
test_bio(void)
{
	struct biowait bw = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };
	static char wbuf[NBIOS][BIOBLK], rbuf[NBIOS][BIOBLK];
	int fd, i, bad;

	become_kernel_thread(0);
	rumpuser_open(tmpfile_, RUMPUSER_OPEN_RDWR | RUMPUSER_OPEN_BIO, &fd);

	memset(wbuf[0], 0x5a, BIOBLK);
	rumpuser_bio(fd, RUMPUSER_BIO_WRITE | RUMPUSER_BIO_SYNC, wbuf[0],
	    BIOBLK, 8192, biodone, &bw);
	CHECK("bio returns holding the CPU", hascpu);
	biowait(&bw, 1);
	CHECK_EQ("bio write bytes", BIOBLK, bw.bytes);
	CHECK_EQ("bio write error", 0, bw.error);
	/* Workers serve every kernel of the process: biodone runs without a CPU or an lwp. */
	CHECK_EQ("biodone runs without a CPU", 0, bw.hadcpu);
	CHECK_EQ("bio workers take no lwps", 0, nnewlwp);

	bw.done = 0;
	rumpuser_bio(fd, RUMPUSER_BIO_READ, rbuf[0], BIOBLK, 8192, biodone,
	    &bw);
	biowait(&bw, 1);
	CHECK_EQ("bio read bytes", BIOBLK, bw.bytes);
	CHECK_EQ("bio read error", 0, bw.error);
	CHECK_EQ("bio read data", 0, memcmp(rbuf[0], wbuf[0], BIOBLK));

	/* Read at end of file: short. */
	bw.done = 0;
	rumpuser_bio(fd, RUMPUSER_BIO_READ, rbuf[0], BIOBLK, 8192 + 2048,
	    biodone, &bw);
	biowait(&bw, 1);
	CHECK_EQ("bio short read bytes", 2048, bw.bytes);

	/* Error on a bad descriptor, in NetBSD's errno space. */
	bw.done = 0;
	rumpuser_bio(-1, RUMPUSER_BIO_READ, rbuf[0], BIOBLK, 0, biodone, &bw);
	biowait(&bw, 1);
	CHECK_EQ("bio error is NetBSD EBADF", 9, bw.error);

	/* Many in flight. */
	bw.done = 0;
	for (i = 0; i < NBIOS; i++) {
		memset(wbuf[i], i, BIOBLK);
		rumpuser_bio(fd, RUMPUSER_BIO_WRITE, wbuf[i], BIOBLK,
		    (int64_t)i * BIOBLK, biodone, &bw);
	}
	biowait(&bw, NBIOS);
	bw.done = 0;
	for (i = 0; i < NBIOS; i++)
		rumpuser_bio(fd, RUMPUSER_BIO_READ, rbuf[i], BIOBLK,
		    (int64_t)i * BIOBLK, biodone, &bw);
	biowait(&bw, NBIOS);
	for (bad = 0, i = 0; i < NBIOS; i++)
		bad += memcmp(rbuf[i], wbuf[i], BIOBLK) != 0;
	CHECK_EQ("64 bios round trip", 0, bad);

	rumpuser_close(fd);
	leave_kernel_thread(0);
}

/*
 * Threads, memory, random, signals
 */

static _Atomic int thrran;
static char thrname[32];

/* rumpuser(3): a thread's function never returns; it ends with rumpuser_thread_exit. */
static void *
thread_body(void *arg)
{
	pthread_getname_np(pthread_self(), thrname, sizeof(thrname));
	thrran = (int)(intptr_t)arg;
	rumpuser_thread_exit();
}

static void *
thread_detached(void *arg)
{
	thrran = (int)(intptr_t)arg;
	rumpuser_thread_exit();
}

static void
test_thread(void)
{
	void *cookie = NULL;
	int i, u0;

	become_kernel_thread(0);
	CHECK_EQ("thread_create joinable", 0, rumpuser_thread_create(
	    thread_body, (void *)7, "a-very-long-thread-name", 1, 0, -1,
	    &cookie));
	CHECK("join cookie", cookie != NULL);
	u0 = nunsched;
	CHECK_EQ("thread_join", 0, rumpuser_thread_join(cookie));
	CHECK_EQ("thread ran", 7, thrran);
	CHECK_EQ("thread name truncated to 15", 0,
	    strcmp(thrname, "a-very-long-thr"));
	CHECK_EQ("join unscheduled", u0 + 1, nunsched);

	thrran = 0;
	CHECK_EQ("thread_create detached", 0, rumpuser_thread_create(
	    thread_detached, (void *)9, "det", 0, 0, -1, NULL));
	for (i = 0; i < 200 && thrran != 9; i++)
		msleep(5);
	CHECK_EQ("detached thread ran", 9, thrran);
	leave_kernel_thread(0);
}

static void
test_mem(void)
{
	void *p = NULL;

	CHECK_EQ("malloc 4k aligned", 0, rumpuser_malloc(10000, 4096, &p));
	CHECK_EQ("malloc alignment", 0, (uintptr_t)p % 4096);
	memset(p, 1, 10000);
	rumpuser_free(p, 10000);
	CHECK_EQ("malloc alignment 0", 0, rumpuser_malloc(10, 0, &p));
	rumpuser_free(p, 10);
	CHECK_EQ("malloc bad alignment", NB_EINVAL,
	    rumpuser_malloc(10, 48, &p));

	CHECK_EQ("anonmmap 64k aligned", 0, rumpuser_anonmmap(NULL, 100000,
	    16, 0, &p));
	CHECK_EQ("anonmmap alignment", 0, (uintptr_t)p % 65536);
	memset(p, 1, 100000);
	rumpuser_unmap(p, 100000);
}

static void
test_random(void)
{
	unsigned char buf[64];
	size_t n = 0, i, nonzero = 0;

	memset(buf, 0, sizeof(buf));
	CHECK_EQ("getrandom", 0, rumpuser_getrandom(buf, sizeof(buf), 0, &n));
	CHECK_EQ("getrandom count", sizeof(buf), n);
	for (i = 0; i < sizeof(buf); i++)
		nonzero += buf[i] != 0;
	CHECK("getrandom gave bytes", nonzero > 32);
	CHECK_EQ("getrandom nowait", 0, rumpuser_getrandom(buf, 16,
	    RUMPUSER_RANDOM_NOWAIT | RUMPUSER_RANDOM_HARD, &n));
	CHECK_EQ("getrandom nowait count", 16, n);
}

static volatile sig_atomic_t gotusr1;

static void
onusr1(int sig)
{
	(void)sig;
	gotusr1 = 1;
}

static void
test_kill(void)
{
	signal(SIGUSR1, onusr1);
	CHECK_EQ("kill signal 0", 0, rumpuser_kill(RUMPUSER_PID_SELF, 0));
	CHECK_EQ("kill NetBSD SIGUSR1", 0, rumpuser_kill(RUMPUSER_PID_SELF,
	    NB_SIGUSR1));
	CHECK_EQ("NetBSD SIGUSR1 (30) raised host SIGUSR1", 1, gotusr1);
	signal(SIGUSR1, SIG_DFL);
}

int
main(void)
{
	char cmd[128];

	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_barrier_init(&startline, NULL, NTHREADS);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rumpuser_test.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	test_init();
	test_curlwp();
	test_errno();
	test_mutex();
	test_cv(RUMPUSER_MTX_KMUTEX, "KMUTEX");
	test_cv(RUMPUSER_MTX_SPIN, "SPIN");
	test_cv(RUMPUSER_MTX_SPIN | RUMPUSER_MTX_KMUTEX, "SPIN|KMUTEX");
	test_rw();
	test_clock();
	test_getparam();
	test_file();
	test_bio();
	test_thread();
	test_mem();
	test_random();
	test_kill();

	rumpuser_putchar('o');
	rumpuser_putchar('k');
	rumpuser_putchar('\n');
	rumpuser_dprintf("dprintf %d\n", 42);

	CHECK_EQ("upcall protocol errors", 0, protoerrors);
	CHECK_EQ("bio workers: schedule/unschedule balance", nhypsched,
	    nhypunsched);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);

	printf("%d passed, %d failed\n", npass, nfail);
	return nfail == 0 ? 0 : 1;
}
