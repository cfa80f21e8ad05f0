using System;

namespace Rump.Kern;

/// <summary>
/// The base kernel's system calls: identity and credentials, sysctl, reboot. Each takes the
/// caller's lwp and typed arguments (unpacked by the generated stubs in Generated/KernSyscalls.g.cs)
/// and returns 0 or a NetBSD errno.
/// </summary>
internal static partial class KernSyscalls
{
    internal static void Attach(Kernel k) => Register(k.Syscalls);

    private static int Getpid(Lwp l, out long rv) { rv = l.Proc.Pid; return 0; }
    private static int Getppid(Lwp l, out long rv) { rv = l.Proc.Parent?.Pid ?? 0; return 0; }
    private static int Getuid(Lwp l, out long rv) { rv = l.Cred.Uid; return 0; }
    private static int Geteuid(Lwp l, out long rv) { rv = l.Cred.Euid; return 0; }
    private static int Getgid(Lwp l, out long rv) { rv = l.Cred.Gid; return 0; }
    private static int Getegid(Lwp l, out long rv) { rv = l.Cred.Egid; return 0; }

    /// <summary>setuid(2): root sets all three ids; others may only set the effective id to the real or saved one.</summary>
    private static int Setuid(Lwp l, uint uid, out long rv)
    {
        rv = 0;
        Cred c = l.Cred;
        if (c.IsRoot) { l.Proc.Cred = c.WithUid(uid); return 0; }
        if (uid == c.Uid || uid == c.Svuid) { l.Proc.Cred = c.WithEuid(uid); return 0; }
        return Abi.EPERM;
    }

    private static int Setgid(Lwp l, uint gid, out long rv)
    {
        rv = 0;
        Cred c = l.Cred;
        if (c.IsRoot) { l.Proc.Cred = c.WithGid(gid); return 0; }
        if (gid == c.Gid || gid == c.Svgid) { l.Proc.Cred = c.WithEgid(gid); return 0; }
        return Abi.EPERM;
    }

    private static int Reboot(Lwp l, int opt, UserPtr bootstr, out long rv)
    {
        rv = 0;
        return l.Kernel.Reboot(l, opt);
    }

    /// <summary>__sysctl(2): see Sysctl/SysctlCall.cs.</summary>
    private static int Sysctl(Lwp l, UserPtr name, uint namelen, UserPtr oldp, UserPtr oldlenp, UserPtr newp, ulong newlen, out long rv)
    {
        rv = 0;
        return l.Kernel.Sysctl.Syscall(l, name, namelen, oldp, oldlenp, newp, newlen);
    }
}
