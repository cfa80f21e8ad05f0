using System;
using System.Collections.Generic;
using System.Text;
using Rump.Kern;

namespace Rump.Dev;

/// <summary>
/// Autoconfiguration of one kernel (NetBSD subr_autoconf.c): the device tree under mainbus0, the
/// registered drivers, <see cref="ConfigFound"/> (a bus found something: ask every driver's
/// match, attach the best, name it driver + lowest free unit, print "umass0 at uhub0 port 1"),
/// <see cref="ConfigDetach"/> (children first, then the driver; a driver may refuse with EBUSY
/// unless forced) and a queue of deferred configuration work.
///
/// Contexts. ConfigFound, ConfigDetach, DetachChildren, AddDriver, RemoveDriver and Drain need
/// thread context: a kernel lwp that may sleep. Interrupt handlers (a hypercall completion in
/// <see cref="Kernel.EnterInterrupt"/>, such as a USB transfer reporting a port change) and soft
/// interrupt handlers (<see cref="Kernel.Softints"/>) must not configure devices themselves:
/// attach and detach sleep, and may wait for the very completions those handlers deliver (an
/// attach holding the autoconfiguration lock waits for a transfer whose completion runs on the
/// soft-interrupt thread; that thread must not wait for the lock). They call <see cref="Defer"/>,
/// which never sleeps, and the work runs on the autoconfiguration thread in thread context
/// (NetBSD defers config_found from interrupts to a thread the same way). That thread starts
/// when the first driver registers; work deferred before then runs then.
///
/// Locks, in the order they are taken:
///  - the autoconfiguration lock (<see cref="CfgEnter"/>): recursive for the lwp holding it, held
///    across the driver callbacks of one ConfigFound, ConfigDetach or deferred work item, so that
///    attach and detach never interleave (NetBSD holds KERNEL_LOCK around autoconf). A bus's attach
///    calls ConfigFound for its children with it already held. Thread context only.
///  - the sysctl tree lock (drivers make and remove nodes in attach and detach);
///  - <see cref="_treeLock"/>: the driver list, unit numbers, every device's children and state.
///    Held only to change or copy those, never across a callout, so the hw.devices handler may
///    take it under the sysctl lock.
///  - <see cref="_deferLock"/>: the deferred-work queue and the thread's state. A leaf, never held
///    across a sleep or a callout: that is what makes <see cref="Defer"/> safe from interrupt and
///    soft-interrupt context (the rump kernel's counterpart of a spin mutex at IPL_VM).
/// </summary>
public sealed class Autoconf
{
    public readonly Kernel Kernel;
    /// <summary>mainbus0, the root of the tree.</summary>
    public Device Root { get; }

    private readonly KMutex _cfgMtx;
    private readonly KCondvar _cfgCv;
    /// <summary>The lwp holding the autoconfiguration lock, and how many times it took it. Under <see cref="_cfgMtx"/>.</summary>
    private Lwp? _cfgOwner;
    private int _cfgDepth;

    private readonly KMutex _treeLock;
    private readonly List<Driver> _drivers = new();
    /// <summary>Per driver, its devices by unit number (NetBSD cd_devs); null slots are free units.</summary>
    private readonly Dictionary<Driver, List<Device?>> _units = new();

    private readonly KMutex _deferLock;
    private readonly KCondvar _workCv;
    private readonly KCondvar _idleCv;
    private readonly Queue<Action<Lwp>> _deferred = new();
    private int _deferRunning;
    private long _deferDone;
    private Kthread? _thread;
    private bool _threadStarted;
    private bool _stopping;

    private sealed class Mainbus : Driver
    {
        public override string Name => "mainbus";
        public override int Match(Device parent, object aux) => 0;
        public override void Attach(Device self, Device parent, object aux) { }
    }

    internal Autoconf(Kernel k)
    {
        Kernel = k;
        _cfgMtx = new KMutex(k);
        _cfgCv = new KCondvar(k);
        _treeLock = new KMutex(k);
        _deferLock = new KMutex(k);
        _workCv = new KCondvar(k);
        _idleCv = new KCondvar(k);
        var mainbus = new Mainbus();
        Root = new Device(this, mainbus, 0, null, null) { StateValue = DeviceState.Attached };
        _units[mainbus] = new List<Device?> { Root };
        k.Aprint("mainbus0 (root)\n");
        k.Sysctl.CreateString(k.Sysctl.Hw, "devices", "", out _, maxLen: 4096, read: DeviceListText,
            desc: "Configured devices, one per line as attached: name, parent, locators");
    }

    // ---- drivers ------------------------------------------------------------------------------

    /// <summary>Registers a driver: EINVAL for a bad name, EEXIST if one of that name is registered. Thread context.</summary>
    public int AddDriver(Driver d)
    {
        string n = d.Name;
        if (n.Length == 0 || char.IsAsciiDigit(n[^1])) return Abi.EINVAL;
        foreach (char c in n) if (!char.IsAsciiLetterOrDigit(c) && c != '_') return Abi.EINVAL;
        _treeLock.Enter();
        try
        {
            foreach (Driver x in _drivers) if (x.Name == n || x == d) return Abi.EEXIST;
            if (_units.ContainsKey(d) || n == "mainbus") return Abi.EEXIST;
            _drivers.Add(d);
            _units[d] = new List<Device?>();
        }
        finally { _treeLock.Exit(); }
        return StartThread();
    }

    /// <summary>Unregisters a driver: EBUSY while it has devices, ENOENT if it is not registered. Thread context.</summary>
    public int RemoveDriver(Driver d)
    {
        _treeLock.Enter();
        try
        {
            if (!_drivers.Contains(d)) return Abi.ENOENT;
            foreach (Device? dev in _units[d]) if (dev != null) return Abi.EBUSY;
            _drivers.Remove(d);
            _units.Remove(d);
            return 0;
        }
        finally { _treeLock.Exit(); }
    }

    // ---- attach --------------------------------------------------------------------------------

    /// <summary>
    /// config_found: <paramref name="parent"/> found a device described by <paramref name="aux"/>
    /// at <paramref name="locators"/> ("port 1"). Attaches the best-matching driver's new unit and
    /// returns it, or returns null when no driver matches (printing "<paramref name="unconfigured"/>
    /// at uhub0 port 1 not configured" if that description is given) or the parent is going away.
    /// Thread context.
    /// </summary>
    public Device? ConfigFound(Device parent, object aux, string? locators = null, string? unconfigured = null)
    {
        Lwp l = Kernel.CurlwpOrBind();
        CfgEnter(l);
        try
        {
            _treeLock.Enter();
            bool parentLive = parent.StateValue is DeviceState.Attaching or DeviceState.Attached;
            Driver[] drivers = _drivers.ToArray();
            _treeLock.Exit();
            if (!parentLive) return null;

            Driver? best = null;
            int bestPri = 0;
            foreach (Driver d in drivers)
            {
                int p = d.Match(parent, aux);
                if (p > bestPri) { best = d; bestPri = p; }
            }
            string at = " at " + parent.Name + (locators != null ? " " + locators : "");
            if (best == null)
            {
                if (unconfigured != null) Kernel.Aprint(unconfigured + at + " not configured\n");
                return null;
            }

            _treeLock.Enter();
            List<Device?> slots = _units[best];
            int unit = slots.IndexOf(null);
            if (unit < 0) { unit = slots.Count; slots.Add(null); }
            var dev = new Device(this, best, unit, parent, locators) { StateValue = DeviceState.Attaching };
            slots[unit] = dev;
            parent.Children.Add(dev);
            _treeLock.Exit();

            string? desc = best.Describe(parent, aux);
            Kernel.Aprint(dev.Name + at + (desc != null ? ": " + desc : "") + "\n");
            best.Attach(dev, parent, aux);
            SetState(dev, DeviceState.Attached);
            return dev;
        }
        finally { CfgExit(l); }
    }

    /// <summary>
    /// The driver <see cref="ConfigFound"/> would attach for <paramref name="aux"/> at
    /// <paramref name="parent"/>, without attaching anything (listing tools); null if none matches.
    /// </summary>
    public Driver? BestMatch(Device parent, object aux)
    {
        _treeLock.Enter();
        Driver[] drivers = _drivers.ToArray();
        _treeLock.Exit();
        Driver? best = null;
        int bestPri = 0;
        foreach (Driver d in drivers)
        {
            int p = d.Match(parent, aux);
            if (p > bestPri) { best = d; bestPri = p; }
        }
        return best;
    }

    // ---- detach --------------------------------------------------------------------------------

    /// <summary>
    /// config_detach: detaches <paramref name="dev"/>'s children (newest first), then asks its
    /// driver, then unlinks it and frees its unit number. A refusal (EBUSY) from the driver or from
    /// a child's driver stops the detach and leaves <paramref name="dev"/> attached (children
    /// already detached stay detached, as in NetBSD). With <see cref="DetachFlags.Force"/> nobody
    /// may refuse. ENOENT for a device already detached, EBUSY for one attaching or detaching,
    /// EINVAL for the root. Thread context.
    /// </summary>
    public int ConfigDetach(Device dev, DetachFlags flags)
    {
        Lwp l = Kernel.CurlwpOrBind();
        CfgEnter(l);
        try { return DetachLocked(dev, flags); }
        finally { CfgExit(l); }
    }

    /// <summary>config_detach_children: every child of <paramref name="parent"/>, newest first. Thread context.</summary>
    public int DetachChildren(Device parent, DetachFlags flags)
    {
        Lwp l = Kernel.CurlwpOrBind();
        CfgEnter(l);
        try { return DetachChildrenLocked(parent, flags); }
        finally { CfgExit(l); }
    }

    private int DetachChildrenLocked(Device parent, DetachFlags flags)
    {
        _treeLock.Enter();
        Device[] kids = parent.Children.ToArray();
        _treeLock.Exit();
        for (int i = kids.Length - 1; i >= 0; i--)
        {
            int e = DetachLocked(kids[i], flags);
            if (e != 0 && e != Abi.ENOENT) return e;
        }
        return 0;
    }

    private int DetachLocked(Device dev, DetachFlags flags)
    {
        bool force = (flags & DetachFlags.Force) != 0;
        _treeLock.Enter();
        DeviceState st = dev.StateValue;
        if (st == DeviceState.Attached && dev.Parent != null) dev.StateValue = DeviceState.Detaching;
        _treeLock.Exit();
        if (st == DeviceState.Detached) return Abi.ENOENT;
        if (dev.Parent == null) return Abi.EINVAL;
        if (st != DeviceState.Attached) return Abi.EBUSY;

        int e = DetachChildrenLocked(dev, flags);
        if (e == 0) e = dev.Driver.Detach(dev, flags);
        if (e != 0)
        {
            if (force) Kernel.Panic("config_detach: forced detach of " + dev.Name + " failed (" + e + ")");
            SetState(dev, DeviceState.Attached);
            return e;
        }

        _treeLock.Enter();
        if (dev.Children.Count != 0)
        {
            _treeLock.Exit();
            Kernel.Panic("config_detach: " + dev.Name + " still has children after its detach");
        }
        dev.Parent.Children.Remove(dev);
        _units[dev.Driver][dev.Unit] = null;
        dev.StateValue = DeviceState.Detached;
        _treeLock.Exit();
        dev.Parent.Driver.ChildDetached(dev.Parent, dev);
        if ((flags & DetachFlags.Quiet) == 0) Kernel.Aprint(dev.Name + " detached\n");
        return 0;
    }

    private void SetState(Device dev, DeviceState s)
    {
        _treeLock.Enter();
        dev.StateValue = s;
        _treeLock.Exit();
    }

    // ---- the autoconfiguration lock ------------------------------------------------------------

    private void CfgEnter(Lwp l)
    {
        _cfgMtx.Enter();
        if (_cfgOwner == l) { _cfgDepth++; _cfgMtx.Exit(); return; }
        while (_cfgOwner != null) _cfgCv.Wait(_cfgMtx);
        _cfgOwner = l;
        _cfgDepth = 1;
        _cfgMtx.Exit();
    }

    private void CfgExit(Lwp l)
    {
        _cfgMtx.Enter();
        if (_cfgOwner != l) { _cfgMtx.Exit(); Kernel.Panic("autoconf: lock released by " + l + ", not its owner"); }
        if (--_cfgDepth == 0)
        {
            _cfgOwner = null;
            _cfgCv.Signal();
        }
        _cfgMtx.Exit();
    }

    // ---- deferred configuration ----------------------------------------------------------------

    /// <summary>
    /// Queues <paramref name="work"/> to run on the autoconfiguration thread, in thread context with
    /// the autoconfiguration lock held (it may call ConfigFound and ConfigDetach). Any context,
    /// interrupt and soft-interrupt handlers included: never sleeps.
    /// </summary>
    public void Defer(Action<Lwp> work)
    {
        _deferLock.Enter();
        _deferred.Enqueue(work);
        _workCv.Signal();
        _deferLock.Exit();
    }

    /// <summary>Deferred work items run so far.</summary>
    public long DeferredDone { get { _deferLock.Enter(); long n = _deferDone; _deferLock.Exit(); return n; } }

    /// <summary>
    /// Waits until no deferred work is queued or running (config_pending's wait). Thread context,
    /// without the autoconfiguration lock (EDEADLK: the work needs it).
    /// </summary>
    public int Drain()
    {
        Lwp l = Kernel.CurlwpOrBind();
        _cfgMtx.Enter();
        bool mine = _cfgOwner == l;
        _cfgMtx.Exit();
        if (mine) return Abi.EDEADLK;
        _deferLock.Enter();
        bool idle = _deferred.Count == 0 && _deferRunning == 0;
        _deferLock.Exit();
        if (idle) return 0;
        int e = StartThread();
        if (e != 0) return e;
        _deferLock.Enter();
        while (_deferred.Count > 0 || _deferRunning > 0) _idleCv.Wait(_deferLock);
        _deferLock.Exit();
        return 0;
    }

    private int StartThread()
    {
        _deferLock.Enter();
        bool start = !_threadStarted && !_stopping;
        if (start) _threadStarted = true;
        _deferLock.Exit();
        if (!start) return 0;
        int e = Kthread.Create(Kernel, "config", RunDeferred, out Kthread? t);
        _deferLock.Enter();
        if (e != 0) _threadStarted = false;
        else _thread = t;
        _deferLock.Exit();
        return e;
    }

    private void RunDeferred(Lwp l)
    {
        _deferLock.Enter();
        while (true)
        {
            if (_deferred.Count == 0)
            {
                if (_stopping) break;
                _workCv.Wait(_deferLock);
                continue;
            }
            Action<Lwp> w = _deferred.Dequeue();
            _deferRunning++;
            _deferLock.Exit();
            CfgEnter(l);
            try { w(l); }
            finally { CfgExit(l); }
            _deferLock.Enter();
            _deferRunning--;
            _deferDone++;
            _idleCv.Broadcast();
        }
        _idleCv.Broadcast();
        _deferLock.Exit();
    }

    /// <summary>Halt: runs the deferred work left, stops the thread, then detaches every device (forced).</summary>
    internal void Shutdown(Lwp caller)
    {
        Drain();
        _deferLock.Enter();
        _stopping = true;
        _workCv.Broadcast();
        Kthread? t = _thread;
        _thread = null;
        _deferLock.Exit();
        // Joining blocks the host thread: do it without a virtual CPU.
        bool had = caller.Cpu != null;
        if (had) Kernel.Sched.Unschedule(caller);
        t?.Join();
        if (had) Kernel.Sched.Schedule(caller);
        DetachChildren(Root, DetachFlags.Force | DetachFlags.Shutdown);
    }

    // ---- the tree for diagnostics --------------------------------------------------------------

    /// <summary>The device named <paramref name="name"/> ("umass0"), or null.</summary>
    public Device? Lookup(string name)
    {
        _treeLock.Enter();
        try
        {
            foreach (List<Device?> slots in _units.Values)
                foreach (Device? d in slots)
                    if (d != null && d.Name == name) return d;
            return null;
        }
        finally { _treeLock.Exit(); }
    }

    /// <summary>Every device, parents before their children, children in attach order (drvctl -l's walk).</summary>
    public List<Device> Devices()
    {
        var all = new List<Device>();
        _treeLock.Enter();
        Walk(Root, all);
        _treeLock.Exit();
        return all;
    }

    private static void Walk(Device d, List<Device> into)
    {
        into.Add(d);
        foreach (Device c in d.Children) Walk(c, into);
    }

    /// <summary>hw.devices: "mainbus0 (root)" and one "name at parent locators" line per device.</summary>
    private string DeviceListText()
    {
        var sb = new StringBuilder();
        foreach (Device d in Devices())
        {
            if (d.Parent == null) sb.Append(d.Name).Append(" (root)\n");
            else
            {
                sb.Append(d.Name).Append(" at ").Append(d.Parent.Name);
                if (d.Locators != null) sb.Append(' ').Append(d.Locators);
                sb.Append('\n');
            }
        }
        return sb.ToString();
    }
}
