using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using NUnit.Framework;

namespace Rump.Tests;

/// <summary>
/// The real tools the tests use as oracles. CI installs them (tools/setup-debian.sh); a missing
/// one means a broken set-up, so the test fails and names the tool and its Debian package rather
/// than being skipped where nobody looks.
/// </summary>
internal static class Oracle
{
    private static readonly Dictionary<string, string> Packages = new()
    {
        ["mkfs.fat"] = "dosfstools", ["fsck.fat"] = "dosfstools",
        ["mcopy"] = "mtools", ["mdir"] = "mtools", ["mtype"] = "mtools", ["mmd"] = "mtools",
        ["mke2fs"] = "e2fsprogs", ["e2fsck"] = "e2fsprogs", ["debugfs"] = "e2fsprogs", ["dumpe2fs"] = "e2fsprogs",
        ["xorriso"] = "xorriso",
        ["sfdisk"] = "fdisk",
        ["ip"] = "iproute2", ["ss"] = "iproute2", ["ping"] = "iputils-ping", ["socat"] = "socat", ["ethtool"] = "ethtool",
    };

    /// <summary>The Debian package that provides <paramref name="tool"/>.</summary>
    public static string Package(string tool) => Packages.TryGetValue(tool, out string? p) ? p : "(see tools/setup-debian.sh)";

    /// <summary>Fails the test: <paramref name="tool"/> is not installed.</summary>
    [DoesNotReturn]
    public static void Missing(string tool)
    {
        Assert.Fail(tool + " is not installed, and this test needs it as its oracle: install the Debian package "
                    + Package(tool) + " (tools/setup-debian.sh installs every test dependency)");
        throw new System.InvalidOperationException("unreachable");
    }
}
