using System;
using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// Interrupt context: how work that the host hands back asynchronously — a block I/O completion
/// today, a USB transfer or a received packet tomorrow — enters the kernel. NetBSD's hypervisor
/// calls such completions on its own thread after scheduling it (hyp_backend_schedule); this
/// project's hypervisor calls them on a bare worker thread. Either way the completion handler
/// enters the kernel it belongs to through <see cref="Kernel.EnterInterrupt"/> and runs as an lwp
/// of proc0 on a virtual CPU, so it may take kernel mutexes and wake sleepers exactly like any
/// other kernel code. It must not sleep for long: heavier work goes to a soft interrupt
/// (<see cref="Softint"/>).
///
/// The thread's previous context is kept and given back: a thread already running in this kernel
/// on a CPU just goes on; one with an lwp of another instance (NetBSD's I/O thread belongs to the
/// oldest kernel) lends its CPU there back for the duration.
/// Interrupt lwps come from a small per-kernel pool (<see cref="_intrPool"/>, under a spin flag held
/// for a few instructions); the pool grows to the number of completions running at once.
/// </summary>
public sealed partial class Kernel
{
    private Lwp[] _intrPool = new Lwp[2];
    private int _intrPoolCount;
    private int _intrPoolLock;

    /// <summary>Enters this kernel's interrupt context on the calling host thread; Dispose leaves it.</summary>
    public IntrContext EnterInterrupt() => new IntrContext(this);

    internal Lwp TakeIntrLwp() => TryTakePooledIntrLwp() ?? NewLwp(Proc0, false, "intr");

    internal Lwp? TryTakePooledIntrLwp()
    {
        while (Interlocked.CompareExchange(ref _intrPoolLock, 1, 0) != 0) CpuPause.Pause(4);
        Lwp? l = _intrPoolCount > 0 ? _intrPool[--_intrPoolCount] : null;
        Volatile.Write(ref _intrPoolLock, 0);
        return l;
    }

    internal void ReturnIntrLwp(Lwp l)
    {
        l.IntrPending = 0;
        if (IsDead) { LwpFree(l); return; }
        while (Interlocked.CompareExchange(ref _intrPoolLock, 1, 0) != 0) CpuPause.Pause(4);
        if (_intrPoolCount == _intrPool.Length) Array.Resize(ref _intrPool, _intrPool.Length * 2);
        _intrPool[_intrPoolCount++] = l;
        Volatile.Write(ref _intrPoolLock, 0);
    }
}

/// <summary>One stay in a kernel's interrupt context (see <see cref="Kernel.EnterInterrupt"/>).</summary>
public readonly struct IntrContext : IDisposable
{
    private enum Mode : byte
    {
        /// <summary>The kernel is dead: the handler runs with no context (it only wakes waiters, who unwind).</summary>
        None,
        /// <summary>The thread already ran here on a CPU.</summary>
        Running,
        /// <summary>The thread's own lwp here, without a CPU: it takes one for the duration.</summary>
        Scheduled,
        /// <summary>A pooled interrupt lwp.</summary>
        Pooled,
    }

    private readonly Kernel _k;
    private readonly Mode _mode;
    /// <summary>The thread's lwp in another kernel instance, set aside for the duration (0: none).</summary>
    private readonly nint _foreign;
    private readonly bool _foreignHadCpu;
    /// <summary>The lwp the handler runs as (null in <see cref="Mode.None"/>).</summary>
    public readonly Lwp? Lwp;

    internal IntrContext(Kernel k)
    {
        _k = k;
        _foreign = 0;
        _foreignHadCpu = false;
        Lwp = null;
        _mode = Mode.None;
        if (k.IsDead) return;
        nint h = RumpUser.rumpuser_curlwp();
        Lwp? cur = Kern.Lwp.FromHandle(h);
        if (cur != null && cur.Lent)
        {
            // A lent lwp is only a hint outside a call, and even inside one its CPU is not ours to
            // juggle: set it aside untouched and run on a pooled interrupt lwp.
            _foreign = h;
            cur = null;
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, h);
        }
        else if (cur != null && cur.Kernel == k)
        {
            Lwp = cur;
            if (cur.CpuIdx >= 0) { _mode = Mode.Running; return; }
            k.Sched.Schedule(cur);
            _mode = Mode.Scheduled;
            return;
        }
        else if (cur != null)
        {
            _foreign = h;
            _foreignHadCpu = cur.CpuIdx >= 0;
            if (_foreignHadCpu) cur.Kernel.Sched.Unschedule(cur);
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, h);
        }
        Lwp l = k.TakeIntrLwp();
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, l.Handle);
        Lwp = l;
        _mode = Mode.Pooled;
        k.Sched.Schedule(l);
    }

    public void Dispose()
    {
        switch (_mode)
        {
            case Mode.Scheduled:
                if (Lwp!.CpuIdx >= 0) _k.Sched.Unschedule(Lwp);
                break;
            case Mode.Pooled:
                if (Lwp!.CpuIdx >= 0) _k.Sched.Unschedule(Lwp);
                RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, Lwp.Handle);
                _k.ReturnIntrLwp(Lwp);
                if (_foreign != 0)
                {
                    RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, _foreign);
                    Lwp? f = Kern.Lwp.FromHandle(_foreign);
                    if (_foreignHadCpu && f != null && !f.Kernel.IsDead) f.Kernel.Sched.Schedule(f);
                }
                break;
        }
    }
}
