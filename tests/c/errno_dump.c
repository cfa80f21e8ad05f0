/*
 * Prints the host's value of every errno name the ABI table knows (hypercall/src/errtab.inc,
 * generated from rumpdefs.master), one "NAME value" per line; names the host lacks are left out.
 * tests/Rump.Tests/HostErrnoTests.cs compares them with the C ABI's translation table.
 */
#include <errno.h>
#include <stdio.h>

int
main(void)
{
#define RUMP_ERRNO(name, nbvalue) printf("%s %d\n", #name, name);
#include "errtab.inc"
#undef RUMP_ERRNO
	return 0;
}
