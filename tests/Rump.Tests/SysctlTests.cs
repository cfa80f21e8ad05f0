using System;
using System.Text;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>__sysctl(2): reading kern.* strings, writing kern.hostname (root only), and the errors.</summary>
public unsafe class SysctlTests : KernelTest
{
    private static readonly int[] Hostname = { Abi.CTL_KERN, Abi.KERN_HOSTNAME };

    /// <summary>A raw __sysctl call: returns the result, with the length the kernel reports.</summary>
    private static long Sysctl(RumpKernel k, int[] mib, byte[]? oldBuf, ref ulong oldLen, byte[]? newBuf)
    {
        fixed (int* m = mib) fixed (byte* o = oldBuf) fixed (byte* n = newBuf) fixed (ulong* ol = &oldLen)
            return k.Syscall(SysNum.__sysctl, [(long)m, mib.Length, (long)o, oldBuf == null ? 0 : (long)ol, (long)n, newBuf?.Length ?? 0]);
    }

    private static long SetHostname(RumpKernel k, string name)
    {
        ulong none = 0;
        return Sysctl(k, Hostname, null, ref none, Encoding.UTF8.GetBytes(name + "\0"));
    }

    /// <summary>__sysctl with a size pointer always given (a size query has no buffer).</summary>
    private static long SysctlSized(RumpKernel k, int[] mib, byte[]? oldBuf, ref ulong oldLen)
    {
        fixed (int* m = mib) fixed (byte* o = oldBuf) fixed (ulong* ol = &oldLen)
            return k.Syscall(SysNum.__sysctl, [(long)m, mib.Length, (long)o, (long)ol, 0, 0]);
    }

    private static int[] Proc2(int op, int arg, int size, int count) => [Abi.CTL_KERN, Abi.KERN_PROC2, op, arg, size, count];

    /// <summary>kern.proc2 as NetBSD's ps asks it: the size (with room for KERN_PROCSLOP more), then kinfo_proc2 records.</summary>
    [Test]
    public void Proc2ListsTheProcesses()
    {
        RumpKernel k = Boot();
        int size = sizeof(RumpKinfoProc2);
        Assert.That(size, Is.EqualTo(680), "sizeof(struct kinfo_proc2) on amd64");
        Assert.That(k.Kernel.LwprocRfork(Kernel.RFCFDG, "client-a"), Is.EqualTo(0));
        int a = k.Getpid();
        Assert.That(k.Kernel.LwprocRfork(Kernel.RFFDG), Is.EqualTo(0), "a child of client-a, named after it");
        int b = k.Getpid();

        ulong len = 0;
        Assert.That(SysctlSized(k, Proc2(Abi.KERN_PROC_ALL, 0, size, 0), null, ref len), Is.EqualTo(0));
        Assert.That(len, Is.EqualTo((ulong)((4 + Abi.KERN_PROCSLOP) * size)), "pids 0, 1, a, b and the slop");

        byte[] buf = new byte[(int)len];
        Assert.That(SysctlSized(k, Proc2(Abi.KERN_PROC_ALL, 0, size, 100), buf, ref len), Is.EqualTo(0));
        Assert.That(len, Is.EqualTo((ulong)(4 * size)), "four records");
        var byPid = new System.Collections.Generic.Dictionary<int, RumpKinfoProc2>();
        fixed (byte* p = buf)
            for (int i = 0; i < 4; i++) { RumpKinfoProc2 r = ((RumpKinfoProc2*)p)[i]; byPid[r.p_pid] = r; }
        Assert.That(byPid.Keys, Is.EquivalentTo(new[] { 0, 1, a, b }));
        RumpKinfoProc2 ra = byPid[a], rb = byPid[b];
        Assert.That(ra.p_ppid, Is.EqualTo(1));
        Assert.That(rb.p_ppid, Is.EqualTo(a));
        Assert.That(Encoding.UTF8.GetString(ra.p_comm, 24).TrimEnd('\0'), Is.EqualTo("client-a"));
        Assert.That(Encoding.UTF8.GetString(rb.p_comm, 24).TrimEnd('\0'), Is.EqualTo("client-a"), "a fork keeps the name");
        RumpKinfoProc2 r1 = byPid[1];
        Assert.That(Encoding.UTF8.GetString(r1.p_comm, 24).TrimEnd('\0'), Is.EqualTo("init"));
        Assert.That(rb.p_uid, Is.EqualTo(0u));
        Assert.That(rb.p_nlwps, Is.EqualTo(1ul));
        Assert.That(rb.p_realstat, Is.EqualTo(2ul), "SACTIVE");
        Assert.That(rb.p_cpuid, Is.EqualTo(ulong.MaxValue), "KI_NOCPU");

        // One pid; a shorter element (the first bytes of each record); a short buffer: what fits and ENOMEM.
        len = (ulong)size;
        Assert.That(SysctlSized(k, Proc2(Abi.KERN_PROC_PID, a, size, 1), buf, ref len), Is.EqualTo(0));
        Assert.That(len, Is.EqualTo((ulong)size));
        fixed (byte* p = buf) Assert.That(((RumpKinfoProc2*)p)->p_pid, Is.EqualTo(a));
        len = 2 * 128;
        Assert.That(SysctlSized(k, Proc2(Abi.KERN_PROC_ALL, 0, 128, 100), buf, ref len), Is.EqualTo(-Abi.ENOMEM));
        Assert.That(len, Is.EqualTo(256ul), "two 128-byte records fitted");
        Assert.That(BitConverter.ToInt32(buf, 128 + 116), Is.AnyOf(0, 1, a, b), "p_pid at offset 116 of the second");
        // Bad names: a level missing, an unknown op, a size of 0; no writing.
        len = 0;
        Assert.That(SysctlSized(k, [Abi.CTL_KERN, Abi.KERN_PROC2, 0, 0, size], null, ref len), Is.EqualTo(-Abi.EINVAL));
        Assert.That(SysctlSized(k, Proc2(99, 0, size, 1), null, ref len), Is.EqualTo(-Abi.EINVAL));
        Assert.That(SysctlSized(k, Proc2(Abi.KERN_PROC_ALL, 0, 0, 1), null, ref len), Is.EqualTo(-Abi.EINVAL));
    }

    /// <summary>kern.file2 by pid: each open descriptor as a kinfo_file record (rumpctl ps counts them by the size query).</summary>
    [Test]
    public void File2ListsADescriptorsOfAProcess()
    {
        RumpKernel k = Boot();
        int size = sizeof(RumpKinfoFile);
        Assert.That(size, Is.EqualTo(120), "sizeof(struct kinfo_file) on amd64");
        Assert.That(k.Kernel.LwprocRfork(Kernel.RFCFDG, "files"), Is.EqualTo(0));
        int me = k.Getpid();
        int[] fds = new int[2];
        fixed (int* f = fds) Assert.That(k.Syscall(SysNum.pipe2, [(long)f, 0]), Is.EqualTo(0));

        int[] mib = [Abi.CTL_KERN, Abi.KERN_FILE2, Abi.KERN_FILE_BYPID, me, size, 0];
        ulong len = 0;
        Assert.That(SysctlSized(k, mib, null, ref len), Is.EqualTo(0));
        Assert.That(len, Is.EqualTo((ulong)((2 + Abi.KERN_FILESLOP) * size)), "two descriptors and the slop");
        byte[] buf = new byte[(int)len];
        mib[5] = 10;
        Assert.That(SysctlSized(k, mib, buf, ref len), Is.EqualTo(0));
        Assert.That(len, Is.EqualTo((ulong)(2 * size)));
        fixed (byte* p = buf)
            for (int i = 0; i < 2; i++)
            {
                RumpKinfoFile r = ((RumpKinfoFile*)p)[i];
                Assert.That(r.ki_pid, Is.EqualTo((uint)me));
                Assert.That(r.ki_fd, Is.EqualTo(fds[i]));
                Assert.That(r.ki_ftype, Is.EqualTo((uint)Abi.DTYPE_PIPE));
            }
        mib[3] = 29999;
        Assert.That(SysctlSized(k, mib, null, ref len), Is.EqualTo(-Abi.ESRCH), "no such process");
        mib[2] = Abi.KERN_FILE_BYFILE;
        Assert.That(SysctlSized(k, mib, null, ref len), Is.EqualTo(-Abi.EINVAL), "only by pid");
    }

    [Test]
    public void KernStrings()
    {
        RumpKernel k = Boot(hostname: "testhost");
        Assert.That(k.SysctlString(Hostname), Is.EqualTo("testhost"));
        Assert.That(k.SysctlString(new[] { Abi.CTL_KERN, Abi.KERN_OSTYPE }), Is.EqualTo("NetBSD"));
        Assert.That(k.SysctlString(new[] { Abi.CTL_KERN, Abi.KERN_OSRELEASE }), Is.Not.Null.And.Not.Empty);
        Assert.That(k.Kernel.Sysctl.GetString("kern.hostname"), Is.EqualTo("testhost"), "by dotted name");
    }

    [Test]
    public void RootWritesHostname()
    {
        RumpKernel k = Boot(hostname: "before");
        Assert.That(SetHostname(k, "after"), Is.EqualTo(0));
        Assert.That(k.SysctlString(Hostname), Is.EqualTo("after"));
        Assert.That(SetHostname(k, new string('h', 300)), Is.EqualTo(-Abi.EINVAL), "a hostname longer than the node allows");
        Assert.That(k.SysctlString(Hostname), Is.EqualTo("after"));
    }

    [Test]
    public void NonRootWritingHostnameIsEperm()
    {
        RumpKernel k = Boot(hostname: "before");
        BecomeUser(k, 1000, 1000);
        Assert.That(SetHostname(k, "evil"), Is.EqualTo(-Abi.EPERM));
        Assert.That(k.SysctlString(Hostname), Is.EqualTo("before"), "non-root can still read it");
    }

    [Test]
    public void ReadOnlyNodeIsEperm()
    {
        RumpKernel k = Boot();
        ulong none = 0;
        Assert.That(Sysctl(k, new[] { Abi.CTL_KERN, Abi.KERN_OSTYPE }, null, ref none, "Linux\0"u8.ToArray()), Is.EqualTo(-Abi.EPERM));
        Assert.That(k.SysctlString(new[] { Abi.CTL_KERN, Abi.KERN_OSTYPE }), Is.EqualTo("NetBSD"));
    }

    [Test]
    public void UnknownMibIsEnoent()
    {
        RumpKernel k = Boot();
        ulong len = 64;
        var buf = new byte[64];
        Assert.That(Sysctl(k, new[] { Abi.CTL_KERN, 9999 }, buf, ref len, null), Is.EqualTo(-Abi.ENOENT));
        Assert.That(Sysctl(k, new[] { 9999 }, buf, ref len, null), Is.EqualTo(-Abi.ENOENT));
        // NetBSD's sysctl_locate: walking below a leaf is ENOTDIR, and a directory cannot be read (EINVAL).
        Assert.That(Sysctl(k, new[] { Abi.CTL_KERN, Abi.KERN_HOSTNAME, 1 }, buf, ref len, null), Is.EqualTo(-Abi.ENOTDIR), "a MIB below a leaf");
        Assert.That(Sysctl(k, new[] { Abi.CTL_KERN }, buf, ref len, null), Is.EqualTo(-Abi.EINVAL), "reading a directory");
        Assert.That(k.SysctlString(new[] { Abi.CTL_KERN, 9999 }), Is.Null);
    }

    [Test]
    public void ShortBufferIsEnomemWithTheNeededLength()
    {
        RumpKernel k = Boot(hostname: "a-longer-hostname");
        var buf = new byte[4];
        ulong len = 4;
        Assert.That(Sysctl(k, Hostname, buf, ref len, null), Is.EqualTo(-Abi.ENOMEM));
        Assert.That(len, Is.EqualTo((ulong)"a-longer-hostname".Length + 1), "oldlen after ENOMEM: the size needed");
    }
}
