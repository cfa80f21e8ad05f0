using System.Threading;

namespace Rump.Kern;

/// <summary>kill(2), sigpending(2), sigprocmask(2) (NetBSD kern_sig.c), over Proc/Signal.cs's signal models.</summary>
internal static partial class KernSyscalls
{
    private static int Kill(Lwp l, int pid, int signum, out long rv)
    {
        rv = 0;
        if (signum < 0 || signum >= Abi.NSIG) return Abi.EINVAL;
        Kernel k = l.Kernel;
        // No process groups in this kernel: 0 is the caller's own process, -1 every process it may signal.
        if (pid < -1) return Abi.ESRCH;
        if (pid == -1)
        {
            int n = 0;
            foreach (Proc p in k.ProcSnapshot())
            {
                if (p.Pid <= Kernel.DefaultPid || p == l.Proc || !MaySignal(l.Cred, p.Cred)) continue;
                n++;
                if (signum != 0) k.Psignal(p, signum);
            }
            return n == 0 ? Abi.ESRCH : 0;
        }
        Proc? target = pid == 0 ? l.Proc : k.FindProc(pid);
        if (target == null || target.Pid == 0) return Abi.ESRCH;
        if (!MaySignal(l.Cred, target.Cred)) return Abi.EPERM;
        if (signum != 0) k.Psignal(target, signum);
        return 0;
    }

    /// <summary>NetBSD's kauth rule for signals: root, or a real or effective id of the sender is the target's real or saved id.</summary>
    private static bool MaySignal(Cred from, Cred to)
        => from.IsRoot || from.Uid == to.Uid || from.Uid == to.Svuid || from.Euid == to.Uid || from.Euid == to.Svuid;

    private static int Sigpending(Lwp l, UserPtr set, out long rv)
    {
        rv = 0;
        var s = new RumpSigset { Low64 = Volatile.Read(ref l.Proc.SigPending) };
        return l.Proc.Vmspace.CopyOut(in s, set);
    }

    private static int Sigprocmask(Lwp l, int how, UserPtr set, UserPtr oset, out long rv)
    {
        rv = 0;
        ulong old = Volatile.Read(ref l.SigMask);
        if (!set.IsNull)
        {
            int e = l.Proc.Vmspace.CopyIn(set, out RumpSigset s);
            if (e != 0) return e;
            // SIGKILL and SIGSTOP cannot be blocked.
            ulong bits = s.Low64 & ~(Kernel.SigBit(Abi.SIGKILL) | Kernel.SigBit(Abi.SIGSTOP));
            ulong mask;
            switch (how)
            {
                case Abi.SIG_BLOCK: mask = old | bits; break;
                case Abi.SIG_UNBLOCK: mask = old & ~bits; break;
                case Abi.SIG_SETMASK: mask = bits; break;
                default: return Abi.EINVAL;
            }
            Volatile.Write(ref l.SigMask, mask);
        }
        if (!oset.IsNull)
        {
            var o = new RumpSigset { Low64 = old };
            return l.Proc.Vmspace.CopyOut(in o, oset);
        }
        return 0;
    }
}
