/* The layouts of libfuse3's low-level structures as the C compiler sees them, for
 * FuseLayoutTests: "name size" and "name.field offset" lines. Built against the installed
 * <fuse_lowlevel.h> (libfuse3-dev). */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define S(s) printf("%s %zu\n", #s, sizeof(struct s))
#define O(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))

int main(void)
{
	S(fuse_args); O(fuse_args, argc); O(fuse_args, argv); O(fuse_args, allocated);
	S(stat); O(stat, st_ino); O(stat, st_nlink); O(stat, st_mode); O(stat, st_uid); O(stat, st_gid);
	O(stat, st_rdev); O(stat, st_size); O(stat, st_blksize); O(stat, st_blocks);
	O(stat, st_atim); O(stat, st_mtim); O(stat, st_ctim);
	S(statvfs); O(statvfs, f_bsize); O(statvfs, f_frsize); O(statvfs, f_blocks); O(statvfs, f_bfree);
	O(statvfs, f_bavail); O(statvfs, f_files); O(statvfs, f_ffree); O(statvfs, f_favail);
	O(statvfs, f_fsid); O(statvfs, f_flag); O(statvfs, f_namemax);
	S(fuse_entry_param); O(fuse_entry_param, ino); O(fuse_entry_param, generation); O(fuse_entry_param, attr);
	O(fuse_entry_param, attr_timeout); O(fuse_entry_param, entry_timeout);
	S(fuse_file_info); O(fuse_file_info, flags); O(fuse_file_info, fh); O(fuse_file_info, lock_owner); O(fuse_file_info, poll_events);
	S(fuse_ctx); O(fuse_ctx, uid); O(fuse_ctx, gid); O(fuse_ctx, pid); O(fuse_ctx, umask);
	S(fuse_conn_info); O(fuse_conn_info, max_write); O(fuse_conn_info, max_read); O(fuse_conn_info, max_readahead);
	O(fuse_conn_info, capable); O(fuse_conn_info, want); O(fuse_conn_info, time_gran);
	S(fuse_forget_data); O(fuse_forget_data, ino); O(fuse_forget_data, nlookup);
	S(fuse_buf); O(fuse_buf, size); O(fuse_buf, flags); O(fuse_buf, mem); O(fuse_buf, fd); O(fuse_buf, pos);
	S(fuse_bufvec); O(fuse_bufvec, count); O(fuse_bufvec, idx); O(fuse_bufvec, off); O(fuse_bufvec, buf);
	S(fuse_lowlevel_ops); O(fuse_lowlevel_ops, lookup); O(fuse_lowlevel_ops, setattr); O(fuse_lowlevel_ops, rename);
	O(fuse_lowlevel_ops, write); O(fuse_lowlevel_ops, readdir); O(fuse_lowlevel_ops, statfs); O(fuse_lowlevel_ops, access);
	O(fuse_lowlevel_ops, create); O(fuse_lowlevel_ops, forget_multi); O(fuse_lowlevel_ops, readdirplus); O(fuse_lowlevel_ops, lseek);

	/* The bit fields after fuse_file_info.flags: the word and bit of each one rumpfuse sets. */
	struct fuse_file_info fi;
	unsigned w;
	memset(&fi, 0, sizeof fi); fi.direct_io = 1; memcpy(&w, (char *)&fi + 4, 4); printf("fuse_file_info.direct_io.bit %u\n", w);
	memset(&fi, 0, sizeof fi); fi.keep_cache = 1; memcpy(&w, (char *)&fi + 4, 4); printf("fuse_file_info.keep_cache.bit %u\n", w);
	printf("FUSE_CAP_ASYNC_READ %u\nFUSE_CAP_WRITEBACK_CACHE %u\nFUSE_CAP_PARALLEL_DIROPS %u\nFUSE_CAP_ASYNC_DIO %u\n",
	       FUSE_CAP_ASYNC_READ, FUSE_CAP_WRITEBACK_CACHE, FUSE_CAP_PARALLEL_DIROPS, FUSE_CAP_ASYNC_DIO);
	printf("FUSE_CAP_SPLICE_WRITE %u\nFUSE_CAP_SPLICE_MOVE %u\n", FUSE_CAP_SPLICE_WRITE, FUSE_CAP_SPLICE_MOVE);
	printf("FUSE_BUF_IS_FD %u\nFUSE_BUF_FD_SEEK %u\nFUSE_BUF_SPLICE_MOVE %u\n", FUSE_BUF_IS_FD, FUSE_BUF_FD_SEEK, FUSE_BUF_SPLICE_MOVE);
	return 0;
}
