using System;
using System.Runtime.CompilerServices;
using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// Process and lwp management for clients (NetBSD's rump_lwproc_*): a client thread makes a new
/// process with rfork, adds lwps to a process, switches the thread between lwps, and releases them.
/// The last lwp released ends its process: its descriptors close and factions drop their data.
/// </summary>
public sealed partial class Kernel
{
    /// <summary>RUMP_RFFDG: the new process gets a copy of the parent's descriptor table.</summary>
    public const int RFFDG = Abi.RFFDG;
    /// <summary>RUMP_RFCFDG: the new process gets an empty descriptor table; with neither flag it shares the parent's.</summary>
    public const int RFCFDG = Abi.RFCFDG;

    internal Lwp NewLwp(Proc p, bool isImplicit, string name, bool lent = false)
    {
        p.Lock.Enter();
        var l = new Lwp(this, p, p.NextLid(), isImplicit, lent, name);
        p._lwps.Add(l);
        p.Lock.Exit();
        _procLock.Enter();
        _lwpHandles.Add(l.Handle);
        _procLock.Exit();
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CREATE, l.Handle);
        return l;
    }

    // ---- Implicit lwps ------------------------------------------------------------------------
    // Lent to bare threads for one call. Idle ones wait in their CPU's spare slot (taken and put
    // back by the CPU's holder, no atomics) or, when that is full, in the stash. Their number is
    // bounded by how many bare threads were inside at once, not by how many ever entered.

    private Lwp[] _implicitStash = new Lwp[4];
    private int _implicitStashCount;
    private int _implicitStashLock;

    /// <summary>An idle implicit lwp from the stash, or a new one.</summary>
    internal Lwp TakeImplicit()
    {
        LockImplicitStash();
        Lwp? l = _implicitStashCount > 0 ? _implicitStash[--_implicitStashCount] : null;
        if (l != null) _implicitStash[_implicitStashCount] = null!;
        Volatile.Write(ref _implicitStashLock, 0);
        return l ?? NewLwp(DefaultProc, true, "implicit", lent: true);
    }

    internal void StashImplicit(Lwp l)
    {
        LockImplicitStash();
        if (_implicitStashCount == _implicitStash.Length) Array.Resize(ref _implicitStash, _implicitStash.Length * 2);
        _implicitStash[_implicitStashCount++] = l;
        Volatile.Write(ref _implicitStashLock, 0);
    }

    private void LockImplicitStash()
    {
        while (Interlocked.CompareExchange(ref _implicitStashLock, 1, 0) != 0) CpuPause.Pause(4);
    }

    /// <summary>
    /// A thread leaves after a call on a lent lwp: the lwp waits in its CPU's spare slot, and the
    /// thread keeps naming it (its hint for the next call, which then needs no context change); if
    /// the slot is taken, the lwp goes to the stash and the thread forgets it. The CPU is freed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ReturnLent(Lwp l, int state)
    {
        if (l.IntrPending != 0) l.IntrPending = 0;
        int i = l.CpuIdx;
        if (i >= 0 && Sched.Slot(i).SpareImplicit == 0 && state == Running)
        {
            Sched.Slot(i).SpareImplicit = l.Handle;
            Sched.Unschedule(l);
            return;
        }
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, l.Handle);
        if (i >= 0) Sched.Unschedule(l);
        if (IsDead) LwpFree(l);
        else StashImplicit(l);
    }

    /// <summary>
    /// A halted kernel frees its idle lwps: their handles (strong GC handles, for the hypervisor's
    /// pointers) would otherwise keep the whole kernel reachable, and its host objects alive.
    /// </summary>
    private void FreeIdleLwps()
    {
        for (int i = 0; i < Sched.Ncpu; i++)
        {
            nint h = Interlocked.Exchange(ref Sched.Slots[i].SpareImplicit, 0);
            if (h != 0) LwpFree(Lwp.FromHandle(h)!);
        }
        while (true)
        {
            LockImplicitStash();
            Lwp? l = _implicitStashCount > 0 ? _implicitStash[--_implicitStashCount] : null;
            if (l != null) _implicitStash[_implicitStashCount] = null!;
            Volatile.Write(ref _implicitStashLock, 0);
            if (l == null) break;
            LwpFree(l);
        }
        while (TryTakePooledIntrLwp() is Lwp il) LwpFree(il);
    }

    /// <summary>
    /// Frees an lwp; the last one of a (non-kernel, non-default) process ends the process. It runs
    /// in dead kernels too (a call's lent lwp, freed after the entry caught the panic's unwinding),
    /// so its two locks are taken without unwinding: both are held only for a few instructions.
    /// </summary>
    internal void LwpFree(Lwp l)
    {
        Proc p = l.Proc;
        p.Lock.EnterNoUnwind();
        p._lwps.Remove(l);
        bool last = p._lwps.Count == 0 && p.Pid > DefaultPid;
        if (last) p.Exiting = true;
        p.Lock.Exit();
        l.Alive = false;
        _procLock.EnterNoUnwind();
        _lwpHandles.Remove(l.Handle);
        _procLock.Exit();
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_DESTROY, l.Handle);
        if (last) ProcExit(p, l);
        // Nobody can be signalling its condition variable: a waker does so under the sleep queue's
        // lock, which the lwp took back before it last returned from a sleep.
        l.Waiter.Destroy();
        l.FreeHandle();
    }

    private void ProcExit(Proc p, Lwp last)
    {
        // Closing files may need a kernel context; the releasing thread's exiting lwp provides it.
        using (var ctx = EnterTemporary(Proc0, "exit"))
        {
            if (p.Fd.DropRef()) p.Fd.CloseAll(ctx.Lwp);
            foreach (IProcHooks h in _procHooks) h.Exit(p);
        }
        _procLock.Enter();
        _procs.Remove(p.Pid);
        foreach (Proc c in _procs.Values)
            if (c.Parent == p) c.Parent = DefaultProc;
        _procLock.Exit();
    }

    private int AllocPid()
    {
        // Called with _procLock held. pids wrap at NetBSD's PID_MAX and skip live ones.
        const int PidMax = 30000;
        for (int tries = 0; tries < PidMax; tries++)
        {
            int pid = _nextPid++;
            if (_nextPid >= PidMax) _nextPid = DefaultPid + 1;
            if (!_procs.ContainsKey(pid)) return pid;
        }
        return -1;
    }

    public Proc? FindProc(int pid)
    {
        _procLock.Enter();
        _procs.TryGetValue(pid, out Proc? p);
        _procLock.Exit();
        return p;
    }

    /// <summary>The processes now (a copy).</summary>
    internal Proc[] ProcSnapshot()
    {
        _procLock.Enter();
        var a = new Proc[_procs.Count];
        _procs.Values.CopyTo(a, 0);
        _procLock.Exit();
        return a;
    }

    public int ProcCount { get { _procLock.Enter(); int n = _procs.Count; _procLock.Exit(); return n; } }

    /// <summary>The lwp behind an opaque pointer handed out by <see cref="CurlwpHandle"/>; null for 0.</summary>
    public Lwp? LwpFromHandle(nint h)
    {
        // A pointer from a client is checked against the live lwps before it is dereferenced.
        _procLock.Enter();
        bool live = _lwpHandles.Contains(h);
        _procLock.Exit();
        return live ? Lwp.FromHandle(h) : null;
    }

    /// <summary>The caller's lwp as the opaque pointer C sees (binding an implicit one if needed).</summary>
    public nint CurlwpHandle() => Curlwp().Handle;

    /// <summary>The caller's lwp, binding an implicit one if the thread has none here.</summary>
    public Lwp Curlwp()
    {
        DropLentHint();
        return CurlwpOrNull() ?? BindImplicit();
    }

    /// <summary>
    /// For kernel code that may run inside a kernel context (then it is the running lwp, lent or
    /// not) or outside one (then an implicit lwp is bound, as <see cref="Curlwp"/> does).
    /// </summary>
    public Lwp CurlwpOrBind() => CurlwpOrNull() ?? BindImplicit();

    /// <summary>
    /// rump_lwproc_rfork: a new process, child of the caller's, and a new lwp in it that becomes the
    /// calling thread's context. The previous context is released if it was implicit. A process
    /// made for a remote client gets the client's address space (<paramref name="vm"/>, from
    /// hyp_lwproc_rfork's priv); otherwise it shares its parent's.
    /// </summary>
    public int LwprocRfork(int flags, string? comm = null, Vmspace? vm = null)
    {
        if ((flags & ~(RFFDG | RFCFDG)) != 0 || (flags & (RFFDG | RFCFDG)) == (RFFDG | RFCFDG))
            return Abi.EINVAL;
        Lwp cur = Curlwp();
        Proc parent = cur.Proc;
        Filedesc fd;
        if ((flags & RFCFDG) != 0) fd = new Filedesc();
        else if ((flags & RFFDG) != 0) fd = parent.Fd.Copy();
        else { parent.Fd.AddRef(); fd = parent.Fd; }

        // The sysproxy's fork: PREFORK made a placeholder (rfork with a copy of the forking client's
        // descriptors, still copying through that client's connection), and the child's connection
        // forks it again sharing that table, then releases it. The child belongs to the client that
        // called fork, as on NetBSD's host side: released, the placeholder would leave it to init.
        Proc ppar = parent;
        if (flags == 0 && vm is RemoteVmspace nv && parent.Vmspace is RemoteVmspace pv && pv.Client != nv.Client &&
            parent.Parent is Proc forker)
            ppar = forker;

        _procLock.Enter();
        int pid = AllocPid();
        if (pid < 0) { _procLock.Exit(); return Abi.EAGAIN; }
        var p = new Proc(this, pid, ppar, parent.Cred, fd, vm ?? parent.Vmspace) { Umask = parent.Umask, Comm = comm ?? parent.Comm };
        _procs[pid] = p;
        _procLock.Exit();

        // The hooks run in a kernel context: the caller's, on its CPU if it holds one (an upcall).
        bool scheduled = cur.CpuIdx >= 0;
        if (!scheduled) Sched.Schedule(cur);
        try { foreach (IProcHooks h in _procHooks) h.Fork(parent, p, flags); }
        finally { if (!scheduled && cur.CpuIdx >= 0) Sched.Unschedule(cur); }

        Lwp l = NewLwp(p, false, comm ?? "rfork");
        SwitchTo(cur, l);
        return 0;
    }

    /// <summary>rump_lwproc_newlwp: a new lwp in process <paramref name="pid"/>, made current.</summary>
    public int LwprocNewlwp(int pid)
    {
        Proc? p = FindProc(pid);
        if (p == null || p.Exiting) return Abi.ESRCH;
        Lwp cur = Curlwp();
        Lwp l = NewLwp(p, false, "newlwp");
        SwitchTo(cur, l);
        return 0;
    }

    /// <summary>rump_lwproc_switch: make <paramref name="l"/> the thread's context (null: none).</summary>
    public void LwprocSwitch(Lwp? l)
    {
        DropLentHint();
        if (l != null && (l.Kernel != this || !l.Alive)) Panic("lwproc_switch to a dead or foreign lwp " + l);
        Lwp? cur = CurlwpOrNull();
        if (cur == l) return;
        SwitchTo(cur, l);
    }

    /// <summary>
    /// Makes <paramref name="next"/> the thread's context instead of <paramref name="cur"/>. A CPU
    /// held by <paramref name="cur"/> goes to <paramref name="next"/> (NetBSD's rump_lwproc_switch);
    /// switching to none while scheduled takes effect when the CPU is given up. An implicit or
    /// temporary <paramref name="cur"/> is released.
    /// </summary>
    private void SwitchTo(Lwp? cur, Lwp? next)
    {
        if (cur == null)
        {
            LeaveForeignKernel();
            if (next != null) RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, next.Handle);
            return;
        }
        if (next == null && cur.CpuIdx >= 0)
        {
            cur.ClearOnUnschedule = true;
            return;
        }
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, cur.Handle);
        if (next != null)
        {
            if (cur.CpuIdx >= 0) Sched.Transfer(cur, next);
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, next.Handle);
        }
        if ((cur.Implicit && !cur.Lent) || cur.FreeOnUnschedule) LwpFree(cur);
    }

    /// <summary>rump_lwproc_releaselwp: release the current lwp; the thread is left without context.</summary>
    public int LwprocReleaselwp()
    {
        DropLentHint();
        Lwp? cur = CurlwpOrNull();
        if (cur == null) return Abi.EINVAL;
        // Released while scheduled (an upcall between hyp_schedule and hyp_unschedule): it runs on
        // until it gives up its CPU, as NetBSD's LW_WEXIT.
        if (cur.CpuIdx >= 0) { cur.FreeOnUnschedule = true; return 0; }
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, cur.Handle);
        LwpFree(cur);
        return 0;
    }

    /// <summary>
    /// The thread gives up its CPU through the hyp_unschedule upcall: then a pending switch to no
    /// context or a pending release takes effect.
    /// </summary>
    internal void UnscheduleUpcall(Lwp l)
    {
        if (l.FreeOnUnschedule)
        {
            // Freed while still on its CPU: ending its process needs a kernel context, which borrows
            // this CPU (EnterTemporary). The handle is gone after LwpFree: clear the slot with the saved one.
            nint h = l.Handle;
            LwpFree(l);
            if (l.CpuIdx >= 0) Sched.Unschedule(l);
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, h);
            return;
        }
        if (l.CpuIdx >= 0) Sched.Unschedule(l);
        if (l.ClearOnUnschedule)
        {
            l.ClearOnUnschedule = false;
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, l.Handle);
            if (l.Implicit && !l.Lent) LwpFree(l);
        }
    }

    /// <summary>
    /// Every lwp of <paramref name="cur"/>'s process but <paramref name="cur"/> is interrupted: its
    /// interruptible sleeps end with EINTR (NetBSD's hyp_lwpexit, when a remote client goes away).
    /// </summary>
    internal void ProcInterruptOthers(Lwp cur)
    {
        Proc p = cur.Proc;
        p.Lock.Enter();
        Lwp[] all = p._lwps.ToArray();
        p.Lock.Exit();
        foreach (Lwp l in all)
            if (l != cur) l.Interrupt();
    }
}
