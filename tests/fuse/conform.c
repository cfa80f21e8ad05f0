/*
 * A POSIX file-system conformance check: runs every operation rumpfuse serves, with its error
 * cases, in an empty directory, and prints one line per check, "name<TAB>result", where the
 * result is "ok", an errno name, or a value that does not depend on the file system's identity
 * (sizes, counts, yes/no). The same program run on a host tmpfs directory is the reference: the
 * caller (tests/Rump.Tests/FuseConformanceTests.cs) compares the two outputs line by line, with
 * the differences a format dictates (FAT: no owners, no links, 2 s mtimes, case-insensitive names)
 * in an explicit table there.
 *
 * Checks that need another user (EACCES, sticky directories) run in a child that switches to
 * uid/gid 1000 with setresuid; as a user other than root they print "needs-root" on every file
 * system alike.
 *
 * usage: conform DIR OTHERDIR     (DIR empty; OTHERDIR writable, on another file system: EXDEV)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

static const char *D, *X;


static const char *ename(int e)
{
    switch (e) {
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EIO: return "EIO";
    case EBADF: return "EBADF"; case EACCES: return "EACCES"; case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV"; case ENOTDIR: return "ENOTDIR"; case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL"; case EFBIG: return "EFBIG"; case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS"; case EMLINK: return "EMLINK"; case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS"; case ENOTEMPTY: return "ENOTEMPTY"; case ELOOP: return "ELOOP";
    case EOPNOTSUPP: return "EOPNOTSUPP"; case ENODATA: return "ENODATA"; case EBUSY: return "EBUSY";
    case ENXIO: return "ENXIO"; case ETXTBSY: return "ETXTBSY"; case ESTALE: return "ESTALE";
    case ENOTCONN: return "ENOTCONN";
    default: { static char b[32]; snprintf(b, sizeof b, "errno%d", e); return b; }
    }
}

static void out(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("%s\t", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* A call's outcome: "ok" or its errno's name. */
static void res(const char *name, long r)
{
    if (r < 0) out(name, "%s", ename(errno)); else out(name, "ok");
}

static char *P(const char *rel)
{
    static char buf[8][PATH_MAX];
    static int i;
    char *b = buf[i++ & 7];
    snprintf(b, PATH_MAX, "%s/%s", D, rel);
    return b;
}

static int mkfile(const char *rel, const char *data, mode_t mode)
{
    int fd = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) return -1;
    size_t n = strlen(data);
    if (write(fd, data, n) != (ssize_t)n) { close(fd); return -1; }
    return close(fd);
}

static long fsize(const char *rel)
{
    struct stat st;
    return lstat(P(rel), &st) < 0 ? -1 : (long)st.st_size;
}

static const char *exists(const char *rel)
{
    struct stat st;
    return lstat(P(rel), &st) == 0 ? "yes" : ename(errno);
}

static char *slurp(const char *rel)
{
    static char b[4096];
    int fd = open(P(rel), O_RDONLY);
    if (fd < 0) { snprintf(b, sizeof b, "%s", ename(errno)); return b; }
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    b[n < 0 ? 0 : n] = 0;
    return b;
}

/* Whether bytes [from, to) of the file all read as zero. */
static const char *zeros(const char *rel, long from, long to)
{
    int fd = open(P(rel), O_RDONLY);
    if (fd < 0) return ename(errno);
    char b[8192];
    long at = from;
    while (at < to) {
        long want = to - at < (long)sizeof b ? to - at : (long)sizeof b;
        ssize_t n = pread(fd, b, want, at);
        if (n <= 0) { close(fd); return n < 0 ? ename(errno) : "short"; }
        for (ssize_t i = 0; i < n; i++) if (b[i]) { close(fd); return "nonzero"; }
        at += n;
    }
    close(fd);
    return "zeros";
}

static void names_of(const char *rel, const char *check)
{
    DIR *d = opendir(P(rel));
    if (!d) { out(check, "%s", ename(errno)); return; }
    static char list[64][NAME_MAX + 1];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) snprintf(list[n++], sizeof list[0], "%s", e->d_name);
    closedir(d);
    /* sorted, so that the order a file system keeps does not matter */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(list[i], list[j]) > 0) { char t[sizeof list[0]]; memcpy(t, list[i], sizeof t); memcpy(list[i], list[j], sizeof t); memcpy(list[j], t, sizeof t); }
    static char all[64 * (NAME_MAX + 2)];
    all[0] = 0;
    for (int i = 0; i < n; i++) { strcat(all, list[i]); if (i + 1 < n) strcat(all, ","); }
    out(check, "%s", all);
}

/* ---- the checks ----------------------------------------------------------------------------- */

static void files(void)
{
    res("create", mkfile("f", "hello\n", 0644));
    res("open.excl_existing", open(P("f"), O_WRONLY | O_CREAT | O_EXCL, 0644));
    int fd = open(P("g"), O_WRONLY | O_CREAT | O_EXCL, 0644);
    res("open.excl_new", fd);
    if (fd >= 0) close(fd);
    res("open.missing", open(P("nosuch"), O_RDONLY));
    res("open.missing_dir_component", open(P("nosuch/f"), O_RDONLY));
    res("open.file_as_dir_component", open(P("f/x"), O_RDONLY));
    res("open.directory_flag_on_file", open(P("f"), O_RDONLY | O_DIRECTORY));
    res("open.dir_for_write", open(D, O_WRONLY));
    fd = open(P("f"), O_WRONLY | O_APPEND);
    if (fd >= 0) { lseek(fd, 0, SEEK_SET); res("append.write", write(fd, "more\n", 5)); close(fd); }
    out("append.content", "%s", strcmp(slurp("f"), "hello\nmore\n") == 0 ? "appended" : slurp("f"));
    fd = open(P("f"), O_WRONLY | O_TRUNC);
    res("open.trunc", fd);
    if (fd >= 0) close(fd);
    out("open.trunc_size", "%ld", fsize("f"));
    /* read/write at offsets, EOF */
    fd = open(P("f"), O_RDWR);
    char b[16];
    out("pwrite", "%zd", pwrite(fd, "0123456789", 10, 0));
    out("pread.middle", "%zd", pread(fd, b, 4, 3));
    out("pread.past_eof", "%zd", pread(fd, b, 4, 100));
    close(fd);
    char n[300];
    memset(n, 'a', 256);
    n[256] = 0;
    fd = open(P(n), O_CREAT | O_WRONLY, 0644);
    res("name_too_long.create", fd);
    if (fd >= 0) { close(fd); unlink(P(n)); }
    n[255] = 0;
    fd = open(P(n), O_CREAT | O_WRONLY, 0644);
    res("name_255.create", fd);
    if (fd >= 0) { close(fd); unlink(P(n)); }
}

static void holes(void)
{
    res("truncate.create", mkfile("h", "abc", 0644));
    res("truncate.up", truncate(P("h"), 100000));
    out("truncate.up_size", "%ld", fsize("h"));
    out("truncate.up_reads", "%s", zeros("h", 3, 100000));
    res("truncate.down", truncate(P("h"), 2));
    res("truncate.up_again", truncate(P("h"), 4096 + 10));
    out("truncate.down_up_reads", "%s", zeros("h", 2, 4096 + 10));
    int fd = open(P("h"), O_RDWR);
    out("hole.write_far", "%zd", pwrite(fd, "z", 1, 1 << 20));
    close(fd);
    out("hole.size", "%ld", fsize("h"));
    out("hole.reads", "%s", zeros("h", 4096 + 10, 1 << 20));
    fd = open(P("h"), O_RDWR);
    res("ftruncate", ftruncate(fd, 7));
    close(fd);
    out("ftruncate.size", "%ld", fsize("h"));
    res("truncate.dir", truncate(D, 0));
    res("truncate.missing", truncate(P("nosuch"), 0));
    res("truncate.negative", truncate(P("h"), -1));
}

static void dirs(void)
{
    res("mkdir", mkdir(P("d"), 0755));
    res("mkdir.existing", mkdir(P("d"), 0755));
    res("mkdir.existing_file", mkdir(P("f"), 0755));
    res("mkdir.under_file", mkdir(P("f/sub"), 0755));
    res("mkdir.missing_parent", mkdir(P("nosuch/sub"), 0755));
    struct stat a, b;
    stat(P("d"), &a);
    res("mkdir.sub", mkdir(P("d/sub"), 0755));
    stat(P("d"), &b);
    out("mkdir.parent_nlink_grows", "%ld", (long)(b.st_nlink - a.st_nlink));
    out("mkdir.nlink", "%ld", (long)b.st_nlink);
    res("mkfile.in_dir", mkfile("d/sub/x", "x", 0644));
    res("rmdir.nonempty", rmdir(P("d")));
    res("rmdir.file", rmdir(P("f")));
    res("rmdir.missing", rmdir(P("nosuch")));
    res("rmdir.dot", rmdir(P("d/sub/.")));
    res("unlink.dir", unlink(P("d")));
    res("unlink.missing", unlink(P("nosuch")));
    res("unlink.file", unlink(P("d/sub/x")));
    res("rmdir.empty", rmdir(P("d/sub")));
    out("rmdir.gone", "%s", exists("d/sub"));
    names_of("d", "readdir.after");
    for (int i = 0; i < 40; i++) { char n[32]; snprintf(n, sizeof n, "d/e%02d", i); if (mkfile(n, "", 0644) < 0) { res("mkdir.many_file", -1); break; } }
    names_of("d", "readdir.40");
    for (int i = 0; i < 40; i++) { char n[32]; snprintf(n, sizeof n, "d/e%02d", i); unlink(P(n)); }
}

static void renames(void)
{
    mkdir(P("r"), 0755);
    mkfile("r/a", "A", 0644);
    mkfile("r/b", "B", 0644);
    res("rename.onto_itself", rename(P("r/a"), P("r/a")));
    out("rename.onto_itself_kept", "%s", slurp("r/a"));
    res("rename.replace_file", rename(P("r/a"), P("r/b")));
    out("rename.replace_content", "%s", slurp("r/b"));
    out("rename.replace_source_gone", "%s", exists("r/a"));
    res("rename.missing", rename(P("r/nosuch"), P("r/c")));
    mkdir(P("r/d1"), 0755);
    mkdir(P("r/d2"), 0755);
    mkfile("r/d2/inside", "i", 0644);
    res("rename.dir_onto_nonempty_dir", rename(P("r/d1"), P("r/d2")));
    res("rename.dir_onto_file", rename(P("r/d1"), P("r/b")));
    res("rename.file_onto_dir", rename(P("r/b"), P("r/d1")));
    res("rename.dir_into_own_subdir", rename(P("r/d2"), P("r/d2/sub")));
    mkdir(P("r/d3"), 0755);
    res("rename.dir_onto_empty_dir", rename(P("r/d1"), P("r/d3")));
    out("rename.dir_onto_empty_dir_source_gone", "%s", exists("r/d1"));
    res("rename.dir_across_dirs", rename(P("r/d3"), P("r/d2/moved")));
    out("rename.dir_across_dirs_there", "%s", exists("r/d2/moved"));
    res("rename.file_across_dirs", rename(P("r/b"), P("r/d2/moved/b")));
    out("rename.file_across_dirs_content", "%s", slurp("r/d2/moved/b"));
    char xd[PATH_MAX];
    snprintf(xd, sizeof xd, "%s/xdev-target", X);
    res("rename.exdev", rename(P("r/d2/moved/b"), xd));
    snprintf(xd, sizeof xd, "%s/xdev-link", X);
    res("link.exdev", link(P("r/d2/moved/b"), xd));
    mkfile("r/n1", "1", 0644);
    mkfile("r/n2", "2", 0644);
    res("rename.noreplace_existing", syscall(SYS_renameat2, AT_FDCWD, P("r/n1"), AT_FDCWD, P("r/n2"), RENAME_NOREPLACE));
    res("rename.noreplace_new", syscall(SYS_renameat2, AT_FDCWD, P("r/n1"), AT_FDCWD, P("r/n3"), RENAME_NOREPLACE));
    res("rename.exchange", syscall(SYS_renameat2, AT_FDCWD, P("r/n2"), AT_FDCWD, P("r/n3"), RENAME_EXCHANGE));
    char n2[64];
    snprintf(n2, sizeof n2, "%s", slurp("r/n2"));
    out("rename.exchange_contents", "%s+%s", n2, slurp("r/n3"));
    res("rename.exchange_and_noreplace", syscall(SYS_renameat2, AT_FDCWD, P("r/n2"), AT_FDCWD, P("r/n3"), RENAME_EXCHANGE | RENAME_NOREPLACE));
}

static void links(void)
{
    mkdir(P("l"), 0755);
    mkfile("l/t", "target", 0644);
    struct stat st;
    res("link", link(P("l/t"), P("l/t2")));
    lstat(P("l/t"), &st);
    out("link.nlink", "%ld", (long)st.st_nlink);
    out("link.content", "%s", slurp("l/t2"));
    res("link.existing", link(P("l/t"), P("l/t2")));
    res("link.missing", link(P("l/nosuch"), P("l/t3")));
    res("link.dir", link(P("l"), P("l2")));
    res("rename.between_links", rename(P("l/t"), P("l/t2")));
    out("rename.between_links_both", "%s,%s", exists("l/t"), exists("l/t2"));
    res("unlink.one_link", unlink(P("l/t2")));
    lstat(P("l/t"), &st);
    out("unlink.one_link_nlink", "%ld", lstat(P("l/t"), &st) == 0 ? (long)st.st_nlink : -1L);
    res("symlink", symlink("t", P("l/s")));
    char b[PATH_MAX];
    ssize_t n = readlink(P("l/s"), b, sizeof b);
    out("readlink", "%.*s", n < 0 ? 6 : (int)n, n < 0 ? ename(errno) : b);
    out("symlink.follow", "%s", slurp("l/s"));
    res("symlink.existing", symlink("t", P("l/s")));
    res("readlink.not_link", readlink(P("l/t"), b, sizeof b));
    res("readlink.missing", readlink(P("l/nosuch"), b, sizeof b));
    char longt[1100];
    memset(longt, 'x', 1000); longt[1000] = 0;
    res("symlink.long_target", symlink(longt, P("l/long")));
    n = readlink(P("l/long"), b, sizeof b);
    out("readlink.long_target_len", "%zd", n);
    res("symlink.loop_a", symlink("lb", P("l/la")));
    res("symlink.loop_b", symlink("la", P("l/lb")));
    res("open.loop", open(P("l/la"), O_RDONLY));
    res("open.nofollow_link", open(P("l/s"), O_RDONLY | O_NOFOLLOW));
    res("symlink.dangling", symlink("nowhere", P("l/dang")));
    res("open.dangling", open(P("l/dang"), O_RDONLY));
    res("lstat.dangling", lstat(P("l/dang"), &st));
}

static void attrs(void)
{
    mkfile("a", "attr", 0644);
    struct stat st;
    res("chmod", chmod(P("a"), 0640));
    lstat(P("a"), &st);
    out("chmod.mode", "%o", st.st_mode & 07777);
    res("chmod.setuid_bits", chmod(P("a"), 04755));
    lstat(P("a"), &st);
    out("chmod.setuid_mode", "%o", st.st_mode & 07777);
    chmod(P("a"), 0644);
    res("chown", chown(P("a"), 1000, 1000));
    lstat(P("a"), &st);
    out("chown.owner", "%d:%d", (int)st.st_uid, (int)st.st_gid);
    res("chown.keep", chown(P("a"), -1, -1));
    chown(P("a"), getuid(), getgid());
    /* explicit times: even seconds (FAT keeps mtimes in 2 s), nanoseconds separately */
    struct timespec ts[2] = { { 1500000000, 0 }, { 1600000000, 0 } };
    res("utimens", utimensat(AT_FDCWD, P("a"), ts, 0));
    lstat(P("a"), &st);
    out("utimens.mtime", "%ld", (long)st.st_mtim.tv_sec);
    out("utimens.atime", "%ld", (long)st.st_atim.tv_sec);
    struct timespec tn[2] = { { 1500000000, 0 }, { 1600000002, 123456789 } };
    utimensat(AT_FDCWD, P("a"), tn, 0);
    lstat(P("a"), &st);
    out("utimens.mtime_nsec", "%ld", st.st_mtim.tv_nsec);
    struct timespec omit[2] = { { 0, UTIME_OMIT }, { 1700000000, 0 } };
    res("utimens.omit_atime", utimensat(AT_FDCWD, P("a"), omit, 0));
    lstat(P("a"), &st);
    out("utimens.omit_atime_kept", "%ld,%ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
    struct timespec now[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
    time_t before = time(NULL);
    res("utimens.now", utimensat(AT_FDCWD, P("a"), now, 0));
    lstat(P("a"), &st);
    out("utimens.now_is_now", "%s", st.st_mtim.tv_sec >= before - 2 && st.st_mtim.tv_sec <= time(NULL) + 2 ? "yes" : "no");
    out("utimens.now_omit_atime", "%ld", (long)st.st_atim.tv_sec);
    res("utimens.null", utimensat(AT_FDCWD, P("a"), NULL, 0));
    res("utimens.missing", utimensat(AT_FDCWD, P("nosuch"), NULL, 0));
    /* a write moves mtime */
    utimensat(AT_FDCWD, P("a"), ts, 0);
    int fd = open(P("a"), O_WRONLY);
    write(fd, "x", 1);
    close(fd);
    lstat(P("a"), &st);
    out("write.moves_mtime", "%s", st.st_mtim.tv_sec > 1600000000 ? "yes" : "no");
    out("stat.type_file", "%s", S_ISREG(st.st_mode) ? "yes" : "no");
    lstat(D, &st);
    out("stat.type_dir", "%s", S_ISDIR(st.st_mode) ? "yes" : "no");
    res("access.f_ok", access(P("a"), F_OK));
    res("access.rw", access(P("a"), R_OK | W_OK));
    res("access.missing", access(P("nosuch"), F_OK));
    chmod(P("a"), 0644);
    res("access.x_on_0644_as_root", access(P("a"), X_OK));
    struct statvfs sv;
    res("statvfs", statvfs(D, &sv));
    out("statvfs.sane", "%s", sv.f_bsize > 0 && sv.f_frsize > 0 && sv.f_blocks > 0 && sv.f_bfree <= sv.f_blocks
        && sv.f_bavail <= sv.f_bfree && sv.f_ffree <= sv.f_files ? "yes" : "no");
    out("statvfs.namemax", "%lu", sv.f_namemax);
    res("mkfifo", mkfifo(P("fifo"), 0644));
    if (lstat(P("fifo"), &st) == 0) out("mkfifo.type", "%s", S_ISFIFO(st.st_mode) ? "fifo" : "other");
    else out("mkfifo.type", "%s", ename(errno));
    res("mknod.chardev_as_root", mknod(P("cdev"), S_IFCHR | 0644, makedev(1, 3)));
    /* case: a second name differing in case */
    mkfile("Case", "c", 0644);
    out("case.other_case_exists", "%s", exists("CASE"));
    res("xattr.set", syscall(SYS_setxattr, P("a"), "user.k", "v", 1, 0));
}

/* Checks as uid/gid 1000 in a child; the parent prepares a tree owned by root. */
static void other_user(void)
{
    if (geteuid() != 0) {
        const char *names[] = { "user.read_private", "user.access_private", "user.create_in_0755", "user.unlink_in_0755",
            "user.sticky_unlink_others", "user.sticky_rename_others", "user.sticky_create_own", "user.sticky_unlink_own",
            "user.chmod_others", "user.chown_to_self", "user.utimens_null_others_0644", "user.utimens_explicit_others",
            "user.utimens_null_others_0666", "user.truncate_others_0644", "user.search_0700_dir", "user.rename_out_of_0755",
            "user.chmod_own", "user.chown_own_to_other_uid" };
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) out(names[i], "needs-root");
        return;
    }
    mkdir(P("u"), 0755);
    chmod(P("u"), 0755);
    mkfile("u/private", "p", 0600);
    mkfile("u/public", "q", 0644);
    mkfile("u/open", "o", 0666);
    chmod(P("u/open"), 0666);
    mkdir(P("u/sticky"), 0777);
    chmod(P("u/sticky"), 01777);
    mkfile("u/sticky/roots", "r", 0644);
    mkdir(P("u/closed"), 0700);
    chmod(P("u/closed"), 0700);
    mkfile("u/closed/in", "i", 0644);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0) {
            out("user.switch", "%s", ename(errno));
            _exit(1);
        }
        res("user.read_private", open(P("u/private"), O_RDONLY));
        res("user.access_private", access(P("u/private"), R_OK));
        res("user.create_in_0755", open(P("u/new"), O_CREAT | O_WRONLY, 0644));
        res("user.unlink_in_0755", unlink(P("u/public")));
        res("user.sticky_unlink_others", unlink(P("u/sticky/roots")));
        res("user.sticky_rename_others", rename(P("u/sticky/roots"), P("u/sticky/mine2")));
        res("user.sticky_create_own", mkfile("u/sticky/mine", "m", 0644));
        res("user.sticky_unlink_own", unlink(P("u/sticky/mine")));
        res("user.chmod_others", chmod(P("u/public"), 0666));
        res("user.chown_to_self", chown(P("u/public"), 1000, 1000));
        res("user.utimens_null_others_0644", utimensat(AT_FDCWD, P("u/public"), NULL, 0));
        struct timespec ts[2] = { { 1500000000, 0 }, { 1600000000, 0 } };
        res("user.utimens_explicit_others", utimensat(AT_FDCWD, P("u/open"), ts, 0));
        res("user.utimens_null_others_0666", utimensat(AT_FDCWD, P("u/open"), NULL, 0));
        res("user.truncate_others_0644", truncate(P("u/public"), 0));
        res("user.search_0700_dir", open(P("u/closed/in"), O_RDONLY));
        res("user.rename_out_of_0755", rename(P("u/public"), P("u/sticky/stolen")));
        mkfile("u/sticky/own", "o", 0644);
        res("user.chmod_own", chmod(P("u/sticky/own"), 0600));
        res("user.chown_own_to_other_uid", chown(P("u/sticky/own"), 1001, -1));
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out("user.child", "status %d", status);
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: conform DIR OTHERDIR\n"); return 2; }
    D = argv[1];
    X = argv[2];
    umask(022);
    setvbuf(stdout, NULL, _IOLBF, 0);
    files();
    holes();
    dirs();
    renames();
    links();
    attrs();
    other_user();
    return 0;
}
