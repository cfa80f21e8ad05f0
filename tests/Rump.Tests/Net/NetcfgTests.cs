using System;
using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using Rump.Net;
using Rump.Net.Wire;

namespace Rump.Tests.Net;

/// <summary>
/// Network configuration as NetBSD does it, through the system-call table: the interface ioctls
/// on a socket (SIOCIFCREATE of shmif0, SIOCSLINKSTR to a bus file, SIOCAIFADDR, flags, MTU,
/// index, addresses, SIOCGIFCONF, SIOCDIFADDR, SIOCIFDESTROY) with their errors; the routing
/// socket (RTM_ADD/GET/CHANGE/DELETE, rtm_errno, malformed messages, announcements to a second
/// listener, the net.route.inet.dump listing); raw ICMP sockets (root only; an echo to
/// 127.0.0.1 comes back as the request's copy and the kernel's reply).
/// </summary>
public unsafe class NetcfgTests : KernelTest
{
    private static long Sys(RumpKernel k, int num, params long[] a) => k.Syscall(num, a);

    internal static byte[] Ifreq(string name)
    {
        var b = new byte[NetcfgWire.IfreqSize];
        Encoding.ASCII.GetBytes(name).CopyTo(b, 0);
        return b;
    }

    internal static long Ioctl(RumpKernel k, int s, uint cmd, byte[] arg)
    {
        fixed (byte* p = arg) return Sys(k, SysNum.ioctl, s, cmd, (long)p);
    }

    private static byte[] Alias(string name, Ipv4Addr a, Ipv4Addr mask)
    {
        var b = new byte[NetcfgWire.IfaliasreqSize];
        Encoding.ASCII.GetBytes(name).CopyTo(b, 0);
        NetcfgWire.WriteSin(b.AsSpan(16), a);
        NetcfgWire.WriteSin(b.AsSpan(48), mask);
        return b;
    }

    private static long SetLinkStr(RumpKernel k, int s, string name, string path)
    {
        byte[] str = Encoding.UTF8.GetBytes(path + "\0");
        var d = new byte[NetcfgWire.IfdrvSize];
        Encoding.ASCII.GetBytes(name).CopyTo(d, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(24), (ulong)str.Length);
        fixed (byte* sp = str)
        {
            BinaryPrimitives.WriteInt64LittleEndian(d.AsSpan(32), (long)sp);
            return Ioctl(k, s, Abi.SIOCSLINKSTR, d);
        }
    }

    private static int Sock(RumpKernel k, int dom, int type, int proto = 0) => (int)Sys(k, SysNum.socket, dom, type, proto);

    /// <summary>shmif0 on a bus in the test's directory with 10.0.0.1/24, through the ioctls.</summary>
    private int Shmif0(RumpKernel k, int s, string addr = "10.0.0.1")
    {
        Assert.That(Ioctl(k, s, Abi.SIOCIFCREATE, Ifreq("shmif0")), Is.EqualTo(0), "SIOCIFCREATE shmif0");
        Assert.That(SetLinkStr(k, s, "shmif0", System.IO.Path.Combine(HostWork, "bus")), Is.EqualTo(0), "SIOCSLINKSTR");
        Rump.Net.Netinet.Netconfig.TryParse(addr, out Ipv4Addr a);
        Assert.That(Ioctl(k, s, Abi.SIOCAIFADDR, Alias("shmif0", a, new Ipv4Addr(255, 255, 255, 0))), Is.EqualTo(0), "SIOCAIFADDR");
        return s;
    }

    [Test]
    public void InterfaceIoctls_CreateLinkstrAddressFlagsMtuConfDestroy_AndTheirErrors()
    {
        RumpKernel k = Boot(ncpu: 2);
        int s = Sock(k, Abi.AF_INET, Abi.SOCK_DGRAM);
        Assert.That(s, Is.GreaterThanOrEqualTo(0));
        Assert.That(Ioctl(k, s, Abi.SIOCIFCREATE, Ifreq("shmif0")), Is.EqualTo(0));
        Assert.That(Ioctl(k, s, Abi.SIOCIFCREATE, Ifreq("shmif0")), Is.EqualTo(-Abi.EEXIST), "a second shmif0");
        Assert.That(Ioctl(k, s, Abi.SIOCIFCREATE, Ifreq("bogus0")), Is.EqualTo(-Abi.EINVAL), "no cloner for bogus");
        byte[] r = Ifreq("shmif0");
        Assert.That(Ioctl(k, s, Abi.SIOCGIFFLAGS, r), Is.EqualTo(0));
        Assert.That(BinaryPrimitives.ReadInt16LittleEndian(r.AsSpan(16)) & Abi.IFF_UP, Is.EqualTo(0), "made down");

        // linkstr: set, read back (length query first), and the address goes up with it.
        string bus = System.IO.Path.Combine(HostWork, "bus");
        Assert.That(SetLinkStr(k, s, "shmif0", bus), Is.EqualTo(0));
        var d = new byte[NetcfgWire.IfdrvSize];
        Encoding.ASCII.GetBytes("shmif0").CopyTo(d, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(16), (ulong)Abi.IFLINKSTR_QUERYLEN);
        Assert.That(Ioctl(k, s, Abi.SIOCGLINKSTR, d), Is.EqualTo(0));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(24)), Is.EqualTo((ulong)bus.Length + 1), "IFLINKSTR_QUERYLEN");
        var got = new byte[bus.Length + 1];
        fixed (byte* gp = got)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(16), 0);
            BinaryPrimitives.WriteInt64LittleEndian(d.AsSpan(32), (long)gp);
            BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(24), 4);
            Assert.That(Ioctl(k, s, Abi.SIOCGLINKSTR, d), Is.EqualTo(-Abi.E2BIG), "a short buffer");
            BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(24), (ulong)got.Length);
            Assert.That(Ioctl(k, s, Abi.SIOCGLINKSTR, d), Is.EqualTo(0));
        }
        Assert.That(Encoding.UTF8.GetString(got, 0, bus.Length), Is.EqualTo(bus));
        Assert.That(Ioctl(k, s, Abi.SIOCAIFADDR, Alias("shmif0", new Ipv4Addr(10, 0, 0, 1), new Ipv4Addr(255, 255, 255, 0))), Is.EqualTo(0));
        Assert.That(Ioctl(k, s, Abi.SIOCGIFFLAGS, r), Is.EqualTo(0));
        Assert.That(BinaryPrimitives.ReadInt16LittleEndian(r.AsSpan(16)) & (Abi.IFF_UP | Abi.IFF_BROADCAST), Is.EqualTo(Abi.IFF_UP | Abi.IFF_BROADCAST), "up by its first address");
        Assert.That(SetLinkStr(k, s, "shmif0", bus), Is.EqualTo(-Abi.EBUSY), "linkstr while up");

        r = Ifreq("shmif0");
        Assert.That(Ioctl(k, s, Abi.SIOCGIFADDR, r), Is.EqualTo(0));
        Assert.That((r[17], Ipv4Addr.Read(r.AsSpan(20))), Is.EqualTo(((byte)Abi.AF_INET, new Ipv4Addr(10, 0, 0, 1))));
        Assert.That(Ioctl(k, s, Abi.SIOCGIFNETMASK, r), Is.EqualTo(0));
        Assert.That(Ipv4Addr.Read(r.AsSpan(20)), Is.EqualTo(new Ipv4Addr(255, 255, 255, 0)));
        Assert.That(Ioctl(k, s, Abi.SIOCGIFBRDADDR, r), Is.EqualTo(0));
        Assert.That(Ipv4Addr.Read(r.AsSpan(20)), Is.EqualTo(new Ipv4Addr(10, 0, 0, 255)));
        Assert.That(Ioctl(k, s, Abi.SIOCGIFMTU, r), Is.EqualTo(0));
        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(r.AsSpan(16)), Is.EqualTo(1500));
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(16), 9000);
        Assert.That(Ioctl(k, s, Abi.SIOCSIFMTU, r), Is.EqualTo(-Abi.EINVAL), "past Ethernet's MTU");
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(16), 1280);
        Assert.That(Ioctl(k, s, Abi.SIOCSIFMTU, r), Is.EqualTo(0));
        Assert.That(Ioctl(k, s, Abi.SIOCGIFMTU, r), Is.EqualTo(0));
        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(r.AsSpan(16)), Is.EqualTo(1280));
        Assert.That(Ioctl(k, s, Abi.SIOCGIFINDEX, r), Is.EqualTo(0));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(r.AsSpan(16)), Is.EqualTo(2u), "lo0 is 1");

        // SIOCGIFCONF: the length needed, then lo0 and shmif0 with their link and IPv4 addresses.
        var conf = new byte[NetcfgWire.IfconfSize];
        Assert.That(Ioctl(k, s, Abi.SIOCGIFCONF, conf), Is.EqualTo(0));
        int need = BinaryPrimitives.ReadInt32LittleEndian(conf);
        Assert.That(need, Is.EqualTo(4 * NetcfgWire.IfreqSize), "lo0 link + 127.0.0.1, shmif0 link + 10.0.0.1");
        var all = new byte[need];
        fixed (byte* ap = all)
        {
            BinaryPrimitives.WriteInt64LittleEndian(conf.AsSpan(8), (long)ap);
            Assert.That(Ioctl(k, s, Abi.SIOCGIFCONF, conf), Is.EqualTo(0));
        }
        var sb = new StringBuilder();
        for (int off = 0; off < need; off += NetcfgWire.IfreqSize)
        {
            NetcfgWire.ReadName(all.AsSpan(off), out string n);
            sb.Append(n).Append(all[off + 17] == Abi.AF_INET ? " " + Ipv4Addr.Read(all.AsSpan(off + 20)) : " link").Append(';');
        }
        Assert.That(sb.ToString(), Is.EqualTo("lo0 link;lo0 127.0.0.1;shmif0 link;shmif0 10.0.0.1;"));

        // Bad requests: errors, never a crash.
        Assert.That(Ioctl(k, s, Abi.SIOCGIFFLAGS, Ifreq("nosuch0")), Is.EqualTo(-Abi.ENXIO));
        byte[] noNul = Ifreq("abcdefghijklmnopq");
        Assert.That(Ioctl(k, s, Abi.SIOCGIFFLAGS, noNul), Is.EqualTo(-Abi.EINVAL), "a name filling IFNAMSIZ");
        Assert.That(Ioctl(k, s, Abi.SIOCGIFFLAGS, new byte[NetcfgWire.IfreqSize]), Is.EqualTo(-Abi.EINVAL), "an empty name");
        Assert.That(Sys(k, SysNum.ioctl, s, Abi.SIOCGIFFLAGS, 0), Is.EqualTo(-Abi.EFAULT), "NULL");
        Assert.That(Ioctl(k, s, 0xc0906999, Ifreq("shmif0")), Is.EqualTo(-Abi.ENOTTY), "an unknown 'i' command");
        Assert.That(Ioctl(k, s, Abi.SIOCAIFADDR, Alias("shmif0", new Ipv4Addr(224, 0, 0, 1), new Ipv4Addr(255, 255, 255, 0))), Is.EqualTo(-Abi.EINVAL), "a multicast address");
        byte[] gap = Alias("shmif0", new Ipv4Addr(10, 0, 1, 1), new Ipv4Addr(255, 0, 255, 0));
        Assert.That(Ioctl(k, s, Abi.SIOCAIFADDR, gap), Is.EqualTo(-Abi.EINVAL), "a mask with a hole");
        byte[] del = Ifreq("shmif0");
        NetcfgWire.WriteSin(del.AsSpan(16), new Ipv4Addr(10, 9, 9, 9));
        Assert.That(Ioctl(k, s, Abi.SIOCDIFADDR, del), Is.EqualTo(-Abi.EADDRNOTAVAIL));

        // Unprivileged: reading is allowed, changing is EPERM.
        BecomeUser(k, 1000, 100);
        int us = Sock(k, Abi.AF_INET, Abi.SOCK_DGRAM);
        Assert.That(Ioctl(k, us, Abi.SIOCGIFFLAGS, Ifreq("shmif0")), Is.EqualTo(0));
        Assert.That(Ioctl(k, us, Abi.SIOCSIFFLAGS, Ifreq("shmif0")), Is.EqualTo(-Abi.EPERM));
        Assert.That(Ioctl(k, us, Abi.SIOCIFDESTROY, Ifreq("shmif0")), Is.EqualTo(-Abi.EPERM));
        Assert.That(Sock(k, Abi.AF_INET, Abi.SOCK_RAW, Abi.IPPROTO_ICMP), Is.EqualTo(-Abi.EPERM), "a raw socket as a user");
        BecomeRoot(k);

        NetcfgWire.WriteSin(del.AsSpan(16), new Ipv4Addr(10, 0, 0, 1));
        Assert.That(Ioctl(k, s, Abi.SIOCDIFADDR, del), Is.EqualTo(0));
        Assert.That(Ioctl(k, s, Abi.SIOCGIFADDR, Ifreq("shmif0")), Is.EqualTo(-Abi.EADDRNOTAVAIL), "no address left");
        r = Ifreq("shmif0");
        Assert.That(Ioctl(k, s, Abi.SIOCSIFFLAGS, r), Is.EqualTo(0), "down");
        Assert.That(Ioctl(k, s, Abi.SIOCGIFFLAGS, r), Is.EqualTo(0));
        Assert.That(BinaryPrimitives.ReadInt16LittleEndian(r.AsSpan(16)) & Abi.IFF_UP, Is.EqualTo(0));
        Assert.That(Ioctl(k, s, Abi.SIOCIFDESTROY, Ifreq("shmif0")), Is.EqualTo(0));
        Assert.That(Ioctl(k, s, Abi.SIOCGIFFLAGS, Ifreq("shmif0")), Is.EqualTo(-Abi.ENXIO), "destroyed");
        Assert.That(Ioctl(k, s, Abi.SIOCIFDESTROY, Ifreq("lo0")), Is.EqualTo(-Abi.EINVAL), "lo0 is not cloned");
    }

    // ---- the routing socket ----------------------------------------------------------------

    private static byte[] RtMsg(int type, int flags, int seq, Ipv4Addr dst, Ipv4Addr? gw, Ipv4Addr? mask)
    {
        var b = new byte[NetcfgWire.RtMsghdrSize + 48];
        b[NetcfgWire.RtmVersion] = (byte)Abi.RTM_VERSION;
        b[NetcfgWire.RtmType] = (byte)type;
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(NetcfgWire.RtmFlags), flags);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(NetcfgWire.RtmSeq), seq);
        int off = NetcfgWire.RtMsghdrSize, addrs = Abi.RTA_DST;
        NetcfgWire.WriteSin(b.AsSpan(off), dst);
        off += 16;
        if (gw is Ipv4Addr g) { NetcfgWire.WriteSin(b.AsSpan(off), g); off += 16; addrs |= Abi.RTA_GATEWAY; }
        if (mask is Ipv4Addr m) { NetcfgWire.WriteSin(b.AsSpan(off), m); off += 16; addrs |= Abi.RTA_NETMASK; }
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(NetcfgWire.RtmAddrs), addrs);
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)off);
        return b.AsSpan(0, off).ToArray();
    }

    private static long Write(RumpKernel k, int s, byte[] b) { fixed (byte* p = b) return Sys(k, SysNum.write, s, (long)p, b.Length); }

    private static byte[] ReadMsg(RumpKernel k, int s)
    {
        var b = new byte[2048];
        long n;
        fixed (byte* p = b) n = Sys(k, SysNum.recvfrom, s, (long)p, b.Length, Abi.MSG_DONTWAIT, 0, 0);
        Assert.That(n, Is.GreaterThan(0), "a routing message waiting");
        return b.AsSpan(0, (int)n).ToArray();
    }

    private static (int Type, int Errno, int Seq, int Addrs, int Flags) Hdr(byte[] m)
        => (m[NetcfgWire.RtmType], BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(NetcfgWire.RtmErrno)),
            BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(NetcfgWire.RtmSeq)), BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(NetcfgWire.RtmAddrs)),
            BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(NetcfgWire.RtmFlags)));

    [Test]
    public void RoutingSocket_AddGetChangeDelete_ErrorsInRtmErrno_AndAnnouncements()
    {
        RumpKernel k = Boot(ncpu: 2);
        int s = Sock(k, Abi.AF_INET, Abi.SOCK_DGRAM);
        int rs = Sock(k, Abi.PF_ROUTE, Abi.SOCK_RAW);
        int listener = Sock(k, Abi.PF_ROUTE, Abi.SOCK_RAW, Abi.AF_INET);
        Assert.That(rs, Is.GreaterThanOrEqualTo(0), "socket(PF_ROUTE, SOCK_RAW, 0)");
        Assert.That(listener, Is.GreaterThanOrEqualTo(0), "socket(PF_ROUTE, SOCK_RAW, AF_INET)");
        Shmif0(k, s);
        // The address arrived on both listeners as RTM_NEWADDR (and the interface going up as RTM_IFINFO on the unfiltered one).
        byte[] na = ReadMsg(k, listener);
        Assert.That(Hdr(na).Type, Is.EqualTo(Abi.RTM_NEWADDR));
        Assert.That(Hdr(na).Addrs, Is.EqualTo(Abi.RTA_NETMASK | Abi.RTA_IFP | Abi.RTA_IFA));
        DrainAll(k, rs);
        DrainAll(k, listener);

        var net = new Ipv4Addr(192, 168, 5, 0);
        var mask24 = new Ipv4Addr(255, 255, 255, 0);
        byte[] add = RtMsg(Abi.RTM_ADD, Abi.RTF_GATEWAY | Abi.RTF_STATIC, 1, net, new Ipv4Addr(10, 0, 0, 254), mask24);
        Assert.That(Write(k, rs, add), Is.EqualTo(add.Length), "RTM_ADD");
        byte[] rep = ReadMsg(k, rs);
        Assert.That((Hdr(rep).Type, Hdr(rep).Errno, Hdr(rep).Seq), Is.EqualTo((Abi.RTM_ADD, 0, 1)));
        Assert.That(Hdr(rep).Flags & (Abi.RTF_DONE | Abi.RTF_GATEWAY), Is.EqualTo(Abi.RTF_DONE | Abi.RTF_GATEWAY));
        Assert.That(Hdr(ReadMsg(k, listener)).Type, Is.EqualTo(Abi.RTM_ADD), "the other listener hears it");

        byte[] get = RtMsg(Abi.RTM_GET, 0, 2, new Ipv4Addr(192, 168, 5, 77), null, null);
        Assert.That(Write(k, rs, get), Is.EqualTo(get.Length));
        rep = ReadMsg(k, rs);
        Assert.That((Hdr(rep).Type, Hdr(rep).Errno), Is.EqualTo((Abi.RTM_GET, 0)));
        Assert.That(Hdr(rep).Addrs, Is.EqualTo(Abi.RTA_DST | Abi.RTA_GATEWAY | Abi.RTA_NETMASK | Abi.RTA_IFP | Abi.RTA_IFA));
        int o = NetcfgWire.RtMsghdrSize;
        Assert.That(Ipv4Addr.Read(rep.AsSpan(o + 4)), Is.EqualTo(net), "RTA_DST");
        Assert.That(Ipv4Addr.Read(rep.AsSpan(o + 16 + 4)), Is.EqualTo(new Ipv4Addr(10, 0, 0, 254)), "RTA_GATEWAY");
        Assert.That(Ipv4Addr.Read(rep.AsSpan(o + 32 + 4)), Is.EqualTo(mask24), "RTA_NETMASK");
        Assert.That(Encoding.ASCII.GetString(rep, o + 48 + 8, rep[o + 48 + 5]), Is.EqualTo("shmif0"), "RTA_IFP's name");
        Assert.That(Ipv4Addr.Read(rep.AsSpan(o + 48 + 32 + 4)), Is.EqualTo(new Ipv4Addr(10, 0, 0, 1)), "RTA_IFA");
        DrainAll(k, listener);

        // The connected subnet: its gateway is the interface's link (AF_LINK).
        Assert.That(Write(k, rs, RtMsg(Abi.RTM_GET, 0, 3, new Ipv4Addr(10, 0, 0, 9), null, null)), Is.GreaterThan(0));
        rep = ReadMsg(k, rs);
        Assert.That(rep[o + 16 + 1], Is.EqualTo((byte)Abi.AF_LINK));
        Assert.That(Hdr(rep).Flags & Abi.RTF_CONNECTED, Is.EqualTo(Abi.RTF_CONNECTED));

        // Change the gateway, then delete; failures come back as errors and in rtm_errno.
        byte[] chg = RtMsg(Abi.RTM_CHANGE, Abi.RTF_GATEWAY, 4, net, new Ipv4Addr(10, 0, 0, 253), mask24);
        Assert.That(Write(k, rs, chg), Is.EqualTo(chg.Length));
        Assert.That(Hdr(ReadMsg(k, rs)).Errno, Is.EqualTo(0));
        Assert.That(Write(k, rs, get), Is.EqualTo(get.Length));
        rep = ReadMsg(k, rs);
        Assert.That(Ipv4Addr.Read(rep.AsSpan(o + 16 + 4)), Is.EqualTo(new Ipv4Addr(10, 0, 0, 253)), "changed");
        byte[] far = RtMsg(Abi.RTM_ADD, Abi.RTF_GATEWAY, 5, new Ipv4Addr(172, 16, 0, 0), new Ipv4Addr(10, 9, 9, 9), new Ipv4Addr(255, 255, 0, 0));
        Assert.That(Write(k, rs, far), Is.EqualTo(-Abi.ENETUNREACH), "a gateway on no connected subnet");
        Assert.That((Hdr(rep = ReadMsg(k, rs)).Errno, Hdr(rep).Seq), Is.EqualTo((Abi.ENETUNREACH, 5)));
        Assert.That(Write(k, rs, add), Is.EqualTo(-Abi.EEXIST));
        DrainAll(k, rs);
        byte[] delm = RtMsg(Abi.RTM_DELETE, 0, 6, net, null, mask24);
        Assert.That(Write(k, rs, delm), Is.EqualTo(delm.Length));
        Assert.That(Write(k, rs, delm), Is.EqualTo(-Abi.ESRCH), "deleted twice");
        Assert.That(Write(k, rs, get), Is.EqualTo(-Abi.ESRCH), "no route to 192.168.5.77 now");
        DrainAll(k, rs);

        // Malformed messages: errors, never a crash.
        Assert.That(Write(k, rs, new byte[40]), Is.EqualTo(-Abi.EINVAL), "shorter than the header");
        byte[] bad = (byte[])get.Clone();
        bad[NetcfgWire.RtmVersion] = 3;
        Assert.That(Write(k, rs, bad), Is.EqualTo(-Abi.EPROTONOSUPPORT), "another version");
        bad = (byte[])get.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(bad, 4000);
        Assert.That(Write(k, rs, bad), Is.EqualTo(-Abi.EINVAL), "rtm_msglen past the write");
        bad = (byte[])get.Clone();
        bad[NetcfgWire.RtMsghdrSize] = 200;
        Assert.That(Write(k, rs, bad), Is.EqualTo(-Abi.EINVAL), "a sockaddr past the end");
        bad = (byte[])get.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(NetcfgWire.RtmAddrs), 0);
        Assert.That(Write(k, rs, bad), Is.EqualTo(-Abi.EINVAL), "no destination");
        bad = (byte[])get.Clone();
        bad[NetcfgWire.RtmType] = 0x7f;
        Assert.That(Write(k, rs, bad), Is.EqualTo(-Abi.EOPNOTSUPP), "an unknown type");
        BecomeUser(k, 1000, 100);
        int urs = Sock(k, Abi.PF_ROUTE, Abi.SOCK_RAW);
        Assert.That(Write(k, urs, add), Is.EqualTo(-Abi.EPERM), "RTM_ADD as a user");
        Assert.That(Write(k, urs, RtMsg(Abi.RTM_GET, 0, 7, new Ipv4Addr(10, 0, 0, 9), null, null)), Is.GreaterThan(0), "RTM_GET as a user");
        BecomeRoot(k);

        // net.route.inet.dump: one RTM_GET message per route (lo0's 127/8 and shmif0's 10.0.0/24).
        Sysctl.Node? dump = k.Kernel.Sysctl.FindByName("net.route.inet.dump");
        Assert.That(dump, Is.Not.Null);
        var buf = new byte[4096];
        Assert.That(k.Kernel.Sysctl.Lookup(Cred.Root, dump!, buf, out int len, default), Is.EqualTo(0));
        var dsts = new StringBuilder();
        for (int off = 0; off < len;)
        {
            int ml = BinaryPrimitives.ReadUInt16LittleEndian(buf.AsSpan(off));
            Assert.That(ml, Is.GreaterThanOrEqualTo(NetcfgWire.RtMsghdrSize));
            dsts.Append(Ipv4Addr.Read(buf.AsSpan(off + o + 4))).Append(' ');
            off += ml;
        }
        Assert.That(dsts.ToString(), Is.EqualTo("10.0.0.0 127.0.0.0 "));
    }

    private static void DrainAll(RumpKernel k, int s)
    {
        var b = new byte[2048];
        fixed (byte* p = b)
            while (Sys(k, SysNum.recvfrom, s, (long)p, b.Length, Abi.MSG_DONTWAIT, 0, 0) > 0) { }
    }

    // ---- raw ICMP ----------------------------------------------------------------------------

    [Test]
    public void RawIcmpSocket_EchoToLoopback_SeesTheRequestAndTheKernelsReply()
    {
        RumpKernel k = Boot(ncpu: 2);
        int s = Sock(k, Abi.AF_INET, Abi.SOCK_RAW, Abi.IPPROTO_ICMP);
        Assert.That(s, Is.GreaterThanOrEqualTo(0), "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) as root");
        Assert.That(Sock(k, Abi.AF_INET, Abi.SOCK_RAW, Abi.IPPROTO_RAW), Is.EqualTo(-Abi.EPROTONOSUPPORT), "IPPROTO_RAW (only ICMP is served raw)");
        var tv = new RumpTimeval { tv_sec = 10 };
        Assert.That(Sys(k, SysNum.setsockopt, s, Abi.SOL_SOCKET, Abi.SO_RCVTIMEO, (long)&tv, sizeof(RumpTimeval)), Is.EqualTo(0));
        byte[] echo = new byte[8 + 16];
        echo[0] = (byte)Abi.ICMP_ECHO;
        BinaryPrimitives.WriteUInt16BigEndian(echo.AsSpan(4), 0x1234);
        BinaryPrimitives.WriteUInt16BigEndian(echo.AsSpan(6), 7);
        Encoding.ASCII.GetBytes("rump ping data!!").CopyTo(echo, 8);
        BinaryPrimitives.WriteUInt16BigEndian(echo.AsSpan(2), Checksum.Compute(echo));
        byte[] to = UdpSocketTests.Sin(new Ipv4Addr(127, 0, 0, 1), 0);
        Assert.That(UdpSocketTests.SendTo(k, s, echo, to), Is.EqualTo(echo.Length));
        var types = new StringBuilder();
        var buf = new byte[256];
        for (int i = 0; i < 2; i++)
        {
            long n = UdpSocketTests.RecvFrom(k, s, buf, out Ipv4Addr from, out _);
            Assert.That(n, Is.EqualTo(20 + echo.Length), "IP header + the ICMP message");
            Assert.That(from, Is.EqualTo(new Ipv4Addr(127, 0, 0, 1)));
            int hl = (buf[0] & 0xf) * 4;
            Assert.That((hl, buf[9]), Is.EqualTo((20, (byte)1)), "IPv4 header of ICMP");
            Assert.That(BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(hl + 4)), Is.EqualTo(0x1234), "the id");
            Assert.That(buf.AsSpan(hl + 8, 16).ToArray(), Is.EqualTo(echo.AsSpan(8).ToArray()), "the data");
            types.Append(buf[hl]).Append(' ');
        }
        Assert.That(types.ToString(), Is.EqualTo("8 0 "), "our request's copy, then the kernel's echo reply");
        Assert.That(UdpSocketTests.SendTo(k, s, echo, new byte[4]), Is.EqualTo(-Abi.EINVAL), "a short sockaddr");
        Assert.That(UdpSocketTests.SendTo(k, s, echo, null), Is.EqualTo(-Abi.EDESTADDRREQ), "no destination");
    }
}
