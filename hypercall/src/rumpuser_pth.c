/*
 * Threads, curlwp, mutexes, rwlocks and condition variables on pthreads.
 *
 * The CPU protocol is NetBSD librumpuser's: a blocking call first tries
 * the lock without blocking and, only if that fails, gives up the rump
 * kernel CPU (hyp_backend_unschedule(0, &nlocks, interlock)), blocks on the
 * host, and takes a CPU back (hyp_backend_schedule(nlocks, interlock))
 * before returning.  The interlock is NULL except for condition variables,
 * where it is the mutex being waited with.  _nowrap calls and RUMPUSER_MTX_SPIN
 * mutexes never give up the CPU.
 *
 * Fields written by lock holders but read by anyone (mutex owner, rwlock
 * readers and writer) are atomics used with relaxed ordering: the pthread
 * lock orders everything else.
 */

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rumpuser_int.h"

/*
 * curlwp
 *
 * Read on every kernel entry, so it is one TLS load.  initial-exec puts it
 * in static TLS; glibc keeps spare static TLS for dlopen()ed libraries
 * with a few bytes of it, as this one (8 bytes).
 */
static __thread struct lwp *curlwp __attribute__((tls_model("initial-exec")));

/* CREATE and DESTROY are informational: nothing to track. */
RUMPUSER_EXPORT void
rumpuser_curlwpop(int enum_rumplwpop, struct lwp *l)
{
	switch ((enum rumplwpop)enum_rumplwpop) {
	case RUMPUSER_LWP_CREATE:
	case RUMPUSER_LWP_DESTROY:
		break;
	case RUMPUSER_LWP_SET:
		assert(curlwp == NULL);
		curlwp = l;
		break;
	case RUMPUSER_LWP_CLEAR:
		assert(curlwp == l);
		curlwp = NULL;
		break;
	}
}

RUMPUSER_EXPORT struct lwp *
rumpuser_curlwp(void)
{
	return curlwp;
}

/*
 * Threads
 *
 * The new thread names itself (a detached thread's pthread_t may be gone
 * by the time its creator could name it).  priority and cpuidx are only
 * hints (rumpuser(3)); the host scheduler places threads.
 */

struct thrstart {
	void *(*fun)(void *);
	void *arg;
	char name[16];	/* the host's limit, NUL included */
};

static void *
thrstart(void *p)
{
	struct thrstart ts = *(struct thrstart *)p;

	free(p);
	if (ts.name[0] != '\0')
		pthread_setname_np(pthread_self(), ts.name);
	ts.fun(ts.arg);
	/*
	 * rumpuser(3): fun "will never return"; a kernel thread ends with
	 * rumpuser_thread_exit().  A fiber hypervisor (NetBSD's rumpfiber.c)
	 * exits the whole process when fun returns, so catch it here.
	 */
	fprintf(stderr, "rumpuser: thread \"%s\" returned from its function "
	    "instead of calling rumpuser_thread_exit()\n", ts.name);
	abort();
}

RUMPUSER_EXPORT int
rumpuser_thread_create(void *(*fun)(void *), void *arg, const char *thrname,
    int mustjoin, int priority, int cpuidx, void **cookie)
{
	struct thrstart *ts;
	pthread_attr_t attr;
	pthread_t tid, *tidp = &tid;
	size_t namelen;
	int rv, tries;

	(void)priority;
	(void)cpuidx;

	if ((ts = malloc(sizeof(*ts))) == NULL)
		return rumpuser__errtrans(ENOMEM);
	ts->fun = fun;
	ts->arg = arg;
	namelen = thrname != NULL ? strnlen(thrname, sizeof(ts->name) - 1) : 0;
	memcpy(ts->name, thrname != NULL ? thrname : "", namelen);
	ts->name[namelen] = '\0';

	if (mustjoin && (tidp = malloc(sizeof(*tidp))) == NULL) {
		free(ts);
		return rumpuser__errtrans(ENOMEM);
	}

	RUMPUSER_NOFAIL(pthread_attr_init(&attr));
	RUMPUSER_NOFAIL(pthread_attr_setdetachstate(&attr, mustjoin ?
	    PTHREAD_CREATE_JOINABLE : PTHREAD_CREATE_DETACHED));

	/* EAGAIN is a passing shortage of host threads: wait a bit. */
	for (tries = 0; tries < 10; tries++) {
		const struct timespec pause = { 0, 10 * 1000 * 1000 };

		rv = pthread_create(tidp, &attr, thrstart, ts);
		if (rv != EAGAIN)
			break;
		nanosleep(&pause, NULL);
	}
	pthread_attr_destroy(&attr);

	if (rv != 0) {
		free(ts);
		if (mustjoin)
			free(tidp);
		return rumpuser__errtrans(rv);
	}
	if (mustjoin)
		*cookie = tidp;
	return 0;
}

RUMPUSER_EXPORT void
rumpuser_thread_exit(void)
{
	pthread_exit(NULL);
}

RUMPUSER_EXPORT int
rumpuser_thread_join(void *cookie)
{
	pthread_t *tidp = cookie;
	int rv;

	RUMPUSER_UNSCHEDULED(rv = pthread_join(*tidp, NULL));
	if (rv == 0)
		free(tidp);
	return rumpuser__errtrans(rv);
}

/*
 * Live lock objects, for rumpuser__debug_lockobjs(): not part of rumpuser(3),
 * a window for the project's tests to prove the kernel frees what it makes.
 */
static _Atomic long nmtx, nrw, ncv;

RUMPUSER_EXPORT void
rumpuser__debug_lockobjs(long *mtx, long *rw, long *cv)
{
	*mtx = atomic_load_explicit(&nmtx, memory_order_relaxed);
	*rw = atomic_load_explicit(&nrw, memory_order_relaxed);
	*cv = atomic_load_explicit(&ncv, memory_order_relaxed);
}

/*
 * Lock objects live one per cache line.
 */
static void *
lockalloc(size_t size)
{
	size_t allocsz = (size + RUMPUSER_LOCKALIGN - 1) &
	    ~(size_t)(RUMPUSER_LOCKALIGN - 1);
	void *p = aligned_alloc(RUMPUSER_LOCKALIGN, allocsz);

	if (p == NULL)
		rumpuser__fatal("lock allocation", ENOMEM);
	return p;
}

/*
 * Mutexes
 *
 * An error-checking pthread mutex, so that misuse aborts.  owner is kept
 * for RUMPUSER_MTX_KMUTEX only: set after acquiring, cleared before
 * releasing, by the holder.
 */

struct rumpuser_mtx {
	pthread_mutex_t pthmtx;
	_Atomic(struct lwp *) owner;
	int flags;
};

static inline void
mtxenter(struct rumpuser_mtx *mtx)
{
	if (!(mtx->flags & RUMPUSER_MTX_KMUTEX))
		return;
	assert(atomic_load_explicit(&mtx->owner, memory_order_relaxed) == NULL);
	atomic_store_explicit(&mtx->owner, curlwp, memory_order_relaxed);
}

static inline void
mtxexit(struct rumpuser_mtx *mtx)
{
	if (!(mtx->flags & RUMPUSER_MTX_KMUTEX))
		return;
	assert(atomic_load_explicit(&mtx->owner, memory_order_relaxed) != NULL);
	atomic_store_explicit(&mtx->owner, NULL, memory_order_relaxed);
}

RUMPUSER_EXPORT void
rumpuser_mutex_init(struct rumpuser_mtx **mtxp, int flags)
{
	struct rumpuser_mtx *mtx = lockalloc(sizeof(*mtx));
	pthread_mutexattr_t att;

	/* rumpuser(3): at least one of SPIN and KMUTEX is given. */
	assert(flags != 0);
	RUMPUSER_NOFAIL(pthread_mutexattr_init(&att));
	RUMPUSER_NOFAIL(pthread_mutexattr_settype(&att,
	    PTHREAD_MUTEX_ERRORCHECK));
	RUMPUSER_NOFAIL(pthread_mutex_init(&mtx->pthmtx, &att));
	pthread_mutexattr_destroy(&att);
	atomic_init(&mtx->owner, NULL);
	mtx->flags = flags;
	atomic_fetch_add_explicit(&nmtx, 1, memory_order_relaxed);
	*mtxp = mtx;
}

RUMPUSER_EXPORT void
rumpuser_mutex_enter_nowrap(struct rumpuser_mtx *mtx)
{
	assert(mtx->flags & RUMPUSER_MTX_SPIN);
	RUMPUSER_NOFAIL(pthread_mutex_lock(&mtx->pthmtx));
	mtxenter(mtx);
}

RUMPUSER_EXPORT void
rumpuser_mutex_enter(struct rumpuser_mtx *mtx)
{
	/* A spin mutex must not give up the CPU even here. */
	if (mtx->flags & RUMPUSER_MTX_SPIN) {
		rumpuser_mutex_enter_nowrap(mtx);
		return;
	}

	/* Fast path: uncontended, keep the CPU. */
	if (pthread_mutex_trylock(&mtx->pthmtx) != 0)
		RUMPUSER_UNSCHEDULED(
		    RUMPUSER_NOFAIL(pthread_mutex_lock(&mtx->pthmtx)));
	mtxenter(mtx);
}

RUMPUSER_EXPORT int
rumpuser_mutex_tryenter(struct rumpuser_mtx *mtx)
{
	int rv = pthread_mutex_trylock(&mtx->pthmtx);

	if (rv == 0) {
		mtxenter(mtx);
		return 0;
	}
	return rumpuser__errtrans(rv);
}

RUMPUSER_EXPORT void
rumpuser_mutex_exit(struct rumpuser_mtx *mtx)
{
	mtxexit(mtx);
	RUMPUSER_NOFAIL(pthread_mutex_unlock(&mtx->pthmtx));
}

RUMPUSER_EXPORT void
rumpuser_mutex_destroy(struct rumpuser_mtx *mtx)
{
	atomic_fetch_sub_explicit(&nmtx, 1, memory_order_relaxed);
	RUMPUSER_NOFAIL(pthread_mutex_destroy(&mtx->pthmtx));
	free(mtx);
}

/* rumpuser(3): only asked of RUMPUSER_MTX_KMUTEX mutexes. */
RUMPUSER_EXPORT void
rumpuser_mutex_owner(struct rumpuser_mtx *mtx, struct lwp **lp)
{
	if (RUMPUSER_UNLIKELY(!(mtx->flags & RUMPUSER_MTX_KMUTEX)))
		rumpuser__fatal("rumpuser_mutex_owner on a non-KMUTEX", EINVAL);
	*lp = atomic_load_explicit(&mtx->owner, memory_order_relaxed);
}

RUMPUSER_EXPORT int
rumpuser_mutex_spin_p(struct rumpuser_mtx *mtx)
{
	return (mtx->flags & RUMPUSER_MTX_SPIN) != 0;
}

/*
 * Read/write locks
 *
 * readers counts read holders, or is RW_WRITEHELD while a writer holds the
 * lock (writer says which lwp).  Readers change it concurrently, hence the
 * atomic add.
 *
 * Downgrade has no pthread equivalent: the writer sets downgrade, lets go
 * and takes a read lock.  A writer that slips in meanwhile sees downgrade,
 * lets go again and retries, so no writer leaves the hypercall holding
 * the lock between the downgrader's write and read holds.
 */

#define RW_WRITEHELD UINT32_MAX

struct rumpuser_rw {
	pthread_rwlock_t pthrw;
	_Atomic(uint32_t) readers;
	_Atomic(struct lwp *) writer;
	_Atomic(int) downgrade;
};

static inline uint32_t
rw_nreaders(struct rumpuser_rw *rw)
{
	uint32_t n = atomic_load_explicit(&rw->readers, memory_order_relaxed);

	return n == RW_WRITEHELD ? 0 : n;
}

static inline int
rw_amwriter(struct rumpuser_rw *rw)
{
	return atomic_load_explicit(&rw->readers, memory_order_relaxed) ==
	    RW_WRITEHELD &&
	    atomic_load_explicit(&rw->writer, memory_order_relaxed) == curlwp;
}

static inline void
rw_readup(struct rumpuser_rw *rw)
{
	atomic_fetch_add_explicit(&rw->readers, 1, memory_order_relaxed);
}

static inline void
rw_readdown(struct rumpuser_rw *rw)
{
	atomic_fetch_sub_explicit(&rw->readers, 1, memory_order_relaxed);
}

/* Called holding the pthread write lock; EBUSY if a downgrade owns it. */
static int
rw_setwriter(struct rumpuser_rw *rw, int retry)
{
	if (atomic_load_explicit(&rw->downgrade, memory_order_relaxed)) {
		RUMPUSER_NOFAIL(pthread_rwlock_unlock(&rw->pthrw));
		if (retry)
			RUMPUSER_UNSCHEDULED(sched_yield());
		return EBUSY;
	}
	assert(atomic_load_explicit(&rw->readers, memory_order_relaxed) == 0);
	atomic_store_explicit(&rw->writer, curlwp, memory_order_relaxed);
	atomic_store_explicit(&rw->readers, RW_WRITEHELD, memory_order_relaxed);
	return 0;
}

static inline void
rw_clearwriter(struct rumpuser_rw *rw)
{
	assert(rw_amwriter(rw));
	atomic_store_explicit(&rw->readers, 0, memory_order_relaxed);
	atomic_store_explicit(&rw->writer, NULL, memory_order_relaxed);
}

RUMPUSER_EXPORT void
rumpuser_rw_init(struct rumpuser_rw **rwp)
{
	struct rumpuser_rw *rw = lockalloc(sizeof(*rw));

	RUMPUSER_NOFAIL(pthread_rwlock_init(&rw->pthrw, NULL));
	atomic_init(&rw->readers, 0);
	atomic_init(&rw->writer, NULL);
	atomic_init(&rw->downgrade, 0);
	atomic_fetch_add_explicit(&nrw, 1, memory_order_relaxed);
	*rwp = rw;
}

RUMPUSER_EXPORT void
rumpuser_rw_enter(int enum_rumprwlock, struct rumpuser_rw *rw)
{
	switch ((enum rumprwlock)enum_rumprwlock) {
	case RUMPUSER_RW_WRITER:
		do {
			if (pthread_rwlock_trywrlock(&rw->pthrw) != 0)
				RUMPUSER_UNSCHEDULED(RUMPUSER_NOFAIL(
				    pthread_rwlock_wrlock(&rw->pthrw)));
		} while (rw_setwriter(rw, 1) != 0);
		break;
	case RUMPUSER_RW_READER:
		if (pthread_rwlock_tryrdlock(&rw->pthrw) != 0)
			RUMPUSER_UNSCHEDULED(RUMPUSER_NOFAIL(
			    pthread_rwlock_rdlock(&rw->pthrw)));
		rw_readup(rw);
		break;
	default:
		rumpuser__fatal("rumpuser_rw_enter: bad lock type", EINVAL);
	}
}

RUMPUSER_EXPORT int
rumpuser_rw_tryenter(int enum_rumprwlock, struct rumpuser_rw *rw)
{
	int rv;

	switch ((enum rumprwlock)enum_rumprwlock) {
	case RUMPUSER_RW_WRITER:
		rv = pthread_rwlock_trywrlock(&rw->pthrw);
		if (rv == 0)
			rv = rw_setwriter(rw, 0);
		break;
	case RUMPUSER_RW_READER:
		rv = pthread_rwlock_tryrdlock(&rw->pthrw);
		if (rv == 0)
			rw_readup(rw);
		break;
	default:
		rv = EINVAL;
		break;
	}
	return rumpuser__errtrans(rv);
}

/*
 * pthreads cannot upgrade.  The caller must be ready for failure (and back
 * off to avoid deadlock), so always failing is correct.
 */
RUMPUSER_EXPORT int
rumpuser_rw_tryupgrade(struct rumpuser_rw *rw)
{
	(void)rw;
	return rumpuser__errtrans(EBUSY);
}

RUMPUSER_EXPORT void
rumpuser_rw_exit(struct rumpuser_rw *rw)
{
	if (rw_nreaders(rw) > 0)
		rw_readdown(rw);
	else
		rw_clearwriter(rw);
	RUMPUSER_NOFAIL(pthread_rwlock_unlock(&rw->pthrw));
}

RUMPUSER_EXPORT void
rumpuser_rw_downgrade(struct rumpuser_rw *rw)
{
	assert(atomic_load_explicit(&rw->downgrade, memory_order_relaxed) == 0);
	atomic_store_explicit(&rw->downgrade, 1, memory_order_relaxed);
	rumpuser_rw_exit(rw);
	/* Writers that got in meanwhile may hold a CPU while backing off. */
	RUMPUSER_UNSCHEDULED(
	    RUMPUSER_NOFAIL(pthread_rwlock_rdlock(&rw->pthrw)));
	atomic_store_explicit(&rw->downgrade, 0, memory_order_relaxed);
	rw_readup(rw);
}

RUMPUSER_EXPORT void
rumpuser_rw_destroy(struct rumpuser_rw *rw)
{
	atomic_fetch_sub_explicit(&nrw, 1, memory_order_relaxed);
	RUMPUSER_NOFAIL(pthread_rwlock_destroy(&rw->pthrw));
	free(rw);
}

/* WRITER: held for writing by the calling lwp.  READER: held by readers. */
RUMPUSER_EXPORT void
rumpuser_rw_held(int enum_rumprwlock, struct rumpuser_rw *rw, int *heldp)
{
	switch ((enum rumprwlock)enum_rumprwlock) {
	case RUMPUSER_RW_WRITER:
		*heldp = rw_amwriter(rw);
		break;
	case RUMPUSER_RW_READER:
		*heldp = rw_nreaders(rw) > 0;
		break;
	default:
		*heldp = 0;
		break;
	}
}

/*
 * Condition variables
 *
 * Waits use the monotonic clock.  nwaiters is protected by the interlock
 * mutex that callers hold.
 */

struct rumpuser_cv {
	pthread_cond_t pthcv;
	int nwaiters;
};

RUMPUSER_EXPORT void
rumpuser_cv_init(struct rumpuser_cv **cvp)
{
	struct rumpuser_cv *cv = malloc(sizeof(*cv));
	pthread_condattr_t att;

	if (cv == NULL)
		rumpuser__fatal("cv allocation", ENOMEM);
	RUMPUSER_NOFAIL(pthread_condattr_init(&att));
	RUMPUSER_NOFAIL(pthread_condattr_setclock(&att, CLOCK_MONOTONIC));
	RUMPUSER_NOFAIL(pthread_cond_init(&cv->pthcv, &att));
	pthread_condattr_destroy(&att);
	cv->nwaiters = 0;
	atomic_fetch_add_explicit(&ncv, 1, memory_order_relaxed);
	*cvp = cv;
}

RUMPUSER_EXPORT void
rumpuser_cv_destroy(struct rumpuser_cv *cv)
{
	atomic_fetch_sub_explicit(&ncv, 1, memory_order_relaxed);
	RUMPUSER_NOFAIL(pthread_cond_destroy(&cv->pthcv));
	free(cv);
}

/* Give up the CPU with mtx as the interlock, then mark mtx unowned. */
static void
cv_unschedule(struct rumpuser_mtx *mtx, int *nlocks)
{
	rumpuser__unschedule(nlocks, mtx);
	mtxexit(mtx);
}

/*
 * pthread_cond_wait returned holding mtx.  rumpuser(3) fixes the order
 * for taking back CPU and mutex: for a SPIN|KMUTEX mutex the CPU first
 * (so let go of mtx, schedule, relock without giving up the CPU); for
 * anything else, keep mtx and schedule.
 */
static void
cv_reschedule(struct rumpuser_mtx *mtx, int nlocks)
{
	const int both = RUMPUSER_MTX_SPIN | RUMPUSER_MTX_KMUTEX;

	if ((mtx->flags & both) == both) {
		RUMPUSER_NOFAIL(pthread_mutex_unlock(&mtx->pthmtx));
		rumpuser__reschedule(nlocks, mtx);
		rumpuser_mutex_enter_nowrap(mtx);
	} else {
		mtxenter(mtx);
		rumpuser__reschedule(nlocks, mtx);
	}
}

RUMPUSER_EXPORT void
rumpuser_cv_wait(struct rumpuser_cv *cv, struct rumpuser_mtx *mtx)
{
	int nlocks;

	cv->nwaiters++;
	cv_unschedule(mtx, &nlocks);
	RUMPUSER_NOFAIL(pthread_cond_wait(&cv->pthcv, &mtx->pthmtx));
	cv_reschedule(mtx, nlocks);
	cv->nwaiters--;
}

RUMPUSER_EXPORT void
rumpuser_cv_wait_nowrap(struct rumpuser_cv *cv, struct rumpuser_mtx *mtx)
{
	cv->nwaiters++;
	mtxexit(mtx);
	RUMPUSER_NOFAIL(pthread_cond_wait(&cv->pthcv, &mtx->pthmtx));
	mtxenter(mtx);
	cv->nwaiters--;
}

/* sec/nsec is relative.  Returns 0 if signalled, NetBSD ETIMEDOUT if not. */
RUMPUSER_EXPORT int
rumpuser_cv_timedwait(struct rumpuser_cv *cv, struct rumpuser_mtx *mtx,
    int64_t sec, int64_t nsec)
{
	const int64_t maxsec = INT64_MAX / 4;	/* "forever", no overflow */
	struct timespec ts;
	int rv, nlocks;

	/* The deadline counts from now, before waiting for a CPU back. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (sec < 0 || (sec == 0 && nsec < 0)) {
		sec = 0;
		nsec = 0;
	}
	if (sec > maxsec)
		sec = maxsec;
	sec += nsec / 1000000000;
	nsec %= 1000000000;
	if (nsec < 0) {
		sec--;
		nsec += 1000000000;
	}
	ts.tv_sec += (time_t)sec;
	ts.tv_nsec += (long)nsec;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}

	cv->nwaiters++;
	cv_unschedule(mtx, &nlocks);
	rv = pthread_cond_timedwait(&cv->pthcv, &mtx->pthmtx, &ts);
	cv_reschedule(mtx, nlocks);
	cv->nwaiters--;

	if (rv != 0 && rv != ETIMEDOUT)
		rumpuser__fatal("pthread_cond_timedwait", rv);
	return rumpuser__errtrans(rv);
}

RUMPUSER_EXPORT void
rumpuser_cv_signal(struct rumpuser_cv *cv)
{
	RUMPUSER_NOFAIL(pthread_cond_signal(&cv->pthcv));
}

RUMPUSER_EXPORT void
rumpuser_cv_broadcast(struct rumpuser_cv *cv)
{
	RUMPUSER_NOFAIL(pthread_cond_broadcast(&cv->pthcv));
}

RUMPUSER_EXPORT void
rumpuser_cv_has_waiters(struct rumpuser_cv *cv, int *waitersp)
{
	*waitersp = cv->nwaiters;
}
