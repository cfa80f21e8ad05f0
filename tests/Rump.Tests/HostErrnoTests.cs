using System;
using System.Collections.Generic;
using System.Diagnostics;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// The C ABI sets errno to the host's value for the kernel's NetBSD error (the hypervisor stores
/// rumpuser_seterrno's value unchanged, as NetBSD's does). Its table (rumpdefs.master %%hosterrno)
/// must be the host's &lt;errno.h&gt;: every name the host has maps to the host's value, every other
/// NetBSD error to EINVAL. The host's values come from tests/c/errno_dump.c.
/// </summary>
public class HostErrnoTests
{
    private static Dictionary<string, int> HostValues()
    {
        string? path = Environment.GetEnvironmentVariable("RUMP_ERRNO_DUMP");
        if (string.IsNullOrEmpty(path))
            Assert.Fail("RUMP_ERRNO_DUMP is not set: ctest points it at the built tests/c/errno_dump.c");
        var psi = new ProcessStartInfo(path!) { RedirectStandardOutput = true, UseShellExecute = false };
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + path);
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, path + " failed");
        var host = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ');
            host[f[0]] = int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        return host;
    }

    [Test]
    public void TheCAbisErrnoTableIsTheHosts()
    {
        Dictionary<string, int> host = HostValues();
        var errors = new List<string>();
        var table = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, value) in HostErrno.Table) table[name] = value;
        foreach (var (name, value) in host)
        {
            if (!table.TryGetValue(name, out int t)) errors.Add(name + ": the host has it (" + value + "), the table does not");
            else if (t != value) errors.Add(name + ": table " + t + ", host " + value);
        }
        foreach (string name in table.Keys)
            if (!host.ContainsKey(name)) errors.Add(name + ": in the table, but the host has no such errno");
        if (errors.Count > 0) Assert.Fail("rumpdefs.master's %%hosterrno differs from the host's <errno.h>:\n  " + string.Join("\n  ", errors));
    }

    [TestCase(Abi.ENOENT, "ENOENT")]
    [TestCase(Abi.EAGAIN, "EAGAIN")]
    [TestCase(Abi.ENOTEMPTY, "ENOTEMPTY")]
    [TestCase(Abi.ELOOP, "ELOOP")]
    [TestCase(Abi.ENAMETOOLONG, "ENAMETOOLONG")]
    [TestCase(Abi.ETIMEDOUT, "ETIMEDOUT")]
    [TestCase(Abi.EOPNOTSUPP, "EOPNOTSUPP")]
    public void NetbsdErrorsBecomeTheHostsOfTheSameName(int netbsd, string name)
    {
        Dictionary<string, int> host = HostValues();
        Assert.That(HostErrno.FromNetbsd(netbsd), Is.EqualTo(host[name]), name + ": NetBSD " + netbsd);
    }

    [Test]
    public void ErrorsTheHostLacksBecomeEinval()
    {
        Dictionary<string, int> host = HostValues();
        Assert.That(host.ContainsKey("EFTYPE"), Is.False, "this test assumes a host without EFTYPE (Linux)");
        Assert.That(HostErrno.FromNetbsd(Abi.EFTYPE), Is.EqualTo(host["EINVAL"]), "EFTYPE");
        Assert.That(HostErrno.FromNetbsd(0), Is.EqualTo(0));
        Assert.That(HostErrno.FromNetbsd(9999), Is.EqualTo(host["EINVAL"]), "an unknown error");
    }
}
