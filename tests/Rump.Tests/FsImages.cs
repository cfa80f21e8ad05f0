using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using NUnit.Framework;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// The same tree on every file system: a host directory turned into an image by the real tools
/// (mke2fs -d, mkfs.fat + mcopy, xorriso) or copied into a tmpfs through the kernel, and mounted
/// at /mnt. A missing tool fails the test.
/// </summary>
internal static class FsImages
{
    public static readonly string[] Types = { "tmpfs", "ext2fs", "msdos", "cd9660" };
    public const string Dev = "/dev/img0";

    public static string RequireTool(string name)
    {
        foreach (string d in new[] { "/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/bin" })
            if (File.Exists(Path.Combine(d, name))) return Path.Combine(d, name);
        Assert.Fail(name + " is not installed (tools/setup-debian.sh installs e2fsprogs, dosfstools, mtools and xorriso)");
        return null!;
    }

    public static (int code, string output) Run(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(RequireTool(tool)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["MTOOLS_SKIP_CHECK"] = "1";
        psi.Environment["LC_ALL"] = "C.UTF-8";
        psi.Environment["TZ"] = "UTC";
        using Process p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        string se = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, so.Result + se);
    }

    public static void Ok((int code, string output) r, string what)
        => Assert.That(r.code, Is.EqualTo(0), what + " failed: " + r.output);

    /// <summary>Contents of file <paramref name="i"/> of directory <paramref name="d"/>: distinct per file.</summary>
    public static byte[] Content(int d, int i) => Encoding.ASCII.GetBytes("file " + d + "/" + i + " " + new string((char)('a' + (i + d) % 26), 10 + i % 50) + "\n");

    /// <summary>A host tree of <paramref name="dirs"/> directories d0.. with <paramref name="files"/> files f000.. each.</summary>
    public static string MakeTree(string work, int dirs, int files)
    {
        string src = Path.Combine(work, "src");
        for (int d = 0; d < dirs; d++)
        {
            string dir = Path.Combine(src, "d" + d);
            Directory.CreateDirectory(dir);
            for (int i = 0; i < files; i++) File.WriteAllBytes(Path.Combine(dir, "f" + i.ToString("D3")), Content(d, i));
        }
        return src;
    }

    /// <summary>
    /// Mounts a file system of <paramref name="fstype"/> at /mnt holding the tree <paramref name="src"/>;
    /// returns the image (null for tmpfs). cd9660 is mounted read-only, the others read-write.
    /// </summary>
    public static string? MountTree(RumpKernel k, string fstype, string src, string work)
    {
        Assert.That(k.Mkdir("/mnt", 0x1ed), Is.EqualTo(0), "mkdir /mnt");
        if (fstype == "tmpfs")
        {
            var a = new RumpTmpfsArgs { ta_version = Abi.TMPFS_ARGS_VERSION, ta_root_mode = 0x1ed };
            Assert.That(k.Mount("tmpfs", "/mnt", 0, a), Is.EqualTo(0), "mount tmpfs");
            foreach (string dir in Directory.GetDirectories(src))
            {
                string at = "/mnt/" + Path.GetFileName(dir);
                Assert.That(k.Mkdir(at, 0x1ed), Is.EqualTo(0), "mkdir " + at);
                foreach (string f in Directory.GetFiles(dir))
                {
                    int fd = k.Open(at + "/" + Path.GetFileName(f), Abi.O_WRONLY | Abi.O_CREAT, 0x1a4);
                    Assert.That(fd, Is.GreaterThanOrEqualTo(0), "create in tmpfs");
                    byte[] b = File.ReadAllBytes(f);
                    Assert.That(k.Write(fd, b), Is.EqualTo(b.Length));
                    k.Close(fd);
                }
            }
            return null;
        }
        string img = Path.Combine(work, "img." + fstype);
        switch (fstype)
        {
            case "ext2fs":
                Ok(Run("mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-N", "4096", "-d", src, img, "16384k"), "mke2fs");
                break;
            case "msdos":
                Ok(Run("mkfs.fat", "-C", "-F", "16", "-n", "RUMPTEST", img, "16384"), "mkfs.fat");
                foreach (string dir in Directory.GetDirectories(src))
                    Ok(Run("mcopy", "-s", "-i", img, dir, "::/"), "mcopy -s " + dir);
                break;
            case "cd9660":
                Ok(Run("xorriso", "-as", "mkisofs", "-R", "-o", img, src), "xorriso");
                break;
            default:
                Assert.Fail("no image maker for " + fstype);
                break;
        }
        Assert.That(k.EtfsRegister(Dev, img), Is.EqualTo(0), "etfs register");
        int flags = fstype == "cd9660" ? Abi.MNT_RDONLY : 0;
        Assert.That(k.MountAs(fstype, Dev, "/mnt", flags), Is.EqualTo(0), "mount " + fstype);
        return img;
    }

    /// <summary>The image's own checker says it is consistent (after unmount).</summary>
    public static void AssertClean(string fstype, string? img)
    {
        if (img == null || fstype == "cd9660") return;
        var r = fstype == "ext2fs" ? Run("e2fsck", "-fn", img) : Run("fsck.fat", "-n", img);
        Assert.That(r.code, Is.EqualTo(0), fstype + " checker reports problems:\n" + r.output);
    }
}
