using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Callouts: a scheduled one runs once after its delay on the kernel's timer thread, Stop cancels a
/// pending one, and Schedule re-arms. Timing bounds are deliberately loose.
/// </summary>
public class CalloutTests : KernelTest
{
    private const long Ms = 1_000_000;

    /// <summary>
    /// Schedules a sentinel callout <paramref name="delayNs"/> from now and waits for it: callouts
    /// run in due order on one thread, so every callout due before it has run (or never will).
    /// </summary>
    private static void AfterEverythingDueBy(Kernel k, long delayNs)
    {
        int done = 0;
        k.Callouts.Schedule(new Callout(_ => Volatile.Write(ref done, 1)), delayNs);
        Assert.That(Eventually(() => Volatile.Read(ref done) == 1), Is.True, "sentinel callout did not run");
    }

    [Test]
    public void ScheduledCalloutFiresOnceAfterItsDelay()
    {
        Kernel k = Boot().Kernel;
        int runs = 0;
        Kernel? seen = null;
        Lwp? ranAs = null;
        var c = new Callout(kk => { seen = kk; ranAs = kk.CurlwpOrNull(); Interlocked.Increment(ref runs); });
        long fired0 = k.Callouts.Fired;
        var sw = Stopwatch.StartNew();
        k.Callouts.Schedule(c, 20 * Ms);
        Assert.That(Eventually(() => Volatile.Read(ref runs) == 1), Is.True, "callout with a 20 ms delay did not run within " + Generous);
        sw.Stop();
        Assert.That(sw.Elapsed.TotalMilliseconds, Is.GreaterThanOrEqualTo(10), "a 20 ms callout ran after (ms)");
        Assert.That(k.Callouts.Fired - fired0, Is.EqualTo(1), "Fired counter");
        Assert.That(seen, Is.SameAs(k), "the callout gets its own kernel");
        Assert.That(ranAs, Is.Not.Null, "a callout runs in kernel context");
        Assert.That(ranAs!.Proc, Is.SameAs(k.Proc0), "callouts run on a kernel thread (proc0)");
        AfterEverythingDueBy(k, 30 * Ms);
        Assert.That(runs, Is.EqualTo(1), "a callout runs once per Schedule");
    }

    [Test]
    public void StopCancelsAPendingCallout()
    {
        Kernel k = Boot().Kernel;
        int runs = 0;
        var c = new Callout(_ => Interlocked.Increment(ref runs));
        long fired0 = k.Callouts.Fired;
        k.Callouts.Schedule(c, 100 * Ms);
        Assert.That(k.Callouts.Stop(c), Is.True, "Stop of a pending callout");
        AfterEverythingDueBy(k, 150 * Ms);
        Assert.That(runs, Is.EqualTo(0), "a stopped callout ran");
        Assert.That(k.Callouts.Fired, Is.EqualTo(fired0 + 1), "Fired counter (the sentinel only)");
        Assert.That(k.Callouts.Stop(c), Is.False, "Stop of a callout that is not pending");
    }

    [Test]
    public void RescheduleRearms()
    {
        Kernel k = Boot().Kernel;
        int runs = 0;
        var c = new Callout(_ => Interlocked.Increment(ref runs));
        // Re-arming a far-off callout to soon: it runs soon, and only once.
        k.Callouts.Schedule(c, 60_000 * Ms);
        k.Callouts.Schedule(c, 5 * Ms);
        Assert.That(Eventually(() => Volatile.Read(ref runs) == 1), Is.True, "re-armed callout (60 s -> 5 ms) did not run");
        Assert.That(k.Callouts.Stop(c), Is.False, "the stale 60 s arming is not pending any more");
        // Re-arming after it ran runs it again.
        k.Callouts.Schedule(c, 5 * Ms);
        Assert.That(Eventually(() => Volatile.Read(ref runs) == 2), Is.True, "callout scheduled again after it ran");
        // Re-arming a pending one replaces its time: scheduled twice, it still runs once.
        k.Callouts.Schedule(c, 5 * Ms);
        k.Callouts.Schedule(c, 10 * Ms);
        Assert.That(Eventually(() => Volatile.Read(ref runs) == 3), Is.True);
        AfterEverythingDueBy(k, 20 * Ms);
        Assert.That(runs, Is.EqualTo(3), "two Schedules of one pending callout run it once");
    }

    [Test]
    public void ManyCalloutsAllFireInDueOrder()
    {
        Kernel k = Boot(ncpu: 1).Kernel;
        const int N = 50;
        var order = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var due = new long[N];
        long fired0 = k.Callouts.Fired;
        for (int i = N - 1; i >= 0; i--)
        {
            int id = i;
            var c = new Callout(_ => order.Enqueue(id));
            k.Callouts.Schedule(c, (10 + 3 * i) * Ms);
            due[i] = c.Due;
        }
        Assert.That(Eventually(() => order.Count == N), Is.True, "callouts that ran: " + order.Count + " of " + N);
        Assert.That(k.Callouts.Fired - fired0, Is.EqualTo(N));
        // The times each got depend on when Schedule ran; what must hold is that they run in that order.
        long[] ranDue = order.Select(i => due[i]).ToArray();
        Assert.That(ranDue, Is.Ordered, "due times of the callouts in the order they ran");
    }
}
