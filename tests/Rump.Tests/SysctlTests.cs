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
