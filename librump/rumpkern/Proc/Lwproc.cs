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

    internal Lwp NewLwp(Proc p, bool isImplicit, string name)
    {
        p.Lock.Enter();
        var l = new Lwp(this, p, p.NextLid(), isImplicit, name);
        p._lwps.Add(l);
        p.Lock.Exit();
        _procLock.Enter();
        _lwpHandles.Add(l.Handle);
        _procLock.Exit();
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CREATE, l.Handle);
        return l;
    }

    /// <summary>Frees an lwp; the last one of a (non-kernel, non-default) process ends the process.</summary>
    internal void LwpFree(Lwp l)
    {
        Proc p = l.Proc;
        p.Lock.Enter();
        p._lwps.Remove(l);
        bool last = p._lwps.Count == 0 && p.Pid > DefaultPid;
        if (last) p.Exiting = true;
        p.Lock.Exit();
        l.Alive = false;
        _procLock.Enter();
        _lwpHandles.Remove(l.Handle);
        _procLock.Exit();
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_DESTROY, l.Handle);
        if (last) ProcExit(p, l);
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
    public Lwp Curlwp() => CurlwpOrNull() ?? BindImplicit();

    /// <summary>
    /// rump_lwproc_rfork: a new process, child of the caller's, and a new lwp in it that becomes the
    /// calling thread's context. The previous context is released if it was implicit.
    /// </summary>
    public int LwprocRfork(int flags, string comm = "rfork")
    {
        if ((flags & ~(RFFDG | RFCFDG)) != 0 || (flags & (RFFDG | RFCFDG)) == (RFFDG | RFCFDG))
            return Abi.EINVAL;
        Lwp cur = Curlwp();
        Proc parent = cur.Proc;
        Filedesc fd;
        if ((flags & RFCFDG) != 0) fd = new Filedesc();
        else if ((flags & RFFDG) != 0) fd = parent.Fd.Copy();
        else { parent.Fd.AddRef(); fd = parent.Fd; }

        _procLock.Enter();
        int pid = AllocPid();
        if (pid < 0) { _procLock.Exit(); return Abi.EAGAIN; }
        var p = new Proc(this, pid, parent, parent.Cred, fd, parent.Vmspace) { Umask = parent.Umask };
        _procs[pid] = p;
        _procLock.Exit();

        Sched.Schedule(cur);
        foreach (IProcHooks h in _procHooks) h.Fork(parent, p, flags);
        Sched.Unschedule(cur);

        Lwp l = NewLwp(p, false, comm);
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
        if (l != null && (l.Kernel != this || !l.Alive)) Panic("lwproc_switch to a dead or foreign lwp " + l);
        Lwp? cur = CurlwpOrNull();
        if (cur == l) return;
        SwitchTo(cur, l);
    }

    private void SwitchTo(Lwp? cur, Lwp? next)
    {
        if (cur == null) LeaveForeignKernel();
        if (cur != null)
        {
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, cur.Handle);
            if (cur.Implicit) LwpFree(cur);
        }
        if (next != null)
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, next.Handle);
    }

    /// <summary>rump_lwproc_releaselwp: release the current lwp; the thread is left without context.</summary>
    public int LwprocReleaselwp()
    {
        Lwp? cur = CurlwpOrNull();
        if (cur == null) return Abi.EINVAL;
        RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, cur.Handle);
        LwpFree(cur);
        return 0;
    }
}
