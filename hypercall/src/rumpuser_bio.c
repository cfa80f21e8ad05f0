/*
 * Asynchronous block I/O.
 *
 * rumpuser_bio() queues the request and returns; a pool of host worker
 * threads does the transfer and calls biodone(donearg, bytes, error).
 *
 * Unlike NetBSD's librumpuser, biodone runs without a kernel context: the
 * workers serve every kernel instance in the process, so they cannot belong
 * to one kernel's process the way NetBSD's do (NetBSD gives each an lwp with
 * hyp_lwproc_newlwp).  biodone must therefore only record the result and
 * wake whoever waits for it, which is all the kernel's completion does.
 * rumpuser_bio() gives up the caller's CPU while it queues, since a full
 * queue makes it wait.
 *
 * bytes is the count actually transferred (short at end of file); error is
 * a NetBSD errno, 0 on success.  RUMPUSER_BIO_SYNC writes are followed by
 * fdatasync.  RUMP_THREADS=0 in the environment does the I/O in the
 * calling thread instead, like NetBSD.
 *
 * Locking: biomtx protects the queue (bioq, biohead, biocount).  Workers
 * hold no lock during I/O or biodone.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rumpuser_int.h"

#define BIO_QUEUE	128
#define BIO_NTHREADS	4

struct bioreq {
	int fd;
	int op;
	char *data;
	size_t dlen;
	off_t off;
	rump_biodone_fn done;
	void *donearg;
};

static pthread_mutex_t biomtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bionotempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t bionotfull = PTHREAD_COND_INITIALIZER;
static struct bioreq bioq[BIO_QUEUE];	/* ring, biohead is the oldest */
static unsigned biohead, biocount;

static pthread_once_t bioonce = PTHREAD_ONCE_INIT;
static int biothreads;			/* workers started; 0: inline I/O */

static void
dobio(const struct bioreq *req)
{
	size_t done = 0;
	ssize_t nn;
	int error = 0;

	while (done < req->dlen) {
		if (req->op & RUMPUSER_BIO_READ)
			nn = pread(req->fd, req->data + done, req->dlen - done,
			    req->off + (off_t)done);
		else
			nn = pwrite(req->fd, req->data + done,
			    req->dlen - done, req->off + (off_t)done);
		if (nn == -1) {
			if (errno == EINTR)
				continue;
			error = errno;
			break;
		}
		if (nn == 0)
			break;
		done += (size_t)nn;
	}
	if (error == 0 && !(req->op & RUMPUSER_BIO_READ) &&
	    (req->op & RUMPUSER_BIO_SYNC) && fdatasync(req->fd) == -1)
		error = errno;

	req->done(req->donearg, done, rumpuser__errtrans(error));
}

static void *
bioworker(void *arg)
{
	struct bioreq req;

	(void)arg;
	pthread_setname_np(pthread_self(), "rumpuser-bio");

	RUMPUSER_NOFAIL(pthread_mutex_lock(&biomtx));
	for (;;) {
		while (biocount == 0)
			RUMPUSER_NOFAIL(pthread_cond_wait(&bionotempty,
			    &biomtx));
		req = bioq[biohead];
		biohead = (biohead + 1) % BIO_QUEUE;
		biocount--;
		RUMPUSER_NOFAIL(pthread_cond_signal(&bionotfull));
		RUMPUSER_NOFAIL(pthread_mutex_unlock(&biomtx));

		dobio(&req);

		RUMPUSER_NOFAIL(pthread_mutex_lock(&biomtx));
	}
	return NULL;
}

static void
bioinit(void)
{
	const char *env = getenv("RUMP_THREADS");
	pthread_t pt;
	int i;

	if (env != NULL && env[0] == '0')
		return;
	for (i = 0; i < BIO_NTHREADS; i++) {
		if (pthread_create(&pt, NULL, bioworker, NULL) != 0)
			break;
		pthread_detach(pt);
	}
	if (i == 0)
		fprintf(stderr, "rumpuser: no bio worker threads, "
		    "doing block I/O synchronously\n");
	biothreads = i;
}

RUMPUSER_EXPORT void
rumpuser_bio(int fd, int op, void *data, size_t dlen, int64_t off,
    rump_biodone_fn biodone, void *donearg)
{
	struct bioreq req = {
		.fd = fd,
		.op = op,
		.data = data,
		.dlen = dlen,
		.off = (off_t)off,
		.done = biodone,
		.donearg = donearg,
	};
	int nlocks;

	rumpuser__unschedule(&nlocks, NULL);
	RUMPUSER_NOFAIL(pthread_once(&bioonce, bioinit));

	if (biothreads == 0) {
		dobio(&req);
	} else {
		RUMPUSER_NOFAIL(pthread_mutex_lock(&biomtx));
		while (biocount == BIO_QUEUE)
			RUMPUSER_NOFAIL(pthread_cond_wait(&bionotfull,
			    &biomtx));
		bioq[(biohead + biocount) % BIO_QUEUE] = req;
		biocount++;
		RUMPUSER_NOFAIL(pthread_cond_signal(&bionotempty));
		RUMPUSER_NOFAIL(pthread_mutex_unlock(&biomtx));
	}

	rumpuser__reschedule(nlocks, NULL);
}
