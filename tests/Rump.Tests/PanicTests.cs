using System;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Contained panics: a panic, or an exception escaping kernel code, stops that kernel instance and
/// nothing else. The panicking call and every later one fail with ENXIO, threads asleep in that
/// kernel wake and leave with ENXIO, no virtual CPU stays taken, the message is kept, and other
/// instances in the process go on. Faults are injected through test-only system-call handlers.
/// </summary>
public unsafe class PanicTests : KernelTest
{
    private const int PanicSyscall = 510, ThrowSyscall = 509, HoldSyscall = 508, WaitMutexSyscall = 507;

    private static int Panics(Lwp l, ref SyscallArgs a, out long rv)
    {
        rv = 0;
        Kernel.Panic("test panic from a handler");
        return 0;
    }

    private static int Throws(Lwp l, ref SyscallArgs a, out long rv)
    {
        rv = 0;
        string? s = a[0] == 12345 ? "never" : null;
        return s!.Length; // a NullReferenceException: a driver bug
    }

    // A kernel mutex the next two handlers share (per test; tests of this fixture do not run in parallel).
    private static KMutex? s_mutex;
    private static ManualResetEventSlim? s_held;

    /// <summary>Takes the shared mutex, says so, then panics while holding it.</summary>
    private static int HoldsThenPanics(Lwp l, ref SyscallArgs a, out long rv)
    {
        rv = 0;
        s_mutex!.Enter();
        s_held!.Set();
        // Wait until the other thread sleeps on the mutex: then panic with it held.
        while (l.Kernel.SleepingLwps < 1) Thread.Yield();
        Kernel.Panic("test panic holding a mutex");
        return 0;
    }

    private static int WaitsForMutex(Lwp l, ref SyscallArgs a, out long rv)
    {
        rv = 0;
        s_mutex!.Enter();
        s_mutex.Exit();
        return 0;
    }

    private static RumpKernel WithFaults(RumpKernel k)
    {
        k.Kernel.Syscalls.Register(PanicSyscall, &Panics);
        k.Kernel.Syscalls.Register(ThrowSyscall, &Throws);
        k.Kernel.Syscalls.Register(HoldSyscall, &HoldsThenPanics);
        k.Kernel.Syscalls.Register(WaitMutexSyscall, &WaitsForMutex);
        return k;
    }

    private static void AssertNoCpuTaken(Kernel k)
    {
        for (int i = 0; i < k.Sched.Ncpu; i++)
            Assert.That(k.Sched.Slots[i].Busy, Is.EqualTo(0), "cpu " + i + " is still taken after the panic");
    }

    [Test]
    public void PanicStopsOnlyItsInstanceAndWakesItsSleepers()
    {
        RumpKernel a = WithFaults(Boot(ncpu: 2)), b = Boot(ncpu: 1);
        Assert.That(a.Pipe(out int r, out int w), Is.EqualTo(0));
        Assert.That(b.Pipe(out int br, out int bw), Is.EqualTo(0));

        // In A: a reader asleep on an empty pipe, and a thread making calls in a loop.
        long readResult = 0;
        var reader = new Thread(() => { var buf = new byte[4]; readResult = a.Read(r, buf); }) { IsBackground = true };
        reader.Start();
        WaitForSleepers(a.Kernel, 1, "A's pipe reader");
        long lastLoop = 0;
        bool stop = false;
        var looper = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                long v = a.Getpid();
                Volatile.Write(ref lastLoop, v);
                if (v < 0) break;
            }
        }) { IsBackground = true };
        looper.Start();
        // In B: a thread that keeps working throughout.
        long bCalls = 0, bFailures = 0;
        var bWorker = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                if (b.Write(bw, "x"u8) != 1 || b.Read(br, new byte[1]) != 1) Interlocked.Increment(ref bFailures);
                Interlocked.Increment(ref bCalls);
            }
        }) { IsBackground = true };
        bWorker.Start();

        Assert.That(a.Syscall(PanicSyscall, ReadOnlySpan<long>.Empty), Is.EqualTo(-Abi.ENXIO), "the panicking call's result");
        Assert.That(a.Panicked, Is.True, "A says it panicked");
        Assert.That(a.PanicMessage, Does.Contain("test panic from a handler"), "A's panic message");

        Assert.That(reader.Join(Generous), Is.True, "the reader asleep in A did not leave after the panic");
        Assert.That(readResult, Is.EqualTo(-Abi.ENXIO), "the sleeping reader's result");
        Assert.That(looper.Join(Generous), Is.True, "A's calling thread did not stop");
        Assert.That(lastLoop, Is.EqualTo(-Abi.ENXIO), "A's calls after the panic");
        Assert.That(a.Getpid(), Is.EqualTo(-Abi.ENXIO), "a new call to A");
        AssertNoCpuTaken(a.Kernel);

        long before = Interlocked.Read(ref bCalls);
        Assert.That(Eventually(() => Interlocked.Read(ref bCalls) > before + 100), Is.True, "B stopped working when A panicked");
        Volatile.Write(ref stop, true);
        Assert.That(bWorker.Join(Generous), Is.True);
        Assert.That(bFailures, Is.EqualTo(0), "B's calls that failed");
        Assert.That(b.Panicked, Is.False);
        Assert.That(b.Getpid(), Is.EqualTo(1));
    }

    [Test]
    public void ExceptionInAHandlerPanicsTheKernel()
    {
        RumpKernel k = WithFaults(Boot(ncpu: 1));
        Assert.That(k.Syscall(ThrowSyscall, ReadOnlySpan<long>.Empty), Is.EqualTo(-Abi.ENXIO));
        Assert.That(k.Panicked, Is.True);
        Assert.That(k.PanicMessage, Does.Contain("NullReferenceException"), "the panic names the exception");
        Assert.That(k.Stat("/", out _), Is.EqualTo(-Abi.ENXIO));
        AssertNoCpuTaken(k.Kernel);
    }

    [Test]
    public void PanicHoldingAMutexWakesItsWaiters()
    {
        RumpKernel k = WithFaults(Boot(ncpu: 2));
        s_mutex = new KMutex(k.Kernel);
        s_held = new ManualResetEventSlim();
        long holderResult = 0, waiterResult = 0;
        var holder = new Thread(() => holderResult = k.Syscall(HoldSyscall, ReadOnlySpan<long>.Empty)) { IsBackground = true };
        holder.Start();
        Assert.That(s_held.Wait(Generous), Is.True, "the holder never took the mutex");
        var waiter = new Thread(() => waiterResult = k.Syscall(WaitMutexSyscall, ReadOnlySpan<long>.Empty)) { IsBackground = true };
        waiter.Start();
        Assert.That(holder.Join(Generous), Is.True, "the panicking holder did not return");
        Assert.That(waiter.Join(Generous), Is.True, "the thread asleep on the mutex did not leave after the panic");
        Assert.That(holderResult, Is.EqualTo(-Abi.ENXIO));
        Assert.That(waiterResult, Is.EqualTo(-Abi.ENXIO), "the waiter's result");
        Assert.That(k.PanicMessage, Does.Contain("holding a mutex"));
        AssertNoCpuTaken(k.Kernel);
    }

    [Test]
    public void ThreadsWaitingForTheOnlyCpuLeaveAfterAPanic()
    {
        // One CPU, held by the panicking call until it panics: the others wait for it, then see the panic.
        RumpKernel k = WithFaults(Boot(ncpu: 1));
        var results = new long[4];
        var ts = new Thread[4];
        for (int i = 0; i < ts.Length; i++)
        {
            int id = i;
            ts[i] = new Thread(() => { long v; do v = k.Getpid(); while (v > 0); results[id] = v; }) { IsBackground = true };
            ts[i].Start();
        }
        Assert.That(k.Syscall(PanicSyscall, ReadOnlySpan<long>.Empty), Is.EqualTo(-Abi.ENXIO));
        foreach (Thread t in ts) Assert.That(t.Join(Generous), Is.True, "a thread calling into the panicked kernel did not return");
        Assert.That(results, Is.All.EqualTo(-Abi.ENXIO));
        AssertNoCpuTaken(k.Kernel);
    }

    [Test]
    public void ACallLeavingAPanickedKernelWaitsForTheProcessLockWithoutUnwinding()
    {
        // A call's lent lwp is freed as the call leaves a dead kernel, under its process's lock. If
        // another thread holds that lock just then, the wait must not unwind: the entry's catch is
        // behind it, so the unwinding would leave the kernel as an exception (and end the process).
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(k.Pipe(out int r, out _), Is.EqualTo(0));
        long got = 0;
        var reader = new Thread(() => { var buf = new byte[4]; got = k.Read(r, buf); }) { IsBackground = true };
        reader.Start();
        WaitForSleepers(k.Kernel, 1, "the pipe reader");
        KMutex procLock = k.Kernel.DefaultProc.Lock;
        procLock.Enter();
        // The panic comes from outside any call, so the reader is the only thread that can want the lock.
        k.Kernel.RecordPanic(new InvalidOperationException("test panic from outside"));
        while (!procLock.MayHaveWaiters) Thread.Yield();
        procLock.Exit();
        Assert.That(reader.Join(Generous), Is.True, "the reader never left the panicked kernel");
        Assert.That(got, Is.EqualTo(-Abi.ENXIO), "the reader's result");
        AssertNoCpuTaken(k.Kernel);
    }

    [Test]
    public void HaltWakesThreadsStillAsleepInside()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(k.Pipe(out int r, out _), Is.EqualTo(0));
        long got = 0;
        var reader = new Thread(() => { var buf = new byte[4]; got = k.Read(r, buf); }) { IsBackground = true };
        reader.Start();
        WaitForSleepers(k.Kernel, 1, "the pipe reader");
        Assert.That(k.Reboot(Abi.RB_NOSYNC), Is.EqualTo(0));
        Assert.That(reader.Join(Generous), Is.True, "a reader asleep in a halted kernel never returned");
        Assert.That(got, Is.EqualTo(-Abi.ENXIO));
        Assert.That(k.Panicked, Is.False, "a halt is not a panic");
    }
}
