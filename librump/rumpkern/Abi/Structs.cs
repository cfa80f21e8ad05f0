using System.Runtime.InteropServices;

namespace Rump.Kern;

// The structures of rumpdefs.master's %%structs, field for field, in NetBSD's amd64 layout; what
// the kernel copies in from and out to a client. Sequential layout with natural alignment gives
// the same offsets as the C compiler; tests/Rump.Tests/AbiLayoutTests.cs checks every size and
// field offset against the generated header.

[StructLayout(LayoutKind.Sequential)]
public struct RumpTimespec
{
    public long tv_sec;
    public long tv_nsec;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpPollfd
{
    public int fd;
    public short events;
    public short revents;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpTimeval
{
    public long tv_sec;
    public int tv_usec;
}

/// <summary>fd_set of FD_SETSIZE (256) descriptors; select reads as many words as nd needs.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpFdSet
{
    public fixed uint fds_bits[8];
}

/// <summary>NetBSD sigset_t: signal n is bit (n - 1) % 32 of word (n - 1) / 32.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpSigset
{
    public fixed uint __bits[4];

    /// <summary>Signals 1..64 as bits 0..63 (the kernel's representation).</summary>
    public ulong Low64 { get => __bits[0] | (ulong)__bits[1] << 32; set { __bits[0] = (uint)value; __bits[1] = (uint)(value >> 32); __bits[2] = 0; __bits[3] = 0; } }
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpStat
{
    public ulong st_dev;
    public uint st_mode;
    public ulong st_ino;
    public uint st_nlink;
    public uint st_uid;
    public uint st_gid;
    public ulong st_rdev;
    public RumpTimespec st_atim;
    public RumpTimespec st_mtim;
    public RumpTimespec st_ctim;
    public RumpTimespec st_birthtim;
    public long st_size;
    public long st_blocks;
    public int st_blksize;
    public uint st_flags;
    public uint st_gen;
    public fixed uint st_spare[2];
}

/// <summary>
/// The fixed part of a getdents(2) record (struct rump_dirent without d_name). The name follows at
/// <see cref="NameOffset"/>, NUL-terminated, and the record is padded to 8 bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct RumpDirentHeader
{
    /// <summary>offsetof(struct rump_dirent, d_name).</summary>
    public const int NameOffset = 13;
    /// <summary>sizeof(struct rump_dirent): a record with the longest name.</summary>
    public const int MaxSize = 528;

    public ulong d_fileno;
    public ushort d_reclen;
    public ushort d_namlen;
    public byte d_type;

    /// <summary>d_reclen for a name of <paramref name="namlen"/> bytes (NetBSD's _DIRENT_RECLEN).</summary>
    public static int RecordLength(int namlen) => (NameOffset + namlen + 1 + 7) & ~7;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpIovec
{
    public nint iov_base;
    public nuint iov_len;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpFsid
{
    public fixed int __fsid_val[2];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpStatvfs
{
    public ulong f_flag;
    public ulong f_bsize;
    public ulong f_frsize;
    public ulong f_iosize;
    public ulong f_blocks;
    public ulong f_bfree;
    public ulong f_bavail;
    public ulong f_bresvd;
    public ulong f_files;
    public ulong f_ffree;
    public ulong f_favail;
    public ulong f_fresvd;
    public ulong f_syncreads;
    public ulong f_syncwrites;
    public ulong f_asyncreads;
    public ulong f_asyncwrites;
    public RumpFsid f_fsidx;
    public ulong f_fsid;
    public ulong f_namemax;
    public uint f_owner;
    public fixed ulong f_spare[4];
    public fixed byte f_fstypename[32];
    public fixed byte f_mntonname[1024];
    public fixed byte f_mntfromname[1024];
    public fixed byte f_mntfromlabel[1024];
}

/// <summary>kern.file2's element, NetBSD's struct kinfo_file (120 bytes; rumpdefs.master).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RumpKinfoFile
{
    public ulong ki_fileaddr;
    public uint ki_flag;
    public uint ki_iflags;
    public uint ki_ftype;
    public uint ki_count;
    public uint ki_msgcount;
    public uint ki_usecount;
    public ulong ki_fucred;
    public uint ki_fuid;
    public uint ki_fgid;
    public ulong ki_fops;
    public ulong ki_foffset;
    public ulong ki_fdata;
    public ulong ki_vun;
    public ulong ki_vsize;
    public uint ki_vtype;
    public uint ki_vtag;
    public ulong ki_vdata;
    public uint ki_pid;
    public int ki_fd;
    public uint ki_ofileflags;
    public uint _ki_padto64bits;
}

/// <summary>kern.proc2's element, NetBSD's struct kinfo_proc2 (680 bytes; rumpdefs.master).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpKinfoProc2
{
    public ulong p_forw, p_back, p_paddr, p_addr, p_fd, p_cwdi, p_stats;
    public ulong p_limit, p_vmspace, p_sigacts, p_sess, p_tsess, p_ru;
    public int p_eflag;
    public int p_exitsig;
    public int p_flag;
    public int p_pid;
    public int p_ppid;
    public int p_sid;
    public int p__pgid;
    public int p_tpgid;
    public uint p_uid;
    public uint p_ruid;
    public uint p_gid;
    public uint p_rgid;
    public fixed uint p_groups[16];
    public short p_ngroups;
    public short p_jobc;
    public uint p_tdev;
    public uint p_estcpu;
    public uint p_rtime_sec, p_rtime_usec;
    public int p_cpticks;
    public uint p_pctcpu;
    public uint p_swtime;
    public uint p_slptime;
    public int p_schedflags;
    public ulong p_uticks, p_sticks, p_iticks;
    public ulong p_tracep;
    public int p_traceflag;
    public int p_holdcnt;
    public RumpSigset p_siglist, p_sigmask, p_sigignore, p_sigcatch;
    public sbyte p_stat;
    public byte p_priority, p_usrpri, p_nice;
    public ushort p_xstat;
    public ushort p_acflag;
    public fixed byte p_comm[24];
    public fixed byte p_wmesg[8];
    public ulong p_wchan;
    public fixed byte p_login[24];
    public int p_vm_rssize, p_vm_tsize, p_vm_dsize, p_vm_ssize;
    public long p_uvalid;
    public uint p_ustart_sec, p_ustart_usec;
    public uint p_uutime_sec, p_uutime_usec;
    public uint p_ustime_sec, p_ustime_usec;
    public ulong p_uru_maxrss, p_uru_ixrss, p_uru_idrss, p_uru_isrss, p_uru_minflt;
    public ulong p_uru_majflt, p_uru_nswap, p_uru_inblock, p_uru_oublock, p_uru_msgsnd;
    public ulong p_uru_msgrcv, p_uru_nsignals, p_uru_nvcsw, p_uru_nivcsw;
    public uint p_uctime_sec, p_uctime_usec;
    public ulong p_cpuid;
    public ulong p_realflag;
    public ulong p_nlwps;
    public ulong p_nrlwps;
    public ulong p_realstat;
    public uint p_svuid;
    public uint p_svgid;
    public fixed byte p_ename[16];
    public long p_vm_vsize;
    public long p_vm_msize;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpTmpfsArgs
{
    public int ta_version;
    public ulong ta_nodes_max;
    public long ta_size_max;
    public uint ta_root_uid;
    public uint ta_root_gid;
    public uint ta_root_mode;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpUfsArgs
{
    public nint fspec;
}

/// <summary>msdosfs mount arguments; <c>_pad1</c> is NetBSD's unused struct export_args30.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpMsdosfsArgs
{
    public nint fspec;
    public fixed ulong _pad1[16];
    public uint uid;
    public uint gid;
    public uint mask;
    public int flags;
    public int version;
    public uint dirmask;
    public int gmtoff;
}

/// <summary>cd9660 mount arguments; <c>_pad1</c> is NetBSD's unused struct export_args30.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpIsoArgs
{
    public nint fspec;
    public fixed ulong _pad1[16];
    public int flags;
}
