using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Checks the C# mirrors in Rump.Kern (Abi/Structs.cs) against the generated C header: the sizes
/// and field offsets printed by tests/c/layout_dump.c, whose path is in RUMP_LAYOUT_DUMP.
/// </summary>
[TestFixture]
public sealed class AbiLayoutTests
{
    private sealed record Mirror(Type Type, bool SameSize);

    // C structure -> C# mirror. The dirent mirror is only the fixed header: its size differs.
    private static readonly Dictionary<string, Mirror> Mirrors = new()
    {
        ["rump_timespec"] = new(typeof(RumpTimespec), true),
        ["rump_sigset"] = new(typeof(RumpSigset), true),
        ["rump_pollfd"] = new(typeof(RumpPollfd), true),
        ["rump_timeval"] = new(typeof(RumpTimeval), true),
        ["rump_fd_set"] = new(typeof(RumpFdSet), true),
        ["rump_stat"] = new(typeof(RumpStat), true),
        ["rump_dirent"] = new(typeof(RumpDirentHeader), false),
        ["rump_iovec"] = new(typeof(RumpIovec), true),
        ["rump_fsid"] = new(typeof(RumpFsid), true),
        ["rump_statvfs"] = new(typeof(RumpStatvfs), true),
        ["rump_kinfo_proc2"] = new(typeof(RumpKinfoProc2), true),
        ["rump_kinfo_file"] = new(typeof(RumpKinfoFile), true),
        ["rump_tmpfs_args"] = new(typeof(RumpTmpfsArgs), true),
        ["rump_ufs_args"] = new(typeof(RumpUfsArgs), true),
        ["rump_msdosfs_args"] = new(typeof(RumpMsdosfsArgs), true),
        ["rump_iso_args"] = new(typeof(RumpIsoArgs), true),
        ["rump_sysctlnode_child"] = new(typeof(RumpSysctlnodeChild), true),
        ["rump_sysctlnode_data"] = new(typeof(RumpSysctlnodeData), true),
        ["rump_sysctlnode_un"] = new(typeof(RumpSysctlnodeUn), true),
        ["rump_sysctlnode"] = new(typeof(RumpSysctlnode), true),
        ["rump_usb_ctl_request"] = new(typeof(Rump.Usb.Wire.RumpUsbCtlRequest), true),
        ["rump_usb_config_desc"] = new(typeof(Rump.Usb.Wire.RumpUsbConfigDesc), true),
        ["rump_usb_device_info"] = new(typeof(Rump.Usb.Wire.RumpUsbDeviceInfo), true),
        ["rump_usb_ctl_report_desc"] = new(typeof(Rump.Usb.Wire.RumpUsbCtlReportDesc), true),
        ["rump_usb_ctl_report"] = new(typeof(Rump.Usb.Wire.RumpUsbCtlReport), true),
        ["rump_sockaddr"] = new(typeof(Rump.Net.RumpSockaddr), true),
        ["rump_sockaddr_un"] = new(typeof(Rump.Net.RumpSockaddrUn), true),
        ["rump_msghdr"] = new(typeof(Rump.Net.RumpMsghdr), true),
        ["rump_cmsghdr"] = new(typeof(Rump.Net.RumpCmsghdr), true),
        ["rump_linger"] = new(typeof(Rump.Net.RumpLinger), true),
        ["rump_unpcbid"] = new(typeof(Rump.Net.RumpUnpcbid), true),
        ["rump_sockaddr_in6"] = new(typeof(Rump.Net.RumpSockaddrIn6), true),
        ["rump_sockaddr_in"] = new(typeof(Rump.Net.RumpSockaddrIn), true),
        ["rump_sockaddr_dl"] = new(typeof(Rump.Net.RumpSockaddrDl), true),
        ["rump_ifreq_ifru"] = new(typeof(Rump.Net.RumpIfreqIfru), true),
        ["rump_ifreq"] = new(typeof(Rump.Net.RumpIfreq), true),
        ["rump_ifaliasreq"] = new(typeof(Rump.Net.RumpIfaliasreq), true),
        ["rump_ifconf"] = new(typeof(Rump.Net.RumpIfconf), true),
        ["rump_ifdrv"] = new(typeof(Rump.Net.RumpIfdrv), true),
        ["rump_rt_metrics"] = new(typeof(Rump.Net.RumpRtMetrics), true),
        ["rump_rt_msghdr"] = new(typeof(Rump.Net.RumpRtMsghdr), true),
        ["rump_in6_addrlifetime"] = new(typeof(Rump.Net.RumpIn6Addrlifetime), true),
        ["rump_in6_aliasreq"] = new(typeof(Rump.Net.RumpIn6Aliasreq), true),
    };

    [Test]
    public void StructsMatchTheCHeader()
    {
        var (sizes, offsets) = RunDump();
        var errors = new List<string>();

        foreach (var (cName, mirror) in Mirrors)
        {
            if (!sizes.TryGetValue(cName, out long cSize))
            {
                errors.Add(cName + ": not in the layout dump (add it to tests/c/layout_dump.c)");
                continue;
            }
            if (mirror.SameSize && Marshal.SizeOf(mirror.Type) != cSize)
                errors.Add(cName + ": size expected " + cSize + " (C), got " + Marshal.SizeOf(mirror.Type) + " (" + mirror.Type.Name + ")");

            // Every C# field must exist in C at the same offset...
            foreach (FieldInfo f in mirror.Type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                string key = cName + "." + f.Name;
                long got = Marshal.OffsetOf(mirror.Type, f.Name).ToInt64();
                if (!offsets.TryGetValue(key, out long expected))
                    errors.Add(key + ": C# field of " + mirror.Type.Name + " has no C counterpart in the dump");
                else if (expected != got)
                    errors.Add(key + ": offset expected " + expected + " (C), got " + got + " (" + mirror.Type.Name + ")");
            }
        }

        // ...and every C field must have a C# one (the dirent name is a constant, not a field).
        foreach (var (key, expected) in offsets)
        {
            string cName = key.Substring(0, key.IndexOf('.'));
            string field = key.Substring(cName.Length + 1);
            if (!Mirrors.TryGetValue(cName, out Mirror? mirror))
            {
                errors.Add(key + ": C structure has no C# mirror in AbiLayoutTests.Mirrors");
                continue;
            }
            if (key == "rump_dirent.d_name")
            {
                if (RumpDirentHeader.NameOffset != expected)
                    errors.Add(key + ": offset expected " + expected + " (C), got " + RumpDirentHeader.NameOffset + " (RumpDirentHeader.NameOffset)");
                if (RumpDirentHeader.MaxSize != sizes[cName])
                    errors.Add(cName + ": size expected " + sizes[cName] + " (C), got " + RumpDirentHeader.MaxSize + " (RumpDirentHeader.MaxSize)");
                continue;
            }
            if (mirror.Type.GetField(field, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic) == null)
                errors.Add(key + ": C field missing from " + mirror.Type.Name);
        }

        if (errors.Count > 0)
            Assert.Fail("C# ABI structures differ from <rump/rumpdefs.h>:\n  " + string.Join("\n  ", errors));
    }

    /// <summary>Runs the dump program: "name size" and "name.field offset" lines.</summary>
    private static (Dictionary<string, long> Sizes, Dictionary<string, long> Offsets) RunDump()
    {
        string? path = Environment.GetEnvironmentVariable("RUMP_LAYOUT_DUMP");
        if (string.IsNullOrEmpty(path))
            Assert.Fail("RUMP_LAYOUT_DUMP is not set: the C oracle of this test is the layout_dump program, built by cmake from tests/c/layout_dump.c; "
                        + "run the suite through ctest, which sets it, or set it to build/tests/layout_dump");

        var psi = new ProcessStartInfo(path!) { RedirectStandardOutput = true, UseShellExecute = false };
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + path);
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, path + " failed");

        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] f = line.Split(' ');
            if (f.Length != 2 || !long.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out long n))
            {
                Assert.Fail("unexpected line in layout dump: \"" + line + "\"");
                break;
            }
            (f[0].Contains('.') ? offsets : sizes)[f[0]] = n;
        }
        return (sizes, offsets);
    }
}
