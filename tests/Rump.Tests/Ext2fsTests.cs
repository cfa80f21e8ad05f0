using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using File = System.IO.File;
using NUnit.Framework;
using Rump.Kern;

namespace Rump.Tests;

/// <summary>
/// ext2fs end to end: images made by the real mke2fs (-d populates them from a host tree) are
/// registered with etfs, mounted and compared with the tree; after writes the image is unmounted
/// and checked with e2fsck -fn (clean) and debugfs (the bytes written). Tests needing e2fsprogs
/// say so in their name (Mkfs_…) and fail, naming the tool and its package, when it is missing.
/// </summary>
public class Ext2fsTests : KernelTest
{
    private const uint Dir0755 = 0x1ed, File0644 = 0x1a4;
    private string _tmp = null!;

    [SetUp]
    public void MakeTemp()
    {
        _tmp = Path.Combine(Path.GetTempPath(), "ext2fs-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_tmp);
    }

    [TearDown]
    public void RemoveTemp()
    {
        try { Directory.Delete(_tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    // ---- Tools -----------------------------------------------------------------------------------

    internal static string? FindTool(string name)
    {
        foreach (string d in new[] { "/usr/sbin", "/sbin", "/usr/bin", "/bin" })
            if (File.Exists(Path.Combine(d, name))) return Path.Combine(d, name);
        return null;
    }

    internal static string RequireTool(string name)
    {
        string? p = FindTool(name);
        if (p == null) Oracle.Missing(name);
        return p!;
    }

    internal static (int code, string output) Run(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["MKE2FS_CONFIG"] = "/etc/mke2fs.conf";
        psi.Environment["E2FSPROGS_FAKE_TIME"] = null;
        using Process p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        string se = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, so.Result + se);
    }

    /// <summary>mke2fs -t <paramref name="type"/> -d <paramref name="src"/> into a new image of <paramref name="sizeKb"/> KiB.</summary>
    internal static string Mkfs(string dir, string type, string? src, long sizeKb, int blockSize, params string[] extra)
    {
        string mkfs = RequireTool("mke2fs");
        string img = Path.Combine(dir, "img-" + Guid.NewGuid().ToString("N")[..8] + ".ext");
        var args = new List<string> { "-q", "-F", "-t", type, "-b", blockSize.ToString() };
        args.AddRange(extra);
        if (src != null) { args.Add("-d"); args.Add(src); }
        args.Add(img);
        args.Add(sizeKb + "k");
        var (code, output) = Run(mkfs, args.ToArray());
        Assert.That(code, Is.EqualTo(0), "mke2fs " + string.Join(' ', args) + ": " + output);
        return img;
    }

    internal static void AssertFsckClean(string img)
    {
        var (code, output) = Run(RequireTool("e2fsck"), "-fn", img);
        Assert.That(code, Is.EqualTo(0), "e2fsck -fn reports problems:\n" + output);
    }

    internal static byte[] DebugfsCat(string img, string path)
    {
        string tmp = img + ".cat";
        var (code, output) = Run(RequireTool("debugfs"), "-R", "dump " + path + " " + tmp, img);
        Assert.That(File.Exists(tmp), Is.True, "debugfs dump " + path + ": " + output);
        byte[] b = File.ReadAllBytes(tmp);
        File.Delete(tmp);
        return b;
    }

    internal static string Debugfs(string img, string cmd) => Run(RequireTool("debugfs"), "-R", cmd, img).output;

    // ---- Kernel helpers ---------------------------------------------------------------------------

    internal unsafe RumpKernel MountImage(string img, bool readOnly, out int error, string key = "/dev/img0")
    {
        RumpKernel k = BootWithExt2();
        Assert.That(k.Mkdir("/mnt", Dir0755), Is.EqualTo(0));
        Assert.That(k.EtfsRegister(key, img), Is.EqualTo(0), "etfs register");
        error = MountExt2(k, key, "/mnt", readOnly);
        return k;
    }

    /// <summary>A kernel with ext2fs linked in (the default component set has it).</summary>
    internal RumpKernel BootWithExt2()
    {
        RumpKernel k = Boot();
        Rump.Vfs.Vfs vfs = k.Kernel.GetService<Rump.Vfs.Vfs>()!;
        Assert.That(vfs.FindFs("ext2fs"), Is.Not.Null, "ext2fs must be in the component table of this build");
        return k;
    }

    internal static unsafe int MountExt2(RumpKernel k, string key, string at, bool readOnly)
    {
        byte[] spec = Encoding.UTF8.GetBytes(key + "\0");
        fixed (byte* p = spec)
        {
            var args = new RumpUfsArgs { fspec = (nint)p };
            return k.Mount("ext2fs", at, readOnly ? Abi.MNT_RDONLY : 0, args);
        }
    }

    internal static byte[] ReadAll(RumpKernel k, string path)
    {
        int fd = k.Open(path, Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open(" + path + ")");
        var ms = new MemoryStream();
        var buf = new byte[1 << 16];
        long n;
        while ((n = k.Read(fd, buf)) > 0) ms.Write(buf, 0, (int)n);
        Assert.That(n, Is.EqualTo(0), "read(" + path + ")");
        k.Close(fd);
        return ms.ToArray();
    }

    internal static void WriteAll(RumpKernel k, string path, byte[] data, uint mode = File0644)
    {
        int fd = k.Open(path, Abi.O_WRONLY | Abi.O_CREAT | Abi.O_TRUNC, mode);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open(" + path + ", O_CREAT)");
        Assert.That(k.Write(fd, data), Is.EqualTo(data.Length), "write(" + path + ")");
        Assert.That(k.Close(fd), Is.EqualTo(0));
    }

    /// <summary>Names in a directory (without "." and ".."), as the UTF-8 strings the user sees.</summary>
    internal static List<string> Names(RumpKernel k, string path)
    {
        var l = new List<(string name, byte type, ulong ino)>();
        Assert.That(k.ReadDir(path, l), Is.EqualTo(0), "readdir(" + path + ")");
        return l.Select(x => x.name).Where(n => n != "." && n != "..").ToList();
    }

    internal static byte[] Pattern(int len, int seed)
    {
        var b = new byte[len];
        uint x = (uint)seed * 2654435761u + 1;
        for (int i = 0; i < len; i++) { x = x * 1103515245 + 12345; b[i] = (byte)(x >> 16); }
        return b;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int symlink(string target, string linkpath);

    [DllImport("libc", SetLastError = true)]
    private static extern int chmod(string path, uint mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int link(string target, string linkpath);

    /// <summary>A host tree exercising the formats: sizes around block and map boundaries, long and non-ASCII names, depth, links.</summary>
    internal static Dictionary<string, byte[]> MakeSourceTree(string root)
    {
        var files = new Dictionary<string, byte[]>();
        Directory.CreateDirectory(root);
        void F(string rel, int len, int seed)
        {
            byte[] d = Pattern(len, seed);
            string p = Path.Combine(root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            File.WriteAllBytes(p, d);
            files[rel] = d;
        }
        F("empty", 0, 1);
        F("one", 1, 2);
        F("k1023", 1023, 3);
        F("k1024", 1024, 4);
        F("k4097", 4097, 5);
        F("direct-edge", 12 * 1024 + 1, 6);     // first single-indirect block at 1 KiB blocks
        F("dind", 300 * 1024 + 7, 7);           // double indirect at 1 KiB blocks
        F("big", 5 * 1024 * 1024 + 123, 8);     // deep into double indirect
        F("sub/inner/file.txt", 777, 9);
        F(new string('L', 255), 10, 10);        // the longest name
        F("ünïcödé-名前.txt", 100, 11);
        string deep = string.Join('/', Enumerable.Range(0, 24).Select(i => "d" + i));
        F(deep + "/bottom", 42, 12);
        Directory.CreateDirectory(Path.Combine(root, "emptydir"));
        Assert.That(symlink("sub/inner/file.txt", Path.Combine(root, "fastlink")), Is.EqualTo(0));
        string longTarget = string.Join('/', Enumerable.Repeat("averyveryverylongdirectoryname", 10)) + "/end";
        Assert.That(symlink(longTarget, Path.Combine(root, "slowlink")), Is.EqualTo(0));
        Assert.That(link(Path.Combine(root, "one"), Path.Combine(root, "one-hardlink")), Is.EqualTo(0));
        files["one-hardlink"] = files["one"];
        return files;
    }

    /// <summary>Every file of <paramref name="files"/> reads back with the same bytes, size and mtime seconds as on the host.</summary>
    internal static void CompareTree(RumpKernel k, string hostRoot, Dictionary<string, byte[]> files, string at = "/mnt")
    {
        foreach (var (rel, data) in files)
        {
            string p = at + "/" + rel;
            byte[] got = ReadAll(k, p);
            Assert.That(got.Length, Is.EqualTo(data.Length), "size of " + rel);
            Assert.That(got.AsSpan().SequenceEqual(data), Is.True, "contents of " + rel);
            RumpStat st = StatOk(k, p);
            Assert.That(st.st_size, Is.EqualTo(data.Length));
            Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFREG), "type of " + rel);
            var hostInfo = new FileInfo(Path.Combine(hostRoot, rel));
            long hostSec = new DateTimeOffset(hostInfo.LastWriteTimeUtc).ToUnixTimeSeconds();
            Assert.That(st.st_mtim.tv_sec, Is.EqualTo(hostSec), "mtime of " + rel);
        }
        Assert.That(k.Readlink(at + "/fastlink", out int e1), Is.EqualTo("sub/inner/file.txt"), "fast symlink");
        Assert.That(e1, Is.EqualTo(0));
        string? slow = k.Readlink(at + "/slowlink", out int e2);
        Assert.That(e2, Is.EqualTo(0));
        Assert.That(slow, Does.EndWith("/end").And.Length.GreaterThan(60), "slow symlink");
        Assert.That(Ino(k, at + "/one"), Is.EqualTo(Ino(k, at + "/one-hardlink")), "hard link shares the inode");
        Assert.That(StatOk(k, at + "/one").st_nlink, Is.EqualTo(2));
        Assert.That(Names(k, at + "/emptydir"), Is.Empty);
        Assert.That(Names(k, at), Does.Contain("ünïcödé-名前.txt").And.Contain(new string('L', 255)));
        Assert.That(StatOk(k, at + "/sub").st_mode & Abi.S_IFMT, Is.EqualTo(Abi.S_IFDIR));
    }

    // ---- Tests -------------------------------------------------------------------------------------

    [TestCase("ext2", 1024)]
    [TestCase("ext2", 4096)]
    [TestCase("ext4", 1024)]
    [TestCase("ext4", 4096)]
    public void Mkfs_ReadPopulatedImage(string type, int bs)
    {
        string src = Path.Combine(_tmp, "src");
        var files = MakeSourceTree(src);
        string img = Mkfs(_tmp, type, src, 16 * 1024, bs);
        RumpKernel k = MountImage(img, readOnly: true, out int e);
        Assert.That(e, Is.EqualTo(0), "mount");
        CompareTree(k, src, files);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }

    [TestCase("ext4", "^metadata_csum")]
    [TestCase("ext4", "^metadata_csum,^64bit,^flex_bg")]
    [TestCase("ext3", "")]
    public void Mkfs_ReadFeatureVariants(string type, string features)
    {
        string src = Path.Combine(_tmp, "src");
        var files = MakeSourceTree(src);
        string[] extra = features.Length > 0 ? new[] { "-O", features } : Array.Empty<string>();
        string img = Mkfs(_tmp, type, src, 16 * 1024, 4096, extra);
        RumpKernel k = MountImage(img, readOnly: true, out int e);
        Assert.That(e, Is.EqualTo(0), "mount");
        CompareTree(k, src, files);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }

    [TestCase("ext4", "")]
    [TestCase("ext3", "")]
    [TestCase("ext2", "flex_bg")]
    [TestCase("ext2", "extent")]
    [TestCase("ext2", "uninit_bg")]
    public void Mkfs_ReadWriteMountOfUnwritableFeaturesIsErofs(string type, string features)
    {
        string[] extra = features.Length > 0 ? new[] { "-O", features } : Array.Empty<string>();
        string img = Mkfs(_tmp, type, null, 8 * 1024, 1024, extra);
        RumpKernel k = MountImage(img, readOnly: false, out int e);
        Assert.That(e, Is.EqualTo(-Abi.EROFS), "read-write mount of " + type + " " + features);
        Assert.That(MountExt2(k, "/dev/img0", "/mnt", readOnly: true), Is.EqualTo(0), "read-only mount still works");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        AssertFsckClean(img);
    }

    [Test]
    public void Mkfs_StatMatchesDebugfs()
    {
        string src = Path.Combine(_tmp, "src");
        MakeSourceTree(src);
        Assert.That(chmod(Path.Combine(src, "k1023"), 0x100 | 0x8 | 0x2), Is.EqualTo(0));
        string img = Mkfs(_tmp, "ext4", src, 16 * 1024, 4096);
        // mke2fs -d stores whole seconds; put nanoseconds and an epoch bit in the extra fields.
        Run(RequireTool("debugfs"), "-w", "-R", "sif /k1023 mtime_extra " + (123456789 << 2), img);
        Run(RequireTool("debugfs"), "-w", "-R", "sif /k1023 atime_extra 1", img);
        RumpKernel k = MountImage(img, readOnly: true, out int e);
        Assert.That(e, Is.EqualTo(0));
        RumpStat st = StatOk(k, "/mnt/k1023");
        Assert.That(st.st_mode, Is.EqualTo((uint)Abi.S_IFREG | 0x100 | 0x8 | 0x2), "mode bits as the host had them");
        string info = Debugfs(img, "stat /k1023");
        Assert.That(info, Does.Contain("Inode: " + st.st_ino + " "), "inode number");
        var host = new FileInfo(Path.Combine(src, "k1023"));
        long sec = new DateTimeOffset(host.LastWriteTimeUtc).ToUnixTimeSeconds();
        Assert.That(st.st_mtim.tv_sec, Is.EqualTo(sec));
        Assert.That(st.st_mtim.tv_nsec, Is.EqualTo(123456789), "nanoseconds from i_mtime_extra");
        // The oracle is debugfs's own atime (mke2fs -d copies the source's atime, which can be a second
        // away from its ctime on a loaded machine): seconds plus the epoch bits times 2^32.
        var at = System.Text.RegularExpressions.Regex.Match(info, @"\batime: 0x([0-9a-f]+):([0-9a-f]+)");
        Assert.That(at.Success, Is.True, "debugfs stat prints atime: " + info);
        long atSec = Convert.ToInt64(at.Groups[1].Value, 16) + ((Convert.ToInt64(at.Groups[2].Value, 16) & 3) << 32);
        Assert.That(atSec, Is.GreaterThan(1L << 32), "debugfs sees the epoch bit set");
        Assert.That(st.st_atim.tv_sec, Is.EqualTo(atSec), "epoch bits extend seconds past 2038");
        Assert.That(k.Statvfs("/mnt", out RumpStatvfs sv), Is.EqualTo(0));
        Assert.That(sv.f_bsize, Is.EqualTo(4096));
        Assert.That(sv.f_bfree, Is.GreaterThan(0UL));
        Assert.That(StatOk(k, "/mnt").st_ino, Is.EqualTo(2UL));
    }

    [TestCase(1024)]
    [TestCase(4096)]
    public void Mkfs_Ext2_WritesAreFsckCleanAndVisibleToDebugfs(int bs)
    {
        string src = Path.Combine(_tmp, "src");
        var files = MakeSourceTree(src);
        string img = Mkfs(_tmp, "ext2", src, 32 * 1024, bs);
        RumpKernel k = MountImage(img, readOnly: false, out int e);
        Assert.That(e, Is.EqualTo(0), "read-write mount");
        var expect = new Dictionary<string, byte[]>();

        byte[] nb = Pattern(300 * 1024 + 5, 100);
        WriteAll(k, "/mnt/new.bin", nb);
        expect["/new.bin"] = nb;
        Assert.That(k.Mkdir("/mnt/newdir", Dir0755), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/newdir/sub", Dir0755), Is.EqualTo(0));
        Assert.That(StatOk(k, "/mnt/newdir").st_nlink, Is.EqualTo(3));
        byte[] inner = Pattern(5000, 101);
        WriteAll(k, "/mnt/newdir/sub/inner", inner);
        expect["/sub-moved/inner"] = inner;
        Assert.That(k.Symlink("short/target", "/mnt/newdir/fast"), Is.EqualTo(0));
        string longT = new string('x', 100) + "/" + new string('y', 150);
        Assert.That(k.Symlink(longT, "/mnt/newdir/slow"), Is.EqualTo(0));
        Assert.That(k.Link("/mnt/new.bin", "/mnt/newdir/hl"), Is.EqualTo(0));
        Assert.That(StatOk(k, "/mnt/new.bin").st_nlink, Is.EqualTo(2));
        expect["/newdir/hl"] = nb;

        // A directory moves to another parent: its ".." and both parents' link counts follow.
        ulong rootNlink = StatOk(k, "/mnt").st_nlink;
        Assert.That(k.Rename("/mnt/newdir/sub", "/mnt/sub-moved"), Is.EqualTo(0));
        Assert.That(StatOk(k, "/mnt/sub-moved/..").st_ino, Is.EqualTo(2UL));
        Assert.That(StatOk(k, "/mnt").st_nlink, Is.EqualTo(rootNlink + 1));
        Assert.That(StatOk(k, "/mnt/newdir").st_nlink, Is.EqualTo(2));
        Assert.That(k.Rename("/mnt/newdir", "/mnt/newdir/x"), Is.EqualTo(-Abi.EINVAL), "into itself");
        // A file replaces another.
        Assert.That(k.Rename("/mnt/k1024", "/mnt/k4097"), Is.EqualTo(0));
        expect["/k4097"] = files["k1024"];
        Assert.That(k.Stat("/mnt/k1024", out _), Is.EqualTo(-Abi.ENOENT));

        Assert.That(k.Unlink("/mnt/big"), Is.EqualTo(0));
        Assert.That(k.Rmdir("/mnt/emptydir"), Is.EqualTo(0));
        Assert.That(k.Rmdir("/mnt/sub"), Is.EqualTo(-Abi.ENOTEMPTY));
        Assert.That(k.Unlink("/mnt/sub"), Is.EqualTo(-Abi.EPERM));
        Assert.That(k.Mkdir("/mnt/sub", Dir0755), Is.EqualTo(-Abi.EEXIST));

        // Truncate through indirect blocks, then extend: the cut part reads as zeros.
        Assert.That(k.Truncate("/mnt/dind", 5000), Is.EqualTo(0));
        Assert.That(k.Truncate("/mnt/dind", 20000), Is.EqualTo(0));
        byte[] dind = new byte[20000];
        files["dind"].AsSpan(0, 5000).CopyTo(dind);
        expect["/dind"] = dind;
        // Overwrite inside an existing file.
        int fd = k.Open("/mnt/k4097", Abi.O_RDWR);
        byte[] patch = Pattern(100, 102);
        Assert.That(k.Pwrite(fd, patch, 500), Is.EqualTo(100));
        k.Close(fd);
        byte[] k4097 = (byte[])files["k1024"].Clone();
        patch.CopyTo(k4097, 500);
        expect["/k4097"] = k4097;
        // A sparse file: holes are zero block pointers.
        fd = k.Open("/mnt/sparse", Abi.O_RDWR | Abi.O_CREAT, File0644);
        byte[] tail = Pattern(3000, 103);
        Assert.That(k.Pwrite(fd, tail, 70 * 1024 * 1024 / 10), Is.EqualTo(3000));
        k.Close(fd);
        byte[] sparse = new byte[70 * 1024 * 1024 / 10 + 3000];
        tail.CopyTo(sparse, 70 * 1024 * 1024 / 10);
        expect["/sparse"] = sparse;
        Assert.That(StatOk(k, "/mnt/sparse").st_blocks * 512, Is.LessThan(64 * 1024), "a sparse file allocates little");
        // Non-ASCII and long names.
        string uname = "новый-файл-" + new string('ü', 100);
        WriteAll(k, "/mnt/" + uname, Pattern(10, 104));
        expect["/" + uname] = Pattern(10, 104);

        foreach (var (p, d) in expect)
            Assert.That(ReadAll(k, "/mnt" + p).AsSpan().SequenceEqual(d), Is.True, "read back " + p);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));

        AssertFsckClean(img);
        foreach (var (p, d) in expect)
            Assert.That(DebugfsCat(img, p).AsSpan().SequenceEqual(d), Is.True, "debugfs sees " + p);
        Assert.That(Debugfs(img, "stat /newdir/fast"), Does.Contain("Fast link dest: \"short/target\""));
        Assert.That(DebugfsCat(img, "/newdir/slow"), Is.EqualTo(Encoding.UTF8.GetBytes(longT)));
        Assert.That(Debugfs(img, "ls /"), Does.Not.Contain("emptydir"));

        // And the image mounts again with everything in place.
        Assert.That(MountExt2(k, "/dev/img0", "/mnt", readOnly: true), Is.EqualTo(0));
        foreach (var (p, d) in expect)
            Assert.That(ReadAll(k, "/mnt" + p).AsSpan().SequenceEqual(d), Is.True, "after remount " + p);
        Assert.That(k.Readlink("/mnt/newdir/slow", out _), Is.EqualTo(longT));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }

    [Test]
    public void Mkfs_Ext2_LargeWriteGoesToTheDeviceInClusters()
    {
        // 48 MiB through a 32 MiB cache: eviction and fsync both write. Each MiB of 4 KiB blocks
        // used to take 256 host transfers (one per block); clustered it takes a few.
        string img = Mkfs(_tmp, "ext2", null, 96 * 1024, 4096);
        RumpKernel k = MountImage(img, readOnly: false, out int e);
        Assert.That(e, Is.EqualTo(0), "read-write mount");
        var bc = k.Kernel.GetService<Vfs.Vfs>()!.BufCache;
        const int mib = 48;
        byte[] chunk = new byte[1 << 20];
        int fd = k.Open("/mnt/big", Abi.O_WRONLY | Abi.O_CREAT | Abi.O_TRUNC, File0644);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        long writes0 = bc.Writes;
        for (int i = 0; i < mib; i++)
        {
            Pattern(chunk.Length, 200 + i).CopyTo(chunk, 0);
            Assert.That(k.Write(fd, chunk), Is.EqualTo(chunk.Length), "write of MiB " + i);
        }
        Assert.That(k.Fsync(fd), Is.EqualTo(0));
        long transfers = bc.Writes - writes0;
        Assert.That(transfers, Is.LessThanOrEqualTo(16L * mib), $"write transfers for {mib} MiB (at most 16 per MiB; one per block is 256)");
        Assert.That(k.Close(fd), Is.EqualTo(0));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        AssertFsckClean(img);
        byte[] got = DebugfsCat(img, "/big");
        Assert.That(got.Length, Is.EqualTo(mib << 20), "size debugfs sees");
        for (int i = 0; i < mib; i++)
            Assert.That(got.AsSpan(i << 20, 1 << 20).SequenceEqual(Pattern(1 << 20, 200 + i)), Is.True, "MiB " + i + " as debugfs reads it");
    }

    [Test]
    public void Mkfs_Ext2_SparseFileBeyond4GiB()
    {
        string img = Mkfs(_tmp, "ext2", null, 16 * 1024, 4096, "-O", "^large_file");
        RumpKernel k = MountImage(img, readOnly: false, out int e);
        Assert.That(e, Is.EqualTo(0));
        const long at = 5L << 30;
        byte[] data = Pattern(10000, 200);
        int fd = k.Open("/mnt/huge", Abi.O_RDWR | Abi.O_CREAT, File0644);
        Assert.That(k.Pwrite(fd, data, at), Is.EqualTo(data.Length));
        var back = new byte[data.Length + 100];
        Assert.That(k.Pread(fd, back, at - 100), Is.EqualTo(data.Length + 100));
        Assert.That(back.AsSpan(0, 100).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "hole before the data");
        Assert.That(back.AsSpan(100).SequenceEqual(data), Is.True);
        Assert.That(k.Pread(fd, back, 1L << 32), Is.EqualTo(back.Length), "read in the middle of the hole");
        Assert.That(back.AsSpan().IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        Assert.That(k.Fstat(fd, out RumpStat st), Is.EqualTo(0));
        Assert.That(st.st_size, Is.EqualTo(at + data.Length));
        k.Close(fd);
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        AssertFsckClean(img);
        string stat = Debugfs(img, "stat /huge");
        Assert.That(stat, Does.Contain("Size: " + (at + data.Length)));
        Assert.That(Run(RequireTool("dumpe2fs"), "-h", img).output, Does.Contain("large_file"));
        // The data block as debugfs maps it holds our bytes.
        string bm = Debugfs(img, "bmap /huge " + (at / 4096));
        long pblk = bm.Split('\n').Select(x => long.TryParse(x.Trim(), out long v) ? v : -1).Max();
        Assert.That(pblk, Is.GreaterThan(0), bm);
        using var f = File.OpenRead(img);
        var blk = new byte[4096];
        f.Seek(pblk * 4096, SeekOrigin.Begin);
        f.ReadExactly(blk);
        Assert.That(blk.AsSpan().SequenceEqual(data.AsSpan(0, 4096)), Is.True);

        // Truncate frees the triple-indirect chain again.
        RumpKernel k2 = MountImage(img, readOnly: false, out e, "/dev/img1");
        Assert.That(e, Is.EqualTo(0));
        Assert.That(k2.Truncate("/mnt/huge", 1), Is.EqualTo(0));
        Assert.That(StatOk(k2, "/mnt/huge").st_blocks, Is.EqualTo(0), "only a hole is left before byte 1");
        Assert.That(k2.Unmount("/mnt"), Is.EqualTo(0));
        AssertFsckClean(img);
    }

    [Test]
    public void Mkfs_Ext2_TenThousandEntriesInOneDirectory()
    {
        string img = Mkfs(_tmp, "ext2", null, 64 * 1024, 4096, "-N", "20000");
        RumpKernel k = MountImage(img, readOnly: false, out int e);
        Assert.That(e, Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt/many", Dir0755), Is.EqualTo(0));
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 10000; i++)
        {
            int fd = k.Open("/mnt/many/file-" + i.ToString("D5"), Abi.O_WRONLY | Abi.O_CREAT | Abi.O_EXCL, File0644);
            Assert.That(fd, Is.GreaterThanOrEqualTo(0), "create " + i);
            k.Close(fd);
        }
        TestContext.Out.WriteLine("10000 creates: " + sw.ElapsedMilliseconds + " ms");
        var names = Names(k, "/mnt/many");
        Assert.That(names.Count, Is.EqualTo(10000));
        Assert.That(names.Distinct().Count(), Is.EqualTo(10000));
        for (int i = 0; i < 10000; i += 2) Assert.That(k.Unlink("/mnt/many/file-" + i.ToString("D5")), Is.EqualTo(0));
        Assert.That(Names(k, "/mnt/many").Count, Is.EqualTo(5000));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        AssertFsckClean(img);
        Assert.That(Debugfs(img, "ls -l /many"), Does.Contain("file-09999").And.Not.Contain("file-09998"));
    }

    [TestCase("ext2", false)]
    [TestCase("ext4", false)]
    [TestCase("ext4", true)]
    public void Mkfs_ReadLargeDirectory(string type, bool htree)
    {
        string src = Path.Combine(_tmp, "src");
        Directory.CreateDirectory(Path.Combine(src, "many"));
        for (int i = 0; i < 10000; i++) File.WriteAllBytes(Path.Combine(src, "many", "entry-with-a-longish-name-" + i), BitConverter.GetBytes(i));
        string img = Mkfs(_tmp, type, src, 64 * 1024, 4096, "-N", "20000");
        if (htree)
        {
            // e2fsck -D builds htree indexes: the reader must skip the index blocks' fake entries.
            Run(RequireTool("e2fsck"), "-fyD", img);
            Assert.That(Debugfs(img, "htree /many"), Does.Contain("Root node dump"), "directory is indexed");
        }
        RumpKernel k = MountImage(img, readOnly: true, out int e);
        Assert.That(e, Is.EqualTo(0));
        var names = Names(k, "/mnt/many");
        Assert.That(names.Count, Is.EqualTo(10000));
        for (int i = 0; i < 10000; i += 997)
            Assert.That(ReadAll(k, "/mnt/many/entry-with-a-longish-name-" + i), Is.EqualTo(BitConverter.GetBytes(i)));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
    }

    [Test]
    public void Mkfs_Ext2_IndexedDirectoryBecomesLinearWhenChanged()
    {
        string src = Path.Combine(_tmp, "src");
        Directory.CreateDirectory(Path.Combine(src, "many"));
        for (int i = 0; i < 3000; i++) File.WriteAllBytes(Path.Combine(src, "many", "n" + i), Array.Empty<byte>());
        string img = Mkfs(_tmp, "ext2", src, 32 * 1024, 1024, "-N", "8000");
        Run(RequireTool("e2fsck"), "-fyD", img);
        RumpKernel k = MountImage(img, readOnly: false, out int e);
        Assert.That(e, Is.EqualTo(0));
        for (int i = 0; i < 3000; i += 3) Assert.That(k.Unlink("/mnt/many/n" + i), Is.EqualTo(0));
        for (int i = 0; i < 500; i++) WriteAll(k, "/mnt/many/added-" + i, Pattern(i, i));
        Assert.That(Names(k, "/mnt/many").Count, Is.EqualTo(2500));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        AssertFsckClean(img);
        Assert.That(DebugfsCat(img, "/many/added-499"), Is.EqualTo(Pattern(499, 499)));
    }

    [Test]
    public void Mkfs_Ext4_UnwrittenExtentsReadAsZeros()
    {
        string src = Path.Combine(_tmp, "src");
        Directory.CreateDirectory(src);
        File.WriteAllBytes(Path.Combine(src, "f"), Pattern(8192, 300));
        string img = Mkfs(_tmp, "ext4", src, 16 * 1024, 4096);
        // debugfs fallocate makes unwritten (uninitialised) extents past the data.
        Run(RequireTool("debugfs"), "-w", "-R", "fallocate /f 2 40", img);
        Run(RequireTool("debugfs"), "-w", "-R", "sif /f size " + (41 * 4096), img);
        Assert.That(Debugfs(img, "ex /f"), Does.Contain("Uninit"), "fallocate made unwritten extents");
        RumpKernel k = MountImage(img, readOnly: true, out int e);
        Assert.That(e, Is.EqualTo(0));
        byte[] got = ReadAll(k, "/mnt/f");
        Assert.That(got.Length, Is.EqualTo(41 * 4096));
        Assert.That(got.AsSpan(0, 8192).SequenceEqual(Pattern(8192, 300)), Is.True);
        Assert.That(got.AsSpan(8192).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "unwritten extents read as zeros");
    }

    [TestCase("ext4")]
    [TestCase("ext2")]
    public void Mkfs_CorruptChecksumsAndPointersGiveEio(string type)
    {
        string src = Path.Combine(_tmp, "src");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        File.WriteAllBytes(Path.Combine(src, "d", "f"), Pattern(50000, 7));
        string img = Mkfs(_tmp, type, src, 8 * 1024, 1024);
        // Locate the file's inode and damage it in place.
        string imap = Debugfs(img, "imap /d/f");
        var m = System.Text.RegularExpressions.Regex.Match(imap, @"located at block (\d+), offset 0x([0-9a-f]+)");
        Assert.That(m.Success, Is.True, imap);
        long inodeOff = long.Parse(m.Groups[1].Value) * 1024 + Convert.ToInt64(m.Groups[2].Value, 16);
        byte[] orig = File.ReadAllBytes(img);

        void Check(string what, Action<byte[]> damage, int expectErrno)
        {
            byte[] b = (byte[])orig.Clone();
            damage(b);
            string copy = Path.Combine(_tmp, "bad-" + Guid.NewGuid().ToString("N")[..6]);
            File.WriteAllBytes(copy, b);
            RumpKernel k = MountImage(copy, readOnly: true, out int e);
            Assert.That(e, Is.EqualTo(0), what + ": mount");
            int fd = k.Open("/mnt/d/f", Abi.O_RDONLY);
            long r = fd;
            if (fd >= 0) { r = k.Read(fd, new byte[65536]); k.Close(fd); }
            Assert.That(r, Is.EqualTo(-expectErrno), what);
            Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        }

        if (type == "ext4")
        {
            Check("inode checksum", b => b[inodeOff + 0x40] ^= 1, Abi.EIO);
        }
        else
        {
            // i_block[0] beyond the device; the indirect pointer at itself (fixed depth: no loop).
            Check("block beyond the device", b => BitConverter.GetBytes(0x7fffffffu).CopyTo(b, inodeOff + 0x28), Abi.EIO);
            Check("inode link count 0", b => { b[inodeOff + 0x1a] = 0; b[inodeOff + 0x1b] = 0; }, Abi.EIO);
        }
        Check("mode of no known type", b => { b[inodeOff + 1] = 0xF0; }, Abi.EIO);
    }

    /// <summary>Walks a mounted tree with bounds: stats everything, reads files (a prefix) and links; returns how many nodes it saw.</summary>
    internal static int Walk(RumpKernel k, string dir, int depth, ref int budget, byte[] buf)
    {
        var l = new List<(string name, byte type, ulong ino)>();
        if (k.ReadDir(dir, l) != 0) return 0;
        int seen = 0;
        foreach (var (name, _, _) in l)
        {
            if (name == "." || name == ".." || --budget < 0) continue;
            string p = dir + "/" + name;
            seen++;
            if (k.Lstat(p, out RumpStat st) != 0) continue;
            uint t = st.st_mode & (uint)Abi.S_IFMT;
            if (t == Abi.S_IFDIR && depth < 16) seen += Walk(k, p, depth + 1, ref budget, buf);
            else if (t == Abi.S_IFLNK) k.Readlink(p, out _);
            else if (t == Abi.S_IFREG)
            {
                int fd = k.Open(p, Abi.O_RDONLY);
                if (fd < 0) continue;
                for (int i = 0; i < 8 && k.Read(fd, buf) > 0; i++) { }
                k.Pread(fd, buf, Math.Max(0, st.st_size - buf.Length));
                k.Close(fd);
            }
        }
        return seen;
    }

    [TestCase("ext2", 1024, 70)]
    [TestCase("ext2", 4096, 40)]
    [TestCase("ext4", 1024, 50)]
    [TestCase("ext4", 4096, 40)]
    public void Mkfs_HostileImagesGiveOnlyErrnos(string type, int bs, int count)
    {
        string src = Path.Combine(_tmp, "src");
        Directory.CreateDirectory(Path.Combine(src, "a/b/c"));
        for (int i = 0; i < 40; i++) File.WriteAllBytes(Path.Combine(src, i % 2 == 0 ? "a" : "a/b", "f" + i), Pattern(i * 997, i));
        File.WriteAllBytes(Path.Combine(src, "a/b/c/big"), Pattern(400 * 1024, 99));
        // A file with holes: several extents (an extent tree with an index level) or scattered indirect pointers.
        using (var fs = File.Create(Path.Combine(src, "holey")))
            for (int i = 0; i < 12; i++) { fs.Seek(i * 64 * 1024, SeekOrigin.Begin); fs.Write(Pattern(5000, i)); }
        symlink("a/f0", Path.Combine(src, "ln"));
        symlink(new string('t', 200), Path.Combine(src, "lnslow"));
        string img = Mkfs(_tmp, type, src, 4096, bs, "-N", "128");
        byte[] orig = File.ReadAllBytes(img);
        var rng = new Random(bs * 31 + type.Length);
        // Metadata sits at the start of small images: superblock, descriptors, bitmaps, inode tables, directories.
        int meta = Math.Min(orig.Length, 160 * 1024);
        int completed = 0, mounted = 0;
        for (int iter = 0; iter < count; iter++)
        {
            byte[] b = (byte[])orig.Clone();
            int len = b.Length;
            int kind = rng.Next(10);
            switch (kind)
            {
                case <= 4: // bit flips in metadata
                    for (int j = 0, n = rng.Next(1, 9); j < n; j++) b[rng.Next(1024, meta)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 5: // random bytes anywhere
                    for (int j = 0; j < 16; j++) b[rng.Next(len)] = (byte)rng.Next(256);
                    break;
                case 6: // huge values in metadata words
                    for (int j = 0, n = rng.Next(1, 4); j < n; j++)
                        BitConverter.GetBytes(rng.Next(2) == 0 ? 0xFFFFFFFFu : (uint)rng.Next()).CopyTo(b, rng.Next(1024, meta - 4) & ~3);
                    break;
                case 7: // a truncated image
                    len = rng.Next(2048, b.Length) & ~511;
                    break;
                default: // a zeroed run of metadata
                    Array.Clear(b, rng.Next(1024, meta - 256), rng.Next(4, 256));
                    break;
            }
            string copy = Path.Combine(_tmp, "m" + iter + ".img");
            using (var f = File.Create(copy)) f.Write(b, 0, len);
            bool rw = type == "ext2" && iter % 2 == 1;
            bool done = RunWithin(TimeSpan.FromSeconds(20), () =>
            {
                RumpKernel k = BootWithExt2();
                k.Mkdir("/mnt", Dir0755);
                if (k.EtfsRegister("/dev/h", copy) != 0) return;
                int e = MountExt2(k, "/dev/h", "/mnt", readOnly: !rw);
                if (e != 0) { Assert.That(e, Is.LessThan(0)); k.EtfsRemove("/dev/h"); k.LwprocSwitch(null); return; }
                Interlocked.Increment(ref mounted);
                int budget = 300;
                Walk(k, "/mnt", 0, ref budget, new byte[16384]);
                if (rw)
                {
                    int fd = k.Open("/mnt/a/newfile", Abi.O_RDWR | Abi.O_CREAT, File0644);
                    if (fd >= 0) { k.Write(fd, Pattern(20000, 1)); k.Close(fd); }
                    k.Unlink("/mnt/a/f0");
                    k.Mkdir("/mnt/a/b/nd", Dir0755);
                    k.Rename("/mnt/a/b/c", "/mnt/c2");
                    k.Truncate("/mnt/a/b/c/big", 1000);
                    k.Rmdir("/mnt/a/b/nd");
                }
                k.Unmount("/mnt", Abi.MNT_FORCE);
                k.EtfsRemove("/dev/h");
                k.LwprocSwitch(null);
            }, out Exception? error);
            Assert.That(done, Is.True, "mutation " + iter + " (kind " + kind + ") hung");
            Assert.That(error, Is.Null, "mutation " + iter + " (kind " + kind + "): " + error);
            completed++;
            File.Delete(copy);
        }
        TestContext.Out.WriteLine(completed + " mutated images, " + mounted + " mounted");
        Assert.That(mounted, Is.GreaterThan(0), "some mutations still mount");
    }

    // ---- Damaged trees ---------------------------------------------------------------------------

    /// <summary>The first block of a directory, from debugfs.</summary>
    private static long FirstBlock(string img, string path)
    {
        string o = Debugfs(img, "blocks " + path);
        string first = o.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0];
        Assert.That(long.TryParse(first, out long b), Is.True, "debugfs blocks " + path + ": " + o);
        return b;
    }

    /// <summary>
    /// Entries that break the tree ext2 requires of directories are EIO: the root's ".." renamed
    /// "xx" (the root named from itself), debugfs links of / into /a and of /a into /a/c (entries
    /// naming ancestors), and a ".." rewritten to name its own directory. The rest reads normally.
    /// </summary>
    [Test]
    public void Debugfs_EntriesNamingAncestorsOrDotDotNamingItself_AreEio()
    {
        string src = Path.Combine(_tmp, "src");
        Directory.CreateDirectory(Path.Combine(src, "a/c"));
        Directory.CreateDirectory(Path.Combine(src, "a/b"));
        File.WriteAllText(Path.Combine(src, "a/c/f"), "file in c");
        string img = Mkfs(_tmp, "ext2", src, 4096, 1024);
        long root = FirstBlock(img, "/"), b = FirstBlock(img, "/a/b");
        using (var f = new FileStream(img, FileMode.Open, FileAccess.ReadWrite))
        {
            // The root's ".." record (the second, at 12) gets the name "xx".
            f.Position = root * 1024 + 12 + 8;
            f.Write("xx"u8);
            // /a/b's ".." gets /a/b's own inode (from its "." record).
            var ino = new byte[4];
            f.Position = b * 1024;
            f.ReadExactly(ino);
            f.Position = b * 1024 + 12;
            f.Write(ino);
        }
        var (code, output) = Run(RequireTool("debugfs"), "-w", "-R", "link / /a/root", img);
        Assert.That(code, Is.EqualTo(0), output);
        (code, output) = Run(RequireTool("debugfs"), "-w", "-R", "link /a /a/c/up", img);
        Assert.That(code, Is.EqualTo(0), output);

        RumpKernel k = MountImage(img, readOnly: true, out int e);
        Assert.That(e, Is.EqualTo(0), "mount");
        foreach (string bad in new[] { "/mnt/xx", "/mnt/a/root", "/mnt/a/c/up", "/mnt/a/b" })
            Assert.That(k.Lstat(bad, out _), Is.EqualTo(-Abi.EIO), "lstat " + bad + ": a directory entry that breaks the tree");
        Assert.That(k.Lstat("/mnt/a/c/up/c", out _), Is.EqualTo(-Abi.EIO), "nothing below such an entry");
        Assert.That(Encoding.UTF8.GetString(ReadAll(k, "/mnt/a/c/f")), Is.EqualTo("file in c"));
        Assert.That(k.Lstat("/mnt/a/c/..", out RumpStat up), Is.EqualTo(0), "lstat /mnt/a/c/..");
        Assert.That(k.Lstat("/mnt/a", out RumpStat a), Is.EqualTo(0));
        Assert.That(up.st_ino, Is.EqualTo(a.st_ino), "/a/c/.. is /a");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0), "unmount");
    }

    /// <summary>
    /// Large reads of blocks that lie contiguously on disk go straight from the device (one
    /// transfer per run, no per-block buffers or map lookups), for ext2's indirect maps and ext4's
    /// extents alike, with holes read as zeros; where the cache holds newer (dirty) blocks the read
    /// goes through the cache and sees them (ext2; extent files are read-only here).
    /// </summary>
    [TestCase("ext2")]
    [TestCase("ext4")]
    public void Mkfs_LargeReadsBypassTheCacheUnlessItHoldsNewerData(string type)
    {
        string src = Path.Combine(_tmp, "src");
        Directory.CreateDirectory(src);
        byte[] data = new byte[(9 << 20) + 4321];
        new Random(type.Length).NextBytes(data);
        File.WriteAllBytes(Path.Combine(src, "big"), data);
        // A sparse file: 1 MiB of data, a 3 MiB hole, 1 MiB of data.
        byte[] sparse = new byte[5 << 20];
        new Random(7).NextBytes(sparse.AsSpan(0, 1 << 20));
        new Random(8).NextBytes(sparse.AsSpan(4 << 20));
        using (var f = File.Create(Path.Combine(src, "sparse")))
        {
            f.Write(sparse, 0, 1 << 20);
            f.Seek(4 << 20, SeekOrigin.Begin);
            f.Write(sparse, 4 << 20, 1 << 20);
        }
        string img = Mkfs(_tmp, type, src, 32 * 1024, 4096);
        bool writable = type == "ext2";
        RumpKernel k = MountImage(img, readOnly: !writable, out int e);
        Assert.That(e, Is.EqualTo(0));
        var bc = k.Kernel.GetService<Rump.Vfs.Vfs>()!.BufCache;
        long lookups0 = bc.Hits + bc.Misses, direct0 = bc.UncachedReads;
        int fd = k.Open("/mnt/big", writable ? Abi.O_RDWR : Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        // An odd first read, then 1 MiB reads from the middle of a block on.
        var got = new MemoryStream();
        byte[] buf = new byte[1 << 20];
        Assert.That(k.Read(fd, buf.AsSpan(0, 100)), Is.EqualTo(100));
        got.Write(buf, 0, 100);
        long n;
        while ((n = k.Read(fd, buf)) > 0) got.Write(buf, 0, (int)n);
        Assert.That(n, Is.EqualTo(0));
        Assert.That(got.ToArray().AsSpan().SequenceEqual(data), Is.True, "the file read back as mke2fs -d wrote it");
        long lookups = bc.Hits + bc.Misses - lookups0, direct = bc.UncachedReads - direct0;
        Assert.That(direct, Is.GreaterThanOrEqualTo(9), "1 MiB reads of contiguous blocks went straight from the device");
        // Through the cache it was a lookup per 4 KiB block (2,300 for 9 MiB), plus the map's
        // indirect blocks for every one of them on ext2.
        Assert.That(lookups, Is.LessThan(300), $"cache lookups for 9 MiB read 1 MiB at a time (got {lookups})");
        // Block-aligned reads of whole runs land in the reader's buffer itself (no staging copy).
        long inPlace0 = bc.UncachedInPlace;
        Assert.That(k.Lseek(fd, 0, 0), Is.EqualTo(0));
        got.SetLength(0);
        while ((n = k.Read(fd, buf)) > 0) got.Write(buf, 0, (int)n);
        Assert.That(got.ToArray().AsSpan().SequenceEqual(data), Is.True, "aligned reads return the file as mke2fs -d wrote it");
        Assert.That(bc.UncachedInPlace - inPlace0, Is.GreaterThanOrEqualTo(8), "aligned 1 MiB reads landed in the caller's buffer");

        if (writable)
        {
            // Dirty blocks in the middle: a large read over them must see them.
            byte[] patch = new byte[70_000];
            new Random(9).NextBytes(patch);
            Assert.That(k.Pwrite(fd, patch, 1_500_000), Is.EqualTo(patch.Length));
            patch.CopyTo(data, 1_500_000);
            long fallbacks0 = bc.UncachedFallbacks;
            Assert.That(k.Lseek(fd, 0, 0), Is.EqualTo(0));
            got.SetLength(0);
            while ((n = k.Read(fd, buf)) > 0) got.Write(buf, 0, (int)n);
            Assert.That(got.ToArray().AsSpan().SequenceEqual(data), Is.True, "the read sees the data written but not yet on the device");
            Assert.That(bc.UncachedFallbacks, Is.GreaterThan(fallbacks0), "the read over dirty blocks went through the cache");
        }
        Assert.That(k.Close(fd), Is.EqualTo(0));

        Assert.That(ReadAll(k, "/mnt/sparse").AsSpan().SequenceEqual(sparse), Is.True, "a sparse file reads as data, zeros, data");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        AssertFsckClean(img);
        Assert.That(DebugfsCat(img, "/big").AsSpan().SequenceEqual(data), Is.True, "debugfs reads what was written");
    }
}
