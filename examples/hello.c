/*
 * hello: boots a rump kernel inside this process, makes a directory and a file
 * in it, writes and reads them back, and lists the directory -- all with
 * NetBSD's system calls against the private kernel, no privileges needed.
 *
 *   cc hello.c $(pkg-config --cflags --libs rump) -o hello && ./hello
 */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

#include <stdio.h>
#include <string.h>

static int die(const char *what)
{
	perror(what);
	return 1;
}

int main(void)
{
	char buf[256], cwd[256];
	struct rump_stat st;
	int error, fd;
	ssize_t n;

	if ((error = rump_init()) != 0) {
		fprintf(stderr, "rump_init: error %d\n", error);
		return 1;
	}
	printf("rump kernel booted: pid %d inside the kernel\n", (int)rump_sys_getpid());

	if (rump_sys_mkdir("/home", 0755) == -1)
		return die("mkdir /home");
	if ((fd = rump_sys_open("/home/hello.txt", RUMP_O_CREAT | RUMP_O_RDWR, 0644)) == -1)
		return die("open");
	const char *msg = "hello from a rump kernel\n";
	if (rump_sys_write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg))
		return die("write");
	if ((n = rump_sys_pread(fd, buf, sizeof(buf) - 1, 0)) == -1)
		return die("pread");
	buf[n] = '\0';
	printf("read back: %s", buf);
	if (rump_sys_fstat(fd, &st) == -1)
		return die("fstat");
	printf("size %lld, mode %o, inode %llu\n", (long long)st.st_size,
	    (unsigned)st.st_mode, (unsigned long long)st.st_ino);
	rump_sys_close(fd);

	if (rump_sys_chdir("/home") == -1 || rump_sys___getcwd(cwd, sizeof(cwd)) == -1)
		return die("chdir/getcwd");
	printf("cwd: %s\n", cwd);

	if (rump_sys_open("/nonexistent", RUMP_O_RDONLY) == -1)
		perror("open /nonexistent (expected to fail)");

	if ((fd = rump_sys_open(".", RUMP_O_RDONLY | RUMP_O_DIRECTORY)) == -1)
		return die("open .");
	while ((n = rump_sys_getdents(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct rump_dirent *d = (struct rump_dirent *)p;
			printf("  %s\n", d->d_name);
			p += d->d_reclen;
		}
	}
	rump_sys_close(fd);

	if (rump_sys_reboot(RUMP_RB_HALT, NULL) == -1)
		return die("reboot");
	return 0;
}
