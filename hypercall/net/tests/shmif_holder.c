/*
 * shmif_holder BUSFILE: takes the bus lock, says "locked" on stdout, and waits to be killed
 * while holding it. The shmif tests SIGKILL it and check that the bus still works.
 */
#include <stdio.h>
#include <unistd.h>

#include <rump/rumpcomp_shmif.h>

int
main(int argc, char **argv)
{
	struct rumpcomp_shmif *bus;
	void *mem;
	int e;

	if (argc != 2) {
		fprintf(stderr, "usage: shmif_holder busfile\n");
		return 2;
	}
	if ((e = rumpcomp_shmif_open(argv[1], &bus, &mem)) != 0) {
		fprintf(stderr, "shmif_holder: open %s: errno %d\n", argv[1], e);
		return 1;
	}
	if ((e = rumpcomp_shmif_lock(bus)) != 0) {
		fprintf(stderr, "shmif_holder: lock: errno %d\n", e);
		return 1;
	}
	printf("locked\n");
	fflush(stdout);
	for (;;)
		pause();
}
