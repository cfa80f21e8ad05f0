using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// A UDP protocol control block of either family (NetBSD's inpcb and in6pcb for UDP): the local
/// and foreign address and port, the socket options UDP looks at, and where datagrams go: to the
/// socket (<see cref="So"/>), or for a kernel PCB without one (IPv4's DHCP client) to
/// <see cref="Received"/>, errors to <see cref="Error"/>, and <see cref="Upcall"/> says they came.
/// Addresses are <see cref="TcpAddr"/>s, as TCP keeps them: IPv4 ones v4-mapped, so the code that
/// does not care about the family compares 16 bytes and never branches on it.
/// The addresses, ports, <see cref="OutIf"/>, <see cref="ScopeIf"/>, <see cref="DualStack"/>, the
/// queue and the error are protected by the engine's lock (<see cref="UdpEngine"/>; written with
/// the socket's lock held too, so the socket's calls read them under it); <see cref="Options"/> and
/// <see cref="HopLimit"/> are copied from the socket under the socket's lock.
/// </summary>
public sealed class UdpPcb
{
    // NetBSD's socket.h option bits.
    public const int SO_REUSEADDR = 0x0004, SO_BROADCAST = 0x0020, SO_REUSEPORT = 0x0200;
    /// <summary>Bytes of queued datagrams a kernel PCB holds before it drops (NetBSD's udp_recvspace).</summary>
    public const int DefaultRecvSpace = 40 * (1024 + 16);

    public TcpAddr LocalAddr { get; internal set; }
    public ushort LocalPort { get; internal set; }
    public TcpAddr ForeignAddr { get; internal set; }
    public ushort ForeignPort { get; internal set; }
    public bool IsConnected => ForeignPort != 0;
    public int Options;
    public int RecvSpace = DefaultRecvSpace;
    /// <summary>Called (with no lock held, in the soft interrupt) when a datagram or an error arrives for a kernel PCB.</summary>
    public Action<UdpPcb>? Upcall;
    /// <summary>
    /// IPv4: the interface a limited broadcast from this PCB leaves by, with its source address as
    /// bound (0.0.0.0 allowed): the kernel's DHCP client, before the interface has an address.
    /// </summary>
    public Ifnet? OutIf { get; internal set; }
    /// <summary>IPv6: the interface a link-local local or foreign address belongs to (from sin6_scope_id).</summary>
    public Ifnet? ScopeIf { get; internal set; }
    /// <summary>IPv6's IPV6_UNICAST_HOPS: -1 is the kernel's default.</summary>
    public int HopLimit = -1;
    /// <summary>
    /// IPv6: IPV6_V6ONLY is off. On :: (or a v4-mapped address) the PCB also takes IPv4
    /// datagrams that no IPv4 PCB takes, and it sends to v4-mapped addresses over IPv4.
    /// </summary>
    public bool DualStack { get; internal set; }
    /// <summary>The socket of a PCB made by <see cref="UdpProto"/>: datagrams and errors go to it instead of <see cref="Received"/>.</summary>
    public Socket? So { get; }

    internal int Error;
    internal bool Detached;
    internal readonly Queue<(TcpAddr Src, ushort Port, Mbuf Data)> Received = new();
    internal int QueuedBytes;

    internal UdpPcb(TcpAddr any, Socket? so)
    {
        LocalAddr = ForeignAddr = any;
        So = so;
    }
}

/// <summary>Where one datagram goes, as <see cref="UdpEngine"/> routed it.</summary>
internal struct UdpRoute
{
    public TcpAddr LAddr, FAddr;
    public ushort LPort, FPort;
    public int Options, HopLimit;
    /// <summary>The PCB is dual-stack (IPv6's): a v4-mapped destination goes over IPv4.</summary>
    public bool DualStack;
    /// <summary>The interface it must leave by, or null for the route's.</summary>
    public Ifnet? Ifp;
}

/// <summary>
/// UDP (RFC 768, RFC 1122 4.1; over IPv6 RFC 8200 8.1; NetBSD udp_usrreq.c, udp6_usrreq.c, in_pcb.c,
/// in6_pcb.c), written once for both families: PCBs with bind (port sharing by SO_REUSEADDR and
/// SO_REUSEPORT as NetBSD's in_pcbbind), connect, anonymous ports from NetBSD's range
/// 49152-65535, sending, delivery of a unicast datagram to the best-matching PCB and of a
/// broadcast or multicast one to every matching PCB, the family's port unreachable when nobody
/// listens, and ICMP errors to connected PCBs as their pending error.
///
/// Each family is a subclass with its own instance (<see cref="Udp"/>, <c>Udp6</c>) and PCB list.
/// An IPv6 PCB is IPV6_V6ONLY by default (NetBSD's net.inet6.ip6.v6only=1) and then never meets
/// IPv4. A dual-stack one (<see cref="UdpPcb.DualStack"/>) does, as in NetBSD's udp_input and
/// in6_pcb.c: IPv4 input offers a datagram that no IPv4 PCB takes to IPv6's dual-stack PCBs
/// (every matching one for a multicast, which they get even when IPv4 PCBs took it), and
/// binding an IPv4 address (or a v4-mapped one) looks at both lists (<see cref="PortTakenLocked"/>). The two engines are
/// paired (<see cref="_other"/>) for that. A subclass adds what differs: checking a local
/// address, source selection, the header and its pseudo-header checksum, the output routine, the
/// ICMP error, and the sockaddr.
///
/// Locks: <see cref="Lock"/> protects the PCB list and every PCB's fields and queue; the paired
/// engines share one, so the lookups across both lists see them still. It is taken with a
/// socket's lock held (the socket layer's calls), and released before a socket's lock is taken
/// from input, before packets are sent, and before upcalls.
/// </summary>
public abstract class UdpEngine
{
    public const ushort AnonPortMin = 49152, AnonPortMax = 65535;
    /// <summary>The longest sockaddr of either family (sockaddr_in6).</summary>
    internal const int SockaddrMax = 28;

    private protected readonly KMutex Lock;
    private protected readonly List<UdpPcb> Pcbs = new();
    private ushort _nextAnon = AnonPortMin;
    internal readonly Net Net;
    /// <summary>IPv4's engine: IPv6's, whose dual-stack PCBs also take IPv4. IPv6's: IPv4's, whose port space its v4-mapped bindings share. Set while components initialise.</summary>
    private UdpEngine? _other;

    /// <summary>
    /// <paramref name="v4"/>: for IPv6's engine, IPv4's, which it pairs with and whose lock it
    /// shares. The lock's class for LockDebug is IPv4's constructor's call site.
    /// </summary>
    private protected UdpEngine(Kernel k, Net net, UdpEngine? v4 = null, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        Net = net;
        Lock = v4?.Lock ?? new KMutex(k, file, line);
        if (v4 != null)
        {
            _other = v4;
            v4._other = this;
        }
    }

    private bool IsV6 => Family == Abi.AF_INET6;

    // ---- what each family says ----

    /// <summary>AF_INET or AF_INET6.</summary>
    public abstract int Family { get; }
    /// <summary>The family's wildcard address (0.0.0.0 or ::).</summary>
    private protected abstract TcpAddr Any { get; }
    /// <summary>The largest payload a datagram carries.</summary>
    private protected abstract int MaxData { get; }
    /// <summary>Leading space an mbuf needs for the UDP, IP and link headers to be prepended in place.</summary>
    private protected abstract int Headroom { get; }
    private protected abstract ref long NoPortCount { get; }
    private protected abstract ref long FullSockCount { get; }
    /// <summary>Bind's check of a local address (before the lock): 0 or EADDRNOTAVAIL.</summary>
    private protected abstract int CheckLocal(TcpAddr a, Ifnet? scope);
    /// <summary>After a successful bind, under the lock.</summary>
    private protected virtual void BoundLocked(UdpPcb p, TcpAddr a, Ifnet? scope) { }
    /// <summary>Connect's checks of the foreign address (before the lock); may choose the scope.</summary>
    private protected abstract int CheckForeign(UdpPcb p, TcpAddr a, ref Ifnet? scope);
    /// <summary>After a successful connect, under the lock.</summary>
    private protected virtual void ConnectedLocked(UdpPcb p, TcpAddr a, Ifnet? scope) { }
    /// <summary>The source address towards <paramref name="dst"/>.</summary>
    private protected abstract int SelectSource(TcpAddr dst, Ifnet? ifp, out TcpAddr src);
    /// <summary>Under the lock: the interface a datagram to <paramref name="faddr"/> is bound to leave by, if any.</summary>
    private protected abstract Ifnet? OutIfLocked(UdpPcb p, TcpAddr faddr, Ifnet? scope);
    /// <summary>After the lock: the family's checks of the destination, the interface, and the source when the PCB's is not one.</summary>
    private protected abstract int RouteOut(ref UdpRoute r, Ifnet? scope);
    /// <summary>Writes the UDP header (the checksum over the family's pseudo-header) at the front of m and sends it. Consumes m.</summary>
    private protected abstract int Output(Mbuf m, in UdpRoute r, int len);
    /// <summary>A datagram nobody listens for: the family's port unreachable (m is not consumed).</summary>
    private protected abstract void PortUnreachable(Mbuf m, bool multi);
    /// <summary>The family's sockaddr length.</summary>
    public abstract int SockaddrLen { get; }
    /// <summary>Writes the family's sockaddr (<see cref="SockaddrLen"/> bytes); <paramref name="ifp"/> names a link-local address's scope.</summary>
    internal abstract void WriteSockaddr(Span<byte> d, TcpAddr a, ushort port, Ifnet? ifp);
    /// <summary>A sockaddr from the caller for <paramref name="p"/>: EINVAL for a bad length, EAFNOSUPPORT for another family, and the family's own checks.</summary>
    internal abstract int ReadSockaddr(ReadOnlySpan<byte> nam, UdpPcb p, out TcpAddr a, out ushort port, out Ifnet? scope);
    /// <summary>Whether a new socket's PCB is dual-stack (IPv6's net.inet6.ip6.v6only is 0).</summary>
    private protected virtual bool NewDualStack => false;

    // ---- PCBs ----

    /// <summary>A new PCB of the family: for <paramref name="so"/>, or (null) a kernel PCB read with <see cref="State"/> and the family's Receive.</summary>
    internal UdpPcb AttachPcb(Socket? so)
    {
        var p = new UdpPcb(Any, so) { DualStack = so != null && NewDualStack };
        Lock.Enter();
        Pcbs.Add(p);
        Lock.Exit();
        return p;
    }

    /// <summary>Closes the PCB: its queued datagrams are freed, nothing more is delivered to it.</summary>
    public void Detach(UdpPcb p)
    {
        Lock.Enter();
        Pcbs.Remove(p);
        p.Detached = true;
        var q = p.Received.ToArray();
        p.Received.Clear();
        p.QueuedBytes = 0;
        Lock.Exit();
        foreach (var d in q) d.Data.Free();
    }

    /// <summary>
    /// Binds <paramref name="p"/> to <paramref name="addr"/>:<paramref name="port"/> (port 0: an
    /// anonymous one). EINVAL if already bound, EADDRNOTAVAIL for an address not ours,
    /// EADDRINUSE if the port is taken and the options do not allow sharing it.
    /// </summary>
    public int Bind(UdpPcb p, TcpAddr addr, ushort port, Ifnet? scope)
    {
        int e = CheckLocal(addr, scope);
        if (e != 0) return e;
        Lock.Enter();
        try
        {
            e = BindLocked(p, addr, port);
            if (e == 0) BoundLocked(p, addr, scope);
            return e;
        }
        finally { Lock.Exit(); }
    }

    /// <summary>
    /// IPV6_V6ONLY (<paramref name="on"/>) or dual-stack: before bind only, as NetBSD's
    /// ip6_ctloutput (EINVAL after: the binding was checked for one or the other).
    /// </summary>
    internal int SetV6Only(UdpPcb p, bool on)
    {
        Lock.Enter();
        try
        {
            if (p.LocalPort != 0 || !p.LocalAddr.IsUnspecified) return Abi.EINVAL;
            p.DualStack = !on;
            return 0;
        }
        finally { Lock.Exit(); }
    }

    private int BindLocked(UdpPcb p, TcpAddr addr, ushort port)
    {
        if (p.Detached || p.LocalPort != 0) return Abi.EINVAL;
        if (port == 0)
        {
            // A dual-stack PCB on :: takes a port free in IPv4 too, so IPv4 datagrams to it reach it.
            bool dual = p.DualStack && addr == TcpAddr.AnyV6 && _other != null;
            for (int n = 0; n <= AnonPortMax - AnonPortMin; n++)
            {
                ushort cand = _nextAnon;
                _nextAnon = cand == AnonPortMax ? AnonPortMin : (ushort)(cand + 1);
                if (!PortTakenLocked(null, addr, cand, 0) && !(dual && SameFamilyTaken(_other!.Pcbs, null, TcpAddr.AnyV4, cand, 0)))
                {
                    port = cand;
                    break;
                }
            }
            if (port == 0) return Abi.EAGAIN;
        }
        else if (PortTakenLocked(p, addr, port, p.Options)) return Abi.EADDRINUSE;
        p.LocalAddr = addr;
        p.LocalPort = port;
        return 0;
    }

    /// <summary>
    /// Whether binding <paramref name="addr"/>:<paramref name="port"/> with <paramref name="opts"/>
    /// collides (NetBSD in_pcbbind_port, in6_pcbbind_port): with the PCBs of its family
    /// (<see cref="SameFamilyTaken"/>), and an IPv4 address (an IPv4 PCB's, or a dual-stack IPv6
    /// one's v4-mapped) also with IPv6's dual-stack PCBs (<see cref="MappedTaken"/>). IPv6's
    /// addresses, :: included, meet IPv6's PCBs only (NetBSD's in6_pcbbind_port does not look at
    /// IPv4's for them).
    /// </summary>
    private bool PortTakenLocked(UdpPcb? self, TcpAddr addr, ushort port, int opts)
    {
        if (!IsV6) return SameFamilyTaken(Pcbs, self, addr, port, opts) || (_other != null && MappedTaken(_other.Pcbs, self, addr, port, opts));
        if (addr.IsV4) return (_other != null && SameFamilyTaken(_other.Pcbs, self, addr, port, opts)) || MappedTaken(Pcbs, self, addr, port, opts);
        return SameFamilyTaken(Pcbs, self, addr, port, opts);
    }

    /// <summary>
    /// The collision rule among PCBs of one family (those of <paramref name="pcbs"/> whose local
    /// address is of <paramref name="addr"/>'s): two PCBs share a port if both set SO_REUSEPORT,
    /// or if their local addresses differ and neither is the wildcard, or, with SO_REUSEADDR, if
    /// one of them is the wildcard and the other a specific address.
    /// </summary>
    private static bool SameFamilyTaken(List<UdpPcb> pcbs, UdpPcb? self, TcpAddr addr, ushort port, int opts)
    {
        bool any = addr.IsUnspecified;
        foreach (UdpPcb o in pcbs)
        {
            if (o == self || o.LocalPort != port || o.LocalAddr.IsV4 != addr.IsV4) continue;
            if ((opts & o.Options & UdpPcb.SO_REUSEPORT) != 0) continue;
            if (addr == o.LocalAddr) return true;
            bool oany = o.LocalAddr.IsUnspecified;
            if (!any && !oany) continue;
            if ((opts & (UdpPcb.SO_REUSEADDR | UdpPcb.SO_REUSEPORT)) != 0 && any != oany) continue;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Whether an IPv4 address <paramref name="addr"/>:<paramref name="port"/> meets a dual-stack
    /// PCB of IPv6's <paramref name="pcbs"/>, as NetBSD's in6_pcblookup_port does for a v4-mapped
    /// address: a PCB on :: or on an overlapping IPv4 address (equal, or either 0.0.0.0). A match
    /// through a wildcard (either address, or the PCB's foreign end) counts only for a binding
    /// without SO_REUSEADDR or SO_REUSEPORT; PCBs that both set SO_REUSEPORT share.
    /// </summary>
    private static bool MappedTaken(List<UdpPcb> pcbs, UdpPcb? self, TcpAddr addr, ushort port, int opts)
    {
        bool wild = (opts & (UdpPcb.SO_REUSEADDR | UdpPcb.SO_REUSEPORT)) == 0;
        foreach (UdpPcb o in pcbs)
        {
            if (o == self || o.LocalPort != port || !o.DualStack) continue;
            bool wildcard = o.IsConnected;
            if (o.LocalAddr.IsV4)
            {
                if (o.LocalAddr.IsUnspecified != addr.IsUnspecified) wildcard = true;
                else if (o.LocalAddr != addr) continue;
            }
            else if (o.LocalAddr == TcpAddr.AnyV6) wildcard = true;
            else continue; // an IPv6 address never meets an IPv4 one
            if (wildcard && !wild) continue;
            if ((opts & o.Options & UdpPcb.SO_REUSEPORT) != 0) continue;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Connects (fixes the foreign end; binds an anonymous port first if unbound, and fixes the
    /// local address, as NetBSD does, so replies from elsewhere do not match). The wildcard
    /// address disconnects (NetBSD's AF_UNSPEC connect).
    /// </summary>
    public int Connect(UdpPcb p, TcpAddr addr, ushort port, Ifnet? scope)
    {
        if (addr.IsUnspecified)
        {
            Lock.Enter();
            p.ForeignAddr = Any;
            p.ForeignPort = 0;
            Lock.Exit();
            return 0;
        }
        if (port == 0) return Abi.EADDRNOTAVAIL;
        int e = CheckForeign(p, addr, ref scope);
        if (e != 0) return e;
        e = SelectSource(addr, scope, out TcpAddr src);
        if (e != 0) return e;
        Lock.Enter();
        try
        {
            if (p.LocalPort == 0 && (e = BindLocked(p, Any, 0)) != 0) return e;
            if (p.LocalAddr.IsUnspecified) p.LocalAddr = src;
            p.ForeignAddr = addr;
            p.ForeignPort = port;
            ConnectedLocked(p, addr, scope);
            return 0;
        }
        finally { Lock.Exit(); }
    }

    // ---- output ----

    /// <summary>
    /// Sends <paramref name="data"/> as one datagram to <paramref name="dst"/>:<paramref name="dstPort"/>
    /// (null: the connected peer). EISCONN with a destination on a connected PCB, ENOTCONN without
    /// either, EMSGSIZE past the family's largest payload, and the routing and link errors of IP output.
    /// </summary>
    public int Send(UdpPcb p, ReadOnlySpan<byte> data, TcpAddr? dst, ushort dstPort, Ifnet? scope)
    {
        if (data.Length > MaxData) return Abi.EMSGSIZE;
        int e = Route(p, dst, dstPort, scope, out UdpRoute r);
        if (e != 0) return e;
        Mbuf? m = Net.Mbufs.Get(UdpPacket.HeaderSize + data.Length);
        if (m == null) return Abi.ENOBUFS;
        Span<byte> d = m.Append(UdpPacket.HeaderSize + data.Length);
        data.CopyTo(d.Slice(UdpPacket.HeaderSize));
        return Output(m, r, data.Length);
    }

    /// <summary>
    /// As <see cref="Send(UdpPcb, ReadOnlySpan{byte}, TcpAddr?, ushort, Ifnet?)"/> for the socket
    /// layer's mbuf (null: an empty datagram), whose headroom takes the UDP header when it can. Consumes m.
    /// </summary>
    public int Send(UdpPcb p, Mbuf? m, TcpAddr? dst, ushort dstPort, Ifnet? scope)
    {
        if (m == null) return Send(p, ReadOnlySpan<byte>.Empty, dst, dstPort, scope);
        if (m.LeadingSpace < Headroom)
        {
            int s = Send(p, m.Bytes, dst, dstPort, scope);
            m.Free();
            return s;
        }
        if (m.Length > MaxData) { m.Free(); return Abi.EMSGSIZE; }
        int e = Route(p, dst, dstPort, scope, out UdpRoute r);
        if (e != 0) { m.Free(); return e; }
        int len = m.Length;
        m.Prepend(UdpPacket.HeaderSize);
        return Output(m, r, len);
    }

    /// <summary>The addresses and ports a datagram from <paramref name="p"/> goes with (binding an anonymous port if needed).</summary>
    private int Route(UdpPcb p, TcpAddr? dst, ushort dstPort, Ifnet? scope, out UdpRoute r)
    {
        r = default;
        Lock.Enter();
        try
        {
            if (dst != null && p.IsConnected) return Abi.EISCONN;
            if (dst == null && !p.IsConnected) return Abi.ENOTCONN;
            if (p.LocalPort == 0)
            {
                int e = BindLocked(p, Any, 0);
                if (e != 0) return e;
            }
            r.FAddr = dst ?? p.ForeignAddr;
            r.FPort = dst != null ? dstPort : p.ForeignPort;
            r.LAddr = p.LocalAddr;
            r.LPort = p.LocalPort;
            r.Options = p.Options;
            r.HopLimit = p.HopLimit;
            r.DualStack = p.DualStack;
            r.Ifp = OutIfLocked(p, r.FAddr, scope);
        }
        finally { Lock.Exit(); }
        if (r.FPort == 0) return Abi.EADDRNOTAVAIL;
        return RouteOut(ref r, scope);
    }

    // ---- kernel PCBs ----

    /// <summary>
    /// Takes the oldest datagram into <paramref name="buf"/> (the rest of a longer one is lost,
    /// as recvfrom does, and <paramref name="length"/> says how long it was). A pending error is
    /// returned first, once. EWOULDBLOCK when nothing is queued.
    /// </summary>
    private protected int Dequeue(UdpPcb p, Span<byte> buf, out int copied, out int length, out TcpAddr src, out ushort srcPort)
    {
        copied = length = 0;
        src = default;
        srcPort = 0;
        Lock.Enter();
        if (p.Error != 0)
        {
            int err = p.Error;
            p.Error = 0;
            Lock.Exit();
            return err;
        }
        if (!p.Received.TryDequeue(out var d))
        {
            Lock.Exit();
            return Abi.EWOULDBLOCK;
        }
        p.QueuedBytes -= d.Data.Length;
        Lock.Exit();
        Mbuf m = d.Data;
        src = d.Src;
        srcPort = d.Port;
        length = m.Length;
        copied = Math.Min(buf.Length, length);
        m.Bytes.Slice(0, copied).CopyTo(buf);
        m.Free();
        return 0;
    }

    /// <summary>Datagrams queued and the pending error (poll: readable when either is non-zero).</summary>
    public (int Datagrams, int Bytes, int Error) State(UdpPcb p)
    {
        Lock.Enter();
        var r = (p.Received.Count, p.QueuedBytes, p.Error);
        Lock.Exit();
        return r;
    }

    /// <summary>Takes the pending error (getsockopt SO_ERROR).</summary>
    public int TakeError(UdpPcb p)
    {
        Lock.Enter();
        int e = p.Error;
        p.Error = 0;
        Lock.Exit();
        return e;
    }

    // ---- input ----

    /// <summary>Whether <paramref name="p"/> takes a datagram from <paramref name="src"/>:<paramref name="sport"/> to <paramref name="dst"/>:<paramref name="dport"/>, and how specifically (higher is better; -1: no).</summary>
    private static int MatchScore(UdpPcb p, TcpAddr src, ushort sport, TcpAddr dst, ushort dport)
    {
        if (p.LocalPort != dport) return -1;
        // A dual-stack PCB on an IPv4 address (::ffff:0.0.0.0 too) takes IPv4 only.
        if (p.LocalAddr.IsV4 && !dst.IsV4) return -1;
        int score = 0;
        if (!p.LocalAddr.IsUnspecified)
        {
            if (p.LocalAddr != dst) return -1;
            score += 2;
        }
        if (p.IsConnected)
        {
            if (p.ForeignAddr != src || p.ForeignPort != sport) return -1;
            score += 4;
        }
        return score;
    }

    /// <summary>
    /// Delivers a datagram the family's input has checked (its UDP header at <paramref name="off"/>
    /// in m, <paramref name="ulen"/> bytes with it): a unicast one to the best-matching PCB, a
    /// broadcast or multicast one (<paramref name="multi"/>) to every matching PCB, each its own
    /// copy (NetBSD delivers them to all sharers). IPv4's PCBs come first; IPv6's dual-stack ones
    /// get an IPv4 unicast or broadcast datagram none of them takes (a broadcast to the best
    /// match only), and every multicast one they match (NetBSD's udp_input and udp6_realinput).
    /// Consumes m.
    /// </summary>
    private protected void Deliver(Mbuf m, TcpAddr src, ushort sport, TcpAddr dst, ushort dport, int off, int ulen, bool multi)
    {
        List<UdpPcb>? wake = null;
        UdpPcb? single = null;
        bool delivered = false;
        List<(UdpPcb, Mbuf)>? toSockets = null;
        List<UdpPcb>? dual = IsV6 ? null : _other?.Pcbs;
        // A broadcast or multicast datagram's own copy for p (lock held).
        void CopyTo(UdpPcb p)
        {
            delivered = true;
            Mbuf? c = Net.Mbufs.Get(ulen - UdpPacket.HeaderSize);
            if (c == null) { Interlocked.Increment(ref FullSockCount); return; }
            c.Append(m.Bytes.Slice(off + UdpPacket.HeaderSize, ulen - UdpPacket.HeaderSize));
            if (p.So != null) (toSockets ??= new()).Add((p, c));
            else if (EnqueueLocked(p, src, sport, c)) (wake ??= new()).Add(p);
        }
        Lock.Enter();
        if (!multi)
        {
            int best = -1;
            foreach (UdpPcb p in Pcbs)
            {
                int s = MatchScore(p, src, sport, dst, dport);
                if (s > best) { best = s; single = p; }
            }
            if (single == null && dual != null) single = BestDualLocked(dual, src, sport, dst, dport);
            if (single != null)
            {
                delivered = true;
                m.TrimFront(off + UdpPacket.HeaderSize);
                m.TrimTo(ulen - UdpPacket.HeaderSize);
                if (single.So != null) (toSockets ??= new()).Add((single, m));
                else if (!EnqueueLocked(single, src, sport, m)) single = null;
                m = null!;
            }
        }
        else
        {
            foreach (UdpPcb p in Pcbs)
                if (MatchScore(p, src, sport, dst, dport) >= 0) CopyTo(p);
            // NetBSD's udp_input: IPv6's dual-stack PCBs get every IPv4 multicast they match, and
            // an IPv4 broadcast only when no IPv4 PCB took it, and then as a unicast (the best match).
            if (dual != null && dst.V4.IsMulticast)
            {
                foreach (UdpPcb p in dual)
                    if (p.DualStack && MatchScore(p, src, sport, dst, dport) >= 0) CopyTo(p);
            }
            else if (dual != null && !delivered && BestDualLocked(dual, src, sport, dst, dport) is UdpPcb b) CopyTo(b);
        }
        Lock.Exit();
        if (!delivered)
        {
            Interlocked.Increment(ref NoPortCount);
            PortUnreachable(m, multi);
        }
        Ifnet? rcvif = m?.RcvIf;
        m?.Free();
        if (toSockets != null) foreach (var (p, d) in toSockets) ToSocket(p, src, sport, d.RcvIf ?? rcvif, d);
        else single?.Upcall?.Invoke(single);
        if (wake != null) foreach (UdpPcb p in wake) p.Upcall?.Invoke(p);
    }

    /// <summary>
    /// The dual-stack PCB of IPv6's list (<paramref name="dual"/>) that matches an IPv4 datagram
    /// best, or null: NetBSD's udp_input hands an IPv4 unicast or broadcast that no IPv4 PCB took
    /// to udp6_realinput, which delivers it as a unicast. Precondition: lock held.
    /// </summary>
    private UdpPcb? BestDualLocked(List<UdpPcb> dual, TcpAddr src, ushort sport, TcpAddr dst, ushort dport)
    {
        UdpPcb? best = null;
        int bestScore = -1;
        foreach (UdpPcb p in dual)
        {
            if (!p.DualStack) continue;
            int s = MatchScore(p, src, sport, dst, dport);
            if (s > bestScore) { bestScore = s; best = p; }
        }
        return best;
    }

    /// <summary>
    /// A datagram to a PCB's socket, under the socket's lock (taken after UDP's is released: the
    /// socket layer calls into UDP with the socket's lock held, so that is the order). A PCB its
    /// socket let go of meanwhile drops it. Consumes d.
    /// </summary>
    private void ToSocket(UdpPcb p, TcpAddr src, ushort sport, Ifnet? rcvif, Mbuf d)
    {
        Socket so = p.So!;
        // An IPv4 datagram for IPv6's dual-stack PCB: a sockaddr_in6 with the v4-mapped source.
        UdpEngine fam = p.DualStack && !IsV6 ? _other! : this;
        Span<byte> sa = stackalloc byte[SockaddrMax];
        sa = sa.Slice(0, fam.SockaddrLen);
        fam.WriteSockaddr(sa, src, sport, rcvif);
        so.Lock.Enter();
        try
        {
            if (so.Pcb != p || (so.State & Socket.SS_CANTRCVMORE) != 0 || !so.Rcv.AppendAddr(sa, d, null))
            {
                so.Overflowed++;
                Interlocked.Increment(ref FullSockCount);
                d.Free();
                return;
            }
            so.SoRWakeup();
        }
        finally { so.Lock.Exit(); }
    }

    /// <summary>Queues a datagram's payload on a kernel PCB, or drops it when the PCB's space is used up (consumes m either way).</summary>
    private bool EnqueueLocked(UdpPcb p, TcpAddr src, ushort port, Mbuf m)
    {
        if (p.QueuedBytes + m.Length > p.RecvSpace)
        {
            Interlocked.Increment(ref FullSockCount);
            m.Free();
            return false;
        }
        p.Received.Enqueue((src, port, m));
        p.QueuedBytes += m.Length;
        return true;
    }

    /// <summary>
    /// An ICMP error about a datagram we sent (<paramref name="quoted"/>: its UDP header): the
    /// connected PCBs it came from get it as their pending error (unconnected ones cannot be told,
    /// as in NetBSD), IPv6's dual-stack ones connected over IPv4 included.
    /// </summary>
    private protected void CtlInput(int error, TcpAddr src, TcpAddr dst, ReadOnlySpan<byte> quoted)
    {
        if (quoted.Length < 4) return;
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(quoted);
        ushort dport = BinaryPrimitives.ReadUInt16BigEndian(quoted.Slice(2));
        List<UdpPcb>? hit = null;
        List<UdpPcb>? dual = IsV6 ? null : _other?.Pcbs;
        Lock.Enter();
        for (int i = 0; i < 2; i++)
        {
            List<UdpPcb>? list = i == 0 ? Pcbs : dual;
            if (list == null) break;
            foreach (UdpPcb p in list)
            {
                if (!p.IsConnected || p.LocalPort != sport || p.ForeignPort != dport || p.ForeignAddr != dst) continue;
                if (!p.LocalAddr.IsUnspecified && p.LocalAddr != src) continue;
                if (p.So == null) p.Error = error; // a kernel PCB reads it with Receive
                (hit ??= new()).Add(p);
            }
        }
        Lock.Exit();
        if (hit == null) return;
        foreach (UdpPcb p in hit)
        {
            if (p.So is Socket so)
            {
                so.Lock.Enter();
                if (so.Pcb == p) so.SetError(error);
                so.Lock.Exit();
            }
            else p.Upcall?.Invoke(p);
        }
    }
}
