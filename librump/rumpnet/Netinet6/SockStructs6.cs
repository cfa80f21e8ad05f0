using System.Runtime.InteropServices;

namespace Rump.Net;

/// <summary>NetBSD's struct sockaddr_in6 (rumpdefs.master), checked against the C header by AbiLayoutTests.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpSockaddrIn6
{
    public byte sin6_len;
    public byte sin6_family;
    public ushort sin6_port;
    public uint sin6_flowinfo;
    public fixed byte sin6_addr[16];
    public uint sin6_scope_id;
}

[StructLayout(LayoutKind.Sequential)]
public struct RumpIn6Addrlifetime
{
    public long ia6t_expire;
    public long ia6t_preferred;
    public uint ia6t_vltime;
    public uint ia6t_pltime;
}

/// <summary>SIOCAIFADDR_IN6's argument (NetBSD's struct in6_aliasreq).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RumpIn6Aliasreq
{
    public fixed byte ifra_name[16];
    public RumpSockaddrIn6 ifra_addr;
    public RumpSockaddrIn6 ifra_dstaddr;
    public RumpSockaddrIn6 ifra_prefixmask;
    public int ifra_flags;
    public RumpIn6Addrlifetime ifra_lifetime;
}
