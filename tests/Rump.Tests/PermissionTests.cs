using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// Permission checks: the kauth decisions on their own, and through the system calls for ordinary
/// users (a process made by rfork then setgid/setuid) and for root.
/// </summary>
public class PermissionTests : KernelTest
{
    private const uint Dir0755 = 0x1ed;

    // ---- Kauth.Access on its own -------------------------------------------------------------

    [Test]
    public void KauthRootPassesEverythingButExecWithoutAnyXBit()
    {
        Assert.That(Kauth.Access(Cred.Root, 0x000, 1000, 1000, Kauth.VREAD | Kauth.VWRITE), Is.EqualTo(0), "root read/write of a 0000 file");
        Assert.That(Kauth.Access(Cred.Root, 0x1a4, 1000, 1000, Kauth.VEXEC), Is.EqualTo(Abi.EACCES), "root exec of a 0644 file");
        Assert.That(Kauth.Access(Cred.Root, 0x124, 1000, 1000, Kauth.VEXEC), Is.EqualTo(Abi.EACCES), "root exec of a 0444 file");
        Assert.That(Kauth.Access(Cred.Root, 0x040, 1000, 1000, Kauth.VEXEC), Is.EqualTo(0), "root exec with only the owner x bit (0100)");
        Assert.That(Kauth.Access(Cred.Root, 0x001, 1000, 1000, Kauth.VEXEC), Is.EqualTo(0), "root exec with only the other x bit");
        Assert.That(Kauth.Access(Cred.Root, 0x000, 1000, 1000, Kauth.VEXEC, isDir: true), Is.EqualTo(0), "root search of a 0000 directory");
    }

    [Test]
    public void KauthUsesTheFirstMatchingClassOnly()
    {
        Cred owner = Cred.Make(1000, 100);
        Cred member = Cred.Make(2000, 5, 100);
        Cred other = Cred.Make(3000, 300);
        // 0077: the owner gets nothing even though group and other may read (BSD semantics).
        Assert.That(Kauth.Access(owner, 0x03f, 1000, 100, Kauth.VREAD), Is.EqualTo(Abi.EACCES), "owner of a 0077 file");
        Assert.That(Kauth.Access(member, 0x03f, 1000, 100, Kauth.VREAD | Kauth.VWRITE | Kauth.VEXEC), Is.EqualTo(0), "supplementary-group member of a 0077 file");
        Assert.That(Kauth.Access(other, 0x03f, 1000, 100, Kauth.VREAD), Is.EqualTo(0), "other of a 0077 file");
        // 0707: a group member is refused although other may.
        Assert.That(Kauth.Access(member, 0x1c7, 1000, 100, Kauth.VREAD), Is.EqualTo(Abi.EACCES), "group member of a 0707 file");
        Assert.That(Kauth.Access(owner, 0x180, 1000, 100, Kauth.VREAD | Kauth.VWRITE), Is.EqualTo(0));
        Assert.That(Kauth.Access(owner, 0x100, 1000, 100, Kauth.VREAD | Kauth.VWRITE), Is.EqualTo(Abi.EACCES), "all requested bits are needed");
        Assert.That(Kauth.Owner(owner, 1000), Is.EqualTo(0));
        Assert.That(Kauth.Owner(other, 1000), Is.EqualTo(Abi.EPERM));
        Assert.That(Kauth.Owner(Cred.Root, 1000), Is.EqualTo(0));
        Assert.That(Kauth.Privileged(owner), Is.EqualTo(Abi.EPERM));
        Assert.That(Kauth.Privileged(Cred.Root), Is.EqualTo(0));
    }

    // ---- Through the system calls -----------------------------------------------------------

    [Test]
    public void NonRootIsRefusedARootOnlyFileAndARootDirectory()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/secret", "s", 0x180);
        Assert.That(k.Chmod("/secret", 0x180), Is.EqualTo(0));
        Assert.That(k.Mkdir("/rootdir", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/private", 0x1c0), Is.EqualTo(0));
        WriteFile(k, "/private/f", "p");

        BecomeUser(k, 1000, 1000);
        Assert.That(k.Open("/secret", Abi.O_RDONLY), Is.EqualTo(-Abi.EACCES), "read a root 0600 file");
        Assert.That(k.Open("/secret", Abi.O_WRONLY), Is.EqualTo(-Abi.EACCES), "write a root 0600 file");
        Assert.That(k.Access("/secret", Abi.R_OK), Is.EqualTo(-Abi.EACCES));
        Assert.That(k.Open("/rootdir/x", Abi.O_CREAT | Abi.O_WRONLY, 0x1a4), Is.EqualTo(-Abi.EACCES), "create in a root 0755 directory");
        Assert.That(k.Mkdir("/rootdir/x", Dir0755), Is.EqualTo(-Abi.EACCES));
        Assert.That(k.Symlink("t", "/rootdir/x"), Is.EqualTo(-Abi.EACCES));
        Assert.That(k.Stat("/private/f", out _), Is.EqualTo(-Abi.EACCES), "search through a root 0700 directory");
        Assert.That(k.Chdir("/private"), Is.EqualTo(-Abi.EACCES));
        Assert.That(k.Stat("/rootdir", out _), Is.EqualTo(0), "stat needs no permission on the file itself");
        Assert.That(k.Unlink("/secret"), Is.EqualTo(-Abi.EACCES), "unlink from a root 0755 directory");

        BecomeRoot(k);
        Assert.That(ReadFile(k, "/secret"), Is.EqualTo("s"), "root still reads it");
    }

    [Test]
    public void OwnerMayChmodOthersGetEperm()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/pub", Dir0755), Is.EqualTo(0));
        Assert.That(k.Chmod("/pub", 0x1ff), Is.EqualTo(0));
        WriteFile(k, "/rootfile", "r");

        BecomeUser(k, 1000, 1000);
        WriteFile(k, "/pub/mine", "m");
        RumpStat st = StatOk(k, "/pub/mine");
        Assert.That((st.st_uid, st.st_gid), Is.EqualTo((1000u, 0u)), "new file: the creator's uid, the directory's gid (BSD)");
        Assert.That(k.Chmod("/pub/mine", 0x180), Is.EqualTo(0), "owner chmod");
        Assert.That(StatOk(k, "/pub/mine").st_mode & 0xfff, Is.EqualTo(0x180));
        Assert.That(k.Chmod("/rootfile", 0x1ff), Is.EqualTo(-Abi.EPERM), "chmod of root's file");
        Assert.That(k.Chown("/pub/mine", 1001, uint.MaxValue), Is.EqualTo(-Abi.EPERM), "give a file away");
        Assert.That(k.Chown("/pub/mine", uint.MaxValue, 4242), Is.EqualTo(-Abi.EPERM), "chgrp to a group one is not in");

        BecomeUser(k, 1001, 1001);
        Assert.That(k.Chmod("/pub/mine", 0x1ff), Is.EqualTo(-Abi.EPERM), "chmod of another user's file");
        Assert.That(k.Open("/pub/mine", Abi.O_RDONLY), Is.EqualTo(-Abi.EACCES), "read another user's 0600 file");

        BecomeRoot(k);
        Assert.That(k.Chmod("/pub/mine", 0x1a4), Is.EqualTo(0), "root chmod of anyone's file");
        Assert.That(k.Chown("/pub/mine", 1001, 1001), Is.EqualTo(0), "root chown");
    }

    [Test]
    public void RootBypassesModesButNotExecWithoutXBits()
    {
        RumpKernel k = Boot();
        WriteFile(k, "/none", "n");
        Assert.That(k.Chmod("/none", 0), Is.EqualTo(0));
        int fd = k.Open("/none", Abi.O_RDWR);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "root opens a 0000 file read-write");
        k.Close(fd);
        Assert.That(k.Access("/none", Abi.R_OK | Abi.W_OK), Is.EqualTo(0));
        Assert.That(k.Access("/none", Abi.X_OK), Is.EqualTo(-Abi.EACCES), "root X_OK on a file with no x bit");
        Assert.That(k.Chmod("/none", 0x40), Is.EqualTo(0));
        Assert.That(k.Access("/none", Abi.X_OK), Is.EqualTo(0), "root X_OK with the owner x bit set");
        Assert.That(k.Mkdir("/closed", 0), Is.EqualTo(0));
        Assert.That(k.Access("/closed", Abi.X_OK), Is.EqualTo(0), "root searches a 0000 directory");
        WriteFile(k, "/closed/in", "i");
        Assert.That(ReadFile(k, "/closed/in"), Is.EqualTo("i"));
    }

    [Test]
    public void StickyDirectoryLimitsRemovalToOwners()
    {
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/tmp", Dir0755), Is.EqualTo(0));
        Assert.That(k.Chmod("/tmp", 0x3ff), Is.EqualTo(0)); // 01777
        Assert.That(StatOk(k, "/tmp").st_mode & 0xfff, Is.EqualTo(0x3ff));

        BecomeUser(k, 1000, 1000);
        WriteFile(k, "/tmp/a", "a");
        WriteFile(k, "/tmp/a2", "a");
        BecomeUser(k, 1001, 1001);
        WriteFile(k, "/tmp/b", "b");
        Assert.That(k.Unlink("/tmp/a"), Is.EqualTo(-Abi.EPERM), "remove another user's file from a sticky directory");
        Assert.That(k.Rename("/tmp/a", "/tmp/mine"), Is.EqualTo(-Abi.EPERM), "rename another user's file out of a sticky directory");
        Assert.That(k.Rename("/tmp/b", "/tmp/a"), Is.EqualTo(-Abi.EPERM), "rename over another user's file in a sticky directory");
        Assert.That(k.Unlink("/tmp/b"), Is.EqualTo(0), "remove one's own file");

        BecomeUser(k, 1000, 1000);
        Assert.That(k.Unlink("/tmp/a"), Is.EqualTo(0), "the owner removes it");

        BecomeRoot(k);
        Assert.That(k.Unlink("/tmp/a2"), Is.EqualTo(0), "root removes anyone's file");

        // The directory's owner may remove anything in it.
        Assert.That(k.Mkdir("/shared", Dir0755), Is.EqualTo(0));
        Assert.That(k.Chown("/shared", 2000, 2000), Is.EqualTo(0));
        Assert.That(k.Chmod("/shared", 0x3ff), Is.EqualTo(0));
        BecomeUser(k, 1000, 1000);
        WriteFile(k, "/shared/x", "x");
        BecomeUser(k, 2000, 2000);
        Assert.That(k.Unlink("/shared/x"), Is.EqualTo(0), "the sticky directory's owner removes another user's file");
    }

    [Test]
    public void SetuidByNonRootIsEperm()
    {
        RumpKernel k = Boot();
        BecomeUser(k, 1000, 1000);
        Assert.That(k.Setuid(0), Is.EqualTo(-Abi.EPERM), "setuid(0) as uid 1000");
        Assert.That(k.Setuid(1001), Is.EqualTo(-Abi.EPERM), "setuid(1001) as uid 1000");
        Assert.That(k.Setgid(0), Is.EqualTo(-Abi.EPERM), "setgid(0) as gid 1000");
        Assert.That(k.Setuid(1000), Is.EqualTo(0), "setuid to one's own uid");
        Assert.That(k.Syscall(SysNum.getuid, default), Is.EqualTo(1000));
        Assert.That(k.Syscall(SysNum.geteuid, default), Is.EqualTo(1000));
        Assert.That(k.Syscall(SysNum.getgid, default), Is.EqualTo(1000));
        // Privileged calls.
        Assert.That(k.Reboot(Abi.RB_NOSYNC), Is.EqualTo(-Abi.EPERM), "reboot as uid 1000");
        Assert.That(k.Kernel.Halted, Is.False);
        Assert.That(k.Mount("tmpfs", "/", 0, new RumpTmpfsArgs { ta_version = Abi.TMPFS_ARGS_VERSION, ta_root_mode = Dir0755 }), Is.EqualTo(-Abi.EPERM), "mount as uid 1000");
    }

    [Test]
    public void CredentialsAreInheritedByRfork()
    {
        RumpKernel k = Boot();
        BecomeUser(k, 1000, 1000);
        Assert.That(k.LwprocRfork(Kernel.RFFDG), Is.EqualTo(0));
        Assert.That(k.Syscall(SysNum.geteuid, default), Is.EqualTo(1000), "euid of the child of a uid-1000 process");
        Assert.That(k.Setuid(0), Is.EqualTo(-Abi.EPERM));
        BecomeRoot(k);
        Assert.That(k.Syscall(SysNum.geteuid, default), Is.EqualTo(0), "the default process is still root");
    }
}
