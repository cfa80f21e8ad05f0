using System.Runtime.InteropServices;

namespace Rump.Net;

// The C# mirrors of rumpdefs.master's socket structures (NetBSD amd64), checked against the C
// header by AbiLayoutTests.

[StructLayout(LayoutKind.Sequential)]
public struct RumpMsghdr
{
    public nint msg_name;
    public uint msg_namelen;
    public nint msg_iov;
    public int msg_iovlen;
    public nint msg_control;
    public uint msg_controllen;
    public int msg_flags;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpCmsghdr
{
    public uint cmsg_len;
    public int cmsg_level;
    public int cmsg_type;

    /// <summary>NetBSD's CMSG_ALIGN on amd64 (8 bytes).</summary>
    public static int Align(int n) => (n + 7) & ~7;
    /// <summary>Where a control message's data starts (CMSG_DATA): the header, aligned.</summary>
    public const int DataOffset = 16;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpLinger
{
    public int l_onoff;
    public int l_linger;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpUnpcbid
{
    public int unp_pid;
    public uint unp_euid;
    public uint unp_egid;
}
