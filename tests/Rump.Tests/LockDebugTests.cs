#if LOCKDEBUG
using System;
using System.Threading;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Lock debugging (built only in the LockDebug configuration, which the test suite runs as
/// nunit.lockdebug): taking a held mutex again, releasing one not held, and two lock classes taken
/// in both orders each panic the kernel, without any thread having to deadlock first.
/// </summary>
public class LockDebugTests : KernelTest
{
    [Test]
    public void RecursiveEnterPanics()
    {
        Kernel k = Boot(ncpu: 1).Kernel;
        var m = new KMutex(k);
        using (k.EnterTemporary(k.DefaultProc, "t"))
        {
            m.Enter();
            Assert.That(m.TryEnter(), Is.False, "TryEnter of a mutex the lwp holds just fails");
            var e = Assert.Throws<KernelPanicException>(() => m.Enter());
            Assert.That(e!.Message, Does.Contain("locking against myself"));
        }
        Assert.That(k.IsPanicked, Is.True);
    }

    [Test]
    public void ReleasingALockNotHeldPanics()
    {
        Kernel k = Boot(ncpu: 1).Kernel;
        var rw = new KRwLock(k);
        using (k.EnterTemporary(k.DefaultProc, "t"))
        {
            var e = Assert.Throws<KernelPanicException>(() => rw.Exit());
            Assert.That(e!.Message, Does.Contain("not held"));
        }
    }

    [Test]
    public void BothOrdersOfTwoLockClassesPanicWithoutADeadlock()
    {
        Kernel k = Boot(ncpu: 2).Kernel;
        var a = new KMutex(k);
        var b = new KRwLock(k);
        // One thread, one after the other: never a deadlock, but the second order allows one.
        using (k.EnterTemporary(k.DefaultProc, "t"))
        {
            a.Enter(); b.EnterRead(); b.Exit(); a.Exit();
            b.EnterWrite();
            var e = Assert.Throws<KernelPanicException>(() => a.Enter());
            Assert.That(e!.Message, Does.Contain("lock order reversal"));
            Assert.That(e.Message, Does.Contain("LockDebugTests.cs"), "the message names the lock classes by where they were made");
        }
    }
}
#endif
