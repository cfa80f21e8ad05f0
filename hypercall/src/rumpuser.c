/*
 * Initialization, host parameters, console, termination and signals.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rumpuser_int.h"

_Atomic(const struct rumpuser_hyperup *) rumpuser__hyp;

/*
 * A process may host several kernel instances, and each calls
 * rumpuser_init().  Every call with the right version succeeds and the
 * latest table is the one used from then on, by all instances: the
 * instances must therefore share upcalls that find their own kernel from
 * the calling thread (as the rump kernel's upcalls do, through curlwp).
 * A version mismatch prints a message and returns 1, as rumpuser(3) asks
 * for a non-zero value.
 */
RUMPUSER_EXPORT int
rumpuser_init(int version, const struct rumpuser_hyperup *hyp)
{
	const struct rumpuser_hyperup *cur;
	struct rumpuser_hyperup *copy;

	if (version != RUMPUSER_VERSION) {
		fprintf(stderr, "rumpuser mismatch, kern: %d, hypervisor %d\n",
		    version, RUMPUSER_VERSION);
		return 1;
	}
	if (hyp == NULL)
		return rumpuser__errtrans(EINVAL);

	cur = rumpuser__hyperup();
	if (cur != NULL && memcmp(cur, hyp, sizeof(*hyp)) == 0)
		return 0;
	/* Never freed: a thread may still be reading an older copy. */
	copy = malloc(sizeof(*copy));
	if (copy == NULL)
		return rumpuser__errtrans(ENOMEM);
	*copy = *hyp;
	atomic_store_explicit(&rumpuser__hyp, copy, memory_order_release);
	return 0;
}

/*
 * Parameters
 */

static int
copyparam(void *buf, size_t buflen, const char *value)
{
	size_t len = strlen(value);

	if (len + 1 > buflen)
		return rumpuser__errtrans(ERANGE);
	memcpy(buf, value, len + 1);
	return 0;
}

static long
hostncpu(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	return ncpu > 0 ? ncpu : 1;
}

/*
 * RUMPUSER_PARAM_NCPU: $RUMP_NCPU, where "host" means the host's count;
 * unset means the host's online CPU count.
 * RUMPUSER_PARAM_HOSTNAME: "rump-<pid>.<hostname>", as NetBSD's (a name the
 * user chooses is RUMP_HOSTNAME, which the kernel reads itself).
 * Other names starting with '_' are unknown mandatory parameters (EINVAL);
 * the rest are read from the environment (ENOENT if unset).
 */
RUMPUSER_EXPORT int
rumpuser_getparam(const char *name, void *buf, size_t buflen)
{
	char tmp[256 + 32];
	const char *env;

	if (strcmp(name, RUMPUSER_PARAM_NCPU) == 0) {
		env = getenv("RUMP_NCPU");
		if (env != NULL && strcmp(env, "host") != 0)
			return copyparam(buf, buflen, env);
		snprintf(tmp, sizeof(tmp), "%ld", hostncpu());
		return copyparam(buf, buflen, tmp);
	}

	if (strcmp(name, RUMPUSER_PARAM_HOSTNAME) == 0) {
		char host[256];

		if (gethostname(host, sizeof(host)) == 0) {
			host[sizeof(host) - 1] = '\0';
			snprintf(tmp, sizeof(tmp), "rump-%05d.%s",
			    (int)getpid(), host);
		} else {
			snprintf(tmp, sizeof(tmp), "rump-%05d", (int)getpid());
		}
		return copyparam(buf, buflen, tmp);
	}

	if (name[0] == '_')
		return rumpuser__errtrans(EINVAL);

	env = getenv(name);
	if (env == NULL)
		return rumpuser__errtrans(ENOENT);
	return copyparam(buf, buflen, env);
}

/*
 * Console.  The kernel prints a character at a time; each thread gathers
 * a line before writing it to stderr so that lines from different threads
 * do not interleave and a line costs one write, not one per character.
 */

#define CONSOLE_LINE 256

static __thread char conline[CONSOLE_LINE];
static __thread size_t conlen;

void
rumpuser__console_flush(void)
{
	if (conlen > 0) {
		fwrite(conline, 1, conlen, stderr);
		conlen = 0;
	}
}

RUMPUSER_EXPORT void
rumpuser_putchar(int ch)
{
	conline[conlen++] = (char)ch;
	if (ch == '\n' || conlen == CONSOLE_LINE)
		rumpuser__console_flush();
}

RUMPUSER_EXPORT void
rumpuser_dprintf(const char *fmt, ...)
{
	va_list ap;

	rumpuser__console_flush();
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/*
 * Termination and signals
 */

RUMPUSER_EXPORT void
rumpuser_exit(int value)
{
	rumpuser__console_flush();
	fprintf(stderr, "halted\n");
	if (value == RUMPUSER_PANIC)
		abort();
	exit(value);
}

int
rumpuser__sigtrans(int nbsig)
{
	switch (nbsig) {
	case 0:
		return 0;
#define RUMP_SIGNAL(name, nbvalue) case nbvalue: return name;
#include "sigtab.inc"
#undef RUMP_SIGNAL
	default:
		return -1;
	}
}

/*
 * There is one host process whatever the kernel pid, so the signal is
 * raised in this process (as NetBSD's librumpuser does).  A signal the host
 * lacks is ignored; rumpuser(3) says the kernel ignores the return value.
 */
RUMPUSER_EXPORT int
rumpuser_kill(int64_t pid, int sig)
{
	int hostsig = rumpuser__sigtrans(sig);

	(void)pid;
	if (hostsig > 0 && raise(hostsig) != 0)
		return rumpuser__errtrans(errno);
	return 0;
}

void
rumpuser__fatal(const char *what, int hosterror)
{
	rumpuser__console_flush();
	fprintf(stderr, "panic: rumpuser: %s failed: %d (%s)\n",
	    what, hosterror, strerror(hosterror));
	abort();
}
