// Constants of rumpuser.h, version 17, with the C names.
//
// The *_U8 parameter names include the terminating NUL, ready to pass
// as byte* to rumpuser_getparam.

using System;

namespace Rump.Hypercall;

public static class RumpUserConst
{
    public const int RUMPUSER_VERSION = 17;

    // rumpuser_open mode
    public const int RUMPUSER_OPEN_RDONLY = 0x0000;
    public const int RUMPUSER_OPEN_WRONLY = 0x0001;
    public const int RUMPUSER_OPEN_RDWR = 0x0002;
    public const int RUMPUSER_OPEN_ACCMODE = 0x0003;
    public const int RUMPUSER_OPEN_CREATE = 0x0004;
    public const int RUMPUSER_OPEN_EXCL = 0x0008;
    public const int RUMPUSER_OPEN_BIO = 0x0010;

    // rumpuser_getfileinfo type
    public const int RUMPUSER_FT_OTHER = 0;
    public const int RUMPUSER_FT_DIR = 1;
    public const int RUMPUSER_FT_REG = 2;
    public const int RUMPUSER_FT_BLK = 3;
    public const int RUMPUSER_FT_CHR = 4;

    // rumpuser_bio op
    public const int RUMPUSER_BIO_READ = 0x01;
    public const int RUMPUSER_BIO_WRITE = 0x02;
    public const int RUMPUSER_BIO_SYNC = 0x04;

    // rumpuser_iovread/iovwrite offset: use and move the descriptor's offset
    public const long RUMPUSER_IOV_NOSEEK = -1;

    // rumpuser_syncfd flags
    public const int RUMPUSER_SYNCFD_READ = 0x01;
    public const int RUMPUSER_SYNCFD_WRITE = 0x02;
    public const int RUMPUSER_SYNCFD_BOTH = RUMPUSER_SYNCFD_READ | RUMPUSER_SYNCFD_WRITE;
    public const int RUMPUSER_SYNCFD_BARRIER = 0x04;
    public const int RUMPUSER_SYNCFD_SYNC = 0x08;

    // enum rumpclock
    public const int RUMPUSER_CLOCK_RELWALL = 0;
    public const int RUMPUSER_CLOCK_ABSMONO = 1;

    // rumpuser_getparam names
    public const string RUMPUSER_PARAM_NCPU = "_RUMPUSER_NCPU";
    public const string RUMPUSER_PARAM_HOSTNAME = "_RUMPUSER_HOSTNAME";
    public static ReadOnlySpan<byte> RUMPUSER_PARAM_NCPU_U8 => "_RUMPUSER_NCPU\0"u8;
    public static ReadOnlySpan<byte> RUMPUSER_PARAM_HOSTNAME_U8 => "_RUMPUSER_HOSTNAME\0"u8;

    // rumpuser_kill / rumpuser_exit
    public const long RUMPUSER_PID_SELF = -1;
    public const int RUMPUSER_PANIC = -1;

    // rumpuser_getrandom flags
    public const int RUMPUSER_RANDOM_HARD = 0x01;
    public const int RUMPUSER_RANDOM_NOWAIT = 0x02;

    // enum rumplwpop
    public const int RUMPUSER_LWP_CREATE = 0;
    public const int RUMPUSER_LWP_DESTROY = 1;
    public const int RUMPUSER_LWP_SET = 2;
    public const int RUMPUSER_LWP_CLEAR = 3;

    // rumpuser_mutex_init flags (at least one)
    public const int RUMPUSER_MTX_SPIN = 0x01;
    public const int RUMPUSER_MTX_KMUTEX = 0x02;

    // enum rumprwlock
    public const int RUMPUSER_RW_READER = 0;
    public const int RUMPUSER_RW_WRITER = 1;
}
