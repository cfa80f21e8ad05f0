using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>Creation and destruction of the host's locks, in one place so callers stay short.</summary>
internal static unsafe class HostSync
{
    /// <summary>
    /// A host mutex used only as an interlock: held for a few instructions or handed to a
    /// <c>_nowrap</c> condition wait, never while the virtual CPU question arises, so it is a
    /// RUMPUSER_MTX_SPIN mutex (the kernel code around it gives up the CPU itself when it sleeps).
    /// </summary>
    public static nint NewMutex()
    {
        nint m;
        RumpUser.rumpuser_mutex_init(&m, RumpUserConst.RUMPUSER_MTX_SPIN);
        return m;
    }

    public static nint NewCondvar()
    {
        nint cv;
        RumpUser.rumpuser_cv_init(&cv);
        return cv;
    }

    /// <summary>Installs a host mutex and condition variable pair once, without a lock: a loser of the race frees its own.</summary>
    public static void LazyInit(ref nint mtx, ref nint cv)
    {
        nint m = NewMutex();
        if (System.Threading.Interlocked.CompareExchange(ref mtx, m, 0) != 0) DestroyMutex(m);
        nint c = NewCondvar();
        if (System.Threading.Interlocked.CompareExchange(ref cv, c, 0) != 0) DestroyCondvar(c);
    }

    public static void DestroyMutex(nint m) => RumpUser.rumpuser_mutex_destroy(m);
    public static void DestroyCondvar(nint cv) => RumpUser.rumpuser_cv_destroy(cv);
}
