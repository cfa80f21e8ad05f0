/*
 * errno translation, the one place where host and NetBSD errno meet.
 *
 * Hypercalls return errors in the rump kernel's (NetBSD's) errno space.
 * The pairs come from errtab.inc, generated from the project's ABI table;
 * names the host lacks are left out by the #ifdef around each line.
 * rumpuser_seterrno() stores its argument unchanged, as NetBSD's does: the
 * kernel's C ABI layer translates to the host's value, so that a client's
 * errno is right on any hypervisor.
 *
 * Where several host names share one value (EAGAIN/EWOULDBLOCK,
 * EOPNOTSUPP/ENOTSUP on Linux) the first line listed wins, i.e. the lowest
 * NetBSD value when the table is in NetBSD order.
 *
 * Unmapped values:
 *  - a host errno with no NetBSD equivalent becomes NetBSD EIO.  NetBSD's
 *    own librumpuser says EINVAL, but these errors come out of failed host
 *    I/O (Linux EREMOTEIO, ENOMEDIUM, EUCLEAN...), and EIO tells the kernel
 *    what happened while EINVAL would blame its arguments.
 *
 * Lookups scan the table (~100 entries).  They run only on error paths.
 */

#include <errno.h>

#include "rumpuser_int.h"

struct errpair {
	int host;
	int nb;
};

static const struct errpair errtab[] = {
#define RUMP_ERRNO(name, nbvalue) { name, nbvalue },
#include "errtab.inc"
#undef RUMP_ERRNO
};

#define NERRTAB (sizeof(errtab) / sizeof(errtab[0]))

static int
nb_of_host(int hosterror, int dflt)
{
	for (size_t i = 0; i < NERRTAB; i++)
		if (errtab[i].host == hosterror)
			return errtab[i].nb;
	return dflt;
}

int
rumpuser__errtrans(int hosterror)
{
	if (hosterror == 0)
		return 0;
	/* NetBSD's EIO is read from the table itself, not written here. */
	return nb_of_host(hosterror, nb_of_host(EIO, EIO));
}

RUMPUSER_EXPORT void
rumpuser_seterrno(int error)
{
	errno = error;
}
