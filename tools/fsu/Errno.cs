using Rump.Kern;

namespace Rump.Fsu;

/// <summary>NetBSD errno values as the messages strerror(3) gives (the kernel's numbers, not the host's).</summary>
internal static class Errno
{
    public static string Message(int errno) => errno switch
    {
        Abi.EPERM => "Operation not permitted",
        Abi.ENOENT => "No such file or directory",
        Abi.EIO => "Input/output error",
        Abi.ENXIO => "Device not configured",
        Abi.EBADF => "Bad file descriptor",
        Abi.ENOMEM => "Cannot allocate memory",
        Abi.EACCES => "Permission denied",
        Abi.EFAULT => "Bad address",
        Abi.ENOTBLK => "Block device required",
        Abi.EBUSY => "Device busy",
        Abi.EEXIST => "File exists",
        Abi.EXDEV => "Cross-device link",
        Abi.ENODEV => "Operation not supported by device",
        Abi.ENOTDIR => "Not a directory",
        Abi.EISDIR => "Is a directory",
        Abi.EINVAL => "Invalid argument",
        Abi.ENFILE => "Too many open files in system",
        Abi.EMFILE => "Too many open files",
        Abi.EFBIG => "File too large",
        Abi.ENOSPC => "No space left on device",
        Abi.EROFS => "Read-only file system",
        Abi.EMLINK => "Too many links",
        Abi.ERANGE => "Result too large",
        Abi.EOPNOTSUPP => "Operation not supported",
        Abi.ELOOP => "Too many levels of symbolic links",
        Abi.ENAMETOOLONG => "File name too long",
        Abi.ENOTEMPTY => "Directory not empty",
        Abi.EDQUOT => "Disc quota exceeded",
        Abi.ESTALE => "Stale NFS file handle",
        Abi.ENOSYS => "Function not implemented",
        Abi.EFTYPE => "Inappropriate file type or format",
        Abi.EOVERFLOW => "Value too large to be stored in data type",
        Abi.EILSEQ => "Illegal byte sequence",
        Abi.ENOTSUP => "Not supported",
        _ => "Unknown error: " + errno,
    };
}
