/*
 * check.h -- the pass/fail counters and checks of the hypercall layer's C tests: a failed check
 * prints what it expected and what it got; main prints the totals and fails if any failed.
 */

#ifndef RUMP_TESTS_CHECK_H
#define RUMP_TESTS_CHECK_H

#include <stdio.h>

static int npass, nfail;

#define CHECK_EQ(what, expected, got)					\
	do {								\
		long long e_ = (long long)(expected);			\
		long long g_ = (long long)(got);			\
		if (e_ == g_) {						\
			npass++;					\
		} else {						\
			nfail++;					\
			printf("FAIL %s:%d: %s: expected %lld, got %lld\n", \
			    __FILE__, __LINE__, what, e_, g_);		\
		}							\
	} while (0)

#define CHECK(what, cond) CHECK_EQ(what, 1, !!(cond))

#endif
