using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// The kernel frees the host objects it makes: contended kernel locks and condition variables
/// make none of their own (sleepers wait on their lwp's), an lwp's condition variable goes with
/// the lwp, and a halted kernel that nobody references gives back its sleep queues' and
/// scheduler's mutexes. Counted by the project's hypervisor (rumpuser__debug_lockobjs, not part
/// of rumpuser(3)).
/// </summary>
public partial class HostObjectTests : KernelTest
{
    [LibraryImport("rumpuser")]
    private static partial void rumpuser__debug_lockobjs(out nint mtx, out nint rw, out nint cv);

    private static (long Mtx, long Cv) Live()
    {
        rumpuser__debug_lockobjs(out nint m, out _, out nint c);
        return (m, c);
    }

    [Test]
    public void ContendedLocksAndCondvarsMakeNoHostObjects()
    {
        Kernel k = Boot(ncpu: 2).Kernel;
        const int N = 2000;
        var mutexes = new KMutex[N];
        var rwlocks = new KRwLock[N];
        var cvs = new KCondvar[N];
        for (int i = 0; i < N; i++) { mutexes[i] = new KMutex(k); rwlocks[i] = new KRwLock(k); cvs[i] = new KCondvar(k); }
        // Two long-lived kernel threads: their lwps' condition variables exist before counting.
        var go = new Barrier(2);
        int phase = 0;
        var before = (Mtx: 0L, Cv: 0L);
        Action body = () =>
        {
            using var ctx = k.EnterTemporary(k.DefaultProc, "t");
            go.SignalAndWait();
            if (Interlocked.Increment(ref phase) == 1) before = Live();
            go.SignalAndWait();
            for (int i = 0; i < N; i++)
            {
                // Both threads take each lock in turn, holding it long enough for the other to sleep on it.
                mutexes[i].Enter();
                Thread.SpinWait(2000);
                mutexes[i].Exit();
                rwlocks[i].EnterWrite();
                Thread.SpinWait(2000);
                rwlocks[i].Exit();
            }
        };
        long blocks0 = k.Turnstiles.Blocks;
        var t1 = new Thread(() => body()) { IsBackground = true };
        var t2 = new Thread(() => body()) { IsBackground = true };
        t1.Start(); t2.Start();
        Assert.That(t1.Join(Generous) && t2.Join(Generous), Is.True, "the contending threads did not finish");
        Assert.That(k.Turnstiles.Blocks - blocks0, Is.GreaterThan(0), "no thread ever slept on a kernel lock: the test did not contend");

        // Condition variables: a waiter on each of many, woken one by one.
        var m = new KMutex(k);
        int turn = -1;
        var waiter = new Thread(() =>
        {
            using var ctx = k.EnterTemporary(k.DefaultProc, "w");
            m.Enter();
            for (int i = 0; i < 200; i++)
                while (turn < i) cvs[i].Wait(m);
            m.Exit();
        }) { IsBackground = true };
        waiter.Start();
        using (var ctx = k.EnterTemporary(k.DefaultProc, "s"))
            for (int i = 0; i < 200; i++)
            {
                Assert.That(Eventually(() => cvs[i].Waiters == 1), Is.True, "the waiter never slept on condvar " + i);
                m.Enter(); turn = i; cvs[i].Signal(); m.Exit();
            }
        Assert.That(waiter.Join(Generous), Is.True);

        var after = Live();
        Assert.That(k.SleepingLwps, Is.EqualTo(0));
        // The counts are the process's: other kernels' threads (earlier tests') may make a few
        // meanwhile. A lock that owned host objects would add one pair per contended lock: thousands.
        Assert.That(after.Mtx - before.Mtx, Is.LessThan(10), "host mutexes made while " + N + " kernel mutexes and rwlocks and 200 condvars were contended");
        Assert.That(after.Cv - before.Cv, Is.LessThan(10), "host condition variables made meanwhile");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference HaltedKernel()
    {
        RumpKernel k = RumpKernel.Boot(ncpu: 2);
        // Contend a little so that lwps have made their condition variables.
        Assert.That(k.Pipe(out int r, out int w), Is.EqualTo(0));
        var reader = new Thread(() => { var b = new byte[1]; k.Read(r, b); }) { IsBackground = true };
        reader.Start();
        Assert.That(Eventually(() => k.Kernel.SleepingLwps == 1), Is.True);
        Assert.That(k.Write(w, "x"u8), Is.EqualTo(1));
        Assert.That(reader.Join(Generous), Is.True);
        Assert.That(k.Reboot(Abi.RB_NOSYNC), Is.EqualTo(0));
        return new WeakReference(k.Kernel);
    }

    [Test]
    public void AHaltedKernelGivesItsHostObjectsBack()
    {
        var before = Live();
        WeakReference wk = HaltedKernel();
        for (int i = 0; i < 10 && wk.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.That(wk.IsAlive, Is.False, "the halted, unreferenced kernel is still reachable");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var after = Live();
        // A kernel owns 2 x 64 sleep-queue mutexes and the scheduler's: had it kept them, 129 more.
        // (Other kernels' threads may make a few objects meanwhile: the counts are the process's.)
        Assert.That(after.Mtx - before.Mtx, Is.LessThan(64), "host mutexes after a kernel came and went");
        Assert.That(after.Cv - before.Cv, Is.LessThan(10), "host condition variables after a kernel came and went");
    }
}
