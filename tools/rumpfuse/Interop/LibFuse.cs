using System;
using System.Runtime.InteropServices;

namespace Rump.Fuse.Interop;

// libfuse3's low-level API (fuse_lowlevel.h of libfuse 3.14, Debian 12), FUSE_USE_VERSION 314.
// The layouts here are checked against the C headers by FuseLayoutTests (a C program compiled
// against <fuse_lowlevel.h> prints sizeof/offsetof). Only x86-64 Linux is described.

/// <summary>struct fuse_args.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseArgs
{
    public int Argc;
    public byte** Argv;
    public int Allocated;
}

/// <summary>Linux x86-64 struct stat (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LinuxStat
{
    public ulong Dev;
    public ulong Ino;
    public ulong Nlink;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    public int Pad0;
    public ulong Rdev;
    public long Size;
    public long Blksize;
    public long Blocks;
    public long AtimeSec, AtimeNsec;
    public long MtimeSec, MtimeNsec;
    public long CtimeSec, CtimeNsec;
    public fixed long Reserved[3];
}

/// <summary>Linux x86-64 struct statvfs (112 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LinuxStatvfs
{
    public ulong Bsize, Frsize, Blocks, Bfree, Bavail, Files, Ffree, Favail, Fsid, Flag, Namemax;
    public fixed int Spare[6];
}

/// <summary>struct fuse_entry_param (176 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseEntryParam
{
    public ulong Ino;
    public ulong Generation;
    public LinuxStat Attr;
    public double AttrTimeout;
    public double EntryTimeout;
}

/// <summary>struct fuse_file_info (40 bytes): the bit fields after flags are one 32-bit word here.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseFileInfo
{
    public int Flags;
    public uint Bits;
    public uint Padding2;
    public uint Pad;
    public ulong Fh;
    public ulong LockOwner;
    public uint PollEvents;

    // Bit positions of the C bit fields (writepage is bit 0).
    public const uint DirectIo = 1u << 1, KeepCache = 1u << 2, Flush = 1u << 3, Nonseekable = 1u << 4;
}

/// <summary>struct fuse_ctx.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseCtx
{
    public uint Uid, Gid;
    public int Pid;
    public uint Umask;
}

/// <summary>struct fuse_conn_info (128 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseConnInfo
{
    public uint ProtoMajor, ProtoMinor, MaxWrite, MaxRead, MaxReadahead, Capable, Want, MaxBackground, CongestionThreshold, TimeGran;
    public fixed uint Reserved[22];

    public const uint CapAsyncRead = 1 << 0, CapAtomicOTrunc = 1 << 3, CapExportSupport = 1 << 4, CapSpliceWrite = 1 << 7,
        CapSpliceMove = 1 << 8, CapSpliceRead = 1 << 9, CapReaddirplus = 1 << 13, CapReaddirplusAuto = 1 << 14,
        CapAsyncDio = 1 << 15, CapWritebackCache = 1 << 16, CapParallelDirops = 1 << 18;
}

/// <summary>struct fuse_buf (40 bytes): memory, or a descriptor and (with FdSeek) a position in it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseBuf
{
    public nuint Size;
    public int Flags;
    public void* Mem;
    public int Fd;
    public long Pos;

    // enum fuse_buf_flags and enum fuse_buf_copy_flags.
    public const int IsFd = 1 << 1, FdSeek = 1 << 2;
    public const int CopyNoSplice = 1 << 1, CopySpliceMove = 1 << 3;
}

/// <summary>struct fuse_bufvec: a header of 24 bytes followed by <see cref="Count"/> fuse_bufs (the C struct declares one).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseBufvec
{
    public nuint Count;
    public nuint Idx;
    public nuint Off;
    public FuseBuf Buf0;
}

/// <summary>struct fuse_forget_data.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseForgetData
{
    public ulong Ino;
    public ulong Nlookup;
}

/// <summary>struct fuse_lowlevel_ops (44 function pointers, 352 bytes), in the header's order.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseLowlevelOps
{
    public delegate* unmanaged<nint, FuseConnInfo*, void> Init;
    public delegate* unmanaged<nint, void> Destroy;
    public delegate* unmanaged<nint, ulong, byte*, void> Lookup;
    public delegate* unmanaged<nint, ulong, ulong, void> Forget;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Getattr;
    public delegate* unmanaged<nint, ulong, LinuxStat*, int, FuseFileInfo*, void> Setattr;
    public delegate* unmanaged<nint, ulong, void> Readlink;
    public delegate* unmanaged<nint, ulong, byte*, uint, ulong, void> Mknod;
    public delegate* unmanaged<nint, ulong, byte*, uint, void> Mkdir;
    public delegate* unmanaged<nint, ulong, byte*, void> Unlink;
    public delegate* unmanaged<nint, ulong, byte*, void> Rmdir;
    public delegate* unmanaged<nint, byte*, ulong, byte*, void> Symlink;
    public delegate* unmanaged<nint, ulong, byte*, ulong, byte*, uint, void> Rename;
    public delegate* unmanaged<nint, ulong, ulong, byte*, void> Link;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Open;
    public delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void> Read;
    public delegate* unmanaged<nint, ulong, byte*, nuint, long, FuseFileInfo*, void> Write;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Flush;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Release;
    public delegate* unmanaged<nint, ulong, int, FuseFileInfo*, void> Fsync;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Opendir;
    public delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void> Readdir;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Releasedir;
    public delegate* unmanaged<nint, ulong, int, FuseFileInfo*, void> Fsyncdir;
    public delegate* unmanaged<nint, ulong, void> Statfs;
    public delegate* unmanaged<nint, ulong, byte*, byte*, nuint, int, void> Setxattr;
    public delegate* unmanaged<nint, ulong, byte*, nuint, void> Getxattr;
    public delegate* unmanaged<nint, ulong, nuint, void> Listxattr;
    public delegate* unmanaged<nint, ulong, byte*, void> Removexattr;
    public delegate* unmanaged<nint, ulong, int, void> Access;
    public delegate* unmanaged<nint, ulong, byte*, uint, FuseFileInfo*, void> Create;
    public nint Getlk, Setlk, Bmap, Ioctl, Poll, WriteBuf, RetrieveReply;
    public delegate* unmanaged<nint, nuint, FuseForgetData*, void> ForgetMulti;
    public nint Flock, Fallocate;
    public delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void> Readdirplus;
    public nint CopyFileRange, Lseek;
}

/// <summary>The libfuse3 functions rumpfuse calls. Replies may block on the /dev/fuse write only briefly.</summary>
internal static unsafe partial class LibFuse
{
    private const string Lib = "libfuse3.so.3";

    [LibraryImport(Lib, EntryPoint = "fuse_session_new")]
    public static partial nint SessionNew(FuseArgs* args, FuseLowlevelOps* ops, nuint opSize, nint userdata);

    [LibraryImport(Lib, EntryPoint = "fuse_session_mount")]
    public static partial int SessionMount(nint se, byte* mountpoint);

    [LibraryImport(Lib, EntryPoint = "fuse_session_unmount")]
    public static partial void SessionUnmount(nint se);

    [LibraryImport(Lib, EntryPoint = "fuse_session_destroy")]
    public static partial void SessionDestroy(nint se);

    [LibraryImport(Lib, EntryPoint = "fuse_session_exit")]
    public static partial void SessionExit(nint se);

    [LibraryImport(Lib, EntryPoint = "fuse_session_fd")]
    public static partial int SessionFd(nint se);

    // The 3.12 loop and its configuration object, named by their unversioned-alias-free symbols.
    [LibraryImport(Lib, EntryPoint = "fuse_session_loop_mt_312")]
    public static partial int SessionLoopMt(nint se, nint config);

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_create")]
    public static partial nint LoopCfgCreate();

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_destroy")]
    public static partial void LoopCfgDestroy(nint config);

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_set_max_threads")]
    public static partial void LoopCfgSetMaxThreads(nint config, uint value);

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_set_idle_threads")]
    public static partial void LoopCfgSetIdleThreads(nint config, uint value);

    [LibraryImport(Lib, EntryPoint = "fuse_req_ctx")]
    public static partial FuseCtx* ReqCtx(nint req);

    [LibraryImport(Lib, EntryPoint = "fuse_req_getgroups")]
    public static partial int ReqGetgroups(nint req, int size, uint* list);

    [LibraryImport(Lib, EntryPoint = "fuse_req_userdata")]
    public static partial nint ReqUserdata(nint req);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_err")]
    public static partial int ReplyErr(nint req, int err);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_none")]
    public static partial void ReplyNone(nint req);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_entry")]
    public static partial int ReplyEntry(nint req, FuseEntryParam* e);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_create")]
    public static partial int ReplyCreate(nint req, FuseEntryParam* e, FuseFileInfo* fi);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_attr")]
    public static partial int ReplyAttr(nint req, LinuxStat* attr, double timeout);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_readlink")]
    public static partial int ReplyReadlink(nint req, byte* link);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_open")]
    public static partial int ReplyOpen(nint req, FuseFileInfo* fi);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_write")]
    public static partial int ReplyWrite(nint req, nuint count);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_buf")]
    public static partial int ReplyBuf(nint req, byte* buf, nuint size);

    /// <summary>A reply from buffers; descriptor-backed ones are spliced into /dev/fuse when the connection allows (FUSE_CAP_SPLICE_WRITE).</summary>
    [LibraryImport(Lib, EntryPoint = "fuse_reply_data")]
    public static partial int ReplyData(nint req, FuseBufvec* bufv, int flags);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_statfs")]
    public static partial int ReplyStatfs(nint req, LinuxStatvfs* stbuf);

    [LibraryImport(Lib, EntryPoint = "fuse_add_direntry")]
    public static partial nuint AddDirentry(nint req, byte* buf, nuint bufsize, byte* name, LinuxStat* stbuf, long off);

    [LibraryImport(Lib, EntryPoint = "fuse_add_direntry_plus")]
    public static partial nuint AddDirentryPlus(nint req, byte* buf, nuint bufsize, byte* name, FuseEntryParam* e, long off);
}
