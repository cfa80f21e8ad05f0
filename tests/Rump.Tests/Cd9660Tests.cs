using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using NUnit.Framework;
using Rump.Fs.Cd9660;
using Rump.Fs.Cd9660.Wire;
using Rump.Kern;
using File = System.IO.File;

namespace Rump.Tests;

/// <summary>
/// cd9660 end to end: images made by the real xorriso (Rock Ridge + Joliet, Joliet only, plain
/// ISO 9660, deep-directory relocation, 10,000 entries) mounted through etfs and compared with the
/// host tree they came from; mount flags; synthetic images built with the wire layer for what
/// xorriso will not make small (multi-extent files, CE chains and loops); hostile mutations.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class Cd9660Tests : KernelTest
{
    private const uint Dir0755 = 0x1ed;
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rump-cd9660-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // ---- Helpers --------------------------------------------------------------------------------

    private static void Xorriso(params string[] args)
    {
        var psi = new ProcessStartInfo("xorriso") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { Oracle.Missing("xorriso"); return; }
        p.StandardInput.Close();
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(); Assert.Fail("xorriso did not finish in 2 minutes"); }
        Assert.That(p.ExitCode, Is.EqualTo(0), "xorriso " + string.Join(' ', args) + ": " + err.Result + output.Result);
    }

    /// <summary>xorriso -as mkisofs (which makes Rock Ridge unless told --norock) with <paramref name="opts"/> of <paramref name="src"/> into a new image.</summary>
    private string Mkisofs(string src, params string[] opts)
    {
        string img = Path.Combine(_dir, "img" + Guid.NewGuid().ToString("N")[..6] + ".iso");
        Xorriso(["-as", "mkisofs", .. opts, "-o", img, src]);
        return img;
    }

    private static unsafe int MountIso(RumpKernel k, string key, int mntFlags = Abi.MNT_RDONLY, int isoFlags = 0, string at = "/mnt")
    {
        byte[] spec = Encoding.UTF8.GetBytes(key + "\0");
        fixed (byte* p = spec)
        {
            var args = new RumpIsoArgs { fspec = (nint)p, flags = isoFlags };
            return k.Mount("cd9660", at, mntFlags, args);
        }
    }

    private RumpKernel Mounted(string img, int isoFlags = 0)
    {
        RumpKernel k = Boot();
        Assert.That(k.EtfsRegister("/dev/cd0", img), Is.EqualTo(0), "etfs");
        Assert.That(k.Mkdir("/mnt", Dir0755), Is.EqualTo(0));
        Assert.That(MountIso(k, "/dev/cd0", isoFlags: isoFlags), Is.EqualTo(0), "mount cd9660");
        return k;
    }

    private static byte[] ReadAll(RumpKernel k, string path)
    {
        int fd = k.Open(path, Abi.O_RDONLY);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "open(" + path + ")");
        var ms = new MemoryStream();
        var buf = new byte[100_000]; // not a multiple of anything: reads straddle chunks
        long n;
        while ((n = k.Read(fd, buf)) > 0) ms.Write(buf, 0, (int)n);
        k.Close(fd);
        Assert.That(n, Is.EqualTo(0), "read(" + path + ")");
        return ms.ToArray();
    }

    private static List<string> Names(RumpKernel k, string path, int bufSize = 8192)
        => ListDir(k, path, bufSize).Select(e => Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(e.name))).Where(n => n != "." && n != "..").OrderBy(n => n, StringComparer.Ordinal).ToList();

    private static string HostNamesOf(string dir) => string.Join("|", Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal));

    private static readonly DateTime FixedMtime = new(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);

    /// <summary>A tree with every kind of thing the driver must show: returns its root.</summary>
    private string MakeTree()
    {
        string src = Path.Combine(_dir, "src");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "hello.txt"), "hello, world\n");
        File.WriteAllBytes(Path.Combine(src, "empty"), []);
        var rnd = new Random(9660);
        var big = new byte[3 * 1024 * 1024 + 123];
        rnd.NextBytes(big);
        File.WriteAllBytes(Path.Combine(src, "big.bin"), big);
        File.WriteAllText(Path.Combine(src, "exec.sh"), "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(Path.Combine(src, "exec.sh"), (UnixFileMode)Convert.ToInt32("755", 8));
        File.SetUnixFileMode(Path.Combine(src, "empty"), (UnixFileMode)Convert.ToInt32("600", 8));
        File.WriteAllText(Path.Combine(src, "ünïcödé-名前.txt"), "non-ascii\n");
        File.WriteAllText(Path.Combine(src, new string('L', 180) + ".txt"), "long name\n");
        string deep = src;
        for (int i = 1; i <= 12; i++) deep = Path.Combine(deep, "d" + i);
        Directory.CreateDirectory(deep);
        File.WriteAllText(Path.Combine(deep, "leaf.txt"), "deep leaf\n");
        File.CreateSymbolicLink(Path.Combine(src, "link-rel"), "hello.txt");
        File.CreateSymbolicLink(Path.Combine(src, "link-abs"), "/etc/passwd");
        File.CreateSymbolicLink(Path.Combine(src, "link-dots"), "../x/./y");
        File.CreateSymbolicLink(Path.Combine(src, "d1", "up"), "../hello.txt");
        File.CreateSymbolicLink(Path.Combine(src, "link-long"), string.Join("/", Enumerable.Range(0, 40).Select(i => "component" + i)));
        File.SetLastWriteTimeUtc(Path.Combine(src, "hello.txt"), FixedMtime);
        return src;
    }

    // ---- Real images ----------------------------------------------------------------------------

    [Test]
    public void Xorriso_RockRidgeJoliet_EverythingAsTheHostHasIt()
    {
        string src = MakeTree();
        Process.Start("ln", [Path.Combine(src, "hello.txt"), Path.Combine(src, "hard")])!.WaitForExit();
        Process.Start("chown", ["1234:5678", Path.Combine(src, "exec.sh")])!.WaitForExit();
        string img = Mkisofs(src, "-R", "-J");
        RumpKernel k = Mounted(img);

        // Every directory lists what the host has, and every file reads back its bytes.
        var dirs = new Stack<(string host, string mnt)>();
        dirs.Push((src, "/mnt"));
        int files = 0;
        while (dirs.Count > 0)
        {
            var (host, mnt) = dirs.Pop();
            Assert.That(string.Join("|", Names(k, mnt)), Is.EqualTo(HostNamesOf(host)), "names in " + mnt);
            foreach (string h in Directory.EnumerateFileSystemEntries(host))
            {
                string m = mnt + "/" + Path.GetFileName(h);
                var fi = new FileInfo(h);
                Assert.That(k.Lstat(m, out RumpStat st), Is.EqualTo(0), "lstat " + m);
                uint perm = fi.LinkTarget != null ? 0x1ff : (uint)File.GetUnixFileMode(h) & 0xfff;
                if (fi.LinkTarget != null)
                {
                    Assert.That(st.st_mode & 0xfff, Is.EqualTo(perm), "symlink mode " + m);
                    Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo((uint)Abi.S_IFLNK), m);
                    Assert.That(k.Readlink(m, out int e), Is.EqualTo(fi.LinkTarget), "readlink " + m);
                    Assert.That(e, Is.EqualTo(0));
                    Assert.That(st.st_size, Is.EqualTo(Encoding.UTF8.GetByteCount(fi.LinkTarget)));
                }
                else if (Directory.Exists(h))
                {
                    Assert.That(st.st_mode, Is.EqualTo((uint)Abi.S_IFDIR | perm), m);
                    dirs.Push((h, m));
                }
                else
                {
                    Assert.That(st.st_mode, Is.EqualTo((uint)Abi.S_IFREG | perm), m);
                    Assert.That(st.st_size, Is.EqualTo(fi.Length), m);
                    Assert.That(st.st_mtim.tv_sec, Is.EqualTo(new DateTimeOffset(fi.LastWriteTimeUtc).ToUnixTimeSeconds()), "mtime " + m);
                    Assert.That(ReadAll(k, m), Is.EqualTo(File.ReadAllBytes(h)), "contents of " + m);
                    files++;
                }
            }
        }
        Assert.That(files, Is.GreaterThanOrEqualTo(8));

        RumpStat hello = StatOk(k, "/mnt/hello.txt");
        Assert.That(hello.st_mtim.tv_sec, Is.EqualTo(new DateTimeOffset(FixedMtime).ToUnixTimeSeconds()));
        Assert.That(hello.st_nlink, Is.EqualTo(2), "hard link count from PX");
        RumpStat exec = StatOk(k, "/mnt/exec.sh");
        Assert.That((exec.st_uid, exec.st_gid), Is.EqualTo((1234u, 5678u)));
        // Symlinks resolve through namei, relative and upward.
        Assert.That(ReadFile(k, "/mnt/link-rel"), Is.EqualTo("hello, world\n"));
        Assert.That(ReadFile(k, "/mnt/d1/up"), Is.EqualTo("hello, world\n"));
        Assert.That(ReadFile(k, "/mnt/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/leaf.txt"), Is.EqualTo("deep leaf\n"));
        // ".." and inode numbers agree however a directory is reached.
        Assert.That(Ino(k, "/mnt/d1/d2/.."), Is.EqualTo(Ino(k, "/mnt/d1")));
        Assert.That(Ino(k, "/mnt/d1/.."), Is.EqualTo(Ino(k, "/mnt")));
        var d1 = ListDir(k, "/mnt/d1");
        Assert.That(d1.First(e => e.name == "..").ino, Is.EqualTo(Ino(k, "/mnt")));
        Assert.That(d1.First(e => e.name == ".").ino, Is.EqualTo(Ino(k, "/mnt/d1")));
        Assert.That(d1.First(e => e.name == "d2").ino, Is.EqualTo(Ino(k, "/mnt/d1/d2")));
        Assert.That(d1.First(e => e.name == "up").type, Is.EqualTo((byte)Abi.DT_LNK));

        // Read-only: every change is refused.
        Assert.That(k.Open("/mnt/new", Abi.O_WRONLY | Abi.O_CREAT, 0x1a4), Is.LessThan(0));
        Assert.That(k.Open("/mnt/hello.txt", Abi.O_WRONLY), Is.EqualTo(-Abi.EROFS));
        Assert.That(k.Mkdir("/mnt/x", Dir0755), Is.EqualTo(-Abi.EROFS));
        Assert.That(k.Unlink("/mnt/hello.txt"), Is.EqualTo(-Abi.EROFS));

        Assert.That(k.Statvfs("/mnt", out RumpStatvfs sv), Is.EqualTo(0));
        Assert.That(sv.f_bsize, Is.EqualTo(2048));
        Assert.That(sv.f_blocks, Is.EqualTo((ulong)(new FileInfo(img).Length / 2048)));
        Assert.That(sv.f_bfree, Is.EqualTo(0));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        Assert.That(MountIso(k, "/dev/cd0"), Is.EqualTo(0), "mounts again after unmount");
        Assert.That(ReadFile(k, "/mnt/hello.txt"), Is.EqualTo("hello, world\n"));
    }

    [Test]
    public void Xorriso_JolietOnly_UnicodeNamesDefaultModes()
    {
        string src = MakeTree();
        string img = Mkisofs(src, "--norock", "-J", "-joliet-long");
        RumpKernel k = Mounted(img);
        List<string> names = Names(k, "/mnt");
        Assert.That(names, Does.Contain("ünïcödé-名前.txt"), "Joliet UCS-2 names as UTF-8");
        Assert.That(names, Does.Contain("hello.txt"));
        Assert.That(names, Does.Contain("d1"));
        Assert.That(names.Any(n => n.Contains(';')), Is.False, "versions are cut");
        RumpStat st = StatOk(k, "/mnt/hello.txt");
        Assert.That(st.st_mode, Is.EqualTo((uint)Abi.S_IFREG | 0x124), "0444 without Rock Ridge");
        Assert.That(st.st_nlink, Is.EqualTo(1));
        Assert.That(st.st_mtim.tv_sec, Is.EqualTo(new DateTimeOffset(FixedMtime).ToUnixTimeSeconds()), "record date");
        st = StatOk(k, "/mnt/d1");
        Assert.That(st.st_mode, Is.EqualTo((uint)Abi.S_IFDIR | 0x16d), "0555 without Rock Ridge");
        Assert.That(st.st_nlink, Is.EqualTo(2));
        Assert.That(ReadAll(k, "/mnt/big.bin"), Is.EqualTo(File.ReadAllBytes(Path.Combine(src, "big.bin"))));
        Assert.That(ReadFile(k, "/mnt/ünïcödé-名前.txt"), Is.EqualTo("non-ascii\n"));
    }

    [Test]
    public void Xorriso_PlainIso_LowerCasedNamesAnyCaseLookup()
    {
        string src = Path.Combine(_dir, "plain");
        Directory.CreateDirectory(Path.Combine(src, "sub"));
        File.WriteAllText(Path.Combine(src, "hello.txt"), "plain\n");
        File.WriteAllText(Path.Combine(src, "readme"), "readme\n");
        File.WriteAllText(Path.Combine(src, "sub", "inner.dat"), "inner\n");
        string img = Mkisofs(src, "--norock");
        RumpKernel k = Mounted(img);
        Assert.That(Names(k, "/mnt"), Is.EqualTo(new[] { "hello.txt", "readme", "sub" }));
        Assert.That(ReadFile(k, "/mnt/HELLO.TXT"), Is.EqualTo("plain\n"), "ISO names match in any case");
        Assert.That(ReadFile(k, "/mnt/sub/inner.dat"), Is.EqualTo("inner\n"));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        Assert.That(MountIso(k, "/dev/cd0", isoFlags: IsoMountFlags.NoCaseTrans), Is.EqualTo(0));
        Assert.That(Names(k, "/mnt"), Is.EqualTo(new[] { "HELLO.TXT", "README", "SUB" }));
    }

    [Test]
    public void Xorriso_MountFlags_ChooseTheNames()
    {
        string src = Path.Combine(_dir, "flags");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "MixedCase.Name.txt"), "x");
        string img = Mkisofs(src, "-R", "-J");
        RumpKernel k = Mounted(img);
        Assert.That(Names(k, "/mnt"), Is.EqualTo(new[] { "MixedCase.Name.txt" }), "Rock Ridge");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        Assert.That(MountIso(k, "/dev/cd0", isoFlags: IsoMountFlags.NoRrip), Is.EqualTo(0));
        Assert.That(Names(k, "/mnt"), Is.EqualTo(new[] { "MixedCase.Name.txt" }), "Joliet");
        Assert.That(StatOk(k, "/mnt/MixedCase.Name.txt").st_mode & 0xfff, Is.EqualTo(0x124), "no Rock Ridge modes");
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        Assert.That(MountIso(k, "/dev/cd0", isoFlags: IsoMountFlags.NoRrip | IsoMountFlags.NoJoliet), Is.EqualTo(0));
        Assert.That(Names(k, "/mnt"), Is.EqualTo(new[] { "mixedcas.txt" }), "ISO 9660 level 1 (8.3) name, lower-cased");
    }

    [Test]
    public void Xorriso_ReadWriteMount_IsEROFS_AndZeroedArgsMount()
    {
        string src = Path.Combine(_dir, "rw");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "f"), "f");
        string img = Mkisofs(src, "-R");
        RumpKernel k = Boot();
        Assert.That(k.EtfsRegister("/dev/cd0", img), Is.EqualTo(0));
        Assert.That(k.Mkdir("/mnt", Dir0755), Is.EqualTo(0));
        Assert.That(MountIso(k, "/dev/cd0", mntFlags: 0), Is.EqualTo(-Abi.EROFS));
        Assert.That(MountIso(k, "/dev/nothere"), Is.EqualTo(-Abi.ENOENT));
        unsafe
        {
            fixed (byte* p = "/dev/cd0\0"u8)
            {
                // A bare fspec is shorter than struct iso_args: EINVAL, as NetBSD's cd9660_mount.
                Assert.That(k.Mount("cd9660", "/mnt", Abi.MNT_RDONLY, new RumpUfsArgs { fspec = (nint)p }), Is.EqualTo(-Abi.EINVAL),
                    "a mount with only the 8 bytes of fspec");
                // The whole structure zeroed but for fspec mounts.
                Assert.That(k.Mount("cd9660", "/mnt", Abi.MNT_RDONLY, new RumpIsoArgs { fspec = (nint)p }), Is.EqualTo(0));
            }
        }
        Assert.That(ReadFile(k, "/mnt/f"), Is.EqualTo("f"));
        Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
        // Not an ISO image at all.
        string junk = Path.Combine(_dir, "junk.img");
        File.WriteAllBytes(junk, new byte[1 << 20]);
        Assert.That(k.EtfsRegister("/dev/junk", junk), Is.EqualTo(0));
        Assert.That(MountIso(k, "/dev/junk"), Is.EqualTo(-Abi.EINVAL));
    }

    [Test]
    public void Xorriso_DeepDirectoryRelocation_ClPlRe()
    {
        string src = Path.Combine(_dir, "deep");
        string deep = src;
        for (int i = 1; i <= 11; i++) deep = Path.Combine(deep, "level" + i);
        Directory.CreateDirectory(deep);
        File.WriteAllText(Path.Combine(deep, "bottom.txt"), "bottom\n");
        File.WriteAllText(Path.Combine(src, "top.txt"), "top\n");
        string img = Path.Combine(_dir, "reloc.iso");
        Xorriso("-compliance", "deep_paths_off", "-rr_reloc_dir", "rr_moved", "-outdev", img, "-map", src, "/", "-commit");
        Assert.That(File.ReadAllBytes(img).AsSpan().IndexOf("RR_MOVED"u8) >= 0, Is.True, "xorriso relocated the deep directories");
        RumpKernel k = Mounted(img);
        string p = "/mnt";
        for (int i = 1; i <= 11; i++)
        {
            Assert.That(Names(k, p).Contains("level" + i), Is.True, "level" + i + " listed in " + p);
            RumpStat st = StatOk(k, p + "/level" + i);
            Assert.That(st.st_mode & Abi.S_IFMT, Is.EqualTo((uint)Abi.S_IFDIR), "a child link is a directory");
            Assert.That(Ino(k, p + "/level" + i + "/.."), Is.EqualTo(Ino(k, p)), ".. of level" + i + " (PL for relocated ones)");
            p += "/level" + i;
        }
        Assert.That(ReadFile(k, p + "/bottom.txt"), Is.EqualTo("bottom\n"));
        // Entries marked RE are hidden: the relocated directories, and xorriso marks rr_moved itself.
        Assert.That(Names(k, "/mnt"), Is.EqualTo(new[] { "level1", "top.txt" }));
    }

    [Test]
    public void Xorriso_TenThousandEntries_ReaddirResumesAndLookupsWork()
    {
        string src = Path.Combine(_dir, "many");
        string big = Path.Combine(src, "big");
        Directory.CreateDirectory(big);
        for (int i = 0; i < 10000; i++) File.WriteAllText(Path.Combine(big, "file-" + i.ToString("D5") + "-with-a-longer-name"), i.ToString());
        string img = Mkisofs(src, "-R", "-J");
        RumpKernel k = Mounted(img);
        var sw = Stopwatch.StartNew();
        // A small buffer: many getdents calls, each resuming at a cookie.
        List<string> names = Names(k, "/mnt/big", bufSize: 700);
        Assert.That(names.Count, Is.EqualTo(10000));
        Assert.That(names.Distinct().Count(), Is.EqualTo(10000));
        for (int i = 0; i < 10000; i += 1)
            Assert.That(k.Stat("/mnt/big/file-" + i.ToString("D5") + "-with-a-longer-name", out _), Is.EqualTo(0));
        Assert.That(ReadFile(k, "/mnt/big/file-09999-with-a-longer-name"), Is.EqualTo("9999"));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "10,000 entries listed and looked up");

        // A cookie taken part-way stays valid: reopening and seeking there continues the listing.
        int fd = k.Open("/mnt/big", Abi.O_RDONLY | Abi.O_DIRECTORY);
        var first = new List<(string, ulong, byte)>();
        Assert.That(Getdents(k, fd, 2048, first), Is.GreaterThan(0));
        long cookie = k.Lseek(fd, 0, Abi.SEEK_CUR);
        var next = new List<(string name, ulong, byte)>();
        Getdents(k, fd, 2048, next);
        k.Close(fd);
        fd = k.Open("/mnt/big", Abi.O_RDONLY | Abi.O_DIRECTORY);
        Assert.That(k.Lseek(fd, cookie, Abi.SEEK_SET), Is.EqualTo(cookie));
        var again = new List<(string name, ulong, byte)>();
        Getdents(k, fd, 2048, again);
        k.Close(fd);
        Assert.That(again.Select(e => e.name), Is.EqualTo(next.Select(e => e.name)));
    }

    [Test]
    public void Xorriso_Throughput_ExtractsManyFilesQuickly()
    {
        string src = Path.Combine(_dir, "perf");
        var rnd = new Random(1);
        var data = new byte[200 * 1024];
        for (int d = 0; d < 10; d++)
        {
            Directory.CreateDirectory(Path.Combine(src, "dir" + d));
            for (int f = 0; f < 100; f++)
            {
                rnd.NextBytes(data.AsSpan(0, 64));
                File.WriteAllBytes(Path.Combine(src, "dir" + d, "f" + f), data);
            }
        }
        string img = Mkisofs(src, "-R", "-J");
        RumpKernel k = Mounted(img);
        var sw = Stopwatch.StartNew();
        long total = 0;
        var buf = new byte[1 << 20];
        foreach (string d in Names(k, "/mnt"))
            foreach (string f in Names(k, "/mnt/" + d))
            {
                int fd = k.Open("/mnt/" + d + "/" + f, Abi.O_RDONLY);
                long n;
                while ((n = k.Read(fd, buf)) > 0) total += n;
                k.Close(fd);
            }
        sw.Stop();
        Assert.That(total, Is.EqualTo(1000L * data.Length));
        TestContext.Progress.WriteLine($"cd9660: read 1000 files, {total >> 20} MiB in {sw.ElapsedMilliseconds} ms");
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)));
    }

    [Test]
    public void Xorriso_ConcurrentReaders_SeeTheSameBytes()
    {
        string src = MakeTree();
        string img = Mkisofs(src, "-R", "-J");
        RumpKernel k = Mounted(img);
        byte[] big = File.ReadAllBytes(Path.Combine(src, "big.bin"));
        var threads = new System.Threading.Thread[4];
        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        for (int t = 0; t < threads.Length; t++)
        {
            int id = t;
            threads[t] = new System.Threading.Thread(() =>
            {
                try
                {
                    for (int i = 0; i < 5; i++)
                    {
                        // First touches race to build the same directory caches and vnodes.
                        if (k.Stat("/mnt/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/leaf.txt", out _) != 0) errors.Add("stat leaf");
                        int fd = k.Open("/mnt/big.bin", Abi.O_RDONLY);
                        var buf = new byte[big.Length];
                        long off = 0, n;
                        while ((n = k.Pread(fd, buf.AsSpan((int)off, Math.Min(77777, buf.Length - (int)off)), off)) > 0) off += n;
                        k.Close(fd);
                        if (off != big.Length || !buf.AsSpan().SequenceEqual(big)) errors.Add("thread " + id + " read different bytes");
                    }
                }
                catch (Exception e) { errors.Add(e.ToString()); }
            }) { IsBackground = true };
            threads[t].Start();
        }
        foreach (var th in threads) Assert.That(th.Join(TimeSpan.FromSeconds(60)), Is.True, "a reader hung");
        Assert.That(errors, Is.Empty);
        var inos = new HashSet<ulong> { Ino(k, "/mnt/d1/d2/d3"), Ino(k, "/mnt/d1/d2/d3/.") };
        Assert.That(inos.Count, Is.EqualTo(1));
    }

    // ---- Synthetic images (wire-layer fixtures) -------------------------------------------------

    /// <summary>A hand-built image: PVD at 16, terminator at 17, root directory at block 20; the rest is the caller's.</summary>
    private sealed class SynthIso
    {
        public const int Bs = 2048;
        public readonly byte[] Image;
        private int _rootOff;
        private readonly byte[] _date = new byte[7];

        public SynthIso(int blocks, bool rockRidge)
        {
            Image = new byte[blocks * Bs];
            IsoTime.EncodeShort(_date, 1_000_000_000L);
            VolumeDescriptor.Emit(Image.AsSpan(16 * Bs), new VolumeDescriptor { Type = VdType.Primary, LogicalBlockSize = Bs, VolumeSpaceSize = (uint)blocks, RootExtent = 20, RootSize = Bs });
            VolumeDescriptor.Emit(Image.AsSpan(17 * Bs), new VolumeDescriptor { Type = VdType.Terminator });
            var sua = new byte[64];
            int n = 0;
            if (rockRidge)
            {
                n += Susp.EmitSp(sua);
                n += RockRidge.EmitPx(sua.AsSpan(n), 0x41ed, 2, 0, 0);
            }
            _rootOff = 20 * Bs;
            _rootOff += DirRecord.Emit(Image.AsSpan(_rootOff), 20, Bs, _date, DirRecord.FlagDirectory, [0], sua.AsSpan(0, n));
            _rootOff += DirRecord.Emit(Image.AsSpan(_rootOff), 20, Bs, _date, DirRecord.FlagDirectory, [1], default);
        }

        /// <summary>Appends a record to the root directory; returns its offset in the image.</summary>
        public int Add(string isoName, uint extent, uint size, byte flags = 0, byte[]? sua = null)
        {
            int at = _rootOff;
            _rootOff += DirRecord.Emit(Image.AsSpan(_rootOff), extent, size, _date, flags, Encoding.ASCII.GetBytes(isoName), sua ?? []);
            return at;
        }

        public string Save(string dir)
        {
            string p = Path.Combine(dir, "synth" + Guid.NewGuid().ToString("N")[..6] + ".iso");
            File.WriteAllBytes(p, Image);
            return p;
        }
    }

    [Test]
    public void Synthetic_MultiExtentFile_ReadsAllPiecesInOrder()
    {
        var iso = new SynthIso(64, rockRidge: false);
        for (int i = 0; i < 3 * SynthIso.Bs; i++) iso.Image[30 * SynthIso.Bs + i] = (byte)(i % 251);
        for (int i = 0; i < SynthIso.Bs; i++) iso.Image[40 * SynthIso.Bs + i] = (byte)(i % 13 + 100);
        for (int i = 0; i < 100; i++) iso.Image[50 * SynthIso.Bs + i] = 0xEE;
        iso.Add("BIG.DAT;1", 30, 3 * SynthIso.Bs, DirRecord.FlagMultiExtent);
        iso.Add("BIG.DAT;1", 40, SynthIso.Bs, DirRecord.FlagMultiExtent);
        iso.Add("BIG.DAT;1", 50, 100);
        iso.Add("SMALL.TXT;1", 50, 10);
        RumpKernel k = Mounted(iso.Save(_dir));
        Assert.That(Names(k, "/mnt"), Is.EqualTo(new[] { "big.dat", "small.txt" }));
        Assert.That(StatOk(k, "/mnt/big.dat").st_size, Is.EqualTo(4 * SynthIso.Bs + 100));
        byte[] want = [.. iso.Image.AsSpan(30 * SynthIso.Bs, 3 * SynthIso.Bs), .. iso.Image.AsSpan(40 * SynthIso.Bs, SynthIso.Bs), .. iso.Image.AsSpan(50 * SynthIso.Bs, 100)];
        Assert.That(ReadAll(k, "/mnt/big.dat"), Is.EqualTo(want));
        int fd = k.Open("/mnt/big.dat", Abi.O_RDONLY);
        var b = new byte[200];
        Assert.That(k.Pread(fd, b, 4 * SynthIso.Bs - 100), Is.EqualTo(200), "a read across two extents");
        Assert.That(b, Is.EqualTo(want.AsSpan(4 * SynthIso.Bs - 100, 200).ToArray()));
        k.Close(fd);
    }

    [Test]
    public void Synthetic_ContinuationAreas_NamesFromCe_AndCeLoopsEnd()
    {
        var iso = new SynthIso(64, rockRidge: true);
        // Block 25: a continuation area with the NM of "X", and at 512 a CE that points at itself.
        int ce = 25 * SynthIso.Bs;
        int n = RockRidge.EmitNm(iso.Image.AsSpan(ce), RockRidge.Continue, "name-from-"u8);
        n += RockRidge.EmitNm(iso.Image.AsSpan(ce + n), 0, "continuation"u8);
        n += RockRidge.EmitPx(iso.Image.AsSpan(ce + n), 0x81a4, 1, 7, 8);
        int loop = ce + 512;
        int ln = RockRidge.EmitNm(iso.Image.AsSpan(loop), RockRidge.Continue, "o"u8);
        ln += Susp.EmitCe(iso.Image.AsSpan(loop + ln), 25, 512, 100);
        var sua = new byte[64];
        int s = Susp.EmitCe(sua, 25, 0, (uint)n);
        iso.Add("X.;1", 40, 5, 0, sua[..s]);
        s = RockRidge.EmitNm(sua, RockRidge.Continue, "l"u8);
        s += Susp.EmitCe(sua.AsSpan(s), 25, 512, (uint)ln);
        iso.Add("Y.;1", 40, 5, 0, sua[..s]);
        "fivex"u8.CopyTo(iso.Image.AsSpan(40 * SynthIso.Bs));
        RumpKernel k = Mounted(iso.Save(_dir));
        bool done = RunWithin(Generous, () =>
        {
            List<string> names = Names(k, "/mnt");
            Assert.That(names, Does.Contain("name-from-continuation"));
            Assert.That(names.Count, Is.EqualTo(2));
        }, out Exception? err);
        Assert.That(done, Is.True, "a CE loop must end");
        Assert.That(err, Is.Null, err?.ToString());
        RumpStat st = StatOk(k, "/mnt/name-from-continuation");
        Assert.That((st.st_mode, st.st_uid, st.st_gid), Is.EqualTo(((uint)Abi.S_IFREG | 0x1a4, 7u, 8u)));
        Assert.That(ReadFile(k, "/mnt/name-from-continuation"), Is.EqualTo("fivex"));
    }

    [Test]
    public void Synthetic_HostileRecords_EIO()
    {
        // A record that runs past the end of its directory fails the directory.
        var iso = new SynthIso(64, rockRidge: false);
        iso.Add("A.;1", 30, 10);
        IsoNum.Write733(iso.Image.AsSpan(16 * SynthIso.Bs + VolumeDescriptor.RootRecordOffset + 10), 100); // root size: 100 bytes
        RumpKernel k = Mounted(iso.Save(_dir));
        int fd = k.Open("/mnt", Abi.O_RDONLY | Abi.O_DIRECTORY);
        var l = new List<(string, ulong, byte)>();
        Assert.That(Getdents(k, fd, 4096, l), Is.EqualTo(-Abi.EIO));
        k.Close(fd);
        Assert.That(k.Stat("/mnt/a", out _), Is.EqualTo(-Abi.EIO));

        // An extent beyond the device and an absurd size: stat works, read fails with EIO.
        iso = new SynthIso(64, rockRidge: false);
        iso.Add("FAR.;1", 1_000_000, 4096);
        iso.Add("HUGE.;1", 60, 0xFFFFFFFF);
        k = Mounted(iso.Save(_dir));
        Assert.That(StatOk(k, "/mnt/huge").st_size, Is.EqualTo(0xFFFFFFFFL));
        fd = k.Open("/mnt/far", Abi.O_RDONLY);
        Assert.That(k.Read(fd, new byte[10]), Is.EqualTo(-Abi.EIO));
        k.Close(fd);
        fd = k.Open("/mnt/huge", Abi.O_RDONLY);
        var buf = new byte[8 * SynthIso.Bs];
        Assert.That(k.Read(fd, buf), Is.EqualTo(4 * SynthIso.Bs), "short read up to the device's end");
        Assert.That(k.Read(fd, buf), Is.EqualTo(-Abi.EIO));
        k.Close(fd);
    }

    // ---- Hostile mutations ----------------------------------------------------------------------

    /// <summary>Mount, walk every directory (bounded: cycles), stat, read and readlink everything; only errnos.</summary>
    private static void Walk(RumpKernel k, string path, int depth, ref int budget)
    {
        if (depth > 12 || budget <= 0) return;
        var l = new List<(string name, byte type, ulong ino)>();
        if (k.ReadDir(path, l) != 0) return;
        foreach (var (name, type, _) in l)
        {
            if (name == "." || name == ".." || --budget <= 0) continue;
            string p = path + "/" + name;
            if (k.Lstat(p, out RumpStat st) != 0) continue;
            switch (st.st_mode & Abi.S_IFMT)
            {
                case Abi.S_IFDIR: Walk(k, p, depth + 1, ref budget); break;
                case Abi.S_IFLNK: k.Readlink(p, out _); break;
                case Abi.S_IFREG:
                    int fd = k.Open(p, Abi.O_RDONLY);
                    if (fd < 0) break;
                    var buf = new byte[65536];
                    for (int i = 0; i < 64 && k.Read(fd, buf) > 0; i++) { }
                    k.Close(fd);
                    break;
            }
        }
    }

    [Test]
    public void Xorriso_HostileMutations_OnlyErrnos()
    {
        string src = Path.Combine(_dir, "h");
        Directory.CreateDirectory(Path.Combine(src, "sub", "subsub"));
        for (int i = 0; i < 12; i++) File.WriteAllText(Path.Combine(src, "file" + i + ".txt"), new string((char)('a' + i), 100 * i));
        File.WriteAllText(Path.Combine(src, "sub", new string('n', 200)), "long name in a CE");
        File.CreateSymbolicLink(Path.Combine(src, "sub", "ln"), "../file1.txt");
        File.CreateSymbolicLink(Path.Combine(src, "sub", "subsub", "longlink"), string.Join("/", Enumerable.Range(0, 30).Select(i => "dir" + i)));
        string img = Mkisofs(src, "-R", "-J");
        byte[] orig = File.ReadAllBytes(img);
        // Metadata (descriptors, path tables, directories, continuation areas) lies before the first file's data.
        int metaEnd = Math.Min(orig.Length, 64 * 2048);
        RumpKernel k = Boot();
        Assert.That(k.Mkdir("/mnt", Dir0755), Is.EqualTo(0));
        var rnd = new Random(12345);
        int mounted = 0;
        for (int m = 0; m < 200; m++)
        {
            byte[] b = (byte[])orig.Clone();
            int kind = m % 5;
            switch (kind)
            {
                case 0: // a few random bytes
                    for (int i = rnd.Next(1, 9); i > 0; i--) b[rnd.Next(16 * 2048, metaEnd)] = (byte)rnd.Next(256);
                    break;
                case 1: // a 32-bit field somewhere set to an absurd value
                    BitConverter.GetBytes(rnd.Next(2) == 0 ? 0xFFFFFFFFu : (uint)rnd.Next(100, 1 << 30)).CopyTo(b, rnd.Next(16 * 2048, metaEnd - 4));
                    break;
                case 2: // record and SUSP length bytes: 0, tiny, huge
                    for (int i = 0; i < 4; i++) b[rnd.Next(17 * 2048, metaEnd)] = (byte)(new[] { 0, 1, 3, 33, 255 })[rnd.Next(5)];
                    break;
                case 3: // truncated
                    Array.Resize(ref b, rnd.Next(16 * 2048, b.Length) & ~511);
                    break;
                case 4: // every CE points back at itself
                    for (int i = 0; i + 28 <= metaEnd; i++)
                        if (b[i] == 'C' && b[i + 1] == 'E' && b[i + 2] == 28 && b[i + 3] == 1)
                        {
                            uint blk = (uint)(i / 2048), off = (uint)(i % 2048);
                            IsoNum.Write733(b.AsSpan(i + 4), blk);
                            IsoNum.Write733(b.AsSpan(i + 12), off);
                            IsoNum.Write733(b.AsSpan(i + 20), 28);
                        }
                    break;
            }
            string p = Path.Combine(_dir, "m" + m + ".iso");
            File.WriteAllBytes(p, b);
            string key = "/dev/m" + m;
            Assert.That(k.EtfsRegister(key, p), Is.EqualTo(0));
            int flags = m % 3 == 0 ? 0 : m % 3 == 1 ? IsoMountFlags.NoRrip : IsoMountFlags.NoRrip | IsoMountFlags.NoJoliet;
            int r = 0;
            bool done = RunWithin(Generous, () =>
            {
                r = MountIso(k, key, isoFlags: flags);
                if (r != 0) return;
                int budget = 2000;
                Walk(k, "/mnt", 0, ref budget);
                Assert.That(k.Unmount("/mnt"), Is.EqualTo(0));
            }, out Exception? err);
            Assert.That(done, Is.True, "mutation " + m + " (kind " + kind + ") hung");
            Assert.That(err, Is.Null, "mutation " + m + " (kind " + kind + "): " + err);
            if (r == 0) mounted++;
            else Assert.That(r, Is.AnyOf(-Abi.EINVAL, -Abi.EFTYPE, -Abi.EIO), "mount errno of mutation " + m);
            Assert.That(k.EtfsRemove(key), Is.EqualTo(0));
            File.Delete(p);
        }
        Assert.That(mounted, Is.GreaterThan(50), "most mutations still mount");
    }

    // ---- Damaged trees ---------------------------------------------------------------------------

    /// <summary>The record named <paramref name="name"/> (ISO identifier without ";1", any case) in a directory extent.</summary>
    private static int Record(byte[] img, (uint extent, uint size) dir, string name)
    {
        for (long p = dir.extent * 2048L, end = p + dir.size; p < end;)
        {
            int len = img[p];
            if (len == 0) { p = (p / 2048 + 1) * 2048; continue; }
            string id = Encoding.ASCII.GetString(img, (int)p + 33, img[p + 32]);
            int semi = id.IndexOf(';');
            if (string.Equals(semi < 0 ? id : id[..semi], name, StringComparison.OrdinalIgnoreCase)) return (int)p;
            p += len;
        }
        Assert.Fail("no record " + name + " at extent " + dir.extent);
        return -1;
    }

    private static (uint extent, uint size) ExtentOf(byte[] img, int rec) =>
        (BinaryPrimitives.ReadUInt32LittleEndian(img.AsSpan(rec + 2)), BinaryPrimitives.ReadUInt32LittleEndian(img.AsSpan(rec + 10)));

    private static void SetExtent(byte[] img, int rec, (uint extent, uint size) to)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(rec + 2), to.extent);
        BinaryPrimitives.WriteUInt32BigEndian(img.AsSpan(rec + 6), to.extent);
        BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(rec + 10), to.size);
        BinaryPrimitives.WriteUInt32BigEndian(img.AsSpan(rec + 14), to.size);
    }

    /// <summary>
    /// Directory records that break the tree are EIO: one naming an ancestor (/a/b/up -> /a), one
    /// naming its own directory (/a/b/self -> /a/b), and a directory whose ".." names itself
    /// (/d). Everything else reads normally.
    /// </summary>
    [Test]
    public void Xorriso_RecordsNamingAncestorsOrDotDotNamingItself_AreEio()
    {
        string src = Path.Combine(_dir, "src");
        Directory.CreateDirectory(Path.Combine(src, "a/b/up"));
        Directory.CreateDirectory(Path.Combine(src, "a/b/self"));
        Directory.CreateDirectory(Path.Combine(src, "d/e"));
        File.WriteAllText(Path.Combine(src, "a/b/f.txt"), "file in b");
        string img = Mkisofs(src, "-R");
        byte[] b = File.ReadAllBytes(img);
        var root = ExtentOf(b, 16 * 2048 + 156);
        var a = ExtentOf(b, Record(b, root, "a"));
        var ab = ExtentOf(b, Record(b, a, "b"));
        SetExtent(b, Record(b, ab, "up"), a);
        SetExtent(b, Record(b, ab, "self"), ab);
        // /d's own ".." record (its second) names /d.
        var d = ExtentOf(b, Record(b, root, "d"));
        int dot = (int)(d.extent * 2048), dotdot = dot + b[dot];
        Assert.That(b[dotdot + 32] == 1 && b[dotdot + 33] == 1, "the second record of /d is \"..\"");
        SetExtent(b, dotdot, d);
        File.WriteAllBytes(img, b);

        RumpKernel k = Mounted(img);
        foreach (string bad in new[] { "/mnt/a/b/up", "/mnt/a/b/self", "/mnt/d" })
            Assert.That(k.Lstat(bad, out _), Is.EqualTo(-Abi.EIO), "lstat " + bad + ": a directory record that breaks the tree");
        Assert.That(k.Lstat("/mnt/a/b/up/b", out _), Is.EqualTo(-Abi.EIO), "nothing below such a record");
        Assert.That(Encoding.UTF8.GetString(ReadAll(k, "/mnt/a/b/f.txt")), Is.EqualTo("file in b"));
        Assert.That(k.Lstat("/mnt/a/b/..", out RumpStat up), Is.EqualTo(0));
        Assert.That(k.Lstat("/mnt/a", out RumpStat ast), Is.EqualTo(0));
        Assert.That(up.st_ino, Is.EqualTo(ast.st_ino), "/a/b/.. is /a");
    }
}

