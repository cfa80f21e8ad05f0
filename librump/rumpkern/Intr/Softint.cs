using System;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// A soft interrupt (NetBSD softint(9)): a handler that interrupt context (or any kernel code)
/// asks to run soon, in a kernel thread, where it may sleep. Scheduling one that is already
/// pending does nothing, so a burst of completions costs one run.
/// </summary>
public sealed class Softint
{
    public readonly string Name;
    internal readonly Action<Lwp> Fn;
    /// <summary>1 while queued (set by the scheduler of the softint, cleared just before it runs).</summary>
    internal int Pending;
    /// <summary>Queue link; under the queue's lock.</summary>
    internal Softint? Next;
    internal bool Established = true;

    internal Softint(string name, Action<Lwp> fn) { Name = name; Fn = fn; }
}

/// <summary>
/// A kernel's soft interrupts, run in order of scheduling by one kernel thread, started when the
/// first soft interrupt is established (so a kernel that has none costs no thread).
///
/// Locks: <see cref="_lock"/> protects the queue, <see cref="_running"/>, the thread handle and the
/// stop flag; handlers run without it.
/// </summary>
public sealed class SoftintQueue
{
    private readonly Kernel _k;
    private readonly KMutex _lock;
    private readonly KCondvar _cv;
    private Softint? _head, _tail;
    private Softint? _running;
    private Kthread? _thread;
    private int _started;
    private bool _stopping;
    private long _runs;

    internal SoftintQueue(Kernel k) { _k = k; _lock = new KMutex(k); _cv = new KCondvar(k); }

    /// <summary>Soft-interrupt handler runs so far (diagnostics and tests).</summary>
    public long Runs { get { _lock.Enter(); long n = _runs; _lock.Exit(); return n; } }

    /// <summary>NetBSD softint_establish: a soft interrupt that runs <paramref name="fn"/> when scheduled.</summary>
    public Softint Establish(string name, Action<Lwp> fn)
    {
        var si = new Softint(name, fn);
        // The first one starts the thread (outside the lock: creating a thread is a blocking hypercall).
        if (Interlocked.CompareExchange(ref _started, 1, 0) == 0)
        {
            int e = Kthread.Create(_k, "softint", Run, out Kthread? t);
            if (e != 0) _k.PanicHere("cannot create the soft-interrupt thread: error " + e);
            _lock.Enter();
            _thread = t;
            _lock.Exit();
        }
        return si;
    }

    /// <summary>NetBSD softint_schedule: run <paramref name="si"/> soon (once, however often it is scheduled before it runs). Any context.</summary>
    public void Schedule(Softint si)
    {
        if (Interlocked.Exchange(ref si.Pending, 1) == 1) return;
        _lock.Enter();
        if (!si.Established) { si.Pending = 0; _lock.Exit(); return; }
        si.Next = null;
        if (_tail != null) _tail.Next = si; else _head = si;
        _tail = si;
        _cv.Signal();
        _lock.Exit();
    }

    /// <summary>NetBSD softint_disestablish: <paramref name="si"/> will not run again; waits if it is running now.</summary>
    public void Disestablish(Softint si)
    {
        _lock.Enter();
        si.Established = false;
        // Take it off the queue if it is waiting there.
        Softint? prev = null;
        for (Softint? s = _head; s != null; prev = s, s = s.Next)
        {
            if (s != si) continue;
            if (prev == null) _head = s.Next; else prev.Next = s.Next;
            if (_tail == s) _tail = prev;
            break;
        }
        while (_running == si) _cv.Wait(_lock);
        _lock.Exit();
    }

    private void Run(Lwp l)
    {
        _lock.Enter();
        while (!_stopping)
        {
            Softint? si = _head;
            if (si == null) { _cv.Wait(_lock); continue; }
            _head = si.Next;
            if (_head == null) _tail = null;
            si.Next = null;
            // Cleared before it runs: a completion arriving during the run schedules it again.
            Volatile.Write(ref si.Pending, 0);
            _running = si;
            _runs++;
            _lock.Exit();
            _k.MaybeFault(FaultPoint.Softint);
            si.Fn(l);
            _lock.Enter();
            _running = null;
            _cv.Broadcast();
        }
        _lock.Exit();
    }

    /// <summary>Stops the thread and waits for it (halt).</summary>
    internal void Stop(Lwp caller)
    {
        _lock.Enter();
        _stopping = true;
        Kthread? t = _thread;
        _cv.Broadcast();
        _lock.Exit();
        if (t == null) return;
        bool had = caller.CpuIdx >= 0;
        if (had) _k.Sched.Unschedule(caller);
        t.Join();
        if (had) _k.Sched.Schedule(caller);
    }
}
