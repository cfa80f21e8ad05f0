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
