using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Rump.Bench.Native;

namespace Rump.Bench;

/// <summary>
/// One side of a benchmark pair: a kernel's entry points, open(2) flags and the benchmark's
/// files under its root. The operations in <see cref="Ops"/> take a Kern, so the host and the
/// rump side of a pair run the same code and differ only in the function pointers they call.
///
/// Both sides use the same path, <c>/dev/shm/rump-bench-PID/...</c>: four components to a file,
/// and two mount crossings on the way (into /dev, then into /dev/shm). On the host those are the
/// usual devtmpfs and tmpfs; in the rump kernel two tmpfs are mounted there for the benchmark.
/// </summary>
internal sealed unsafe class Kern
{
    public const int Size4K = 4096, Size1M = 1 << 20, DirEntries = 1000, MaxThreads = 4;
    public const long Size256M = 256L << 20;

    public readonly string Name;
    public readonly string Root;

    /// <summary>A call that does not enter the kernel (getpagesize; rump_getversion): the call overhead alone.</summary>
    public delegate* unmanaged<int> NullCall;
    /// <summary>getpid with one argument: syscall(SYS_getpid) on the host; rump_sys_getpid ignores it.</summary>
    public delegate* unmanaged<long, int> Getpid;
    public long GetpidArg;
    public delegate* unmanaged<byte*, int, uint, int> Open;
    public delegate* unmanaged<int, int> Close;
    public delegate* unmanaged<int, byte*, nuint, nint> Read;
    public delegate* unmanaged<int, byte*, nuint, nint> Write;
    public delegate* unmanaged<int, byte*, nuint, long, nint> Pread;
    public delegate* unmanaged<int, byte*, nuint, long, nint> Pwrite;
    public delegate* unmanaged<byte*, byte*, int> Stat;
    public delegate* unmanaged<int, byte*, int> Fstat;
    public delegate* unmanaged<byte*, int> Unlink;
    public delegate* unmanaged<byte*, uint, int> Mkdir;
    public delegate* unmanaged<byte*, int> Rmdir;
    /// <summary>getdents (rump) or getdents64 (host); both results fit an int.</summary>
    public delegate* unmanaged<int, byte*, nuint, int> Getdents;
    public int ORdonly, ORdwr, OCreat, OTrunc, OExcl, ODirectory;

    // NUL-terminated paths in native memory, made once.
    public readonly byte* Dir, File4K, File1M, NewFile, NewDir, Dir1000, Big;
    public readonly byte*[] ScaleFile = new byte*[MaxThreads];
    /// <summary>Descriptors kept open for fstat and pread/pwrite.</summary>
    public int Fd4K = -1, Fd1M = -1;
    /// <summary>A 1 MiB buffer for the single-threaded benchmarks and a 4 KiB one per scaling thread.</summary>
    public readonly byte* Buf = Alloc(Size1M);
    public readonly byte*[] ThreadBuf = new byte*[MaxThreads];
    public readonly byte* StatBuf = Alloc(512);

    private Kern(string name, string root)
    {
        Name = name;
        Root = root;
        Dir = Z(root);
        File4K = Z(root + "/file4k");
        File1M = Z(root + "/file1m");
        NewFile = Z(root + "/new");
        NewDir = Z(root + "/newdir");
        Dir1000 = Z(root + "/dir1000");
        Big = Z(root + "/big");
        for (int i = 0; i < MaxThreads; i++)
        {
            ScaleFile[i] = Z(root + "/scale" + i);
            ThreadBuf[i] = Alloc(Size4K);
        }
        new Span<byte>(Buf, Size1M).Fill(0x5a);
    }

    private static Kern? s_host, s_rump;

    /// <summary>The benchmark's directory on both sides.</summary>
    public static string BenchRoot => "/dev/shm/rump-bench-" + Environment.ProcessId;

    /// <summary>The host kernel through libc, its files in a fresh directory under /dev/shm.</summary>
    public static Kern Host
    {
        get
        {
            if (s_host != null) return s_host;
            Libc.Load();
            var k = new Kern("host", BenchRoot)
            {
                NullCall = Libc.getpagesize,
                Getpid = (delegate* unmanaged<long, int>)Libc.syscall0, GetpidArg = Libc.SYS_getpid,
                Open = Libc.open, Close = Libc.close, Read = Libc.read, Write = Libc.write,
                Pread = Libc.pread, Pwrite = Libc.pwrite, Stat = Libc.stat, Fstat = Libc.fstat,
                Unlink = Libc.unlink, Mkdir = Libc.mkdir, Rmdir = Libc.rmdir,
                Getdents = (delegate* unmanaged<int, byte*, nuint, int>)Libc.getdents64,
                ORdonly = Libc.O_RDONLY, ORdwr = Libc.O_RDWR, OCreat = Libc.O_CREAT, OTrunc = Libc.O_TRUNC,
                OExcl = Libc.O_EXCL, ODirectory = Libc.O_DIRECTORY,
            };
            k.Populate();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => k.RemoveHostTree();
            return s_host = k;
        }
    }

    /// <summary>The rump kernel through librump.so's C ABI, booted once, with tmpfs mounted on /dev and /dev/shm as the host has.</summary>
    public static Kern Rump
    {
        get
        {
            if (s_rump != null) return s_rump;
            RumpLib.Load();
            int e = RumpLib.init();
            if (e != 0) throw new InvalidOperationException("rump_init failed: errno " + e);
            MountTmpfs("/dev", 0x1ed);      // 0755, as devtmpfs
            MountTmpfs("/dev/shm", 0x3ff);  // 01777, as the host's /dev/shm
            var k = new Kern("rump", BenchRoot)
            {
                NullCall = RumpLib.getversion,
                Getpid = (delegate* unmanaged<long, int>)RumpLib.getpid, GetpidArg = 0,
                Open = RumpLib.open, Close = RumpLib.close, Read = RumpLib.read, Write = RumpLib.write,
                Pread = RumpLib.pread, Pwrite = RumpLib.pwrite, Stat = RumpLib.stat, Fstat = RumpLib.fstat,
                Unlink = RumpLib.unlink, Mkdir = RumpLib.mkdir, Rmdir = RumpLib.rmdir,
                Getdents = RumpLib.getdents,
                ORdonly = RumpLib.O_RDONLY, ORdwr = RumpLib.O_RDWR, OCreat = RumpLib.O_CREAT, OTrunc = RumpLib.O_TRUNC,
                OExcl = RumpLib.O_EXCL, ODirectory = RumpLib.O_DIRECTORY,
            };
            k.Populate();
            return s_rump = k;
        }
    }

    /// <summary>Mounts a tmpfs on <paramref name="path"/> in the rump kernel (made first if missing).</summary>
    private static void MountTmpfs(string path, uint mode)
    {
        byte* p = Z(path), type = Z("tmpfs");
        RumpLib.mkdir(p, 0x1ed); // may exist already
        var a = new RumpLib.TmpfsArgs { Version = RumpLib.TMPFS_ARGS_VERSION, RootMode = mode };
        Check(RumpLib.mount(type, p, 0, &a, (nuint)sizeof(RumpLib.TmpfsArgs)), "mount tmpfs on " + path);
        NativeMemory.Free(p);
        NativeMemory.Free(type);
    }

    /// <summary>The files every benchmark expects: made once per process.</summary>
    private void Populate()
    {
        Check(Mkdir(Dir, 0x1ed), "mkdir " + Root);
        MakeFile(File4K, Size4K);
        MakeFile(File1M, Size1M);
        for (int i = 0; i < MaxThreads; i++) MakeFile(ScaleFile[i], Size4K);
        Check(Mkdir(Dir1000, 0x1ed), "mkdir dir1000");
        for (int i = 0; i < DirEntries; i++)
        {
            byte* p = Z(Root + "/dir1000/entry-" + i.ToString("D4"));
            int fd = Open(p, OCreat | ORdwr | OExcl, 0x1a4);
            Check(fd, "create dir1000 entry");
            Close(fd);
            NativeMemory.Free(p);
        }
        Fd4K = Open(File4K, ORdwr, 0);
        Check(Fd4K, "open file4k");
        Fd1M = Open(File1M, ORdwr, 0);
        Check(Fd1M, "open file1m");
    }

    private void MakeFile(byte* path, int size)
    {
        int fd = Open(path, OCreat | OTrunc | ORdwr, 0x1a4);
        Check(fd, "create file");
        Check((int)Pwrite(fd, Buf, (nuint)size, 0) == size ? 0 : -1, "fill file");
        Close(fd);
    }

    private void RemoveHostTree()
    {
        try { System.IO.Directory.Delete(Root, recursive: true); } catch (System.IO.IOException) { }
    }

    public static void Check(int r, string what)
    {
        if (r < 0) Fail(what);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Fail(string what) =>
        throw new InvalidOperationException(what + " failed (errno " + Marshal.GetLastSystemError() + ")");

    private static byte* Alloc(int n) => (byte*)NativeMemory.AlignedAlloc((nuint)n, 4096);

    private static byte* Z(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s + "\0");
        byte* p = (byte*)NativeMemory.Alloc((nuint)b.Length);
        b.CopyTo(new Span<byte>(p, b.Length));
        return p;
    }
}
