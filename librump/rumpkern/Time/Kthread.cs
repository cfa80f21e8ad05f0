using System;
using System.Runtime.InteropServices;
using System.Text;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// A kernel thread (NetBSD kthread(9)): a host thread made by rumpuser_thread_create that runs as
/// an lwp of proc0 and holds a virtual CPU while it executes kernel code.
/// </summary>
public sealed unsafe class Kthread
{
    private readonly Kernel _k;
    private readonly Action<Lwp> _body;
    private readonly string _name;
    private nint _host;
    private GCHandle _self;

    private Kthread(Kernel k, string name, Action<Lwp> body) { _k = k; _name = name; _body = body; }

    /// <summary>Starts <paramref name="body"/> on a new joinable kernel thread.</summary>
    public static int Create(Kernel k, string name, Action<Lwp> body, out Kthread? t)
    {
        var kt = new Kthread(k, name, body);
        kt._self = GCHandle.Alloc(kt);
        byte[] n = Encoding.UTF8.GetBytes(name + "\0");
        nint host;
        int rv;
        fixed (byte* np = n)
            rv = RumpUser.rumpuser_thread_create(&Trampoline, GCHandle.ToIntPtr(kt._self), np, 1, 0, -1, &host);
        if (rv != 0) { kt._self.Free(); t = null; return rv; }
        kt._host = host;
        t = kt;
        return 0;
    }

    /// <summary>
    /// The thread's start: it becomes an lwp of proc0 on a CPU and runs the body. Nothing escapes
    /// to the host: an exception in the body (or in this prologue) panics the thread's kernel.
    /// </summary>
    [UnmanagedCallersOnly]
    private static nint Trampoline(nint arg)
    {
        Kthread? kt = null;
        Lwp? l = null;
        try
        {
            kt = (Kthread)GCHandle.FromIntPtr(arg).Target!;
            Kernel k = kt._k;
            l = k.NewLwp(k.Proc0, false, kt._name);
            RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_SET, l.Handle);
            k.Sched.Schedule(l);
            k.MaybeFault(FaultPoint.Kthread);
            kt._body(l);
        }
        catch (Exception e)
        {
            kt?._k.RecordPanic(e, "kernel thread " + kt._name + ": ");
        }
        try
        {
            if (l != null)
            {
                if (l.CpuIdx >= 0) l.Kernel.Sched.Unschedule(l);
                RumpUser.rumpuser_curlwpop(RumpUserConst.RUMPUSER_LWP_CLEAR, l.Handle);
                l.Kernel.LwpFree(l);
            }
        }
        catch (Exception e) { kt?._k.RecordPanic(e, "kernel thread exit: "); }
        // rumpuser(3): fun "will never return"; a thread ends with rumpuser_thread_exit. A
        // pthread hypervisor would forgive a return, but a fiber one (NetBSD's rumpfiber.c)
        // runs fun under makecontext with no uc_link, where returning exits the process.
        RumpUser.rumpuser_thread_exit();
        return 0;
    }

    /// <summary>Waits for the thread to exit. The caller must not hold a virtual CPU.</summary>
    public void Join()
    {
        RumpUser.rumpuser_thread_join(_host);
        _self.Free();
    }
}
