using System.Threading;
using Rump.Hypercall;

namespace Rump.Kern;

/// <summary>
/// Signals, to the extent NetBSD's rump kernels have them (sys/rump/librump/rumpkern/signals.c):
/// there is no user code to deliver a signal to, so a signal sent to a process of the kernel is
/// handled by the kernel's signal model (rump_boot_setsigmodel):
/// - PANIC: any signal but SIGSYS panics the kernel;
/// - IGNORE: dropped;
/// - HOST: passed to the host through rumpuser_kill with the target's pid;
/// - RAISE (the default, as NetBSD's): raised in the host process (rumpuser_kill, RUMPUSER_PID_SELF);
/// - RECORD: kept pending in the process. A pending signal the lwp does not block makes its
///   interruptible sleeps end with EINTR, now and until the signal is blocked (NetBSD's
///   sigispending); sigpending(2) shows it. Nothing delivers it: remote clients (later) will get
///   it through rumpuser_sp_raise.
///
/// Locks: <see cref="Proc.SigPending"/> and <see cref="Lwp.SigMask"/> are words changed with
/// interlocked operations; nothing else is shared.
/// </summary>
public sealed partial class Kernel
{
    private int _sigmodel = Abi.SIGMODEL_RAISE;

    /// <summary>The signal model (RUMP_SIGMODEL_*).</summary>
    public int SigModel
    {
        get => Volatile.Read(ref _sigmodel);
        set => Volatile.Write(ref _sigmodel, value);
    }

    /// <summary>Bit of signal <paramref name="sig"/> (1..64) in a 64-bit set.</summary>
    internal static ulong SigBit(int sig) => 1UL << (sig - 1);

    /// <summary>NetBSD psignal: a signal for <paramref name="p"/>, handled by the signal model.</summary>
    public void Psignal(Proc p, int sig)
    {
        switch (SigModel)
        {
            case Abi.SIGMODEL_PANIC:
                if (sig != Abi.SIGSYS) PanicHere("unhandled signal " + sig + " to pid " + p.Pid);
                break;
            case Abi.SIGMODEL_IGNORE:
                break;
            case Abi.SIGMODEL_HOST:
                RumpUser.rumpuser_kill(p.Pid, sig);
                break;
            case Abi.SIGMODEL_RECORD:
                Interlocked.Or(ref p.SigPending, SigBit(sig));
                p.Lock.Enter();
                Lwp[] lwps = p._lwps.ToArray();
                p.Lock.Exit();
                foreach (Lwp l in lwps)
                    if ((Volatile.Read(ref l.SigMask) & SigBit(sig)) == 0) l.Interrupt();
                break;
            default:
                RumpUser.rumpuser_kill(RumpUserConst.RUMPUSER_PID_SELF, sig);
                break;
        }
    }
}
