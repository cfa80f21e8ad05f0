using System.Runtime.InteropServices;

namespace Rump.Net;

// The C# mirrors of rumpdefs.master's network-configuration structures (NetBSD amd64), checked
// against the C header by AbiLayoutTests. The kernel reads and writes them through Wire/Netcfg.cs.

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpSockaddrIn
{
    public byte sin_len;
    public byte sin_family;
    public ushort sin_port;
    public uint sin_addr;
    public fixed byte sin_zero[8];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpSockaddrDl
{
    public byte sdl_len;
    public byte sdl_family;
    public ushort sdl_index;
    public byte sdl_type;
    public byte sdl_nlen;
    public byte sdl_alen;
    public byte sdl_slen;
    public fixed byte sdl_data[24];
}

[StructLayout(LayoutKind.Explicit, Size = 128)]
public unsafe struct RumpIfreqIfru
{
    [FieldOffset(0)] public RumpSockaddr ifru_addr;
    [FieldOffset(0)] public fixed byte ifru_space[128];
    [FieldOffset(0)] public short ifru_flags;
    [FieldOffset(0)] public int ifru_metric;
    [FieldOffset(0)] public int ifru_mtu;
    [FieldOffset(0)] public uint ifru_value;
    [FieldOffset(0)] public nint ifru_data;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpIfreq
{
    public fixed byte ifr_name[16];
    public RumpIfreqIfru ifr_ifru;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpIfaliasreq
{
    public fixed byte ifra_name[16];
    public RumpSockaddr ifra_addr;
    public RumpSockaddr ifra_broadaddr;
    public RumpSockaddr ifra_mask;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpIfconf
{
    public int ifc_len;
    public nint ifc_buf;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpIfdrv
{
    public fixed byte ifd_name[16];
    public ulong ifd_cmd;
    public ulong ifd_len;
    public nint ifd_data;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpRtMetrics
{
    public ulong rmx_locks, rmx_mtu, rmx_hopcount, rmx_recvpipe, rmx_sendpipe, rmx_ssthresh, rmx_rtt, rmx_rttvar;
    public long rmx_expire, rmx_pksent;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpRtMsghdr
{
    public ushort rtm_msglen;
    public byte rtm_version;
    public byte rtm_type;
    public ushort rtm_index;
    public int rtm_flags;
    public int rtm_addrs;
    public int rtm_pid;
    public int rtm_seq;
    public int rtm_errno;
    public int rtm_use;
    public int rtm_inits;
    public RumpRtMetrics rtm_rmx;
}
