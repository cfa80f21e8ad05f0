using System;
using System.Buffers.Binary;
using Rump.Kern;
using Rump.Net.Netinet;
using Rump.Net.Route;
using Rump.Net.Wire;

namespace Rump.Net;

/// <summary>
/// Interface ioctls on any socket (NetBSD's ifioctl and in_control, if.c and in.c): the 'i'
/// group of sys/sockio.h, which a socket's ioctl hands here before its protocol sees it.
/// Interfaces are named in the argument's first 16 bytes (struct ifreq, ifaliasreq, ifdrv);
/// changes need root (kauth's network-interface privilege: EPERM), the rest is open to anyone.
/// The work is done by the same functions the rump_pub_netconfig_* calls use (<see cref="IfCloners"/>,
/// <see cref="Ifnet.SetFlags"/>, <see cref="Inet.AddAddress"/>, <see cref="Inet.DeleteAddress"/>), and
/// changes are announced on routing sockets (<see cref="RouteSock"/>: RTM_IFINFO, RTM_NEWADDR,
/// RTM_DELADDR). Errors are NetBSD's: ENXIO for no such interface, EADDRNOTAVAIL for no such
/// address, EINVAL for a malformed request, ENOTTY for a command this kernel does not know.
/// No locks of its own; none is held while it runs (a driver's linkstr may block).
/// </summary>
public static class IfIoctl
{
    /// <summary>NetBSD's group of interface ioctls ('i').</summary>
    public static bool Handles(ulong cmd) => ((cmd >> 8) & 0xff) == 'i';

    /// <summary>Longest link string accepted (a host path: MAXPATHLEN).</summary>
    public const int MaxLinkStr = 1024;

    private static int ArgSize(ulong cmd) => (int)((cmd >> 16) & Abi.IOCPARM_MASK);

    public static int Ioctl(Lwp l, ulong cmd, UserPtr data)
    {
        Kernel k = l.Kernel;
        Net? net = k.GetService<Net>();
        if (net == null) return Abi.ENXIO;
        int size = ArgSize(cmd);
        if (size < NetcfgWire.IfconfSize || size > NetcfgWire.IfreqSize || data.IsNull) return size == 0 ? Abi.ENOTTY : Abi.EFAULT;
        Span<byte> arg = stackalloc byte[NetcfgWire.IfreqSize];
        arg = arg.Slice(0, size);
        int e = l.Proc.Vmspace.CopyIn(data, arg);
        if (e != 0) return e;
        e = Do(l, net, cmd, arg);
        if (e == 0 && (cmd & Abi.IOC_OUT) != 0) e = l.Proc.Vmspace.CopyOut(arg, data);
        return e;
    }

    private static int Do(Lwp l, Net net, ulong cmd, Span<byte> arg)
    {
        Kernel k = l.Kernel;
        if (cmd == Abi.SIOCGIFCONF) return IfConf(l, net, arg);
        if (cmd != Abi.SIOCIFCREATE && cmd != Abi.SIOCIFDESTROY && cmd != Abi.SIOCSIFFLAGS && cmd != Abi.SIOCGIFFLAGS &&
            cmd != Abi.SIOCAIFADDR && cmd != Abi.SIOCDIFADDR && cmd != Abi.SIOCGIFADDR && cmd != Abi.SIOCGIFNETMASK &&
            cmd != Abi.SIOCGIFBRDADDR && cmd != Abi.SIOCGIFMTU && cmd != Abi.SIOCSIFMTU && cmd != Abi.SIOCGIFINDEX &&
            cmd != Abi.SIOCSLINKSTR && cmd != Abi.SIOCGLINKSTR)
            return Abi.ENOTTY;
        int e = NetcfgWire.ReadName(arg, out string name);
        if (e != 0) return e;
        bool set = cmd == Abi.SIOCIFCREATE || cmd == Abi.SIOCIFDESTROY || cmd == Abi.SIOCSIFFLAGS || cmd == Abi.SIOCAIFADDR ||
                   cmd == Abi.SIOCDIFADDR || cmd == Abi.SIOCSIFMTU || cmd == Abi.SIOCSLINKSTR;
        if (set && (e = Kauth.Privileged(l.Cred)) != 0) return e;
        RouteSock? rs = k.GetService<RouteSock>();

        if (cmd == Abi.SIOCIFCREATE)
        {
            IfCloners? c = k.GetService<IfCloners>();
            if (c == null) return Abi.EINVAL;
            e = c.Create(net, name, out Ifnet? made);
            if (e == 0 && made != null) rs?.IfAnnounce(made, arrival: true);
            return e;
        }
        Ifnet? ifp = net.Find(name);
        if (ifp == null) return Abi.ENXIO;
        if (cmd == Abi.SIOCIFDESTROY)
        {
            IfCloners? c = k.GetService<IfCloners>();
            if (c == null) return Abi.EINVAL;
            e = c.Destroy(net, name);
            if (e == 0)
            {
                k.GetService<Inet>()?.InterfaceGone(ifp);
                rs?.IfAnnounce(ifp, arrival: false);
            }
            return e;
        }

        Span<byte> u = arg.Slice(NetcfgWire.IfNameSize);
        Inet? inet = k.GetService<Inet>();
        switch (cmd)
        {
            case Abi.SIOCGIFFLAGS:
                BinaryPrimitives.WriteInt16LittleEndian(u, (short)ifp.Flags);
                return 0;
            case Abi.SIOCSIFFLAGS:
            {
                int want = (ushort)BinaryPrimitives.ReadInt16LittleEndian(u);
                bool up = (want & Ifnet.IFF_UP) != 0;
                if (up == ifp.IsUp) return 0;
                // Only IFF_UP is the caller's to change here; RUNNING follows it (no link state to wait for).
                if (up) ifp.SetFlags(Ifnet.IFF_UP | Ifnet.IFF_RUNNING, 0);
                else ifp.SetFlags(0, Ifnet.IFF_UP | Ifnet.IFF_RUNNING);
                rs?.IfInfo(ifp);
                return 0;
            }
            case Abi.SIOCGIFMTU:
                BinaryPrimitives.WriteInt32LittleEndian(u, ifp.Mtu);
                return 0;
            case Abi.SIOCSIFMTU:
            {
                int mtu = BinaryPrimitives.ReadInt32LittleEndian(u);
                // NetBSD's ether_ioctl: ETHERMIN (46) .. ETHERMTU (1500), or the driver's jumbo size, on Ethernet; 576 (IP's minimum datagram) .. 65535 otherwise.
                int min = ifp.Type == Ifnet.IFT_ETHER ? 46 : 576;
                if (mtu < min || mtu > ifp.MaxMtu) return Abi.EINVAL;
                ifp.Mtu = mtu;
                rs?.IfInfo(ifp);
                return 0;
            }
            case Abi.SIOCGIFINDEX:
                BinaryPrimitives.WriteUInt32LittleEndian(u, (uint)ifp.Index);
                return 0;
            case Abi.SIOCSLINKSTR:
                return SetLinkStr(l, ifp, u);
            case Abi.SIOCGLINKSTR:
                return GetLinkStr(l, ifp, u);
        }

        if (inet == null) return Abi.EAFNOSUPPORT;
        switch (cmd)
        {
            case Abi.SIOCAIFADDR:
            {
                if (arg.Length < NetcfgWire.IfaliasreqSize) return Abi.EINVAL;
                e = NetcfgWire.ReadSin(arg.Slice(16, 16), out Ipv4Addr addr);
                if (e != 0) return e;
                Ipv4Addr brd = default, mask;
                if (arg[32] != 0 && (e = NetcfgWire.ReadSin(arg.Slice(32, 16), out brd)) != 0) return e;
                // NetBSD in_ifinit: no mask given means the address's class's (RFC 791's A, B, C).
                if (arg[48] != 0) mask = RtMsg.ReadMask(arg.Slice(48, Math.Min(16, (int)arg[48])));
                else mask = new Ipv4Addr((addr.Value >> 31) == 0 ? 0xff000000u : (addr.Value >> 30) == 2 ? 0xffff0000u : 0xffffff00u);
                e = inet.AddAddress(ifp, addr, mask, brd);
                if (e != 0) return e;
                rs?.NewAddr(ifp, addr, mask, add: true);
                // NetBSD's SIOCINITIFADDR: an interface is brought up by its first address.
                if (!ifp.IsUp)
                {
                    ifp.SetFlags(Ifnet.IFF_UP | Ifnet.IFF_RUNNING, 0);
                    rs?.IfInfo(ifp);
                }
                return 0;
            }
            case Abi.SIOCDIFADDR:
            {
                InIfaddr? ia = null;
                if (u[1] == Abi.AF_INET)
                {
                    NetcfgWire.ReadSin(u, out Ipv4Addr a);
                    foreach (InIfaddr x in inet.Addresses()) if (x.Ifp == ifp && x.Addr == a) { ia = x; break; }
                }
                else if (u[1] == Abi.AF_UNSPEC) ia = inet.AddressOf(ifp);
                else return Abi.EAFNOSUPPORT;
                if (ia == null) return Abi.EADDRNOTAVAIL;
                e = inet.DeleteAddress(ifp, ia.Addr);
                if (e == 0) rs?.NewAddr(ifp, ia.Addr, ia.Mask, add: false);
                return e;
            }
            case Abi.SIOCGIFADDR:
            case Abi.SIOCGIFNETMASK:
            case Abi.SIOCGIFBRDADDR:
            {
                // NetBSD in_control: the address named in ifr_addr if it is one of ours there, else the first.
                InIfaddr? ia = null;
                if (u[1] == Abi.AF_INET && NetcfgWire.ReadSin(u, out Ipv4Addr a) == 0 && a != Ipv4Addr.Any)
                    foreach (InIfaddr x in inet.Addresses()) if (x.Ifp == ifp && x.Addr == a) { ia = x; break; }
                ia ??= inet.AddressOf(ifp);
                if (ia == null) return Abi.EADDRNOTAVAIL;
                if (cmd == Abi.SIOCGIFBRDADDR && (ifp.Flags & Ifnet.IFF_BROADCAST) == 0) return Abi.EINVAL;
                NetcfgWire.WriteSin(u, cmd == Abi.SIOCGIFADDR ? ia.Addr : cmd == Abi.SIOCGIFNETMASK ? ia.Mask : ia.Broadcast);
                return 0;
            }
        }
        return Abi.ENOTTY;
    }

    /// <summary>SIOCGIFCONF (NetBSD ifconf): an ifreq per interface (its link address) and per IPv4 address; without a buffer, the length needed.</summary>
    private static int IfConf(Lwp l, Net net, Span<byte> arg)
    {
        int room = BinaryPrimitives.ReadInt32LittleEndian(arg);
        var buf = new UserPtr((nint)BinaryPrimitives.ReadInt64LittleEndian(arg.Slice(8)));
        if (room < 0) return Abi.EINVAL;
        Inet? inet = l.Kernel.GetService<Inet>();
        Span<byte> r = stackalloc byte[NetcfgWire.IfreqSize];
        int off = 0;
        foreach (Ifnet ifp in net.Interfaces())
        {
            for (int i = -1; ; i++)
            {
                InIfaddr? ia = null;
                if (i >= 0)
                {
                    InIfaddr[] all = inet?.Addresses() ?? Array.Empty<InIfaddr>();
                    int n = -1;
                    foreach (InIfaddr x in all) if (x.Ifp == ifp && ++n == i) { ia = x; break; }
                    if (ia == null) break;
                }
                if (!buf.IsNull && off + NetcfgWire.IfreqSize > room) goto done;
                if (!buf.IsNull)
                {
                    r.Clear();
                    NetcfgWire.WriteName(r, ifp.Name);
                    if (ia == null) NetcfgWire.WriteSdl(r.Slice(16), ifp.Index, ifp.Type, ifp.Name, ifp.Type == Ifnet.IFT_ETHER ? ifp.LinkAddr : null);
                    else NetcfgWire.WriteSin(r.Slice(16), ia.Addr);
                    int e = l.Proc.Vmspace.CopyOut(r, buf.Add(off));
                    if (e != 0) return e;
                }
                off += NetcfgWire.IfreqSize;
            }
        }
    done:
        BinaryPrimitives.WriteInt32LittleEndian(arg, off);
        return 0;
    }

    /// <summary>SIOCSLINKSTR: struct ifdrv's ifd_cmd (IFLINKSTR_UNSET or 0), ifd_len, ifd_data (a NUL-terminated string).</summary>
    private static int SetLinkStr(Lwp l, Ifnet ifp, ReadOnlySpan<byte> u)
    {
        if (u.Length < NetcfgWire.IfdrvSize - 16) return Abi.EINVAL;
        ulong dcmd = BinaryPrimitives.ReadUInt64LittleEndian(u);
        ulong len = BinaryPrimitives.ReadUInt64LittleEndian(u.Slice(8));
        var p = new UserPtr((nint)BinaryPrimitives.ReadInt64LittleEndian(u.Slice(16)));
        if (dcmd == Abi.IFLINKSTR_UNSET) return ifp.LinkStrSet(null);
        if (dcmd != 0) return Abi.EINVAL;
        if (len > MaxLinkStr) return Abi.E2BIG;
        if (len < 2 || p.IsNull) return Abi.EINVAL;
        byte[] s = new byte[(int)len];
        int e = l.Proc.Vmspace.CopyIn(p, s);
        if (e != 0) return e;
        // NetBSD: the string must end where ifd_len says, with its NUL.
        if (s[^1] != 0 || Array.IndexOf(s, (byte)0) != s.Length - 1) return Abi.EINVAL;
        return ifp.LinkStrSet(System.Text.Encoding.UTF8.GetString(s, 0, s.Length - 1));
    }

    /// <summary>SIOCGLINKSTR: IFLINKSTR_QUERYLEN sets ifd_len to the string's size with its NUL; otherwise copies it out (E2BIG if ifd_len is short, ENOENT if none is set).</summary>
    private static int GetLinkStr(Lwp l, Ifnet ifp, Span<byte> u)
    {
        if (u.Length < NetcfgWire.IfdrvSize - 16) return Abi.EINVAL;
        ulong dcmd = BinaryPrimitives.ReadUInt64LittleEndian(u);
        ulong len = BinaryPrimitives.ReadUInt64LittleEndian(u.Slice(8));
        var p = new UserPtr((nint)BinaryPrimitives.ReadInt64LittleEndian(u.Slice(16)));
        string? s = ifp.LinkStrGet();
        if (s == null) return Abi.ENOENT;
        byte[] b = System.Text.Encoding.UTF8.GetBytes(s + "\0");
        if (dcmd == Abi.IFLINKSTR_QUERYLEN)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(u.Slice(8), (ulong)b.Length);
            return 0;
        }
        if (dcmd != 0) return Abi.EINVAL;
        if (len < (ulong)b.Length) return Abi.E2BIG;
        if (p.IsNull) return Abi.EFAULT;
        BinaryPrimitives.WriteUInt64LittleEndian(u.Slice(8), (ulong)b.Length);
        return l.Proc.Vmspace.CopyOut(b, p);
    }
}
