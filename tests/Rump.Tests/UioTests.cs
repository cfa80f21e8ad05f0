using System;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// uiomove's direction is the uio's, whatever the type of the kernel span: a writable span of
/// data being read out (a staging buffer, DMA memory) goes to the caller and is not overwritten by
/// the caller's buffer (the bug this guards against: a read that returned the reader's own zeros).
/// </summary>
public unsafe class UioTests
{
    [Test]
    public void ReadMovesAWritableSpanOutToTheCaller()
    {
        byte[] kernel = { 1, 2, 3, 4 };
        byte[] user = new byte[4];
        fixed (byte* u = user)
        {
            Span<IoVec> iov = stackalloc IoVec[1];
            iov[0] = new IoVec { Base = new UserPtr((nint)u), Len = user.Length };
            var uio = new Uio(new LocalVmspace(), iov, 0, isRead: true);
            Assert.That(uio.Move(kernel.AsSpan()), Is.EqualTo(0));
            Assert.That(uio.Resid, Is.EqualTo(0L));
        }
        Assert.That(user, Is.EqualTo(new byte[] { 1, 2, 3, 4 }), "the caller's buffer after a read");
        Assert.That(kernel, Is.EqualTo(new byte[] { 1, 2, 3, 4 }), "the kernel's data, untouched by a read");
    }

    [Test]
    public void WriteMovesTheCallersBytesIntoTheKernel_AndReadOnlyDataCannotTakeThem()
    {
        byte[] user = { 9, 8, 7 };
        byte[] kernel = new byte[3];
        fixed (byte* u = user)
        {
            Span<IoVec> iov = stackalloc IoVec[1];
            iov[0] = new IoVec { Base = new UserPtr((nint)u), Len = user.Length };
            var uio = new Uio(new LocalVmspace(), iov, 0, isRead: false);
            Assert.That(uio.Move((ReadOnlySpan<byte>)kernel), Is.EqualTo(Abi.EINVAL), "read-only kernel data as a write's target");
            Assert.That(uio.Resid, Is.EqualTo(3L), "nothing moved by the refused call");
            Assert.That(uio.Move(kernel.AsSpan()), Is.EqualTo(0));
        }
        Assert.That(kernel, Is.EqualTo(new byte[] { 9, 8, 7 }), "the kernel's buffer after a write");
    }
}
