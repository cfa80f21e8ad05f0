using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Rump.Fuse.Interop;
using Rump.Kern;
using Rump.Vfs;
using File = System.IO.File;

namespace Rump.Fuse;

/// <summary>
/// rumpfuse: the microkernel configuration. A rump kernel in this process mounts an image with
/// its own file-system driver, and libfuse3's low-level session serves that mount to the host.
///
/// Design: libfuse3 is bound directly from C# (Interop/Fuse.cs: LibraryImport for the calls,
/// a struct of UnmanagedCallersOnly function pointers for fuse_lowlevel_ops), not through a C
/// shim. The callback table is a plain struct of function pointers, which C# expresses exactly;
/// the few structures crossing the boundary (fuse_file_info's bit fields, struct stat,
/// fuse_entry_param, fuse_conn_info) are described once and checked against the headers by a
/// test; and one NativeAOT executable with no extra native library is simpler to build and ship.
///
/// Life: parse options; unless -f, start this program again as the serving child (a new
/// session) and wait until it reports the mount ready or failed; boot the kernel, register the image with etfs, mount it; mount the
/// FUSE session; serve on libfuse's multi-threaded loop. The loop ends on unmount
/// (fusermount3 -u), on SIGTERM/SIGINT/SIGHUP (which detach the mount first so that the
/// loop's reads end), or after a kernel panic. Then every node the host held is released and
/// the rump file system unmounted, which writes everything back to the image.
/// </summary>
internal static unsafe class Program
{
    private const string DevKey = "/dev/rumpfuse0";
    private const string KMount = "/mnt";

    private static int Main(string[] args)
    {
        Options? o = Options.Parse(args, out string? err);
        if (o == null)
        {
            Console.Error.WriteLine("rumpfuse: " + err);
            Console.Error.WriteLine(Options.Usage);
            return 1;
        }
        if (o.Help) { Console.Out.Write(Options.HelpText); return 0; }

        var (file, part) = ParseSpec(o.Image!);
        if (Directory.Exists(file)) return Fail(file + ": Is a directory");
        if (!File.Exists(file)) return Fail(file + ": No such file or directory");
        if (!Directory.Exists(o.MountPoint)) return Fail(o.MountPoint + ": not a directory");
        file = Path.GetFullPath(file);
        string mnt = Path.GetFullPath(o.MountPoint!);

        if (!o.Foreground) return Daemonize(args);
        bool daemonChild = Environment.GetEnvironmentVariable(DaemonEnv) == "1";
        if (daemonChild) Libc.Setsid();
        return Serve(o, file, part, mnt, daemonChild);
    }

    private static int Fail(string msg)
    {
        Console.Error.WriteLine("rumpfuse: " + msg);
        return 1;
    }

    /// <summary>Splits "disk.img@b" into the host file and the partition letter (a file named with '@' wins).</summary>
    public static (string file, char part) ParseSpec(string spec)
    {
        int at = spec.LastIndexOf('@');
        if (at > 0 && at == spec.Length - 2 && spec[^1] is >= 'a' and <= 'z' && !File.Exists(spec))
            return (spec.Substring(0, at), spec[^1]);
        return (spec, '\0');
    }

    // ---- Daemon -------------------------------------------------------------------------------

    /// <summary>Set in the environment of the serving child a daemonizing rumpfuse starts.</summary>
    private const string DaemonEnv = "RUMPFUSE_DAEMON_CHILD";

    /// <summary>
    /// Starts this program again in the foreground as a new session's leader, with its standard
    /// output a pipe to here, and returns once it reports: 0 when it says "ready" (mounted), else
    /// its exit status (it printed why on the standard error it shares with us). A re-execution,
    /// not a fork: a forked copy of a .NET runtime keeps the records of threads that exist only
    /// in the parent, and its first garbage collection waits for them for ever.
    /// </summary>
    private static int Daemonize(string[] args)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = true };
        psi.ArgumentList.Add("-f");
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment[DaemonEnv] = "1";
        using Process? p = Process.Start(psi);
        if (p == null) return Fail("cannot start the serving process");
        string? line = p.StandardOutput.ReadLine();
        if (line == "ready") return 0;
        p.WaitForExit();
        return p.ExitCode != 0 ? p.ExitCode : 1;
    }

    /// <summary>In a daemon's serving child: tells the waiting parent how the mount went; a good start leaves the terminal.</summary>
    private static void Report(bool daemonChild, int status)
    {
        if (!daemonChild || status != 0) return;
        Console.Out.Write("ready\n");
        Console.Out.Flush();
        Libc.Chdir("/");
        int nul = Libc.Open("/dev/null", Libc.O_RDWR);
        if (nul >= 0)
        {
            Libc.Dup2(nul, 0); Libc.Dup2(nul, 1); Libc.Dup2(nul, 2);
            if (nul > 2) Libc.Close(nul);
        }
    }

    // ---- Serving ------------------------------------------------------------------------------

    private static int Serve(Options o, string file, char part, string mnt, bool daemonChild)
    {
        RumpKernel k;
        try { k = RumpKernel.Boot(); }
        catch (InvalidOperationException e) { return Fail(e.Message); }

        string? fstype = null;
        int rc = MountImage(k, o, file, part, ref fstype, out string? why);
        if (rc != 0) { Fail(why!); return 1; }

        // Test-only, with the kernel's own test switch RUMP_CRASHME=1: a fault armed once the image
        // is mounted (RUMPFUSE_CRASHME_FAULT=Biodone: the next block I/O completion), so that the
        // tests can see a panic while serving.
        if (Environment.GetEnvironmentVariable("RUMP_CRASHME") == "1"
            && Enum.TryParse(Environment.GetEnvironmentVariable("RUMPFUSE_CRASHME_FAULT"), ignoreCase: true, out FaultPoint fault))
            k.Kernel.ArmFault(fault);

        Vnode? root = RootVnode(k);
        if (root == null) { Fail("the mounted file system has no root"); return 1; }
        // The host walks a cached name without asking the server, so the kernel never sees that
        // walker's search permission on the directory. Shared with other users (allow_other) and
        // left to the kernel's checks (no default_permissions), every name is therefore looked
        // up again on each walk: otherwise another user could open a file in a 0700 directory
        // for a second after its owner did.
        double entryTimeout = o.AllowOther && !o.DefaultPermissions ? 0.0 : 1.0;
        var server = new FuseServer(k.Kernel, Kernel.DefaultPid, root, attrTimeout: 1.0, entryTimeout: entryTimeout) { UseReaddirplus = o.Readdirplus };
        GCHandle self = GCHandle.Alloc(server);

        nint se = NewSession(o, file, fstype!, GCHandle.ToIntPtr(self));
        if (se == 0) { Fail("could not start a FUSE session (is libfuse3 3.12 or later installed?)"); return 1; }
        server.Session = se;
        byte[] mntz = Encoding.UTF8.GetBytes(mnt + "\0");
        int mr;
        fixed (byte* p = mntz) mr = LibFuse.SessionMount(se, p);
        if (mr != 0)
        {
            Fail("cannot mount on " + mnt + " (is /dev/fuse usable and fusermount3 installed?)");
            LibFuse.SessionDestroy(se);
                        Finish(k, server, quiet: true);
            return 1;
        }

        var stop = new Stopper(se, mnt);
        using var s1 = PosixSignalRegistration.Create(PosixSignal.SIGTERM, stop.OnSignal);
        using var s2 = PosixSignalRegistration.Create(PosixSignal.SIGINT, stop.OnSignal);
        using var s3 = PosixSignalRegistration.Create(PosixSignal.SIGHUP, stop.OnSignal);

        Report(daemonChild, 0);

        nint cfg = LibFuse.LoopCfgCreate();
        // Threads are never retired (idle = max): each keeps its lwp for the life of the mount.
        LibFuse.LoopCfgSetMaxThreads(cfg, 16);
        LibFuse.LoopCfgSetIdleThreads(cfg, 16);
        LibFuse.SessionLoopMt(se, cfg);
        LibFuse.LoopCfgDestroy(cfg);

        // The host no longer sends requests (or, after a panic, is about to be cut off).
        LibFuse.SessionUnmount(se);
        LibFuse.SessionDestroy(se);
        string? stats = Environment.GetEnvironmentVariable("RUMPFUSE_STATS");
        if (!string.IsNullOrEmpty(stats))
        {
            try { File.WriteAllText(stats, server.ReadStats()); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Console.Error.WriteLine("rumpfuse: RUMPFUSE_STATS: " + e.Message); }
        }
        if (server.Failed)
        {
            Console.Error.WriteLine("rumpfuse: the kernel panicked: " + k.PanicMessage);
            return 1;
        }
        return Finish(k, server, quiet: false);
    }

    /// <summary>Releases every node, unmounts the rump file system (writing it back) and removes the device; the exit status.</summary>
    private static int Finish(RumpKernel k, FuseServer server, bool quiet)
    {
        server.ReleaseAll();
        int e = k.Unmount(KMount);
        if (e < 0)
        {
            if (!quiet) Console.Error.WriteLine("rumpfuse: unmounting the image failed: error " + (-e) + (k.Panicked ? " (" + k.PanicMessage + ")" : ""));
            return 1;
        }
        k.EtfsRemove(DevKey);
        return 0;
    }

    /// <summary>Registers the image and mounts its file system at <see cref="KMount"/>; 0, or non-zero with why.</summary>
    private static int MountImage(RumpKernel k, Options o, string file, char part, ref string? fstype, out string? why)
    {
        why = null;
        int e = k.EtfsRegister(DevKey, file, Abi.ETFS_BLK);
        if (e < 0) { why = file + ": cannot open (error " + (-e) + ")"; return 1; }
        string fspec = DevKey;
        if (part != '\0')
        {
            fspec += part;
            if (k.Lstat(fspec, out _) < 0) { why = o.Image + ": no partition '" + part + "'"; return 1; }
        }
        k.Mkdir(KMount, 0x1ed);
        fstype = o.FsType;
        if (fstype == null)
        {
            e = k.DetectFsType(fspec, out fstype, out string? w);
            if (e < 0) { why = o.Image + ": unknown file system: " + w; return 1; }
        }
        bool owners = fstype != "msdos";
        if (owners && (o.Uid != null || o.Gid != null || o.Umask != null))
        {
            why = "uid=, gid= and umask= are for file systems without owners (msdos), not " + fstype;
            return 1;
        }
        int flags = o.ReadOnly ? Abi.MNT_RDONLY : 0;
        if (fstype == "msdos")
        {
            uint mask = 0x1ff & ~(o.Umask ?? 0x12);
            var a = new RumpMsdosfsArgs { uid = o.Uid ?? Libc.Getuid(), gid = o.Gid ?? Libc.Getgid(), mask = mask, dirmask = mask };
            fixed (byte* f = Encoding.UTF8.GetBytes(fspec + "\0"))
            {
                a.fspec = (nint)f;
                e = k.Mount("msdos", KMount, flags, a);
            }
        }
        else e = k.MountAs(fstype!, fspec, KMount, flags);
        if (e == -Abi.EROFS && !o.ReadOnly)
        {
            // A file system the kernel writes no further (ISO 9660, ext3/ext4): served read-only, as mount(8) falls back.
            e = k.MountAs(fstype!, fspec, KMount, Abi.MNT_RDONLY);
            if (e == 0) o.ReadOnly = true;
        }
        if (e < 0) { why = o.Image + ": cannot mount " + fstype + ": error " + (-e) + (k.Panicked ? " (" + k.PanicMessage + ")" : ""); return 1; }
        return 0;
    }

    /// <summary>The root vnode of the mounted file system, referenced (the node table's id 1).</summary>
    private static Vnode? RootVnode(RumpKernel k)
    {
        using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "rumpfuse");
        Span<char> buf = stackalloc char[Namei.PathMax];
        var pb = new PathBuf(buf);
        if (pb.Set(KMount) != 0) return null;
        return Namei.Lookup(ctx.Lwp, ctx.Lwp.Cred, Abi.AT_FDCWD, pb, true, out Vnode? vp) == 0 ? vp : null;
    }

    /// <summary>fuse_session_new with the mount options: fsname, subtype, max_read and what the user asked.</summary>
    private static nint NewSession(Options o, string file, string fstype, nint userdata)
    {
        var mo = new StringBuilder();
        mo.Append("fsname=").Append(Escape(o.FsName ?? file));
        mo.Append(",subtype=").Append(Escape(o.Subtype ?? "rumpfs." + fstype));
        mo.Append(",max_read=").Append(FuseServer.MaxIo);
        if (o.ReadOnly) mo.Append(",ro");
        if (o.AllowOther) mo.Append(",allow_other");
        if (o.DefaultPermissions) mo.Append(",default_permissions");
        string[] argv = o.Debug ? ["rumpfuse", "-o", mo.ToString(), "-d"] : ["rumpfuse", "-o", mo.ToString()];

        // libfuse keeps pointers into argv only during fuse_session_new.
        var handles = new GCHandle[argv.Length];
        byte** av = stackalloc byte*[argv.Length + 1];
        for (int i = 0; i < argv.Length; i++)
        {
            handles[i] = GCHandle.Alloc(Encoding.UTF8.GetBytes(argv[i] + "\0"), GCHandleType.Pinned);
            av[i] = (byte*)handles[i].AddrOfPinnedObject();
        }
        av[argv.Length] = null;
        var fa = new FuseArgs { Argc = argv.Length, Argv = av, Allocated = 0 };
        FuseLowlevelOps ops = Callbacks.Table();
        try { return LibFuse.SessionNew(&fa, &ops, (nuint)sizeof(FuseLowlevelOps), userdata); }
        finally { foreach (GCHandle h in handles) h.Free(); }
    }

    /// <summary>A value inside -o: libfuse's option parser takes '\' as an escape and ',' as a separator.</summary>
    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace(",", "\\,");

    /// <summary>
    /// SIGTERM, SIGINT, SIGHUP: leave the loop and detach the host's mount, so that the loop's
    /// reads of /dev/fuse end (at once, or when the last file open on the mount is closed).
    /// </summary>
    private sealed class Stopper
    {
        private readonly nint _se;
        private readonly string _mnt;
        private int _stopping;

        public Stopper(nint se, string mnt) { _se = se; _mnt = mnt; }

        public void OnSignal(PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            if (Interlocked.Exchange(ref _stopping, 1) != 0) return;
            LibFuse.SessionExit(_se);
            try
            {
                if (Libc.Getuid() == 0) Libc.Umount2(_mnt, Libc.MNT_DETACH);
                else
                {
                    using var p = Process.Start(new ProcessStartInfo("fusermount3", ["-u", "-z", "-q", _mnt]) { UseShellExecute = false });
                    p?.WaitForExit();
                }
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                Console.Error.WriteLine("rumpfuse: could not unmount " + _mnt + ": " + e.Message);
            }
        }
    }
}
