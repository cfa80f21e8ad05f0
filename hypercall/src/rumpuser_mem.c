/*
 * Memory: heap allocation and anonymous mappings.  None of these block
 * for long, so none gives up the CPU.
 */

#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "rumpuser_int.h"

RUMPUSER_EXPORT int
rumpuser_malloc(size_t len, int alignment, void **memp)
{
	size_t align = alignment > 0 ? (size_t)alignment : 0;
	void *mem = NULL;
	int rv;

	/* posix_memalign wants a power of two no smaller than a pointer. */
	if (align < sizeof(void *))
		align = sizeof(void *);
	if ((align & (align - 1)) != 0)
		return rumpuser__errtrans(EINVAL);

	rv = posix_memalign(&mem, align, len);
	if (rv != 0)
		return rumpuser__errtrans(rv);
	*memp = mem;
	return 0;
}

RUMPUSER_EXPORT void
rumpuser_free(void *mem, size_t len)
{
	(void)len;
	free(mem);
}

/*
 * The host has no MAP_ALIGNED, so an aligned request maps enough to find
 * an aligned start inside and unmaps the slack on both sides.
 */
RUMPUSER_EXPORT int
rumpuser_anonmmap(void *prefaddr, size_t size, int alignbit, int exec,
    void **memp)
{
	int prot = PROT_READ | PROT_WRITE | (exec ? PROT_EXEC : 0);
	size_t align, maplen;
	uintptr_t base, start;
	void *mem;

	if (alignbit <= 0 || (size_t)alignbit >= sizeof(size_t) * 8) {
		mem = mmap(prefaddr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
		if (mem == MAP_FAILED)
			return rumpuser__errtrans(errno);
		*memp = mem;
		return 0;
	}

	align = (size_t)1 << alignbit;
	if (size > SIZE_MAX - align)
		return rumpuser__errtrans(ENOMEM);
	maplen = size + align;
	mem = mmap(prefaddr, maplen, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return rumpuser__errtrans(errno);

	base = (uintptr_t)mem;
	start = (base + align - 1) & ~((uintptr_t)align - 1);
	if (start > base)
		munmap(mem, start - base);
	if (base + maplen > start + size)
		munmap((void *)(start + size), base + maplen - (start + size));
	*memp = (void *)start;
	return 0;
}

RUMPUSER_EXPORT void
rumpuser_unmap(void *addr, size_t len)
{
	munmap(addr, len);
}
