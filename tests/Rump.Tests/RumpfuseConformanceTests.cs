using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using NUnit.Framework;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// rumpfuse against the host's own tmpfs as the reference. tests/fuse/conform.c runs every
/// operation rumpfuse serves, with its error cases, and prints one result per check; it runs once
/// in a directory on /dev/shm (tmpfs) and once on the mount, and every result must be the same,
/// except where a table below says otherwise and why. The tables are checked both ways: a listed
/// difference that does not occur fails too, so they stay true.
///
/// The C program (not NUnit) because the checks are system calls a .NET program cannot make
/// directly (renameat2's flags, utimensat's UTIME_NOW/OMIT, mkfifo, setresuid in a forked child
/// for the other user's checks) and because the same binary must run unchanged as another uid.
/// </summary>
public partial class RumpfuseTests
{
    private static string CBin(string env, string what)
    {
        string bin = Environment.GetEnvironmentVariable(env) ?? "";
        if (!File.Exists(bin)) Assert.Fail(env + " does not name the built " + what + " (ctest sets it): '" + bin + "'");
        return bin;
    }

    /// <summary>Differences every rumpfuse mount has from tmpfs, by design (tools/rumpfuse/README.md).</summary>
    private static readonly (string Check, string Value, string Why)[] RumpfuseDiffers =
    {
        ("rename.exchange", "EINVAL", "RENAME_EXCHANGE is refused with EINVAL: the kernel's rename has no exchange"),
        ("rename.exchange_contents", "2+1", "so nothing was exchanged"),
        ("mknod.chardev_as_root", "EPERM", "device nodes are not served (a host device through an image would bypass the host's device permissions)"),
        ("xattr.set", "EOPNOTSUPP", "no extended attributes"),
    };

    /// <summary>What FAT's format dictates, besides <see cref="RumpfuseDiffers"/>.</summary>
    private static readonly (string Check, string Value, string Why)[] FatDiffers =
    {
        ("mkdir.parent_nlink_grows", "0", "FAT keeps no link counts: a directory has one link"),
        ("mkdir.nlink", "1", "the same"),
        ("link", "EOPNOTSUPP", "FAT has no hard links"),
        ("link.nlink", "1", "no hard links"),
        ("link.content", "ENOENT", "no hard links"),
        ("link.existing", "EOPNOTSUPP", "no hard links"),
        ("rename.between_links_both", "ENOENT,yes", "no hard links: the rename was an ordinary one"),
        ("unlink.one_link_nlink", "-1", "no hard links: the one name is gone"),
        ("symlink", "EOPNOTSUPP", "FAT has no symbolic links"),
        ("readlink", "ENOENT", "no symbolic links"),
        ("symlink.follow", "ENOENT", "no symbolic links"),
        ("symlink.existing", "EOPNOTSUPP", "no symbolic links"),
        ("readlink.not_link", "ENOENT", "the file was renamed away above (no hard links)"),
        ("symlink.long_target", "EOPNOTSUPP", "no symbolic links"),
        ("readlink.long_target_len", "-1", "no symbolic links"),
        ("symlink.loop_a", "EOPNOTSUPP", "no symbolic links"),
        ("symlink.loop_b", "EOPNOTSUPP", "no symbolic links"),
        ("open.loop", "ENOENT", "no symbolic links"),
        ("open.nofollow_link", "ENOENT", "no symbolic links"),
        ("symlink.dangling", "EOPNOTSUPP", "no symbolic links"),
        ("lstat.dangling", "ENOENT", "no symbolic links"),
        ("chmod.mode", "755", "FAT keeps no modes: every file has the mount's mask (chmod only sets the read-only attribute)"),
        ("chmod.setuid_mode", "755", "no modes"),
        ("access.x_on_0644_as_root", "ok", "no modes: files are 0755"),
        ("chown", "EPERM", "FAT keeps no owners: every file belongs to the mount's uid"),
        ("chown.owner", "0:0", "no owners"),
        ("utimens.atime", "1499990400", "FAT keeps the access date only"),
        ("utimens.omit_atime_kept", "1499990400,1700000000", "access date only"),
        ("utimens.now_omit_atime", "1499990400", "access date only"),
        ("utimens.mtime_nsec", "0", "FAT keeps modification times in 2 s"),
        ("mkfifo", "EOPNOTSUPP", "FAT has no FIFOs"),
        ("mkfifo.type", "ENOENT", "no FIFOs"),
        ("case.other_case_exists", "yes", "FAT's names are case-insensitive"),
        // Every file belongs to the mount's owner (root) with mode 0755: another user may read
        // everything and write nothing, and the sticky directory is an ordinary 0755 one.
        ("user.read_private", "ok", "no modes: 'private' is 0755"),
        ("user.access_private", "ok", "no modes"),
        ("user.sticky_unlink_others", "EACCES", "no sticky bit: the directory is root's 0755"),
        ("user.sticky_rename_others", "EACCES", "no sticky bit"),
        ("user.sticky_create_own", "EACCES", "no sticky bit: root's 0755 directory"),
        ("user.sticky_unlink_own", "ENOENT", "so there was nothing of the user's to remove"),
        ("user.utimens_null_others_0666", "EACCES", "no modes: 'open' is 0755, not writable by others"),
        ("user.search_0700_dir", "ok", "no modes: 'closed' is 0755"),
        ("user.chmod_own", "ENOENT", "the user could not create a file"),
        ("user.chown_own_to_other_uid", "ENOENT", "the user could not create a file"),
    };

    private static List<(string Check, string Value)> Results(string output)
    {
        var l = new List<(string, string)>();
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int tab = line.IndexOf('\t');
            Assert.That(tab, Is.GreaterThan(0), "conform printed a line that is not 'check<TAB>result': " + line);
            l.Add((line[..tab], line[(tab + 1)..]));
        }
        return l;
    }

    /// <summary>Runs conform in <paramref name="dir"/> (optionally as uid 1000 via setpriv); its results.</summary>
    private static List<(string Check, string Value)> Conform(string dir, string other, bool asUser)
    {
        string bin = CBin("RUMP_FUSE_CONFORM_BIN", "tests/fuse/conform.c");
        var r = asUser
            ? FsImages.Run("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", bin, dir, other)
            : FsImages.Run(bin, dir, other);
        Assert.That(r.code, Is.EqualTo(0), "conform in " + dir + " exited " + r.code + ":\n" + r.output);
        return Results(r.output);
    }

    /// <summary>A fresh directory on the host's tmpfs (/dev/shm), removed at the end of the test.</summary>
    private string ShmDir(string name)
    {
        string d = Path.Combine("/dev/shm", Path.GetFileName(HostWork) + "-" + name);
        Directory.CreateDirectory(d);
        _shmDirs.Add(d);
        var fs = FsImages.Run("stat", "-f", "-c", "%T", d);
        Assert.That(fs.output.Trim(), Is.EqualTo("tmpfs"), "/dev/shm is the reference tmpfs");
        return d;
    }

    private readonly List<string> _shmDirs = new();

    [TearDown]
    public void RemoveShmDirs()
    {
        foreach (string d in _shmDirs)
            try { Directory.Delete(d, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        _shmDirs.Clear();
    }

    /// <summary>
    /// Compares the mount's results with tmpfs's: equal, except for the listed differences, which
    /// must occur exactly as listed. All mismatches are reported at once.
    /// </summary>
    private static void Compare(List<(string Check, string Value)> tmpfs, List<(string Check, string Value)> mount, string fs,
        params (string Check, string Value, string Why)[][] tables)
    {
        var expect = new Dictionary<string, (string Value, string Why)>();
        foreach (var t in tables) foreach (var (c, v, w) in t) expect[c] = (v, w);
        var bad = new StringBuilder();
        var seen = new HashSet<string>();
        Assert.That(mount.Count, Is.EqualTo(tmpfs.Count), "conform printed as many results on " + fs + " as on tmpfs");
        for (int i = 0; i < tmpfs.Count; i++)
        {
            var (c, refv) = tmpfs[i];
            var (mc, mv) = mount[i];
            if (mc != c) { bad.AppendLine($"result {i}: tmpfs printed '{c}', {fs} '{mc}'"); break; }
            seen.Add(c);
            if (expect.TryGetValue(c, out var e))
            {
                if (mv != e.Value) bad.AppendLine($"{c}: expected {e.Value} on {fs} ({e.Why}), got {mv} (tmpfs: {refv})");
                else if (refv == e.Value) bad.AppendLine($"{c}: listed as a difference ({e.Why}) but tmpfs also gives {refv}: remove it from the table");
            }
            else if (mv != refv) bad.AppendLine($"{c}: tmpfs gives {refv}, {fs} gives {mv}");
        }
        foreach (string c in expect.Keys)
            if (!seen.Contains(c)) bad.AppendLine($"{c}: in the table of differences but conform has no such check");
        Assert.That(bad.ToString(), Is.Empty, "conformance differences on " + fs + " that no format explains");
    }

    private string Ext2Image(string name, string size = "65536k", string rootOwner = "0:0")
    {
        string img = Path.Combine(HostWork, name);
        FsImages.Ok(FsImages.Run("mke2fs", "-q", "-F", "-t", "ext2", "-I", "256", "-E", "root_owner=" + rootOwner, img, size), "mke2fs");
        return img;
    }

    private string FatImage(string name, string kib = "65536")
    {
        string img = Path.Combine(HostWork, name);
        FsImages.Ok(FsImages.Run("mkfs.fat", "-C", "-F", "32", img, kib), "mkfs.fat");
        return img;
    }

    private void RequireRoot(string why)
    {
        if (Environment.UserName != "root") Assert.Fail("this test needs root (" + why + "); it runs as " + Environment.UserName);
    }

    /// <summary>
    /// Root only: the other user's checks switch to uid 1000 with setresuid, and reach the mount
    /// through allow_other. Regression: a file in another user's 0700 directory was readable while
    /// the host kept the directory's entry cached from the owner's lookup (the host walks cached
    /// entries without asking the server, so the kernel never checked search permission).
    /// With default_permissions the host checks too, on the attributes the kernel gives.
    /// </summary>
    [TestCase("allow_other")]
    [TestCase("allow_other,default_permissions")]
    public void Conformance_Ext2_AsRootAndAnotherUser_MatchesHostTmpfs(string options)
    {
        RequireRoot("conform's other-user checks switch to uid 1000");
        FsImages.RequireTool("setpriv");
        string reference = ShmDir("ref"), otherFs = ShmDir("x");
        var tmpfs = Conform(reference, HostWork, asUser: false);
        string img = Ext2Image("ext2.img"), mnt = Mnt();
        Process p = Start(img, mnt, "-o", options);
        var ext2 = Conform(mnt, otherFs, asUser: false);
        Unmount(p, mnt);
        FsImages.AssertClean("ext2fs", img);
        Compare(tmpfs, ext2, "ext2 (-o " + options + ")", RumpfuseDiffers);
    }

    [Test]
    public void Conformance_Fat_AsRootAndAnotherUser_MatchesHostTmpfs_ExceptWhatFatDictates()
    {
        RequireRoot("conform's other-user checks switch to uid 1000");
        string reference = ShmDir("ref"), otherFs = ShmDir("x");
        var tmpfs = Conform(reference, HostWork, asUser: false);
        string img = FatImage("fat.img"), mnt = Mnt();
        Process p = Start(img, mnt, "-o", "allow_other");
        var fat = Conform(mnt, otherFs, asUser: false);
        Unmount(p, mnt);
        FsImages.AssertClean("msdos", img);
        Compare(tmpfs, fat, "FAT", RumpfuseDiffers, FatDiffers);
    }
}
