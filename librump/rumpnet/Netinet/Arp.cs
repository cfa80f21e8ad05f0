using System;
using System.Collections.Generic;
using System.Threading;
using Rump.Kern;
using Rump.Net.Wire;

namespace Rump.Net.Netinet;

/// <summary>
/// The ARP cache of one Ethernet interface (RFC 826; NetBSD if_arp.c, with its timers).
///
/// An entry is incomplete (asked, no answer yet: packets to it wait on its hold queue, at most
/// <see cref="HoldLimit"/> and <see cref="MaxHeld"/> over all entries, and the request is repeated every second up to <see cref="MaxTries"/>
/// times, after which the entry and its packets go) or resolved (kept <see cref="KeepNs"/>, then
/// forgotten). Learning follows RFC 826's merge rule: a sender already in the cache is updated
/// by any ARP packet; a new sender is added only when the packet was for one of our addresses.
/// The cache holds at most <see cref="MaxEntries"/> entries, so a flood of requests from made-up
/// senders costs bounded memory. One callout per cache runs every second while there are entries.
///
/// Locks: <see cref="_lock"/> protects the map, the entries, <see cref="_held"/> and <see cref="_timerArmed"/>; it is
/// taken after Inet's configuration lock, and nothing is sent while it is held (packets to send
/// are collected and sent after).
/// </summary>
public sealed class ArpCache
{
    public const int HoldLimit = 16, MaxTries = 5, MaxEntries = 1024;
    /// <summary>Packets held for all unresolved entries together: a flood towards spoofed neighbours cannot pin more buffers than this.</summary>
    public const int MaxHeld = 256;
    public const long RetryNs = 1_000_000_000, KeepNs = 1200L * 1_000_000_000; // NetBSD's arpt_keep: 20 minutes

    public readonly Ifnet Ifp;
    private readonly Inet _in;
    private readonly KMutex _lock;
    private readonly Dictionary<uint, Entry> _map = new();
    private readonly Callout _timer;
    private bool _timerArmed;
    private bool _gone;
    /// <summary>Packets in every entry's hold queue (under <see cref="_lock"/>).</summary>
    private int _held;

    private sealed class Entry
    {
        public EtherAddr Mac;
        public bool Resolved;
        public long Expires;
        public int Tries;
        public MbufQueue Hold = new(HoldLimit);
    }

    internal ArpCache(Inet inet, Ifnet ifp)
    {
        _in = inet;
        Ifp = ifp;
        _lock = new KMutex(inet.Kernel);
        _timer = new Callout(_ => Tick());
    }

    private InetStats S => _in.Stats;

    /// <summary>The resolved link address of <paramref name="ip"/> (arp -n), if any.</summary>
    public bool TryGet(Ipv4Addr ip, out EtherAddr mac)
    {
        _lock.Enter();
        bool ok = _map.TryGetValue(ip.Value, out Entry? e) && e.Resolved;
        mac = ok ? e!.Mac : default;
        _lock.Exit();
        return ok;
    }

    public int Count { get { _lock.Enter(); int n = _map.Count; _lock.Exit(); return n; } }

    /// <summary>The entries, resolved or not (arp -a; the routing socket's RTF_LLINFO listing), as a copy.</summary>
    public (Ipv4Addr Ip, EtherAddr Mac, bool Resolved)[] Entries()
    {
        _lock.Enter();
        var r = new (Ipv4Addr, EtherAddr, bool)[_map.Count];
        int i = 0;
        foreach (KeyValuePair<uint, Entry> kv in _map) r[i++] = (new Ipv4Addr(kv.Key), kv.Value.Mac, kv.Value.Resolved);
        _lock.Exit();
        return r;
    }

    /// <summary>Packets waiting for resolution, over every entry.</summary>
    public int Held { get { _lock.Enter(); int n = _held; _lock.Exit(); return n; } }

    private Mbuf? TakeHeldLocked(Entry e)
    {
        _held -= e.Hold.Count;
        return e.Hold.DequeueAll();
    }

    /// <summary>
    /// Sends the IPv4 packet <paramref name="m"/> to <paramref name="nextHop"/> on this link
    /// (NetBSD arpresolve + ether_output): at once if resolved, else held and asked for. Consumes m.
    /// </summary>
    internal int Resolve(Mbuf m, Ipv4Addr nextHop)
    {
        bool ask = false;
        _lock.Enter();
        if (_map.TryGetValue(nextHop.Value, out Entry? e) && e.Resolved)
        {
            EtherAddr mac = e.Mac;
            _lock.Exit();
            return Ether.EtherOutput(Ifp, m, mac);
        }
        if (e == null)
        {
            if (_gone || _map.Count >= MaxEntries)
            {
                _lock.Exit();
                m.Free();
                Interlocked.Increment(ref S.ArpDropHeld);
                return Abi.ENOBUFS;
            }
            e = new Entry { Expires = Clock.MonotonicNs() + RetryNs, Tries = 1 };
            _map.Add(nextHop.Value, e);
            ask = true;
            ArmLocked();
        }
        if (_held >= MaxHeld) { m.Free(); Interlocked.Increment(ref S.ArpDropHeld); }
        else if (e.Hold.Enqueue(m)) _held++;
        else Interlocked.Increment(ref S.ArpDropHeld);
        _lock.Exit();
        if (ask) SendRequest(SourceFor(nextHop), nextHop);
        return 0;
    }

    /// <summary>Our address on this interface to ask from: the one on <paramref name="target"/>'s subnet, else the first.</summary>
    private Ipv4Addr SourceFor(Ipv4Addr target)
    {
        InIfaddr? any = null;
        foreach (InIfaddr ia in _in.Addresses())
        {
            if (ia.Ifp != Ifp) continue;
            if ((target.Value & ia.Mask.Value) == ia.Network.Value) return ia.Addr;
            any ??= ia;
        }
        return any?.Addr ?? Ipv4Addr.Any;
    }

    /// <summary>Broadcasts "who has <paramref name="target"/>, tell <paramref name="sender"/>" (sender = target: a gratuitous ARP).</summary>
    internal void SendRequest(Ipv4Addr sender, Ipv4Addr target)
        => Send(ArpPacket.OpRequest, sender, default, target, EtherAddr.Broadcast);

    private void Send(ushort op, Ipv4Addr sender, EtherAddr targetHw, Ipv4Addr target, EtherAddr dst)
    {
        if (!Ifp.IsUp) return;
        Mbuf? m = _in.Net.Mbufs.Get(ArpPacket.Size);
        if (m == null) return;
        ArpPacket.Emit(m.Append(ArpPacket.Size), op, Ifp.LinkAddr, sender, targetHw, target);
        m.Protocol = EthernetFrame.TypeArp;
        Interlocked.Increment(ref op == ArpPacket.OpRequest ? ref S.ArpRequestsSent : ref S.ArpRepliesSent);
        Ether.EtherOutput(Ifp, m, dst);
    }

    /// <summary>A received ARP packet (NetBSD in_arpinput). Consumes m.</summary>
    internal void Input(Mbuf m)
    {
        Interlocked.Increment(ref S.ArpIn);
        if (ArpPacket.Parse(m.Bytes, out ArpPacket p) != WireError.Ok)
        {
            Interlocked.Increment(ref S.ArpBad);
            m.Free();
            return;
        }
        ushort op = p.Operation;
        EtherAddr sha = p.SenderHw;
        Ipv4Addr spa = p.SenderIp, tpa = p.TargetIp;
        m.Free();
        // Our own frames looped back by a bus, and senders no host can be.
        if (sha == Ifp.LinkAddr || sha.IsMulticast || sha.Value == 0 || spa.IsMulticast || spa == Ipv4Addr.Broadcast)
        {
            Interlocked.Increment(ref S.ArpBad);
            return;
        }
        bool forUs = false;
        foreach (InIfaddr ia in _in.Addresses())
        {
            if (ia.Ifp != Ifp) continue;
            if (ia.Addr == spa)
            {
                // Someone else claims our address (RFC 5227 conflict): keep ours, learn nothing.
                Interlocked.Increment(ref S.ArpDuplicate);
                return;
            }
            if (ia.Addr == tpa) forUs = true;
        }
        Mbuf? held = null;
        if (spa != Ipv4Addr.Any)
        {
            _lock.Enter();
            _map.TryGetValue(spa.Value, out Entry? e);
            if (e == null && forUs && !_gone && _map.Count < MaxEntries)
            {
                e = new Entry();
                _map.Add(spa.Value, e);
                ArmLocked();
            }
            if (e != null)
            {
                e.Mac = sha;
                e.Resolved = true;
                e.Tries = 0;
                e.Expires = Clock.MonotonicNs() + KeepNs;
                held = TakeHeldLocked(e);
            }
            _lock.Exit();
        }
        while (held != null)
        {
            Mbuf? next = held.NextPacket;
            held.NextPacket = null;
            Ether.EtherOutput(Ifp, held, sha);
            held = next;
        }
        if (op == ArpPacket.OpRequest && forUs)
            Send(ArpPacket.OpReply, tpa, sha, spa, sha);
    }

    /// <summary>Forgets every entry and frees held packets (the interface is going away).</summary>
    internal void Flush()
    {
        _lock.Enter();
        _gone = true;
        var held = new List<Mbuf>();
        foreach (Entry e in _map.Values)
            for (Mbuf? h = TakeHeldLocked(e); h != null; h = h.NextPacket) held.Add(h);
        _map.Clear();
        _lock.Exit();
        _in.Kernel.Callouts.Stop(_timer);
        foreach (Mbuf h in held) { h.NextPacket = null; h.Free(); }
    }

    /// <summary>Removes the entry of <paramref name="ip"/> (arp -d); ESRCH if there is none.</summary>
    public int Delete(Ipv4Addr ip)
    {
        _lock.Enter();
        bool found = _map.Remove(ip.Value, out Entry? e);
        Mbuf? h = e != null ? TakeHeldLocked(e) : null;
        _lock.Exit();
        for (; h != null;) { Mbuf? n = h.NextPacket; h.NextPacket = null; h.Free(); h = n; }
        return found ? 0 : Abi.ESRCH;
    }

    private void ArmLocked()
    {
        if (_timerArmed || _gone) return;
        _timerArmed = true;
        _in.Kernel.Callouts.Schedule(_timer, RetryNs);
    }

    /// <summary>Every second while there are entries: ask again for incomplete ones, give up after MaxTries, forget expired ones.</summary>
    private void Tick()
    {
        long now = Clock.MonotonicNs();
        List<uint>? ask = null;
        Mbuf? drop = null;
        _lock.Enter();
        _timerArmed = false;
        List<uint>? remove = null;
        foreach (KeyValuePair<uint, Entry> kv in _map)
        {
            Entry e = kv.Value;
            if (e.Expires > now) continue;
            if (e.Resolved || e.Tries >= MaxTries)
            {
                (remove ??= new()).Add(kv.Key);
                if (!e.Resolved) Interlocked.Increment(ref S.ArpTimeouts);
                for (Mbuf? h = TakeHeldLocked(e); h != null;)
                {
                    Mbuf? n = h.NextPacket;
                    h.NextPacket = drop;
                    drop = h;
                    h = n;
                }
                continue;
            }
            e.Tries++;
            e.Expires = now + RetryNs;
            (ask ??= new()).Add(kv.Key);
        }
        if (remove != null) foreach (uint k in remove) _map.Remove(k);
        if (_map.Count > 0) ArmLocked();
        _lock.Exit();
        while (drop != null)
        {
            Mbuf? n = drop.NextPacket;
            drop.NextPacket = null;
            drop.Free();
            Interlocked.Increment(ref S.ArpDropHeld);
            drop = n;
        }
        if (ask != null) foreach (uint k in ask) SendRequest(SourceFor(new Ipv4Addr(k)), new Ipv4Addr(k));
    }
}
