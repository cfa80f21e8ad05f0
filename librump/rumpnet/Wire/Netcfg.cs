using System;
using System.Buffers.Binary;
using Rump.Kern;

namespace Rump.Net.Wire;

/// <summary>
/// NetBSD's configuration structures as bytes (net/if.h, net/if_dl.h, net/route.h,
/// netinet/in.h; amd64): interface names, sockaddr_in and sockaddr_dl, and routing messages
/// (struct rt_msghdr followed by the sockaddrs its rtm_addrs names, each padded to 8 bytes as
/// RT_ROUNDUP does). Pure code over spans: lengths are checked once, errors are errnos.
/// The C layouts are rumpdefs.master's rump_ifreq, rump_ifaliasreq, rump_ifconf, rump_ifdrv,
/// rump_sockaddr_in, rump_sockaddr_dl and rump_rt_msghdr.
/// </summary>
public static class NetcfgWire
{
    public const int IfNameSize = 16;          // IFNAMSIZ
    public const int IfreqSize = 144;          // name + the union (sockaddr_storage)
    public const int IfaliasreqSize = 64;      // name + addr, broadaddr, mask
    public const int IfconfSize = 16;
    public const int IfdrvSize = 40;
    public const int SinSize = 16;
    public const int SdlSize = 32;
    public const int RtMsghdrSize = 120;
    /// <summary>Where struct rt_msghdr's fields are.</summary>
    public const int RtmMsglen = 0, RtmVersion = 2, RtmType = 3, RtmIndex = 4, RtmFlags = 8, RtmAddrs = 12,
        RtmPid = 16, RtmSeq = 20, RtmErrno = 24, RtmUse = 28, RtmInits = 32, RtmRmx = 40;
    /// <summary>rt_metrics' rmx_mtu, inside the header.</summary>
    public const int RtmRmxMtu = RtmRmx + 8;

    /// <summary>
    /// The interface name at the start of an ifreq/ifaliasreq/ifdrv: up to the first NUL within
    /// IFNAMSIZ bytes. EINVAL if it is empty or fills all 16 bytes (no room for NUL, as NetBSD's ifunit).
    /// </summary>
    public static int ReadName(ReadOnlySpan<byte> b, out string name)
    {
        name = "";
        if (b.Length < IfNameSize) return Abi.EINVAL;
        int n = b.Slice(0, IfNameSize).IndexOf((byte)0);
        if (n <= 0) return Abi.EINVAL;
        foreach (byte c in b.Slice(0, n)) if (c < 0x21 || c > 0x7e) return Abi.EINVAL;
        name = System.Text.Encoding.ASCII.GetString(b.Slice(0, n));
        return 0;
    }

    public static void WriteName(Span<byte> b, string name)
    {
        b.Slice(0, IfNameSize).Clear();
        for (int i = 0; i < name.Length && i < IfNameSize - 1; i++) b[i] = (byte)name[i];
    }

    /// <summary>A sockaddr_in: EAFNOSUPPORT unless AF_INET, EINVAL if shorter than the address (sin_len below 8).</summary>
    public static int ReadSin(ReadOnlySpan<byte> b, out Ipv4Addr a)
    {
        a = default;
        if (b.Length < 8) return Abi.EINVAL;
        if (b[1] != Abi.AF_INET) return Abi.EAFNOSUPPORT;
        if (b[0] != 0 && b[0] < 8) return Abi.EINVAL;
        a = Ipv4Addr.Read(b.Slice(4));
        return 0;
    }

    public static void WriteSin(Span<byte> b, Ipv4Addr a)
    {
        b.Slice(0, SinSize).Clear();
        b[0] = SinSize;
        b[1] = (byte)Abi.AF_INET;
        a.Write(b.Slice(4));
    }

    /// <summary>A sockaddr_dl naming interface <paramref name="index"/> called <paramref name="name"/>, with its link address (none for lo0).</summary>
    public static void WriteSdl(Span<byte> b, int index, byte type, string name, EtherAddr? mac)
    {
        b.Slice(0, SdlSize).Clear();
        int nlen = Math.Min(name.Length, IfNameSize - 1);
        b[0] = SdlSize;
        b[1] = (byte)Abi.AF_LINK;
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(2), (ushort)index);
        b[4] = type;
        b[5] = (byte)nlen;
        b[6] = (byte)(mac.HasValue ? EtherAddr.Size : 0);
        for (int i = 0; i < nlen; i++) b[8 + i] = (byte)name[i];
        mac?.Write(b.Slice(8 + nlen));
    }

    /// <summary>The link address of a sockaddr_dl (arp), if it has one of Ethernet's size.</summary>
    public static bool ReadSdlMac(ReadOnlySpan<byte> b, out EtherAddr mac)
    {
        mac = default;
        if (b.Length < 8 || b[1] != Abi.AF_LINK) return false;
        int nlen = b[5], alen = b[6];
        if (alen != EtherAddr.Size || 8 + nlen + alen > b.Length) return false;
        mac = EtherAddr.Read(b.Slice(8 + nlen));
        return true;
    }

    /// <summary>NetBSD's RT_ROUNDUP on amd64: a sockaddr's room in a message, a multiple of 8 (8 for an empty one).</summary>
    public static int RoundUp(int len) => len > 0 ? 1 + ((len - 1) | 7) : 8;
}

/// <summary>
/// A routing message read from a route socket (NetBSD route_output's checks): the header's
/// fields and the sockaddrs rtm_addrs names, as slices of the message.
/// </summary>
public ref struct RtMsg
{
    public int Length, Version, Type, Index, Flags, Addrs, Pid, Seq;
    /// <summary>RTAX_DST .. RTAX_BRD (RTAX_MAX 9); empty where rtm_addrs has no bit.</summary>
    public ReadOnlySpan<byte> Dst, Gateway, Netmask, Genmask, Ifp, Ifa, Author, Brd, Tag;

    /// <summary>
    /// Parses a message the caller wrote: EINVAL if shorter than the header or than rtm_msglen
    /// says, or if a sockaddr runs past the end; EPROTONOSUPPORT for another rtm_version (NetBSD's answers).
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> b, out RtMsg m)
    {
        m = default;
        if (b.Length < NetcfgWire.RtMsghdrSize) return Abi.EINVAL;
        m.Length = BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(NetcfgWire.RtmMsglen));
        if (m.Length < NetcfgWire.RtMsghdrSize || m.Length > b.Length) return Abi.EINVAL;
        m.Version = b[NetcfgWire.RtmVersion];
        if (m.Version != Abi.RTM_VERSION) return Abi.EPROTONOSUPPORT;
        m.Type = b[NetcfgWire.RtmType];
        m.Index = BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(NetcfgWire.RtmIndex));
        m.Flags = BinaryPrimitives.ReadInt32LittleEndian(b.Slice(NetcfgWire.RtmFlags));
        m.Addrs = BinaryPrimitives.ReadInt32LittleEndian(b.Slice(NetcfgWire.RtmAddrs));
        m.Pid = BinaryPrimitives.ReadInt32LittleEndian(b.Slice(NetcfgWire.RtmPid));
        m.Seq = BinaryPrimitives.ReadInt32LittleEndian(b.Slice(NetcfgWire.RtmSeq));
        ReadOnlySpan<byte> rest = b.Slice(NetcfgWire.RtMsghdrSize, m.Length - NetcfgWire.RtMsghdrSize);
        for (int i = 0; i < Abi.RTAX_MAX; i++)
        {
            if ((m.Addrs & (1 << i)) == 0) continue;
            if (rest.Length < 2) return Abi.EINVAL;
            int len = rest[0];
            int room = NetcfgWire.RoundUp(len);
            if (len > rest.Length) return Abi.EINVAL;
            ReadOnlySpan<byte> sa = rest.Slice(0, len);
            switch (i)
            {
                case 0: m.Dst = sa; break;
                case 1: m.Gateway = sa; break;
                case 2: m.Netmask = sa; break;
                case 3: m.Genmask = sa; break;
                case 4: m.Ifp = sa; break;
                case 5: m.Ifa = sa; break;
                case 6: m.Author = sa; break;
                case 7: m.Brd = sa; break;
                default: m.Tag = sa; break;
            }
            rest = rest.Slice(Math.Min(room, rest.Length));
        }
        return 0;
    }

    /// <summary>
    /// A netmask sockaddr as route(8) sends it: possibly shortened (sa_len below 8, trailing zero
    /// bytes left out) and of any family; the bytes from offset 4 are the mask.
    /// </summary>
    public static Ipv4Addr ReadMask(ReadOnlySpan<byte> sa)
    {
        Span<byte> m = stackalloc byte[4];
        m.Clear();
        for (int i = 4; i < sa.Length && i < 8; i++) m[i - 4] = sa[i];
        return Ipv4Addr.Read(m);
    }
}

/// <summary>Builds a routing message: the header, then sockaddrs appended in RTA_* order.</summary>
public ref struct RtMsgBuilder
{
    private readonly Span<byte> _b;
    private int _len, _addrs;

    /// <summary>At least <see cref="NetcfgWire.RtMsghdrSize"/> + 8 * 32 bytes hold any message this kernel makes.</summary>
    public const int MaxSize = NetcfgWire.RtMsghdrSize + 9 * NetcfgWire.SdlSize;

    public RtMsgBuilder(Span<byte> b, int type, int index, int flags, int pid, int seq, int errno)
    {
        _b = b;
        b.Slice(0, NetcfgWire.RtMsghdrSize).Clear();
        b[NetcfgWire.RtmVersion] = (byte)Abi.RTM_VERSION;
        b[NetcfgWire.RtmType] = (byte)type;
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(NetcfgWire.RtmIndex), (ushort)index);
        BinaryPrimitives.WriteInt32LittleEndian(b.Slice(NetcfgWire.RtmFlags), flags);
        BinaryPrimitives.WriteInt32LittleEndian(b.Slice(NetcfgWire.RtmPid), pid);
        BinaryPrimitives.WriteInt32LittleEndian(b.Slice(NetcfgWire.RtmSeq), seq);
        BinaryPrimitives.WriteInt32LittleEndian(b.Slice(NetcfgWire.RtmErrno), errno);
        _len = NetcfgWire.RtMsghdrSize;
        _addrs = 0;
    }

    public void SetMtu(int mtu) => BinaryPrimitives.WriteUInt64LittleEndian(_b.Slice(NetcfgWire.RtmRmxMtu), (ulong)mtu);

    /// <summary>Appends an IPv4 sockaddr as RTA bit <paramref name="rta"/> (call in increasing RTA order).</summary>
    public void AddSin(int rta, Ipv4Addr a)
    {
        NetcfgWire.WriteSin(_b.Slice(_len), a);
        _len += NetcfgWire.SinSize;
        _addrs |= rta;
    }

    public void AddSdl(int rta, int index, byte type, string name, EtherAddr? mac)
    {
        NetcfgWire.WriteSdl(_b.Slice(_len), index, type, name, mac);
        _len += NetcfgWire.SdlSize;
        _addrs |= rta;
    }

    /// <summary>Writes rtm_msglen and rtm_addrs; the message is the first <c>return</c> bytes.</summary>
    public int Finish()
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_b.Slice(NetcfgWire.RtmMsglen), (ushort)_len);
        BinaryPrimitives.WriteInt32LittleEndian(_b.Slice(NetcfgWire.RtmAddrs), _addrs);
        return _len;
    }
}
