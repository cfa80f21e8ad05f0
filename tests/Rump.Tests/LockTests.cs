using System;
using System.Diagnostics;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Kernel synchronisation: KMutex, KRwLock and KCondvar used from kernel context (a temporary lwp
/// per host thread), under contention and with fewer virtual CPUs than threads.
/// </summary>
public class LockTests : KernelTest
{
    /// <summary>Starts one host thread per body, each in a kernel context of the default process.</summary>
    private static (Thread[] threads, Exception?[] errors) StartKernelThreads(Kernel k, params Action[] bodies)
    {
        var errors = new Exception?[bodies.Length];
        var ts = new Thread[bodies.Length];
        for (int i = 0; i < bodies.Length; i++)
        {
            int id = i;
            ts[i] = new Thread(() =>
            {
                try
                {
                    using (k.EnterTemporary(k.DefaultProc, "t" + id)) bodies[id]();
                }
                catch (Exception e) { errors[id] = e; }
            }) { IsBackground = true };
        }
        foreach (Thread t in ts) t.Start();
        return (ts, errors);
    }

    private static void JoinAll((Thread[] threads, Exception?[] errors) started)
    {
        for (int i = 0; i < started.threads.Length; i++)
            Assert.That(started.threads[i].Join(TimeSpan.FromSeconds(30)), Is.True, "kernel thread " + i + " did not finish: deadlock or lost wake-up?");
        for (int i = 0; i < started.errors.Length; i++)
            Assert.That(started.errors[i], Is.Null, "kernel thread " + i + " threw");
    }

    /// <summary>Runs the bodies on kernel threads; all must finish in time.</summary>
    private static void InKernelThreads(Kernel k, params Action[] bodies) => JoinAll(StartKernelThreads(k, bodies));

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(4)]
    public void MutexExcludesUnderContention(int ncpu)
    {
        Kernel k = Boot(ncpu: ncpu).Kernel;
        var m = new KMutex(k);
        const int PerThread = 20000;
        long counter = 0;
        int inside = 0, overlaps = 0;
        Action body = () =>
        {
            for (int i = 0; i < PerThread; i++)
            {
                m.Enter();
                if (Interlocked.Increment(ref inside) != 1) Interlocked.Increment(ref overlaps);
                // A plain read-modify-write: lost updates show if two threads get in at once.
                long c = counter;
                if ((i & 63) == 0) Thread.SpinWait(20);
                counter = c + 1;
                Interlocked.Decrement(ref inside);
                m.Exit();
            }
        };
        InKernelThreads(k, body, body, body, body);
        Assert.That(overlaps, Is.EqualTo(0), "times a thread found another inside the mutex");
        Assert.That(counter, Is.EqualTo(4L * PerThread), "counter incremented under the mutex");
        Assert.That(m.IsHeld, Is.False);
    }

    [Test]
    public void MutexTryEnterFailsWhileHeld()
    {
        Kernel k = Boot().Kernel;
        var m = new KMutex(k);
        using (k.EnterTemporary(k.DefaultProc, "t"))
        {
            Assert.That(m.TryEnter(), Is.True);
            Assert.That(m.IsHeld, Is.True);
            Assert.That(m.TryEnter(), Is.False, "TryEnter of a held mutex");
            m.Exit();
            Assert.That(m.IsHeld, Is.False);
        }
    }

    /// <summary>
    /// On one CPU: A holds the mutex and sleeps on a condvar; B blocks on the mutex; the main thread
    /// must still get the CPU to wake A. So both sleepers (condvar and contended mutex) gave the CPU up.
    /// </summary>
    [Test]
    public void ContendedMutexSleeperGivesUpTheCpu()
    {
        Kernel k = Boot(ncpu: 1).Kernel;
        var m = new KMutex(k);
        var cvLock = new KMutex(k);
        var cv = new KCondvar(k);
        bool go = false, bDone = false;
        var aHolds = new ManualResetEventSlim();
        var bTrying = new ManualResetEventSlim();
        var a = new Thread(() =>
        {
            using (k.EnterTemporary(k.DefaultProc, "a"))
            {
                m.Enter();
                cvLock.Enter();
                aHolds.Set();
                while (!go) cv.Wait(cvLock);
                cvLock.Exit();
                m.Exit();
            }
        }) { IsBackground = true };
        var b = new Thread(() =>
        {
            using (k.EnterTemporary(k.DefaultProc, "b"))
            {
                bTrying.Set();
                m.Enter();
                bDone = true;
                m.Exit();
            }
        }) { IsBackground = true };
        a.Start();
        Assert.That(aHolds.Wait(Generous), Is.True, "A never got the mutex");
        b.Start();
        Assert.That(bTrying.Wait(Generous), Is.True, "B never got the CPU while A slept on the condvar");
        // A on the condition variable, B on the mutex A holds.
        WaitForSleepers(k, 2, "A on the condvar and B on the mutex");
        Assert.That(bDone, Is.False, "B entered a mutex A holds");

        bool woke = RunWithin(Generous, () =>
        {
            using (k.EnterTemporary(k.DefaultProc, "waker"))
            {
                cvLock.Enter();
                go = true;
                cv.Signal();
                cvLock.Exit();
            }
        }, out Exception? err);
        Assert.That(woke, Is.True, "a third thread could not get the only CPU: a thread sleeping on a contended KMutex kept it");
        Assert.That(err, Is.Null);
        Assert.That(a.Join(Generous), Is.True, "A did not finish");
        Assert.That(b.Join(Generous), Is.True, "B did not get the mutex after A released it");
        Assert.That(bDone, Is.True);
    }

    [Test]
    public void RwLockReadersHoldItTogether()
    {
        Kernel k = Boot(ncpu: 4).Kernel;
        var rw = new KRwLock(k);
        const int Readers = 3;
        using var barrier = new Barrier(Readers);
        var met = new bool[Readers];
        var bodies = new Action[Readers];
        for (int i = 0; i < Readers; i++)
        {
            int id = i;
            bodies[i] = () =>
            {
                rw.EnterRead();
                // Only reachable by all three if all three hold the read lock at the same time.
                met[id] = barrier.SignalAndWait(TimeSpan.FromSeconds(10));
                rw.Exit();
            };
        }
        InKernelThreads(k, bodies);
        Assert.That(met, Is.All.True, "readers that met the others while holding the read lock");
        Assert.That(rw.ReadHeld || rw.WriteHeld, Is.False);
    }

    [Test]
    public void RwLockWritersExcludeWritersAndReaders()
    {
        Kernel k = Boot(ncpu: 4).Kernel;
        var rw = new KRwLock(k);
        const int Iter = 5000;
        long counter = 0;
        int writers = 0, readers = 0, bad = 0;
        Action writer = () =>
        {
            for (int i = 0; i < Iter; i++)
            {
                rw.EnterWrite();
                if (Interlocked.Increment(ref writers) != 1 || Volatile.Read(ref readers) != 0) Interlocked.Increment(ref bad);
                long c = counter;
                if ((i & 31) == 0) Thread.SpinWait(20);
                counter = c + 1;
                Interlocked.Decrement(ref writers);
                rw.Exit();
            }
        };
        Action reader = () =>
        {
            for (int i = 0; i < Iter; i++)
            {
                rw.EnterRead();
                Interlocked.Increment(ref readers);
                if (Volatile.Read(ref writers) != 0) Interlocked.Increment(ref bad);
                Interlocked.Decrement(ref readers);
                rw.Exit();
            }
        };
        InKernelThreads(k, writer, writer, reader, reader);
        Assert.That(bad, Is.EqualTo(0), "times a writer was not alone in the lock");
        Assert.That(counter, Is.EqualTo(2L * Iter), "counter incremented under the write lock");
    }

    [Test]
    public void RwLockReaderWaitsForWriter()
    {
        Kernel k = Boot(ncpu: 4).Kernel;
        var rw = new KRwLock(k);
        bool readerIn = false;
        var writerHolds = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        bool readerInWhileWriterHeld = true;
        var w = new Thread(() =>
        {
            using (k.EnterTemporary(k.DefaultProc, "w"))
            {
                rw.EnterWrite();
                writerHolds.Set();
                release.Wait();
                readerInWhileWriterHeld = Volatile.Read(ref readerIn);
                rw.Exit();
            }
        }) { IsBackground = true };
        var r = new Thread(() =>
        {
            using (k.EnterTemporary(k.DefaultProc, "r"))
            {
                rw.EnterRead();
                Volatile.Write(ref readerIn, true);
                rw.Exit();
            }
        }) { IsBackground = true };
        w.Start();
        Assert.That(writerHolds.Wait(Generous), Is.True);
        r.Start();
        WaitForSleepers(k, 1, "the reader on the write-held rwlock");
        release.Set();
        Assert.That(w.Join(Generous), Is.True);
        Assert.That(r.Join(Generous), Is.True, "reader never got the lock after the writer left");
        Assert.That(readerInWhileWriterHeld, Is.False, "a reader entered while the writer held the lock");
        Assert.That(readerIn, Is.True);
    }

    [Test]
    public void CondvarSignalWakesOneWaiterAndBroadcastWakesAll()
    {
        Kernel k = Boot(ncpu: 4).Kernel;
        var m = new KMutex(k);
        var cv = new KCondvar(k);
        int tokens = 0, woken = 0, waiting = 0;
        bool all = false;
        Action waiter = () =>
        {
            m.Enter();
            waiting++;
            // Wake-ups may be spurious: the predicate decides, as in any condvar user.
            while (tokens == 0 && !all) cv.Wait(m);
            if (!all) tokens--;
            woken++;
            m.Exit();
        };
        var started = StartKernelThreads(k, waiter, waiter, waiter);

        using (k.EnterTemporary(k.DefaultProc, "main"))
        {
            int Read(ref int f) { m.Enter(); int v = f; m.Exit(); return v; }
            var sw = Stopwatch.StartNew();
            while (Read(ref waiting) < 3 && sw.Elapsed < Generous) Thread.Sleep(1);
            Assert.That(Read(ref waiting), Is.EqualTo(3), "waiters that reached the condvar");

            Assert.That(Eventually(() => cv.Waiters == 3), Is.True, "waiters queued on the condvar: " + cv.Waiters);
            m.Enter(); tokens = 1; cv.Signal(); m.Exit();
            Assert.That(Eventually(() => Read(ref woken) == 1), Is.True, "no waiter got past the condvar after Signal");
            // Signal dequeued exactly one: the other two are still queued (this kernel has no spurious wake-ups).
            Assert.That(cv.Waiters, Is.EqualTo(2), "waiters still queued after one Signal");
            Assert.That(Read(ref woken), Is.EqualTo(1), "waiters past the condvar after one Signal with one token");

            m.Enter(); all = true; cv.Broadcast(); m.Exit();
        }
        JoinAll(started);
        Assert.That(woken, Is.EqualTo(3));
        Assert.That(cv.HasWaiters, Is.False);
    }

    [Test]
    public void CondvarTimedWaitTimesOutWithEwouldblockAndHoldsTheMutexAgain()
    {
        Kernel k = Boot(ncpu: 1).Kernel;
        var m = new KMutex(k);
        var cv = new KCondvar(k);
        using (k.EnterTemporary(k.DefaultProc, "t"))
        {
            m.Enter();
            var sw = Stopwatch.StartNew();
            int e = cv.TimedWait(m, 20_000_000);
            sw.Stop();
            Assert.That(e, Is.EqualTo(Abi.EWOULDBLOCK), "TimedWait(20 ms) with nobody signalling");
            Assert.That(sw.Elapsed.TotalMilliseconds, Is.GreaterThanOrEqualTo(10), "TimedWait(20 ms) returned after");
            Assert.That(m.IsHeld, Is.True, "the mutex is held again after TimedWait returns");
            m.Exit();
        }
    }

    [Test]
    public void CondvarTimedWaitSignalledReturnsZero()
    {
        Kernel k = Boot(ncpu: 2).Kernel;
        var m = new KMutex(k);
        var cv = new KCondvar(k);
        bool flag = false;
        int result = -1;
        var waiting = new ManualResetEventSlim();
        var t = new Thread(() =>
        {
            using (k.EnterTemporary(k.DefaultProc, "w"))
            {
                m.Enter();
                waiting.Set();
                int e = 0;
                while (!flag && e == 0) e = cv.TimedWait(m, 30_000_000_000);
                result = e;
                m.Exit();
            }
        }) { IsBackground = true };
        t.Start();
        Assert.That(waiting.Wait(Generous), Is.True);
        using (k.EnterTemporary(k.DefaultProc, "s"))
        {
            m.Enter(); flag = true; cv.Signal(); m.Exit();
        }
        Assert.That(t.Join(Generous), Is.True, "a signalled TimedWait(30 s) did not return");
        Assert.That(result, Is.EqualTo(0), "TimedWait's result when signalled before the timeout");
    }
}
