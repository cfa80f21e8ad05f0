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
