using System;
using System.Runtime.InteropServices;
using System.Text;
using Rump.Kern;

namespace Rump;

/// <summary>
/// The managed API: boot kernel instances and call their system calls with strings and spans.
/// Several instances may live in one process; each call runs on the calling thread as that
/// instance's lwp. Results follow the Linux-kernel convention: a non-negative value on success,
/// or the negated NetBSD errno (e.g. -Abi.ENOENT).
/// </summary>
public sealed unsafe class RumpKernel
{
    public readonly Kernel Kernel;

    private RumpKernel(Kernel k) { Kernel = k; }

    /// <summary>Boots a kernel with the components linked into this build.</summary>
    public static RumpKernel Boot(int ncpu = 0, string? hostname = null, long memLimit = 0)
    {
        var cfg = new KernelConfig { Ncpu = ncpu, Hostname = hostname, MemLimit = memLimit, Components = Components.Linked() };
        int e = Kernel.Boot(cfg, out Kernel? k, out string? why);
        if (e != 0) throw new InvalidOperationException("rump kernel boot failed: " + why + " (errno " + e + ")");
        return new RumpKernel(k!);
    }

    /// <summary>Any system call by NetBSD number with register-sized arguments.</summary>
    public long Syscall(int num, ReadOnlySpan<long> args)
    {
        SyscallArgs a = default;
        args.CopyTo(a);
        long rv = Kernel.Syscall(num, ref a, out int error);
        return error != 0 ? -error : rv;
    }

    private long Sys(int num, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0)
    {
        System.Runtime.CompilerServices.Unsafe.SkipInit(out SyscallArgs a);
        a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3; a[4] = a4; a[5] = a5;
        a[6] = 0; a[7] = 0;
        long rv = Kernel.Syscall(num, ref a, out int error);
        return error != 0 ? -error : rv;
    }

    /// <summary>A path as the NUL-terminated bytes the kernel copies in.</summary>
    private static byte[] Z(string s) => Encoding.UTF8.GetBytes(s + "\0");

    public int Getpid() => (int)Sys(SysNum.getpid);
    public int Getppid() => (int)Sys(SysNum.getppid);

    public int Open(string path, int flags, uint mode = 0)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.open, (long)p, flags, mode);
    }

    public int Openat(int dirfd, string path, int flags, uint mode = 0)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.openat, dirfd, (long)p, flags, mode);
    }

    public int Close(int fd) => (int)Sys(SysNum.close, fd);

    public long Read(int fd, Span<byte> buf)
    {
        fixed (byte* p = buf) return Sys(SysNum.read, fd, (long)p, buf.Length);
    }

    public long Write(int fd, ReadOnlySpan<byte> buf)
    {
        fixed (byte* p = buf) return Sys(SysNum.write, fd, (long)p, buf.Length);
    }

    public long Pread(int fd, Span<byte> buf, long off)
    {
        fixed (byte* p = buf) return Sys(SysNum.pread, fd, (long)p, buf.Length, off);
    }

    public long Pwrite(int fd, ReadOnlySpan<byte> buf, long off)
    {
        fixed (byte* p = buf) return Sys(SysNum.pwrite, fd, (long)p, buf.Length, off);
    }

    public long Lseek(int fd, long off, int whence) => Sys(SysNum.lseek, fd, off, whence);

    public int Stat(string path, out RumpStat st)
    {
        fixed (byte* p = Z(path)) fixed (RumpStat* s = &st) return (int)Sys(SysNum.stat, (long)p, (long)s);
    }

    public int Lstat(string path, out RumpStat st)
    {
        fixed (byte* p = Z(path)) fixed (RumpStat* s = &st) return (int)Sys(SysNum.lstat, (long)p, (long)s);
    }

    public int Fstat(int fd, out RumpStat st)
    {
        fixed (RumpStat* s = &st) return (int)Sys(SysNum.fstat, fd, (long)s);
    }

    public int Mkdir(string path, uint mode)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.mkdir, (long)p, mode);
    }

    public int Mkfifo(string path, uint mode)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.mkfifo, (long)p, mode);
    }

    public int Rmdir(string path)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.rmdir, (long)p);
    }

    public int Unlink(string path)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.unlink, (long)p);
    }

    public int Rename(string from, string to)
    {
        fixed (byte* f = Z(from)) fixed (byte* t = Z(to)) return (int)Sys(SysNum.rename, (long)f, (long)t);
    }

    public int Link(string target, string name)
    {
        fixed (byte* f = Z(target)) fixed (byte* t = Z(name)) return (int)Sys(SysNum.link, (long)f, (long)t);
    }

    public int Symlink(string target, string name)
    {
        fixed (byte* f = Z(target)) fixed (byte* t = Z(name)) return (int)Sys(SysNum.symlink, (long)f, (long)t);
    }

    /// <summary>readlink(2) as a string, or null with <paramref name="error"/> set.</summary>
    public string? Readlink(string path, out int error)
    {
        byte[] buf = new byte[Abi.PATH_MAX];
        long n;
        fixed (byte* p = Z(path)) fixed (byte* b = buf) n = Sys(SysNum.readlink, (long)p, (long)b, buf.Length);
        error = n < 0 ? (int)-n : 0;
        return n < 0 ? null : Encoding.UTF8.GetString(buf, 0, (int)n);
    }

    public int Chdir(string path)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.chdir, (long)p);
    }

    public int Chmod(string path, uint mode)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.chmod, (long)p, mode);
    }

    public int Chown(string path, uint uid, uint gid)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.chown, (long)p, uid, gid);
    }

    public int Truncate(string path, long len)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.truncate, (long)p, len);
    }

    public int Ftruncate(int fd, long len) => (int)Sys(SysNum.ftruncate, fd, len);
    public int Fsync(int fd) => (int)Sys(SysNum.fsync, fd);
    public int Dup(int fd) => (int)Sys(SysNum.dup, fd);
    public int Dup2(int from, int to) => (int)Sys(SysNum.dup2, from, to);
    public int Fcntl(int fd, int cmd, long arg = 0) => (int)Sys(SysNum.fcntl, fd, cmd, arg);
    public int Umask(uint mask) => (int)Sys(SysNum.umask, mask);
    public int Setuid(uint uid) => (int)Sys(SysNum.setuid, uid);
    public int Setgid(uint gid) => (int)Sys(SysNum.setgid, gid);
    public void Sync() => Sys(SysNum.sync);
    public int Reboot(int howto) => (int)Sys(SysNum.reboot, howto, 0);
    public int Kill(int pid, int sig) => (int)Sys(SysNum.kill, pid, sig);

    /// <summary>What the kernel does with signals (Abi.SIGMODEL_*).</summary>
    public int SigModel { get => Kernel.SigModel; set => Kernel.SigModel = value; }

    public int Access(string path, int mode)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.access, (long)p, mode);
    }

    /// <summary>__getcwd(2) as a string, or null with <paramref name="error"/> set.</summary>
    public string? Getcwd(out int error)
    {
        byte[] buf = new byte[Abi.PATH_MAX];
        long n;
        fixed (byte* b = buf) n = Sys(SysNum.__getcwd, (long)b, buf.Length);
        error = n < 0 ? (int)-n : 0;
        return n < 0 ? null : Encoding.UTF8.GetString(buf, 0, (int)n - 1);
    }

    public int Pipe(out int rfd, out int wfd, int flags = 0)
    {
        int* fds = stackalloc int[2];
        int r = (int)Sys(SysNum.pipe2, (long)fds, flags);
        rfd = fds[0]; wfd = fds[1];
        return r;
    }

    /// <summary>The names in a directory, by getdents(2) (with "." and "..").</summary>
    public int ReadDir(string path, System.Collections.Generic.List<(string name, byte type, ulong ino)> into)
    {
        int fd = Open(path, Abi.O_RDONLY | Abi.O_DIRECTORY);
        if (fd < 0) return fd;
        byte[] buf = new byte[8192];
        try
        {
            while (true)
            {
                long n;
                fixed (byte* b = buf) n = Sys(SysNum.getdents, fd, (long)b, buf.Length);
                if (n < 0) return (int)n;
                if (n == 0) return 0;
                var span = buf.AsSpan(0, (int)n);
                while (Dirent.TryParse(span, out ulong ino, out int reclen, out byte type, out ReadOnlySpan<byte> name))
                {
                    into.Add((Encoding.UTF8.GetString(name), type, ino));
                    span = span.Slice(reclen);
                }
            }
        }
        finally { Close(fd); }
    }

    /// <summary>mount(2) with an argument structure.</summary>
    public int Mount<T>(string type, string path, int flags, in T args) where T : unmanaged
    {
        fixed (byte* t = Z(type)) fixed (byte* p = Z(path)) fixed (T* a = &args)
            return (int)Sys(SysNum.mount, (long)t, (long)p, flags, (long)a, sizeof(T));
    }

    public int Unmount(string path, int flags = 0)
    {
        fixed (byte* p = Z(path)) return (int)Sys(SysNum.unmount, (long)p, flags);
    }

    public int Statvfs(string path, out RumpStatvfs sv)
    {
        fixed (byte* p = Z(path)) fixed (RumpStatvfs* s = &sv) return (int)Sys(SysNum.statvfs1, (long)p, (long)s, Abi.ST_WAIT);
    }

    /// <summary>Reads a sysctl string by MIB through __sysctl(2).</summary>
    public string? SysctlString(ReadOnlySpan<int> mib)
    {
        byte[] buf = new byte[1024];
        ulong len = (ulong)buf.Length;
        long r;
        fixed (int* m = mib) fixed (byte* b = buf)
            r = Sys(SysNum.__sysctl, (long)m, mib.Length, (long)b, (long)&len, 0, 0);
        return r < 0 ? null : Encoding.UTF8.GetString(buf, 0, Math.Max(0, (int)len - 1));
    }

    /// <summary>dmesg: what the kernel printed (its message buffer, also sysctl kern.msgbuf), oldest first.</summary>
    public string Dmesg() => Kernel.MsgBuf.Text();

    // ---- etfs ----

    /// <summary>A host file as a block device at <paramref name="key"/> (partitions at key + 'a', 'b', ...). Returns 0 or -errno.</summary>
    public int EtfsRegister(string key, string hostPath, int type = Abi.ETFS_BLK, long begin = 0, long size = -1)
        => -EtfsRegister(Kernel, key, hostPath, type, begin, size);

    public int EtfsRemove(string key) => -EtfsRemove(Kernel, key);

    /// <summary>
    /// Runs <paramref name="f"/> as the kernel (a temporary lwp of proc0, root) outside any system
    /// call, as an entry point: ENXIO if the kernel is dead or panics meanwhile (an exception in
    /// kernel code panics it). Returns <paramref name="f"/>'s errno.
    /// </summary>
    internal static int InKernel(Kernel k, string what, Func<Lwp, int> f)
    {
        if (k.IsDead) return Abi.ENXIO;
        try
        {
            using var ctx = k.EnterTemporary(k.Proc0, what);
            return f(ctx.Lwp);
        }
        catch (Exception e)
        {
            k.RecordPanic(e, what + ": ");
            return Abi.ENXIO;
        }
    }

    /// <summary>Registers a host file as a block device (proc0, root). Returns an errno.</summary>
    internal static int EtfsRegister(Kernel k, string key, string hostPath, int type, long begin, long size)
    {
#if RUMP_VFS
        Rump.Vfs.Vfs? vfs = k.GetService<Rump.Vfs.Vfs>();
        if (vfs == null) return Abi.ENOSYS;
        return InKernel(k, "etfs", l => vfs.EtfsRegister(l, key, hostPath, type, begin, size));
#else
        return Abi.ENOSYS;
#endif
    }

    internal static int EtfsRemove(Kernel k, string key)
    {
#if RUMP_VFS
        Rump.Vfs.Vfs? vfs = k.GetService<Rump.Vfs.Vfs>();
        if (vfs == null) return Abi.ENOSYS;
        return InKernel(k, "etfs", l => vfs.EtfsRemove(l, key));
#else
        return Abi.ENOSYS;
#endif
    }

    /// <summary>
    /// The type of the file system on the block device at <paramref name="fspec"/> (an etfs key),
    /// judged from its superblock; 0, or -errno with <paramref name="why"/> saying what was found.
    /// </summary>
    public int DetectFsType(string fspec, out string? fstype, out string? why)
    {
#if RUMP_VFS
        fstype = null; why = null;
        Rump.Vfs.Vfs? vfs = Kernel.GetService<Rump.Vfs.Vfs>();
        if (vfs == null) { why = "no VFS linked in"; return -Abi.ENOSYS; }
        string? t = null, w = null;
        int e = InKernel(Kernel, "probe", _ => vfs.DetectFsType(fspec, out t, out w));
        fstype = t;
        why = e == Abi.ENXIO && Kernel.IsPanicked ? "the kernel panicked: " + Kernel.PanicMessage : w;
        return -e;
#else
        fstype = null; why = "no VFS linked in";
        return -Abi.ENOSYS;
#endif
    }

    /// <summary>
    /// Mounts the file system found on <paramref name="fspec"/> at <paramref name="path"/> with its
    /// default arguments (NetBSD's argument structure zeroed but for fspec).
    /// </summary>
    public int MountAuto(string fspec, string path, int flags, out string? fstype, out string? why)
    {
        int e = DetectFsType(fspec, out fstype, out why);
        if (e != 0) return e;
        int r = MountAs(fstype!, fspec, path, flags);
        if (r < 0) why = "mounting " + fspec + " (" + fstype + ") on " + path + " failed: error " + (-r);
        return r;
    }

    /// <summary>
    /// Mounts <paramref name="fspec"/> as <paramref name="fstype"/> with the type's default
    /// arguments: NetBSD's argument structure zeroed but for fspec. 0 or -errno (ENODEV for a type
    /// not linked in).
    /// </summary>
    public int MountAs(string fstype, string fspec, string path, int flags)
    {
        // Every disk file system's arguments begin with char *fspec; 512 zeroed bytes cover the largest.
        byte* args = stackalloc byte[512];
        new Span<byte>(args, 512).Clear();
        fixed (byte* f = Z(fspec)) fixed (byte* t = Z(fstype)) fixed (byte* p = Z(path))
        {
            *(nint*)args = (nint)f;
            return (int)Sys(SysNum.mount, (long)t, (long)p, flags, (long)args, ArgsSize(fstype));
        }
    }

    /// <summary>The size of a file system's mount arguments (what it declares, else the whole zeroed block).</summary>
    private int ArgsSize(string fstype)
    {
#if RUMP_VFS
        int n = Kernel.GetService<Rump.Vfs.Vfs>()?.FindFs(fstype)?.ArgsSize ?? 0;
        return n > 0 && n <= 512 ? n : 512;
#else
        return 512;
#endif
    }

    // ---- state ----

    /// <summary>The kernel stopped on a panic (its calls fail with ENXIO); <see cref="PanicMessage"/> says why.</summary>
    public bool Panicked => Kernel.IsPanicked;
    public string? PanicMessage => Kernel.PanicMessage;

    // ---- lwproc ----
    public int LwprocRfork(int flags) => -Kernel.LwprocRfork(flags);
    public int LwprocNewlwp(int pid) => -Kernel.LwprocNewlwp(pid);
    public Lwp Curlwp() => Kernel.Curlwp();
    public void LwprocSwitch(Lwp? l) => Kernel.LwprocSwitch(l);
    public int LwprocReleaselwp() => -Kernel.LwprocReleaselwp();
}
