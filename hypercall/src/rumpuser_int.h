/*
 * Private to the POSIX hypervisor: the upcall table, CPU release helpers,
 * errno/signal translation and the export macro.
 */

#ifndef RUMPUSER_INT_H
#define RUMPUSER_INT_H

#include <stdatomic.h>
#include <stddef.h>

#include <rump/rumpuser.h>

/* The library is built with -fvisibility=hidden; hypercalls opt back in. */
#define RUMPUSER_EXPORT __attribute__((__visibility__("default")))

#define RUMPUSER_LIKELY(x)	__builtin_expect(!!(x), 1)
#define RUMPUSER_UNLIKELY(x)	__builtin_expect(!!(x), 0)

/* Host-side alignment of lock objects: one cache line each. */
#define RUMPUSER_LOCKALIGN	64

/*
 * The upcall table of the latest rumpuser_init().  Published once per
 * init as a pointer to a private copy (copies are never freed, so a
 * reader racing a second init still sees a whole table).
 */
extern _Atomic(const struct rumpuser_hyperup *) rumpuser__hyp;

static inline const struct rumpuser_hyperup *
rumpuser__hyperup(void)
{
	return atomic_load_explicit(&rumpuser__hyp, memory_order_acquire);
}

/*
 * Give up / take back the rump kernel CPU around a blocking host call.
 * Before rumpuser_init() there is no kernel and so no CPU to give up.
 */
static inline void
rumpuser__unschedule(int *nlocks, void *interlock)
{
	const struct rumpuser_hyperup *hyp = rumpuser__hyperup();

	if (RUMPUSER_LIKELY(hyp != NULL))
		hyp->hyp_backend_unschedule(0, nlocks, interlock);
	else
		*nlocks = 0;
}

static inline void
rumpuser__reschedule(int nlocks, void *interlock)
{
	const struct rumpuser_hyperup *hyp = rumpuser__hyperup();

	if (RUMPUSER_LIKELY(hyp != NULL))
		hyp->hyp_backend_schedule(nlocks, interlock);
}

/* Run one statement with the CPU given up. */
#define RUMPUSER_UNSCHEDULED(stmt)					\
	do {								\
		int unsched_nlocks_;					\
		rumpuser__unschedule(&unsched_nlocks_, NULL);		\
		stmt;							\
		rumpuser__reschedule(unsched_nlocks_, NULL);		\
	} while (0)

/* Host errno -> NetBSD errno (0 stays 0). */
int rumpuser__errtrans(int hosterror);
/* NetBSD signal number -> host signal number, -1 if none. */
int rumpuser__sigtrans(int nbsig);

/* A host call that cannot fail did: print and abort. */
void rumpuser__fatal(const char *what, int hosterror)
    __attribute__((__noreturn__, __cold__));

#define RUMPUSER_NOFAIL(call)						\
	do {								\
		int nofail_rv_ = (call);				\
		if (RUMPUSER_UNLIKELY(nofail_rv_ != 0))			\
			rumpuser__fatal(#call, nofail_rv_);		\
	} while (0)

/* Flush the calling thread's partial console line (before exit/abort). */
void rumpuser__console_flush(void);

#endif /* RUMPUSER_INT_H */
