/*
 * check.h -- the pass/fail counters and the check of the hijack tests: a failed check prints its
 * place and a printf-style message saying what was expected and what came.
 */

#ifndef RUMP_HIJACK_CHECK_H
#define RUMP_HIJACK_CHECK_H

#include <stdio.h>

static int npass, nfail;

#define CHECK(cond, ...) do {							\
	if (cond)								\
		npass++;							\
	else {									\
		nfail++;							\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);		\
		fprintf(stderr, __VA_ARGS__);					\
		fputc('\n', stderr);						\
	}									\
} while (0)

#endif
