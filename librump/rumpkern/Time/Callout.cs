using System;
using System.Collections.Generic;

namespace Rump.Kern;

/// <summary>A function to run once after a delay (NetBSD callout(9)).</summary>
public sealed class Callout
{
    internal readonly Action<Kernel> Func;
    internal long Due;
    internal long Generation;
    internal bool Pending;

    public Callout(Action<Kernel> func) { Func = func; }
}

/// <summary>
/// The kernel's callouts, run by one kernel timer thread created through the hypercall layer when
/// the first callout is scheduled (a kernel that never uses one boots without the thread).
/// <see cref="_lock"/> protects the queue, the thread's creation and every callout's Due/Pending/Generation; callout
/// functions run without it. A callout is cancelled by bumping its generation: a stale queue entry
/// is skipped when it comes due.
/// </summary>
public sealed class CalloutQueue
{
    private readonly Kernel _k;
    private readonly KMutex _lock;
    private readonly KCondvar _cv;
    private readonly PriorityQueue<(Callout c, long gen), long> _queue = new();
    private Kthread? _thread;
    private bool _stopping;
    private long _fired;

    internal CalloutQueue(Kernel k) { _k = k; _lock = new KMutex(k); _cv = new KCondvar(k); }

    /// <summary>How many callouts have run (diagnostics and tests).</summary>
    public long Fired { get { _lock.Enter(); long n = _fired; _lock.Exit(); return n; } }

    /// <summary>Creates the timer thread (it waits for <see cref="_lock"/> before it looks at the queue). Precondition: lock held.</summary>
    private void StartLocked()
    {
        int e = Kthread.Create(_k, "callout", Run, out _thread);
        if (e != 0) Kernel.Panic("cannot create the callout thread: error " + e);
    }

    /// <summary>(Re)arms <paramref name="c"/> to run <paramref name="delayNs"/> from now.</summary>
    public void Schedule(Callout c, long delayNs)
    {
        _lock.Enter();
        c.Generation++;
        c.Due = Clock.MonotonicNs() + Math.Max(0, delayNs);
        c.Pending = true;
        // The thread sleeps until the head's due time (a cancelled entry's too), so it needs waking
        // only for a new head: most callouts are timeouts that are cancelled long before they come
        // due (one per USB transfer, TCP's timers), and waking the thread for each costs two
        // context switches for nothing.
        bool head = !_queue.TryPeek(out _, out long headDue) || c.Due < headDue;
        _queue.Enqueue((c, c.Generation), c.Due);
        if (_thread == null) { if (!_stopping) StartLocked(); }
        else if (head) _cv.Signal();
        _lock.Exit();
    }

    /// <summary>Cancels <paramref name="c"/>; true if it was pending.</summary>
    public bool Stop(Callout c)
    {
        _lock.Enter();
        bool was = c.Pending;
        c.Pending = false;
        c.Generation++;
        _lock.Exit();
        return was;
    }

    private void Run(Lwp l)
    {
        _lock.Enter();
        while (!_stopping)
        {
            if (!_queue.TryPeek(out var head, out long due))
            {
                _cv.Wait(_lock);
                continue;
            }
            long now = Clock.MonotonicNs();
            if (due > now)
            {
                _cv.TimedWait(_lock, due - now);
                continue;
            }
            _queue.Dequeue();
            if (head.c.Generation != head.gen || !head.c.Pending) continue;
            head.c.Pending = false;
            _fired++;
            _lock.Exit();
            head.c.Func(_k);
            _lock.Enter();
        }
        _lock.Exit();
    }

    /// <summary>Stops the timer thread and waits for it (halt).</summary>
    internal void Stop(Lwp caller)
    {
        _lock.Enter();
        _stopping = true;
        _cv.Broadcast();
        Kthread? t = _thread;
        _thread = null;
        _lock.Exit();
        if (t == null) return;
        // Joining blocks the host thread: do it without a virtual CPU.
        bool had = caller.Cpu != null;
        if (had) _k.Sched.Unschedule(caller);
        t.Join();
        if (had) _k.Sched.Schedule(caller);
    }
}
