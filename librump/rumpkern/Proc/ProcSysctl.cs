using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Rump.Kern;

/// <summary>
/// kern.proc2 (NetBSD's sysctl_kern_proc2): the kernel's processes as struct kinfo_proc2, named
/// kern.proc2.OP.ARG.ELEMSIZE.ELEMCOUNT. OP selects (KERN_PROC_ALL, _PID, _UID, _RUID, _GID, _RGID
/// with ARG the id); each element takes ELEMSIZE bytes of the buffer (the first
/// min(ELEMSIZE, 680) of the structure), at most ELEMCOUNT of them. Without a buffer the answer
/// is the size needed plus KERN_PROCSLOP elements; a short buffer gets what fits and ENOMEM.
/// The fields this kernel knows are filled (ids, credentials, command name, lwps, state); the
/// rest, kernel addresses and accounting it does not keep, are zero.
///
/// kern.file2 (sysctl_kern_file2) with KERN_FILE_BYPID: each open descriptor of process ARG (-1:
/// of every process) as struct kinfo_file, named kern.file2.OP.ARG.ELEMSIZE.ELEMCOUNT likewise
/// (slop KERN_FILESLOP); pid, descriptor, type, flags and offset are filled, the rest is zero.
///
/// Locks: runs under the sysctl tree's read lock; copies the process table under the kernel's
/// process-table lock and counts each process's lwps under its lock, neither held across a copy;
/// descriptor tables are read without locks or references (a listing is a moment's picture).
/// </summary>
internal static class ProcSysctl
{
    /// <summary>NetBSD's SACTIVE and SDYING (p_realstat), LSRUN and LSDEAD (p_stat).</summary>
    private const int SActive = 2, SDying = 3, LsRun = 2, LsDead = 6;

    internal static void Attach(Kernel k)
    {
        int e = k.Sysctl.CreateNameHandler(k.Sysctl.Kern, "proc2",
            (Cred cred, ReadOnlySpan<int> rest, ValueIo oldp, ref ulong oldlen) => Proc2(k, rest, oldp, ref oldlen),
            out _, Abi.KERN_PROC2, Abi.CTLFLAG_PERMANENT, "Machine-independent process information");
        if (e != 0) Kernel.Panic("sysctl: cannot make kern.proc2: error " + e);
        e = k.Sysctl.CreateNameHandler(k.Sysctl.Kern, "file2",
            (Cred cred, ReadOnlySpan<int> rest, ValueIo oldp, ref ulong oldlen) => File2(k, rest, oldp, ref oldlen),
            out _, Abi.KERN_FILE2, Abi.CTLFLAG_PERMANENT, "System open file table");
        if (e != 0) Kernel.Panic("sysctl: cannot make kern.file2: error " + e);
    }

    private static unsafe int File2(Kernel k, ReadOnlySpan<int> rest, ValueIo oldp, ref ulong oldlen)
    {
        if (rest.Length != 4) return Abi.EINVAL;
        int op = rest[0], arg = rest[1], elemSize = rest[2], elemCount = rest[3];
        if (op != Abi.KERN_FILE_BYPID || arg < -1 || elemSize <= 0 || elemCount < 0) return Abi.EINVAL;
        ulong room = oldp.IsNull ? 0 : oldlen, written = 0, needed = 0;
        int copy = Math.Min(elemSize, sizeof(RumpKinfoFile));
        bool found = false;
        foreach (Proc p in k.ProcSnapshot())
        {
            if (arg != -1 && p.Pid != arg) continue;
            found = true;
            for (int fd = 0; fd < Filedesc.MaxFiles; fd++)
            {
                File? f = p.Fd.Peek(fd);
                if (f == null) continue;
                if (!oldp.IsNull && room >= (ulong)elemSize && elemCount > 0)
                {
                    RumpKinfoFile kf = default;
                    kf.ki_pid = (uint)p.Pid;
                    kf.ki_fd = fd;
                    kf.ki_ftype = (uint)(f is PipeFile ? Abi.DTYPE_PIPE : Abi.DTYPE_VNODE);
                    kf.ki_flag = (uint)f.Flag;
                    kf.ki_foffset = (ulong)Volatile.Read(ref f.Offset);
                    int e = oldp.CopyOut(MemoryMarshal.AsBytes(new ReadOnlySpan<RumpKinfoFile>(in kf)).Slice(0, copy), written);
                    if (e != 0) return e;
                    written += (ulong)elemSize;
                    room -= (ulong)elemSize;
                    elemCount--;
                }
                needed += (ulong)elemSize;
            }
        }
        if (!found) return Abi.ESRCH;
        if (!oldp.IsNull)
        {
            oldlen = written;
            return needed > written ? Abi.ENOMEM : 0;
        }
        oldlen = needed + (ulong)Abi.KERN_FILESLOP * (ulong)elemSize;
        return 0;
    }

    private static unsafe int Proc2(Kernel k, ReadOnlySpan<int> rest, ValueIo oldp, ref ulong oldlen)
    {
        if (rest.Length != 4) return Abi.EINVAL;
        int op = rest[0], arg = rest[1], elemSize = rest[2], elemCount = rest[3];
        if (elemSize <= 0 || elemCount < 0) return Abi.EINVAL;
        if (op != Abi.KERN_PROC_ALL && op != Abi.KERN_PROC_PID && op != Abi.KERN_PROC_UID &&
            op != Abi.KERN_PROC_RUID && op != Abi.KERN_PROC_GID && op != Abi.KERN_PROC_RGID)
            return Abi.EINVAL;
        ulong room = oldp.IsNull ? 0 : oldlen, written = 0, needed = 0;
        int copy = Math.Min(elemSize, sizeof(RumpKinfoProc2));
        foreach (Proc p in k.ProcSnapshot())
        {
            Cred c = p.Cred;
            bool match = op switch
            {
                Abi.KERN_PROC_PID => p.Pid == arg,
                Abi.KERN_PROC_UID => c.Euid == (uint)arg,
                Abi.KERN_PROC_RUID => c.Uid == (uint)arg,
                Abi.KERN_PROC_GID => c.Egid == (uint)arg,
                Abi.KERN_PROC_RGID => c.Gid == (uint)arg,
                _ => true,
            };
            if (!match) continue;
            if (!oldp.IsNull && room >= (ulong)elemSize && elemCount > 0)
            {
                Fill(p, c, out RumpKinfoProc2 kp);
                int e = oldp.CopyOut(MemoryMarshal.AsBytes(new ReadOnlySpan<RumpKinfoProc2>(in kp)).Slice(0, copy), written);
                if (e != 0) return e;
                written += (ulong)elemSize;
                room -= (ulong)elemSize;
                elemCount--;
            }
            needed += (ulong)elemSize;
        }
        if (!oldp.IsNull)
        {
            oldlen = written;
            return needed > written ? Abi.ENOMEM : 0;
        }
        oldlen = needed + (ulong)Abi.KERN_PROCSLOP * (ulong)elemSize;
        return 0;
    }

    private static unsafe void Fill(Proc p, Cred c, out RumpKinfoProc2 kp)
    {
        kp = default;
        kp.p_pid = p.Pid;
        kp.p_ppid = p.Parent?.Pid ?? 0;
        kp.p_uid = c.Euid;
        kp.p_ruid = c.Uid;
        kp.p_svuid = c.Svuid;
        kp.p_gid = c.Egid;
        kp.p_rgid = c.Gid;
        kp.p_svgid = c.Svgid;
        ReadOnlySpan<uint> groups = c.Groups;
        int ng = Math.Min(groups.Length, 16);
        for (int i = 0; i < ng; i++) kp.p_groups[i] = groups[i];
        kp.p_ngroups = (short)ng;
        bool dying = p.Exiting;
        kp.p_stat = (sbyte)(dying ? LsDead : LsRun);
        kp.p_realstat = (ulong)(dying ? SDying : SActive);
        kp.p_nlwps = (ulong)p.LwpCount;
        kp.p_cpuid = ulong.MaxValue; // KI_NOCPU
        fixed (byte* comm = kp.p_comm) Put(new Span<byte>(comm, Abi.KI_MAXCOMLEN), p.Comm);
        fixed (byte* ename = kp.p_ename) Put(new Span<byte>(ename, 16), "netbsd");
    }

    /// <summary>A NUL-terminated copy, cut to fit.</summary>
    private static void Put(Span<byte> dst, string s)
    {
        Span<byte> tmp = stackalloc byte[dst.Length * 3];
        int n = Math.Min(Encoding.UTF8.GetBytes(s.AsSpan(0, Math.Min(s.Length, dst.Length - 1)), tmp), dst.Length - 1);
        tmp.Slice(0, n).CopyTo(dst);
        dst.Slice(n).Clear();
    }
}
