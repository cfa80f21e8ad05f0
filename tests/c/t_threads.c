/*
 * Many host threads in the kernel at once. Eight pthreads, each its own process, run a
 * fixed pseudo-random mix of file system calls against a model of what must be there:
 * mostly in a directory of their own (every result is checked as it comes back), and
 * also on shared things whose final state is still determined: O_APPEND records in shared
 * files, a slot of a shared file per thread, names of their own in a shared directory
 * (renamed in from and out to their own), subdirectories of their own there, and one name
 * all of them rename over. At the end the whole tree is walked with getdents and stat and
 * must be exactly what the models say: names, types, contents, sizes and link counts.
 */
#include <time.h>

#include "rtest.h"

#define NTHREADS	8
#define ITERS		100000
#define NFILES		12	/* f0..f11 in the thread's directory */
#define NDIRS		4	/* d0..d3 */
#define NSUB		3	/* g0..g2 in each d<j> */
#define NSHARED		3	/* /t/shared0..2 */
#define RECLEN		32	/* one O_APPEND record */
#define SLOTLEN		64
#define DEADLINE_S	12	/* stop early rather than overrun ctest on a slow host */

struct content {
	int exists;
	int seq;	/* which write made it */
	int len;
};

struct model {
	int id;
	unsigned long long rng;
	int seq;
	struct content f[NFILES];
	struct content common[NFILES];	/* /t/common/c<id>_<x>: f<x> moved out */
	int dir[NDIRS];
	struct content sub[NDIRS][NSUB];
	int sd;				/* 0: none; 1: /t/common/sd<id>; 2: moved home as /t/w<id>/sdm */
	int appends[NSHARED];
	int slot_seq;			/* last content of this thread's slot */
	int hot_seq, hot_len;		/* last content it renamed onto /t/common/hot; -1 if none */
	int ops;
};

static struct model models[NTHREADS];
static struct timespec t0;

static unsigned
rnd(struct model *m, unsigned n)
{
	/* xorshift64*: deterministic per thread */
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return (unsigned)((m->rng * 2685821657736338717ULL) >> 33) % n;
}

/* The bytes of write number seq of thread id: identifiable and different at every offset. */
static void
gen(char *buf, int id, int seq, int len)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	for (int j = 0; j < len; j++)
		buf[j] = al[(unsigned)(seq * 31 + j * 7 + id * 13 + j / 61) % 62];
	if (len >= 12) {
		char head[32];
		int n = snprintf(head, sizeof head, "T%d#%08d|", id, seq);
		memcpy(buf, head, n < len ? n : len);
	}
}

static int
gen_len(struct model *m)
{
	/* Mostly small; sometimes several pages. */
	return rnd(m, 10) == 0 ? 4000 + (int)rnd(m, 9000) : (int)rnd(m, 300);
}

static double
elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
}

/* Reads the whole file at path and compares it with write (id, seq, len). */
static void
verify_file(const char *path, int id, int seq, int len, const char *when)
{
	static __thread char want[13100], got[13200];
	int fd = rump_sys_open(path, RUMP_O_RDONLY);
	int e = errno;

	CHECK(fd != -1, "%s: open(%s): expected success, got errno %d", when, path, e);
	if (fd == -1)
		return;
	ssize_t n = 0, r;
	while (n < (ssize_t)sizeof got && (r = rump_sys_read(fd, got + n, sizeof got - n)) > 0)
		n += r;
	rump_sys_close(fd);
	gen(want, id, seq, len);
	CHECK(n == len && memcmp(got, want, len) == 0,
	    "%s: content of %s: expected write #%d of thread %d (%d bytes), got %zd bytes starting \"%.11s\"",
	    when, path, seq, id, len, n, n > 0 ? got : "");
}

static int
write_file(const char *path, int flags, int id, int seq, int len)
{
	static __thread char buf[13100];
	int fd = rump_sys_open(path, RUMP_O_WRONLY | RUMP_O_CREAT | RUMP_O_TRUNC | flags, 0644);

	if (fd == -1)
		return -1;
	gen(buf, id, seq, len);
	/* Two writes, so that a reader in between would see a partial file if that were possible. */
	ssize_t w1 = rump_sys_write(fd, buf, len / 2);
	ssize_t w2 = rump_sys_write(fd, buf + len / 2, len - len / 2);
	int e = errno;
	rump_sys_close(fd);
	errno = e;
	return w1 == len / 2 && w2 == len - len / 2 ? 0 : -1;
}

#define EXPECT_CALL(call, want_err, ...) do {				\
	errno = 0;							\
	int rv_ = (call);						\
	int e_ = errno;							\
	if ((want_err) == 0)						\
		CHECK(rv_ != -1, "thread %d op %d: %s: expected success, got errno %d (%s)", \
		    m->id, m->ops, #call, e_, strerror(e_));		\
	else								\
		CHECK(rv_ == -1 && e_ == (want_err), "thread %d op %d: %s: expected errno %d (%s), got %d errno %d", \
		    m->id, m->ops, #call, (want_err), strerror(want_err), rv_, e_); \
} while (0)

static void
check_own_listing(struct model *m, const char *dir)
{
	static __thread char buf[16384];
	char seen[NFILES + NDIRS];
	int fd, got, n = 0;

	memset(seen, 0, sizeof seen);
	fd = rump_sys_open(dir, RUMP_O_RDONLY | RUMP_O_DIRECTORY);
	CHECK(fd != -1, "thread %d: open(%s): errno %d", m->id, dir, errno);
	if (fd == -1)
		return;
	while ((got = rump_sys_getdents(fd, buf, sizeof buf)) > 0) {
		for (int off = 0; off < got;) {
			struct rump_dirent *d = (struct rump_dirent *)(buf + off);
			int x;
			char c;
			if (d->d_reclen == 0)
				break;
			off += d->d_reclen;
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			n++;
			if (sscanf(d->d_name, "f%d%c", &x, &c) == 1 && x >= 0 && x < NFILES) {
				CHECK(m->f[x].exists && d->d_type == RUMP_DT_REG && !seen[x],
				    "thread %d op %d: getdents(%s): unexpected f%d (exists %d, type %d, seen %d)",
				    m->id, m->ops, dir, x, m->f[x].exists, d->d_type, seen[x]);
				seen[x] = 1;
			} else if (sscanf(d->d_name, "d%d%c", &x, &c) == 1 && x >= 0 && x < NDIRS) {
				CHECK(m->dir[x] && d->d_type == RUMP_DT_DIR && !seen[NFILES + x],
				    "thread %d op %d: getdents(%s): unexpected d%d", m->id, m->ops, dir, x);
				seen[NFILES + x] = 1;
			} else if (strcmp(d->d_name, "sdm") == 0) {
				CHECK(m->sd == 2 && d->d_type == RUMP_DT_DIR, "thread %d op %d: getdents(%s): unexpected sdm",
				    m->id, m->ops, dir);
			} else
				CHECK(0, "thread %d op %d: getdents(%s): unexpected name \"%s\"", m->id, m->ops, dir, d->d_name);
		}
	}
	CHECK(got == 0, "thread %d: getdents(%s): expected 0 at the end, got %d errno %d", m->id, dir, got, errno);
	rump_sys_close(fd);
	int want = 0;
	for (int x = 0; x < NFILES; x++)
		want += m->f[x].exists;
	for (int x = 0; x < NDIRS; x++)
		want += m->dir[x];
	want += m->sd == 2;
	CHECK(n == want, "thread %d op %d: getdents(%s): expected %d entries, got %d", m->id, m->ops, dir, want, n);
}

/* One listing of the shared directory in one call: every name well formed, none twice. */
static void
check_common_listing(struct model *m)
{
	static __thread char buf[65536];
	static __thread char names[512][32];
	int fd, got, n = 0;

	fd = rump_sys_open("/t/common", RUMP_O_RDONLY);
	if (fd == -1) {
		CHECK(0, "thread %d: open(/t/common): errno %d", m->id, errno);
		return;
	}
	got = rump_sys_getdents(fd, buf, sizeof buf);
	CHECK(got > 0, "thread %d: getdents(/t/common): expected records, got %d errno %d", m->id, got, errno);
	for (int off = 0; got > 0 && off < got;) {
		struct rump_dirent *d = (struct rump_dirent *)(buf + off);
		int a, b;
		char c;
		if (d->d_reclen == 0)
			break;
		off += d->d_reclen;
		int ok = strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 || strcmp(d->d_name, "hot") == 0 ||
		    (sscanf(d->d_name, "c%d_%d%c", &a, &b, &c) == 2 && a >= 0 && a < NTHREADS && b >= 0 && b < NFILES) ||
		    (sscanf(d->d_name, "sd%d%c", &a, &c) == 1 && a >= 0 && a < NTHREADS) ||
		    (sscanf(d->d_name, "hot%d%c", &a, &c) == 1);
		CHECK(ok, "thread %d: getdents(/t/common): unexpected name \"%.40s\" (namlen %u)", m->id, d->d_name, d->d_namlen);
		int dup = 0;
		for (int i = 0; i < n; i++)
			dup |= strcmp(names[i], d->d_name) == 0;
		CHECK(!dup, "thread %d: one getdents(/t/common) call: \"%s\" listed twice", m->id, d->d_name);
		if (n < 512)
			snprintf(names[n++], sizeof names[0], "%.31s", d->d_name);
	}
	rump_sys_close(fd);
}

static void
one_op(struct model *m, const char *home)
{
	char p1[128], p2[128];
	struct rump_stat st;
	int x = (int)rnd(m, NFILES), y = (int)rnd(m, NFILES), j = (int)rnd(m, NDIRS), g = (int)rnd(m, NSUB);
	int op = (int)rnd(m, 21);
	int id = m->id, e;

	m->ops++;
	switch (op) {
	case 0: case 1: case 2: {	/* (re)write a file of its own */
		int len = gen_len(m), seq = ++m->seq;
		snprintf(p1, sizeof p1, "%s/f%d", home, x);
		EXPECT_CALL(write_file(p1, 0, id, seq, len), 0);
		m->f[x] = (struct content){ 1, seq, len };
		break;
	}
	case 3: case 4:			/* read it back */
		snprintf(p1, sizeof p1, "%s/f%d", home, x);
		if (m->f[x].exists)
			verify_file(p1, id, m->f[x].seq, m->f[x].len, "read");
		else
			EXPECT_CALL(rump_sys_open(p1, RUMP_O_RDONLY), ENOENT);
		break;
	case 5:				/* stat */
		snprintf(p1, sizeof p1, "%s/f%d", home, x);
		if (m->f[x].exists) {
			EXPECT_CALL(rump_sys_stat(p1, &st), 0);
			CHECK(st.st_size == m->f[x].len && st.st_nlink == 1 &&
			    (st.st_mode & RUMP_S_IFMT) == RUMP_S_IFREG,
			    "thread %d op %d: stat(%s): expected size %d nlink 1 regular, got size %lld nlink %u mode 0%o",
			    id, m->ops, p1, m->f[x].len, (long long)st.st_size, st.st_nlink, st.st_mode);
		} else
			EXPECT_CALL(rump_sys_stat(p1, &st), ENOENT);
		break;
	case 6:				/* rename within its directory, maybe over another */
		snprintf(p1, sizeof p1, "%s/f%d", home, x);
		snprintf(p2, sizeof p2, "%s/f%d", home, y);
		e = m->f[x].exists ? 0 : ENOENT;
		EXPECT_CALL(rump_sys_rename(p1, p2), e);
		if (e == 0 && x != y) {
			m->f[y] = m->f[x];
			m->f[x].exists = 0;
		}
		break;
	case 7:				/* unlink */
		snprintf(p1, sizeof p1, "%s/f%d", home, x);
		EXPECT_CALL(rump_sys_unlink(p1), m->f[x].exists ? 0 : ENOENT);
		m->f[x].exists = 0;
		break;
	case 8:				/* mkdir */
		snprintf(p1, sizeof p1, "%s/d%d", home, j);
		EXPECT_CALL(rump_sys_mkdir(p1, 0755), m->dir[j] ? EEXIST : 0);
		m->dir[j] = 1;
		break;
	case 9: {			/* rmdir */
		int nonempty = 0;
		for (int k = 0; k < NSUB; k++)
			nonempty |= m->sub[j][k].exists;
		snprintf(p1, sizeof p1, "%s/d%d", home, j);
		EXPECT_CALL(rump_sys_rmdir(p1), !m->dir[j] ? ENOENT : nonempty ? ENOTEMPTY : 0);
		if (m->dir[j] && !nonempty)
			m->dir[j] = 0;
		break;
	}
	case 10: {			/* a file in a subdirectory */
		int len = (int)rnd(m, 100), seq = ++m->seq;
		snprintf(p1, sizeof p1, "%s/d%d/g%d", home, j, g);
		EXPECT_CALL(write_file(p1, 0, id, seq, len), m->dir[j] ? 0 : ENOENT);
		if (m->dir[j])
			m->sub[j][g] = (struct content){ 1, seq, len };
		break;
	}
	case 11:
		snprintf(p1, sizeof p1, "%s/d%d/g%d", home, j, g);
		EXPECT_CALL(rump_sys_unlink(p1), !m->dir[j] ? ENOENT : m->sub[j][g].exists ? 0 : ENOENT);
		m->sub[j][g].exists = 0;
		break;
	case 12:			/* list its directory */
		check_own_listing(m, home);
		break;
	case 13:			/* move a file out to the shared directory, or back */
		snprintf(p1, sizeof p1, "%s/f%d", home, x);
		snprintf(p2, sizeof p2, "/t/common/c%d_%d", id, x);
		if (m->f[x].exists) {
			EXPECT_CALL(rump_sys_rename(p1, p2), 0);
			m->common[x] = m->f[x];
			m->f[x].exists = 0;
		} else {
			EXPECT_CALL(rump_sys_rename(p2, p1), m->common[x].exists ? 0 : ENOENT);
			if (m->common[x].exists)
				m->f[x] = m->common[x];
			m->common[x].exists = 0;
		}
		break;
	case 14: {			/* a record appended to a shared file */
		int s = (int)rnd(m, NSHARED);
		char rec[RECLEN + 1];
		snprintf(p1, sizeof p1, "/t/shared%d", s);
		snprintf(rec, sizeof rec, "T%d:%08d:%-19s\n", id, m->appends[s], "record");
		int fd = rump_sys_open(p1, RUMP_O_WRONLY | RUMP_O_APPEND);
		CHECK(fd != -1, "thread %d: open(%s, O_APPEND): errno %d", id, p1, errno);
		if (fd != -1) {
			EXPECT_CALL((int)rump_sys_write(fd, rec, RECLEN) == RECLEN ? 0 : -1, 0);
			rump_sys_close(fd);
			m->appends[s]++;
		}
		break;
	}
	case 15: {			/* its slot of the shared slot file */
		char buf[SLOTLEN];
		int seq = ++m->seq;
		gen(buf, id, seq, SLOTLEN);
		int fd = rump_sys_open("/t/slots", RUMP_O_RDWR);
		CHECK(fd != -1, "thread %d: open(/t/slots): errno %d", id, errno);
		if (fd != -1) {
			EXPECT_CALL((int)rump_sys_pwrite(fd, buf, SLOTLEN, (off_t)id * SLOTLEN) == SLOTLEN ? 0 : -1, 0);
			m->slot_seq = seq;
			char back[SLOTLEN];
			EXPECT_CALL((int)rump_sys_pread(fd, back, SLOTLEN, (off_t)id * SLOTLEN) == SLOTLEN ? 0 : -1, 0);
			CHECK(memcmp(back, buf, SLOTLEN) == 0, "thread %d: its slot read back: expected write #%d", id, seq);
			rump_sys_close(fd);
		}
		break;
	}
	case 16:			/* a directory of its own in the shared directory */
		snprintf(p1, sizeof p1, "/t/common/sd%d", id);
		snprintf(p2, sizeof p2, "%s/sdm", home);
		if (m->sd == 0)
			EXPECT_CALL(rump_sys_mkdir(p1, 0755), 0);
		else
			EXPECT_CALL(rump_sys_rmdir(m->sd == 1 ? p1 : p2), 0);
		m->sd = m->sd == 0;
		break;
	case 20:			/* that directory moves between the shared directory and home */
		snprintf(p1, sizeof p1, "/t/common/sd%d", id);
		snprintf(p2, sizeof p2, "%s/sdm", home);
		if (m->sd == 1) {
			EXPECT_CALL(rump_sys_rename(p1, p2), 0);
			m->sd = 2;
		} else if (m->sd == 2) {
			EXPECT_CALL(rump_sys_rename(p2, p1), 0);
			m->sd = 1;
		} else
			EXPECT_CALL(rump_sys_rename(p1, p2), ENOENT);
		break;
	case 17: {			/* everybody renames over /t/common/hot */
		int len = (int)rnd(m, 200), seq = ++m->seq;
		snprintf(p1, sizeof p1, "/t/common/hot%d", id);
		EXPECT_CALL(write_file(p1, 0, id, seq, len), 0);
		EXPECT_CALL(rump_sys_rename(p1, "/t/common/hot"), 0);
		m->hot_seq = seq;
		m->hot_len = len;
		break;
	}
	case 18:
		check_common_listing(m);
		break;
	case 19:			/* a subdirectory's files through a descriptor */
		if (m->dir[j]) {
			snprintf(p1, sizeof p1, "%s/d%d", home, j);
			int dfd = rump_sys_open(p1, RUMP_O_RDONLY | RUMP_O_DIRECTORY);
			CHECK(dfd != -1, "thread %d: open(%s): errno %d", id, p1, errno);
			snprintf(p2, sizeof p2, "g%d", g);
			if (m->sub[j][g].exists) {
				EXPECT_CALL(rump_sys_fstatat(dfd, p2, &st, 0), 0);
				CHECK(st.st_size == m->sub[j][g].len, "thread %d: fstatat(%s/%s) size: expected %d, got %lld",
				    id, p1, p2, m->sub[j][g].len, (long long)st.st_size);
			} else
				EXPECT_CALL(rump_sys_fstatat(dfd, p2, &st, 0), ENOENT);
			EXPECT_CALL(rump_sys_fstat(dfd, &st), 0);
			CHECK(st.st_nlink == 2, "thread %d: %s nlink: expected 2, got %u", id, p1, st.st_nlink);
			rump_sys_close(dfd);
		}
		break;
	}
}

static void *
worker(void *arg)
{
	struct model *m = arg;
	char home[32];

	/* Each thread is a process of its own with an empty descriptor table. */
	int r = rump_pub_lwproc_rfork(RUMP_RFCFDG);
	CHECK(r == 0, "thread %d: rfork: expected 0, got %d", m->id, r);
	snprintf(home, sizeof home, "/t/w%d", m->id);
	for (int i = 0; i < ITERS; i++) {
		one_op(m, home);
		if ((i & 63) == 0 && elapsed() > DEADLINE_S)
			break;
	}
	rump_pub_lwproc_releaselwp();
	return NULL;
}

/* ---- the final walk ---- */

static void
expect_file(const char *path, const struct content *c, int id)
{
	struct rump_stat st;

	if (!c->exists) {
		CHECK(rump_sys_lstat(path, &st) == -1 && errno == ENOENT, "final: %s: expected absent, but it exists", path);
		return;
	}
	CHECK(rump_sys_lstat(path, &st) == 0, "final: %s: expected a file, got errno %d", path, errno);
	EXPECT_MODE(st.st_mode & RUMP_S_IFMT, RUMP_S_IFREG);
	EXPECT_EQ(st.st_nlink, 1);
	EXPECT_EQ(st.st_size, c->len);
	verify_file(path, id, c->seq, c->len, "final");
}

/* Lists dir (without "." and ".."), returning the count; names into out. */
static int
list_dir(const char *dir, char out[][64], unsigned char *types, int max)
{
	static char names[256][512];
	static unsigned char t[256];
	int fd = rump_sys_open(dir, RUMP_O_RDONLY | RUMP_O_DIRECTORY), n, k = 0;

	CHECK(fd != -1, "final: open(%s): errno %d", dir, errno);
	if (fd == -1)
		return 0;
	n = rtest_readdir(fd, names, t, 256);
	rump_sys_close(fd);
	CHECK(n >= 2, "final: getdents(%s): expected at least . and .., got %d", dir, n);
	for (int i = 0; i < n && i < 256; i++) {
		if (strcmp(names[i], ".") == 0 || strcmp(names[i], "..") == 0)
			continue;
		if (k < max) {
			snprintf(out[k], 64, "%.63s", names[i]);
			types[k] = t[i];
		}
		k++;
	}
	return k;
}

/* Directory link count must be 2 + its subdirectories (counted by walking). */
static void
check_dir_links(const char *dir)
{
	static char names[256][64];
	unsigned char types[256];
	struct rump_stat st;
	char p[160];
	int n = list_dir(dir, names, types, 256), subdirs = 0;

	for (int i = 0; i < n && i < 256; i++) {
		snprintf(p, sizeof p, "%.80s/%.63s", dir, names[i]);
		if (rump_sys_lstat(p, &st) == 0 && (st.st_mode & RUMP_S_IFMT) == RUMP_S_IFDIR)
			subdirs++;
	}
	CHECK(rump_sys_stat(dir, &st) == 0, "final: stat(%s): errno %d", dir, errno);
	CHECK(st.st_nlink == (unsigned)(2 + subdirs), "final: %s nlink: expected 2 + %d subdirectories = %d, got %u",
	    dir, subdirs, 2 + subdirs, st.st_nlink);
}

static void
final_check(void)
{
	static char names[256][64];
	unsigned char types[256];
	char p[160];
	int n, id, x, j, g;

	/* /t holds exactly w0..w7, common, shared0..2 and slots. */
	n = list_dir("/t", names, types, 256);
	EXPECT_EQ(n, NTHREADS + 1 + NSHARED + 1);
	for (int i = 0; i < n && i < 256; i++) {
		int a;
		char c;
		int ok = (sscanf(names[i], "w%d%c", &a, &c) == 1 && a >= 0 && a < NTHREADS && types[i] == RUMP_DT_DIR) ||
		    (strcmp(names[i], "common") == 0 && types[i] == RUMP_DT_DIR) ||
		    (sscanf(names[i], "shared%d%c", &a, &c) == 1 && a >= 0 && a < NSHARED && types[i] == RUMP_DT_REG) ||
		    (strcmp(names[i], "slots") == 0 && types[i] == RUMP_DT_REG);
		CHECK(ok, "final: /t: unexpected entry \"%s\" (type %d)", names[i], types[i]);
	}
	check_dir_links("/t");

	/* Each thread's own directory. */
	for (id = 0; id < NTHREADS; id++) {
		struct model *m = &models[id];
		int want = 0;
		snprintf(p, sizeof p, "/t/w%d", id);
		n = list_dir(p, names, types, 256);
		for (x = 0; x < NFILES; x++)
			want += m->f[x].exists;
		for (j = 0; j < NDIRS; j++)
			want += m->dir[j];
		want += m->sd == 2;
		CHECK(n == want, "final: /t/w%d: expected %d entries, got %d", id, want, n);
		for (x = 0; x < NFILES; x++) {
			snprintf(p, sizeof p, "/t/w%d/f%d", id, x);
			expect_file(p, &m->f[x], id);
		}
		for (j = 0; j < NDIRS; j++) {
			struct rump_stat st;
			snprintf(p, sizeof p, "/t/w%d/d%d", id, j);
			if (!m->dir[j]) {
				CHECK(rump_sys_lstat(p, &st) == -1 && errno == ENOENT, "final: %s: expected absent", p);
				continue;
			}
			CHECK(rump_sys_lstat(p, &st) == 0 && (st.st_mode & RUMP_S_IFMT) == RUMP_S_IFDIR,
			    "final: %s: expected a directory", p);
			int wantsub = 0;
			for (g = 0; g < NSUB; g++) {
				wantsub += m->sub[j][g].exists;
				snprintf(p, sizeof p, "/t/w%d/d%d/g%d", id, j, g);
				expect_file(p, &m->sub[j][g], id);
			}
			snprintf(p, sizeof p, "/t/w%d/d%d", id, j);
			static char sub[64][64];
			unsigned char st2[64];
			EXPECT_EQ(list_dir(p, sub, st2, 64), wantsub);
			check_dir_links(p);
		}
		snprintf(p, sizeof p, "/t/w%d", id);
		check_dir_links(p);
	}

	/* The shared directory: exactly the moved-out files, the sd dirs and hot. */
	n = list_dir("/t/common", names, types, 256);
	int want = 0, anyhot = 0;
	for (id = 0; id < NTHREADS; id++) {
		struct model *m = &models[id];
		for (x = 0; x < NFILES; x++) {
			want += m->common[x].exists;
			snprintf(p, sizeof p, "/t/common/c%d_%d", id, x);
			expect_file(p, &m->common[x], id);
		}
		want += m->sd == 1;
		snprintf(p, sizeof p, "/t/common/sd%d", id);
		struct rump_stat st;
		if (m->sd == 1)
			CHECK(rump_sys_lstat(p, &st) == 0 && (st.st_mode & RUMP_S_IFMT) == RUMP_S_IFDIR && st.st_nlink == 2,
			    "final: %s: expected an empty directory", p);
		else
			CHECK(rump_sys_lstat(p, &st) == -1 && errno == ENOENT, "final: %s: expected absent", p);
		snprintf(p, sizeof p, "/t/w%d/sdm", id);
		if (m->sd == 2) {
			CHECK(rump_sys_lstat(p, &st) == 0 && (st.st_mode & RUMP_S_IFMT) == RUMP_S_IFDIR && st.st_nlink == 2,
			    "final: %s: expected an empty directory", p);
			/* Its ".." followed it home. */
			struct rump_stat dd, home;
			char q[64];
			snprintf(q, sizeof q, "/t/w%d/sdm/..", id);
			EXPECT_OK(rump_sys_stat(q, &dd));
			snprintf(q, sizeof q, "/t/w%d", id);
			EXPECT_OK(rump_sys_stat(q, &home));
			CHECK(dd.st_ino == home.st_ino, "final: /t/w%d/sdm/..: expected /t/w%d (ino %llu), got ino %llu",
			    id, id, (unsigned long long)home.st_ino, (unsigned long long)dd.st_ino);
		} else
			CHECK(rump_sys_lstat(p, &st) == -1 && errno == ENOENT, "final: %s: expected absent", p);
		anyhot |= m->hot_seq >= 0;
		snprintf(p, sizeof p, "/t/common/hot%d", id);
		CHECK(rump_sys_lstat(p, &st) == -1 && errno == ENOENT, "final: %s: expected renamed away", p);
	}
	want += anyhot;
	CHECK(n == want, "final: /t/common: expected %d entries, got %d", want, n);
	check_dir_links("/t/common");

	/* hot is the last content one of the threads renamed there. */
	if (anyhot) {
		char got[256];
		ssize_t len = rtest_get("/t/common/hot", got, sizeof got);
		int who = -1;
		for (id = 0; id < NTHREADS; id++) {
			char want2[256];
			struct model *m = &models[id];
			if (m->hot_seq < 0 || len != m->hot_len)
				continue;
			gen(want2, id, m->hot_seq, m->hot_len);
			if (memcmp(got, want2, len) == 0)
				who = id;
		}
		CHECK(who >= 0, "final: /t/common/hot: expected some thread's last rename, got %zd bytes \"%.11s\"", len,
		    len > 0 ? got : "");
	}

	/* Shared files: whole records, each thread's in order, as many as it wrote. */
	for (int s = 0; s < NSHARED; s++) {
		static char buf[NTHREADS * ITERS * RECLEN / 4 + RECLEN];
		int next[NTHREADS] = { 0 }, total = 0;
		snprintf(p, sizeof p, "/t/shared%d", s);
		for (id = 0; id < NTHREADS; id++)
			total += models[id].appends[s];
		int fd = rump_sys_open(p, RUMP_O_RDONLY);
		ssize_t len = 0, r;
		while (len < (ssize_t)sizeof buf && (r = rump_sys_read(fd, buf + len, sizeof buf - len)) > 0)
			len += r;
		rump_sys_close(fd);
		CHECK(len == (ssize_t)total * RECLEN, "final: %s: expected %d records (%d bytes), got %zd bytes",
		    p, total, total * RECLEN, len);
		for (ssize_t off = 0; off + RECLEN <= len; off += RECLEN) {
			int t, q;
			char c;
			if (sscanf(buf + off, "T%d:%d:%c", &t, &q, &c) != 3 || t < 0 || t >= NTHREADS || buf[off + RECLEN - 1] != '\n') {
				CHECK(0, "final: %s: malformed record at offset %zd: \"%.31s\"", p, off, buf + off);
				break;
			}
			CHECK(q == next[t], "final: %s: thread %d's record at offset %zd: expected #%d, got #%d", p, t, off, next[t], q);
			next[t] = q + 1;
		}
		for (id = 0; id < NTHREADS; id++)
			CHECK(next[id] == models[id].appends[s], "final: %s: thread %d: expected %d records, found %d",
			    p, id, models[id].appends[s], next[id]);
	}

	/* Slots: each thread's last write. */
	{
		char got[SLOTLEN], want2[SLOTLEN];
		struct rump_stat st;
		EXPECT_OK(rump_sys_stat("/t/slots", &st));
		EXPECT_EQ(st.st_size, NTHREADS * SLOTLEN);
		int fd = EXPECT_OK(rump_sys_open("/t/slots", RUMP_O_RDONLY));
		for (id = 0; id < NTHREADS; id++) {
			gen(want2, id, models[id].slot_seq, SLOTLEN);
			EXPECT_EQ(rump_sys_pread(fd, got, SLOTLEN, (off_t)id * SLOTLEN), SLOTLEN);
			CHECK(memcmp(got, want2, SLOTLEN) == 0, "final: /t/slots slot %d: expected write #%d, got \"%.11s\"",
			    id, models[id].slot_seq, got);
		}
		rump_sys_close(fd);
	}
}

int
main(void)
{
	pthread_t th[NTHREADS];
	char p[64];

	rtest_init();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	EXPECT_OK(rump_sys_mkdir("/t", 0755));
	EXPECT_OK(rump_sys_mkdir("/t/common", 0777));
	for (int s = 0; s < NSHARED; s++) {
		snprintf(p, sizeof p, "/t/shared%d", s);
		EXPECT_OK(rtest_put(p, "", 0));
	}
	/* Every slot gets an initial write, so the file's size is known. */
	int fd = EXPECT_OK(rump_sys_open("/t/slots", RUMP_O_RDWR | RUMP_O_CREAT, 0644));
	for (int id = 0; id < NTHREADS; id++) {
		struct model *m = &models[id];
		char buf[SLOTLEN];
		m->id = id;
		m->rng = 0x9e3779b97f4a7c15ULL * (unsigned)(id + 1);
		m->hot_seq = -1;
		m->slot_seq = ++m->seq;
		gen(buf, id, m->slot_seq, SLOTLEN);
		EXPECT_EQ(rump_sys_pwrite(fd, buf, SLOTLEN, (off_t)id * SLOTLEN), SLOTLEN);
		snprintf(p, sizeof p, "/t/w%d", id);
		EXPECT_OK(rump_sys_mkdir(p, 0755));
	}
	rump_sys_close(fd);

	for (int id = 0; id < NTHREADS; id++)
		EXPECT_EQ(pthread_create(&th[id], NULL, worker, &models[id]), 0);
	for (int id = 0; id < NTHREADS; id++)
		pthread_join(th[id], NULL);
	int ops = 0;
	for (int id = 0; id < NTHREADS; id++)
		ops += models[id].ops;
	printf("%d threads ran %d operations in %.2f s\n", NTHREADS, ops, elapsed());
	CHECK(ops > NTHREADS * 100, "operations run before the deadline: expected > %d, got %d", NTHREADS * 100, ops);

	final_check();
	return rtest_done();
}
