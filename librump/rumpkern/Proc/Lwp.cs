using System.Runtime.InteropServices;

namespace Rump.Kern;

/// <summary>
/// A light-weight process: the kernel's thread context. A host thread runs kernel code as the lwp
/// that the hypercall layer's <c>rumpuser_curlwp()</c> names, on the virtual CPU it holds.
/// References: the process holds its lwps; the host thread holds its current lwp through the
/// hypercall layer's thread-local pointer (a GC handle), released in <see cref="Kernel.LwpFree"/>.
/// </summary>
public sealed class Lwp
{
    public readonly Kernel Kernel;
    public Proc Proc { get; internal set; }
    public readonly int Lid;
    /// <summary>Index of the virtual CPU while scheduled, else -1. Written only by the owning host thread.
    /// An index rather than a reference: the scheduler's fast path then stores no object references
    /// (each would cost a GC write barrier on every system call).</summary>
    internal int CpuIdx = -1;
    internal int LastCpuIdx;
    /// <summary>The virtual CPU while scheduled, else null.</summary>
    public Cpu? Cpu => CpuIdx < 0 ? null : Kernel.Sched.CpuAt(CpuIdx);
    /// <summary>Made on demand for a host thread that entered without a context (NetBSD's implicit lwp).</summary>
    public readonly bool Implicit;
    /// <summary>The weak-free GC handle the hypercall layer stores as <c>struct lwp *</c>.</summary>
    internal nint Handle;
    /// <summary>Set while a blocking hypercall has taken the CPU away through the upcall.</summary>
    internal bool UpcallUnscheduled;
    /// <summary>False once released; a released lwp must not run again.</summary>
    internal bool Alive = true;
    public readonly string Name;

    internal Lwp(Kernel k, Proc p, int lid, bool isImplicit, string name)
    {
        Kernel = k; Proc = p; Lid = lid; Implicit = isImplicit; Name = name;
        // Spread new lwps over the CPUs so that threads do not all start by colliding on CPU 0.
        LastCpuIdx = (int)((uint)(p.Pid * 31 + lid) % (uint)k.Sched.Ncpu);
        Handle = GCHandle<Lwp>.ToIntPtr(new GCHandle<Lwp>(this));
    }

    /// <summary>Resolves the hypercall layer's opaque lwp pointer.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static Lwp? FromHandle(nint h) => h == 0 ? null : GCHandle<Lwp>.FromIntPtr(h).Target;

    internal void FreeHandle()
    {
        if (Handle != 0) { GCHandle<Lwp>.FromIntPtr(Handle).Dispose(); Handle = 0; }
    }

    public Cred Cred => Proc.Cred;
    public override string ToString() => "lwp " + Proc.Pid + "." + Lid + " (" + Name + ")";
}
