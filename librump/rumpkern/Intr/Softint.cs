using System;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// A soft interrupt (NetBSD softint(9)): a handler that interrupt context (or any kernel code)
/// asks to run soon, in a kernel thread, where it may sleep. Scheduling one that is already
/// pending does nothing, so a burst of completions costs one run. A handler never runs on two
/// threads at once.
/// </summary>
public sealed class Softint
{
    public readonly string Name;
    internal readonly Action<Lwp> Fn;
    /// <summary>1 when a run is wanted (set by whoever schedules it, cleared just before it runs).</summary>
    internal int Pending;
    /// <summary>On the queue; under the queue's lock.</summary>
    internal bool Queued;
    /// <summary>Its handler is running (on the soft-interrupt thread or a <see cref="SoftintQueue.RunHere"/> caller); under the queue's lock.</summary>
    internal bool Running;
    /// <summary>Queue link; under the queue's lock.</summary>
    internal Softint? Next;
    internal bool Established = true;

    internal Softint(string name, Action<Lwp> fn) { Name = name; Fn = fn; }
}

/// <summary>
/// A kernel's soft interrupts, run in order of scheduling by one kernel thread, started when the
/// first soft interrupt is established (so a kernel that has none costs no thread). A thread that
/// may run kernel code for a while — a driver's own receive thread — can instead run one it has
/// just scheduled itself (<see cref="RunHere"/>), as NetBSD runs soft interrupts on the CPU that
/// raised them on its way out of the hard interrupt: the work is done without waking the
/// soft-interrupt thread, a host futex wake and a context switch per batch fewer.
///
/// Locks: <see cref="_lock"/> protects the queue, each soft interrupt's Queued, Running and
/// Established, the thread handle and the stop flag; handlers run without it. Pending is changed
/// atomically outside it too (a schedule that finds it set need not take the lock): whoever ends
/// a run looks at it under the lock and queues the soft interrupt again if it was set meanwhile.
/// </summary>
public sealed class SoftintQueue
{
    private readonly Kernel _k;
    private readonly KMutex _lock;
    /// <summary>The thread waits here for work; <see cref="_idle"/>: Disestablish waits for a run to end.</summary>
    private readonly KCondvar _cv, _idle;
    private Softint? _head, _tail;
    private Kthread? _thread;
    private int _started;
    private bool _stopping;
    private long _runs, _runsHere;

    internal SoftintQueue(Kernel k) { _k = k; _lock = new KMutex(k); _cv = new KCondvar(k); _idle = new KCondvar(k); }

    /// <summary>Soft-interrupt handler runs so far (diagnostics and tests).</summary>
    public long Runs { get { _lock.Enter(); long n = _runs; _lock.Exit(); return n; } }

    /// <summary>Of <see cref="Runs"/>, those done by the thread that scheduled it (<see cref="RunHere"/>).</summary>
    public long RunsHere { get { _lock.Enter(); long n = _runsHere; _lock.Exit(); return n; } }

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
        if (!si.Established) si.Pending = 0;
        // A run under way queues it again when it ends (it sees Pending).
        else if (!si.Running && !si.Queued) { Enqueue(si); _cv.Signal(); }
        _lock.Exit();
    }

    /// <summary>
    /// Schedules <paramref name="si"/> and runs it now on <paramref name="l"/> (thread context, on a
    /// CPU, holding no lock the handler takes), unless it is running elsewhere: then that run is
    /// followed by another, as for <see cref="Schedule"/>. A run queued for the soft-interrupt
    /// thread is taken off its queue and done here.
    /// </summary>
    public void RunHere(Softint si, Lwp l)
    {
        Volatile.Write(ref si.Pending, 1);
        _lock.Enter();
        if (!si.Established) { si.Pending = 0; _lock.Exit(); return; }
        if (si.Running) { _lock.Exit(); return; }
        if (si.Queued) Unqueue(si);
        _runsHere++;
        RunLocked(si, l);
        _lock.Exit();
    }

    /// <summary>NetBSD softint_disestablish: <paramref name="si"/> will not run again; waits if it is running now.</summary>
    public void Disestablish(Softint si)
    {
        _lock.Enter();
        si.Established = false;
        if (si.Queued) Unqueue(si);
        while (si.Running) _idle.Wait(_lock);
        _lock.Exit();
    }

    /// <summary>Precondition: lock held, not queued.</summary>
    private void Enqueue(Softint si)
    {
        si.Next = null;
        si.Queued = true;
        if (_tail != null) _tail.Next = si; else _head = si;
        _tail = si;
    }

    /// <summary>Takes a queued <paramref name="si"/> off the queue. Precondition: lock held.</summary>
    private void Unqueue(Softint si)
    {
        Softint? prev = null;
        for (Softint? s = _head; s != null; prev = s, s = s.Next)
        {
            if (s != si) continue;
            if (prev == null) _head = s.Next; else prev.Next = s.Next;
            if (_tail == s) _tail = prev;
            break;
        }
        si.Next = null;
        si.Queued = false;
    }

    /// <summary>
    /// One run of <paramref name="si"/> on <paramref name="l"/>, the lock let go around the handler.
    /// Precondition: lock held, <paramref name="si"/> neither queued nor running.
    /// </summary>
    private void RunLocked(Softint si, Lwp l)
    {
        // Cleared before it runs: a completion arriving during the run wants another.
        Volatile.Write(ref si.Pending, 0);
        si.Running = true;
        _runs++;
        _lock.Exit();
        _k.MaybeFault(FaultPoint.Softint);
        si.Fn(l);
        _lock.Enter();
        si.Running = false;
        // Asked for again during the run: the thread does it (not this caller, which may have
        // other work; and a run ending wakes the thread only then, not on every run here).
        if (Volatile.Read(ref si.Pending) != 0 && si.Established && !si.Queued) { Enqueue(si); _cv.Signal(); }
        _idle.Broadcast();
    }

    private void Run(Lwp l)
    {
        _lock.Enter();
        while (!_stopping)
        {
            Softint? si = _head;
            if (si == null) { _cv.Wait(_lock); continue; }
            Unqueue(si);
            RunLocked(si, l);
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
