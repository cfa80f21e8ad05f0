using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using Rump.Dev;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Autoconfiguration with test-only drivers: a fake bus on mainbus0 whose attach finds child
/// devices, a generic child driver and a specific one that outbids it for some children. Checks
/// matching priorities, unit numbers, the attach and detach lines in dmesg, detach order, a busy
/// driver's refusal, deferred configuration from a thread outside the kernel, and hw.devices.
/// </summary>
public class AutoconfTests : KernelTest
{
    private sealed class BusArgs
    {
        public readonly string[] Kinds;
        public BusArgs(params string[] kinds) { Kinds = kinds; }
    }

    private sealed class ChildArgs
    {
        public readonly string Kind;
        public ChildArgs(string kind) { Kind = kind; }
    }

    /// <summary>Per-device state of the child drivers.</summary>
    private sealed class ChildSoftc
    {
        public bool Busy;
        public DetachFlags DetachedWith;
    }

    private sealed class FakeBus : Driver
    {
        private readonly List<string> _log;
        public FakeBus(List<string> log) { _log = log; }
        public override string Name => "fakebus";
        public override int Match(Device parent, object aux) => aux is BusArgs && parent.Parent == null ? 1 : 0;

        public override void Attach(Device self, Device parent, object aux)
        {
            _log.Add("attach " + self.Name);
            var args = (BusArgs)aux;
            for (int i = 0; i < args.Kinds.Length; i++)
                self.Autoconf.ConfigFound(self, new ChildArgs(args.Kinds[i]), "slot " + (i + 1), unconfigured: args.Kinds[i] + " thing");
        }

        public override int Detach(Device self, DetachFlags flags)
        {
            _log.Add("detach " + self.Name);
            return 0;
        }

        public readonly List<string> ChildrenGone = new();
        public override void ChildDetached(Device self, Device child) => ChildrenGone.Add(child.Name);
    }

    private class ChildDriver : Driver
    {
        private readonly List<string> _log;
        private readonly string _name;
        private readonly Func<ChildArgs, int> _match;
        public ChildDriver(List<string> log, string name, Func<ChildArgs, int> match) { _log = log; _name = name; _match = match; }
        public override string Name => _name;
        public override int Match(Device parent, object aux) => aux is ChildArgs c && parent.Driver is FakeBus ? _match(c) : 0;
        public override string? Describe(Device parent, object aux) => _name == "fakegen" ? "generic " + ((ChildArgs)aux).Kind : null;

        public override void Attach(Device self, Device parent, object aux)
        {
            _log.Add("attach " + self.Name);
            self.Softc = new ChildSoftc();
        }

        public override int Detach(Device self, DetachFlags flags)
        {
            var sc = (ChildSoftc)self.Softc!;
            if (sc.Busy && (flags & DetachFlags.Force) == 0) return Abi.EBUSY;
            sc.DetachedWith = flags;
            _log.Add("detach " + self.Name);
            return 0;
        }
    }

    private sealed class Setup
    {
        public readonly RumpKernel K;
        public readonly Autoconf Ac;
        public readonly List<string> Log = new();
        public readonly FakeBus Bus;

        public Setup(RumpKernel k)
        {
            K = k;
            Ac = k.Kernel.GetService<Autoconf>()!;
            Assert.That(Ac, Is.Not.Null, "the dev component is linked in");
            Bus = new FakeBus(Log);
            Assert.That(Ac.AddDriver(Bus), Is.EqualTo(0));
            // Generic: anything but aliens, priority 1. Specific: only "special", priority 10.
            Assert.That(Ac.AddDriver(new ChildDriver(Log, "fakegen", c => c.Kind == "alien" ? 0 : 1)), Is.EqualTo(0));
            Assert.That(Ac.AddDriver(new ChildDriver(Log, "fakespec", c => c.Kind == "special" ? 10 : 0)), Is.EqualTo(0));
        }

        public Device AttachBus(params string[] kinds)
        {
            Device? bus = Ac.ConfigFound(Ac.Root, new BusArgs(kinds));
            Assert.That(bus, Is.Not.Null, "the fake bus attaches at mainbus0");
            return bus!;
        }

        public string[] Children(Device d) => Ac.Devices().Where(x => x.Parent == d).Select(x => x.Name).ToArray();
    }

    [Test]
    public void HighestPriorityMatchAttachesAndUnitsCountPerDriver()
    {
        var s = new Setup(Boot());
        Device bus = s.AttachBus("plain", "special", "alien", "plain");
        Assert.That(bus.Name, Is.EqualTo("fakebus0"));
        Assert.That(s.Children(bus), Is.EqualTo(new[] { "fakegen0", "fakespec0", "fakegen1" }),
            "special goes to the higher-priority driver, aliens to nobody, units count per driver");
        Device bus1 = s.AttachBus("special");
        Assert.That(bus1.Name, Is.EqualTo("fakebus1"));
        Assert.That(s.Children(bus1), Is.EqualTo(new[] { "fakespec1" }));
        Assert.That(s.Ac.Lookup("fakespec1")!.Parent, Is.SameAs(bus1));
        Assert.That(s.Ac.Lookup("fakespec1")!.State, Is.EqualTo(DeviceState.Attached));
        Assert.That(s.Ac.Lookup("fakegen1")!.Locators, Is.EqualTo("slot 4"));
    }

    [Test]
    public void AttachLinesAreInDmesg()
    {
        var s = new Setup(Boot());
        s.AttachBus("plain", "special", "alien");
        string dmesg = s.K.Dmesg();
        string[] expected =
        {
            "mainbus0 (root)\n",
            "fakebus0 at mainbus0\n",
            "fakegen0 at fakebus0 slot 1: generic plain\n",
            "fakespec0 at fakebus0 slot 2\n",
            "alien thing at fakebus0 slot 3 not configured\n",
        };
        int at = 0;
        foreach (string line in expected)
        {
            int i = dmesg.IndexOf(line, at, StringComparison.Ordinal);
            Assert.That(i, Is.GreaterThanOrEqualTo(0), "dmesg line \"" + line.TrimEnd() + "\" (in this order) in:\n" + dmesg);
            at = i + line.Length;
        }
    }

    [Test]
    public void FreedUnitNumbersAreReused()
    {
        var s = new Setup(Boot());
        Device bus = s.AttachBus("a", "b", "c");
        Device gen1 = s.Ac.Lookup("fakegen1")!;
        Assert.That(s.Ac.ConfigDetach(gen1, DetachFlags.None), Is.EqualTo(0));
        Assert.That(gen1.State, Is.EqualTo(DeviceState.Detached));
        Assert.That(s.Ac.Lookup("fakegen1"), Is.Null);
        Assert.That(s.Ac.ConfigDetach(gen1, DetachFlags.None), Is.EqualTo(Abi.ENOENT), "detaching twice");
        Device? again = s.Ac.ConfigFound(bus, new ChildArgs("d"), "slot 9");
        Assert.That(again!.Name, Is.EqualTo("fakegen1"), "the lowest free unit, as NetBSD's config_unit_alloc");
        Device? next = s.Ac.ConfigFound(bus, new ChildArgs("e"), "slot 10");
        Assert.That(next!.Name, Is.EqualTo("fakegen3"));
        Assert.That(s.Bus.ChildrenGone, Is.EqualTo(new[] { "fakegen1" }), "the parent heard of its child's detach");
    }

    [Test]
    public void DetachTakesChildrenFirstNewestFirst()
    {
        var s = new Setup(Boot());
        Device bus = s.AttachBus("a", "special", "b");
        s.Log.Clear();
        Assert.That(s.Ac.ConfigDetach(bus, DetachFlags.None), Is.EqualTo(0));
        Assert.That(s.Log, Is.EqualTo(new[] { "detach fakegen1", "detach fakespec0", "detach fakegen0", "detach fakebus0" }));
        Assert.That(s.Ac.Devices().Select(d => d.Name), Is.EqualTo(new[] { "mainbus0" }));
        string dmesg = s.K.Dmesg();
        Assert.That(dmesg, Does.Contain("fakegen1 detached\nfakespec0 detached\nfakegen0 detached\nfakebus0 detached\n"));
        Assert.That(s.Ac.ConfigDetach(s.Ac.Root, DetachFlags.None), Is.EqualTo(Abi.EINVAL), "mainbus0 stays");
    }

    [Test]
    public void BusyDriverRefusesUnlessForced()
    {
        var s = new Setup(Boot());
        Device bus = s.AttachBus("a", "b", "c");
        Device busy = s.Ac.Lookup("fakegen1")!;
        ((ChildSoftc)busy.Softc!).Busy = true;
        Assert.That(s.Ac.ConfigDetach(busy, DetachFlags.None), Is.EqualTo(Abi.EBUSY));
        Assert.That(busy.State, Is.EqualTo(DeviceState.Attached));
        Assert.That(s.Ac.ConfigDetach(bus, DetachFlags.None), Is.EqualTo(Abi.EBUSY), "a busy child stops its parent's detach");
        Assert.That(bus.State, Is.EqualTo(DeviceState.Attached), "the refused parent stays attached");
        Assert.That(s.Children(bus), Is.EqualTo(new[] { "fakegen0", "fakegen1" }), "the newer sibling went first; the busy one and older stay");
        Assert.That(s.K.Dmesg(), Does.Not.Contain("fakebus0 detached"));

        Assert.That(s.Ac.ConfigDetach(bus, DetachFlags.Force), Is.EqualTo(0), "forced");
        Assert.That(busy.State, Is.EqualTo(DeviceState.Detached));
        Assert.That(((ChildSoftc)busy.Softc!).DetachedWith, Is.EqualTo(DetachFlags.Force), "the driver saw the force flag");
        Assert.That(s.Ac.Devices().Count, Is.EqualTo(1));
        Assert.That(s.Ac.RemoveDriver(s.Bus), Is.EqualTo(0), "a driver without devices can go");
    }

    [Test]
    public void DriverRegistrationRules()
    {
        var s = new Setup(Boot());
        Assert.That(s.Ac.AddDriver(new ChildDriver(s.Log, "fakegen", _ => 1)), Is.EqualTo(Abi.EEXIST), "a second driver of the same name");
        Assert.That(s.Ac.AddDriver(new ChildDriver(s.Log, "bad1", _ => 1)), Is.EqualTo(Abi.EINVAL), "a name ending in a digit");
        Assert.That(s.Ac.AddDriver(new ChildDriver(s.Log, "", _ => 1)), Is.EqualTo(Abi.EINVAL));
        s.AttachBus("a");
        Assert.That(s.Ac.RemoveDriver(s.Bus), Is.EqualTo(Abi.EBUSY), "a driver with an attached device");
    }

    /// <summary>A driver whose attach waits for deferred work would deadlock: Drain says so instead.</summary>
    private sealed class DrainingDriver : Driver
    {
        public int DrainResult = -1;
        public override string Name => "drainer";
        public override int Match(Device parent, object aux) => aux is string x && x == "drainer" ? 1 : 0;
        public override void Attach(Device self, Device parent, object aux) => DrainResult = self.Autoconf.Drain();
    }

    [Test]
    public void DeferredWorkRunsOnTheConfigThread()
    {
        var s = new Setup(Boot());
        string? ranAs = null;
        int ranInPid = -1;
        // A host thread with no kernel context stands for an interrupt handler: it may only defer.
        var intr = new Thread(() => s.Ac.Defer(l =>
        {
            ranAs = l.Name;
            ranInPid = l.Proc.Pid;
            s.Ac.ConfigFound(s.Ac.Root, new BusArgs("hotplug"));
        }));
        long before = s.Ac.DeferredDone;
        intr.Start();
        intr.Join();
        Assert.That(s.Ac.Drain(), Is.EqualTo(0));
        Assert.That(s.Ac.DeferredDone, Is.EqualTo(before + 1));
        Assert.That(ranAs, Is.EqualTo("config"), "the work ran on the autoconfiguration thread");
        Assert.That(ranInPid, Is.EqualTo(0), "as a kernel thread (proc0)");
        Assert.That(s.Ac.Lookup("fakegen0")?.Parent?.Name, Is.EqualTo("fakebus0"));

        var drainer = new DrainingDriver();
        Assert.That(s.Ac.AddDriver(drainer), Is.EqualTo(0));
        Assert.That(s.Ac.ConfigFound(s.Ac.Root, "drainer"), Is.Not.Null);
        Assert.That(drainer.DrainResult, Is.EqualTo(Abi.EDEADLK), "Drain under the autoconfiguration lock");
    }

    [Test]
    public void InterruptAndSoftInterruptHandlersDefer()
    {
        var s = new Setup(Boot());
        Kernel k = s.K.Kernel;
        // A soft interrupt whose handler finds a device, as a USB hub's status-change task would.
        Softint si = k.Softints.Establish("hotplug", _ => s.Ac.Defer(_ => s.Ac.ConfigFound(s.Ac.Root, new BusArgs("soft"))));
        long done = s.Ac.DeferredDone;
        // A host thread entering interrupt context as a hypercall completion does: it defers one
        // attach itself and schedules the soft interrupt for another.
        var intr = new Thread(() =>
        {
            using IntrContext ic = k.EnterInterrupt();
            s.Ac.Defer(_ => s.Ac.ConfigFound(s.Ac.Root, new BusArgs("intr")));
            k.Softints.Schedule(si);
        });
        intr.Start();
        intr.Join();
        // Both deferred items have run when the kernel's counter says so.
        var deadline = DateTime.UtcNow + Generous;
        while (s.Ac.DeferredDone < done + 2 && DateTime.UtcNow < deadline) Thread.Yield();
        Assert.That(s.Ac.DeferredDone, Is.EqualTo(done + 2), "deferred work items run");
        Assert.That(s.Ac.Devices().Where(d => d.Driver is FakeBus).Select(d => d.Name), Is.EquivalentTo(new[] { "fakebus0", "fakebus1" }));
        Assert.That(s.Ac.Devices().Count(d => d.Name.StartsWith("fakegen", StringComparison.Ordinal)), Is.EqualTo(2));
    }

    [Test]
    public void TreeIsListedWithParents()
    {
        var s = new Setup(Boot());
        s.AttachBus("a", "special");
        List<Device> all = s.Ac.Devices();
        Assert.That(all.Select(d => d.Name + "<" + (d.Parent?.Name ?? "")), Is.EqualTo(new[]
        {
            "mainbus0<", "fakebus0<mainbus0", "fakegen0<fakebus0", "fakespec0<fakebus0",
        }));
        string expected = "mainbus0 (root)\nfakebus0 at mainbus0\nfakegen0 at fakebus0 slot 1\nfakespec0 at fakebus0 slot 2\n";
        Assert.That(s.K.Kernel.Sysctl.GetString("hw.devices"), Is.EqualTo(expected), "hw.devices through the managed sysctl");
        int[] mib = s.K.Kernel.Sysctl.MibOf(s.K.Kernel.Sysctl.FindByName("hw.devices")!)!;
        Assert.That(s.K.SysctlString(mib), Is.EqualTo(expected), "hw.devices through __sysctl");
    }

    [Test]
    public void HaltDetachesEverything()
    {
        var s = new Setup(Boot());
        Device bus = s.AttachBus("a");
        Device gen = s.Ac.Lookup("fakegen0")!;
        ((ChildSoftc)gen.Softc!).Busy = true;
        Assert.That(s.K.Reboot(Abi.RB_NOSYNC), Is.EqualTo(0));
        Assert.That(gen.State, Is.EqualTo(DeviceState.Detached), "busy or not, halt detaches (forced)");
        Assert.That(((ChildSoftc)gen.Softc!).DetachedWith, Is.EqualTo(DetachFlags.Force | DetachFlags.Shutdown));
        Assert.That(bus.State, Is.EqualTo(DeviceState.Detached));
        Assert.That(s.K.Dmesg(), Does.Contain("fakegen0 detached\nfakebus0 detached\n"));
    }
}
