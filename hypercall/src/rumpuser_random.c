/*
 * Host randomness through getrandom(2).  The host pool is a CSPRNG seeded
 * from hardware entropy, so RUMPUSER_RANDOM_HARD needs nothing more.
 * With RUMPUSER_RANDOM_NOWAIT an unseeded pool returns what it has
 * (possibly nothing) instead of waiting.
 */

#include <sys/random.h>

#include <errno.h>

#include "rumpuser_int.h"

RUMPUSER_EXPORT int
rumpuser_getrandom(void *buf, size_t buflen, int flags, size_t *retp)
{
	unsigned int gflags = 0;
	size_t done = 0;
	ssize_t nn;

	if (flags & RUMPUSER_RANDOM_NOWAIT)
		gflags |= GRND_NONBLOCK;

	while (done < buflen) {
		nn = getrandom((char *)buf + done, buflen - done, gflags);
		if (nn == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && done > 0)
				break;
			return rumpuser__errtrans(errno);
		}
		done += (size_t)nn;
	}
	*retp = done;
	return 0;
}
