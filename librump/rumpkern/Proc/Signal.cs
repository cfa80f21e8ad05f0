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
/// - RAISE (the default, as NetBSD's): raised where the process's program runs: in a remote
///   client (rumpuser_sp_raise, a RAISE request its librumpclient raises), else in the host process
///   (rumpuser_kill, RUMPUSER_PID_SELF);
/// - RECORD: kept pending in the process. A pending signal the lwp does not block makes its
///   interruptible sleeps end with EINTR, now and until the signal is blocked (NetBSD's
///   sigispending); sigpending(2) shows it. Nothing delivers it.
///
/// Locks: <see cref="Proc.SigPending"/> and <see cref="Lwp.SigMask"/> are words changed with
/// interlocked operations. A RAISE to a remote client holds the target's <see cref="Proc.Lock"/>
/// across the hypercall (then the hypervisor's send lock), so the connection outlives it.
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
                if (p.Vmspace is RemoteVmspace r)
                {
                    // NetBSD's rumpsig_raise (raising it here would kill the server), under the
                    // process's lock as NetBSD's p_lock: its last lwp marks it Exiting under the
                    // lock before the hypervisor may free the connection.
                    p.Lock.Enter();
                    if (!p.Exiting) RumpUser.rumpuser_sp_raise(r.Client, sig);
                    p.Lock.Exit();
                }
                else
                {
                    RumpUser.rumpuser_kill(RumpUserConst.RUMPUSER_PID_SELF, sig);
                }
                break;
        }
    }
}
