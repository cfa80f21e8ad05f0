/*
 * shmif_peer BUSFILE ID COUNT SIZE: a kernel in its own process on the bus in BUSFILE, which
 * sends COUNT broadcast frames of SIZE bytes (EtherType 0x88b5, IEEE local experimental) with
 * the payload the shmif tests check: ID, a sequence number from 0, and bytes derived from both.
 * Prints "sent COUNT" and exits 0. The sending goes through rump_shmif_test_send, librump's
 * test-only export (there is no IP stack to send with yet).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rump/rump.h>

int rump_shmif_test_send(int unit, const void *frame, size_t len);

int
main(int argc, char **argv)
{
	uint8_t f[1514];
	int unit, e;
	unsigned id;
	long count, size;

	if (argc != 5) {
		fprintf(stderr, "usage: shmif_peer busfile id count size\n");
		return 2;
	}
	id = (unsigned)strtoul(argv[2], NULL, 0);
	count = strtol(argv[3], NULL, 0);
	size = strtol(argv[4], NULL, 0);
	if (size < 24 || size > 1514 || count < 0) {
		fprintf(stderr, "shmif_peer: bad size or count\n");
		return 2;
	}
	if ((e = rump_init()) != 0) {
		fprintf(stderr, "shmif_peer: rump_init: %d\n", e);
		return 1;
	}
	if ((e = rump_pub_shmif_create(argv[1], &unit)) != 0) {
		fprintf(stderr, "shmif_peer: shmif_create %s: errno %d\n", argv[1], e);
		return 1;
	}
	memset(f, 0xff, 6);				/* broadcast */
	memcpy(f + 6, "\x02\x00\x00\x00\x00", 5);	/* a source the receiver ignores */
	f[11] = (uint8_t)id;
	f[12] = 0x88;
	f[13] = 0xb5;
	for (long seq = 0; seq < count; seq++) {
		f[14] = (uint8_t)id;
		memcpy(f + 15, &seq, 4);
		for (long i = 19; i < size; i++)
			f[i] = (uint8_t)(seq * 7 + i + id);
		if ((e = rump_shmif_test_send(unit, f, (size_t)size)) != 0) {
			fprintf(stderr, "shmif_peer: send %ld: errno %d\n", seq, e);
			return 1;
		}
	}
	printf("sent %ld\n", count);
	return 0;
}
