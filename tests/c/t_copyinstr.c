/*
 * Strings copied in from the caller (paths, symlink targets, file system type names) are read
 * up to their bound and no further: a string with no NUL within the bound is ENAMETOOLONG
 * without touching the byte after the bound, and a string that ends just before unmapped
 * memory is read without touching that memory either. The memory after each string here is a
 * PROT_NONE page, so any read past it kills the program.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "rtest.h"

#define PATH_MAX_RUMP	1024	/* NetBSD's MAXPATHLEN, the bound of a path */
#define FSTYPE_BOUND	32	/* the bound of mount(2)'s type name */

static char *guard;		/* the PROT_NONE page */

/* n bytes of c ending right before the guard page, then (if nul) a NUL as the last byte. */
static char *
at_guard(char c, size_t n, int nul)
{
	char *s = guard - n - (nul ? 1 : 0);

	memset(s, c, n);
	if (nul)
		s[n] = '\0';
	return s;
}

int
main(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *mem;
	struct rump_stat st;

	rtest_init();
	mem = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap of two pages: expected success, got errno %d", errno);
	if (mem == MAP_FAILED)
		return rtest_done();
	guard = mem + pg;
	EXPECT_OK(mprotect(guard, pg, PROT_NONE));

	/* Exactly the bound without a NUL: too long, and the guard page is not read. */
	EXPECT_ERR(rump_sys_stat(at_guard('/', PATH_MAX_RUMP, 0), &st), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_mkdir(at_guard('d', PATH_MAX_RUMP, 0), 0755), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_symlink(at_guard('t', PATH_MAX_RUMP, 0), "/link"), ENAMETOOLONG);
	EXPECT_ERR(rump_sys_mount(at_guard('x', FSTYPE_BOUND, 0), "/", 0, NULL, 0), ENAMETOOLONG);

	/* The longest string that fits, NUL last before the guard: accepted. */
	EXPECT_OK(rump_sys_stat(at_guard('/', PATH_MAX_RUMP - 1, 1), &st));
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFDIR);
	char *target = at_guard('t', PATH_MAX_RUMP - 1, 1);
	EXPECT_OK(rump_sys_symlink(target, "/link"));
	char back[PATH_MAX_RUMP];
	EXPECT_EQ(rump_sys_readlink("/link", back, sizeof back), PATH_MAX_RUMP - 1);
	EXPECT_OK(rump_sys_unlink("/link"));

	/* Short strings ending right before the guard: read up to the NUL only. */
	EXPECT_OK(rump_sys_stat(at_guard('/', 1, 1), &st));
	EXPECT_ERR(rump_sys_stat(at_guard('n', 3, 1), &st), ENOENT);
	EXPECT_ERR(rump_sys_stat(at_guard('n', 0, 1), &st), ENOENT);	/* "" */
	EXPECT_ERR(rump_sys_mount(at_guard('x', 5, 1), "/", 0, NULL, 0), ENODEV);	/* no such type */

	/* A string that crosses from one page into the next is still found whole. */
	EXPECT_OK(munmap(mem, 2 * pg));
	mem = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap of three pages: expected success, got errno %d", errno);
	if (mem != MAP_FAILED) {
		guard = mem + 2 * pg;
		EXPECT_OK(mprotect(guard, pg, PROT_NONE));
		char *s = mem + pg - 10;
		memset(s, '/', 20);
		strcpy(s + 20, "nothere");
		EXPECT_ERR(rump_sys_stat(s, &st), ENOENT);
		s[20] = '\0';
		EXPECT_OK(rump_sys_stat(s, &st));
		EXPECT_OK(munmap(mem, 3 * pg));
	}
	return rtest_done();
}
