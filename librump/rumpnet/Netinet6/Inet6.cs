using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;
using Rump.Net.Netinet;

namespace Rump.Net.Netinet6;

/// <summary>An IPv6 address on an interface (NetBSD's in6_ifaddr).</summary>
public sealed class In6Ifaddr
{
    // NetBSD's in6_var.h IN6_IFF_* flags.
    public const int IN6_IFF_TENTATIVE = 0x02, IN6_IFF_DUPLICATED = 0x04, IN6_IFF_DEPRECATED = 0x10, IN6_IFF_AUTOCONF = 0x40;

    public readonly Ifnet Ifp;
    public readonly Ipv6Addr Addr;
    public readonly int PrefixLength;
    private int _flags;
    /// <summary>When the address was added (DAD's window runs from here).</summary>
    internal readonly long Added;
    /// <summary>When (monotonic ns) the address stops being valid (it is removed) and preferred (it is deprecated); long.MaxValue: never. Set from router advertisements (RFC 4862 5.5.3); protected by Inet6's configuration lock.</summary>
    internal long ValidUntil = long.MaxValue, PreferredUntil = long.MaxValue;

    public In6Ifaddr(Ifnet ifp, Ipv6Addr addr, int prefixLength, int flags)
    {
        Ifp = ifp;
        Addr = addr;
        PrefixLength = prefixLength;
        _flags = flags;
        Added = Clock.MonotonicNs();
    }

    public int Flags => Volatile.Read(ref _flags);
    internal void SetFlags(int set, int clear)
    {
        int f;
        do f = Volatile.Read(ref _flags); while (Interlocked.CompareExchange(ref _flags, (f | set) & ~clear, f) != f);
    }
    /// <summary>Usable as a source and answered for: not found duplicated by DAD.</summary>
    public bool Usable => (Flags & IN6_IFF_DUPLICATED) == 0;
    public override string ToString() => $"{In6.Format(Addr)}/{PrefixLength} dev {Ifp.Name} flags {Flags:x}";
}

/// <summary>One IPv6 route: a prefix, an interface, and a gateway for indirect routes.</summary>
public sealed class Rt6Entry
{
    public const int RTF_GATEWAY = 0x2, RTF_HOST = 0x4, RTF_STATIC = 0x800, RTF_CONNECTED = 0x40000;
    /// <summary>Learned from a router advertisement: the default route (NetBSD's defrouter list) or an on-link prefix (its prefix list).</summary>
    public const int RTF_RA = 0x1000000;

    public readonly Ipv6Addr Dst, Gateway;
    public readonly int PrefixLength, Flags;
    public readonly Ifnet Ifp;
    /// <summary>When (monotonic ns) a route learned from a router advertisement goes (its router lifetime); long.MaxValue: never. Protected by Inet6's configuration lock.</summary>
    internal long Expires = long.MaxValue;

    public Rt6Entry(Ipv6Addr dst, int plen, Ipv6Addr gateway, int flags, Ifnet ifp)
    {
        Dst = In6.Mask(dst, plen);
        PrefixLength = plen;
        Gateway = gateway;
        Flags = flags | (plen == 128 ? RTF_HOST : 0);
        Ifp = ifp;
    }

    public bool IsGateway => (Flags & RTF_GATEWAY) != 0;
    public bool Matches(Ipv6Addr a) => In6.Mask(a, PrefixLength) == Dst;
    public override string ToString() => $"{In6.Format(Dst)}/{PrefixLength} {(IsGateway ? "via " + In6.Format(Gateway) : "link")} dev {Ifp.Name}";
}

/// <summary>What IPv6 input tells an upper protocol (NetBSD passes offsets into the mbuf; this is them parsed).</summary>
public readonly struct Ip6In
{
    public readonly Ipv6Addr Src, Dst;
    /// <summary>Where the upper-layer header starts in the mbuf (after the IPv6 header and any extension headers).</summary>
    public readonly int Offset;
    public readonly byte NextHeader, HopLimit;
    /// <summary>Sent to a multicast group (no errors go back, except the ones RFC 4443 2.4 allows).</summary>
    public readonly bool Multicast;

    public Ip6In(Ipv6Addr src, Ipv6Addr dst, int off, byte nh, byte hlim, bool mcast)
    { Src = src; Dst = dst; Offset = off; NextHeader = nh; HopLimit = hlim; Multicast = mcast; }
}

/// <summary>An upper protocol's input: <paramref name="m"/> starts at the IPv6 header (kept for ICMPv6 errors); the protocol owns it.</summary>
public delegate void Ip6ProtoInput(Lwp l, Mbuf m, in Ip6In ip);

/// <summary>An ICMPv6 error about a packet we sent (NetBSD pr_ctlinput): errno, our address, theirs, the quoted upper-layer header (at least 8 bytes).</summary>
public delegate void Ip6CtlInput(int error, Ipv6Addr src, Ipv6Addr dst, ReadOnlySpan<byte> quoted);

/// <summary>An ICMPv6 packet too big about a packet we sent (NetBSD's PRC_MSGSIZE with the MTU): our address, theirs, the quoted upper-layer header, the MTU reported.</summary>
public delegate void Ip6MtuInput(Ipv6Addr src, Ipv6Addr dst, ReadOnlySpan<byte> quoted, uint mtu);

/// <summary>IPv6 counters (NetBSD's ip6stat, icmp6stat, nd6 and udp6 counters).</summary>
public sealed class Inet6Stats : IReassStats
{
    public long Ip6Total, Ip6TooShort, Ip6BadHeader, Ip6BadExtension, Ip6Martian, Ip6NotOurs, Ip6NoProto, Ip6Delivered,
        Ip6Fragments, Ip6FragDropped, Ip6FragOverlap, Ip6FragTimeout, Ip6Reassembled, Ip6AtomicFragments,
        Ip6OutRequests, Ip6Fragmented, Ip6FragsCreated, Ip6NoRoute, Ip6OutDiscard;
    public long Icmp6In, Icmp6Bad, Icmp6EchoReplies, Icmp6EchoRepliesIn, Icmp6ErrorsSent, Icmp6ErrorsRateLimited, Icmp6ErrorsIn;
    public long NdBad, NdNsIn, NdNaIn, NdRaIn, NdNsOut, NdNaOut, NdRsOut, NdDropHeld, NdTimeouts, NdDadDuplicate, NdSlaacAddresses, NdSlaacExpired;
    public long MldQueriesIn, MldBad, MldReportsOut;
    public long Udp6In, Udp6Bad, Udp6NoPort, Udp6FullSock, Udp6Out;

    ref long IReassStats.FragDropped => ref Ip6FragDropped;
    ref long IReassStats.FragOverlap => ref Ip6FragOverlap;
    ref long IReassStats.FragTimeout => ref Ip6FragTimeout;
}

/// <summary>Address helpers IPv6 needs beyond the wire type.</summary>
public static class In6
{
    public static readonly Ipv6Addr Loopback = new(0, 1);
    /// <summary>ff02::1:ff00:0/104, the solicited-node groups.</summary>
    public static bool IsSolicitedNode(Ipv6Addr a) => a.Hi == 0xff02UL << 48 && a.Lo >> 24 == 0x1_ff;
    public static bool IsLoopback(Ipv6Addr a) => a == Loopback;
    public static bool IsUnspecified(Ipv6Addr a) => a.Hi == 0 && a.Lo == 0;
    /// <summary>::ffff:0:0/96 (v4-mapped: IPv4 addresses as a dual-stack socket names them; never on the wire).</summary>
    public static bool IsV4Mapped(Ipv6Addr a) => a.Hi == 0 && a.Lo >> 32 == 0xffff;
    /// <summary>::ffff:a.b.c.d, an IPv4 address where both families share one 16-byte key.</summary>
    public static Ipv6Addr V4Mapped(Ipv4Addr a) => new(0, 0xffffUL << 32 | a.Value);

    public static Ipv6Addr Mask(Ipv6Addr a, int plen)
    {
        if (plen >= 128) return a;
        if (plen <= 0) return Ipv6Addr.Unspecified;
        if (plen <= 64) return new Ipv6Addr(plen == 64 ? a.Hi : a.Hi & ~(ulong.MaxValue >> plen), 0);
        return new Ipv6Addr(a.Hi, a.Lo & ~(ulong.MaxValue >> (plen - 64)));
    }

    /// <summary>How many leading bits two addresses share (RFC 6724's CommonPrefixLen).</summary>
    public static int CommonPrefix(Ipv6Addr a, Ipv6Addr b)
    {
        ulong x = a.Hi ^ b.Hi;
        if (x != 0) return System.Numerics.BitOperations.LeadingZeroCount(x);
        x = a.Lo ^ b.Lo;
        return x == 0 ? 128 : 64 + System.Numerics.BitOperations.LeadingZeroCount(x);
    }

    /// <summary>fe80::/64 with the modified EUI-64 interface identifier of <paramref name="mac"/> (RFC 4291 2.5.1, appendix A).</summary>
    public static Ipv6Addr LinkLocalOf(EtherAddr mac)
    {
        ulong m = mac.Value;
        ulong hi24 = (m >> 24) ^ 0x02_0000; // the universal/local bit inverted
        ulong lo24 = m & 0xff_ffff;
        return new Ipv6Addr(0xfe80UL << 48, hi24 << 40 | 0xfffeUL << 24 | lo24);
    }

    /// <summary>The Ethernet group of an IPv6 multicast address (RFC 2464 7): 33:33 and its last 32 bits.</summary>
    public static EtherAddr EtherMulticast(Ipv6Addr a) => new(0x3333UL << 32 | (a.Lo & 0xffff_ffff));

    /// <summary>
    /// RFC 4291 2.2 text: eight groups of up to four hex digits, one "::" for a run of zero
    /// groups, and a dotted IPv4 address as the last 32 bits. No zone ("%ifname"): callers split it.
    /// Pure code: the kernel does not use the host's System.Net.
    /// </summary>
    public static bool TryParse(string s, out Ipv6Addr a)
    {
        a = default;
        Span<ushort> g = stackalloc ushort[8];
        g.Clear(); // the assembly skips locals' zeroing
        int n = 0, gap = -1, i = 0;
        if (s.Length < 2 || s.Length > 45) return false;
        if (s.StartsWith("::")) { gap = 0; i = 2; if (i == s.Length) { a = Ipv6Addr.Unspecified; return true; } }
        else if (s[0] == ':') return false;
        while (i < s.Length)
        {
            int start = i, v = 0;
            while (i < s.Length && i - start < 5 && Uri.IsHexDigit(s[i])) { char c = s[i++]; v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10); }
            if (i < s.Length && s[i] == '.')
            {
                // The embedded IPv4 address: the last two groups.
                if (n > 6 || !Netinet.Netconfig.TryParse(s.Substring(start), out Ipv4Addr v4)) return false;
                g[n++] = (ushort)(v4.Value >> 16);
                g[n++] = (ushort)v4.Value;
                i = s.Length;
                break;
            }
            if (i == start || i - start > 4 || n == 8) return false;
            g[n++] = (ushort)v;
            if (i == s.Length) break;
            if (s[i] != ':') return false;
            i++;
            if (i < s.Length && s[i] == ':')
            {
                if (gap >= 0) return false;
                gap = n;
                i++;
                if (i == s.Length) break;
            }
            else if (i == s.Length) return false;
        }
        if (gap < 0 ? n != 8 : n > 7) return false;
        Span<ushort> r = stackalloc ushort[8];
        r.Clear();
        if (gap < 0) g.CopyTo(r);
        else
        {
            g.Slice(0, gap).CopyTo(r);
            g.Slice(gap, n - gap).CopyTo(r.Slice(8 - (n - gap)));
        }
        ulong hi = 0, lo = 0;
        for (int k = 0; k < 4; k++) { hi = hi << 16 | r[k]; lo = lo << 16 | r[k + 4]; }
        a = new Ipv6Addr(hi, lo);
        return true;
    }

    /// <summary>RFC 5952 text: lower-case hex, no leading zeros, the longest run (two or more) of zero groups as "::".</summary>
    public static string Format(Ipv6Addr a)
    {
        Span<ushort> g = stackalloc ushort[8];
        for (int k = 0; k < 4; k++) { g[k] = (ushort)(a.Hi >> (48 - 16 * k)); g[k + 4] = (ushort)(a.Lo >> (48 - 16 * k)); }
        int best = -1, bestLen = 1;
        for (int k = 0; k < 8;)
        {
            if (g[k] != 0) { k++; continue; }
            int j = k;
            while (j < 8 && g[j] == 0) j++;
            if (j - k > bestLen) { best = k; bestLen = j - k; }
            k = j;
        }
        var sb = new System.Text.StringBuilder(40);
        for (int k = 0; k < 8; k++)
        {
            if (k == best) { sb.Append("::"); k += bestLen - 1; continue; }
            if (sb.Length > 0 && sb[^1] != ':') sb.Append(':');
            sb.Append(g[k].ToString("x"));
        }
        return sb.ToString();
    }
}

/// <summary>
/// One kernel's IPv6 (NetBSD's netinet6: in6.c, in6_proto.c, ip6_input.c, ip6_output.c, nd6*.c,
/// icmp6.c, udp6_usrreq.c). Read RFC 8200 (IPv6), RFC 4291 (addressing), RFC 4861 (neighbour
/// discovery), RFC 4862 (link-local addresses and DAD), RFC 4443 (ICMPv6), RFC 6724 (source
/// selection), RFC 2464 (IPv6 over Ethernet).
///
/// Parts: addresses and the routing table here; <see cref="Ip6"/> (input, output,
/// fragmentation), <see cref="Ip6Reass"/> (reassembly), <see cref="Nd6Cache"/> (one per Ethernet interface: neighbour discovery),
/// <see cref="Icmp6"/> and <see cref="Udp6"/>. Upper protocols register by next-header value
/// with <see cref="SetProtocol"/> (ICMPv6 and UDP at init; TCP registers 6 after, with
/// <see cref="SetMtuInput"/> for packet too big: its input gets <see cref="Ip6In"/> and it sends
/// with <see cref="Ip6.Output"/> holding its own lock, which therefore comes before these).
///
/// Every Ethernet interface that comes up gets its link-local address (fe80::/64 and the
/// modified EUI-64 of its MAC); lo0 has ::1 from boot. Configured addresses come from
/// <see cref="AddAddress"/> (netconfig, SIOCAIFADDR_IN6). Duplicate address detection is
/// simplified to one probe and optimistic (RFC 4429-like): the address is used at once, one
/// NS goes out from the unspecified address, and an NA for the address, or another node's DAD
/// probe for it, within <see cref="DadWindowNs"/> marks it duplicated (unusable).
///
/// Locks, in the order they are taken: <see cref="_cfgLock"/> (the address list's writers, the
/// route table, the ND-cache list's writers, the pending link-up list), then an
/// <see cref="Nd6Cache"/>'s lock; UDP6's lock and ICMPv6's rate-limit state are leaves. No lock is
/// held while a packet goes to an interface or up to a protocol. The address and ND-cache lists
/// are copy-on-write arrays read on the data path without a lock.
/// </summary>
public sealed class Inet6
{
    public const byte DefaultHopLimit = 64; // NetBSD's ip6_defhlim
    public const long DadWindowNs = 1_000_000_000;

    internal readonly Kernel Kernel;
    public readonly Net Net;
    public readonly Inet6Stats Stats = new();
    public readonly Ip6 Ip6;
    public readonly Ip6Reass Reass;
    public readonly Icmp6 Icmp6;
    public readonly Udp6 Udp6;

    /// <summary>
    /// net.inet6.ip6.v6only: whether a new AF_INET6 socket starts IPV6_V6ONLY (1, NetBSD's
    /// default) or dual-stack. Read when a socket is made; no lock, a socket takes what it sees.
    /// </summary>
    private volatile bool _v6only = true;
    public bool V6OnlyDefault { get => _v6only; set => _v6only = value; }

    private readonly KMutex _cfgLock;
    /// <summary>Longest prefix first; protected by <see cref="_cfgLock"/>.</summary>
    private readonly List<Rt6Entry> _routes = new();
    private In6Ifaddr[] _addrs = Array.Empty<In6Ifaddr>();
    private Nd6Cache[] _nds = Array.Empty<Nd6Cache>();
    private readonly List<Ifnet> _pendingUp = new();
    private readonly Callout _linkUpWork;
    /// <summary>Runs when the next address or RA route lifetime ends (<see cref="_lifetimeAt"/>, under <see cref="_cfgLock"/>).</summary>
    private readonly Callout _lifetimes;
    private long _lifetimeAt = long.MaxValue;
    private readonly Ip6ProtoInput?[] _protos = new Ip6ProtoInput?[256];
    private readonly Ip6CtlInput?[] _ctls = new Ip6CtlInput?[256];
    private readonly Ip6MtuInput?[] _mtus = new Ip6MtuInput?[256];

    internal Inet6(Net net)
    {
        Net = net;
        Kernel = net.Kernel;
        _cfgLock = new KMutex(Kernel);
        _linkUpWork = new Callout(_ => LinkUpWork());
        _lifetimes = new Callout(_ => LifetimeTick());
        Ip6 = new Ip6(this);
        Reass = new Ip6Reass(this);
        Icmp6 = new Icmp6(this);
        Udp6 = new Udp6(this, Kernel.GetService<Inet>()?.Udp);
        SetProtocol(Ipv6Packet.NextIcmpv6, Icmp6.Input, null);
        SetProtocol(Ipv6Packet.NextUdp, Udp6.Input, Udp6.CtlInput);
        net.SetProtocolInput(EthernetFrame.TypeIpv6, Ip6.Input);
        net.Domains.Register(new Udp6Proto(Udp6));
        net.OnLinkUp(LinkUp);
        net.OnDetach(InterfaceGone);
        if (AddAddress(net.Lo0, In6.Loopback, 128) != 0) Kernel.Panic("cannot configure ::1 on lo0");
    }

    /// <summary>
    /// net.inet6.ip6.v6only (CTL_NET 4, PF_INET6 24, IPPROTO_IPV6 41, IPV6CTL_V6ONLY 24, as
    /// NetBSD numbers it), making the directories nobody has made. 0 or 1; anything else is EINVAL.
    /// </summary>
    internal int AttachSysctl()
    {
        Sysctl s = Kernel.Sysctl;
        int e;
        Sysctl.Node? net = s.FindByName("net");
        if (net == null && (e = s.CreateNode(null, "net", out net, Abi.CTL_NET)) != 0) return e;
        Sysctl.Node? inet6 = s.FindByName("net.inet6");
        if (inet6 == null && (e = s.CreateNode(net, "inet6", out inet6, Abi.AF_INET6)) != 0) return e;
        Sysctl.Node? ip6 = s.FindByName("net.inet6.ip6");
        if (ip6 == null && (e = s.CreateNode(inet6, "ip6", out ip6, Abi.IPPROTO_IPV6)) != 0) return e;
        return s.CreateInt(ip6, "v6only", 1, out _, 24, Abi.CTLFLAG_READWRITE,
            read: () => V6OnlyDefault ? 1 : 0,
            write: v =>
            {
                if (v is not (0 or 1)) return Abi.EINVAL;
                V6OnlyDefault = v == 1;
                return 0;
            }, desc: "Disallow PF_INET6 sockets from connecting to PF_INET sockets");
    }

    /// <summary>
    /// Registers the input (and ICMPv6-error) routine of next header <paramref name="nh"/>, while
    /// components initialise. TCP over IPv6 registers 6 here; its input finds the segment at
    /// <see cref="Ip6In.Offset"/> and its pseudo-header with <c>Checksum.PseudoHeaderV6</c>.
    /// </summary>
    public void SetProtocol(byte nh, Ip6ProtoInput input, Ip6CtlInput? ctl)
    {
        Volatile.Write(ref _protos[nh], input);
        Volatile.Write(ref _ctls[nh], ctl);
    }

    internal Ip6ProtoInput? Protocol(byte nh) => Volatile.Read(ref _protos[nh]);
    internal Ip6CtlInput? CtlInput(byte nh) => Volatile.Read(ref _ctls[nh]);

    /// <summary>Registers who hears packet-too-big errors for next header <paramref name="nh"/> with their MTU (TCP; others hear EMSGSIZE through their ctlinput).</summary>
    public void SetMtuInput(byte nh, Ip6MtuInput mtu) => Volatile.Write(ref _mtus[nh], mtu);
    internal Ip6MtuInput? MtuInput(byte nh) => Volatile.Read(ref _mtus[nh]);

    // ---- link-local addresses when an interface comes up ----------------------------------------

    // From Ifnet.SetFlags, in any context: note the interface, configure it from the callout thread.
    private void LinkUp(Ifnet ifp)
    {
        if (ifp.Type != Ifnet.IFT_ETHER) return;
        _cfgLock.Enter();
        if (!_pendingUp.Contains(ifp)) _pendingUp.Add(ifp);
        _cfgLock.Exit();
        Kernel.Callouts.Schedule(_linkUpWork, 0);
    }

    private void LinkUpWork()
    {
        _cfgLock.Enter();
        Ifnet[] list = _pendingUp.ToArray();
        _pendingUp.Clear();
        _cfgLock.Exit();
        foreach (Ifnet ifp in list)
        {
            if (ifp.Owner != Net || !ifp.IsUp || LinkLocalOf(ifp) != null) continue;
            AddAddress(ifp, In6.LinkLocalOf(ifp.LinkAddr), 64, In6Ifaddr.IN6_IFF_AUTOCONF);
        }
    }

    // ---- addresses ------------------------------------------------------------------------------

    /// <summary>
    /// Adds <paramref name="addr"/>/<paramref name="plen"/> to <paramref name="ifp"/> (NetBSD
    /// in6_control SIOCAIFADDR_IN6): replaces the interface's entry for the same address, adds
    /// the connected route of the prefix, and on Ethernet starts DAD (one NS from ::).
    /// EINVAL for multicast, ::, v4-mapped, a prefix length past 128 or an unattached interface;
    /// EADDRINUSE if another interface has the address.
    /// </summary>
    public int AddAddress(Ifnet ifp, Ipv6Addr addr, int plen, int flags = 0, long validUntil = long.MaxValue, long preferredUntil = long.MaxValue)
    {
        if (ifp.Owner != Net || plen is < 0 or > 128 || addr.IsMulticast || In6.IsUnspecified(addr) || In6.IsV4Mapped(addr)
            || (In6.IsLoopback(addr) && (ifp.Flags & Ifnet.IFF_LOOPBACK) == 0))
            return Abi.EINVAL;
        bool ether = ifp.Type == Ifnet.IFT_ETHER;
        var ia = new In6Ifaddr(ifp, addr, plen, flags | (ether ? In6Ifaddr.IN6_IFF_TENTATIVE : 0))
        {
            ValidUntil = validUntil,
            PreferredUntil = preferredUntil,
        };
        Nd6Cache? nd = null;
        _cfgLock.Enter();
        try
        {
            var list = new List<In6Ifaddr>(_addrs.Length + 1);
            foreach (In6Ifaddr o in _addrs)
            {
                if (o.Addr == addr && o.Ifp != ifp && !addr.IsLinkLocal) return Abi.EADDRINUSE;
                if (!(o.Addr == addr && o.Ifp == ifp)) list.Add(o);
            }
            list.Add(ia);
            if (plen < 128 && GetRouteLocked(addr, plen, ifp) == null)
                AddRouteLocked(new Rt6Entry(addr, plen, default, Rt6Entry.RTF_CONNECTED, ifp));
            Volatile.Write(ref _addrs, list.ToArray());
            ArmLifetimesLocked(Math.Min(validUntil, preferredUntil));
            if (ether) nd = NdOfLocked(ifp, create: true);
        }
        finally { _cfgLock.Exit(); }
        if (nd != null)
        {
            // Join the solicited-node group before probing for the address (RFC 4862 5.4.2).
            nd.Mld.Changed(addr, joined: true);
            nd.StartDad(ia);
        }
        return 0;
    }

    /// <summary>Removes <paramref name="addr"/> from <paramref name="ifp"/> with its connected route unless another address keeps it; EADDRNOTAVAIL if it has no such address.</summary>
    public int DeleteAddress(Ifnet ifp, Ipv6Addr addr)
    {
        _cfgLock.Enter();
        try
        {
            var list = new List<In6Ifaddr>(_addrs);
            int i = list.FindIndex(a => a.Ifp == ifp && a.Addr == addr);
            if (i < 0) return Abi.EADDRNOTAVAIL;
            In6Ifaddr gone = list[i];
            list.RemoveAt(i);
            bool kept = false;
            foreach (In6Ifaddr o in list)
                if (o.Ifp == ifp && o.PrefixLength == gone.PrefixLength && In6.Mask(o.Addr, o.PrefixLength) == In6.Mask(addr, gone.PrefixLength)) kept = true;
            if (!kept)
                _routes.RemoveAll(r => r.Ifp == ifp && (r.Flags & (Rt6Entry.RTF_CONNECTED | Rt6Entry.RTF_RA)) == Rt6Entry.RTF_CONNECTED
                    && r.PrefixLength == gone.PrefixLength && r.Matches(addr));
            Volatile.Write(ref _addrs, list.ToArray());
        }
        finally { _cfgLock.Exit(); }
        NdOf(ifp)?.Mld.Changed(addr, joined: false);
        return 0;
    }

    /// <summary>An address DAD found in use by another node: it stays listed (flagged duplicated) but is never used or answered for.</summary>
    internal void MarkDuplicated(In6Ifaddr ia)
    {
        ia.SetFlags(In6Ifaddr.IN6_IFF_DUPLICATED, In6Ifaddr.IN6_IFF_TENTATIVE);
        Interlocked.Increment(ref Stats.NdDadDuplicate);
    }

    /// <summary>Forgets everything about <paramref name="ifp"/> (it is being destroyed): addresses, routes, neighbours and held packets.</summary>
    public void InterfaceGone(Ifnet ifp)
    {
        Nd6Cache? nd;
        _cfgLock.Enter();
        var list = new List<In6Ifaddr>();
        foreach (In6Ifaddr o in _addrs) if (o.Ifp != ifp) list.Add(o);
        Volatile.Write(ref _addrs, list.ToArray());
        _routes.RemoveAll(r => r.Ifp == ifp);
        _pendingUp.Remove(ifp);
        nd = NdOfLocked(ifp, create: false);
        if (nd != null)
        {
            var nds = new List<Nd6Cache>(_nds);
            nds.Remove(nd);
            Volatile.Write(ref _nds, nds.ToArray());
        }
        _cfgLock.Exit();
        nd?.Flush();
    }

    /// <summary>The addresses (a copy-on-write snapshot: do not modify).</summary>
    public In6Ifaddr[] Addresses() => Volatile.Read(ref _addrs);

    /// <summary>The usable address entry for <paramref name="a"/> on any interface (weak host model), or null. A link-local one must be on <paramref name="ifp"/> when that is given.</summary>
    public In6Ifaddr? FindAddress(Ipv6Addr a, Ifnet? ifp = null)
    {
        foreach (In6Ifaddr ia in Volatile.Read(ref _addrs))
            if (ia.Addr == a && ia.Usable && (ifp == null || !a.IsLinkLocal || ia.Ifp == ifp)) return ia;
        return null;
    }

    /// <summary>Any entry for <paramref name="a"/> on <paramref name="ifp"/>, duplicated or tentative too (ND's view).</summary>
    internal In6Ifaddr? AddressOn(Ifnet ifp, Ipv6Addr a)
    {
        foreach (In6Ifaddr ia in Volatile.Read(ref _addrs)) if (ia.Ifp == ifp && ia.Addr == a) return ia;
        return null;
    }

    /// <summary>The link-local address of <paramref name="ifp"/>, or null.</summary>
    public In6Ifaddr? LinkLocalOf(Ifnet ifp)
    {
        foreach (In6Ifaddr ia in Volatile.Read(ref _addrs)) if (ia.Ifp == ifp && ia.Addr.IsLinkLocal) return ia;
        return null;
    }

    /// <summary>
    /// Whether <paramref name="ifp"/> listens to the group <paramref name="g"/>: all-nodes
    /// (ff01::1, ff02::1) and the solicited-node group of each of its addresses (the groups
    /// RFC 4861 7.2.1 requires). Ethernet drivers here pass every multicast frame up, so this
    /// is the interface's multicast filter.
    /// </summary>
    public bool IsJoined(Ipv6Addr g, Ifnet ifp)
    {
        if (g == Ipv6Addr.AllNodes || g == new Ipv6Addr(0xff01UL << 48, 1)) return true;
        if (!In6.IsSolicitedNode(g)) return false;
        foreach (In6Ifaddr ia in Volatile.Read(ref _addrs))
            if (ia.Ifp == ifp && ia.Addr.SolicitedNode == g) return true;
        return false;
    }

    // ---- routes ------------------------------------------------------------------------------

    private Rt6Entry? GetRouteLocked(Ipv6Addr dst, int plen, Ifnet? ifp)
    {
        Ipv6Addr d = In6.Mask(dst, plen);
        foreach (Rt6Entry r in _routes) if (r.Dst == d && r.PrefixLength == plen && (ifp == null || r.Ifp == ifp)) return r;
        return null;
    }

    private void AddRouteLocked(Rt6Entry r)
    {
        int at = _routes.Count;
        for (int i = 0; i < _routes.Count; i++) if (_routes[i].PrefixLength < r.PrefixLength) { at = i; break; }
        _routes.Insert(at, r);
    }

    /// <summary>
    /// Adds a route to <paramref name="dst"/>/<paramref name="plen"/> via <paramref name="gateway"/>.
    /// A link-local gateway needs its interface (<paramref name="ifp"/>); a global one must be on a
    /// connected prefix (ENETUNREACH otherwise). EEXIST if the prefix has a route.
    /// </summary>
    public int AddRoute(Ipv6Addr dst, int plen, Ipv6Addr gateway, Ifnet? ifp = null, int flags = Rt6Entry.RTF_STATIC)
    {
        if (plen is < 0 or > 128 || gateway.IsMulticast || In6.IsUnspecified(gateway)) return Abi.EINVAL;
        _cfgLock.Enter();
        try
        {
            if (ifp == null)
            {
                if (gateway.IsLinkLocal) return Abi.EINVAL;
                foreach (Rt6Entry r in _routes)
                    if (!r.IsGateway && r.Matches(gateway)) { ifp = r.Ifp; break; }
                if (ifp == null) return Abi.ENETUNREACH;
            }
            if (GetRouteLocked(dst, plen, null) != null) return Abi.EEXIST;
            AddRouteLocked(new Rt6Entry(dst, plen, gateway, flags | Rt6Entry.RTF_GATEWAY, ifp));
            return 0;
        }
        finally { _cfgLock.Exit(); }
    }

    public int DeleteRoute(Ipv6Addr dst, int plen)
    {
        _cfgLock.Enter();
        try
        {
            Rt6Entry? r = GetRouteLocked(dst, plen, null);
            if (r == null) return Abi.ESRCH;
            _routes.Remove(r);
            return 0;
        }
        finally { _cfgLock.Exit(); }
    }

    /// <summary>
    /// A router advertisement's default route (RFC 4861 6.3.4): added if there is no default
    /// route, kept for the router lifetime of <paramref name="lifetime"/> seconds from each
    /// advertisement of the same router, removed (if it was this router's) when that is 0 or runs out.
    /// </summary>
    internal void DefaultRouter(Ifnet ifp, Ipv6Addr router, ushort lifetime)
    {
        _cfgLock.Enter();
        Rt6Entry? def = GetRouteLocked(Ipv6Addr.Unspecified, 0, null);
        bool ours = def != null && (def.Flags & Rt6Entry.RTF_RA) != 0 && def.Gateway == router && def.Ifp == ifp;
        if (lifetime == 0)
        {
            if (ours) _routes.Remove(def!);
        }
        else
        {
            if (def == null)
            {
                def = new Rt6Entry(Ipv6Addr.Unspecified, 0, router, Rt6Entry.RTF_GATEWAY | Rt6Entry.RTF_RA, ifp);
                AddRouteLocked(def);
                ours = true;
            }
            if (ours)
            {
                def.Expires = Deadline(Clock.MonotonicNs(), lifetime);
                ArmLifetimesLocked(def.Expires);
            }
        }
        _cfgLock.Exit();
    }

    /// <summary>
    /// An on-link prefix of a router advertisement (RFC 4861 6.3.4): destinations in it are
    /// neighbours, reached directly on <paramref name="ifp"/>, for <paramref name="valid"/> seconds
    /// from this advertisement (0: no longer). A prefix with a route of another kind (an address's,
    /// or configured) is left alone.
    /// </summary>
    internal void RaOnLink(Ifnet ifp, Ipv6Addr prefix, int plen, uint valid)
    {
        _cfgLock.Enter();
        Rt6Entry? r = GetRouteLocked(prefix, plen, ifp);
        if (r == null && valid != 0)
        {
            r = new Rt6Entry(prefix, plen, default, Rt6Entry.RTF_CONNECTED | Rt6Entry.RTF_RA, ifp);
            AddRouteLocked(r);
        }
        if (r != null && (r.Flags & Rt6Entry.RTF_RA) != 0)
        {
            if (valid == 0) _routes.Remove(r);
            else
            {
                r.Expires = Deadline(Clock.MonotonicNs(), valid);
                ArmLifetimesLocked(r.Expires);
            }
        }
        _cfgLock.Exit();
    }

    // ---- lifetimes from router advertisements ---------------------------------------------------

    /// <summary>RFC 4862 5.5.3 e: an advertisement cannot cut an address's remaining valid lifetime below two hours (so a forged RA cannot take it away at once).</summary>
    public const long TwoHoursNs = 2L * 3600 * 1_000_000_000;

    /// <summary>The moment <paramref name="seconds"/> from <paramref name="now"/>; long.MaxValue for the infinite lifetime.</summary>
    internal static long Deadline(long now, uint seconds) => seconds == NdPrefixInfo.Infinite ? long.MaxValue : now + seconds * 1_000_000_000L;

    /// <summary>
    /// An autonomous prefix's address <paramref name="a"/> on <paramref name="ifp"/> with the
    /// prefix's lifetimes in seconds (RFC 4862 5.5.3 d and e): a new address is formed (and counted);
    /// one formed before gets the new preferred lifetime and a valid lifetime by the two-hour
    /// rule. An address configured by hand is left alone.
    /// </summary>
    internal void RaPrefix(Ifnet ifp, Ipv6Addr a, uint valid, uint preferred)
    {
        long now = Clock.MonotonicNs();
        long validUntil = Deadline(now, valid), prefUntil = Deadline(now, preferred);
        _cfgLock.Enter();
        In6Ifaddr? ia = null;
        foreach (In6Ifaddr o in _addrs) if (o.Ifp == ifp && o.Addr == a) { ia = o; break; }
        if (ia != null)
        {
            if ((ia.Flags & In6Ifaddr.IN6_IFF_AUTOCONF) != 0)
            {
                if (validUntil > ia.ValidUntil || validUntil - now > TwoHoursNs) ia.ValidUntil = validUntil;
                else if (ia.ValidUntil - now > TwoHoursNs) ia.ValidUntil = now + TwoHoursNs;
                ia.PreferredUntil = prefUntil;
                if (prefUntil > now) ia.SetFlags(0, In6Ifaddr.IN6_IFF_DEPRECATED);
                else ia.SetFlags(In6Ifaddr.IN6_IFF_DEPRECATED, 0);
                ArmLifetimesLocked(Math.Min(ia.ValidUntil, ia.PreferredUntil));
            }
            _cfgLock.Exit();
            return;
        }
        _cfgLock.Exit();
        if (valid == 0) return;
        // Counted before the address is visible: whoever finds it sees it counted.
        Interlocked.Increment(ref Stats.NdSlaacAddresses);
        if (AddAddress(ifp, a, 64, In6Ifaddr.IN6_IFF_AUTOCONF, validUntil, prefUntil) != 0)
            Interlocked.Decrement(ref Stats.NdSlaacAddresses);
    }

    /// <summary>Makes the lifetime callout run by <paramref name="at"/> (monotonic ns; long.MaxValue: nothing to do). Precondition: <see cref="_cfgLock"/> held.</summary>
    private void ArmLifetimesLocked(long at)
    {
        if (at >= _lifetimeAt) return;
        _lifetimeAt = at;
        Kernel.Callouts.Schedule(_lifetimes, at - Clock.MonotonicNs());
    }

    /// <summary>Deprecates addresses past their preferred lifetime, removes those past their valid lifetime and RA routes past their router lifetime, and arms itself for the next such moment.</summary>
    private void LifetimeTick()
    {
        long now = Clock.MonotonicNs(), next = long.MaxValue;
        List<In6Ifaddr>? expired = null;
        _cfgLock.Enter();
        _lifetimeAt = long.MaxValue;
        foreach (In6Ifaddr ia in _addrs)
        {
            if (ia.ValidUntil <= now) { (expired ??= new()).Add(ia); continue; }
            if (ia.PreferredUntil <= now) ia.SetFlags(In6Ifaddr.IN6_IFF_DEPRECATED, 0);
            else next = Math.Min(next, ia.PreferredUntil);
            next = Math.Min(next, ia.ValidUntil);
        }
        for (int i = _routes.Count - 1; i >= 0; i--)
        {
            if (_routes[i].Expires <= now) _routes.RemoveAt(i);
            else next = Math.Min(next, _routes[i].Expires);
        }
        if (next != long.MaxValue) ArmLifetimesLocked(next);
        _cfgLock.Exit();
        if (expired == null) return;
        foreach (In6Ifaddr ia in expired)
            if (DeleteAddress(ia.Ifp, ia.Addr) == 0) Interlocked.Increment(ref Stats.NdSlaacExpired);
    }

    /// <summary>The MTU IPv6 uses on <paramref name="ifp"/> (NetBSD IN6_LINKMTU): a router advertisement's MTU option where it gave one, else the interface's.</summary>
    public int LinkMtu(Ifnet ifp)
    {
        int m = NdOf(ifp)?.LinkMtu ?? 0;
        return m != 0 && m < ifp.Mtu ? m : ifp.Mtu;
    }

    /// <summary>
    /// The route a packet to <paramref name="dst"/> takes: the longest prefix among routes whose
    /// interface is up (and is <paramref name="ifp"/> when given: a scoped destination), or null.
    /// </summary>
    public Rt6Entry? Lookup(Ipv6Addr dst, Ifnet? ifp = null)
    {
        _cfgLock.Enter();
        Rt6Entry? found = null;
        foreach (Rt6Entry r in _routes)
            if (r.Matches(dst) && r.Ifp.IsUp && (ifp == null || r.Ifp == ifp)) { found = r; break; }
        _cfgLock.Exit();
        return found;
    }

    public Rt6Entry[] Routes()
    {
        _cfgLock.Enter();
        Rt6Entry[] r = _routes.ToArray();
        _cfgLock.Exit();
        return r;
    }

    /// <summary>
    /// The source for a packet to <paramref name="dst"/> leaving by <paramref name="ifp"/>
    /// (RFC 6724 section 5, simplified to its rules 1, 2, 3, 5 and 8): the destination itself if
    /// it is ours; else among usable addresses of the destination's scope (link-local for
    /// link-local and link-scope multicast destinations, global otherwise), a preferred one
    /// before a deprecated one, then one on the outgoing interface, then the longest common
    /// prefix. EADDRNOTAVAIL if there is none.
    /// </summary>
    public int SelectSource(Ipv6Addr dst, Ifnet? ifp, out Ipv6Addr src)
    {
        src = default;
        if (In6.IsLoopback(dst)) { src = In6.Loopback; return 0; }
        if (FindAddress(dst, ifp) is In6Ifaddr own) { src = own.Addr; return 0; }
        bool linkScope = dst.IsLinkLocal || (dst.IsMulticast && (dst.Hi >> 48 & 0xf) <= 2);
        In6Ifaddr? best = null;
        int bestScore = -1;
        foreach (In6Ifaddr ia in Volatile.Read(ref _addrs))
        {
            if (!ia.Usable || In6.IsLoopback(ia.Addr)) continue;
            if (linkScope && (!ia.Addr.IsLinkLocal || (ifp != null && ia.Ifp != ifp))) continue;
            // Each rule outweighs all the ones after it together (common prefix <= 128).
            int score = (ia.Addr.IsLinkLocal == linkScope ? 2000 : 0) + ((ia.Flags & In6Ifaddr.IN6_IFF_DEPRECATED) == 0 ? 1000 : 0)
                + (ia.Ifp == ifp ? 500 : 0) + In6.CommonPrefix(ia.Addr, dst);
            if (score > bestScore) { bestScore = score; best = ia; }
        }
        if (best == null) return Abi.EADDRNOTAVAIL;
        src = best.Addr;
        return 0;
    }

    // ---- neighbour caches -------------------------------------------------------------------------

    /// <summary>The neighbour cache of <paramref name="ifp"/>, or null (not Ethernet, or no address yet).</summary>
    public Nd6Cache? NdOf(Ifnet ifp)
    {
        foreach (Nd6Cache c in Volatile.Read(ref _nds)) if (c.Ifp == ifp) return c;
        return null;
    }

    private Nd6Cache? NdOfLocked(Ifnet ifp, bool create)
    {
        Nd6Cache? c = NdOf(ifp);
        if (c != null || !create) return c;
        c = new Nd6Cache(this, ifp);
        var n = new Nd6Cache[_nds.Length + 1];
        _nds.CopyTo(n, 0);
        n[^1] = c;
        Volatile.Write(ref _nds, n);
        return c;
    }
}
