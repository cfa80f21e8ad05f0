/*
 * Random file-system operations in lockstep (after fsx): a seeded sequence of create, write at
 * random offsets, read, truncate, rename, unlink, mkdir, rmdir, link and chmod runs on two
 * directories at once, A (the reference: a host tmpfs directory) and B (the file system under
 * test). Each operation's outcome (success or errno) must be the same on both, each read returns
 * the same bytes, and every CHECK steps and at the end the two trees are compared whole (names,
 * types, sizes, contents, and modes and link counts where the file system keeps them).
 * On a mismatch it prints the seed, the step and the operation, and exits 1.
 *
 * usage: fsx [-L] [-M] A B SEED STEPS CHECK
 *   -L  no hard links (the file system has none: link is not tried)
 *   -M  no modes (the file system keeps none: chmod is not tried, modes are not compared)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *A, *B;
static unsigned long long seed;
static long step;
static int nolinks, nomodes;
static uint64_t rs;

static uint64_t rnd(void)
{
    rs ^= rs >> 12; rs ^= rs << 25; rs ^= rs >> 27;
    return rs * 2685821657736338717ULL;
}
static long below(long n) { return (long)(rnd() % (uint64_t)n); }

static char op[512];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    printf("MISMATCH seed %llu step %ld op %s: ", seed, step, op);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(1);
}

static const char *outcome(long r, int e)
{
    static char b[2][32];
    static int i;
    char *s = b[i++ & 1];
    if (r < 0) snprintf(s, 32, "errno %d (%s)", e, strerror(e)); else snprintf(s, 32, "ok");
    return s;
}

/* Both outcomes must agree (success, or the same errno). */
static void same(long ra, int ea, long rb, int eb)
{
    if ((ra < 0) != (rb < 0) || (ra < 0 && ea != eb)) fail("reference %s, under test %s", outcome(ra, ea), outcome(rb, eb));
}

static void path(char *out, const char *root, const char *rel)
{
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", root, rel) >= PATH_MAX) fail("path too long: %s/%s", root, rel);
}

/* A random relative name: at the top or inside one of the first directories, lower case only (FAT). */
static void pick(char *rel)
{
    static const char *dirs[] = { "", "d0/", "d1/", "d0/d1/", "d2/" };
    int d = (int)below(5);
    if (below(4) == 0) snprintf(rel, 64, "%sd%ld", dirs[d], below(3));
    else snprintf(rel, 64, "%sf%ld", dirs[d], below(8));
}

static unsigned char bufA[256 << 10], bufB[256 << 10], data[256 << 10];

static void opWrite(void)
{
    char rel[64], pa[PATH_MAX], pb[PATH_MAX];
    pick(rel);
    long off = below(4) == 0 ? below(1 << 20) : below(64 << 10), len = 1 + below(64 << 10);
    for (long i = 0; i < len; i += 8) { uint64_t v = rnd(); memcpy(data + i, &v, len - i < 8 ? (size_t)(len - i) : 8); }
    int flags = O_WRONLY | O_CREAT | (below(8) == 0 ? O_TRUNC : 0) | (below(8) == 0 ? O_APPEND : 0);
    snprintf(op, sizeof op, "write %s off %ld len %ld flags %#x", rel, off, len, flags);
    path(pa, A, rel); path(pb, B, rel);
    int fa = open(pa, flags, 0644), ea = errno;
    int fb = open(pb, flags, 0644), eb = errno;
    same(fa, ea, fb, eb);
    if (fa < 0) return;
    ssize_t wa = pwrite(fa, data, len, off); ea = errno;
    ssize_t wb = pwrite(fb, data, len, off); eb = errno;
    same(wa, ea, wb, eb);
    if (wa != wb) fail("wrote %zd vs %zd bytes", wa, wb);
    if (below(16) == 0) { int sa = fsync(fa); ea = errno; int sb = fsync(fb); eb = errno; same(sa, ea, sb, eb); }
    close(fa);
    close(fb);
}

static void opRead(void)
{
    char rel[64], pa[PATH_MAX], pb[PATH_MAX];
    pick(rel);
    long off = below(4) == 0 ? below(1 << 20) : below(64 << 10), len = 1 + below(sizeof bufA);
    snprintf(op, sizeof op, "read %s off %ld len %ld", rel, off, len);
    path(pa, A, rel); path(pb, B, rel);
    int fa = open(pa, O_RDONLY), ea = errno;
    int fb = open(pb, O_RDONLY), eb = errno;
    same(fa, ea, fb, eb);
    if (fa < 0) return;
    ssize_t ra = pread(fa, bufA, len, off); ea = errno;
    ssize_t rb = pread(fb, bufB, len, off); eb = errno;
    close(fa);
    close(fb);
    same(ra, ea, rb, eb);
    if (ra != rb) fail("read %zd vs %zd bytes", ra, rb);
    if (ra > 0 && memcmp(bufA, bufB, ra) != 0) {
        long i = 0;
        while (bufA[i] == bufB[i]) i++;
        fail("the bytes differ from file offset %ld", off + i);
    }
}

#define BOTH(call_a, call_b) do { long ra_ = (call_a); int ea_ = errno; long rb_ = (call_b); int eb_ = errno; same(ra_, ea_, rb_, eb_); } while (0)

static void opTwo(int which)
{
    char r1[64], r2[64], a1[PATH_MAX], b1[PATH_MAX], a2[PATH_MAX], b2[PATH_MAX];
    pick(r1); pick(r2);
    path(a1, A, r1); path(b1, B, r1); path(a2, A, r2); path(b2, B, r2);
    switch (which) {
    case 0:
        snprintf(op, sizeof op, "rename %s %s", r1, r2);
        BOTH(rename(a1, a2), rename(b1, b2));
        break;
    case 1:
        snprintf(op, sizeof op, "link %s %s", r1, r2);
        BOTH(link(a1, a2), link(b1, b2));
        break;
    case 2: {
        long size = below(4) == 0 ? below(1 << 20) : below(80 << 10);
        snprintf(op, sizeof op, "truncate %s %ld", r1, size);
        BOTH(truncate(a1, size), truncate(b1, size));
        break;
    }
    case 3:
        snprintf(op, sizeof op, "unlink %s", r1);
        BOTH(unlink(a1), unlink(b1));
        break;
    case 4:
        snprintf(op, sizeof op, "mkdir %s", r1);
        BOTH(mkdir(a1, 0755), mkdir(b1, 0755));
        break;
    case 5:
        snprintf(op, sizeof op, "rmdir %s", r1);
        BOTH(rmdir(a1), rmdir(b1));
        break;
    case 6: {
        mode_t m = below(2) ? 0600 : 0755;
        snprintf(op, sizeof op, "chmod %s %o", r1, m);
        BOTH(chmod(a1, m), chmod(b1, m));
        break;
    }
    }
}

static int cmpstr(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* The sorted names of a directory (without . and ..); *n gets their count. */
static char **names(const char *dir, int *n)
{
    DIR *d = opendir(dir);
    *n = 0;
    if (!d) return NULL;
    char **v = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (*n == cap) { cap = cap ? cap * 2 : 16; v = realloc(v, cap * sizeof *v); }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmpstr);
    return v;
}

static void compareFiles(const char *pa, const char *pb, const char *rel)
{
    int fa = open(pa, O_RDONLY), fb = open(pb, O_RDONLY);
    if (fa < 0 || fb < 0) fail("cannot open %s for the comparison (%s)", rel, strerror(errno));
    long at = 0;
    for (;;) {
        ssize_t ra = read(fa, bufA, sizeof bufA), rb = read(fb, bufB, sizeof bufB);
        if (ra != rb || (ra > 0 && memcmp(bufA, bufB, ra) != 0)) fail("contents differ: %s at or after offset %ld", rel, at);
        if (ra <= 0) break;
        at += ra;
    }
    close(fa);
    close(fb);
}

static long compareTrees(const char *rel)
{
    char da[PATH_MAX], db[PATH_MAX];
    path(da, A, rel); path(db, B, rel);
    int na, nb;
    char **va = names(da, &na), **vb = names(db, &nb);
    long count = na;
    for (int i = 0; i < na || i < nb; i++) {
        const char *x = i < na ? va[i] : "(none)", *y = i < nb ? vb[i] : "(none)";
        if (i >= na || i >= nb || strcmp(x, y) != 0) fail("tree: in '%s' the reference has '%s', the file system under test '%s'", rel, x, y);
        char r[512], pa[PATH_MAX], pb[PATH_MAX];
        if ((size_t)snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", x) >= sizeof r) fail("name too long under %s", rel);
        path(pa, A, r); path(pb, B, r);
        struct stat sa, sb;
        if (lstat(pa, &sa) < 0 || lstat(pb, &sb) < 0) fail("tree: cannot stat %s (%s)", r, strerror(errno));
        if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) fail("%s: type differs, %o vs %o", r, sa.st_mode, sb.st_mode);
        if (!nomodes && (sa.st_mode & 07777) != (sb.st_mode & 07777)) fail("%s: mode differs, %o vs %o", r, sa.st_mode & 07777, sb.st_mode & 07777);
        if (S_ISDIR(sa.st_mode)) { count += compareTrees(r); continue; }
        if (sa.st_size != sb.st_size) fail("%s: size differs, %ld vs %ld", r, (long)sa.st_size, (long)sb.st_size);
        if (!nolinks && sa.st_nlink != sb.st_nlink) fail("%s: link count differs, %ld vs %ld", r, (long)sa.st_nlink, (long)sb.st_nlink);
        compareFiles(pa, pb, r);
    }
    for (int i = 0; i < na; i++) free(va[i]);
    for (int i = 0; i < nb; i++) free(vb[i]);
    free(va);
    free(vb);
    return count;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-L")) nolinks = 1;
        else if (!strcmp(argv[i], "-M")) nomodes = 1;
        else { fprintf(stderr, "fsx: unknown option %s\n", argv[i]); return 2; }
    }
    if (argc - i != 5) { fprintf(stderr, "usage: fsx [-L] [-M] A B SEED STEPS CHECK\n"); return 2; }
    A = argv[i];
    B = argv[i + 1];
    seed = strtoull(argv[i + 2], NULL, 0);
    long steps = atol(argv[i + 3]), check = atol(argv[i + 4]);
    rs = seed * 0x9e3779b97f4a7c15ULL + 1;
    umask(022);
    long counts[9] = { 0 };
    for (step = 1; step <= steps; step++) {
        long k = below(100);
        int which;
        if (k < 35) which = 7;            /* write */
        else if (k < 55) which = 8;       /* read */
        else if (k < 63) which = 0;       /* rename */
        else if (k < 68) which = 1;       /* link */
        else if (k < 78) which = 2;       /* truncate */
        else if (k < 86) which = 3;       /* unlink */
        else if (k < 92) which = 4;       /* mkdir */
        else if (k < 97) which = 5;       /* rmdir */
        else which = 6;                   /* chmod */
        if ((which == 1 && nolinks) || (which == 6 && nomodes)) which = 8;
        counts[which]++;
        if (which == 7) opWrite();
        else if (which == 8) opRead();
        else opTwo(which);
        if (step % check == 0) { snprintf(op, sizeof op, "(the comparison of the trees)"); compareTrees(""); }
    }
    step = steps;
    snprintf(op, sizeof op, "(the final comparison of the trees)");
    long entries = compareTrees("");
    printf("seed %llu: %ld steps, equal (%ld entries at the end; writes %ld reads %ld renames %ld links %ld truncates %ld unlinks %ld mkdirs %ld rmdirs %ld chmods %ld)\n",
        seed, steps, entries, counts[7], counts[8], counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]);
    return 0;
}
