using System;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// The virtual CPU scheduler: concurrent system calls all complete and are counted per CPU; no more
/// threads run kernel code than there are virtual CPUs; a thread that blocks gives its CPU up.
/// </summary>
public unsafe class SchedulerTests : KernelTest
{
    /// <summary>A system-call number no table entry uses, for the probe handler below.</summary>
    private const int ProbeSyscall = 511;

    private static int s_inside, s_maxInside, s_wrongCpu;

    /// <summary>Counts how many threads are inside a handler at once, and checks the caller holds a CPU.</summary>
    private static int Probe(Lwp l, ref SyscallArgs a, out long rv)
    {
        int now = Interlocked.Increment(ref s_inside);
        int max;
        while (now > (max = Volatile.Read(ref s_maxInside)) && Interlocked.CompareExchange(ref s_maxInside, now, max) != max) { }
        if (l.Cpu == null || l.Cpu.Curlwp != l) Interlocked.Increment(ref s_wrongCpu);
        // Stay long enough for other threads to pile up on a second core.
        Thread.SpinWait(2000);
        Interlocked.Decrement(ref s_inside);
        rv = 0;
        return 0;
    }

    private static RumpKernel WithProbe(RumpKernel k)
    {
        Assume.That(k.Kernel.Syscalls.Lookup(ProbeSyscall) == null, "syscall " + ProbeSyscall + " is taken; pick another probe number");
        k.Kernel.Syscalls.Register(ProbeSyscall, &Probe);
        s_inside = s_maxInside = s_wrongCpu = 0;
        return k;
    }

    private static long TotalSyscalls(Kernel k)
    {
        long n = 0;
        for (int i = 0; i < k.Sched.Ncpu; i++) n += k.Sched.CpuAt(i).Nsyscall;
        return n;
    }

    /// <summary>Runs <paramref name="threads"/> threads each making <paramref name="calls"/> calls; all must end in time.</summary>
    private static void Hammer(RumpKernel k, int threads, int calls, Func<int, long> call, long[] failures)
    {
        var ts = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            ts[t] = new Thread(() =>
            {
                for (int i = 0; i < calls; i++)
                    if (call(i) < 0) Interlocked.Increment(ref failures[id]);
            }) { IsBackground = true };
        }
        foreach (Thread t in ts) t.Start();
        foreach (Thread t in ts)
            Assert.That(t.Join(TimeSpan.FromSeconds(30)), Is.True, "a thread making system calls did not finish: deadlock in the scheduler?");
    }

    [TestCase(1)]
    [TestCase(2)]
    public void ConcurrentSyscallsAllCompleteAndPerCpuCountersAddUp(int ncpu)
    {
        RumpKernel k = Boot(ncpu: ncpu);
        Assert.That(k.Kernel.Sched.Ncpu, Is.EqualTo(ncpu));
        const int Threads = 4, Calls = 2000;
        long before = TotalSyscalls(k.Kernel);
        var failures = new long[Threads];
        Hammer(k, Threads, Calls, i => i % 2 == 0 ? k.Getpid() : k.Getppid(), failures);
        Assert.That(failures, Is.All.EqualTo(0), "failed getpid/getppid calls per thread");
        Assert.That(TotalSyscalls(k.Kernel) - before, Is.EqualTo((long)Threads * Calls), "sum of Cpu.Nsyscall over all CPUs");
        for (int i = 0; i < ncpu; i++)
            Assert.That(k.Kernel.Sched.CpuAt(i).Curlwp, Is.Null, "cpu " + i + " still has an lwp after every call returned");
    }

    [Test]
    public void AtMostOneThreadInsideAHandlerWithOneCpu()
    {
        RumpKernel k = WithProbe(Boot(ncpu: 1));
        var failures = new long[4];
        Hammer(k, 4, 500, _ => k.Syscall(ProbeSyscall, ReadOnlySpan<long>.Empty), failures);
        Assert.That(failures, Is.All.EqualTo(0));
        Assert.That(s_maxInside, Is.EqualTo(1), "most threads seen inside a system call handler at once on a 1-CPU kernel");
        Assert.That(s_wrongCpu, Is.EqualTo(0), "handler calls whose lwp did not hold the CPU it claimed");
    }

    [Test]
    public void AtMostNcpuThreadsInsideHandlers()
    {
        RumpKernel k = WithProbe(Boot(ncpu: 2));
        var failures = new long[4];
        Hammer(k, 4, 500, _ => k.Syscall(ProbeSyscall, ReadOnlySpan<long>.Empty), failures);
        Assert.That(failures, Is.All.EqualTo(0));
        Assert.That(s_maxInside, Is.InRange(1, 2), "most threads seen inside a system call handler at once on a 2-CPU kernel");
        Assert.That(s_wrongCpu, Is.EqualTo(0));
    }

    /// <summary>
    /// Threads that wait for a CPU are woken by the thread that releases one, never by a timeout.
    /// The scheduler has no timeout; a test-only watchdog wakes a waiter after 50 ms and counts it
    /// as a missed wake-up if it then finds a CPU free. Under heavy contention for one CPU there
    /// must be none, while threads really do sleep for the CPU.
    /// </summary>
    [Test]
    public void CpuWaitersAreWokenByTheReleaseNotByATimeout()
    {
        RumpKernel k = Boot(ncpu: 1);
        k.Kernel.Sched.WatchdogNs = 50_000_000;
        long sleeps0 = k.Kernel.Sched.Sleeps;
        // Many threads making the shortest calls there are on one CPU: releases and waiters meet
        // as often as they can, which is where a lost wake-up would hide.
        var failures = new long[8];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Hammer(k, 8, 1_000_000, _ => sw.ElapsedMilliseconds < 2000 ? k.Getpid() : 1, failures);
        Assert.That(failures, Is.All.EqualTo(0));
        Assert.That(k.Kernel.Sched.Sleeps - sleeps0, Is.GreaterThan(0), "threads that slept waiting for the CPU: the test did not contend");
        Assert.That(k.Kernel.Sched.MissedWakeups, Is.EqualTo(0), "CPU waiters that found a free CPU only when the watchdog woke them");
    }

    [Test]
    public void ThreadBlockedInPipeReadGivesUpTheOnlyCpu()
    {
        RumpKernel k = Boot(ncpu: 1);
        Assert.That(k.Pipe(out int rfd, out int wfd), Is.EqualTo(0));
        long got = long.MinValue;
        var readerStarted = new ManualResetEventSlim();
        var reader = new Thread(() =>
        {
            var buf = new byte[16];
            readerStarted.Set();
            got = k.Read(rfd, buf);
        }) { IsBackground = true };
        reader.Start();
        readerStarted.Wait();
        WaitForSleepers(k.Kernel, 1, "the reader of an empty pipe");
        Assert.That(reader.IsAlive, Is.True, "read from an empty pipe returned " + got + " instead of blocking");

        // The reader sleeps in the kernel. Another thread must still get the CPU for unrelated calls...
        long pid = 0;
        bool done = RunWithin(Generous, () => pid = k.Getpid(), out Exception? err);
        Assert.That(done, Is.True, "getpid on a 1-CPU kernel did not return while another thread was blocked in read: the blocked thread kept the virtual CPU");
        Assert.That(err, Is.Null);
        Assert.That(pid, Is.EqualTo(1));

        // ...and for the write that wakes the reader, which must then get the CPU back to return.
        Assert.That(k.Write(wfd, "hi"u8), Is.EqualTo(2));
        Assert.That(reader.Join(Generous), Is.True, "reader did not return after the pipe was written");
        Assert.That(got, Is.EqualTo(2), "bytes read");
    }

    [Test]
    public void ManyReadersBlockedOnOneCpuAllWakeAndReturn()
    {
        RumpKernel k = Boot(ncpu: 1);
        const int N = 4;
        var rfds = new int[N];
        var wfds = new int[N];
        for (int i = 0; i < N; i++) Assert.That(k.Pipe(out rfds[i], out wfds[i]), Is.EqualTo(0));
        var results = new long[N];
        var readers = new Thread[N];
        for (int i = 0; i < N; i++)
        {
            int id = i;
            readers[i] = new Thread(() => { var b = new byte[8]; results[id] = k.Read(rfds[id], b); }) { IsBackground = true };
            readers[i].Start();
        }
        WaitForSleepers(k.Kernel, N, "readers of empty pipes");
        for (int i = 0; i < N; i++) Assert.That(k.Write(wfds[i], "x"u8), Is.EqualTo(1), "write to pipe " + i + " while " + N + " readers sleep");
        for (int i = 0; i < N; i++) Assert.That(readers[i].Join(Generous), Is.True, "reader " + i + " did not return");
        Assert.That(results, Is.All.EqualTo(1));
    }
}
