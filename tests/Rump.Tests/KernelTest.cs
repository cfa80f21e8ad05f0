using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Base of the kernel tests: each test boots its own kernels through <see cref="Boot"/>. The hypercall
/// layer's current lwp is per host thread and NUnit runs every test on the same worker thread, so
/// after each test the thread is taken out of every kernel it booted; otherwise the next test's calls
/// would start inside a stale instance. The kernels are not halted here: a halt bug would end the
/// whole run (a panic exits the process), and halting is tested where it is the subject.
/// </summary>
public abstract class KernelTest
{
    private readonly List<RumpKernel> _booted = new();
    private string? _hostWork;

    /// <summary>A host directory of this test's own (made on first use, removed after the test): images and host files.</summary>
    protected string HostWork
    {
        get
        {
            if (_hostWork == null)
            {
                _hostWork = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rump-" + GetType().Name + "-" + Guid.NewGuid().ToString("N")[..12]);
                System.IO.Directory.CreateDirectory(_hostWork);
            }
            return _hostWork;
        }
    }

    protected RumpKernel Boot(int ncpu = 0, string? hostname = null)
    {
        RumpKernel k = RumpKernel.Boot(ncpu, hostname);
        _booted.Add(k);
        return k;
    }

    [TearDown]
    public void LeaveKernels()
    {
        foreach (RumpKernel k in _booted) k.LwprocSwitch(null);
        _booted.Clear();
        if (_hostWork != null)
        {
            try { System.IO.Directory.Delete(_hostWork, recursive: true); } catch (System.IO.IOException) { }
            _hostWork = null;
        }
    }

    /// <summary>Makes a new process (empty descriptor table) with the given ids and makes it the thread's context.</summary>
    protected static Lwp BecomeUser(RumpKernel k, uint uid, uint gid)
    {
        // From the default process (root): a fresh rfork inherits root's credentials.
        k.LwprocSwitch(null);
        Assert.That(k.LwprocRfork(Kernel.RFCFDG), Is.EqualTo(0), "rfork");
        Assert.That(k.Setgid(gid), Is.EqualTo(0), "setgid as root");
        Assert.That(k.Setuid(uid), Is.EqualTo(0), "setuid as root");
        return k.Curlwp();
    }

    /// <summary>Back to the default process (root) on this thread.</summary>
    protected static void BecomeRoot(RumpKernel k) => k.LwprocSwitch(null);

    protected static void WriteFile(RumpKernel k, string path, string contents, uint mode = 0x1a4)
    {
        int fd = k.Open(path, Abi.O_WRONLY | Abi.O_CREAT | Abi.O_TRUNC, mode);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open(" + path + ", O_CREAT)");
        byte[] b = Encoding.UTF8.GetBytes(contents);
        Assert.That(k.Write(fd, b), Is.EqualTo(b.Length), "write(" + path + ")");
        Assert.That(k.Close(fd), Is.EqualTo(0));
    }

    protected static string ReadFile(RumpKernel k, string path)
    {
        int fd = k.Open(path, Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open(" + path + ")");
        var buf = new byte[65536];
        long n = k.Read(fd, buf);
        k.Close(fd);
        Assert.That(n, Is.GreaterThanOrEqualTo(0), "read(" + path + ")");
        return Encoding.UTF8.GetString(buf, 0, (int)n);
    }

    protected static ulong Ino(RumpKernel k, string path)
    {
        Assert.That(k.Stat(path, out RumpStat st), Is.EqualTo(0), "stat(" + path + ")");
        return st.st_ino;
    }

    protected static RumpStat StatOk(RumpKernel k, string path)
    {
        Assert.That(k.Stat(path, out RumpStat st), Is.EqualTo(0), "stat(" + path + ")");
        return st;
    }

    /// <summary>getdents(2) once into a buffer of <paramref name="bufSize"/> bytes; the names it returned.</summary>
    protected static unsafe long Getdents(RumpKernel k, int fd, int bufSize, List<(string name, ulong ino, byte type)> into)
    {
        byte[] buf = new byte[bufSize];
        long n;
        fixed (byte* b = buf) n = k.Syscall(SysNum.getdents, [fd, (long)b, bufSize]);
        if (n > 0) ParseDirents(buf.AsSpan(0, (int)n), into);
        return n;
    }

    /// <summary>NetBSD dirents (amd64): d_fileno u64, d_reclen u16, d_namlen u16, d_type u8, d_name.</summary>
    protected static void ParseDirents(ReadOnlySpan<byte> s, List<(string name, ulong ino, byte type)> into)
    {
        while (s.Length > 0)
        {
            Assert.That(s.Length, Is.GreaterThanOrEqualTo(RumpDirentHeader.NameOffset), "truncated dirent header");
            ulong ino = BinaryPrimitives.ReadUInt64LittleEndian(s);
            int reclen = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(8));
            int namlen = BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(10));
            Assert.That(reclen, Is.EqualTo(RumpDirentHeader.RecordLength(namlen)), "d_reclen");
            Assert.That(reclen, Is.LessThanOrEqualTo(s.Length), "record past the returned length");
            into.Add((Encoding.Latin1.GetString(s.Slice(RumpDirentHeader.NameOffset, namlen)), ino, s[12]));
            s = s.Slice(reclen);
        }
    }

    /// <summary>Every name in a directory, by getdents until it returns 0.</summary>
    protected static List<(string name, ulong ino, byte type)> ListDir(RumpKernel k, string path, int bufSize = 8192)
    {
        int fd = k.Open(path, Abi.O_RDONLY | Abi.O_DIRECTORY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open(" + path + ", O_DIRECTORY)");
        var all = new List<(string, ulong, byte)>();
        long n;
        while ((n = Getdents(k, fd, bufSize, all)) > 0) { }
        k.Close(fd);
        Assert.That(n, Is.EqualTo(0), "getdents(" + path + ")");
        return all;
    }

    /// <summary>Runs <paramref name="body"/> on a new host thread; false if it did not finish in time.</summary>
    protected static bool RunWithin(TimeSpan limit, Action body, out Exception? error)
    {
        Exception? caught = null;
        var t = new Thread(() => { try { body(); } catch (Exception e) { caught = e; } }) { IsBackground = true };
        t.Start();
        bool done = t.Join(limit);
        error = caught;
        return done;
    }

    /// <summary>
    /// Runs <paramref name="f"/> in <paramref name="k"/> on a fresh host thread with a kernel context
    /// of its own (drivers' transmit paths need one), whatever context this thread has; an
    /// exception in it fails the test.
    /// </summary>
    protected internal static T In<T>(RumpKernel k, Func<T> f)
    {
        T r = default!;
        Exception? ex = null;
        var t = new Thread(() =>
        {
            try
            {
                using var ctx = k.Kernel.EnterTemporary(k.Kernel.Proc0, "test");
                r = f();
            }
            catch (Exception e) { ex = e; }
        });
        t.Start();
        t.Join();
        if (ex != null) throw new AssertionException("in the kernel: " + ex);
        return r;
    }

    protected static readonly TimeSpan Generous = TimeSpan.FromSeconds(10);

    /// <summary>Waits until <paramref name="cond"/> holds (polling it) or the generous limit passes.</summary>
    protected internal static bool Eventually(Func<bool> cond)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!cond())
        {
            if (sw.Elapsed > Generous) return false;
            Thread.Sleep(1);
        }
        return true;
    }

    /// <summary>Waits until <paramref name="cond"/> holds (as <see cref="Eventually"/>) and fails saying what it waited for otherwise.</summary>
    protected static void WaitFor(Func<bool> cond, string what) => Assert.That(Eventually(cond), Is.True, "waited in vain for: " + what);

    /// <summary>As <see cref="WaitFor(Func{bool}, string)"/>, the message made only when it fails.</summary>
    protected static void WaitFor(Func<bool> cond, Func<string> what) => Assert.That(Eventually(cond), Is.True, () => "waited in vain for: " + what());

    /// <summary>Waits until <paramref name="n"/> client lwps sleep in the kernel (on a lock or condition variable): the real "it has blocked".</summary>
    protected static void WaitForSleepers(Kernel k, int n, string who)
        => Assert.That(Eventually(() => k.SleepingLwps >= n), Is.True, who + ": expected " + n + " lwps asleep in the kernel, got " + k.SleepingLwps);
}
