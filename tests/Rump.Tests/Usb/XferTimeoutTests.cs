using System.Collections.Generic;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;
using Rump.Usb;
using Rump.Usb.Wire;

namespace Rump.Tests.Usb;

/// <summary>
/// A transfer's timeout against the runs of a reused xfer. The xfer is on a real controller's
/// pipe (the software root hub's status-change interrupt pipe, which ends only when a port
/// changes), and the xfer's test seam (<see cref="UsbXfer.TimeoutHook"/>) runs the interleaving
/// on the callout thread itself at the point under test, so the order of events is fixed, not
/// left to timing.
/// </summary>
public class XferTimeoutTests : KernelTest
{
    private sealed class NoBus : UsbBus
    {
        public NoBus(Kernel k) : base(k) { }
        public override int OpenPipe(UsbPipe pipe) => Abi.ENXIO;
    }

    private sealed class Rig
    {
        public readonly RootHub Hub;
        public readonly UsbXfer X;
        public readonly List<int> Statuses = new();
        public readonly List<string> Errors = new();
        private int _port;

        public Rig(RumpKernel k)
        {
            Hub = new RootHub(k.Kernel, 8, "test hub");
            var dev = new UsbDevice(new NoBus(k.Kernel), null, 0, UsbSpeed.High);
            var ep = new EndpointDescriptor { Address = 0x81, Attributes = (byte)UsbXferType.Interrupt, MaxPacketSize = 4, Interval = 255 };
            var pipe = new UsbPipe(dev, ep) { Methods = Hub };
            X = new UsbXfer(pipe, 4);
            X.Callback = x => { lock (Statuses) Statuses.Add(x.Status); };
        }

        /// <summary>A port change: ends the pending run with status 0.</summary>
        public void EndRun() => Hub.SetConnected(++_port, true, UsbSpeed.High);

        /// <summary>The driver restarts the xfer (as a callback or a reader does), with a timeout that will not fire during the test.</summary>
        public void Restart()
        {
            X.TimeoutMs = 60_000;
            int e = X.Start();
            if (e != 0) lock (Errors) Errors.Add("restart: error " + e);
        }

        public int[] TakeStatuses() { lock (Statuses) return Statuses.ToArray(); }
    }

    [TestCase(1)]
    [TestCase(2)]
    public void LateTimeoutOfAnEarlierRunLeavesTheCurrentRunAlone(int restarts)
    {
        var r = new Rig(Boot());
        using var done = new ManualResetEventSlim();
        r.X.TimeoutMs = 1;
        r.X.TimeoutHook = (x, stage) =>
        {
            // Run 1's callout has fired. Before it looks at the xfer, run 1 ends and the xfer is
            // run again (and again): the callout belongs to none of the later runs.
            if (stage == 0)
                for (int i = 0; i < restarts; i++) { r.EndRun(); r.Restart(); }
            if (stage == 2) done.Set();
        };
        Assert.That(r.X.Start(), Is.EqualTo(0), "start run 1");
        Assert.That(done.Wait(30_000), Is.True, "run 1's timeout callout ran");
        r.X.TimeoutHook = null;
        Assert.That(r.Errors, Is.Empty);
        Assert.That(r.TakeStatuses(), Is.EqualTo(new int[restarts]), "each ended run completed with status 0 and nothing else completed");
        Assert.That(r.X.InFlight, Is.True, "run " + (restarts + 1) + " is still pending: run 1's late callout must not abort it");
        r.EndRun();
        int[] st = r.TakeStatuses();
        Assert.That(st[^1], Is.EqualTo(0), "run " + (restarts + 1) + " ends with the device's answer, not a timeout");
    }

    [Test]
    public void TimeoutAbortOfAnEndedRunLeavesTheNextRunAlone()
    {
        var r = new Rig(Boot());
        using var done = new ManualResetEventSlim();
        r.X.TimeoutMs = 1;
        r.X.TimeoutHook = (x, stage) =>
        {
            // The callout has decided to abort run 1; before the controller hears of it, run 1
            // ends by itself and the xfer is run again. The abort is run 1's, not run 2's.
            if (stage == 1) { r.EndRun(); r.Restart(); }
            if (stage == 2) done.Set();
        };
        Assert.That(r.X.Start(), Is.EqualTo(0), "start run 1");
        Assert.That(done.Wait(30_000), Is.True, "run 1's timeout callout ran");
        r.X.TimeoutHook = null;
        Assert.That(r.Errors, Is.Empty);
        Assert.That(r.TakeStatuses(), Is.EqualTo(new[] { 0 }), "run 1 completed once, with the device's answer");
        Assert.That(r.X.InFlight, Is.True, "run 2 is still pending: the abort meant for run 1 must not end it");
        r.EndRun();
        Assert.That(r.TakeStatuses(), Is.EqualTo(new[] { 0, 0 }), "run 2 ends with the device's answer");
    }

    [Test]
    public void TimeoutStillAbortsARunThatHangs()
    {
        var r = new Rig(Boot());
        using var done = new ManualResetEventSlim();
        r.X.TimeoutMs = 1;
        r.X.Callback = x => { lock (r.Statuses) r.Statuses.Add(x.Status); done.Set(); };
        Assert.That(r.X.Start(), Is.EqualTo(0));
        Assert.That(done.Wait(30_000), Is.True, "the transfer that nothing answers ended");
        Assert.That(r.TakeStatuses(), Is.EqualTo(new[] { Abi.ETIMEDOUT }), "it ended by its timeout");
        Assert.That(r.X.InFlight, Is.False);
    }
}
