/*
 * Clocks: RUMPUSER_CLOCK_RELWALL is the host's wall clock, and
 * RUMPUSER_CLOCK_ABSMONO its monotonic clock.  Sleeping gives up the CPU.
 */

#include <errno.h>
#include <time.h>

#include "rumpuser_int.h"

static int
hostclock(int enum_rumpclock, clockid_t *clk)
{
	switch ((enum rumpclock)enum_rumpclock) {
	case RUMPUSER_CLOCK_RELWALL:
		*clk = CLOCK_REALTIME;
		return 0;
	case RUMPUSER_CLOCK_ABSMONO:
		*clk = CLOCK_MONOTONIC;
		return 0;
	}
	return EINVAL;
}

RUMPUSER_EXPORT int
rumpuser_clock_gettime(int enum_rumpclock, int64_t *sec, long *nsec)
{
	struct timespec ts;
	clockid_t clk;
	int error;

	if ((error = hostclock(enum_rumpclock, &clk)) != 0)
		return rumpuser__errtrans(error);
	if (clock_gettime(clk, &ts) == -1)
		return rumpuser__errtrans(errno);
	*sec = (int64_t)ts.tv_sec;
	*nsec = ts.tv_nsec;
	return 0;
}

/*
 * RELWALL sleeps at least the given duration; ABSMONO sleeps until the
 * monotonic clock reaches the given time.  Host signals do not cut a
 * sleep short.
 */
RUMPUSER_EXPORT int
rumpuser_clock_sleep(int enum_rumpclock, int64_t sec, long nsec)
{
	struct timespec rqt = { .tv_sec = (time_t)sec, .tv_nsec = nsec };
	clockid_t clk;
	int flags, error, nlocks;

	if ((error = hostclock(enum_rumpclock, &clk)) != 0)
		return rumpuser__errtrans(error);
	/* A relative sleep counts on the monotonic clock, immune to steps. */
	if (clk == CLOCK_REALTIME) {
		clk = CLOCK_MONOTONIC;
		flags = 0;
	} else {
		flags = TIMER_ABSTIME;
	}

	rumpuser__unschedule(&nlocks, NULL);
	do {
		/* Relative: clock_nanosleep leaves the remainder in rqt. */
		error = clock_nanosleep(clk, flags, &rqt,
		    flags ? NULL : &rqt);
	} while (error == EINTR);
	rumpuser__reschedule(nlocks, NULL);

	return rumpuser__errtrans(error);
}
