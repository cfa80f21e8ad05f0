using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

public class SmokeTests
{
    [Test]
    public void BootsAndAnswersGetpid()
    {
        var k = RumpKernel.Boot();
        Assert.That(k.Getpid(), Is.EqualTo(1));
        Assert.That(k.Mkdir("/a", 0x1ed), Is.EqualTo(0));
        Assert.That(k.Stat("/a", out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFDIR));
    }
}
