using System;
using System.Text;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// The kernel message buffer: what the kernel prints is kept per instance in a bounded ring and read
/// back through the managed Dmesg() and through sysctl kern.msgbuf the way NetBSD's dmesg reads it
/// (the whole ring, oldest first, NULs where nothing was written).
/// </summary>
public unsafe class MsgBufTests : KernelTest
{
    private static readonly int[] MsgbufMib = { Abi.CTL_KERN, Abi.KERN_MSGBUF };

    /// <summary>kern.msgbuf as dmesg(8) reads it: ask the size, read that much, drop the NULs.</summary>
    private static string SysctlDmesg(RumpKernel k)
    {
        ulong len = 0;
        long r;
        fixed (int* m = MsgbufMib)
            r = k.Syscall(SysNum.__sysctl, [(long)m, 2, 0, (long)&len, 0, 0]);
        Assert.That(r, Is.EqualTo(0), "kern.msgbuf size query");
        Assert.That(len, Is.EqualTo((ulong)k.Kernel.MsgBuf.Size), "kern.msgbuf reports the whole ring's size");
        var buf = new byte[len];
        fixed (int* m = MsgbufMib) fixed (byte* b = buf)
            r = k.Syscall(SysNum.__sysctl, [(long)m, 2, (long)b, (long)&len, 0, 0]);
        Assert.That(r, Is.EqualTo(0), "kern.msgbuf read");
        var sb = new StringBuilder();
        foreach (byte c in buf.AsSpan(0, (int)len)) if (c != 0) sb.Append((char)c);
        return sb.ToString();
    }

    [Test]
    public void PrintfReachesDmesgAndSysctl()
    {
        RumpKernel k = Boot();
        k.Kernel.Printf("hello from the kernel\n");
        Assert.That(k.Dmesg(), Does.EndWith("hello from the kernel\n"), "managed Dmesg()");
        Assert.That(SysctlDmesg(k), Is.EqualTo(k.Dmesg()), "kern.msgbuf without its NULs is the same text");
    }

    [Test]
    public void MsgbufSizeIsAnInt()
    {
        RumpKernel k = Boot();
        int v = 0;
        ulong len = sizeof(int);
        int[] mib = { Abi.CTL_KERN, Abi.KERN_MSGBUFSIZE };
        long r;
        fixed (int* m = mib) r = k.Syscall(SysNum.__sysctl, [(long)m, 2, (long)&v, (long)&len, 0, 0]);
        Assert.That(r, Is.EqualTo(0));
        Assert.That(len, Is.EqualTo((ulong)sizeof(int)));
        Assert.That(v, Is.EqualTo(MsgBuf.DefaultSize));
    }

    [Test]
    public void MsgbufIsReadOnly()
    {
        RumpKernel k = Boot();
        byte[] junk = new byte[16];
        long r;
        fixed (int* m = MsgbufMib) fixed (byte* n = junk)
            r = k.Syscall(SysNum.__sysctl, [(long)m, 2, 0, 0, (long)n, junk.Length]);
        Assert.That(r, Is.EqualTo(-Abi.EPERM), "writing kern.msgbuf");
    }

    [Test]
    public void RingKeepsTheNewestBytes()
    {
        RumpKernel k = Boot();
        int size = k.Kernel.MsgBuf.Size;
        long atBoot = k.Kernel.MsgBuf.Written; // what boot printed (autoconf's mainbus0 line)
        int lines = size / 11 + 100;
        // Aprint: into the buffer, not to the console (unless RUMP_VERBOSE), so the test log stays short.
        for (int i = 0; i < lines; i++) k.Kernel.Aprint("line " + i.ToString("D5") + "\n");
        string text = k.Dmesg();
        Assert.That(text.Length, Is.EqualTo(size), "a full ring keeps exactly Size bytes");
        Assert.That(text, Does.EndWith("line " + (lines - 1).ToString("D5") + "\n"), "the newest line is last");
        Assert.That(text, Does.Not.Contain("line 00000\n"), "the oldest lines were overwritten");
        Assert.That(k.Kernel.MsgBuf.Written - atBoot, Is.EqualTo((long)lines * 11), "bytes printed since the test began");
        Assert.That(SysctlDmesg(k), Is.EqualTo(text), "kern.msgbuf starts at the oldest byte after a wrap");
    }

    [Test]
    public void MessageLongerThanTheRingKeepsItsEnd()
    {
        RumpKernel k = Boot();
        k.Kernel.Aprint("start\n");
        string big = new string('x', MsgBuf.DefaultSize * 2) + "END\n";
        k.Kernel.Aprint(big);
        string text = k.Dmesg();
        Assert.That(text.Length, Is.EqualTo(MsgBuf.DefaultSize));
        Assert.That(text, Does.EndWith("xxEND\n"));
        Assert.That(text, Does.Not.Contain("start"));
    }

    [Test]
    public void EachKernelHasItsOwnBuffer()
    {
        RumpKernel a = Boot(), b = Boot();
        a.Kernel.Printf("only in A\n");
        Assert.That(a.Dmesg(), Does.Contain("only in A"));
        Assert.That(b.Dmesg(), Does.Not.Contain("only in A"), "kernel B's dmesg");
    }

    [Test]
    public void HaltMessageIsLogged()
    {
        RumpKernel k = Boot();
        Assert.That(k.Reboot(Abi.RB_NOSYNC), Is.EqualTo(0));
        Assert.That(k.Dmesg(), Does.Contain("rump kernel halted"), "the halt message, printed by the halting thread's kernel");
    }

    [Test]
    public void PrintingDoesNotAllocate()
    {
        RumpKernel k = Boot();
        // Fill the ring first: growing it to full size is the only allocation printing ever makes.
        k.Kernel.Aprint(new string('w', MsgBuf.DefaultSize));
        string msg = "a message of some length, with a multi-byte character: \u00e9\u20ac, printed many times\n";
        // Warm up (the JIT's tiering allocates on the calling thread while it recompiles a hot loop).
        for (int i = 0; i < 1000; i++) k.Kernel.Aprint(msg);
        long before = GC.GetAllocatedBytesForCurrentThread();
        // Aprint takes the same path as Printf, without writing 1000 lines to the test's console.
        for (int i = 0; i < 1000; i++) k.Kernel.Aprint(msg);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.EqualTo(0), "bytes allocated by 1000 prints of " + Encoding.UTF8.GetByteCount(msg) + " bytes");
        // The console path too, on one short line.
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++) k.Kernel.Printf("msgbuf test: printf allocation check ");
        k.Kernel.Printf("done\n");
        allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.EqualTo(0), "bytes allocated by Printf to the console");
        Assert.That(k.Dmesg(), Does.EndWith(msg + "msgbuf test: printf allocation check msgbuf test: printf allocation check msgbuf test: printf allocation check done\n"));
    }
}
